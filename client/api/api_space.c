/*
 * REST handlers: user spaces (API.md "User spaces").
 *
 * A create body is checked whole before anything is stored: the storage is
 * rebuilt from the known fields only (an unknown field is refused, so a
 * typo never silently means "default"), a local space must name a hub the
 * coordinator knows and an absolute root, an S3 space an http(s) endpoint,
 * a bucket and both keys. Secrets are stored (the hubs need them) but never
 * returned or logged: replies go through the public view (meta.h).
 *
 * The test writes a probe shard through the space's hub, reads it back,
 * compares, and deletes it, so it exercises exactly the path uploads take.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "jobs.h"
#include "log.h"
#include "svc.h"
#include "util.h"

#define PROBE_SIZE 4096

static int known_fields(const json_t *o, const char *what, const char *const *fields)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        int ok = 0;
        for (size_t i = 0; fields[i] && !ok; i++)
            ok = strcmp(fields[i], key) == 0;
        if (!ok)
            return jcs_err_set(JCS_EINVAL, "%s.%s: unknown field", what, key);
    }
    return 0;
}

/* A required non-empty string member of storage. */
static int storage_str(const json_t *st, const char *field, int required, const char **out)
{
    char what[64];
    snprintf(what, sizeof what, "storage.%s", field);
    json_t *v = json_object_get(st, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return jcs_err_set(JCS_EINVAL, "field %s: required", what);
        return 0;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return jcs_err_set(JCS_EINVAL, "field %s: must be a string without NUL", what);
    if (required && json_string_length(v) == 0)
        return jcs_err_set(JCS_EINVAL, "field %s: must not be empty", what);
    *out = json_string_value(v);
    return 0;
}

/*
 * Checks a create body and builds the row to store: *storage (new JSON
 * text, caller frees) and *location. The hub of a local space must be
 * known to the coordinator (snap).
 */
static int parse_space(const json_t *b, jcs_topo_snap *snap, const char **name, char **storage,
                       int64_t *location)
{
    static const char *const top[] = {"name", "storage", "locationID", "userSpaceID", NULL};
    static const char *const local_f[] = {"type", "hubID", "root", NULL};
    static const char *const s3_f[] = {"type",      "endpoint",  "region",    "bucket", "prefix",
                                       "pathStyle", "accessKey", "secretKey", "hubID",  NULL};
    int rc;
    *storage = NULL;
    if ((rc = known_fields(b, "body", top)) || (rc = jcs_api_get_str(b, "name", 1, name)) ||
        (rc = jcs_api_check_name("field name", *name)))
        return rc;
    json_t *st = json_object_get(b, "storage");
    if (!json_is_object(st))
        return jcs_err_set(JCS_EINVAL, "field storage: required, an object with a \"type\"");
    const char *type;
    if ((rc = storage_str(st, "type", 1, &type)))
        return rc;
    json_t *loc = json_object_get(b, "locationID");
    *location = 0;
    if (loc && !json_is_null(loc)) {
        if (!json_is_integer(loc) || json_integer_value(loc) <= 0)
            return jcs_err_set(JCS_EINVAL, "field locationID: must be a positive integer");
        *location = json_integer_value(loc);
        size_t n;
        const jcs_topo_location *l = jcs_topo_snap_locations(snap, &n);
        int found = 0;
        for (size_t i = 0; i < n; i++)
            found |= l[i].id == *location;
        if (!found)
            return jcs_err_set(JCS_ENOENT, "location %lld not found", (long long)*location);
    }
    json_t *hubv = json_object_get(st, "hubID");
    int64_t hub_id = 0;
    if (hubv && !json_is_null(hubv)) {
        if (!json_is_integer(hubv) || json_integer_value(hubv) <= 0)
            return jcs_err_set(JCS_EINVAL, "field storage.hubID: must be a positive integer");
        hub_id = json_integer_value(hubv);
        const jcs_topo_hub *h = jcs_topo_snap_find(snap, hub_id);
        if (!h)
            return jcs_err_set(JCS_ENOENT, "hub %lld not found (see GET /v1/system/hubs)",
                               (long long)hub_id);
        if (*location == 0)
            *location = h->location_id;
    }
    json_t *out = NULL;
    if (strcmp(type, "local") == 0) {
        const char *root;
        if ((rc = known_fields(st, "storage", local_f)) || (rc = storage_str(st, "root", 1, &root)))
            return rc;
        if (hub_id == 0)
            return jcs_err_set(JCS_EINVAL, "field storage.hubID: required for a local space");
        char norm[JCS_META_PATH_MAX + 1];
        if (root[0] != '/')
            return jcs_err_set(JCS_EINVAL, "field storage.root: \"%s\" must be an absolute path",
                               root);
        if ((rc = jcs_api_norm_path("field storage.root", root + 1, 1, norm)))
            return rc;
        out = json_pack("{ss sI ss}", "type", "local", "hubID", (json_int_t)hub_id, "root", root);
    } else if (strcmp(type, "s3") == 0) {
        const char *endpoint, *region, *bucket, *prefix, *ak, *sk;
        if ((rc = known_fields(st, "storage", s3_f)) ||
            (rc = storage_str(st, "endpoint", 1, &endpoint)) ||
            (rc = storage_str(st, "region", 0, &region)) ||
            (rc = storage_str(st, "bucket", 1, &bucket)) ||
            (rc = storage_str(st, "prefix", 0, &prefix)) ||
            (rc = storage_str(st, "accessKey", 1, &ak)) ||
            (rc = storage_str(st, "secretKey", 1, &sk)))
            return rc;
        if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
            return jcs_err_set(JCS_EINVAL,
                               "field storage.endpoint: \"%s\" must start with http:// or https://",
                               endpoint);
        json_t *ps = json_object_get(st, "pathStyle");
        if (ps && !json_is_null(ps) && !json_is_boolean(ps))
            return jcs_err_set(JCS_EINVAL, "field storage.pathStyle: must be true or false");
        out = json_pack("{ss ss ss ss ss sb ss ss}", "type", "s3", "endpoint", endpoint, "region",
                        region && *region ? region : "us-east-1", "bucket", bucket, "prefix",
                        prefix ? prefix : "", "pathStyle", json_is_true(ps), "accessKey", ak,
                        "secretKey", sk);
        if (out && hub_id > 0 && json_object_set_new(out, "hubID", json_integer(hub_id)) != 0) {
            json_decref(out);
            out = NULL;
        }
    } else {
        return jcs_err_set(JCS_EINVAL, "field storage.type: \"%s\" is not \"local\" or \"s3\"",
                           type);
    }
    if (!out)
        return JCS_ENOMEM;
    *storage = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(out);
    return *storage ? 0 : JCS_ENOMEM;
}

static int space_create(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    json_t *b;
    const char *name;
    char *storage;
    int64_t loc;
    int rc = jcs_api_body(req, &b);
    if (rc)
        return rc;
    jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
    rc = parse_space(b, snap, &name, &storage, &loc);
    jcs_topo_snap_release(snap);
    if (rc)
        return rc;
    jcs_meta_space sp;
    rc = jcs_meta_space_create(svc->db, name, storage, loc, &sp);
    free(storage); /* from jansson's allocator */
    jcs_place_spaces_invalidate(svc);
    if (rc)
        return rc;
    jcs_info("user space %lld \"%s\" created (%s)", (long long)sp.space_id, sp.name,
             sp.storage_type);
    rc = jcs_api_reply_one(req, "userSpace", jcs_api_space_json(&sp));
    jcs_meta_space_clear(&sp);
    return rc;
}

static int space_list(jcs_http_req *req)
{
    jcs_meta_spaces l;
    int rc = jcs_meta_space_list(jcs_api_svc(req)->db, &l);
    if (rc)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < l.n; i++)
        a = jcs_api_push(a, jcs_api_space_json(&l.v[i]));
    jcs_meta_spaces_clear(&l);
    return jcs_api_reply_one(req, "userSpaces", a);
}

