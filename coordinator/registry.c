/*
 * registry.c - the coordinator's RPC handlers, schema and liveness sweeper.
 * coord.h has the design note.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "coord.h"
#include "coordinator.pb-c.h"
#include "log.h"
#include "methods.h"
#include "util.h"

#define HUB_ONLINE  JCS__COORDINATOR__HUB_STATE__HUB_ONLINE
#define HUB_OFFLINE JCS__COORDINATOR__HUB_STATE__HUB_OFFLINE

#define MAX_NAME      255
#define MAX_HUBS      100000
#define MAX_ENTRIES   100000
#define LOCK_TTL_MIN  100
#define LOCK_TTL_MAX  3600000
#define LOCK_WAIT_MAX 600000

/* ------------------------------------------------------------------ schema */

static const char *const schema_steps[] = {
    /* 1: hubs, locations, the latency matrix and leases. */
    "CREATE TABLE IF NOT EXISTS location ("
    " location_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " UNIQUE KEY uk_location_name (name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
    "CREATE TABLE IF NOT EXISTS hub ("
    " hub_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " name VARCHAR(64) NOT NULL,"
    " location_id BIGINT NOT NULL,"
    " address VARCHAR(255) NOT NULL,"
    " state TINYINT NOT NULL,"
    " last_heartbeat_ms BIGINT NOT NULL,"
    " registered_ms BIGINT NOT NULL,"
    " UNIQUE KEY uk_hub_name (name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
    "CREATE TABLE IF NOT EXISTS connectivity ("
    " from_hub_id BIGINT NOT NULL,"
    " to_hub_id BIGINT NOT NULL,"
    " latency_ms DOUBLE NOT NULL,"
    " reachable TINYINT NOT NULL,"
    " tested_at_ms BIGINT NOT NULL,"
    " PRIMARY KEY (from_hub_id, to_hub_id)) ENGINE=InnoDB;\n"
    "CREATE TABLE IF NOT EXISTS lease ("
    " lease_id CHAR(32) NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " mode TINYINT NOT NULL,"
    " holder VARCHAR(512) NOT NULL,"
    " holder_role VARCHAR(16) NOT NULL,"
    " holder_cn VARCHAR(255) NOT NULL,"
    " expires_at_ms BIGINT NOT NULL,"
    " KEY k_lease_name (name),"
    " KEY k_lease_holder (holder_role, holder_cn)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
};

int coord_migrate(coord *c)
{
    return jcs_db_migrate(c->db, schema_steps, sizeof(schema_steps) / sizeof(schema_steps[0]));
}

/* ----------------------------------------------------------------- helpers */

static int reply(jcs_rpc_call *call, const void *msg)
{
    return jcs_rpc_call_send(call, (const ProtobufCMessage *)msg);
}

static void free_msg(void *m)
{
    if (m)
        protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

static int check_name(const char *what, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0)
        return jcs_err_set(JCS_EINVAL, "field %s is empty", what);
    if (n > max)
        return jcs_err_set(JCS_EINVAL, "field %s is %zu bytes; at most %zu", what, n, max);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return jcs_err_set(JCS_EINVAL, "field %s has a control character", what);
    return JCS_OK;
}

/*
 * Loads hub hub_id's name and state and checks the caller owns it: a hub
 * certificate may only speak for the hub of the same name.
 */
static int own_hub(jcs_db_conn *db, jcs_rpc_call *call, int64_t hub_id, int *state)
{
    jcs_db_result *r = NULL;
    jcs_db_val p[] = {JCS_DB_I(hub_id)};
    int rc = jcs_db_query(db, "SELECT name, state FROM hub WHERE hub_id = ?", p, 1, 1, &r);
    if (rc)
        return rc;
    if (r->nrows == 0) {
        jcs_db_result_free(r);
        return jcs_err_set(JCS_ENOENT, "hub %" PRId64 " is not registered; register again", hub_id);
    }
    const char *name = jcs_db_cell(r, 0, 0)->s;
    if (strcmp(name, jcs_rpc_call_peer_name(call)) != 0) {
        rc = jcs_err_set(JCS_EPERM, "hub %" PRId64 " is %s, but the caller's certificate is %s",
                         hub_id, name, jcs_rpc_call_peer(call));
    } else if (state) {
        *state = (int)jcs_db_cell(r, 0, 1)->i;
    }
    jcs_db_result_free(r);
    return rc;
}

/* ------------------------------------------------------------ RegisterHub */

struct reg_txn {
    jcs_rpc_call *call;
    const Jcs__Coordinator__RegisterHubReq *req;
    int64_t hub_id, location_id;
    int was_state; /* 0 when new */
};

static int reg_fn(jcs_db_conn *db, void *arg)
{
    struct reg_txn *t = arg;
    int64_t now = jcs_wall_ms();
    uint64_t id = 0;
    jcs_db_result *r = NULL;

    jcs_db_val lp[] = {JCS_DB_S(t->req->location)};
    int rc = jcs_db_exec(db,
                         "INSERT INTO location (name) VALUES (?) ON DUPLICATE KEY UPDATE "
                         "location_id = LAST_INSERT_ID(location_id)",
                         lp, 1, NULL, &id);
    if (rc)
        return rc;
    t->location_id = (int64_t)id;

    jcs_db_val sp[] = {JCS_DB_S(t->req->name)};
    rc = jcs_db_query(db, "SELECT state FROM hub WHERE name = ?", sp, 1, 1, &r);
    if (rc)
        return rc;
    t->was_state = r->nrows ? (int)jcs_db_cell(r, 0, 0)->i : 0;
    jcs_db_result_free(r);

    jcs_db_val hp[] = {JCS_DB_S(t->req->name),
                       JCS_DB_I(t->location_id),
                       JCS_DB_S(t->req->address),
                       JCS_DB_I(HUB_ONLINE),
                       JCS_DB_I(now),
                       JCS_DB_I(now)};
    rc = jcs_db_exec(db,
                     "INSERT INTO hub (name, location_id, address, state, last_heartbeat_ms,"
                     " registered_ms) VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE"
                     " location_id = VALUES(location_id), address = VALUES(address),"
                     " state = VALUES(state), last_heartbeat_ms = VALUES(last_heartbeat_ms),"
                     " hub_id = LAST_INSERT_ID(hub_id)",
                     hp, 6, NULL, &id);
    if (rc)
        return rc;
    t->hub_id = (int64_t)id;
    return JCS_OK;
}

static int h_register_hub(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    Jcs__Coordinator__RegisterHubReq *req = NULL;
    char host[256];
    int port;
    int rc = jcs_rpc_call_recv_request(call, &jcs__coordinator__register_hub_req__descriptor,
                                       (void **)&req);
    if (rc)
        return rc;
    if ((rc = check_name("name", req->name, 64)) ||
        (rc = check_name("location", req->location, MAX_NAME)) ||
        (rc = check_name("address", req->address, MAX_NAME)))
        goto out;
    if ((rc = jcs_parse_addr(req->address, host, sizeof(host), &port)) != 0 || port == 0) {
        rc = jcs_err_set(JCS_EINVAL, "field address \"%s\": want host:port with a non-zero port",
                         req->address);
        goto out;
    }
    if (strcmp(req->name, jcs_rpc_call_peer_name(call)) != 0) {
        rc = jcs_err_set(JCS_EPERM,
                         "a hub may only register under its certificate's name: "
                         "asked for \"%s\", certificate is %s",
                         req->name, jcs_rpc_call_peer(call));
        jcs_warn("refused RegisterHub: %s", jcs_err_msg(rc));
        goto out;
    }
    struct reg_txn t = {.call = call, .req = req};
    if ((rc = jcs_db_txn(c->db, reg_fn, &t)) != 0)
        goto out;
    if (t.was_state != HUB_ONLINE)
        jcs_info("hub %s (id %" PRId64 ", location %s, %s) %s", req->name, t.hub_id, req->location,
                 req->address, t.was_state == 0 ? "registered" : "online again");
    Jcs__Coordinator__RegisterHubResp resp = JCS__COORDINATOR__REGISTER_HUB_RESP__INIT;
    resp.hub_id = t.hub_id;
    resp.location_id = t.location_id;
    resp.heartbeat_interval_ms = (int32_t)(c->cfg.heartbeat_interval_s * 1000);
    rc = reply(call, &resp);
out:
    free_msg(req);
    return rc;
}

/* --------------------------------------------------------------- Heartbeat */

struct hb_txn {
    jcs_rpc_call *call;
    int64_t hub_id;
    int was_state;
};

static int hb_fn(jcs_db_conn *db, void *arg)
{
    struct hb_txn *t = arg;
    int rc = own_hub(db, t->call, t->hub_id, &t->was_state);
    if (rc)
        return rc;
    jcs_db_val p[] = {JCS_DB_I(jcs_wall_ms()), JCS_DB_I(HUB_ONLINE), JCS_DB_I(t->hub_id)};
    return jcs_db_exec(db, "UPDATE hub SET last_heartbeat_ms = ?, state = ? WHERE hub_id = ?", p, 3,
                       NULL, NULL);
}

static int h_heartbeat(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    Jcs__Coordinator__HeartbeatReq *req = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__coordinator__heartbeat_req__descriptor,
                                       (void **)&req);
    if (rc)
        return rc;
    struct hb_txn t = {.call = call, .hub_id = req->hub_id};
    rc = jcs_db_txn(c->db, hb_fn, &t);
    if (!rc && t.was_state != HUB_ONLINE)
        jcs_info("hub %s (id %" PRId64 ") online again", jcs_rpc_call_peer_name(call), t.hub_id);
    if (!rc) {
        Jcs__Coordinator__HeartbeatResp resp = JCS__COORDINATOR__HEARTBEAT_RESP__INIT;
        rc = reply(call, &resp);
    }
    free_msg(req);
    return rc;
}

