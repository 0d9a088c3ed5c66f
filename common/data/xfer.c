/*
 * xfer.c - plan streams and values between workers over RPC (xfer.h).
 */
#include "xfer.h"

#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "hub.pb-c.h"
#include "methods.h"
#include "util.h"

#define MAX_PEERS        4096
#define VALUE_TIMEOUT_MS 600000

struct peer {
    char *address;
    jcs_rpc_channel *ch;
};

struct jcs_xfer {
    char *ca, *cert, *key;
    pthread_mutex_t mu;
    struct peer *peers;
    size_t npeers, cap;
};

int jcs_xfer_new(const jcs_tls_files *tls, jcs_xfer **out)
{
    jcs_xfer *x = jcs_calloc(1, sizeof(*x));
    if (!x)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    x->ca = jcs_strdup(tls->ca_file);
    x->cert = jcs_strdup(tls->cert_file);
    x->key = jcs_strdup(tls->key_file);
    if (!x->ca || (tls->cert_file && !x->cert) || (tls->key_file && !x->key)) {
        jcs_xfer_free(x);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&x->mu, NULL);
    *out = x;
    return JCS_OK;
}

void jcs_xfer_free(jcs_xfer *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->npeers; i++) {
        jcs_rpc_channel_free(x->peers[i].ch);
        jcs_free(x->peers[i].address);
    }
    jcs_free(x->peers);
    jcs_free(x->ca);
    jcs_free(x->cert);
    jcs_free(x->key);
    pthread_mutex_destroy(&x->mu);
    jcs_free(x);
}

int jcs_xfer_channel(jcs_xfer *x, const char *address, jcs_rpc_channel **out)
{
    int rc = JCS_OK;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < x->npeers; i++) {
        if (strcmp(x->peers[i].address, address) == 0) {
            *out = x->peers[i].ch;
            pthread_mutex_unlock(&x->mu);
            return JCS_OK;
        }
    }
    if (x->npeers == MAX_PEERS) {
        rc = jcs_err_set(JCS_ETOOBIG, "more than %d peers", MAX_PEERS);
        goto out;
    }
    if (x->npeers == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 16;
        struct peer *p = jcs_realloc(x->peers, cap * sizeof(*p));
        if (!p) {
            rc = jcs_err_set(JCS_ENOMEM, "out of memory");
            goto out;
        }
        x->peers = p;
        x->cap = cap;
    }
    jcs_tls_files tls = {x->ca, x->cert, x->key};
    struct peer p = {jcs_strdup(address), NULL};
    if (!p.address) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = jcs_rpc_channel_open(address, &tls, &p.ch)) != 0) {
        jcs_free(p.address);
        goto out;
    }
    x->peers[x->npeers++] = p;
    *out = p.ch;
out:
    pthread_mutex_unlock(&x->mu);
    return rc;
}

int jcs_xfer_open(jcs_rpc_channel *ch, const char *method, jcs_rpc_stream **out)
{
    /*
     * A peer that just restarted is reconnected within a backoff of up to a
     * second; opening is safe to repeat (nothing was sent yet), so ride that
     * out instead of failing the plan.
     */
    int rc = JCS_OK;
    for (int attempt = 0; attempt < 4; attempt++) {
        if (attempt)
            jcs_sleep_ms(350);
        rc = jcs_rpc_stream_open(ch, method, 0, out);
        if (rc != JCS_EUNAVAIL)
            break;
    }
    return rc;
}

static int open_stream(jcs_xfer *x, const Jcs__Plan__Worker *w, const char *method,
                       const char *plan_id, int32_t var, jcs_rpc_stream **out)
{
    jcs_rpc_channel *ch;
    if (!w || !w->address || !w->address[0])
        return jcs_err_set(JCS_EINVAL, "plan %s var %d: the worker has no address", plan_id,
                           (int)var);
    int rc = jcs_xfer_channel(x, w->address, &ch);
    if (rc)
        return rc;
    if ((rc = jcs_xfer_open(ch, method, out)) != 0)
        return rc;
    Jcs__Hub__StreamHeader h = JCS__HUB__STREAM_HEADER__INIT;
    h.plan_id = (char *)plan_id;
    h.var = var;
    if ((rc = jcs_rpc_stream_send(*out, &h.base)) != 0) {
        int fr = jcs_rpc_stream_finish(*out);
        rc = fr ? fr : rc;
        jcs_rpc_stream_free(*out);
        *out = NULL;
    }
    return rc;
}

static void cancel_stream(void *arg)
{
    jcs_rpc_stream_cancel(arg);
}

