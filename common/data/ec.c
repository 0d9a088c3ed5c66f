/*
 * ec.c - Reed-Solomon codec: klauspost/reedsolomon's matrix, ISA-L's kernels.
 *
 * Matrix work (building G, inverting survivor sets, the product of a wanted
 * row and an inverse) is done here with a GF(2^8) product table; the bulk
 * work on strips is ISA-L's ec_encode_data on tables from ec_init_tables.
 * The decoder cache is keyed by the ordered list of survivor rows and holds
 * the whole n x k decode matrix of that list (G times the inverse of G on
 * the survivors), so a jcs_ec_mul for any wanted rows is a copy of rows
 * plus ec_init_tables. It holds a few entries because a process decodes
 * with few survivor sets at once (usually one per failed-block pattern);
 * a miss costs one k x k inversion and an n x k x k product, microseconds
 * for the usual k.
 */
#include "ec.h"

#include <isa-l/erasure_code.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

/* Decode matrices (survivor sets) kept per codec. */
#define INV_CACHE 16

/* ec_encode_data takes an int length; longer strips go in pieces this big. */
#define PIECE ((size_t)1 << 30)

struct inv_ent {
    unsigned long long used; /* LRU stamp; 0 = empty slot */
    unsigned char *key;      /* k survivor rows, in the caller's order */
    unsigned char *dec;      /* n x k decode matrix for key; same allocation */
};

struct jcs_ec {
    int k, n;
    int lrc;                /* jcs_ec_new_lrc: G has local rows; muls take any inputs */
    unsigned char *g;       /* n x k generator, row-major */
    struct jcs_ec_mul *enc; /* data rows -> parity rows */
    pthread_mutex_t lock;   /* guards cache and clock */
    struct inv_ent cache[INV_CACHE];
    unsigned long long clock;
};

struct jcs_ec_mul {
    int k, rows;
    int owned;           /* allocated by jcs_ec_mul_new, so jcs_ec_mul_free frees it */
    unsigned char *tbls; /* 32 * k * rows bytes from ec_init_tables, after the struct */
};

/* The struct's share of its one allocation; keeps the tables 64-byte aligned. */
#define MUL_HEAD 64
_Static_assert(sizeof(struct jcs_ec_mul) <= MUL_HEAD, "jcs_ec_mul header too big");

/* GF(2^8) with polynomial x^8+x^4+x^3+x^2+1 (0x11D) and generator 2. */
static unsigned char gf_exp[510];
static unsigned char gf_log[256];
static unsigned char gf_tab[256][256]; /* full product table: matrix work is lookups */
static pthread_once_t gf_once = PTHREAD_ONCE_INIT;

static void gf_init(void)
{
    unsigned x = 1;
    for (int i = 0; i < 255; i++) {
        gf_exp[i] = (unsigned char)x;
        gf_exp[i + 255] = (unsigned char)x;
        gf_log[x] = (unsigned char)i;
        x <<= 1;
        if (x & 0x100)
            x ^= 0x11D;
    }
    for (int a = 1; a < 256; a++)
        for (int b = 1; b < 256; b++)
            gf_tab[a][b] = gf_exp[gf_log[a] + gf_log[b]];
}

static inline unsigned char gmul(unsigned char a, unsigned char b)
{
    return gf_tab[a][b];
}

static inline unsigned char ginv(unsigned char a)
{
    return gf_exp[255 - gf_log[a]]; /* a != 0 */
}

unsigned char jcs_ec_gf_mul(unsigned char a, unsigned char b)
{
    pthread_once(&gf_once, gf_init);
    return gmul(a, b);
}

/* r^c as klauspost's galExp: anything to the 0th power is 1, 0^c is 0. */
static unsigned char gexp(unsigned char r, int c)
{
    if (c == 0)
        return 1;
    if (r == 0)
        return 0;
    return gf_exp[(gf_log[r] * c) % 255];
}

/*
 * Inverts the k x k matrix a into out by Gauss-Jordan elimination; a is
 * destroyed. Returns -1 when a is singular.
 */
