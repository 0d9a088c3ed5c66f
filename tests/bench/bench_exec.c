/*
 * bench_exec.c - the plan executor end to end on one machine: an
 * object of SIZE MiB (argument 1, default 1024) through the EC(4, 6)
 * upload plan into six local shard stores, and back.
 *
 *   encode: the caller feeds the object (zero-copy into the first pipe),
 *           ChunkedSplit(pad) -> Clone -> ECMultiply(parity rows) -> six
 *           ShardWrites (hash while writing, fsync at commit);
 *   decode: four ShardReads of blocks 2..5 (data blocks 0 and 1 lost, the
 *           worst case: every output row needs all inputs) -> ECMultiply
 *           to data rows 0..3 -> ChunkedJoin -> Range(0, size) -> caller;
 *   read:   no loss: ShardReads of blocks 0..3 -> ChunkedJoin -> Range.
 * MiB/s counts object bytes (MiB = 2^20 B) over the whole run, from the
 * first op starting to the last one ending; each figure is the median of
 * 3 trials (the shards are deleted between them), with the slowest and
 * fastest beside it. EC chunks are 1 MiB, pipes
 * the defaults (1 MiB chunks, depth 4). The stores live in a temp dir on
 * $TMPDIR (default /tmp), removed at the end; decode and read find the
 * shards in the page cache (they were just written). Every byte read back
 * is compared with what was written; on a mismatch the figures are
 * withheld and the exit status is 1.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "err.h"
#include "hash.h"
#include "exec.h"
#include "shardstore.h"
#include "storage.h"

#define K      4
#define N      6
#define CHUNK  ((int64_t)1 << 20)
#define SRC    ((size_t)64 << 20) /* the object repeats this buffer */
#define PLANID "b0000000000000000000000000000000"
#define TRIALS 3

static char root[512];
static jcs_storage *st[N];
static jcs_shardstore *ss[N];
static uint8_t *src;
static uint64_t size;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int open_space(void *ctx, const Jcs__Plan__Space *space, jcs_shardstore **out)
{
    (void)ctx;
    if (space->space_id < 0 || space->space_id >= N)
        return jcs_err_set(JCS_EINVAL, "space %lld", (long long)space->space_id);
    *out = ss[space->space_id];
    return 0;
}

/* Fragment building, all on the stack of main. */
#define MAXOPS 32
struct frag {
    Jcs__Plan__Fragment f;
    Jcs__Plan__Op *opp[MAXOPS];
    Jcs__Plan__Op op[MAXOPS];
    Jcs__Plan__Space sp[N];
    Jcs__Plan__ShardRead rd[N];
    Jcs__Plan__ShardWrite wr[N];
    Jcs__Plan__Clone cl[K];
    Jcs__Plan__ChunkedSplit split;
    Jcs__Plan__ECMultiply ec;
    Jcs__Plan__ChunkedJoin join;
    Jcs__Plan__Range range;
    int32_t vars[64];
    int nvars;
};

static int32_t *vars(struct frag *b, int n, int32_t first, int32_t step)
{
    int32_t *v = b->vars + b->nvars;
    for (int i = 0; i < n; i++)
        v[i] = first + step * i;
    b->nvars += n;
    return v;
}

static void add(struct frag *b, Jcs__Plan__Op__OpCase c, void *body)
{
    Jcs__Plan__Op *o = &b->op[b->f.n_ops];
    jcs__plan__op__init(o);
    o->op_case = c;
    o->shard_read = body;
    b->opp[b->f.n_ops++] = o;
}

static void frag_init(struct frag *b)
{
    memset(b, 0, sizeof(*b));
    jcs__plan__fragment__init(&b->f);
    b->f.plan_id = PLANID;
    b->f.ops = b->opp;
    for (int i = 0; i < N; i++) {
        jcs__plan__space__init(&b->sp[i]);
        b->sp[i].space_id = i;
        b->sp[i].type = "local";
    }
}

