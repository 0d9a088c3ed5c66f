/*
 * Leases on the storage behind user spaces (see spacelease.h).
 */
#include "spacelease.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "coordinator.pb-c.h"
#include "hash.h"
#include "log.h"
#include "methods.h"
#include "util.h"

#define CALL_MS       10000 /* a Lock, Renew or Unlock call, beyond its own wait */
#define WAIT_SLICE_MS 30000 /* one Lock call waits at most this long, so stop is seen */
#define NAME_PLAIN    200   /* longer names are hashed */

struct lease {
    char name[JCS_SPACELEASE_NAME_MAX];
    char id[64]; /* the coordinator's lease id; "" when not held */
};

struct jcs_spacelease {
    jcs_rpc_channel *coord;
    struct lease *v;
    size_t n;
    int64_t ttl_ms, waited_ms;
    atomic_bool lost;
    /* The renewing thread sleeps on cv until the next renewal or release. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool closing, thread_started;
    pthread_t thread;
};

int jcs_spacelease_name(const char *storage_json, char out[JCS_SPACELEASE_NAME_MAX])
{
    json_error_t jerr;
    json_t *st = storage_json ? json_loads(storage_json, 0, &jerr) : NULL;
    const char *type = json_string_value(json_object_get(st, "type"));
    char plain[4096];
    int rc = JCS_OK;
    int len = -1;
    if (!st || !type) {
        rc = jcs_err_set(JCS_EINVAL, "storage: not a JSON object with a \"type\"");
    } else if (strcmp(type, "local") == 0) {
        json_int_t hub = json_integer_value(json_object_get(st, "hubID"));
        const char *root = json_string_value(json_object_get(st, "root"));
        if (hub <= 0 || !root || !*root) {
            rc = jcs_err_set(JCS_EINVAL, "storage: a local storage needs hubID and root");
        } else {
            /* "/data/x/" and "/data/x" are one directory. */
            size_t rl = strlen(root);
            while (rl > 1 && root[rl - 1] == '/')
                rl--;
            len = snprintf(plain, sizeof plain, "jcs/space/local/hub%" JSON_INTEGER_FORMAT ":%.*s",
                           hub, (int)rl, root);
        }
    } else if (strcmp(type, "s3") == 0) {
        const char *ep = json_string_value(json_object_get(st, "endpoint"));
        const char *bucket = json_string_value(json_object_get(st, "bucket"));
        const char *prefix = json_string_value(json_object_get(st, "prefix"));
        if (!ep || !*ep || !bucket || !*bucket)
            rc = jcs_err_set(JCS_EINVAL, "storage: an s3 storage needs endpoint and bucket");
        else
            len = snprintf(plain, sizeof plain, "jcs/space/s3/%s/%s/%s", ep, bucket,
                           prefix ? prefix : "");
    } else {
        /* Any other type: its whole description, so equal storages still meet. */
        char *dump = json_dumps(st, JSON_SORT_KEYS | JSON_COMPACT);
        if (!dump)
            rc = JCS_ENOMEM;
        else
            len = snprintf(plain, sizeof plain, "jcs/space/%s/%s", type, dump);
        free(dump);
    }
    json_decref(st);
    if (rc)
        return rc;
    if (len >= 0 && len <= NAME_PLAIN) {
        memcpy(out, plain, (size_t)len + 1);
        return JCS_OK;
    }
    /* Too long (or cut off above): a digest of the whole description. */
    char h[JCS_HASH_SIZE];
    if ((rc = jcs_hash_buf(plain, len < 0 ? 0 : strnlen(plain, sizeof plain), h)) != 0)
        return rc;
    snprintf(out, JCS_SPACELEASE_NAME_MAX, "jcs/space/sha256/%s", h + 4 /* after "Full" */);
    return JCS_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct lease *)a)->name, ((const struct lease *)b)->name);
}

/* One Lock call. */
static int lock_once(jcs_spacelease *l, struct lease *e, const char *holder, int64_t wait_ms)
{
    Jcs__Coordinator__LockReq req = JCS__COORDINATOR__LOCK_REQ__INIT;
    req.name = e->name;
    req.mode = JCS__COORDINATOR__LOCK_MODE__LOCK_EXCLUSIVE;
    req.ttl_ms = l->ttl_ms;
    req.holder = (char *)holder;
    req.wait_ms = wait_ms;
    ProtobufCMessage *out = NULL;
    int rc = jcs_rpc_unary(l->coord, JCS_M_LOCK, &req.base,
                           &jcs__coordinator__lock_resp__descriptor, &out, wait_ms + CALL_MS);
    if (rc)
        return rc;
    const Jcs__Coordinator__LockResp *resp = (const Jcs__Coordinator__LockResp *)out;
    snprintf(e->id, sizeof e->id, "%s", resp->lease_id ? resp->lease_id : "");
    protobuf_c_message_free_unpacked(out, NULL);
    if (!e->id[0])
        return jcs_err_set(JCS_ERPC, "the coordinator granted \"%s\" without a lease id", e->name);
    return JCS_OK;
}

static void unlock_one(jcs_spacelease *l, struct lease *e)
{
    if (!e->id[0])
        return;
    Jcs__Coordinator__UnlockReq req = JCS__COORDINATOR__UNLOCK_REQ__INIT;
    req.lease_id = e->id;
    ProtobufCMessage *out = NULL;
    int rc = jcs_rpc_unary(l->coord, JCS_M_UNLOCK, &req.base,
                           &jcs__coordinator__unlock_resp__descriptor, &out, CALL_MS);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    /* The lease then simply expires after its TTL. */
    if (rc)
        jcs_warn("lease on \"%s\" not released (it expires by itself): %s", e->name,
                 jcs_err_msg(rc));
    e->id[0] = '\0';
}

