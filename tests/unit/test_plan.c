/*
 * test_plan.c - the planner: the fragments a FromTo turns into.
 *
 * Structural tests: which ops run where, which bytes each ShardRead asks
 * for, which rows each ECMultiply computes, and (check_plan, run on every
 * plan built here) that the vars form a well-formed graph across the
 * fragments: every var has exactly one producer and one consumer, both on
 * the same worker, SendStream/GetStream pairs and the driver's own from/to
 * vars included.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "plan.h"
#include "t.h"
#include "t_plan.h"

/* ---- plan inspection ---- */

static size_t count_ops(const jcs_plan *p, int64_t hub, Jcs__Plan__Op__OpCase c)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nfrags; i++) {
        if (hub >= 0 && p->frags[i]->worker->hub_id != hub)
            continue;
        for (size_t j = 0; j < p->frags[i]->n_ops; j++)
            n += p->frags[i]->ops[j]->op_case == c;
    }
    return n;
}

#define ALL   (-1)
#define OP(x) JCS__PLAN__OP__OP_##x

/* The idx-th op of kind c in the plan (fragment order), or NULL. */
static const Jcs__Plan__Op *nth_op(const jcs_plan *p, Jcs__Plan__Op__OpCase c, size_t idx)
{
    for (size_t i = 0; i < p->nfrags; i++)
        for (size_t j = 0; j < p->frags[i]->n_ops; j++)
            if (p->frags[i]->ops[j]->op_case == c && idx-- == 0)
                return p->frags[i]->ops[j];
    return NULL;
}

static const Jcs__Plan__Fragment *frag_of(const jcs_plan *p, int64_t hub)
{
    for (size_t i = 0; i < p->nfrags; i++)
        if (p->frags[i]->worker->hub_id == hub)
            return p->frags[i];
    return NULL;
}

static int ints_eq(const int32_t *a, size_t n, const int *want, size_t nwant)
{
    if (n != nwant)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != want[i])
            return 0;
    return 1;
}

/* ---- fixtures ---- */

static jcs_plan *P;    /* the plan under test; freed by the next build or at exit */
static char *DESC;     /* its description */
static char ERR[1024]; /* the detail line of the last failed build */

__attribute__((destructor)) static void free_last(void)
{
    jcs_plan_free(P);
    jcs_free(DESC);
}

/* Builds ft into P and checks it; returns the build's rc (ERR holds the detail). */
static int build(const jcs_fromto *ft)
{
    jcs_plan_free(P);
    P = NULL;
    jcs_free(DESC);
    DESC = NULL;
    ERR[0] = 0;
    int rc = jcs_plan_build(ft, &P);
    if (rc) {
        snprintf(ERR, sizeof(ERR), "%s", jcs_err_msg(rc));
        return rc;
    }
    DESC = jcs_plan_describe(P);
    if (getenv("T_PLAN_DESC")) /* for a person reading plans */
        fprintf(stderr, "%s\n", DESC);
    return 0;
}

/* Builds ft and asserts the plan is well formed (the test returns on failure). */
#define BUILD_OK(ft)                                                                               \
    do {                                                                                           \
        int _rc = build(ft);                                                                       \
        T_ASSERT(_rc == 0, "build: %s", ERR);                                                      \
        const char *_why = t_plan_check(P, ft);                                                    \
        T_ASSERT(_why == NULL, "%s\n%s", _why, DESC);                                              \
    } while (0)

/* ---- ranged EC reads touch only their strips ---- */

static void ec23_download(t_ft *f, int64_t size, int64_t off, int64_t len)
{
    t_ft_init(f, t_ec(2, 3, 4096), size);
    t_from_shard(f, 0, 0);
    t_from_shard(f, 1, 1);
    t_to_driver(f, JCS_STREAM_RAW, off, len);
}

TEST(ranged_ec_read_inside_one_strip_reads_only_that_strip)
{
    t_ft f;
    ec23_download(&f, 100000, 5000, 100);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 2);
    for (size_t i = 0; i < 2; i++) {
        const Jcs__Plan__ShardRead *r = nth_op(P, OP(SHARD_READ), i)->shard_read;
        T_EQ_INT(r->offset, 0);
        T_EQ_INT(r->length, 4096);
    }
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 0);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_JOIN)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 1);
    const Jcs__Plan__Range *r = nth_op(P, OP(RANGE), 0)->range;
    T_EQ_INT(r->offset, 5000);
    T_EQ_INT(r->length, 100);
    /* Compute is the driver: both reads are pulled, nothing is pushed. */
    T_EQ_INT(count_ops(P, 0, OP(GET_STREAM)), 2);
    T_EQ_INT(count_ops(P, ALL, OP(SEND_STREAM)), 0);
    T_ASSERT(strstr(DESC, "ShardRead space 100 Full00..[0,+4096) -> v") != NULL, "%s", DESC);
}

