/*
 * test_topology.c - the client's topology view (client/topology.c).
 *
 * The distance rules run on made-up matrices (jcs_topo_snap_build needs no
 * RPC). The cache runs against a fake coordinator: a real RPC server with
 * mutual TLS (testcerts) serving ListHubs, ListLocations and
 * GetConnectivity from tables the test changes.
 */
#include <math.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "topology.h"
#include "coordinator.pb-c.h"
#include "methods.h"
#include "rpc.h"
#include "t.h"
#include "testcerts.h"
#include "util.h"

static jcs_topo_hub hub(int64_t id, const char *loc, bool online)
{
    jcs_topo_hub h;
    memset(&h, 0, sizeof(h));
    h.id = id;
    snprintf(h.name, sizeof(h.name), "hub%lld", (long long)id);
    snprintf(h.location, sizeof(h.location), "%s", loc);
    h.location_id = loc[0] ? loc[strlen(loc) - 1] - '0' : 0;
    snprintf(h.address, sizeof(h.address), "127.0.0.1:%lld", 5000 + (long long)id);
    h.online = online;
    return h;
}

static jcs_topo_latency lat(int64_t from, int64_t to, double ms)
{
    jcs_topo_latency l = {from, to, ms, true, 1000};
    return l;
}

TEST(distance_from_the_client_follows_location_and_latency)
{
    /*
     * The client is in loc1, where hubs 1 and 6 are. Threshold 35 ms.
     *   2 (loc2): 10 ms from hub 1                       -> other (5)
     *   3 (loc3): 50 ms from hub 1, 30 ms to hub 6       -> the best near hub counts: 5
     *   7 (loc3): 40 ms from hub 1, 36 ms back            -> high latency (10)
     *   8 (loc3): only an entry marked unreachable         -> not measured: 10
     *   5 (loc4): never measured                           -> 10
     *   4 (loc2): offline                                  -> unreachable
     *   9 (loc1): offline; its 1 ms to hub 7 must not count
     */
    jcs_topo_hub hubs[] = {hub(1, "loc1", true),  hub(2, "loc2", true), hub(3, "loc3", true),
                           hub(4, "loc2", false), hub(5, "loc4", true), hub(6, "loc1", true),
                           hub(7, "loc3", true),  hub(8, "loc3", true), hub(9, "loc1", false)};
    jcs_topo_latency lats[] = {lat(1, 2, 10), lat(1, 3, 50), lat(3, 6, 30), lat(1, 7, 40),
                               lat(7, 1, 36), lat(1, 8, 1),  lat(9, 7, 1),  lat(4, 2, 1)};
    lats[5].reachable = false;
    jcs_topo_params p = {"loc1", 35};
    jcs_topo_snap *s = NULL;
    T_OK(jcs_topo_snap_build(hubs, 9, NULL, 0, lats, 8, &p, &s));
    static const struct {
        int64_t id;
        double d;
    } want[] = {{1, 1}, {6, 1}, {2, 5}, {3, 5}, {7, 10}, {8, 10}, {5, 10}, {4, INFINITY}};
    int ok = 1;
    size_t bad = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]) && ok; i++) {
        ok = jcs_topo_snap_distance(s, want[i].id) == want[i].d;
        bad = i;
    }
    double d3 = jcs_topo_snap_find(s, 3)->latency_ms;
    double d5 = jcs_topo_snap_find(s, 5)->latency_ms;
    double unknown = jcs_topo_snap_distance(s, 99);
    size_t n;
    const jcs_topo_hub *sorted = jcs_topo_snap_hubs(s, &n);
    int ascending = n == 9;
    for (size_t i = 1; i < n; i++)
        ascending = ascending && sorted[i - 1].id < sorted[i].id;
    double got = jcs_topo_snap_distance(s, want[bad].id);
    jcs_topo_snap_release(s);
    T_ASSERT(ok, "(hub %lld: distance %g, want %g)", (long long)want[bad].id, got, want[bad].d);
    T_ASSERT(d3 == 30, "(hub 3's estimated latency %g, want 30: the lower direction)", d3);
    T_ASSERT(d5 < 0);
    T_ASSERT(isinf(unknown));
    T_ASSERT(ascending);
}

