/*
 * http_config.c - the "http" section of the client's config.json
 * (http_config.h).
 */
#include "http_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* ======================================================================
 * Configuration
 * ====================================================================== */

void jcs_http_config_clear(jcs_http_config *c)
{
    if (!c)
        return;
    jcs_free(c->listen);
    jcs_free(c->cert_file);
    jcs_free(c->key_file);
    jcs_free(c->root_ca_file);
    for (size_t i = 0; i < c->nclient_certs; i++)
        jcs_free(c->client_cert_files[i]);
    jcs_free(c->client_cert_files);
    memset(c, 0, sizeof(*c));
}

int jcs_http_config_load(const jcs_cfg *cfg, jcs_http_config *out)
{
    long long v;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = jcs_cfg_str(cfg, "http.listen", "127.0.0.1:7890", &out->listen)) ||
        (rc = jcs_cfg_file(cfg, "http.serverCert", &out->cert_file)) ||
        (rc = jcs_cfg_file(cfg, "http.serverKey", &out->key_file)) ||
        (rc = jcs_cfg_file(cfg, "http.rootCA", &out->root_ca_file)))
        goto fail;
    json_t *cc = jcs_cfg_get(cfg, "http.clientCerts");
    if (cc) {
        if (!json_is_array(cc)) {
            rc = jcs_err_set(JCS_ECONFIG, "%s: field http.clientCerts: must be an array of paths",
                             cfg->path);
            goto fail;
        }
        size_t n = json_array_size(cc);
        if (n > JCS_HTTP_MAX_CLIENT_CERTS) {
            rc = jcs_err_set(JCS_ECONFIG, "%s: field http.clientCerts: more than %d entries",
                             cfg->path, JCS_HTTP_MAX_CLIENT_CERTS);
            goto fail;
        }
        if (n) {
            out->client_cert_files = jcs_calloc(n, sizeof(char *));
            if (!out->client_cert_files) {
                rc = jcs_err_set(JCS_ENOMEM, "out of memory");
                goto fail;
            }
        }
        for (size_t i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(cc, i));
            if (!s || !*s) {
                rc = jcs_err_set(JCS_ECONFIG,
                                 "%s: field http.clientCerts[%zu]: must be a non-empty path",
                                 cfg->path, i);
                goto fail;
            }
            char *p = s[0] == '/' ? jcs_strdup(s) : jcs_asprintf("%s/%s", cfg->dir, s);
            if (!p) {
                rc = jcs_err_set(JCS_ENOMEM, "out of memory");
                goto fail;
            }
            out->client_cert_files[out->nclient_certs++] = p;
        }
    }
    if ((rc = jcs_cfg_int(cfg, "http.maxBodySize", true, 5242880, 1024, 1LL << 30, &v)))
        goto fail;
    out->max_body_size = (size_t)v;
    if ((rc = jcs_cfg_int(cfg, "http.maxConnections", true, 2048, 1, 100000, &v)))
        goto fail;
    out->max_connections = (unsigned)v;
    if ((rc = jcs_cfg_int(cfg, "http.maxConnectionsPerAddress", true, 64, 1, 100000, &v)))
        goto fail;
    out->max_connections_per_address = (unsigned)v;
    if ((rc = jcs_cfg_int(cfg, "http.headerTimeoutSec", true, 10, 1, 3600, &v)))
        goto fail;
    out->header_timeout_s = (unsigned)v;
    if ((rc = jcs_cfg_int(cfg, "http.handshakeTimeoutSec", true, 5, 1, 3600, &v)))
        goto fail;
    out->handshake_timeout_s = (unsigned)v;
    /* The default yields to a shorter header deadline; a value given is checked. */
    if (!jcs_cfg_get(cfg, "http.handshakeTimeoutSec") &&
        out->handshake_timeout_s > out->header_timeout_s)
        out->handshake_timeout_s = out->header_timeout_s;
    if (out->handshake_timeout_s > out->header_timeout_s) {
        rc = jcs_err_set(JCS_ECONFIG,
                         "%s: field http.handshakeTimeoutSec: %u s is longer than "
                         "http.headerTimeoutSec (%u s), which already ends with the handshake "
                         "and the headers; make it at most %u",
                         cfg->path, out->handshake_timeout_s, out->header_timeout_s,
                         out->header_timeout_s);
        goto fail;
    }
    if ((rc = jcs_cfg_int(cfg, "http.timeoutSec", true, 60, 1, 86400, &v)))
        goto fail;
    out->timeout_s = (unsigned)v;
    if ((rc = jcs_cfg_int(cfg, "http.maxParts", true, 10000, 1, 1000000, &v)))
        goto fail;
    out->max_parts = (unsigned)v;
    bool tpc;
    if ((rc = jcs_cfg_bool(cfg, "http.threadPerConnection", true, false, &tpc)))
        goto fail;
    out->thread_per_connection = tpc;
    if ((rc = jcs_cfg_int(cfg, "http.eventThreads", true, 2, 1, 64, &v)))
        goto fail;
    out->event_threads = (unsigned)v;
    if ((rc = jcs_cfg_int(cfg, "http.workerThreads", true, 256, 1, 4096, &v)))
        goto fail;
    out->worker_threads = (unsigned)v;
    return JCS_OK;
fail:
    jcs_http_config_clear(out);
    return rc;
}
