/*
 * test_s3chunk.c - the aws-chunked decoder and the checked body
 * (client/s3/s3chunk.c, s3body.c) and the checksums (s3sum.c): AWS's
 * published chunked upload (every chunk signature), trailers with
 * checksums, fed in every split, and the refusals a user would meet:
 * a wrong chunk signature, a wrong checksum (BadDigest), a body shorter
 * than declared (IncompleteBody), a missing trailer.
 */
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "buf.h"
#include "s3auth.h"
#include "s3body.h"
#include "s3chunk.h"
#include "s3err.h"
#include "s3sum.h"
#include "sigv4.h"
#include "t.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static int collect(void *arg, const void *p, size_t n)
{
    return jcs_buf_append(arg, p, n);
}

static int take(int rc)
{
    return rc ? jcs_s3err_take(rc) : 0;
}

/* The auth of AWS's chunked upload example. */
static void doc_auth(jcs_s3auth *a)
{
    memset(a, 0, sizeof *a);
    strcpy(a->amz_date, "20130524T000000Z");
    strcpy(a->scope, "20130524/us-east-1/s3/aws4_request");
    strcpy(a->signature, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    strcpy(a->payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    jcs_sigv4_signing_key(SK, "20130524", "us-east-1", "s3", a->signing_key);
}

/* The example's body: 64 KiB of 'a', then 1 KiB of 'a', then the final chunk. */
static void doc_body(jcs_buf *b, const char *sig1, const char *sig2, const char *sig3)
{
    char *a = jcs_malloc(65536);
    memset(a, 'a', 65536);
    T_OK(jcs_buf_printf(b, "10000;chunk-signature=%s\r\n", sig1));
    T_OK(jcs_buf_append(b, a, 65536));
    T_OK(jcs_buf_printf(b, "\r\n400;chunk-signature=%s\r\n", sig2));
    T_OK(jcs_buf_append(b, a, 1024));
    T_OK(jcs_buf_printf(b, "\r\n0;chunk-signature=%s\r\n\r\n", sig3));
    jcs_free(a);
}

#define SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

/* Decodes body fed in pieces of step bytes; returns the first failure. */
static int decode(int mode, const jcs_s3auth *a, const char *trailer, uint64_t dlen,
                  const jcs_buf *body, size_t step, jcs_buf *out)
{
    jcs_s3chunk *d;
    int rc = jcs_s3chunk_new(mode, a, trailer, dlen, collect, out, &d);
    if (rc)
        return rc;
    for (size_t i = 0; i < body->len && !rc; i += step)
        rc = jcs_s3chunk_feed(d, body->data + i, body->len - i < step ? body->len - i : step);
    if (!rc)
        rc = jcs_s3chunk_finish(d);
    jcs_s3chunk_free(d);
    return rc;
}

TEST(aws_doc_signed_chunks_in_every_split)
{
    jcs_s3auth a;
    doc_auth(&a);
    jcs_buf body;
    jcs_buf_init(&body, 1 << 20);
    doc_body(&body, SIG1, SIG2, SIG3);
    T_EQ_INT(body.len, 66824); /* the example's Content-Length */
    size_t steps[] = {1, 2, 7, 85, 4096, 65536, 1 << 20};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        jcs_buf out;
        jcs_buf_init(&out, 1 << 20);
        T_OK(decode(JCS_S3CHUNK_SIGNED, &a, NULL, 66560, &body, steps[s], &out));
        T_EQ_INT(out.len, 66560);
        for (size_t i = 0; i < out.len; i++)
            T_ASSERT(out.data[i] == 'a', "(byte %zu, step %zu)", i, steps[s]);
        jcs_buf_clear(&out);
    }
    jcs_buf_clear(&body);
}

TEST(wrong_chunk_signature_or_length_is_refused)
{
    jcs_s3auth a;
    doc_auth(&a);
    jcs_buf body, out;
    jcs_buf_init(&body, 1 << 20);
    jcs_buf_init(&out, 1 << 20);
    /* Second chunk's signature altered. */
    doc_body(&body, SIG1, "1055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497", SIG3);
    T_EQ_INT(take(decode(JCS_S3CHUNK_SIGNED, &a, NULL, 66560, &body, 1000, &out)),
             JCS_S3E_SignatureDoesNotMatch);
    /* Chunks swapped cannot verify either (the chain). */
    jcs_buf_reset(&body);
    jcs_buf_reset(&out);
    doc_body(&body, SIG2, SIG1, SIG3);
    T_EQ_INT(take(decode(JCS_S3CHUNK_SIGNED, &a, NULL, 66560, &body, 1000, &out)),
             JCS_S3E_SignatureDoesNotMatch);
    /* Body cut before the final chunk: IncompleteBody. */
    jcs_buf_reset(&body);
    jcs_buf_reset(&out);
    doc_body(&body, SIG1, SIG2, SIG3);
    body.len = 65536 + 100;
    T_EQ_INT(take(decode(JCS_S3CHUNK_SIGNED, &a, NULL, 66560, &body, 1000, &out)),
             JCS_S3E_IncompleteBody);
    /* Declared decoded length larger than what came. */
    jcs_buf_reset(&body);
    jcs_buf_reset(&out);
    doc_body(&body, SIG1, SIG2, SIG3);
    T_EQ_INT(take(decode(JCS_S3CHUNK_SIGNED, &a, NULL, 70000, &body, 1000, &out)),
             JCS_S3E_IncompleteBody);
    /* No signature on a chunk in signed mode. */
    jcs_buf_reset(&body);
    T_OK(jcs_buf_printf(&body, "3\r\nabc\r\n0\r\n\r\n"));
    T_EQ_INT(take(decode(JCS_S3CHUNK_SIGNED, &a, NULL, 3, &body, 1000, &out)),
             JCS_S3E_SignatureDoesNotMatch);
    jcs_buf_clear(&body);
    jcs_buf_clear(&out);
}

TEST(unsigned_trailer_checksums)
{
    struct {
        const char *trailer, *value;
    } cases[] = {
        {"x-amz-checksum-crc32", "y/Q5Jg=="},
        {"x-amz-checksum-crc32c", "4waSgw=="},
        {"x-amz-checksum-crc64nvme", "rosUhgp5mIg="},
        {"x-amz-checksum-sha256", "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="},
        {"x-amz-checksum-sha1", "98O8HYCOBHMq32eZZczDTKeuNEE="},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        jcs_buf body, out;
        jcs_buf_init(&body, 4096);
        jcs_buf_init(&out, 4096);
        /* "123456789" in two chunks, as botocore frames it. */
        T_OK(jcs_buf_printf(&body, "4\r\n1234\r\n5\r\n56789\r\n0\r\n%s:%s\r\n\r\n",
                            cases[c].trailer, cases[c].value));
        for (size_t step = 1; step <= body.len; step += 5) {
            jcs_buf_reset(&out);
            T_OK(
                decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, cases[c].trailer, 9, &body, step, &out));
            T_EQ_INT(out.len, 9);
            T_ASSERT(memcmp(out.data, "123456789", 9) == 0, "(%s)", cases[c].trailer);
        }
        /* One wrong digit: BadDigest, and the detail names the header. */
        jcs_buf_reset(&body);
        jcs_buf_reset(&out);
        T_OK(jcs_buf_printf(&body, "9\r\n123456780\r\n0\r\n%s:%s\r\n\r\n", cases[c].trailer,
                            cases[c].value));
        T_EQ_INT(
            take(decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, cases[c].trailer, 9, &body, 3, &out)),
            JCS_S3E_BadDigest);
        T_ASSERT(strstr(jcs_err_msg(JCS_ECORRUPT), cases[c].trailer) != NULL);
        jcs_buf_clear(&body);
        jcs_buf_clear(&out);
    }
}

