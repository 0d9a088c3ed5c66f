#include "shardstore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hash.h"
#include "log.h"
#include "sidecar.h"

/* Shards found corrupt that are remembered per store (the oldest is forgotten first). */
#define BAD_MAX 1024

struct jcs_shardstore {
    jcs_storage *backend;
    pthread_mutex_t mu;
    char (*bad)[JCS_FILEHASH_LEN + 1]; /* ring of BAD_MAX, under mu */
    size_t nbad, badnext;
    atomic_ullong reads_verified, reads_unverified, corrupt_found, sidecars_written;
};

struct jcs_shard_writer {
    jcs_shardstore *ss;
    jcs_storage_writer *w;
    jcs_sidecar_acc acc;
};

#define SIDECAR_KEY_LEN (JCS_SHARD_KEY_LEN + 4)

static void sidecar_key(const char *key, char out[SIDECAR_KEY_LEN + 1])
{
    snprintf(out, SIDECAR_KEY_LEN + 1, "%s%s", key, JCS_SIDECAR_SUFFIX);
}

/* ---- shards known corrupt -------------------------------------------------------------------- */

static int bad_find(jcs_shardstore *ss, const char *hash)
{
    for (size_t i = 0; i < ss->nbad; i++)
        if (strcmp(ss->bad[i], hash) == 0)
            return (int)i;
    return -1;
}

/*
 * Remembers hash as corrupt (StatShard then reports it, so readers and
 * RedundancyRecover leave this copy aside) and logs the first finding.
 */
static void bad_mark(jcs_shardstore *ss, const char *hash, const char *why)
{
    int fresh = 0;
    pthread_mutex_lock(&ss->mu);
    if (ss->bad && bad_find(ss, hash) < 0) {
        memcpy(ss->bad[ss->badnext], hash, JCS_FILEHASH_LEN + 1);
        ss->badnext = (ss->badnext + 1) % BAD_MAX;
        if (ss->nbad < BAD_MAX)
            ss->nbad++;
        fresh = 1;
    }
    pthread_mutex_unlock(&ss->mu);
    atomic_fetch_add(&ss->corrupt_found, 1);
    if (fresh)
        jcs_error("%s: shard %s is corrupt: %s; it is not served, and is left for "
                  "RedundancyRecover to rebuild",
                  jcs_storage_name(ss->backend), hash, why);
}

static void bad_clear(jcs_shardstore *ss, const char *hash)
{
    pthread_mutex_lock(&ss->mu);
    int i = ss->bad ? bad_find(ss, hash) : -1;
    if (i >= 0)
        ss->bad[i][0] = '\0'; /* never matches a FileHash again */
    pthread_mutex_unlock(&ss->mu);
}

static int bad_known(jcs_shardstore *ss, const char *hash)
{
    pthread_mutex_lock(&ss->mu);
    int known = ss->bad && bad_find(ss, hash) >= 0;
    pthread_mutex_unlock(&ss->mu);
    return known;
}

void jcs_shardstore_counters(jcs_shardstore *ss, struct jcs_shardstore_counters *out)
{
    out->reads_verified = atomic_load(&ss->reads_verified);
    out->reads_unverified = atomic_load(&ss->reads_unverified);
    out->corrupt_found = atomic_load(&ss->corrupt_found);
    out->sidecars_written = atomic_load(&ss->sidecars_written);
}

