#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

#define T_MAX 512

static struct {
    const char *name;
    t_fn fn;
} tests[T_MAX], teardowns[T_MAX];
static int ntests, nteardowns, failed_now;
static char why[2048];

void t_register(const char *name, t_fn fn)
{
    if (ntests < T_MAX) {
        tests[ntests].name = name;
        tests[ntests].fn = fn;
        ntests++;
    }
}

void t_register_teardown(const char *name, t_fn fn)
{
    if (nteardowns < T_MAX) {
        teardowns[nteardowns].name = name;
        teardowns[nteardowns].fn = fn;
        nteardowns++;
    }
}

int t_failed(void)
{
    return failed_now;
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(why, sizeof(why), "%s:%d: ", file, line);
    va_start(ap, fmt);
    vsnprintf(why + n, sizeof(why) - (size_t)n, fmt, ap);
    va_end(ap);
    failed_now = 1;
}

void t_fail_cond(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(why, sizeof(why), "%s:%d: assertion failed: %s", file, line, cond);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(why))
        vsnprintf(why + n, sizeof(why) - (size_t)n, fmt, ap);
    va_end(ap);
    failed_now = 1;
}

/* Runs every registered test, or only those named on the command line. */
int main(int argc, char **argv)
{
    int fails = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < ntests; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                want |= strcmp(argv[a], tests[i].name) == 0;
            if (!want)
                continue;
        }
        failed_now = 0;
        why[0] = '\0';
        tests[i].fn();
        if (failed_now) {
            printf("FAIL %s: %s\n", tests[i].name, why);
            fails++;
        } else {
            printf("PASS %s\n", tests[i].name);
        }
    }
    /* Fixtures stop after every test, in reverse order of registration. */
    for (int i = nteardowns - 1; i >= 0; i--) {
        failed_now = 0;
        why[0] = '\0';
        teardowns[i].fn();
        if (failed_now) {
            printf("FAIL teardown %s: %s\n", teardowns[i].name, why);
            fails++;
        }
    }
    return fails ? 1 : 0;
}
