/*
 * test_plan_e2e.c - plans built by the planner, run by the executor, bytes
 * compared with the source every time.
 *
 * The world: one executor per worker of a plan, all in this process. The
 * env connects them directly by Worker.hub_id: push writes into
 * jcs_exec_input of the target's executor, pull reads jcs_exec_output of
 * the source's. Space 100+i (hub i) is a local shard store under the
 * binary's scratch directory. The driver's code is played by threads that
 * feed from_vars and drain driver to_vars.
 *
 * Expected bytes come from a reference layout computed here with the codec
 * (ec.h) directly: block i = chunk i of every strip (the last strip
 * zero-padded), parity via jcs_ec_encode. Every written shard is read back
 * from its store and compared with the reference.
 *
 * A plan that stops making progress (a deadlock between bounded pipes) is
 * cancelled by a watchdog after WATCHDOG_S seconds and reported as such;
 * this is a hang detector, not a speed check.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "ec.h"
#include "err.h"
#include "hash.h"
#include "exec.h"
#include "plan.h"
#include "shardstore.h"
#include "storage.h"
#include "t.h"
#include "t_plan.h"
#include "t_tmpdir.h"

#define WATCHDOG_S 60
#define MAX_EXEC   (T_NHUBS + 1)

/* ---- the world ---- */

static struct world {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready;
    struct {
        int64_t id;
        jcs_storage *st;
        jcs_shardstore *ss;
    } sp[T_NHUBS];
    int nsp;
    struct {
        int64_t hub;
        jcs_exec *e;
    } ex[MAX_EXEC];
    int nex;
    jcs_exec_env env;
} G = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int env_open_space(void *ctx, const Jcs__Plan__Space *space, jcs_shardstore **out)
{
    (void)ctx;
    int rc = 0, i;
    pthread_mutex_lock(&G.lock);
    for (i = 0; i < G.nsp; i++)
        if (G.sp[i].id == space->space_id)
            break;
    if (i == G.nsp) {
        struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL, .local_root = space->root};
        if (G.nsp == T_NHUBS) {
            rc = jcs_err_set(JCS_ETOOBIG, "test world: too many spaces");
        } else if ((rc = jcs_storage_open(&cfg, &G.sp[i].st)) == 0) {
            if ((rc = jcs_shardstore_open(G.sp[i].st, &G.sp[i].ss)) != 0) {
                jcs_storage_close(G.sp[i].st);
            } else {
                G.sp[i].id = space->space_id;
                G.nsp++;
            }
        }
    }
    if (rc == 0)
        *out = G.sp[i].ss;
    pthread_mutex_unlock(&G.lock);
    return rc;
}

static jcs_exec *find_exec(int64_t hub)
{
    jcs_exec *e = NULL;
    pthread_mutex_lock(&G.lock);
    for (int i = 0; i < G.nex; i++)
        if (G.ex[i].hub == hub)
            e = G.ex[i].e;
    pthread_mutex_unlock(&G.lock);
    return e;
}

/* Fails every executor of the plan: what a real driver does on the first error. */
static void cancel_all(int err)
{
    pthread_mutex_lock(&G.lock);
    for (int i = 0; i < G.nex; i++)
        jcs_exec_cancel(G.ex[i].e, err);
    pthread_mutex_unlock(&G.lock);
}

static int env_push(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                    jcs_pipe *src)
{
    (void)ctx;
    jcs_exec *t = find_exec(to->hub_id);
    jcs_pipe *dst;
    int rc;
    if (!t || strcmp(plan_id, jcs_exec_plan_id(t)) != 0)
        rc = jcs_err_set(JCS_EUNAVAIL, "hub %lld: no such worker", (long long)to->hub_id);
    else
        rc = jcs_exec_input(t, var, &dst);
    if (rc) {
        jcs_pipe_abort(src, rc);
        return rc;
    }
    jcs_chunk c;
    while ((rc = jcs_pipe_read(src, &c)) == 0) {
        rc = jcs_pipe_write(dst, c.data, c.len);
        jcs_pipe_release(src, &c);
        if (rc) {
            jcs_pipe_abort(src, rc);
            return rc;
        }
    }
    jcs_pipe_close(dst, rc == JCS_EOF ? 0 : rc);
    return rc == JCS_EOF ? 0 : rc;
}

static int env_pull(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                    jcs_pipe *dst)
{
    (void)ctx;
    jcs_exec *s = find_exec(from->hub_id);
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
    return rc == JCS_EOF ? 0 : rc;
}

/* The planner makes no value edges; a plan that asks for one is a bug. */
static int env_push_value(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                          const Jcs__Plan__Value *value)
{
    return jcs_err_set(JCS_EINTERNAL, "test world: unexpected SendVar v%d", var);
}

static int env_pull_value(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id,
                          int32_t var, Jcs__Plan__Value **out)
{
    return jcs_err_set(JCS_EINTERNAL, "test world: unexpected GetVar v%d", var);
}

static void world_init(size_t pipe_chunk, unsigned depth)
{
    if (!G.ready) {
        char dir[512];
        t_path(dir, sizeof(dir), "spaces");
        t_plan_set_root(dir);
        G.ready = 1;
    }
    G.env = (jcs_exec_env){.open_space = env_open_space,
                           .push = env_push,
                           .pull = env_pull,
                           .push_value = env_push_value,
                           .pull_value = env_pull_value,
                           .chunk_size = pipe_chunk,
                           .depth = depth};
}

