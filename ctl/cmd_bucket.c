/* Commands on buckets and packages (API.md "Buckets", "Packages"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ctl.h"

static void idstr(int64_t id, char *buf, size_t size)
{
    snprintf(buf, size, "%lld", (long long)id);
}

static int bucket_ls(ctl *c, int argc, char **argv)
{
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, NULL, 0, 0, &np);
    json_t *d;
    int rc = ctl_get(c, "/v1/bucket/listAll", NULL, &d);
    if (rc)
        return rc;
    if (c->json) {
        ctl_print_json(d);
        return 0;
    }
    static const char *const heads[] = {"ID", "NAME", "CREATED"};
    static const unsigned char right[] = {1, 0, 0};
    ctl_table t;
    ctl_table_init(&t, 3, heads, right);
    json_t *b;
    size_t i;
    json_array_foreach(json_object_get(d, "buckets"), i, b)
    {
        char id[24];
        idstr(ctl_int(b, "bucketID", 0), id, sizeof id);
        if ((rc = ctl_table_row(&t, id, ctl_str(b, "name", ""), ctl_str(b, "createTime", ""))))
            break;
    }
    if (!rc)
        ctl_table_print(&t);
    ctl_table_free(&t);
    json_decref(d);
    return rc;
}

static int bucket_create(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, pos, 1, 1, &np);
    json_t *body = json_pack("{ss}", "name", pos[0]), *d;
    if (!body)
        return JCS_ENOMEM;
    int rc = ctl_post(c, "/v1/bucket/create", body, &d);
    json_decref(body);
    if (rc == JCS_EEXIST)
        return jcs_err_set(rc, "bucket \"%s\" already exists", pos[0]);
    if (rc)
        return rc;
    ctl_say(c, "created bucket %s (id %lld)", pos[0],
            (long long)ctl_int(json_object_get(d, "bucket"), "bucketID", 0));
    if (c->json)
        ctl_print_json(d);
    else
        json_decref(d);
    return 0;
}

/* Whether package id holds at least one object. */
static int package_has_objects(ctl *c, int64_t id, int *has)
{
    char ids[24];
    idstr(id, ids, sizeof ids);
    const char *kv[] = {"packageID", ids, "path", "", "isPrefix", "true", "maxKeys", "1", NULL};
    json_t *d;
    int rc = ctl_get(c, "/v1/object/listByPath", kv, &d);
    if (rc)
        return rc;
    *has = json_array_size(json_object_get(d, "objects")) > 0;
    json_decref(d);
    return 0;
}

static int bucket_rm(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    int recursive = 0;
    const ctl_opt opts[] = {{"recursive", 'r', NULL, &recursive}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 1, &np);
    int64_t id;
    int rc = ctl_bucket_id(c, pos[0], &id);
    if (rc)
        return rc;
    char ids[24];
    idstr(id, ids, sizeof ids);
    if (!recursive) {
        const char *kv[] = {"bucketID", ids, NULL};
        json_t *d;
        if ((rc = ctl_get(c, "/v1/package/listBucketPackages", kv, &d)))
            return rc;
        size_t n = json_array_size(json_object_get(d, "packages"));
        json_decref(d);
        if (n)
            return jcs_err_set(JCS_EBUSY,
                               "bucket \"%s\" holds %zu package%s; jcsctl bucket rm -r %s "
                               "deletes them with their objects",
                               pos[0], n, n == 1 ? "" : "s", pos[0]);
    }
    json_t *body = json_pack("{sI}", "bucketID", (json_int_t)id);
    if (!body)
        return JCS_ENOMEM;
    rc = ctl_post(c, "/v1/bucket/delete", body, NULL);
    json_decref(body);
    if (rc)
        return rc;
    ctl_say(c, "deleted bucket %s", pos[0]);
    if (c->json)
        ctl_print_json(json_pack("{sI}", "deletedBucketID", (json_int_t)id));
    return 0;
}

static int package_ls(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, pos, 1, 1, &np);
    int64_t id;
    int rc = ctl_bucket_id(c, pos[0], &id);
    if (rc)
        return rc;
    char ids[24];
    idstr(id, ids, sizeof ids);
    const char *kv[] = {"bucketID", ids, NULL};
    json_t *d;
    if ((rc = ctl_get(c, "/v1/package/listBucketPackages", kv, &d)))
        return rc;
    if (c->json) {
        ctl_print_json(d);
        return 0;
    }
    static const char *const heads[] = {"ID", "NAME", "REDUNDANCY", "CREATED"};
    static const unsigned char right[] = {1, 0, 0, 0};
    ctl_table t;
    ctl_table_init(&t, 4, heads, right);
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(d, "packages"), i, p)
    {
        char pid[24], red[64];
        idstr(ctl_int(p, "packageID", 0), pid, sizeof pid);
        json_t *r = json_object_get(p, "redundancy");
        if ((rc = ctl_table_row(&t, pid, ctl_str(p, "name", ""),
                                json_is_object(r) ? ctl_redundancy_str(r, red, sizeof red)
                                                  : "(default)",
                                ctl_str(p, "createTime", ""))))
            break;
    }
    if (!rc)
        ctl_table_print(&t);
    ctl_table_free(&t);
    json_decref(d);
    return rc;
}

