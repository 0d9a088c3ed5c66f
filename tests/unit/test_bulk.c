/*
 * test_bulk.c - the bulk data channel (common/net/bulk.h) between a server
 * and a pool in one process, over real mutual TLS with certificates made by
 * testcerts: bytes and frames arrive as sent, a CANCEL or a connection cut
 * mid-stream is told apart from END, connections are reused after a clean
 * request, the idle deadline ends a stalled read, and a peer with a
 * certificate of another CA or a role not admitted is refused with a logged
 * reason.
 */
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "alloc.h"
#include "bulk.h"
#include "log.h"
#include "testcerts.h"
#include "util.h"

static testcerts tc;
static const jcs_tls_files *srv_tls, *client_tls, *evil_tls, *coord_tls;
static char log_path[300];
static jcs_bulk_server *srv;
static int state; /* 0 not set up, 1 ready, -1 failed */

/* What the handler saw of the last request. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int requests;
    int done;       /* requests finished */
    int end_type;   /* the frame that ended the last push (END, CANCEL) or 0 for a broken one */
    int end_code;   /* its code */
    uint64_t bytes; /* DATA bytes received */
    uint32_t sum;   /* a checksum of them */
    char msg[256];  /* CANCEL reason or the error that broke it */
} obs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static uint32_t sum_bytes(uint32_t s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s = s * 31 + p[i];
    return s;
}

/* Pushes are counted and answered OK; a pull of var V gets V KiB of 0x5a and END. */
static int handler(void *ctx, jcs_bulk_conn *c, const jcs_bulk_frame *open)
{
    (void)ctx;
    pthread_mutex_lock(&obs.mu);
    obs.requests++;
    pthread_mutex_unlock(&obs.mu);
    int reusable = -1;
    if (open->type == JCS_BULK_OPEN_PULL) {
        uint8_t *b = jcs_malloc(1024);
        memset(b, 0x5a, 1024);
        int rc = 0;
        for (int i = 0; i < open->var && !rc; i++)
            rc = jcs_bulk_send_data(c, b, 1024);
        jcs_free(b);
        reusable = !rc && jcs_bulk_send_end(c) == 0 ? 0 : -1;
    } else {
        uint8_t *buf = jcs_malloc(JCS_BULK_MAX_DATA);
        uint64_t bytes = 0;
        uint32_t sum = 0;
        int end_type = 0, end_code = 0;
        char msg[256] = "";
        for (;;) {
            jcs_bulk_frame f;
            int rc = jcs_bulk_recv(c, &f);
            if (!rc && f.type == JCS_BULK_DATA)
                rc = jcs_bulk_recv_data(c, buf, f.len);
            if (rc) {
                snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
                end_code = rc;
                break;
            }
            if (f.type == JCS_BULK_DATA) {
                bytes += f.len;
                sum = sum_bytes(sum, buf, f.len);
                continue;
            }
            end_type = f.type;
            end_code = f.code;
            snprintf(msg, sizeof(msg), "%.200s", f.msg);
            if (f.type == JCS_BULK_END)
                reusable = jcs_bulk_send_ok(c, bytes) == 0 ? 0 : -1;
            break;
        }
        jcs_free(buf);
        pthread_mutex_lock(&obs.mu);
        obs.end_type = end_type;
        obs.end_code = end_code;
        obs.bytes = bytes;
        obs.sum = sum;
        snprintf(obs.msg, sizeof(obs.msg), "%s", msg);
        pthread_mutex_unlock(&obs.mu);
    }
    pthread_mutex_lock(&obs.mu);
    obs.done++;
    pthread_cond_broadcast(&obs.cv);
    pthread_mutex_unlock(&obs.mu);
    return reusable;
}

