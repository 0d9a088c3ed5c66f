/*
 * test_meta.c - client/meta/meta.c (the client's metadata) against a real MariaDB.
 *
 * The first test starts a private server (deploy/local/mariadb) with one
 * database and migrates it; the last stops it. Every test works in buckets
 * and user spaces of its own names, so tests depend on the server, not on
 * each other.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "db.h"
#include "err.h"
#include "hash.h"
#include "meta.h"
#include "t.h"
#include "t_dbfix.h"

#define DB_USER "jcs_meta"
#define DB_PW   "meta-pw"

#define RED_NONE "{\"type\":\"none\"}"
#define RED_REP  "{\"type\":\"rep\",\"repCount\":2}"
#define RED_EC   "{\"type\":\"ec\",\"k\":2,\"n\":3,\"chunkSize\":5242880}"

static t_dbfix fix = {.database = "jcs_meta",
                      .user = DB_USER,
                      .password = DB_PW,
                      .pool_size = 4,
                      .prepare = jcs_meta_migrate};
static jcs_db *db; /* fix.db, once a test asked for it */

#define NEED_DB() T_NEED_DB(&fix, db)

/* Asserts rc == code and that the detail mentions `needle`. */
#define T_ERR(expr, code, needle)                                                                  \
    do {                                                                                           \
        int _rc = (expr);                                                                          \
        const char *_m = jcs_err_msg(_rc);                                                         \
        if (_rc != (code) || !strstr(_m, (needle))) {                                              \
            t_fail(__FILE__, __LINE__,                                                             \
                   "%s returned %d (%s): \"%s\"; expected %s mentioning \"%s\"", #expr, _rc,       \
                   jcs_err_name(_rc), _m, jcs_err_name(code), (needle));                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---- helpers --------------------------------------------------------------------------------- */

static void hash_of(const char *content, char out[JCS_HASH_SIZE])
{
    if (jcs_hash_buf(content, strlen(content), out) != 0)
        out[0] = '\0';
}

static jcs_meta_block blk(int index, int64_t space, const char *content)
{
    jcs_meta_block b = {.index = index, .space_id = space, .size = (int64_t)strlen(content)};
    hash_of(content, b.file_hash);
    return b;
}

/* A local user space; its id, or -1 (reason in the error detail). */
static int64_t mk_space(const char *name)
{
    char storage[256];
    snprintf(storage, sizeof(storage), "{\"type\":\"local\",\"hubID\":1,\"root\":\"/srv/%s\"}",
             name);
    jcs_meta_space s;
    if (jcs_meta_space_create(db, name, storage, 1, &s) != 0)
        return -1;
    int64_t id = s.space_id;
    jcs_meta_space_clear(&s);
    return id;
}

/* A new bucket with one package; the package id, or -1. */
static int64_t mk_package(const char *bucket, const char *package, int64_t *bucket_id)
{
    jcs_meta_bucket b;
    if (jcs_meta_bucket_create(db, bucket, &b) != 0)
        return -1;
    if (bucket_id)
        *bucket_id = b.bucket_id;
    jcs_meta_package p;
    int rc = jcs_meta_package_create(db, b.bucket_id, package, NULL, &p);
    jcs_meta_bucket_clear(&b);
    if (rc)
        return -1;
    int64_t id = p.package_id;
    jcs_meta_package_clear(&p);
    return id;
}

/* Uploads one object whose content is `content`, one replica on space; *id gets its id. */
static int put(int64_t pkg, const char *path, const char *content, int64_t space, int64_t *id)
{
    char h[JCS_HASH_SIZE];
    hash_of(content, h);
    jcs_meta_block b = blk(0, space, content);
    jcs_meta_upload u = {.path = path,
                         .size = (int64_t)strlen(content),
                         .file_hash = h,
                         .redundancy = RED_NONE,
                         .blocks = &b,
                         .nblocks = 1};
    jcs_meta_objects out;
    int rc = jcs_meta_upload_commit(db, pkg, &u, 1, &out);
    if (rc == 0 && id)
        *id = out.v[0].object_id;
    jcs_meta_objects_clear(&out);
    return rc;
}

/* Whether an object exists at path. */
static int at(int64_t pkg, const char *path)
{
    jcs_meta_object o;
    int rc = jcs_meta_object_get_by_path(db, pkg, path, &o);
    jcs_meta_object_clear(&o);
    return rc == 0;
}

static int64_t space_used(int64_t space, int64_t *blocks)
{
    jcs_meta_space s;
    if (jcs_meta_space_get(db, space, &s) != 0)
        return -1;
    int64_t used = s.used_bytes;
    if (blocks)
        *blocks = s.block_count;
    jcs_meta_space_clear(&s);
    return used;
}

/* ---- schema, times ----------------------------------------------------------------------------*/

TEST(migrate_is_rerunnable_and_reports_its_version)
{
    NEED_DB();
    int v = -1;
    T_OK(jcs_meta_migrate(db));
    T_OK(jcs_db_schema_version(db, &v));
    /* 1: the tables of JCS; 2: the S3 gateway's (client/s3/s3meta.h); 3: healQueue. */
    T_EQ_INT(v, 3);
    /* A second process starting on the same database changes nothing. */
    jcs_db *other;
    jcs_db_config cfg = t_dbfix_config(&fix);
    T_OK(jcs_db_open(&cfg, &other));
    int rc = jcs_meta_migrate(other);
    jcs_db_close(other);
    T_OK(rc);
}

TEST(times_are_rfc3339_with_offset_both_ways)
{
    char t[JCS_META_TIME_SIZE];
    jcs_meta_time_format(0, t);
    T_EQ_STR(t, "1970-01-01T00:00:00.000+00:00");
    jcs_meta_time_format(1795341600123LL, t);
    T_EQ_STR(t, "2026-11-22T10:00:00.123+00:00");
    int64_t ms = 0;
    T_OK(jcs_meta_time_parse("2026-11-22T10:00:00.123+00:00", &ms));
    T_EQ_INT(ms, 1795341600123LL);
    T_OK(jcs_meta_time_parse("2026-11-22T18:00:00.123+08:00", &ms));
    T_EQ_INT(ms, 1795341600123LL);
    T_OK(jcs_meta_time_parse("2026-11-22T10:00:00Z", &ms));
    T_EQ_INT(ms, 1795341600000LL);
    T_OK(jcs_meta_time_parse("2026-11-22T09:30:00.5-00:30", &ms));
    T_EQ_INT(ms, 1795341600500LL);
    T_ERR(jcs_meta_time_parse("2026-11-22 10:00", &ms), JCS_EINVAL, "2026-11-22 10:00");
    T_ERR(jcs_meta_time_parse("2026-13-22T10:00:00Z", &ms), JCS_EINVAL, "RFC 3339");
    T_ERR(jcs_meta_time_parse("2026-11-22T10:00:00", &ms), JCS_EINVAL, "RFC 3339");
}

/* ---- buckets --------------------------------------------------------------------------------- */

TEST(buckets_create_get_list_delete)
{
    NEED_DB();
    jcs_meta_bucket b, g;
    T_OK(jcs_meta_bucket_create(db, "bk-one", &b));
    T_ASSERT(b.bucket_id > 0);
    T_EQ_STR(b.name, "bk-one");
    T_ASSERT(strlen(b.create_time) == 29 && strstr(b.create_time, "+00:00"), "%s", b.create_time);
    T_OK(jcs_meta_bucket_get(db, b.bucket_id, &g));
    T_EQ_STR(g.name, "bk-one");
    T_EQ_INT(g.create_ms, b.create_ms);
    T_EQ_STR(g.create_time, b.create_time);
    jcs_meta_bucket_clear(&g);
    T_OK(jcs_meta_bucket_get_by_name(db, "bk-one", &g));
    T_EQ_INT(g.bucket_id, b.bucket_id);
    jcs_meta_bucket_clear(&g);

    /* Names are exact: case and trailing spaces make other names. */
    jcs_meta_bucket b2, b3;
    T_OK(jcs_meta_bucket_create(db, "BK-one", &b2));
    T_OK(jcs_meta_bucket_create(db, "bk-one ", &b3));
    T_ASSERT(b2.bucket_id != b.bucket_id && b3.bucket_id != b.bucket_id);
    T_OK(jcs_meta_bucket_get_by_name(db, "bk-one ", &g));
    T_EQ_INT(g.bucket_id, b3.bucket_id);
    jcs_meta_bucket_clear(&g);

    T_ERR(jcs_meta_bucket_create(db, "bk-one", NULL), JCS_EEXIST, "bucket \"bk-one\" already");
    T_ERR(jcs_meta_bucket_create(db, "", NULL), JCS_EINVAL, "empty");
    T_ERR(jcs_meta_bucket_create(db, "bad\xff", NULL), JCS_EINVAL, "UTF-8");
    T_ERR(jcs_meta_bucket_get(db, 987654, &g), JCS_ENOENT, "bucket 987654 not found");
    T_ERR(jcs_meta_bucket_get_by_name(db, "bk-none", &g), JCS_ENOENT, "bucket \"bk-none\"");

    jcs_meta_buckets l;
    T_OK(jcs_meta_bucket_list(db, &l));
    int seen = 0;
    for (size_t i = 0; i < l.n; i++)
        seen += l.v[i].bucket_id == b.bucket_id || l.v[i].bucket_id == b2.bucket_id ||
                l.v[i].bucket_id == b3.bucket_id;
    int sorted = 1;
    for (size_t i = 1; i < l.n; i++)
        sorted &= l.v[i - 1].bucket_id < l.v[i].bucket_id;
    jcs_meta_buckets_clear(&l);
    T_EQ_INT(seen, 3);
    T_ASSERT(sorted);

    T_OK(jcs_meta_bucket_delete(db, b2.bucket_id));
    T_ERR(jcs_meta_bucket_get(db, b2.bucket_id, &g), JCS_ENOENT, "not found");
    T_ERR(jcs_meta_bucket_delete(db, b2.bucket_id), JCS_ENOENT, "not found");
    jcs_meta_bucket_clear(&b);
    jcs_meta_bucket_clear(&b2);
    jcs_meta_bucket_clear(&b3);
}

/* ---- packages -------------------------------------------------------------------------------- */

TEST(packages_create_get_list_delete_and_their_errors)
{
    NEED_DB();
    jcs_meta_bucket b;
    T_OK(jcs_meta_bucket_create(db, "pk-bucket", &b));
    jcs_meta_package p, q, g;
    T_OK(jcs_meta_package_create(db, b.bucket_id, "p", RED_EC, &p));
    T_EQ_STR(p.name, "p");
    T_EQ_INT(p.bucket_id, b.bucket_id);
    T_EQ_STR(p.redundancy, RED_EC);
    T_OK(jcs_meta_package_create(db, b.bucket_id, "q", NULL, &q));
    T_ASSERT(q.redundancy == NULL);

    char want[128];
    snprintf(want, sizeof(want), "package \"p\" already exists in bucket %lld",
             (long long)b.bucket_id);
    T_ERR(jcs_meta_package_create(db, b.bucket_id, "p", NULL, NULL), JCS_EEXIST, want);
    T_ERR(jcs_meta_package_create(db, 876543, "p", NULL, NULL), JCS_ENOENT,
          "bucket 876543 not found");
    T_ERR(jcs_meta_package_create(db, b.bucket_id, "", NULL, NULL), JCS_EINVAL, "empty");
    T_ERR(jcs_meta_package_create(db, b.bucket_id, "r", "{\"type\":", NULL), JCS_EINVAL,
          "invalid JSON");
    T_ERR(jcs_meta_package_create(db, b.bucket_id, "r", "[1]", NULL), JCS_EINVAL, "\"type\"");

    T_OK(jcs_meta_package_get(db, p.package_id, &g));
    T_EQ_STR(g.name, "p");
    T_EQ_STR(g.create_time, p.create_time);
    jcs_meta_package_clear(&g);
    T_OK(jcs_meta_package_get_by_full_name(db, "pk-bucket", "q", &g));
    T_EQ_INT(g.package_id, q.package_id);
    jcs_meta_package_clear(&g);
    T_ERR(jcs_meta_package_get_by_full_name(db, "pk-none", "q", &g), JCS_ENOENT,
          "bucket \"pk-none\" not found");
    T_ERR(jcs_meta_package_get_by_full_name(db, "pk-bucket", "zz", &g), JCS_ENOENT,
          "package \"zz\" not found in bucket \"pk-bucket\"");
    T_ERR(jcs_meta_package_get(db, 765432, &g), JCS_ENOENT, "package 765432 not found");

    jcs_meta_packages l;
    T_OK(jcs_meta_package_list(db, b.bucket_id, &l));
    int ok = l.n == 2 && l.v[0].package_id == p.package_id && l.v[1].package_id == q.package_id;
    jcs_meta_packages_clear(&l);
    T_ASSERT(ok);
    T_ERR(jcs_meta_package_list(db, 765432, &l), JCS_ENOENT, "bucket 765432");

    T_OK(jcs_meta_package_delete(db, q.package_id));
    T_ERR(jcs_meta_package_get(db, q.package_id, &g), JCS_ENOENT, "not found");
    T_ERR(jcs_meta_package_delete(db, q.package_id), JCS_ENOENT, "not found");
    /* The name is free again. */
    T_OK(jcs_meta_package_create(db, b.bucket_id, "q", NULL, NULL));
    jcs_meta_package_clear(&p);
    jcs_meta_package_clear(&q);
    jcs_meta_bucket_clear(&b);
}

TEST(deleting_a_bucket_deletes_its_packages_objects_blocks_and_stats)
{
    NEED_DB();
    int64_t sp = mk_space("cas-space"), bucket = 0;
    int64_t pkg = mk_package("cas-bucket", "p", &bucket);
    T_ASSERT(sp > 0 && pkg > 0, "%s", jcs_err_msg(-1));
    int64_t o1, o2;
    T_OK(put(pkg, "a/1", "first", sp, &o1));
    T_OK(put(pkg, "a/2", "second", sp, &o2));
    T_OK(jcs_meta_object_pin(db, o1, sp));
    jcs_meta_access acc = {o1, sp, 1};
    T_OK(jcs_meta_access_add(db, &acc, 1));
    T_EQ_INT(space_used(sp, NULL), 11);
    T_ERR(jcs_meta_space_delete(db, sp), JCS_EBUSY, "2 blocks");

    T_OK(jcs_meta_bucket_delete(db, bucket));
    jcs_meta_object o;
    jcs_meta_package p;
    T_ERR(jcs_meta_object_get(db, o1, &o), JCS_ENOENT, "not found");
    T_ERR(jcs_meta_object_get(db, o2, &o), JCS_ENOENT, "not found");
    T_ERR(jcs_meta_package_get(db, pkg, &p), JCS_ENOENT, "not found");
    int64_t blocks = -1;
    T_EQ_INT(space_used(sp, &blocks), 0);
    T_EQ_INT(blocks, 0);
    jcs_meta_stats st;
    T_OK(jcs_meta_object_stats(db, o1, &st));
    size_t n = st.n;
    jcs_meta_stats_clear(&st);
    T_EQ_INT(n, 0);
    /* Nothing lives on the space any more, so it may go. */
    T_OK(jcs_meta_space_delete(db, sp));
}

/* ---- upload ---------------------------------------------------------------------------------- */

TEST(upload_then_reupload_replaces_in_place)
{
    NEED_DB();
    int64_t s1 = mk_space("up-s1"), s2 = mk_space("up-s2"), s3 = mk_space("up-s3");
    int64_t pkg = mk_package("up-bucket", "p", NULL);
    T_ASSERT(s1 > 0 && s2 > 0 && s3 > 0 && pkg > 0);

    char h1[JCS_HASH_SIZE], h2[JCS_HASH_SIZE];
    hash_of("version one", h1);
    hash_of("version two!", h2);
    jcs_meta_block b1[2] = {blk(0, s1, "version one"), blk(1, s2, "version one")};
    jcs_meta_upload u = {"docs/readme.txt", 11, h1, RED_REP, b1, 2};
    jcs_meta_objects out;
    T_OK(jcs_meta_upload_commit(db, pkg, &u, 1, &out));
    T_EQ_INT(out.n, 1);
    jcs_meta_object first = out.v[0];
    out.v[0] = (jcs_meta_object){0};
    jcs_meta_objects_clear(&out);
    T_EQ_STR(first.path, "docs/readme.txt");
    T_EQ_INT(first.size, 11);
    T_EQ_STR(first.file_hash, h1);
    T_EQ_STR(first.redundancy, RED_REP);
    T_EQ_INT(first.package_id, pkg);
    T_OK(jcs_meta_object_pin(db, first.object_id, s1));

    /* Same path again: same object, new content, old blocks and pins gone. */
    jcs_meta_block b2 = blk(0, s3, "version two!");
    jcs_meta_upload u2 = {"docs/readme.txt", 12, h2, RED_NONE, &b2, 1};
    T_OK(jcs_meta_upload_commit(db, pkg, &u2, 1, &out));
    jcs_meta_detail d;
    T_OK(jcs_meta_object_detail(db, first.object_id, &d));
    T_EQ_INT(out.v[0].object_id, first.object_id);
    jcs_meta_objects_clear(&out);
    T_EQ_INT(d.object.size, 12);
    T_EQ_STR(d.object.file_hash, h2);
    T_EQ_STR(d.object.redundancy, RED_NONE);
    T_EQ_INT(d.object.create_ms, first.create_ms);
    T_ASSERT(d.object.update_ms >= first.update_ms);
    T_EQ_INT(d.nblocks, 1);
    T_EQ_INT(d.blocks[0].space_id, s3);
    T_EQ_STR(d.blocks[0].file_hash, h2);
    T_EQ_INT(d.blocks[0].size, 12);
    T_EQ_INT(d.npinned, 0);
    jcs_meta_detail_clear(&d);
    jcs_meta_object_clear(&first);
    T_EQ_INT(space_used(s1, NULL), 0);
    T_EQ_INT(space_used(s3, NULL), 12);
}

TEST(upload_batch_with_one_bad_object_commits_nothing)
{
    NEED_DB();
    int64_t sp = mk_space("ub-space");
    int64_t pkg = mk_package("ub-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    T_OK(put(pkg, "keep", "old content", sp, NULL));
    char h[JCS_HASH_SIZE];
    hash_of("x", h);
    jcs_meta_block good = blk(0, sp, "x"), ghost = blk(0, 999999, "x");
    jcs_meta_upload items[3] = {{"n/1", 1, h, RED_NONE, &good, 1},
                                {"keep", 1, h, RED_NONE, &good, 1},
                                {"n/2", 1, h, RED_NONE, &ghost, 1}};
    jcs_meta_objects out;
    /* The third names a space that does not exist: the first two must not land either. */
    T_ERR(jcs_meta_upload_commit(db, pkg, items, 3, &out), JCS_ENOENT,
          "user space 999999 not found");
    T_ASSERT(out.n == 0 && out.v == NULL);
    T_ASSERT(!at(pkg, "n/1"));
    jcs_meta_object o;
    T_OK(jcs_meta_object_get_by_path(db, pkg, "keep", &o));
    T_EQ_INT(o.size, 11);
    jcs_meta_object_clear(&o);

    /* The same path twice in one batch conflicts. */
    items[2] = (jcs_meta_upload){"n/1", 1, h, RED_NONE, &good, 1};
    T_ERR(jcs_meta_upload_commit(db, pkg, items, 3, &out), JCS_EEXIST, "\"n/1\" appears twice");
    T_ASSERT(!at(pkg, "n/1"));

    /* Bad input is refused before anything is written. */
    items[2] = (jcs_meta_upload){"", 1, h, RED_NONE, &good, 1};
    T_ERR(jcs_meta_upload_commit(db, pkg, items, 3, &out), JCS_EINVAL, "path is empty");
    items[2] = (jcs_meta_upload){"n/3", 1, "Fullabc", RED_NONE, &good, 1};
    T_ERR(jcs_meta_upload_commit(db, pkg, items, 3, &out), JCS_EINVAL, "Fullabc");
    items[2] = (jcs_meta_upload){"n/3", 1, h, "{oops", &good, 1};
    T_ERR(jcs_meta_upload_commit(db, pkg, items, 3, &out), JCS_EINVAL, "invalid JSON");
    T_ERR(jcs_meta_upload_commit(db, 888888, items, 2, &out), JCS_ENOENT,
          "package 888888 not found");
    T_ASSERT(!at(pkg, "n/1"));
    T_EQ_INT(space_used(sp, NULL), 11);
}

struct then_seen {
    int calls;
    int fail;
    jcs_meta_object first; /* copy of the first object the hook was given */
};

static int then_hook(jcs_db_conn *c, const jcs_meta_objects *objs, void *arg)
{
    struct then_seen *t = arg;
    t->calls++;
    jcs_meta_object_clear(&t->first);
    t->first = objs->v[0];
    t->first.path = jcs_strdup(objs->v[0].path);
    t->first.redundancy = jcs_strdup(objs->v[0].redundancy);
    /* A statement of the same transaction: it rolls back with the upload. */
    jcs_db_val p = JCS_DB_I(objs->v[0].object_id);
    int rc = jcs_db_exec(c, "UPDATE object SET size = size + 1000 WHERE objectID = ?", &p, 1, NULL,
                         NULL);
    return rc ? rc : t->fail ? jcs_err_set(JCS_EIO, "hook says no") : 0;
}

/* jcs_meta_upload_commit_then: the hook runs in the upload's transaction with the objects
 * as written (what a later read returns), and its failure leaves nothing behind; ten blocks
 * take two block INSERTs. */
TEST(upload_commit_then_hook_is_in_the_same_transaction)
{
    NEED_DB();
    int64_t sp[10];
    char name[32];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "then-s%d", i);
        sp[i] = mk_space(name);
        T_ASSERT(sp[i] > 0);
    }
    int64_t pkg = mk_package("then-bucket", "p", NULL);
    T_ASSERT(pkg > 0);
    char h[JCS_HASH_SIZE];
    hash_of("ten blocks", h);
    jcs_meta_block b[10];
    for (int i = 0; i < 10; i++)
        b[i] = blk(i, sp[i], "ten blocks");
    jcs_meta_upload u = {"t/obj", 10, h, RED_REP, b, 10};
    jcs_meta_objects out;
    struct then_seen t = {0};
    t.fail = 1;
    T_ERR(jcs_meta_upload_commit_then(db, pkg, &u, 1, &out, then_hook, &t), JCS_EIO,
          "hook says no");
    T_ASSERT(t.calls >= 1);
    T_ASSERT(!at(pkg, "t/obj"));
    T_EQ_INT(space_used(sp[9], NULL), 0);

    t.fail = 0;
    T_OK(jcs_meta_upload_commit_then(db, pkg, &u, 1, &out, then_hook, &t));
    jcs_meta_detail d;
    T_OK(jcs_meta_object_detail(db, out.v[0].object_id, &d));
    T_EQ_INT(d.nblocks, 10);
    T_EQ_INT(d.blocks[9].space_id, sp[9]);
    T_EQ_INT(d.object.size, 1010); /* the hook's UPDATE landed with the upload */
    /* What the commit returned is what the database holds (no read back any more). */
    T_EQ_INT(t.first.object_id, d.object.object_id);
    T_EQ_STR(out.v[0].path, d.object.path);
    T_EQ_STR(out.v[0].redundancy, d.object.redundancy);
    T_EQ_STR(out.v[0].file_hash, d.object.file_hash);
    T_EQ_INT(out.v[0].create_ms, d.object.create_ms);
    T_EQ_INT(out.v[0].update_ms, d.object.update_ms);
    T_EQ_STR(out.v[0].create_time, d.object.create_time);
    jcs_meta_detail_clear(&d);
    int64_t id = out.v[0].object_id, created = out.v[0].create_ms;
    jcs_meta_objects_clear(&out);

    /* A re-upload keeps the id and createTime, and says so without reading back. */
    T_OK(jcs_meta_upload_commit_then(db, pkg, &u, 1, &out, NULL, NULL));
    T_EQ_INT(out.v[0].object_id, id);
    T_EQ_INT(out.v[0].create_ms, created);
    T_EQ_INT(out.v[0].size, 10);
    jcs_meta_objects_clear(&out);
    jcs_meta_object_clear(&t.first);
}

/* ---- reading and listing --------------------------------------------------------------------- */

TEST(get_by_id_path_ids_and_detail)
{
    NEED_DB();
    int64_t sp = mk_space("rd-space");
    int64_t pkg = mk_package("rd-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    int64_t a, b;
    T_OK(put(pkg, "Photo.JPG", "upper", sp, &a));
    T_OK(put(pkg, "photo.jpg", "lower", sp, &b));
    T_ASSERT(a != b);
    jcs_meta_object o;
    T_OK(jcs_meta_object_get_by_path(db, pkg, "photo.jpg", &o));
    T_EQ_INT(o.object_id, b);
    T_EQ_INT(o.size, 5);
    jcs_meta_object_clear(&o);
    T_OK(jcs_meta_object_get(db, a, &o));
    T_EQ_STR(o.path, "Photo.JPG");
    jcs_meta_object_clear(&o);
    char want[128];
    snprintf(want, sizeof(want), "object \"PHOTO.jpg\" not found in package %lld", (long long)pkg);
    T_ERR(jcs_meta_object_get_by_path(db, pkg, "PHOTO.jpg", &o), JCS_ENOENT, want);
    T_ERR(jcs_meta_object_get_by_path(db, 777777, "x", &o), JCS_ENOENT, "package 777777");
    T_ERR(jcs_meta_object_get(db, 777777, &o), JCS_ENOENT, "object 777777 not found");
    T_ERR(jcs_meta_object_get_by_path(db, pkg, "", &o), JCS_EINVAL, "empty");

    int64_t ids[4] = {b, 777777, a, b};
    jcs_meta_objects l;
    T_OK(jcs_meta_object_list_by_ids(db, ids, 4, &l));
    T_EQ_INT(l.n, 4);
    T_EQ_STR(l.v[0].path, "photo.jpg");
    T_EQ_INT(l.v[1].object_id, 0);
    T_ASSERT(l.v[1].path == NULL);
    T_EQ_STR(l.v[2].path, "Photo.JPG");
    T_EQ_STR(l.v[3].path, "photo.jpg");
    jcs_meta_objects_clear(&l);

    T_OK(jcs_meta_object_pin(db, a, sp));
    T_OK(jcs_meta_object_pin(db, a, sp));
    jcs_meta_detail d;
    T_OK(jcs_meta_object_detail(db, a, &d));
    T_EQ_INT(d.object.object_id, a);
    T_EQ_INT(d.nblocks, 1);
    T_EQ_INT(d.blocks[0].index, 0);
    T_EQ_INT(d.blocks[0].space_id, sp);
    T_EQ_INT(d.npinned, 1);
    T_EQ_INT(d.pinned[0], sp);
    jcs_meta_detail_clear(&d);
    T_OK(jcs_meta_object_unpin(db, a, sp));
    T_OK(jcs_meta_object_detail(db, a, &d));
    T_EQ_INT(d.npinned, 0);
    jcs_meta_detail_clear(&d);
    T_ERR(jcs_meta_object_detail(db, 777777, &d), JCS_ENOENT, "object 777777");
    T_ERR(jcs_meta_object_pin(db, a, 777777), JCS_ENOENT, "user space 777777");

    jcs_meta_objects all;
    T_OK(jcs_meta_package_objects(db, pkg, &all));
    /* Byte order: upper case sorts first. */
    int ok = all.n == 2 && strcmp(all.v[0].path, "Photo.JPG") == 0 &&
             strcmp(all.v[1].path, "photo.jpg") == 0;
    jcs_meta_objects_clear(&all);
    T_ASSERT(ok);
    T_ERR(jcs_meta_package_objects(db, 777777, &all), JCS_ENOENT, "package 777777");
}

/* Paths of a listing page joined with ',' and prefixes with ';' for easy comparison. */
static void page_text(const jcs_meta_listing *l, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->objects.n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", l->objects.v[i].path);
    for (size_t i = 0; i < l->nprefixes && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, ";%s", l->prefixes[i]);
}

TEST(list_exact_prefix_and_one_level_with_common_prefixes)
{
    NEED_DB();
    int64_t sp = mk_space("ls-space");
    int64_t pkg = mk_package("ls-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    static const char *const paths[] = {"a/b/c", "a/b/d", "a/e",   "a",     "ab",
                                        "A/x",   "a/b",   "ü/ñ/1", "ü/ñ/2", "ü/z"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        T_OK(put(pkg, paths[i], paths[i], sp, NULL));
    char text[512];
    jcs_meta_listing l;

    jcs_meta_list_query q = {.package_id = pkg, .path = "a/b"};
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    T_ASSERT(l.next_token == NULL);
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "a/b");

    q = (jcs_meta_list_query){.package_id = pkg, .path = "a/b/x"};
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    T_EQ_INT(l.objects.n, 0);
    jcs_meta_listing_clear(&l);

    q = (jcs_meta_list_query){.package_id = pkg, .path = "a/", .is_prefix = 1};
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "a/b,a/b/c,a/b/d,a/e");

    q.no_recursive = 1;
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "a/b,a/e;a/b/");

    /* The whole package, one level: "A/" and "a/" are different prefixes. */
    q = (jcs_meta_list_query){.package_id = pkg, .path = "", .is_prefix = 1, .no_recursive = 1};
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "a,ab;A/;a/;ü/");

    q = (jcs_meta_list_query){.package_id = pkg, .path = "ü/", .is_prefix = 1, .no_recursive = 1};
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "ü/z;ü/ñ/");

    q = (jcs_meta_list_query){.package_id = pkg, .path = "ü/ñ/", .is_prefix = 1};
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "ü/ñ/1,ü/ñ/2");

    q = (jcs_meta_list_query){.package_id = pkg, .path = "", .is_prefix = 0};
    T_ERR(jcs_meta_object_list_by_path(db, &q, &l), JCS_EINVAL, "empty");
    q = (jcs_meta_list_query){.package_id = 666666, .path = "a", .is_prefix = 1};
    T_ERR(jcs_meta_object_list_by_path(db, &q, &l), JCS_ENOENT, "package 666666");
    q = (jcs_meta_list_query){
        .package_id = pkg, .path = "a", .is_prefix = 1, .continuation_token = "zz"};
    T_ERR(jcs_meta_object_list_by_path(db, &q, &l), JCS_EINVAL, "continuationToken");
}

