/*
 * REST handlers: objects (API.md "Objects").
 *
 * Uploads stream: each `files` part of a multipart body runs its own plan
 * (upload.h) while its bytes arrive, the metadata of every file of the
 * request is committed in one transaction after the body ended, so a
 * request that fails anywhere (a bad part, a plan error, a truncated body,
 * a client that left) makes nothing visible; shards already written are
 * orphans for ShardStoreGC. Downloads stream the other way (download.h):
 * the plan runs on a thread of its own into a bounded pipe the reply pulls
 * from.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "download.h"
#include "log.h"
#include "s3meta.h"
#include "upload.h"

/* ---- helpers ----------------------------------------------------------------------------------
 */

/* A required positive id query parameter, 404-free: a malformed one is 400. */
static int query_id(jcs_http_req *req, const char *name, int64_t *out)
{
    return jcs_http_query_int(req, name, 1, 0, 1, INT64_MAX, out);
}

/* The redundancy an object of this package gets when the request names none. */
static int package_redundancy(const jcs_meta_package *p, jcs_redundancy *out)
{
    memset(out, 0, sizeof *out);
    out->type = JCS_RED_NONE;
    if (!p->redundancy)
        return 0;
    json_t *v = json_loads(p->redundancy, 0, NULL);
    if (!v || json_is_null(v)) {
        json_decref(v);
        return 0;
    }
    int rc = jcs_client_config_redundancy_parse(v, "package redundancy", out);
    json_decref(v);
    return rc;
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

/* Places width targets for new blocks: on the given spaces when ids is not NULL, else by
 * jcs_place_choose with affinity. */
static int place(jcs_svc *svc, size_t width, int64_t affinity, const jcs_meta_ids *ids,
                 jcs_place_sites *out)
{
    jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
    int rc;
    if (ids && ids->n > 0) {
        if (ids->n < width) {
            rc = jcs_err_set(JCS_EINVAL,
                             "field userSpaceIDs: the redundancy needs %zu user spaces, %zu given",
                             width, ids->n);
        } else {
            rc = jcs_place_sites_for(svc, snap, ids->v, width, out);
            for (size_t i = 0; rc == 0 && i < width; i++) {
                for (size_t j = 0; j < i && rc == 0; j++)
                    if (ids->v[i] == ids->v[j])
                        rc = jcs_err_set(JCS_EINVAL, "field userSpaceIDs: user space %lld twice",
                                         (long long)ids->v[i]);
                if (rc == 0 && !out->sites[i].hub)
                    rc = jcs_err_set(JCS_EUNAVAIL, "user space %lld: its hub is offline",
                                     (long long)ids->v[i]);
            }
            if (rc)
                jcs_place_sites_clear(out);
        }
    } else {
        rc = jcs_place_choose(svc, snap, width, affinity, out);
    }
    jcs_topo_snap_release(snap);
    return rc;
}

static int object_is_multipart(const jcs_meta_object *o)
{
    json_t *v = json_loads(o->redundancy ? o->redundancy : "", 0, NULL);
    const char *t = json_string_value(json_object_get(v, "type"));
    int is = t && strcmp(t, "multipartUpload") == 0;
    json_decref(v);
    return is;
}

/* An optional non-negative id field (0 when absent). */
static int get_opt_id(const json_t *o, const char *field, int64_t *out)
{
    json_t *v = json_object_get(o, field);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return jcs_err_set(JCS_EINVAL, "field %s: must be a positive integer", field);
    *out = json_integer_value(v);
    return 0;
}

/* A required array field of objects, at most JCS_META_BATCH_MAX. */
static int get_items(const json_t *b, const char *field, json_t **out)
{
    json_t *a = json_object_get(b, field);
    if (!a || json_is_null(a))
        return jcs_err_set(JCS_EINVAL, "field %s: required", field);
    if (!json_is_array(a))
        return jcs_err_set(JCS_EINVAL, "field %s: must be an array", field);
    if (json_array_size(a) > JCS_META_BATCH_MAX)
        return jcs_err_set(JCS_EINVAL, "field %s: %zu items, at most %d in one request", field,
                           json_array_size(a), JCS_META_BATCH_MAX);
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!json_is_object(json_array_get(a, i)))
            return jcs_err_set(JCS_EINVAL, "field %s[%zu]: must be an object", field, i);
    *out = a;
    return 0;
}

/* Prefixes the detail of rc with "field[i]." context. */
static int item_err(int rc, const char *field, size_t i)
{
    return jcs_err_wrap(rc, "%s[%zu].", field, i);
}

