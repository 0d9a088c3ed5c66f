/*
 * storage_s3.c - the S3 backend: libcurl easy handles, our own SigV4 signer.
 *
 * Every request goes through s3_do(), which signs it (sigv4.c), sends it,
 * and retries with exponential backoff on 5xx, 429, timeouts and connection
 * errors, never on other 4xx. A GET streaming into a caller's sink resumes
 * with a Range from the first byte not yet delivered, so the sink sees each
 * byte once. Handles are pooled per backend (connection reuse) under a mutex.
 *
 * Payload hashes: bodies we stream (objects, parts) are sent as
 * UNSIGNED-PAYLOAD, which S3 accepts; small XML bodies carry their real
 * SHA-256; requests without a body carry the empty-string hash.
 *
 * Writes: see storage.h. A writer keeps up to part_size bytes in memory. The
 * temporary key of a multipart write, and its upload id, are registered in
 * the backend's live list until the writer ends, so reclaim never touches a
 * live writer of this process (other processes are protected by the age).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "sigv4.h"
#include "storage_backend.h"
#include "util.h"

#define S3_MIN_PART      (5u << 20)
#define S3_MAX_PART      (64u << 20)
#define S3_DEF_PART      (8u << 20)
#define S3_MAX_PARTS     10000
#define S3_MAX_COPY      (5ull << 30)
#define S3_IDLE_MAX      8
#define S3_ERRBODY_CAP   (64u << 10)
#define S3_XML_CAP       (16u << 20)
#define S3_SMALL_XML_CAP (1u << 20)
#define S3_DELETE_BATCH  1000
#define S3_OPEN_END      UINT64_MAX

struct s3_writer;

struct s3 {
    jcs_storage base;
    char *origin;      /* "http://host:port" or "http://bucket.host:port" */
    char *host_header; /* "host:port" or "bucket.host:port" */
    char *path_base;   /* "/bucket" (path style) or "" (virtual host) */
    char *bucket;
    char *prefix; /* "" or "a/b/" */
    char *region;
    char *access_key;
    char *secret_key;
    char *ca_file;
    long connect_timeout_ms;
    long io_timeout_s;
    int max_attempts;
    int retry_base_ms;
    size_t part_size;
    uint64_t copy_max_single;
    int list_page_size;

    pthread_mutex_t mu; /* guards idle and live */
    CURL *idle[S3_IDLE_MAX];
    int nidle;
    struct s3_writer *live;
};

struct s3_writer {
    jcs_storage_writer base;
    char *buf;
    size_t len, size;
    char *tmpkey;    /* "tmp/<hex>.<pid>", relative to the prefix; set once multipart */
    char *upload_id; /* of the multipart upload to tmpkey */
    char **etags;
    int nparts, etag_cap;
    struct s3_writer *next_live;
    int registered;
};

/* One logical request; s3_do may send it several times. */
struct s3_req {
    const char *method;
    const char *key;   /* full key (prefix included), or NULL for the bucket itself */
    const char *query; /* encoded, or NULL */
    const char *what;  /* how the request is named in errors: "blocks/AB/...", "tmp/x part 3" */
    const char *body;  /* request body (borrowed), or NULL */
    size_t body_len;
    int has_body;
    int hash_body;            /* sign the real SHA-256 of body instead of UNSIGNED-PAYLOAD */
    const char *content_md5;  /* base64 MD5 of body, signed, or NULL */
    const char *copy_source;  /* x-amz-copy-source, or NULL */
    const char *copy_range;   /* x-amz-copy-source-range, or NULL */
    const char *content_type; /* or NULL */
    int head;                 /* HEAD: no body expected */
    int ok_404;               /* a 404 counts as success (delete) */
    int error_in_200;         /* a 200 may carry <Error> (Complete, Copy) */
    /* Range GET: bytes [range_start, range_end] (range_end S3_OPEN_END: to the end). */
    int has_range;
    uint64_t range_start, range_end;
    jcs_storage_sink sink;
    void *sink_arg;
    uint64_t delivered; /* bytes handed to sink over all attempts */
    jcs_buf *out;       /* receives a 2xx body when there is no sink */
    /* Results of the last attempt. */
    long status;
    char etag[160];
    char content_range[128];
    uint64_t content_length;
    int64_t filetime;
};

struct attempt {
    struct s3 *s;
    struct s3_req *r;
    CURL *h;
    size_t body_off;
    jcs_buf err; /* error response body */
    int cb_rc;   /* error raised inside a callback */
    int checked; /* first 2xx body piece seen and validated */
    int enough;  /* the server sent more than the range; the rest was dropped */
    int ranged;  /* this attempt sent a Range header */
    uint64_t start;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- small XML reader ----------------------------------------------------
 * S3 answers are flat, well-known documents; this finds <tag>...</tag>
 * elements in order (attributes and namespaces allowed, <tag/> is empty) and
 * decodes the five named entities and numeric references. */

static int xml_next(const char **pos, const char *end, const char *tag, const char **vs,
                    const char **ve)
{
    size_t tl = strlen(tag);
    const char *p = *pos;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || (size_t)(end - lt) < tl + 2)
            return 0;
        p = lt + 1;
        if (strncmp(p, tag, tl) != 0)
            continue;
        char c = p[tl];
        if (c != '>' && c != ' ' && c != '/' && c != '\t' && c != '\r' && c != '\n')
            continue;
        const char *gt = memchr(p, '>', (size_t)(end - p));
        if (!gt)
            return 0;
        if (gt[-1] == '/') { /* <tag/> */
            *vs = *ve = gt + 1;
            *pos = gt + 1;
            return 1;
        }
        const char *q = gt + 1;
        while (q < end) {
            const char *close = memchr(q, '<', (size_t)(end - q));
            if (!close || (size_t)(end - close) < tl + 3)
                return 0;
            if (close[1] == '/' && strncmp(close + 2, tag, tl) == 0 && close[2 + tl] == '>') {
                *vs = gt + 1;
                *ve = close;
                *pos = close + 3 + tl;
                return 1;
            }
            q = close + 1;
        }
        return 0;
    }
    return 0;
}

/* Appends the decoded text of vs..ve to b. */
static int xml_text(jcs_buf *b, const char *vs, const char *ve)
{
    int rc = JCS_OK;
    while (vs < ve && !rc) {
        if (*vs != '&') {
            const char *amp = memchr(vs, '&', (size_t)(ve - vs));
            const char *stop = amp ? amp : ve;
            rc = jcs_buf_append(b, vs, (size_t)(stop - vs));
            vs = stop;
            continue;
        }
        const char *semi = memchr(vs, ';', (size_t)(ve - vs));
        size_t n = semi ? (size_t)(semi - vs - 1) : 0;
        const char *e = vs + 1;
        static const struct {
            const char *name;
            char c;
        } ents[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
        int done = 0;
        for (size_t i = 0; semi && i < sizeof(ents) / sizeof(ents[0]) && !done; i++)
            if (strlen(ents[i].name) == n && strncmp(e, ents[i].name, n) == 0) {
                rc = jcs_buf_append(b, &ents[i].c, 1);
                done = 1;
            }
        if (!done && semi && n >= 2 && e[0] == '#') {
            char num[16];
            if (n < sizeof(num)) {
                memcpy(num, e + 1, n - 1);
                num[n - 1] = '\0';
                char *endp;
                unsigned long cp = (num[0] == 'x' || num[0] == 'X') ? strtoul(num + 1, &endp, 16)
                                                                    : strtoul(num, &endp, 10);
                if (*endp == '\0' && cp > 0 && cp <= 0x10FFFF) {
                    if (!rc)
                        rc = jcs_buf_append_utf8(b, cp);
                    done = 1;
                }
            }
        }
        if (done) {
            vs = semi + 1;
        } else { /* not an entity we know: keep the '&' literally */
            rc = jcs_buf_append(b, "&", 1);
            vs++;
        }
    }
    return rc;
}

/* Decoded text of the first <tag> in [p, end) into out (size n); "" when absent. */
static void xml_get(const char *p, const char *end, const char *tag, char *out, size_t n)
{
    const char *vs, *ve;
    out[0] = '\0';
    if (!xml_next(&p, end, tag, &vs, &ve))
        return;
    jcs_buf b;
    jcs_buf_init(&b, n - 1);
    if (xml_text(&b, vs, ve) == JCS_OK && b.len)
        memcpy(out, b.data, b.len + 1);
    jcs_buf_clear(&b);
}

static int xml_escape(jcs_buf *b, const char *s)
{
    int rc = JCS_OK;
    for (; *s && !rc; s++) {
        switch (*s) {
        case '&':
            rc = jcs_buf_append(b, "&amp;", 5);
            break;
        case '<':
            rc = jcs_buf_append(b, "&lt;", 4);
            break;
        case '>':
            rc = jcs_buf_append(b, "&gt;", 4);
            break;
        case '"':
            rc = jcs_buf_append(b, "&quot;", 6);
            break;
        case '\'':
            rc = jcs_buf_append(b, "&apos;", 6);
            break;
        default:
            rc = jcs_buf_append(b, s, 1);
        }
    }
    return rc;
}

/* "2026-11-22T03:00:17.000Z" -> ms since the epoch; -1 when malformed. */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *dot = strchr(s, '.');
    if (dot) {
        int digits = 0;
        for (const char *d = dot + 1; isdigit((unsigned char)*d) && digits < 3; d++, digits++)
            ms = ms * 10 + (*d - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static const char *bdata(const jcs_buf *b)
{
    return b->data ? b->data : "";
}

/* ---- handles and requests ------------------------------------------------ */

static CURL *handle_get(struct s3 *s)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->nidle > 0)
        h = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->mu);
    return h ? h : curl_easy_init();
}