TEST(one_level_pages_split_between_prefixes_and_objects)
{
    NEED_DB();
    int64_t sp = mk_space("lp-space");
    int64_t pkg = mk_package("lp-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    static const char *const paths[] = {"d/a/1", "d/a/2", "d/b", "d/c/1", "d/c/2/x", "d/e"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        T_OK(put(pkg, paths[i], paths[i], sp, NULL));
    jcs_meta_list_query q = {
        .package_id = pkg, .path = "d/", .is_prefix = 1, .no_recursive = 1, .max_keys = 2};
    jcs_meta_listing l;
    char text[256], tok[64];
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    T_ASSERT(l.next_token != NULL);
    snprintf(tok, sizeof(tok), "%s", l.next_token);
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "d/b;d/a/");

    q.continuation_token = tok;
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    /* Exactly the last two entries: no token, nothing of d/c/ twice. */
    T_ASSERT(l.next_token == NULL, "token %s", l.next_token);
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, "d/e;d/c/");
}

TEST(pagination_over_2500_objects_misses_and_repeats_nothing)
{
    NEED_DB();
    int64_t sp = mk_space("pg-space");
    int64_t pkg = mk_package("pg-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    enum { N = 2500 };
    static char paths[N][32];
    static char hashes[N][JCS_HASH_SIZE];
    static jcs_meta_block blocks[N];
    static jcs_meta_upload items[N];
    for (int i = 0; i < N; i++) {
        /* Names that do not sort like their numbers, and some multi-byte ones. */
        snprintf(paths[i], sizeof(paths[i]), "%s/f%d", i % 3 ? "dir" : "dïr", i * 7919 % N);
        hash_of(paths[i], hashes[i]);
        blocks[i] = blk(0, sp, paths[i]);
        items[i] = (jcs_meta_upload){
            paths[i], (int64_t)strlen(paths[i]), hashes[i], RED_NONE, &blocks[i], 1};
    }
    T_OK(jcs_meta_upload_commit(db, pkg, items, N, NULL));

    char *seen[N + 1];
    size_t nseen = 0, pages = 0;
    char tok[4096] = "";
    int order_ok = 1;
    for (;;) {
        jcs_meta_list_query q = {.package_id = pkg,
                                 .path = "",
                                 .is_prefix = 1,
                                 .max_keys = 1000,
                                 .continuation_token = tok};
        jcs_meta_listing l;
        T_OK(jcs_meta_object_list_by_path(db, &q, &l));
        pages++;
        T_ASSERT(l.objects.n <= 1000 && nseen + l.objects.n <= N, "page %zu has %zu", pages,
                 l.objects.n);
        for (size_t i = 0; i < l.objects.n; i++) {
            if (nseen && strcmp(seen[nseen - 1], l.objects.v[i].path) >= 0)
                order_ok = 0;
            seen[nseen++] = l.objects.v[i].path;
            l.objects.v[i].path = NULL;
        }
        int more = l.next_token != NULL;
        if (more)
            snprintf(tok, sizeof(tok), "%s", l.next_token);
        jcs_meta_listing_clear(&l);
        if (!more)
            break;
    }
    int all_found = 1;
    for (int i = 0; i < N && all_found; i++) {
        int found = 0;
        for (size_t k = 0; k < nseen && !found; k++)
            found = strcmp(seen[k], paths[i]) == 0;
        all_found = found;
    }
    for (size_t k = 0; k < nseen; k++)
        jcs_free(seen[k]);
    T_EQ_INT(pages, 3);
    T_EQ_INT(nseen, N);
    T_ASSERT(order_ok, "strictly ascending, so no repeats");
    T_ASSERT(all_found);

    /* One level over the same objects: two prefixes, no objects, no token. */
    jcs_meta_list_query q = {.package_id = pkg, .path = "", .is_prefix = 1, .no_recursive = 1};
    jcs_meta_listing l;
    char text[128];
    T_OK(jcs_meta_object_list_by_path(db, &q, &l));
    page_text(&l, text, sizeof(text));
    T_ASSERT(l.next_token == NULL);
    jcs_meta_listing_clear(&l);
    T_EQ_STR(text, ";dir/;dïr/");
    int64_t blocks_n = 0;
    T_ASSERT(space_used(sp, &blocks_n) > 0);
    T_EQ_INT(blocks_n, N);
}

/* ---- clone, move, delete, update ------------------------------------------------------------- */

TEST(package_clone_copies_rows_and_shares_blocks)
{
    NEED_DB();
    int64_t sp = mk_space("cl-space"), bucket = 0;
    int64_t pkg = mk_package("cl-bucket", "src", &bucket);
    T_ASSERT(sp > 0 && pkg > 0);
    int64_t a, b;
    T_OK(put(pkg, "x/a", "alpha", sp, &a));
    T_OK(put(pkg, "x/b", "bravo!", sp, &b));
    jcs_meta_object mp;
    T_OK(jcs_meta_multipart_new(db, pkg, "x/open", &mp));
    int64_t used_blocks = 0;
    int64_t used = space_used(sp, &used_blocks);

    jcs_meta_package cp;
    T_OK(jcs_meta_package_clone(db, pkg, bucket, "copy", &cp));
    T_EQ_STR(cp.name, "copy");
    T_ASSERT(cp.package_id != pkg);
    jcs_meta_objects src, dst;
    T_OK(jcs_meta_package_objects(db, pkg, &src));
    T_OK(jcs_meta_package_objects(db, cp.package_id, &dst));
    /* The open multipart upload stays behind. */
    T_EQ_INT(src.n, 3);
    T_EQ_INT(dst.n, 2);
    int ok = 1;
    for (size_t i = 0; i < 2; i++)
        ok &= strcmp(src.v[i].path, dst.v[i].path) == 0 &&
              strcmp(src.v[i].file_hash, dst.v[i].file_hash) == 0 &&
              src.v[i].size == dst.v[i].size && src.v[i].object_id != dst.v[i].object_id;
    jcs_meta_detail ds, dd;
    int rc1 = jcs_meta_object_detail(db, src.v[1].object_id, &ds);
    int rc2 = jcs_meta_object_detail(db, dst.v[1].object_id, &dd);
    jcs_meta_objects_clear(&src);
    jcs_meta_objects_clear(&dst);
    T_ASSERT(ok, "paths, hashes and sizes copied under new ids");
    T_OK(rc1);
    T_OK(rc2);
    ok = ds.nblocks == 1 && dd.nblocks == 1 &&
         strcmp(ds.blocks[0].file_hash, dd.blocks[0].file_hash) == 0 &&
         ds.blocks[0].space_id == dd.blocks[0].space_id;
    jcs_meta_detail_clear(&ds);
    jcs_meta_detail_clear(&dd);
    T_ASSERT(ok, "the copy's block is the same shard");
    /* Shared shards are not counted twice. */
    int64_t blocks_after = 0;
    T_EQ_INT(space_used(sp, &blocks_after), used);
    T_EQ_INT(blocks_after, used_blocks);

    char want[96];
    snprintf(want, sizeof(want), "package \"copy\" already exists in bucket %lld",
             (long long)bucket);
    T_ERR(jcs_meta_package_clone(db, pkg, bucket, "copy", NULL), JCS_EEXIST, want);
    T_ERR(jcs_meta_package_clone(db, 555555, bucket, "c2", NULL), JCS_ENOENT, "package 555555");
    T_ERR(jcs_meta_package_clone(db, pkg, 555555, "c2", NULL), JCS_ENOENT, "bucket 555555");

    /* Deleting the original leaves the copy whole. */
    T_OK(jcs_meta_package_delete(db, pkg));
    jcs_meta_object o;
    T_OK(jcs_meta_object_get_by_path(db, cp.package_id, "x/b", &o));
    T_EQ_INT(o.size, 6);
    jcs_meta_object_clear(&o);
    T_EQ_INT(space_used(sp, NULL), used);
    jcs_meta_object_clear(&mp);
    jcs_meta_package_clear(&cp);
}

TEST(object_clone_copies_to_new_paths)
{
    NEED_DB();
    int64_t sp = mk_space("oc-space");
    int64_t p1 = mk_package("oc-bucket", "p1", NULL), p2 = mk_package("oc-bucket2", "p2", NULL);
    T_ASSERT(sp > 0 && p1 > 0 && p2 > 0);
    int64_t a;
    T_OK(put(p1, "orig", "clone me", sp, &a));
    jcs_meta_cloning c[2] = {{a, p2, "copied/orig"}, {444444, p2, "ghost"}};
    jcs_meta_objects out;
    T_OK(jcs_meta_object_clone(db, c, 2, &out));
    T_EQ_INT(out.n, 2);
    T_ASSERT(out.v[0].object_id > 0 && out.v[0].object_id != a);
    T_EQ_INT(out.v[0].package_id, p2);
    T_EQ_STR(out.v[0].path, "copied/orig");
    T_EQ_INT(out.v[0].size, 8);
    T_EQ_INT(out.v[1].object_id, 0);
    int64_t copy = out.v[0].object_id;
    jcs_meta_objects_clear(&out);
    jcs_meta_detail d;
    T_OK(jcs_meta_object_detail(db, copy, &d));
    char h[JCS_HASH_SIZE];
    hash_of("clone me", h);
    int ok = d.nblocks == 1 && strcmp(d.blocks[0].file_hash, h) == 0;
    jcs_meta_detail_clear(&d);
    T_ASSERT(ok);
    char want[96];
    snprintf(want, sizeof(want), "object \"copied/orig\" already exists in package %lld",
             (long long)p2);
    jcs_meta_cloning again[2] = {{a, p2, "copied/new"}, {a, p2, "copied/orig"}};
    T_ERR(jcs_meta_object_clone(db, again, 2, &out), JCS_EEXIST, want);
    T_ASSERT(!at(p2, "copied/new"));
}

TEST(move_renames_swaps_and_refuses_conflicts_whole)
{
    NEED_DB();
    int64_t sp = mk_space("mv-space");
    int64_t p1 = mk_package("mv-bucket", "p1", NULL), p2 = mk_package("mv-bucket2", "p2", NULL);
    T_ASSERT(sp > 0 && p1 > 0 && p2 > 0);
    int64_t a, b, c;
    T_OK(put(p1, "a", "AAA", sp, &a));
    T_OK(put(p1, "b", "BBBB", sp, &b));
    T_OK(put(p1, "c", "CCCCC", sp, &c));

    jcs_meta_moving m1[2] = {{a, p2, "moved/a"}, {333333, p2, "nothing"}};
    jcs_meta_ids ok;
    T_OK(jcs_meta_object_move(db, m1, 2, &ok));
    T_EQ_INT(ok.n, 1);
    T_EQ_INT(ok.v[0], a);
    jcs_meta_ids_clear(&ok);
    jcs_meta_object o;
    T_OK(jcs_meta_object_get(db, a, &o));
    T_EQ_INT(o.package_id, p2);
    T_EQ_STR(o.path, "moved/a");
    jcs_meta_object_clear(&o);
    T_ASSERT(!at(p1, "a"));

    /* Swapping two paths in one call. */
    jcs_meta_moving swap[2] = {{b, p1, "c"}, {c, p1, "b"}};
    T_OK(jcs_meta_object_move(db, swap, 2, NULL));
    T_OK(jcs_meta_object_get_by_path(db, p1, "b", &o));
    T_EQ_INT(o.object_id, c);
    T_EQ_INT(o.size, 5);
    jcs_meta_object_clear(&o);

    /* A conflict stops the whole call, also the harmless move before it. */
    jcs_meta_moving bad[2] = {{a, p2, "moved/a2"}, {b, p1, "b"}};
    char want[96];
    snprintf(want, sizeof(want), "object \"b\" already exists in package %lld", (long long)p1);
    T_ERR(jcs_meta_object_move(db, bad, 2, &ok), JCS_EEXIST, want);
    T_ASSERT(at(p2, "moved/a") && !at(p2, "moved/a2"));
    T_OK(jcs_meta_object_get(db, b, &o));
    T_EQ_STR(o.path, "c");
    jcs_meta_object_clear(&o);

    jcs_meta_moving twice[2] = {{a, p2, "x"}, {b, p2, "x"}};
    T_ERR(jcs_meta_object_move(db, twice, 2, NULL), JCS_EEXIST, "two moves go to \"x\"");
    jcs_meta_moving nopkg = {a, 222222, "x"};
    T_ERR(jcs_meta_object_move(db, &nopkg, 1, NULL), JCS_ENOENT, "package 222222");
    /* Moving onto its own place is fine. */
    jcs_meta_moving same = {a, p2, "moved/a"};
    T_OK(jcs_meta_object_move(db, &same, 1, &ok));
    T_EQ_INT(ok.n, 1);
    jcs_meta_ids_clear(&ok);
}

TEST(delete_by_ids_and_path_and_update_info)
{
    NEED_DB();
    int64_t sp = mk_space("dl-space");
    int64_t pkg = mk_package("dl-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    int64_t ids[40];
    for (int i = 0; i < 40; i++) {
        char path[32];
        snprintf(path, sizeof(path), "f%02d", i);
        T_OK(put(pkg, path, path, sp, &ids[i]));
    }
    T_EQ_INT(space_used(sp, NULL), 120);
    /* 35 ids (more than one statement's worth) plus one unknown. */
    int64_t del[36];
    memcpy(del, ids, 35 * sizeof(int64_t));
    del[35] = 111111;
    T_OK(jcs_meta_object_delete(db, del, 36));
    jcs_meta_objects all;
    T_OK(jcs_meta_package_objects(db, pkg, &all));
    int ok = all.n == 5 && strcmp(all.v[0].path, "f35") == 0;
    jcs_meta_objects_clear(&all);
    T_ASSERT(ok);
    T_EQ_INT(space_used(sp, NULL), 15);

    T_OK(jcs_meta_object_delete_by_path(db, pkg, "f36"));
    T_ASSERT(!at(pkg, "f36"));
    T_ERR(jcs_meta_object_delete_by_path(db, pkg, "f36"), JCS_ENOENT, "\"f36\" not found");

    jcs_meta_updating u[2] = {{ids[37], 1795341600123LL}, {111111, 5}};
    jcs_meta_ids succ;
    T_OK(jcs_meta_object_update_info(db, u, 2, &succ));
    T_EQ_INT(succ.n, 1);
    T_EQ_INT(succ.v[0], ids[37]);
    jcs_meta_ids_clear(&succ);
    jcs_meta_object o;
    T_OK(jcs_meta_object_get(db, ids[37], &o));
    T_EQ_STR(o.update_time, "2026-11-22T10:00:00.123+00:00");
    jcs_meta_object_clear(&o);
}

/* ---- redundancy change ----------------------------------------------------------------------- */

TEST(change_redundancy_swaps_blocks_only_if_content_is_unchanged)
{
    NEED_DB();
    int64_t s1 = mk_space("cr-s1"), s2 = mk_space("cr-s2"), s3 = mk_space("cr-s3");
    int64_t pkg = mk_package("cr-bucket", "p", NULL);
    T_ASSERT(s1 > 0 && s2 > 0 && s3 > 0 && pkg > 0);
    int64_t id;
    T_OK(put(pkg, "obj", "the content", s1, &id));
    char h[JCS_HASH_SIZE];
    hash_of("the content", h);
    jcs_meta_block ec[3] = {blk(0, s1, "shard0"), blk(1, s2, "shard1"), blk(2, s3, "shard2")};
    jcs_meta_object o;
    T_OK(jcs_meta_object_change_redundancy(db, id, h, RED_EC, ec, 3, &o));
    T_EQ_STR(o.redundancy, RED_EC);
    T_EQ_STR(o.file_hash, h);
    T_EQ_INT(o.size, 11);
    jcs_meta_object_clear(&o);
    jcs_meta_detail d;
    T_OK(jcs_meta_object_detail(db, id, &d));
    int ok = d.nblocks == 3 && d.blocks[2].space_id == s3 &&
             strcmp(d.blocks[1].file_hash, ec[1].file_hash) == 0;
    jcs_meta_detail_clear(&d);
    T_ASSERT(ok);

    /* A re-upload lands while a second change is computed from the old content. */
    T_OK(put(pkg, "obj", "newer content", s2, NULL));
    jcs_meta_block rep[2] = {blk(0, s1, "the content"), blk(1, s3, "the content")};
    char want[64];
    snprintf(want, sizeof(want), "object %lld changed", (long long)id);
    T_ERR(jcs_meta_object_change_redundancy(db, id, h, RED_REP, rep, 2, &o), JCS_EBUSY, want);
    T_OK(jcs_meta_object_detail(db, id, &d));
    char h2[JCS_HASH_SIZE];
    hash_of("newer content", h2);
    ok = d.nblocks == 1 && d.blocks[0].space_id == s2 && strcmp(d.object.file_hash, h2) == 0 &&
         strcmp(d.object.redundancy, RED_NONE) == 0;
    jcs_meta_detail_clear(&d);
    T_ASSERT(ok, "the re-upload is intact");
    T_ERR(jcs_meta_object_change_redundancy(db, 101010, h, RED_REP, rep, 2, NULL), JCS_ENOENT,
          "object 101010");
    jcs_meta_block ghost = blk(0, 101010, "x");
    T_ERR(jcs_meta_object_change_redundancy(db, id, h2, RED_REP, &ghost, 1, NULL), JCS_ENOENT,
          "user space 101010");
    T_OK(jcs_meta_object_detail(db, id, &d));
    ok = d.nblocks == 1 && d.blocks[0].space_id == s2;
    jcs_meta_detail_clear(&d);
    T_ASSERT(ok, "a failed change leaves the blocks alone");
}

/* ---- multipart ------------------------------------------------------------------------------- */

TEST(multipart_complete_sums_sizes_and_computes_the_comp_hash)
{
    NEED_DB();
    int64_t s1 = mk_space("mp-s1"), s2 = mk_space("mp-s2");
    int64_t pkg = mk_package("mp-bucket", "p", NULL);
    T_ASSERT(s1 > 0 && s2 > 0 && pkg > 0);
    jcs_meta_object o;
    T_OK(jcs_meta_multipart_new(db, pkg, "big.bin", &o));
    int64_t id = o.object_id;
    T_EQ_STR(o.redundancy, JCS_META_MULTIPART_REDUNDANCY);
    T_EQ_INT(o.size, 0);
    T_EQ_STR(o.file_hash, "");
    jcs_meta_object_clear(&o);
    char want[96];
    snprintf(want, sizeof(want), "object \"big.bin\" already exists in package %lld",
             (long long)pkg);
    T_ERR(jcs_meta_multipart_new(db, pkg, "big.bin", &o), JCS_EEXIST, want);

    /* Parts arrive out of order; part 7 is replaced; part 9 is never named. */
    static const char *const parts[] = {"part zero", "part one!!", "part two."};
    jcs_meta_block b;
    b = blk(7, s1, "first try");
    T_OK(jcs_meta_multipart_add_part(db, id, &b));
    b = blk(9, s2, "unused part");
    T_OK(jcs_meta_multipart_add_part(db, id, &b));
    b = blk(3, s2, parts[0]);
    T_OK(jcs_meta_multipart_add_part(db, id, &b));
    b = blk(7, s2, parts[1]);
    T_OK(jcs_meta_multipart_add_part(db, id, &b));
    b = blk(5, s1, parts[2]);
    T_OK(jcs_meta_multipart_add_part(db, id, &b));
    jcs_meta_block comp_part = blk(11, s1, "x");
    memcpy(comp_part.file_hash, "Comp", 4);
    T_ERR(jcs_meta_multipart_add_part(db, id, &comp_part), JCS_EINVAL, "not a Full");

    int missing[2] = {3, 4};
    T_ERR(jcs_meta_multipart_complete(db, id, missing, 2, &o), JCS_EINVAL, "part 4 of object");
    int twice[2] = {3, 3};
    T_ERR(jcs_meta_multipart_complete(db, id, twice, 2, &o), JCS_EINVAL, "named twice");

    int order[3] = {3, 7, 5};
    T_OK(jcs_meta_multipart_complete(db, id, order, 3, &o));
    unsigned char digests[3 * JCS_SHA256_LEN];
    int64_t size = 0;
    for (int i = 0; i < 3; i++) {
        char h[JCS_HASH_SIZE];
        hash_of(parts[i], h);
        T_OK(jcs_hash_parse(h, NULL, digests + i * JCS_SHA256_LEN));
        size += (int64_t)strlen(parts[i]);
    }
    char comp[JCS_HASH_SIZE];
    T_OK(jcs_hash_comp(digests, 3, comp));
    T_EQ_INT(o.size, size);
    T_EQ_STR(o.file_hash, comp);
    T_EQ_STR(o.redundancy, "{\"type\":\"segment\",\"segments\":[9,10,9]}");
    jcs_meta_object_clear(&o);
    jcs_meta_detail d;
    T_OK(jcs_meta_object_detail(db, id, &d));
    int ok = d.nblocks == 3;
    for (size_t i = 0; ok && i < 3; i++) {
        char h[JCS_HASH_SIZE];
        hash_of(parts[i], h);
        ok = d.blocks[i].index == (int)i && strcmp(d.blocks[i].file_hash, h) == 0;
    }
    jcs_meta_detail_clear(&d);
    T_ASSERT(ok, "blocks 0..2 are the named parts in order");
    /* The replaced and the unnamed parts are no longer referenced. */
    T_EQ_INT(space_used(s2, NULL), 10 + 9);

    b = blk(1, s1, "late part");
    snprintf(want, sizeof(want), "object %lld is not an open multipart upload", (long long)id);
    T_ERR(jcs_meta_multipart_add_part(db, id, &b), JCS_EINVAL, want);
    T_ERR(jcs_meta_multipart_complete(db, id, order, 3, NULL), JCS_EINVAL, want);
    T_ERR(jcs_meta_multipart_abort(db, id), JCS_EINVAL, want);
    T_ERR(jcs_meta_multipart_add_part(db, 909090, &b), JCS_ENOENT, "object 909090");

    /* Abort removes the upload and its parts. */
    T_OK(jcs_meta_multipart_new(db, pkg, "dropped.bin", &o));
    int64_t id2 = o.object_id;
    jcs_meta_object_clear(&o);
    b = blk(0, s1, "some bytes");
    T_OK(jcs_meta_multipart_add_part(db, id2, &b));
    T_OK(jcs_meta_multipart_abort(db, id2));
    T_ERR(jcs_meta_object_get(db, id2, &o), JCS_ENOENT, "not found");
    T_EQ_INT(space_used(s1, NULL), 9);
}

/* ---- the upload path's package cache --------------------------------------------------------- */

static int stmts_fn(jcs_db_conn *c, void *arg)
{
    jcs_db_result *r;
    int rc = jcs_db_query(c, "SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'", NULL, 0, 1, &r);
    if (rc)
        return rc;
    const jcs_db_val *v = jcs_db_cell(r, 0, 1);
    *(int64_t *)arg = v->type == JCS_DB_INT ? v->i : strtoll(v->s ? v->s : "0", NULL, 10);
    jcs_db_result_free(r);
    return JCS_OK;
}

/* Statements MariaDB executed so far (this one included). */
static int64_t stmts(void)
{
    int64_t n = -1;
    return jcs_db_with(db, stmts_fn, &n) == 0 ? n : -1;
}

/*
 * An upload read its package's row on every request (one of its seven statements): the cache
 * answers the second read without a statement, with the same row; a missing package is not
 * remembered, and a package deleted after it was remembered is still refused at the commit.
 */
TEST(package_cache_reads_a_package_once_and_the_commit_still_sees_its_deletion)
{
    NEED_DB();
    jcs_meta_pkg_cache *cache;
    T_OK(jcs_meta_pkg_cache_new(&cache));
    int64_t bucket;
    int64_t pkg = mk_package("pc-bucket", "pc", &bucket);
    T_ASSERT(pkg > 0);
    jcs_meta_package p;
    int64_t s0 = stmts();
    T_OK(jcs_meta_package_get_cached(cache, db, pkg, &p));
    int64_t s1 = stmts();
    T_EQ_STR(p.name, "pc");
    jcs_meta_package_clear(&p);
    T_OK(jcs_meta_package_get_cached(cache, db, pkg, &p));
    int64_t s2 = stmts();
    T_EQ_STR(p.name, "pc");
    T_EQ_INT(p.package_id, pkg);
    jcs_meta_package_clear(&p);
    /* Each count includes its own SHOW: the first read ran one statement, the second none. */
    T_EQ_INT(s1 - s0, 2);
    T_EQ_INT(s2 - s1, 1);
    T_ERR(jcs_meta_package_get_cached(cache, db, 987654, &p), JCS_ENOENT, "987654");
    T_ERR(jcs_meta_package_get_cached(cache, db, 987654, &p), JCS_ENOENT, "987654");
    /* More packages than the cache holds: each is still read right. */
    for (int i = 0; i < JCS_META_PKG_CACHE_MAX + 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "pc%d", i);
        T_OK(jcs_meta_package_create(db, bucket, name, RED_REP, &p));
        int64_t id = p.package_id;
        jcs_meta_package_clear(&p);
        T_OK(jcs_meta_package_get_cached(cache, db, id, &p));
        T_EQ_STR(p.redundancy, RED_REP);
        T_EQ_STR(p.name, name);
        jcs_meta_package_clear(&p);
    }
    T_OK(jcs_meta_package_get_cached(cache, db, pkg, &p));
    T_EQ_STR(p.name, "pc");
    jcs_meta_package_clear(&p);
    int64_t sp = mk_space("pc-space");
    T_ASSERT(sp > 0);
    T_OK(jcs_meta_package_delete(db, pkg));
    T_OK(jcs_meta_package_get_cached(cache, db, pkg, &p)); /* remembered: deletion not seen */
    jcs_meta_package_clear(&p);
    char want[64];
    snprintf(want, sizeof want, "package %lld not found", (long long)pkg);
    T_ERR(put(pkg, "after-delete", "x", sp, NULL), JCS_ENOENT, want);
    jcs_meta_pkg_cache_free(cache);
    T_OK(jcs_meta_space_delete(db, sp));
}

/* ---- user spaces ----------------------------------------------------------------------------- */

/* Rows MariaDB read by scans and index walks so far (global counters; this test is alone on it). */
static int rows_read_fn(jcs_db_conn *c, void *arg)
{
    jcs_db_result *r;
    int rc = jcs_db_query(c,
                          "SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_read_rnd_next', "
                          "'Handler_read_next')",
                          NULL, 0, 10, &r);
    if (rc)
        return rc;
    int64_t *n = arg;
    *n = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        const jcs_db_val *v = jcs_db_cell(r, i, 1);
        *n += v->type == JCS_DB_INT ? v->i : strtoll(v->s ? v->s : "0", NULL, 10);
    }
    jcs_db_result_free(r);
    return JCS_OK;
}

