/*
 * client/transfer/download.c - object reads (download.h).
 */
#include "download.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "alloc.h"
#include "ec.h"
#include "healq.h"
#include "hublat.h"
#include "log.h"
#include "methods.h"
#include "pipe.h"
#include "stripcache.h"
#include "util.h"

/* A fetch into memory for the strip cache never exceeds this (prefetch is cut to fit). */
#define STRIP_FETCH_MAX ((int64_t)64 << 20)
/* Strip fetches up to this size read the data blocks directly (hedged), without a plan. */
#define STRIP_DIRECT_MAX ((int64_t)16 << 20)

void jcs_download_red_clear(jcs_download_red *r)
{
    jcs_free(r->segments);
    memset(r, 0, sizeof *r);
}

int jcs_download_parse_red(const jcs_meta_object *o, jcs_download_red *out)
{
    memset(out, 0, sizeof *out);
    json_t *v = json_loads(o->redundancy ? o->redundancy : "", 0, NULL);
    if (!v)
        return jcs_err_set(JCS_EINVAL, "object %lld: its redundancy is not valid JSON",
                           (long long)o->object_id);
    const char *type = json_string_value(json_object_get(v, "type"));
    int rc = 0;
    if (type && strcmp(type, "multipartUpload") == 0) {
        rc = jcs_err_set(JCS_EBUSY,
                         "object %lld is an open multipart upload: complete it before reading",
                         (long long)o->object_id);
    } else if (type && strcmp(type, "segment") == 0) {
        json_t *a = json_object_get(v, "segments");
        size_t n = json_array_size(a);
        out->segmented = 1;
        out->segments = jcs_calloc(n ? n : 1, sizeof *out->segments);
        if (!out->segments)
            rc = JCS_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            json_t *e = json_array_get(a, i);
            if (!json_is_integer(e) || json_integer_value(e) < 0)
                rc = jcs_err_set(JCS_EINVAL, "object %lld: segment %zu has no valid size",
                                 (long long)o->object_id, i);
            else
                out->segments[i] = json_integer_value(e);
        }
        out->nsegments = n;
    } else {
        rc = jcs_client_config_redundancy_parse(v, "redundancy", &out->red);
        if (rc)
            rc = jcs_err_wrap(rc, "object %lld: ", (long long)o->object_id);
    }
    json_decref(v);
    if (rc)
        jcs_download_red_clear(out);
    return rc;
}

/* ---- one plan with a retry ------------------------------------------------------------------- */

typedef struct counting {
    jcs_driver_write_fn wr;
    void *arg;
    int64_t bytes;
    int wr_failed; /* the receiver refused bytes: retrying cannot help */
} counting;

static int count_write(void *arg, const void *p, size_t n)
{
    counting *c = arg;
    int rc = c->wr(c->arg, p, n);
    if (rc == 0)
        c->bytes += (int64_t)n;
    else
        c->wr_failed = 1;
    return rc;
}

static void note_read(jcs_download_reads *r, int64_t space, int64_t bytes)
{
    if (!r || bytes <= 0)
        return;
    for (size_t i = 0; i < r->n; i++)
        if (r->space_id[i] == space) {
            r->bytes[i] += bytes;
            return;
        }
    if (r->n < sizeof r->space_id / sizeof r->space_id[0]) {
        r->space_id[r->n] = space;
        r->bytes[r->n++] = bytes;
    }
}

/* The spaces the driver reads from: its own rule (nearest copy, or k nearest distinct EC
 * blocks), repeated here for the statistics. */
static void note_sources(jcs_download_reads *r, const jcs_block *b, const jcs_site *s, size_t n,
                         const jcs_redundancy *red, int64_t bytes)
{
    size_t want = jcs_red_coded(red) ? (size_t)red->k : 1, got = 0;
    unsigned char used[256] = {0}, seen[256] = {0};
    while (got < want) {
        size_t best = n;
        for (size_t i = 0; i < n && i < 256; i++) {
            if (used[i] || !s[i].hub || !s[i].space)
                continue;
            if (jcs_red_coded(red) && (b[i].index < 0 || b[i].index >= 256 || seen[b[i].index]))
                continue;
            if (best == n || s[i].distance < s[best].distance ||
                (s[i].distance == s[best].distance && b[i].index < b[best].index))
                best = i;
        }
        if (best == n)
            break;
        used[best] = 1;
        if (jcs_red_coded(red))
            seen[b[best].index] = 1;
        note_read(r, b[best].space_id, jcs_red_coded(red) ? bytes / red->k : bytes);
        got++;
    }
}

/* Retries of one read: enough to survive two hubs lost one after the other mid-stream. */
#define READ_ATTEMPTS 3

/*
 * Before a retry: asks each block's hub for the block (StatShard). A hub that does not answer,
 * or answers without the shard, is taken out of this read (its site becomes unreachable), so
 * the retry reads other copies or EC blocks instead of failing the same way. This covers the
 * seconds between a hub dying and the coordinator marking it offline.
 */
int jcs_download_drop_bad(jcs_svc *svc, const jcs_block *blocks, jcs_site *sites, size_t n)
{
    int corrupt = 0;
    for (size_t i = 0; i < n; i++) {
        jcs_site *st = &sites[i];
        if (!st->hub)
            continue;
        jcs_shard_entry e;
        int rc = jcs_driver_stat_shard(svc->driver, st, blocks[i].file_hash, &e);
        if (rc == 0 && e.size == blocks[i].size)
            continue;
        jcs_warn("download: not reading block %d from user space %lld: %s", blocks[i].index,
                 (long long)blocks[i].space_id,
                 rc ? jcs_err_msg(rc) : "the stored shard has the wrong size");
        /* A corrupt or truncated shard is healed by RedundancyRecover; a missing one too,
         * but that one its own stat already finds. */
        if (rc == JCS_ECORRUPT || rc == 0) {
            (void)jcs_healq_add(svc->db, blocks[i].space_id, blocks[i].file_hash,
                                rc ? jcs_err_msg(rc) : "the stored shard has the wrong size", 0);
            corrupt++;
        }
        st->hub = NULL;
    }
    return corrupt;
}

/*
 * Takes the copies this process already found corrupt out of a first attempt, when enough
 * others remain to read the object (k distinct EC blocks, or one copy); otherwise keeps them
 * all, and the hubs' checks decide.
 */
