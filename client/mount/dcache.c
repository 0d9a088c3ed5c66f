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
};

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
    if (epoch != c->epoch) {
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
    c->epoch++;
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
