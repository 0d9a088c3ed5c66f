/*
 * meta_listing.c - listing a package's objects by path, with prefixes and continuation tokens
 * (meta.h).
 */
#include "meta_int.h"

/* ---- listing by path ------------------------------------------------------------------------- */

/*
 * Continuation tokens: 'o' (after an object) or 'p' (after a common
 * prefix), then the hex of that key. After a prefix the listing resumes past
 * everything under it: at key + "\xff".
 */
static char *token_make(char kind, const char *key)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(key);
    char *t = jcs_malloc(2 * n + 2);
    if (!t)
        return NULL;
    t[0] = kind;
    for (size_t i = 0; i < n; i++) {
        t[1 + 2 * i] = hex[(unsigned char)key[i] >> 4];
        t[2 + 2 * i] = hex[(unsigned char)key[i] & 15];
    }
    t[2 * n + 1] = '\0';
    return t;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The cursor (exclusive lower bound) a token stands for; buf holds PATH_MAX + 2 bytes. */
static int token_parse(const char *t, char *buf, size_t *len)
{
    size_t n = strlen(t);
    int ok = n >= 3 && (t[0] == 'o' || t[0] == 'p') && (n - 1) % 2 == 0 &&
             (n - 1) / 2 <= JCS_META_PATH_MAX;
    for (size_t i = 0; ok && i < (n - 1) / 2; i++) {
        int hi = hexval(t[1 + 2 * i]), lo = hexval(t[2 + 2 * i]);
        ok = hi >= 0 && lo >= 0;
        buf[i] = (char)(hi << 4 | lo);
    }
    if (!ok)
        return jcs_err_set(JCS_EINVAL, "continuationToken \"%.40s\" is not one this listing made",
                           t);
    *len = (n - 1) / 2;
    if (t[0] == 'p')
        buf[(*len)++] = (char)0xff;
    buf[*len] = '\0';
    return JCS_OK;
}

/* memcmp order of two byte strings of different lengths (a prefix sorts first). */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int d = memcmp(a, b, alen < blen ? alen : blen);
    if (d)
        return d;
    return alen < blen ? -1 : alen > blen;
}

struct list_arg {
    const jcs_meta_list_query *q;
    size_t max_keys;
    const char *start; /* cursor from the token */
    size_t start_len;
    jcs_meta_listing *out;
};

static int list_exact(jcs_db_conn *c, struct list_arg *a)
{
    jcs_db_result *r;
    size_t cap = 0;
    jcs_db_val p[2] = {JCS_DB_I(a->q->package_id), JCS_DB_B(a->q->path, strlen(a->q->path))};
    int rc = query(c, "SELECT " OBJ_COLS " FROM object o WHERE o.packageID = ? AND o.path = ?", p,
                   2, 1, &r);
    if (rc)
        return rc;
    rc = meta_append_objects(r, &a->out->objects, &cap);
    jcs_db_result_free(r);
    return rc;
}

