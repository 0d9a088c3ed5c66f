/*
 * Design. Notes land in an open-addressing hash table keyed by (object,
 * space), so summing a read is O(1) under a short mutex. A flush swaps the
 * table for an empty one under the mutex and writes the full one outside
 * it, so readers never wait for the database: the flusher thread does that
 * every interval, and at once when the table is half full. When the table
 * is full (the database is slow or down), further reads of new pairs are
 * not counted, with one warning per flush period.
 */
#include "access.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"

#define SLOTS (2 * JCS_ACCESS_MAX_PENDING) /* a power of two; at most half used */

typedef struct table {
    jcs_meta_access *slot; /* SLOTS entries; object_id 0 marks a free slot */
    size_t n;
} table;

struct jcs_access {
    jcs_db *db;
    int64_t interval_ms;
    pthread_mutex_t mu;       /* guards cur, spare, stop, dropped */
    pthread_cond_t cv;        /* wakes the flusher: half full, or stop */
    pthread_mutex_t flush_mu; /* one flush at a time, so entries are never written twice */
    table a, b;
    table *cur; /* where notes go */
    int stop;
    size_t dropped;
    pthread_t thread;
};

static size_t slot_of(int64_t object_id, int64_t space_id)
{
    uint64_t h =
        (uint64_t)object_id * 0x9E3779B97F4A7C15ull ^ (uint64_t)space_id * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h >> 17) & (SLOTS - 1);
}

/* Adds e to t; 0, or -1 when t is full. */
static int table_add(table *t, const jcs_meta_access *e)
{
    for (size_t i = slot_of(e->object_id, e->space_id);; i = (i + 1) & (SLOTS - 1)) {
        jcs_meta_access *s = &t->slot[i];
        if (s->object_id == e->object_id && s->space_id == e->space_id) {
            s->count += e->count;
            return 0;
        }
        if (s->object_id == 0) {
            if (t->n >= JCS_ACCESS_MAX_PENDING)
                return -1;
            *s = *e;
            t->n++;
            return 0;
        }
    }
}

/* Moves t's entries into a dense array (out, JCS_ACCESS_MAX_PENDING entries); empties t. */
static size_t table_drain(table *t, jcs_meta_access *out)
{
    size_t n = 0;
    for (size_t i = 0; i < SLOTS && n < t->n; i++)
        if (t->slot[i].object_id != 0) {
            out[n++] = t->slot[i];
            t->slot[i].object_id = 0;
        }
    t->n = 0;
    return n;
}

int jcs_access_flush(jcs_access *a)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->flush_mu);
    /* Swap tables: notes go on into the empty one while this one is written. */
    pthread_mutex_lock(&a->mu);
    table *full = a->cur;
    a->cur = full == &a->a ? &a->b : &a->a;
    size_t dropped = a->dropped;
    a->dropped = 0;
    pthread_mutex_unlock(&a->mu);
    if (dropped)
        jcs_warn("access statistics: %zu reads were not counted (the database was too slow to "
                 "take them)",
                 dropped);
    int rc = 0;
    if (full->n > 0) {
        jcs_meta_access *batch = jcs_calloc(full->n, sizeof *batch);
        if (!batch) {
            rc = JCS_ENOMEM;
        } else {
            size_t n = table_drain(full, batch);
            rc = jcs_meta_access_add(a->db, batch, n);
            if (rc) {
                /* Keep them for the next try, merged with what arrived meanwhile. */
                pthread_mutex_lock(&a->mu);
                for (size_t i = 0; i < n; i++)
                    if (table_add(a->cur, &batch[i]) != 0)
                        a->dropped++;
                pthread_mutex_unlock(&a->mu);
            }
            jcs_free(batch);
        }
    }
    pthread_mutex_unlock(&a->flush_mu);
    return rc;
}

void jcs_access_note(jcs_access *a, const jcs_meta_access *v, size_t n)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n; i++)
        if (v[i].object_id > 0 && table_add(a->cur, &v[i]) != 0)
            a->dropped++;
    if (a->cur->n >= JCS_ACCESS_MAX_PENDING / 2)
        pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void *flusher(void *arg)
{
    jcs_access *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += a->interval_ms / 1000;
        until.tv_nsec += (a->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!a->stop && a->cur->n < JCS_ACCESS_MAX_PENDING / 2 &&
               pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0) {
        }
        if (a->stop)
            break;
        pthread_mutex_unlock(&a->mu);
        int rc = jcs_access_flush(a);
        if (rc)
            jcs_warn("access statistics: flush failed (kept for the next try): %s",
                     jcs_err_msg(rc));
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void destroy(jcs_access *a)
{
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->flush_mu);
    jcs_free(a->a.slot);
    jcs_free(a->b.slot);
    jcs_free(a);
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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    a->a.slot = jcs_calloc(SLOTS, sizeof *a->a.slot);
    a->b.slot = jcs_calloc(SLOTS, sizeof *a->b.slot);
    a->cur = &a->a;
    int rc = 0;
    if (!a->a.slot || !a->b.slot)
        rc = JCS_ENOMEM;
    else if (pthread_create(&a->thread, NULL, flusher, a) != 0)
        rc = jcs_err_set(JCS_EIO, "access statistics: cannot start the flusher thread");
    if (rc) {
        destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

void jcs_access_stop(jcs_access *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    int rc = jcs_access_flush(a);
    if (rc)
        jcs_warn("access statistics: %zu counters not written at shutdown: %s", a->cur->n,
                 jcs_err_msg(rc));
    destroy(a);
}
