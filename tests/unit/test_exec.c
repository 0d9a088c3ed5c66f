/*
 * test_exec.c - the plan executor, driven the way the client and hubs
 * drive it, with every worker in this process.
 *
 * A "world" is one test's cluster: local shard stores in a temp dir (one
 * per space_id, opened on first use) and one executor per worker of the
 * current plan. Its env connects executors directly: push(to) writes into
 * jcs_exec_input of the target's executor, pull(from) reads jcs_exec_output
 * of the source's, values go through put/get_value. A knob makes the push
 * to one hub fail after some bytes, like a connection that breaks. Every
 * fragment runs on a thread of its own; when one fails, the test cancels
 * the others with its error, as the driver does.
 *
 * Fragments are written by hand (the planner is not used). The EC plans
 * are the real ones: encode = ChunkedSplit(pad) + Clone + ECMultiply(parity
 * rows), six ShardWrites over three hubs reached by SendStream; decode =
 * ShardRead on the hubs, GetStream to the driver, ECMultiply to the data
 * rows from four survivors (two of them parity), ChunkedJoin, Range.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ec.h"
#include "err.h"
#include "hash.h"
#include "exec.h"
#include "shardstore.h"
#include "storage.h"
#include "t.h"
#include "t_tmpdir.h"
#include "util.h"

/* ------------------------------------------------------------ messages */

/* Every allocation of the hand-written fragments, freed at once. */
struct arena {
    void **p;
    size_t n, cap;
};

static void *A(struct arena *a, size_t n)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->p = jcs_realloc(a->p, a->cap * sizeof(*a->p));
        if (!a->p)
            abort();
    }
    void *m = jcs_calloc(1, n);
    if (!m)
        abort();
    a->p[a->n++] = m;
    return m;
}

static void arena_free(struct arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        jcs_free(a->p[i]);
    jcs_free(a->p);
    memset(a, 0, sizeof(*a));
}

static char *S(struct arena *a, const char *s)
{
    char *d = A(a, strlen(s) + 1);
    memcpy(d, s, strlen(s) + 1);
    return d;
}

static int32_t *I(struct arena *a, size_t n, const int32_t *v)
{
    int32_t *d = A(a, n * sizeof(*d) + 1);
    memcpy(d, v, n * sizeof(*d));
    return d;
}

/* An array: L(1, 2, 3); with its count first: V(1, 2, 3). */
#define L(...)                                                                                     \
    (int32_t[])                                                                                    \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define V(...)                                                                                     \
    sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t), (int32_t[])                                \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

static Jcs__Plan__Worker *worker(struct arena *a, int64_t hub)
{
    Jcs__Plan__Worker *w = A(a, sizeof(*w));
    jcs__plan__worker__init(w);
    w->hub_id = hub;
    w->address = S(a, "in-process");
    return w;
}

static Jcs__Plan__Op *op(struct arena *a, Jcs__Plan__Op__OpCase c, void *body)
{
    Jcs__Plan__Op *o = A(a, sizeof(*o));
    jcs__plan__op__init(o);
    o->op_case = c;
    o->shard_read = body; /* every member of the union is a pointer */
    return o;
}

static Jcs__Plan__Fragment *frag(struct arena *a, const char *plan, int64_t hub)
{
    Jcs__Plan__Fragment *f = A(a, sizeof(*f));
    jcs__plan__fragment__init(f);
    f->plan_id = S(a, plan);
    f->worker = worker(a, hub);
    f->ops = A(a, 64 * sizeof(*f->ops));
    f->results = A(a, 64 * sizeof(*f->results));
    return f;
}

static void add(Jcs__Plan__Fragment *f, Jcs__Plan__Op *o)
{
    f->ops[f->n_ops++] = o;
}

static void result(Jcs__Plan__Fragment *f, int32_t var)
{
    f->results[f->n_results++] = var;
}

static Jcs__Plan__Op *o_read(struct arena *a, Jcs__Plan__Space *sp, const char *hash, int64_t off,
                             int64_t len, int32_t out)
{
    Jcs__Plan__ShardRead *r = A(a, sizeof(*r));
    jcs__plan__shard_read__init(r);
    r->space = sp;
    r->file_hash = S(a, hash);
    r->offset = off;
    r->length = len;
    r->output = out;
    return op(a, JCS__PLAN__OP__OP_SHARD_READ, r);
}

static Jcs__Plan__Op *o_write(struct arena *a, Jcs__Plan__Space *sp, int32_t in, int32_t res)
{
    Jcs__Plan__ShardWrite *w = A(a, sizeof(*w));
    jcs__plan__shard_write__init(w);
    w->space = sp;
    w->input = in;
    w->result = res;
    return op(a, JCS__PLAN__OP__OP_SHARD_WRITE, w);
}

static Jcs__Plan__Op *o_split(struct arena *a, int32_t in, int64_t chunk, int pad, size_t n,
                              const int32_t *outs)
{
    Jcs__Plan__ChunkedSplit *s = A(a, sizeof(*s));
    jcs__plan__chunked_split__init(s);
    s->input = in;
    s->chunk_size = chunk;
    s->pad_last_strip = pad;
    s->n_outputs = n;
    s->outputs = I(a, n, outs);
    return op(a, JCS__PLAN__OP__OP_CHUNKED_SPLIT, s);
}

static Jcs__Plan__Op *o_ec(struct arena *a, int k, int n, int64_t chunk, size_t nir,
                           const int32_t *irows, size_t nin, const int32_t *ins, size_t nor,
                           const int32_t *orows, size_t nout, const int32_t *outs)
{
    Jcs__Plan__ECMultiply *m = A(a, sizeof(*m));
    jcs__plan__ecmultiply__init(m);
    m->k = k;
    m->n = n;
    m->chunk_size = chunk;
    m->n_input_rows = nir;
    m->input_rows = I(a, nir, irows);
    m->n_inputs = nin;
    m->inputs = I(a, nin, ins);
    m->n_output_rows = nor;
    m->output_rows = I(a, nor, orows);
    m->n_outputs = nout;
    m->outputs = I(a, nout, outs);
    return op(a, JCS__PLAN__OP__OP_EC_MULTIPLY, m);
}

static Jcs__Plan__Op *o_cjoin(struct arena *a, int64_t chunk, size_t n, const int32_t *ins,
                              int32_t out)
{
    Jcs__Plan__ChunkedJoin *j = A(a, sizeof(*j));
    jcs__plan__chunked_join__init(j);
    j->chunk_size = chunk;
    j->n_inputs = n;
    j->inputs = I(a, n, ins);
    j->output = out;
    return op(a, JCS__PLAN__OP__OP_CHUNKED_JOIN, j);
}

static Jcs__Plan__Op *o_range(struct arena *a, int32_t in, int64_t off, int64_t len, int32_t out)
{
    Jcs__Plan__Range *r = A(a, sizeof(*r));
    jcs__plan__range__init(r);
    r->input = in;
    r->offset = off;
    r->length = len;
    r->output = out;
    return op(a, JCS__PLAN__OP__OP_RANGE, r);
}

static Jcs__Plan__Op *o_join(struct arena *a, size_t n, const int32_t *ins, int32_t out)
{
    Jcs__Plan__Join *j = A(a, sizeof(*j));
    jcs__plan__join__init(j);
    j->n_inputs = n;
    j->inputs = I(a, n, ins);
    j->output = out;
    return op(a, JCS__PLAN__OP__OP_JOIN, j);
}

static Jcs__Plan__Op *o_clone(struct arena *a, int32_t in, size_t n, const int32_t *outs)
{
    Jcs__Plan__Clone *c = A(a, sizeof(*c));
    jcs__plan__clone__init(c);
    c->input = in;
    c->n_outputs = n;
    c->outputs = I(a, n, outs);
    return op(a, JCS__PLAN__OP__OP_CLONE, c);
}

static Jcs__Plan__Op *o_send(struct arena *a, int32_t in, int64_t hub, int32_t rvar)
{
    Jcs__Plan__SendStream *s = A(a, sizeof(*s));
    jcs__plan__send_stream__init(s);
    s->input = in;
    s->to = worker(a, hub);
    s->remote_var = rvar;
    return op(a, JCS__PLAN__OP__OP_SEND_STREAM, s);
}

static Jcs__Plan__Op *o_get(struct arena *a, int64_t hub, int32_t rvar, int32_t out)
{
    Jcs__Plan__GetStream *g = A(a, sizeof(*g));
    jcs__plan__get_stream__init(g);
    g->from = worker(a, hub);
    g->remote_var = rvar;
    g->output = out;
    return op(a, JCS__PLAN__OP__OP_GET_STREAM, g);
}

