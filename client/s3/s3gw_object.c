/*
 * client/s3/s3gw_object.c - PutObject, GetObject, HeadObject, DeleteObject,
 * CopyObject.
 *
 * A PUT streams into an upload plan exactly like a REST upload (upload.h):
 * the plan starts before the first body byte, the checked body (s3body.h)
 * feeds it, and only when the body is complete and every check passed is
 * the object committed (one transaction, meta.h), then its S3 attributes
 * recorded. A body that fails or a client that leaves cancels the plan:
 * nothing becomes visible (the orphan shards are the GC's).
 *
 * A copy is a metadata copy: the destination gets the source's blocks
 * (the shards are shared, as jcs_meta_object_clone does), so copying a
 * large object moves no data.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "download.h"
#include "log.h"
#include "s3gw_int.h"
#include "upload.h"
#include "util.h"

#define EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e"

/* ---- looking objects up ---- */

/* The object at an S3 key with its detail and S3 row; NoSuchKey when absent. */
typedef struct found {
    jcs_meta_detail d;
    jcs_s3meta m; /* zeroed when none or stale */
    char etag[90];
} found;

static void found_clear(found *f)
{
    jcs_meta_detail_clear(&f->d);
    jcs_s3meta_clear(&f->m);
}

static int no_such_key(const char *bucket, const char *key)
{
    return jcs_s3err_set(JCS_S3E_NoSuchKey,
                         "The specified key \"%.300s\" does not exist in "
                         "bucket \"%.100s\".",
                         key, bucket);
}

/* f zeroed on entry. JCS_ENOENT-with-NoSuchKey when the key names nothing. */
static int find_object(s3req *r, const char *bucket, const char *key, found *f)
{
    memset(f, 0, sizeof *f);
    char pkg[256], path[1025];
    int dir;
    int rc = jcs_s3gw_key_split(r->gw, key, pkg, path, &dir);
    if (rc)
        return rc;
    jcs_s3meta_found fd;
    memset(&fd, 0, sizeof fd);
    /* One statement reads the object and its S3 row; the object's blocks come with a second.
     * A PUT that commits between the two shows as another FileHash: both are read again. */
    for (int attempt = 0; !rc; attempt++) {
        if ((rc = jcs_s3meta_find(r->svc->db, bucket, pkg, path, &fd)) == JCS_ENOENT) {
            jcs_meta_bucket b;
            jcs_err_clear();
            rc = jcs_s3gw_bucket(r, bucket, &b); /* InvalidBucketName or NoSuchBucket */
            jcs_meta_bucket_clear(&b);
            if (!rc)
                rc = no_such_key(bucket, key); /* the bucket was created meanwhile */
            break;
        }
        if (rc)
            break;
        /* A directory marker, no package or object, or an open REST multipart upload. */
        if (dir || !fd.object_id || !fd.file_hash[0]) {
            rc = no_such_key(bucket, key);
            break;
        }
        if ((rc = jcs_meta_object_blocks(r->svc->db, fd.object_id, &f->d)) == JCS_ENOENT) {
            rc = no_such_key(bucket, key);
            break;
        }
        if (rc || strcmp(f->d.object.file_hash, fd.file_hash) == 0 || attempt == 2)
            break;
        jcs_meta_detail_clear(&f->d);
        jcs_s3meta_clear(&fd.m);
    }
    if (!rc) {
        /* A row of another content (the object was replaced outside S3) is ignored. */
        if (fd.m.object_id && jcs_s3meta_valid(&fd.m, &f->d.object))
            f->m = fd.m;
        else
            jcs_s3meta_clear(&fd.m);
        jcs_s3gw_etag(&f->d.object, f->m.object_id ? &f->m : NULL, f->etag);
    } else {
        jcs_s3meta_clear(&fd.m);
        found_clear(f);
    }
    return rc;
}

static void add_checksum_header(s3req *r, const char *alg, const char *value)
{
    int a = jcs_s3sum_alg_parse(alg);
    if (a && value && value[0])
        jcs_s3gw_add_header(r, jcs_s3sum_header(a), value);
}

