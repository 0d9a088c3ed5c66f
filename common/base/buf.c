#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

void jcs_buf_init(jcs_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->cap = cap;
}

int jcs_buf_reserve(jcs_buf *b, size_t n)
{
    if (n > b->cap || b->len > b->cap - n)
        return jcs_err_set(JCS_ETOOBIG, "buffer would exceed its cap of %zu bytes", b->cap);
    size_t need = b->len + n + 1;
    if (need <= b->size)
        return JCS_OK;
    size_t size = b->size ? b->size : 256;
    while (size < need)
        size *= 2;
    char *p = jcs_realloc(b->data, size);
    if (!p)
        return jcs_err_set(JCS_ENOMEM, "out of memory growing a buffer to %zu bytes", size);
    /* A reserve with nothing appended yet still leaves a C string: the contract says the
     * bytes are always NUL-terminated, and a first allocation has no terminator of its own. */
    p[b->len] = '\0';
    b->data = p;
    b->size = size;
    return JCS_OK;
}

int jcs_buf_append(jcs_buf *b, const void *p, size_t n)
{
    int rc = jcs_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return JCS_OK;
}

int jcs_buf_printf(jcs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return jcs_err_set(JCS_EINVAL, "bad format");
    int rc = jcs_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return JCS_OK;
}

char *jcs_buf_steal(jcs_buf *b)
{
    char *p = b->data;
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    return p;
}

void jcs_buf_reset(jcs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void jcs_buf_clear(jcs_buf *b)
{
    jcs_free(b->data);
    jcs_buf_init(b, b->cap);
}

int jcs_buf_append_utf8(jcs_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return jcs_buf_append(b, u, n);
}