static int64_t rows_read(void)
{
    int64_t n = -1;
    return jcs_db_with(db, rows_read_fn, &n) == 0 ? n : -1;
}

/*
 * Placement's cache reads the private list every few seconds while uploads wait for it: its
 * cost must not grow with the blocks stored (it counted every space's usage, a scan of every
 * block row: 22 ms at 11,000 blocks, 1 s at 500,000). The public list still counts usage.
 */
TEST(private_space_list_reads_no_block_rows)
{
    NEED_DB();
    int64_t sp = mk_space("pl-space");
    int64_t pkg = mk_package("pl-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    for (int i = 0; i < 300; i++) {
        char path[32], content[32];
        snprintf(path, sizeof path, "o%d", i);
        snprintf(content, sizeof content, "content %d", i);
        T_OK(put(pkg, path, content, sp, NULL));
    }
    jcs_meta_spaces l;
    int64_t before = rows_read();
    T_OK(jcs_meta_space_list_private(db, &l));
    int64_t after = rows_read();
    int found = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].space_id == sp) {
            found = 1;
            T_EQ_INT(l.v[i].used_bytes, -1);
            T_EQ_INT(l.v[i].block_count, -1);
        }
    jcs_meta_spaces_clear(&l);
    T_ASSERT(found);
    T_ASSERT(before >= 0 && after - before < 100,
             "the private space list read %lld rows with 300 blocks stored",
             (long long)(after - before));
    /* The public list (the REST API's) still counts them. */
    int64_t blocks = 0;
    T_EQ_INT(space_used(sp, &blocks), 3190);
    T_EQ_INT(blocks, 300);
    T_OK(jcs_meta_package_delete(db, pkg));
    T_OK(jcs_meta_space_delete(db, sp));
}