TEST(without_a_client_location_the_hubs_average_latency_counts)
{
    /* a-b 10, a-c 50, b-c 30: averages a 30, b 20, c 40; threshold 35. */
    jcs_topo_hub hubs[] = {hub(1, "loc1", true), hub(2, "loc2", true), hub(3, "loc3", true)};
    jcs_topo_latency lats[] = {lat(1, 2, 10), lat(2, 1, 12), lat(1, 3, 50), lat(3, 2, 30)};
    jcs_topo_params p = {"", 35};
    jcs_topo_snap *s = NULL;
    T_OK(jcs_topo_snap_build(hubs, 3, NULL, 0, lats, 4, &p, &s));
    double la = jcs_topo_snap_find(s, 1)->latency_ms, lb = jcs_topo_snap_find(s, 2)->latency_ms,
           lc = jcs_topo_snap_find(s, 3)->latency_ms;
    double da = jcs_topo_snap_distance(s, 1), db = jcs_topo_snap_distance(s, 2),
           dc = jcs_topo_snap_distance(s, 3);
    jcs_topo_snap_release(s);
    T_ASSERT(la == 30 && lb == 20 && lc == 40, "(estimates %g %g %g)", la, lb, lc);
    T_ASSERT(da == 5 && db == 5 && dc == 10, "(distances %g %g %g)", da, db, dc);

    /* A client location no hub has is the same as none. */
    p.location = "elsewhere";
    T_OK(jcs_topo_snap_build(hubs, 3, NULL, 0, lats, 4, &p, &s));
    dc = jcs_topo_snap_distance(s, 3);
    db = jcs_topo_snap_distance(s, 2);
    jcs_topo_snap_release(s);
    T_ASSERT(db == 5 && dc == 10);
}

TEST(distance_between_hubs)
{
    jcs_topo_hub hubs[] = {hub(1, "loc1", true), hub(2, "loc1", true), hub(3, "loc2", true),
                           hub(4, "loc3", true), hub(5, "loc4", true), hub(6, "loc2", false)};
    jcs_topo_latency lats[] = {lat(1, 3, 20), lat(4, 1, 80), lat(1, 4, 30), lat(1, 6, 1)};
    jcs_topo_params p = {"loc1", 35};
    jcs_topo_snap *s = NULL;
    T_OK(jcs_topo_snap_build(hubs, 6, NULL, 0, lats, 4, &p, &s));
    double same = jcs_topo_snap_distance_between(s, 3, 3);
    double loc = jcs_topo_snap_distance_between(s, 1, 2);
    double other = jcs_topo_snap_distance_between(s, 3, 1); /* 1->3 measured, either direction */
    double lower = jcs_topo_snap_distance_between(s, 1, 4); /* 80 one way, 30 the other */
    double unmeasured = jcs_topo_snap_distance_between(s, 3, 5);
    double offline = jcs_topo_snap_distance_between(s, 1, 6);
    double unknown = jcs_topo_snap_distance_between(s, 1, 42);
    double ms = 0;
    bool have = jcs_topo_snap_latency(s, 4, 1, &ms);
    bool none = jcs_topo_snap_latency(s, 3, 5, NULL);
    jcs_topo_snap_release(s);
    T_ASSERT(same == JCS_TOPO_SAME_HUB && same == 0.1);
    T_ASSERT(loc == 1 && other == 5 && lower == 5, "(%g %g %g)", loc, other, lower);
    T_ASSERT(unmeasured == 10);
    T_ASSERT(isinf(offline) && isinf(unknown));
    T_ASSERT(have && ms == 30 && !none);
}

