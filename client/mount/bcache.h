/*
 * client/mount/bcache.h - the mount's block cache on disk, LRU, with a size cap.
 *
 * Downloaded data is kept as blocks of at most JCS_BCACHE_BLOCK bytes, one
 * file each (DIR/<fileHash>.<index>), keyed by the object's FileHash and
 * the block's index. A key names content, not a path: a re-uploaded object
 * has a new hash, so a stale block can never be served.
 *
 * The cap (0 = unlimited) is enforced in real time: a put first evicts the
 * least recently used blocks until the new block fits. Staged writes
 * (stage.h) are charged to the same cap through jcs_bcache_reserve, before
 * they reach the disk, and are never evicted; when what is left cannot make
 * room, put and reserve fail with JCS_ETOOBIG (the mount answers ENOSPC).
 * Whatever the cap, the cache also keeps JCS_BCACHE_MIN_FREE bytes of its
 * file system free (evicting, then refusing the same way): an unlimited
 * cache, or a cap bigger than the disk, never fills a disk that other
 * programs share. Blocks found in DIR when the
 * cache opens are kept (oldest modification first in the LRU), so a
 * remount starts warm.
 *
 * All calls are thread-safe. A read copies from the block's file outside
 * the lock (an evicted block's open file stays readable).
 */
#ifndef JCS_MOUNT_BCACHE_H
#define JCS_MOUNT_BCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JCS_BCACHE_BLOCK (1u << 20)
/* Bytes of the cache's file system kept free by default (see above). */
#define JCS_BCACHE_MIN_FREE ((int64_t)1 << 30)

typedef struct jcs_bcache jcs_bcache;

typedef struct jcs_bcache_stats {
    int64_t blocks, block_bytes, reserved_bytes, cap;
    int64_t hits, misses, evictions;
} jcs_bcache_stats;

/* Opens (creating) dir and indexes the blocks already there. */
int jcs_bcache_open(const char *dir, int64_t cap, jcs_bcache **out) JCS_MUST_USE;
void jcs_bcache_free(jcs_bcache *c);

/*
 * Copies up to len bytes from offset off of block (hash, idx) into buf.
 * 1 on a hit (*got = bytes copied, 0 when off is at or past the block's
 * end), 0 on a miss, or a negative jcs_err. hash is [A-Za-z0-9]{1,128}.
 */
int jcs_bcache_read(jcs_bcache *c, const char *hash, int64_t idx, size_t off, void *buf, size_t len,
                    size_t *got) JCS_MUST_USE;

/* Size of a cached block, or -1 when absent (does not count as a hit or a miss). */
int64_t jcs_bcache_block_size(jcs_bcache *c, const char *hash, int64_t idx);

/*
 * Stores a block (replacing one with the same key), evicting as needed.
 * JCS_ETOOBIG when the cap cannot make room, JCS_EINVAL for a bad hash or a
 * block over JCS_BCACHE_BLOCK, JCS_EIO when the disk refuses.
 */
int jcs_bcache_put(jcs_bcache *c, const char *hash, int64_t idx, const void *data,
                   size_t len) JCS_MUST_USE;

/*
 * Charges delta bytes of staged data to the cap (delta > 0, evicting
 * blocks; JCS_ETOOBIG when they cannot make room, nothing charged then) or
 * releases them (delta < 0; always succeeds).
 */
int jcs_bcache_reserve(jcs_bcache *c, int64_t delta) JCS_MUST_USE;

/* Changes the free-space floor (0 = none; tests and small disks). */
void jcs_bcache_set_min_free(jcs_bcache *c, int64_t bytes);

void jcs_bcache_get_stats(jcs_bcache *c, jcs_bcache_stats *st);

#endif
