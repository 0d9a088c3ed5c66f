#include "testcerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Extension sections for the CA and the leaf certificates. */
static const char cnf[] = "[req]\n"
                          "distinguished_name = dn\n"
                          "prompt = no\n"
                          "[dn]\n"
                          "[ca]\n"
                          "basicConstraints = critical,CA:TRUE\n"
                          "keyUsage = critical,keyCertSign,cRLSign\n"
                          "subjectKeyIdentifier = hash\n"
                          "[leaf]\n"
                          "basicConstraints = critical,CA:FALSE\n"
                          "keyUsage = critical,digitalSignature,keyEncipherment\n"
                          "extendedKeyUsage = serverAuth,clientAuth\n"
                          "subjectAltName = IP:127.0.0.1,DNS:localhost\n"
                          "subjectKeyIdentifier = hash\n"
                          "authorityKeyIdentifier = keyid\n";

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "testcerts: command failed (%d): %s\n", rc, cmd);
        return -1;
    }
    return 0;
}

static int make_ca(testcerts *tc, const char *cert, const char *key, const char *cn)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout %s -out %s -days 30 -subj '/O=JCS-C/OU=ca/CN=%s' -config %s/t.cnf "
             "-extensions ca 2>/dev/null",
             key, cert, cn, tc->dir);
    return run(cmd);
}

int testcerts_init(testcerts *tc)
{
    FILE *f;
    char path[256];

    memset(tc, 0, sizeof(*tc));
    snprintf(tc->dir, sizeof(tc->dir), "/tmp/jcs-testcerts-XXXXXX");
    if (!mkdtemp(tc->dir)) {
        perror("testcerts: mkdtemp");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/t.cnf", tc->dir);
    f = fopen(path, "w");
    if (!f || fputs(cnf, f) < 0 || fclose(f) != 0) {
        perror("testcerts: t.cnf");
        return -1;
    }
    snprintf(tc->ca_cert, sizeof(tc->ca_cert), "%s/ca.pem", tc->dir);
    snprintf(tc->ca_key, sizeof(tc->ca_key), "%s/ca.key", tc->dir);
    snprintf(tc->evil_cert, sizeof(tc->evil_cert), "%s/evil-ca.pem", tc->dir);
    snprintf(tc->evil_key, sizeof(tc->evil_key), "%s/evil-ca.key", tc->dir);
    if (make_ca(tc, tc->ca_cert, tc->ca_key, "JCS-C test CA") != 0 ||
        make_ca(tc, tc->evil_cert, tc->evil_key, "JCS-C test CA") != 0)
        return -1;
    return 0;
}

const jcs_tls_files *testcerts_issue(testcerts *tc, const char *role, const char *name, bool evil)
{
    char cmd[1536], dir[sizeof(tc->dir)];
    int i = tc->n;

    if (i >= TESTCERTS_MAX)
        return NULL;
    /* A copy, so gcc does not see snprintf reading the struct it writes. */
    memcpy(dir, tc->dir, sizeof(dir));
    snprintf(tc->party[i].cert, sizeof(tc->party[i].cert), "%s/%d-%s.pem", dir, i, name);
    snprintf(tc->party[i].key, sizeof(tc->party[i].key), "%s/%d-%s.key", dir, i, name);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout %s -out %s -days 30 -subj '/O=JCS-C/OU=%s/CN=%s' -config %s/t.cnf "
             "-extensions leaf -CA %s -CAkey %s 2>/dev/null",
             tc->party[i].key, tc->party[i].cert, role, name, tc->dir,
             evil ? tc->evil_cert : tc->ca_cert, evil ? tc->evil_key : tc->ca_key);
    if (run(cmd) != 0)
        return NULL;
    tc->party[i].tls.ca_file = tc->ca_cert;
    tc->party[i].tls.cert_file = tc->party[i].cert;
    tc->party[i].tls.key_file = tc->party[i].key;
    tc->n++;
    return &tc->party[i].tls;
}

void testcerts_cleanup(testcerts *tc)
{
    char cmd[256];
    if (!tc->dir[0] || strncmp(tc->dir, "/tmp/jcs-testcerts-", 19) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tc->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "testcerts: could not remove %s\n", tc->dir);
    tc->dir[0] = '\0';
}