static void skip_known_bad(const jcs_block *blocks, jcs_place_sites *sites,
                           const jcs_redundancy *red)
{
    unsigned char seen[256] = {0};
    size_t good = 0, nbad = 0;
    const size_t want = jcs_red_coded(red) ? (size_t)red->k : 1;
    for (size_t i = 0; i < sites->n; i++) {
        if (!sites->sites[i].hub)
            continue;
        if (jcs_healq_known_bad(blocks[i].space_id, blocks[i].file_hash)) {
            nbad++;
            continue;
        }
        if (!jcs_red_coded(red))
            good++;
        else if (blocks[i].index >= 0 && blocks[i].index < 256 && !seen[blocks[i].index]) {
            seen[blocks[i].index] = 1;
            good++;
        }
    }
    if (nbad == 0 || good < want)
        return;
    for (size_t i = 0; i < sites->n; i++)
        if (sites->sites[i].hub && jcs_healq_known_bad(blocks[i].space_id, blocks[i].file_hash))
            sites->sites[i].hub = NULL;
}

/* The untried reachable copy to read next: nearest first, known-corrupt ones last. */
static size_t next_copy(const jcs_block *blocks, size_t nblocks, const jcs_site *sites,
                        const unsigned char *tried)
{
    size_t best = nblocks;
    for (int pass = 0; pass < 2 && best == nblocks; pass++)
        for (size_t i = 0; i < nblocks; i++)
            if (!tried[i] && sites[i].hub &&
                jcs_healq_known_bad(blocks[i].space_id, blocks[i].file_hash) == pass &&
                (best == nblocks || sites[i].distance < sites[best].distance))
                best = i;
    return best;
}

/* Copies one hedged plain read may have in flight (the nearest and the spares it started). */
#define COPY_READS 16

/*
 * A plain read with hedging: the nearest copy is read; when it is out longer than its hub's
 * hedge delay (hublat.h), or fails, the next nearest copy is read too, and the first good
 * answer is used (the other is cancelled). 0 with want bytes in buf, or the last copy's
 * error (JCS_EUNAVAIL when none was reachable).
 */
static int read_small_hedged(jcs_svc *svc, const jcs_block *blocks, size_t nblocks,
                             const jcs_site *sites, int64_t offset, int64_t want,
                             unsigned char *buf, size_t *used)
{
    unsigned char *tried = jcs_calloc(nblocks ? nblocks : 1, 1);
    unsigned char *tmp = jcs_malloc(want > 0 ? (size_t)want : 1);
    jcs_driver_reads *rs = NULL;
    int rc = (!tried || !tmp) ? JCS_ENOMEM : jcs_driver_reads_new(svc->driver, &rs);
    jcs_driver_small_io io[COPY_READS];
    int64_t t0[COPY_READS];
    size_t who[COPY_READS], nio = 0, inflight = 0;
    int last = jcs_err_set(JCS_EUNAVAIL, "no copy is on a reachable hub"), hedged = 0, won = 0;
    while (rc == 0) {
        /* Start another copy: at first, after a failure, or when the newest one is late. */
        int64_t now = jcs_now_us(), wait_ms = -1;
        if (inflight > 0) {
            size_t l = nio - 1;
            int64_t due =
                t0[l] + jcs_hublat_delay_us(svc->hublat, io[l].site->hub->address, io[l].length);
            wait_ms = due > now ? (due - now + 999) / 1000 : 0;
        }
        if ((inflight == 0 || wait_ms == 0) && nio < COPY_READS) {
            size_t b = next_copy(blocks, nblocks, sites, tried);
            if (b < nblocks) {
                tried[b] = 1;
                memset(&io[nio], 0, sizeof io[nio]);
                io[nio].site = &sites[b];
                io[nio].file_hash = blocks[b].file_hash;
                io[nio].offset = offset;
                io[nio].length = want;
                /* Written only when handed back, and the first good one ends the read: one
                 * scratch buffer serves every copy. */
                io[nio].buf = tmp;
                who[nio] = b;
                t0[nio] = jcs_now_us();
                if (inflight > 0) {
                    jcs_info("download: hedged read: copy on hub %s is late (%lld ms); reading "
                             "the copy on hub %s too",
                             io[nio - 1].site->hub->address,
                             (long long)((t0[nio] - t0[nio - 1]) / 1000), sites[b].hub->address);
                    if (!hedged)
                        jcs_hublat_count_hedged(svc->hublat);
                    hedged = 1;
                }
                if (jcs_driver_reads_start(rs, &io[nio]) == 0)
                    inflight++;
                else
                    last = jcs_err_set(io[nio].rc, "%s", io[nio].detail);
                nio++;
                continue;
            }
            wait_ms = -1; /* no copy left to add: wait for those in flight */
        }
        if (inflight == 0) {
            rc = last;
            break;
        }
        jcs_driver_small_io *done;
        int nr = jcs_driver_reads_next(rs, wait_ms, &done);
        if (nr == JCS_ETIMEOUT)
            continue;
        if (nr) {
            rc = nr;
            break;
        }
        inflight--;
        size_t j = (size_t)(done - io);
        if (done->rc == 0) {
            jcs_hublat_note(svc->hublat, done->site->hub->address, want, jcs_now_us() - t0[j]);
            if (want > 0)
                memcpy(buf, done->buf, (size_t)want);
            won = hedged && j > 0;
            *used = who[j];
            for (size_t x = 0; won && x < j; x++)
                if (io[x].rc == 0) /* still in flight: never handed back */
                    jcs_hublat_late(svc->hublat, io[x].site->hub->address);
            break;
        }
        last = jcs_err_set(done->rc, "%s", done->detail);
        if (done->rc == JCS_ECORRUPT)
            (void)jcs_healq_add(svc->db, blocks[who[j]].space_id, blocks[who[j]].file_hash,
                                done->detail, 0);
        jcs_warn("download: block %d on user space %lld: %s; trying another copy",
                 blocks[who[j]].index, (long long)blocks[who[j]].space_id, done->detail);
    }
    if (won)
        jcs_hublat_count_won(svc->hublat);
    jcs_driver_reads_free(rs);
    jcs_free(tmp);
    jcs_free(tried);
    return rc;
}

/*
 * The small-read path (plain copies up to JCS_DOWNLOAD_SMALL_MAX skip the plan): tries the
 * reachable copies nearest first, each with one
 * jcs_driver_read_small. Returns 0 when the bytes went to wr, the receiver's error when it
 * refused them, or JCS_EUNAVAIL / a copy's error when no copy answered (the caller then
 * falls back to a plan, which has its own retries).
 */
