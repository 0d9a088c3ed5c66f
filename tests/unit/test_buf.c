/*
 * test_buf.c - the capped growable buffer.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "t.h"

TEST(append_up_to_the_cap_and_not_past_it)
{
    jcs_buf b;
    jcs_buf_init(&b, 10);
    T_OK(jcs_buf_append(&b, "hello", 5));
    int rc = jcs_buf_append(&b, "world!", 6); /* 11 > 10 */
    int unchanged = b.len == 5 && memcmp(b.data, "hello", 6) == 0;
    char msg[128];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    int rc2 = jcs_buf_append(&b, "world", 5); /* exactly 10 fits */
    int full = b.len == 10 && strcmp(b.data, "helloworld") == 0;
    int rc3 = jcs_buf_append(&b, "", 0); /* nothing more is still fine */
    int rc4 = jcs_buf_append(&b, "x", 1);
    jcs_buf_clear(&b);
    T_EQ_INT(rc, JCS_ETOOBIG);
    T_ASSERT(unchanged, "a refused append leaves the contents as they were");
    T_ASSERT(strstr(msg, "cap of 10 bytes") != NULL, "%s", msg);
    T_OK(rc2);
    T_ASSERT(full);
    T_OK(rc3);
    T_EQ_INT(rc4, JCS_ETOOBIG);
    T_ASSERT(b.data == NULL && b.len == 0 && b.cap == 10, "free empties but keeps the cap");
}

/* Found by tests/fuzz/fuzz_s3auth: SigV4 URI-encoding an empty path reserved without
 * appending, and the canonical request then printed past the buffer. */
TEST(a_reserve_alone_leaves_an_empty_c_string)
{
    jcs_buf b;
    jcs_buf_init(&b, 1024);
    T_OK(jcs_buf_reserve(&b, 0));
    int empty = b.data != NULL && b.data[0] == '\0' && b.len == 0;
    T_OK(jcs_buf_reserve(&b, 600)); /* grows: still terminated */
    int still = b.data[0] == '\0';
    jcs_buf_clear(&b);
    T_ASSERT(empty, "a fresh reserve gives \"\"");
    T_ASSERT(still, "a growing reserve keeps the terminator");
}

TEST(huge_requests_do_not_wrap_around)
{
    jcs_buf b;
    jcs_buf_init(&b, SIZE_MAX);
    T_OK(jcs_buf_append(&b, "abc", 3));
    int rc = jcs_buf_reserve(&b, SIZE_MAX - 1); /* len + n overflows */
    int rc2 = jcs_buf_reserve(&b, SIZE_MAX);
    int same = b.len == 3 && strcmp(b.data, "abc") == 0;
    jcs_buf_clear(&b);
    T_EQ_INT(rc, JCS_ETOOBIG);
    T_EQ_INT(rc2, JCS_ETOOBIG);
    T_ASSERT(same);
}

TEST(binary_bytes_and_growth)
{
    jcs_buf b;
    jcs_buf_init(&b, 1 << 20);
    unsigned char chunk[37];
    for (int i = 0; i < 37; i++)
        chunk[i] = (unsigned char)(i * 7); /* includes 0 */
    int rc = 0;
    for (int i = 0; i < 1000 && !rc; i++)
        rc = jcs_buf_append(&b, chunk, sizeof(chunk));
    int ok = b.len == 37000 && b.data[b.len] == '\0' && b.size > b.len;
    for (size_t i = 0; ok && i < b.len; i++)
        ok = (unsigned char)b.data[i] == chunk[i % 37];
    jcs_buf_clear(&b);
    T_OK(rc);
    T_ASSERT(ok, "every byte in place, NUL after the end");
}

TEST(printf_appends_and_respects_the_cap)
{
    jcs_buf b;
    jcs_buf_init(&b, 20);
    T_OK(jcs_buf_printf(&b, "%s=%d", "port", 5009));
    T_OK(jcs_buf_printf(&b, ";%c", 'x'));
    T_EQ_STR(b.data, "port=5009;x");
    int rc = jcs_buf_printf(&b, "%s", "0123456789"); /* 11 + 10 > 20 */
    int same = b.len == 11 && strcmp(b.data, "port=5009;x") == 0;
    T_OK(jcs_buf_printf(&b, "%s", "")); /* an empty result is fine */
    jcs_buf_clear(&b);
    T_EQ_INT(rc, JCS_ETOOBIG);
    T_ASSERT(same);

    /* printf into a fresh buffer yields a string even when it prints nothing. */
    jcs_buf e;
    jcs_buf_init(&e, 8);
    T_OK(jcs_buf_printf(&e, "%s", ""));
    int empty = e.data && e.data[0] == '\0' && e.len == 0;
    jcs_buf_clear(&e);
    T_ASSERT(empty);
}

TEST(steal_hands_over_and_empties)
{
    jcs_buf b;
    jcs_buf_init(&b, 64);
    T_ASSERT(jcs_buf_steal(&b) == NULL, "nothing to steal from a fresh buffer");
    T_OK(jcs_buf_append(&b, "abc", 3));
    char *s = jcs_buf_steal(&b);
    int emptied = b.data == NULL && b.len == 0 && b.size == 0 && b.cap == 64;
    /* The buffer is usable again after a steal. */
    int rc = jcs_buf_append(&b, "de", 2);
    int again = rc == 0 && strcmp(b.data, "de") == 0;
    jcs_buf_clear(&b);
    int got = s && strcmp(s, "abc") == 0;
    jcs_free(s);
    T_ASSERT(got, "the stolen bytes are a C string");
    T_ASSERT(emptied);
    T_ASSERT(again);
}

TEST(reset_keeps_the_memory)
{
    jcs_buf b;
    jcs_buf_init(&b, 64);
    T_OK(jcs_buf_append(&b, "abcdef", 6));
    char *before = b.data;
    jcs_buf_reset(&b);
    int ok = b.len == 0 && b.data == before && b.data[0] == '\0';
    int rc = jcs_buf_append(&b, "xy", 2);
    int ok2 = rc == 0 && strcmp(b.data, "xy") == 0;
    jcs_buf_clear(&b);
    T_ASSERT(ok);
    T_ASSERT(ok2);
    jcs_buf_reset(&b); /* on an empty buffer too */
    T_ASSERT(b.data == NULL && b.len == 0);
}

TEST(code_points_are_appended_as_utf8)
{
    jcs_buf b;
    jcs_buf_init(&b, 64);
    int rc = 0;
    const unsigned long cps[] = {0x41, 0xE9, 0x20AC, 0x1F600};
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]) && rc == 0; i++)
        rc = jcs_buf_append_utf8(&b, cps[i]);
    int same =
        rc == 0 && b.len == 10 && memcmp(b.data, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10) == 0;
    jcs_buf_clear(&b);
    T_OK(rc);
    T_ASSERT(same, "A, e-acute, euro sign and an emoji in 1, 2, 3 and 4 bytes");
}
