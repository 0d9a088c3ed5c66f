/*
 * exec.c - the plan executor ("ioswitch" in JCS): one thread per op, pipes between them.
 *
 * Vars. The executor keeps a table of vars by id. A stream var owns its
 * pipe, made on first mention by an op, jcs_exec_input or jcs_exec_output,
 * whichever comes first (a PushStream may arrive before its fragment). A
 * value var holds at most one Value, set once; waiters sleep on one
 * condvar for all value vars. Each var also counts who attached to it as
 * producer and consumer, so a var with two producers or two consumers is
 * refused whichever way they arrive.
 *
 * Running. jcs_exec_run checks the whole fragment first (every op kind
 * known, fields in range, each stream var with one producer and one
 * consumer, kinds consistent) and only then starts the ops' threads, so a
 * bad fragment runs nothing. Each op reads its inputs to their end: that is
 * how an error upstream reaches it, and why Range drains what it does not
 * pass on.
 *
 * Failure. The first error (from an op, or jcs_exec_cancel/jcs_exec_fail)
 * is recorded with its detail line and then every pipe is closed and
 * aborted with it. Every op blocked on a pipe wakes up with that error,
 * value waiters wake up too, and each op unwinds: a ShardWrite aborts its
 * writer so no shard becomes visible. Later errors (the cancelled ops'
 * own) are ignored. Lock order: the executor lock before a pipe's lock;
 * no op holds the executor lock while it blocks on a pipe.
 *
 * Memory per op is bounded: ops hold at most a pipe chunk per input and
 * per output, except ECMultiply, which holds one EC chunk per input and
 * output (see op_ec_multiply for why).
 */
#include "exec.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "ec.h"
#include "hash.h"
#include "log.h"

/*
 * Largest chunk_size an op accepts (ChunkedSplit, ECMultiply, ChunkedJoin);
 * ECMultiply holds k + outputs chunks of it.
 */
#define MAX_CHUNK ((int64_t)256 << 20)
/* Most outputs of ChunkedSplit/Clone and inputs of Join/ChunkedJoin. */
#define MAX_FANOUT 1024
/* Most vars one executor keeps (outside callers can name any var id). */
#define MAX_VARS 65536

enum var_kind { VK_NONE = 0, VK_STREAM, VK_VALUE };

struct var {
    int32_t id;
    enum var_kind kind;
    jcs_pipe *pipe;           /* stream */
    Jcs__Plan__Value *value;  /* value: owned, NULL until set */
    int producers, consumers; /* ops and outside attachments */
    int op_producer, op_consumer;
    int drain_checked; /* jcs_exec_run has waited for its outside reader */
};

struct jcs_exec {
    jcs_exec_env env;
    char *plan_id;
    pthread_mutex_t lock;
    pthread_cond_t value_cv; /* a value was set, or the executor failed */
    struct var **vars;
    size_t nvars, cap;
    atomic_int err;
    char errmsg[1024]; /* the first error's detail; fixed once err is set */
    int weak;          /* that error is a consequence of a pipe peer's failure */
    atomic_int cause;  /* causemsg replaced it (a weak error's cause reported) */
    char causemsg[1024];
    int ran;
    int checked; /* the fragment is known: outside ends must match its ops */
};

/* ---------------------------------------------------------------- values */

/* A deep copy of v (caller frees with protobuf_c_message_free_unpacked). */
static int value_dup(const Jcs__Plan__Value *v, Jcs__Plan__Value **out)
{
    *out = NULL;
    size_t n = jcs__plan__value__get_packed_size(v);
    uint8_t *buf = jcs_malloc(n);
    if (!buf)
        return jcs_err_set(JCS_ENOMEM, "value: out of memory");
    jcs__plan__value__pack(v, buf);
    *out = jcs__plan__value__unpack(NULL, n, buf);
    jcs_free(buf);
    if (!*out)
        return jcs_err_set(JCS_ENOMEM, "value: out of memory");
    return JCS_OK;
}

static void value_free(Jcs__Plan__Value *v)
{
    if (v)
        protobuf_c_message_free_unpacked(&v->base, NULL);
}

/* ------------------------------------------------------------------ vars */

/* The var with this id, or NULL. Locked. */
static struct var *var_find(jcs_exec *e, int32_t id)
{
    for (size_t i = 0; i < e->nvars; i++)
        if (e->vars[i]->id == id)
            return e->vars[i];
    return NULL;
}

/*
 * The var with this id, made if missing; a stream var gets its pipe now
 * (already failed if the executor has failed). Locked.
 */
static int var_get(jcs_exec *e, int32_t id, enum var_kind kind, struct var **out)
{
    struct var *v = var_find(e, id);
    if (v) {
        if (v->kind != kind)
            return jcs_err_set(JCS_EINVAL, "var %d is a %s var, used as a %s var", id,
                               v->kind == VK_STREAM ? "stream" : "value",
                               kind == VK_STREAM ? "stream" : "value");
        *out = v;
        return JCS_OK;
    }
    if (id < 0)
        return jcs_err_set(JCS_EINVAL, "var %d: negative var id", id);
    if (e->nvars >= MAX_VARS)
        return jcs_err_set(JCS_ETOOBIG, "var %d: plan %s has %d vars already", id, e->plan_id,
                           MAX_VARS);
    if (e->nvars == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 16;
        struct var **nv = jcs_realloc(e->vars, nc * sizeof(*nv));
        if (!nv)
            return jcs_err_set(JCS_ENOMEM, "var %d: out of memory", id);
        e->vars = nv;
        e->cap = nc;
    }
    v = jcs_calloc(1, sizeof(*v));
    if (!v)
        return jcs_err_set(JCS_ENOMEM, "var %d: out of memory", id);
    v->id = id;
    v->kind = kind;
    if (kind == VK_STREAM) {
        int rc = jcs_pipe_new(e->env.chunk_size, e->env.depth, &v->pipe);
        if (rc) {
            jcs_free(v);
            return jcs_err_wrap(rc, "var %d: ", id);
        }
        int err = atomic_load(&e->err);
        if (err) {
            jcs_pipe_close(v->pipe, err);
            jcs_pipe_abort(v->pipe, err);
        }
    }
    e->vars[e->nvars++] = v;
    *out = v;
    return JCS_OK;
}

/* ------------------------------------------------------------- executor */

int jcs_exec_new(const jcs_exec_env *env, const char *plan_id, jcs_exec **out)
{
    *out = NULL;
    jcs_exec *e = jcs_calloc(1, sizeof(*e));
    if (!e)
        return jcs_err_set(JCS_ENOMEM, "plan %s: out of memory", plan_id);
    e->env = *env;
    e->plan_id = jcs_strdup(plan_id);
    if (!e->plan_id) {
        jcs_free(e);
        return jcs_err_set(JCS_ENOMEM, "plan %s: out of memory", plan_id);
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->value_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&e->err, 0);
    *out = e;
    return JCS_OK;
}

const char *jcs_exec_plan_id(const jcs_exec *e)
{
    return e->plan_id;
}

void jcs_exec_free(jcs_exec *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nvars; i++) {
        jcs_pipe_free(e->vars[i]->pipe);
        value_free(e->vars[i]->value);
        jcs_free(e->vars[i]);
    }
    jcs_free(e->vars);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->value_cv);
    jcs_free(e->plan_id);
    jcs_free(e);
}

/*
 * Records the first error with its detail and fails every pipe with it.
 *
 * A weak error (an op saw its pipe's other end fail) may come in before
 * its cause: an env push that aborts its source pipe and only then
 * returns its error, say. So a weak first error is replaced, once, by the
 * first strong one that follows. Both details are kept in buffers of their
 * own, each written before it is published, so jcs_exec_error_msg's
 * pointer is never written under a reader.
 */
