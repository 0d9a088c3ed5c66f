/*
 * The background jobs that move data: ChangeRedundancy, RedundancyRecover,
 * RedundancyShrink, and the migration of a space's blocks.
 *
 * Every object is handled on its own: read its row with its blocks (one
 * page at a time, by id), write the new blocks through the driver, then
 * switch the metadata in one transaction with a compare-and-swap on the
 * object's FileHash (jcs_meta_object_change_redundancy), so an object
 * re-uploaded meanwhile keeps its new content (the job skips it) and a
 * failure leaves the object as it was. Old shards are left to
 * ShardStoreGC. Stop is checked between objects.
 *
 * Replacing blocks (recovery and migration share it). Some blocks of an
 * object are to be replaced (lost, or on the space being emptied); some
 * blocks can be read (sources). Per redundancy:
 *   ec       an index still held by a kept block needs nothing; an index
 *            whose block can still be read (a migration) is copied as it
 *            is; the other indexes are re-encoded from any k readable
 *            blocks (jcs_driver_repair); fewer than k readable is a loss;
 *   none/rep copies are made from the nearest readable copy until the
 *            object has its width (1 / repCount) again on distinct
 *            spaces; no readable copy is a loss;
 *   segment  each replaced segment is copied from its own readable shard.
 * A copy is a plan reading one shard raw and writing it raw (a "none"
 * redundancy change of the shard alone), so the new shard's FileHash must
 * equal the old one; the job checks it. New blocks go to usable spaces
 * that hold no block of the object, one per location first.
 *
 * The plans name no compute site: the driver's policy (ioswitch.computeAt,
 * driver.h) codes them on a hub next to the data, so under auto no object
 * byte of a change, repair, copy or migration passes through the client.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "download.h"
#include "healq.h"
#include "jobs_int.h"
#include "log.h"
#include "shrink.h"

#define PAGE 100

enum kind { K_NONE, K_REP, K_EC, K_SEGMENT, K_MULTIPART, K_OTHER };

/* One object as the jobs see it. */
typedef struct objv {
    const jcs_meta_detail *d;
    enum kind kind;
    jcs_redundancy red; /* K_NONE, K_REP, K_EC */
    jcs_block *blocks;  /* the driver's form of d->blocks */
    jcs_site *sites;    /* where each block is (space NULL: unknown space) */
    long *row;          /* world row of each block's space, -1 unknown */
} objv;

static void objv_free(objv *v)
{
    jcs_free(v->blocks);
    jcs_free(v->sites);
    jcs_free(v->row);
    memset(v, 0, sizeof *v);
}

static enum kind red_kind(const char *json, jcs_redundancy *red)
{
    json_t *o = json_loads(json, 0, NULL);
    const char *t = json_string_value(json_object_get(o, "type"));
    enum kind k = K_OTHER;
    if (t && strcmp(t, "segment") == 0)
        k = K_SEGMENT;
    else if (t && strcmp(t, "multipartUpload") == 0)
        k = K_MULTIPART;
    else if (t && (strcmp(t, "none") == 0 || strcmp(t, "rep") == 0 || strcmp(t, "ec") == 0 ||
                   strcmp(t, "lrc") == 0)) {
        /* An lrc object is K_EC here: n indexed blocks rebuilt by jcs_driver_repair. */
        if (jcs_client_config_redundancy_parse(o, "redundancy", red) == 0)
            k = red->type == JCS_RED_NONE ? K_NONE : red->type == JCS_RED_REP ? K_REP : K_EC;
    }
    json_decref(o);
    return k;
}

static int objv_init(const jobs_world *w, const jcs_meta_detail *d, objv *v)
{
    memset(v, 0, sizeof *v);
    v->d = d;
    v->kind = red_kind(d->object.redundancy, &v->red);
    size_t n = d->nblocks ? d->nblocks : 1;
    v->blocks = jcs_calloc(n, sizeof *v->blocks);
    v->sites = jcs_calloc(n, sizeof *v->sites);
    v->row = jcs_calloc(n, sizeof *v->row);
    if (!v->blocks || !v->sites || !v->row) {
        objv_free(v);
        return JCS_ENOMEM;
    }
    for (size_t i = 0; i < d->nblocks; i++) {
        const jcs_meta_block *b = &d->blocks[i];
        v->blocks[i].index = b->index;
        v->blocks[i].space_id = b->space_id;
        snprintf(v->blocks[i].file_hash, sizeof v->blocks[i].file_hash, "%s", b->file_hash);
        v->blocks[i].size = b->size;
        v->row[i] = jobs_world_find(w, b->space_id);
        if (v->row[i] >= 0) {
            v->sites[i] = w->sites.sites[v->row[i]];
        } else {
            v->sites[i].space = NULL;
            v->sites[i].hub = NULL;
            v->sites[i].distance = INFINITY;
        }
    }
    return JCS_OK;
}

static bool reachable(const objv *v, size_t i)
{
    return v->sites[i].hub != NULL && v->sites[i].space != NULL;
}

