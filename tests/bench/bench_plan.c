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
#include "t_ceilings.h"
#include "util.h"

#define NHUBS 6
#define MiB   (1024.0 * 1024.0)

static double secs(int64_t us)
{
    return (double)us / 1e6;
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
    printf("  memcpy                 %8.2f GB/s\n", t_ceil_memcpy_gbps());
    printf("  loopback TCP, 1 stream %8.0f MiB/s\n", t_ceil_loopback_mibps());

    if (itest_cluster_up(&cl, "--hubs 6 --no-client --test-interval 300") != 0) {
        fprintf(stderr, "bench_plan: the cluster did not start\n");
        return 1;
    }
    double dw, dr;
    t_ceil_disk_mibps(cl.dir, &dw, &dr);
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
        jcs_driver_upload_res res_ = {.blocks = blocks};
        rc = jcs_driver_upload(drv,
                               &(jcs_driver_upload_req){.read = gen_read,
                                                        .arg = &g,
                                                        .red = &red,
                                                        .targets = sites,
                                                        .ntargets = NHUBS,
                                                        .compute = computes[c]},
                               &res_);
        nb = res_.nblocks;
        memcpy(hash, res_.hash, sizeof res_.hash);
        size = res_.size;
        double up = (double)size / MiB / secs(jcs_now_us() - t0);
        if (rc) {
            printf("  upload failed: %s\n", jcs_err_msg(rc));
            status = 1;
            break;
        }
        uint64_t got = 0;
        t0 = jcs_now_us();
        rc = jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = blocks,
                                                                         .sites = sites,
                                                                         .nblocks = nb,
                                                                         .red = &red,
                                                                         .object_size = size},
                                                                 .offset = 0,
                                                                 .length = -1,
                                                                 .compute = computes[c],
                                                                 .write = count_sink,
                                                                 .arg = &got});
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
        rc = jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = blocks,
                                                                         .sites = degraded,
                                                                         .nblocks = nb,
                                                                         .red = &red,
                                                                         .object_size = size},
                                                                 .offset = 0,
                                                                 .length = -1,
                                                                 .compute = computes[c],
                                                                 .write = count_sink,
                                                                 .arg = &got});
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
