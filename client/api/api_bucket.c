/*
 * REST handlers: buckets and packages (API.md "Buckets", "Packages").
 */
#include <string.h>

#include "alloc.h"
#include "svc.h"

/* ---- buckets --------------------------------------------------------------------------------- */

static int bucket_create(jcs_http_req *req)
{
    json_t *b;
    const char *name;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_str(b, "name", 1, &name)) ||
        (rc = jcs_api_check_name("field name", name)))
        return rc;
    jcs_meta_bucket bk;
    if ((rc = jcs_meta_bucket_create(jcs_api_svc(req)->db, name, &bk)) != 0)
        return rc;
    rc = jcs_api_reply_one(req, "bucket", jcs_api_bucket_json(&bk));
    jcs_meta_bucket_clear(&bk);
    return rc;
}

static int bucket_get_by_name(jcs_http_req *req)
{
    const char *name;
    int rc;
    if ((rc = jcs_http_query(req, "name", &name)) ||
        (rc = jcs_api_check_name("query parameter name", name)))
        return rc == JCS_ENOENT ? jcs_err_set(JCS_EINVAL, "query parameter name is required") : rc;
    jcs_meta_bucket bk;
    if ((rc = jcs_meta_bucket_get_by_name(jcs_api_svc(req)->db, name, &bk)) != 0)
        return rc;
    rc = jcs_api_reply_one(req, "bucket", jcs_api_bucket_json(&bk));
    jcs_meta_bucket_clear(&bk);
    return rc;
}

static int bucket_list(jcs_http_req *req)
{
    jcs_meta_buckets l;
    int rc = jcs_meta_bucket_list(jcs_api_svc(req)->db, &l);
    if (rc)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < l.n; i++)
        a = jcs_api_push(a, jcs_api_bucket_json(&l.v[i]));
    jcs_meta_buckets_clear(&l);
    return jcs_api_reply_one(req, "buckets", a);
}

static int bucket_delete(jcs_http_req *req)
{
    json_t *b;
    int64_t id;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "bucketID", &id)))
        return rc;
    if ((rc = jcs_meta_bucket_delete(jcs_api_svc(req)->db, id)) != 0)
        return rc;
    return jcs_http_reply_ok(req, NULL);
}

/* ---- packages -------------------------------------------------------------------------------- */

static int package_reply(jcs_http_req *req, jcs_meta_package *p)
{
    int rc = jcs_api_reply_one(req, "package", jcs_api_package_json(p));
    jcs_meta_package_clear(p);
    return rc;
}

static int package_create(jcs_http_req *req)
{
    json_t *b;
    const char *name;
    int64_t bucket;
    jcs_redundancy red;
    int given, rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "bucketID", &bucket)) ||
        (rc = jcs_api_get_str(b, "name", 1, &name)) ||
        (rc = jcs_api_check_name("field name", name)) ||
        (rc = jcs_api_get_redundancy(b, "redundancy", &red, &given)))
        return rc;
    char *red_json = NULL;
    if (given && !(red_json = jcs_client_config_redundancy_json(&red)))
        return JCS_ENOMEM;
    jcs_meta_package p;
    rc = jcs_meta_package_create(jcs_api_svc(req)->db, bucket, name, red_json, &p);
    jcs_free(red_json);
    if (rc)
        return rc;
    return package_reply(req, &p);
}

static int package_get(jcs_http_req *req)
{
    int64_t id;
    int rc;
    if ((rc = jcs_http_query_int(req, "packageID", 1, 0, 1, INT64_MAX, &id)) != 0)
        return rc;
    jcs_meta_package p;
    if ((rc = jcs_meta_package_get(jcs_api_svc(req)->db, id, &p)) != 0)
        return rc;
    return package_reply(req, &p);
}

/* A required name parameter, checked as a name. */
static int query_name(jcs_http_req *req, const char *param, const char **out)
{
    int rc = jcs_http_query(req, param, out);
    if (rc == JCS_ENOENT)
        return jcs_err_set(JCS_EINVAL, "query parameter %s is required", param);
    if (rc)
        return rc;
    char what[64];
    snprintf(what, sizeof what, "query parameter %s", param);
    return jcs_api_check_name(what, *out);
}

