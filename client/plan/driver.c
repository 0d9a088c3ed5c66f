/*
 * driver.c - runs plans with hubs (driver.h).
 */
#include "driver.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "computeat.h"
#include "hash.h"
#include "hub.pb-c.h"
#include "exec.h"
#include "log.h"
#include "methods.h"
#include "xfer.h"

#define MAX_SITES 256

struct jcs_driver {
    jcs_xfer *xfer;
    jcs_driver_compute compute; /* where coding runs when a request names no site */
};

int jcs_driver_new(const jcs_tls_files *tls, jcs_driver **out)
{
    jcs_driver *d = jcs_calloc(1, sizeof(*d));
    if (!d)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    int rc = jcs_xfer_new(tls, &d->xfer);
    if (rc) {
        jcs_free(d);
        return rc;
    }
    *out = d;
    return JCS_OK;
}

int jcs_driver_use_bulk(jcs_driver *d)
{
    return jcs_xfer_use_bulk(d->xfer);
}

void jcs_driver_hub_back(jcs_driver *d, const char *address)
{
    jcs_xfer_reset_peer(d->xfer, address);
}

void jcs_driver_set_compute(jcs_driver *d, const jcs_driver_compute *c)
{
    d->compute = *c;
}

void jcs_driver_free(jcs_driver *d)
{
    if (!d)
        return;
    jcs_xfer_free(d->xfer);
    jcs_free(d);
}

/* ------------------------------------------------------------ plan runs */

struct run;

/* One hub's fragment, run by an ExecuteFragment call on a thread of its own. */
struct frag_run {
    struct run *run;
    const Jcs__Plan__Fragment *frag;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    jcs_rpc_stream *st; /* while the call is open */
    int cancelled;
    Jcs__Hub__ExecuteFragmentResp *resp;
    int rc;
    char why[1024];
};

struct run {
    jcs_driver *d;
    const jcs_plan *plan;
    jcs_exec *local;
    struct frag_run *frags;
    atomic_int failed;
    pthread_mutex_t mu;
    int rc;
    char why[1024];
};

/* Records the first failure and cancels every worker of the plan. */
static void run_fail(struct run *r, int rc, const char *why)
{
    pthread_mutex_lock(&r->mu);
    int first = r->rc == 0;
    if (first) {
        r->rc = rc;
        snprintf(r->why, sizeof(r->why), "%s", why);
    }
    pthread_mutex_unlock(&r->mu);
    if (!first)
        return;
    atomic_store(&r->failed, 1);
    if (r->local)
        jcs_exec_cancel(r->local, JCS_ECANCELED);
    for (size_t i = 0; i < r->plan->nfrags; i++) {
        struct frag_run *f = &r->frags[i];
        pthread_mutex_lock(&f->mu);
        f->cancelled = 1;
        if (f->st)
            jcs_rpc_stream_cancel(f->st);
        pthread_mutex_unlock(&f->mu);
    }
}

static int execute_remote(struct frag_run *f)
{
    jcs_rpc_channel *ch;
    jcs_rpc_stream *st;
    const Jcs__Plan__Worker *w = f->frag->worker;
    int rc = jcs_xfer_channel(f->run->d->xfer, w->address, &ch);
    if (rc)
        return rc;
    if ((rc = jcs_xfer_open(ch, JCS_M_EXECUTE_FRAGMENT, &st)) != 0)
        return rc;
    pthread_mutex_lock(&f->mu);
    f->st = st;
    if (f->cancelled)
        jcs_rpc_stream_cancel(st);
    pthread_mutex_unlock(&f->mu);

    Jcs__Hub__ExecuteFragmentReq req = JCS__HUB__EXECUTE_FRAGMENT_REQ__INIT;
    req.fragment = (Jcs__Plan__Fragment *)f->frag;
    rc = jcs_rpc_stream_send(st, &req.base);
    if (!rc) {
        /* Heartbeats (running) until the answer: each one is progress for the idle deadline. */
        ProtobufCMessage *resp = NULL;
        int r;
        for (;;) {
            r = jcs_rpc_stream_recv(st, &jcs__hub__execute_fragment_resp__descriptor, &resp);
            if (r != 0 || !((Jcs__Hub__ExecuteFragmentResp *)resp)->running)
                break;
            protobuf_c_message_free_unpacked(resp, NULL);
            resp = NULL;
        }
        f->resp = (Jcs__Hub__ExecuteFragmentResp *)resp;
        rc = r < 0 ? r : 0;
        /* Tell the hub we have its answer: its handler then completes. */
        if (!rc)
            rc = jcs_rpc_stream_close_send(st);
        /* gRPC has the status only after the end of the hub's messages. */
        while (!rc) {
            ProtobufCMessage *extra = NULL;
            int e = jcs_rpc_stream_recv(st, &jcs__hub__execute_fragment_resp__descriptor, &extra);
            if (extra)
                protobuf_c_message_free_unpacked(extra, NULL);
            if (e == JCS_EOF)
                break;
            if (e < 0)
                rc = e;
        }
    }
    int fr = jcs_rpc_stream_finish(st);
    if (fr)
        rc = fr;
    pthread_mutex_lock(&f->mu);
    f->st = NULL;
    pthread_mutex_unlock(&f->mu);
    jcs_rpc_stream_free(st);
    return rc;
}

static void *frag_main(void *arg)
{
    struct frag_run *f = arg;
    f->rc = execute_remote(f);
    if (f->rc) {
        const Jcs__Plan__Worker *w = f->frag->worker;
        /* A hub that died or cannot be reached says nothing itself: the message names it. */
        if (f->rc == JCS_EUNAVAIL && w)
            snprintf(f->why, sizeof(f->why), "hub %lld (%s) failed mid-transfer: %s",
                     (long long)w->hub_id, w->address ? w->address : "?", jcs_err_msg(f->rc));
        else if (f->rc == JCS_ETIMEOUT && w)
            snprintf(f->why, sizeof(f->why), "hub %lld (%s) stalled: %s", (long long)w->hub_id,
                     w->address ? w->address : "?", jcs_err_msg(f->rc));
        else
            snprintf(f->why, sizeof(f->why), "%s", jcs_err_msg(f->rc));
        run_fail(f->run, f->rc, f->why);
    }
    return NULL;
}

struct local_run {
    struct run *run;
    pthread_t thread;
    int rc;
};

static void *local_main(void *arg)
{
    struct local_run *l = arg;
    const jcs_plan *p = l->run->plan;
    l->rc = jcs_exec_run(l->run->local, p->frags[p->driver_frag]);
    if (l->rc) {
        char why[1024];
        snprintf(why, sizeof(why), "driver: %s", jcs_err_msg(l->rc));
        run_fail(l->run, l->rc, why);
    }
    return NULL;
}