int jcs_filehash_check(const char *hash)
{
    if (!hash)
        return jcs_err_set(JCS_EINVAL, "FileHash missing");
    size_t n = strnlen(hash, JCS_FILEHASH_LEN + 1);
    if (n != JCS_FILEHASH_LEN)
        return jcs_err_set(JCS_EINVAL, "FileHash \"%.80s\": %zu%s characters, want %d", hash, n,
                           n > JCS_FILEHASH_LEN ? " or more" : "", JCS_FILEHASH_LEN);
    if (strncmp(hash, "Full", 4) != 0 && strncmp(hash, "Comp", 4) != 0)
        return jcs_err_set(JCS_EINVAL, "FileHash \"%s\": must start with Full or Comp", hash);
    for (size_t i = 4; i < n; i++) {
        char c = hash[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return jcs_err_set(JCS_EINVAL,
                               "FileHash \"%s\": character %zu is not an upper-case hex digit",
                               hash, i);
    }
    return JCS_OK;
}

int jcs_shardstore_key(const char *hash, char out[JCS_SHARD_KEY_LEN + 1])
{
    int rc = jcs_filehash_check(hash);
    if (rc)
        return rc;
    snprintf(out, JCS_SHARD_KEY_LEN + 1, "blocks/%.2s/%s", hash + 4, hash);
    return JCS_OK;
}

int jcs_shardstore_open(jcs_storage *backend, jcs_shardstore **out)
{
    jcs_shardstore *ss = jcs_calloc(1, sizeof(*ss));
    if (!ss)
        return jcs_err_set(JCS_ENOMEM, "%s: shard store: out of memory", jcs_storage_name(backend));
    ss->bad = jcs_calloc(BAD_MAX, sizeof(*ss->bad));
    if (!ss->bad) {
        jcs_free(ss);
        return jcs_err_set(JCS_ENOMEM, "%s: shard store: out of memory", jcs_storage_name(backend));
    }
    ss->backend = backend;
    pthread_mutex_init(&ss->mu, NULL);
    *out = ss;
    return JCS_OK;
}

void jcs_shardstore_close(jcs_shardstore *ss)
{
    if (!ss)
        return;
    pthread_mutex_destroy(&ss->mu);
    jcs_free(ss->bad);
    jcs_free(ss);
}

jcs_storage *jcs_shardstore_backend(jcs_shardstore *ss)
{
    return ss->backend;
}

int jcs_shardstore_create(jcs_shardstore *ss, jcs_shard_writer **out)
{
    jcs_shard_writer *w = jcs_calloc(1, sizeof(*w));
    if (!w)
        return jcs_err_set(JCS_ENOMEM, "%s: new shard: out of memory",
                           jcs_storage_name(ss->backend));
    int rc = jcs_storage_write_begin(ss->backend, &w->w);
    if (rc) {
        jcs_free(w);
        return rc;
    }
    w->ss = ss;
    *out = w;
    return JCS_OK;
}

int jcs_shard_write(jcs_shard_writer *w, const void *data, size_t n)
{
    int rc = jcs_storage_write(w->w, data, n);
    if (rc == 0)
        jcs_sidecar_update(&w->acc, data, n);
    return rc;
}

uint64_t jcs_shard_writer_size(const jcs_shard_writer *w)
{
    return jcs_storage_writer_size(w->w);
}

void jcs_shard_abort(jcs_shard_writer *w)
{
    if (!w)
        return;
    jcs_storage_write_abort(w->w);
    jcs_sidecar_clear(&w->acc);
    jcs_free(w);
}

/* Stores an encoded sidecar under the shard's key + ".crc" (atomic, like any object). */
static int put_sidecar(jcs_storage *b, const char *key, const uint8_t *sc, size_t len)
{
    char skey[SIDECAR_KEY_LEN + 1];
    jcs_storage_writer *sw;
    sidecar_key(key, skey);
    int rc = jcs_storage_write_begin(b, &sw);
    if (rc)
        return rc;
    if ((rc = jcs_storage_write(sw, sc, len)) != 0) {
        jcs_storage_write_abort(sw);
        return rc;
    }
    return jcs_storage_write_commit(sw, skey);
}

static void fill_info(struct jcs_shard_info *info, const char *hash,
                      const struct jcs_storage_stat *st)
{
    if (!info)
        return;
    memcpy(info->hash, hash, JCS_FILEHASH_LEN + 1);
    info->size = st->size;
    info->mtime_ms = st->mtime_ms;
}

int jcs_shard_commit(jcs_shard_writer *w, const char *hash, struct jcs_shard_info *info,
                     int *existed)
{
    jcs_shardstore *ss = w->ss;
    jcs_storage *b = ss->backend;
    char key[JCS_SHARD_KEY_LEN + 1];
    uint64_t size = jcs_storage_writer_size(w->w);
    struct jcs_storage_stat st;
    if (existed)
        *existed = 0;
    int rc = jcs_shardstore_key(hash, key);
    if (rc) {
        rc = jcs_err_wrap(rc, "%s: commit shard: ", jcs_storage_name(b));
        jcs_shard_abort(w);
        return rc;
    }
    rc = jcs_storage_stat(b, key, &st);
    int replaced = rc == JCS_OK;
    if (rc == JCS_OK && st.size == size) {
        /*
         * Same name, same content. The new copy still replaces the stored one
         * (atomically, same bytes): that refreshes the shard's mtime, and GC
         * spares young shards, so an orphan that an upload in progress is
         * re-using cannot be collected between this write and the metadata
         * commit that references it.
         */
        if (existed)
            *existed = 1;
    } else if (rc == JCS_OK)
        jcs_warn("%s: shard %s is stored with %llu bytes but %llu were written; replacing it",
                 jcs_storage_name(b), hash, (unsigned long long)st.size, (unsigned long long)size);
    else if (rc != JCS_ENOENT) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        jcs_shard_abort(w);
        return jcs_err_set(rc, "%s", msg);
    }
    /*
     * The checksums go into the shard file's attribute (one file, one fsync, atomic with
     * the bytes) when the backend keeps it and they are short enough; otherwise into the
     * sidecar, committed first: a shard is never visible without its checksums (a crash in
     * between leaves a sidecar alone, which the next write of the shard replaces and GC
     * deletes with it).
     */
    uint8_t *sc = NULL;
    size_t sclen = 0;
    int kept = 0;
    char skey[SIDECAR_KEY_LEN + 1];
    jcs_storage_writer *sw = NULL;
    sidecar_key(key, skey);
    if ((rc = jcs_sidecar_encode(&w->acc, &sc, &sclen)) == 0 && sclen <= JCS_SIDECAR_ATTR_MAX)
        rc = jcs_storage_writer_set_attr(w->w, JCS_SIDECAR_ATTR, sc, sclen, &kept);
    if (rc == 0 && !kept && ((rc = jcs_storage_write_begin(b, &sw)) == 0))
        rc = jcs_storage_write(sw, sc, sclen);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        jcs_storage_write_abort(sw);
        jcs_free(sc);
        jcs_shard_abort(w);
        return jcs_err_set(rc, "%s: shard %s: storing its checksums: %s", jcs_storage_name(b), hash,
                           msg);
    }
    jcs_free(sc);
    jcs_sidecar_clear(&w->acc);
    if (kept)
        rc = jcs_storage_write_commit(w->w, key);
    else /* Both in one commit that shares their syncs, the sidecar first. */
        rc = jcs_storage_write_commit_pair(sw, skey, w->w, key);
    jcs_free(w);
    if (rc)
        return rc;
    if (kept && replaced) {
        /* A copy of the old layout may have left a sidecar: readers prefer the attribute,
         * but a stale file would mislead whoever looks at the directory. */
        int r2 = jcs_storage_delete(b, skey);
        if (r2)
            jcs_warn("%s: shard %s: deleting its old checksum sidecar: %s", jcs_storage_name(b),
                     hash, jcs_err_msg(r2));
    }
    bad_clear(ss, hash);
    if (info) {
        /* The mtime the backend recorded; fall back to the size we know if stat fails. */
        if (jcs_storage_stat(b, key, &st) != JCS_OK) {
            st.size = size;
            st.mtime_ms = 0;
        }
        fill_info(info, hash, &st);
    }
    return JCS_OK;
}

