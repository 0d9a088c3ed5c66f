/*
 * test_client_topology.c - the client's foundation against a real local
 * cluster (deploy/local/cluster: MariaDB, coordinator, three hubs in
 * loc1..loc3): `jcs init` writes a config for the cluster's client
 * certificate, the config loads, and the topology built from it fills in
 * from the running coordinator and follows a hub going down and up.
 */
#include <math.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "client_config.h"
#include "topology.h"
#include "itest.h"
#include "util.h"

#define UNAVAILABLE_S 3

static itest_cluster cl;
static jcs_client_config cfg;
static jcs_rpc_channel *coord;
static int started, ready;
static int64_t hub_ids[4]; /* by hub number */

static void teardown(void)
{
    jcs_rpc_channel_free(coord);
    coord = NULL;
    jcs_client_config_clear(&cfg);
    itest_cluster_down(&cl);
    jcs_rpc_shutdown();
}

static int setup(void)
{
    if (started)
        return ready ? 0 : -1;
    started = 1;
    jcs_rpc_init();
    /* OpenSSL's exit handler must run after ours (see test_rpc.c). */
    OPENSSL_init_ssl(0, NULL);
    atexit(teardown);
    char args[128];
    snprintf(args, sizeof(args), "--hubs 3 --no-client --hub-unavailable %d --test-interval 1",
             UNAVAILABLE_S);
    if (itest_cluster_up(&cl, args) != 0)
        return -1;
    char coord_addr[256], ca[600], cert[600], key[600], dir[600];
    snprintf(coord_addr, sizeof(coord_addr), "%s", itest_env(&cl, "COORDINATOR_ADDR"));
    snprintf(ca, sizeof(ca), "%s", itest_env(&cl, "RPC_CA"));
    snprintf(cert, sizeof(cert), "%s", itest_env(&cl, "RPC_CLIENT_CERT"));
    snprintf(key, sizeof(key), "%s", itest_env(&cl, "RPC_CLIENT_KEY"));
    snprintf(dir, sizeof(dir), "%s", itest_path(&cl, "jcs"));
    if (itest_sh("'%s/jcs' init --yes --dir '%s' --coordinator %s --rpc-ca '%s' --rpc-cert '%s' "
                 "--rpc-key '%s' --location loc1 --http-listen 127.0.0.1:0 >'%s.init.log' 2>&1",
                 getenv("JCS_BIN"), dir, coord_addr, ca, cert, key, dir) != 0) {
        fprintf(stderr, "jcs init failed; see %s.init.log\n", dir);
        return -1;
    }
    char path[700];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (jcs_client_config_load(path, &cfg) != 0) {
        fprintf(stderr, "config: %s\n", jcs_err_msg(-1));
        return -1;
    }
    jcs_tls_files tls = jcs_client_config_coordinator_tls(&cfg);
    if (jcs_rpc_channel_open(cfg.coordinator_address, &tls, &coord) != 0)
        return -1;
    ready = 1;
    return 0;
}

#define SETUP() T_ASSERT(setup() == 0, "(the local cluster or jcs init did not come up)")

/* A topology per test, with the config's settings and a short refresh period. */
static int topo(jcs_topo **t, int64_t interval_ms)
{
    jcs_topo_opts o = {{cfg.location, cfg.high_latency_hub_ms}, interval_ms, 5000};
    return jcs_topo_new(coord, &o, t);
}

/* Refreshes until every hub pair is measured (hubs test every second) or 30 s pass. */
static int wait_measured(jcs_topo *t)
{
    int64_t end = jcs_now_ms() + 30000;
    while (jcs_now_ms() < end) {
        if (jcs_topo_refresh(t) == 0) {
            jcs_topo_snap *s = jcs_topo_acquire(t);
            size_t n;
            const jcs_topo_hub *h = jcs_topo_snap_hubs(s, &n);
            int pairs = 0;
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                    pairs += jcs_topo_snap_latency(s, h[i].id, h[j].id, NULL);
            jcs_topo_snap_release(s);
            if (n == 3 && pairs == 3)
                return 1;
        }
        jcs_sleep_ms(250);
    }
    return 0;
}

TEST(init_config_fits_the_cluster)
{
    SETUP();
    T_EQ_STR(cfg.location, "loc1");
    T_EQ_STR(cfg.rpc_name, "client");
    T_EQ_STR(cfg.coordinator_address, itest_env(&cl, "COORDINATOR_ADDR"));
    T_EQ_STR(cfg.hub_root_ca, itest_env(&cl, "RPC_CA"));
}

