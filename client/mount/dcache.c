/* Directory listings with a time to live, in a small table with oldest-first eviction. */
#include "dcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "util.h"

jcs_dlist *jcs_dlist_new(void)
{
    jcs_dlist *l = jcs_calloc(1, sizeof *l);
    if (l)
        l->refs = 1;
    return l;
}

int jcs_dlist_add(jcs_dlist *l, const char *name, bool is_dir, int64_t size, int64_t mtime_ms,
                  int64_t id, const char *hash)
{
    if (l->n == l->cap) {
        if (l->cap >= JCS_DLIST_MAX)
            return jcs_err_set(JCS_ETOOBIG, "a directory of over %d entries", JCS_DLIST_MAX);
        size_t nc = l->cap ? l->cap * 2 : 16;
        jcs_dentry *nv = jcs_realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return JCS_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    jcs_dentry *e = &l->v[l->n];
    memset(e, 0, sizeof *e);
    e->name = jcs_strdup(name);
    e->hash = hash ? jcs_strdup(hash) : NULL;
    if (!e->name || (hash && !e->hash)) {
        jcs_free(e->name);
        jcs_free(e->hash);
        return JCS_ENOMEM;
    }
    e->is_dir = is_dir;
    e->size = size;
    e->mtime_ms = mtime_ms;
    e->id = id;
    l->n++;
    return JCS_OK;
}

static int by_name(const void *a, const void *b)
{
    const jcs_dentry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return (int)y->is_dir - (int)x->is_dir; /* directory first */
}

void jcs_dlist_finish(jcs_dlist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, by_name);
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (k && strcmp(l->v[k - 1].name, l->v[i].name) == 0) {
            jcs_free(l->v[i].name);
            jcs_free(l->v[i].hash);
            continue;
        }
        l->v[k++] = l->v[i];
    }
    l->n = k;
}

static int by_key(const void *k, const void *e)
{
    return strcmp(k, ((const jcs_dentry *)e)->name);
}

const jcs_dentry *jcs_dlist_find(const jcs_dlist *l, const char *name)
{
    return l->n ? bsearch(name, l->v, l->n, sizeof *l->v, by_key) : NULL;
}

void jcs_dlist_ref(jcs_dlist *l)
{
    __atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
}

void jcs_dlist_unref(jcs_dlist *l)
{
    if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < l->n; i++) {
        jcs_free(l->v[i].name);
        jcs_free(l->v[i].hash);
    }
    jcs_free(l->v);
    jcs_free(l);
}

typedef struct slot {
    char *dir; /* NULL: free */
    jcs_dlist *l;
    int64_t expires_ms, stored_ms;
} slot;

struct jcs_dcache {
    pthread_mutex_t mu;
    int64_t ttl_ms;
    slot *v;
    size_t n;
    uint64_t epoch;
    /* The directory (its hash; 0 = every directory) changed at each of the last epochs. */
    uint64_t changed[JCS_DCACHE_RING];
};

/* FNV-1a, never 0 (0 stands for every directory). */
static uint64_t dir_hash(const char *dir)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)dir; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ? h : 1;
}

/* Under mu: a change of dir (NULL: of all) at a new epoch. */
static void note_change(jcs_dcache *c, const char *dir)
{
    c->epoch++;
    c->changed[c->epoch % JCS_DCACHE_RING] = dir && dir[0] ? dir_hash(dir) : 0;
}

/* Under mu: whether dir changed after epoch (true when that is too long ago to know). */
static bool changed_since(const jcs_dcache *c, const char *dir, uint64_t epoch)
{
    if (epoch == c->epoch)
        return false;
    if (c->epoch - epoch >= JCS_DCACHE_RING)
        return true;
    uint64_t h = dir_hash(dir);
    for (uint64_t e = epoch + 1; e <= c->epoch; e++) {
        uint64_t x = c->changed[e % JCS_DCACHE_RING];
        if (x == 0 || x == h)
            return true;
    }
    return false;
}

int jcs_dcache_new(int64_t ttl_ms, size_t max_dirs, jcs_dcache **out)
{
    jcs_dcache *c = jcs_calloc(1, sizeof *c);
    if (!c)
        return JCS_ENOMEM;
    c->n = max_dirs ? max_dirs : 1;
    c->v = jcs_calloc(c->n, sizeof *c->v);
    if (!c->v) {
        jcs_free(c);
        return JCS_ENOMEM;
    }
    c->ttl_ms = ttl_ms;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return JCS_OK;
}

