/*
 * coord.h - the coordinator's internals shared by its two files: main.c
 * (command line, configuration, start-up and shutdown) and registry.c (the
 * RPC handlers, the schema, and the liveness sweeper).
 *
 * Design note. All state lives in the coordinator's own MySQL database, so
 * a restarted coordinator knows every hub (ids stay stable) and every live
 * lease. Hub liveness is a heartbeat timestamp; a sweeper thread marks hubs
 * offline after hubUnavailableSeconds of silence and releases the leases
 * those hubs held. Lock operations are serialised by one mutex in the
 * process (there is one coordinator), which keeps the conflict check and
 * the insert of a lease trivially atomic.
 */
#ifndef JCS_COORD_H
#define JCS_COORD_H

#include <pthread.h>

#include "db.h"
#include "rpc.h"
#include "service.h"

typedef struct coord_config {
    char *listen;
    jcs_service_tls tls;
    char *db_address;
    char *db_socket;
    char *db_user;
    char *db_password;
    char *db_name;
    long long hub_unavailable_s;
    long long heartbeat_interval_s;
} coord_config;

typedef struct coord {
    coord_config cfg;
    jcs_db *db;
    pthread_mutex_t lock_mu; /* serialises Lock so check-then-insert is atomic */
    jcs_stopper *stop;
    pthread_t sweeper;
    int sweeper_started;
} coord;

/* The method table (roles per method); borrowed, static. */
const jcs_rpc_method *coord_methods(size_t *n);

/* Creates or upgrades the schema. */
int coord_migrate(coord *c) JCS_MUST_USE;

/* Starts / stops the thread that marks silent hubs offline and drops expired leases. */
int coord_sweeper_start(coord *c) JCS_MUST_USE;
void coord_sweeper_stop(coord *c);

#endif