TEST(ranged_ec_read_of_the_last_byte_reads_only_the_last_strip)
{
    t_ft f;
    ec23_download(&f, 100000, 99999, 1);
    BUILD_OK(&f.ft);
    /* 100000 bytes = 12 full strips of 8192 and one of 1696; block size 13*4096. */
    for (size_t i = 0; i < 2; i++) {
        const Jcs__Plan__ShardRead *r = nth_op(P, OP(SHARD_READ), i)->shard_read;
        T_EQ_INT(r->offset, 12 * 4096);
        T_EQ_INT(r->length, 4096);
    }
    const Jcs__Plan__Range *r = nth_op(P, OP(RANGE), 0)->range;
    T_EQ_INT(r->offset, 99999 - 12 * 8192);
    T_EQ_INT(r->length, 1);
}

TEST(ranged_ec_read_across_a_strip_boundary_reads_both_strips)
{
    t_ft f;
    ec23_download(&f, 100000, 8000, 400);
    BUILD_OK(&f.ft);
    for (size_t i = 0; i < 2; i++) {
        const Jcs__Plan__ShardRead *r = nth_op(P, OP(SHARD_READ), i)->shard_read;
        T_EQ_INT(r->offset, 0);
        T_EQ_INT(r->length, 2 * 4096);
    }
    const Jcs__Plan__Range *r = nth_op(P, OP(RANGE), 0)->range;
    T_EQ_INT(r->offset, 8000);
    T_EQ_INT(r->length, 400);

    /* From the second strip's first byte to the end: strips 1..12. */
    ec23_download(&f, 100000, 8192, -1);
    BUILD_OK(&f.ft);
    const Jcs__Plan__ShardRead *sr = nth_op(P, OP(SHARD_READ), 0)->shard_read;
    T_EQ_INT(sr->offset, 4096);
    T_EQ_INT(sr->length, 12 * 4096);
    r = nth_op(P, OP(RANGE), 0)->range;
    T_EQ_INT(r->offset, 0);
    T_EQ_INT(r->length, 100000 - 8192);
}

TEST(full_ec_read_of_whole_strips_needs_no_range)
{
    t_ft f;
    ec23_download(&f, 3 * 8192, 0, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 0);
    const Jcs__Plan__ShardRead *sr = nth_op(P, OP(SHARD_READ), 0)->shard_read;
    T_EQ_INT(sr->length, 3 * 4096);
    /* Not a whole number of strips: the padding is trimmed. */
    ec23_download(&f, 3 * 8192 - 5, 0, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 1);
    T_EQ_INT(nth_op(P, OP(RANGE), 0)->range->length, 3 * 8192 - 5);
}

TEST(ranged_raw_read_is_a_ranged_shard_read_without_range_op)
{
    t_ft f;
    t_ft_init(&f, t_none(), 1000);
    t_from_shard(&f, JCS_STREAM_RAW, 2);
    t_to_driver(&f, JCS_STREAM_RAW, 10, 20);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 0);
    T_EQ_INT(count_ops(P, 3, OP(SHARD_READ)), 1);
    const Jcs__Plan__ShardRead *r = nth_op(P, OP(SHARD_READ), 0)->shard_read;
    T_EQ_INT(r->offset, 10);
    T_EQ_INT(r->length, 20);
    T_EQ_STR(r->file_hash, t_hash(JCS_STREAM_RAW));
    T_EQ_INT(r->space->space_id, 102);
    /* The driver pulls the read's var from hub 3. */
    const Jcs__Plan__GetStream *g = nth_op(P, OP(GET_STREAM), 0)->get_stream;
    T_EQ_INT(g->from->hub_id, 3);
    T_EQ_INT(g->remote_var, r->output);
    T_EQ_INT(g->output, P->to_vars[0]);

    /* To the end: the length is resolved against the object size. */
    t_ft_init(&f, t_rep(2), 1000);
    t_from_shard(&f, JCS_STREAM_RAW, 2);
    t_from_shard(&f, JCS_STREAM_RAW, 1);
    t_to_driver(&f, JCS_STREAM_RAW, 990, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 1);
    r = nth_op(P, OP(SHARD_READ), 0)->shard_read;
    T_EQ_INT(r->space->space_id, 102); /* the first listed copy */
    T_EQ_INT(r->offset, 990);
    T_EQ_INT(r->length, 10);
}

TEST(ranges_past_the_end_are_refused_with_range_and_size)
{
    t_ft f;
    ec23_download(&f, 100000, 99999, 2);
    T_EQ_INT(build(&f.ft), JCS_EINVAL);
    T_ASSERT(strstr(ERR, "[99999,+2)") && strstr(ERR, "100000"), "%s", ERR);
    ec23_download(&f, 100000, 100001, -1);
    T_EQ_INT(build(&f.ft), JCS_EINVAL);
    T_ASSERT(strstr(ERR, "100001") && strstr(ERR, "100000-byte"), "%s", ERR);
    t_ft_init(&f, t_none(), 10);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_to_driver(&f, JCS_STREAM_RAW, 5, 6);
    T_EQ_INT(build(&f.ft), JCS_EINVAL);
    T_ASSERT(strstr(ERR, "tos[0]") && strstr(ERR, "[5,+6)") && strstr(ERR, "10-byte"), "%s", ERR);
    /* Exactly up to the end is fine; so is an empty range at the end. */
    ec23_download(&f, 100000, 99990, 10);
    BUILD_OK(&f.ft);
    ec23_download(&f, 100000, 100000, 0);
    BUILD_OK(&f.ft);
    /* An EC read needs the object size. */
    ec23_download(&f, -1, 0, -1);
    T_EQ_INT(build(&f.ft), JCS_EINVAL);
    T_ASSERT(strstr(ERR, "object_size unknown"), "%s", ERR);
}

