/*
 * test_rpc.c - the RPC layer end to end over mutual TLS on 127.0.0.1.
 *
 * Every test starts its own server on a free port with the methods below
 * (service /jcs.rpctest.Test, messages in proto/rpctest.proto) and talks to
 * it with certificates made by testcerts. Server-side observations (what a
 * handler saw) are recorded in `obs` under a mutex, and tests wait for them
 * with a generous bound so that a lost wake-up fails instead of hanging.
 */
#include <isa-l/crc.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "rpc.h"
#include "rpctest.pb-c.h"
#include "t.h"
#include "testcerts.h"
#include "util.h"

#define MIB (1024 * 1024)
#define SVC "/jcs.rpctest.Test/"

/* ------------------------------------------------------------ fixture */

static testcerts tc;
static const jcs_tls_files *server_tls, *client_tls, *hub_tls, *evil_tls;
static char log_path[256];

static void fixture_cleanup(void)
{
    /* Show the server log lines in the test log before the directory goes. */
    char *text = NULL;
    size_t len;
    if (log_path[0] && jcs_read_file(log_path, 64 * MIB, &text, &len) == 0)
        fprintf(stderr, "---- log of test_rpc ----\n%s", text);
    jcs_free(text);
    jcs_rpc_shutdown();
    testcerts_cleanup(&tc);
}

static int fixture(void)
{
    static int state; /* 0 not yet, 1 ready, -1 failed */
    if (state)
        return state > 0 ? 0 : -1;
    state = -1;
    if (testcerts_init(&tc) != 0)
        return -1;
    server_tls = testcerts_issue(&tc, "coordinator", "coord1", false);
    client_tls = testcerts_issue(&tc, "client", "client1", false);
    hub_tls = testcerts_issue(&tc, "hub", "hub1", false);
    evil_tls = testcerts_issue(&tc, "hub", "hub1", true);
    if (!server_tls || !client_tls || !hub_tls || !evil_tls)
        return -1;
    /* Log lines go to a file the role test can read. */
    snprintf(log_path, sizeof(log_path), "%s/test.log", tc.dir);
    if (jcs_log_to_file(log_path) != 0)
        return -1;
    jcs_rpc_init();
    /*
     * OpenSSL registers its own exit handler (OPENSSL_cleanup) when first
     * initialised. Initialising it now, before registering ours, makes ours
     * run first, so gRPC's threads are gone before OpenSSL tears down its
     * thread-local state (otherwise their error queues leak).
     */
    OPENSSL_init_ssl(0, NULL);
    atexit(fixture_cleanup);
    state = 1;
    return 0;
}

/* What handlers saw, for the tests to check. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int upload_rc, download_rc, sleep_rc; /* final rc of the last handler of each kind */
    int64_t uploads_done, downloads_done, sleeps_done;
    int64_t upload_bytes, upload_msgs;
    uint32_t upload_crc;
    int64_t download_sent;
    int64_t echo_time_left;
    pid_t echo_tids[64]; /* distinct threads that ran Echo since the reset */
    int n_echo_tids;
} obs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void obs_reset(void)
{
    pthread_mutex_lock(&obs.mu);
    obs.upload_rc = obs.download_rc = obs.sleep_rc = 1;
    obs.uploads_done = obs.downloads_done = obs.sleeps_done = 0;
    obs.upload_bytes = obs.upload_msgs = obs.download_sent = 0;
    obs.upload_crc = 0;
    obs.n_echo_tids = 0;
    pthread_mutex_unlock(&obs.mu);
}

/* Waits up to 20 s until *counter >= want; returns whether it got there. */
static int obs_wait(int64_t *counter, int64_t want)
{
    struct timespec ts;
    int ok;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&obs.mu);
    while (*counter < want)
        if (pthread_cond_timedwait(&obs.cv, &obs.mu, &ts) != 0)
            break;
    ok = *counter >= want;
    pthread_mutex_unlock(&obs.mu);
    return ok;
}

/* Deterministic bytes: message seq of a stream, so both ends can check them. */
static void fill(uint8_t *p, size_t n, uint64_t seq)
{
    uint64_t x = seq * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        p[i] = (uint8_t)(x >> ((i & 7) * 8));
    }
}

static int check_fill(const uint8_t *p, size_t n, uint64_t seq)
{
    uint8_t *want = jcs_malloc(n ? n : 1);
    int same;
    fill(want, n, seq);
    same = memcmp(want, p, n) == 0;
    jcs_free(want);
    return same;
}

/* ------------------------------------------------------------ handlers */

typedef Jcs__Rpctest__Echo Echo;
#define ECHO_INIT JCS__RPCTEST__ECHO__INIT
#define ECHO_DESC (&jcs__rpctest__echo__descriptor)

static int recv_echo(jcs_rpc_call *c, Echo **out)
{
    ProtobufCMessage *m = NULL;
    int rc = jcs_rpc_call_recv(c, ECHO_DESC, &m);
    if (rc == JCS_EOF)
        return jcs_err_set(JCS_EINVAL, "expected a request, got the end of the stream");
    *out = (Echo *)m;
    return rc;
}

