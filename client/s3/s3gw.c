/*
 * client/s3/s3gw.c - the S3 listener: request set-up (addressing,
 * authentication), dispatch to the operations, and the helpers they share
 * (s3gw.h, s3gw_int.h).
 *
 * A request's life on the HTTP server's catch-all route:
 *   begin   parse the path (path or virtual-host style) and the query,
 *           verify the signature, pick the operation; an operation without
 *           a body answers once the (empty) body has arrived, one with a
 *           body prepares its sink (an upload plan, an XML buffer) and the
 *           checked body decoder;
 *   data    body bytes through the decoder (aws-chunked framing, MD5,
 *           checksums) into the sink;
 *   handle  the decoder's final checks, then the operation's finish;
 *   abort   the body will never complete: the operation cancels (an
 *           upload plan stops; nothing was committed).
 * Every answer carries x-amz-request-id; errors are S3 XML documents.
 */
#include "s3gw.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "s3gw_int.h"
#include "util.h"

/* ---- small helpers ---- */

const char *jcs_s3gw_query(const s3req *r, const char *name)
{
    for (size_t i = 0; i < r->nq; i++)
        if (strcmp(r->q[i].name, name) == 0)
            return r->q[i].value;
    return NULL;
}

const char *jcs_s3gw_header(const s3req *r, const char *name)
{
    return jcs_http_header(r->h, name);
}

struct hjoin {
    const char *name;
    jcs_buf *b;
    int n, rc;
};

static int join_hdr(void *arg, const char *name, const char *value)
{
    struct hjoin *j = arg;
    if (strcasecmp(name, j->name) != 0)
        return 0;
    if (j->n++ && (j->rc = jcs_buf_append(j->b, ",", 1)) != 0)
        return j->rc;
    return j->rc = jcs_buf_append(j->b, value, strlen(value));
}

/*
 * A request header for signing and checking: a repeated header is every
 * value joined with ',' (what SigV4 signs), kept with the request.
 */
static const char *auth_header(void *arg, const char *name)
{
    s3req *r = arg;
    const char *first = jcs_http_header(r->h, name);
    if (!first)
        return NULL;
    jcs_buf b;
    jcs_buf_init(&b, 64 * 1024);
    struct hjoin j = {name, &b, 0, 0};
    (void)jcs_http_header_each(r->h, join_hdr, &j);
    if (j.n <= 1 || j.rc || r->njoined == sizeof r->joined / sizeof r->joined[0]) {
        jcs_buf_clear(&b);
        return first;
    }
    r->joined[r->njoined] = jcs_buf_steal(&b);
    return r->joined[r->njoined] ? r->joined[r->njoined++] : first;
}

void jcs_s3gw_add_header(s3req *r, const char *name, const char *value)
{
    int rc = jcs_http_add_header(r->h, name, value);
    if (rc != 0)
        jcs_warn("s3: %s %s: reply header %s dropped: %s", r->method, r->resource, name,
                 jcs_err_msg(rc));
}

int jcs_s3gw_reply_xml(s3req *r, unsigned status, const jcs_buf *x)
{
    return jcs_http_reply_buf(r->h, status ? status : 200, "application/xml", x->data, x->len);
}

int jcs_s3gw_reply_empty(s3req *r, unsigned status)
{
    return jcs_http_reply_buf(r->h, status, NULL, "", 0);
}

int jcs_s3gw_error(s3req *r, int rc)
{
    int code = jcs_s3err_take(rc);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", jcs_err_msg(rc));
    unsigned status = jcs_s3err_status(code);
    if (status >= 500)
        jcs_warn("s3: %s %s -> %s: %s", r->method, r->resource, jcs_s3err_name(code), msg);
    else
        jcs_info("s3: %s %s -> %s: %s", r->method, r->resource, jcs_s3err_name(code), msg);
    if (status == 304)
        return jcs_s3gw_reply_empty(r, 304);
    jcs_buf x;
    jcs_buf_init(&x, 64 * 1024);
    int xrc = jcs_s3err_xml(&x, code, msg, r->resource, r->rid);
    if (xrc) {
        jcs_buf_reset(&x);
        xrc = jcs_s3err_xml(&x, code, NULL, NULL, r->rid); /* a message XML cannot carry */
    }
    if (!xrc)
        xrc = jcs_s3gw_reply_xml(r, status, &x);
    else
        xrc = jcs_s3gw_reply_empty(r, status);
    jcs_buf_clear(&x);
    return 0;
}

/* ---- dates ---- */

void jcs_s3gw_http_date(int64_t ms, char out[40])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void jcs_s3gw_iso_date(int64_t ms, char out[40])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03dZ", (int)(ms % 1000));
}

