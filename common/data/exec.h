/*
 * exec.h - the plan executor ("ioswitch" in JCS): executes one plan fragment (proto/plan.proto).
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
 *
 * The whole fragment is checked before any op starts: JCS_EINVAL, with a
 * detail naming the op ("fragment op 2 (ECMultiply): k 7 n 6 out of
 * range ..."), for an unknown op kind, a field out of range (sizes <= 0 or
 * over 256 MiB, k/n, rows, repeated fields of unequal lengths, a missing
 * space or worker), a negative var, a var used both as stream and value,
 * a stream var with two producers or two consumers (counting jcs_exec_input
 * / jcs_exec_output attachments), a value var with two producers, an op
 * reading its own output, or a result that is a stream var. A rejected
 * fragment fails the executor too, so outside ends stop.
 *
 * On success every var of frag->results has its value (jcs_exec_get_value
 * with timeout 0 returns it), else the run fails with JCS_EINVAL. Streams
 * drained from outside may still hold their last chunks when this returns;
 * the executor stays usable for them until jcs_exec_free.
 *
 * Op notes: ECMultiply reads a whole chunk from each input in turn (as
 * ChunkedSplit writes them) and writes each output chunk whole, so it
 * holds (k + outputs) * chunk_size bytes; inputs of unequal length fail
 * with JCS_ECORRUPT. Other ops hold at most a pipe chunk per input. Clone runs at the
 * pace of its slowest consumer; a consumer that stops early fails it. A
 * SendVar waits for its value var without limit (until set or the
 * executor fails): its producer must be an op of the fragment or an
 * outside jcs_exec_put_value.
 */
int jcs_exec_run(jcs_exec *e, const Jcs__Plan__Fragment *frag) JCS_MUST_USE;

/*
 * Fails the executor with err (e.g. JCS_ECANCELED; err >= 0 means that)
 * from any thread, before, during or after jcs_exec_run. The detail is
 * "plan <id>: cancelled (<reason>)". Idempotent: the first error stays.
 *
 * Which error is "first": an op that fails only because the other end of
 * one of its pipes failed, and a cancel, record a provisional error; the
 * first error with a cause of its own that comes in later (an op's own
 * failure, a push or pull that failed by itself, jcs_exec_fail) replaces
 * it, once. So "SendStream to hub 3 var 7: connection reset" wins over the
 * "reader stopped" its upstream Clone saw a moment earlier.
 */
void jcs_exec_cancel(jcs_exec *e, int err);

/*
 * The same with a detail line of the caller's (copied), e.g. a PushStream
 * handler whose peer went away: "PushStream from hub 3 var 7: ...". This
 * error has a cause of its own (see above).
 */
void jcs_exec_fail(jcs_exec *e, int err, const char *fmt, ...) JCS_PRINTF(3, 4);

/* The first error recorded (0 while none). */
int jcs_exec_error(const jcs_exec *e);

/*
 * The first error's detail line ("ShardWrite space 3: ..."), or NULL while
 * there is none. Borrowed: valid until jcs_exec_free (a provisional line
 * stays readable when its cause's line replaces it as the answer). For
 * threads other than the one in jcs_exec_run (which gets it as its own
 * jcs_err_msg), e.g. a PullStream handler ending its call.
 */
const char *jcs_exec_error_msg(const jcs_exec *e);

/*
 * The pipe of stream var `var` for an outside producer (it writes, then
 * jcs_pipe_close) / an outside consumer (it reads, then stops). Borrowed:
 * valid until jcs_exec_free. Each var has one producer and one consumer.
 */
int jcs_exec_input(jcs_exec *e, int32_t var, jcs_pipe **out) JCS_MUST_USE;
int jcs_exec_output(jcs_exec *e, int32_t var, jcs_pipe **out) JCS_MUST_USE;

/*
 * Sets a value var from outside (a pushed value; takes ownership of v, even
 * on failure; JCS_EINVAL when it is already set or an op produces it) /
 * waits up to timeout_ms (< 0: no limit) for a value var to be set and
 * returns a copy (caller frees with protobuf_c_message_free_unpacked(v,
 * NULL)); JCS_ETIMEOUT, or the executor's error once it has failed.
 */
int jcs_exec_put_value(jcs_exec *e, int32_t var, Jcs__Plan__Value *v) JCS_MUST_USE;
int jcs_exec_get_value(jcs_exec *e, int32_t var, int64_t timeout_ms,
                       Jcs__Plan__Value **out) JCS_MUST_USE;

/* Frees the executor; jcs_exec_run must have returned (or never been called). */
void jcs_exec_free(jcs_exec *e);

#endif