/* Sites for chosen space ids (all known to the world). */
static void target_sites(const jobs_world *w, const int64_t *ids, size_t n, jcs_site *out)
{
    for (size_t i = 0; i < n; i++) {
        long r = jobs_world_find(w, ids[i]);
        out[i] = w->sites.sites[r];
    }
}

static void to_meta(const jcs_block *b, jcs_meta_block *m)
{
    m->index = b->index;
    m->space_id = b->space_id;
    snprintf(m->file_hash, sizeof m->file_hash, "%s", b->file_hash);
    m->size = b->size;
}

/* Switches the object's blocks (CAS on its FileHash). 1: changed, 0: skipped (changed meanwhile).
 */
static int commit(jcs_jobs *j, const objv *v, const char *redundancy, const jcs_meta_block *blocks,
                  size_t n, jobs_report *r)
{
    int rc = jcs_meta_object_change_redundancy(j->svc->db, v->d->object.object_id,
                                               v->d->object.file_hash, redundancy, blocks, n, NULL);
    if (rc == JCS_EBUSY || rc == JCS_ENOENT) {
        r->objects_skipped++;
        jobs_note(r, "object %" PRId64 ": changed or deleted meanwhile, left as it is",
                  v->d->object.object_id);
        return 0;
    }
    if (rc)
        return rc;
    r->objects_changed++;
    return 1;
}

/*
 * Copies one shard (hash, size) from the readable blocks src[0..nsrc) onto
 * targets[0..nt) as a raw copy; out[i] gets index index and the new shard.
 */
static int copy_shard(jcs_jobs *j, const jcs_block *src, const jcs_site *src_sites, size_t nsrc,
                      const char *hash, int64_t size, const jcs_site *targets, size_t nt,
                      jcs_block *out)
{
    jcs_redundancy from = {.type = JCS_RED_NONE};
    jcs_redundancy to = {.type = nt == 1 ? JCS_RED_NONE : JCS_RED_REP, .rep_count = (int)nt};
    size_t nout = 0;
    jcs_driver_change_req req = {.src = {.blocks = src,
                                         .sites = src_sites,
                                         .nblocks = nsrc,
                                         .red = &from,
                                         .object_size = size},
                                 .to = &to,
                                 .targets = targets,
                                 .ntargets = nt};
    int rc = jcs_driver_change_redundancy(j->svc->driver, &req, out, &nout);
    if (rc)
        return rc;
    for (size_t i = 0; i < nout; i++)
        if (strcmp(out[i].file_hash, hash) != 0 || out[i].size != size)
            return jcs_err_set(JCS_ECORRUPT,
                               "copying shard %s (%" PRId64 " bytes) to user space %" PRId64
                               " gave %s (%" PRId64 " bytes)",
                               hash, size, out[i].space_id, out[i].file_hash, out[i].size);
    return JCS_OK;
}

/*
 * Replaces the blocks marked repl[] of v; src[] marks the readable blocks.
 * avoid: a space no new block may go to (0: none). *lost is set when the
 * object cannot be rebuilt (nothing changes then). Counts into r.
 */
