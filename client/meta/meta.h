/*
 * meta.h - the client's metadata (buckets, packages, objects, blocks, user
 * spaces, pins, access statistics) in MySQL/MariaDB: schema and data access.
 *
 * Only the jcs client calls it. Every function takes the pool (db.h), runs its
 * statements as prepared statements, and every mutation is exactly one
 * transaction (jcs_db_txn): it happens whole or not at all, and a lost
 * connection or a deadlock before the commit reruns it.
 *
 * Schema (jcs_meta_migrate; JCS names; InnoDB, utf8mb4):
 *   location(locationID PK, name)                      mirror of the coordinator's
 *   userspace(userSpaceID PK, name UNIQUE, storageType, storage JSON with
 *             secrets, locationID, hubID, state, createTime)
 *   bucket(bucketID PK, name UNIQUE, createTime)
 *   package(packageID PK, bucketID FK, name, redundancy JSON NULL, createTime,
 *           UNIQUE(bucketID, name))
 *   object(objectID PK, packageID FK, path VARBINARY(1024), size, fileHash,
 *          redundancy JSON, createTime, updateTime, UNIQUE(packageID, path))
 *   objectBlock(objectID FK, index, userSpaceID FK, fileHash, size,
 *               PK(objectID, index, userSpaceID), KEY(userSpaceID, fileHash))
 *   pinnedObject(objectID FK, userSpaceID FK, createTime, PK(both))
 *   objectAccessStat(objectID FK, userSpaceID FK, counter, amount, PK(both))
 *   packageAccessStat(packageID FK, userSpaceID FK, counter, amount, PK(both))
 * Deleting a bucket, package or object cascades (foreign keys) to its
 * packages, objects, blocks, pins and statistics; deleting a user space
 * cascades to pins and statistics but is refused while a block lives there.
 * Shards that no row references any more are left to ShardStoreGC.
 *
 * Choices worth knowing:
 * - Names are utf8mb4_nopad_bin: exact, case-sensitive, and "a" != "a "
 *   (utf8mb4_bin pads with spaces when comparing). Paths are VARBINARY(1024):
 *   the API caps a path at 1024 bytes, so the whole path fits in one index
 *   (utf8mb4 VARCHAR(1024) would need 4096 bytes, past InnoDB's 3072), the
 *   unique key is on the path itself, and listings walk that index in byte
 *   order (which is code point order for UTF-8). The DAL checks that names
 *   and paths are valid UTF-8 and not empty.
 * - Times are BIGINT milliseconds since the epoch; structs carry them as ms
 *   and as RFC 3339 text in UTC ("2026-11-22T10:00:00.123+00:00").
 * - Redundancy and storage are JSON text, checked to be well-formed JSON
 *   here; their meaning is checked by the API layer.
 * - Multipart uploads: the object row has redundancy {"type":
 *   "multipartUpload"}, size 0 and an empty fileHash; each part is an
 *   objectBlock row (index = part number). A part is stored as one shard,
 *   so its Full FileHash is its SHA-256: no extra column is needed to
 *   compute the Comp hash at completion. Completion keeps the named parts
 *   as blocks 0..n-1 and turns the object into {"type": "segment",
 *   "segments": [part sizes]} with fileHash Comp(part digests).
 * - Access statistics: counter is today's reads (fractions allowed, a range
 *   read may count as part of one); the daily aging sets
 *   amount = amount * w + counter * (1 - w) and counter = 0, w being
 *   tickTock.accessStatHistoryWeight ("weight of the previous days").
 * - Space usage counts distinct shards: two block rows with one FileHash on
 *   one space (a clone) are one file there.
 *
 * Errors: JCS_EINVAL (empty/invalid name or path, bad JSON, bad hash),
 * JCS_ENOENT ("bucket 7 not found"), JCS_EEXIST ("package \"p\" already
 * exists in bucket 3"), JCS_EBUSY (a user space still holds blocks; a
 * redundancy change lost its compare-and-swap), JCS_ETOOBIG (a result over
 * its cap), and the database's own (db.h).
 *
 * Ownership: every out struct is the caller's; strings in it are owned by
 * it and released by the matching _clear/_free function, which also resets
 * it (so calling it twice is harmless). Input structs and strings are only
 * read. On an error, outs are left empty.
 */
