/*
 * http.c - HTTPS server on libmicrohttpd (event-driven: epoll threads, and
 * workers for the callbacks that may block) with client-certificate checks
 * through GnuTLS. The contract and the design are
 * in http.h; multipart bodies are parsed by http_multipart.c, refusals are
 * answered in the API envelope of http_envelope.c.
 *
 * MHD calls the access handler (on_request) once when the headers are in,
 * once per piece of body (upload_data_size > 0), and once more when the body
 * is complete (upload_data_size == 0). A response may be queued only on the
 * first or the last call, so a reply decided in between waits in req->resp
 * while the rest of the body is drained (stage DISCARD).
 *
 * In the event model a call that would run a route callback instead
 * suspends the connection and hands a job to a worker (run_job); the job
 * resumes the connection when done, and MHD calls on_request again: the
 * same first or last call after a begin or finish job (job_done then
 * replies), the next piece of body after a data job.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "alloc.h"
#include "buf.h"
#include "http_envelope.h"
#include "log.h"
#include "util.h"

#define PEM_CAP          (1u << 20)   /* a certificate or key file */
#define MAX_PEER_CHAIN   16           /* certificates a client may present */
#define JSON_REPLY_CAP   (256u << 20) /* a serialized JSON reply */
#define STREAM_BLOCK     (64u << 10) /* bytes per read callback; 64 KiB-1 MiB all stream ~2 GiB/s */
#define LINGER_CAP       (1u << 20)  /* a refused body this small is drained to answer cleanly */
#define MHD_MEMORY_LIMIT (128u << 10) /* per-connection MHD pool: headers and read buffer */
#define TLS_PRIORITIES   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define FETCH_BLOCK      (256u << 10) /* event model: bytes a worker pulls per streamed read */
#define WORKER_KEEP      2            /* idle workers kept; more exit after WORKER_IDLE_S */
#define JOB_BATCH        (256u << 10) /* event model: body bytes gathered per data job */
#define WORKER_IDLE_S    5

/* ======================================================================
 * Worker pool (event model): runs the callbacks that may block, off the
 * event threads. Threads are started as jobs arrive, up to max, and the ones
 * beyond WORKER_KEEP leave after WORKER_IDLE_S without work, so idle
 * connections cost no thread and a burst of blocking requests costs one
 * thread each while it lasts.
 * ====================================================================== */

struct job {
    void (*fn)(struct job *j);
    struct job *next;
};

struct workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a job was queued, or stop */
    pthread_cond_t done_cv; /* a thread left */
    struct job *head, *tail;
    unsigned queued, nthreads, nidle, max;
    int stop;
};

/* Set on worker threads: work that may block can run right here. */
static _Thread_local int on_worker;

static void *worker_main(void *arg)
{
    struct workers *w = arg;
    on_worker = 1;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += WORKER_IDLE_S;
            w->nidle++;
            int r = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            w->nidle--;
            if (r == ETIMEDOUT && !w->head && w->nthreads > WORKER_KEEP)
                goto out;
        }
        if (!w->head)
            break; /* stopping, and nothing left to run */
        struct job *j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->mu);
        /* Each job is a new piece of a request: an old detail line must not explain it. */
        jcs_err_clear();
        j->fn(j);
        pthread_mutex_lock(&w->mu);
    }
out:
    w->nthreads--;
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void workers_init(struct workers *w, unsigned max)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    w->max = max ? max : 256;
}

static void workers_post(struct workers *w, struct job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->queued++;
    if (w->queued > w->nidle && w->nthreads < w->max) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, worker_main, w) == 0)
            w->nthreads++;
        pthread_attr_destroy(&at);
    }
    if (w->nthreads == 0) {
        /* Not even one worker could be started: run the queue here rather than never. */
        struct job *q = w->head;
        w->head = w->tail = NULL;
        w->queued = 0;
        pthread_mutex_unlock(&w->mu);
        jcs_warn("http: no worker thread could be started; running the callbacks on the event "
                 "thread");
        while (q) {
            struct job *nx = q->next;
            q->fn(q);
            q = nx;
        }
        return;
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Runs what is queued and waits until every worker has left. */
static void workers_stop(struct workers *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    while (w->nthreads > 0)
        pthread_cond_wait(&w->done_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void workers_destroy(struct workers *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->done_cv);
}

/* ======================================================================
 * Server state
 * ====================================================================== */

struct pin {
    unsigned char *der;
    size_t len;
    time_t not_before, not_after;
};

struct jcs_http_server {
    struct MHD_Daemon *d;
    /* The event model (http.h): MHD's epoll threads never run a callback that may block;
     * those run on the workers while their connection is suspended. */
    int event;
    struct workers pool;
    /* Connections suspended for a job, under susp_mu; stopping refuses new suspensions so
     * that jcs_http_stop can wait for the count to reach 0 before MHD_stop_daemon (which
     * must not meet a suspended connection). */
    pthread_mutex_t susp_mu;
    pthread_cond_t susp_cv;
    unsigned nsuspended;
    int stopping;
    jcs_http_route *routes;
    size_t nroutes;
    gnutls_x509_trust_list_t tl;
    struct pin *pins;
    size_t npins;
    char *cert_pem, *key_pem, *ca_pem;
    int no_client_cert;
    size_t max_body;
    unsigned max_parts;
    unsigned timeout_s;
    int port;
    atomic_uint_fast64_t connections, connections_total, requests, requests_total, cert_checks,
        cert_refusals, header_timeouts, handshake_timeouts, worker_jobs;
    /* The front door's watchdog (see watchdog_main): every open connection, and the thread that
     * closes those that have not delivered a request's headers within header_timeout_s. */
    unsigned header_timeout_s, handshake_timeout_s;
    pthread_mutex_t conns_mu;
    pthread_cond_t watch_cv;
    struct conn *conns; /* doubly linked, under conns_mu */
    int watch_stop, watch_started;
    pthread_t watch;
};

/* What is known about one TCP connection (MHD's socket context). */
struct conn {
    int checked; /* the certificate was looked at */
    int ok;      /* and it is acceptable */
    char peer[128];
    char addr[64];
    /* Under the server's conns_mu: */
    int fd;
    int in_request;     /* headers received, the request is being served */
    int64_t waiting_ms; /* since when it has been waiting for a request's headers */
    int cut;            /* the watchdog shut it down */
    int path_nul;       /* the request line's path held %00 (set while MHD unescapes it) */
    /* The client's TLS Finished arrived (set by tls_hook); until then the shorter handshake
     * deadline applies. Atomic: written by the connection's thread, read by the watchdog. */
    atomic_int tls_done;
    struct conn *prev, *next;
};

enum stage { ST_BODY, ST_DISCARD, ST_DONE };

struct stream {
    jcs_http_read_fn read;
    jcs_http_done_fn done;
    void *ctx;
    uint64_t size;
    struct MHD_Connection *mc; /* set when queued; only used while MHD pulls */
    jcs_http_server *srv;
    atomic_int refs; /* MHD's response and the request each hold one; a fetch in flight one */
    atomic_int completed;
    /* Event model: a worker pulls FETCH_BLOCK bytes into nxt while MHD sends cur; MHD's read
     * callback only copies. Under mu. */
    pthread_mutex_t mu;
    char *cur, *nxt;
    size_t cur_len, cur_off;
    int nxt_state;     /* NXT_EMPTY, NXT_FETCHING, NXT_READY */
    ssize_t nxt_rc;    /* NXT_READY: bytes in nxt, 0 at the end, < 0 an error */
    uint64_t fetch_at; /* stream position of the next fetch */
    uint64_t sent;     /* bytes handed to MHD */
    int waiting;       /* the connection is suspended until the fetch ends */
    int ended;         /* a fetch returned 0 or an error: no more fetches */
    struct job job;    /* the fetch, then the final done() */
    size_t block;      /* bytes of cur and nxt */
    char why[256];     /* a failed fetch's detail line */
};

enum { NXT_EMPTY, NXT_FETCHING, NXT_READY };

struct jcs_http_req {
    jcs_http_server *srv;
    struct MHD_Connection *mc;
    struct conn *conn;
    const jcs_http_route *route;
    const char *method, *path; /* MHD's, valid for the request */
    enum stage stage;
    int began;   /* streaming body started: abort is owed unless handle() runs */
    int handled; /* handle() was called */
    int64_t t0;
    uint64_t body_len, discarded;
    jcs_buf body;
    json_t *json;
    jcs_http_mp *mp;
    void *ctx;
    void (*ctx_free)(void *);
    /* the reply */
    int replied;
    unsigned status;
    struct MHD_Response *resp;
    struct stream *stream;
    size_t nhdr;
    char *hname[JCS_HTTP_MAX_HEADERS], *hval[JCS_HTTP_MAX_HEADERS];
    /* Event model: the job that runs the blocking part while the connection is suspended. */
    struct job job;
    int pending; /* J_NONE when no job is out */
    /* Body bytes gathered for the next data job (copies: MHD's own buffer cannot be lent to
     * the worker, MHD moves its contents for chunked bodies and may grow it while the
     * connection is suspended). A job goes out when JOB_BATCH bytes are in, or at the body's
     * end: one trip through a worker per TLS record (16 KiB) would double the CPU an upload
     * costs. At most JOB_BATCH plus MHD's read buffer (MHD_MEMORY_LIMIT) per request. */
    char *jbuf;
    size_t jn, jcap;
    char *own_method, *own_path; /* copies for a clean-up run after MHD is done with the request */
};

enum { J_NONE, J_BEGIN, J_DATA, J_FINISH, J_FINAL };

/*
 * MHD counts a connection idle from its last socket activity, even while a
 * callback of ours runs on the connection's thread, and closes it after the
 * callback if that took longer than the timeout. Switching the timeout off
 * around our callbacks and on again afterwards (which restarts MHD's clock)
 * makes only a silent peer count as idle.
 */
static void busy(const jcs_http_server *srv, struct MHD_Connection *mc)
{
    /* The event model suspends the connection instead, which stops MHD's clock. */
    if (!srv->event)
        MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
}

static void idle(const jcs_http_server *srv, struct MHD_Connection *mc)
{
    if (!srv->event)
        MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT, srv->timeout_s);
}

/* ======================================================================
 * Replies
 * ====================================================================== */

static const char oom_body[] =
    "{\"code\":\"OperationFailed\",\"message\":\"out of memory\",\"data\":null}";

/* Adds the fixed and the handler's headers; a failure there leaves a usable response. */
static void apply_headers(jcs_http_req *req, struct MHD_Response *r, const char *ctype)
{
    int have_ct = 0;
    MHD_add_response_header(r, "Server", "jcs");
    for (size_t i = 0; i < req->nhdr; i++) {
        if (strcasecmp(req->hname[i], "Content-Type") == 0)
            have_ct = 1;
        if (MHD_add_response_header(r, req->hname[i], req->hval[i]) != MHD_YES)
            jcs_warn("http: %s %s: header %s not accepted by libmicrohttpd", req->method, req->path,
                     req->hname[i]);
    }
    if (!have_ct && ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
}

static int set_reply(jcs_http_req *req, unsigned status, struct MHD_Response *r)
{
    req->replied = 1;
    req->status = status;
    req->resp = r;
    return r ? JCS_OK : jcs_err_set(JCS_ENOMEM, "out of memory building a response");
}

static int json_to_buf(const char *p, size_t n, void *arg)
{
    return jcs_buf_append(arg, p, n) ? -1 : 0;
}

static void oom_reply(jcs_http_req *req)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *)oom_body,
                                                             MHD_RESPMEM_PERSISTENT);
    if (r)
        apply_headers(req, r, "application/json");
    (void)set_reply(req, 500, r);
}

