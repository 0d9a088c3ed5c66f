/*
 * buf.h - a growable byte buffer with a size cap.
 *
 * Every growable buffer in JCS-C has a cap, so hostile input (a huge JSON
 * body, an endless header) fails with JCS_ETOOBIG instead of eating memory.
 * The bytes are always NUL-terminated (not counted in len) so a buffer of
 * text can be handed to string functions.
 */
#ifndef JCS_BUF_H
#define JCS_BUF_H

#include <stddef.h>

#include "err.h"

typedef struct jcs_buf {
    char *data;  /* owned; NULL until the first append */
    size_t len;  /* bytes used */
    size_t size; /* bytes allocated */
    size_t cap;  /* the most len may ever reach */
} jcs_buf;

/* An empty buffer that may hold at most cap bytes. Needs no allocation. */
void jcs_buf_init(jcs_buf *b, size_t cap);

/* Appends n bytes; JCS_ETOOBIG past the cap, JCS_ENOMEM. */
int jcs_buf_append(jcs_buf *b, const void *p, size_t n) JCS_MUST_USE;

/* Appends code point cp (at most 0x10FFFF) encoded as UTF-8; same errors. */
int jcs_buf_append_utf8(jcs_buf *b, unsigned long cp) JCS_MUST_USE;

/* Appends printf output; same errors. */
int jcs_buf_printf(jcs_buf *b, const char *fmt, ...) JCS_PRINTF(2, 3) JCS_MUST_USE;

/* Makes room for n more bytes without changing len. */
int jcs_buf_reserve(jcs_buf *b, size_t n) JCS_MUST_USE;

/*
 * Hands the bytes to the caller (caller frees with jcs_free) and empties b
 * (b keeps its cap). NULL when nothing was ever appended.
 */
char *jcs_buf_steal(jcs_buf *b);

void jcs_buf_reset(jcs_buf *b);
void jcs_buf_clear(jcs_buf *b);

#endif