static void clear(slot *s)
{
    jcs_free(s->dir);
    jcs_dlist_unref(s->l);
    memset(s, 0, sizeof *s);
}

void jcs_dcache_free(jcs_dcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        clear(&c->v[i]);
    pthread_mutex_destroy(&c->mu);
    jcs_free(c->v);
    jcs_free(c);
}

static slot *find(jcs_dcache *c, const char *dir)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].dir && strcmp(c->v[i].dir, dir) == 0)
            return &c->v[i];
    return NULL;
}

jcs_dlist *jcs_dcache_get(jcs_dcache *c, const char *dir)
{
    jcs_dlist *l = NULL;
    pthread_mutex_lock(&c->mu);
    slot *s = find(c, dir);
    if (s && s->expires_ms > jcs_now_ms()) {
        l = s->l;
        jcs_dlist_ref(l);
    } else if (s) {
        clear(s);
    }
    pthread_mutex_unlock(&c->mu);
    return l;
}

uint64_t jcs_dcache_epoch(jcs_dcache *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t e = c->epoch;
    pthread_mutex_unlock(&c->mu);
    return e;
}

void jcs_dcache_put(jcs_dcache *c, const char *dir, jcs_dlist *l, uint64_t epoch)
{
    if (c->ttl_ms <= 0)
        return;
    char *d = jcs_strdup(dir);
    if (!d)
        return;
    pthread_mutex_lock(&c->mu);
    if (changed_since(c, dir, epoch)) {
        pthread_mutex_unlock(&c->mu);
        jcs_free(d);
        return;
    }
    int64_t now = jcs_now_ms();
    slot *s = find(c, dir);
    if (!s) {
        /* A free slot, an expired one, else the oldest. */
        for (size_t i = 0; i < c->n; i++) {
            slot *t = &c->v[i];
            if (!t->dir || t->expires_ms <= now) {
                s = t;
                break;
            }
            if (!s || t->stored_ms < s->stored_ms)
                s = t;
        }
    }
    clear(s);
    s->dir = d;
    s->l = l;
    jcs_dlist_ref(l);
    s->stored_ms = now;
    s->expires_ms = now + c->ttl_ms;
    pthread_mutex_unlock(&c->mu);
}

void jcs_dcache_invalidate(jcs_dcache *c, const char *dir)
{
    pthread_mutex_lock(&c->mu);
    note_change(c, dir);
    if (!dir || !dir[0]) {
        for (size_t i = 0; i < c->n; i++)
            clear(&c->v[i]);
    } else {
        slot *s = find(c, dir);
        if (s)
            clear(s);
    }
    pthread_mutex_unlock(&c->mu);
}

int jcs_dcache_upsert(jcs_dcache *c, const char *dir, const char *name, int64_t size,
                      int64_t mtime_ms, int64_t id, const char *hash)
{
    /* The patched copy is built outside the lock from a reference to the current listing. */
    jcs_dlist *old = jcs_dcache_get(c, dir);
    uint64_t epoch = jcs_dcache_epoch(c);
    jcs_dlist *l = old ? jcs_dlist_new() : NULL;
    int rc = old && !l ? JCS_ENOMEM : JCS_OK;
    for (size_t i = 0; l && rc == 0 && i < old->n; i++) {
        const jcs_dentry *e = &old->v[i];
        if (strcmp(e->name, name) != 0)
            rc = jcs_dlist_add(l, e->name, e->is_dir, e->size, e->mtime_ms, e->id, e->hash);
    }
    if (l && rc == 0)
        rc = jcs_dlist_add(l, name, false, size, mtime_ms, id, hash);
    if (l && rc == 0)
        jcs_dlist_finish(l);
    jcs_dlist_unref(old);
    pthread_mutex_lock(&c->mu);
    bool raced = l && rc == 0 && epoch != c->epoch;
    note_change(c, dir);
    slot *s = find(c, dir);
    if (s && l && rc == 0 && !raced && s->l == old) {
        /* Same expiry: a patch does not make the rest of the listing fresher. */
        jcs_dlist_unref(s->l);
        s->l = l;
        l = NULL;
    } else if (s) {
        clear(s);
    }
    pthread_mutex_unlock(&c->mu);
    jcs_dlist_unref(l);
    return rc;
}
