/*
 * meta.c - the client's metadata in MySQL/MariaDB (meta.h).
 *
 * Design notes.
 *
 * Every public function validates its input first (no database round trip
 * for bad input), then runs one function through jcs_db_txn (mutations, and
 * reads of more than one statement, which then see one snapshot) or
 * jcs_db_with (single-statement reads). Those functions may run more than
 * once (db.h reruns them after a lost connection or a deadlock), so each
 * one first empties the outputs it fills.
 *
 * Rows are locked where a decision depends on them: an object that is
 * replaced, moved or re-encoded is read FOR UPDATE; parents that must not
 * vanish under an insert (package, user space) are read LOCK IN SHARE MODE,
 * which is also what the foreign key checks take, so a concurrent delete
 * waits or loses cleanly.
 *
 * Paths are VARBINARY and bound as bytes. A valid UTF-8 string never holds
 * the byte 0xFF, which gives two tools: the range [P, P + "\xff") is exactly
 * the paths that start with P, and "\xff" + id is a temporary path that no
 * real path can collide with (used to swap paths within one move).
 */
#include "meta.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "buf.h"
#include "util.h"

#define QUOTE_MAX   200       /* bytes of a name or path quoted in a message */
#define CHUNK       32        /* ids bound per IN (...) statement */
#define BLOCKS_MAX  1000000   /* block rows one call reads */
#define STORAGE_MAX (1 << 20) /* bytes of a storage JSON */
#define STATE_MAX   32        /* bytes of a space state */
#define LL(x)       ((long long)(x))
#define Q(s)        (int)(strlen(s) > QUOTE_MAX ? QUOTE_MAX : strlen(s)), (s)

#define P4  "?,?,?,?"
#define P16 P4 "," P4 "," P4 "," P4
#define P32 "(" P16 "," P16 ")"

/* ---- schema ---------------------------------------------------------------------------------- */

#define TBL     " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"
#define HASHCOL "CHAR(68) CHARACTER SET ascii COLLATE ascii_bin NOT NULL"

static const char *const schema_steps[] = {
    "CREATE TABLE IF NOT EXISTS location ("
    " locationID BIGINT NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL)" TBL ";\n"
    "CREATE TABLE IF NOT EXISTS userspace ("
    " userSpaceID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " storageType VARCHAR(32) NOT NULL,"
    " storage MEDIUMTEXT NOT NULL,"
    " locationID BIGINT NOT NULL DEFAULT 0,"
    " hubID BIGINT NOT NULL DEFAULT 0,"
    " state VARCHAR(32) NOT NULL DEFAULT 'normal',"
    " createTime BIGINT NOT NULL,"
    " UNIQUE KEY uk_userspace_name (name))" TBL ";\n"
    "CREATE TABLE IF NOT EXISTS bucket ("
    " bucketID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " createTime BIGINT NOT NULL,"
    " UNIQUE KEY uk_bucket_name (name))" TBL ";\n"
    "CREATE TABLE IF NOT EXISTS package ("
    " packageID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " bucketID BIGINT NOT NULL,"
    " name VARCHAR(255) NOT NULL,"
    " redundancy TEXT NULL,"
    " createTime BIGINT NOT NULL,"
    " UNIQUE KEY uk_package_name (bucketID, name),"
    " CONSTRAINT fk_package_bucket FOREIGN KEY (bucketID) REFERENCES bucket (bucketID)"
    " ON DELETE CASCADE)" TBL ";\n"
    /* The path is bytes: the whole of it fits in the unique key, compared byte for byte. */
    "CREATE TABLE IF NOT EXISTS object ("
    " objectID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " packageID BIGINT NOT NULL,"
    " path VARBINARY(1024) NOT NULL,"
    " size BIGINT NOT NULL,"
    " fileHash VARCHAR(68) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " redundancy TEXT NOT NULL,"
    " createTime BIGINT NOT NULL,"
    " updateTime BIGINT NOT NULL,"
    " UNIQUE KEY uk_object_path (packageID, path),"
    " CONSTRAINT fk_object_package FOREIGN KEY (packageID) REFERENCES package (packageID)"
    " ON DELETE CASCADE)" TBL ";\n"
    "CREATE TABLE IF NOT EXISTS objectBlock ("
    " objectID BIGINT NOT NULL,"
    " `index` INT NOT NULL,"
    " userSpaceID BIGINT NOT NULL,"
    " fileHash " HASHCOL ","
    " size BIGINT NOT NULL,"
    " PRIMARY KEY (objectID, `index`, userSpaceID),"
    " KEY k_block_space_hash (userSpaceID, fileHash),"
    " CONSTRAINT fk_block_object FOREIGN KEY (objectID) REFERENCES object (objectID)"
    " ON DELETE CASCADE,"
    " CONSTRAINT fk_block_space FOREIGN KEY (userSpaceID) REFERENCES userspace (userSpaceID))" TBL
    ";\n"
    "CREATE TABLE IF NOT EXISTS pinnedObject ("
    " objectID BIGINT NOT NULL,"
    " userSpaceID BIGINT NOT NULL,"
    " createTime BIGINT NOT NULL,"
    " PRIMARY KEY (objectID, userSpaceID),"
    " KEY k_pinned_space (userSpaceID),"
    " CONSTRAINT fk_pinned_object FOREIGN KEY (objectID) REFERENCES object (objectID)"
    " ON DELETE CASCADE,"
    " CONSTRAINT fk_pinned_space FOREIGN KEY (userSpaceID) REFERENCES userspace (userSpaceID)"
    " ON DELETE CASCADE)" TBL ";\n"
    "CREATE TABLE IF NOT EXISTS objectAccessStat ("
    " objectID BIGINT NOT NULL,"
    " userSpaceID BIGINT NOT NULL,"
    " counter DOUBLE NOT NULL DEFAULT 0,"
    " amount DOUBLE NOT NULL DEFAULT 0,"
    " PRIMARY KEY (objectID, userSpaceID),"
    " KEY k_oas_space (userSpaceID),"
    " CONSTRAINT fk_oas_object FOREIGN KEY (objectID) REFERENCES object (objectID)"
    " ON DELETE CASCADE,"
    " CONSTRAINT fk_oas_space FOREIGN KEY (userSpaceID) REFERENCES userspace (userSpaceID)"
    " ON DELETE CASCADE)" TBL ";\n"
    "CREATE TABLE IF NOT EXISTS packageAccessStat ("
    " packageID BIGINT NOT NULL,"
    " userSpaceID BIGINT NOT NULL,"
    " counter DOUBLE NOT NULL DEFAULT 0,"
    " amount DOUBLE NOT NULL DEFAULT 0,"
    " PRIMARY KEY (packageID, userSpaceID),"
    " KEY k_pas_space (userSpaceID),"
    " CONSTRAINT fk_pas_package FOREIGN KEY (packageID) REFERENCES package (packageID)"
    " ON DELETE CASCADE,"
    " CONSTRAINT fk_pas_space FOREIGN KEY (userSpaceID) REFERENCES userspace (userSpaceID)"
    " ON DELETE CASCADE)" TBL,
    /* Blocks found corrupt, waiting for RedundancyRecover (client/healq.h). */
    "CREATE TABLE IF NOT EXISTS healQueue ("
    " userSpaceID BIGINT NOT NULL,"
    " fileHash " HASHCOL ","
    " reason VARCHAR(512) NOT NULL,"
    " foundTime BIGINT NOT NULL,"
    " PRIMARY KEY (userSpaceID, fileHash),"
    " CONSTRAINT fk_heal_space FOREIGN KEY (userSpaceID) REFERENCES userspace (userSpaceID)"
    " ON DELETE CASCADE)" TBL,
};

int jcs_meta_migrate(jcs_db *db)
{
    int rc = jcs_db_migrate(db, schema_steps, sizeof(schema_steps) / sizeof(schema_steps[0]));
    return rc ? jcs_err_wrap(rc, "metadata schema: ") : JCS_OK;
}

/* ---- times ----------------------------------------------------------------------------------- */

void jcs_meta_time_format(int64_t ms, char out[JCS_META_TIME_SIZE])
{
    int64_t s = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        s--;
    }
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, JCS_META_TIME_SIZE, "1970-01-01T00:00:00.000+00:00");
        return;
    }
    /* The modulos change nothing for real dates; they bound the widths for the compiler. */
    snprintf(out, JCS_META_TIME_SIZE, "%04u-%02u-%02uT%02u:%02u:%02u.%03u+00:00",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)frac % 1000u);
}

/* n decimal digits at *p into *v; advances *p. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return 0;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return 1;
}

int jcs_meta_time_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    int64_t frac_ms = 0;
    if (!s || !ms)
        return jcs_err_set(JCS_EINVAL, "time: missing");
    int ok = digits(&p, 4, &y) && *p++ == '-' && digits(&p, 2, &mo) && *p++ == '-' &&
             digits(&p, 2, &d) && (*p == 'T' || *p == 't' || *p == ' ') && p++ &&
             digits(&p, 2, &h) && *p++ == ':' && digits(&p, 2, &mi) && *p++ == ':' &&
             digits(&p, 2, &sec);
    if (ok && *p == '.') {
        int nd = 0;
        p++;
        for (; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        for (int k = nd; k < 3; k++)
            frac_ms *= 10;
        ok = nd > 0;
    }
    if (ok) {
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '-' ? -1 : 1;
            ok = digits(&p, 2, &oh) && *p++ == ':' && digits(&p, 2, &om) && oh < 24 && om < 60;
        } else {
            ok = 0;
        }
    }
    ok = ok && *p == '\0' && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 &&
         sec <= 60;
    if (!ok)
        return jcs_err_set(JCS_EINVAL, "time \"%.*s\" is not RFC 3339 (2026-11-22T10:00:00Z)",
                           Q(s));
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    t -= (int64_t)sign * (oh * 3600 + om * 60);
    *ms = t * 1000 + frac_ms;
    return JCS_OK;
}

/* ---- input checks ---------------------------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], cp;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
    return 1;
}

/* A name or path: not empty, at most max bytes, valid UTF-8. what names it in the detail. */
static int check_text(const char *what, const char *s, size_t max)
{
    if (!s || !*s)
        return jcs_err_set(JCS_EINVAL, "%s is empty", what);
    size_t n = strlen(s);
    if (n > max)
        return jcs_err_set(JCS_EINVAL, "%s \"%.*s...\" is longer than %zu bytes", what, Q(s), max);
    if (!utf8_valid((const unsigned char *)s, n))
        return jcs_err_set(JCS_EINVAL, "%s \"%.*s\" is not valid UTF-8", what, Q(s));
    return JCS_OK;
}

static int check_path(const char *path)
{
    return check_text("object path", path, JCS_META_PATH_MAX);
}

/* JSON text that is an object with a non-empty string "type" (redundancy, storage). */
static int check_typed_json(const char *what, const char *s)
{
    if (!s || !*s)
        return jcs_err_set(JCS_EINVAL, "%s is missing", what);
    json_error_t e;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return jcs_err_set(JCS_EINVAL, "%s: invalid JSON at column %d: %s", what, e.column, e.text);
    const char *type = json_is_object(j) ? json_string_value(json_object_get(j, "type")) : NULL;
    int ok = type && *type;
    json_decref(j);
    if (!ok)
        return jcs_err_set(JCS_EINVAL, "%s: a JSON object with a string field \"type\" is needed",
                           what);
    return JCS_OK;
}

/* 1 when a redundancy JSON is that of an open multipart upload. */
static int is_multipart(const char *redundancy)
{
    json_t *j = redundancy ? json_loads(redundancy, 0, NULL) : NULL;
    const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;
    int yes = type && strcmp(type, "multipartUpload") == 0;
    json_decref(j);
    return yes;
}

static int cmp_block_key(const void *x, const void *y)
{
    const jcs_meta_block *a = *(const jcs_meta_block *const *)x;
    const jcs_meta_block *b = *(const jcs_meta_block *const *)y;
    if (a->index != b->index)
        return a->index < b->index ? -1 : 1;
    return a->space_id < b->space_id ? -1 : a->space_id > b->space_id;
}

static int check_blocks(const char *what, const jcs_meta_block *b, size_t n)
{
    if (n && !b)
        return jcs_err_set(JCS_EINVAL, "%s: blocks missing", what);
    if (n > JCS_META_BATCH_MAX)
        return jcs_err_set(JCS_EINVAL, "%s: %zu blocks, more than %d", what, n, JCS_META_BATCH_MAX);
    for (size_t i = 0; i < n; i++) {
        if (b[i].index < 0 || b[i].space_id <= 0 || b[i].size < 0)
            return jcs_err_set(JCS_EINVAL, "%s: block %zu has index %d, user space %lld, size %lld",
                               what, i, b[i].index, LL(b[i].space_id), LL(b[i].size));
        if (!jcs_hash_valid(b[i].file_hash))
            return jcs_err_set(JCS_EINVAL, "%s: block %d: \"%.80s\" is not a FileHash", what,
                               b[i].index, b[i].file_hash);
    }
    if (n < 2)
        return JCS_OK;
    /* (index, space) is the key of a block row: find repeats by sorting pointers. */
    const jcs_meta_block **sorted = jcs_malloc(n * sizeof(*sorted));
    if (!sorted)
        return jcs_err_set(JCS_ENOMEM, "metadata: out of memory");
    for (size_t i = 0; i < n; i++)
        sorted[i] = &b[i];
    qsort(sorted, n, sizeof(*sorted), cmp_block_key);
    int rc = JCS_OK;
    for (size_t i = 1; rc == JCS_OK && i < n; i++)
        if (cmp_block_key(&sorted[i - 1], &sorted[i]) == 0)
            rc = jcs_err_set(JCS_EINVAL, "%s: block %d on user space %lld is given twice", what,
                             sorted[i]->index, LL(sorted[i]->space_id));
    jcs_free(sorted);
    return rc;
}

static int check_count(const char *what, const void *p, size_t n)
{
    if (n && !p)
        return jcs_err_set(JCS_EINVAL, "%s: missing", what);
    if (n > JCS_META_BATCH_MAX)
        return jcs_err_set(JCS_EINVAL, "%s: %zu items, more than %d in one call", what, n,
                           JCS_META_BATCH_MAX);
    return JCS_OK;
}

/* ---- result cells ---------------------------------------------------------------------------- */

