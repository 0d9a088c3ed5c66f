/*
 * client/s3/s3gw_delete.c - DeleteObjects: up to 1000 keys in one XML
 * request (Content-MD5 optional; checked when given, by s3body).
 */
#include <string.h>

#include "alloc.h"
#include "s3gw_int.h"

#define DELETE_MAX 1000

/* Deletes one key; a key that names nothing counts as deleted (S3). */
static int delete_one(s3req *r, int64_t bucket_id, const char *key)
{
    char pkg[256], path[1025];
    int dir;
    int rc = jcs_s3gw_key_split(r->gw, key, pkg, path, &dir);
    if (rc)
        return rc;
    jcs_meta_package p;
    rc = jcs_s3gw_package(r, bucket_id, pkg, 0, &p);
    if (rc == JCS_ENOENT)
        return 0;
    if (rc)
        return rc;
    if (!dir)
        rc = jcs_meta_object_delete_by_path(r->svc->db, p.package_id, path);
    jcs_meta_package_clear(&p);
    return rc == JCS_ENOENT ? 0 : rc;
}

int jcs_s3gw_delete_objects(s3req *r)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    jcs_s3xml_doc *d = NULL;
    if ((rc = jcs_s3xml_parse(r->xml.data ? r->xml.data : "", r->xml.len, &d)) != 0) {
        jcs_meta_bucket_clear(&b);
        return jcs_s3gw_malformed(rc);
    }
    const jcs_s3xml_node *root = jcs_s3xml_root(d);
    const jcs_s3xml_node *quiet = jcs_s3xml_child(root, "Quiet");
    int q = quiet && strcmp(quiet->text, "true") == 0;
    size_t n = 0;
    for (const jcs_s3xml_node *o = jcs_s3xml_child(root, "Object"); o; o = jcs_s3xml_next(o)) {
        const jcs_s3xml_node *k = jcs_s3xml_child(o, "Key");
        if (!k || !k->text[0]) {
            rc = jcs_s3err_set(JCS_S3E_MalformedXML, "every <Object> needs a non-empty <Key>");
            break;
        }
        n++;
    }
    if (!rc && strcmp(root->name, "Delete") != 0)
        rc = jcs_s3err_set(JCS_S3E_MalformedXML, "the body must be <Delete>, not <%s>", root->name);
    if (!rc && (n == 0 || n > DELETE_MAX))
        rc = jcs_s3err_set(JCS_S3E_MalformedXML, "a Delete names 1 to %d objects, not %zu",
                           DELETE_MAX, n);
    jcs_buf x;
    jcs_buf_init(&x, S3GW_REPLY_MAX);
    if (!rc) {
        jcs_s3xml w;
        jcs_s3xml_init(&w, &x);
        jcs_s3xml_open_ns(&w, "DeleteResult");
        for (const jcs_s3xml_node *o = jcs_s3xml_child(root, "Object"); o; o = jcs_s3xml_next(o)) {
            const char *key = jcs_s3xml_child(o, "Key")->text;
            jcs_s3err_clear();
            int e = delete_one(r, b.bucket_id, key);
            if (!e) {
                if (!q) {
                    jcs_s3xml_open(&w, "Deleted");
                    jcs_s3xml_elem(&w, "Key", key);
                    jcs_s3xml_close(&w, "Deleted");
                }
                continue;
            }
            char msg[512];
            snprintf(msg, sizeof msg, "%s", jcs_err_msg(e));
            int code = jcs_s3err_take(e);
            jcs_s3xml_open(&w, "Error");
            jcs_s3xml_elem(&w, "Key", key);
            jcs_s3xml_elem(&w, "Code", jcs_s3err_name(code));
            jcs_s3xml_elem(&w, "Message", msg);
            jcs_s3xml_close(&w, "Error");
        }
        jcs_s3xml_close(&w, "DeleteResult");
        rc = jcs_s3xml_finish(&w);
        if (!rc)
            rc = jcs_s3gw_reply_xml(r, 200, &x);
    }
    jcs_buf_clear(&x);
    jcs_s3xml_doc_free(d);
    jcs_meta_bucket_clear(&b);
    return rc;
}
