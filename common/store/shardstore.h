/*
 * shardstore.h - content-addressed shards on a storage backend.
 *
 * A shard is stored under blocks/<2 chars>/<FileHash>, where the 2 chars
 * are the FileHash's characters 4 and 5 taken as they are (upper-case hex,
 * as in JCS: "blocks/AB/FullAB12..."). A FileHash is "Full" or "Comp"
 * followed by 64 upper-case hex digits.
 *
 * The store never hashes: the caller streams the bytes in, computing the
 * FileHash as it goes, and names the shard at commit. Writes go through
 * the backend's temporary area (tmp/<random>.<pid> on a local directory),
 * so an aborted or crashed write never leaves a visible shard; what dead
 * writes leave behind is removed by jcs_shardstore_reclaim (call it at start
 * and periodically with a grace age).
 *
 * Content addressing: committing a hash that is already stored with the
 * same size succeeds and discards the new copy. A stored copy of another
 * size is corrupt by definition and is replaced.
 *
 * Checksums: every shard written here gets one CRC32C per 64 KiB chunk
 * (sidecar.h), kept in the shard file's attribute "jcs.crc" (storage.h; an
 * extended attribute on a local directory), set before the commit so it is
 * visible and durable with the bytes: one file per shard. Where the backend
 * or its file system keeps no attribute, or the checksums are over
 * JCS_SIDECAR_ATTR_MAX bytes (shards over 15.5 MiB), they go to a sidecar
 * "<key>.crc", committed before the shard; either way a visible shard always
 * has its checksums. Readers take the attribute first, then the sidecar, so
 * shards of both layouts (and of the sidecar-only layout written before the
 * attribute) read alike. Every read checks the chunks it
 * touches before handing any byte of them on; a mismatch, damaged
 * checksums or a shard shorter than its checksums say fails the read with
 * JCS_ECORRUPT naming the backend, the FileHash and the offset, and the
 * shard is remembered as corrupt: jcs_shardstore_stat then reports
 * JCS_ECORRUPT for it until it is written again or verified good. A shard
 * without checksums (written by JCS) is read as before: a whole read is
 * checked against its FileHash (at the end of the stream), a ranged read is
 * served unverified and counted. jcs_shardstore_verify (the scrub) reads a
 * whole shard, checks its SHA-256 and writes its checksums (into the
 * attribute where it can) when they are missing or damaged. Deleting a
 * shard deletes its sidecar.
 *
 * Thread safety: as the backend (a store may be used from many threads; a
 * writer by one thread at a time).
 */
#ifndef JCS_SHARDSTORE_H
#define JCS_SHARDSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "storage.h"

#define JCS_FILEHASH_LEN  68                         /* "Full" + 64 hex */
#define JCS_SHARD_KEY_LEN (7 + 3 + JCS_FILEHASH_LEN) /* "blocks/" + "AB/" + hash */

typedef struct jcs_shardstore jcs_shardstore;
typedef struct jcs_shard_writer jcs_shard_writer;

struct jcs_shard_info {
    char hash[JCS_FILEHASH_LEN + 1];
    uint64_t size;
    int64_t mtime_ms;
};

/* Called once per stored shard (info borrowed for the call). Non-zero stops the listing. */
typedef int (*jcs_shard_list_fn)(void *arg, const struct jcs_shard_info *info);

/* JCS_EINVAL, with a detail quoting hash, unless it is a well-formed FileHash. */
int jcs_filehash_check(const char *hash) JCS_MUST_USE;

/* Writes the backend key of hash ("blocks/AB/FullAB...") into out. JCS_EINVAL for a bad hash. */
int jcs_shardstore_key(const char *hash, char out[JCS_SHARD_KEY_LEN + 1]) JCS_MUST_USE;

/* A store on backend (borrowed: it must outlive the store). */
int jcs_shardstore_open(jcs_storage *backend, jcs_shardstore **out) JCS_MUST_USE;

/* NULL is a no-op. Writers must be finished. */
void jcs_shardstore_close(jcs_shardstore *ss);

/* The backend (borrowed). */
jcs_storage *jcs_shardstore_backend(jcs_shardstore *ss);

/* Starts writing a new shard; finish with jcs_shard_commit or jcs_shard_abort. */
int jcs_shardstore_create(jcs_shardstore *ss, jcs_shard_writer **out) JCS_MUST_USE;

/* Appends bytes. After an error only abort (or a failing commit) is useful. */
int jcs_shard_write(jcs_shard_writer *w, const void *data, size_t n) JCS_MUST_USE;

