/*
 * cert.h - the cluster's certificates, made with the OpenSSL API.
 *
 * One CA per cluster signs every party's certificate. A party's role is the
 * OU of its subject ("CN=<name>, OU=<role>, O=JCS-C"), which the RPC layer
 * checks before each method. Keys are EC P-256; every private key is
 * written with mode 0600, certificates 0644. Certificates carry both
 * serverAuth and clientAuth (hubs and the coordinator are both servers and
 * clients) and subjectAltNames for the addresses they listen on.
 */
#ifndef JCS_CERT_H
#define JCS_CERT_H

#include <stddef.h>

#include "err.h"

/* File names inside a CA directory. */
#define JCS_CA_CERT_FILE "ca_cert.pem"
#define JCS_CA_KEY_FILE  "ca_key.pem"

/*
 * Creates DIR/ca_cert.pem and DIR/ca_key.pem (DIR is created 0700 if
 * missing) for a self-signed CA named cn, valid for days. Refuses with
 * JCS_EEXIST to overwrite an existing CA key.
 */
int jcs_cert_create_ca(const char *dir, const char *cn, int days) JCS_MUST_USE;

typedef struct jcs_cert_req {
    const char *role;        /* "coordinator", "hub", "client" (becomes OU); "server" for
                                an HTTPS server under a CA of its own (jcs init), a role
                                no RPC method accepts */
    const char *name;        /* CN */
    const char *const *sans; /* "127.0.0.1", "::1", "localhost", "hub1.example" (IPs detected) */
    size_t nsans;
    int days;
} jcs_cert_req;

/*
 * Issues a certificate signed by the CA in ca_cert/ca_key, writing cert_out
 * (0644) and key_out (0600). Errors name the file that could not be read or
 * written (JCS_ETLS, JCS_EIO) or the bad field (JCS_EINVAL).
 */
int jcs_cert_issue(const char *ca_cert, const char *ca_key, const jcs_cert_req *req,
                   const char *cert_out, const char *key_out) JCS_MUST_USE;

/*
 * Checks that cert_file is signed by ca_file, is within its validity, and
 * that key_file (when not NULL) matches it. JCS_ETLS with a detail naming
 * the file and the reason otherwise.
 */
int jcs_cert_verify(const char *ca_file, const char *cert_file, const char *key_file) JCS_MUST_USE;

/*
 * Reads the subject of a PEM certificate given in memory: writes the OU
 * into role (rolelen bytes) and the CN into name (namelen bytes), either
 * may be NULL. JCS_ETLS when the PEM does not parse.
 */
int jcs_cert_subject_pem(const char *pem, size_t len, char *role, size_t rolelen, char *name,
                         size_t namelen) JCS_MUST_USE;

/*
 * The command line shared by the binaries that make certificates:
 *   cert ca --out DIR [--cn NAME] [--days N]
 *   cert issue --role ROLE --name NAME --ca DIR --out DIR [--san ADDR]... [--days N]
 * (issue writes DIR/<name>_cert.pem and DIR/<name>_key.pem unless --cert-file /
 * --key-file are given). argv[0] is "cert". Returns the process exit code
 * (0 ok, 1 failure, 2 usage) and prints one clear line on failure.
 */
int jcs_cert_main(int argc, char **argv);

#endif
