/* The jcs REST client (rest.h): a pool of curl handles, mTLS, deadlines, the envelope to jcs_err.
 */
#include "rest.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"

#define POOL_MAX     32
#define JSON_MAX_DEF (64u << 20) /* a listing page of 1000 objects is far below this */
#define ERR_MAX      (64u << 10) /* an error body kept for its message: its beginning says enough */
#define URL_MAX      (1u << 20)
#define DOWN_BUF     (512L * 1024)
#define UP_BUF       (2L * 1024 * 1024)

struct jcs_rest {
    char *endpoint, *ca, *cert, *key, *user_agent;
    /* " (from --ca)" or "": said after each name in messages. */
    char *endpoint_from, *ca_from, *cert_from, *key_from;
    /* " (--ca or JCS_CA)" or "": how a person chooses another, said after a hint. */
    char *endpoint_how, *ca_how, *cert_how;
    long connect_ms, timeout_ms, stall_s;
    size_t max_json;
    int einval_is_local;
    pthread_mutex_t mu;
    int mu_ok;
    CURL *pool[POOL_MAX];
    int npool;
};

int jcs_rest_global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return jcs_err_set(JCS_EINTERNAL, "libcurl could not be initialised");
    return JCS_OK;
}

void jcs_rest_global_cleanup(void)
{
    curl_global_cleanup();
}

/* fmt with s, or "" when s is NULL. */
static char *opt_text(const char *fmt, const char *s)
{
    return s ? jcs_asprintf(fmt, s) : jcs_strdup("");
}

int jcs_rest_new(const jcs_rest_opts *o, jcs_rest **out)
{
    jcs_rest *r = jcs_calloc(1, sizeof *r);
    if (!r)
        return JCS_ENOMEM;
    r->endpoint = jcs_strdup(o->endpoint);
    r->ca = jcs_strdup(o->ca);
    r->cert = jcs_strdup(o->cert);
    r->key = jcs_strdup(o->key);
    r->user_agent = jcs_strdup(o->user_agent ? o->user_agent : "jcs");
    r->endpoint_from = opt_text(" (from %s)", o->endpoint_from);
    r->ca_from = opt_text(" (from %s)", o->ca_from);
    r->cert_from = opt_text(" (from %s)", o->cert_from);
    r->key_from = opt_text(" (from %s)", o->key_from);
    r->endpoint_how = opt_text(" (%s chooses another)", o->endpoint_how);
    r->ca_how = opt_text(" (%s)", o->ca_how);
    r->cert_how = opt_text(" (%s)", o->cert_how);
    if (!r->endpoint || !r->ca || !r->cert || !r->key || !r->user_agent || !r->endpoint_from ||
        !r->ca_from || !r->cert_from || !r->key_from || !r->endpoint_how || !r->ca_how ||
        !r->cert_how || pthread_mutex_init(&r->mu, NULL) != 0) {
        jcs_rest_free(r);
        return JCS_ENOMEM;
    }
    r->mu_ok = 1;
    size_t n = strlen(r->endpoint);
    while (n > 8 && r->endpoint[n - 1] == '/')
        r->endpoint[--n] = '\0';
    r->connect_ms = o->connect_timeout_ms > 0 ? (long)o->connect_timeout_ms : 15000;
    r->timeout_ms = o->timeout_ms > 0 ? (long)o->timeout_ms : 0;
    r->stall_s = o->stall_ms > 0 ? (long)((o->stall_ms + 999) / 1000) : 0;
    r->max_json = o->max_json ? o->max_json : JSON_MAX_DEF;
    r->einval_is_local = o->einval_is_local;
    *out = r;
    return JCS_OK;
}

void jcs_rest_free(jcs_rest *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->npool; i++)
        curl_easy_cleanup(r->pool[i]);
    if (r->mu_ok)
        pthread_mutex_destroy(&r->mu);
    jcs_free(r->endpoint);
    jcs_free(r->ca);
    jcs_free(r->cert);
    jcs_free(r->key);
    jcs_free(r->user_agent);
    jcs_free(r->endpoint_from);
    jcs_free(r->ca_from);
    jcs_free(r->cert_from);
    jcs_free(r->key_from);
    jcs_free(r->endpoint_how);
    jcs_free(r->ca_how);
    jcs_free(r->cert_how);
    jcs_free(r);
}

