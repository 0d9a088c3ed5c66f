/*
 * test_seal.c - S3 secrets at rest (issue 10 #2): a sealed value opens back
 * to the secret only under the same key, carries no trace of the secret,
 * differs each time (fresh nonce), and a flipped byte or another key is
 * refused; the storage helpers seal and open only the secretKey field and
 * leave sealed (or plain, old) values as they are; bad keys in the config
 * are refused naming db.secretsKey.
 */
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "seal.h"
#include "t.h"

static const char *HEX = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

TEST(seal_and_open_round_trip)
{
    uint8_t k[JCS_SEAL_KEY_LEN], k2[JCS_SEAL_KEY_LEN];
    T_OK(jcs_seal_key_parse(HEX, k));
    memcpy(k2, k, sizeof k2);
    k2[0] ^= 1;
    const char *secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    char *a = NULL, *b = NULL, *back = NULL;
    T_OK(jcs_seal(k, secret, &a));
    T_OK(jcs_seal(k, secret, &b));
    T_ASSERT(jcs_seal_is_sealed(a), "%s", a);
    T_ASSERT(strstr(a, "wJalr") == NULL && strstr(a, "EXAMPLE") == NULL, "%s", a);
    T_ASSERT(strcmp(a, b) != 0, "two seals of one secret are equal: %s", a);
    T_OK(jcs_seal_open(k, a, &back));
    T_EQ_STR(back, secret);
    jcs_free(back);
    back = NULL;
    T_EQ_INT(jcs_seal_open(k2, a, &back), JCS_ECORRUPT);
    T_ASSERT(strstr(jcs_err_msg(JCS_ECORRUPT), "db.secretsKey"), "%s", jcs_err_msg(JCS_ECORRUPT));
    /* A flipped character of the ciphertext fails the tag. */
    size_t i = strlen(JCS_SEAL_PREFIX) + 20;
    a[i] = a[i] == 'A' ? 'B' : 'A';
    T_EQ_INT(jcs_seal_open(k, a, &back), JCS_ECORRUPT);
    T_ASSERT(back == NULL);
    T_EQ_INT(jcs_seal_open(k, "not sealed", &back), JCS_ECORRUPT);
    /* Empty and odd-length secrets round-trip too (base64 padding). */
    for (int n = 0; n < 6; n++) {
        char s[8] = "abcdef";
        s[n] = '\0';
        char *x = NULL, *y = NULL;
        T_OK(jcs_seal(k, s, &x));
        T_OK(jcs_seal_open(k, x, &y));
        T_EQ_STR(y, s);
        jcs_free(x);
        jcs_free(y);
    }
    jcs_free(a);
    jcs_free(b);
}

TEST(storage_helpers_touch_only_the_secret)
{
    uint8_t k[JCS_SEAL_KEY_LEN];
    T_OK(jcs_seal_key_parse(HEX, k));
    const char *st = "{\"accessKey\":\"AK\",\"bucket\":\"b\",\"secretKey\":\"SK-plain\","
                     "\"type\":\"s3\"}";
    char *sealed = NULL, *again = NULL, *opened = NULL, *opened2 = NULL;
    int changed = 0;
    T_OK(jcs_seal_storage(k, st, &sealed, &changed));
    T_EQ_INT(changed, 1);
    T_ASSERT(strstr(sealed, "SK-plain") == NULL, "%s", sealed);
    T_ASSERT(strstr(sealed, "\"accessKey\":\"AK\"") && strstr(sealed, JCS_SEAL_PREFIX), "%s",
             sealed);
    /* Sealing twice changes nothing. */
    T_OK(jcs_seal_storage(k, sealed, &again, &changed));
    T_EQ_INT(changed, 0);
    T_EQ_STR(again, sealed);
    T_OK(jcs_seal_storage_open(k, sealed, &opened, &changed));
    T_EQ_INT(changed, 1);
    T_EQ_STR(opened, st);
    /* A plain (old) row opens as itself; a local space has nothing to seal. */
    T_OK(jcs_seal_storage_open(k, st, &opened2, &changed));
    T_EQ_INT(changed, 0);
    T_EQ_STR(opened2, st);
    jcs_free(again);
    again = NULL;
    T_OK(jcs_seal_storage(k, "{\"root\":\"/x\",\"type\":\"local\"}", &again, &changed));
    T_EQ_INT(changed, 0);
    jcs_free(sealed);
    jcs_free(again);
    jcs_free(opened);
    jcs_free(opened2);
}

TEST(bad_keys_are_refused)
{
    uint8_t k[JCS_SEAL_KEY_LEN];
    T_EQ_INT(jcs_seal_key_parse("abc", k), JCS_ECONFIG);
    T_ASSERT(strstr(jcs_err_msg(JCS_ECONFIG), "db.secretsKey"), "%s", jcs_err_msg(JCS_ECONFIG));
    char bad[65];
    memcpy(bad, HEX, 65);
    bad[10] = 'g';
    T_EQ_INT(jcs_seal_key_parse(bad, k), JCS_ECONFIG);
    T_EQ_INT(jcs_seal_key_parse(NULL, k), JCS_ECONFIG);
}
