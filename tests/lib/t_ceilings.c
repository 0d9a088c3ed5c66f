/*
 * t_ceilings.c - the ceilings the benches print beside their figures
 * (t_ceilings.h).
 */
#include "t_ceilings.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "util.h"

#define MiB (1024.0 * 1024.0)

static double secs(int64_t us)
{
    return (double)us / 1e6;
}

double t_ceil_memcpy_gbps(void)
{
    size_t n = 256u << 20;
    char *a = jcs_malloc(n), *b = jcs_malloc(n);
    if (!a || !b) {
        jcs_free(a);
        jcs_free(b);
        return 0;
    }
    memset(a, 1, n);
    memset(b, 2, n);
    int64_t t0 = jcs_now_us();
    for (int i = 0; i < 4; i++)
        memcpy(i & 1 ? a : b, i & 1 ? b : a, n);
    double r = 4.0 * (double)n / 1e9 / secs(jcs_now_us() - t0);
    jcs_free(a);
    jcs_free(b);
    return r;
}

static void *tcp_sink(void *arg)
{
    int fd = *(int *)arg;
    char *buf = jcs_malloc(1 << 20);
    while (buf && read(fd, buf, 1 << 20) > 0)
        ;
    jcs_free(buf);
    return NULL;
}

double t_ceil_loopback_mibps(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0) {
        if (ls >= 0)
            close(ls);
        return 0;
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (c >= 0)
            close(c);
        close(ls);
        return 0;
    }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int s = accept(ls, NULL, NULL);
    pthread_t t;
    pthread_create(&t, NULL, tcp_sink, &s);
    size_t total = 2048u << 20, chunk = 1 << 20, sent = 0;
    char *buf = jcs_calloc(1, chunk);
    int64_t t0 = jcs_now_us();
    while (buf && sent < total) {
        ssize_t w = write(c, buf, chunk);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    close(c);
    pthread_join(t, NULL);
    double r = (double)sent / MiB / secs(jcs_now_us() - t0);
    close(s);
    close(ls);
    jcs_free(buf);
    return r;
}

void t_ceil_disk_mibps(const char *dir, double *wr, double *rd)
{
    char path[1024];
    size_t total = 1024u << 20, chunk = 1 << 20;
    snprintf(path, sizeof(path), "%s/disk-probe", dir);
    *wr = 0;
    if (rd)
        *rd = 0;
    char *buf = jcs_malloc(chunk);
    if (!buf)
        return;
    for (size_t i = 0; i < chunk; i++)
        buf[i] = (char)(i * 2654435761u >> 13);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int64_t t0 = jcs_now_us();
    for (size_t d = 0; fd >= 0 && d < total; d += chunk)
        if (write(fd, buf, chunk) != (ssize_t)chunk)
            break;
    if (fd >= 0) {
        fdatasync(fd);
        *wr = (double)total / MiB / secs(jcs_now_us() - t0);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    if (rd && (fd = open(path, O_RDONLY)) >= 0) {
        t0 = jcs_now_us();
        while (read(fd, buf, chunk) > 0)
            ;
        *rd = (double)total / MiB / secs(jcs_now_us() - t0);
        close(fd);
    }
    unlink(path);
    jcs_free(buf);
}
