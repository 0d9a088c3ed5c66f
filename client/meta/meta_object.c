/*
 * meta_object.c - reading objects, and their blocks and pins (details) (meta.h).
 */
#include "meta_int.h"

/* ---- objects: reading ------------------------------------------------------------------------ */

int meta_object_from_row(jcs_db_result *r, size_t row, jcs_meta_object *o)
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
        return meta_oom();
    }
    return JCS_OK;
}

/* The object with this id into out (cleared first); lock: FOR UPDATE. JCS_ENOENT. */
int meta_load_object(jcs_db_conn *c, int64_t id, int lock, jcs_meta_object *out)
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
    rc = meta_object_from_row(r, 0, out);
    jcs_db_result_free(r);
    return rc;
}

/* The id of the object at (package, path), 0 when none; lock: FOR UPDATE. */
int meta_find_path(jcs_db_conn *c, int64_t package_id, const char *path, size_t len, int lock,
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
int meta_append_objects(jcs_db_result *r, jcs_meta_objects *l, size_t *cap)
{
    int rc = meta_grow(&l->v, cap, l->n + r->nrows, sizeof(*l->v));
    for (size_t i = 0; rc == JCS_OK && i < r->nrows; i++)
        if ((rc = meta_object_from_row(r, i, &l->v[l->n])) == JCS_OK)
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
    int no_pins; /* object_detail_fn: the blocks only */
};

static int object_get_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    return meta_load_object(c, a->id, 0, a->out);
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
        rc = meta_object_from_row(r, 0, a->out);
        jcs_db_result_free(r);
        return rc;
    }
    jcs_db_result_free(r);
    if ((rc = meta_need_package(c, a->package_id)) != 0)
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
    int rc = meta_check_path(path);
    if (rc)
        return rc;
    struct object_arg a = {.package_id = package_id, .path = path, .out = out};
    FINISH(jcs_db_txn(db, object_by_path_fn, &a), jcs_meta_object_clear, out);
}

static int list_by_ids_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    jcs_meta_objects *l = a->list;
    jcs_meta_objects_clear(l);
    if (a->n == 0)
        return JCS_OK;
    if (!(l->v = jcs_calloc(a->n, sizeof(*l->v))))
        return meta_oom();
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
            if ((rc = meta_object_from_row(r, row, &o)) != 0)
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
    int rc = meta_check_count("objectIDs", ids, n);
    if (rc)
        return rc;
    struct object_arg a = {.ids = ids, .n = n, .list = out};
    FINISH(jcs_db_txn(db, list_by_ids_fn, &a), jcs_meta_objects_clear, out);
}

static const char SQL_PAGE_BY_PATH[] = "SELECT " OBJ_COLS " FROM object o WHERE o.packageID = ? "
                                       "AND o.path > ? ORDER BY o.path LIMIT ?";

static int package_objects_fn(jcs_db_conn *c, void *arg)
{
    struct object_arg *a = arg;
    jcs_meta_objects *l = a->list;
    size_t cap = 0;
    jcs_meta_objects_clear(l);
    int rc = meta_need_package(c, a->package_id);
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
        rc = meta_append_objects(r, l, &cap);
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
    FINISH(jcs_db_txn(db, package_objects_fn, &a), jcs_meta_objects_clear, out);
}

/* ---- blocks and pins of objects ---------------------------------------------------------------*/

/*
 * Spreads block rows (objectID, index, userSpaceID, fileHash, size; ordered
 * by objectID) over details d[0..n) (ordered by object id).
 */
int meta_spread_blocks(jcs_db_result *r, jcs_meta_detail *d, size_t n)
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
            return meta_oom();
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
int meta_spread_pins(jcs_db_result *r, jcs_meta_detail *d, size_t n)
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
            return meta_oom();
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
    if ((rc = meta_object_from_row(r, 0, &d->object)) == 0 &&
        jcs_db_cell(r, 0, bc)->type != JCS_DB_NULL) {
        if (!(d->blocks = jcs_calloc(r->nrows, sizeof(*d->blocks))))
            rc = meta_oom();
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
    if (rc == 0 && a->no_pins)
        return JCS_OK;
    if (rc == 0)
        rc = query(c,
                   "SELECT objectID, userSpaceID FROM pinnedObject WHERE objectID = ? "
                   "ORDER BY userSpaceID",
                   &p, 1, JCS_META_ROWS_MAX, &r);
    if (rc == 0) {
        rc = meta_spread_pins(r, d, 1);
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

int jcs_meta_object_blocks(jcs_db *db, int64_t object_id, jcs_meta_detail *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "object blocks: no output");
    memset(out, 0, sizeof(*out));
    struct object_arg a = {.id = object_id, .detail = out, .no_pins = 1};
    FINISH(jcs_db_with(db, object_detail_fn, &a), jcs_meta_detail_clear, out);
}

/* ---- freeing --------------------------------------------------------------------------------- */

void jcs_meta_object_clear(jcs_meta_object *o)
{
    if (!o)
        return;
    jcs_free(o->path);
    jcs_free(o->redundancy);
    memset(o, 0, sizeof(*o));
}

void jcs_meta_objects_clear(jcs_meta_objects *l)
{
    if (l)
        META_ROWS_FREE(l, jcs_meta_object_clear);
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

void jcs_meta_details_clear(jcs_meta_details *l)
{
    if (l)
        META_ROWS_FREE(l, jcs_meta_detail_clear);
}
