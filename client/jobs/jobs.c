/*
 * The background jobs: scheduler, on-demand runs, reports, and the jobs that
 * only read shard stores or the database (CheckShardStore, ShardStoreGC,
 * UpdateAccessStats). The data-moving jobs are in jobs_move.c.
 *
 * Schedule (UTC wall clock for the daily ones, a monotonic clock for the
 * hourly ones):
 *   daily at 00:00 UTC   UpdateAccessStats, then ChangeRedundancy (it places
 *                        by the statistics just aged), then CheckShardStore
 *                        (a report only)
 *   hourly, first one    RedundancyRecover, then RedundancyShrink, then
 *   an hour after start  ShardStoreGC
 * Recovery runs hourly because a lost block lowers an object's tolerance
 * until it is rebuilt; shrink and GC follow it so they see its result.
 *
 * Concurrency. Each job has a mutex held for its whole run, so a job never
 * runs twice at once (an on-demand run waits for a scheduled one). The
 * jobs that move data or delete shards (ChangeRedundancy, RedundancyRecover,
 * RedundancyShrink, ShardStoreGC) and migrations also share move_mu: GC
 * never deletes what a redundancy change of this process has written but
 * not yet committed, and two jobs never move one object at the same time.
 * Stop sets a flag that every loop checks between two objects (or spaces,
 * or deletion batches); a run in progress then ends with "interrupted".
 *
 * Other clients. Two clients may have user spaces on one storage (the same
 * hub directory or S3 prefix); their mutexes cannot see each other. So
 * every run that touches spaces (all jobs but UpdateAccessStats, and
 * migrations) first takes the coordinator's exclusive lease on the storage
 * of each of this client's spaces (spacelease.h), waiting while another
 * client's run holds one, and gives them back when it ends. A lease that
 * cannot be kept stops the run like shutdown does. The report says how many
 * storages were leased and how long the run waited for them.
 *
 * GC safety. A shard is deleted only when it was listed before the
 * references were read, no block row and no pin on that space names it,
 * and its last write is older than tickTock.gcGracePeriod (an upload writes
 * its shards before it commits the rows that point at them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "alloc.h"
#include "healq.h"
#include "jobs_int.h"
#include "log.h"
#include "spacelease.h"
#include "util.h"

#define HOUR_MS          (3600LL * 1000)
#define SCHED_MAX_NAP_MS (60LL * 1000) /* re-read the clocks at least this often */
#define HASH_PAGE        10000
#define SHARDS_MAX       2000000 /* most shards one space may list (memory bound) */
#define DELETE_BATCH     500
#define SPACE_SAMPLES    20
#define LEASE_WAIT_MS    (10LL * 60000) /* longest wait for another client's run */

/*
 * The leases of the run on this thread. A run executes on the thread that
 * started it (the scheduler's or an HTTP request's), so the loops'
 * jobs_stopping(j) finds them here without passing them through every job.
 */
static _Thread_local jcs_spacelease *run_lease;

static const char *const job_names[JOB_COUNT] = {
    [JOB_CHANGE_REDUNDANCY] = "ChangeRedundancy",
    [JOB_RECOVER] = "RedundancyRecover",
    [JOB_SHRINK] = "RedundancyShrink",
    [JOB_CHECK] = "CheckShardStore",
    [JOB_GC] = "ShardStoreGC",
    [JOB_ACCESS_STATS] = "UpdateAccessStats",
};

static bool job_moves(int job)
{
    return job == JOB_CHANGE_REDUNDANCY || job == JOB_RECOVER || job == JOB_SHRINK || job == JOB_GC;
}

/* ------------------------------------------------------------------ report helpers */

static void note_v(jobs_report *r, int is_error, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (is_error) {
        r->errors++;
        jcs_warn("jobs: %s", msg);
    } else {
        jcs_info("jobs: %s", msg);
    }
    if (r->messages && json_array_size(r->messages) < JOBS_MAX_MESSAGES)
        json_array_append_new(r->messages, json_string(msg));
}

void jobs_note_error(jobs_report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_v(r, 1, fmt, ap);
    va_end(ap);
}

void jobs_note(jobs_report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_v(r, 0, fmt, ap);
    va_end(ap);
}

bool jobs_stopping(jcs_jobs *j)
{
    return jcs_stopper_stopped(j->stop) || jcs_spacelease_lost(run_lease);
}