static void handle_put(struct s3 *s, CURL *h)
{
    pthread_mutex_lock(&s->mu);
    if (s->nidle < S3_IDLE_MAX) {
        s->idle[s->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (h)
        curl_easy_cleanup(h);
}

static int is_2xx(long st)
{
    return st >= 200 && st < 300;
}

/* Parses "bytes S-E/T" (returns 3) or "bytes * /T" without the space (returns 1). */
static int parse_content_range(const char *cr, uint64_t *s, uint64_t *e, uint64_t *t)
{
    unsigned long long a, b, c;
    if (sscanf(cr, "bytes %llu-%llu/%llu", &a, &b, &c) == 3) {
        *s = a;
        *e = b;
        *t = c;
        return 3;
    }
    if (sscanf(cr, "bytes */%llu", &c) == 1) {
        *t = c;
        return 1;
    }
    return 0;
}

/* Validates the answer to a Range GET before its first byte reaches the sink. */
static int check_range_answer(struct attempt *a, long status)
{
    struct s3_req *r = a->r;
    const char *name = a->s->base.name;
    curl_off_t cl = -1;
    curl_easy_getinfo(a->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (!a->ranged)
        return JCS_OK;
    if (status == 206) {
        uint64_t s = 0, e = 0, t = 0;
        if (parse_content_range(r->content_range, &s, &e, &t) != 3)
            return jcs_err_set(JCS_EIO, "%s: GET %s: bad Content-Range \"%s\"", name, r->what,
                               r->content_range);
        if (s != a->start)
            return jcs_err_set(JCS_EIO, "%s: GET %s: asked for bytes from %llu, got from %llu",
                               name, r->what, (unsigned long long)a->start, (unsigned long long)s);
        /* More than asked (s3rver answers "bytes=0-0" with everything) is cut in on_body. */
        if (r->range_end != S3_OPEN_END && e < r->range_end)
            return jcs_err_set(JCS_EINVAL,
                               "%s: GET %s: range [%llu, %llu) is past the end (size %llu)", name,
                               r->what, (unsigned long long)r->range_start,
                               (unsigned long long)(r->range_end + 1), (unsigned long long)t);
        return JCS_OK;
    }
    /* 200: the server ignored the Range; usable when the bytes asked for come first. */
    if (a->start == 0 && (r->range_end == S3_OPEN_END || (cl >= 0 && (uint64_t)cl > r->range_end)))
        return JCS_OK;
    if (cl >= 0 && r->range_end != S3_OPEN_END && (uint64_t)cl <= r->range_end)
        return jcs_err_set(JCS_EINVAL, "%s: GET %s: range [%llu, %llu) is past the end (size %lld)",
                           name, r->what, (unsigned long long)r->range_start,
                           (unsigned long long)(r->range_end + 1), (long long)cl);
    return jcs_err_set(JCS_EIO, "%s: GET %s: the server ignored the Range header", name, r->what);
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct attempt *a = ud;
    struct s3_req *r = a->r;
    size_t n = sz * nm;
    long st = 0;
    curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &st);
    if (!is_2xx(st)) {
        /* Keep the start of an error body for the message; drop the rest. */
        size_t room = a->err.cap > a->err.len ? a->err.cap - a->err.len : 0;
        if (room && jcs_buf_append(&a->err, p, n < room ? n : room) != JCS_OK)
            return 0;
        return n;
    }
    if (r->sink) {
        if (!a->checked) {
            a->checked = 1;
            a->cb_rc = check_range_answer(a, st);
            if (a->cb_rc)
                return 0;
        }
        uint64_t want = r->range_end - r->range_start + 1;
        if (r->range_end != S3_OPEN_END && r->delivered + n > want) {
            /* Hand over what was asked for and stop the transfer there. */
            size_t keep = (size_t)(want - r->delivered);
            a->cb_rc = keep ? r->sink(r->sink_arg, p, keep) : JCS_OK;
            if (!a->cb_rc)
                r->delivered += keep;
            a->enough = !a->cb_rc;
            return 0;
        }
        a->cb_rc = r->sink(r->sink_arg, p, n);
        if (a->cb_rc)
            return 0;
        r->delivered += n;
        return n;
    }
    if (r->out) {
        a->cb_rc = jcs_buf_append(r->out, p, n);
        if (a->cb_rc) {
            a->cb_rc = jcs_err_set(a->cb_rc, "%s: %s %s: response: %s", a->s->base.name, r->method,
                                   r->what, jcs_strerror(a->cb_rc));
            return 0;
        }
    }
    return n;
}

static void copy_header_value(char *dst, size_t dn, const char *v, size_t vn)
{
    while (vn && (*v == ' ' || *v == '\t')) {
        v++;
        vn--;
    }
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    if (vn >= dn)
        vn = dn - 1;
    memcpy(dst, v, vn);
    dst[vn] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct attempt *a = ud;
    size_t n = sz * nm;
    if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        a->r->etag[0] = '\0';
        a->r->content_range[0] = '\0';
    } else if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        copy_header_value(a->r->etag, sizeof(a->r->etag), p + 5, n - 5);
    } else if (n > 14 && strncasecmp(p, "content-range:", 14) == 0) {
        copy_header_value(a->r->content_range, sizeof(a->r->content_range), p + 14, n - 14);
    }
    return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *ud)
{
    struct attempt *a = ud;
    size_t n = sz * nm, left = a->r->body_len - a->body_off;
    if (n > left)
        n = left;
    memcpy(p, a->r->body + a->body_off, n);
    a->body_off += n;
    return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct attempt *a = ud;
    if (origin != SEEK_SET || off < 0 || (size_t)off > a->r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    a->body_off = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static int map_status(long st)
{
    switch (st) {
    case 404:
        return JCS_ENOENT;
    case 401:
    case 403:
        return JCS_EPERM;
    case 409:
        return JCS_EBUSY;
    case 400:
    case 405:
    case 411:
    case 412:
    case 416:
        return JCS_EINVAL;
    case 501:
        return JCS_EINVAL;
    default:
        return st >= 500 || st == 429 ? JCS_EUNAVAIL : JCS_EIO;
    }
}

/* Sets the detail for an HTTP error answer: "HTTP 403 AccessDenied: message". */
static int http_error(struct attempt *a, long st, int *retry)
{
    struct s3_req *r = a->r;
    char code[96], msg[320];
    code[0] = msg[0] = '\0';
    if (a->err.len) {
        const char *b = a->err.data, *e = a->err.data + a->err.len;
        xml_get(b, e, "Code", code, sizeof(code));
        xml_get(b, e, "Message", msg, sizeof(msg));
    }
    *retry = st >= 500 || st == 429;
    if (st == 501)
        *retry = 0; /* NotImplemented will not change on retry */
    return jcs_err_set(map_status(st), "%s: %s %s: HTTP %ld%s%s%s%s", a->s->base.name, r->method,
                       r->what, st, code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

static int curl_error(struct attempt *a, CURLcode cc, const char *ebuf, int *retry)
{
    struct s3_req *r = a->r;
    int code = JCS_EIO;
    *retry = 0;
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        code = JCS_ETIMEOUT;
        *retry = 1;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        code = JCS_EUNAVAIL;
        *retry = 1;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        code = JCS_ETLS;
        break;
    case CURLE_OUT_OF_MEMORY:
        code = JCS_ENOMEM;
        break;
    default:
        break;
    }
    return jcs_err_set(code, "%s: %s %s: %s", a->s->base.name, r->method, r->what,
                       ebuf && *ebuf ? ebuf : curl_easy_strerror(cc));
}

static int add_header(struct curl_slist **l, const char *fmt, ...) JCS_PRINTF(2, 3);

static int add_header(struct curl_slist **l, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return JCS_ETOOBIG;
    struct curl_slist *nl = curl_slist_append(*l, line);
    if (!nl)
        return JCS_ENOMEM;
    *l = nl;
    return JCS_OK;
}

/* One try of r on handle h. *retry tells whether another try may succeed. */
static int attempt_once(struct s3 *s, CURL *h, struct s3_req *r, const char *path, const char *url,
                        int *retry)
{
    struct attempt a = {.s = s, .r = r, .h = h};
    jcs_buf_init(&a.err, S3_ERRBODY_CAP);
    *retry = 0;
    r->status = 0;
    r->etag[0] = r->content_range[0] = '\0';
    if (r->out)
        jcs_buf_reset(r->out);

    char date[17];
    jcs_sigv4_amz_date(time(NULL), date);
    char body_hash[65];
    const char *payload = JCS_SIGV4_EMPTY_SHA256;
    if (r->has_body && r->body_len && r->hash_body) {
        jcs_sigv4_sha256_hex(r->body, r->body_len, body_hash);
        payload = body_hash;
    } else if (r->has_body && r->body_len) {
        payload = JCS_SIGV4_UNSIGNED_PAYLOAD;
    }

    struct jcs_sigv4_header hs[6] = {
        {"host", s->host_header}, {"x-amz-date", date}, {"x-amz-content-sha256", payload}};
    size_t nh = 3;
    if (r->content_md5)
        hs[nh++] = (struct jcs_sigv4_header){"content-md5", r->content_md5};
    if (r->copy_source)
        hs[nh++] = (struct jcs_sigv4_header){"x-amz-copy-source", r->copy_source};
    if (r->copy_range)
        hs[nh++] = (struct jcs_sigv4_header){"x-amz-copy-source-range", r->copy_range};
    struct jcs_sigv4_request sreq = {.method = r->method,
                                     .path = path,
                                     .query = r->query,
                                     .headers = hs,
                                     .nheaders = nh,
                                     .payload_hash = payload};
    struct jcs_sigv4_key key = {s->access_key, s->secret_key, s->region, "s3"};
    jcs_buf auth;
    jcs_buf_init(&auth, 4096);
    struct curl_slist *hl = NULL;
    int rc = jcs_sigv4_sign(&sreq, &key, date, &auth, NULL, NULL);
    if (rc) {
        rc = jcs_err_wrap(rc, "%s: %s %s: ", s->base.name, r->method, r->what);
        goto out;
    }

    /* Range from the first byte the sink has not seen (a resumed GET). */
    a.start = r->range_start + r->delivered;
    a.ranged = r->sink && (r->has_range || r->delivered > 0);
    rc = add_header(&hl, "Host: %s", s->host_header);
    if (!rc)
        rc = add_header(&hl, "x-amz-date: %s", date);
    if (!rc)
        rc = add_header(&hl, "x-amz-content-sha256: %s", payload);
    if (!rc)
        rc = add_header(&hl, "Authorization: %s", auth.data);
    if (!rc) /* no 100-continue round trip before each body */
        rc = add_header(&hl, "Expect:");
    if (!rc && r->content_md5)
        rc = add_header(&hl, "Content-MD5: %s", r->content_md5);
    if (!rc && r->copy_source)
        rc = add_header(&hl, "x-amz-copy-source: %s", r->copy_source);
    if (!rc && r->copy_range)
        rc = add_header(&hl, "x-amz-copy-source-range: %s", r->copy_range);
    if (!rc)
        rc = add_header(&hl, "Content-Type:%s%s", r->content_type ? " " : "",
                        r->content_type ? r->content_type : "");
    if (!rc && a.ranged) {
        if (r->range_end == S3_OPEN_END)
            rc = add_header(&hl, "Range: bytes=%llu-", (unsigned long long)a.start);
        else
            rc = add_header(&hl, "Range: bytes=%llu-%llu", (unsigned long long)a.start,
                            (unsigned long long)r->range_end);
    }
    if (rc) {
        rc = jcs_err_set(rc, "%s: %s %s: headers: %s", s->base.name, r->method, r->what,
                         jcs_strerror(rc));
        goto out;
    }

    char ebuf[CURL_ERROR_SIZE];
    ebuf[0] = '\0';
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->io_timeout_s);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (s->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
    if (r->head) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &a);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &a);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }

    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (cc == CURLE_WRITE_ERROR && a.enough)
        cc = CURLE_OK;
    if (cc != CURLE_OK) {
        rc = a.cb_rc ? a.cb_rc : curl_error(&a, cc, ebuf, retry);
        goto out;
    }
    long st = r->status;
    if (!is_2xx(st) && !(st == 404 && r->ok_404)) {
        rc = http_error(&a, st, retry);
        goto out;
    }
    if (r->error_in_200 && r->out && r->out->len && strstr(r->out->data, "<Error>")) {
        /* CompleteMultipartUpload and CopyObject report late failures in a 200 body. */
        jcs_buf_reset(&a.err);
        if (jcs_buf_append(&a.err, r->out->data, r->out->len) != JCS_OK)
            jcs_buf_reset(&a.err);
        rc = http_error(&a, 500, retry);
        goto out;
    }
    curl_off_t cl = -1;
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    r->content_length = cl >= 0 ? (uint64_t)cl : 0;
    curl_off_t ft = -1;
    curl_easy_getinfo(h, CURLINFO_FILETIME_T, &ft);
    r->filetime = ft;
    if (r->sink && !a.checked) {
        /* An empty 2xx body still has to be the range asked for. */
        a.checked = 1;
        rc = check_range_answer(&a, st);
        if (rc)
            goto out;
    }
    if (r->sink && r->range_end != S3_OPEN_END &&
        r->delivered != r->range_end - r->range_start + 1) {
        rc = jcs_err_set(JCS_EUNAVAIL, "%s: GET %s: got %llu of %llu bytes", s->base.name, r->what,
                         (unsigned long long)r->delivered,
                         (unsigned long long)(r->range_end - r->range_start + 1));
        *retry = 1;
    }
out:
    /* The handle must not keep pointers to this frame (error buffer, callbacks'
     * data) or to the freed header list while it waits in the pool. */
    curl_easy_reset(h);
    curl_slist_free_all(hl);
    jcs_buf_clear(&auth);
    jcs_buf_clear(&a.err);
    return rc;
}