static int read_small(jcs_svc *svc, const jcs_block *blocks, size_t nblocks, int64_t offset,
                      int64_t want, counting *cw, jcs_download_reads *reads)
{
    int64_t *ids = jcs_calloc(nblocks ? nblocks : 1, sizeof *ids);
    unsigned char *buf = jcs_malloc(want > 0 ? (size_t)want : 1);
    int rc = (!ids || !buf) ? JCS_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < nblocks; i++)
        ids[i] = blocks[i].space_id;
    jcs_place_sites sites = {0};
    if (rc == 0) {
        jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
        rc = jcs_place_sites_for(svc, snap, ids, nblocks, &sites);
        jcs_topo_snap_release(snap);
    }
    int last = jcs_err_set(JCS_EUNAVAIL, "no copy is on a reachable hub"), corrupt = 0;
    unsigned char *tried = rc ? NULL : jcs_calloc(nblocks ? nblocks : 1, 1);
    if (rc == 0 && !tried)
        rc = JCS_ENOMEM;
    if (rc == 0 && jcs_hublat_delay_us(svc->hublat, NULL, 0) >= 0) {
        size_t used = 0;
        rc = read_small_hedged(svc, blocks, nblocks, sites.sites, offset, want, buf, &used);
        if (rc == 0) {
            rc = want > 0 ? count_write(cw, buf, (size_t)want) : 0;
            if (rc == 0)
                note_read(reads, blocks[used].space_id, want);
        }
        jcs_free(tried);
        jcs_place_sites_clear(&sites);
        jcs_free(buf);
        jcs_free(ids);
        return rc;
    }
    for (int done = 0; rc == 0 && !done;) {
        /* Nearest first; copies known to be corrupt only when nothing else is left. */
        size_t best = nblocks;
        for (int pass = 0; pass < 2 && best == nblocks; pass++)
            for (size_t i = 0; i < nblocks; i++)
                if (!tried[i] && sites.sites[i].hub &&
                    jcs_healq_known_bad(blocks[i].space_id, blocks[i].file_hash) == pass &&
                    (best == nblocks || sites.sites[i].distance < sites.sites[best].distance))
                    best = i;
        if (best == nblocks) {
            /* Every copy that answered was corrupt: say so at once (a plan would read the
             * same corrupt copies and fail the same way, only later). */
            rc = corrupt && last != JCS_ECORRUPT
                     ? jcs_err_set(JCS_ECORRUPT, "every reachable copy is corrupt or unreachable")
                     : last;
            break;
        }
        tried[best] = 1;
        last = jcs_driver_read_small(svc->driver, &sites.sites[best], blocks[best].file_hash,
                                     offset, want, buf);
        if (last == 0) {
            rc = want > 0 ? count_write(cw, buf, (size_t)want) : 0;
            if (rc == 0)
                note_read(reads, blocks[best].space_id, want);
            done = 1;
        } else {
            corrupt |= last == JCS_ECORRUPT;
            if (last == JCS_ECORRUPT)
                (void)jcs_healq_add(svc->db, blocks[best].space_id, blocks[best].file_hash,
                                    jcs_err_msg(last), 0);
            jcs_warn("download: block %d on user space %lld: %s; trying another copy",
                     blocks[best].index, (long long)blocks[best].space_id, jcs_err_msg(last));
        }
    }
    jcs_free(tried);
    jcs_place_sites_clear(&sites);
    jcs_free(buf);
    jcs_free(ids);
    return rc;
}

/* Pieces one direct EC read may ask for (one per data block per strip touched). */
#define EC_DIRECT_PIECES 64

/*
 * One read of a direct EC read: bytes [a, b) of chunk `strip` of the block blocks[blk] (EC
 * index idx), at block offset strip * C + a. A piece of the range itself writes into the
 * output buffer; a hedge read (extra) into a buffer of its own.
 */
enum { P_WAIT, P_FLIGHT, P_DONE, P_FAILED };
typedef struct ec_piece {
    jcs_driver_small_io io;
    int64_t strip, a, b;
    size_t blk;
    int idx;
    int state;
    int extra;
    int late;      /* a range piece that was late (or failed) when the read was hedged */
    int64_t t0_us; /* when it was started */
} ec_piece;

/* What one direct EC read holds: its pieces (range pieces first, then hedge reads). */
typedef struct ec_read {
    jcs_svc *svc;
    const jcs_block *blocks;
    size_t nblocks;
    const jcs_redundancy *red;
    const jcs_site *sites;
    ec_piece p[JCS_DRIVER_READS_MAX];
    size_t np, ndata;
    int64_t s0, s1; /* strips touched */
    jcs_driver_reads *rs;
} ec_read;

/* The block of EC index idx that is on a reachable hub (nearest first); nblocks: none. */
static size_t block_of(const ec_read *r, int idx)
{
    size_t best = r->nblocks;
    for (size_t j = 0; j < r->nblocks; j++)
        if (r->blocks[j].index == idx && r->sites[j].hub &&
            (best == r->nblocks || r->sites[j].distance < r->sites[best].distance))
            best = j;
    return best;
}

static void start_piece(ec_read *r, ec_piece *pc)
{
    pc->io.site = &r->sites[pc->blk];
    pc->t0_us = jcs_now_us();
    if (!pc->io.site->hub) {
        pc->io.rc = jcs_err_set(JCS_EUNAVAIL, "block %d: its hub is offline", pc->idx);
        snprintf(pc->io.detail, sizeof pc->io.detail, "%s", jcs_err_msg(pc->io.rc));
        pc->state = P_FAILED;
        return;
    }
    pc->state = jcs_driver_reads_start(r->rs, &pc->io) == 0 ? P_FLIGHT : P_FAILED;
}

/* Does EC index idx have bytes [a, b) of strip s, read and verified? The range piece, or a
 * hedge read; *src receives where those bytes start. */
static int have_rows(const ec_read *r, int idx, int64_t s, int64_t a, int64_t b,
                     unsigned char **src)
{
    for (size_t i = 0; i < r->np; i++) {
        const ec_piece *pc = &r->p[i];
        if (pc->idx == idx && pc->strip == s && pc->state == P_DONE && pc->a <= a && pc->b >= b) {
            *src = (unsigned char *)pc->io.buf + (a - pc->a);
            return 1;
        }
    }
    return 0;
}

/*
 * The hull [*a, *b) of the range pieces of strip s not yet read (late_only: of those found late
 * when the read was hedged), *m of them; 0 when there is none.
 */
static int strip_missing(const ec_read *r, int64_t s, int late_only, int64_t *a, int64_t *b, int *m)
{
    *m = 0;
    for (size_t i = 0; i < r->ndata; i++) {
        const ec_piece *pc = &r->p[i];
        if (pc->strip != s || pc->state == P_DONE || (late_only && !pc->late))
            continue;
        *a = *m ? (pc->a < *a ? pc->a : *a) : pc->a;
        *b = *m ? (pc->b > *b ? pc->b : *b) : pc->b;
        (*m)++;
    }
    return *m > 0;
}

