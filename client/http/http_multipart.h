/*
 * http_multipart.h - a streaming multipart/form-data parser and URL
 * percent-decoding: what the server needs to read an upload form, as plain
 * functions over bytes (no libmicrohttpd), usable and testable alone.
 */
#ifndef JCS_HTTP_MULTIPART_H
#define JCS_HTTP_MULTIPART_H

#include <stddef.h>

#include "err.h"

#define JCS_HTTP_MAX_BOUNDARY    70    /* RFC 2046 */
#define JCS_HTTP_MAX_PART_HEADER 8192  /* the header block of one part */
#define JCS_HTTP_MAX_PREAMBLE    65536 /* bytes before the first / after the last boundary */

/* One part of a multipart/form-data body. Strings are borrowed for the part_begin call. */
typedef struct jcs_http_part {
    const char *name;         /* the form field name (required by the parser) */
    const char *filename;     /* as sent, quotes and backslash escapes removed; NULL if absent.
                                 Not URL-decoded: see jcs_http_url_decode */
    const char *content_type; /* NULL if absent */
    unsigned index;           /* 0-based position in the body */
} jcs_http_part;

/*
 * Percent-decodes in ("%2F" -> "/"; '+' stays '+') into out (outlen bytes,
 * NUL-terminated). JCS_EINVAL for a bad escape or a decoded NUL,
 * JCS_ETOOBIG when out is too small.
 */
int jcs_http_url_decode(const char *in, char *out, size_t outlen) JCS_MUST_USE;

/*
 * The streaming multipart/form-data parser the server uses, usable alone.
 * Feed it the body in pieces of any size; it calls part_begin, part_data
 * (possibly many times, never with 0 bytes) and part_end per part, in
 * order. A callback's non-zero return stops the parser and is returned
 * from feed. Malformed input is JCS_EINVAL with a detail starting
 * "multipart body: ".
 */
typedef struct jcs_http_multipart_ops {
    int (*part_begin)(void *arg, const jcs_http_part *part);
    int (*part_data)(void *arg, const void *p, size_t n);
    int (*part_end)(void *arg);
} jcs_http_multipart_ops;

typedef struct jcs_http_mp jcs_http_mp;

/*
 * The boundary of a "multipart/form-data; boundary=..." Content-Type
 * (quoted or not) into out (at least JCS_HTTP_MAX_BOUNDARY + 1 bytes).
 * JCS_EINVAL when the type is not multipart/form-data, has no boundary or
 * the boundary is empty, too long or has characters RFC 2046 forbids.
 */
int jcs_http_multipart_boundary(const char *content_type, char *out, size_t outlen) JCS_MUST_USE;

/* A parser for boundary (copied); ops and arg are borrowed. Caller frees with
 * jcs_http_multipart_free. */
int jcs_http_multipart_new(const char *boundary, unsigned max_parts,
                           const jcs_http_multipart_ops *ops, void *arg,
                           jcs_http_mp **out) JCS_MUST_USE;

/* The next n bytes of the body. After a non-zero return the parser refuses more input. */
int jcs_http_multipart_feed(jcs_http_mp *mp, const void *p, size_t n) JCS_MUST_USE;

/* The body ended: JCS_EINVAL "multipart body: truncated ..." unless the closing boundary was seen.
 */
int jcs_http_multipart_finish(jcs_http_mp *mp) JCS_MUST_USE;

void jcs_http_multipart_free(jcs_http_mp *mp);

#endif
