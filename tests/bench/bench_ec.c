/*
 * bench_ec.c - Reed-Solomon encode and decode speed beside this machine's
 * ceilings: memcpy of the same buffers, and raw ISA-L (ec_encode_data on
 * tables built once, no JCS code in between).
 *
 * For (k, n) = (4, 6) and (10, 14) with 1 MiB chunks, one thread:
 *   hot:  one strip, reused (cache-resident as far as it fits);
 *   cold: rotating over ~512 MiB of strips, so every strip comes from DRAM.
 * Decode loses data blocks 0 and 1 (the worst case: both need all k inputs)
 * and rebuilds them from the first k survivors with one jcs_ec_mul built
 * before the clock starts, as a reader does per object.
 * GB/s counts data bytes (k chunks per strip), 1 GB = 1e9 bytes; memcpy
 * copies the same k chunks of a strip to the next strip's data chunks
 * (hot: strip 0 to a second strip allocated for that).
 * Each figure is the median of 5 trials of >= 0.25 s; the variants run
 * interleaved in each trial so drift hits them alike.
 */
#include <isa-l/erasure_code.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "ec.h"
#include "err.h"

#define CHUNK  ((size_t)1 << 20)
#define COLD   ((size_t)512 << 20)
#define TRIALS 5

enum { V_ENC, V_RAW_ENC, V_DEC, V_RAW_DEC, V_MEMCPY, NV };
static const char *vname[NV] = {"encode", "raw ISA-L encode", "decode (2 lost)", "raw ISA-L decode",
                                "memcpy"};

