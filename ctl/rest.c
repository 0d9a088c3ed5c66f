/*
 * HTTP for jcsctl: the only module that calls libcurl (ctl.h).
 *
 * One easy handle serves the whole run, so consecutive requests reuse the
 * TLS connection (a put of many small files or a recursive get pays one
 * handshake). Before each request the handle is reset and set up again.
 *
 * Every failure becomes one sentence naming what was involved: the
 * endpoint and where it came from, the certificate file and where it came
 * from, the server's own message. JSON answers are capped (CTL_MAX_JSON);
 * downloads go straight to the caller's sink, never into memory.
 */
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "ctl.h"
#include "util.h"
#include "version.h"

#define CTL_MAX_JSON (256u << 20) /* a listing of a big package is large, but not this */
#define CTL_MAX_ERR  (64u << 10)  /* an error body kept for its message */

/* The directory holding the running executable (caller frees), or NULL. */
static char *exe_dir(void)
{
    char p[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
    if (n <= 0)
        return NULL;
    p[n] = '\0';
    char *slash = strrchr(p, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return jcs_strdup(p[0] ? p : "/");
}

/* One of the three files: flag, else environment, else beside the executable. */
static int pick_file(const char *opt, const char *opt_name, const char *env, const char *dir,
                     const char *file, const char *what, char **out, const char **from)
{
    const char *e = getenv(env);
    char *path = NULL;
    if (opt) {
        path = jcs_strdup(opt);
        *from = opt_name;
    } else if (e && *e) {
        path = jcs_strdup(e);
        *from = env;
    } else if (dir) {
        path = jcs_asprintf("%s/%s", dir, file);
        *from = "beside jcsctl";
        if (path && access(path, F_OK) != 0) {
            int rc = ctl_usage("no %s: give %s FILE, set %s, or put %s beside jcsctl in %s", what,
                               opt_name, env, file, dir);
            jcs_free(path);
            return rc;
        }
    } else {
        return ctl_usage("no %s: give %s FILE or set %s", what, opt_name, env);
    }
    if (!path)
        return JCS_ENOMEM;
    if (access(path, R_OK) != 0) {
        int rc = jcs_err_set(JCS_ETLS, "%s %s (from %s) cannot be read: %s", what, path, *from,
                             strerror(errno));
        jcs_free(path);
        return rc;
    }
    *out = path;
    return 0;
}

int ctl_connect(ctl *c)
{
    if (c->curl)
        return 0;
    int rc;
    const char *e = getenv("JCS_ENDPOINT");
    const char *ep;
    if (c->endpoint_opt)
        ep = c->endpoint_opt, c->endpoint_from = "--endpoint";
    else if (e && *e)
        ep = e, c->endpoint_from = "JCS_ENDPOINT";
    else
        ep = CTL_DEFAULT_ENDPOINT, c->endpoint_from = "the default";
    if (strncmp(ep, "http://", 7) == 0)
        return ctl_usage("endpoint %s (from %s): jcs serves HTTPS only; write https://", ep,
                         c->endpoint_from);
    c->endpoint = strstr(ep, "://") ? jcs_strdup(ep) : jcs_asprintf("https://%s", ep);
    if (!c->endpoint)
        return JCS_ENOMEM;
    size_t len = strlen(c->endpoint);
    while (len > 8 && c->endpoint[len - 1] == '/')
        c->endpoint[--len] = '\0';

    char *dir = exe_dir();
    if ((rc = pick_file(c->ca_opt, "--ca", "JCS_CA", dir, "ca_cert.pem", "CA certificate", &c->ca,
                        &c->ca_from)) ||
        (rc = pick_file(c->cert_opt, "--cert", "JCS_CERT", dir, "client_cert.pem",
                        "client certificate", &c->cert, &c->cert_from)) ||
        (rc = pick_file(c->key_opt, "--key", "JCS_KEY", dir, "client_key.pem", "client key",
                        &c->key, &c->key_from))) {
        jcs_free(dir);
        return rc;
    }
    jcs_free(dir);
    c->curl = curl_easy_init();
    if (!c->curl)
        return jcs_err_set(JCS_ENOMEM, "libcurl could not make a handle");
    return 0;
}

void ctl_close(ctl *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    jcs_free(c->endpoint);
    jcs_free(c->ca);
    jcs_free(c->cert);
    jcs_free(c->key);
    c->endpoint = c->ca = c->cert = c->key = NULL;
}

/* ---- one request ----------------------------------------------------------------------------- */

typedef struct xfer {
    ctl *c;
    CURL *h;
    jcs_buf body;  /* a JSON answer, or an error body */
    ctl_sink sink; /* raw bytes of a 2xx answer go here when set */
    void *sink_arg;
    int sink_rc;        /* the sink's failure */
    int64_t got;        /* bytes given to the sink */
    int read_rc;        /* an upload file's failure */
    ctl_progress *prog; /* may be NULL */
    int upload;         /* progress counts bytes sent */
    long status;        /* cached once known */
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
    size_t cap = x->sink ? CTL_MAX_ERR : CTL_MAX_JSON;
    if (x->body.len + n > cap) {
        if (x->sink) /* an error body: its beginning says enough */
            return n;
        x->sink_rc = jcs_err_set(JCS_ETOOBIG, "the answer of %s is over %u MiB", x->c->endpoint,
                                 (unsigned)(cap >> 20));
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
    ctl_progress_set(x->prog, x->upload ? ulnow : dlnow);
    return 0;
}

static void setup(xfer *x, const char *url)
{
    ctl *c = x->c;
    CURL *h = c->curl;
    curl_easy_reset(h);
    x->h = h;
    jcs_buf_init(&x->body, x->sink ? CTL_MAX_ERR : CTL_MAX_JSON);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "jcsctl/" JCS_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    if (x->prog && x->prog->on) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    }
}

/* The envelope's message and code from an error body, into buf. */
static void envelope_msg(xfer *x, char *code, size_t codesz, char *msg, size_t msgsz)
{
    code[0] = msg[0] = '\0';
    json_t *j = x->body.data ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
    if (json_is_object(j)) {
        snprintf(code, codesz, "%s", ctl_str(j, "code", ""));
        snprintf(msg, msgsz, "%s", ctl_str(j, "message", ""));
    }
    json_decref(j);
    if (!msg[0] && x->body.data) {
        /* Not an envelope (a proxy, another server): its first line, printable only. */
        size_t k = 0;
        for (size_t i = 0; i < x->body.len && k + 1 < msgsz && k < 200; i++) {
            char ch = x->body.data[i];
            if (ch == '\n' && k)
                break;
            if ((unsigned char)ch >= 32 && ch != 127)
                msg[k++] = ch;
        }
        msg[k] = '\0';
    }
}

/* Turns a finished request into 0 or an error (and *data from a JSON envelope). */
static int finish(xfer *x, CURLcode cc, const char *errbuf, const char *what, json_t **data)
{
    ctl *c = x->c;
    const char *eb = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (data)
        *data = NULL;
    c->srv_code[0] = '\0';
    c->http_status = 0;
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
                           "cannot connect to %s (from %s): %s; is jcs serve running there? "
                           "(--endpoint or JCS_ENDPOINT chooses another)",
                           c->endpoint, c->endpoint_from, eb);
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
                               what, c->endpoint, (long long)x->got, eb);
        return jcs_err_set(JCS_EUNAVAIL, "%s at %s failed: %s", what, c->endpoint, eb);
    }
    case CURLE_OPERATION_TIMEDOUT:
        return jcs_err_set(JCS_ETIMEOUT, "%s at %s timed out: %s", what, c->endpoint, eb);
    case CURLE_PEER_FAILED_VERIFICATION:
        return jcs_err_set(JCS_ETLS,
                           "the server certificate of %s is not trusted by the CA certificate "
                           "%s (from %s): %s; use the ca_cert.pem of that jcs (--ca or JCS_CA)",
                           c->endpoint, c->ca, c->ca_from, eb);
    case CURLE_SSL_CACERT_BADFILE:
        return jcs_err_set(JCS_ETLS, "the CA certificate %s (from %s) cannot be used: %s", c->ca,
                           c->ca_from, eb);
    case CURLE_SSL_CERTPROBLEM:
        return jcs_err_set(JCS_ETLS,
                           "the client certificate %s (from %s) or its key %s (from %s) cannot "
                           "be used: %s",
                           c->cert, c->cert_from, c->key, c->key_from, eb);
    case CURLE_SSL_CONNECT_ERROR:
        return jcs_err_set(JCS_ETLS,
                           "the TLS handshake with %s failed: %s (client certificate %s from "
                           "%s, CA %s from %s)",
                           c->endpoint, eb, c->cert, c->cert_from, c->ca, c->ca_from);
    default:
        return jcs_err_set(JCS_EUNAVAIL, "%s at %s failed: %s", what, c->endpoint, eb);
    }
    long st = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
    c->http_status = st;
    if (st < 200 || st >= 300) {
        char code[32], msg[1024];
        envelope_msg(x, code, sizeof code, msg, sizeof msg);
        snprintf(c->srv_code, sizeof c->srv_code, "%s", code);
        if (st == 401 || st == 403)
            return jcs_err_set(JCS_EPERM,
                               "%s refused the client certificate %s (from %s): %s; use a "
                               "client_cert.pem and client_key.pem issued by that jcs "
                               "(--cert/--key or JCS_CERT/JCS_KEY)",
                               c->endpoint, c->cert, c->cert_from, msg[0] ? msg : "Unauthorized");
        int rc = st == 404 ? JCS_ENOENT : st == 409 ? JCS_EEXIST : JCS_ERPC;
        return jcs_err_set(rc, "%s (%s, HTTP %ld)", msg[0] ? msg : "no message",
                           code[0] ? code : "no envelope", st);
    }
    if (x->sink)
        return 0;
    json_error_t je;
    json_t *j = x->body.data ? json_loadb(x->body.data, x->body.len, 0, &je) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return jcs_err_set(JCS_ERPC, "%s: the answer of %s is not a JSON envelope", what,
                           c->endpoint);
    }
    if (strcmp(ctl_str(j, "code", ""), "OK") != 0) {
        int rc = jcs_err_set(JCS_ERPC, "%s (%s)", ctl_str(j, "message", "no message"),
                             ctl_str(j, "code", "no code"));
        json_decref(j);
        return rc;
    }
    if (data) {
        json_t *d = json_object_get(j, "data");
        *data = d ? json_incref(d) : json_null();
    }
    json_decref(j);
    return 0;
}

