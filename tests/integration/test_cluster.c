/*
 * test_cluster.c - the foundation as a user of the cluster sees it: a real
 * MariaDB, coordinator and three hubs started by deploy/local/cluster, real
 * mutual TLS, real processes stopped and restarted.
 *
 * One cluster serves every test in this file (starting one costs seconds);
 * tests run in order and leave it as they found it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "alloc.h"
#include "coordinator.pb-c.h"
#include "hub.pb-c.h"
#include "itest.h"
#include "methods.h"
#include "util.h"

#define UNAVAILABLE_S 3

static itest_cluster cl;
static jcs_rpc_channel *client; /* client role, to the coordinator */
static int started;

static void teardown(void)
{
    jcs_rpc_channel_free(client);
    client = NULL;
    itest_cluster_down(&cl);
    jcs_rpc_shutdown();
}

static int setup(void)
{
    if (started)
        return client ? 0 : -1;
    started = 1;
    jcs_rpc_init();
    itest_at_exit(teardown);
    char args[128];
    snprintf(args, sizeof(args), "--hubs 3 --no-client --hub-unavailable %d --test-interval 1",
             UNAVAILABLE_S);
    if (itest_cluster_up(&cl, args) != 0)
        return -1;
    return itest_channel(&cl, itest_env(&cl, "COORDINATOR_ADDR"), 0, &client);
}

#define SETUP() T_ASSERT(setup() == 0, "the local cluster did not come up")

static int list_hubs(jcs_rpc_channel *ch, Jcs__Coordinator__ListHubsResp **out)
{
    Jcs__Coordinator__ListHubsReq req = JCS__COORDINATOR__LIST_HUBS_REQ__INIT;
    return jcs_rpc_unary(ch, JCS_M_LIST_HUBS, &req.base,
                         &jcs__coordinator__list_hubs_resp__descriptor, (ProtobufCMessage **)out,
                         5000);
}