#ifndef JCS_META_H
#define JCS_META_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "hash.h"

#define JCS_META_TIME_SIZE 40     /* RFC 3339 text with its NUL (30 used) */
#define JCS_META_NAME_MAX  255    /* bytes of a bucket, package or space name */
#define JCS_META_PATH_MAX  1024   /* bytes of an object path */
#define JCS_META_MAX_KEYS  1000   /* default and most entries in one listing page */
#define JCS_META_BATCH_MAX 10000  /* most items in one batch call */
#define JCS_META_ROWS_MAX  100000 /* most rows one list call returns (JCS_ETOOBIG past it) */

/* The redundancy JSON of an open multipart upload. */
#define JCS_META_MULTIPART_REDUNDANCY "{\"type\":\"multipartUpload\"}"

/* Creates or updates the tables (each step safe to run again). */
int jcs_meta_migrate(jcs_db *db) JCS_MUST_USE;

/* ms since the epoch as RFC 3339 in UTC with milliseconds: "2026-11-22T10:00:00.123+00:00". */
void jcs_meta_time_format(int64_t ms, char out[JCS_META_TIME_SIZE]);

/*
 * Parses RFC 3339 ("2026-11-22T10:00:00Z", fractions and "+08:00" offsets
 * allowed) into ms since the epoch. JCS_EINVAL quoting s.
 */
int jcs_meta_time_parse(const char *s, int64_t *ms) JCS_MUST_USE;

/* A list of ids; caller frees with jcs_meta_ids_clear. */
typedef struct jcs_meta_ids {
    int64_t *v;
    size_t n;
} jcs_meta_ids;
void jcs_meta_ids_clear(jcs_meta_ids *l);

/* ---- locations (mirror of the coordinator's) ------------------------------------------------- */

typedef struct jcs_meta_location {
    int64_t location_id;
    char *name; /* owned */
} jcs_meta_location;

typedef struct jcs_meta_locations {
    jcs_meta_location *v;
    size_t n;
} jcs_meta_locations;
void jcs_meta_locations_clear(jcs_meta_locations *l);

/* Inserts or renames location id. */
int jcs_meta_location_upsert(jcs_db *db, int64_t id, const char *name) JCS_MUST_USE;
/* All locations by id. */
int jcs_meta_location_list(jcs_db *db, jcs_meta_locations *out) JCS_MUST_USE;

/* ---- buckets --------------------------------------------------------------------------------- */

typedef struct jcs_meta_bucket {
    int64_t bucket_id;
    char *name; /* owned */
    int64_t create_ms;
    char create_time[JCS_META_TIME_SIZE];
} jcs_meta_bucket;
void jcs_meta_bucket_clear(jcs_meta_bucket *b);

typedef struct jcs_meta_buckets {
    jcs_meta_bucket *v;
    size_t n;
} jcs_meta_buckets;
void jcs_meta_buckets_clear(jcs_meta_buckets *l);

/* New bucket; out may be NULL. JCS_EEXIST when the name is taken. */
int jcs_meta_bucket_create(jcs_db *db, const char *name, jcs_meta_bucket *out) JCS_MUST_USE;
int jcs_meta_bucket_get(jcs_db *db, int64_t bucket_id, jcs_meta_bucket *out) JCS_MUST_USE;
int jcs_meta_bucket_get_by_name(jcs_db *db, const char *name, jcs_meta_bucket *out) JCS_MUST_USE;
/* All buckets by id. */
int jcs_meta_bucket_list(jcs_db *db, jcs_meta_buckets *out) JCS_MUST_USE;
/* Deletes the bucket with its packages and objects. */
int jcs_meta_bucket_delete(jcs_db *db, int64_t bucket_id) JCS_MUST_USE;

/* ---- packages -------------------------------------------------------------------------------- */

