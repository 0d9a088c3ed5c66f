/* The mount's listing cache: time to live, per-directory invalidation of fetches in flight, and
 * patching a cached listing with a committed file (upsert). */
#include <string.h>

#include "alloc.h"
#include "dcache.h"
#include "t.h"

/* A listing of a file a and a directory b (NULL when out of memory). */
static jcs_dlist *list2(const char *a, const char *b)
{
    jcs_dlist *l = jcs_dlist_new();
    if (!l || jcs_dlist_add(l, a, false, 1, 10, 1, "H1") ||
        jcs_dlist_add(l, b, true, 0, 0, 0, NULL)) {
        jcs_dlist_unref(l);
        return NULL;
    }
    jcs_dlist_finish(l);
    return l;
}

TEST(put_get_and_invalidate)
{
    jcs_dcache *c;
    T_OK(jcs_dcache_new(60000, 4, &c));
    jcs_dlist *l = list2("f", "d");
    T_ASSERT(l != NULL);
    jcs_dcache_put(c, "/b/p", l, jcs_dcache_epoch(c));
    jcs_dlist_unref(l);
    jcs_dlist *g = jcs_dcache_get(c, "/b/p");
    T_ASSERT(g != NULL);
    T_EQ_INT(g->n, 2);
    T_ASSERT(jcs_dlist_find(g, "f") && !jcs_dlist_find(g, "f")->is_dir);
    jcs_dlist_unref(g);
    jcs_dcache_invalidate(c, "/b/p");
    T_ASSERT(jcs_dcache_get(c, "/b/p") == NULL);
    jcs_dcache_free(c);
}

/* A fetch that began before a change of its own directory is refused; one of another
 * directory is kept (the thrash this avoids: every upload refused every listing). */
TEST(fetch_in_flight_refused_only_for_its_directory)
{
    jcs_dcache *c;
    T_OK(jcs_dcache_new(60000, 4, &c));
    uint64_t e = jcs_dcache_epoch(c);
    jcs_dcache_invalidate(c, "/b/p/x");
    jcs_dlist *l = list2("f", "d");
    T_ASSERT(l != NULL);
    jcs_dcache_put(c, "/b/p/y", l, e);
    jcs_dcache_put(c, "/b/p/x", l, e);
    T_ASSERT(jcs_dcache_get(c, "/b/p/x") == NULL);
    jcs_dlist *g = jcs_dcache_get(c, "/b/p/y");
    T_ASSERT(g != NULL);
    jcs_dlist_unref(g);
    /* An invalidation of everything refuses every fetch in flight. */
    e = jcs_dcache_epoch(c);
    jcs_dcache_invalidate(c, NULL);
    jcs_dcache_put(c, "/b/p/z", l, e);
    T_ASSERT(jcs_dcache_get(c, "/b/p/z") == NULL);
    /* So does a fetch older than what the ring remembers. */
    e = jcs_dcache_epoch(c);
    for (int i = 0; i < JCS_DCACHE_RING; i++)
        jcs_dcache_invalidate(c, "/other");
    jcs_dcache_put(c, "/b/p/z", l, e);
    T_ASSERT(jcs_dcache_get(c, "/b/p/z") == NULL);
    jcs_dlist_unref(l);
    jcs_dcache_free(c);
}

TEST(upsert_patches_a_cached_listing)
{
    jcs_dcache *c;
    T_OK(jcs_dcache_new(60000, 4, &c));
    jcs_dlist *l = list2("f", "d");
    T_ASSERT(l != NULL);
    jcs_dcache_put(c, "/b/p", l, jcs_dcache_epoch(c));
    uint64_t e = jcs_dcache_epoch(c);
    T_OK(jcs_dcache_upsert(c, "/b/p", "new", 4096, 1234, 7, "H7"));
    T_OK(jcs_dcache_upsert(c, "/b/p", "f", 5, 99, 8, "H8"));
    jcs_dlist *g = jcs_dcache_get(c, "/b/p");
    T_ASSERT(g != NULL);
    T_EQ_INT(g->n, 3);
    const jcs_dentry *n = jcs_dlist_find(g, "new");
    T_ASSERT(n && n->size == 4096 && n->mtime_ms == 1234 && n->id == 7);
    T_EQ_STR(n->hash, "H7");
    const jcs_dentry *f = jcs_dlist_find(g, "f");
    T_ASSERT(f && f->size == 5 && f->id == 8);
    T_ASSERT(jcs_dlist_find(g, "d") && jcs_dlist_find(g, "d")->is_dir);
    jcs_dlist_unref(g);
    /* A fetch of /b/p that began before the patch could miss the file: refused. */
    jcs_dcache_put(c, "/b/p", l, e);
    g = jcs_dcache_get(c, "/b/p");
    T_EQ_INT(g->n, 3);
    jcs_dlist_unref(g);
    /* No cached listing: nothing to patch, the next fetch sees the file. */
    T_OK(jcs_dcache_upsert(c, "/b/q", "x", 1, 1, 1, "H"));
    T_ASSERT(jcs_dcache_get(c, "/b/q") == NULL);
    jcs_dlist_unref(l);
    jcs_dcache_free(c);
}

TEST(upsert_out_of_memory_forgets_the_listing)
{
    jcs_dcache *c;
    T_OK(jcs_dcache_new(60000, 4, &c));
    jcs_dlist *l = list2("f", "d");
    T_ASSERT(l != NULL);
    jcs_dcache_put(c, "/b/p", l, jcs_dcache_epoch(c));
    jcs_dlist_unref(l);
    jcs_alloc_fail_after(0);
    int rc = jcs_dcache_upsert(c, "/b/p", "new", 1, 1, 1, "H");
    jcs_alloc_fail_after(-1);
    T_EQ_INT(rc, JCS_ENOMEM);
    T_ASSERT(jcs_dcache_get(c, "/b/p") == NULL);
    jcs_dcache_free(c);
}
