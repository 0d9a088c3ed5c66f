/*
 * sidecar.h - the per-chunk CRC32C checksums stored next to every shard.
 *
 * A shard's bytes stay exactly what JCS stores (its FileHash is the SHA-256
 * of exactly its content), so its checksums live beside it, in a sidecar
 * object "<shard key>.crc" on the same backend. Layout, little-endian:
 *
 *   offset 0   4 bytes  magic "JCSC"
 *          4   u32      version (1)
 *          8   u32      checksum chunk size (JCS_SIDECAR_CHUNK)
 *         12   u32      reserved, 0
 *         16   u64      shard size in bytes
 *         24   u32 * n  CRC32C (ISA-L crc32_iscsi, initial value ~0) of each
 *                       chunk, n = ceil(size / chunk); the last may be short
 *   24 + 4n    u32      CRC32C of every byte before it
 *
 * A ranged read verifies the aligned chunks that enclose the range, so it
 * reads at most two chunks more than asked. The sidecar of a 1 GiB shard is
 * 64 KiB.
 *
 * jcs_sidecar_acc accumulates the CRCs of a stream as it is written (one
 * pass with the caller's SHA-256); jcs_sidecar_parse checks an encoded
 * sidecar. Neither does I/O (shardstore.c stores and reads them).
 */
#ifndef JCS_SIDECAR_H
#define JCS_SIDECAR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JCS_SIDECAR_CHUNK  (64u << 10)
#define JCS_SIDECAR_HEADER 24
/* Largest shard a sidecar describes (4 Ti chunks of 64 KiB would be absurd): 1 TiB. */
#define JCS_SIDECAR_MAX_SHARD (1ull << 40)
#define JCS_SIDECAR_SUFFIX    ".crc"
/*
 * The same bytes kept as an attribute of the shard file itself (storage.h; local: the
 * extended attribute user.jcs.crc) when they are at most JCS_SIDECAR_ATTR_MAX bytes, i.e.
 * for shards up to 249 chunks (15.5 MiB): one file and one fsync per shard instead of two.
 * Larger shards, and backends or file systems that keep no attributes, use the sidecar
 * object. An attribute, when present, is the shard's checksums; a sidecar beside it is
 * ignored.
 */
#define JCS_SIDECAR_ATTR     "jcs.crc"
#define JCS_SIDECAR_ATTR_MAX 1024

/* CRC32C of n bytes as the sidecar records it. */
uint32_t jcs_sidecar_crc(const void *p, size_t n);

/* Encoded size of the sidecar of a shard of size bytes. */
size_t jcs_sidecar_encoded_size(uint64_t size);

/* A streaming accumulator; zero it, feed it, encode it, clear it. */
typedef struct jcs_sidecar_acc {
    uint32_t *crcs; /* owned; one per finished chunk */
    size_t n, cap;
    uint32_t cur;  /* running CRC of the chunk being filled */
    uint32_t fill; /* its bytes so far */
    uint64_t size;
    int failed; /* JCS_ENOMEM / JCS_ETOOBIG, sticky */
} jcs_sidecar_acc;

/* Adds bytes. Errors are remembered and returned by jcs_sidecar_encode. */
void jcs_sidecar_update(jcs_sidecar_acc *a, const void *p, size_t n);

/* The encoded sidecar of what was fed, in a new buffer (*out, jcs_free it). */
int jcs_sidecar_encode(jcs_sidecar_acc *a, uint8_t **out, size_t *outlen) JCS_MUST_USE;

void jcs_sidecar_clear(jcs_sidecar_acc *a);

/* A parsed sidecar: borrowed pointers into the caller's buffer. */
typedef struct jcs_sidecar {
    uint64_t size;
    uint32_t chunk;
    size_t n;
    const uint8_t *crcs; /* n little-endian u32 */
} jcs_sidecar;

/*
 * Checks buf[0..len) (magic, version, chunk size, length, own CRC) and fills
 * out. JCS_ECORRUPT with a detail saying what is wrong.
 */
int jcs_sidecar_parse(const uint8_t *buf, size_t len, jcs_sidecar *out) JCS_MUST_USE;

/* The recorded CRC of chunk i (i < n). */
uint32_t jcs_sidecar_get(const jcs_sidecar *sc, size_t i);

#endif
