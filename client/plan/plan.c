/*
 * plan.c - the planner: FromTo -> DAG -> fragments (see plan.h).
 *
 * Design note. The DAG lives in an arena owned by one build: nodes (one per
 * op, plus a node for each driver end) and streams (one per output slot of
 * a node, with the list of its uses). Parsing is demand driven: each To asks
 * for "stream X, bytes [off, off+len)" and the source functions either find
 * a node that already produces exactly that (same kind, same parameters,
 * same inputs: hash-consing by linear scan, the graphs are small) or add
 * one. That is how Tos share producers: two Tos of the same decoded object
 * share its reads, multiply and join; every EC block To of an upload shares
 * one split and one multiply, whose output rows are added as they are asked
 * for. Ranges are resolved while parsing: a raw shard read gets the range
 * itself, an EC read asks only for the strips that hold it.
 *
 * Because nodes are made only when a To asks for their output, nothing
 * is ever produced that nobody uses (multiply rows included), except the
 * outputs of a ChunkedSplit, which deals to all of them. Then the passes:
 * sink (an unused split output is drained by a Range of length 0 whose
 * empty output is appended to a Join in front of a used output of the same
 * split), clone (a stream with several uses gets a Clone), pin (a worker
 * per node) and generate (var ids, then one Fragment per worker, with
 * SendStream/GetStream at worker boundaries).
 */
#include "plan.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "util.h"
#include "buf.h"
#include "ec.h"

/* Caps that keep every size computation inside int64_t. */
#define MAX_CHUNK (INT64_C(1) << 30)
#define MAX_NODES 65536
#define DESC_CAP  (16u << 20)
#define ARENA_BLK 8192

/* ---- protobuf-c allocation through alloc.h ---- */

static void *pb_malloc(void *data, size_t n)
{
    (void)data;
    return jcs_malloc(n ? n : 1);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    jcs_free(p);
}

static ProtobufCAllocator pb_alloc = {pb_malloc, pb_free, NULL};

/* A deep copy of m made with alloc.h (freed with the fragment); NULL on ENOMEM. */
static void *copy_msg(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = jcs_malloc(n ? n : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *r = protobuf_c_message_unpack(m->descriptor, &pb_alloc, n, buf);
    jcs_free(buf);
    return r;
}

/* ---- arena ---- */

struct ablk {
    struct ablk *next;
    size_t used, cap;
    max_align_t mem[];
};

typedef struct arena {
    struct ablk *head;
} arena;

/* n zeroed bytes that live until arena_free; NULL on ENOMEM. */
static void *arena_alloc(arena *a, size_t n)
{
    size_t al = alignof(max_align_t);
    n = (n + al - 1) / al * al;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > ARENA_BLK ? n : ARENA_BLK;
        struct ablk *b = jcs_malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (unsigned char *)a->head->mem + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(arena *a)
{
    while (a->head) {
        struct ablk *next = a->head->next;
        jcs_free(a->head);
        a->head = next;
    }
}

/* ---- the DAG ---- */

enum nkind {
    N_DRIVER_FROM, /* virtual: the driver feeds its output */
    N_DRIVER_TO,   /* virtual: the driver drains its input */
    N_READ,
    N_WRITE,
    N_SPLIT,
    N_MULTIPLY,
    N_CJOIN,
    N_RANGE,
    N_JOIN,
    N_CLONE
};

struct node;

typedef struct use {
    struct node *node;
    int slot;
    struct use *next;
} use;

typedef struct stream {
    struct node *prod;
    use *uses;
    int nuses;
    int64_t len;          /* bytes, or -1 when unknown */
    int32_t var_p, var_q; /* var on the producer's / the consumer's worker */
} stream;

typedef struct node {
    enum nkind kind;
    int worker;       /* index in bld.workers, set by pin */
    int fi, ti;       /* the From / To this end or shard op serves, else -1 */
    int64_t off, len; /* read, range */
    int nin, nout, outcap;
    stream **in;
    stream **out;
    int *in_rows, *out_rows; /* multiply */
    int32_t result;          /* write: value var */
} node;

typedef struct bld {
    const jcs_fromto *ft;
    int k, n;
    struct jcs_ec *lrc; /* lrc: the codec, for choosing independent survivors */
    int64_t chunk;
    int64_t size;  /* object size or -1 */
    int64_t bsize; /* EC block size or -1 */
    arena ar;
    node **nodes;
    size_t nnodes, capnodes;
    stream **streams;
    size_t nstreams, capstreams;
    /* Workers: [0] is the driver. */
    const Jcs__Plan__Worker **workers;
    size_t nworkers;
    Jcs__Plan__Worker driver;
    int32_t next_var;
} bld;

static int push_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        if (nc > MAX_NODES)
            return jcs_err_set(JCS_ETOOBIG, "plan: more than %d nodes", MAX_NODES);
        void **a = jcs_realloc(*arr, nc * sizeof(*a));
        if (!a)
            return JCS_ENOMEM;
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*n)++] = p;
    return 0;
}

static int add_node(bld *b, enum nkind kind, int nin, int outcap, node **out)
{
    node *n = arena_alloc(&b->ar, sizeof(*n));
    if (!n)
        return JCS_ENOMEM;
    n->kind = kind;
    n->fi = n->ti = -1;
    n->nin = nin;
    n->outcap = outcap;
    if (nin && !(n->in = arena_alloc(&b->ar, (size_t)nin * sizeof(*n->in))))
        return JCS_ENOMEM;
    if (outcap && !(n->out = arena_alloc(&b->ar, (size_t)outcap * sizeof(*n->out))))
        return JCS_ENOMEM;
    int rc = push_ptr((void ***)&b->nodes, &b->nnodes, &b->capnodes, n);
    if (rc)
        return rc;
    *out = n;
    return 0;
}

/* A new stream appended to prod's outputs. */
static int add_stream(bld *b, node *prod, int64_t len, stream **out)
{
    if (prod->nout >= prod->outcap)
        return jcs_err_set(JCS_EINTERNAL, "plan: node kind %d has no free output", prod->kind);
    stream *s = arena_alloc(&b->ar, sizeof(*s));
    if (!s)
        return JCS_ENOMEM;
    s->prod = prod;
    s->len = len;
    s->var_p = s->var_q = -1;
    int rc = push_ptr((void ***)&b->streams, &b->nstreams, &b->capstreams, s);
    if (rc)
        return rc;
    prod->out[prod->nout++] = s;
    *out = s;
    return 0;
}

/* Makes s input `slot` of n. */
static int use_stream(bld *b, stream *s, node *n, int slot)
{
    use *u = arena_alloc(&b->ar, sizeof(*u));
    if (!u)
        return JCS_ENOMEM;
    u->node = n;
    u->slot = slot;
    u->next = s->uses;
    s->uses = u;
    s->nuses++;
    n->in[slot] = s;
    return 0;
}

/* ---- sources (parse) ---- */

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a / b + (a % b != 0);
}

/* The whole length of stream index `stream` (raw or a block), or -1. */
static int64_t whole_len(const bld *b, int sidx)
{
    return sidx == JCS_STREAM_RAW ? b->size : b->bsize;
}