TEST(user_spaces_keep_secrets_private_and_count_usage)
{
    NEED_DB();
    const char *s3 = "{\"type\":\"s3\",\"endpoint\":\"http://127.0.0.1:4568\",\"region\":\"r\","
                     "\"bucket\":\"b\",\"accessKey\":\"AKIDEXAMPLE\","
                     "\"secretKey\":\"very-secret-value\",\"sessionToken\":\"tok-value\"}";
    jcs_meta_space s;
    T_OK(jcs_meta_space_create(db, "us-s3", s3, 7, &s));
    int64_t id = s.space_id;
    T_EQ_STR(s.storage_type, "s3");
    T_EQ_STR(s.state, "normal");
    T_EQ_INT(s.location_id, 7);
    T_EQ_INT(s.hub_id, 0);
    T_ASSERT(!strstr(s.storage, "very-secret-value") && !strstr(s.storage, "tok-value") &&
                 strstr(s.storage, "AKIDEXAMPLE") && strstr(s.storage, "\"endpoint\""),
             "%s", s.storage);
    jcs_meta_space_clear(&s);
    T_OK(jcs_meta_space_get_private(db, id, &s));
    T_EQ_STR(s.storage, s3);
    jcs_meta_space_clear(&s);
    T_OK(jcs_meta_space_get(db, id, &s));
    T_ASSERT(!strstr(s.storage, "very-secret-value"), "%s", s.storage);
    jcs_meta_space_clear(&s);

    T_ERR(jcs_meta_space_create(db, "us-s3", s3, 0, NULL), JCS_EEXIST,
          "user space \"us-s3\" already exists");
    T_ERR(jcs_meta_space_create(db, "us-bad", "{\"root\":\"/x\"}", 0, NULL), JCS_EINVAL,
          "\"type\"");
    T_ERR(jcs_meta_space_create(db, "us-bad", "{\"type\":\"local\",\"hubID\":\"one\"}", 0, NULL),
          JCS_EINVAL, "hubID");
    T_ERR(jcs_meta_space_create(db, "", s3, 0, NULL), JCS_EINVAL, "empty");
    T_ERR(jcs_meta_space_get(db, 989898, &s), JCS_ENOENT, "user space 989898 not found");

    int64_t local = mk_space("us-local");
    int64_t pkg = mk_package("us-bucket", "p", NULL);
    T_ASSERT(local > 0 && pkg > 0);
    T_OK(jcs_meta_space_get(db, local, &s));
    T_EQ_INT(s.hub_id, 1);
    jcs_meta_space_clear(&s);
    int64_t a;
    T_OK(put(pkg, "one", "12345", local, &a));
    T_OK(put(pkg, "two", "1234567", local, NULL));
    T_OK(put(pkg, "same-as-one", "12345", local, NULL));
    jcs_meta_spaces l;
    T_OK(jcs_meta_space_list(db, &l));
    int found = 0;
    for (size_t i = 0; i < l.n; i++) {
        T_ASSERT(!strstr(l.v[i].storage, "very-secret-value"));
        if (l.v[i].space_id == local) {
            found = 1;
            /* Two distinct shards: the third object has the first one's content. */
            T_EQ_INT(l.v[i].used_bytes, 12);
            T_EQ_INT(l.v[i].block_count, 2);
        }
    }
    jcs_meta_spaces_clear(&l);
    T_ASSERT(found);
    T_OK(jcs_meta_space_list_private(db, &l));
    found = 0;
    for (size_t i = 0; i < l.n; i++)
        found |= strstr(l.v[i].storage, "very-secret-value") != NULL;
    jcs_meta_spaces_clear(&l);
    T_ASSERT(found);

    char want[64];
    snprintf(want, sizeof(want), "user space %lld still holds 3 blocks", (long long)local);
    T_ERR(jcs_meta_space_delete(db, local), JCS_EBUSY, want);
    T_OK(jcs_meta_space_set_state(db, local, "unavailable"));
    T_OK(jcs_meta_space_get(db, local, &s));
    T_EQ_STR(s.state, "unavailable");
    jcs_meta_space_clear(&s);
    T_OK(jcs_meta_object_pin(db, a, id));
    T_OK(jcs_meta_package_delete(db, pkg));
    T_OK(jcs_meta_space_delete(db, local));
    T_ERR(jcs_meta_space_delete(db, local), JCS_ENOENT, "not found");
    T_OK(jcs_meta_space_delete(db, id));
    T_ERR(jcs_meta_space_set_state(db, local, "x"), JCS_ENOENT, "not found");
}

