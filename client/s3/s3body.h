/*
 * client/s3/s3body.h - an S3 request body as it streams in: decodes
 * aws-chunked framing when the request says so (s3chunk.h), and computes
 * and checks, in one pass, everything S3 promises about a body:
 *   - the MD5 (the ETag of a single PUT and of a part), checked against
 *     Content-MD5 when given (InvalidDigest when malformed, BadDigest when
 *     different);
 *   - the SHA-256 when x-amz-content-sha256 is a hex digest
 *     (XAmzContentSHA256Mismatch when different);
 *   - an x-amz-checksum-* header, or the trailer of an aws-chunked body,
 *     (BadDigest when different); the value is kept to be stored and
 *     returned. x-amz-sdk-checksum-algorithm alone (no value) makes the
 *     gateway compute that checksum to store it.
 * Only decoded bytes reach the output callback; nothing is buffered beyond
 * one chunk header line.
 */
#ifndef JCS_CLIENT_S3BODY_H
#define JCS_CLIENT_S3BODY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "s3auth.h"
#include "s3chunk.h"
#include "s3sum.h"

typedef struct jcs_s3body jcs_s3body;

/*
 * Reads the body's headers through header (lower-case names) and prepares
 * the checks. auth is the verified request (copied). out receives the
 * decoded bytes. Errors carry an S3 code (InvalidDigest, InvalidArgument,
 * InvalidRequest for an unknown x-amz-content-sha256 mode). Caller frees.
 */
int jcs_s3body_new(const jcs_s3auth *auth, jcs_s3auth_header_fn header, void *harg,
                   jcs_s3chunk_out_fn out, void *arg, jcs_s3body **body) JCS_MUST_USE;

int jcs_s3body_feed(jcs_s3body *b, const void *p, size_t n) JCS_MUST_USE;

/* The body ended: completes the framing and runs every check. */
int jcs_s3body_finish(jcs_s3body *b) JCS_MUST_USE;

/*
 * The consumer of the body computes its MD5 itself (an upload plan does:
 * upload.h), so this body does not hash a second time: finish then skips
 * the Content-MD5 check, and the consumer calls jcs_s3body_check_md5 with
 * its MD5 (which also makes jcs_s3body_md5* return it).
 */
void jcs_s3body_md5_elsewhere(jcs_s3body *b);
int jcs_s3body_check_md5(jcs_s3body *b, const unsigned char md5[16]) JCS_MUST_USE;

/* After finish: the decoded size, the MD5 (32 lower-case hex digits + NUL). */
uint64_t jcs_s3body_size(const jcs_s3body *b);
const char *jcs_s3body_md5_hex(const jcs_s3body *b);
const unsigned char *jcs_s3body_md5(const jcs_s3body *b); /* 16 bytes */

/* After finish: the checksum algorithm and base64 value to store, or JCS_S3SUM_NONE. */
int jcs_s3body_checksum(const jcs_s3body *b, const char **b64);

/* Whether the body is aws-chunked (then Content-Length is not the object's size). */
int jcs_s3body_chunked(const jcs_s3body *b);

/* x-amz-decoded-content-length or Content-Length: the announced object size, or UINT64_MAX. */
uint64_t jcs_s3body_expected(const jcs_s3body *b);

void jcs_s3body_free(jcs_s3body *b);

#endif