static int no_space(void *ctx, const Jcs__Plan__Space *sp, jcs_shardstore **out)
{
    return jcs_err_set(JCS_EINTERNAL, "the driver was asked to open space %lld itself",
                       sp ? (long long)sp->space_id : 0LL);
}

/* The work the calling thread does while the plan runs: feed or drain the driver's vars. */
typedef int (*driver_io_fn)(struct run *r, void *arg);

/*
 * Runs plan p: hub fragments on their hubs, the driver's fragment here,
 * and io on the calling thread. Returns the first error, with its detail.
 */
static int run_plan(jcs_driver *d, const jcs_plan *p, driver_io_fn io, void *io_arg, struct run *r)
{
    struct local_run lr = {r, 0, 0};
    int local_started = 0;
    memset(r, 0, sizeof(*r));
    if (getenv("JCS_TRACE_PLANS")) {
        /* For debugging plans by hand: every fragment, op by op. */
        char *text = jcs_plan_describe(p);
        fprintf(stderr, "plan %s:\n%s\n", p->plan_id, text ? text : "(no memory)");
        jcs_free(text);
    }
    r->d = d;
    r->plan = p;
    pthread_mutex_init(&r->mu, NULL);
    r->frags = jcs_calloc(p->nfrags ? p->nfrags : 1, sizeof(*r->frags));
    if (!r->frags)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->nfrags; i++)
        pthread_mutex_init(&r->frags[i].mu, NULL);
    if (p->driver_frag >= 0) {
        jcs_exec_env env = {0};
        jcs_xfer_env(d->xfer, &env);
        env.open_space = no_space;
        int rc = jcs_exec_new(&env, p->plan_id, &r->local);
        if (rc) {
            run_fail(r, rc, jcs_err_msg(rc));
            goto join;
        }
    }
    for (size_t i = 0; i < p->nfrags; i++) {
        if ((int)i == p->driver_frag)
            continue;
        struct frag_run *f = &r->frags[i];
        f->run = r;
        f->frag = p->frags[i];
        if (pthread_create(&f->thread, NULL, frag_main, f) != 0) {
            run_fail(r, JCS_EIO, "cannot start a thread");
            goto join;
        }
        f->started = 1;
    }
    if (r->local) {
        if (pthread_create(&lr.thread, NULL, local_main, &lr) != 0) {
            run_fail(r, JCS_EIO, "cannot start a thread");
            goto join;
        }
        local_started = 1;
    }
    if (io) {
        int rc = io(r, io_arg);
        if (rc && !atomic_load(&r->failed)) {
            char why[1024];
            snprintf(why, sizeof(why), "%s", jcs_err_msg(rc));
            run_fail(r, rc, why);
        }
    }
join:
    if (local_started)
        pthread_join(lr.thread, NULL);
    for (size_t i = 0; i < p->nfrags; i++)
        if (r->frags[i].started)
            pthread_join(r->frags[i].thread, NULL);
    if (r->rc)
        return jcs_err_set(r->rc, "%s", r->why);
    return JCS_OK;
}

static void run_free(struct run *r)
{
    if (r->frags) {
        for (size_t i = 0; i < r->plan->nfrags; i++) {
            if (r->frags[i].resp)
                protobuf_c_message_free_unpacked(&r->frags[i].resp->base, NULL);
            pthread_mutex_destroy(&r->frags[i].mu);
        }
    }
    jcs_free(r->frags);
    jcs_exec_free(r->local);
    pthread_mutex_destroy(&r->mu);
}

/* The ShardInfo a shard To produced. Borrowed from the run. */
static const Jcs__Plan__ShardInfo *to_result(struct run *r, size_t to)
{
    int fi = r->plan->to_frags[to];
    int32_t var = r->plan->to_vars[to];
    if (fi < 0 || !r->frags[fi].resp)
        return NULL;
    const Jcs__Hub__ExecuteFragmentResp *resp = r->frags[fi].resp;
    for (size_t i = 0; i < resp->n_values; i++)
        if (resp->values[i]->var == var && resp->values[i]->value &&
            resp->values[i]->value->value_case == JCS__PLAN__VALUE__VALUE_SHARD)
            return resp->values[i]->value->shard;
    return NULL;
}

/* Copies the results of the shard Tos (tos[first..first+n)) into blocks with indexes. */
static int collect_blocks(struct run *r, const jcs_plan_to *tos, size_t first, size_t n,
                          const int *index, jcs_block *out)
{
    for (size_t i = 0; i < n; i++) {
        const Jcs__Plan__ShardInfo *si = to_result(r, first + i);
        if (!si || jcs_filehash_check(si->file_hash) != 0)
            return jcs_err_set(JCS_ERPC,
                               "a hub finished the plan without the written shard's hash");
        out[i].index = index[i];
        out[i].space_id = tos[first + i].space->space_id;
        snprintf(out[i].file_hash, sizeof(out[i].file_hash), "%s", si->file_hash);
        out[i].size = si->size;
    }
    return JCS_OK;
}

/* ---------------------------------------------------------------- upload */

struct feed {
    jcs_driver_read_fn rd;
    void *arg;
    int32_t var;
    struct jcs_hash hash;
    int64_t size;
    char file_hash[JCS_FILEHASH_LEN + 1];
};

static int feed_io(struct run *r, void *arg)
{
    struct feed *fd = arg;
    jcs_pipe *pipe;
    if (!r->local)
        return jcs_err_set(JCS_EINTERNAL, "upload plan without a driver fragment");
    int rc = jcs_exec_input(r->local, fd->var, &pipe);
    if (rc)
        return rc;
    for (;;) {
        uint8_t *buf;
        size_t cap, n = 0;
        if ((rc = jcs_pipe_get_buffer(pipe, &buf, &cap)) != 0)
            return rc;
        /* Whole chunks: ChunkedSplit then hands EC chunks on by reference and
         * ECMultiply finds each one whole, in place (common/data/exec.c). */
        int rr = 0;
        while (rr == 0 && n < cap) {
            size_t got = 0;
            rr = fd->rd(fd->arg, buf + n, cap - n, &got);
            if (rr == 0 && got == 0)
                break; /* the end of the object */
            n += got;
        }
        /* Hashed before the commit: from then on the buffer is the pipe's (freed
         * by its last reader). */
        if (rr == 0)
            jcs_hash_update(&fd->hash, buf, n);
        int cr = jcs_pipe_commit_buffer(pipe, rr == 0 ? n : 0);
        if (rr) {
            jcs_pipe_close(pipe, rr);
            return rr;
        }
        if (cr)
            return cr;
        if (n == 0)
            break;
        fd->size += (int64_t)n;
    }
    /* The object's hash must be final before the plan can be called a success. */
    rc = jcs_hash_final(&fd->hash, fd->file_hash, NULL);
    jcs_pipe_close(pipe, rc);
    return rc;
}