/* Encode: var 1 in; data 10..13, cloned to 20..23 (stores) and 30..33 (EC); parity 24, 25. */
static void encode_frag(struct frag *b)
{
    frag_init(b);
    jcs__plan__chunked_split__init(&b->split);
    b->split.input = 1;
    b->split.chunk_size = CHUNK;
    b->split.pad_last_strip = 1;
    b->split.n_outputs = K;
    b->split.outputs = vars(b, K, 10, 1);
    add(b, JCS__PLAN__OP__OP_CHUNKED_SPLIT, &b->split);
    for (int i = 0; i < K; i++) {
        jcs__plan__clone__init(&b->cl[i]);
        b->cl[i].input = 10 + i;
        b->cl[i].n_outputs = 2;
        b->cl[i].outputs = vars(b, 2, 20 + i, 10);
        add(b, JCS__PLAN__OP__OP_CLONE, &b->cl[i]);
    }
    jcs__plan__ecmultiply__init(&b->ec);
    b->ec.k = K;
    b->ec.n = N;
    b->ec.chunk_size = CHUNK;
    b->ec.n_input_rows = b->ec.n_inputs = K;
    b->ec.input_rows = vars(b, K, 0, 1);
    b->ec.inputs = vars(b, K, 30, 1);
    b->ec.n_output_rows = b->ec.n_outputs = N - K;
    b->ec.output_rows = vars(b, N - K, K, 1);
    b->ec.outputs = vars(b, N - K, 20 + K, 1);
    add(b, JCS__PLAN__OP__OP_EC_MULTIPLY, &b->ec);
    for (int i = 0; i < N; i++) {
        jcs__plan__shard_write__init(&b->wr[i]);
        b->wr[i].space = &b->sp[i];
        b->wr[i].input = 20 + i;
        b->wr[i].result = 200 + i;
        add(b, JCS__PLAN__OP__OP_SHARD_WRITE, &b->wr[i]);
    }
}

/* Decode from blocks surv[0..3] (in rows; 0..3 means no loss) to var 61. */
static void decode_frag(struct frag *b, const int *surv, char hashes[N][JCS_HASH_SIZE])
{
    frag_init(b);
    int loss = 0;
    for (int j = 0; j < K; j++) {
        jcs__plan__shard_read__init(&b->rd[j]);
        b->rd[j].space = &b->sp[surv[j]];
        b->rd[j].file_hash = hashes[surv[j]];
        b->rd[j].length = -1;
        b->rd[j].output = 40 + j;
        add(b, JCS__PLAN__OP__OP_SHARD_READ, &b->rd[j]);
        loss |= surv[j] != j;
    }
    int32_t first = 40;
    if (loss) {
        jcs__plan__ecmultiply__init(&b->ec);
        b->ec.k = K;
        b->ec.n = N;
        b->ec.chunk_size = CHUNK;
        b->ec.n_input_rows = b->ec.n_inputs = K;
        b->ec.input_rows = vars(b, K, 0, 0);
        for (int j = 0; j < K; j++)
            b->ec.input_rows[j] = surv[j];
        b->ec.inputs = vars(b, K, 40, 1);
        b->ec.n_output_rows = b->ec.n_outputs = K;
        b->ec.output_rows = vars(b, K, 0, 1);
        b->ec.outputs = vars(b, K, 50, 1);
        add(b, JCS__PLAN__OP__OP_EC_MULTIPLY, &b->ec);
        first = 50;
    }
    jcs__plan__chunked_join__init(&b->join);
    b->join.chunk_size = CHUNK;
    b->join.n_inputs = K;
    b->join.inputs = vars(b, K, first, 1);
    b->join.output = 60;
    add(b, JCS__PLAN__OP__OP_CHUNKED_JOIN, &b->join);
    jcs__plan__range__init(&b->range);
    b->range.input = 60;
    b->range.length = (int64_t)size;
    b->range.output = 61;
    add(b, JCS__PLAN__OP__OP_RANGE, &b->range);
}

struct runner {
    jcs_exec *e;
    const Jcs__Plan__Fragment *f;
    int rc;
};

static void *run_main(void *arg)
{
    struct runner *r = arg;
    r->rc = jcs_exec_run(r->e, r->f);
    if (r->rc)
        fprintf(stderr, "bench_exec: %s\n", jcs_err_msg(r->rc));
    return NULL;
}

static jcs_exec *new_exec(void)
{
    jcs_exec_env env = {.open_space = open_space};
    jcs_exec *e;
    if (jcs_exec_new(&env, PLANID, &e) != 0) {
        fprintf(stderr, "bench_exec: %s\n", jcs_err_msg(JCS_ENOMEM));
        exit(1);
    }
    return e;
}

/* Runs the encode plan; fills the block hashes. Returns seconds, or -1. */
static double encode(char hashes[N][JCS_HASH_SIZE])
{
    static struct frag b;
    encode_frag(&b);
    struct runner r = {.e = new_exec(), .f = &b.f};
    jcs_pipe *in;
    if (jcs_exec_input(r.e, 1, &in) != 0)
        return -1;
    double t0 = now();
    pthread_t th;
    pthread_create(&th, NULL, run_main, &r);
    int rc = 0;
    for (uint64_t pos = 0; pos < size && rc == 0;) {
        uint8_t *buf;
        size_t cap;
        if ((rc = jcs_pipe_get_buffer(in, &buf, &cap)) != 0)
            break;
        size_t n = cap;
        if (n > size - pos)
            n = (size_t)(size - pos);
        size_t off = (size_t)(pos % SRC);
        if (n > SRC - off)
            n = SRC - off;
        memcpy(buf, src + off, n);
        rc = jcs_pipe_commit_buffer(in, n);
        pos += n;
    }
    jcs_pipe_close(in, rc);
    pthread_join(th, NULL);
    double t = now() - t0;
    for (int i = 0; i < N && r.rc == 0; i++) {
        Jcs__Plan__Value *v;
        if (jcs_exec_get_value(r.e, 200 + i, 0, &v) != 0)
            return -1;
        snprintf(hashes[i], JCS_HASH_SIZE, "%s", v->shard->file_hash);
        protobuf_c_message_free_unpacked(&v->base, NULL);
    }
    jcs_exec_free(r.e);
    return r.rc || rc ? -1 : t;
}

