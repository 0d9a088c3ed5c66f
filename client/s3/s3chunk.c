/*
 * client/s3/s3chunk.c - aws-chunked decoding (s3chunk.h).
 */
#include "s3chunk.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "alloc.h"
#include "s3err.h"
#include "sigv4.h"

enum state { ST_HEADER, ST_DATA, ST_DATA_CR, ST_DATA_LF, ST_TRAILER, ST_DONE, ST_FAILED };

struct jcs_s3chunk {
    int mode;
    jcs_s3auth auth;
    char prev_sig[65];
    jcs_s3chunk_out_fn out;
    void *arg;
    enum state st;
    char line[JCS_S3CHUNK_LINE_MAX + 1];
    size_t linelen;
    uint64_t remaining; /* data bytes left in the current chunk */
    int final;          /* the current chunk is the 0-size one */
    char chunk_sig[65];
    jcs_s3sum chunk_hash; /* SHA-256 of the current chunk (signed modes) */
    uint64_t decoded, decoded_len;
    int trailer_alg; /* announced checksum trailer */
    jcs_s3sum sum;
    char trailer_b64[JCS_S3SUM_B64_SIZE + 8];
    int trailer_seen;
    char trailer_text[JCS_S3CHUNK_TRAILER_MAX + 1]; /* "name:value\n" lines for the signature */
    size_t trailer_len;
    int trailer_sig_seen;
};

