/*
 * client/transfer/stripcache.c - the EC strip LRU (stripcache.h).
 *
 * A doubly linked list in recency order (head = most recent) with a linear
 * lookup: the count bound is maxStripCacheCount (100 by default), so a walk
 * costs nothing next to the strip copy it guards.
 */
#include "stripcache.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "hash.h"

typedef struct strip {
    struct strip *prev, *next;
    char hash[JCS_HASH_SIZE];
    int64_t index;
    size_t len;
    unsigned char *data; /* owned */
} strip;

struct jcs_stripcache {
    pthread_mutex_t mu;
    size_t max_count, max_bytes;
    strip *head, *tail;
    jcs_stripcache_stats st;
};

int jcs_stripcache_new(size_t max_count, size_t max_bytes, jcs_stripcache **out)
{
    jcs_stripcache *c = jcs_calloc(1, sizeof *c);
    if (!c)
        return JCS_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->max_count = max_count;
    c->max_bytes = max_bytes;
    *out = c;
    return 0;
}

static void unlink_strip(jcs_stripcache *c, strip *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        c->tail = s->prev;
    s->prev = s->next = NULL;
}

static void push_front(jcs_stripcache *c, strip *s)
{
    s->prev = NULL;
    s->next = c->head;
    if (c->head)
        c->head->prev = s;
    c->head = s;
    if (!c->tail)
        c->tail = s;
}

static void drop(jcs_stripcache *c, strip *s)
{
    unlink_strip(c, s);
    c->st.count--;
    c->st.bytes -= s->len;
    jcs_free(s->data);
    jcs_free(s);
}

void jcs_stripcache_free(jcs_stripcache *c)
{
    if (!c)
        return;
    while (c->head)
        drop(c, c->head);
    pthread_mutex_destroy(&c->mu);
    jcs_free(c);
}

static strip *find(jcs_stripcache *c, const char *hash, int64_t index)
{
    for (strip *s = c->head; s; s = s->next)
        if (s->index == index && strcmp(s->hash, hash) == 0)
            return s;
    return NULL;
}

int jcs_stripcache_get(jcs_stripcache *c, const char *file_hash, int64_t index, size_t off,
                       void *buf, size_t n)
{
    pthread_mutex_lock(&c->mu);
    strip *s = find(c, file_hash, index);
    int hit = s && off <= s->len && n <= s->len - off;
    if (hit) {
        memcpy(buf, s->data + off, n);
        unlink_strip(c, s);
        push_front(c, s);
        c->st.hits++;
    } else {
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

int jcs_stripcache_put(jcs_stripcache *c, const char *file_hash, int64_t index, const void *data,
                       size_t n)
{
    if (c->max_count == 0 || n > c->max_bytes || strlen(file_hash) >= JCS_HASH_SIZE)
        return 0;
    strip *s = jcs_calloc(1, sizeof *s);
    unsigned char *copy = jcs_malloc(n ? n : 1);
    if (!s || !copy) {
        jcs_free(s);
        jcs_free(copy);
        return JCS_ENOMEM;
    }
    memcpy(copy, data, n);
    snprintf(s->hash, sizeof s->hash, "%s", file_hash);
    s->index = index;
    s->len = n;
    s->data = copy;
    pthread_mutex_lock(&c->mu);
    strip *old = find(c, file_hash, index);
    if (old)
        drop(c, old);
    while (c->tail && (c->st.count + 1 > c->max_count || c->st.bytes + n > c->max_bytes)) {
        drop(c, c->tail);
        c->st.evictions++;
    }
    push_front(c, s);
    c->st.count++;
    c->st.bytes += n;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void jcs_stripcache_get_stats(jcs_stripcache *c, jcs_stripcache_stats *st)
{
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    pthread_mutex_unlock(&c->mu);
}
