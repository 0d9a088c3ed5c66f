/*
 * rpc.h - protobuf-c messages over gRPC C core, always mutual TLS.
 *
 * This module is the only code in the tree that calls grpc_*. It hides
 * batches, tags and completion queues behind a blocking API:
 *
 *  - Server: a table of methods, each with the certificate roles allowed to
 *    call it. One thread accepts calls; every accepted call runs its handler
 *    on a thread of its own, with blocking recv/send on the call. Before the
 *    handler runs, the caller's role (the OU of its certificate subject) is
 *    checked against the method's roles: a denied call gets
 *    PERMISSION_DENIED and a log line naming the caller's subject.
 *  - Client: a channel per peer, reused by many calls (thread-safe). A call
 *    is unary (jcs_rpc_unary) or a stream (jcs_rpc_stream_*), which covers
 *    client-streaming, server-streaming and bidirectional methods.
 *
 * Messages are protobuf-c messages, or "raw" byte strings for bulk data
 * (no protobuf framing, so no extra copy); the two kinds may be mixed on a
 * stream when both ends agree on the order. Messages up to
 * JCS_RPC_MAX_MESSAGE bytes are accepted on both sides.
 *
 * Errors: a handler returns a jcs_err code; the peer sees the matching gRPC
 * status and the handler's jcs_err_msg() line as the status details, and
 * the client call returns the same jcs_err code with that line as its
 * detail. Mapping: ENOENT<->NOT_FOUND, EINVAL<->INVALID_ARGUMENT,
 * EEXIST<->ALREADY_EXISTS, EPERM<->PERMISSION_DENIED, ETIMEOUT<->
 * DEADLINE_EXCEEDED, ECANCELED<->CANCELLED, EUNAVAIL<->UNAVAILABLE,
 * ETOOBIG<->RESOURCE_EXHAUSTED, EBUSY<->ABORTED, ECORRUPT<->DATA_LOSS,
 * anything else -> INTERNAL / ERPC. A status made by gRPC itself rather than
 * by a handler (peer unreachable, TLS refused, deadline, message over the
 * limit, server going away) gets a detail naming the target and method; a
 * method the server does not have comes back as ERPC "unknown method ...".
 */
#ifndef JCS_RPC_H
#define JCS_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>
#include <stdint.h>

#include "err.h"

/* Receive limit on both sides; data moves in 1 MiB messages, control ones are small. */
#define JCS_RPC_MAX_MESSAGE (64 * 1024 * 1024)

/*
 * Certificate roles: the OU of the subject. gRPC reports the subject in RFC
 * 2253 form, most specific first and without spaces: "CN=hub1,OU=hub,O=JCS-C".
 * A subject with no OU, or with more than one, has no role (JCS_ROLE_NONE).
 */
enum jcs_role {
    JCS_ROLE_NONE = 0,
    JCS_ROLE_COORDINATOR = 1 << 0,
    JCS_ROLE_HUB = 1 << 1,
    JCS_ROLE_CLIENT = 1 << 2,
    JCS_ROLE_ANY = 7
};

/* "coordinator", "hub", "client" -> role; JCS_ROLE_NONE otherwise. */
enum jcs_role jcs_role_parse(const char *ou);
/* role -> "coordinator" ... ("none"). Static string. */
const char *jcs_role_name(enum jcs_role role);

/*
 * The PEM files of one party: the cluster CA, its own certificate and key.
 * Borrowed. For a channel only, cert_file == NULL (and key_file ignored)
 * means "present no client certificate": no server of this module accepts
 * that; it exists so tests can check that such a client is refused.
 */
typedef struct jcs_tls_files {
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
} jcs_tls_files;

/* ---------------------------------------------------------------- server */

typedef struct jcs_rpc_server jcs_rpc_server;
typedef struct jcs_rpc_call jcs_rpc_call;

/*
 * A handler runs on its own thread and owns the call until it returns. It
 * receives and sends with the jcs_rpc_call_* functions below and returns
 * JCS_OK or a jcs_err code (with jcs_err_set detail) that becomes the
 * call's status. It must not keep the call after returning. It may receive
 * on one thread while another thread sends (bidirectional streams), never
 * two receives or two sends at once. At most 512 handlers run at once per
 * server; calls beyond that are refused with RESOURCE_EXHAUSTED (ETOOBIG).
 */