/* Echo: answers {data, n + 1, text}. */
static int h_echo(jcs_rpc_call *c, void *ctx)
{
    Echo *req = NULL, resp = ECHO_INIT;
    int rc = recv_echo(c, &req);
    if (rc)
        return rc;
    pthread_mutex_lock(&obs.mu);
    obs.echo_time_left = jcs_rpc_call_time_left_ms(c);
    pid_t tid = gettid();
    int seen = 0;
    for (int i = 0; i < obs.n_echo_tids; i++)
        seen |= obs.echo_tids[i] == tid;
    if (!seen && obs.n_echo_tids < 64)
        obs.echo_tids[obs.n_echo_tids++] = tid;
    pthread_mutex_unlock(&obs.mu);
    resp.data = req->data;
    resp.n = req->n + 1;
    resp.text = req->text;
    rc = jcs_rpc_call_send(c, &resp.base);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

/* Fail: returns the jcs_err code n with detail text. */
static int h_fail(jcs_rpc_call *c, void *ctx)
{
    Echo *req = NULL;
    int rc = recv_echo(c, &req);
    if (rc)
        return rc;
    rc = jcs_err_set((int)req->n, "%s", req->text);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

/* Sleep: waits n ms, then tries to answer. */
static int h_sleep(jcs_rpc_call *c, void *ctx)
{
    Echo *req = NULL, resp = ECHO_INIT;
    int rc = recv_echo(c, &req);
    if (rc)
        return rc;
    jcs_sleep_ms(req->n);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    rc = jcs_rpc_call_send(c, &resp.base);
    pthread_mutex_lock(&obs.mu);
    obs.sleep_rc = rc;
    obs.sleeps_done++;
    pthread_cond_broadcast(&obs.cv);
    pthread_mutex_unlock(&obs.mu);
    return rc;
}

/* Upload: raw messages until the end; answers {n = bytes, data = crc32c (4 bytes LE)}. */
static int h_upload(jcs_rpc_call *c, void *ctx)
{
    uint8_t *buf = jcs_malloc(MIB);
    uint32_t crc = 0;
    int64_t bytes = 0, msgs = 0;
    size_t len;
    int rc;

    if (!buf)
        return jcs_err_set(JCS_ENOMEM, "upload buffer");
    while ((rc = jcs_rpc_call_recv_raw(c, buf, MIB, &len)) == 0) {
        crc = crc32_iscsi(buf, (int)len, crc);
        bytes += len;
        msgs++;
        pthread_mutex_lock(&obs.mu);
        obs.upload_msgs = msgs;
        pthread_cond_broadcast(&obs.cv);
        pthread_mutex_unlock(&obs.mu);
    }
    jcs_free(buf);
    if (rc == JCS_EOF) {
        Echo resp = ECHO_INIT;
        uint8_t le[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                         (uint8_t)(crc >> 24)};
        resp.n = bytes;
        resp.data.data = le;
        resp.data.len = 4;
        rc = jcs_rpc_call_send(c, &resp.base);
    }
    pthread_mutex_lock(&obs.mu);
    obs.upload_rc = rc;
    obs.upload_bytes = bytes;
    obs.upload_crc = crc;
    obs.uploads_done++;
    pthread_cond_broadcast(&obs.cv);
    pthread_mutex_unlock(&obs.mu);
    return rc;
}

/* UploadQuota: takes two raw messages, then refuses the rest. */
static int h_upload_quota(jcs_rpc_call *c, void *ctx)
{
    uint8_t *buf = jcs_malloc(MIB);
    size_t len;
    int rc = buf ? 0 : JCS_ENOMEM;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = jcs_rpc_call_recv_raw(c, buf, MIB, &len);
    jcs_free(buf);
    if (rc)
        return rc;
    return jcs_err_set(JCS_ETOOBIG, "space sp1: quota of 2 MiB reached");
}

/* Download: request {n = count, text = size}; sends count Echo{n = seq, data = fill(seq)}. */
static int h_download(jcs_rpc_call *c, void *ctx)
{
    Echo *req = NULL;
    uint8_t *buf;
    int64_t count;
    size_t size;
    int rc = recv_echo(c, &req);
    if (rc)
        return rc;
    count = req->n;
    size = (size_t)atol(req->text);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    buf = jcs_malloc(size ? size : 1);
    if (!buf)
        return jcs_err_set(JCS_ENOMEM, "download buffer");
    for (int64_t i = 0; i < count && rc == 0; i++) {
        Echo m = ECHO_INIT;
        fill(buf, size, (uint64_t)i);
        m.n = i;
        m.data.data = buf;
        m.data.len = size;
        rc = jcs_rpc_call_send(c, &m.base);
        pthread_mutex_lock(&obs.mu);
        obs.download_sent = i + 1;
        pthread_cond_broadcast(&obs.cv);
        pthread_mutex_unlock(&obs.mu);
    }
    jcs_free(buf);
    pthread_mutex_lock(&obs.mu);
    obs.download_rc = rc;
    obs.downloads_done++;
    pthread_cond_broadcast(&obs.cv);
    pthread_mutex_unlock(&obs.mu);
    return rc;
}

/* Big: checks data == fill(n), answers data XOR 0x5a. */
static int h_big(jcs_rpc_call *c, void *ctx)
{
    Echo *req = NULL, resp = ECHO_INIT;
    int rc = recv_echo(c, &req);
    if (rc)
        return rc;
    if (!check_fill(req->data.data, req->data.len, (uint64_t)req->n)) {
        protobuf_c_message_free_unpacked(&req->base, NULL);
        return jcs_err_set(JCS_ECORRUPT, "big: request bytes differ");
    }
    for (size_t i = 0; i < req->data.len; i++)
        req->data.data[i] ^= 0x5a;
    resp.data = req->data;
    resp.n = (int64_t)req->data.len;
    rc = jcs_rpc_call_send(c, &resp.base);
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

/* WhoAmI (hub only): answers {text = subject, data = CN, n = role}. */
static int h_whoami(jcs_rpc_call *c, void *ctx)
{
    Echo *req = NULL, resp = ECHO_INIT;
    int rc = recv_echo(c, &req);
    if (rc)
        return rc;
    protobuf_c_message_free_unpacked(&req->base, NULL);
    resp.text = (char *)jcs_rpc_call_peer(c);
    resp.data.data = (uint8_t *)jcs_rpc_call_peer_name(c);
    resp.data.len = strlen(jcs_rpc_call_peer_name(c));
    resp.n = jcs_rpc_call_role(c);
    return jcs_rpc_call_send(c, &resp.base);
}

static const jcs_rpc_method methods[] = {
    {SVC "Echo", JCS_ROLE_ANY, h_echo},
    {SVC "Fail", JCS_ROLE_ANY, h_fail},
    {SVC "Sleep", JCS_ROLE_ANY, h_sleep},
    {SVC "Upload", JCS_ROLE_ANY, h_upload},
    {SVC "Download", JCS_ROLE_ANY, h_download},
    {SVC "Big", JCS_ROLE_ANY, h_big},
    {SVC "WhoAmI", JCS_ROLE_HUB, h_whoami},
    {SVC "UploadQuota", JCS_ROLE_ANY, h_upload_quota},
    {SVC "HubUpload", JCS_ROLE_HUB | JCS_ROLE_COORDINATOR, h_upload},
};

static jcs_rpc_server *server_up(void)
{
    jcs_rpc_server *srv = NULL;
    if (fixture() != 0)
        return NULL;
    obs_reset();
    if (jcs_rpc_server_create("127.0.0.1:0", server_tls, methods,
                              sizeof(methods) / sizeof(methods[0]), NULL, &srv) != 0) {
        fprintf(stderr, "server_create: %s\n", jcs_err_msg(-1));
        return NULL;
    }
    if (jcs_rpc_server_start(srv) != 0) {
        jcs_rpc_server_free(srv);
        return NULL;
    }
    return srv;
}

static jcs_rpc_channel *channel_to(jcs_rpc_server *srv, const jcs_tls_files *tls)
{
    char target[64];
    jcs_rpc_channel *ch = NULL;
    snprintf(target, sizeof(target), "127.0.0.1:%d", jcs_rpc_server_port(srv));
    if (jcs_rpc_channel_open(target, tls, &ch) != 0)
        return NULL;
    return ch;
}

/* Unary Echo-typed call; resp is freed by the caller. */
static int call_echo(jcs_rpc_channel *ch, const char *method, int64_t n, const char *text,
                     Echo **resp, int64_t timeout_ms)
{
    Echo req = ECHO_INIT;
    ProtobufCMessage *m = NULL;
    int rc;
    req.n = n;
    req.text = (char *)text;
    rc = jcs_rpc_unary(ch, method, &req.base, ECHO_DESC, &m, timeout_ms);
    *resp = (Echo *)m;
    return rc;
}

/* ------------------------------------------------------------ 1. unary and errors */

TEST(unary_round_trip)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    Echo *resp = NULL;
    uint8_t bytes[3] = {0, 0xff, 7};
    Echo req = ECHO_INIT;
    ProtobufCMessage *m = NULL;
    req.n = 41;
    req.text = "hello";
    req.data.data = bytes;
    req.data.len = 3;
    int rc = jcs_rpc_unary(ch, SVC "Echo", &req.base, ECHO_DESC, &m, 5000);
    resp = (Echo *)m;
    int64_t left = obs.echo_time_left;
    if (rc == 0) {
        T_EQ_INT(resp->n, 42);
        T_EQ_STR(resp->text, "hello");
        T_EQ_INT(resp->data.len, 3);
        T_ASSERT(memcmp(resp->data.data, bytes, 3) == 0);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    /* A second call on the same channel reuses the connection. */
    int rc2 = call_echo(ch, SVC "Echo", 1, "", &resp, 60000);
    if (rc2 == 0) {
        T_EQ_INT(resp->n, 2);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    int64_t left_none = obs.echo_time_left;
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(rc);
    T_OK(rc2);
    T_ASSERT(left > 0 && left <= 5000, "(time left %lld)", (long long)left);
    T_ASSERT(left_none > 5000 && left_none <= 61000, "(time left %lld)", (long long)left_none);
}

TEST(sequential_calls_reuse_handler_threads)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    int failed = 0;
    for (int i = 0; i < 50; i++) {
        Echo *resp = NULL;
        if (call_echo(ch, SVC "Echo", i, "x", &resp, 5000) != 0)
            failed++;
        else
            protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    pthread_mutex_lock(&obs.mu);
    int threads = obs.n_echo_tids;
    pthread_mutex_unlock(&obs.mu);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_EQ_INT(failed, 0);
    /* One after the other, the calls are run by the pool's thread, not one thread each. */
    T_ASSERT(threads >= 1 && threads <= 2, "(50 calls ran on %d threads)", threads);
}

TEST(unary_all_runs_calls_at_once_each_with_its_result)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls), *ch2 = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL && ch2 != NULL);
    Echo req[6];
    jcs_rpc_unary_call calls[6];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 6; i++) {
        jcs__rpctest__echo__init(&req[i]);
        req[i].text = "t";
        calls[i].ch = i % 2 ? ch2 : ch;
        calls[i].req = &req[i].base;
        calls[i].resp_desc = ECHO_DESC;
    }
    /* Three sleeps of 400 ms, two echoes and a failure, all in flight together. */
    for (int i = 0; i < 3; i++) {
        calls[i].method = SVC "Sleep";
        req[i].n = 400;
    }
    calls[3].method = SVC "Echo";
    req[3].n = 10;
    calls[4].method = SVC "Fail";
    req[4].n = JCS_ENOENT;
    req[4].text = "no such thing";
    calls[5].method = SVC "Echo";
    req[5].n = 20;
    int64_t t0 = jcs_now_ms();
    int rc = jcs_rpc_unary_all(calls, 6, 10000);
    int64_t took = jcs_now_ms() - t0;
    char detail[256];
    snprintf(detail, sizeof detail, "%s", jcs_err_msg(rc));
    int rcs[6];
    int64_t echo_n[2] = {-1, -1};
    for (int i = 0; i < 6; i++) {
        rcs[i] = calls[i].rc;
        if (calls[i].resp) {
            if (i == 3 || i == 5)
                echo_n[i == 5] = ((Echo *)calls[i].resp)->n;
            protobuf_c_message_free_unpacked(calls[i].resp, NULL);
        }
    }
    jcs_rpc_channel_free(ch);
    jcs_rpc_channel_free(ch2);
    jcs_rpc_server_free(srv);
    T_EQ_INT(rc, JCS_ENOENT);
    T_ASSERT(strstr(detail, "no such thing") != NULL, "(detail %s)", detail);
    T_EQ_INT(rcs[0], 0);
    T_EQ_INT(rcs[1], 0);
    T_EQ_INT(rcs[2], 0);
    T_EQ_INT(rcs[3], 0);
    T_EQ_INT(rcs[4], JCS_ENOENT);
    T_EQ_INT(rcs[5], 0);
    T_EQ_INT(echo_n[0], 11);
    T_EQ_INT(echo_n[1], 21);
    /* At once: about one sleep, not three (generous for a loaded machine under ASan). */
    T_ASSERT(took >= 390 && took < 1150, "(took %lld ms)", (long long)took);
}

