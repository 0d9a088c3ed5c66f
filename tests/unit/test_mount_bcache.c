/* The mount's block cache: round trips, LRU under the cap, staged reservations, reopening, bad
 * keys, out of memory. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "alloc.h"
#include "bcache.h"
#include "t.h"
#include "t_tmpdir.h"

#define H1 "Full0000000000000000000000000000000000000000000000000000000000000001"
#define H2 "Full0000000000000000000000000000000000000000000000000000000000000002"

static void fill(char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (char)(seed * 31 + i * 7);
}

static void fresh(char *dir, size_t n, const char *name)
{
    t_path(dir, n, name);
    t_rmtree(dir);
}

TEST(put_then_read_ranges)
{
    char dir[512], a[1000], out[1000];
    fresh(dir, sizeof dir, "rt");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 0, &c));
    fill(a, sizeof a, 1);
    size_t got;
    T_EQ_INT(jcs_bcache_read(c, H1, 0, 0, out, 10, &got), 0); /* miss */
    T_OK(jcs_bcache_put(c, H1, 0, a, sizeof a));
    T_EQ_INT(jcs_bcache_read(c, H1, 0, 0, out, 1000, &got), 1);
    T_EQ_INT(got, 1000);
    T_ASSERT(memcmp(out, a, 1000) == 0);
    T_EQ_INT(jcs_bcache_read(c, H1, 0, 900, out, 500, &got), 1);
    T_EQ_INT(got, 100);
    T_ASSERT(memcmp(out, a + 900, 100) == 0);
    T_EQ_INT(jcs_bcache_read(c, H1, 0, 1000, out, 10, &got), 1);
    T_EQ_INT(got, 0);
    /* Another index, another hash: misses. */
    T_EQ_INT(jcs_bcache_read(c, H1, 1, 0, out, 10, &got), 0);
    T_EQ_INT(jcs_bcache_read(c, H2, 0, 0, out, 10, &got), 0);
    T_EQ_INT(jcs_bcache_block_size(c, H1, 0), 1000);
    T_EQ_INT(jcs_bcache_block_size(c, H2, 0), -1);
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.blocks, 1);
    T_EQ_INT(st.block_bytes, 1000);
    T_EQ_INT(st.hits, 3);
    T_EQ_INT(st.misses, 3);
    jcs_bcache_free(c);
}

TEST(cap_evicts_least_recently_used)
{
    char dir[512], b[100], out[100];
    fresh(dir, sizeof dir, "lru");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 300, &c));
    for (int i = 0; i < 3; i++) {
        fill(b, 100, (unsigned)i);
        T_OK(jcs_bcache_put(c, H1, i, b, 100));
    }
    size_t got;
    T_EQ_INT(jcs_bcache_read(c, H1, 0, 0, out, 100, &got), 1); /* block 1 is now the oldest */
    fill(b, 100, 3);
    T_OK(jcs_bcache_put(c, H1, 3, b, 100));
    T_EQ_INT(jcs_bcache_read(c, H1, 1, 0, out, 100, &got), 0);
    T_EQ_INT(jcs_bcache_read(c, H1, 0, 0, out, 100, &got), 1);
    fill(b, 100, 0);
    T_ASSERT(memcmp(out, b, 100) == 0);
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.blocks, 3);
    T_EQ_INT(st.block_bytes, 300);
    T_EQ_INT(st.evictions, 1);
    /* The evicted block's file is gone from the disk as well. */
    char p[1024];
    snprintf(p, sizeof p, "%s/%s.1", dir, H1);
    T_ASSERT(access(p, F_OK) != 0);
    /* Replacing a key does not count it twice. */
    T_OK(jcs_bcache_put(c, H1, 0, b, 50));
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.block_bytes, 250);
    jcs_bcache_free(c);
}

TEST(reservations_are_never_evicted)
{
    char dir[512], b[100];
    fresh(dir, sizeof dir, "res");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 300, &c));
    fill(b, 100, 1);
    T_OK(jcs_bcache_put(c, H1, 0, b, 100));
    T_OK(jcs_bcache_put(c, H1, 1, b, 100));
    /* 250 staged bytes: the blocks make room. */
    T_OK(jcs_bcache_reserve(c, 250));
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.blocks, 0);
    T_EQ_INT(st.reserved_bytes, 250);
    /* Nothing left to evict: a block or more staged bytes do not fit. */
    T_EQ_INT(jcs_bcache_put(c, H1, 2, b, 100), JCS_ETOOBIG);
    T_ASSERT(strstr(jcs_err_msg(JCS_ETOOBIG), "maxCacheSize") != NULL);
    T_EQ_INT(jcs_bcache_reserve(c, 100), JCS_ETOOBIG);
    T_OK(jcs_bcache_put(c, H1, 2, b, 50));
    T_OK(jcs_bcache_reserve(c, -250));
    T_OK(jcs_bcache_put(c, H1, 3, b, 100));
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.reserved_bytes, 0);
    T_EQ_INT(st.block_bytes, 150);
    jcs_bcache_free(c);
}

