/*
 * cert.c - the cluster CA and party certificates, made with OpenSSL 3.
 *
 * Files are read with jcs_read_file and parsed from memory, and written with
 * jcs_write_file, so every path that fails is named in the error detail and
 * modes are exact whatever the umask. OpenSSL's error queue is drained into
 * the detail line (and cleared) at each failure, so a later, unrelated
 * failure never reports a stale OpenSSL reason.
 */
#include "cert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "alloc.h"
#include "util.h"

#define PEM_MAX_BYTES     (1 << 20) /* a CA bundle; real files are ~1 KiB */
#define NAME_MAX_LEN      64        /* upper bound of a CN in X.520 */
#define SAN_MAX_LEN       253       /* a DNS name */
#define SANS_MAX          64
#define DAYS_MAX          36500
#define CA_DEFAULT_CN     "JCS-C cluster CA"
#define CA_DEFAULT_DAYS   3650
#define LEAF_DEFAULT_DAYS 825
/* Certificates start a little in the past so a peer whose clock lags accepts them at once. */
#define BACKDATE_SECONDS (5 * 60)

/* OpenSSL's reason for the last failure (or fallback when its queue is empty); clears the queue. */
static const char *ossl_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (!e) {
        snprintf(buf, len, "%s", fallback);
    } else {
        const char *reason = ERR_reason_error_string(e);
        const char *lib = ERR_lib_error_string(e);
        if (reason && lib)
            snprintf(buf, len, "%s (%s)", reason, lib);
        else
            ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
    return buf;
}

/* JCS_ETLS "what: OpenSSL's reason" for a failure of an OpenSSL call. */
static int tls_fail(const char *what, const char *fallback)
{
    char reason[256];
    return jcs_err_set(JCS_ETLS, "%s: %s", what, ossl_reason(reason, sizeof(reason), fallback));
}

static int valid_role(const char *role)
{
    return role && (strcmp(role, "coordinator") == 0 || strcmp(role, "hub") == 0 ||
                    strcmp(role, "client") == 0 || strcmp(role, "server") == 0);
}

static int valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A DNS SAN: letters, digits, '-', '.', and '*' for wildcards; anything else is a typo. */
static int valid_dns(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > SAN_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '*' || c == '_'))
            return 0;
    }
    return 1;
}

static int is_ip(const char *s)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

static int check_days(int days)
{
    if (days < 1 || days > DAYS_MAX)
        return jcs_err_set(JCS_EINVAL, "days %d: must be 1..%d", days, DAYS_MAX);
    return JCS_OK;
}

/* Reads a PEM file for parsing; every failure (missing, unreadable, too big) is JCS_ETLS. */
static int read_pem(const char *path, BIO **out)
{
    char *text;
    size_t len;
    int rc = jcs_read_file(path, PEM_MAX_BYTES, &text, &len);
    if (rc)
        return rc == JCS_ENOMEM ? rc : jcs_err_recode(rc, JCS_ETLS); /* the detail names path */
    /* A copying BIO so the text can be wiped and freed here. */
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = bio && BIO_write(bio, text, (int)len) == (int)len;
    OPENSSL_cleanse(text, len);
    jcs_free(text);
    if (!ok) {
        BIO_free(bio);
        return tls_fail(path, "cannot buffer file");
    }
    *out = bio;
    return JCS_OK;
}

/* The first certificate of a PEM file. Caller frees with X509_free. */
static int load_cert(const char *path, X509 **out)
{
    BIO *bio;
    int rc = read_pem(path, &bio);
    if (rc)
        return rc;
    ERR_clear_error();
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x)
        return tls_fail(path, "no certificate found");
    *out = x;
    return JCS_OK;
}

/* The private key of a PEM file. Caller frees with EVP_PKEY_free. */
static int load_key(const char *path, EVP_PKEY **out)
{
    BIO *bio;
    int rc = read_pem(path, &bio);
    if (rc)
        return rc;
    ERR_clear_error();
    /* An empty passphrase callback result: encrypted keys fail instead of prompting on a tty. */
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    if (!k)
        return tls_fail(path, "no private key found");
    *out = k;
    return JCS_OK;
}