static Jcs__Plan__Op *o_sendvar(struct arena *a, int32_t in, int64_t hub, int32_t rvar)
{
    Jcs__Plan__SendVar *s = A(a, sizeof(*s));
    jcs__plan__send_var__init(s);
    s->input = in;
    s->to = worker(a, hub);
    s->remote_var = rvar;
    return op(a, JCS__PLAN__OP__OP_SEND_VAR, s);
}

static Jcs__Plan__Op *o_getvar(struct arena *a, int64_t hub, int32_t rvar, int32_t out)
{
    Jcs__Plan__GetVar *g = A(a, sizeof(*g));
    jcs__plan__get_var__init(g);
    g->from = worker(a, hub);
    g->remote_var = rvar;
    g->output = out;
    return op(a, JCS__PLAN__OP__OP_GET_VAR, g);
}

/* ---------------------------------------------------------------- world */

#define MAX_SPACES 16
#define MAX_EXECS  8

struct world {
    pthread_mutex_t lock;
    char root[512];
    struct arena a;
    struct {
        int64_t id;
        jcs_storage *st;
        jcs_shardstore *ss;
        char root[600];
    } sp[MAX_SPACES];
    int nsp;
    struct {
        int64_t hub;
        jcs_exec *e;
    } ex[MAX_EXECS];
    int nex;
    char plan[40];
    jcs_exec_env env;
    int64_t fail_hub;       /* push to this hub breaks ... */
    uint64_t fail_after;    /* ... after this many bytes */
    int fail_delay_ms;      /* ... and reports it this late (its source pipe fails at once) */
    atomic_int pushes_done; /* pushes that reached the end of their stream */
};

static int world_seq;

static struct world *W(void *ctx)
{
    return ctx;
}

static int env_open_space(void *ctx, const Jcs__Plan__Space *space, jcs_shardstore **out)
{
    struct world *w = W(ctx);
    int rc = 0;
    pthread_mutex_lock(&w->lock);
    int i;
    for (i = 0; i < w->nsp; i++)
        if (w->sp[i].id == space->space_id)
            break;
    if (i == w->nsp) {
        if (w->nsp == MAX_SPACES) {
            rc = jcs_err_set(JCS_ETOOBIG, "test world: too many spaces");
        } else {
            snprintf(w->sp[i].root, sizeof(w->sp[i].root), "%s", space->root);
            struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL,
                                             .local_root = w->sp[i].root};
            rc = jcs_storage_open(&cfg, &w->sp[i].st);
            if (rc == 0 && (rc = jcs_shardstore_open(w->sp[i].st, &w->sp[i].ss)) != 0)
                jcs_storage_close(w->sp[i].st);
            if (rc == 0) {
                w->sp[i].id = space->space_id;
                w->nsp++;
            }
        }
    }
    if (rc == 0)
        *out = w->sp[i].ss;
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static jcs_exec *world_find(struct world *w, int64_t hub)
{
    jcs_exec *e = NULL;
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->nex; i++)
        if (w->ex[i].hub == hub)
            e = w->ex[i].e;
    pthread_mutex_unlock(&w->lock);
    return e;
}

static int env_push(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                    jcs_pipe *src)
{
    struct world *w = W(ctx);
    jcs_exec *t = world_find(w, to->hub_id);
    int rc;
    if (!t || strcmp(plan_id, jcs_exec_plan_id(t)) != 0) {
        rc = jcs_err_set(JCS_EUNAVAIL, "hub %lld: no such worker", (long long)to->hub_id);
        jcs_pipe_abort(src, rc);
        return rc;
    }
    jcs_pipe *dst;
    if ((rc = jcs_exec_input(t, var, &dst))) {
        jcs_pipe_abort(src, rc);
        return rc;
    }
    uint64_t sent = 0;
    jcs_chunk c;
    while ((rc = jcs_pipe_read(src, &c)) == 0) {
        if (to->hub_id == w->fail_hub && sent + c.len > w->fail_after) {
            jcs_pipe_release(src, &c);
            /* The connection breaks: both ends see it. */
            rc = JCS_EUNAVAIL;
            jcs_pipe_abort(src, rc);
            jcs_pipe_close(dst, rc);
            jcs_sleep_ms(w->fail_delay_ms);
            return jcs_err_set(rc, "hub %lld: connection reset after %llu bytes (test)",
                               (long long)to->hub_id, (unsigned long long)sent);
        }
        rc = jcs_pipe_write(dst, c.data, c.len);
        sent += c.len;
        jcs_pipe_release(src, &c);
        if (rc) {
            /* The target failed: the call ends with its error. */
            const char *m = jcs_exec_error_msg(t);
            rc = jcs_err_set(rc, "hub %lld: %s", (long long)to->hub_id, m ? m : "stopped");
            jcs_pipe_abort(src, rc);
            return rc;
        }
    }
    if (rc == JCS_EOF) {
        jcs_pipe_close(dst, 0);
        atomic_fetch_add(&w->pushes_done, 1);
        return 0;
    }
    jcs_pipe_close(dst, rc);
    return rc;
}

static int env_pull(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                    jcs_pipe *dst)
{
    struct world *w = W(ctx);
    jcs_exec *s = world_find(w, from->hub_id);
    if (!s || strcmp(plan_id, jcs_exec_plan_id(s)) != 0)
        return jcs_err_set(JCS_EUNAVAIL, "hub %lld: no such worker", (long long)from->hub_id);
    jcs_pipe *src;
    int rc = jcs_exec_output(s, var, &src);
    if (rc)
        return rc;
    jcs_chunk c;
    while ((rc = jcs_pipe_read(src, &c)) == 0) {
        rc = jcs_pipe_write(dst, c.data, c.len);
        jcs_pipe_release(src, &c);
        if (rc) {
            jcs_pipe_abort(src, rc);
            return rc;
        }
    }
    if (rc == JCS_EOF)
        return 0;
    const char *m = jcs_exec_error_msg(s);
    return jcs_err_set(rc, "hub %lld: %s", (long long)from->hub_id, m ? m : "failed");
}

static Jcs__Plan__Value *value_copy(const Jcs__Plan__Value *v)
{
    size_t n = jcs__plan__value__get_packed_size(v);
    uint8_t *buf = jcs_malloc(n + 1);
    if (!buf)
        return NULL;
    jcs__plan__value__pack(v, buf);
    Jcs__Plan__Value *c = jcs__plan__value__unpack(NULL, n, buf);
    jcs_free(buf);
    return c;
}

static int env_push_value(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                          const Jcs__Plan__Value *value)
{
    jcs_exec *t = world_find(W(ctx), to->hub_id);
    if (!t)
        return jcs_err_set(JCS_EUNAVAIL, "hub %lld: no such worker", (long long)to->hub_id);
    Jcs__Plan__Value *c = value_copy(value);
    if (!c)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    return jcs_exec_put_value(t, var, c);
}

static int env_pull_value(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id,
                          int32_t var, Jcs__Plan__Value **out)
{
    jcs_exec *s = world_find(W(ctx), from->hub_id);
    if (!s)
        return jcs_err_set(JCS_EUNAVAIL, "hub %lld: no such worker", (long long)from->hub_id);
    return jcs_exec_get_value(s, var, 10000, out);
}

/* A new world; pipe_chunk/depth 0: the defaults. */
static struct world *world_new(size_t pipe_chunk, unsigned depth)
{
    struct world *w = jcs_calloc(1, sizeof(*w));
    if (!w)
        abort();
    pthread_mutex_init(&w->lock, NULL);
    char rel[32];
    snprintf(rel, sizeof(rel), "world%d", ++world_seq);
    t_path(w->root, sizeof(w->root), rel);
    w->env = (jcs_exec_env){.ctx = w,
                            .open_space = env_open_space,
                            .push = env_push,
                            .pull = env_pull,
                            .push_value = env_push_value,
                            .pull_value = env_pull_value,
                            .chunk_size = pipe_chunk,
                            .depth = depth};
    w->fail_hub = -1;
    return w;
}

/* The space message for space id (its directory is in the world's root). */
static Jcs__Plan__Space *space(struct world *w, int64_t id)
{
    Jcs__Plan__Space *s = A(&w->a, sizeof(*s));
    jcs__plan__space__init(s);
    s->space_id = id;
    s->type = S(&w->a, "local");
    char root[600];
    snprintf(root, sizeof(root), "%s/space%lld", w->root, (long long)id);
    s->root = S(&w->a, root);
    return s;
}

/* Ends the current plan (its executors must be done) and starts plan `plan`. */
static void world_plan(struct world *w, const char *plan)
{
    for (int i = 0; i < w->nex; i++)
        jcs_exec_free(w->ex[i].e);
    w->nex = 0;
    snprintf(w->plan, sizeof(w->plan), "%s", plan);
    atomic_store(&w->pushes_done, 0);
}