/* Leases the storage of every user space of this client for the run named holder. */
static int take_leases(jcs_jobs *j, const char *holder, jcs_spacelease **out)
{
    jcs_meta_spaces rows;
    jcs_place_spaces_invalidate(j->svc);
    int rc = jcs_place_spaces(j->svc, &rows);
    if (rc)
        return jcs_err_wrap(rc, "loading user spaces: ");
    rc = jcs_spacelease_take(j->svc->coord, rows.v, rows.n, holder, j->svc->cfg->lease_ttl_ms,
                             LEASE_WAIT_MS, j->stop, out);
    jcs_meta_spaces_clear(&rows);
    if (rc)
        return jcs_err_wrap(rc, "leasing the user spaces' storage at the coordinator: ");
    if (jcs_spacelease_waited_ms(*out) >= 1000)
        jcs_info("%s: waited %" PRId64 " ms for other clients' runs on shared storage", holder,
                 jcs_spacelease_waited_ms(*out));
    return JCS_OK;
}

/* Ends the run's leases; a lost one makes the run "interrupted". */
static void end_leases(jcs_spacelease *l, jobs_report *r)
{
    run_lease = NULL;
    if (jcs_spacelease_lost(l)) {
        r->interrupted = true;
        jobs_note_error(r, "a lease on a user space's storage was lost at the coordinator: the "
                           "run stopped early");
    }
    jcs_spacelease_free(l);
}

static json_t *report_json(const char *job, int64_t start_wall, int64_t ms, jobs_report *r)
{
    char start[JCS_META_TIME_SIZE];
    jcs_meta_time_format(start_wall, start);
    json_t *o = json_object();
    if (!o)
        return NULL;
#define PUT_I(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
    json_object_set_new(o, "job", json_string(job));
    json_object_set_new(o, "startTime", json_string(start));
    PUT_I("durationMs", ms);
    PUT_I("objectsScanned", r->objects_scanned);
    PUT_I("objectsChanged", r->objects_changed);
    PUT_I("objectsSkipped", r->objects_skipped);
    PUT_I("objectsLost", r->objects_lost);
    PUT_I("objectsWaiting", r->objects_waiting);
    PUT_I("blocksRebuilt", r->blocks_rebuilt);
    PUT_I("repairBytesRead", r->repair_bytes_read);
    PUT_I("blocksDropped", r->blocks_dropped);
    PUT_I("pinsDropped", r->pins_dropped);
    PUT_I("spacesChecked", r->spaces_checked);
    PUT_I("shards", r->shards);
    PUT_I("missing", r->missing);
    PUT_I("orphans", r->orphans);
    PUT_I("youngOrphans", r->young_orphans);
    PUT_I("mismatches", r->missing + r->orphans);
    PUT_I("shardsDeleted", r->shards_deleted);
    PUT_I("bytesFreed", r->bytes_freed);
    PUT_I("orphanSidecars", r->orphan_sidecars);
    PUT_I("sidecarsDeleted", r->sidecars_deleted);
    PUT_I("shardsVerified", r->shards_verified);
    PUT_I("bytesVerified", r->bytes_verified);
    PUT_I("corrupt", r->corrupt);
    PUT_I("sidecarsRewritten", r->sidecars_rewritten);
    PUT_I("blocksHealed", r->blocks_healed);
    PUT_I("errors", r->errors);
    PUT_I("leasedStorages", r->leases);
    PUT_I("leaseWaitMs", r->lease_wait_ms);
#undef PUT_I
    json_object_set_new(o, "interrupted", json_boolean(r->interrupted));
    json_object_set(o, "messages", r->messages ? r->messages : json_array());
    if (r->spaces)
        json_object_set(o, "spaces", r->spaces);
    return o;
}

/* ------------------------------------------------------------------ the world */