int jcs_http_reply_json(jcs_http_req *req, unsigned status, json_t *body)
{
    if (req->replied) {
        json_decref(body);
        return jcs_err_set(JCS_EINVAL, "http: %s %s: replied twice", req->method, req->path);
    }
    jcs_buf b;
    jcs_buf_init(&b, JSON_REPLY_CAP);
    int bad = !body || json_dump_callback(body, json_to_buf, &b, JSON_COMPACT) != 0;
    json_decref(body);
    if (bad || !b.data) {
        jcs_buf_clear(&b);
        jcs_error("http: %s %s: could not serialize the JSON reply", req->method, req->path);
        oom_reply(req);
        return jcs_err_set(JCS_ENOMEM, "http: reply too large or out of memory");
    }
    size_t len = b.len;
    char *data = jcs_buf_steal(&b);
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, data, jcs_free);
    if (!r) {
        jcs_free(data);
        oom_reply(req);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    apply_headers(req, r, "application/json");
    return set_reply(req, status, r);
}

int jcs_http_reply_buf(jcs_http_req *req, unsigned status, const char *content_type,
                       const void *data, size_t len)
{
    if (req->replied)
        return jcs_err_set(JCS_EINVAL, "http: %s %s: replied twice", req->method, req->path);
    char *copy = jcs_malloc(len ? len : 1);
    if (!copy) {
        oom_reply(req);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    if (len)
        memcpy(copy, data, len);
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, copy, jcs_free);
    if (!r) {
        jcs_free(copy);
        oom_reply(req);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    apply_headers(req, r, content_type);
    return set_reply(req, status, r);
}

int jcs_http_add_header(jcs_http_req *req, const char *name, const char *value)
{
    if (req->nhdr >= JCS_HTTP_MAX_HEADERS)
        return jcs_err_set(JCS_ETOOBIG, "http: more than %d reply headers", JCS_HTTP_MAX_HEADERS);
    if (!*name || strpbrk(name, "\r\n: ") || strpbrk(value, "\r\n"))
        return jcs_err_set(JCS_EINVAL, "http: bad reply header \"%.60s\"", name);
    char *n = jcs_strdup(name), *v = jcs_strdup(value);
    if (!n || !v) {
        jcs_free(n);
        jcs_free(v);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    req->hname[req->nhdr] = n;
    req->hval[req->nhdr++] = v;
    return JCS_OK;
}

/* ======================================================================
 * Suspension (event model)
 * ====================================================================== */

/* Counts a suspension about to start; 0 when the server is stopping (none may start then). */
static int susp_begin(jcs_http_server *srv)
{
    pthread_mutex_lock(&srv->susp_mu);
    int ok = !srv->stopping;
    if (ok)
        srv->nsuspended++;
    pthread_mutex_unlock(&srv->susp_mu);
    return ok;
}

/* Resumes mc (its job is over) and uncounts it. Touches nothing of the request. */
static void susp_end(jcs_http_server *srv, struct MHD_Connection *mc)
{
    MHD_resume_connection(mc);
    pthread_mutex_lock(&srv->susp_mu);
    if (--srv->nsuspended == 0)
        pthread_cond_broadcast(&srv->susp_cv);
    pthread_mutex_unlock(&srv->susp_mu);
}

/* ======================================================================
 * Streamed replies
 * ====================================================================== */

static void stream_done_job(struct job *j)
{
    struct stream *s = (struct stream *)((char *)j - offsetof(struct stream, job));
    s->done(s->ctx, atomic_load(&s->completed));
    if (s->srv && s->srv->event)
        pthread_mutex_destroy(&s->mu);
    jcs_free(s->cur);
    jcs_free(s->nxt);
    jcs_free(s);
}

static void stream_unref(struct stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    /* done() may block (a plan being torn down): never on an event thread. */
    if (s->srv && s->srv->event && !on_worker) {
        s->job.fn = stream_done_job;
        atomic_fetch_add(&s->srv->worker_jobs, 1);
        workers_post(&s->srv->pool, &s->job);
        return;
    }
    stream_done_job(&s->job);
}

/* The end of a streamed reply at pos: n == 0 (end) or an error. */
static ssize_t stream_end(struct stream *s, uint64_t pos, ssize_t n)
{
    if (n == 0) {
        if (s->size == JCS_HTTP_SIZE_UNKNOWN)
            return MHD_CONTENT_READER_END_OF_STREAM;
        jcs_warn("http: streamed reply ended at %llu of %llu bytes; closing the connection",
                 (unsigned long long)pos, (unsigned long long)s->size);
    } else {
        jcs_warn("http: streamed reply failed at byte %llu: %s; closing the connection",
                 (unsigned long long)pos, s->why[0] ? s->why : jcs_err_msg((int)n));
    }
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Under s->mu: marks a fetch as started (it holds a reference); the caller posts s->job. */
static void stream_fetch_mark(struct stream *s)
{
    s->nxt_state = NXT_FETCHING;
    atomic_fetch_add(&s->refs, 1);
}

/* A worker pulls the next block into nxt; resumes the connection if MHD waits for it. */
static void stream_fetch(struct stream *s)
{
    ssize_t n = s->read(s->ctx, s->fetch_at, s->nxt, s->block);
    if (n > (ssize_t)s->block)
        n = (ssize_t)s->block;
    if (n < 0) /* the detail line is this thread's: keep it for the event thread's log line */
        snprintf(s->why, sizeof(s->why), "%s", jcs_err_msg((int)n));
    pthread_mutex_lock(&s->mu);
    s->nxt_rc = n;
    if (n > 0)
        s->fetch_at += (uint64_t)n;
    if (n <= 0 || (s->size != JCS_HTTP_SIZE_UNKNOWN && s->fetch_at >= s->size))
        s->ended = 1;
    s->nxt_state = NXT_READY;
    int resume = s->waiting;
    s->waiting = 0;
    pthread_mutex_unlock(&s->mu);
    if (resume)
        susp_end(s->srv, s->mc);
}

static void stream_fetch_job(struct job *j)
{
    struct stream *s = (struct stream *)((char *)j - offsetof(struct stream, job));
    stream_fetch(s);
    stream_unref(s);
}

/*
 * Event model: MHD's read callback on an event thread. It only copies from
 * the block a worker fetched; when none is ready it suspends the connection
 * and returns 0, and the fetch resumes it. One block is sent while the next
 * is fetched, so at most two blocks per reply are held.
 */
static ssize_t stream_read_ev(struct stream *s, uint64_t pos, char *buf, size_t max)
{
    int post = 0;
    ssize_t ret = MHD_CONTENT_READER_END_WITH_ERROR;
    pthread_mutex_lock(&s->mu);
    if (pos != s->sent) {
        pthread_mutex_unlock(&s->mu);
        jcs_warn("http: streamed reply asked for byte %llu after %llu were sent; closing the "
                 "connection",
                 (unsigned long long)pos, (unsigned long long)s->sent);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    for (;;) {
        if (s->cur_off < s->cur_len) {
            size_t n = s->cur_len - s->cur_off < max ? s->cur_len - s->cur_off : max;
            memcpy(buf, s->cur + s->cur_off, n);
            s->cur_off += n;
            s->sent += n;
            if (s->cur_off == s->cur_len && s->nxt_state == NXT_EMPTY && !s->ended) {
                stream_fetch_mark(s);
                post = 1;
            }
            ret = (ssize_t)n;
            break;
        }
        if (s->nxt_state == NXT_READY) {
            if (s->nxt_rc > 0) {
                char *t = s->cur;
                s->cur = s->nxt;
                s->nxt = t;
                s->cur_len = (size_t)s->nxt_rc;
                s->cur_off = 0;
                s->nxt_state = NXT_EMPTY;
                if (!s->ended) {
                    stream_fetch_mark(s);
                    post = 1;
                }
                continue;
            }
            ssize_t n = s->nxt_rc;
            pthread_mutex_unlock(&s->mu);
            return stream_end(s, pos, n);
        }
        if (s->nxt_state == NXT_EMPTY) {
            if (s->ended) {
                /* Every announced byte went out and MHD asks for more: a size mismatch. */
                pthread_mutex_unlock(&s->mu);
                return stream_end(s, pos, 0);
            }
            stream_fetch_mark(s);
            post = 1;
        }
        /* The fetch is under way: wait for it with the connection suspended. */
        if (!susp_begin(s->srv)) {
            ret = MHD_CONTENT_READER_END_WITH_ERROR; /* stopping */
            break;
        }
        s->waiting = 1;
        MHD_suspend_connection(s->mc);
        ret = 0;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    if (post) {
        s->job.fn = stream_fetch_job;
        atomic_fetch_add(&s->srv->worker_jobs, 1);
        workers_post(&s->srv->pool, &s->job);
    }
    return ret;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    if (s->srv->event)
        return stream_read_ev(s, pos, buf, max);
    if (s->mc)
        busy(s->srv, s->mc);
    ssize_t n = s->read(s->ctx, pos, buf, max);
    if (s->mc)
        idle(s->srv, s->mc);
    if (n > 0)
        return n > (ssize_t)max ? (ssize_t)max : n;
    return stream_end(s, pos, n);
}

/* Event model, on the worker that ran the handler: the first block, before the reply is
 * queued (nothing waits for it yet). */
static void stream_prefetch(struct stream *s)
{
    pthread_mutex_lock(&s->mu);
    int go = s->nxt_state == NXT_EMPTY && !s->ended;
    if (go)
        stream_fetch_mark(s);
    pthread_mutex_unlock(&s->mu);
    if (go) {
        stream_fetch(s);
        stream_unref(s);
    }
}

static void stream_free(void *cls)
{
    stream_unref(cls);
}

int jcs_http_reply_stream(jcs_http_req *req, unsigned status, uint64_t size, jcs_http_read_fn read,
                          jcs_http_done_fn done, void *ctx)
{
    if (req->replied) {
        done(ctx, 0);
        return jcs_err_set(JCS_EINVAL, "http: %s %s: replied twice", req->method, req->path);
    }
    struct stream *s = jcs_calloc(1, sizeof(*s));
    if (!s) {
        done(ctx, 0);
        oom_reply(req);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    s->read = read;
    s->done = done;
    s->ctx = ctx;
    s->size = size;
    s->srv = req->srv;
    atomic_init(&s->refs, 2);
    atomic_init(&s->completed, 0);
    if (s->srv->event) {
        /* A small reply gets small buffers: two blocks of 256 KiB per 4 KiB object would cost
         * more in page faults than the object in copying. */
        s->block = size < FETCH_BLOCK ? (size ? (size_t)size : 1) : FETCH_BLOCK;
        s->cur = jcs_malloc(s->block);
        s->nxt = jcs_malloc(s->block);
        if (!s->cur || !s->nxt) {
            jcs_free(s->cur);
            jcs_free(s->nxt);
            jcs_free(s);
            done(ctx, 0);
            oom_reply(req);
            return jcs_err_set(JCS_ENOMEM, "out of memory");
        }
        pthread_mutex_init(&s->mu, NULL);
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(size == JCS_HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : size,
                                          STREAM_BLOCK, stream_read, s, stream_free);
    if (!r) {
        done(ctx, 0);
        if (s->srv->event)
            pthread_mutex_destroy(&s->mu);
        jcs_free(s->cur);
        jcs_free(s->nxt);
        jcs_free(s);
        oom_reply(req);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    s->mc = req->mc;
    req->stream = s;
    apply_headers(req, r, "application/octet-stream");
    return set_reply(req, status, r);
}

/* ======================================================================
 * Request accessors
 * ====================================================================== */

const char *jcs_http_req_method(const jcs_http_req *req)
{
    return req->method;
}

const char *jcs_http_req_path(const jcs_http_req *req)
{
    return req->path;
}

void *jcs_http_req_arg(const jcs_http_req *req)
{
    return req->route ? req->route->arg : NULL;
}

const char *jcs_http_req_peer(const jcs_http_req *req)
{
    return req->conn ? req->conn->peer : "";
}

uint64_t jcs_http_req_body_len(const jcs_http_req *req)
{
    return req->body_len;
}

json_t *jcs_http_req_json(const jcs_http_req *req)
{
    return req->json;
}

void jcs_http_req_set_ctx(jcs_http_req *req, void *ctx, void (*free_fn)(void *))
{
    req->ctx = ctx;
    req->ctx_free = free_fn;
}

void *jcs_http_req_ctx(const jcs_http_req *req)
{
    return req->ctx;
}

const char *jcs_http_header(const jcs_http_req *req, const char *name)
{
    if (!req->mc) /* an abort or clean-up run after the exchange */
        return NULL;
    return MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, name);
}

struct each {
    int (*fn)(void *arg, const char *name, const char *value);
    void *arg;
    int rc;
};

static enum MHD_Result each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct each *e = cls;
    (void)kind;
    if (!key)
        return MHD_YES;
    e->rc = e->fn(e->arg, key, value ? value : "");
    return e->rc ? MHD_NO : MHD_YES;
}

int jcs_http_header_each(const jcs_http_req *req,
                         int (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    struct each e = {fn, arg, 0};
    if (req->mc)
        MHD_get_connection_values(req->mc, MHD_HEADER_KIND, each_cb, &e);
    return e.rc;
}

int jcs_http_query_each(const jcs_http_req *req,
                        int (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    struct each e = {fn, arg, 0};
    if (req->mc)
        MHD_get_connection_values(req->mc, MHD_GET_ARGUMENT_KIND, each_cb, &e);
    return e.rc;
}

struct qscan {
    const char *name;
    const char **vals;
    size_t max, n;
    int nul; /* a matching value holds a decoded NUL (%00) */
};

static enum MHD_Result qscan_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                size_t key_size, const char *value, size_t value_size)
{
    struct qscan *q = cls;
    (void)kind;
    /* Lengths, not strcmp: "id%00x=1" must not count as "id", nor "a%00b" read as "a". */
    if (key && key_size == strlen(q->name) && memcmp(key, q->name, key_size) == 0) {
        if (value && strlen(value) != value_size)
            q->nul = 1;
        if (q->n < q->max)
            q->vals[q->n] = value ? value : "";
        q->n++;
    }
    return MHD_YES;
}

static size_t query_scan(const jcs_http_req *req, struct qscan *q)
{
    if (req->mc)
        MHD_get_connection_values_n(req->mc, MHD_GET_ARGUMENT_KIND, qscan_cb, q);
    return q->n;
}

size_t jcs_http_query_all(const jcs_http_req *req, const char *name, const char **vals, size_t max)
{
    struct qscan q = {.name = name, .vals = vals, .max = max};
    return query_scan(req, &q);
}

int jcs_http_query(const jcs_http_req *req, const char *name, const char **out)
{
    const char *v = NULL;
    struct qscan q = {.name = name, .vals = &v, .max = 1};
    size_t n = query_scan(req, &q);
    if (n == 0)
        return jcs_err_set(JCS_ENOENT, "query parameter %s is missing", name);
    if (n > 1)
        return jcs_err_set(JCS_EINVAL, "query parameter %s is given %zu times (once expected)",
                           name, n);
    if (q.nul)
        return jcs_err_set(JCS_EINVAL, "query parameter %s contains a NUL character (%%00)", name);
    *out = v;
    return JCS_OK;
}

int jcs_http_query_int(const jcs_http_req *req, const char *name, int required, int64_t def,
                       int64_t min, int64_t max, int64_t *out)
{
    const char *v;
    int rc = jcs_http_query(req, name, &v);
    if (rc == JCS_ENOENT) {
        if (required)
            return jcs_err_set(JCS_EINVAL, "query parameter %s is required", name);
        *out = def;
        return JCS_OK;
    }
    if (rc)
        return rc;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || isspace((unsigned char)*v) || *end || errno)
        return jcs_err_set(JCS_EINVAL, "query parameter %s=\"%.40s\" is not an integer", name, v);
    if (x < min || x > max)
        return jcs_err_set(JCS_EINVAL, "query parameter %s=%lld is out of range [%lld, %lld]", name,
                           x, (long long)min, (long long)max);
    *out = x;
    return JCS_OK;
}

int jcs_http_query_bool(const jcs_http_req *req, const char *name, int def, int *out)
{
    const char *v;
    int rc = jcs_http_query(req, name, &v);
    if (rc == JCS_ENOENT) {
        *out = def;
        return JCS_OK;
    }
    if (rc)
        return rc;
    if (!*v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return jcs_err_set(JCS_EINVAL, "query parameter %s=\"%.40s\" is not true or false", name,
                           v);
    return JCS_OK;
}

/* ======================================================================
 * Client certificate check (once per connection)
 * ====================================================================== */

static void conn_addr(struct MHD_Connection *mc, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, outlen, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
        snprintf(out, outlen, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        snprintf(out, outlen, "[%s]:%d", host, port);
    }
}

/* Writes why the peer is refused into why; 0 when accepted (CN into c->peer). */
static int verify_peer(jcs_http_server *srv, struct MHD_Connection *mc, struct conn *c, char *why,
                       size_t whylen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned n = 0;
    const gnutls_datum_t *peers = s ? gnutls_certificate_get_peers(s, &n) : NULL;
    if (!peers || n == 0) {
        snprintf(why, whylen, "no client certificate presented");
        return -1;
    }
    if (n > MAX_PEER_CHAIN) {
        snprintf(why, whylen, "client sent %u certificates (at most %d accepted)", n,
                 MAX_PEER_CHAIN);
        return -1;
    }
    gnutls_x509_crt_t crts[MAX_PEER_CHAIN];
    unsigned ncrt = 0;
    int ret = 0, verdict = -1;
    for (; ncrt < n; ncrt++) {
        if (gnutls_x509_crt_init(&crts[ncrt]) < 0)
            break;
        if ((ret = gnutls_x509_crt_import(crts[ncrt], &peers[ncrt], GNUTLS_X509_FMT_DER)) < 0) {
            gnutls_x509_crt_deinit(crts[ncrt]);
            snprintf(why, whylen, "client certificate %u does not parse: %s", ncrt,
                     gnutls_strerror(ret));
            goto out;
        }
    }
    if (ncrt < n) {
        snprintf(why, whylen, "out of memory checking the client certificate");
        goto out;
    }
    time_t now = time(NULL);
    for (size_t i = 0; i < srv->npins; i++) {
        const struct pin *p = &srv->pins[i];
        if (p->len != peers[0].size || memcmp(p->der, peers[0].data, p->len) != 0)
            continue;
        if (now < p->not_before || now > p->not_after) {
            snprintf(why, whylen, "pinned client certificate (http.clientCerts) is not valid now");
            goto out;
        }
        verdict = 0;
        break;
    }
    if (verdict != 0) {
        gnutls_typed_vdata_st vd = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                    .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
        unsigned status = 0;
        ret = gnutls_x509_trust_list_verify_crt2(srv->tl, crts, ncrt, &vd, 1, 0, &status, NULL);
        if (ret < 0) {
            snprintf(why, whylen, "verifying the client certificate failed: %s",
                     gnutls_strerror(ret));
            goto out;
        }
        if (status) {
            gnutls_datum_t txt = {0};
            if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) ==
                0) {
                snprintf(why, whylen, "client certificate not accepted: %s", (char *)txt.data);
                gnutls_free(txt.data);
            } else {
                snprintf(why, whylen, "client certificate not accepted (status 0x%x)", status);
            }
            goto out;
        }
        verdict = 0;
    }
    size_t cnl = sizeof(c->peer);
    if (gnutls_x509_crt_get_dn_by_oid(crts[0], GNUTLS_OID_X520_COMMON_NAME, 0, 0, c->peer, &cnl) <
        0)
        c->peer[0] = '\0';
out:
    for (unsigned i = 0; i < ncrt; i++)
        gnutls_x509_crt_deinit(crts[i]);
    return verdict;
}

/*
 * The front door's deadline. A connection must complete its TLS handshake and
 * deliver a request's headers within header_timeout_s of being accepted (or of
 * the end of its previous request), counted in total time: a client that
 * trickles one byte a second, or a plain TCP socket that never starts TLS,
 * is cut at the deadline however active it looks. MHD's own timeout counts
 * idle time only and so never fires for them. Cutting is shutdown(2) on the
 * socket: the connection's MHD thread then sees the end and cleans up. The
 * connection stays linked (under conns_mu) until MHD's CLOSED notification,
 * which comes before MHD closes the socket, so no reused descriptor is cut.
 */
static void *watchdog_main(void *arg)
{
    jcs_http_server *srv = arg;
    pthread_mutex_lock(&srv->conns_mu);
    while (!srv->watch_stop) {
        int64_t now = jcs_now_ms(), limit = (int64_t)srv->header_timeout_s * 1000,
                hs_limit = (int64_t)srv->handshake_timeout_s * 1000;
        for (struct conn *c = srv->conns; c; c = c->next) {
            if (c->in_request || c->cut || c->fd < 0)
                continue;
            int hs = !atomic_load(&c->tls_done);
            if (now - c->waiting_ms < (hs ? hs_limit : limit))
                continue;
            c->cut = 1;
            (void)shutdown(c->fd, SHUT_RDWR);
            atomic_fetch_add(&srv->header_timeouts, 1);
            if (hs)
                atomic_fetch_add(&srv->handshake_timeouts, 1);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->watch_cv, &srv->conns_mu, &ts);
    }
    pthread_mutex_unlock(&srv->conns_mu);
    return NULL;
}

static void conn_set_in_request(jcs_http_server *srv, struct conn *c, int in)
{
    if (!c)
        return;
    pthread_mutex_lock(&srv->conns_mu);
    c->in_request = in;
    if (!in)
        c->waiting_ms = jcs_now_ms();
    pthread_mutex_unlock(&srv->conns_mu);
}

/*
 * MHD's unescaping with one check first: a path with %00 would reach the
 * routes cut at the NUL (/v1/bucket/listAll%00x as /v1/bucket/listAll), so it
 * is remembered and the request refused. Query values are checked where they
 * are read (their length survives); this sees the path, the one string here
 * that starts with '/'.
 */
static size_t on_unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    (void)cls;
    if (s[0] == '/' && strstr(s, "%00")) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn *c = ci ? ci->socket_context : NULL;
        if (c)
            c->path_nul = 1;
    }
    return MHD_http_unescape(s);
}

/*
 * GnuTLS calls this after each handshake message; the client's Finished
 * (incoming) ends the handshake for the server, so the connection moves from
 * the handshake deadline to the header deadline. MHD stores its connection
 * as the session's pointer (checked in on_connection before this is set).
 */
static int tls_hook(gnutls_session_t s, unsigned htype, unsigned when, unsigned incoming,
                    const gnutls_datum_t *msg)
{
    (void)when;
    (void)msg;
    if (htype != GNUTLS_HANDSHAKE_FINISHED || !incoming)
        return 0;
    struct MHD_Connection *mc = gnutls_session_get_ptr(s);
    const union MHD_ConnectionInfo *ci =
        mc ? MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    struct conn *c = ci ? ci->socket_context : NULL;
    if (c)
        atomic_store(&c->tls_done, 1);
    return 0;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    jcs_http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = jcs_calloc(1, sizeof(*c));
        *socket_context = c; /* NULL (out of memory) is handled by on_request */
        if (c)
            conn_addr(mc, c->addr, sizeof(c->addr));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
            /* Small answers must not wait for Nagle and a delayed ACK (40 ms each). */
            int one = 1;
            (void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (c) {
            /* Where the handshake's end cannot be seen (an MHD that keeps no pointer to its
             * connection in the session), the connection is held to the header deadline
             * alone, as before the handshake deadline existed. */
            const union MHD_ConnectionInfo *ti =
                MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            gnutls_session_t s = ti ? (gnutls_session_t)ti->tls_session : NULL;
            if (s && gnutls_session_get_ptr(s) == (void *)mc)
                gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
                                                   tls_hook);
            else
                atomic_init(&c->tls_done, 1);
            /* The deadline for the TLS handshake and the first request's headers starts now. */
            c->fd = ci ? ci->connect_fd : -1;
            pthread_mutex_lock(&srv->conns_mu);
            c->waiting_ms = jcs_now_ms();
            c->next = srv->conns;
            if (srv->conns)
                srv->conns->prev = c;
            srv->conns = c;
            pthread_mutex_unlock(&srv->conns_mu);
        }
        atomic_fetch_add(&srv->connections, 1);
        atomic_fetch_add(&srv->connections_total, 1);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn *c = *socket_context;
        if (c) {
            /* Unlinked before MHD closes the socket, so the watchdog never touches a reused fd. */
            pthread_mutex_lock(&srv->conns_mu);
            if (c->prev)
                c->prev->next = c->next;
            else
                srv->conns = c->next;
            if (c->next)
                c->next->prev = c->prev;
            pthread_mutex_unlock(&srv->conns_mu);
        }
        jcs_free(c);
        *socket_context = NULL;
        atomic_fetch_sub(&srv->connections, 1);
    }
}

/* ======================================================================
 * Request processing
 * ====================================================================== */

static uint64_t header_u64(struct MHD_Connection *mc, const char *name, int *present)
{
    const char *v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, name);
    *present = v != NULL;
    return v ? strtoull(v, NULL, 10) : 0;
}

static int req_has_body(jcs_http_req *req, uint64_t *clen, int *known)
{
    int have_cl;
    *clen = header_u64(req->mc, MHD_HTTP_HEADER_CONTENT_LENGTH, &have_cl);
    *known = have_cl;
    const char *te =
        MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return (have_cl && *clen > 0) || (te && strcasecmp(te, "identity") != 0);
}

static void call_abort(jcs_http_req *req, int why)
{
    if (!req->began)
        return;
    req->began = 0;
    if (req->route->abort) {
        busy(req->srv, req->mc);
        req->route->abort(req, why);
        idle(req->srv, req->mc);
    }
}

/* After a failed callback: make sure there is an answer, tell the route, drop the rest. */
static void refuse_body(jcs_http_req *req, int rc)
{
    if (!req->replied)
        (void)jcs_http_reply_rc(req, rc ? rc : JCS_EINTERNAL);
    call_abort(req, rc ? rc : JCS_ECANCELED);
    req->stage = ST_DISCARD;
}

/*
 * An answer known before the body (a refusal). Answered at the last call
 * when there is no body or a small one to drain first: the connection stays
 * usable and a client still sending is not reset. Answered at once (which
 * makes MHD close the connection after it) when the client waits for
 * "100 Continue", the body is large or of unknown length, or force is set
 * (an unauthenticated client's body is never read).
 */
static enum MHD_Result answer_first(jcs_http_req *req, int force)
{
    uint64_t clen;
    int known;
    int body = req_has_body(req, &clen, &known);
    const char *expect = MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, "Expect");
    int waits = expect && strcasecmp(expect, "100-continue") == 0;
    if (!force && (!body || (!waits && known && clen <= LINGER_CAP))) {
        req->stage = ST_DISCARD;
        return MHD_YES;
    }
    req->stage = ST_DONE;
    if (!req->resp)
        return MHD_NO;
    enum MHD_Result r = MHD_queue_response(req->mc, req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    return r;
}

static enum MHD_Result answer_last(jcs_http_req *req)
{
    req->stage = ST_DONE;
    if (!req->resp) {
        jcs_error("http: %s %s: no response could be built; closing the connection", req->method,
                  req->path);
        return MHD_NO;
    }
    enum MHD_Result r = MHD_queue_response(req->mc, req->status, req->resp);
    MHD_destroy_response(req->resp);
    req->resp = NULL;
    return r;
}

static int mp_cb_begin(void *arg, const jcs_http_part *part)
{
    jcs_http_req *req = arg;
    int rc = req->route->part_begin ? req->route->part_begin(req, part) : 0;
    return rc ? rc : req->replied ? JCS_ECANCELED : 0;
}

static int mp_cb_data(void *arg, const void *p, size_t n)
{
    jcs_http_req *req = arg;
    int rc = req->route->data ? req->route->data(req, p, n) : 0;
    return rc ? rc : req->replied ? JCS_ECANCELED : 0;
}

static int mp_cb_end(void *arg)
{
    jcs_http_req *req = arg;
    int rc = req->route->part_end ? req->route->part_end(req) : 0;
    return rc ? rc : req->replied ? JCS_ECANCELED : 0;
}

static const jcs_http_multipart_ops mp_route_ops = {mp_cb_begin, mp_cb_data, mp_cb_end};

/* The route's begin callback (may block); a failure is answered here, on the same thread as
 * the callback, so the reply carries its detail line. */
static void do_begin(jcs_http_req *req)
{
    int rc = req->route->begin(req);
    if (rc && !req->replied)
        (void)jcs_http_reply_rc(req, rc);
}

static enum MHD_Result after_begin(jcs_http_req *req)
{
    if (req->replied)
        return answer_first(req, 0);
    req->began = 1;
    return MHD_YES;
}

/* A piece of a streamed body for the route (may block). */
static void do_body(jcs_http_req *req, const char *p, size_t n)
{
    int rc;
    if (req->route->body == JCS_HTTP_BODY_RAW) {
        rc = req->route->data ? req->route->data(req, p, n) : 0;
        if (!rc && req->replied)
            rc = JCS_ECANCELED;
    } else {
        rc = jcs_http_multipart_feed(req->mp, p, n);
    }
    if (rc)
        refuse_body(req, rc);
}

static void stream_prefetch(struct stream *s);

/* The body is complete: the multipart end, then the handler (may block). */
static void do_finish(jcs_http_req *req)
{
    const jcs_http_route *rt = req->route;
    int rc;
    if (rt->body == JCS_HTTP_BODY_MULTIPART && (rc = jcs_http_multipart_finish(req->mp))) {
        refuse_body(req, rc);
        return;
    }
    req->began = 0; /* from here on the handler owns the outcome */
    req->handled = 1;
    busy(req->srv, req->mc);
    rc = rt->handle(req);
    idle(req->srv, req->mc);
    if (!req->replied) {
        if (rc)
            (void)jcs_http_reply_rc(req, rc);
        else
            (void)jcs_http_reply_err(req, 500, "OperationFailed",
                                     "internal error: the handler of %s %s gave no answer",
                                     req->method, req->path);
    }
    /* The first block of a streamed reply is read here, on the worker, so a small reply goes
     * out without another trip through the event thread. HEAD sends no body. */
    if (req->srv->event && req->stream && strcmp(req->method, "HEAD") != 0)
        stream_prefetch(req->stream);
}

static void final_job(struct job *j);

/* Event model: the blocking part of a request, on a worker, while its connection is
 * suspended; resuming makes MHD call on_request again, which finishes on the event thread. */
static void req_job(struct job *j)
{
    jcs_http_req *req = (jcs_http_req *)((char *)j - offsetof(jcs_http_req, job));
    jcs_http_server *srv = req->srv;
    struct MHD_Connection *mc = req->mc;
    switch (req->pending) {
    case J_BEGIN:
        do_begin(req);
        break;
    case J_DATA:
        do_body(req, req->jbuf, req->jn);
        req->jn = 0;
        break;
    case J_FINISH:
        /* The body's last gathered bytes first; a refusal there is the answer. */
        if (req->jn) {
            do_body(req, req->jbuf, req->jn);
            req->jn = 0;
        }
        if (req->stage == ST_BODY)
            do_finish(req);
        break;
    default:
        break;
    }
    susp_end(srv, mc); /* req may be gone once this returns */
}

/* Event model: hands the blocking part to a worker and suspends the connection until it is
 * done (MHD reads nothing meanwhile: the socket's buffer fills and the client waits). */
static enum MHD_Result run_job(jcs_http_req *req, int kind)
{
    if (!susp_begin(req->srv))
        return MHD_NO; /* stopping: the connection is closed and the request aborted */
    req->pending = kind;
    MHD_suspend_connection(req->mc);
    req->job.fn = req_job;
    atomic_fetch_add(&req->srv->worker_jobs, 1);
    workers_post(&req->srv->pool, &req->job);
    return MHD_YES;
}

/*
 * Event model: the first call from MHD after a job. A begin or finish job is followed by MHD
 * repeating the call it was suspended in (the first, or the last); a body job is followed by
 * the next piece of the body, or the last call (its bytes were taken), which goes on as usual
 * (*more).
 */
static enum MHD_Result job_done(jcs_http_req *req, int *more)
{
    int kind = req->pending;
    req->pending = J_NONE;
    *more = 0;
    switch (kind) {
    case J_BEGIN:
        return after_begin(req);
    case J_FINISH:
        return answer_last(req);
    case J_DATA:
        *more = 1;
        return MHD_YES;
    default:
        return MHD_NO;
    }
}

/* First call: certificate, route, body set-up. */
static enum MHD_Result start_request(jcs_http_server *srv, jcs_http_req *req)
{
    struct conn *c = req->conn;
    if (!c) {
        jcs_error("http: out of memory for a connection; closing it");
        return MHD_NO;
    }
    if (srv->no_client_cert) {
        c->checked = c->ok = 1;
    } else if (!c->checked) {
        char why[512];
        c->checked = 1;
        atomic_fetch_add(&srv->cert_checks, 1);
        c->ok = verify_peer(srv, req->mc, c, why, sizeof(why)) == 0;
        if (!c->ok) {
            atomic_fetch_add(&srv->cert_refusals, 1);
            jcs_warn("http: %s: refused (403): %s", c->addr, why);
        }
    }
    if (!c->ok) {
        (void)jcs_http_reply_err(req, 403, "Unauthorized",
                                 "a client certificate signed by the configured CA (http.rootCA) "
                                 "or listed in http.clientCerts is required");
        return answer_first(req, 1);
    }
    if (req->conn && req->conn->path_nul) {
        req->conn->path_nul = 0;
        (void)jcs_http_reply_err(req, 400, "BadArgument",
                                 "the request path contains a NUL character (%%00)");
        return answer_first(req, 0);
    }
    const jcs_http_route *rt = NULL;
    int path_known = 0;
    char allow[64] = "";
    /* HEAD is GET without the body (RFC 9110 9.3.2): MHD sends the same headers and drops it. */
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    for (size_t i = 0; i < srv->nroutes; i++) {
        if (!srv->routes[i].path || strcmp(srv->routes[i].path, req->path) != 0)
            continue;
        path_known = 1;
        if (!srv->routes[i].method || strcmp(srv->routes[i].method, method) == 0) {
            rt = &srv->routes[i];
            break;
        }
        size_t l = strlen(allow);
        snprintf(allow + l, sizeof(allow) - l, "%s%s", l ? ", " : "", srv->routes[i].method);
    }
    /* Catch-all routes (no path) come after every exact path. */
    for (size_t i = 0; !rt && !path_known && i < srv->nroutes; i++)
        if (!srv->routes[i].path &&
            (!srv->routes[i].method || strcmp(srv->routes[i].method, req->method) == 0))
            rt = &srv->routes[i];
    if (!rt) {
        if (path_known) {
            int hrc = jcs_http_add_header(req, "Allow", allow);
            if (hrc)
                jcs_debug("http: no Allow header: %s", jcs_err_msg(hrc));
            (void)jcs_http_reply_err(req, 405, "BadArgument",
                                     "method %s is not allowed for %s (use %s)", req->method,
                                     req->path, allow);
        } else {
            (void)jcs_http_reply_err(req, 404, "DataNotFound", "no such endpoint: %s %s",
                                     req->method, req->path);
        }
        return answer_first(req, 0);
    }
    req->route = rt;
    uint64_t clen;
    int known;
    int has_body = req_has_body(req, &clen, &known);
    if (rt->body == JCS_HTTP_BODY_JSON && has_body) {
        /* A JSON route reads JSON: a body labelled as something else (text/plain, a form) is
         * refused rather than guessed at. No Content-Type at all is taken as JSON. */
        const char *ct = MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, "Content-Type");
        size_t tl = ct ? strcspn(ct, "; \t") : 0;
        int json = !ct || (tl == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
                   (tl > 5 && strncasecmp(ct + tl - 5, "+json", 5) == 0);
        if (!json) {
            (void)jcs_http_reply_err(req, 415, "BadArgument",
                                     "Content-Type \"%.60s\": %s %s takes application/json", ct,
                                     req->method, req->path);
            return answer_first(req, 0);
        }
    }
    if (rt->body == JCS_HTTP_BODY_JSON || rt->body == JCS_HTTP_BODY_NONE) {
        if (known && clen > srv->max_body) {
            (void)jcs_http_reply_err(req, 413, "TooLarge",
                                     "request body of %llu bytes is over the limit of %zu "
                                     "(http.maxBodySize)",
                                     (unsigned long long)clen, srv->max_body);
            return answer_first(req, 0);
        }
        jcs_buf_init(&req->body, srv->max_body);
        return MHD_YES;
    }
    if (rt->body == JCS_HTTP_BODY_MULTIPART) {
        char boundary[JCS_HTTP_MAX_BOUNDARY + 1];
        const char *ct = MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, "Content-Type");
        int rc = jcs_http_multipart_boundary(ct, boundary, sizeof(boundary));
        if (!rc)
            rc = jcs_http_multipart_new(boundary, srv->max_parts, &mp_route_ops, req, &req->mp);
        if (rc) {
            (void)jcs_http_reply_rc(req, rc);
            return answer_first(req, 0);
        }
    }
    if (!rt->begin)
        return after_begin(req);
    if (srv->event && !rt->light_begin_end)
        return run_job(req, J_BEGIN);
    if (srv->event) {
        /* A begin that cannot block, here on the event thread: no trip to a worker. */
        jcs_err_clear();
        do_begin(req);
        return after_begin(req);
    }
    busy(srv, req->mc);
    do_begin(req);
    idle(srv, req->mc);
    return after_begin(req);
}