/* URL path of a key (encoded once) or of the bucket when key is NULL. */
static int build_path(struct s3 *s, const char *key, jcs_buf *path)
{
    int rc = jcs_buf_printf(path, "%s/", s->path_base);
    if (!rc && key)
        rc = jcs_sigv4_uri_encode(path, key, strlen(key), 1);
    /* Path style addresses the bucket as "/bucket", not "/bucket/". */
    if (!rc && !key && *s->path_base)
        path->data[--path->len] = '\0';
    return rc;
}

static int s3_do(struct s3 *s, struct s3_req *r)
{
    jcs_buf path, url;
    jcs_buf_init(&path, 8192);
    jcs_buf_init(&url, 16384);
    int rc = build_path(s, r->key, &path);
    if (!rc)
        rc = jcs_buf_printf(&url, "%s%s%s%s", s->origin, path.data, r->query ? "?" : "",
                            r->query ? r->query : "");
    if (rc) {
        jcs_buf_clear(&path);
        jcs_buf_clear(&url);
        return jcs_err_set(rc, "%s: %s %s: URL: %s", s->base.name, r->method, r->what,
                           jcs_strerror(rc));
    }
    CURL *h = handle_get(s);
    if (!h) {
        jcs_buf_clear(&path);
        jcs_buf_clear(&url);
        return jcs_err_set(JCS_ENOMEM, "%s: %s %s: no curl handle", s->base.name, r->method,
                           r->what);
    }
    int attempt = 1, retry = 0;
    while (1) {
        rc = attempt_once(s, h, r, path.data, url.data, &retry);
        if (!rc || !retry || attempt >= s->max_attempts)
            break;
        int64_t delay = (int64_t)s->retry_base_ms << (attempt - 1);
        delay += (jcs_now_ms() ^ (int64_t)getpid()) % (delay / 4 + 1); /* spread out retries */
        jcs_warn("%s; retry %d/%d in %lld ms", jcs_err_msg(rc), attempt + 1, s->max_attempts,
                 (long long)delay);
        jcs_sleep_ms(delay);
        attempt++;
    }
    if (rc && retry && attempt > 1) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        jcs_err_set(rc, "%s (%d attempts)", msg, attempt);
    }
    handle_put(s, h);
    jcs_buf_clear(&path);
    jcs_buf_clear(&url);
    return rc;
}

