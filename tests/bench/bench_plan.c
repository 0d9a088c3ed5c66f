/*
 * bench_plan.c - 1 GiB written as ec(4,6) across 6 hubs and read back
 * through real plans (mutual TLS gRPC, real shard stores on disk), beside
 * this machine's ceilings measured in the same run: memcpy, loopback TCP
 * and the disk the hubs write to.
 *
 *   build/tests/bench/bench_plan [MiB]      (default 1024)
 */
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "coordinator.pb-c.h"
#include "driver.h"
#include "itest.h"
#include "methods.h"
#include "util.h"

#define NHUBS 6
#define MiB   (1024.0 * 1024.0)

static double secs(int64_t us)
{
    return (double)us / 1e6;
}

/* ------------------------------------------------------------- ceilings */

static double memcpy_gbps(void)
{
    size_t n = 256u << 20;
    char *a = jcs_malloc(n), *b = jcs_malloc(n);
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

struct sink_arg {
    int fd;
};

static void *tcp_sink(void *arg)
{
    struct sink_arg *s = arg;
    char *buf = jcs_malloc(1 << 20);
    while (read(s->fd, buf, 1 << 20) > 0)
        ;
    jcs_free(buf);
    return NULL;
}

/* One TCP stream over loopback, 2 GiB, MiB/s. */
static double loopback_mibps(void)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0)
        return 0;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 0;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sink_arg s = {accept(ls, NULL, NULL)};
    pthread_t t;
    pthread_create(&t, NULL, tcp_sink, &s);
    size_t total = 2048u << 20, chunk = 1 << 20, sent = 0;
    char *buf = jcs_calloc(1, chunk);
    int64_t t0 = jcs_now_us();
    while (sent < total) {
        ssize_t w = write(c, buf, chunk);
        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    close(c);
    pthread_join(t, NULL);
    double r = (double)sent / MiB / secs(jcs_now_us() - t0);
    close(s.fd);
    close(ls);
    jcs_free(buf);
    return r;
}