static int invert(unsigned char *a, unsigned char *out, int k)
{
    memset(out, 0, (size_t)k * (size_t)k);
    for (int i = 0; i < k; i++)
        out[(size_t)i * k + i] = 1;
    for (int c = 0; c < k; c++) {
        int p = c;
        while (p < k && a[(size_t)p * k + c] == 0)
            p++;
        if (p == k)
            return -1;
        if (p != c) {
            for (int j = 0; j < k; j++) {
                unsigned char t = a[(size_t)p * k + j];
                a[(size_t)p * k + j] = a[(size_t)c * k + j];
                a[(size_t)c * k + j] = t;
                t = out[(size_t)p * k + j];
                out[(size_t)p * k + j] = out[(size_t)c * k + j];
                out[(size_t)c * k + j] = t;
            }
        }
        const unsigned char *st = gf_tab[ginv(a[(size_t)c * k + c])];
        unsigned char *ac = a + (size_t)c * k, *oc = out + (size_t)c * k;
        for (int j = 0; j < k; j++) {
            ac[j] = st[ac[j]];
            oc[j] = st[oc[j]];
        }
        for (int r = 0; r < k; r++) {
            unsigned char f = a[(size_t)r * k + c];
            if (r == c || f == 0)
                continue;
            const unsigned char *ft = gf_tab[f];
            unsigned char *ar = a + (size_t)r * k, *orow = out + (size_t)r * k;
            /* Columns before c are already zero in row c. */
            for (int j = c; j < k; j++)
                ar[j] ^= ft[ac[j]];
            for (int j = 0; j < k; j++)
                orow[j] ^= ft[oc[j]];
        }
    }
    return 0;
}

/* dst[j] = sum_t row[t] * m[t][j]: a 1 x k row times a k x k matrix. */
static void row_times(const unsigned char *row, const unsigned char *m, int k, unsigned char *dst)
{
    memset(dst, 0, (size_t)k);
    for (int t = 0; t < k; t++) {
        unsigned char f = row[t];
        if (f == 0)
            continue;
        const unsigned char *mt = m + (size_t)t * k, *ft = gf_tab[f];
        for (int j = 0; j < k; j++)
            dst[j] ^= ft[mt[j]];
    }
}

size_t jcs_ec_mul_size(int k, int nout)
{
    /* Header, 32 bytes of tables per coefficient, then the coefficients. */
    return MUL_HEAD + (size_t)33 * (size_t)k * (size_t)nout;
}

/* Builds the mul for coef (rows x k, only read) into mem, 64-byte aligned. */
static struct jcs_ec_mul *mul_place(const unsigned char *coef, int k, int rows, void *mem)
{
    struct jcs_ec_mul *m = mem;
    m->k = k;
    m->rows = rows;
    m->owned = 0;
    m->tbls = (unsigned char *)m + MUL_HEAD;
    /* ec_init_tables does not write through a, but is declared without const. */
    ec_init_tables(k, rows, (unsigned char *)coef, m->tbls);
    return m;
}

/* A heap-allocated mul for coef (rows x k, only read). */
static int mul_alloc(const unsigned char *coef, int k, int rows, struct jcs_ec_mul **out)
{
    void *mem = jcs_aligned_alloc(64, jcs_ec_mul_size(k, rows));
    if (!mem)
        return jcs_err_set(JCS_ENOMEM, "ec: out of memory for a %d x %d coefficient table", rows,
                           k);
    *out = mul_place(coef, k, rows, mem);
    (*out)->owned = 1;
    return 0;
}

/*
 * Rows 0..m-1 of klauspost's buildMatrix for (k, m) into g (m x k, m >= k):
 * G = V * inverse(top k x k square of V), V[r][c] = r^c.
 */
static int build_rs(int k, int m, unsigned char *g)
{
    size_t kk = (size_t)k * (size_t)k;
    unsigned char *v = jcs_malloc((size_t)m * (size_t)k);
    unsigned char *top = jcs_malloc(kk), *topinv = jcs_malloc(kk);
    int rc = 0;
    if (!v || !top || !topinv) {
        rc = jcs_err_set(JCS_ENOMEM, "ec: out of memory for a k=%d n=%d codec", k, m);
        goto out;
    }
    for (int r = 0; r < m; r++)
        for (int c = 0; c < k; c++)
            v[(size_t)r * k + c] = gexp((unsigned char)r, c);
    memcpy(top, v, kk);
    if (invert(top, topinv, k) != 0) {
        rc = jcs_err_set(JCS_EINTERNAL, "ec: k=%d n=%d: Vandermonde top square is singular", k, m);
        goto out;
    }
    for (int r = 0; r < m; r++)
        row_times(v + (size_t)r * k, topinv, k, g + (size_t)r * k);
out:
    jcs_free(v);
    jcs_free(top);
    jcs_free(topinv);
    return rc;
}

