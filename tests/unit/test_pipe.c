/*
 * test_pipe.c - the bounded pipe: bytes arrive in order whatever the write
 * sizes, a fast writer is held to the depth bound, both ends see the
 * other's end or failure, the zero-copy path hands the same buffer through,
 * and allocation failures become JCS_ENOMEM.
 *
 * The backpressure tests check that a blocked writer stays blocked: they
 * wait until it has filled the pipe, give it a moment, and assert it did
 * not get further. A correct pipe never fails them; a pipe without a bound
 * fails them because the writer would have run on.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "pipe.h"
#include "t.h"
#include "util.h"

/* Byte i of the test stream. */
static uint8_t gen(uint64_t i)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull;
    return (uint8_t)((x >> 29) ^ (x >> 47) ^ i);
}

struct writer {
    jcs_pipe *p;
    uint64_t total;
    int zero_copy; /* write through get_buffer/commit_buffer */
    int rc;
    atomic_int done;
};

/* Odd sizes: single bytes, a few bytes, just under/over a chunk, many chunks. */
static const size_t sizes[] = {1, 7, 4093, 65536, 65537, 3, 200000, 1, 131071, 1048579};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t *buf = jcs_malloc(1 << 21);
    uint64_t pos = 0;
    size_t si = 0;
    w->rc = buf ? 0 : JCS_ENOMEM;
    while (w->rc == 0 && pos < w->total) {
        size_t n = sizes[si++ % NSIZES];
        if (n > w->total - pos)
            n = (size_t)(w->total - pos);
        if (w->zero_copy) {
            uint8_t *b;
            size_t cap;
            w->rc = jcs_pipe_get_buffer(w->p, &b, &cap);
            if (w->rc)
                break;
            if (n > cap)
                n = cap;
            for (size_t i = 0; i < n; i++)
                b[i] = gen(pos + i);
            w->rc = jcs_pipe_commit_buffer(w->p, n);
        } else {
            for (size_t i = 0; i < n; i++)
                buf[i] = gen(pos + i);
            w->rc = jcs_pipe_write(w->p, buf, n);
        }
        pos += n;
    }
    jcs_free(buf);
    jcs_pipe_close(w->p, w->rc);
    atomic_store(&w->done, 1);
    return NULL;
}

/*
 * Reads the whole stream, alternating zero-copy reads and read_full of odd
 * sizes, and checks every byte. Returns the bytes read, or -1 on a wrong
 * byte, -2 on an error.
 */
static int64_t read_check(jcs_pipe *p)
{
    static uint8_t tmp[300007];
    uint64_t pos = 0;
    for (unsigned round = 0;; round++) {
        if (round % 3 == 2) {
            size_t want = 1 + (round * 7919u) % sizeof(tmp), got = 0;
            int rc = jcs_pipe_read_full(p, tmp, want, &got);
            for (size_t i = 0; i < got; i++)
                if (tmp[i] != gen(pos + i))
                    return -1;
            pos += got;
            if (rc == JCS_EOF)
                return got == want ? -2 : (int64_t)pos;
            if (rc != 0)
                return -2;
            if (got != want)
                return -2;
        } else {
            jcs_chunk c;
            int rc = jcs_pipe_read(p, &c);
            if (rc == JCS_EOF)
                return (int64_t)pos;
            if (rc != 0)
                return -2;
            if (c.len == 0)
                return -2;
            for (size_t i = 0; i < c.len; i++)
                if (c.data[i] != gen(pos + i))
                    return -1;
            pos += c.len;
            jcs_pipe_release(p, &c);
        }
    }
}

static void run_stream(size_t chunk, unsigned depth, uint64_t total, int zero_copy, int64_t *got,
                       int *wrc, uint64_t *in, uint64_t *out)
{
    jcs_pipe *p;
    *got = -3;
    if (jcs_pipe_new(chunk, depth, &p) != 0)
        return;
    struct writer w = {.p = p, .total = total, .zero_copy = zero_copy};
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &w);
    *got = read_check(p);
    if (*got < 0)
        jcs_pipe_abort(p, JCS_ECANCELED);
    pthread_join(th, NULL);
    *wrc = w.rc;
    *in = jcs_pipe_bytes_in(p);
    *out = jcs_pipe_bytes_out(p);
    jcs_pipe_free(p);
}