/* Writes a key (0600) or a certificate (0644) as PEM through jcs_write_file. */
static int write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
    /* The secure-heap BIO wipes the key bytes when freed. */
    BIO *bio = BIO_new(key ? BIO_s_secmem() : BIO_s_mem());
    if (!bio)
        return tls_fail(path, "cannot allocate a buffer");
    int ok = key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_bio_X509(bio, x);
    if (!ok) {
        BIO_free(bio);
        return tls_fail(path, "cannot encode PEM");
    }
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int rc = len > 0 ? jcs_write_file(path, data, (size_t)len, key ? 0600 : 0644)
                     : tls_fail(path, "empty PEM");
    BIO_free(bio);
    return rc;
}

static int new_key(EVP_PKEY **out)
{
    ERR_clear_error();
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!k)
        return tls_fail("generating an EC P-256 key", "failed");
    *out = k;
    return JCS_OK;
}

/* Subject "CN=<cn>, OU=<ou>, O=JCS-C"; ou may be NULL (the CA has none). */
static int set_subject(X509 *x, const char *ou, const char *cn)
{
    X509_NAME *n = X509_get_subject_name(x);
    const unsigned char *o = (const unsigned char *)"JCS-C";
    if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, o, -1, -1, 0) ||
        (ou && !X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1,
                                           -1, 0)) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
        return tls_fail("setting the subject name", "failed");
    return JCS_OK;
}

/*
 * Version 3, a random positive 128-bit serial (unique without a serial file),
 * validity, public key and issuer name: everything but the extensions.
 */
static int init_cert(X509 *x, EVP_PKEY *key, const X509_NAME *issuer, int days)
{
    BIGNUM *bn = BN_new();
    int ok = bn && X509_set_version(x, X509_VERSION_3);
    while (ok) {
        ok = BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
        if (!ok || !BN_is_zero(bn))
            break;
    }
    ok = ok && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) &&
         X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) && X509_set_pubkey(x, key) &&
         (issuer ? X509_set_issuer_name(x, issuer)
                 : X509_set_issuer_name(x, X509_get_subject_name(x)));
    return ok ? JCS_OK : tls_fail("building a certificate", "failed");
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (!ok) {
        char what[128];
        snprintf(what, sizeof(what), "adding extension %s = %s", OBJ_nid2sn(nid), value);
        return tls_fail(what, "failed");
    }
    return JCS_OK;
}

/* subjectAltName: IP entries for what parses as IPv4/IPv6, DNS entries otherwise. */
static int add_sans(X509 *x, const char *const *sans, size_t nsans)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    int ok = gens != NULL;
    for (size_t i = 0; ok && i < nsans; i++) {
        GENERAL_NAME *gen = GENERAL_NAME_new();
        if (!gen) {
            ok = 0;
            break;
        }
        if (is_ip(sans[i])) {
            ASN1_OCTET_STRING *ip = a2i_IPADDRESS(sans[i]);
            if (ip)
                GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
            ok = ip != NULL;
        } else {
            ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
            ok = dns && ASN1_STRING_set(dns, sans[i], -1);
            if (dns && ok)
                GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
            else
                ASN1_IA5STRING_free(dns);
        }
        if (!ok || !sk_GENERAL_NAME_push(gens, gen)) {
            GENERAL_NAME_free(gen);
            ok = 0;
        }
    }
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    return ok ? JCS_OK : tls_fail("adding subjectAltName", "failed");
}

static int sign(X509 *x, EVP_PKEY *key)
{
    ERR_clear_error();
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        return tls_fail("signing the certificate", "failed");
    return JCS_OK;
}