static int check_red(const jcs_redundancy *red, size_t ntargets, size_t *nto)
{
    switch (red->type) {
    case JCS_RED_NONE:
        *nto = 1;
        break;
    case JCS_RED_REP:
        if (red->rep_count < 1)
            return jcs_err_set(JCS_EINVAL, "rep redundancy needs repCount >= 1");
        *nto = (size_t)red->rep_count;
        break;
    case JCS_RED_EC:
        if (red->k < 1 || red->n <= red->k || red->n > 256 || red->chunk_size <= 0)
            return jcs_err_set(JCS_EINVAL, "ec redundancy needs 1 <= k < n <= 256, chunkSize > 0");
        *nto = (size_t)red->n;
        break;
    case JCS_RED_LRC:
        /* The layout itself is checked by the planner (jcs_ec_new_lrc). */
        if (red->k < 1 || red->n <= red->k || red->n > 256 || red->chunk_size <= 0 ||
            red->ngroups < 1)
            return jcs_err_set(JCS_EINVAL, "lrc redundancy needs 1 <= k < n <= 256, groups, "
                                           "chunkSize > 0");
        *nto = (size_t)red->n;
        break;
    default:
        return jcs_err_set(JCS_EINVAL, "unknown redundancy type %d", (int)red->type);
    }
    if (ntargets < *nto)
        return jcs_err_set(JCS_EINVAL, "%zu target spaces for %zu pieces", ntargets, *nto);
    if (*nto > MAX_SITES)
        return jcs_err_set(JCS_EINVAL, "too many pieces");
    return JCS_OK;
}

static const Jcs__Plan__Worker driver_worker = JCS__PLAN__WORKER__INIT;

/* What a plan does, for the choice of its compute site (place()). */
enum op_kind {
    OP_TRANSFER, /* an upload or a download: the client is a candidate under auto */
    OP_UPKEEP,   /* repair, redundancy change, copy: a hub next to the data under auto */
};

typedef struct place_req {
    enum op_kind kind;
    const char *what;               /* for the log: "upload", "repair", ... */
    const Jcs__Plan__Worker *given; /* the request's compute; NULL: by the model */
    const jcs_driver_src *src;      /* NULL: the driver feeds the raw object (an upload) */
    const jcs_site *targets;        /* NULL: the driver drains the raw object (a download) */
    size_t ntargets;
    double target_bytes; /* bytes per target, the object counting 1 */
} place_req;

static int place(jcs_driver *d, const place_req *pr, jcs_plan_from *froms, size_t *nfroms,
                 const Jcs__Plan__Worker **compute);

/* The bytes one block (or copy) of red carries, the object counting 1. */
static double block_bytes(const jcs_redundancy *red)
{
    return jcs_red_coded(red) ? 1.0 / red->k : 1.0;
}

/* Fills tos[] for writing with red onto targets. */
static int fill_tos(const jcs_redundancy *red, const jcs_site *targets, size_t nto,
                    jcs_plan_to *tos, int *index)
{
    for (size_t i = 0; i < nto; i++) {
        if (!targets[i].hub || !targets[i].space)
            return jcs_err_set(JCS_EUNAVAIL, "target space %lld has no reachable hub",
                               targets[i].space ? (long long)targets[i].space->space_id : -1LL);
        memset(&tos[i], 0, sizeof(tos[i]));
        tos[i].kind = JCS_TO_SHARD;
        tos[i].stream = jcs_red_coded(red) ? (int)i : JCS_STREAM_RAW;
        tos[i].space = targets[i].space;
        tos[i].hub = targets[i].hub;
        tos[i].length = -1;
        index[i] = (int)i;
    }
    return JCS_OK;
}

int jcs_driver_upload(jcs_driver *d, const jcs_driver_upload_req *req, jcs_driver_upload_res *res)
{
    const jcs_redundancy *red = req->red;
    size_t nto;
    jcs_plan_to tos[MAX_SITES];
    int index[MAX_SITES];
    jcs_plan *p = NULL;
    struct run r;
    int rc = check_red(red, req->ntargets, &nto);
    if (rc || (rc = fill_tos(red, req->targets, nto, tos, index)) != 0)
        return rc;
    const Jcs__Plan__Worker *compute;
    place_req pr = {.kind = OP_TRANSFER,
                    .what = "upload",
                    .given = req->compute,
                    .targets = req->targets,
                    .ntargets = nto,
                    .target_bytes = block_bytes(red)};
    if ((rc = place(d, &pr, NULL, NULL, &compute)) != 0)
        return rc;
    jcs_plan_from from = {.kind = JCS_FROM_DRIVER, .stream = JCS_STREAM_RAW};
    jcs_fromto ft = {.red = *red,
                     .object_size = -1,
                     .froms = &from,
                     .nfroms = 1,
                     .tos = tos,
                     .ntos = nto,
                     .compute = compute};
    if ((rc = jcs_plan_build(&ft, &p)) != 0)
        return jcs_err_wrap(rc, "planning the upload: ");
    struct feed fd = {.rd = req->read, .arg = req->arg, .var = p->from_vars[0]};
    if ((rc = jcs_hash_init(&fd.hash)) != 0) {
        jcs_plan_free(p);
        return rc;
    }
    rc = run_plan(d, p, feed_io, &fd, &r);
    if (!rc)
        rc = collect_blocks(&r, tos, 0, nto, index, res->blocks);
    if (!rc) {
        res->nblocks = nto;
        memcpy(res->hash, fd.file_hash, sizeof(fd.file_hash));
        res->size = fd.size;
    }
    jcs_hash_abort(&fd.hash);
    run_free(&r);
    jcs_plan_free(p);
    return rc;
}

/* -------------------------------------------------------------- download */

struct drain {
    jcs_driver_write_fn wr;
    void *arg;
    int32_t var;
};