/* The bytes [off, off+len) of s (len -1: to the end); s itself when that is all of it. */
static int op_range(bld *b, stream *s, int64_t off, int64_t len, stream **out)
{
    if (off == 0 && (len == -1 || (s->len >= 0 && len == s->len))) {
        *out = s;
        return 0;
    }
    for (size_t i = 0; i < b->nnodes; i++) {
        node *n = b->nodes[i];
        if (n->kind == N_RANGE && n->in[0] == s && n->off == off && n->len == len) {
            *out = n->out[0];
            return 0;
        }
    }
    /* Ranges were checked against the object size, so they fit in s. */
    int64_t olen = len >= 0 ? len : s->len >= 0 ? s->len - off : -1;
    node *n;
    int rc = add_node(b, N_RANGE, 1, 1, &n);
    if (rc)
        return rc;
    n->off = off;
    n->len = len;
    if ((rc = use_stream(b, s, n, 0)))
        return rc;
    return add_stream(b, n, olen, out);
}

/* The stream a driver From feeds. */
static int src_driver(bld *b, int fi, stream **out)
{
    for (size_t i = 0; i < b->nnodes; i++)
        if (b->nodes[i]->kind == N_DRIVER_FROM && b->nodes[i]->fi == fi) {
            *out = b->nodes[i]->out[0];
            return 0;
        }
    node *n;
    int rc = add_node(b, N_DRIVER_FROM, 0, 1, &n);
    if (rc)
        return rc;
    n->fi = fi;
    return add_stream(b, n, whole_len(b, b->ft->froms[fi].stream), out);
}

/* A ShardRead of [off, off+len) of From fi. */
static int src_read(bld *b, int fi, int64_t off, int64_t len, stream **out)
{
    for (size_t i = 0; i < b->nnodes; i++) {
        node *n = b->nodes[i];
        if (n->kind == N_READ && n->fi == fi && n->off == off && n->len == len) {
            *out = n->out[0];
            return 0;
        }
    }
    node *n;
    int rc = add_node(b, N_READ, 0, 1, &n);
    if (rc)
        return rc;
    n->fi = fi;
    n->off = off;
    n->len = len;
    int64_t whole = whole_len(b, b->ft->froms[fi].stream);
    int64_t slen = len >= 0 ? len : whole >= 0 ? whole - off : -1;
    return add_stream(b, n, slen, out);
}

/* Bytes [off, off+len) of From fi's stream. */
static int src_from(bld *b, int fi, int64_t off, int64_t len, stream **out)
{
    if (b->ft->froms[fi].kind == JCS_FROM_SHARD)
        return src_read(b, fi, off, len, out);
    stream *s;
    int rc = src_driver(b, fi, &s);
    if (rc)
        return rc;
    return op_range(b, s, off, len, out);
}

/* The one ChunkedSplit of raw into the k data blocks. */
static int op_split(bld *b, stream *raw, node **out)
{
    for (size_t i = 0; i < b->nnodes; i++)
        if (b->nodes[i]->kind == N_SPLIT && b->nodes[i]->in[0] == raw) {
            *out = b->nodes[i];
            return 0;
        }
    node *n;
    int rc = add_node(b, N_SPLIT, 1, b->k, &n);
    if (rc)
        return rc;
    if ((rc = use_stream(b, raw, n, 0)))
        return rc;
    int64_t blen = raw->len >= 0 ? ceil_div(raw->len, (int64_t)b->k * b->chunk) * b->chunk : -1;
    for (int i = 0; i < b->k; i++) {
        stream *s;
        if ((rc = add_stream(b, n, blen, &s)))
            return rc;
    }
    *out = n;
    return 0;
}

/*
 * Output row `row` of the ECMultiply over the nin streams ins (carrying
 * rows in_rows): k of them for EC, any set that gives the row for LRC (a
 * local repair reads only the rest of a group). One multiply per input
 * list; rows are added as they are asked.
 */
static int op_multiply_n(bld *b, stream **ins, const int *in_rows, int nin, int row, stream **out)
{
    node *m = NULL;
    for (size_t i = 0; i < b->nnodes && !m; i++) {
        node *n = b->nodes[i];
        if (n->kind != N_MULTIPLY || n->nin != nin)
            continue;
        int same = 1;
        for (int j = 0; j < nin && same; j++)
            same = n->in[j] == ins[j] && n->in_rows[j] == in_rows[j];
        if (same)
            m = n;
    }
    int rc;
    if (!m) {
        if ((rc = add_node(b, N_MULTIPLY, nin, b->n, &m)))
            return rc;
        m->in_rows = arena_alloc(&b->ar, (size_t)nin * sizeof(int));
        m->out_rows = arena_alloc(&b->ar, (size_t)b->n * sizeof(int));
        if (!m->in_rows || !m->out_rows)
            return JCS_ENOMEM;
        for (int j = 0; j < nin; j++) {
            m->in_rows[j] = in_rows[j];
            if ((rc = use_stream(b, ins[j], m, j)))
                return rc;
        }
    }
    for (int j = 0; j < m->nout; j++)
        if (m->out_rows[j] == row) {
            *out = m->out[j];
            return 0;
        }
    m->out_rows[m->nout] = row;
    return add_stream(b, m, ins[0]->len, out);
}

/* Output row `row` of the ECMultiply over k streams (any k that span the code). */
static int op_multiply(bld *b, stream **ins, const int *in_rows, int row, stream **out)
{
    return op_multiply_n(b, ins, in_rows, b->k, row, out);
}

static int op_cjoin(bld *b, stream **ins, stream **out)
{
    for (size_t i = 0; i < b->nnodes; i++) {
        node *n = b->nodes[i];
        if (n->kind != N_CJOIN)
            continue;
        int same = 1;
        for (int j = 0; j < b->k && same; j++)
            same = n->in[j] == ins[j];
        if (same) {
            *out = n->out[0];
            return 0;
        }
    }
    node *n;
    int rc = add_node(b, N_CJOIN, b->k, 1, &n);
    if (rc)
        return rc;
    int64_t len = 0;
    for (int j = 0; j < b->k; j++) {
        if ((rc = use_stream(b, ins[j], n, j)))
            return rc;
        len = (len < 0 || ins[j]->len < 0) ? -1 : len + ins[j]->len;
    }
    return add_stream(b, n, len, out);
}

/* The first raw From, or -1. */
static int first_raw(const bld *b)
{
    for (size_t i = 0; i < b->ft->nfroms; i++)
        if (b->ft->froms[i].stream == JCS_STREAM_RAW)
            return (int)i;
    return -1;
}

/*
 * The first k distinct EC blocks among the Froms, in listed order: fis[j]
 * serves block rows[j]. Returns how many were found (at most k).
 */
static int choose_blocks(const bld *b, int *fis, int *rows)
{
    int got = 0;
    for (size_t i = 0; i < b->ft->nfroms && got < b->k; i++) {
        int s = b->ft->froms[i].stream;
        if (s < 0)
            continue;
        int dup = 0;
        for (int j = 0; j < got; j++)
            dup |= rows[j] == s;
        if (dup)
            continue;
        /* In an LRC not every k blocks span the code: skip one that adds nothing. */
        if (b->lrc) {
            rows[got] = s;
            if (jcs_ec_rank(b->lrc, rows, got + 1) <= got)
                continue;
        }
        fis[got] = (int)i;
        rows[got] = s;
        got++;
    }
    return got;
}