/* endpoint + path + "?k=v&..." with escaped values. Caller frees. */
static char *make_url(ctl *c, const char *path, const char *const *kv)
{
    jcs_buf b;
    jcs_buf_init(&b, 1u << 20);
    int rc = jcs_buf_printf(&b, "%s%s", c->endpoint, path);
    for (size_t i = 0; rc == 0 && kv && kv[i]; i += 2) {
        char *v = curl_easy_escape(c->curl, kv[i + 1] ? kv[i + 1] : "", 0);
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

int ctl_get(ctl *c, const char *path, const char *const *kv, json_t **data)
{
    int rc = ctl_connect(c);
    if (rc)
        return rc;
    char *url = make_url(c, path, kv);
    if (!url)
        return JCS_ENOMEM;
    xfer x = {.c = c};
    char errbuf[CURL_ERROR_SIZE] = "";
    setup(&x, url);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(c->curl);
    rc = finish(&x, cc, errbuf, path, data);
    jcs_buf_clear(&x.body);
    jcs_free(url);
    return rc;
}

int ctl_post(ctl *c, const char *path, json_t *body, json_t **data)
{
    int rc = ctl_connect(c);
    if (rc)
        return rc;
    char *url = make_url(c, path, NULL);
    char *text = json_dumps(body, JSON_COMPACT);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (!url || !text || !hdr) {
        jcs_free(url);
        free(text);
        curl_slist_free_all(hdr);
        return JCS_ENOMEM;
    }
    xfer x = {.c = c};
    char errbuf[CURL_ERROR_SIZE] = "";
    setup(&x, url);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
    CURLcode cc = curl_easy_perform(c->curl);
    rc = finish(&x, cc, errbuf, path, data);
    jcs_buf_clear(&x.body);
    jcs_free(url);
    free(text); /* json_dumps allocates with jansson's allocator (malloc) */
    curl_slist_free_all(hdr);
    return rc;
}

/* ---- upload ---------------------------------------------------------------------------------- */

typedef struct upsrc {
    const ctl_upfile *f;
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

int ctl_upload(ctl *c, json_t *info, const ctl_upfile *files, size_t n, ctl_progress *prog,
               json_t **data)
{
    int rc = ctl_connect(c);
    if (rc)
        return rc;
    char *url = make_url(c, "/v1/object/upload", NULL);
    char *text = json_dumps(info, JSON_COMPACT);
    upsrc *src = jcs_calloc(n ? n : 1, sizeof *src);
    curl_mime *mime = curl_mime_init(c->curl);
    xfer x = {.c = c, .prog = prog, .upload = 1};
    rc = url && text && src && mime ? 0 : JCS_ENOMEM;
    curl_mimepart *part = rc ? NULL : curl_mime_addpart(mime);
    if (!rc && (!part || curl_mime_name(part, "info") != CURLE_OK ||
                curl_mime_data(part, text, CURL_ZERO_TERMINATED) != CURLE_OK ||
                curl_mime_type(part, "application/json") != CURLE_OK))
        rc = JCS_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        src[i].f = &files[i];
        src[i].x = &x;
        char *name = curl_easy_escape(c->curl, files[i].path, 0);
        part = curl_mime_addpart(mime);
        if (!name || !part || curl_mime_name(part, "files") != CURLE_OK ||
            curl_mime_filename(part, name) != CURLE_OK ||
            curl_mime_type(part, "application/octet-stream") != CURLE_OK ||
            curl_mime_data_cb(part, files[i].size, up_read, up_seek, NULL, &src[i]) != CURLE_OK)
            rc = JCS_ENOMEM;
        curl_free(name);
    }
    if (!rc) {
        char errbuf[CURL_ERROR_SIZE] = "";
        setup(&x, url);
        curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c->curl, CURLOPT_MIMEPOST, mime);
        CURLcode cc = curl_easy_perform(c->curl);
        rc = finish(&x, cc, errbuf, "upload", data);
    }
    jcs_buf_clear(&x.body);
    curl_mime_free(mime);
    jcs_free(src);
    jcs_free(url);
    free(text);
    return rc;
}

int ctl_upload_raw(ctl *c, const char *path, const char *const *kv, const ctl_upfile *f,
                   ctl_progress *prog, json_t **data)
{
    int rc = ctl_connect(c);
    if (rc)
        return rc;
    char *url = make_url(c, path, kv);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    if (!url || !hdr) {
        jcs_free(url);
        curl_slist_free_all(hdr);
        return JCS_ENOMEM;
    }
    xfer x = {.c = c, .prog = prog, .upload = 1};
    upsrc src = {.f = f, .x = &x};
    char errbuf[CURL_ERROR_SIZE] = "";
    setup(&x, url);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, up_read);
    curl_easy_setopt(c->curl, CURLOPT_READDATA, &src);
    curl_easy_setopt(c->curl, CURLOPT_SEEKFUNCTION, up_seek);
    curl_easy_setopt(c->curl, CURLOPT_SEEKDATA, &src);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->size);
    CURLcode cc = curl_easy_perform(c->curl);
    rc = finish(&x, cc, errbuf, path, data);
    jcs_buf_clear(&x.body);
    jcs_free(url);
    curl_slist_free_all(hdr);
    return rc;
}

/* ---- download -------------------------------------------------------------------------------- */

int ctl_download(ctl *c, const char *path, const char *const *kv, ctl_sink sink, void *arg,
                 ctl_progress *prog, int64_t *got)
{
    int rc = ctl_connect(c);
    *got = 0;
    if (rc)
        return rc;
    char *url = make_url(c, path, kv);
    if (!url)
        return JCS_ENOMEM;
    xfer x = {.c = c, .sink = sink, .sink_arg = arg, .prog = prog};
    char errbuf[CURL_ERROR_SIZE] = "";
    setup(&x, url);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(c->curl);
    rc = finish(&x, cc, errbuf, "download", NULL);
    *got = x.got;
    jcs_buf_clear(&x.body);
    jcs_free(url);
    return rc;
}
