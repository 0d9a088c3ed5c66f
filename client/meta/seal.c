/*
 * Secrets at rest: AES-256-GCM through OpenSSL's EVP interface (seal.h).
 * A fresh random nonce per value; the tag authenticates the ciphertext and
 * the fixed associated data "jcs userspace secretKey", so a sealed value
 * cannot be passed off as anything else.
 */
#include "seal.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "alloc.h"

#define NONCE_LEN 12
#define TAG_LEN   16
static const char AAD[] = "jcs userspace secretKey";

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

int jcs_seal_key_parse(const char *hex, uint8_t key[JCS_SEAL_KEY_LEN])
{
    if (!hex || strlen(hex) != 2 * JCS_SEAL_KEY_LEN)
        return jcs_err_set(JCS_ECONFIG,
                           "db.secretsKey: must be %d hex digits (openssl rand -hex "
                           "%d makes one)",
                           2 * JCS_SEAL_KEY_LEN, JCS_SEAL_KEY_LEN);
    for (size_t i = 0; i < JCS_SEAL_KEY_LEN; i++) {
        int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
        if (h < 0 || l < 0)
            return jcs_err_set(JCS_ECONFIG, "db.secretsKey: \"%c%c\" is not a hex digit pair",
                               hex[2 * i], hex[2 * i + 1]);
        key[i] = (uint8_t)(h << 4 | l);
    }
    return 0;
}

int jcs_seal_is_sealed(const char *s)
{
    return s && strncmp(s, JCS_SEAL_PREFIX, strlen(JCS_SEAL_PREFIX)) == 0;
}

/* One AES-256-GCM pass; enc 1 seals (tag written), 0 opens (tag checked). */
static int gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *in, size_t n,
               uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int len = 0, ok = x != NULL;
    ok = ok && EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
    ok = ok && EVP_CipherInit_ex(x, NULL, NULL, key, nonce, enc) == 1;
    ok = ok && EVP_CipherUpdate(x, NULL, &len, (const uint8_t *)AAD, (int)strlen(AAD)) == 1;
    ok = ok && EVP_CipherUpdate(x, out, &len, in, (int)n) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(x, out + len, &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(x);
    return ok ? 0 : -1;
}

int jcs_seal(const uint8_t key[JCS_SEAL_KEY_LEN], const char *plain, char **out)
{
    *out = NULL;
    size_t n = strlen(plain);
    if (n > JCS_SEAL_SECRET_MAX)
        return jcs_err_set(JCS_EINVAL, "a secret longer than %d bytes", JCS_SEAL_SECRET_MAX);
    size_t raw_len = NONCE_LEN + n + TAG_LEN;
    uint8_t *raw = jcs_malloc(raw_len);
    char *text = jcs_malloc(strlen(JCS_SEAL_PREFIX) + 4 * ((raw_len + 2) / 3) + 1);
    int rc = 0;
    if (!raw || !text) {
        rc = jcs_err_set(JCS_ENOMEM, "sealing a secret: out of memory");
    } else if (RAND_bytes(raw, NONCE_LEN) != 1 || gcm(1, key, raw, (const uint8_t *)plain, n,
                                                      raw + NONCE_LEN, raw + NONCE_LEN + n) != 0) {
        rc = jcs_err_set(JCS_EINTERNAL, "sealing a secret: AES-256-GCM failed");
    } else {
        strcpy(text, JCS_SEAL_PREFIX);
        EVP_EncodeBlock((unsigned char *)text + strlen(JCS_SEAL_PREFIX), raw, (int)raw_len);
        *out = text;
        text = NULL;
    }
    if (raw)
        OPENSSL_cleanse(raw, raw_len);
    jcs_free(raw);
    jcs_free(text);
    return rc;
}

int jcs_seal_open(const uint8_t key[JCS_SEAL_KEY_LEN], const char *s, char **out)
{
    *out = NULL;
    if (!jcs_seal_is_sealed(s))
        return jcs_err_set(JCS_ECORRUPT, "a stored secret is not sealed");
    const char *b64 = s + strlen(JCS_SEAL_PREFIX);
    size_t bl = strlen(b64);
    if (bl % 4 || bl < 4 || bl > 4 * ((NONCE_LEN + JCS_SEAL_SECRET_MAX + TAG_LEN + 2) / 3))
        return jcs_err_set(JCS_ECORRUPT, "a sealed secret has a bad length");
    uint8_t *raw = jcs_malloc(bl / 4 * 3 + 1);
    if (!raw)
        return jcs_err_set(JCS_ENOMEM, "opening a secret: out of memory");
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)bl);
    /* EVP_DecodeBlock counts the padding as bytes: take it back off. */
    if (len >= 0 && bl >= 1 && b64[bl - 1] == '=')
        len--;
    if (len >= 0 && bl >= 2 && b64[bl - 2] == '=')
        len--;
    int rc = 0;
    if (len < NONCE_LEN + TAG_LEN) {
        rc = jcs_err_set(JCS_ECORRUPT, "a sealed secret is malformed");
    } else {
        size_t n = (size_t)len - NONCE_LEN - TAG_LEN;
        char *plain = jcs_malloc(n + 1);
        if (!plain) {
            rc = jcs_err_set(JCS_ENOMEM, "opening a secret: out of memory");
        } else if (gcm(0, key, raw, raw + NONCE_LEN, n, (uint8_t *)plain, raw + NONCE_LEN + n) !=
                   0) {
            OPENSSL_cleanse(plain, n);
            jcs_free(plain);
            rc = jcs_err_set(JCS_ECORRUPT, "a sealed secret does not open with db.secretsKey "
                                           "(was the key changed?)");
        } else {
            plain[n] = '\0';
            *out = plain;
        }
    }
    OPENSSL_cleanse(raw, bl / 4 * 3 + 1);
    jcs_free(raw);
    return rc;
}

static int storage_map(const uint8_t *key, const char *storage, char **out, int *changed, int seal)
{
    *out = NULL;
    if (changed)
        *changed = 0;
    json_t *j = json_loads(storage, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return jcs_err_set(JCS_EINVAL, "storage: not a JSON object");
    }
    int rc = 0;
    json_t *sk = json_object_get(j, "secretKey");
    const char *v = json_string_value(sk);
    char *nv = NULL;
    if (v && seal && !jcs_seal_is_sealed(v))
        rc = jcs_seal(key, v, &nv);
    else if (v && !seal && jcs_seal_is_sealed(v))
        rc = jcs_seal_open(key, v, &nv);
    if (!rc && nv) {
        if (json_object_set_new(j, "secretKey", json_string(nv)) != 0)
            rc = jcs_err_set(JCS_ENOMEM, "storage: out of memory");
        else if (changed)
            *changed = 1;
    }
    if (nv) {
        OPENSSL_cleanse(nv, strlen(nv));
        jcs_free(nv);
    }
    if (!rc) {
        char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        *out = t ? jcs_strdup(t) : NULL;
        if (t) {
            OPENSSL_cleanse(t, strlen(t));
            free(t); /* jansson's allocator */
        }
        if (!*out)
            rc = jcs_err_set(JCS_ENOMEM, "storage: out of memory");
    }
    json_decref(j);
    return rc;
}

int jcs_seal_storage(const uint8_t key[JCS_SEAL_KEY_LEN], const char *storage, char **out,
                     int *changed)
{
    return storage_map(key, storage, out, changed, 1);
}

int jcs_seal_storage_open(const uint8_t key[JCS_SEAL_KEY_LEN], const char *storage, char **out,
                          int *changed)
{
    return storage_map(key, storage, out, changed, 0);
}