TEST(unary_group_takes_answers_as_they_come_and_cancels_the_rest)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    Echo req[3];
    jcs_rpc_unary_call calls[3];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 3; i++) {
        jcs__rpctest__echo__init(&req[i]);
        req[i].text = "g";
        calls[i].ch = ch;
        calls[i].req = &req[i].base;
        calls[i].resp_desc = ECHO_DESC;
        calls[i].method = SVC "Echo";
        req[i].n = 10 * (i + 1);
    }
    /* A straggler (a 1.5 s sleep) and a quick echo. */
    calls[0].method = SVC "Sleep";
    req[0].n = 1500;
    jcs_rpc_unary_group *g;
    T_OK(jcs_rpc_unary_group_new(10000, &g));
    T_OK(jcs_rpc_unary_group_start(g, &calls[0]));
    T_OK(jcs_rpc_unary_group_start(g, &calls[1]));
    T_EQ_INT(jcs_rpc_unary_group_pending(g), 2);
    jcs_rpc_unary_call *done = NULL;
    T_OK(jcs_rpc_unary_group_next(g, -1, &done));
    T_ASSERT(done == &calls[1]);
    T_EQ_INT(done->rc, 0);
    T_EQ_INT(((Echo *)done->resp)->n, 21);
    protobuf_c_message_free_unpacked(done->resp, NULL);
    /* Nothing else within 50 ms; a call added while the straggler is out answers first. */
    T_EQ_INT(jcs_rpc_unary_group_next(g, 50, &done), JCS_ETIMEOUT);
    T_OK(jcs_rpc_unary_group_start(g, &calls[2]));
    T_OK(jcs_rpc_unary_group_next(g, -1, &done));
    T_ASSERT(done == &calls[2]);
    T_EQ_INT(((Echo *)done->resp)->n, 31);
    protobuf_c_message_free_unpacked(done->resp, NULL);
    T_EQ_INT(jcs_rpc_unary_group_pending(g), 1);
    /* Freeing cancels the straggler at once instead of waiting for its answer. */
    int64_t t0 = jcs_now_ms();
    jcs_rpc_unary_group_free(g);
    int64_t took = jcs_now_ms() - t0;
    T_EQ_INT(calls[0].rc, JCS_ECANCELED);
    T_ASSERT(calls[0].resp == NULL);
    T_ASSERT(took < 1000, "(free took %lld ms)", (long long)took);
    /* An empty group: EOF. */
    T_OK(jcs_rpc_unary_group_new(1000, &g));
    T_EQ_INT(jcs_rpc_unary_group_next(g, 10, &done), JCS_EOF);
    jcs_rpc_unary_group_free(g);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
}

