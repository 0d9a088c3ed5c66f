/*
 * test_ec.c - Reed-Solomon codec: bytes identical to klauspost/reedsolomon,
 * every loss pattern recoverable, errors named.
 *
 * Coverage of the round trip (exhaustive_roundtrip): every (k, n) with
 * 1 <= k < n <= 20 (190 codes) and every set of 1..n-k lost blocks
 * (19,922,925 patterns in all; 10,485,759 for n = 20). Each pattern is
 * decoded the way a reader would: the first k surviving blocks, in index
 * order, go into a jcs_ec_mul built (jcs_ec_mul_init, in one reused
 * buffer) for exactly the lost rows, which is run
 * on a strip of 81 bytes (ISA-L's vector loop plus a tail) and, for
 * n <= 12, also on one of 7 bytes (its scalar path, which the golden
 * vectors of 1 and 63 bytes cover for the larger codes); every rebuilt
 * block must equal the original. The codes are split over two threads,
 * each with its own codecs.
 */
#include <isa-l/erasure_code.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ec.h"
#include "err.h"
#include "t.h"
#include "util.h"

#define VECTORS "tests/ec/golden/vectors.txt"

/* The data generator of tests/ec/gen.go: xorshift32, top byte per step. */
static void fill_gen(unsigned char **shards, int k, int n, size_t len)
{
    uint32_t x = ((uint32_t)k << 20) ^ ((uint32_t)n << 10) ^ (uint32_t)len ^ 0x9E3779B9u;
    if (x == 0)
        x = 1;
    for (int i = 0; i < k; i++)
        for (size_t j = 0; j < len; j++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            shards[i][j] = (unsigned char)(x >> 24);
        }
}

/* GF(2^8) product mod 0x11D, bit by bit: the definition, not a table. */
static unsigned char slow_mul(unsigned a, unsigned b)
{
    unsigned r = 0;
    while (b) {
        if (b & 1)
            r ^= a;
        a <<= 1;
        if (a & 0x100)
            a ^= 0x11D;
        b >>= 1;
    }
    return (unsigned char)r;
}

TEST(gf_mul_matches_isal_and_definition)
{
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            unsigned char want = slow_mul(a, b);
            T_ASSERT(jcs_ec_gf_mul((unsigned char)a, (unsigned char)b) == want, "a=%u b=%u", a, b);
            T_ASSERT(gf_mul((unsigned char)a, (unsigned char)b) == want, "ISA-L a=%u b=%u", a, b);
        }
}

static int hexnib(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/*
 * Checks every line "k n len row HEX" of the golden file: C parity row
 * equals the Go parity row.
 */
TEST(golden_vectors_match_go)
{
    char *text = NULL;
    size_t tlen = 0;
    T_OK(jcs_read_file(VECTORS, 4 << 20, &text, &tlen));
    struct jcs_ec *ec = NULL;
    unsigned char *shards[JCS_EC_MAX_N] = {0};
    int ck = 0, cn = 0, checked = 0, configs = 0;
    size_t clen = (size_t)-1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !t_failed();
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        int k, n, row, off = 0;
        size_t len;
        int got = sscanf(line, "%d %d %zu %d %n", &k, &n, &len, &row, &off);
        T_ASSERT(got == 4 && off > 0, "bad line: %.60s", line);
        const char *hex = line + off;
        T_ASSERT(strlen(hex) == 2 * len, "k=%d n=%d len=%zu row=%d: %zu hex digits", k, n, len, row,
                 strlen(hex));
        if (k != ck || n != cn || len != clen) {
            /* A new case: encode its data once, then compare its rows. */
            for (int i = 0; i < cn; i++)
                jcs_free(shards[i]);
            memset(shards, 0, sizeof(shards));
            jcs_ec_free(ec);
            ec = NULL;
            cn = 0;
            T_OK(jcs_ec_new(k, n, &ec));
            ck = k;
            cn = n;
            clen = len;
            for (int i = 0; i < n; i++) {
                shards[i] = jcs_aligned_alloc(64, len);
                T_ASSERT(shards[i] != NULL);
            }
            fill_gen(shards, k, n, len);
            jcs_ec_encode(ec, len, shards, shards + k);
            configs++;
        }
        T_ASSERT(row >= k && row < n, "row %d", row);
        for (size_t j = 0; j < len; j++) {
            int v = hexnib(hex[2 * j]) << 4 | hexnib(hex[2 * j + 1]);
            T_ASSERT(shards[row][j] == v,
                     "k=%d n=%d len=%zu parity row %d byte %zu: C %02X, Go %02X", k, n, len, row, j,
                     shards[row][j], v);
        }
        checked++;
    }
    for (int i = 0; i < cn; i++)
        jcs_free(shards[i]);
    jcs_ec_free(ec);
    jcs_free(text);
    /* 10 codes x 3 lengths (26 parity rows each) + (200, 256) x 2 lengths (56 each). */
    T_EQ_INT(configs, 32);
    T_EQ_INT(checked, 190);
}