/* The executor of worker hub in the current plan, made on first use. */
static jcs_exec *world_exec(struct world *w, int64_t hub)
{
    jcs_exec *e = world_find(w, hub);
    if (e)
        return e;
    if (w->nex == MAX_EXECS || jcs_exec_new(&w->env, w->plan, &e) != 0)
        abort();
    pthread_mutex_lock(&w->lock);
    w->ex[w->nex].hub = hub;
    w->ex[w->nex].e = e;
    w->nex++;
    pthread_mutex_unlock(&w->lock);
    return e;
}

static void world_free(struct world *w)
{
    world_plan(w, "");
    for (int i = 0; i < w->nsp; i++) {
        jcs_shardstore_close(w->sp[i].ss);
        jcs_storage_close(w->sp[i].st);
    }
    arena_free(&w->a);
    t_rmtree(w->root);
    pthread_mutex_destroy(&w->lock);
    jcs_free(w);
}

/* The shardstore of space id, opened if needed. */
static jcs_shardstore *store(struct world *w, int64_t id)
{
    jcs_shardstore *ss;
    if (env_open_space(w, space(w, id), &ss) != 0)
        abort();
    return ss;
}

static int count_one(void *arg, const struct jcs_shard_info *info)
{
    (void)info;
    (*(int *)arg)++;
    return 0;
}

/* Shards stored over all spaces opened so far; -1 on a listing error. */
static int world_shards(struct world *w)
{
    int n = 0;
    for (int i = 0; i < w->nsp; i++)
        if (jcs_shardstore_list(w->sp[i].ss, count_one, &n) != 0)
            return -1;
    return n;
}

/* Temp files over all spaces after reclaim(0); -1 on an error. */
static int world_tmp_after_reclaim(struct world *w)
{
    int n = 0;
    for (int i = 0; i < w->nsp; i++) {
        if (jcs_shardstore_reclaim(w->sp[i].ss, 0, NULL) != 0)
            return -1;
        char p[700];
        snprintf(p, sizeof(p), "%s/tmp", w->sp[i].root);
        DIR *d = opendir(p);
        if (!d)
            return -1;
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            n += de->d_name[0] != '.';
        closedir(d);
    }
    return n;
}

struct shard_buf {
    uint8_t *p;
    size_t n, cap;
};

