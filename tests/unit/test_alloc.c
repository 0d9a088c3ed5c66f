/*
 * test_alloc.c - the allocation wrapper and its failure injection.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "t.h"

TEST(fail_after_zero_fails_everything_until_off)
{
    jcs_buf b;
    jcs_buf_init(&b, 1024);
    jcs_alloc_fail_after(0);
    void *m = jcs_malloc(16);
    void *c = jcs_calloc(4, 4);
    char *s = jcs_strdup("x");
    char *a = jcs_asprintf("%d", 1);
    void *al = jcs_aligned_alloc(64, 64);
    int rc = jcs_buf_append(&b, "abc", 3);
    jcs_alloc_fail_after(-1);
    void *after = jcs_malloc(16);
    int rc2 = jcs_buf_append(&b, "abc", 3);
    int ok2 = rc2 == 0 && b.len == 3 && strcmp(b.data, "abc") == 0;
    jcs_free(after);
    jcs_buf_clear(&b);
    T_ASSERT(!m && !c && !s && !a && !al, "every allocator fails");
    T_EQ_INT(rc, JCS_ENOMEM);
    T_ASSERT(strstr(jcs_err_msg(rc), "out of memory") != NULL, "%s", jcs_err_msg(rc));
    T_ASSERT(b.len == 0);
    T_ASSERT(after != NULL, "allocations work again after -1");
    T_ASSERT(ok2);
}

TEST(fail_after_n_lets_n_through)
{
    jcs_alloc_fail_after(2);
    void *p1 = jcs_malloc(8);
    void *p2 = jcs_malloc(8);
    void *p3 = jcs_malloc(8);
    void *p4 = jcs_malloc(8);
    jcs_alloc_fail_after(-1);
    jcs_free(p1);
    jcs_free(p2);
    T_ASSERT(p1 && p2, "the first two succeed");
    T_ASSERT(!p3 && !p4, "then every one fails");
}

TEST(realloc_failure_keeps_the_old_block)
{
    char *p = jcs_malloc(4);
    T_ASSERT(p != NULL);
    memcpy(p, "abc", 4);
    jcs_alloc_fail_after(0);
    char *q = jcs_realloc(p, 1 << 20);
    jcs_alloc_fail_after(-1);
    int kept = q == NULL && strcmp(p, "abc") == 0;
    char *r = jcs_realloc(p, 8192);
    int moved = r && strcmp(r, "abc") == 0;
    jcs_free(r ? r : p);
    T_ASSERT(kept);
    T_ASSERT(moved);
}

TEST(helpers_behave_like_libc)
{
    unsigned char *z = jcs_calloc(100, 3);
    int zero = z != NULL;
    for (int i = 0; zero && i < 300; i++)
        zero = z[i] == 0;
    jcs_free(z);
    char *n = jcs_strndup("abcdef", 3);
    char *d = jcs_strdup("hello");
    char *f = jcs_asprintf("%s:%d", "host", 5009);
    void *al = jcs_aligned_alloc(4096, 10);
    void *zero_size = jcs_malloc(0);
    int ok = n && strcmp(n, "abc") == 0 && d && strcmp(d, "hello") == 0 && f &&
             strcmp(f, "host:5009") == 0;
    int aligned = al && ((uintptr_t)al % 4096) == 0;
    jcs_free(n);
    jcs_free(d);
    jcs_free(f);
    jcs_free(al);
    jcs_free(zero_size);
    T_ASSERT(zero, "calloc zeroes");
    T_ASSERT(ok);
    T_ASSERT(aligned);
    T_ASSERT(zero_size != NULL, "a zero-byte request still gives a freeable pointer");
    T_ASSERT(jcs_strdup(NULL) == NULL);
}
