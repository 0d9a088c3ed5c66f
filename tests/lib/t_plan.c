/*
 * t_plan.c - FromTo fixtures and the plan checker (see t_plan.h).
 */
#include "t_plan.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static Jcs__Plan__Space spaces[T_NHUBS];
static Jcs__Plan__Worker hubs[T_NHUBS], driver;
static char addrs[T_NHUBS][32], roots[T_NHUBS][512], hashes[257][72];
static int ready;

static void setup(void)
{
    if (ready)
        return;
    ready = 1;
    jcs__plan__worker__init(&driver);
    for (int i = 0; i < T_NHUBS; i++) {
        jcs__plan__worker__init(&hubs[i]);
        hubs[i].hub_id = i + 1;
        snprintf(addrs[i], sizeof(addrs[i]), "hub%d:5010", i + 1);
        hubs[i].address = addrs[i];
        jcs__plan__space__init(&spaces[i]);
        spaces[i].space_id = 100 + i;
        spaces[i].type = "local";
        snprintf(roots[i], sizeof(roots[i]), "/nonexistent/space%d", i);
        spaces[i].root = roots[i];
    }
}

void t_plan_set_root(const char *dir)
{
    setup();
    for (int i = 0; i < T_NHUBS; i++)
        snprintf(roots[i], sizeof(roots[i]), "%s/space%d", dir, i);
}

jcs_redundancy t_none(void)
{
    jcs_redundancy r = {.type = JCS_RED_NONE};
    return r;
}

jcs_redundancy t_rep(int copies)
{
    jcs_redundancy r = {.type = JCS_RED_REP, .rep_count = copies};
    return r;
}

jcs_redundancy t_lrc(int k, int n, const int *groups, int ngroups, int64_t chunk)
{
    jcs_redundancy r = {.type = JCS_RED_LRC, .k = k, .n = n, .chunk_size = chunk};
    r.ngroups = ngroups;
    for (int i = 0; i < ngroups; i++)
        r.groups[i] = groups[i];
    return r;
}

jcs_redundancy t_ec(int k, int n, int64_t chunk)
{
    jcs_redundancy r = {.type = JCS_RED_EC, .k = k, .n = n, .chunk_size = chunk};
    return r;
}

const Jcs__Plan__Worker *t_hub(int i)
{
    setup();
    return &hubs[i];
}

const Jcs__Plan__Worker *t_driver(void)
{
    setup();
    return &driver;
}

const Jcs__Plan__Space *t_space(int i)
{
    setup();
    return &spaces[i];
}

const char *t_hash(int stream)
{
    int i = stream & 0xff;
    if (!hashes[i][0]) {
        snprintf(hashes[i], sizeof(hashes[i]), "Full%02X", i);
        memset(hashes[i] + 6, 'A', 62);
        hashes[i][68] = 0;
    }
    return hashes[i];
}

void t_ft_init(t_ft *f, jcs_redundancy red, int64_t object_size)
{
    setup();
    memset(f, 0, sizeof(*f));
    f->ft.red = red;
    f->ft.object_size = object_size;
    f->ft.froms = f->froms;
    f->ft.tos = f->tos;
    f->ft.compute = &driver;
}

void t_from_driver(t_ft *f, int stream)
{
    jcs_plan_from *x = &f->froms[f->ft.nfroms++];
    x->kind = JCS_FROM_DRIVER;
    x->stream = stream;
}

void t_from_shard(t_ft *f, int stream, int hub)
{
    jcs_plan_from *x = &f->froms[f->ft.nfroms++];
    x->kind = JCS_FROM_SHARD;
    x->stream = stream;
    x->space = &spaces[hub];
    x->hub = &hubs[hub];
    x->file_hash = t_hash(stream);
}

void t_to_driver(t_ft *f, int stream, int64_t off, int64_t len)
{
    jcs_plan_to *x = &f->tos[f->ft.ntos++];
    x->kind = JCS_TO_DRIVER;
    x->stream = stream;
    x->offset = off;
    x->length = len;
}

