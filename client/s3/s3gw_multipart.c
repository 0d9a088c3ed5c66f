/*
 * client/s3/s3gw_multipart.c - S3 multipart uploads on JCS's multipart
 * machinery.
 *
 * An S3 upload is a JCS multipart upload object (jcs_meta_multipart_new)
 * in the bucket's reserved package s3.uploadsPackage, at a path that is
 * the upload id (32 random hex digits); its s3Object row holds the S3 key
 * and the headers the final object will carry. So several uploads of one
 * key can run at once, and none is visible under its key before Complete.
 * Each part is uploaded like a REST part (one plain shard, placed like any
 * block) and recorded twice: as a block of the upload object (so the
 * shard is referenced and the GC keeps it) and in s3Part with its MD5
 * (the part's ETag). Complete checks the list (ascending, ETags, 5 MiB
 * minimum but for the last part), then commits one object at the key
 * whose blocks are the parts in order (redundancy "segment", FileHash
 * Comp of the parts, as JCS's own multipart objects) in one transaction,
 * replacing what was there, and drops the upload object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "alloc.h"
#include "download.h"
#include "log.h"
#include "s3gw_int.h"
#include "upload.h"
#include "util.h"

/* ---- finding an upload ---- */

typedef struct upload_ref {
    int64_t bucket_id;
    int64_t object_id; /* the upload object */
    jcs_s3meta m;      /* its row: key, headers */
} upload_ref;

static int no_such_upload(const char *id)
{
    return jcs_s3err_set(JCS_S3E_NoSuchUpload,
                         "The specified multipart upload \"%.40s\" does not exist. The upload ID "
                         "might be invalid, or the multipart upload might have been aborted or "
                         "completed.",
                         id);
}

static int valid_upload_id(const char *id)
{
    return id && strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

static int find_upload(s3req *r, upload_ref *u)
{
    memset(u, 0, sizeof *u);
    const char *id = jcs_s3gw_query(r, "uploadId");
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    u->bucket_id = b.bucket_id;
    jcs_meta_bucket_clear(&b);
    if (!valid_upload_id(id))
        return no_such_upload(id ? id : "");
    jcs_meta_package p;
    rc = jcs_s3gw_package(r, u->bucket_id, r->gw->conf.uploads_package, 0, &p);
    if (rc == JCS_ENOENT)
        return no_such_upload(id);
    if (rc)
        return rc;
    jcs_meta_object o;
    rc = jcs_meta_object_get_by_path(r->svc->db, p.package_id, id, &o);
    jcs_meta_package_clear(&p);
    if (rc == JCS_ENOENT)
        return no_such_upload(id);
    if (rc)
        return rc;
    u->object_id = o.object_id;
    int open = !o.file_hash[0];
    jcs_meta_object_clear(&o);
    rc = jcs_s3meta_get(r->svc->db, u->object_id, &u->m);
    if (rc == JCS_ENOENT ||
        (!rc && (!open || !u->m.upload_key || strcmp(u->m.upload_key, r->key) != 0))) {
        jcs_s3meta_clear(&u->m);
        return no_such_upload(id);
    }
    return rc;
}

static int reply_doc(s3req *r, jcs_s3xml *w, jcs_buf *x)
{
    int rc = jcs_s3xml_finish(w);
    if (!rc)
        rc = jcs_s3gw_reply_xml(r, 200, x);
    jcs_buf_clear(x);
    return rc;
}

/* ---- CreateMultipartUpload ---- */

int jcs_s3gw_mp_create(s3req *r)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    char pkg[256], path[1025];
    int dir;
    if ((rc = jcs_s3gw_key_split(r->gw, r->key, pkg, path, &dir)) == 0 && dir)
        rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                           "key \"%.200s\": a multipart upload needs an object path after the "
                           "package",
                           r->key);
    jcs_meta_package up;
    memset(&up, 0, sizeof up);
    if (!rc)
        rc = jcs_s3gw_package(r, b.bucket_id, r->gw->conf.uploads_package, 1, &up);
    jcs_meta_bucket_clear(&b);
    if (rc)
        return rc;
    unsigned char rnd[16];
    char id[33];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        jcs_meta_package_clear(&up);
        return jcs_err_set(JCS_EINTERNAL, "no random bytes for an upload id");
    }
    jcs_s3sum_hex(rnd, sizeof rnd, id);
    jcs_meta_object o;
    rc = jcs_meta_multipart_new(r->svc->db, up.package_id, id, &o);
    jcs_meta_package_clear(&up);
    if (rc)
        return rc;
    jcs_s3meta m;
    memset(&m, 0, sizeof m);
    m.object_id = o.object_id;
    m.headers = jcs_s3gw_stored_headers(r);
    m.upload_key = jcs_strdup(r->key);
    snprintf(m.upload_token, sizeof m.upload_token, "%s", id);
    rc = m.headers && m.upload_key ? jcs_s3meta_put(r->svc->db, &m) : JCS_ENOMEM;
    jcs_s3meta_clear(&m);
    if (rc) {
        if (jcs_meta_multipart_abort(r->svc->db, o.object_id) != 0)
            jcs_warn("s3: upload object %lld left behind", (long long)o.object_id);
        jcs_meta_object_clear(&o);
        return rc;
    }
    jcs_meta_object_clear(&o);
    jcs_buf x;
    jcs_buf_init(&x, 8192);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &x);
    jcs_s3xml_open_ns(&w, "InitiateMultipartUploadResult");
    jcs_s3xml_elem(&w, "Bucket", r->bucket);
    jcs_s3xml_elem(&w, "Key", r->key);
    jcs_s3xml_elem(&w, "UploadId", id);
    jcs_s3xml_close(&w, "InitiateMultipartUploadResult");
    return reply_doc(r, &w, &x);
}

