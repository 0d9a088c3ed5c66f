/*
 * xfer.c - plan streams and values between workers over RPC (xfer.h).
 */
#include "xfer.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "bulk.h"
#include "hub.pb-c.h"
#include "log.h"
#include "methods.h"
#include "util.h"

#define MAX_PEERS        4096
#define VALUE_TIMEOUT_MS 600000
#define PING_TIMEOUT_MS  2000
/* How long a peer's answer "no bulk port" (or a failed ask) is believed before asking again. */
#define BULK_RECHECK_MS 30000

struct peer {
    char *address;
    jcs_rpc_channel *ch;
    char bulk[300];        /* host:port of its bulk channel; "" if none or unknown */
    int64_t bulk_known_ms; /* when bulk was learnt; 0: never asked */
};

struct jcs_xfer {
    char *ca, *cert, *key;
    pthread_mutex_t mu;
    struct peer *peers;
    size_t npeers, cap;
    jcs_bulk_pool *bulk; /* NULL: gRPC streams only */
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
    jcs_bulk_pool_free(x->bulk);
    jcs_free(x->ca);
    jcs_free(x->cert);
    jcs_free(x->key);
    pthread_mutex_destroy(&x->mu);
    jcs_free(x);
}

int jcs_xfer_use_bulk(jcs_xfer *x)
{
    jcs_tls_files tls = {x->ca, x->cert, x->key};
    return x->bulk ? JCS_OK : jcs_bulk_pool_new(&tls, &x->bulk);
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
    struct peer p = {jcs_strdup(address), NULL, "", 0};
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

/* ------------------------------------------------------------ bulk channel */

static struct peer *peer_find(jcs_xfer *x, const char *address)
{
    for (size_t i = 0; i < x->npeers; i++)
        if (strcmp(x->peers[i].address, address) == 0)
            return &x->peers[i];
    return NULL;
}

/*
 * The bulk address of the peer at address into out (1), or 0 when it has
 * none (or bulk is off): asked with a Ping the first time, then cached.
 */
static int bulk_address(jcs_xfer *x, const char *address, char *out, size_t n)
{
    if (!x->bulk)
        return 0;
    jcs_rpc_channel *ch;
    if (jcs_xfer_channel(x, address, &ch) != 0)
        return 0;
    int64_t now = jcs_now_ms();
    pthread_mutex_lock(&x->mu);
    struct peer *p = peer_find(x, address);
    int known = p && p->bulk_known_ms && (p->bulk[0] || now - p->bulk_known_ms < BULK_RECHECK_MS);
    if (known)
        snprintf(out, n, "%s", p->bulk);
    pthread_mutex_unlock(&x->mu);
    if (known)
        return out[0] != '\0';
    Jcs__Hub__PingReq req = JCS__HUB__PING_REQ__INIT;
    Jcs__Hub__PingResp *resp = NULL;
    char host[256], bulk[300] = "";
    int port;
    int rc = jcs_rpc_unary(ch, JCS_M_PING, &req.base, &jcs__hub__ping_resp__descriptor,
                           (ProtobufCMessage **)&resp, PING_TIMEOUT_MS);
    if (rc == 0 && resp->bulk_port > 0 && resp->bulk_port < 65536 &&
        jcs_parse_addr(address, host, sizeof(host), &port) == 0)
        snprintf(bulk, sizeof(bulk), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
                 (int)resp->bulk_port);
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    jcs_err_clear();
    pthread_mutex_lock(&x->mu);
    /* Only an answer is remembered: a peer that did not answer (down, restarting) is asked again.
     */
    if ((p = peer_find(x, address)) != NULL && rc == 0) {
        snprintf(p->bulk, sizeof(p->bulk), "%s", bulk);
        p->bulk_known_ms = now;
    }
    pthread_mutex_unlock(&x->mu);
    snprintf(out, n, "%s", bulk);
    return bulk[0] != '\0';
}

/*
 * A bulk connection to address's peer failed to open. The first time
 * (retry 0) its port is forgotten so that the next bulk_address asks again
 * (it may have restarted on another port); after that the peer counts as
 * having none for BULK_RECHECK_MS and its streams go by gRPC.
 */
static void bulk_forget(jcs_xfer *x, const char *address, int retry)
{
    pthread_mutex_lock(&x->mu);
    struct peer *p = peer_find(x, address);
    if (p) {
        p->bulk[0] = '\0';
        p->bulk_known_ms = retry ? jcs_now_ms() : 0;
    }
    pthread_mutex_unlock(&x->mu);
}

void jcs_xfer_reset_peer(jcs_xfer *x, const char *address)
{
    char bulk[300] = "";
    pthread_mutex_lock(&x->mu);
    struct peer *p = peer_find(x, address);
    jcs_rpc_channel *ch = p ? p->ch : NULL;
    if (p) {
        snprintf(bulk, sizeof(bulk), "%s", p->bulk);
        /* A peer back from a restart may listen on another bulk port: ask again. */
        p->bulk[0] = '\0';
        p->bulk_known_ms = 0;
    }
    pthread_mutex_unlock(&x->mu);
    if (ch)
        jcs_rpc_channel_reset(ch);
    if (bulk[0])
        jcs_bulk_pool_drop(x->bulk, bulk);
}

static void abort_bulk(void *arg)
{
    jcs_bulk_abort(arg);
}

/* After a failed send: the receiver's ERROR frame if it sent one, else rc. */
static int bulk_peer_error(jcs_bulk_conn *c, const char *who, int rc)
{
    jcs_bulk_frame f;
    if (jcs_bulk_readable(c) && jcs_bulk_recv(c, &f) == 0 && f.type == JCS_BULK_ERROR)
        return jcs_err_set(f.code, "%s: %s", who, f.msg);
    return jcs_err_wrap(rc, "%s: ", who);
}

static int bulk_push(jcs_xfer *x, jcs_bulk_conn *c, const char *who, jcs_pipe *src)
{
    int rc = JCS_OK;
    uint64_t sent = 0;
    jcs_pipe_on_fail(src, abort_bulk, c);
    for (;;) {
        jcs_chunk ch;
        int r = jcs_pipe_read(src, &ch);
        if (r == JCS_EOF)
            break;
        if (r < 0) {
            /* Our side of the plan failed: say so, so the receiver never commits a part. */
            char why[JCS_BULK_MAX_MSG];
            snprintf(why, sizeof(why), "%s", jcs_err_msg(r));
            jcs_pipe_on_fail(src, NULL, NULL);
            (void)jcs_bulk_send_fail(c, JCS_BULK_CANCEL, r, why);
            jcs_bulk_put(x->bulk, c, 0);
            return r;
        }
        /* A receiver that failed says so at once; do not send it the rest. */
        if (jcs_bulk_readable(c))
            r = jcs_err_set(JCS_ERPC, "the receiver ended the stream");
        else
            r = jcs_bulk_send_data(c, ch.data, ch.len);
        sent += ch.len;
        jcs_pipe_release(src, &ch);
        if (r) {
            rc = bulk_peer_error(c, who, r);
            break;
        }
    }
    jcs_bulk_frame f;
    if (!rc && ((rc = jcs_bulk_send_end(c)) || (rc = jcs_bulk_recv(c, &f))))
        rc = bulk_peer_error(c, who, rc);
    else if (!rc && f.type == JCS_BULK_ERROR)
        rc = jcs_err_set(f.code, "%s: %s", who, f.msg);
    else if (!rc && (f.type != JCS_BULK_OK || f.bytes != sent))
        rc = jcs_err_set(JCS_ERPC, "%s: the receiver answered frame %d (%llu of %llu bytes)", who,
                         f.type, (unsigned long long)f.bytes, (unsigned long long)sent);
    jcs_pipe_on_fail(src, NULL, NULL);
    if (rc)
        jcs_pipe_abort_msg(src, rc, jcs_err_msg(rc));
    jcs_bulk_put(x->bulk, c, rc == 0);
    return rc;
}

static int bulk_pull(jcs_xfer *x, jcs_bulk_conn *c, const char *who, jcs_pipe *dst)
{
    int rc = JCS_OK;
    jcs_pipe_on_fail(dst, abort_bulk, c);
    for (;;) {
        jcs_bulk_frame f;
        if ((rc = jcs_bulk_recv(c, &f)) != 0) {
            rc = jcs_err_wrap(rc, "%s: ", who);
            break;
        }
        if (f.type == JCS_BULK_END)
            break;
        if (f.type == JCS_BULK_ERROR) {
            rc = jcs_err_set(f.code, "%s: %s", who, f.msg);
            break;
        }
        if (f.type != JCS_BULK_DATA) {
            rc = jcs_err_set(JCS_ERPC, "%s: frame type %d in a stream", who, f.type);
            break;
        }
        /* Straight into a pipe buffer: the one copy is OpenSSL's decryption. */
        while (f.len && !rc) {
            uint8_t *buf;
            size_t cap;
            int pr = jcs_pipe_get_buffer(dst, &buf, &cap);
            if (pr) {
                /* Our consumer gave up: stop the sender too (the connection is closed). */
                jcs_pipe_on_fail(dst, NULL, NULL);
                jcs_bulk_put(x->bulk, c, 0);
                return pr;
            }
            size_t k = f.len < cap ? f.len : cap;
            if ((rc = jcs_bulk_recv_data(c, buf, k)) != 0)
                rc = jcs_err_wrap(rc, "%s: ", who);
            pr = jcs_pipe_commit_buffer(dst, rc ? 0 : k);
            rc = rc ? rc : pr;
            f.len -= k;
        }
        if (rc)
            break;
    }
    jcs_pipe_on_fail(dst, NULL, NULL);
    jcs_bulk_put(x->bulk, c, rc == 0);
    return rc;
}

int jcs_xfer_push(jcs_xfer *x, const Jcs__Plan__Worker *to, const char *plan_id, int32_t var,
                  jcs_pipe *src)
{
    char bulk[300];
    for (int retry = 0;
         retry < 2 && to && to->address && bulk_address(x, to->address, bulk, sizeof(bulk));
         retry++) {
        jcs_bulk_conn *c;
        char who[400];
        snprintf(who, sizeof(who), "hub %lld at %s", (long long)to->hub_id, to->address);
        if (jcs_bulk_open(x->bulk, bulk, JCS_BULK_OPEN_PUSH, plan_id, var, &c) == 0)
            return bulk_push(x, c, who, src);
        if (retry)
            jcs_warn("plan %s var %d: bulk channel to %s: %s; using gRPC", plan_id, (int)var, bulk,
                     jcs_err_msg(-1));
        bulk_forget(x, to->address, retry);
    }
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
    char bulk[300];
    for (int retry = 0;
         retry < 2 && from && from->address && bulk_address(x, from->address, bulk, sizeof(bulk));
         retry++) {
        jcs_bulk_conn *c;
        char who[400];
        snprintf(who, sizeof(who), "hub %lld at %s", (long long)from->hub_id, from->address);
        if (jcs_bulk_open(x->bulk, bulk, JCS_BULK_OPEN_PULL, plan_id, var, &c) == 0)
            return bulk_pull(x, c, who, dst);
        if (retry)
            jcs_warn("plan %s var %d: bulk channel to %s: %s; using gRPC", plan_id, (int)var, bulk,
                     jcs_err_msg(-1));
        bulk_forget(x, from->address, retry);
    }
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
