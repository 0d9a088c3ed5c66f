/*
 * dataplane.c - the hub's side of plans: ExecuteFragment, PushStream,
 * PullStream, PushVar, PullVar, and the shard maintenance methods.
 *
 * Design note. Calls for one plan meet in a registry keyed by plan id.
 * Whichever call comes first creates the plan's executor; the others find
 * it. The executor lives while any call holds a reference to it. A plan
 * whose fragment never arrives (its driver died between sending a stream
 * and sending the fragment) is cancelled by the janitor after
 * PLAN_ORPHAN_MS, which fails the calls waiting on it.
 *
 * Storage spaces arrive inside plans. Each distinct space is opened once
 * and cached. A local space's root must lie inside the hub's storage root:
 * a client may choose spaces, not arbitrary directories of the hub.
 */
#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>
#include <sys/stat.h>

#include "alloc.h"
#include "bulk.h"
#include "hash.h"
#include "hub.h"
#include "hub.pb-c.h"
#include "exec.h"
#include "log.h"
#include "methods.h"
#include "storage.h"
#include "util.h"

#define PLAN_ORPHAN_MS 30000
#define MAX_PLANS      4096
#define MAX_SPACES     1024
#define LIST_PAGE      10000
#define MAX_DELETE     100000

struct plan {
    char id[33];
    jcs_exec *exec;
    int refs;
    int has_fragment;
    int finished; /* its ExecuteFragment returned, or the janitor gave up on it */
    int64_t created_ms;
    struct plan *next;
};

struct space {
    char *key; /* identity: type and location (and credentials for s3) */
    jcs_storage *storage;
    jcs_shardstore *store;
};

/* Plans that failed here lately: a stream call arriving after the end gets the error at once. */
#define FAILED_PLANS 64

struct hub_dp {
    hub *h;
    pthread_mutex_t mu;
    struct plan *plans;
    int nplans;
    char failed_id[FAILED_PLANS][33]; /* ring, under mu */
    char failed_why[FAILED_PLANS][200];
    int failed_rc[FAILED_PLANS];
    int failed_next;
    struct space spaces[MAX_SPACES];
    int nspaces;
    pthread_t janitor;
    int janitor_started;
};

/* ------------------------------------------------------------------ spaces */

/* The absolute root of a local space, which must be inside the hub's storage root. */
static int local_root(hub *h, const char *root, char **out)
{
    if (!root || !root[0])
        return jcs_err_set(JCS_EINVAL, "local space without a root");
    for (const char *p = root; *p; p++)
        if ((unsigned char)*p < 0x20)
            return jcs_err_set(JCS_EINVAL, "local space root has a control character");
    if (strstr(root, "..") && (strcmp(root, "..") == 0 || strncmp(root, "../", 3) == 0 ||
                               strstr(root, "/../") || strstr(root, "/..")))
        return jcs_err_set(JCS_EPERM, "local space root \"%s\" has a \"..\" segment", root);
    const char *base = h->cfg.storage_root;
    size_t bl = strlen(base);
    if (root[0] == '/') {
        if (strncmp(root, base, bl) != 0 || (root[bl] != '/' && root[bl] != '\0'))
            return jcs_err_set(
                JCS_EPERM, "local space root %s is outside this hub's storage root %s", root, base);
        *out = jcs_strdup(root);
    } else {
        *out = jcs_asprintf("%s/%s", base, root);
    }
    return *out ? JCS_OK : jcs_err_set(JCS_ENOMEM, "out of memory");
}

static int space_open(struct hub_dp *dp, const Jcs__Plan__Space *sp, jcs_shardstore **out)
{
    char *key = NULL, *root = NULL;
    struct jcs_storage_config cfg;
    int rc;
    if (!sp)
        return jcs_err_set(JCS_EINVAL, "op without a space");
    memset(&cfg, 0, sizeof(cfg));
    if (strcmp(sp->type, "local") == 0) {
        if ((rc = local_root(dp->h, sp->root, &root)) != 0)
            return rc;
        key = jcs_asprintf("local\n%s", root);
        cfg.type = JCS_STORAGE_LOCAL;
        cfg.local_root = root;
    } else if (strcmp(sp->type, "s3") == 0) {
        key = jcs_asprintf("s3\n%s\n%s\n%s\n%s\n%d\n%s\n%s", sp->endpoint, sp->region, sp->bucket,
                           sp->prefix, sp->path_style, sp->access_key, sp->secret_key);
        cfg.type = JCS_STORAGE_S3;
        cfg.s3.endpoint = sp->endpoint;
        cfg.s3.region = sp->region;
        cfg.s3.bucket = sp->bucket;
        cfg.s3.prefix = sp->prefix;
        cfg.s3.path_style = sp->path_style;
        cfg.s3.access_key = sp->access_key;
        cfg.s3.secret_key = sp->secret_key;
    } else {
        return jcs_err_set(JCS_EINVAL, "space %" PRId64 ": unknown storage type \"%s\"",
                           sp->space_id, sp->type);
    }
    if (!key) {
        jcs_free(root);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&dp->mu);
    for (int i = 0; i < dp->nspaces; i++) {
        if (strcmp(dp->spaces[i].key, key) == 0) {
            *out = dp->spaces[i].store;
            pthread_mutex_unlock(&dp->mu);
            jcs_free(key);
            jcs_free(root);
            return JCS_OK;
        }
    }
    struct space s = {key, NULL, NULL};
    if (dp->nspaces == MAX_SPACES)
        rc = jcs_err_set(JCS_ETOOBIG, "this hub already serves %d spaces", MAX_SPACES);
    else if ((rc = jcs_storage_open(&cfg, &s.storage)) == 0 &&
             (rc = jcs_shardstore_open(s.storage, &s.store)) == 0) {
        /* Leftovers of writes that died with an earlier run of this hub. */
        unsigned removed = 0;
        if (jcs_shardstore_reclaim(s.store, 0, &removed) == 0 && removed)
            jcs_info("space %s: removed %u temporary files of dead writes",
                     jcs_storage_name(s.storage), removed);
        dp->spaces[dp->nspaces++] = s;
        *out = s.store;
        s.key = NULL;
    } else {
        jcs_storage_close(s.storage);
    }
    pthread_mutex_unlock(&dp->mu);
    jcs_free(s.key);
    jcs_free(root);
    return rc ? jcs_err_wrap(rc, "space %" PRId64 ": ", sp->space_id) : JCS_OK;
}

