/*
 * alloc.h - the one allocation wrapper.
 *
 * All heap memory of JCS-C goes through these functions so that tests can make
 * the N-th allocation fail (jcs_alloc_fail_after) and check that every caller
 * turns that into JCS_ENOMEM without leaking or crashing. Memory from any of
 * the allocating functions is released with jcs_free (jcs_aligned_alloc
 * included: it uses posix_memalign, whose memory free() accepts).
 */
#ifndef JCS_ALLOC_H
#define JCS_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/strdup; NULL when the allocation fails. Caller frees. */
void *jcs_malloc(size_t n);
void *jcs_calloc(size_t count, size_t size);
void *jcs_realloc(void *p, size_t n);
char *jcs_strdup(const char *s);
char *jcs_strndup(const char *s, size_t n);

/* printf into a new string; NULL on failure. Caller frees. */
char *jcs_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* n bytes aligned to align (a power of two >= sizeof(void*)). Caller frees. */
void *jcs_aligned_alloc(size_t align, size_t n);

void jcs_free(void *p);

/*
 * Test hook: after n more successful allocations, every allocation fails
 * until jcs_alloc_fail_after(-1) switches failure injection off.
 */
void jcs_alloc_fail_after(long n);

#endif