TEST(duplicate_hubs_are_refused_and_duplicate_latencies_keep_the_newest)
{
    jcs_topo_hub hubs[] = {hub(1, "loc1", true), hub(2, "loc2", true), hub(1, "loc3", true)};
    jcs_topo_snap *s = NULL;
    int rc = jcs_topo_snap_build(hubs, 3, NULL, 0, NULL, 0, NULL, &s);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "hub id 1") != NULL, "(%s)", jcs_err_msg(rc));
    T_ASSERT(s == NULL);

    jcs_topo_latency lats[] = {lat(1, 2, 90), lat(1, 2, 10), lat(1, 2, 70)};
    lats[0].tested_at_ms = 3000; /* the newest, listed first */
    lats[1].tested_at_ms = 1000;
    lats[2].tested_at_ms = 2000;
    jcs_topo_params p = {"loc1", 35};
    T_OK(jcs_topo_snap_build(hubs, 2, NULL, 0, lats, 3, &p, &s));
    double ms = 0;
    bool have = jcs_topo_snap_latency(s, 1, 2, &ms);
    double d = jcs_topo_snap_distance(s, 2);
    jcs_topo_snap_release(s);
    T_ASSERT(have && ms == 90 && d == 10, "(%g ms, distance %g)", ms, d);
}

/* ------------------------------------------------ a fake coordinator */

static testcerts tc;
static const jcs_tls_files *coord_tls, *client_tls;
static int fixture_state;
static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static jcs_topo_hub fake_hubs[8];
static size_t fake_nhubs;
static jcs_topo_latency fake_lats[16];
static size_t fake_nlats;
static atomic_int fake_calls;

static void fixture_cleanup(void)
{
    testcerts_cleanup(&tc);
    jcs_rpc_shutdown();
}

static int fixture(void)
{
    if (fixture_state)
        return fixture_state > 0 ? 0 : -1;
    fixture_state = -1;
    if (testcerts_init(&tc) != 0)
        return -1;
    jcs_rpc_init();
    /* As in test_rpc.c: OpenSSL's exit handler must run after ours, once gRPC's threads are
     * gone, or their OpenSSL error queues leak. */
    OPENSSL_init_ssl(0, NULL);
    atexit(fixture_cleanup);
    coord_tls = testcerts_issue(&tc, "coordinator", "coordinator", false);
    client_tls = testcerts_issue(&tc, "client", "client", false);
    if (!coord_tls || !client_tls)
        return -1;
    fixture_state = 1;
    return 0;
}

static int drain(jcs_rpc_call *c, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *req = NULL;
    int rc = jcs_rpc_call_recv(c, d, &req);
    if (req)
        protobuf_c_message_free_unpacked(req, NULL);
    return rc < 0 ? rc : 0;
}

static int h_list_hubs(jcs_rpc_call *c, void *ctx)
{
    int rc = drain(c, &jcs__coordinator__list_hubs_req__descriptor);
    if (rc)
        return rc;
    Jcs__Coordinator__ListHubsResp resp = JCS__COORDINATOR__LIST_HUBS_RESP__INIT;
    Jcs__Coordinator__Hub hubs[8], *ptrs[8];
    pthread_mutex_lock(&fake_mu);
    for (size_t i = 0; i < fake_nhubs; i++) {
        Jcs__Coordinator__Hub h = JCS__COORDINATOR__HUB__INIT;
        h.hub_id = fake_hubs[i].id;
        h.name = fake_hubs[i].name;
        h.location_id = fake_hubs[i].location_id;
        h.location_name = fake_hubs[i].location;
        h.address = fake_hubs[i].address;
        h.state = fake_hubs[i].online ? JCS__COORDINATOR__HUB_STATE__HUB_ONLINE
                                      : JCS__COORDINATOR__HUB_STATE__HUB_OFFLINE;
        h.last_heartbeat_ms = 1234;
        hubs[i] = h;
        ptrs[i] = &hubs[i];
    }
    resp.n_hubs = fake_nhubs;
    resp.hubs = ptrs;
    rc = jcs_rpc_call_send(c, &resp.base);
    pthread_mutex_unlock(&fake_mu);
    atomic_fetch_add(&fake_calls, 1);
    return rc;
}

