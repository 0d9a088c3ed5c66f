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
    unsigned max_connections; /* open connections [2048] */
    /* open connections from one IP address [64]: more are closed at once */
    unsigned max_connections_per_address;
    /* a connection must finish its TLS handshake and send a request's headers within this
     * many seconds of being accepted (or of its previous request's end), in total time [10] */
    unsigned header_timeout_s;
    /* a connection must finish its TLS handshake within this many seconds of being accepted
     * (at most header_timeout_s, which also counts the handshake) [5] */
    unsigned handshake_timeout_s;
    size_t max_body_size; /* JSON (and ignored) bodies [5 MiB]; not streamed bodies */
    unsigned timeout_s;   /* an idle connection is closed after this [60] */
    unsigned max_parts;   /* parts of one multipart body [10000] */
    /* The connection model (http.h, "Thread model"). 0 [default]: event-driven, event_threads
     * epoll threads [2] serve every connection and the callbacks run on at most worker_threads
     * worker threads [256], started as work arrives. 1: the old model, a thread per open
     * connection, kept as a fallback and for benchmarks. */
    int thread_per_connection;
    unsigned event_threads;
    unsigned worker_threads;
    /*
     * Set by a listener whose requests authenticate otherwise (the S3
     * gateway signs requests): no client certificate is asked for or
     * checked, root_ca_file and the pins are not needed. Not read from the
     * config file.
     */
    int no_client_cert;
    /*
     * Paths and query parameters are handed over exactly as sent, not
     * percent-decoded (jcs_http_req_path, jcs_http_query*), for a protocol
     * that signs the encoded form and decodes itself. Not read from the
     * config file.
     */
    int raw_paths;
} jcs_http_config;

/*
 * Reads the "http" section of a client config: listen [127.0.0.1:7890],
 * serverCert, serverKey, rootCA (required; relative paths are taken from
 * the config file's directory), clientCerts (array of paths) [none],
 * maxBodySize [5242880], maxConnections [2048], maxConnectionsPerAddress [64],
 * headerTimeoutSec [10], handshakeTimeoutSec [5, or headerTimeoutSec if shorter; at most
 * headerTimeoutSec], timeoutSec [60],
 * maxParts [10000], threadPerConnection [false], eventThreads [2], workerThreads [256]. JCS_ECONFIG
 * naming the file and field; on success the caller frees with jcs_http_config_clear; after a
 * failure out is empty.
 */
int jcs_http_config_load(const jcs_cfg *cfg, jcs_http_config *out) JCS_MUST_USE;
void jcs_http_config_clear(jcs_http_config *c);

#endif
