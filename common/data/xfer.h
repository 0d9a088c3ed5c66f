/*
 * xfer.h - moves plan streams and values between workers over RPC: the
 * push/pull halves of jcs_exec_env (exec.h) as the hub and the driver
 * both implement them, and a cache of one channel per peer address.
 *
 * A pushed stream is a PushStream call: a StreamHeader, then raw messages
 * of at most JCS_PIPE_CHUNK bytes, so the receiver can read each one
 * straight into a pipe chunk. A pulled stream is a PullStream call that
 * answers with the same raw messages.
 *
 * With the bulk channel on (jcs_xfer_use_bulk), the bytes of both move over
 * a pooled mutual-TLS connection to the peer's bulk port instead
 * (common/net/bulk.h): the port is learnt from the peer's Ping answer once
 * per peer; a peer without one, or whose bulk port does not answer, gets
 * the gRPC streams.
 */
#ifndef JCS_XFER_H
#define JCS_XFER_H

#include "exec.h"
#include "rpc.h"

typedef struct jcs_xfer jcs_xfer;

/* tls is copied. Caller frees with jcs_xfer_free (after every transfer ended). */
int jcs_xfer_new(const jcs_tls_files *tls, jcs_xfer **out) JCS_MUST_USE;
void jcs_xfer_free(jcs_xfer *x);

/* Moves streams over the bulk channel where the peer has one (before any transfer). */
int jcs_xfer_use_bulk(jcs_xfer *x) JCS_MUST_USE;

/*
 * The peer at address was cut off and is back (its hub came online again):
 * its later calls use a new gRPC connection, its pooled bulk connections are
 * closed and its bulk port is asked again. Transfers under way keep theirs.
 */
void jcs_xfer_reset_peer(jcs_xfer *x, const char *address);

/* The cached channel to address (opened on first use). Borrowed: lives as long as x. */
int jcs_xfer_channel(jcs_xfer *x, const char *address, jcs_rpc_channel **out) JCS_MUST_USE;

/*
 * Opens a stream on ch, retrying for about a second while the peer is
 * unreachable (it may be reconnecting after a restart). For driver calls.
 */
int jcs_xfer_open(jcs_rpc_channel *ch, const char *method, jcs_rpc_stream **out) JCS_MUST_USE;

/* The env callbacks, with ctx = the jcs_xfer. See exec.h for their contracts. */
int jcs_xfer_push(jcs_xfer *x, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                  jcs_pipe *src) JCS_MUST_USE;
int jcs_xfer_pull(jcs_xfer *x, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                  jcs_pipe *dst) JCS_MUST_USE;
int jcs_xfer_push_value(jcs_xfer *x, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                        const Jcs__Plan__Value *value) JCS_MUST_USE;
int jcs_xfer_pull_value(jcs_xfer *x, const Jcs__Plan__Worker *from, const char *plan_id,
                        int32_t var, Jcs__Plan__Value **out) JCS_MUST_USE;

/*
 * Fills env's transfer callbacks with thin wrappers that call the functions
 * above on x; env->ctx must then be x. (For a caller whose env needs other
 * state too, write wrappers that reach x from its own ctx.)
 */
void jcs_xfer_env(jcs_xfer *x, jcs_exec_env *env);

#endif