TEST(handler_errors_reach_the_client)
{
    static const struct {
        int code;
        const char *msg;
    } cases[] = {
        {JCS_ENOENT, "object b1/k1 not found"},
        {JCS_EINVAL, "field name: missing"},
        {JCS_EEXIST, "hub hub1 already registered"},
        {JCS_EPERM, "name hub2 does not match certificate CN hub1"},
        {JCS_EUNAVAIL, "space s3-1 unreachable"},
        {JCS_EBUSY, "lock l1 held by hub3"},
        {JCS_ECORRUPT, "shard 12: hash mismatch"},
        {JCS_ETOOBIG, "body over 1 MiB"},
        {JCS_ETIMEOUT, "s3 did not answer"},
        {JCS_EIO, "disk /d1: write failed"}, /* no own status: arrives as ERPC */
    };
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    int got[10], n = (int)(sizeof(cases) / sizeof(cases[0]));
    char msg[10][256];
    for (int i = 0; i < n; i++) {
        Echo *resp = NULL;
        got[i] = call_echo(ch, SVC "Fail", cases[i].code, cases[i].msg, &resp, 5000);
        snprintf(msg[i], sizeof(msg[i]), "%s", jcs_err_msg(got[i]));
        if (resp)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    /* A method the server does not have. */
    Echo *resp = NULL;
    int unknown = call_echo(ch, "/jcs.rpctest.Test/NoSuchMethod", 0, "", &resp, 5000);
    char unknown_msg[256];
    snprintf(unknown_msg, sizeof(unknown_msg), "%s", jcs_err_msg(unknown));
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);

    for (int i = 0; i < n; i++) {
        T_EQ_INT(got[i], cases[i].code == JCS_EIO ? JCS_ERPC : cases[i].code);
        T_EQ_STR(msg[i], cases[i].msg);
    }
    T_EQ_INT(unknown, JCS_ERPC);
    T_ASSERT(strstr(unknown_msg, "unknown method /jcs.rpctest.Test/NoSuchMethod") != NULL, "(%s)",
             unknown_msg);
}

/* ------------------------------------------------------------ 2. client streaming */

TEST(client_stream_256_mib)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    jcs_rpc_stream *st = NULL;
    uint8_t *buf = jcs_malloc(MIB);
    uint32_t crc = 0;
    int rc = buf ? jcs_rpc_stream_open(ch, SVC "Upload", 120000, &st) : JCS_ENOMEM;
    for (int i = 0; i < 256 && rc == 0; i++) {
        fill(buf, MIB, (uint64_t)i);
        crc = crc32_iscsi(buf, MIB, crc);
        rc = jcs_rpc_stream_send_raw(st, buf, MIB);
    }
    if (rc == 0)
        rc = jcs_rpc_stream_close_send(st);
    ProtobufCMessage *m = NULL;
    int rrc = rc == 0 ? jcs_rpc_stream_recv(st, ECHO_DESC, &m) : rc;
    int end = rrc == 0 ? jcs_rpc_stream_recv(st, ECHO_DESC, &(ProtobufCMessage *){NULL}) : rrc;
    int frc = rrc == 0 ? jcs_rpc_stream_finish(st) : rrc;
    Echo *resp = (Echo *)m;
    uint32_t server_crc = 0;
    int64_t server_bytes = -1;
    if (resp && resp->data.len == 4) {
        server_crc = (uint32_t)resp->data.data[0] | (uint32_t)resp->data.data[1] << 8 |
                     (uint32_t)resp->data.data[2] << 16 | (uint32_t)resp->data.data[3] << 24;
        server_bytes = resp->n;
    }
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    jcs_rpc_stream_free(st);
    jcs_free(buf);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(rc);
    T_OK(rrc);
    T_EQ_INT(end, JCS_EOF);
    T_OK(frc);
    T_EQ_INT(server_bytes, 256LL * MIB);
    T_EQ_INT(obs.upload_msgs, 256);
    T_EQ_INT(server_crc, crc);
    T_EQ_INT(obs.upload_crc, crc);
}

/* Streams MiB messages until an error, then finishes; returns the first error and its detail. */
static int upload_until_error(jcs_rpc_channel *ch, const char *method, char *msg, size_t msglen)
{
    jcs_rpc_stream *st = NULL;
    uint8_t *buf = jcs_calloc(1, MIB);
    int rc = buf ? jcs_rpc_stream_open(ch, method, 30000, &st) : JCS_ENOMEM;
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = jcs_rpc_stream_send_raw(st, buf, MIB);
    if (rc == 0)
        rc = jcs_rpc_stream_close_send(st);
    if (rc == 0) {
        ProtobufCMessage *m = NULL;
        rc = jcs_rpc_stream_recv(st, ECHO_DESC, &m);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        if (rc == JCS_EOF)
            rc = jcs_rpc_stream_finish(st);
    }
    snprintf(msg, msglen, "%s", jcs_err_msg(rc));
    jcs_rpc_stream_free(st);
    jcs_free(buf);
    return rc;
}

TEST(server_refuses_mid_upload)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    char msg[512];
    int rc = upload_until_error(ch, SVC "UploadQuota", msg, sizeof(msg));
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_EQ_INT(rc, JCS_ETOOBIG);
    T_EQ_STR(msg, "space sp1: quota of 2 MiB reached");
}

/* ------------------------------------------------------------ 3. server streaming */

TEST(server_stream_many_messages)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    enum { COUNT = 3000, SIZE = 3000 };
    jcs_rpc_stream *st = NULL;
    Echo req = ECHO_INIT;
    char size[16];
    int rc, bad = -1;
    int64_t got = 0;

    snprintf(size, sizeof(size), "%d", SIZE);
    req.n = COUNT;
    req.text = size;
    rc = jcs_rpc_stream_open(ch, SVC "Download", 60000, &st);
    if (rc == 0)
        rc = jcs_rpc_stream_send(st, &req.base);
    if (rc == 0)
        rc = jcs_rpc_stream_close_send(st);
    while (rc == 0) {
        ProtobufCMessage *m = NULL;
        rc = jcs_rpc_stream_recv(st, ECHO_DESC, &m);
        if (rc != 0)
            break;
        Echo *e = (Echo *)m;
        if (bad < 0 && (e->n != got || e->data.len != SIZE ||
                        !check_fill(e->data.data, e->data.len, (uint64_t)got)))
            bad = (int)got;
        got++;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    int frc = rc == JCS_EOF ? jcs_rpc_stream_finish(st) : rc;
    jcs_rpc_stream_free(st);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_EQ_INT(rc, JCS_EOF);
    T_OK(frc);
    T_EQ_INT(got, COUNT);
    T_EQ_INT(bad, -1);
    T_OK(obs.download_rc);
}

/* ------------------------------------------------------------ 4. big messages */