static char *full_key(struct s3 *s, const char *key)
{
    return jcs_asprintf("%s%s", s->prefix, key);
}

/* ---- writers ------------------------------------------------------------- */

static void live_add(struct s3 *s, struct s3_writer *w)
{
    pthread_mutex_lock(&s->mu);
    w->next_live = s->live;
    s->live = w;
    w->registered = 1;
    pthread_mutex_unlock(&s->mu);
}

static void live_remove(struct s3 *s, struct s3_writer *w)
{
    if (!w->registered)
        return;
    pthread_mutex_lock(&s->mu);
    for (struct s3_writer **p = &s->live; *p; p = &(*p)->next_live)
        if (*p == w) {
            *p = w->next_live;
            break;
        }
    w->registered = 0;
    pthread_mutex_unlock(&s->mu);
}

/* Whether a temporary key (relative) or upload id belongs to a live writer here. */
static int live_has(struct s3 *s, const char *tmpkey, const char *upload_id)
{
    int found = 0;
    pthread_mutex_lock(&s->mu);
    for (struct s3_writer *w = s->live; w && !found; w = w->next_live)
        found = (tmpkey && w->tmpkey && strcmp(w->tmpkey, tmpkey) == 0) ||
                (upload_id && w->upload_id && strcmp(w->upload_id, upload_id) == 0);
    pthread_mutex_unlock(&s->mu);
    return found;
}

static int s3_write_begin(jcs_storage *s, jcs_storage_writer **out)
{
    struct s3_writer *w = jcs_calloc(1, sizeof(*w));
    if (!w)
        return jcs_err_set(JCS_ENOMEM, "%s: write: out of memory", s->name);
    w->base.s = s;
    *out = &w->base;
    return JCS_OK;
}

/* POST key?uploads; returns the upload id (caller frees). */
static int initiate_multipart(struct s3 *s, const char *fkey, const char *what, char **upload_id)
{
    jcs_buf resp;
    jcs_buf_init(&resp, S3_SMALL_XML_CAP);
    struct s3_req r = {.method = "POST",
                       .key = fkey,
                       .query = "uploads=",
                       .what = what,
                       .has_body = 1,
                       .hash_body = 1,
                       .body = "",
                       .out = &resp};
    int rc = s3_do(s, &r);
    if (!rc) {
        char id[1024];
        xml_get(bdata(&resp), bdata(&resp) + resp.len, "UploadId", id, sizeof(id));
        if (!id[0])
            rc = jcs_err_set(JCS_ERPC, "%s: POST %s?uploads: no UploadId in the answer",
                             s->base.name, what);
        else if (!(*upload_id = jcs_strdup(id)))
            rc = jcs_err_set(JCS_ENOMEM, "%s: POST %s?uploads: out of memory", s->base.name, what);
    }
    jcs_buf_clear(&resp);
    return rc;
}

/* Encoded "partNumber=N&uploadId=ID" (sorted, as signed). Caller frees. */
static char *part_query(int part, const char *upload_id)
{
    jcs_buf q;
    jcs_buf_init(&q, 4096);
    int rc = jcs_buf_printf(&q, "partNumber=%d&uploadId=", part);
    if (!rc)
        rc = jcs_sigv4_uri_encode(&q, upload_id, strlen(upload_id), 0);
    if (rc || !q.data) {
        jcs_buf_clear(&q);
        return NULL;
    }
    return jcs_buf_steal(&q);
}

static char *upload_query(const char *upload_id)
{
    jcs_buf q;
    jcs_buf_init(&q, 4096);
    int rc = jcs_buf_append(&q, "uploadId=", 9);
    if (!rc)
        rc = jcs_sigv4_uri_encode(&q, upload_id, strlen(upload_id), 0);
    if (rc) {
        jcs_buf_clear(&q);
        return NULL;
    }
    return jcs_buf_steal(&q);
}

static int abort_multipart(struct s3 *s, const char *fkey, const char *what, const char *upload_id)
{
    char *q = upload_query(upload_id);
    if (!q)
        return jcs_err_set(JCS_ENOMEM, "%s: abort upload of %s: out of memory", s->base.name, what);
    struct s3_req r = {.method = "DELETE", .key = fkey, .query = q, .what = what, .ok_404 = 1};
    int rc = s3_do(s, &r);
    jcs_free(q);
    return rc;
}

static int keep_etag(struct s3 *s, struct s3_writer *w, const char *etag, const char *what)
{
    if (w->nparts == w->etag_cap) {
        int ncap = w->etag_cap ? w->etag_cap * 2 : 16;
        char **n = jcs_realloc(w->etags, (size_t)ncap * sizeof(*n));
        if (!n)
            return jcs_err_set(JCS_ENOMEM, "%s: %s: out of memory", s->base.name, what);
        w->etags = n;
        w->etag_cap = ncap;
    }
    if (!etag[0])
        return jcs_err_set(JCS_ERPC, "%s: %s: no ETag in the answer", s->base.name, what);
    if (!(w->etags[w->nparts] = jcs_strdup(etag)))
        return jcs_err_set(JCS_ENOMEM, "%s: %s: out of memory", s->base.name, what);
    w->nparts++;
    return JCS_OK;
}

/* Uploads the buffer as the next part, starting the multipart upload first if needed. */
static int flush_part(struct s3 *s, struct s3_writer *w)
{
    int rc;
    char what[128];
    if (w->nparts >= S3_MAX_PARTS)
        return jcs_err_set(JCS_ETOOBIG, "%s: write: more than %d parts of %zu bytes", s->base.name,
                           S3_MAX_PARTS, s->part_size);
    if (!w->upload_id) {
        char hex[17];
        jcs_unique_hex(hex);
        w->tmpkey = jcs_asprintf("tmp/%s.%d", hex, (int)getpid());
        if (!w->tmpkey)
            return jcs_err_set(JCS_ENOMEM, "%s: write: out of memory", s->base.name);
        char *fkey = full_key(s, w->tmpkey);
        if (!fkey)
            return jcs_err_set(JCS_ENOMEM, "%s: write: out of memory", s->base.name);
        /* Registered before the upload exists, so reclaim cannot race its creation. */
        live_add(s, w);
        rc = initiate_multipart(s, fkey, w->tmpkey, &w->upload_id);
        jcs_free(fkey);
        if (rc)
            return rc;
    }
    snprintf(what, sizeof(what), "%s part %d", w->tmpkey, w->nparts + 1);
    char *fkey = full_key(s, w->tmpkey);
    char *q = part_query(w->nparts + 1, w->upload_id);
    if (!fkey || !q) {
        jcs_free(fkey);
        jcs_free(q);
        return jcs_err_set(JCS_ENOMEM, "%s: %s: out of memory", s->base.name, what);
    }
    struct s3_req r = {.method = "PUT",
                       .key = fkey,
                       .query = q,
                       .what = what,
                       .has_body = 1,
                       .body = w->buf,
                       .body_len = w->len};
    rc = s3_do(s, &r);
    if (!rc)
        rc = keep_etag(s, w, r.etag, what);
    if (!rc)
        w->len = 0;
    jcs_free(fkey);
    jcs_free(q);
    return rc;
}