int jcs_s3chunk_mode(const char *v)
{
    if (!v)
        return 0;
    if (strcmp(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0)
        return JCS_S3CHUNK_SIGNED;
    if (strcmp(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0)
        return JCS_S3CHUNK_SIGNED_TRAILER;
    if (strcmp(v, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0)
        return JCS_S3CHUNK_UNSIGNED_TRAILER;
    return 0;
}

static int is_signed(const jcs_s3chunk *d)
{
    return d->mode != JCS_S3CHUNK_UNSIGNED_TRAILER;
}

int jcs_s3chunk_new(int mode, const jcs_s3auth *auth, const char *trailer, uint64_t decoded_len,
                    jcs_s3chunk_out_fn out, void *arg, jcs_s3chunk **dec)
{
    *dec = NULL;
    if (mode < JCS_S3CHUNK_SIGNED || mode > JCS_S3CHUNK_UNSIGNED_TRAILER)
        return jcs_s3err_set(JCS_S3E_InvalidArgument, "unknown aws-chunked mode %d", mode);
    if (mode != JCS_S3CHUNK_UNSIGNED_TRAILER && !auth)
        return jcs_s3err_set(JCS_S3E_InvalidRequest, "signed chunks need a signed request");
    int alg = JCS_S3SUM_NONE;
    if (trailer && *trailer) {
        if (mode == JCS_S3CHUNK_SIGNED)
            return jcs_s3err_set(JCS_S3E_InvalidRequest,
                                 "x-amz-trailer needs a -TRAILER payload mode");
        /* One trailer: a checksum (the only kind S3 defines). */
        char t[64];
        snprintf(t, sizeof t, "%s", trailer);
        char *e = t + strlen(t);
        while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        const char *b = t;
        while (*b == ' ')
            b++;
        alg = jcs_s3sum_alg_parse(b);
        if (!alg || strncasecmp(b, "x-amz-checksum-", 15) != 0)
            return jcs_s3err_set(JCS_S3E_InvalidArgument,
                                 "x-amz-trailer \"%.60s\" is not a supported x-amz-checksum-* "
                                 "name",
                                 trailer);
    }
    jcs_s3chunk *d = jcs_calloc(1, sizeof *d);
    if (!d)
        return jcs_err_set(JCS_ENOMEM, "aws-chunked: out of memory");
    d->mode = mode;
    if (auth) {
        d->auth = *auth;
        memcpy(d->prev_sig, auth->signature, 65);
    }
    d->out = out;
    d->arg = arg;
    d->decoded_len = decoded_len;
    d->trailer_alg = alg;
    int rc = alg ? jcs_s3sum_init(&d->sum, alg) : 0;
    if (rc) {
        jcs_free(d);
        return rc;
    }
    *dec = d;
    return JCS_OK;
}

static int fail(jcs_s3chunk *d, int code, const char *fmt, const char *a)
{
    d->st = ST_FAILED;
    return jcs_s3err_set(code, fmt, a);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "HEX[;chunk-signature=SIG][;ext...]" */
static int parse_header(jcs_s3chunk *d)
{
    const char *l = d->line;
    uint64_t size = 0;
    size_t i = 0;
    for (; l[i] && hexval(l[i]) >= 0; i++) {
        if (i >= 16)
            return fail(d, JCS_S3E_InvalidArgument, "aws-chunked: chunk size \"%.40s\" too large",
                        l);
        size = size * 16 + (uint64_t)hexval(l[i]);
    }
    if (i == 0)
        return fail(d, JCS_S3E_IncompleteBody, "aws-chunked: malformed chunk header \"%.80s\"", l);
    d->chunk_sig[0] = '\0';
    const char *ext = l + i;
    while (*ext == ' ')
        ext++;
    if (*ext && *ext != ';')
        return fail(d, JCS_S3E_IncompleteBody, "aws-chunked: malformed chunk header \"%.80s\"", l);
    const char *cs = strstr(ext, "chunk-signature=");
    if (is_signed(d)) {
        if (!cs || strlen(cs + 16) < 64 || (cs[16 + 64] && cs[16 + 64] != ';'))
            return fail(d, JCS_S3E_SignatureDoesNotMatch,
                        "aws-chunked: chunk header \"%.120s\" has no 64-digit chunk-signature", l);
        memcpy(d->chunk_sig, cs + 16, 64);
        d->chunk_sig[64] = '\0';
        int rc = jcs_s3sum_init(&d->chunk_hash, JCS_S3SUM_SHA256);
        if (rc) {
            d->st = ST_FAILED;
            return rc;
        }
    }
    d->remaining = size;
    d->final = size == 0;
    if (d->decoded_len != JCS_S3CHUNK_UNKNOWN && d->decoded + size > d->decoded_len)
        return fail(d, JCS_S3E_InvalidArgument,
                    "aws-chunked: the chunks hold more than x-amz-decoded-content-length%s", "");
    return JCS_OK;
}

static int verify_chunk(jcs_s3chunk *d)
{
    if (!is_signed(d))
        return JCS_OK;
    unsigned char h[32];
    char hx[65];
    int rc = jcs_s3sum_final(&d->chunk_hash, h);
    if (rc) {
        d->st = ST_FAILED;
        return rc;
    }
    jcs_s3sum_hex(h, 32, hx);
    char sts[512];
    int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s",
                     d->auth.amz_date, d->auth.scope, d->prev_sig, JCS_SIGV4_EMPTY_SHA256, hx);
    char sig[65];
    jcs_sigv4_hmac_hex(d->auth.signing_key, sts, (size_t)n, sig);
    if (CRYPTO_memcmp(sig, d->chunk_sig, 64) != 0)
        return fail(d, JCS_S3E_SignatureDoesNotMatch,
                    "aws-chunked: the signature of a chunk does not match%s", "");
    memcpy(d->prev_sig, sig, 65);
    return JCS_OK;
}

static int trailer_line(jcs_s3chunk *d)
{
    const char *l = d->line;
    const char *colon = strchr(l, ':');
    if (!colon)
        return fail(d, JCS_S3E_MalformedTrailerError,
                    "aws-chunked: trailer line \"%.80s\" has no ':'", l);
    size_t nl = (size_t)(colon - l);
    const char *v = colon + 1;
    while (*v == ' ')
        v++;
    if (nl == 23 && strncasecmp(l, "x-amz-trailer-signature", 23) == 0) {
        if (d->mode != JCS_S3CHUNK_SIGNED_TRAILER)
            return JCS_OK; /* ignored when nothing is signed */
        char hx[65], sig[65];
        jcs_sigv4_sha256_hex(d->trailer_text, d->trailer_len, hx);
        char sts[512];
        int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s",
                         d->auth.amz_date, d->auth.scope, d->prev_sig, hx);
        jcs_sigv4_hmac_hex(d->auth.signing_key, sts, (size_t)n, sig);
        if (strlen(v) < 64 || CRYPTO_memcmp(sig, v, 64) != 0)
            return fail(d, JCS_S3E_SignatureDoesNotMatch,
                        "aws-chunked: the trailer signature does not match%s", "");
        d->trailer_sig_seen = 1;
        return JCS_OK;
    }
    /* The signed trailer text is "name:value\n" per line. */
    size_t ll = strlen(l);
    if (d->trailer_len + ll + 1 > JCS_S3CHUNK_TRAILER_MAX)
        return fail(d, JCS_S3E_MalformedTrailerError, "aws-chunked: trailer over %s bytes",
                    "16384");
    memcpy(d->trailer_text + d->trailer_len, l, ll);
    d->trailer_text[d->trailer_len + ll] = '\n';
    d->trailer_len += ll + 1;

    int alg = 0;
    char name[64];
    if (nl < sizeof name) {
        memcpy(name, l, nl);
        name[nl] = '\0';
        alg = strncasecmp(name, "x-amz-checksum-", 15) == 0 ? jcs_s3sum_alg_parse(name) : 0;
    }
    if (!alg || alg != d->trailer_alg)
        return fail(d, JCS_S3E_MalformedTrailerError,
                    "aws-chunked: trailer \"%.80s\" was not announced in x-amz-trailer", l);
    if (d->trailer_seen)
        return fail(d, JCS_S3E_MalformedTrailerError, "aws-chunked: trailer \"%.80s\" repeated", l);
    char vv[JCS_S3SUM_B64_SIZE + 8];
    snprintf(vv, sizeof vv, "%s", v);
    char *e = vv + strlen(vv);
    while (e > vv && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    char mine[JCS_S3SUM_B64_SIZE];
    int rc = jcs_s3sum_final_b64(&d->sum, mine);
    if (rc) {
        d->st = ST_FAILED;
        return rc;
    }
    if (strcmp(mine, vv) != 0) {
        d->st = ST_FAILED;
        return jcs_s3err_set(JCS_S3E_BadDigest,
                             "The %s you specified did not match the calculated checksum.",
                             jcs_s3sum_header(alg));
    }
    snprintf(d->trailer_b64, sizeof d->trailer_b64, "%s", mine);
    d->trailer_seen = 1;
    return JCS_OK;
}

static int end_of_trailer(jcs_s3chunk *d)
{
    if (d->trailer_alg && !d->trailer_seen)
        return fail(d, JCS_S3E_MalformedTrailerError,
                    "aws-chunked: the trailer %s announced in x-amz-trailer is missing",
                    jcs_s3sum_header(d->trailer_alg));
    if (d->mode == JCS_S3CHUNK_SIGNED_TRAILER && d->trailer_len && !d->trailer_sig_seen)
        return fail(d, JCS_S3E_SignatureDoesNotMatch,
                    "aws-chunked: the trailer has no x-amz-trailer-signature%s", "");
    d->st = ST_DONE;
    return JCS_OK;
}

int jcs_s3chunk_feed(jcs_s3chunk *d, const void *p, size_t n)
{
    const char *b = p;
    size_t i = 0;
    int rc = JCS_OK;
    while (i < n && !rc) {
        switch (d->st) {
        case ST_HEADER:
        case ST_TRAILER: {
            char c = b[i++];
            if (c == '\n') {
                if (d->linelen == 0 || d->line[d->linelen - 1] != '\r')
                    return fail(d, JCS_S3E_IncompleteBody,
                                "aws-chunked: a line ends without CRLF%s", "");
                d->line[--d->linelen] = '\0';
                size_t len = d->linelen;
                d->linelen = 0;
                if (d->st == ST_HEADER) {
                    if ((rc = parse_header(d)) != 0)
                        return rc;
                    if (d->final) {
                        if ((rc = verify_chunk(d)) != 0)
                            return rc;
                        if (d->mode == JCS_S3CHUNK_SIGNED)
                            d->st = ST_DATA_CR; /* "0;sig\r\n\r\n" */
                        else
                            d->st = ST_TRAILER;
                    } else {
                        d->st = ST_DATA;
                    }
                } else if (len == 0) {
                    rc = end_of_trailer(d);
                } else {
                    rc = trailer_line(d);
                }
                break;
            }
            if (c == '\0')
                return fail(d, JCS_S3E_IncompleteBody, "aws-chunked: NUL byte in a %s line",
                            d->st == ST_HEADER ? "chunk header" : "trailer");
            if (d->linelen >= JCS_S3CHUNK_LINE_MAX)
                return fail(d, JCS_S3E_IncompleteBody,
                            "aws-chunked: a %s line is longer than 4096 bytes",
                            d->st == ST_HEADER ? "chunk header" : "trailer");
            d->line[d->linelen++] = c;
            break;
        }
        case ST_DATA: {
            size_t k = n - i;
            if (k > d->remaining)
                k = (size_t)d->remaining;
            if (is_signed(d))
                jcs_s3sum_update(&d->chunk_hash, b + i, k);
            if (d->trailer_alg)
                jcs_s3sum_update(&d->sum, b + i, k);
            d->decoded += k;
            d->remaining -= k;
            if (k && (rc = d->out(d->arg, b + i, k)) != 0) {
                d->st = ST_FAILED;
                return rc;
            }
            i += k;
            if (d->remaining == 0)
                d->st = ST_DATA_CR;
            break;
        }
        case ST_DATA_CR:
            if (b[i++] != '\r')
                return fail(d, JCS_S3E_IncompleteBody,
                            "aws-chunked: a chunk is longer than its declared size%s", "");
            d->st = ST_DATA_LF;
            break;
        case ST_DATA_LF:
            if (b[i++] != '\n')
                return fail(d, JCS_S3E_IncompleteBody,
                            "aws-chunked: a chunk is longer than its declared size%s", "");
            if (d->final) {
                /* Only the plain signed mode gets here: its final chunk closes the body. */
                rc = end_of_trailer(d);
            } else {
                rc = verify_chunk(d);
                d->st = rc ? ST_FAILED : ST_HEADER;
            }
            break;
        case ST_DONE:
            return fail(d, JCS_S3E_InvalidRequest, "aws-chunked: bytes after the final chunk%s",
                        "");
        case ST_FAILED:
            return jcs_s3err_set(JCS_S3E_InvalidRequest, "aws-chunked: the body already failed");
        }
    }
    return rc;
}

int jcs_s3chunk_finish(jcs_s3chunk *d)
{
    if (d->st == ST_FAILED)
        return jcs_s3err_set(JCS_S3E_InvalidRequest, "aws-chunked: the body already failed");
    if (d->st != ST_DONE)
        return fail(d, JCS_S3E_IncompleteBody,
                    "You did not provide the number of bytes specified: the aws-chunked body "
                    "ended before its final chunk%s",
                    "");
    if (d->decoded_len != JCS_S3CHUNK_UNKNOWN && d->decoded != d->decoded_len)
        return fail(d, JCS_S3E_IncompleteBody,
                    "You did not provide the number of bytes specified by "
                    "x-amz-decoded-content-length%s",
                    "");
    return JCS_OK;
}

uint64_t jcs_s3chunk_decoded(const jcs_s3chunk *d)
{
    return d->decoded;
}

int jcs_s3chunk_checksum(const jcs_s3chunk *d, const char **b64)
{
    *b64 = d->trailer_seen ? d->trailer_b64 : NULL;
    return d->trailer_seen ? d->trailer_alg : JCS_S3SUM_NONE;
}

void jcs_s3chunk_free(jcs_s3chunk *d)
{
    if (!d)
        return;
    jcs_s3sum_free(&d->chunk_hash);
    jcs_s3sum_free(&d->sum);
    OPENSSL_cleanse(&d->auth, sizeof d->auth);
    jcs_free(d);
}
