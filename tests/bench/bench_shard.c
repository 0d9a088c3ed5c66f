/*
 * bench_shard.c - the hub's small-shard write path: shards of 1 KiB (a 4 KiB ec(4,6)
 * object's block) written by 16 threads at once into a local shard store, as
 * WriteShard does. Each shard is two files (the shard and its CRC sidecar), each made
 * durable before the write is acknowledged. Three ways, alternated in the same run:
 *   - "two commits": the sidecar committed, then the shard (fsync file, rename, fsync
 *     directory, twice: how every shard was written before the paired commit);
 *   - "paired commit": jcs_storage_write_commit_pair (both files written back together,
 *     renamed in order, the directory synced once);
 *   - "jcs_shard_commit": what the hub runs (the paired commit, the stats around it and
 *     the sidecar's CRCs).
 * Prints shards per second and the CPU of this process per shard (user + system, from
 * getrusage; the kernel's journal thread is not in it).
 *
 *   build/tests/bench/bench_shard [SHARDS_PER_ROUND]   (default 800; TMPDIR picks the disk)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alloc.h"
#include "hash.h"
#include "shardstore.h"
#include "storage.h"
#include "util.h"

#define THREADS 16
#define SHARD   1024
#define ROUNDS  4

struct run {
    jcs_storage *st;
    jcs_shardstore *ss;
    int paired;
    size_t per_thread;
    unsigned seed;
    int failed;
};

static int64_t cpu_us(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000 + u.ru_utime.tv_usec +
           u.ru_stime.tv_usec;
}

/*
 * The sidecar's bytes under key.crc, then the shard's under key: committed one after the
 * other (the old way), or as a pair.
 */
static int two_files(jcs_storage *st, const char *hash, const uint8_t *data, int paired)
{
    char key[JCS_SHARD_KEY_LEN + 8], skey[JCS_SHARD_KEY_LEN + 16];
    snprintf(key, sizeof key, "blocks/%.2s/%s", hash + 4, hash);
    snprintf(skey, sizeof skey, "%s.crc", key);
    uint8_t sc[16] = {0};
    jcs_storage_writer *sw = NULL, *w = NULL;
    int rc = jcs_storage_write_begin(st, &sw);
    if (rc == 0)
        rc = jcs_storage_write(sw, sc, sizeof sc);
    if (rc == 0 && !paired) {
        rc = jcs_storage_write_commit(sw, skey);
        sw = NULL;
    }
    if (rc == 0)
        rc = jcs_storage_write_begin(st, &w);
    if (rc == 0)
        rc = jcs_storage_write(w, data, SHARD);
    if (rc) {
        jcs_storage_write_abort(sw);
        jcs_storage_write_abort(w);
        return rc;
    }
    return paired ? jcs_storage_write_commit_pair(sw, skey, w, key)
                  : jcs_storage_write_commit(w, key);
}

static void *writer(void *arg)
{
    struct run *r = arg;
    uint8_t data[SHARD];
    unsigned x = r->seed;
    for (size_t i = 0; i < r->per_thread && !r->failed; i++) {
        for (size_t j = 0; j < SHARD; j++) {
            x = x * 1103515245u + 12345u;
            data[j] = (uint8_t)(x >> 16);
        }
        char hash[JCS_HASH_SIZE];
        int rc = jcs_hash_buf(data, SHARD, hash);
        if (rc == 0 && r->paired == 2) {
            jcs_shard_writer *w;
            if ((rc = jcs_shardstore_create(r->ss, &w)) == 0) {
                if ((rc = jcs_shard_write(w, data, SHARD)) != 0)
                    jcs_shard_abort(w);
                else
                    rc = jcs_shard_commit(w, hash, NULL, NULL);
            }
        } else if (rc == 0) {
            rc = two_files(r->st, hash, data, r->paired);
        }
        if (rc) {
            fprintf(stderr, "bench_shard: %s\n", jcs_err_msg(rc));
            r->failed = 1;
        }
    }
    return NULL;
}

/* One round of n shards; returns 0 and the rate and CPU per shard. */
static int round_of(jcs_storage *st, jcs_shardstore *ss, int paired, size_t n, unsigned seed,
                    double *per_s, double *cpu_ms)
{
    struct run r[THREADS];
    pthread_t t[THREADS];
    int64_t t0 = jcs_now_us(), c0 = cpu_us();
    for (int i = 0; i < THREADS; i++) {
        r[i] = (struct run){st, ss, paired, n / THREADS, seed + (unsigned)i * 7919u, 0};
        pthread_create(&t[i], NULL, writer, &r[i]);
    }
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failed |= r[i].failed;
    }
    double secs = (double)(jcs_now_us() - t0) / 1e6, done = (double)(n / THREADS * THREADS);
    *per_s = done / secs;
    *cpu_ms = (double)(cpu_us() - c0) / 1e3 / done;
    return failed;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 800;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[512];
    snprintf(dir, sizeof dir, "%s/jcs-bench-shard-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("bench_shard: mkdtemp");
        return 1;
    }
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL, .local_root = dir};
    jcs_storage *st = NULL;
    jcs_shardstore *ss = NULL;
    int rc = jcs_storage_open(&cfg, &st);
    if (rc == 0)
        rc = jcs_shardstore_open(st, &ss);
    if (rc) {
        fprintf(stderr, "bench_shard: %s\n", jcs_err_msg(rc));
        return 1;
    }
    double loadavg[1] = {0};
    getloadavg(loadavg, 1);
    printf("small shards (%d B + sidecar), %d threads, %zu per round, %s, load average %.1f:\n",
           SHARD, THREADS, n, dir, loadavg[0]);
    static const char *const names[] = {"two commits", "paired commit", "jcs_shard_commit"};
    int failed = 0;
    for (int round = 0; round < ROUNDS && !failed; round++) {
        for (int paired = 0; paired < 3 && !failed; paired++) {
            double rate, cpu;
            failed =
                round_of(st, ss, paired, n, (unsigned)(round * 2 + paired) * 100003u, &rate, &cpu);
            printf("  %-15s %7.0f shards/s  %6.3f CPU ms per shard\n", names[paired], rate, cpu);
        }
    }
    jcs_shardstore_close(ss);
    jcs_storage_close(st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_shard: could not remove %s\n", dir);
    return failed;
}
