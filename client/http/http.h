/*
 * http.h - the HTTPS server under the client's REST API: libmicrohttpd 0.9.75
 * with GnuTLS, mandatory client certificates, bodies streamed both ways.
 *
 * This is the only module that calls MHD_* (and GnuTLS, for the peer check).
 *
 * Thread model (event-driven). A few event threads (MHD's epoll pool,
 * event_threads, 2) serve every connection: TLS, headers, the certificate
 * check, routing, JSON bodies, refusals. An idle or hostile connection costs
 * no thread. Every callback that may block (begin, data, parts, handle, a
 * streaming response's read, abort, the context's free, done) runs on a
 * worker thread (at most worker_threads, 256, started as work arrives; the
 * ones beyond 2 leave after 5 s idle) while the connection is suspended
 * (MHD_suspend_connection): an upload that runs a plan stalls only its own
 * connection, and a handler may block as long as it needs. Callbacks of one
 * request never run at the same time and come in the same order as before.
 * Backpressure is kept: the body bytes MHD read are copied once (at most
 * MHD's read buffer, 128 KiB) and handed to the worker, and while that
 * data callback has not returned the connection is suspended, MHD reads
 * nothing more from the socket, TCP's window fills and the client waits.
 * A streamed reply is pulled by a worker in blocks of up to 256 KiB into
 * one of two buffers while MHD sends the other, so at most two blocks per
 * reply are held; the first block is read right after the handler, on its
 * worker. A suspended connection is out of MHD's idle timeout, so only a
 * silent client counts as idle. jcs_http_stop waits for the jobs out
 * before it stops MHD. More blocking callbacks at once than workers wait
 * for a free one. The old model, a thread per open connection with every
 * callback on it, stays behind thread_per_connection
 * (http.threadPerConnection) as a fallback and for comparison; figures of
 * both are in docs/DESIGN.md (tests/bench/bench_http.c).
 *
 * Client certificates. MHD can only *request* a client certificate: the TLS
 * handshake succeeds without one. So the first request of each connection
 * checks the peer's certificate (it must chain to the root CA, or be
 * byte-identical to one of the pinned client certificates, and be within
 * its validity), caches the verdict on the connection, and every request on
 * a connection without a good certificate gets 403 Unauthorized before any
 * of its body is read; one warning line is logged per connection. The
 * certificate's OU (role) is not checked here. (A refusal at the TLS level
 * is possible for a missing certificate: setting GNUTLS_CERT_REQUIRE on the
 * session from MHD_CONNECTION_NOTIFY_STARTED made curl fail with error 55 in
 * a probe. The 403 envelope is kept because it tells the user what to fix.)
 *
 * Request bodies come in one of four modes chosen by the route:
 *   NONE       ignored (counted against max_body_size);
 *   JSON       collected up to max_body_size (413 TooLarge beyond), parsed
 *              with jansson (400 BadArgument naming line and column);
 *   RAW        handed to the route's data callback as it arrives;
 *   MULTIPART  multipart/form-data parsed here as it streams: part_begin,
 *              data (the part's bytes), part_end per part.
 * Limits: JCS_HTTP_MAX_BOUNDARY, JCS_HTTP_MAX_PART_HEADER, max_parts.
 *
 * Answering early. MHD can send a response before the body only while no
 * body byte has been read; once reading started, the answer must wait for
 * the body's end. So a request refused in mid-body (a callback failed,
 * malformed multipart, a chunked JSON body over the cap, a hub that died
 * mid-upload) has the rest of its body read and thrown away, then gets its
 * answer: to the declared Content-Length for an authenticated client (which
 * could have sent that much as an accepted upload), at most
 * JCS_HTTP_DISCARD_CAP bytes otherwise; beyond that the connection is closed
 * without an answer.
 *
 * Errors MHD answers by itself (malformed HTTP, headers over the 128 KiB
 * per-connection pool) carry MHD's small HTML body, not the envelope.
 *
 * Responses: a JSON envelope {"code","message","data"} (jcs_http_reply_ok,
 * jcs_http_reply_err, jcs_http_reply_rc) or a stream pulled from a read
 * callback as the socket drains (jcs_http_reply_stream). Every response
 * carries "Server: jcs"; connections are kept alive (HTTP/1.1) and use
 * TCP_NODELAY.
 */
#ifndef JCS_HTTP_H
#define JCS_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "http_config.h"
#include "http_multipart.h"

#define JCS_HTTP_DISCARD_CAP  (64u << 20) /* body bytes read and dropped after a refusal */
#define JCS_HTTP_MAX_HEADERS  64          /* extra response headers per reply */
#define JCS_HTTP_SIZE_UNKNOWN UINT64_MAX  /* a streamed response of unknown length (chunked) */

