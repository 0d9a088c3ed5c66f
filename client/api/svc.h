/*
 * client/api/svc.h - the running jcs service as the REST handlers see it: the
 * shared context (database pool, coordinator channel, topology cache,
 * driver), request-body and naming checks that every handler applies the
 * same way, the JSON shapes of API.md, and the resolution of user spaces
 * into plan sites (where a block lives, which hub serves it, how far it is).
 *
 * Design. Handlers live in client/api/api_*.c, one file per API.md section;
 * each exports a route table (jcs_api_*_routes) whose arg jcs_serve fills
 * with the jcs_svc. A handler reads the request, validates everything
 * before touching data (so bad input leaves the database and the spaces
 * unchanged), runs data movements through the driver, then commits the
 * metadata in one transaction (meta.h): data before metadata.
 *
 * The jcs_svc also holds the user-space cache that placement.h reads.
 */
#ifndef JCS_CLIENT_SVC_H
#define JCS_CLIENT_SVC_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "client_config.h"
#include "driver.h"
#include "err.h"
#include "http.h"
#include "http_envelope.h"
#include "jobplan.h"
#include "meta.h"
#include "placement.h"
#include "seal.h"
#include "topology.h"

typedef struct jcs_jobs jcs_jobs;
typedef struct jcs_access jcs_access;
typedef struct jcs_stripcache jcs_stripcache;
typedef struct jcs_hublat jcs_hublat;

struct jcs_svc {
    const jcs_client_config *cfg; /* borrowed for the service's life */
    jcs_db *db;
    jcs_rpc_channel *coord;
    jcs_topo *topo;
    jcs_driver *driver;
    jcs_jobs *jobs;         /* background jobs (jobs.h); NULL when not started */
    jcs_access *access;     /* access statistics, batched (access.h) */
    int64_t start_wall_ms;  /* for /v1/system/status */
    jcs_stripcache *strips; /* EC strip cache for ranged reads (stripcache.h); NULL: none */
    jcs_hublat *hublat;     /* per-hub read latencies, hedge delays (hublat.h); NULL: no hedging */

    /* Package rows for the upload path (meta.h, jcs_meta_package_get_cached); NULL: none. */
    jcs_meta_pkg_cache *pkgs;

    /* The user-space cache (private rows, secrets included). */
    pthread_mutex_t spaces_mu;
    jcs_meta_spaces spaces;
    int64_t spaces_at_ms; /* jcs_now_ms of the load; 0: not loaded */

    /* db.secretsKey, parsed: seals the S3 secrets stored in the database (seal.h). */
    int have_seal_key;
    uint8_t seal_key[JCS_SEAL_KEY_LEN];
};

/* ---- route tables (one per API.md section) --------------------------------------------------- */

extern const jcs_http_route jcs_api_bucket_routes[];
extern const size_t jcs_api_bucket_nroutes;
extern const jcs_http_route jcs_api_object_routes[];
extern const size_t jcs_api_object_nroutes;
extern const jcs_http_route jcs_api_space_routes[];
extern const size_t jcs_api_space_nroutes;
extern const jcs_http_route jcs_api_system_routes[];
extern const size_t jcs_api_system_nroutes;

/* The service behind a request (the route's arg). */
jcs_svc *jcs_api_svc(const jcs_http_req *req);

/* ---- request checks: each fails with JCS_EINVAL and a detail naming the field ---------------- */

/* The JSON body as an object (borrowed); "request body must be a JSON object" otherwise. */
int jcs_api_body(const jcs_http_req *req, json_t **out) JCS_MUST_USE;

/* A required positive integer id field ("field bucketID: required" / "must be a positive
 * integer"). */
int jcs_api_get_id(const json_t *o, const char *field, int64_t *out) JCS_MUST_USE;

/* A string field (borrowed); absent gives NULL unless required. */
int jcs_api_get_str(const json_t *o, const char *field, int required,
                    const char **out) JCS_MUST_USE;

/* A boolean field; absent gives def. */
int jcs_api_get_bool(const json_t *o, const char *field, int def, int *out) JCS_MUST_USE;

/* A required array of positive integer ids, at most JCS_META_BATCH_MAX. Caller frees. */
int jcs_api_get_ids(const json_t *o, const char *field, jcs_meta_ids *out) JCS_MUST_USE;

/*
 * A bucket, package or space name: 1..255 bytes of UTF-8, no '/', no
 * control characters. what names it in the detail ("field name").
 */
int jcs_api_check_name(const char *what, const char *s) JCS_MUST_USE;

/*
 * An object path per API.md, normalized into out (JCS_META_PATH_MAX + 1
 * bytes): '\' is read as '/'; 1..1024 bytes of UTF-8; no empty, "." or
 * ".." segment; no control characters. A trailing '/' is allowed only
 * when allow_dir (listing prefixes), as is the empty path.
 */
int jcs_api_norm_path(const char *what, const char *in, int allow_dir,
                      char out[JCS_META_PATH_MAX + 1]) JCS_MUST_USE;

/*
 * A redundancy member of a request: NULL or JSON null leaves *out
 * untouched and *given 0; otherwise it is parsed (config.h's rules) into
 * *out and *given = 1.
 */
int jcs_api_get_redundancy(const json_t *o, const char *field, jcs_redundancy *out,
                           int *given) JCS_MUST_USE;

/* Replies {"code":"OK","data":{key: v}}. Takes ownership of v; NULL v (out of memory) is
 * JCS_ENOMEM. */
int jcs_api_reply_one(jcs_http_req *req, const char *key, json_t *v);

/*
 * Appends v (taking it) to the array a and returns a; when either is NULL
 * (out of memory) or the append fails, releases both and returns NULL, so
 * a list is built as a = jcs_api_push(a, item) and checked once at the end.
 */
json_t *jcs_api_push(json_t *a, json_t *v);

/* ---- JSON shapes (new references; NULL only when out of memory) ------------------------------ */

json_t *jcs_api_bucket_json(const jcs_meta_bucket *b);
json_t *jcs_api_package_json(const jcs_meta_package *p);
/* Object JSON of API.md; size as a string, redundancy as an object. o->object_id 0 gives null. */
json_t *jcs_api_object_json(const jcs_meta_object *o);
json_t *jcs_api_objects_json(const jcs_meta_objects *l);
/* A user space as listed: storage without secrets, usage, state. */
json_t *jcs_api_space_json(const jcs_meta_space *s);

#endif
