/*
 * membership.c - registration, heartbeats and the connectivity test.
 * hub.h has the design note.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "coordinator.pb-c.h"
#include "hub.h"
#include "hub.pb-c.h"
#include "log.h"
#include "methods.h"
#include "util.h"

#define CALL_TIMEOUT_MS 5000
#define PING_TIMEOUT_MS 2000
/*
 * The measured ping carries this much padding, so the latency between two
 * hubs includes moving a small block across their link: on a link limited
 * to R bit/s it adds about 8 * PING_PROBE_BYTES / R (3 ms at 40 Mbit/s),
 * where a bare ping would go through an idle link's token bucket at once.
 */
#define PING_PROBE_BYTES 16384
#define MAX_PEERS        1024

static int register_once(hub *h)
{
    Jcs__Coordinator__RegisterHubReq req = JCS__COORDINATOR__REGISTER_HUB_REQ__INIT;
    ProtobufCMessage *out = NULL;
    req.name = h->cfg.name;
    req.location = h->cfg.location;
    req.address = h->address;
    int rc = jcs_rpc_unary(h->coord, JCS_M_REGISTER_HUB, &req.base,
                           &jcs__coordinator__register_hub_resp__descriptor, &out, CALL_TIMEOUT_MS);
    if (rc)
        return rc;
    Jcs__Coordinator__RegisterHubResp *resp = (Jcs__Coordinator__RegisterHubResp *)out;
    atomic_store(&h->hub_id, resp->hub_id);
    int hb = resp->heartbeat_interval_ms;
    /* Our own setting wins when it asks for more frequent heartbeats. */
    if (h->cfg.heartbeat_interval_s > 0 && h->cfg.heartbeat_interval_s * 1000 < hb)
        hb = (int)(h->cfg.heartbeat_interval_s * 1000);
    atomic_store(&h->heartbeat_ms, hb > 0 ? hb : 5000);
    jcs_info("registered with coordinator %s as hub %" PRId64 " (location %s, address %s)",
             h->cfg.coordinator, resp->hub_id, h->cfg.location, h->address);
    protobuf_c_message_free_unpacked(out, NULL);
    return JCS_OK;
}

int hub_register(hub *h, int64_t timeout_ms)
{
    int64_t deadline = jcs_now_ms() + timeout_ms;
    int64_t backoff = 100;
    for (;;) {
        int rc = register_once(h);
        if (rc == JCS_OK)
            return JCS_OK;
        /* Refusals (wrong certificate, bad field) will not change by retrying. */
        if (rc != JCS_EUNAVAIL && rc != JCS_ETIMEOUT && rc != JCS_EDB && rc != JCS_EINTERNAL &&
            rc != JCS_ERPC)
            return jcs_err_wrap(rc, "coordinator %s refused registration: ", h->cfg.coordinator);
        if (jcs_now_ms() + backoff >= deadline || jcs_stopper_stopped(h->stop))
            return jcs_err_wrap(rc, "coordinator %s: cannot register within %" PRId64 " ms: ",
                                h->cfg.coordinator, timeout_ms);
        if (jcs_stopper_sleep(h->stop, backoff))
            return jcs_err_set(JCS_ECANCELED, "stopped while registering");
        backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
    }
}

static void *membership_main(void *arg)
{
    hub *h = arg;
    int lost = 0;
    while (!jcs_stopper_sleep(h->stop, atomic_load(&h->heartbeat_ms))) {
        int rc;
        if (lost) {
            /*
             * After any failed heartbeat, register again rather than trust
             * that the coordinator still knows us: it may have restarted
             * with a fresh database.
             */
            rc = register_once(h);
        } else {
            Jcs__Coordinator__HeartbeatReq req = JCS__COORDINATOR__HEARTBEAT_REQ__INIT;
            ProtobufCMessage *out = NULL;
            req.hub_id = atomic_load(&h->hub_id);
            rc =
                jcs_rpc_unary(h->coord, JCS_M_HEARTBEAT, &req.base,
                              &jcs__coordinator__heartbeat_resp__descriptor, &out, CALL_TIMEOUT_MS);
            if (out)
                protobuf_c_message_free_unpacked(out, NULL);
        }
        if (rc && !lost) {
            jcs_warn("heartbeat to coordinator %s failed: %s; will register again",
                     h->cfg.coordinator, jcs_err_msg(rc));
            lost = 1;
        } else if (!rc && lost) {
            jcs_info("coordinator %s reachable again", h->cfg.coordinator);
            lost = 0;
        }
    }
    return NULL;
}

/* A cached channel to another hub, reopened when its address changes. */
struct peer {
    int64_t hub_id;
    char *address;
    jcs_rpc_channel *ch;
};

static jcs_rpc_channel *peer_channel(hub *h, struct peer *peers, size_t *npeers, int64_t id,
                                     const char *address)
{
    struct peer *p = NULL;
    for (size_t i = 0; i < *npeers; i++)
        if (peers[i].hub_id == id)
            p = &peers[i];
    if (p && strcmp(p->address, address) != 0) {
        jcs_rpc_channel_free(p->ch);
        jcs_free(p->address);
        p->ch = NULL;
        p->address = NULL;
    }
    if (!p) {
        if (*npeers >= MAX_PEERS)
            return NULL;
        p = &peers[(*npeers)++];
        memset(p, 0, sizeof(*p));
        p->hub_id = id;
    }
    if (!p->ch) {
        jcs_tls_files tls = jcs_service_tls_files(&h->cfg.tls);
        p->address = jcs_strdup(address);
        if (!p->address || jcs_rpc_channel_open(address, &tls, &p->ch) != 0) {
            jcs_free(p->address);
            p->address = jcs_strdup("");
            p->ch = NULL;
        }
    }
    return p->ch;
}