static enum MHD_Result body_bytes(jcs_http_server *srv, jcs_http_req *req, const char *p, size_t n)
{
    if (req->stage == ST_DONE)
        return MHD_YES;
    if (req->stage == ST_DISCARD) {
        req->discarded += n;
        /* A body of declared length from an authenticated client is drained to its end, however
         * long: that client could have sent it as an accepted upload as well, and only at the
         * end can it get the answer that says why (a hub that died mid-upload), instead of a
         * closed connection. A body of unknown length stops at the cap. */
        uint64_t clen;
        int known = 0;
        int body = req_has_body(req, &clen, &known);
        int drain_all = body && known && req->conn && req->conn->ok;
        if (!drain_all && req->discarded > JCS_HTTP_DISCARD_CAP) {
            jcs_warn("http: %s %s: refused body still coming after %u MiB dropped; closing "
                     "the connection without an answer",
                     req->method, req->path, JCS_HTTP_DISCARD_CAP >> 20);
            return MHD_NO;
        }
        return MHD_YES;
    }
    req->body_len += n;
    int rc = 0;
    switch (req->route->body) {
    case JCS_HTTP_BODY_NONE:
    case JCS_HTTP_BODY_JSON:
        if (req->body_len > srv->max_body) {
            (void)jcs_http_reply_err(req, 413, "TooLarge",
                                     "request body is over the limit of %zu bytes "
                                     "(http.maxBodySize)",
                                     srv->max_body);
            jcs_buf_clear(&req->body);
            req->stage = ST_DISCARD;
            return MHD_YES;
        }
        if (req->route->body == JCS_HTTP_BODY_JSON && (rc = jcs_buf_append(&req->body, p, n)))
            break;
        return MHD_YES;
    case JCS_HTTP_BODY_RAW:
    case JCS_HTTP_BODY_MULTIPART:
        busy(srv, req->mc);
        do_body(req, p, n);
        idle(srv, req->mc);
        return MHD_YES;
    }
    if (rc)
        refuse_body(req, rc);
    return MHD_YES;
}

