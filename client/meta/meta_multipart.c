/*
 * meta_multipart.c - multipart uploads (an object of redundancy "segment" built from parts)
 * (meta.h).
 */
#include "meta_int.h"

/* ---- multipart uploads ----------------------------------------------------------------------- */

struct mp_arg {
    int64_t package_id, id, now;
    const char *path;
    const jcs_meta_block *part;
    jcs_db_txn_fn then; /* add_part: more statements of its transaction */
    void *then_arg;
    const int *indexes;
    size_t n;
    jcs_meta_object *out;
};

static int mp_new_fn(jcs_db_conn *c, void *arg)
{
    struct mp_arg *a = arg;
    size_t plen = strlen(a->path);
    int64_t id = 0;
    int rc = meta_need_package(c, a->package_id);
    if (rc == JCS_OK)
        rc = meta_find_path(c, a->package_id, a->path, plen, 1, &id);
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
    return a->out ? meta_load_object(c, (int64_t)nid, 0, a->out) : JCS_OK;
}

int jcs_meta_multipart_new(jcs_db *db, int64_t package_id, const char *path, jcs_meta_object *out)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = meta_check_path(path);
    if (rc)
        return rc;
    struct mp_arg a = {.package_id = package_id, .path = path, .now = jcs_wall_ms(), .out = out};
    FINISH(jcs_db_txn(db, mp_new_fn, &a), jcs_meta_object_clear, out);
}

/* Locks object id and checks that it is an open multipart upload. */
static int lock_multipart(jcs_db_conn *c, int64_t id)
{
    jcs_meta_object o = {0};
    int rc = meta_load_object(c, id, 1, &o);
    if (rc == JCS_OK && !meta_is_multipart(o.redundancy))
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
    if ((rc = meta_insert_blocks(c, a->id, a->part, 1, NULL)) != 0)
        return rc;
    return a->then ? a->then(c, a->then_arg) : 0;
}

int jcs_meta_multipart_add_part(jcs_db *db, int64_t object_id, const jcs_meta_block *part)
{
    return jcs_meta_multipart_add_part_then(db, object_id, part, NULL, NULL);
}

int jcs_meta_multipart_add_part_then(jcs_db *db, int64_t object_id, const jcs_meta_block *part,
                                     jcs_db_txn_fn then, void *then_arg)
{
    if (!part)
        return jcs_err_set(JCS_EINVAL, "object %lld: no part", LL(object_id));
    int rc = meta_check_blocks("part", part, 1);
    if (rc)
        return jcs_err_wrap(rc, "object %lld: ", LL(object_id));
    enum jcs_hash_kind kind;
    if ((rc = jcs_hash_parse(part->file_hash, &kind, NULL)) != 0)
        return rc;
    if (kind != JCS_HASH_FULL)
        return jcs_err_set(JCS_EINVAL, "object %lld: part %d has FileHash %s, not a Full one",
                           LL(object_id), part->index, part->file_hash);
    struct mp_arg a = {.id = object_id, .part = part, .then = then, .then_arg = then_arg};
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
        rc = meta_oom();
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
        rc = meta_load_object(c, a->id, 0, a->out);
out:
    jcs_db_result_free(r);
    jcs_free(digests);
    jcs_free(sizes);
    jcs_buf_clear(&red);
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
    int rc = meta_check_count("indexes", indexes, n);
    if (rc)
        return rc;
    if (n == 0)
        return jcs_err_set(JCS_EINVAL, "object %lld: no parts to complete with", LL(object_id));
    int *sorted = jcs_malloc(n * sizeof(int));
    if (!sorted)
        return meta_oom();
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
