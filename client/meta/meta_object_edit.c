/*
 * meta_object_edit.c - changing objects: upload commits, moves, clones, deletes, info updates,
 * redundancy changes, pins (meta.h).
 */
#include "meta_int.h"

/* ---- upload commit --------------------------------------------------------------------------- */

struct upload_arg {
    int64_t package_id;
    const jcs_meta_upload *items;
    const jcs_meta_upload **order; /* items by path: rows are locked in one global order */
    size_t n;
    int64_t now;
    jcs_meta_objects *out;
    jcs_meta_upload_then_fn then;
    void *then_arg;
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

/*
 * The object at (package, path) in a plain (consistent, lock-free) read, with the package's
 * existence in the same statement: *id 0 when the path is free, JCS_ENOENT when the package
 * does not exist. The lock on the package is taken by the foreign key check of the INSERT
 * (a share lock, as LOCK IN SHARE MODE would take); a replaced object is locked FOR UPDATE,
 * which a concurrent delete of its package waits for.
 */
static int find_in_package(jcs_db_conn *c, int64_t package_id, const char *path, size_t plen,
                           int64_t *id, int64_t *create_ms)
{
    jcs_db_result *r;
    jcs_db_val p[2] = {JCS_DB_B(path, plen), JCS_DB_I(package_id)};
    int rc = query(c,
                   "SELECT p.packageID, o.objectID, o.createTime FROM package p LEFT JOIN object o "
                   "ON o.packageID = p.packageID AND o.path = ? WHERE p.packageID = ?",
                   p, 2, 1, &r);
    if (rc)
        return rc;
    if (r->nrows == 0) {
        jcs_db_result_free(r);
        return jcs_err_set(JCS_ENOENT, "package %lld not found", LL(package_id));
    }
    *id = jcs_db_cell(r, 0, 1)->type == JCS_DB_NULL ? 0 : cell_i(r, 0, 1);
    *create_ms = *id ? cell_i(r, 0, 2) : 0;
    jcs_db_result_free(r);
    return JCS_OK;
}

/* The id and createTime of the object at (package, path) locked FOR UPDATE; *id 0 if none. */
static int lock_path(jcs_db_conn *c, int64_t package_id, const char *path, size_t plen, int64_t *id,
                     int64_t *create_ms)
{
    jcs_db_result *r;
    jcs_db_val p[2] = {JCS_DB_I(package_id), JCS_DB_B(path, plen)};
    int rc = query(c,
                   "SELECT objectID, createTime FROM object WHERE packageID = ? AND path = ? "
                   "FOR UPDATE",
                   p, 2, 1, &r);
    if (rc)
        return rc;
    *id = r->nrows ? cell_i(r, 0, 0) : 0;
    *create_ms = r->nrows ? cell_i(r, 0, 1) : 0;
    jcs_db_result_free(r);
    return JCS_OK;
}

/* The row just written, from what was written (no read back). */
static int written_object(const struct upload_arg *a, const jcs_meta_upload *it, int64_t id,
                          int64_t create_ms, jcs_meta_object *o)
{
    jcs_meta_object_clear(o);
    o->object_id = id;
    o->package_id = a->package_id;
    o->size = it->size;
    snprintf(o->file_hash, sizeof o->file_hash, "%s", it->file_hash);
    o->create_ms = create_ms;
    o->update_ms = a->now;
    jcs_meta_time_format(o->create_ms, o->create_time);
    jcs_meta_time_format(o->update_ms, o->update_time);
    o->path = jcs_strdup(it->path);
    o->redundancy = jcs_strdup(it->redundancy);
    if (!o->path || !o->redundancy) {
        jcs_meta_object_clear(o);
        return meta_oom();
    }
    return JCS_OK;
}

static int upload_fn(jcs_db_conn *c, void *arg)
{
    struct upload_arg *a = arg;
    a->seen.n = 0;
    if (a->out) {
        jcs_meta_objects_clear(a->out);
        if (!(a->out->v = jcs_calloc(a->n, sizeof(*a->out->v))))
            return meta_oom();
        a->out->n = a->n;
    }
    int rc = JCS_OK;
    for (size_t k = 0; rc == JCS_OK && k < a->n; k++) {
        const jcs_meta_upload *it = a->order[k];
        size_t i = (size_t)(it - a->items);
        size_t plen = strlen(it->path);
        /*
         * A plain (consistent, lock-free) read first. A path that holds an object is then
         * locked by its record (FOR UPDATE on an existing unique key takes no gap lock) and
         * replaced; a new path is inserted without any locking read before it. A locking
         * read of a path that does not exist takes a gap lock, and two uploads into one
         * package whose gap locks overlap deadlock on their inserts (seen with 16
         * concurrent uploads); inserting first and locking on a duplicate instead makes
         * two re-uploads of one path deadlock upgrading their shared locks.
         */
        int64_t id = 0, create_ms = a->now;
        if ((rc = find_in_package(c, a->package_id, it->path, plen, &id, &create_ms)) != 0)
            break;
        if (id != 0 && (rc = lock_path(c, a->package_id, it->path, plen, &id, &create_ms)) != 0)
            break;
        if (id == 0) {
            create_ms = a->now;
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
                rc = lock_path(c, a->package_id, it->path, plen, &id, &create_ms);
                if (rc == JCS_OK && id == 0)
                    rc = jcs_err_set(JCS_EBUSY,
                                     "object \"%.*s\" in package %lld: concurrent "
                                     "change, try again",
                                     Q(it->path), LL(a->package_id));
                if (rc == JCS_OK)
                    rc = replace_object(c, a, id, it);
            } else if (rc == JCS_EDB) {
                /* The foreign key: the package went away since the read above. */
                char why[512];
                snprintf(why, sizeof why, "%s", jcs_err_msg(rc));
                int prc = meta_need_package(c, a->package_id);
                rc = prc ? prc : jcs_err_set(rc, "%s", why);
            }
        } else {
            rc = replace_object(c, a, id, it);
        }
        if (rc == JCS_OK)
            rc = meta_insert_blocks(c, id, it->blocks, it->nblocks, &a->seen);
        if (rc == JCS_OK && a->out)
            rc = written_object(a, it, id, create_ms, &a->out->v[i]);
        if (rc)
            jcs_err_wrap(rc, "object \"%.*s\": ", Q(it->path));
    }
    if (rc == JCS_OK && a->then)
        rc = a->then(c, a->out, a->then_arg);
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
    return jcs_meta_upload_commit_then(db, package_id, items, n, out, NULL, NULL);
}

