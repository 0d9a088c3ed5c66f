/*
 * meta.c - the client's metadata in MySQL/MariaDB (meta.h): the schema, times,
 * input checks and the helpers every entity file shares (meta_int.h).
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
#include "meta_int.h"

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
    /* The S3 gateway's attributes of an object (client/s3/s3meta.h). A row describes the
     * content whose FileHash it names; an object replaced through REST keeps its id, and
     * the stale row is then ignored. Open S3 multipart uploads carry their key and token. */
    "CREATE TABLE IF NOT EXISTS s3Object ("
    " objectID BIGINT NOT NULL PRIMARY KEY,"
    " fileHash VARCHAR(68) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " etag VARCHAR(80) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " headers MEDIUMTEXT NOT NULL,"
    " checksumAlg VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',"
    " checksum VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',"
    " uploadKey VARBINARY(1100) NULL,"
    " uploadToken CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,"
    " CONSTRAINT fk_s3object_object FOREIGN KEY (objectID) REFERENCES object (objectID)"
    " ON DELETE CASCADE)" TBL ";\n"
    "CREATE TABLE IF NOT EXISTS s3Part ("
    " objectID BIGINT NOT NULL,"
    " partNumber INT NOT NULL,"
    " etag CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " size BIGINT NOT NULL,"
    " fileHash VARCHAR(68) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
    " checksumAlg VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',"
    " checksum VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',"
    " updateTime BIGINT NOT NULL,"
    " PRIMARY KEY (objectID, partNumber),"
    " CONSTRAINT fk_s3part_object FOREIGN KEY (objectID) REFERENCES object (objectID)"
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
int meta_check_text(const char *what, const char *s, size_t max)
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

int meta_check_path(const char *path)
{
    return meta_check_text("object path", path, JCS_META_PATH_MAX);
}

/* JSON text that is an object with a non-empty string "type" (redundancy, storage). */
int meta_check_typed_json(const char *what, const char *s)
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
int meta_is_multipart(const char *redundancy)
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

int meta_check_blocks(const char *what, const jcs_meta_block *b, size_t n)
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

int meta_check_count(const char *what, const void *p, size_t n)
{
    if (n && !p)
        return jcs_err_set(JCS_EINVAL, "%s: missing", what);
    if (n > JCS_META_BATCH_MAX)
        return jcs_err_set(JCS_EINVAL, "%s: %zu items, more than %d in one call", what, n,
                           JCS_META_BATCH_MAX);
    return JCS_OK;
}

/* ---- small shared helpers -------------------------------------------------------------------- */

int meta_oom(void)
{
    return jcs_err_set(JCS_ENOMEM, "metadata: out of memory");
}

/* Grows *v (elements of elsize) to hold need; new room is zeroed. */
int meta_grow(void *vp, size_t *cap, size_t need, size_t elsize)
{
    void **v = vp;
    if (need <= *cap)
        return JCS_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = jcs_realloc(*v, nc * elsize);
    if (!p)
        return meta_oom();
    memset((char *)p + *cap * elsize, 0, (nc - *cap) * elsize);
    *v = p;
    *cap = nc;
    return JCS_OK;
}

int meta_query_rows(jcs_db_conn *c, const char *sql, const jcs_db_val *p, size_t np, size_t max,
                    void *list, size_t *n, size_t elsize, meta_row_fn from_row, void *ctx)
{
    void **v = list;
    jcs_db_result *r;
    int rc = query(c, sql, p, np, max, &r);
    if (rc)
        return rc;
    if (r->nrows && !(*v = jcs_calloc(r->nrows, elsize)))
        rc = meta_oom();
    for (size_t i = 0; rc == JCS_OK && i < r->nrows; i++)
        if ((rc = from_row(r, i, (char *)*v + i * elsize, ctx)) == JCS_OK)
            (*n)++;
    jcs_db_result_free(r);
    return rc;
}

