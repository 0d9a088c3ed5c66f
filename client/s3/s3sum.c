/*
 * client/s3/s3sum.c - streaming checksums and base64 (s3sum.h).
 */
#include "s3sum.h"

#include "crc.h"

#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    const char *header;
    size_t len;
} algs[] = {
    [JCS_S3SUM_NONE] = {"", NULL, 0},
    [JCS_S3SUM_CRC32] = {"crc32", "x-amz-checksum-crc32", 4},
    [JCS_S3SUM_CRC32C] = {"crc32c", "x-amz-checksum-crc32c", 4},
    [JCS_S3SUM_CRC64NVME] = {"crc64nvme", "x-amz-checksum-crc64nvme", 8},
    [JCS_S3SUM_SHA1] = {"sha1", "x-amz-checksum-sha1", 20},
    [JCS_S3SUM_SHA256] = {"sha256", "x-amz-checksum-sha256", 32},
    [JCS_S3SUM_MD5] = {"md5", NULL, 16},
};
#define NALGS (int)(sizeof algs / sizeof algs[0])

int jcs_s3sum_alg_parse(const char *name)
{
    if (!name)
        return JCS_S3SUM_NONE;
    if (strncasecmp(name, "x-amz-checksum-", 15) == 0)
        name += 15;
    for (int a = 1; a < NALGS; a++)
        if (a != JCS_S3SUM_MD5 && strcasecmp(name, algs[a].name) == 0)
            return a;
    return JCS_S3SUM_NONE;
}

const char *jcs_s3sum_alg_name(int alg)
{
    return alg > 0 && alg < NALGS ? algs[alg].name : "";
}

const char *jcs_s3sum_header(int alg)
{
    return alg > 0 && alg < NALGS ? algs[alg].header : NULL;
}

size_t jcs_s3sum_len(int alg)
{
    return alg > 0 && alg < NALGS ? algs[alg].len : 0;
}

int jcs_s3sum_init(jcs_s3sum *s, int alg)
{
    memset(s, 0, sizeof *s);
    const EVP_MD *md = NULL;
    switch (alg) {
    case JCS_S3SUM_CRC32:
    case JCS_S3SUM_CRC32C:
        break;
    case JCS_S3SUM_CRC64NVME:
        break;
    case JCS_S3SUM_SHA1:
        md = EVP_sha1();
        break;
    case JCS_S3SUM_SHA256:
        md = EVP_sha256();
        break;
    case JCS_S3SUM_MD5:
        md = EVP_md5();
        break;
    default:
        return jcs_err_set(JCS_EINVAL, "checksum: unknown algorithm %d", alg);
    }
    if (md) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c)
            return jcs_err_set(JCS_ENOMEM, "checksum: out of memory");
        if (EVP_DigestInit_ex(c, md, NULL) != 1) {
            EVP_MD_CTX_free(c);
            return jcs_err_set(JCS_EINTERNAL, "checksum: OpenSSL refused %s", algs[alg].name);
        }
        s->md = c;
    }
    s->alg = alg;
    return JCS_OK;
}

void jcs_s3sum_update(jcs_s3sum *s, const void *p, size_t n)
{
    switch (s->alg) {
    case JCS_S3SUM_CRC32:
        s->crc32 = jcs_crc32(s->crc32, p, n);
        break;
    case JCS_S3SUM_CRC32C:
        s->crc32 = jcs_crc32c(s->crc32, p, n);
        break;
    case JCS_S3SUM_CRC64NVME:
        s->crc64 = jcs_crc64nvme(s->crc64, p, n);
        break;
    default:
        if (s->md)
            EVP_DigestUpdate(s->md, p, n);
    }
}

int jcs_s3sum_final(jcs_s3sum *s, unsigned char out[32])
{
    int rc = JCS_OK;
    switch (s->alg) {
    case JCS_S3SUM_CRC32:
    case JCS_S3SUM_CRC32C:
        for (int i = 0; i < 4; i++)
            out[i] = (unsigned char)(s->crc32 >> (24 - 8 * i));
        break;
    case JCS_S3SUM_CRC64NVME: {
        uint64_t v = s->crc64;
        for (int i = 0; i < 8; i++)
            out[i] = (unsigned char)(v >> (56 - 8 * i));
        break;
    }
    default: {
        unsigned int len = 0;
        if (!s->md || EVP_DigestFinal_ex(s->md, out, &len) != 1)
            rc = jcs_err_set(JCS_EINTERNAL, "checksum: digest failed");
    }
    }
    jcs_s3sum_free(s);
    return rc;
}

int jcs_s3sum_final_b64(jcs_s3sum *s, char out[JCS_S3SUM_B64_SIZE])
{
    unsigned char d[32];
    size_t len = jcs_s3sum_len(s->alg);
    int rc = jcs_s3sum_final(s, d);
    if (!rc)
        jcs_s3sum_b64(d, len, out);
    return rc;
}

void jcs_s3sum_free(jcs_s3sum *s)
{
    if (s->md)
        EVP_MD_CTX_free(s->md);
    s->md = NULL;
}

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void jcs_s3sum_b64(const void *p, size_t n, char *out)
{
    const unsigned char *b = p;
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)b[i + 1] << 8;
        if (i + 2 < n)
            v |= b[i + 2];
        out[j++] = b64c[(v >> 18) & 63];
        out[j++] = b64c[(v >> 12) & 63];
        out[j++] = i + 1 < n ? b64c[(v >> 6) & 63] : '=';
        out[j++] = i + 2 < n ? b64c[v & 63] : '=';
    }
    out[j] = '\0';
}

static int b64v(char c)
{
    const char *q = c ? strchr(b64c, c) : NULL;
    return q ? (int)(q - b64c) : -1;
}

int jcs_s3sum_unb64(const char *s, unsigned char *out, size_t max, size_t *n)
{
    size_t len = strlen(s), j = 0;
    *n = 0;
    if (len % 4)
        return jcs_err_set(JCS_EINVAL, "base64 \"%.60s\": length not a multiple of 4", s);
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
        if (pad && !last)
            return jcs_err_set(JCS_EINVAL, "base64 \"%.60s\": padding in the middle", s);
        int v[4];
        for (int k = 0; k < 4 - pad; k++)
            if ((v[k] = b64v(s[i + k])) < 0)
                return jcs_err_set(JCS_EINVAL, "base64 \"%.60s\": bad character", s);
        for (int k = 4 - pad; k < 4; k++)
            v[k] = 0;
        unsigned w =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8),
                                  (unsigned char)w};
        size_t nb = 3 - (size_t)pad;
        if (j + nb > max)
            return jcs_err_set(JCS_EINVAL, "base64 \"%.60s\": longer than %zu bytes", s, max);
        memcpy(out + j, bytes, nb);
        j += nb;
    }
    *n = j;
    return JCS_OK;
}

void jcs_s3sum_hex(const void *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}