static int h_list_locations(jcs_rpc_call *c, void *ctx)
{
    int rc = drain(c, &jcs__coordinator__list_locations_req__descriptor);
    if (rc)
        return rc;
    Jcs__Coordinator__ListLocationsResp resp = JCS__COORDINATOR__LIST_LOCATIONS_RESP__INIT;
    Jcs__Coordinator__Location l1 = JCS__COORDINATOR__LOCATION__INIT;
    Jcs__Coordinator__Location *ptrs[1] = {&l1};
    l1.location_id = 1;
    l1.name = "loc1";
    resp.n_locations = 1;
    resp.locations = ptrs;
    return jcs_rpc_call_send(c, &resp.base);
}

static int h_get_connectivity(jcs_rpc_call *c, void *ctx)
{
    int rc = drain(c, &jcs__coordinator__get_connectivity_req__descriptor);
    if (rc)
        return rc;
    Jcs__Coordinator__GetConnectivityResp resp = JCS__COORDINATOR__GET_CONNECTIVITY_RESP__INIT;
    Jcs__Coordinator__Latency e[16], *ptrs[16];
    pthread_mutex_lock(&fake_mu);
    for (size_t i = 0; i < fake_nlats; i++) {
        Jcs__Coordinator__Latency x = JCS__COORDINATOR__LATENCY__INIT;
        x.from_hub_id = fake_lats[i].from_hub_id;
        x.to_hub_id = fake_lats[i].to_hub_id;
        x.latency_ms = fake_lats[i].latency_ms;
        x.reachable = fake_lats[i].reachable;
        x.tested_at_ms = fake_lats[i].tested_at_ms;
        e[i] = x;
        ptrs[i] = &e[i];
    }
    resp.n_entries = fake_nlats;
    resp.entries = ptrs;
    rc = jcs_rpc_call_send(c, &resp.base);
    pthread_mutex_unlock(&fake_mu);
    return rc;
}

static const jcs_rpc_method fake_methods[] = {
    {JCS_M_LIST_HUBS, JCS_ROLE_ANY, h_list_hubs},
    {JCS_M_LIST_LOCATIONS, JCS_ROLE_ANY, h_list_locations},
    {JCS_M_GET_CONNECTIVITY, JCS_ROLE_ANY, h_get_connectivity},
};

static void fake_set(const jcs_topo_hub *hubs, size_t n, const jcs_topo_latency *lats, size_t m)
{
    pthread_mutex_lock(&fake_mu);
    memcpy(fake_hubs, hubs, n * sizeof(*hubs));
    fake_nhubs = n;
    memcpy(fake_lats, lats, m * sizeof(*lats));
    fake_nlats = m;
    pthread_mutex_unlock(&fake_mu);
}

static int fake_up(jcs_rpc_server **srv, char *addr, size_t len)
{
    if (fixture() != 0)
        return -1;
    if (jcs_rpc_server_create("127.0.0.1:0", coord_tls, fake_methods, 3, NULL, srv) != 0 ||
        jcs_rpc_server_start(*srv) != 0)
        return -1;
    snprintf(addr, len, "127.0.0.1:%d", jcs_rpc_server_port(*srv));
    return 0;
}