static json_t *ids_json(const jcs_meta_ids *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        if (json_array_append_new(a, json_integer(l->v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- upload ---------------------------------------------------------------------------------- */

enum up_stage { UP_WANT_INFO, UP_IN_INFO, UP_READY, UP_IN_FILE };

typedef struct up_file {
    char *path;
    char *red_json; /* as stored (an EC chunk size fitted to the file); NULL: the request's */
    char hash[JCS_HASH_SIZE];
    unsigned char md5[16];
    int has_md5;
    int64_t size;
    jcs_meta_block *blocks;
    size_t nblocks;
} up_file;

typedef struct up_ctx {
    jcs_svc *svc;
    enum up_stage stage;
    jcs_buf info;
    int64_t package_id, affinity;
    jcs_redundancy red;
    char *red_json;
    up_file *files;
    size_t nfiles, cap;
    jcs_upload *cur;
    jcs_upload_result *res; /* scratch for the file that just ended */
} up_ctx;

static void up_free(void *p)
{
    up_ctx *c = p;
    if (!c)
        return;
    jcs_upload_free(c->cur);
    for (size_t i = 0; i < c->nfiles; i++) {
        jcs_free(c->files[i].path);
        jcs_free(c->files[i].red_json);
        jcs_free(c->files[i].blocks);
    }
    jcs_free(c->files);
    jcs_free(c->red_json);
    jcs_free(c->res);
    jcs_buf_clear(&c->info);
    jcs_free(c);
}

/*
 * A bound on the size of the file that starts now: the request body's announced length less
 * the files already stored from it (the multipart framing makes it a little more than the
 * file), so an EC plan can fit its chunk size to a file smaller than one strip. -1 when the
 * body's length is not announced.
 */
static int64_t body_bound(jcs_http_req *req, const up_ctx *c)
{
    const char *cl = jcs_http_header(req, "Content-Length");
    char *end;
    if (!cl || !*cl)
        return -1;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (*end || errno || v > INT64_MAX)
        return -1;
    int64_t left = (int64_t)v;
    for (size_t i = 0; i + 1 < c->nfiles; i++)
        left -= c->files[i].size;
    return left;
}

static int up_begin(jcs_http_req *req)
{
    up_ctx *c = jcs_calloc(1, sizeof *c);
    if (!c)
        return JCS_ENOMEM;
    c->svc = jcs_api_svc(req);
    jcs_buf_init(&c->info, (size_t)c->svc->cfg->http.max_body_size);
    jcs_http_req_set_ctx(req, c, up_free);
    return 0;
}

static int up_info_end(up_ctx *c)
{
    json_error_t je;
    json_t *o = json_loadb(c->info.data ? c->info.data : "", c->info.len, 0, &je);
    if (!o)
        return jcs_err_set(JCS_EINVAL, "part info: malformed JSON at line %d column %d: %s",
                           je.line, je.column, je.text);
    int given = 0, rc;
    jcs_redundancy red;
    if (!json_is_object(o))
        rc = jcs_err_set(JCS_EINVAL, "part info: must be a JSON object");
    else if ((rc = jcs_api_get_id(o, "packageID", &c->package_id)) == 0 &&
             (rc = get_opt_id(o, "affinity", &c->affinity)) == 0)
        rc = jcs_api_get_redundancy(o, "redundancy", &red, &given);
    json_decref(o);
    if (rc)
        return jcs_err_wrap(rc, "part info: ");
    jcs_meta_package p;
    if ((rc = jcs_meta_package_get_cached(c->svc->pkgs, c->svc->db, c->package_id, &p)) != 0)
        return rc;
    if (!given)
        rc = package_redundancy(&p, &red);
    jcs_meta_package_clear(&p);
    if (rc)
        return rc;
    c->red = red;
    if (!(c->red_json = jcs_client_config_redundancy_json(&c->red)))
        return JCS_ENOMEM;
    c->stage = UP_READY;
    return 0;
}

static int up_file_begin(up_ctx *c, jcs_http_req *req, const jcs_http_part *part)
{
    if (c->stage != UP_READY)
        return jcs_err_set(JCS_EINVAL, "multipart body: the info part must come before the "
                                       "files parts");
    if (!part->filename || !part->filename[0])
        return jcs_err_set(JCS_EINVAL, "part %u (files): a filename (the object path) is required",
                           part->index);
    char dec[JCS_META_PATH_MAX * 4 + 1], path[JCS_META_PATH_MAX + 1];
    int rc = jcs_http_url_decode(part->filename, dec, sizeof dec);
    if (rc == JCS_ETOOBIG)
        return jcs_err_set(JCS_EINVAL, "part %u (files): filename longer than %d bytes",
                           part->index, JCS_META_PATH_MAX);
    if (rc)
        return jcs_err_wrap(jcs_err_recode(rc, JCS_EINVAL),
                            "part %u (files): filename: ", part->index);
    if ((rc = jcs_api_norm_path("filename", dec, 0, path)) != 0)
        return jcs_err_wrap(rc, "part %u (files): ", part->index);
    for (size_t i = 0; i < c->nfiles; i++)
        if (strcmp(c->files[i].path, path) == 0)
            return jcs_err_set(JCS_EEXIST, "path \"%s\" appears twice in the request", path);
    if (c->nfiles == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        up_file *nf = jcs_realloc(c->files, ncap * sizeof *nf);
        if (!nf)
            return JCS_ENOMEM;
        c->files = nf;
        c->cap = ncap;
    }
    up_file *f = &c->files[c->nfiles];
    memset(f, 0, sizeof *f);
    if (!(f->path = jcs_strdup(path)))
        return JCS_ENOMEM;
    c->nfiles++;
    jcs_place_sites sites;
    if ((rc = place(c->svc, jcs_place_red_width(&c->red), c->affinity, NULL, &sites)) != 0)
        return rc;
    rc = jcs_upload_start(c->svc->driver, &c->red, &sites, body_bound(req, c), &c->cur);
    jcs_place_sites_clear(&sites);
    if (rc)
        return rc;
    /* The S3 ETag of a large object is not worth its MD5 here (README, the S3 gateway). */
    jcs_upload_md5_small_only(c->cur);
    c->stage = UP_IN_FILE;
    return 0;
}

static int up_part_begin(jcs_http_req *req, const jcs_http_part *part)
{
    up_ctx *c = jcs_http_req_ctx(req);
    if (strcmp(part->name, "info") == 0) {
        if (c->stage != UP_WANT_INFO)
            return jcs_err_set(JCS_EINVAL, "multipart body: a second info part (part %u)",
                               part->index);
        c->stage = UP_IN_INFO;
        return 0;
    }
    if (strcmp(part->name, "files") == 0)
        return up_file_begin(c, req, part);
    return jcs_err_set(JCS_EINVAL, "multipart body: unknown part \"%s\" (expected info or files)",
                       part->name);
}

static int up_data(jcs_http_req *req, const void *p, size_t n)
{
    up_ctx *c = jcs_http_req_ctx(req);
    if (c->stage == UP_IN_INFO) {
        int rc = jcs_buf_append(&c->info, p, n);
        if (rc == JCS_ETOOBIG)
            return jcs_err_set(JCS_ETOOBIG, "part info: over %zu bytes (http.maxBodySize)",
                               c->info.cap);
        return rc;
    }
    if (c->stage == UP_IN_FILE)
        return jcs_upload_write(c->cur, p, n);
    return 0;
}

static int up_part_end(jcs_http_req *req)
{
    up_ctx *c = jcs_http_req_ctx(req);
    if (c->stage == UP_IN_INFO)
        return up_info_end(c);
    if (c->stage != UP_IN_FILE)
        return 0;
    if (!c->res && !(c->res = jcs_malloc(sizeof *c->res)))
        return JCS_ENOMEM;
    int rc = jcs_upload_finish(c->cur, c->res);
    jcs_upload_free(c->cur);
    c->cur = NULL;
    if (rc)
        return jcs_err_wrap(rc, "file \"%s\": ", c->files[c->nfiles - 1].path);
    up_file *f = &c->files[c->nfiles - 1];
    f->blocks = jcs_calloc(c->res->nblocks ? c->res->nblocks : 1, sizeof *f->blocks);
    if (!f->blocks)
        return JCS_ENOMEM;
    to_meta_blocks(c->res->blocks, c->res->nblocks, f->blocks);
    f->nblocks = c->res->nblocks;
    f->size = c->res->size;
    if (jcs_red_coded(&c->res->red) && c->res->red.chunk_size != c->red.chunk_size &&
        !(f->red_json = jcs_client_config_redundancy_json(&c->res->red)))
        return JCS_ENOMEM;
    memcpy(f->md5, c->res->md5, sizeof f->md5);
    f->has_md5 = c->res->has_md5;
    snprintf(f->hash, sizeof f->hash, "%s", c->res->file_hash);
    c->stage = UP_READY;
    return 0;
}

static void up_abort(jcs_http_req *req, int why)
{
    up_ctx *c = jcs_http_req_ctx(req);
    if (!c)
        return;
    if (c->cur)
        jcs_info("upload: request ended early (%s); cancelling the upload of \"%s\"",
                 jcs_err_name(why), c->files[c->nfiles - 1].path);
    jcs_upload_free(c->cur);
    c->cur = NULL;
}

/*
 * The S3 gateway's ETag of each object, the MD5 of its bytes (README, the S3 gateway), in the
 * upload's own transaction: one commit per upload.
 */
static int put_etags(jcs_db_conn *conn, const jcs_meta_objects *objs, void *arg)
{
    const up_ctx *c = arg;
    for (size_t i = 0; i < objs->n && i < c->nfiles; i++) {
        jcs_s3meta m;
        memset(&m, 0, sizeof m);
        m.object_id = objs->v[i].object_id;
        snprintf(m.file_hash, sizeof m.file_hash, "%s", objs->v[i].file_hash);
        /* Without an MD5 (a large REST upload, perf) the row still records that the object
         * was replaced; the gateway then answers the "<sha256 prefix>-1" ETag. */
        for (int k = 0; k < 16 && c->files[i].has_md5; k++)
            snprintf(m.etag + 2 * k, 3, "%02x", c->files[i].md5[k]);
        int rc = jcs_s3meta_put_in(conn, &m);
        if (rc)
            return jcs_err_wrap(rc, "S3 attributes of object %lld: ", (long long)m.object_id);
    }
    return 0;
}

static int up_handle(jcs_http_req *req)
{
    up_ctx *c = jcs_http_req_ctx(req);
    if (c->stage == UP_WANT_INFO || c->stage == UP_IN_INFO)
        return jcs_err_set(JCS_EINVAL, "multipart body: the info part is required");
    jcs_meta_upload *items = jcs_calloc(c->nfiles ? c->nfiles : 1, sizeof *items);
    if (!items)
        return JCS_ENOMEM;
    for (size_t i = 0; i < c->nfiles; i++) {
        items[i].path = c->files[i].path;
        items[i].size = c->files[i].size;
        items[i].file_hash = c->files[i].hash;
        items[i].redundancy = c->files[i].red_json ? c->files[i].red_json : c->red_json;
        items[i].blocks = c->files[i].blocks;
        items[i].nblocks = c->files[i].nblocks;
    }
    jcs_meta_objects objs;
    memset(&objs, 0, sizeof objs);
    int rc = 0;
    if (c->nfiles > 0)
        rc = jcs_meta_upload_commit_then(c->svc->db, c->package_id, items, c->nfiles, &objs,
                                         put_etags, c);
    jcs_free(items);
    if (rc)
        return rc;
    rc = jcs_api_reply_one(req, "uploadeds", jcs_api_objects_json(&objs));
    jcs_meta_objects_clear(&objs);
    return rc;
}

/* ---- download -------------------------------------------------------------------------------- */

/* Percent-escapes everything but unreserved characters (RFC 3986), as Go's url.PathEscape. */
static void escape_name(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < outlen; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

/* Parses a non-negative decimal; -1 when malformed. */
static int64_t parse_u(const char *s, size_t n)
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

static int unsatisfiable(jcs_http_req *req, int64_t size, const char *why)
{
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
    if (jcs_http_add_header(req, "Content-Range", cr) != 0)
        return JCS_EINTERNAL;
    return jcs_http_reply_err(req, 416, "BadArgument",
                              "range not satisfiable: %s (object size %lld)", why, (long long)size);
}

/* Resolves offset/length and Range into [*start, *start + *len). 1 when the reply is already
 * sent (416), 0 to go on, or an error. *partial is set for a Range header. */
static int resolve_range(jcs_http_req *req, int64_t size, int64_t *start, int64_t *len,
                         int *partial)
{
    int64_t off, length;
    int rc;
    *partial = 0;
    if ((rc = jcs_http_query_int(req, "offset", 0, 0, 0, INT64_MAX, &off)) ||
        (rc = jcs_http_query_int(req, "length", 0, -1, -1, INT64_MAX, &length)))
        return rc;
    if (off > size) {
        rc = unsatisfiable(req, size, "offset past the end");
        return rc ? rc : 1;
    }
    *start = off;
    *len = length < 0 || length > size - off ? size - off : length;
    const char *r = jcs_http_header(req, "Range");
    if (!r)
        return 0;
    /* Two ways to ask for a part are one too many: which one was meant is a guess. */
    const char *qo = NULL, *ql = NULL;
    if ((jcs_http_query(req, "offset", &qo) == 0 && qo) ||
        (jcs_http_query(req, "length", &ql) == 0 && ql))
        return jcs_err_set(JCS_EINVAL, "header Range and query offset/length together: use one "
                                       "of them");
    /* RFC 9110 14.2: a Range the server does not support (another unit, several ranges) or
     * cannot parse is ignored, and the whole object is sent (200); only a valid range that
     * the object cannot satisfy is refused (416). */
    if (strncmp(r, "bytes=", 6) != 0)
        return 0;
    r += 6;
    while (*r == ' ')
        r++;
    if (strchr(r, ','))
        return 0;
    const char *dash = strchr(r, '-');
    if (!dash)
        return 0;
    int64_t a = dash == r ? -2 : parse_u(r, (size_t)(dash - r));
    int64_t b = dash[1] ? parse_u(dash + 1, strlen(dash + 1)) : -2;
    if (a == -1 || b == -1 || (a == -2 && b == -2) || (a >= 0 && b >= 0 && b < a))
        return 0;
    int64_t first, last;
    if (a == -2) { /* the last b bytes */
        if (b == 0 || size == 0) {
            rc = unsatisfiable(req, size, "empty suffix");
            return rc ? rc : 1;
        }
        first = b >= size ? 0 : size - b;
        last = size - 1;
    } else {
        if (a >= size) {
            rc = unsatisfiable(req, size, "first byte past the end");
            return rc ? rc : 1;
        }
        first = a;
        last = b == -2 || b >= size ? size - 1 : b;
    }
    *start = first;
    *len = last - first + 1;
    *partial = 1;
    return 0;
}

static ssize_t dl_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    return jcs_download_stream_read(ctx, buf, max);
}

static void dl_done(void *ctx, int completed)
{
    jcs_download_stream_end(ctx, completed);
}

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

/* A small reply body already in memory. */
typedef struct membody {
    size_t len;
    unsigned char data[];
} membody;

static ssize_t mem_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    membody *mb = ctx;
    if (pos >= mb->len)
        return 0;
    size_t n = mb->len - (size_t)pos < max ? mb->len - (size_t)pos : max;
    memcpy(buf, mb->data + pos, n);
    return (ssize_t)n;
}

static void mem_done(void *ctx, int completed)
{
    (void)completed;
    jcs_free(ctx);
}

static int download(jcs_http_req *req, jcs_meta_detail *d)
{
    jcs_svc *svc = jcs_api_svc(req);
    jcs_download_red r;
    int rc = jcs_download_parse_red(&d->object, &r);
    jcs_download_red_clear(&r);
    if (rc)
        return rc;
    int64_t start = 0, len = 0;
    int partial;
    if ((rc = resolve_range(req, d->object.size, &start, &len, &partial)) != 0)
        return rc == 1 ? 0 : rc;
    const char *base = strrchr(d->object.path, '/');
    base = base ? base + 1 : d->object.path;
    char esc[JCS_META_PATH_MAX * 3 + 1], disp[sizeof esc + 32], cr[96];
    escape_name(base, esc, sizeof esc);
    snprintf(disp, sizeof disp, "attachment; filename=%s", esc);
    if ((rc = jcs_http_add_header(req, "Content-Type", "application/octet-stream")) ||
        (rc = jcs_http_add_header(req, "Content-Disposition", disp)) ||
        (rc = jcs_http_add_header(req, "Accept-Ranges", "bytes")))
        return rc;
    if (partial) {
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)start,
                 (long long)(start + len - 1), (long long)d->object.size);
        if ((rc = jcs_http_add_header(req, "Content-Range", cr)) != 0)
            return rc;
    }
    unsigned status = partial ? 206 : 200;
    if (len == 0)
        return jcs_http_reply_stream(req, status, 0, empty_read, empty_done, NULL);
    if (len <= JCS_DOWNLOAD_SMALL_MAX) {
        /* Small: read on this thread into memory, then send from there. */
        membody *mb = jcs_malloc(sizeof *mb + (size_t)len);
        if (!mb)
            return JCS_ENOMEM;
        mb->len = (size_t)len;
        if ((rc = jcs_download_small(svc, d, start, len, mb->data)) != 0) {
            jcs_free(mb);
            return rc;
        }
        return jcs_http_reply_stream(req, status, (uint64_t)len, mem_read, mem_done, mb);
    }
    jcs_download_stream *s;
    if ((rc = jcs_download_stream_start(svc, d, start, len, &s)) != 0)
        return rc;
    return jcs_http_reply_stream(req, status, (uint64_t)len, dl_read, dl_done, s);
}

static int object_download(jcs_http_req *req)
{
    int64_t id;
    int rc;
    if ((rc = query_id(req, "objectID", &id)) != 0)
        return rc;
    jcs_meta_detail d;
    /* A download needs the blocks, not the pins: one statement. */
    if ((rc = jcs_meta_object_blocks(jcs_api_svc(req)->db, id, &d)) != 0)
        return rc;
    rc = download(req, &d);
    jcs_meta_detail_clear(&d);
    return rc;
}

/* A required path query parameter, normalized. */
static int query_path(jcs_http_req *req, int allow_dir, char out[JCS_META_PATH_MAX + 1])
{
    const char *p;
    int rc = jcs_http_query(req, "path", &p);
    if (rc == JCS_ENOENT)
        return jcs_err_set(JCS_EINVAL, "query parameter path is required");
    if (rc)
        return rc;
    return jcs_api_norm_path("query parameter path", p, allow_dir, out);
}

static int object_download_by_path(jcs_http_req *req)
{
    int64_t pkg;
    char path[JCS_META_PATH_MAX + 1];
    int rc;
    if ((rc = query_id(req, "packageID", &pkg)) || (rc = query_path(req, 0, path)))
        return rc;
    jcs_svc *svc = jcs_api_svc(req);
    jcs_meta_object o;
    if ((rc = jcs_meta_object_get_by_path(svc->db, pkg, path, &o)) != 0)
        return rc;
    jcs_meta_detail d;
    rc = jcs_meta_object_blocks(svc->db, o.object_id, &d);
    jcs_meta_object_clear(&o);
    if (rc)
        return rc;
    rc = download(req, &d);
    jcs_meta_detail_clear(&d);
    return rc;
}

/* ---- listings and metadata ------------------------------------------------------------------- */

static int object_list_by_path(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    int64_t pkg, max_keys;
    int is_prefix, no_rec, rc;
    const char *token = NULL;
    char path[JCS_META_PATH_MAX + 1];
    if ((rc = query_id(req, "packageID", &pkg)) ||
        (rc = jcs_http_query_bool(req, "isPrefix", 0, &is_prefix)) ||
        (rc = jcs_http_query_bool(req, "noRecursive", 0, &no_rec)) ||
        (rc = jcs_http_query_int(req, "maxKeys", 0, 0, 1, JCS_META_MAX_KEYS, &max_keys)))
        return rc;
    rc = jcs_http_query(req, "path", &token);
    if (rc == JCS_ENOENT && is_prefix)
        path[0] = '\0';
    else if (rc == JCS_ENOENT)
        return jcs_err_set(JCS_EINVAL, "query parameter path is required (or isPrefix=true)");
    else if (rc)
        return rc;
    else if ((rc = jcs_api_norm_path("query parameter path", token, is_prefix, path)) != 0)
        return rc;
    token = NULL;
    rc = jcs_http_query(req, "continuationToken", &token);
    if (rc && rc != JCS_ENOENT)
        return rc;
    jcs_meta_package p;
    if ((rc = jcs_meta_package_get(svc->db, pkg, &p)) != 0)
        return rc;
    jcs_meta_package_clear(&p);
    jcs_meta_list_query q = {.package_id = pkg,
                             .path = path,
                             .is_prefix = is_prefix,
                             .no_recursive = no_rec,
                             .max_keys = (int)max_keys,
                             .continuation_token = token};
    jcs_meta_listing l;
    if ((rc = jcs_meta_object_list_by_path(svc->db, &q, &l)) != 0)
        return rc;
    json_t *objs = jcs_api_objects_json(&l.objects), *pre = json_array(), *d = json_object();
    int bad = !objs || !pre || !d;
    for (size_t i = 0; !bad && i < l.nprefixes; i++)
        bad = json_array_append_new(pre, json_string(l.prefixes[i])) != 0;
    if (!bad)
        bad = json_object_set_new(d, "objects", objs) ||
              json_object_set_new(d, "commonPrefixes", pre) ||
              json_object_set_new(d, "isTruncated", json_boolean(l.next_token != NULL)) ||
              (l.next_token &&
               json_object_set_new(d, "nextContinuationToken", json_string(l.next_token)));
    else {
        json_decref(objs);
        json_decref(pre);
    }
    jcs_meta_listing_clear(&l);
    if (bad) {
        json_decref(d);
        return JCS_ENOMEM;
    }
    return jcs_http_reply_ok(req, d);
}

/* Replies {"objects": [...]} and frees l. */
static int reply_objects(jcs_http_req *req, jcs_meta_objects *l)
{
    int rc = jcs_api_reply_one(req, "objects", jcs_api_objects_json(l));
    jcs_meta_objects_clear(l);
    return rc;
}

static int object_list_by_ids(jcs_http_req *req)
{
    json_t *b;
    jcs_meta_ids ids;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_ids(b, "objectIDs", &ids)))
        return rc;
    jcs_meta_objects l;
    rc = jcs_meta_object_list_by_ids(jcs_api_svc(req)->db, ids.v, ids.n, &l);
    jcs_meta_ids_clear(&ids);
    if (rc)
        return rc;
    return reply_objects(req, &l);
}

