/*
 * computeat.c - the compute-site cost model (computeat.h).
 */
#include "computeat.h"

#include <math.h>
#include <string.h>

int jcs_computeat_parse(const char *s, jcs_computeat_mode *out)
{
    if (!s)
        return -1;
    if (strcmp(s, "auto") == 0)
        *out = JCS_COMPUTEAT_AUTO;
    else if (strcmp(s, "client") == 0)
        *out = JCS_COMPUTEAT_CLIENT;
    else if (strcmp(s, "hub") == 0)
        *out = JCS_COMPUTEAT_HUB;
    else
        return -1;
    return 0;
}

const char *jcs_computeat_name(jcs_computeat_mode m)
{
    switch (m) {
    case JCS_COMPUTEAT_CLIENT:
        return "client";
    case JCS_COMPUTEAT_HUB:
        return "hub";
    default:
        return "auto";
    }
}

static double link(const jcs_computeat_problem *p, int64_t a, int64_t b)
{
    return a == b ? 0 : p->cost(p->arg, a, b);
}

double jcs_computeat_cost(const jcs_computeat_problem *p, int64_t site, size_t *picked,
                          size_t *npicked)
{
    if (npicked)
        *npicked = 0;
    if (p->nin > JCS_COMPUTEAT_MAX || p->nout > JCS_COMPUTEAT_MAX)
        return INFINITY;
    double total = 0;
    for (size_t i = 0; i < p->nout; i++)
        total += p->out[i].bytes * link(p, site, p->out[i].node);
    /* Sources by their cost to site; ties keep the caller's order (insertion sort is stable). */
    size_t order[JCS_COMPUTEAT_MAX];
    double c[JCS_COMPUTEAT_MAX];
    for (size_t i = 0; i < p->nin; i++) {
        double ci = p->in[i].bytes * link(p, p->in[i].node, site);
        size_t j = i;
        while (j > 0 && c[j - 1] > ci) {
            c[j] = c[j - 1];
            order[j] = order[j - 1];
            j--;
        }
        c[j] = ci;
        order[j] = i;
    }
    size_t want = p->need ? p->need : p->nin, got = 0;
    int groups[JCS_COMPUTEAT_MAX];
    for (size_t j = 0; j < p->nin && got < want; j++) {
        const jcs_computeat_flow *f = &p->in[order[j]];
        int dup = 0;
        for (size_t q = 0; p->need && q < got && !dup; q++)
            dup = groups[q] == f->group;
        if (dup)
            continue;
        total += c[j];
        groups[got] = f->group;
        if (picked)
            picked[got] = order[j];
        got++;
    }
    if (npicked)
        *npicked = got;
    if (got < want || isnan(total))
        return INFINITY;
    return total;
}

long jcs_computeat_choose(const jcs_computeat_problem *p, double *cost)
{
    long best = -1;
    double best_cost = INFINITY;
    for (size_t i = 0; i < p->ncands && i < JCS_COMPUTEAT_MAX; i++) {
        double c = jcs_computeat_cost(p, p->cands[i], NULL, NULL);
        if (!isfinite(c))
            continue;
        /* Strictly cheaper beyond rounding, so equal costs keep the earlier candidate. */
        if (best < 0 || c < best_cost - 1e-9 * (fabs(best_cost) + 1)) {
            best = (long)i;
            best_cost = c;
        }
    }
    if (cost)
        *cost = best_cost;
    return best;
}