__attribute__((destructor)) static void world_close(void)
{
    for (int i = 0; i < G.nsp; i++) {
        jcs_shardstore_close(G.sp[i].ss);
        jcs_storage_close(G.sp[i].st);
    }
}

/* ---- running a plan ---- */

typedef struct result {
    uint8_t *data; /* driver To: the bytes drained (caller frees) */
    size_t len;
    char hash[JCS_HASH_SIZE]; /* shard To */
    int64_t size;
} result;

struct job {
    enum { J_FRAG, J_FEED, J_DRAIN } kind;
    pthread_t th;
    int rc;
    char why[512];
    jcs_exec *e;
    const Jcs__Plan__Fragment *frag;
    int32_t var;
    const uint8_t *src;
    size_t srclen;
    result *out;
};

static int done_jobs;
static struct job *first_failed; /* the job whose error cancelled the others */

static int feed(struct job *j)
{
    jcs_pipe *p;
    int rc = jcs_exec_input(j->e, j->var, &p);
    if (rc)
        return rc;
    /* Odd pieces, so no write lines up with a pipe chunk or an EC chunk. */
    for (size_t off = 0; off < j->srclen;) {
        size_t n = j->srclen - off < 7777 ? j->srclen - off : 7777;
        if ((rc = jcs_pipe_write(p, j->src + off, n)) != 0) {
            jcs_pipe_close(p, rc);
            return rc;
        }
        off += n;
    }
    jcs_pipe_close(p, 0);
    return 0;
}

static int drain(struct job *j)
{
    jcs_pipe *p;
    int rc = jcs_exec_output(j->e, j->var, &p);
    if (rc)
        return rc;
    size_t cap = 0;
    jcs_chunk c;
    while ((rc = jcs_pipe_read(p, &c)) == 0) {
        if (j->out->len + c.len > cap) {
            size_t nc = (j->out->len + c.len) * 2;
            uint8_t *d = jcs_realloc(j->out->data, nc);
            if (!d) {
                jcs_pipe_release(p, &c);
                jcs_pipe_abort(p, JCS_ENOMEM);
                return JCS_ENOMEM;
            }
            j->out->data = d;
            cap = nc;
        }
        memcpy(j->out->data + j->out->len, c.data, c.len);
        j->out->len += c.len;
        jcs_pipe_release(p, &c);
    }
    return rc == JCS_EOF ? 0 : rc;
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    if (j->kind == J_FRAG)
        j->rc = jcs_exec_run(j->e, j->frag);
    else if (j->kind == J_FEED)
        j->rc = feed(j);
    else
        j->rc = drain(j);
    if (j->rc) {
        snprintf(j->why, sizeof(j->why), "%s", jcs_err_msg(j->rc));
        cancel_all(j->rc);
    }
    pthread_mutex_lock(&G.lock);
    if (j->rc && !first_failed)
        first_failed = j;
    done_jobs++;
    pthread_cond_broadcast(&G.cond);
    pthread_mutex_unlock(&G.lock);
    return NULL;
}

static char run_err[1024];

/*
 * Runs p: src feeds the driver From(s), res[i] receives To i. Returns the
 * first error, with run_err describing it (and the plan).
 */
static int run_plan(const jcs_plan *p, const uint8_t *src, size_t srclen, result *res)
{
    struct job jobs[2 * MAX_EXEC + 2 * T_MAXEND];
    size_t nj = 0;
    int rc = 0;
    run_err[0] = 0;
    memset(res, 0, p->ntos * sizeof(*res));
    G.nex = 0;
    for (size_t i = 0; i < p->nfrags; i++) {
        jcs_exec *e;
        if ((rc = jcs_exec_new(&G.env, p->plan_id, &e)) != 0)
            goto out;
        G.ex[G.nex].hub = p->frags[i]->worker->hub_id;
        G.ex[G.nex++].e = e;
    }
    done_jobs = 0;
    first_failed = NULL;
    for (size_t i = 0; i < p->nfrags; i++)
        jobs[nj++] = (struct job){.kind = J_FRAG, .e = G.ex[i].e, .frag = p->frags[i]};
    jcs_exec *drv = p->driver_frag >= 0 ? G.ex[p->driver_frag].e : NULL;
    for (size_t i = 0; i < p->nfroms; i++)
        if (p->from_vars[i] >= 0)
            jobs[nj++] = (struct job){
                .kind = J_FEED, .e = drv, .var = p->from_vars[i], .src = src, .srclen = srclen};
    for (size_t i = 0; i < p->ntos; i++)
        if (drv && p->to_frags[i] == p->driver_frag)
            jobs[nj++] =
                (struct job){.kind = J_DRAIN, .e = drv, .var = p->to_vars[i], .out = &res[i]};
    size_t started = 0;
    for (; started < nj; started++)
        if (pthread_create(&jobs[started].th, NULL, job_main, &jobs[started]) != 0)
            break;
    if (started < nj)
        cancel_all(JCS_EIO);

    /* The watchdog: a plan that stops moving is a deadlock; cancel it to see where. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WATCHDOG_S;
    int hung = 0;
    pthread_mutex_lock(&G.lock);
    while (done_jobs < (int)started && !hung)
        hung = pthread_cond_timedwait(&G.cond, &G.lock, &dl) != 0 && done_jobs < (int)started;
    pthread_mutex_unlock(&G.lock);
    if (hung)
        cancel_all(JCS_ETIMEOUT);
    for (size_t i = 0; i < started; i++)
        pthread_join(jobs[i].th, NULL);
    if (started < nj) {
        rc = jcs_err_set(JCS_EIO, "cannot start a thread");
        goto out;
    }
    if (hung) {
        rc = JCS_ETIMEOUT;
        snprintf(run_err, sizeof(run_err), "plan did not finish in %d s: deadlock", WATCHDOG_S);
    } else if (first_failed) {
        /*
         * The root cause is the op that failed on its own; the others were
         * cancelled by it or only saw a pipe fail (which carries the code,
         * not the detail), in whatever order the threads ended.
         */
        struct job *root = first_failed;
        for (size_t i = 0; i < nj; i++)
            if (jobs[i].kind == J_FRAG && jobs[i].rc && !strstr(jobs[i].why, ": cancelled (") &&
                !strstr(jobs[i].why, "pipe: "))
                root = &jobs[i];
        rc = root->rc;
        snprintf(run_err, sizeof(run_err), "%s", root->why);
    }
    /* The ShardInfo of every shard To. */
    for (size_t i = 0; i < p->ntos && !rc; i++) {
        if (p->to_frags[i] == p->driver_frag)
            continue;
        Jcs__Plan__Value *v = NULL;
        if ((rc = jcs_exec_get_value(G.ex[p->to_frags[i]].e, p->to_vars[i], 0, &v)) != 0) {
            snprintf(run_err, sizeof(run_err), "to %zu: no result: %s", i, jcs_err_msg(rc));
            break;
        }
        if (v->value_case == JCS__PLAN__VALUE__VALUE_SHARD) {
            snprintf(res[i].hash, sizeof(res[i].hash), "%s", v->shard->file_hash);
            res[i].size = v->shard->size;
        }
        protobuf_c_message_free_unpacked(&v->base, NULL);
    }
