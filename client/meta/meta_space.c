/*
 * meta_space.c - user spaces (storage JSON with secrets kept out of the public view) (meta.h).
 */
#include "meta_int.h"

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
            rc = meta_oom();
    } else {
        rc = jcs_buf_append(&b, "{}", 2);
    }
    json_decref(j);
    if (rc == JCS_OK && !b.data)
        rc = jcs_buf_append(&b, "{}", 2);
    if (rc) {
        jcs_buf_clear(&b);
        return rc;
    }
    *out = jcs_buf_steal(&b);
    return JCS_OK;
}

/*
 * The rows alone, usage -1: what placement's cache reads every few seconds. The usage below
 * scans every block row (DISTINCT over objectBlock), 22 ms of MariaDB at 11,000 blocks and
 * growing with them, and the cache's refresh holds the lock every upload's placement waits
 * for.
 */
#define SPACE_SELECT_ROWS                                                                          \
    "SELECT s.userSpaceID, s.name, s.storageType, s.storage, s.locationID, s.hubID, s.state, "     \
    "s.createTime, -1, -1 FROM userspace s"

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
    int rc = meta_check_text("user space name", name, JCS_META_NAME_MAX);
    if (rc == JCS_OK)
        rc = meta_check_typed_json("storage", storage);
    if (rc == JCS_OK && strlen(storage) > STORAGE_MAX)
        rc = jcs_err_set(JCS_EINVAL, "storage: more than %d bytes", STORAGE_MAX);
    if (rc == JCS_OK && location_id < 0)
        rc =
            jcs_err_set(JCS_EINVAL, "user space \"%.*s\": location %lld", Q(name), LL(location_id));
    if (rc)
        return rc;
    json_t *j = json_loads(storage, 0, NULL);
    if (!j)
        return meta_oom();
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

static int space_row(jcs_db_result *r, size_t row, void *elem, void *ctx)
{
    const struct space_arg *a = ctx;
    return space_from_row(r, row, a->with_secrets, elem);
}

static int space_list_fn(jcs_db_conn *c, void *arg)
{
    struct space_arg *a = arg;
    jcs_meta_spaces_clear(a->list);
    /* The private list builds plans (placement's cache): it needs no usage. */
    const char *sql = a->with_secrets ? SPACE_SELECT_ROWS " ORDER BY s.userSpaceID"
                                      : SPACE_SELECT " ORDER BY s.userSpaceID";
    return meta_query_rows(c, sql, NULL, 0, JCS_META_ROWS_MAX, &a->list->v, &a->list->n,
                           sizeof(*a->list->v), space_row, a);
}

static int space_list(jcs_db *db, int with_secrets, jcs_meta_spaces *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "user space list: no output");
    memset(out, 0, sizeof(*out));
    struct space_arg a = {.with_secrets = with_secrets, .list = out};
    int rc = jcs_db_with(db, space_list_fn, &a);
    if (rc)
        jcs_meta_spaces_clear(out);
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
    int rc = meta_exists(c, "SELECT userSpaceID FROM userspace WHERE userSpaceID = ? FOR UPDATE",
                         a->id, &yes);
    if (rc)
        return rc;
    if (!yes)
        return jcs_err_set(JCS_ENOENT, "user space %lld not found", LL(a->id));
    jcs_db_val p[2] = {JCS_DB_S(a->state), JCS_DB_I(a->id)};
    return exec(c, "UPDATE userspace SET state = ? WHERE userSpaceID = ?", p, 2, NULL, NULL);
}

static int space_storage_fn(jcs_db_conn *c, void *arg)
{
    struct space_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_S(a->storage), JCS_DB_I(a->id)};
    return exec(c, "UPDATE userspace SET storage = ? WHERE userSpaceID = ?", p, 2, NULL, NULL);
}

int jcs_meta_space_set_storage(jcs_db *db, int64_t space_id, const char *storage)
{
    int rc = meta_check_typed_json("storage", storage);
    if (rc == JCS_OK && strlen(storage) > STORAGE_MAX)
        rc = jcs_err_set(JCS_EINVAL, "storage: more than %d bytes", STORAGE_MAX);
    if (rc)
        return rc;
    struct space_arg a = {.id = space_id, .storage = storage};
    return jcs_db_txn(db, space_storage_fn, &a);
}

int jcs_meta_space_set_state(jcs_db *db, int64_t space_id, const char *state)
{
    int rc = meta_check_text("user space state", state, STATE_MAX);
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
    int rc = meta_exists(c, "SELECT userSpaceID FROM userspace WHERE userSpaceID = ? FOR UPDATE",
                         a->id, &yes);
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

/* ---- freeing --------------------------------------------------------------------------------- */

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

void jcs_meta_spaces_clear(jcs_meta_spaces *l)
{
    if (l)
        META_ROWS_FREE(l, jcs_meta_space_clear);
}