/* ---------------------------------------------------------------- ListHubs */

struct query_arg {
    const char *sql;
    const jcs_db_val *params;
    size_t n;
    size_t max;
    jcs_db_result *res;
};

static int query_fn(jcs_db_conn *db, void *arg)
{
    struct query_arg *q = arg;
    jcs_db_result_free(q->res);
    q->res = NULL;
    return jcs_db_query(db, q->sql, q->params, q->n, q->max, &q->res);
}

/* A read-only query on a pooled connection; caller frees *out. */
static int query(coord *c, const char *sql, const jcs_db_val *p, size_t n, size_t max,
                 jcs_db_result **out)
{
    struct query_arg q = {sql, p, n, max, NULL};
    int rc = jcs_db_with(c->db, query_fn, &q);
    if (rc) {
        jcs_db_result_free(q.res);
        return rc;
    }
    *out = q.res;
    return JCS_OK;
}

static int h_list_hubs(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    ProtobufCMessage *req = NULL;
    jcs_db_result *r = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__coordinator__list_hubs_req__descriptor,
                                       (void **)&req);
    if (rc)
        return rc;
    rc = query(c,
               "SELECT h.hub_id, h.name, h.location_id, l.name, h.address, h.state,"
               " h.last_heartbeat_ms FROM hub h JOIN location l ON l.location_id = h.location_id"
               " ORDER BY h.hub_id",
               NULL, 0, MAX_HUBS, &r);
    if (rc)
        goto out;
    Jcs__Coordinator__Hub *hubs = jcs_calloc(r->nrows, sizeof(*hubs));
    Jcs__Coordinator__Hub **ptrs = jcs_calloc(r->nrows, sizeof(*ptrs));
    if (!hubs || !ptrs) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory listing %zu hubs", r->nrows);
    } else {
        for (size_t i = 0; i < r->nrows; i++) {
            Jcs__Coordinator__Hub h = JCS__COORDINATOR__HUB__INIT;
            h.hub_id = jcs_db_cell(r, i, 0)->i;
            h.name = (char *)jcs_db_cell(r, i, 1)->s;
            h.location_id = jcs_db_cell(r, i, 2)->i;
            h.location_name = (char *)jcs_db_cell(r, i, 3)->s;
            h.address = (char *)jcs_db_cell(r, i, 4)->s;
            h.state = (Jcs__Coordinator__HubState)jcs_db_cell(r, i, 5)->i;
            h.last_heartbeat_ms = jcs_db_cell(r, i, 6)->i;
            hubs[i] = h;
            ptrs[i] = &hubs[i];
        }
        Jcs__Coordinator__ListHubsResp resp = JCS__COORDINATOR__LIST_HUBS_RESP__INIT;
        resp.n_hubs = r->nrows;
        resp.hubs = ptrs;
        rc = reply(call, &resp);
    }
    jcs_free(hubs);
    jcs_free(ptrs);