typedef struct jcs_meta_package {
    int64_t package_id;
    int64_t bucket_id;
    char *name;       /* owned */
    char *redundancy; /* owned JSON: default for new objects; NULL when none was set */
    int64_t create_ms;
    char create_time[JCS_META_TIME_SIZE];
} jcs_meta_package;
void jcs_meta_package_clear(jcs_meta_package *p);

typedef struct jcs_meta_packages {
    jcs_meta_package *v;
    size_t n;
} jcs_meta_packages;
void jcs_meta_packages_clear(jcs_meta_packages *l);

/* New package; redundancy may be NULL; out may be NULL. JCS_ENOENT (bucket), JCS_EEXIST. */
int jcs_meta_package_create(jcs_db *db, int64_t bucket_id, const char *name, const char *redundancy,
                            jcs_meta_package *out) JCS_MUST_USE;
int jcs_meta_package_get(jcs_db *db, int64_t package_id, jcs_meta_package *out) JCS_MUST_USE;
/*
 * Packages remembered by id for the upload path, which read the package row once per request
 * (one of its seven statements). A package row never changes once created (nothing updates
 * it, and MariaDB never hands out an id twice), so a remembered row is the row; only a
 * deletion is not seen here, and the upload's commit then finds the package gone (JCS_ENOENT,
 * as it does for a package deleted during an upload). Thread-safe; at most
 * JCS_META_PKG_CACHE_MAX rows, the oldest replaced first.
 */
#define JCS_META_PKG_CACHE_MAX 64
typedef struct jcs_meta_pkg_cache jcs_meta_pkg_cache;
int jcs_meta_pkg_cache_new(jcs_meta_pkg_cache **out) JCS_MUST_USE;
void jcs_meta_pkg_cache_free(jcs_meta_pkg_cache *c);
/* As jcs_meta_package_get, from the cache when it holds the id (cache NULL: always read). */
int jcs_meta_package_get_cached(jcs_meta_pkg_cache *cache, jcs_db *db, int64_t package_id,
                                jcs_meta_package *out) JCS_MUST_USE;
/* JCS_ENOENT names the bucket when it is the bucket that is missing. */
int jcs_meta_package_get_by_full_name(jcs_db *db, const char *bucket_name, const char *package_name,
                                      jcs_meta_package *out) JCS_MUST_USE;
/* Packages of a bucket by id; JCS_ENOENT when the bucket does not exist. */
int jcs_meta_package_list(jcs_db *db, int64_t bucket_id, jcs_meta_packages *out) JCS_MUST_USE;
/* Deletes the package and its objects. */
int jcs_meta_package_delete(jcs_db *db, int64_t package_id) JCS_MUST_USE;
/*
 * Metadata copy: a new package `name` in bucket_id (same default
 * redundancy) holding a copy of every object row (new ids, create/update
 * time now) and of their block rows, so the copies share the shards. Open
 * multipart uploads are not copied. out may be NULL.
 */
int jcs_meta_package_clone(jcs_db *db, int64_t package_id, int64_t bucket_id, const char *name,
                           jcs_meta_package *out) JCS_MUST_USE;

/* Where a package's data lies (getCachedStorages). */
typedef struct jcs_meta_space_share {
    int64_t space_id;
    int64_t file_size;    /* bytes of the package's blocks on the space */
    int64_t object_count; /* objects with at least one block there */
} jcs_meta_space_share;

typedef struct jcs_meta_space_shares {
    jcs_meta_space_share *v;
    size_t n;
    int64_t package_size; /* sum of the objects' sizes */
} jcs_meta_space_shares;
void jcs_meta_space_shares_clear(jcs_meta_space_shares *l);

int jcs_meta_package_spaces(jcs_db *db, int64_t package_id,
                            jcs_meta_space_shares *out) JCS_MUST_USE;

/* ---- objects --------------------------------------------------------------------------------- */

