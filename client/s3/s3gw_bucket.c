/*
 * client/s3/s3gw_bucket.c - ListBuckets, CreateBucket, HeadBucket,
 * DeleteBucket, GetBucketLocation.
 */
#include <string.h>

#include "alloc.h"
#include "s3gw_int.h"

static void owner(jcs_s3xml *w)
{
    jcs_s3xml_open(w, "Owner");
    jcs_s3xml_elem(w, "ID", "jcs");
    jcs_s3xml_elem(w, "DisplayName", "jcs");
    jcs_s3xml_close(w, "Owner");
}

static int reply_doc(s3req *r, jcs_s3xml *w, jcs_buf *x)
{
    int rc = jcs_s3xml_finish(w);
    if (!rc)
        rc = jcs_s3gw_reply_xml(r, 200, x);
    jcs_buf_clear(x);
    return rc;
}

int jcs_s3gw_list_buckets(s3req *r)
{
    jcs_meta_buckets l;
    int rc = jcs_meta_bucket_list(r->svc->db, &l);
    if (rc)
        return rc;
    jcs_buf x;
    jcs_buf_init(&x, S3GW_REPLY_MAX);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &x);
    jcs_s3xml_open_ns(&w, "ListAllMyBucketsResult");
    owner(&w);
    jcs_s3xml_open(&w, "Buckets");
    for (size_t i = 0; i < l.n; i++) {
        char d[40];
        jcs_s3gw_iso_date(l.v[i].create_ms, d);
        jcs_s3xml_open(&w, "Bucket");
        jcs_s3xml_elem(&w, "Name", l.v[i].name);
        jcs_s3xml_elem(&w, "CreationDate", d);
        jcs_s3xml_close(&w, "Bucket");
    }
    jcs_s3xml_close(&w, "Buckets");
    jcs_s3xml_close(&w, "ListAllMyBucketsResult");
    jcs_meta_buckets_clear(&l);
    return reply_doc(r, &w, &x);
}

int jcs_s3gw_create_bucket(s3req *r)
{
    if (jcs_api_check_name("bucket name", r->bucket) != 0)
        return jcs_s3err_set(JCS_S3E_InvalidBucketName,
                             "The specified bucket \"%.100s\" is not valid.", r->bucket);
    if (r->xml.len) {
        jcs_s3xml_doc *d;
        int rc = jcs_s3xml_parse(r->xml.data, r->xml.len, &d);
        if (rc)
            return jcs_s3gw_malformed(rc);
        const jcs_s3xml_node *root = jcs_s3xml_root(d);
        const jcs_s3xml_node *lc = jcs_s3xml_child(root, "LocationConstraint");
        rc = 0;
        if (strcmp(root->name, "CreateBucketConfiguration") != 0)
            rc =
                jcs_s3err_set(JCS_S3E_MalformedXML,
                              "the body must be a CreateBucketConfiguration, not <%s>", root->name);
        else if (lc && lc->text[0] && strcmp(lc->text, r->gw->conf.region) != 0)
            rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                               "The location constraint \"%.60s\" is not this gateway's region "
                               "\"%s\" (s3.region).",
                               lc->text, r->gw->conf.region);
        jcs_s3xml_doc_free(d);
        if (rc)
            return rc;
    }
    int rc = jcs_meta_bucket_create(r->svc->db, r->bucket, NULL);
    if (rc == JCS_EEXIST)
        return jcs_s3err_set(JCS_S3E_BucketAlreadyOwnedByYou,
                             "Your previous request to create the named bucket \"%s\" succeeded "
                             "and you already own it.",
                             r->bucket);
    if (rc)
        return rc;
    char loc[300];
    snprintf(loc, sizeof loc, "/%s", r->bucket);
    jcs_s3gw_add_header(r, "Location", loc);
    return jcs_s3gw_reply_empty(r, 200);
}

int jcs_s3gw_head_bucket(s3req *r)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    jcs_meta_bucket_clear(&b);
    jcs_s3gw_add_header(r, "x-amz-bucket-region", r->gw->conf.region);
    return jcs_s3gw_reply_empty(r, 200);
}

int jcs_s3gw_bucket_location(s3req *r)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    jcs_meta_bucket_clear(&b);
    jcs_buf x;
    jcs_buf_init(&x, 4096);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &x);
    /* AWS answers an empty constraint for us-east-1. */
    if (strcmp(r->gw->conf.region, "us-east-1") == 0) {
        if (!w.rc)
            w.rc = jcs_buf_printf(&x, "<LocationConstraint "
                                      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>");
    } else {
        jcs_s3xml_open_ns(&w, "LocationConstraint");
        if (!w.rc)
            w.rc = jcs_s3xml_escape(&x, r->gw->conf.region, strlen(r->gw->conf.region));
        jcs_s3xml_close(&w, "LocationConstraint");
    }
    return reply_doc(r, &w, &x);
}

int jcs_s3gw_delete_bucket(s3req *r)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    jcs_meta_packages pk;
    if ((rc = jcs_meta_package_list(r->svc->db, b.bucket_id, &pk)) != 0) {
        jcs_meta_bucket_clear(&b);
        return rc;
    }
    /* Not empty while any package holds an object (open uploads do not count, as on AWS). */
    for (size_t i = 0; i < pk.n && !rc; i++) {
        if (strcmp(pk.v[i].name, r->gw->conf.uploads_package) == 0)
            continue;
        jcs_meta_list_query q = {
            .package_id = pk.v[i].package_id, .path = "", .is_prefix = 1, .max_keys = 1};
        jcs_meta_listing l;
        if ((rc = jcs_meta_object_list_by_path(r->svc->db, &q, &l)) != 0)
            break;
        if (l.objects.n)
            rc = jcs_s3err_set(JCS_S3E_BucketNotEmpty,
                               "The bucket you tried to delete is not empty (package \"%s\" "
                               "holds objects).",
                               pk.v[i].name);
        jcs_meta_listing_clear(&l);
    }
    jcs_meta_packages_clear(&pk);
    if (!rc)
        rc = jcs_meta_bucket_delete(r->svc->db, b.bucket_id);
    jcs_meta_bucket_clear(&b);
    if (rc)
        return rc;
    return jcs_s3gw_reply_empty(r, 204);
}
