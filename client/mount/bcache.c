/* The block cache: a hash table of blocks threaded on an LRU list, one file per block. */
#include "bcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

#define HASH_MAX  128
#define NAME_MAX_ (HASH_MAX + 24)

typedef struct blk {
    struct blk *hnext;       /* hash chain */
    struct blk *prev, *next; /* LRU: head is the most recent */
    int64_t size;
    char name[NAME_MAX_]; /* "<hash>.<idx>", also the file name */
} blk;

struct jcs_bcache {
    char *dir;
    int64_t cap;
    int64_t min_free; /* bytes kept free on the cache's file system */
    pthread_mutex_t mu;
    blk **tab;
    size_t nbuckets;
    blk *head, *tail;
    int64_t nblocks, bytes, reserved;
    int64_t hits, misses, evictions;
    uint64_t tmpseq;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int key(const char *hash, int64_t idx, char out[NAME_MAX_])
{
    size_t n = strlen(hash);
    if (n == 0 || n > HASH_MAX || idx < 0)
        return jcs_err_set(JCS_EINVAL, "block cache: bad key \"%.40s\" #%lld", hash,
                           (long long)idx);
    for (size_t i = 0; i < n; i++) {
        char ch = hash[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            return jcs_err_set(JCS_EINVAL, "block cache: bad character in hash \"%.40s\"", hash);
    }
    snprintf(out, NAME_MAX_, "%s.%lld", hash, (long long)idx);
    return JCS_OK;
}

static blk **slot(jcs_bcache *c, const char *name)
{
    blk **p = &c->tab[fnv(name) % c->nbuckets];
    while (*p && strcmp((*p)->name, name) != 0)
        p = &(*p)->hnext;
    return p;
}

static void lru_unlink(jcs_bcache *c, blk *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        c->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        c->tail = b->prev;
    b->prev = b->next = NULL;
}

static void lru_push(jcs_bcache *c, blk *b)
{
    b->prev = NULL;
    b->next = c->head;
    if (c->head)
        c->head->prev = b;
    c->head = b;
    if (!c->tail)
        c->tail = b;
}

static void lru_append(jcs_bcache *c, blk *b)
{
    b->next = NULL;
    b->prev = c->tail;
    if (c->tail)
        c->tail->next = b;
    c->tail = b;
    if (!c->head)
        c->head = b;
}

/* Removes b from the table, the list and the disk. */
static void drop(jcs_bcache *c, blk *b)
{
    blk **p = slot(c, b->name);
    if (*p == b)
        *p = b->hnext;
    lru_unlink(c, b);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir, b->name);
    unlink(path);
    c->nblocks--;
    c->bytes -= b->size;
    jcs_free(b);
}

/* Free bytes on the cache's file system for this user (INT64_MAX when unknown). */
static int64_t disk_free(const jcs_bcache *c)
{
    struct statvfs sv;
    if (statvfs(c->dir, &sv) != 0)
        return INT64_MAX;
    return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

/* Whether need more bytes would take the disk under the floor that the cache keeps free. */
static int under_floor(const jcs_bcache *c, int64_t need, int64_t *avail)
{
    if (c->min_free <= 0)
        return 0;
    *avail = disk_free(c);
    return *avail != INT64_MAX && *avail - need < c->min_free;
}

/*
 * Evicts least recently used blocks until need more bytes fit, both under
 * the cap and above the disk's free-space floor; 0 or JCS_ETOOBIG. The floor
 * is what keeps an unlimited cache (cap 0, JCS's default) or a cap larger
 * than the disk from filling the disk that other programs share.
 */
static int make_room(jcs_bcache *c, int64_t need)
{
    int64_t avail = 0;
    while (c->tail && ((c->cap > 0 && c->bytes + c->reserved + need > c->cap) ||
                       under_floor(c, need, &avail))) {
        drop(c, c->tail);
        c->evictions++;
    }
    if (c->cap > 0 && c->bytes + c->reserved + need > c->cap)
        return jcs_err_set(JCS_ETOOBIG,
                           "the mount's cache is full: %lld bytes of staged writes and %lld of "
                           "blocks under mount.maxCacheSize %lld, nothing left to evict",
                           (long long)c->reserved, (long long)c->bytes, (long long)c->cap);
    if (under_floor(c, need, &avail))
        return jcs_err_set(JCS_ETOOBIG,
                           "the disk of the mount's cache %s has %lld bytes free: %lld more would "
                           "leave less than the %lld the mount keeps free (%lld bytes of staged "
                           "writes, nothing left to evict)",
                           c->dir, (long long)avail, (long long)need, (long long)c->min_free,
                           (long long)c->reserved);
    return JCS_OK;
}

typedef struct found {
    blk *b;
    int64_t mtime;
} found;

static int by_mtime(const void *a, const void *b)
{
    int64_t x = ((const found *)a)->mtime, y = ((const found *)b)->mtime;
    return x < y ? -1 : x > y;
}

/* Indexes the blocks left by an earlier run; removes half-written temporaries. */
static int scan(jcs_bcache *c)
{
    DIR *d = opendir(c->dir);
    if (!d)
        return jcs_err_set(JCS_EIO, "block cache %s: %s", c->dir, strerror(errno));
    found *v = NULL;
    size_t n = 0, cap = 0;
    int rc = JCS_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->dir, e->d_name);
        if (strncmp(e->d_name, "tmp.", 4) == 0) {
            unlink(path);
            continue;
        }
        const char *dot = strrchr(e->d_name, '.');
        struct stat st;
        if (!dot || strlen(e->d_name) >= NAME_MAX_ || stat(path, &st) != 0 ||
            !S_ISREG(st.st_mode) || st.st_size > JCS_BCACHE_BLOCK)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            found *nv = jcs_realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = JCS_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        blk *b = jcs_calloc(1, sizeof *b);
        if (!b) {
            rc = JCS_ENOMEM;
            break;
        }
        memcpy(b->name, e->d_name, strlen(e->d_name) + 1); /* length checked above */
        b->size = st.st_size;
        v[n].b = b;
        v[n++].mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            jcs_free(v[i].b);
        jcs_free(v);
        return rc;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, by_mtime);
    /* Oldest first on the list's tail end: append newest-to-oldest. */
    for (size_t i = n; i-- > 0;) {
        blk *b = v[i].b;
        blk **p = slot(c, b->name);
        b->hnext = *p;
        *p = b;
        lru_append(c, b);
        c->nblocks++;
        c->bytes += b->size;
    }
    jcs_free(v);
    /* An over-full cache (a smaller cap than last time) just shrinks. */
    if (make_room(c, 0) != 0)
        jcs_err_clear();
    return JCS_OK;
}