static int drain_io(struct run *r, void *arg)
{
    struct drain *dr = arg;
    jcs_pipe *pipe;
    if (!r->local)
        return jcs_err_set(JCS_EINTERNAL, "download plan without a driver fragment");
    int rc = jcs_exec_output(r->local, dr->var, &pipe);
    if (rc)
        return rc;
    for (;;) {
        jcs_chunk c;
        rc = jcs_pipe_read(pipe, &c);
        if (rc == JCS_EOF)
            return JCS_OK;
        if (rc < 0)
            return rc;
        rc = dr->wr(dr->arg, c.data, c.len);
        jcs_pipe_release(pipe, &c);
        if (rc) {
            jcs_pipe_abort(pipe, rc);
            return rc;
        }
    }
}

/* Sorts site indexes by distance, then block index (data blocks first for EC). */
static const jcs_site *sort_sites;
static const jcs_block *sort_blocks;
static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int by_distance(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double di = sort_sites[i].distance, dj = sort_sites[j].distance;
    if (di != dj)
        return di < dj ? -1 : 1;
    return sort_blocks[i].index - sort_blocks[j].index;
}

/*
 * Picks the sources: the nearest reachable copy (none/rep), the k nearest
 * reachable distinct EC blocks, or for LRC every reachable distinct block,
 * nearest first: not every k blocks of an LRC span it, and a repair reads
 * a group rather than k blocks, so the planner chooses among them (it
 * reads only what it chooses). Fills froms; returns how many.
 */
static int pick_sources(const jcs_block *blocks, const jcs_site *sites, size_t n,
                        const jcs_redundancy *red, jcs_plan_from *froms, size_t *nfroms)
{
    size_t order[MAX_SITES], m = 0;
    if (n > MAX_SITES)
        return jcs_err_set(JCS_EINVAL, "too many blocks");
    for (size_t i = 0; i < n; i++)
        if (sites[i].hub && sites[i].space)
            order[m++] = i;
    pthread_mutex_lock(&sort_mu);
    sort_sites = sites;
    sort_blocks = blocks;
    qsort(order, m, sizeof(order[0]), by_distance);
    pthread_mutex_unlock(&sort_mu);
    int lrc = red->type == JCS_RED_LRC;
    size_t want = jcs_red_coded(red) ? (size_t)red->k : 1;
    unsigned char seen[256] = {0};
    size_t got = 0;
    for (size_t j = 0; j < m && (got < want || lrc); j++) {
        const jcs_block *b = &blocks[order[j]];
        if (jcs_red_coded(red)) {
            if (b->index < 0 || b->index >= red->n || seen[b->index])
                continue;
            seen[b->index] = 1;
        }
        memset(&froms[got], 0, sizeof(froms[got]));
        froms[got].kind = JCS_FROM_SHARD;
        froms[got].stream = jcs_red_coded(red) ? b->index : JCS_STREAM_RAW;
        froms[got].space = sites[order[j]].space;
        froms[got].hub = sites[order[j]].hub;
        froms[got].file_hash = b->file_hash;
        got++;
    }
    if (got < want)
        return jcs_err_set(JCS_EUNAVAIL, "only %zu of the %zu blocks needed are reachable", got,
                           want);
    *nfroms = got;
    return JCS_OK;
}

static long find_node(const int64_t *nodes, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (nodes[i] == id)
            return (long)i;
    return -1;
}

/*
 * Chooses the compute site of a plan and, when it reads shards, its sources:
 * the request's site when it names one; the driver under computeAt=client or
 * without link costs; else the cheapest candidate by the model (computeat.h)
 * reading the sources cheapest for that site. Candidates: the client first
 * (transfers under auto only), then the hubs of the sources, nearest first,
 * then those of the targets.
 */
static int place(jcs_driver *d, const place_req *pr, jcs_plan_from *froms, size_t *nfroms,
                 const Jcs__Plan__Worker **compute)
{
    const jcs_driver_src *src = pr->src;
    const jcs_driver_compute *pol = &d->compute;
    if (pr->given || pol->mode == JCS_COMPUTEAT_CLIENT || !pol->cost) {
        *compute = pr->given ? pr->given : &driver_worker;
        return src ? pick_sources(src->blocks, src->sites, src->nblocks, src->red, froms, nfroms)
                   : JCS_OK;
    }
    if ((src && src->nblocks > MAX_SITES) || pr->ntargets > MAX_SITES)
        return jcs_err_set(JCS_EINVAL, "too many blocks");
    jcs_computeat_flow in[MAX_SITES], out[MAX_SITES];
    size_t nin = 0, nout = 0, srcidx[MAX_SITES], ncands = 0;
    int64_t cands[2 * MAX_SITES + 1];
    const Jcs__Plan__Worker *cw[2 * MAX_SITES + 1];
    if (pr->kind == OP_TRANSFER && pol->mode == JCS_COMPUTEAT_AUTO) {
        cands[ncands] = 0;
        cw[ncands++] = &driver_worker;
    }
    size_t need = 0;
    if (src) {
        const jcs_redundancy *red = src->red;
        size_t order[MAX_SITES], m = 0;
        for (size_t i = 0; i < src->nblocks; i++)
            if (src->sites[i].hub && src->sites[i].space &&
                (!jcs_red_coded(red) ||
                 (src->blocks[i].index >= 0 && src->blocks[i].index < red->n)))
                order[m++] = i;
        pthread_mutex_lock(&sort_mu);
        sort_sites = src->sites;
        sort_blocks = src->blocks;
        qsort(order, m, sizeof(order[0]), by_distance);
        pthread_mutex_unlock(&sort_mu);
        for (size_t j = 0; j < m; j++) {
            const jcs_site *st = &src->sites[order[j]];
            in[nin] =
                (jcs_computeat_flow){.node = st->hub->hub_id,
                                     .bytes = block_bytes(red),
                                     .group = jcs_red_coded(red) ? src->blocks[order[j]].index : 0};
            srcidx[nin++] = order[j];
            if (find_node(cands, ncands, st->hub->hub_id) < 0) {
                cands[ncands] = st->hub->hub_id;
                cw[ncands++] = st->hub;
            }
        }
        need = jcs_red_coded(red) ? (size_t)red->k : 1;
    } else {
        in[nin++] = (jcs_computeat_flow){.node = 0, .bytes = 1, .group = 0};
    }
    if (pr->targets) {
        for (size_t i = 0; i < pr->ntargets; i++) {
            const Jcs__Plan__Worker *h = pr->targets[i].hub;
            if (!h)
                continue; /* the plan refuses it with its own message */
            out[nout++] = (jcs_computeat_flow){.node = h->hub_id, .bytes = pr->target_bytes};
            if (find_node(cands, ncands, h->hub_id) < 0) {
                cands[ncands] = h->hub_id;
                cw[ncands++] = h;
            }
        }
    } else {
        out[nout++] = (jcs_computeat_flow){.node = 0, .bytes = 1};
    }
    jcs_computeat_problem prob = {.in = in,
                                  .nin = nin,
                                  .need = need,
                                  .out = out,
                                  .nout = nout,
                                  .cands = cands,
                                  .ncands = ncands,
                                  .cost = pol->cost,
                                  .arg = pol->arg};
    double cost = 0;
    long best = jcs_computeat_choose(&prob, &cost);
    if (best < 0) {
        /* No priced candidate (costs not known yet, or too few sources reachable): a
         * transfer codes in the driver as before; upkeep on the nearest source's hub. */
        size_t first = 0;
        while (first < ncands && pr->kind == OP_UPKEEP && cands[first] == 0)
            first++;
        best = pr->kind == OP_UPKEEP && first < ncands ? (long)first : -1;
        jcs_debug("%s: no link costs for the candidate sites; coding on %s", pr->what,
                  best < 0 ? "the client" : "the nearest source's hub");
    }
    if (best < 0 || cands[best] == 0) {
        *compute = &driver_worker;
        return src ? pick_sources(src->blocks, src->sites, src->nblocks, src->red, froms, nfroms)
                   : JCS_OK;
    }
    *compute = cw[best];
    if (pr->kind == OP_UPKEEP)
        jcs_info("%s: coding on hub %" PRId64 " (model cost %.3g)", pr->what, cands[best], cost);
    else
        jcs_debug("%s: coding on hub %" PRId64 " (model cost %.3g)", pr->what, cands[best], cost);
    if (!src)
        return JCS_OK;
    /* An lrc plan is given every reachable block: the planner reads a lost
     * block's local group when it can, else k blocks that span the code, which
     * the model's "k cheapest, one per index" does not know. */
    if (src->red->type == JCS_RED_LRC)
        return pick_sources(src->blocks, src->sites, src->nblocks, src->red, froms, nfroms);
    size_t picked[MAX_SITES], np = 0;
    (void)jcs_computeat_cost(&prob, cands[best], picked, &np);
    if (np < need) /* too few distinct blocks: pick_sources says how many */
        return pick_sources(src->blocks, src->sites, src->nblocks, src->red, froms, nfroms);
    const jcs_redundancy *red = src->red;
    for (size_t q = 0; q < np; q++) {
        size_t i = srcidx[picked[q]];
        memset(&froms[q], 0, sizeof(froms[q]));
        froms[q].kind = JCS_FROM_SHARD;
        froms[q].stream = jcs_red_coded(red) ? src->blocks[i].index : JCS_STREAM_RAW;
        froms[q].space = src->sites[i].space;
        froms[q].hub = src->sites[i].hub;
        froms[q].file_hash = src->blocks[i].file_hash;
    }
    *nfroms = np;
    return JCS_OK;
}

