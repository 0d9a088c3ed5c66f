/*
 * jcs serve: opens the metadata database (migrating it), the coordinator
 * channel and topology cache, the driver, the background jobs, then the
 * HTTPS REST API; writes the ready file and waits for SIGTERM/SIGINT.
 * Shutdown runs in reverse: the HTTP server first (in-flight requests see
 * their abort callbacks and roll back), then the jobs, then the rest.
 */
#include "serve.h"

#include <stdio.h>
#include <string.h>

#include "access.h"
#include "alloc.h"
#include "download.h"
#include "hublat.h"
#include "jobs.h"
#include "log.h"
#include "s3gw.h"
#include "service.h"
#include "stripcache.h"
#include "svc.h"
#include "util.h"
#include "version.h"

/* Hub state changes must reach placement and downloads quickly, whatever
 * connectivity.testInterval says about latency tests. */
#define TOPO_REFRESH_MAX_MS 5000

/* Access statistics reach the database this often (access.h). */
#define ACCESS_FLUSH_MS 1000

/*
 * A hub the coordinator had offline is online again: whatever cut it off may
 * have left our connections to it in TCP retransmission backoff (with the
 * requests that met the cut still unacknowledged), and such a connection
 * fails the next calls on it with "Connection timed out" seconds after the
 * hub is back (docs/DESIGN.md §5, "Connections after a cut").
 */
static void hub_back(void *arg, const jcs_topo_hub *hub)
{
    jcs_info("hub %lld (%s) is online again: new connections to it", (long long)hub->id,
             hub->address);
    jcs_driver_hub_back(arg, hub->address);
}

/*
 * The link costs of the compute-site model (computeat.h): the topology's
 * distances (topology.h), a link of the client's weighted by
 * ioswitch.clientLinkCost. arg is the service.
 */
static double link_cost(void *arg, int64_t a, int64_t b)
{
    jcs_svc *svc = arg;
    if (a == 0 || b == 0)
        return jcs_topo_distance(svc->topo, a ? a : b) * svc->cfg->ioswitch.client_link_cost;
    return jcs_topo_distance_between(svc->topo, a, b);
}

static int build_routes(jcs_svc *svc, jcs_http_route **out, size_t *n)
{
    const struct {
        const jcs_http_route *r;
        size_t n;
    } tabs[] = {
        {jcs_api_bucket_routes, jcs_api_bucket_nroutes},
        {jcs_api_object_routes, jcs_api_object_nroutes},
        {jcs_api_space_routes, jcs_api_space_nroutes},
        {jcs_api_system_routes, jcs_api_system_nroutes},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)
        total += tabs[i].n;
    jcs_http_route *r = jcs_calloc(total, sizeof *r);
    if (!r)
        return JCS_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) {
        for (size_t j = 0; j < tabs[i].n; j++) {
            r[k] = tabs[i].r[j];
            r[k].arg = svc;
            k++;
        }
    }
    *out = r;
    *n = total;
    return 0;
}