static int object_package_objects(jcs_http_req *req)
{
    int64_t pkg;
    int rc;
    if ((rc = query_id(req, "packageID", &pkg)) != 0)
        return rc;
    jcs_meta_objects l;
    if ((rc = jcs_meta_package_objects(jcs_api_svc(req)->db, pkg, &l)) != 0)
        return rc;
    return reply_objects(req, &l);
}

static int object_detail(jcs_http_req *req)
{
    int64_t id;
    int rc;
    if ((rc = query_id(req, "objectID", &id)) != 0)
        return rc;
    jcs_meta_detail d;
    if ((rc = jcs_meta_object_detail(jcs_api_svc(req)->db, id, &d)) != 0)
        return rc;
    json_t *blocks = json_array(), *pinned = json_array();
    for (size_t i = 0; blocks && i < d.nblocks; i++) {
        char size[24];
        snprintf(size, sizeof size, "%lld", (long long)d.blocks[i].size);
        if (json_array_append_new(blocks, json_pack("{si sI ss ss}", "index", d.blocks[i].index,
                                                    "userSpaceID", (json_int_t)d.blocks[i].space_id,
                                                    "fileHash", d.blocks[i].file_hash, "size",
                                                    size)) != 0) {
            json_decref(blocks);
            blocks = NULL;
        }
    }
    for (size_t i = 0; pinned && i < d.npinned; i++)
        if (json_array_append_new(pinned, json_integer(d.pinned[i])) != 0) {
            json_decref(pinned);
            pinned = NULL;
        }
    json_t *obj = jcs_api_object_json(&d.object);
    jcs_meta_detail_clear(&d);
    if (!blocks || !pinned || !obj) {
        json_decref(blocks);
        json_decref(pinned);
        json_decref(obj);
        return JCS_ENOMEM;
    }
    json_t *out = json_pack("{so so so}", "object", obj, "blocks", blocks, "pinnedAt", pinned);
    if (!out)
        return JCS_ENOMEM;
    return jcs_http_reply_ok(req, out);
}

