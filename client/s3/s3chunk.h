/*
 * client/s3/s3chunk.h - the aws-chunked body decoder.
 *
 * Three content encodings announced by x-amz-content-sha256:
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          "HEX;chunk-signature=SIG\r\nDATA\r\n" ...
 *                                               "0;chunk-signature=SIG\r\n\r\n"
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  the same, then trailer lines and
 *                                               "x-amz-trailer-signature:SIG\r\n\r\n"
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER          "HEX\r\nDATA\r\n" ... "0\r\n"
 *                                               trailer lines, "\r\n"
 * Each chunk's signature is HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n"
 * date "\n" scope "\n" previous signature "\n" SHA256("") "\n"
 * SHA256(data)), the first chained to the request's seed signature; the
 * trailer's is HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n"
 * previous "\n" SHA256(trailer lines, each "name:value\n")).
 *
 * Only the decoded data reaches the output callback: chunk headers, CRLFs
 * and trailers never do. A chunk's bytes are passed on as they arrive and
 * its signature is checked at its end, so a bad signature fails the body
 * (the caller then stores nothing). The trailer named by x-amz-trailer
 * must be present: x-amz-checksum-crc32/-crc32c/-crc64nvme/-sha1/-sha256
 * is verified against the decoded data (BadDigest). The decoded length
 * must equal x-amz-decoded-content-length when given (a body that ends
 * early is IncompleteBody).
 *
 * Pure over buffers: feed it the body in pieces of any size.
 */
#ifndef JCS_CLIENT_S3CHUNK_H
#define JCS_CLIENT_S3CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "s3auth.h"
#include "s3sum.h"

#define JCS_S3CHUNK_LINE_MAX    4096  /* a chunk header or trailer line */
#define JCS_S3CHUNK_TRAILER_MAX 16384 /* all trailer lines */
#define JCS_S3CHUNK_UNKNOWN     UINT64_MAX

enum jcs_s3chunk_mode {
    JCS_S3CHUNK_SIGNED = 1,       /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    JCS_S3CHUNK_SIGNED_TRAILER,   /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    JCS_S3CHUNK_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/* The mode named by an x-amz-content-sha256 value, or 0 when it is not a streaming one. */
int jcs_s3chunk_mode(const char *content_sha256);

typedef int (*jcs_s3chunk_out_fn)(void *arg, const void *p, size_t n);

typedef struct jcs_s3chunk jcs_s3chunk;

/*
 * A decoder. auth (copied) is required for the signed modes. trailer is
 * the x-amz-trailer header (NULL: none announced; the trailer modes then
 * accept an empty trailer); decoded_len is x-amz-decoded-content-length or
 * JCS_S3CHUNK_UNKNOWN. out receives the data. JCS_EINVAL (InvalidArgument
 * recorded) for an unsupported trailer name. Caller frees.
 */
int jcs_s3chunk_new(int mode, const jcs_s3auth *auth, const char *trailer, uint64_t decoded_len,
                    jcs_s3chunk_out_fn out, void *arg, jcs_s3chunk **dec) JCS_MUST_USE;

/* The next body bytes. Errors carry an S3 code (jcs_s3err_take); out's own errors pass through. */
int jcs_s3chunk_feed(jcs_s3chunk *d, const void *p, size_t n) JCS_MUST_USE;

/* The body ended: IncompleteBody unless the final chunk and trailer were complete. */
int jcs_s3chunk_finish(jcs_s3chunk *d) JCS_MUST_USE;

/* Decoded bytes so far. */
uint64_t jcs_s3chunk_decoded(const jcs_s3chunk *d);

/*
 * After a successful finish: the trailer checksum's algorithm and its
 * base64 value as sent (and verified); JCS_S3SUM_NONE when none.
 */
int jcs_s3chunk_checksum(const jcs_s3chunk *d, const char **b64);

void jcs_s3chunk_free(jcs_s3chunk *d);

#endif