out:
    for (int i = 0; i < G.nex; i++)
        jcs_exec_free(G.ex[i].e);
    G.nex = 0;
    if (rc && !run_err[0])
        snprintf(run_err, sizeof(run_err), "%s", jcs_err_msg(rc));
    return rc;
}

static void results_free(result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jcs_free(r[i].data);
}

/* ---- reference data ---- */

static uint8_t *gen(size_t n, uint32_t seed)
{
    uint8_t *d = jcs_malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        d[i] = (uint8_t)(x >> 24);
    }
    return d;
}

/* The n blocks of data under red (EC), each jcs_ec_block_size bytes. Caller frees. */
static uint8_t **ref_blocks(const jcs_redundancy *red, const uint8_t *data, size_t size)
{
    int k = red->k, n = red->n;
    size_t c = (size_t)red->chunk_size, bs = (size_t)jcs_ec_block_size(red, (int64_t)size);
    uint8_t **b = jcs_calloc((size_t)n, sizeof(*b));
    for (int i = 0; i < n; i++)
        b[i] = jcs_calloc(1, bs ? bs : 1);
    for (size_t s = 0; s * c < bs; s++) {
        unsigned char *in[JCS_EC_MAX_N], *par[JCS_EC_MAX_N];
        for (int i = 0; i < k; i++) {
            size_t off = s * (size_t)k * c + (size_t)i * c;
            if (off < size)
                memcpy(b[i] + s * c, data + off, size - off < c ? size - off : c);
            in[i] = b[i] + s * c;
        }
        for (int i = k; i < n; i++)
            par[i - k] = b[i] + s * c;
        struct jcs_ec *ec;
        if ((red->type == JCS_RED_LRC ? jcs_ec_new_lrc(k, n, red->groups, red->ngroups, &ec)
                                      : jcs_ec_new(k, n, &ec)) != 0)
            abort();
        jcs_ec_encode(ec, c, in, par);
        jcs_ec_free(ec);
    }
    return b;
}

static void blocks_free(uint8_t **b, int n)
{
    for (int i = 0; i < n; i++)
        jcs_free(b[i]);
    jcs_free(b);
}

struct sink {
    uint8_t *buf;
    size_t len, cap;
};