static int64_t cell_i(const jcs_db_result *r, size_t row, size_t col)
{
    const jcs_db_val *v = jcs_db_cell(r, row, col);
    switch (v->type) {
    case JCS_DB_INT:
        return v->i;
    case JCS_DB_DOUBLE:
        return (int64_t)v->d;
    case JCS_DB_TEXT:
    case JCS_DB_BLOB:
        return strtoll(v->s, NULL, 10);
    default:
        return 0;
    }
}

static double cell_d(const jcs_db_result *r, size_t row, size_t col)
{
    const jcs_db_val *v = jcs_db_cell(r, row, col);
    switch (v->type) {
    case JCS_DB_INT:
        return (double)v->i;
    case JCS_DB_DOUBLE:
        return v->d;
    case JCS_DB_TEXT:
    case JCS_DB_BLOB:
        return strtod(v->s, NULL);
    default:
        return 0;
    }
}

/* Takes a text cell out of r (NULL for SQL NULL): the caller owns it, r no longer frees it. */
static char *cell_take(jcs_db_result *r, size_t row, size_t col)
{
    jcs_db_val *v = &r->cells[row * r->ncols + col];
    if (v->type != JCS_DB_TEXT && v->type != JCS_DB_BLOB)
        return NULL;
    char *s = (char *)v->s;
    v->s = NULL;
    v->type = JCS_DB_NULL;
    return s;
}

/* Copies a text cell into buf (cap bytes with the NUL); "" for NULL. */
static void cell_copy(const jcs_db_result *r, size_t row, size_t col, char *buf, size_t cap)
{
    const jcs_db_val *v = jcs_db_cell(r, row, col);
    if (v->type == JCS_DB_TEXT || v->type == JCS_DB_BLOB)
        snprintf(buf, cap, "%s", v->s);
    else
        buf[0] = '\0';
}