typedef struct jcs_meta_object {
    int64_t object_id; /* 0 in a list slot that stands for "no such object" */
    int64_t package_id;
    char *path; /* owned */
    int64_t size;
    char file_hash[JCS_HASH_SIZE]; /* "" while a multipart upload is open */
    char *redundancy;              /* owned JSON */
    int64_t create_ms, update_ms;
    char create_time[JCS_META_TIME_SIZE];
    char update_time[JCS_META_TIME_SIZE];
} jcs_meta_object;
void jcs_meta_object_clear(jcs_meta_object *o);

typedef struct jcs_meta_objects {
    jcs_meta_object *v;
    size_t n;
} jcs_meta_objects;
void jcs_meta_objects_clear(jcs_meta_objects *l);

/* One stored piece of an object (a replica, an EC block, a segment, a part). */
typedef struct jcs_meta_block {
    int index;
    int64_t space_id;
    char file_hash[JCS_HASH_SIZE];
    int64_t size;
} jcs_meta_block;

/* An object with its blocks (by index, then space) and the spaces it is pinned on. */
typedef struct jcs_meta_detail {
    jcs_meta_object object;
    jcs_meta_block *blocks; /* owned */
    size_t nblocks;
    int64_t *pinned; /* owned, ascending */
    size_t npinned;
} jcs_meta_detail;
void jcs_meta_detail_clear(jcs_meta_detail *d);

typedef struct jcs_meta_details {
    jcs_meta_detail *v;
    size_t n;
} jcs_meta_details;
void jcs_meta_details_clear(jcs_meta_details *l);

int jcs_meta_object_get(jcs_db *db, int64_t object_id, jcs_meta_object *out) JCS_MUST_USE;
int jcs_meta_object_get_by_path(jcs_db *db, int64_t package_id, const char *path,
                                jcs_meta_object *out) JCS_MUST_USE;
/* One slot per id, in order; a missing object leaves its slot zeroed (object_id 0). */
int jcs_meta_object_list_by_ids(jcs_db *db, const int64_t *ids, size_t n,
                                jcs_meta_objects *out) JCS_MUST_USE;
/* Every object of a package by path; JCS_ENOENT for an unknown package. */
int jcs_meta_package_objects(jcs_db *db, int64_t package_id, jcs_meta_objects *out) JCS_MUST_USE;
int jcs_meta_object_detail(jcs_db *db, int64_t object_id, jcs_meta_detail *out) JCS_MUST_USE;
/* The object and its blocks without its pins (npins 0): one statement, what a download needs. */
int jcs_meta_object_blocks(jcs_db *db, int64_t object_id, jcs_meta_detail *out) JCS_MUST_USE;

/*
 * listByPath. Not is_prefix: the object at exactly `path` (none is not an
 * error). is_prefix: objects whose path starts with `path` ("" lists the
 * package), in byte order; with no_recursive, paths that continue past the
 * prefix with a further '/' are folded into commonPrefixes ("a/b/" for
 * "a/b/c" under "a/"), S3's delimiter listing. Objects and prefixes
 * together are at most max_keys (0 means JCS_META_MAX_KEYS, more is
 * capped) per page; when more follow, next_token is set and passing it as
 * continuation_token returns the next page. Tokens are opaque (hex);
 * a malformed one is JCS_EINVAL.
 */
typedef struct jcs_meta_list_query {
    int64_t package_id;
    const char *path;
    int is_prefix;
    int no_recursive;
    int max_keys;
    const char *continuation_token; /* NULL or "" for the first page */
} jcs_meta_list_query;

typedef struct jcs_meta_listing {
    jcs_meta_objects objects;
    char **prefixes; /* owned */
    size_t nprefixes;
    char *next_token; /* owned; NULL on the last page */
} jcs_meta_listing;
void jcs_meta_listing_clear(jcs_meta_listing *l);

int jcs_meta_object_list_by_path(jcs_db *db, const jcs_meta_list_query *q,
                                 jcs_meta_listing *out) JCS_MUST_USE;

/*
 * A continuation token that starts a prefix listing after path (paths
 * greater than it), or, with skip_prefix, after every path that starts
 * with path: what a caller with its own cursor (the S3 gateway's markers)
 * passes as continuation_token. NULL when out of memory; caller frees.
 */