out:
    jcs_db_result_free(r);
    free_msg(req);
    return rc;
}

static int h_list_locations(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    ProtobufCMessage *req = NULL;
    jcs_db_result *r = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__coordinator__list_locations_req__descriptor,
                                       (void **)&req);
    if (rc)
        return rc;
    rc = query(c, "SELECT location_id, name FROM location ORDER BY location_id", NULL, 0, MAX_HUBS,
               &r);
    if (rc)
        goto out;
    Jcs__Coordinator__Location *locs = jcs_calloc(r->nrows, sizeof(*locs));
    Jcs__Coordinator__Location **ptrs = jcs_calloc(r->nrows, sizeof(*ptrs));
    if (!locs || !ptrs) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory listing locations");
    } else {
        for (size_t i = 0; i < r->nrows; i++) {
            Jcs__Coordinator__Location l = JCS__COORDINATOR__LOCATION__INIT;
            l.location_id = jcs_db_cell(r, i, 0)->i;
            l.name = (char *)jcs_db_cell(r, i, 1)->s;
            locs[i] = l;
            ptrs[i] = &locs[i];
        }
        Jcs__Coordinator__ListLocationsResp resp = JCS__COORDINATOR__LIST_LOCATIONS_RESP__INIT;
        resp.n_locations = r->nrows;
        resp.locations = ptrs;
        rc = reply(call, &resp);
    }
    jcs_free(locs);
    jcs_free(ptrs);