TEST(matrix_is_systematic_vandermonde)
{
    struct jcs_ec *ec;
    T_OK(jcs_ec_new(4, 6, &ec));
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            T_EQ_INT(jcs_ec_coef(ec, r, c), r == c);
    /*
     * The parity rows satisfy G = V * T^-1, i.e. G * T = V, where V[r][c] =
     * r^c and T is V's top 4 x 4 square; checked with the bit-serial product.
     */
    for (int r = 4; r < 6; r++) {
        unsigned char vr[4] = {1, (unsigned char)r, slow_mul(r, r), slow_mul(slow_mul(r, r), r)};
        for (int c = 0; c < 4; c++) {
            unsigned char acc = 0;
            for (int t = 0; t < 4; t++) {
                /* T[t][c] = t^c */
                unsigned char tc = 1;
                for (int e = 0; e < c; e++)
                    tc = slow_mul(tc, (unsigned)t);
                acc ^= slow_mul(jcs_ec_coef(ec, r, t), tc);
            }
            T_EQ_INT(acc, vr[c]);
        }
    }
    jcs_ec_free(ec);
}

static long long binom(int n, int r)
{
    long long v = 1;
    for (int i = 1; i <= r; i++)
        v = v * (n - r + i) / i;
    return v;
}

#define RT_LEN1 81
#define RT_LEN2 7
#define RT_MAXN 20

struct rt_job {
    int part, parts;
    long long patterns;
    char why[256];
};

/*
 * Decodes every loss pattern of one code. Patterns are enumerated by the
 * set S of the first k survivors: blocks below max(S) outside S are lost,
 * blocks above max(S) may be lost or not, which visits every pattern of
 * up to n-k losses exactly once and lets consecutive patterns share the
 * codec's cached inverse of S.
 */