static int sink_fn(void *arg, const void *data, size_t len)
{
    struct sink *s = arg;
    if (s->len + len > s->cap)
        return JCS_ETOOBIG;
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

/*
 * "" when shard hash on hub's space holds exactly want[0..len), else why not.
 * Checks the hash the plan returned too.
 */
static const char *shard_is(int hub, const char *hash, int64_t size, const uint8_t *want,
                            size_t len)
{
    static char why[256];
    char h[JCS_HASH_SIZE];
    if (jcs_hash_buf(want, len, h) != 0)
        return "hash failed";
    if (strcmp(h, hash) != 0 || size != (int64_t)len) {
        snprintf(why, sizeof(why), "space %d: shard %.12s.. of %lld bytes, want %.12s.. of %zu",
                 100 + hub, hash, (long long)size, h, len);
        return why;
    }
    jcs_shardstore *ss;
    if (env_open_space(NULL, t_space(hub), &ss) != 0)
        return "cannot open space";
    struct sink s = {jcs_malloc(len + 1), 0, len + 1};
    int rc = jcs_shardstore_read(ss, hash, 0, JCS_STORAGE_TO_END, sink_fn, &s);
    int same = rc == 0 && s.len == len && (!len || memcmp(s.buf, want, len) == 0);
    jcs_free(s.buf);
    if (!same) {
        snprintf(why, sizeof(why), "space %d: shard %.12s.. reads back wrong (rc %d, %zu bytes)",
                 100 + hub, hash, rc, s.len);
        return why;
    }
    return "";
}

/* ---- helpers that build, run and check ---- */

static jcs_plan *P;
static result R[T_MAXEND];
static size_t NR;

static void reset(void)
{
    results_free(R, NR);
    memset(R, 0, sizeof(R));
    NR = 0;
    jcs_plan_free(P);
    P = NULL;
}

__attribute__((destructor)) static void reset_at_exit(void)
{
    reset();
}

/* Builds, checks and runs ft with src as the driver's upload; 0 or the first error. */
static int go(const jcs_fromto *ft, const uint8_t *src, size_t len, char *why, size_t whylen)
{
    reset();
    int rc = jcs_plan_build(ft, &P);
    if (rc) {
        snprintf(why, whylen, "build: %s", jcs_err_msg(rc));
        return rc;
    }
    const char *bad = t_plan_check(P, ft);
    if (bad) {
        snprintf(why, whylen, "check: %s", bad);
        return JCS_EINTERNAL;
    }
    NR = ft->ntos;
    rc = run_plan(P, src, len, R);
    if (rc) {
        char *d = jcs_plan_describe(P);
        snprintf(why, whylen, "run: %s\n%s", run_err, d ? d : "");
        jcs_free(d);
    }
    return rc;
}

#define GO(ft, src, len)                                                                           \
    do {                                                                                           \
        char _why[4096];                                                                           \
        int _rc = go((ft), (src), (len), _why, sizeof(_why));                                      \
        T_ASSERT(_rc == 0, "%s", _why);                                                            \
    } while (0)

/* Hashes of one object's stored pieces: raw copies and EC blocks. */
typedef struct stored {
    char raw[JCS_HASH_SIZE];
    char blk[JCS_EC_MAX_N][JCS_HASH_SIZE];
} stored;

/*
 * Uploads data under red: none/rep → raw copies on hubs 0.., ec → block i
 * on hub i. Checks every written shard against the reference. Fails the
 * test (returns 0) on any difference.
 */
static int upload(jcs_redundancy red, const uint8_t *data, size_t size, int known_size, stored *st)
{
    t_ft f;
    t_ft_init(&f, red, known_size ? (int64_t)size : -1);
    f.ft.compute = t_hub(0);
    t_from_driver(&f, JCS_STREAM_RAW);
    int copies = red.type == JCS_RED_REP ? red.rep_count : 1;
    if (jcs_red_coded(&red))
        for (int i = 0; i < red.n; i++)
            t_to_shard(&f, i, i);
    else
        for (int i = 0; i < copies; i++)
            t_to_shard(&f, JCS_STREAM_RAW, i);
    char why[4096];
    if (go(&f.ft, data, size, why, sizeof(why)) != 0) {
        t_fail(__FILE__, __LINE__, "upload of %zu bytes: %s", size, why);
        return 0;
    }
    uint8_t **b = jcs_red_coded(&red) ? ref_blocks(&red, data, size) : NULL;
    size_t bs = (size_t)jcs_ec_block_size(&red, (int64_t)size);
    for (size_t i = 0; i < f.ft.ntos; i++) {
        int s = f.tos[i].stream;
        const char *w =
            shard_is((int)i, R[i].hash, R[i].size, s < 0 ? data : b[s], s < 0 ? size : bs);
        if (*w) {
            t_fail(__FILE__, __LINE__, "upload of %zu bytes, to %zu: %s", size, i, w);
            if (b)
                blocks_free(b, red.n);
            return 0;
        }
        snprintf(s < 0 ? st->raw : st->blk[s], JCS_HASH_SIZE, "%s", R[i].hash);
    }
    if (b)
        blocks_free(b, red.n);
    return 1;
}

/* Downloads [off, off+len) from the listed blocks (block i on hub i) and compares. */
static int download_ec(jcs_redundancy red, const stored *st, const uint8_t *data, size_t size,
                       const int *blocks, int nb, int64_t off, int64_t len)
{
    t_ft f;
    t_ft_init(&f, red, (int64_t)size);
    for (int i = 0; i < nb; i++) {
        t_from_shard(&f, blocks[i], blocks[i]);
        f.froms[i].file_hash = st->blk[blocks[i]];
    }
    t_to_driver(&f, JCS_STREAM_RAW, off, len);
    char why[4096];
    if (go(&f.ft, NULL, 0, why, sizeof(why)) != 0) {
        t_fail(__FILE__, __LINE__, "download [%lld,+%lld) of %zu bytes from %d..: %s",
               (long long)off, (long long)len, size, blocks[0], why);
        return 0;
    }
    size_t want = len < 0 ? size - (size_t)off : (size_t)len;
    if (R[0].len != want || (want && memcmp(R[0].data, data + off, want) != 0)) {
        t_fail(__FILE__, __LINE__,
               "download [%lld,+%lld) of %zu bytes from blocks %d,%d..: got %zu bytes, %s",
               (long long)off, (long long)len, size, blocks[0], blocks[1], R[0].len,
               R[0].len == want ? "different" : "wrong length");
        return 0;
    }
    return 1;
}

/*
 * Each scenario runs twice: with the default pipes (1 MiB chunks, 4 deep)
 * and with tiny ones (1 KiB, 2 deep), smaller than the EC chunks, where
 * any op that waits for a whole chunk while a Clone is blocked would
 * deadlock.
 */
#define SCENARIO(name)                                                                             \
    static void name##_body(void);                                                                 \
    TEST(name)                                                                                     \
    {                                                                                              \
        static const struct {                                                                      \
            size_t chunk;                                                                          \
            unsigned depth;                                                                        \
        } pipes[] = {{0, 0}, {1024, 2}};                                                           \
        for (size_t _i = 0; _i < 2 && !t_failed(); _i++) {                                         \
            world_init(pipes[_i].chunk, pipes[_i].depth);                                          \
            name##_body();                                                                         \
        }                                                                                          \
    }                                                                                              \
    static void name##_body(void)

/* ---- uploads ---- */

SCENARIO(upload_none_and_rep_store_the_bytes)
{
    size_t sizes[] = {0, 1, 77777, 3 * 1024 * 1024 + 11};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *d = gen(sizes[i], (uint32_t)i);
        stored st;
        int ok = upload(t_none(), d, sizes[i], 0, &st) && upload(t_rep(3), d, sizes[i], 1, &st);
        jcs_free(d);
        if (!ok)
            return;
    }
}

