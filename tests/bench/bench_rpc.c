/*
 * bench_rpc.c - throughput of the RPC layer over mutual TLS on 127.0.0.1.
 *
 *   bench_rpc [GIB [MSG_KIB [RUNS]]]      defaults: 1 GiB, 1024 KiB, 3 runs
 *
 * Moves GIB gibibytes client->server (client streaming, raw messages) and
 * server->client (server streaming, raw messages) through one server and one
 * channel in the same process, and prints MiB/s per run and the best run,
 * and the process's CPU seconds per GiB (getrusage) of the best run. Each
 * direction runs twice: copying (send_raw / recv_raw) and zero copy
 * (send_owned from the caller's buffer, recv_msg keeping gRPC's slices), the
 * two ways the data plane can use (common/data/xfer.c uses zero copy).
 * Both ends share the machine's cores, as in the probe of
 * /work/shared/c-stack.md section 1 (raw gRPC, same set-up: 489-667 MiB/s
 * up, 474-553 MiB/s down for 1 GiB in 1 MiB messages).
 *
 * Certificates are made in a temporary directory with the openssl CLI
 * (tests/lib/testcerts.c). Build: make benches (or make bench).
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "alloc.h"
#include "rpc.h"
#include "rpctest.pb-c.h"
#include "testcerts.h"
#include "util.h"

#define KIB 1024
#define MIB (1024 * 1024)

typedef Jcs__Rpctest__Echo Echo;
#define ECHO_INIT JCS__RPCTEST__ECHO__INIT
#define ECHO_DESC (&jcs__rpctest__echo__descriptor)

static size_t msg_size;
static int zero_copy; /* send_owned / recv_msg instead of send_raw / recv_raw */

static void no_release(void *arg)
{
    (void)arg;
}

/* The next message: copied into buf, or kept as gRPC's slices and dropped (zero copy). */
static int recv_one_call(jcs_rpc_call *c, uint8_t *buf, size_t *len)
{
    if (!zero_copy)
        return jcs_rpc_call_recv_raw(c, buf, msg_size, len);
    jcs_rpc_msg *m;
    const struct iovec *iov;
    size_t n;
    int rc = jcs_rpc_call_recv_msg(c, &m, &iov, &n);
    *len = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        *len += iov[i].iov_len;
    jcs_rpc_msg_free(m);
    return rc;
}