TEST(order_odd_sizes_across_threads)
{
    const uint64_t total = 9u << 20;
    int64_t got;
    int wrc;
    uint64_t in, out;
    run_stream(64 << 10, 3, total, 0, &got, &wrc, &in, &out);
    T_EQ_INT(wrc, 0);
    T_EQ_INT(got, total);
    T_EQ_INT(in, total);
    T_EQ_INT(out, total);
    /* The defaults (1 MiB chunks, depth 4), and an odd chunk size. */
    run_stream(0, 0, total, 0, &got, &wrc, &in, &out);
    T_EQ_INT(wrc, 0);
    T_EQ_INT(got, total);
    run_stream(1000, 2, 3u << 20, 0, &got, &wrc, &in, &out);
    T_EQ_INT(wrc, 0);
    T_EQ_INT(got, 3u << 20);
}

TEST(order_zero_copy_writer)
{
    const uint64_t total = 5u << 20;
    int64_t got;
    int wrc;
    uint64_t in, out;
    run_stream(64 << 10, 2, total, 1, &got, &wrc, &in, &out);
    T_EQ_INT(wrc, 0);
    T_EQ_INT(got, total);
    T_EQ_INT(in, total);
    T_EQ_INT(out, total);
}

/* Waits (bounded) until bytes_in reaches n. */
static int wait_in(jcs_pipe *p, uint64_t n)
{
    for (int i = 0; i < 10000 && jcs_pipe_bytes_in(p) < n; i++)
        jcs_sleep_ms(1);
    return jcs_pipe_bytes_in(p) >= n;
}

struct chunk_writer {
    jcs_pipe *p;
    size_t chunk;
    int nchunks;
    int zero_copy;
    int rc;
    atomic_int done;
};

/* Writes nchunks whole chunks (so no write coalesces into another). */
static void *chunk_writer_main(void *arg)
{
    struct chunk_writer *w = arg;
    uint8_t *buf = jcs_malloc(w->chunk);
    w->rc = buf ? 0 : JCS_ENOMEM;
    for (int i = 0; w->rc == 0 && i < w->nchunks; i++) {
        if (w->zero_copy) {
            uint8_t *b;
            size_t cap;
            w->rc = jcs_pipe_get_buffer(w->p, &b, &cap);
            if (w->rc == 0) {
                memset(b, i, cap);
                w->rc = jcs_pipe_commit_buffer(w->p, cap);
            }
        } else {
            memset(buf, i, w->chunk);
            w->rc = jcs_pipe_write(w->p, buf, w->chunk);
        }
    }
    jcs_free(buf);
    if (w->rc == 0)
        jcs_pipe_close(w->p, 0);
    atomic_store(&w->done, 1);
    return NULL;
}

static void backpressure(int zero_copy)
{
    const size_t chunk = 4096;
    const unsigned depth = 3;
    jcs_pipe *p;
    T_OK(jcs_pipe_new(chunk, depth, &p));
    struct chunk_writer w = {.p = p, .chunk = chunk, .nchunks = 10, .zero_copy = zero_copy};
    pthread_t th;
    pthread_create(&th, NULL, chunk_writer_main, &w);
    int ok = wait_in(p, depth * chunk);
    jcs_sleep_ms(50);
    uint64_t held = jcs_pipe_bytes_in(p);
    int done = atomic_load(&w.done);
    /* One chunk read frees one slot: the writer gets exactly one further. */
    jcs_chunk c;
    int rc = jcs_pipe_read(p, &c);
    int first = rc == 0 ? c.data[0] : -1;
    if (rc == 0)
        jcs_pipe_release(p, &c);
    int ok2 = wait_in(p, (depth + 1) * chunk);
    jcs_sleep_ms(50);
    uint64_t held2 = jcs_pipe_bytes_in(p);
    /* Drain the rest so the writer ends whatever happened above. */
    int next = 1;
    while ((rc = jcs_pipe_read(p, &c)) == 0) {
        if (c.data[0] != next++)
            break;
        jcs_pipe_release(p, &c);
    }
    pthread_join(th, NULL);
    jcs_pipe_free(p);
    T_ASSERT(ok && ok2, "(the writer never filled the pipe)");
    T_EQ_INT(held, depth * chunk);
    T_EQ_INT(done, 0);
    T_EQ_INT(first, 0);
    T_EQ_INT(held2, (depth + 1) * chunk);
    T_EQ_INT(rc, JCS_EOF);
    T_EQ_INT(next, 10);
    T_EQ_INT(w.rc, 0);
}

