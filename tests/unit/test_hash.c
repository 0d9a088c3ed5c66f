/*
 * test_hash.c - FileHash: known SHA-256 values, streaming equals one shot,
 * Comp over parts, malformed strings refused.
 */
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "hash.h"
#include "t.h"

/* FIPS 180-2 test vectors, upper-case. */
#define SHA_EMPTY "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define SHA_ABC   "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"

TEST(full_known_vectors)
{
    char h[JCS_HASH_SIZE];
    T_OK(jcs_hash_buf("", 0, h));
    T_EQ_STR(h, "Full" SHA_EMPTY);
    T_OK(jcs_hash_buf("abc", 3, h));
    T_EQ_STR(h, "Full" SHA_ABC);
    T_EQ_INT(strlen(h), JCS_HASH_LEN);
    T_ASSERT(jcs_hash_valid(h));
}

TEST(streaming_in_odd_pieces_equals_one_shot)
{
    enum { LEN = 300000 };
    unsigned char *data = jcs_malloc(LEN);
    T_ASSERT(data != NULL);
    unsigned x = 12345;
    for (size_t i = 0; i < LEN; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16);
    }
    char one[JCS_HASH_SIZE], streamed[JCS_HASH_SIZE];
    T_OK(jcs_hash_buf(data, LEN, one));
    /* Pieces of 1, 2, 3, ..., 63 bytes then 4097, crossing every block edge. */
    static const size_t pieces[] = {1, 2, 3, 5, 7, 13, 31, 63, 64, 65, 4097};
    for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
        struct jcs_hash h;
        T_OK(jcs_hash_init(&h));
        for (size_t off = 0; off < LEN;) {
            size_t n = LEN - off < pieces[p] ? LEN - off : pieces[p];
            jcs_hash_update(&h, data + off, n);
            jcs_hash_update(&h, data, 0); /* empty updates change nothing */
            off += n;
        }
        unsigned char digest[JCS_SHA256_LEN];
        T_OK(jcs_hash_final(&h, streamed, digest));
        T_ASSERT(strcmp(streamed, one) == 0, "pieces of %zu: %s vs %s", pieces[p], streamed, one);
        /* The raw digest is the hex of the string. */
        unsigned char parsed[JCS_SHA256_LEN];
        enum jcs_hash_kind kind;
        T_OK(jcs_hash_parse(streamed, &kind, parsed));
        T_EQ_INT(kind, JCS_HASH_FULL);
        T_ASSERT(memcmp(parsed, digest, JCS_SHA256_LEN) == 0);
    }
    jcs_free(data);
}

TEST(comp_is_sha256_of_part_digests)
{
    /* Parts "abc" and "" : Comp = SHA-256(SHA("abc") || SHA("")). */
    unsigned char parts[2 * JCS_SHA256_LEN];
    struct jcs_hash h;
    char s[JCS_HASH_SIZE], comp[JCS_HASH_SIZE], manual[JCS_HASH_SIZE];
    T_OK(jcs_hash_init(&h));
    jcs_hash_update(&h, "abc", 3);
    T_OK(jcs_hash_final(&h, s, parts));
    T_OK(jcs_hash_init(&h));
    T_OK(jcs_hash_final(&h, s, parts + JCS_SHA256_LEN));
    T_OK(jcs_hash_comp(parts, 2, comp));
    T_ASSERT(strncmp(comp, "Comp", 4) == 0, "%s", comp);
    T_ASSERT(jcs_hash_valid(comp));
    /* The same bytes hashed as content give the same hex under "Full". */
    T_OK(jcs_hash_buf(parts, sizeof(parts), manual));
    T_EQ_STR(comp + 4, manual + 4);
    /*
     * Known value, from coreutils: (printf abc | sha256sum | cut -c1-64 | xxd -r -p;
     * printf '' | sha256sum | cut -c1-64 | xxd -r -p) | sha256sum
     */
    T_EQ_STR(comp, "Comp"
                   "6F1290896EE81A0349174D19F4473D267A10289C40480861D5C42AFFFFBD79F9");
    /* Order matters. */
    unsigned char swapped[2 * JCS_SHA256_LEN];
    memcpy(swapped, parts + JCS_SHA256_LEN, JCS_SHA256_LEN);
    memcpy(swapped + JCS_SHA256_LEN, parts, JCS_SHA256_LEN);
    char comp2[JCS_HASH_SIZE];
    T_OK(jcs_hash_comp(swapped, 2, comp2));
    T_ASSERT(strcmp(comp, comp2) != 0);
    enum jcs_hash_kind kind;
    T_OK(jcs_hash_parse(comp, &kind, NULL));
    T_EQ_INT(kind, JCS_HASH_COMP);
}

TEST(malformed_hashes_refused)
{
    static const char *bad[] = {
        "",
        "Full",
        "full" SHA_ABC, /* prefix case */
        "Part" SHA_ABC, /* unknown kind */
        "Full"
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", /* lower hex */
        "Full" SHA_ABC "0",                                                 /* too long */
        "Full"
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015A", /* too short */
        "Full"
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AG", /* not hex */
        "Full"
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015A ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        T_ASSERT(!jcs_hash_valid(bad[i]), "accepted \"%s\"", bad[i]);
        int rc = jcs_hash_parse(bad[i], NULL, NULL);
        T_EQ_INT(rc, JCS_EINVAL);
        T_ASSERT(strstr(jcs_err_msg(rc), "file hash \""), "%s", jcs_err_msg(rc));
    }
    T_ASSERT(!jcs_hash_valid(NULL));
    T_ASSERT(jcs_hash_valid("Full" SHA_ABC));
    T_ASSERT(jcs_hash_valid("Comp" SHA_EMPTY));
    int rc = jcs_hash_parse("Part" SHA_ABC, NULL, NULL);
    T_ASSERT(strstr(jcs_err_msg(rc), "Part" SHA_ABC), "%s", jcs_err_msg(rc));
}

TEST(abort_releases_and_final_after_abort_fails)
{
    struct jcs_hash h;
    T_OK(jcs_hash_init(&h));
    jcs_hash_update(&h, "abc", 3);
    jcs_hash_abort(&h);
    jcs_hash_abort(&h); /* twice is fine */
    jcs_hash_update(&h, "abc", 3);
    char s[JCS_HASH_SIZE];
    int rc = jcs_hash_final(&h, s, NULL);
    T_EQ_INT(rc, JCS_EINTERNAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "SHA-256"), "%s", jcs_err_msg(rc));
}