int jobs_world_load(jcs_jobs *j, jobs_world *w)
{
    memset(w, 0, sizeof *w);
    if (jcs_topo_refresh(j->svc->topo) != 0) {
        /* The cached view is at most a few seconds old; a job can work with it. */
    }
    jcs_place_spaces_invalidate(j->svc);
    int rc = jcs_place_spaces(j->svc, &w->rows);
    if (rc)
        return jcs_err_wrap(rc, "loading user spaces: ");
    jcs_topo_snap *snap = jcs_topo_acquire(j->svc->topo);
    rc = jcs_place_sites_from_rows(snap, w->rows.v, w->rows.n, &w->sites);
    w->offline_ms = rc ? NULL : jcs_calloc(w->rows.n ? w->rows.n : 1, sizeof *w->offline_ms);
    for (size_t i = 0; w->offline_ms && i < w->rows.n; i++) {
        const jcs_topo_hub *h = jcs_topo_snap_find(snap, w->sites.v[i].hub_id);
        w->offline_ms[i] = !h || h->last_heartbeat_ms <= 0 ? -1
                           : h->online                     ? 0
                                                           : jcs_wall_ms() - h->last_heartbeat_ms;
    }
    jcs_topo_snap_release(snap);
    if (rc) {
        jcs_meta_spaces_clear(&w->rows);
        return rc;
    }
    w->cands = jcs_calloc(w->rows.n ? w->rows.n : 1, sizeof *w->cands);
    if (!w->cands || !w->offline_ms) {
        jobs_world_free(w);
        return JCS_ENOMEM;
    }
    for (size_t i = 0; i < w->rows.n; i++)
        jcs_place_cand(&w->rows.v[i], &w->sites, i, &w->cands[i]);
    return JCS_OK;
}

void jobs_world_free(jobs_world *w)
{
    jcs_free(w->offline_ms);
    jcs_place_sites_clear(&w->sites);
    jcs_meta_spaces_clear(&w->rows);
    jcs_free(w->cands);
    memset(w, 0, sizeof *w);
}

long jobs_world_find(const jobs_world *w, int64_t space_id)
{
    for (size_t i = 0; i < w->rows.n; i++)
        if (w->rows.v[i].space_id == space_id)
            return (long)i;
    return -1;
}

/* ------------------------------------------------------------------ UpdateAccessStats */

static int job_access_stats(jcs_jobs *j, jobs_report *r)
{
    (void)r;
    return jcs_meta_access_age(j->svc->db, j->svc->cfg->access_stat_history_weight);
}

/* ------------------------------------------------------------------ CheckShardStore, GC */

typedef struct shard_list {
    jcs_shard_entry *v;
    size_t n, cap;
} shard_list;

static int collect_shard(void *arg, const jcs_shard_entry *e)
{
    shard_list *l = arg;
    if (l->n == l->cap) {
        if (l->cap >= SHARDS_MAX)
            return jcs_err_set(JCS_ETOOBIG, "more than %d shards", SHARDS_MAX);
        size_t cap = l->cap ? l->cap * 2 : 1024;
        jcs_shard_entry *v = jcs_realloc(l->v, cap * sizeof *v);
        if (!v)
            return JCS_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *e;
    return 0;
}

/* A listing with its orphan sidecars apart: they are not shards. */
typedef struct shard_lists {
    shard_list shards, sidecars;
} shard_lists;

static int collect_entry(void *arg, const jcs_shard_entry *e)
{
    shard_lists *l = arg;
    return collect_shard(e->sidecar_only ? &l->sidecars : &l->shards, e);
}

static int shard_cmp(const void *a, const void *b)
{
    return strcmp(((const jcs_shard_entry *)a)->file_hash, ((const jcs_shard_entry *)b)->file_hash);
}

static int hash_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Every FileHash a space's rows reference (blocks and pins), sorted and distinct. */
static int load_refs(jcs_db *db, int64_t space_id, jcs_meta_hashes *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    char after[JCS_HASH_SIZE] = "";
    int rc;
    for (;;) {
        jcs_meta_hashes page;
        if ((rc = jcs_meta_space_hashes(db, space_id, after, HASH_PAGE, &page)) != 0)
            goto fail;
        if (out->n + page.n > cap) {
            size_t ncap = cap ? cap : 1024;
            while (ncap < out->n + page.n)
                ncap *= 2;
            if (ncap > SHARDS_MAX) {
                jcs_meta_hashes_clear(&page);
                rc = jcs_err_set(JCS_ETOOBIG, "more than %d referenced shards", SHARDS_MAX);
                goto fail;
            }
            void *v = jcs_realloc(out->v, ncap * sizeof *out->v);
            if (!v) {
                jcs_meta_hashes_clear(&page);
                rc = JCS_ENOMEM;
                goto fail;
            }
            out->v = v;
            cap = ncap;
        }
        if (page.n)
            memcpy(out->v + out->n, page.v, page.n * sizeof *page.v);
        out->n += page.n;
        size_t got = page.n;
        if (got)
            snprintf(after, sizeof after, "%s", page.v[got - 1]);
        jcs_meta_hashes_clear(&page);
        if (got < HASH_PAGE)
            break;
    }
    jcs_meta_hashes pins;
    if ((rc = jcs_meta_space_pinned_hashes(db, space_id, &pins)) != 0)
        goto fail;
    if (pins.n) {
        void *v = jcs_realloc(out->v, (out->n + pins.n) * sizeof *out->v);
        if (!v) {
            jcs_meta_hashes_clear(&pins);
            rc = JCS_ENOMEM;
            goto fail;
        }
        out->v = v;
        memcpy(out->v + out->n, pins.v, pins.n * sizeof *pins.v);
        out->n += pins.n;
    }
    jcs_meta_hashes_clear(&pins);
    /* The database's collation need not be strcmp's order: sort here, then drop repeats. */
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, hash_cmp);
    size_t m = 0;
    for (size_t i = 0; i < out->n; i++)
        if (m == 0 || strcmp(out->v[m - 1], out->v[i]) != 0)
            memmove(out->v[m++], out->v[i], sizeof out->v[i]);
    out->n = m;
    return JCS_OK;
fail:
    jcs_meta_hashes_clear(out);
    return rc;
}