static int space_get(jcs_http_req *req)
{
    int64_t id;
    int rc;
    if ((rc = jcs_http_query_int(req, "userSpaceID", 1, 0, 1, INT64_MAX, &id)) != 0)
        return rc;
    jcs_meta_space sp;
    if ((rc = jcs_meta_space_get(jcs_api_svc(req)->db, id, &sp)) != 0)
        return rc;
    rc = jcs_api_reply_one(req, "userSpace", jcs_api_space_json(&sp));
    jcs_meta_space_clear(&sp);
    return rc;
}

/* ---- test ------------------------------------------------------------------------------------ */

typedef struct probe_src {
    const unsigned char *p;
    size_t n, off;
} probe_src;

static int probe_read(void *arg, void *buf, size_t cap, size_t *n)
{
    probe_src *s = arg;
    size_t k = s->n - s->off < cap ? s->n - s->off : cap;
    memcpy(buf, s->p + s->off, k);
    s->off += k;
    *n = k;
    return 0;
}

typedef struct probe_dst {
    unsigned char *p;
    size_t n, cap;
} probe_dst;

static int probe_write(void *arg, const void *data, size_t n)
{
    probe_dst *d = arg;
    if (n > d->cap - d->n)
        return jcs_err_set(JCS_ECORRUPT, "the probe read back is longer than written");
    memcpy(d->p + d->n, data, n);
    d->n += n;
    return 0;
}

