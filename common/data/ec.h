/*
 * ec.h - Reed-Solomon erasure coding over GF(2^8), bit-identical to JCS.
 *
 * A codec for (k, n) has an n x k generator matrix G: the matrix that
 * klauspost/reedsolomon (the Go original's library) builds by default in
 * New(k, n-k), a Vandermonde matrix V[r][c] = r^c made systematic by
 * multiplying it with the inverse of its top k x k square. Rows 0..k-1 of G
 * are the identity (block i of a strip is data chunk i), rows k..n-1 give
 * the parity blocks. The field is GF(2^8) with polynomial 0x11D, the same
 * in both libraries, so parity shards equal the Go original's byte for byte;
 * tests/ec/golden/vectors.txt proves it.
 *
 * Everything is one operation, "compute rows R from k known rows S":
 * encode is S = data rows, R = parity rows; decode is S = any k survivors,
 * R = the lost rows; re-encoding to another block (repair) is the same with
 * R = that block. A jcs_ec_mul holds the ISA-L coefficient tables of one
 * (S, R) pair. Building one needs G restricted to S inverted; the codec
 * caches the resulting decode matrix per survivor list (a few lists, least
 * recently used out), so a survivor set is inverted once however many
 * jcs_ec_mul use it. Running a jcs_ec_mul on a strip is a single
 * ec_encode_data call and never inverts a matrix: build one per (object,
 * survivor set) and run it on every strip.
 *
 * Buffers belong to the caller (ISA-L style). Any alignment works; 64-byte
 * aligned buffers (jcs_aligned_alloc(64, ...)) are the fast case and the
 * caller's job. Input and output buffers must not overlap.
 *
 * Thread safety: a codec and a jcs_ec_mul are immutable after creation
 * (the codec's decoder cache has its own lock), so any number of threads
 * may encode and run muls on them concurrently. Free them only when no
 * other thread uses them; a jcs_ec_mul does not refer to its codec after
 * creation and may outlive it.
 */
#ifndef JCS_EC_H
#define JCS_EC_H

#include <stddef.h>

#include "err.h"

/* Largest n: GF(2^8) has 256 distinct Vandermonde points (rows 0..255). */
#define JCS_EC_MAX_N 256

struct jcs_ec;
struct jcs_ec_mul;

/*
 * A codec for k data and n-k parity blocks, 1 <= k < n <= JCS_EC_MAX_N.
 * JCS_EINVAL (detail names k and n), JCS_ENOMEM. Caller frees with
 * jcs_ec_free.
 */
int jcs_ec_new(int k, int n, struct jcs_ec **out) JCS_MUST_USE;

/*
 * A locally repairable code, JCS's lrc(k, n, groups): ngroups = len(groups)
 * local parities after m = n - ngroups blocks that are exactly ec(k, m)
 * (rows 0..m-1 of the generator above: k data blocks, m-k global
 * parities). The groups cut blocks 0..sum(groups)-1 into consecutive runs:
 * group g holds the groups[g] blocks that follow group g-1's, and block
 * m+g is the XOR of them (its generator row is the sum of theirs). Blocks
 * after the last group belong to none and are rebuilt globally.
 * 1 <= k <= m, 1 <= ngroups, every group >= 1, sum(groups) <= m,
 * n <= JCS_EC_MAX_N. JCS_EINVAL (detail names the bad field), JCS_ENOMEM.
 *
 * On such a codec jcs_ec_mul_new takes any number 1..n of input rows, not
 * only k: the mul computes the wanted rows from whatever the inputs span
 * (a group's other members rebuild one of its blocks; any k independent
 * rows rebuild everything), and fails with JCS_EINVAL naming the first
 * row the inputs cannot give.
 */
int jcs_ec_new_lrc(int k, int n, const int *groups, int ngroups, struct jcs_ec **out) JCS_MUST_USE;

/* NULL is fine. */
void jcs_ec_free(struct jcs_ec *ec);

/*
 * How many of rows[0..nrows-1] are linearly independent (the rank of G on
 * them; k means they rebuild every block). Rows outside 0..n-1 count as
 * nothing. For choosing survivors of an LRC, where not every k rows do.
 */
int jcs_ec_rank(const struct jcs_ec *ec, const int *rows, int nrows);

int jcs_ec_k(const struct jcs_ec *ec);
int jcs_ec_n(const struct jcs_ec *ec);

/* Coefficient G[row][col] of the generator matrix (row < n, col < k). */
unsigned char jcs_ec_coef(const struct jcs_ec *ec, int row, int col);

/*
 * Computes the n-k parity blocks of one strip: parity[i] (len bytes each,
 * caller's buffers) = row k+i of G times the k data blocks data[0..k-1]
 * (len bytes each, only read). Cannot fail.
 */
void jcs_ec_encode(const struct jcs_ec *ec, size_t len, unsigned char *const *data,
                   unsigned char *const *parity);

/*
 * Prepares "compute rows out_rows[0..nout-1] from the k known rows
 * in_rows[0..k-1]". in_rows are k distinct block indexes < n in the order
 * the caller will pass their buffers; out_rows are 1..JCS_EC_MAX_N indexes
 * < n, any rows (data or parity, repeats allowed; a row that is also an
 * input is copied). Both arrays are only read during the call.
 * JCS_EINVAL (the detail names the bad index), JCS_ENOMEM, JCS_EINTERNAL
 * (the survivor matrix was singular, which a correct G never is).
 * Caller frees with jcs_ec_mul_free.
 */
int jcs_ec_mul_new(struct jcs_ec *ec, const int *in_rows, int k, const int *out_rows, int nout,
                   struct jcs_ec_mul **out) JCS_MUST_USE;

/* Bytes of caller memory jcs_ec_mul_init needs for k inputs and nout outputs. */
size_t jcs_ec_mul_size(int k, int nout);

/*
 * The same as jcs_ec_mul_new built in caller memory (ISA-L style, no
 * allocation): mem is 64-byte aligned and at least jcs_ec_mul_size(k, nout)
 * bytes; *out points into it and lives as long as mem, which the caller
 * frees or reuses for the next mul (jcs_ec_mul_free on it does nothing).
 * The same errors as jcs_ec_mul_new, plus JCS_EINVAL for a short or
 * misaligned mem.
 */
int jcs_ec_mul_init(struct jcs_ec *ec, const int *in_rows, int k, const int *out_rows, int nout,
                    void *mem, size_t size, struct jcs_ec_mul **out) JCS_MUST_USE;

/* Frees a mul from jcs_ec_mul_new; NULL or one from jcs_ec_mul_init is fine. */
void jcs_ec_mul_free(struct jcs_ec_mul *m);

/* Number of outputs of m (the nout it was built with). */
int jcs_ec_mul_rows(const struct jcs_ec_mul *m);

/*
 * Runs m on one strip: in[i] holds block in_rows[i] (len bytes, only
 * read), out[j] receives block out_rows[j] (len bytes, caller's buffer).
 * Cannot fail; safe from many threads at once.
 */
void jcs_ec_mul_run(const struct jcs_ec_mul *m, size_t len, unsigned char *const *in,
                    unsigned char *const *out);

/*
 * The ISA-L coefficient tables of m (32 * k * rows bytes, borrowed, valid
 * while m lives), for callers that drive ec_encode_data themselves.
 */
const unsigned char *jcs_ec_mul_tables(const struct jcs_ec_mul *m);

/* The GF(2^8) product and inverse used by G (polynomial 0x11D); for tests. */
unsigned char jcs_ec_gf_mul(unsigned char a, unsigned char b);

#endif
