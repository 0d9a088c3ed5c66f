/*
 * crc.c - CRC-32C, CRC-32 and CRC-64/NVME (crc.h).
 */
#include "crc.h"

#include <isa-l/crc.h>
#include <pthread.h>

/* ISA-L's lengths are int (crc32_iscsi) or uint64_t: one piece stays far below INT_MAX. */
#define PIECE ((size_t)1 << 30)

uint32_t jcs_crc32c(uint32_t crc, const void *p, size_t n)
{
    /* crc32_iscsi works on the raw register (no final inversion): pass ~crc, invert the result. */
    const unsigned char *b = p;
    uint32_t reg = ~crc;
    while (n) {
        size_t k = n < PIECE ? n : PIECE;
        reg = crc32_iscsi((unsigned char *)b, (int)k, reg);
        b += k;
        n -= k;
    }
    return ~reg;
}

uint32_t jcs_crc32(uint32_t crc, const void *p, size_t n)
{
    /* crc32_gzip_refl takes and returns the finished CRC, so it chains as it is.
     * (crc32_ieee is the unreflected form, which S3's CRC32 is not.) */
    const unsigned char *b = p;
    while (n) {
        size_t k = n < PIECE ? n : PIECE;
        crc = crc32_gzip_refl(crc, b, k);
        b += k;
        n -= k;
    }
    return crc;
}

/*
 * The ISA-L installed here (Debian's 2.30) has the ECMA, ISO and Jones
 * 64-bit polynomials but not the NVMe one (crc64_rocksoft came in 2.31),
 * so CRC-64/NVME is a byte table, built once. It serves only S3 uploads
 * that ask for it.
 */
static uint64_t table64[256];
static pthread_once_t table64_once = PTHREAD_ONCE_INIT;

static void table64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x9A6C9329AC4BC9B5ULL : c >> 1;
        table64[i] = c;
    }
}

uint64_t jcs_crc64nvme(uint64_t crc, const void *p, size_t n)
{
    pthread_once(&table64_once, table64_init);
    const unsigned char *b = p;
    uint64_t reg = ~crc;
    for (size_t i = 0; i < n; i++)
        reg = table64[(reg ^ b[i]) & 0xFF] ^ (reg >> 8);
    return ~reg;
}