struct setup {
    int k, n, nstrips; /* strips the EC variants rotate over */
    int nalloc;        /* strips allocated: at least 2, for memcpy's target */
    unsigned char *mem;
    unsigned char **blk; /* nstrips * n block pointers */
    unsigned char **out; /* nstrips * 2 decode outputs */
    unsigned char **in;  /* nstrips * k decode inputs */
    struct jcs_ec *ec;
    struct jcs_ec_mul *dec;
    unsigned char *enc_tbls; /* raw ISA-L tables for the parity rows */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_one(struct setup *s, int v, int st)
{
    int k = s->k, m = s->n - s->k;
    unsigned char **b = s->blk + (size_t)st * s->n;
    switch (v) {
    case V_ENC:
        jcs_ec_encode(s->ec, CHUNK, b, b + k);
        break;
    case V_RAW_ENC:
        ec_encode_data((int)CHUNK, k, m, s->enc_tbls, b, b + k);
        break;
    case V_DEC:
        jcs_ec_mul_run(s->dec, CHUNK, s->in + (size_t)st * k, s->out + (size_t)st * 2);
        break;
    case V_RAW_DEC:
        ec_encode_data((int)CHUNK, k, 2, (unsigned char *)jcs_ec_mul_tables(s->dec),
                       s->in + (size_t)st * k, s->out + (size_t)st * 2);
        break;
    case V_MEMCPY: {
        /* To the next strip's data chunks (hot: strip 1, kept for this). */
        unsigned char **d = s->blk + (size_t)((st + 1) % s->nalloc) * s->n;
        for (int i = 0; i < k; i++)
            memcpy(d[i], b[i], CHUNK);
        break;
    }
    }
}

/* GB/s of data for variant v over strips [0, nstrips), at least 0.25 s. */
static double measure(struct setup *s, int v)
{
    long strips = 0;
    double t0 = now(), t;
    do {
        for (int st = 0; st < s->nstrips; st++)
            run_one(s, v, st);
        strips += s->nstrips;
        t = now() - t0;
    } while (t < 0.25);
    return (double)strips * (double)s->k * (double)CHUNK / t / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int setup(struct setup *s, int k, int n, int nstrips)
{
    memset(s, 0, sizeof(*s));
    s->k = k;
    s->n = n;
    s->nstrips = nstrips;
    s->nalloc = nstrips < 2 ? 2 : nstrips;
    nstrips = s->nalloc;
    int rc = jcs_ec_new(k, n, &s->ec);
    if (rc != 0)
        return rc;
    s->mem = jcs_aligned_alloc(64, (size_t)nstrips * (size_t)(n + 2) * CHUNK);
    s->blk = jcs_calloc((size_t)nstrips * (size_t)n, sizeof(*s->blk));
    s->out = jcs_calloc((size_t)nstrips * 2, sizeof(*s->out));
    s->in = jcs_calloc((size_t)nstrips * (size_t)k, sizeof(*s->in));
    s->enc_tbls = jcs_aligned_alloc(64, (size_t)32 * (size_t)k * (size_t)(n - k));
    unsigned char *coef = jcs_malloc((size_t)k * (size_t)(n - k));
    if (!s->mem || !s->blk || !s->out || !s->in || !s->enc_tbls || !coef) {
        jcs_free(coef);
        return jcs_err_set(JCS_ENOMEM, "bench: no memory for %d strips of k=%d n=%d", nstrips, k,
                           n);
    }
    for (int r = k; r < n; r++)
        for (int c = 0; c < k; c++)
            coef[(size_t)(r - k) * k + c] = jcs_ec_coef(s->ec, r, c);
    ec_init_tables(k, n - k, coef, s->enc_tbls);
    jcs_free(coef);
    /* Survivors: blocks 2..n-1, first k of them; lost: 0 and 1. */
    int in_rows[JCS_EC_MAX_N], lost[2] = {0, 1};
    for (int i = 0; i < k; i++)
        in_rows[i] = i + 2;
    rc = jcs_ec_mul_new(s->ec, in_rows, k, lost, 2, &s->dec);
    if (rc != 0)
        return rc;
    unsigned x = 0x12345678u;
    for (int st = 0; st < nstrips; st++) {
        unsigned char *base = s->mem + (size_t)st * (size_t)(n + 2) * CHUNK;
        for (int i = 0; i < n; i++)
            s->blk[(size_t)st * n + i] = base + (size_t)i * CHUNK;
        for (int j = 0; j < 2; j++)
            s->out[(size_t)st * 2 + j] = base + (size_t)(n + j) * CHUNK;
        for (int i = 0; i < k; i++)
            s->in[(size_t)st * k + i] = s->blk[(size_t)st * n + in_rows[i]];
        /* Touch everything before timing; data gets pseudo-random bytes. */
        for (size_t off = 0; off < (size_t)k * CHUNK; off += 4) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            memcpy(base + off, &x, 4);
        }
        memset(base + (size_t)k * CHUNK, 0, (size_t)(n + 2 - k) * CHUNK);
    }
    return 0;
}

static void teardown(struct setup *s)
{
    jcs_ec_mul_free(s->dec);
    jcs_ec_free(s->ec);
    jcs_free(s->mem);
    jcs_free(s->blk);
    jcs_free(s->out);
    jcs_free(s->in);
    jcs_free(s->enc_tbls);
}

/* One correctness pass: jcs parity == raw parity, decode gives back data. */
static int verify(struct setup *s)
{
    int k = s->k, m = s->n - s->k;
    unsigned char **b = s->blk;
    unsigned char *save = jcs_malloc((size_t)m * CHUNK);
    if (!save)
        return -1;
    run_one(s, V_RAW_ENC, 0);
    for (int j = 0; j < m; j++)
        memcpy(save + (size_t)j * CHUNK, b[k + j], CHUNK);
    run_one(s, V_ENC, 0);
    int bad = 0;
    for (int j = 0; j < m; j++)
        bad |= memcmp(save + (size_t)j * CHUNK, b[k + j], CHUNK) != 0;
    jcs_free(save);
    run_one(s, V_DEC, 0);
    bad |= memcmp(s->out[0], b[0], CHUNK) != 0 || memcmp(s->out[1], b[1], CHUNK) != 0;
    return bad ? -1 : 0;
}

static int bench(int k, int n, int cold)
{
    struct setup s;
    int nstrips = cold ? (int)(COLD / ((size_t)(n + 2) * CHUNK)) : 1;
    int rc = setup(&s, k, n, nstrips);
    if (rc != 0) {
        fprintf(stderr, "bench_ec: %s\n", jcs_err_msg(rc));
        teardown(&s);
        return 1;
    }
    if (verify(&s) != 0) {
        fprintf(stderr, "bench_ec: k=%d n=%d: wrong bytes, figures withheld\n", k, n);
        teardown(&s);
        return 1;
    }
    for (int st = 0; st < nstrips; st++)
        run_one(&s, V_ENC, st); /* parity in place for decode inputs */
    double r[NV][TRIALS];
    for (int t = 0; t < TRIALS; t++)
        for (int v = 0; v < NV; v++)
            r[v][t] = measure(&s, v);
    double med[NV];
    for (int v = 0; v < NV; v++) {
        qsort(r[v], TRIALS, sizeof(double), cmp_double);
        med[v] = r[v][TRIALS / 2];
    }
    char where[64];
    snprintf(where, sizeof(where), "%s (%d strip%s, %zu MiB)", cold ? "cold" : "hot", nstrips,
             nstrips == 1 ? "" : "s", (size_t)nstrips * (size_t)(n + 2));
    printf("ec k=%d n=%d chunk=1MiB %s\n", k, n, where);
    for (int v = 0; v < NV; v++)
        printf("  %-18s %6.2f GB/s  (min %.2f, max %.2f)\n", vname[v], med[v], r[v][0],
               r[v][TRIALS - 1]);
    printf("  encode / raw ISA-L %5.1f %%   decode / raw ISA-L %5.1f %%   encode / memcpy %5.2f\n",
           100.0 * med[V_ENC] / med[V_RAW_ENC], 100.0 * med[V_DEC] / med[V_RAW_DEC],
           med[V_ENC] / med[V_MEMCPY]);
    teardown(&s);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fails = 0;
    static const int codes[][2] = {{4, 6}, {10, 14}};
    for (int c = 0; c < 2; c++)
        for (int cold = 0; cold < 2; cold++)
            fails += bench(codes[c][0], codes[c][1], cold);
    return fails ? 1 : 0;
}