int jcs_xfer_push(jcs_xfer *x, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                  jcs_pipe *src)
{
    jcs_rpc_stream *st = NULL;
    int rc = open_stream(x, to, JCS_M_PUSH_STREAM, plan_id, var, &st);
    if (rc) {
        jcs_pipe_abort_msg(src, rc, jcs_err_msg(rc));
        return rc;
    }
    /* A plan failing elsewhere fails src: that must also stop a send blocked on a receiver
     * that will never read (its hub may never get its fragment). */
    jcs_pipe_on_fail(src, cancel_stream, st);
    for (;;) {
        jcs_chunk c;
        int r = jcs_pipe_read(src, &c);
        if (r == JCS_EOF)
            break;
        if (r < 0) {
            /* Our side of the plan failed: do not let the receiver commit a partial stream. */
            jcs_pipe_on_fail(src, NULL, NULL);
            jcs_rpc_stream_cancel(st);
            jcs_rpc_stream_free(st);
            return r;
        }
        /* gRPC reads the chunk's bytes in place and drops the hold when done with them. */
        void *hold = jcs_chunk_hold(&c);
        r = hold ? jcs_rpc_stream_send_owned(st, c.data, c.len, jcs_chunk_drop, hold)
                 : jcs_rpc_stream_send_raw(st, c.data, c.len);
        jcs_pipe_release(src, &c);
        if (r) {
            /* The receiver failed; its status says why better than the send error. */
            jcs_pipe_on_fail(src, NULL, NULL);
            int fr = jcs_rpc_stream_finish(st);
            rc = fr ? fr : r;
            jcs_pipe_abort_msg(src, rc, jcs_err_msg(rc));
            jcs_rpc_stream_free(st);
            return rc;
        }
    }
    rc = jcs_rpc_stream_close_send(st);
    /* The hub answers once; gRPC has the status only after the end of its messages. */
    for (int r = 0; !rc && r == 0;) {
        ProtobufCMessage *resp = NULL;
        r = jcs_rpc_stream_recv(st, &jcs__hub__push_stream_resp__descriptor, &resp);
        if (resp)
            protobuf_c_message_free_unpacked(resp, NULL);
        if (r < 0)
            rc = r;
    }
    jcs_pipe_on_fail(src, NULL, NULL);
    int fr = jcs_rpc_stream_finish(st);
    jcs_rpc_stream_free(st);
    return fr ? fr : rc;
}

int jcs_xfer_pull(jcs_xfer *x, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                  jcs_pipe *dst)
{
    jcs_rpc_stream *st = NULL;
    int rc = open_stream(x, from, JCS_M_PULL_STREAM, plan_id, var, &st);
    if (rc)
        return rc;
    /* The plan failing here (dst fails) must also stop a receive from a sender that is
     * stuck or gone. */
    jcs_pipe_on_fail(dst, cancel_stream, st);
    if ((rc = jcs_rpc_stream_close_send(st)) != 0)
        goto done;
    for (;;) {
        /* Each received message goes into dst as gRPC's own pieces, not copied. */
        jcs_rpc_msg *m;
        const struct iovec *iov;
        size_t n;
        int r = jcs_rpc_stream_recv_msg(st, &m, &iov, &n);
        if (r == JCS_EOF)
            break;
        if (r < 0) {
            rc = r;
            break;
        }
        int cr = jcs_pipe_write_ext(dst, iov, n, jcs_rpc_msg_free, m);
        if (cr) {
            /* Our consumer gave up: stop the sender too. */
            jcs_pipe_on_fail(dst, NULL, NULL);
            jcs_rpc_stream_cancel(st);
            jcs_rpc_stream_free(st);
            return cr;
        }
    }
done:;
    jcs_pipe_on_fail(dst, NULL, NULL);
    int fr = jcs_rpc_stream_finish(st);
    jcs_rpc_stream_free(st);
    return fr ? fr : rc;
}

int jcs_xfer_push_value(jcs_xfer *x, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                        const Jcs__Plan__Value *value)
{
    jcs_rpc_channel *ch;
    int rc = jcs_xfer_channel(x, to->address, &ch);
    if (rc)
        return rc;
    Jcs__Hub__PushVarReq req = JCS__HUB__PUSH_VAR_REQ__INIT;
    ProtobufCMessage *resp = NULL;
    req.plan_id = (char *)plan_id;
    req.var = var;
    req.value = (Jcs__Plan__Value *)value;
    rc = jcs_rpc_unary(ch, JCS_M_PUSH_VAR, &req.base, &jcs__hub__push_var_resp__descriptor, &resp,
                       VALUE_TIMEOUT_MS);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

int jcs_xfer_pull_value(jcs_xfer *x, const Jcs__Plan__Worker *from, const char *plan_id,
                        int32_t var, Jcs__Plan__Value **out)
{
    jcs_rpc_channel *ch;
    int rc = jcs_xfer_channel(x, from->address, &ch);
    if (rc)
        return rc;
    Jcs__Hub__PullVarReq req = JCS__HUB__PULL_VAR_REQ__INIT;
    Jcs__Hub__PullVarResp *resp = NULL;
    req.plan_id = (char *)plan_id;
    req.var = var;
    req.timeout_ms = VALUE_TIMEOUT_MS - 1000;
    rc = jcs_rpc_unary(ch, JCS_M_PULL_VAR, &req.base, &jcs__hub__pull_var_resp__descriptor,
                       (ProtobufCMessage **)&resp, VALUE_TIMEOUT_MS);
    if (rc)
        return rc;
    if (!resp->value) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return jcs_err_set(JCS_ERPC, "%s: PullVar answered without a value", from->address);
    }
    /* Detach the value from the response so the caller owns a plain Value. */
    *out = resp->value;
    resp->value = NULL;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return JCS_OK;
}

static int env_push(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                    jcs_pipe *src)
{
    return jcs_xfer_push(ctx, to, plan_id, var, src);
}

static int env_pull(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id, int32_t var,
                    jcs_pipe *dst)
{
    return jcs_xfer_pull(ctx, from, plan_id, var, dst);
}

static int env_push_value(void *ctx, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                          const Jcs__Plan__Value *v)
{
    return jcs_xfer_push_value(ctx, to, plan_id, var, v);
}

static int env_pull_value(void *ctx, const Jcs__Plan__Worker *from, const char *plan_id,
                          int32_t var, Jcs__Plan__Value **out)
{
    return jcs_xfer_pull_value(ctx, from, plan_id, var, out);
}

void jcs_xfer_env(jcs_xfer *x, jcs_exec_env *env)
{
    env->ctx = x;
    env->push = env_push;
    env->pull = env_pull;
    env->push_value = env_push_value;
    env->pull_value = env_pull_value;
}
