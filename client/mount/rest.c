/* The mount's REST client: a pool of curl handles, deadlines, the API envelope to jcs_err. */
#include "rest.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "version.h"

#define POOL_MAX 32
#define JSON_MAX (64u << 20) /* a listing page of 1000 objects is far below this */
#define ERR_MAX  4096u       /* an error body: its beginning says enough */
#define URL_MAX  8192

struct jcs_mrest {
    char *endpoint, *ca, *cert, *key;
    long timeout_ms, stall_s;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int npool;
};

void jcs_mrest_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int jcs_mrest_new(const jcs_mrest_opts *o, jcs_mrest **out)
{
    jcs_mrest *r = jcs_calloc(1, sizeof *r);
    if (!r)
        return JCS_ENOMEM;
    r->endpoint = jcs_strdup(o->endpoint);
    r->ca = jcs_strdup(o->ca);
    r->cert = jcs_strdup(o->cert);
    r->key = jcs_strdup(o->key);
    if (!r->endpoint || !r->ca || !r->cert || !r->key) {
        jcs_mrest_free(r);
        return JCS_ENOMEM;
    }
    size_t n = strlen(r->endpoint);
    while (n && r->endpoint[n - 1] == '/')
        r->endpoint[--n] = '\0';
    r->timeout_ms = o->timeout_ms > 0 ? (long)o->timeout_ms : 30000;
    r->stall_s = o->stall_ms > 0 ? (long)((o->stall_ms + 999) / 1000) : 30;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return JCS_OK;
}

void jcs_mrest_free(jcs_mrest *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->npool; i++)
        curl_easy_cleanup(r->pool[i]);
    if (r->endpoint && r->ca && r->cert && r->key)
        pthread_mutex_destroy(&r->mu);
    jcs_free(r->endpoint);
    jcs_free(r->ca);
    jcs_free(r->cert);
    jcs_free(r->key);
    jcs_free(r);
}

static CURL *borrow(jcs_mrest *r)
{
    CURL *h = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->npool)
        h = r->pool[--r->npool];
    pthread_mutex_unlock(&r->mu);
    return h ? h : curl_easy_init();
}

static void give_back(jcs_mrest *r, CURL *h)
{
    pthread_mutex_lock(&r->mu);
    if (r->npool < POOL_MAX) {
        r->pool[r->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (h)
        curl_easy_cleanup(h);
}

char *jcs_mrest_escape(jcs_mrest *r, const char *s)
{
    (void)r;
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e)
        return NULL;
    char *copy = jcs_strdup(e);
    curl_free(e);
    return copy;
}

typedef struct xfer {
    CURL *h;
    long status;
    jcs_buf body; /* the JSON answer or an error body */
    jcs_mrest_sink sink;
    void *sink_arg;
    int sink_rc;
} xfer;

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (!x->status)
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->sink && x->status >= 200 && x->status < 300) {
        int rc = x->sink(x->sink_arg, p, n);
        if (rc) {
            x->sink_rc = rc;
            return 0;
        }
        return n;
    }
    size_t cap = x->sink ? ERR_MAX : JSON_MAX;
    if (x->body.len + n > cap) {
        if (x->sink)
            return n;
        x->sink_rc = jcs_err_set(JCS_ETOOBIG, "an answer of the jcs service is over %u MiB",
                                 (unsigned)(JSON_MAX >> 20));
        return 0;
    }
    if (jcs_buf_append(&x->body, p, n) != 0) {
        x->sink_rc = JCS_ENOMEM;
        return 0;
    }
    return n;
}

static void setup(jcs_mrest *r, xfer *x, const char *url, int transfer)
{
    CURL *h = x->h;
    curl_easy_reset(h);
    jcs_buf_init(&x->body, x->sink ? ERR_MAX : JSON_MAX);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, r->ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, r->key);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms < 10000 ? r->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "jcs-mount/" JCS_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (transfer) {
        /* A transfer's deadline is progress: under 1 byte/s for stall_s seconds ends it. */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, r->stall_s);
        /*
         * Bigger buffers than curl's defaults (16 KiB down, 64 KiB up): a
         * download hands its sink 512 KiB at a time instead of one TLS
         * record, and an upload reads the staged file in 2 MiB pieces (the
         * most curl takes) and writes them in full TLS records.
         */
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    }
}