TEST(package_spaces_report_where_a_package_lies)
{
    NEED_DB();
    int64_t s1 = mk_space("ps-s1"), s2 = mk_space("ps-s2");
    int64_t pkg = mk_package("ps-bucket", "p", NULL);
    T_ASSERT(s1 > 0 && s2 > 0 && pkg > 0);
    char h[JCS_HASH_SIZE];
    hash_of("0123456789", h);
    jcs_meta_block b[2] = {blk(0, s1, "01234"), blk(1, s2, "56789")};
    jcs_meta_upload u = {"split", 10, h, RED_EC, b, 2};
    T_OK(jcs_meta_upload_commit(db, pkg, &u, 1, NULL));
    T_OK(put(pkg, "whole", "abc", s1, NULL));
    jcs_meta_space_shares sh;
    T_OK(jcs_meta_package_spaces(db, pkg, &sh));
    int ok = sh.n == 2 && sh.package_size == 13 && sh.v[0].space_id == s1 &&
             sh.v[0].file_size == 8 && sh.v[0].object_count == 2 && sh.v[1].space_id == s2 &&
             sh.v[1].file_size == 5 && sh.v[1].object_count == 1;
    jcs_meta_space_shares_clear(&sh);
    T_ASSERT(ok);
    T_ERR(jcs_meta_package_spaces(db, 123123, &sh), JCS_ENOENT, "package 123123");
}