/* The state of the hub named name, or -1. */
static int hub_state(const char *name, int64_t *id)
{
    Jcs__Coordinator__ListHubsResp *r = NULL;
    int state = -1;
    if (list_hubs(client, &r) != 0)
        return -1;
    for (size_t i = 0; i < r->n_hubs; i++) {
        if (strcmp(r->hubs[i]->name, name) == 0) {
            state = r->hubs[i]->state;
            if (id)
                *id = r->hubs[i]->hub_id;
        }
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return state;
}

/* Polls until hub name reaches state or timeout_ms passes. */
static int wait_state(const char *name, int state, int64_t timeout_ms)
{
    int64_t end = jcs_now_ms() + timeout_ms;
    while (jcs_now_ms() < end) {
        if (hub_state(name, NULL) == state)
            return 1;
        jcs_sleep_ms(200);
    }
    return 0;
}

TEST(cluster_comes_up_with_three_hubs_online)
{
    SETUP();
    Jcs__Coordinator__ListHubsResp *r = NULL;
    T_OK(list_hubs(client, &r));
    int ok = r->n_hubs == 3;
    for (size_t i = 0; ok && i < r->n_hubs; i++) {
        char key[48], name[32], loc[32];
        snprintf(name, sizeof(name), "hub%zu", i + 1);
        snprintf(loc, sizeof(loc), "loc%zu", i + 1);
        snprintf(key, sizeof(key), "HUB%zu_ADDR", i + 1);
        ok = strcmp(r->hubs[i]->name, name) == 0 && strcmp(r->hubs[i]->location_name, loc) == 0 &&
             r->hubs[i]->state == JCS__COORDINATOR__HUB_STATE__HUB_ONLINE &&
             strcmp(r->hubs[i]->address, itest_env(&cl, key)) == 0;
    }
    size_t n = r->n_hubs;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    T_ASSERT(ok, "(%zu hubs; want hub1..3 online in loc1..3 at the addresses of cluster.env)", n);

    Jcs__Coordinator__ListLocationsReq lreq = JCS__COORDINATOR__LIST_LOCATIONS_REQ__INIT;
    Jcs__Coordinator__ListLocationsResp *l = NULL;
    T_OK(jcs_rpc_unary(client, JCS_M_LIST_LOCATIONS, &lreq.base,
                       &jcs__coordinator__list_locations_resp__descriptor, (ProtobufCMessage **)&l,
                       5000));
    n = l->n_locations;
    protobuf_c_message_free_unpacked(&l->base, NULL);
    T_EQ_INT(n, 3);

    /* cluster.env describes every hub's pid and storage directory. */
    for (int i = 1; i <= 3; i++) {
        char key[32];
        snprintf(key, sizeof(key), "HUB%d_PID", i);
        T_ASSERT(atoi(itest_env(&cl, key)) > 0);
        snprintf(key, sizeof(key), "HUB%d_ROOT", i);
        T_ASSERT(itest_sh("test -d '%s'", itest_env(&cl, key)) == 0, "(HUB%d_ROOT)", i);
    }
}

TEST(client_role_cannot_register_a_hub)
{
    SETUP();
    Jcs__Coordinator__RegisterHubReq req = JCS__COORDINATOR__REGISTER_HUB_REQ__INIT;
    ProtobufCMessage *resp = NULL;
    req.name = "client";
    req.location = "evil";
    req.address = "127.0.0.1:1";
    int rc = jcs_rpc_unary(client, JCS_M_REGISTER_HUB, &req.base,
                           &jcs__coordinator__register_hub_resp__descriptor, &resp, 5000);
    T_EQ_INT(rc, JCS_EPERM);
    T_ASSERT(strstr(jcs_err_msg(rc), "client") != NULL, "(message: %s)", jcs_err_msg(rc));
    /* The denial is logged with the caller's subject. */
    T_ASSERT(itest_sh("grep -q 'CN=client' '%s'", itest_path(&cl, "coordinator/coordinator.log")) ==
             0);
    T_EQ_INT(hub_state("client", NULL), -1);
}

TEST(a_hub_cannot_register_under_another_name)
{
    SETUP();
    jcs_rpc_channel *h1 = NULL;
    T_OK(itest_channel(&cl, itest_env(&cl, "COORDINATOR_ADDR"), 1, &h1));
    Jcs__Coordinator__RegisterHubReq req = JCS__COORDINATOR__REGISTER_HUB_REQ__INIT;
    ProtobufCMessage *resp = NULL;
    req.name = "hub2";
    req.location = "elsewhere";
    req.address = "127.0.0.1:1";
    int rc = jcs_rpc_unary(h1, JCS_M_REGISTER_HUB, &req.base,
                           &jcs__coordinator__register_hub_resp__descriptor, &resp, 5000);
    jcs_rpc_channel_free(h1);
    T_EQ_INT(rc, JCS_EPERM);
    T_ASSERT(strstr(jcs_err_msg(rc), "hub2") != NULL, "(message: %s)", jcs_err_msg(rc));
}

TEST(bad_fields_are_named)
{
    SETUP();
    jcs_rpc_channel *h1 = NULL;
    T_OK(itest_channel(&cl, itest_env(&cl, "COORDINATOR_ADDR"), 1, &h1));
    Jcs__Coordinator__RegisterHubReq req = JCS__COORDINATOR__REGISTER_HUB_REQ__INIT;
    ProtobufCMessage *resp = NULL;
    req.name = "hub1";
    req.location = "";
    req.address = "127.0.0.1:1";
    int rc = jcs_rpc_unary(h1, JCS_M_REGISTER_HUB, &req.base,
                           &jcs__coordinator__register_hub_resp__descriptor, &resp, 5000);
    int rc2 = JCS_OK;
    char msg2[256] = "";
    if (rc == JCS_EINVAL) {
        req.location = "loc1";
        req.address = "no-port";
        rc2 = jcs_rpc_unary(h1, JCS_M_REGISTER_HUB, &req.base,
                            &jcs__coordinator__register_hub_resp__descriptor, &resp, 5000);
        snprintf(msg2, sizeof(msg2), "%s", jcs_err_msg(rc2));
    }
    jcs_rpc_channel_free(h1);
    T_EQ_INT(rc, JCS_EINVAL);
    T_EQ_INT(rc2, JCS_EINVAL);
    T_ASSERT(strstr(msg2, "address") != NULL, "(message: %s)", msg2);

    Jcs__Coordinator__LockReq lreq = JCS__COORDINATOR__LOCK_REQ__INIT;
    lreq.name = "x";
    lreq.ttl_ms = 0;
    rc = jcs_rpc_unary(client, JCS_M_LOCK, &lreq.base, &jcs__coordinator__lock_resp__descriptor,
                       &resp, 5000);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "ttl_ms") != NULL, "(message: %s)", jcs_err_msg(rc));
    /* The hub is still registered where it was. */
    T_EQ_INT(hub_state("hub1", NULL), JCS__COORDINATOR__HUB_STATE__HUB_ONLINE);
}

