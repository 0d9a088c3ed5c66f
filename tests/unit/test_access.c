/*
 * test_access.c - the access-statistics batcher (client/access.h) against a
 * real MariaDB: reads are summed in memory, nothing reaches the database
 * before a flush, one flush writes the sums, and stop writes what is left.
 */
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "hash.h"
#include "meta.h"
#include "t.h"
#include "t_mariadb.h"

static struct t_mariadb srv;
static jcs_db *db;
static int64_t obj, space;

static double counter_of(int64_t object, int64_t sp)
{
    jcs_meta_stats st;
    if (jcs_meta_object_stats(db, object, &st) != 0)
        return -1;
    double c = 0;
    for (size_t i = 0; i < st.n; i++)
        if (st.v[i].space_id == sp)
            c = st.v[i].counter;
    jcs_meta_stats_clear(&st);
    return c;
}

/* A MariaDB with one object on one space. */
static int setup(void)
{
    jcs_db_library_init();
    if (t_mariadb_start(&srv) != 0 || t_mariadb_create_db(&srv, "jcs_access", "acc", "acc-pw"))
        return -1;
    jcs_db_config cfg = {
        .address = srv.addr, .user = "acc", .password = "acc-pw", .database = "jcs_access"};
    if (jcs_db_open(&cfg, &db) != 0 || jcs_meta_migrate(db) != 0)
        return -1;
    jcs_meta_space s;
    jcs_meta_bucket b;
    jcs_meta_package p;
    if (jcs_meta_space_create(db, "s1", "{\"type\":\"local\",\"hubID\":1,\"root\":\"/x\"}", 1,
                              &s) != 0 ||
        jcs_meta_bucket_create(db, "b", &b) != 0 ||
        jcs_meta_package_create(db, b.bucket_id, "p", NULL, &p) != 0)
        return -1;
    space = s.space_id;
    jcs_meta_block blk = {.index = 0, .space_id = space, .size = 3};
    if (jcs_hash_buf("abc", 3, blk.file_hash) != 0)
        return -1;
    jcs_meta_upload u = {.path = "o",
                         .size = 3,
                         .file_hash = blk.file_hash,
                         .redundancy = "{\"type\":\"none\"}",
                         .blocks = &blk,
                         .nblocks = 1};
    jcs_meta_objects out;
    if (jcs_meta_upload_commit(db, p.package_id, &u, 1, &out) != 0)
        return -1;
    obj = out.v[0].object_id;
    jcs_meta_objects_clear(&out);
    jcs_meta_space_clear(&s);
    jcs_meta_bucket_clear(&b);
    jcs_meta_package_clear(&p);
    return 0;
}

TEST(reads_are_summed_and_written_on_flush_and_at_stop)
{
    T_ASSERT(setup() == 0, "(set-up failed: %s %s)", srv.err, jcs_err_msg(JCS_EDB));
    jcs_access *a;
    /* A long interval: only explicit flushes write. */
    T_OK(jcs_access_start(db, 3600 * 1000, &a));
    jcs_meta_access r = {.object_id = obj, .space_id = space, .count = 0.5};
    jcs_access_note(a, &r, 1);
    jcs_access_note(a, &r, 1);
    r.count = 1;
    jcs_access_note(a, &r, 1);
    T_ASSERT(counter_of(obj, space) == 0, "(counter %g before any flush)", counter_of(obj, space));
    T_OK(jcs_access_flush(a));
    T_ASSERT(counter_of(obj, space) == 2, "(counter %g, want 0.5 + 0.5 + 1)",
             counter_of(obj, space));
    /* A flush with nothing pending writes nothing twice. */
    T_OK(jcs_access_flush(a));
    T_ASSERT(counter_of(obj, space) == 2, "(counter %g after an empty flush)",
             counter_of(obj, space));
    /* A read of an object deleted meanwhile is skipped, the others still count. */
    jcs_meta_access two[2] = {{.object_id = 999999, .space_id = space, .count = 1},
                              {.object_id = obj, .space_id = space, .count = 3}};
    jcs_access_note(a, two, 2);
    jcs_access_stop(a);
    T_ASSERT(counter_of(obj, space) == 5, "(counter %g after stop, want 5)",
             counter_of(obj, space));
    jcs_db_close(db);
    t_mariadb_destroy(&srv);
    jcs_db_library_end();
}