int jcs_serve(const jcs_client_config *cfg, const char *ready_file)
{
    jcs_svc svc;
    memset(&svc, 0, sizeof svc);
    svc.cfg = cfg;
    svc.start_wall_ms = jcs_wall_ms();
    pthread_mutex_init(&svc.spaces_mu, NULL);
    jcs_http_config hcfg;
    memset(&hcfg, 0, sizeof hcfg);
    jcs_http_route *routes = NULL;
    size_t nroutes = 0;
    jcs_http_server *http = NULL;
    jcs_s3gw *s3 = NULL;
    jcs_s3conf s3conf;
    memset(&s3conf, 0, sizeof s3conf);
    int ec = 1, rc;

    jcs_rpc_init();
    jcs_rpc_set_idle_timeout_ms(cfg->rpc_idle_s * 1000);
    jcs_db_config dbc = jcs_client_config_db(cfg);
    /* Enough connections that concurrent requests rarely wait for one. */
    dbc.pool_size = 16;
    /* Without it (out of memory) uploads read the package row each time. */
    if (jcs_meta_pkg_cache_new(&svc.pkgs) != 0)
        svc.pkgs = NULL;
    if ((rc = jcs_db_open(&dbc, &svc.db)) != 0) {
        jcs_error("database: %s", jcs_err_msg(rc));
        goto out;
    }
    if ((rc = jcs_meta_migrate(svc.db)) != 0) {
        jcs_error("database %s: migration failed: %s", dbc.database, jcs_err_msg(rc));
        goto out;
    }
    /* S3 secrets at rest: sealed with db.secretsKey, also those stored before it existed. */
    if (cfg->db.secrets_key && *cfg->db.secrets_key) {
        size_t sealed = 0;
        svc.have_seal_key = 1;
        if ((rc = jcs_seal_key_parse(cfg->db.secrets_key, svc.seal_key)) != 0 ||
            (rc = jcs_place_seal_secrets(&svc, &sealed)) != 0) {
            jcs_error("%s", jcs_err_msg(rc));
            goto out;
        }
        if (sealed)
            jcs_info("sealed the stored secrets of %zu user spaces with db.secretsKey", sealed);
    } else {
        jcs_warn("%s has no db.secretsKey: S3 user spaces cannot be created (their secrets are "
                 "stored sealed with that key; jcs init writes one, or openssl rand -hex 32)",
                 cfg->path);
    }
    if ((rc = jcs_access_start(svc.db, ACCESS_FLUSH_MS, &svc.access)) != 0) {
        jcs_error("access statistics: %s", jcs_err_msg(rc));
        goto out;
    }
    jcs_tls_files ctls = jcs_client_config_coordinator_tls(cfg);
    if ((rc = jcs_rpc_channel_open(cfg->coordinator_address, &ctls, &svc.coord)) != 0) {
        jcs_error("coordinator %s: %s", cfg->coordinator_address, jcs_err_msg(rc));
        goto out;
    }
    jcs_topo_opts topts = {
        .params = {.location = cfg->location, .high_latency_ms = cfg->high_latency_hub_ms},
        .interval_ms = cfg->test_interval_s * 1000,
    };
    if (topts.interval_ms > TOPO_REFRESH_MAX_MS)
        topts.interval_ms = TOPO_REFRESH_MAX_MS;
    if ((rc = jcs_topo_new(svc.coord, &topts, &svc.topo)) != 0) {
        jcs_error("topology: %s", jcs_err_msg(rc));
        goto out;
    }
    /* A coordinator that is down at start is not fatal: the cache keeps retrying, and
     * requests that need hubs say so meanwhile. */
    if ((rc = jcs_topo_refresh(svc.topo)) != 0)
        jcs_warn("coordinator %s not reachable yet (%s); retrying in the background",
                 cfg->coordinator_address, jcs_err_msg(rc));
    if ((rc = jcs_topo_start(svc.topo)) != 0) {
        jcs_error("topology: %s", jcs_err_msg(rc));
        goto out;
    }
    jcs_tls_files htls = jcs_client_config_hub_tls(cfg);
    if ((rc = jcs_driver_new(&htls, &svc.driver)) != 0) {
        jcs_error("driver: %s", jcs_err_msg(rc));
        goto out;
    }
    if (cfg->rpc_bulk && (rc = jcs_driver_use_bulk(svc.driver)) != 0) {
        jcs_error("driver: bulk channel: %s", jcs_err_msg(rc));
        goto out;
    }
    jcs_driver_compute dc = {.mode = cfg->ioswitch.compute_at, .cost = link_cost, .arg = &svc};
    jcs_driver_set_compute(svc.driver, &dc);
    /* A hub back online gets fresh connections (topology.h, jcs_topo_on_online). */
    jcs_topo_on_online(svc.topo, hub_back, svc.driver);
    jcs_info("plans code by ioswitch.computeAt %s (client links cost x%g)",
             jcs_computeat_name(cfg->ioswitch.compute_at), cfg->ioswitch.client_link_cost);
    if (cfg->max_strip_cache_count > 0 &&
        (rc = jcs_stripcache_new((size_t)cfg->max_strip_cache_count, JCS_DOWNLOAD_STRIP_CACHE_BYTES,
                                 &svc.strips)) != 0) {
        jcs_error("strip cache: %s", jcs_err_msg(rc));
        goto out;
    }
    if ((rc = jcs_hublat_new(cfg->hedge_after_percentile, cfg->hedge_min_delay_ms * 1000,
                             &svc.hublat)) != 0) {
        jcs_error("hedged reads: %s", jcs_err_msg(rc));
        goto out;
    }
    if ((rc = jcs_jobs_start(&svc, &svc.jobs)) != 0) {
        jcs_error("background jobs: %s", jcs_err_msg(rc));
        goto out;
    }
    if (!cfg->http.enabled) {
        jcs_info("http.enabled is false: serving no REST API, running background jobs only");
    } else {
        if ((rc = jcs_http_config_load(&cfg->file, &hcfg)) != 0) {
            jcs_error("%s", jcs_err_msg(rc));
            goto out;
        }
        if ((rc = build_routes(&svc, &routes, &nroutes)) != 0 ||
            (rc = jcs_http_start(&hcfg, routes, nroutes, &http)) != 0) {
            jcs_error("REST API on %s: %s", hcfg.listen, jcs_err_msg(rc));
            goto out;
        }
    }
    /* The S3 gateway: a second listener with the REST API's certificate (README). */
    if ((rc = jcs_s3conf_load(&cfg->file, &s3conf)) != 0) {
        jcs_error("%s", jcs_err_msg(rc));
        goto out;
    }
    if (s3conf.listen[0]) {
        if (!cfg->http.enabled && (rc = jcs_http_config_load(&cfg->file, &hcfg)) != 0) {
            jcs_error("s3 needs the http section's certificate: %s", jcs_err_msg(rc));
            goto out;
        }
        if ((rc = jcs_s3gw_start(&svc, &hcfg, &s3conf, &s3)) != 0) {
            jcs_error("S3 gateway: %s", jcs_err_msg(rc));
            goto out;
        }
    }
    char where[600];
    if (http) {
        char host[256];
        int port = 0;
        if (jcs_parse_addr(hcfg.listen, host, sizeof host, &port) != 0)
            snprintf(host, sizeof host, "127.0.0.1");
        snprintf(where, sizeof where, "%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", jcs_http_port(http));
    } else {
        snprintf(where, sizeof where, "-");
    }
    if (s3) {
        /* The ready file's second line: where S3 listens (deploy/local/cluster reads it). */
        char host[256];
        int port = 0;
        size_t l = strlen(where);
        if (jcs_parse_addr(jcs_s3gw_listen(s3), host, sizeof host, &port) != 0)
            snprintf(host, sizeof host, "127.0.0.1");
        snprintf(where + l, sizeof where - l, "\n%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", jcs_s3gw_port(s3));
        jcs_info("S3 gateway on https://%s", where + l + 1);
    }
    if ((rc = jcs_service_ready(ready_file, where)) != 0) {
        jcs_error("ready file %s: %s", ready_file, jcs_err_msg(rc));
        goto out;
    }
    where[strcspn(where, "\n")] = '\0';
    jcs_info("jcs %s serving the REST API on https://%s (coordinator %s)", JCS_VERSION, where,
             cfg->coordinator_address);
    int sig = jcs_service_wait_signal();
    jcs_info("signal %d: stopping", sig);
    ec = 0;
out:
    jcs_s3gw_stop(s3);
    jcs_s3conf_free(&s3conf);
    jcs_http_stop(http);
    jcs_jobs_stop(svc.jobs);
    jcs_access_stop(svc.access);
    jcs_stripcache_free(svc.strips);
    jcs_hublat_free(svc.hublat);
    if (svc.topo)
        jcs_topo_on_online(svc.topo, NULL, NULL);
    jcs_driver_free(svc.driver);
    jcs_topo_free(svc.topo);
    jcs_rpc_channel_free(svc.coord);
    jcs_meta_spaces_clear(&svc.spaces);
    jcs_db_close(svc.db);
    jcs_meta_pkg_cache_free(svc.pkgs);
    jcs_free(routes);
    jcs_http_config_clear(&hcfg);
    pthread_mutex_destroy(&svc.spaces_mu);
    jcs_rpc_shutdown();
    return ec;
}
