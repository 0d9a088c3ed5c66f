#include "svc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

/* The user-space cache is reloaded after this long even without a change here (another
 * jcs process sharing the database may have changed it). */
#define SPACES_TTL_MS 3000

jcs_svc *jcs_api_svc(const jcs_http_req *req)
{
    return jcs_http_req_arg(req);
}

/* ---- request checks ------------------------------------------------------------------------ */

int jcs_api_body(const jcs_http_req *req, json_t **out)
{
    json_t *b = jcs_http_req_json(req);
    if (!b || !json_is_object(b))
        return jcs_err_set(JCS_EINVAL, "request body must be a JSON object");
    *out = b;
    return 0;
}

int jcs_api_get_id(const json_t *o, const char *field, int64_t *out)
{
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v))
        return jcs_err_set(JCS_EINVAL, "field %s: required", field);
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return jcs_err_set(JCS_EINVAL, "field %s: must be a positive integer", field);
    *out = json_integer_value(v);
    return 0;
}

int jcs_api_get_str(const json_t *o, const char *field, int required, const char **out)
{
    json_t *v = json_object_get(o, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return jcs_err_set(JCS_EINVAL, "field %s: required", field);
        return 0;
    }
    if (!json_is_string(v))
        return jcs_err_set(JCS_EINVAL, "field %s: must be a string", field);
    /* jansson allows NUL inside strings; no name or path may hold one. */
    if (strlen(json_string_value(v)) != json_string_length(v))
        return jcs_err_set(JCS_EINVAL, "field %s: contains a NUL character", field);
    *out = json_string_value(v);
    return 0;
}

int jcs_api_get_bool(const json_t *o, const char *field, int def, int *out)
{
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return jcs_err_set(JCS_EINVAL, "field %s: must be true or false", field);
    *out = json_is_true(v);
    return 0;
}

int jcs_api_get_ids(const json_t *o, const char *field, jcs_meta_ids *out)
{
    memset(out, 0, sizeof *out);
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v))
        return jcs_err_set(JCS_EINVAL, "field %s: required", field);
    if (!json_is_array(v))
        return jcs_err_set(JCS_EINVAL, "field %s: must be an array of ids", field);
    size_t n = json_array_size(v);
    if (n > JCS_META_BATCH_MAX)
        return jcs_err_set(JCS_EINVAL, "field %s: %zu ids, at most %d in one request", field, n,
                           JCS_META_BATCH_MAX);
    if (n == 0)
        return 0;
    out->v = jcs_calloc(n, sizeof *out->v);
    if (!out->v)
        return JCS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) <= 0) {
            jcs_meta_ids_free(out);
            return jcs_err_set(JCS_EINVAL, "field %s[%zu]: must be a positive integer", field, i);
        }
        out->v[i] = json_integer_value(e);
    }
    out->n = n;
    return 0;
}

/* Length of the UTF-8 sequence at s (1..4), or 0 when it is not well-formed. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        min = 0x80;
        c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        min = 0x800;
        c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return n;
}

/* UTF-8 with no control character (C0, DEL, C1). */
static int check_text(const char *what, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len(p + i, len - i);
        if (n == 0)
            return jcs_err_set(JCS_EINVAL, "%s: not valid UTF-8 at byte %zu", what, i);
        if ((n == 1 && (p[i] < 0x20 || p[i] == 0x7F)) ||
            (n == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0))
            return jcs_err_set(JCS_EINVAL, "%s: control character at byte %zu", what, i);
        i += n;
    }
    return 0;
}

int jcs_api_check_name(const char *what, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0)
        return jcs_err_set(JCS_EINVAL, "%s: must not be empty", what);
    if (len > JCS_META_NAME_MAX)
        return jcs_err_set(JCS_EINVAL, "%s: %zu bytes, at most %d", what, len, JCS_META_NAME_MAX);
    if (strchr(s, '/'))
        return jcs_err_set(JCS_EINVAL, "%s: \"%s\" must not contain '/'", what, s);
    return check_text(what, s, len);
}

