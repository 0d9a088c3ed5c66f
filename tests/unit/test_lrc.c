/*
 * test_lrc.c - the LRC codec of ec.h (jcs_ec_new_lrc): its first n-groups
 * blocks are exactly ec(k, n-groups) (whose bytes the golden vectors of
 * test_ec.c tie to klauspost/reedsolomon), each local parity is the XOR of
 * its group, any single lost block comes back from its group alone, and
 * every multi-block loss the survivors span (jcs_ec_rank == k) decodes to
 * the original bytes, the others fail with a detail naming the block.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "ec.h"
#include "err.h"
#include "t.h"

enum { LEN = 1000, MAXN = 16 };

/* Pseudo-random data blocks (xorshift32), so every byte position differs. */
static void fill(unsigned char **b, int k, uint32_t seed)
{
    uint32_t x = seed | 1;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < LEN; j++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b[i][j] = (unsigned char)(x >> 24);
        }
}

struct code {
    int k, n, ngroups;
    int groups[4];
    int any2; /* every loss of two blocks comes back */
};

/* Blocks of one encoded strip of c; caller frees with put_blocks. */
static int get_blocks(const struct code *c, struct jcs_ec **ec, unsigned char **b)
{
    for (int i = 0; i < c->n; i++)
        if (!(b[i] = jcs_aligned_alloc(64, LEN)))
            return JCS_ENOMEM;
    fill(b, c->k, (uint32_t)(c->k * 131 + c->n));
    int rc = jcs_ec_new_lrc(c->k, c->n, c->groups, c->ngroups, ec);
    if (rc)
        return rc;
    jcs_ec_encode(*ec, LEN, b, b + c->k);
    return 0;
}

static void put_blocks(const struct code *c, struct jcs_ec *ec, unsigned char **b)
{
    for (int i = 0; i < c->n; i++)
        jcs_free(b[i]);
    jcs_ec_free(ec);
}

static const struct code codes[] = {
    {2, 4, 1, {2}, 1},       /* JCS's DefaultLRCRedundancy: one global, one local parity */
    {4, 8, 2, {2, 2}, 1},    /* groups over the data only, two global parities */
    {4, 8, 2, {3, 3}, 1},    /* groups covering the global parities too */
    {6, 10, 2, {3, 3}, 1},   /* Azure-like (6, 2, 2) */
    {4, 7, 2, {2, 2}, 1},    /* the README's example: one global parity, two groups */
    {3, 5, 1, {2}, 0},       /* block 2 in no group: losing it and the global parity kills */
    {4, 7, 3, {2, 1, 1}, 0}, /* a one-block group is a mirror */
};

TEST(global_part_is_ec_and_locals_are_xor)
{
    for (size_t ci = 0; ci < sizeof(codes) / sizeof(codes[0]); ci++) {
        const struct code *c = &codes[ci];
        struct jcs_ec *lrc = NULL, *ec = NULL;
        unsigned char *b[MAXN] = {0}, *p[MAXN] = {0};
        T_OK(get_blocks(c, &lrc, b));
        int m = c->n - c->ngroups;
        if (m > c->k) {
            T_OK(jcs_ec_new(c->k, m, &ec));
            for (int i = 0; i < m - c->k; i++)
                T_ASSERT((p[i] = jcs_aligned_alloc(64, LEN)) != NULL);
            jcs_ec_encode(ec, LEN, b, p);
            for (int i = 0; i < m - c->k; i++)
                T_ASSERT(memcmp(p[i], b[c->k + i], LEN) == 0, "lrc(%d,%d) global parity %d", c->k,
                         c->n, c->k + i);
        }
        for (int g = 0, first = 0; g < c->ngroups; first += c->groups[g], g++)
            for (int j = 0; j < LEN; j++) {
                unsigned char x = 0;
                for (int i = first; i < first + c->groups[g]; i++)
                    x ^= b[i][j];
                T_ASSERT(b[m + g][j] == x, "lrc(%d,%d) local parity %d byte %d", c->k, c->n, m + g,
                         j);
            }
        for (int i = 0; i < MAXN; i++)
            jcs_free(p[i]);
        jcs_ec_free(ec);
        put_blocks(c, lrc, b);
    }
}

TEST(single_loss_from_its_group_only)
{
    for (size_t ci = 0; ci < sizeof(codes) / sizeof(codes[0]); ci++) {
        const struct code *c = &codes[ci];
        struct jcs_ec *lrc = NULL;
        unsigned char *b[MAXN] = {0}, *out = jcs_aligned_alloc(64, LEN);
        T_ASSERT(out != NULL);
        T_OK(get_blocks(c, &lrc, b));
        int m = c->n - c->ngroups;
        for (int g = 0, first = 0; g < c->ngroups; first += c->groups[g], g++) {
            /* Members of group g: its blocks, then its local parity. */
            int mem[MAXN], nm = 0;
            for (int i = first; i < first + c->groups[g]; i++)
                mem[nm++] = i;
            mem[nm++] = m + g;
            for (int lost = 0; lost < nm; lost++) {
                int in_rows[MAXN], nin = 0;
                unsigned char *in[MAXN];
                for (int i = 0; i < nm; i++)
                    if (i != lost) {
                        in_rows[nin] = mem[i];
                        in[nin++] = b[mem[i]];
                    }
                struct jcs_ec_mul *mul;
                T_OK(jcs_ec_mul_new(lrc, in_rows, nin, &mem[lost], 1, &mul));
                memset(out, 0, LEN);
                jcs_ec_mul_run(mul, LEN, in, &out);
                T_ASSERT(memcmp(out, b[mem[lost]], LEN) == 0, "lrc(%d,%d) block %d from group %d",
                         c->k, c->n, mem[lost], g);
                jcs_ec_mul_free(mul);
            }
        }
        put_blocks(c, lrc, b);
        jcs_free(out);
    }
}