void t_to_shard(t_ft *f, int stream, int hub)
{
    jcs_plan_to *x = &f->tos[f->ft.ntos++];
    x->kind = JCS_TO_SHARD;
    x->stream = stream;
    x->space = &spaces[hub];
    x->hub = &hubs[hub];
}

/* ---- the checker ---- */

#define MAXV 8192

static struct vinfo {
    int prod, cons, seen;
    int64_t hub;
} V[MAXV];
static char why[512];

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(why, sizeof(why), __VA_ARGS__);                                               \
            return why;                                                                            \
        }                                                                                          \
    } while (0)

/* Records that var v is produced (prod 1) or consumed (prod 0) on hub. */
static const char *mention(int32_t v, int64_t hub, int prod)
{
    CHECK(v >= 1 && v < MAXV, "var %d out of range", v);
    CHECK(!V[v].seen || V[v].hub == hub, "v%d is used on hub %" PRId64 " and on hub %" PRId64, v,
          V[v].hub, hub);
    V[v].seen = 1;
    V[v].hub = hub;
    if (prod)
        V[v].prod++;
    else
        V[v].cons++;
    return NULL;
}

#define M(v, hub, prod)                                                                            \
    do {                                                                                           \
        const char *_w = mention((v), (hub), (prod));                                              \
        if (_w)                                                                                    \
            return _w;                                                                             \
    } while (0)

static const Jcs__Plan__Fragment *frag_on(const jcs_plan *p, int64_t hub)
{
    for (size_t i = 0; i < p->nfrags; i++)
        if (p->frags[i]->worker && p->frags[i]->worker->hub_id == hub)
            return p->frags[i];
    return NULL;
}

static int in_results(const Jcs__Plan__Fragment *f, int32_t v)
{
    for (size_t i = 0; i < f->n_results; i++)
        if (f->results[i] == v)
            return 1;
    return 0;
}

