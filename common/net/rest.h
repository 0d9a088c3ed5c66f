/*
 * rest.h - the one client of the jcs REST API (libcurl), used by jcsctl and
 * by the FUSE mount of the jcs binary. The only module that calls curl_*.
 *
 * It speaks HTTPS with a client certificate (mTLS), sends JSON requests,
 * streams uploads (multipart parts or a raw body, read from file
 * descriptors as libcurl asks) and downloads (to a sink callback, never
 * held whole), and turns every failure into one jcs_err whose detail line
 * names what was involved: the call, the endpoint, the certificate files
 * and where each came from, the server's own message.
 *
 * Codes: a server's refusal is mapped from its envelope code (else its
 * HTTP status): DataNotFound/404 -> JCS_ENOENT, Conflict/409 -> JCS_EEXIST,
 * BadArgument/400 -> JCS_EINVAL (JCS_ERPC with einval_is_local),
 * TooLarge/413 -> JCS_ETOOBIG, Unauthorized/401/403 -> JCS_EPERM, anything
 * else -> JCS_ERPC. A connection failure is JCS_EUNAVAIL, a TLS or
 * certificate failure JCS_ETLS, a passed deadline JCS_ETIMEOUT.
 *
 * Deadlines: JSON calls end after timeout_ms (when set); transfers end
 * after stall_ms without a byte moving (a 1 GiB transfer may take long,
 * but never stand still). Transfers use bigger buffers than curl's
 * defaults (16 KiB down, 64 KiB up): a download may hand its sink up to
 * 512 KiB at a time (libcurl 7.88 with OpenSSL still hands over one TLS
 * record, 16 KiB, per read), and an upload reads its file in 2 MiB pieces
 * (the most curl takes) and writes them in full TLS records.
 *
 * A jcs_rest is thread-safe: each call borrows one curl handle from a pool
 * (connections and TLS sessions are reused; a single-threaded caller keeps
 * reusing the one handle), so the mount's FUSE workers, its read-ahead and
 * its uploader run calls side by side.
 */
#ifndef JCS_REST_H
#define JCS_REST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jcs_rest jcs_rest;

typedef struct jcs_rest_opts {
    const char *endpoint; /* "https://127.0.0.1:7890"; a trailing '/' is dropped */
    const char *ca, *cert, *key;
    /* Where each came from ("--ca", "JCS_CA", ...), said in messages; NULL: not said. */
    const char *endpoint_from, *ca_from, *cert_from, *key_from;
    /* How a person chooses another ("--ca or JCS_CA"), said in hints; NULL: not said. */
    const char *endpoint_how, *ca_how, *cert_how;
    const char *user_agent;     /* "jcsctl/0.1.0" */
    int64_t connect_timeout_ms; /* 0 = 15 s */
    int64_t timeout_ms;         /* the deadline of a JSON call; 0 = none */
    int64_t stall_ms;           /* transfers: abort after this long without progress; 0 = never */
    size_t max_json;            /* the largest JSON answer taken; 0 = 64 MiB */
    /*
     * jcsctl keeps JCS_EINVAL for its own usage mistakes (exit code 2), so
     * with this set a server's BadArgument comes back as JCS_ERPC.
     */
    int einval_is_local;
} jcs_rest_opts;

/* Call once before any thread starts (curl_global_init); JCS_EINTERNAL when libcurl refuses. */
int jcs_rest_global_init(void) JCS_MUST_USE;

/* The counterpart of jcs_rest_global_init, after the last jcs_rest is freed. */
void jcs_rest_global_cleanup(void);

/* Copies the options' strings; makes no connection yet. */
int jcs_rest_new(const jcs_rest_opts *o, jcs_rest **out) JCS_MUST_USE;
void jcs_rest_free(jcs_rest *r);

/* The endpoint as used (no trailing '/'); borrowed from r. */
const char *jcs_rest_endpoint(const jcs_rest *r);

/* Told the bytes of the current request moved so far (sent for uploads, received else). */
typedef struct jcs_rest_progress {
    void (*fn)(void *arg, int64_t now);
    void *arg;
} jcs_rest_progress;

/*
 * GET path ("/v1/bucket/listAll") with query parameters kv
 * (NULL-terminated key, value, ...; values are escaped here; kv may be
 * NULL). On success *data (data may be NULL if not wanted) is the
 * envelope's data, a new reference (caller decrefs; JSON null when the
 * server sent null).
 */
int jcs_rest_get(jcs_rest *r, const char *path, const char *const *kv, json_t **data) JCS_MUST_USE;

/* POST path with a JSON body (borrowed); *data as for jcs_rest_get. */
int jcs_rest_post(jcs_rest *r, const char *path, const json_t *body, json_t **data) JCS_MUST_USE;

/* One file to send: size bytes at offset off of fd (borrowed, not closed here). */
typedef struct jcs_rest_file {
    const char *path;  /* the object path (the multipart file name) */
    const char *local; /* the local name, for messages */
    int fd;
    int64_t off, size;
} jcs_rest_file;

/*
 * POST path (/v1/object/upload) as multipart: an "info" part (info,
 * borrowed) then one "files" part per file, each streamed from its
 * descriptor. prog may be NULL. *data as for jcs_rest_get. A file that
 * shrinks while being sent fails the request naming it.
 */
int jcs_rest_upload(jcs_rest *r, const char *path, const json_t *info, const jcs_rest_file *files,
                    size_t n, const jcs_rest_progress *prog, json_t **data) JCS_MUST_USE;

/* POST path?kv with the bytes of f as the raw body (streamed); *data as for jcs_rest_get. */
int jcs_rest_upload_raw(jcs_rest *r, const char *path, const char *const *kv,
                        const jcs_rest_file *f, const jcs_rest_progress *prog,
                        json_t **data) JCS_MUST_USE;

/* Receives downloaded bytes in order; a non-zero return stops the transfer with that error. */
typedef int (*jcs_rest_sink)(void *arg, const void *p, size_t n);

/*
 * GET path?kv streaming the body of a 2xx answer to sink as it arrives.
 * *got (got may be NULL) = bytes given to sink. A server's error envelope
 * becomes the error; nothing of it reaches sink.
 */
int jcs_rest_download(jcs_rest *r, const char *path, const char *const *kv, jcs_rest_sink sink,
                      void *arg, const jcs_rest_progress *prog, int64_t *got) JCS_MUST_USE;

#endif