TEST(empty_objects_and_empty_ranges_make_plans_that_end_empty)
{
    t_ft f;
    ec23_download(&f, 0, 0, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 2);
    T_EQ_INT(nth_op(P, OP(SHARD_READ), 0)->shard_read->length, 0);
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 0);
    ec23_download(&f, 5000, 4000, 0);
    BUILD_OK(&f.ft);
    T_EQ_INT(nth_op(P, OP(SHARD_READ), 0)->shard_read->length, 0);
    /* Upload of an object of unknown size into ec: still one split. */
    t_ft_init(&f, t_ec(2, 3, 4096), -1);
    t_from_driver(&f, JCS_STREAM_RAW);
    for (int i = 0; i < 3; i++)
        t_to_shard(&f, i, i);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_SPLIT)), 1);
}

/* ---- uploads ---- */

TEST(upload_ec46_on_six_hubs_has_one_split_and_one_multiply_for_rows_4_5)
{
    t_ft f;
    t_ft_init(&f, t_ec(4, 6, 65536), -1);
    f.ft.compute = t_hub(0);
    t_from_driver(&f, JCS_STREAM_RAW);
    for (int i = 0; i < 6; i++)
        t_to_shard(&f, i, i);
    BUILD_OK(&f.ft);
    T_EQ_INT(P->nfrags, 7);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_SPLIT)), 1);
    T_EQ_INT(count_ops(P, 1, OP(CHUNKED_SPLIT)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 1);
    const Jcs__Plan__ECMultiply *m = nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply;
    int in_rows[] = {0, 1, 2, 3}, out_rows[] = {4, 5};
    T_ASSERT(ints_eq(m->input_rows, m->n_input_rows, in_rows, 4));
    T_ASSERT(ints_eq(m->output_rows, m->n_output_rows, out_rows, 2));
    T_EQ_INT(m->k, 4);
    T_EQ_INT(m->n, 6);
    T_EQ_INT(m->chunk_size, 65536);
    const Jcs__Plan__ChunkedSplit *s = nth_op(P, OP(CHUNKED_SPLIT), 0)->chunked_split;
    T_EQ_INT(s->n_outputs, 4);
    T_ASSERT(s->pad_last_strip);
    T_EQ_INT(s->chunk_size, 65536);
    /* One write per hub, each listed in its fragment's results. */
    for (int h = 1; h <= 6; h++) {
        T_EQ_INT(count_ops(P, h, OP(SHARD_WRITE)), 1);
        const Jcs__Plan__Fragment *fr = frag_of(P, h);
        T_EQ_INT(fr->n_results, 1);
        T_EQ_INT(P->frags[P->to_frags[h - 1]], fr);
        T_EQ_INT(P->to_vars[h - 1], fr->results[0]);
    }
    /* The driver only pushes the upload stream to the split on hub 1. */
    const Jcs__Plan__Fragment *d = frag_of(P, 0);
    T_ASSERT(d != NULL);
    T_EQ_INT(d->n_ops, 1);
    T_EQ_INT(d->ops[0]->op_case, OP(SEND_STREAM));
    T_EQ_INT(d->ops[0]->send_stream->input, P->from_vars[0]);
    T_EQ_INT(d->ops[0]->send_stream->to->hub_id, 1);
    T_EQ_STR(d->ops[0]->send_stream->to->address, "hub1:5010");
    T_EQ_INT(P->driver_frag >= 0 && P->frags[P->driver_frag] == d, 1);
    /* Every fragment carries the plan id: 32 hex chars. */
    T_EQ_INT(strlen(P->plan_id), 32);
    T_EQ_INT(strspn(P->plan_id, "0123456789abcdef"), 32);
    for (size_t i = 0; i < P->nfrags; i++)
        T_EQ_STR(P->frags[i]->plan_id, P->plan_id);
}

TEST(upload_rep_clones_the_driver_stream_once)
{
    t_ft f;
    t_ft_init(&f, t_rep(3), 12345);
    f.ft.compute = t_driver();
    t_from_driver(&f, JCS_STREAM_RAW);
    for (int i = 0; i < 3; i++)
        t_to_shard(&f, JCS_STREAM_RAW, i);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, 0, OP(CLONE)), 1);
    T_EQ_INT(nth_op(P, OP(CLONE), 0)->clone->n_outputs, 3);
    T_EQ_INT(count_ops(P, 0, OP(SEND_STREAM)), 3);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_WRITE)), 3);

    /* none: one copy, the driver's var goes straight to the hub. */
    t_ft_init(&f, t_none(), -1);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, JCS_STREAM_RAW, 4);
    BUILD_OK(&f.ft); /* no compute worker: none is needed */
    T_EQ_INT(P->nfrags, 2);
    T_EQ_INT(count_ops(P, ALL, OP(CLONE)), 0);
    T_EQ_INT(count_ops(P, 0, OP(SEND_STREAM)), 1);
}