static bool has_ref(const jcs_meta_hashes *refs, const char *hash)
{
    return refs->n && bsearch(hash, refs->v, refs->n, sizeof *refs->v, hash_cmp) != NULL;
}

static bool has_shard(const shard_list *l, const char *hash)
{
    jcs_shard_entry key;
    snprintf(key.file_hash, sizeof key.file_hash, "%s", hash);
    return l->n && bsearch(&key, l->v, l->n, sizeof *l->v, shard_cmp) != NULL;
}

/* Deletes hashes[0..n) from the site; counts what went. */
static int gc_delete(jcs_jobs *j, const jcs_site *site, const char **hashes, const int64_t *sizes,
                     size_t n, json_t *sp, jobs_report *r)
{
    int64_t deleted = 0;
    int rc = jcs_driver_delete_shards(j->svc->driver, site, hashes, n, &deleted);
    if (rc)
        return rc;
    int64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += sizes[i];
    r->shards_deleted += (int64_t)n;
    r->bytes_freed += bytes;
    json_object_set_new(sp, "deleted",
                        json_integer(json_integer_value(json_object_get(sp, "deleted")) + (int)n));
    json_object_set_new(
        sp, "bytesFreed",
        json_integer(json_integer_value(json_object_get(sp, "bytesFreed")) + (json_int_t)bytes));
    return 0;
}

/* The deep check's pace: sleeps so that bytes read so far take at least their share of time. */
typedef struct scrub_pace {
    int64_t t0_ms;
    int64_t bytes;
} scrub_pace;

static void scrub_wait(jcs_jobs *j, scrub_pace *p, int64_t bytes)
{
    p->bytes += bytes;
    double rate = j->svc->cfg->scrub_rate_mbps * 1e6 / 1000.0; /* bytes per ms */
    int64_t due = p->t0_ms + (int64_t)((double)p->bytes / rate);
    int64_t now = jcs_now_ms();
    if (due > now)
        (void)jcs_stopper_sleep(j->stop, due - now);
}

/*
 * The deep part of CheckShardStore on one space: every referenced shard that
 * is stored is read whole on its hub and checked against its FileHash and
 * checksums (jcs_driver_verify_shard), at tickTock.scrubRateMBps. A corrupt
 * one goes to the heal queue for RedundancyRecover; a missing or damaged
 * checksum sidecar over good content is rewritten by the hub.
 */