/* Will the range piece of EC index idx in strip s (read or still coming) hold [a, b)? */
static int piece_covers(const ec_read *r, int idx, int64_t s, int64_t a, int64_t b)
{
    for (size_t i = 0; i < r->ndata; i++) {
        const ec_piece *pc = &r->p[i];
        if (pc->idx == idx && pc->strip == s && pc->state != P_FAILED && pc->a <= a && pc->b >= b)
            return 1;
    }
    return 0;
}

/* Rows of strip s that hold [a, b): at most want of them, data rows first. */
static int rows_for(const ec_read *r, int64_t s, int64_t a, int64_t b, int *rows,
                    unsigned char **src, int want)
{
    int got = 0;
    for (int idx = 0; idx < jcs_red_global_n(r->red) && got < want; idx++)
        if (have_rows(r, idx, s, a, b, &src[got]))
            rows[got++] = idx;
    return got;
}

/*
 * The hedge: for every strip with range pieces still missing, asks one parity block per
 * missing piece (k+1 blocks in flight for one late hub) for the strip's missing span, and
 * the data blocks that answered for that span where their own piece does not cover it.
 * Returns how many parity blocks it asked.
 */
static int hedge(ec_read *r, int64_t late_us, int64_t delay_us, const char *late_hub)
{
    const int k = r->red->k, n = jcs_red_global_n(r->red);
    int hmax = 0;
    for (int64_t s = r->s0; s <= r->s1; s++) {
        int64_t a, b;
        int m;
        if (strip_missing(r, s, 1, &a, &b, &m) && m > hmax)
            hmax = m;
    }
    /* Parity blocks, nearest first. */
    size_t par[JCS_EC_MAX_N];
    int npar = 0;
    for (int idx = k; idx < n && npar < hmax; idx++) {
        size_t j = block_of(r, idx);
        if (j < r->nblocks)
            par[npar++] = j;
    }
    for (int x = 1; x < npar; x++)
        for (int y = x; y > 0 && r->sites[par[y]].distance < r->sites[par[y - 1]].distance; y--) {
            size_t t = par[y];
            par[y] = par[y - 1];
            par[y - 1] = t;
        }
    if (npar == 0)
        return 0;
    size_t first = r->np;
    for (int64_t s = r->s0; s <= r->s1; s++) {
        int64_t a, b;
        int m;
        if (!strip_missing(r, s, 1, &a, &b, &m))
            continue;
        unsigned char missing[JCS_EC_MAX_N] = {0};
        for (size_t i = 0; i < r->ndata; i++)
            if (r->p[i].strip == s && r->p[i].state != P_DONE && r->p[i].late)
                missing[r->p[i].idx] = 1;
        size_t want[JCS_EC_MAX_N];
        int nw = 0;
        for (int x = 0; x < npar; x++)
            want[nw++] = par[x];
        for (int idx = 0; idx < k; idx++) {
            if (missing[idx] || piece_covers(r, idx, s, a, b))
                continue;
            size_t j = block_of(r, idx);
            if (j < r->nblocks)
                want[nw++] = j;
        }
        for (int x = 0; x < nw && r->np < JCS_DRIVER_READS_MAX; x++) {
            ec_piece *pc = &r->p[r->np];
            memset(pc, 0, sizeof *pc);
            pc->extra = 1;
            pc->strip = s;
            pc->a = a;
            pc->b = b;
            pc->blk = want[x];
            pc->idx = r->blocks[want[x]].index;
            pc->io.file_hash = r->blocks[want[x]].file_hash;
            pc->io.offset = s * r->red->chunk_size + a;
            pc->io.length = b - a;
            pc->io.buf = jcs_malloc((size_t)(b - a) ? (size_t)(b - a) : 1);
            r->np++;
            if (!pc->io.buf) {
                pc->state = P_FAILED;
                pc->io.rc = JCS_ENOMEM;
                continue;
            }
            start_piece(r, pc);
        }
    }
    char which[128] = "";
    for (int x = 0; x < npar; x++)
        snprintf(which + strlen(which), sizeof which - strlen(which), "%s%d", x ? "," : "",
                 r->blocks[par[x]].index);
    jcs_info("download: hedged read: a data block on hub %s is late (%lld ms, hedge delay "
             "%lld ms); reading parity block %s too (%zu more reads)",
             late_hub ? late_hub : "(none reachable)", (long long)(late_us / 1000),
             (long long)(delay_us / 1000), which, r->np - first);
    return npar;
}

/* Strip s is whole: its range pieces arrived, or k blocks hold its missing span. */
static int strip_ready(const ec_read *r, int64_t s)
{
    int64_t a, b;
    int m;
    if (!strip_missing(r, s, 0, &a, &b, &m))
        return 1;
    int rows[JCS_EC_MAX_N];
    unsigned char *src[JCS_EC_MAX_N];
    return rows_for(r, s, a, b, rows, src, r->red->k) == r->red->k;
}

/* Rebuilds the missing range pieces of strip s from k blocks (strip_ready said it can). */
static int decode_strip(ec_read *r, struct jcs_ec *ec, int64_t s)
{
    int64_t a, b;
    int m;
    if (!strip_missing(r, s, 0, &a, &b, &m))
        return 0;
    const int k = r->red->k;
    int rows[JCS_EC_MAX_N], out_rows[JCS_EC_MAX_N], nout = 0;
    unsigned char *src[JCS_EC_MAX_N], *dst[JCS_EC_MAX_N];
    if (rows_for(r, s, a, b, rows, src, k) != k)
        return jcs_err_set(JCS_EINTERNAL, "hedged read: strip %lld lost its sources", (long long)s);
    for (size_t i = 0; i < r->ndata; i++)
        if (r->p[i].strip == s && r->p[i].state != P_DONE)
            out_rows[nout++] = r->p[i].idx;
    unsigned char *tmp = jcs_malloc((size_t)nout * (size_t)(b - a));
    if (!tmp)
        return JCS_ENOMEM;
    for (int j = 0; j < nout; j++)
        dst[j] = tmp + (size_t)j * (size_t)(b - a);
    struct jcs_ec_mul *mul;
    int rc = jcs_ec_mul_new(ec, rows, k, out_rows, nout, &mul);
    if (rc == 0) {
        jcs_ec_mul_run(mul, (size_t)(b - a), src, dst);
        jcs_ec_mul_free(mul);
        int j = 0;
        for (size_t i = 0; i < r->ndata; i++) {
            ec_piece *pc = &r->p[i];
            if (pc->strip != s || pc->state == P_DONE)
                continue;
            memcpy(pc->io.buf, dst[j++] + (pc->a - a), (size_t)(pc->b - pc->a));
        }
    }
    jcs_free(tmp);
    return rc;
}