/* The envelope's code and message of a body (either may come back empty). */
static void envelope(const jcs_buf *b, char *code, size_t codesz, char *msg, size_t msgsz)
{
    code[0] = msg[0] = '\0';
    json_t *j = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    if (json_is_object(j)) {
        const char *c = json_string_value(json_object_get(j, "code"));
        const char *m = json_string_value(json_object_get(j, "message"));
        snprintf(code, codesz, "%s", c ? c : "");
        snprintf(msg, msgsz, "%s", m ? m : "");
    }
    json_decref(j);
}

static int code_err(const char *code, long status)
{
    if (strcmp(code, "DataNotFound") == 0 || (!code[0] && status == 404))
        return JCS_ENOENT;
    if (strcmp(code, "Conflict") == 0 || (!code[0] && status == 409))
        return JCS_EEXIST;
    if (strcmp(code, "BadArgument") == 0 || (!code[0] && status == 400))
        return JCS_EINVAL;
    if (strcmp(code, "TooLarge") == 0 || (!code[0] && status == 413))
        return JCS_ETOOBIG;
    if (strcmp(code, "Unauthorized") == 0 || (!code[0] && (status == 401 || status == 403)))
        return JCS_EPERM;
    return JCS_EIO;
}

/* Turns a finished request into 0 or an error; *data from a JSON envelope when asked. */
static int finish(jcs_mrest *r, xfer *x, CURLcode cc, const char *errbuf, const char *what,
                  json_t **data)
{
    const char *eb = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (data)
        *data = NULL;
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_WRITE_ERROR:
        if (x->sink_rc)
            return x->sink_rc;
        return jcs_err_set(JCS_EIO, "%s: %s", what, eb);
    case CURLE_OPERATION_TIMEDOUT:
        return jcs_err_set(JCS_ETIMEOUT, "%s: no answer from %s in time: %s", what, r->endpoint,
                           eb);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return jcs_err_set(JCS_EUNAVAIL, "%s: cannot connect to %s: %s", what, r->endpoint, eb);
    default:
        return jcs_err_set(JCS_EUNAVAIL, "%s: %s: %s", what, r->endpoint, eb);
    }
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status < 200 || x->status >= 300) {
        char code[64], msg[512];
        envelope(&x->body, code, sizeof code, msg, sizeof msg);
        return jcs_err_set(code_err(code, x->status), "%s: %s (HTTP %ld%s%s)", what,
                           msg[0] ? msg : "the service refused", x->status, code[0] ? ", " : "",
                           code);
    }
    if (!data)
        return JCS_OK;
    json_error_t je;
    json_t *j = json_loadb(x->body.data ? x->body.data : "", x->body.len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return jcs_err_set(JCS_EIO, "%s: the answer is not a JSON envelope: %s", what, je.text);
    }
    json_t *d = json_object_get(j, "data");
    *data = d ? json_incref(d) : json_null();
    json_decref(j);
    return JCS_OK;
}

static int run(jcs_mrest *r, xfer *x, const char *what, json_t **data)
{
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(x->h);
    int rc = finish(r, x, cc, errbuf, what, data);
    jcs_buf_clear(&x->body);
    return rc;
}

int jcs_mrest_get(jcs_mrest *r, const char *route, const char *query, json_t **data)
{
    char url[URL_MAX];
    int n = snprintf(url, sizeof url, "%s/v1/%s%s%s", r->endpoint, route, query ? "?" : "",
                     query ? query : "");
    if (n < 0 || (size_t)n >= sizeof url)
        return jcs_err_set(JCS_ETOOBIG, "GET %s: the URL is over %d bytes", route, URL_MAX);
    xfer x = {.h = borrow(r)};
    if (!x.h)
        return JCS_ENOMEM;
    setup(r, &x, url, 0);
    char what[128];
    snprintf(what, sizeof what, "GET /v1/%s", route);
    int rc = run(r, &x, what, data);
    give_back(r, x.h);
    return rc;
}

