/*
 * seal.h - secrets at rest in the client's database.
 *
 * The secretKey of an S3 user space is stored sealed: AES-256-GCM under a
 * key from the client's config (db.secretsKey, 64 hex digits, written by
 * jcs init), as the text "jcsenc:v1:" + base64(12-byte nonce | ciphertext |
 * 16-byte tag). A reader of the database (a backup, another local user)
 * learns nothing without config.json, which is 0600. Sealed values are
 * opened only in memory, when a space's storage is handed to a hub.
 *
 * The storage helpers work on a space's storage JSON text: seal turns a
 * plaintext "secretKey" into a sealed one (a sealed one is kept), open does
 * the reverse (a plaintext one, from before sealing existed, is kept).
 * Every output is the caller's (jcs_free).
 */
#ifndef JCS_SEAL_H
#define JCS_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JCS_SEAL_KEY_LEN    32
#define JCS_SEAL_PREFIX     "jcsenc:v1:"
#define JCS_SEAL_SECRET_MAX 4096 /* plaintext bytes of one secret */

/* Parses 64 hex digits into key. JCS_ECONFIG naming what is wrong otherwise. */
int jcs_seal_key_parse(const char *hex, uint8_t key[JCS_SEAL_KEY_LEN]) JCS_MUST_USE;

/* 1 when s is a sealed value (starts with JCS_SEAL_PREFIX). */
int jcs_seal_is_sealed(const char *s);

int jcs_seal(const uint8_t key[JCS_SEAL_KEY_LEN], const char *plain, char **out) JCS_MUST_USE;

/* JCS_ECORRUPT when s is not a sealed value or does not open under key (a changed key). */
int jcs_seal_open(const uint8_t key[JCS_SEAL_KEY_LEN], const char *s, char **out) JCS_MUST_USE;

/*
 * Storage JSON with its secretKey sealed / opened. *changed (may be NULL)
 * tells whether anything was done; *out is a copy either way.
 */
int jcs_seal_storage(const uint8_t key[JCS_SEAL_KEY_LEN], const char *storage, char **out,
                     int *changed) JCS_MUST_USE;
int jcs_seal_storage_open(const uint8_t key[JCS_SEAL_KEY_LEN], const char *storage, char **out,
                          int *changed) JCS_MUST_USE;

#endif
