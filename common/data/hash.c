/*
 * hash.c - FileHash over OpenSSL's SHA-256 (EVP, the non-deprecated API).
 *
 * The SHA-256 implementation is fetched once per process: an implicit fetch
 * on every EVP_DigestInit_ex costs a provider lookup per shard.
 */
#include "hash.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void to_hash(const char *prefix, const unsigned char *d, char out[JCS_HASH_SIZE])
{
    static const char hex[] = "0123456789ABCDEF";
    memcpy(out, prefix, 4);
    for (int i = 0; i < JCS_SHA256_LEN; i++) {
        out[4 + 2 * i] = hex[d[i] >> 4];
        out[5 + 2 * i] = hex[d[i] & 15];
    }
    out[JCS_HASH_LEN] = '\0';
}

int jcs_hash_init(struct jcs_hash *h)
{
    pthread_once(&md_once, md_fetch);
    h->failed = 0;
    h->ctx = NULL;
    if (!sha256_md)
        return jcs_err_set(JCS_EINTERNAL, "hash: OpenSSL has no SHA256");
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return jcs_err_set(JCS_ENOMEM, "hash: out of memory for a SHA-256 context");
    if (EVP_DigestInit_ex(c, sha256_md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        return jcs_err_set(JCS_EINTERNAL, "hash: EVP_DigestInit_ex(SHA256) failed");
    }
    h->ctx = c;
    return 0;
}

void jcs_hash_update(struct jcs_hash *h, const void *p, size_t n)
{
    if (!h->ctx)
        h->failed = 1;
    else if (n && !h->failed && EVP_DigestUpdate(h->ctx, p, n) != 1)
        h->failed = 1;
}

int jcs_hash_final(struct jcs_hash *h, char out[JCS_HASH_SIZE],
                   unsigned char digest[JCS_SHA256_LEN])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ok =
        !h->failed && h->ctx && EVP_DigestFinal_ex(h->ctx, d, &dlen) == 1 && dlen == JCS_SHA256_LEN;
    jcs_hash_abort(h);
    if (!ok)
        return jcs_err_set(JCS_EINTERNAL, "hash: SHA-256 failed inside OpenSSL");
    to_hash("Full", d, out);
    if (digest)
        memcpy(digest, d, JCS_SHA256_LEN);
    return 0;
}

void jcs_hash_abort(struct jcs_hash *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

int jcs_hash_buf(const void *p, size_t n, char out[JCS_HASH_SIZE])
{
    struct jcs_hash h;
    int rc = jcs_hash_init(&h);
    if (rc != 0)
        return rc;
    jcs_hash_update(&h, p, n);
    return jcs_hash_final(&h, out, NULL);
}

int jcs_hash_comp(const unsigned char *digests, size_t nparts, char out[JCS_HASH_SIZE])
{
    struct jcs_hash h;
    unsigned char d[JCS_SHA256_LEN];
    int rc = jcs_hash_init(&h);
    if (rc != 0)
        return rc;
    jcs_hash_update(&h, digests, nparts * JCS_SHA256_LEN);
    rc = jcs_hash_final(&h, out, d);
    if (rc != 0)
        return rc;
    to_hash("Comp", d, out);
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int jcs_hash_valid(const char *s)
{
    if (!s || (strncmp(s, "Full", 4) != 0 && strncmp(s, "Comp", 4) != 0))
        return 0;
    for (int i = 4; i < JCS_HASH_LEN; i++)
        if (hexval(s[i]) < 0)
            return 0;
    return s[JCS_HASH_LEN] == '\0';
}

int jcs_hash_parse(const char *s, enum jcs_hash_kind *kind, unsigned char digest[JCS_SHA256_LEN])
{
    if (!jcs_hash_valid(s))
        return jcs_err_set(JCS_EINVAL,
                           "file hash \"%.80s\": want Full or Comp and 64 upper-case hex digits",
                           s ? s : "(null)");
    if (kind)
        *kind = s[0] == 'F' ? JCS_HASH_FULL : JCS_HASH_COMP;
    if (digest)
        for (int i = 0; i < JCS_SHA256_LEN; i++)
            digest[i] = (unsigned char)(hexval(s[4 + 2 * i]) << 4 | hexval(s[5 + 2 * i]));
    return 0;
}
