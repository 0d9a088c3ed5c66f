/*
 * test_cert.c - the cluster CA and party certificates, checked through our
 * own API and cross-checked with the openssl command line tool.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "cert.h"
#include "rpc.h"
#include "t.h"
#include "t_tmpdir.h"
#include "util.h"

#define P 512

/* Formats a path into a P-byte buffer. */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, P, fmt, ap);
    va_end(ap);
}

/* A CA in DIR/sub, and a party certificate issued by it into DIR/sub/<name>_{cert,key}.pem. */
static int make_ca(const char *sub, char *ca_cert, char *ca_key)
{
    char d[P];
    t_path(d, sizeof(d), sub);
    pathf(ca_cert, "%s/ca_cert.pem", d);
    pathf(ca_key, "%s/ca_key.pem", d);
    if (access(ca_key, F_OK) == 0)
        return 0;
    return jcs_cert_create_ca(d, "test CA", 30);
}

static int issue(const char *sub, const char *role, const char *name, char *cert, char *key)
{
    char ca_cert[P], ca_key[P], d[P];
    int rc = make_ca(sub, ca_cert, ca_key);
    if (rc)
        return rc;
    t_path(d, sizeof(d), sub);
    pathf(cert, "%s/%s_cert.pem", d, name);
    pathf(key, "%s/%s_key.pem", d, name);
    static const char *const sans[] = {"127.0.0.1", "::1", "hub1.example"};
    jcs_cert_req req = {.role = role, .name = name, .sans = sans, .nsans = 3, .days = 10};
    return jcs_cert_issue(ca_cert, ca_key, &req, cert, key);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xFFFFu;
}