/* ---- verified reads ------------------------------------------------------------------------ */

struct grow {
    uint8_t *p;
    size_t len, cap, max;
};

static int grow_sink(void *arg, const void *data, size_t n)
{
    struct grow *g = arg;
    if (n > g->max - g->len)
        return jcs_err_set(JCS_ECORRUPT, "checksum sidecar: over %zu bytes", g->max);
    if (g->len + n > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n)
            cap *= 2;
        uint8_t *p = jcs_realloc(g->p, cap);
        if (!p)
            return jcs_err_set(JCS_ENOMEM, "checksum sidecar: out of memory");
        g->p = p;
        g->cap = cap;
    }
    memcpy(g->p + g->len, data, n);
    g->len += n;
    return 0;
}

/* A shard's encoded checksums, from its attribute or its sidecar object. */
struct checks {
    uint8_t attr[JCS_SIDECAR_ATTR_MAX];
    struct grow g;    /* the sidecar object's bytes, when there is no attribute */
    const uint8_t *p; /* the encoded checksums, wherever they were */
    size_t len;
    int in_attr; /* they came from the attribute */
};

/*
 * Reads and checks the checksums of key into *c: its attribute when it has one, else its
 * sidecar. 0 with a parsed *sc; JCS_ENOENT when there are none (a shard written by JCS,
 * or before checksums existed) or the shard itself is missing; JCS_ECORRUPT when they are
 * damaged; another error when they could not be read. Free c->g.p after.
 */