int jcs_api_norm_path(const char *what, const char *in, int allow_dir,
                      char out[JCS_META_PATH_MAX + 1])
{
    size_t len = in ? strlen(in) : 0;
    out[0] = '\0';
    if (len == 0) {
        if (allow_dir)
            return 0;
        return jcs_err_set(JCS_EINVAL, "%s: must not be empty", what);
    }
    if (len > JCS_META_PATH_MAX)
        return jcs_err_set(JCS_EINVAL, "%s: %zu bytes, at most %d", what, len, JCS_META_PATH_MAX);
    for (size_t i = 0; i <= len; i++)
        out[i] = in[i] == '\\' ? '/' : in[i];
    int rc = check_text(what, out, len);
    if (rc)
        return rc;
    /* Walk the segments; with allow_dir the last one may be empty (a trailing '/'). */
    const char *seg = out;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        int last = slash == NULL;
        if (n == 0 && !(last && allow_dir))
            return jcs_err_set(JCS_EINVAL, "%s: \"%s\" has an empty segment", what, out);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return jcs_err_set(JCS_EINVAL, "%s: \"%s\" has a \"%.*s\" segment", what, out, (int)n,
                               seg);
        if (last)
            break;
        seg = slash + 1;
    }
    return 0;
}

int jcs_api_get_redundancy(const json_t *o, const char *field, jcs_redundancy *out, int *given)
{
    *given = 0;
    json_t *v = o ? json_object_get(o, field) : NULL;
    if (!v || json_is_null(v))
        return 0;
    int rc = jcs_client_redundancy_parse(v, field, out);
    if (rc)
        return rc;
    *given = 1;
    return 0;
}

int jcs_api_reply_one(jcs_http_req *req, const char *key, json_t *v)
{
    if (!v)
        return JCS_ENOMEM;
    json_t *d = json_object();
    if (!d || json_object_set_new(d, key, v) != 0) {
        json_decref(d);
        return JCS_ENOMEM;
    }
    return jcs_http_reply_ok(req, d);
}