static const jcs_db_val *cell(const jcs_db_result *r, size_t row, size_t col)
{
    return jcs_db_cell(r, row, col);
}

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_ids_free(jcs_meta_ids *l)
{
    if (!l)
        return;
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_locations_free(jcs_meta_locations *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        jcs_free(l->v[i].name);
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_bucket_clear(jcs_meta_bucket *b)
{
    if (!b)
        return;
    jcs_free(b->name);
    memset(b, 0, sizeof(*b));
}

void jcs_meta_buckets_free(jcs_meta_buckets *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        jcs_meta_bucket_clear(&l->v[i]);
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_package_clear(jcs_meta_package *p)
{
    if (!p)
        return;
    jcs_free(p->name);
    jcs_free(p->redundancy);
    memset(p, 0, sizeof(*p));
}

void jcs_meta_packages_free(jcs_meta_packages *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        jcs_meta_package_clear(&l->v[i]);
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_space_shares_free(jcs_meta_space_shares *l)
{
    if (!l)
        return;
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_object_clear(jcs_meta_object *o)
{
    if (!o)
        return;
    jcs_free(o->path);
    jcs_free(o->redundancy);
    memset(o, 0, sizeof(*o));
}

void jcs_meta_objects_free(jcs_meta_objects *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        jcs_meta_object_clear(&l->v[i]);
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_detail_clear(jcs_meta_detail *d)
{
    if (!d)
        return;
    jcs_meta_object_clear(&d->object);
    jcs_free(d->blocks);
    jcs_free(d->pinned);
    memset(d, 0, sizeof(*d));
}

void jcs_meta_details_free(jcs_meta_details *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        jcs_meta_detail_clear(&l->v[i]);
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_listing_free(jcs_meta_listing *l)
{
    if (!l)
        return;
    jcs_meta_objects_free(&l->objects);
    for (size_t i = 0; i < l->nprefixes; i++)
        jcs_free(l->prefixes[i]);
    jcs_free(l->prefixes);
    jcs_free(l->next_token);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_space_clear(jcs_meta_space *s)
{
    if (!s)
        return;
    jcs_free(s->name);
    jcs_free(s->storage_type);
    jcs_free(s->storage);
    jcs_free(s->state);
    memset(s, 0, sizeof(*s));
}

void jcs_meta_spaces_free(jcs_meta_spaces *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        jcs_meta_space_clear(&l->v[i]);
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_stats_free(jcs_meta_stats *l)
{
    if (!l)
        return;
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

void jcs_meta_hashes_free(jcs_meta_hashes *l)
{
    if (!l)
        return;
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- small shared helpers -------------------------------------------------------------------- */

static int oom(void)
{
    return jcs_err_set(JCS_ENOMEM, "metadata: out of memory");
}

/* Grows *v (elements of elsize) to hold need; new room is zeroed. */
static int grow(void *vp, size_t *cap, size_t need, size_t elsize)
{
    void **v = vp;
    if (need <= *cap)
        return JCS_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = jcs_realloc(*v, nc * elsize);
    if (!p)
        return oom();
    memset((char *)p + *cap * elsize, 0, (nc - *cap) * elsize);
    *v = p;
    *cap = nc;
    return JCS_OK;
}

static int query(jcs_db_conn *c, const char *sql, const jcs_db_val *p, size_t n, size_t max,
                 jcs_db_result **out)
{
    return jcs_db_query(c, sql, p, n, max, out);
}

static int exec(jcs_db_conn *c, const char *sql, const jcs_db_val *p, size_t n, uint64_t *affected,
                uint64_t *id)
{
    return jcs_db_exec(c, sql, p, n, affected, id);
}

/* Whether a row exists: sql takes one id and returns at most one row. */
static int exists(jcs_db_conn *c, const char *sql, int64_t id, int *yes)
{
    jcs_db_result *r;
    jcs_db_val p = JCS_DB_I(id);
    int rc = query(c, sql, &p, 1, 1, &r);
    if (rc)
        return rc;
    *yes = r->nrows > 0;
    jcs_db_result_free(r);
    return JCS_OK;
}

/* The bucket exists (share-locked until the end of the transaction), else JCS_ENOENT. */
static int need_bucket(jcs_db_conn *c, int64_t id)
{
    int yes;
    int rc =
        exists(c, "SELECT bucketID FROM bucket WHERE bucketID = ? LOCK IN SHARE MODE", id, &yes);
    if (rc)
        return rc;
    return yes ? JCS_OK : jcs_err_set(JCS_ENOENT, "bucket %lld not found", LL(id));
}

static int need_package(jcs_db_conn *c, int64_t id)
{
    int yes;
    int rc =
        exists(c, "SELECT packageID FROM package WHERE packageID = ? LOCK IN SHARE MODE", id, &yes);
    if (rc)
        return rc;
    return yes ? JCS_OK : jcs_err_set(JCS_ENOENT, "package %lld not found", LL(id));
}

/* Spaces already checked in this run of a transaction, so a batch asks once per space. */
struct space_seen {
    int64_t *v;
    size_t n, cap;
};

static int need_space(jcs_db_conn *c, int64_t id, struct space_seen *seen)
{
    if (seen)
        for (size_t i = 0; i < seen->n; i++)
            if (seen->v[i] == id)
                return JCS_OK;
    int yes;
    int rc = exists(c, "SELECT userSpaceID FROM userspace WHERE userSpaceID = ? LOCK IN SHARE MODE",
                    id, &yes);
    if (rc)
        return rc;
    if (!yes)
        return jcs_err_set(JCS_ENOENT, "user space %lld not found", LL(id));
    if (seen) {
        if ((rc = grow(&seen->v, &seen->cap, seen->n + 1, sizeof(int64_t))) != 0)
            return rc;
        seen->v[seen->n++] = id;
    }
    return JCS_OK;
}

static int insert_blocks(jcs_db_conn *c, int64_t object_id, const jcs_meta_block *b, size_t n,
                         struct space_seen *seen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = need_space(c, b[i].space_id, seen);
        if (rc)
            return rc;
        jcs_db_val p[5] = {JCS_DB_I(object_id), JCS_DB_I(b[i].index), JCS_DB_I(b[i].space_id),
                           JCS_DB_S(b[i].file_hash), JCS_DB_I(b[i].size)};
        rc = exec(c,
                  "INSERT INTO objectBlock (objectID, `index`, userSpaceID, fileHash, size) "
                  "VALUES (?, ?, ?, ?, ?)",
                  p, 5, NULL, NULL);
        if (rc)
            return rc;
    }
    return JCS_OK;
}

/*
 * Ends a public call: on an error the output is emptied (a failed last run
 * of a transaction may have filled part of it). The clear functions take NULL.
 */
#define FINISH(call, clear, out)                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_)                                                                                   \
            clear(out);                                                                            \
        return rc_;                                                                                \
    } while (0)

/* ---- locations ------------------------------------------------------------------------------- */

struct loc_arg {
    int64_t id;
    const char *name;
    jcs_meta_locations *out;
};

static int location_upsert_fn(jcs_db_conn *c, void *arg)
{
    struct loc_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_I(a->id), JCS_DB_S(a->name)};
    return exec(c,
                "INSERT INTO location (locationID, name) VALUES (?, ?) "
                "ON DUPLICATE KEY UPDATE name = VALUES(name)",
                p, 2, NULL, NULL);
}

int jcs_meta_location_upsert(jcs_db *db, int64_t id, const char *name)
{
    int rc = check_text("location name", name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    if (id <= 0)
        return jcs_err_set(JCS_EINVAL, "location id %lld is not positive", LL(id));
    struct loc_arg a = {.id = id, .name = name};
    return jcs_db_txn(db, location_upsert_fn, &a);
}

static int location_list_fn(jcs_db_conn *c, void *arg)
{
    struct loc_arg *a = arg;
    jcs_db_result *r;
    jcs_meta_locations_free(a->out);
    int rc = query(c, "SELECT locationID, name FROM location ORDER BY locationID", NULL, 0,
                   JCS_META_ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(a->out->v = jcs_calloc(r->nrows, sizeof(*a->out->v)))) {
        jcs_db_result_free(r);
        return oom();
    }
    for (size_t i = 0; i < r->nrows; i++) {
        a->out->v[i].location_id = cell_i(r, i, 0);
        a->out->v[i].name = cell_take(r, i, 1);
    }
    a->out->n = r->nrows;
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_location_list(jcs_db *db, jcs_meta_locations *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "location list: no output");
    memset(out, 0, sizeof(*out));
    struct loc_arg a = {.out = out};
    FINISH(jcs_db_with(db, location_list_fn, &a), jcs_meta_locations_free, out);
}

/* ---- buckets --------------------------------------------------------------------------------- */

#define BUCKET_COLS "bucketID, name, createTime"

static void bucket_from_row(jcs_db_result *r, size_t row, jcs_meta_bucket *b)
{
    b->bucket_id = cell_i(r, row, 0);
    b->name = cell_take(r, row, 1);
    b->create_ms = cell_i(r, row, 2);
    jcs_meta_time_format(b->create_ms, b->create_time);
}

struct bucket_arg {
    int64_t id;
    const char *name;
    int64_t now;
    jcs_meta_bucket *out;
    jcs_meta_buckets *list;
};

static int bucket_create_fn(jcs_db_conn *c, void *arg)
{
    struct bucket_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_S(a->name), JCS_DB_I(a->now)};
    uint64_t id = 0;
    int rc = exec(c, "INSERT INTO bucket (name, createTime) VALUES (?, ?)", p, 2, NULL, &id);
    if (rc == JCS_EEXIST)
        return jcs_err_set(JCS_EEXIST, "bucket \"%.*s\" already exists", Q(a->name));
    a->id = (int64_t)id;
    return rc;
}

int jcs_meta_bucket_create(jcs_db *db, const char *name, jcs_meta_bucket *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_text("bucket name", name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    struct bucket_arg a = {.name = name, .now = jcs_wall_ms()};
    if ((rc = jcs_db_txn(db, bucket_create_fn, &a)) != 0)
        return rc;
    if (out) {
        if (!(out->name = jcs_strdup(name)))
            return oom();
        out->bucket_id = a.id;
        out->create_ms = a.now;
        jcs_meta_time_format(a.now, out->create_time);
    }
    return JCS_OK;
}

static int bucket_get_fn(jcs_db_conn *c, void *arg)
{
    struct bucket_arg *a = arg;
    jcs_db_result *r;
    jcs_meta_bucket_clear(a->out);
    int rc;
    if (a->name) {
        jcs_db_val p = JCS_DB_S(a->name);
        rc = query(c, "SELECT " BUCKET_COLS " FROM bucket WHERE name = ?", &p, 1, 1, &r);
    } else {
        jcs_db_val p = JCS_DB_I(a->id);
        rc = query(c, "SELECT " BUCKET_COLS " FROM bucket WHERE bucketID = ?", &p, 1, 1, &r);
    }
    if (rc)
        return rc;
    if (r->nrows == 0) {
        jcs_db_result_free(r);
        if (a->name)
            return jcs_err_set(JCS_ENOENT, "bucket \"%.*s\" not found", Q(a->name));
        return jcs_err_set(JCS_ENOENT, "bucket %lld not found", LL(a->id));
    }
    bucket_from_row(r, 0, a->out);
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_bucket_get(jcs_db *db, int64_t bucket_id, jcs_meta_bucket *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "bucket get: no output");
    memset(out, 0, sizeof(*out));
    struct bucket_arg a = {.id = bucket_id, .out = out};
    FINISH(jcs_db_with(db, bucket_get_fn, &a), jcs_meta_bucket_clear, out);
}

int jcs_meta_bucket_get_by_name(jcs_db *db, const char *name, jcs_meta_bucket *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "bucket get: no output");
    memset(out, 0, sizeof(*out));
    int rc = check_text("bucket name", name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    struct bucket_arg a = {.name = name, .out = out};
    FINISH(jcs_db_with(db, bucket_get_fn, &a), jcs_meta_bucket_clear, out);
}

static int bucket_list_fn(jcs_db_conn *c, void *arg)
{
    struct bucket_arg *a = arg;
    jcs_db_result *r;
    jcs_meta_buckets_free(a->list);
    int rc = query(c, "SELECT " BUCKET_COLS " FROM bucket ORDER BY bucketID", NULL, 0,
                   JCS_META_ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(a->list->v = jcs_calloc(r->nrows, sizeof(*a->list->v)))) {
        jcs_db_result_free(r);
        return oom();
    }
    for (size_t i = 0; i < r->nrows; i++)
        bucket_from_row(r, i, &a->list->v[i]);
    a->list->n = r->nrows;
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_bucket_list(jcs_db *db, jcs_meta_buckets *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "bucket list: no output");
    memset(out, 0, sizeof(*out));
    struct bucket_arg a = {.list = out};
    FINISH(jcs_db_with(db, bucket_list_fn, &a), jcs_meta_buckets_free, out);
}

static int bucket_delete_fn(jcs_db_conn *c, void *arg)
{
    struct bucket_arg *a = arg;
    jcs_db_val p = JCS_DB_I(a->id);
    uint64_t n = 0;
    int rc = exec(c, "DELETE FROM bucket WHERE bucketID = ?", &p, 1, &n, NULL);
    if (rc)
        return rc;
    return n ? JCS_OK : jcs_err_set(JCS_ENOENT, "bucket %lld not found", LL(a->id));
}

int jcs_meta_bucket_delete(jcs_db *db, int64_t bucket_id)
{
    struct bucket_arg a = {.id = bucket_id};
    return jcs_db_txn(db, bucket_delete_fn, &a);
}

/* ---- packages -------------------------------------------------------------------------------- */

#define PACKAGE_COLS "p.packageID, p.bucketID, p.name, p.redundancy, p.createTime"

static void package_from_row(jcs_db_result *r, size_t row, jcs_meta_package *p)
{
    p->package_id = cell_i(r, row, 0);
    p->bucket_id = cell_i(r, row, 1);
    p->name = cell_take(r, row, 2);
    p->redundancy = cell_take(r, row, 3);
    p->create_ms = cell_i(r, row, 4);
    jcs_meta_time_format(p->create_ms, p->create_time);
}

struct package_arg {
    int64_t id, bucket_id, src_id;
    const char *name, *bucket_name, *redundancy;
    int64_t now;
    jcs_meta_package *out;
    jcs_meta_packages *list;
    jcs_meta_space_shares *shares;
};

static int load_package(jcs_db_conn *c, int64_t id, jcs_meta_package *out)
{
    jcs_db_result *r;
    jcs_db_val p = JCS_DB_I(id);
    jcs_meta_package_clear(out);
    int rc = query(c, "SELECT " PACKAGE_COLS " FROM package p WHERE p.packageID = ?", &p, 1, 1, &r);
    if (rc)
        return rc;
    if (r->nrows == 0) {
        jcs_db_result_free(r);
        return jcs_err_set(JCS_ENOENT, "package %lld not found", LL(id));
    }
    package_from_row(r, 0, out);
    jcs_db_result_free(r);
    return JCS_OK;
}

static int insert_package(jcs_db_conn *c, struct package_arg *a)
{
    jcs_db_val p[4] = {JCS_DB_I(a->bucket_id), JCS_DB_S(a->name),
                       a->redundancy ? JCS_DB_S(a->redundancy) : JCS_DB_NULLV, JCS_DB_I(a->now)};
    uint64_t id = 0;
    int rc = exec(c,
                  "INSERT INTO package (bucketID, name, redundancy, createTime) "
                  "VALUES (?, ?, ?, ?)",
                  p, 4, NULL, &id);
    if (rc == JCS_EEXIST)
        return jcs_err_set(JCS_EEXIST, "package \"%.*s\" already exists in bucket %lld", Q(a->name),
                           LL(a->bucket_id));
    a->id = (int64_t)id;
    return rc;
}

static int package_create_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    int rc = need_bucket(c, a->bucket_id);
    if (rc == JCS_OK)
        rc = insert_package(c, a);
    if (rc == JCS_OK && a->out)
        rc = load_package(c, a->id, a->out);
    return rc;
}

int jcs_meta_package_create(jcs_db *db, int64_t bucket_id, const char *name, const char *redundancy,
                            jcs_meta_package *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_text("package name", name, JCS_META_NAME_MAX);
    if (rc == JCS_OK && redundancy)
        rc = check_typed_json("package redundancy", redundancy);
    if (rc)
        return rc;
    struct package_arg a = {.bucket_id = bucket_id,
                            .name = name,
                            .redundancy = redundancy,
                            .now = jcs_wall_ms(),
                            .out = out};
    FINISH(jcs_db_txn(db, package_create_fn, &a), jcs_meta_package_clear, out);
}

static int package_get_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    return load_package(c, a->id, a->out);
}

int jcs_meta_package_get(jcs_db *db, int64_t package_id, jcs_meta_package *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package get: no output");
    memset(out, 0, sizeof(*out));
    struct package_arg a = {.id = package_id, .out = out};
    FINISH(jcs_db_with(db, package_get_fn, &a), jcs_meta_package_clear, out);
}

static int package_by_name_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    jcs_db_result *r;
    jcs_db_val p[2] = {JCS_DB_S(a->bucket_name), JCS_DB_S(a->name)};
    jcs_meta_package_clear(a->out);
    int rc = query(c,
                   "SELECT " PACKAGE_COLS " FROM package p JOIN bucket b ON b.bucketID = p.bucketID"
                   " WHERE b.name = ? AND p.name = ?",
                   p, 2, 1, &r);
    if (rc)
        return rc;
    if (r->nrows) {
        package_from_row(r, 0, a->out);
        jcs_db_result_free(r);
        return JCS_OK;
    }
    jcs_db_result_free(r);
    /* Say which of the two is missing. */
    if ((rc = query(c, "SELECT bucketID FROM bucket WHERE name = ?", p, 1, 1, &r)) != 0)
        return rc;
    int bucket_exists = r->nrows > 0;
    jcs_db_result_free(r);
    if (!bucket_exists)
        return jcs_err_set(JCS_ENOENT, "bucket \"%.*s\" not found", Q(a->bucket_name));
    return jcs_err_set(JCS_ENOENT, "package \"%.*s\" not found in bucket \"%.*s\"", Q(a->name),
                       Q(a->bucket_name));
}

int jcs_meta_package_get_by_full_name(jcs_db *db, const char *bucket_name, const char *package_name,
                                      jcs_meta_package *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package get: no output");
    memset(out, 0, sizeof(*out));
    int rc = check_text("bucket name", bucket_name, JCS_META_NAME_MAX);
    if (rc == JCS_OK)
        rc = check_text("package name", package_name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    struct package_arg a = {.bucket_name = bucket_name, .name = package_name, .out = out};
    FINISH(jcs_db_txn(db, package_by_name_fn, &a), jcs_meta_package_clear, out);
}

static int package_list_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    jcs_db_result *r;
    jcs_meta_packages_free(a->list);
    int rc = need_bucket(c, a->bucket_id);
    if (rc)
        return rc;
    jcs_db_val p = JCS_DB_I(a->bucket_id);
    rc =
        query(c, "SELECT " PACKAGE_COLS " FROM package p WHERE p.bucketID = ? ORDER BY p.packageID",
              &p, 1, JCS_META_ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(a->list->v = jcs_calloc(r->nrows, sizeof(*a->list->v)))) {
        jcs_db_result_free(r);
        return oom();
    }
    for (size_t i = 0; i < r->nrows; i++)
        package_from_row(r, i, &a->list->v[i]);
    a->list->n = r->nrows;
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_package_list(jcs_db *db, int64_t bucket_id, jcs_meta_packages *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package list: no output");
    memset(out, 0, sizeof(*out));
    struct package_arg a = {.bucket_id = bucket_id, .list = out};
    FINISH(jcs_db_txn(db, package_list_fn, &a), jcs_meta_packages_free, out);
}

static int package_delete_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    jcs_db_val p = JCS_DB_I(a->id);
    uint64_t n = 0;
    int rc = exec(c, "DELETE FROM package WHERE packageID = ?", &p, 1, &n, NULL);
    if (rc)
        return rc;
    return n ? JCS_OK : jcs_err_set(JCS_ENOENT, "package %lld not found", LL(a->id));
}

int jcs_meta_package_delete(jcs_db *db, int64_t package_id)
{
    struct package_arg a = {.id = package_id};
    return jcs_db_txn(db, package_delete_fn, &a);
}

static int package_clone_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    jcs_meta_package src = {0};
    int rc = load_package(c, a->src_id, &src);
    if (rc == JCS_OK)
        rc = need_bucket(c, a->bucket_id);
    if (rc == JCS_OK) {
        a->redundancy = src.redundancy;
        rc = insert_package(c, a);
        a->redundancy = NULL;
    }
    jcs_meta_package_clear(&src);
    if (rc)
        return rc;
    /* Set-wise copies: the objects (new ids), then their blocks matched by path. */
    jcs_db_val p[4] = {JCS_DB_I(a->id), JCS_DB_I(a->now), JCS_DB_I(a->now), JCS_DB_I(a->src_id)};
    rc = exec(c,
              "INSERT INTO object (packageID, path, size, fileHash, redundancy, createTime, "
              "updateTime) SELECT ?, path, size, fileHash, redundancy, ?, ? FROM object "
              "WHERE packageID = ? AND "
              "COALESCE(JSON_VALUE(redundancy, '$.type'), '') <> 'multipartUpload'",
              p, 4, NULL, NULL);
    if (rc)
        return rc;
    jcs_db_val q[2] = {JCS_DB_I(a->id), JCS_DB_I(a->src_id)};
    rc = exec(c,
              "INSERT INTO objectBlock (objectID, `index`, userSpaceID, fileHash, size) "
              "SELECT n.objectID, b.`index`, b.userSpaceID, b.fileHash, b.size "
              "FROM object o JOIN objectBlock b ON b.objectID = o.objectID "
              "JOIN object n ON n.packageID = ? AND n.path = o.path WHERE o.packageID = ?",
              q, 2, NULL, NULL);
    if (rc == JCS_OK && a->out)
        rc = load_package(c, a->id, a->out);
    return rc;
}

int jcs_meta_package_clone(jcs_db *db, int64_t package_id, int64_t bucket_id, const char *name,
                           jcs_meta_package *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_text("package name", name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    struct package_arg a = {.src_id = package_id,
                            .bucket_id = bucket_id,
                            .name = name,
                            .now = jcs_wall_ms(),
                            .out = out};
    FINISH(jcs_db_txn(db, package_clone_fn, &a), jcs_meta_package_clear, out);
}

static int package_spaces_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    jcs_meta_space_shares *s = a->shares;
    jcs_db_result *r;
    jcs_meta_space_shares_free(s);
    int rc = need_package(c, a->id);
    if (rc)
        return rc;
    jcs_db_val p = JCS_DB_I(a->id);
    rc = query(c,
               "SELECT b.userSpaceID, CAST(SUM(b.size) AS SIGNED), COUNT(DISTINCT b.objectID) "
               "FROM object o JOIN objectBlock b ON b.objectID = o.objectID "
               "WHERE o.packageID = ? GROUP BY b.userSpaceID ORDER BY b.userSpaceID",
               &p, 1, JCS_META_ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(s->v = jcs_calloc(r->nrows, sizeof(*s->v)))) {
        jcs_db_result_free(r);
        return oom();
    }
    for (size_t i = 0; i < r->nrows; i++) {
        s->v[i].space_id = cell_i(r, i, 0);
        s->v[i].file_size = cell_i(r, i, 1);
        s->v[i].object_count = cell_i(r, i, 2);
    }
    s->n = r->nrows;
    jcs_db_result_free(r);
    rc = query(c, "SELECT CAST(COALESCE(SUM(size), 0) AS SIGNED) FROM object WHERE packageID = ?",
               &p, 1, 1, &r);
    if (rc)
        return rc;
    s->package_size = r->nrows ? cell_i(r, 0, 0) : 0;
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_package_spaces(jcs_db *db, int64_t package_id, jcs_meta_space_shares *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package spaces: no output");
    memset(out, 0, sizeof(*out));
    struct package_arg a = {.id = package_id, .shares = out};
    FINISH(jcs_db_txn(db, package_spaces_fn, &a), jcs_meta_space_shares_free, out);
}

/* ---- objects: reading ------------------------------------------------------------------------ */

#define OBJ_COLS                                                                                   \
    "o.objectID, o.packageID, o.path, o.size, o.fileHash, o.redundancy, o.createTime, "            \
    "o.updateTime"
#define OBJ_NCOLS 8

static int object_from_row(jcs_db_result *r, size_t row, jcs_meta_object *o)
{
    memset(o, 0, sizeof(*o));
    o->object_id = cell_i(r, row, 0);
    o->package_id = cell_i(r, row, 1);
    o->path = cell_take(r, row, 2);
    o->size = cell_i(r, row, 3);
    cell_copy(r, row, 4, o->file_hash, sizeof(o->file_hash));
    o->redundancy = cell_take(r, row, 5);
    o->create_ms = cell_i(r, row, 6);
    o->update_ms = cell_i(r, row, 7);
    jcs_meta_time_format(o->create_ms, o->create_time);
    jcs_meta_time_format(o->update_ms, o->update_time);
    if (!o->path || !o->redundancy) {
        int64_t id = o->object_id;
        jcs_meta_object_clear(o);
        return jcs_err_set(JCS_EINTERNAL, "object %lld: path or redundancy is NULL", LL(id));
    }
    return JCS_OK;
}

static int object_copy(jcs_meta_object *dst, const jcs_meta_object *src)
{
    *dst = *src;
    dst->path = jcs_strdup(src->path);
    dst->redundancy = jcs_strdup(src->redundancy);
    if (!dst->path || !dst->redundancy) {
        jcs_meta_object_clear(dst);
        return oom();
    }
    return JCS_OK;
}

/* The object with this id into out (cleared first); lock: FOR UPDATE. JCS_ENOENT. */
static int load_object(jcs_db_conn *c, int64_t id, int lock, jcs_meta_object *out)
{
    jcs_db_result *r;
    jcs_db_val p = JCS_DB_I(id);
    jcs_meta_object_clear(out);
    int rc = query(c,
                   lock ? "SELECT " OBJ_COLS " FROM object o WHERE o.objectID = ? FOR UPDATE"
                        : "SELECT " OBJ_COLS " FROM object o WHERE o.objectID = ?",
                   &p, 1, 1, &r);
    if (rc)
        return rc;
    if (r->nrows == 0) {
        jcs_db_result_free(r);
        return jcs_err_set(JCS_ENOENT, "object %lld not found", LL(id));
    }
    rc = object_from_row(r, 0, out);
    jcs_db_result_free(r);
    return rc;
}

/* The id of the object at (package, path), 0 when none; lock: FOR UPDATE. */
static int find_path(jcs_db_conn *c, int64_t package_id, const char *path, size_t len, int lock,
                     int64_t *id)
{
    jcs_db_result *r;
    jcs_db_val p[2] = {JCS_DB_I(package_id), JCS_DB_B(path, len)};
    int rc = query(c,
                   lock ? "SELECT objectID FROM object WHERE packageID = ? AND path = ? FOR UPDATE"
                        : "SELECT objectID FROM object WHERE packageID = ? AND path = ?",
                   p, 2, 1, &r);
    if (rc)
        return rc;
    *id = r->nrows ? cell_i(r, 0, 0) : 0;
    jcs_db_result_free(r);
    return JCS_OK;
}

/* Appends the objects of a result to l (cap: its allocated slots). */
static int append_objects(jcs_db_result *r, jcs_meta_objects *l, size_t *cap)
{
    int rc = grow(&l->v, cap, l->n + r->nrows, sizeof(*l->v));
    for (size_t i = 0; rc == JCS_OK && i < r->nrows; i++)
        if ((rc = object_from_row(r, i, &l->v[l->n])) == JCS_OK)
            l->n++;
    return rc;
}

struct object_arg {
    int64_t id, package_id;
    const char *path;
    const int64_t *ids;
    size_t n;
    jcs_meta_object *out;
    jcs_meta_objects *list;
    jcs_meta_detail *detail;
};

static int object_get_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    return load_object(c, a->id, 0, a->out);
}

int jcs_meta_object_get(jcs_db *db, int64_t object_id, jcs_meta_object *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "object get: no output");
    memset(out, 0, sizeof(*out));
    struct object_arg a = {.id = object_id, .out = out};
    FINISH(jcs_db_with(db, object_get_fn, &a), jcs_meta_object_clear, out);
}

static int object_by_path_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    jcs_db_result *r;
    jcs_db_val p[2] = {JCS_DB_I(a->package_id), JCS_DB_B(a->path, strlen(a->path))};
    jcs_meta_object_clear(a->out);
    int rc = query(c, "SELECT " OBJ_COLS " FROM object o WHERE o.packageID = ? AND o.path = ?", p,
                   2, 1, &r);
    if (rc)
        return rc;
    if (r->nrows) {
        rc = object_from_row(r, 0, a->out);
        jcs_db_result_free(r);
        return rc;
    }
    jcs_db_result_free(r);
    if ((rc = need_package(c, a->package_id)) != 0)
        return rc;
    return jcs_err_set(JCS_ENOENT, "object \"%.*s\" not found in package %lld", Q(a->path),
                       LL(a->package_id));
}

int jcs_meta_object_get_by_path(jcs_db *db, int64_t package_id, const char *path,
                                jcs_meta_object *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "object get: no output");
    memset(out, 0, sizeof(*out));
    int rc = check_path(path);
    if (rc)
        return rc;
    struct object_arg a = {.package_id = package_id, .path = path, .out = out};
    FINISH(jcs_db_txn(db, object_by_path_fn, &a), jcs_meta_object_clear, out);
}

static int list_by_ids_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    jcs_meta_objects *l = a->list;
    jcs_meta_objects_free(l);
    if (a->n == 0)
        return JCS_OK;
    if (!(l->v = jcs_calloc(a->n, sizeof(*l->v))))
        return oom();
    l->n = a->n;
    for (size_t base = 0; base < a->n; base += CHUNK) {
        jcs_db_val p[CHUNK];
        for (size_t k = 0; k < CHUNK; k++)
            p[k] = JCS_DB_I(base + k < a->n ? a->ids[base + k] : 0);
        jcs_db_result *r;
        int rc = query(c, "SELECT " OBJ_COLS " FROM object o WHERE o.objectID IN " P32, p, CHUNK,
                       CHUNK, &r);
        if (rc)
            return rc;
        for (size_t row = 0; rc == JCS_OK && row < r->nrows; row++) {
            jcs_meta_object o;
            if ((rc = object_from_row(r, row, &o)) != 0)
                break;
            /* Every slot asking for this id gets it (an id may be asked twice). */
            int placed = 0;
            for (size_t i = base; rc == JCS_OK && i < a->n && i < base + CHUNK; i++) {
                if (a->ids[i] != o.object_id || l->v[i].object_id)
                    continue;
                if (!placed) {
                    l->v[i] = o;
                    placed = 1;
                } else {
                    rc = object_copy(&l->v[i], &o);
                }
            }
            /* Slots of the same id in later chunks are filled when their chunk runs. */
            if (!placed)
                jcs_meta_object_clear(&o);
        }
        jcs_db_result_free(r);
        if (rc)
            return rc;
    }
    return JCS_OK;
}

int jcs_meta_object_list_by_ids(jcs_db *db, const int64_t *ids, size_t n, jcs_meta_objects *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "object list: no output");
    memset(out, 0, sizeof(*out));
    int rc = check_count("objectIDs", ids, n);
    if (rc)
        return rc;
    struct object_arg a = {.ids = ids, .n = n, .list = out};
    FINISH(jcs_db_txn(db, list_by_ids_fn, &a), jcs_meta_objects_free, out);
}