int jcs_driver_download(jcs_driver *d, const jcs_driver_download_req *req)
{
    const jcs_driver_src *src = &req->src;
    jcs_plan_from froms[MAX_SITES];
    size_t nfroms;
    jcs_plan *p = NULL;
    struct run r;
    const Jcs__Plan__Worker *compute;
    place_req pr = {.kind = OP_TRANSFER, .what = "download", .given = req->compute, .src = src};
    int rc = place(d, &pr, froms, &nfroms, &compute);
    if (rc)
        return rc;
    jcs_plan_to to = {.kind = JCS_TO_DRIVER,
                      .stream = JCS_STREAM_RAW,
                      .offset = req->offset,
                      .length = req->length};
    jcs_fromto ft = {.red = *src->red,
                     .object_size = src->object_size,
                     .froms = froms,
                     .nfroms = nfroms,
                     .tos = &to,
                     .ntos = 1,
                     .compute = compute};
    if ((rc = jcs_plan_build(&ft, &p)) != 0)
        return jcs_err_wrap(rc, "planning the download: ");
    struct drain dr = {req->write, req->arg, p->to_vars[0]};
    rc = run_plan(d, p, drain_io, &dr, &r);
    run_free(&r);
    jcs_plan_free(p);
    return rc;
}

/* ------------------------------------------------------ change redundancy */

int jcs_driver_change_redundancy(jcs_driver *d, const jcs_driver_change_req *req, jcs_block *out,
                                 size_t *nout)
{
    const jcs_driver_src *src = &req->src;
    const jcs_redundancy *from = src->red, *to = req->to;
    jcs_plan_from froms[MAX_SITES];
    jcs_plan_to tos[MAX_SITES];
    int index[MAX_SITES];
    size_t nfroms, nto;
    jcs_plan *p = NULL;
    struct run r;
    const Jcs__Plan__Worker *compute;
    int rc = check_red(to, req->ntargets, &nto);
    if (rc || (rc = fill_tos(to, req->targets, nto, tos, index)) != 0)
        return rc;
    place_req pr = {.kind = OP_UPKEEP,
                    .what = "redundancy change",
                    .given = req->compute,
                    .src = src,
                    .targets = req->targets,
                    .ntargets = nto,
                    .target_bytes = block_bytes(to)};
    if ((rc = place(d, &pr, froms, &nfroms, &compute)) != 0)
        return rc;
    jcs_fromto ft = {.red = jcs_red_coded(from) ? *from : *to,
                     .object_size = src->object_size,
                     .froms = froms,
                     .nfroms = nfroms,
                     .tos = tos,
                     .ntos = nto,
                     .compute = compute};
    /*
     * One plan can only speak of one EC layout. Going from one EC layout to
     * another (different k, n or chunk) therefore rebuilds the raw object in
     * the first plan's terms: the Tos then name blocks of the new layout,
     * which the planner derives from the raw stream.
     */
    if (jcs_red_coded(from) && jcs_red_coded(to) &&
        (from->type != to->type || from->k != to->k || from->n != to->n ||
         from->chunk_size != to->chunk_size || from->ngroups != to->ngroups ||
         memcmp(from->groups, to->groups, sizeof(from->groups)) != 0))
        return jcs_err_set(JCS_EINVAL, "changing between EC/LRC layouts (type, k, n, groups or "
                                       "chunkSize) needs two steps: first to rep, then to the new "
                                       "layout");
    if ((rc = jcs_plan_build(&ft, &p)) != 0)
        return jcs_err_wrap(rc, "planning the redundancy change: ");
    rc = run_plan(d, p, NULL, NULL, &r);
    if (!rc)
        rc = collect_blocks(&r, tos, 0, nto, index, out);
    if (!rc)
        *nout = nto;
    run_free(&r);
    jcs_plan_free(p);
    return rc;
}