static void to_meta_blocks(const jcs_block *b, size_t n, jcs_meta_block *out)
{
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].index = b[i].index;
        out[i].space_id = b[i].space_id;
        snprintf(out[i].file_hash, sizeof out[i].file_hash, "%s", b[i].file_hash);
        out[i].size = b[i].size;
    }
}

/* ---- PUT ---- */

typedef struct put_op {
    int64_t bucket_id;
    int64_t package_id; /* the package found when the PUT began (0: it did not exist) */
    char pkg[256];
    char path[1025];
    int dir_marker;
    jcs_redundancy red;
    char *red_json;
    jcs_upload *up;
    jcs_upload_result res;
} put_op;

static void put_free(void *p)
{
    put_op *op = p;
    if (!op)
        return;
    jcs_upload_free(op->up);
    jcs_free(op->red_json);
    jcs_free(op);
}

static int put_sink(s3req *r, const void *p, size_t n)
{
    put_op *op = r->op;
    if (op->dir_marker)
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "key \"%.200s\" ends in '/': only an empty folder marker for a "
                             "package may",
                             r->key);
    return jcs_upload_write(op->up, p, n);
}

static void put_cancel(s3req *r)
{
    put_op *op = r->op;
    if (op && op->up) {
        jcs_upload_free(op->up);
        op->up = NULL;
    }
    jcs_s3gw_slot_release(r);
}

/* The current object at the destination: its ETag and time, for conditional PUTs. */
static int dest_state(s3req *r, put_op *op, int *exists, char etag[90], int64_t *mtime)
{
    *exists = 0;
    etag[0] = '\0';
    *mtime = 0;
    if (!jcs_s3gw_header(r, "if-match") && !jcs_s3gw_header(r, "if-none-match") &&
        !jcs_s3gw_header(r, "if-modified-since") && !jcs_s3gw_header(r, "if-unmodified-since"))
        return 0;
    found f;
    int rc = find_object(r, r->bucket, r->key, &f);
    if (rc == JCS_ENOENT) {
        jcs_s3err_clear();
        jcs_err_clear();
        return 0;
    }
    if (rc)
        return rc;
    *exists = 1;
    snprintf(etag, 90, "%s", f.etag);
    *mtime = f.d.object.update_ms;
    found_clear(&f);
    (void)op;
    return 0;
}

static int check_put_conditions(s3req *r, put_op *op)
{
    int exists;
    char etag[90];
    int64_t mtime;
    int rc = dest_state(r, op, &exists, etag, &mtime);
    if (!rc)
        rc = jcs_s3gw_conditions(r, "", exists, etag, mtime, 0);
    return rc;
}

/* The S3 row of the object just written, in the upload's transaction (it may run again). */
static int put_s3row(jcs_db_conn *c, const jcs_meta_objects *objs, void *arg)
{
    jcs_s3meta *m = arg;
    m->object_id = objs->v[0].object_id;
    snprintf(m->file_hash, sizeof m->file_hash, "%s", objs->v[0].file_hash);
    return jcs_s3meta_put_in(c, m);
}