static int buf_sink(void *arg, const void *data, size_t len)
{
    struct shard_buf *b = arg;
    if (b->n + len > b->cap) {
        size_t nc = (b->n + len) * 2;
        uint8_t *np = jcs_realloc(b->p, nc);
        if (!np)
            return JCS_ENOMEM;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

/* -------------------------------------------------------------- running */

struct runner {
    struct world *w;
    jcs_exec *e;
    const Jcs__Plan__Fragment *f;
    int rc;
    char msg[1024];
    pthread_t th;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    r->rc = jcs_exec_run(r->e, r->f);
    if (r->rc) {
        snprintf(r->msg, sizeof(r->msg), "%s", jcs_err_msg(r->rc));
        /* The driver cancels the whole plan on the first error. */
        struct world *w = r->w;
        pthread_mutex_lock(&w->lock);
        for (int i = 0; i < w->nex; i++)
            jcs_exec_cancel(w->ex[i].e, r->rc);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

/* Starts every fragment on its worker's executor. */
static void start(struct world *w, struct runner *r, Jcs__Plan__Fragment **f, int n)
{
    for (int i = 0; i < n; i++) {
        r[i] = (struct runner){.w = w, .e = world_exec(w, f[i]->worker->hub_id), .f = f[i]};
        pthread_create(&r[i].th, NULL, runner_main, &r[i]);
    }
}

static void join(struct runner *r, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(r[i].th, NULL);
}

/* An outside end of a var: a feeder (the upload) or a drainer (the download). */
struct io {
    jcs_exec *e;
    int32_t var;
    const uint8_t *data; /* feeder */
    size_t len;
    int forever; /* feeder: keep writing until the pipe fails */
    atomic_uint_least64_t fed;
    uint8_t *out; /* drainer */
    size_t outlen, outcap;
    int rc; /* 0, or the error that stopped it */
    pthread_t th;
};

static const size_t io_sizes[] = {1, 4093, 65537, 7, 300000, 65536, 1000003, 13};

static void *feed_main(void *arg)
{
    struct io *io = arg;
    jcs_pipe *p;
    io->rc = jcs_exec_input(io->e, io->var, &p);
    if (io->rc) {
        /* Nobody will feed the var: the plan cannot go on (as a driver does). */
        jcs_exec_fail(io->e, io->rc, "upload var %d: %s", io->var, jcs_err_msg(io->rc));
        return NULL;
    }
    size_t pos = 0;
    for (unsigned i = 0; io->rc == 0 && (pos < io->len || io->forever); i++) {
        size_t n = io_sizes[i % (sizeof(io_sizes) / sizeof(io_sizes[0]))];
        if (io->forever) {
            n = n > io->len ? io->len : n;
            io->rc = jcs_pipe_write(p, io->data, n);
        } else {
            n = n > io->len - pos ? io->len - pos : n;
            io->rc = jcs_pipe_write(p, io->data + pos, n);
        }
        pos += n;
        atomic_store(&io->fed, pos);
    }
    jcs_pipe_close(p, io->rc);
    return NULL;
}

static void *drain_main(void *arg)
{
    struct io *io = arg;
    jcs_pipe *p;
    io->rc = jcs_exec_output(io->e, io->var, &p);
    if (io->rc) {
        jcs_exec_fail(io->e, io->rc, "download var %d: %s", io->var, jcs_err_msg(io->rc));
        return NULL;
    }
    jcs_chunk c;
    while ((io->rc = jcs_pipe_read(p, &c)) == 0) {
        if (io->outlen + c.len > io->outcap) {
            size_t nc = (io->outlen + c.len) * 2;
            uint8_t *np = jcs_realloc(io->out, nc);
            if (!np) {
                io->rc = JCS_ENOMEM;
                jcs_pipe_release(p, &c);
                jcs_pipe_abort(p, io->rc);
                return NULL;
            }
            io->out = np;
            io->outcap = nc;
        }
        memcpy(io->out + io->outlen, c.data, c.len);
        io->outlen += c.len;
        jcs_pipe_release(p, &c);
    }
    if (io->rc == JCS_EOF)
        io->rc = 0;
    return NULL;
}

static void feed(struct io *io, jcs_exec *e, int32_t var, const uint8_t *data, size_t len)
{
    *io = (struct io){.e = e, .var = var, .data = data, .len = len};
    pthread_create(&io->th, NULL, feed_main, io);
}

static void drain(struct io *io, jcs_exec *e, int32_t var)
{
    *io = (struct io){.e = e, .var = var};
    pthread_create(&io->th, NULL, drain_main, io);
}

static void io_join(struct io *io)
{
    pthread_join(io->th, NULL);
}

static void io_free(struct io *io)
{
    jcs_free(io->out);
    io->out = NULL;
}

/* Test data: a fixed pseudo-random stream. */
static uint8_t *make_data(size_t n, unsigned seed)
{
    uint8_t *d = jcs_malloc(n + 1);
    uint32_t x = seed * 2654435761u + 12345;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        d[i] = (uint8_t)(x >> 24);
    }
    return d;
}

/* The ShardInfo value of var on e (right now), or NULL with a reason in why. */
static Jcs__Plan__Value *shard_value(jcs_exec *e, int32_t var)
{
    Jcs__Plan__Value *v = NULL;
    if (jcs_exec_get_value(e, var, 0, &v) != 0)
        return NULL;
    if (v->value_case != JCS__PLAN__VALUE__VALUE_SHARD) {
        protobuf_c_message_free_unpacked(&v->base, NULL);
        return NULL;
    }
    return v;
}

static void vfree(Jcs__Plan__Value *v)
{
    if (v)
        protobuf_c_message_free_unpacked(&v->base, NULL);
}

/* ---------------------------------------------------- shards, one worker */

TEST(shard_write_then_read_back)
{
    struct world *w = world_new(64 << 10, 3);
    const size_t size = (1 << 20) + 12345;
    uint8_t *data = make_data(size, 1);
    char want[JCS_HASH_SIZE];
    T_OK(jcs_hash_buf(data, size, want));

    /* Upload: the driver feeds var 1 on hub 1; the ShardInfo also goes to
     * the driver's executor by SendVar. */
    world_plan(w, "11111111111111111111111111111111");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_write(&w->a, space(w, 7), 1, 2));
    add(f, o_sendvar(&w->a, 2, 0, 5));
    result(f, 2);
    jcs_exec *drv = world_exec(w, 0);
    struct runner r;
    struct io in;
    start(w, &r, &f, 1);
    feed(&in, r.e, 1, data, size);
    io_join(&in);
    join(&r, 1);
    T_EQ_INT(in.rc, 0);
    T_ASSERT(r.rc == 0, "(%s)", r.msg);
    Jcs__Plan__Value *v = shard_value(r.e, 2);
    T_ASSERT(v != NULL);
    char got[JCS_HASH_SIZE];
    snprintf(got, sizeof(got), "%s", v->shard->file_hash);
    int64_t got_size = v->shard->size;
    vfree(v);
    T_EQ_STR(got, want);
    T_ASSERT(jcs_hash_valid(got) && strncmp(got, "Full", 4) == 0, "(%s)", got);
    T_EQ_INT(got_size, size);
    Jcs__Plan__Value *dv = NULL;
    T_OK(jcs_exec_get_value(drv, 5, 1000, &dv));
    T_EQ_STR(dv->shard->file_hash, want);
    vfree(dv);
    struct jcs_shard_info info;
    T_OK(jcs_shardstore_stat(store(w, 7), want, &info));
    T_EQ_INT(info.size, size);

    /* Download, whole and ranged (ShardRead offset/length), with an odd pipe chunk. */
    const int64_t ranges[][2] = {
        {0, -1}, {1000, 5000}, {65536, 65536}, {(int64_t)size - 3, -1}, {(int64_t)size, -1},
        {17, 0}};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        char plan[33];
        snprintf(plan, sizeof(plan), "2222222222222222222222222222222%zu", i);
        world_plan(w, plan);
        f = frag(&w->a, w->plan, 1);
        add(f, o_read(&w->a, space(w, 7), want, ranges[i][0], ranges[i][1], 3));
        struct io out;
        start(w, &r, &f, 1);
        drain(&out, r.e, 3);
        io_join(&out);
        join(&r, 1);
        T_ASSERT(r.rc == 0, "(range %zu: %s)", i, r.msg);
        T_EQ_INT(out.rc, 0);
        size_t off = (size_t)ranges[i][0];
        size_t len = ranges[i][1] < 0 ? size - off : (size_t)ranges[i][1];
        T_EQ_INT(out.outlen, len);
        T_ASSERT(len == 0 || memcmp(out.out, data + off, len) == 0, "(range %zu)", i);
        io_free(&out);
    }
    jcs_free(data);
    world_free(w);
}

/* ---------------------------------------------------------- EC (4, 6) */

#define K 4
#define N 6

/* The blocks jcs_ec_encode makes directly: each ceil(size/(K*chunk))*chunk bytes. */
static uint8_t **expected_blocks(const uint8_t *data, size_t size, size_t chunk, size_t *blen)
{
    size_t strips = (size + K * chunk - 1) / (K * chunk);
    *blen = strips * chunk;
    uint8_t **b = jcs_calloc(N, sizeof(*b));
    for (int i = 0; i < N; i++)
        b[i] = jcs_calloc(1, *blen + 1);
    struct jcs_ec *ec;
    if (jcs_ec_new(K, N, &ec) != 0)
        abort();
    for (size_t s = 0; s < strips; s++) {
        unsigned char *d[K], *p[N - K];
        for (int i = 0; i < K; i++) {
            size_t at = (s * K + (size_t)i) * chunk;
            if (at < size)
                memcpy(b[i] + s * chunk, data + at, size - at < chunk ? size - at : chunk);
            d[i] = b[i] + s * chunk;
        }
        for (int i = 0; i < N - K; i++)
            p[i] = b[K + i] + s * chunk;
        jcs_ec_encode(ec, chunk, d, p);
    }
    jcs_ec_free(ec);
    return b;
}

static void free_blocks(uint8_t **b)
{
    for (int i = 0; i < N; i++)
        jcs_free(b[i]);
    jcs_free(b);
}

/* Block b lives on hub b%3+1, in space 10+b. */
#define HUB(b) ((int64_t)((b) % 3 + 1))

/*
 * The encode plan: driver (hub 0) gets the object on var 1, splits it into
 * data vars 10..13, clones each to 20+i (sent) and 30+i (ECMultiply), the
 * parity rows come out on 24 and 25; block b is sent to var 100+b of its
 * hub, whose ShardWrite puts its ShardInfo in var 200+b. Returns the
 * number of fragments (4).
 */
static int encode_plan(struct world *w, int64_t chunk, Jcs__Plan__Fragment **f)
{
    struct arena *a = &w->a;
    f[0] = frag(a, w->plan, 0);
    add(f[0], o_split(a, 1, chunk, 1, V(10, 11, 12, 13)));
    for (int i = 0; i < K; i++)
        add(f[0], o_clone(a, 10 + i, V(20 + i, 30 + i)));
    add(f[0], o_ec(a, K, N, chunk, V(0, 1, 2, 3), V(30, 31, 32, 33), V(4, 5), V(24, 25)));
    for (int b = 0; b < N; b++)
        add(f[0], o_send(a, 20 + b, HUB(b), 100 + b));
    for (int h = 1; h <= 3; h++) {
        f[h] = frag(a, w->plan, h);
        for (int b = 0; b < N; b++)
            if (HUB(b) == h) {
                add(f[h], o_write(a, space(w, 10 + b), 100 + b, 200 + b));
                result(f[h], 200 + b);
            }
    }
    return 4;
}

/* Runs the encode plan on data; fills hashes[b]. */
static void run_encode(struct world *w, const char *plan, const uint8_t *data, size_t size,
                       int64_t chunk, struct runner *r, struct io *in)
{
    world_plan(w, plan);
    Jcs__Plan__Fragment *f[4];
    int nf = encode_plan(w, chunk, f);
    for (int i = 0; i < nf; i++)
        world_exec(w, f[i]->worker->hub_id); /* all exist before any push */
    start(w, r, f, nf);
    feed(in, r[0].e, 1, data, size);
    io_join(in);
    join(r, nf);
}

/*
 * The decode plan from survivors surv[0..3]: hub of block b reads it into
 * var 300+b; the driver pulls them into 40..43, ECMultiply makes data rows
 * 0..3 on 50..53, ChunkedJoin gives 60, Range(off, len) gives 61.
 */
static int decode_plan(struct world *w, int64_t chunk, const int *surv, char hashes[N][80],
                       int64_t off, int64_t len, Jcs__Plan__Fragment **f)
{
    struct arena *a = &w->a;
    f[0] = frag(a, w->plan, 0);
    int32_t rows[K], ins[K];
    for (int j = 0; j < K; j++) {
        rows[j] = surv[j];
        ins[j] = 40 + j;
        add(f[0], o_get(a, HUB(surv[j]), 300 + surv[j], 40 + j));
    }
    add(f[0], o_ec(a, K, N, chunk, K, rows, K, ins, V(0, 1, 2, 3), V(50, 51, 52, 53)));
    add(f[0], o_cjoin(a, chunk, V(50, 51, 52, 53), 60));
    add(f[0], o_range(a, 60, off, len, 61));
    for (int h = 1; h <= 3; h++) {
        f[h] = frag(a, w->plan, h);
        for (int j = 0; j < K; j++)
            if (HUB(surv[j]) == h)
                add(f[h], o_read(a, space(w, 10 + surv[j]), hashes[surv[j]], 0, -1, 300 + surv[j]));
    }
    return 4;
}

/* Decodes [off, off+len) and compares it with data. 0, or a line saying what differs. */
static const char *run_decode(struct world *w, const char *plan, const uint8_t *data, size_t size,
                              int64_t chunk, const int *surv, char hashes[N][80], int64_t off,
                              int64_t len)
{
    static char why[1200];
    world_plan(w, plan);
    Jcs__Plan__Fragment *f[4];
    /* "To the end" is the object's end: the blocks' padding is not data. */
    int nf = decode_plan(w, chunk, surv, hashes, off, len < 0 ? (int64_t)size - off : len, f);
    for (int i = 0; i < nf; i++)
        world_exec(w, f[i]->worker->hub_id);
    struct runner r[4];
    struct io out;
    start(w, r, f, nf);
    drain(&out, r[0].e, 61);
    io_join(&out);
    join(r, nf);
    why[0] = '\0';
    size_t want = off >= (int64_t)size ? 0 : size - (size_t)off;
    if (len >= 0 && (size_t)len < want)
        want = (size_t)len;
    for (int i = 0; i < nf && !why[0]; i++)
        if (r[i].rc)
            snprintf(why, sizeof(why), "hub %lld: %s", (long long)f[i]->worker->hub_id, r[i].msg);
    if (!why[0] && out.rc)
        snprintf(why, sizeof(why), "drain: %s", jcs_err_name(out.rc));
    if (!why[0] && out.outlen != want)
        snprintf(why, sizeof(why), "got %zu bytes, want %zu", out.outlen, want);
    if (!why[0] && want && memcmp(out.out, data + off, want) != 0)
        snprintf(why, sizeof(why), "bytes differ");
    io_free(&out);
    return why[0] ? why : NULL;
}

/* Encode, check the shards against jcs_ec_encode, decode from {1,3,4,5}. */
static void ec_roundtrip(size_t size, int64_t chunk, size_t pipe_chunk, unsigned seed)
{
    struct world *w = world_new(pipe_chunk, pipe_chunk && pipe_chunk < 32768 ? 2 : 4);
    uint8_t *data = make_data(size, seed);
    struct runner r[4];
    struct io in;
    run_encode(w, "e0000000000000000000000000000001", data, size, chunk, r, &in);
    T_EQ_INT(in.rc, 0);
    for (int i = 0; i < 4; i++)
        T_ASSERT(r[i].rc == 0, "(size %zu, fragment %d: %s)", size, i, r[i].msg);
    size_t blen;
    uint8_t **blk = expected_blocks(data, size, (size_t)chunk, &blen);
    char hashes[N][80];
    int bad = -1;
    const char *why = "";
    for (int b = 0; b < N && bad < 0; b++) {
        jcs_exec *e = world_find(w, HUB(b));
        Jcs__Plan__Value *v = shard_value(e, 200 + b);
        char want[JCS_HASH_SIZE];
        if (jcs_hash_buf(blk[b], blen, want) != 0)
            abort();
        if (!v) {
            bad = b;
            why = "no ShardInfo";
            break;
        }
        snprintf(hashes[b], sizeof(hashes[b]), "%s", v->shard->file_hash);
        if (strcmp(hashes[b], want) != 0 || v->shard->size != (int64_t)blen) {
            bad = b;
            why = "hash or size differs from jcs_ec_encode's block";
        }
        vfree(v);
        /* The stored bytes themselves. */
        struct shard_buf sb = {0};
        if (bad < 0 && (jcs_shardstore_read(store(w, 10 + b), hashes[b], 0, JCS_STORAGE_TO_END,
                                            buf_sink, &sb) != 0 ||
                        sb.n != blen || (blen && memcmp(sb.p, blk[b], blen) != 0))) {
            bad = b;
            why = "stored bytes differ";
        }
        jcs_free(sb.p);
    }
    free_blocks(blk);
    T_ASSERT(bad < 0, "(size %zu, block %d: %s)", size, bad, why);
    T_EQ_INT(world_shards(w), N); /* one per space */

    const int surv[K] = {1, 3, 4, 5};
    why = run_decode(w, "d0000000000000000000000000000001", data, size, chunk, surv, hashes, 0,
                     (int64_t)size);
    T_ASSERT(why == NULL, "(size %zu: %s)", size, why);
    jcs_free(data);
    world_free(w);
}

TEST(ec_roundtrip_edge_sizes)
{
    const int64_t chunk = 64 << 10;
    const size_t sizes[] = {0, 1, chunk - 1, chunk, chunk + 1, K * chunk + 17};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ec_roundtrip(sizes[i], chunk, 0, (unsigned)i + 10);
        if (t_failed())
            return;
    }
}

