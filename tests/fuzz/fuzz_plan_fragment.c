/*
 * fuzz_plan_fragment.c - a plan fragment as a hub receives it: the bytes of
 * an ExecuteFragmentReq (proto/hub.proto) unpacked with protobuf-c, then run
 * by the executor (common/data/exec.c) that the hub's ExecuteFragment
 * handler runs it with, which checks the whole fragment before any op starts.
 *
 * The executor's environment is the hub's with every outside effect
 * refused: opening a space, pushing or pulling a stream or a value fails at
 * once (no storage, no network). So an accepted fragment runs its ops on
 * empty or failing inputs, which is cheap, and exercises what the check let
 * through. A run is cancelled after RUN_CANCEL_MS, as the driver would
 * cancel a plan it gave up on; it must then end within RUN_LIMIT_MS (a
 * fragment whose ops wait on each other for ever would hang a hub thread).
 *
 * Properties beyond not crashing: jcs_exec_run returns (JCS_OK or an error
 * with a detail), a rejected fragment is JCS_EINVAL, and after a successful
 * run every result var has its value (the hub answers with them).
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "exec.h"
#include "fuzz.h"
#include "hub.pb-c.h"
#include "rpc.h"

#define RUN_CANCEL_MS 100
#define RUN_LIMIT_MS  5000

static int no_space(void *ctx, const Jcs__Plan__Space *sp, jcs_shardstore **out)
{
    (void)ctx;
    (void)sp;
    *out = NULL;
    return jcs_err_set(JCS_EUNAVAIL, "fuzz: no storage");
}

static int no_push(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                   jcs_pipe *src)
{
    (void)ctx;
    (void)to;
    (void)plan_id;
    (void)var;
    jcs_pipe_abort(src, JCS_EUNAVAIL);
    return jcs_err_set(JCS_EUNAVAIL, "fuzz: no network");
}

static int no_pull(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                   jcs_pipe *dst)
{
    (void)ctx;
    (void)from;
    (void)plan_id;
    (void)var;
    (void)dst;
    return jcs_err_set(JCS_EUNAVAIL, "fuzz: no network");
}

static int no_push_value(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                         const Jcs__Plan__Value *v)
{
    (void)ctx;
    (void)to;
    (void)plan_id;
    (void)var;
    (void)v;
    return jcs_err_set(JCS_EUNAVAIL, "fuzz: no network");
}

static int no_pull_value(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                         Jcs__Plan__Value **out)
{
    (void)ctx;
    (void)from;
    (void)plan_id;
    (void)var;
    *out = NULL;
    return jcs_err_set(JCS_EUNAVAIL, "fuzz: no network");
}

struct canceller {
    jcs_exec *e;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static struct timespec in_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Cancels the run after RUN_CANCEL_MS; aborts (a hang) if it is still going RUN_LIMIT_MS later. */
static void *cancel_main(void *arg)
{
    struct canceller *c = arg;
    pthread_mutex_lock(&c->mu);
    struct timespec t = in_ms(RUN_CANCEL_MS);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &t) == 0)
        ;
    if (!c->done) {
        jcs_exec_cancel(c->e, JCS_ECANCELED);
        t = in_ms(RUN_LIMIT_MS);
        while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &t) == 0)
            ;
        if (!c->done) {
            fprintf(stderr, "fuzz_plan_fragment: the run did not end %d ms after its cancel\n",
                    RUN_LIMIT_MS);
            abort();
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > JCS_RPC_MAX_MESSAGE)
        return 0;
    Jcs__Hub__ExecuteFragmentReq *req = jcs__hub__execute_fragment_req__unpack(NULL, size, data);
    if (!req)
        return 0;
    const Jcs__Plan__Fragment *f = req->fragment;
    if (!f || !f->plan_id) {
        jcs__hub__execute_fragment_req__free_unpacked(req, NULL);
        return 0;
    }
    jcs_exec_env env = {.open_space = no_space,
                        .push = no_push,
                        .pull = no_pull,
                        .push_value = no_push_value,
                        .pull_value = no_pull_value,
                        .chunk_size = 4096,
                        .depth = 2};
    jcs_exec *e = NULL;
    if (jcs_exec_new(&env, f->plan_id, &e) != 0)
        abort();
    struct canceller c = {.e = e};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, cancel_main, &c) != 0)
        abort();
    int rc = jcs_exec_run(e, f);
    pthread_mutex_lock(&c.mu);
    c.done = 1;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    pthread_join(th, NULL);
    if (rc > 0)
        abort();
    if (rc < 0 && jcs_err_msg(rc)[0] == '\0')
        abort(); /* an error the hub would send without a detail */
    if (rc == 0) {
        /* The hub answers with every result var: each must have its value now. */
        for (size_t i = 0; i < f->n_results; i++) {
            Jcs__Plan__Value *v = NULL;
            if (jcs_exec_get_value(e, f->results[i], 0, &v) != 0 || !v)
                abort();
            protobuf_c_message_free_unpacked(&v->base, NULL);
        }
    }
    jcs_exec_free(e);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    jcs__hub__execute_fragment_req__free_unpacked(req, NULL);
    return 0;
}