/* Writes, reads back and deletes a probe on site; the message says what failed. */
static int probe(jcs_svc *svc, const jcs_site *site)
{
    unsigned char data[PROBE_SIZE], back[PROBE_SIZE];
    /* Random content, so the probe never collides with a real shard of the same hash. */
    char hex[65];
    int rc = jcs_random_hex(hex, 32);
    if (rc)
        return rc;
    for (size_t i = 0; i < PROBE_SIZE; i++)
        data[i] = (unsigned char)(hex[i % 64] ^ (i >> 6));
    if (!site->hub)
        return jcs_err_set(JCS_EUNAVAIL, "the hub serving this space is offline or unknown");
    jcs_redundancy none = {.type = JCS_RED_NONE};
    jcs_block blk;
    probe_src src = {.p = data, .n = sizeof data};
    jcs_driver_upload_req up = {
        .read = probe_read, .arg = &src, .red = &none, .targets = site, .ntargets = 1};
    jcs_driver_upload_res res = {.blocks = &blk};
    if ((rc = jcs_driver_upload(svc->driver, &up, &res)) != 0)
        return jcs_err_wrap(rc, "writing a probe: ");
    probe_dst dst = {.p = back, .cap = sizeof back};
    jcs_driver_download_req down = {
        .src = {.blocks = &blk, .sites = site, .nblocks = 1, .red = &none, .object_size = res.size},
        .length = -1,
        .write = probe_write,
        .arg = &dst};
    rc = jcs_driver_download(svc->driver, &down);
    if (rc)
        rc = jcs_err_wrap(rc, "reading the probe back: ");
    else if (dst.n != sizeof data || memcmp(back, data, sizeof data) != 0)
        rc = jcs_err_set(JCS_ECORRUPT, "the probe read back differs from what was written");
    const char *h = blk.file_hash;
    int drc = jcs_driver_delete_shards(svc->driver, site, &h, 1, NULL);
    if (rc == 0 && drc)
        rc = jcs_err_wrap(drc, "deleting the probe: ");
    return rc;
}

static int space_test(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    json_t *b;
    int rc = jcs_api_body(req, &b);
    if (rc)
        return rc;
    jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
    jcs_place_sites sites = {0};
    if (json_object_get(b, "userSpaceID")) {
        int64_t id;
        if ((rc = jcs_api_get_id(b, "userSpaceID", &id)) == 0)
            rc = jcs_place_sites_for(svc, snap, &id, 1, &sites);
    } else {
        /* A space not created yet: build its site from the body. */
        const char *name;
        char *storage = NULL;
        int64_t loc;
        if ((rc = parse_space(b, snap, &name, &storage, &loc)) == 0) {
            jcs_meta_space sp = {.space_id = 0, .storage = storage, .location_id = loc};
            rc = jcs_place_sites_from_rows(snap, &sp, 1, &sites);
        }
        free(storage);
    }
    jcs_topo_snap_release(snap);
    if (rc)
        return rc;
    int64_t t0 = jcs_now_us();
    rc = probe(svc, &sites.sites[0]);
    double ms = (double)(jcs_now_us() - t0) / 1000.0;
    jcs_place_sites_clear(&sites);
    json_t *d = json_pack("{sb ss sf}", "ok", rc == 0, "message", rc ? jcs_err_msg(rc) : "",
                          "latencyMs", ms);
    if (!d)
        return JCS_ENOMEM;
    return jcs_http_reply_ok(req, d);
}

static int space_delete(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    json_t *b;
    int64_t id;
    int migrate, rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "userSpaceID", &id)) ||
        (rc = jcs_api_get_bool(b, "migrate", 0, &migrate)))
        return rc;
    jcs_meta_space sp;
    if ((rc = jcs_meta_space_get(svc->db, id, &sp)) != 0)
        return rc;
    int64_t blocks = sp.block_count;
    jcs_meta_space_clear(&sp);
    if (migrate && blocks > 0) {
        /* Nothing new may land there while its blocks move away. */
        if ((rc = jcs_meta_space_set_state(svc->db, id, "migrating")) != 0)
            return rc;
        jcs_place_spaces_invalidate(svc);
        rc = jcs_jobs_migrate_space(svc->jobs, id);
        if (rc) {
            if (jcs_meta_space_set_state(svc->db, id, "normal") != 0)
                jcs_warn("user space %lld: could not set it back to normal after a failed "
                         "migration",
                         (long long)id);
            jcs_place_spaces_invalidate(svc);
            return jcs_err_wrap(rc, "migrating user space %lld: ", (long long)id);
        }
    }
    rc = jcs_meta_space_delete(svc->db, id);
    jcs_place_spaces_invalidate(svc);
    if (rc == JCS_EBUSY) {
        /* The hint goes after the detail (a copy: jcs_err_set overwrites the buffer). */
        char why[512];
        snprintf(why, sizeof why, "%s", jcs_err_msg(rc));
        return jcs_err_set(rc, "%s, or pass \"migrate\": true to have them moved", why);
    }
    if (rc)
        return rc;
    jcs_info("user space %lld deleted", (long long)id);
    return jcs_http_reply_ok(req, NULL);
}

#define GET(p, f)                                                                                  \
    {                                                                                              \
        .method = "GET", .path = p, .body = JCS_HTTP_BODY_NONE, .handle = f                        \
    }
#define POST(p, f)                                                                                 \
    {                                                                                              \
        .method = "POST", .path = p, .body = JCS_HTTP_BODY_JSON, .handle = f                       \
    }

const jcs_http_route jcs_api_space_routes[] = {
    POST("/v1/userspace/create", space_create), GET("/v1/userspace/list", space_list),
    GET("/v1/userspace/get", space_get),        POST("/v1/userspace/test", space_test),
    POST("/v1/userspace/delete", space_delete),
};
const size_t jcs_api_space_nroutes = sizeof jcs_api_space_routes / sizeof jcs_api_space_routes[0];
