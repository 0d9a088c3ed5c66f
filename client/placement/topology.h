/*
 * client/placement/topology.h - the client's view of the cluster: hubs, locations and
 * the hub-to-hub latency matrix, fetched from the coordinator, and the
 * distances the uploader and downloader rank sources and targets by.
 *
 * Design. A refresh (ListHubs, ListLocations, GetConnectivity) builds an
 * immutable snapshot and swaps it in under a mutex; readers take a
 * reference to the current snapshot (jcs_topo_acquire) and read it without
 * any lock, so a slow refresh never blocks a download and a reader never
 * sees half of an update. A background thread refreshes every interval;
 * jcs_topo_refresh does it at once (on demand). A failed refresh keeps the
 * previous snapshot and is retried after min(interval, 5 s).
 *
 * Distances (JCS's downloader strategy; lower is nearer and cheaper):
 *
 *   0.1  same hub       (distance_between a hub and itself: data already on
 *                        the hub that runs the work)
 *   1    same location  (the hub's location name equals the client's
 *                        "location"; for distance_between, the two hubs share
 *                        a location)
 *   5    other location, latency known and at most highLatencyHub ms
 *   10   other location, latency above highLatencyHub ms or not measured
 *        (JCS counts an unmeasured hub as high latency too)
 *   JCS_TOPO_UNREACHABLE (+inf): the hub is offline or unknown
 *
 * The matrix holds hub-to-hub round trips only, so the client's latency to
 * a hub H is estimated from it:
 *   - when online hubs share the client's location: the lowest latency
 *     measured between H and any of them (either direction), i.e. the
 *     client is taken to sit where its location's hubs are;
 *   - otherwise: H's average latency to the other online hubs (either
 *     direction), i.e. how well connected H is.
 * Only entries that are marked reachable and join two online hubs count.
 * distance_between(a, b) uses the latency measured between a and b (the
 * lower of the two directions).
 *
 * The pure part (jcs_topo_snap_build and the snapshot queries) needs no
 * RPC, so the rules are testable on a made-up matrix.
 */
#ifndef JCS_TOPOLOGY_H
#define JCS_TOPOLOGY_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rpc.h"

#define JCS_TOPO_SAME_HUB      0.1
#define JCS_TOPO_SAME_LOCATION 1.0
#define JCS_TOPO_OTHER         5.0
#define JCS_TOPO_HIGH_LATENCY  10.0
#define JCS_TOPO_UNREACHABLE   INFINITY

#define JCS_TOPO_NAME_MAX 128 /* names and locations; longer ones are cut */
#define JCS_TOPO_ADDR_MAX 280 /* host:port */

typedef struct jcs_topo_hub {
    int64_t id;
    char name[JCS_TOPO_NAME_MAX];
    int64_t location_id;
    char location[JCS_TOPO_NAME_MAX];
    char address[JCS_TOPO_ADDR_MAX];
    bool online;
    int64_t last_heartbeat_ms; /* Unix ms; 0 if never */
    /* Filled by jcs_topo_snap_build (ignored on input): */
    double latency_ms; /* the client's estimated latency to the hub; < 0 when not measured */
    double distance;   /* from the client, per the table above */
} jcs_topo_hub;

typedef struct jcs_topo_location {
    int64_t id;
    char name[JCS_TOPO_NAME_MAX];
} jcs_topo_location;

typedef struct jcs_topo_latency {
    int64_t from_hub_id, to_hub_id;
    double latency_ms;
    bool reachable;
    int64_t tested_at_ms;
} jcs_topo_latency;

/* What the distances are computed against. Strings borrowed for the call. */
typedef struct jcs_topo_params {
    const char *location;   /* the client's location name; NULL or "" for none */
    double high_latency_ms; /* downloadStrategy.highLatencyHub */
} jcs_topo_params;

/* ------------------------------------------------------------ snapshots */

typedef struct jcs_topo_snap jcs_topo_snap;

/*
 * Builds a snapshot from plain arrays (all borrowed for the call, copied),
 * computing each hub's latency estimate and distance. Hub ids must be
 * distinct (JCS_EINVAL naming the id otherwise). The snapshot starts with
 * one reference, released with jcs_topo_snap_release.
 */