/* Renews every lease each ttl/3 until release; marks the set lost when one cannot be kept. */
static void *renew_main(void *arg)
{
    jcs_spacelease *l = arg;
    const int64_t every = l->ttl_ms / 3 > 0 ? l->ttl_ms / 3 : 1;
    int64_t last_ok = jcs_now_ms();
    pthread_mutex_lock(&l->mu);
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (every % 1000) * 1000000;
        ts.tv_sec += (time_t)(every / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!l->closing && pthread_cond_timedwait(&l->cv, &l->mu, &ts) == 0)
            ;
        if (l->closing)
            break;
        pthread_mutex_unlock(&l->mu);
        bool all_ok = true;
        for (size_t i = 0; i < l->n && !atomic_load(&l->lost); i++) {
            Jcs__Coordinator__RenewReq req = JCS__COORDINATOR__RENEW_REQ__INIT;
            req.lease_id = l->v[i].id;
            req.ttl_ms = l->ttl_ms;
            ProtobufCMessage *out = NULL;
            int rc = jcs_rpc_unary(l->coord, JCS_M_RENEW, &req.base,
                                   &jcs__coordinator__renew_resp__descriptor, &out, CALL_MS);
            if (out)
                protobuf_c_message_free_unpacked(out, NULL);
            if (rc == JCS_ENOENT) {
                jcs_warn("lease on \"%s\" lost: %s", l->v[i].name, jcs_err_msg(rc));
                l->v[i].id[0] = '\0';
                atomic_store(&l->lost, true);
            } else if (rc) {
                all_ok = false;
                jcs_warn("lease on \"%s\" not renewed (retrying): %s", l->v[i].name,
                         jcs_err_msg(rc));
            }
        }
        if (all_ok)
            last_ok = jcs_now_ms();
        else if (jcs_now_ms() - last_ok >= l->ttl_ms)
            atomic_store(&l->lost, true); /* expired at the coordinator by now */
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int jcs_spacelease_take(jcs_rpc_channel *coord, const jcs_meta_space *spaces, size_t n,
                        const char *holder, int64_t ttl_ms, int64_t wait_ms, jcs_stopper *stop,
                        jcs_spacelease **out)
{
    *out = NULL;
    if (n > JCS_SPACELEASE_MAX)
        return jcs_err_set(JCS_ETOOBIG, "%zu user spaces to lease; at most %d", n,
                           JCS_SPACELEASE_MAX);
    jcs_spacelease *l = jcs_calloc(1, sizeof *l);
    if (!l || !(l->v = jcs_calloc(n ? n : 1, sizeof *l->v))) {
        jcs_free(l);
        return JCS_ENOMEM;
    }
    l->coord = coord;
    l->ttl_ms = ttl_ms;
    atomic_init(&l->lost, false);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    int rc = JCS_OK;
    for (size_t i = 0; i < n && !rc; i++)
        if ((rc = jcs_spacelease_name(spaces[i].storage, l->v[i].name)) != 0)
            rc = jcs_err_wrap(rc, "user space %" PRId64 ": ", spaces[i].space_id);
    if (!rc) {
        /* Name order (the same in every client) and one lease per storage. */
        qsort(l->v, n, sizeof *l->v, name_cmp);
        for (size_t i = 0; i < n; i++)
            if (l->n == 0 || strcmp(l->v[l->n - 1].name, l->v[i].name) != 0)
                l->v[l->n++] = l->v[i];
    }
    const int64_t t0 = jcs_now_ms();
    for (size_t i = 0; i < l->n && !rc; i++) {
        rc = lock_once(l, &l->v[i], holder, 0);
        if (rc != JCS_EBUSY)
            continue;
        /* Held by another run: say by whom, then wait in slices so stop is seen. */
        jcs_info("%s: waiting because %s", holder, jcs_err_msg(rc));
        while (rc == JCS_EBUSY) {
            int64_t left = wait_ms - (jcs_now_ms() - t0);
            if (stop && jcs_stopper_stopped(stop)) {
                rc = jcs_err_set(JCS_ECANCELED, "stopped while waiting for the lease on \"%s\"",
                                 l->v[i].name);
                break;
            }
            if (left <= 0)
                break; /* rc is JCS_EBUSY, its detail names the holder */
            rc = lock_once(l, &l->v[i], holder, left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS);
        }
    }
    l->waited_ms = jcs_now_ms() - t0;
    if (!rc && l->n) {
        if (pthread_create(&l->thread, NULL, renew_main, l) != 0)
            rc = jcs_err_set(JCS_EIO, "cannot start the lease renewing thread");
        else
            l->thread_started = true;
    }
    if (rc) {
        /* Releasing talks to the coordinator: keep this failure's detail line. */
        char detail[512];
        snprintf(detail, sizeof detail, "%s", jcs_err_msg(rc));
        jcs_spacelease_free(l);
        return jcs_err_set(rc, "%s", detail);
    }
    *out = l;
    return JCS_OK;
}

bool jcs_spacelease_lost(jcs_spacelease *l)
{
    return l && atomic_load(&l->lost);
}

int64_t jcs_spacelease_waited_ms(const jcs_spacelease *l)
{
    return l ? l->waited_ms : 0;
}

size_t jcs_spacelease_count(const jcs_spacelease *l)
{
    return l ? l->n : 0;
}

void jcs_spacelease_free(jcs_spacelease *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->closing = true;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    for (size_t i = 0; i < l->n; i++)
        unlock_one(l, &l->v[i]);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    jcs_free(l->v);
    jcs_free(l);
}
