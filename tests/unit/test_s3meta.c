/*
 * test_s3meta.c - the S3 gateway's tables (client/s3/s3meta.c) on a real
 * MariaDB started for the test: rows written and read back, a row going
 * stale when the object is replaced through JCS, parts in order after a
 * marker, open uploads listed by key, and rows deleted with their object.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "hash.h"
#include "meta.h"
#include "s3meta.h"
#include "t.h"
#include "t_dbfix.h"

static t_dbfix fix = {.database = "jcs_s3",
                      .user = "s3u",
                      .password = "s3pw",
                      .pool_size = 2,
                      .prepare = jcs_meta_migrate};
static jcs_db *db; /* fix.db, once a test asked for it */

#define NEED_DB() T_NEED_DB(&fix, db)

static int64_t space_id, pkg_id;

/* One bucket, package and space for every test. */
static int setup(void)
{
    if (pkg_id)
        return 0;
    jcs_meta_space s;
    if (jcs_meta_space_create(db, "s3sp", "{\"type\":\"local\",\"hubID\":1,\"root\":\"/srv/x\"}", 1,
                              &s) != 0)
        return -1;
    space_id = s.space_id;
    jcs_meta_space_clear(&s);
    jcs_meta_bucket b;
    if (jcs_meta_bucket_create(db, "s3b", &b) != 0)
        return -1;
    jcs_meta_package p;
    int rc = jcs_meta_package_create(db, b.bucket_id, "pkg", NULL, &p);
    jcs_meta_bucket_clear(&b);
    if (rc)
        return -1;
    pkg_id = p.package_id;
    jcs_meta_package_clear(&p);
    return 0;
}

/* Commits path with content; fills o. */
static int put(const char *path, const char *content, jcs_meta_object *o)
{
    char h[JCS_HASH_SIZE];
    if (jcs_hash_buf(content, strlen(content), h) != 0)
        return -1;
    jcs_meta_block b = {.index = 0, .space_id = space_id, .size = (int64_t)strlen(content)};
    snprintf(b.file_hash, sizeof b.file_hash, "%s", h);
    jcs_meta_upload u = {path, (int64_t)strlen(content), h, "{\"type\":\"none\"}", &b, 1};
    jcs_meta_objects out;
    int rc = jcs_meta_upload_commit(db, pkg_id, &u, 1, &out);
    if (!rc) {
        *o = out.v[0];
        out.v[0] = (jcs_meta_object){0};
    }
    jcs_meta_objects_clear(&out);
    return rc;
}

TEST(rows_round_trip_and_go_stale_when_the_object_is_replaced)
{
    NEED_DB();
    T_ASSERT(setup() == 0, "(%s)", jcs_err_msg(JCS_EDB));
    jcs_meta_object o;
    T_OK(put("a/b.txt", "first", &o));
    jcs_s3meta m = {.object_id = o.object_id};
    snprintf(m.file_hash, sizeof m.file_hash, "%s", o.file_hash);
    snprintf(m.etag, sizeof m.etag, "8b04d5e3775d298e78455efc5ca404d5");
    m.headers = "[[\"content-type\",\"text/plain\"],[\"x-amz-meta-k\",\"v\"]]";
    snprintf(m.checksum_alg, sizeof m.checksum_alg, "crc32");
    snprintf(m.checksum, sizeof m.checksum, "y/Q5Jg==");
    T_OK(jcs_s3meta_put(db, &m));
    jcs_s3meta g;
    T_OK(jcs_s3meta_get(db, o.object_id, &g));
    T_EQ_STR(g.etag, m.etag);
    T_EQ_STR(g.headers, m.headers);
    T_EQ_STR(g.checksum, "y/Q5Jg==");
    T_ASSERT(g.upload_key == NULL);
    T_ASSERT(jcs_s3meta_valid(&g, &o));
    /* Replaced in place (same id) with other content: the row no longer describes it. */
    jcs_meta_object o2;
    T_OK(put("a/b.txt", "second", &o2));
    T_EQ_INT(o2.object_id, o.object_id);
    T_ASSERT(!jcs_s3meta_valid(&g, &o2));
    jcs_s3meta_clear(&g);
    /* Found by bucket, package and path in one read, with its row (stale here: the caller
     * compares the hashes) and what is missing named by a zero id. */
    jcs_s3meta_found fd;
    T_OK(jcs_s3meta_find(db, "s3b", "pkg", "a/b.txt", &fd));
    T_EQ_INT(fd.package_id, pkg_id);
    T_EQ_INT(fd.object_id, o.object_id);
    T_EQ_STR(fd.file_hash, o2.file_hash);
    T_EQ_INT(fd.m.object_id, o.object_id);
    T_EQ_STR(fd.m.etag, m.etag);
    T_ASSERT(!jcs_s3meta_valid(&fd.m, &o2));
    jcs_s3meta_clear(&fd.m);
    T_OK(jcs_s3meta_find(db, "s3b", "pkg", "a/none", &fd));
    T_ASSERT(fd.package_id == pkg_id && fd.object_id == 0 && fd.m.object_id == 0);
    T_OK(jcs_s3meta_find(db, "s3b", "nopkg", "a/b.txt", &fd));
    T_ASSERT(fd.bucket_id > 0 && fd.package_id == 0 && fd.object_id == 0);
    T_EQ_INT(jcs_s3meta_find(db, "nobucket", "pkg", "a/b.txt", &fd), JCS_ENOENT);
    /* Many at once; a missing one stays zero. */
    int64_t ids[3] = {o.object_id, 999999, o.object_id};
    jcs_s3meta ms[3];
    T_OK(jcs_s3meta_get_many(db, ids, 3, ms));
    T_EQ_INT(ms[0].object_id, o.object_id);
    T_EQ_INT(ms[1].object_id, 0);
    T_EQ_INT(ms[2].object_id, o.object_id);
    for (int i = 0; i < 3; i++)
        jcs_s3meta_clear(&ms[i]);
    /* Deleted with the object. */
    T_OK(jcs_meta_object_delete(db, &o.object_id, 1));
    T_EQ_INT(jcs_s3meta_get(db, o.object_id, &g), JCS_ENOENT);
    jcs_meta_object_clear(&o);
    jcs_meta_object_clear(&o2);
}