/* Reclaims dead temporary files in every local space under the storage root (at start). */
static void reclaim_local_spaces(hub *h)
{
    DIR *d = opendir(h->cfg.storage_root);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        char tmp[PATH_MAX];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(tmp, sizeof(tmp), "%s/%s/tmp", h->cfg.storage_root, de->d_name);
        if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        Jcs__Plan__Space sp = JCS__PLAN__SPACE__INIT;
        jcs_shardstore *ss;
        sp.type = "local";
        sp.root = de->d_name;
        int rc = space_open(h->dp, &sp, &ss);
        if (rc)
            jcs_warn("cannot open local space %s: %s", de->d_name, jcs_err_msg(rc));
    }
    closedir(d);
}

/* ------------------------------------------------------------------- plans */

static int env_open_space(void *ctx, const Jcs__Plan__Space *sp, jcs_shardstore **out)
{
    hub *h = ctx;
    return space_open(h->dp, sp, out);
}

static int env_push(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                    jcs_pipe *src)
{
    hub *h = ctx;
    return jcs_xfer_push(h->xfer, to, plan_id, var, src);
}

static int env_pull(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                    jcs_pipe *dst)
{
    hub *h = ctx;
    return jcs_xfer_pull(h->xfer, from, plan_id, var, dst);
}

static int env_push_value(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                          const Jcs__Plan__Value *v)
{
    hub *h = ctx;
    return jcs_xfer_push_value(h->xfer, to, plan_id, var, v);
}

static int env_pull_value(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id,
                          int32_t var, Jcs__Plan__Value **out)
{
    hub *h = ctx;
    return jcs_xfer_pull_value(h->xfer, from, plan_id, var, out);
}

static int check_plan_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n != 32)
        return jcs_err_set(JCS_EINVAL, "plan id must be 32 hex characters");
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", id[i]))
            return jcs_err_set(JCS_EINVAL, "plan id must be 32 hex characters");
    return JCS_OK;
}

/* Finds or creates plan id and takes a reference. */
static int plan_get(struct hub_dp *dp, const char *id, struct plan **out)
{
    int rc = check_plan_id(id);
    if (rc)
        return rc;
    pthread_mutex_lock(&dp->mu);
    struct plan *p = dp->plans;
    while (p && strcmp(p->id, id) != 0)
        p = p->next;
    for (int i = 0; !p && i < FAILED_PLANS; i++)
        if (strcmp(dp->failed_id[i], id) == 0) {
            /* Without this, a late PullStream would wait for a fragment that already ran. */
            /* With the failure's own code: callers tell corruption from cancellation. */
            rc = jcs_err_set(dp->failed_rc[i], "plan %s already failed on this hub: %s", id,
                             dp->failed_why[i]);
            pthread_mutex_unlock(&dp->mu);
            return rc;
        }
    if (!p) {
        if (dp->nplans >= MAX_PLANS) {
            pthread_mutex_unlock(&dp->mu);
            return jcs_err_set(JCS_EBUSY, "this hub runs %d plans already; try again", MAX_PLANS);
        }
        p = jcs_calloc(1, sizeof(*p));
        jcs_exec_env env = {
            .ctx = dp->h,
            .open_space = env_open_space,
            .push = env_push,
            .pull = env_pull,
            .push_value = env_push_value,
            .pull_value = env_pull_value,
        };
        if (!p || (rc = jcs_exec_new(&env, id, &p->exec)) != 0) {
            jcs_free(p);
            pthread_mutex_unlock(&dp->mu);
            return rc ? rc : jcs_err_set(JCS_ENOMEM, "out of memory");
        }
        snprintf(p->id, sizeof(p->id), "%s", id);
        p->created_ms = jcs_now_ms();
        p->next = dp->plans;
        dp->plans = p;
        dp->nplans++;
    }
    p->refs++;
    pthread_mutex_unlock(&dp->mu);
    *out = p;
    return JCS_OK;
}

/* Unlinks p; dp->mu held. */
static void plan_unlink(struct hub_dp *dp, struct plan *p)
{
    struct plan **pp = &dp->plans;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    dp->nplans--;
}

/*
 * Drops a reference. A plan outlives its calls until its fragment has run:
 * a stream pushed before the fragment arrives must still be there when it
 * does.
 */
static void plan_put(struct hub_dp *dp, struct plan *p, int finished)
{
    pthread_mutex_lock(&dp->mu);
    if (finished)
        p->finished = 1;
    if (--p->refs > 0 || !p->finished) {
        pthread_mutex_unlock(&dp->mu);
        return;
    }
    plan_unlink(dp, p);
    pthread_mutex_unlock(&dp->mu);
    jcs_exec_free(p->exec);
    jcs_free(p);
}