static int scrub_space(jcs_jobs *j, const jcs_site *site, int64_t sid, const shard_list *shards,
                       const jcs_meta_hashes *refs, scrub_pace *pace, json_t *sp, jobs_report *r)
{
    int64_t nver = 0, ncorrupt = 0, nside = 0;
    json_t *bad = json_array(), *rewritten = json_array();
    if (!bad || !rewritten) {
        json_decref(bad);
        json_decref(rewritten);
        return JCS_ENOMEM;
    }
    for (size_t k = 0; k < shards->n; k++) {
        const jcs_shard_entry *e = &shards->v[k];
        if (!has_ref(refs, e->file_hash))
            continue; /* orphans are GC's */
        if (jobs_stopping(j)) {
            r->interrupted = true;
            break;
        }
        jcs_shard_entry got;
        int written = 0;
        int rc =
            jcs_driver_verify_shard(j->svc->driver, site, e->file_hash, e->size, &got, &written);
        if (rc == JCS_ECORRUPT) {
            ncorrupt++;
            if (json_array_size(bad) < SPACE_SAMPLES)
                json_array_append_new(bad, json_string(e->file_hash));
            (void)jcs_healq_add(j->svc->db, sid, e->file_hash, jcs_err_msg(rc), 1);
        } else if (rc == JCS_ENOENT) {
            /* Deleted since the listing (GC, an overwrite): nothing to check. */
        } else if (rc) {
            jobs_note_error(r, "user space %" PRId64 ": shard %s not verified: %s", sid,
                            e->file_hash, jcs_err_msg(rc));
            if (rc == JCS_EUNAVAIL || rc == JCS_ETIMEOUT)
                break;
        } else if (written) {
            nside++;
            if (json_array_size(rewritten) < SPACE_SAMPLES)
                json_array_append_new(rewritten, json_string(e->file_hash));
        }
        nver++;
        r->bytes_verified += e->size;
        scrub_wait(j, pace, e->size);
    }
    r->shards_verified += nver;
    r->corrupt += ncorrupt;
    r->sidecars_rewritten += nside;
    json_object_set_new(sp, "verified", json_integer(nver));
    json_object_set_new(sp, "corrupt", json_integer(ncorrupt));
    json_object_set_new(sp, "sidecarsRewritten", json_integer(nside));
    json_object_set_new(sp, "corruptHashes", bad);
    json_object_set_new(sp, "sidecarsRewrittenHashes", rewritten);
    if (ncorrupt)
        jobs_note(r,
                  "user space %" PRId64 ": %" PRId64
                  " shards are corrupt (first %s); queued for RedundancyRecover",
                  sid, ncorrupt, json_string_value(json_array_get(bad, 0)));
    return 0;
}

