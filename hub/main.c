/*
 * hub - the data plane of JCS-C: serves its storage spaces, runs plan
 * fragments, and keeps itself registered with the coordinator.
 *
 *   hub serve -c hub.json [--ready-file F]
 *   hub cert ca|issue ...
 *   hub --version
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cert.h"
#include "config.h"
#include "hub.h"
#include "log.h"
#include "service.h"
#include "util.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hub serve -c HUB.json [--ready-file FILE]\n"
               "       hub cert ca|issue ...   (as coordinator cert)\n"
               "       hub --version\n"
               "example: hub serve -c /etc/jcs/hub1.json\n");
}

static void config_free(hub_config *c)
{
    jcs_free(c->name);
    jcs_free(c->location);
    jcs_free(c->listen);
    jcs_free(c->advertise);
    jcs_service_tls_clear(&c->tls);
    jcs_free(c->coordinator);
    jcs_free(c->storage_root);
    memset(c, 0, sizeof(*c));
}

/* The certificate's CN must be the hub's name: the coordinator refuses anything else. */
static int check_identity(const char *path, const hub_config *c)
{
    char *pem = NULL;
    size_t len = 0;
    char role[64], cn[256];
    int rc = jcs_read_file(c->tls.cert_file, 1 << 20, &pem, &len);
    if (!rc)
        rc = jcs_cert_subject_pem(pem, len, role, sizeof(role), cn, sizeof(cn));
    jcs_free(pem);
    if (rc)
        return jcs_err_wrap(rc, "%s: field rpc.cert: ", path);
    if (strcmp(role, "hub") != 0)
        return jcs_err_set(JCS_ECONFIG,
                           "%s: field rpc.cert: %s has role \"%s\", a hub needs a "
                           "certificate with OU=hub",
                           path, c->tls.cert_file, role);
    if (strcmp(cn, c->name) != 0)
        return jcs_err_set(JCS_ECONFIG,
                           "%s: field name: \"%s\" but the certificate %s is for "
                           "\"%s\"",
                           path, c->name, c->tls.cert_file, cn);
    return JCS_OK;
}

static int config_load(const char *path, hub_config *c)
{
    jcs_cfg f;
    char *tag = NULL;
    memset(c, 0, sizeof(*c));
    int rc = jcs_cfg_load(path, &f);
    if (rc)
        return rc;
    if ((rc = jcs_cfg_str(&f, "name", NULL, &c->name)) != 0)
        goto out;
    tag = jcs_asprintf("hub[%s]", c->name);
    if (!tag) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = jcs_service_logger(&f, tag)) ||
        (rc = jcs_cfg_str(&f, "location", NULL, &c->location)) ||
        (rc = jcs_cfg_str(&f, "listen", "127.0.0.1:5010", &c->listen)) ||
        (rc = jcs_cfg_str(&f, "advertiseAddress", "", &c->advertise)) ||
        (rc = jcs_service_tls_load(&f, "rpc", &c->tls)) ||
        (rc = jcs_service_rpc_idle(&f, "rpc.idleTimeoutSeconds")) ||
        (rc = jcs_cfg_bool(&f, "rpc.bulkChannel", true, true, &c->bulk_channel)) ||
        (rc = jcs_cfg_int(&f, "rpc.bulkPort", true, 0, 0, 65535, &c->bulk_port)) ||
        (rc = jcs_cfg_str(&f, "coordinatorRPC.address", "127.0.0.1:5009", &c->coordinator)) ||
        (rc = jcs_cfg_int(&f, "coordinatorRPC.startTimeoutSeconds", true, 15, 1, 3600,
                          &c->start_timeout_s)) ||
        (rc = jcs_cfg_int(&f, "connectivity.testInterval", true, 300, 1, 86400,
                          &c->test_interval_s)) ||
        (rc = jcs_cfg_int(&f, "heartbeatIntervalSeconds", true, 0, 0, 3600,
                          &c->heartbeat_interval_s)) ||
        (rc = jcs_cfg_path(&f, "storage.root", "storage", &c->storage_root)) ||
        (rc = jcs_cfg_int(&f, "storage.reclaimIntervalSeconds", true, 600, 1, 86400 * 7,
                          &c->reclaim_interval_s)) ||
        (rc = jcs_cfg_int(&f, "storage.reclaimAgeSeconds", true, 3600, 0, 86400 * 30,
                          &c->reclaim_age_s)))
        goto out;
    char host[256];
    int port;
    if ((rc = jcs_parse_addr(c->listen, host, sizeof(host), &port)) != 0) {
        rc = jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "%s: field listen: ", path);
        goto out;
    }
    if ((rc = jcs_parse_addr(c->coordinator, host, sizeof(host), &port)) != 0) {
        rc = jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG),
                          "%s: field coordinatorRPC.address: ", path);
        goto out;
    }
    rc = check_identity(path, c);