int jcs_cert_create_ca(const char *dir, const char *cn, int days)
{
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    char *cert_path = NULL, *key_path = NULL;
    int rc;

    if (!dir || !*dir)
        return jcs_err_set(JCS_EINVAL, "CA directory: empty path");
    if (!cn || !*cn || strlen(cn) > NAME_MAX_LEN)
        return jcs_err_set(JCS_EINVAL, "CA name \"%s\": must be 1..%d bytes", cn ? cn : "",
                           NAME_MAX_LEN);
    if ((rc = check_days(days)))
        return rc;
    cert_path = jcs_asprintf("%s/%s", dir, JCS_CA_CERT_FILE);
    key_path = jcs_asprintf("%s/%s", dir, JCS_CA_KEY_FILE);
    if (!cert_path || !key_path) {
        rc = jcs_err_set(JCS_ENOMEM, "%s: out of memory", dir);
        goto out;
    }
    if ((rc = jcs_mkdirs(dir, 0700)))
        goto out;
    /* Replacing a CA key would orphan every certificate of the cluster: never do it silently. */
    if (access(key_path, F_OK) == 0 || errno != ENOENT) {
        rc = jcs_err_set(JCS_EEXIST, "%s: a CA key already exists; remove it to make a new CA",
                         key_path);
        goto out;
    }
    if ((rc = new_key(&key)))
        goto out;
    x = X509_new();
    if (!x) {
        rc = tls_fail("creating a certificate", "out of memory");
        goto out;
    }
    X509V3_CTX ctx;
    if ((rc = set_subject(x, NULL, cn)) || (rc = init_cert(x, key, NULL, days)))
        goto out;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE")) ||
        (rc = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
        (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) ||
        (rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) ||
        (rc = sign(x, key)))
        goto out;
    /* The certificate first: if the key cannot be written, a retry is not blocked by it. */
    if ((rc = write_pem(cert_path, x, NULL)) || (rc = write_pem(key_path, NULL, key)))
        goto out;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    jcs_free(cert_path);
    jcs_free(key_path);
    return rc;
}

static int check_req(const jcs_cert_req *req)
{
    if (!req)
        return jcs_err_set(JCS_EINVAL, "no certificate request");
    if (!valid_role(req->role))
        return jcs_err_set(JCS_EINVAL, "role \"%s\": must be coordinator, hub, client or server",
                           req->role ? req->role : "");
    if (!valid_name(req->name))
        return jcs_err_set(JCS_EINVAL, "name \"%s\": must be 1..%d characters of A-Z a-z 0-9 . _ -",
                           req->name ? req->name : "", NAME_MAX_LEN);
    if (req->nsans > SANS_MAX)
        return jcs_err_set(JCS_EINVAL, "%zu subjectAltNames: at most %d", req->nsans, SANS_MAX);
    for (size_t i = 0; i < req->nsans; i++) {
        const char *s = req->sans[i];
        if (!s || (!is_ip(s) && !valid_dns(s)))
            return jcs_err_set(JCS_EINVAL, "subjectAltName \"%s\": not an IP address or DNS name",
                               s ? s : "");
    }
    return check_days(req->days);
}