/*
 * Removes what dead writes left in every space this hub has served (a
 * writer that died with its process; an S3 multipart upload never
 * completed), once older than reclaimAgeSeconds. Spaces are only read
 * under the lock: the stores themselves are thread-safe.
 */
static void reclaim_spaces(struct hub_dp *dp)
{
    for (int i = 0;; i++) {
        pthread_mutex_lock(&dp->mu);
        jcs_shardstore *ss = i < dp->nspaces ? dp->spaces[i].store : NULL;
        const char *name = ss ? jcs_storage_name(dp->spaces[i].storage) : NULL;
        pthread_mutex_unlock(&dp->mu);
        if (!ss)
            return;
        unsigned removed = 0;
        int rc = jcs_shardstore_reclaim(ss, dp->h->cfg.reclaim_age_s * 1000, &removed);
        if (rc)
            jcs_warn("space %s: reclaiming temporary files failed: %s", name, jcs_err_msg(rc));
        else if (removed)
            jcs_info("space %s: removed %u temporary files of dead writes", name, removed);
    }
}

static void *janitor_main(void *arg)
{
    struct hub_dp *dp = arg;
    int64_t next_reclaim = jcs_now_ms() + dp->h->cfg.reclaim_interval_s * 1000;
    while (!jcs_stopper_sleep(dp->h->stop, 1000)) {
        int64_t now = jcs_now_ms();
        if (now >= next_reclaim) {
            reclaim_spaces(dp);
            next_reclaim = jcs_now_ms() + dp->h->cfg.reclaim_interval_s * 1000;
        }
        struct plan *gone = NULL;
        pthread_mutex_lock(&dp->mu);
        for (struct plan *p = dp->plans, *next; p; p = next) {
            next = p->next;
            if (p->has_fragment || p->finished || now - p->created_ms <= PLAN_ORPHAN_MS)
                continue;
            jcs_warn("plan %s: no fragment after %d ms; cancelling its streams", p->id,
                     PLAN_ORPHAN_MS);
            jcs_err_set(JCS_ETIMEOUT, "plan %s: its fragment never arrived", p->id);
            jcs_exec_cancel(p->exec, JCS_ETIMEOUT);
            p->finished = 1;
            if (p->refs == 0) {
                plan_unlink(dp, p);
                p->next = gone;
                gone = p;
            }
        }
        pthread_mutex_unlock(&dp->mu);
        while (gone) {
            struct plan *p = gone;
            gone = p->next;
            jcs_exec_free(p->exec);
            jcs_free(p);
        }
    }
    return NULL;
}

/* --------------------------------------------------------------- handlers */

struct watcher {
    jcs_rpc_call *call;
    jcs_exec *exec;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;     /* watch_driver returned */
    int finished; /* the fragment ran: no more heartbeats */
};

/*
 * Waits for the driver to half-close (after it read our response) or to
 * go away; the latter cancels the fragment. The driver sends nothing while
 * the fragment runs, so this receive has no idle deadline; h_execute
 * bounds the wait once the answer is sent.
 *
 * gRPC ends a server's receive the same way whether the client half-closed
 * or cancelled the call (RST_STREAM): no message, no error. The driver
 * half-closes only after it has read the answer, so an end of its stream
 * while the fragment still runs is a cancel (the plan failed elsewhere, or
 * the driver went away): without this, a fragment waiting for a stream that
 * will never come (its sender's link dropped before the PushStream reached
 * us) would keep its threads for ever.
 */