/* Raw bytes [off, off+len) for To ti (range already checked against the size). */
static int want_raw(bld *b, size_t ti, int64_t off, int64_t len, stream **out)
{
    int fi = first_raw(b);
    if (fi >= 0)
        return src_from(b, fi, off, len, out);
    if (!jcs_red_coded(&b->ft->red))
        return jcs_err_set(JCS_EINVAL, "tos[%zu]: no source for the raw stream (no raw From)", ti);
    int fis[JCS_EC_MAX_N], rows[JCS_EC_MAX_N];
    int got = choose_blocks(b, fis, rows);
    if (got < b->k)
        return jcs_err_set(JCS_EINVAL,
                           "tos[%zu]: no source for the raw stream: %d of k=%d EC blocks and "
                           "no raw From",
                           ti, got, b->k);
    if (b->size < 0)
        return jcs_err_set(JCS_EINVAL, "tos[%zu]: object_size unknown; decoding EC blocks needs it",
                           ti);
    /* Only the strips s0..s1-1 that hold the range are read. */
    int64_t strip = (int64_t)b->k * b->chunk;
    int64_t s0, s1;
    if (len == 0) {
        s0 = s1 = off / strip; /* off <= size, so at most the strip count */
    } else {
        s0 = off / strip;
        s1 = ceil_div(off + len, strip);
    }
    stream *ins[JCS_EC_MAX_N], *data[JCS_EC_MAX_N];
    int rc;
    for (int j = 0; j < b->k; j++)
        if ((rc = src_from(b, fis[j], s0 * b->chunk, (s1 - s0) * b->chunk, &ins[j])))
            return rc;
    /*
     * Data rows that are inputs pass through to the join, but only those
     * before the first missing row. A passed-through row is cloned into the
     * join and the multiply; if the join wanted a computed row before it,
     * the join would wait for the multiply, which waits for the whole chunk
     * of the passed-through row, which the clone cannot deliver while the
     * join is not reading its other output: with EC chunks larger than a
     * pipe holds, a deadlock. Such rows come out of the multiply as copies
     * instead, in join order.
     */
    int first_missing = b->k;
    for (int r = 0; r < b->k && first_missing == b->k; r++) {
        int have = 0;
        for (int j = 0; j < b->k; j++)
            have |= rows[j] == r;
        if (!have)
            first_missing = r;
    }
    for (int r = 0; r < b->k; r++) {
        data[r] = NULL;
        for (int j = 0; j < b->k && r < first_missing; j++)
            if (rows[j] == r)
                data[r] = ins[j];
        if (!data[r] && (rc = op_multiply(b, ins, rows, r, &data[r])))
            return rc;
    }
    stream *joined;
    if ((rc = op_cjoin(b, data, &joined)))
        return rc;
    return op_range(b, joined, len == 0 ? 0 : off - s0 * strip, len, out);
}

/*
 * For an LRC block blk in a local group: when every other block of the
 * group is a From, fills fis/rows with them (the group's blocks in order,
 * then its parity) and returns how many; else 0. Those rebuild blk alone,
 * reading a group instead of k blocks.
 */
static int local_group(const bld *b, int blk, int *fis, int *rows)
{
    const jcs_redundancy *red = &b->ft->red;
    int first, count;
    if (!b->lrc || jcs_lrc_group_of(red, blk, &first, &count) < 0)
        return 0;
    int parity = jcs_red_global_n(red) + jcs_lrc_group_of(red, blk, NULL, NULL), got = 0;
    for (int r = first; r <= first + count; r++) {
        int want = r == first + count ? parity : r;
        if (want == blk)
            continue;
        int fi = -1;
        for (size_t i = 0; i < b->ft->nfroms && fi < 0; i++)
            if (b->ft->froms[i].stream == want)
                fi = (int)i;
        if (fi < 0)
            return 0;
        fis[got] = fi;
        rows[got++] = want;
    }
    return got;
}

/* Bytes [off, off+len) of EC block `blk` for To ti. */
static int want_block(bld *b, size_t ti, int blk, int64_t off, int64_t len, stream **out)
{
    const jcs_fromto *ft = b->ft;
    for (size_t i = 0; i < ft->nfroms; i++)
        if (ft->froms[i].stream == blk)
            return src_from(b, (int)i, off, len, out);
    int fis[JCS_EC_MAX_N], rows[JCS_EC_MAX_N];
    stream *ins[JCS_EC_MAX_N], *s;
    int rc, nloc = local_group(b, blk, fis, rows);
    if (nloc > 0) {
        /* LRC repair inside the group: its other blocks, whole, nothing else. */
        for (int j = 0; j < nloc; j++)
            if ((rc = src_from(b, fis[j], 0, b->bsize, &ins[j])))
                return rc;
        if ((rc = op_multiply_n(b, ins, rows, nloc, blk, &s)))
            return rc;
        return op_range(b, s, off, len, out);
    }
    int got = choose_blocks(b, fis, rows);
    if (got == b->k) {
        /* Repair: re-encode block blk from k others, whole blocks, no join. */
        for (int j = 0; j < b->k; j++)
            if ((rc = src_from(b, fis[j], 0, b->bsize, &ins[j])))
                return rc;
        if ((rc = op_multiply(b, ins, rows, blk, &s)))
            return rc;
        return op_range(b, s, off, len, out);
    }
    int fi = first_raw(b);
    if (fi < 0)
        return jcs_err_set(JCS_EINVAL,
                           "tos[%zu]: no source for EC block %d: %d of k=%d blocks and no raw "
                           "From",
                           ti, blk, got, b->k);
    stream *raw;
    node *split;
    if ((rc = src_from(b, fi, 0, b->size, &raw)) || (rc = op_split(b, raw, &split)))
        return rc;
    if (blk < b->k) {
        s = split->out[blk];
    } else {
        int drows[JCS_EC_MAX_N];
        for (int j = 0; j < b->k; j++)
            drows[j] = j;
        if ((rc = op_multiply(b, split->out, drows, blk, &s)))
            return rc;
    }
    return op_range(b, s, off, len, out);
}

/* ---- validation ---- */

static int check_red(const jcs_redundancy *r)
{
    switch (r->type) {
    case JCS_RED_NONE:
        return 0;
    case JCS_RED_REP:
        if (r->rep_count < 1)
            return jcs_err_set(JCS_EINVAL, "fromto: rep redundancy with rep_count %d (need >= 1)",
                               r->rep_count);
        return 0;
    case JCS_RED_EC:
        if (r->k < 1 || r->n <= r->k || r->n > JCS_EC_MAX_N)
            return jcs_err_set(JCS_EINVAL, "fromto: ec k=%d n=%d (need 1 <= k < n <= %d)", r->k,
                               r->n, JCS_EC_MAX_N);
        if (r->chunk_size <= 0 || r->chunk_size > MAX_CHUNK)
            return jcs_err_set(JCS_EINVAL,
                               "fromto: ec chunk_size %" PRId64 " (need 1..%" PRId64 ")",
                               r->chunk_size, MAX_CHUNK);
        return 0;
    case JCS_RED_LRC:
        if (r->ngroups < 1 || r->ngroups > JCS_LRC_MAX_GROUPS)
            return jcs_err_set(JCS_EINVAL, "fromto: lrc with %d groups (need 1..%d)", r->ngroups,
                               JCS_LRC_MAX_GROUPS);
        if (r->chunk_size <= 0 || r->chunk_size > MAX_CHUNK)
            return jcs_err_set(JCS_EINVAL,
                               "fromto: lrc chunk_size %" PRId64 " (need 1..%" PRId64 ")",
                               r->chunk_size, MAX_CHUNK);
        return 0; /* the layout itself is checked by jcs_ec_new_lrc in jcs_plan_build */
    }
    return jcs_err_set(JCS_EINVAL, "fromto: unknown redundancy type %d", (int)r->type);
}