static int put_finish(s3req *r)
{
    put_op *op = r->op;
    jcs_meta_package p;
    int rc;
    if (op->dir_marker) {
        /* "pkg/" with an empty body: the package, no object (README). */
        if ((rc = jcs_s3gw_package(r, op->bucket_id, op->pkg, 1, &p)) != 0)
            return rc;
        jcs_meta_package_clear(&p);
        jcs_s3gw_add_header(r, "ETag", "\"" EMPTY_MD5 "\"");
        return jcs_s3gw_reply_empty(r, 200);
    }
    rc = jcs_upload_finish(op->up, &op->res);
    jcs_upload_free(op->up);
    op->up = NULL;
    r->t_plan_end = jcs_now_us();
    jcs_s3gw_slot_release(r);
    if (rc)
        return rc;
    /* An EC object smaller than a strip was stored with a fitted chunk: record that one. */
    if (jcs_red_coded(&op->res.red) && op->res.red.chunk_size != op->red.chunk_size) {
        jcs_free(op->red_json);
        if (!(op->red_json = jcs_client_config_redundancy_json(&op->res.red)))
            return JCS_ENOMEM;
    }
    /* The plan hashed the bytes: Content-MD5 is checked against its MD5. */
    if ((rc = jcs_s3body_check_md5(r->body, op->res.md5)) != 0)
        return rc;
    /* The condition again, just before the commit: the object may have changed meanwhile. */
    if ((rc = check_put_conditions(r, op)) != 0)
        return rc;
    memset(&p, 0, sizeof p);
    p.package_id = op->package_id;
    if (!p.package_id && (rc = jcs_s3gw_package(r, op->bucket_id, op->pkg, 1, &p)) != 0)
        return rc;
    jcs_meta_block *mb = jcs_calloc(op->res.nblocks ? op->res.nblocks : 1, sizeof *mb);
    if (!mb) {
        jcs_meta_package_clear(&p);
        return JCS_ENOMEM;
    }
    to_meta_blocks(op->res.blocks, op->res.nblocks, mb);
    jcs_meta_upload item = {op->path,     op->res.size, op->res.file_hash,
                            op->red_json, mb,           op->res.nblocks};
    jcs_s3meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.etag, sizeof m.etag, "%s", jcs_s3body_md5_hex(r->body));
    m.headers = jcs_s3gw_stored_headers(r);
    const char *sum = NULL;
    int alg = jcs_s3body_checksum(r->body, &sum);
    if (alg && sum) {
        snprintf(m.checksum_alg, sizeof m.checksum_alg, "%s", jcs_s3sum_alg_name(alg));
        snprintf(m.checksum, sizeof m.checksum, "%s", sum);
    }
    jcs_meta_objects objs;
    memset(&objs, 0, sizeof objs);
    /* The object and its S3 row in one transaction: a reader never meets the new content
     * with the old ETag and headers, and a failure leaves neither. */
    rc = m.headers
             ? jcs_meta_upload_commit_then(r->svc->db, p.package_id, &item, 1, &objs, put_s3row, &m)
             : JCS_ENOMEM;
    /* The package found at the start was deleted meanwhile: the PUT creates it, as any PUT. */
    if (rc == JCS_ENOENT && op->package_id) {
        jcs_err_clear();
        if ((rc = jcs_s3gw_package(r, op->bucket_id, op->pkg, 1, &p)) == 0)
            rc = jcs_meta_upload_commit_then(r->svc->db, p.package_id, &item, 1, &objs, put_s3row,
                                             &m);
    }
    jcs_free(mb);
    jcs_meta_package_clear(&p);
    if (rc) {
        jcs_s3meta_clear(&m);
        return rc;
    }
    char etag[90];
    snprintf(etag, sizeof etag, "\"%s\"", m.etag);
    jcs_s3gw_add_header(r, "ETag", etag);
    if (alg && sum)
        add_checksum_header(r, m.checksum_alg, m.checksum);
    jcs_s3meta_clear(&m);
    jcs_meta_objects_clear(&objs);
    return jcs_s3gw_reply_empty(r, 200);
}

int jcs_s3gw_put_object(s3req *r)
{
    put_op *op = jcs_calloc(1, sizeof *op);
    if (!op)
        return JCS_ENOMEM;
    r->op = op;
    r->op_free = put_free;
    r->sink = put_sink;
    r->finish = put_finish;
    r->cancel = put_cancel;
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    op->bucket_id = b.bucket_id;
    jcs_meta_bucket_clear(&b);
    if ((rc = jcs_s3gw_key_split(r->gw, r->key, op->pkg, op->path, &op->dir_marker)) != 0)
        return rc;
    if (op->dir_marker)
        return 0;
    if ((rc = check_put_conditions(r, op)) != 0)
        return rc;
    jcs_meta_package p;
    rc = jcs_s3gw_package(r, op->bucket_id, op->pkg, 0, &p);
    if (rc && rc != JCS_ENOENT)
        return rc;
    if (!rc)
        op->package_id = p.package_id;
    jcs_err_clear();
    rc = jcs_s3gw_package_redundancy(r, rc ? NULL : &p, &op->red, &op->red_json);
    jcs_meta_package_clear(&p);
    if (rc)
        return rc;
    jcs_place_sites sites;
    if ((rc = jcs_s3gw_slot(r)) != 0 ||
        (rc = jcs_s3gw_place(r, jcs_place_red_width(&op->red), &sites)) != 0)
        return rc;
    /* The announced size bounds the object, so a small EC object gets a fitted chunk. */
    uint64_t expect = r->body ? jcs_s3body_expected(r->body) : UINT64_MAX;
    rc = jcs_upload_start(r->svc->driver, &op->red, &sites,
                          expect > INT64_MAX ? -1 : (int64_t)expect, &op->up);
    jcs_place_sites_clear(&sites);
    return rc;
}

