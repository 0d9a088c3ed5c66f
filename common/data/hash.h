/*
 * hash.h - FileHash: the content address of every shard and object.
 *
 * Two forms (docs/DESIGN.md §2), both 68 characters:
 *   "Full" + 64 upper-case hex of the SHA-256 of the content;
 *   "Comp" + 64 upper-case hex of the SHA-256 over the concatenated 32-byte
 *            SHA-256 digests of the parts, in order (an object assembled
 *            from parts: multipart uploads, segments).
 * A Full hash is computed while the bytes stream past (jcs_hash_update on
 * each buffer as it is written or read), never in a second pass over the
 * data; jcs_hash_final also returns the raw digest so a part's digest can
 * feed a Comp hash without parsing hex.
 */
#ifndef JCS_HASH_H
#define JCS_HASH_H

#include <stddef.h>

#include "err.h"

#define JCS_SHA256_LEN 32
#define JCS_HASH_LEN   68 /* characters of a FileHash */
#define JCS_HASH_SIZE  69 /* a FileHash with its NUL */

enum jcs_hash_kind { JCS_HASH_FULL = 1, JCS_HASH_COMP = 2 };

/* A streaming SHA-256; the fields are private. Zeroed or initialized. */
struct jcs_hash {
    void *ctx; /* OpenSSL EVP_MD_CTX, owned; NULL when idle */
    int failed;
};

/* Starts a Full hash. JCS_ENOMEM. Ends with jcs_hash_final or jcs_hash_abort. */
int jcs_hash_init(struct jcs_hash *h) JCS_MUST_USE;

/*
 * Adds n bytes (only read). Never fails on the spot: a library failure is
 * remembered and reported by jcs_hash_final, so the data path need not
 * check every buffer.
 */
void jcs_hash_update(struct jcs_hash *h, const void *p, size_t n);

/*
 * Writes the FileHash ("Full" + hex, NUL-terminated) into out and, when
 * digest is not NULL, the 32-byte SHA-256 into digest. Releases h either
 * way. JCS_EINTERNAL if OpenSSL failed on the way.
 */
int jcs_hash_final(struct jcs_hash *h, char out[JCS_HASH_SIZE],
                   unsigned char digest[JCS_SHA256_LEN]) JCS_MUST_USE;

/* Releases h without a result; fine on a zeroed or finished h. */
void jcs_hash_abort(struct jcs_hash *h);

/* One shot: the Full FileHash of n bytes. JCS_ENOMEM, JCS_EINTERNAL. */
int jcs_hash_buf(const void *p, size_t n, char out[JCS_HASH_SIZE]) JCS_MUST_USE;

/*
 * The Comp FileHash of nparts parts from their SHA-256 digests, nparts * 32
 * bytes in part order (only read). JCS_ENOMEM, JCS_EINTERNAL.
 */
int jcs_hash_comp(const unsigned char *digests, size_t nparts,
                  char out[JCS_HASH_SIZE]) JCS_MUST_USE;

/* 1 when s is a well-formed FileHash ("Full" or "Comp" + 64 upper-case hex), else 0. */
int jcs_hash_valid(const char *s);

/*
 * Splits a FileHash into its kind and digest (either out may be NULL).
 * JCS_EINVAL with a detail quoting the first 80 characters of s.
 */
int jcs_hash_parse(const char *s, enum jcs_hash_kind *kind,
                   unsigned char digest[JCS_SHA256_LEN]) JCS_MUST_USE;

#endif
