/*
 * t.h - the unit test harness: one binary per module, one line per check.
 *
 * Each TEST(name) is a function registered at load time; main() (from
 * T_MAIN) runs them in order and prints "PASS name" or "FAIL name: why"
 * per test. tests/run counts those lines across binaries. A test fails on
 * the first T_ASSERT that does not hold.
 *
 * A fixture that must outlive every test (a server the tests share) is
 * stopped by a T_TEARDOWN(name) function: it runs once after all tests,
 * whatever order they were registered in, and is not a test: it prints
 * nothing unless one of its checks fails ("FAIL teardown name: why").
 */
#ifndef JCS_T_H
#define JCS_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*t_fn)(void);
void t_register(const char *name, t_fn fn);
void t_register_teardown(const char *name, t_fn fn);
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Non-zero once the running test has failed. */
int t_failed(void);
void t_fail_cond(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void reg_##name(void)                                      \
    {                                                                                              \
        t_register(#name, test_##name);                                                            \
    }                                                                                              \
    static void test_##name(void)

#define T_TEARDOWN(name)                                                                           \
    static void teardown_##name(void);                                                             \
    __attribute__((constructor)) static void reg_teardown_##name(void)                             \
    {                                                                                              \
        t_register_teardown(#name, teardown_##name);                                               \
    }                                                                                              \
    static void teardown_##name(void)

/* T_ASSERT(cond) or T_ASSERT(cond, "(context %d)", x): the condition text is never a format. */
#define T_ASSERT(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            t_fail_cond(__FILE__, __LINE__, #cond, " " __VA_ARGS__);                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_EQ_INT(a, b)                                                                             \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            t_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, _a, #b, _b);         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define T_EQ_STR(a, b)                                                                             \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            t_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)",    \
                   _b ? _b : "(null)");                                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Asserts that rc is 0; prints the jcs error detail otherwise. */
#define T_OK(expr)                                                                                 \
    do {                                                                                           \
        int _rc = (expr);                                                                          \
        if (_rc != 0) {                                                                            \
            t_fail(__FILE__, __LINE__, "%s returned %d (%s): %s", #expr, _rc, jcs_err_name(_rc),   \
                   jcs_err_msg(_rc));                                                              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
