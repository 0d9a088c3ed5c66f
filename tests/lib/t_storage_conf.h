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

#endif