TEST(plan_ids_differ)
{
    t_ft f;
    t_ft_init(&f, t_none(), -1);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, JCS_STREAM_RAW, 0);
    BUILD_OK(&f.ft);
    char first[33];
    memcpy(first, P->plan_id, 33);
    BUILD_OK(&f.ft);
    T_ASSERT(strcmp(first, P->plan_id) != 0, "two plans got id %s", first);
}

/* ---- downloads from EC blocks ---- */

static void ec46_download(t_ft *f, const int *blocks)
{
    t_ft_init(f, t_ec(4, 6, 1024), 50000);
    for (int i = 0; i < 4; i++)
        t_from_shard(f, blocks[i], blocks[i]);
    t_to_driver(f, JCS_STREAM_RAW, 0, -1);
}

TEST(download_from_the_data_blocks_needs_no_multiply)
{
    t_ft f;
    int blocks[] = {2, 0, 3, 1};
    ec46_download(&f, blocks);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 0);
    T_EQ_INT(count_ops(P, ALL, OP(CLONE)), 0);
    /* The join takes the blocks in row order, whatever order they were listed in. */
    const Jcs__Plan__ChunkedJoin *j = nth_op(P, OP(CHUNKED_JOIN), 0)->chunked_join;
    T_EQ_INT(j->n_inputs, 4);
    for (int r = 0; r < 4; r++) {
        const Jcs__Plan__GetStream *g = NULL;
        for (size_t i = 0; i < 4; i++) {
            const Jcs__Plan__GetStream *c = nth_op(P, OP(GET_STREAM), i)->get_stream;
            if (c->output == j->inputs[r])
                g = c;
        }
        T_ASSERT(g != NULL, "join input %d is not pulled", r);
        T_EQ_INT(g->from->hub_id, r + 1);
    }
}

TEST(download_from_blocks_0_2_4_5_multiplies_rows_1_3_and_copies_row_2)
{
    t_ft f;
    int blocks[] = {0, 2, 4, 5};
    ec46_download(&f, blocks);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 1);
    const Jcs__Plan__ECMultiply *m = nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply;
    /*
     * Row 0 passes through to the join; row 2 comes after the missing row 1
     * in join order, so it comes out of the multiply (a copy) rather than
     * through a clone that would deadlock with chunks larger than a pipe.
     */
    int out_rows[] = {1, 2, 3};
    T_ASSERT(ints_eq(m->input_rows, m->n_input_rows, blocks, 4));
    T_ASSERT(ints_eq(m->output_rows, m->n_output_rows, out_rows, 3));
    T_EQ_INT(count_ops(P, ALL, OP(CLONE)), 1);
    const Jcs__Plan__Clone *c = nth_op(P, OP(CLONE), 0)->clone;
    const Jcs__Plan__ChunkedJoin *j = nth_op(P, OP(CHUNKED_JOIN), 0)->chunked_join;
    T_ASSERT(j->inputs[0] == c->outputs[0] || j->inputs[0] == c->outputs[1]);
    for (int r = 1; r < 4; r++)
        T_EQ_INT(j->inputs[r], m->outputs[r - 1]);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_JOIN)), 1);
}

TEST(download_from_blocks_1_2_of_ec23_passes_nothing_through)
{
    t_ft f;
    t_ft_init(&f, t_ec(2, 3, 4096), 100000);
    t_from_shard(&f, 1, 1);
    t_from_shard(&f, 2, 2);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    BUILD_OK(&f.ft);
    const Jcs__Plan__ECMultiply *m = nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply;
    int out_rows[] = {0, 1};
    T_ASSERT(ints_eq(m->output_rows, m->n_output_rows, out_rows, 2));
    T_EQ_INT(count_ops(P, ALL, OP(CLONE)), 0);
}

TEST(every_survivor_set_of_ec46_multiplies_the_data_rows_from_the_first_missing_one)
{
    for (int mask = 0; mask < 64; mask++) {
        if (__builtin_popcount((unsigned)mask) != 4)
            continue;
        int blocks[4], nb = 0, missing[4], nm = 0;
        for (int i = 0; i < 6; i++)
            if (mask & (1 << i))
                blocks[nb++] = i;
        for (int i = 0; i < 4; i++) /* every data row from the first missing one on */
            if (nm || !(mask & (1 << i)))
                missing[nm++] = i;
        t_ft f;
        ec46_download(&f, blocks);
        BUILD_OK(&f.ft);
        T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), nm ? 1 : 0);
        if (nm) {
            const Jcs__Plan__ECMultiply *m = nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply;
            T_ASSERT(ints_eq(m->output_rows, m->n_output_rows, missing, (size_t)nm),
                     "survivors mask %#x", mask);
        }
    }
}