/* Runs a shell command, captures up to outlen-1 bytes of its stdout+stderr; returns exit status. */
static int run(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t outlen, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(issue_writes_files_with_exact_modes_and_they_verify)
{
    char ca_cert[P], ca_key[P], d[P];
    T_OK(make_ca("modes", ca_cert, ca_key));
    t_path(d, sizeof(d), "modes");
    T_EQ_INT(mode_of(d), 0700);
    T_EQ_INT(mode_of(ca_cert), 0644);
    T_EQ_INT(mode_of(ca_key), 0600);
    static const char *const roles[] = {"hub", "client", "coordinator", "server"};
    static const char *const names[] = {"hub1", "client.a_1", "coord-1", "jcs-http"};
    for (int i = 0; i < 4; i++) {
        char cert[P], key[P], role[32], name[80];
        T_OK(issue("modes", roles[i], names[i], cert, key));
        T_EQ_INT(mode_of(cert), 0644);
        T_EQ_INT(mode_of(key), 0600);
        T_OK(jcs_cert_verify(ca_cert, cert, key));
        T_OK(jcs_cert_verify(ca_cert, cert, NULL));
        char *pem = NULL;
        size_t len = 0;
        T_OK(jcs_read_file(cert, 1 << 20, &pem, &len));
        int rc = jcs_cert_subject_pem(pem, len, role, sizeof(role), name, sizeof(name));
        jcs_free(pem);
        T_OK(rc);
        T_EQ_STR(role, roles[i]);
        T_EQ_STR(name, names[i]);
    }
    /* The HTTPS server role (jcs init) is no RPC role: such a certificate calls no method. */
    T_EQ_INT(jcs_role_parse("server"), JCS_ROLE_NONE);
}

TEST(subject_parses_back_role_and_name)
{
    char cert[P], key[P], role[32], name[80];
    T_OK(issue("subj", "coordinator", "coord-main", cert, key));
    char *pem;
    size_t len;
    T_OK(jcs_read_file(cert, 1 << 20, &pem, &len));
    int rc = jcs_cert_subject_pem(pem, len, role, sizeof(role), name, sizeof(name));
    char role1[32], name1[80];
    snprintf(role1, sizeof(role1), "%s", rc ? "" : role);
    snprintf(name1, sizeof(name1), "%s", rc ? "" : name);
    name[0] = '\0';
    /* Either output may be skipped. */
    int rc2 = jcs_cert_subject_pem(pem, len, NULL, 0, name, sizeof(name));
    /* A role that does not fit is an error, never a silently shortened role. */
    char tiny[4];
    int rc3 = jcs_cert_subject_pem(pem, len, tiny, sizeof(tiny), NULL, 0);
    jcs_free(pem);
    T_EQ_INT(rc, 0);
    T_EQ_STR(role1, "coordinator");
    T_EQ_STR(name1, "coord-main");
    T_EQ_INT(rc2, 0);
    T_EQ_STR(name, "coord-main");
    T_EQ_INT(rc3, JCS_ETOOBIG);
    T_ASSERT(strstr(jcs_err_msg(rc3), "OU") != NULL, "%s", jcs_err_msg(rc3));

    const char junk[] =
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    T_EQ_INT(jcs_cert_subject_pem(junk, sizeof(junk) - 1, role, sizeof(role), NULL, 0), JCS_ETLS);
    T_EQ_INT(jcs_cert_subject_pem("", 0, role, sizeof(role), NULL, 0), JCS_ETLS);
}

TEST(cert_from_another_ca_fails_verify)
{
    char ca1[P], ca1k[P], cert[P], key[P];
    T_OK(make_ca("ca1", ca1, ca1k));
    T_OK(issue("ca2", "hub", "evil", cert, key));
    int rc = jcs_cert_verify(ca1, cert, key);
    T_EQ_INT(rc, JCS_ETLS);
    const char *m = jcs_err_msg(rc);
    T_ASSERT(strstr(m, cert) != NULL, "names the cert: %s", m);
    T_ASSERT(strstr(m, "unable to get local issuer certificate") != NULL, "reason: %s", m);
}

TEST(mismatched_key_fails_verify)
{
    char ca[P], cak[P], c1[P], k1[P], c2[P], k2[P];
    T_OK(make_ca("mm", ca, cak));
    T_OK(issue("mm", "hub", "hubA", c1, k1));
    T_OK(issue("mm", "hub", "hubB", c2, k2));
    int rc = jcs_cert_verify(ca, c1, k2);
    T_EQ_INT(rc, JCS_ETLS);
    const char *m = jcs_err_msg(rc);
    T_ASSERT(strstr(m, k2) != NULL && strstr(m, "does not match") != NULL, "%s", m);
}

TEST(garbage_or_missing_pem_names_the_file)
{
    char ca[P], cak[P], c[P], k[P], junk[P], missing[P];
    T_OK(issue("junk", "client", "c1", c, k));
    T_OK(make_ca("junk", ca, cak));
    t_path(junk, sizeof(junk), "junk/garbage.pem");
    t_path(missing, sizeof(missing), "junk/nothing-here.pem");
    T_OK(jcs_write_file(junk, "hello, not a PEM\n", 17, 0644));

    const char *cases[][3] = {
        {ca, junk, NULL},    /* garbage certificate */
        {junk, c, NULL},     /* garbage CA */
        {ca, c, junk},       /* garbage key */
        {ca, missing, NULL}, /* missing certificate */
        {missing, c, NULL},  /* missing CA */
        {ca, c, missing},    /* missing key */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = jcs_cert_verify(cases[i][0], cases[i][1], cases[i][2]);
        T_EQ_INT(rc, JCS_ETLS);
        const char *bad = (i % 3 == 0) ? cases[i][1] : (i % 3 == 1) ? cases[i][0] : cases[i][2];
        T_ASSERT(strstr(jcs_err_msg(rc), bad) != NULL, "case %zu: %s", i, jcs_err_msg(rc));
    }
    /* Issuing with a garbage CA key names that file too. */
    jcs_cert_req req = {.role = "hub", .name = "x", .days = 1};
    char out_c[P], out_k[P];
    t_path(out_c, sizeof(out_c), "junk/x_cert.pem");
    t_path(out_k, sizeof(out_k), "junk/x_key.pem");
    int rc = jcs_cert_issue(ca, junk, &req, out_c, out_k);
    T_EQ_INT(rc, JCS_ETLS);
    T_ASSERT(strstr(jcs_err_msg(rc), junk) != NULL, "%s", jcs_err_msg(rc));
    T_ASSERT(access(out_k, F_OK) != 0 && access(out_c, F_OK) != 0, "nothing written");
    /* A CA key that belongs to another CA is refused before anything is signed. */
    char ca2[P], ca2k[P];
    T_OK(make_ca("junk2", ca2, ca2k));
    rc = jcs_cert_issue(ca, ca2k, &req, out_c, out_k);
    T_EQ_INT(rc, JCS_ETLS);
    T_ASSERT(strstr(jcs_err_msg(rc), ca2k) != NULL, "%s", jcs_err_msg(rc));
}

TEST(bad_role_name_san_days_are_refused)
{
    char ca[P], cak[P], oc[P], ok[P];
    T_OK(make_ca("bad", ca, cak));
    t_path(oc, sizeof(oc), "bad/o_cert.pem");
    t_path(ok, sizeof(ok), "bad/o_key.pem");
    static const char *const bad_san[] = {"a,b"};
    const struct {
        jcs_cert_req req;
        const char *mention;
    } cases[] = {
        {{.role = "admin", .name = "x", .days = 1}, "admin"},
        {{.role = NULL, .name = "x", .days = 1}, "role"},
        {{.role = "hub", .name = "a/b", .days = 1}, "a/b"},
        {{.role = "hub", .name = "", .days = 1}, "name"},
        {{.role = "hub",
          .name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          .days = 1},
         "name"},
        {{.role = "hub", .name = "x", .sans = bad_san, .nsans = 1, .days = 1}, "a,b"},
        {{.role = "hub", .name = "x", .days = 0}, "days"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = jcs_cert_issue(ca, cak, &cases[i].req, oc, ok);
        T_EQ_INT(rc, JCS_EINVAL);
        T_ASSERT(strstr(jcs_err_msg(rc), cases[i].mention) != NULL, "case %zu: %s", i,
                 jcs_err_msg(rc));
    }
    T_ASSERT(access(oc, F_OK) != 0 && access(ok, F_OK) != 0, "nothing written");
    /* 64 characters is still a valid name. */
    jcs_cert_req req = {.role = "hub",
                        .name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                        .days = 1};
    T_OK(jcs_cert_issue(ca, cak, &req, oc, ok));
}

TEST(ca_over_existing_key_is_refused)
{
    char ca[P], cak[P], d[P];
    T_OK(make_ca("again", ca, cak));
    char *before, *after;
    size_t nb, na;
    T_OK(jcs_read_file(cak, 1 << 16, &before, &nb));
    t_path(d, sizeof(d), "again");
    int rc = jcs_cert_create_ca(d, "other CA", 30);
    int rc2 = jcs_read_file(cak, 1 << 16, &after, &na);
    int same = rc2 == 0 && nb == na && memcmp(before, after, nb) == 0;
    jcs_free(before);
    if (rc2 == 0)
        jcs_free(after);
    T_EQ_INT(rc, JCS_EEXIST);
    T_ASSERT(strstr(jcs_err_msg(rc), cak) != NULL, "%s", jcs_err_msg(rc));
    T_ASSERT(same, "the existing CA key is untouched");
}

TEST(openssl_cli_accepts_the_certificates)
{
    char ca[P], cak[P], c[P], k[P], out[4096];
    T_OK(make_ca("cli", ca, cak));
    T_OK(issue("cli", "hub", "hub1", c, k));
    /* The EKU must allow both TLS server and TLS client use. */
    T_EQ_INT(run(out, sizeof(out), "openssl verify -CAfile %s %s", ca, c), 0);
    T_ASSERT(strstr(out, ": OK") != NULL, "%s", out);
    T_EQ_INT(run(out, sizeof(out), "openssl verify -purpose sslserver -CAfile %s %s", ca, c), 0);
    T_EQ_INT(run(out, sizeof(out), "openssl verify -purpose sslclient -CAfile %s %s", ca, c), 0);
    T_EQ_INT(run(out, sizeof(out), "openssl x509 -in %s -noout -ext subjectAltName", c), 0);
    T_ASSERT(strstr(out, "IP Address:127.0.0.1") != NULL, "%s", out);
    T_ASSERT(strstr(out, "IP Address:0:0:0:0:0:0:0:1") != NULL, "%s", out);
    T_ASSERT(strstr(out, "DNS:hub1.example") != NULL, "%s", out);
    T_EQ_INT(run(out, sizeof(out), "openssl x509 -in %s -noout -subject -ext basicConstraints", c),
             0);
    T_ASSERT(strstr(out, "O = JCS-C, OU = hub, CN = hub1") != NULL, "%s", out);
    T_ASSERT(strstr(out, "CA:FALSE") != NULL, "%s", out);
    T_EQ_INT(run(out, sizeof(out), "openssl x509 -in %s -noout -ext basicConstraints,keyUsage", ca),
             0);
    T_ASSERT(strstr(out, "CA:TRUE") != NULL && strstr(out, "Certificate Sign, CRL Sign") != NULL,
             "%s", out);
    /* The key is a plain PEM EC P-256 key that matches the certificate. */
    T_EQ_INT(run(out, sizeof(out), "openssl pkey -in %s -noout -text", k), 0);
    T_ASSERT(strstr(out, "P-256") != NULL, "%s", out);
    /* A certificate from another CA is refused by openssl too (the test's own sanity). */
    char c2[P], k2[P];
    T_OK(issue("cli-other", "hub", "hub1", c2, k2));
    int st = run(out, sizeof(out), "openssl verify -CAfile %s %s", ca, c2);
    T_ASSERT(st != 0, "%s", out);
}

/* Issue 10 #3: the HTTPS server's certificate is no client certificate and
 * jcsctl's is no server certificate; hubs and the coordinator are both. */
TEST(extended_key_usage_follows_the_role)
{
    char ca[P], cak[P], out[4096];
    T_OK(make_ca("eku", ca, cak));
    static const struct {
        const char *role, *name;
        int server, client;
    } cases[] = {{"server", "jcs-http", 1, 0},
                 {"client", "jcsctl", 0, 1},
                 {"hub", "hub1", 1, 1},
                 {"coordinator", "coordinator", 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char c[P], k[P];
        T_OK(issue("eku", cases[i].role, cases[i].name, c, k));
        int st = run(out, sizeof(out), "openssl verify -purpose sslserver -CAfile %s %s", ca, c);
        T_ASSERT((st == 0) == cases[i].server, "%s as TLS server: %s", cases[i].role, out);
        st = run(out, sizeof(out), "openssl verify -purpose sslclient -CAfile %s %s", ca, c);
        T_ASSERT((st == 0) == cases[i].client, "%s as TLS client: %s", cases[i].role, out);
        T_EQ_INT(run(out, sizeof(out), "openssl x509 -in %s -noout -ext extendedKeyUsage", c), 0);
        T_ASSERT((strstr(out, "TLS Web Server Authentication") != NULL) == cases[i].server, "%s",
                 out);
        T_ASSERT((strstr(out, "TLS Web Client Authentication") != NULL) == cases[i].client, "%s",
                 out);
    }
}

TEST(leaf_does_not_outlive_its_ca)
{
    char d[P], ca[P], cak[P], c[P], k[P], o1[256], o2[256];
    t_path(d, sizeof(d), "short");
    T_OK(jcs_cert_create_ca(d, "short CA", 2));
    pathf(ca, "%s/ca_cert.pem", d);
    pathf(cak, "%s/ca_key.pem", d);
    pathf(c, "%s/l_cert.pem", d);
    pathf(k, "%s/l_key.pem", d);
    jcs_cert_req req = {.role = "client", .name = "l", .days = 825};
    T_OK(jcs_cert_issue(ca, cak, &req, c, k));
    T_EQ_INT(run(o1, sizeof(o1), "openssl x509 -in %s -noout -enddate", ca), 0);
    T_EQ_INT(run(o2, sizeof(o2), "openssl x509 -in %s -noout -enddate", c), 0);
    T_EQ_STR(o2, o1);
}

TEST(out_of_memory_is_reported_without_leaks)
{
    char ca[P], cak[P], c[P], k[P];
    T_OK(make_ca("oom", ca, cak));
    t_path(c, sizeof(c), "oom/m_cert.pem");
    t_path(k, sizeof(k), "oom/m_key.pem");
    jcs_cert_req req = {.role = "hub", .name = "m", .days = 1};
    int rc = JCS_ENOMEM;
    long n;
    for (n = 0; n < 50 && rc == JCS_ENOMEM; n++) {
        jcs_alloc_fail_after(n);
        rc = jcs_cert_issue(ca, cak, &req, c, k);
        jcs_alloc_fail_after(-1);
    }
    T_OK(rc);
    T_ASSERT(n > 1, "at least one allocation was made and failed cleanly");
    T_OK(jcs_cert_verify(ca, c, k));
}

static int cli(int argc, char **argv)
{
    return jcs_cert_main(argc, argv);
}
#define CLI(...)                                                                                   \
    cli((int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)), (char *[]){__VA_ARGS__})

TEST(cli_usage_errors_return_2)
{
    char d[P];
    t_path(d, sizeof(d), "cliu");
    T_EQ_INT(CLI("cert"), 2);
    T_EQ_INT(CLI("cert", "bogus"), 2);
    T_EQ_INT(CLI("cert", "ca"), 2);
    T_EQ_INT(CLI("cert", "ca", "--out"), 2);
    T_EQ_INT(CLI("cert", "ca", "--out", d, "--frobnicate", "1"), 2);
    T_EQ_INT(CLI("cert", "ca", "--out", d, "--days", "ten"), 2);
    T_EQ_INT(CLI("cert", "issue", "--role", "hub", "--name", "h"), 2);
    T_EQ_INT(CLI("cert", "issue", "--role", "hub", "--name", "h", "--ca", d), 2);
    T_EQ_INT(CLI("cert", "--help"), 0);
    T_EQ_INT(CLI("cert", "issue", "--help"), 0);
    T_ASSERT(access(d, F_OK) != 0, "usage errors create nothing");
}

TEST(cli_ca_and_issue)
{
    char d[P], ca[P], c[P], k[P], out[4096];
    t_path(d, sizeof(d), "clio");
    T_EQ_INT(CLI("cert", "ca", "--out", d), 0);
    pathf(ca, "%s/ca_cert.pem", d);
    T_EQ_INT(run(out, sizeof(out), "openssl x509 -in %s -noout -subject", ca), 0);
    T_ASSERT(strstr(out, "CN = JCS-C cluster CA") != NULL, "%s", out);
    T_EQ_INT(CLI("cert", "ca", "--out", d), 1); /* the CA exists */

    T_EQ_INT(CLI("cert", "issue", "--role", "hub", "--name", "hub7", "--ca", d, "--out", d), 0);
    pathf(c, "%s/hub7_cert.pem", d);
    pathf(k, "%s/hub7_key.pem", d);
    T_OK(jcs_cert_verify(ca, c, k));
    T_EQ_INT(mode_of(k), 0600);
    /* No --san: the loopback addresses and localhost. */
    T_EQ_INT(run(out, sizeof(out), "openssl x509 -in %s -noout -ext subjectAltName", c), 0);
    T_ASSERT(strstr(out, "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost"), "%s",
             out);

    pathf(c, "%s/elsewhere.crt", d);
    pathf(k, "%s/elsewhere.key", d);
    T_EQ_INT(CLI("cert", "issue", "--role", "coordinator", "--name", "co", "--ca", d, "--san",
                 "10.0.0.5", "--san", "co.example", "--days", "7", "--cert-file", c, "--key-file",
                 k),
             0);
    T_OK(jcs_cert_verify(ca, c, k));
    T_EQ_INT(run(out, sizeof(out), "openssl x509 -in %s -noout -ext subjectAltName -subject", c),
             0);
    T_ASSERT(strstr(out, "IP Address:10.0.0.5, DNS:co.example") != NULL, "%s", out);
    T_ASSERT(strstr(out, "OU = coordinator, CN = co") != NULL, "%s", out);

    /* Failures are exit code 1. */
    T_EQ_INT(CLI("cert", "issue", "--role", "admin", "--name", "x", "--ca", d, "--out", d), 1);
    T_EQ_INT(
        CLI("cert", "issue", "--role", "hub", "--name", "x", "--ca", "/nonexistent", "--out", d),
        1);
}