TEST(six_mib_message_both_ways)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    size_t len = 6 * MIB;
    uint8_t *data = jcs_malloc(len);
    T_ASSERT(data != NULL);
    fill(data, len, 77);
    Echo req = ECHO_INIT;
    ProtobufCMessage *m = NULL;
    req.n = 77;
    req.data.data = data;
    req.data.len = len;
    int rc = jcs_rpc_unary(ch, SVC "Big", &req.base, ECHO_DESC, &m, 60000);
    int same = 0;
    size_t got = 0;
    if (rc == 0) {
        Echo *resp = (Echo *)m;
        got = resp->data.len;
        if (got == len) {
            for (size_t i = 0; i < len; i++)
                resp->data.data[i] ^= 0x5a;
            same = memcmp(resp->data.data, data, len) == 0;
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    jcs_free(data);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(rc);
    T_EQ_INT(got, len);
    T_ASSERT(same, "(response bytes differ)");
}

TEST(raw_message_larger_than_buffer)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    /* Download sends protobuf messages of ~2 KiB; a 100-byte buffer cannot take one. */
    jcs_rpc_stream *st = NULL;
    Echo req = ECHO_INIT;
    char small[100];
    size_t len = 0;
    req.n = 5;
    req.text = "2000";
    int rc = jcs_rpc_stream_open(ch, SVC "Download", 20000, &st);
    if (rc == 0)
        rc = jcs_rpc_stream_send(st, &req.base);
    if (rc == 0)
        rc = jcs_rpc_stream_close_send(st);
    int rrc = rc == 0 ? jcs_rpc_stream_recv_raw(st, small, sizeof(small), &len) : rc;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rrc));
    jcs_rpc_stream_free(st);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(rc);
    T_EQ_INT(rrc, JCS_ETOOBIG);
    T_ASSERT(strstr(msg, "does not fit in 100") != NULL, "(%s)", msg);
}

/* ------------------------------------------------------------ 5. cancel */

TEST(client_cancels_stream)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    jcs_rpc_stream *st = NULL;
    uint8_t *buf = jcs_calloc(1, MIB);
    int rc = jcs_rpc_stream_open(ch, SVC "Upload", 60000, &st);
    for (int i = 0; i < 8 && rc == 0; i++)
        rc = jcs_rpc_stream_send_raw(st, buf, MIB);
    /* Cancel only once the server has data in hand, i.e. mid-stream. */
    int mid = rc == 0 && obs_wait(&obs.upload_msgs, 1);
    if (st)
        jcs_rpc_stream_cancel(st);
    int after = st ? jcs_rpc_stream_send_raw(st, buf, MIB) : 0;
    int finished = obs_wait(&obs.uploads_done, 1);
    jcs_rpc_stream_free(st);
    jcs_free(buf);
    /* The channel still works after a cancelled call. */
    Echo *resp = NULL;
    int again = call_echo(ch, SVC "Echo", 1, "x", &resp, 5000);
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(rc);
    T_ASSERT(mid, "(server never received a message)");
    T_EQ_INT(after, JCS_ECANCELED);
    T_ASSERT(finished, "(upload handler did not return)");
    T_EQ_INT(obs.upload_rc, JCS_ECANCELED);
    T_ASSERT(obs.upload_bytes < 9LL * MIB);
    T_OK(again);
}

/* ------------------------------------------------------------ 6. deadline */

TEST(expired_deadline)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    Echo *resp = NULL;
    /* Warm the connection so the deadline is spent in the handler, not the handshake. */
    int warm = call_echo(ch, SVC "Echo", 1, "", &resp, 10000);
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    resp = NULL;
    int rc = call_echo(ch, SVC "Sleep", 1500, "", &resp, 300);
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    int done = obs_wait(&obs.sleeps_done, 1);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(warm);
    T_EQ_INT(rc, JCS_ETIMEOUT);
    T_ASSERT(strstr(msg, "Sleep") && strstr(msg, "300 ms"), "(%s)", msg);
    T_ASSERT(done, "(sleep handler did not return)");
    T_EQ_INT(obs.sleep_rc, JCS_ECANCELED);
}

TEST(unary_call_without_deadline_is_refused)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    Echo *resp = NULL;
    int rc = call_echo(ch, SVC "Sleep", 1, "", &resp, 0);
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    jcs_sleep_ms(100);
    pthread_mutex_lock(&obs.mu);
    int64_t ran = obs.sleeps_done;
    pthread_mutex_unlock(&obs.mu);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(msg, "without a deadline") && strstr(msg, "Sleep"), "(%s)", msg);
    T_ASSERT(ran == 0, "(the call reached the server)");
}

/* A stream whose server stops answering fails within the idle deadline, naming it. */
TEST(stream_idle_deadline_when_the_server_stalls)
{
    jcs_rpc_set_idle_timeout_ms(400);
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    jcs_rpc_stream *st = NULL;
    Echo req = ECHO_INIT;
    req.n = 2500; /* the handler sleeps 2.5 s before it answers */
    int64_t t0 = jcs_now_ms();
    int rc = jcs_rpc_stream_open(ch, SVC "Sleep", 0, &st);
    if (!rc)
        rc = jcs_rpc_stream_send(st, &req.base);
    if (!rc)
        rc = jcs_rpc_stream_close_send(st);
    ProtobufCMessage *m = NULL;
    int r = rc ? rc : jcs_rpc_stream_recv(st, ECHO_DESC, &m);
    int64_t took = jcs_now_ms() - t0;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(r));
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    int done = obs_wait(&obs.sleeps_done, 1);
    jcs_rpc_stream_free(st);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    jcs_rpc_set_idle_timeout_ms(0);
    T_OK(rc);
    T_EQ_INT(r, JCS_ETIMEOUT);
    T_ASSERT(strstr(msg, "Sleep") && strstr(msg, "no progress for 400 ms"), "(%s)", msg);
    T_ASSERT(took >= 350 && took < 2000, "(gave up after %lld ms)", (long long)took);
    /* The server learnt it too: its late answer is refused. */
    T_ASSERT(done, "(sleep handler did not return)");
    T_EQ_INT(obs.sleep_rc, JCS_ECANCELED);
}

/* A server handler whose client stops sending gives up within the idle deadline. */
TEST(stream_idle_deadline_when_the_client_stalls)
{
    jcs_rpc_set_idle_timeout_ms(400);
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    jcs_rpc_stream *st = NULL;
    uint8_t buf[1024] = {0};
    int rc = jcs_rpc_stream_open(ch, SVC "Upload", 0, &st);
    if (!rc)
        rc = jcs_rpc_stream_send_raw(st, buf, sizeof buf);
    int64_t t0 = jcs_now_ms();
    int done = obs_wait(&obs.uploads_done, 1); /* the client sends nothing more */
    int64_t took = jcs_now_ms() - t0;
    /* gRPC may accept a send locally before the server's cancel reaches the client: the
     * client must learn that the stream is dead within 2 s, not necessarily at once. */
    int after = 0;
    for (int64_t t1 = jcs_now_ms(); st && after == 0 && jcs_now_ms() - t1 < 2000;) {
        after = jcs_rpc_stream_send_raw(st, buf, sizeof buf);
        if (after == 0)
            jcs_sleep_ms(50);
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(after));
    jcs_rpc_stream_free(st);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    jcs_rpc_set_idle_timeout_ms(0);
    T_OK(rc);
    T_ASSERT(done, "(upload handler still waiting)");
    T_ASSERT(took < 2000, "(handler gave up after %lld ms)", (long long)took);
    T_EQ_INT(obs.upload_rc, JCS_ETIMEOUT);
    T_ASSERT(after != 0, "(a send after the server gave up succeeded)");
}

