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
#include "healq.h"
#include "log.h"
#include "pipe.h"
#include "stripcache.h"

/* A fetch into memory for the strip cache never exceeds this (prefetch is cut to fit). */
#define STRIP_FETCH_MAX ((int64_t)64 << 20)

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
 * The small-read path of EC objects: the range's bytes read straight from the data blocks
 * that hold them (strip s, data block i holds object bytes [s*S + i*C, s*S + (i+1)*C) at
 * block offset s*C), every piece in one call, all at once. Nothing is decoded and no
 * padding is read. JCS_EUNAVAIL (or a block's error) when a data block needed is not
 * reachable or fails: the caller then runs a plan, which reads any k blocks and decodes.
 */
static int read_ec_direct(jcs_svc *svc, const jcs_block *blocks, size_t nblocks,
                          const jcs_redundancy *red, int64_t offset, int64_t want, counting *cw,
                          jcs_download_reads *reads)
{
    const int64_t C = red->chunk_size, S = (int64_t)red->k * C;
    jcs_driver_small_io io[EC_DIRECT_PIECES];
    size_t np = 0, who[EC_DIRECT_PIECES];
    for (int64_t pos = offset; pos < offset + want; np++) {
        if (np == EC_DIRECT_PIECES)
            return jcs_err_set(JCS_EUNAVAIL, "range spans too many chunks for a direct read");
        int64_t s = pos / S, soff = pos % S, i = soff / C, coff = soff % C;
        int64_t take = C - coff < offset + want - pos ? C - coff : offset + want - pos;
        size_t b = nblocks;
        for (size_t j = 0; j < nblocks; j++)
            if (blocks[j].index == (int)i) {
                b = j;
                break;
            }
        if (b == nblocks)
            return jcs_err_set(JCS_EUNAVAIL, "data block %lld is not stored", (long long)i);
        memset(&io[np], 0, sizeof io[np]);
        io[np].file_hash = blocks[b].file_hash;
        io[np].offset = s * C + coff;
        io[np].length = take;
        who[np] = b;
        pos += take;
    }
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
    int64_t at = 0;
    for (size_t p = 0; rc == 0 && p < np; p++) {
        io[p].site = &sites.sites[who[p]];
        io[p].buf = buf + at;
        at += io[p].length;
        if (!io[p].site->hub)
            rc = jcs_err_set(JCS_EUNAVAIL, "data block %d: its hub is offline",
                             blocks[who[p]].index);
    }
    if (rc == 0)
        rc = jcs_driver_read_small_all(svc->driver, io, np);
    if (rc == 0 && want > 0)
        rc = count_write(cw, buf, (size_t)want);
    for (size_t p = 0; rc == 0 && p < np; p++)
        note_read(reads, blocks[who[p]].space_id, io[p].length);
    jcs_place_sites_clear(&sites);
    jcs_free(buf);
    jcs_free(ids);
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
        int rc = read_blocks(svc, blocks, d->nblocks, red, size, f0, f1 - f0, mem_write, &m, reads);
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