int jcs_mrest_post(jcs_mrest *r, const char *route, const json_t *body, json_t **data)
{
    char url[URL_MAX];
    snprintf(url, sizeof url, "%s/v1/%s", r->endpoint, route);
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return JCS_ENOMEM;
    xfer x = {.h = borrow(r)};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (!x.h || !hdr) {
        free(text);
        curl_slist_free_all(hdr);
        if (x.h)
            give_back(r, x.h);
        return JCS_ENOMEM;
    }
    setup(r, &x, url, 0);
    curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, hdr);
    char what[128];
    snprintf(what, sizeof what, "POST /v1/%s", route);
    int rc = run(r, &x, what, data);
    curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, NULL);
    give_back(r, x.h);
    curl_slist_free_all(hdr);
    free(text);
    return rc;
}

int jcs_mrest_download(jcs_mrest *r, int64_t object_id, int64_t off, int64_t len,
                       jcs_mrest_sink sink, void *arg)
{
    char url[512];
    if (len >= 0)
        snprintf(url, sizeof url, "%s/v1/object/download?objectID=%lld&offset=%lld&length=%lld",
                 r->endpoint, (long long)object_id, (long long)off, (long long)len);
    else
        snprintf(url, sizeof url, "%s/v1/object/download?objectID=%lld&offset=%lld", r->endpoint,
                 (long long)object_id, (long long)off);
    xfer x = {.h = borrow(r), .sink = sink, .sink_arg = arg};
    if (!x.h)
        return JCS_ENOMEM;
    setup(r, &x, url, 1);
    char what[96];
    snprintf(what, sizeof what, "download of object %lld", (long long)object_id);
    int rc = run(r, &x, what, NULL);
    give_back(r, x.h);
    return rc;
}

int jcs_mrest_upload(jcs_mrest *r, int64_t package_id, const char *path, const char *file,
                     json_t **object)
{
    char url[512], info[64];
    snprintf(url, sizeof url, "%s/v1/object/upload", r->endpoint);
    snprintf(info, sizeof info, "{\"packageID\": %lld}", (long long)package_id);
    if (object)
        *object = NULL;
    char *name = jcs_mrest_escape(r, path);
    xfer x = {.h = borrow(r)};
    if (!name || !x.h) {
        jcs_free(name);
        if (x.h)
            give_back(r, x.h);
        return JCS_ENOMEM;
    }
    setup(r, &x, url, 1);
    curl_mime *mime = curl_mime_init(x.h);
    curl_mimepart *p1 = mime ? curl_mime_addpart(mime) : NULL;
    curl_mimepart *p2 = mime ? curl_mime_addpart(mime) : NULL;
    if (!p1 || !p2 || curl_mime_name(p1, "info") ||
        curl_mime_data(p1, info, CURL_ZERO_TERMINATED) || curl_mime_name(p2, "files") ||
        curl_mime_filedata(p2, file) || curl_mime_filename(p2, name) ||
        curl_mime_type(p2, "application/octet-stream")) {
        curl_mime_free(mime);
        jcs_free(name);
        jcs_buf_clear(&x.body);
        give_back(r, x.h);
        return jcs_err_set(JCS_EIO, "upload of %s: cannot read the staged file %s", path, file);
    }
    curl_easy_setopt(x.h, CURLOPT_MIMEPOST, mime);
    char what[160];
    snprintf(what, sizeof what, "upload of %.120s", path);
    json_t *data = NULL;
    int rc = run(r, &x, what, &data);
    curl_easy_setopt(x.h, CURLOPT_MIMEPOST, NULL);
    curl_mime_free(mime);
    give_back(r, x.h);
    jcs_free(name);
    if (rc)
        return rc;
    json_t *up = json_array_get(json_object_get(data, "uploadeds"), 0);
    if (!json_is_object(up)) {
        json_decref(data);
        return jcs_err_set(JCS_EIO, "upload of %s: the answer lists no uploaded object", path);
    }
    if (object)
        *object = json_incref(up);
    json_decref(data);
    return JCS_OK;
}
