/*
 * driver.h - the client's side of the data plane: upload, download and
 * change redundancy as plans run together with hubs.
 *
 * The driver builds a plan (plan.h), sends each hub its fragment
 * (ExecuteFragment), runs its own fragment locally, feeds the upload
 * stream into it or drains the download stream out of it, and waits for
 * every worker. The first error anywhere cancels the plan everywhere and
 * is returned with its detail ("hub hub2: ShardWrite space 3: ...").
 *
 * Sites: where a block lives or should go is a space plus the hub serving
 * it (both borrowed from the caller) and a distance from the driver (lower
 * is nearer and cheaper; the client computes it from locations and
 * latencies). A site whose hub is NULL is unreachable (its hub is offline).
 */
#ifndef JCS_DRIVER_H
#define JCS_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "computeat.h"
#include "err.h"
#include "plan.h"
#include "rpc.h"
#include "shardstore.h"

typedef struct jcs_driver jcs_driver;

typedef struct jcs_site {
    const Jcs__Plan__Space *space;
    const Jcs__Plan__Worker *hub; /* NULL: unreachable */
    double distance;
} jcs_site;

/* One stored piece of an object: a replica (index 0..), or EC block `index`. */
typedef struct jcs_block {
    int index;
    int64_t space_id;
    char file_hash[JCS_FILEHASH_LEN + 1];
    int64_t size;
} jcs_block;

/* Supplies upload bytes: up to cap into buf, *n = 0 at the end. Return 0 or a jcs_err. */
typedef int (*jcs_driver_read_fn)(void *arg, void *buf, size_t cap, size_t *n);
/* Takes download bytes. Return 0 or a jcs_err (which cancels the plan). */
typedef int (*jcs_driver_write_fn)(void *arg, const void *data, size_t n);

/* tls: the client-role certificate used towards hubs (copied). Caller frees. */
int jcs_driver_new(const jcs_tls_files *tls, jcs_driver **out) JCS_MUST_USE;
void jcs_driver_free(jcs_driver *d);
/* Moves plan streams over the hubs' bulk channel where they have one (rpc.bulkChannel). */
int jcs_driver_use_bulk(jcs_driver *d) JCS_MUST_USE;
/*
 * The hub at address is back online after being offline: no later call or
 * stream to it uses a connection from before (jcs_xfer_reset_peer). Any thread.
 */
void jcs_driver_hub_back(jcs_driver *d, const char *address);

/*
 * Where a plan codes when its request names no compute site (ioswitch.computeAt,
 * docs/DESIGN.md §4). With mode client or no cost function (the default of a new
 * driver), every plan codes in the driver. Otherwise the cost model (computeat.h)
 * picks the site from the sources' and targets' hubs, and under auto also the
 * client for uploads and downloads (kept on equal costs): repairs and redundancy
 * changes code on a hub, so no object byte passes through the client. A plan on a
 * hub reads the sources cheapest for that hub. cost is called during plans, from
 * any thread, with arg; both must outlive the driver. Call before any plan runs.
 */
typedef struct jcs_driver_compute {
    jcs_computeat_mode mode;
    jcs_computeat_cost_fn cost;
    void *arg;
} jcs_driver_compute;
void jcs_driver_set_compute(jcs_driver *d, const jcs_driver_compute *c);

/* An object as stored: blocks[i] lives at sites[i]; red and object_size say how they make it. */
typedef struct jcs_driver_src {
    const jcs_block *blocks;
    const jcs_site *sites;
    size_t nblocks;
    const jcs_redundancy *red;
    int64_t object_size;
} jcs_driver_src;

/*
 * An upload: the object's bytes come from read(arg, ...); red says how to
 * store them on targets: none uses targets[0]; rep targets[0..repCount-1];
 * ec targets[0..n-1] (block i on targets[i]). compute: where splitting and
 * encoding run (NULL: by the driver's policy, jcs_driver_set_compute).
 */
typedef struct jcs_driver_upload_req {
    jcs_driver_read_fn read;
    void *arg;
    const jcs_redundancy *red;
    const jcs_site *targets;
    size_t ntargets;
    const Jcs__Plan__Worker *compute;
} jcs_driver_upload_req;