static int get_checksums(jcs_shardstore *ss, const char *key, struct checks *c, jcs_sidecar *sc)
{
    memset(&c->g, 0, sizeof c->g);
    c->p = NULL;
    c->len = 0;
    c->in_attr = 0;
    size_t n = 0;
    int rc = jcs_storage_get_attr(ss->backend, key, JCS_SIDECAR_ATTR, c->attr, sizeof c->attr, &n);
    if (rc == JCS_ETOOBIG)
        return jcs_err_set(JCS_ECORRUPT, "checksum attribute: over %d bytes", JCS_SIDECAR_ATTR_MAX);
    if (rc)
        return rc; /* JCS_ENOENT: the shard is missing (its sidecar would not help) */
    if (n > 0) {
        c->in_attr = 1;
        c->p = c->attr;
        c->len = n;
        return jcs_sidecar_parse(c->attr, n, sc);
    }
    char skey[SIDECAR_KEY_LEN + 1];
    sidecar_key(key, skey);
    c->g.max = jcs_sidecar_encoded_size(JCS_SIDECAR_MAX_SHARD);
    rc = jcs_storage_read(ss->backend, skey, 0, JCS_STORAGE_TO_END, grow_sink, &c->g);
    c->p = c->g.p;
    c->len = c->g.len;
    if (rc == 0)
        rc = jcs_sidecar_parse(c->g.p, c->g.len, sc);
    return rc;
}

struct vread {
    const jcs_sidecar *sc;
    uint64_t pos;          /* absolute offset of the next byte from the backend */
    uint64_t want0, want1; /* the caller's range */
    uint8_t *buf;          /* a chunk being assembled, when pieces do not line up */
    uint32_t fill;
    uint64_t bad_off; /* first chunk that failed, UINT64_MAX: none */
    jcs_storage_sink sink;
    void *arg;
};

static int deliver_chunk(struct vread *v, const uint8_t *p, uint64_t start, size_t len)
{
    if (jcs_sidecar_crc(p, len) != jcs_sidecar_get(v->sc, start / JCS_SIDECAR_CHUNK)) {
        v->bad_off = start;
        return JCS_ECORRUPT;
    }
    uint64_t s = start > v->want0 ? start : v->want0;
    uint64_t e = start + len < v->want1 ? start + len : v->want1;
    return s < e ? v->sink(v->arg, p + (s - start), (size_t)(e - s)) : 0;
}

static int vread_sink(void *arg, const void *data, size_t len)
{
    struct vread *v = arg;
    const uint8_t *p = data;
    while (len > 0) {
        uint64_t start = v->pos - v->fill;
        size_t clen = v->sc->size - start < JCS_SIDECAR_CHUNK ? (size_t)(v->sc->size - start)
                                                              : JCS_SIDECAR_CHUNK;
        if (clen == 0) {
            v->bad_off = start;
            return JCS_ECORRUPT; /* more bytes than the checksums cover */
        }
        int rc;
        if (v->fill == 0 && len >= clen) {
            /* The usual case: whole chunks in the backend's buffer, checked where they lie. */
            if ((rc = deliver_chunk(v, p, start, clen)) != 0)
                return rc;
            p += clen;
            len -= clen;
            v->pos += clen;
            continue;
        }
        if (!v->buf && !(v->buf = jcs_malloc(JCS_SIDECAR_CHUNK)))
            return jcs_err_set(JCS_ENOMEM, "out of memory");
        size_t k = clen - v->fill < len ? clen - v->fill : len;
        memcpy(v->buf + v->fill, p, k);
        v->fill += (uint32_t)k;
        v->pos += k;
        p += k;
        len -= k;
        if (v->fill == clen) {
            v->fill = 0;
            if ((rc = deliver_chunk(v, v->buf, start, clen)) != 0)
                return rc;
        }
    }
    return 0;
}

/* A shard without sidecar: a whole read is checked against its FileHash at the end. */
struct lread {
    struct jcs_hash h;
    uint64_t n;
    jcs_storage_sink sink;
    void *arg;
};

static int lread_sink(void *arg, const void *data, size_t len)
{
    struct lread *l = arg;
    jcs_hash_update(&l->h, data, len);
    l->n += len;
    return l->sink(l->arg, data, len);
}