json_t *jcs_api_push(json_t *a, json_t *v)
{
    if (!a) {
        json_decref(v);
        return NULL;
    }
    /* json_array_append_new releases v itself when it fails. */
    if (!v || json_array_append_new(a, v) != 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* ---- JSON shapes ----------------------------------------------------------------------------- */

json_t *jcs_api_bucket_json(const jcs_meta_bucket *b)
{
    return json_pack("{sI ss ss}", "bucketID", (json_int_t)b->bucket_id, "name", b->name,
                     "createTime", b->create_time);
}

/* A stored JSON text as a value; malformed text (never written by this service) becomes null. */
static json_t *json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

json_t *jcs_api_package_json(const jcs_meta_package *p)
{
    return json_pack("{sI sI ss ss so}", "packageID", (json_int_t)p->package_id, "bucketID",
                     (json_int_t)p->bucket_id, "name", p->name, "createTime", p->create_time,
                     "redundancy", json_text(p->redundancy));
}

json_t *jcs_api_object_json(const jcs_meta_object *o)
{
    if (o->object_id == 0)
        return json_null();
    char size[24];
    snprintf(size, sizeof size, "%lld", (long long)o->size);
    return json_pack("{sI sI ss ss ss so ss ss}", "objectID", (json_int_t)o->object_id, "packageID",
                     (json_int_t)o->package_id, "path", o->path, "size", size, "fileHash",
                     o->file_hash, "redundancy", json_text(o->redundancy), "createTime",
                     o->create_time, "updateTime", o->update_time);
}

json_t *jcs_api_objects_json(const jcs_meta_objects *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        a = jcs_api_push(a, jcs_api_object_json(&l->v[i]));
    return a;
}

json_t *jcs_api_space_json(const jcs_meta_space *s)
{
    return json_pack("{sI ss so sI sI ss ss sI sI}", "userSpaceID", (json_int_t)s->space_id, "name",
                     s->name, "storage", json_text(s->storage), "locationID",
                     (json_int_t)s->location_id, "hubID", (json_int_t)s->hub_id, "state", s->state,
                     "createTime", s->create_time, "usedBytes", (json_int_t)s->used_bytes,
                     "blockCount", (json_int_t)s->block_count);
}

/* ---- user-space cache ------------------------------------------------------------------------ */

static int spaces_copy(const jcs_meta_spaces *from, jcs_meta_spaces *to)
{
    memset(to, 0, sizeof *to);
    if (from->n == 0)
        return 0;
    to->v = jcs_calloc(from->n, sizeof *to->v);
    if (!to->v)
        return JCS_ENOMEM;
    for (size_t i = 0; i < from->n; i++) {
        const jcs_meta_space *f = &from->v[i];
        jcs_meta_space *t = &to->v[to->n++];
        *t = *f;
        t->name = jcs_strdup(f->name);
        t->storage_type = jcs_strdup(f->storage_type);
        t->storage = jcs_strdup(f->storage);
        t->state = jcs_strdup(f->state);
        if (!t->name || !t->storage_type || !t->storage || !t->state) {
            jcs_meta_spaces_free(to);
            return JCS_ENOMEM;
        }
    }
    return 0;
}

int jcs_svc_spaces(jcs_svc *svc, jcs_meta_spaces *out)
{
    pthread_mutex_lock(&svc->spaces_mu);
    int rc = 0;
    if (svc->spaces_at_ms == 0 || jcs_now_ms() - svc->spaces_at_ms > SPACES_TTL_MS) {
        jcs_meta_spaces fresh;
        rc = jcs_meta_space_list_private(svc->db, &fresh);
        if (rc == 0) {
            jcs_meta_spaces_free(&svc->spaces);
            svc->spaces = fresh;
            svc->spaces_at_ms = jcs_now_ms();
        }
    }
    if (rc == 0)
        rc = spaces_copy(&svc->spaces, out);
    pthread_mutex_unlock(&svc->spaces_mu);
    return rc;
}

void jcs_svc_spaces_invalidate(jcs_svc *svc)
{
    pthread_mutex_lock(&svc->spaces_mu);
    svc->spaces_at_ms = 0;
    pthread_mutex_unlock(&svc->spaces_mu);
}

/* ---- sites ----------------------------------------------------------------------------------- */

void jcs_svc_sites_free(jcs_svc_sites *s)
{
    for (size_t i = 0; s->v && i < s->n; i++)
        for (size_t j = 0; j < sizeof s->v[i].strs / sizeof s->v[i].strs[0]; j++)
            jcs_free(s->v[i].strs[j]);
    jcs_free(s->v);
    jcs_free(s->sites);
    memset(s, 0, sizeof *s);
}

size_t jcs_svc_red_width(const jcs_redundancy *r)
{
    switch (r->type) {
    case JCS_RED_REP:
        return (size_t)r->rep_count;
    case JCS_RED_EC:
        return (size_t)r->n;
    default:
        return 1;
    }
}

/* A string member of the storage JSON copied into the site (NULL when absent; "" kept). */
static int site_str(jcs_svc_site *st, int slot, json_t *storage, const char *field, char **dst)
{
    json_t *v = json_object_get(storage, field);
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    st->strs[slot] = jcs_strdup(s);
    if (!st->strs[slot])
        return JCS_ENOMEM;
    *dst = st->strs[slot];
    return 0;
}

/* The online hub nearest the client, preferring location loc (0: any). 0 when none. */
static int64_t nearest_hub(jcs_topo_snap *snap, int64_t loc)
{
    size_t n;
    const jcs_topo_hub *h = jcs_topo_snap_hubs(snap, &n);
    int64_t best = 0;
    double bd = INFINITY;
    for (int pass = 0; pass < 2 && best == 0; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (!h[i].online || (pass == 0 && (loc == 0 || h[i].location_id != loc)))
                continue;
            if (best == 0 || h[i].distance < bd) {
                best = h[i].id;
                bd = h[i].distance;
            }
        }
    }
    return best;
}

/* Fills st from a private space row. */
static int site_fill(jcs_topo_snap *snap, const jcs_meta_space *sp, jcs_svc_site *st)
{
    memset(st, 0, sizeof *st);
    Jcs__Plan__Space s0 = JCS__PLAN__SPACE__INIT;
    Jcs__Plan__Worker w0 = JCS__PLAN__WORKER__INIT;
    st->space = s0;
    st->hub = w0;
    st->space_id = sp->space_id;
    st->location_id = sp->location_id;
    st->latency_ms = -1;
    json_t *storage = json_loads(sp->storage, 0, NULL);
    if (!storage)
        return jcs_err_set(JCS_EINVAL, "user space %lld: its storage JSON is malformed",
                           (long long)sp->space_id);
    int rc = 0;
    st->space.space_id = sp->space_id;
    if ((rc = site_str(st, 0, storage, "type", &st->space.type)) ||
        (rc = site_str(st, 1, storage, "root", &st->space.root)) ||
        (rc = site_str(st, 2, storage, "endpoint", &st->space.endpoint)) ||
        (rc = site_str(st, 3, storage, "region", &st->space.region)) ||
        (rc = site_str(st, 4, storage, "bucket", &st->space.bucket)) ||
        (rc = site_str(st, 5, storage, "prefix", &st->space.prefix)) ||
        (rc = site_str(st, 6, storage, "accessKey", &st->space.access_key)) ||
        (rc = site_str(st, 7, storage, "secretKey", &st->space.secret_key))) {
        json_decref(storage);
        return rc;
    }
    st->space.path_style = json_is_true(json_object_get(storage, "pathStyle"));
    json_t *hub = json_object_get(storage, "hubID");
    int64_t hub_id = json_is_integer(hub) ? json_integer_value(hub) : 0;
    json_decref(storage);
    if (hub_id <= 0 && strcmp(st->space.type, "local") != 0)
        hub_id = nearest_hub(snap, sp->location_id);
    st->hub_id = hub_id;
    const jcs_topo_hub *h = hub_id > 0 ? jcs_topo_snap_find(snap, hub_id) : NULL;
    if (h) {
        st->hub.hub_id = h->id;
        st->latency_ms = h->latency_ms;
    }
    return 0;
}

/* Turns the filled v[] into the driver's site array; a site whose hub is offline or unknown
 * is unreachable. */
static int sites_finish(jcs_topo_snap *snap, jcs_svc_sites *out)
{
    out->sites = jcs_calloc(out->n ? out->n : 1, sizeof *out->sites);
    if (!out->sites)
        return JCS_ENOMEM;
    for (size_t i = 0; i < out->n; i++) {
        jcs_svc_site *st = &out->v[i];
        const jcs_topo_hub *h = st->hub_id > 0 ? jcs_topo_snap_find(snap, st->hub_id) : NULL;
        out->sites[i].space = &st->space;
        out->sites[i].hub = NULL;
        out->sites[i].distance = JCS_TOPO_UNREACHABLE;
        if (h && h->online) {
            /* A copy: the snapshot goes away before the sites do. */
            st->strs[8] = jcs_strdup(h->address);
            if (!st->strs[8])
                return JCS_ENOMEM;
            st->hub.address = st->strs[8];
            out->sites[i].hub = &st->hub;
            out->sites[i].distance = h->distance;
        } else {
            st->hub.address = NULL;
        }
    }
    return 0;
}

int jcs_svc_sites_from_rows(jcs_topo_snap *snap, const jcs_meta_space *rows, size_t n,
                            jcs_svc_sites *out)
{
    memset(out, 0, sizeof *out);
    out->v = jcs_calloc(n ? n : 1, sizeof *out->v);
    if (!out->v)
        return JCS_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = site_fill(snap, &rows[i], &out->v[i]);
        out->n = i + 1;
    }
    if (rc == 0)
        rc = sites_finish(snap, out);
    if (rc)
        jcs_svc_sites_free(out);
    return rc;
}