/* The idle deadline bounds each step, not the stream: a slow stream that moves lives on. */
TEST(stream_that_moves_outlives_the_idle_deadline)
{
    jcs_rpc_set_idle_timeout_ms(400);
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    jcs_rpc_stream *st = NULL;
    uint8_t buf[1024] = {0};
    int64_t t0 = jcs_now_ms();
    int rc = jcs_rpc_stream_open(ch, SVC "Upload", 0, &st);
    for (int i = 0; i < 12 && !rc; i++) {
        jcs_sleep_ms(150);
        rc = jcs_rpc_stream_send_raw(st, buf, sizeof buf);
    }
    if (!rc)
        rc = jcs_rpc_stream_close_send(st);
    ProtobufCMessage *m = NULL;
    if (!rc)
        rc = jcs_rpc_stream_recv(st, ECHO_DESC, &m);
    int64_t n = m ? ((Echo *)m)->n : -1;
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    int64_t took = jcs_now_ms() - t0;
    if (!rc)
        rc = jcs_rpc_stream_recv(st, ECHO_DESC, &m) == JCS_EOF ? jcs_rpc_stream_finish(st) : -1;
    jcs_rpc_stream_free(st);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    jcs_rpc_set_idle_timeout_ms(0);
    T_OK(rc);
    T_EQ_INT(n, 12 * 1024);
    T_ASSERT(took >= 1800, "(%lld ms)", (long long)took);
}

/* ------------------------------------------------------------ 7. roles */

TEST(roles_are_enforced)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *as_client = channel_to(srv, client_tls);
    jcs_rpc_channel *as_hub = channel_to(srv, hub_tls);
    T_ASSERT(as_client && as_hub);
    Echo *resp = NULL;
    int denied = call_echo(as_client, SVC "WhoAmI", 0, "", &resp, 5000);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(denied));
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    resp = NULL;
    int ok = call_echo(as_hub, SVC "WhoAmI", 0, "", &resp, 5000);
    char subject[256] = "", cn[64] = "";
    int64_t role = -1;
    if (ok == 0) {
        snprintf(subject, sizeof(subject), "%s", resp->text);
        snprintf(cn, sizeof(cn), "%.*s", (int)resp->data.len, (char *)resp->data.data);
        role = resp->n;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    /* A stream is checked the same way, before the handler reads anything. */
    char smsg[512];
    int sdenied = upload_until_error(as_client, SVC "HubUpload", smsg, sizeof(smsg));
    int sok = upload_until_error(as_hub, SVC "HubUpload", (char[512]){0}, 512);
    /* The client role may still call methods open to any role. */
    resp = NULL;
    int any = call_echo(as_client, SVC "Echo", 5, "", &resp, 5000);
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    jcs_rpc_channel_free(as_client);
    jcs_rpc_channel_free(as_hub);
    jcs_rpc_server_free(srv);
    char *log = NULL;
    size_t loglen;
    int lrc = jcs_read_file(log_path, 64 * MIB, &log, &loglen);

    T_EQ_INT(denied, JCS_EPERM);
    T_ASSERT(strstr(msg, "/jcs.rpctest.Test/WhoAmI") && strstr(msg, "role client") &&
                 strstr(msg, "CN=client1"),
             "(%s)", msg);
    T_OK(ok);
    T_EQ_STR(subject, "CN=hub1,OU=hub,O=JCS-C");
    T_EQ_STR(cn, "hub1");
    T_EQ_INT(role, JCS_ROLE_HUB);
    T_OK(any);
    T_EQ_INT(sdenied, JCS_EPERM);
    T_ASSERT(strstr(smsg, "/jcs.rpctest.Test/HubUpload is not allowed for role client"), "(%s)",
             smsg);
    T_OK(sok);
    T_OK(lrc);
    int logged = strstr(log, "WARN") && strstr(log, "refused /jcs.rpctest.Test/WhoAmI to "
                                                    "CN=client1,OU=client,O=JCS-C");
    jcs_free(log);
    T_ASSERT(logged, "(no warning naming method and subject in %s)", log_path);
}

TEST(role_names)
{
    T_EQ_INT(jcs_role_parse("hub"), JCS_ROLE_HUB);
    T_EQ_INT(jcs_role_parse("coordinator"), JCS_ROLE_COORDINATOR);
    T_EQ_INT(jcs_role_parse("client"), JCS_ROLE_CLIENT);
    T_EQ_INT(jcs_role_parse("Hub"), JCS_ROLE_NONE);
    T_EQ_INT(jcs_role_parse(""), JCS_ROLE_NONE);
    T_EQ_INT(jcs_role_parse(NULL), JCS_ROLE_NONE);
    T_EQ_STR(jcs_role_name(JCS_ROLE_CLIENT), "client");
    T_EQ_STR(jcs_role_name(JCS_ROLE_NONE), "none");
}

/* ------------------------------------------------------------ 8. bad client certificates */

TEST(bad_client_certificates_are_refused)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_tls_files nocert = {client_tls->ca_file, NULL, NULL};
    jcs_rpc_channel *anon = channel_to(srv, &nocert);
    jcs_rpc_channel *evil = channel_to(srv, evil_tls);
    T_ASSERT(anon && evil);
    char target[64], msg1[512], msg2[512];
    snprintf(target, sizeof(target), "127.0.0.1:%d", jcs_rpc_server_port(srv));
    Echo *resp = NULL;
    int rc1 = call_echo(anon, SVC "Echo", 1, "", &resp, 5000);
    snprintf(msg1, sizeof(msg1), "%s", jcs_err_msg(rc1));
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    resp = NULL;
    int rc2 = call_echo(evil, SVC "WhoAmI", 1, "", &resp, 5000);
    snprintf(msg2, sizeof(msg2), "%s", jcs_err_msg(rc2));
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    /* Streams are refused the same way. */
    jcs_rpc_stream *st = NULL;
    int rc3 = jcs_rpc_stream_open(evil, SVC "Upload", 5000, &st);
    if (rc3 == 0) {
        rc3 = jcs_rpc_stream_send_raw(st, "x", 1);
        if (rc3 == 0)
            rc3 = jcs_rpc_stream_close_send(st);
        if (rc3 == 0)
            rc3 = jcs_rpc_stream_finish(st);
    }
    jcs_rpc_stream_free(st);
    /* The server is still serving good clients. */
    jcs_rpc_channel *good = channel_to(srv, hub_tls);
    resp = NULL;
    int rc4 = good ? call_echo(good, SVC "Echo", 1, "", &resp, 5000) : -1;
    if (resp)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    jcs_rpc_channel_free(anon);
    jcs_rpc_channel_free(evil);
    jcs_rpc_channel_free(good);
    jcs_rpc_server_free(srv);
    T_EQ_INT(rc1, JCS_EUNAVAIL);
    T_ASSERT(strstr(msg1, target) != NULL, "(%s)", msg1);
    T_EQ_INT(rc2, JCS_EUNAVAIL);
    T_ASSERT(strstr(msg2, target) != NULL, "(%s)", msg2);
    T_EQ_INT(rc3, JCS_EUNAVAIL);
    T_OK(rc4);
}

