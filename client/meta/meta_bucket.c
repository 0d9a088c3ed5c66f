/*
 * meta_bucket.c - buckets (meta.h).
 */
#include "meta_int.h"

/* ---- buckets --------------------------------------------------------------------------------- */

#define BUCKET_COLS "bucketID, name, createTime"

static void bucket_from_row(jcs_db_result *r, size_t row, jcs_meta_bucket *b)
{
    b->bucket_id = cell_i(r, row, 0);
    b->name = cell_take(r, row, 1);
    b->create_ms = cell_i(r, row, 2);
    jcs_meta_time_format(b->create_ms, b->create_time);
}

static int bucket_row(jcs_db_result *r, size_t row, void *elem, void *ctx)
{
    bucket_from_row(r, row, elem);
    return JCS_OK;
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
    int rc = meta_check_text("bucket name", name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    struct bucket_arg a = {.name = name, .now = jcs_wall_ms()};
    if ((rc = jcs_db_txn(db, bucket_create_fn, &a)) != 0)
        return rc;
    if (out) {
        if (!(out->name = jcs_strdup(name)))
            return meta_oom();
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
    int rc = meta_check_text("bucket name", name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    struct bucket_arg a = {.name = name, .out = out};
    FINISH(jcs_db_with(db, bucket_get_fn, &a), jcs_meta_bucket_clear, out);
}

static int bucket_list_fn(jcs_db_conn *c, void *arg)
{
    struct bucket_arg *a = arg;
    jcs_meta_buckets_clear(a->list);
    return meta_query_rows(c, "SELECT " BUCKET_COLS " FROM bucket ORDER BY bucketID", NULL, 0,
                           JCS_META_ROWS_MAX, &a->list->v, &a->list->n, sizeof(*a->list->v),
                           bucket_row, NULL);
}

int jcs_meta_bucket_list(jcs_db *db, jcs_meta_buckets *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "bucket list: no output");
    memset(out, 0, sizeof(*out));
    struct bucket_arg a = {.list = out};
    FINISH(jcs_db_with(db, bucket_list_fn, &a), jcs_meta_buckets_clear, out);
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

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_bucket_clear(jcs_meta_bucket *b)
{
    if (!b)
        return;
    jcs_free(b->name);
    memset(b, 0, sizeof(*b));
}

void jcs_meta_buckets_clear(jcs_meta_buckets *l)
{
    if (l)
        META_ROWS_FREE(l, jcs_meta_bucket_clear);
}