static int replace_blocks(jcs_jobs *j, const jobs_world *w, objv *v, const bool *repl,
                          const bool *src, int64_t avoid, bool *lost, jobs_report *r)
{
    const jcs_meta_detail *d = v->d;
    const size_t n = d->nblocks;
    *lost = false;
    int rc = JCS_OK;
    /* Plan: new[i] describes new block i: its index, and for copies the block to copy. */
    size_t cap = n + (v->kind == K_REP ? (size_t)v->red.rep_count : 0) + 1;
    int *new_index = jcs_calloc(cap, sizeof *new_index);
    long *copy_of = jcs_calloc(cap, sizeof *copy_of); /* block copied, -1: EC re-encode */
    int64_t *excl = jcs_calloc(n + cap + 1, sizeof *excl),
            *locs = jcs_calloc(n + cap + 1, sizeof *locs);
    int64_t *own = jcs_calloc(n + 1, sizeof *own);
    int64_t *tid = jcs_calloc(cap, sizeof *tid);
    jcs_site *tsite = jcs_calloc(cap, sizeof *tsite);
    jcs_block *nb = jcs_calloc(cap, sizeof *nb), *sb = jcs_calloc(n + 1, sizeof *sb);
    jcs_site *ss = jcs_calloc(n + 1, sizeof *ss);
    jcs_meta_block *mb = jcs_calloc(n + cap, sizeof *mb);
    if (!new_index || !copy_of || !excl || !locs || !own || !tid || !tsite || !nb || !sb || !ss ||
        !mb) {
        rc = JCS_ENOMEM;
        goto out;
    }
    size_t nnew = 0, nexcl = 0, nlocs = 0, nown = 0;
    /*
     * A replaced block's own space may take its new block (it is preferred: a shard lost or
     * found corrupt on a healthy space goes back where it was); the spaces of the kept blocks
     * may not, so the object stays on distinct spaces.
     */
    for (size_t i = 0; i < n; i++) {
        if (repl[i] && d->blocks[i].space_id != avoid) {
            own[nown++] = d->blocks[i].space_id;
            continue;
        }
        excl[nexcl++] = d->blocks[i].space_id;
        if (!repl[i] && v->row[i] >= 0)
            locs[nlocs++] = w->rows.v[v->row[i]].location_id;
    }
    for (size_t i = 0; i < n; i++)
        if (!repl[i])
            for (size_t k = 0; k < nown; k++)
                if (own[k] == d->blocks[i].space_id)
                    own[k] = 0; /* also holds a kept block */
    if (avoid)
        excl[nexcl++] = avoid;

    if (v->kind == K_EC) {
        unsigned char kept[256] = {0}, readable[256] = {0}, planned[256] = {0};
        int nreadable = 0;
        for (size_t i = 0; i < n; i++) {
            int x = d->blocks[i].index;
            if (x < 0 || x >= v->red.n)
                continue;
            if (!repl[i])
                kept[x] = 1;
            if (src[i] && !readable[x]) {
                readable[x] = 1;
                nreadable++;
            }
        }
        for (size_t i = 0; i < n; i++) {
            int x = d->blocks[i].index;
            if (!repl[i] || x < 0 || x >= v->red.n || kept[x] || planned[x])
                continue;
            planned[x] = 1;
            new_index[nnew] = x;
            copy_of[nnew] = -1;
            for (size_t s = 0; s < n && copy_of[nnew] < 0; s++)
                if (src[s] && d->blocks[s].index == x)
                    copy_of[nnew] = (long)s;
            nnew++;
        }
        int need_decode = 0;
        for (size_t k = 0; k < nnew; k++)
            need_decode |= copy_of[k] < 0;
        if (need_decode && nreadable < v->red.k) {
            *lost = true;
            goto out;
        }
    } else if (v->kind == K_NONE || v->kind == K_REP) {
        size_t width = jcs_place_red_width(&v->red), nkept = 0;
        long first_src = -1;
        for (size_t i = 0; i < n; i++) {
            if (src[i] && first_src < 0)
                first_src = (long)i;
            if (repl[i])
                continue;
            bool dup = false;
            for (size_t k = 0; k < i && !dup; k++)
                dup = !repl[k] && d->blocks[k].space_id == d->blocks[i].space_id;
            nkept += !dup;
        }
        int next = 0;
        for (size_t i = 0; i < n; i++)
            if (d->blocks[i].index >= next)
                next = d->blocks[i].index + 1;
        size_t reuse = 0;
        while (nkept + nnew < width) {
            if (first_src < 0) {
                *lost = true;
                goto out;
            }
            /* Reuse the replaced blocks' indexes first, so replicas keep their numbers. */
            int idx = -1;
            for (; reuse < n && idx < 0; reuse++)
                if (repl[reuse])
                    idx = d->blocks[reuse].index;
            new_index[nnew] = idx >= 0 ? idx : next++;
            copy_of[nnew] = first_src;
            nnew++;
        }
    } else if (v->kind == K_SEGMENT) {
        for (size_t i = 0; i < n; i++) {
            if (!repl[i])
                continue;
            long s = -1;
            for (size_t k = 0; k < n && s < 0; k++)
                if (src[k] && strcmp(d->blocks[k].file_hash, d->blocks[i].file_hash) == 0)
                    s = (long)k;
            if (s < 0) {
                *lost = true;
                goto out;
            }
            new_index[nnew] = d->blocks[i].index;
            copy_of[nnew] = s;
            nnew++;
        }
    } else {
        rc = jcs_err_set(JCS_EINVAL, "its redundancy %s cannot be rebuilt", d->object.redundancy);
        goto out;
    }

    /* Targets: segments only need to leave the avoided space; the others stay distinct. */
    if (v->kind == K_SEGMENT) {
        for (size_t k = 0; k < nnew && rc == 0; k++) {
            int64_t ex[2] = {avoid, d->blocks[copy_of[k]].space_id};
            rc = jcs_jobplan_choose(w->cands, w->rows.n, 1, ex, 2, NULL, 0, NULL, 0, &tid[k]);
        }
    } else {
        /*
         * A new block whose index a replaced block had goes back to that block's space when
         * the space is usable (a shard lost or corrupt on a healthy space is rebuilt in place);
         * the others are chosen among the remaining spaces.
         */
        size_t nfree = 0;
        for (size_t k = 0; k < nnew; k++) {
            tid[k] = 0;
            for (size_t i = 0; i < n && !tid[k]; i++) {
                int64_t sp = d->blocks[i].space_id;
                bool taken = false;
                for (size_t q = 0; q < k; q++)
                    taken |= tid[q] == sp;
                for (size_t q = 0; q < nown && !taken; q++)
                    if (own[q] == sp) {
                        long row = jobs_world_find(w, sp);
                        if (repl[i] && d->blocks[i].index == new_index[k] && row >= 0 &&
                            w->cands[row].usable && isfinite(w->cands[row].distance))
                            tid[k] = sp;
                    }
            }
            if (tid[k]) {
                excl[nexcl++] = tid[k];
                long row = jobs_world_find(w, tid[k]);
                locs[nlocs++] = w->rows.v[row].location_id;
            } else {
                nfree++;
            }
        }
        int64_t *more = nfree ? jcs_calloc(nfree, sizeof *more) : NULL;
        if (nfree && !more)
            rc = JCS_ENOMEM;
        else if (nfree)
            rc = jcs_jobplan_choose(w->cands, w->rows.n, nfree, excl, nexcl, locs, nlocs, NULL, 0,
                                    more);
        for (size_t k = 0, m = 0; rc == 0 && k < nnew; k++)
            if (!tid[k])
                tid[k] = more[m++];
        jcs_free(more);
    }
    if (rc)
        goto out;
    target_sites(w, tid, nnew, tsite);

    /* Copies, one plan per block copied (a rep object's copies share one plan). */
    if (v->kind == K_REP || v->kind == K_NONE) {
        size_t nsrc = 0;
        for (size_t i = 0; i < n; i++)
            if (src[i]) {
                sb[nsrc] = v->blocks[i];
                ss[nsrc++] = v->sites[i];
            }
        if (nnew && (rc = copy_shard(j, sb, ss, nsrc, d->object.file_hash, d->object.size, tsite,
                                     nnew, nb)) != 0)
            goto out;
        for (size_t k = 0; k < nnew; k++)
            nb[k].index = new_index[k];
    } else {
        int lost_idx[256];
        jcs_site lost_sites[256];
        size_t nlost = 0, map[256];
        for (size_t k = 0; k < nnew; k++) {
            if (copy_of[k] < 0) {
                lost_idx[nlost] = new_index[k];
                lost_sites[nlost] = tsite[k];
                map[nlost++] = k;
                continue;
            }
            const size_t s = (size_t)copy_of[k];
            if ((rc = copy_shard(j, &v->blocks[s], &v->sites[s], 1, v->blocks[s].file_hash,
                                 v->blocks[s].size, &tsite[k], 1, &nb[k])) != 0)
                goto out;
            nb[k].index = new_index[k];
        }
        if (nlost) {
            size_t nsrc = 0;
            jcs_block rb[256];
            for (size_t i = 0; i < n; i++)
                if (src[i]) {
                    sb[nsrc] = v->blocks[i];
                    ss[nsrc++] = v->sites[i];
                }
            int64_t bread = 0;
            jcs_driver_repair_req req = {.src = {.blocks = sb,
                                                 .sites = ss,
                                                 .nblocks = nsrc,
                                                 .red = &v->red,
                                                 .object_size = d->object.size},
                                         .lost_index = lost_idx,
                                         .nlost = nlost,
                                         .targets = lost_sites,
                                         .bytes_read = &bread};
            if ((rc = jcs_driver_repair(j->svc->driver, &req, rb)) != 0)
                goto out;
            r->repair_bytes_read += bread;
            jobs_note(r,
                      "object %" PRId64 ": rebuilt %zu block(s) (first: %d) reading %" PRId64
                      " bytes of survivors",
                      d->object.object_id, nlost, lost_idx[0], bread);
            for (size_t q = 0; q < nlost; q++)
                nb[map[q]] = rb[q];
        }
    }

    size_t nm = 0;
    for (size_t i = 0; i < n; i++)
        if (!repl[i])
            mb[nm++] = d->blocks[i];
    for (size_t k = 0; k < nnew; k++)
        to_meta(&nb[k], &mb[nm++]);
    for (size_t i = 0; i < n; i++)
        r->blocks_dropped += repl[i];
    if (nm == 0) {
        rc = jcs_err_set(JCS_EINTERNAL, "no block would be left");
        goto out;
    }
    r->blocks_rebuilt += (int64_t)nnew;
    rc = commit(j, v, d->object.redundancy, mb, nm, r);
    rc = rc > 0 ? 0 : rc;
out:
    jcs_free(new_index);
    jcs_free(copy_of);
    jcs_free(excl);
    jcs_free(locs);
    jcs_free(own);
    jcs_free(tid);
    jcs_free(tsite);
    jcs_free(nb);
    jcs_free(sb);
    jcs_free(ss);
    jcs_free(mb);
    return rc;
}