static int check_stream(const jcs_fromto *ft, const char *what, size_t i, int sidx)
{
    if (sidx == JCS_STREAM_RAW)
        return 0;
    if (sidx < 0)
        return jcs_err_set(JCS_EINVAL, "%s[%zu]: bad stream index %d", what, i, sidx);
    if (!jcs_red_coded(&ft->red))
        return jcs_err_set(JCS_EINVAL, "%s[%zu]: stream %d is an EC block but redundancy is not ec",
                           what, i, sidx);
    if (sidx >= ft->red.n)
        return jcs_err_set(JCS_EINVAL, "%s[%zu]: EC block %d out of range (n=%d)", what, i, sidx,
                           ft->red.n);
    return 0;
}

static int check_hub(const char *what, size_t i, const Jcs__Plan__Space *space,
                     const Jcs__Plan__Worker *hub)
{
    if (!space)
        return jcs_err_set(JCS_EINVAL, "%s[%zu]: shard end without a space", what, i);
    if (!hub)
        return jcs_err_set(JCS_EINVAL, "%s[%zu]: shard end without a hub (space %" PRId64 ")", what,
                           i, space->space_id);
    if (hub->hub_id <= 0)
        return jcs_err_set(JCS_EINVAL,
                           "%s[%zu]: shard end on hub %" PRId64 " (space %" PRId64
                           "); a shard needs a hub id > 0",
                           what, i, hub->hub_id, space->space_id);
    return 0;
}

static int check_fromto(const jcs_fromto *ft)
{
    int rc = check_red(&ft->red);
    if (rc)
        return rc;
    if (ft->object_size < -1)
        return jcs_err_set(JCS_EINVAL, "fromto: object_size %" PRId64, ft->object_size);
    if (ft->ntos == 0 || !ft->tos)
        return jcs_err_set(JCS_EINVAL, "fromto: no To");
    if (ft->nfroms && !ft->froms)
        return jcs_err_set(JCS_EINVAL, "fromto: nfroms %zu but no froms", ft->nfroms);
    if (ft->compute && ft->compute->hub_id < 0)
        return jcs_err_set(JCS_EINVAL, "fromto: compute worker has hub id %" PRId64,
                           ft->compute->hub_id);
    for (size_t i = 0; i < ft->nfroms; i++) {
        const jcs_plan_from *f = &ft->froms[i];
        if (f->kind != JCS_FROM_DRIVER && f->kind != JCS_FROM_SHARD)
            return jcs_err_set(JCS_EINVAL, "froms[%zu]: unknown kind %d", i, (int)f->kind);
        if ((rc = check_stream(ft, "froms", i, f->stream)))
            return rc;
        if (f->kind == JCS_FROM_SHARD) {
            if ((rc = check_hub("froms", i, f->space, f->hub)))
                return rc;
            if (!f->file_hash || !f->file_hash[0])
                return jcs_err_set(JCS_EINVAL,
                                   "froms[%zu]: shard on space %" PRId64 " without a file hash", i,
                                   f->space->space_id);
        }
        for (size_t j = 0; j < i; j++) {
            const jcs_plan_from *g = &ft->froms[j];
            if (g->stream != f->stream)
                continue;
            if (f->kind == JCS_FROM_DRIVER && g->kind == JCS_FROM_DRIVER)
                return jcs_err_set(JCS_EINVAL,
                                   "froms[%zu]: duplicates froms[%zu] (driver, stream %d)", i, j,
                                   f->stream);
            if (f->kind != JCS_FROM_SHARD || g->kind != JCS_FROM_SHARD)
                continue;
            if (strcmp(f->file_hash, g->file_hash) != 0)
                return jcs_err_set(JCS_EINVAL,
                                   "froms[%zu]: stream %d has hash %s but froms[%zu] says %s", i,
                                   f->stream, f->file_hash, j, g->file_hash);
            if (f->space->space_id == g->space->space_id)
                return jcs_err_set(
                    JCS_EINVAL, "froms[%zu]: duplicates froms[%zu] (space %" PRId64 ", stream %d)",
                    i, j, f->space->space_id, f->stream);
        }
    }
    for (size_t i = 0; i < ft->ntos; i++) {
        const jcs_plan_to *t = &ft->tos[i];
        if (t->kind != JCS_TO_DRIVER && t->kind != JCS_TO_SHARD)
            return jcs_err_set(JCS_EINVAL, "tos[%zu]: unknown kind %d", i, (int)t->kind);
        if ((rc = check_stream(ft, "tos", i, t->stream)))
            return rc;
        if (t->kind == JCS_TO_DRIVER && (t->offset < 0 || t->length < -1))
            return jcs_err_set(JCS_EINVAL, "tos[%zu]: bad range offset %" PRId64 " length %" PRId64,
                               i, t->offset, t->length);
        if (t->kind != JCS_TO_SHARD)
            continue;
        if ((rc = check_hub("tos", i, t->space, t->hub)))
            return rc;
        for (size_t j = 0; j < i; j++) {
            const jcs_plan_to *u = &ft->tos[j];
            if (u->kind == JCS_TO_SHARD && u->stream == t->stream &&
                u->space->space_id == t->space->space_id)
                return jcs_err_set(JCS_EINVAL,
                                   "tos[%zu]: duplicates tos[%zu] (space %" PRId64 ", stream %d)",
                                   i, j, t->space->space_id, t->stream);
        }
    }
    return 0;
}

/* Resolves To ti's range against the stream's size: *off, *len with len >= 0 when known. */
static int to_range(const bld *b, size_t ti, int64_t *off, int64_t *len)
{
    const jcs_plan_to *t = &b->ft->tos[ti];
    int64_t whole = whole_len(b, t->stream);
    if (t->kind == JCS_TO_SHARD) {
        *off = 0;
        *len = whole;
        return 0;
    }
    *off = t->offset;
    *len = t->length;
    if (whole < 0)
        return 0;
    const char *what = t->stream == JCS_STREAM_RAW ? "object" : "EC block";
    if (*off > whole || (*len >= 0 && *len > whole - *off)) {
        if (*len < 0)
            return jcs_err_set(JCS_EINVAL,
                               "tos[%zu]: range [%" PRId64 ",+end) past the end of the %" PRId64
                               "-byte %s",
                               ti, *off, whole, what);
        return jcs_err_set(JCS_EINVAL,
                           "tos[%zu]: range [%" PRId64 ",+%" PRId64 ") past the end of the %" PRId64
                           "-byte %s",
                           ti, *off, *len, whole, what);
    }
    if (*len < 0)
        *len = whole - *off;
    return 0;
}

