/*
 * bench_shard.c - the hub's small-shard write path: shards of 1 KiB (a 4 KiB ec(4,6)
 * object's block) written by 16 threads at once into a local shard store, as
 * WriteShard does, each made durable before the write is acknowledged. Beside it, the
 * ceiling of this disk: durable creations of plain 4 KiB files. Alternated in one run:
 *   - "ceiling": 4 KiB files, each created in tmp/, written, fdatasync'd, renamed into
 *     one of 256 directories and that directory fsync'd (what any durable small-object
 *     store pays per object, with no checksum and no protocol);
 *   - "ceiling, no dir sync": the same without the directory fsync (the most that sharing
 *     directory fsyncs among writers could give);
 *   - "two commits": the shard and a CRC sidecar file, the sidecar committed, then the
 *     shard (fsync file, rename, fsync directory, twice: the first layout);
 *   - "paired commit": the same two files through jcs_storage_write_commit_pair (both
 *     written back together, renamed in order, the directory synced once: the second);
 *   - "jcs_shard_commit": what the hub runs now (one file, its CRCs in an extended
 *     attribute set before the fsync and the rename; the stats around it).
 * Prints shards per second and the CPU of this process per shard (user + system, from
 * getrusage; the kernel's writeback threads are not in it).
 *
 *   build/tests/bench/bench_shard [SHARDS_PER_ROUND]   (default 800; TMPDIR picks the disk)
 *   build/tests/bench/bench_shard --ceiling            (the ceiling line only, for load.sh)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc.h"
#include "hash.h"
#include "shardstore.h"
#include "storage.h"
#include "util.h"

#define THREADS 16
#define SHARD   1024
#define ROUNDS  4
#define PLAIN   4096 /* the ceiling's file size */

enum mode { CEILING, CEILING_NODIR, TWO_COMMITS, PAIRED, SHARD_COMMIT, NMODES };
static const char *const names[] = {"ceiling", "ceiling, no dir sync", "two commits",
                                    "paired commit", "jcs_shard_commit"};
static const char *root;

struct run {
    jcs_storage *st;
    jcs_shardstore *ss;
    enum mode mode;
    size_t per_thread;
    char (*rec)[JCS_HASH_SIZE]; /* NULL, or where this thread's shard hashes go */
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

/* One durable creation of a plain file, as any store must do it, with plain system calls. */
static int plain_file(const char *hash, const uint8_t *data, int dir_sync)
{
    char tmp[1024], dst[1100], dir[1024];
    snprintf(tmp, sizeof tmp, "%s/tmp/%s", root, hash);
    snprintf(dir, sizeof dir, "%s/plain/%.2s", root, hash + 4);
    snprintf(dst, sizeof dst, "%s/%s", dir, hash);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int ok = write(fd, data, PLAIN) == PLAIN && fdatasync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, dst) != 0 && errno == ENOENT) {
        char top[1024];
        snprintf(top, sizeof top, "%s/plain", root);
        (void)mkdir(top, 0755);
        (void)mkdir(dir, 0755);
        ok = rename(tmp, dst) == 0;
    }
    if (ok && dir_sync) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ok = dfd >= 0 && fsync(dfd) == 0;
        if (dfd >= 0)
            close(dfd);
    }
    return ok ? 0 : -1;
}

static void *writer(void *arg)
{
    struct run *r = arg;
    uint8_t data[PLAIN];
    unsigned x = r->seed;
    for (size_t i = 0; i < r->per_thread && !r->failed; i++) {
        for (size_t j = 0; j < PLAIN; j++) {
            x = x * 1103515245u + 12345u;
            data[j] = (uint8_t)(x >> 16);
        }
        char hash[JCS_HASH_SIZE];
        int rc = jcs_hash_buf(data, r->mode <= CEILING_NODIR ? PLAIN : SHARD, hash);
        if (rc == 0 && r->mode <= CEILING_NODIR) {
            if (plain_file(hash, data, r->mode == CEILING) != 0) {
                fprintf(stderr, "bench_shard: %s/plain: %s\n", root, strerror(errno));
                r->failed = 1;
            }
            continue;
        }
        if (rc == 0 && r->mode == SHARD_COMMIT) {
            jcs_shard_writer *w;
            if ((rc = jcs_shardstore_create(r->ss, &w)) == 0) {
                if ((rc = jcs_shard_write(w, data, SHARD)) != 0)
                    jcs_shard_abort(w);
                else
                    rc = jcs_shard_commit(w, hash, NULL, NULL);
            }
            if (rc == 0 && r->rec)
                memcpy(r->rec[i], hash, JCS_HASH_SIZE);
        } else if (rc == 0) {
            rc = two_files(r->st, hash, data, r->mode == PAIRED);
        }
        if (rc) {
            fprintf(stderr, "bench_shard: %s\n", jcs_err_msg(rc));
            r->failed = 1;
        }
    }
    return NULL;
}

/* ReadShard's store part: whole reads of recorded shards, each checked against its CRCs. */
struct reads {
    jcs_shardstore *ss;
    char (*h)[JCS_HASH_SIZE];
    size_t n;
    int failed;
};

static int discard(void *arg, const void *data, size_t n)
{
    (void)arg;
    (void)data;
    (void)n;
    return 0;
}