typedef struct jcs_http_server jcs_http_server;
/* One request; valid during its callbacks only, and only to be used from them (one at a time). */
typedef struct jcs_http_req jcs_http_req;

enum jcs_http_body {
    JCS_HTTP_BODY_NONE = 0,
    JCS_HTTP_BODY_JSON,
    JCS_HTTP_BODY_RAW,
    JCS_HTTP_BODY_MULTIPART,
};

/*
 * A route: method + exact path (after URL decoding, without the query).
 * Callbacks return 0 or a negative jcs_err. A failing callback that has not
 * replied gets jcs_http_reply_rc(rc) as its answer. Every callback may
 * block (it runs on a worker, or on the connection's thread in the old
 * model); a request's callbacks never run at the same time.
 */
typedef struct jcs_http_route {
    const char *method; /* "GET", "POST", "PUT"; NULL: any; borrowed for the server's life */
    const char *path;   /* "/v1/object/upload"; NULL: any path (a catch-all, tried last) */
    enum jcs_http_body body;
    /*
     * Required. Called once the whole body arrived (JSON: parsed, see
     * jcs_http_req_json). Must reply; returning 0 without a reply is
     * answered 500.
     */
    int (*handle)(jcs_http_req *req);
    /*
     * RAW, MULTIPART, optional: called before the first body byte is read
     * (after the certificate and route checks). Failing or replying here
     * answers at once and the body is never read.
     */
    int (*begin)(jcs_http_req *req);
    /* RAW: the next bytes of the body. MULTIPART: the next bytes of the current part. */
    int (*data)(jcs_http_req *req, const void *p, size_t n);
    /* MULTIPART: a part starts / the current part is complete. */
    int (*part_begin)(jcs_http_req *req, const jcs_http_part *part);
    int (*part_end)(jcs_http_req *req);
    /*
     * RAW, MULTIPART, optional: the body will not complete after begin
     * succeeded: a callback failed or replied, the multipart body is
     * malformed or truncated, the client went away, the server is stopping.
     * handle() will not be called; roll back here. why is a jcs_err
     * (JCS_EINVAL malformed, JCS_ECANCELED client gone or shutdown, or the
     * callback's own code).
     */
    void (*abort)(jcs_http_req *req, int why);
    void *arg; /* jcs_http_req_arg() */
    /*
     * RAW, MULTIPART, optional: begin never blocks, and neither does the
     * context's free once handle() has run. The event model then runs both
     * on the event thread instead of handing each to a worker (about 0.15
     * CPU-ms a trip), so a small upload takes one trip (its body and
     * handle()) instead of three. An abort still runs on a worker.
     */
    int light_begin_end;
} jcs_http_route;

/*
 * Starts listening with the given routes (the array is copied; its strings
 * and args are borrowed until jcs_http_stop). Reads the certificate files
 * now. JCS_ECONFIG / JCS_ETLS naming the file, JCS_EINVAL for a bad route
 * or listen address, JCS_EIO when the address cannot be bound. Caller
 * stops with jcs_http_stop.
 */
int jcs_http_start(const jcs_http_config *cfg, const jcs_http_route *routes, size_t nroutes,
                   jcs_http_server **out) JCS_MUST_USE;

/* The TCP port actually bound. */
int jcs_http_port(const jcs_http_server *srv);

typedef struct jcs_http_stats {
    uint64_t connections;       /* open now */
    uint64_t connections_total; /* accepted since start */
    uint64_t requests;          /* in progress now */
    uint64_t requests_total;
    uint64_t cert_checks;        /* client certificates verified (once per connection) */
    uint64_t cert_refusals;      /* connections refused for their certificate */
    uint64_t header_timeouts;    /* connections cut for missing a deadline (handshake or headers) */
    uint64_t handshake_timeouts; /* of which: the TLS handshake was not complete */
    uint64_t worker_jobs;        /* callbacks handed to a worker thread (event model) */
} jcs_http_stats;

void jcs_http_get_stats(const jcs_http_server *srv, jcs_http_stats *st);

/*
 * Stops accepting, closes every connection (in-flight requests see their
 * abort callback) and waits for the callbacks running (workers, or the
 * connection threads), so a handler that blocks delays this. NULL is a no-op.
 */
void jcs_http_stop(jcs_http_server *srv);

/* ---- the request, for handlers ---- */

const char *jcs_http_req_method(const jcs_http_req *req);
const char *jcs_http_req_path(const jcs_http_req *req);
void *jcs_http_req_arg(const jcs_http_req *req); /* the route's arg */

/* CN of the client certificate (borrowed, "" when it has none). */
const char *jcs_http_req_peer(const jcs_http_req *req);