/* ---- access statistics ----------------------------------------------------------------------- */

TEST(access_statistics_count_and_age_daily)
{
    NEED_DB();
    int64_t s1 = mk_space("as-s1"), s2 = mk_space("as-s2");
    int64_t pkg = mk_package("as-bucket", "p", NULL);
    T_ASSERT(s1 > 0 && s2 > 0 && pkg > 0);
    int64_t a, b;
    T_OK(put(pkg, "a", "aaa", s1, &a));
    T_OK(put(pkg, "b", "bbb", s1, &b));
    jcs_meta_access e[5] = {{a, s1, 1}, {a, s1, 1}, {a, s2, 0.5}, {b, s1, 1}, {676767, s1, 1}};
    T_OK(jcs_meta_access_add(db, e, 5));
    T_OK(jcs_meta_access_add(db, e, 1));
    jcs_meta_stats st;
    T_OK(jcs_meta_object_stats(db, a, &st));
    int ok = st.n == 2 && st.v[0].space_id == s1 && st.v[0].counter == 3 && st.v[0].amount == 0 &&
             st.v[1].space_id == s2 && st.v[1].counter == 0.5;
    jcs_meta_stats_clear(&st);
    T_ASSERT(ok, "object counters");
    T_OK(jcs_meta_package_stats(db, pkg, &st));
    ok = st.n == 2 && st.v[0].counter == 4 && st.v[1].counter == 0.5;
    jcs_meta_stats_clear(&st);
    T_ASSERT(ok, "package counters add up the objects'");

    /* amount = amount * w + counter * (1 - w); counter back to 0. */
    T_OK(jcs_meta_access_age(db, 0.8));
    T_OK(jcs_meta_access_add(db, e, 1));
    T_OK(jcs_meta_access_age(db, 0.8));
    T_OK(jcs_meta_object_stats(db, a, &st));
    double want = 3 * 0.2 * 0.8 + 1 * 0.2;
    ok = st.n == 2 && fabs(st.v[0].amount - want) < 1e-9 && st.v[0].counter == 0 &&
         fabs(st.v[1].amount - 0.5 * 0.2 * 0.8) < 1e-9;
    double got = st.n ? st.v[0].amount : -1;
    jcs_meta_stats_clear(&st);
    T_ASSERT(ok, "amount %g, want %g", got, want);
    T_OK(jcs_meta_package_stats(db, pkg, &st));
    ok = st.n == 2 && fabs(st.v[0].amount - (4 * 0.2 * 0.8 + 0.2)) < 1e-9;
    jcs_meta_stats_clear(&st);
    T_ASSERT(ok);

    /* A batch larger than one statement's chunk (64 + 8 + 1 + 1 + ... rows): every entry counts. */
    jcs_meta_access many[75];
    for (size_t i = 0; i < 75; i++)
        many[i] = (jcs_meta_access){i % 2 ? a : b, i % 3 ? s1 : s2, 0.25};
    T_OK(jcs_meta_object_stats(db, a, &st));
    double a_before = 0;
    for (size_t i = 0; i < st.n; i++)
        a_before += st.v[i].counter;
    jcs_meta_stats_clear(&st);
    T_OK(jcs_meta_access_add(db, many, 75));
    T_OK(jcs_meta_object_stats(db, a, &st));
    double a_after = 0;
    for (size_t i = 0; i < st.n; i++)
        a_after += st.v[i].counter;
    jcs_meta_stats_clear(&st);
    T_ASSERT(fabs(a_after - a_before - 37 * 0.25) < 1e-9, "object a gained %g, want %g",
             a_after - a_before, 37 * 0.25);

    T_ERR(jcs_meta_access_age(db, 1.5), JCS_EINVAL, "1.5");
    jcs_meta_access neg = {a, s1, -1};
    T_ERR(jcs_meta_access_add(db, &neg, 1), JCS_EINVAL, "not positive");
}