typedef int (*jcs_rpc_handler)(jcs_rpc_call *call, void *ctx);

typedef struct jcs_rpc_method {
    const char *name; /* full gRPC path, "/jcs.coordinator.Coordinator/RegisterHub" */
    unsigned roles;   /* OR of enum jcs_role allowed to call it */
    jcs_rpc_handler handler;
} jcs_rpc_method;

/*
 * Creates a server listening on addr ("127.0.0.1:5010"; port 0 picks a free
 * one) with mutual TLS: clients must present a certificate signed by
 * tls->ca_file. methods (n entries) and ctx are borrowed and must outlive
 * the server; ctx is passed to every handler. Not yet accepting calls.
 * Errors: JCS_ETLS (unreadable PEM, detail names the file), JCS_EIO (cannot
 * bind addr, e.g. in use: SO_REUSEPORT is off; detail names it), JCS_EINVAL
 * (a method without a "/" name or handler, or listed twice).
 */
int jcs_rpc_server_create(const char *addr, const jcs_tls_files *tls, const jcs_rpc_method *methods,
                          size_t n, void *ctx, jcs_rpc_server **out) JCS_MUST_USE;

/* The bound port (useful with port 0). */
int jcs_rpc_server_port(const jcs_rpc_server *srv);

/* Starts accepting calls (spawns the accept thread). */
int jcs_rpc_server_start(jcs_rpc_server *srv) JCS_MUST_USE;

/*
 * Stops accepting, cancels every call in flight (their recv/send return
 * JCS_ECANCELED), waits for all handlers to return, and releases gRPC
 * resources. Safe to call from any thread except a handler; idempotent.
 */
void jcs_rpc_server_shutdown(jcs_rpc_server *srv);

/* Shuts down if needed and frees. NULL is fine. */
void jcs_rpc_server_free(jcs_rpc_server *srv);

/*
 * Receives the next protobuf message of type desc. Returns JCS_OK with *out
 * set (caller frees with protobuf_c_message_free_unpacked(*out, NULL)),
 * JCS_EOF at the end of the client's stream (*out = NULL), JCS_EINVAL when the bytes
 * do not unpack as desc, JCS_ECANCELED when the call was cancelled or the
 * server is shutting down. A client's cancel (RST_STREAM) may also read as
 * JCS_EOF: gRPC ends the receive the same way; a handler whose protocol
 * half-closes only at a known point treats an earlier end as a cancel.
 */
int jcs_rpc_call_recv(jcs_rpc_call *call, const ProtobufCMessageDescriptor *desc,
                      ProtobufCMessage **out) JCS_MUST_USE;

/*
 * Receives the one request message of a unary method: as jcs_rpc_call_recv,
 * but a stream that ends before it is JCS_EINVAL ("request message
 * missing"). *out is a protobuf message of type desc (pass the address of a
 * typed pointer cast to void **); caller frees.
 */
int jcs_rpc_call_recv_request(jcs_rpc_call *call, const ProtobufCMessageDescriptor *desc,
                              void **out) JCS_MUST_USE;

/*
 * Receives the next message as raw bytes into buf (cap bytes), copying the
 * received fragments straight into buf. Returns JCS_OK with *len set, JCS_EOF
 * at the end of the stream, JCS_ETOOBIG when the message is longer than cap
 * (the message is dropped: the handler should fail the call), JCS_ECANCELED.
 */
int jcs_rpc_call_recv_raw(jcs_rpc_call *call, void *buf, size_t cap, size_t *len) JCS_MUST_USE;

/*
 * Sends a protobuf message (borrowed) / raw bytes (copied into gRPC). Blocks
 * until gRPC has taken it (flow control applies). JCS_ECANCELED when the
 * call is gone, JCS_ETOOBIG over JCS_RPC_MAX_MESSAGE.
 */