/* Waits up to 10 s for the handler to finish request number n. */
static int wait_done(int n)
{
    int64_t end = jcs_now_ms() + 10000;
    pthread_mutex_lock(&obs.mu);
    while (obs.done < n && jcs_now_ms() < end) {
        pthread_mutex_unlock(&obs.mu);
        jcs_sleep_ms(10);
        pthread_mutex_lock(&obs.mu);
    }
    int ok = obs.done >= n;
    pthread_mutex_unlock(&obs.mu);
    return ok;
}

static void fixture_cleanup(void)
{
    jcs_bulk_server_free(srv);
    testcerts_cleanup(&tc);
}

static int setup(void)
{
    if (state)
        return state;
    state = -1;
    /*
     * SIGPIPE keeps its default action here (the services ignore it, a tool or a
     * test need not): the module promises never to raise it, and a write that
     * did would end this process (a_read_after_an_abort_raises_no_sigpipe).
     */
    signal(SIGPIPE, SIG_DFL);
    if (testcerts_init(&tc) != 0)
        return -1;
    srv_tls = testcerts_issue(&tc, "hub", "hub1", false);
    client_tls = testcerts_issue(&tc, "client", "client1", false);
    evil_tls = testcerts_issue(&tc, "client", "client1", true);
    coord_tls = testcerts_issue(&tc, "coordinator", "coordinator", false);
    if (!srv_tls || !client_tls || !evil_tls || !coord_tls)
        return -1;
    snprintf(log_path, sizeof(log_path), "%s/test.log", tc.dir);
    if (jcs_log_to_file(log_path) != 0)
        return -1;
    OPENSSL_init_ssl(0, NULL);
    atexit(fixture_cleanup);
    jcs_rpc_set_idle_timeout_ms(1500);
    if (jcs_bulk_server_start("127.0.0.1", 0, srv_tls, JCS_ROLE_CLIENT | JCS_ROLE_HUB, handler,
                              NULL, &srv) != 0)
        return -1;
    state = 1;
    return 1;
}

#define SETUP() T_ASSERT(setup() == 1, "fixture: %s", jcs_err_msg(-1))

static void address(char *out, size_t n)
{
    snprintf(out, n, "127.0.0.1:%d", jcs_bulk_server_port(srv));
}

static int count_requests(void)
{
    pthread_mutex_lock(&obs.mu);
    int n = obs.requests;
    pthread_mutex_unlock(&obs.mu);
    return n;
}

TEST(a_push_arrives_whole_and_the_connection_is_reused)
{
    SETUP();
    char addr[64];
    address(addr, sizeof(addr));
    jcs_bulk_pool *pool;
    T_OK(jcs_bulk_pool_new(client_tls, &pool));
    size_t n = 3 * JCS_BULK_MAX_DATA + 12345;
    uint8_t *data = jcs_malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 11));
    jcs_bulk_conn *c, *first;
    int base = obs.done;
    T_OK(jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, "0123456789abcdef0123456789abcdef", 7, &c));
    T_OK(jcs_bulk_send_data(c, data, 1000));
    T_OK(jcs_bulk_send_data(c, data + 1000, n - 1000)); /* split into 1 MiB frames */
    T_OK(jcs_bulk_send_end(c));
    jcs_bulk_frame f;
    T_OK(jcs_bulk_recv(c, &f));
    T_EQ_INT(f.type, JCS_BULK_OK);
    T_EQ_INT((long long)f.bytes, (long long)n);
    first = c;
    jcs_bulk_put(pool, c, 1);
    T_ASSERT(wait_done(base + 1), "(the handler did not finish)");
    T_EQ_INT(obs.end_type, JCS_BULK_END);
    T_EQ_INT((long long)obs.bytes, (long long)n);
    T_EQ_INT(obs.sum, sum_bytes(0, data, n));
    /* The next request rides the same connection. */
    T_OK(jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PULL, "0123456789abcdef0123456789abcdef", 3, &c));
    T_ASSERT(c == first, "(a new connection although the last one ended cleanly)");
    size_t got = 0;
    uint8_t buf[1024];
    for (;;) {
        T_OK(jcs_bulk_recv(c, &f));
        if (f.type != JCS_BULK_DATA)
            break;
        T_OK(jcs_bulk_recv_data(c, buf, f.len));
        for (size_t i = 0; i < f.len; i++)
            T_EQ_INT(buf[i], 0x5a);
        got += f.len;
    }
    T_EQ_INT(f.type, JCS_BULK_END);
    T_EQ_INT((long long)got, 3 * 1024);
    jcs_bulk_put(pool, c, 1);
    jcs_bulk_pool_free(pool);
    jcs_free(data);
}