static int rt_code(int k, int n, long long *patterns, char *why, size_t whylen)
{
    struct jcs_ec *ec = NULL;
    int rc = jcs_ec_new(k, n, &ec);
    if (rc != 0) {
        snprintf(why, whylen, "k=%d n=%d: %s", k, n, jcs_err_msg(rc));
        return -1;
    }
    static const size_t lens[2] = {RT_LEN1, RT_LEN2};
    unsigned char *mem = jcs_aligned_alloc(64, (size_t)2 * (RT_MAXN + RT_MAXN) * 128);
    /* One mul buffer reused for every pattern: no allocation per pattern. */
    size_t mulsize = jcs_ec_mul_size(k, n - k);
    void *mulmem = jcs_aligned_alloc(64, mulsize);
    if (!mem || !mulmem) {
        snprintf(why, whylen, "k=%d n=%d: out of memory", k, n);
        jcs_free(mem);
        jcs_free(mulmem);
        jcs_ec_free(ec);
        return -1;
    }
    unsigned char *sh[2][RT_MAXN], *scratch[2][RT_MAXN];
    for (int v = 0; v < 2; v++)
        for (int i = 0; i < RT_MAXN; i++) {
            sh[v][i] = mem + ((size_t)(v * 2 * RT_MAXN + i)) * 128;
            scratch[v][i] = mem + ((size_t)(v * 2 * RT_MAXN + RT_MAXN + i)) * 128;
        }
    /* The scalar-path strip only for n <= 12: ISA-L's byte loop is slow. */
    int nv = n <= 12 ? 2 : 1;
    for (int v = 0; v < nv; v++) {
        fill_gen(sh[v], k, n, lens[v]);
        jcs_ec_encode(ec, lens[v], sh[v], sh[v] + k);
    }
    int c[RT_MAXN], lost[RT_MAXN], fail = 0;
    unsigned char *in[2][RT_MAXN];
    long long count = 0;
    for (int i = 0; i < k; i++)
        c[i] = i;
    for (;;) {
        int top = c[k - 1], nf = 0;
        for (int r = 0, i = 0; r < top; r++) {
            if (i < k && c[i] == r)
                i++;
            else
                lost[nf++] = r;
        }
        for (int v = 0; v < nv; v++)
            for (int i = 0; i < k; i++)
                in[v][i] = sh[v][c[i]];
        int g = n - 1 - top;
        for (unsigned t = 0; t < (1u << g) && !fail; t++) {
            int nl = nf;
            for (int b = 0; b < g; b++)
                if (t & (1u << b))
                    lost[nl++] = top + 1 + b;
            if (nl == 0)
                continue;
            struct jcs_ec_mul *m;
            rc = jcs_ec_mul_init(ec, c, k, lost, nl, mulmem, mulsize, &m);
            if (rc != 0) {
                snprintf(why, whylen, "k=%d n=%d: %s", k, n, jcs_err_msg(rc));
                fail = 1;
                break;
            }
            for (int v = 0; v < nv && !fail; v++) {
                for (int j = 0; j < nl; j++)
                    memset(scratch[v][j], 0xA5, lens[v]);
                jcs_ec_mul_run(m, lens[v], in[v], scratch[v]);
                for (int j = 0; j < nl; j++)
                    if (memcmp(scratch[v][j], sh[v][lost[j]], lens[v]) != 0) {
                        snprintf(why, whylen,
                                 "k=%d n=%d len=%zu: block %d rebuilt wrong from survivors "
                                 "starting at %d (%d lost)",
                                 k, n, lens[v], lost[j], c[0], nl);
                        fail = 1;
                        break;
                    }
            }
            count++;
        }
        if (fail)
            break;
        /* Next k-subset in lexicographic order. */
        int i = k - 1;
        while (i >= 0 && c[i] == n - k + i)
            i--;
        if (i < 0)
            break;
        c[i]++;
        for (int j = i + 1; j < k; j++)
            c[j] = c[j - 1] + 1;
    }
    jcs_free(mem);
    jcs_free(mulmem);
    jcs_ec_free(ec);
    *patterns += count;
    if (fail)
        return -1;
    long long want = 0;
    for (int j = 1; j <= n - k; j++)
        want += binom(n, j);
    if (count != want) {
        snprintf(why, whylen, "k=%d n=%d: %lld patterns visited, %lld exist", k, n, count, want);
        return -1;
    }
    return 0;
}

static void *rt_worker(void *arg)
{
    struct rt_job *j = arg;
    int idx = 0;
    for (int n = RT_MAXN; n >= 2; n--)
        for (int k = 1; k < n; k++, idx++)
            if (idx % j->parts == j->part && rt_code(k, n, &j->patterns, j->why, sizeof(j->why)))
                return NULL;
    return NULL;
}

TEST(exhaustive_roundtrip)
{
    struct rt_job jobs[2] = {{.part = 0, .parts = 2}, {.part = 1, .parts = 2}};
    pthread_t th;
    T_ASSERT(pthread_create(&th, NULL, rt_worker, &jobs[1]) == 0);
    rt_worker(&jobs[0]);
    pthread_join(th, NULL);
    T_ASSERT(jobs[0].why[0] == '\0', "%s", jobs[0].why);
    T_ASSERT(jobs[1].why[0] == '\0', "%s", jobs[1].why);
    T_EQ_INT(jobs[0].patterns + jobs[1].patterns, 19922735);
}