TEST(backpressure_depth_bound)
{
    backpressure(0);
}

TEST(backpressure_depth_bound_zero_copy)
{
    backpressure(1);
}

TEST(close_clean_after_data)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(16, 2, &p));
    T_OK(jcs_pipe_write(p, "hello, pipe", 11));
    jcs_pipe_close(p, 0);
    jcs_pipe_close(p, 0); /* idempotent */
    jcs_chunk c;
    int rc = jcs_pipe_read(p, &c);
    T_EQ_INT(rc, 0);
    T_EQ_INT(c.len, 11);
    T_ASSERT(memcmp(c.data, "hello, pipe", 11) == 0);
    jcs_pipe_release(p, &c);
    T_EQ_INT(jcs_pipe_read(p, &c), JCS_EOF);
    T_EQ_INT(jcs_pipe_read(p, &c), JCS_EOF);
    /* The writer cannot write after its own end. */
    rc = jcs_pipe_write(p, "x", 1);
    T_EQ_INT(rc, JCS_ECANCELED);
    T_ASSERT(strstr(jcs_err_msg(rc), "after the end"), "(%s)", jcs_err_msg(rc));
    jcs_pipe_free(p);
}

struct blocked_reader {
    jcs_pipe *p;
    int rc;
};

static void *blocked_reader_main(void *arg)
{
    struct blocked_reader *r = arg;
    jcs_chunk c;
    r->rc = jcs_pipe_read(r->p, &c);
    if (r->rc == 0)
        jcs_pipe_release(r->p, &c);
    return NULL;
}

TEST(close_wakes_blocked_reader)
{
    for (int err = 0; err >= JCS_EIO; err += JCS_EIO) {
        jcs_pipe *p;
        T_OK(jcs_pipe_new(0, 0, &p));
        struct blocked_reader r = {.p = p, .rc = 99};
        pthread_t th;
        pthread_create(&th, NULL, blocked_reader_main, &r);
        jcs_sleep_ms(20); /* usually the reader is waiting by now; either way must work */
        jcs_pipe_close(p, err);
        pthread_join(th, NULL);
        jcs_pipe_free(p);
        T_EQ_INT(r.rc, err == 0 ? 1 : err);
    }
}

TEST(close_error_is_delivered_at_once)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(8, 4, &p));
    T_OK(jcs_pipe_write(p, "0123456789abcdef", 16));
    jcs_pipe_close(p, JCS_EIO);
    jcs_pipe_close(p, 0); /* a later clean close does not hide the error */
    jcs_chunk c;
    int rc = jcs_pipe_read(p, &c);
    T_EQ_INT(rc, JCS_EIO);
    T_ASSERT(strstr(jcs_err_msg(rc), "writer failed"), "(%s)", jcs_err_msg(rc));
    size_t got = 99;
    char buf[4];
    T_EQ_INT(jcs_pipe_read_full(p, buf, sizeof(buf), &got), JCS_EIO);
    T_EQ_INT(got, 0);
    jcs_pipe_free(p);

    /* A failure after a clean end the reader has not reached overrides it
     * (how the executor stops a reader when its plan is cancelled). */
    T_OK(jcs_pipe_new(8, 4, &p));
    T_OK(jcs_pipe_write(p, "abc", 3));
    jcs_pipe_close(p, 0);
    jcs_pipe_close(p, JCS_ECANCELED);
    T_EQ_INT(jcs_pipe_read(p, &c), JCS_ECANCELED);
    jcs_pipe_free(p);
}

/* Issue 10 #5: the writer learns the reader's own reason (a backend's error
 * text), not only "the reader stopped (configuration error)". */
