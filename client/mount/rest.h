/*
 * client/mount/rest.h - the mount's client of the jcs REST API (libcurl).
 *
 * The only file of the mount that calls curl_*. It speaks HTTPS with the
 * client certificate that `jcs init` writes beside config.json and turns the
 * API's envelope into a jcs_err: DataNotFound -> JCS_ENOENT, Conflict ->
 * JCS_EEXIST, BadArgument -> JCS_EINVAL, TooLarge -> JCS_ETOOBIG,
 * Unauthorized -> JCS_EPERM, anything else the server says -> JCS_EIO, a
 * connection failure -> JCS_EUNAVAIL, a passed deadline -> JCS_ETIMEOUT.
 * The detail line names the call and carries the server's message.
 *
 * Every call has a deadline, so a slow or dead service never hangs the
 * mount: metadata calls end after timeout_ms; transfers after stall_ms
 * without a byte moving (a 1 GiB transfer may take long, but never stand
 * still). The handle is thread-safe: each call borrows one curl handle from
 * a pool (connections and TLS sessions are reused), so FUSE's worker
 * threads, the read-ahead and the uploader run calls side by side.
 *
 * jcsctl has its own client (ctl/http.c). It is single-threaded, reports
 * progress and maps errors to exit codes; the mount needs a pool, deadlines
 * and errno-shaped results, so the two share the API, not the code.
 */
#ifndef JCS_MOUNT_REST_H
#define JCS_MOUNT_REST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jcs_mrest jcs_mrest;

typedef struct jcs_mrest_opts {
    const char *endpoint; /* "https://127.0.0.1:7890" */
    const char *ca, *cert, *key;
    int64_t timeout_ms; /* metadata calls; 0 = 30 s */
    int64_t stall_ms;   /* transfers: abort after this long without progress; 0 = 30 s */
} jcs_mrest_opts;

/* Call curl_global_init once, before any thread starts. */
void jcs_mrest_global_init(void);

int jcs_mrest_new(const jcs_mrest_opts *o, jcs_mrest **out) JCS_MUST_USE;
void jcs_mrest_free(jcs_mrest *r);

/*
 * GET /v1/<route>?<query> (query already escaped, may be NULL). *data gets
 * the envelope's data (new reference, may be JSON null); caller decrefs.
 */
int jcs_mrest_get(jcs_mrest *r, const char *route, const char *query, json_t **data) JCS_MUST_USE;

/* POST /v1/<route> with a JSON body (borrowed). data may be NULL. */
int jcs_mrest_post(jcs_mrest *r, const char *route, const json_t *body, json_t **data) JCS_MUST_USE;

/* s URL-escaped into a new string (NULL when out of memory). */
char *jcs_mrest_escape(jcs_mrest *r, const char *s);

/*
 * Receives downloaded bytes in order; returns 0 or a jcs_err that stops the
 * transfer (and is returned by the download).
 */
typedef int (*jcs_mrest_sink)(void *arg, const void *p, size_t n);

/*
 * GET /v1/object/download of bytes [off, off+len) of an object (len < 0: to
 * the end), streamed into sink as they arrive; never held whole.
 */
int jcs_mrest_download(jcs_mrest *r, int64_t object_id, int64_t off, int64_t len,
                       jcs_mrest_sink sink, void *arg) JCS_MUST_USE;

/*
 * POST /v1/object/upload of the local file `file` as object `path` of
 * package_id (the file is streamed from disk). *object gets the uploaded
 * object's JSON (new reference) when object is not NULL.
 */
int jcs_mrest_upload(jcs_mrest *r, int64_t package_id, const char *path, const char *file,
                     json_t **object) JCS_MUST_USE;

#endif
