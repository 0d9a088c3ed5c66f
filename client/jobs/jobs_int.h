/*
 * client/jobs/jobs_int.h - what the background jobs' modules share: the jobs
 * object, a job's report counters, and the "world" a run sees (every user
 * space as a plan site, from one topology snapshot). Internal to the
 * files of client/jobs/.
 */
#ifndef JCS_CLIENT_JOBS_INT_H
#define JCS_CLIENT_JOBS_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "jobplan.h"
#include "jobs.h"
#include "service.h"
#include "svc.h"

enum {
    JOB_CHANGE_REDUNDANCY,
    JOB_RECOVER,
    JOB_SHRINK,
    JOB_CHECK,
    JOB_GC,
    JOB_ACCESS_STATS,
    JOB_COUNT
};

#define JOBS_MAX_MESSAGES 20 /* error / loss details kept in a report */

/* What one run did; every count appears in the JSON report. */
typedef struct jobs_report {
    int64_t objects_scanned, objects_changed, objects_skipped, objects_lost;
    int64_t objects_waiting; /* RedundancyRecover: blocks on a hub offline under the grace */
    int64_t blocks_rebuilt, blocks_dropped, pins_dropped;
    int64_t repair_bytes_read; /* RedundancyRecover: bytes read from survivors to rebuild blocks */
    int64_t spaces_checked, shards, missing, orphans, young_orphans;
    int64_t shards_deleted, bytes_freed;
    /* Checksum sidecars whose shard is gone (a crash between the two commits), and those GC
     * deleted (unreferenced, past the grace period). */
    int64_t orphan_sidecars, sidecars_deleted;
    /* A deep CheckShardStore: shards read whole and checked, and what that found. */
    int64_t shards_verified, bytes_verified, corrupt, sidecars_rewritten;
    int64_t blocks_healed; /* RedundancyRecover: corrupt blocks rebuilt */
    int64_t errors;
    int64_t leases, lease_wait_ms; /* storages leased at the coordinator, and the wait for them */
    bool interrupted;
    json_t *messages; /* array of strings, at most JOBS_MAX_MESSAGES */
    json_t *spaces;   /* per-space details (CheckShardStore, ShardStoreGC); may stay NULL */
} jobs_report;

struct jcs_jobs {
    jcs_svc *svc;
    jcs_stopper *stop;
    pthread_t thread;
    bool thread_started;
    /* One run of a job at a time; data-moving runs (and migrations) one at a time. */
    pthread_mutex_t job_mu[JOB_COUNT];
    pthread_mutex_t move_mu;
    uint64_t seed; /* for RedundancyShrink's annealing */
    int deep;      /* the CheckShardStore run in progress is deep (under job_mu[JOB_CHECK]) */
};

/* Every user space as a plan site, for one run. */
typedef struct jobs_world {
    jcs_meta_spaces rows;    /* private rows */
    jcs_place_sites sites;   /* parallel to rows */
    jcs_jobplan_cand *cands; /* parallel to rows */
    int64_t *offline_ms;     /* parallel to rows: how long the space's hub has been silent
                                (0 when it is online, -1 when unknown) */
} jobs_world;

/* Refreshes the topology (a failure keeps the cached view) and loads the world. */
int jobs_world_load(jcs_jobs *j, jobs_world *w) JCS_MUST_USE;
void jobs_world_free(jobs_world *w);
/* Row i of the space, or -1 when unknown. */
long jobs_world_find(const jobs_world *w, int64_t space_id);

/* Counts an error and keeps its message (printf-style). */
void jobs_note_error(jobs_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps a message without counting an error. */
void jobs_note(jobs_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether stop was requested (the run then ends between two objects). */
bool jobs_stopping(jcs_jobs *j);

/* The data-moving jobs (jobs_move.c); each returns 0 unless it could not run at all. */
int jobs_change_redundancy(jcs_jobs *j, jobs_report *r) JCS_MUST_USE;
int jobs_recover(jcs_jobs *j, jobs_report *r) JCS_MUST_USE;
int jobs_shrink(jcs_jobs *j, jobs_report *r) JCS_MUST_USE;
int jobs_migrate(jcs_jobs *j, int64_t space_id, jobs_report *r) JCS_MUST_USE;

#endif