int jcs_cert_issue(const char *ca_cert, const char *ca_key, const jcs_cert_req *req,
                   const char *cert_out, const char *key_out)
{
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *cakey = NULL, *key = NULL;
    int rc;

    if ((rc = check_req(req)))
        return rc;
    if (!ca_cert || !ca_key || !cert_out || !key_out)
        return jcs_err_set(JCS_EINVAL, "certificate or key path missing");
    if ((rc = load_cert(ca_cert, &ca)) || (rc = load_key(ca_key, &cakey)))
        goto out;
    ERR_clear_error();
    if (!X509_check_private_key(ca, cakey)) {
        char reason[256];
        rc = jcs_err_set(JCS_ETLS, "%s: does not match CA certificate %s: %s", ca_key, ca_cert,
                         ossl_reason(reason, sizeof(reason), "key mismatch"));
        goto out;
    }
    if ((rc = new_key(&key)))
        goto out;
    x = X509_new();
    if (!x) {
        rc = tls_fail("creating a certificate", "out of memory");
        goto out;
    }
    if ((rc = set_subject(x, req->role, req->name)) ||
        (rc = init_cert(x, key, X509_get_subject_name(ca), req->days)))
        goto out;
    /* A certificate outliving its CA would only fail later, with a less obvious error. */
    if (X509_cmp_time(X509_get0_notAfter(ca), NULL) > 0 &&
        ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)) > 0 &&
        !X509_set1_notAfter(x, X509_get0_notAfter(ca))) {
        rc = tls_fail("setting notAfter", "failed");
        goto out;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) ||
        (rc = add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment")) ||
        (rc = add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth")) ||
        (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) ||
        (rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")))
        goto out;
    if (req->nsans && (rc = add_sans(x, req->sans, req->nsans)))
        goto out;
    if ((rc = sign(x, cakey)))
        goto out;
    if ((rc = write_pem(key_out, NULL, key)) || (rc = write_pem(cert_out, x, NULL)))
        goto out;
out:
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(cakey);
    return rc;
}

int jcs_cert_verify(const char *ca_file, const char *cert_file, const char *key_file)
{
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;
    int rc, n = 0;

    if (!ca_file || !cert_file)
        return jcs_err_set(JCS_EINVAL, "CA or certificate path missing");
    if ((rc = read_pem(ca_file, &bio)))
        return rc;
    store = X509_STORE_new();
    if (!store) {
        rc = tls_fail(ca_file, "out of memory");
        goto out;
    }
    /* Every certificate of the CA file is trusted, so a bundle (old and new CA) works. */
    for (;;) {
        X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!ca)
            break;
        int ok = X509_STORE_add_cert(store, ca);
        X509_free(ca);
        if (!ok) {
            rc = tls_fail(ca_file, "cannot add to the trust store");
            goto out;
        }
        n++;
    }
    if (n == 0) {
        rc = tls_fail(ca_file, "no certificate found");
        goto out;
    }
    ERR_clear_error(); /* the end of the file leaves a "no start line" behind */
    if ((rc = load_cert(cert_file, &x)))
        goto out;
    ctx = X509_STORE_CTX_new();
    if (!ctx || !X509_STORE_CTX_init(ctx, store, x, NULL)) {
        rc = tls_fail(cert_file, "cannot set up verification");
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        rc = jcs_err_set(JCS_ETLS, "%s: not valid under CA %s: %s", cert_file, ca_file,
                         X509_verify_cert_error_string(e));
        ERR_clear_error();
        goto out;
    }
    if (key_file) {
        if ((rc = load_key(key_file, &key)))
            goto out;
        ERR_clear_error();
        if (!X509_check_private_key(x, key)) {
            char reason[256];
            rc = jcs_err_set(JCS_ETLS, "%s: does not match certificate %s: %s", key_file, cert_file,
                             ossl_reason(reason, sizeof(reason), "key mismatch"));
            goto out;
        }
    }
    rc = JCS_OK;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(x);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

/*
 * Copies the single entry nid of a subject into out. Two entries are refused:
 * the RPC layer decides on the role, so the subject must not be ambiguous.
 */
static int subject_field(const X509_NAME *subj, int nid, const char *label, char *out,
                         size_t outlen)
{
    int i = X509_NAME_get_index_by_NID(subj, nid, -1);
    if (i < 0)
        return jcs_err_set(JCS_ETLS, "certificate subject has no %s", label);
    if (X509_NAME_get_index_by_NID(subj, nid, i) >= 0)
        return jcs_err_set(JCS_ETLS, "certificate subject has more than one %s", label);
    ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, v);
    if (n < 0)
        return tls_fail("certificate subject", "cannot decode");
    int rc = JCS_OK;
    if (memchr(utf8, '\0', (size_t)n))
        rc = jcs_err_set(JCS_ETLS, "certificate subject %s contains a NUL byte", label);
    else if ((size_t)n >= outlen)
        rc = jcs_err_set(JCS_ETOOBIG, "certificate subject %s: %d bytes do not fit in %zu", label,
                         n, outlen);
    else {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
    }
    OPENSSL_free(utf8);
    return rc;
}

int jcs_cert_subject_pem(const char *pem, size_t len, char *role, size_t rolelen, char *name,
                         size_t namelen)
{
    if (!pem || len > INT_MAX)
        return jcs_err_set(JCS_ETLS, "certificate PEM: missing or too large");
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return tls_fail("certificate PEM", "out of memory");
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x)
        return tls_fail("certificate PEM", "does not parse");
    const X509_NAME *subj = X509_get_subject_name(x);
    int rc = JCS_OK;
    if (role)
        rc = subject_field(subj, NID_organizationalUnitName, "OU", role, rolelen);
    if (!rc && name)
        rc = subject_field(subj, NID_commonName, "CN", name, namelen);
    X509_free(x);
    return rc;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: cert ca --out DIR [--cn NAME] [--days N]\n"
               "       cert issue --role ROLE --name NAME --ca DIR --out DIR [--san ADDR]... "
               "[--days N] [--cert-file F --key-file F]\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "cert: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    usage(stderr);
    return 2;
}