int64_t jcs_s3gw_parse_http_date(const char *s)
{
    static const char *const fmts[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                       "%a %b %e %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%SZ"};
    for (size_t i = 0; s && i < sizeof fmts / sizeof fmts[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *e = strptime(s, fmts[i], &tm);
        if (e && *e == '\0')
            return (int64_t)timegm(&tm) * 1000;
    }
    return -1;
}

/* ---- ETags and conditions ---- */

void jcs_s3gw_etag(const jcs_meta_object *o, const jcs_s3meta *m, char out[90])
{
    if (m && jcs_s3meta_valid(m, o) && m->etag[0]) {
        snprintf(out, 90, "\"%s\"", m->etag);
        return;
    }
    /* No MD5 recorded: a stable stand-in from the content hash, marked by "-1" as not an MD5. */
    char hex[33];
    const char *h = strlen(o->file_hash) >= 36 ? o->file_hash + 4 : "";
    size_t i;
    for (i = 0; i < 32 && h[i]; i++)
        hex[i] = (char)tolower((unsigned char)h[i]);
    hex[i] = '\0';
    snprintf(out, 90, "\"%s-1\"", hex);
}

/* Whether header value v (a list of ETags, or "*") matches etag (with quotes). */
static int etag_matches(const char *v, const char *etag)
{
    size_t el = strlen(etag);
    const char *inner = etag + 1;
    size_t il = el >= 2 ? el - 2 : 0;
    while (*v) {
        while (*v == ' ' || *v == ',')
            v++;
        const char *e = v;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > v && t[-1] == ' ')
            t--;
        size_t n = (size_t)(t - v);
        if (n == 1 && *v == '*')
            return 1;
        if (n > 2 && v[0] == 'W' && v[1] == '/') {
            v += 2;
            n -= 2;
        }
        if ((n == el && memcmp(v, etag, n) == 0) || (n == il && memcmp(v, inner, n) == 0))
            return 1;
        v = e;
    }
    return 0;
}

int jcs_s3gw_conditions(s3req *r, const char *prefix, int exists, const char *etag,
                        int64_t mtime_ms, int read)
{
    char n[4][64];
    snprintf(n[0], sizeof n[0], "%sif-match", prefix);
    snprintf(n[1], sizeof n[1], "%sif-none-match", prefix);
    snprintf(n[2], sizeof n[2], "%sif-modified-since", prefix);
    snprintf(n[3], sizeof n[3], "%sif-unmodified-since", prefix);
    const char *im = jcs_s3gw_header(r, n[0]), *inm = jcs_s3gw_header(r, n[1]);
    const char *ims = jcs_s3gw_header(r, n[2]), *ius = jcs_s3gw_header(r, n[3]);
    /* Last-Modified has whole seconds: compare at that resolution. */
    int64_t mt = mtime_ms / 1000 * 1000;
    if (im) {
        if (!exists || !etag_matches(im, etag))
            return jcs_s3err_set(JCS_S3E_PreconditionFailed,
                                 "At least one of the preconditions you specified did not hold "
                                 "(%s).",
                                 n[0]);
    } else if (ius && exists) {
        int64_t t = jcs_s3gw_parse_http_date(ius);
        if (t >= 0 && mt > t)
            return jcs_s3err_set(JCS_S3E_PreconditionFailed,
                                 "At least one of the preconditions you specified did not hold "
                                 "(%s).",
                                 n[3]);
    }
    if (inm) {
        if (exists && etag_matches(inm, etag)) {
            if (read)
                return jcs_s3err_set(JCS_S3E_NotModified, "Not Modified");
            return jcs_s3err_set(JCS_S3E_PreconditionFailed,
                                 "At least one of the preconditions you specified did not hold "
                                 "(%s).",
                                 n[1]);
        }
    } else if (ims && exists) {
        int64_t t = jcs_s3gw_parse_http_date(ims);
        if (t >= 0 && mt <= t) {
            if (read)
                return jcs_s3err_set(JCS_S3E_NotModified, "Not Modified");
            return jcs_s3err_set(JCS_S3E_PreconditionFailed,
                                 "At least one of the preconditions you specified did not hold "
                                 "(%s).",
                                 n[2]);
        }
    }
    return JCS_OK;
}

/* ---- buckets, packages, placement ---- */

