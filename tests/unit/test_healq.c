/*
 * test_healq.c - client/meta/healq.c (the heal queue) against a real MariaDB.
 *
 * The first test starts a private server with one migrated database; the
 * teardown stops it. Each test uses user spaces of its own names, so tests
 * depend on the server, not on each other. The counters are process-wide,
 * so each test compares them before and after.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "db.h"
#include "err.h"
#include "hash.h"
#include "healq.h"
#include "meta.h"
#include "t.h"
#include "t_dbfix.h"
#include "util.h"

#define DB_USER "jcs_healq"
#define DB_PW   "healq-pw"

static t_dbfix fix = {.database = "jcs_healq",
                      .user = DB_USER,
                      .password = DB_PW,
                      .pool_size = 2,
                      .prepare = jcs_meta_migrate};
static jcs_db *db; /* fix.db, once a test asked for it */

#define NEED_DB() T_NEED_DB(&fix, db)

/* A local user space (the queue's rows reference one); its id, or -1. */
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

static void hash_of(const char *content, char out[JCS_HASH_SIZE])
{
    if (jcs_hash_buf(content, strlen(content), out) != 0)
        out[0] = '\0';
}

/* The queue's entries of one space, in the order listed. */
static size_t entries_of(int64_t space, jcs_healq_item *out, size_t cap)
{
    jcs_healq_item *v = NULL;
    size_t n = 0, k = 0;
    if (jcs_healq_list(db, &v, &n) != 0)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++)
        if (v[i].space_id == space && k < cap)
            out[k++] = v[i];
    jcs_free(v);
    return k;
}

struct reason_arg {
    int64_t space;
    const char *hash;
    char reason[600];
    int found;
};

static int reason_fn(jcs_db_conn *c, void *arg)
{
    struct reason_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_I(a->space), JCS_DB_S(a->hash)};
    jcs_db_result *r = NULL;
    int rc = jcs_db_query(c, "SELECT reason FROM healQueue WHERE userSpaceID = ? AND fileHash = ?",
                          p, 2, 10, &r);
    if (rc)
        return rc;
    a->found = (int)r->nrows;
    if (r->nrows) {
        const jcs_db_val *v = jcs_db_cell(r, 0, 0);
        snprintf(a->reason, sizeof a->reason, "%.*s", (int)v->len, v->s ? v->s : "");
    }
    jcs_db_result_free(r);
    return 0;
}

/* The stored reason of an entry; found 0 when there is none. */
static struct reason_arg reason_of(int64_t space, const char *hash)
{
    struct reason_arg a = {.space = space, .hash = hash};
    if (jcs_db_with(db, reason_fn, &a) != 0)
        a.found = -1;
    return a;
}

TEST(a_corrupt_read_is_queued_listed_and_remembered)
{
    NEED_DB();
    int64_t sp = mk_space("hq-read");
    T_ASSERT(sp > 0);
    char h[JCS_HASH_SIZE];
    hash_of("read me", h);
    jcs_healq_counters before, after;
    jcs_healq_counters_get(&before);
    T_ASSERT(!jcs_healq_known_bad(sp, h));
    T_OK(jcs_healq_add(db, sp, h, "CRC mismatch at offset 65536", 0));
    jcs_healq_counters_get(&after);
    T_EQ_INT(after.corrupt_reads, before.corrupt_reads + 1);
    T_EQ_INT(after.scrub_corrupt, before.scrub_corrupt);
    T_EQ_INT(after.queued, before.queued + 1);
    jcs_healq_item e[4];
    T_EQ_INT(entries_of(sp, e, 4), 1);
    T_EQ_STR(e[0].file_hash, h);
    T_ASSERT(jcs_healq_has(e, 1, sp, h));
    T_ASSERT(!jcs_healq_has(e, 1, sp + 1000, h));
    T_ASSERT(jcs_healq_known_bad(sp, h));
    struct reason_arg r = reason_of(sp, h);
    T_EQ_INT(r.found, 1);
    T_EQ_STR(r.reason, "CRC mismatch at offset 65536");
}

TEST(the_same_shard_twice_is_one_entry_with_the_latest_reason)
{
    NEED_DB();
    int64_t sp = mk_space("hq-twice");
    T_ASSERT(sp > 0);
    char h[JCS_HASH_SIZE];
    hash_of("twice", h);
    jcs_healq_counters before, after;
    jcs_healq_counters_get(&before);
    T_OK(jcs_healq_add(db, sp, h, "first finding", 0));
    T_OK(jcs_healq_add(db, sp, h, "deep scrub: SHA-256 mismatch", 1));
    jcs_healq_counters_get(&after);
    T_EQ_INT(after.scrub_corrupt, before.scrub_corrupt + 1);
    T_EQ_INT(after.corrupt_reads, before.corrupt_reads + 1);
    jcs_healq_item e[4];
    T_EQ_INT(entries_of(sp, e, 4), 1);
    T_EQ_STR(reason_of(sp, h).reason, "deep scrub: SHA-256 mismatch");
}

TEST(entries_are_listed_in_the_order_found)
{
    NEED_DB();
    int64_t sp = mk_space("hq-order");
    T_ASSERT(sp > 0);
    char h[3][JCS_HASH_SIZE];
    const char *content[3] = {"order-c", "order-a", "order-b"};
    for (int i = 0; i < 3; i++) {
        hash_of(content[i], h[i]);
        T_OK(jcs_healq_add(db, sp, h[i], "found", 1));
        jcs_sleep_ms(5); /* foundTime is in ms */
    }
    jcs_healq_item e[4];
    T_EQ_INT(entries_of(sp, e, 4), 3);
    for (int i = 0; i < 3; i++)
        T_EQ_STR(e[i].file_hash, h[i]);
}