int jcs_rpc_call_send(jcs_rpc_call *call, const ProtobufCMessage *msg) JCS_MUST_USE;
int jcs_rpc_call_send_raw(jcs_rpc_call *call, const void *data, size_t len) JCS_MUST_USE;

/*
 * Zero copy: sends len bytes at data as one raw message without copying
 * them; gRPC reads them while it frames and encrypts the message and then
 * calls release(arg), from any thread, also when the send fails or is
 * refused (so the caller never frees them itself). Otherwise as _send_raw.
 */
int jcs_rpc_call_send_owned(jcs_rpc_call *call, const void *data, size_t len,
                            void (*release)(void *), void *arg) JCS_MUST_USE;

/*
 * A received raw message kept as gRPC received it (no copy): its bytes are
 * n pieces (iov), valid until jcs_rpc_msg_free(msg), which any thread may
 * call. TLS hands them over in pieces of about 8 KiB.
 */
typedef struct jcs_rpc_msg jcs_rpc_msg;
void jcs_rpc_msg_free(void *msg);

/* Receives the next message so: JCS_OK, JCS_EOF, JCS_ECANCELED as _recv_raw. */
int jcs_rpc_call_recv_msg(jcs_rpc_call *call, jcs_rpc_msg **msg, const struct iovec **iov,
                          size_t *n) JCS_MUST_USE;

/* The caller's certificate subject ("CN=hub1,OU=hub,O=JCS-C") and role. Borrowed; "" if unknown. */
const char *jcs_rpc_call_peer(const jcs_rpc_call *call);
enum jcs_role jcs_rpc_call_role(const jcs_rpc_call *call);
/* The caller's CN (e.g. the hub's name). Borrowed. */
const char *jcs_rpc_call_peer_name(const jcs_rpc_call *call);

/* Milliseconds left before the call's deadline (INT64_MAX when none). */
int64_t jcs_rpc_call_time_left_ms(const jcs_rpc_call *call);

/*
 * The idle deadline of this call's later receives (0: none), for a
 * handler that legitimately waits long for a message (ExecuteFragment
 * waits for the driver's half-close while its plan runs); such a handler
 * must bound that wait itself (jcs_rpc_call_cancel).
 */
void jcs_rpc_call_set_recv_idle_ms(jcs_rpc_call *call, int64_t ms);

/* Cancels the call: a recv or send blocked on it (any thread) returns JCS_ECANCELED. */
void jcs_rpc_call_cancel(jcs_rpc_call *call);

/* ------------------------------------------------------------ deadlines */

/*
 * Every RPC of this module has a deadline, so that a peer that stalls
 * (SIGSTOP, a full disk) or whose packets are dropped never holds a thread
 * for ever:
 *  - a unary call has its own (timeout_ms must be > 0: JCS_EINVAL without);
 *  - every step of a stream or of a server call (a send, a receive, the
 *    half-close, the final status) completes within the process's idle
 *    deadline, else the call is cancelled with DEADLINE_EXCEEDED (the peer
 *    sees it too) and the step fails with JCS_ETIMEOUT naming target and
 *    method: "no progress for N ms". A long transfer therefore runs as long
 *    as it moves; a stream makes no progress for N ms only when its peer or
 *    the network stopped.
 * The idle deadline is JCS_RPC_IDLE_TIMEOUT_MS unless the service's config
 * says otherwise ("rpc.idleTimeoutSeconds"); set it before any call.
 */
#define JCS_RPC_IDLE_TIMEOUT_MS 30000
void jcs_rpc_set_idle_timeout_ms(int64_t ms); /* <= 0: the default */
int64_t jcs_rpc_idle_timeout_ms(void);

/* ---------------------------------------------------------------- client */

typedef struct jcs_rpc_channel jcs_rpc_channel;
typedef struct jcs_rpc_stream jcs_rpc_stream;

/*
 * Opens a channel to target ("127.0.0.1:5009") presenting tls->cert_file and
 * trusting servers signed by tls->ca_file (whose certificate must name the
 * target host in its subjectAltName). Connects lazily: an unreachable peer
 * shows up as JCS_EUNAVAIL on the first call; after a failure the channel
 * retries the connection within a few seconds. Each channel has its own
 * connection; calls are never retried by gRPC. JCS_ETLS names an
 * unreadable PEM file. Caller frees with jcs_rpc_channel_free.
 */