/* ---- UploadPart, UploadPartCopy ---- */

typedef struct part_op {
    upload_ref u;
    int number;
    jcs_upload *up;
    jcs_upload_result res;
} part_op;

static void part_free(void *p)
{
    part_op *op = p;
    if (!op)
        return;
    jcs_upload_free(op->up);
    jcs_s3meta_clear(&op->u.m);
    jcs_free(op);
}

static int part_number(s3req *r, int *out)
{
    const char *v = jcs_s3gw_query(r, "partNumber");
    char *e;
    long n = v ? strtol(v, &e, 10) : 0;
    if (!v || !*v || *e || n < 1 || n > S3GW_MAX_PARTS)
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "Part number must be an integer between 1 and 10000, inclusive");
    *out = (int)n;
    return 0;
}

static int part_start(s3req *r, part_op *op)
{
    int rc = part_number(r, &op->number);
    if (!rc)
        rc = find_upload(r, &op->u);
    if (rc)
        return rc;
    jcs_redundancy none = {.type = JCS_RED_NONE};
    jcs_place_sites sites;
    if ((rc = jcs_s3gw_slot(r)) != 0 || (rc = jcs_s3gw_place(r, 1, &sites)) != 0)
        return rc;
    rc = jcs_upload_start(r->svc->driver, &none, &sites, -1, &op->up);
    jcs_place_sites_clear(&sites);
    return rc;
}

struct part_row {
    int64_t object_id;
    const jcs_s3meta_part *p;
};

static int part_row_put(jcs_db_conn *c, void *arg)
{
    const struct part_row *pr = arg;
    return jcs_s3meta_part_put_in(c, pr->object_id, pr->p);
}

/* Ends the part's plan and records it; etag (32 hex) out. */
static int part_record(s3req *r, part_op *op, char etag[33], int alg, const char *sum)
{
    int rc = jcs_upload_finish(op->up, &op->res);
    jcs_upload_free(op->up);
    op->up = NULL;
    r->t_plan_end = jcs_now_us();
    jcs_s3gw_slot_release(r);
    if (rc)
        return rc;
    if (r->body && (rc = jcs_s3body_check_md5(r->body, op->res.md5)) != 0)
        return rc;
    jcs_s3sum_hex(op->res.md5, 16, etag);
    jcs_meta_block b;
    memset(&b, 0, sizeof b);
    b.index = op->number;
    b.space_id = op->res.blocks[0].space_id;
    snprintf(b.file_hash, sizeof b.file_hash, "%s", op->res.file_hash);
    b.size = op->res.size;
    jcs_s3meta_part p;
    memset(&p, 0, sizeof p);
    p.part_number = op->number;
    snprintf(p.etag, sizeof p.etag, "%s", etag);
    p.size = op->res.size;
    snprintf(p.file_hash, sizeof p.file_hash, "%s", op->res.file_hash);
    if (alg && sum) {
        snprintf(p.checksum_alg, sizeof p.checksum_alg, "%s", jcs_s3sum_alg_name(alg));
        snprintf(p.checksum, sizeof p.checksum, "%s", sum);
    }
    p.update_ms = jcs_wall_ms();
    /* The block and the s3Part row in one transaction: one commit per part, and a part is
     * never recorded in one place only. */
    struct part_row pr = {op->u.object_id, &p};
    rc = jcs_meta_multipart_add_part_then(r->svc->db, op->u.object_id, &b, part_row_put, &pr);
    if (rc == JCS_EINVAL || rc == JCS_ENOENT)
        return no_such_upload(jcs_s3gw_query(r, "uploadId"));
    return rc;
}

