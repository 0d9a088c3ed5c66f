/*
 * client/transfer/hublat.c - per-hub latency rings and hedge delays (hublat.h).
 */
#include "hublat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

typedef struct ring {
    int64_t us[JCS_HUBLAT_RING];
    unsigned n, next; /* samples held (<= RING); where the next one goes */
} ring;

typedef struct hub {
    char *addr;
    ring cls[JCS_HUBLAT_CLASSES];
    int late; /* reads served without this hub in a row (jcs_hublat_late) */
} hub;

struct jcs_hublat {
    pthread_mutex_t mu;
    double pct;
    int64_t floor_us;
    hub *hubs;
    size_t nhubs;
    jcs_hublat_counters cnt;
};

int jcs_hublat_new(double percentile, int64_t min_delay_us, jcs_hublat **out)
{
    if (!(percentile >= 0 && percentile < 100))
        return jcs_err_set(JCS_EINVAL,
                           "hedge percentile %g: must be 0 (off) or above 0 and below 100",
                           percentile);
    if (min_delay_us < 0)
        return jcs_err_set(JCS_EINVAL, "hedge minimum delay %lld us: must not be negative",
                           (long long)min_delay_us);
    jcs_hublat *h = jcs_calloc(1, sizeof *h);
    if (!h)
        return JCS_ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    h->pct = percentile;
    h->floor_us = min_delay_us;
    *out = h;
    return JCS_OK;
}

void jcs_hublat_free(jcs_hublat *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nhubs; i++)
        jcs_free(h->hubs[i].addr);
    jcs_free(h->hubs);
    pthread_mutex_destroy(&h->mu);
    jcs_free(h);
}

static int size_class(int64_t bytes)
{
    if (bytes < (64 << 10))
        return 0;
    if (bytes < (256 << 10))
        return 1;
    if (bytes < (1 << 20))
        return 2;
    return 3;
}

/* The hub's entry; create: add it when missing (NULL when the table is full). Under mu. */
static hub *find(jcs_hublat *h, const char *addr, int create)
{
    for (size_t i = 0; i < h->nhubs; i++)
        if (strcmp(h->hubs[i].addr, addr) == 0)
            return &h->hubs[i];
    if (!create || h->nhubs >= JCS_HUBLAT_MAX_HUBS)
        return NULL;
    /* Hubs are few (one entry per hub the client ever read from): grow one at a time. */
    hub *nh = jcs_realloc(h->hubs, (h->nhubs + 1) * sizeof *nh);
    if (!nh)
        return NULL;
    h->hubs = nh;
    hub *e = &h->hubs[h->nhubs];
    memset(e, 0, sizeof *e);
    if (!(e->addr = jcs_strdup(addr)))
        return NULL;
    h->nhubs++;
    return e;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The percentile delay of ring r (declared below). */
static int64_t ring_pct(const jcs_hublat *h, const ring *r);

void jcs_hublat_note(jcs_hublat *h, const char *addr, int64_t bytes, int64_t us)
{
    if (!h || !addr || us < 0)
        return;
    pthread_mutex_lock(&h->mu);
    hub *e = find(h, addr, 1);
    if (e) {
        ring *r = &e->cls[size_class(bytes)];
        /* A hub on a late streak that answers within its usual delay is back to normal. */
        if (e->late > 0) {
            int64_t base = ring_pct(h, r);
            if (us <= (base < 0 ? (int64_t)JCS_HUBLAT_DEFAULT_MS * 1000 : base) ||
                us <= h->floor_us)
                e->late = 0;
        }
        r->us[r->next] = us;
        r->next = (r->next + 1) % JCS_HUBLAT_RING;
        if (r->n < JCS_HUBLAT_RING)
            r->n++;
    }
    pthread_mutex_unlock(&h->mu);
}

/* The percentile delay of ring r (no floor); -1 with too few samples. Under mu. */
static int64_t ring_pct(const jcs_hublat *h, const ring *r)
{
    int64_t tmp[JCS_HUBLAT_RING];
    unsigned n = r->n;
    if (n < JCS_HUBLAT_MIN_SAMPLES)
        return -1;
    memcpy(tmp, r->us, n * sizeof tmp[0]);
    qsort(tmp, n, sizeof tmp[0], cmp_i64);
    /* Nearest rank: the smallest sample with at least pct % of the samples at or below. */
    unsigned rank = (unsigned)((h->pct / 100.0) * n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return tmp[rank - 1];
}

int64_t jcs_hublat_delay_us(jcs_hublat *h, const char *addr, int64_t bytes)
{
    if (!h || h->pct <= 0)
        return -1;
    int64_t v = -1;
    pthread_mutex_lock(&h->mu);
    hub *e = addr ? find(h, addr, 0) : NULL;
    int late = e ? e->late : 0;
    if (e)
        v = ring_pct(h, &e->cls[size_class(bytes)]);
    pthread_mutex_unlock(&h->mu);
    if (late >= JCS_HUBLAT_LATE_STREAK)
        return 0;
    if (v < 0)
        v = (int64_t)JCS_HUBLAT_DEFAULT_MS * 1000;
    return v > h->floor_us ? v : h->floor_us;
}

void jcs_hublat_late(jcs_hublat *h, const char *addr)
{
    if (!h || !addr)
        return;
    pthread_mutex_lock(&h->mu);
    hub *e = find(h, addr, 1);
    if (e && e->late < 1000000)
        e->late++;
    pthread_mutex_unlock(&h->mu);
}

void jcs_hublat_count_hedged(jcs_hublat *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->cnt.hedged++;
    pthread_mutex_unlock(&h->mu);
}

void jcs_hublat_count_won(jcs_hublat *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->cnt.hedge_won++;
    pthread_mutex_unlock(&h->mu);
}

void jcs_hublat_counters_get(jcs_hublat *h, jcs_hublat_counters *out)
{
    memset(out, 0, sizeof *out);
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    *out = h->cnt;
    pthread_mutex_unlock(&h->mu);
}