/* Every loss pattern of every code: rebuilt exactly when the survivors span the code. */
TEST(every_loss_pattern_decodes_iff_rank_k)
{
    for (size_t ci = 0; ci < sizeof(codes) / sizeof(codes[0]); ci++) {
        const struct code *c = &codes[ci];
        struct jcs_ec *lrc = NULL;
        unsigned char *b[MAXN] = {0}, *o[MAXN] = {0};
        T_OK(get_blocks(c, &lrc, b));
        for (int i = 0; i < c->n; i++)
            T_ASSERT((o[i] = jcs_aligned_alloc(64, LEN)) != NULL);
        int any2 = 1, decoded = 0, refused = 0;
        for (unsigned mask = 1; mask < (1u << c->n) - 1; mask++) {
            int in_rows[MAXN], out_rows[MAXN], nin = 0, nout = 0;
            unsigned char *in[MAXN];
            for (int i = 0; i < c->n; i++) {
                if (mask & (1u << i)) {
                    out_rows[nout++] = i;
                } else {
                    in_rows[nin] = i;
                    in[nin++] = b[i];
                }
            }
            struct jcs_ec_mul *mul = NULL;
            int rank = jcs_ec_rank(lrc, in_rows, nin);
            int rc = jcs_ec_mul_new(lrc, in_rows, nin, out_rows, nout, &mul);
            if (rank < c->k) {
                T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "cannot be computed"),
                         "lrc(%d,%d) mask %x rank %d: rc %d %s", c->k, c->n, mask, rank, rc,
                         jcs_err_msg(rc));
                refused++;
                if (nout <= 2)
                    any2 = 0;
                continue;
            }
            T_OK(rc);
            jcs_ec_mul_run(mul, LEN, in, o);
            for (int j = 0; j < nout; j++)
                T_ASSERT(memcmp(o[j], b[out_rows[j]], LEN) == 0, "lrc(%d,%d) mask %x block %d",
                         c->k, c->n, mask, out_rows[j]);
            jcs_ec_mul_free(mul);
            decoded++;
        }
        if (c->any2)
            T_ASSERT(any2, "lrc(%d,%d): some two-block loss is unrecoverable", c->k, c->n);
        T_ASSERT(decoded > 0 && refused > 0, "decoded %d refused %d", decoded, refused);
        for (int i = 0; i < c->n; i++)
            jcs_free(o[i]);
        put_blocks(c, lrc, b);
    }
}

TEST(rank_counts_independent_rows)
{
    struct jcs_ec *lrc;
    int groups[2] = {2, 2};
    T_OK(jcs_ec_new_lrc(4, 8, groups, 2, &lrc));
    /* Blocks 0, 1 and their local parity 6 span only two dimensions. */
    int dep[3] = {0, 1, 6}, ind[4] = {0, 1, 6, 2}, all[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    T_EQ_INT(jcs_ec_rank(lrc, dep, 3), 2);
    T_EQ_INT(jcs_ec_rank(lrc, ind, 4), 3);
    T_EQ_INT(jcs_ec_rank(lrc, all, 8), 4);
    jcs_ec_free(lrc);
}

TEST(bad_layouts_named)
{
    struct jcs_ec *lrc = NULL;
    int g1[1] = {2}, g0[1] = {0}, g33[2] = {3, 3};
    int rc = jcs_ec_new_lrc(2, 4, g1, 0, &lrc);
    T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "at least one group"), "%s",
             jcs_err_msg(rc));
    rc = jcs_ec_new_lrc(4, 4, g1, 1, &lrc);
    T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "k <= n - groups"), "%s", jcs_err_msg(rc));
    rc = jcs_ec_new_lrc(2, 4, g0, 1, &lrc);
    T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "group 0 has 0 blocks"), "%s",
             jcs_err_msg(rc));
    rc = jcs_ec_new_lrc(4, 7, g33, 2, &lrc);
    T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "groups cover more"), "%s",
             jcs_err_msg(rc));
    T_ASSERT(lrc == NULL);
    T_OK(jcs_ec_new_lrc(2, 4, g1, 1, &lrc));
    struct jcs_ec_mul *m = NULL;
    int in[1] = {0}, out[1] = {1}, none[1] = {0};
    rc = jcs_ec_mul_new(lrc, in, 1, out, 1, &m);
    T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "block 1 cannot be computed"), "%s",
             jcs_err_msg(rc));
    rc = jcs_ec_mul_new(lrc, none, 0, out, 1, &m);
    T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "need 1..4"), "%s", jcs_err_msg(rc));
    T_ASSERT(m == NULL);
    jcs_ec_free(lrc);
}