TEST(reopen_keeps_blocks_and_enforces_a_smaller_cap)
{
    char dir[512], b[100], out[100];
    fresh(dir, sizeof dir, "reopen");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 0, &c));
    for (int i = 0; i < 4; i++) {
        fill(b, 100, (unsigned)i);
        T_OK(jcs_bcache_put(c, H2, i, b, 100));
        usleep(12000); /* distinct modification times (the kernel stamps them at its tick, up to 10
                          ms): the LRU order survives */
    }
    jcs_bcache_free(c);
    /* A half-written temporary of a dead run is removed, not indexed. */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/tmp.9.9", dir);
    FILE *f = fopen(tmp, "w");
    T_ASSERT(f != NULL);
    fputs("junk", f);
    fclose(f);
    T_OK(jcs_bcache_open(dir, 200, &c));
    T_ASSERT(access(tmp, F_OK) != 0);
    size_t got;
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.blocks, 2);
    T_EQ_INT(jcs_bcache_read(c, H2, 0, 0, out, 100, &got), 0); /* the oldest went */
    T_EQ_INT(jcs_bcache_read(c, H2, 3, 0, out, 100, &got), 1);
    fill(b, 100, 3);
    T_ASSERT(memcmp(out, b, 100) == 0);
    jcs_bcache_free(c);
}

TEST(bad_keys_and_sizes_are_refused)
{
    char dir[512];
    fresh(dir, sizeof dir, "bad");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 0, &c));
    char b[16] = {0};
    size_t got;
    T_EQ_INT(jcs_bcache_put(c, "../etc", 0, b, 16), JCS_EINVAL);
    T_EQ_INT(jcs_bcache_put(c, "", 0, b, 16), JCS_EINVAL);
    T_EQ_INT(jcs_bcache_put(c, H1, -1, b, 16), JCS_EINVAL);
    T_EQ_INT(jcs_bcache_read(c, "a/b", 0, 0, b, 16, &got), JCS_EINVAL);
    char *big = jcs_malloc(JCS_BCACHE_BLOCK + 1);
    T_ASSERT(big != NULL);
    T_EQ_INT(jcs_bcache_put(c, H1, 0, big, JCS_BCACHE_BLOCK + 1), JCS_EINVAL);
    jcs_free(big);
    jcs_bcache_free(c);
}

typedef struct racer {
    jcs_bcache *c;
    int id;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    char b[1000];
    fill(b, sizeof b, (unsigned)r->id);
    for (int i = 0; i < 200; i++)
        if (jcs_bcache_put(r->c, H1, r->id * 1000 + i, b, sizeof b) != 0)
            break;
    return NULL;
}

/* The cache keeps a floor of its disk free whatever the cap: with a floor just above what is
 * free, a put evicts the old blocks first, and is refused (ETOOBIG, naming the disk) once nothing
 * is left to evict; the same holds for staged reservations. */
TEST(free_space_floor_evicts_then_refuses)
{
    char dir[512], a[1000];
    fresh(dir, sizeof dir, "floor");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 0, &c)); /* unlimited, as JCS's default maxCacheSize 0 */
    fill(a, sizeof a, 3);
    T_OK(jcs_bcache_put(c, H1, 0, a, sizeof a));
    T_OK(jcs_bcache_put(c, H1, 1, a, sizeof a));
    struct statvfs sv;
    T_ASSERT(statvfs(dir, &sv) == 0);
    int64_t avail = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    /* 10 MiB more than is free: no block can make room for another. */
    jcs_bcache_set_min_free(c, avail + (10 << 20));
    T_EQ_INT(jcs_bcache_put(c, H2, 0, a, sizeof a), JCS_ETOOBIG);
    T_ASSERT(strstr(jcs_err_msg(JCS_ETOOBIG), "keeps free") != NULL);
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.blocks, 0); /* both evicted trying */
    T_EQ_INT(st.evictions, 2);
    T_EQ_INT(jcs_bcache_reserve(c, 4096), JCS_ETOOBIG);
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.reserved_bytes, 0);
    size_t got;
    char out[16];
    T_EQ_INT(jcs_bcache_read(c, H1, 0, 0, out, sizeof out, &got), 0); /* gone from disk too */
    jcs_bcache_set_min_free(c, 0);
    T_OK(jcs_bcache_put(c, H2, 0, a, sizeof a));
    jcs_bcache_free(c);
}

TEST(concurrent_puts_never_exceed_the_cap)
{
    char dir[512];
    fresh(dir, sizeof dir, "race");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 10000, &c));
    pthread_t th[4];
    racer r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (racer){c, i};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_ASSERT(st.block_bytes <= 10000, "(%lld bytes)", (long long)st.block_bytes);
    T_EQ_INT(st.blocks, 10);
    jcs_bcache_free(c);
    /* What is on disk matches what the index held. */
    T_OK(jcs_bcache_open(dir, 0, &c));
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.blocks, 10);
    jcs_bcache_free(c);
}

TEST(out_of_memory_is_enomem_without_leaks)
{
    char dir[512], b[100];
    fresh(dir, sizeof dir, "oom");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(dir, 0, &c));
    fill(b, 100, 1);
    T_OK(jcs_bcache_put(c, H1, 0, b, 100));
    jcs_bcache_free(c);
    int opened = 0, put = 0;
    for (long n = 0; n < 40 && !(opened && put); n++) {
        jcs_alloc_fail_after(n);
        int rc = jcs_bcache_open(dir, 0, &c);
        if (rc == 0) {
            opened = 1;
            rc = jcs_bcache_put(c, H2, n, b, 100);
            jcs_alloc_fail_after(-1);
            if (rc == 0)
                put = 1;
            else
                T_EQ_INT(rc, JCS_ENOMEM);
            jcs_bcache_free(c);
        } else {
            jcs_alloc_fail_after(-1);
            T_EQ_INT(rc, JCS_ENOMEM);
        }
    }
    T_ASSERT(opened && put);
}