TEST(a_bad_file_hash_is_refused_and_nothing_is_queued)
{
    NEED_DB();
    int64_t sp = mk_space("hq-bad");
    T_ASSERT(sp > 0);
    jcs_healq_counters before, after;
    jcs_healq_counters_get(&before);
    int rc = jcs_healq_add(db, sp, "Full0123", "x", 0);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "FileHash") != NULL, "(%s)", jcs_err_msg(rc));
    jcs_healq_counters_get(&after);
    T_EQ_INT(after.queued, before.queued);
    T_ASSERT(!jcs_healq_known_bad(sp, "Full0123"));
    jcs_healq_item e[2];
    T_EQ_INT(entries_of(sp, e, 2), 0);
}

TEST(the_reason_is_kept_printable_and_bounded)
{
    NEED_DB();
    int64_t sp = mk_space("hq-reason");
    T_ASSERT(sp > 0);
    char h[JCS_HASH_SIZE];
    hash_of("reason", h);
    char why[800];
    memset(why, 'r', sizeof why - 1);
    why[sizeof why - 1] = '\0';
    memcpy(why, "a\nb\x01\xc3\xa9", 6); /* a newline, a control byte, UTF-8 */
    T_OK(jcs_healq_add(db, sp, h, why, 0));
    struct reason_arg r = reason_of(sp, h);
    T_EQ_INT(r.found, 1);
    T_EQ_INT((long long)strlen(r.reason), 500);
    T_ASSERT(strncmp(r.reason, "a?b???rr", 8) == 0, "(%.12s)", r.reason);
    /* No reason at all is fine too. */
    char h2[JCS_HASH_SIZE];
    hash_of("no reason", h2);
    T_OK(jcs_healq_add(db, sp, h2, NULL, 0));
    T_EQ_STR(reason_of(sp, h2).reason, "");
}

TEST(removing_counts_heals_and_forgets_the_shard)
{
    NEED_DB();
    int64_t sp = mk_space("hq-remove");
    T_ASSERT(sp > 0);
    char h[JCS_HASH_SIZE], g[JCS_HASH_SIZE];
    hash_of("healed", h);
    hash_of("gone", g);
    T_OK(jcs_healq_add(db, sp, h, "bad", 0));
    T_OK(jcs_healq_add(db, sp, g, "bad", 0));
    jcs_healq_counters before, after;
    jcs_healq_counters_get(&before);
    T_OK(jcs_healq_remove(db, sp, h, 1));
    T_OK(jcs_healq_remove(db, sp, g, 0)); /* no object names it any more: not a heal */
    T_OK(jcs_healq_remove(db, sp, h, 1)); /* already gone: fine, not counted twice */
    jcs_healq_counters_get(&after);
    T_EQ_INT(after.healed, before.healed + 1);
    jcs_healq_item e[4];
    T_EQ_INT(entries_of(sp, e, 4), 0);
    T_ASSERT(!jcs_healq_known_bad(sp, h));
    T_ASSERT(!jcs_healq_known_bad(sp, g));
}

TEST(entries_survive_a_reconnect_and_go_with_their_space)
{
    NEED_DB();
    int64_t sp = mk_space("hq-persist");
    T_ASSERT(sp > 0);
    char h[JCS_HASH_SIZE];
    hash_of("persist", h);
    T_OK(jcs_healq_add(db, sp, h, "bad", 0));
    /* A restart of the client: a new connection pool sees the entry. */
    jcs_db_close(fix.db);
    db = fix.db = NULL;
    jcs_db_config cfg = t_dbfix_config(&fix);
    T_OK(jcs_db_open(&cfg, &fix.db));
    db = fix.db;
    jcs_healq_item e[2];
    T_EQ_INT(entries_of(sp, e, 2), 1);
    T_EQ_STR(e[0].file_hash, h);
    /* Deleting the user space drops its entries (nothing left to heal there). */
    T_OK(jcs_meta_space_delete(db, sp));
    T_EQ_INT(entries_of(sp, e, 2), 0);
}

TEST(the_in_memory_ring_forgets_the_oldest_of_1024)
{
    NEED_DB();
    int64_t sp = mk_space("hq-ring");
    T_ASSERT(sp > 0);
    char first[JCS_HASH_SIZE], h[JCS_HASH_SIZE], name[32];
    hash_of("ring-0", first);
    T_OK(jcs_healq_add(db, sp, first, "bad", 0));
    T_ASSERT(jcs_healq_known_bad(sp, first));
    for (int i = 1; i <= 1024; i++) {
        snprintf(name, sizeof name, "ring-%d", i);
        hash_of(name, h);
        T_OK(jcs_healq_add(db, sp, h, "bad", 0));
    }
    T_ASSERT(!jcs_healq_known_bad(sp, first), "(the oldest finding is still remembered)");
    T_ASSERT(jcs_healq_known_bad(sp, h));
    /* The database keeps every entry; only the memory is bounded. */
    jcs_healq_item *v = NULL;
    size_t n = 0, mine = 0;
    T_OK(jcs_healq_list(db, &v, &n));
    for (size_t i = 0; i < n; i++)
        mine += v[i].space_id == sp;
    jcs_free(v);
    T_EQ_INT(mine, 1025);
}

T_TEARDOWN(server)
{
    db = NULL;
    t_dbfix_stop(&fix);
}
