/*
 * pipe.c - bounded byte pipe: a FIFO of chunk buffers plus a free list.
 *
 * Every chunk buffer (a node) is allocated once, 64-byte aligned (ISA-L's
 * fast case: ECMultiply runs on chunks in place), and recycled through the
 * free list, so a pipe in steady state allocates nothing. The queue holds
 * at most `depth` nodes; the writer waits on `not_full`, the reader on
 * `not_empty`. Nodes the reader holds (jcs_pipe_read until
 * jcs_pipe_release) and the one buffer the writer fills (get_buffer until
 * commit_buffer) are outside the queue, so memory is bounded by
 * (depth + what each end holds) * chunk_size.
 *
 * Small writes are coalesced: jcs_pipe_write appends to the last queued
 * node while it has room and the reader has not taken it, so a producer
 * writing a few bytes at a time does not fill the queue with tiny chunks.
 * Bytes become visible to the reader as soon as a write returns; nothing
 * is held back waiting for a chunk to fill, because an op that writes to
 * several pipes (ChunkedSplit) would otherwise deadlock a consumer that
 * reads them in lockstep (ECMultiply).
 *
 * Bulk copies happen outside the lock except for that coalescing append.
 */
#include "pipe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

struct node {
    struct node *next;    /* in the queue or the free list */
    struct node *all_nxt; /* every node of the pipe, for jcs_pipe_free */
    size_t len;
    uint8_t *buf; /* chunk_size bytes, 64-byte aligned */
};

struct jcs_pipe {
    size_t chunk_size;
    unsigned depth;
    pthread_mutex_t lock;
    pthread_cond_t not_full;  /* the writer waits for queue room */
    pthread_cond_t not_empty; /* the reader waits for a chunk or the end */
    struct node *head, *tail; /* the queue */
    unsigned queued;
    struct node *free_list;
    struct node *all;
    int closed;    /* the writer ended the stream */
    int close_err; /* 0: clean end; else the error the reader gets */
    int aborted;   /* the reader gave up */
    int abort_err;
    char abort_msg[512];    /* why, when the reader said (jcs_pipe_abort_msg); "" otherwise */
    int eof_seen;           /* the reader has seen the clean end of the stream */
    pthread_cond_t drained; /* eof_seen or aborted became true */
    atomic_int failed_by;   /* JCS_PIPE_WRITER / JCS_PIPE_READER: who failed it first */
    /* Writer side: the node handed out by jcs_pipe_get_buffer. */
    struct node *wbuf;
    /* Reader side: a node partly consumed by jcs_pipe_read_full. */
    struct node *cur;
    size_t cur_off;
    atomic_uint_least64_t bytes_in, bytes_out;
    /* Called (under lock) when the pipe fails: a transfer blocked elsewhere stops. */
    jcs_pipe_hook fail_hook;
    void *fail_arg;
};

static int failed_locked(const jcs_pipe *p)
{
    return p->aborted || (p->closed && p->close_err < 0);
}

static void fire_locked(jcs_pipe *p)
{
    if (p->fail_hook && failed_locked(p)) {
        p->fail_hook(p->fail_arg);
        p->fail_hook = NULL;
    }
}

void jcs_pipe_on_fail(jcs_pipe *p, jcs_pipe_hook fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    p->fail_hook = fn;
    p->fail_arg = arg;
    fire_locked(p);
    pthread_mutex_unlock(&p->lock);
}

int jcs_pipe_new(size_t chunk_size, unsigned depth, jcs_pipe **out)
{
    *out = NULL;
    jcs_pipe *p = jcs_calloc(1, sizeof(*p));
    if (!p)
        return jcs_err_set(JCS_ENOMEM, "pipe: out of memory");
    p->chunk_size = chunk_size ? chunk_size : JCS_PIPE_CHUNK;
    p->depth = depth ? depth : JCS_PIPE_DEPTH;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->not_full, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->drained, NULL);
    atomic_init(&p->failed_by, 0);
    atomic_init(&p->bytes_in, 0);
    atomic_init(&p->bytes_out, 0);
    *out = p;
    return JCS_OK;
}