/* Bytes written so far. */
uint64_t jcs_shard_writer_size(const jcs_shard_writer *w);

/*
 * Stores what was written as shard hash (the caller's FileHash of those
 * bytes). Always consumes w. info (optional) receives hash, size and mtime;
 * *existed (optional) is 1 when an identical shard was already stored; the
 * new copy replaces it all the same (same bytes), which refreshes its
 * mtime so GC's grace period counts from this write. JCS_EINVAL for a malformed hash (nothing
 * stored).
 */
int jcs_shard_commit(jcs_shard_writer *w, const char *hash, struct jcs_shard_info *info,
                     int *existed) JCS_MUST_USE;

/* Discards a shard being written. Consumes w; NULL is a no-op. */
void jcs_shard_abort(jcs_shard_writer *w);

/* Streams bytes [off, off+len) of shard hash to sink (len JCS_STORAGE_TO_END: to the end). */
int jcs_shardstore_read(jcs_shardstore *ss, const char *hash, uint64_t off, uint64_t len,
                        jcs_storage_sink sink, void *arg) JCS_MUST_USE;

/* What jcs_shardstore_verify found. */
struct jcs_shard_verify {
    uint64_t size;       /* bytes read */
    int sidecar_written; /* the content was good but the sidecar missing or damaged: rewritten */
};

/*
 * Reads the whole shard, checks it against its FileHash (and, for a Comp
 * name, against its sidecar), and writes the sidecar again when it is
 * missing, damaged or stale. JCS_ECORRUPT (the shard is then remembered as
 * corrupt), JCS_ENOENT, or the backend's error.
 */
int jcs_shardstore_verify(jcs_shardstore *ss, const char *hash,
                          struct jcs_shard_verify *out) JCS_MUST_USE;

/* Counts since the store was opened. */
struct jcs_shardstore_counters {
    unsigned long long reads_verified;   /* reads whose every byte was checked */
    unsigned long long reads_unverified; /* ranged reads of shards without sidecar */
    unsigned long long corrupt_found;    /* reads and scrubs that found corruption */
    unsigned long long sidecars_written; /* by jcs_shardstore_verify */
};
void jcs_shardstore_counters(jcs_shardstore *ss, struct jcs_shardstore_counters *out);

/*
 * Size and mtime of a shard; JCS_ENOENT when it is not stored, JCS_ECORRUPT
 * when a read or a scrub found it corrupt since (it waits to be rebuilt).
 */
int jcs_shardstore_stat(jcs_shardstore *ss, const char *hash,
                        struct jcs_shard_info *info) JCS_MUST_USE;

/*
 * JCS_ECORRUPT (with stat's detail) when a read or a scrub found hash corrupt since it was
 * last written or verified good; else 0. No I/O: what a reader that is about to read the
 * shard anyway asks instead of jcs_shardstore_stat.
 */
int jcs_shardstore_known_corrupt(jcs_shardstore *ss, const char *hash) JCS_MUST_USE;

/* Calls fn for every stored shard. Objects under blocks/ that are not shards are skipped. */
int jcs_shardstore_list(jcs_shardstore *ss, jcs_shard_list_fn fn, void *arg) JCS_MUST_USE;

/*
 * Calls fn for every checksum sidecar whose shard is not stored (info: the
 * shard's hash, the sidecar's size and mtime): what a crash between a
 * sidecar's commit and its shard's, or a failed sidecar delete, leaves
 * behind. ShardStoreGC deletes those of unreferenced shards past its grace
 * period (jcs_shardstore_delete removes a sidecar whose shard is missing).
 * Keys are grouped by their blocks/XY/ directory, which both backends list
 * together, so memory is one directory's worth of names.
 */
int jcs_shardstore_list_orphan_sidecars(jcs_shardstore *ss, jcs_shard_list_fn fn,
                                        void *arg) JCS_MUST_USE;

/*
 * Deletes shards; missing ones count as deleted. Every hash is checked
 * before anything is deleted. *done (optional): see jcs_storage_delete_many.
 */
int jcs_shardstore_delete(jcs_shardstore *ss, const char *const *hashes, size_t n,
                          size_t *done) JCS_MUST_USE;

/* Removes leftovers of dead writes at least min_age_ms old (jcs_storage_reclaim). */
int jcs_shardstore_reclaim(jcs_shardstore *ss, int64_t min_age_ms, unsigned *removed) JCS_MUST_USE;

#endif