static void *watch_driver(void *arg)
{
    struct watcher *w = arg;
    ProtobufCMessage *m = NULL;
    int rc;
    while ((rc = jcs_rpc_call_recv(w->call, &jcs__hub__execute_fragment_req__descriptor, &m)) == 0)
        protobuf_c_message_free_unpacked(m, NULL);
    if (rc == JCS_EOF) {
        pthread_mutex_lock(&w->mu);
        int early = !w->finished;
        pthread_mutex_unlock(&w->mu);
        if (early)
            rc = JCS_ECANCELED;
    }
    if (rc < 0) {
        jcs_err_set(JCS_ECANCELED, "the driver cancelled the plan or went away");
        jcs_exec_cancel(w->exec, JCS_ECANCELED);
    }
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* A deadline ms from now for pthread_cond_timedwait (CLOCK_REALTIME). */
static struct timespec abs_in_ms(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

/*
 * Sends a heartbeat (running = true) every third of the idle deadline while
 * the fragment runs, so the driver's wait for the answer has its idle
 * deadline too: a hub that stalls stops beating and the driver gives up on
 * it within that deadline, however long a healthy plan runs.
 */
static void *beat_driver(void *arg)
{
    struct watcher *w = arg;
    int64_t every = jcs_rpc_idle_timeout_ms() / 3;
    Jcs__Hub__ExecuteFragmentResp beat = JCS__HUB__EXECUTE_FRAGMENT_RESP__INIT;
    beat.running = 1;
    pthread_mutex_lock(&w->mu);
    while (!w->finished) {
        struct timespec until = abs_in_ms(every > 0 ? every : 1);
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
        if (w->finished || w->done)
            break;
        pthread_mutex_unlock(&w->mu);
        int rc = jcs_rpc_call_send(w->call, &beat.base);
        pthread_mutex_lock(&w->mu);
        if (rc)
            break; /* the call is gone: the watcher cancels the fragment */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int h_execute(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    struct hub_dp *dp = h->dp;
    Jcs__Hub__ExecuteFragmentReq *req = NULL;
    struct plan *p = NULL;
    int owner = 0;
    int rc =
        jcs_rpc_call_recv_request(call, &jcs__hub__execute_fragment_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    const Jcs__Plan__Fragment *f = req->fragment;
    if (!f) {
        rc = jcs_err_set(JCS_EINVAL, "ExecuteFragment without a fragment");
        goto out;
    }
    if (f->worker && f->worker->hub_id != atomic_load(&h->hub_id)) {
        rc = jcs_err_set(JCS_EINVAL, "fragment for hub %" PRId64 " sent to hub %lld (%s)",
                         f->worker->hub_id, (long long)atomic_load(&h->hub_id), h->cfg.name);
        goto out;
    }
    if ((rc = plan_get(dp, f->plan_id, &p)) != 0)
        goto out;
    pthread_mutex_lock(&dp->mu);
    int dup = p->has_fragment;
    p->has_fragment = 1;
    pthread_mutex_unlock(&dp->mu);
    owner = !dup;
    if (dup) {
        rc = jcs_err_set(JCS_EEXIST, "plan %s already has its fragment on this hub", f->plan_id);
        goto out;
    }
    struct watcher w = {.call = call, .exec = p->exec};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t wt, bt;
    jcs_rpc_call_set_recv_idle_ms(call, 0);
    if (pthread_create(&wt, NULL, watch_driver, &w) != 0) {
        rc = jcs_err_set(JCS_EIO, "cannot start a thread");
        jcs_exec_cancel(p->exec, rc);
        pthread_mutex_destroy(&w.mu);
        pthread_cond_destroy(&w.cv);
        goto out;
    }
    int beating = pthread_create(&bt, NULL, beat_driver, &w) == 0;
    int64_t t0 = jcs_now_ms();
    rc = jcs_exec_run(p->exec, f);
    char why[1024];
    snprintf(why, sizeof(why), "%s", rc ? jcs_err_msg(rc) : "");
    /* One sender at a time: the heartbeats stop before the answer goes. */
    pthread_mutex_lock(&w.mu);
    w.finished = 1;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    if (beating)
        pthread_join(bt, NULL);

    /* Always answer once, so the driver half-closes and the watcher ends. */
    Jcs__Hub__ExecuteFragmentResp resp = JCS__HUB__EXECUTE_FRAGMENT_RESP__INIT;
    Jcs__Plan__VarValue *vv = jcs_calloc(f->n_results + 1, sizeof(*vv));
    Jcs__Plan__VarValue **vp = jcs_calloc(f->n_results + 1, sizeof(*vp));
    Jcs__Plan__Value **vals = jcs_calloc(f->n_results + 1, sizeof(*vals));
    if (!vv || !vp || !vals) {
        rc = rc ? rc : jcs_err_set(JCS_ENOMEM, "out of memory");
    } else if (!rc) {
        for (size_t i = 0; i < f->n_results && !rc; i++) {
            jcs__plan__var_value__init(&vv[i]);
            vv[i].var = f->results[i];
            rc = jcs_exec_get_value(p->exec, f->results[i], 0, &vals[i]);
            vv[i].value = vals[i];
            vp[i] = &vv[i];
        }
        if (!rc) {
            resp.n_values = f->n_results;
            resp.values = vp;
        } else {
            snprintf(why, sizeof(why), "%s", jcs_err_msg(rc));
        }
    }
    int src = jcs_rpc_call_send(call, &resp.base);
    for (size_t i = 0; vals && i < f->n_results; i++)
        if (vals[i])
            protobuf_c_message_free_unpacked(&vals[i]->base, NULL);
    jcs_free(vv);
    jcs_free(vp);
    jcs_free(vals);
    if (src)
        jcs_exec_cancel(p->exec, src);
    /* The driver half-closes once it has the answer; one that stalled or whose packets are
     * dropped would keep this thread for ever: wait at most the idle deadline. */
    pthread_mutex_lock(&w.mu);
    struct timespec until = abs_in_ms(jcs_rpc_idle_timeout_ms());
    while (!w.done && pthread_cond_timedwait(&w.cv, &w.mu, &until) == 0)
        ;
    int watched = w.done;
    pthread_mutex_unlock(&w.mu);
    if (!watched) {
        jcs_warn("plan %s: the driver did not close its call within %lld ms of the answer; "
                 "cancelling it",
                 f->plan_id, (long long)jcs_rpc_idle_timeout_ms());
        jcs_rpc_call_cancel(call);
    }
    pthread_join(wt, NULL);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    if (rc) {
        jcs_warn("plan %s failed after %" PRId64 " ms: %s", f->plan_id, jcs_now_ms() - t0, why);
        pthread_mutex_lock(&dp->mu);
        snprintf(dp->failed_id[dp->failed_next], sizeof dp->failed_id[0], "%s", f->plan_id);
        snprintf(dp->failed_why[dp->failed_next], sizeof dp->failed_why[0], "%.199s", why);
        dp->failed_rc[dp->failed_next] = rc;
        dp->failed_next = (dp->failed_next + 1) % FAILED_PLANS;
        pthread_mutex_unlock(&dp->mu);
        jcs_err_set(rc, "hub %s: %s", h->cfg.name, why);
    } else {
        jcs_debug("plan %s: %zu ops done in %" PRId64 " ms", f->plan_id, f->n_ops,
                  jcs_now_ms() - t0);
        rc = src;
    }
out:
    /* Only the call that brought the fragment may end the plan. */
    if (p)
        plan_put(dp, p, owner);
    if (req)
        protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

static int h_push_stream(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__StreamHeader *hd = NULL;
    struct plan *p = NULL;
    jcs_pipe *pipe;
    uint64_t bytes = 0;
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__stream_header__descriptor, (void **)&hd);
    if (rc)
        return rc;
    if ((rc = plan_get(h->dp, hd->plan_id, &p)) != 0 ||
        (rc = jcs_exec_input(p->exec, hd->var, &pipe)) != 0)
        goto out;
    for (;;) {
        /* The message goes into the plan as gRPC's own pieces, not copied. */
        jcs_rpc_msg *m;
        const struct iovec *iov;
        size_t n, len = 0;
        int r = jcs_rpc_call_recv_msg(call, &m, &iov, &n);
        if (r == JCS_EOF) {
            jcs_pipe_close(pipe, 0);
            break;
        }
        if (r < 0) {
            /* The sender vanished mid-stream: the stream is incomplete, fail the plan. */
            rc = jcs_err_wrap(r, "plan %s var %d: incoming stream broken after %" PRIu64 " bytes: ",
                              hd->plan_id, (int)hd->var, bytes);
            jcs_exec_fail(p->exec, rc, "%s", jcs_err_msg(rc));
            jcs_pipe_close(pipe, rc);
            break;
        }
        for (size_t i = 0; i < n; i++)
            len += iov[i].iov_len;
        if ((rc = jcs_pipe_write_ext(pipe, iov, n, jcs_rpc_msg_free, m)) != 0)
            break; /* the plan failed; its error is in rc */
        bytes += len;
    }
    if (!rc) {
        Jcs__Hub__PushStreamResp resp = JCS__HUB__PUSH_STREAM_RESP__INIT;
        resp.bytes = (int64_t)bytes;
        rc = jcs_rpc_call_send(call, &resp.base);
    }
out:
    if (p)
        plan_put(h->dp, p, 0);
    protobuf_c_message_free_unpacked(&hd->base, NULL);
    return rc;
}

static int h_pull_stream(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__StreamHeader *hd = NULL;
    struct plan *p = NULL;
    jcs_pipe *pipe;
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__stream_header__descriptor, (void **)&hd);
    if (rc)
        return rc;
    if ((rc = plan_get(h->dp, hd->plan_id, &p)) != 0 ||
        (rc = jcs_exec_output(p->exec, hd->var, &pipe)) != 0)
        goto out;
    for (;;) {
        jcs_chunk c;
        int r = jcs_pipe_read(pipe, &c);
        if (r == JCS_EOF)
            break;
        if (r < 0) {
            rc = r;
            break;
        }
        /* gRPC reads the chunk's bytes in place and drops the hold when done with them. */
        void *hold = jcs_chunk_hold(&c);
        r = hold ? jcs_rpc_call_send_owned(call, c.data, c.len, jcs_chunk_drop, hold)
                 : jcs_rpc_call_send_raw(call, c.data, c.len);
        jcs_pipe_release(pipe, &c);
        if (r) {
            /* The puller went away: nobody will read the rest, so the plan cannot finish. */
            jcs_pipe_abort(pipe, r);
            rc = r;
            break;
        }
    }
out:
    if (p)
        plan_put(h->dp, p, 0);
    protobuf_c_message_free_unpacked(&hd->base, NULL);
    return rc;
}

/*
 * A push over the bulk channel (bulk.h): DATA frames into the plan's input
 * pipe until an explicit END. A CANCEL from the sender, or a connection
 * that breaks or stalls before END, fails the stream: unlike the end of a
 * gRPC stream, which looks the same whether the sender finished or was
 * cancelled, nothing here can pass a cut stream off as complete.
 */
static int bulk_push_in(hub *h, jcs_bulk_conn *c, const jcs_bulk_frame *open)
{
    struct plan *p = NULL;
    jcs_pipe *pipe;
    uint64_t bytes = 0;
    int rc = plan_get(h->dp, open->plan_id, &p);
    if (!rc)
        rc = jcs_exec_input(p->exec, open->var, &pipe);
    if (rc) {
        /* The sender checks for an answer before each frame; the connection is then closed. */
        jcs_bulk_send_fail(c, JCS_BULK_ERROR, rc, jcs_err_msg(rc));
        if (p)
            plan_put(h->dp, p, 0);
        return -1;
    }
    int reusable = 0;
    for (;;) {
        jcs_bulk_frame f;
        int r = jcs_bulk_recv(c, &f);
        if (!r && f.type == JCS_BULK_END) {
            jcs_pipe_close(pipe, 0);
            reusable = jcs_bulk_send_ok(c, bytes) == 0;
            break;
        }
        if (!r && f.type == JCS_BULK_CANCEL)
            r = jcs_err_set(f.code,
                            "plan %s var %d: the sender cancelled the stream after %" PRIu64
                            " bytes: %s",
                            open->plan_id, (int)open->var, bytes, f.msg);
        else if (!r && f.type != JCS_BULK_DATA)
            r = jcs_err_set(JCS_ERPC, "plan %s var %d: frame type %d in a stream", open->plan_id,
                            (int)open->var, f.type);
        else if (r)
            r = jcs_err_wrap(r, "plan %s var %d: incoming stream broken after %" PRIu64 " bytes: ",
                             open->plan_id, (int)open->var, bytes);
        if (r) {
            jcs_exec_fail(p->exec, r, "%s", jcs_err_msg(r));
            jcs_pipe_close(pipe, r);
            break;
        }
        /* Straight into the plan's pipe buffers: the one copy is OpenSSL's decryption. */
        while (f.len && !r) {
            uint8_t *buf;
            size_t cap;
            if ((r = jcs_pipe_get_buffer(pipe, &buf, &cap)) != 0)
                break;
            size_t k = f.len < cap ? f.len : cap;
            int rr = jcs_bulk_recv_data(c, buf, k);
            r = jcs_pipe_commit_buffer(pipe, rr ? 0 : k);
            if (rr) {
                r = jcs_err_wrap(rr,
                                 "plan %s var %d: incoming stream broken after %" PRIu64 " bytes: ",
                                 open->plan_id, (int)open->var, bytes);
                jcs_exec_fail(p->exec, r, "%s", jcs_err_msg(r));
                jcs_pipe_close(pipe, r);
                break;
            }
            bytes += k;
            f.len -= k;
        }
        if (r) {
            /* The plan failed here (its error is in r): tell the sender, which stops. */
            jcs_bulk_send_fail(c, JCS_BULK_ERROR, r, jcs_err_msg(r));
            break;
        }
    }
    plan_put(h->dp, p, 0);
    return reusable ? 0 : -1;
}

/* A pull over the bulk channel: the plan's output pipe as DATA frames, then END or ERROR. */
static int bulk_pull_out(hub *h, jcs_bulk_conn *c, const jcs_bulk_frame *open)
{
    struct plan *p = NULL;
    jcs_pipe *pipe;
    int rc = plan_get(h->dp, open->plan_id, &p);
    if (!rc)
        rc = jcs_exec_output(p->exec, open->var, &pipe);
    if (rc) {
        int sr = jcs_bulk_send_fail(c, JCS_BULK_ERROR, rc, jcs_err_msg(rc));
        if (p)
            plan_put(h->dp, p, 0);
        return sr ? -1 : 0;
    }
    int reusable = 0;
    for (;;) {
        jcs_chunk ch;
        int r = jcs_pipe_read(pipe, &ch);
        if (r == JCS_EOF) {
            reusable = jcs_bulk_send_end(c) == 0;
            break;
        }
        if (r < 0) {
            reusable = jcs_bulk_send_fail(c, JCS_BULK_ERROR, r, jcs_err_msg(r)) == 0;
            break;
        }
        /* The puller sends nothing during a stream: anything readable is its close. */
        r = jcs_bulk_readable(c)
                ? jcs_err_set(JCS_ECANCELED, "the puller %s went away", jcs_bulk_peer(c))
                : jcs_bulk_send_data(c, ch.data, ch.len);
        jcs_pipe_release(pipe, &ch);
        if (r) {
            /* Nobody will read the rest, so the plan cannot finish. */
            jcs_pipe_abort(pipe, r);
            break;
        }
    }
    plan_put(h->dp, p, 0);
    return reusable ? 0 : -1;
}

int hub_dataplane_bulk(void *ctx, jcs_bulk_conn *c, const jcs_bulk_frame *open)
{
    hub *h = ctx;
    return open->type == JCS_BULK_OPEN_PUSH ? bulk_push_in(h, c, open) : bulk_pull_out(h, c, open);
}

static int h_push_var(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__PushVarReq *req = NULL;
    struct plan *p = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__push_var_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    if (!req->value) {
        rc = jcs_err_set(JCS_EINVAL, "PushVar without a value");
    } else if ((rc = plan_get(h->dp, req->plan_id, &p)) == 0) {
        rc = jcs_exec_put_value(p->exec, req->var, req->value);
        req->value = NULL; /* taken by the executor, even on failure */
    }
    if (!rc) {
        Jcs__Hub__PushVarResp resp = JCS__HUB__PUSH_VAR_RESP__INIT;
        rc = jcs_rpc_call_send(call, &resp.base);
    }
    if (p)
        plan_put(h->dp, p, 0);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

static int h_pull_var(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__PullVarReq *req = NULL;
    struct plan *p = NULL;
    Jcs__Plan__Value *v = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__pull_var_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    int64_t left = jcs_rpc_call_time_left_ms(call) - 100;
    int64_t wait = req->timeout_ms > 0 && req->timeout_ms < left ? req->timeout_ms : left;
    if ((rc = plan_get(h->dp, req->plan_id, &p)) == 0 &&
        (rc = jcs_exec_get_value(p->exec, req->var, wait > 0 ? wait : 0, &v)) == 0) {
        Jcs__Hub__PullVarResp resp = JCS__HUB__PULL_VAR_RESP__INIT;
        resp.value = v;
        rc = jcs_rpc_call_send(call, &resp.base);
        protobuf_c_message_free_unpacked(&v->base, NULL);
    }
    if (p)
        plan_put(h->dp, p, 0);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

struct list_ctx {
    jcs_rpc_call *call;
    Jcs__Hub__ShardEntry *ents;
    Jcs__Hub__ShardEntry **ptrs;
    char (*hashes)[JCS_FILEHASH_LEN + 1];
    size_t n;
    int sidecars; /* listing orphan sidecars: entries are sidecar_only */
};

static int flush_page(struct list_ctx *lc)
{
    Jcs__Hub__ListShardsResp resp = JCS__HUB__LIST_SHARDS_RESP__INIT;
    resp.n_shards = lc->n;
    resp.shards = lc->ptrs;
    lc->n = 0;
    return jcs_rpc_call_send(lc->call, &resp.base);
}

/* A shard as the maintenance RPCs describe it; file_hash (borrowed) must outlive e. */
static void shard_entry(const struct jcs_shard_info *info, char *file_hash, Jcs__Hub__ShardEntry *e)
{
    jcs__hub__shard_entry__init(e);
    e->file_hash = file_hash;
    e->size = (int64_t)info->size;
    e->mtime_ms = info->mtime_ms;
}

static int list_one(void *arg, const struct jcs_shard_info *info)
{
    struct list_ctx *lc = arg;
    Jcs__Hub__ShardEntry e;
    memcpy(lc->hashes[lc->n], info->hash, sizeof(lc->hashes[0]));
    shard_entry(info, lc->hashes[lc->n], &e);
    e.sidecar_only = lc->sidecars;
    lc->ents[lc->n] = e;
    lc->ptrs[lc->n] = &lc->ents[lc->n];
    if (++lc->n == LIST_PAGE)
        return flush_page(lc);
    return JCS_OK;
}

static int h_list_shards(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__ListShardsReq *req = NULL;
    jcs_shardstore *ss;
    struct list_ctx lc = {call, NULL, NULL, NULL, 0, 0};
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__list_shards_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    lc.ents = jcs_calloc(LIST_PAGE, sizeof(*lc.ents));
    lc.ptrs = jcs_calloc(LIST_PAGE, sizeof(*lc.ptrs));
    lc.hashes = jcs_calloc(LIST_PAGE, sizeof(*lc.hashes));
    if (!lc.ents || !lc.ptrs || !lc.hashes)
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
    else if ((rc = space_open(h->dp, req->space, &ss)) == 0 &&
             (rc = jcs_shardstore_list(ss, list_one, &lc)) == 0 && lc.n > 0)
        rc = flush_page(&lc);
    if (rc == 0 && req->orphan_sidecars) {
        lc.sidecars = 1;
        if ((rc = jcs_shardstore_list_orphan_sidecars(ss, list_one, &lc)) == 0 && lc.n > 0)
            rc = flush_page(&lc);
    }
    jcs_free(lc.ents);
    jcs_free(lc.ptrs);
    jcs_free(lc.hashes);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

static int h_stat_shard(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__StatShardReq *req = NULL;
    jcs_shardstore *ss;
    struct jcs_shard_info info;
    struct jcs_shard_verify vr = {0};
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__stat_shard_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    if ((rc = jcs_filehash_check(req->file_hash)) == 0 &&
        (rc = space_open(h->dp, req->space, &ss)) == 0 &&
        (!req->verify || (rc = jcs_shardstore_verify(ss, req->file_hash, &vr)) == 0) &&
        (rc = jcs_shardstore_stat(ss, req->file_hash, &info)) == 0) {
        Jcs__Hub__ShardEntry e;
        Jcs__Hub__StatShardResp resp = JCS__HUB__STAT_SHARD_RESP__INIT;
        resp.sidecar_written = vr.sidecar_written;
        shard_entry(&info, info.hash, &e);
        resp.shard = &e;
        rc = jcs_rpc_call_send(call, &resp.base);
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

typedef struct read_buf {
    uint8_t *p;
    size_t len, cap;
} read_buf;

static int read_sink(void *arg, const void *data, size_t n)
{
    read_buf *b = arg;
    if (n > b->cap - b->len)
        return jcs_err_set(JCS_ECORRUPT, "the shard holds more bytes than its size said");
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static int h_read_shard(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__ReadShardReq *req = NULL;
    jcs_shardstore *ss;
    read_buf b = {0};
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__read_shard_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    /* No stat first: the read says JCS_ENOENT for a missing shard (a shard known corrupt is
     * refused as StatShard would, without a system call), and checks the range against the size the
     * shard's checksums record (a shard truncated on disk is corrupt, not a bad request). */
    if ((rc = jcs_filehash_check(req->file_hash)) == 0 &&
        (req->offset < 0 || req->length < 0 || req->length > JCS_SHARD_CALL_MAX))
        rc = jcs_err_set(JCS_EINVAL,
                         "ReadShard %s: range %" PRId64 "+%" PRId64 " is negative or over %d bytes",
                         req->file_hash, req->offset, req->length, JCS_SHARD_CALL_MAX);
    if (rc == 0 && (rc = space_open(h->dp, req->space, &ss)) == 0)
        rc = jcs_shardstore_known_corrupt(ss, req->file_hash);
    if (rc == 0 && !(b.p = jcs_malloc(req->length ? (size_t)req->length : 1)))
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
    b.cap = (size_t)req->length;
    if (rc == 0 && req->length > 0) {
        rc = jcs_shardstore_read(ss, req->file_hash, (uint64_t)req->offset, (uint64_t)req->length,
                                 read_sink, &b);
    } else if (rc == 0) {
        struct jcs_shard_info info; /* nothing to read: is it there at all? */
        rc = jcs_shardstore_stat(ss, req->file_hash, &info);
    }
    if (rc == 0 && b.len != b.cap)
        rc = jcs_err_set(JCS_ECORRUPT, "shard %s: read %zu bytes of %zu", req->file_hash, b.len,
                         b.cap);
    /* The store checked every byte against the shard's checksums. */
    if (rc == JCS_ECORRUPT)
        rc = jcs_err_wrap(rc, "user space %" PRId64 ": ", req->space->space_id);
    if (rc == 0) {
        Jcs__Hub__ReadShardResp resp = JCS__HUB__READ_SHARD_RESP__INIT;
        resp.data.data = b.p;
        resp.data.len = b.len;
        rc = jcs_rpc_call_send(call, &resp.base);
    }
    jcs_free(b.p);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

static int h_write_shard(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__WriteShardReq *req = NULL;
    jcs_shardstore *ss;
    jcs_shard_writer *w = NULL;
    struct jcs_shard_info info;
    char got[JCS_HASH_SIZE];
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__write_shard_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    if ((rc = jcs_filehash_check(req->file_hash)) == 0 && req->data.len > JCS_SHARD_CALL_MAX)
        rc = jcs_err_set(JCS_EINVAL, "WriteShard: %zu bytes, at most %d in one call", req->data.len,
                         JCS_SHARD_CALL_MAX);
    /* The hub names the content itself: a shard is never stored under a wrong hash. */
    if (rc == 0 && (rc = jcs_hash_buf(req->data.data, req->data.len, got)) == 0 &&
        strcmp(got, req->file_hash) != 0)
        rc = jcs_err_set(JCS_EINVAL, "WriteShard: the data hashes to %s, not %s", got,
                         req->file_hash);
    if (rc == 0 && (rc = space_open(h->dp, req->space, &ss)) == 0 &&
        (rc = jcs_shardstore_create(ss, &w)) == 0) {
        rc = jcs_shard_write(w, req->data.data, req->data.len);
        if (rc)
            jcs_shard_abort(w);
        else
            rc = jcs_shard_commit(w, req->file_hash, &info, NULL);
    }
    if (rc == 0) {
        Jcs__Hub__ShardEntry e;
        Jcs__Hub__WriteShardResp resp = JCS__HUB__WRITE_SHARD_RESP__INIT;
        shard_entry(&info, info.hash, &e);
        resp.shard = &e;
        rc = jcs_rpc_call_send(call, &resp.base);
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

static int h_delete_shards(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    Jcs__Hub__DeleteShardsReq *req = NULL;
    jcs_shardstore *ss;
    size_t done = 0;
    int rc =
        jcs_rpc_call_recv_request(call, &jcs__hub__delete_shards_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    if (req->n_file_hashes > MAX_DELETE)
        rc = jcs_err_set(JCS_EINVAL, "%zu shards in one call; at most %d", req->n_file_hashes,
                         MAX_DELETE);
    else if ((rc = space_open(h->dp, req->space, &ss)) == 0 &&
             (rc = jcs_shardstore_delete(ss, (const char *const *)req->file_hashes,
                                         req->n_file_hashes, &done)) == 0) {
        Jcs__Hub__DeleteShardsResp resp = JCS__HUB__DELETE_SHARDS_RESP__INIT;
        resp.deleted = (int64_t)done;
        rc = jcs_rpc_call_send(call, &resp.base);
        jcs_info("deleted %zu shards from space %" PRId64, done, req->space->space_id);
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

/* ------------------------------------------------------------- lifecycle */

#define PLANNERS (JCS_ROLE_CLIENT | JCS_ROLE_HUB)

static const jcs_rpc_method dp_methods[] = {
    {JCS_M_EXECUTE_FRAGMENT, PLANNERS, h_execute}, {JCS_M_PUSH_STREAM, PLANNERS, h_push_stream},
    {JCS_M_PULL_STREAM, PLANNERS, h_pull_stream},  {JCS_M_PUSH_VAR, PLANNERS, h_push_var},
    {JCS_M_PULL_VAR, PLANNERS, h_pull_var},        {JCS_M_LIST_SHARDS, PLANNERS, h_list_shards},
    {JCS_M_STAT_SHARD, PLANNERS, h_stat_shard},    {JCS_M_DELETE_SHARDS, PLANNERS, h_delete_shards},
    {JCS_M_READ_SHARD, PLANNERS, h_read_shard},    {JCS_M_WRITE_SHARD, PLANNERS, h_write_shard},
};

const jcs_rpc_method *hub_dataplane_methods(size_t *n)
{
    *n = sizeof(dp_methods) / sizeof(dp_methods[0]);
    return dp_methods;
}

int hub_dataplane_start(hub *h)
{
    struct hub_dp *dp = jcs_calloc(1, sizeof(*dp));
    if (!dp)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    dp->h = h;
    pthread_mutex_init(&dp->mu, NULL);
    h->dp = dp;
    jcs_tls_files tls = jcs_service_tls_files(&h->cfg.tls);
    int rc = jcs_xfer_new(&tls, &h->xfer);
    if (rc)
        return rc;
    reclaim_local_spaces(h);
    if (pthread_create(&dp->janitor, NULL, janitor_main, dp) != 0)
        return jcs_err_set(JCS_EIO, "cannot start the plan janitor");
    dp->janitor_started = 1;
    return JCS_OK;
}

void hub_dataplane_cancel_all(hub *h)
{
    struct hub_dp *dp = h->dp;
    if (!dp)
        return;
    /* Calls blocked on a plan's pipes (a push whose fragment never came)
     * would otherwise hold up the RPC server's shutdown. */
    pthread_mutex_lock(&dp->mu);
    for (struct plan *p = dp->plans; p; p = p->next)
        jcs_exec_cancel(p->exec, JCS_ECANCELED);
    pthread_mutex_unlock(&dp->mu);
}

void hub_dataplane_stop(hub *h)
{
    struct hub_dp *dp = h->dp;
    if (!dp)
        return;
    jcs_stopper_stop(h->stop);
    if (dp->janitor_started)
        pthread_join(dp->janitor, NULL);
    /* The RPC server is down, so no call holds a plan any more. */
    while (dp->plans) {
        struct plan *p = dp->plans;
        dp->plans = p->next;
        jcs_exec_free(p->exec);
        jcs_free(p);
    }
    for (int i = 0; i < dp->nspaces; i++) {
        jcs_shardstore_close(dp->spaces[i].store);
        jcs_storage_close(dp->spaces[i].storage);
        jcs_free(dp->spaces[i].key);
    }
    jcs_xfer_free(h->xfer);
    h->xfer = NULL;
    pthread_mutex_destroy(&dp->mu);
    jcs_free(dp);
    h->dp = NULL;
}