/* Checks one space; with gc, deletes its old orphans; with pace (deep), verifies its shards. */
static int check_space(jcs_jobs *j, const jobs_world *w, size_t i, bool gc, scrub_pace *pace,
                       jobs_report *r)
{
    const int64_t sid = w->rows.v[i].space_id;
    const jcs_site *site = &w->sites.sites[i];
    shard_lists lists = {0};
    shard_list shards = {0};
    jcs_meta_hashes refs = {0};
    const char **del = NULL;
    int64_t *del_size = NULL;
    int rc;
    json_t *sp =
        json_pack("{sI si si si si si si}", "userSpaceID", (json_int_t)sid, "shards", 0,
                  "referenced", 0, "missing", 0, "orphans", 0, "deleted", 0, "bytesFreed", 0);
    json_t *miss = json_array(), *orph = json_array();
    if (!sp || !miss || !orph) {
        rc = JCS_ENOMEM;
        goto out;
    }
    if (!site->hub) {
        rc = jcs_err_set(JCS_EUNAVAIL, "its hub is offline");
        goto out;
    }
    /* List first, then read the references: a shard committed in between counts as referenced. */
    rc = jcs_driver_list_shards(j->svc->driver, site, 1, collect_entry, &lists);
    shards = lists.shards;
    if (rc)
        goto out;
    if (shards.n)
        qsort(shards.v, shards.n, sizeof *shards.v, shard_cmp);
    if ((rc = load_refs(j->svc->db, sid, &refs)) != 0)
        goto out;
    r->spaces_checked++;
    r->shards += (int64_t)shards.n;
    int64_t nmiss = 0, norph = 0;
    for (size_t k = 0; k < refs.n; k++) {
        if (has_shard(&shards, refs.v[k]))
            continue;
        nmiss++;
        if (json_array_size(miss) < SPACE_SAMPLES)
            json_array_append_new(miss, json_string(refs.v[k]));
    }
    const int64_t cutoff = jcs_wall_ms() - j->svc->cfg->gc_grace_period_ms;
    size_t ndel = 0;
    if (gc && (!(del = jcs_calloc(DELETE_BATCH, sizeof *del)) ||
               !(del_size = jcs_calloc(DELETE_BATCH, sizeof *del_size)))) {
        rc = JCS_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < shards.n; k++) {
        const jcs_shard_entry *e = &shards.v[k];
        if (has_ref(&refs, e->file_hash))
            continue;
        norph++;
        if (json_array_size(orph) < SPACE_SAMPLES)
            json_array_append_new(orph, json_string(e->file_hash));
        if (!gc)
            continue;
        if (e->mtime_ms >= cutoff) {
            r->young_orphans++;
            continue;
        }
        del[ndel] = e->file_hash;
        del_size[ndel] = e->size;
        if (++ndel == DELETE_BATCH) {
            if (jobs_stopping(j)) {
                r->interrupted = true;
                ndel = 0;
                break;
            }
            if ((rc = gc_delete(j, site, del, del_size, ndel, sp, r)) != 0)
                goto out;
            ndel = 0;
        }
    }
    if (ndel && (rc = gc_delete(j, site, del, del_size, ndel, sp, r)) != 0)
        goto out;
    /* Sidecars whose shard is gone: deleted like orphan shards (never one a row names: its
     * shard is missing, which is reported above, and the sidecar still describes it). */
    int64_t nside = 0, nside_del = 0;
    ndel = 0;
    for (size_t k = 0; k < lists.sidecars.n && rc == 0; k++) {
        const jcs_shard_entry *e = &lists.sidecars.v[k];
        if (has_ref(&refs, e->file_hash))
            continue;
        nside++;
        if (!gc || e->mtime_ms >= cutoff)
            continue;
        del[ndel++] = e->file_hash;
        if (ndel == DELETE_BATCH || k + 1 == lists.sidecars.n) {
            int64_t deleted = 0;
            rc = jcs_driver_delete_shards(j->svc->driver, site, del, ndel, &deleted);
            if (rc == 0)
                nside_del += (int64_t)ndel;
            ndel = 0;
        }
    }
    if (ndel && rc == 0) {
        int64_t deleted = 0;
        if ((rc = jcs_driver_delete_shards(j->svc->driver, site, del, ndel, &deleted)) == 0)
            nside_del += (int64_t)ndel;
    }
    if (rc)
        goto out;
    r->orphan_sidecars += nside;
    r->sidecars_deleted += nside_del;
    json_object_set_new(sp, "orphanSidecars", json_integer(nside));
    json_object_set_new(sp, "sidecarsDeleted", json_integer(nside_del));
    r->missing += nmiss;
    r->orphans += norph;
    json_object_set_new(sp, "shards", json_integer((json_int_t)shards.n));
    json_object_set_new(sp, "referenced", json_integer((json_int_t)refs.n));
    json_object_set_new(sp, "missing", json_integer(nmiss));
    json_object_set_new(sp, "orphans", json_integer(norph));
    json_object_set(sp, "missingHashes", miss);
    json_object_set(sp, "orphanHashes", orph);
    if (nmiss)
        jobs_note(r, "user space %" PRId64 ": %" PRId64 " referenced shards are missing (first %s)",
                  sid, nmiss, json_string_value(json_array_get(miss, 0)));
    if (pace)
        rc = scrub_space(j, site, sid, &shards, &refs, pace, sp, r);
out:
    if (rc) {
        jobs_note_error(r, "user space %" PRId64 ": not checked: %s", sid, jcs_err_msg(rc));
        if (sp)
            json_object_set_new(sp, "error", json_string(jcs_err_msg(rc)));
    }
    if (sp && r->spaces)
        json_array_append(r->spaces, sp);
    json_decref(sp);
    json_decref(miss);
    json_decref(orph);
    jcs_free(del);
    jcs_free(del_size);
    jcs_free(shards.v);
    jcs_free(lists.sidecars.v);
    jcs_meta_hashes_clear(&refs);
    return rc == JCS_ENOMEM ? rc : 0;
}

static int job_check(jcs_jobs *j, jobs_report *r, bool gc)
{
    jobs_world w;
    scrub_pace pace = {jcs_now_ms(), 0};
    const bool deep = !gc && j->deep;
    int rc = jobs_world_load(j, &w);
    if (rc)
        return rc;
    if (!(r->spaces = json_array()))
        rc = JCS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < w.rows.n; i++) {
        if (jobs_stopping(j)) {
            r->interrupted = true;
            break;
        }
        rc = check_space(j, &w, i, gc, deep ? &pace : NULL, r);
    }
    jobs_world_free(&w);
    return rc;
}

/* ------------------------------------------------------------------ running a job */