/* What an upload stored. blocks is the caller's array of req->ntargets entries. */
typedef struct jcs_driver_upload_res {
    jcs_block *blocks;
    size_t nblocks;                  /* entries filled, one per stored piece */
    char hash[JCS_FILEHASH_LEN + 1]; /* the object's FileHash */
    int64_t size;                    /* its length */
} jcs_driver_upload_res;

/*
 * Uploads one object as req says and fills res. Nothing is recorded
 * anywhere: the caller commits metadata after this returns (data before
 * metadata).
 */
int jcs_driver_upload(jcs_driver *d, const jcs_driver_upload_req *req,
                      jcs_driver_upload_res *res) JCS_MUST_USE;

/*
 * A read of bytes [offset, offset+length) (length -1: to the end) of src,
 * handed to write(arg, ...) in order. compute as for uploads.
 */
typedef struct jcs_driver_download_req {
    jcs_driver_src src;
    int64_t offset, length;
    const Jcs__Plan__Worker *compute;
    jcs_driver_write_fn write;
    void *arg;
} jcs_driver_download_req;

/*
 * Streams the range to write. For none/rep the nearest reachable copy is
 * read; for ec the k nearest reachable blocks (data blocks first among
 * equals, so a healthy object needs no decoding). JCS_EUNAVAIL when too few
 * blocks are reachable.
 */
int jcs_driver_download(jcs_driver *d, const jcs_driver_download_req *req) JCS_MUST_USE;

/* Rewrites src into redundancy to on targets (placed as for an upload). */
typedef struct jcs_driver_change_req {
    jcs_driver_src src;
    const jcs_redundancy *to;
    const jcs_site *targets;
    size_t ntargets;
    const Jcs__Plan__Worker *compute;
} jcs_driver_change_req;

/*
 * Runs the change in one plan. out[] (caller-allocated, req->ntargets
 * entries) receives the new blocks, *nout how many. The old blocks are
 * untouched; the caller switches metadata and lets GC reclaim them.
 */
int jcs_driver_change_redundancy(jcs_driver *d, const jcs_driver_change_req *req, jcs_block *out,
                                 size_t *nout) JCS_MUST_USE;

/* Rebuilds EC blocks lost_index[0..nlost) of src, block lost_index[i] onto targets[i]. */
typedef struct jcs_driver_repair_req {
    jcs_driver_src src;
    const int *lost_index;
    size_t nlost;
    const jcs_site *targets;
    const Jcs__Plan__Worker *compute;
    /* When not NULL, gets the bytes the plan read from the survivors' shards. */
    int64_t *bytes_read;
} jcs_driver_repair_req;

/*
 * Rebuilds from any k reachable blocks (re-encoding, no decoding of the
 * whole object), or for an LRC block whose group is otherwise whole, from
 * the rest of its group only. out[] (caller-allocated, req->nlost entries)
 * receives the new blocks.
 */
int jcs_driver_repair(jcs_driver *d, const jcs_driver_repair_req *req, jcs_block *out) JCS_MUST_USE;

/* ---- shard-store maintenance on one site (for checks, GC and probes) ---- */

/* One shard as a hub lists it. */
typedef struct jcs_shard_entry {
    char file_hash[JCS_FILEHASH_LEN + 1];
    int64_t size;
    int64_t mtime_ms; /* Unix ms of the shard's last write */
    int sidecar_only; /* only its checksum sidecar is stored (size, time: the sidecar's) */
} jcs_shard_entry;

/*
 * Calls fn for every shard stored on site (in pages, as the hub streams
 * them), then, with orphan_sidecars, for every checksum sidecar whose shard
 * is gone (sidecar_only set); fn's non-zero return stops the listing and is
 * returned. JCS_EUNAVAIL when the site is unreachable.
 */
int jcs_driver_list_shards(jcs_driver *d, const jcs_site *site, int orphan_sidecars,
                           int (*fn)(void *arg, const jcs_shard_entry *e), void *arg) JCS_MUST_USE;

/*
 * The shard's size and time; JCS_ENOENT when the site does not store it,
 * JCS_ECORRUPT when the hub found it corrupt (a read or a scrub did).
 */
int jcs_driver_stat_shard(jcs_driver *d, const jcs_site *site, const char *file_hash,
                          jcs_shard_entry *out) JCS_MUST_USE;

