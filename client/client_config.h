/*
 * client/client_config.h - the jcs client's config.json.
 *
 * The file has JCS-pub's sections and field names (docs/DESIGN.md §6)
 * and JCS's defaults, plus three additions in the same style:
 *
 *   "rpc": {"cert": "...", "key": "..."}  the client-role certificate (OU=client,
 *                                         issued by the cluster CA) presented to
 *                                         the coordinator and the hubs
 *   "location": "loc1"                    the client's own location name; hubs
 *                                         there are "same location" (distance 1)
 *   "redundancy": {"type": "none"}        default redundancy of new packages
 *                                         (docs/DESIGN.md §3: none, rep, ec)
 *
 * and "db.socket" (a unix socket used instead of db.address, as the
 * coordinator's config has).
 *
 * hubRPC.rootCA and coordinatorRPC.rootCA are the cluster CA; when one of
 * them is empty it takes the other's value (JCS: "usually the same"), and at
 * least one is required. Relative paths are taken from the config file's
 * directory. Durations are Go-style strings ("10s", "1m30s", "500ms").
 *
 * Loading checks everything a later failure would otherwise report far from
 * its cause: every file named is readable, rpc.cert is signed by the
 * coordinator's rootCA, matches rpc.key and has the client role, the HTTP
 * server certificate is signed by http.rootCA and matches http.serverKey
 * (when http.enabled), addresses parse, numbers are in range. Each error is
 * one line naming the file and the field: "config.json: field
 * tickTock.accessStatHistoryWeight: 1.5 is outside 0..1".
 */
#ifndef JCS_CLIENT_CONFIG_H
#define JCS_CLIENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "computeat.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "plan.h"
#include "rpc.h"

/* Defaults (JCS's README example). */
#define JCS_CLIENT_DEFAULT_COORDINATOR "127.0.0.1:5009"
#define JCS_CLIENT_DEFAULT_DB_ADDRESS  "127.0.0.1:3306"
#define JCS_CLIENT_DEFAULT_DB_ACCOUNT  "root"
#define JCS_CLIENT_DEFAULT_DB_PASSWORD "123456"
#define JCS_CLIENT_DEFAULT_DB_NAME     "cloudream"
#define JCS_CLIENT_DEFAULT_HTTP_LISTEN "127.0.0.1:7890"

typedef struct jcs_client_config {
    /*
     * The parsed file, kept so modules that read their own section (the
     * HTTP server's jcs_http_config_load) see the same file. Owned.
     */
    jcs_cfg file;
    char *path; /* the file as given */

    /* Every string below is owned and never NULL after a successful load. */
    char *hub_root_ca;         /* hubRPC.rootCA, resolved */
    char *coordinator_address; /* coordinatorRPC.address [127.0.0.1:5009] */
    char *coordinator_root_ca; /* coordinatorRPC.rootCA, resolved */
    char *rpc_cert;            /* rpc.cert, resolved */
    char *rpc_key;             /* rpc.key, resolved */
    char *rpc_name;            /* the CN of rpc.cert (the client's name towards the cluster) */
    long long rpc_idle_s;      /* rpc.idleTimeoutSeconds: the RPC idle deadline (rpc.h) */
    bool rpc_bulk;  /* rpc.bulkChannel: plan streams over the hubs' bulk channel (default on) */
    char *location; /* location [""]: no location, so no hub is "same location" */

    struct {
        char *output;             /* "stdout" or "file" [stdout] */
        char *output_file_name;   /* [client] */
        char *output_directory;   /* resolved [log] */
        enum jcs_log_level level; /* [debug] */
    } logger;

    struct {
        char *address;  /* [127.0.0.1:3306] */
        char *socket;   /* [""] */
        char *account;  /* [root] */
        char *password; /* [123456] */
        char *database; /* databaseName [cloudream] */
        /* secretsKey: 64 hex digits, the AES-256-GCM key that seals the S3 secretKeys stored
         * in the database (seal.h); [""] none: S3 spaces cannot be created. jcs init writes
         * a random one. */
        char *secrets_key;
    } db;

    int64_t test_interval_s;           /* connectivity.testInterval [300], 1..86400 */
    int64_t max_strip_cache_count;     /* downloader.maxStripCacheCount [100], >= 0 */
    int64_t ec_strip_prefetch_count;   /* downloader.ecStripPrefetchCount [1], >= 0 */
    double hedge_after_percentile;     /* downloader.hedgeAfterPercentile [95], 0 (off) .. 99.99:
                                          a small read waiting on a hub longer than this
                                          percentile of its recent reads is hedged (hublat.h) */
    int64_t hedge_min_delay_ms;        /* downloader.hedgeMinDelay ["5ms"]: the floor of that */
    double high_latency_hub_ms;        /* downloadStrategy.highLatencyHub [35], >= 0 */
    int64_t ec_file_size_threshold;    /* tickTock.ecFileSizeThreshold [5242880], >= 0 */
    double access_stat_history_weight; /* tickTock.accessStatHistoryWeight [0.8], 0..1 */
    int64_t gc_grace_period_ms;        /* tickTock.gcGracePeriod ["1h"]: ShardStoreGC spares
                                          unreferenced shards younger than this */
    int64_t lease_ttl_ms;              /* tickTock.leaseTTL ["60s"]: a job run's storage leases
                                        * (spacelease.h) last this long unless renewed (every
                                        * third of it), so a client killed mid-run blocks others'
                                        * runs on that storage at most this long */
    int64_t recover_grace_period_ms;   /* tickTock.recoverGracePeriod ["5m"]: RedundancyRecover
                                          leaves blocks on a hub offline for less than this (a
                                          restart) alone */
    bool deep_check;                   /* tickTock.deepCheck [true]: the daily CheckShardStore
                                          reads and verifies every referenced shard */
    double scrub_rate_mbps;            /* tickTock.scrubRateMBps [10]: a deep check reads at most
                                          this many MB (10^6 bytes) per second */

    /* Where plans code (client/plan/computeat.h, docs/DESIGN.md §4). */
    struct {
        jcs_computeat_mode compute_at; /* ioswitch.computeAt ["auto"]: auto, client or hub */
        double client_link_cost;       /* ioswitch.clientLinkCost [1], 0.01..1e6: the cost of a
                                          byte on a link of the client, as a multiple of the
                                          topology distance (a slow or metered uplink: > 1) */
    } ioswitch;

    struct {
        bool enabled;        /* [true] */
        char *listen;        /* [127.0.0.1:7890] */
        char *root_ca;       /* resolved; "" when !enabled and not given */
        char *server_cert;   /* likewise */
        char *server_key;    /* likewise */
        char **client_certs; /* resolved paths, nclient_certs of them (NULL when none) */
        size_t nclient_certs;
        int64_t max_body_size; /* [5242880], 1 .. 1 GiB */
    } http;

    struct {
        bool enabled;                      /* [false] */
        char *mount_point;                 /* resolved; required when enabled */
        int64_t gid, uid;                  /* [0] */
        char *data_dir;                    /* resolved; required when enabled */
        char *meta_dir;                    /* resolved; required when enabled */
        int64_t max_cache_size;            /* bytes, 0 = unlimited [0] */
        int64_t attr_timeout_ms;           /* [10s] */
        int64_t upload_pending_time_ms;    /* [30s] */
        int64_t cache_active_time_ms;      /* [1m] */
        int64_t cache_expire_time_ms;      /* [1m] */
        int64_t scan_data_dir_interval_ms; /* [10m] */
    } mount;

    struct {
        char *account;  /* [""] */
        char *password; /* [""] */
    } access_token;

    jcs_redundancy redundancy; /* [none] */
    char *redundancy_json;     /* the same, as canonical JSON with defaults filled in */

    /*
     * Fields of the file this version does not know ("conectivity",
     * "http.maxBodySise"), comma-separated, or NULL: a typo would otherwise
     * silently mean "default". The caller logs them once logging is up.
     */
    char *unknown_fields;
} jcs_client_config;