static int reply_successes(jcs_http_req *req, jcs_meta_ids *ok)
{
    int rc = jcs_api_reply_one(req, "successes", ids_json(ok));
    jcs_meta_ids_clear(ok);
    return rc;
}

static int object_update_info(jcs_http_req *req)
{
    json_t *b, *a;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = get_items(b, "updatings", &a)))
        return rc;
    size_t n = json_array_size(a);
    jcs_meta_updating *u = jcs_calloc(n ? n : 1, sizeof *u);
    if (!u)
        return JCS_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_array_get(a, i);
        const char *t;
        if ((rc = jcs_api_get_id(e, "objectID", &u[i].object_id)) ||
            (rc = jcs_api_get_str(e, "updateTime", 1, &t)) ||
            (rc = jcs_meta_time_parse(t, &u[i].update_ms)))
            rc = item_err(rc, "updatings", i);
    }
    jcs_meta_ids ok;
    memset(&ok, 0, sizeof ok);
    if (rc == 0)
        rc = jcs_meta_object_update_info(jcs_api_svc(req)->db, u, n, &ok);
    jcs_free(u);
    if (rc)
        return rc;
    return reply_successes(req, &ok);
}

/* Reads {objectID|packageID|path} triples of a move or clone. paths (n entries) are owned. */
/* A batch of {object, package, path} items ("movings", "clonings"), paths normalized. */
typedef struct relocs {
    jcs_meta_moving *v; /* v[i].path points at paths[i] */
    char **paths;       /* owned */
    size_t n;
} relocs;