TEST(setup_errors_name_the_problem)
{
    T_ASSERT(fixture() == 0);
    jcs_rpc_server *srv = NULL;
    jcs_rpc_channel *ch = NULL;
    jcs_tls_files missing = {server_tls->ca_file, "/nonexistent/cert.pem", server_tls->key_file};
    int rc = jcs_rpc_server_create("127.0.0.1:0", &missing, methods, 1, NULL, &srv);
    T_EQ_INT(rc, JCS_ETLS);
    T_ASSERT(strstr(jcs_err_msg(rc), "/nonexistent/cert.pem") != NULL, "(%s)", jcs_err_msg(rc));
    jcs_tls_files swapped = {server_tls->ca_file, server_tls->key_file, server_tls->key_file};
    rc = jcs_rpc_channel_open("127.0.0.1:1", &swapped, &ch);
    T_EQ_INT(rc, JCS_ETLS);
    T_ASSERT(strstr(jcs_err_msg(rc), server_tls->key_file) != NULL, "(%s)", jcs_err_msg(rc));

    /* A port already in use. */
    jcs_rpc_server *first = server_up();
    T_ASSERT(first != NULL);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", jcs_rpc_server_port(first));
    rc = jcs_rpc_server_create(addr, server_tls, methods, 1, NULL, &srv);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    jcs_rpc_server_free(srv);
    jcs_rpc_server_free(first);
    T_EQ_INT(rc, JCS_EIO);
    T_ASSERT(strstr(msg, addr) != NULL, "(%s)", msg);

    /* Nobody listening: the first call says so and names the target. */
    rc = jcs_rpc_channel_open(addr, client_tls, &ch);
    T_OK(rc);
    Echo *resp = NULL;
    rc = call_echo(ch, SVC "Echo", 1, "", &resp, 5000);
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    jcs_rpc_stream *st = NULL;
    int src = jcs_rpc_stream_open(ch, SVC "Upload", 5000, &st);
    jcs_rpc_stream_free(st);
    jcs_rpc_channel_free(ch);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(msg, addr) != NULL, "(%s)", msg);
    T_EQ_INT(src, JCS_EUNAVAIL);
}

TEST(server_created_but_never_started)
{
    T_ASSERT(fixture() == 0);
    jcs_rpc_server *srv = NULL;
    T_OK(jcs_rpc_server_create("127.0.0.1:0", server_tls, methods, 2, NULL, &srv));
    T_ASSERT(jcs_rpc_server_port(srv) > 0);
    jcs_rpc_server_shutdown(srv);
    jcs_rpc_server_shutdown(srv); /* idempotent */
    jcs_rpc_server_free(srv);
    jcs_rpc_server_free(NULL);
    jcs_rpc_channel_free(NULL);
    jcs_rpc_stream_free(NULL);
}

/* ------------------------------------------------------------ 9. shutdown under load */

struct streamer {
    jcs_rpc_channel *ch;
    int rc;       /* first error seen */
    int64_t msgs; /* messages moved before it */
};

static void *upload_forever(void *arg)
{
    struct streamer *s = arg;
    jcs_rpc_stream *st = NULL;
    uint8_t *buf = jcs_calloc(1, MIB);
    s->rc = buf ? jcs_rpc_stream_open(s->ch, SVC "Upload", 120000, &st) : JCS_ENOMEM;
    while (s->rc == 0 && s->msgs < 100000) {
        s->rc = jcs_rpc_stream_send_raw(st, buf, MIB);
        if (s->rc == 0)
            s->msgs++;
    }
    jcs_rpc_stream_free(st);
    jcs_free(buf);
    return NULL;
}

static void *download_forever(void *arg)
{
    struct streamer *s = arg;
    jcs_rpc_stream *st = NULL;
    Echo req = ECHO_INIT;
    req.n = 1000000;
    req.text = "65536";
    s->rc = jcs_rpc_stream_open(s->ch, SVC "Download", 120000, &st);
    if (s->rc == 0)
        s->rc = jcs_rpc_stream_send(st, &req.base);
    if (s->rc == 0)
        s->rc = jcs_rpc_stream_close_send(st);
    while (s->rc == 0) {
        ProtobufCMessage *m = NULL;
        s->rc = jcs_rpc_stream_recv(st, ECHO_DESC, &m);
        if (m) {
            protobuf_c_message_free_unpacked(m, NULL);
            s->msgs++;
        }
    }
    if (s->rc == JCS_EOF) /* the end came early: the status must say why */
        s->rc = jcs_rpc_stream_finish(st);
    jcs_rpc_stream_free(st);
    return NULL;
}

TEST(shutdown_with_streams_in_flight)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    struct streamer up = {ch, 0, 0}, down = {ch, 0, 0};
    pthread_t tu, td;
    T_ASSERT(pthread_create(&tu, NULL, upload_forever, &up) == 0);
    T_ASSERT(pthread_create(&td, NULL, download_forever, &down) == 0);
    /* Wait until both streams are moving data. */
    int moving = obs_wait(&obs.upload_msgs, 3) && obs_wait(&obs.download_sent, 3);
    jcs_rpc_server_shutdown(srv);
    int64_t up_done = obs.uploads_done, down_done = obs.downloads_done;
    int up_rc = obs.upload_rc, down_rc = obs.download_rc;
    pthread_join(tu, NULL);
    pthread_join(td, NULL);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_ASSERT(moving, "(streams did not start)");
    /* shutdown returned only after both handlers had, each seeing the cancel */
    T_EQ_INT(up_done, 1);
    T_EQ_INT(down_done, 1);
    T_EQ_INT(up_rc, JCS_ECANCELED);
    T_EQ_INT(down_rc, JCS_ECANCELED);
    T_ASSERT(up.rc < 0 && down.rc < 0, "(client rc %d / %d)", up.rc, down.rc);
    T_ASSERT(up.msgs < 100000);
}

/* ------------------------------------------------------------ 10. concurrency */

struct hammer {
    jcs_rpc_channel *ch;
    int id, ok, bad;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 150; i++) {
        Echo req = ECHO_INIT, *resp;
        ProtobufCMessage *m = NULL;
        char text[32];
        uint8_t data[64];
        int64_t n = (int64_t)h->id * 1000000 + i;
        snprintf(text, sizeof(text), "t%d-%d", h->id, i);
        fill(data, sizeof(data), (uint64_t)n);
        req.n = n;
        req.text = text;
        req.data.data = data;
        req.data.len = sizeof(data);
        if (jcs_rpc_unary(h->ch, SVC "Echo", &req.base, ECHO_DESC, &m, 20000) != 0) {
            h->bad++;
            continue;
        }
        resp = (Echo *)m;
        if (resp->n == n + 1 && strcmp(resp->text, text) == 0 && resp->data.len == sizeof(data) &&
            memcmp(resp->data.data, data, sizeof(data)) == 0)
            h->ok++;
        else
            h->bad++;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return NULL;
}