static const char SQL_PAGE_BY_PATH[] = "SELECT " OBJ_COLS " FROM object o WHERE o.packageID = ? "
                                       "AND o.path > ? ORDER BY o.path LIMIT ?";

static int package_objects_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    jcs_meta_objects *l = a->list;
    size_t cap = 0;
    jcs_meta_objects_free(l);
    int rc = need_package(c, a->package_id);
    if (rc)
        return rc;
    for (;;) {
        const char *after = l->n ? l->v[l->n - 1].path : "";
        jcs_db_val p[3] = {JCS_DB_I(a->package_id), JCS_DB_B(after, strlen(after)),
                           JCS_DB_I(JCS_META_MAX_KEYS)};
        jcs_db_result *r;
        if ((rc = query(c, SQL_PAGE_BY_PATH, p, 3, JCS_META_MAX_KEYS, &r)) != 0)
            return rc;
        size_t got = r->nrows;
        if (l->n + got > JCS_META_ROWS_MAX) {
            jcs_db_result_free(r);
            return jcs_err_set(JCS_ETOOBIG,
                               "package %lld has more than %d objects; list it by path in pages",
                               LL(a->package_id), JCS_META_ROWS_MAX);
        }
        rc = append_objects(r, l, &cap);
        jcs_db_result_free(r);
        if (rc)
            return rc;
        if (got < JCS_META_MAX_KEYS)
            return JCS_OK;
    }
}

int jcs_meta_package_objects(jcs_db *db, int64_t package_id, jcs_meta_objects *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package objects: no output");
    memset(out, 0, sizeof(*out));
    struct object_arg a = {.package_id = package_id, .list = out};
    FINISH(jcs_db_txn(db, package_objects_fn, &a), jcs_meta_objects_free, out);
}

/* ---- blocks and pins of objects ---------------------------------------------------------------*/

/*
 * Spreads block rows (objectID, index, userSpaceID, fileHash, size; ordered
 * by objectID) over details d[0..n) (ordered by object id).
 */
static int spread_blocks(jcs_db_result *r, jcs_meta_detail *d, size_t n)
{
    size_t k = 0, row = 0;
    while (row < r->nrows && k < n) {
        int64_t id = cell_i(r, row, 0);
        if (id < d[k].object.object_id) {
            row++;
            continue;
        }
        if (id > d[k].object.object_id) {
            k++;
            continue;
        }
        size_t end = row;
        while (end < r->nrows && cell_i(r, end, 0) == id)
            end++;
        d[k].blocks = jcs_calloc(end - row, sizeof(*d[k].blocks));
        if (!d[k].blocks)
            return oom();
        for (size_t i = row; i < end; i++) {
            jcs_meta_block *b = &d[k].blocks[d[k].nblocks++];
            b->index = (int)cell_i(r, i, 1);
            b->space_id = cell_i(r, i, 2);
            cell_copy(r, i, 3, b->file_hash, sizeof(b->file_hash));
            b->size = cell_i(r, i, 4);
        }
        row = end;
        k++;
    }
    return JCS_OK;
}

/* Same for pin rows (objectID, userSpaceID). */
static int spread_pins(jcs_db_result *r, jcs_meta_detail *d, size_t n)
{
    size_t k = 0, row = 0;
    while (row < r->nrows && k < n) {
        int64_t id = cell_i(r, row, 0);
        if (id < d[k].object.object_id) {
            row++;
            continue;
        }
        if (id > d[k].object.object_id) {
            k++;
            continue;
        }
        size_t end = row;
        while (end < r->nrows && cell_i(r, end, 0) == id)
            end++;
        d[k].pinned = jcs_calloc(end - row, sizeof(*d[k].pinned));
        if (!d[k].pinned)
            return oom();
        for (size_t i = row; i < end; i++)
            d[k].pinned[d[k].npinned++] = cell_i(r, i, 1);
        row = end;
        k++;
    }
    return JCS_OK;
}

/* Blocks by index, then space. */
static int block_cmp(const void *a, const void *b)
{
    const jcs_meta_block *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->space_id < y->space_id ? -1 : x->space_id > y->space_id;
}

/*
 * One statement reads the object joined with its blocks: a single statement
 * sees one consistent snapshot, so no transaction (and its BEGIN and COMMIT
 * round trips) is needed. This is the read every download starts with.
 */
static int object_detail_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    jcs_meta_detail *d = a->detail;
    jcs_db_result *r;
    jcs_meta_detail_clear(d);
    jcs_db_val p = JCS_DB_I(a->id);
    /* No ORDER BY and no subquery: with the object's TEXT columns in the rows, either would
     * make MariaDB build an on-disk temporary table for every read. Blocks are sorted here. */
    int rc = query(c,
                   "SELECT " OBJ_COLS ", b.`index`, b.userSpaceID, b.fileHash, b.size "
                   "FROM object o LEFT JOIN objectBlock b ON b.objectID = o.objectID "
                   "WHERE o.objectID = ?",
                   &p, 1, BLOCKS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows == 0) {
        jcs_db_result_free(r);
        return jcs_err_set(JCS_ENOENT, "object %lld not found", LL(a->id));
    }
    const size_t bc = OBJ_NCOLS; /* first block column */
    if ((rc = object_from_row(r, 0, &d->object)) == 0 &&
        jcs_db_cell(r, 0, bc)->type != JCS_DB_NULL) {
        if (!(d->blocks = jcs_calloc(r->nrows, sizeof(*d->blocks))))
            rc = oom();
        for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
            jcs_meta_block *blk = &d->blocks[d->nblocks++];
            blk->index = (int)cell_i(r, i, bc);
            blk->space_id = cell_i(r, i, bc + 1);
            cell_copy(r, i, bc + 2, blk->file_hash, sizeof(blk->file_hash));
            blk->size = cell_i(r, i, bc + 3);
        }
    }
    jcs_db_result_free(r);
    if (rc == 0 && d->nblocks > 1)
        qsort(d->blocks, d->nblocks, sizeof(*d->blocks), block_cmp);
    /* Pins are informational (no read depends on them matching the blocks): a second
     * statement outside any transaction is fine. */
    if (rc == 0)
        rc = query(c,
                   "SELECT objectID, userSpaceID FROM pinnedObject WHERE objectID = ? "
                   "ORDER BY userSpaceID",
                   &p, 1, JCS_META_ROWS_MAX, &r);
    if (rc == 0) {
        rc = spread_pins(r, d, 1);
        jcs_db_result_free(r);
    }
    return rc;
}

int jcs_meta_object_detail(jcs_db *db, int64_t object_id, jcs_meta_detail *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "object detail: no output");
    memset(out, 0, sizeof(*out));
    struct object_arg a = {.id = object_id, .detail = out};
    FINISH(jcs_db_with(db, object_detail_fn, &a), jcs_meta_detail_clear, out);
}

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
    rc = append_objects(r, &a->out->objects, &cap);
    jcs_db_result_free(r);
    return rc;
}

static int list_fn(jcs_db_conn *c, void *arg)
{
    struct list_arg *a = arg;
    const jcs_meta_list_query *q = a->q;
    jcs_meta_listing *out = a->out;
    jcs_meta_listing_free(out);
    int rc = need_package(c, q->package_id);
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
                if (!cp ||
                    (rc = grow(&out->prefixes, &pcap, out->nprefixes + 1, sizeof(char *))) != 0) {
                    jcs_free(cp);
                    rc = rc ? rc : oom();
                    break;
                }
                out->prefixes[out->nprefixes++] = cp;
                memcpy(cursor, cp, cplen);
                cursor[cplen] = (char)0xff;
                cursor_len = cplen + 1;
                last_kind = 'p';
                last_key = cp;
            } else {
                if ((rc = grow(&out->objects.v, &ocap, out->objects.n + 1,
                               sizeof(*out->objects.v))) != 0)
                    break;
                jcs_meta_object *o = &out->objects.v[out->objects.n];
                if ((rc = object_from_row(r, row, o)) != 0)
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
        return oom();
    return JCS_OK;
}

int jcs_meta_object_list_by_path(jcs_db *db, const jcs_meta_list_query *q, jcs_meta_listing *out)
{
    if (!out || !q)
        return jcs_err_set(JCS_EINVAL, "object listing: no query or output");
    memset(out, 0, sizeof(*out));
    int rc;
    if (!q->is_prefix)
        rc = check_path(q->path);
    else if (q->path && *q->path)
        rc = check_text("path prefix", q->path, JCS_META_PATH_MAX);
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
    FINISH(jcs_db_txn(db, list_fn, &a), jcs_meta_listing_free, out);
}

/* ---- upload commit --------------------------------------------------------------------------- */

struct upload_arg {
    int64_t package_id;
    const jcs_meta_upload *items;
    const jcs_meta_upload **order; /* items by path: rows are locked in one global order */
    size_t n;
    int64_t now;
    jcs_meta_objects *out;
    struct space_seen seen;
};

/* Replaces object id's content with item's (keeps id and createTime). */
static int replace_object(jcs_db_conn *c, struct upload_arg *a, int64_t id,
                          const jcs_meta_upload *it)
{
    jcs_db_val p[5] = {JCS_DB_I(it->size), JCS_DB_S(it->file_hash), JCS_DB_S(it->redundancy),
                       JCS_DB_I(a->now), JCS_DB_I(id)};
    int rc = exec(c,
                  "UPDATE object SET size = ?, fileHash = ?, redundancy = ?, updateTime = ? "
                  "WHERE objectID = ?",
                  p, 5, NULL, NULL);
    if (rc)
        return rc;
    /* The old blocks and pins describe the old content: their shards are GC's now. */
    if ((rc = exec(c, "DELETE FROM objectBlock WHERE objectID = ?", &p[4], 1, NULL, NULL)) != 0)
        return rc;
    return exec(c, "DELETE FROM pinnedObject WHERE objectID = ?", &p[4], 1, NULL, NULL);
}