/* Calls fn for every object (space_id > 0: with a block there), page by page, until stop. */
typedef int (*object_fn)(jcs_jobs *j, const jobs_world *w, const jcs_meta_detail *d, void *arg,
                         jobs_report *r);

static int each_object(jcs_jobs *j, const jobs_world *w, int64_t space_id, object_fn fn, void *arg,
                       jobs_report *r)
{
    int64_t after = 0;
    for (;;) {
        jcs_meta_details page;
        int rc = jcs_meta_objects_page(j->svc->db, space_id, after, PAGE, &page);
        if (rc)
            return jcs_err_wrap(rc, "listing objects after %" PRId64 ": ", after);
        for (size_t i = 0; i < page.n; i++) {
            if (jobs_stopping(j)) {
                r->interrupted = true;
                jcs_meta_details_clear(&page);
                return 0;
            }
            const jcs_meta_detail *d = &page.v[i];
            after = d->object.object_id;
            r->objects_scanned++;
            rc = fn(j, w, d, arg, r);
            if (rc == JCS_ENOMEM) {
                jcs_meta_details_clear(&page);
                return rc;
            }
            if (rc)
                jobs_note_error(r, "object %" PRId64 " (%s): %s", d->object.object_id,
                                d->object.path, jcs_err_msg(rc));
        }
        size_t got = page.n;
        jcs_meta_details_clear(&page);
        if (got < PAGE)
            return 0;
    }
}