/* ---- GET, HEAD ---- */

static ssize_t empty_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)ctx;
    (void)pos;
    (void)buf;
    (void)max;
    return 0;
}

static void empty_done(void *ctx, int completed)
{
    (void)ctx;
    (void)completed;
}

/* A streamed GET's reply: its download, and the transfer slot it holds until it ends. */
typedef struct dl_reply {
    jcs_download_stream *s;
    jcs_s3gw *gw; /* NULL: no slot held */
} dl_reply;

static ssize_t dl_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    return jcs_download_stream_read(((dl_reply *)ctx)->s, buf, max);
}

static void dl_done(void *ctx, int completed)
{
    dl_reply *d = ctx;
    jcs_download_stream_end(d->s, completed);
    if (d->gw)
        jcs_s3gw_slot_put(d->gw);
    jcs_free(d);
}

static int64_t parse_num(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int jcs_s3gw_parse_range(const char *v, int64_t size, int64_t *start, int64_t *len)
{
    if (!v || strncmp(v, "bytes=", 6) != 0 || strchr(v, ','))
        return 0; /* not a single byte range: AWS serves the whole object */
    const char *s = v + 6, *dash = strchr(s, '-');
    if (!dash)
        return 0;
    int64_t a = parse_num(s, (size_t)(dash - s)), b = parse_num(dash + 1, strlen(dash + 1));
    if (dash == s) { /* suffix: the last b bytes */
        if (b < 0)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *start = b >= size ? 0 : size - b;
        *len = size - *start;
        return 1;
    }
    if (a < 0 || (dash[1] && b < 0) || (dash[1] && b < a))
        return 0;
    if (a >= size)
        return -1;
    int64_t last = dash[1] ? (b >= size ? size - 1 : b) : size - 1;
    *start = a;
    *len = last - a + 1;
    return 1;
}

int jcs_s3gw_get_object(s3req *r, int head)
{
    found f;
    int rc = find_object(r, r->bucket, r->key, &f);
    if (rc)
        return rc;
    const jcs_meta_object *o = &f.d.object;
    char lm[40];
    jcs_s3gw_http_date(o->update_ms, lm);
    /* ETag and Last-Modified go on 304s and 412s too. */
    if ((rc = jcs_s3gw_conditions(r, "", 1, f.etag, o->update_ms, 1)) != 0) {
        if (jcs_s3err_take(rc) == JCS_S3E_NotModified) {
            jcs_s3gw_add_header(r, "ETag", f.etag);
            jcs_s3gw_add_header(r, "Last-Modified", lm);
            found_clear(&f);
            return jcs_s3gw_reply_empty(r, 304);
        }
        found_clear(&f);
        return jcs_s3err_set(JCS_S3E_PreconditionFailed,
                             "At least one of the preconditions you specified did not hold.");
    }
    int64_t start = 0, len = o->size;
    int partial = 0;
    char cr[100];
    const char *pn = jcs_s3gw_query(r, "partNumber");
    if (pn) {
        int64_t n = parse_num(pn, strlen(pn));
        if (n < 1 || n > S3GW_MAX_PARTS) {
            found_clear(&f);
            return jcs_s3err_set(JCS_S3E_InvalidArgument,
                                 "Part number must be an integer between 1 and 10000, inclusive");
        }
        jcs_download_red red;
        if ((rc = jcs_download_parse_red(o, &red)) != 0) {
            found_clear(&f);
            return rc;
        }
        size_t nparts = red.segmented ? red.nsegments : 1;
        if ((size_t)n > nparts) {
            jcs_download_red_clear(&red);
            found_clear(&f);
            return jcs_s3err_set(JCS_S3E_InvalidPartNumber,
                                 "The requested partnumber %lld is not satisfiable (%zu parts)",
                                 (long long)n, nparts);
        }
        if (red.segmented) {
            start = 0;
            for (int64_t i = 0; i < n - 1; i++)
                start += red.segments[i];
            len = red.segments[n - 1];
        }
        jcs_download_red_clear(&red);
        char cnt[32];
        snprintf(cnt, sizeof cnt, "%zu", nparts);
        jcs_s3gw_add_header(r, "x-amz-mp-parts-count", cnt);
        partial = 1;
    } else {
        int pr = jcs_s3gw_parse_range(jcs_s3gw_header(r, "range"), o->size, &start, &len);
        if (pr < 0) {
            snprintf(cr, sizeof cr, "bytes */%lld", (long long)o->size);
            jcs_s3gw_add_header(r, "Content-Range", cr);
            found_clear(&f);
            return jcs_s3err_set(JCS_S3E_InvalidRange,
                                 "The requested range is not satisfiable "
                                 "(object of %lld bytes)",
                                 (long long)o->size);
        }
        partial = pr == 1;
    }
    if (partial && len > 0) {
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)start,
                 (long long)(start + len - 1), (long long)o->size);
        jcs_s3gw_add_header(r, "Content-Range", cr);
    }
    jcs_s3gw_add_header(r, "ETag", f.etag);
    jcs_s3gw_add_header(r, "Last-Modified", lm);
    jcs_s3gw_add_header(r, "Accept-Ranges", "bytes");
    int have_ct = 0;
    jcs_s3gw_emit_headers(r, f.m.object_id ? f.m.headers : NULL, &have_ct);
    if (!have_ct)
        jcs_s3gw_add_header(r, "Content-Type", "binary/octet-stream");
    const char *cm = jcs_s3gw_header(r, "x-amz-checksum-mode");
    if (cm && strcasecmp(cm, "ENABLED") == 0 && !partial && f.m.object_id)
        add_checksum_header(r, f.m.checksum_alg, f.m.checksum);
    unsigned status = partial ? 206 : 200;
    if (head || len == 0) {
        found_clear(&f);
        /* HEAD: libmicrohttpd sends the headers with this Content-Length and no body. */
        return jcs_http_reply_stream(r->h, status, (uint64_t)len, empty_read, empty_done, NULL);
    }
    if (len <= JCS_DOWNLOAD_SMALL_MAX) {
        char *buf = jcs_malloc((size_t)len);
        if (!buf) {
            found_clear(&f);
            return JCS_ENOMEM;
        }
        rc = jcs_download_small(r->svc, &f.d, start, len, buf);
        found_clear(&f);
        if (!rc)
            rc = jcs_http_reply_buf(r->h, status, NULL, buf, (size_t)len);
        jcs_free(buf);
        return rc;
    }
    dl_reply *d = jcs_calloc(1, sizeof *d);
    if (!d || (rc = jcs_s3gw_slot(r)) != 0 ||
        (rc = jcs_download_stream_start(r->svc, &f.d, start, len, &d->s)) != 0) {
        found_clear(&f);
        jcs_free(d);
        return d ? rc : JCS_ENOMEM;
    }
    found_clear(&f);
    if (jcs_s3gw_slot_detach(r))
        d->gw = r->gw;
    return jcs_http_reply_stream(r->h, status, (uint64_t)len, dl_read, dl_done, d);
}