static int parse_days(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > DAYS_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int fail(int rc)
{
    fprintf(stderr, "cert: %s\n", jcs_err_msg(rc));
    return 1;
}

static int main_ca(int argc, char **argv)
{
    const char *out = NULL, *cn = CA_DEFAULT_CN;
    int days = CA_DEFAULT_DAYS;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--out") && strcmp(a, "--cn") && strcmp(a, "--days"))
            return usage_error("unknown option %s", a);
        if (i + 1 >= argc)
            return usage_error("%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--cn") == 0)
            cn = v;
        else if (parse_days(v, &days))
            return usage_error("--days %s: want a whole number of days, 1..36500", v);
    }
    if (!out)
        return usage_error("%s", "ca: --out DIR is required");
    int rc = jcs_cert_create_ca(out, cn, days);
    if (rc)
        return fail(rc);
    printf("cert: wrote %s/%s and %s/%s\n", out, JCS_CA_CERT_FILE, out, JCS_CA_KEY_FILE);
    return 0;
}

static int main_issue(int argc, char **argv)
{
    const char *role = NULL, *name = NULL, *ca = NULL, *out = NULL, *cert_file = NULL,
               *key_file = NULL;
    jcs_cert_req req = {.days = LEAF_DEFAULT_DAYS};
    static const char *const default_sans[] = {"127.0.0.1", "::1", "localhost"};
    /* argv outlives this call, so the SAN list only points into it. */
    const char **sans = jcs_calloc((size_t)argc, sizeof(*sans));
    size_t nsans = 0;
    char *cpath = NULL, *kpath = NULL, *ca_cert = NULL, *ca_key = NULL;
    int rc, ret;

    if (!sans)
        return fail(jcs_err_set(JCS_ENOMEM, "out of memory"));
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            ret = 0;
            goto out;
        }
        const char **slot = strcmp(a, "--role") == 0        ? &role
                            : strcmp(a, "--name") == 0      ? &name
                            : strcmp(a, "--ca") == 0        ? &ca
                            : strcmp(a, "--out") == 0       ? &out
                            : strcmp(a, "--cert-file") == 0 ? &cert_file
                            : strcmp(a, "--key-file") == 0  ? &key_file
                                                            : NULL;
        if (!slot && strcmp(a, "--san") && strcmp(a, "--days")) {
            ret = usage_error("unknown option %s", a);
            goto out;
        }
        if (i + 1 >= argc) {
            ret = usage_error("%s needs a value", a);
            goto out;
        }
        const char *v = argv[++i];
        if (slot) {
            *slot = v;
        } else if (strcmp(a, "--san") == 0) {
            sans[nsans++] = v;
        } else if (parse_days(v, &req.days)) {
            ret = usage_error("--days %s: want a whole number of days, 1..36500", v);
            goto out;
        }
    }
    if (!role || !name || !ca || (!out && !(cert_file && key_file))) {
        ret = usage_error("%s", "issue: --role, --name, --ca and --out are required");
        goto out;
    }
    req.role = role;
    req.name = name;
    req.sans = nsans ? sans : default_sans;
    req.nsans = nsans ? nsans : sizeof(default_sans) / sizeof(default_sans[0]);
    /* Check before building file names from name, so a bad name is reported as such. */
    if ((rc = check_req(&req))) {
        ret = fail(rc);
        goto out;
    }
    ca_cert = jcs_asprintf("%s/%s", ca, JCS_CA_CERT_FILE);
    ca_key = jcs_asprintf("%s/%s", ca, JCS_CA_KEY_FILE);
    cpath = cert_file ? jcs_strdup(cert_file) : jcs_asprintf("%s/%s_cert.pem", out, name);
    kpath = key_file ? jcs_strdup(key_file) : jcs_asprintf("%s/%s_key.pem", out, name);
    if (!ca_cert || !ca_key || !cpath || !kpath) {
        ret = fail(jcs_err_set(JCS_ENOMEM, "out of memory"));
        goto out;
    }
    if (out && (rc = jcs_mkdirs(out, 0700))) {
        ret = fail(rc);
        goto out;
    }
    if ((rc = jcs_cert_issue(ca_cert, ca_key, &req, cpath, kpath))) {
        ret = fail(rc);
        goto out;
    }
    printf("cert: wrote %s and %s (%s %s)\n", cpath, kpath, role, name);
    ret = 0;
out:
    jcs_free(sans);
    jcs_free(cpath);
    jcs_free(kpath);
    jcs_free(ca_cert);
    jcs_free(ca_key);
    return ret;
}

int jcs_cert_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "ca") == 0)
        return main_ca(argc, argv);
    if (strcmp(argv[1], "issue") == 0)
        return main_issue(argc, argv);
    return usage_error("unknown command %s", argv[1]);
}