static void piece_done(ec_read *r, ec_piece *pc)
{
    if (pc->io.rc == 0) {
        pc->state = P_DONE;
        jcs_hublat_note(r->svc->hublat, pc->io.site->hub->address, pc->io.length,
                        jcs_now_us() - pc->t0_us);
        return;
    }
    pc->state = P_FAILED;
    if (pc->io.rc == JCS_ECORRUPT)
        (void)jcs_healq_add(r->svc->db, r->blocks[pc->blk].space_id, r->blocks[pc->blk].file_hash,
                            pc->io.detail, 0);
    jcs_warn("download: block %d on user space %lld: %s", pc->idx,
             (long long)r->blocks[pc->blk].space_id, pc->io.detail);
}

/* Marks the range pieces that failed or are past their hedge delay (all: every one not read). */
static void mark_late(ec_read *r, int64_t now, int all)
{
    for (size_t i = 0; i < r->ndata; i++) {
        ec_piece *pc = &r->p[i];
        if (pc->state == P_DONE)
            continue;
        pc->late = all || pc->state != P_FLIGHT ||
                   pc->t0_us + jcs_hublat_delay_us(r->svc->hublat, pc->io.site->hub->address,
                                                   pc->io.length) <=
                       now;
    }
}

/*
 * The direct read with hedging: the range pieces are started at once; while one is out
 * longer than its hub's hedge delay (hublat.h), or one failed, hedge() asks parity blocks for
 * the missing spans, and each strip is served by whichever k blocks answer first. Late
 * reads are cancelled when the set is freed. JCS_EUNAVAIL (or a piece's error) when too few
 * blocks answered: the caller runs a plan.
 */
static int ec_direct_hedged(ec_read *r)
{
    const int64_t k = r->red->k;
    int hedged = 0, rc = 0;
    int64_t late_us = 0, delay_us = 0;
    const char *late_hub = NULL;
    for (size_t i = 0; i < r->ndata; i++)
        start_piece(r, &r->p[i]);
    for (;;) {
        int all = 1, ready = 1;
        for (size_t i = 0; i < r->ndata; i++)
            all &= r->p[i].state == P_DONE;
        if (all)
            break;
        for (int64_t s = r->s0; s <= r->s1 && ready; s++)
            ready = strip_ready(r, s);
        if (hedged && ready)
            break;
        int64_t wait_ms = -1;
        if (!hedged) {
            /* Hedge when a piece failed or the earliest hedge deadline passed. */
            int64_t now = jcs_now_us(), due = INT64_MAX;
            for (size_t i = 0; i < r->ndata; i++) {
                ec_piece *pc = &r->p[i];
                if (pc->state == P_FAILED) {
                    due = now;
                    late_hub = pc->io.site && pc->io.site->hub ? pc->io.site->hub->address : NULL;
                } else if (pc->state == P_FLIGHT) {
                    int64_t t =
                        pc->t0_us + jcs_hublat_delay_us(r->svc->hublat, pc->io.site->hub->address,
                                                        pc->io.length);
                    if (t < due) {
                        due = t;
                        delay_us = t - pc->t0_us;
                        late_hub = pc->io.site->hub->address;
                        late_us = now - pc->t0_us;
                    }
                }
            }
            if (due <= now) {
                hedged = 1;
                mark_late(r, now, 0);
                if (hedge(r, late_us, delay_us, late_hub) > 0)
                    jcs_hublat_count_hedged(r->svc->hublat);
                continue;
            }
            wait_ms = (due - now + 999) / 1000;
        }
        jcs_driver_small_io *done;
        int nr = jcs_driver_reads_next(r->rs, wait_ms, &done);
        if (nr == JCS_ETIMEOUT)
            continue;
        if (nr == JCS_EOF) {
            if (!hedged) { /* nothing in flight and not whole: hedge with what is left */
                hedged = 1;
                mark_late(r, jcs_now_us(), 1);
                if (hedge(r, late_us, delay_us, late_hub) > 0)
                    jcs_hublat_count_hedged(r->svc->hublat);
                continue;
            }
            /* The first failed piece's error, or too few blocks. */
            for (size_t i = 0; i < r->np && rc == 0; i++)
                if (r->p[i].state == P_FAILED && r->p[i].io.rc != JCS_ENOMEM)
                    rc = jcs_err_set(r->p[i].io.rc, "%s", r->p[i].io.detail);
            return rc ? rc
                      : jcs_err_set(JCS_EUNAVAIL, "fewer than %lld blocks answered", (long long)k);
        }
        if (nr)
            return nr;
        piece_done(r, (ec_piece *)done); /* io is the piece's first member */
    }
    /* Whole: decode the strips whose pieces did not all arrive. */
    struct jcs_ec *ec = NULL;
    int decoded = 0;
    for (int64_t s = r->s0; s <= r->s1 && rc == 0; s++) {
        int64_t a, b;
        int m;
        if (!strip_missing(r, s, 0, &a, &b, &m))
            continue;
        if (!ec && (rc = jcs_ec_new(r->red->k, jcs_red_global_n(r->red), &ec)) != 0)
            break;
        rc = decode_strip(r, ec, s);
        decoded = 1;
    }
    jcs_ec_free(ec);
    if (rc == 0 && decoded) {
        jcs_hublat_count_won(r->svc->hublat);
        for (size_t i = 0; i < r->ndata; i++)
            if (r->p[i].state == P_FLIGHT)
                jcs_hublat_late(r->svc->hublat, r->p[i].io.site->hub->address);
        jcs_info("download: hedged read served from parity without waiting for hub %s",
                 late_hub ? late_hub : "(none)");
    }
    return rc;
}

/*
 * The small-read path of EC objects: the range's bytes read straight from the data blocks
 * that hold them (strip s, data block i holds object bytes [s*S + i*C, s*S + (i+1)*C) at
 * block offset s*C), every piece in one call, all at once. Nothing is decoded and no
 * padding is read unless a data block is late or fails: then the read is hedged
 * (ec_direct_hedged). JCS_EUNAVAIL (or a block's error) when that cannot serve the range:
 * the caller then runs a plan, which reads any k blocks and decodes.
 */