static int part_sink(s3req *r, const void *p, size_t n)
{
    part_op *op = r->op;
    return jcs_upload_write(op->up, p, n);
}

static void part_cancel(s3req *r)
{
    part_op *op = r->op;
    if (op && op->up) {
        jcs_upload_free(op->up);
        op->up = NULL;
    }
    jcs_s3gw_slot_release(r);
}

static int part_finish(s3req *r)
{
    part_op *op = r->op;
    char etag[33], q[40];
    const char *sum = NULL;
    int alg = jcs_s3body_checksum(r->body, &sum);
    int rc = part_record(r, op, etag, alg, sum);
    if (rc)
        return rc;
    snprintf(q, sizeof q, "\"%s\"", etag);
    jcs_s3gw_add_header(r, "ETag", q);
    if (alg && sum)
        jcs_s3gw_add_header(r, jcs_s3sum_header(alg), sum);
    return jcs_s3gw_reply_empty(r, 200);
}

int jcs_s3gw_mp_upload_part(s3req *r)
{
    part_op *op = jcs_calloc(1, sizeof *op);
    if (!op)
        return JCS_ENOMEM;
    r->op = op;
    r->op_free = part_free;
    r->sink = part_sink;
    r->finish = part_finish;
    r->cancel = part_cancel;
    return part_start(r, op);
}

static int copy_write(void *arg, const void *p, size_t n)
{
    return jcs_upload_write(arg, p, n);
}

int jcs_s3gw_mp_upload_part_copy(s3req *r)
{
    part_op *op = jcs_calloc(1, sizeof *op);
    if (!op)
        return JCS_ENOMEM;
    r->op = op;
    r->op_free = part_free;
    char *sb = NULL, *sk = NULL, setag[90];
    jcs_meta_detail d;
    jcs_s3meta sm;
    memset(&d, 0, sizeof d);
    memset(&sm, 0, sizeof sm);
    int rc = part_number(r, &op->number);
    if (!rc)
        rc = find_upload(r, &op->u);
    if (!rc)
        rc = jcs_s3gw_copy_find(r, &sb, &sk, &d, &sm, setag);
    int64_t start = 0, len = d.object.size;
    const char *range = jcs_s3gw_header(r, "x-amz-copy-source-range");
    if (!rc && range) {
        long long a, b;
        char tail;
        if (sscanf(range, "bytes=%lld-%lld%c", &a, &b, &tail) != 2 || a < 0 || b < a ||
            b >= d.object.size)
            rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                               "Range specified is not valid for source object of size: %lld "
                               "(x-amz-copy-source-range \"%.60s\")",
                               (long long)d.object.size, range);
        else {
            start = a;
            len = b - a + 1;
        }
    }
    if (!rc) {
        jcs_redundancy none = {.type = JCS_RED_NONE};
        jcs_place_sites sites;
        if ((rc = jcs_s3gw_slot(r)) == 0 && (rc = jcs_s3gw_place(r, 1, &sites)) == 0) {
            rc = jcs_upload_start(r->svc->driver, &none, &sites, -1, &op->up);
            jcs_place_sites_clear(&sites);
        }
    }
    if (!rc && len > 0)
        rc = jcs_download_object(r->svc, &d, start, len, copy_write, op->up, NULL);
    char etag[33];
    if (!rc)
        rc = part_record(r, op, etag, 0, NULL);
    if (!rc) {
        char q[40], lm[40];
        snprintf(q, sizeof q, "\"%s\"", etag);
        jcs_s3gw_iso_date(jcs_wall_ms(), lm);
        jcs_buf x;
        jcs_buf_init(&x, 4096);
        jcs_s3xml w;
        jcs_s3xml_init(&w, &x);
        jcs_s3xml_open_ns(&w, "CopyPartResult");
        jcs_s3xml_elem(&w, "LastModified", lm);
        jcs_s3xml_elem(&w, "ETag", q);
        jcs_s3xml_close(&w, "CopyPartResult");
        rc = reply_doc(r, &w, &x);
    }
    jcs_meta_detail_clear(&d);
    jcs_s3meta_clear(&sm);
    jcs_free(sb);
    jcs_free(sk);
    return rc;
}

