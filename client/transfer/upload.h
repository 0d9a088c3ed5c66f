/*
 * client/transfer/upload.h - one object uploaded as a stream: the caller pushes the
 * bytes as they arrive (an HTTP body), a worker thread runs
 * jcs_driver_upload, which pulls them from a bounded pipe.
 *
 * Memory is bounded by the pipe (a few MiB whatever the object's size; an
 * upload also holds up to JCS_UPLOAD_SMALL_MAX while it may still be
 * small, see upload.c);
 * when the plan cannot keep up, jcs_upload_write blocks, which blocks the
 * HTTP connection's thread, which stops reading the socket: backpressure
 * reaches the client. Nothing is recorded in the database here; the caller
 * commits the result (data before metadata). A cancelled or failed upload
 * leaves at most orphan shards, which ShardStoreGC reclaims.
 */
#ifndef JCS_CLIENT_UPLOAD_H
#define JCS_CLIENT_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "err.h"
#include "hash.h"
#include "svc.h"

/* Uploads that end within this many bytes skip the plan (upload.c). */
#define JCS_UPLOAD_SMALL_MAX (1u << 20)

typedef struct jcs_upload jcs_upload;

/* What a finished upload stored. */
typedef struct jcs_upload_result {
    jcs_block blocks[256];
    size_t nblocks;
    char file_hash[JCS_HASH_SIZE];
    int64_t size;
    jcs_redundancy red;    /* as stored: EC with the chunk size fitted to the object (jcs_ec_fit) */
    unsigned char md5[16]; /* MD5 of the object's bytes: its S3 ETag (when has_md5) */
    int has_md5;           /* 0 after jcs_upload_md5_small_only for a large object */
} jcs_upload_result;

/*
 * Starts uploading with redundancy red onto targets (takes ownership of
 * *targets, which is emptied). size_bound: at least the object's size
 * (e.g. what is left of the request body), or -1 when unknown; an EC
 * object smaller than one strip gets a chunk size fitted to it (exactly,
 * when it ends within JCS_UPLOAD_SMALL_MAX; else to size_bound), and the
 * result's red says what was stored. The driver is borrowed until
 * jcs_upload_finish / jcs_upload_cancel returns. Caller ends it with one
 * of those two, then jcs_upload_free.
 */
int jcs_upload_start(jcs_driver *d, const jcs_redundancy *red, jcs_place_sites *targets,
                     int64_t size_bound, jcs_upload **out) JCS_MUST_USE;

/*
 * Computes the MD5 only while the object may still be small (at most
 * JCS_UPLOAD_SMALL_MAX, its bytes in memory): a larger one finishes with
 * has_md5 = 0. MD5 runs at about 600 MB/s on one core, 1.7 CPU-seconds per
 * GiB (README, CPU budget), so a caller that has no use for the ETag of a
 * large object (the REST API) skips it. Call before the first write.
 */
void jcs_upload_md5_small_only(jcs_upload *u);

/*
 * The next bytes of the object (only read), blocking while the pipe is
 * full. Fails with the plan's error once the plan failed (the caller then
 * cancels).
 */
int jcs_upload_write(jcs_upload *u, const void *p, size_t n) JCS_MUST_USE;

/* End of the object: waits for the plan and fills *res on success. */
int jcs_upload_finish(jcs_upload *u, jcs_upload_result *res) JCS_MUST_USE;

/* Abandons the upload: fails the stream and waits for the plan to stop. Idempotent. */
void jcs_upload_cancel(jcs_upload *u);

/* Frees a finished or cancelled upload (a running one is cancelled first). NULL is fine. */
void jcs_upload_free(jcs_upload *u);

#endif