static int s3_write(jcs_storage_writer *bw, const void *data, size_t n)
{
    struct s3_writer *w = (struct s3_writer *)bw;
    struct s3 *s = (struct s3 *)bw->s;
    const char *p = data;
    while (n) {
        if (w->len == s->part_size) {
            /* Only a full buffer followed by more data makes this a multipart upload. */
            int rc = flush_part(s, w);
            if (rc)
                return rc;
        }
        if (w->len == w->size) {
            size_t ns = w->size ? w->size * 2 : 64 * 1024;
            while (ns < w->len + n && ns < s->part_size)
                ns *= 2;
            if (ns > s->part_size)
                ns = s->part_size;
            char *nb = jcs_realloc(w->buf, ns);
            if (!nb)
                return jcs_err_set(JCS_ENOMEM, "%s: write: out of memory (%zu byte buffer)",
                                   s->base.name, ns);
            w->buf = nb;
            w->size = ns;
        }
        size_t k = w->size - w->len < n ? w->size - w->len : n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
    }
    return JCS_OK;
}

static void writer_free(struct s3 *s, struct s3_writer *w)
{
    live_remove(s, w);
    for (int i = 0; i < w->nparts; i++)
        jcs_free(w->etags[i]);
    jcs_free(w->etags);
    jcs_free(w->buf);
    jcs_free(w->tmpkey);
    jcs_free(w->upload_id);
    jcs_free(w);
}

static int complete_multipart(struct s3 *s, struct s3_writer *w, const char *fkey)
{
    jcs_buf body, resp;
    jcs_buf_init(&body, S3_SMALL_XML_CAP * 2);
    jcs_buf_init(&resp, S3_SMALL_XML_CAP);
    int rc = jcs_buf_printf(&body, "<CompleteMultipartUpload>");
    for (int i = 0; i < w->nparts && !rc; i++) {
        rc = jcs_buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        if (!rc)
            rc = xml_escape(&body, w->etags[i]);
        if (!rc)
            rc = jcs_buf_printf(&body, "</ETag></Part>");
    }
    if (!rc)
        rc = jcs_buf_printf(&body, "</CompleteMultipartUpload>");
    char *q = rc ? NULL : upload_query(w->upload_id);
    if (rc || !q) {
        jcs_free(q);
        jcs_buf_clear(&body);
        jcs_buf_clear(&resp);
        return jcs_err_set(rc ? rc : JCS_ENOMEM, "%s: complete %s: %s", s->base.name, w->tmpkey,
                           jcs_strerror(rc ? rc : JCS_ENOMEM));
    }
    struct s3_req r = {.method = "POST",
                       .key = fkey,
                       .query = q,
                       .what = w->tmpkey,
                       .has_body = 1,
                       .hash_body = 1,
                       .body = body.data,
                       .body_len = body.len,
                       .content_type = "application/xml",
                       .out = &resp,
                       .error_in_200 = 1};
    rc = s3_do(s, &r);
    jcs_free(q);
    jcs_buf_clear(&body);
    jcs_buf_clear(&resp);
    return rc;
}

/* "/bucket/<encoded key>" for x-amz-copy-source. Caller frees. */
static char *copy_source(struct s3 *s, const char *fkey)
{
    jcs_buf b;
    jcs_buf_init(&b, 8192);
    int rc = jcs_buf_printf(&b, "/%s/", s->bucket);
    if (!rc)
        rc = jcs_sigv4_uri_encode(&b, fkey, strlen(fkey), 1);
    if (rc) {
        jcs_buf_clear(&b);
        return NULL;
    }
    return jcs_buf_steal(&b);
}

/* Server-side copy of src (full key, size bytes) to dst (full key). */
static int copy_object(struct s3 *s, const char *src, uint64_t size, const char *dst,
                       const char *what)
{
    char *cs = copy_source(s, src);
    if (!cs)
        return jcs_err_set(JCS_ENOMEM, "%s: copy to %s: out of memory", s->base.name, what);
    int rc;
    jcs_buf resp;
    jcs_buf_init(&resp, S3_SMALL_XML_CAP);
    if (size <= s->copy_max_single) {
        struct s3_req r = {.method = "PUT",
                           .key = dst,
                           .what = what,
                           .has_body = 1,
                           .body = "",
                           .copy_source = cs,
                           .out = &resp,
                           .error_in_200 = 1};
        rc = s3_do(s, &r);
        jcs_free(cs);
        jcs_buf_clear(&resp);
        return rc;
    }
    /* Above the single-copy limit: a multipart upload whose parts are server-side copies. */
    struct s3_writer cw = {0};
    rc = initiate_multipart(s, dst, what, &cw.upload_id);
    for (uint64_t off = 0; !rc && off < size; off += s->copy_max_single) {
        uint64_t end = off + s->copy_max_single < size ? off + s->copy_max_single : size;
        char range[80], pwhat[160];
        snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
                 (unsigned long long)(end - 1));
        snprintf(pwhat, sizeof(pwhat), "%s part %d (copy)", what, cw.nparts + 1);
        char *q = part_query(cw.nparts + 1, cw.upload_id);
        if (!q) {
            rc = jcs_err_set(JCS_ENOMEM, "%s: %s: out of memory", s->base.name, pwhat);
            break;
        }
        struct s3_req r = {.method = "PUT",
                           .key = dst,
                           .query = q,
                           .what = pwhat,
                           .has_body = 1,
                           .body = "",
                           .copy_source = cs,
                           .copy_range = range,
                           .out = &resp,
                           .error_in_200 = 1};
        rc = s3_do(s, &r);
        jcs_free(q);
        if (!rc) {
            char etag[160];
            xml_get(bdata(&resp), bdata(&resp) + resp.len, "ETag", etag, sizeof(etag));
            rc = keep_etag(s, &cw, etag, pwhat);
        }
    }
    if (!rc) {
        cw.tmpkey = (char *)what; /* only names the request in errors */
        rc = complete_multipart(s, &cw, dst);
        cw.tmpkey = NULL;
    }
    if (rc && cw.upload_id) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        int arc = abort_multipart(s, dst, what, cw.upload_id);
        if (arc)
            jcs_warn("%s", jcs_err_msg(arc));
        jcs_err_set(rc, "%s", msg);
    }
    for (int i = 0; i < cw.nparts; i++)
        jcs_free(cw.etags[i]);
    jcs_free(cw.etags);
    jcs_free(cw.upload_id);
    jcs_free(cs);
    jcs_buf_clear(&resp);
    return rc;
}

static int s3_commit(jcs_storage_writer *bw, const char *key)
{
    struct s3_writer *w = (struct s3_writer *)bw;
    struct s3 *s = (struct s3 *)bw->s;
    char *fkey = full_key(s, key);
    char *ftmp = w->tmpkey ? full_key(s, w->tmpkey) : NULL;
    int rc = JCS_OK;
    if (!fkey || (w->tmpkey && !ftmp)) {
        rc = jcs_err_set(JCS_ENOMEM, "%s: commit %s: out of memory", s->base.name, key);
        goto fail;
    }
    if (!w->upload_id) {
        struct s3_req r = {.method = "PUT",
                           .key = fkey,
                           .what = key,
                           .has_body = 1,
                           .body = w->buf ? w->buf : "",
                           .body_len = w->len};
        rc = s3_do(s, &r);
        goto done;
    }
    if (w->len > 0) {
        rc = flush_part(s, w);
        if (rc)
            goto fail;
    }
    rc = complete_multipart(s, w, ftmp);
    if (rc)
        goto fail;
    /* The upload is now the object tmp/...; from here a failure deletes that object. */
    jcs_free(w->upload_id);
    w->upload_id = NULL;
    rc = copy_object(s, ftmp, w->base.size, fkey, key);
    {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", rc ? jcs_err_msg(rc) : "");
        struct s3_req d = {.method = "DELETE", .key = ftmp, .what = w->tmpkey, .ok_404 = 1};
        int drc = s3_do(s, &d);
        if (drc != JCS_OK)
            jcs_warn("%s (reclaim will remove it)", jcs_err_msg(drc));
        if (rc)
            jcs_err_set(rc, "%s", msg);
    }
    goto done;
fail:
    if (w->upload_id) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        int arc = abort_multipart(s, ftmp, w->tmpkey, w->upload_id);
        if (arc != JCS_OK)
            jcs_warn("%s (reclaim will retry)", jcs_err_msg(arc));
        jcs_err_set(rc, "%s", msg);
    }
