/*
 * client/s3/s3body.c - the checked request body (s3body.h).
 */
#include "s3body.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "s3err.h"
#include "sigv4.h"

#define JCS_S3BODY_MAX_MD5 4 /* Content-MD5 values (a repeated header) */

struct jcs_s3body {
    jcs_s3chunk *chunk; /* NULL for a plain body */
    jcs_s3chunk_out_fn out;
    void *arg;
    jcs_s3sum md5;
    unsigned char md5_raw[16];
    char md5_hex[33];
    int want_md5;
    int md5_elsewhere; /* the consumer computes the MD5 (jcs_s3body_md5_elsewhere) */
    unsigned char content_md5[JCS_S3BODY_MAX_MD5][16];
    size_t nmd5;
    jcs_s3sum sha256;
    int want_sha256;
    char sha256_hex[65];
    jcs_s3sum sum; /* a header checksum, or one computed to be stored */
    int sum_alg;
    char sum_given[JCS_S3SUM_B64_SIZE + 8]; /* "" when only computed */
    char sum_b64[JCS_S3SUM_B64_SIZE];
    uint64_t size, expected;
    int finished;
};

static uint64_t parse_u64(const char *s)
{
    if (!s || !*s)
        return UINT64_MAX;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (*e || errno || s[0] == '-')
        return UINT64_MAX - 1; /* malformed */
    return v;
}

/* Bytes of the plain body, or decoded bytes of a chunked one: hashed and passed on. */
static int sink(void *arg, const void *p, size_t n)
{
    jcs_s3body *b = arg;
    if (!b->md5_elsewhere)
        jcs_s3sum_update(&b->md5, p, n);
    if (b->want_sha256)
        jcs_s3sum_update(&b->sha256, p, n);
    if (b->sum_alg)
        jcs_s3sum_update(&b->sum, p, n);
    b->size += n;
    return b->out(b->arg, p, n);
}

int jcs_s3body_new(const jcs_s3auth *auth, jcs_s3auth_header_fn header, void *harg,
                   jcs_s3chunk_out_fn out, void *arg, jcs_s3body **body)
{
    *body = NULL;
    jcs_s3body *b = jcs_calloc(1, sizeof *b);
    if (!b)
        return jcs_err_set(JCS_ENOMEM, "request body: out of memory");
    b->out = out;
    b->arg = arg;
    b->expected = UINT64_MAX;
    int rc = jcs_s3sum_init(&b->md5, JCS_S3SUM_MD5);
    const char *ph = auth ? auth->payload_hash : JCS_SIGV4_UNSIGNED_PAYLOAD;
    int mode = jcs_s3chunk_mode(ph);
    const char *cmd5 = header(harg, "content-md5");
    if (!rc && cmd5) {
        /* A repeated header arrives joined with ','; every value must hold. */
        char one[64];
        for (const char *p = cmd5; !rc && b->nmd5 < JCS_S3BODY_MAX_MD5;) {
            size_t l = strcspn(p, ",");
            snprintf(one, sizeof one, "%.*s", (int)(l < 63 ? l : 63), p);
            size_t n = 0;
            if (l >= sizeof one || jcs_s3sum_unb64(one, b->content_md5[b->nmd5], 16, &n) != 0 ||
                n != 16)
                rc = jcs_s3err_set(JCS_S3E_InvalidDigest,
                                   "The Content-MD5 \"%.60s\" you specified is not valid.", cmd5);
            b->nmd5++;
            if (!p[l])
                break;
            p += l + 1;
            while (*p == ' ')
                p++;
        }
        b->want_md5 = 1;
    }
    if (!rc && !mode && strcmp(ph, JCS_SIGV4_UNSIGNED_PAYLOAD) != 0) {
        if (strlen(ph) != 64 || strspn(ph, "0123456789abcdef") != 64)
            rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                               "x-amz-content-sha256 \"%.80s\" is neither a lower-case hex "
                               "SHA-256, UNSIGNED-PAYLOAD nor a STREAMING- mode",
                               ph);
        else {
            memcpy(b->sha256_hex, ph, 65);
            b->want_sha256 = 1;
            rc = jcs_s3sum_init(&b->sha256, JCS_S3SUM_SHA256);
        }
    }
    /* A checksum given in a header (not for trailers: the chunk decoder verifies those). */
    const char *trailer = header(harg, "x-amz-trailer");
    for (int alg = JCS_S3SUM_CRC32; !rc && alg <= JCS_S3SUM_SHA256; alg++) {
        const char *v = header(harg, jcs_s3sum_header(alg));
        if (!v)
            continue;
        if (b->sum_alg)
            rc = jcs_s3err_set(JCS_S3E_InvalidRequest,
                               "Expecting a single x-amz-checksum- header. Multiple checksum "
                               "Types are not allowed.");
        else if (strlen(v) >= sizeof b->sum_given)
            rc = jcs_s3err_set(JCS_S3E_InvalidRequest, "Value for %s header is invalid.",
                               jcs_s3sum_header(alg));
        else {
            b->sum_alg = alg;
            snprintf(b->sum_given, sizeof b->sum_given, "%s", v);
        }
    }
    if (!rc && !b->sum_alg && !trailer) {
        const char *a = header(harg, "x-amz-sdk-checksum-algorithm");
        if (a && !(b->sum_alg = jcs_s3sum_alg_parse(a)))
            rc = jcs_s3err_set(JCS_S3E_InvalidRequest,
                               "x-amz-sdk-checksum-algorithm \"%.40s\" is not supported", a);
    }
    if (!rc && b->sum_alg)
        rc = jcs_s3sum_init(&b->sum, b->sum_alg);
    uint64_t cl = parse_u64(header(harg, "content-length"));
    if (!rc && mode) {
        const char *ce = header(harg, "content-encoding");
        (void)ce; /* "aws-chunked" is usual but optional: the payload mode decides. */
        uint64_t dl = parse_u64(header(harg, "x-amz-decoded-content-length"));
        if (dl == UINT64_MAX - 1)
            rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                               "x-amz-decoded-content-length is not a number");
        else if (dl == UINT64_MAX && mode == JCS_S3CHUNK_SIGNED)
            rc = jcs_s3err_set(JCS_S3E_MissingContentLength,
                               "x-amz-decoded-content-length is required with "
                               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
        else {
            b->expected = dl;
            rc = jcs_s3chunk_new(mode, auth, trailer, dl == UINT64_MAX ? JCS_S3CHUNK_UNKNOWN : dl,
                                 sink, b, &b->chunk);
        }
    } else if (!rc) {
        if (trailer)
            rc = jcs_s3err_set(JCS_S3E_InvalidRequest,
                               "x-amz-trailer needs an aws-chunked body "
                               "(x-amz-content-sha256: STREAMING-...-TRAILER)");
        b->expected = cl == UINT64_MAX - 1 ? UINT64_MAX : cl;
    }
    if (rc) {
        jcs_s3body_free(b);
        return rc;
    }
    *body = b;
    return JCS_OK;
}

