/* The tar format for package export and import (tar.h). */
#include "tar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

#define USTAR_MAX_SIZE   077777777777LL /* 11 octal digits */
#define CTL_TAR_MAX_META (1u << 20)     /* a PAX or long-name block's data */

/* Header field offsets (POSIX ustar). */
enum {
    F_NAME = 0,
    F_MODE = 100,
    F_UID = 108,
    F_GID = 116,
    F_SIZE = 124,
    F_MTIME = 136,
    F_CHKSUM = 148,
    F_TYPE = 156,
    F_LINK = 157,
    F_MAGIC = 257,
    F_VERSION = 263,
    F_UNAME = 265,
    F_GNAME = 297,
    F_PREFIX = 345
};

static void octal(char *field, size_t width, uint64_t v)
{
    /* width - 1 digits and a NUL, zero-padded; callers keep v within width - 1 digits. */
    field[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0; v >>= 3)
        field[i] = (char)('0' + (v & 7));
}

static unsigned checksum(const unsigned char *h)
{
    unsigned sum = 0;
    for (size_t i = 0; i < CTL_TAR_BLOCK; i++)
        sum += i >= F_CHKSUM && i < F_CHKSUM + 8 ? ' ' : h[i];
    return sum;
}

/* A ustar header block for name (truncated to 100 bytes), size, type. */
static void ustar(unsigned char *h, const char *name, int64_t size, int64_t mtime, char type)
{
    memset(h, 0, CTL_TAR_BLOCK);
    size_t nlen = strlen(name);
    memcpy(h + F_NAME, name, nlen > 100 ? 100 : nlen);
    octal((char *)h + F_MODE, 8, 0644);
    octal((char *)h + F_UID, 8, 0);
    octal((char *)h + F_GID, 8, 0);
    octal((char *)h + F_SIZE, 12, (uint64_t)(size > USTAR_MAX_SIZE ? 0 : size));
    octal((char *)h + F_MTIME, 12, (uint64_t)(mtime < 0 ? 0 : mtime));
    h[F_TYPE] = (unsigned char)type;
    memcpy(h + F_MAGIC, "ustar", 6);
    memcpy(h + F_VERSION, "00", 2);
    memcpy(h + F_UNAME, "jcs", 3);
    memcpy(h + F_GNAME, "jcs", 3);
    snprintf((char *)h + F_CHKSUM, 8, "%06o", checksum(h));
    h[F_CHKSUM + 7] = ' ';
}

/* One PAX record "LEN key=value\n" where LEN counts the whole record. */
static int pax_record(jcs_buf *b, const char *key, const char *value)
{
    size_t body = 1 + strlen(key) + 1 + strlen(value) + 1; /* " key=value\n" */
    size_t len = body + 1;
    while (1) {
        char digits[24];
        size_t d = (size_t)snprintf(digits, sizeof digits, "%zu", len);
        if (d + body == len)
            break;
        len = d + body;
    }
    return jcs_buf_printf(b, "%zu %s=%s\n", len, key, value);
}

size_t ctl_tar_pad(int64_t size)
{
    return (size_t)((CTL_TAR_BLOCK - size % CTL_TAR_BLOCK) % CTL_TAR_BLOCK);
}