/* Survivors in any order, outputs of any kind (data, parity, an input). */
TEST(mul_any_rows_any_order)
{
    enum { K = 6, N = 10, LEN = 1000 };
    struct jcs_ec *ec;
    T_OK(jcs_ec_new(K, N, &ec));
    unsigned char *b[N], *o[N];
    for (int i = 0; i < N; i++) {
        b[i] = jcs_aligned_alloc(64, LEN);
        o[i] = jcs_aligned_alloc(64, LEN);
        T_ASSERT(b[i] && o[i]);
    }
    fill_gen(b, K, N, LEN);
    jcs_ec_encode(ec, LEN, b, b + K);
    /* Survivors: all four parity blocks and two data blocks, shuffled. */
    int in_rows[K] = {9, 2, 7, 6, 4, 8};
    int out_rows[5] = {5, 0, 3, 2, 1}; /* 2 is also an input: a copy */
    unsigned char *in[K];
    for (int i = 0; i < K; i++)
        in[i] = b[in_rows[i]];
    struct jcs_ec_mul *m;
    T_OK(jcs_ec_mul_new(ec, in_rows, K, out_rows, 5, &m));
    T_EQ_INT(jcs_ec_mul_rows(m), 5);
    jcs_ec_mul_run(m, LEN, in, o);
    for (int j = 0; j < 5; j++)
        T_ASSERT(memcmp(o[j], b[out_rows[j]], LEN) == 0, "row %d", out_rows[j]);
    jcs_ec_mul_free(m);
    /* Re-encode: parity block 7 rebuilt from the data blocks alone. */
    int data_rows[K] = {0, 1, 2, 3, 4, 5}, p7 = 7;
    T_OK(jcs_ec_mul_new(ec, data_rows, K, &p7, 1, &m));
    jcs_ec_mul_run(m, LEN, b, o);
    T_ASSERT(memcmp(o[0], b[7], LEN) == 0);
    jcs_ec_mul_free(m);
    /* Odd offsets: unaligned buffers are slower, not wrong. */
    for (int i = 0; i < K; i++)
        in[i] = b[in_rows[i]] + 3;
    T_OK(jcs_ec_mul_new(ec, in_rows, K, out_rows, 5, &m));
    unsigned char *ou[5];
    for (int j = 0; j < 5; j++)
        ou[j] = o[j] + 1;
    jcs_ec_mul_run(m, LEN - 3, in, ou);
    for (int j = 0; j < 5; j++)
        T_ASSERT(memcmp(ou[j], b[out_rows[j]] + 3, LEN - 3) == 0, "unaligned row %d", out_rows[j]);
    jcs_ec_mul_free(m);
    for (int i = 0; i < N; i++) {
        jcs_free(b[i]);
        jcs_free(o[i]);
    }
    jcs_ec_free(ec);
}

TEST(bad_arguments_named)
{
    struct jcs_ec *ec = (struct jcs_ec *)1;
    int rc = jcs_ec_new(0, 3, &ec);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "k=0 n=3"), "%s", jcs_err_msg(rc));
    T_ASSERT(ec == NULL);
    T_EQ_INT(jcs_ec_new(3, 3, &ec), JCS_EINVAL);
    rc = jcs_ec_new(2, 257, &ec);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "n=257"), "%s", jcs_err_msg(rc));
    T_OK(jcs_ec_new(2, 256, &ec));
    jcs_ec_free(ec);

    T_OK(jcs_ec_new(3, 5, &ec));
    struct jcs_ec_mul *m = (struct jcs_ec_mul *)1;
    int dup[3] = {0, 4, 4}, out1 = 1, far[3] = {0, 1, 5}, ok[3] = {0, 2, 4}, bad_out = -1;
    rc = jcs_ec_mul_new(ec, dup, 3, &out1, 1, &m);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "repeats block 4"), "%s", jcs_err_msg(rc));
    T_ASSERT(m == NULL);
    rc = jcs_ec_mul_new(ec, far, 3, &out1, 1, &m);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "is 5, outside 0..4"), "%s", jcs_err_msg(rc));
    rc = jcs_ec_mul_new(ec, ok, 2, &out1, 1, &m);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "2 input rows given"), "%s", jcs_err_msg(rc));
    rc = jcs_ec_mul_new(ec, ok, 3, &bad_out, 1, &m);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "output row 0 is -1"), "%s", jcs_err_msg(rc));
    T_EQ_INT(jcs_ec_mul_new(ec, ok, 3, &out1, 0, &m), JCS_EINVAL);

    /* Caller memory: too short, or not 64-byte aligned. */
    size_t need = jcs_ec_mul_size(3, 1);
    unsigned char *mem = jcs_aligned_alloc(64, need + 64);
    T_ASSERT(mem != NULL);
    rc = jcs_ec_mul_init(ec, ok, 3, &out1, 1, mem, need - 1, &m);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "bytes given"), "%s", jcs_err_msg(rc));
    rc = jcs_ec_mul_init(ec, ok, 3, &out1, 1, mem + 1, need, &m);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "aligned"), "%s", jcs_err_msg(rc));
    T_OK(jcs_ec_mul_init(ec, ok, 3, &out1, 1, mem, need, &m));
    T_EQ_INT(jcs_ec_mul_rows(m), 1);
    jcs_ec_mul_free(m); /* a no-op on caller memory; LeakSanitizer sees mem freed once */
    jcs_free(mem);
    jcs_ec_free(ec);
}

