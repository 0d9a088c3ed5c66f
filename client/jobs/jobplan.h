/*
 * client/jobs/jobplan.h - the pure decisions of the background jobs (jobs.h):
 * when the daily jobs run, which redundancy ChangeRedundancy wants for an
 * object, and which spaces receive new blocks. No database, no RPC.
 */
#ifndef JCS_CLIENT_JOBPLAN_H
#define JCS_CLIENT_JOBPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "plan.h"

/* The first midnight UTC strictly after now_ms (Unix ms). */
int64_t jcs_jobplan_next_midnight(int64_t now_ms);

/*
 * The redundancy ChangeRedundancy wants for an object of size bytes:
 * size >= threshold (and size > 0) gives EC (conf when it is EC, else
 * k=2, n=3, chunkSize 5 MiB), smaller gives rep with 2 copies.
 */
jcs_redundancy jcs_jobplan_target_red(int64_t size, int64_t threshold, const jcs_redundancy *conf);

/* Whether an object stored as cur already has the kind want asks for: the same type (an object
 * with another EC layout, or more copies, is left as it is). */
int jcs_jobplan_red_satisfied(const jcs_redundancy *cur, const jcs_redundancy *want);

/* A space that could receive a block. */
typedef struct jcs_jobplan_cand {
    int64_t space_id;
    int64_t location_id;
    double distance;   /* from the client (topology.h); INFINITY: unreachable */
    double latency_ms; /* < 0: unknown */
    int usable;        /* state normal and hub reachable */
} jcs_jobplan_cand;

/*
 * Chooses count distinct spaces for new blocks of one object, in out[]
 * (caller-allocated, count entries): usable candidates not in exclude[],
 * ordered by the object's readers first (prefer[] in order: the spaces that
 * read it most), then distance, then latency, then id; one space per
 * location first (locations in used_locs[] count as taken: where the
 * object's other blocks are), then the rest. JCS_EUNAVAIL saying how many
 * were needed and found.
 */
int jcs_jobplan_choose(const jcs_jobplan_cand *cands, size_t ncands, size_t count,
                       const int64_t *exclude, size_t nexclude, const int64_t *used_locs,
                       size_t nused, const int64_t *prefer, size_t nprefer,
                       int64_t *out) JCS_MUST_USE;

#endif
