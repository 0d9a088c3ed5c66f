/*
 * pipe.c - bounded byte pipe: a FIFO of entries, each a byte range of a
 * shared, reference-counted buffer.
 *
 * A buffer (struct pbuf) is either the pipe's own (chunk_size bytes, 64-byte
 * aligned: ISA-L's fast case, ECMultiply runs on chunks in place) or
 * another's: a range of a chunk of another pipe (jcs_pipe_write_ref) or
 * bytes a transport received (jcs_pipe_write_ext). Every holder of a
 * range keeps a reference: queue entries, the reader until it releases, a
 * transport sending the bytes (jcs_chunk_hold). The last reference frees
 * the buffer, from whichever thread drops it, so bytes can cross several
 * pipes and a network send without being copied.
 *
 * The queue is bounded in bytes: at most depth * chunk_size queued (and
 * always one entry, however large); the writer waits on `not_full`, the
 * reader on `not_empty`. Entries the reader holds (jcs_pipe_read until
 * jcs_pipe_release) and the one buffer the writer fills (get_buffer until
 * commit_buffer) are outside the queue.
 *
 * Small writes are coalesced: jcs_pipe_write appends to the last queued
 * entry while it is the pipe's own buffer, nobody else holds it and it has
 * room, so a producer writing a few bytes at a time does not fill the
 * queue with tiny entries. Bytes become visible to the reader as soon as a
 * write returns; nothing is held back waiting for a chunk to fill, because
 * an op that writes to several pipes (ChunkedSplit) would otherwise
 * deadlock a consumer that reads them in lockstep (ECMultiply).
 *
 * Buffers come from malloc (the service's allocator keeps freed buffers
 * mapped, jcs_alloc_service_init), so a pipe in steady state faults no
 * pages in. Bulk copies happen outside the lock except for that
 * coalescing append.
 */
#include "pipe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

#define JCS_PIPE_SPARE_MAX 8

struct pbuf {
    atomic_uint refs;
    uint8_t *data;            /* own: cap bytes, 64-byte aligned */
    size_t cap;               /* 0 for another's bytes (never appended to) */
    void (*ext_free)(void *); /* another's: called with ext_arg by the last reference */
    void *ext_arg;
    struct pbuf *ext_parent; /* a piece of a jcs_pipe_write_ext group: that group's count */
};

struct node {
    struct node *next; /* in the queue */
    struct pbuf *b;
    size_t off, len; /* the bytes [off, off + len) of b */
};

struct jcs_pipe {
    size_t chunk_size;
    unsigned depth;
    size_t max_bytes; /* depth * chunk_size */
    pthread_mutex_t lock;
    pthread_cond_t not_full;  /* the writer waits for queue room */
    pthread_cond_t not_empty; /* the reader waits for a chunk or the end */
    struct node *head, *tail; /* the queue */
    size_t queued;            /* bytes in the queue */
    int closed;               /* the writer ended the stream */
    int close_err;            /* 0: clean end; else the error the reader gets */
    int aborted;              /* the reader gave up */
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
    /* Own buffers the reader released while nobody else held them: reused first,
     * so a pipe in steady state allocates nothing. At most depth of them. */
    struct pbuf *spare[JCS_PIPE_SPARE_MAX];
    unsigned nspare;
};

/* ---------------------------------------------------------------- buffers */