/* each_object over a freshly loaded view of the spaces and hubs. */
static int each_object_loaded(jcs_jobs *j, int64_t space_id, object_fn fn, void *arg,
                              jobs_report *r)
{
    jobs_world w;
    int rc = jobs_world_load(j, &w);
    if (rc)
        return rc;
    rc = each_object(j, &w, space_id, fn, arg, r);
    jobs_world_free(&w);
    return rc;
}

/* ------------------------------------------------------------------ ChangeRedundancy */

static int stat_cmp(const void *a, const void *b)
{
    const jcs_meta_stat *x = a, *y = b;
    double ax = x->amount + x->counter, ay = y->amount + y->counter;
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return x->space_id < y->space_id ? -1 : x->space_id > y->space_id;
}

static int change_one(jcs_jobs *j, const jobs_world *w, const jcs_meta_detail *d, void *arg,
                      jobs_report *r)
{
    (void)arg;
    const jcs_client_config *cfg = j->svc->cfg;
    objv v;
    int rc = objv_init(w, d, &v);
    if (rc)
        return rc;
    jcs_meta_stats st = {0};
    int64_t *prefer = NULL, *tid = NULL;
    jcs_site *ts = NULL;
    jcs_block *out = NULL;
    jcs_meta_block *mb = NULL;
    char *red_json = NULL;
    if (v.kind != K_NONE && v.kind != K_REP && v.kind != K_EC)
        goto out; /* segments, multipart uploads: not this job's */
    /* Fitted to the object (jcs_ec_fit), as an upload of it would be stored. */
    jcs_redundancy conf_want =
        jcs_jobplan_target_red(d->object.size, cfg->ec_file_size_threshold, &cfg->redundancy);
    jcs_redundancy want = jcs_ec_fit(&conf_want, d->object.size);
    if (jcs_jobplan_red_satisfied(&v.red, &want))
        goto out;
    for (size_t i = 0; i < d->nblocks; i++)
        if (!reachable(&v, i)) {
            r->objects_skipped++;
            jobs_note(r, "object %" PRId64 ": user space %" PRId64 " is unreachable, skipped",
                      d->object.object_id, d->blocks[i].space_id);
            goto out;
        }
    /* The spaces that read the object most come first. */
    if ((rc = jcs_meta_object_stats(j->svc->db, d->object.object_id, &st)) != 0)
        goto out;
    if (st.n)
        qsort(st.v, st.n, sizeof *st.v, stat_cmp);
    size_t width = jcs_place_red_width(&want);
    prefer = jcs_calloc(st.n + 1, sizeof *prefer);
    tid = jcs_calloc(width, sizeof *tid);
    ts = jcs_calloc(width, sizeof *ts);
    out = jcs_calloc(width, sizeof *out);
    mb = jcs_calloc(width, sizeof *mb);
    if (!prefer || !tid || !ts || !out || !mb) {
        rc = JCS_ENOMEM;
        goto out;
    }
    size_t np = 0;
    for (size_t i = 0; i < st.n; i++)
        if (st.v[i].amount + st.v[i].counter > 0)
            prefer[np++] = st.v[i].space_id;
    if ((rc = jcs_jobplan_choose(w->cands, w->rows.n, width, NULL, 0, NULL, 0, prefer, np, tid)) !=
        0) {
        r->objects_skipped++;
        jobs_note(r, "object %" PRId64 ": %s", d->object.object_id, jcs_err_msg(rc));
        rc = 0;
        goto out;
    }
    target_sites(w, tid, width, ts);
    size_t nout = 0;
    jcs_driver_change_req req = {.src = {.blocks = v.blocks,
                                         .sites = v.sites,
                                         .nblocks = d->nblocks,
                                         .red = &v.red,
                                         .object_size = d->object.size},
                                 .to = &want,
                                 .targets = ts,
                                 .ntargets = width};
    /* A source found corrupt is left aside and the change tried again from the others. */
    for (size_t attempt = 0; attempt <= d->nblocks; attempt++) {
        rc = jcs_driver_change_redundancy(j->svc->driver, &req, out, &nout);
        if (rc == 0 || rc == JCS_ENOMEM ||
            jcs_download_drop_bad(j->svc, v.blocks, v.sites, d->nblocks) == 0)
            break;
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < nout; i++)
        to_meta(&out[i], &mb[i]);
    if (!(red_json = jcs_client_config_redundancy_json(&want))) {
        rc = JCS_ENOMEM;
        goto out;
    }
    rc = commit(j, &v, red_json, mb, nout, r);
    if (rc > 0) {
        jcs_info("object %" PRId64 ": redundancy %s -> %s", d->object.object_id,
                 d->object.redundancy, red_json);
        rc = 0;
    }
out:
    jcs_meta_stats_clear(&st);
    jcs_free(prefer);
    jcs_free(tid);
    jcs_free(ts);
    jcs_free(out);
    jcs_free(mb);
    jcs_free(red_json);
    objv_free(&v);
    return rc;
}