int jcs_svc_sites_for(jcs_svc *svc, jcs_topo_snap *snap, const int64_t *space_ids, size_t n,
                      jcs_svc_sites *out)
{
    memset(out, 0, sizeof *out);
    jcs_meta_spaces all;
    int rc = jcs_svc_spaces(svc, &all);
    if (rc)
        return rc;
    out->v = jcs_calloc(n ? n : 1, sizeof *out->v);
    if (!out->v) {
        jcs_meta_spaces_free(&all);
        return JCS_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const jcs_meta_space *sp = NULL;
        for (size_t j = 0; j < all.n && !sp; j++)
            if (all.v[j].space_id == space_ids[i])
                sp = &all.v[j];
        if (!sp) {
            rc = jcs_err_set(JCS_ENOENT, "user space %lld not found", (long long)space_ids[i]);
            break;
        }
        rc = site_fill(snap, sp, &out->v[i]);
        out->n = i + 1;
    }
    if (rc == 0)
        rc = sites_finish(snap, out);
    jcs_meta_spaces_free(&all);
    if (rc)
        jcs_svc_sites_free(out);
    return rc;
}

void jcs_svc_cand(const jcs_meta_space *row, const jcs_svc_sites *sites, size_t i,
                  jcs_jobplan_cand *out)
{
    out->space_id = row->space_id;
    out->location_id = row->location_id;
    out->distance = sites->sites[i].distance;
    out->latency_ms = sites->v[i].latency_ms;
    out->usable = sites->sites[i].hub != NULL && strcmp(row->state, "normal") == 0;
}