static struct pbuf *pbuf_own(size_t cap)
{
    struct pbuf *b = jcs_malloc(sizeof(*b));
    uint8_t *data = b ? jcs_aligned_alloc(64, cap) : NULL;
    if (!data) {
        jcs_free(b);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    b->data = data;
    b->cap = cap;
    b->ext_free = NULL;
    b->ext_arg = NULL;
    b->ext_parent = NULL;
    return b;
}

static void pbuf_ref(struct pbuf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

static void pbuf_unref(struct pbuf *b)
{
    while (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        struct pbuf *parent = b->ext_parent;
        if (b->ext_free)
            b->ext_free(b->ext_arg);
        else if (!parent)
            jcs_free(b->data);
        jcs_free(b);
        b = parent;
    }
}

/* Whether the writer may append to b: the pipe's own buffer that nobody else holds. */
static int pbuf_appendable(struct pbuf *b)
{
    return b->cap > 0 && atomic_load_explicit(&b->refs, memory_order_acquire) == 1;
}

void *jcs_chunk_hold(const jcs_chunk *c)
{
    const struct node *n = c->priv;
    if (!n)
        return NULL;
    pbuf_ref(n->b);
    return n->b;
}

void jcs_chunk_drop(void *hold)
{
    pbuf_unref(hold);
}

static struct node *node_new(struct pbuf *b, size_t off, size_t len)
{
    struct node *n = jcs_malloc(sizeof(*n));
    if (!n)
        return NULL;
    n->next = NULL;
    n->b = b;
    n->off = off;
    n->len = len;
    return n;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    if (n->b)
        pbuf_unref(n->b);
    jcs_free(n);
}

/* ------------------------------------------------------------------- pipe */

/* A writable own buffer: a spare one, or a new one. Takes and returns unlocked. */
static struct pbuf *own_buffer(jcs_pipe *p)
{
    struct pbuf *b = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->nspare > 0)
        b = p->spare[--p->nspare];
    pthread_mutex_unlock(&p->lock);
    return b ? b : pbuf_own(p->chunk_size);
}

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
    p->max_bytes = p->chunk_size * p->depth;
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

static void drop_queue(jcs_pipe *p)
{
    for (struct node *n = p->head, *nx; n; n = nx) {
        nx = n->next;
        node_free(n);
    }
    p->head = p->tail = NULL;
    p->queued = 0;
}

void jcs_pipe_free(jcs_pipe *p)
{
    if (!p)
        return;
    drop_queue(p);
    node_free(p->wbuf);
    node_free(p->cur);
    while (p->nspare > 0)
        pbuf_unref(p->spare[--p->nspare]);
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

/* Whether n more bytes fit in the queue (any entry fits an empty queue). Locked. */
static int has_room(const jcs_pipe *p, size_t n)
{
    return p->queued == 0 || p->queued + n <= p->max_bytes;
}

/* Waits until n more bytes fit or the pipe failed; 0 or the write error (detail set). Locked. */
static int wait_room(jcs_pipe *p, size_t n)
{
    while (!has_room(p, n) && !write_err(p))
        pthread_cond_wait(&p->not_full, &p->lock);
    int err = write_err(p);
    return err ? set_write_err(p, err) : 0;
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
    p->queued += n->len;
    atomic_fetch_add(&p->bytes_in, n->len);
    pthread_cond_signal(&p->not_empty);
}

/* Room left in the queued tail for appending, 0 when it cannot take any. Locked. */
static size_t tail_room(const jcs_pipe *p)
{
    const struct node *t = p->tail;
    if (!t || !pbuf_appendable(t->b))
        return 0;
    return t->b->cap - (t->off + t->len);
}

/* Appends k bytes to the queued tail (tail_room said they fit). Locked. */
static void tail_append(jcs_pipe *p, const void *src, size_t k)
{
    struct node *t = p->tail;
    memcpy(t->b->data + t->off + t->len, src, k);
    t->len += k;
    p->queued += k;
    atomic_fetch_add(&p->bytes_in, k);
}

static int enomem_chunk(const jcs_pipe *p)
{
    return jcs_err_set(JCS_ENOMEM, "pipe: out of memory for a %zu-byte chunk", p->chunk_size);
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
        size_t room = tail_room(p);
        if (room > 0) {
            /* Coalesce into the queued tail the reader has not taken yet. */
            size_t k = room < n ? room : n;
            tail_append(p, src, k);
            src += k;
            n -= k;
            continue;
        }
        size_t k = n < p->chunk_size ? n : p->chunk_size;
        if ((rc = wait_room(p, k)) != 0)
            break;
        /* Only the writer adds to the queue, so filling outside the lock is safe:
         * meanwhile the queue can only shrink. */
        pthread_mutex_unlock(&p->lock);
        struct pbuf *b = own_buffer(p);
        struct node *nd = b ? node_new(b, 0, k) : NULL;
        if (nd)
            memcpy(b->data, src, k);
        else
            pbuf_unref(b);
        pthread_mutex_lock(&p->lock);
        if (!nd) {
            rc = enomem_chunk(p);
            break;
        }
        if ((err = write_err(p)) != 0) {
            node_free(nd);
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

int jcs_pipe_write_ref(jcs_pipe *p, const jcs_chunk *c, size_t off, size_t len)
{
    const struct node *from = c->priv;
    if (len == 0)
        return JCS_OK;
    if (!from || off > c->len || len > c->len - off)
        return jcs_err_set(JCS_EINVAL, "pipe: write_ref of bytes outside the chunk");
    struct pbuf *b = from->b;
    size_t boff = (size_t)(c->data - b->data) + off;
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (len <= tail_room(p) && len < p->chunk_size / 16) {
        /* A few bytes join the queued tail: cheaper than an entry of their own. */
        tail_append(p, c->data + off, len);
    } else if ((rc = wait_room(p, len)) == 0) {
        struct node *nd = node_new(b, boff, len);
        if (!nd) {
            rc = jcs_err_set(JCS_ENOMEM, "pipe: out of memory");
        } else {
            pbuf_ref(b);
            enqueue(p, nd);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int jcs_pipe_write_ext(jcs_pipe *p, const struct iovec *iov, size_t n, void (*free_fn)(void *),
                       void *arg)
{
    /* One group buffer frees the whole message; each piece holds it once. */
    struct pbuf *g = jcs_malloc(sizeof(*g));
    if (!g) {
        free_fn(arg);
        return jcs_err_set(JCS_ENOMEM, "pipe: out of memory");
    }
    atomic_init(&g->refs, 1); /* ours until every piece is queued */
    g->data = NULL;
    g->cap = 0;
    g->ext_free = free_fn;
    g->ext_arg = arg;
    g->ext_parent = NULL;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (iov[i].iov_len == 0)
            continue;
        if ((rc = wait_room(p, iov[i].iov_len)) != 0)
            break;
        struct pbuf *piece = jcs_malloc(sizeof(*piece));
        struct node *nd = piece ? node_new(piece, 0, iov[i].iov_len) : NULL;
        if (!nd) {
            jcs_free(piece);
            rc = jcs_err_set(JCS_ENOMEM, "pipe: out of memory");
            break;
        }
        atomic_init(&piece->refs, 1);
        piece->data = (uint8_t *)iov[i].iov_base;
        piece->cap = 0;
        piece->ext_free = NULL;
        piece->ext_arg = NULL;
        piece->ext_parent = g;
        pbuf_ref(g);
        enqueue(p, nd);
    }
    pthread_mutex_unlock(&p->lock);
    pbuf_unref(g);
    return rc;
}

int jcs_pipe_get_buffer(jcs_pipe *p, uint8_t **buf, size_t *cap)
{
    *buf = NULL;
    *cap = 0;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    if (!p->wbuf) {
        if ((rc = wait_room(p, p->chunk_size)) == 0) {
            pthread_mutex_unlock(&p->lock);
            struct pbuf *b = own_buffer(p);
            struct node *nd = b ? node_new(b, 0, 0) : NULL;
            if (!nd)
                pbuf_unref(b);
            pthread_mutex_lock(&p->lock);
            if (!nd)
                rc = enomem_chunk(p);
            else
                p->wbuf = nd;
        }
    } else {
        int err = write_err(p);
        if (err)
            rc = set_write_err(p, err);
    }
    if (p->wbuf && rc == 0) {
        *buf = p->wbuf->b->data;
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
    int err = write_err(p);
    if (!err && len > 0 && len <= p->chunk_size / 16 && len <= tail_room(p)) {
        /* A small commit joins the queued tail: a few bytes of copying
         * instead of a chunk slot for them. */
        tail_append(p, n->b->data, len);
        len = 0;
    }
    /* Room was waited for in get_buffer; wait again in case the writer
     * wrote other chunks in between. */
    while (len > 0 && !has_room(p, len) && !write_err(p))
        pthread_cond_wait(&p->not_full, &p->lock);
    err = write_err(p);
    if (err) {
        node_free(n);
        rc = set_write_err(p, err);
    } else if (len == 0) {
        node_free(n); /* the reader never sees an empty chunk */
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
    struct node *dropped = NULL;
    pthread_mutex_lock(&p->lock);
    if (!p->aborted) {
        p->aborted = 1;
        snprintf(p->abort_msg, sizeof p->abort_msg, "%s", msg ? msg : "");
        if (atomic_load(&p->failed_by) == 0)
            atomic_store(&p->failed_by, JCS_PIPE_READER);
        p->abort_err = err < 0 ? err : JCS_ECANCELED;
        /* Nobody will read the queued chunks: free them (outside the lock). */
        dropped = p->head;
        p->head = p->tail = NULL;
        p->queued = 0;
    }
    fire_locked(p);
    pthread_cond_broadcast(&p->not_empty);
    pthread_cond_broadcast(&p->not_full);
    pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->lock);
    for (struct node *n = dropped, *nx; n; n = nx) {
        nx = n->next;
        node_free(n);
    }
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
            p->queued -= n->len;
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
    pthread_mutex_lock(&p->lock);
    int rc;
    if (p->cur && !p->aborted && !(p->closed && p->close_err < 0)) {
        /* Hand out what read_full left of its node first. */
        n = p->cur;
        n->off += p->cur_off;
        n->len -= p->cur_off;
        p->cur = NULL;
        atomic_fetch_add(&p->bytes_out, n->len);
        rc = 0;
    } else {
        rc = dequeue(p, &n);
        if (rc == 0)
            atomic_fetch_add(&p->bytes_out, n->len);
    }
    pthread_mutex_unlock(&p->lock);
    if (rc != 0)
        return rc;
    c->data = n->b->data + n->off;
    c->len = n->len;
    c->priv = n;
    return JCS_OK;
}

void jcs_pipe_release(jcs_pipe *p, jcs_chunk *c)
{
    struct node *n = c->priv;
    if (!n)
        return;
    struct pbuf *b = n->b;
    if (b->cap == p->chunk_size && atomic_load_explicit(&b->refs, memory_order_acquire) == 1) {
        /* Nobody else holds it (and nobody can take a new hold): keep it for the writer. */
        pthread_mutex_lock(&p->lock);
        if (p->nspare < p->depth && p->nspare < JCS_PIPE_SPARE_MAX) {
            p->spare[p->nspare++] = b;
            n->b = NULL;
        }
        pthread_mutex_unlock(&p->lock);
    }
    node_free(n);
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
        memcpy(dst + done, p->cur->b->data + p->cur->off + p->cur_off, k);
        done += k;
        p->cur_off += k;
        atomic_fetch_add(&p->bytes_out, k);
        if (p->cur_off == p->cur->len) {
            node_free(p->cur);
            p->cur = NULL;
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