SCENARIO(upload_ec23_and_ec46_of_many_sizes_matches_the_reference_layout)
{
    jcs_redundancy reds[] = {t_ec(2, 3, 4096), t_ec(4, 6, 1000)};
    for (int r = 0; r < 2; r++) {
        int64_t strip = reds[r].k * reds[r].chunk_size;
        int64_t sizes[] = {0,         1,     999,       reds[r].chunk_size,
                           strip - 1, strip, strip + 1, 7 * strip + 12345 % strip};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            uint8_t *d = gen((size_t)sizes[i], (uint32_t)(r * 100 + i));
            stored st;
            /* Sizes unknown to the planner (a streamed upload) and known. */
            int ok = upload(reds[r], d, (size_t)sizes[i], (int)(i & 1), &st);
            jcs_free(d);
            if (!ok)
                return;
        }
    }
}

/* ---- downloads ---- */

SCENARIO(download_ec23_from_every_survivor_pair_full_and_ranged)
{
    jcs_redundancy red = t_ec(2, 3, 4096);
    size_t size = 5 * 8192 + 1234;
    uint8_t *d = gen(size, 7);
    stored st;
    if (!upload(red, d, size, 1, &st)) {
        jcs_free(d);
        return;
    }
    int sets[][2] = {{0, 1}, {1, 0}, {0, 2}, {2, 0}, {1, 2}, {2, 1}};
    int64_t ranges[][2] = {
        {0, -1},                 /* all */
        {0, 1},                  /* first byte */
        {(int64_t)size - 1, 1},  /* last byte */
        {(int64_t)size - 1, -1}, /* last byte, to the end */
        {4095, 2},               /* across the chunk boundary inside strip 0 */
        {8192 - 3, 6},           /* across a strip boundary */
        {8192, 8192},            /* exactly strip 1 */
        {5000, 3 * 8192},        /* several strips */
        {5 * 8192, -1},          /* the short last strip */
        {(int64_t)size, 0},      /* empty, at the end */
        {100, 0},                /* empty, inside */
    };
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
        for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++)
            if (!download_ec(red, &st, d, size, sets[s], 2, ranges[r][0], ranges[r][1])) {
                jcs_free(d);
                return;
            }
    jcs_free(d);
}

SCENARIO(download_ec46_from_several_survivor_sets)
{
    jcs_redundancy red = t_ec(4, 6, 1000);
    size_t size = 9 * 4000 + 3333;
    uint8_t *d = gen(size, 8);
    stored st;
    if (!upload(red, d, size, 0, &st)) {
        jcs_free(d);
        return;
    }
    int sets[][4] = {{0, 1, 2, 3}, {2, 3, 4, 5}, {0, 2, 4, 5}, {5, 4, 1, 0}, {3, 5, 1, 4}};
    int64_t ranges[][2] = {{0, -1}, {0, 1}, {(int64_t)size - 1, 1}, {3999, 2}, {1500, 9000}};
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
        for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++)
            if (!download_ec(red, &st, d, size, sets[s], 4, ranges[r][0], ranges[r][1])) {
                jcs_free(d);
                return;
            }
    jcs_free(d);
}

SCENARIO(download_of_empty_objects)
{
    stored st;
    static const uint8_t none[1];
    T_ASSERT(upload(t_ec(2, 3, 4096), none, 0, 1, &st));
    int set[] = {2, 1};
    T_ASSERT(download_ec(t_ec(2, 3, 4096), &st, none, 0, set, 2, 0, -1));
    T_ASSERT(upload(t_none(), none, 0, 1, &st));
    t_ft f;
    t_ft_init(&f, t_none(), 0);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    f.froms[0].file_hash = st.raw;
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    GO(&f.ft, NULL, 0);
    T_EQ_INT(R[0].len, 0);
}