TEST(cache_fills_in_from_the_coordinator_and_follows_changes)
{
    jcs_rpc_server *srv = NULL;
    char addr[64];
    T_ASSERT(fake_up(&srv, addr, sizeof(addr)) == 0, "(fake coordinator did not start)");
    jcs_topo_hub hubs[] = {hub(1, "loc1", true), hub(2, "loc2", true), hub(3, "loc3", true)};
    jcs_topo_latency lats[] = {lat(1, 2, 5), lat(1, 3, 100)};
    fake_set(hubs, 3, lats, 2);

    jcs_rpc_channel *ch = NULL;
    jcs_topo *t = NULL;
    T_OK(jcs_rpc_channel_open(addr, client_tls, &ch));
    jcs_topo_opts o = {{"loc1", 35}, 3600 * 1000, 0};
    int rc = jcs_topo_new(ch, &o, &t);
    if (rc)
        jcs_rpc_channel_free(ch);
    T_OK(rc);

    /* Before any refresh the view is empty: every hub is unreachable. */
    int empty = isinf(jcs_topo_distance(t, 1));
    rc = jcs_topo_refresh(t);
    jcs_topo_hub h2;
    int got2 = jcs_topo_hub_get(t, 2, &h2);
    double d1 = jcs_topo_distance(t, 1), d2 = jcs_topo_distance(t, 2), d3 = jcs_topo_distance(t, 3),
           b23 = jcs_topo_distance_between(t, 2, 3);
    jcs_topo_snap *s = jcs_topo_acquire(t);
    size_t nlocs = 0;
    const jcs_topo_location *locs = jcs_topo_snap_locations(s, &nlocs);
    int locs_ok = nlocs == 1 && strcmp(locs[0].name, "loc1") == 0;
    int64_t when = jcs_topo_snap_time(s);

    /* Hub 3 gets close, hub 2 goes offline; the old snapshot a reader holds stays as it was. */
    hubs[1].online = false;
    lats[1].latency_ms = 20;
    fake_set(hubs, 3, lats, 2);
    int rc2 = jcs_topo_refresh(t);
    double old_d2 = jcs_topo_snap_distance(s, 2);
    jcs_topo_snap_release(s);
    double new_d2 = jcs_topo_distance(t, 2), new_d3 = jcs_topo_distance(t, 3);
    jcs_topo_hub missing;
    int rc3 = jcs_topo_hub_get(t, 77, &missing);
    char msg3[256];
    snprintf(msg3, sizeof(msg3), "%s", jcs_err_msg(rc3));
    uint64_t nref = jcs_topo_refreshes(t);

    /* The coordinator goes away: the refresh fails naming it, the view stays. */
    jcs_rpc_server_free(srv);
    int rc4 = jcs_topo_refresh(t);
    char msg4[512];
    snprintf(msg4, sizeof(msg4), "%s", jcs_err_msg(rc4));
    double kept_d3 = jcs_topo_distance(t, 3);
    jcs_topo_free(t);
    jcs_rpc_channel_free(ch);

    T_ASSERT(empty);
    T_OK(rc);
    T_OK(got2);
    T_EQ_STR(h2.name, "hub2");
    T_EQ_STR(h2.location, "loc2");
    T_EQ_STR(h2.address, "127.0.0.1:5002");
    T_ASSERT(h2.online && h2.last_heartbeat_ms == 1234);
    T_ASSERT(d1 == 1 && d2 == 5 && d3 == 10 && b23 == 10, "(%g %g %g %g)", d1, d2, d3, b23);
    T_ASSERT(locs_ok);
    T_ASSERT(when > 0);
    T_OK(rc2);
    T_ASSERT(old_d2 == 5 && isinf(new_d2) && new_d3 == 5, "(%g %g %g)", old_d2, new_d2, new_d3);
    T_EQ_INT(rc3, JCS_ENOENT);
    T_ASSERT(strstr(msg3, "77") != NULL, "(%s)", msg3);
    T_EQ_INT(nref, 2);
    T_ASSERT(rc4 != 0);
    T_ASSERT(strstr(msg4, addr) != NULL && strstr(msg4, "ListHubs") != NULL, "(%s)", msg4);
    T_ASSERT(kept_d3 == 5);
}