done:
    jcs_free(fkey);
    jcs_free(ftmp);
    writer_free(s, w);
    return rc;
}

static void s3_abort(jcs_storage_writer *bw)
{
    struct s3_writer *w = (struct s3_writer *)bw;
    struct s3 *s = (struct s3 *)bw->s;
    if (w->upload_id) {
        char *ftmp = full_key(s, w->tmpkey);
        int arc = ftmp ? abort_multipart(s, ftmp, w->tmpkey, w->upload_id) : JCS_ENOMEM;
        if (arc != JCS_OK)
            jcs_warn("%s: abort upload of %s failed (reclaim will retry): %s", s->base.name,
                     w->tmpkey, ftmp ? jcs_err_msg(arc) : "out of memory");
        jcs_free(ftmp);
    }
    writer_free(s, w);
}

/* ---- read, stat, list, delete -------------------------------------------- */

static int s3_stat(jcs_storage *bs, const char *key, struct jcs_storage_stat *st)
{
    struct s3 *s = (struct s3 *)bs;
    char *fkey = full_key(s, key);
    if (!fkey)
        return jcs_err_set(JCS_ENOMEM, "%s: stat %s: out of memory", bs->name, key);
    struct s3_req r = {.method = "HEAD", .key = fkey, .what = key, .head = 1};
    int rc = s3_do(s, &r);
    jcs_free(fkey);
    if (!rc) {
        st->size = r.content_length;
        st->mtime_ms = r.filetime >= 0 ? r.filetime * 1000 : 0;
    }
    return rc;
}

static int s3_read(jcs_storage *bs, const char *key, uint64_t off, uint64_t len,
                   jcs_storage_sink sink, void *arg)
{
    struct s3 *s = (struct s3 *)bs;
    struct jcs_storage_stat st;
    int rc;
    if (len == 0) {
        rc = s3_stat(bs, key, &st);
        if (!rc && off > st.size)
            rc = jcs_err_set(
                JCS_EINVAL, "%s: GET %s: range [%llu, %llu) is past the end (size %llu)", bs->name,
                key, (unsigned long long)off, (unsigned long long)off, (unsigned long long)st.size);
        return rc;
    }
    char *fkey = full_key(s, key);
    if (!fkey)
        return jcs_err_set(JCS_ENOMEM, "%s: GET %s: out of memory", bs->name, key);
    struct s3_req r = {.method = "GET",
                       .key = fkey,
                       .what = key,
                       .sink = sink,
                       .sink_arg = arg,
                       .has_range = !(off == 0 && len == JCS_STORAGE_TO_END),
                       .range_start = off,
                       .range_end = len == JCS_STORAGE_TO_END ? S3_OPEN_END : off + len - 1};
    rc = s3_do(s, &r);
    jcs_free(fkey);
    if (rc == JCS_EINVAL && r.status == 416) {
        /* Nothing at off: fine only for an open range starting exactly at the end. */
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        int src = s3_stat(bs, key, &st);
        if (src)
            return src;
        if (len == JCS_STORAGE_TO_END && off == st.size)
            return JCS_OK;
        return jcs_err_set(JCS_EINVAL, "%s: GET %s: range [%llu, %llu) is past the end (size %llu)",
                           bs->name, key, (unsigned long long)off,
                           (unsigned long long)(len == JCS_STORAGE_TO_END ? off : off + len),
                           (unsigned long long)st.size);
    }
    return rc;
}

/* ListObjectsV2 over full-key prefix fprefix; fn gets keys relative to the backend prefix. */
static int list_objects(struct s3 *s, const char *fprefix, int skip_tmp, jcs_storage_list_fn fn,
                        void *arg)
{
    jcs_buf resp, token, q, key;
    jcs_buf_init(&resp, S3_XML_CAP);
    jcs_buf_init(&token, 4096);
    jcs_buf_init(&q, 16384);
    jcs_buf_init(&key, JCS_STORAGE_KEY_MAX * 4);
    size_t plen = strlen(s->prefix);
    int rc = JCS_OK;
    do {
        jcs_buf_reset(&q);
        /* Parameters in sorted order, as they are signed. */
        if (token.len) {
            rc = jcs_buf_append(&q, "continuation-token=", 19);
            if (!rc)
                rc = jcs_sigv4_uri_encode(&q, token.data, token.len, 0);
            if (!rc)
                rc = jcs_buf_append(&q, "&", 1);
        }
        if (!rc)
            rc = jcs_buf_printf(&q, "list-type=2&max-keys=%d&prefix=", s->list_page_size);
        if (!rc)
            rc = jcs_sigv4_uri_encode(&q, fprefix, strlen(fprefix), 0);
        if (rc) {
            rc = jcs_err_set(rc, "%s: list %s: %s", s->base.name, fprefix, jcs_strerror(rc));
            break;
        }
        struct s3_req r = {.method = "GET", .query = q.data, .what = fprefix, .out = &resp};
        char what[300];
        snprintf(what, sizeof(what), "?list-type=2&prefix=%s", fprefix);
        r.what = what;
        rc = s3_do(s, &r);
        if (rc)
            break;
        const char *p = bdata(&resp), *end = p + resp.len;
        const char *vs, *ve;
        while (!rc && xml_next(&p, end, "Contents", &vs, &ve)) {
            const char *cp = vs, *kvs, *kve;
            char size[32], mtime[64];
            jcs_buf_reset(&key);
            if (!xml_next(&cp, ve, "Key", &kvs, &kve) || xml_text(&key, kvs, kve) != JCS_OK ||
                !key.data)
                continue;
            xml_get(vs, ve, "Size", size, sizeof(size));
            xml_get(vs, ve, "LastModified", mtime, sizeof(mtime));
            if (key.len < plen || strncmp(key.data, s->prefix, plen) != 0)
                continue;
            const char *rel = key.data + plen;
            if (skip_tmp && strncmp(rel, "tmp/", 4) == 0)
                continue;
            struct jcs_storage_stat st = {.size = strtoull(size, NULL, 10),
                                          .mtime_ms = parse_iso8601(mtime)};
            rc = fn(arg, rel, &st);
        }
        if (rc)
            break;
        char trunc[16], next[2048];
        xml_get(bdata(&resp), end, "IsTruncated", trunc, sizeof(trunc));
        xml_get(bdata(&resp), end, "NextContinuationToken", next, sizeof(next));
        jcs_buf_reset(&token);
        if (strcmp(trunc, "true") == 0) {
            if (!next[0]) {
                rc = jcs_err_set(JCS_ERPC,
                                 "%s: list %s: truncated answer without a continuation token",
                                 s->base.name, fprefix);
                break;
            }
            rc = jcs_buf_append(&token, next, strlen(next));
        }
    } while (!rc && token.len);
    jcs_buf_clear(&resp);
    jcs_buf_clear(&token);
    jcs_buf_clear(&q);
    jcs_buf_clear(&key);
    return rc;
}

static int s3_list(jcs_storage *bs, const char *prefix, jcs_storage_list_fn fn, void *arg)
{
    struct s3 *s = (struct s3 *)bs;
    char *fp = full_key(s, prefix);
    if (!fp)
        return jcs_err_set(JCS_ENOMEM, "%s: list: out of memory", bs->name);
    int rc = list_objects(s, fp, 1, fn, arg);
    jcs_free(fp);
    return rc;
}

static int s3_del(jcs_storage *bs, const char *key)
{
    struct s3 *s = (struct s3 *)bs;
    char *fkey = full_key(s, key);
    if (!fkey)
        return jcs_err_set(JCS_ENOMEM, "%s: delete %s: out of memory", bs->name, key);
    struct s3_req r = {.method = "DELETE", .key = fkey, .what = key, .ok_404 = 1};
    int rc = s3_do(s, &r);
    jcs_free(fkey);
    return rc;
}