/* ---- CompleteMultipartUpload ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int jcs_s3gw_mp_complete(s3req *r)
{
    upload_ref u;
    int rc = find_upload(r, &u);
    if (rc)
        return rc;
    jcs_s3xml_doc *doc = NULL;
    jcs_s3meta_parts parts;
    memset(&parts, 0, sizeof parts);
    jcs_meta_detail det;
    memset(&det, 0, sizeof det);
    jcs_meta_block *blocks = NULL;
    unsigned char *digests = NULL;
    int *want = NULL;
    size_t n = 0;
    char *red = NULL;
    jcs_meta_package p;
    memset(&p, 0, sizeof p);
    jcs_meta_objects objs;
    memset(&objs, 0, sizeof objs);
    char etag[48] = "";
    int64_t total = 0;

    if ((rc = jcs_s3xml_parse(r->xml.data ? r->xml.data : "", r->xml.len, &doc)) != 0) {
        rc = jcs_s3gw_malformed(rc);
        goto out;
    }
    const jcs_s3xml_node *root = jcs_s3xml_root(doc);
    if (strcmp(root->name, "CompleteMultipartUpload") != 0) {
        rc = jcs_s3err_set(JCS_S3E_MalformedXML, "the body must be <CompleteMultipartUpload>");
        goto out;
    }
    for (const jcs_s3xml_node *e = jcs_s3xml_child(root, "Part"); e; e = jcs_s3xml_next(e))
        n++;
    if (n == 0 || n > S3GW_MAX_PARTS) {
        rc = jcs_s3err_set(JCS_S3E_MalformedXML,
                           "CompleteMultipartUpload names 1 to 10000 parts, not %zu", n);
        goto out;
    }
    if (!(want = jcs_calloc(n, sizeof *want)) || !(blocks = jcs_calloc(n, sizeof *blocks)) ||
        !(digests = jcs_malloc(n * 32))) {
        rc = JCS_ENOMEM;
        goto out;
    }
    if ((rc = jcs_s3meta_parts_list(r->svc->db, u.object_id, 0, 0, &parts)) != 0 ||
        (rc = jcs_meta_object_detail(r->svc->db, u.object_id, &det)) != 0)
        goto out;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        rc = JCS_ENOMEM;
        goto out;
    }
    size_t i = 0;
    for (const jcs_s3xml_node *e = jcs_s3xml_child(root, "Part"); e && !rc;
         e = jcs_s3xml_next(e), i++) {
        const jcs_s3xml_node *pn = jcs_s3xml_child(e, "PartNumber");
        const jcs_s3xml_node *et = jcs_s3xml_child(e, "ETag");
        char *end;
        long num = pn ? strtol(pn->text, &end, 10) : 0;
        if (!pn || !et || !pn->text[0] || *end || num < 1 || num > S3GW_MAX_PARTS) {
            rc = jcs_s3err_set(JCS_S3E_MalformedXML,
                               "every <Part> needs a <PartNumber> (1..10000) and an <ETag>");
            break;
        }
        want[i] = (int)num;
        if (i && want[i] <= want[i - 1]) {
            rc = jcs_s3err_set(JCS_S3E_InvalidPartOrder,
                               "The list of parts was not in ascending order (part %d after "
                               "%d).",
                               want[i], want[i - 1]);
            break;
        }
        const jcs_s3meta_part *pp = NULL;
        for (size_t k = 0; k < parts.n && !pp; k++)
            if (parts.v[k].part_number == want[i])
                pp = &parts.v[k];
        const char *t = et->text;
        size_t tl = strlen(t);
        if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"') {
            t++;
            tl -= 2;
        }
        if (!pp || tl != 32 || strncmp(t, pp->etag, 32) != 0) {
            rc = jcs_s3err_set(JCS_S3E_InvalidPart,
                               "Part %d could not be found or its ETag does not match the "
                               "uploaded part's.",
                               want[i]);
            break;
        }
        const jcs_meta_block *blk = NULL;
        for (size_t k = 0; k < det.nblocks && !blk; k++)
            if (det.blocks[k].index == want[i] &&
                strcmp(det.blocks[k].file_hash, pp->file_hash) == 0)
                blk = &det.blocks[k];
        if (!blk) {
            rc = jcs_s3err_set(JCS_S3E_InvalidPart, "Part %d is being replaced; retry", want[i]);
            break;
        }
        blocks[i] = *blk;
        blocks[i].index = (int)i;
        enum jcs_hash_kind kind;
        if ((rc = jcs_hash_parse(pp->file_hash, &kind, digests + 32 * i)) != 0)
            break;
        unsigned char raw[16];
        for (int k = 0; k < 16; k++)
            raw[k] = (unsigned char)(hexval(pp->etag[2 * k]) << 4 | hexval(pp->etag[2 * k + 1]));
        EVP_DigestUpdate(md, raw, 16);
        total += pp->size;
    }
    /* Every part but the last has the minimum size. */
    for (size_t k = 0; !rc && k + 1 < n; k++)
        if (blocks[k].size < (int64_t)S3GW_MIN_PART_SIZE)
            rc = jcs_s3err_set(JCS_S3E_EntityTooSmall,
                               "Your proposed upload is smaller than the minimum allowed object "
                               "size: part %d has %lld bytes, every part but the last needs at "
                               "least 5 MiB.",
                               want[k], (long long)blocks[k].size);
    unsigned char mdv[16];
    unsigned mdl = 0;
    if (EVP_DigestFinal_ex(md, mdv, &mdl) != 1 && !rc)
        rc = JCS_EINTERNAL;
    EVP_MD_CTX_free(md);
    if (rc)
        goto out;
    jcs_s3sum_hex(mdv, 16, etag);
    snprintf(etag + 32, sizeof etag - 32, "-%zu", n);
    char comp[JCS_HASH_SIZE];
    if ((rc = jcs_hash_comp(digests, n, comp)) != 0)
        goto out;
    jcs_buf rb;
    jcs_buf_init(&rb, 16 * (size_t)S3GW_MAX_PARTS + 64);
    rc = jcs_buf_printf(&rb, "{\"type\":\"segment\",\"segments\":[");
    for (size_t k = 0; !rc && k < n; k++)
        rc = jcs_buf_printf(&rb, "%s%lld", k ? "," : "", (long long)blocks[k].size);
    if (!rc)
        rc = jcs_buf_printf(&rb, "]}");
    red = jcs_buf_steal(&rb);
    jcs_buf_clear(&rb);
    if (rc)
        goto out;
    char pkg[256], path[1025];
    int dir;
    if ((rc = jcs_s3gw_key_split(r->gw, r->key, pkg, path, &dir)) != 0 ||
        (rc = jcs_s3gw_package(r, u.bucket_id, pkg, 1, &p)) != 0)
        goto out;
    jcs_meta_upload item = {path, total, comp, red, blocks, n};
    if ((rc = jcs_meta_upload_commit(r->svc->db, p.package_id, &item, 1, &objs)) != 0)
        goto out;
    jcs_s3meta m;
    memset(&m, 0, sizeof m);
    m.object_id = objs.v[0].object_id;
    snprintf(m.file_hash, sizeof m.file_hash, "%s", comp);
    snprintf(m.etag, sizeof m.etag, "%s", etag);
    m.headers = jcs_strdup(u.m.headers ? u.m.headers : "[]");
    int mrc = m.headers ? jcs_s3meta_put(r->svc->db, &m) : JCS_ENOMEM;
    if (mrc)
        jcs_warn("s3: complete %s: object committed, its S3 attributes not: %s", r->resource,
                 jcs_err_msg(mrc));
    jcs_s3meta_clear(&m);
    /* The upload object goes; its shards are the new object's blocks now. */
    int arc = jcs_meta_multipart_abort(r->svc->db, u.object_id);
    if (arc != 0)
        jcs_warn("s3: complete %s: upload object %lld not removed: %s", r->resource,
                 (long long)u.object_id, jcs_err_msg(arc));
    char q[60], loc[1400];
    snprintf(q, sizeof q, "\"%s\"", etag);
    snprintf(loc, sizeof loc, "/%s/%s", r->bucket, r->key);
    jcs_buf x;
    jcs_buf_init(&x, 8192);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &x);
    jcs_s3xml_open_ns(&w, "CompleteMultipartUploadResult");
    jcs_s3xml_elem(&w, "Location", loc);
    jcs_s3xml_elem(&w, "Bucket", r->bucket);
    jcs_s3xml_elem(&w, "Key", r->key);
    jcs_s3xml_elem(&w, "ETag", q);
    jcs_s3xml_close(&w, "CompleteMultipartUploadResult");
    rc = reply_doc(r, &w, &x);
