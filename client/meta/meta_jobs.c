/*
 * meta_jobs.c - the queries of the background jobs (hashes by space, objects page by page)
 * (meta.h).
 */
#include "meta_int.h"

/* ---- for the background jobs ----------------------------------------------------------------- */

struct job_arg {
    int64_t space_id, after_id;
    const char *after;
    size_t limit;
    jcs_meta_hashes *hashes;
    jcs_meta_details *details;
};

static int hash_row(jcs_db_result *r, size_t row, void *elem, void *ctx)
{
    char *h = elem;
    cell_copy(r, row, 0, h, JCS_HASH_SIZE);
    return JCS_OK;
}

static int space_hashes_fn(jcs_db_conn *c, void *arg)
{
    struct job_arg *a = arg;
    jcs_meta_hashes *h = a->hashes;
    jcs_meta_hashes_clear(h);
    int rc = meta_need_space(c, a->space_id, NULL);
    if (rc)
        return rc;
    jcs_db_val p[3] = {JCS_DB_I(a->space_id), JCS_DB_S(a->after), JCS_DB_I(a->limit)};
    return meta_query_rows(
        c,
        "SELECT DISTINCT fileHash FROM objectBlock WHERE userSpaceID = ? AND fileHash > ? "
        "ORDER BY fileHash LIMIT ?",
        p, 3, a->limit, &h->v, &h->n, sizeof(*h->v), hash_row, NULL);
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
    FINISH(jcs_db_txn(db, space_hashes_fn, &a), jcs_meta_hashes_clear, out);
}

static int pinned_hashes_fn(jcs_db_conn *c, void *arg)
{
    struct job_arg *a = arg;
    jcs_meta_hashes *h = a->hashes;
    jcs_meta_hashes_clear(h);
    int rc = meta_need_space(c, a->space_id, NULL);
    if (rc)
        return rc;
    jcs_db_val p = JCS_DB_I(a->space_id);
    return meta_query_rows(
        c,
        "SELECT DISTINCT o.fileHash FROM pinnedObject q JOIN object o ON o.objectID = "
        "q.objectID WHERE q.userSpaceID = ? AND o.fileHash <> '' ORDER BY o.fileHash",
        &p, 1, JCS_META_ROWS_MAX, &h->v, &h->n, sizeof(*h->v), hash_row, NULL);
}

int jcs_meta_space_pinned_hashes(jcs_db *db, int64_t space_id, jcs_meta_hashes *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "pinned hashes: no output");
    memset(out, 0, sizeof(*out));
    struct job_arg a = {.space_id = space_id, .hashes = out};
    FINISH(jcs_db_with(db, pinned_hashes_fn, &a), jcs_meta_hashes_clear, out);
}

static int objects_page_fn(jcs_db_conn *c, void *arg)
{
    struct job_arg *a = arg;
    jcs_meta_details *l = a->details;
    jcs_db_result *r;
    jcs_meta_details_clear(l);
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
        rc = meta_oom();
    for (size_t i = 0; rc == JCS_OK && i < r->nrows; i++)
        if ((rc = meta_object_from_row(r, i, &l->v[i].object)) == JCS_OK)
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
    rc = meta_spread_blocks(r, l->v, l->n);
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
    rc = meta_spread_pins(r, l->v, l->n);
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
        jcs_meta_details_clear(out);
    return rc;
}

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_hashes_clear(jcs_meta_hashes *l)
{
    if (l)
        META_ROWS_FREE(l, META_NO_CLEAR);
}
