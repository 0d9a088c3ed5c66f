/*
 * REST handlers: system (API.md "System"): hubs, locations, status, and the
 * background jobs on demand.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "healq.h"
#include "hublat.h"
#include "jobs.h"
#include "svc.h"
#include "util.h"
#include "version.h"

/* A fresh view when the coordinator answers, else the cached one (never an error: the
 * listing says when it was taken). */
static jcs_topo_snap *fresh_snap(jcs_svc *svc)
{
    if (jcs_topo_refresh(svc->topo) != 0) {
        /* The cached snapshot stays; its age is in the reply. */
    }
    return jcs_topo_acquire(svc->topo);
}

static int system_hubs(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    jcs_topo_snap *snap = fresh_snap(svc);
    size_t n;
    const jcs_topo_hub *h = jcs_topo_snap_hubs(snap, &n);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char hb[JCS_META_TIME_SIZE] = "";
        if (h[i].last_heartbeat_ms > 0)
            jcs_meta_time_format(h[i].last_heartbeat_ms, hb);
        json_t *o = json_pack(
            "{sI ss sI ss ss ss so so ss}", "hubID", (json_int_t)h[i].id, "name", h[i].name,
            "locationID", (json_int_t)h[i].location_id, "location", h[i].location, "state",
            h[i].online ? "online" : "offline", "address", h[i].address, "latencyMs",
            h[i].latency_ms >= 0 ? json_real(h[i].latency_ms) : json_null(), "distance",
            isfinite(h[i].distance) ? json_real(h[i].distance) : json_null(), "lastHeartbeat", hb);
        a = jcs_api_push(a, o);
    }
    jcs_topo_snap_release(snap);
    return jcs_api_reply_one(req, "hubs", a);
}

static int system_locations(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    jcs_topo_snap *snap = fresh_snap(svc);
    size_t n;
    const jcs_topo_location *l = jcs_topo_snap_locations(snap, &n);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        a = jcs_api_push(
            a, json_pack("{sI ss}", "locationID", (json_int_t)l[i].id, "name", l[i].name));
    jcs_topo_snap_release(snap);
    return jcs_api_reply_one(req, "locations", a);
}

static int system_status(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    /* One attempt, no retry window: status answers at once when the database is down. */
    int dbrc = jcs_db_ping(svc->db);
    json_t *dbj = json_pack("{sb ss}", "ok", dbrc == 0, "message", dbrc ? jcs_err_msg(dbrc) : "");
    int crc = jcs_topo_refresh(svc->topo);
    jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
    size_t n, online = 0;
    const jcs_topo_hub *h = jcs_topo_snap_hubs(snap, &n);
    for (size_t i = 0; i < n; i++)
        online += h[i].online;
    json_t *cj = json_pack("{sb ss ss}", "ok", crc == 0, "address", svc->cfg->coordinator_address,
                           "message", crc ? jcs_err_msg(crc) : "");
    jcs_topo_snap_release(snap);
    char start[JCS_META_TIME_SIZE];
    jcs_meta_time_format(svc->start_wall_ms, start);
    /* Corruption found and healed since this process started, and what still waits. */
    jcs_healq_counters hc;
    jcs_healq_counters_get(&hc);
    jcs_healq_item *q = NULL;
    size_t nq = 0;
    int qrc = jcs_healq_list(svc->db, &q, &nq);
    jcs_free(q);
    json_t *ij = json_pack("{sI sI sI sI sI}", "corruptReads", (json_int_t)hc.corrupt_reads,
                           "scrubCorrupt", (json_int_t)hc.scrub_corrupt, "healQueued",
                           (json_int_t)hc.queued, "healed", (json_int_t)hc.healed,
                           "healQueueLength", (json_int_t)(qrc ? -1 : (json_int_t)nq));
    /* Hedged small reads since start (hublat.h). */
    jcs_hublat_counters lc;
    jcs_hublat_counters_get(svc->hublat, &lc);
    json_t *rj =
        json_pack("{sI sI}", "hedged", (json_int_t)lc.hedged, "hedgeWon", (json_int_t)lc.hedge_won);
    json_t *d =
        json_pack("{ss ss sI so so sI sI so so}", "version", JCS_VERSION, "startTime", start,
                  "uptimeSeconds", (json_int_t)((jcs_wall_ms() - svc->start_wall_ms) / 1000),
                  "database", dbj, "coordinator", cj, "hubsOnline", (json_int_t)online, "hubsTotal",
                  (json_int_t)n, "integrity", ij, "reads", rj);
    if (!d)
        return JCS_ENOMEM;
    return jcs_http_reply_ok(req, d);
}

static int system_ticktock(jcs_http_req *req)
{
    jcs_svc *svc = jcs_api_svc(req);
    json_t *b, *report = NULL;
    const char *job;
    int rc;
    if ((rc = jcs_api_body(req, &b)) || (rc = jcs_api_get_str(b, "job", 1, &job)))
        return rc;
    /* The names of API.md, checked here so a typo is a 400 whatever state the jobs are in. */
    static const char *const known[] = {"ChangeRedundancy", "RedundancyRecover",
                                        "RedundancyShrink", "CheckShardStore",
                                        "ShardStoreGC",     "UpdateAccessStats"};
    int found = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0] && !found; i++)
        found = strcmp(job, known[i]) == 0;
    if (!found)
        return jcs_err_set(JCS_EINVAL,
                           "field job: unknown job \"%.64s\" (ChangeRedundancy, RedundancyRecover, "
                           "RedundancyShrink, CheckShardStore, ShardStoreGC or UpdateAccessStats)",
                           job);
    /* CheckShardStore: "deep" (optional) overrides tickTock.deepCheck for this run. */
    json_t *dj = json_object_get(b, "deep");
    if (dj && !json_is_boolean(dj))
        return jcs_err_set(JCS_EINVAL, "field deep: must be true or false");
    int deep = dj ? json_is_true(dj) : -1;
    if ((rc = jcs_jobs_run_deep(svc->jobs, job, deep, &report)) != 0)
        return rc;
    return jcs_api_reply_one(req, "report", report ? report : json_object());
}

#define GET(p, f)                                                                                  \
    {                                                                                              \
        .method = "GET", .path = p, .body = JCS_HTTP_BODY_NONE, .handle = f                        \
    }
#define POST(p, f)                                                                                 \
    {                                                                                              \
        .method = "POST", .path = p, .body = JCS_HTTP_BODY_JSON, .handle = f                       \
    }

const jcs_http_route jcs_api_system_routes[] = {
    GET("/v1/system/hubs", system_hubs),
    GET("/v1/system/locations", system_locations),
    GET("/v1/system/status", system_status),
    POST("/v1/system/tickTock/run", system_ticktock),
};
const size_t jcs_api_system_nroutes =
    sizeof jcs_api_system_routes / sizeof jcs_api_system_routes[0];