out:
    jcs_meta_objects_clear(&objs);
    jcs_meta_package_clear(&p);
    jcs_free(red);
    jcs_free(digests);
    jcs_free(blocks);
    jcs_free(want);
    jcs_meta_detail_clear(&det);
    jcs_s3meta_parts_free(&parts);
    jcs_s3xml_doc_free(doc);
    jcs_s3meta_clear(&u.m);
    return rc;
}

/* ---- Abort, ListParts, ListMultipartUploads ---- */

int jcs_s3gw_mp_abort(s3req *r)
{
    upload_ref u;
    int rc = find_upload(r, &u);
    if (rc)
        return rc;
    jcs_s3meta_clear(&u.m);
    rc = jcs_meta_multipart_abort(r->svc->db, u.object_id);
    if (rc == JCS_ENOENT || rc == JCS_EINVAL)
        return no_such_upload(jcs_s3gw_query(r, "uploadId"));
    if (rc)
        return rc;
    return jcs_s3gw_reply_empty(r, 204);
}

static void owner(jcs_s3xml *w, const char *name)
{
    jcs_s3xml_open(w, name);
    jcs_s3xml_elem(w, "ID", "jcs");
    jcs_s3xml_elem(w, "DisplayName", "jcs");
    jcs_s3xml_close(w, name);
}

