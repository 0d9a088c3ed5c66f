/*
 * bulk.h - the bulk data channel: plan streams over plain mutual-TLS TCP
 * connections beside gRPC (docs/DESIGN.md §5, "Bulk channel").
 *
 * Why: moving a GiB through a gRPC stream costs about one CPU second more
 * (both ends together) than through one OpenSSL connection (tests/bench/
 * bench_rpc.c measures both): HTTP/2 framing, gRPC's memory BIO copies and
 * its thread hand-offs. Control (ExecuteFragment, values, shard calls) stays
 * on gRPC; only the bytes of PushStream / PullStream move here.
 *
 * Security: the same certificates and CA as the gRPC server; both sides
 * must present a certificate of the cluster CA, the client checks the
 * server's name (host of the address) like gRPC does, and the server admits
 * only the roles it was given (the OU of the client's subject). A refused
 * peer is logged with the reason and disconnected.
 *
 * Frames (both directions): a 52-byte header (magic, type, var, payload
 * length, plan id, error code; little-endian) and the payload. A request
 * is OPEN_PUSH or OPEN_PULL naming (plan id, var); the bytes follow as
 * DATA frames of at most JCS_BULK_MAX_DATA bytes and end with an explicit
 * END. A sender that gives up sends CANCEL (code and reason) instead, and
 * a receiver that fails sends ERROR: so a cancel, a failure or a connection
 * closed mid-stream is never taken for the end of a stream. A push is
 * answered OK (payload: the 8-byte byte count) or ERROR.
 *
 * Deadlines: every read and write of a connection fails with JCS_ETIMEOUT
 * once it made no progress for the process's RPC idle deadline
 * (jcs_rpc_idle_timeout_ms, "rpc.idleTimeoutSeconds").
 *
 * Ownership and threads: a connection belongs to one thread at a time,
 * except jcs_bulk_abort, which any thread may call to wake that thread.
 *
 * Signals: no call of this module raises SIGPIPE, whatever the peer did
 * (OpenSSL's writes go out with MSG_NOSIGNAL), so a process need not
 * ignore it to use the module.
 */
#ifndef JCS_BULK_H
#define JCS_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rpc.h"

#define JCS_BULK_MAX_DATA (1u << 20) /* bytes of one DATA frame */
#define JCS_BULK_MAX_MSG  4096       /* bytes of an ERROR / CANCEL reason */

enum jcs_bulk_type {
    JCS_BULK_OPEN_PUSH = 1,
    JCS_BULK_OPEN_PULL = 2,
    JCS_BULK_DATA = 3,
    JCS_BULK_END = 4,
    JCS_BULK_CANCEL = 5,
    JCS_BULK_ERROR = 6,
    JCS_BULK_OK = 7,
};

typedef struct jcs_bulk_conn jcs_bulk_conn;

/* A received frame header; for END/CANCEL/ERROR/OK the payload is read too. */
typedef struct jcs_bulk_frame {
    int type;
    int32_t var;
    int32_t code;                   /* CANCEL / ERROR: a negative jcs_err */
    char plan_id[33];               /* OPEN_*: the plan id (NUL-terminated) */
    size_t len;                     /* DATA: payload bytes still to read with jcs_bulk_recv_data */
    uint64_t bytes;                 /* OK: the receiver's byte count */
    char msg[JCS_BULK_MAX_MSG + 1]; /* CANCEL / ERROR: the reason */
} jcs_bulk_frame;

/*
 * Reads the next frame header (and a control frame's payload). A DATA
 * frame's payload must then be read in full with jcs_bulk_recv_data before
 * the next header. JCS_EUNAVAIL when the peer closed the connection,
 * JCS_ETIMEOUT after the idle deadline, JCS_ERPC for a malformed frame.
 */
int jcs_bulk_recv(jcs_bulk_conn *c, jcs_bulk_frame *f) JCS_MUST_USE;
/* Reads exactly n payload bytes of the current DATA frame into buf. */
int jcs_bulk_recv_data(jcs_bulk_conn *c, void *buf, size_t n) JCS_MUST_USE;

