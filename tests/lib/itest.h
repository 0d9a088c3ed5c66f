/*
 * itest.h - helpers for integration tests: a local cluster started with
 * deploy/local/cluster in a temporary directory, its cluster.env, and RPC
 * channels with the cluster's certificates.
 */
#ifndef JCS_ITEST_H
#define JCS_ITEST_H

#include <stdbool.h>

#include "driver.h"
#include "plan.pb-c.h"
#include "rpc.h"

typedef struct itest_cluster {
    char dir[512];
    int up;
} itest_cluster;

/* Creates a temp dir and runs `cluster up --dir DIR ARGS`. 0 on success. */
int itest_cluster_up(itest_cluster *c, const char *args);

/* Runs `cluster CMD --dir DIR ARGS` (e.g. "stop-hub", "2"). 0 on success. */
int itest_cluster_cmd(itest_cluster *c, const char *cmd, const char *args);

/* `cluster down`, then removes the directory. */
void itest_cluster_down(itest_cluster *c);

/* The value of KEY in DIR/cluster.env (read afresh), or "" when absent. Static buffer. */
const char *itest_env(itest_cluster *c, const char *key);

/* An absolute path inside the cluster dir. Static buffer. */
const char *itest_path(itest_cluster *c, const char *rel);

/* Opens a channel to addr with the cluster's client certificate, or hub i's (i >= 1). */
int itest_channel(itest_cluster *c, const char *addr, int hub, jcs_rpc_channel **out);

/*
 * Registers fn to run at exit, after OpenSSL is initialised: exit handlers
 * run in reverse order, so fn (which shuts gRPC down) then runs before
 * OpenSSL's own clean-up, and gRPC's threads do not leak OpenSSL state.
 */
void itest_at_exit(void (*fn)(void));

/*
 * Fills hubs[i] with hub i+1 of the cluster (its id from the coordinator,
 * its address from cluster.env, kept in addr[i]) for i < n. JCS_ENOENT
 * when the coordinator does not list one of them.
 */
int itest_hub_workers(itest_cluster *c, size_t n, Jcs__Plan__Worker *hubs, char (*addr)[128]);

/* A driver with the cluster's client certificate. Caller frees. */
int itest_driver(itest_cluster *c, jcs_driver **out);

/* Runs a shell command; returns its exit status (or -1). */
int itest_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