static long int_param(s3req *r, const char *name, long def, long max, int *bad)
{
    const char *v = jcs_s3gw_query(r, name);
    if (!v)
        return def;
    char *e;
    long n = strtol(v, &e, 10);
    if (!*v || *e || n < 0) {
        *bad = jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "%s \"%.40s\" is not a non-negative "
                             "integer",
                             name, v);
        return def;
    }
    return n > max ? max : n;
}

int jcs_s3gw_mp_list_parts(s3req *r)
{
    upload_ref u;
    int rc = find_upload(r, &u);
    if (rc)
        return rc;
    int bad = 0;
    long max = int_param(r, "max-parts", 1000, 1000, &bad);
    long marker = int_param(r, "part-number-marker", 0, S3GW_MAX_PARTS, &bad);
    jcs_s3meta_parts parts;
    memset(&parts, 0, sizeof parts);
    if (bad)
        rc = bad;
    if (!rc)
        rc = jcs_s3meta_parts_list(r->svc->db, u.object_id, (int)marker, (size_t)max + 1, &parts);
    if (rc) {
        jcs_s3meta_clear(&u.m);
        return rc;
    }
    int truncated = parts.n > (size_t)max;
    size_t shown = truncated ? (size_t)max : parts.n;
    jcs_buf x;
    jcs_buf_init(&x, S3GW_REPLY_MAX);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &x);
    jcs_s3xml_open_ns(&w, "ListPartsResult");
    jcs_s3xml_elem(&w, "Bucket", r->bucket);
    jcs_s3xml_elem(&w, "Key", r->key);
    jcs_s3xml_elem(&w, "UploadId", jcs_s3gw_query(r, "uploadId"));
    owner(&w, "Initiator");
    owner(&w, "Owner");
    jcs_s3xml_elem(&w, "StorageClass", "STANDARD");
    jcs_s3xml_elem_int(&w, "PartNumberMarker", marker);
    jcs_s3xml_elem_int(&w, "NextPartNumberMarker",
                       shown ? parts.v[shown - 1].part_number : (long long)marker);
    jcs_s3xml_elem_int(&w, "MaxParts", max);
    jcs_s3xml_elem(&w, "IsTruncated", truncated ? "true" : "false");
    for (size_t i = 0; i < shown; i++) {
        char lm[40], q[40];
        jcs_s3gw_iso_date(parts.v[i].update_ms, lm);
        snprintf(q, sizeof q, "\"%s\"", parts.v[i].etag);
        jcs_s3xml_open(&w, "Part");
        jcs_s3xml_elem_int(&w, "PartNumber", parts.v[i].part_number);
        jcs_s3xml_elem(&w, "LastModified", lm);
        jcs_s3xml_elem(&w, "ETag", q);
        jcs_s3xml_elem_int(&w, "Size", parts.v[i].size);
        jcs_s3xml_close(&w, "Part");
    }
    jcs_s3xml_close(&w, "ListPartsResult");
    jcs_s3meta_parts_free(&parts);
    jcs_s3meta_clear(&u.m);
    return reply_doc(r, &w, &x);
}