/* Whether a row exists: sql takes one id and returns at most one row. */
int meta_exists(jcs_db_conn *c, const char *sql, int64_t id, int *yes)
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
int meta_need_bucket(jcs_db_conn *c, int64_t id)
{
    int yes;
    int rc = meta_exists(c, "SELECT bucketID FROM bucket WHERE bucketID = ? LOCK IN SHARE MODE", id,
                         &yes);
    if (rc)
        return rc;
    return yes ? JCS_OK : jcs_err_set(JCS_ENOENT, "bucket %lld not found", LL(id));
}

int meta_need_package(jcs_db_conn *c, int64_t id)
{
    int yes;
    int rc = meta_exists(c, "SELECT packageID FROM package WHERE packageID = ? LOCK IN SHARE MODE",
                         id, &yes);
    if (rc)
        return rc;
    return yes ? JCS_OK : jcs_err_set(JCS_ENOENT, "package %lld not found", LL(id));
}

int meta_need_space(jcs_db_conn *c, int64_t id, struct space_seen *seen)
{
    if (seen)
        for (size_t i = 0; i < seen->n; i++)
            if (seen->v[i] == id)
                return JCS_OK;
    int yes;
    int rc = meta_exists(
        c, "SELECT userSpaceID FROM userspace WHERE userSpaceID = ? LOCK IN SHARE MODE", id, &yes);
    if (rc)
        return rc;
    if (!yes)
        return jcs_err_set(JCS_ENOENT, "user space %lld not found", LL(id));
    if (seen) {
        if ((rc = meta_grow(&seen->v, &seen->cap, seen->n + 1, sizeof(int64_t))) != 0)
            return rc;
        seen->v[seen->n++] = id;
    }
    return JCS_OK;
}

/* Block rows per INSERT: a few prepared variants (1..BLOCK_ROWS rows) cover every width. */
#define BLOCK_ROWS 8

/*
 * Inserts the block rows BLOCK_ROWS at a time. The foreign key on userSpaceID checks (and
 * share-locks) each space as meta_need_space would, in the same statement: the separate
 * checks, one round trip per space, only run when an insert failed, to name the missing
 * space.
 */
int meta_insert_blocks(jcs_db_conn *c, int64_t object_id, const jcs_meta_block *b, size_t n,
                       struct space_seen *seen)
{
    static const char head[] =
        "INSERT INTO objectBlock (objectID, `index`, userSpaceID, fileHash, size) VALUES ";
    for (size_t off = 0; off < n; off += BLOCK_ROWS) {
        size_t k = n - off < BLOCK_ROWS ? n - off : BLOCK_ROWS;
        char sql[sizeof head + BLOCK_ROWS * sizeof "(?, ?, ?, ?, ?), "];
        size_t len = (size_t)snprintf(sql, sizeof sql, "%s", head);
        jcs_db_val p[BLOCK_ROWS * 5];
        for (size_t i = 0; i < k; i++) {
            const jcs_meta_block *x = &b[off + i];
            len +=
                (size_t)snprintf(sql + len, sizeof sql - len, "%s(?, ?, ?, ?, ?)", i ? ", " : "");
            p[i * 5] = JCS_DB_I(object_id);
            p[i * 5 + 1] = JCS_DB_I(x->index);
            p[i * 5 + 2] = JCS_DB_I(x->space_id);
            p[i * 5 + 3] = JCS_DB_S(x->file_hash);
            p[i * 5 + 4] = JCS_DB_I(x->size);
        }
        int rc = exec(c, sql, p, k * 5, NULL, NULL);
        if (rc == JCS_EDB) {
            /* Most likely a user space that does not exist: say which. */
            char why[512];
            snprintf(why, sizeof why, "%s", jcs_err_msg(rc));
            for (size_t i = 0; i < k; i++) {
                int src = meta_need_space(c, b[off + i].space_id, seen);
                if (src)
                    return src;
            }
            return jcs_err_set(rc, "%s", why);
        }
        if (rc)
            return rc;
    }
    return JCS_OK;
}

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_ids_clear(jcs_meta_ids *l)
{
    if (l)
        META_ROWS_FREE(l, META_NO_CLEAR);
}