int jcs_meta_upload_commit_then(jcs_db *db, int64_t package_id, const jcs_meta_upload *items,
                                size_t n, jcs_meta_objects *out, jcs_meta_upload_then_fn then,
                                void *then_arg)
{
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = meta_check_count("upload", items, n);
    for (size_t i = 0; rc == JCS_OK && i < n; i++) {
        const jcs_meta_upload *it = &items[i];
        if ((rc = meta_check_path(it->path)) != 0)
            break;
        if (it->size < 0 || !it->file_hash || !jcs_hash_valid(it->file_hash))
            rc = jcs_err_set(JCS_EINVAL, "object \"%.*s\": size %lld or FileHash \"%.80s\" invalid",
                             Q(it->path), LL(it->size), it->file_hash ? it->file_hash : "");
        if (rc == JCS_OK)
            rc = meta_check_typed_json("redundancy", it->redundancy);
        if (rc == JCS_OK)
            rc = meta_check_blocks("blocks", it->blocks, it->nblocks);
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
        return meta_oom();
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
                           .out = out,
                           .then = then,
                           .then_arg = then_arg};
    rc = jcs_db_txn(db, upload_fn, &a);
    jcs_free(a.seen.v);
    jcs_free(order);
    if (rc && out)
        jcs_meta_objects_clear(out);
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
        rc = meta_exists(c, "SELECT objectID FROM object WHERE objectID = ? FOR UPDATE",
                         a->m[i].object_id, &yes);
        if (rc == JCS_OK && yes) {
            a->found[i] = 1;
            rc = meta_need_package(c, a->m[i].package_id);
        }
    }
    /* A destination may be held only by an object that this call moves away. */
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++) {
        if (!a->found[i])
            continue;
        int64_t holder = 0;
        rc = meta_find_path(c, a->m[i].package_id, a->m[i].path, strlen(a->m[i].path), 1, &holder);
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
    int rc = meta_check_count("movings", m, n);
    for (size_t i = 0; rc == JCS_OK && i < n; i++)
        rc = meta_check_path(m[i].path);
    if (rc || n == 0)
        return rc;
    struct dest_ref *d = jcs_calloc(n, sizeof(*d));
    if (!d)
        return meta_oom();
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
        return meta_oom();
    }
    rc = jcs_db_txn(db, move_fn, &a);
    jcs_free(a.found);
    if (rc == JCS_OK && successes)
        *successes = succ;
    else
        jcs_meta_ids_clear(&succ);
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
    jcs_meta_objects_clear(a->out);
    if (!(a->out->v = jcs_calloc(a->n, sizeof(*a->out->v))))
        return meta_oom();
    a->out->n = a->n;
    int rc = JCS_OK;
    for (size_t i = 0; rc == JCS_OK && i < a->n; i++) {
        const jcs_meta_cloning *x = &a->cl[i];
        jcs_meta_object src = {0};
        rc = meta_load_object(c, x->object_id, 0, &src);
        if (rc == JCS_ENOENT) {
            jcs_err_clear();
            rc = JCS_OK;
            continue;
        }
        if (rc == JCS_OK && meta_is_multipart(src.redundancy))
            rc = jcs_err_set(JCS_EINVAL, "object %lld is an unfinished multipart upload",
                             LL(x->object_id));
        jcs_meta_object_clear(&src);
        if (rc == JCS_OK)
            rc = meta_need_package(c, x->package_id);
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
            rc = meta_load_object(c, (int64_t)id, 0, &a->out->v[i]);
    }
    return rc;
}