/* ---- DELETE ---- */

int jcs_s3gw_delete_object(s3req *r)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    char pkg[256], path[1025];
    int dir;
    rc = jcs_s3gw_key_split(r->gw, r->key, pkg, path, &dir);
    jcs_meta_package p;
    memset(&p, 0, sizeof p);
    if (!rc)
        rc = jcs_s3gw_package(r, b.bucket_id, pkg, 0, &p);
    if (!rc && dir) {
        /* "pkg/": the folder marker goes with the package, while it is empty. */
        jcs_meta_list_query q = {
            .package_id = p.package_id, .path = "", .is_prefix = 1, .max_keys = 1};
        jcs_meta_listing l;
        if ((rc = jcs_meta_object_list_by_path(r->svc->db, &q, &l)) == 0) {
            if (l.objects.n == 0)
                rc = jcs_meta_package_delete(r->svc->db, p.package_id);
            jcs_meta_listing_clear(&l);
        }
    } else if (!rc) {
        rc = jcs_meta_object_delete_by_path(r->svc->db, p.package_id, path);
    }
    jcs_meta_package_clear(&p);
    jcs_meta_bucket_clear(&b);
    if (rc == JCS_ENOENT) { /* deleting nothing succeeds, as on S3 */
        jcs_s3err_clear();
        rc = 0;
    }
    if (rc)
        return rc;
    return jcs_s3gw_reply_empty(r, 204);
}