TEST(ec_roundtrip_many_strips)
{
    /* 3 MiB in 64 KiB chunks: 12 strips; pipe chunks of 40000 bytes, so
     * chunk boundaries and pipe chunk boundaries never line up. */
    ec_roundtrip((3u << 20) + 5, 64 << 10, 40000, 77);
}

TEST(ec_chunk_bigger_than_pipes)
{
    /* 256 KiB EC chunks through pipes that buffer 2 x 16 KiB: ECMultiply
     * must take each input's chunk whole while the splitter deals them. */
    ec_roundtrip(3 * K * (256 << 10) + 100, 256 << 10, 16 << 10, 5);
}

TEST(ec_decode_ranges_at_strip_boundaries)
{
    const int64_t chunk = 16 << 10, strip = K * chunk;
    const size_t size = 10 * (size_t)strip + 999;
    struct world *w = world_new(16 << 10, 4);
    uint8_t *data = make_data(size, 3);
    struct runner r[4];
    struct io in;
    run_encode(w, "e0000000000000000000000000000002", data, size, chunk, r, &in);
    for (int i = 0; i < 4; i++)
        T_ASSERT(r[i].rc == 0, "(fragment %d: %s)", i, r[i].msg);
    char hashes[N][80];
    for (int b = 0; b < N; b++) {
        Jcs__Plan__Value *v = shard_value(world_find(w, HUB(b)), 200 + b);
        T_ASSERT(v != NULL);
        snprintf(hashes[b], sizeof(hashes[b]), "%s", v->shard->file_hash);
        vfree(v);
    }
    const int64_t ranges[][2] = {{2 * strip, strip}, {strip - 1, 2},    {strip, -1},
                                 {0, strip},         {chunk, chunk},    {(int64_t)size - 1, 1},
                                 {9 * strip, 1000},  {3 * strip + 5, 0}};
    const int survs[2][K] = {{1, 3, 4, 5}, {0, 1, 2, 3}};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        char plan[33];
        snprintf(plan, sizeof(plan), "d00000000000000000000000000000%02zu", i);
        const char *why = run_decode(w, plan, data, size, chunk, survs[i % 2], hashes, ranges[i][0],
                                     ranges[i][1]);
        T_ASSERT(why == NULL, "(range %lld+%lld: %s)", (long long)ranges[i][0],
                 (long long)ranges[i][1], why);
    }
    jcs_free(data);
    world_free(w);
}

/* --------------------------------------------------------- stream ops */

/* One fragment on hub 1 fed on in_vars and drained on out_vars; returns run's rc. */
static int run_local(struct world *w, Jcs__Plan__Fragment *f, const int32_t *in_vars,
                     const uint8_t *const *in_data, const size_t *in_len, int nin,
                     const int32_t *out_vars, struct io *outs, int nout, char *msg, size_t msglen)
{
    struct runner r;
    struct io ins[8];
    start(w, &r, &f, 1);
    for (int i = 0; i < nin; i++)
        feed(&ins[i], r.e, in_vars[i], in_data[i], in_len[i]);
    for (int i = 0; i < nout; i++)
        drain(&outs[i], r.e, out_vars[i]);
    for (int i = 0; i < nin; i++)
        io_join(&ins[i]);
    for (int i = 0; i < nout; i++)
        io_join(&outs[i]);
    join(&r, 1);
    snprintf(msg, msglen, "%s", r.msg);
    return r.rc;
}

TEST(range_passes_its_bytes_and_drains_the_rest)
{
    const size_t size = 300000;
    uint8_t *data = make_data(size, 4);
    const int64_t ranges[][2] = {{0, -1}, {5, 10},       {65536, 65536}, {(int64_t)size, -1},
                                 {0, 0},  {size + 9, 5}, {299990, 100}};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        struct world *w = world_new(65536, 2);
        world_plan(w, "r0000000000000000000000000000000");
        Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
        add(f, o_range(&w->a, 1, ranges[i][0], ranges[i][1], 2));
        struct io out;
        char msg[1024];
        const uint8_t *d = data;
        int rc = run_local(w, f, L(1), &d, &size, 1, L(2), &out, 1, msg, sizeof(msg));
        size_t off = (size_t)ranges[i][0] < size ? (size_t)ranges[i][0] : size;
        size_t want = size - off;
        if (ranges[i][1] >= 0 && (size_t)ranges[i][1] < want)
            want = (size_t)ranges[i][1];
        int same = out.outlen == want && (want == 0 || memcmp(out.out, data + off, want) == 0);
        io_free(&out);
        world_free(w);
        T_ASSERT(rc == 0, "(range %zu: %s)", i, msg);
        T_ASSERT(same, "(range %zu)", i);
    }
    jcs_free(data);
}

TEST(join_concatenates_in_order)
{
    struct world *w = world_new(4096, 2);
    world_plan(w, "j0000000000000000000000000000000");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_join(&w->a, V(3, 1, 2), 9));
    uint8_t *a = make_data(100000, 1), *b = make_data(1, 2);
    const uint8_t *d[3] = {a, b, a + 5};
    const size_t len[3] = {100000, 0, 33333};
    struct io out;
    char msg[1024];
    int rc = run_local(w, f, L(1, 2, 3), d, len, 3, L(9), &out, 1, msg, sizeof(msg));
    T_ASSERT(rc == 0, "(%s)", msg);
    /* Order of Join's inputs: var 3, then 1, then 2 (empty). */
    T_EQ_INT(out.outlen, 33333 + 100000);
    T_ASSERT(memcmp(out.out, a + 5, 33333) == 0);
    T_ASSERT(memcmp(out.out + 33333, a, 100000) == 0);
    io_free(&out);
    jcs_free(a);
    jcs_free(b);
    world_free(w);
}