const char *jcs_rest_endpoint(const jcs_rest *r)
{
    return r->endpoint;
}

static CURL *borrow(jcs_rest *r)
{
    CURL *h = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->npool)
        h = r->pool[--r->npool];
    pthread_mutex_unlock(&r->mu);
    return h ? h : curl_easy_init();
}

static void give_back(jcs_rest *r, CURL *h)
{
    /* Nothing the request pointed to (headers, a MIME tree, buffers) may outlive it. */
    curl_easy_reset(h);
    pthread_mutex_lock(&r->mu);
    if (r->npool < POOL_MAX) {
        r->pool[r->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- one request ----------------------------------------------------------------------------- */

typedef struct xfer {
    jcs_rest *r;
    CURL *h;
    char what[160];     /* "GET /v1/bucket/listAll", for messages */
    jcs_buf body;       /* a JSON answer, or an error body */
    jcs_rest_sink sink; /* raw bytes of a 2xx answer go here when set */
    void *sink_arg;
    int sink_rc;                   /* the sink's failure */
    int64_t got;                   /* bytes given to the sink */
    int read_rc;                   /* an upload file's failure */
    const jcs_rest_progress *prog; /* may be NULL */
    int upload;                    /* progress counts bytes sent */
    long status;                   /* cached once known */
    char errbuf[CURL_ERROR_SIZE];
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
        x->got += (int64_t)n;
        return n;
    }
    size_t cap = x->sink ? ERR_MAX : x->r->max_json;
    if (x->body.len + n > cap) {
        if (x->sink) /* an error body: its beginning says enough */
            return n;
        x->sink_rc = jcs_err_set(JCS_ETOOBIG, "%s: the answer of %s is over %u MiB", x->what,
                                 x->r->endpoint, (unsigned)(cap >> 20));
        return 0;
    }
    if (jcs_buf_append(&x->body, p, n) != 0) {
        x->sink_rc = JCS_ENOMEM;
        return 0;
    }
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)ultotal;
    xfer *x = arg;
    x->prog->fn(x->prog->arg, x->upload ? ulnow : dlnow);
    return 0;
}

/* Borrows a handle and sets up what every request has; transfer: progress deadline, big buffers. */
static int begin(jcs_rest *r, xfer *x, const char *method, const char *path, const char *url,
                 int transfer)
{
    x->r = r;
    snprintf(x->what, sizeof x->what, "%s %s", method, path);
    x->h = borrow(r);
    if (!x->h)
        return jcs_err_set(JCS_ENOMEM, "libcurl could not make a handle");
    CURL *h = x->h;
    jcs_buf_init(&x->body, x->sink ? ERR_MAX : r->max_json);
    x->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, r->ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, r->key);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->connect_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, r->user_agent);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (transfer) {
        /* A transfer's deadline is progress: under 1 byte/s for stall_s seconds ends it. */
        if (r->stall_s) {
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, r->stall_s);
        }
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, DOWN_BUF);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, UP_BUF);
    } else if (r->timeout_ms) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    }
    if (x->prog && x->prog->fn) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    }
    return JCS_OK;
}

/* The envelope's code and message of an error body (either may come back empty). */
static void envelope_msg(const jcs_buf *b, char *code, size_t codesz, char *msg, size_t msgsz)
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
    if (!msg[0] && b->data) {
        /* Not an envelope (a proxy, another server): its first line, printable only. */
        size_t k = 0;
        for (size_t i = 0; i < b->len && k + 1 < msgsz && k < 200; i++) {
            char ch = b->data[i];
            if (ch == '\n' && k)
                break;
            if ((unsigned char)ch >= 32 && ch != 127)
                msg[k++] = ch;
        }
        msg[k] = '\0';
    }
}