int jcs_meta_object_clone(jcs_db *db, const jcs_meta_cloning *cl, size_t n, jcs_meta_objects *out)
{
    jcs_meta_objects mine = {0};
    if (out)
        memset(out, 0, sizeof(*out));
    int rc = meta_check_count("clonings", cl, n);
    for (size_t i = 0; rc == JCS_OK && i < n; i++)
        rc = meta_check_path(cl[i].path);
    if (rc || n == 0)
        return rc;
    struct clone_arg a = {.cl = cl, .n = n, .now = jcs_wall_ms(), .out = out ? out : &mine};
    rc = jcs_db_txn(db, clone_fn, &a);
    jcs_meta_objects_clear(&mine);
    if (rc && out)
        jcs_meta_objects_clear(out);
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
    int rc = meta_check_count("objectIDs", ids, n);
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
    if ((rc = meta_need_package(c, a->package_id)) != 0)
        return rc;
    return jcs_err_set(JCS_ENOENT, "object \"%.*s\" not found in package %lld", Q(a->path),
                       LL(a->package_id));
}

int jcs_meta_object_delete_by_path(jcs_db *db, int64_t package_id, const char *path)
{
    int rc = meta_check_path(path);
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
        int rc = meta_exists(c, "SELECT objectID FROM object WHERE objectID = ? FOR UPDATE",
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
    int rc = meta_check_count("updatings", u, n);
    if (rc || n == 0)
        return rc;
    jcs_meta_ids succ = {.v = jcs_calloc(n, sizeof(int64_t))};
    if (!succ.v)
        return meta_oom();
    struct update_arg a = {.u = u, .n = n, .succ = &succ};
    rc = jcs_db_txn(db, update_info_fn, &a);
    if (rc == JCS_OK && successes)
        *successes = succ;
    else
        jcs_meta_ids_clear(&succ);
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
    int rc = meta_load_object(c, a->id, 1, &cur);
    if (rc)
        return rc;
    if (meta_is_multipart(cur.redundancy))
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
    if ((rc = meta_insert_blocks(c, a->id, a->blocks, a->nblocks, &a->seen)) != 0)
        return rc;
    if ((rc = exec(c, "UPDATE object SET redundancy = ? WHERE objectID = ?", p, 2, NULL, NULL)) !=
        0)
        return rc;
    return a->out ? meta_load_object(c, a->id, 0, a->out) : JCS_OK;
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
    int rc = meta_check_typed_json("redundancy", redundancy);
    if (rc == JCS_OK && nblocks == 0)
        rc = jcs_err_set(JCS_EINVAL, "change redundancy of object %lld: no blocks", LL(object_id));
    if (rc == JCS_OK)
        rc = meta_check_blocks("change redundancy", blocks, nblocks);
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
    int rc = meta_exists(c, "SELECT objectID FROM object WHERE objectID = ? LOCK IN SHARE MODE",
                         a->object_id, &yes);
    if (rc)
        return rc;
    if (!yes)
        return jcs_err_set(JCS_ENOENT, "object %lld not found", LL(a->object_id));
    if ((rc = meta_need_space(c, a->space_id, NULL)) != 0)
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
