/*
 * Names on the server (ctl.h): BUCKET/PACKAGE/PATH to ids, spaces and hubs
 * by name or id, object listings across continuation tokens.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ctl.h"

int64_t ctl_int(const json_t *o, const char *key, int64_t def)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return def;
}

const char *ctl_str(const json_t *o, const char *key, const char *def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

int64_t ctl_obj_size(const json_t *obj)
{
    const json_t *v = json_object_get(obj, "size");
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    return strtoll(s, NULL, 10);
}

int ctl_ref_split(const char *spec, ctl_ref *r)
{
    memset(r, 0, sizeof *r);
    while (*spec == '/')
        spec++;
    const char *s1 = strchr(spec, '/');
    if (!s1 || s1 == spec || s1[1] == '/' || s1[1] == '\0')
        return ctl_usage("\"%s\": name it as BUCKET/PACKAGE or BUCKET/PACKAGE/PATH", spec);
    const char *pk = s1 + 1;
    const char *s2 = strchr(pk, '/');
    r->bucket = jcs_strndup(spec, (size_t)(s1 - spec));
    r->package = s2 ? jcs_strndup(pk, (size_t)(s2 - pk)) : jcs_strdup(pk);
    r->path = jcs_strdup(s2 ? s2 + 1 : "");
    if (!r->bucket || !r->package || !r->path) {
        ctl_ref_free(r);
        return JCS_ENOMEM;
    }
    return 0;
}

void ctl_ref_free(ctl_ref *r)
{
    jcs_free(r->bucket);
    jcs_free(r->package);
    jcs_free(r->path);
    memset(r, 0, sizeof *r);
}

int ctl_bucket_id(ctl *c, const char *name, int64_t *id)
{
    const char *kv[] = {"name", name, NULL};
    json_t *d;
    int rc = ctl_get(c, "/v1/bucket/getByName", kv, &d);
    if (rc == JCS_ENOENT)
        return jcs_err_set(
            JCS_ENOENT, "bucket \"%s\" does not exist (jcsctl bucket ls lists the buckets)", name);
    if (rc)
        return rc;
    *id = ctl_int(json_object_get(d, "bucket"), "bucketID", 0);
    json_decref(d);
    return 0;
}

int ctl_ref_resolve(ctl *c, const char *spec, ctl_ref *r)
{
    int rc = ctl_ref_split(spec, r);
    if (rc)
        return rc;
    const char *kv[] = {"bucketName", r->bucket, "packageName", r->package, NULL};
    json_t *d;
    rc = ctl_get(c, "/v1/package/getByFullName", kv, &d);
    if (rc == JCS_ENOENT) {
        int64_t bid;
        rc = ctl_bucket_id(c, r->bucket, &bid);
        if (rc == 0)
            rc = jcs_err_set(JCS_ENOENT,
                             "package \"%s\" does not exist in bucket \"%s\" (jcsctl package ls "
                             "%s lists its packages)",
                             r->package, r->bucket, r->bucket);
    }
    if (rc) {
        ctl_ref_free(r);
        return rc;
    }
    json_t *p = json_object_get(d, "package");
    r->package_id = ctl_int(p, "packageID", 0);
    r->bucket_id = ctl_int(p, "bucketID", 0);
    json_decref(d);
    return 0;
}

/* Appends every element of b to a. */
static int extend(json_t *a, const json_t *b)
{
    if (json_is_array(b) && json_array_extend(a, (json_t *)b) != 0)
        return JCS_ENOMEM;
    return 0;
}

