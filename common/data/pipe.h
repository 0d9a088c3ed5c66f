/*
 * pipe.h - a bounded in-memory byte pipe between two threads.
 *
 * The unit of transfer is a chunk: a contiguous byte range the reader
 * takes by pointer (no copy) and gives back with jcs_pipe_release. A
 * pipe's own chunks hold at most chunk_size bytes (1 MiB by default) and
 * are 64-byte aligned (ISA-L's fast case); chunks may also be ranges of
 * another pipe's chunk (jcs_pipe_write_ref) or bytes a transport received
 * (jcs_pipe_write_ext), of any size. The queue holds at most
 * depth * chunk_size bytes (always at least one chunk), so a fast producer
 * blocks until the consumer catches up. A chunk the reader holds (until
 * jcs_pipe_release) and the writer's get_buffer chunk come on top.
 *
 * Zero copy. Buffers are reference-counted: a range handed on with
 * jcs_pipe_write_ref, or held for a network send with jcs_chunk_hold,
 * keeps its buffer alive after the reader released its chunk, and the
 * last holder frees it from whatever thread it runs on. So bytes cross
 * ChunkedSplit, Clone, ChunkedJoin and an RPC send without being copied;
 * jcs_pipe_write copies (once, into a pipe-owned chunk).
 *
 * Ending: the writer calls jcs_pipe_close(p, 0) for a clean end of stream,
 * or with a negative jcs_err to fail the stream; the reader then sees that
 * error after the chunks already queued (an error is delivered at once).
 * The reader calls jcs_pipe_abort(p, err) when it will read no more; the
 * writer's next write returns err (a reader that stops early is not an
 * error for it to hide). Both ends are thread-safe against each other;
 * each end belongs to one thread at a time.
 *
 * Small writes are coalesced into the last queued chunk while the reader
 * has not taken it (and nobody else holds it), so a reader may see chunks
 * of any size; bytes are visible to the reader as soon as a write returns.
 */
#ifndef JCS_PIPE_H
#define JCS_PIPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "err.h"

#define JCS_PIPE_CHUNK (1u << 20)
#define JCS_PIPE_DEPTH 4

typedef struct jcs_pipe jcs_pipe;

/* A chunk handed to a reader. data/len are borrowed until jcs_pipe_release. */
typedef struct jcs_chunk {
    const uint8_t *data;
    size_t len;
    void *priv; /* the pipe's own bookkeeping */
} jcs_chunk;

/* chunk_size 0 / depth 0 mean the defaults. Caller frees with jcs_pipe_free. */
int jcs_pipe_new(size_t chunk_size, unsigned depth, jcs_pipe **out) JCS_MUST_USE;

/* Frees the pipe; both ends must be done with it. NULL is fine. */
void jcs_pipe_free(jcs_pipe *p);

/*
 * Writes n bytes (any n; split into chunks as needed), blocking while the
 * pipe is full. Returns the reader's abort error, the writer's own close
 * error (or JCS_ECANCELED after a clean close), or JCS_ENOMEM.
 */
int jcs_pipe_write(jcs_pipe *p, const void *data, size_t n) JCS_MUST_USE;

/*
 * Zero-copy hand-over: queues bytes [off, off + len) of chunk c (read from
 * any pipe and not yet released) into p without copying them; p takes a
 * reference of its own, so the caller still releases c. A few bytes (under
 * chunk_size / 16) are copied into the queued tail instead. Blocks while
 * the pipe is full; errors as jcs_pipe_write, JCS_EINVAL for a range
 * outside c.
 */
int jcs_pipe_write_ref(jcs_pipe *p, const jcs_chunk *c, size_t off, size_t len) JCS_MUST_USE;

/*
 * Queues n pieces of bytes owned elsewhere (a received RPC message) without
 * copying them, one chunk per piece; free_fn(arg) runs once the reader
 * released every piece (or the pipe dropped them), from that thread. On
 * failure the pieces not queued are dropped the same way. Errors as
 * jcs_pipe_write.
 */
int jcs_pipe_write_ext(jcs_pipe *p, const struct iovec *iov, size_t n, void (*free_fn)(void *),
                       void *arg) JCS_MUST_USE;

