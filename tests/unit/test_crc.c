/*
 * test_crc.c - common/data/crc.c against the published check values of each
 * CRC and against a bit-by-bit reference written from the polynomials.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "crc.h"
#include "t.h"

/* The reference: one bit at a time, reflected, init and xorout all ones. */
static uint64_t ref_crc(uint64_t poly, int bits, const unsigned char *p, size_t n)
{
    uint64_t mask = bits == 64 ? ~0ULL : ((1ULL << bits) - 1);
    uint64_t c = mask;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ poly : c >> 1;
    }
    return ~c & mask;
}

#define P32C 0x82F63B78ULL
#define P32  0xEDB88320ULL
#define P64  0x9A6C9329AC4BC9B5ULL

static void fill(unsigned char *p, size_t n)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

TEST(check_values)
{
    /* The catalogue's check input and values (CRC-32/ISCSI, CRC-32/ISO-HDLC, CRC-64/NVME). */
    const char *v = "123456789";
    T_EQ_INT(jcs_crc32c(0, v, 9), 0xE3069283u);
    T_EQ_INT(jcs_crc32(0, v, 9), 0xCBF43926u);
    T_ASSERT(jcs_crc64nvme(0, v, 9) == 0xAE8B14860A799888ULL, "(%016llx)",
             (unsigned long long)jcs_crc64nvme(0, v, 9));
    /* Nothing hashed: the starting value. */
    T_EQ_INT(jcs_crc32c(0, "", 0), 0);
    T_EQ_INT(jcs_crc32(0, "", 0), 0);
    T_ASSERT(jcs_crc64nvme(0, "", 0) == 0);
    /* The value S3 computes for "hello world" (base64 in the x-amz-checksum-* headers). */
    T_EQ_INT(jcs_crc32(0, "hello world", 11), 0x0D4A1185u);
    T_EQ_INT(jcs_crc32c(0, "hello world", 11), 0xC99465AAu);
}

/* Every length from 0 to 1100 (ISA-L switches to folding at 16, 64, 256 bytes ...) and
 * every misalignment of the start: the same value as the bit-by-bit reference. */
TEST(matches_the_reference_at_all_lengths_and_offsets)
{
    static unsigned char buf[1200];
    fill(buf, sizeof buf);
    for (size_t off = 0; off < 16; off++)
        for (size_t n = 0; n + off <= 1100; n += off ? 37 : 1) {
            const unsigned char *p = buf + off;
            T_EQ_INT(jcs_crc32c(0, p, n), ref_crc(P32C, 32, p, n));
            T_EQ_INT(jcs_crc32(0, p, n), ref_crc(P32, 32, p, n));
            T_ASSERT(jcs_crc64nvme(0, p, n) == ref_crc(P64, 64, p, n), "(off %zu n %zu)", off, n);
        }
}

/* A stream checksummed in pieces gives the value of one call over the whole. */
TEST(chains_across_pieces)
{
    const size_t n = (1u << 20) + 333;
    unsigned char *p = jcs_malloc(n);
    T_ASSERT(p);
    fill(p, n);
    uint32_t w32c = jcs_crc32c(0, p, n), w32 = jcs_crc32(0, p, n);
    uint64_t w64 = jcs_crc64nvme(0, p, n);
    uint32_t c32c = 0, c32 = 0;
    uint64_t c64 = 0;
    size_t sizes[] = {1, 7, 64, 4093, 65536, 100000};
    for (size_t off = 0, i = 0; off < n; i++) {
        size_t k = sizes[i % 6] < n - off ? sizes[i % 6] : n - off;
        c32c = jcs_crc32c(c32c, p + off, k);
        c32 = jcs_crc32(c32, p + off, k);
        c64 = jcs_crc64nvme(c64, p + off, k);
        off += k;
    }
    int same = c32c == w32c && c32 == w32 && c64 == w64;
    int ref = w32c == ref_crc(P32C, 32, p, n);
    jcs_free(p);
    T_ASSERT(same);
    T_ASSERT(ref);
}