static int delete_batch(struct s3 *s, const char *const *keys, size_t n)
{
    jcs_buf body, resp;
    jcs_buf_init(&body, (size_t)S3_DELETE_BATCH * (JCS_STORAGE_KEY_MAX * 6 + 64) + 256);
    jcs_buf_init(&resp, S3_XML_CAP);
    int rc = jcs_buf_printf(&body, "<Delete><Quiet>true</Quiet>");
    for (size_t i = 0; i < n && !rc; i++) {
        rc = jcs_buf_printf(&body, "<Object><Key>%s", s->prefix);
        if (!rc)
            rc = xml_escape(&body, keys[i]);
        if (!rc)
            rc = jcs_buf_printf(&body, "</Key></Object>");
    }
    if (!rc)
        rc = jcs_buf_printf(&body, "</Delete>");
    if (rc) {
        jcs_buf_clear(&body);
        jcs_buf_clear(&resp);
        return jcs_err_set(rc, "%s: delete %zu keys: %s", s->base.name, n, jcs_strerror(rc));
    }
    unsigned char md5[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char b64[64];
    EVP_Digest(body.data, body.len, md5, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)b64, md5, (int)mdlen);
    char what[64];
    snprintf(what, sizeof(what), "?delete (%zu keys)", n);
    struct s3_req r = {.method = "POST",
                       .query = "delete=",
                       .what = what,
                       .has_body = 1,
                       .hash_body = 1,
                       .body = body.data,
                       .body_len = body.len,
                       .content_md5 = b64,
                       .content_type = "application/xml",
                       .out = &resp};
    rc = s3_do(s, &r);
    if (!rc && resp.len) {
        /* Quiet mode lists only failures; a missing key is not one. */
        const char *p = resp.data, *end = resp.data + resp.len, *vs, *ve;
        while (!rc && xml_next(&p, end, "Error", &vs, &ve)) {
            char k[JCS_STORAGE_KEY_MAX + 1], code[96], msg[320];
            xml_get(vs, ve, "Key", k, sizeof(k));
            xml_get(vs, ve, "Code", code, sizeof(code));
            xml_get(vs, ve, "Message", msg, sizeof(msg));
            if (strcmp(code, "NoSuchKey") != 0)
                rc = jcs_err_set(strcmp(code, "AccessDenied") == 0 ? JCS_EPERM : JCS_EIO,
                                 "%s: delete %s: %s: %s", s->base.name, k, code, msg);
        }
    }
    jcs_buf_clear(&body);
    jcs_buf_clear(&resp);
    return rc;
}

static int s3_del_many(jcs_storage *bs, const char *const *keys, size_t n, size_t *done)
{
    struct s3 *s = (struct s3 *)bs;
    for (size_t i = 0; i < n; i += S3_DELETE_BATCH) {
        size_t k = n - i < S3_DELETE_BATCH ? n - i : S3_DELETE_BATCH;
        int rc = delete_batch(s, keys + i, k);
        if (rc)
            return rc;
        if (done)
            *done = i + k;
    }
    return JCS_OK;
}

/* ---- reclaim ------------------------------------------------------------- */

struct reclaim_ctx {
    struct s3 *s;
    int64_t cutoff_ms;
    unsigned *removed;
};

static int reclaim_object(void *arg, const char *key, const struct jcs_storage_stat *st)
{
    struct reclaim_ctx *c = arg;
    if (st->mtime_ms > c->cutoff_ms || live_has(c->s, key, NULL))
        return JCS_OK;
    char *fkey = full_key(c->s, key);
    if (!fkey)
        return jcs_err_set(JCS_ENOMEM, "%s: reclaim: out of memory", c->s->base.name);
    struct s3_req r = {.method = "DELETE", .key = fkey, .what = key, .ok_404 = 1};
    int rc = s3_do(c->s, &r);
    jcs_free(fkey);
    if (!rc)
        (*c->removed)++;
    return rc;
}

/* Aborts unfinished multipart uploads under <prefix>tmp/ older than the cutoff. */
static int reclaim_uploads(struct reclaim_ctx *c)
{
    struct s3 *s = c->s;
    jcs_buf resp, q, kmark, umark;
    jcs_buf_init(&resp, S3_XML_CAP);
    jcs_buf_init(&q, 16384);
    jcs_buf_init(&kmark, JCS_STORAGE_KEY_MAX * 4);
    jcs_buf_init(&umark, 4096);
    char *fprefix = full_key(s, "tmp/");
    int rc = fprefix ? JCS_OK : JCS_ENOMEM;
    size_t plen = strlen(s->prefix);
    while (!rc) {
        jcs_buf_reset(&q);
        if (kmark.len) {
            rc = jcs_buf_append(&q, "key-marker=", 11);
            if (!rc)
                rc = jcs_sigv4_uri_encode(&q, kmark.data, kmark.len, 0);
            if (!rc)
                rc = jcs_buf_append(&q, "&", 1);
        }
        if (!rc)
            rc = jcs_buf_append(&q, "prefix=", 7);
        if (!rc)
            rc = jcs_sigv4_uri_encode(&q, fprefix, strlen(fprefix), 0);
        if (!rc && umark.len) {
            rc = jcs_buf_append(&q, "&upload-id-marker=", 18);
            if (!rc)
                rc = jcs_sigv4_uri_encode(&q, umark.data, umark.len, 0);
        }
        if (!rc)
            rc = jcs_buf_append(&q, "&uploads=", 9);
        if (rc)
            break;
        struct s3_req r = {.method = "GET", .query = q.data, .what = "?uploads", .out = &resp};
        rc = s3_do(s, &r);
        if (rc == JCS_EINVAL && r.status == 501) {
            /* Some S3 look-alikes (s3rver) cannot list uploads; nothing to reclaim there. */
            jcs_debug("%s: listing multipart uploads is not implemented; skipped", s->base.name);
            rc = JCS_OK;
            break;
        }
        if (rc)
            break;
        const char *p = bdata(&resp), *end = p + resp.len, *vs, *ve;
        while (!rc && xml_next(&p, end, "Upload", &vs, &ve)) {
            char key[JCS_STORAGE_KEY_MAX + 1], id[1024], init[64];
            xml_get(vs, ve, "Key", key, sizeof(key));
            xml_get(vs, ve, "UploadId", id, sizeof(id));
            xml_get(vs, ve, "Initiated", init, sizeof(init));
            int64_t t = parse_iso8601(init);
            if (!key[0] || !id[0] || strncmp(key, s->prefix, plen) != 0 || t < 0 ||
                t > c->cutoff_ms || live_has(s, NULL, id))
                continue;
            rc = abort_multipart(s, key, key + plen, id);
            if (!rc)
                (*c->removed)++;
        }
        if (rc)
            break;
        char trunc[16];
        xml_get(bdata(&resp), end, "IsTruncated", trunc, sizeof(trunc));
        if (strcmp(trunc, "true") != 0)
            break;
        char nk[JCS_STORAGE_KEY_MAX + 1], nu[1024];
        xml_get(bdata(&resp), end, "NextKeyMarker", nk, sizeof(nk));
        xml_get(bdata(&resp), end, "NextUploadIdMarker", nu, sizeof(nu));
        if (!nk[0] && !nu[0]) {
            rc = jcs_err_set(JCS_ERPC, "%s: list uploads: truncated answer without markers",
                             s->base.name);
            break;
        }
        jcs_buf_reset(&kmark);
        jcs_buf_reset(&umark);
        rc = jcs_buf_append(&kmark, nk, strlen(nk));
        if (!rc)
            rc = jcs_buf_append(&umark, nu, strlen(nu));
    }
    if (rc == JCS_ENOMEM || rc == JCS_ETOOBIG)
        rc = jcs_err_set(rc, "%s: reclaim uploads: %s", s->base.name, jcs_strerror(rc));
    jcs_free(fprefix);
    jcs_buf_clear(&resp);
    jcs_buf_clear(&q);
    jcs_buf_clear(&kmark);
    jcs_buf_clear(&umark);
    return rc;
}