static void relocs_free(relocs *r)
{
    for (size_t i = 0; r->paths && i < r->n; i++)
        jcs_free(r->paths[i]);
    jcs_free(r->paths);
    jcs_free(r->v);
    memset(r, 0, sizeof *r);
}

static int relocs_read(const json_t *b, const char *field, const char *idf, const char *pkgf,
                       const char *pathf, relocs *out)
{
    json_t *a;
    memset(out, 0, sizeof *out);
    int rc = get_items(b, field, &a);
    if (rc)
        return rc;
    out->n = json_array_size(a);
    out->v = jcs_calloc(out->n + 1, sizeof *out->v);
    out->paths = jcs_calloc(out->n + 1, sizeof *out->paths);
    if (!out->v || !out->paths)
        rc = JCS_ENOMEM;
    char what[32];
    snprintf(what, sizeof what, "field %s", pathf);
    for (size_t i = 0; i < out->n && rc == 0; i++) {
        json_t *e = json_array_get(a, i);
        const char *p;
        char norm[JCS_META_PATH_MAX + 1];
        if ((rc = jcs_api_get_id(e, idf, &out->v[i].object_id)) ||
            (rc = jcs_api_get_id(e, pkgf, &out->v[i].package_id)) ||
            (rc = jcs_api_get_str(e, pathf, 1, &p)) || (rc = jcs_api_norm_path(what, p, 0, norm))) {
            rc = item_err(rc, field, i);
            break;
        }
        if (!(out->paths[i] = jcs_strdup(norm)))
            rc = JCS_ENOMEM;
        out->v[i].path = out->paths[i];
    }
    if (rc)
        relocs_free(out);
    return rc;
}