/* Body bytes received so far. */
uint64_t jcs_http_req_body_len(const jcs_http_req *req);

/* JSON routes, in handle(): the parsed body (borrowed), NULL when the body was empty. */
json_t *jcs_http_req_json(const jcs_http_req *req);

/*
 * Per-request state for the route's callbacks: free_fn (may be NULL) is
 * called on ctx when the request ends, however it ends, after abort.
 */
void jcs_http_req_set_ctx(jcs_http_req *req, void *ctx, void (*free_fn)(void *ctx));
void *jcs_http_req_ctx(const jcs_http_req *req);

/* A request header (case-insensitive name), borrowed; NULL when absent. */
const char *jcs_http_header(const jcs_http_req *req, const char *name);

/*
 * Calls fn for every request header in arrival order (borrowed strings);
 * a non-zero return stops and is returned.
 */
int jcs_http_header_each(const jcs_http_req *req,
                         int (*fn)(void *arg, const char *name, const char *value), void *arg);

/*
 * Calls fn for every query parameter in order (value "" for "?name"; with
 * raw_paths as sent, else decoded); a non-zero return stops and is returned.
 */
int jcs_http_query_each(const jcs_http_req *req,
                        int (*fn)(void *arg, const char *name, const char *value), void *arg);

/*
 * A query parameter, URL-decoded (borrowed; "" for "?name"). JCS_ENOENT
 * when absent, JCS_EINVAL when given more than once or when it decodes to
 * a NUL (%00, which would silently cut the C string); either with a detail
 * naming the parameter, ready for jcs_http_reply_rc.
 */
int jcs_http_query(const jcs_http_req *req, const char *name, const char **out) JCS_MUST_USE;

/* Every value of a repeated parameter, in order: writes up to max into vals, returns the count
 * (which may exceed max). */
size_t jcs_http_query_all(const jcs_http_req *req, const char *name, const char **vals, size_t max);

/*
 * An integer parameter within [min, max]. Absent: *out = def when
 * !required, JCS_EINVAL "query parameter NAME is required" otherwise.
 * Malformed or out of range: JCS_EINVAL naming it.
 */
int jcs_http_query_int(const jcs_http_req *req, const char *name, int required, int64_t def,
                       int64_t min, int64_t max, int64_t *out) JCS_MUST_USE;

/* A boolean parameter: "true"/"false"/"1"/"0" ("" counts as true); absent gives def. */
int jcs_http_query_bool(const jcs_http_req *req, const char *name, int def, int *out) JCS_MUST_USE;

/* ---- replies: one per request; a second one fails with JCS_EINVAL ----
 * (the API's JSON envelope on top of these: http_envelope.h) */

/*
 * Adds a header to this request's reply (Content-Range, Content-Disposition,
 * ...). Copies both. At most JCS_HTTP_MAX_HEADERS; JCS_ETOOBIG beyond,
 * JCS_EINVAL for a CR or LF in either.
 */
int jcs_http_add_header(jcs_http_req *req, const char *name, const char *value) JCS_MUST_USE;

/*
 * A body already in memory (copied) with any status and Content-Type
 * (NULL: none). For HEAD, MHD sends the headers only.
 */
int jcs_http_reply_buf(jcs_http_req *req, unsigned status, const char *content_type,
                       const void *data, size_t len);

/* Any JSON body with any status. Takes ownership of body. */
int jcs_http_reply_json(jcs_http_req *req, unsigned status, json_t *body);

/*
 * Pulls up to max bytes at offset pos of the body into buf. Returns the
 * count (> 0), 0 at the end (only for JCS_HTTP_SIZE_UNKNOWN; early for a
 * known size it is an error), or a negative jcs_err, which aborts the
 * connection: the status line is long gone, the client sees a short body.
 * May block (a worker calls it, with max up to 256 KiB, positions in order).
 */
typedef ssize_t (*jcs_http_read_fn)(void *ctx, uint64_t pos, char *buf, size_t max);

/* Called exactly once when the response is finished with; completed is 1
 * when every byte was handed to the socket, 0 when the client left early,
 * the read failed or the response was never sent. Free ctx here. */
typedef void (*jcs_http_done_fn)(void *ctx, int completed);

/*
 * A streamed reply: status, the headers added with jcs_http_add_header
 * (set Content-Type there; the default is application/octet-stream),
 * Content-Length from size (or chunked for JCS_HTTP_SIZE_UNKNOWN), then
 * the body pulled from read as the socket drains. done is called exactly
 * once, also when this call fails.
 */
int jcs_http_reply_stream(jcs_http_req *req, unsigned status, uint64_t size, jcs_http_read_fn read,
                          jcs_http_done_fn done, void *ctx);

#endif