TEST(the_first_k_listed_blocks_are_used)
{
    t_ft f;
    t_ft_init(&f, t_ec(2, 3, 1024), 5000);
    t_from_shard(&f, 2, 2);
    t_from_shard(&f, 1, 1);
    t_from_shard(&f, 0, 0); /* listed last: not used */
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, 1, OP(SHARD_READ)), 0);
    T_EQ_INT(P->nfrags, 3); /* hubs 2 and 3 and the driver */
    const Jcs__Plan__ECMultiply *m = nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply;
    int in_rows[] = {2, 1}, out_rows[] = {0, 1};
    T_ASSERT(ints_eq(m->input_rows, m->n_input_rows, in_rows, 2));
    T_ASSERT(ints_eq(m->output_rows, m->n_output_rows, out_rows, 2));
}

/* ---- redundancy changes and repair ---- */

TEST(ec_to_rep_decodes_once_and_clones_to_both_copies)
{
    t_ft f;
    t_ft_init(&f, t_ec(2, 4, 4096), 70000);
    f.ft.compute = t_hub(5);
    for (int i = 0; i < 4; i++)
        t_from_shard(&f, 3 - i, i); /* blocks 3,2,1,0 */
    t_to_shard(&f, JCS_STREAM_RAW, 4);
    t_to_shard(&f, JCS_STREAM_RAW, 5);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 2);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_JOIN)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 1); /* 70000 is not a whole number of strips */
    T_EQ_INT(count_ops(P, 6, OP(CLONE)), 1);
    T_EQ_INT(count_ops(P, 5, OP(SHARD_WRITE)), 1);
    T_EQ_INT(count_ops(P, 6, OP(SHARD_WRITE)), 1);
    T_ASSERT(P->driver_frag == -1, "no driver fragment in a hub-only plan");
}

TEST(rep_to_ec_splits_the_first_copy)
{
    t_ft f;
    t_ft_init(&f, t_ec(2, 3, 4096), 70000);
    f.ft.compute = t_hub(0);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_from_shard(&f, JCS_STREAM_RAW, 1);
    for (int i = 0; i < 3; i++)
        t_to_shard(&f, i, i + 2);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 1);
    T_EQ_INT(count_ops(P, 1, OP(SHARD_READ)), 1);
    const Jcs__Plan__ShardRead *r = nth_op(P, OP(SHARD_READ), 0)->shard_read;
    T_EQ_INT(r->offset, 0);
    T_EQ_INT(r->length, 70000);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_SPLIT)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 1);
    T_EQ_INT(nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply->output_rows[0], 2);
    T_EQ_INT(count_ops(P, ALL, OP(SEND_STREAM)), 3);
}

TEST(repair_reencodes_from_k_blocks_without_join)
{
    t_ft f;
    t_ft_init(&f, t_ec(2, 3, 4096), 70000);
    f.ft.compute = t_hub(3);
    t_from_shard(&f, 0, 0);
    t_from_shard(&f, 2, 2);
    t_from_shard(&f, JCS_STREAM_RAW, 1); /* a raw copy too: blocks are preferred */
    t_to_shard(&f, 1, 3);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_JOIN)), 0);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_SPLIT)), 0);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 1);
    const Jcs__Plan__ECMultiply *m = nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply;
    int in_rows[] = {0, 2}, out_rows[] = {1};
    T_ASSERT(ints_eq(m->input_rows, m->n_input_rows, in_rows, 2));
    T_ASSERT(ints_eq(m->output_rows, m->n_output_rows, out_rows, 1));
    for (size_t i = 0; i < 2; i++) {
        const Jcs__Plan__ShardRead *r = nth_op(P, OP(SHARD_READ), i)->shard_read;
        T_EQ_INT(r->offset, 0);
        T_EQ_INT(r->length, jcs_ec_block_size(&f.ft.red, 70000));
    }
    /* The block itself is there: a plain copy. */
    t_from_shard(&f, 1, 4);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 0);
    T_EQ_INT(count_ops(P, 5, OP(SHARD_READ)), 1);
    T_EQ_INT(count_ops(P, 5, OP(SEND_STREAM)), 1);
    T_EQ_INT(count_ops(P, 4, OP(SHARD_WRITE)), 1);
}

TEST(decode_and_repair_share_reads_and_one_multiply)
{
    t_ft f;
    t_ft_init(&f, t_ec(2, 4, 4096), 70000);
    f.ft.compute = t_driver();
    t_from_shard(&f, 2, 2);
    t_from_shard(&f, 3, 3);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    t_to_shard(&f, 0, 0);
    t_to_shard(&f, 1, 1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 2);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 1);
    const Jcs__Plan__ECMultiply *m = nth_op(P, OP(EC_MULTIPLY), 0)->ec_multiply;
    int out_rows[] = {0, 1};
    T_ASSERT(ints_eq(m->output_rows, m->n_output_rows, out_rows, 2));
    T_EQ_INT(count_ops(P, ALL, OP(CLONE)), 2);
}