SCENARIO(download_raw_ranges)
{
    size_t size = 100001;
    uint8_t *d = gen(size, 9);
    stored st;
    int ok = upload(t_rep(2), d, size, 1, &st);
    int64_t ranges[][2] = {{0, -1}, {0, 1}, {100000, 1}, {100000, -1}, {777, 50000}, {size, 0}};
    for (size_t r = 0; ok && r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        t_ft f;
        t_ft_init(&f, t_rep(2), (int64_t)size);
        t_from_shard(&f, JCS_STREAM_RAW, 1);
        f.froms[0].file_hash = st.raw;
        t_to_driver(&f, JCS_STREAM_RAW, ranges[r][0], ranges[r][1]);
        char why[4096];
        ok = go(&f.ft, NULL, 0, why, sizeof(why)) == 0;
        size_t want = ranges[r][1] < 0 ? size - (size_t)ranges[r][0] : (size_t)ranges[r][1];
        if (!ok)
            t_fail(__FILE__, __LINE__, "range %zu: %s", r, why);
        else if (R[0].len != want || (want && memcmp(R[0].data, d + ranges[r][0], want) != 0))
            ok = 0, t_fail(__FILE__, __LINE__, "range %zu: wrong bytes (%zu)", r, R[0].len);
    }
    jcs_free(d);
}

/* ---- LRC ---- */

/*
 * Rebuilds block `lost` of an uploaded object from every other block (block i on hub i) onto
 * hub 15, checks the shard against the reference and returns the bytes the plan read from
 * shards, or -1 after failing the test.
 */
static int64_t repair_from_all_others(jcs_redundancy red, const stored *st, uint8_t **ref,
                                      size_t size, int lost)
{
    t_ft f;
    t_ft_init(&f, red, (int64_t)size);
    f.ft.compute = t_hub(0);
    for (int i = 0; i < red.n; i++)
        if (i != lost) {
            t_from_shard(&f, i, i);
            f.froms[f.ft.nfroms - 1].file_hash = st->blk[i];
        }
    t_to_shard(&f, lost, 15);
    char why[4096];
    if (go(&f.ft, NULL, 0, why, sizeof(why)) != 0) {
        t_fail(__FILE__, __LINE__, "repair of block %d: %s", lost, why);
        return -1;
    }
    size_t bs = (size_t)jcs_ec_block_size(&red, (int64_t)size);
    const char *w = shard_is(15, R[0].hash, R[0].size, ref[lost], bs);
    if (*w) {
        t_fail(__FILE__, __LINE__, "repair of block %d: %s", lost, w);
        return -1;
    }
    return jcs_plan_shard_read_bytes(P, (int64_t)bs);
}

SCENARIO(lrc_upload_read_degraded_read_and_local_repair)
{
    static const int g22[] = {2, 2}, g33[] = {3, 3};
    jcs_redundancy reds[] = {t_lrc(4, 8, g22, 2, 1000), t_lrc(4, 8, g33, 2, 1000),
                             t_lrc(2, 4, g22, 1, 4096)};
    for (int r = 0; r < 3 && !t_failed(); r++) {
        jcs_redundancy red = reds[r];
        size_t size = 9 * 4000 + 3333;
        uint8_t *d = gen(size, (uint32_t)(40 + r));
        uint8_t **ref = ref_blocks(&red, d, size);
        stored st;
        int ok = upload(red, d, size, r & 1, &st);
        /* Whole and ranged reads from every block, and from survivor sets with a block missing
         * or with blocks that do not span the code alone (0, 1 and their parity 6). */
        int all[8] = {0, 1, 2, 3, 4, 5, 6, 7}, no0[7] = {1, 2, 3, 4, 5, 6, 7};
        int dep[6] = {0, 1, 6, 7, 4, 5}, parity_only[5] = {4, 5, 6, 7, 1};
        int64_t ranges[][2] = {{0, -1}, {0, 1}, {(int64_t)size - 1, 1}, {3999, 2}, {1500, 9000}};
        for (size_t q = 0; ok && q < sizeof(ranges) / sizeof(ranges[0]); q++) {
            ok = download_ec(red, &st, d, size, all, red.n, ranges[q][0], ranges[q][1]) &&
                 download_ec(red, &st, d, size, no0, red.n - 1, ranges[q][0], ranges[q][1]);
            if (ok && red.n == 8)
                ok = download_ec(red, &st, d, size, dep, 6, ranges[q][0], ranges[q][1]) &&
                     download_ec(red, &st, d, size, parity_only, 5, ranges[q][0], ranges[q][1]);
        }
        /* Every single block rebuilt from the others: a group's blocks read a group only. */
        int64_t bs = jcs_ec_block_size(&red, (int64_t)size);
        for (int lost = 0; ok && lost < red.n; lost++) {
            int64_t got = repair_from_all_others(red, &st, ref, size, lost);
            int count = 0;
            int grp = jcs_lrc_group_of(&red, lost, NULL, &count);
            int64_t want = grp >= 0 ? count * bs : red.k * bs;
            if (got != want) {
                t_fail(__FILE__, __LINE__, "lrc(%d,%d) block %d: read %lld bytes, want %lld", red.k,
                       red.n, lost, (long long)got, (long long)want);
                ok = 0;
            }
        }
        blocks_free(ref, red.n);
        jcs_free(d);
    }
}

SCENARIO(ec_repair_reads_k_blocks)
{
    jcs_redundancy red = t_ec(4, 6, 1000);
    size_t size = 9 * 4000 + 3333;
    uint8_t *d = gen(size, 60);
    uint8_t **ref = ref_blocks(&red, d, size);
    stored st;
    if (upload(red, d, size, 1, &st)) {
        int64_t bs = jcs_ec_block_size(&red, (int64_t)size);
        for (int lost = 0; lost < red.n && !t_failed(); lost++) {
            int64_t got = repair_from_all_others(red, &st, ref, size, lost);
            T_ASSERT(got == red.k * bs, "ec(4,6) block %d: read %lld bytes, want %lld", lost,
                     (long long)got, (long long)(red.k * bs));
        }
    }
    blocks_free(ref, red.n);
    jcs_free(d);
}

