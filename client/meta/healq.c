#include "healq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

static atomic_llong n_corrupt_reads, n_scrub_corrupt, n_queued, n_healed;

/* The shards this process found bad, so reads skip them at once (a ring, under bad_mu). */
#define BAD_MAX 1024
static pthread_mutex_t bad_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int64_t space_id;
    char hash[JCS_HASH_SIZE];
} bad[BAD_MAX];
static size_t bad_next;

static long bad_find(int64_t space_id, const char *hash)
{
    for (size_t i = 0; i < BAD_MAX; i++)
        if (bad[i].space_id == space_id && bad[i].hash[0] && strcmp(bad[i].hash, hash) == 0)
            return (long)i;
    return -1;
}

static void bad_set(int64_t space_id, const char *hash, int on)
{
    pthread_mutex_lock(&bad_mu);
    long i = bad_find(space_id, hash);
    if (on && i < 0) {
        bad[bad_next].space_id = space_id;
        snprintf(bad[bad_next].hash, JCS_HASH_SIZE, "%s", hash);
        bad_next = (bad_next + 1) % BAD_MAX;
    } else if (!on && i >= 0) {
        bad[i].hash[0] = '\0';
    }
    pthread_mutex_unlock(&bad_mu);
}

int jcs_healq_known_bad(int64_t space_id, const char *file_hash)
{
    pthread_mutex_lock(&bad_mu);
    int found = bad_find(space_id, file_hash) >= 0;
    pthread_mutex_unlock(&bad_mu);
    return found;
}

struct add_arg {
    int64_t space_id;
    const char *hash;
    char why[501];
    int64_t now;
};

static int add_fn(jcs_db_conn *c, void *arg)
{
    struct add_arg *a = arg;
    jcs_db_val p[4] = {JCS_DB_I(a->space_id), JCS_DB_S(a->hash), JCS_DB_S(a->why),
                       JCS_DB_I(a->now)};
    return jcs_db_exec(c,
                       "INSERT INTO healQueue (userSpaceID, fileHash, reason, foundTime)"
                       " VALUES (?,?,?,?) ON DUPLICATE KEY UPDATE reason = VALUES(reason)",
                       p, 4, NULL, NULL);
}

int jcs_healq_add(jcs_db *db, int64_t space_id, const char *file_hash, const char *why,
                  int from_scrub)
{
    atomic_fetch_add(from_scrub ? &n_scrub_corrupt : &n_corrupt_reads, 1);
    if (!jcs_hash_valid(file_hash))
        return jcs_err_set(JCS_EINVAL, "heal queue: bad FileHash");
    bad_set(space_id, file_hash, 1);
    struct add_arg a = {.space_id = space_id, .hash = file_hash, .now = jcs_wall_ms()};
    snprintf(a.why, sizeof a.why, "%s", why ? why : "");
    /* The reason is text in a utf8mb4 column: keep it printable ASCII. */
    for (char *p = a.why; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    jcs_warn("user space %lld: shard %s is corrupt (%s); queued for RedundancyRecover",
             (long long)space_id, file_hash, a.why);
    int rc = jcs_db_txn(db, add_fn, &a);
    if (rc)
        jcs_error("heal queue: cannot record shard %s of user space %lld: %s", file_hash,
                  (long long)space_id, jcs_err_msg(rc));
    else
        atomic_fetch_add(&n_queued, 1);
    return rc;
}

struct list_arg {
    jcs_healq_item *v;
    size_t n;
};

static int list_fn(jcs_db_conn *c, void *arg)
{
    struct list_arg *a = arg;
    jcs_free(a->v);
    a->v = NULL;
    a->n = 0;
    jcs_db_result *r = NULL;
    int rc = jcs_db_query(c, "SELECT userSpaceID, fileHash FROM healQueue ORDER BY foundTime", NULL,
                          0, JCS_HEALQ_LIST_MAX, &r);
    if (rc)
        return rc;
    a->v = jcs_calloc(r->nrows ? r->nrows : 1, sizeof *a->v);
    if (!a->v) {
        jcs_db_result_free(r);
        return JCS_ENOMEM;
    }
    for (size_t i = 0; i < r->nrows; i++) {
        const jcs_db_val *h = jcs_db_cell(r, i, 1);
        a->v[a->n].space_id = jcs_db_cell(r, i, 0)->i;
        snprintf(a->v[a->n].file_hash, JCS_HASH_SIZE, "%.*s", (int)h->len, h->s ? h->s : "");
        a->n++;
    }
    jcs_db_result_free(r);
    return 0;
}

int jcs_healq_list(jcs_db *db, jcs_healq_item **out, size_t *n)
{
    struct list_arg a = {0};
    int rc = jcs_db_with(db, list_fn, &a);
    if (rc) {
        jcs_free(a.v);
        return jcs_err_wrap(rc, "heal queue: ");
    }
    *out = a.v;
    *n = a.n;
    return 0;
}

int jcs_healq_has(const jcs_healq_item *items, size_t n, int64_t space_id, const char *file_hash)
{
    for (size_t i = 0; i < n; i++)
        if (items[i].space_id == space_id && strcmp(items[i].file_hash, file_hash) == 0)
            return 1;
    return 0;
}

struct rm_arg {
    int64_t space_id;
    const char *hash;
    uint64_t affected;
};

static int rm_fn(jcs_db_conn *c, void *arg)
{
    struct rm_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_I(a->space_id), JCS_DB_S(a->hash)};
    return jcs_db_exec(c, "DELETE FROM healQueue WHERE userSpaceID = ? AND fileHash = ?", p, 2,
                       &a->affected, NULL);
}

int jcs_healq_remove(jcs_db *db, int64_t space_id, const char *file_hash, int healed)
{
    bad_set(space_id, file_hash, 0);
    struct rm_arg a = {space_id, file_hash, 0};
    int rc = jcs_db_txn(db, rm_fn, &a);
    if (rc)
        return jcs_err_wrap(rc, "heal queue: ");
    if (a.affected && healed)
        atomic_fetch_add(&n_healed, 1);
    return 0;
}

void jcs_healq_counters_get(jcs_healq_counters *out)
{
    out->corrupt_reads = atomic_load(&n_corrupt_reads);
    out->scrub_corrupt = atomic_load(&n_scrub_corrupt);
    out->queued = atomic_load(&n_queued);
    out->healed = atomic_load(&n_healed);
}
