/*
 * client/s3/s3sum.h - the checksums S3 clients send and expect back:
 * Content-MD5 and the ETag (MD5), x-amz-checksum-crc32, -crc32c,
 * -crc64nvme, -sha1 and -sha256 (base64 of the big-endian value or digest),
 * computed while the bytes stream past.
 *
 * The CRCs come from common/data/crc.h (ISA-L, and a table for CRC64/NVME);
 * MD5 and the SHAs use OpenSSL's EVP.
 */
#ifndef JCS_CLIENT_S3SUM_H
#define JCS_CLIENT_S3SUM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum jcs_s3sum_alg {
    JCS_S3SUM_NONE = 0,
    JCS_S3SUM_CRC32,
    JCS_S3SUM_CRC32C,
    JCS_S3SUM_CRC64NVME,
    JCS_S3SUM_SHA1,
    JCS_S3SUM_SHA256,
    JCS_S3SUM_MD5, /* Content-MD5 and ETags, not an x-amz-checksum */
};

#define JCS_S3SUM_B64_SIZE 48 /* base64 of a 32-byte digest with its NUL, rounded up */

/*
 * The algorithm named by "crc32", "CRC32C", ... or by a header name
 * "x-amz-checksum-crc32" (any case); JCS_S3SUM_NONE when unknown.
 */
int jcs_s3sum_alg_parse(const char *name);

/* "crc32", "crc32c", "crc64nvme", "sha1", "sha256", "md5". */
const char *jcs_s3sum_alg_name(int alg);

/* "x-amz-checksum-crc32" ...; NULL for MD5 and NONE. */
const char *jcs_s3sum_header(int alg);

/* Raw digest length: 4, 4, 8, 20, 32, 16. */
size_t jcs_s3sum_len(int alg);

typedef struct jcs_s3sum {
    int alg;
    uint32_t crc32;
    uint64_t crc64;
    void *md; /* EVP_MD_CTX, owned */
} jcs_s3sum;

/* JCS_EINVAL for NONE or an unknown alg; JCS_ENOMEM. Ends with final or free. */
int jcs_s3sum_init(jcs_s3sum *s, int alg) JCS_MUST_USE;
void jcs_s3sum_update(jcs_s3sum *s, const void *p, size_t n);
/* The raw digest (jcs_s3sum_len bytes) into out, and releases s. */
int jcs_s3sum_final(jcs_s3sum *s, unsigned char out[32]) JCS_MUST_USE;
/* The same, as base64 (the x-amz-checksum-* form). */
int jcs_s3sum_final_b64(jcs_s3sum *s, char out[JCS_S3SUM_B64_SIZE]) JCS_MUST_USE;
/* Releases s without a result; fine twice and on a zeroed s. */
void jcs_s3sum_free(jcs_s3sum *s);

/* Standard base64 with padding of p[0..n) into out (4*ceil(n/3)+1 bytes). */
void jcs_s3sum_b64(const void *p, size_t n, char *out);

/*
 * Decodes standard base64 (padding required, no blanks) into out (max
 * bytes); *n gets the length. JCS_EINVAL when malformed or longer than max.
 */
int jcs_s3sum_unb64(const char *s, unsigned char *out, size_t max, size_t *n) JCS_MUST_USE;

/* Lower-case hex of p[0..n) into out (2n+1 bytes). */
void jcs_s3sum_hex(const void *p, size_t n, char *out);

#endif
