/*
 * client/transfer/download.h - reading an object (or a range of it) back through the
 * driver, as a blocking call or as a stream a reply pulls from.
 *
 * Sources: the user spaces of the object's blocks, resolved into plan sites
 * (placement.h); the driver picks the nearest reachable copy, or the k nearest
 * reachable EC blocks. A plan that fails before its first byte was handed
 * on refreshes the topology and is tried once more (a hub went down since
 * the last refresh). Objects of redundancy "segment" (completed multipart
 * uploads) are read segment by segment, each block a plain ("none") shard
 * of its segment. Small ranged reads of EC objects go through the strip
 * cache (stripcache.h) when the service has one: whole strips are fetched,
 * plus ecStripPrefetchCount following ones, and served from memory after.
 *
 * Hedged reads: plan-free reads (up to JCS_DOWNLOAD_SMALL_MAX, and strip-cache
 * fetches) that wait on a hub past its hedge delay (hublat.h, svc->hublat)
 * also read a parity block (EC; decoded from whichever k blocks answer
 * first) or the next copy (rep, none), and cancel the late call.
 *
 * Access statistics: a finished stream adds, per space read from, the
 * fraction of the object it read (jcs_meta_access_add); a failure there is
 * logged, never reported to the reader.
 */
#ifndef JCS_CLIENT_DOWNLOAD_H
#define JCS_CLIENT_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "driver.h"
#include "err.h"
#include "meta.h"
#include "svc.h"

/* Ranged reads spanning at most this many EC strips use the strip cache. */
#define JCS_DOWNLOAD_CACHED_STRIPS 2
/* Default byte bound of the strip cache. */
#define JCS_DOWNLOAD_STRIP_CACHE_BYTES (256u << 20)

/*
 * How an object's stored redundancy reads back. For segment objects
 * segments[] (owned; jcs_download_red_clear frees) holds the sizes.
 * JCS_EBUSY for an open multipart upload, JCS_EINVAL for an unknown type.
 */
typedef struct jcs_download_red {
    int segmented;
    jcs_redundancy red; /* when !segmented */
    int64_t *segments;
    size_t nsegments;
} jcs_download_red;
int jcs_download_parse_red(const jcs_meta_object *o, jcs_download_red *out) JCS_MUST_USE;
void jcs_download_red_clear(jcs_download_red *r);

/* Bytes read per space, for access statistics. */
typedef struct jcs_download_reads {
    int64_t space_id[64];
    int64_t bytes[64];
    size_t n;
} jcs_download_reads;

/*
 * Streams bytes [offset, offset + length) of the object in d (borrowed) to
 * wr, blocking. The range must lie inside the object. reads (may be NULL)
 * accumulates where bytes came from.
 */
int jcs_download_object(jcs_svc *svc, const jcs_meta_detail *d, int64_t offset, int64_t length,
                        jcs_driver_write_fn wr, void *arg, jcs_download_reads *reads) JCS_MUST_USE;

/*
 * Asks each block's hub for its shard (StatShard) and takes out of sites[]
 * (hub set to NULL) every block whose hub does not answer, or answers that
 * the shard is missing, corrupt or of the wrong size. Corrupt and wrong-size
 * ones go to the heal queue (healq.h). Returns how many were corrupt or
 * wrong-size. Used before retrying a read, and by every job that copies
 * data, so a corrupt source is never read twice when a good one exists.
 */
int jcs_download_drop_bad(jcs_svc *svc, const jcs_block *blocks, jcs_site *sites, size_t n);

/* Reads up to this many bytes need no thread of their own (jcs_download_small), and reads
 * of a plain copy up to it no plan (one ReadShard call). */
#define JCS_DOWNLOAD_SMALL_MAX (1 << 20)

/*
 * Reads [offset, offset + length) of d (borrowed), length at most
 * JCS_DOWNLOAD_SMALL_MAX, into buf (the caller's, length bytes), blocking,
 * and counts the read in the access statistics: small reads need no thread
 * and no pipe.
 */
int jcs_download_small(jcs_svc *svc, const jcs_meta_detail *d, int64_t offset, int64_t length,
                       void *buf) JCS_MUST_USE;

/* ---- as a stream: a thread runs jcs_download_object into a bounded pipe ---- */

typedef struct jcs_download_stream jcs_download_stream;

/*
 * Starts reading [offset, offset + length) of d (takes ownership: *d is
 * emptied) and waits for the first bytes, so that a download that cannot
 * start at all fails here, before any status was sent. On success the
 * caller pulls with jcs_download_stream_read and ends with
 * jcs_download_stream_end.
 */
int jcs_download_stream_start(jcs_svc *svc, jcs_meta_detail *d, int64_t offset, int64_t length,
                              jcs_download_stream **out) JCS_MUST_USE;

/* Up to max bytes into buf: the count, 0 at the end, or a negative jcs_err. Blocks. */
ssize_t jcs_download_stream_read(jcs_download_stream *s, void *buf, size_t max);

/*
 * Ends the stream: completed 0 (the reader left) stops the plan. Waits for
 * the thread, records access statistics when the read finished, frees s.
 */
void jcs_download_stream_end(jcs_download_stream *s, int completed);

#endif