TEST(one_data_block_from_raw_drains_the_other_split_outputs)
{
    t_ft f;
    t_ft_init(&f, t_ec(3, 5, 4096), 70000);
    f.ft.compute = t_driver();
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_to_shard(&f, 1, 1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(CHUNKED_SPLIT)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 0);
    /* Outputs 0 and 2 end in Ranges of length 0 joined behind output 1. */
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 2);
    T_EQ_INT(nth_op(P, OP(RANGE), 0)->range->length, 0);
    T_EQ_INT(count_ops(P, ALL, OP(JOIN)), 1);
    const Jcs__Plan__Join *j = nth_op(P, OP(JOIN), 0)->join;
    const Jcs__Plan__ChunkedSplit *s = nth_op(P, OP(CHUNKED_SPLIT), 0)->chunked_split;
    T_EQ_INT(j->n_inputs, 3);
    T_EQ_INT(j->inputs[0], s->outputs[1]);

    /* The same block to two spaces: the joined stream is cloned. */
    t_to_shard(&f, 1, 2);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(JOIN)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(CLONE)), 1);
    T_EQ_INT(nth_op(P, OP(CLONE), 0)->clone->input, nth_op(P, OP(JOIN), 0)->join->output);
}

TEST(raw_to_several_shards_shares_one_read)
{
    t_ft f;
    t_ft_init(&f, t_rep(2), 100);
    f.ft.compute = t_hub(0);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_to_shard(&f, JCS_STREAM_RAW, 1);
    t_to_shard(&f, JCS_STREAM_RAW, 2);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 1);
    T_EQ_INT(count_ops(P, 1, OP(CLONE)), 1);
    T_EQ_INT(nth_op(P, OP(CLONE), 0)->clone->n_outputs, 3);
    /* The driver pulls its copy from the clone on hub 1. */
    T_EQ_INT(count_ops(P, 0, OP(GET_STREAM)), 1);
    T_EQ_INT(nth_op(P, OP(GET_STREAM), 0)->get_stream->from->hub_id, 1);
}

TEST(two_spaces_on_one_hub_share_its_fragment)
{
    t_ft f;
    t_ft_init(&f, t_rep(2), 100);
    f.ft.compute = t_hub(0);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, JCS_STREAM_RAW, 0);
    t_to_shard(&f, JCS_STREAM_RAW, 1);
    f.tos[1].hub = t_hub(0); /* space 101 served by hub 1 too */
    BUILD_OK(&f.ft);
    T_EQ_INT(P->nfrags, 2);
    const Jcs__Plan__Fragment *h = frag_of(P, 1);
    T_EQ_INT(h->n_results, 2);
    T_EQ_INT(P->to_frags[0], P->to_frags[1]);
    T_EQ_INT(count_ops(P, 1, OP(SHARD_WRITE)), 2);
    T_EQ_INT(count_ops(P, 1, OP(CLONE)), 1);
    T_EQ_INT(count_ops(P, 0, OP(SEND_STREAM)), 1);
}

TEST(driver_to_driver_needs_no_ops)
{
    t_ft f;
    t_ft_init(&f, t_none(), -1);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(P->nfrags, 1);
    T_EQ_INT(P->frags[0]->n_ops, 0);
    T_EQ_INT(P->from_vars[0], P->to_vars[0]);
    T_ASSERT(strstr(DESC, "driver: from 0 feeds v") != NULL, "%s", DESC);
}

TEST(unused_froms_get_no_var)
{
    t_ft f;
    t_ft_init(&f, t_rep(2), 100);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, JCS_STREAM_RAW, 1);
    BUILD_OK(&f.ft);
    T_EQ_INT(P->from_vars[0], -1);
    T_EQ_INT(P->from_vars[1], -1);
    T_EQ_INT(P->driver_frag, -1);
    T_EQ_INT(count_ops(P, 1, OP(SEND_STREAM)), 1);
}

TEST(driver_reads_of_one_block_are_ranged_in_the_block)
{
    t_ft f;
    t_ft_init(&f, t_ec(2, 3, 4096), 70000); /* blocks of 9 * 4096 bytes */
    t_from_shard(&f, 1, 1);
    t_from_shard(&f, 2, 2);
    t_to_driver(&f, 1, 100, 50);
    t_to_driver(&f, 0, 4096, -1);
    BUILD_OK(&f.ft);
    /* Block 1 directly; block 0 re-encoded from whole blocks 1 and 2, then ranged. */
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 3);
    T_EQ_INT(count_ops(P, ALL, OP(EC_MULTIPLY)), 1);
    T_EQ_INT(count_ops(P, ALL, OP(RANGE)), 1);
    const Jcs__Plan__Range *r = nth_op(P, OP(RANGE), 0)->range;
    T_EQ_INT(r->offset, 4096);
    T_EQ_INT(r->length, 8 * 4096);
    int ranged = 0;
    for (size_t i = 0; i < 3; i++) {
        const Jcs__Plan__ShardRead *sr = nth_op(P, OP(SHARD_READ), i)->shard_read;
        ranged += sr->offset == 100 && sr->length == 50;
    }
    T_EQ_INT(ranged, 1);
    t_to_driver(&f, 1, 9 * 4096, 1);
    T_EQ_INT(build(&f.ft), JCS_EINVAL);
    T_ASSERT(strstr(ERR, "tos[2]") && strstr(ERR, "36864-byte EC block"), "%s", ERR);
}