TEST(clone_to_three_consumers)
{
    struct world *w = world_new(8192, 2);
    world_plan(w, "c0000000000000000000000000000000");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_clone(&w->a, 1, V(2, 3, 4)));
    const size_t size = 500001;
    uint8_t *data = make_data(size, 9);
    const uint8_t *d = data;
    struct io out[3];
    char msg[1024];
    int rc = run_local(w, f, L(1), &d, &size, 1, L(2, 3, 4), out, 3, msg, sizeof(msg));
    T_ASSERT(rc == 0, "(%s)", msg);
    for (int i = 0; i < 3; i++) {
        T_EQ_INT(out[i].outlen, size);
        T_ASSERT(memcmp(out[i].out, data, size) == 0, "(consumer %d)", i);
        io_free(&out[i]);
    }
    jcs_free(data);
    world_free(w);
}

TEST(split_without_pad_and_chunked_join_invert)
{
    const size_t size = 10007, chunk = 1000;
    uint8_t *data = make_data(size, 6);
    /* Split alone: output i holds chunks i, i+3, ...; unpadded, so sizes differ. */
    struct world *w = world_new(512, 2);
    world_plan(w, "s0000000000000000000000000000000");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_split(&w->a, 1, (int64_t)chunk, 0, V(2, 3, 4)));
    const uint8_t *d = data;
    struct io out[3];
    char msg[1024];
    int rc = run_local(w, f, L(1), &d, &size, 1, L(2, 3, 4), out, 3, msg, sizeof(msg));
    T_ASSERT(rc == 0, "(%s)", msg);
    const size_t want[3] = {4000, 3007, 3000};
    for (int i = 0; i < 3; i++) {
        T_EQ_INT(out[i].outlen, want[i]);
        for (size_t c = 0; c * chunk < out[i].outlen; c++) {
            size_t at = (c * 3 + (size_t)i) * chunk;
            size_t n = out[i].outlen - c * chunk < chunk ? out[i].outlen - c * chunk : chunk;
            T_ASSERT(memcmp(out[i].out + c * chunk, data + at, n) == 0, "(output %d chunk %zu)", i,
                     c);
        }
        io_free(&out[i]);
    }
    world_free(w);

    /* With padding: every output gets ceil(size / 3000) * 1000 bytes, zeros at the end. */
    w = world_new(512, 2);
    world_plan(w, "s0000000000000000000000000000001");
    f = frag(&w->a, w->plan, 1);
    add(f, o_split(&w->a, 1, (int64_t)chunk, 1, V(2, 3, 4)));
    rc = run_local(w, f, L(1), &d, &size, 1, L(2, 3, 4), out, 3, msg, sizeof(msg));
    T_ASSERT(rc == 0, "(%s)", msg);
    for (int i = 0; i < 3; i++) {
        T_EQ_INT(out[i].outlen, 4000);
        size_t real = want[i];
        for (size_t j = real; j < 4000; j++)
            T_ASSERT(out[i].out[j] == 0, "(output %d byte %zu)", i, j);
        io_free(&out[i]);
    }
    world_free(w);

    /* Split then ChunkedJoin is the identity. */
    w = world_new(333, 3);
    world_plan(w, "s0000000000000000000000000000002");
    f = frag(&w->a, w->plan, 1);
    add(f, o_split(&w->a, 1, (int64_t)chunk, 0, V(2, 3, 4)));
    add(f, o_cjoin(&w->a, (int64_t)chunk, V(2, 3, 4), 5));
    rc = run_local(w, f, L(1), &d, &size, 1, L(5), out, 1, msg, sizeof(msg));
    T_ASSERT(rc == 0, "(%s)", msg);
    T_EQ_INT(out[0].outlen, size);
    T_ASSERT(memcmp(out[0].out, data, size) == 0);
    io_free(&out[0]);
    world_free(w);
    jcs_free(data);
}

TEST(ec_inputs_of_unequal_length_fail)
{
    struct world *w = world_new(4096, 2);
    world_plan(w, "u0000000000000000000000000000000");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_ec(&w->a, 2, 3, 4096, V(0, 1), V(1, 2), V(2), V(3)));
    uint8_t *a = make_data(10000, 1);
    const uint8_t *d[2] = {a, a};
    const size_t len[2] = {10000, 9990};
    struct io out;
    char msg[1024];
    int rc = run_local(w, f, L(1, 2), d, len, 2, L(3), &out, 1, msg, sizeof(msg));
    T_EQ_INT(rc, JCS_ECORRUPT);
    T_ASSERT(strstr(msg, "ECMultiply") && strstr(msg, "ended after 9990 bytes"), "(%s)", msg);
    T_EQ_INT(out.rc, JCS_ECORRUPT);
    io_free(&out);
    jcs_free(a);
    world_free(w);
}

/* ------------------------------------------------------------ failures */

TEST(missing_shard_fails_every_worker)
{
    struct world *w = world_new(0, 0);
    world_plan(w, "f0000000000000000000000000000001");
    char missing[JCS_HASH_SIZE];
    T_OK(jcs_hash_buf("nothing stored", 14, missing));
    Jcs__Plan__Fragment *f[2];
    f[0] = frag(&w->a, w->plan, 1);
    add(f[0], o_read(&w->a, space(w, 10), missing, 0, -1, 1));
    add(f[0], o_send(&w->a, 1, 2, 100));
    f[1] = frag(&w->a, w->plan, 2);
    add(f[1], o_write(&w->a, space(w, 11), 100, 200));
    result(f[1], 200);
    world_exec(w, 1);
    world_exec(w, 2);
    struct runner r[2];
    start(w, r, f, 2);
    join(r, 2);
    T_EQ_INT(r[0].rc, JCS_ENOENT);
    T_EQ_INT(r[1].rc, JCS_ENOENT);
    T_ASSERT(strncmp(r[0].msg, "ShardRead space 10 ", 19) == 0, "(%s)", r[0].msg);
    T_ASSERT(strstr(r[0].msg, missing) != NULL, "(%s)", r[0].msg);
    store(w, 11);
    T_EQ_INT(world_shards(w), 0);
    T_EQ_INT(world_tmp_after_reclaim(w), 0);
    /* The result was never produced, and asking for it says why. */
    Jcs__Plan__Value *v;
    T_EQ_INT(jcs_exec_get_value(world_find(w, 2), 200, 0, &v), JCS_ENOENT);
    world_free(w);
}

TEST(push_target_failing_mid_stream)
{
    struct world *w = world_new(64 << 10, 4);
    w->fail_hub = 3;
    w->fail_after = 200 << 10;
    const size_t size = 6u << 20;
    uint8_t *data = make_data(size, 8);
    struct runner r[4];
    struct io in;
    run_encode(w, "f0000000000000000000000000000002", data, size, 64 << 10, r, &in);
    /* Every worker fails with the error (which one each reports first
     * depends on timing across workers: the local case is below). */
    for (int i = 0; i < 4; i++)
        T_EQ_INT(r[i].rc, JCS_EUNAVAIL);
    T_EQ_INT(in.rc, JCS_EUNAVAIL);
    T_ASSERT(atomic_load(&in.fed) < size, "(the upload was not stopped)");
    for (int b = 0; b < N; b++)
        store(w, 10 + b);
    T_EQ_INT(world_shards(w), 0);
    T_EQ_INT(world_tmp_after_reclaim(w), 0);
    jcs_free(data);
    world_free(w);
}

TEST(the_cause_is_reported_not_its_consequence)
{
    struct world *w = world_new(16 << 10, 2);
    /* The push to hub 9 breaks and fails its source pipe at once, but
     * reports why only 50 ms later: the Clone feeding it sees "reader
     * stopped" first, yet the run must report the push's error. */
    w->fail_hub = 9;
    w->fail_after = 0; /* nothing reads hub 9's end: break on the first chunk */
    w->fail_delay_ms = 50;
    world_plan(w, "f0000000000000000000000000000005");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_clone(&w->a, 1, V(2, 3)));
    add(f, o_send(&w->a, 2, 9, 7));
    add(f, o_write(&w->a, space(w, 10), 3, 20));
    world_exec(w, 9); /* the target exists: only the connection breaks */
    const size_t size = 2u << 20;
    uint8_t *data = make_data(size, 12);
    struct runner r;
    struct io in;
    start(w, &r, &f, 1);
    feed(&in, r.e, 1, data, size);
    io_join(&in);
    join(&r, 1);
    T_EQ_INT(r.rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(r.msg, "SendStream to hub 9 var 7: hub 9: connection reset"), "(%s)", r.msg);
    T_ASSERT(strstr(jcs_exec_error_msg(r.e), "connection reset"), "(%s)", jcs_exec_error_msg(r.e));
    T_EQ_INT(world_shards(w), 0);
    T_EQ_INT(world_tmp_after_reclaim(w), 0);
    jcs_free(data);
    world_free(w);
}