static int read_legacy(jcs_shardstore *ss, const char *hash, const char *key, uint64_t off,
                       uint64_t len, jcs_storage_sink sink, void *arg)
{
    struct jcs_storage_stat st;
    int whole = 0, rc;
    if (off == 0 && strncmp(hash, "Full", 4) == 0) {
        if (len == JCS_STORAGE_TO_END)
            whole = 1;
        else if ((rc = jcs_storage_stat(ss->backend, key, &st)) == 0)
            whole = st.size == len;
        else
            return rc;
    }
    if (!whole) {
        atomic_fetch_add(&ss->reads_unverified, 1);
        return jcs_storage_read(ss->backend, key, off, len, sink, arg);
    }
    struct lread l = {.sink = sink, .arg = arg};
    if ((rc = jcs_hash_init(&l.h)) != 0)
        return rc;
    rc = jcs_storage_read(ss->backend, key, off, len, lread_sink, &l);
    char got[JCS_HASH_SIZE];
    if (rc == 0 && (rc = jcs_hash_final(&l.h, got, NULL)) == 0) {
        if (strcmp(got, hash) != 0) {
            bad_mark(ss, hash, "its content hashes to another FileHash (no checksum sidecar)");
            rc = jcs_err_set(JCS_ECORRUPT,
                             "%s: shard %s is corrupt: its %llu bytes hash to %s (no checksum "
                             "sidecar)",
                             jcs_storage_name(ss->backend), hash, (unsigned long long)l.n, got);
        } else {
            atomic_fetch_add(&ss->reads_verified, 1);
        }
    }
    jcs_hash_abort(&l.h);
    return rc;
}

int jcs_shardstore_read(jcs_shardstore *ss, const char *hash, uint64_t off, uint64_t len,
                        jcs_storage_sink sink, void *arg)
{
    char key[JCS_SHARD_KEY_LEN + 1];
    int rc = jcs_shardstore_key(hash, key);
    if (rc)
        return jcs_err_wrap(rc, "%s: read shard: ", jcs_storage_name(ss->backend));
    struct checks c;
    jcs_sidecar sc;
    rc = get_checksums(ss, key, &c, &sc);
    if (rc == JCS_ENOENT) {
        jcs_free(c.g.p);
        return read_legacy(ss, hash, key, off, len, sink, arg);
    }
    if (rc == JCS_ECORRUPT) {
        char why[600];
        snprintf(why, sizeof why, "%s", jcs_err_msg(rc));
        bad_mark(ss, hash, why);
        rc =
            jcs_err_set(JCS_ECORRUPT, "%s: shard %s: %s", jcs_storage_name(ss->backend), hash, why);
    }
    if (rc) {
        jcs_free(c.g.p);
        return rc;
    }
    if (len == JCS_STORAGE_TO_END)
        len = off <= sc.size ? sc.size - off : 0;
    if (off > sc.size || len > sc.size - off) {
        jcs_free(c.g.p);
        return jcs_err_set(JCS_EINVAL,
                           "%s: read shard %s: range [%llu, %llu) is past the end "
                           "(size %llu)",
                           jcs_storage_name(ss->backend), hash, (unsigned long long)off,
                           (unsigned long long)(off + len), (unsigned long long)sc.size);
    }
    uint64_t a = off / JCS_SIDECAR_CHUNK * JCS_SIDECAR_CHUNK;
    uint64_t e = (off + len + JCS_SIDECAR_CHUNK - 1) / JCS_SIDECAR_CHUNK * JCS_SIDECAR_CHUNK;
    if (e > sc.size)
        e = sc.size;
    if (len == 0)
        e = a; /* nothing to check, nothing to send */
    struct vread v = {.sc = &sc,
                      .pos = a,
                      .want0 = off,
                      .want1 = off + len,
                      .bad_off = UINT64_MAX,
                      .sink = sink,
                      .arg = arg};
    rc = e > a ? jcs_storage_read(ss->backend, key, a, e - a, vread_sink, &v) : 0;
    char why[256];
    why[0] = '\0';
    if (v.bad_off != UINT64_MAX)
        snprintf(why, sizeof why, "the %u-byte chunk at offset %llu fails its CRC32C",
                 JCS_SIDECAR_CHUNK, (unsigned long long)v.bad_off);
    else if (rc == JCS_EINVAL || (rc == 0 && (v.pos != e || v.fill != 0)))
        /* The range was checked against the sidecar: the stored shard is shorter. */
        snprintf(why, sizeof why, "it is shorter than the %llu bytes its checksums cover",
                 (unsigned long long)sc.size);
    if (why[0]) {
        bad_mark(ss, hash, why);
        rc = jcs_err_set(JCS_ECORRUPT, "%s: shard %s is corrupt: %s", jcs_storage_name(ss->backend),
                         hash, why);
    } else if (rc == 0) {
        atomic_fetch_add(&ss->reads_verified, 1);
    }
    jcs_free(v.buf);
    jcs_free(c.g.p);
    return rc;
}