TEST(parts_and_open_uploads)
{
    NEED_DB();
    T_ASSERT(setup() == 0);
    int64_t ups[3];
    const char *keys[3] = {"k/b", "k/a", "k/b"};
    for (int i = 0; i < 3; i++) {
        char path[40];
        snprintf(path, sizeof path, "up%d", i);
        jcs_meta_object o;
        T_OK(jcs_meta_multipart_new(db, pkg_id, path, &o));
        ups[i] = o.object_id;
        jcs_meta_object_clear(&o);
        jcs_s3meta m = {.object_id = ups[i], .headers = "[]", .upload_key = (char *)keys[i]};
        snprintf(m.upload_token, sizeof m.upload_token, "%032d", i);
        T_OK(jcs_s3meta_put(db, &m));
    }
    jcs_s3meta_uploads l;
    T_OK(jcs_s3meta_uploads_list(db, pkg_id, "k/", "", 0, 0, &l));
    T_EQ_INT(l.n, 3);
    T_EQ_STR(l.v[0].key, "k/a");
    T_EQ_STR(l.v[1].key, "k/b");
    T_EQ_INT(l.v[1].object_id, ups[0]);
    T_EQ_INT(l.v[2].object_id, ups[2]);
    jcs_s3meta_uploads_free(&l);
    /* After (k/b, first upload): only the second upload of k/b. */
    T_OK(jcs_s3meta_uploads_list(db, pkg_id, "", "k/b", ups[0], 10, &l));
    T_EQ_INT(l.n, 1);
    T_EQ_INT(l.v[0].object_id, ups[2]);
    jcs_s3meta_uploads_free(&l);
    T_OK(jcs_s3meta_uploads_list(db, pkg_id, "zzz", "", 0, 10, &l));
    T_EQ_INT(l.n, 0);
    jcs_s3meta_uploads_free(&l);

    for (int n = 3; n >= 1; n--) {
        jcs_s3meta_part p = {.part_number = n, .size = n * 100, .update_ms = 1};
        snprintf(p.etag, sizeof p.etag, "%032d", n);
        T_OK(jcs_s3meta_part_put(db, ups[0], &p));
    }
    jcs_s3meta_part again = {.part_number = 2, .size = 7, .update_ms = 2};
    snprintf(again.etag, sizeof again.etag, "%032d", 22);
    T_OK(jcs_s3meta_part_put(db, ups[0], &again)); /* replaces part 2 */
    jcs_s3meta_parts ps;
    T_OK(jcs_s3meta_parts_list(db, ups[0], 1, 0, &ps));
    T_EQ_INT(ps.n, 2);
    T_EQ_INT(ps.v[0].part_number, 2);
    T_EQ_INT(ps.v[0].size, 7);
    T_EQ_INT(ps.v[1].part_number, 3);
    jcs_s3meta_parts_free(&ps);
    /* Aborting the upload object takes its rows. */
    T_OK(jcs_meta_multipart_abort(db, ups[0]));
    T_OK(jcs_s3meta_parts_list(db, ups[0], 0, 0, &ps));
    T_EQ_INT(ps.n, 0);
    jcs_s3meta_parts_free(&ps);
}

T_TEARDOWN(server)
{
    db = NULL;
    t_dbfix_stop(&fix);
}
