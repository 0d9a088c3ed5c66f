#include "access.h"

#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "service.h"

struct jcs_access {
    jcs_db *db;
    int64_t interval_ms;
    pthread_mutex_t mu;       /* guards pending */
    pthread_mutex_t flush_mu; /* one flush at a time, so entries are never written twice */
    jcs_meta_access *pending; /* JCS_ACCESS_MAX_PENDING slots */
    size_t npending;
    jcs_stopper *stop;
    pthread_t thread;
};

static void add_locked(jcs_access *a, const jcs_meta_access *e)
{
    for (size_t i = 0; i < a->npending; i++) {
        if (a->pending[i].object_id == e->object_id && a->pending[i].space_id == e->space_id) {
            a->pending[i].count += e->count;
            return;
        }
    }
    a->pending[a->npending++] = *e;
}

int jcs_access_flush(jcs_access *a)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->flush_mu);
    /* Take the pending entries, so notes go on while the database works. */
    pthread_mutex_lock(&a->mu);
    size_t n = a->npending;
    jcs_meta_access *batch = NULL;
    if (n > 0 && (batch = jcs_calloc(n, sizeof *batch)) != NULL) {
        memcpy(batch, a->pending, n * sizeof *batch);
        a->npending = 0;
    }
    pthread_mutex_unlock(&a->mu);
    int rc = 0;
    if (n > 0 && !batch) {
        rc = JCS_ENOMEM;
    } else if (n > 0) {
        rc = jcs_meta_access_add(a->db, batch, n);
        if (rc) {
            /* Put them back (merged with what arrived meanwhile); what does not fit is lost. */
            pthread_mutex_lock(&a->mu);
            size_t lost = 0;
            for (size_t i = 0; i < n; i++) {
                if (a->npending < JCS_ACCESS_MAX_PENDING)
                    add_locked(a, &batch[i]);
                else
                    lost++;
            }
            pthread_mutex_unlock(&a->mu);
            if (lost)
                jcs_warn("access statistics: %zu counters dropped while the database is "
                         "unreachable",
                         lost);
        }
        jcs_free(batch);
    }
    pthread_mutex_unlock(&a->flush_mu);
    return rc;
}

void jcs_access_note(jcs_access *a, const jcs_meta_access *v, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&a->mu);
        int full = a->npending >= JCS_ACCESS_MAX_PENDING;
        if (!full)
            add_locked(a, &v[i]);
        pthread_mutex_unlock(&a->mu);
        if (!full)
            continue;
        int rc = jcs_access_flush(a);
        pthread_mutex_lock(&a->mu);
        if (a->npending < JCS_ACCESS_MAX_PENDING)
            add_locked(a, &v[i]);
        else
            jcs_warn("access statistics: a read of object %lld not counted: %s",
                     (long long)v[i].object_id, rc ? jcs_err_msg(rc) : "too many pending");
        pthread_mutex_unlock(&a->mu);
    }
}

static void *flusher(void *arg)
{
    jcs_access *a = arg;
    while (!jcs_stopper_sleep(a->stop, a->interval_ms)) {
        int rc = jcs_access_flush(a);
        if (rc)
            jcs_warn("access statistics: flush failed (kept for the next try): %s",
                     jcs_err_msg(rc));
    }
    return NULL;
}

int jcs_access_start(jcs_db *db, int64_t interval_ms, jcs_access **out)
{
    jcs_access *a = jcs_calloc(1, sizeof *a);
    if (!a)
        return JCS_ENOMEM;
    a->db = db;
    a->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->flush_mu, NULL);
    int rc = 0;
    if (!(a->pending = jcs_calloc(JCS_ACCESS_MAX_PENDING, sizeof *a->pending)))
        rc = JCS_ENOMEM;
    if (rc == 0)
        rc = jcs_stopper_new(&a->stop);
    if (rc == 0 && pthread_create(&a->thread, NULL, flusher, a) != 0)
        rc = jcs_err_set(JCS_EIO, "access statistics: cannot start the flusher thread");
    if (rc) {
        jcs_stopper_free(a->stop);
        jcs_free(a->pending);
        pthread_mutex_destroy(&a->mu);
        pthread_mutex_destroy(&a->flush_mu);
        jcs_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void jcs_access_stop(jcs_access *a)
{
    if (!a)
        return;
    jcs_stopper_stop(a->stop);
    pthread_join(a->thread, NULL);
    int rc = jcs_access_flush(a);
    if (rc)
        jcs_warn("access statistics: %zu counters not written at shutdown: %s", a->npending,
                 jcs_err_msg(rc));
    jcs_stopper_free(a->stop);
    jcs_free(a->pending);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->flush_mu);
    jcs_free(a);
}