static int s3_reclaim(jcs_storage *bs, int64_t min_age_ms, unsigned *removed)
{
    struct s3 *s = (struct s3 *)bs;
    struct reclaim_ctx c = {s, jcs_wall_ms() - min_age_ms, removed};
    int rc = reclaim_uploads(&c);
    if (rc)
        return rc;
    char *fp = full_key(s, "tmp/");
    if (!fp)
        return jcs_err_set(JCS_ENOMEM, "%s: reclaim: out of memory", bs->name);
    rc = list_objects(s, fp, 0, reclaim_object, &c);
    jcs_free(fp);
    return rc;
}

/* ---- open/close ---------------------------------------------------------- */

static void s3_close(jcs_storage *bs)
{
    struct s3 *s = (struct s3 *)bs;
    for (int i = 0; i < s->nidle; i++)
        curl_easy_cleanup(s->idle[i]);
    pthread_mutex_destroy(&s->mu);
    if (s->secret_key)
        OPENSSL_cleanse(s->secret_key, strlen(s->secret_key));
    jcs_free(s->origin);
    jcs_free(s->host_header);
    jcs_free(s->path_base);
    jcs_free(s->bucket);
    jcs_free(s->prefix);
    jcs_free(s->region);
    jcs_free(s->access_key);
    jcs_free(s->secret_key);
    jcs_free(s->ca_file);
    jcs_free(s->base.name);
    jcs_free(s);
}

static const struct jcs_storage_ops s3_ops = {
    .write_begin = s3_write_begin,
    .write = s3_write,
    .commit = s3_commit,
    .abort = s3_abort,
    .read = s3_read,
    .stat = s3_stat,
    .list = s3_list,
    .del = s3_del,
    .del_many = s3_del_many,
    .reclaim = s3_reclaim,
    .close = s3_close,
};

static int is_ip_literal(const char *host, size_t n)
{
    if (n && host[0] == '[')
        return 1;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)host[i]) && host[i] != '.')
            return 0;
    return 1;
}

static int cfg_err(const char *field, const char *why)
{
    return jcs_err_set(JCS_ECONFIG, "s3 storage: field %s: %s", field, why);
}

int jcs_storage_s3_open(const struct jcs_storage_config *cfg, jcs_storage **out)
{
    const struct jcs_storage_s3_config *c = &cfg->s3;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return jcs_err_set(JCS_EINTERNAL, "s3 storage: curl_global_init: %s",
                           curl_easy_strerror(curl_init_rc));
    if (!c->endpoint || !*c->endpoint)
        return cfg_err("endpoint", "missing");
    const char *scheme_end = strstr(c->endpoint, "://");
    if (!scheme_end ||
        !(strncmp(c->endpoint, "http://", 7) == 0 || strncmp(c->endpoint, "https://", 8) == 0))
        return cfg_err("endpoint", "must start with http:// or https://");
    const char *auth = scheme_end + 3;
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0 || memchr(auth, '@', alen) || (auth[alen] && strcmp(auth + alen, "/") != 0))
        return cfg_err("endpoint", "want scheme://host[:port] without user, path or query");
    if (!c->bucket || !*c->bucket)
        return cfg_err("bucket", "missing");
    size_t bl = strlen(c->bucket);
    if (bl < 3 || bl > 63 || strspn(c->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != bl ||
        (!c->path_style && strchr(c->bucket, '_')))
        return cfg_err("bucket", "3-63 characters of a-z 0-9 . - (and _ with path style)");
    if (!c->access_key || !*c->access_key || strpbrk(c->access_key, "/ \t\r\n"))
        return cfg_err("accessKey", "missing or malformed");
    if (!c->secret_key || !*c->secret_key || strlen(c->secret_key) > 256)
        return cfg_err("secretKey", "missing or longer than 256 characters");
    const char *region = c->region && *c->region ? c->region : "us-east-1";
    if (strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region))
        return cfg_err("region", "only a-z 0-9 - allowed");
    /* The host without the port decides whether virtual-host addressing can work. */
    const char *colon = NULL;
    if (auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        colon = rb && rb + 1 < auth + alen && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(auth, ':', alen);
    }
    size_t hostlen = colon ? (size_t)(colon - auth) : alen;
    if (!c->path_style && is_ip_literal(auth, hostlen))
        return cfg_err("pathStyle",
                       "virtual-host addressing needs a host name endpoint, not an IP");

    /* The prefix follows the key rules; stored with one trailing '/'. */
    const char *pre = c->prefix ? c->prefix : "";
    while (*pre == '/')
        pre++;
    size_t pl = strlen(pre);
    while (pl && pre[pl - 1] == '/')
        pl--;
    char prefix[JCS_STORAGE_KEY_MAX + 2];
    if (pl > JCS_STORAGE_KEY_MAX / 2)
        return cfg_err("prefix", "too long");
    memcpy(prefix, pre, pl);
    prefix[pl] = '\0';
    int krc = pl ? jcs_storage_check_key(prefix) : JCS_OK;
    if (krc != JCS_OK)
        return jcs_err_wrap(jcs_err_recode(krc, JCS_ECONFIG), "s3 storage: field prefix: ");

    struct s3 *s = jcs_calloc(1, sizeof(*s));
    if (!s)
        return jcs_err_set(JCS_ENOMEM, "s3 storage: out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->base.ops = &s3_ops;
    size_t slen = (size_t)(auth - c->endpoint);
    char authority[512];
    if (alen >= sizeof(authority)) {
        s3_close(&s->base);
        return cfg_err("endpoint", "host too long");
    }
    for (size_t i = 0; i < alen; i++)
        authority[i] = (char)tolower((unsigned char)auth[i]);
    authority[alen] = '\0';
    if (c->path_style) {
        s->origin = jcs_asprintf("%.*s%s", (int)slen, c->endpoint, authority);
        s->host_header = jcs_strdup(authority);
        s->path_base = jcs_asprintf("/%s", c->bucket);
    } else {
        s->origin = jcs_asprintf("%.*s%s.%s", (int)slen, c->endpoint, c->bucket, authority);
        s->host_header = jcs_asprintf("%s.%s", c->bucket, authority);
        s->path_base = jcs_strdup("");
    }
    s->bucket = jcs_strdup(c->bucket);
    s->prefix = pl ? jcs_asprintf("%s/", prefix) : jcs_strdup("");
    s->region = jcs_strdup(region);
    s->access_key = jcs_strdup(c->access_key);
    s->secret_key = jcs_strdup(c->secret_key);
    s->ca_file = c->ca_file && *c->ca_file ? jcs_strdup(c->ca_file) : NULL;
    s->base.name = jcs_asprintf("s3 %.*s%s/%s%s%s", (int)slen, c->endpoint, authority, c->bucket,
                                pl ? "/" : "", prefix);
    if (!s->origin || !s->host_header || !s->path_base || !s->bucket || !s->prefix || !s->region ||
        !s->access_key || !s->secret_key || (c->ca_file && *c->ca_file && !s->ca_file) ||
        !s->base.name) {
        s3_close(&s->base);
        return jcs_err_set(JCS_ENOMEM, "s3 storage: out of memory");
    }
    s->connect_timeout_ms = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 10000;
    long io_ms = c->io_timeout_ms > 0 ? c->io_timeout_ms : 60000;
    s->io_timeout_s = io_ms < 1000 ? 1 : io_ms / 1000;
    s->max_attempts = c->max_attempts > 0 ? c->max_attempts : 4;
    s->retry_base_ms = c->retry_base_ms > 0 ? c->retry_base_ms : 100;
    size_t ps = c->part_size ? c->part_size : S3_DEF_PART;
    s->part_size = ps < S3_MIN_PART ? S3_MIN_PART : ps > S3_MAX_PART ? S3_MAX_PART : ps;
    uint64_t cm = c->copy_max_single ? c->copy_max_single : S3_MAX_COPY;
    s->copy_max_single = cm > S3_MAX_COPY ? S3_MAX_COPY : cm;
    s->list_page_size =
        c->list_page_size > 0 && c->list_page_size < 1000 ? c->list_page_size : 1000;
    *out = &s->base;
    return JCS_OK;
}