static int upload_fn(jcs_db_conn *c, void *arg)
{
    struct upload_arg *a = arg;
    a->seen.n = 0;
    if (a->out) {
        jcs_meta_objects_free(a->out);
        if (!(a->out->v = jcs_calloc(a->n, sizeof(*a->out->v))))
            return oom();
        a->out->n = a->n;
    }
    int rc = need_package(c, a->package_id);
    for (size_t k = 0; rc == JCS_OK && k < a->n; k++) {
        const jcs_meta_upload *it = a->order[k];
        size_t i = (size_t)(it - a->items);
        size_t plen = strlen(it->path);
        int64_t id = 0;
        if ((rc = find_path(c, a->package_id, it->path, plen, 1, &id)) != 0)
            break;
        if (id == 0) {
            jcs_db_val p[7] = {JCS_DB_I(a->package_id),  JCS_DB_B(it->path, plen),
                               JCS_DB_I(it->size),       JCS_DB_S(it->file_hash),
                               JCS_DB_S(it->redundancy), JCS_DB_I(a->now),
                               JCS_DB_I(a->now)};
            uint64_t nid = 0;
            rc = exec(c,
                      "INSERT INTO object (packageID, path, size, fileHash, redundancy, "
                      "createTime, updateTime) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      p, 7, NULL, &nid);
            id = (int64_t)nid;
            if (rc == JCS_EEXIST) {
                /* Another upload created the path since we looked: replace its object. */
                rc = find_path(c, a->package_id, it->path, plen, 1, &id);
                if (rc == JCS_OK && id == 0)
                    rc = jcs_err_set(JCS_EBUSY,
                                     "object \"%.*s\" in package %lld: concurrent "
                                     "change, try again",
                                     Q(it->path), LL(a->package_id));
                if (rc == JCS_OK)
                    rc = replace_object(c, a, id, it);
            }
        } else {
            rc = replace_object(c, a, id, it);
        }
        if (rc == JCS_OK)
            rc = insert_blocks(c, id, it->blocks, it->nblocks, &a->seen);
        if (rc == JCS_OK && a->out)
            rc = load_object(c, id, 0, &a->out->v[i]);
        if (rc)
            jcs_err_wrap(rc, "object \"%.*s\": ", Q(it->path));
    }
    return rc;
}

static int cmp_upload_path(const void *x, const void *y)
{
    const jcs_meta_upload *a = *(const jcs_meta_upload *const *)x;
    const jcs_meta_upload *b = *(const jcs_meta_upload *const *)y;
    return strcmp(a->path, b->path);
}

int jcs_meta_upload_commit(jcs_db *db, int64_t package_id, const jcs_meta_upload *items, size_t n,
                           jcs_meta_objects *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_count("upload", items, n);
    for (size_t i = 0; rc == JCS_OK && i < n; i++) {
        const jcs_meta_upload *it = &items[i];
        if ((rc = check_path(it->path)) != 0)
            break;
        if (it->size < 0 || !it->file_hash || !jcs_hash_valid(it->file_hash))
            rc = jcs_err_set(JCS_EINVAL, "object \"%.*s\": size %lld or FileHash \"%.80s\" invalid",
                             Q(it->path), LL(it->size), it->file_hash ? it->file_hash : "");
        if (rc == JCS_OK)
            rc = check_typed_json("redundancy", it->redundancy);
        if (rc == JCS_OK)
            rc = check_blocks("blocks", it->blocks, it->nblocks);
        if (rc)
            jcs_err_wrap(rc, "object \"%.*s\": ", Q(it->path));
    }
    if (rc)
        return rc;
    if (n == 0)
        return JCS_OK;
    /*
     * Items are applied in path order, so two batches touching the same paths
     * lock them in the same order and do not deadlock on them. Sorting also
     * finds a path given twice, which would make the result depend on the order.
     */
    const jcs_meta_upload **order = jcs_calloc(n, sizeof(*order));
    if (!order)
        return oom();
    for (size_t i = 0; i < n; i++)
        order[i] = &items[i];
    qsort(order, n, sizeof(*order), cmp_upload_path);
    for (size_t i = 1; rc == JCS_OK && i < n; i++)
        if (strcmp(order[i - 1]->path, order[i]->path) == 0)
            rc = jcs_err_set(JCS_EEXIST, "object \"%.*s\" appears twice in one upload",
                             Q(order[i]->path));
    if (rc) {
        jcs_free(order);
        return rc;
    }
    struct upload_arg a = {.package_id = package_id,
                           .items = items,
                           .order = order,
                           .n = n,
                           .now = jcs_wall_ms(),
                           .out = out};
    rc = jcs_db_txn(db, upload_fn, &a);
    jcs_free(a.seen.v);
    jcs_free(order);
    if (rc && out)
        jcs_meta_objects_free(out);
    return rc;
}

/* ---- move ------------------------------------------------------------------------------------ */

struct move_arg {
    const jcs_meta_moving *m;
    size_t n;
    char *found; /* n flags: the object exists */
    jcs_meta_ids *succ;
};

static int move_fn(jcs_db_conn *c, void *arg)
{
    struct move_arg *a = arg;
    int rc = JCS_OK;
    memset(a->found, 0, a->n);
    a->succ->n = 0;
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++) {
        int yes;
        rc = exists(c, "SELECT objectID FROM object WHERE objectID = ? FOR UPDATE",
                    a->m[i].object_id, &yes);
        if (rc == JCS_OK && yes) {
            a->found[i] = 1;
            rc = need_package(c, a->m[i].package_id);
        }
    }
    /* A destination may be held only by an object that this call moves away. */
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++) {
        if (!a->found[i])
            continue;
        int64_t holder = 0;
        rc = find_path(c, a->m[i].package_id, a->m[i].path, strlen(a->m[i].path), 1, &holder);
        if (rc || holder == 0 || holder == a->m[i].object_id)
            continue;
        int moved_away = 0;
        for (size_t k = 0; k < a->n && !moved_away; k++)
            moved_away = a->found[k] && a->m[k].object_id == holder;
        if (!moved_away)
            rc = jcs_err_set(JCS_EEXIST, "object \"%.*s\" already exists in package %lld",
                             Q(a->m[i].path), LL(a->m[i].package_id));
    }
    /* First every mover to a private temporary path, then each to its destination. */
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++) {
        if (!a->found[i])
            continue;
        char tmp[32];
        int len = snprintf(tmp, sizeof(tmp), "%c%lld", (char)0xff, LL(a->m[i].object_id));
        jcs_db_val p[2] = {JCS_DB_B(tmp, (size_t)len), JCS_DB_I(a->m[i].object_id)};
        rc = exec(c, "UPDATE object SET path = ? WHERE objectID = ?", p, 2, NULL, NULL);
    }
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++) {
        if (!a->found[i])
            continue;
        jcs_db_val p[3] = {JCS_DB_I(a->m[i].package_id),
                           JCS_DB_B(a->m[i].path, strlen(a->m[i].path)),
                           JCS_DB_I(a->m[i].object_id)};
        rc = exec(c, "UPDATE object SET packageID = ?, path = ? WHERE objectID = ?", p, 3, NULL,
                  NULL);
        if (rc == JCS_EEXIST)
            rc = jcs_err_set(JCS_EEXIST, "object \"%.*s\" already exists in package %lld",
                             Q(a->m[i].path), LL(a->m[i].package_id));
        if (rc == JCS_OK)
            a->succ->v[a->succ->n++] = a->m[i].object_id;
    }
    return rc;
}

/* A destination (package, path), or with path "" just an id, for finding duplicates by sorting. */
struct dest_ref {
    int64_t package_id;
    const char *path;
};

static int cmp_dest(const void *x, const void *y)
{
    const struct dest_ref *a = x, *b = y;
    if (a->package_id != b->package_id)
        return a->package_id < b->package_id ? -1 : 1;
    return strcmp(a->path, b->path);
}

int jcs_meta_object_move(jcs_db *db, const jcs_meta_moving *m, size_t n, jcs_meta_ids *successes)
{
    if (successes)
        memset(successes, 0, sizeof(*successes));
    int rc = check_count("movings", m, n);
    for (size_t i = 0; rc == JCS_OK && i < n; i++)
        rc = check_path(m[i].path);
    if (rc || n == 0)
        return rc;
    struct dest_ref *d = jcs_calloc(n, sizeof(*d));
    if (!d)
        return oom();
    for (size_t i = 0; i < n; i++)
        d[i] = (struct dest_ref){m[i].package_id, m[i].path};
    qsort(d, n, sizeof(*d), cmp_dest);
    for (size_t i = 1; rc == JCS_OK && i < n; i++)
        if (cmp_dest(&d[i - 1], &d[i]) == 0)
            rc = jcs_err_set(JCS_EEXIST, "two moves go to \"%.*s\" in package %lld", Q(d[i].path),
                             LL(d[i].package_id));
    /* The same sort by object id finds an object moved twice. */
    for (size_t i = 0; i < n; i++)
        d[i] = (struct dest_ref){m[i].object_id, ""};
    qsort(d, n, sizeof(*d), cmp_dest);
    for (size_t i = 1; rc == JCS_OK && i < n; i++)
        if (d[i - 1].package_id == d[i].package_id)
            rc = jcs_err_set(JCS_EINVAL, "object %lld is moved twice", LL(d[i].package_id));
    jcs_free(d);
    if (rc)
        return rc;
    jcs_meta_ids succ = {.v = jcs_calloc(n, sizeof(int64_t))};
    struct move_arg a = {.m = m, .n = n, .found = jcs_calloc(n, 1), .succ = &succ};
    if (!succ.v || !a.found) {
        jcs_free(succ.v);
        jcs_free(a.found);
        return oom();
    }
    rc = jcs_db_txn(db, move_fn, &a);
    jcs_free(a.found);
    if (rc == JCS_OK && successes)
        *successes = succ;
    else
        jcs_meta_ids_free(&succ);
    return rc;
}

/* ---- clone ----------------------------------------------------------------------------------- */

struct clone_arg {
    const jcs_meta_cloning *cl;
    size_t n;
    int64_t now;
    jcs_meta_objects *out; /* always set: a private list when the caller passed NULL */
};

static int clone_fn(jcs_db_conn *c, void *arg)
{
    struct clone_arg *a = arg;
    jcs_meta_objects_free(a->out);
    if (!(a->out->v = jcs_calloc(a->n, sizeof(*a->out->v))))
        return oom();
    a->out->n = a->n;
    int rc = JCS_OK;
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++) {
        const jcs_meta_cloning *x = &a->cl[i];
        jcs_meta_object src = {0};
        rc = load_object(c, x->object_id, 0, &src);
        if (rc == JCS_ENOENT) {
            jcs_err_clear();
            rc = JCS_OK;
            continue;
        }
        if (rc == JCS_OK && is_multipart(src.redundancy))
            rc = jcs_err_set(JCS_EINVAL, "object %lld is an unfinished multipart upload",
                             LL(x->object_id));
        jcs_meta_object_clear(&src);
        if (rc == JCS_OK)
            rc = need_package(c, x->package_id);
        if (rc)
            break;
        jcs_db_val p[5] = {JCS_DB_I(x->package_id), JCS_DB_B(x->path, strlen(x->path)),
                           JCS_DB_I(a->now), JCS_DB_I(a->now), JCS_DB_I(x->object_id)};
        uint64_t id = 0;
        rc = exec(c,
                  "INSERT INTO object (packageID, path, size, fileHash, redundancy, createTime, "
                  "updateTime) SELECT ?, ?, size, fileHash, redundancy, ?, ? FROM object "
                  "WHERE objectID = ?",
                  p, 5, NULL, &id);
        if (rc == JCS_EEXIST)
            rc = jcs_err_set(JCS_EEXIST, "object \"%.*s\" already exists in package %lld",
                             Q(x->path), LL(x->package_id));
        if (rc)
            break;
        jcs_db_val q[2] = {JCS_DB_I(id), JCS_DB_I(x->object_id)};
        rc = exec(c,
                  "INSERT INTO objectBlock (objectID, `index`, userSpaceID, fileHash, size) "
                  "SELECT ?, `index`, userSpaceID, fileHash, size FROM objectBlock "
                  "WHERE objectID = ?",
                  q, 2, NULL, NULL);
        if (rc == JCS_OK)
            rc = load_object(c, (int64_t)id, 0, &a->out->v[i]);
    }
    return rc;
}

int jcs_meta_object_clone(jcs_db *db, const jcs_meta_cloning *cl, size_t n, jcs_meta_objects *out)
{
    jcs_meta_objects mine = {0};
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_count("clonings", cl, n);
    for (size_t i = 0; rc == JCS_OK && i < n; i++)
        rc = check_path(cl[i].path);
    if (rc || n == 0)
        return rc;
    struct clone_arg a = {.cl = cl, .n = n, .now = jcs_wall_ms(), .out = out ? out : &mine};
    rc = jcs_db_txn(db, clone_fn, &a);
    jcs_meta_objects_free(&mine);
    if (rc && out)
        jcs_meta_objects_free(out);
    return rc;
}

/* ---- delete, update info --------------------------------------------------------------------- */

struct del_arg {
    const int64_t *ids;
    size_t n;
    int64_t package_id;
    const char *path;
};

static int delete_ids_fn(jcs_db_conn *c, void *arg)
{
    struct del_arg *a = arg;
    for (size_t base = 0; base < a->n; base += CHUNK) {
        jcs_db_val p[CHUNK];
        for (size_t k = 0; k < CHUNK; k++)
            p[k] = JCS_DB_I(base + k < a->n ? a->ids[base + k] : 0);
        int rc = exec(c, "DELETE FROM object WHERE objectID IN " P32, p, CHUNK, NULL, NULL);
        if (rc)
            return rc;
    }
    return JCS_OK;
}