TEST(cancel_from_another_thread_mid_stream)
{
    struct world *w = world_new(64 << 10, 2);
    world_plan(w, "f0000000000000000000000000000003");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_clone(&w->a, 1, V(2, 3)));
    add(f, o_write(&w->a, space(w, 10), 2, 20));
    add(f, o_range(&w->a, 3, 0, -1, 4));
    add(f, o_write(&w->a, space(w, 11), 4, 21));
    uint8_t *data = make_data(1 << 20, 2);
    struct runner r;
    start(w, &r, &f, 1);
    struct io in = {.e = r.e, .var = 1, .data = data, .len = 1 << 20, .forever = 1};
    pthread_create(&in.th, NULL, feed_main, &in);
    /* An endless upload: wait until it is well under way, then cancel. */
    while (atomic_load(&in.fed) < (4u << 20))
        jcs_sleep_ms(1);
    jcs_exec_cancel(r.e, JCS_ECANCELED);
    jcs_exec_cancel(r.e, JCS_EIO); /* the first error stays */
    io_join(&in);
    join(&r, 1);
    T_EQ_INT(r.rc, JCS_ECANCELED);
    T_ASSERT(strstr(r.msg, "cancelled"), "(%s)", r.msg);
    T_EQ_INT(in.rc, JCS_ECANCELED);
    T_EQ_INT(jcs_exec_error(r.e), JCS_ECANCELED);
    T_ASSERT(strstr(jcs_exec_error_msg(r.e), "cancelled"));
    T_EQ_INT(world_shards(w), 0);
    T_EQ_INT(world_tmp_after_reclaim(w), 0);
    jcs_free(data);
    world_free(w);
}

TEST(outside_consumer_stopping_fails_the_plan)
{
    struct world *w = world_new(4096, 2);
    world_plan(w, "f0000000000000000000000000000004");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_clone(&w->a, 1, V(2, 3)));
    add(f, o_write(&w->a, space(w, 10), 3, 20));
    uint8_t *data = make_data(1 << 20, 2);
    struct runner r;
    start(w, &r, &f, 1);
    struct io in;
    feed(&in, r.e, 1, data, 1 << 20);
    /* The download stops after its first chunk (a client that went away). */
    jcs_pipe *p;
    T_OK(jcs_exec_output(r.e, 2, &p));
    jcs_chunk c;
    T_OK(jcs_pipe_read(p, &c));
    jcs_pipe_release(p, &c);
    jcs_pipe_abort(p, JCS_EUNAVAIL);
    io_join(&in);
    join(&r, 1);
    T_EQ_INT(r.rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(r.msg, "Clone"), "(%s)", r.msg);
    T_EQ_INT(world_shards(w), 0);
    T_EQ_INT(world_tmp_after_reclaim(w), 0);
    jcs_free(data);
    world_free(w);
}

/* ---------------------------------------------------------- validation */

/* Runs f on a fresh executor; returns run's rc, its detail in msg. */
static int run_bad(struct world *w, Jcs__Plan__Fragment *f, char *msg, size_t len)
{
    jcs_exec *e;
    if (jcs_exec_new(&w->env, "v0000000000000000000000000000000", &e) != 0)
        abort();
    int rc = jcs_exec_run(e, f);
    snprintf(msg, len, "%s", jcs_err_msg(rc));
    jcs_exec_free(e);
    return rc;
}

TEST(bad_fragments_are_refused_naming_the_op)
{
    struct world *w = world_new(0, 0);
    struct arena *a = &w->a;
    const char *plan = "v0000000000000000000000000000000";
    char h[JCS_HASH_SIZE];
    T_OK(jcs_hash_buf("x", 1, h));
    struct {
        Jcs__Plan__Fragment *f;
        const char *want1, *want2;
    } cases[25];
    int n = 0;
#define CASE(w1, w2)                                                                               \
    cases[n].f = frag(a, plan, 1);                                                                 \
    cases[n].want1 = w1;                                                                           \
    cases[n].want2 = w2;                                                                           \
    n++;
    CASE("op 0 (unknown op)", "unknown op kind 0");
    add(cases[n - 1].f, op(a, JCS__PLAN__OP__OP__NOT_SET, NULL));
    CASE("op 1 (ECMultiply)", "k 7 n 6");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 2));
    add(cases[n - 1].f, o_ec(a, 7, 6, 4096, V(0, 1), V(2, 3), V(4), V(5)));
    CASE("ECMultiply", "1 inputs and 2 input_rows for k 2");
    add(cases[n - 1].f, o_ec(a, 2, 3, 4096, V(0, 1), V(2), V(2), V(5)));
    CASE("ECMultiply", "2 outputs and 1 output_rows");
    add(cases[n - 1].f, o_ec(a, 2, 3, 4096, V(0, 1), V(1, 2), V(2), V(5, 6)));
    CASE("ECMultiply", "input row 1 given twice");
    add(cases[n - 1].f, o_ec(a, 2, 3, 4096, V(1, 1), V(1, 2), V(2), V(5)));
    CASE("ECMultiply", "output row 3 out of range");
    add(cases[n - 1].f, o_ec(a, 2, 3, 4096, V(0, 1), V(1, 2), V(3), V(5)));
    /* An lrc multiply whose groups (3 + 3 blocks) exceed the n - 2 = 3 before their parities. */
    CASE("ECMultiply", "lrc groups do not fit k 2 n 5 (2 groups)");
    {
        Jcs__Plan__Op *o = o_ec(a, 2, 5, 4096, V(0), V(1), V(2), V(5));
        o->ec_multiply->n_groups = 2;
        o->ec_multiply->groups = I(a, 2, (const int32_t[]){3, 3});
        add(cases[n - 1].f, o);
    }
    CASE("ChunkedSplit", "chunk_size 0 out of range");
    add(cases[n - 1].f, o_split(a, 1, 0, 1, V(2, 3)));
    CASE("ChunkedJoin", "chunk_size -5 out of range");
    add(cases[n - 1].f, o_cjoin(a, -5, V(2, 3), 4));
    CASE("Range", "offset -1");
    add(cases[n - 1].f, o_range(a, 1, -1, 5, 2));
    CASE("op 1 (Clone)", "var 2 has 2 producers");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 2));
    add(cases[n - 1].f, o_clone(a, 3, V(2, 4)));
    CASE("Clone", "var 2 has 2 producers");
    add(cases[n - 1].f, o_clone(a, 1, V(2, 2)));
    CASE("op 1 (Range)", "stream var 1 has 2 consumers");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 2));
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 3));
    CASE("Range", "var 1 is both input and output");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 1));
    CASE("Range", "var -3: negative");
    add(cases[n - 1].f, o_range(a, -3, 0, -1, 1));
    CASE("ShardWrite space -1", "no space");
    add(cases[n - 1].f, o_write(a, NULL, 1, 2));
    CASE("ShardRead space 1", "is not a FileHash");
    add(cases[n - 1].f, o_read(a, space(w, 1), "Fullabc", 0, -1, 2));
    CASE("op 1 (ShardWrite space 1)", "used both as a stream and as a value");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 2));
    add(cases[n - 1].f, o_write(a, space(w, 1), 3, 2));
    CASE("ShardWrite space 2", "var 5 has 2 producers");
    add(cases[n - 1].f, o_write(a, space(w, 1), 3, 5));
    add(cases[n - 1].f, o_write(a, space(w, 2), 4, 5));
    CASE("result var 2 is not a value var", "");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 2));
    result(cases[n - 1].f, 2);
    CASE("SendStream", "no target worker");
    add(cases[n - 1].f, o_send(a, 1, 2, 3));
    cases[n - 1].f->ops[0]->send_stream->to = NULL;
    /* Ops that wait on each other would hold their threads until the plan is cancelled. */
    CASE("(Range)", "wait on each other in a cycle");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 2));
    add(cases[n - 1].f, o_range(a, 2, 0, -1, 1));
    CASE("(Range)", "wait on each other in a cycle");
    add(cases[n - 1].f, o_range(a, 1, 0, -1, 2));
    add(cases[n - 1].f, o_clone(a, 2, V(3, 4)));
    add(cases[n - 1].f, o_send(a, 4, 2, 3));
    add(cases[n - 1].f, o_range(a, 3, 0, -1, 1));
#undef CASE
    for (int i = 0; i < n; i++) {
        char msg[1024];
        int rc = run_bad(w, cases[i].f, msg, sizeof(msg));
        T_ASSERT(rc == JCS_EINVAL, "(case %d: %s: %s)", i, jcs_err_name(rc), msg);
        T_ASSERT(strstr(msg, cases[i].want1) && strstr(msg, cases[i].want2),
                 "(case %d: \"%s\" does not say \"%s\" ... \"%s\")", i, msg, cases[i].want1,
                 cases[i].want2);
    }
    world_free(w);
}