static int package_create(ctl *c, int argc, char **argv)
{
    const char *pos[1], *red_s = NULL;
    size_t np;
    const ctl_opt opts[] = {{"redundancy", 'R', &red_s, NULL}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 1, &np);
    ctl_ref r;
    json_t *red = NULL;
    int rc = ctl_ref_split(pos[0], &r);
    if (rc)
        return rc;
    if (r.path[0]) {
        rc = ctl_usage("\"%s\": a package is named BUCKET/PACKAGE", pos[0]);
        goto out;
    }
    if (red_s && (rc = ctl_parse_redundancy(red_s, &red)))
        goto out;
    if ((rc = ctl_bucket_id(c, r.bucket, &r.bucket_id)))
        goto out;
    json_t *body = json_pack("{sI ss}", "bucketID", (json_int_t)r.bucket_id, "name", r.package), *d;
    if (!body) {
        rc = JCS_ENOMEM;
        goto out;
    }
    if (red)
        json_object_set(body, "redundancy", red);
    rc = ctl_post(c, "/v1/package/create", body, &d);
    json_decref(body);
    if (rc == JCS_EEXIST)
        rc = jcs_err_set(rc, "package \"%s\" already exists in bucket \"%s\"", r.package, r.bucket);
    if (rc)
        goto out;
    ctl_say(c, "created package %s/%s (id %lld)", r.bucket, r.package,
            (long long)ctl_int(json_object_get(d, "package"), "packageID", 0));
    if (c->json)
        ctl_print_json(d);
    else
        json_decref(d);
out:
    json_decref(red);
    ctl_ref_free(&r);
    return rc;
}

static int package_rm(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    int recursive = 0;
    const ctl_opt opts[] = {{"recursive", 'r', NULL, &recursive}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 1, &np);
    ctl_ref r;
    int rc = ctl_ref_resolve(c, pos[0], &r);
    if (rc)
        return rc;
    int has = 0;
    if (!recursive && (rc = package_has_objects(c, r.package_id, &has)) == 0 && has)
        rc = jcs_err_set(JCS_EBUSY,
                         "package %s/%s holds objects; jcsctl package rm -r %s/%s deletes it "
                         "with them",
                         r.bucket, r.package, r.bucket, r.package);
    if (!rc) {
        json_t *body = json_pack("{sI}", "packageID", (json_int_t)r.package_id);
        rc = body ? ctl_post(c, "/v1/package/delete", body, NULL) : JCS_ENOMEM;
        json_decref(body);
    }
    if (!rc) {
        ctl_say(c, "deleted package %s/%s", r.bucket, r.package);
        if (c->json)
            ctl_print_json(json_pack("{sI}", "deletedPackageID", (json_int_t)r.package_id));
    }
    ctl_ref_free(&r);
    return rc;
}

static int package_clone(ctl *c, int argc, char **argv)
{
    const char *pos[2];
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, pos, 2, 2, &np);
    ctl_ref src, dst;
    int rc = ctl_ref_split(pos[1], &dst);
    if (rc)
        return rc;
    if (dst.path[0]) {
        ctl_ref_free(&dst);
        return ctl_usage("\"%s\": the new package is named BUCKET/PACKAGE", pos[1]);
    }
    if ((rc = ctl_ref_resolve(c, pos[0], &src))) {
        ctl_ref_free(&dst);
        return rc;
    }
    json_t *d = NULL;
    if ((rc = ctl_bucket_id(c, dst.bucket, &dst.bucket_id)) == 0) {
        json_t *body = json_pack("{sI sI ss}", "packageID", (json_int_t)src.package_id, "bucketID",
                                 (json_int_t)dst.bucket_id, "name", dst.package);
        rc = body ? ctl_post(c, "/v1/package/clone", body, &d) : JCS_ENOMEM;
        json_decref(body);
        if (rc == JCS_EEXIST)
            rc = jcs_err_set(rc, "package \"%s\" already exists in bucket \"%s\"", dst.package,
                             dst.bucket);
    }
    if (!rc) {
        ctl_say(c, "cloned %s/%s to %s/%s (id %lld; blocks are shared)", src.bucket, src.package,
                dst.bucket, dst.package,
                (long long)ctl_int(json_object_get(d, "package"), "packageID", 0));
        if (c->json)
            ctl_print_json(d);
        else
            json_decref(d);
    }
    ctl_ref_free(&src);
    ctl_ref_free(&dst);
    return rc;
}

