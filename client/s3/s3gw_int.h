/*
 * client/s3/s3gw_int.h - what the S3 gateway's operation files share: the
 * request context and the helpers every operation uses (s3gw.c).
 * Not for use outside client/s3/.
 */
#ifndef JCS_CLIENT_S3GW_INT_H
#define JCS_CLIENT_S3GW_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "meta.h"
#include "s3auth.h"
#include "s3body.h"
#include "s3conf.h"
#include "s3err.h"
#include "s3gw.h"
#include "s3meta.h"
#include "s3xml.h"
#include "placement.h"
#include "svc.h"

#define S3GW_XML_BODY_MAX  (2u << 20)  /* a request XML body (Delete of 1000 long keys) */
#define S3GW_REPLY_MAX     (16u << 20) /* an XML reply */
#define S3GW_MIN_PART_SIZE (5u << 20)  /* every part but the last (AWS) */
#define S3GW_MAX_PARTS     10000
#define S3GW_KEY_MAX       1024

struct jcs_s3gw {
    jcs_svc *svc;
    jcs_s3conf conf;
    jcs_s3auth_cfg acfg;
    jcs_http_server *http;
    atomic_uint_fast64_t seq;
    /* Transfer slots (s3conf.h, max_transfers): how many plans stream now. */
    pthread_mutex_t slot_mu;
    pthread_cond_t slot_cv;
    unsigned slots_used;
};

typedef struct s3req s3req;

struct s3req {
    jcs_s3gw *gw;
    jcs_svc *svc;
    jcs_http_req *h;
    /* A copy: a route's abort runs on a worker after the HTTP layer let go of the
     * request's own strings (http.h), and logs the method. */
    char method[16];
    char rid[24];
    char *bucket; /* decoded; NULL for the service */
    char *key;    /* decoded; NULL for a bucket request */
    jcs_s3auth_param *q;
    size_t nq;
    char *resource; /* "/bucket/key", for error documents */
    jcs_s3auth auth;
    jcs_s3body *body; /* the checked body, NULL when the operation reads none */
    jcs_buf xml;      /* a collected XML request body */
    int collect_xml;  /* body bytes go to xml */
    /* The operation: finish runs once the body arrived; cancel when it never will. */
    int (*finish)(s3req *r);
    void (*cancel)(s3req *r);
    int (*sink)(s3req *r, const void *p, size_t n); /* decoded body bytes */
    void *op;
    void (*op_free)(void *op);
    char *joined[8]; /* repeated headers joined for signing (auth_header) */
    size_t njoined;
    /* The request's timeline (jcs_now_us), logged at debug level when it ends: where a
     * slow upload spends its time (body in, plan finish, metadata commit). */
    int64_t t_begin, t_begun, t_data, t_body_end, t_plan_end;
    int has_slot; /* holds a transfer slot (jcs_s3gw_slot) */
    /* The bucket jcs_s3gw_bucket found last, so jcs_s3gw_package does not read it again. */
    int64_t bkt_id;
    char bkt_name[256];
};

/*
 * Takes one of the gateway's transfer slots before a plan starts: PUT,
 * UploadPart and UploadPartCopy each hold one while their upload plan
 * runs, a streamed GET (more than JCS_DOWNLOAD_SMALL_MAX) while its reply
 * streams, so the memory of the plans is bounded whatever the clients'
 * concurrency (awscli sends 10 parts or ranges at once per transfer;
 * several transfers add up). Waits while all are taken; a request's body
 * is not read meanwhile (the connection is suspended, no 100 Continue goes
 * out), so the client waits too. After JCS_S3CONF_SLOT_WAIT_S: 503
 * SlowDown, which the SDKs retry. Released by jcs_s3gw_slot_release
 * (idempotent) once the plan ended, or when the request is freed; a
 * streamed reply takes the slot over (jcs_s3gw_slot_detach) and gives it
 * back with jcs_s3gw_slot_put when it ends.
 */
int jcs_s3gw_slot(s3req *r) JCS_MUST_USE;
void jcs_s3gw_slot_release(s3req *r);
/* The request's slot now belongs to the caller (1), or it held none (0). */
int jcs_s3gw_slot_detach(s3req *r);
void jcs_s3gw_slot_put(jcs_s3gw *gw);

/* A query parameter (decoded) or NULL. */
const char *jcs_s3gw_query(const s3req *r, const char *name);

/* A request header or NULL (case-insensitive). */
const char *jcs_s3gw_header(const s3req *r, const char *name);

/* Adds a reply header; failures (too many) are logged, never fatal. */
void jcs_s3gw_add_header(s3req *r, const char *name, const char *value);

/* Replies with the XML document in x (status 200 unless given). Returns 0 or the reply's error. */
int jcs_s3gw_reply_xml(s3req *r, unsigned status, const jcs_buf *x);

/* Replies with no body. */
int jcs_s3gw_reply_empty(s3req *r, unsigned status);

/*
 * Replies with the S3 error for rc: the code recorded by jcs_s3err_set,
 * else the one rc maps to; the message is rc's detail line. Returns 0
 * (the request is answered).
 */
int jcs_s3gw_error(s3req *r, int rc);

/* ---- names and keys (s3gw_key.c) ---- */

/*
 * Splits an S3 key into package and object path (README): "pkg/a/b" is
 * package pkg, path a/b; "a" is the root package's path a; "pkg/" is the
 * package alone (*dir_marker = 1, path ""). InvalidArgument naming the key
 * for a key that is not a JCS path or names a reserved package.
 */
