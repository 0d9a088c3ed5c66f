/*
 * t_storage_conf.h - the storage-backend conformance suite: the checks every
 * jcs_storage backend must pass, written once and run against each backend
 * (tests/unit/test_storage_local.c, tests/integration/test_storage_s3.c).
 *
 * The caller describes how to get a fresh, empty backend and registers the
 * suite once per test binary; each check then appears as its own test line
 * "conf_<check>". Backend-specific behaviour (O_DIRECT, multipart, retries,
 * key rules of a file system) stays in the backend's own test file.
 */
#ifndef JCS_T_STORAGE_CONF_H
#define JCS_T_STORAGE_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "storage.h"

struct t_storage_conf {
    /* Opens a backend that holds no keys yet (a fresh directory or prefix);
     * the suite closes it. Returns a jcs_err. */
    int (*open)(void *arg, jcs_storage **s);
    void *arg;
    /* Temporary files the backend holds right now (writers in flight), or
     * NULL when the backend keeps them where the test cannot count them. */
    int (*count_tmp)(void *arg, jcs_storage *s);
    /* Size of the large-object check: big enough to take the backend's large
     * path (page-cache bypass, multipart upload). */
    size_t large;
};

/* Registers every check of the suite as a test; conf must outlive main().
 * Call it from a constructor, once per binary. */
void t_storage_conf_register(const struct t_storage_conf *conf);

/* ---- helpers the suite and the backends' own tests share ---- */

/* n bytes of a pseudo-random stream of seed (xorshift), the same on every run. */
void t_storage_pattern(unsigned char *p, size_t n, unsigned seed);

/* Writes data as key in pieces of chunk bytes (so the stream is really a stream); a jcs_err. */
int t_storage_put(jcs_storage *s, const char *key, const void *data, size_t n, size_t chunk);

/* A read sink into a fixed buffer: JCS_ETOOBIG past cap; calls counts the pieces. */
struct t_storage_sink {
    unsigned char *p;
    size_t n, cap;
    int calls;
};
int t_storage_sink_fn(void *arg, const void *data, size_t n);

/* A listing callback keeping the first 32 keys and their sizes. */
struct t_storage_keys {
    char keys[32][128];
    uint64_t sizes[32];
    int n;
};
int t_storage_keys_fn(void *arg, const char *key, const struct jcs_storage_stat *st);

/* Whether the listing holds key with that size (listing order is not part of the contract:
 * S3 sorts, a directory walk does not). */
int t_storage_has_key(const struct t_storage_keys *c, const char *key, uint64_t size);

#endif