TEST(concurrent_unary_calls_on_one_channel)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    enum { THREADS = 8 };
    struct hammer h[THREADS];
    pthread_t t[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        h[i] = (struct hammer){ch, i, 0, 0};
        if (pthread_create(&t[i], NULL, hammer_main, &h[i]) == 0)
            started++;
        else
            break;
    }
    int ok = 0, bad = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        ok += h[i].ok;
        bad += h[i].bad;
    }
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_EQ_INT(started, THREADS);
    T_EQ_INT(bad, 0);
    T_EQ_INT(ok, THREADS * 150);
}

/* ------------------------------------------------------------ bidirectional */

static void *send_numbers(void *arg)
{
    jcs_rpc_stream *st = arg;
    static int rc;
    rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) {
        uint8_t b[4096];
        fill(b, sizeof(b), (uint64_t)i);
        rc = jcs_rpc_stream_send_raw(st, b, sizeof(b));
    }
    if (rc == 0)
        rc = jcs_rpc_stream_close_send(st);
    return &rc;
}

TEST(send_and_recv_from_two_threads)
{
    /* Upload answers once at the end, while Download answers throughout: use both in one go. */
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    jcs_rpc_stream *st = NULL;
    int rc = jcs_rpc_stream_open(ch, SVC "Upload", 30000, &st);
    pthread_t t;
    int *send_rc = NULL;
    ProtobufCMessage *m = NULL;
    int rrc = JCS_EINTERNAL;
    if (rc == 0 && pthread_create(&t, NULL, send_numbers, st) == 0) {
        /* The receiver blocks until the sender has finished and the server answered. */
        rrc = jcs_rpc_stream_recv(st, ECHO_DESC, &m);
        pthread_join(t, (void **)&send_rc);
    }
    int frc = rrc == 0 ? jcs_rpc_stream_recv(st, ECHO_DESC, &(ProtobufCMessage *){NULL}) : rrc;
    if (frc == 1)
        frc = jcs_rpc_stream_finish(st);
    int64_t n = m ? ((Echo *)m)->n : -1;
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    jcs_rpc_stream_free(st);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    T_OK(rc);
    T_ASSERT(send_rc != NULL);
    T_OK(*send_rc);
    T_OK(rrc);
    T_OK(frc);
    T_EQ_INT(n, 200 * 4096);
}

/* ------------------------------------------------------------ allocation failures */

TEST(allocation_failures_are_reported)
{
    T_ASSERT(fixture() == 0);
    int srv_ok = 0, srv_nomem = 0, ch_ok = 0, ch_nomem = 0, other = 0;
    for (long n = 0; n < 12; n++) {
        jcs_rpc_server *srv = NULL;
        jcs_rpc_channel *ch = NULL;
        jcs_alloc_fail_after(n);
        int rc = jcs_rpc_server_create("127.0.0.1:0", server_tls, methods, 2, NULL, &srv);
        jcs_alloc_fail_after(-1);
        srv_ok += rc == 0;
        srv_nomem += rc == JCS_ENOMEM;
        other += rc != 0 && rc != JCS_ENOMEM;
        T_ASSERT((rc == 0) == (srv != NULL));
        jcs_rpc_server_free(srv);

        jcs_alloc_fail_after(n);
        rc = jcs_rpc_channel_open("127.0.0.1:1", client_tls, &ch);
        jcs_alloc_fail_after(-1);
        ch_ok += rc == 0;
        ch_nomem += rc == JCS_ENOMEM;
        other += rc != 0 && rc != JCS_ENOMEM;
        T_ASSERT((rc == 0) == (ch != NULL));
        jcs_rpc_channel_free(ch);
    }
    /* Early budgets fail cleanly (no leak: LeakSanitizer checks), later ones succeed. */
    T_ASSERT(srv_nomem > 0 && srv_ok > 0, "(%d nomem, %d ok)", srv_nomem, srv_ok);
    T_ASSERT(ch_nomem > 0 && ch_ok > 0, "(%d nomem, %d ok)", ch_nomem, ch_ok);
    T_EQ_INT(other, 0);
}

/*
 * A call that ends without an answer from the peer (gRPC's own DEADLINE_EXCEEDED
 * or UNAVAILABLE) moves the channel's later calls to a new connection: one that
 * was cut silently must not carry them (rpc.h, "Dead connections"). An error the
 * server sent is an answer and keeps the connection; a call still running on
 * the old connection ends normally.
 */
TEST(a_call_without_an_answer_moves_later_calls_to_a_new_connection)
{
    jcs_rpc_server *srv = server_up();
    T_ASSERT(srv != NULL);
    jcs_rpc_channel *ch = channel_to(srv, client_tls);
    T_ASSERT(ch != NULL);
    Echo *resp = NULL;
    T_OK(call_echo(ch, SVC "Echo", 1, "", &resp, 5000));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    resp = NULL;
    T_EQ_INT(call_echo(ch, SVC "Fail", JCS_ENOENT, "no such thing", &resp, 5000), JCS_ENOENT);
    T_EQ_INT(jcs_rpc_channel_resets(ch), 0);
    /* A straggler on the current connection, then a call that gets no answer in time. */
    Echo sreq = ECHO_INIT;
    sreq.n = 1200;
    jcs_rpc_unary_call straggler = {
        .ch = ch, .method = SVC "Sleep", .req = &sreq.base, .resp_desc = ECHO_DESC};
    jcs_rpc_unary_group *g;
    T_OK(jcs_rpc_unary_group_new(10000, &g));
    T_OK(jcs_rpc_unary_group_start(g, &straggler));
    T_EQ_INT(call_echo(ch, SVC "Sleep", 800, "", &resp, 200), JCS_ETIMEOUT);
    T_EQ_INT(jcs_rpc_channel_resets(ch), 1);
    /* The next call runs on the new connection; the straggler ends on the old one. */
    T_OK(call_echo(ch, SVC "Echo", 5, "", &resp, 5000));
    T_EQ_INT(resp->n, 6);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    jcs_rpc_unary_call *done = NULL;
    T_OK(jcs_rpc_unary_group_next(g, -1, &done));
    T_ASSERT(done == &straggler);
    T_OK(straggler.rc);
    if (straggler.resp)
        protobuf_c_message_free_unpacked(straggler.resp, NULL);
    jcs_rpc_unary_group_free(g);
    T_EQ_INT(jcs_rpc_channel_resets(ch), 1);
    jcs_rpc_channel_reset(ch);
    T_EQ_INT(jcs_rpc_channel_resets(ch), 2);
    T_OK(call_echo(ch, SVC "Echo", 7, "", &resp, 5000));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
}