/* ---- scrub ---------------------------------------------------------------------------------- */

struct vall {
    struct jcs_hash h;
    jcs_sidecar_acc acc;
    uint64_t n;
};

static int vall_sink(void *arg, const void *data, size_t len)
{
    struct vall *x = arg;
    jcs_hash_update(&x->h, data, len);
    jcs_sidecar_update(&x->acc, data, len);
    x->n += len;
    return 0;
}

int jcs_shardstore_verify(jcs_shardstore *ss, const char *hash, struct jcs_shard_verify *out)
{
    char key[JCS_SHARD_KEY_LEN + 1];
    memset(out, 0, sizeof *out);
    int rc = jcs_shardstore_key(hash, key);
    if (rc)
        return jcs_err_wrap(rc, "%s: verify shard: ", jcs_storage_name(ss->backend));
    struct checks c;
    jcs_sidecar sc;
    int have = get_checksums(ss, key, &c, &sc);
    if (have != 0 && have != JCS_ENOENT && have != JCS_ECORRUPT) {
        jcs_free(c.g.p);
        return have;
    }
    struct vall x = {0};
    uint8_t *enc = NULL;
    size_t enclen = 0;
    char why[600];
    why[0] = '\0';
    if ((rc = jcs_hash_init(&x.h)) != 0)
        goto out;
    rc = jcs_storage_read(ss->backend, key, 0, JCS_STORAGE_TO_END, vall_sink, &x);
    if (rc)
        goto out; /* JCS_ENOENT: the shard is missing, not corrupt */
    out->size = x.n;
    char got[JCS_HASH_SIZE];
    if ((rc = jcs_hash_final(&x.h, got, NULL)) != 0 ||
        (rc = jcs_sidecar_encode(&x.acc, &enc, &enclen)) != 0)
        goto out;
    int full = strncmp(hash, "Full", 4) == 0;
    if (full && strcmp(got, hash) != 0) {
        snprintf(why, sizeof why, "its %llu bytes hash to %s", (unsigned long long)x.n, got);
    } else if (!full && have == 0 && (enclen != c.len || memcmp(enc, c.p, enclen) != 0)) {
        /* A Comp name is not the SHA-256 of the bytes: the sidecar is the only check. */
        snprintf(why, sizeof why, "its content no longer matches its checksums");
    } else if (have != 0 || enclen != c.len || memcmp(enc, c.p, enclen) != 0) {
        /* Good content, but the checksums are missing, damaged or stale: write them again,
         * into the attribute where it can hold them (as a new shard's). */
        int kept = 0;
        if (enclen <= JCS_SIDECAR_ATTR_MAX &&
            (rc = jcs_storage_set_attr(ss->backend, key, JCS_SIDECAR_ATTR, enc, enclen, &kept)) !=
                0)
            goto out;
        if (!kept && (rc = put_sidecar(ss->backend, key, enc, enclen)) != 0)
            goto out;
        if (kept && !c.in_attr && have != JCS_ENOENT) {
            /* The damaged sidecar is superseded by the attribute: remove it. */
            char skey[SIDECAR_KEY_LEN + 1];
            sidecar_key(key, skey);
            int r2 = jcs_storage_delete(ss->backend, skey);
            if (r2)
                jcs_warn("%s: shard %s: %s", jcs_storage_name(ss->backend), hash, jcs_err_msg(r2));
        }
        atomic_fetch_add(&ss->sidecars_written, 1);
        out->sidecar_written = 1;
        jcs_info("%s: shard %s: checksum sidecar %s", jcs_storage_name(ss->backend), hash,
                 have == JCS_ENOENT ? "written (there was none)" : "rewritten (it was damaged)");
    }
    if (why[0]) {
        bad_mark(ss, hash, why);
        rc = jcs_err_set(JCS_ECORRUPT, "%s: shard %s is corrupt: %s", jcs_storage_name(ss->backend),
                         hash, why);
    } else {
        bad_clear(ss, hash);
    }
out:
    jcs_hash_abort(&x.h);
    jcs_sidecar_clear(&x.acc);
    jcs_free(enc);
    jcs_free(c.g.p);
    return rc;
}