char *jcs_meta_list_token(int skip_prefix, const char *path);

/* One object of an upload batch (strings and blocks borrowed). */
typedef struct jcs_meta_upload {
    const char *path;
    int64_t size;
    const char *file_hash;  /* the object's FileHash */
    const char *redundancy; /* JSON */
    const jcs_meta_block *blocks;
    size_t nblocks;
} jcs_meta_upload;

/*
 * Commits an upload batch in one transaction. A path that exists is
 * replaced in place: same objectID and createTime; new size, hash,
 * redundancy, updateTime; its blocks and pins replaced by the new blocks.
 * A path twice in the batch is JCS_EEXIST; an unknown package or space is
 * JCS_ENOENT; either way nothing is committed. out (may be NULL) receives
 * the objects in item order.
 */
int jcs_meta_upload_commit(jcs_db *db, int64_t package_id, const jcs_meta_upload *items, size_t n,
                           jcs_meta_objects *out) JCS_MUST_USE;

/*
 * More statements of the same transaction, run after the objects are written, with them
 * (out of the commit; NULL when the caller gave none). It may run more than once (db.h
 * retries): it must only touch the database. An error rolls the whole upload back.
 */
typedef int (*jcs_meta_upload_then_fn)(jcs_db_conn *c, const jcs_meta_objects *objs, void *arg);

/* jcs_meta_upload_commit, then then(c, out, then_arg) before the one COMMIT (then may be NULL).
 * The S3 attributes of the objects are written this way: one commit (one log flush) per
 * upload, not two. */
int jcs_meta_upload_commit_then(jcs_db *db, int64_t package_id, const jcs_meta_upload *items,
                                size_t n, jcs_meta_objects *out, jcs_meta_upload_then_fn then,
                                void *then_arg) JCS_MUST_USE;

typedef struct jcs_meta_moving {
    int64_t object_id;
    int64_t package_id; /* destination */
    const char *path;   /* destination */
} jcs_meta_moving;

/*
 * Moves objects (paths may be swapped within one call). Unknown objects
 * are skipped; the moved ones (also those already in place) go to
 * successes (may be NULL). A destination held by an object that is not
 * moved away in the same call, or named twice, is JCS_EEXIST naming the
 * path; an unknown destination package JCS_ENOENT; nothing moves then.
 */
int jcs_meta_object_move(jcs_db *db, const jcs_meta_moving *m, size_t n,
                         jcs_meta_ids *successes) JCS_MUST_USE;

/* The same three fields as a moving: the object, the destination package and path. */
typedef jcs_meta_moving jcs_meta_cloning;

/*
 * Copies object rows and their block rows (shared shards) to new paths.
 * out (may be NULL) gets one slot per cloning: the new object, or zeroed
 * when the source does not exist. An occupied destination is JCS_EEXIST,
 * an open multipart upload as source JCS_EINVAL; nothing is copied then.
 */
int jcs_meta_object_clone(jcs_db *db, const jcs_meta_cloning *c, size_t n,
                          jcs_meta_objects *out) JCS_MUST_USE;

/* Deletes objects by id; unknown ids are ignored. */
int jcs_meta_object_delete(jcs_db *db, const int64_t *ids, size_t n) JCS_MUST_USE;
/* Deletes the object at path; JCS_ENOENT when there is none. */
int jcs_meta_object_delete_by_path(jcs_db *db, int64_t package_id, const char *path) JCS_MUST_USE;

typedef struct jcs_meta_updating {
    int64_t object_id;
    int64_t update_ms;
} jcs_meta_updating;

/* Sets updateTime; unknown objects are skipped, the others go to successes (may be NULL). */
int jcs_meta_object_update_info(jcs_db *db, const jcs_meta_updating *u, size_t n,
                                jcs_meta_ids *successes) JCS_MUST_USE;