TEST(topology_fills_in_from_the_coordinator)
{
    SETUP();
    jcs_topo *t = NULL;
    T_OK(topo(&t, 3600 * 1000));
    int measured = wait_measured(t);
    jcs_topo_snap *s = jcs_topo_acquire(t);
    size_t n = 0, nlocs = 0;
    const jcs_topo_hub *h = jcs_topo_snap_hubs(s, &n);
    (void)jcs_topo_snap_locations(s, &nlocs);
    int ok = n == 3;
    char why[512] = "";
    for (size_t i = 0; ok && i < n; i++) {
        char name[32], loc[32], key[48];
        snprintf(name, sizeof(name), "hub%zu", i + 1);
        snprintf(loc, sizeof(loc), "loc%zu", i + 1);
        snprintf(key, sizeof(key), "HUB%zu_ADDR", i + 1);
        ok = strcmp(h[i].name, name) == 0 && strcmp(h[i].location, loc) == 0 &&
             strcmp(h[i].address, itest_env(&cl, key)) == 0 && h[i].online &&
             h[i].last_heartbeat_ms > 0;
        if (!ok)
            snprintf(why, sizeof(why), "hub %zu: %s %s %s online %d", i + 1, h[i].name,
                     h[i].location, h[i].address, h[i].online);
        hub_ids[i + 1] = h[i].id;
    }
    /* On loopback every latency is far below highLatencyHub (35 ms): loc1's hub is 1, others 5. */
    double d1 = ok ? jcs_topo_snap_distance(s, hub_ids[1]) : -1;
    double d2 = ok ? jcs_topo_snap_distance(s, hub_ids[2]) : -1;
    double d3 = ok ? jcs_topo_snap_distance(s, hub_ids[3]) : -1;
    double b22 = ok ? jcs_topo_snap_distance_between(s, hub_ids[2], hub_ids[2]) : -1;
    double b23 = ok ? jcs_topo_snap_distance_between(s, hub_ids[2], hub_ids[3]) : -1;
    jcs_topo_snap_release(s);
    jcs_topo_hub got;
    int rc = ok ? jcs_topo_hub_get(t, hub_ids[2], &got) : -1;
    jcs_topo_free(t);
    T_ASSERT(ok, "(%zu hubs; %s)", n, why);
    T_ASSERT(measured, "(the latency matrix did not fill in within 30 s)");
    T_EQ_INT(nlocs, 3);
    T_ASSERT(d1 == 1 && d2 == 5 && d3 == 5, "(distances %g %g %g)", d1, d2, d3);
    T_ASSERT(b22 == 0.1 && b23 == 5, "(between: %g %g)", b22, b23);
    T_OK(rc);
    T_EQ_STR(got.name, "hub2");
}

/* Polls the background-refreshed view until hub i's distance satisfies want, or 30 s pass. */
static int wait_distance(jcs_topo *t, int i, int want_reachable)
{
    int64_t end = jcs_now_ms() + 30000;
    while (jcs_now_ms() < end) {
        double d = jcs_topo_distance(t, hub_ids[i]);
        if (want_reachable ? isfinite(d) : isinf(d))
            return 1;
        jcs_sleep_ms(100);
    }
    return 0;
}

TEST(background_refresh_sees_a_hub_go_down_and_come_back)
{
    SETUP();
    T_ASSERT(hub_ids[3] > 0, "(needs topology_fills_in_from_the_coordinator first)");
    jcs_topo *t = NULL;
    T_OK(topo(&t, 500));
    int rc = jcs_topo_start(t);
    int up = !rc && wait_distance(t, 3, 1);
    int stopped = up && itest_cluster_cmd(&cl, "stop-hub", "3") == 0;
    int down = stopped && wait_distance(t, 3, 0);
    /* The others stay reachable meanwhile. */
    double d1 = jcs_topo_distance(t, hub_ids[1]);
    int restarted = stopped && itest_cluster_cmd(&cl, "start-hub", "3") == 0;
    int back = restarted && wait_distance(t, 3, 1);
    jcs_topo_hub h3;
    int got = jcs_topo_hub_get(t, hub_ids[3], &h3);
    uint64_t refreshes = jcs_topo_refreshes(t);
    jcs_topo_free(t);
    T_OK(rc);
    T_ASSERT(up, "(hub3 never reachable)");
    T_ASSERT(stopped && restarted, "(cluster stop-hub/start-hub failed)");
    T_ASSERT(down, "(hub3 still reachable 30 s after it stopped)");
    T_ASSERT(d1 == 1, "(%g)", d1);
    T_ASSERT(back, "(hub3 not back 30 s after it restarted)");
    T_OK(got);
    T_ASSERT(h3.online && strcmp(h3.address, itest_env(&cl, "HUB3_ADDR")) == 0);
    T_ASSERT(refreshes >= 2);
}

TEST(coordinator_down_keeps_the_last_view)
{
    SETUP();
    jcs_topo *t = NULL;
    T_OK(topo(&t, 3600 * 1000));
    T_OK(jcs_topo_refresh(t));
    T_OK(itest_cluster_cmd(&cl, "stop-coordinator", ""));
    int rc = jcs_topo_refresh(t);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    double d1 = jcs_topo_distance(t, hub_ids[1]);
    int restarted = itest_cluster_cmd(&cl, "start-coordinator", "") == 0;
    /* The channel reconnects by itself once the coordinator is back (same port). */
    int again = -1;
    int64_t end = jcs_now_ms() + 30000;
    while (restarted && again != 0 && jcs_now_ms() < end) {
        again = jcs_topo_refresh(t);
        if (again)
            jcs_sleep_ms(250);
    }
    jcs_topo_free(t);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(msg, cfg.coordinator_address) != NULL, "(%s)", msg);
    T_ASSERT(d1 == 1, "(%g: the view was dropped)", d1);
    T_ASSERT(restarted);
    T_OK(again);
}
