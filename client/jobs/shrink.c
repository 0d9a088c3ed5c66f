/* RedundancyShrink's annealing (shrink.h explains the score). */
#include "shrink.h"

#include <math.h>
#include <string.h>

typedef struct space_set {
    int64_t id[JCS_SHRINK_MAX_SPACES];
    uint64_t mask[JCS_SHRINK_MAX_SPACES];
    double distance[JCS_SHRINK_MAX_SPACES];
    size_t n;
} space_set;

static uint64_t all_bits(int n)
{
    return n >= 64 ? ~0ULL : (1ULL << n) - 1;
}

/* Groups the kept items by space; false when there are too many spaces. */
static bool group(const jcs_shrink_item *items, size_t n, const bool *keep, int nidx, space_set *s)
{
    s->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep && !keep[i])
            continue;
        size_t j = 0;
        while (j < s->n && s->id[j] != items[i].space_id)
            j++;
        if (j == s->n) {
            if (s->n == JCS_SHRINK_MAX_SPACES)
                return false;
            s->id[j] = items[i].space_id;
            s->mask[j] = 0;
            s->distance[j] = items[i].distance;
            s->n++;
        }
        s->mask[j] |= items[i].index < 0 ? all_bits(nidx) : 1ULL << items[i].index;
        if (items[i].distance < s->distance[j])
            s->distance[j] = items[i].distance;
    }
    return true;
}

/* The redundancy's minimum: every index held by a kept block, min_copies distinct spaces. */
static bool feasible(const jcs_shrink_item *items, size_t n, const bool *keep,
                     const jcs_shrink_params *p)
{
    uint64_t have = 0;
    int64_t spaces[JCS_SHRINK_MAX_ITEMS];
    int nsp = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i] && items[i].removable)
            continue;
        if (items[i].index < 0)
            continue;
        have |= 1ULL << items[i].index;
        int seen = 0;
        for (int j = 0; j < nsp && !seen; j++)
            seen = spaces[j] == items[i].space_id;
        if (!seen)
            spaces[nsp++] = items[i].space_id;
    }
    return have == all_bits(p->n) && nsp >= p->min_copies;
}

/* Spaces that may fail at once with k indexes still held (-1: unreadable already). */
static int tolerance(const space_set *s, int k)
{
    int best = (int)s->n + 1;
    for (uint32_t lost = 0; lost < (1u << s->n); lost++) {
        int nlost = __builtin_popcount(lost);
        if (nlost >= best)
            continue;
        uint64_t u = 0;
        for (size_t j = 0; j < s->n; j++)
            if (!(lost & (1u << j)))
                u |= s->mask[j];
        if (__builtin_popcountll(u) < k)
            best = nlost;
    }
    return best - 1;
}

/* Cost of gathering k indexes from the nearest spaces; INFINITY when they cannot be had. */
static double access_cost(const space_set *s, int k)
{
    size_t order[JCS_SHRINK_MAX_SPACES];
    for (size_t i = 0; i < s->n; i++)
        order[i] = i;
    for (size_t i = 1; i < s->n; i++)
        for (size_t j = i; j > 0 && s->distance[order[j]] < s->distance[order[j - 1]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    uint64_t got = 0;
    double cost = 0;
    for (size_t i = 0; i < s->n; i++) {
        const size_t j = order[i];
        if (!isfinite(s->distance[j]))
            break;
        int before = __builtin_popcountll(got);
        got |= s->mask[j];
        int take = __builtin_popcountll(got) - before;
        if (take > k - before)
            take = k - before;
        cost += take * s->distance[j];
        if (__builtin_popcountll(got) >= k)
            return cost;
    }
    return INFINITY;
}

double jcs_shrink_score(const jcs_shrink_item *items, size_t n, const bool *keep,
                        const jcs_shrink_params *p)
{
    if (p->k < 1 || p->n < p->k || p->n > 64 || n > JCS_SHRINK_MAX_ITEMS ||
        !feasible(items, n, keep, p))
        return 0;
    space_set s;
    bool eff[JCS_SHRINK_MAX_ITEMS];
    for (size_t i = 0; i < n; i++)
        eff[i] = keep[i] || !items[i].removable;
    if (!group(items, n, eff, p->n, &s))
        return 0;
    int dt = tolerance(&s, p->k);
    double dt_score = dt < 1 ? 0 : dt >= 2 ? 1.5 : 1;
    double ac = access_cost(&s, p->k);
    double pieces = 0;
    for (size_t i = 0; i < n; i++)
        if (eff[i])
            pieces += items[i].index < 0 ? p->n : 1;
    double sc = pieces / p->k;
    if (dt_score == 0 || !isfinite(ac) || ac <= 0 || sc <= 0)
        return 0;
    return dt_score / (sc * ac);
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

int jcs_shrink_anneal(const jcs_shrink_item *items, size_t n, const jcs_shrink_params *p,
                      bool *keep, double *score)
{
    for (size_t i = 0; i < n; i++)
        keep[i] = true;
    *score = 0;
    space_set s;
    if (n > JCS_SHRINK_MAX_ITEMS || p->n > 64 || !group(items, n, NULL, p->n, &s))
        return jcs_err_set(JCS_EINVAL,
                           "%zu holdings (at most %d) over more than %d spaces or %d indexes "
                           "(at most 64): too many to weigh",
                           n, JCS_SHRINK_MAX_ITEMS, JCS_SHRINK_MAX_SPACES, p->n);
    size_t rem[JCS_SHRINK_MAX_ITEMS], nrem = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].removable)
            rem[nrem++] = i;
    double last = jcs_shrink_score(items, n, keep, p);
    *score = last;
    if (last <= 0 || nrem == 0)
        return JCS_OK;
    bool cur[JCS_SHRINK_MAX_ITEMS];
    memcpy(cur, keep, n * sizeof *cur);
    uint64_t rng = p->seed ? p->seed : 0x9E3779B97F4A7C15ULL;
    const double cooling = 0.95;
    for (double temp = last, final = last * 0.2; temp > final; temp *= cooling) {
        size_t i = rem[next_rand(&rng) % nrem];
        cur[i] = !cur[i];
        double sc = jcs_shrink_score(items, n, cur, p);
        double d = sc - last;
        double u = (double)(next_rand(&rng) >> 11) / (double)(1ULL << 53);
        if (sc == 0 || (d < 0 && !(exp(d / temp / cooling) > u))) {
            cur[i] = !cur[i];
            continue;
        }
        last = sc;
        if (sc > *score) {
            *score = sc;
            memcpy(keep, cur, n * sizeof *cur);
        }
    }
    return JCS_OK;
}