int jcs_rpc_channel_open(const char *target, const jcs_tls_files *tls,
                         jcs_rpc_channel **out) JCS_MUST_USE;

/* The target as given. Borrowed. */
const char *jcs_rpc_channel_target(const jcs_rpc_channel *ch);

/* Frees a channel. Calls on it must have finished. NULL is fine. */
void jcs_rpc_channel_free(jcs_rpc_channel *ch);

/*
 * Dead connections. A call that ends without an answer from the peer
 * (gRPC's own UNAVAILABLE or DEADLINE_EXCEEDED, the idle deadline of a
 * stream) makes the channel's later calls use a new connection; calls still
 * on the old one run to their end. A connection that was cut silently (its
 * peer's packets dropped for a while) is thus not reused once the peer is
 * back, where TCP would keep it in retransmission backoff until its user
 * timeout and fail the calls started on it. jcs_rpc_channel_reset does the
 * same on demand; jcs_rpc_channel_resets counts both (for tests).
 */
void jcs_rpc_channel_reset(jcs_rpc_channel *ch);
long long jcs_rpc_channel_resets(jcs_rpc_channel *ch);

/*
 * One request, one response, within timeout_ms (> 0; without a deadline the
 * call is refused with JCS_EINVAL and never sent). The
 * handler must send exactly one message. On JCS_OK *resp is set
 * (caller frees with protobuf_c_message_free_unpacked). On failure the
 * jcs_err code maps the gRPC status and the detail is the server's line, or
 * for transport failures a line naming the target ("127.0.0.1:5009:
 * unreachable, TLS handshake refused or connection lost ...").
 */
int jcs_rpc_unary(jcs_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                  int64_t timeout_ms) JCS_MUST_USE;

/*
 * Several unary calls run at once (on one or several channels), for a
 * caller that needs an answer from each of several peers: the total time
 * is the slowest call's, not the sum. Each entry's rc, detail and resp
 * (caller frees, as jcs_rpc_unary's) are its own. Returns JCS_OK when every
 * call succeeded, else the first failed entry's code with its detail.
 */
typedef struct jcs_rpc_unary_call {
    jcs_rpc_channel *ch;
    const char *method; /* full gRPC path, as for jcs_rpc_unary */
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *resp_desc;
    ProtobufCMessage *resp; /* out */
    int rc;                 /* out */
    char detail[256];       /* out: the detail line when rc != 0 */
} jcs_rpc_unary_call;
int jcs_rpc_unary_all(jcs_rpc_unary_call *calls, size_t n, int64_t timeout_ms) JCS_MUST_USE;

/*
 * A group of unary calls whose answers are taken one at a time as they
 * arrive, for a caller that may start more calls while some are still in
 * flight and need not wait for all (a hedged read: start a spare call when
 * one is late, use whichever finish first). One completion queue and one
 * deadline (timeout_ms from _new, <= 0: none) for every call of the group.
 * A call entry is borrowed from _start until _next hands it back or the
 * group is freed. One thread uses a group.
 */
typedef struct jcs_rpc_unary_group jcs_rpc_unary_group;
int jcs_rpc_unary_group_new(int64_t timeout_ms, jcs_rpc_unary_group **out) JCS_MUST_USE;
/* Starts c; on failure c->rc and c->detail are set too and c is not in flight. */
int jcs_rpc_unary_group_start(jcs_rpc_unary_group *g, jcs_rpc_unary_call *c) JCS_MUST_USE;
/*
 * Waits up to wait_ms (< 0: without a limit of its own) for the next call
 * to finish and sets *done to it (its rc, detail and resp set as by
 * jcs_rpc_unary_all): JCS_OK. JCS_ETIMEOUT when none finished within
 * wait_ms, JCS_EOF when no call is in flight.
 */