/* Sends one DATA frame per JCS_BULK_MAX_DATA bytes of p. */
int jcs_bulk_send_data(jcs_bulk_conn *c, const void *p, size_t n) JCS_MUST_USE;
/* END, OK(bytes), or CANCEL / ERROR with code and reason (truncated to JCS_BULK_MAX_MSG). */
int jcs_bulk_send_end(jcs_bulk_conn *c) JCS_MUST_USE;
int jcs_bulk_send_ok(jcs_bulk_conn *c, uint64_t bytes) JCS_MUST_USE;
int jcs_bulk_send_fail(jcs_bulk_conn *c, int type, int code, const char *why);

/* True when the peer sent something not read yet (or closed): a push checks for an ERROR. */
int jcs_bulk_readable(jcs_bulk_conn *c);
/* Wakes the thread blocked on c's I/O (from any thread): every later I/O on c fails. */
void jcs_bulk_abort(jcs_bulk_conn *c);
/* The peer's address ("host:port") and certificate subject, for messages. Borrowed. */
const char *jcs_bulk_peer(const jcs_bulk_conn *c);
const char *jcs_bulk_subject(const jcs_bulk_conn *c);

/* ----------------------------------------------------------------- server */

typedef struct jcs_bulk_server jcs_bulk_server;

/*
 * Serves one request: open is its OPEN_PUSH / OPEN_PULL frame. Returns 0
 * when the connection is left at a frame boundary and may carry the next
 * request, negative to have it closed.
 */
typedef int (*jcs_bulk_handler)(void *ctx, jcs_bulk_conn *c, const jcs_bulk_frame *open);

/*
 * Listens on host:port (port 0: any free port) and serves each connection
 * on a thread of its own: TLS handshake (client certificate required,
 * roles = OR of enum jcs_role admitted), then requests until the peer
 * closes or stays idle past the idle deadline. Caller frees with
 * jcs_bulk_server_free.
 */
int jcs_bulk_server_start(const char *host, int port, const jcs_tls_files *tls, unsigned roles,
                          jcs_bulk_handler fn, void *ctx, jcs_bulk_server **out) JCS_MUST_USE;
int jcs_bulk_server_port(const jcs_bulk_server *s);
/* Stops listening, aborts every connection, waits for their threads; NULL is fine. */
void jcs_bulk_server_free(jcs_bulk_server *s);

/* ----------------------------------------------------------------- client */

typedef struct jcs_bulk_pool jcs_bulk_pool;

/* Connections to any number of servers, kept open between requests. tls is copied. */
int jcs_bulk_pool_new(const jcs_tls_files *tls, jcs_bulk_pool **out) JCS_MUST_USE;
void jcs_bulk_pool_free(jcs_bulk_pool *p);

/*
 * A connection to address ("host:port"; a pooled one when there is one)
 * with the request sent: type JCS_BULK_OPEN_PUSH or JCS_BULK_OPEN_PULL.
 * JCS_EUNAVAIL when the server cannot be reached, JCS_ETLS / JCS_EPERM
 * when the handshake fails.
 */
int jcs_bulk_open(jcs_bulk_pool *p, const char *address, int type, const char *plan_id, int32_t var,
                  jcs_bulk_conn **out) JCS_MUST_USE;
/* Gives c back: kept for the next request when reusable (a request ended cleanly), else closed. */
void jcs_bulk_put(jcs_bulk_pool *p, jcs_bulk_conn *c, int reusable);

/*
 * Closes the pooled connections to address (NULL: every one). The pool does
 * it itself when a connection to address fails; a caller that learns the
 * peer was cut off (it came back online) does it so that no request rides a
 * connection that did not live through the cut.
 */
void jcs_bulk_pool_drop(jcs_bulk_pool *p, const char *address);

#endif
