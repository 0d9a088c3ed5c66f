/*
 * client/jobs/jobs.h - the background jobs ("tickTock", docs/DESIGN.md §6), each also
 * runnable on demand through POST /v1/system/tickTock/run:
 *
 *   ChangeRedundancy    objects >= tickTock.ecFileSizeThreshold to EC, smaller ones to rep
 *   RedundancyRecover   rebuild blocks lost with a space or an offline hub, missing
 *                       or found corrupt (heal queue) onto healthy spaces, the
 *                       block's own space first
 *   RedundancyShrink    drop redundancy that no longer pays (JCS's score); objects
 *                       with a block in the heal queue are left to RedundancyRecover
 *   CheckShardStore     compare each space's shards with the database; deep (the
 *                       default, tickTock.deepCheck), also read every referenced
 *                       shard and verify it (the scrub), queueing corrupt ones for
 *                       RedundancyRecover (healq.h)
 *   ShardStoreGC        delete shards no row references (never young ones)
 *   UpdateAccessStats   daily aging of the access counters
 *
 * Schedule: daily at 00:00 UTC UpdateAccessStats, ChangeRedundancy, then
 * CheckShardStore (a report only); hourly (the first an hour after start)
 * RedundancyRecover, RedundancyShrink, then ShardStoreGC. An on-demand run
 * of a job waits for a scheduled run of the same job to finish first, so
 * one job never runs twice at once in this process; the jobs that move or
 * delete data (and migrations) also run one at a time. Stop interrupts a
 * run between two objects (or spaces); its report then says "interrupted".
 *
 * A report has the same members for every job: job, startTime, durationMs,
 * objectsScanned, objectsChanged, objectsSkipped (changed meanwhile, or
 * unreachable), objectsLost (too few blocks left to rebuild), objectsWaiting
 * (blocks on a hub offline for less than tickTock.recoverGracePeriod), blocksRebuilt
 * (blocks written), blocksDropped, pinsDropped, spacesChecked, shards,
 * missing (referenced, not stored), orphans (stored, unreferenced),
 * youngOrphans (spared by tickTock.gcGracePeriod), mismatches (missing +
 * orphans), shardsDeleted, bytesFreed, shardsVerified, bytesVerified,
 * corrupt, sidecarsRewritten (a deep CheckShardStore), blocksHealed (corrupt
 * blocks RedundancyRecover rebuilt), errors, interrupted, messages (the
 * first 20 details); CheckShardStore and ShardStoreGC add "spaces", one
 * entry per space with its counts and the first missing / orphan hashes.
 * A failing object counts as an error and the run goes on.
 */
#ifndef JCS_CLIENT_JOBS_H
#define JCS_CLIENT_JOBS_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

struct jcs_svc;
typedef struct jcs_jobs jcs_jobs;

/* Starts the scheduler thread. svc is borrowed for the jobs' life. Caller stops. */
int jcs_jobs_start(struct jcs_svc *svc, jcs_jobs **out) JCS_MUST_USE;

/* Stops the scheduler, waiting for a running job to notice. NULL is fine. */
void jcs_jobs_stop(jcs_jobs *j);

/*
 * Runs job `name` now and waits for it. *report (caller owns) describes
 * what it did ({"job": NAME, "durationMs", ...job-specific counts}).
 * JCS_EINVAL naming the known jobs for an unknown name.
 */
int jcs_jobs_run(jcs_jobs *j, const char *name, json_t **report) JCS_MUST_USE;

/*
 * As jcs_jobs_run; for CheckShardStore, deep 1 reads and verifies every
 * referenced shard (at tickTock.scrubRateMBps), 0 only lists, -1 follows
 * tickTock.deepCheck. Other jobs ignore deep.
 */
int jcs_jobs_run_deep(jcs_jobs *j, const char *name, int deep, json_t **report) JCS_MUST_USE;

/*
 * Moves every block stored on user space space_id to other spaces (the
 * object keeps its redundancy; its metadata switches in one transaction
 * per object, old shards are left to GC). Used by userspace/delete with
 * "migrate". The caller has set the space's state so nothing new lands
 * there. JCS_EUNAVAIL when an object cannot be read or has nowhere to go.
 */
int jcs_jobs_migrate_space(jcs_jobs *j, int64_t space_id) JCS_MUST_USE;

#endif