TEST(abort_with_message_reaches_the_writer)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(4096, 2, &p));
    struct chunk_writer w = {.p = p, .chunk = 4096, .nchunks = 50};
    pthread_t th;
    pthread_create(&th, NULL, chunk_writer_main, &w);
    int ok = wait_in(p, 2 * 4096);
    jcs_pipe_abort_msg(p, JCS_ECONFIG, "s3 storage: field bucket: 3-63 characters");
    pthread_join(th, NULL);
    T_ASSERT(ok);
    T_EQ_INT(w.rc, JCS_ECONFIG);
    int rc = jcs_pipe_write(p, "x", 1);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(strstr(jcs_err_msg(rc), "field bucket: 3-63"), "(%s)", jcs_err_msg(rc));
    uint8_t *b;
    size_t cap;
    T_EQ_INT(jcs_pipe_get_buffer(p, &b, &cap), JCS_ECONFIG);
    T_ASSERT(strstr(jcs_err_msg(JCS_ECONFIG), "field bucket"), "(%s)", jcs_err_msg(JCS_ECONFIG));
    jcs_pipe_free(p);
}

TEST(abort_wakes_blocked_writer)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(4096, 2, &p));
    struct chunk_writer w = {.p = p, .chunk = 4096, .nchunks = 50};
    pthread_t th;
    pthread_create(&th, NULL, chunk_writer_main, &w);
    int ok = wait_in(p, 2 * 4096);
    jcs_pipe_abort(p, JCS_EUNAVAIL);
    pthread_join(th, NULL);
    T_ASSERT(ok);
    T_EQ_INT(w.rc, JCS_EUNAVAIL);
    /* Later writes, zero-copy included, get the same error; a second abort changes nothing. */
    jcs_pipe_abort(p, JCS_EIO);
    int rc = jcs_pipe_write(p, "x", 1);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(jcs_err_msg(rc), "reader stopped"), "(%s)", jcs_err_msg(rc));
    uint8_t *b;
    size_t cap;
    T_EQ_INT(jcs_pipe_get_buffer(p, &b, &cap), JCS_EUNAVAIL);
    T_ASSERT(b == NULL && cap == 0);
    jcs_pipe_free(p);

    /* abort(0) still fails the writer: a reader that stops early is not success. */
    T_OK(jcs_pipe_new(16, 1, &p));
    jcs_pipe_abort(p, 0);
    T_EQ_INT(jcs_pipe_write(p, "x", 1), JCS_ECANCELED);
    jcs_pipe_free(p);
}

TEST(abort_between_get_and_commit)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(64, 2, &p));
    uint8_t *b;
    size_t cap;
    T_OK(jcs_pipe_get_buffer(p, &b, &cap));
    memset(b, 'z', cap);
    jcs_pipe_abort(p, JCS_EIO);
    T_EQ_INT(jcs_pipe_commit_buffer(p, cap), JCS_EIO);
    jcs_pipe_free(p);
}

TEST(zero_copy_hands_the_same_buffer)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(1 << 16, 2, &p));
    uint8_t *b;
    size_t cap;
    T_EQ_INT(jcs_pipe_commit_buffer(p, 1), JCS_EINVAL); /* no buffer taken */
    T_OK(jcs_pipe_get_buffer(p, &b, &cap));
    T_EQ_INT(cap, 1 << 16);
    T_EQ_INT((uintptr_t)b % 64, 0);
    uint8_t *again;
    T_OK(jcs_pipe_get_buffer(p, &again, &cap)); /* not committed yet: the same one */
    T_ASSERT(again == b);
    for (size_t i = 0; i < cap; i++)
        b[i] = gen(i);
    T_EQ_INT(jcs_pipe_commit_buffer(p, cap + 1), JCS_EINVAL);
    T_OK(jcs_pipe_get_buffer(p, &again, &cap));
    T_OK(jcs_pipe_commit_buffer(p, cap));
    /* An empty commit gives the buffer back without making an empty chunk. */
    T_OK(jcs_pipe_get_buffer(p, &again, &cap));
    T_OK(jcs_pipe_commit_buffer(p, 0));
    jcs_pipe_close(p, 0);
    jcs_chunk c;
    T_OK(jcs_pipe_read(p, &c));
    T_ASSERT(c.data == b, "(the reader got a copy, not the writer's buffer)");
    T_EQ_INT(c.len, 1 << 16);
    for (size_t i = 0; i < c.len; i++)
        T_ASSERT(c.data[i] == gen(i), "(byte %zu)", i);
    jcs_pipe_release(p, &c);
    T_EQ_INT(jcs_pipe_read(p, &c), JCS_EOF);
    jcs_pipe_free(p);
}