int jcs_meta_object_delete(jcs_db *db, const int64_t *ids, size_t n)
{
    int rc = check_count("objectIDs", ids, n);
    if (rc || n == 0)
        return rc;
    struct del_arg a = {.ids = ids, .n = n};
    return jcs_db_txn(db, delete_ids_fn, &a);
}

static int delete_path_fn(jcs_db_conn *c, void *arg)
{
    struct del_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_I(a->package_id), JCS_DB_B(a->path, strlen(a->path))};
    uint64_t n = 0;
    int rc = exec(c, "DELETE FROM object WHERE packageID = ? AND path = ?", p, 2, &n, NULL);
    if (rc || n)
        return rc;
    if ((rc = need_package(c, a->package_id)) != 0)
        return rc;
    return jcs_err_set(JCS_ENOENT, "object \"%.*s\" not found in package %lld", Q(a->path),
                       LL(a->package_id));
}

int jcs_meta_object_delete_by_path(jcs_db *db, int64_t package_id, const char *path)
{
    int rc = check_path(path);
    if (rc)
        return rc;
    struct del_arg a = {.package_id = package_id, .path = path};
    return jcs_db_txn(db, delete_path_fn, &a);
}

struct update_arg {
    const jcs_meta_updating *u;
    size_t n;
    jcs_meta_ids *succ;
};

static int update_info_fn(jcs_db_conn *c, void *arg)
{
    struct update_arg *a = arg;
    a->succ->n = 0;
    for (size_t i = 0; i < a->n; i++) {
        int yes;
        int rc = exists(c, "SELECT objectID FROM object WHERE objectID = ? FOR UPDATE",
                        a->u[i].object_id, &yes);
        if (rc)
            return rc;
        if (!yes)
            continue;
        jcs_db_val p[2] = {JCS_DB_I(a->u[i].update_ms), JCS_DB_I(a->u[i].object_id)};
        if ((rc = exec(c, "UPDATE object SET updateTime = ? WHERE objectID = ?", p, 2, NULL,
                       NULL)) != 0)
            return rc;
        a->succ->v[a->succ->n++] = a->u[i].object_id;
    }
    return JCS_OK;
}

int jcs_meta_object_update_info(jcs_db *db, const jcs_meta_updating *u, size_t n,
                                jcs_meta_ids *successes)
{
    if (successes)
        memset(successes, 0, sizeof(*successes));
    int rc = check_count("updatings", u, n);
    if (rc || n == 0)
        return rc;
    jcs_meta_ids succ = {.v = jcs_calloc(n, sizeof(int64_t))};
    if (!succ.v)
        return oom();
    struct update_arg a = {.u = u, .n = n, .succ = &succ};
    rc = jcs_db_txn(db, update_info_fn, &a);
    if (rc == JCS_OK && successes)
        *successes = succ;
    else
        jcs_meta_ids_free(&succ);
    return rc;
}

/* ---- redundancy change ----------------------------------------------------------------------- */

struct change_arg {
    int64_t id;
    const char *from_hash, *redundancy;
    const jcs_meta_block *blocks;
    size_t nblocks;
    jcs_meta_object *out;
    struct space_seen seen;
};

static int change_fn(jcs_db_conn *c, void *arg)
{
    struct change_arg *a = arg;
    jcs_meta_object cur = {0};
    a->seen.n = 0;
    int rc = load_object(c, a->id, 1, &cur);
    if (rc)
        return rc;
    if (is_multipart(cur.redundancy))
        rc = jcs_err_set(JCS_EINVAL, "object %lld is an unfinished multipart upload", LL(a->id));
    else if (strcmp(cur.file_hash, a->from_hash) != 0)
        rc = jcs_err_set(JCS_EBUSY,
                         "object %lld changed while its redundancy was being changed: its "
                         "FileHash is now %s, the new blocks were made from %s",
                         LL(a->id), cur.file_hash, a->from_hash);
    jcs_meta_object_clear(&cur);
    if (rc)
        return rc;
    jcs_db_val p[2] = {JCS_DB_S(a->redundancy), JCS_DB_I(a->id)};
    if ((rc = exec(c, "DELETE FROM objectBlock WHERE objectID = ?", &p[1], 1, NULL, NULL)) != 0)
        return rc;
    if ((rc = insert_blocks(c, a->id, a->blocks, a->nblocks, &a->seen)) != 0)
        return rc;
    if ((rc = exec(c, "UPDATE object SET redundancy = ? WHERE objectID = ?", p, 2, NULL, NULL)) !=
        0)
        return rc;
    return a->out ? load_object(c, a->id, 0, a->out) : JCS_OK;
}

int jcs_meta_object_change_redundancy(jcs_db *db, int64_t object_id, const char *from_hash,
                                      const char *redundancy, const jcs_meta_block *blocks,
                                      size_t nblocks, jcs_meta_object *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (!from_hash || !jcs_hash_valid(from_hash))
        return jcs_err_set(JCS_EINVAL,
                           "change redundancy of object %lld: \"%.80s\" is not a "
                           "FileHash",
                           LL(object_id), from_hash ? from_hash : "");
    int rc = check_typed_json("redundancy", redundancy);
    if (rc == JCS_OK && nblocks == 0)
        rc = jcs_err_set(JCS_EINVAL, "change redundancy of object %lld: no blocks", LL(object_id));
    if (rc == JCS_OK)
        rc = check_blocks("change redundancy", blocks, nblocks);
    if (rc)
        return rc;
    struct change_arg a = {.id = object_id,
                           .from_hash = from_hash,
                           .redundancy = redundancy,
                           .blocks = blocks,
                           .nblocks = nblocks,
                           .out = out};
    rc = jcs_db_txn(db, change_fn, &a);
    jcs_free(a.seen.v);
    if (rc && out)
        jcs_meta_object_clear(out);
    return rc;
}

/* ---- pins ------------------------------------------------------------------------------------ */

struct pin_arg {
    int64_t object_id, space_id, now;
    int pin;
};

static int pin_fn(jcs_db_conn *c, void *arg)
{
    struct pin_arg *a = arg;
    jcs_db_val p[3] = {JCS_DB_I(a->object_id), JCS_DB_I(a->space_id), JCS_DB_I(a->now)};
    if (!a->pin)
        return exec(c, "DELETE FROM pinnedObject WHERE objectID = ? AND userSpaceID = ?", p, 2,
                    NULL, NULL);
    int yes;
    int rc = exists(c, "SELECT objectID FROM object WHERE objectID = ? LOCK IN SHARE MODE",
                    a->object_id, &yes);
    if (rc)
        return rc;
    if (!yes)
        return jcs_err_set(JCS_ENOENT, "object %lld not found", LL(a->object_id));
    if ((rc = need_space(c, a->space_id, NULL)) != 0)
        return rc;
    return exec(c,
                "INSERT INTO pinnedObject (objectID, userSpaceID, createTime) VALUES (?, ?, ?) "
                "ON DUPLICATE KEY UPDATE createTime = createTime",
                p, 3, NULL, NULL);
}

int jcs_meta_object_pin(jcs_db *db, int64_t object_id, int64_t space_id)
{
    struct pin_arg a = {object_id, space_id, jcs_wall_ms(), 1};
    return jcs_db_txn(db, pin_fn, &a);
}

int jcs_meta_object_unpin(jcs_db *db, int64_t object_id, int64_t space_id)
{
    struct pin_arg a = {object_id, space_id, 0, 0};
    return jcs_db_txn(db, pin_fn, &a);
}

/* ---- multipart uploads ----------------------------------------------------------------------- */

struct mp_arg {
    int64_t package_id, id, now;
    const char *path;
    const jcs_meta_block *part;
    const int *indexes;
    size_t n;
    jcs_meta_object *out;
};

static int mp_new_fn(jcs_db_conn *c, void *arg)
{
    struct mp_arg *a = arg;
    size_t plen = strlen(a->path);
    int64_t id = 0;
    int rc = need_package(c, a->package_id);
    if (rc == JCS_OK)
        rc = find_path(c, a->package_id, a->path, plen, 1, &id);
    if (rc)
        return rc;
    if (id != 0)
        return jcs_err_set(JCS_EEXIST, "object \"%.*s\" already exists in package %lld", Q(a->path),
                           LL(a->package_id));
    jcs_db_val p[5] = {JCS_DB_I(a->package_id), JCS_DB_B(a->path, plen),
                       JCS_DB_S(JCS_META_MULTIPART_REDUNDANCY), JCS_DB_I(a->now), JCS_DB_I(a->now)};
    uint64_t nid = 0;
    rc = exec(c,
              "INSERT INTO object (packageID, path, size, fileHash, redundancy, createTime, "
              "updateTime) VALUES (?, ?, 0, '', ?, ?, ?)",
              p, 5, NULL, &nid);
    if (rc == JCS_EEXIST)
        return jcs_err_set(JCS_EEXIST, "object \"%.*s\" already exists in package %lld", Q(a->path),
                           LL(a->package_id));
    if (rc)
        return rc;
    return a->out ? load_object(c, (int64_t)nid, 0, a->out) : JCS_OK;
}

int jcs_meta_multipart_new(jcs_db *db, int64_t package_id, const char *path, jcs_meta_object *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_path(path);
    if (rc)
        return rc;
    struct mp_arg a = {.package_id = package_id, .path = path, .now = jcs_wall_ms(), .out = out};
    FINISH(jcs_db_txn(db, mp_new_fn, &a), jcs_meta_object_clear, out);
}

/* Locks object id and checks that it is an open multipart upload. */
static int lock_multipart(jcs_db_conn *c, int64_t id)
{
    jcs_meta_object o = {0};
    int rc = load_object(c, id, 1, &o);
    if (rc == JCS_OK && !is_multipart(o.redundancy))
        rc = jcs_err_set(JCS_EINVAL, "object %lld is not an open multipart upload", LL(id));
    jcs_meta_object_clear(&o);
    return rc;
}

static int mp_part_fn(jcs_db_conn *c, void *arg)
{
    struct mp_arg *a = arg;
    int rc = lock_multipart(c, a->id);
    if (rc)
        return rc;
    /* Uploading a part again replaces it, wherever the earlier one was stored. */
    jcs_db_val p[2] = {JCS_DB_I(a->id), JCS_DB_I(a->part->index)};
    if ((rc = exec(c, "DELETE FROM objectBlock WHERE objectID = ? AND `index` = ?", p, 2, NULL,
                   NULL)) != 0)
        return rc;
    return insert_blocks(c, a->id, a->part, 1, NULL);
}

int jcs_meta_multipart_add_part(jcs_db *db, int64_t object_id, const jcs_meta_block *part)
{
    if (!part)
        return jcs_err_set(JCS_EINVAL, "object %lld: no part", LL(object_id));
    int rc = check_blocks("part", part, 1);
    if (rc)
        return jcs_err_wrap(rc, "object %lld: ", LL(object_id));
    enum jcs_hash_kind kind;
    if ((rc = jcs_hash_parse(part->file_hash, &kind, NULL)) != 0)
        return rc;
    if (kind != JCS_HASH_FULL)
        return jcs_err_set(JCS_EINVAL, "object %lld: part %d has FileHash %s, not a Full one",
                           LL(object_id), part->index, part->file_hash);
    struct mp_arg a = {.id = object_id, .part = part};
    return jcs_db_txn(db, mp_part_fn, &a);
}