static void exec_fail_weak(jcs_exec *e, int err, const char *msg, int weak)
{
    if (err >= 0)
        err = JCS_ECANCELED;
    pthread_mutex_lock(&e->lock);
    if (atomic_load(&e->err) == 0) {
        /* The detail first: whoever sees err set may read errmsg unlocked. */
        snprintf(e->errmsg, sizeof(e->errmsg), "%s", msg);
        e->weak = weak;
        atomic_store(&e->err, err);
        for (size_t i = 0; i < e->nvars; i++) {
            if (e->vars[i]->pipe) {
                jcs_pipe_close(e->vars[i]->pipe, err);
                jcs_pipe_abort_msg(e->vars[i]->pipe, err, weak ? NULL : msg);
            }
        }
        pthread_cond_broadcast(&e->value_cv);
    } else if (e->weak && !weak && !atomic_load(&e->cause)) {
        snprintf(e->causemsg, sizeof(e->causemsg), "%s", msg);
        atomic_store(&e->err, err);
        atomic_store(&e->cause, 1);
    }
    pthread_mutex_unlock(&e->lock);
}

static void exec_fail_msg(jcs_exec *e, int err, const char *msg)
{
    exec_fail_weak(e, err, msg, 0);
}

void jcs_exec_fail(jcs_exec *e, int err, const char *fmt, ...)
{
    char msg[sizeof(e->errmsg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    exec_fail_msg(e, err, msg);
}

void jcs_exec_cancel(jcs_exec *e, int err)
{
    if (err >= 0)
        err = JCS_ECANCELED;
    char msg[128];
    snprintf(msg, sizeof(msg), "plan %s: cancelled (%s)", e->plan_id, jcs_strerror(err));
    /* Weak: a plan is cancelled because of a failure elsewhere, and a
     * report of a local cause that comes in meanwhile says more. */
    exec_fail_weak(e, err, msg, 1);
}

int jcs_exec_error(const jcs_exec *e)
{
    return atomic_load(&((jcs_exec *)e)->err);
}

const char *jcs_exec_error_msg(const jcs_exec *e)
{
    if (atomic_load(&((jcs_exec *)e)->cause))
        return e->causemsg;
    return jcs_exec_error(e) ? e->errmsg : NULL;
}

/* The executor's error as this thread's error, with its detail. */
static int exec_err(jcs_exec *e)
{
    int err = jcs_exec_error(e);
    return jcs_err_set(err, "%s", jcs_exec_error_msg(e));
}

static int attach(jcs_exec *e, int32_t var, int producer, jcs_pipe **out)
{
    *out = NULL;
    pthread_mutex_lock(&e->lock);
    struct var *v = NULL;
    int rc = var_get(e, var, VK_STREAM, &v);
    if (rc == 0) {
        int *cnt = producer ? &v->producers : &v->consumers;
        if (*cnt > 0)
            rc = jcs_err_set(JCS_EINVAL, "plan %s var %d already has a %s", e->plan_id, var,
                             producer ? "producer" : "consumer");
        else if (e->checked && !(producer ? v->op_consumer : v->op_producer))
            /* Nobody would ever drain (or feed) it: refuse instead of hanging. */
            rc = jcs_err_set(JCS_EINVAL, "plan %s var %d: no op of the fragment %s it", e->plan_id,
                             var, producer ? "reads" : "writes");
        else {
            (*cnt)++;
            *out = v->pipe;
        }
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int jcs_exec_input(jcs_exec *e, int32_t var, jcs_pipe **out)
{
    return attach(e, var, 1, out);
}

int jcs_exec_output(jcs_exec *e, int32_t var, jcs_pipe **out)
{
    return attach(e, var, 0, out);
}

/* Sets value var `var` (takes ownership of val). Locked. */
static int value_set_locked(jcs_exec *e, int32_t var, Jcs__Plan__Value *val)
{
    struct var *v = NULL;
    int rc = var_get(e, var, VK_VALUE, &v);
    if (rc == 0 && v->value)
        rc = jcs_err_set(JCS_EINVAL, "plan %s var %d: value already set", e->plan_id, var);
    if (rc) {
        value_free(val);
        return rc;
    }
    v->value = val;
    pthread_cond_broadcast(&e->value_cv);
    return JCS_OK;
}

int jcs_exec_put_value(jcs_exec *e, int32_t var, Jcs__Plan__Value *val)
{
    pthread_mutex_lock(&e->lock);
    struct var *v = var_find(e, var);
    int rc;
    if (v && v->kind == VK_VALUE && !v->value && v->producers > 0) {
        /* An op of the fragment produces it: the outside may not. */
        value_free(val);
        rc = jcs_err_set(JCS_EINVAL, "plan %s var %d: value is produced by an op", e->plan_id, var);
    } else {
        rc = value_set_locked(e, var, val);
        if (rc == 0)
            var_find(e, var)->producers++;
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

/* Waits for a value (timeout_ms < 0: no limit). Locked on entry and exit. */
static int value_wait_locked(jcs_exec *e, int32_t var, int64_t timeout_ms, struct var **out)
{
    struct var *v = NULL;
    int rc = var_get(e, var, VK_VALUE, &v);
    if (rc)
        return rc;
    struct timespec dl;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (dl.tv_nsec >= 1000000000) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000;
        }
    }
    while (!v->value && !jcs_exec_error(e)) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&e->value_cv, &e->lock);
        } else if (pthread_cond_timedwait(&e->value_cv, &e->lock, &dl) != 0) {
            if (!v->value && !jcs_exec_error(e))
                return jcs_err_set(JCS_ETIMEOUT, "plan %s var %d: no value after %lld ms",
                                   e->plan_id, var, (long long)timeout_ms);
        }
    }
    /* A value set before the failure is still good to hand out. */
    if (!v->value)
        return exec_err(e);
    *out = v;
    return JCS_OK;
}

int jcs_exec_get_value(jcs_exec *e, int32_t var, int64_t timeout_ms, Jcs__Plan__Value **out)
{
    *out = NULL;
    pthread_mutex_lock(&e->lock);
    struct var *v = NULL;
    int rc = value_wait_locked(e, var, timeout_ms, &v);
    if (rc == 0)
        rc = value_dup(v->value, out);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

/* ------------------------------------------------------------ validation */

/* How an op uses a var. */
struct use {
    int32_t var;
    enum var_kind kind;
    int out; /* 1: the op produces it */
};

struct uses {
    struct use *u;
    size_t n, cap;
};

static int use_add(struct uses *us, int32_t var, enum var_kind kind, int out)
{
    if (us->n == us->cap) {
        size_t nc = us->cap ? us->cap * 2 : 32;
        struct use *nu = jcs_realloc(us->u, nc * sizeof(*nu));
        if (!nu)
            return jcs_err_set(JCS_ENOMEM, "fragment: out of memory");
        us->u = nu;
        us->cap = nc;
    }
    us->u[us->n++] = (struct use){var, kind, out};
    return JCS_OK;
}

static const char *op_kind_name(const Jcs__Plan__Op *op)
{
    switch (op->op_case) {
    case JCS__PLAN__OP__OP_SHARD_READ:
        return "ShardRead";
    case JCS__PLAN__OP__OP_SHARD_WRITE:
        return "ShardWrite";
    case JCS__PLAN__OP__OP_CHUNKED_SPLIT:
        return "ChunkedSplit";
    case JCS__PLAN__OP__OP_EC_MULTIPLY:
        return "ECMultiply";
    case JCS__PLAN__OP__OP_CHUNKED_JOIN:
        return "ChunkedJoin";
    case JCS__PLAN__OP__OP_RANGE:
        return "Range";
    case JCS__PLAN__OP__OP_JOIN:
        return "Join";
    case JCS__PLAN__OP__OP_CLONE:
        return "Clone";
    case JCS__PLAN__OP__OP_SEND_STREAM:
        return "SendStream";
    case JCS__PLAN__OP__OP_GET_STREAM:
        return "GetStream";
    case JCS__PLAN__OP__OP_SEND_VAR:
        return "SendVar";
    case JCS__PLAN__OP__OP_GET_VAR:
        return "GetVar";
    default:
        return "unknown op";
    }
}

/*
 * The name error details start with: "ShardWrite space 3", "SendStream to
 * hub 2 var 9"; ops without such a handle get their index: "Clone (op 4)".
 * With idx (size_t)-1 the index is left out (the caller gives it).
 */
static void op_name(const Jcs__Plan__Op *op, size_t idx, char *out, size_t len)
{
    const char *k = op_kind_name(op);
    switch (op->op_case) {
    case JCS__PLAN__OP__OP_SHARD_READ:
        snprintf(out, len, "%s space %lld %.16s", k,
                 op->shard_read->space ? (long long)op->shard_read->space->space_id : -1LL,
                 op->shard_read->file_hash ? op->shard_read->file_hash : "");
        break;
    case JCS__PLAN__OP__OP_SHARD_WRITE:
        snprintf(out, len, "%s space %lld", k,
                 op->shard_write->space ? (long long)op->shard_write->space->space_id : -1LL);
        break;
    case JCS__PLAN__OP__OP_SEND_STREAM:
        snprintf(out, len, "%s to hub %lld var %d", k,
                 op->send_stream->to ? (long long)op->send_stream->to->hub_id : -1LL,
                 op->send_stream->remote_var);
        break;
    case JCS__PLAN__OP__OP_GET_STREAM:
        snprintf(out, len, "%s from hub %lld var %d", k,
                 op->get_stream->from ? (long long)op->get_stream->from->hub_id : -1LL,
                 op->get_stream->remote_var);
        break;
    case JCS__PLAN__OP__OP_SEND_VAR:
        snprintf(out, len, "%s to hub %lld var %d", k,
                 op->send_var->to ? (long long)op->send_var->to->hub_id : -1LL,
                 op->send_var->remote_var);
        break;
    case JCS__PLAN__OP__OP_GET_VAR:
        snprintf(out, len, "%s from hub %lld var %d", k,
                 op->get_var->from ? (long long)op->get_var->from->hub_id : -1LL,
                 op->get_var->remote_var);
        break;
    default:
        if (idx == (size_t)-1)
            snprintf(out, len, "%s", k);
        else
            snprintf(out, len, "%s (op %zu)", k, idx);
        break;
    }
}

#define BAD(...) jcs_err_set(JCS_EINVAL, __VA_ARGS__)

static int check_chunk(const char *what, int64_t chunk)
{
    if (chunk <= 0 || chunk > MAX_CHUNK)
        return BAD("%s %lld out of range (1..%lld)", what, (long long)chunk, (long long)MAX_CHUNK);
    return JCS_OK;
}

static int check_count(const char *what, size_t n, size_t min, size_t max)
{
    if (n < min || n > max)
        return BAD("%zu %s, want %zu..%zu", n, what, min, max);
    return JCS_OK;
}

static int add_vars(struct uses *us, const int32_t *vars, size_t n, enum var_kind kind, int out)
{
    for (size_t i = 0; i < n; i++) {
        int rc = use_add(us, vars[i], kind, out);
        if (rc)
            return rc;
    }
    return JCS_OK;
}

/* Checks one op's fields and lists the vars it uses. */
static int check_op(const jcs_exec *e, const Jcs__Plan__Op *op, struct uses *us)
{
    const jcs_exec_env *env = &e->env;
    int rc;
    switch (op->op_case) {
    case JCS__PLAN__OP__OP_SHARD_READ: {
        const Jcs__Plan__ShardRead *o = op->shard_read;
        if (!o->space)
            return BAD("no space");
        if (!env->open_space)
            return BAD("the executor has no shard stores");
        if (!o->file_hash || !jcs_hash_valid(o->file_hash))
            return BAD("file_hash \"%.80s\" is not a FileHash", o->file_hash ? o->file_hash : "");
        if (o->offset < 0 || o->length < -1)
            return BAD("range offset %lld length %lld", (long long)o->offset, (long long)o->length);
        return use_add(us, o->output, VK_STREAM, 1);
    }
    case JCS__PLAN__OP__OP_SHARD_WRITE: {
        const Jcs__Plan__ShardWrite *o = op->shard_write;
        if (!o->space)
            return BAD("no space");
        if (!env->open_space)
            return BAD("the executor has no shard stores");
        if ((rc = use_add(us, o->input, VK_STREAM, 0)))
            return rc;
        return use_add(us, o->result, VK_VALUE, 1);
    }
    case JCS__PLAN__OP__OP_CHUNKED_SPLIT: {
        const Jcs__Plan__ChunkedSplit *o = op->chunked_split;
        if ((rc = check_chunk("chunk_size", o->chunk_size)) ||
            (rc = check_count("outputs", o->n_outputs, 1, MAX_FANOUT)))
            return rc;
        if ((rc = use_add(us, o->input, VK_STREAM, 0)))
            return rc;
        return add_vars(us, o->outputs, o->n_outputs, VK_STREAM, 1);
    }
    case JCS__PLAN__OP__OP_EC_MULTIPLY: {
        const Jcs__Plan__ECMultiply *o = op->ec_multiply;
        if (o->k < 1 || o->n <= o->k || o->n > JCS_EC_MAX_N)
            return BAD("k %d n %d out of range (1 <= k < n <= %d)", o->k, o->n, JCS_EC_MAX_N);
        if ((rc = check_chunk("chunk_size", o->chunk_size)))
            return rc;
        if (o->n_groups) {
            /* LRC: the groups fit before their parities; any 1..n inputs. */
            long sum = 0, m = (long)o->n - (long)o->n_groups;
            for (size_t g = 0; g < o->n_groups; g++)
                sum += o->groups[g] < 1 ? -(1L << 20) : o->groups[g];
            if (m < o->k || sum < 1 || sum > m)
                return BAD("lrc groups do not fit k %d n %d (%zu groups)", o->k, o->n, o->n_groups);
            if (o->n_inputs != o->n_input_rows || o->n_inputs < 1 || o->n_inputs > (size_t)o->n)
                return BAD("%zu inputs and %zu input_rows (want equal, 1..%d)", o->n_inputs,
                           o->n_input_rows, o->n);
        } else if (o->n_inputs != (size_t)o->k || o->n_input_rows != (size_t)o->k)
            return BAD("%zu inputs and %zu input_rows for k %d", o->n_inputs, o->n_input_rows,
                       o->k);
        if (o->n_outputs != o->n_output_rows || o->n_outputs < 1 || o->n_outputs > JCS_EC_MAX_N)
            return BAD("%zu outputs and %zu output_rows (want equal, 1..%d)", o->n_outputs,
                       o->n_output_rows, JCS_EC_MAX_N);
        for (size_t i = 0; i < o->n_input_rows; i++) {
            if (o->input_rows[i] < 0 || o->input_rows[i] >= o->n)
                return BAD("input row %d out of range for n %d", o->input_rows[i], o->n);
            for (size_t j = 0; j < i; j++)
                if (o->input_rows[j] == o->input_rows[i])
                    return BAD("input row %d given twice", o->input_rows[i]);
        }
        for (size_t i = 0; i < o->n_output_rows; i++)
            if (o->output_rows[i] < 0 || o->output_rows[i] >= o->n)
                return BAD("output row %d out of range for n %d", o->output_rows[i], o->n);
        if ((rc = add_vars(us, o->inputs, o->n_inputs, VK_STREAM, 0)))
            return rc;
        return add_vars(us, o->outputs, o->n_outputs, VK_STREAM, 1);
    }
    case JCS__PLAN__OP__OP_CHUNKED_JOIN: {
        const Jcs__Plan__ChunkedJoin *o = op->chunked_join;
        if ((rc = check_chunk("chunk_size", o->chunk_size)) ||
            (rc = check_count("inputs", o->n_inputs, 1, MAX_FANOUT)))
            return rc;
        if ((rc = add_vars(us, o->inputs, o->n_inputs, VK_STREAM, 0)))
            return rc;
        return use_add(us, o->output, VK_STREAM, 1);
    }
    case JCS__PLAN__OP__OP_RANGE: {
        const Jcs__Plan__Range *o = op->range;
        if (o->offset < 0 || o->length < -1)
            return BAD("offset %lld length %lld", (long long)o->offset, (long long)o->length);
        if ((rc = use_add(us, o->input, VK_STREAM, 0)))
            return rc;
        return use_add(us, o->output, VK_STREAM, 1);
    }
    case JCS__PLAN__OP__OP_JOIN: {
        const Jcs__Plan__Join *o = op->join;
        if ((rc = check_count("inputs", o->n_inputs, 1, MAX_FANOUT)))
            return rc;
        if ((rc = add_vars(us, o->inputs, o->n_inputs, VK_STREAM, 0)))
            return rc;
        return use_add(us, o->output, VK_STREAM, 1);
    }
    case JCS__PLAN__OP__OP_CLONE: {
        const Jcs__Plan__Clone *o = op->clone;
        if ((rc = check_count("outputs", o->n_outputs, 1, MAX_FANOUT)))
            return rc;
        if ((rc = use_add(us, o->input, VK_STREAM, 0)))
            return rc;
        return add_vars(us, o->outputs, o->n_outputs, VK_STREAM, 1);
    }
    case JCS__PLAN__OP__OP_SEND_STREAM:
        if (!op->send_stream->to)
            return BAD("no target worker");
        if (!env->push)
            return BAD("the executor cannot push streams");
        if (op->send_stream->remote_var < 0)
            return BAD("remote var %d", op->send_stream->remote_var);
        return use_add(us, op->send_stream->input, VK_STREAM, 0);
    case JCS__PLAN__OP__OP_GET_STREAM:
        if (!op->get_stream->from)
            return BAD("no source worker");
        if (!env->pull)
            return BAD("the executor cannot pull streams");
        if (op->get_stream->remote_var < 0)
            return BAD("remote var %d", op->get_stream->remote_var);
        return use_add(us, op->get_stream->output, VK_STREAM, 1);
    case JCS__PLAN__OP__OP_SEND_VAR:
        if (!op->send_var->to)
            return BAD("no target worker");
        if (!env->push_value)
            return BAD("the executor cannot push values");
        if (op->send_var->remote_var < 0)
            return BAD("remote var %d", op->send_var->remote_var);
        return use_add(us, op->send_var->input, VK_VALUE, 0);
    case JCS__PLAN__OP__OP_GET_VAR:
        if (!op->get_var->from)
            return BAD("no source worker");
        if (!env->pull_value)
            return BAD("the executor cannot pull values");
        if (op->get_var->remote_var < 0)
            return BAD("remote var %d", op->get_var->remote_var);
        return use_add(us, op->get_var->output, VK_VALUE, 1);
    default:
        return BAD("unknown op kind %d", (int)op->op_case);
    }
}

/*
 * Ops that wait on each other in a cycle (A reads what B writes and B what A
 * writes) would never end: on a hub they would hold their threads until the
 * driver gave up. A fragment must be a DAG of ops; Kahn's algorithm over the
 * uses (ops n, their uses us->u[first[i] .. first[i + 1])) finds a cycle.
 */
static int check_acyclic(const Jcs__Plan__Fragment *frag, const struct uses *us,
                         const size_t *first)
{
    size_t n = frag->n_ops, *indeg = NULL, *queue = NULL, *op_of = NULL, head = 0, tail = 0;
    int rc = JCS_OK;
    if (n == 0)
        return JCS_OK;
    indeg = jcs_calloc(n, sizeof(*indeg));
    queue = jcs_calloc(n, sizeof(*queue));
    op_of = jcs_calloc(us->n + 1, sizeof(*op_of));
    if (!indeg || !queue || !op_of) {
        rc = jcs_err_set(JCS_ENOMEM, "fragment: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t a = first[i]; a < first[i + 1]; a++)
            op_of[a] = i;
    /* An input use waits on the op producing its var, if an op of this fragment does. */
    for (size_t a = 0; a < us->n; a++) {
        if (us->u[a].out)
            continue;
        for (size_t b = 0; b < us->n; b++)
            if (us->u[b].out && us->u[b].var == us->u[a].var) {
                indeg[op_of[a]]++;
                break;
            }
    }
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0)
            queue[tail++] = i;
    while (head < tail) {
        size_t i = queue[head++];
        for (size_t b = first[i]; b < first[i + 1]; b++) {
            if (!us->u[b].out)
                continue;
            for (size_t a = 0; a < us->n; a++)
                if (!us->u[a].out && us->u[a].var == us->u[b].var && --indeg[op_of[a]] == 0)
                    queue[tail++] = op_of[a];
        }
    }
    if (tail < n) {
        for (size_t i = 0; i < n; i++)
            if (indeg[i]) {
                char name[128];
                op_name(frag->ops[i], (size_t)-1, name, sizeof(name));
                rc = BAD("fragment op %zu (%s): its ops wait on each other in a cycle", i, name);
                break;
            }
    }
out:
    jcs_free(indeg);
    jcs_free(queue);
    jcs_free(op_of);
    return rc;
}

/*
 * Checks the fragment and registers its vars (pipes made, producers and
 * consumers counted). Nothing is registered unless everything is valid.
 */
static int check_fragment(jcs_exec *e, const Jcs__Plan__Fragment *frag)
{
    struct uses us = {0};
    size_t *first = NULL; /* first use index of each op */
    int rc = JCS_OK;
    char name[128];
    first = jcs_calloc(frag->n_ops + 1, sizeof(*first));
    if (!first)
        return jcs_err_set(JCS_ENOMEM, "fragment: out of memory");
    for (size_t i = 0; i < frag->n_ops && rc == 0; i++) {
        first[i] = us.n;
        const Jcs__Plan__Op *op = frag->ops[i];
        if (!op) {
            rc = BAD("fragment op %zu: missing", i);
            break;
        }
        rc = check_op(e, op, &us);
        if (rc == 0) {
            for (size_t a = first[i]; a < us.n && rc == 0; a++) {
                if (us.u[a].var < 0)
                    rc = BAD("var %d: negative var id", us.u[a].var);
                /* An op that reads its own output would wait for itself. */
                for (size_t b = first[i]; b < a && rc == 0; b++)
                    if (us.u[b].var == us.u[a].var && us.u[b].out != us.u[a].out)
                        rc = BAD("var %d is both input and output", us.u[a].var);
            }
        }
        if (rc) {
            op_name(op, (size_t)-1, name, sizeof(name));
            rc = jcs_err_wrap(rc, "fragment op %zu (%s): ", i, name);
        }
    }
    first[frag->n_ops] = us.n;

    pthread_mutex_lock(&e->lock);
    /* Count each var's producers and consumers: the ones already attached
     * from outside plus every op's. */
    for (size_t a = 0; a < us.n && rc == 0; a++) {
        const struct use *u = &us.u[a];
        struct var *v = var_find(e, u->var);
        int prod = v ? v->producers : 0, cons = v ? v->consumers : 0;
        if (v && v->kind != u->kind) {
            rc = BAD("var %d is a %s var, used as a %s var", u->var,
                     v->kind == VK_STREAM ? "stream" : "value",
                     u->kind == VK_STREAM ? "stream" : "value");
        }
        for (size_t b = 0; b <= a && rc == 0; b++) {
            if (us.u[b].var != u->var)
                continue;
            if (us.u[b].kind != u->kind)
                rc = BAD("var %d is used both as a stream and as a value", u->var);
            else if (us.u[b].out)
                prod++;
            else
                cons++;
        }
        if (rc == 0 && prod > 1)
            rc = BAD("var %d has %d producers", u->var, prod);
        else if (rc == 0 && u->kind == VK_STREAM && cons > 1)
            rc = BAD("stream var %d has %d consumers", u->var, cons);
        if (rc) {
            size_t i = 0;
            while (i + 1 < frag->n_ops && first[i + 1] <= a)
                i++;
            op_name(frag->ops[i], (size_t)-1, name, sizeof(name));
            rc = jcs_err_wrap(rc, "fragment op %zu (%s): ", i, name);
        }
    }
    for (size_t r = 0; r < frag->n_results && rc == 0; r++) {
        struct var *v = var_find(e, frag->results[r]);
        int stream = v && v->kind == VK_STREAM;
        for (size_t a = 0; a < us.n && !stream; a++)
            if (us.u[a].var == frag->results[r] && us.u[a].kind == VK_STREAM)
                stream = 1;
        if (stream || frag->results[r] < 0)
            rc = BAD("fragment: result var %d is not a value var", frag->results[r]);
    }
    /* Streams attached from outside before the fragment came must meet an op. */
    for (size_t i = 0; i < e->nvars && rc == 0; i++) {
        struct var *v = e->vars[i];
        if (v->kind != VK_STREAM || (!v->producers && !v->consumers))
            continue;
        int op_in = 0, op_out = 0;
        for (size_t a = 0; a < us.n; a++)
            if (us.u[a].var == v->id) {
                op_in |= !us.u[a].out;
                op_out |= us.u[a].out;
            }
        if ((v->producers && !op_in) || (v->consumers && !op_out))
            rc = BAD("fragment: var %d is %s from outside but no op %s it", v->id,
                     v->producers ? "fed" : "drained", v->producers ? "reads" : "writes");
    }
    if (rc == 0)
        rc = check_acyclic(frag, &us, first);
    /* Register: everything checked, so from here on only memory can fail. */
    for (size_t a = 0; a < us.n && rc == 0; a++) {
        struct var *v = NULL;
        rc = var_get(e, us.u[a].var, us.u[a].kind, &v);
        if (rc == 0 && us.u[a].out) {
            v->producers++;
            v->op_producer = 1;
        } else if (rc == 0) {
            v->consumers++;
            v->op_consumer = 1;
        }
    }
    if (rc == 0)
        e->checked = 1;
    for (size_t r = 0; r < frag->n_results && rc == 0; r++) {
        struct var *v = NULL;
        rc = var_get(e, frag->results[r], VK_VALUE, &v);
    }
    pthread_mutex_unlock(&e->lock);
    jcs_free(us.u);
    jcs_free(first);
    return rc;
}

/* ------------------------------------------------------------------- ops */

/*
 * Set when the op running on this thread failed because the other end of
 * one of its pipes failed (a "reader stopped" or "writer failed" error):
 * that error is a consequence, and the cause's own report replaces it (see
 * exec_fail_msg). Ops never fail pipes themselves; the executor does it
 * after recording their error, so an op's cause is always recorded first.
 */
static _Thread_local int from_pipe;

static int pipe_rc(int rc)
{
    if (rc < 0)
        from_pipe = 1;
    return rc;
}

static int p_read(jcs_pipe *p, jcs_chunk *c)
{
    return pipe_rc(jcs_pipe_read(p, c));
}

static int p_write(jcs_pipe *p, const void *data, size_t n)
{
    return pipe_rc(jcs_pipe_write(p, data, n));
}

/* Hands bytes of chunk c on to p without copying them (pipe.h). */
static int p_write_ref(jcs_pipe *p, const jcs_chunk *c, size_t off, size_t len)
{
    return pipe_rc(jcs_pipe_write_ref(p, c, off, len));
}

static int p_get_buffer(jcs_pipe *p, uint8_t **buf, size_t *cap)
{
    return pipe_rc(jcs_pipe_get_buffer(p, buf, cap));
}

static int p_commit_buffer(jcs_pipe *p, size_t len)
{
    return pipe_rc(jcs_pipe_commit_buffer(p, len));
}

struct op_run {
    jcs_exec *e;
    const Jcs__Plan__Op *op;
    size_t idx;
    char name[128];
    pthread_t th;
    int started;
};

/* The pipe of a stream var registered by check_fragment. */
static jcs_pipe *pipe_of(jcs_exec *e, int32_t var)
{
    pthread_mutex_lock(&e->lock);
    struct var *v = var_find(e, var);
    jcs_pipe *p = v ? v->pipe : NULL;
    pthread_mutex_unlock(&e->lock);
    return p;
}

static int set_value(jcs_exec *e, int32_t var, Jcs__Plan__Value *val)
{
    pthread_mutex_lock(&e->lock);
    int rc = value_set_locked(e, var, val);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

/* Fills a pipe's chunk buffers fully before handing them on. */
struct fill {
    jcs_pipe *p;
    uint8_t *buf;
    size_t cap, len;
};

static int fill_sink(void *arg, const void *data, size_t n)
{
    struct fill *f = arg;
    const uint8_t *src = data;
    while (n > 0) {
        if (!f->buf) {
            int rc = p_get_buffer(f->p, &f->buf, &f->cap);
            if (rc)
                return rc;
            f->len = 0;
        }
        size_t k = f->cap - f->len < n ? f->cap - f->len : n;
        memcpy(f->buf + f->len, src, k);
        f->len += k;
        src += k;
        n -= k;
        if (f->len == f->cap) {
            f->buf = NULL;
            int rc = p_commit_buffer(f->p, f->cap);
            if (rc)
                return rc;
        }
    }
    return JCS_OK;
}

static int fill_flush(struct fill *f)
{
    if (!f->buf)
        return JCS_OK;
    f->buf = NULL;
    return p_commit_buffer(f->p, f->len);
}

static int op_shard_read(jcs_exec *e, const Jcs__Plan__ShardRead *o)
{
    jcs_shardstore *ss;
    int rc = e->env.open_space(e->env.ctx, o->space, &ss);
    if (rc)
        return rc;
    struct fill f = {.p = pipe_of(e, o->output)};
    uint64_t len = o->length < 0 ? JCS_STORAGE_TO_END : (uint64_t)o->length;
    rc = jcs_shardstore_read(ss, o->file_hash, (uint64_t)o->offset, len, fill_sink, &f);
    if (rc == JCS_ECORRUPT && o->space)
        rc = jcs_err_wrap(rc, "user space %lld: ", (long long)o->space->space_id);
    if (rc == 0)
        rc = fill_flush(&f);
    /* On failure a buffer still taken stays with the pipe, which frees it. */
    if (rc == 0)
        jcs_pipe_close(f.p, 0);
    return rc;
}

static int op_shard_write(jcs_exec *e, const Jcs__Plan__ShardWrite *o)
{
    jcs_shardstore *ss;
    int rc = e->env.open_space(e->env.ctx, o->space, &ss);
    if (rc)
        return rc;
    jcs_pipe *in = pipe_of(e, o->input);
    jcs_shard_writer *w;
    if ((rc = jcs_shardstore_create(ss, &w)))
        return rc;
    struct jcs_hash h = {0};
    if ((rc = jcs_hash_init(&h))) {
        jcs_shard_abort(w);
        return rc;
    }
    jcs_chunk c;
    while ((rc = p_read(in, &c)) == 0) {
        jcs_hash_update(&h, c.data, c.len);
        rc = jcs_shard_write(w, c.data, c.len);
        jcs_pipe_release(in, &c);
        if (rc)
            break;
    }
    /* The stream ended cleanly, but the plan may have failed meanwhile:
     * then no shard may appear. */
    if (rc == JCS_EOF)
        rc = jcs_exec_error(e) ? pipe_rc(exec_err(e)) : 0;
    char hash[JCS_HASH_SIZE];
    if (rc == 0 && (rc = jcs_hash_final(&h, hash, NULL)) == 0) {
        struct jcs_shard_info info;
        rc = jcs_shard_commit(w, hash, &info, NULL);
        w = NULL;
        if (rc == 0) {
            Jcs__Plan__ShardInfo si = JCS__PLAN__SHARD_INFO__INIT;
            Jcs__Plan__Value v = JCS__PLAN__VALUE__INIT;
            si.file_hash = info.hash;
            si.size = (int64_t)info.size;
            v.value_case = JCS__PLAN__VALUE__VALUE_SHARD;
            v.shard = &si;
            Jcs__Plan__Value *copy;
            if ((rc = value_dup(&v, &copy)) == 0)
                rc = set_value(e, o->result, copy);
        }
    }
    jcs_hash_abort(&h);
    jcs_shard_abort(w);
    return rc;
}

/* Writes n zero bytes. */
static int write_zeros(jcs_pipe *p, uint64_t n)
{
    static const uint8_t zeros[1 << 16];
    while (n > 0) {
        size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
        int rc = p_write(p, zeros, k);
        if (rc)
            return rc;
        n -= k;
    }
    return JCS_OK;
}

static void close_all(jcs_exec *e, const int32_t *vars, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jcs_pipe_close(pipe_of(e, vars[i]), 0);
}

static int op_chunked_split(jcs_exec *e, const Jcs__Plan__ChunkedSplit *o)
{
    size_t n = o->n_outputs;
    jcs_pipe **out = jcs_calloc(n, sizeof(*out));
    if (!out)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        out[i] = pipe_of(e, o->outputs[i]);
    jcs_pipe *in = pipe_of(e, o->input);
    uint64_t chunk = (uint64_t)o->chunk_size, used = 0; /* bytes of the current chunk written */
    size_t cur = 0;                                     /* output of the current chunk */
    jcs_chunk c;
    int rc;
    while ((rc = p_read(in, &c)) == 0) {
        size_t off = 0;
        while (off < c.len && rc == 0) {
            uint64_t k = chunk - used;
            if (k > c.len - off)
                k = c.len - off;
            /* The bytes are handed on, not copied: a chunk of the input that is a
             * whole EC chunk reaches ECMultiply whole, where it is used in place. */
            rc = p_write_ref(out[cur], &c, off, (size_t)k);
            off += (size_t)k;
            used += k;
            if (used == chunk) {
                used = 0;
                cur = (cur + 1) % n;
            }
        }
        jcs_pipe_release(in, &c);
        if (rc)
            break;
    }
    if (rc == JCS_EOF && o->pad_last_strip && (used > 0 || cur > 0)) {
        /* Complete the strip: the rest of this chunk, then whole chunks. */
        rc = write_zeros(out[cur], chunk - used);
        for (size_t i = cur + 1; i < n && rc == 0; i++)
            rc = write_zeros(out[i], chunk);
    } else if (rc == JCS_EOF) {
        rc = 0;
    }
    if (rc == 0)
        close_all(e, o->outputs, n);
    jcs_free(out);
    return rc;
}

/* A reader's place in its input: the chunk in hand and how much of it is used. */
struct cursor {
    jcs_pipe *p;
    jcs_chunk c;
    size_t off;
    int have, ended;
};

/* Makes sure the cursor has unread bytes; 0, JCS_EOF at the end of its stream, or an error. */
static int cursor_fill(struct cursor *cu)
{
    if (cu->ended)
        return JCS_EOF;
    if (cu->have && cu->off < cu->c.len)
        return 0;
    if (cu->have) {
        jcs_pipe_release(cu->p, &cu->c);
        cu->have = 0;
    }
    int rc = p_read(cu->p, &cu->c);
    if (rc == JCS_EOF)
        cu->ended = 1;
    if (rc)
        return rc;
    cu->have = 1;
    cu->off = 0;
    return 0;
}

static void cursor_release(struct cursor *cu)
{
    if (cu->have)
        jcs_pipe_release(cu->p, &cu->c);
    cu->have = 0;
}

/* Copies up to n bytes from cu to out; *moved says how many (fewer only at the end). */
static int cursor_copy(struct cursor *cu, jcs_pipe *out, uint64_t n, uint64_t *moved)
{
    *moved = 0;
    while (*moved < n) {
        int rc = cursor_fill(cu);
        if (rc == JCS_EOF)
            return 0;
        if (rc)
            return rc;
        size_t k = cu->c.len - cu->off;
        if (k > n - *moved)
            k = (size_t)(n - *moved);
        if (out && (rc = p_write_ref(out, &cu->c, cu->off, k)))
            return rc;
        cu->off += k;
        *moved += k;
    }
    return 0;
}

/* Reads up to n bytes from cu into dst; *got says how many (fewer only at the end). */
static int cursor_take(struct cursor *cu, uint8_t *dst, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        int rc = cursor_fill(cu);
        if (rc == JCS_EOF)
            return 0;
        if (rc)
            return rc;
        size_t k = cu->c.len - cu->off;
        if (k > n - *got)
            k = n - *got;
        memcpy(dst + *got, cu->c.data + cu->off, k);
        cu->off += k;
        *got += k;
    }
    return 0;
}

/* A 64-byte aligned chunk buffer, allocated on first need. */
static int need_buf(unsigned char **b, size_t chunk)
{
    if (!*b && !(*b = jcs_aligned_alloc(64, chunk)))
        return jcs_err_set(JCS_ENOMEM, "out of memory for a %zu-byte chunk", chunk);
    return JCS_OK;
}

/*
 * ECMultiply takes a whole chunk from each input in turn, as ChunkedSplit
 * deals them: reading byte j of every input together would wait for input
 * 1 while the splitter is still writing input 0's chunk, a deadlock as soon
 * as a chunk is bigger than what the pipes between them buffer. So it
 * holds a chunk per input and per output, and writes each output chunk
 * whole, in order, as ChunkedJoin reads them.
 *
 * Copies are avoided where the chunks allow: an input chunk that lies
 * whole inside one pipe chunk (the usual case when chunk_size is at most
 * the pipe chunk, since ChunkedSplit writes chunk by chunk) is used in
 * place, and when an EC chunk fits a pipe chunk the outputs are computed
 * straight into the output pipes' buffers. Only the other cases use the
 * op's own 64-byte aligned buffers, allocated on first need.
 */
static int op_ec_multiply(jcs_exec *e, const Jcs__Plan__ECMultiply *o)
{
    int k = (int)o->n_inputs, nout = (int)o->n_outputs, rc;
    size_t chunk = (size_t)o->chunk_size;
    size_t pipe_chunk = e->env.chunk_size ? e->env.chunk_size : JCS_PIPE_CHUNK;
    int direct = chunk <= pipe_chunk; /* outputs computed in the pipes' buffers */
    struct jcs_ec *ec = NULL;
    struct jcs_ec_mul *mul = NULL;
    int *rows = jcs_calloc((size_t)k + (size_t)nout, sizeof(*rows));
    struct cursor *in = jcs_calloc((size_t)k, sizeof(*in));
    jcs_pipe **out = jcs_calloc((size_t)nout, sizeof(*out));
    unsigned char **buf = jcs_calloc((size_t)k + (size_t)nout, sizeof(*buf)); /* own */
    unsigned char **ptr = jcs_calloc((size_t)k + (size_t)nout, sizeof(*ptr)); /* used */
    int *inplace = jcs_calloc((size_t)k, sizeof(*inplace));
    if (!rows || !in || !out || !buf || !ptr || !inplace) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < k; i++) {
        rows[i] = o->input_rows[i];
        in[i].p = pipe_of(e, o->inputs[i]);
    }
    for (int j = 0; j < nout; j++) {
        rows[k + j] = o->output_rows[j];
        out[j] = pipe_of(e, o->outputs[j]);
    }
    /* One coefficient table for the whole stream. */
    if (o->n_groups) {
        int groups[JCS_EC_MAX_N];
        for (size_t g = 0; g < o->n_groups; g++)
            groups[g] = o->groups[g];
        rc = jcs_ec_new_lrc(o->k, o->n, groups, (int)o->n_groups, &ec);
    } else {
        rc = jcs_ec_new(o->k, o->n, &ec);
    }
    if (rc || (rc = jcs_ec_mul_new(ec, rows, k, rows + k, nout, &mul)))
        goto done;
    for (uint64_t pos = 0;; pos += chunk) {
        size_t len = 0;
        for (int i = 0; i < k; i++) {
            size_t got;
            rc = cursor_fill(&in[i]);
            if (rc < 0)
                goto done;
            inplace[i] = rc == 0 && in[i].c.len - in[i].off >= chunk;
            if (inplace[i]) {
                ptr[i] = (unsigned char *)in[i].c.data + in[i].off;
                got = chunk;
            } else {
                if ((rc = need_buf(&buf[i], chunk)) ||
                    (rc = cursor_take(&in[i], buf[i], chunk, &got)))
                    goto done;
                ptr[i] = buf[i];
            }
            if (i == 0) {
                len = got;
            } else if (got != len) {
                int a = got < len ? i : 0, b = got < len ? 0 : i;
                rc = jcs_err_set(JCS_ECORRUPT,
                                 "input var %d (row %d) ended after %llu bytes but var %d "
                                 "(row %d) has more",
                                 o->inputs[a], rows[a],
                                 (unsigned long long)(pos + (got < len ? got : len)), o->inputs[b],
                                 rows[b]);
                goto done;
            }
        }
        if (len == 0)
            break;
        if (direct) {
            for (int j = 0; j < nout; j++) {
                uint8_t *b;
                size_t cap;
                if ((rc = p_get_buffer(out[j], &b, &cap)))
                    goto done;
                ptr[k + j] = b;
            }
            jcs_ec_mul_run(mul, len, ptr, ptr + k);
            for (int j = 0; j < nout; j++)
                if ((rc = p_commit_buffer(out[j], len)))
                    goto done;
        } else {
            for (int j = 0; j < nout; j++) {
                if ((rc = need_buf(&buf[k + j], chunk)))
                    goto done;
                ptr[k + j] = buf[k + j];
            }
            jcs_ec_mul_run(mul, len, ptr, ptr + k);
            for (int j = 0; j < nout; j++)
                if ((rc = p_write(out[j], buf[k + j], len)))
                    goto done;
        }
        for (int i = 0; i < k; i++)
            if (inplace[i])
                in[i].off += len;
    }
    close_all(e, o->outputs, (size_t)nout);
done:
    if (in)
        for (int i = 0; i < k; i++)
            cursor_release(&in[i]);
    if (buf)
        for (int i = 0; i < k + nout; i++)
            jcs_free(buf[i]);
    jcs_ec_mul_free(mul);
    jcs_ec_free(ec);
    jcs_free(rows);
    jcs_free(in);
    jcs_free(out);
    jcs_free(buf);
    jcs_free(ptr);
    jcs_free(inplace);
    return rc;
}

static int op_chunked_join(jcs_exec *e, const Jcs__Plan__ChunkedJoin *o)
{
    size_t n = o->n_inputs, live = n;
    struct cursor *in = jcs_calloc(n, sizeof(*in));
    if (!in)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        in[i].p = pipe_of(e, o->inputs[i]);
    jcs_pipe *out = pipe_of(e, o->output);
    int rc = 0;
    for (size_t i = 0; live > 0 && rc == 0; i = (i + 1) % n) {
        if (in[i].ended)
            continue;
        uint64_t moved;
        rc = cursor_copy(&in[i], out, (uint64_t)o->chunk_size, &moved);
        if (rc == 0 && in[i].ended)
            live--;
    }
    for (size_t i = 0; i < n; i++)
        cursor_release(&in[i]);
    jcs_free(in);
    if (rc == 0)
        jcs_pipe_close(out, 0);
    return rc;
}

static int op_range(jcs_exec *e, const Jcs__Plan__Range *o)
{
    struct cursor cu = {.p = pipe_of(e, o->input)};
    jcs_pipe *out = pipe_of(e, o->output);
    uint64_t moved;
    uint64_t len = o->length < 0 ? UINT64_MAX : (uint64_t)o->length;
    int rc = cursor_copy(&cu, NULL, (uint64_t)o->offset, &moved);
    if (rc == 0)
        rc = cursor_copy(&cu, out, len, &moved);
    /* The consumer has all it gets: let it go on while the rest drains. */
    if (rc == 0)
        jcs_pipe_close(out, 0);
    while (rc == 0 && !cu.ended)
        rc = cursor_copy(&cu, NULL, UINT64_MAX, &moved);
    cursor_release(&cu);
    return rc;
}

static int op_join(jcs_exec *e, const Jcs__Plan__Join *o)
{
    jcs_pipe *out = pipe_of(e, o->output);
    int rc = 0;
    for (size_t i = 0; i < o->n_inputs && rc == 0; i++) {
        struct cursor cu = {.p = pipe_of(e, o->inputs[i])};
        uint64_t moved;
        rc = cursor_copy(&cu, out, UINT64_MAX, &moved);
        cursor_release(&cu);
    }
    if (rc == 0)
        jcs_pipe_close(out, 0);
    return rc;
}

/*
 * Clone hands each chunk to every output in turn (the same bytes, shared by
 * reference, not copied), so the slowest consumer
 * sets the pace (memory stays bounded). A consumer that stops early aborts
 * its pipe, and Clone fails with that error: the plan has failed anyway
 * (the consumer's own error is recorded first when it has one), and
 * carrying on for the other outputs would only hide it.
 */
static int op_clone(jcs_exec *e, const Jcs__Plan__Clone *o)
{
    jcs_pipe *in = pipe_of(e, o->input);
    jcs_chunk c;
    int rc;
    while ((rc = p_read(in, &c)) == 0) {
        for (size_t i = 0; i < o->n_outputs && rc == 0; i++)
            rc = p_write_ref(pipe_of(e, o->outputs[i]), &c, 0, c.len); /* shared, not copied */
        jcs_pipe_release(in, &c);
        if (rc)
            break;
    }
    if (rc == JCS_EOF) {
        close_all(e, o->outputs, o->n_outputs);
        return 0;
    }
    return rc;
}

static int op_send_stream(jcs_exec *e, const Jcs__Plan__SendStream *o)
{
    jcs_pipe *in = pipe_of(e, o->input);
    int rc = e->env.push(e->env.ctx, o->to, e->plan_id, o->remote_var, in);
    /* The transfer failed because the plan did (its source pipe was
     * failed from the writer's side first), or on its own. */
    if (rc && jcs_pipe_failed_by(in) == JCS_PIPE_WRITER)
        from_pipe = 1;
    return rc;
}

static int op_get_stream(jcs_exec *e, const Jcs__Plan__GetStream *o)
{
    jcs_pipe *out = pipe_of(e, o->output);
    int rc = e->env.pull(e->env.ctx, o->from, e->plan_id, o->remote_var, out);
    if (rc == 0)
        jcs_pipe_close(out, 0);
    else if (jcs_pipe_failed_by(out) == JCS_PIPE_READER)
        from_pipe = 1;
    return rc;
}

static int op_send_var(jcs_exec *e, const Jcs__Plan__SendVar *o)
{
    Jcs__Plan__Value *v;
    int rc = jcs_exec_get_value(e, o->input, -1, &v);
    if (rc)
        return rc;
    rc = e->env.push_value(e->env.ctx, o->to, e->plan_id, o->remote_var, v);
    value_free(v);
    return rc;
}

static int op_get_var(jcs_exec *e, const Jcs__Plan__GetVar *o)
{
    Jcs__Plan__Value *v = NULL;
    int rc = e->env.pull_value(e->env.ctx, o->from, e->plan_id, o->remote_var, &v);
    if (rc) {
        value_free(v);
        return rc;
    }
    if (!v)
        return jcs_err_set(JCS_EINTERNAL, "pull_value returned no value");
    return set_value(e, o->output, v);
}

static int run_op(jcs_exec *e, const Jcs__Plan__Op *op)
{
    switch (op->op_case) {
    case JCS__PLAN__OP__OP_SHARD_READ:
        return op_shard_read(e, op->shard_read);
    case JCS__PLAN__OP__OP_SHARD_WRITE:
        return op_shard_write(e, op->shard_write);
    case JCS__PLAN__OP__OP_CHUNKED_SPLIT:
        return op_chunked_split(e, op->chunked_split);
    case JCS__PLAN__OP__OP_EC_MULTIPLY:
        return op_ec_multiply(e, op->ec_multiply);
    case JCS__PLAN__OP__OP_CHUNKED_JOIN:
        return op_chunked_join(e, op->chunked_join);
    case JCS__PLAN__OP__OP_RANGE:
        return op_range(e, op->range);
    case JCS__PLAN__OP__OP_JOIN:
        return op_join(e, op->join);
    case JCS__PLAN__OP__OP_CLONE:
        return op_clone(e, op->clone);
    case JCS__PLAN__OP__OP_SEND_STREAM:
        return op_send_stream(e, op->send_stream);
    case JCS__PLAN__OP__OP_GET_STREAM:
        return op_get_stream(e, op->get_stream);
    case JCS__PLAN__OP__OP_SEND_VAR:
        return op_send_var(e, op->send_var);
    case JCS__PLAN__OP__OP_GET_VAR:
        return op_get_var(e, op->get_var);
    default:
        return jcs_err_set(JCS_EINTERNAL, "unknown op kind %d", (int)op->op_case);
    }
}

static void *op_main(void *arg)
{
    struct op_run *r = arg;
    jcs_err_clear();
    from_pipe = 0;
    int rc = run_op(r->e, r->op);
    if (rc) {
        /* Ops that fail because another one did come second: only the
         * first error is recorded (or its cause, see exec_fail_weak). */
        char msg[sizeof(r->e->errmsg)];
        snprintf(msg, sizeof(msg), "%s: %s", r->name, jcs_err_msg(rc));
        exec_fail_weak(r->e, rc, msg, from_pipe);
        jcs_debug("plan %s: %s failed: %s", r->e->plan_id, r->name, jcs_err_msg(rc));
    }
    return NULL;
}

int jcs_exec_run(jcs_exec *e, const Jcs__Plan__Fragment *frag)
{
    pthread_mutex_lock(&e->lock);
    int ran = e->ran;
    e->ran = 1;
    pthread_mutex_unlock(&e->lock);
    if (ran)
        return jcs_err_set(JCS_EINVAL, "plan %s: the executor already ran", e->plan_id);
    int rc = check_fragment(e, frag);
    if (rc) {
        /* Whoever feeds or drains this plan from outside must stop too. */
        char msg[sizeof(e->errmsg)];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        exec_fail_msg(e, rc, msg);
        return jcs_err_set(rc, "%s", msg);
    }
    if (jcs_exec_error(e))
        return exec_err(e);
    struct op_run *runs = jcs_calloc(frag->n_ops ? frag->n_ops : 1, sizeof(*runs));
    if (!runs) {
        rc = jcs_err_set(JCS_ENOMEM, "plan %s: out of memory", e->plan_id);
        exec_fail_msg(e, rc, jcs_err_msg(rc));
        return exec_err(e);
    }
    for (size_t i = 0; i < frag->n_ops; i++) {
        struct op_run *r = &runs[i];
        r->e = e;
        r->op = frag->ops[i];
        r->idx = i;
        op_name(r->op, i, r->name, sizeof(r->name));
        int prc = pthread_create(&r->th, NULL, op_main, r);
        if (prc != 0) {
            jcs_exec_fail(e, JCS_EIO, "plan %s: cannot start a thread for %s: %s", e->plan_id,
                          r->name, strerror(prc));
            break;
        }
        r->started = 1;
    }
    for (size_t i = 0; i < frag->n_ops; i++)
        if (runs[i].started)
            pthread_join(runs[i].th, NULL);
    jcs_free(runs);
    /*
     * An output drained from outside (a PullStream, the driver's download)
     * may still hold data its reader has not taken: the fragment is done
     * only when that reader has reached the end, else its caller could
     * drop the plan under the reader's feet. A failure anywhere fails the
     * pipes too, which ends this wait.
     */
    for (;;) {
        jcs_pipe *wait = NULL;
        pthread_mutex_lock(&e->lock);
        for (size_t i = 0; i < e->nvars && !wait; i++) {
            struct var *v = e->vars[i];
            if (v && v->kind == VK_STREAM && v->op_producer && !v->op_consumer && v->pipe &&
                !v->drain_checked) {
                v->drain_checked = 1;
                wait = v->pipe;
            }
        }
        pthread_mutex_unlock(&e->lock);
        if (!wait)
            break;
        jcs_pipe_wait_drained(wait);
    }
    if (jcs_exec_error(e))
        return exec_err(e);
    /* Every result must have its value now (from an op or from outside). */
    pthread_mutex_lock(&e->lock);
    for (size_t r = 0; r < frag->n_results && rc == 0; r++) {
        struct var *v = var_find(e, frag->results[r]);
        if (!v || !v->value)
            rc = jcs_err_set(JCS_EINVAL, "plan %s: result var %d has no value", e->plan_id,
                             frag->results[r]);
    }
    pthread_mutex_unlock(&e->lock);
    if (rc) {
        exec_fail_msg(e, rc, jcs_err_msg(rc));
        return exec_err(e);
    }
    return JCS_OK;
}
