/*
 * client/mount/dcache.h - the mount's attribute and directory cache.
 *
 * A directory's listing (its entries with size, time and id) is fetched
 * from the service once and kept for ttl_ms (mount.attrTimeout), so `ls
 * -l` of a directory, or a getattr of each of its files, costs one listing
 * instead of one call per file. Listings are immutable and reference
 * counted: a reader keeps using the one it got while a newer one replaces
 * it.
 *
 * Every change the mount makes invalidates the listings it touches (or
 * patches them: jcs_dcache_upsert). A listing fetched while a change was
 * committed could miss that change, so jcs_dcache_put refuses a listing
 * whose fetch began before a later invalidation or patch of the same
 * directory (jcs_dcache_epoch taken before the fetch). Only the same
 * directory counts: while thousands of small files are uploaded, a change
 * in one directory must not throw away the listings fetched for others
 * (the last JCS_DCACHE_RING changes are remembered; older fetches are
 * refused).
 *
 * At most max_dirs listings are kept (the oldest go first); a listing holds
 * at most JCS_DLIST_MAX entries.
 */
#ifndef JCS_MOUNT_DCACHE_H
#define JCS_MOUNT_DCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JCS_DLIST_MAX   10000000
#define JCS_DCACHE_RING 256

typedef struct jcs_dentry {
    char *name;
    bool is_dir;
    int64_t size;
    int64_t mtime_ms;
    int64_t id; /* objectID, packageID or bucketID; 0 for a directory of a package */
    char *hash; /* the object's fileHash, or NULL */
} jcs_dentry;

typedef struct jcs_dlist {
    jcs_dentry *v; /* sorted by name, unique */
    size_t n, cap;
    int refs;
} jcs_dlist;

jcs_dlist *jcs_dlist_new(void);
/* Adds an entry (copies the strings); JCS_ETOOBIG beyond JCS_DLIST_MAX. */
int jcs_dlist_add(jcs_dlist *l, const char *name, bool is_dir, int64_t size, int64_t mtime_ms,
                  int64_t id, const char *hash) JCS_MUST_USE;
/* Sorts and removes duplicate names (a directory wins over a file of the same name). */
void jcs_dlist_finish(jcs_dlist *l);
const jcs_dentry *jcs_dlist_find(const jcs_dlist *l, const char *name);
void jcs_dlist_ref(jcs_dlist *l);
void jcs_dlist_unref(jcs_dlist *l);

typedef struct jcs_dcache jcs_dcache;

int jcs_dcache_new(int64_t ttl_ms, size_t max_dirs, jcs_dcache **out) JCS_MUST_USE;
void jcs_dcache_free(jcs_dcache *c);

/* The fresh listing of dir with a reference, or NULL. */
jcs_dlist *jcs_dcache_get(jcs_dcache *c, const char *dir);

/* Taken before fetching a listing; passed to jcs_dcache_put. */
uint64_t jcs_dcache_epoch(jcs_dcache *c);

/* Keeps l (takes its own reference) unless an invalidation came after epoch. */
void jcs_dcache_put(jcs_dcache *c, const char *dir, jcs_dlist *l, uint64_t epoch);

/* Forgets dir's listing ("" or NULL: every listing). */
void jcs_dcache_invalidate(jcs_dcache *c, const char *dir);

/*
 * The file name of dir was committed with these attributes: a cached
 * listing of dir gets (or replaces) that entry instead of being forgotten,
 * so the next lookup in dir costs no new listing. Counts as a change of dir
 * for the fetches in flight (see above). JCS_ENOMEM leaves dir invalidated.
 */
int jcs_dcache_upsert(jcs_dcache *c, const char *dir, const char *name, int64_t size,
                      int64_t mtime_ms, int64_t id, const char *hash);

#endif
