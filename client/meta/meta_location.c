/*
 * meta_location.c - locations, the mirror of the coordinator's (meta.h).
 */
#include "meta_int.h"

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
    int rc = meta_check_text("location name", name, JCS_META_NAME_MAX);
    if (rc)
        return rc;
    if (id <= 0)
        return jcs_err_set(JCS_EINVAL, "location id %lld is not positive", LL(id));
    struct loc_arg a = {.id = id, .name = name};
    return jcs_db_txn(db, location_upsert_fn, &a);
}

static int location_row(jcs_db_result *r, size_t row, void *elem, void *ctx)
{
    jcs_meta_location *l = elem;
    l->location_id = cell_i(r, row, 0);
    l->name = cell_take(r, row, 1);
    return JCS_OK;
}

static int location_list_fn(jcs_db_conn *c, void *arg)
{
    struct loc_arg *a = arg;
    jcs_meta_locations_clear(a->out);
    return meta_query_rows(c, "SELECT locationID, name FROM location ORDER BY locationID", NULL, 0,
                           JCS_META_ROWS_MAX, &a->out->v, &a->out->n, sizeof(*a->out->v),
                           location_row, NULL);
}

int jcs_meta_location_list(jcs_db *db, jcs_meta_locations *out)
{
    if (!out)
        return jcs_err_set(JCS_EINVAL, "location list: no output");
    memset(out, 0, sizeof(*out));
    struct loc_arg a = {.out = out};
    FINISH(jcs_db_with(db, location_list_fn, &a), jcs_meta_locations_clear, out);
}

/* ---- freeing --------------------------------------------------------------------------------- */

static void location_clear(jcs_meta_location *l)
{
    jcs_free(l->name);
}

void jcs_meta_locations_clear(jcs_meta_locations *l)
{
    if (l)
        META_ROWS_FREE(l, location_clear);
}