int jcs_svc_place(jcs_svc *svc, jcs_topo_snap *snap, size_t count, int64_t affinity,
                  jcs_svc_sites *out)
{
    memset(out, 0, sizeof *out);
    jcs_meta_spaces all;
    int rc = jcs_svc_spaces(svc, &all);
    if (rc)
        return rc;
    jcs_svc_sites sites = {0};
    jcs_jobplan_cand *c = jcs_calloc(all.n ? all.n : 1, sizeof *c);
    int64_t *ids = jcs_calloc(count ? count : 1, sizeof *ids);
    jcs_meta_space *picked = jcs_calloc(count ? count : 1, sizeof *picked);
    if (!c || !ids || !picked) {
        rc = JCS_ENOMEM;
        goto out;
    }
    /* Every space resolved once, unusable ones (offline hub, unreadable row) included. */
    if ((rc = jcs_svc_sites_from_rows(snap, all.v, all.n, &sites)) != 0)
        goto out;
    size_t usable = 0;
    int affinity_ok = affinity == 0;
    for (size_t i = 0; i < all.n; i++) {
        jcs_svc_cand(&all.v[i], &sites, i, &c[i]);
        c[i].usable &= isfinite(c[i].distance);
        usable += c[i].usable;
        affinity_ok |= c[i].usable && all.v[i].space_id == affinity;
    }
    if (!affinity_ok) {
        rc = jcs_err_set(JCS_EINVAL,
                         "affinity: user space %lld does not exist, is not in state normal or its "
                         "hub is offline",
                         (long long)affinity);
        goto out;
    }
    if (usable < count) {
        rc = jcs_err_set(JCS_EUNAVAIL,
                         "the redundancy needs %zu user spaces on online hubs but only %zu are "
                         "usable (%zu configured): add spaces or start their hubs",
                         count, usable, all.n);
        goto out;
    }
    /* The affinity space first, then the jobs' order: distance, latency, one per location. */
    if ((rc = jcs_jobplan_choose(c, all.n, count, NULL, 0, NULL, 0, &affinity, affinity != 0,
                                 ids)) != 0)
        goto out;
    for (size_t k = 0; k < count; k++)
        for (size_t i = 0; i < all.n; i++)
            if (all.v[i].space_id == ids[k])
                picked[k] = all.v[i];
    rc = jcs_svc_sites_from_rows(snap, picked, count, out);
out:
    jcs_svc_sites_free(&sites);
    jcs_free(c);
    jcs_free(ids);
    jcs_free(picked); /* shallow copies of rows in all */
    jcs_meta_spaces_free(&all);
    return rc;
}