TEST(trailer_edge_cases)
{
    jcs_buf body, out;
    jcs_buf_init(&body, 65536);
    jcs_buf_init(&out, 4096);
    /* Announced trailer missing. */
    T_OK(jcs_buf_printf(&body, "9\r\n123456789\r\n0\r\n\r\n"));
    T_EQ_INT(
        take(decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32", 9, &body, 4, &out)),
        JCS_S3E_MalformedTrailerError);
    /* A trailer that was not announced. */
    jcs_buf_reset(&body);
    jcs_buf_reset(&out);
    T_OK(jcs_buf_printf(&body, "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n"));
    T_EQ_INT(take(decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, NULL, 9, &body, 4, &out)),
             JCS_S3E_MalformedTrailerError);
    /* Body ends inside the trailer. */
    jcs_buf_reset(&out);
    body.len -= 2;
    T_EQ_INT(
        take(decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32", 9, &body, 4, &out)),
        JCS_S3E_IncompleteBody);
    /* Body shorter than x-amz-decoded-content-length. */
    jcs_buf_reset(&body);
    jcs_buf_reset(&out);
    T_OK(jcs_buf_printf(&body, "4\r\n1234\r\n0\r\nx-amz-checksum-crc32:m+Pgow==\r\n\r\n"));
    T_EQ_INT(
        take(decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, "x-amz-checksum-crc32", 9, &body, 4, &out)),
        JCS_S3E_IncompleteBody);
    /* A chunk longer than its size line. */
    jcs_buf_reset(&body);
    jcs_buf_reset(&out);
    T_OK(jcs_buf_printf(&body, "4\r\n12345\r\n0\r\n\r\n"));
    T_EQ_INT(
        take(decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, NULL, JCS_S3CHUNK_UNKNOWN, &body, 4, &out)),
        JCS_S3E_IncompleteBody);
    /* An endless size line is cut at the line cap. */
    jcs_buf_reset(&body);
    for (int i = 0; i < 5000; i++)
        T_OK(jcs_buf_append(&body, "0", 1));
    T_ASSERT(take(decode(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, NULL, JCS_S3CHUNK_UNKNOWN, &body, 100,
                         &out)) != 0);
    /* Unknown trailer names are refused up front. */
    jcs_s3chunk *d;
    T_EQ_INT(take(jcs_s3chunk_new(JCS_S3CHUNK_UNSIGNED_TRAILER, NULL, "x-amz-foo", 9, collect, &out,
                                  &d)),
             JCS_S3E_InvalidArgument);
    jcs_buf_clear(&body);
    jcs_buf_clear(&out);
}