int jobs_change_redundancy(jcs_jobs *j, jobs_report *r)
{
    return each_object_loaded(j, 0, change_one, NULL, r);
}

/* ------------------------------------------------------------------ RedundancyRecover */

/* The heal queue as RedundancyRecover sees it: which entries an object's blocks named. */
typedef struct recover_arg {
    jcs_healq_item *q;
    size_t nq;
    bool *seen; /* parallel to q */
} recover_arg;

static long queued_at(const recover_arg *a, int64_t space_id, const char *hash)
{
    for (size_t k = 0; k < a->nq; k++)
        if (a->q[k].space_id == space_id && strcmp(a->q[k].file_hash, hash) == 0)
            return (long)k;
    return -1;
}

static int recover_one(jcs_jobs *j, const jobs_world *w, const jcs_meta_detail *d, void *arg,
                       jobs_report *r)
{
    recover_arg *ra = arg;
    objv v;
    int rc = objv_init(w, d, &v);
    if (rc)
        return rc;
    bool *src = jcs_calloc(d->nblocks + 1, sizeof *src), *repl = jcs_calloc(d->nblocks + 1, 1);
    bool *corrupt = jcs_calloc(d->nblocks + 1, sizeof *corrupt);
    if (!src || !repl || !corrupt) {
        rc = JCS_ENOMEM;
        goto out;
    }
    if (v.kind == K_MULTIPART || v.kind == K_OTHER)
        goto out;
    for (size_t i = 0; i < d->nblocks; i++) {
        long q = queued_at(ra, d->blocks[i].space_id, d->blocks[i].file_hash);
        if (q >= 0) {
            ra->seen[q] = true;
            corrupt[i] = true;
        }
    }
    /* A hub that went silent only lately is probably restarting: rebuilding its blocks
     * now would move data that is back in a minute. */
    for (size_t i = 0; i < d->nblocks; i++) {
        long row = jobs_world_find(w, d->blocks[i].space_id);
        int64_t off = row >= 0 ? w->offline_ms[row] : -1;
        if (!reachable(&v, i) && off > 0 && off < j->svc->cfg->recover_grace_period_ms) {
            r->objects_waiting++;
            jobs_note(r,
                      "object %" PRId64 ": block %d waits: the hub of user space %" PRId64
                      " has been offline for %" PRId64 " s (tickTock.recoverGracePeriod)",
                      d->object.object_id, d->blocks[i].index, d->blocks[i].space_id, off / 1000);
            goto out;
        }
    }
    size_t nrepl = 0;
    for (size_t i = 0; i < d->nblocks; i++) {
        if (reachable(&v, i) && corrupt[i]) {
            /* Queued by a read or a scrub: check it again first, whole. A damaged checksum
             * sidecar over good content was rewritten meanwhile (or is now), and a hub that
             * restarted forgot what it found. */
            jcs_shard_entry e;
            int s = jcs_driver_verify_shard(j->svc->driver, &v.sites[i], d->blocks[i].file_hash,
                                            d->blocks[i].size, &e, NULL);
            if (s == 0 && e.size == d->blocks[i].size) {
                src[i] = true;
                corrupt[i] = false;
                r->blocks_healed++;
                jobs_note(r,
                          "object %" PRId64 ": block %d on user space %" PRId64
                          " verifies good now (its checksums were repaired)",
                          d->object.object_id, d->blocks[i].index, d->blocks[i].space_id);
                int e2 =
                    jcs_healq_remove(j->svc->db, d->blocks[i].space_id, d->blocks[i].file_hash, 1);
                if (e2)
                    jobs_note_error(r, "%s", jcs_err_msg(e2));
            } else {
                jobs_note(r, "object %" PRId64 ": block %d on user space %" PRId64 " is %s",
                          d->object.object_id, d->blocks[i].index, d->blocks[i].space_id,
                          s == JCS_ENOENT ? "missing" : "corrupt");
            }
        } else if (reachable(&v, i)) {
            jcs_shard_entry e;
            int s = jcs_driver_stat_shard(j->svc->driver, &v.sites[i], d->blocks[i].file_hash, &e);
            src[i] = s == 0 && e.size == d->blocks[i].size;
            if (s == 0 && e.size != d->blocks[i].size)
                jobs_note(r,
                          "object %" PRId64 ": block %d on user space %" PRId64 " has %" PRId64
                          " bytes instead of %" PRId64,
                          d->object.object_id, d->blocks[i].index, d->blocks[i].space_id, e.size,
                          d->blocks[i].size);
            else if (s == JCS_ENOENT)
                jobs_note(r, "object %" PRId64 ": block %d is missing on user space %" PRId64,
                          d->object.object_id, d->blocks[i].index, d->blocks[i].space_id);
            else if (s == JCS_ECORRUPT) {
                /* The hub found it corrupt on a read no client reported (or before a restart). */
                corrupt[i] = true;
                jobs_note(r, "object %" PRId64 ": block %d on user space %" PRId64 " is corrupt",
                          d->object.object_id, d->blocks[i].index, d->blocks[i].space_id);
            }
        }
        repl[i] = !src[i];
        nrepl += repl[i];
    }
    if (nrepl == 0)
        goto out;
    bool lost;
    int64_t changed = r->objects_changed;
    rc = replace_blocks(j, w, &v, repl, src, 0, &lost, r);
    if (rc == 0 && lost) {
        r->objects_lost++;
        jobs_note(r, "object %" PRId64 " (%s, %s): too few blocks are left to rebuild it",
                  d->object.object_id, d->object.path, d->object.redundancy);
    } else if (rc == 0 && r->objects_changed > changed) {
        for (size_t i = 0; i < d->nblocks; i++) {
            if (!corrupt[i])
                continue;
            r->blocks_healed++;
            int e = jcs_healq_remove(j->svc->db, d->blocks[i].space_id, d->blocks[i].file_hash, 1);
            if (e)
                jobs_note_error(r, "%s", jcs_err_msg(e));
        }
    }
out:
    jcs_free(src);
    jcs_free(repl);
    jcs_free(corrupt);
    objv_free(&v);
    return rc;
}