int jcs_s3gw_bucket(s3req *r, const char *name, jcs_meta_bucket *out)
{
    memset(out, 0, sizeof *out);
    if (jcs_api_check_name("bucket name", name) != 0)
        return jcs_s3err_set(JCS_S3E_InvalidBucketName,
                             "The specified bucket \"%.100s\" is not "
                             "valid.",
                             name);
    int rc = jcs_meta_bucket_get_by_name(r->svc->db, name, out);
    if (rc == JCS_ENOENT)
        return jcs_s3err_set(JCS_S3E_NoSuchBucket,
                             "The specified bucket \"%.255s\" does not exist.", name);
    if (!rc && strlen(out->name) < sizeof r->bkt_name) {
        r->bkt_id = out->bucket_id;
        memcpy(r->bkt_name, out->name, strlen(out->name) + 1);
    }
    return rc;
}

int jcs_s3gw_package(s3req *r, int64_t bucket_id, const char *name, int create,
                     jcs_meta_package *out)
{
    memset(out, 0, sizeof *out);
    jcs_meta_bucket b;
    memset(&b, 0, sizeof b);
    int rc = 0;
    /* The bucket's name: the one this request found, or read (a round trip less per request). */
    if (bucket_id && bucket_id == r->bkt_id)
        b.name = jcs_strdup(r->bkt_name);
    else
        rc = jcs_meta_bucket_get(r->svc->db, bucket_id, &b);
    if (!rc && !b.name)
        rc = JCS_ENOMEM;
    if (rc)
        return rc == JCS_ENOENT ? jcs_s3err_set(JCS_S3E_NoSuchBucket, "The bucket is gone.") : rc;
    for (int attempt = 0; attempt < 3; attempt++) {
        rc = jcs_meta_package_get_by_full_name(r->svc->db, b.name, name, out);
        if (rc != JCS_ENOENT || !create)
            break;
        jcs_err_clear();
        const char *red = r->svc->cfg->redundancy_json;
        rc = jcs_meta_package_create(r->svc->db, bucket_id, name, red, out);
        if (rc != JCS_EEXIST)
            break; /* created, or failed; EEXIST: created meanwhile, read it */
    }
    jcs_meta_bucket_clear(&b);
    return rc;
}

int jcs_s3gw_package_redundancy(s3req *r, const jcs_meta_package *p, jcs_redundancy *out,
                                char **json)
{
    *json = NULL;
    const char *src = p && p->redundancy ? p->redundancy : r->svc->cfg->redundancy_json;
    json_t *v = src ? json_loads(src, 0, NULL) : NULL;
    memset(out, 0, sizeof *out);
    out->type = JCS_RED_NONE;
    int rc = 0;
    if (v && !json_is_null(v))
        rc = jcs_client_config_redundancy_parse(v, "package redundancy", out);
    json_decref(v);
    if (rc)
        return rc;
    if (!(*json = jcs_client_config_redundancy_json(out)))
        return JCS_ENOMEM;
    return JCS_OK;
}

int jcs_s3gw_place(s3req *r, size_t width, jcs_place_sites *out)
{
    jcs_topo_snap *snap = jcs_topo_acquire(r->svc->topo);
    int rc = jcs_place_choose(r->svc, snap, width, 0, out);
    jcs_topo_snap_release(snap);
    if (rc == JCS_EUNAVAIL)
        return jcs_s3err_set(JCS_S3E_ServiceUnavailable, "%s",
                             "not enough reachable user spaces "
                             "for the redundancy");
    return rc;
}

/* ---- stored headers ---- */

static const char *const kept_headers[] = {"content-type",     "content-encoding",
                                           "cache-control",    "content-disposition",
                                           "content-language", "expires"};

struct hdr_collect {
    json_t *a;
    int rc;
};

static int collect_hdr(void *arg, const char *name, const char *value)
{
    struct hdr_collect *c = arg;
    int keep = strncasecmp(name, "x-amz-meta-", 11) == 0;
    for (size_t i = 0; !keep && i < sizeof kept_headers / sizeof kept_headers[0]; i++)
        keep = strcasecmp(name, kept_headers[i]) == 0;
    if (!keep)
        return 0;
    char lname[256];
    size_t n = strlen(name);
    if (n >= sizeof lname)
        return 0;
    for (size_t i = 0; i <= n; i++)
        lname[i] = (char)tolower((unsigned char)name[i]);
    /* aws-chunked is the transfer framing, not the object's encoding. */
    if (strcmp(lname, "content-encoding") == 0) {
        char v[256];
        snprintf(v, sizeof v, "%s", value);
        char out[256] = "";
        for (char *save = NULL, *t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            if (strcasecmp(t, "aws-chunked") == 0 || !*t)
                continue;
            size_t l = strlen(out);
            snprintf(out + l, sizeof out - l, "%s%s", l ? "," : "", t);
        }
        if (!out[0])
            return 0;
        json_t *pair = json_pack("[ss]", lname, out);
        return json_array_append_new(c->a, pair) ? (c->rc = JCS_ENOMEM) : 0;
    }
    json_t *pair = json_pack("[ss]", lname, value);
    if (!pair || json_array_append_new(c->a, pair))
        return c->rc = JCS_ENOMEM;
    return 0;
}