/* ---- for the jobs ---------------------------------------------------------------------------- */

TEST(space_hashes_and_object_pages_for_the_jobs)
{
    NEED_DB();
    int64_t s1 = mk_space("jb-s1"), s2 = mk_space("jb-s2");
    int64_t pkg = mk_package("jb-bucket", "p", NULL);
    T_ASSERT(s1 > 0 && s2 > 0 && pkg > 0);
    int64_t ids[7];
    for (int i = 0; i < 7; i++) {
        char path[32], content[32];
        snprintf(path, sizeof(path), "o%d", i);
        /* o5 has the content of o0: one shard, two rows. */
        snprintf(content, sizeof(content), "content %d", i == 5 ? 0 : i);
        T_OK(put(pkg, path, content, i % 2 ? s2 : s1, &ids[i]));
    }
    T_OK(jcs_meta_object_pin(db, ids[2], s2));
    /* s1 holds o0, o2, o4, o6 with o5's shard equal to o0's (o5 is on s2 though). */
    jcs_meta_hashes h;
    T_OK(jcs_meta_space_hashes(db, s1, NULL, 3, &h));
    T_EQ_INT(h.n, 3);
    char last[JCS_HASH_SIZE];
    snprintf(last, sizeof(last), "%s", h.v[2]);
    int sorted = strcmp(h.v[0], h.v[1]) < 0 && strcmp(h.v[1], h.v[2]) < 0;
    jcs_meta_hashes_clear(&h);
    T_ASSERT(sorted);
    T_OK(jcs_meta_space_hashes(db, s1, last, 3, &h));
    T_EQ_INT(h.n, 1);
    T_ASSERT(strcmp(h.v[0], last) > 0);
    jcs_meta_hashes_clear(&h);
    T_ERR(jcs_meta_space_hashes(db, 454545, NULL, 3, &h), JCS_ENOENT, "user space 454545");

    jcs_meta_details d;
    T_OK(jcs_meta_objects_page(db, s2, ids[0], 2, &d));
    int ok = d.n == 2 && d.v[0].object.object_id == ids[1] && d.v[1].object.object_id == ids[3] &&
             d.v[0].nblocks == 1 && d.v[0].blocks[0].space_id == s2;
    jcs_meta_details_clear(&d);
    T_ASSERT(ok, "objects with a block on s2, after o0");
    T_OK(jcs_meta_objects_page(db, 0, ids[1], 2, &d));
    ok = d.n == 2 && d.v[0].object.object_id == ids[2] && d.v[0].npinned == 1 &&
         d.v[0].pinned[0] == s2 && d.v[1].object.object_id == ids[3] && d.v[1].npinned == 0 &&
         d.v[1].nblocks == 1;
    jcs_meta_details_clear(&d);
    T_ASSERT(ok, "all objects, with pins");
    T_OK(jcs_meta_objects_page(db, s1, ids[6], 10, &d));
    T_EQ_INT(d.n, 0);
    jcs_meta_details_clear(&d);
}