static int mp_complete_fn(jcs_db_conn *c, void *arg)
{
    struct mp_arg *a = arg;
    jcs_db_result *r = NULL;
    unsigned char *digests = NULL;
    int64_t *sizes = NULL;
    jcs_buf red;
    jcs_buf_init(&red, 64 + a->n * 24);
    char comp[JCS_HASH_SIZE];
    int64_t total = 0;
    int rc = lock_multipart(c, a->id);
    if (rc)
        return rc;
    jcs_db_val id = JCS_DB_I(a->id);
    rc = query(c,
               "SELECT `index`, userSpaceID, fileHash, size FROM objectBlock WHERE objectID = ? "
               "ORDER BY `index`, userSpaceID",
               &id, 1, BLOCKS_MAX, &r);
    if (rc)
        return rc;
    digests = jcs_malloc(a->n * JCS_SHA256_LEN);
    sizes = jcs_calloc(a->n, sizeof(*sizes));
    if (!digests || !sizes) {
        rc = oom();
        goto out;
    }
    /* Each named part: its digest (the Full hash is the part's SHA-256) and size. */
    for (size_t i = 0; i < a->n; i++) {
        size_t lo = 0, hi = r->nrows;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cell_i(r, mid, 0) < a->indexes[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == r->nrows || cell_i(r, lo, 0) != a->indexes[i]) {
            rc = jcs_err_set(JCS_EINVAL, "part %d of object %lld was not uploaded", a->indexes[i],
                             LL(a->id));
            goto out;
        }
        enum jcs_hash_kind kind;
        rc = jcs_hash_parse(cell(r, lo, 2)->s, &kind, digests + i * JCS_SHA256_LEN);
        if (rc == JCS_OK && kind != JCS_HASH_FULL)
            rc = jcs_err_set(JCS_EINTERNAL, "part %d of object %lld has a Comp FileHash",
                             a->indexes[i], LL(a->id));
        if (rc)
            goto out;
        sizes[i] = cell_i(r, lo, 3);
        if (sizes[i] > INT64_MAX - total) {
            rc = jcs_err_set(JCS_EINVAL, "object %lld: the parts add up to more than 2^63 bytes",
                             LL(a->id));
            goto out;
        }
        total += sizes[i];
    }
    /* Parts not named are dropped (their shards become garbage). */
    for (size_t row = 0; row < r->nrows; row++) {
        int64_t idx = cell_i(r, row, 0);
        int named = 0;
        for (size_t i = 0; i < a->n && !named; i++)
            named = a->indexes[i] == idx;
        if (named || (row > 0 && cell_i(r, row - 1, 0) == idx))
            continue;
        jcs_db_val p[2] = {JCS_DB_I(a->id), JCS_DB_I(idx)};
        if ((rc = exec(c, "DELETE FROM objectBlock WHERE objectID = ? AND `index` = ?", p, 2, NULL,
                       NULL)) != 0)
            goto out;
    }
    /* Renumber to 0..n-1 in the order given, through negative indexes so no key collides. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < a->n; i++) {
            int64_t from = pass == 0 ? a->indexes[i] : -(int64_t)i - 1;
            int64_t to = pass == 0 ? -(int64_t)i - 1 : (int64_t)i;
            jcs_db_val p[3] = {JCS_DB_I(to), JCS_DB_I(a->id), JCS_DB_I(from)};
            if ((rc = exec(c,
                           "UPDATE objectBlock SET `index` = ? WHERE objectID = ? AND `index` = ?",
                           p, 3, NULL, NULL)) != 0)
                goto out;
        }
    }
    if ((rc = jcs_hash_comp(digests, a->n, comp)) != 0)
        goto out;
    rc = jcs_buf_printf(&red, "{\"type\":\"segment\",\"segments\":[");
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++)
        rc = jcs_buf_printf(&red, "%s%lld", i ? "," : "", LL(sizes[i]));
    if (rc == JCS_OK)
        rc = jcs_buf_printf(&red, "]}");
    if (rc)
        goto out;
    jcs_db_val p[5] = {JCS_DB_I(total), JCS_DB_S(comp), JCS_DB_S(red.data), JCS_DB_I(a->now),
                       JCS_DB_I(a->id)};
    rc = exec(c,
              "UPDATE object SET size = ?, fileHash = ?, redundancy = ?, updateTime = ? "
              "WHERE objectID = ?",
              p, 5, NULL, NULL);
    if (rc == JCS_OK && a->out)
        rc = load_object(c, a->id, 0, a->out);
out:
    jcs_db_result_free(r);
    jcs_free(digests);
    jcs_free(sizes);
    jcs_buf_free(&red);
    return rc;
}

static int cmp_int(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return a < b ? -1 : a > b;
}

int jcs_meta_multipart_complete(jcs_db *db, int64_t object_id, const int *indexes, size_t n,
                                jcs_meta_object *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_count("indexes", indexes, n);
    if (rc)
        return rc;
    if (n == 0)
        return jcs_err_set(JCS_EINVAL, "object %lld: no parts to complete with", LL(object_id));
    int *sorted = jcs_malloc(n * sizeof(int));
    if (!sorted)
        return oom();
    memcpy(sorted, indexes, n * sizeof(int));
    qsort(sorted, n, sizeof(int), cmp_int);
    for (size_t i = 0; rc == JCS_OK && i < n; i++) {
        if (sorted[i] < 0)
            rc = jcs_err_set(JCS_EINVAL, "object %lld: part index %d is negative", LL(object_id),
                             sorted[i]);
        else if (i && sorted[i] == sorted[i - 1])
            rc = jcs_err_set(JCS_EINVAL, "object %lld: part %d is named twice", LL(object_id),
                             sorted[i]);
    }
    jcs_free(sorted);
    if (rc)
        return rc;
    struct mp_arg a = {
        .id = object_id, .indexes = indexes, .n = n, .now = jcs_wall_ms(), .out = out};
    rc = jcs_db_txn(db, mp_complete_fn, &a);
    if (rc && out)
        jcs_meta_object_clear(out);
    return rc;
}

static int mp_abort_fn(jcs_db_conn *c, void *arg)
{
    struct mp_arg *a = arg;
    int rc = lock_multipart(c, a->id);
    if (rc)
        return rc;
    jcs_db_val p = JCS_DB_I(a->id);
    return exec(c, "DELETE FROM object WHERE objectID = ?", &p, 1, NULL, NULL);
}

int jcs_meta_multipart_abort(jcs_db *db, int64_t object_id)
{
    struct mp_arg a = {.id = object_id};
    return jcs_db_txn(db, mp_abort_fn, &a);
}

/* ---- user spaces ----------------------------------------------------------------------------- */

/* Field names whose values never leave through a public view. */
static int secret_field(const char *key)
{
    static const char *const words[] = {"secret", "password", "token"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(key, words[i]))
            return 1;
    return 0;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return jcs_buf_append(data, buf, size) == JCS_OK ? 0 : -1;
}

/* storage without its secret fields (caller frees); on bad JSON, "{}". */
static int public_storage(const char *storage, char **out)
{
    jcs_buf b;
    jcs_buf_init(&b, STORAGE_MAX);
    json_t *j = json_loads(storage, 0, NULL);
    int rc = JCS_OK;
    if (json_is_object(j)) {
        const char *key;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(j, tmp, key, val)
        {
            (void)val;
            if (secret_field(key))
                json_object_del(j, key);
        }
        if (json_dump_callback(j, dump_cb, &b, JSON_COMPACT) != 0)
            rc = oom();
    } else {
        rc = jcs_buf_append(&b, "{}", 2);
    }
    json_decref(j);
    if (rc == JCS_OK && !b.data)
        rc = jcs_buf_append(&b, "{}", 2);
    if (rc) {
        jcs_buf_free(&b);
        return rc;
    }
    *out = jcs_buf_steal(&b);
    return JCS_OK;
}

#define SPACE_SELECT                                                                               \
    "SELECT s.userSpaceID, s.name, s.storageType, s.storage, s.locationID, s.hubID, s.state, "     \
    "s.createTime, COALESCE(u.bytes, 0), COALESCE(u.cnt, 0) FROM userspace s LEFT JOIN "           \
    "(SELECT d.userSpaceID, CAST(SUM(d.size) AS SIGNED) AS bytes, COUNT(*) AS cnt FROM "           \
    "(SELECT DISTINCT userSpaceID, fileHash, size FROM objectBlock) d GROUP BY d.userSpaceID) u "  \
    "ON u.userSpaceID = s.userSpaceID"

static int space_from_row(jcs_db_result *r, size_t row, int with_secrets, jcs_meta_space *s)
{
    memset(s, 0, sizeof(*s));
    s->space_id = cell_i(r, row, 0);
    s->name = cell_take(r, row, 1);
    s->storage_type = cell_take(r, row, 2);
    char *storage = cell_take(r, row, 3);
    s->location_id = cell_i(r, row, 4);
    s->hub_id = cell_i(r, row, 5);
    s->state = cell_take(r, row, 6);
    s->create_ms = cell_i(r, row, 7);
    jcs_meta_time_format(s->create_ms, s->create_time);
    s->used_bytes = cell_i(r, row, 8);
    s->block_count = cell_i(r, row, 9);
    int rc = JCS_OK;
    if (with_secrets) {
        s->storage = storage;
    } else {
        rc = public_storage(storage ? storage : "", &s->storage);
        jcs_free(storage);
    }
    if (rc == JCS_OK && (!s->name || !s->storage_type || !s->storage || !s->state))
        rc = jcs_err_set(JCS_EINTERNAL, "user space %lld: a column is NULL", LL(s->space_id));
    if (rc)
        jcs_meta_space_clear(s);
    return rc;
}

struct space_arg {
    int64_t id, location_id, hub_id, now;
    const char *name, *storage, *type, *state;
    int with_secrets;
    jcs_meta_space *out;
    jcs_meta_spaces *list;
};

/* One space's usage reads only its own blocks (through the (userSpaceID, fileHash) key). */
#define SPACE_SELECT_ONE                                                                           \
    "SELECT s.userSpaceID, s.name, s.storageType, s.storage, s.locationID, s.hubID, s.state, "     \
    "s.createTime, COALESCE(u.bytes, 0), COALESCE(u.cnt, 0) FROM userspace s LEFT JOIN "           \
    "(SELECT CAST(SUM(d.size) AS SIGNED) AS bytes, COUNT(*) AS cnt FROM (SELECT DISTINCT "         \
    "fileHash, size FROM objectBlock WHERE userSpaceID = ?) d) u ON 1 = 1 "                        \
    "WHERE s.userSpaceID = ?"

static int load_space(jcs_db_conn *c, int64_t id, int with_secrets, jcs_meta_space *out)
{
    jcs_db_result *r;
    jcs_db_val p[2] = {JCS_DB_I(id), JCS_DB_I(id)};
    jcs_meta_space_clear(out);
    int rc = query(c, SPACE_SELECT_ONE, p, 2, 1, &r);
    if (rc)
        return rc;
    if (r->nrows == 0)
        rc = jcs_err_set(JCS_ENOENT, "user space %lld not found", LL(id));
    else
        rc = space_from_row(r, 0, with_secrets, out);
    jcs_db_result_free(r);
    return rc;
}

static int space_create_fn(jcs_db_conn *c, void *arg)
{
    struct space_arg *a = arg;
    jcs_db_val p[6] = {JCS_DB_S(a->name),        JCS_DB_S(a->type),   JCS_DB_S(a->storage),
                       JCS_DB_I(a->location_id), JCS_DB_I(a->hub_id), JCS_DB_I(a->now)};
    uint64_t id = 0;
    int rc = exec(c,
                  "INSERT INTO userspace (name, storageType, storage, locationID, hubID, state, "
                  "createTime) VALUES (?, ?, ?, ?, ?, 'normal', ?)",
                  p, 6, NULL, &id);
    if (rc == JCS_EEXIST)
        return jcs_err_set(JCS_EEXIST, "user space \"%.*s\" already exists", Q(a->name));
    if (rc == JCS_OK && a->out)
        rc = load_space(c, (int64_t)id, 0, a->out);
    return rc;
}

int jcs_meta_space_create(jcs_db *db, const char *name, const char *storage, int64_t location_id,
                          jcs_meta_space *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = check_text("user space name", name, JCS_META_NAME_MAX);
    if (rc == JCS_OK)
        rc = check_typed_json("storage", storage);
    if (rc == JCS_OK && strlen(storage) > STORAGE_MAX)
        rc = jcs_err_set(JCS_EINVAL, "storage: more than %d bytes", STORAGE_MAX);
    if (rc == JCS_OK && location_id < 0)
        rc =
            jcs_err_set(JCS_EINVAL, "user space \"%.*s\": location %lld", Q(name), LL(location_id));
    if (rc)
        return rc;
    json_t *j = json_loads(storage, 0, NULL);
    if (!j)
        return oom();
    char type[33];
    snprintf(type, sizeof(type), "%s", json_string_value(json_object_get(j, "type")));
    json_t *hub = json_object_get(j, "hubID");
    int64_t hub_id = json_is_integer(hub) ? (int64_t)json_integer_value(hub) : 0;
    int hub_bad = hub && !json_is_integer(hub);
    size_t tlen = strlen(json_string_value(json_object_get(j, "type")));
    json_decref(j);
    if (hub_bad || hub_id < 0)
        return jcs_err_set(JCS_EINVAL, "storage: field hubID must be a non-negative integer");
    if (tlen >= sizeof(type))
        return jcs_err_set(JCS_EINVAL, "storage: type \"%s...\" is too long", type);
    struct space_arg a = {.name = name,
                          .storage = storage,
                          .type = type,
                          .location_id = location_id,
                          .hub_id = hub_id,
                          .now = jcs_wall_ms(),
                          .out = out};
    FINISH(jcs_db_txn(db, space_create_fn, &a), jcs_meta_space_clear, out);
}

static int space_get_fn(jcs_db_conn *c, void *arg)
{
    struct space_arg *a = arg;
    return load_space(c, a->id, a->with_secrets, a->out);
}

static int space_get(jcs_db *db, int64_t id, int with_secrets, jcs_meta_space *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "user space get: no output");
    memset(out, 0, sizeof(*out));
    struct space_arg a = {.id = id, .with_secrets = with_secrets, .out = out};
    FINISH(jcs_db_with(db, space_get_fn, &a), jcs_meta_space_clear, out);
}

int jcs_meta_space_get(jcs_db *db, int64_t space_id, jcs_meta_space *out)
{
    return space_get(db, space_id, 0, out);
}

int jcs_meta_space_get_private(jcs_db *db, int64_t space_id, jcs_meta_space *out)
{
    return space_get(db, space_id, 1, out);
}

static int space_list_fn(jcs_db_conn *c, void *arg)
{
    struct space_arg *a = arg;
    jcs_db_result *r;
    jcs_meta_spaces_free(a->list);
    int rc = query(c, SPACE_SELECT " ORDER BY s.userSpaceID", NULL, 0, JCS_META_ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(a->list->v = jcs_calloc(r->nrows, sizeof(*a->list->v))))
        rc = oom();
    for (size_t i = 0; rc == JCS_OK && i < r->nrows; i++)
        if ((rc = space_from_row(r, i, a->with_secrets, &a->list->v[i])) == JCS_OK)
            a->list->n++;
    jcs_db_result_free(r);
    return rc;
}

static int space_list(jcs_db *db, int with_secrets, jcs_meta_spaces *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "user space list: no output");
    memset(out, 0, sizeof(*out));
    struct space_arg a = {.with_secrets = with_secrets, .list = out};
    int rc = jcs_db_with(db, space_list_fn, &a);
    if (rc)
        jcs_meta_spaces_free(out);
    return rc;
}

int jcs_meta_space_list(jcs_db *db, jcs_meta_spaces *out)
{
    return space_list(db, 0, out);
}

int jcs_meta_space_list_private(jcs_db *db, jcs_meta_spaces *out)
{
    return space_list(db, 1, out);
}

static int space_state_fn(jcs_db_conn *c, void *arg)
{
    struct space_arg *a = arg;
    int yes;
    int rc = exists(c, "SELECT userSpaceID FROM userspace WHERE userSpaceID = ? FOR UPDATE", a->id,
                    &yes);
    if (rc)
        return rc;
    if (!yes)
        return jcs_err_set(JCS_ENOENT, "user space %lld not found", LL(a->id));
    jcs_db_val p[2] = {JCS_DB_S(a->state), JCS_DB_I(a->id)};
    return exec(c, "UPDATE userspace SET state = ? WHERE userSpaceID = ?", p, 2, NULL, NULL);
}

int jcs_meta_space_set_state(jcs_db *db, int64_t space_id, const char *state)
{
    int rc = check_text("user space state", state, STATE_MAX);
    if (rc)
        return rc;
    struct space_arg a = {.id = space_id, .state = state};
    return jcs_db_txn(db, space_state_fn, &a);
}

static int space_delete_fn(jcs_db_conn *c, void *arg)
{
    struct space_arg *a = arg;
    int yes;
    /* The row lock makes a concurrent block insert (its foreign key check) wait for us. */
    int rc = exists(c, "SELECT userSpaceID FROM userspace WHERE userSpaceID = ? FOR UPDATE", a->id,
                    &yes);
    if (rc)
        return rc;
    if (!yes)
        return jcs_err_set(JCS_ENOENT, "user space %lld not found", LL(a->id));
    jcs_db_result *r;
    jcs_db_val p = JCS_DB_I(a->id);
    if ((rc = query(c, "SELECT COUNT(*) FROM objectBlock WHERE userSpaceID = ?", &p, 1, 1, &r)) !=
        0)
        return rc;
    int64_t blocks = r->nrows ? cell_i(r, 0, 0) : 0;
    jcs_db_result_free(r);
    if (blocks > 0)
        return jcs_err_set(JCS_EBUSY,
                           "user space %lld still holds %lld blocks; move them elsewhere first",
                           LL(a->id), LL(blocks));
    return exec(c, "DELETE FROM userspace WHERE userSpaceID = ?", &p, 1, NULL, NULL);
}