static int object_move(jcs_http_req *req)
{
    json_t *b;
    relocs r;
    int rc;
    if ((rc = jcs_api_body(req, &b)) ||
        (rc = relocs_read(b, "movings", "objectID", "packageID", "path", &r)))
        return rc;
    jcs_meta_ids ok;
    memset(&ok, 0, sizeof ok);
    rc = jcs_meta_object_move(jcs_api_svc(req)->db, r.v, r.n, &ok);
    relocs_free(&r);
    if (rc)
        return rc;
    return reply_successes(req, &ok);
}

static int object_clone(jcs_http_req *req)
{
    json_t *b;
    relocs r;
    int rc;
    if ((rc = jcs_api_body(req, &b)) ||
        (rc = relocs_read(b, "clonings", "objectID", "newPackageID", "newPath", &r)))
        return rc;
    jcs_meta_objects out;
    memset(&out, 0, sizeof out);
    rc = jcs_meta_object_clone(jcs_api_svc(req)->db, r.v, r.n, &out);
    relocs_free(&r);
    if (rc)
        return rc;
    return reply_objects(req, &out);
}

static int object_delete(jcs_http_req *req)
{
    json_t *b;
    jcs_meta_ids ids;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_ids(b, "objectIDs", &ids)))
        return rc;
    rc = jcs_meta_object_delete(jcs_api_svc(req)->db, ids.v, ids.n);
    jcs_meta_ids_clear(&ids);
    if (rc)
        return rc;
    return jcs_http_reply_ok(req, NULL);
}

static int object_delete_by_path(jcs_http_req *req)
{
    json_t *b;
    int64_t pkg;
    const char *p;
    char path[JCS_META_PATH_MAX + 1];
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "packageID", &pkg)) ||
        (rc = jcs_api_get_str(b, "path", 1, &p)) ||
        (rc = jcs_api_norm_path("field path", p, 0, path)))
        return rc;
    if ((rc = jcs_meta_object_delete_by_path(jcs_api_svc(req)->db, pkg, path)) != 0)
        return rc;
    return jcs_http_reply_ok(req, NULL);
}

/* ---- change redundancy ----------------------------------------------------------------------- */

/* One object's change, run now: read its blocks, write the new ones, switch the metadata. */
static int change_one(jcs_svc *svc, const jcs_meta_detail *d, const jcs_download_red *from,
                      const jcs_redundancy *to, const char *to_json, const jcs_meta_ids *spaces,
                      jcs_meta_object *out)
{
    size_t width = jcs_place_red_width(to), nout = 0;
    jcs_place_sites targets, sources;
    /* The object is stored with the chunk size fitted to it, as an upload would store it. */
    jcs_redundancy fit = jcs_ec_fit(to, d->object.size);
    char *fit_json = NULL;
    if (fit.chunk_size != to->chunk_size) {
        if (!(fit_json = jcs_client_config_redundancy_json(&fit)))
            return JCS_ENOMEM;
        to = &fit;
        to_json = fit_json;
    }
    memset(&sources, 0, sizeof sources);
    int rc = place(svc, width, 0, spaces, &targets);
    if (rc) {
        jcs_free(fit_json);
        return rc;
    }
    jcs_block *blocks = jcs_calloc(d->nblocks + 1, sizeof *blocks);
    jcs_block *nb = jcs_calloc(width + 1, sizeof *nb);
    jcs_meta_block *mb = jcs_calloc(width + 1, sizeof *mb);
    int64_t *ids = jcs_calloc(d->nblocks + 1, sizeof *ids);
    if (!blocks || !nb || !mb || !ids) {
        rc = JCS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < d->nblocks; i++) {
        blocks[i].index = d->blocks[i].index;
        blocks[i].space_id = d->blocks[i].space_id;
        snprintf(blocks[i].file_hash, sizeof blocks[i].file_hash, "%s", d->blocks[i].file_hash);
        blocks[i].size = d->blocks[i].size;
        ids[i] = d->blocks[i].space_id;
    }
    jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
    rc = jcs_place_sites_for(svc, snap, ids, d->nblocks, &sources);
    jcs_topo_snap_release(snap);
    if (rc)
        goto out;
    /* A source found corrupt is left aside and the change tried again from the others; the
     * hubs check every byte they read, so a corrupt block is never copied. */
    int ncorrupt = 0;
    char why[512] = "";
    jcs_driver_change_req req = {.src = {.blocks = blocks,
                                         .sites = sources.sites,
                                         .nblocks = d->nblocks,
                                         .red = &from->red,
                                         .object_size = d->object.size},
                                 .to = to,
                                 .targets = targets.sites,
                                 .ntargets = width};
    for (size_t attempt = 0; attempt <= d->nblocks; attempt++) {
        rc = jcs_driver_change_redundancy(svc->driver, &req, nb, &nout);
        if (rc == 0 || rc == JCS_ENOMEM)
            break;
        snprintf(why, sizeof why, "%s", jcs_err_msg(rc));
        int dropped = jcs_download_drop_bad(svc, blocks, sources.sites, d->nblocks);
        if (dropped == 0)
            break;
        ncorrupt += dropped;
    }
    if (rc && rc != JCS_ENOMEM) {
        rc = ncorrupt ? jcs_err_set(JCS_ECORRUPT,
                                    "object %lld (%s): %d of its blocks are corrupt and the good "
                                    "ones left cannot rebuild it (%s); the object was not changed",
                                    (long long)d->object.object_id, d->object.path, ncorrupt, why)
                      : jcs_err_set(rc, "object %lld: %s", (long long)d->object.object_id, why);
        goto out;
    }
    if (rc)
        goto out;
    to_meta_blocks(nb, nout, mb);
    rc = jcs_meta_object_change_redundancy(svc->db, d->object.object_id, d->object.file_hash,
                                           to_json, mb, nout, out);
out:
    jcs_place_sites_clear(&targets);
    jcs_place_sites_clear(&sources);
    jcs_free(blocks);
    jcs_free(nb);
    jcs_free(mb);
    jcs_free(ids);
    jcs_free(fit_json);
    return rc;
}