static int package_info(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, pos, 1, 1, &np);
    ctl_ref r;
    int rc = ctl_ref_resolve(c, pos[0], &r);
    if (rc)
        return rc;
    char ids[24];
    idstr(r.package_id, ids, sizeof ids);
    const char *kv[] = {"packageID", ids, NULL};
    json_t *pkg = NULL, *st = NULL, *sp = NULL;
    if ((rc = ctl_get(c, "/v1/package/get", kv, &pkg)) ||
        (rc = ctl_get(c, "/v1/package/getCachedStorages", kv, &st)) ||
        (!c->json && (rc = ctl_get(c, "/v1/userspace/list", NULL, &sp))))
        goto out;
    if (c->json) {
        json_t *o = json_pack("{sO sO sO}", "package", json_object_get(pkg, "package"), "stgInfos",
                              json_object_get(st, "stgInfos"), "packageSize",
                              json_object_get(st, "packageSize"));
        if (!o)
            rc = JCS_ENOMEM;
        else
            ctl_print_json(o);
        goto out;
    }
    json_t *p = json_object_get(pkg, "package"), *red = json_object_get(p, "redundancy");
    char rb[64], hb[32];
    const json_t *ps = json_object_get(st, "packageSize");
    int64_t size = json_is_integer(ps)  ? json_integer_value(ps)
                   : json_is_string(ps) ? atoll(json_string_value(ps))
                                        : 0;
    printf("package     %s/%s\nid          %lld\nbucket id   %lld\ncreated     %s\n"
           "redundancy  %s\nsize        %s (%lld bytes)\n\n",
           r.bucket, r.package, (long long)r.package_id, (long long)r.bucket_id,
           ctl_str(p, "createTime", ""),
           json_is_object(red) ? ctl_redundancy_str(red, rb, sizeof rb) : "(the client's default)",
           ctl_human(size, hb, sizeof hb), (long long)size);
    static const char *const heads[] = {"SPACE", "NAME", "BYTES", "OBJECTS"};
    static const unsigned char right[] = {1, 0, 1, 1};
    ctl_table t;
    ctl_table_init(&t, 4, heads, right);
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(st, "stgInfos"), i, e)
    {
        int64_t sid = ctl_int(e, "userSpaceID", 0);
        const char *name = "";
        json_t *s;
        size_t j;
        json_array_foreach(json_object_get(sp, "userSpaces"), j,
                           s) if (ctl_int(s, "userSpaceID", 0) == sid) name =
            ctl_str(s, "name", "");
        char a[24], b[32], n[24];
        idstr(sid, a, sizeof a);
        json_t *fs = json_object_get(e, "fileSize");
        int64_t fsz = json_is_string(fs) ? atoll(json_string_value(fs)) : ctl_int(e, "fileSize", 0);
        ctl_human(fsz, b, sizeof b);
        idstr(ctl_int(e, "objectCount", 0), n, sizeof n);
        if ((rc = ctl_table_row(&t, a, name, b, n)))
            break;
    }
    if (!rc)
        ctl_table_print(&t);
    ctl_table_free(&t);
out:
    json_decref(pkg);
    json_decref(st);
    json_decref(sp);
    ctl_ref_free(&r);
    return rc;
}

const ctl_cmd ctl_cmds_bucket[] = {
    {"bucket ls", "", "list the buckets", "Example:\n  jcsctl bucket ls", bucket_ls},
    {"bucket create", "NAME", "create a bucket", "Example:\n  jcsctl bucket create photos",
     bucket_create},
    {"bucket rm", "[-r] NAME", "delete a bucket",
     "Options:\n  -r, --recursive  also delete its packages and their objects (refused "
     "otherwise\n                   when the bucket is not empty)\n\nExample:\n  jcsctl bucket rm "
     "-r photos",
     bucket_rm},
    {"package ls", "BUCKET", "list the packages of a bucket",
     "Example:\n  jcsctl package ls photos", package_ls},
    {"package create", "[--redundancy R] BUCKET/PACKAGE", "create a package",
     "Options:\n  -R, --redundancy R  default redundancy of its new objects: none, rep:N,\n"
     "                      ec:K,N or ec(K,N[,CHUNK]) (CHUNK like 1MiB),\n"
     "                      lrc(K,N,[G,...][,CHUNK]) (JCS's lrc: N-len(G) blocks are\n"
     "                      ec(K,N-len(G)), then one XOR parity per group of G blocks),\n"
     "                      or a JSON object\n\n"
     "Examples:\n  jcsctl package create --redundancy 'ec(2,3)' photos/2024\n"
     "  jcsctl package create --redundancy 'lrc(4,8,[2,2])' photos/archive",
     package_create},
    {"package rm", "[-r] BUCKET/PACKAGE", "delete a package",
     "Options:\n  -r, --recursive  also delete its objects (refused otherwise when it holds "
     "some)\n\nExample:\n  jcsctl package rm -r photos/2024",
     package_rm},
    {"package clone", "BUCKET/PACKAGE BUCKET/NEWPACKAGE",
     "copy a package's metadata (blocks are shared, no data is copied)",
     "Example:\n  jcsctl package clone photos/2024 archive/2024-copy", package_clone},
    {"package info", "BUCKET/PACKAGE", "a package's redundancy, size, and the spaces holding it",
     "Example:\n  jcsctl package info photos/2024", package_info},
    {0},
};