TEST(chunks_are_recycled)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(4096, 2, &p));
    uint8_t *b1, *b2;
    size_t cap;
    T_OK(jcs_pipe_get_buffer(p, &b1, &cap));
    T_OK(jcs_pipe_commit_buffer(p, cap));
    jcs_chunk c;
    T_OK(jcs_pipe_read(p, &c));
    jcs_pipe_release(p, &c);
    T_OK(jcs_pipe_get_buffer(p, &b2, &cap));
    T_ASSERT(b2 == b1, "(a released chunk was not reused)");
    T_OK(jcs_pipe_commit_buffer(p, 0));
    jcs_pipe_free(p);
}

TEST(read_full_across_chunks)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(8, 8, &p));
    uint8_t data[30];
    for (int i = 0; i < 30; i++)
        data[i] = (uint8_t)('A' + i);
    T_OK(jcs_pipe_write(p, data, sizeof(data))); /* chunks of 8, 8, 8, 6 */
    jcs_pipe_close(p, 0);
    uint8_t buf[100];
    size_t got;
    T_OK(jcs_pipe_read_full(p, buf, 20, &got));
    T_EQ_INT(got, 20);
    T_ASSERT(memcmp(buf, data, 20) == 0);
    T_OK(jcs_pipe_read_full(p, buf, 0, &got));
    T_EQ_INT(got, 0);
    /* A zero-copy read continues where read_full stopped, mid-chunk. */
    jcs_chunk c;
    T_OK(jcs_pipe_read(p, &c));
    T_EQ_INT(c.len, 4);
    T_ASSERT(memcmp(c.data, data + 20, 4) == 0);
    jcs_pipe_release(p, &c);
    T_EQ_INT(jcs_pipe_read_full(p, buf, sizeof(buf), &got), JCS_EOF);
    T_EQ_INT(got, 6);
    T_ASSERT(memcmp(buf, data + 24, 6) == 0);
    T_EQ_INT(jcs_pipe_read_full(p, buf, 1, &got), JCS_EOF);
    T_EQ_INT(got, 0);
    T_EQ_INT(jcs_pipe_bytes_in(p), 30);
    T_EQ_INT(jcs_pipe_bytes_out(p), 30);
    jcs_pipe_free(p);
}

TEST(small_writes_coalesce)
{
    jcs_pipe *p;
    T_OK(jcs_pipe_new(4096, 1, &p));
    /* With depth 1, 4096 one-byte writes would block forever without
     * coalescing: they must share the one queued chunk. */
    for (int i = 0; i < 4096; i++) {
        uint8_t b = gen((uint64_t)i);
        T_OK(jcs_pipe_write(p, &b, 1));
    }
    jcs_pipe_close(p, 0);
    jcs_chunk c;
    T_OK(jcs_pipe_read(p, &c));
    T_EQ_INT(c.len, 4096);
    for (int i = 0; i < 4096; i++)
        T_ASSERT(c.data[i] == gen((uint64_t)i), "(byte %d)", i);
    jcs_pipe_release(p, &c);
    T_EQ_INT(jcs_pipe_read(p, &c), JCS_EOF);
    jcs_pipe_free(p);
}

TEST(alloc_failure_is_enomem)
{
    jcs_pipe *p = (jcs_pipe *)1;
    jcs_alloc_fail_after(0);
    int rc = jcs_pipe_new(0, 0, &p);
    jcs_alloc_fail_after(-1);
    T_EQ_INT(rc, JCS_ENOMEM);
    T_ASSERT(p == NULL);

    /* A write that cannot get its chunk fails cleanly; the pipe stays usable. */
    T_OK(jcs_pipe_new(1 << 20, 2, &p));
    jcs_alloc_fail_after(0);
    rc = jcs_pipe_write(p, "abc", 3);
    jcs_alloc_fail_after(-1);
    T_EQ_INT(rc, JCS_ENOMEM);
    T_ASSERT(strstr(jcs_err_msg(rc), "chunk"), "(%s)", jcs_err_msg(rc));
    uint8_t *b;
    size_t cap;
    jcs_alloc_fail_after(1); /* the node, not its buffer */
    rc = jcs_pipe_get_buffer(p, &b, &cap);
    jcs_alloc_fail_after(-1);
    T_EQ_INT(rc, JCS_ENOMEM);
    T_OK(jcs_pipe_write(p, "abc", 3));
    jcs_pipe_close(p, 0);
    char buf[8];
    size_t got;
    T_EQ_INT(jcs_pipe_read_full(p, buf, sizeof(buf), &got), JCS_EOF);
    T_EQ_INT(got, 3);
    T_ASSERT(memcmp(buf, "abc", 3) == 0);
    jcs_pipe_free(p);
}