/* Pings every other online hub once and reports the row of the matrix. */
static void test_connectivity(hub *h, struct peer *peers, size_t *npeers)
{
    Jcs__Coordinator__ListHubsReq lreq = JCS__COORDINATOR__LIST_HUBS_REQ__INIT;
    ProtobufCMessage *out = NULL;
    int64_t self = atomic_load(&h->hub_id);
    int rc = jcs_rpc_unary(h->coord, JCS_M_LIST_HUBS, &lreq.base,
                           &jcs__coordinator__list_hubs_resp__descriptor, &out, CALL_TIMEOUT_MS);
    if (rc) {
        jcs_debug("connectivity test skipped: cannot list hubs: %s", jcs_err_msg(rc));
        return;
    }
    Jcs__Coordinator__ListHubsResp *list = (Jcs__Coordinator__ListHubsResp *)out;
    /* Zeros would compress, but nothing on the way compresses (no gRPC or TLS compression).
     * Never written: protobuf-c only wants a non-const pointer. */
    static uint8_t probe[PING_PROBE_BYTES];
    Jcs__Coordinator__Latency *ents = jcs_calloc(list->n_hubs, sizeof(*ents));
    Jcs__Coordinator__Latency **ptrs = jcs_calloc(list->n_hubs, sizeof(*ptrs));
    size_t n = 0;
    if (!ents || !ptrs)
        goto out;
    for (size_t i = 0; i < list->n_hubs && !jcs_stopper_stopped(h->stop); i++) {
        const Jcs__Coordinator__Hub *o = list->hubs[i];
        if (o->hub_id == self || o->state != JCS__COORDINATOR__HUB_STATE__HUB_ONLINE)
            continue;
        Jcs__Coordinator__Latency e = JCS__COORDINATOR__LATENCY__INIT;
        e.from_hub_id = self;
        e.to_hub_id = o->hub_id;
        e.tested_at_ms = jcs_wall_ms();
        jcs_rpc_channel *ch = peer_channel(h, peers, npeers, o->hub_id, o->address);
        if (ch) {
            Jcs__Hub__PingReq preq = JCS__HUB__PING_REQ__INIT;
            ProtobufCMessage *pong = NULL;
            preq.from_hub_id = self;
            preq.sent_at_ms = e.tested_at_ms;
            int64_t t0 = jcs_now_us();
            int prc = jcs_rpc_unary(ch, JCS_M_PING, &preq.base, &jcs__hub__ping_resp__descriptor,
                                    &pong, PING_TIMEOUT_MS);
            /* The first call on a new channel pays for the handshake: measure a second one. */
            if (prc == 0) {
                protobuf_c_message_free_unpacked(pong, NULL);
                pong = NULL;
                preq.padding.data = probe;
                preq.padding.len = sizeof probe;
                t0 = jcs_now_us();
                prc = jcs_rpc_unary(ch, JCS_M_PING, &preq.base, &jcs__hub__ping_resp__descriptor,
                                    &pong, PING_TIMEOUT_MS);
            }
            if (prc == 0) {
                e.reachable = 1;
                e.latency_ms = (double)(jcs_now_us() - t0) / 1000.0;
                protobuf_c_message_free_unpacked(pong, NULL);
            } else {
                jcs_debug("ping hub %s (%s) failed: %s", o->name, o->address, jcs_err_msg(prc));
            }
        }
        ents[n] = e;
        ptrs[n] = &ents[n];
        n++;
    }
    Jcs__Coordinator__ReportConnectivityReq rreq = JCS__COORDINATOR__REPORT_CONNECTIVITY_REQ__INIT;
    rreq.hub_id = self;
    rreq.n_entries = n;
    rreq.entries = ptrs;
    ProtobufCMessage *rout = NULL;
    rc = jcs_rpc_unary(h->coord, JCS_M_REPORT_CONNECTIVITY, &rreq.base,
                       &jcs__coordinator__report_connectivity_resp__descriptor, &rout,
                       CALL_TIMEOUT_MS);
    if (rout)
        protobuf_c_message_free_unpacked(rout, NULL);
    if (rc)
        jcs_debug("connectivity report failed: %s", jcs_err_msg(rc));
out:
    jcs_free(ents);
    jcs_free(ptrs);
    protobuf_c_message_free_unpacked(out, NULL);
}

static void *connectivity_main(void *arg)
{
    hub *h = arg;
    struct peer *peers = jcs_calloc(MAX_PEERS, sizeof(*peers));
    size_t npeers = 0;
    if (!peers) {
        jcs_error("connectivity test disabled: out of memory");
        return NULL;
    }
    do {
        test_connectivity(h, peers, &npeers);
    } while (!jcs_stopper_sleep(h->stop, h->cfg.test_interval_s * 1000));
    for (size_t i = 0; i < npeers; i++) {
        jcs_rpc_channel_free(peers[i].ch);
        jcs_free(peers[i].address);
    }
    jcs_free(peers);
    return NULL;
}

int hub_threads_start(hub *h)
{
    if (pthread_create(&h->membership, NULL, membership_main, h) != 0)
        return jcs_err_set(JCS_EIO, "cannot start the membership thread");
    if (pthread_create(&h->connectivity, NULL, connectivity_main, h) != 0) {
        jcs_stopper_stop(h->stop);
        pthread_join(h->membership, NULL);
        return jcs_err_set(JCS_EIO, "cannot start the connectivity thread");
    }
    h->threads_started = 1;
    return JCS_OK;
}

void hub_threads_stop(hub *h)
{
    jcs_stopper_stop(h->stop);
    if (!h->threads_started)
        return;
    pthread_join(h->membership, NULL);
    pthread_join(h->connectivity, NULL);
    h->threads_started = 0;
}