int jcs_meta_space_delete(jcs_db *db, int64_t space_id)
{
    struct space_arg a = {.id = space_id};
    return jcs_db_txn(db, space_delete_fn, &a);
}

/* ---- access statistics ----------------------------------------------------------------------- */

struct access_arg {
    const jcs_meta_access *e;
    size_t n;
    double weight;
    int64_t id;
    int package;
    jcs_meta_stats *out;
};

/*
 * Access entries go in with multi-row statements: one INSERT ... SELECT per
 * table and chunk, the entries a derived table of UNION ALL rows. Chunks
 * have a few fixed sizes so each connection prepares at most a handful of
 * statements. The joins skip objects and spaces deleted meanwhile instead
 * of failing the batch; a (package, space) pair met twice in one chunk
 * adds up through ON DUPLICATE KEY UPDATE.
 */
static const size_t access_chunks[] = {64, 8, 1};

/* The statement for a chunk of k entries into table (object or package statistics). */
static char *access_sql(int package, size_t k)
{
    jcs_buf b;
    jcs_buf_init(&b, 64 * 1024);
    int rc = jcs_buf_printf(&b,
                            "INSERT INTO %s (%s, userSpaceID, counter, amount) "
                            "SELECT o.%s, s.userSpaceID, v.cnt, 0 FROM (SELECT ? AS cnt, "
                            "? AS sid, ? AS oid",
                            package ? "packageAccessStat" : "objectAccessStat",
                            package ? "packageID" : "objectID", package ? "packageID" : "objectID");
    for (size_t i = 1; rc == 0 && i < k; i++)
        rc = jcs_buf_append(&b, " UNION ALL SELECT ?, ?, ?", 25);
    if (rc == 0)
        rc = jcs_buf_printf(&b, ") v JOIN object o ON o.objectID = v.oid "
                                "JOIN userspace s ON s.userSpaceID = v.sid "
                                "ON DUPLICATE KEY UPDATE counter = counter + VALUES(counter)");
    char *sql = rc == 0 ? jcs_strndup(b.data, b.len) : NULL;
    jcs_buf_free(&b);
    return sql;
}

static int access_add_fn(jcs_db_conn *c, void *arg)
{
    struct access_arg *a = arg;
    jcs_db_val p[3 * 64];
    for (size_t i = 0; i < a->n;) {
        size_t k = 0;
        for (size_t j = 0; j < sizeof access_chunks / sizeof access_chunks[0] && !k; j++)
            if (access_chunks[j] <= a->n - i)
                k = access_chunks[j];
        for (size_t j = 0; j < k; j++) {
            p[3 * j] = JCS_DB_D(a->e[i + j].count);
            p[3 * j + 1] = JCS_DB_I(a->e[i + j].space_id);
            p[3 * j + 2] = JCS_DB_I(a->e[i + j].object_id);
        }
        for (int package = 0; package < 2; package++) {
            char *sql = access_sql(package, k);
            if (!sql)
                return oom();
            int rc = exec(c, sql, p, 3 * k, NULL, NULL);
            jcs_free(sql);
            if (rc)
                return rc;
        }
        i += k;
    }
    return JCS_OK;
}

int jcs_meta_access_add(jcs_db *db, const jcs_meta_access *e, size_t n)
{
    int rc = check_count("access entries", e, n);
    for (size_t i = 0; rc == JCS_OK && i < n; i++)
        if (!(e[i].count > 0) || !isfinite(e[i].count))
            rc = jcs_err_set(JCS_EINVAL, "access of object %lld: count %g is not positive",
                             LL(e[i].object_id), e[i].count);
    if (rc || n == 0)
        return rc;
    struct access_arg a = {.e = e, .n = n};
    return jcs_db_txn(db, access_add_fn, &a);
}

static int access_age_fn(jcs_db_conn *c, void *arg)
{
    struct access_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_D(a->weight), JCS_DB_D(1 - a->weight)};
    int rc = exec(c, "UPDATE objectAccessStat SET amount = amount * ? + counter * ?, counter = 0",
                  p, 2, NULL, NULL);
    if (rc == JCS_OK)
        rc = exec(c, "UPDATE packageAccessStat SET amount = amount * ? + counter * ?, counter = 0",
                  p, 2, NULL, NULL);
    return rc;
}

int jcs_meta_access_age(jcs_db *db, double weight)
{
    if (!(weight >= 0 && weight <= 1))
        return jcs_err_set(JCS_EINVAL, "accessStatHistoryWeight %g is not within 0-1", weight);
    struct access_arg a = {.weight = weight};
    return jcs_db_txn(db, access_age_fn, &a);
}

static int stats_fn(jcs_db_conn *c, void *arg)
{
    struct access_arg *a = arg;
    jcs_db_result *r;
    jcs_db_val p = JCS_DB_I(a->id);
    jcs_meta_stats_free(a->out);
    int rc = query(c,
                   a->package ? "SELECT userSpaceID, counter, amount FROM packageAccessStat "
                                "WHERE packageID = ? ORDER BY userSpaceID"
                              : "SELECT userSpaceID, counter, amount FROM objectAccessStat "
                                "WHERE objectID = ? ORDER BY userSpaceID",
                   &p, 1, JCS_META_ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(a->out->v = jcs_calloc(r->nrows, sizeof(*a->out->v)))) {
        jcs_db_result_free(r);
        return oom();
    }
    for (size_t i = 0; i < r->nrows; i++) {
        a->out->v[i].space_id = cell_i(r, i, 0);
        a->out->v[i].counter = cell_d(r, i, 1);
        a->out->v[i].amount = cell_d(r, i, 2);
    }
    a->out->n = r->nrows;
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_object_stats(jcs_db *db, int64_t object_id, jcs_meta_stats *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "object stats: no output");
    memset(out, 0, sizeof(*out));
    struct access_arg a = {.id = object_id, .out = out};
    FINISH(jcs_db_with(db, stats_fn, &a), jcs_meta_stats_free, out);
}

int jcs_meta_package_stats(jcs_db *db, int64_t package_id, jcs_meta_stats *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package stats: no output");
    memset(out, 0, sizeof(*out));
    struct access_arg a = {.id = package_id, .package = 1, .out = out};
    FINISH(jcs_db_with(db, stats_fn, &a), jcs_meta_stats_free, out);
}

/* ---- for the background jobs ----------------------------------------------------------------- */

struct job_arg {
    int64_t space_id, after_id;
    const char *after;
    size_t limit;
    jcs_meta_hashes *hashes;
    jcs_meta_details *details;
};

static int space_hashes_fn(jcs_db_conn *c, void *arg)
{
    struct job_arg *a = arg;
    jcs_meta_hashes *h = a->hashes;
    jcs_meta_hashes_free(h);
    int rc = need_space(c, a->space_id, NULL);
    if (rc)
        return rc;
    jcs_db_val p[3] = {JCS_DB_I(a->space_id), JCS_DB_S(a->after), JCS_DB_I(a->limit)};
    jcs_db_result *r;
    rc = query(c,
               "SELECT DISTINCT fileHash FROM objectBlock WHERE userSpaceID = ? AND fileHash > ? "
               "ORDER BY fileHash LIMIT ?",
               p, 3, a->limit, &r);
    if (rc)
        return rc;
    if (r->nrows && !(h->v = jcs_calloc(r->nrows, sizeof(*h->v)))) {
        jcs_db_result_free(r);
        return oom();
    }
    for (size_t i = 0; i < r->nrows; i++)
        cell_copy(r, i, 0, h->v[i], sizeof(h->v[i]));
    h->n = r->nrows;
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_space_hashes(jcs_db *db, int64_t space_id, const char *after, size_t limit,
                          jcs_meta_hashes *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "space hashes: no output");
    memset(out, 0, sizeof(*out));
    if (limit == 0 || limit > JCS_META_ROWS_MAX)
        return jcs_err_set(JCS_EINVAL, "space hashes: limit %zu is not within 1-%d", limit,
                           JCS_META_ROWS_MAX);
    if (after && strlen(after) > JCS_HASH_LEN)
        return jcs_err_set(JCS_EINVAL, "space hashes: \"%.80s\" is not a FileHash", after);
    struct job_arg a = {
        .space_id = space_id, .after = after ? after : "", .limit = limit, .hashes = out};
    FINISH(jcs_db_txn(db, space_hashes_fn, &a), jcs_meta_hashes_free, out);
}

static int pinned_hashes_fn(jcs_db_conn *c, void *arg)
{
    struct job_arg *a = arg;
    jcs_meta_hashes *h = a->hashes;
    jcs_meta_hashes_free(h);
    int rc = need_space(c, a->space_id, NULL);
    if (rc)
        return rc;
    jcs_db_val p = JCS_DB_I(a->space_id);
    jcs_db_result *r;
    rc = query(c,
               "SELECT DISTINCT o.fileHash FROM pinnedObject q JOIN object o ON o.objectID = "
               "q.objectID WHERE q.userSpaceID = ? AND o.fileHash <> '' ORDER BY o.fileHash",
               &p, 1, JCS_META_ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(h->v = jcs_calloc(r->nrows, sizeof(*h->v)))) {
        jcs_db_result_free(r);
        return oom();
    }
    for (size_t i = 0; i < r->nrows; i++)
        cell_copy(r, i, 0, h->v[i], sizeof(h->v[i]));
    h->n = r->nrows;
    jcs_db_result_free(r);
    return JCS_OK;
}

int jcs_meta_space_pinned_hashes(jcs_db *db, int64_t space_id, jcs_meta_hashes *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "pinned hashes: no output");
    memset(out, 0, sizeof(*out));
    struct job_arg a = {.space_id = space_id, .hashes = out};
    FINISH(jcs_db_with(db, pinned_hashes_fn, &a), jcs_meta_hashes_free, out);
}

static int objects_page_fn(jcs_db_conn *c, void *arg)
{
    struct job_arg *a = arg;
    jcs_meta_details *l = a->details;
    jcs_db_result *r;
    jcs_meta_details_free(l);
    /* The page's ids come from the same query text in all three statements. */
#define PAGE_ALL "SELECT o.objectID FROM object o WHERE o.objectID > ? ORDER BY o.objectID LIMIT ?"
#define PAGE_SPACE                                                                                 \
    "SELECT o.objectID FROM object o WHERE o.objectID > ? AND EXISTS (SELECT 1 FROM objectBlock "  \
    "x WHERE x.objectID = o.objectID AND x.userSpaceID = ?) ORDER BY o.objectID LIMIT ?"
    int by_space = a->space_id > 0;
    jcs_db_val p[3] = {JCS_DB_I(a->after_id), JCS_DB_I(a->space_id), JCS_DB_I(a->limit)};
    if (!by_space)
        p[1] = p[2];
    size_t np = by_space ? 3 : 2;
    int rc = query(c,
                   by_space ? "SELECT " OBJ_COLS " FROM (" PAGE_SPACE ") pg JOIN object o ON "
                              "o.objectID = pg.objectID ORDER BY o.objectID"
                            : "SELECT " OBJ_COLS " FROM (" PAGE_ALL ") pg JOIN object o ON "
                              "o.objectID = pg.objectID ORDER BY o.objectID",
                   p, np, a->limit, &r);
    if (rc)
        return rc;
    if (r->nrows && !(l->v = jcs_calloc(r->nrows, sizeof(*l->v))))
        rc = oom();
    for (size_t i = 0; rc == JCS_OK && i < r->nrows; i++)
        if ((rc = object_from_row(r, i, &l->v[i].object)) == JCS_OK)
            l->n++;
    jcs_db_result_free(r);
    if (rc || l->n == 0)
        return rc;
    rc = query(c,
               by_space ? "SELECT b.objectID, b.`index`, b.userSpaceID, b.fileHash, b.size FROM "
                          "(" PAGE_SPACE ") pg JOIN objectBlock b ON b.objectID = pg.objectID "
                          "ORDER BY b.objectID, b.`index`, b.userSpaceID"
                        : "SELECT b.objectID, b.`index`, b.userSpaceID, b.fileHash, b.size FROM "
                          "(" PAGE_ALL ") pg JOIN objectBlock b ON b.objectID = pg.objectID "
                          "ORDER BY b.objectID, b.`index`, b.userSpaceID",
               p, np, BLOCKS_MAX, &r);
    if (rc)
        return rc;
    rc = spread_blocks(r, l->v, l->n);
    jcs_db_result_free(r);
    if (rc)
        return rc;
    rc = query(c,
               by_space ? "SELECT q.objectID, q.userSpaceID FROM (" PAGE_SPACE ") pg "
                          "JOIN pinnedObject q ON q.objectID = pg.objectID "
                          "ORDER BY q.objectID, q.userSpaceID"
                        : "SELECT q.objectID, q.userSpaceID FROM (" PAGE_ALL ") pg "
                          "JOIN pinnedObject q ON q.objectID = pg.objectID "
                          "ORDER BY q.objectID, q.userSpaceID",
               p, np, BLOCKS_MAX, &r);
    if (rc)
        return rc;
    rc = spread_pins(r, l->v, l->n);
    jcs_db_result_free(r);
    return rc;
#undef PAGE_ALL
#undef PAGE_SPACE
}

int jcs_meta_objects_page(jcs_db *db, int64_t space_id, int64_t after_id, size_t limit,
                          jcs_meta_details *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "objects page: no output");
    memset(out, 0, sizeof(*out));
    if (limit == 0 || limit > JCS_META_ROWS_MAX)
        return jcs_err_set(JCS_EINVAL, "objects page: limit %zu is not within 1-%d", limit,
                           JCS_META_ROWS_MAX);
    struct job_arg a = {.space_id = space_id, .after_id = after_id, .limit = limit, .details = out};
    int rc = jcs_db_txn(db, objects_page_fn, &a);
    if (rc)
        jcs_meta_details_free(out);
    return rc;
}
