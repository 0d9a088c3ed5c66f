/*
 * sigv4.h - AWS Signature Version 4 for the S3 backend (header-based auth).
 *
 * The signer is written against AWS's published description and checked in
 * tests/unit/test_sigv4.c against AWS's test vectors and against libcurl's
 * independent implementation (CURLOPT_AWS_SIGV4).
 *
 * S3 rules, which differ from the generic SigV4 rules on purpose:
 *  - the canonical URI is the request path percent-encoded ONCE (each byte
 *    outside A-Z a-z 0-9 - . _ ~ and '/'), with no dot-segment
 *    normalisation; the caller encodes the path with jcs_sigv4_uri_encode and
 *    sends exactly that path on the wire;
 *  - the query is given already encoded (the form sent on the wire); the
 *    signer sorts its parameters by name, then value, and gives a parameter
 *    without '=' an empty value ("uploads" -> "uploads=").
 * Header names are lower-cased, values trimmed with inner runs of spaces
 * collapsed, repeated names joined with ',', and the list sorted.
 */
#ifndef JCS_SIGV4_H
#define JCS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "err.h"

/* SHA-256 of the empty string: the payload hash of a request without body. */
#define JCS_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Payload hash value S3 accepts for a body the signer did not hash. */
#define JCS_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct jcs_sigv4_header {
    const char *name;  /* any case; borrowed */
    const char *value; /* borrowed */
};

struct jcs_sigv4_request {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* canonical URI, already percent-encoded once ("/bucket/a%20b") */
    const char *query;  /* encoded query without '?', any order; NULL or "" for none */
    /* Every header to sign; must contain host and x-amz-date. Borrowed. */
    const struct jcs_sigv4_header *headers;
    size_t nheaders;
    const char *payload_hash; /* lower-case hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
};

/* Credentials and scope. Borrowed; the secret is never copied into a detail line. */
struct jcs_sigv4_key {
    const char *access_key;
    const char *secret_key;
    const char *region;  /* "us-east-1" */
    const char *service; /* "s3" */
};

/*
 * Computes the Authorization header value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...") for req at amz_date ("YYYYMMDDTHHMMSSZ",
 * which must equal the x-amz-date header) and appends it to auth.
 * canonical and sts, when not NULL, receive the canonical request and the
 * string to sign (for tests and debugging). JCS_EINVAL for a malformed date,
 * header name or missing host/x-amz-date header; JCS_ENOMEM; JCS_ETOOBIG.
 */
int jcs_sigv4_sign(const struct jcs_sigv4_request *req, const struct jcs_sigv4_key *key,
                   const char *amz_date, jcs_buf *auth, jcs_buf *canonical,
                   jcs_buf *sts) JCS_MUST_USE;

/* Formats t as "YYYYMMDDTHHMMSSZ" (UTC) into out. */
void jcs_sigv4_amz_date(time_t t, char out[17]);

/*
 * Appends s[0..n) percent-encoded the SigV4 way (upper-case hex; unreserved
 * A-Z a-z 0-9 - . _ ~ kept; '/' kept when keep_slash) to out.
 */
int jcs_sigv4_uri_encode(jcs_buf *out, const char *s, size_t n, int keep_slash) JCS_MUST_USE;

/* Lower-case hex SHA-256 of p[0..n) into out (65 bytes with the NUL). */
void jcs_sigv4_sha256_hex(const void *p, size_t n, char out[65]);

/* The derived signing key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date8), region), service),
 * "aws4_request") into out. date8 is "YYYYMMDD". */
void jcs_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                           const char *service, unsigned char out[32]);

#endif