TEST(bad_fragment_runs_nothing)
{
    struct world *w = world_new(0, 0);
    world_plan(w, "v0000000000000000000000000000001");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_write(&w->a, space(w, 10), 1, 2));
    add(f, o_split(&w->a, 3, 4096, 1, V(4, 4)));
    jcs_exec *e = world_exec(w, 1);
    /* The upload attached before the fragment arrived. */
    jcs_pipe *in, *again;
    T_OK(jcs_exec_input(e, 1, &in));
    int rc = jcs_exec_input(e, 1, &again);
    T_EQ_INT(rc, JCS_EINVAL); /* one producer per var */
    T_ASSERT(strstr(jcs_err_msg(rc), "var 1 already has a producer"), "(%s)", jcs_err_msg(rc));
    rc = jcs_exec_run(e, f);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "op 1 (ChunkedSplit): var 4 has 2 producers"), "(%s)",
             jcs_err_msg(rc));
    /* The uploader is stopped with the same error, and nothing was written. */
    T_EQ_INT(jcs_pipe_write(in, "abc", 3), JCS_EINVAL);
    jcs_pipe_close(in, 0);
    T_EQ_INT(jcs_exec_error(e), JCS_EINVAL);
    store(w, 10);
    T_EQ_INT(world_shards(w), 0);
    T_EQ_INT(world_tmp_after_reclaim(w), 0);
    T_EQ_INT(jcs_exec_run(e, f), JCS_EINVAL); /* once only */
    world_free(w);
}

TEST(outside_attachment_conflicts_with_fragment)
{
    struct world *w = world_new(0, 0);
    world_plan(w, "v0000000000000000000000000000002");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_range(&w->a, 1, 0, -1, 2));
    jcs_exec *e = world_exec(w, 1);
    jcs_pipe *p;
    T_OK(jcs_exec_output(e, 1, &p)); /* someone else already drains var 1 */
    int rc = jcs_exec_run(e, f);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "stream var 1 has 2 consumers"), "(%s)", jcs_err_msg(rc));
    world_free(w);

    /* A stream pushed before the fragment came that no op reads fails the
     * run (its pusher would wait forever)... */
    w = world_new(0, 0);
    world_plan(w, "v0000000000000000000000000000003");
    f = frag(&w->a, w->plan, 1);
    add(f, o_range(&w->a, 1, 0, -1, 2));
    e = world_exec(w, 1);
    T_OK(jcs_exec_input(e, 9, &p));
    rc = jcs_exec_run(e, f);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "var 9 is fed from outside but no op reads it"), "(%s)",
             jcs_err_msg(rc));
    T_EQ_INT(jcs_pipe_write(p, "x", 1), JCS_EINVAL);
    world_free(w);

    /* ... and once the fragment is known, such a stream is refused at once. */
    w = world_new(0, 0);
    world_plan(w, "v0000000000000000000000000000004");
    f = frag(&w->a, w->plan, 1);
    add(f, o_range(&w->a, 1, 0, -1, 2));
    e = world_exec(w, 1);
    struct io in, out;
    struct runner r;
    start(w, &r, &f, 1);
    feed(&in, e, 1, (const uint8_t *)"abc", 3);
    drain(&out, e, 2);
    io_join(&in);
    io_join(&out);
    join(&r, 1);
    T_ASSERT(r.rc == 0, "(%s)", r.msg);
    T_EQ_INT(out.outlen, 3);
    io_free(&out);
    rc = jcs_exec_input(e, 9, &p);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "var 9: no op of the fragment reads it"), "(%s)",
             jcs_err_msg(rc));
    rc = jcs_exec_output(e, 5, &p);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "var 5: no op of the fragment writes it"), "(%s)",
             jcs_err_msg(rc));
    world_free(w);
}

/* -------------------------------------------------------------- values */

TEST(value_vars_put_get_send_and_fetch)
{
    struct world *w = world_new(0, 0);
    world_plan(w, "a0000000000000000000000000000001");
    /* Hub 1 fetches var 7 from hub 2 into its var 8 and sends it to var 9 on hub 3. */
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    add(f, o_getvar(&w->a, 2, 7, 8));
    add(f, o_sendvar(&w->a, 8, 3, 9));
    result(f, 8);
    jcs_exec *e2 = world_exec(w, 2), *e3 = world_exec(w, 3);
    Jcs__Plan__Value *v = jcs_malloc(sizeof(*v));
    jcs__plan__value__init(v);
    v->value_case = JCS__PLAN__VALUE__VALUE_TEXT;
    v->text = jcs_strdup("hello, value");
    T_OK(jcs_exec_put_value(e2, 7, v));
    /* A second value for the same var is refused (and freed). */
    Jcs__Plan__Value *v2 = jcs_malloc(sizeof(*v2));
    jcs__plan__value__init(v2);
    v2->value_case = JCS__PLAN__VALUE__VALUE_NUMBER;
    v2->number = 5;
    int rc = jcs_exec_put_value(e2, 7, v2);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "var 7: value already set"), "(%s)", jcs_err_msg(rc));
    struct runner r;
    start(w, &r, &f, 1);
    join(&r, 1);
    T_ASSERT(r.rc == 0, "(%s)", r.msg);
    Jcs__Plan__Value *got;
    T_OK(jcs_exec_get_value(e3, 9, 5000, &got));
    T_EQ_INT(got->value_case, JCS__PLAN__VALUE__VALUE_TEXT);
    T_EQ_STR(got->text, "hello, value");
    vfree(got);
    T_OK(jcs_exec_get_value(r.e, 8, 0, &got));
    T_EQ_STR(got->text, "hello, value");
    vfree(got);
    /* A var nobody sets times out; a stream var is no value. */
    rc = jcs_exec_get_value(e3, 10, 20, &got);
    T_EQ_INT(rc, JCS_ETIMEOUT);
    T_ASSERT(strstr(jcs_err_msg(rc), "var 10: no value after 20 ms"), "(%s)", jcs_err_msg(rc));
    jcs_pipe *p;
    T_OK(jcs_exec_input(e3, 11, &p));
    T_EQ_INT(jcs_exec_get_value(e3, 11, 0, &got), JCS_EINVAL);
    /* A waiter wakes up when the executor fails. */
    jcs_exec_cancel(e3, JCS_ECANCELED);
    T_EQ_INT(jcs_exec_get_value(e3, 12, -1, &got), JCS_ECANCELED);
    /* A value set before the failure is still there. */
    T_OK(jcs_exec_get_value(e3, 9, 0, &got));
    vfree(got);
    world_free(w);
}

TEST(result_never_set_fails_the_run)
{
    struct world *w = world_new(0, 0);
    world_plan(w, "a0000000000000000000000000000002");
    Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
    result(f, 4);
    struct runner r;
    start(w, &r, &f, 1);
    join(&r, 1);
    T_EQ_INT(r.rc, JCS_EINVAL);
    T_ASSERT(strstr(r.msg, "result var 4 has no value"), "(%s)", r.msg);
    world_free(w);
}

/* ------------------------------------------------------ out of memory */

TEST(allocation_failures_fail_cleanly)
{
    /* Every allocation of a run fails in turn: the run ends (no hang, no
     * leak) with JCS_ENOMEM, or succeeds with the right bytes. */
    const size_t size = 50000;
    uint8_t *data = make_data(size, 21);
    int ok = 0, nomem = 0;
    for (long n = 0; n < 400 && ok < 3; n++) {
        struct world *w = world_new(4096, 2);
        char plan[33];
        snprintf(plan, sizeof(plan), "m%031ld", n);
        world_plan(w, plan);
        Jcs__Plan__Fragment *f = frag(&w->a, w->plan, 1);
        add(f, o_split(&w->a, 1, 1000, 1, V(2, 3)));
        add(f, o_ec(&w->a, 2, 3, 1000, V(0, 1), V(2, 3), V(2, 0), V(4, 5)));
        add(f, o_write(&w->a, space(w, 10), 4, 6));
        add(f, o_cjoin(&w->a, 1000, V(5), 7));
        store(w, 10);
        world_exec(w, 1);
        const uint8_t *d = data;
        struct io out;
        char msg[1024];
        jcs_alloc_fail_after(n);
        int rc = run_local(w, f, L(1), &d, &size, 1, L(7), &out, 1, msg, sizeof(msg));
        jcs_alloc_fail_after(-1);
        /* Output 5 is row 0 (data chunks 0, 2, 4, ...) padded to whole strips. */
        int right = rc == 0 && out.rc == 0 && out.outlen == 25000;
        for (size_t c = 0; right && c < 25; c++)
            right = memcmp(out.out + c * 1000, data + c * 2000, 1000) == 0;
        io_free(&out);
        world_free(w);
        T_ASSERT(rc == 0 || rc == JCS_ENOMEM, "(failing after %ld: %s: %s)", n, jcs_err_name(rc),
                 msg);
        T_ASSERT(rc != 0 || right, "(failing after %ld: wrong bytes)", n);
        ok += rc == 0;
        nomem += rc == JCS_ENOMEM;
    }
    jcs_free(data);
    T_ASSERT(ok > 0 && nomem > 10, "(%d runs succeeded, %d ran out of memory)", ok, nomem);
}