out:
    jcs_db_result_free(r);
    free_msg(req);
    return rc;
}

/* ------------------------------------------------------ ReportConnectivity */

struct report_txn {
    jcs_rpc_call *call;
    const Jcs__Coordinator__ReportConnectivityReq *req;
};

static int report_fn(jcs_db_conn *db, void *arg)
{
    struct report_txn *t = arg;
    int rc = own_hub(db, t->call, t->req->hub_id, NULL);
    for (size_t i = 0; !rc && i < t->req->n_entries; i++) {
        const Jcs__Coordinator__Latency *e = t->req->entries[i];
        jcs_db_val p[] = {JCS_DB_I(e->from_hub_id), JCS_DB_I(e->to_hub_id), JCS_DB_D(e->latency_ms),
                          JCS_DB_I(e->reachable ? 1 : 0), JCS_DB_I(e->tested_at_ms)};
        rc = jcs_db_exec(db,
                         "REPLACE INTO connectivity (from_hub_id, to_hub_id, latency_ms,"
                         " reachable, tested_at_ms) VALUES (?, ?, ?, ?, ?)",
                         p, 5, NULL, NULL);
    }
    return rc;
}

static int h_report_connectivity(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    Jcs__Coordinator__ReportConnectivityReq *req = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__coordinator__report_connectivity_req__descriptor,
                                       (void **)&req);
    if (rc)
        return rc;
    if (req->n_entries > MAX_ENTRIES) {
        rc = jcs_err_set(JCS_EINVAL, "%zu entries; at most %d", req->n_entries, MAX_ENTRIES);
        goto out;
    }
    for (size_t i = 0; i < req->n_entries; i++) {
        const Jcs__Coordinator__Latency *e = req->entries[i];
        if (e->from_hub_id != req->hub_id) {
            rc = jcs_err_set(JCS_EINVAL,
                             "entry %zu: from_hub_id %" PRId64 " is not the reporting hub %" PRId64,
                             i, e->from_hub_id, req->hub_id);
            goto out;
        }
        if (e->reachable && !(e->latency_ms >= 0 && e->latency_ms < 1e9)) {
            rc = jcs_err_set(JCS_EINVAL, "entry %zu: latency_ms %g is not a duration", i,
                             e->latency_ms);
            goto out;
        }
    }
    struct report_txn t = {call, req};
    if ((rc = jcs_db_txn(c->db, report_fn, &t)) == 0) {
        Jcs__Coordinator__ReportConnectivityResp resp =
            JCS__COORDINATOR__REPORT_CONNECTIVITY_RESP__INIT;
        rc = reply(call, &resp);
    }