int jcs_rpc_unary_group_next(jcs_rpc_unary_group *g, int64_t wait_ms, jcs_rpc_unary_call **done);
/* Calls still in flight (started, not yet handed back by _next). */
size_t jcs_rpc_unary_group_pending(const jcs_rpc_unary_group *g);
/*
 * Cancels the calls still in flight (their entries get JCS_ECANCELED and no
 * resp), waits until gRPC has let go of them, frees the group. NULL is fine.
 */
void jcs_rpc_unary_group_free(jcs_rpc_unary_group *g);

/*
 * Starts a streaming call that must finish within timeout_ms (<= 0: no
 * overall deadline; the idle deadline above still bounds every step) and
 * waits until its headers are on their way, so an unreachable
 * or refusing peer fails here (JCS_EUNAVAIL). The stream is used by at most
 * two threads at once: one sending, one receiving. Caller frees with
 * jcs_rpc_stream_free.
 */
int jcs_rpc_stream_open(jcs_rpc_channel *ch, const char *method, int64_t timeout_ms,
                        jcs_rpc_stream **out) JCS_MUST_USE;

/*
 * Sends one message; blocks until gRPC has taken it (flow control applies).
 * When the server has ended the call (a handler error, a refused role,
 * shutdown), returns the call's final status as its jcs_err code and
 * detail, e.g. JCS_EPERM with the server's line.
 */
int jcs_rpc_stream_send(jcs_rpc_stream *st, const ProtobufCMessage *msg) JCS_MUST_USE;
int jcs_rpc_stream_send_raw(jcs_rpc_stream *st, const void *data, size_t len) JCS_MUST_USE;
/* As jcs_rpc_call_send_owned. */
int jcs_rpc_stream_send_owned(jcs_rpc_stream *st, const void *data, size_t len,
                              void (*release)(void *), void *arg) JCS_MUST_USE;

/* Half-closes: the server's recv returns JCS_EOF after the messages already sent. */
int jcs_rpc_stream_close_send(jcs_rpc_stream *st) JCS_MUST_USE;

/*
 * Receives the next message, as jcs_rpc_call_recv / _recv_raw: JCS_OK,
 * JCS_EOF when the server has sent its last message (then call finish for
 * the status), or an error. When the server failed the call, recv returns
 * JCS_EOF and finish returns the server's error. recv_raw's JCS_ETOOBIG
 * (message longer than cap) cancels the call.
 */
int jcs_rpc_stream_recv(jcs_rpc_stream *st, const ProtobufCMessageDescriptor *desc,
                        ProtobufCMessage **out) JCS_MUST_USE;
int jcs_rpc_stream_recv_raw(jcs_rpc_stream *st, void *buf, size_t cap, size_t *len) JCS_MUST_USE;
/* As jcs_rpc_call_recv_msg. */
int jcs_rpc_stream_recv_msg(jcs_rpc_stream *st, jcs_rpc_msg **msg, const struct iovec **iov,
                            size_t *n) JCS_MUST_USE;

/*
 * Waits for the call's final status and returns it as a jcs_err code (detail
 * set from the status message). Call after recv returned 1 (or after
 * close_send when the server sends nothing): gRPC delivers the status only
 * once every message has been received. JCS_ECANCELED after a cancel.
 */
int jcs_rpc_stream_finish(jcs_rpc_stream *st) JCS_MUST_USE;

/* Cancels the call; blocked and later send/recv return JCS_ECANCELED. Any thread. */
void jcs_rpc_stream_cancel(jcs_rpc_stream *st);

/* Frees the stream, cancelling it first if it has not finished. NULL is fine. */
void jcs_rpc_stream_free(jcs_rpc_stream *st);

/*
 * Process-wide set-up and tear-down of gRPC; reference-counted. Servers and
 * channels hold a reference of their own while they exist, so gRPC is shut
 * down (and its threads joined) when the last of them and of the callers'
 * references is gone. gRPC's own log lines go to jcs_log (its errors, such
 * as TLS handshake failures, as warnings); set JCS_GRPC_VERBOSE=1 in the
 * environment for its debug lines too (shown when the log level is debug).
 */
void jcs_rpc_init(void);
void jcs_rpc_shutdown(void);

#endif
