/*
 * client/transfer/stripcache.h - an LRU cache of decoded EC strips for small ranged
 * reads (downloader.maxStripCacheCount, downloader.ecStripPrefetchCount).
 *
 * A strip is k * chunkSize bytes of an EC object's raw content (the last
 * strip of an object may be shorter); it is keyed by the object's content
 * (FileHash) and the strip index, so a re-uploaded object never sees stale
 * strips and two objects with equal content share them. The cache is bounded
 * both by count and by bytes; inserting past either bound evicts the least
 * recently used strips. A strip larger than the byte bound is not kept.
 *
 * Thread-safe (one mutex); lookups copy out under the lock, so an eviction
 * never frees memory a reader still uses.
 */
#ifndef JCS_CLIENT_STRIPCACHE_H
#define JCS_CLIENT_STRIPCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jcs_stripcache jcs_stripcache;

typedef struct jcs_stripcache_stats {
    uint64_t hits, misses, evictions;
    size_t count; /* strips held now */
    size_t bytes; /* bytes held now */
} jcs_stripcache_stats;

/* max_count 0 makes a cache that keeps nothing. Caller frees with jcs_stripcache_free. */
int jcs_stripcache_new(size_t max_count, size_t max_bytes, jcs_stripcache **out) JCS_MUST_USE;
void jcs_stripcache_free(jcs_stripcache *c); /* NULL is fine */

/*
 * Copies bytes [off, off + n) of strip (file_hash, index) into buf and
 * marks the strip most recently used: 1 when the strip is cached and holds
 * those bytes, 0 otherwise (nothing copied). file_hash is only read.
 */
int jcs_stripcache_get(jcs_stripcache *c, const char *file_hash, int64_t index, size_t off,
                       void *buf, size_t n);

/*
 * Stores a copy of a strip (data only read), replacing one with the same
 * key, evicting least recently used strips past the bounds. JCS_ENOMEM.
 */
int jcs_stripcache_put(jcs_stripcache *c, const char *file_hash, int64_t index, const void *data,
                       size_t n) JCS_MUST_USE;

void jcs_stripcache_get_stats(jcs_stripcache *c, jcs_stripcache_stats *st);

#endif