static int run_index(jcs_jobs *j, int job, int deep, json_t **out)
{
    jobs_report r = {0};
    *out = NULL;
    if (!(r.messages = json_array()))
        return JCS_ENOMEM;
    pthread_mutex_lock(&j->job_mu[job]);
    if (job == JOB_CHECK)
        j->deep = deep < 0 ? j->svc->cfg->deep_check : deep > 0;
    if (job_moves(job))
        pthread_mutex_lock(&j->move_mu);
    /* Leases first: startTime and durationMs then describe the work alone. */
    jcs_spacelease *lease = NULL;
    int rc = job == JOB_ACCESS_STATS ? 0 : take_leases(j, job_names[job], &lease);
    if (rc) {
        if (job_moves(job))
            pthread_mutex_unlock(&j->move_mu);
        pthread_mutex_unlock(&j->job_mu[job]);
        json_decref(r.messages);
        return jcs_err_wrap(rc, "job %s: ", job_names[job]);
    }
    run_lease = lease;
    r.leases = (int64_t)jcs_spacelease_count(lease);
    r.lease_wait_ms = jcs_spacelease_waited_ms(lease);
    const int64_t t0 = jcs_now_ms(), w0 = jcs_wall_ms();
    /* The jobs place and age by the access statistics: count every read so far. */
    rc = jcs_access_flush(j->svc->access);
    if (rc)
        jobs_note_error(&r, "access statistics not flushed: %s", jcs_err_msg(rc));
    switch (job) {
    case JOB_CHANGE_REDUNDANCY:
        rc = jobs_change_redundancy(j, &r);
        break;
    case JOB_RECOVER:
        rc = jobs_recover(j, &r);
        break;
    case JOB_SHRINK:
        rc = jobs_shrink(j, &r);
        break;
    case JOB_CHECK:
        rc = job_check(j, &r, false);
        break;
    case JOB_GC:
        rc = job_check(j, &r, true);
        break;
    default:
        rc = job_access_stats(j, &r);
        break;
    }
    const int64_t ms = jcs_now_ms() - t0;
    end_leases(lease, &r);
    if (job_moves(job))
        pthread_mutex_unlock(&j->move_mu);
    pthread_mutex_unlock(&j->job_mu[job]);
    if (rc == 0) {
        *out = report_json(job_names[job], w0, ms, &r);
        if (*out && job == JOB_CHECK)
            json_object_set_new(*out, "deep", json_boolean(j->deep));
        if (!*out)
            rc = JCS_ENOMEM;
    } else {
        rc = jcs_err_wrap(rc, "job %s: ", job_names[job]);
    }
    json_decref(r.messages);
    json_decref(r.spaces);
    return rc;
}

int jcs_jobs_run(jcs_jobs *j, const char *name, json_t **report)
{
    return jcs_jobs_run_deep(j, name, -1, report);
}

int jcs_jobs_run_deep(jcs_jobs *j, const char *name, int deep, json_t **report)
{
    *report = NULL;
    int job = -1;
    for (int i = 0; i < JOB_COUNT && job < 0; i++)
        if (name && strcmp(name, job_names[i]) == 0)
            job = i;
    if (job < 0)
        return jcs_err_set(JCS_EINVAL,
                           "field job: unknown job \"%.100s\" (known: ChangeRedundancy, "
                           "RedundancyRecover, RedundancyShrink, CheckShardStore, ShardStoreGC, "
                           "UpdateAccessStats)",
                           name ? name : "");
    if (!j)
        return jcs_err_set(JCS_EUNAVAIL, "job %s: the background jobs are not running", name);
    return run_index(j, job, deep, report);
}

int jcs_jobs_migrate_space(jcs_jobs *j, int64_t space_id)
{
    if (!j)
        return jcs_err_set(JCS_EUNAVAIL, "user space %lld: the background jobs are not running",
                           (long long)space_id);
    jobs_report r = {0};
    if (!(r.messages = json_array()))
        return JCS_ENOMEM;
    pthread_mutex_lock(&j->move_mu);
    char holder[64];
    snprintf(holder, sizeof holder, "migration of user space %lld", (long long)space_id);
    jcs_spacelease *lease = NULL;
    int rc = take_leases(j, holder, &lease);
    if (rc == 0) {
        run_lease = lease;
        rc = jobs_migrate(j, space_id, &r);
        end_leases(lease, &r);
    }
    pthread_mutex_unlock(&j->move_mu);
    if (rc == 0 && r.interrupted)
        rc = jcs_err_set(JCS_ECANCELED, "user space %lld: migration interrupted by shutdown",
                         (long long)space_id);
    else if (rc == 0 && (r.errors || r.objects_lost))
        rc = jcs_err_set(JCS_EUNAVAIL,
                         "user space %lld: %" PRId64 " objects could not be moved (%s)",
                         (long long)space_id, r.errors + r.objects_lost,
                         json_string_value(json_array_get(r.messages, 0)));
    else if (rc == 0)
        jcs_info("user space %lld: %" PRId64 " objects moved away", (long long)space_id,
                 r.objects_changed);
    json_decref(r.messages);
    json_decref(r.spaces);
    return rc;
}