static int parse(bld *b)
{
    const jcs_fromto *ft = b->ft;
    for (size_t ti = 0; ti < ft->ntos; ti++) {
        const jcs_plan_to *t = &ft->tos[ti];
        int64_t off, len;
        stream *s;
        int rc = to_range(b, ti, &off, &len);
        if (rc)
            return rc;
        if (t->stream == JCS_STREAM_RAW)
            rc = want_raw(b, ti, off, len, &s);
        else
            rc = want_block(b, ti, t->stream, off, len, &s);
        if (rc)
            return rc;
        node *n;
        if ((rc = add_node(b, t->kind == JCS_TO_DRIVER ? N_DRIVER_TO : N_WRITE, 1, 0, &n)))
            return rc;
        n->ti = (int)ti;
        if ((rc = use_stream(b, s, n, 0)))
            return rc;
    }
    return 0;
}

/* ---- passes ---- */

/* Moves every use of s to t. */
static void move_uses(stream *s, stream *t)
{
    for (use *u = s->uses; u; u = u->next)
        u->node->in[u->slot] = t;
    use *last = s->uses;
    while (last && last->next)
        last = last->next;
    if (last) {
        last->next = t->uses;
        t->uses = s->uses;
        t->nuses += s->nuses;
    }
    s->uses = NULL;
    s->nuses = 0;
}

/*
 * A split deals chunks to all its outputs, so an output nobody wants must
 * still be read: a Range of length 0 drains it, and a Join in front of a
 * used output of the same split consumes the Range's empty output.
 */
static int sink_splits(bld *b)
{
    size_t nn = b->nnodes;
    for (size_t i = 0; i < nn; i++) {
        node *sp = b->nodes[i];
        if (sp->kind != N_SPLIT)
            continue;
        int unused = 0, first_used = -1;
        for (int j = 0; j < sp->nout; j++) {
            if (sp->out[j]->nuses == 0)
                unused++;
            else if (first_used < 0)
                first_used = j;
        }
        if (!unused || first_used < 0)
            continue;
        node *join;
        stream *joined, *u = sp->out[first_used];
        int rc = add_node(b, N_JOIN, 1 + unused, 1, &join);
        if (rc || (rc = add_stream(b, join, u->len, &joined)))
            return rc;
        move_uses(u, joined);
        if ((rc = use_stream(b, u, join, 0)))
            return rc;
        int slot = 1;
        for (int j = 0; j < sp->nout; j++) {
            if (sp->out[j]->nuses || j == first_used)
                continue;
            node *r;
            stream *empty;
            if ((rc = add_node(b, N_RANGE, 1, 1, &r)))
                return rc;
            r->off = 0;
            r->len = 0;
            if ((rc = use_stream(b, sp->out[j], r, 0)) || (rc = add_stream(b, r, 0, &empty)) ||
                (rc = use_stream(b, empty, join, slot++)))
                return rc;
        }
    }
    return 0;
}

/* A stream with several uses feeds a Clone with one output per use. */
static int insert_clones(bld *b)
{
    size_t ns = b->nstreams;
    for (size_t i = 0; i < ns; i++) {
        stream *s = b->streams[i];
        if (s->nuses < 2)
            continue;
        node *c;
        int rc = add_node(b, N_CLONE, 1, s->nuses, &c);
        if (rc)
            return rc;
        use *uses = s->uses;
        s->uses = NULL;
        s->nuses = 0;
        for (use *u = uses; u; u = u->next) {
            stream *o;
            if ((rc = add_stream(b, c, s->len, &o)) || (rc = use_stream(b, o, u->node, u->slot)))
                return rc;
        }
        if ((rc = use_stream(b, s, c, 0)))
            return rc;
    }
    return 0;
}

static int worker_index(bld *b, const Jcs__Plan__Worker *w)
{
    if (w->hub_id == 0)
        return 0;
    for (size_t i = 1; i < b->nworkers; i++)
        if (b->workers[i]->hub_id == w->hub_id)
            return (int)i;
    b->workers[b->nworkers] = w;
    return (int)b->nworkers++;
}

static int pin(bld *b)
{
    const jcs_fromto *ft = b->ft;
    size_t cap = ft->nfroms + ft->ntos + 2;
    b->workers = jcs_calloc(cap, sizeof(*b->workers));
    if (!b->workers)
        return JCS_ENOMEM;
    b->workers[0] = ft->compute && ft->compute->hub_id == 0 ? ft->compute : &b->driver;
    b->nworkers = 1;
    for (size_t i = 0; i < b->nnodes; i++) {
        node *n = b->nodes[i];
        switch (n->kind) {
        case N_DRIVER_FROM:
        case N_DRIVER_TO:
            n->worker = 0;
            break;
        case N_READ:
            n->worker = worker_index(b, ft->froms[n->fi].hub);
            break;
        case N_WRITE:
            n->worker = worker_index(b, ft->tos[n->ti].hub);
            break;
        default:
            if (!ft->compute)
                return jcs_err_set(JCS_EINVAL, "fromto: no compute worker, but the plan needs one "
                                               "(split, multiply, join, range or clone)");
            n->worker = worker_index(b, ft->compute);
            break;
        }
    }
    return 0;
}

/* ---- generate ---- */

typedef struct wfrag {
    size_t nops, nresults;
    int has; /* the worker takes part */
    Jcs__Plan__Fragment *f;
} wfrag;

