/*
 * fuzz_s3chunk.c - the aws-chunked decoder (s3chunk.h) over arbitrary
 * bodies, in the unsigned-trailer mode (the signed modes need a SigV4 seed
 * signature: every chunk is then refused at its signature, so the framing
 * parser is reached through the unsigned mode). The first byte picks the
 * announced trailer and the piece size; the decoder must never emit more
 * bytes than it was fed.
 */
#include "fuzz.h"
#include "s3auth.h"
#include "s3chunk.h"

static int fz_out(void *arg, const void *p, size_t n)
{
    size_t *total = arg;
    volatile const unsigned char *c = p;
    if (n) {
        (void)c[0];
        (void)c[n - 1];
    }
    *total += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    static const char *trailers[] = {NULL, "x-amz-checksum-crc32", "x-amz-checksum-crc32c",
                                     "x-amz-checksum-sha256"};
    const char *trailer = trailers[ctl & 3];
    uint64_t declen = (ctl & 4) ? (uint64_t)size : JCS_S3CHUNK_UNKNOWN;
    size_t step = (ctl >> 3) ? (size_t)(ctl >> 3) : 65536;
    size_t total = 0;
    jcs_s3chunk *d;
    if (jcs_s3chunk_new(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, trailer, declen, fz_out, &total, &d) !=
        0)
        return 0;
    int rc = 0;
    for (size_t off = 0; off < size && rc == 0; off += step) {
        size_t n = size - off < step ? size - off : step;
        uint8_t *piece = malloc(n);
        memcpy(piece, data + off, n);
        rc = jcs_s3chunk_feed(d, piece, n);
        free(piece);
    }
    if (rc == 0 && jcs_s3chunk_finish(d) == 0) {
        const char *b64;
        (void)jcs_s3chunk_checksum(d, &b64);
    }
    if (total > size || jcs_s3chunk_decoded(d) != total)
        abort();
    jcs_s3chunk_free(d);
    return 0;
}
