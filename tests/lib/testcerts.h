/*
 * testcerts.h - throw-away certificates for tests, made with the openssl CLI.
 *
 * testcerts_init creates a temporary directory with a cluster CA and a
 * second, unrelated "evil" CA (both EC P-256). testcerts_issue then makes a
 * certificate with subject "/O=JCS-C/OU=<role>/CN=<name>", SAN
 * IP:127.0.0.1 and DNS:localhost, EKU serverAuth+clientAuth, signed by
 * either CA. The tests do not depend on the cert module, so a bug there
 * cannot hide a bug in the code under test.
 */
#ifndef JCS_TESTCERTS_H
#define JCS_TESTCERTS_H

#include <stdbool.h>

#include "rpc.h"

#define TESTCERTS_MAX 16

typedef struct testcerts {
    char dir[128];
    char ca_cert[192], ca_key[192];
    char evil_cert[192], evil_key[192];
    int n;
    struct {
        char cert[192], key[192];
        jcs_tls_files tls;
    } party[TESTCERTS_MAX];
} testcerts;

/* Makes the directory and both CAs. 0 on success, -1 (with a line on stderr) otherwise. */
int testcerts_init(testcerts *tc);

/*
 * Issues a certificate for (role, name), signed by the evil CA when evil is
 * true. Returns the party's files, pointing into tc (ca_file is always the
 * cluster CA, which the party trusts); NULL on failure.
 */
const jcs_tls_files *testcerts_issue(testcerts *tc, const char *role, const char *name, bool evil);

/* Removes the directory and everything in it. */
void testcerts_cleanup(testcerts *tc);

#endif