/*
 * Loads and checks path. On success the caller frees with
 * jcs_client_config_clear; after a failure out is empty (freeing it is
 * harmless). JCS_ECONFIG (and JCS_ETLS for a certificate that does not fit)
 * with a detail naming the file and the field; JCS_ENOMEM.
 */
int jcs_client_config_load(const char *path, jcs_client_config *out) JCS_MUST_USE;

/* Same from text; name stands for the file in details and relative paths. */
int jcs_client_config_parse(const char *name, const char *text,
                            jcs_client_config *out) JCS_MUST_USE;

void jcs_client_config_clear(jcs_client_config *c);

/*
 * Sets up logging from the logger section: tag "jcs", the level, and the
 * file outputDirectory/outputFileName.log (directory created) when output
 * is "file". JCS_EIO naming the file when it cannot be opened.
 */
int jcs_client_config_logger(const jcs_client_config *c) JCS_MUST_USE;

/* Borrowed views of the parsed fields for rpc.h and db.h. */
jcs_tls_files jcs_client_config_coordinator_tls(const jcs_client_config *c);
jcs_tls_files jcs_client_config_hub_tls(const jcs_client_config *c);
jcs_db_config jcs_client_config_db(const jcs_client_config *c);

/*
 * Parses a Go-style duration: a sequence of decimal numbers, each with an
 * optional fraction and a unit (ns, us, µs, ms, s, m, h): "10s", "1m30s",
 * "1.5h", "250ms"; "0" alone is zero. Negative durations are refused.
 * *ns gets nanoseconds. JCS_EINVAL (detail quotes s and says why),
 * JCS_ETOOBIG beyond about 292 years.
 */
int jcs_client_config_parse_duration(const char *s, int64_t *ns) JCS_MUST_USE;

/*
 * A redundancy as JSON (docs/DESIGN.md §3) -> jcs_redundancy: {"type":"none"},
 * {"type":"rep","repCount":N} (default 2), {"type":"ec","k":K,"n":N,
 * "chunkSize":C} (default 2, 3, 5 MiB), {"type":"lrc","k":K,"n":N,
 * "groups":[G...],"chunkSize":C} (JCS's defaults 2, 4, [2], 5 MiB; layout
 * rules in redundancy.h). Other types (segment, multipartUpload) are
 * refused: no plan can produce them for a new object.
 * JCS_EINVAL with a detail naming the bad member ("redundancy.k: ...");
 * what prefixes member names ("redundancy").
 */
int jcs_client_config_redundancy_parse(const json_t *v, const char *what,
                                       jcs_redundancy *out) JCS_MUST_USE;

/* jcs_redundancy -> canonical JSON text (new string, caller frees; NULL when out of memory). */
char *jcs_client_config_redundancy_json(const jcs_redundancy *r);

#endif