SCENARIO(lrc_blocks_that_do_not_span_fail_with_a_clear_error)
{
    static const int g22[] = {2, 2};
    jcs_redundancy red = t_lrc(4, 8, g22, 2, 1000);
    size_t size = 12345;
    uint8_t *d = gen(size, 50);
    stored st;
    if (upload(red, d, size, 1, &st)) {
        /* 0, 1, 6 (= 0^1) and 7 span three dimensions of four. */
        t_ft f;
        t_ft_init(&f, red, (int64_t)size);
        int have[4] = {0, 1, 6, 7};
        for (int i = 0; i < 4; i++) {
            t_from_shard(&f, have[i], have[i]);
            f.froms[i].file_hash = st.blk[have[i]];
        }
        t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
        reset();
        int rc = jcs_plan_build(&f.ft, &P);
        T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "no source for the raw stream"),
                 "rc %d: %s", rc, jcs_err_msg(rc));
    }
    jcs_free(d);
}

/* ---- redundancy changes and repair ---- */

SCENARIO(ec_to_rep_rep_to_ec_and_repair)
{
    jcs_redundancy red = t_ec(3, 5, 2048);
    size_t size = 11 * 6144 + 99;
    uint8_t *d = gen(size, 10);
    uint8_t **b = ref_blocks(&red, d, size);
    size_t bs = (size_t)jcs_ec_block_size(&red, (int64_t)size);
    stored st, copy;
    int ok = upload(red, d, size, 1, &st);

    /* ec -> rep: blocks 4, 1, 3 (listed in that order) -> raw copies on hubs 8 and 9. */
    t_ft f;
    t_ft_init(&f, red, (int64_t)size);
    f.ft.compute = t_hub(7);
    int from[] = {4, 1, 3};
    for (int i = 0; i < 3; i++) {
        t_from_shard(&f, from[i], from[i]);
        f.froms[i].file_hash = st.blk[from[i]];
    }
    t_to_shard(&f, JCS_STREAM_RAW, 8);
    t_to_shard(&f, JCS_STREAM_RAW, 9);
    char why[4096];
    const char *w = "";
    if (ok && !(ok = go(&f.ft, NULL, 0, why, sizeof(why)) == 0))
        t_fail(__FILE__, __LINE__, "ec->rep: %s", why);
    for (int i = 0; ok && i < 2; i++)
        if (*(w = shard_is(8 + i, R[i].hash, R[i].size, d, size)))
            ok = 0, t_fail(__FILE__, __LINE__, "ec->rep copy %d: %s", i, w);
    if (ok)
        snprintf(copy.raw, sizeof(copy.raw), "%s", R[0].hash);

    /* rep -> ec: from the copy on hub 9 (listed second) to blocks on hubs 10..14. */
    t_ft_init(&f, red, (int64_t)size);
    f.ft.compute = t_driver();
    t_from_shard(&f, JCS_STREAM_RAW, 8);
    t_from_shard(&f, JCS_STREAM_RAW, 9);
    f.froms[0].file_hash = f.froms[1].file_hash = copy.raw;
    for (int i = 0; i < 5; i++)
        t_to_shard(&f, i, 10 + i);
    if (ok && !(ok = go(&f.ft, NULL, 0, why, sizeof(why)) == 0))
        t_fail(__FILE__, __LINE__, "rep->ec: %s", why);
    for (int i = 0; ok && i < 5; i++)
        if (*(w = shard_is(10 + i, R[i].hash, R[i].size, b[i], bs)))
            ok = 0, t_fail(__FILE__, __LINE__, "rep->ec block %d: %s", i, w);

    /* Repair: each block lost in turn, rebuilt on hub 15 from the first 3 others. */
    for (int lost = 0; ok && lost < 5; lost++) {
        t_ft_init(&f, red, (int64_t)size);
        f.ft.compute = t_hub(15);
        for (int i = 4; i >= 0; i--) {
            if (i == lost)
                continue;
            t_from_shard(&f, i, i);
            f.froms[f.ft.nfroms - 1].file_hash = st.blk[i];
        }
        t_to_shard(&f, lost, 15);
        if (!(ok = go(&f.ft, NULL, 0, why, sizeof(why)) == 0))
            t_fail(__FILE__, __LINE__, "repair of block %d: %s", lost, why);
        else if (*(w = shard_is(15, R[0].hash, R[0].size, b[lost], bs)))
            ok = 0, t_fail(__FILE__, __LINE__, "repair of block %d: %s", lost, w);
    }

    /* A data block rebuilt from a raw copy alone (the split's other outputs are drained). */
    t_ft_init(&f, red, (int64_t)size);
    t_from_shard(&f, JCS_STREAM_RAW, 8);
    f.froms[0].file_hash = copy.raw;
    t_to_shard(&f, 1, 15);
    t_to_shard(&f, 4, 14);
    if (ok && !(ok = go(&f.ft, NULL, 0, why, sizeof(why)) == 0))
        t_fail(__FILE__, __LINE__, "block from raw: %s", why);
    if (ok && *(w = shard_is(15, R[0].hash, R[0].size, b[1], bs)))
        ok = 0, t_fail(__FILE__, __LINE__, "block 1 from raw: %s", w);
    if (ok && *(w = shard_is(14, R[1].hash, R[1].size, b[4], bs)))
        ok = 0, t_fail(__FILE__, __LINE__, "block 4 from raw: %s", w);
    t_ft_init(&f, red, (int64_t)size);
    t_from_shard(&f, JCS_STREAM_RAW, 8);
    f.froms[0].file_hash = copy.raw;
    t_to_shard(&f, 2, 13);
    if (ok && !(ok = go(&f.ft, NULL, 0, why, sizeof(why)) == 0))
        t_fail(__FILE__, __LINE__, "lone data block from raw: %s", why);
    if (ok && *(w = shard_is(13, R[0].hash, R[0].size, b[2], bs)))
        ok = 0, t_fail(__FILE__, __LINE__, "lone data block from raw: %s", w);

    blocks_free(b, 5);
    jcs_free(d);
}

