/*
 * client/meta/access.h - access statistics gathered in memory and written in
 * batches.
 *
 * Every download adds to the counters of (object, space). Writing them in
 * the download's own durable transaction doubled the database work of a
 * small read, so reads are summed here and flushed every interval in one
 * transaction (jcs_meta_access_add). The jobs that read the statistics
 * flush first. Counters are statistics, not data: a crash loses at most one
 * interval of them, never an object.
 *
 * Pending counters are capped (JCS_ACCESS_MAX_PENDING distinct pairs); a
 * half-full table is flushed at once by the flusher thread, never by a
 * reader, and a read that finds the table full is not counted (one warning
 * per flush says how many).
 */
#ifndef JCS_CLIENT_ACCESS_H
#define JCS_CLIENT_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "meta.h"

#define JCS_ACCESS_MAX_PENDING 4096

typedef struct jcs_access jcs_access;

/* Starts the flusher (every interval_ms). db is borrowed for the life of the batcher. */
int jcs_access_start(jcs_db *db, int64_t interval_ms, jcs_access **out) JCS_MUST_USE;

/* Adds reads; entries with the same (object, space) are summed. Never waits for the
 * database. NULL a is a no-op. */
void jcs_access_note(jcs_access *a, const jcs_meta_access *v, size_t n);

/* Writes everything pending now. On failure the entries stay pending for the next try. */
int jcs_access_flush(jcs_access *a) JCS_MUST_USE;

/* Stops the flusher, writes what is pending (a failure is logged), frees. NULL is fine. */
void jcs_access_stop(jcs_access *a);

#endif