static int package_get_by_full_name(jcs_http_req *req)
{
    const char *bn, *pn;
    int rc;
    if ((rc = query_name(req, "bucketName", &bn)) || (rc = query_name(req, "packageName", &pn)))
        return rc;
    jcs_meta_package p;
    if ((rc = jcs_meta_package_get_by_full_name(jcs_api_svc(req)->db, bn, pn, &p)) != 0)
        return rc;
    return package_reply(req, &p);
}

static int package_list(jcs_http_req *req)
{
    int64_t id;
    int rc;
    if ((rc = jcs_http_query_int(req, "bucketID", 1, 0, 1, INT64_MAX, &id)) != 0)
        return rc;
    jcs_meta_packages l;
    if ((rc = jcs_meta_package_list(jcs_api_svc(req)->db, id, &l)) != 0)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < l.n; i++)
        a = jcs_api_push(a, jcs_api_package_json(&l.v[i]));
    jcs_meta_packages_clear(&l);
    return jcs_api_reply_one(req, "packages", a);
}

static int package_delete(jcs_http_req *req)
{
    json_t *b;
    int64_t id;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "packageID", &id)))
        return rc;
    if ((rc = jcs_meta_package_delete(jcs_api_svc(req)->db, id)) != 0)
        return rc;
    return jcs_http_reply_ok(req, NULL);
}

static int package_clone(jcs_http_req *req)
{
    json_t *b;
    int64_t id, bucket;
    const char *name;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "packageID", &id)) ||
        (rc = jcs_api_get_id(b, "bucketID", &bucket)) ||
        (rc = jcs_api_get_str(b, "name", 1, &name)) ||
        (rc = jcs_api_check_name("field name", name)))
        return rc;
    jcs_meta_package p;
    if ((rc = jcs_meta_package_clone(jcs_api_svc(req)->db, id, bucket, name, &p)) != 0)
        return rc;
    return package_reply(req, &p);
}

static int package_cached_storages(jcs_http_req *req)
{
    int64_t id;
    int rc;
    if ((rc = jcs_http_query_int(req, "packageID", 1, 0, 1, INT64_MAX, &id)) != 0)
        return rc;
    jcs_meta_space_shares s;
    if ((rc = jcs_meta_package_spaces(jcs_api_svc(req)->db, id, &s)) != 0)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < s.n; i++)
        a = jcs_api_push(a, json_pack("{sI sI sI}", "userSpaceID", (json_int_t)s.v[i].space_id,
                                      "fileSize", (json_int_t)s.v[i].file_size, "objectCount",
                                      (json_int_t)s.v[i].object_count));
    json_t *d =
        a ? json_pack("{so sI}", "stgInfos", a, "packageSize", (json_int_t)s.package_size) : NULL;
    jcs_meta_space_shares_clear(&s);
    if (!d)
        return JCS_ENOMEM;
    return jcs_http_reply_ok(req, d);
}

#define GET(p, f)                                                                                  \
    {                                                                                              \
        .method = "GET", .path = p, .body = JCS_HTTP_BODY_NONE, .handle = f                        \
    }
#define POST(p, f)                                                                                 \
    {                                                                                              \
        .method = "POST", .path = p, .body = JCS_HTTP_BODY_JSON, .handle = f                       \
    }

const jcs_http_route jcs_api_bucket_routes[] = {
    POST("/v1/bucket/create", bucket_create),
    GET("/v1/bucket/getByName", bucket_get_by_name),
    GET("/v1/bucket/listAll", bucket_list),
    POST("/v1/bucket/delete", bucket_delete),
    POST("/v1/package/create", package_create),
    GET("/v1/package/get", package_get),
    GET("/v1/package/getByFullName", package_get_by_full_name),
    GET("/v1/package/listBucketPackages", package_list),
    POST("/v1/package/delete", package_delete),
    POST("/v1/package/clone", package_clone),
    GET("/v1/package/getCachedStorages", package_cached_storages),
};
const size_t jcs_api_bucket_nroutes =
    sizeof jcs_api_bucket_routes / sizeof jcs_api_bucket_routes[0];
