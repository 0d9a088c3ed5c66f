/*
 * client/api/svc.c - what every REST handler shares (svc.h): request
 * checks, names and paths, the JSON shapes of API.md.
 */
#include "svc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

/* The user-space cache is reloaded after this long even without a change here (another
 * jcs process sharing the database may have changed it). */

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
            jcs_meta_ids_clear(out);
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
    /* "." and ".." would name the current or parent directory wherever a name becomes a path
     * segment (jcsctl's BUCKET/PACKAGE, an export, a mount). */
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return jcs_err_set(JCS_EINVAL, "%s: \"%s\" is not a name ('.' and '..' are reserved)", what,
                           s);
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
    int rc = jcs_client_config_redundancy_parse(v, field, out);
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