/* Writes 1 GiB with fdatasync in dir, then reads it back cold-ish; MiB/s each. */
static void disk_mibps(const char *dir, double *wr, double *rd)
{
    char path[1024];
    size_t total = 1024u << 20, chunk = 1 << 20;
    snprintf(path, sizeof(path), "%s/disk-probe", dir);
    char *buf = jcs_malloc(chunk);
    for (size_t i = 0; i < chunk; i++)
        buf[i] = (char)(i * 2654435761u >> 13);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int64_t t0 = jcs_now_us();
    for (size_t d = 0; fd >= 0 && d < total; d += chunk)
        if (write(fd, buf, chunk) != (ssize_t)chunk)
            break;
    if (fd >= 0)
        fdatasync(fd);
    *wr = (double)total / MiB / secs(jcs_now_us() - t0);
    if (fd >= 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    fd = open(path, O_RDONLY);
    t0 = jcs_now_us();
    while (fd >= 0 && read(fd, buf, chunk) > 0)
        ;
    *rd = (double)total / MiB / secs(jcs_now_us() - t0);
    if (fd >= 0)
        close(fd);
    unlink(path);
    jcs_free(buf);
}

/* ------------------------------------------------------------------ plan */

struct gen {
    size_t left;
    uint32_t x;
};

static int gen_read(void *arg, void *buf, size_t cap, size_t *n)
{
    struct gen *g = arg;
    size_t k = g->left < cap ? g->left : cap;
    uint32_t *w = buf;
    for (size_t i = 0; i < k / 4; i++) {
        g->x ^= g->x << 13;
        g->x ^= g->x >> 17;
        g->x ^= g->x << 5;
        w[i] = g->x;
    }
    memset((char *)buf + k / 4 * 4, 7, k % 4);
    g->left -= k;
    *n = k;
    return 0;
}

static int count_sink(void *arg, const void *data, size_t n)
{
    (void)data;
    *(uint64_t *)arg += n;
    return 0;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 1024;
    itest_cluster cl;
    static Jcs__Plan__Worker hubs[NHUBS];
    static Jcs__Plan__Space spaces[NHUBS];
    static char addr[NHUBS][128];
    jcs_rpc_init();
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("ceilings on this machine, measured now:\n");
    printf("  memcpy                 %8.2f GB/s\n", memcpy_gbps());
    printf("  loopback TCP, 1 stream %8.0f MiB/s\n", loopback_mibps());

    if (itest_cluster_up(&cl, "--hubs 6 --no-client --test-interval 300") != 0) {
        fprintf(stderr, "bench_plan: the cluster did not start\n");
        return 1;
    }
    double dw, dr;
    disk_mibps(cl.dir, &dw, &dr);
    printf("  disk write+fdatasync   %8.0f MiB/s\n", dw);
    printf("  disk read              %8.0f MiB/s\n", dr);

    int rc = itest_hub_workers(&cl, NHUBS, hubs, addr);
    if (rc) {
        fprintf(stderr, "bench_plan: cannot list hubs: %s\n", jcs_err_msg(rc));
        itest_cluster_down(&cl);
        return 1;
    }
    for (int h = 0; h < NHUBS; h++) {
        jcs__plan__space__init(&spaces[h]);
        spaces[h].space_id = h + 1;
        spaces[h].type = "local";
        spaces[h].root = "bench";
    }

    jcs_driver *drv = NULL;
    if ((rc = itest_driver(&cl, &drv)) != 0) {
        itest_cluster_down(&cl);
        return 1;
    }
    jcs_site sites[NHUBS];
    for (int i = 0; i < NHUBS; i++) {
        sites[i].space = &spaces[i];
        sites[i].hub = &hubs[i];
        sites[i].distance = i;
    }
    jcs_redundancy red = {.type = JCS_RED_EC, .k = 4, .n = 6, .chunk_size = 1 << 20};
    const Jcs__Plan__Worker *computes[2] = {NULL, &hubs[0]};
    const char *where[2] = {"encode/decode on the driver", "encode/decode on hub1"};
    printf("plans: %zu MiB as ec(4,6), chunk 1 MiB, 6 hubs on this machine:\n", mib);
    int status = 0;
    for (int c = 0; c < 2 && !status; c++) {
        struct gen g = {mib << 20, 12345};
        jcs_block blocks[NHUBS];
        size_t nb = 0;
        char hash[JCS_FILEHASH_LEN + 1];
        int64_t size = 0;
        int64_t t0 = jcs_now_us();
        rc = jcs_driver_upload(drv, gen_read, &g, &red, sites, NHUBS, computes[c], blocks, &nb,
                               hash, &size);
        double up = (double)size / MiB / secs(jcs_now_us() - t0);
        if (rc) {
            printf("  upload failed: %s\n", jcs_err_msg(rc));
            status = 1;
            break;
        }
        uint64_t got = 0;
        t0 = jcs_now_us();
        rc = jcs_driver_download(drv, blocks, sites, nb, &red, size, 0, -1, computes[c], count_sink,
                                 &got);
        double down = (double)got / MiB / secs(jcs_now_us() - t0);
        if (rc || got != (uint64_t)size) {
            printf("  download failed: %s\n", rc ? jcs_err_msg(rc) : "short read");
            status = 1;
            break;
        }
        /* A degraded read: the first two data blocks' hub is "down", so parity is decoded. */
        jcs_site degraded[NHUBS];
        memcpy(degraded, sites, sizeof(sites));
        degraded[0].hub = degraded[1].hub = NULL;
        got = 0;
        t0 = jcs_now_us();
        rc = jcs_driver_download(drv, blocks, degraded, nb, &red, size, 0, -1, computes[c],
                                 count_sink, &got);
        double deg = (double)got / MiB / secs(jcs_now_us() - t0);
        if (rc) {
            printf("  degraded download failed: %s\n", jcs_err_msg(rc));
            status = 1;
        }
        printf("  %-28s write %6.0f MiB/s (target 300)   read %6.0f MiB/s (target 400)   "
               "read with 2 blocks lost %6.0f MiB/s\n",
               where[c], up, down, deg);
    }
    jcs_driver_free(drv);
    itest_cluster_down(&cl);
    jcs_rpc_shutdown();
    return status;
}