int jcs_driver_repair(jcs_driver *d, const jcs_driver_repair_req *req, jcs_block *out)
{
    const jcs_driver_src *src = &req->src;
    const jcs_redundancy *red = src->red;
    const int *lost_index = req->lost_index;
    const jcs_site *targets = req->targets;
    size_t nlost = req->nlost;
    jcs_plan_from froms[MAX_SITES];
    jcs_plan_to tos[MAX_SITES];
    size_t nfroms;
    jcs_plan *p = NULL;
    struct run r;
    if (!jcs_red_coded(red))
        return jcs_err_set(JCS_EINVAL, "repair rebuilds EC/LRC blocks; copies are re-copied by "
                                       "change redundancy");
    if (nlost == 0 || nlost > (size_t)red->n)
        return jcs_err_set(JCS_EINVAL, "%zu blocks to rebuild of %d", nlost, red->n);
    for (size_t i = 0; i < nlost; i++) {
        if (lost_index[i] < 0 || lost_index[i] >= red->n)
            return jcs_err_set(JCS_EINVAL, "block %d does not exist in ec(%d,%d)", lost_index[i],
                               red->k, red->n);
        if (!targets[i].hub || !targets[i].space)
            return jcs_err_set(JCS_EUNAVAIL, "the target for block %d has no reachable hub",
                               lost_index[i]);
        memset(&tos[i], 0, sizeof(tos[i]));
        tos[i].kind = JCS_TO_SHARD;
        tos[i].stream = lost_index[i];
        tos[i].space = targets[i].space;
        tos[i].hub = targets[i].hub;
        tos[i].length = -1;
    }
    const Jcs__Plan__Worker *compute;
    place_req pr = {.kind = OP_UPKEEP,
                    .what = "repair",
                    .given = req->compute,
                    .src = src,
                    .targets = targets,
                    .ntargets = nlost,
                    .target_bytes = block_bytes(red)};
    int rc = place(d, &pr, froms, &nfroms, &compute);
    if (rc)
        return rc;
    jcs_fromto ft = {.red = *red,
                     .object_size = src->object_size,
                     .froms = froms,
                     .nfroms = nfroms,
                     .tos = tos,
                     .ntos = nlost,
                     .compute = compute};
    if ((rc = jcs_plan_build(&ft, &p)) != 0)
        return jcs_err_wrap(rc, "planning the repair: ");
    if (req->bytes_read)
        *req->bytes_read = jcs_plan_shard_read_bytes(p, jcs_ec_block_size(red, src->object_size));
    rc = run_plan(d, p, NULL, NULL, &r);
    if (!rc)
        rc = collect_blocks(&r, tos, 0, nlost, lost_index, out);
    run_free(&r);
    jcs_plan_free(p);
    return rc;
}

/* ------------------------------------------------------------ shard maintenance */

/*
 * Maintenance and small-object calls are one message each way: a hub that
 * does not answer within the process's RPC idle deadline is reported.
 */
#define MAINT_TIMEOUT_MS jcs_rpc_idle_timeout_ms()

static int site_channel(jcs_driver *d, const jcs_site *site, jcs_rpc_channel **ch)
{
    if (!site->hub || !site->hub->address)
        return jcs_err_set(JCS_EUNAVAIL, "space %lld: its hub is offline",
                           (long long)site->space->space_id);
    return jcs_xfer_channel(d->xfer, site->hub->address, ch);
}

static void copy_entry(const Jcs__Hub__ShardEntry *e, jcs_shard_entry *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->file_hash, sizeof out->file_hash, "%s", e->file_hash ? e->file_hash : "");
    out->size = e->size;
    out->mtime_ms = e->mtime_ms;
    out->sidecar_only = e->sidecar_only;
}

