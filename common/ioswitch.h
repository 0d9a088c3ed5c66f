/*
 * ioswitch.h - executes one plan fragment (proto/plan.proto).
 *
 * Design note. An executor runs the ops of one fragment, each on a thread
 * of its own, connected by bounded pipes (pipe.h) keyed by var id. Pipes
 * are created on first mention, so the code outside the executor can
 * attach to a var before or after the fragment arrives: a PushStream
 * handler or the driver's upload feeds a var (jcs_exec_input), a
 * PullStream handler or the driver's download drains one (jcs_exec_output).
 * Everything the executor does outside memory goes through the env
 * callbacks: opening a space's shard store, and pushing/pulling streams to
 * other workers. The hub implements them with its spaces and gRPC; tests
 * implement them in-process.
 *
 * Errors: the first op that fails records its error (with its detail line,
 * prefixed by the op's name) and cancels the executor: every pipe is closed
 * with that error, blocked ops wake up and end, ShardWrites abort (no shard
 * becomes visible). jcs_exec_run returns that first error.
 */
#ifndef JCS_IOSWITCH_H
#define JCS_IOSWITCH_H

#include <stdint.h>

#include "err.h"
#include "pipe.h"
#include "plan.pb-c.h"
#include "shardstore.h"

typedef struct jcs_exec jcs_exec;

typedef struct jcs_exec_env {
    void *ctx;
    /*
     * Returns the shard store for a space (borrowed; it must stay valid
     * while the executor runs, e.g. cached by the caller).
     */
    int (*open_space)(void *ctx, const Jcs__Plan__Space *space, jcs_shardstore **out);
    /*
     * Sends everything read from src (until its end) to var `var` of plan
     * `plan_id` on worker `to`. Must read src to its end, or abort it with
     * the error that stopped the transfer; returns 0 or that error.
     */
    int (*push)(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                jcs_pipe *src);
    /*
     * Fetches var `var` of plan `plan_id` from worker `from` and writes it to
     * dst; returns 0 or an error. The executor closes dst after it returns.
     */
    int (*pull)(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                jcs_pipe *dst);
    /* Value transfers for SendVar/GetVar (the value is borrowed / *out is the caller's). */
    int (*push_value)(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                      const Jcs__Plan__Value *value);
    int (*pull_value)(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                      Jcs__Plan__Value **out);
    size_t chunk_size; /* pipe chunk; 0: JCS_PIPE_CHUNK */
    unsigned depth;    /* pipe depth; 0: JCS_PIPE_DEPTH */
} jcs_exec_env;

/* A new executor for plan plan_id (copied). env is copied. Caller frees. */
int jcs_exec_new(const jcs_exec_env *env, const char *plan_id, jcs_exec **out) JCS_MUST_USE;

/* The plan id. Borrowed. */
const char *jcs_exec_plan_id(const jcs_exec *e);

/*
 * Runs every op of frag (borrowed until return) and blocks until all have
 * ended. Returns JCS_OK or the first error (see the header note). Call once.
 */
int jcs_exec_run(jcs_exec *e, const Jcs__Plan__Fragment *frag) JCS_MUST_USE;

/* Fails the executor with err (e.g. JCS_ECANCELED) from any thread. Idempotent. */
void jcs_exec_cancel(jcs_exec *e, int err);

/* The first error recorded (0 while none). */
int jcs_exec_error(const jcs_exec *e);

/*
 * The pipe of stream var `var` for an outside producer (it writes, then
 * jcs_pipe_close) / an outside consumer (it reads, then stops). Borrowed:
 * valid until jcs_exec_free. Each var has one producer and one consumer.
 */
int jcs_exec_input(jcs_exec *e, int32_t var, jcs_pipe **out) JCS_MUST_USE;
int jcs_exec_output(jcs_exec *e, int32_t var, jcs_pipe **out) JCS_MUST_USE;

/*
 * Sets a value var from outside (a pushed value; takes ownership of v) /
 * waits up to timeout_ms for a value var to be set and returns a copy
 * (caller frees with protobuf_c_message_free_unpacked).
 */
int jcs_exec_put_value(jcs_exec *e, int32_t var, Jcs__Plan__Value *v) JCS_MUST_USE;
int jcs_exec_get_value(jcs_exec *e, int32_t var, int64_t timeout_ms,
                       Jcs__Plan__Value **out) JCS_MUST_USE;

/* Frees the executor; jcs_exec_run must have returned (or never been called). */
void jcs_exec_free(jcs_exec *e);

#endif