/* Last call of a request whose body arrived whole. */
static enum MHD_Result finish_request(jcs_http_req *req)
{
    const jcs_http_route *rt = req->route;
    if (rt->body == JCS_HTTP_BODY_JSON && req->body.len) {
        json_error_t e;
        req->json = json_loadb(req->body.data, req->body.len, 0, &e);
        if (!req->json) {
            (void)jcs_http_reply_err(req, 400, "BadArgument",
                                     "malformed JSON body at line %d, column %d: %s", e.line,
                                     e.column, e.text);
            return answer_last(req);
        }
    }
    if (req->srv->event)
        return run_job(req, J_FINISH);
    do_finish(req);
    return answer_last(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    jcs_http_server *srv = cls;
    jcs_http_req *req = *con_cls;
    (void)version;
    if (!req) {
        /* Requests run one after another on a thread: a detail line left by
         * the previous one must not explain this one's failure (err.h). */
        jcs_err_clear();
        req = jcs_calloc(1, sizeof(*req));
        if (!req) {
            jcs_error("http: out of memory for a request; closing the connection");
            return MHD_NO;
        }
        *con_cls = req;
        req->srv = srv;
        req->mc = mc;
        req->method = method;
        req->path = url;
        req->t0 = jcs_now_us();
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        req->conn = ci ? ci->socket_context : NULL;
        /* The headers are in: the front door's deadline stops; MHD's idle timeout guards the
         * rest of the exchange. */
        conn_set_in_request(srv, req->conn, 1);
        atomic_fetch_add(&srv->requests, 1);
        atomic_fetch_add(&srv->requests_total, 1);
        return start_request(srv, req);
    }
    if (req->pending) {
        int more;
        enum MHD_Result r = job_done(req, &more);
        if (r != MHD_YES || !more)
            return r;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (srv->event && req->stage == ST_BODY &&
            (req->route->body == JCS_HTTP_BODY_RAW ||
             req->route->body == JCS_HTTP_BODY_MULTIPART)) {
            /* Taken as a copy; once a batch is in, MHD reads nothing more until the job has
             * handed it to the route and resumed the connection. */
            if (req->jn + n > req->jcap) {
                size_t cap = req->jn + n < JOB_BATCH ? JOB_BATCH : req->jn + n;
                char *nb = jcs_realloc(req->jbuf, cap);
                if (!nb) {
                    jcs_error("http: %s %s: out of memory for %zu body bytes; closing the "
                              "connection",
                              req->method, req->path, req->jn + n);
                    return MHD_NO;
                }
                req->jbuf = nb;
                req->jcap = cap;
            }
            memcpy(req->jbuf + req->jn, upload_data, n);
            req->jn += n;
            req->body_len += n;
            return req->jn >= JOB_BATCH ? run_job(req, J_DATA) : MHD_YES;
        }
        return body_bytes(srv, req, upload_data, n);
    }
    switch (req->stage) {
    case ST_BODY:
        return finish_request(req);
    case ST_DISCARD:
        return answer_last(req);
    case ST_DONE:
        break;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    jcs_http_server *srv = cls;
    jcs_http_req *req = *con_cls;
    (void)mc;
    if (!req)
        return;
    *con_cls = NULL;
    /* The next request on this connection gets a fresh deadline for its headers. */
    conn_set_in_request(srv, req->conn, 0);
    int64_t us = jcs_now_us() - req->t0;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        jcs_info("http: %s %s: connection ended before the exchange completed (code %d, %lld "
                 "body bytes in, %lld ms)",
                 req->method, req->path, (int)toe, (long long)req->body_len,
                 (long long)(us / 1000));
    else if (req->status >= 500)
        jcs_warn("http: %s %s -> %u (%lld ms)", req->method, req->path, req->status,
                 (long long)(us / 1000));
    else if (req->status >= 400)
        jcs_info("http: %s %s -> %u (%lld ms)", req->method, req->path, req->status,
                 (long long)(us / 1000));
    else
        jcs_debug("http: %s %s -> %u (%llu bytes in, %lld us)", req->method, req->path, req->status,
                  (unsigned long long)req->body_len, (long long)us);
    if (req->resp)
        MHD_destroy_response(req->resp); /* never queued */
    req->resp = NULL;
    if (req->stream)
        atomic_store(&req->stream->completed, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    int owed = (req->began && req->route->abort) || req->ctx_free || req->stream;
    /* After handle(), a light route's context frees without blocking: here, no worker trip. */
    if (owed && req->route && req->route->light_begin_end && req->handled && !req->began &&
        !req->stream)
        owed = 0;
    if (srv->event && owed) {
        /* The route's abort and clean-up may block (a plan torn down): a worker runs them,
         * after MHD has let go of the request, so they see copies of its strings and no
         * connection (jcs_http_header answers NULL, the peer ""). */
        req->own_method = jcs_strdup(req->method);
        req->own_path = jcs_strdup(req->path);
        req->method = req->own_method ? req->own_method : "?";
        req->path = req->own_path ? req->own_path : "?";
        req->mc = NULL;
        req->conn = NULL;
        req->pending = J_FINAL;
        req->job.fn = final_job;
        atomic_fetch_add(&srv->worker_jobs, 1);
        workers_post(&srv->pool, &req->job);
        return;
    }
    final_job(&req->job);
}

/* The end of a request: the route's abort if owed, its context, the streamed reply's
 * reference, the request itself. */
static void final_job(struct job *j)
{
    jcs_http_req *req = (jcs_http_req *)((char *)j - offsetof(jcs_http_req, job));
    jcs_http_server *srv = req->srv;
    call_abort(req, JCS_ECANCELED);
    if (req->ctx_free)
        req->ctx_free(req->ctx);
    if (req->stream)
        stream_unref(req->stream);
    json_decref(req->json);
    jcs_buf_clear(&req->body);
    jcs_http_multipart_free(req->mp);
    for (size_t i = 0; i < req->nhdr; i++) {
        jcs_free(req->hname[i]);
        jcs_free(req->hval[i]);
    }
    jcs_free(req->own_method);
    jcs_free(req->own_path);
    jcs_free(req->jbuf);
    jcs_free(req);
    atomic_fetch_sub(&srv->requests, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    jcs_info("http: libmicrohttpd: %s", line);
}

/* ======================================================================
 * Start and stop
 * ====================================================================== */

static int load_pins(jcs_http_server *srv, const jcs_http_config *cfg)
{
    if (!cfg->nclient_certs)
        return 0;
    if (cfg->nclient_certs > JCS_HTTP_MAX_CLIENT_CERTS)
        return jcs_err_set(JCS_ECONFIG, "http: more than %d client certificates",
                           JCS_HTTP_MAX_CLIENT_CERTS);
    srv->pins = jcs_calloc(cfg->nclient_certs, sizeof(*srv->pins));
    if (!srv->pins)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->nclient_certs; i++) {
        const char *f = cfg->client_cert_files[i];
        char *pem;
        size_t len;
        int rc = jcs_read_file(f, PEM_CAP, &pem, &len);
        if (rc)
            return jcs_err_wrap(rc, "http.clientCerts: ");
        gnutls_x509_crt_t crt;
        gnutls_datum_t in = {(unsigned char *)pem, (unsigned)len}, der = {0};
        int ret = gnutls_x509_crt_init(&crt);
        if (ret >= 0) {
            ret = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM);
            if (ret >= 0)
                ret = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
            if (ret >= 0) {
                srv->pins[i].not_before = gnutls_x509_crt_get_activation_time(crt);
                srv->pins[i].not_after = gnutls_x509_crt_get_expiration_time(crt);
            }
            gnutls_x509_crt_deinit(crt);
        }
        jcs_free(pem);
        if (ret < 0)
            return jcs_err_set(JCS_ETLS, "http.clientCerts: %s: not a PEM certificate: %s", f,
                               gnutls_strerror(ret));
        srv->pins[i].der = jcs_malloc(der.size);
        if (!srv->pins[i].der) {
            gnutls_free(der.data);
            return jcs_err_set(JCS_ENOMEM, "out of memory");
        }
        memcpy(srv->pins[i].der, der.data, der.size);
        srv->pins[i].len = der.size;
        srv->npins = i + 1;
        gnutls_free(der.data);
    }
    return 0;
}

static void server_free(jcs_http_server *srv)
{
    if (srv->watch_started) {
        pthread_mutex_lock(&srv->conns_mu);
        srv->watch_stop = 1;
        pthread_cond_signal(&srv->watch_cv);
        pthread_mutex_unlock(&srv->conns_mu);
        pthread_join(srv->watch, NULL);
    }
    pthread_mutex_destroy(&srv->conns_mu);
    pthread_cond_destroy(&srv->watch_cv);
    /* Runs what MHD's shutdown left (aborts, clean-ups, done callbacks) and waits for it. */
    workers_stop(&srv->pool);
    workers_destroy(&srv->pool);
    pthread_mutex_destroy(&srv->susp_mu);
    pthread_cond_destroy(&srv->susp_cv);
    if (srv->tl)
        gnutls_x509_trust_list_deinit(srv->tl, 1);
    for (size_t i = 0; i < srv->npins; i++)
        jcs_free(srv->pins[i].der);
    jcs_free(srv->pins);
    jcs_free(srv->routes);
    jcs_free(srv->cert_pem);
    jcs_free(srv->key_pem);
    jcs_free(srv->ca_pem);
    jcs_free(srv);
}

/* MHD's unescaper for raw_paths listeners: leaves the text as sent. */
static size_t raw_unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    (void)cls;
    (void)mc;
    return strlen(s);
}

static int resolve_listen(const char *listen, struct sockaddr_storage *ss, int *v6)
{
    char host[256];
    int port;
    int rc = jcs_parse_addr(listen, host, sizeof(host), &port);
    if (rc)
        return jcs_err_wrap(rc, "http.listen: ");
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    int g = getaddrinfo(host, NULL, &hints, &ai);
    if (g != 0 || !ai)
        return jcs_err_set(JCS_EINVAL, "http.listen: cannot resolve \"%s\": %s", host,
                           gai_strerror(g));
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (*v6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    return 0;
}

int jcs_http_start(const jcs_http_config *cfg, const jcs_http_route *routes, size_t nroutes,
                   jcs_http_server **out)
{
    *out = NULL;
    if (!cfg->listen || !cfg->cert_file || !cfg->key_file ||
        (!cfg->root_ca_file && !cfg->no_client_cert))
        return jcs_err_set(JCS_ECONFIG, "http: listen, serverCert, serverKey and rootCA are "
                                        "required");
    for (size_t i = 0; i < nroutes; i++)
        if ((routes[i].path && routes[i].path[0] != '/') || !routes[i].handle)
            return jcs_err_set(JCS_EINVAL,
                               "http: route %zu (%s) needs a method, a /path and a "
                               "handle callback",
                               i, routes[i].path ? routes[i].path : "no path");
    struct sockaddr_storage ss;
    int v6 = 0;
    int rc = resolve_listen(cfg->listen, &ss, &v6);
    if (rc)
        return rc;
    jcs_http_server *srv = jcs_calloc(1, sizeof(*srv));
    if (!srv)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    srv->max_body = cfg->max_body_size ? cfg->max_body_size : 5242880;
    srv->max_parts = cfg->max_parts ? cfg->max_parts : 10000;
    srv->timeout_s = cfg->timeout_s ? cfg->timeout_s : 60;
    srv->header_timeout_s = cfg->header_timeout_s ? cfg->header_timeout_s : 10;
    srv->handshake_timeout_s = cfg->handshake_timeout_s ? cfg->handshake_timeout_s : 5;
    if (srv->handshake_timeout_s > srv->header_timeout_s)
        srv->handshake_timeout_s = srv->header_timeout_s;
    pthread_mutex_init(&srv->conns_mu, NULL);
    pthread_cond_init(&srv->watch_cv, NULL);
    pthread_mutex_init(&srv->susp_mu, NULL);
    pthread_cond_init(&srv->susp_cv, NULL);
    srv->event = !cfg->thread_per_connection;
    workers_init(&srv->pool, cfg->worker_threads);
    if (nroutes) {
        srv->routes = jcs_calloc(nroutes, sizeof(*routes));
        if (!srv->routes) {
            rc = jcs_err_set(JCS_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(srv->routes, routes, nroutes * sizeof(*routes));
    }
    srv->nroutes = nroutes;
    srv->no_client_cert = cfg->no_client_cert;
    size_t len;
    if ((rc = jcs_read_file(cfg->cert_file, PEM_CAP, &srv->cert_pem, &len)) ||
        (rc = jcs_read_file(cfg->key_file, PEM_CAP, &srv->key_pem, &len)) ||
        (!cfg->no_client_cert &&
         (rc = jcs_read_file(cfg->root_ca_file, PEM_CAP, &srv->ca_pem, &len)))) {
        rc = jcs_err_wrap(rc, "http: ");
        goto fail;
    }
    if (cfg->no_client_cert)
        goto tls_ready;
    int ret = gnutls_x509_trust_list_init(&srv->tl, 0);
    if (ret < 0) {
        srv->tl = NULL;
        rc = jcs_err_set(JCS_ETLS, "http: %s", gnutls_strerror(ret));
        goto fail;
    }
    gnutls_datum_t ca = {(unsigned char *)srv->ca_pem, (unsigned)len};
    ret = gnutls_x509_trust_list_add_trust_mem(srv->tl, &ca, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    if (ret <= 0) {
        rc = jcs_err_set(JCS_ETLS, "http.rootCA: %s: no certificate in it%s%s", cfg->root_ca_file,
                         ret < 0 ? ": " : "", ret < 0 ? gnutls_strerror(ret) : "");
        goto fail;
    }
    if ((rc = load_pins(srv, cfg)))
        goto fail;
tls_ready:;
    /* Options that differ between listeners: the client CA (a certificate is then asked for)
     * and the unescaper (the identity for raw paths, else MHD's behind the %00 check). */
    struct MHD_OptionItem opts[3];
    size_t nopt = 0;
    if (!cfg->no_client_cert)
        opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->ca_pem};
    if (cfg->raw_paths)
        opts[nopt++] =
            (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)raw_unescape, NULL};
    else
        opts[nopt++] =
            (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)on_unescape, srv};
    opts[nopt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    unsigned flags = MHD_USE_TLS | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    unsigned pool = 0;
    if (srv->event) {
        flags |= MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
        pool = cfg->event_threads ? cfg->event_threads : 2;
        if (pool == 1)
            pool = 0; /* one thread: MHD's own, no pool */
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    }
    /* The logger goes first, so MHD's complaints about later options reach our log. */
    srv->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_HTTPS_MEM_CERT, srv->cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem, MHD_OPTION_ARRAY, opts, MHD_OPTION_HTTPS_PRIORITIES,
        TLS_PRIORITIES, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : 2048u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->max_connections_per_address ? cfg->max_connections_per_address : 64u,
        MHD_OPTION_CONNECTION_TIMEOUT, srv->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)MHD_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_THREAD_POOL_SIZE, pool,
        MHD_OPTION_END);
    if (!srv->d) {
        rc = jcs_err_set(JCS_EIO,
                         "http: cannot listen on %s (address in use, or a bad certificate/key in "
                         "%s / %s; see the libmicrohttpd line above)",
                         cfg->listen, cfg->cert_file, cfg->key_file);
        goto fail;
    }
    if (pthread_create(&srv->watch, NULL, watchdog_main, srv) != 0) {
        MHD_stop_daemon(srv->d);
        rc = jcs_err_set(JCS_EIO, "http: cannot start the connection watchdog thread");
        goto fail;
    }
    srv->watch_started = 1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
    if (cfg->no_client_cert)
        jcs_info("http: listening on %s (port %d), no client certificates", cfg->listen, srv->port);
    else
        jcs_info("http: listening on %s (port %d), client certificates from %s%s", cfg->listen,
                 srv->port, cfg->root_ca_file, srv->npins ? " and http.clientCerts" : "");
    *out = srv;
    return JCS_OK;
fail:
    server_free(srv);
    return rc;
}

int jcs_http_port(const jcs_http_server *srv)
{
    return srv->port;
}

void jcs_http_get_stats(const jcs_http_server *srv, jcs_http_stats *st)
{
    jcs_http_server *s = (jcs_http_server *)srv; /* atomic loads take non-const pointers */
    st->connections = atomic_load(&s->connections);
    st->connections_total = atomic_load(&s->connections_total);
    st->requests = atomic_load(&s->requests);
    st->requests_total = atomic_load(&s->requests_total);
    st->cert_checks = atomic_load(&s->cert_checks);
    st->cert_refusals = atomic_load(&s->cert_refusals);
    st->header_timeouts = atomic_load(&s->header_timeouts);
    st->handshake_timeouts = atomic_load(&s->handshake_timeouts);
    st->worker_jobs = atomic_load(&s->worker_jobs);
}

void jcs_http_stop(jcs_http_server *srv)
{
    if (!srv)
        return;
    /* MHD must not be stopped with a connection suspended: refuse new suspensions and wait for
     * the jobs out (a handler that blocks delays this, as a connection thread did before). */
    pthread_mutex_lock(&srv->susp_mu);
    srv->stopping = 1;
    while (srv->nsuspended)
        pthread_cond_wait(&srv->susp_cv, &srv->susp_mu);
    pthread_mutex_unlock(&srv->susp_mu);
    MHD_stop_daemon(srv->d);
    server_free(srv);
}
