/*
 * meta_package.c - packages (create, get, list, delete, clone, where their bytes are) (meta.h).
 */
#include "meta_int.h"

#include <pthread.h>

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
    int rc = meta_need_bucket(c, a->bucket_id);
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
    int rc = meta_check_text("package name", name, JCS_META_NAME_MAX);
    if (rc == JCS_OK && redundancy)
        rc = meta_check_typed_json("package redundancy", redundancy);
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

/* ---- the upload path's package cache (meta.h) ------------------------------------------------ */

struct jcs_meta_pkg_cache {
    pthread_mutex_t mu;
    jcs_meta_package rows[JCS_META_PKG_CACHE_MAX];
    size_t n, next; /* rows held; the slot replaced next when full */
};

int jcs_meta_pkg_cache_new(jcs_meta_pkg_cache **out)
{
    jcs_meta_pkg_cache *c = jcs_calloc(1, sizeof(*c));
    if (!c)
        return meta_oom();
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return JCS_OK;
}

void jcs_meta_pkg_cache_free(jcs_meta_pkg_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        jcs_meta_package_clear(&c->rows[i]);
    pthread_mutex_destroy(&c->mu);
    jcs_free(c);
}

static int package_copy(const jcs_meta_package *from, jcs_meta_package *to)
{
    *to = *from;
    to->name = jcs_strdup(from->name ? from->name : "");
    to->redundancy = from->redundancy ? jcs_strdup(from->redundancy) : NULL;
    if (!to->name || (from->redundancy && !to->redundancy)) {
        jcs_meta_package_clear(to);
        return meta_oom();
    }
    return JCS_OK;
}

int jcs_meta_package_get_cached(jcs_meta_pkg_cache *cache, jcs_db *db, int64_t package_id,
                                jcs_meta_package *out)
{
    if (!cache)
        return jcs_meta_package_get(db, package_id, out);
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package get: no output");
    memset(out, 0, sizeof(*out));
    int rc = JCS_ENOENT;
    pthread_mutex_lock(&cache->mu);
    for (size_t i = 0; i < cache->n; i++)
        if (cache->rows[i].package_id == package_id) {
            rc = package_copy(&cache->rows[i], out);
            break;
        }
    pthread_mutex_unlock(&cache->mu);
    if (rc != JCS_ENOENT)
        return rc;
    if ((rc = jcs_meta_package_get(db, package_id, out)) != 0)
        return rc; /* a missing package is not remembered */
    jcs_meta_package copy;
    if (package_copy(out, &copy) != 0)
        return JCS_OK; /* served, just not remembered */
    pthread_mutex_lock(&cache->mu);
    int held = 0;
    for (size_t i = 0; i < cache->n && !held; i++)
        held = cache->rows[i].package_id == package_id; /* another request was first */
    if (held) {
        jcs_meta_package_clear(&copy);
    } else if (cache->n < JCS_META_PKG_CACHE_MAX) {
        cache->rows[cache->n++] = copy;
    } else {
        jcs_meta_package_clear(&cache->rows[cache->next]);
        cache->rows[cache->next] = copy;
        cache->next = (cache->next + 1) % JCS_META_PKG_CACHE_MAX;
    }
    pthread_mutex_unlock(&cache->mu);
    return JCS_OK;
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
    int rc = meta_check_text("bucket name", bucket_name, JCS_META_NAME_MAX);
    if (rc == JCS_OK)
        rc = meta_check_text("package name", package_name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    struct package_arg a = {.bucket_name = bucket_name, .name = package_name, .out = out};
    FINISH(jcs_db_txn(db, package_by_name_fn, &a), jcs_meta_package_clear, out);
}

static int package_row(jcs_db_result *r, size_t row, void *elem, void *ctx)
{
    package_from_row(r, row, elem);
    return JCS_OK;
}

static int package_list_fn(jcs_db_conn *c, void *arg)
{
    struct package_arg *a = arg;
    jcs_meta_packages_clear(a->list);
    int rc = meta_need_bucket(c, a->bucket_id);
    if (rc)
        return rc;
    jcs_db_val p = JCS_DB_I(a->bucket_id);
    return meta_query_rows(
        c, "SELECT " PACKAGE_COLS " FROM package p WHERE p.bucketID = ? ORDER BY p.packageID", &p,
        1, JCS_META_ROWS_MAX, &a->list->v, &a->list->n, sizeof(*a->list->v), package_row, NULL);
}

int jcs_meta_package_list(jcs_db *db, int64_t bucket_id, jcs_meta_packages *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "package list: no output");
    memset(out, 0, sizeof(*out));
    struct package_arg a = {.bucket_id = bucket_id, .list = out};
    FINISH(jcs_db_txn(db, package_list_fn, &a), jcs_meta_packages_clear, out);
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
        rc = meta_need_bucket(c, a->bucket_id);
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
    int rc = meta_check_text("package name", name, JCS_META_NAME_MAX);
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
    jcs_meta_space_shares_clear(s);
    int rc = meta_need_package(c, a->id);
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
        return meta_oom();
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
    FINISH(jcs_db_txn(db, package_spaces_fn, &a), jcs_meta_space_shares_clear, out);
}

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_package_clear(jcs_meta_package *p)
{
    if (!p)
        return;
    jcs_free(p->name);
    jcs_free(p->redundancy);
    memset(p, 0, sizeof(*p));
}

void jcs_meta_packages_clear(jcs_meta_packages *l)
{
    if (l)
        META_ROWS_FREE(l, jcs_meta_package_clear);
}

void jcs_meta_space_shares_clear(jcs_meta_space_shares *l)
{
    if (!l)
        return;
    jcs_free(l->v);
    memset(l, 0, sizeof(*l));
}
