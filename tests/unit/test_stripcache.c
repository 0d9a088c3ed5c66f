/* The EC strip LRU: hits copy the right bytes, both bounds evict the least recently used. */
#include <string.h>

#include "stripcache.h"
#include "t.h"

#define H1 "Full0000000000000000000000000000000000000000000000000000000000000001"
#define H2 "Full0000000000000000000000000000000000000000000000000000000000000002"

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 31 + i * 7);
}

TEST(hit_copies_the_requested_bytes)
{
    jcs_stripcache *c;
    T_OK(jcs_stripcache_new(4, 1 << 20, &c));
    unsigned char s[1000], out[100];
    fill(s, sizeof s, 1);
    T_OK(jcs_stripcache_put(c, H1, 3, s, sizeof s));
    T_EQ_INT(jcs_stripcache_get(c, H1, 3, 900, out, 100), 1);
    T_ASSERT(memcmp(out, s + 900, 100) == 0);
    /* Past the strip's end, another index, another hash: misses. */
    T_EQ_INT(jcs_stripcache_get(c, H1, 3, 901, out, 100), 0);
    T_EQ_INT(jcs_stripcache_get(c, H1, 4, 0, out, 10), 0);
    T_EQ_INT(jcs_stripcache_get(c, H2, 3, 0, out, 10), 0);
    jcs_stripcache_stats st;
    jcs_stripcache_get_stats(c, &st);
    T_EQ_INT(st.hits, 1);
    T_EQ_INT(st.misses, 3);
    jcs_stripcache_free(c);
}

TEST(count_bound_evicts_least_recently_used)
{
    jcs_stripcache *c;
    T_OK(jcs_stripcache_new(2, 1 << 20, &c));
    unsigned char a[10], b[10], d[10], out[10];
    fill(a, 10, 1);
    fill(b, 10, 2);
    fill(d, 10, 3);
    T_OK(jcs_stripcache_put(c, H1, 0, a, 10));
    T_OK(jcs_stripcache_put(c, H1, 1, b, 10));
    /* Touch strip 0, so strip 1 is the oldest when strip 2 arrives. */
    T_EQ_INT(jcs_stripcache_get(c, H1, 0, 0, out, 10), 1);
    T_OK(jcs_stripcache_put(c, H1, 2, d, 10));
    T_EQ_INT(jcs_stripcache_get(c, H1, 1, 0, out, 10), 0);
    T_EQ_INT(jcs_stripcache_get(c, H1, 0, 0, out, 10), 1);
    T_ASSERT(memcmp(out, a, 10) == 0);
    T_EQ_INT(jcs_stripcache_get(c, H1, 2, 0, out, 10), 1);
    T_ASSERT(memcmp(out, d, 10) == 0);
    jcs_stripcache_stats st;
    jcs_stripcache_get_stats(c, &st);
    T_EQ_INT(st.count, 2);
    T_EQ_INT(st.evictions, 1);
    jcs_stripcache_free(c);
}

TEST(byte_bound_evicts_and_refuses_oversized)
{
    jcs_stripcache *c;
    T_OK(jcs_stripcache_new(100, 250, &c));
    unsigned char s[200], out[100];
    fill(s, sizeof s, 5);
    T_OK(jcs_stripcache_put(c, H1, 0, s, 100));
    T_OK(jcs_stripcache_put(c, H1, 1, s, 100));
    T_OK(jcs_stripcache_put(c, H1, 2, s + 100, 100)); /* 300 > 250: strip 0 goes */
    T_EQ_INT(jcs_stripcache_get(c, H1, 0, 0, out, 1), 0);
    T_EQ_INT(jcs_stripcache_get(c, H1, 2, 0, out, 100), 1);
    T_ASSERT(memcmp(out, s + 100, 100) == 0);
    jcs_stripcache_stats st;
    jcs_stripcache_get_stats(c, &st);
    T_EQ_INT(st.bytes, 200);
    /* Larger than the whole bound: not kept, nothing else evicted. */
    unsigned char big[300];
    fill(big, sizeof big, 9);
    T_OK(jcs_stripcache_put(c, H2, 0, big, sizeof big));
    T_EQ_INT(jcs_stripcache_get(c, H2, 0, 0, out, 1), 0);
    T_EQ_INT(jcs_stripcache_get(c, H1, 1, 0, out, 1), 1);
    jcs_stripcache_free(c);
}

TEST(replacing_a_strip_keeps_one_copy)
{
    jcs_stripcache *c;
    T_OK(jcs_stripcache_new(4, 1000, &c));
    unsigned char a[50], b[60], out[60];
    fill(a, 50, 1);
    fill(b, 60, 2);
    T_OK(jcs_stripcache_put(c, H1, 7, a, 50));
    T_OK(jcs_stripcache_put(c, H1, 7, b, 60));
    T_EQ_INT(jcs_stripcache_get(c, H1, 7, 0, out, 60), 1);
    T_ASSERT(memcmp(out, b, 60) == 0);
    jcs_stripcache_stats st;
    jcs_stripcache_get_stats(c, &st);
    T_EQ_INT(st.count, 1);
    T_EQ_INT(st.bytes, 60);
    jcs_stripcache_free(c);
}

TEST(zero_count_keeps_nothing)
{
    jcs_stripcache *c;
    T_OK(jcs_stripcache_new(0, 1000, &c));
    unsigned char a[10], out[10];
    fill(a, 10, 1);
    T_OK(jcs_stripcache_put(c, H1, 0, a, 10));
    T_EQ_INT(jcs_stripcache_get(c, H1, 0, 0, out, 10), 0);
    jcs_stripcache_free(c);
}