static int read_ec_direct(jcs_svc *svc, const jcs_block *blocks, size_t nblocks,
                          const jcs_redundancy *red, int64_t offset, int64_t want, counting *cw,
                          jcs_download_reads *reads)
{
    const int64_t C = red->chunk_size, S = (int64_t)red->k * C;
    ec_read *r = jcs_calloc(1, sizeof *r);
    if (!r)
        return JCS_ENOMEM;
    r->svc = svc;
    r->blocks = blocks;
    r->nblocks = nblocks;
    r->red = red;
    int rc = 0;
    size_t np = 0;
    for (int64_t pos = offset; rc == 0 && pos < offset + want; np++) {
        if (np == EC_DIRECT_PIECES) {
            rc = jcs_err_set(JCS_EUNAVAIL, "range spans too many chunks for a direct read");
            break;
        }
        int64_t s = pos / S, soff = pos % S, i = soff / C, coff = soff % C;
        int64_t take = C - coff < offset + want - pos ? C - coff : offset + want - pos;
        size_t b = nblocks;
        for (size_t j = 0; j < nblocks; j++)
            if (blocks[j].index == (int)i) {
                b = j;
                break;
            }
        if (b == nblocks) {
            rc = jcs_err_set(JCS_EUNAVAIL, "data block %lld is not stored", (long long)i);
            break;
        }
        ec_piece *pc = &r->p[np];
        pc->io.file_hash = blocks[b].file_hash;
        pc->io.offset = s * C + coff;
        pc->io.length = take;
        pc->strip = s;
        pc->a = coff;
        pc->b = coff + take;
        pc->blk = b;
        pc->idx = (int)i;
        if (np == 0)
            r->s0 = s;
        r->s1 = s;
        pos += take;
    }
    r->np = r->ndata = np;
    int64_t *ids = jcs_calloc(nblocks ? nblocks : 1, sizeof *ids);
    unsigned char *buf = jcs_malloc(want > 0 ? (size_t)want : 1);
    if (rc == 0 && (!ids || !buf))
        rc = JCS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nblocks; i++)
        ids[i] = blocks[i].space_id;
    jcs_place_sites sites = {0};
    if (rc == 0) {
        jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
        rc = jcs_place_sites_for(svc, snap, ids, nblocks, &sites);
        jcs_topo_snap_release(snap);
    }
    r->sites = sites.sites;
    int64_t at = 0;
    for (size_t p = 0; rc == 0 && p < np; p++) {
        r->p[p].io.buf = buf + at;
        at += r->p[p].io.length;
    }
    if (rc == 0 && jcs_hublat_delay_us(svc->hublat, NULL, 0) >= 0) {
        /* Hedging on: the same data pieces, taken as they come. */
        if ((rc = jcs_driver_reads_new(svc->driver, &r->rs)) == 0)
            rc = ec_direct_hedged(r);
    } else if (rc == 0) {
        /* Hedging off: every data piece must answer. */
        jcs_driver_small_io io[EC_DIRECT_PIECES];
        for (size_t p = 0; rc == 0 && p < np; p++) {
            io[p] = r->p[p].io;
            io[p].site = &sites.sites[r->p[p].blk];
            if (!io[p].site->hub)
                rc = jcs_err_set(JCS_EUNAVAIL, "data block %d: its hub is offline", r->p[p].idx);
        }
        if (rc == 0)
            rc = jcs_driver_read_small_all(svc->driver, io, np);
    }
    if (rc == 0 && want > 0)
        rc = count_write(cw, buf, (size_t)want);
    for (size_t p = 0; rc == 0 && p < np; p++)
        note_read(reads, blocks[r->p[p].blk].space_id, r->p[p].io.length);
    jcs_driver_reads_free(r->rs);
    for (size_t p = r->ndata; p < r->np; p++)
        jcs_free(r->p[p].io.buf);
    jcs_place_sites_clear(&sites);
    jcs_free(buf);
    jcs_free(ids);
    jcs_free(r);
    return rc;
}

/*
 * Reads [offset, offset+length) of a stream stored as blocks (redundancy red, size bytes).
 * A failed plan is retried (READ_ATTEMPTS in all) after refreshing the topology and dropping
 * sources that no longer serve their block; a retry resumes after the last byte already
 * delivered, so a hub lost in the middle of a download costs a pause, not the download.
 */
static int read_blocks(jcs_svc *svc, const jcs_block *blocks, size_t nblocks,
                       const jcs_redundancy *red, int64_t size, int64_t offset, int64_t length,
                       jcs_driver_write_fn wr, void *arg, jcs_download_reads *reads)
{
    int64_t *ids = jcs_calloc(nblocks ? nblocks : 1, sizeof *ids);
    if (!ids)
        return JCS_ENOMEM;
    for (size_t i = 0; i < nblocks; i++)
        ids[i] = blocks[i].space_id;
    counting cw = {wr, arg, 0, 0};
    int rc = 0;
    const int64_t want = length >= 0 ? length : size - offset;
    if (!jcs_red_coded(red) && want >= 0 && want <= JCS_DOWNLOAD_SMALL_MAX && want <= size) {
        rc = read_small(svc, blocks, nblocks, offset, want, &cw, reads);
        if (rc == 0 || cw.wr_failed || rc == JCS_ENOMEM || rc == JCS_ECORRUPT) {
            jcs_free(ids);
            return rc;
        }
    } else if (jcs_red_coded(red) && want >= 0 && want <= JCS_DOWNLOAD_SMALL_MAX &&
               offset + want <= size) {
        rc = read_ec_direct(svc, blocks, nblocks, red, offset, want, &cw, reads);
        if (rc == 0 || cw.wr_failed || rc == JCS_ENOMEM) {
            jcs_free(ids);
            return rc;
        }
        jcs_info("download: direct read of EC data blocks failed (%s); decoding instead",
                 jcs_err_msg(rc));
    }
    /* Each corrupt copy dropped earns one more attempt: it is not the same failure again. */
    int attempts = READ_ATTEMPTS;
    for (int attempt = 0; attempt < attempts; attempt++) {
        if (attempt > 0) {
            int rr = jcs_topo_refresh(svc->topo);
            if (rr)
                jcs_warn("download: topology refresh before the retry failed: %s", jcs_err_msg(rr));
        }
        jcs_topo_snap *snap = jcs_topo_acquire(svc->topo);
        jcs_place_sites sites;
        rc = jcs_place_sites_for(svc, snap, ids, nblocks, &sites);
        jcs_topo_snap_release(snap);
        if (rc)
            break;
        if (attempt == 0)
            skip_known_bad(blocks, &sites, red);
        if (attempt > 0) {
            int dropped = jcs_download_drop_bad(svc, blocks, sites.sites, sites.n);
            if (attempts < READ_ATTEMPTS + (int)nblocks)
                attempts += dropped;
        }
        int64_t done = cw.bytes;
        if (length >= 0 && done >= length) {
            jcs_place_sites_clear(&sites);
            rc = 0;
            break;
        }
        jcs_driver_download_req req = {.src = {.blocks = blocks,
                                               .sites = sites.sites,
                                               .nblocks = nblocks,
                                               .red = red,
                                               .object_size = size},
                                       .offset = offset + done,
                                       .length = length >= 0 ? length - done : -1,
                                       .write = count_write,
                                       .arg = &cw};
        rc = jcs_driver_download(svc->driver, &req);
        if (rc == 0)
            note_sources(reads, blocks, sites.sites, nblocks, red, cw.bytes);
        jcs_place_sites_clear(&sites);
        /* A plan cancelled because one of its hubs failed (ECANCELED without the receiver
         * refusing bytes) is retried like any failure; a reader that left makes the write
         * fail (wr_failed). */
        if (rc == 0 || cw.wr_failed || offset + cw.bytes >= size)
            break;
        if (attempt + 1 < attempts)
            jcs_info("download: plan failed after %lld bytes (%s); retrying from there",
                     (long long)cw.bytes, jcs_err_msg(rc));
    }
    jcs_free(ids);
    return rc;
}