/* The codec around a filled generator g (n x k, taken over). */
static int codec_finish(int k, int n, int lrc, unsigned char *g, struct jcs_ec **out)
{
    struct jcs_ec *ec = jcs_calloc(1, sizeof(*ec));
    if (!ec) {
        jcs_free(g);
        return jcs_err_set(JCS_ENOMEM, "ec: out of memory for a k=%d n=%d codec", k, n);
    }
    ec->k = k;
    ec->n = n;
    ec->lrc = lrc;
    ec->g = g;
    int rc = mul_alloc(g + (size_t)k * (size_t)k, k, n - k, &ec->enc);
    if (rc != 0) {
        jcs_free(g);
        jcs_free(ec);
        return jcs_err_wrap(rc, "ec: k=%d n=%d: ", k, n);
    }
    if (pthread_mutex_init(&ec->lock, NULL) != 0) {
        jcs_ec_mul_free(ec->enc);
        jcs_free(g);
        jcs_free(ec);
        return jcs_err_set(JCS_ENOMEM, "ec: k=%d n=%d: cannot create the cache lock", k, n);
    }
    *out = ec;
    return 0;
}

int jcs_ec_new(int k, int n, struct jcs_ec **out)
{
    *out = NULL;
    if (k < 1 || n <= k || n > JCS_EC_MAX_N)
        return jcs_err_set(JCS_EINVAL, "ec: k=%d n=%d: need 1 <= k < n <= %d", k, n, JCS_EC_MAX_N);
    pthread_once(&gf_once, gf_init);
    unsigned char *g = jcs_malloc((size_t)n * (size_t)k);
    if (!g)
        return jcs_err_set(JCS_ENOMEM, "ec: out of memory for a k=%d n=%d codec", k, n);
    int rc = build_rs(k, n, g);
    if (rc != 0) {
        jcs_free(g);
        return rc;
    }
    return codec_finish(k, n, 0, g, out);
}

int jcs_ec_new_lrc(int k, int n, const int *groups, int ngroups, struct jcs_ec **out)
{
    *out = NULL;
    if (ngroups < 1 || !groups)
        return jcs_err_set(JCS_EINVAL, "lrc: k=%d n=%d: need at least one group", k, n);
    int m = n - ngroups;
    if (k < 1 || n > JCS_EC_MAX_N || m < k)
        return jcs_err_set(JCS_EINVAL,
                           "lrc: k=%d n=%d with %d groups: need 1 <= k <= n - groups and n <= %d",
                           k, n, ngroups, JCS_EC_MAX_N);
    int sum = 0;
    for (int g = 0; g < ngroups; g++) {
        if (groups[g] < 1)
            return jcs_err_set(JCS_EINVAL, "lrc: group %d has %d blocks (need >= 1)", g, groups[g]);
        sum += groups[g];
        if (sum > m)
            return jcs_err_set(JCS_EINVAL,
                               "lrc: k=%d n=%d: groups cover more than the %d data and global "
                               "parity blocks",
                               k, n, m);
    }
    pthread_once(&gf_once, gf_init);
    unsigned char *g = jcs_calloc((size_t)n, (size_t)k);
    if (!g)
        return jcs_err_set(JCS_ENOMEM, "lrc: out of memory for a k=%d n=%d codec", k, n);
    int rc = build_rs(k, m, g);
    if (rc != 0) {
        jcs_free(g);
        return rc;
    }
    /* A local parity is the XOR (GF(2^8) sum) of its group's blocks, so its row is theirs summed.
     */
    for (int grp = 0, first = 0; grp < ngroups; first += groups[grp], grp++) {
        unsigned char *row = g + (size_t)(m + grp) * k;
        for (int b = first; b < first + groups[grp]; b++)
            for (int c = 0; c < k; c++)
                row[c] ^= g[(size_t)b * k + c];
    }
    return codec_finish(k, n, 1, g, out);
}

