/*
 * http_config.h - the HTTPS server's settings and the "http" section of the
 * client's config.json that fills them.
 */
#ifndef JCS_HTTP_CONFIG_H
#define JCS_HTTP_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "err.h"

#define JCS_HTTP_MAX_CLIENT_CERTS 1024 /* http.clientCerts entries */

/*
 * Server settings. Filled by jcs_http_config_load, the strings are owned
 * (jcs_http_config_clear releases them); filled by hand they are borrowed and
 * only need to live until jcs_http_start returns. Zero numbers take the
 * defaults in brackets.
 */
typedef struct jcs_http_config {
    char *listen;       /* "127.0.0.1:7890", "[::1]:0"; port 0 picks a free port */
    char *cert_file;    /* server certificate (chain), PEM */
    char *key_file;     /* its private key, PEM */
    char *root_ca_file; /* client certificates must chain to this CA (PEM, may hold several) */
    char *
        *client_cert_files; /* NULL or nclient_certs PEM files, each accepted when byte-identical */
    size_t nclient_certs;
    unsigned max_connections; /* open connections, each one thread [64] */
    size_t max_body_size;     /* JSON (and ignored) bodies [5 MiB]; not streamed bodies */
    unsigned timeout_s;       /* an idle connection is closed after this [60] */
    unsigned max_parts;       /* parts of one multipart body [10000] */
    /* 0 [default]: a thread per connection. N > 0: N event threads shared by
     * all connections (MHD's epoll pool), which is only safe when no callback
     * ever blocks; kept for benchmarks, not read from the config file. */
    unsigned pool_threads;
} jcs_http_config;

/*
 * Reads the "http" section of a client config: listen [127.0.0.1:7890],
 * serverCert, serverKey, rootCA (required; relative paths are taken from
 * the config file's directory), clientCerts (array of paths) [none],
 * maxBodySize [5242880], maxConnections [64], timeoutSec [60], maxParts
 * [10000]. JCS_ECONFIG naming the file and field; on success the caller
 * frees with jcs_http_config_clear; after a failure out is empty.
 */
int jcs_http_config_load(const jcs_cfg *cfg, jcs_http_config *out) JCS_MUST_USE;
void jcs_http_config_clear(jcs_http_config *c);

#endif
