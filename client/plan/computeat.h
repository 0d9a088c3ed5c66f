/*
 * computeat.h - where a plan's coding runs: the cost model behind
 * ioswitch.computeAt (docs/DESIGN.md §4).
 *
 * A plan moves bytes from its sources (shards on hubs, or the client's
 * upload) to its destinations (shards on hubs, or the client's download).
 * Every op with no natural place (split, encode, decode, clone, join) runs
 * on one compute site, so every source's bytes cross the link from its node
 * to that site and every destination's bytes cross the link from the site
 * to it. The model prices each candidate site at
 *
 *     sum over the sources read    bytes(s) x cost(node(s) -> site)
 *   + sum over the destinations    bytes(d) x cost(site -> node(d))
 *
 * where cost is per byte for one link (0 within one node: bytes that stay
 * on a hub cross no link) and picks the cheapest. A source set may ask for
 * only `need` of its flows (EC: any k of the n blocks, at most one per
 * group, i.e. per block index): each site then reads the cheapest ones for
 * it. Candidates are tried in the caller's order and a later one must be
 * strictly cheaper (beyond rounding) to win, so on equal costs the first
 * candidate is kept: callers list the client first where today's behaviour
 * should stay on a loopback whose links all cost the same.
 *
 * Nodes are ids: 0 is the client (the driver), > 0 a hub id. The module is
 * pure (no topology, no RPC): the caller supplies the link costs.
 */
#ifndef JCS_COMPUTEAT_H
#define JCS_COMPUTEAT_H

#include <stddef.h>
#include <stdint.h>

/* ioswitch.computeAt. */
typedef enum jcs_computeat_mode {
    JCS_COMPUTEAT_AUTO = 0, /* by the model: uploads/downloads client or hub, upkeep on a hub */
    JCS_COMPUTEAT_CLIENT,   /* always the client's driver (the behaviour before the model) */
    JCS_COMPUTEAT_HUB,      /* always a hub (the cheapest one by the model) */
} jcs_computeat_mode;

/* "auto", "client", "hub" -> mode; -1 for anything else (NULL included). */
int jcs_computeat_parse(const char *s, jcs_computeat_mode *out);
const char *jcs_computeat_name(jcs_computeat_mode m);

/* Per-byte cost of the link from node a to node b (a != b); +INFINITY when there is none. */
typedef double (*jcs_computeat_cost_fn)(void *arg, int64_t a, int64_t b);

typedef struct jcs_computeat_flow {
    int64_t node; /* 0: the client; > 0: a hub id */
    double bytes; /* how many bytes (any unit, the same for every flow) */
    int group;    /* sources: flows of one group are interchangeable copies (an EC index) */
} jcs_computeat_flow;

typedef struct jcs_computeat_problem {
    const jcs_computeat_flow *in; /* sources */
    size_t nin;
    size_t need; /* read the `need` cheapest sources of distinct groups; 0: read them all */
    const jcs_computeat_flow *out; /* destinations (all written) */
    size_t nout;
    const int64_t *cands; /* candidate sites, preferred first on equal cost */
    size_t ncands;
    jcs_computeat_cost_fn cost;
    void *arg;
} jcs_computeat_problem;

#define JCS_COMPUTEAT_MAX 256 /* at most this many flows of each kind and candidates */

/*
 * The cost of running at site: +INFINITY when a needed link is missing or
 * fewer than `need` groups are present. picked (optional, nin entries)
 * receives the indexes into in of the sources read, cheapest first; *npicked
 * (optional) how many.
 */
double jcs_computeat_cost(const jcs_computeat_problem *p, int64_t site, size_t *picked,
                          size_t *npicked);

/*
 * The index into cands of the cheapest site, or -1 when every candidate
 * costs +INFINITY (or there are none, or more than JCS_COMPUTEAT_MAX flows).
 * *cost (optional) receives its cost.
 */
long jcs_computeat_choose(const jcs_computeat_problem *p, double *cost);

#endif