/* ---- copy ---- */

static int unhex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int jcs_s3gw_copy_source(s3req *r, char **bucket, char **key)
{
    *bucket = *key = NULL;
    const char *v = jcs_s3gw_header(r, "x-amz-copy-source");
    if (!v || !*v)
        return jcs_s3err_set(JCS_S3E_InvalidArgument, "x-amz-copy-source is empty");
    size_t n = strlen(v);
    char *d = jcs_malloc(n + 1);
    if (!d)
        return JCS_ENOMEM;
    size_t j = 0;
    const char *q = strchr(v, '?');
    size_t end = q ? (size_t)(q - v) : n;
    for (size_t i = 0; i < end; i++) {
        if (v[i] == '%' && i + 2 < end + 1 && unhex(v[i + 1]) >= 0 && i + 2 < n &&
            unhex(v[i + 2]) >= 0 && !(v[i + 1] == '0' && v[i + 2] == '0')) {
            d[j++] = (char)(unhex(v[i + 1]) << 4 | unhex(v[i + 2]));
            i += 2;
        } else if (v[i] == '%') {
            jcs_free(d);
            return jcs_s3err_set(JCS_S3E_InvalidArgument,
                                 "x-amz-copy-source: bad percent-encoding");
        } else {
            d[j++] = v[i];
        }
    }
    d[j] = '\0';
    if (q && strncmp(q + 1, "versionId=", 10) == 0 && strcmp(q + 11, "null") != 0) {
        jcs_free(d);
        return jcs_s3err_set(JCS_S3E_NotImplemented, "copying a versionId is not implemented");
    }
    const char *s = d[0] == '/' ? d + 1 : d;
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1]) {
        jcs_free(d);
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "x-amz-copy-source must be /bucket/key (URL-encoded)");
    }
    *bucket = jcs_strndup(s, (size_t)(slash - s));
    *key = jcs_strdup(slash + 1);
    jcs_free(d);
    if (!*bucket || !*key) {
        jcs_free(*bucket);
        jcs_free(*key);
        *bucket = *key = NULL;
        return JCS_ENOMEM;
    }
    return JCS_OK;
}

int jcs_s3gw_copy_find(s3req *r, char **sb, char **sk, jcs_meta_detail *d, jcs_s3meta *m,
                       char etag[90])
{
    int rc = jcs_s3gw_copy_source(r, sb, sk);
    if (rc)
        return rc;
    found f;
    if ((rc = find_object(r, *sb, *sk, &f)) != 0)
        return rc;
    rc = jcs_s3gw_conditions(r, "x-amz-copy-source-", 1, f.etag, f.d.object.update_ms, 0);
    if (rc) {
        found_clear(&f);
        return rc;
    }
    *d = f.d;
    *m = f.m;
    snprintf(etag, 90, "%s", f.etag);
    return JCS_OK;
}