int jcs_s3gw_mp_list_uploads(s3req *r)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    int bad = 0;
    long max = int_param(r, "max-uploads", 1000, 1000, &bad);
    const char *prefix = jcs_s3gw_query(r, "prefix");
    const char *km = jcs_s3gw_query(r, "key-marker");
    const char *um = jcs_s3gw_query(r, "upload-id-marker");
    jcs_s3meta_uploads l;
    memset(&l, 0, sizeof l);
    int64_t id_marker = INT64_MAX; /* key-marker alone: uploads of later keys */
    jcs_meta_package p;
    rc = bad ? bad : jcs_s3gw_package(r, b.bucket_id, r->gw->conf.uploads_package, 0, &p);
    int have_pkg = rc == 0;
    if (rc == JCS_ENOENT) {
        jcs_err_clear();
        rc = 0;
    }
    if (!rc && have_pkg && km && um && valid_upload_id(um)) {
        jcs_meta_object o;
        if (jcs_meta_object_get_by_path(r->svc->db, p.package_id, um, &o) == 0) {
            id_marker = o.object_id;
            jcs_meta_object_clear(&o);
        }
        jcs_err_clear();
    }
    if (!km)
        id_marker = 0;
    if (!rc && have_pkg)
        rc = jcs_s3meta_uploads_list(r->svc->db, p.package_id, prefix, km ? km : "", id_marker,
                                     (size_t)max + 1, &l);
    if (have_pkg)
        jcs_meta_package_clear(&p);
    jcs_meta_bucket_clear(&b);
    if (rc)
        return rc;
    int truncated = l.n > (size_t)max;
    size_t shown = truncated ? (size_t)max : l.n;
    jcs_buf x;
    jcs_buf_init(&x, S3GW_REPLY_MAX);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &x);
    jcs_s3xml_open_ns(&w, "ListMultipartUploadsResult");
    jcs_s3xml_elem(&w, "Bucket", r->bucket);
    jcs_s3xml_elem(&w, "KeyMarker", km ? km : "");
    jcs_s3xml_elem(&w, "UploadIdMarker", um ? um : "");
    if (truncated && shown) {
        jcs_s3xml_elem(&w, "NextKeyMarker", l.v[shown - 1].key);
        jcs_s3xml_elem(&w, "NextUploadIdMarker", l.v[shown - 1].token);
    }
    if (prefix)
        jcs_s3xml_elem(&w, "Prefix", prefix);
    jcs_s3xml_elem_int(&w, "MaxUploads", max);
    jcs_s3xml_elem(&w, "IsTruncated", truncated ? "true" : "false");
    for (size_t i = 0; i < shown; i++) {
        char d[40];
        jcs_s3gw_iso_date(l.v[i].create_ms, d);
        jcs_s3xml_open(&w, "Upload");
        jcs_s3xml_elem(&w, "Key", l.v[i].key);
        jcs_s3xml_elem(&w, "UploadId", l.v[i].token);
        owner(&w, "Initiator");
        owner(&w, "Owner");
        jcs_s3xml_elem(&w, "StorageClass", "STANDARD");
        jcs_s3xml_elem(&w, "Initiated", d);
        jcs_s3xml_close(&w, "Upload");
    }
    jcs_s3xml_close(&w, "ListMultipartUploadsResult");
    jcs_s3meta_uploads_free(&l);
    return reply_doc(r, &w, &x);
}