out:
    free_msg(req);
    return rc;
}

static int h_get_connectivity(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    Jcs__Coordinator__GetConnectivityReq *req = NULL;
    jcs_db_result *r = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__coordinator__get_connectivity_req__descriptor,
                                       (void **)&req);
    if (rc)
        return rc;
    rc = query(c,
               "SELECT from_hub_id, to_hub_id, latency_ms, reachable, tested_at_ms"
               " FROM connectivity ORDER BY from_hub_id, to_hub_id",
               NULL, 0, MAX_ENTRIES, &r);
    if (rc)
        goto out;
    Jcs__Coordinator__Latency *ls = jcs_calloc(r->nrows, sizeof(*ls));
    Jcs__Coordinator__Latency **ptrs = jcs_calloc(r->nrows, sizeof(*ptrs));
    size_t n = 0;
    if (!ls || !ptrs) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory reading the latency matrix");
    } else {
        for (size_t i = 0; i < r->nrows; i++) {
            Jcs__Coordinator__Latency l = JCS__COORDINATOR__LATENCY__INIT;
            l.from_hub_id = jcs_db_cell(r, i, 0)->i;
            l.to_hub_id = jcs_db_cell(r, i, 1)->i;
            int want = req->n_hub_ids == 0;
            for (size_t k = 0; k < req->n_hub_ids && !want; k++)
                want = req->hub_ids[k] == l.from_hub_id || req->hub_ids[k] == l.to_hub_id;
            if (!want)
                continue;
            const jcs_db_val *lat = jcs_db_cell(r, i, 2);
            l.latency_ms = lat->type == JCS_DB_DOUBLE ? lat->d : (double)lat->i;
            l.reachable = jcs_db_cell(r, i, 3)->i != 0;
            l.tested_at_ms = jcs_db_cell(r, i, 4)->i;
            ls[n] = l;
            ptrs[n] = &ls[n];
            n++;
        }
        Jcs__Coordinator__GetConnectivityResp resp = JCS__COORDINATOR__GET_CONNECTIVITY_RESP__INIT;
        resp.n_entries = n;
        resp.entries = ptrs;
        rc = reply(call, &resp);
    }
    jcs_free(ls);
    jcs_free(ptrs);
out:
    jcs_db_result_free(r);
    free_msg(req);
    return rc;
}

/* ------------------------------------------------------------------- locks */

struct lock_txn {
    const Jcs__Coordinator__LockReq *req;
    const char *holder, *role, *cn;
    char lease_id[33];
    int64_t expires;
    char conflict[600];
};

