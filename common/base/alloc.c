#include "alloc.h"

#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -1: injection off. >= 0: allocations left before failures start. */
static atomic_long budget = -1;

static int should_fail(void)
{
    long b = atomic_load(&budget);
    while (b >= 0) {
        if (b == 0)
            return 1;
        if (atomic_compare_exchange_weak(&budget, &b, b - 1))
            return 0;
    }
    return 0;
}

void jcs_alloc_fail_after(long n)
{
    atomic_store(&budget, n < 0 ? -1 : n);
}

void *jcs_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *jcs_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *jcs_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *jcs_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = jcs_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *jcs_strdup(const char *s)
{
    return s ? jcs_strndup(s, strlen(s)) : NULL;
}

char *jcs_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = jcs_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void *jcs_aligned_alloc(size_t align, size_t n)
{
    void *p = NULL;
    if (should_fail())
        return NULL;
    if (posix_memalign(&p, align, n ? n : 1) != 0)
        return NULL;
    return p;
}

void jcs_free(void *p)
{
    free(p);
}

static void *trim_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {JCS_ALLOC_TRIM_MS / 1000, (JCS_ALLOC_TRIM_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        malloc_trim(0);
    }
    return NULL;
}

void jcs_alloc_service_init(void)
{
    static atomic_int started;
    if (atomic_exchange(&started, 1))
        return;
    /*
     * No trimming on free: glibc otherwise gives the top of a thread's heap
     * back (madvise) whenever a large free leaves more than the trim
     * threshold there, and the next buffer is faulted in and zeroed again;
     * with 1 MiB buffers passing between threads that was 13 % of a hub's
     * CPU during an upload (perf). Setting the thresholds also stops glibc
     * from adjusting them itself; the mmap threshold is its largest value,
     * so message and pipe buffers come from the heaps. The housekeeping
     * thread below still returns free memory every JCS_ALLOC_TRIM_MS.
     */
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 1 << 30);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Without the thread the service still works, only with more memory held. */
    (void)pthread_create(&t, &attr, trim_main, NULL);
    pthread_attr_destroy(&attr);
}