TEST(locations_mirror_upserts)
{
    NEED_DB();
    T_OK(jcs_meta_location_upsert(db, 3, "east"));
    T_OK(jcs_meta_location_upsert(db, 3, "east-1"));
    T_OK(jcs_meta_location_upsert(db, 1, "west"));
    jcs_meta_locations l;
    T_OK(jcs_meta_location_list(db, &l));
    int ok = l.n == 2 && l.v[0].location_id == 1 && strcmp(l.v[1].name, "east-1") == 0;
    jcs_meta_locations_clear(&l);
    T_ASSERT(ok);
    T_ERR(jcs_meta_location_upsert(db, 0, "x"), JCS_EINVAL, "location id");
}

/* ---- concurrency ----------------------------------------------------------------------------- */

struct racer {
    int64_t pkg, space;
    int id;
    int rc;
    char msg[512];
};

static void *race_uploads(void *arg)
{
    struct racer *r = arg;
    for (int round = 0; round < 15 && r->rc == 0; round++) {
        /* Every thread writes the same five paths, each time with content of its own. */
        char content[5][48], hashes[5][JCS_HASH_SIZE], paths[5][16];
        jcs_meta_block blocks[5][2];
        jcs_meta_upload items[5];
        for (int k = 0; k < 5; k++) {
            int path = (k + r->id + round) % 5;
            snprintf(paths[k], sizeof(paths[k]), "hot/%d", path);
            snprintf(content[k], sizeof(content[k]), "thread %d round %d path %d", r->id, round,
                     path);
            hash_of(content[k], hashes[k]);
            blocks[k][0] = blk(0, r->space, content[k]);
            blocks[k][1] = blk(1, r->space, content[k]);
            items[k] = (jcs_meta_upload){
                paths[k], (int64_t)strlen(content[k]), hashes[k], RED_REP, blocks[k], 2};
        }
        r->rc = jcs_meta_upload_commit(db, r->pkg, items, 5, NULL);
    }
    if (r->rc)
        snprintf(r->msg, sizeof(r->msg), "%s", jcs_err_msg(r->rc));
    return NULL;
}

TEST(concurrent_reuploads_of_the_same_paths_stay_consistent)
{
    NEED_DB();
    int64_t sp = mk_space("cc-space");
    int64_t pkg = mk_package("cc-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    struct racer r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){.pkg = pkg, .space = sp, .id = i};
        T_ASSERT(pthread_create(&th[i], NULL, race_uploads, &r[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        T_ASSERT(r[i].rc == 0, "thread %d: %s", i, r[i].msg);
    /* One object per path, whose two blocks are exactly those of its current content. */
    jcs_meta_objects all;
    T_OK(jcs_meta_package_objects(db, pkg, &all));
    T_EQ_INT(all.n, 5);
    int ok = 1;
    for (size_t i = 0; i < all.n && ok; i++) {
        jcs_meta_detail d;
        if (jcs_meta_object_detail(db, all.v[i].object_id, &d) != 0) {
            ok = 0;
            break;
        }
        ok = d.nblocks == 2 && strcmp(d.blocks[0].file_hash, d.object.file_hash) == 0 &&
             strcmp(d.blocks[1].file_hash, d.object.file_hash) == 0 &&
             d.blocks[0].size == d.object.size;
        jcs_meta_detail_clear(&d);
    }
    jcs_meta_objects_clear(&all);
    T_ASSERT(ok, "every object's blocks match its content");
}

/* ---- failures -------------------------------------------------------------------------------- */

TEST(allocation_failures_are_enomem_and_commit_nothing)
{
    NEED_DB();
    int64_t sp = mk_space("af-space");
    int64_t pkg = mk_package("af-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    char h[JCS_HASH_SIZE];
    hash_of("abc", h);
    jcs_meta_block b = blk(0, sp, "abc");
    jcs_meta_upload u[2] = {{"m/1", 3, h, RED_NONE, &b, 1}, {"m/2", 3, h, RED_NONE, &b, 1}};
    int rc = JCS_ENOMEM, n;
    for (n = 0; n < 400 && rc == JCS_ENOMEM; n++) {
        jcs_meta_objects out;
        jcs_alloc_fail_after(n);
        rc = jcs_meta_upload_commit(db, pkg, u, 2, &out);
        jcs_alloc_fail_after(-1);
        if (rc == JCS_ENOMEM)
            T_ASSERT(!at(pkg, "m/1") && out.n == 0, "after %d allocations", n);
        else
            jcs_meta_objects_clear(&out);
    }
    T_OK(rc);
    rc = JCS_ENOMEM;
    for (n = 0; n < 400 && rc == JCS_ENOMEM; n++) {
        jcs_meta_list_query q = {.package_id = pkg, .path = "m/", .is_prefix = 1, .max_keys = 1};
        jcs_meta_listing l;
        jcs_alloc_fail_after(n);
        rc = jcs_meta_object_list_by_path(db, &q, &l);
        jcs_alloc_fail_after(-1);
        if (rc == 0) {
            int ok = l.objects.n == 1 && l.next_token != NULL;
            jcs_meta_listing_clear(&l);
            T_ASSERT(ok);
        }
    }
    T_OK(rc);
}

TEST(a_database_restart_costs_a_retry_and_loses_nothing)
{
    NEED_DB();
    int64_t sp = mk_space("rs-space");
    int64_t pkg = mk_package("rs-bucket", "p", NULL);
    T_ASSERT(sp > 0 && pkg > 0);
    for (int i = 0; i < 20; i++) {
        char path[32];
        snprintf(path, sizeof(path), "before/%02d", i);
        T_OK(put(pkg, path, path, sp, NULL));
    }
    T_ASSERT(t_mariadb_ctl(&fix.srv, "restart") == 0, "%s", fix.srv.err);
    /* Every pooled connection died with the server; the next calls reconnect. */
    T_OK(put(pkg, "after/00", "after", sp, NULL));
    jcs_meta_objects all;
    T_OK(jcs_meta_package_objects(db, pkg, &all));
    int ok = all.n == 21 && strcmp(all.v[0].path, "after/00") == 0 &&
             strcmp(all.v[20].path, "before/19") == 0;
    jcs_meta_objects_clear(&all);
    T_ASSERT(ok);
    int64_t blocks = 0;
    space_used(sp, &blocks);
    T_EQ_INT(blocks, 21);
}

/* After every test: stops the server. */
T_TEARDOWN(server)
{
    db = NULL;
    t_dbfix_stop(&fix);
}
