#include "err.h"

#include <stdio.h>
#include <string.h>

/* One detail line per thread, and the code it explains (0: no line); long
 * enough for a path plus an explanation. */
static _Thread_local char tls_msg[1024];
static _Thread_local int tls_code;

static const struct {
    const char *name;
    const char *text;
} table[] = {
    {"OK", "success"},
    {"ENOMEM", "out of memory"},
    {"EINVAL", "invalid argument"},
    {"ENOENT", "not found"},
    {"EEXIST", "already exists"},
    {"EIO", "input/output error"},
    {"ETOOBIG", "too large"},
    {"ETIMEOUT", "deadline exceeded"},
    {"ECANCELED", "cancelled"},
    {"EPERM", "permission denied"},
    {"EUNAVAIL", "unavailable"},
    {"ECONFIG", "configuration error"},
    {"EDB", "database error"},
    {"ETLS", "certificate or key error"},
    {"ECORRUPT", "data corrupt"},
    {"EBUSY", "busy"},
    {"ERPC", "remote call failed"},
    {"EINTERNAL", "internal error"},
};

static int index_of(int code)
{
    if (code == JCS_EOF)
        return -1;
    int i = -code;
    if (i < 0 || i >= (int)(sizeof(table) / sizeof(table[0])))
        return (int)(sizeof(table) / sizeof(table[0])) - 1;
    return i;
}

const char *jcs_err_name(int code)
{
    int i = index_of(code);
    return i < 0 ? "EOF" : table[i].name;
}

const char *jcs_strerror(int code)
{
    int i = index_of(code);
    return i < 0 ? "end of stream" : table[i].text;
}

int jcs_err_setv(int code, const char *fmt, va_list ap)
{
    vsnprintf(tls_msg, sizeof(tls_msg), fmt, ap);
    tls_code = code;
    return code;
}

int jcs_err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jcs_err_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int jcs_err_wrap(int code, const char *fmt, ...)
{
    char prefix[512];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0)
        return code;
    if (!tls_msg[0] || tls_code != code) {
        snprintf(tls_msg, sizeof(tls_msg), "%s", jcs_strerror(code));
        tls_code = code;
    }
    /* Shift the old line right and put the prefix in front; the old line's tail gives way when
     * both do not fit (the prefix is at most 511 bytes, so some of the old line always stays). */
    size_t plen = strlen(prefix), olen = strlen(tls_msg);
    if (plen + olen > sizeof(tls_msg) - 1)
        olen = sizeof(tls_msg) - 1 - plen;
    memmove(tls_msg + plen, tls_msg, olen);
    memcpy(tls_msg, prefix, plen);
    tls_msg[plen + olen] = '\0';
    return code;
}

int jcs_err_recode(int from, int to)
{
    if (!tls_msg[0] || tls_code != from)
        snprintf(tls_msg, sizeof(tls_msg), "%s", jcs_strerror(from));
    tls_code = to;
    return to;
}

const char *jcs_err_msg(int code)
{
    return tls_msg[0] && tls_code == code ? tls_msg : jcs_strerror(code);
}

void jcs_err_clear(void)
{
    tls_msg[0] = '\0';
    tls_code = 0;
}