/*
 * A source that turns out corrupt while it is copied fails that plan (the hubs check every
 * byte): its hub then reports it corrupt, so the next try leaves it aside and reads others.
 */
static int recover_retry(jcs_jobs *j, const jobs_world *w, const jcs_meta_detail *d, void *arg,
                         jobs_report *r)
{
    int rc = JCS_OK;
    for (size_t attempt = 0; attempt <= d->nblocks; attempt++) {
        rc = recover_one(j, w, d, arg, r);
        if (rc == 0 || rc == JCS_ENOMEM)
            break;
        jcs_info("object %" PRId64 ": recovery failed (%s); trying again", d->object.object_id,
                 jcs_err_msg(rc));
    }
    return rc;
}

int jobs_recover(jcs_jobs *j, jobs_report *r)
{
    recover_arg a = {0};
    int rc = jcs_healq_list(j->svc->db, &a.q, &a.nq);
    if (rc)
        return rc;
    if (!(a.seen = jcs_calloc(a.nq ? a.nq : 1, sizeof *a.seen))) {
        jcs_free(a.q);
        return JCS_ENOMEM;
    }
    rc = each_object_loaded(j, 0, recover_retry, &a, r);
    /* Entries no block names any more (the object was deleted or rewritten) are done with. */
    for (size_t k = 0; rc == 0 && !r->interrupted && k < a.nq; k++) {
        int e = a.seen[k] ? 0 : jcs_healq_remove(j->svc->db, a.q[k].space_id, a.q[k].file_hash, 0);
        if (e)
            jobs_note_error(r, "%s", jcs_err_msg(e));
    }
    jcs_free(a.seen);
    jcs_free(a.q);
    return rc;
}

/* ------------------------------------------------------------------ migration */

static int migrate_one(jcs_jobs *j, const jobs_world *w, const jcs_meta_detail *d, void *arg,
                       jobs_report *r)
{
    const int64_t sid = *(const int64_t *)arg;
    objv v;
    int rc = objv_init(w, d, &v);
    if (rc)
        return rc;
    bool *src = jcs_calloc(d->nblocks + 1, sizeof *src), *repl = jcs_calloc(d->nblocks + 1, 1);
    if (!src || !repl) {
        rc = JCS_ENOMEM;
        goto out;
    }
    if (v.kind == K_MULTIPART) {
        rc = jcs_err_set(JCS_EBUSY, "a multipart upload is open on it; complete or abort it first");
        goto out;
    }
    /* Sources are the blocks whose hub has them intact (corrupt ones are queued for healing). */
    jcs_download_drop_bad(j->svc, v.blocks, v.sites, d->nblocks);
    for (size_t i = 0; i < d->nblocks; i++) {
        src[i] = reachable(&v, i);
        repl[i] = d->blocks[i].space_id == sid;
    }
    bool lost;
    rc = replace_blocks(j, w, &v, repl, src, sid, &lost, r);
    if (rc == 0 && lost)
        rc =
            jcs_err_set(JCS_EUNAVAIL, "no readable copy of its blocks on user space %" PRId64, sid);
out:
    jcs_free(src);
    jcs_free(repl);
    objv_free(&v);
    return rc;
}