/* Runs a decode plan, checking every byte. Returns seconds, -1 on error, -2 on wrong bytes. */
static double decode(const int *surv, char hashes[N][JCS_HASH_SIZE])
{
    static struct frag b;
    decode_frag(&b, surv, hashes);
    struct runner r = {.e = new_exec(), .f = &b.f};
    jcs_pipe *out;
    if (jcs_exec_output(r.e, 61, &out) != 0)
        return -1;
    double t0 = now();
    pthread_t th;
    pthread_create(&th, NULL, run_main, &r);
    uint64_t pos = 0;
    int bad = 0, rc;
    jcs_chunk c;
    while ((rc = jcs_pipe_read(out, &c)) == 0) {
        size_t done = 0;
        while (done < c.len && !bad) {
            size_t off = (size_t)((pos + done) % SRC), n = c.len - done;
            if (n > SRC - off)
                n = SRC - off;
            bad = memcmp(c.data + done, src + off, n) != 0;
            done += n;
        }
        pos += c.len;
        jcs_pipe_release(out, &c);
    }
    pthread_join(th, NULL);
    double t = now() - t0;
    jcs_exec_free(r.e);
    if (rc != 1 || r.rc)
        return -1;
    return bad || pos != size ? -2 : t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prints MiB/s of the median trial, and of the fastest and slowest. */
static void report(const char *what, double mib, double *t)
{
    qsort(t, TRIALS, sizeof(*t), cmp_double);
    printf("  %-47s %7.1f MiB/s  (%.1f, %.1f)\n", what, mib / t[TRIALS / 2], mib / t[TRIALS - 1],
           mib / t[0]);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    size = (uint64_t)(argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) << 20;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(root, sizeof(root), "%s/bench_exec.XXXXXX", tmp);
    if (!mkdtemp(root)) {
        perror("bench_exec: mkdtemp");
        return 1;
    }
    int status = 1;
    src = jcs_malloc(SRC);
    if (!src)
        goto out;
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < SRC; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        src[i] = (uint8_t)(x >> 24);
    }
    for (int i = 0; i < N; i++) {
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/space%d", root, i);
        struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL, .local_root = dir};
        int rc = jcs_storage_open(&cfg, &st[i]);
        if (rc == 0)
            rc = jcs_shardstore_open(st[i], &ss[i]);
        if (rc) {
            fprintf(stderr, "bench_exec: %s\n", jcs_err_msg(rc));
            goto out;
        }
    }
    char hashes[N][JCS_HASH_SIZE];
    double mib = (double)size / (1 << 20);
    printf("ioswitch EC(4,6) chunk=1MiB, %.0f MiB object, stores in %s, median of %d (min, max)\n",
           mib, tmp, TRIALS);
    const int lost[K] = {2, 3, 4, 5}, none[K] = {0, 1, 2, 3};
    double te[TRIALS], td[TRIALS], tr[TRIALS];
    for (int t = 0; t < TRIALS; t++) {
        /* A fresh start: the shards of the last trial are deleted first. */
        for (int i = 0; i < N && t > 0; i++) {
            const char *h = hashes[i];
            if (jcs_shardstore_delete(ss[i], &h, 1, NULL) != 0)
                goto out;
        }
        te[t] = encode(hashes);
        if (te[t] < 0)
            goto out;
        td[t] = decode(lost, hashes);
        tr[t] = td[t] >= 0 ? decode(none, hashes) : td[t];
        if (td[t] == -2 || tr[t] == -2) {
            printf("  bytes read back differ from the object: figures withheld\n");
            goto out;
        }
        if (td[t] < 0 || tr[t] < 0)
            goto out;
    }
    report("encode  Split+Clone+ECMultiply -> 6 ShardWrite", mib, te);
    report("decode  4 ShardRead (0,1 lost)+ECMultiply+Join", mib, td);
    report("read    4 ShardRead (no loss)+ChunkedJoin", mib, tr);
    status = 0;
out:
    for (int i = 0; i < N; i++) {
        jcs_shardstore_close(ss[i]);
        jcs_storage_close(st[i]);
    }
    jcs_free(src);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return status;
}
