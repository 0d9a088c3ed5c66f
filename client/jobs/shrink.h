/*
 * client/jobs/shrink.h - RedundancyShrink's decision: which surplus copies of one
 * object to drop, by simulated annealing over JCS's score (JCS-pub's
 * CleanPinned / redundancy_shrink). Pure: no database, no RPC, so the rules
 * are testable on made-up placements.
 *
 * An object's holdings are items: a block (index on a space) or a pinned
 * full copy (which holds every index, a "shadow" block per index in JCS's
 * words). A keep set scores
 *
 *     score = dtScore / (spaceCost * accessCost)
 *
 *   dt          disaster tolerance: how many spaces may fail at once with the
 *               object still readable (the smallest number of spaces whose
 *               loss leaves fewer than k distinct indexes, minus one);
 *   dtScore     0 when dt < 1, 1 when dt == 1, 1.5 when dt >= 2;
 *   spaceCost   kept pieces / k (a pinned copy counts n pieces);
 *   accessCost  what the reader pays to gather k distinct indexes from the
 *               nearest spaces: each block read costs the space's distance
 *               (topology.h: 1 same location, 5 other, 10 far); JCS-C's
 *               reader is the client itself, so distances are the client's.
 *
 * Conservative, unlike JCS: a keep set is also scored 0 (never chosen) when
 * it breaks the redundancy's minimum: fewer than min_copies block copies on
 * distinct spaces (rep: repCount), or some index 0..n-1 no longer held by a
 * kept block (ec). Items marked not removable are always kept. The start
 * (everything kept) is the first candidate, so the result never scores
 * below what the object has now; an object whose current placement scores 0
 * (unreadable, or already under its minimum) is left as it is.
 *
 * Annealing as JCS: temperature starts at the current score, ends at a
 * fifth of it, cooling 0.95 per step (31 steps); each step flips one
 * removable item; a worse set is accepted with probability
 * exp(dScore / T / 0.95); the best set seen wins. A seeded xorshift makes
 * runs reproducible.
 */
#ifndef JCS_CLIENT_SHRINK_H
#define JCS_CLIENT_SHRINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JCS_SHRINK_MAX_ITEMS  64 /* more holdings than this: the object is left alone */
#define JCS_SHRINK_MAX_SPACES 16 /* distinct spaces (dt is computed over all subsets) */

typedef struct jcs_shrink_item {
    int64_t space_id;
    int index;       /* block index; -1 for a pinned full copy */
    double distance; /* from the reader to the space; INFINITY when unreachable */
    bool removable;  /* false: always kept */
} jcs_shrink_item;

typedef struct jcs_shrink_params {
    int k;          /* distinct indexes needed to read: 1 for none/rep, k for ec */
    int n;          /* indexes that exist: 1 for none/rep (every copy is index 0), n for ec */
    int min_copies; /* rep: block copies on distinct spaces to keep at least; ec: 0 */
    uint64_t seed;  /* for the random flips */
} jcs_shrink_params;

/*
 * The score of keeping keep[i] of items[0..n) (0 for an infeasible set).
 * For rep/none pass index 0 for every block.
 */
double jcs_shrink_score(const jcs_shrink_item *items, size_t n, const bool *keep,
                        const jcs_shrink_params *p);

/*
 * Anneals: keep[] (caller-allocated, n entries) receives the best set found,
 * *score its score (0: leave the object alone). JCS_EINVAL when the object
 * has more than JCS_SHRINK_MAX_ITEMS items, n > 64 or more than
 * JCS_SHRINK_MAX_SPACES spaces (keep[] is then all true).
 */
int jcs_shrink_anneal(const jcs_shrink_item *items, size_t n, const jcs_shrink_params *p,
                      bool *keep, double *score) JCS_MUST_USE;

#endif