void jcs_pipe_free(jcs_pipe *p)
{
    if (!p)
        return;
    for (struct node *n = p->all, *nx; n; n = nx) {
        nx = n->all_nxt;
        jcs_free(n->buf);
        jcs_free(n);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->not_empty);
    pthread_cond_destroy(&p->drained);
    jcs_free(p);
}

/* The error a write gets once the reader aborted or the writer closed. Locked. */
static int write_err(const jcs_pipe *p)
{
    if (p->aborted)
        return p->abort_err;
    if (p->closed)
        return p->close_err < 0 ? p->close_err : JCS_ECANCELED;
    return 0;
}

static int set_write_err(const jcs_pipe *p, int rc)
{
    if (p->aborted && p->abort_msg[0])
        return jcs_err_set(rc, "%s", p->abort_msg);
    if (p->aborted)
        return jcs_err_set(rc, "pipe: the reader stopped (%s)", jcs_strerror(rc));
    return jcs_err_set(rc, "pipe: write after the end of the stream (%s)", jcs_strerror(rc));
}

/*
 * Waits for queue room and takes a node off the free list, or allocates
 * one (unlocking meanwhile). Called and returns locked. *rc on failure.
 */
static struct node *take_node(jcs_pipe *p, int *rc)
{
    for (;;) {
        while (p->queued >= p->depth && !write_err(p))
            pthread_cond_wait(&p->not_full, &p->lock);
        int err = write_err(p);
        if (err) {
            *rc = set_write_err(p, err);
            return NULL;
        }
        if (p->free_list) {
            struct node *n = p->free_list;
            p->free_list = n->next;
            n->next = NULL;
            n->len = 0;
            return n;
        }
        /* Only the writer takes nodes, so unlocking to allocate is safe:
         * meanwhile the queue can only shrink. */
        pthread_mutex_unlock(&p->lock);
        struct node *n = jcs_calloc(1, sizeof(*n));
        uint8_t *buf = n ? jcs_aligned_alloc(64, p->chunk_size) : NULL;
        pthread_mutex_lock(&p->lock);
        if (!buf) {
            jcs_free(n);
            *rc =
                jcs_err_set(JCS_ENOMEM, "pipe: out of memory for a %zu-byte chunk", p->chunk_size);
            return NULL;
        }
        n->buf = buf;
        n->all_nxt = p->all;
        p->all = n;
        return n;
    }
}

/* Puts a filled node at the end of the queue. Locked. */
static void enqueue(jcs_pipe *p, struct node *n)
{
    n->next = NULL;
    if (p->tail)
        p->tail->next = n;
    else
        p->head = n;
    p->tail = n;
    p->queued++;
    atomic_fetch_add(&p->bytes_in, n->len);
    pthread_cond_signal(&p->not_empty);
}

static void put_free(jcs_pipe *p, struct node *n)
{
    n->next = p->free_list;
    p->free_list = n;
}