int jcs_topo_snap_build(const jcs_topo_hub *hubs, size_t nhubs, const jcs_topo_location *locs,
                        size_t nlocs, const jcs_topo_latency *lats, size_t nlats,
                        const jcs_topo_params *params, jcs_topo_snap **out) JCS_MUST_USE;

void jcs_topo_snap_release(jcs_topo_snap *s); /* NULL is fine */

/* The hubs, sorted by id (borrowed from the snapshot). */
const jcs_topo_hub *jcs_topo_snap_hubs(const jcs_topo_snap *s, size_t *n);
const jcs_topo_location *jcs_topo_snap_locations(const jcs_topo_snap *s, size_t *n);

/* The hub with this id, or NULL. Borrowed from the snapshot. */
const jcs_topo_hub *jcs_topo_snap_find(const jcs_topo_snap *s, int64_t hub_id);

/* Distance from the client to a hub; JCS_TOPO_UNREACHABLE when offline or unknown. */
double jcs_topo_snap_distance(const jcs_topo_snap *s, int64_t hub_id);

/* Distance between two hubs (data on b, work on a); JCS_TOPO_UNREACHABLE if either is down. */
double jcs_topo_snap_distance_between(const jcs_topo_snap *s, int64_t hub_a, int64_t hub_b);

/*
 * The measured latency between two hubs (the lower of both directions,
 * reachable entries only); false when there is none.
 */
bool jcs_topo_snap_latency(const jcs_topo_snap *s, int64_t hub_a, int64_t hub_b, double *ms);

/* Wall-clock Unix ms of the refresh that made the snapshot (0 for a built one). */
int64_t jcs_topo_snap_time(const jcs_topo_snap *s);

/* -------------------------------------------------------------- the cache */

typedef struct jcs_topo jcs_topo;

typedef struct jcs_topo_opts {
    jcs_topo_params params;
    int64_t interval_ms; /* background refresh period (connectivity.testInterval * 1000) */
    int64_t timeout_ms;  /* per RPC [5000 when 0] */
} jcs_topo_opts;

/*
 * A cache refreshed from the coordinator over coord (borrowed: must outlive
 * the cache). params->location is copied. Starts with an empty snapshot;
 * nothing runs until jcs_topo_start or jcs_topo_refresh. Caller frees.
 */
int jcs_topo_new(jcs_rpc_channel *coord, const jcs_topo_opts *opts, jcs_topo **out) JCS_MUST_USE;

/* Starts the background thread, which refreshes at once and then every interval. */
int jcs_topo_start(jcs_topo *t) JCS_MUST_USE;

/*
 * Refreshes now and waits for it (concurrent calls are serialized). On
 * failure the previous snapshot stays and the error (naming the
 * coordinator's address and the method) is returned.
 */
int jcs_topo_refresh(jcs_topo *t) JCS_MUST_USE;

/* Stops the background thread (if any) and frees. NULL is fine. */
void jcs_topo_free(jcs_topo *t);

/* The current snapshot, with a reference the caller releases. Never NULL. */
jcs_topo_snap *jcs_topo_acquire(jcs_topo *t);

/* Copies the hub with this id into *out; JCS_ENOENT naming the id when unknown. */
int jcs_topo_hub_get(jcs_topo *t, int64_t hub_id, jcs_topo_hub *out) JCS_MUST_USE;

/* As the snapshot functions, on the current snapshot. */
double jcs_topo_distance(jcs_topo *t, int64_t hub_id);
double jcs_topo_distance_between(jcs_topo *t, int64_t hub_a, int64_t hub_b);

/* Successful refreshes so far (the background thread's and on-demand ones). */
uint64_t jcs_topo_refreshes(jcs_topo *t);

/*
 * fn(arg, hub) runs for each hub a refresh finds online that the previous
 * snapshot had offline, before the new snapshot is published: so whatever
 * it resets (the driver's connections to the hub) is reset before any
 * request can choose the hub again. It runs on the refreshing thread and
 * must not call back into t. NULL fn: none (the default); setting waits for
 * a refresh under way, so after setting NULL the old arg may be freed.
 */
void jcs_topo_on_online(jcs_topo *t, void (*fn)(void *arg, const jcs_topo_hub *hub), void *arg);

#endif