static void *reader(void *arg)
{
    struct reads *r = arg;
    for (int rep = 0; rep < 4; rep++)
        for (size_t i = 0; i < r->n && !r->failed; i++) {
            int rc = jcs_shardstore_read(r->ss, r->h[i], 0, JCS_STORAGE_TO_END, discard, NULL);
            if (rc) {
                fprintf(stderr, "bench_shard: %s\n", jcs_err_msg(rc));
                r->failed = 1;
            }
        }
    return NULL;
}

static int read_round(jcs_shardstore *ss, char (*h)[JCS_HASH_SIZE], size_t n, const char *name)
{
    struct reads r[THREADS];
    pthread_t t[THREADS];
    int64_t t0 = jcs_now_us(), c0 = cpu_us();
    for (int i = 0; i < THREADS; i++) {
        r[i] = (struct reads){ss, h + (size_t)i * (n / THREADS), n / THREADS, 0};
        pthread_create(&t[i], NULL, reader, &r[i]);
    }
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failed |= r[i].failed;
    }
    double done = 4.0 * (double)(n / THREADS * THREADS);
    printf("  %-20s %7.0f reads/s   %6.3f CPU ms per read\n", name,
           done / ((double)(jcs_now_us() - t0) / 1e6), (double)(cpu_us() - c0) / 1e3 / done);
    return failed;
}

/* Moves recorded shards' checksums from the attribute to sidecar files (the old layout). */
static int to_sidecars(char (*h)[JCS_HASH_SIZE], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char p[1200], sp[1210];
        uint8_t sc[1024];
        snprintf(p, sizeof p, "%s/blocks/%.2s/%.68s", root, h[i] + 4, h[i]);
        snprintf(sp, sizeof sp, "%s.crc", p);
        ssize_t k = getxattr(p, "user.jcs.crc", sc, sizeof sc);
        int fd = k > 0 ? open(sp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        int ok = fd >= 0 && write(fd, sc, (size_t)k) == k;
        if (fd >= 0)
            close(fd);
        if (!ok || removexattr(p, "user.jcs.crc") != 0)
            return -1;
    }
    return 0;
}

/* One round of n shards; returns 0 and the rate and CPU per shard. */
static char (*record)[JCS_HASH_SIZE]; /* set: the next round records its hashes here */

static int round_of(jcs_storage *st, jcs_shardstore *ss, enum mode mode, size_t n, unsigned seed,
                    double *per_s, double *cpu_ms)
{
    struct run r[THREADS];
    pthread_t t[THREADS];
    int64_t t0 = jcs_now_us(), c0 = cpu_us();
    for (int i = 0; i < THREADS; i++) {
        r[i] = (struct run){st,
                            ss,
                            mode,
                            n / THREADS,
                            record ? record + (size_t)i * (n / THREADS) : NULL,
                            seed + (unsigned)i * 7919u,
                            0};
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
    int ceiling_only = argc > 1 && strcmp(argv[1], "--ceiling") == 0;
    size_t n = argc > 1 && !ceiling_only ? (size_t)strtoul(argv[1], NULL, 10) : 800;
    if (ceiling_only)
        n = 1600;
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
    root = dir;
    int failed = 0;
    if (ceiling_only) {
        double rate, cpu;
        failed = round_of(st, ss, CEILING, n, 12345u, &rate, &cpu);
        printf("%.0f durable %d B file creations/s (%d threads: create, write, fdatasync, "
               "rename, directory fsync)\n",
               rate, PLAIN, THREADS);
    }
    double loadavg[1] = {0};
    getloadavg(loadavg, 1);
    if (!ceiling_only)
        printf("small shards (%d B; ceiling: %d B files), %d threads, %zu per round, %s, load "
               "average %.1f:\n",
               SHARD, PLAIN, THREADS, n, dir, loadavg[0]);
    for (int round = 0; round < ROUNDS && !failed && !ceiling_only; round++) {
        for (int m = 0; m < NMODES && !failed; m++) {
            double rate, cpu;
            failed = round_of(st, ss, (enum mode)m, n, (unsigned)(round * NMODES + m) * 100003u,
                              &rate, &cpu);
            printf("  %-20s %7.0f shards/s  %6.3f CPU ms per shard\n", names[m], rate, cpu);
        }
    }
    if (!ceiling_only && !failed) {
        /* Reads of one round's shards, 4 times each: checksums in the attribute, then in
         * sidecar files (how shards were stored before; what ReadShard read then). */
        double rate, cpu;
        size_t rn = n / THREADS * THREADS;
        record = jcs_calloc(rn, JCS_HASH_SIZE);
        failed = !record || round_of(st, ss, SHARD_COMMIT, n, 777u, &rate, &cpu);
        for (int round = 0; round < 2 && !failed; round++)
            failed = read_round(ss, record, rn, "read, attribute");
        if (!failed && to_sidecars(record, rn) != 0) {
            fprintf(stderr, "bench_shard: moving checksums to sidecars: %s\n", strerror(errno));
            failed = 1;
        }
        for (int round = 0; round < 2 && !failed; round++)
            failed = read_round(ss, record, rn, "read, sidecar layout");
        jcs_free(record);
    }
    jcs_shardstore_close(ss);
    jcs_storage_close(st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_shard: could not remove %s\n", dir);
    return failed;
}