static const char *check_op(const jcs_plan *p, const jcs_fromto *ft, const Jcs__Plan__Fragment *f,
                            const Jcs__Plan__Op *op)
{
    int64_t w = f->worker->hub_id;
    int k = ft->red.k, n = ft->red.n;
    switch (op->op_case) {
    case JCS__PLAN__OP__OP_SHARD_READ: {
        const Jcs__Plan__ShardRead *m = op->shard_read;
        CHECK(m->space && m->file_hash && m->file_hash[0], "ShardRead without space or hash");
        int found = 0;
        for (size_t i = 0; i < ft->nfroms; i++)
            found |= ft->froms[i].kind == JCS_FROM_SHARD &&
                     ft->froms[i].space->space_id == m->space->space_id &&
                     ft->froms[i].hub->hub_id == w &&
                     strcmp(ft->froms[i].file_hash, m->file_hash) == 0;
        CHECK(found, "ShardRead of space %" PRId64 " on hub %" PRId64 " matches no From",
              m->space->space_id, w);
        M(m->output, w, 1);
        return NULL;
    }
    case JCS__PLAN__OP__OP_SHARD_WRITE: {
        const Jcs__Plan__ShardWrite *m = op->shard_write;
        CHECK(m->space, "ShardWrite without space");
        CHECK(in_results(f, m->result), "ShardWrite result v%d not in results", m->result);
        M(m->input, w, 0);
        M(m->result, w, 1);
        return NULL;
    }
    case JCS__PLAN__OP__OP_CHUNKED_SPLIT: {
        const Jcs__Plan__ChunkedSplit *m = op->chunked_split;
        CHECK(m->n_outputs == (size_t)k && m->chunk_size == ft->red.chunk_size,
              "ChunkedSplit with %zu outputs, chunk %" PRId64, m->n_outputs, m->chunk_size);
        M(m->input, w, 0);
        for (size_t i = 0; i < m->n_outputs; i++)
            M(m->outputs[i], w, 1);
        return NULL;
    }
    case JCS__PLAN__OP__OP_EC_MULTIPLY: {
        const Jcs__Plan__ECMultiply *m = op->ec_multiply;
        /* An LRC multiply (groups set) may read fewer or more than k rows: a group. */
        size_t nin = ft->red.type == JCS_RED_LRC ? m->n_inputs : (size_t)k;
        CHECK(m->k == k && m->n == n && m->n_inputs == nin && m->n_input_rows == nin && nin >= 1 &&
                  m->n_outputs == m->n_output_rows && m->n_outputs >= 1 &&
                  m->n_groups == (ft->red.type == JCS_RED_LRC ? (size_t)ft->red.ngroups : 0),
              "ECMultiply arity");
        for (size_t i = 0; i < m->n_input_rows; i++) {
            CHECK(m->input_rows[i] >= 0 && m->input_rows[i] < n, "ECMultiply input row");
            for (size_t j = 0; j < i; j++)
                CHECK(m->input_rows[i] != m->input_rows[j], "ECMultiply repeats input row");
            M(m->inputs[i], w, 0);
        }
        for (size_t i = 0; i < m->n_outputs; i++) {
            CHECK(m->output_rows[i] >= 0 && m->output_rows[i] < n, "ECMultiply output row");
            for (size_t j = 0; j < i; j++)
                CHECK(m->output_rows[i] != m->output_rows[j], "ECMultiply repeats output row");
            M(m->outputs[i], w, 1);
        }
        return NULL;
    }
    case JCS__PLAN__OP__OP_CHUNKED_JOIN: {
        const Jcs__Plan__ChunkedJoin *m = op->chunked_join;
        CHECK(m->n_inputs == (size_t)k && m->chunk_size == ft->red.chunk_size, "ChunkedJoin arity");
        for (size_t i = 0; i < m->n_inputs; i++)
            M(m->inputs[i], w, 0);
        M(m->output, w, 1);
        return NULL;
    }
    case JCS__PLAN__OP__OP_RANGE:
        CHECK(op->range->offset >= 0 && op->range->length >= -1, "Range bounds");
        M(op->range->input, w, 0);
        M(op->range->output, w, 1);
        return NULL;
    case JCS__PLAN__OP__OP_JOIN:
        CHECK(op->join->n_inputs >= 1, "Join without inputs");
        for (size_t i = 0; i < op->join->n_inputs; i++)
            M(op->join->inputs[i], w, 0);
        M(op->join->output, w, 1);
        return NULL;
    case JCS__PLAN__OP__OP_CLONE:
        CHECK(op->clone->n_outputs >= 2, "Clone with %zu outputs", op->clone->n_outputs);
        M(op->clone->input, w, 0);
        for (size_t i = 0; i < op->clone->n_outputs; i++)
            M(op->clone->outputs[i], w, 1);
        return NULL;
    case JCS__PLAN__OP__OP_SEND_STREAM: {
        const Jcs__Plan__SendStream *m = op->send_stream;
        CHECK(m->to && m->to->hub_id > 0 && m->to->hub_id != w, "SendStream target");
        CHECK(frag_on(p, m->to->hub_id), "SendStream to hub %" PRId64 " without a fragment",
              m->to->hub_id);
        M(m->input, w, 0);
        M(m->remote_var, m->to->hub_id, 1);
        return NULL;
    }
    case JCS__PLAN__OP__OP_GET_STREAM: {
        const Jcs__Plan__GetStream *m = op->get_stream;
        CHECK(w == 0, "GetStream on hub %" PRId64 " (only the driver pulls)", w);
        CHECK(m->from && m->from->hub_id > 0, "GetStream source");
        CHECK(frag_on(p, m->from->hub_id), "GetStream from hub %" PRId64 " without a fragment",
              m->from->hub_id);
        M(m->output, w, 1);
        M(m->remote_var, m->from->hub_id, 0);
        return NULL;
    }
    default:
        CHECK(0, "unexpected op case %d", (int)op->op_case);
    }
    return NULL;
}