static int lock_fn(jcs_db_conn *db, void *arg)
{
    struct lock_txn *t = arg;
    int64_t now = jcs_wall_ms();
    jcs_db_result *r = NULL;
    int exclusive = t->req->mode != JCS__COORDINATOR__LOCK_MODE__LOCK_SHARED;

    jcs_db_val dp[] = {JCS_DB_S(t->req->name), JCS_DB_I(now)};
    int rc = jcs_db_exec(db, "DELETE FROM lease WHERE name = ? AND expires_at_ms <= ?", dp, 2, NULL,
                         NULL);
    if (rc)
        return rc;
    jcs_db_val sp[] = {JCS_DB_S(t->req->name)};
    rc = jcs_db_query(db, "SELECT mode, holder, expires_at_ms FROM lease WHERE name = ?", sp, 1,
                      100000, &r);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->nrows; i++) {
        int held_exclusive = jcs_db_cell(r, i, 0)->i != JCS__COORDINATOR__LOCK_MODE__LOCK_SHARED;
        if (exclusive || held_exclusive) {
            snprintf(t->conflict, sizeof(t->conflict),
                     "lock \"%s\" is held %s by %s for %" PRId64 " ms more", t->req->name,
                     held_exclusive ? "exclusively" : "shared", jcs_db_cell(r, i, 1)->s,
                     jcs_db_cell(r, i, 2)->i - now);
            jcs_db_result_free(r);
            return jcs_err_set(JCS_EBUSY, "%s", t->conflict);
        }
    }
    jcs_db_result_free(r);

    if ((rc = jcs_random_hex(t->lease_id, 16)) != 0)
        return jcs_err_wrap(rc, "a lease id: ");
    t->expires = now + t->req->ttl_ms;
    jcs_db_val ip[] = {JCS_DB_S(t->lease_id), JCS_DB_S(t->req->name), JCS_DB_I(exclusive ? 0 : 1),
                       JCS_DB_S(t->holder),   JCS_DB_S(t->role),      JCS_DB_S(t->cn),
                       JCS_DB_I(t->expires)};
    return jcs_db_exec(db,
                       "INSERT INTO lease (lease_id, name, mode, holder, holder_role, holder_cn,"
                       " expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ip, 7, NULL, NULL);
}

static int h_lock(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    Jcs__Coordinator__LockReq *req = NULL;
    char *holder = NULL;
    int rc =
        jcs_rpc_call_recv_request(call, &jcs__coordinator__lock_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    if ((rc = check_name("name", req->name, MAX_NAME)) != 0)
        goto out;
    if (req->ttl_ms < LOCK_TTL_MIN || req->ttl_ms > LOCK_TTL_MAX) {
        rc = jcs_err_set(JCS_EINVAL, "field ttl_ms %" PRId64 " is outside %d..%d", req->ttl_ms,
                         LOCK_TTL_MIN, LOCK_TTL_MAX);
        goto out;
    }
    if (req->wait_ms < 0 || req->wait_ms > LOCK_WAIT_MAX) {
        rc = jcs_err_set(JCS_EINVAL, "field wait_ms %" PRId64 " is outside 0..%d", req->wait_ms,
                         LOCK_WAIT_MAX);
        goto out;
    }
    if (strlen(req->holder) > 200) {
        rc = jcs_err_set(JCS_EINVAL, "field holder is longer than 200 bytes");
        goto out;
    }
    const char *role = jcs_role_name(jcs_rpc_call_role(call));
    const char *cn = jcs_rpc_call_peer_name(call);
    holder = jcs_asprintf("%s %s%s%s", role, cn, req->holder[0] ? "/" : "", req->holder);
    if (!holder) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
        goto out;
    }
    int64_t deadline = jcs_now_ms() + req->wait_ms;
    for (;;) {
        struct lock_txn t = {.req = req, .holder = holder, .role = role, .cn = cn};
        pthread_mutex_lock(&c->lock_mu);
        rc = jcs_db_txn(c->db, lock_fn, &t);
        pthread_mutex_unlock(&c->lock_mu);
        if (rc == JCS_EBUSY && jcs_now_ms() < deadline && !jcs_stopper_stopped(c->stop) &&
            jcs_rpc_call_time_left_ms(call) > 60) {
            jcs_sleep_ms(50);
            continue;
        }
        if (rc == JCS_EBUSY)
            rc = jcs_err_set(JCS_EBUSY, "%s", t.conflict);
        if (rc)
            break;
        jcs_debug("lease %s on \"%s\" (%s) granted to %s for %" PRId64 " ms", t.lease_id, req->name,
                  t.req->mode ? "shared" : "exclusive", holder, req->ttl_ms);
        Jcs__Coordinator__LockResp resp = JCS__COORDINATOR__LOCK_RESP__INIT;
        resp.lease_id = t.lease_id;
        resp.expires_at_ms = t.expires;
        rc = reply(call, &resp);
        break;
    }
out:
    jcs_free(holder);
    free_msg(req);
    return rc;
}