static int cmp_pair(const void *a, const void *b)
{
    const int *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static int32_t *int_array(size_t n)
{
    return jcs_malloc((n ? n : 1) * sizeof(int32_t));
}

/* A new op of kind `c` with its (initialized) message, attached to f. NULL on ENOMEM. */
static void *add_op(Jcs__Plan__Fragment *f, Jcs__Plan__Op__OpCase c,
                    const ProtobufCMessageDescriptor *d)
{
    Jcs__Plan__Op *op = jcs_malloc(sizeof(*op));
    if (!op)
        return NULL;
    jcs__plan__op__init(op);
    ProtobufCMessage *m = jcs_malloc(d->sizeof_message);
    if (!m) {
        jcs_free(op);
        return NULL;
    }
    d->message_init(m);
    op->op_case = c;
    /* Every member of the oneof is a message pointer at the same offset. */
    op->shard_read = (Jcs__Plan__ShardRead *)m;
    f->ops[f->n_ops++] = op;
    return m;
}

static int32_t in_var(const node *n, int j)
{
    return n->in[j]->var_q;
}

static int emit_node(bld *b, node *n, Jcs__Plan__Fragment *f)
{
    const jcs_fromto *ft = b->ft;
    switch (n->kind) {
    case N_DRIVER_FROM:
    case N_DRIVER_TO:
        return 0;
    case N_READ: {
        Jcs__Plan__ShardRead *m =
            add_op(f, JCS__PLAN__OP__OP_SHARD_READ, &jcs__plan__shard_read__descriptor);
        if (!m)
            return JCS_ENOMEM;
        m->offset = n->off;
        m->length = n->len;
        m->output = n->out[0]->var_p;
        if (!(m->space = copy_msg(&ft->froms[n->fi].space->base)) ||
            !(m->file_hash = jcs_strdup(ft->froms[n->fi].file_hash)))
            return JCS_ENOMEM;
        return 0;
    }
    case N_WRITE: {
        Jcs__Plan__ShardWrite *m =
            add_op(f, JCS__PLAN__OP__OP_SHARD_WRITE, &jcs__plan__shard_write__descriptor);
        if (!m)
            return JCS_ENOMEM;
        m->input = in_var(n, 0);
        m->result = n->result;
        f->results[f->n_results++] = n->result;
        if (!(m->space = copy_msg(&ft->tos[n->ti].space->base)))
            return JCS_ENOMEM;
        return 0;
    }
    case N_SPLIT: {
        Jcs__Plan__ChunkedSplit *m =
            add_op(f, JCS__PLAN__OP__OP_CHUNKED_SPLIT, &jcs__plan__chunked_split__descriptor);
        if (!m)
            return JCS_ENOMEM;
        m->input = in_var(n, 0);
        m->chunk_size = b->chunk;
        m->pad_last_strip = 1;
        if (!(m->outputs = int_array((size_t)n->nout)))
            return JCS_ENOMEM;
        m->n_outputs = (size_t)n->nout;
        for (int j = 0; j < n->nout; j++)
            m->outputs[j] = n->out[j]->var_p;
        return 0;
    }
    case N_MULTIPLY: {
        Jcs__Plan__ECMultiply *m =
            add_op(f, JCS__PLAN__OP__OP_EC_MULTIPLY, &jcs__plan__ecmultiply__descriptor);
        if (!m)
            return JCS_ENOMEM;
        m->k = b->k;
        m->n = b->n;
        m->chunk_size = b->chunk;
        if (b->lrc) {
            const jcs_redundancy *red = &b->ft->red;
            if (!(m->groups = int_array((size_t)red->ngroups)))
                return JCS_ENOMEM;
            m->n_groups = (size_t)red->ngroups;
            for (int g = 0; g < red->ngroups; g++)
                m->groups[g] = red->groups[g];
        }
        size_t k = (size_t)n->nin, no = (size_t)n->nout;
        if (!(m->input_rows = int_array(k)))
            return JCS_ENOMEM;
        m->n_input_rows = k;
        if (!(m->inputs = int_array(k)))
            return JCS_ENOMEM;
        m->n_inputs = k;
        if (!(m->output_rows = int_array(no)))
            return JCS_ENOMEM;
        m->n_output_rows = no;
        if (!(m->outputs = int_array(no)))
            return JCS_ENOMEM;
        m->n_outputs = no;
        for (size_t j = 0; j < k; j++) {
            m->input_rows[j] = n->in_rows[j];
            m->inputs[j] = in_var(n, (int)j);
        }
        /* Output rows in ascending order, for stable plans and readable logs. */
        int pairs[2 * JCS_EC_MAX_N];
        for (size_t j = 0; j < no; j++) {
            pairs[2 * j] = n->out_rows[j];
            pairs[2 * j + 1] = n->out[j]->var_p;
        }
        qsort(pairs, no, 2 * sizeof(int), cmp_pair);
        for (size_t j = 0; j < no; j++) {
            m->output_rows[j] = pairs[2 * j];
            m->outputs[j] = pairs[2 * j + 1];
        }
        return 0;
    }
    case N_CJOIN:
    case N_JOIN: {
        int32_t **inputs;
        size_t *ninputs;
        if (n->kind == N_CJOIN) {
            Jcs__Plan__ChunkedJoin *m =
                add_op(f, JCS__PLAN__OP__OP_CHUNKED_JOIN, &jcs__plan__chunked_join__descriptor);
            if (!m)
                return JCS_ENOMEM;
            m->chunk_size = b->chunk;
            m->output = n->out[0]->var_p;
            inputs = &m->inputs;
            ninputs = &m->n_inputs;
        } else {
            Jcs__Plan__Join *m = add_op(f, JCS__PLAN__OP__OP_JOIN, &jcs__plan__join__descriptor);
            if (!m)
                return JCS_ENOMEM;
            m->output = n->out[0]->var_p;
            inputs = &m->inputs;
            ninputs = &m->n_inputs;
        }
        if (!(*inputs = int_array((size_t)n->nin)))
            return JCS_ENOMEM;
        *ninputs = (size_t)n->nin;
        for (int j = 0; j < n->nin; j++)
            (*inputs)[j] = in_var(n, j);
        return 0;
    }
    case N_RANGE: {
        Jcs__Plan__Range *m = add_op(f, JCS__PLAN__OP__OP_RANGE, &jcs__plan__range__descriptor);
        if (!m)
            return JCS_ENOMEM;
        m->input = in_var(n, 0);
        m->offset = n->off;
        m->length = n->len;
        m->output = n->out[0]->var_p;
        return 0;
    }
    case N_CLONE: {
        Jcs__Plan__Clone *m = add_op(f, JCS__PLAN__OP__OP_CLONE, &jcs__plan__clone__descriptor);
        if (!m)
            return JCS_ENOMEM;
        m->input = in_var(n, 0);
        if (!(m->outputs = int_array((size_t)n->nout)))
            return JCS_ENOMEM;
        m->n_outputs = (size_t)n->nout;
        for (int j = 0; j < n->nout; j++)
            m->outputs[j] = n->out[j]->var_p;
        return 0;
    }
    }
    return jcs_err_set(JCS_EINTERNAL, "plan: node kind %d", (int)n->kind);
}

/* The one use of a stream after insert_clones. */
static node *consumer(const stream *s)
{
    return s->uses ? s->uses->node : NULL;
}

static int emit_edge(bld *b, stream *s, wfrag *wf)
{
    node *c = consumer(s);
    int pw = s->prod->worker, cw = c->worker;
    if (pw == cw)
        return 0;
    const Jcs__Plan__Worker *to = b->workers[cw], *from = b->workers[pw];
    if (to->hub_id > 0) {
        Jcs__Plan__SendStream *m =
            add_op(wf[pw].f, JCS__PLAN__OP__OP_SEND_STREAM, &jcs__plan__send_stream__descriptor);
        if (!m)
            return JCS_ENOMEM;
        m->input = s->var_p;
        m->remote_var = s->var_q;
        if (!(m->to = copy_msg(&to->base)))
            return JCS_ENOMEM;
        return 0;
    }
    Jcs__Plan__GetStream *m =
        add_op(wf[cw].f, JCS__PLAN__OP__OP_GET_STREAM, &jcs__plan__get_stream__descriptor);
    if (!m)
        return JCS_ENOMEM;
    m->remote_var = s->var_p;
    m->output = s->var_q;
    if (!(m->from = copy_msg(&from->base)))
        return JCS_ENOMEM;
    return 0;
}

static int generate(bld *b, jcs_plan *p)
{
    const jcs_fromto *ft = b->ft;
    int rc = 0;
    wfrag *wf = jcs_calloc(b->nworkers, sizeof(*wf));
    if (!wf)
        return JCS_ENOMEM;

    /* Vars: one per stream end, so a var names one pipe on one worker. */
    b->next_var = 1;
    for (size_t i = 0; i < b->nstreams; i++) {
        stream *s = b->streams[i];
        node *c = consumer(s);
        if (!c) {
            rc = jcs_err_set(JCS_EINTERNAL, "plan: stream without a consumer");
            goto out;
        }
        s->var_p = b->next_var++;
        s->var_q = c->worker == s->prod->worker ? s->var_p : b->next_var++;
        wf[s->prod->worker].has = 1;
        wf[c->worker].has = 1;
        if (c->worker != s->prod->worker)
            wf[b->workers[c->worker]->hub_id > 0 ? s->prod->worker : c->worker].nops++;
    }
    for (size_t i = 0; i < b->nnodes; i++) {
        node *n = b->nodes[i];
        wf[n->worker].has = 1;
        if (n->kind != N_DRIVER_FROM && n->kind != N_DRIVER_TO)
            wf[n->worker].nops++;
        if (n->kind == N_WRITE) {
            n->result = b->next_var++;
            wf[n->worker].nresults++;
        }
    }

    p->driver_frag = -1;
    if (!(p->frags = jcs_calloc(b->nworkers, sizeof(*p->frags)))) {
        rc = JCS_ENOMEM;
        goto out;
    }
    for (size_t w = 0; w < b->nworkers; w++) {
        if (!wf[w].has)
            continue;
        Jcs__Plan__Fragment *f = jcs_malloc(sizeof(*f));
        if (!f) {
            rc = JCS_ENOMEM;
            goto out;
        }
        jcs__plan__fragment__init(f);
        p->frags[p->nfrags] = f;
        if (w == 0)
            p->driver_frag = (int)p->nfrags;
        p->nfrags++;
        wf[w].f = f;
        if (!(f->plan_id = jcs_strdup(p->plan_id)) ||
            !(f->worker = copy_msg(&b->workers[w]->base))) {
            rc = JCS_ENOMEM;
            goto out;
        }
        if (wf[w].nops && !(f->ops = jcs_calloc(wf[w].nops, sizeof(*f->ops)))) {
            rc = JCS_ENOMEM;
            goto out;
        }
        if (wf[w].nresults && !(f->results = int_array(wf[w].nresults))) {
            rc = JCS_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < b->nnodes; i++) {
        node *n = b->nodes[i];
        if ((rc = emit_node(b, n, wf[n->worker].f)))
            goto out;
    }
    for (size_t i = 0; i < b->nstreams; i++)
        if ((rc = emit_edge(b, b->streams[i], wf)))
            goto out;

    for (size_t i = 0; i < ft->nfroms; i++)
        p->from_vars[i] = -1;
    for (size_t i = 0; i < b->nnodes; i++) {
        node *n = b->nodes[i];
        if (n->kind == N_DRIVER_FROM)
            p->from_vars[n->fi] = n->out[0]->var_p;
        else if (n->kind == N_DRIVER_TO)
            p->to_vars[n->ti] = n->in[0]->var_q;
        else if (n->kind == N_WRITE)
            p->to_vars[n->ti] = n->result;
        if (n->kind == N_DRIVER_TO || n->kind == N_WRITE) {
            for (size_t j = 0; j < p->nfrags; j++)
                if (p->frags[j] == wf[n->worker].f)
                    p->to_frags[n->ti] = (int)j;
        }
    }
out:
    jcs_free(wf);
    return rc;
}

/* ---- public ---- */

static int new_plan_id(char out[33])
{
    int rc = jcs_random_hex(out, 16);
    return rc ? jcs_err_wrap(rc, "a plan id: ") : 0;
}

int jcs_plan_build(const jcs_fromto *ft, jcs_plan **out)
{
    *out = NULL;
    if (!ft)
        return jcs_err_set(JCS_EINVAL, "fromto: NULL");
    int rc = check_fromto(ft);
    if (rc)
        return rc;
    bld b = {.ft = ft};
    jcs__plan__worker__init(&b.driver);
    b.size = ft->object_size;
    b.bsize = ft->object_size;
    if (jcs_red_coded(&ft->red)) {
        b.k = ft->red.k;
        b.n = ft->red.n;
        b.chunk = ft->red.chunk_size;
        b.bsize = jcs_ec_block_size(&ft->red, ft->object_size);
    }
    if (ft->red.type == JCS_RED_LRC &&
        (rc = jcs_ec_new_lrc(ft->red.k, ft->red.n, ft->red.groups, ft->red.ngroups, &b.lrc)))
        return jcs_err_wrap(rc, "fromto: ");
    jcs_plan *p = jcs_calloc(1, sizeof(*p));
    if (!p)
        return JCS_ENOMEM;
    p->driver_frag = -1;
    p->nfroms = ft->nfroms;
    p->ntos = ft->ntos;
    if (!(p->from_vars = jcs_calloc(ft->nfroms ? ft->nfroms : 1, sizeof(*p->from_vars))) ||
        !(p->to_vars = jcs_calloc(ft->ntos, sizeof(*p->to_vars))) ||
        !(p->to_frags = jcs_calloc(ft->ntos, sizeof(*p->to_frags)))) {
        rc = JCS_ENOMEM;
        goto out;
    }
    if ((rc = new_plan_id(p->plan_id)) || (rc = parse(&b)))
        goto out;
    if ((rc = sink_splits(&b)) || (rc = insert_clones(&b)) || (rc = pin(&b)) ||
        (rc = generate(&b, p)))
        goto out;
out:
    jcs_ec_free(b.lrc);
    arena_free(&b.ar);
    jcs_free(b.nodes);
    jcs_free(b.streams);
    jcs_free(b.workers);
    if (rc)
        jcs_plan_free(p);
    else
        *out = p;
    return rc;
}

void jcs_plan_free(jcs_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nfrags; i++)
        protobuf_c_message_free_unpacked(&p->frags[i]->base, &pb_alloc);
    jcs_free(p->frags);
    jcs_free(p->from_vars);
    jcs_free(p->to_vars);
    jcs_free(p->to_frags);
    jcs_free(p);
}

int64_t jcs_plan_shard_read_bytes(const jcs_plan *p, int64_t block_size)
{
    int64_t sum = 0;
    for (size_t i = 0; i < p->nfrags; i++)
        for (size_t j = 0; j < p->frags[i]->n_ops; j++) {
            const Jcs__Plan__Op *op = p->frags[i]->ops[j];
            if (op->op_case != JCS__PLAN__OP__OP_SHARD_READ)
                continue;
            const Jcs__Plan__ShardRead *r = op->shard_read;
            sum += r->length >= 0 ? r->length : block_size - r->offset;
        }
    return sum;
}

/* ---- describe ---- */

static int put_worker(jcs_buf *d, const Jcs__Plan__Worker *w)
{
    if (!w || w->hub_id == 0)
        return jcs_buf_printf(d, "driver");
    return jcs_buf_printf(d, "hub %" PRId64, w->hub_id);
}

static int put_vars(jcs_buf *d, const int32_t *v, size_t n)
{
    int rc = jcs_buf_printf(d, "[");
    for (size_t i = 0; i < n && !rc; i++)
        rc = jcs_buf_printf(d, "%sv%d", i ? "," : "", v[i]);
    return rc ? rc : jcs_buf_printf(d, "]");
}

static int put_ints(jcs_buf *d, const int32_t *v, size_t n)
{
    int rc = jcs_buf_printf(d, "[");
    for (size_t i = 0; i < n && !rc; i++)
        rc = jcs_buf_printf(d, "%s%d", i ? "," : "", v[i]);
    return rc ? rc : jcs_buf_printf(d, "]");
}

static int put_range(jcs_buf *d, int64_t off, int64_t len)
{
    if (len < 0)
        return jcs_buf_printf(d, "[%" PRId64 ",+end)", off);
    return jcs_buf_printf(d, "[%" PRId64 ",+%" PRId64 ")", off, len);
}

static int put_op(jcs_buf *d, const Jcs__Plan__Op *op)
{
    int rc = 0;
    switch (op->op_case) {
    case JCS__PLAN__OP__OP_SHARD_READ: {
        const Jcs__Plan__ShardRead *m = op->shard_read;
        int hl = m->file_hash && strlen(m->file_hash) > 8 ? 6 : 64;
        rc = jcs_buf_printf(d, "ShardRead space %" PRId64 " %.*s%s",
                            m->space ? m->space->space_id : -1, hl,
                            m->file_hash ? m->file_hash : "", hl == 6 ? ".." : "");
        if (!rc)
            rc = put_range(d, m->offset, m->length);
        return rc ? rc : jcs_buf_printf(d, " -> v%d", m->output);
    }
    case JCS__PLAN__OP__OP_SHARD_WRITE: {
        const Jcs__Plan__ShardWrite *m = op->shard_write;
        return jcs_buf_printf(d, "ShardWrite v%d -> space %" PRId64 ", result v%d", m->input,
                              m->space ? m->space->space_id : -1, m->result);
    }
    case JCS__PLAN__OP__OP_CHUNKED_SPLIT: {
        const Jcs__Plan__ChunkedSplit *m = op->chunked_split;
        rc = jcs_buf_printf(d, "ChunkedSplit v%d chunk %" PRId64 "%s -> ", m->input, m->chunk_size,
                            m->pad_last_strip ? " padded" : "");
        return rc ? rc : put_vars(d, m->outputs, m->n_outputs);
    }
    case JCS__PLAN__OP__OP_EC_MULTIPLY: {
        const Jcs__Plan__ECMultiply *m = op->ec_multiply;
        rc =
            jcs_buf_printf(d, "ECMultiply k=%d n=%d chunk %" PRId64 " ", m->k, m->n, m->chunk_size);
        if (!rc && m->n_groups) {
            rc = jcs_buf_printf(d, "lrc groups ");
            if (!rc)
                rc = put_ints(d, m->groups, m->n_groups);
            if (!rc)
                rc = jcs_buf_printf(d, " ");
        }
        if (!rc)
            rc = jcs_buf_printf(d, "rows ");
        if (!rc)
            rc = put_ints(d, m->input_rows, m->n_input_rows);
        if (!rc)
            rc = put_vars(d, m->inputs, m->n_inputs);
        if (!rc)
            rc = jcs_buf_printf(d, " -> rows ");
        if (!rc)
            rc = put_ints(d, m->output_rows, m->n_output_rows);
        return rc ? rc : put_vars(d, m->outputs, m->n_outputs);
    }
    case JCS__PLAN__OP__OP_CHUNKED_JOIN: {
        const Jcs__Plan__ChunkedJoin *m = op->chunked_join;
        rc = jcs_buf_printf(d, "ChunkedJoin chunk %" PRId64 " ", m->chunk_size);
        if (!rc)
            rc = put_vars(d, m->inputs, m->n_inputs);
        return rc ? rc : jcs_buf_printf(d, " -> v%d", m->output);
    }
    case JCS__PLAN__OP__OP_RANGE: {
        const Jcs__Plan__Range *m = op->range;
        rc = jcs_buf_printf(d, "Range v%d ", m->input);
        if (!rc)
            rc = put_range(d, m->offset, m->length);
        return rc ? rc : jcs_buf_printf(d, " -> v%d", m->output);
    }
    case JCS__PLAN__OP__OP_JOIN: {
        const Jcs__Plan__Join *m = op->join;
        rc = jcs_buf_printf(d, "Join ");
        if (!rc)
            rc = put_vars(d, m->inputs, m->n_inputs);
        return rc ? rc : jcs_buf_printf(d, " -> v%d", m->output);
    }
    case JCS__PLAN__OP__OP_CLONE: {
        const Jcs__Plan__Clone *m = op->clone;
        rc = jcs_buf_printf(d, "Clone v%d -> ", m->input);
        return rc ? rc : put_vars(d, m->outputs, m->n_outputs);
    }
    case JCS__PLAN__OP__OP_SEND_STREAM:
        rc = jcs_buf_printf(d, "SendStream v%d -> ", op->send_stream->input);
        if (!rc)
            rc = put_worker(d, op->send_stream->to);
        return rc ? rc : jcs_buf_printf(d, " v%d", op->send_stream->remote_var);
    case JCS__PLAN__OP__OP_SEND_VAR:
        rc = jcs_buf_printf(d, "SendVar v%d -> ", op->send_var->input);
        if (!rc)
            rc = put_worker(d, op->send_var->to);
        return rc ? rc : jcs_buf_printf(d, " v%d", op->send_var->remote_var);
    case JCS__PLAN__OP__OP_GET_STREAM:
        rc = jcs_buf_printf(d, "GetStream ");
        if (!rc)
            rc = put_worker(d, op->get_stream->from);
        return rc ? rc
                  : jcs_buf_printf(d, " v%d -> v%d", op->get_stream->remote_var,
                                   op->get_stream->output);
    case JCS__PLAN__OP__OP_GET_VAR:
        rc = jcs_buf_printf(d, "GetVar ");
        if (!rc)
            rc = put_worker(d, op->get_var->from);
        return rc ? rc
                  : jcs_buf_printf(d, " v%d -> v%d", op->get_var->remote_var, op->get_var->output);
    case JCS__PLAN__OP__OP__NOT_SET:
    default:
        return jcs_buf_printf(d, "(unknown op %d)", (int)op->op_case);
    }
}

char *jcs_plan_describe(const jcs_plan *p)
{
    jcs_buf d;
    jcs_buf_init(&d, DESC_CAP);
    int rc = jcs_buf_printf(&d, "plan %s\n", p->plan_id);
    for (size_t i = 0; i < p->nfrags && !rc; i++) {
        const Jcs__Plan__Fragment *f = p->frags[i];
        for (size_t j = 0; j < f->n_ops && !rc; j++) {
            rc = put_worker(&d, f->worker);
            if (!rc)
                rc = jcs_buf_printf(&d, ": ");
            if (!rc)
                rc = put_op(&d, f->ops[j]);
            if (!rc)
                rc = jcs_buf_printf(&d, "\n");
        }
    }
    /* The driver's own ends: the vars its code feeds and drains. */
    if (p->driver_frag >= 0) {
        for (size_t i = 0; i < p->nfroms && !rc; i++)
            if (p->from_vars[i] >= 0)
                rc = jcs_buf_printf(&d, "driver: from %zu feeds v%d\n", i, p->from_vars[i]);
        for (size_t i = 0; i < p->ntos && !rc; i++)
            if (p->to_frags[i] == p->driver_frag)
                rc = jcs_buf_printf(&d, "driver: to %zu drains v%d\n", i, p->to_vars[i]);
    }
    if (rc) {
        jcs_buf_clear(&d);
        return NULL;
    }
    return jcs_buf_steal(&d);
}
