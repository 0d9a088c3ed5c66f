/*
 * client/s3/s3meta.h - what S3 knows about an object beyond JCS's row: the
 * ETag, the headers stored with it (Content-Type, Content-Encoding,
 * Cache-Control, Content-Disposition, Content-Language, Expires,
 * x-amz-meta-*), the checksum given at upload; and the parts of open S3
 * multipart uploads. Tables s3Object and s3Part (created by meta.c's
 * schema steps), both keyed by objectID and deleted with the object.
 *
 * A row names the FileHash of the content it describes. JCS objects keep
 * their id when replaced (a REST upload to the same path), so a row whose
 * hash is not the object's current one is stale and callers ignore it
 * (jcs_s3meta_valid).
 */
#ifndef JCS_CLIENT_S3META_H
#define JCS_CLIENT_S3META_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "hash.h"
#include "meta.h"

typedef struct jcs_s3meta {
    int64_t object_id;
    char file_hash[JCS_HASH_SIZE]; /* "" for an open upload */
    char etag[81];                 /* without quotes */
    char *headers;                 /* owned JSON [[name, value], ...]; NULL reads as "[]" */
    char checksum_alg[17];         /* "crc32", ... or "" */
    char checksum[97];             /* base64 */
    char *upload_key;              /* owned; the S3 key of an open multipart upload, else NULL */
    char upload_token[33];
} jcs_s3meta;

void jcs_s3meta_clear(jcs_s3meta *m);

/* 1 when m describes o's current content. */
int jcs_s3meta_valid(const jcs_s3meta *m, const jcs_meta_object *o);

/* Writes (replaces) the row of m->object_id. JCS_ENOENT when the object is gone. */
int jcs_s3meta_put(jcs_db *db, const jcs_s3meta *m) JCS_MUST_USE;

/* The same row written on c, inside the caller's transaction (jcs_meta_upload_commit_then). */
int jcs_s3meta_put_in(jcs_db_conn *c, const jcs_s3meta *m) JCS_MUST_USE;

/* The row of object_id; JCS_ENOENT (no detail) when there is none. */
int jcs_s3meta_get(jcs_db *db, int64_t object_id, jcs_s3meta *out) JCS_MUST_USE;

/* Rows for n ids: out[i] (caller's array of n, zeroed here) stays zero where none. */
int jcs_s3meta_get_many(jcs_db *db, const int64_t *ids, size_t n, jcs_s3meta *out) JCS_MUST_USE;

/*
 * An S3 key's object and its S3 row, read by one statement (so the two
 * match unless the row is stale): a GET or HEAD costs one round trip
 * here instead of one per table.
 */
typedef struct jcs_s3meta_found {
    int64_t bucket_id;
    int64_t package_id;            /* 0: no such package */
    int64_t object_id;             /* 0: no such object */
    char file_hash[JCS_HASH_SIZE]; /* the object's; "" for an open upload */
    jcs_s3meta m;                  /* its S3 row; m.object_id 0 when none */
} jcs_s3meta_found;

/* JCS_ENOENT (no detail) when the bucket does not exist. Caller clears out->m. */
int jcs_s3meta_find(jcs_db *db, const char *bucket, const char *package, const char *path,
                    jcs_s3meta_found *out) JCS_MUST_USE;

/* ---- parts of open multipart uploads ---- */

typedef struct jcs_s3meta_part {
    int part_number;
    char etag[33];
    int64_t size;
    char file_hash[JCS_HASH_SIZE];
    char checksum_alg[17];
    char checksum[97];
    int64_t update_ms;
} jcs_s3meta_part;

typedef struct jcs_s3meta_parts {
    jcs_s3meta_part *v;
    size_t n;
} jcs_s3meta_parts;
void jcs_s3meta_parts_free(jcs_s3meta_parts *l);

/* Records (replaces) a part. */
int jcs_s3meta_part_put(jcs_db *db, int64_t object_id, const jcs_s3meta_part *p) JCS_MUST_USE;

/* The same on c, inside the caller's transaction (jcs_meta_multipart_add_part_then). */
int jcs_s3meta_part_put_in(jcs_db_conn *c, int64_t object_id,
                           const jcs_s3meta_part *p) JCS_MUST_USE;

/* Parts with number > after, ascending, at most max (0: all). */
int jcs_s3meta_parts_list(jcs_db *db, int64_t object_id, int after, size_t max,
                          jcs_s3meta_parts *out) JCS_MUST_USE;

/* ---- open uploads of a package ---- */

typedef struct jcs_s3meta_upload {
    int64_t object_id;
    char *key; /* owned */
    char token[33];
    int64_t create_ms;
} jcs_s3meta_upload;

typedef struct jcs_s3meta_uploads {
    jcs_s3meta_upload *v;
    size_t n;
} jcs_s3meta_uploads;
void jcs_s3meta_uploads_free(jcs_s3meta_uploads *l);

/*
 * Open uploads recorded in package_id whose key starts with prefix, in
 * (key, objectID) order, after (key_marker, id_marker), at most max.
 */
int jcs_s3meta_uploads_list(jcs_db *db, int64_t package_id, const char *prefix,
                            const char *key_marker, int64_t id_marker, size_t max,
                            jcs_s3meta_uploads *out) JCS_MUST_USE;

#endif