int jcs_s3gw_copy_object(s3req *r)
{
    char *sb = NULL, *sk = NULL;
    jcs_meta_detail d;
    jcs_s3meta sm;
    char setag[90];
    memset(&d, 0, sizeof d);
    memset(&sm, 0, sizeof sm);
    jcs_meta_bucket b;
    memset(&b, 0, sizeof b);
    jcs_meta_package p;
    memset(&p, 0, sizeof p);
    jcs_meta_block *mb = NULL;
    jcs_meta_objects objs;
    memset(&objs, 0, sizeof objs);
    char *headers = NULL;
    char pkg[256], path[1025];
    int dir;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (!rc && (rc = jcs_s3gw_key_split(r->gw, r->key, pkg, path, &dir)) == 0 && dir)
        rc = jcs_s3err_set(JCS_S3E_InvalidArgument, "cannot copy onto a folder marker");
    if (!rc)
        rc = jcs_s3gw_copy_find(r, &sb, &sk, &d, &sm, setag);
    const char *dir_h = jcs_s3gw_header(r, "x-amz-metadata-directive");
    int replace = dir_h && strcasecmp(dir_h, "REPLACE") == 0;
    if (!rc && dir_h && !replace && strcasecmp(dir_h, "COPY") != 0)
        rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                           "x-amz-metadata-directive must be COPY or REPLACE");
    if (!rc && !replace && strcmp(sb, r->bucket) == 0 && strcmp(sk, r->key) == 0)
        rc = jcs_s3err_set(JCS_S3E_InvalidRequest,
                           "This copy request is illegal because it is trying to copy an object "
                           "to itself without changing the object's metadata, storage class, "
                           "website redirect location or encryption attributes.");
    if (!rc)
        rc = jcs_s3gw_package(r, b.bucket_id, pkg, 1, &p);
    if (!rc && !(mb = jcs_calloc(d.nblocks ? d.nblocks : 1, sizeof *mb)))
        rc = JCS_ENOMEM;
    if (!rc) {
        if (d.nblocks)
            memcpy(mb, d.blocks, d.nblocks * sizeof *mb);
        jcs_meta_upload item = {path, d.object.size, d.object.file_hash, d.object.redundancy,
                                mb,   d.nblocks};
        rc = jcs_meta_upload_commit(r->svc->db, p.package_id, &item, 1, &objs);
    }
    if (!rc) {
        jcs_s3meta m;
        memset(&m, 0, sizeof m);
        m.object_id = objs.v[0].object_id;
        snprintf(m.file_hash, sizeof m.file_hash, "%s", objs.v[0].file_hash);
        /* The ETag stays the source's (without its quotes). */
        snprintf(m.etag, sizeof m.etag, "%.*s", (int)strlen(setag) - 2, setag + 1);
        if (replace) {
            m.headers = jcs_s3gw_stored_headers(r);
        } else {
            m.headers = jcs_strdup(sm.object_id && sm.headers ? sm.headers : "[]");
            snprintf(m.checksum_alg, sizeof m.checksum_alg, "%s", sm.checksum_alg);
            snprintf(m.checksum, sizeof m.checksum, "%s", sm.checksum);
        }
        int mrc = m.headers ? jcs_s3meta_put(r->svc->db, &m) : JCS_ENOMEM;
        if (mrc)
            jcs_warn("s3: copy to %s: object committed, its S3 attributes not: %s", r->resource,
                     jcs_err_msg(mrc));
        jcs_s3meta_clear(&m);
        char lm[40];
        jcs_s3gw_iso_date(objs.v[0].update_ms, lm);
        jcs_buf x;
        jcs_buf_init(&x, 4096);
        jcs_s3xml w;
        jcs_s3xml_init(&w, &x);
        jcs_s3xml_open_ns(&w, "CopyObjectResult");
        jcs_s3xml_elem(&w, "LastModified", lm);
        jcs_s3xml_elem(&w, "ETag", setag);
        jcs_s3xml_close(&w, "CopyObjectResult");
        rc = jcs_s3xml_finish(&w);
        if (!rc)
            rc = jcs_s3gw_reply_xml(r, 200, &x);
        jcs_buf_clear(&x);
    }
    (void)headers;
    jcs_meta_objects_clear(&objs);
    jcs_free(mb);
    jcs_meta_package_clear(&p);
    jcs_meta_bucket_clear(&b);
    jcs_meta_detail_clear(&d);
    jcs_s3meta_clear(&sm);
    jcs_free(sb);
    jcs_free(sk);
    return rc;
}

/* ---- tagging ---- */

int jcs_s3gw_get_tagging(s3req *r)
{
    found f;
    int rc = find_object(r, r->bucket, r->key, &f);
    if (rc)
        return rc;
    found_clear(&f);
    jcs_buf x;
    jcs_buf_init(&x, 1024);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &x);
    jcs_s3xml_open_ns(&w, "Tagging");
    jcs_s3xml_open(&w, "TagSet");
    jcs_s3xml_close(&w, "TagSet");
    jcs_s3xml_close(&w, "Tagging");
    rc = jcs_s3xml_finish(&w);
    if (!rc)
        rc = jcs_s3gw_reply_xml(r, 200, &x);
    jcs_buf_clear(&x);
    return rc;
}