TEST(copies_of_unknown_size_read_to_the_end)
{
    t_ft f;
    t_ft_init(&f, t_none(), -1);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_to_shard(&f, JCS_STREAM_RAW, 1);
    t_to_driver(&f, JCS_STREAM_RAW, 10, -1);
    BUILD_OK(&f.ft);
    T_EQ_INT(count_ops(P, ALL, OP(SHARD_READ)), 2);
    T_ASSERT(strstr(DESC, "[0,+end) -> v") && strstr(DESC, "[10,+end) -> v"), "%s", DESC);
}

/* ---- bad FromTos ---- */

static int bad(t_ft *f, const char *want)
{
    int rc = build(&f->ft);
    if (rc != JCS_EINVAL) {
        t_fail(__FILE__, __LINE__, "expected EINVAL mentioning \"%s\", got %d (%s)", want, rc, ERR);
        return 0;
    }
    if (!strstr(ERR, want)) {
        t_fail(__FILE__, __LINE__, "error \"%s\" does not mention \"%s\"", ERR, want);
        return 0;
    }
    return 1;
}

TEST(bad_fromtos_are_refused_with_the_reason)
{
    t_ft f;
    t_ft_init(&f, t_ec(0, 3, 4096), 10);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, 0, 0);
    T_ASSERT(bad(&f, "k=0 n=3"));
    f.ft.red = t_ec(3, 3, 4096);
    T_ASSERT(bad(&f, "k=3 n=3"));
    f.ft.red = t_ec(2, 257, 4096);
    T_ASSERT(bad(&f, "n=257"));
    f.ft.red = t_ec(2, 3, 0);
    T_ASSERT(bad(&f, "chunk_size 0"));
    f.ft.red = t_rep(0);
    T_ASSERT(bad(&f, "rep_count 0"));

    /* A block To beyond n, and a block stream without ec. */
    t_ft_init(&f, t_ec(2, 3, 4096), 10);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, 3, 0);
    T_ASSERT(bad(&f, "tos[0]: EC block 3 out of range (n=3)"));
    t_ft_init(&f, t_rep(2), 10);
    t_from_shard(&f, 1, 0);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "froms[0]: stream 1 is an EC block but redundancy is not ec"));

    /* Shard ends without space or hub. */
    t_ft_init(&f, t_none(), 10);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    f.froms[0].hub = NULL;
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "froms[0]: shard end without a hub (space 100)"));
    f.froms[0].hub = t_hub(0);
    f.froms[0].space = NULL;
    T_ASSERT(bad(&f, "froms[0]: shard end without a space"));
    t_ft_init(&f, t_none(), 10);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, JCS_STREAM_RAW, 0);
    f.tos[0].hub = t_driver();
    T_ASSERT(bad(&f, "tos[0]: shard end on hub 0"));
    t_ft_init(&f, t_none(), 10);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    f.froms[0].file_hash = "";
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "froms[0]: shard on space 100 without a file hash"));

    /* Nothing can satisfy the To. */
    t_ft_init(&f, t_ec(3, 5, 4096), 10000);
    t_from_shard(&f, 0, 0);
    t_from_shard(&f, 4, 4);
    t_to_shard(&f, 1, 1);
    T_ASSERT(bad(&f, "tos[0]: no source for EC block 1: 2 of k=3 blocks and no raw From"));
    t_ft_init(&f, t_ec(3, 5, 4096), 10000);
    t_from_shard(&f, 0, 0);
    t_from_shard(&f, 4, 4);
    t_from_shard(&f, 0, 1); /* another copy of block 0 is not a third block */
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "tos[0]: no source for the raw stream: 2 of k=3 EC blocks"));
    t_ft_init(&f, t_none(), 10);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "tos[0]: no source for the raw stream"));
    t_ft_init(&f, t_none(), 10);
    t_from_driver(&f, JCS_STREAM_RAW);
    T_ASSERT(bad(&f, "no To"));

    /* Duplicates and contradictions. */
    t_ft_init(&f, t_rep(2), 10);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "froms[1]: duplicates froms[0] (space 100, stream -1)"));
    t_ft_init(&f, t_rep(2), 10);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_from_shard(&f, JCS_STREAM_RAW, 1);
    f.froms[1].file_hash = t_hash(7);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "froms[1]: stream -1 has hash"));
    t_ft_init(&f, t_none(), -1);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, JCS_STREAM_RAW, 0);
    T_ASSERT(bad(&f, "froms[1]: duplicates froms[0] (driver"));
    t_ft_init(&f, t_rep(2), -1);
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, JCS_STREAM_RAW, 0);
    t_to_shard(&f, JCS_STREAM_RAW, 0);
    T_ASSERT(bad(&f, "tos[1]: duplicates tos[0] (space 100, stream -1)"));
    t_ft_init(&f, t_none(), 10);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_to_driver(&f, JCS_STREAM_RAW, -1, 5);
    T_ASSERT(bad(&f, "tos[0]: bad range offset -1"));

    t_ft_init(&f, t_none(), 10);
    t_from_shard(&f, -5, 0);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "froms[0]: bad stream index -5"));
    t_ft_init(&f, t_none(), -2);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "object_size -2"));

    t_ft_init(&f, t_none(), 10);
    t_from_shard(&f, JCS_STREAM_RAW, 0);
    f.froms[0].kind = 7;
    t_to_driver(&f, JCS_STREAM_RAW, 0, -1);
    T_ASSERT(bad(&f, "froms[0]: unknown kind 7"));
    f.froms[0].kind = JCS_FROM_SHARD;
    f.tos[0].kind = 9;
    T_ASSERT(bad(&f, "tos[0]: unknown kind 9"));
    f.tos[0].kind = JCS_TO_DRIVER;
    f.ft.red.type = 5;
    T_ASSERT(bad(&f, "unknown redundancy type 5"));

    /* A split needs somewhere to run. */
    t_ft_init(&f, t_ec(2, 3, 4096), -1);
    f.ft.compute = NULL;
    t_from_driver(&f, JCS_STREAM_RAW);
    t_to_shard(&f, 0, 0);
    T_ASSERT(bad(&f, "no compute worker"));
}