void jcs_ec_free(struct jcs_ec *ec)
{
    if (!ec)
        return;
    for (int i = 0; i < INV_CACHE; i++)
        jcs_free(ec->cache[i].key);
    pthread_mutex_destroy(&ec->lock);
    jcs_ec_mul_free(ec->enc);
    jcs_free(ec->g);
    jcs_free(ec);
}

int jcs_ec_k(const struct jcs_ec *ec)
{
    return ec->k;
}

int jcs_ec_n(const struct jcs_ec *ec)
{
    return ec->n;
}

unsigned char jcs_ec_coef(const struct jcs_ec *ec, int row, int col)
{
    return ec->g[(size_t)row * ec->k + col];
}

void jcs_ec_encode(const struct jcs_ec *ec, size_t len, unsigned char *const *data,
                   unsigned char *const *parity)
{
    jcs_ec_mul_run(ec->enc, len, data, parity);
}

/*
 * The decode matrix for the survivor list key: G times the inverse of G
 * restricted to key, n x k, whose row r computes block r from the blocks
 * of key. Found in the cache or computed into its least recently used
 * slot. Called with ec->lock held. NULL with the error set.
 */
static const unsigned char *decoder_locked(struct jcs_ec *ec, const unsigned char *key, int *rc)
{
    int k = ec->k, n = ec->n, victim = 0;
    size_t kk = (size_t)k * (size_t)k;
    for (int i = 0; i < INV_CACHE; i++) {
        struct inv_ent *e = &ec->cache[i];
        if (e->used && memcmp(e->key, key, (size_t)k) == 0) {
            e->used = ++ec->clock;
            return e->dec;
        }
        if (e->used < ec->cache[victim].used)
            victim = i;
    }
    unsigned char *mem = jcs_malloc((size_t)k + (size_t)n * (size_t)k);
    unsigned char *tmp = jcs_malloc(2 * kk);
    if (!mem || !tmp) {
        jcs_free(mem);
        jcs_free(tmp);
        *rc = jcs_err_set(JCS_ENOMEM, "ec: k=%d n=%d: out of memory inverting survivors", k, n);
        return NULL;
    }
    unsigned char *a = tmp, *inv = tmp + kk;
    for (int i = 0; i < k; i++)
        memcpy(a + (size_t)i * k, ec->g + (size_t)key[i] * k, (size_t)k);
    if (invert(a, inv, k) != 0) {
        jcs_free(mem);
        jcs_free(tmp);
        *rc = jcs_err_set(JCS_EINTERNAL, "ec: k=%d n=%d: survivor matrix is singular", k, n);
        return NULL;
    }
    memcpy(mem, key, (size_t)k);
    for (int r = 0; r < n; r++)
        row_times(ec->g + (size_t)r * k, inv, k, mem + k + (size_t)r * k);
    jcs_free(tmp);
    struct inv_ent *e = &ec->cache[victim];
    jcs_free(e->key);
    e->key = mem;
    e->dec = mem + k;
    e->used = ++ec->clock;
    return e->dec;
}

/*
 * Row-reduces the k x (nin + nout) matrix a (columns 0..nin-1 are G's rows
 * in_rows transposed, the rest the wanted rows transposed) over its first
 * nin columns. piv[i] is the pivot column of row i, or -1; returns the rank.
 */
static int reduce(unsigned char *a, int k, int nin, int w, int *piv)
{
    int rank = 0;
    for (int c = 0; c < nin && rank < k; c++) {
        int p = rank;
        while (p < k && a[(size_t)p * w + c] == 0)
            p++;
        if (p == k)
            continue;
        if (p != rank)
            for (int j = 0; j < w; j++) {
                unsigned char t = a[(size_t)p * w + j];
                a[(size_t)p * w + j] = a[(size_t)rank * w + j];
                a[(size_t)rank * w + j] = t;
            }
        unsigned char *pr = a + (size_t)rank * w;
        const unsigned char *st = gf_tab[ginv(pr[c])];
        for (int j = 0; j < w; j++)
            pr[j] = st[pr[j]];
        for (int r = 0; r < k; r++) {
            unsigned char f = a[(size_t)r * w + c];
            if (r == rank || f == 0)
                continue;
            const unsigned char *ft = gf_tab[f];
            unsigned char *rr = a + (size_t)r * w;
            for (int j = 0; j < w; j++)
                rr[j] ^= ft[pr[j]];
        }
        piv[rank++] = c;
    }
    for (int r = rank; r < k; r++)
        piv[r] = -1;
    return rank;
}