int jcs_s3gw_key_split(const jcs_s3gw *gw, const char *key, char pkg[256], char path[1025],
                       int *dir_marker) JCS_MUST_USE;

/* The S3 key of an object: "pkg/path", or "path" in the root package. NULL: out of memory. */
char *jcs_s3gw_key_join(const jcs_s3gw *gw, const char *pkg, const char *path);

/* 1 when a package is one of the gateway's reserved ones (hidden from listings). */
int jcs_s3gw_reserved_package(const jcs_s3gw *gw, const char *pkg);

/* The bucket of the request; NoSuchBucket / InvalidBucketName. */
int jcs_s3gw_bucket(s3req *r, const char *name, jcs_meta_bucket *out) JCS_MUST_USE;

/*
 * A package of a bucket. create: made with the configured default
 * redundancy when missing (a concurrent creation is fine). Not create and
 * missing: JCS_ENOENT (no S3 code recorded).
 */
int jcs_s3gw_package(s3req *r, int64_t bucket_id, const char *name, int create,
                     jcs_meta_package *out) JCS_MUST_USE;

/* ---- objects ---- */

/* The ETag (with quotes) of o given its s3meta row (may be invalid or zeroed). */
void jcs_s3gw_etag(const jcs_meta_object *o, const jcs_s3meta *m, char out[90]);

/*
 * A Range header against an object of size bytes: 1 with [start, start+len)
 * for one byte range (suffix "-N" and open "N-" included, an end past the
 * object clipped); -1 when it cannot be satisfied (InvalidRange: a start at
 * or past the end, so any "N-" of an empty object, or a suffix of zero
 * bytes or of an empty object); 0 when the
 * header is to be ignored and the whole object served, as AWS does for
 * what is not a single well-formed byte range (several ranges, "items=",
 * an end before the start, garbage).
 */
int jcs_s3gw_parse_range(const char *v, int64_t size, int64_t *start, int64_t *len);

/* HTTP date (RFC 1123) and the ISO 8601 form of listings. */
void jcs_s3gw_http_date(int64_t ms, char out[40]);
void jcs_s3gw_iso_date(int64_t ms, char out[40]);
/* Parses an HTTP date (RFC 1123, RFC 850, asctime); -1 when unparsable. */
int64_t jcs_s3gw_parse_http_date(const char *s);

/*
 * Evaluates If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since
 * (prefix "x-amz-copy-source-" for copy sources; exists 0 for a missing
 * object). PreconditionFailed or NotModified (GET/HEAD only) recorded.
 */
int jcs_s3gw_conditions(s3req *r, const char *prefix, int exists, const char *etag,
                        int64_t mtime_ms, int read) JCS_MUST_USE;

/* "x-amz-copy-source: /bucket/key" (URL-encoded; "bucket/key" too) into bucket and key. */
int jcs_s3gw_copy_source(s3req *r, char **bucket, char **key) JCS_MUST_USE;

/*
 * The source object of a copy (detail, S3 row, ETag), with the
 * x-amz-copy-source-if-* conditions checked. Caller frees d and m.
 */
int jcs_s3gw_copy_find(s3req *r, char **sb, char **sk, jcs_meta_detail *d, jcs_s3meta *m,
                       char etag[90]) JCS_MUST_USE;

/* ---- operations (one file each) ---- */
int jcs_s3gw_list_buckets(s3req *r);
int jcs_s3gw_create_bucket(s3req *r);
int jcs_s3gw_delete_bucket(s3req *r);
int jcs_s3gw_head_bucket(s3req *r);
int jcs_s3gw_bucket_location(s3req *r);
int jcs_s3gw_list_objects(s3req *r, int v2);
int jcs_s3gw_delete_objects(s3req *r);
int jcs_s3gw_put_object(s3req *r); /* begin: sets finish/cancel/sink */
int jcs_s3gw_get_object(s3req *r, int head);
int jcs_s3gw_delete_object(s3req *r);
int jcs_s3gw_copy_object(s3req *r);
int jcs_s3gw_get_tagging(s3req *r);
int jcs_s3gw_mp_create(s3req *r);
int jcs_s3gw_mp_upload_part(s3req *r); /* begin, like put */
int jcs_s3gw_mp_upload_part_copy(s3req *r);
int jcs_s3gw_mp_complete(s3req *r);
int jcs_s3gw_mp_abort(s3req *r);
int jcs_s3gw_mp_list_parts(s3req *r);
int jcs_s3gw_mp_list_uploads(s3req *r);

/* MalformedXML carrying the parser's detail for rc. */
int jcs_s3gw_malformed(int rc);

/* Starts collecting an XML body; finish is called with it in r->xml. */
void jcs_s3gw_want_xml(s3req *r, int (*finish)(s3req *r));

/* The redundancy new objects of a package get (the package's, else the configured default). */
int jcs_s3gw_package_redundancy(s3req *r, const jcs_meta_package *p, jcs_redundancy *out,
                                char **json) JCS_MUST_USE;

/* Places width targets for new blocks (svc placement). */
int jcs_s3gw_place(s3req *r, size_t width, jcs_place_sites *out) JCS_MUST_USE;

/* The headers stored with an object, as JSON [[name, value]...], from this request. */
char *jcs_s3gw_stored_headers(const s3req *r);

/* Adds the stored headers to the reply (x-amz-meta-*, Content-Type, ...). */
void jcs_s3gw_emit_headers(s3req *r, const char *headers_json, int *have_ctype);

#endif