/* ------------------------------------------------------------------ scheduler */

static void run_scheduled(jcs_jobs *j, int job)
{
    if (jobs_stopping(j))
        return;
    json_t *rep = NULL;
    int rc = run_index(j, job, -1, &rep);
    if (rc) {
        jcs_warn("scheduled %s: %s", job_names[job], jcs_err_msg(rc));
        return;
    }
    char *s = json_dumps(rep, JSON_COMPACT);
    jcs_info("scheduled %s: %s", job_names[job], s ? s : "(report)");
    free(s); /* jansson allocates with malloc */
    json_decref(rep);
}

static void *sched_main(void *arg)
{
    jcs_jobs *j = arg;
    int64_t next_hourly = jcs_now_ms() + HOUR_MS;
    int64_t next_daily = jcs_jobplan_next_midnight(jcs_wall_ms());
    while (!jobs_stopping(j)) {
        int64_t nap = SCHED_MAX_NAP_MS, d;
        if ((d = next_hourly - jcs_now_ms()) < nap)
            nap = d;
        if ((d = next_daily - jcs_wall_ms()) < nap)
            nap = d;
        if (nap > 0 && jcs_stopper_sleep(j->stop, nap))
            break;
        if (jcs_wall_ms() >= next_daily) {
            run_scheduled(j, JOB_ACCESS_STATS);
            run_scheduled(j, JOB_CHANGE_REDUNDANCY);
            run_scheduled(j, JOB_CHECK);
            next_daily = jcs_jobplan_next_midnight(jcs_wall_ms());
        }
        if (jcs_now_ms() >= next_hourly) {
            run_scheduled(j, JOB_RECOVER);
            run_scheduled(j, JOB_SHRINK);
            run_scheduled(j, JOB_GC);
            next_hourly = jcs_now_ms() + HOUR_MS;
        }
    }
    return NULL;
}

int jcs_jobs_start(struct jcs_svc *svc, jcs_jobs **out)
{
    *out = NULL;
    jcs_jobs *j = jcs_calloc(1, sizeof *j);
    if (!j)
        return JCS_ENOMEM;
    j->svc = svc;
    j->seed = (uint64_t)jcs_wall_ms() * 0x9E3779B97F4A7C15ULL + 1;
    int rc = jcs_stopper_new(&j->stop);
    if (rc) {
        jcs_free(j);
        return rc;
    }
    for (int i = 0; i < JOB_COUNT; i++)
        pthread_mutex_init(&j->job_mu[i], NULL);
    pthread_mutex_init(&j->move_mu, NULL);
    if (pthread_create(&j->thread, NULL, sched_main, j) != 0) {
        jcs_jobs_stop(j);
        return jcs_err_set(JCS_EIO, "background jobs: cannot start the scheduler thread");
    }
    j->thread_started = true;
    *out = j;
    return JCS_OK;
}

void jcs_jobs_stop(jcs_jobs *j)
{
    if (!j)
        return;
    jcs_stopper_stop(j->stop);
    if (j->thread_started)
        pthread_join(j->thread, NULL);
    /* A migration or an on-demand run still in a handler finishes before the mutexes go. */
    for (int i = 0; i < JOB_COUNT; i++) {
        pthread_mutex_lock(&j->job_mu[i]);
        pthread_mutex_unlock(&j->job_mu[i]);
        pthread_mutex_destroy(&j->job_mu[i]);
    }
    pthread_mutex_lock(&j->move_mu);
    pthread_mutex_unlock(&j->move_mu);
    pthread_mutex_destroy(&j->move_mu);
    jcs_stopper_free(j->stop);
    jcs_free(j);
}