static int object_change_redundancy(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    json_t *b;
    jcs_meta_ids ids, spaces;
    jcs_redundancy to;
    int given, rc;
    memset(&spaces, 0, sizeof spaces);
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_ids(b, "objectIDs", &ids)))
        return rc;
    if ((rc = jcs_api_get_redundancy(b, "redundancy", &to, &given)) == 0 && !given)
        rc = jcs_err_set(JCS_EINVAL, "field redundancy: required");
    json_t *sv = json_object_get(b, "userSpaceIDs");
    if (rc == 0 && sv && !json_is_null(sv))
        rc = jcs_api_get_ids(b, "userSpaceIDs", &spaces);
    if (rc == 0 && spaces.n > 0 && spaces.n < jcs_place_red_width(&to))
        rc = jcs_err_set(JCS_EINVAL,
                         "field userSpaceIDs: the redundancy needs %zu user spaces, "
                         "%zu given",
                         jcs_place_red_width(&to), spaces.n);
    /* Every object must exist and be readable before any data moves. */
    jcs_meta_detail *d = rc ? NULL : jcs_calloc(ids.n + 1, sizeof *d);
    jcs_download_red *from = rc ? NULL : jcs_calloc(ids.n + 1, sizeof *from);
    if (rc == 0 && (!d || !from))
        rc = JCS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < ids.n; i++) {
        if ((rc = jcs_meta_object_detail(svc->db, ids.v[i], &d[i])) != 0)
            break;
        if ((rc = jcs_download_parse_red(&d[i].object, &from[i])) != 0)
            break;
        if (from[i].segmented)
            rc = jcs_err_set(JCS_EINVAL,
                             "object %lld is made of multipart segments; its redundancy cannot "
                             "be changed",
                             (long long)ids.v[i]);
    }
    for (size_t i = 0; rc == 0 && i < spaces.n; i++) {
        jcs_meta_space sp;
        if ((rc = jcs_meta_space_get(svc->db, spaces.v[i], &sp)) != 0)
            break;
        /* A space being migrated or disabled takes no new blocks, named or not. */
        if (strcmp(sp.state, "normal") != 0)
            rc = jcs_err_set(JCS_EBUSY, "user space %lld is %s and takes no new blocks",
                             (long long)spaces.v[i], sp.state);
        jcs_meta_space_clear(&sp);
    }
    char *to_json = rc ? NULL : jcs_client_config_redundancy_json(&to);
    if (rc == 0 && !to_json)
        rc = JCS_ENOMEM;
    jcs_meta_objects out;
    memset(&out, 0, sizeof out);
    if (rc == 0 && !(out.v = jcs_calloc(ids.n + 1, sizeof *out.v)))
        rc = JCS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < ids.n; i++) {
        rc = change_one(svc, &d[i], &from[i], &to, to_json, &spaces, &out.v[i]);
        if (rc == 0)
            out.n = i + 1;
    }
    if (rc == 0)
        rc = jcs_api_reply_one(req, "objects", jcs_api_objects_json(&out));
    jcs_meta_objects_clear(&out);
    for (size_t i = 0; d && i < ids.n; i++)
        jcs_meta_detail_clear(&d[i]);
    for (size_t i = 0; from && i < ids.n; i++)
        jcs_download_red_clear(&from[i]);
    jcs_free(d);
    jcs_free(from);
    jcs_free(to_json);
    jcs_meta_ids_clear(&ids);
    jcs_meta_ids_clear(&spaces);
    return rc;
}

/* ---- multipart uploads ----------------------------------------------------------------------- */

static int mp_new(jcs_http_req *req)
{
    json_t *b;
    int64_t pkg;
    const char *p;
    char path[JCS_META_PATH_MAX + 1];
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "packageID", &pkg)) ||
        (rc = jcs_api_get_str(b, "path", 1, &p)) ||
        (rc = jcs_api_norm_path("field path", p, 0, path)))
        return rc;
    jcs_meta_object o;
    if ((rc = jcs_meta_multipart_new(jcs_api_svc(req)->db, pkg, path, &o)) != 0)
        return rc;
    rc = jcs_api_reply_one(req, "object", jcs_api_object_json(&o));
    jcs_meta_object_clear(&o);
    return rc;
}

typedef struct part_ctx {
    int64_t object_id;
    int index;
    jcs_upload *up;
} part_ctx;

static void part_free(void *p)
{
    part_ctx *c = p;
    if (!c)
        return;
    jcs_upload_free(c->up);
    jcs_free(c);
}