/* The jcs_err of a refusal: its envelope code, else its HTTP status. */
static int refusal_code(const jcs_rest *r, const char *code, long status)
{
    if (strcmp(code, "DataNotFound") == 0 || (!code[0] && status == 404))
        return JCS_ENOENT;
    if (strcmp(code, "Conflict") == 0 || (!code[0] && status == 409))
        return JCS_EEXIST;
    if (strcmp(code, "BadArgument") == 0 || (!code[0] && status == 400))
        return r->einval_is_local ? JCS_ERPC : JCS_EINVAL;
    if (strcmp(code, "TooLarge") == 0 || (!code[0] && status == 413))
        return JCS_ETOOBIG;
    if (strcmp(code, "Unauthorized") == 0 || (!code[0] && (status == 401 || status == 403)))
        return JCS_EPERM;
    return JCS_ERPC;
}

/* Turns a finished request into 0 or an error (and *data from a JSON envelope). */
static int finish(xfer *x, CURLcode cc, json_t **data)
{
    jcs_rest *r = x->r;
    const char *what = x->what;
    const char *eb = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
    if (data)
        *data = NULL;
    switch (cc) {
    case CURLE_OK:
        break;
    case CURLE_WRITE_ERROR:
        if (x->sink_rc)
            return x->sink_rc;
        return jcs_err_set(JCS_EIO, "%s: writing the answer failed: %s", what, eb);
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
        if (x->read_rc)
            return x->read_rc;
        return jcs_err_set(JCS_EIO, "%s: reading the upload failed: %s", what, eb);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return jcs_err_set(JCS_EUNAVAIL,
                           "cannot connect to %s%s: %s; is jcs serve running there?%s", r->endpoint,
                           r->endpoint_from, eb, r->endpoint_how);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: {
        long st = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200 && st < 300)
            /* The server began a good answer and failed in its middle: its failure, not the
             * network's (a hub it read from died, typically). */
            return jcs_err_set(JCS_ERPC,
                               "%s: %s broke off its answer after %lld bytes (%s); the jcs log "
                               "says why, try again",
                               what, r->endpoint, (long long)x->got, eb);
        return jcs_err_set(JCS_EUNAVAIL, "%s at %s failed: %s", what, r->endpoint, eb);
    }
    case CURLE_OPERATION_TIMEDOUT:
        return jcs_err_set(JCS_ETIMEOUT, "%s at %s timed out: %s", what, r->endpoint, eb);
    case CURLE_PEER_FAILED_VERIFICATION:
        return jcs_err_set(JCS_ETLS,
                           "the server certificate of %s is not trusted by the CA certificate "
                           "%s%s: %s; use the ca_cert.pem of that jcs%s",
                           r->endpoint, r->ca, r->ca_from, eb, r->ca_how);
    case CURLE_SSL_CACERT_BADFILE:
        return jcs_err_set(JCS_ETLS, "the CA certificate %s%s cannot be used: %s", r->ca,
                           r->ca_from, eb);
    case CURLE_SSL_CERTPROBLEM:
        return jcs_err_set(JCS_ETLS,
                           "the client certificate %s%s or its key %s%s cannot be used: %s",
                           r->cert, r->cert_from, r->key, r->key_from, eb);
    case CURLE_SSL_CONNECT_ERROR:
        return jcs_err_set(JCS_ETLS,
                           "the TLS handshake with %s failed: %s (client certificate %s%s, "
                           "CA %s%s)",
                           r->endpoint, eb, r->cert, r->cert_from, r->ca, r->ca_from);
    default:
        return jcs_err_set(JCS_EUNAVAIL, "%s at %s failed: %s", what, r->endpoint, eb);
    }
    long st = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
    if (st < 200 || st >= 300) {
        char code[32], msg[1024];
        envelope_msg(&x->body, code, sizeof code, msg, sizeof msg);
        /* Only a refusal of the certificate itself is about the certificate files: the
         * server's Unauthorized answer names the client certificate. Anything else refused (a
         * hub's permission error, say) is shown as the server said it. */
        if ((st == 401 || st == 403) && strcmp(code, "Unauthorized") == 0 &&
            strstr(msg, "certificate"))
            return jcs_err_set(JCS_EPERM,
                               "%s refused the client certificate %s%s: %s; use a "
                               "client_cert.pem and client_key.pem issued by that jcs%s",
                               r->endpoint, r->cert, r->cert_from, msg[0] ? msg : "Unauthorized",
                               r->cert_how);
        return jcs_err_set(refusal_code(r, code, st), "%s (%s, HTTP %ld)",
                           msg[0] ? msg : "no message", code[0] ? code : "no envelope", st);
    }
    if (x->sink)
        return JCS_OK;
    json_t *j = x->body.data ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return jcs_err_set(JCS_ERPC, "%s: the answer of %s is not a JSON envelope", what,
                           r->endpoint);
    }
    const char *code = json_string_value(json_object_get(j, "code"));
    if (!code || strcmp(code, "OK") != 0) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        int rc =
            jcs_err_set(JCS_ERPC, "%s (%s)", msg ? msg : "no message", code ? code : "no code");
        json_decref(j);
        return rc;
    }
    if (data) {
        json_t *d = json_object_get(j, "data");
        *data = d ? json_incref(d) : json_null();
    }
    json_decref(j);
    return JCS_OK;
}