static void to_driver_block(const jcs_meta_block *m, jcs_block *b)
{
    memset(b, 0, sizeof *b);
    b->index = m->index;
    b->space_id = m->space_id;
    snprintf(b->file_hash, sizeof b->file_hash, "%s", m->file_hash);
    b->size = m->size;
}

/* ---- EC through the strip cache ------------------------------------------------------------- */

typedef struct membuf {
    unsigned char *p;
    size_t len, cap;
} membuf;

static int mem_write(void *arg, const void *p, size_t n)
{
    membuf *m = arg;
    if (n > m->cap - m->len)
        return jcs_err_set(JCS_EINTERNAL, "download: the plan returned more bytes than asked");
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return 0;
}

static int read_ec_cached(jcs_svc *svc, const jcs_meta_detail *d, const jcs_block *blocks,
                          const jcs_redundancy *red, int64_t offset, int64_t length,
                          jcs_driver_write_fn wr, void *arg, jcs_download_reads *reads)
{
    const int64_t size = d->object.size, S = (int64_t)red->k * red->chunk_size;
    const int64_t nstrips = (size + S - 1) / S;
    const char *hash = d->object.file_hash;
    int64_t pos = offset, end = offset + length;
    while (pos < end) {
        int64_t s = pos / S, soff = pos - s * S;
        int64_t slen = size - s * S < S ? size - s * S : S;
        int64_t take = (end - pos < slen - soff) ? end - pos : slen - soff;
        unsigned char *tmp = jcs_malloc((size_t)take);
        if (!tmp)
            return JCS_ENOMEM;
        if (jcs_stripcache_get(svc->strips, hash, s, (size_t)soff, tmp, (size_t)take)) {
            int rc = wr(arg, tmp, (size_t)take);
            jcs_free(tmp);
            if (rc)
                return rc;
            pos += take;
            continue;
        }
        jcs_free(tmp);
        /* Miss: fetch the strips the rest of the range needs plus the prefetch. */
        int64_t last = (end - 1) / S + svc->cfg->ec_strip_prefetch_count;
        if (last >= nstrips)
            last = nstrips - 1;
        while (last > s && (last - s + 1) * S > STRIP_FETCH_MAX)
            last--;
        int64_t f0 = s * S, f1 = (last + 1) * S < size ? (last + 1) * S : size;
        membuf m = {jcs_malloc((size_t)(f1 - f0)), 0, (size_t)(f1 - f0)};
        if (!m.p)
            return JCS_ENOMEM;
        int rc = JCS_EUNAVAIL;
        if (f1 - f0 <= STRIP_DIRECT_MAX && red->chunk_size <= JCS_SHARD_CALL_MAX) {
            /* Whole strips straight from the data blocks, hedged like a small read, so a late
             * hub costs its hedge delay, not the plan's wait for its stream. */
            counting cw = {mem_write, &m, 0, 0};
            rc = read_ec_direct(svc, blocks, d->nblocks, red, f0, f1 - f0, &cw, reads);
            if (rc && rc != JCS_ENOMEM)
                jcs_info("download: direct strip fetch failed (%s); running a plan instead",
                         jcs_err_msg(rc));
            if (rc == JCS_ENOMEM) {
                jcs_free(m.p);
                return rc;
            }
            if (rc)
                m.len = 0;
        }
        if (rc)
            rc = read_blocks(svc, blocks, d->nblocks, red, size, f0, f1 - f0, mem_write, &m, reads);
        if (rc == 0 && m.len != m.cap)
            rc = jcs_err_set(JCS_EIO, "download: object %lld: got %zu of %zu bytes",
                             (long long)d->object.object_id, m.len, m.cap);
        for (int64_t i = s; rc == 0 && i <= last; i++) {
            int64_t b0 = i * S - f0, bl = f1 - f0 - b0 < S ? f1 - f0 - b0 : S;
            if (jcs_stripcache_put(svc->strips, hash, i, m.p + b0, (size_t)bl) != 0)
                jcs_warn("download: strip cache: out of memory; strip not kept");
        }
        if (rc == 0) {
            int64_t stop = end < f1 ? end : f1;
            rc = wr(arg, m.p + (pos - f0), (size_t)(stop - pos));
            pos = stop;
        }
        jcs_free(m.p);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- whole objects --------------------------------------------------------------------------- */

/* Counts a finished read in the access statistics: per space, the fraction of the object. */
static void note_access(jcs_svc *svc, const jcs_meta_object *o, const jcs_download_reads *reads)
{
    if (reads->n == 0 || o->size <= 0)
        return;
    jcs_meta_access acc[64];
    for (size_t i = 0; i < reads->n; i++) {
        acc[i].object_id = o->object_id;
        acc[i].space_id = reads->space_id[i];
        acc[i].count = (double)reads->bytes[i] / (double)o->size;
    }
    jcs_access_note(svc->access, acc, reads->n);
}

int jcs_download_small(jcs_svc *svc, const jcs_meta_detail *d, int64_t offset, int64_t length,
                       void *buf)
{
    if (length < 0 || length > JCS_DOWNLOAD_SMALL_MAX)
        return jcs_err_set(JCS_EINVAL, "download_small: %lld bytes, at most %d", (long long)length,
                           JCS_DOWNLOAD_SMALL_MAX);
    membuf m = {.p = buf, .cap = (size_t)length};
    jcs_download_reads reads = {0};
    int rc = jcs_download_object(svc, d, offset, length, mem_write, &m, &reads);
    if (rc == 0 && m.len != (size_t)length)
        rc = jcs_err_set(JCS_EINTERNAL, "download: %zu bytes read of %lld", m.len,
                         (long long)length);
    if (rc == 0)
        note_access(svc, &d->object, &reads);
    return rc;
}

int jcs_download_object(jcs_svc *svc, const jcs_meta_detail *d, int64_t offset, int64_t length,
                        jcs_driver_write_fn wr, void *arg, jcs_download_reads *reads)
{
    if (length <= 0)
        return 0;
    jcs_download_red r;
    int rc = jcs_download_parse_red(&d->object, &r);
    if (rc)
        return rc;
    jcs_block *blocks = jcs_calloc(d->nblocks ? d->nblocks : 1, sizeof *blocks);
    if (!blocks) {
        jcs_download_red_clear(&r);
        return JCS_ENOMEM;
    }
    for (size_t i = 0; i < d->nblocks; i++)
        to_driver_block(&d->blocks[i], &blocks[i]);
    if (r.segmented) {
        /* Segment i lives in the blocks of index i, each a plain copy of the segment. */
        jcs_redundancy none = {.type = JCS_RED_NONE};
        int64_t seg_start = 0, end = offset + length;
        jcs_block *sel = jcs_calloc(d->nblocks ? d->nblocks : 1, sizeof *sel);
        if (!sel)
            rc = JCS_ENOMEM;
        for (size_t i = 0; rc == 0 && i < r.nsegments && seg_start < end; i++) {
            int64_t seg_end = seg_start + r.segments[i];
            if (seg_end > offset && r.segments[i] > 0) {
                size_t ns = 0;
                for (size_t j = 0; j < d->nblocks; j++)
                    if (blocks[j].index == (int)i)
                        sel[ns++] = blocks[j];
                int64_t a = offset > seg_start ? offset - seg_start : 0;
                int64_t b = (end < seg_end ? end : seg_end) - seg_start;
                if (ns == 0)
                    rc = jcs_err_set(JCS_EIO, "object %lld: segment %zu has no block",
                                     (long long)d->object.object_id, i);
                else
                    rc = read_blocks(svc, sel, ns, &none, r.segments[i], a, b - a, wr, arg, reads);
            }
            seg_start = seg_end;
        }
        jcs_free(sel);
    } else if (jcs_red_coded(&r.red) && svc->strips && svc->cfg->max_strip_cache_count > 0 &&
               length < d->object.size &&
               /* An object of one strip or less is read directly (read_ec_direct). */
               d->object.size > (int64_t)r.red.k * r.red.chunk_size &&
               (offset + length - 1) / ((int64_t)r.red.k * r.red.chunk_size) -
                       offset / ((int64_t)r.red.k * r.red.chunk_size) <
                   JCS_DOWNLOAD_CACHED_STRIPS) {
        rc = read_ec_cached(svc, d, blocks, &r.red, offset, length, wr, arg, reads);
    } else {
        rc = read_blocks(svc, blocks, d->nblocks, &r.red, d->object.size, offset, length, wr, arg,
                         reads);
    }
    jcs_free(blocks);
    jcs_download_red_clear(&r);
    if (rc && rc != JCS_ENOMEM && rc != JCS_ECANCELED)
        rc = jcs_err_wrap(rc, "object %lld (%s): ", (long long)d->object.object_id, d->object.path);
    return rc;
}

/* ---- streams --------------------------------------------------------------------------------- */

struct jcs_download_stream {
    jcs_svc *svc;
    jcs_meta_detail d;
    int64_t offset, length;
    jcs_pipe *pipe;
    pthread_t thread;
    int rc;
    char why[512]; /* the thread's error detail (details are per thread) */
    jcs_download_reads reads;
    jcs_chunk cur;
    size_t cur_off;
    int have_cur, at_end;
};

static int pipe_write(void *arg, const void *p, size_t n)
{
    return jcs_pipe_write(arg, p, n);
}

static void *stream_main(void *arg)
{
    jcs_download_stream *s = arg;
    s->rc =
        jcs_download_object(s->svc, &s->d, s->offset, s->length, pipe_write, s->pipe, &s->reads);
    if (s->rc)
        snprintf(s->why, sizeof s->why, "%s", jcs_err_msg(s->rc));
    jcs_pipe_close(s->pipe, s->rc);
    return NULL;
}

/* Takes the next chunk into cur; JCS_EOF at the end. */
static int next_chunk(jcs_download_stream *s)
{
    if (s->at_end)
        return JCS_EOF;
    int rc = jcs_pipe_read(s->pipe, &s->cur);
    if (rc == JCS_EOF) {
        s->at_end = 1;
        return JCS_EOF;
    }
    if (rc)
        return rc;
    s->have_cur = 1;
    s->cur_off = 0;
    return 0;
}

int jcs_download_stream_start(jcs_svc *svc, jcs_meta_detail *d, int64_t offset, int64_t length,
                              jcs_download_stream **out)
{
    jcs_download_stream *s = jcs_calloc(1, sizeof *s);
    if (!s)
        return JCS_ENOMEM;
    s->svc = svc;
    s->d = *d;
    memset(d, 0, sizeof *d);
    s->offset = offset;
    s->length = length;
    int rc = jcs_pipe_new(0, 0, &s->pipe);
    if (rc) {
        jcs_meta_detail_clear(&s->d);
        jcs_free(s);
        return rc;
    }
    if (pthread_create(&s->thread, NULL, stream_main, s) != 0) {
        jcs_pipe_free(s->pipe);
        jcs_meta_detail_clear(&s->d);
        jcs_free(s);
        return jcs_err_set(JCS_ENOMEM, "cannot start a download thread");
    }
    rc = next_chunk(s);
    if (rc < 0) {
        jcs_pipe_abort(s->pipe, rc);
        pthread_join(s->thread, NULL);
        rc = s->rc ? jcs_err_set(s->rc, "%s", s->why) : rc;
        jcs_pipe_free(s->pipe);
        jcs_meta_detail_clear(&s->d);
        jcs_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

ssize_t jcs_download_stream_read(jcs_download_stream *s, void *buf, size_t max)
{
    if (!s->have_cur) {
        int rc = next_chunk(s);
        if (rc == JCS_EOF)
            return 0;
        if (rc)
            return rc;
    }
    size_t take = s->cur.len - s->cur_off;
    if (take > max)
        take = max;
    memcpy(buf, s->cur.data + s->cur_off, take);
    s->cur_off += take;
    if (s->cur_off == s->cur.len) {
        jcs_pipe_release(s->pipe, &s->cur);
        s->have_cur = 0;
    }
    return (ssize_t)take;
}

void jcs_download_stream_end(jcs_download_stream *s, int completed)
{
    if (!s)
        return;
    if (s->have_cur) {
        jcs_pipe_release(s->pipe, &s->cur);
        s->have_cur = 0;
    }
    /* Whatever is left unread stops the plan (its next write fails). */
    jcs_pipe_abort(s->pipe, JCS_ECANCELED);
    pthread_join(s->thread, NULL);
    if (s->rc == 0 && completed) {
        note_access(s->svc, &s->d.object, &s->reads);
    } else if (s->rc && s->rc != JCS_ECANCELED) {
        jcs_warn("download of object %lld failed: %s", (long long)s->d.object.object_id, s->why);
    }
    jcs_pipe_free(s->pipe);
    jcs_meta_detail_clear(&s->d);
    jcs_free(s);
}