struct reader_arg {
    jcs_topo *t;
    atomic_int *stop;
    long reads, bad;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    while (!atomic_load(a->stop)) {
        jcs_topo_snap *s = jcs_topo_acquire(a->t);
        size_t n;
        const jcs_topo_hub *hubs = jcs_topo_snap_hubs(s, &n);
        /* Every snapshot is whole: either no hubs yet or all three, each ranked (hub 2 flips
         * between online and offline). */
        if (n != 0 && n != 3)
            a->bad++;
        for (size_t i = 0; i < n; i++)
            if (hubs[i].distance != 1 && hubs[i].distance != 5 && hubs[i].distance != 10 &&
                !(hubs[i].id == 2 && isinf(hubs[i].distance)))
                a->bad++;
        jcs_topo_snap_release(s);
        (void)jcs_topo_distance(a->t, 2);
        a->reads++;
    }
    return NULL;
}

TEST(background_refresh_runs_while_readers_read)
{
    jcs_rpc_server *srv = NULL;
    char addr[64];
    T_ASSERT(fake_up(&srv, addr, sizeof(addr)) == 0, "(fake coordinator did not start)");
    jcs_topo_hub hubs[] = {hub(1, "loc1", true), hub(2, "loc2", true), hub(3, "loc3", true)};
    jcs_topo_latency lats[] = {lat(1, 2, 5), lat(1, 3, 100)};
    fake_set(hubs, 3, lats, 2);
    jcs_rpc_channel *ch = NULL;
    jcs_topo *t = NULL;
    T_OK(jcs_rpc_channel_open(addr, client_tls, &ch));
    jcs_topo_opts o = {{"loc1", 35}, 20, 0};
    int rc = jcs_topo_new(ch, &o, &t);
    if (!rc)
        rc = jcs_topo_start(t);
    atomic_int stop;
    atomic_init(&stop, 0);
    struct reader_arg args[3];
    pthread_t th[3];
    for (int i = 0; !rc && i < 3; i++) {
        args[i] = (struct reader_arg){t, &stop, 0, 0};
        pthread_create(&th[i], NULL, reader, &args[i]);
    }
    /* Wait (bounded) for several background refreshes, flipping hub 2 between them. */
    int64_t end = jcs_now_ms() + 20000;
    uint64_t seen = 0;
    int flips = 0;
    while (!rc && jcs_now_ms() < end && (seen = jcs_topo_refreshes(t)) < 6) {
        hubs[1].online = !hubs[1].online;
        fake_set(hubs, 3, lats, 2);
        flips++;
        jcs_sleep_ms(10);
    }
    /* Settle on "online" and wait until the view shows it. */
    hubs[1].online = true;
    fake_set(hubs, 3, lats, 2);
    uint64_t mark = rc ? 0 : jcs_topo_refreshes(t);
    while (!rc && jcs_now_ms() < end && jcs_topo_refreshes(t) < mark + 2)
        jcs_sleep_ms(10);
    double d2 = rc ? -1 : jcs_topo_distance(t, 2);
    atomic_store(&stop, 1);
    long reads = 0, bad = 0;
    for (int i = 0; !rc && i < 3; i++) {
        pthread_join(th[i], NULL);
        reads += args[i].reads;
        bad += args[i].bad;
    }
    jcs_topo_free(t);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(rc);
    T_ASSERT(seen >= 6, "(%llu background refreshes in 20 s)", (unsigned long long)seen);
    T_ASSERT(d2 == 5, "(%g)", d2);
    T_ASSERT(reads > 0 && bad == 0, "(%ld reads, %ld inconsistent)", reads, bad);
    (void)flips;
}

TEST(new_refuses_a_missing_channel_or_interval)
{
    jcs_topo *t = NULL;
    jcs_topo_opts o = {{"loc1", 35}, 0, 0};
    int rc = jcs_topo_new(NULL, &o, &t);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(t == NULL);
    jcs_topo_free(NULL);
    jcs_topo_snap_release(NULL);
}