static int list_fn(jcs_db_conn *c, void *arg)
{
    struct list_arg *a = arg;
    const jcs_meta_list_query *q = a->q;
    jcs_meta_listing *out = a->out;
    jcs_meta_listing_clear(out);
    int rc = meta_need_package(c, q->package_id);
    if (rc)
        return rc;
    if (!q->is_prefix)
        return list_exact(c, a);

    const char *prefix = q->path ? q->path : "";
    size_t plen = strlen(prefix);
    char upper[JCS_META_PATH_MAX + 2];
    char cursor[JCS_META_PATH_MAX + 2];
    size_t cursor_len = a->start_len;
    memcpy(upper, prefix, plen);
    upper[plen] = (char)0xff;
    memcpy(cursor, a->start ? a->start : "", cursor_len);
    size_t emitted = 0, ocap = 0, pcap = 0;
    char last_kind = 0;
    const char *last_key = NULL;
    int more = 1, truncated = 0;

    while (more && !truncated) {
        size_t want = a->max_keys + 1 - emitted;
        jcs_db_val p[5] = {JCS_DB_I(q->package_id), JCS_DB_B(prefix, plen),
                           JCS_DB_B(upper, plen + 1), JCS_DB_B(cursor, cursor_len), JCS_DB_I(want)};
        jcs_db_result *r;
        rc = query(c,
                   "SELECT " OBJ_COLS " FROM object o WHERE o.packageID = ? AND o.path >= ? AND "
                   "o.path < ? AND o.path > ? ORDER BY o.path LIMIT ?",
                   p, 5, want, &r);
        if (rc)
            return rc;
        more = r->nrows == want;
        for (size_t row = 0; row < r->nrows; row++) {
            const jcs_db_val *pv = cell(r, row, 2);
            const char *path = pv->s;
            size_t len = pv->len;
            /* Rows under the common prefix just emitted sort before the cursor: skip them. */
            if (bytes_cmp(path, len, cursor, cursor_len) <= 0)
                continue;
            const char *slash = q->no_recursive ? memchr(path + plen, '/', len - plen) : NULL;
            if (emitted == a->max_keys) {
                truncated = 1;
                break;
            }
            if (slash) {
                size_t cplen = (size_t)(slash - path) + 1;
                char *cp = jcs_strndup(path, cplen);
                if (!cp || (rc = meta_grow(&out->prefixes, &pcap, out->nprefixes + 1,
                                           sizeof(char *))) != 0) {
                    jcs_free(cp);
                    rc = rc ? rc : meta_oom();
                    break;
                }
                out->prefixes[out->nprefixes++] = cp;
                memcpy(cursor, cp, cplen);
                cursor[cplen] = (char)0xff;
                cursor_len = cplen + 1;
                last_kind = 'p';
                last_key = cp;
            } else {
                if ((rc = meta_grow(&out->objects.v, &ocap, out->objects.n + 1,
                                    sizeof(*out->objects.v))) != 0)
                    break;
                jcs_meta_object *o = &out->objects.v[out->objects.n];
                if ((rc = meta_object_from_row(r, row, o)) != 0)
                    break;
                out->objects.n++;
                memcpy(cursor, o->path, len);
                cursor_len = len;
                last_kind = 'o';
                last_key = o->path;
            }
            emitted++;
        }
        jcs_db_result_free(r);
        if (rc)
            return rc;
    }
    if (truncated && !(out->next_token = token_make(last_kind, last_key)))
        return meta_oom();
    return JCS_OK;
}

int jcs_meta_object_list_by_path(jcs_db *db, const jcs_meta_list_query *q, jcs_meta_listing *out)
{
    if (!out || !q)
        return jcs_err_set(JCS_EINVAL, "object listing: no query or output");
    memset(out, 0, sizeof(*out));
    int rc;
    if (!q->is_prefix)
        rc = meta_check_path(q->path);
    else if (q->path && *q->path)
        rc = meta_check_text("path prefix", q->path, JCS_META_PATH_MAX);
    else
        rc = JCS_OK;
    if (rc)
        return rc;
    char start[JCS_META_PATH_MAX + 2];
    struct list_arg a = {.q = q, .out = out};
    a.max_keys = q->max_keys <= 0 || q->max_keys > JCS_META_MAX_KEYS ? JCS_META_MAX_KEYS
                                                                     : (size_t)q->max_keys;
    if (q->is_prefix && q->continuation_token && *q->continuation_token) {
        if ((rc = token_parse(q->continuation_token, start, &a.start_len)) != 0)
            return rc;
        a.start = start;
    }
    FINISH(jcs_db_txn(db, list_fn, &a), jcs_meta_listing_clear, out);
}

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_listing_clear(jcs_meta_listing *l)
{
    if (!l)
        return;
    jcs_meta_objects_clear(&l->objects);
    for (size_t i = 0; i < l->nprefixes; i++)
        jcs_free(l->prefixes[i]);
    jcs_free(l->prefixes);
    jcs_free(l->next_token);
    memset(l, 0, sizeof(*l));
}
