/*
 * storage.h - storage backends: one interface over a local directory and an
 * S3-compatible bucket.
 *
 * A backend stores objects under keys: relative paths of '/'-separated
 * segments ("blocks/AB/FullAB12..."), at most JCS_STORAGE_KEY_MAX bytes, no
 * empty, "." or ".." segment, no leading or trailing '/', no control
 * characters or backslash. The first segment "tmp" is reserved for the
 * backends' own temporary data: keys under "tmp/" cannot be committed, and
 * listing skips them.
 *
 * Writes are streams that become visible only at commit, all at once:
 *  - local: bytes go to <root>/tmp/<16 hex>.<pid> (held under flock while the
 *    writer lives); commit fsyncs the file, renames it to <root>/<key> and
 *    fsyncs the directory. Commit replaces an existing object.
 *  - s3: bytes are buffered up to the part size; a stream that fits is one PUT
 *    at commit. A larger stream becomes a multipart upload to the temporary
 *    key <prefix>tmp/<16 hex>.<pid> (the final key is not known before
 *    commit); commit completes it and copies it server-side to the final key
 *    (CopyObject, or UploadPartCopy above copy_max_single bytes), then deletes
 *    the temporary object. Any failure aborts the multipart upload.
 * An aborted writer, or one whose process died, never leaves a visible
 * object; what it left behind is removed by jcs_storage_reclaim.
 *
 * Errors carry a detail naming the backend and key, e.g.
 * "s3 http://127.0.0.1:4568/bucket: PUT blocks/AB/Full...: HTTP 403
 * AccessDenied: Access Denied". Secrets never appear in details or logs.
 *
 * Thread safety: a backend may be used from many threads at once; a writer
 * belongs to one thread at a time. A process using an https S3 endpoint must
 * ignore SIGPIPE (the services do, see service.h): curl's handles are set
 * CURLOPT_NOSIGNAL for threads.
 */
#ifndef JCS_STORAGE_H
#define JCS_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JCS_STORAGE_KEY_MAX 1024
/* A read length meaning "to the end of the object". */
#define JCS_STORAGE_TO_END UINT64_MAX

typedef struct jcs_storage jcs_storage;
typedef struct jcs_storage_writer jcs_storage_writer;

enum jcs_storage_type { JCS_STORAGE_LOCAL = 1, JCS_STORAGE_S3 = 2 };

struct jcs_storage_s3_config {
    const char *endpoint;   /* "http(s)://host[:port]", no path */
    const char *region;     /* NULL or "" means "us-east-1" */
    const char *bucket;     /* required */
    const char *prefix;     /* key prefix inside the bucket ("jcs/space1"); NULL for none */
    int path_style;         /* 1: endpoint/bucket/key; 0: bucket.host/key (needs a host name) */
    const char *access_key; /* required */
    const char *secret_key; /* required; never logged */
    const char *ca_file;    /* PEM bundle to verify https endpoints; NULL: system store */
    int connect_timeout_ms; /* 0: 10 s */
    int io_timeout_ms;      /* a transfer with no progress for this long fails; 0: 60 s */
    int max_attempts;       /* tries per request on 5xx/429/timeouts/connection errors; 0: 4 */
    int retry_base_ms;      /* backoff before retry n is base * 2^(n-1); 0: 100 ms */
    size_t part_size;       /* multipart part size; 0: 8 MiB; clamped to [5 MiB, 64 MiB] */
    /* Largest object copied with one CopyObject at commit; larger ones use
     * UploadPartCopy in parts of this size. 0: 5 GiB (the S3 limit). */
    uint64_t copy_max_single;
    int list_page_size; /* keys per ListObjectsV2 request; 0: 1000 */
};

struct jcs_storage_config {
    enum jcs_storage_type type;
    const char *local_root; /* JCS_STORAGE_LOCAL: the directory (created if missing) */
    struct jcs_storage_s3_config s3;
};

struct jcs_storage_stat {
    uint64_t size;
    int64_t mtime_ms; /* last modification, ms since the epoch (s3: 1 s resolution) */
};

/*
 * Called with consecutive pieces of an object being read. Return 0 to go on,
 * or a negative jcs_err to stop the read, which then returns that code.
 */
typedef int (*jcs_storage_sink)(void *arg, const void *data, size_t len);

/*
 * Called once per listed object; key is relative to the backend (borrowed,
 * valid during the call). Return 0 to go on, or a negative jcs_err to stop
 * the listing, which then returns that code.
 */
typedef int (*jcs_storage_list_fn)(void *arg, const char *key, const struct jcs_storage_stat *st);

/*
 * Creates a backend from cfg (copied; cfg may be freed afterwards). The local
 * backend creates <root> and <root>/tmp; the s3 backend does not contact the
 * endpoint. JCS_ECONFIG with a detail naming the field, JCS_ENOMEM.
 */
int jcs_storage_open(const struct jcs_storage_config *cfg, jcs_storage **out) JCS_MUST_USE;

/* Frees the backend. All writers must be finished. NULL is a no-op. */
void jcs_storage_close(jcs_storage *s);

/* "local /data/space1" or "s3 http://host:port/bucket[/prefix]". Borrowed. */
const char *jcs_storage_name(const jcs_storage *s);

/* JCS_EINVAL with a detail naming key when it breaks the rules above. */
int jcs_storage_check_key(const char *key) JCS_MUST_USE;

