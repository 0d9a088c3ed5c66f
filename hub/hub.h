/*
 * hub.h - the hub's internals shared by main.c (command line, config,
 * start-up, shutdown), membership.c (registration, heartbeats, the
 * connectivity test) and method_table.c (its RPC method table).
 *
 * Design note. A hub is stateless: its identity (id, location) comes from
 * the coordinator at registration and its data lives in its storage
 * spaces. The membership thread keeps the hub registered: it heartbeats,
 * and when a heartbeat fails (coordinator restarted, database reset) it
 * registers again as soon as the coordinator answers. The connectivity
 * thread pings every other online hub every connectivity.testInterval
 * seconds and reports the round trips, which is how clients rank sources.
 */
#ifndef JCS_HUB_H
#define JCS_HUB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bulk.h"
#include "rpc.h"
#include "service.h"
#include "xfer.h"

struct hub_dp;

typedef struct hub_config {
    char *name;
    char *location;
    char *listen;
    char *advertise; /* what others dial; derived from listen when empty */
    jcs_service_tls tls;
    char *coordinator;
    long long start_timeout_s;
    long long test_interval_s;
    long long heartbeat_interval_s;
    char *storage_root;
    long long reclaim_interval_s; /* how often dead writes' leftovers are removed */
    long long reclaim_age_s;      /* ... once they are this old */
    bool bulk_channel;            /* rpc.bulkChannel: serve plan streams on a bulk port too */
    long long bulk_port;          /* rpc.bulkPort: its port (0: any free one) */
} hub_config;

typedef struct hub {
    hub_config cfg;
    jcs_rpc_server *srv;
    jcs_bulk_server *bulk;  /* the bulk data channel (bulk.h); NULL when off */
    jcs_rpc_channel *coord; /* to the coordinator; thread-safe */
    char address[300];      /* advertised host:port */
    atomic_llong hub_id;    /* 0 until registered */
    atomic_int heartbeat_ms;
    jcs_stopper *stop;
    struct hub_dp *dp; /* plans and spaces (dataplane.c) */
    jcs_xfer *xfer;    /* channels to other hubs for plan streams */
    pthread_t membership, connectivity;
    int threads_started;
} hub;

/* The hub's method table. Borrowed, static. */
const jcs_rpc_method *hub_methods(size_t *n);

/* The data-plane methods (dataplane.c). Borrowed, static. */
const jcs_rpc_method *hub_dataplane_methods(size_t *n);

/*
 * Sets up plans and spaces (and reclaims dead temporary files in the local
 * spaces under the storage root); before the RPC server starts. Stop after
 * the RPC server is shut down.
 */
int hub_dataplane_start(hub *h) JCS_MUST_USE;
void hub_dataplane_stop(hub *h);

/* Serves one bulk-channel request (a jcs_bulk_handler; ctx is the hub). */
int hub_dataplane_bulk(void *ctx, jcs_bulk_conn *c, const jcs_bulk_frame *open);

/* Cancels every plan in flight (at shutdown, before the RPC server stops). */
void hub_dataplane_cancel_all(hub *h);

/*
 * Registers with the coordinator, retrying until it answers or timeout_ms
 * passes. JCS_EUNAVAIL / the coordinator's refusal otherwise (detail set).
 */
int hub_register(hub *h, int64_t timeout_ms) JCS_MUST_USE;

/* Starts / stops the membership and connectivity threads. */
int hub_threads_start(hub *h) JCS_MUST_USE;
void hub_threads_stop(hub *h);

#endif