static int part_begin(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    int64_t id, index;
    int rc;
    if ((rc = query_id(req, "objectID", &id)) ||
        (rc = jcs_http_query_int(req, "index", 1, 0, 0, INT_MAX, &index)))
        return rc;
    jcs_meta_object o;
    if ((rc = jcs_meta_object_get(svc->db, id, &o)) != 0)
        return rc;
    int open = object_is_multipart(&o);
    jcs_meta_object_clear(&o);
    if (!open)
        return jcs_err_set(JCS_EINVAL, "object %lld is not an open multipart upload",
                           (long long)id);
    part_ctx *c = jcs_calloc(1, sizeof *c);
    if (!c)
        return JCS_ENOMEM;
    c->object_id = id;
    c->index = (int)index;
    jcs_http_req_set_ctx(req, c, part_free);
    jcs_redundancy none = {.type = JCS_RED_NONE};
    jcs_place_sites sites;
    if ((rc = place(svc, 1, 0, NULL, &sites)) != 0)
        return rc;
    rc = jcs_upload_start(svc->driver, &none, &sites, -1, &c->up);
    jcs_place_sites_clear(&sites);
    if (rc == 0)
        jcs_upload_md5_small_only(c->up); /* a part's MD5 is not used */
    return rc;
}

static int part_data(jcs_http_req *req, const void *p, size_t n)
{
    part_ctx *c = jcs_http_req_ctx(req);
    return jcs_upload_write(c->up, p, n);
}

static void part_abort(jcs_http_req *req, int why)
{
    part_ctx *c = jcs_http_req_ctx(req);
    (void)why;
    if (c) {
        jcs_upload_free(c->up);
        c->up = NULL;
    }
}

static int part_handle(jcs_http_req *req)
{
    part_ctx *c = jcs_http_req_ctx(req);
    jcs_upload_result *res = jcs_malloc(sizeof *res);
    if (!res)
        return JCS_ENOMEM;
    int rc = jcs_upload_finish(c->up, res);
    if (rc == 0) {
        jcs_meta_block part;
        memset(&part, 0, sizeof part);
        part.index = c->index;
        part.space_id = res->blocks[0].space_id;
        snprintf(part.file_hash, sizeof part.file_hash, "%s", res->file_hash);
        part.size = res->size;
        rc = jcs_meta_multipart_add_part(jcs_api_svc(req)->db, c->object_id, &part);
    }
    jcs_free(res);
    if (rc)
        return rc;
    json_t *d = json_object();
    if (!d)
        return JCS_ENOMEM;
    return jcs_http_reply_ok(req, d);
}

static int mp_complete(jcs_http_req *req)
{
    json_t *b, *a;
    int64_t id;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "objectID", &id)))
        return rc;
    a = json_object_get(b, "indexes");
    if (!json_is_array(a) || json_array_size(a) == 0)
        return jcs_err_set(JCS_EINVAL,
                           "field indexes: required, a non-empty array of part indexes");
    if (json_array_size(a) > JCS_META_BATCH_MAX)
        return jcs_err_set(JCS_EINVAL, "field indexes: at most %d parts", JCS_META_BATCH_MAX);
    size_t n = json_array_size(a);
    int *idx = jcs_calloc(n, sizeof *idx);
    if (!idx)
        return JCS_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_array_get(a, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT_MAX)
            rc = jcs_err_set(JCS_EINVAL, "field indexes[%zu]: must be a part index (>= 0)", i);
        else
            idx[i] = (int)json_integer_value(e);
    }
    jcs_meta_object o;
    if (rc == 0)
        rc = jcs_meta_multipart_complete(jcs_api_svc(req)->db, id, idx, n, &o);
    jcs_free(idx);
    if (rc)
        return rc;
    rc = jcs_api_reply_one(req, "object", jcs_api_object_json(&o));
    jcs_meta_object_clear(&o);
    return rc;
}

static int mp_abort(jcs_http_req *req)
{
    json_t *b;
    int64_t id;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_id(b, "objectID", &id)))
        return rc;
    jcs_svc *svc = jcs_api_svc(req);
    jcs_meta_object o;
    if ((rc = jcs_meta_object_get(svc->db, id, &o)) != 0)
        return rc;
    int open = object_is_multipart(&o);
    jcs_meta_object_clear(&o);
    if (!open)
        return jcs_err_set(JCS_EINVAL, "object %lld is not an open multipart upload",
                           (long long)id);
    if ((rc = jcs_meta_multipart_abort(svc->db, id)) != 0)
        return rc;
    return jcs_http_reply_ok(req, NULL);
}

/* ---- routes ---------------------------------------------------------------------------------- */

#define GET(p, f)                                                                                  \
    {                                                                                              \
        .method = "GET", .path = p, .body = JCS_HTTP_BODY_NONE, .handle = f                        \
    }
#define POST(p, f)                                                                                 \
    {                                                                                              \
        .method = "POST", .path = p, .body = JCS_HTTP_BODY_JSON, .handle = f                       \
    }

const jcs_http_route jcs_api_object_routes[] = {
    {.method = "POST",
     .path = "/v1/object/upload",
     .body = JCS_HTTP_BODY_MULTIPART,
     .handle = up_handle,
     .begin = up_begin,
     .data = up_data,
     .part_begin = up_part_begin,
     .part_end = up_part_end,
     .abort = up_abort,
     /* up_begin only allocates; after up_handle no upload is running, so up_free only frees. */
     .light_begin_end = 1},
    GET("/v1/object/download", object_download),
    GET("/v1/object/downloadByPath", object_download_by_path),
    GET("/v1/object/listByPath", object_list_by_path),
    POST("/v1/object/listByIDs", object_list_by_ids),
    GET("/v1/object/getPackageObjects", object_package_objects),
    GET("/v1/object/detail", object_detail),
    POST("/v1/object/updateInfo", object_update_info),
    POST("/v1/object/move", object_move),
    POST("/v1/object/delete", object_delete),
    POST("/v1/object/deleteByPath", object_delete_by_path),
    POST("/v1/object/clone", object_clone),
    POST("/v1/object/changeRedundancy", object_change_redundancy),
    POST("/v1/object/newMultipartUpload", mp_new),
    {.method = "POST",
     .path = "/v1/object/uploadPart",
     .body = JCS_HTTP_BODY_RAW,
     .handle = part_handle,
     .begin = part_begin,
     .data = part_data,
     .abort = part_abort},
    POST("/v1/object/completeMultipartUpload", mp_complete),
    POST("/v1/object/abortMultipartUpload", mp_abort),
};
const size_t jcs_api_object_nroutes =
    sizeof jcs_api_object_routes / sizeof jcs_api_object_routes[0];
