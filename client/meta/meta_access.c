/*
 * meta_access.c - access statistics (added in batches, aged daily) and their read-out (meta.h).
 */
#include "meta_int.h"

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
    jcs_buf_clear(&b);
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
                return meta_oom();
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
    int rc = meta_check_count("access entries", e, n);
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

static int stat_row(jcs_db_result *r, size_t row, void *elem, void *ctx)
{
    jcs_meta_stat *s = elem;
    s->space_id = cell_i(r, row, 0);
    s->counter = cell_d(r, row, 1);
    s->amount = cell_d(r, row, 2);
    return JCS_OK;
}

static int stats_fn(jcs_db_conn *c, void *arg)
{
    struct access_arg *a = arg;
    jcs_db_val p = JCS_DB_I(a->id);
    jcs_meta_stats_clear(a->out);
    return meta_query_rows(
        c,
        a->package ? "SELECT userSpaceID, counter, amount FROM packageAccessStat "
                     "WHERE packageID = ? ORDER BY userSpaceID"
                   : "SELECT userSpaceID, counter, amount FROM objectAccessStat "
                     "WHERE objectID = ? ORDER BY userSpaceID",
        &p, 1, JCS_META_ROWS_MAX, &a->out->v, &a->out->n, sizeof(*a->out->v), stat_row, NULL);
}

int jcs_meta_object_stats(jcs_db *db, int64_t object_id, jcs_meta_stats *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "object stats: no output");
    memset(out, 0, sizeof(*out));
    struct access_arg a = {.id = object_id, .out = out};
    FINISH(jcs_db_with(db, stats_fn, &a), jcs_meta_stats_clear, out);
}

int jcs_meta_package_stats(jcs_db *db, int64_t package_id, jcs_meta_stats *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package stats: no output");
    memset(out, 0, sizeof(*out));
    struct access_arg a = {.id = package_id, .package = 1, .out = out};
    FINISH(jcs_db_with(db, stats_fn, &a), jcs_meta_stats_clear, out);
}

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_stats_clear(jcs_meta_stats *l)
{
    if (l)
        META_ROWS_FREE(l, META_NO_CLEAR);
}