int jcs_shardstore_known_corrupt(jcs_shardstore *ss, const char *hash)
{
    if (!bad_known(ss, hash))
        return JCS_OK;
    return jcs_err_set(JCS_ECORRUPT, "%s: shard %s failed verification and waits to be rebuilt",
                       jcs_storage_name(ss->backend), hash);
}

int jcs_shardstore_stat(jcs_shardstore *ss, const char *hash, struct jcs_shard_info *info)
{
    char key[JCS_SHARD_KEY_LEN + 1];
    struct jcs_storage_stat st;
    int rc = jcs_shardstore_key(hash, key);
    if (rc)
        return jcs_err_wrap(rc, "%s: stat shard: ", jcs_storage_name(ss->backend));
    rc = jcs_storage_stat(ss->backend, key, &st);
    if (!rc && (rc = jcs_shardstore_known_corrupt(ss, hash)) != 0)
        return rc;
    if (!rc)
        fill_info(info, hash, &st);
    return rc;
}

struct list_ctx {
    jcs_shardstore *ss;
    jcs_shard_list_fn fn;
    void *arg;
};

static int list_one(void *arg, const char *key, const struct jcs_storage_stat *st)
{
    struct list_ctx *c = arg;
    size_t kl = strlen(key);
    if (kl > 4 && strcmp(key + kl - 4, JCS_SIDECAR_SUFFIX) == 0)
        return JCS_OK; /* a checksum sidecar, listed with its shard */
    /* Only "blocks/XY/<hash>" with XY = hash[4..6) is a shard; anything else is foreign. */
    if (strlen(key) != JCS_SHARD_KEY_LEN || strncmp(key, "blocks/", 7) != 0 || key[9] != '/' ||
        jcs_filehash_check(key + 10) != JCS_OK || strncmp(key + 7, key + 14, 2) != 0) {
        jcs_debug("%s: %s is not a shard; skipped", jcs_storage_name(c->ss->backend), key);
        return JCS_OK;
    }
    struct jcs_shard_info info;
    fill_info(&info, key + 10, st);
    return c->fn(c->arg, &info);
}

int jcs_shardstore_list(jcs_shardstore *ss, jcs_shard_list_fn fn, void *arg)
{
    struct list_ctx c = {ss, fn, arg};
    return jcs_storage_list(ss->backend, "blocks/", list_one, &c);
}

/* One blocks/XY/ directory of a listing for orphan sidecars: its shards and its sidecars. */
struct orphan_ctx {
    jcs_shardstore *ss;
    jcs_shard_list_fn fn;
    void *arg;
    char dir[3]; /* the XY of the group being gathered ("" before the first key) */
    struct jcs_shard_info *side;
    size_t nside, capside;
    char (*shards)[JCS_FILEHASH_LEN + 1];
    size_t nshards, capshards;
};