char *jcs_s3gw_stored_headers(const s3req *r)
{
    struct hdr_collect c = {json_array(), 0};
    if (!c.a)
        return NULL;
    (void)jcs_http_header_each(r->h, collect_hdr, &c);
    char *s = c.rc ? NULL : json_dumps(c.a, JSON_COMPACT);
    json_decref(c.a);
    if (!s)
        return NULL;
    char *out = jcs_strdup(s);
    free(s);
    return out;
}

/* Header names as S3 spells them in replies. */
static const char *canon_name(const char *l, char *buf, size_t n)
{
    static const char *const names[][2] = {
        {"content-type", "Content-Type"},         {"content-encoding", "Content-Encoding"},
        {"cache-control", "Cache-Control"},       {"content-disposition", "Content-Disposition"},
        {"content-language", "Content-Language"}, {"expires", "Expires"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(l, names[i][0]) == 0)
            return names[i][1];
    snprintf(buf, n, "%s", l);
    return buf;
}

void jcs_s3gw_emit_headers(s3req *r, const char *headers_json, int *have_ctype)
{
    *have_ctype = 0;
    json_t *a = headers_json ? json_loads(headers_json, 0, NULL) : NULL;
    size_t i;
    json_t *pair;
    /* response-* query parameters (presigned URLs) override what was stored. */
    static const char *const over[][2] = {{"response-content-type", "content-type"},
                                          {"response-content-language", "content-language"},
                                          {"response-expires", "expires"},
                                          {"response-cache-control", "cache-control"},
                                          {"response-content-disposition", "content-disposition"},
                                          {"response-content-encoding", "content-encoding"}};
    json_array_foreach(a, i, pair)
    {
        const char *n = json_string_value(json_array_get(pair, 0));
        const char *v = json_string_value(json_array_get(pair, 1));
        if (!n || !v)
            continue;
        int overridden = 0;
        for (size_t k = 0; k < sizeof over / sizeof over[0]; k++)
            overridden |= strcmp(n, over[k][1]) == 0 && jcs_s3gw_query(r, over[k][0]);
        if (overridden)
            continue;
        char buf[256];
        jcs_s3gw_add_header(r, canon_name(n, buf, sizeof buf), v);
        *have_ctype |= strcmp(n, "content-type") == 0;
    }
    for (size_t k = 0; k < sizeof over / sizeof over[0]; k++) {
        const char *v = jcs_s3gw_query(r, over[k][0]);
        if (!v)
            continue;
        char buf[256];
        jcs_s3gw_add_header(r, canon_name(over[k][1], buf, sizeof buf), v);
        *have_ctype |= strcmp(over[k][1], "content-type") == 0;
    }
    json_decref(a);
}

/* ---- XML bodies ---- */

static int xml_sink(s3req *r, const void *p, size_t n)
{
    int rc = jcs_buf_append(&r->xml, p, n);
    if (rc == JCS_ETOOBIG)
        return jcs_s3err_set(JCS_S3E_MalformedXML, "the XML body is larger than %u bytes",
                             S3GW_XML_BODY_MAX);
    return rc;
}

int jcs_s3gw_malformed(int rc)
{
    char m[512];
    snprintf(m, sizeof m, "%s", jcs_err_msg(rc));
    return jcs_s3err_set(JCS_S3E_MalformedXML, "%s", m);
}

void jcs_s3gw_want_xml(s3req *r, int (*finish)(s3req *r))
{
    r->collect_xml = 1;
    r->sink = xml_sink;
    r->finish = finish;
}

/* ---- request set-up ---- */

int jcs_s3gw_slot(s3req *r)
{
    jcs_s3gw *gw = r->gw;
    if (r->has_slot)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += JCS_S3CONF_SLOT_WAIT_S;
    int rc = 0;
    pthread_mutex_lock(&gw->slot_mu);
    while (gw->slots_used >= gw->conf.max_transfers && rc == 0)
        rc = pthread_cond_timedwait(&gw->slot_cv, &gw->slot_mu, &until);
    if (gw->slots_used < gw->conf.max_transfers) {
        gw->slots_used++;
        r->has_slot = 1;
    }
    pthread_mutex_unlock(&gw->slot_mu);
    if (r->has_slot)
        return 0;
    jcs_info("s3: %s %s: no transfer slot free after %d s (s3.maxTransfers %u)", r->method,
             r->resource ? r->resource : "", JCS_S3CONF_SLOT_WAIT_S, gw->conf.max_transfers);
    return jcs_s3err_set(JCS_S3E_SlowDown,
                         "Please reduce your request rate: %u transfers are streaming and none "
                         "ended within %d s (s3.maxTransfers).",
                         gw->conf.max_transfers, JCS_S3CONF_SLOT_WAIT_S);
}

void jcs_s3gw_slot_put(jcs_s3gw *gw)
{
    pthread_mutex_lock(&gw->slot_mu);
    gw->slots_used--;
    pthread_cond_signal(&gw->slot_cv);
    pthread_mutex_unlock(&gw->slot_mu);
}

void jcs_s3gw_slot_release(s3req *r)
{
    if (!r->has_slot)
        return;
    r->has_slot = 0;
    jcs_s3gw_slot_put(r->gw);
}

int jcs_s3gw_slot_detach(s3req *r)
{
    int had = r->has_slot;
    r->has_slot = 0;
    return had;
}

static void req_free(void *p)
{
    s3req *r = p;
    if (!r)
        return;
    if (r->op_free)
        r->op_free(r->op);
    jcs_s3gw_slot_release(r);
    jcs_s3body_free(r->body);
    jcs_buf_clear(&r->xml);
    for (size_t i = 0; i < r->nq; i++) {
        jcs_free((char *)r->q[i].name);
        jcs_free((char *)r->q[i].value);
    }
    jcs_free(r->q);
    for (size_t i = 0; i < r->njoined; i++)
        jcs_free(r->joined[i]);
    jcs_free(r->bucket);
    jcs_free(r->key);
    jcs_free(r->resource);
    jcs_free(r);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string ('+' stays '+'). NULL with a detail on a bad escape. */
static char *pct_decode(const char *s, size_t n, const char *what)
{
    char *o = jcs_malloc(n + 1);
    if (!o) {
        jcs_err_set(JCS_ENOMEM, "out of memory");
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int a = i + 1 < n ? hexv(s[i + 1]) : -1, b = i + 2 < n ? hexv(s[i + 2]) : -1;
            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                jcs_free(o);
                jcs_s3err_set(JCS_S3E_InvalidArgument, "%s: bad percent-encoding", what);
                return NULL;
            }
            o[j++] = (char)(a << 4 | b);
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    return o;
}

struct qcollect {
    s3req *r;
    size_t cap;
    int rc;
};

static int collect_q(void *arg, const char *name, const char *value)
{
    struct qcollect *c = arg;
    s3req *r = c->r;
    if (r->nq >= 200)
        return c->rc = jcs_s3err_set(JCS_S3E_InvalidArgument, "more than 200 query parameters");
    if (r->nq == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        jcs_s3auth_param *nq = jcs_realloc(r->q, nc * sizeof *nq);
        if (!nq)
            return c->rc = JCS_ENOMEM;
        r->q = nq;
        c->cap = nc;
    }
    char *n = pct_decode(name, strlen(name), "query parameter name");
    char *v = n ? pct_decode(value, strlen(value), "query parameter value") : NULL;
    if (!n || !v) {
        jcs_free(n);
        return c->rc = JCS_EINVAL; /* pct_decode recorded InvalidArgument */
    }
    r->q[r->nq].name = n;
    r->q[r->nq].value = v;
    r->nq++;
    return 0;
}

/* Bucket and key from the Host header (virtual-host style) and the raw path. */
static int parse_target(s3req *r, const char *raw)
{
    const jcs_s3conf *conf = &r->gw->conf;
    const char *host = jcs_s3gw_header(r, "host");
    char vbucket[300] = "";
    if (host && conf->domain[0]) {
        char h[300];
        snprintf(h, sizeof h, "%s", host);
        char *colon = strrchr(h, ':');
        if (colon && !strchr(h, ']'))
            *colon = '\0';
        size_t hl = strlen(h), dl = strlen(conf->domain);
        if (hl > dl + 1 && strcasecmp(h + hl - dl, conf->domain) == 0 && h[hl - dl - 1] == '.')
            snprintf(vbucket, sizeof vbucket, "%.*s", (int)(hl - dl - 1), h);
    }
    if (raw[0] != '/')
        return jcs_s3err_set(JCS_S3E_InvalidRequest, "the request path must start with '/'");
    const char *p = raw + 1;
    if (vbucket[0]) {
        r->bucket = jcs_strdup(vbucket);
        if (!r->bucket)
            return JCS_ENOMEM;
        if (*p && !(r->key = pct_decode(p, strlen(p), "key")))
            return JCS_EINVAL;
    } else if (*p) {
        const char *slash = strchr(p, '/');
        size_t bl = slash ? (size_t)(slash - p) : strlen(p);
        if (!(r->bucket = pct_decode(p, bl, "bucket name")))
            return JCS_EINVAL;
        if (slash && slash[1] && !(r->key = pct_decode(slash + 1, strlen(slash + 1), "key")))
            return JCS_EINVAL;
    }
    r->resource = jcs_asprintf("/%s%s%s", r->bucket ? r->bucket : "", r->key ? "/" : "",
                               r->key ? r->key : "");
    return r->resource ? JCS_OK : JCS_ENOMEM;
}

/* Query parameters an operation may carry besides its own: auth, listing, SDK markers. */
static int known_param(const char *n)
{
    static const char *const ok[] = {"prefix",
                                     "delimiter",
                                     "marker",
                                     "max-keys",
                                     "encoding-type",
                                     "list-type",
                                     "continuation-token",
                                     "start-after",
                                     "fetch-owner",
                                     "x-id",
                                     "uploadId",
                                     "partNumber",
                                     "uploads",
                                     "delete",
                                     "location",
                                     "max-parts",
                                     "part-number-marker",
                                     "max-uploads",
                                     "key-marker",
                                     "upload-id-marker",
                                     "response-content-type",
                                     "response-content-language",
                                     "response-expires",
                                     "response-cache-control",
                                     "response-content-disposition",
                                     "response-content-encoding",
                                     "versionId",
                                     "tagging"};
    if (strncmp(n, "X-Amz-", 6) == 0 || strncmp(n, "x-amz-", 6) == 0)
        return 1;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(n, ok[i]) == 0)
            return 1;
    return 0;
}

static int not_implemented(s3req *r, const char *what)
{
    return jcs_s3err_set(JCS_S3E_NotImplemented, "%s is not implemented by the JCS S3 gateway",
                         what);
}

/* Picks and starts the operation. 0 with r->finish set, or an error to answer with. */
static int dispatch(s3req *r)
{
    const char *m = r->method;
    for (size_t i = 0; i < r->nq; i++)
        if (!known_param(r->q[i].name)) {
            char what[160];
            snprintf(what, sizeof what, "%s ?%.100s", m, r->q[i].name);
            return not_implemented(r, what);
        }
    const char *vid = jcs_s3gw_query(r, "versionId");
    if (vid && strcmp(vid, "null") != 0)
        return not_implemented(r, "versionId (versioning)");
    if (!r->bucket) {
        if (strcmp(m, "GET") == 0)
            return r->finish = jcs_s3gw_list_buckets, 0;
        return not_implemented(r, m);
    }
    if (!r->key) {
        if (jcs_s3gw_query(r, "tagging"))
            return not_implemented(r, "bucket tagging");
        if (strcmp(m, "GET") == 0) {
            if (jcs_s3gw_query(r, "location"))
                return r->finish = jcs_s3gw_bucket_location, 0;
            if (jcs_s3gw_query(r, "uploads"))
                return r->finish = jcs_s3gw_mp_list_uploads, 0;
            const char *lt = jcs_s3gw_query(r, "list-type");
            if (lt && strcmp(lt, "2") != 0)
                return jcs_s3err_set(JCS_S3E_InvalidArgument, "list-type must be 2");
            r->op = (void *)(intptr_t)(lt ? 2 : 1); /* finish_tagged */
            return 0;
        }
        if (strcmp(m, "HEAD") == 0)
            return r->finish = jcs_s3gw_head_bucket, 0;
        if (strcmp(m, "PUT") == 0)
            return jcs_s3gw_want_xml(r, jcs_s3gw_create_bucket), 0;
        if (strcmp(m, "DELETE") == 0)
            return r->finish = jcs_s3gw_delete_bucket, 0;
        if (strcmp(m, "POST") == 0 && jcs_s3gw_query(r, "delete"))
            return jcs_s3gw_want_xml(r, jcs_s3gw_delete_objects), 0;
        return not_implemented(r, m);
    }
    const char *uid = jcs_s3gw_query(r, "uploadId");
    if (strcmp(m, "PUT") == 0) {
        if (uid && jcs_s3gw_header(r, "x-amz-copy-source"))
            return r->finish = jcs_s3gw_mp_upload_part_copy, 0;
        if (uid)
            return jcs_s3gw_mp_upload_part(r);
        if (jcs_s3gw_header(r, "x-amz-copy-source"))
            return r->finish = jcs_s3gw_copy_object, 0;
        return jcs_s3gw_put_object(r);
    }
    if (jcs_s3gw_query(r, "tagging")) {
        /* Objects carry no tags: reading them answers an empty set (awscli copies them). */
        if (strcmp(m, "GET") == 0)
            return r->finish = jcs_s3gw_get_tagging, 0;
        return not_implemented(r, "object tagging");
    }
    if (jcs_s3gw_header(r, "x-amz-tagging") && jcs_s3gw_header(r, "x-amz-tagging")[0])
        return not_implemented(r, "x-amz-tagging (object tags)");
    if (strcmp(m, "GET") == 0) {
        if (uid)
            return r->finish = jcs_s3gw_mp_list_parts, 0;
        return r->finish = NULL, r->op = (void *)(intptr_t)3, 0;
    }
    if (strcmp(m, "HEAD") == 0)
        return r->finish = NULL, r->op = (void *)(intptr_t)4, 0;
    if (strcmp(m, "DELETE") == 0)
        return r->finish = uid ? jcs_s3gw_mp_abort : jcs_s3gw_delete_object, 0;
    if (strcmp(m, "POST") == 0) {
        if (jcs_s3gw_query(r, "uploads"))
            return r->finish = jcs_s3gw_mp_create, 0;
        if (uid)
            return jcs_s3gw_want_xml(r, jcs_s3gw_mp_complete), 0;
        return not_implemented(r, "POST on an object");
    }
    return not_implemented(r, m);
}

/* The operations that take no argument beyond r, chosen by a tag in r->op. */
static int finish_tagged(s3req *r)
{
    switch ((intptr_t)r->op) {
    case 1:
        return jcs_s3gw_list_objects(r, 0);
    case 2:
        return jcs_s3gw_list_objects(r, 1);
    case 3:
        return jcs_s3gw_get_object(r, 0);
    case 4:
        return jcs_s3gw_get_object(r, 1);
    default:
        return jcs_s3err_set(JCS_S3E_InternalError, "no operation");
    }
}

static int body_out(void *arg, const void *p, size_t n)
{
    s3req *r = arg;
    return r->sink ? r->sink(r, p, n) : 0;
}

static int route_begin(jcs_http_req *h)
{
    jcs_s3gw *gw = jcs_http_req_arg(h);
    jcs_s3err_clear();
    s3req *r = jcs_calloc(1, sizeof *r);
    if (!r)
        return JCS_ENOMEM;
    r->gw = gw;
    r->svc = gw->svc;
    r->h = h;
    r->t_begin = jcs_now_us();
    snprintf(r->method, sizeof r->method, "%s", jcs_http_req_method(h));
    jcs_buf_init(&r->xml, S3GW_XML_BODY_MAX);
    uint64_t seq = atomic_fetch_add(&gw->seq, 1);
    snprintf(r->rid, sizeof r->rid, "%08llX%08llX", (unsigned long long)(jcs_wall_ms() / 1000),
             (unsigned long long)seq);
    jcs_http_req_set_ctx(h, r, req_free);
    jcs_s3gw_add_header(r, "x-amz-request-id", r->rid);
    jcs_s3gw_add_header(r, "x-amz-id-2", r->rid);

    int rc = parse_target(r, jcs_http_req_path(h));
    struct qcollect qc = {r, 0, 0};
    if (!rc)
        rc = jcs_http_query_each(h, collect_q, &qc);
    if (!rc && qc.rc)
        rc = qc.rc;
    if (!r->resource)
        r->resource = jcs_strdup(jcs_http_req_path(h));
    if (!rc) {
        /* The decoded path as signed: "/bucket/key", or "/key" for a virtual host. */
        char *dpath = pct_decode(jcs_http_req_path(h), strlen(jcs_http_req_path(h)), "path");
        if (!dpath)
            rc = JCS_EINVAL;
        else {
            jcs_s3auth_req ar = {
                r->method, dpath, jcs_http_req_path(h), r->q, r->nq, auth_header, r, time(NULL)};
            rc = jcs_s3auth_verify(&gw->acfg, &ar, &r->auth);
            jcs_free(dpath);
        }
    }
    if (!rc)
        rc = dispatch(r);
    if (!rc && !r->body && (r->sink || r->collect_xml)) {
        rc = jcs_s3body_new(&r->auth, auth_header, r, body_out, r, &r->body);
        /* Object bodies go into upload plans, which compute the MD5 themselves. */
        if (!rc && !r->collect_xml)
            jcs_s3body_md5_elsewhere(r->body);
    }
    r->t_begun = jcs_now_us();
    if (rc)
        return jcs_s3gw_error(r, rc);
    return 0;
}

static int route_data(jcs_http_req *h, const void *p, size_t n)
{
    s3req *r = jcs_http_req_ctx(h);
    if (!r->body)
        return 0; /* an operation that reads no body: ignore it */
    if (!r->t_data)
        r->t_data = jcs_now_us();
    int rc = jcs_s3body_feed(r->body, p, n);
    if (rc)
        jcs_s3gw_error(r, rc);
    return rc;
}

/*
 * One debug line per successful request: when its body began and ended and
 * how long the plan's finish and the metadata commit took after it (ms from
 * the request's start). A slow multipart upload is read from these lines.
 */
static void log_timeline(const s3req *r)
{
    int64_t now = jcs_now_us(), b = r->t_begin;
    int64_t data = r->t_data ? r->t_data - b : -1000, plan = r->t_plan_end ? r->t_plan_end : now;
    jcs_debug(
        "s3: %s %s%s%s: %llu bytes; begun %.1f, body %.1f..%.1f, plan done %.1f, end %.1f ms",
        r->method, r->resource ? r->resource : "", jcs_s3gw_query(r, "partNumber") ? " part " : "",
        jcs_s3gw_query(r, "partNumber") ? jcs_s3gw_query(r, "partNumber") : "",
        (unsigned long long)(r->body ? jcs_s3body_size(r->body) : 0), (r->t_begun - b) / 1000.0,
        data / 1000.0, (r->t_body_end - b) / 1000.0, (plan - b) / 1000.0, (now - b) / 1000.0);
}

static int route_handle(jcs_http_req *h)
{
    s3req *r = jcs_http_req_ctx(h);
    int rc = 0;
    r->t_body_end = jcs_now_us();
    if (r->body && (rc = jcs_s3body_finish(r->body)) != 0) {
        if (r->cancel)
            r->cancel(r);
        return jcs_s3gw_error(r, rc);
    }
    rc = r->finish ? r->finish(r) : finish_tagged(r);
    if (rc)
        return jcs_s3gw_error(r, rc);
    log_timeline(r);
    return 0;
}

static void route_abort(jcs_http_req *h, int why)
{
    s3req *r = jcs_http_req_ctx(h);
    if (r && r->cancel) {
        jcs_info("s3: %s %s: request ended early (%s); nothing was stored", r->method,
                 r->resource ? r->resource : "", jcs_err_name(why));
        r->cancel(r);
    }
}

/* ---- the listener ---- */

int jcs_s3gw_start(jcs_svc *svc, const jcs_http_config *http, jcs_s3conf *conf, jcs_s3gw **out)
{
    *out = NULL;
    jcs_s3gw *gw = jcs_calloc(1, sizeof *gw);
    if (!gw)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    gw->svc = svc;
    gw->conf = *conf;
    memset(conf, 0, sizeof *conf);
    gw->acfg.creds = gw->conf.creds;
    gw->acfg.ncreds = gw->conf.ncreds;
    gw->acfg.region = gw->conf.region;
    pthread_mutex_init(&gw->slot_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&gw->slot_cv, &ca);
    pthread_condattr_destroy(&ca);
    jcs_http_config hc = *http;
    hc.listen = gw->conf.listen;
    hc.no_client_cert = 1;
    hc.raw_paths = 1;
    hc.root_ca_file = NULL;
    hc.client_cert_files = NULL;
    hc.nclient_certs = 0;
    jcs_http_route route = {.method = NULL,
                            .path = NULL,
                            .body = JCS_HTTP_BODY_RAW,
                            .handle = route_handle,
                            .begin = route_begin,
                            .data = route_data,
                            .abort = route_abort,
                            .arg = gw};
    int rc = jcs_http_start(&hc, &route, 1, &gw->http);
    if (rc) {
        rc = jcs_err_wrap(rc, "s3.listen %s: ", gw->conf.listen);
        jcs_s3conf_free(&gw->conf);
        pthread_cond_destroy(&gw->slot_cv);
        pthread_mutex_destroy(&gw->slot_mu);
        jcs_free(gw);
        return rc;
    }
    *out = gw;
    return JCS_OK;
}

int jcs_s3gw_port(const jcs_s3gw *gw)
{
    return jcs_http_port(gw->http);
}

const char *jcs_s3gw_listen(const jcs_s3gw *gw)
{
    return gw->conf.listen;
}

void jcs_s3gw_stop(jcs_s3gw *gw)
{
    if (!gw)
        return;
    jcs_http_stop(gw->http);
    jcs_s3conf_free(&gw->conf);
    pthread_cond_destroy(&gw->slot_cv);
    pthread_mutex_destroy(&gw->slot_mu);
    jcs_free(gw);
}