out:
    if (rc)
        config_free(c);
    jcs_free(tag);
    jcs_cfg_clear(&f);
    return rc;
}

/* The address other parties dial: advertiseAddress, else the listen host and bound port. */
static int advertised(hub *h, const char *path)
{
    char host[256];
    int port;
    if (h->cfg.advertise[0]) {
        snprintf(h->address, sizeof(h->address), "%s", h->cfg.advertise);
        return JCS_OK;
    }
    if (jcs_parse_addr(h->cfg.listen, host, sizeof(host), &port) != 0)
        return jcs_err_set(JCS_ECONFIG, "%s: field listen: bad address", path);
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        return jcs_err_set(JCS_ECONFIG,
                           "%s: field advertiseAddress: required when listen is a "
                           "wildcard (%s)",
                           path, h->cfg.listen);
    if (strchr(host, ':'))
        snprintf(h->address, sizeof(h->address), "[%s]:%d", host, jcs_rpc_server_port(h->srv));
    else
        snprintf(h->address, sizeof(h->address), "%s:%d", host, jcs_rpc_server_port(h->srv));
    return JCS_OK;
}

/*
 * Starts the bulk data channel on the listen host (rpc.bulkPort, any free
 * port by default); others learn its port from our Ping answer.
 */
static int bulk_start(hub *h, const jcs_tls_files *tls)
{
    char host[256];
    int port;
    if (!h->cfg.bulk_channel)
        return JCS_OK;
    if (jcs_parse_addr(h->cfg.listen, host, sizeof(host), &port) != 0)
        return jcs_err_set(JCS_ECONFIG, "field listen: bad address");
    int rc = jcs_bulk_server_start(host, (int)h->cfg.bulk_port, tls, JCS_ROLE_CLIENT | JCS_ROLE_HUB,
                                   hub_dataplane_bulk, h, &h->bulk);
    return rc ? rc : jcs_xfer_use_bulk(h->xfer);
}

static int serve(const char *config_path, const char *ready_file)
{
    hub h;
    int rc, exit_code = 1;
    memset(&h, 0, sizeof(h));
    atomic_store(&h.heartbeat_ms, 5000);
    jcs_rpc_init();
    if ((rc = config_load(config_path, &h.cfg)) != 0) {
        fprintf(stderr, "hub: %s\n", jcs_err_msg(rc));
        goto out;
    }
    if ((rc = jcs_stopper_new(&h.stop)) || (rc = jcs_mkdirs(h.cfg.storage_root, 0755)))
        goto fail;
    size_t n;
    const jcs_rpc_method *methods = hub_methods(&n);
    jcs_tls_files tls = jcs_service_tls_files(&h.cfg.tls);
    if ((rc = hub_dataplane_start(&h)) || (rc = bulk_start(&h, &tls)) ||
        (rc = jcs_rpc_server_create(h.cfg.listen, &tls, methods, n, &h, &h.srv)) ||
        (rc = jcs_rpc_server_start(h.srv)) || (rc = advertised(&h, config_path)) ||
        (rc = jcs_rpc_channel_open(h.cfg.coordinator, &tls, &h.coord)) ||
        (rc = hub_register(&h, h.cfg.start_timeout_s * 1000)) || (rc = hub_threads_start(&h)) ||
        (rc = jcs_service_ready(ready_file, h.address)))
        goto fail;
    jcs_info("serving on %s (JCS-C %s), storage %s, bulk port %d", h.address, JCS_VERSION,
             h.cfg.storage_root, h.bulk ? jcs_bulk_server_port(h.bulk) : 0);
    int sig = jcs_service_wait_signal();
    jcs_info("signal %d: shutting down", sig);
    exit_code = 0;
    goto out;
fail:
    fprintf(stderr, "hub: %s\n", jcs_err_msg(rc));
    jcs_error("%s", jcs_err_msg(rc));
out:
    if (h.stop)
        hub_threads_stop(&h);
    hub_dataplane_cancel_all(&h);
    jcs_bulk_server_free(h.bulk);
    if (h.srv)
        jcs_rpc_server_shutdown(h.srv);
    jcs_rpc_server_free(h.srv);
    hub_dataplane_stop(&h);
    jcs_rpc_channel_free(h.coord);
    jcs_stopper_free(h.stop);
    config_free(&h.cfg);
    jcs_rpc_shutdown();
    if (exit_code == 0)
        jcs_info("stopped");
    return exit_code;
}

int main(int argc, char **argv)
{
    jcs_alloc_service_init();
    return jcs_service_main("hub", argc, argv, usage, serve);
}