/* Runs the request set up by begin and gives its handle back. */
static int run(xfer *x, json_t **data)
{
    CURLcode cc = curl_easy_perform(x->h);
    int rc = finish(x, cc, data);
    jcs_buf_clear(&x->body);
    give_back(x->r, x->h);
    x->h = NULL;
    return rc;
}

/* endpoint + path + "?k=v&..." with escaped values. Caller frees; NULL when out of memory. */
static char *make_url(const jcs_rest *r, const char *path, const char *const *kv)
{
    jcs_buf b;
    jcs_buf_init(&b, URL_MAX);
    int rc = jcs_buf_printf(&b, "%s%s", r->endpoint, path);
    for (size_t i = 0; rc == 0 && kv && kv[i]; i += 2) {
        char *v = curl_easy_escape(NULL, kv[i + 1] ? kv[i + 1] : "", 0);
        if (!v) {
            rc = JCS_ENOMEM;
            break;
        }
        rc = jcs_buf_printf(&b, "%c%s=%s", i ? '&' : '?', kv[i], v);
        curl_free(v);
    }
    if (rc) {
        jcs_buf_clear(&b);
        return NULL;
    }
    return jcs_buf_steal(&b);
}

int jcs_rest_get(jcs_rest *r, const char *path, const char *const *kv, json_t **data)
{
    if (data)
        *data = NULL;
    char *url = make_url(r, path, kv);
    if (!url)
        return JCS_ENOMEM;
    xfer x = {0};
    int rc = begin(r, &x, "GET", path, url, 0);
    if (!rc)
        rc = run(&x, data);
    jcs_free(url);
    return rc;
}

int jcs_rest_post(jcs_rest *r, const char *path, const json_t *body, json_t **data)
{
    if (data)
        *data = NULL;
    char *url = make_url(r, path, NULL);
    char *text = json_dumps(body, JSON_COMPACT);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    xfer x = {0};
    int rc = url && text && hdr ? begin(r, &x, "POST", path, url, 0) : JCS_ENOMEM;
    if (!rc) {
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
        curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, hdr);
        rc = run(&x, data);
    }
    jcs_free(url);
    free(text); /* json_dumps allocates with jansson's allocator (malloc) */
    curl_slist_free_all(hdr);
    return rc;
}

/* ---- upload ---------------------------------------------------------------------------------- */

typedef struct upsrc {
    const jcs_rest_file *f;
    int64_t pos;
    xfer *x;
} upsrc;

static size_t up_read(char *buf, size_t size, size_t nitems, void *arg)
{
    upsrc *s = arg;
    size_t want = size * nitems;
    int64_t left = s->f->size - s->pos;
    if (left <= 0)
        return 0;
    if ((int64_t)want > left)
        want = (size_t)left;
    ssize_t n;
    do
        n = pread(s->f->fd, buf, want, s->f->off + s->pos);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        s->x->read_rc = jcs_err_set(JCS_EIO, "reading %s: %s", s->f->local, strerror(errno));
        return CURL_READFUNC_ABORT;
    }
    if (n == 0) {
        s->x->read_rc = jcs_err_set(JCS_EIO,
                                    "%s shrank while being uploaded (%lld of %lld bytes read); "
                                    "nothing of this batch was kept, run put again",
                                    s->f->local, (long long)s->pos, (long long)s->f->size);
        return CURL_READFUNC_ABORT;
    }
    s->pos += n;
    return (size_t)n;
}