struct renew_txn {
    const char *lease_id;
    int64_t ttl, expires;
};

static int renew_fn(jcs_db_conn *db, void *arg)
{
    struct renew_txn *t = arg;
    int64_t now = jcs_wall_ms();
    uint64_t n = 0;
    t->expires = now + t->ttl;
    jcs_db_val p[] = {JCS_DB_I(t->expires), JCS_DB_S(t->lease_id), JCS_DB_I(now)};
    int rc = jcs_db_exec(db,
                         "UPDATE lease SET expires_at_ms = ? WHERE lease_id = ? AND"
                         " expires_at_ms > ?",
                         p, 3, &n, NULL);
    if (!rc && n == 0)
        rc = jcs_err_set(JCS_ENOENT, "lease %s has expired or was released", t->lease_id);
    return rc;
}

static int h_renew(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    Jcs__Coordinator__RenewReq *req = NULL;
    int rc =
        jcs_rpc_call_recv_request(call, &jcs__coordinator__renew_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    if (req->ttl_ms < LOCK_TTL_MIN || req->ttl_ms > LOCK_TTL_MAX) {
        rc = jcs_err_set(JCS_EINVAL, "field ttl_ms %" PRId64 " is outside %d..%d", req->ttl_ms,
                         LOCK_TTL_MIN, LOCK_TTL_MAX);
    } else if ((rc = check_name("lease_id", req->lease_id, 32)) == 0) {
        struct renew_txn t = {req->lease_id, req->ttl_ms, 0};
        pthread_mutex_lock(&c->lock_mu);
        rc = jcs_db_txn(c->db, renew_fn, &t);
        pthread_mutex_unlock(&c->lock_mu);
        if (!rc) {
            Jcs__Coordinator__RenewResp resp = JCS__COORDINATOR__RENEW_RESP__INIT;
            resp.expires_at_ms = t.expires;
            rc = reply(call, &resp);
        }
    }
    free_msg(req);
    return rc;
}

static int unlock_fn(jcs_db_conn *db, void *arg)
{
    jcs_db_val p[] = {JCS_DB_S((const char *)arg)};
    return jcs_db_exec(db, "DELETE FROM lease WHERE lease_id = ?", p, 1, NULL, NULL);
}

static int h_unlock(jcs_rpc_call *call, void *ctx)
{
    coord *c = ctx;
    Jcs__Coordinator__UnlockReq *req = NULL;
    int rc =
        jcs_rpc_call_recv_request(call, &jcs__coordinator__unlock_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    if ((rc = check_name("lease_id", req->lease_id, 32)) == 0) {
        pthread_mutex_lock(&c->lock_mu);
        rc = jcs_db_txn(c->db, unlock_fn, req->lease_id);
        pthread_mutex_unlock(&c->lock_mu);
    }
    if (!rc) {
        Jcs__Coordinator__UnlockResp resp = JCS__COORDINATOR__UNLOCK_RESP__INIT;
        rc = reply(call, &resp);
    }
    free_msg(req);
    return rc;
}

/* ---------------------------------------------------------------- sweeper */

struct sweep_txn {
    int64_t cutoff, now;
    jcs_db_result *gone; /* hubs turned offline this turn */
};

static int sweep_fn(jcs_db_conn *db, void *arg)
{
    struct sweep_txn *t = arg;
    jcs_db_result_free(t->gone);
    t->gone = NULL;
    jcs_db_val p[] = {JCS_DB_I(HUB_ONLINE), JCS_DB_I(t->cutoff)};
    int rc = jcs_db_query(db,
                          "SELECT hub_id, name, last_heartbeat_ms FROM hub WHERE state = ? AND"
                          " last_heartbeat_ms < ? FOR UPDATE",
                          p, 2, MAX_HUBS, &t->gone);
    for (size_t i = 0; !rc && i < t->gone->nrows; i++) {
        jcs_db_val up[] = {JCS_DB_I(HUB_OFFLINE), JCS_DB_I(jcs_db_cell(t->gone, i, 0)->i)};
        rc = jcs_db_exec(db, "UPDATE hub SET state = ? WHERE hub_id = ?", up, 2, NULL, NULL);
        /* A dead hub cannot renew: release its leases now instead of at their TTL. */
        jcs_db_val lp[] = {JCS_DB_S(jcs_db_cell(t->gone, i, 1)->s)};
        if (!rc)
            rc = jcs_db_exec(db, "DELETE FROM lease WHERE holder_role = 'hub' AND holder_cn = ?",
                             lp, 1, NULL, NULL);
    }
    jcs_db_val ep[] = {JCS_DB_I(t->now)};
    if (!rc)
        rc = jcs_db_exec(db, "DELETE FROM lease WHERE expires_at_ms <= ?", ep, 1, NULL, NULL);
    return rc;
}

static void *sweeper_main(void *arg)
{
    coord *c = arg;
    long long period = c->cfg.hub_unavailable_s * 1000 / 4;
    if (period > 1000)
        period = 1000;
    if (period < 100)
        period = 100;
    int failing = 0;
    while (!jcs_stopper_sleep(c->stop, period)) {
        struct sweep_txn t = {.now = jcs_wall_ms()};
        t.cutoff = t.now - c->cfg.hub_unavailable_s * 1000;
        pthread_mutex_lock(&c->lock_mu);
        int rc = jcs_db_txn(c->db, sweep_fn, &t);
        pthread_mutex_unlock(&c->lock_mu);
        if (rc) {
            if (!failing)
                jcs_warn("liveness sweep failed: %s", jcs_err_msg(rc));
            failing = 1;
        } else {
            if (failing)
                jcs_info("liveness sweep works again");
            failing = 0;
            for (size_t i = 0; i < t.gone->nrows; i++)
                jcs_warn("hub %s (id %" PRId64 ") offline: no heartbeat for %" PRId64 " ms",
                         jcs_db_cell(t.gone, i, 1)->s, jcs_db_cell(t.gone, i, 0)->i,
                         t.now - jcs_db_cell(t.gone, i, 2)->i);
        }
        jcs_db_result_free(t.gone);
    }
    return NULL;
}

int coord_sweeper_start(coord *c)
{
    if (pthread_create(&c->sweeper, NULL, sweeper_main, c) != 0)
        return jcs_err_set(JCS_EIO, "cannot start the liveness thread");
    c->sweeper_started = 1;
    return JCS_OK;
}

void coord_sweeper_stop(coord *c)
{
    if (!c->sweeper_started)
        return;
    jcs_stopper_stop(c->stop);
    pthread_join(c->sweeper, NULL);
    c->sweeper_started = 0;
}

/* ------------------------------------------------------------ method table */

#define LOCKERS (JCS_ROLE_HUB | JCS_ROLE_CLIENT | JCS_ROLE_COORDINATOR)

static const jcs_rpc_method methods[] = {
    {JCS_M_REGISTER_HUB, JCS_ROLE_HUB, h_register_hub},
    {JCS_M_HEARTBEAT, JCS_ROLE_HUB, h_heartbeat},
    {JCS_M_LIST_HUBS, JCS_ROLE_ANY, h_list_hubs},
    {JCS_M_LIST_LOCATIONS, JCS_ROLE_ANY, h_list_locations},
    {JCS_M_REPORT_CONNECTIVITY, JCS_ROLE_HUB, h_report_connectivity},
    {JCS_M_GET_CONNECTIVITY, JCS_ROLE_ANY, h_get_connectivity},
    {JCS_M_LOCK, LOCKERS, h_lock},
    {JCS_M_RENEW, LOCKERS, h_renew},
    {JCS_M_UNLOCK, LOCKERS, h_unlock},
};

const jcs_rpc_method *coord_methods(size_t *n)
{
    *n = sizeof(methods) / sizeof(methods[0]);
    return methods;
}