int ctl_tar_header(jcs_buf *out, const char *name, int64_t size, int64_t mtime)
{
    if (!*name)
        return jcs_err_set(JCS_EINVAL, "tar: an entry needs a name");
    unsigned char h[CTL_TAR_BLOCK];
    int rc;
    if (strlen(name) > 100 || size > USTAR_MAX_SIZE) {
        jcs_buf pax;
        jcs_buf_init(&pax, CTL_TAR_MAX_META);
        char sz[24];
        snprintf(sz, sizeof sz, "%lld", (long long)size);
        if ((rc = pax_record(&pax, "path", name)) ||
            (size > USTAR_MAX_SIZE && (rc = pax_record(&pax, "size", sz)))) {
            jcs_buf_clear(&pax);
            return rc;
        }
        /* The extended header's own name only matters to readers without PAX. */
        char xname[101];
        snprintf(xname, sizeof xname, "PaxHeaders/%.80s", name);
        ustar(h, xname, (int64_t)pax.len, mtime, 'x');
        static const char zeros[CTL_TAR_BLOCK];
        if ((rc = jcs_buf_append(out, h, sizeof h)) ||
            (rc = jcs_buf_append(out, pax.data, pax.len)) ||
            (rc = jcs_buf_append(out, zeros, ctl_tar_pad((int64_t)pax.len)))) {
            jcs_buf_clear(&pax);
            return rc;
        }
        jcs_buf_clear(&pax);
    }
    ustar(h, name, size, mtime, '0');
    return jcs_buf_append(out, h, sizeof h);
}

/* ---- reading --------------------------------------------------------------------------------- */

static int read_at(int fd, const char *file, int64_t off, void *p, size_t n, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)p + done, n - done, off + (int64_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return jcs_err_set(JCS_EIO, "reading %s at byte %lld: %s", file, (long long)off,
                               strerror(errno));
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

/* A numeric field: octal text, or GNU base-256 (high bit of the first byte). */
static int parse_num(const unsigned char *f, size_t w, int64_t *out)
{
    if (f[0] & 0x80) {
        uint64_t v = f[0] & 0x3f;
        for (size_t i = 1; i < w; i++) {
            if (v >> 55)
                return -1;
            v = v << 8 | f[i];
        }
        *out = (int64_t)v;
        return 0;
    }
    int64_t v = 0;
    size_t i = 0;
    while (i < w && f[i] == ' ')
        i++;
    for (; i < w && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 58)
            return -1;
        v = v * 8 + (f[i] - '0');
    }
    if (i < w && f[i] != ' ' && f[i] != '\0')
        return -1;
    *out = v;
    return 0;
}

static int header_ok(const unsigned char *h)
{
    int64_t want;
    if (parse_num(h + F_CHKSUM, 8, &want) != 0)
        return 0;
    unsigned sum = checksum(h);
    /* Some old writers summed signed chars. */
    int ssum = 0;
    for (size_t i = 0; i < CTL_TAR_BLOCK; i++)
        ssum += i >= F_CHKSUM && i < F_CHKSUM + 8 ? ' ' : (signed char)h[i];
    return (int64_t)sum == want || (int64_t)ssum == want;
}

int ctl_tar_probe(int fd)
{
    unsigned char h[CTL_TAR_BLOCK];
    size_t got;
    if (read_at(fd, "archive", 0, h, sizeof h, &got) != 0 || got != sizeof h)
        return 0;
    return header_ok(h);
}