static int up_seek(void *arg, curl_off_t off, int origin)
{
    upsrc *s = arg;
    if (origin != SEEK_SET || off < 0 || off > s->f->size)
        return CURL_SEEKFUNC_CANTSEEK;
    s->pos = off;
    return CURL_SEEKFUNC_OK;
}

int jcs_rest_upload(jcs_rest *r, const char *path, const json_t *info, const jcs_rest_file *files,
                    size_t n, const jcs_rest_progress *prog, json_t **data)
{
    if (data)
        *data = NULL;
    char *url = make_url(r, path, NULL);
    char *text = json_dumps(info, JSON_COMPACT);
    upsrc *src = jcs_calloc(n ? n : 1, sizeof *src);
    xfer x = {.prog = prog, .upload = 1};
    int rc = url && text && src ? begin(r, &x, "POST", path, url, 1) : JCS_ENOMEM;
    curl_mime *mime = rc ? NULL : curl_mime_init(x.h);
    if (!rc && !mime)
        rc = JCS_ENOMEM;
    curl_mimepart *part = rc ? NULL : curl_mime_addpart(mime);
    if (!rc && (!part || curl_mime_name(part, "info") != CURLE_OK ||
                curl_mime_data(part, text, CURL_ZERO_TERMINATED) != CURLE_OK ||
                curl_mime_type(part, "application/json") != CURLE_OK))
        rc = JCS_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        src[i].f = &files[i];
        src[i].x = &x;
        char *name = curl_easy_escape(NULL, files[i].path, 0);
        part = curl_mime_addpart(mime);
        if (!name || !part || curl_mime_name(part, "files") != CURLE_OK ||
            curl_mime_filename(part, name) != CURLE_OK ||
            curl_mime_type(part, "application/octet-stream") != CURLE_OK ||
            curl_mime_data_cb(part, files[i].size, up_read, up_seek, NULL, &src[i]) != CURLE_OK)
            rc = JCS_ENOMEM;
        curl_free(name);
    }
    if (!rc) {
        curl_easy_setopt(x.h, CURLOPT_MIMEPOST, mime);
        rc = run(&x, data);
    } else if (x.h) {
        jcs_buf_clear(&x.body);
        give_back(r, x.h);
    }
    curl_mime_free(mime);
    jcs_free(src);
    jcs_free(url);
    free(text);
    return rc;
}

int jcs_rest_upload_raw(jcs_rest *r, const char *path, const char *const *kv,
                        const jcs_rest_file *f, const jcs_rest_progress *prog, json_t **data)
{
    if (data)
        *data = NULL;
    char *url = make_url(r, path, kv);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    xfer x = {.prog = prog, .upload = 1};
    upsrc src = {.f = f, .x = &x};
    int rc = url && hdr ? begin(r, &x, "POST", path, url, 1) : JCS_ENOMEM;
    if (!rc) {
        curl_easy_setopt(x.h, CURLOPT_POST, 1L);
        curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(x.h, CURLOPT_READFUNCTION, up_read);
        curl_easy_setopt(x.h, CURLOPT_READDATA, &src);
        curl_easy_setopt(x.h, CURLOPT_SEEKFUNCTION, up_seek);
        curl_easy_setopt(x.h, CURLOPT_SEEKDATA, &src);
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->size);
        rc = run(&x, data);
    }
    jcs_free(url);
    curl_slist_free_all(hdr);
    return rc;
}

/* ---- download -------------------------------------------------------------------------------- */

int jcs_rest_download(jcs_rest *r, const char *path, const char *const *kv, jcs_rest_sink sink,
                      void *arg, const jcs_rest_progress *prog, int64_t *got)
{
    if (got)
        *got = 0;
    char *url = make_url(r, path, kv);
    if (!url)
        return JCS_ENOMEM;
    xfer x = {.sink = sink, .sink_arg = arg, .prog = prog};
    int rc = begin(r, &x, "GET", path, url, 1);
    if (!rc)
        rc = run(&x, NULL);
    if (got)
        *got = x.got;
    jcs_free(url);
    return rc;
}