const char *t_plan_check(const jcs_plan *p, const jcs_fromto *ft)
{
    memset(V, 0, sizeof(V));
    CHECK(strlen(p->plan_id) == 32 && strspn(p->plan_id, "0123456789abcdef") == 32,
          "plan id \"%s\"", p->plan_id);
    CHECK(p->nfroms == ft->nfroms && p->ntos == ft->ntos, "nfroms/ntos");
    for (size_t i = 0; i < p->nfrags; i++) {
        const Jcs__Plan__Fragment *f = p->frags[i];
        CHECK(f->worker, "fragment %zu has no worker", i);
        CHECK(strcmp(f->plan_id, p->plan_id) == 0, "fragment %zu has plan id %s", i, f->plan_id);
        CHECK(frag_on(p, f->worker->hub_id) == f, "two fragments for hub %" PRId64,
              f->worker->hub_id);
        CHECK((f->worker->hub_id == 0) == (p->driver_frag == (int)i), "driver_frag %d",
              p->driver_frag);
        for (size_t j = 0; j < f->n_ops; j++) {
            const char *w = check_op(p, ft, f, f->ops[j]);
            if (w)
                return w;
        }
        for (size_t j = 0; j < f->n_results; j++)
            M(f->results[j], f->worker->hub_id, 0);
    }
    for (size_t i = 0; i < ft->nfroms; i++) {
        if (ft->froms[i].kind != JCS_FROM_DRIVER || p->from_vars[i] < 0) {
            CHECK(p->from_vars[i] == -1, "from_vars[%zu] = %d for a shard From", i,
                  p->from_vars[i]);
            continue;
        }
        CHECK(p->driver_frag >= 0, "a driver From without a driver fragment");
        M(p->from_vars[i], 0, 1);
    }
    for (size_t i = 0; i < ft->ntos; i++) {
        CHECK(p->to_frags[i] >= 0 && (size_t)p->to_frags[i] < p->nfrags, "to_frags[%zu]", i);
        const Jcs__Plan__Fragment *f = p->frags[p->to_frags[i]];
        if (ft->tos[i].kind == JCS_TO_DRIVER) {
            CHECK(p->to_frags[i] == p->driver_frag, "driver To %zu not in the driver fragment", i);
            M(p->to_vars[i], 0, 0);
            continue;
        }
        CHECK(f->worker->hub_id == ft->tos[i].hub->hub_id, "tos[%zu] written on hub %" PRId64, i,
              f->worker->hub_id);
        CHECK(in_results(f, p->to_vars[i]), "to_vars[%zu] not a result of its fragment", i);
        int found = 0;
        for (size_t j = 0; j < f->n_ops; j++)
            found |= f->ops[j]->op_case == JCS__PLAN__OP__OP_SHARD_WRITE &&
                     f->ops[j]->shard_write->result == p->to_vars[i] &&
                     f->ops[j]->shard_write->space->space_id == ft->tos[i].space->space_id;
        CHECK(found, "tos[%zu]: no ShardWrite to space %" PRId64 " with result v%d", i,
              ft->tos[i].space->space_id, p->to_vars[i]);
    }
    for (int v = 0; v < MAXV; v++) {
        if (!V[v].seen)
            continue;
        CHECK(V[v].prod == 1 && V[v].cons == 1, "v%d has %d producers and %d consumers", v,
              V[v].prod, V[v].cons);
        CHECK(V[v].hub == 0 ? p->driver_frag >= 0 : frag_on(p, V[v].hub) != NULL,
              "v%d lives on hub %" PRId64 ", which has no fragment", v, V[v].hub);
    }
    return NULL;
}