/*
 * A reference to the bytes of chunk c that outlives jcs_pipe_release, for
 * a transport that sends them and frees them later (from any thread) with
 * jcs_chunk_drop. NULL for a chunk not from jcs_pipe_read.
 */
void *jcs_chunk_hold(const jcs_chunk *c);
void jcs_chunk_drop(void *hold);

/*
 * Zero-copy write: get a writable chunk buffer of chunk_size bytes, fill
 * up to that many bytes, and commit it with the length used. Committing 0
 * bytes hands the buffer back unused (for a producer that found the end
 * of its input after asking for a buffer). get_buffer blocks while the
 * pipe is full and returns the same buffer until it is committed; a small
 * commit (at most chunk_size / 16) may be copied into the queued tail.
 * Errors as jcs_pipe_write; commit without get_buffer or over the
 * capacity is JCS_EINVAL.
 */
int jcs_pipe_get_buffer(jcs_pipe *p, uint8_t **buf, size_t *cap) JCS_MUST_USE;
int jcs_pipe_commit_buffer(jcs_pipe *p, size_t len) JCS_MUST_USE;

/*
 * Ends the stream: err 0 for a clean end, else the error the reader gets.
 * Idempotent, except that an error overrides an earlier clean end (a
 * cancelled plan stops a reader that has not reached the end yet).
 */
void jcs_pipe_close(jcs_pipe *p, int err);

/*
 * Takes the next chunk, blocking while the pipe is empty. JCS_OK with a
 * chunk, JCS_EOF at a clean end of stream, or the writer's error.
 */
int jcs_pipe_read(jcs_pipe *p, jcs_chunk *c) JCS_MUST_USE;

/* Gives a chunk back to the pipe. */
void jcs_pipe_release(jcs_pipe *p, jcs_chunk *c);

/*
 * Reads exactly n bytes into buf (copying), across chunk boundaries.
 * *got = bytes read: n, or fewer at the end of the stream (then returns JCS_EOF).
 */
int jcs_pipe_read_full(jcs_pipe *p, void *buf, size_t n, size_t *got) JCS_MUST_USE;

/*
 * Blocks until the reader has seen the clean end of the stream, or the
 * stream failed (aborted by the reader, closed with an error): the data
 * handed to the pipe has been taken. For an executor that must not finish
 * while someone outside is still reading its output.
 */
void jcs_pipe_wait_drained(jcs_pipe *p);

/*
 * The reader gives up: pending and later writes fail with err (0 means
 * JCS_ECANCELED); queued chunks are dropped. Idempotent: the first err stays.
 */
void jcs_pipe_abort(jcs_pipe *p, int err);

/*
 * The same, with the reader's own reason: a writer blocked on the pipe then
 * fails with msg as its detail line instead of "the reader stopped", so the
 * cause (a backend's error text) travels to whoever reports the failure.
 */
void jcs_pipe_abort_msg(jcs_pipe *p, int err, const char *msg);

/*
 * Registers fn(arg) to be called once when the pipe fails (an abort, or a
 * close with an error), or at once if it already has; NULL unregisters.
 * fn runs under the pipe's lock and must not call into the pipe: it is for
 * waking a transfer blocked outside the pipe (a network call) when the plan
 * fails, e.g. cancelling an RPC stream. Unregister before freeing what arg
 * points at.
 */
typedef void (*jcs_pipe_hook)(void *arg);
void jcs_pipe_on_fail(jcs_pipe *p, jcs_pipe_hook fn, void *arg);

/*
 * Which end failed the pipe first: JCS_PIPE_WRITER (a close with an
 * error), JCS_PIPE_READER (an abort), or 0 while neither did. Lets a
 * caller whose transfer failed tell its own failure from one it suffered.
 */
#define JCS_PIPE_WRITER 1
#define JCS_PIPE_READER 2
int jcs_pipe_failed_by(const jcs_pipe *p);

/* Bytes written so far / read so far. */
uint64_t jcs_pipe_bytes_in(const jcs_pipe *p);
uint64_t jcs_pipe_bytes_out(const jcs_pipe *p);

#endif