int ctl_list(ctl *c, int64_t pkg, const char *path, int is_prefix, int no_recursive,
             json_t **objects, json_t **prefixes)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)pkg);
    json_t *objs = json_array(), *pres = json_array();
    char *token = NULL;
    int rc = objs && pres ? 0 : JCS_ENOMEM;
    while (!rc) {
        const char *kv[] = {"packageID",
                            id,
                            "path",
                            path,
                            "isPrefix",
                            is_prefix ? "true" : "false",
                            "noRecursive",
                            no_recursive ? "true" : "false",
                            "maxKeys",
                            "1000",
                            token ? "continuationToken" : NULL,
                            token,
                            NULL};
        json_t *d;
        if ((rc = ctl_get(c, "/v1/object/listByPath", kv, &d)))
            break;
        rc = extend(objs, json_object_get(d, "objects"));
        if (!rc)
            rc = extend(pres, json_object_get(d, "commonPrefixes"));
        const char *next = ctl_str(d, "nextContinuationToken", NULL);
        jcs_free(token);
        token = next && *next ? jcs_strdup(next) : NULL;
        if (next && *next && !token)
            rc = JCS_ENOMEM;
        json_decref(d);
        if (!token)
            break;
    }
    jcs_free(token);
    if (rc) {
        json_decref(objs);
        json_decref(pres);
        return rc;
    }
    *objects = objs;
    if (prefixes)
        *prefixes = pres;
    else
        json_decref(pres);
    return 0;
}

int ctl_find_object(ctl *c, const ctl_ref *r, json_t **obj)
{
    if (r->path[0] == '\0' || r->path[strlen(r->path) - 1] == '/')
        return ctl_usage("%s/%s/%s names no object (a path is needed, without a trailing /)",
                         r->bucket, r->package, r->path);
    json_t *objs;
    int rc = ctl_list(c, r->package_id, r->path, 0, 0, &objs, NULL);
    if (rc)
        return rc;
    if (json_array_size(objs) > 0) {
        *obj = json_incref(json_array_get(objs, 0));
        json_decref(objs);
        return 0;
    }
    json_decref(objs);
    char *pre = ctl_join(r->path, "");
    if (!pre)
        return JCS_ENOMEM;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)r->package_id);
    const char *kv[] = {"packageID",   id,     "path",    pre, "isPrefix", "true",
                        "noRecursive", "true", "maxKeys", "1", NULL};
    json_t *d = NULL;
    rc = ctl_get(c, "/v1/object/listByPath", kv, &d);
    jcs_free(pre);
    int is_dir = rc == 0 && (json_array_size(json_object_get(d, "objects")) > 0 ||
                             json_array_size(json_object_get(d, "commonPrefixes")) > 0);
    json_decref(d);
    if (is_dir)
        return jcs_err_set(JCS_ENOENT, "%s/%s/%s is a directory (a prefix of objects); add -r",
                           r->bucket, r->package, r->path);
    return jcs_err_set(JCS_ENOENT,
                       "object \"%s\" does not exist in %s/%s (jcsctl ls %s/%s lists them)",
                       r->path, r->bucket, r->package, r->bucket, r->package);
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* An id by number, or the one element of list[key] whose "name" is s. */
static int id_by_name(ctl *c, const char *s, const char *path, const char *key, const char *idkey,
                      const char *what, const char *hint, int64_t *id)
{
    if (all_digits(s))
        return ctl_parse_id(what, s, id);
    json_t *d;
    int rc = ctl_get(c, path, NULL, &d);
    if (rc)
        return rc;
    json_t *a = json_object_get(d, key), *e;
    size_t i;
    *id = 0;
    json_array_foreach(a, i, e) if (strcmp(ctl_str(e, "name", ""), s) == 0) *id =
        ctl_int(e, idkey, 0);
    json_decref(d);
    if (!*id)
        return jcs_err_set(JCS_ENOENT, "%s \"%s\" does not exist (%s lists them)", what, s, hint);
    return 0;
}

int ctl_space_id(ctl *c, const char *s, int64_t *id)
{
    return id_by_name(c, s, "/v1/userspace/list", "userSpaces", "userSpaceID", "user space",
                      "jcsctl space ls", id);
}

int ctl_hub_id(ctl *c, const char *s, int64_t *id)
{
    return id_by_name(c, s, "/v1/system/hubs", "hubs", "hubID", "hub", "jcsctl hub ls", id);
}