static int recv_one_stream(jcs_rpc_stream *st, uint8_t *buf, size_t *len)
{
    if (!zero_copy)
        return jcs_rpc_stream_recv_raw(st, buf, msg_size, len);
    jcs_rpc_msg *m;
    const struct iovec *iov;
    size_t n;
    int rc = jcs_rpc_stream_recv_msg(st, &m, &iov, &n);
    *len = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        *len += iov[i].iov_len;
    jcs_rpc_msg_free(m);
    return rc;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* Upload: counts raw bytes until the end, answers {n = bytes}. */
static int h_upload(jcs_rpc_call *c, void *ctx)
{
    uint8_t *buf = jcs_malloc(msg_size);
    int64_t bytes = 0;
    size_t len;
    int rc;
    if (!buf)
        return jcs_err_set(JCS_ENOMEM, "upload buffer");
    while ((rc = recv_one_call(c, buf, &len)) == 0)
        bytes += (int64_t)len;
    jcs_free(buf);
    if (rc == JCS_EOF) {
        Echo resp = ECHO_INIT;
        resp.n = bytes;
        rc = jcs_rpc_call_send(c, &resp.base);
    }
    return rc;
}

/* Download: request {n = messages}; sends that many raw messages of msg_size. */
static int h_download(jcs_rpc_call *c, void *ctx)
{
    ProtobufCMessage *m = NULL;
    uint8_t *buf;
    int64_t count;
    int rc = jcs_rpc_call_recv(c, ECHO_DESC, &m);
    if (rc)
        return rc < 0 ? rc : jcs_err_set(JCS_EINVAL, "no request");
    count = ((Echo *)m)->n;
    protobuf_c_message_free_unpacked(m, NULL);
    buf = jcs_malloc(msg_size);
    if (!buf)
        return jcs_err_set(JCS_ENOMEM, "download buffer");
    memset(buf, 0xa5, msg_size);
    for (int64_t i = 0; i < count && rc == 0; i++)
        rc = zero_copy ? jcs_rpc_call_send_owned(c, buf, msg_size, no_release, NULL)
                       : jcs_rpc_call_send_raw(c, buf, msg_size);
    jcs_free(buf);
    return rc;
}

static const jcs_rpc_method methods[] = {
    {"/jcs.rpctest.Test/Upload", JCS_ROLE_ANY, h_upload},
    {"/jcs.rpctest.Test/Download", JCS_ROLE_ANY, h_download},
};

static int upload(jcs_rpc_channel *ch, int64_t count, uint8_t *buf)
{
    jcs_rpc_stream *st = NULL;
    ProtobufCMessage *m = NULL;
    int rc = jcs_rpc_stream_open(ch, methods[0].name, 0, &st);
    for (int64_t i = 0; i < count && rc == 0; i++)
        rc = zero_copy ? jcs_rpc_stream_send_owned(st, buf, msg_size, no_release, NULL)
                       : jcs_rpc_stream_send_raw(st, buf, msg_size);
    if (rc == 0)
        rc = jcs_rpc_stream_close_send(st);
    if (rc == 0)
        rc = jcs_rpc_stream_recv(st, ECHO_DESC, &m);
    if (rc == 0 && ((Echo *)m)->n != count * (int64_t)msg_size)
        rc = jcs_err_set(JCS_ECORRUPT, "server counted %lld bytes", (long long)((Echo *)m)->n);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    if (rc == 0 && (rc = jcs_rpc_stream_recv(st, ECHO_DESC, &m)) == JCS_EOF)
        rc = jcs_rpc_stream_finish(st);
    jcs_rpc_stream_free(st);
    return rc;
}

static int download(jcs_rpc_channel *ch, int64_t count, uint8_t *buf)
{
    jcs_rpc_stream *st = NULL;
    Echo req = ECHO_INIT;
    int64_t got = 0, bytes = 0;
    size_t len;
    int rc = jcs_rpc_stream_open(ch, methods[1].name, 0, &st);
    req.n = count;
    if (rc == 0)
        rc = jcs_rpc_stream_send(st, &req.base);
    if (rc == 0)
        rc = jcs_rpc_stream_close_send(st);
    while (rc == 0 && (rc = recv_one_stream(st, buf, &len)) == 0) {
        got++;
        bytes += (int64_t)len;
    }
    if (rc == JCS_EOF)
        rc = jcs_rpc_stream_finish(st);
    if (rc == 0 && (got != count || bytes != count * (int64_t)msg_size))
        rc = jcs_err_set(JCS_ECORRUPT, "received %lld messages, %lld bytes", (long long)got,
                         (long long)bytes);
    jcs_rpc_stream_free(st);
    return rc;
}

/*
 * The ceiling of a bulk channel beside gRPC: the same bytes over one plain
 * TCP connection with OpenSSL mutual TLS (no HTTP/2, no memory BIO), the
 * sender writing msg_size buffers with SSL_write, the receiver reading them
 * with SSL_read into one buffer.
 */
struct plain_srv {
    int lfd;
    SSL_CTX *ctx;
    int dir; /* 0: server reads count * msg_size bytes; 1: server writes them */
    int64_t count;
    int rc;
};

static SSL_CTX *plain_ctx(const jcs_tls_files *t, int server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return ctx;
}

static int plain_io(SSL *ssl, int write, int64_t count, uint8_t *buf)
{
    int64_t want = count * (int64_t)msg_size, done = 0;
    while (done < want) {
        size_t n = msg_size < (size_t)(want - done) ? msg_size : (size_t)(want - done);
        size_t k = 0;
        int ok = write ? SSL_write_ex(ssl, buf, n, &k) : SSL_read_ex(ssl, buf, n, &k);
        if (!ok)
            return -1;
        done += (int64_t)k;
    }
    return 0;
}

static void *plain_server(void *arg)
{
    struct plain_srv *ps = arg;
    uint8_t *buf = jcs_malloc(msg_size);
    int fd = accept(ps->lfd, NULL, NULL);
    SSL *ssl = fd >= 0 && buf ? SSL_new(ps->ctx) : NULL;
    ps->rc = -1;
    if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
        memset(buf, 0xa5, msg_size);
        ps->rc = plain_io(ssl, ps->dir, ps->count, buf);
        if (ps->dir == 1) {
            uint8_t b;
            size_t k;
            (void)SSL_read_ex(ssl, &b, 1, &k); /* the client's close */
        }
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    jcs_free(buf);
    return NULL;
}

/* One run of count messages in direction dir over a fresh mutual-TLS connection. */
static int plain_run(const jcs_tls_files *stls, const jcs_tls_files *ctls, int dir, int64_t count,
                     uint8_t *buf)
{
    struct plain_srv ps = {.dir = dir, .count = count, .rc = -1};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    SSL_CTX *cctx = plain_ctx(ctls, 0);
    ps.ctx = plain_ctx(stls, 1);
    ps.lfd = socket(AF_INET, SOCK_STREAM, 0);
    int rc = -1, fd = -1;
    pthread_t t;
    if (!cctx || !ps.ctx || ps.lfd < 0 || bind(ps.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(ps.lfd, 1) != 0 || getsockname(ps.lfd, (struct sockaddr *)&a, &al) != 0 ||
        pthread_create(&t, NULL, plain_server, &ps) != 0)
        goto out;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    SSL *ssl = NULL;
    int one = 1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 && (ssl = SSL_new(cctx)) &&
        SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1) {
        rc = plain_io(ssl, dir == 0, count, buf);
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    pthread_join(t, NULL);
    if (ps.rc != 0)
        rc = -1;
out:
    if (fd >= 0)
        close(fd);
    if (ps.lfd >= 0)
        close(ps.lfd);
    SSL_CTX_free(cctx);
    SSL_CTX_free(ps.ctx);
    return rc;
}

int main(int argc, char **argv)
{
    double gib = argc > 1 ? atof(argv[1]) : 1.0;
    long kib = argc > 2 ? atol(argv[2]) : 1024;
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    testcerts tc;
    const jcs_tls_files *stls, *ctls;
    jcs_rpc_server *srv = NULL;
    jcs_rpc_channel *ch = NULL;
    char target[64];
    uint8_t *buf;
    int rc = 1;

    if (gib <= 0 || kib <= 0 || kib * KIB > JCS_RPC_MAX_MESSAGE || runs <= 0) {
        fprintf(stderr, "usage: %s [GIB [MSG_KIB [RUNS]]]\n", argv[0]);
        return 2;
    }
    msg_size = (size_t)kib * KIB;
    int64_t count = (int64_t)(gib * 1024.0 * MIB / (double)msg_size);
    double mib = (double)count * (double)msg_size / MIB;
    buf = jcs_malloc(msg_size);
    if (!buf || testcerts_init(&tc) != 0)
        return 1;
    memset(buf, 0x5a, msg_size);
    stls = testcerts_issue(&tc, "hub", "bench-server", false);
    ctls = testcerts_issue(&tc, "client", "bench-client", false);
    jcs_rpc_init();
    if (!stls || !ctls || jcs_rpc_server_create("127.0.0.1:0", stls, methods, 2, NULL, &srv) != 0 ||
        jcs_rpc_server_start(srv) != 0) {
        fprintf(stderr, "bench_rpc: server: %s\n", jcs_err_msg(-1));
        goto out;
    }
    snprintf(target, sizeof(target), "127.0.0.1:%d", jcs_rpc_server_port(srv));
    if (jcs_rpc_channel_open(target, ctls, &ch) != 0 || upload(ch, 1, buf) != 0) {
        fprintf(stderr, "bench_rpc: warm-up: %s\n", jcs_err_msg(-1));
        goto out;
    }
    printf("bench_rpc: %.0f MiB in %zu KiB raw messages over mTLS on %s, %d runs\n", mib,
           msg_size / KIB, target, runs);
    for (int mode = 0; mode < 4; mode++) {
        int dir = mode / 2;
        double best = 0, best_cpu = 0;
        zero_copy = mode % 2;
        printf("  %-27s %-9s",
               dir == 0 ? "client-streaming (upload)" : "server-streaming (download)",
               zero_copy ? "zero-copy" : "copying");
        for (int r = 0; r < runs; r++) {
            int64_t t0 = jcs_now_ms();
            double c0 = cpu_s();
            int err = dir == 0 ? upload(ch, count, buf) : download(ch, count, buf);
            double s = (double)(jcs_now_ms() - t0) / 1000.0, c = cpu_s() - c0;
            if (err) {
                printf("\nbench_rpc: %s\n", jcs_err_msg(err));
                goto out;
            }
            double rate = s > 0 ? mib / s : 0;
            if (rate > best) {
                best = rate;
                best_cpu = c / (mib / 1024.0);
            }
            printf(" %7.0f", rate);
            fflush(stdout);
        }
        printf("  MiB/s (best %.0f, %.2f CPU-s/GiB)\n", best, best_cpu);
    }
    for (int dir = 0; dir < 2; dir++) {
        double best = 0, best_cpu = 0;
        printf("  %-27s %-9s", dir == 0 ? "plain mTLS socket (upload)" : "plain mTLS socket (down)",
               "SSL_read");
        for (int r = 0; r < runs; r++) {
            int64_t t0 = jcs_now_ms();
            double c0 = cpu_s();
            if (plain_run(stls, ctls, dir, count, buf) != 0) {
                printf("\nbench_rpc: plain TLS run failed\n");
                ERR_print_errors_fp(stdout);
                goto out;
            }
            double s = (double)(jcs_now_ms() - t0) / 1000.0, c = cpu_s() - c0;
            double rate = s > 0 ? mib / s : 0;
            if (rate > best) {
                best = rate;
                best_cpu = c / (mib / 1024.0);
            }
            printf(" %7.0f", rate);
            fflush(stdout);
        }
        printf("  MiB/s (best %.0f, %.2f CPU-s/GiB)\n", best, best_cpu);
    }
    rc = 0;
out:
    jcs_rpc_channel_free(ch);
    jcs_rpc_server_free(srv);
    jcs_rpc_shutdown();
    testcerts_cleanup(&tc);
    jcs_free(buf);
    return rc;
}
