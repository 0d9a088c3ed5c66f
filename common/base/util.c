#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

int64_t jcs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t jcs_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t jcs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void jcs_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int jcs_read_file(const char *path, size_t cap, char **out, size_t *lenp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return jcs_err_set(errno == ENOENT ? JCS_ENOENT : JCS_EIO, "%s: cannot read: %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return jcs_err_set(JCS_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return jcs_err_set(JCS_EIO, "%s: cannot read: is a directory", path);
    }
    if ((size_t)st.st_size > cap) {
        close(fd);
        return jcs_err_set(JCS_ETOOBIG, "%s: %lld bytes is more than the %zu allowed", path,
                           (long long)st.st_size, cap);
    }
    size_t size = (size_t)st.st_size, len = 0;
    char *buf = jcs_malloc(size + 1);
    if (!buf) {
        close(fd);
        return jcs_err_set(JCS_ENOMEM, "%s: out of memory", path);
    }
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            jcs_free(buf);
            return jcs_err_set(JCS_EIO, "%s: read failed: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    if (lenp)
        *lenp = len;
    return JCS_OK;
}

int jcs_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
    /* pid and a counter: two threads (or processes) writing the same path use different temps. */
    static atomic_uint seq;
    char *tmp = jcs_asprintf("%s.tmp.%d.%u", path, (int)getpid(), atomic_fetch_add(&seq, 1));
    if (!tmp)
        return jcs_err_set(JCS_ENOMEM, "%s: out of memory", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        int rc = jcs_err_set(JCS_EIO, "%s: cannot create: %s", path, strerror(errno));
        jcs_free(tmp);
        return rc;
    }
    /* open() honours the umask; the mode asked for (0600 for keys) must hold exactly. */
    int ok = fchmod(fd, (mode_t)mode) == 0;
    const char *p = data;
    size_t left = len;
    while (ok && left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            ok = 0;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (ok && fsync(fd) != 0)
        ok = 0;
    int e = errno;
    close(fd);
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        jcs_free(tmp);
        return jcs_err_set(JCS_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    jcs_free(tmp);
    return JCS_OK;
}

int jcs_mkdirs(const char *path, unsigned mode)
{
    char buf[4096];
    if (!path || !*path)
        return jcs_err_set(JCS_EINVAL, "cannot create a directory with an empty path");
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return jcs_err_set(JCS_EINVAL, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, (mode_t)mode) != 0) {
                struct stat st;
                int e = errno;
                /* EEXIST is fine only for a directory: a file in the way must be reported. */
                if (e != EEXIST)
                    return jcs_err_set(JCS_EIO, "%s: cannot create directory: %s", buf,
                                       strerror(e));
                if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                    return jcs_err_set(JCS_EIO, "%s: cannot create directory: not a directory",
                                       buf);
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return JCS_OK;
}

int jcs_parse_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = addr;
    size_t hl;
    if (!addr || !*addr)
        return jcs_err_set(JCS_EINVAL, "empty address (want host:port)");
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return jcs_err_set(JCS_EINVAL, "address \"%s\": want [host]:port", addr);
        h = addr + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strchr(addr, ':');
        if (!colon)
            return jcs_err_set(JCS_EINVAL, "address \"%s\": want host:port", addr);
        /* "fe80::1" would otherwise read as host "fe80:" port 1: IPv6 needs brackets. */
        if (strchr(colon + 1, ':'))
            return jcs_err_set(JCS_EINVAL, "address \"%s\": write an IPv6 host as [host]:port",
                               addr);
        hl = (size_t)(colon - addr);
    }
    /* Digits only: strtol alone would take " 80", "+80" and "-0". */
    const char *ps = colon + 1;
    long p = 0;
    size_t nd = strspn(ps, "0123456789");
    if (nd == 0 || nd > 5 || ps[nd] != '\0' || (p = strtol(ps, NULL, 10)) > 65535)
        return jcs_err_set(JCS_EINVAL, "address \"%s\": port must be 0-65535", addr);
    if (hl == 0 || hl >= hostlen)
        return jcs_err_set(JCS_EINVAL, "address \"%s\": bad host", addr);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return JCS_OK;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int jcs_random_hex(char *out, size_t nbytes)
{
    unsigned char r[64];
    size_t got = 0;
    if (nbytes > sizeof(r))
        return jcs_err_set(JCS_EINVAL, "at most %zu random bytes at once", sizeof(r));
    while (got < nbytes) {
        ssize_t n = getrandom(r + got, nbytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return jcs_err_set(JCS_EIO, "getrandom failed: %s", strerror(errno));
        got += (size_t)n;
    }
    to_hex(r, nbytes, out);
    return JCS_OK;
}

void jcs_unique_hex(char out[17])
{
    if (jcs_random_hex(out, 8) == JCS_OK)
        return;
    /* getrandom cannot fail for 8 bytes after boot; fall back to time and pid anyway. */
    uint64_t v = (uint64_t)jcs_now_us() * 2654435761u ^ (uint64_t)getpid();
    unsigned char b[8];
    memcpy(b, &v, sizeof(b));
    to_hex(b, sizeof(b), out);
}