int jcs_ec_rank(const struct jcs_ec *ec, const int *rows, int nrows)
{
    int k = ec->k, n = 0, piv[JCS_EC_MAX_N];
    unsigned char *a = jcs_calloc((size_t)k, (size_t)(nrows > 0 ? nrows : 1));
    if (!a)
        return 0;
    for (int i = 0; i < nrows; i++) {
        if (rows[i] < 0 || rows[i] >= ec->n)
            continue;
        for (int c = 0; c < k; c++)
            a[(size_t)c * nrows + n] = ec->g[(size_t)rows[i] * k + c];
        n++;
    }
    int rank = reduce(a, k, n, nrows > 0 ? nrows : 1, piv);
    jcs_free(a);
    return rank;
}

/*
 * coef (nout x nin) with coef * G[in_rows] = G[out_rows], for a code whose
 * inputs need not be k independent rows (LRC): solves G[in]^T x = G[out]^T
 * column by column; free unknowns are 0 (any solution gives the same bytes).
 */
static int solve_coef(const struct jcs_ec *ec, const int *in_rows, int nin, const int *out_rows,
                      int nout, unsigned char *coef)
{
    int k = ec->k, w = nin + nout, piv[JCS_EC_MAX_N];
    unsigned char *a = jcs_malloc((size_t)k * (size_t)w);
    if (!a)
        return jcs_err_set(JCS_ENOMEM, "lrc: out of memory solving for %d rows", nout);
    for (int c = 0; c < k; c++) {
        for (int i = 0; i < nin; i++)
            a[(size_t)c * w + i] = ec->g[(size_t)in_rows[i] * k + c];
        for (int j = 0; j < nout; j++)
            a[(size_t)c * w + nin + j] = ec->g[(size_t)out_rows[j] * k + c];
    }
    int rank = reduce(a, k, nin, w, piv);
    for (int j = 0; j < nout; j++)
        for (int r = rank; r < k; r++)
            if (a[(size_t)r * w + nin + j] != 0) {
                jcs_free(a);
                return jcs_err_set(JCS_EINVAL,
                                   "lrc: block %d cannot be computed from the %d blocks given",
                                   out_rows[j], nin);
            }
    memset(coef, 0, (size_t)nout * (size_t)nin);
    for (int r = 0; r < rank; r++)
        for (int j = 0; j < nout; j++)
            coef[(size_t)j * nin + piv[r]] = a[(size_t)r * w + nin + j];
    jcs_free(a);
    return 0;
}

/*
 * The coefficients of "out_rows from in_rows" into coef (nout x k), after
 * checking the row indexes.
 */
static int mul_coef(struct jcs_ec *ec, const int *in_rows, int k, const int *out_rows, int nout,
                    unsigned char *coef)
{
    unsigned char key[JCS_EC_MAX_N];
    unsigned char seen[JCS_EC_MAX_N] = {0};
    int identity = 1;
    for (int i = 0; i < k; i++) {
        int r = in_rows[i];
        if (r < 0 || r >= ec->n)
            return jcs_err_set(JCS_EINVAL, "ec: input row %d is %d, outside 0..%d", i, r,
                               ec->n - 1);
        if (seen[r])
            return jcs_err_set(JCS_EINVAL, "ec: input row %d repeats block %d", i, r);
        seen[r] = 1;
        key[i] = (unsigned char)r;
        identity &= r == i;
    }
    for (int j = 0; j < nout; j++)
        if (out_rows[j] < 0 || out_rows[j] >= ec->n)
            return jcs_err_set(JCS_EINVAL, "ec: output row %d is %d, outside 0..%d", j, out_rows[j],
                               ec->n - 1);

    if (identity && k == ec->k) {
        /* The inputs are the data blocks: the wanted rows of G are the answer. */
        for (int j = 0; j < nout; j++)
            memcpy(coef + (size_t)j * k, ec->g + (size_t)out_rows[j] * k, (size_t)k);
    } else if (ec->lrc) {
        return solve_coef(ec, in_rows, k, out_rows, nout, coef);
    } else {
        int rc = 0;
        pthread_mutex_lock(&ec->lock);
        const unsigned char *dec = decoder_locked(ec, key, &rc);
        if (dec)
            for (int j = 0; j < nout; j++)
                memcpy(coef + (size_t)j * k, dec + (size_t)out_rows[j] * k, (size_t)k);
        pthread_mutex_unlock(&ec->lock);
        if (!dec)
            return rc;
    }
    return 0;
}

