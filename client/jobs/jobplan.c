/* The pure decisions of the background jobs (jobplan.h). */
#include "jobplan.h"

#include <math.h>
#include <stdlib.h>

#include "alloc.h"

#define DAY_MS (24LL * 3600 * 1000)

int64_t jcs_jobplan_next_midnight(int64_t now_ms)
{
    /* Unix time has no leap seconds, so every UTC day is DAY_MS long. */
    int64_t day = now_ms >= 0 ? now_ms / DAY_MS : -((-now_ms + DAY_MS - 1) / DAY_MS);
    return (day + 1) * DAY_MS;
}

jcs_redundancy jcs_jobplan_target_red(int64_t size, int64_t threshold, const jcs_redundancy *conf)
{
    jcs_redundancy r = {.type = JCS_RED_REP, .rep_count = 2};
    if (size > 0 && size >= threshold) {
        if (conf && jcs_red_coded(conf)) {
            r = *conf;
        } else {
            r.type = JCS_RED_EC;
            r.rep_count = 0;
            r.k = 2;
            r.n = 3;
            r.chunk_size = 5 << 20;
        }
    }
    return r;
}

int jcs_jobplan_red_satisfied(const jcs_redundancy *cur, const jcs_redundancy *want)
{
    /* Any EC layout is "already EC": re-encoding a chosen layout would only cost traffic. */
    return cur->type == want->type;
}

typedef struct ranked {
    const jcs_jobplan_cand *c;
    size_t pref; /* position in prefer[], or nprefer */
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->pref != y->pref)
        return x->pref < y->pref ? -1 : 1;
    if (x->c->distance != y->c->distance)
        return x->c->distance < y->c->distance ? -1 : 1;
    double lx = x->c->latency_ms < 0 ? INFINITY : x->c->latency_ms;
    double ly = y->c->latency_ms < 0 ? INFINITY : y->c->latency_ms;
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return x->c->space_id < y->c->space_id ? -1 : x->c->space_id > y->c->space_id;
}

static int in_list(const int64_t *v, size_t n, int64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

int jcs_jobplan_choose(const jcs_jobplan_cand *cands, size_t ncands, size_t count,
                       const int64_t *exclude, size_t nexclude, const int64_t *used_locs,
                       size_t nused, const int64_t *prefer, size_t nprefer, int64_t *out)
{
    if (count == 0)
        return JCS_OK;
    ranked *r = jcs_calloc(ncands ? ncands : 1, sizeof *r);
    int64_t *locs = jcs_calloc(nused + count, sizeof *locs);
    char *taken = jcs_calloc(ncands ? ncands : 1, 1);
    int rc = JCS_OK;
    if (!r || !locs || !taken) {
        rc = jcs_err_set(JCS_ENOMEM, "choosing %zu spaces: out of memory", count);
        goto out;
    }
    size_t nr = 0;
    for (size_t i = 0; i < ncands; i++) {
        const jcs_jobplan_cand *c = &cands[i];
        if (!c->usable || !isfinite(c->distance) || in_list(exclude, nexclude, c->space_id))
            continue;
        size_t p = 0;
        while (p < nprefer && prefer[p] != c->space_id)
            p++;
        r[nr].c = c;
        r[nr].pref = p;
        nr++;
    }
    if (nr < count) {
        rc = jcs_err_set(JCS_EUNAVAIL,
                         "%zu more user spaces are needed (distinct from the object's other "
                         "blocks, in state normal, on online hubs) but only %zu are usable",
                         count, nr);
        goto out;
    }
    qsort(r, nr, sizeof *r, ranked_cmp);
    for (size_t i = 0; i < nused; i++)
        locs[i] = used_locs[i];
    size_t nl = nused, got = 0;
    for (int round = 0; round < 2 && got < count; round++) {
        for (size_t i = 0; i < nr && got < count; i++) {
            if (taken[i] || (round == 0 && in_list(locs, nl, r[i].c->location_id)))
                continue;
            taken[i] = 1;
            locs[nl++] = r[i].c->location_id;
            out[got++] = r[i].c->space_id;
        }
    }
out:
    jcs_free(r);
    jcs_free(locs);
    jcs_free(taken);
    return rc;
}