int jcs_pipe_write(jcs_pipe *p, const void *data, size_t n)
{
    const uint8_t *src = data;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    while (n > 0) {
        int err = write_err(p);
        if (err) {
            rc = set_write_err(p, err);
            break;
        }
        struct node *t = p->tail;
        if (t && t->len < p->chunk_size) {
            /* Coalesce into the queued tail the reader has not taken yet. */
            size_t k = p->chunk_size - t->len;
            if (k > n)
                k = n;
            memcpy(t->buf + t->len, src, k);
            t->len += k;
            atomic_fetch_add(&p->bytes_in, k);
            src += k;
            n -= k;
            continue;
        }
        struct node *nd = take_node(p, &rc);
        if (!nd)
            break;
        pthread_mutex_unlock(&p->lock);
        size_t k = n < p->chunk_size ? n : p->chunk_size;
        memcpy(nd->buf, src, k);
        nd->len = k;
        pthread_mutex_lock(&p->lock);
        err = write_err(p);
        if (err) {
            put_free(p, nd);
            rc = set_write_err(p, err);
            break;
        }
        enqueue(p, nd);
        src += k;
        n -= k;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int jcs_pipe_get_buffer(jcs_pipe *p, uint8_t **buf, size_t *cap)
{
    *buf = NULL;
    *cap = 0;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    if (!p->wbuf) {
        p->wbuf = take_node(p, &rc);
    } else {
        int err = write_err(p);
        if (err)
            rc = set_write_err(p, err);
    }
    if (p->wbuf && rc == 0) {
        *buf = p->wbuf->buf;
        *cap = p->chunk_size;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int jcs_pipe_commit_buffer(jcs_pipe *p, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    struct node *n = p->wbuf;
    if (!n) {
        pthread_mutex_unlock(&p->lock);
        return jcs_err_set(JCS_EINVAL, "pipe: commit_buffer without get_buffer");
    }
    if (len > p->chunk_size) {
        pthread_mutex_unlock(&p->lock);
        return jcs_err_set(JCS_EINVAL, "pipe: commit of %zu bytes into a %zu-byte chunk", len,
                           p->chunk_size);
    }
    p->wbuf = NULL;
    struct node *t = p->tail;
    int err = write_err(p);
    if (!err && len > 0 && len <= p->chunk_size / 16 && t && t->len + len <= p->chunk_size) {
        /* A small commit joins the queued tail: a few bytes of copying
         * instead of a chunk slot for them. */
        memcpy(t->buf + t->len, n->buf, len);
        t->len += len;
        atomic_fetch_add(&p->bytes_in, len);
        len = 0;
    }
    /* Room was waited for in get_buffer; wait again in case the writer
     * wrote other chunks in between. */
    while (len > 0 && p->queued >= p->depth && !write_err(p))
        pthread_cond_wait(&p->not_full, &p->lock);
    err = write_err(p);
    if (err) {
        put_free(p, n);
        rc = set_write_err(p, err);
    } else if (len == 0) {
        put_free(p, n); /* the reader never sees an empty chunk */
    } else {
        n->len = len;
        enqueue(p, n);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void jcs_pipe_close(jcs_pipe *p, int err)
{
    pthread_mutex_lock(&p->lock);
    if (!p->closed) {
        p->closed = 1;
        p->close_err = err;
    } else if (p->close_err == 0 && err < 0) {
        /* A failure (the plan was cancelled) overrides a clean end the
         * reader may not have reached yet, so it stops at once. */
        p->close_err = err;
    }
    if (err < 0 && atomic_load(&p->failed_by) == 0)
        atomic_store(&p->failed_by, JCS_PIPE_WRITER);
    fire_locked(p);
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->lock);
}

void jcs_pipe_abort(jcs_pipe *p, int err)
{
    jcs_pipe_abort_msg(p, err, NULL);
}

void jcs_pipe_abort_msg(jcs_pipe *p, int err, const char *msg)
{
    pthread_mutex_lock(&p->lock);
    if (!p->aborted) {
        p->aborted = 1;
        snprintf(p->abort_msg, sizeof p->abort_msg, "%s", msg ? msg : "");
        if (atomic_load(&p->failed_by) == 0)
            atomic_store(&p->failed_by, JCS_PIPE_READER);
        p->abort_err = err < 0 ? err : JCS_ECANCELED;
        /* Nobody will read the queued chunks: recycle them. */
        while (p->head) {
            struct node *n = p->head;
            p->head = n->next;
            put_free(p, n);
        }
        p->tail = NULL;
        p->queued = 0;
    }
    fire_locked(p);
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->lock);
}

void jcs_pipe_wait_drained(jcs_pipe *p)
{
    pthread_mutex_lock(&p->lock);
    while (!p->eof_seen && !p->aborted && !(p->closed && p->close_err < 0))
        pthread_cond_wait(&p->drained, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

/* The reader's view: 0 with a node dequeued, JCS_EOF at the end, or an error. Locked. */
static int dequeue(jcs_pipe *p, struct node **out)
{
    for (;;) {
        if (p->aborted)
            return jcs_err_set(p->abort_err, "pipe: read after abort (%s)",
                               jcs_strerror(p->abort_err));
        if (p->closed && p->close_err < 0)
            return jcs_err_set(p->close_err, "pipe: the writer failed (%s)",
                               jcs_strerror(p->close_err));
        if (p->head) {
            struct node *n = p->head;
            p->head = n->next;
            if (!p->head)
                p->tail = NULL;
            p->queued--;
            pthread_cond_signal(&p->not_full);
            *out = n;
            return 0;
        }
        if (p->closed) {
            if (!p->eof_seen) {
                p->eof_seen = 1;
                pthread_cond_broadcast(&p->drained);
            }
            return JCS_EOF;
        }
        pthread_cond_wait(&p->not_empty, &p->lock);
    }
}

int jcs_pipe_read(jcs_pipe *p, jcs_chunk *c)
{
    c->data = NULL;
    c->len = 0;
    c->priv = NULL;
    struct node *n = NULL;
    size_t off = 0;
    pthread_mutex_lock(&p->lock);
    int rc;
    if (p->cur && !p->aborted && !(p->closed && p->close_err < 0)) {
        /* Hand out what read_full left of its node first. */
        n = p->cur;
        off = p->cur_off;
        p->cur = NULL;
        atomic_fetch_add(&p->bytes_out, n->len - off);
        rc = 0;
    } else {
        rc = dequeue(p, &n);
        if (rc == 0)
            atomic_fetch_add(&p->bytes_out, n->len);
    }
    pthread_mutex_unlock(&p->lock);
    if (rc != 0)
        return rc;
    c->data = n->buf + off;
    c->len = n->len - off;
    c->priv = n;
    return JCS_OK;
}

void jcs_pipe_release(jcs_pipe *p, jcs_chunk *c)
{
    if (!c->priv)
        return;
    pthread_mutex_lock(&p->lock);
    put_free(p, c->priv);
    pthread_mutex_unlock(&p->lock);
    c->priv = NULL;
    c->data = NULL;
    c->len = 0;
}

int jcs_pipe_read_full(jcs_pipe *p, void *buf, size_t n, size_t *got)
{
    uint8_t *dst = buf;
    size_t done = 0;
    int rc = 0;
    while (done < n) {
        if (!p->cur) {
            struct node *nd = NULL;
            pthread_mutex_lock(&p->lock);
            rc = dequeue(p, &nd);
            pthread_mutex_unlock(&p->lock);
            if (rc != 0)
                break;
            p->cur = nd;
            p->cur_off = 0;
        }
        size_t k = p->cur->len - p->cur_off;
        if (k > n - done)
            k = n - done;
        memcpy(dst + done, p->cur->buf + p->cur_off, k);
        done += k;
        p->cur_off += k;
        atomic_fetch_add(&p->bytes_out, k);
        if (p->cur_off == p->cur->len) {
            pthread_mutex_lock(&p->lock);
            put_free(p, p->cur);
            p->cur = NULL;
            pthread_mutex_unlock(&p->lock);
        }
    }
    *got = done;
    return rc;
}

int jcs_pipe_failed_by(const jcs_pipe *p)
{
    return atomic_load(&((jcs_pipe *)p)->failed_by);
}

uint64_t jcs_pipe_bytes_in(const jcs_pipe *p)
{
    return atomic_load(&((jcs_pipe *)p)->bytes_in);
}

uint64_t jcs_pipe_bytes_out(const jcs_pipe *p)
{
    return atomic_load(&((jcs_pipe *)p)->bytes_out);
}