static int mul_fill(struct jcs_ec *ec, const int *in_rows, int k, const int *out_rows, int nout,
                    void *mem, struct jcs_ec_mul **out)
{
    /* The coefficients go to the scratch tail of mem, after the tables. */
    unsigned char *coef = (unsigned char *)mem + MUL_HEAD + (size_t)32 * (size_t)k * (size_t)nout;
    int rc = mul_coef(ec, in_rows, k, out_rows, nout, coef);
    if (rc != 0)
        return rc;
    *out = mul_place(coef, k, nout, mem);
    return 0;
}

/* The argument checks that must come before jcs_ec_mul_size is trusted. */
static int check_shape(const struct jcs_ec *ec, int k, int nout)
{
    if (ec->lrc) {
        if (k < 1 || k > ec->n)
            return jcs_err_set(JCS_EINVAL, "lrc: %d input rows given, need 1..%d", k, ec->n);
    } else if (k != ec->k)
        return jcs_err_set(JCS_EINVAL, "ec: %d input rows given, the k=%d n=%d code needs %d", k,
                           ec->k, ec->n, ec->k);
    if (nout < 1 || nout > JCS_EC_MAX_N)
        return jcs_err_set(JCS_EINVAL, "ec: %d output rows asked, need 1..%d", nout, JCS_EC_MAX_N);
    return 0;
}

int jcs_ec_mul_new(struct jcs_ec *ec, const int *in_rows, int k, const int *out_rows, int nout,
                   struct jcs_ec_mul **out)
{
    *out = NULL;
    int rc = check_shape(ec, k, nout);
    if (rc != 0)
        return rc;
    void *mem = jcs_aligned_alloc(64, jcs_ec_mul_size(k, nout));
    if (!mem)
        return jcs_err_set(JCS_ENOMEM, "ec: out of memory for a %d x %d coefficient table", nout,
                           k);
    rc = mul_fill(ec, in_rows, k, out_rows, nout, mem, out);
    if (rc != 0) {
        jcs_free(mem);
        return rc;
    }
    (*out)->owned = 1;
    return 0;
}

int jcs_ec_mul_init(struct jcs_ec *ec, const int *in_rows, int k, const int *out_rows, int nout,
                    void *mem, size_t size, struct jcs_ec_mul **out)
{
    *out = NULL;
    int rc = check_shape(ec, k, nout);
    if (rc != 0)
        return rc;
    if (size < jcs_ec_mul_size(k, nout))
        return jcs_err_set(JCS_EINVAL, "ec: %zu bytes given for a %d x %d mul that needs %zu", size,
                           nout, k, jcs_ec_mul_size(k, nout));
    if ((uintptr_t)mem % 64 != 0)
        return jcs_err_set(JCS_EINVAL, "ec: mul memory %p is not 64-byte aligned", mem);
    return mul_fill(ec, in_rows, k, out_rows, nout, mem, out);
}

void jcs_ec_mul_free(struct jcs_ec_mul *m)
{
    if (m && m->owned)
        jcs_free(m);
}

int jcs_ec_mul_rows(const struct jcs_ec_mul *m)
{
    return m->rows;
}

const unsigned char *jcs_ec_mul_tables(const struct jcs_ec_mul *m)
{
    return m->tbls;
}

void jcs_ec_mul_run(const struct jcs_ec_mul *m, size_t len, unsigned char *const *in,
                    unsigned char *const *out)
{
    /*
     * ec_encode_data takes an int length, so a strip goes through it in
     * pieces of at most PIECE bytes (one piece for any realistic strip).
     */
    unsigned char *pin[JCS_EC_MAX_N], *pout[JCS_EC_MAX_N];
    for (size_t off = 0; off < len; off += PIECE) {
        size_t n = len - off < PIECE ? len - off : PIECE;
        for (int i = 0; i < m->k; i++)
            pin[i] = in[i] + off;
        for (int j = 0; j < m->rows; j++)
            pout[j] = out[j] + off;
        ec_encode_data((int)n, m->k, m->rows, m->tbls, pin, pout);
    }
}
