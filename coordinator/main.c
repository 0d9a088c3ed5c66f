/*
 * coordinator - the registry of locations and hubs, hub liveness, the
 * hub-to-hub latency matrix and lease locks.
 *
 *   coordinator serve -c coordinator.json [--ready-file F]
 *   coordinator cert ca|issue ...      (the cluster's certificates)
 *   coordinator --version
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "cert.h"
#include "config.h"
#include "coord.h"
#include "log.h"
#include "service.h"
#include "util.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: coordinator serve -c CONFIG.json [--ready-file FILE]\n"
               "       coordinator cert ca --out DIR [--cn NAME] [--days N]\n"
               "       coordinator cert issue --role ROLE --name NAME --ca DIR --out DIR "
               "[--san ADDR]...\n"
               "       coordinator --version\n"
               "example: coordinator serve -c /etc/jcs/coordinator.json\n");
}

static void config_free(coord_config *cfg)
{
    jcs_free(cfg->listen);
    jcs_service_tls_clear(&cfg->tls);
    jcs_free(cfg->db_address);
    jcs_free(cfg->db_socket);
    jcs_free(cfg->db_user);
    jcs_free(cfg->db_password);
    jcs_free(cfg->db_name);
    memset(cfg, 0, sizeof(*cfg));
}

static int config_load(const char *path, coord_config *cfg)
{
    jcs_cfg f;
    memset(cfg, 0, sizeof(*cfg));
    int rc = jcs_cfg_load(path, &f);
    if (rc)
        return rc;
    if ((rc = jcs_service_logger(&f, "coordinator")) ||
        (rc = jcs_cfg_str(&f, "listen", "127.0.0.1:5009", &cfg->listen)) ||
        (rc = jcs_service_tls_load(&f, "rpc", &cfg->tls)) ||
        (rc = jcs_service_rpc_idle(&f, "rpc.idleTimeoutSeconds")) ||
        (rc = jcs_cfg_str(&f, "db.address", "127.0.0.1:3306", &cfg->db_address)) ||
        (rc = jcs_cfg_str(&f, "db.socket", "", &cfg->db_socket)) ||
        (rc = jcs_cfg_str(&f, "db.account", NULL, &cfg->db_user)) ||
        (rc = jcs_cfg_str(&f, "db.password", "", &cfg->db_password)) ||
        (rc = jcs_cfg_str(&f, "db.databaseName", NULL, &cfg->db_name)) ||
        (rc = jcs_cfg_int(&f, "hubUnavailableSeconds", true, 30, 1, 86400,
                          &cfg->hub_unavailable_s)) ||
        (rc = jcs_cfg_int(&f, "heartbeatIntervalSeconds", true, 5, 1, 3600,
                          &cfg->heartbeat_interval_s)))
        config_free(cfg);
    jcs_cfg_clear(&f);
    return rc;
}

static int serve(const char *config_path, const char *ready_file)
{
    coord c;
    jcs_rpc_server *srv = NULL;
    int rc, exit_code = 1;

    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.lock_mu, NULL);
    jcs_db_library_init();
    jcs_rpc_init();
    if ((rc = config_load(config_path, &c.cfg)) != 0) {
        fprintf(stderr, "coordinator: %s\n", jcs_err_msg(rc));
        goto out;
    }
    if ((rc = jcs_stopper_new(&c.stop)) != 0)
        goto fail;
    jcs_db_config dbc = {.address = c.cfg.db_address,
                         .socket = c.cfg.db_socket,
                         .user = c.cfg.db_user,
                         .password = c.cfg.db_password,
                         .database = c.cfg.db_name,
                         .pool_size = 8};
    if ((rc = jcs_db_open(&dbc, &c.db)) != 0 || (rc = coord_migrate(&c)) != 0)
        goto fail;
    size_t nmethods;
    const jcs_rpc_method *methods = coord_methods(&nmethods);
    jcs_tls_files tls = jcs_service_tls_files(&c.cfg.tls);
    if ((rc = jcs_rpc_server_create(c.cfg.listen, &tls, methods, nmethods, &c, &srv)) != 0 ||
        (rc = jcs_rpc_server_start(srv)) != 0 || (rc = coord_sweeper_start(&c)) != 0)
        goto fail;

    char host[256], addr[300];
    int port;
    if (jcs_parse_addr(c.cfg.listen, host, sizeof(host), &port) != 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    snprintf(addr, sizeof(addr), "%s:%d", host, jcs_rpc_server_port(srv));
    if ((rc = jcs_service_ready(ready_file, addr)) != 0)
        goto fail;
    jcs_info("serving on %s (JCS-C %s); hubs go offline after %lld s without a heartbeat", addr,
             JCS_VERSION, c.cfg.hub_unavailable_s);

    int sig = jcs_service_wait_signal();
    jcs_info("signal %d: shutting down", sig);
    exit_code = 0;
    goto out;
fail:
    fprintf(stderr, "coordinator: %s\n", jcs_err_msg(rc));
    jcs_error("%s", jcs_err_msg(rc));
out:
    if (srv)
        jcs_rpc_server_shutdown(srv);
    if (c.stop)
        coord_sweeper_stop(&c);
    jcs_rpc_server_free(srv);
    jcs_db_close(c.db);
    jcs_stopper_free(c.stop);
    config_free(&c.cfg);
    pthread_mutex_destroy(&c.lock_mu);
    jcs_rpc_shutdown();
    jcs_db_library_end();
    if (exit_code == 0)
        jcs_info("stopped");
    return exit_code;
}

int main(int argc, char **argv)
{
    jcs_alloc_service_init();
    return jcs_service_main("coordinator", argc, argv, usage, serve);
}