int jcs_bcache_open(const char *dir, int64_t cap, jcs_bcache **out)
{
    int rc = jcs_mkdirs(dir, 0700);
    if (rc)
        return rc;
    jcs_bcache *c = jcs_calloc(1, sizeof *c);
    if (!c)
        return JCS_ENOMEM;
    c->nbuckets = 4096;
    c->dir = jcs_strdup(dir);
    c->tab = jcs_calloc(c->nbuckets, sizeof *c->tab);
    if (!c->dir || !c->tab) {
        jcs_free(c->dir);
        jcs_free(c->tab);
        jcs_free(c);
        return JCS_ENOMEM;
    }
    c->cap = cap;
    c->min_free = JCS_BCACHE_MIN_FREE;
    pthread_mutex_init(&c->mu, NULL);
    if ((rc = scan(c)) != 0) {
        jcs_bcache_free(c);
        return rc;
    }
    *out = c;
    return JCS_OK;
}

void jcs_bcache_free(jcs_bcache *c)
{
    if (!c)
        return;
    blk *b = c->head;
    while (b) {
        blk *n = b->next;
        jcs_free(b);
        b = n;
    }
    pthread_mutex_destroy(&c->mu);
    jcs_free(c->tab);
    jcs_free(c->dir);
    jcs_free(c);
}