int jcs_s3body_feed(jcs_s3body *b, const void *p, size_t n)
{
    if (b->chunk)
        return jcs_s3chunk_feed(b->chunk, p, n);
    return sink(b, p, n);
}

int jcs_s3body_finish(jcs_s3body *b)
{
    int rc = JCS_OK;
    if (b->chunk && (rc = jcs_s3chunk_finish(b->chunk)) != 0)
        return rc;
    if (!b->md5_elsewhere) {
        unsigned char md[32];
        if ((rc = jcs_s3sum_final(&b->md5, md)) != 0)
            return rc;
        if ((rc = jcs_s3body_check_md5(b, md)) != 0)
            return rc;
    }
    if (b->want_sha256) {
        unsigned char d[32];
        char hx[65];
        if ((rc = jcs_s3sum_final(&b->sha256, d)) != 0)
            return rc;
        jcs_s3sum_hex(d, 32, hx);
        if (strcmp(hx, b->sha256_hex) != 0)
            return jcs_s3err_set(JCS_S3E_XAmzContentSHA256Mismatch,
                                 "The provided 'x-amz-content-sha256' header does not match "
                                 "what was computed.");
    }
    if (b->sum_alg) {
        if ((rc = jcs_s3sum_final_b64(&b->sum, b->sum_b64)) != 0)
            return rc;
        if (b->sum_given[0] && strcmp(b->sum_given, b->sum_b64) != 0)
            return jcs_s3err_set(JCS_S3E_BadDigest,
                                 "The %s you specified did not match the calculated checksum.",
                                 jcs_s3sum_header(b->sum_alg));
    }
    b->finished = 1;
    return JCS_OK;
}

void jcs_s3body_md5_elsewhere(jcs_s3body *b)
{
    b->md5_elsewhere = 1;
}

int jcs_s3body_check_md5(jcs_s3body *b, const unsigned char md5[16])
{
    memcpy(b->md5_raw, md5, 16);
    jcs_s3sum_hex(b->md5_raw, 16, b->md5_hex);
    int bad = 0;
    for (size_t i = 0; b->want_md5 && i < b->nmd5; i++)
        bad |= memcmp(b->md5_raw, b->content_md5[i], 16) != 0;
    if (bad)
        return jcs_s3err_set(JCS_S3E_BadDigest,
                             "The Content-MD5 you specified did not match what we received.");
    return JCS_OK;
}

uint64_t jcs_s3body_size(const jcs_s3body *b)
{
    return b->size;
}

const char *jcs_s3body_md5_hex(const jcs_s3body *b)
{
    return b->md5_hex;
}

const unsigned char *jcs_s3body_md5(const jcs_s3body *b)
{
    return b->md5_raw;
}

int jcs_s3body_checksum(const jcs_s3body *b, const char **b64)
{
    *b64 = NULL;
    if (!b->finished)
        return JCS_S3SUM_NONE;
    if (b->sum_alg) {
        *b64 = b->sum_b64;
        return b->sum_alg;
    }
    if (b->chunk)
        return jcs_s3chunk_checksum(b->chunk, b64);
    return JCS_S3SUM_NONE;
}

int jcs_s3body_chunked(const jcs_s3body *b)
{
    return b->chunk != NULL;
}

uint64_t jcs_s3body_expected(const jcs_s3body *b)
{
    return b->expected;
}

void jcs_s3body_free(jcs_s3body *b)
{
    if (!b)
        return;
    jcs_s3chunk_free(b->chunk);
    jcs_s3sum_free(&b->md5);
    jcs_s3sum_free(&b->sha256);
    jcs_s3sum_free(&b->sum);
    jcs_free(b);
}