/* Starts a write stream. The caller finishes it with commit or abort. */
int jcs_storage_write_begin(jcs_storage *s, jcs_storage_writer **out) JCS_MUST_USE;

/*
 * Appends n bytes. After an error the writer only accepts abort (commit
 * returns the same error and discards it).
 */
int jcs_storage_write(jcs_storage_writer *w, const void *data, size_t n) JCS_MUST_USE;

/* Bytes written so far. */
uint64_t jcs_storage_writer_size(const jcs_storage_writer *w);

/*
 * Makes everything written visible under key, atomically, replacing any
 * object there. Always consumes w (on failure the temporary data is
 * discarded). JCS_EINVAL for a bad or reserved key.
 */
int jcs_storage_write_commit(jcs_storage_writer *w, const char *key) JCS_MUST_USE;

/*
 * Commits w0 under key0, then w1 under key1 (two writers of the same storage): w1's object
 * never becomes visible before w0's, and both are durable on success. The local backend
 * shares the syncs of the two. Always consumes both writers; on failure either may have
 * been committed (w0 alone, or both if only the final sync failed).
 */
int jcs_storage_write_commit_pair(jcs_storage_writer *w0, const char *key0, jcs_storage_writer *w1,
                                  const char *key1) JCS_MUST_USE;

/*
 * Attributes: a few bytes kept with an object itself, not beside it (local: an extended
 * attribute "user.<name>" of the object's file). One set on a writer becomes visible with
 * the object at commit and is as durable as its bytes, at no cost of its own: no second
 * file, no second sync. Backends and file systems that cannot keep one (s3 here, a file
 * system without user extended attributes, a value too long for it) say so with *kept = 0
 * and the caller keeps the bytes elsewhere; that is not an error. name: [a-z0-9.]{1,32}.
 */
#define JCS_STORAGE_ATTR_MAX 4096

/* Sets attribute name of the object w is writing. *kept: 1 when it will be kept. */
int jcs_storage_writer_set_attr(jcs_storage_writer *w, const char *name, const void *val,
                                size_t len, int *kept) JCS_MUST_USE;

/*
 * Sets attribute name of the stored object key, durably before returning (local:
 * setxattr then fsync). *kept as above; JCS_ENOENT when key does not exist.
 */
int jcs_storage_set_attr(jcs_storage *s, const char *key, const char *name, const void *val,
                         size_t len, int *kept) JCS_MUST_USE;

/*
 * Reads attribute name of key into buf (cap bytes): *len is its size, 0 when the object
 * has none (or the backend keeps none). JCS_ENOENT when key does not exist; JCS_ETOOBIG
 * when the value is longer than cap.
 */
int jcs_storage_get_attr(jcs_storage *s, const char *key, const char *name, void *buf, size_t cap,
                         size_t *len) JCS_MUST_USE;

/* Discards a write stream; nothing becomes visible. Consumes w; NULL is a no-op. */
void jcs_storage_write_abort(jcs_storage_writer *w);

/*
 * Streams bytes [off, off+len) of key to sink (len JCS_STORAGE_TO_END: to the
 * end). JCS_ENOENT when key does not exist; JCS_EINVAL, before any byte is
 * delivered, when the range goes past the end of the object (off may equal
 * the size with len 0 or TO_END). The s3 backend resumes an interrupted
 * transfer where it stopped, so sink sees every byte exactly once.
 */
int jcs_storage_read(jcs_storage *s, const char *key, uint64_t off, uint64_t len,
                     jcs_storage_sink sink, void *arg) JCS_MUST_USE;

/* Reads exactly len bytes at off into buf (caller-allocated); errors as jcs_storage_read. */
int jcs_storage_read_buf(jcs_storage *s, const char *key, uint64_t off, size_t len,
                         void *buf) JCS_MUST_USE;

/* Size and mtime of key; JCS_ENOENT when it does not exist. */
int jcs_storage_stat(jcs_storage *s, const char *key, struct jcs_storage_stat *st) JCS_MUST_USE;

/*
 * Calls fn for every object whose key starts with prefix ("" or NULL: all,
 * except the reserved "tmp/"). s3 lists in key order; local in no set order.
 */
int jcs_storage_list(jcs_storage *s, const char *prefix, jcs_storage_list_fn fn,
                     void *arg) JCS_MUST_USE;

/* Deletes key; deleting a missing key succeeds. */
int jcs_storage_delete(jcs_storage *s, const char *key) JCS_MUST_USE;

/*
 * Deletes n keys (missing ones count as deleted). s3 sends DeleteObjects
 * requests of up to 1000 keys. Stops at the first failure; *done (optional)
 * tells how many of keys[0..n) are known deleted before it.
 */
int jcs_storage_delete_many(jcs_storage *s, const char *const *keys, size_t n,
                            size_t *done) JCS_MUST_USE;

/*
 * Removes what dead writers left behind when it is at least min_age_ms old:
 * local temp files no live writer holds; s3 temporary objects and unfinished
 * multipart uploads under tmp/ (except this backend's live writers'). Called
 * at start and periodically; *removed (optional) counts what was removed.
 */
int jcs_storage_reclaim(jcs_storage *s, int64_t min_age_ms, unsigned *removed) JCS_MUST_USE;

#endif