/*
 * Replaces an object's blocks and redundancy, only if its fileHash is
 * still from_hash (the content the new blocks were made from); otherwise
 * JCS_EBUSY and nothing changes, so a concurrent re-upload is never
 * clobbered. size and updateTime stay. out may be NULL.
 */
int jcs_meta_object_change_redundancy(jcs_db *db, int64_t object_id, const char *from_hash,
                                      const char *redundancy, const jcs_meta_block *blocks,
                                      size_t nblocks, jcs_meta_object *out) JCS_MUST_USE;

/* Records / forgets a full copy of an object kept on a space (both are idempotent). */
int jcs_meta_object_pin(jcs_db *db, int64_t object_id, int64_t space_id) JCS_MUST_USE;
int jcs_meta_object_unpin(jcs_db *db, int64_t object_id, int64_t space_id) JCS_MUST_USE;

/* ---- multipart uploads ----------------------------------------------------------------------- */

/* A new object at path in state multipartUpload. JCS_EEXIST when the path is taken. */
int jcs_meta_multipart_new(jcs_db *db, int64_t package_id, const char *path,
                           jcs_meta_object *out) JCS_MUST_USE;
/*
 * Records part `part->index` (>= 0) stored as one shard with a Full
 * FileHash; uploading an index again replaces it. JCS_EINVAL when the
 * object is not an open multipart upload.
 */
int jcs_meta_multipart_add_part(jcs_db *db, int64_t object_id,
                                const jcs_meta_block *part) JCS_MUST_USE;
/* The same, then then(c, then_arg) before the one COMMIT (it may run again, db.h): the S3
 * gateway records the part's ETag with it, one commit per part. */
int jcs_meta_multipart_add_part_then(jcs_db *db, int64_t object_id, const jcs_meta_block *part,
                                     jcs_db_txn_fn then, void *then_arg) JCS_MUST_USE;
/*
 * Completes the upload with the given parts in the given order: size =
 * their sum, fileHash = Comp over their SHA-256s, redundancy segment,
 * blocks 0..n-1; parts not named are dropped. A part that was not uploaded
 * or is named twice is JCS_EINVAL. out may be NULL.
 */
int jcs_meta_multipart_complete(jcs_db *db, int64_t object_id, const int *indexes, size_t n,
                                jcs_meta_object *out) JCS_MUST_USE;
/* Deletes an open multipart upload (its parts become garbage). */
int jcs_meta_multipart_abort(jcs_db *db, int64_t object_id) JCS_MUST_USE;

/* ---- user spaces ----------------------------------------------------------------------------- */

typedef struct jcs_meta_space {
    int64_t space_id;
    char *name;         /* owned */
    char *storage_type; /* owned: the storage's "type" ("local", "s3") */
    char *storage;      /* owned JSON; secrets removed unless read with a _private call */
    int64_t location_id;
    int64_t hub_id; /* the storage's "hubID" (local), else 0 */
    char *state;    /* owned: "normal" unless set otherwise */
    int64_t create_ms;
    char create_time[JCS_META_TIME_SIZE];
    int64_t used_bytes;  /* bytes of the distinct shards the metadata places there */
    int64_t block_count; /* number of those shards */
} jcs_meta_space;
void jcs_meta_space_clear(jcs_meta_space *s);

typedef struct jcs_meta_spaces {
    jcs_meta_space *v;
    size_t n;
} jcs_meta_spaces;
void jcs_meta_spaces_clear(jcs_meta_spaces *l);

/*
 * New user space. storage is a JSON object with a string "type" (and
 * "hubID" for local spaces), stored whole, secrets included. out (may be
 * NULL) is the public view. JCS_EEXIST when the name is taken.
 */
int jcs_meta_space_create(jcs_db *db, const char *name, const char *storage, int64_t location_id,
                          jcs_meta_space *out) JCS_MUST_USE;
/*
 * Public views, with usage: storage without the fields whose names contain
 * "secret", "password" or "token" (any case).
 */
