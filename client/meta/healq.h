/*
 * client/healq.h - the heal queue: shards found corrupt, waiting to be rebuilt.
 *
 * A read that meets a corrupt shard (the hub's checksums or FileHash check
 * failed: JCS_ECORRUPT) and a deep CheckShardStore that finds one put
 * (user space, FileHash) here, in the healQueue table of the client's
 * database, so the finding survives a restart. RedundancyRecover treats every
 * block named here as lost: it rebuilds it from the object's good blocks
 * (onto its own space when that space is healthy) and then removes the entry.
 *
 * Counters (since the process started) are shown by GET /v1/system/status.
 *
 * Thread safety: any thread; the database does the locking.
 */
#ifndef JCS_CLIENT_HEALQ_H
#define JCS_CLIENT_HEALQ_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "hash.h"

/* Entries one listing returns at most (RedundancyRecover takes them in turns). */
#define JCS_HEALQ_LIST_MAX 100000

typedef struct jcs_healq_item {
    int64_t space_id;
    char file_hash[JCS_HASH_SIZE];
} jcs_healq_item;

typedef struct jcs_healq_counters {
    long long corrupt_reads; /* reads that met a corrupt shard and went elsewhere or failed */
    long long scrub_corrupt; /* corrupt shards found by a deep CheckShardStore */
    long long queued;        /* entries added (the same shard twice counts once per add) */
    long long healed;        /* entries removed after a rebuild */
} jcs_healq_counters;

/*
 * Queues (space_id, file_hash) with why (the first 500 bytes kept) and logs
 * the finding. from_scrub picks the counter. A failure is logged and
 * returned; the caller's read goes on regardless.
 */
int jcs_healq_add(jcs_db *db, int64_t space_id, const char *file_hash, const char *why,
                  int from_scrub);

/* Every queued entry (at most JCS_HEALQ_LIST_MAX); *out is the caller's (jcs_free). */
int jcs_healq_list(jcs_db *db, jcs_healq_item **out, size_t *n) JCS_MUST_USE;

/* 1 when (space_id, file_hash) is in items[0..n). */
int jcs_healq_has(const jcs_healq_item *items, size_t n, int64_t space_id, const char *file_hash);

/*
 * Removes an entry (missing entries are fine): healed 1 after its block was
 * rebuilt (counted), 0 when no object names it any more.
 */
int jcs_healq_remove(jcs_db *db, int64_t space_id, const char *file_hash, int healed) JCS_MUST_USE;

void jcs_healq_counters_get(jcs_healq_counters *out);

/*
 * 1 when this process queued (space_id, file_hash) and has not seen it
 * rebuilt: reads then try that copy last (remembered in memory, at most the
 * last 1024 findings).
 */
int jcs_healq_known_bad(int64_t space_id, const char *file_hash);

#endif
