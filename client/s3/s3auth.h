/*
 * client/s3/s3auth.h - server-side verification of AWS Signature V4, in
 * the Authorization header or in a presigned query string.
 *
 * The canonical request is rebuilt exactly as AWS documents it for S3 and
 * signed with the project's signer primitives (sigv4.h: jcs_sigv4_canonical,
 * jcs_sigv4_signature), so the client and server sides of this code base
 * share one canonicalisation:
 *  - canonical URI: the decoded request path percent-encoded once (every
 *    byte but A-Z a-z 0-9 - . _ ~ /), no dot-segment normalisation. If that
 *    does not match and the path as sent on the wire differs, the wire form
 *    is tried too (a client that left a reserved byte unencoded signs what
 *    it sent);
 *  - canonical query: every decoded parameter re-encoded (also '/'), sorted
 *    by name then value; a presigned request's X-Amz-Signature is left out;
 *  - canonical headers: the SignedHeaders list, values trimmed, inner runs
 *    of blanks collapsed; "host" must be signed.
 * The request time (x-amz-date, or X-Amz-Date of a presigned URL) must lie
 * within 15 minutes of the server's clock (RequestTimeTooSkewed); a
 * presigned URL is refused once X-Amz-Date + X-Amz-Expires has passed
 * (AccessDenied "Request has expired"), and X-Amz-Expires is 1..604800.
 * The credential scope must be DATE/REGION/s3/aws4_request with DATE the
 * request's day and REGION the configured one.
 *
 * A pure function over its inputs: the caller supplies the request's
 * method, path, query and a header lookup, and the clock.
 */
#ifndef JCS_CLIENT_S3AUTH_H
#define JCS_CLIENT_S3AUTH_H

#include <stddef.h>
#include <time.h>

#include "err.h"

#define JCS_S3AUTH_MAX_SKEW    900 /* seconds either way */
#define JCS_S3AUTH_MAX_EXPIRES 604800

typedef struct jcs_s3auth_cred {
    const char *access_key;
    const char *secret_key;
} jcs_s3auth_cred;

typedef struct jcs_s3auth_param {
    const char *name;  /* decoded */
    const char *value; /* decoded; "" for "?name" */
} jcs_s3auth_param;

/* A request header by lower-case name (the first value if repeated), or NULL. */
typedef const char *(*jcs_s3auth_header_fn)(void *arg, const char *name);

typedef struct jcs_s3auth_req {
    const char *method;
    const char *path;     /* decoded, starts with '/' */
    const char *raw_path; /* as sent on the wire, or NULL */
    const jcs_s3auth_param *query;
    size_t nquery;
    jcs_s3auth_header_fn header;
    void *header_arg;
    time_t now;
} jcs_s3auth_req;

typedef struct jcs_s3auth_cfg {
    const jcs_s3auth_cred *creds;
    size_t ncreds;
    const char *region;
} jcs_s3auth_cfg;

/* What a verified request carries on: what the chunk decoder needs. */
typedef struct jcs_s3auth {
    int presigned;
    char access_key[129];
    char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
    char scope[160];   /* 20130524/us-east-1/s3/aws4_request */
    unsigned char signing_key[32];
    char signature[65];    /* the request's (seed) signature */
    char payload_hash[80]; /* x-amz-content-sha256, or UNSIGNED-PAYLOAD when presigned */
} jcs_s3auth;

/*
 * Verifies req. 0 with *out filled, or a negative jcs_err with the S3 code
 * recorded by jcs_s3err_set (AccessDenied for a missing signature or an
 * expired URL, InvalidAccessKeyId, SignatureDoesNotMatch,
 * RequestTimeTooSkewed, AuthorizationHeaderMalformed,
 * AuthorizationQueryParametersError, InvalidRequest) and a message that
 * names the problem.
 */
int jcs_s3auth_verify(const jcs_s3auth_cfg *cfg, const jcs_s3auth_req *req,
                      jcs_s3auth *out) JCS_MUST_USE;

/*
 * Parses "YYYYMMDDTHHMMSSZ" into a UTC time. JCS_EINVAL when malformed.
 */
int jcs_s3auth_parse_date(const char *s, time_t *out) JCS_MUST_USE;

#endif