TEST(allocation_failures_are_enomem_and_leak_nothing)
{
    t_ft f;
    t_ft_init(&f, t_ec(4, 6, 4096), 100000);
    f.ft.compute = t_hub(6);
    int blocks[] = {0, 2, 4, 5};
    for (int i = 0; i < 4; i++)
        t_from_shard(&f, blocks[i], blocks[i]);
    t_to_driver(&f, JCS_STREAM_RAW, 5000, 30000);
    t_to_shard(&f, 1, 1);
    t_to_shard(&f, JCS_STREAM_RAW, 3);
    int ok = 0, n;
    for (n = 0; n < 2000 && !ok; n++) {
        jcs_plan *p = NULL;
        jcs_alloc_fail_after(n);
        int rc = jcs_plan_build(&f.ft, &p);
        jcs_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            jcs_plan_free(p);
        } else {
            T_EQ_INT(rc, JCS_ENOMEM);
            T_ASSERT(p == NULL);
        }
    }
    T_ASSERT(ok, "no build succeeded within %d allocations", n);
    T_ASSERT(n > 20, "the plan took only %d allocations", n);
    BUILD_OK(&f.ft);
}

TEST(ec_fit_shrinks_the_chunk_of_objects_under_one_strip)
{
    jcs_redundancy ec = t_ec(4, 6, 1 << 20);
    /* 4 KiB over k = 4: 1 KiB chunks, six blocks of 1 KiB (n/k of the object). */
    jcs_redundancy r = jcs_ec_fit(&ec, 4096);
    T_EQ_INT(r.chunk_size, 1024);
    T_EQ_INT(r.k, 4);
    T_EQ_INT(r.n, 6);
    T_EQ_INT(jcs_ec_block_size(&r, 4096), 1024);
    /* Rounded up to JCS_EC_CHUNK_ALIGN; at least that much for tiny and empty objects. */
    T_EQ_INT(jcs_ec_fit(&ec, 4097).chunk_size, 1088);
    T_EQ_INT(jcs_ec_fit(&ec, 1).chunk_size, JCS_EC_CHUNK_ALIGN);
    T_EQ_INT(jcs_ec_fit(&ec, 0).chunk_size, JCS_EC_CHUNK_ALIGN);
    T_EQ_INT(jcs_ec_block_size(&r, 0), 0);
    /* One strip or more, or an unknown size: the configured chunk. */
    T_EQ_INT(jcs_ec_fit(&ec, 4 << 20).chunk_size, 1 << 20);
    T_EQ_INT(jcs_ec_fit(&ec, (4 << 20) - 1).chunk_size, 1 << 20);
    T_EQ_INT(jcs_ec_fit(&ec, (4 << 20) - 257).chunk_size, (1 << 20) - 64);
    T_EQ_INT(jcs_ec_fit(&ec, 100 << 20).chunk_size, 1 << 20);
    T_EQ_INT(jcs_ec_fit(&ec, -1).chunk_size, 1 << 20);
    /* Never above the configured chunk, even one that is not aligned. */
    jcs_redundancy odd = t_ec(3, 5, 100);
    T_EQ_INT(jcs_ec_fit(&odd, 299).chunk_size, 100);
    T_EQ_INT(jcs_ec_fit(&odd, 150).chunk_size, 64);
    /* Copies are left alone. */
    jcs_redundancy rep = {.type = JCS_RED_REP, .rep_count = 3};
    T_EQ_INT(jcs_ec_fit(&rep, 10).type, JCS_RED_REP);
    /* The fitted layout still holds the object: k * chunk >= size. */
    for (int64_t sz = 0; sz < 5000; sz += 37) {
        jcs_redundancy f = jcs_ec_fit(&ec, sz);
        T_ASSERT((int64_t)f.k * f.chunk_size >= sz, "size %lld", (long long)sz);
    }
}