TEST(a_cancel_or_a_cut_mid_stream_is_not_the_end)
{
    SETUP();
    char addr[64];
    address(addr, sizeof(addr));
    jcs_bulk_pool *pool;
    T_OK(jcs_bulk_pool_new(client_tls, &pool));
    uint8_t data[4096] = {1, 2, 3};
    jcs_bulk_conn *c;
    int base = obs.done;
    /* An explicit CANCEL carries its code and reason to the receiver. */
    T_OK(jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, "0123456789abcdef0123456789abcdef", 1, &c));
    T_OK(jcs_bulk_send_data(c, data, sizeof(data)));
    jcs_bulk_send_fail(c, JCS_BULK_CANCEL, JCS_ECORRUPT, "source block 3 failed its checksum");
    jcs_bulk_put(pool, c, 0);
    T_ASSERT(wait_done(base + 1), "(the handler did not finish)");
    T_EQ_INT(obs.end_type, JCS_BULK_CANCEL);
    T_EQ_INT(obs.end_code, JCS_ECORRUPT);
    T_ASSERT(strstr(obs.msg, "checksum") != NULL, "(reason: %s)", obs.msg);
    T_EQ_INT((long long)obs.bytes, (long long)sizeof(data));
    /* A connection cut without END (the sender was killed) is broken, not ended. */
    T_OK(jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, "0123456789abcdef0123456789abcdef", 1, &c));
    T_OK(jcs_bulk_send_data(c, data, sizeof(data)));
    jcs_bulk_abort(c);
    jcs_bulk_put(pool, c, 0);
    T_ASSERT(wait_done(base + 2), "(the handler did not finish)");
    T_EQ_INT(obs.end_type, 0);
    T_EQ_INT(obs.end_code, JCS_EUNAVAIL);
    jcs_bulk_pool_free(pool);
}

TEST(a_stalled_peer_fails_within_the_idle_deadline)
{
    SETUP();
    char addr[64];
    address(addr, sizeof(addr));
    jcs_bulk_pool *pool;
    T_OK(jcs_bulk_pool_new(client_tls, &pool));
    jcs_bulk_conn *c;
    int base = obs.done;
    T_OK(jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, "0123456789abcdef0123456789abcdef", 1, &c));
    int64_t t0 = jcs_now_ms();
    T_ASSERT(wait_done(base + 1), "(the receiver still waits for a sender that sends nothing)");
    int64_t took = jcs_now_ms() - t0;
    T_EQ_INT(obs.end_code, JCS_ETIMEOUT);
    T_ASSERT(took >= 1000 && took < 5000, "(gave up after %lld ms; the deadline is 1500)",
             (long long)took);
    jcs_bulk_put(pool, c, 0);
    jcs_bulk_pool_free(pool);
}

/* Whether the log holds a line with both needles. */
static int logged(const char *a, const char *b)
{
    FILE *f = fopen(log_path, "r");
    char line[2048];
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, a) && strstr(line, b);
    if (f)
        fclose(f);
    return found;
}