int jobs_migrate(jcs_jobs *j, int64_t space_id, jobs_report *r)
{
    return each_object_loaded(j, space_id, migrate_one, &space_id, r);
}

/* ------------------------------------------------------------------ RedundancyShrink */

static int shrink_one(jcs_jobs *j, const jobs_world *w, const jcs_meta_detail *d, void *arg,
                      jobs_report *r)
{
    const recover_arg *q = arg;
    /* A block waiting to be healed: dropping a good copy and keeping that one could leave the
     * object with nothing readable. RedundancyRecover's business first. */
    for (size_t i = 0; i < d->nblocks; i++)
        if (queued_at(q, d->blocks[i].space_id, d->blocks[i].file_hash) >= 0 ||
            jcs_healq_known_bad(d->blocks[i].space_id, d->blocks[i].file_hash))
            return 0;
    objv v;
    int rc = objv_init(w, d, &v);
    if (rc)
        return rc;
    jcs_shrink_item items[JCS_SHRINK_MAX_ITEMS];
    bool keep[JCS_SHRINK_MAX_ITEMS];
    jcs_meta_block *mb = NULL;
    const size_t n = d->nblocks + d->npinned;
    /* Shrinking assumes any k blocks rebuild the object, which an LRC does not promise. */
    if ((v.kind != K_REP && v.kind != K_EC) || v.red.type == JCS_RED_LRC ||
        n > JCS_SHRINK_MAX_ITEMS)
        goto out;
    for (size_t i = 0; i < d->nblocks; i++) {
        if (!reachable(&v, i))
            goto out; /* RedundancyRecover's business first */
        items[i].space_id = d->blocks[i].space_id;
        items[i].index = v.kind == K_EC ? d->blocks[i].index : 0;
        items[i].distance = v.sites[i].distance;
        items[i].removable =
            v.kind == K_REP || (d->blocks[i].index >= 0 && d->blocks[i].index < 64);
        if (v.kind == K_EC && (d->blocks[i].index < 0 || d->blocks[i].index >= v.red.n))
            goto out;
    }
    for (size_t p = 0; p < d->npinned; p++) {
        long row = jobs_world_find(w, d->pinned[p]);
        if (row < 0 || !w->sites.sites[row].hub)
            goto out;
        jcs_shrink_item *it = &items[d->nblocks + p];
        it->space_id = d->pinned[p];
        it->index = -1;
        it->distance = w->sites.sites[row].distance;
        it->removable = true;
    }
    jcs_shrink_params sp = {.k = v.kind == K_EC ? v.red.k : 1,
                            .n = v.kind == K_EC ? v.red.n : 1,
                            .min_copies = v.kind == K_REP ? v.red.rep_count : 0,
                            .seed = j->seed ^ (uint64_t)d->object.object_id};
    double score;
    if (jcs_shrink_anneal(items, n, &sp, keep, &score) != 0 || score <= 0)
        goto out;
    size_t drop_blocks = 0;
    for (size_t i = 0; i < d->nblocks; i++)
        drop_blocks += !keep[i];
    if (drop_blocks) {
        if (!(mb = jcs_calloc(d->nblocks, sizeof *mb))) {
            rc = JCS_ENOMEM;
            goto out;
        }
        size_t nm = 0;
        for (size_t i = 0; i < d->nblocks; i++)
            if (keep[i])
                mb[nm++] = d->blocks[i];
        if ((rc = commit(j, &v, d->object.redundancy, mb, nm, r)) <= 0)
            goto out; /* skipped (changed meanwhile) or failed */
        rc = 0;
        r->blocks_dropped += (int64_t)drop_blocks;
    }
    bool counted = drop_blocks > 0;
    for (size_t p = 0; p < d->npinned; p++) {
        if (keep[d->nblocks + p])
            continue;
        if ((rc = jcs_meta_object_unpin(j->svc->db, d->object.object_id, d->pinned[p])) != 0)
            goto out;
        r->pins_dropped++;
        if (!counted) {
            r->objects_changed++;
            counted = true;
        }
    }
    if (counted)
        jcs_info("object %" PRId64 ": shrunk (score %.4f)", d->object.object_id, score);
out:
    jcs_free(mb);
    objv_free(&v);
    return rc;
}

int jobs_shrink(jcs_jobs *j, jobs_report *r)
{
    recover_arg a = {0};
    int rc = jcs_healq_list(j->svc->db, &a.q, &a.nq);
    if (rc)
        return rc;
    rc = each_object_loaded(j, 0, shrink_one, &a, r);
    jcs_free(a.q);
    return rc;
}
