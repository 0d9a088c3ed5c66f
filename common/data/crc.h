/*
 * crc.h - the CRCs JCS computes, in one place: CRC-32C (the shards' checksum
 * sidecars, S3's x-amz-checksum-crc32c), CRC-32 (IEEE, as gzip; S3's
 * x-amz-checksum-crc32) and CRC-64/NVME (S3's x-amz-checksum-crc64nvme).
 *
 * The only caller of ISA-L's CRC functions (ec.c calls its erasure codes).
 * Every function takes the finished CRC of the bytes so far (0 before any
 * byte) and returns the finished CRC including p[0..n), so a stream is
 * checksummed piece by piece: crc = jcs_crc32c(crc, piece, len). Any length
 * is accepted (ISA-L's int-length calls are fed in pieces). Thread-safe.
 */
#ifndef JCS_CRC_H
#define JCS_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli, reflected 0x82F63B78): "123456789" gives 0xE3069283. */
uint32_t jcs_crc32c(uint32_t crc, const void *p, size_t n);

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320, as gzip and zlib): "123456789" gives 0xCBF43926. */
uint32_t jcs_crc32(uint32_t crc, const void *p, size_t n);

/* CRC-64/NVME (reflected 0x9A6C9329AC4BC9B5): "123456789" gives 0xAE8B14860A799888. */
uint64_t jcs_crc64nvme(uint64_t crc, const void *p, size_t n);

#endif