TEST(out_of_memory_is_enomem_without_leaks)
{
    int in_rows[4] = {5, 1, 3, 4}, out_rows[2] = {0, 2};
    int hit_new = 0, hit_mul = 0, built = 0;
    for (long i = 0; i < 20; i++) {
        struct jcs_ec *ec = NULL;
        jcs_alloc_fail_after(i);
        int rc = jcs_ec_new(4, 6, &ec);
        jcs_alloc_fail_after(-1);
        if (rc != 0) {
            T_EQ_INT(rc, JCS_ENOMEM);
            T_ASSERT(strstr(jcs_err_msg(rc), "k=4 n=6"), "%s", jcs_err_msg(rc));
            T_ASSERT(ec == NULL);
            hit_new++;
            continue;
        }
        jcs_ec_free(ec);
    }
    /* A fresh codec per attempt, so every attempt misses the decoder cache. */
    for (long i = 0; i < 20; i++) {
        struct jcs_ec *ec = NULL;
        T_OK(jcs_ec_new(4, 6, &ec));
        struct jcs_ec_mul *m = NULL;
        jcs_alloc_fail_after(i);
        int rc = jcs_ec_mul_new(ec, in_rows, 4, out_rows, 2, &m);
        jcs_alloc_fail_after(-1);
        if (rc != 0) {
            T_EQ_INT(rc, JCS_ENOMEM);
            T_ASSERT(strstr(jcs_err_msg(rc), "out of memory"), "%s", jcs_err_msg(rc));
            T_ASSERT(m == NULL);
            hit_mul++;
        } else {
            T_EQ_INT(jcs_ec_mul_rows(m), 2);
            built++;
        }
        jcs_ec_mul_free(m);
        jcs_ec_free(ec);
    }
    T_ASSERT(hit_new > 0 && hit_mul > 0 && built > 0, "new %d mul %d built %d", hit_new, hit_mul,
             built);
}

/*
 * Many threads share one codec and build muls for more survivor sets than
 * its inverse cache holds, so lookups, evictions and runs interleave.
 */
struct conc_arg {
    struct jcs_ec *ec;
    unsigned char **b;
    int seed, bad;
};

static void *conc_worker(void *p)
{
    struct conc_arg *a = p;
    enum { K = 5, N = 12, LEN = 200 };
    unsigned char out[7][LEN];
    for (int it = 0; it < 300 && !a->bad; it++) {
        /* Survivors: K rows picked by a per-thread rotation. */
        int in_rows[K], lost[N - K], nl = 0, used[N] = {0};
        unsigned x = (unsigned)(a->seed * 7919 + it * 104729);
        for (int i = 0; i < K;) {
            x = x * 1103515245u + 12345u;
            int r = (int)((x >> 16) % N);
            if (!used[r]) {
                used[r] = 1;
                in_rows[i++] = r;
            }
        }
        for (int r = 0; r < N; r++)
            if (!used[r])
                lost[nl++] = r;
        struct jcs_ec_mul *m;
        if (jcs_ec_mul_new(a->ec, in_rows, K, lost, nl, &m) != 0) {
            a->bad = 1;
            break;
        }
        unsigned char *in[K], *o[N - K];
        for (int i = 0; i < K; i++)
            in[i] = a->b[in_rows[i]];
        for (int j = 0; j < nl; j++)
            o[j] = out[j];
        jcs_ec_mul_run(m, LEN, in, o);
        for (int j = 0; j < nl; j++)
            if (memcmp(out[j], a->b[lost[j]], LEN) != 0)
                a->bad = 1;
        jcs_ec_mul_free(m);
    }
    return NULL;
}

TEST(concurrent_muls_share_codec)
{
    enum { K = 5, N = 12, LEN = 200, T = 4 };
    struct jcs_ec *ec;
    T_OK(jcs_ec_new(K, N, &ec));
    unsigned char *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = jcs_aligned_alloc(64, LEN);
        T_ASSERT(b[i] != NULL);
    }
    fill_gen(b, K, N, LEN);
    jcs_ec_encode(ec, LEN, b, b + K);
    pthread_t th[T];
    struct conc_arg args[T];
    for (int t = 0; t < T; t++) {
        args[t] = (struct conc_arg){.ec = ec, .b = b, .seed = t + 1};
        T_ASSERT(pthread_create(&th[t], NULL, conc_worker, &args[t]) == 0);
    }
    int bad = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        bad |= args[t].bad;
    }
    for (int i = 0; i < N; i++)
        jcs_free(b[i]);
    jcs_ec_free(ec);
    T_ASSERT(!bad, "a thread rebuilt a block wrong");
}