int jcs_driver_list_shards(jcs_driver *d, const jcs_site *site, int orphan_sidecars,
                           int (*fn)(void *arg, const jcs_shard_entry *e), void *arg)
{
    jcs_rpc_channel *ch;
    int rc = site_channel(d, site, &ch);
    if (rc)
        return rc;
    jcs_rpc_stream *st;
    if ((rc = jcs_xfer_open(ch, JCS_M_LIST_SHARDS, &st)) != 0)
        return rc;
    Jcs__Hub__ListShardsReq req = JCS__HUB__LIST_SHARDS_REQ__INIT;
    req.space = (Jcs__Plan__Space *)site->space;
    req.orphan_sidecars = orphan_sidecars;
    if ((rc = jcs_rpc_stream_send(st, &req.base)) == 0)
        rc = jcs_rpc_stream_close_send(st);
    while (rc == 0) {
        ProtobufCMessage *m = NULL;
        rc = jcs_rpc_stream_recv(st, &jcs__hub__list_shards_resp__descriptor, &m);
        if (rc == JCS_EOF) {
            rc = jcs_rpc_stream_finish(st);
            break;
        }
        if (rc)
            break;
        Jcs__Hub__ListShardsResp *r = (Jcs__Hub__ListShardsResp *)m;
        for (size_t i = 0; i < r->n_shards && rc == 0; i++) {
            jcs_shard_entry e;
            copy_entry(r->shards[i], &e);
            rc = fn(arg, &e);
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    jcs_rpc_stream_free(st);
    return rc;
}

static int stat_shard(jcs_driver *d, const jcs_site *site, const char *file_hash, int verify,
                      int timeout_ms, jcs_shard_entry *out, int *sidecar_written)
{
    jcs_rpc_channel *ch;
    int rc = site_channel(d, site, &ch);
    if (rc)
        return rc;
    Jcs__Hub__StatShardReq req = JCS__HUB__STAT_SHARD_REQ__INIT;
    req.space = (Jcs__Plan__Space *)site->space;
    req.file_hash = (char *)file_hash;
    req.verify = verify;
    ProtobufCMessage *m = NULL;
    rc = jcs_rpc_unary(ch, JCS_M_STAT_SHARD, &req.base, &jcs__hub__stat_shard_resp__descriptor, &m,
                       timeout_ms);
    if (rc)
        return rc;
    Jcs__Hub__StatShardResp *r = (Jcs__Hub__StatShardResp *)m;
    if (sidecar_written)
        *sidecar_written = r->sidecar_written;
    if (r->shard)
        copy_entry(r->shard, out);
    else
        rc = jcs_err_set(JCS_ENOENT, "space %lld: shard %s not stored",
                         (long long)site->space->space_id, file_hash);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int jcs_driver_stat_shard(jcs_driver *d, const jcs_site *site, const char *file_hash,
                          jcs_shard_entry *out)
{
    return stat_shard(d, site, file_hash, 0, MAINT_TIMEOUT_MS, out, NULL);
}

int jcs_driver_verify_shard(jcs_driver *d, const jcs_site *site, const char *file_hash,
                            int64_t size, jcs_shard_entry *out, int *sidecar_written)
{
    /* The maintenance deadline, plus a second per 20 MB read (a slow disk, a remote S3). */
    int64_t ms = MAINT_TIMEOUT_MS + (size > 0 ? size / 20000 : 0);
    if (ms > 3600000)
        ms = 3600000;
    return stat_shard(d, site, file_hash, 1, (int)ms, out, sidecar_written);
}

int jcs_driver_delete_shards(jcs_driver *d, const jcs_site *site, const char *const *hashes,
                             size_t n, int64_t *deleted)
{
    jcs_rpc_channel *ch;
    int rc = site_channel(d, site, &ch);
    if (rc)
        return rc;
    Jcs__Hub__DeleteShardsReq req = JCS__HUB__DELETE_SHARDS_REQ__INIT;
    req.space = (Jcs__Plan__Space *)site->space;
    req.file_hashes = (char **)hashes;
    req.n_file_hashes = n;
    ProtobufCMessage *m = NULL;
    rc = jcs_rpc_unary(ch, JCS_M_DELETE_SHARDS, &req.base,
                       &jcs__hub__delete_shards_resp__descriptor, &m, MAINT_TIMEOUT_MS);
    if (rc)
        return rc;
    if (deleted)
        *deleted = ((Jcs__Hub__DeleteShardsResp *)m)->deleted;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* At most this many small calls run at once (one per block of an object). */
#define SMALL_CALLS_MAX 256

int jcs_driver_read_small_all(jcs_driver *d, jcs_driver_small_io *io, size_t n)
{
    if (n > SMALL_CALLS_MAX)
        return jcs_err_set(JCS_EINVAL, "read_small: %zu reads at once, at most %d", n,
                           SMALL_CALLS_MAX);
    jcs_rpc_unary_call *calls = jcs_calloc(n ? n : 1, sizeof *calls);
    Jcs__Hub__ReadShardReq *reqs = jcs_calloc(n ? n : 1, sizeof *reqs);
    size_t *map = jcs_calloc(n ? n : 1, sizeof *map);
    if (!calls || !reqs || !map) {
        jcs_free(calls);
        jcs_free(reqs);
        jcs_free(map);
        return JCS_ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        jcs_rpc_channel *ch = NULL;
        if (io[i].offset < 0 || io[i].length < 0 || io[i].length > JCS_SHARD_CALL_MAX)
            io[i].rc = jcs_err_set(JCS_EINVAL, "read_small: bad range %lld+%lld",
                                   (long long)io[i].offset, (long long)io[i].length);
        else
            io[i].rc = site_channel(d, io[i].site, &ch);
        if (io[i].rc) {
            snprintf(io[i].detail, sizeof io[i].detail, "%s", jcs_err_msg(io[i].rc));
            continue;
        }
        jcs__hub__read_shard_req__init(&reqs[m]);
        reqs[m].space = (Jcs__Plan__Space *)io[i].site->space;
        reqs[m].file_hash = (char *)io[i].file_hash;
        reqs[m].offset = io[i].offset;
        reqs[m].length = io[i].length;
        calls[m] = (jcs_rpc_unary_call){.ch = ch,
                                        .method = JCS_M_READ_SHARD,
                                        .req = &reqs[m].base,
                                        .resp_desc = &jcs__hub__read_shard_resp__descriptor};
        map[m++] = i;
    }
    int rc = jcs_rpc_unary_all(calls, m, MAINT_TIMEOUT_MS);
    (void)rc; /* each entry's own result is kept below */
    for (size_t j = 0; j < m; j++) {
        jcs_driver_small_io *e = &io[map[j]];
        e->rc = calls[j].rc;
        if (e->rc) {
            e->rc = jcs_err_set(e->rc, "%s", calls[j].detail);
        } else {
            Jcs__Hub__ReadShardResp *r = (Jcs__Hub__ReadShardResp *)calls[j].resp;
            if (r->data.len != (size_t)e->length)
                e->rc =
                    jcs_err_set(JCS_ECORRUPT, "hub %s: ReadShard returned %zu bytes, %lld asked",
                                e->site->hub->address, r->data.len, (long long)e->length);
            else if (e->length > 0)
                memcpy(e->buf, r->data.data, (size_t)e->length);
        }
        if (e->rc)
            snprintf(e->detail, sizeof e->detail, "%s", jcs_err_msg(e->rc));
        if (calls[j].resp)
            protobuf_c_message_free_unpacked(calls[j].resp, NULL);
    }
    jcs_free(calls);
    jcs_free(reqs);
    jcs_free(map);
    for (size_t i = 0; i < n; i++) /* the first failure, with its detail, on this thread */
        if (io[i].rc)
            return jcs_err_set(io[i].rc, "%s", io[i].detail);
    return JCS_OK;
}

/* One read of a jcs_driver_reads set: the call first, so a finished call leads to its slot. */
typedef struct reads_slot {
    jcs_rpc_unary_call call;
    Jcs__Hub__ReadShardReq req;
    jcs_driver_small_io *io;
} reads_slot;

struct jcs_driver_reads {
    jcs_driver *d;
    jcs_rpc_unary_group *g;
    reads_slot slots[JCS_DRIVER_READS_MAX];
    size_t nslots;
};

int jcs_driver_reads_new(jcs_driver *d, jcs_driver_reads **out)
{
    jcs_driver_reads *r = jcs_calloc(1, sizeof *r);
    if (!r)
        return JCS_ENOMEM;
    int rc = jcs_rpc_unary_group_new(MAINT_TIMEOUT_MS, &r->g);
    if (rc) {
        jcs_free(r);
        return rc;
    }
    r->d = d;
    *out = r;
    return JCS_OK;
}

int jcs_driver_reads_start(jcs_driver_reads *r, jcs_driver_small_io *io)
{
    jcs_rpc_channel *ch = NULL;
    if (r->nslots == JCS_DRIVER_READS_MAX)
        io->rc = jcs_err_set(JCS_EINVAL, "read_small: more than %d reads in one set",
                             JCS_DRIVER_READS_MAX);
    else if (io->offset < 0 || io->length < 0 || io->length > JCS_SHARD_CALL_MAX)
        io->rc = jcs_err_set(JCS_EINVAL, "read_small: bad range %lld+%lld", (long long)io->offset,
                             (long long)io->length);
    else
        io->rc = site_channel(r->d, io->site, &ch);
    if (io->rc) {
        snprintf(io->detail, sizeof io->detail, "%s", jcs_err_msg(io->rc));
        return io->rc;
    }
    reads_slot *sl = &r->slots[r->nslots++];
    jcs__hub__read_shard_req__init(&sl->req);
    sl->req.space = (Jcs__Plan__Space *)io->site->space;
    sl->req.file_hash = (char *)io->file_hash;
    sl->req.offset = io->offset;
    sl->req.length = io->length;
    sl->call = (jcs_rpc_unary_call){.ch = ch,
                                    .method = JCS_M_READ_SHARD,
                                    .req = &sl->req.base,
                                    .resp_desc = &jcs__hub__read_shard_resp__descriptor};
    sl->io = io;
    int rc = jcs_rpc_unary_group_start(r->g, &sl->call);
    if (rc) {
        io->rc = rc;
        snprintf(io->detail, sizeof io->detail, "%s", sl->call.detail);
    }
    return rc;
}

int jcs_driver_reads_next(jcs_driver_reads *r, int64_t wait_ms, jcs_driver_small_io **done)
{
    jcs_rpc_unary_call *c;
    int rc = jcs_rpc_unary_group_next(r->g, wait_ms, &c);
    if (rc)
        return rc;
    reads_slot *sl = (reads_slot *)c; /* call is the slot's first member */
    jcs_driver_small_io *e = sl->io;
    e->rc = c->rc;
    if (e->rc) {
        e->rc = jcs_err_set(e->rc, "%s", c->detail);
    } else {
        Jcs__Hub__ReadShardResp *resp = (Jcs__Hub__ReadShardResp *)c->resp;
        if (resp->data.len != (size_t)e->length)
            e->rc = jcs_err_set(JCS_ECORRUPT, "hub %s: ReadShard returned %zu bytes, %lld asked",
                                e->site->hub->address, resp->data.len, (long long)e->length);
        else if (e->length > 0)
            memcpy(e->buf, resp->data.data, (size_t)e->length);
    }
    if (e->rc)
        snprintf(e->detail, sizeof e->detail, "%s", jcs_err_msg(e->rc));
    if (c->resp)
        protobuf_c_message_free_unpacked(c->resp, NULL);
    c->resp = NULL;
    *done = e;
    return JCS_OK;
}

void jcs_driver_reads_free(jcs_driver_reads *r)
{
    if (!r)
        return;
    jcs_rpc_unary_group_free(r->g);
    jcs_free(r);
}

int jcs_driver_read_small(jcs_driver *d, const jcs_site *site, const char *file_hash,
                          int64_t offset, int64_t length, void *buf)
{
    jcs_driver_small_io io = {
        .site = site, .file_hash = file_hash, .offset = offset, .length = length, .buf = buf};
    return jcs_driver_read_small_all(d, &io, 1);
}

int jcs_driver_write_small_all(jcs_driver *d, jcs_driver_small_io *io, size_t n)
{
    if (n > SMALL_CALLS_MAX)
        return jcs_err_set(JCS_EINVAL, "write_small: %zu writes at once, at most %d", n,
                           SMALL_CALLS_MAX);
    jcs_rpc_unary_call *calls = jcs_calloc(n ? n : 1, sizeof *calls);
    Jcs__Hub__WriteShardReq *reqs = jcs_calloc(n ? n : 1, sizeof *reqs);
    size_t *map = jcs_calloc(n ? n : 1, sizeof *map);
    if (!calls || !reqs || !map) {
        jcs_free(calls);
        jcs_free(reqs);
        jcs_free(map);
        return JCS_ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        jcs_rpc_channel *ch = NULL;
        if (io[i].length < 0 || io[i].length > JCS_SHARD_CALL_MAX)
            io[i].rc = jcs_err_set(JCS_EINVAL, "write_small: %lld bytes, at most %d",
                                   (long long)io[i].length, JCS_SHARD_CALL_MAX);
        else
            io[i].rc = site_channel(d, io[i].site, &ch);
        if (io[i].rc) {
            snprintf(io[i].detail, sizeof io[i].detail, "%s", jcs_err_msg(io[i].rc));
            continue;
        }
        jcs__hub__write_shard_req__init(&reqs[m]);
        reqs[m].space = (Jcs__Plan__Space *)io[i].site->space;
        reqs[m].file_hash = (char *)io[i].file_hash;
        reqs[m].data.data = io[i].buf;
        reqs[m].data.len = (size_t)io[i].length;
        calls[m] = (jcs_rpc_unary_call){.ch = ch,
                                        .method = JCS_M_WRITE_SHARD,
                                        .req = &reqs[m].base,
                                        .resp_desc = &jcs__hub__write_shard_resp__descriptor};
        map[m++] = i;
    }
    int rc = jcs_rpc_unary_all(calls, m, MAINT_TIMEOUT_MS);
    (void)rc; /* each entry's own result is kept below */
    for (size_t j = 0; j < m; j++) {
        jcs_driver_small_io *e = &io[map[j]];
        const char *addr = e->site->hub->address;
        if (calls[j].rc) {
            e->rc = jcs_err_set(calls[j].rc, "hub %s: %s", addr, calls[j].detail);
        } else {
            Jcs__Hub__WriteShardResp *r = (Jcs__Hub__WriteShardResp *)calls[j].resp;
            if (!r->shard || !r->shard->file_hash ||
                strcmp(r->shard->file_hash, e->file_hash) != 0 || r->shard->size != e->length)
                e->rc = jcs_err_set(JCS_ERPC,
                                    "hub %s: WriteShard answered without the stored shard", addr);
            else
                copy_entry(r->shard, &e->stored);
        }
        if (e->rc)
            snprintf(e->detail, sizeof e->detail, "%s", jcs_err_msg(e->rc));
        if (calls[j].resp)
            protobuf_c_message_free_unpacked(calls[j].resp, NULL);
    }
    jcs_free(calls);
    jcs_free(reqs);
    jcs_free(map);
    for (size_t i = 0; i < n; i++) /* the first failure, with its detail, on this thread */
        if (io[i].rc)
            return jcs_err_set(io[i].rc, "%s", io[i].detail);
    return JCS_OK;
}

int jcs_driver_write_small(jcs_driver *d, const jcs_site *site, const void *data, size_t len,
                           const char *file_hash, jcs_shard_entry *out)
{
    jcs_driver_small_io io = {
        .site = site, .file_hash = file_hash, .length = (int64_t)len, .buf = (void *)data};
    int rc = jcs_driver_write_small_all(d, &io, 1);
    if (rc == 0 && out)
        *out = io.stored;
    return rc;
}