/* Signs a trailer-mode body the way the SDKs do and checks the decoder accepts it. */
TEST(signed_chunks_with_signed_trailer)
{
    jcs_s3auth a;
    doc_auth(&a);
    strcpy(a.payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
    char prev[65], sig[65], hx[65], sts[600];
    strcpy(prev, a.signature);
    jcs_buf body, out;
    jcs_buf_init(&body, 4096);
    jcs_buf_init(&out, 4096);
    const char *chunks[] = {"123456789", ""};
    for (int i = 0; i < 2; i++) {
        jcs_sigv4_sha256_hex(chunks[i], strlen(chunks[i]), hx);
        snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", a.amz_date,
                 a.scope, prev, JCS_SIGV4_EMPTY_SHA256, hx);
        jcs_sigv4_hmac_hex(a.signing_key, sts, strlen(sts), sig);
        T_OK(jcs_buf_printf(&body, "%zx;chunk-signature=%s\r\n%s%s", strlen(chunks[i]), sig,
                            chunks[i], i == 0 ? "\r\n" : ""));
        strcpy(prev, sig);
    }
    const char *tl = "x-amz-checksum-crc32:y/Q5Jg==\n";
    jcs_sigv4_sha256_hex(tl, strlen(tl), hx);
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", a.amz_date, a.scope, prev,
             hx);
    jcs_sigv4_hmac_hex(a.signing_key, sts, strlen(sts), sig);
    T_OK(jcs_buf_printf(
        &body, "x-amz-checksum-crc32:y/Q5Jg==\r\nx-amz-trailer-signature:%s\r\n\r\n", sig));
    T_OK(decode(JCS_S3CHUNK_SIGNED_TRAILER, &a, "x-amz-checksum-crc32", 9, &body, 3, &out));
    T_EQ_INT(out.len, 9);
    /* A wrong trailer signature. */
    jcs_buf_reset(&out);
    char *p = strstr(body.data, "trailer-signature:") + 18;
    *p = *p == '0' ? '1' : '0';
    T_EQ_INT(
        take(decode(JCS_S3CHUNK_SIGNED_TRAILER, &a, "x-amz-checksum-crc32", 9, &body, 3, &out)),
        JCS_S3E_SignatureDoesNotMatch);
    jcs_buf_clear(&body);
    jcs_buf_clear(&out);
}