TEST(no_certificate_and_foreign_ca_are_refused)
{
    SETUP();
    const char *addr = itest_env(&cl, "COORDINATOR_ADDR");
    char ca[1100], other[1100], cert[1200], key[1200];
    snprintf(ca, sizeof(ca), "%s", itest_path(&cl, "certs/ca_cert.pem"));
    snprintf(other, sizeof(other), "%s", itest_path(&cl, "foreign"));
    T_ASSERT(itest_sh("%s/coordinator cert ca --out %s >/dev/null && %s/coordinator cert issue "
                      "--role client --name client --ca %s --out %s >/dev/null",
                      getenv("JCS_BIN"), other, getenv("JCS_BIN"), other, other) == 0);
    snprintf(cert, sizeof(cert), "%s/client_cert.pem", other);
    snprintf(key, sizeof(key), "%s/client_key.pem", other);

    Jcs__Coordinator__ListHubsResp *r = NULL;
    jcs_rpc_channel *ch = NULL;
    jcs_tls_files none = {ca, NULL, NULL};
    T_OK(jcs_rpc_channel_open(addr, &none, &ch));
    int rc = list_hubs(ch, &r);
    jcs_rpc_channel_free(ch);
    T_EQ_INT(rc, JCS_EUNAVAIL);

    jcs_tls_files foreign = {ca, cert, key};
    T_OK(jcs_rpc_channel_open(addr, &foreign, &ch));
    rc = list_hubs(ch, &r);
    jcs_rpc_channel_free(ch);
    T_EQ_INT(rc, JCS_EUNAVAIL);

    /* The coordinator keeps serving good clients. */
    T_OK(list_hubs(client, &r));
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

TEST(hubs_ping_each_other_with_mutual_tls)
{
    SETUP();
    jcs_rpc_channel *ch = NULL;
    T_OK(itest_channel(&cl, itest_env(&cl, "HUB2_ADDR"), 0, &ch));
    Jcs__Hub__PingReq req = JCS__HUB__PING_REQ__INIT;
    Jcs__Hub__PingResp *resp = NULL;
    int rc = jcs_rpc_unary(ch, JCS_M_PING, &req.base, &jcs__hub__ping_resp__descriptor,
                           (ProtobufCMessage **)&resp, 5000);
    jcs_rpc_channel_free(ch);
    T_OK(rc);
    int named = strcmp(resp->name, "hub2") == 0 && resp->hub_id > 0;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    T_ASSERT(named);
}

TEST(latency_matrix_fills_in)
{
    SETUP();
    int64_t end = jcs_now_ms() + 20000;
    size_t good = 0;
    while (jcs_now_ms() < end) {
        Jcs__Coordinator__GetConnectivityReq req = JCS__COORDINATOR__GET_CONNECTIVITY_REQ__INIT;
        Jcs__Coordinator__GetConnectivityResp *r = NULL;
        T_OK(jcs_rpc_unary(client, JCS_M_GET_CONNECTIVITY, &req.base,
                           &jcs__coordinator__get_connectivity_resp__descriptor,
                           (ProtobufCMessage **)&r, 5000));
        good = 0;
        for (size_t i = 0; i < r->n_entries; i++) {
            const Jcs__Coordinator__Latency *e = r->entries[i];
            if (e->reachable && e->from_hub_id != e->to_hub_id && e->latency_ms > 0 &&
                e->latency_ms < 2000 && e->tested_at_ms > 0)
                good++;
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (good >= 6)
            break;
        jcs_sleep_ms(250);
    }
    T_ASSERT(good >= 6, "(%zu of the 6 hub pairs measured)", good);
}

TEST(a_stopped_hub_turns_offline_and_returns_online)
{
    SETUP();
    int64_t id_before = 0, id_after = 0;
    T_EQ_INT(hub_state("hub2", &id_before), JCS__COORDINATOR__HUB_STATE__HUB_ONLINE);
    T_OK(itest_cluster_cmd(&cl, "stop-hub", "2"));
    T_ASSERT(
        wait_state("hub2", JCS__COORDINATOR__HUB_STATE__HUB_OFFLINE, (UNAVAILABLE_S + 10) * 1000),
        "(hub2 still online %d s after it stopped)", UNAVAILABLE_S + 10);
    /* The others stay online. */
    T_EQ_INT(hub_state("hub1", NULL), JCS__COORDINATOR__HUB_STATE__HUB_ONLINE);
    T_OK(itest_cluster_cmd(&cl, "start-hub", "2"));
    T_ASSERT(wait_state("hub2", JCS__COORDINATOR__HUB_STATE__HUB_ONLINE, 10000));
    T_EQ_INT(hub_state("hub2", &id_after), JCS__COORDINATOR__HUB_STATE__HUB_ONLINE);
    T_EQ_INT(id_after, id_before);
}

static int lock(jcs_rpc_channel *ch, const char *name, int shared, int64_t ttl, int64_t wait,
                char *lease, size_t leaselen)
{
    Jcs__Coordinator__LockReq req = JCS__COORDINATOR__LOCK_REQ__INIT;
    Jcs__Coordinator__LockResp *resp = NULL;
    req.name = (char *)name;
    req.mode = shared ? JCS__COORDINATOR__LOCK_MODE__LOCK_SHARED
                      : JCS__COORDINATOR__LOCK_MODE__LOCK_EXCLUSIVE;
    req.ttl_ms = ttl;
    req.wait_ms = wait;
    req.holder = "test";
    int rc = jcs_rpc_unary(ch, JCS_M_LOCK, &req.base, &jcs__coordinator__lock_resp__descriptor,
                           (ProtobufCMessage **)&resp, 10000);
    if (rc == 0) {
        if (lease)
            snprintf(lease, leaselen, "%s", resp->lease_id);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return rc;
}

static int unlock(jcs_rpc_channel *ch, const char *lease)
{
    Jcs__Coordinator__UnlockReq req = JCS__COORDINATOR__UNLOCK_REQ__INIT;
    ProtobufCMessage *resp = NULL;
    req.lease_id = (char *)lease;
    int rc = jcs_rpc_unary(ch, JCS_M_UNLOCK, &req.base, &jcs__coordinator__unlock_resp__descriptor,
                           &resp, 5000);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int renew(jcs_rpc_channel *ch, const char *lease, int64_t ttl)
{
    Jcs__Coordinator__RenewReq req = JCS__COORDINATOR__RENEW_REQ__INIT;
    ProtobufCMessage *resp = NULL;
    req.lease_id = (char *)lease;
    req.ttl_ms = ttl;
    int rc = jcs_rpc_unary(ch, JCS_M_RENEW, &req.base, &jcs__coordinator__renew_resp__descriptor,
                           &resp, 5000);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

TEST(locks_exclude_each_other)
{
    SETUP();
    char a[64], b[64], c[64];
    T_OK(lock(client, "pkg/1", 0, 60000, 0, a, sizeof(a)));
    int rc = lock(client, "pkg/1", 0, 60000, 0, b, sizeof(b));
    T_EQ_INT(rc, JCS_EBUSY);
    T_ASSERT(strstr(jcs_err_msg(rc), "client client/test") != NULL, "(message: %s)",
             jcs_err_msg(rc));
    T_EQ_INT(lock(client, "pkg/1", 1, 60000, 0, b, sizeof(b)), JCS_EBUSY);
    /* Another name is independent. */
    T_OK(lock(client, "pkg/2", 0, 60000, 0, c, sizeof(c)));
    T_OK(unlock(client, c));
    T_OK(unlock(client, a));
    /* Shared leases coexist and keep writers out. */
    T_OK(lock(client, "pkg/1", 1, 60000, 0, a, sizeof(a)));
    T_OK(lock(client, "pkg/1", 1, 60000, 0, b, sizeof(b)));
    T_EQ_INT(lock(client, "pkg/1", 0, 60000, 0, c, sizeof(c)), JCS_EBUSY);
    T_OK(unlock(client, a));
    T_EQ_INT(lock(client, "pkg/1", 0, 60000, 0, c, sizeof(c)), JCS_EBUSY);
    T_OK(unlock(client, b));
    T_OK(lock(client, "pkg/1", 0, 60000, 0, c, sizeof(c)));
    T_OK(unlock(client, c));
    /* Unlocking twice is harmless. */
    T_OK(unlock(client, c));
}

TEST(locks_expire_and_renew)
{
    SETUP();
    char a[64], b[64];
    T_OK(lock(client, "ttl/1", 0, 600, 0, a, sizeof(a)));
    T_EQ_INT(lock(client, "ttl/1", 0, 600, 0, b, sizeof(b)), JCS_EBUSY);
    jcs_sleep_ms(900);
    /* The holder vanished without unlocking: the lease lapsed. */
    T_OK(lock(client, "ttl/1", 0, 1000, 0, b, sizeof(b)));
    T_EQ_INT(renew(client, a, 1000), JCS_ENOENT);
    /* Renewing keeps it past the original TTL. */
    jcs_sleep_ms(500);
    T_OK(renew(client, b, 2000));
    jcs_sleep_ms(800);
    T_EQ_INT(lock(client, "ttl/1", 0, 1000, 0, a, sizeof(a)), JCS_EBUSY);
    T_OK(unlock(client, b));
}

struct waiter {
    int rc;
    char lease[64];
};

static void *wait_for_lock(void *arg)
{
    struct waiter *w = arg;
    w->rc = lock(client, "wait/1", 0, 5000, 5000, w->lease, sizeof(w->lease));
    return NULL;
}

TEST(a_waiting_locker_gets_the_lock_when_released)
{
    SETUP();
    char a[64];
    struct waiter w = {.rc = -999};
    pthread_t t;
    T_OK(lock(client, "wait/1", 0, 30000, 0, a, sizeof(a)));
    T_ASSERT(pthread_create(&t, NULL, wait_for_lock, &w) == 0);
    jcs_sleep_ms(400);
    T_OK(unlock(client, a));
    pthread_join(t, NULL);
    T_OK(w.rc);
    T_OK(unlock(client, w.lease));
}

TEST(a_dead_hubs_locks_are_released)
{
    SETUP();
    jcs_rpc_channel *h3 = NULL;
    char a[64], b[64];
    T_OK(itest_channel(&cl, itest_env(&cl, "COORDINATOR_ADDR"), 3, &h3));
    int rc = lock(h3, "hub3/work", 0, 600000, 0, a, sizeof(a));
    jcs_rpc_channel_free(h3);
    T_OK(rc);
    T_EQ_INT(lock(client, "hub3/work", 0, 1000, 0, b, sizeof(b)), JCS_EBUSY);
    T_OK(itest_cluster_cmd(&cl, "stop-hub", "3"));
    T_ASSERT(
        wait_state("hub3", JCS__COORDINATOR__HUB_STATE__HUB_OFFLINE, (UNAVAILABLE_S + 10) * 1000));
    /* Released long before its 10-minute TTL. */
    T_OK(lock(client, "hub3/work", 0, 1000, 2000, b, sizeof(b)));
    T_OK(unlock(client, b));
    T_OK(itest_cluster_cmd(&cl, "start-hub", "3"));
    T_ASSERT(wait_state("hub3", JCS__COORDINATOR__HUB_STATE__HUB_ONLINE, 10000));
}

TEST(hubs_survive_a_coordinator_restart)
{
    SETUP();
    int64_t id_before = 0, id_after = 0;
    T_EQ_INT(hub_state("hub1", &id_before), JCS__COORDINATOR__HUB_STATE__HUB_ONLINE);
    T_OK(itest_cluster_cmd(&cl, "stop-coordinator", ""));
    Jcs__Coordinator__ListHubsResp *r = NULL;
    T_EQ_INT(list_hubs(client, &r), JCS_EUNAVAIL);
    /* Long enough that every hub misses heartbeats while it is gone. */
    jcs_sleep_ms(2500);
    T_OK(itest_cluster_cmd(&cl, "start-coordinator", ""));
    for (int i = 1; i <= 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "hub%d", i);
        /* 30 s: twice in full ASan runs a hub took longer than 15 s (cause not found yet). */
        T_ASSERT(wait_state(name, JCS__COORDINATOR__HUB_STATE__HUB_ONLINE, 30000), "(%s)", name);
    }
    T_EQ_INT(hub_state("hub1", &id_after), JCS__COORDINATOR__HUB_STATE__HUB_ONLINE);
    T_EQ_INT(id_after, id_before);
    /* They keep heartbeating: still online after several unavailability windows. */
    jcs_sleep_ms((UNAVAILABLE_S + 2) * 1000);
    T_EQ_INT(hub_state("hub2", NULL), JCS__COORDINATOR__HUB_STATE__HUB_ONLINE);
}