static void count_hook(void *arg)
{
    (*(int *)arg)++;
}

TEST(fail_hook_runs_once_on_failure_not_on_a_clean_end)
{
    jcs_pipe *p;
    int n = 0;
    /* A clean end is no failure. */
    T_OK(jcs_pipe_new(64, 2, &p));
    jcs_pipe_on_fail(p, count_hook, &n);
    T_OK(jcs_pipe_write(p, "x", 1));
    jcs_pipe_close(p, 0);
    T_EQ_INT(n, 0);
    /* A failure that overrides the clean end fires it, once. */
    jcs_pipe_close(p, JCS_ECANCELED);
    jcs_pipe_abort(p, JCS_ECANCELED);
    T_EQ_INT(n, 1);
    jcs_pipe_free(p);
    /* An abort fires it; unregistered, it is not called; registered late, at once. */
    T_OK(jcs_pipe_new(64, 2, &p));
    jcs_pipe_on_fail(p, count_hook, &n);
    jcs_pipe_on_fail(p, NULL, NULL);
    jcs_pipe_abort(p, JCS_EIO);
    T_EQ_INT(n, 1);
    jcs_pipe_on_fail(p, count_hook, &n);
    T_EQ_INT(n, 2);
    jcs_pipe_free(p);
}

static int ext_freed;
static void ext_free(void *arg)
{
    (void)arg;
    ext_freed++;
}

/* Zero copy across pipes: a range handed on is the same bytes, a hold outlives the release,
 * and bytes owned elsewhere are freed once, after the reader released every piece. */
TEST(references_cross_pipes_without_copies)
{
    jcs_pipe *a, *b;
    T_OK(jcs_pipe_new(4096, 2, &a));
    T_OK(jcs_pipe_new(4096, 2, &b));
    uint8_t *w;
    size_t cap;
    T_OK(jcs_pipe_get_buffer(a, &w, &cap));
    for (size_t i = 0; i < cap; i++)
        w[i] = gen(i);
    T_OK(jcs_pipe_commit_buffer(a, cap));
    jcs_chunk c, d;
    T_OK(jcs_pipe_read(a, &c));
    T_OK(jcs_pipe_write_ref(b, &c, 1000, 2000));
    T_EQ_INT(jcs_pipe_write_ref(b, &c, 4000, 200), JCS_EINVAL); /* outside the chunk */
    void *hold = jcs_chunk_hold(&c);
    T_ASSERT(hold != NULL);
    jcs_pipe_release(a, &c);
    T_OK(jcs_pipe_read(b, &d));
    T_ASSERT(d.data == w + 1000, "(the range was copied)");
    T_EQ_INT(d.len, 2000);
    jcs_pipe_release(b, &d);
    T_ASSERT(w[0] == gen(0) && w[cap - 1] == gen(cap - 1)); /* still held */
    jcs_chunk_drop(hold);

    static const uint8_t x[] = "abcdef";
    struct iovec iov[2] = {{(void *)x, 3}, {(void *)(x + 3), 3}};
    ext_freed = 0;
    T_OK(jcs_pipe_write_ext(b, iov, 2, ext_free, NULL));
    T_OK(jcs_pipe_read(b, &d));
    T_ASSERT(d.data == x && d.len == 3);
    jcs_pipe_release(b, &d);
    T_EQ_INT(ext_freed, 0);
    T_OK(jcs_pipe_read(b, &d));
    T_ASSERT(d.data == x + 3 && d.len == 3);
    jcs_pipe_release(b, &d);
    T_EQ_INT(ext_freed, 1);
    /* Pieces dropped by an abort are freed too. */
    T_OK(jcs_pipe_write_ext(b, iov, 2, ext_free, NULL));
    jcs_pipe_abort(b, JCS_ECANCELED);
    T_EQ_INT(ext_freed, 2);
    jcs_pipe_free(a);
    jcs_pipe_free(b);
}