typedef struct hdrs {
    const char *kv[32];
} hdrs;

static const char *hget(void *arg, const char *name)
{
    hdrs *h = arg;
    for (int i = 0; h->kv[i]; i += 2)
        if (strcasecmp(h->kv[i], name) == 0)
            return h->kv[i + 1];
    return NULL;
}

static int body_run(jcs_s3auth *a, hdrs *h, const char *data, size_t n, jcs_buf *out, char md5[33],
                    char sum[64])
{
    jcs_s3body *b;
    int rc = jcs_s3body_new(a, hget, h, collect, out, &b);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i += 3)
        rc = jcs_s3body_feed(b, data + i, n - i < 3 ? n - i : 3);
    if (!rc)
        rc = jcs_s3body_finish(b);
    if (!rc) {
        strcpy(md5, jcs_s3body_md5_hex(b));
        const char *v;
        int alg = jcs_s3body_checksum(b, &v);
        snprintf(sum, 64, "%s:%s", jcs_s3sum_alg_name(alg), v ? v : "");
    }
    jcs_s3body_free(b);
    return rc;
}

TEST(body_md5_content_md5_sha256_and_header_checksums)
{
    jcs_s3auth a;
    memset(&a, 0, sizeof a);
    jcs_buf out;
    jcs_buf_init(&out, 4096);
    char md5[33], sum[64];
    /* UNSIGNED-PAYLOAD with a CRC32 header. */
    strcpy(a.payload_hash, "UNSIGNED-PAYLOAD");
    hdrs h = {
        {"content-md5", "JfnnlDI7RTiF9RgfG2JNCw==", "x-amz-checksum-crc32", "y/Q5Jg==", NULL}};
    T_OK(body_run(&a, &h, "123456789", 9, &out, md5, sum));
    T_EQ_STR(md5, "25f9e794323b453885f5181f1b624d0b");
    T_EQ_STR(sum, "crc32:y/Q5Jg==");
    /* Content-MD5 of other bytes: BadDigest; malformed: InvalidDigest. */
    h.kv[1] = "JfnnlDI7RTiF9RgfG2JNCA==";
    T_EQ_INT(take(body_run(&a, &h, "123456789", 9, &out, md5, sum)), JCS_S3E_BadDigest);
    h.kv[1] = "not base64!";
    T_EQ_INT(take(body_run(&a, &h, "123456789", 9, &out, md5, sum)), JCS_S3E_InvalidDigest);
    /* Wrong CRC32 header. */
    h.kv[1] = "JfnnlDI7RTiF9RgfG2JNCw==";
    h.kv[3] = "y/Q5Jh==";
    T_EQ_INT(take(body_run(&a, &h, "123456789", 9, &out, md5, sum)), JCS_S3E_BadDigest);
    /* A signed payload hash that does not match. */
    hdrs h2 = {{NULL}};
    strcpy(a.payload_hash, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225");
    T_OK(body_run(&a, &h2, "123456789", 9, &out, md5, sum));
    T_EQ_INT(take(body_run(&a, &h2, "123456780", 9, &out, md5, sum)),
             JCS_S3E_XAmzContentSHA256Mismatch);
    /* Only the algorithm named: the gateway computes the value to store it. */
    strcpy(a.payload_hash, "UNSIGNED-PAYLOAD");
    hdrs h3 = {{"x-amz-sdk-checksum-algorithm", "CRC32C", NULL}};
    T_OK(body_run(&a, &h3, "123456789", 9, &out, md5, sum));
    T_EQ_STR(sum, "crc32c:4waSgw==");
    /* aws-chunked with an unsigned trailer through the body: framing stays out. */
    strcpy(a.payload_hash, "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    hdrs h4 = {
        {"x-amz-trailer", "x-amz-checksum-crc32", "x-amz-decoded-content-length", "9", NULL}};
    jcs_buf_reset(&out);
    const char *framed = "9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:y/Q5Jg==\r\n\r\n";
    T_OK(body_run(&a, &h4, framed, strlen(framed), &out, md5, sum));
    T_EQ_INT(out.len, 9);
    T_ASSERT(memcmp(out.data, "123456789", 9) == 0);
    T_EQ_STR(md5, "25f9e794323b453885f5181f1b624d0b");
    T_EQ_STR(sum, "crc32:y/Q5Jg==");
    jcs_buf_clear(&out);
}

TEST(base64_round_trip_and_refusals)
{
    unsigned char in[40], back[40];
    char b64[64];
    for (size_t n = 0; n < 40; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(i * 37 + n);
        jcs_s3sum_b64(in, n, b64);
        size_t m;
        T_OK(jcs_s3sum_unb64(b64, back, sizeof back, &m));
        T_EQ_INT(m, n);
        T_ASSERT(memcmp(in, back, n) == 0);
    }
    size_t m;
    T_ASSERT(jcs_s3sum_unb64("abc", back, 40, &m) == JCS_EINVAL);
    T_ASSERT(jcs_s3sum_unb64("a=bc", back, 40, &m) == JCS_EINVAL);
    T_ASSERT(jcs_s3sum_unb64("ab!c", back, 40, &m) == JCS_EINVAL);
    T_ASSERT(jcs_s3sum_unb64("AAAAAAAA", back, 5, &m) == JCS_EINVAL);
}

TEST(md5_computed_by_the_consumer_is_checked_against_content_md5)
{
    jcs_s3auth a;
    memset(&a, 0, sizeof a);
    strcpy(a.payload_hash, "UNSIGNED-PAYLOAD");
    hdrs h = {{"content-md5", "JfnnlDI7RTiF9RgfG2JNCw==", NULL}};
    jcs_buf out;
    jcs_buf_init(&out, 4096);
    jcs_s3body *b;
    T_OK(jcs_s3body_new(&a, hget, &h, collect, &out, &b));
    jcs_s3body_md5_elsewhere(b);
    T_OK(jcs_s3body_feed(b, "123456789", 9));
    T_OK(jcs_s3body_finish(b));
    unsigned char good[16], bad[16];
    size_t n;
    T_OK(jcs_s3sum_unb64("JfnnlDI7RTiF9RgfG2JNCw==", good, 16, &n));
    memcpy(bad, good, 16);
    bad[0] ^= 1;
    T_EQ_INT(take(jcs_s3body_check_md5(b, bad)), JCS_S3E_BadDigest);
    T_OK(jcs_s3body_check_md5(b, good));
    T_EQ_STR(jcs_s3body_md5_hex(b), "25f9e794323b453885f5181f1b624d0b");
    jcs_s3body_free(b);
    jcs_buf_clear(&out);
}