static int info_cmp(const void *a, const void *b)
{
    return strcmp(((const struct jcs_shard_info *)a)->hash,
                  ((const struct jcs_shard_info *)b)->hash);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Reports the sidecars of the gathered directory that have no shard, and empties it. */
static int orphan_flush(struct orphan_ctx *c)
{
    int rc = JCS_OK;
    if (c->nshards)
        qsort(c->shards, c->nshards, sizeof(*c->shards), name_cmp);
    if (c->nside)
        qsort(c->side, c->nside, sizeof(*c->side), info_cmp);
    for (size_t i = 0; i < c->nside && rc == 0; i++)
        if (!c->nshards ||
            !bsearch(c->side[i].hash, c->shards, c->nshards, sizeof(*c->shards), name_cmp))
            rc = c->fn(c->arg, &c->side[i]);
    c->nside = c->nshards = 0;
    return rc;
}

/* Bounds one directory's gathering: a directory holds about 1/256 of the shards. */
#define ORPHAN_GROUP_MAX (1 << 22)

static int orphan_one(void *arg, const char *key, const struct jcs_storage_stat *st)
{
    struct orphan_ctx *c = arg;
    size_t kl = strlen(key);
    int side = kl > 4 && strcmp(key + kl - 4, JCS_SIDECAR_SUFFIX) == 0;
    size_t hl = side ? kl - 4 : kl;
    if (hl != JCS_SHARD_KEY_LEN || strncmp(key, "blocks/", 7) != 0 || key[9] != '/' ||
        strncmp(key + 7, key + 14, 2) != 0)
        return JCS_OK; /* not a shard's key nor a sidecar's */
    char hash[JCS_FILEHASH_LEN + 1];
    memcpy(hash, key + 10, JCS_FILEHASH_LEN);
    hash[JCS_FILEHASH_LEN] = '\0';
    if (jcs_filehash_check(hash) != JCS_OK)
        return JCS_OK;
    int rc = JCS_OK;
    if (strncmp(c->dir, key + 7, 2) != 0) {
        if (c->dir[0] && (rc = orphan_flush(c)) != 0)
            return rc;
        memcpy(c->dir, key + 7, 2);
    }
    if (side) {
        if (c->nside == c->capside) {
            size_t cap = c->capside ? c->capside * 2 : 64;
            struct jcs_shard_info *v =
                cap <= ORPHAN_GROUP_MAX ? jcs_realloc(c->side, cap * sizeof(*v)) : NULL;
            if (!v)
                return jcs_err_set(JCS_ENOMEM, "%s: listing sidecars: out of memory",
                                   jcs_storage_name(c->ss->backend));
            c->side = v;
            c->capside = cap;
        }
        fill_info(&c->side[c->nside++], hash, st);
    } else {
        if (c->nshards == c->capshards) {
            size_t cap = c->capshards ? c->capshards * 2 : 64;
            char(*v)[JCS_FILEHASH_LEN + 1] =
                cap <= ORPHAN_GROUP_MAX ? jcs_realloc(c->shards, cap * sizeof(*v)) : NULL;
            if (!v)
                return jcs_err_set(JCS_ENOMEM, "%s: listing sidecars: out of memory",
                                   jcs_storage_name(c->ss->backend));
            c->shards = v;
            c->capshards = cap;
        }
        memcpy(c->shards[c->nshards++], hash, JCS_FILEHASH_LEN + 1);
    }
    return JCS_OK;
}

int jcs_shardstore_list_orphan_sidecars(jcs_shardstore *ss, jcs_shard_list_fn fn, void *arg)
{
    struct orphan_ctx c = {.ss = ss, .fn = fn, .arg = arg};
    int rc = jcs_storage_list(ss->backend, "blocks/", orphan_one, &c);
    if (rc == 0)
        rc = orphan_flush(&c);
    jcs_free(c.side);
    jcs_free(c.shards);
    return rc;
}

int jcs_shardstore_delete(jcs_shardstore *ss, const char *const *hashes, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (n == 0)
        return JCS_OK;
    char(*keys)[SIDECAR_KEY_LEN + 1] = jcs_calloc(n, sizeof(*keys));
    const char **ptrs = jcs_calloc(n, sizeof(*ptrs));
    int rc = JCS_OK;
    if (!keys || !ptrs) {
        rc = jcs_err_set(JCS_ENOMEM, "%s: delete %zu shards: out of memory",
                         jcs_storage_name(ss->backend), n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = jcs_shardstore_key(hashes[i], keys[i]);
        if (rc) {
            rc = jcs_err_wrap(rc, "%s: delete shards: ", jcs_storage_name(ss->backend));
            goto out;
        }
        ptrs[i] = keys[i];
    }
    rc = jcs_storage_delete_many(ss->backend, ptrs, n, done);
    if (rc == 0) {
        /* Then the sidecars: one left behind is harmless (the next write of that shard
         * replaces it), so a failure here is only logged. */
        for (size_t i = 0; i < n; i++) {
            bad_clear(ss, hashes[i]);
            strcat(keys[i], JCS_SIDECAR_SUFFIX);
        }
        int r2 = jcs_storage_delete_many(ss->backend, ptrs, n, NULL);
        if (r2)
            jcs_warn("%s: deleting checksum sidecars: %s", jcs_storage_name(ss->backend),
                     jcs_err_msg(r2));
    }
out:
    jcs_free(keys);
    jcs_free(ptrs);
    return rc;
}

int jcs_shardstore_reclaim(jcs_shardstore *ss, int64_t min_age_ms, unsigned *removed)
{
    return jcs_storage_reclaim(ss->backend, min_age_ms, removed);
}