int jcs_bcache_read(jcs_bcache *c, const char *hash, int64_t idx, size_t off, void *buf, size_t len,
                    size_t *got)
{
    char name[NAME_MAX_];
    int rc = key(hash, idx, name);
    if (rc)
        return rc;
    *got = 0;
    pthread_mutex_lock(&c->mu);
    blk *b = *slot(c, name);
    int fd = -1;
    if (b) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            lru_unlink(c, b);
            lru_push(c, b);
            c->hits++;
        } else {
            /* Removed behind our back: forget it. */
            drop(c, b);
            b = NULL;
        }
    }
    if (!b)
        c->misses++;
    pthread_mutex_unlock(&c->mu);
    if (fd < 0)
        return 0;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return jcs_err_set(JCS_EIO, "block cache %s/%s: %s", c->dir, name, strerror(e));
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    *got = done;
    return 1;
}

int64_t jcs_bcache_block_size(jcs_bcache *c, const char *hash, int64_t idx)
{
    char name[NAME_MAX_];
    if (key(hash, idx, name))
        return -1;
    pthread_mutex_lock(&c->mu);
    blk *b = *slot(c, name);
    int64_t s = b ? b->size : -1;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *q = p;
    while (n) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int jcs_bcache_put(jcs_bcache *c, const char *hash, int64_t idx, const void *data, size_t len)
{
    char name[NAME_MAX_];
    int rc = key(hash, idx, name);
    if (rc)
        return rc;
    if (len > JCS_BCACHE_BLOCK)
        return jcs_err_set(JCS_EINVAL, "block cache: block %s of %zu bytes is over %u", name, len,
                           JCS_BCACHE_BLOCK);
    blk *nb = jcs_calloc(1, sizeof *nb);
    if (!nb)
        return JCS_ENOMEM;
    snprintf(nb->name, sizeof nb->name, "%s", name);
    nb->size = (int64_t)len;
    pthread_mutex_lock(&c->mu);
    blk *old = *slot(c, name);
    if (old)
        drop(c, old);
    rc = make_room(c, (int64_t)len);
    /* Counted before the write, so concurrent puts cannot overshoot the cap together. */
    if (rc == 0) {
        c->bytes += nb->size;
        c->nblocks++;
    }
    uint64_t seq = ++c->tmpseq;
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        jcs_free(nb);
        return rc;
    }
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/tmp.%llu.%d", c->dir, (unsigned long long)seq, (int)getpid());
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write_all(fd, data, len) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    pthread_mutex_lock(&c->mu);
    if (!ok) {
        c->bytes -= nb->size;
        c->nblocks--;
        pthread_mutex_unlock(&c->mu);
        unlink(tmp);
        jcs_free(nb);
        return jcs_err_set(e == ENOSPC ? JCS_ETOOBIG : JCS_EIO, "block cache %s: %s", path,
                           strerror(e));
    }
    /* Another put of the same key may have landed meanwhile: keep one entry. */
    blk *dup = *slot(c, name);
    if (dup) {
        blk **p = slot(c, name);
        *p = dup->hnext;
        lru_unlink(c, dup);
        c->bytes -= dup->size;
        c->nblocks--;
        jcs_free(dup);
    }
    blk **p = slot(c, name);
    nb->hnext = *p;
    *p = nb;
    lru_push(c, nb);
    pthread_mutex_unlock(&c->mu);
    return JCS_OK;
}

void jcs_bcache_set_min_free(jcs_bcache *c, int64_t bytes)
{
    pthread_mutex_lock(&c->mu);
    c->min_free = bytes;
    pthread_mutex_unlock(&c->mu);
}

int jcs_bcache_reserve(jcs_bcache *c, int64_t delta)
{
    int rc = JCS_OK;
    pthread_mutex_lock(&c->mu);
    if (delta > 0)
        rc = make_room(c, delta);
    if (rc == 0) {
        c->reserved += delta;
        if (c->reserved < 0)
            c->reserved = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void jcs_bcache_get_stats(jcs_bcache *c, jcs_bcache_stats *st)
{
    pthread_mutex_lock(&c->mu);
    st->blocks = c->nblocks;
    st->block_bytes = c->bytes;
    st->reserved_bytes = c->reserved;
    st->cap = c->cap;
    st->hits = c->hits;
    st->misses = c->misses;
    st->evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}
