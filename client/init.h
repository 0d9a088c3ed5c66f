/*
 * client/init.h - `jcs init`: writes config.json and the HTTP service's
 * certificates (docs/DESIGN.md §6).
 *
 *   jcs init [--yes] [--force] [--dir DIR] [--coordinator ADDR] [--rpc-ca FILE]
 *            [--rpc-cert FILE] [--rpc-key FILE] [--location NAME] [--db-address ADDR]
 *            [--db-account NAME] [--db-password PW] [--db-name NAME]
 *            [--http-listen ADDR] [--cert-days N]
 *
 * Every value not given as a flag is asked for, with its default in
 * brackets (an empty answer takes it). Answers come from the terminal or,
 * when stdin is not one, one per line from stdin, so `jcs init` is
 * scriptable by flags (--yes takes the defaults of everything not given) or
 * by a pipe.
 *
 * It writes into DIR (created 0700 when missing): config.json (0600: it
 * holds the database password), ca_cert.pem + ca_key.pem (a new CA for the
 * HTTP service only, separate from the cluster CA), server_cert.pem +
 * server_key.pem (OU=server, SANs: the listen host, 127.0.0.1, localhost),
 * client_cert.pem + client_key.pem (OU=client, for jcsctl). Keys are 0600.
 * Paths in config.json are absolute. Everything is made in a temporary
 * directory inside DIR and renamed into place, config.json last, so a
 * failure leaves no half-written set. Existing files are never replaced
 * without --force; the refusal names the file.
 */
#ifndef JCS_CLIENT_INIT_H
#define JCS_CLIENT_INIT_H

/* argv[0] is "init". Returns the exit code: 0 done, 1 failed, 2 usage error. */
int jcs_init_main(int argc, char **argv);

/* The usage lines of `jcs init` (for jcs --help). */
extern const char jcs_init_usage[];

#endif