/*
 * The deep scrub of one shard: the hub reads it whole and checks it against
 * its FileHash (and writes its checksum sidecar when it was missing or
 * damaged: *sidecar_written, optional, is then 1). Errors as
 * jcs_driver_stat_shard; JCS_ECORRUPT when the content is bad. Waits as long
 * as a read of size bytes may take.
 */
int jcs_driver_verify_shard(jcs_driver *d, const jcs_site *site, const char *file_hash,
                            int64_t size, jcs_shard_entry *out, int *sidecar_written) JCS_MUST_USE;

/*
 * Reads bytes [offset, offset+length) of one shard on site into buf (the
 * caller's, length bytes) in a single call to its hub, without a plan: for
 * small objects, where setting up a plan costs more than the bytes. length
 * at most JCS_SHARD_CALL_MAX (methods.h). The hub checks every byte against
 * the shard's checksums (JCS_ECORRUPT). JCS_ENOENT when the shard is not
 * stored there, JCS_EUNAVAIL when the hub is unreachable.
 */
int jcs_driver_read_small(jcs_driver *d, const jcs_site *site, const char *file_hash,
                          int64_t offset, int64_t length, void *buf) JCS_MUST_USE;

/*
 * Stores data (len bytes, at most JCS_SHARD_CALL_MAX (methods.h)) as one whole
 * shard named file_hash on site, in a single call: for small objects. The
 * hub checks the hash (JCS_EINVAL when it does not match). out (may be
 * NULL) receives the stored shard.
 */
int jcs_driver_write_small(jcs_driver *d, const jcs_site *site, const void *data, size_t len,
                           const char *file_hash, jcs_shard_entry *out) JCS_MUST_USE;

/*
 * One of several small reads or writes run at once (one call per entry,
 * all in flight together: the time of the slowest, not the sum), e.g. the
 * n blocks of a small EC object. Read: bytes [offset, offset+length) of
 * shard file_hash into buf. Write: buf (length bytes) as the whole shard
 * file_hash; stored receives what the hub stored.
 */
typedef struct jcs_driver_small_io {
    const jcs_site *site;
    const char *file_hash;
    int64_t offset, length;
    void *buf;
    int rc;                 /* out: this entry's result */
    char detail[256];       /* out: its detail when rc != 0 */
    jcs_shard_entry stored; /* out (write) */
} jcs_driver_small_io;

/* Runs the entries' reads / writes at once; 0 when all succeeded, else the first failure's
 * code with its detail. Every entry's rc is set. At most 256 entries. */
int jcs_driver_read_small_all(jcs_driver *d, jcs_driver_small_io *io, size_t n) JCS_MUST_USE;
int jcs_driver_write_small_all(jcs_driver *d, jcs_driver_small_io *io, size_t n) JCS_MUST_USE;

/*
 * Small reads taken one at a time as they finish, for a caller that may
 * start more while some are in flight and stop before all answered (hedged
 * reads, download.c). One deadline for all (the same as _read_small_all's).
 * An io is borrowed from _start until _next hands it back or the set is
 * freed; its buf is written only when _next hands it back. At most
 * JCS_DRIVER_READS_MAX reads per set. One thread uses a set.
 */
#define JCS_DRIVER_READS_MAX 128
typedef struct jcs_driver_reads jcs_driver_reads;
int jcs_driver_reads_new(jcs_driver *d, jcs_driver_reads **out) JCS_MUST_USE;
/* Starts io's read; on failure io->rc and io->detail are set too (nothing in flight). */
int jcs_driver_reads_start(jcs_driver_reads *r, jcs_driver_small_io *io) JCS_MUST_USE;
/*
 * Waits up to wait_ms (< 0: until the set's deadline) for the next read to
 * finish: JCS_OK with *done set (its rc, detail and, on success, buf
 * filled). JCS_ETIMEOUT when none finished in time, JCS_EOF when none is in
 * flight.
 */
int jcs_driver_reads_next(jcs_driver_reads *r, int64_t wait_ms,
                          jcs_driver_small_io **done) JCS_MUST_USE;
/* Cancels the reads still in flight (their bufs are left alone) and frees r. NULL is fine. */
void jcs_driver_reads_free(jcs_driver_reads *r);

/* Deletes shards from site (missing ones count as deleted); *deleted may be NULL. */
int jcs_driver_delete_shards(jcs_driver *d, const jcs_site *site, const char *const *hashes,
                             size_t n, int64_t *deleted) JCS_MUST_USE;

#endif