int jcs_meta_space_get(jcs_db *db, int64_t space_id, jcs_meta_space *out) JCS_MUST_USE;
int jcs_meta_space_list(jcs_db *db, jcs_meta_spaces *out) JCS_MUST_USE;
/*
 * The same with the storage JSON as stored (credentials included): for building plans only.
 * The list has no usage (used_bytes and block_count are -1): counting it reads every block
 * row, and placement's cache reads this list every few seconds.
 */
int jcs_meta_space_get_private(jcs_db *db, int64_t space_id, jcs_meta_space *out) JCS_MUST_USE;
int jcs_meta_space_list_private(jcs_db *db, jcs_meta_spaces *out) JCS_MUST_USE;
int jcs_meta_space_set_state(jcs_db *db, int64_t space_id, const char *state) JCS_MUST_USE;
/* Replaces a space's storage JSON (same type; for sealing its secrets, seal.h). */
int jcs_meta_space_set_storage(jcs_db *db, int64_t space_id, const char *storage) JCS_MUST_USE;
/* JCS_EBUSY (with the block count) while any block lives on the space. */
int jcs_meta_space_delete(jcs_db *db, int64_t space_id) JCS_MUST_USE;

/* ---- access statistics ----------------------------------------------------------------------- */

typedef struct jcs_meta_access {
    int64_t object_id;
    int64_t space_id; /* the space the bytes were read from */
    double count;     /* > 0; 1 for a whole read */
} jcs_meta_access;

/*
 * Adds count to today's counter of (object, space) and of (the object's
 * package, space). Entries naming objects or spaces deleted meanwhile are
 * skipped.
 */
int jcs_meta_access_add(jcs_db *db, const jcs_meta_access *a, size_t n) JCS_MUST_USE;
/* Daily aging: amount = amount * weight + counter * (1 - weight), counter = 0; weight in [0, 1]. */
int jcs_meta_access_age(jcs_db *db, double weight) JCS_MUST_USE;

typedef struct jcs_meta_stat {
    int64_t space_id;
    double counter, amount;
} jcs_meta_stat;

typedef struct jcs_meta_stats {
    jcs_meta_stat *v;
    size_t n;
} jcs_meta_stats;
void jcs_meta_stats_clear(jcs_meta_stats *l);

/* Statistics by space (none for an unknown object or package). */
int jcs_meta_object_stats(jcs_db *db, int64_t object_id, jcs_meta_stats *out) JCS_MUST_USE;
int jcs_meta_package_stats(jcs_db *db, int64_t package_id, jcs_meta_stats *out) JCS_MUST_USE;

/* ---- for the background jobs ----------------------------------------------------------------- */

typedef struct jcs_meta_hashes {
    char (*v)[JCS_HASH_SIZE];
    size_t n;
} jcs_meta_hashes;
void jcs_meta_hashes_clear(jcs_meta_hashes *l);

/*
 * The distinct FileHashes referenced on a space, ascending, after `after`
 * (NULL or "" from the start), at most limit (1..JCS_META_ROWS_MAX). Fewer
 * than limit means the end. JCS_ENOENT for an unknown space, so a typo
 * never looks like an empty space to GC.
 */
int jcs_meta_space_hashes(jcs_db *db, int64_t space_id, const char *after, size_t limit,
                          jcs_meta_hashes *out) JCS_MUST_USE;

/*
 * The distinct FileHashes of the objects pinned on a space (a pinned full
 * copy is stored under the object's FileHash), ascending, at most
 * JCS_META_ROWS_MAX (JCS_ETOOBIG past it). ShardStoreGC spares them.
 * JCS_ENOENT for an unknown space.
 */
int jcs_meta_space_pinned_hashes(jcs_db *db, int64_t space_id, jcs_meta_hashes *out) JCS_MUST_USE;

/*
 * Objects with their blocks and pins by ascending id, after after_id, at
 * most limit (1..JCS_META_ROWS_MAX); space_id > 0 keeps only objects with
 * a block on that space. One consistent snapshot per page.
 */
int jcs_meta_objects_page(jcs_db *db, int64_t space_id, int64_t after_id, size_t limit,
                          jcs_meta_details *out) JCS_MUST_USE;

#endif