static int all_zero(const unsigned char *h)
{
    for (size_t i = 0; i < CTL_TAR_BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

/* Reads an entry's data (a PAX header or a long name) into a new NUL-terminated string. */
static int read_meta(int fd, const char *file, int64_t off, int64_t size, char **out)
{
    if (size < 0 || size > CTL_TAR_MAX_META)
        return jcs_err_set(JCS_ECORRUPT, "%s: an extended header at byte %lld is %lld bytes", file,
                           (long long)off, (long long)size);
    char *p = jcs_malloc((size_t)size + 1);
    if (!p)
        return JCS_ENOMEM;
    size_t got;
    int rc = read_at(fd, file, off, p, (size_t)size, &got);
    if (!rc && got != (size_t)size)
        rc = jcs_err_set(JCS_ECORRUPT, "%s: the archive ends inside the header at byte %lld", file,
                         (long long)off);
    if (rc) {
        jcs_free(p);
        return rc;
    }
    p[size] = '\0';
    *out = p;
    return 0;
}

/* Applies the records of a PAX header: path and size. */
static int pax_apply(const char *file, int64_t off, const char *p, size_t n, char **path,
                     int64_t *size)
{
    size_t i = 0;
    while (i < n) {
        char *end;
        long long len = strtoll(p + i, &end, 10);
        if (len <= 0 || *end != ' ' || (size_t)len > n - i || p[i + (size_t)len - 1] != '\n')
            return jcs_err_set(JCS_ECORRUPT, "%s: a malformed PAX record at byte %lld", file,
                               (long long)off);
        const char *kv = end + 1, *rec_end = p + i + len - 1;
        const char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
        if (eq) {
            size_t klen = (size_t)(eq - kv), vlen = (size_t)(rec_end - eq - 1);
            if (klen == 4 && memcmp(kv, "path", 4) == 0) {
                jcs_free(*path);
                *path = jcs_strndup(eq + 1, vlen);
                if (!*path)
                    return JCS_ENOMEM;
            } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
                *size = strtoll(eq + 1, NULL, 10);
            }
        }
        i += (size_t)len;
    }
    return 0;
}

static char *clean_name(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    while (*n == '/')
        n++;
    return jcs_strdup(n);
}

int ctl_tar_next(int fd, const char *file, int64_t *pos, ctl_tar_entry *e)
{
    char *long_name = NULL;
    int64_t pax_size = -1;
    int rc = 0;
    memset(e, 0, sizeof *e);
    for (;;) {
        unsigned char h[CTL_TAR_BLOCK];
        size_t got;
        if ((rc = read_at(fd, file, *pos, h, sizeof h, &got)))
            break;
        if (got == 0 || (got == sizeof h && all_zero(h))) {
            rc = 1; /* the end (a missing end-of-archive marker is tolerated) */
            break;
        }
        if (got != sizeof h || !header_ok(h)) {
            rc = jcs_err_set(JCS_ECORRUPT, "%s: no valid tar header at byte %lld", file,
                             (long long)*pos);
            break;
        }
        int64_t size;
        if (parse_num(h + F_SIZE, 12, &size) != 0) {
            rc = jcs_err_set(JCS_ECORRUPT, "%s: a bad size field at byte %lld", file,
                             (long long)*pos);
            break;
        }
        char type = (char)h[F_TYPE];
        int64_t data = *pos + CTL_TAR_BLOCK;
        if (type == 'x' || type == 'L') {
            char *meta = NULL;
            if ((rc = read_meta(fd, file, data, size, &meta)))
                break;
            if (type == 'x') {
                rc = pax_apply(file, *pos, meta, (size_t)size, &long_name, &pax_size);
                jcs_free(meta);
                if (rc)
                    break;
            } else {
                jcs_free(long_name);
                long_name = meta;
            }
            *pos = data + size + (int64_t)ctl_tar_pad(size);
            continue;
        }
        if (type == 'g' || type == 'K') {
            *pos = data + size + (int64_t)ctl_tar_pad(size);
            continue;
        }
        if (pax_size >= 0)
            size = pax_size;
        if (long_name) {
            e->name = clean_name(long_name);
        } else {
            char name[256 + 2];
            size_t plen = strnlen((char *)h + F_PREFIX, 155);
            size_t nlen = strnlen((char *)h + F_NAME, 100);
            int has_prefix = memcmp(h + F_MAGIC, "ustar", 5) == 0 && plen > 0;
            snprintf(name, sizeof name, "%.*s%s%.*s", has_prefix ? (int)plen : 0,
                     (char *)h + F_PREFIX, has_prefix ? "/" : "", (int)nlen, (char *)h + F_NAME);
            e->name = clean_name(name);
        }
        if (!e->name) {
            rc = JCS_ENOMEM;
            break;
        }
        e->type = type == '\0' || type == '7' ? '0' : type;
        /* Links and directories carry no data, whatever their size field says. */
        if (e->type == '1' || e->type == '2' || e->type == '5')
            size = e->type == '5' ? size : 0;
        e->size = size;
        e->data_off = data;
        *pos = data + size + (int64_t)ctl_tar_pad(size);
        break;
    }
    jcs_free(long_name);
    return rc;
}