SCENARIO(decode_and_write_at_once_with_a_download)
{
    jcs_redundancy red = t_ec(2, 4, 4096);
    size_t size = 6 * 8192 + 5;
    uint8_t *d = gen(size, 11);
    uint8_t **b = ref_blocks(&red, d, size);
    size_t bs = (size_t)jcs_ec_block_size(&red, (int64_t)size);
    stored st;
    int ok = upload(red, d, size, 1, &st);
    t_ft f;
    t_ft_init(&f, red, (int64_t)size);
    f.ft.compute = t_hub(5);
    t_from_shard(&f, 3, 3);
    t_from_shard(&f, 2, 2);
    f.froms[0].file_hash = st.blk[3];
    f.froms[1].file_hash = st.blk[2];
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    t_to_shard(&f, 0, 6);
    t_to_shard(&f, JCS_STREAM_RAW, 7);
    t_to_driver(&f, JCS_STREAM_RAW, 8000, 500);
    char why[4096];
    const char *w;
    if (ok && !(ok = go(&f.ft, NULL, 0, why, sizeof(why)) == 0))
        t_fail(__FILE__, __LINE__, "%s", why);
    if (ok && (R[0].len != size || memcmp(R[0].data, d, size) != 0))
        ok = 0, t_fail(__FILE__, __LINE__, "full download differs (%zu bytes)", R[0].len);
    if (ok && *(w = shard_is(6, R[1].hash, R[1].size, b[0], bs)))
        ok = 0, t_fail(__FILE__, __LINE__, "block 0: %s", w);
    if (ok && *(w = shard_is(7, R[2].hash, R[2].size, d, size)))
        ok = 0, t_fail(__FILE__, __LINE__, "raw copy: %s", w);
    if (ok && (R[3].len != 500 || memcmp(R[3].data, d + 8000, 500) != 0))
        ok = 0, t_fail(__FILE__, __LINE__, "ranged download differs (%zu bytes)", R[3].len);
    blocks_free(b, 4);
    jcs_free(d);
}

/*
 * EC chunks far larger than a pipe holds (pipe chunks of 1 KiB, 2 deep;
 * EC chunks of 16 KiB): a Clone feeding both an ECMultiply and a
 * ChunkedJoin must not deadlock, whichever rows are passed through.
 */
TEST(small_pipes_and_big_chunks_do_not_deadlock)
{
    world_init(1024, 2);
    jcs_redundancy red = t_ec(2, 3, 16384);
    size_t size = 4 * 32768 + 777;
    uint8_t *d = gen(size, 12);
    stored st;
    int ok = upload(red, d, size, 0, &st);
    int sets[][2] = {{0, 1}, {0, 2}, {1, 2}, {2, 1}};
    for (size_t s = 0; ok && s < 4; s++)
        ok = download_ec(red, &st, d, size, sets[s], 2, 0, -1) &&
             download_ec(red, &st, d, size, sets[s], 2, 20000, 40000);
    jcs_free(d);
    if (!ok)
        return;
    jcs_redundancy red46 = t_ec(4, 6, 8192);
    size = 3 * 32768 + 5;
    d = gen(size, 13);
    ok = upload(red46, d, size, 1, &st);
    int sets46[][4] = {{0, 2, 4, 5}, {5, 4, 3, 0}, {1, 4, 3, 5}};
    for (size_t s = 0; ok && s < 3; s++)
        ok = download_ec(red46, &st, d, size, sets46[s], 4, 0, -1);
    jcs_free(d);
    world_init(0, 0);
}

SCENARIO(a_missing_shard_fails_the_whole_plan_with_its_name)
{
    jcs_redundancy red = t_ec(2, 3, 4096);
    size_t size = 30000;
    uint8_t *d = gen(size, 14);
    stored st;
    int ok = upload(red, d, size, 1, &st);
    jcs_free(d);
    if (!ok)
        return;
    t_ft f;
    t_ft_init(&f, red, (int64_t)size);
    t_from_shard(&f, 0, 0);
    t_from_shard(&f, 2, 2);
    f.froms[0].file_hash = st.blk[0];
    f.froms[1].file_hash = t_hash(2); /* well formed, never stored */
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    t_to_shard(&f, 1, 5);
    char why[4096];
    int rc = go(&f.ft, NULL, 0, why, sizeof(why));
    T_ASSERT(rc != 0 && rc != JCS_ETIMEOUT, "rc %d: %s", rc, why);
    /* The run's own error (not the plan description appended to why). */
    T_ASSERT(strstr(run_err, "Full02") != NULL, "%s", run_err);
}