TEST(a_wrong_certificate_or_role_is_refused_with_a_logged_reason)
{
    SETUP();
    char addr[64];
    address(addr, sizeof(addr));
    int before = count_requests();
    jcs_bulk_pool *pool;
    jcs_bulk_conn *c = NULL;
    /* Signed by another CA: the handshake fails and the server says why. */
    T_OK(jcs_bulk_pool_new(evil_tls, &pool));
    int rc =
        jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, "0123456789abcdef0123456789abcdef", 1, &c);
    if (rc == 0) {
        /* TLS 1.3: the client may finish before the server checked its certificate. */
        jcs_bulk_frame f;
        rc = jcs_bulk_recv(c, &f);
        jcs_bulk_put(pool, c, 0);
    }
    T_ASSERT(rc != 0, "(a client certificate of another CA was accepted)");
    jcs_bulk_pool_free(pool);
    int64_t end = jcs_now_ms() + 3000;
    while (!logged("bulk: refused", "handshake") && jcs_now_ms() < end)
        jcs_sleep_ms(20);
    T_ASSERT(logged("bulk: refused", "handshake"), "(no log line says why the peer was refused)");
    /* A certificate of the right CA with a role that may not move streams. */
    T_OK(jcs_bulk_pool_new(coord_tls, &pool));
    rc = jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, "0123456789abcdef0123456789abcdef", 1, &c);
    if (rc == 0) {
        jcs_bulk_frame f;
        rc = jcs_bulk_recv(c, &f);
        jcs_bulk_put(pool, c, 0);
    }
    T_ASSERT(rc != 0, "(a coordinator certificate was admitted)");
    jcs_bulk_pool_free(pool);
    end = jcs_now_ms() + 3000;
    while (!logged("bulk: refused", "role coordinator") && jcs_now_ms() < end)
        jcs_sleep_ms(20);
    T_ASSERT(logged("bulk: refused", "role coordinator"), "(no log line names the role)");
    T_EQ_INT(count_requests(), before);
    /* No client certificate at all. */
    jcs_tls_files none = {client_tls->ca_file, NULL, NULL};
    T_OK(jcs_bulk_pool_new(&none, &pool));
    rc = jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, "0123456789abcdef0123456789abcdef", 1, &c);
    if (rc == 0) {
        jcs_bulk_frame f;
        rc = jcs_bulk_recv(c, &f);
        jcs_bulk_put(pool, c, 0);
    }
    T_ASSERT(rc != 0, "(a client without a certificate was admitted)");
    jcs_bulk_pool_free(pool);
    T_EQ_INT(count_requests(), before);
}

/*
 * A plan that fails elsewhere aborts a transfer blocked on its connection
 * (jcs_bulk_abort shuts the socket down). The read that wakes finds the end
 * of the stream without a close_notify, and OpenSSL answers that with a
 * fatal alert: a write on a socket shut down for writing, outside any write
 * of ours. It must fail the read, not raise SIGPIPE (whose default action
 * ends this process: the refusal test once died silently of it too).
 */
TEST(a_read_after_an_abort_raises_no_sigpipe)
{
    SETUP();
    char addr[64];
    address(addr, sizeof(addr));
    jcs_bulk_pool *pool;
    T_OK(jcs_bulk_pool_new(client_tls, &pool));
    jcs_bulk_conn *c;
    T_OK(jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PULL, "0123456789abcdef0123456789abcdef", 2, &c));
    jcs_bulk_frame f;
    T_OK(jcs_bulk_recv(c, &f));
    T_EQ_INT(f.type, JCS_BULK_DATA);
    jcs_bulk_abort(c);
    /* What had arrived before the abort may still be read; then the reads fail. */
    uint8_t buf[1024];
    int rc = jcs_bulk_recv_data(c, buf, f.len);
    for (int i = 0; i < 8 && rc == 0; i++) {
        rc = jcs_bulk_recv(c, &f);
        if (rc == 0 && f.type == JCS_BULK_DATA)
            rc = jcs_bulk_recv_data(c, buf, f.len);
    }
    T_ASSERT(rc == JCS_EUNAVAIL, "(a read after the abort: %d %s)", rc, jcs_err_msg(rc));
    /* A write after it fails too, and quietly. */
    T_ASSERT(jcs_bulk_send_end(c) != 0, "(a write after the abort succeeded)");
    jcs_bulk_put(pool, c, 0);
    jcs_bulk_pool_free(pool);
}
