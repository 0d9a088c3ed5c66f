/*
 * bench_unary.c - the client-side CPU of the small unary calls the 4 KiB
 * path makes (one WriteShard or ReadShard per block), over mutual TLS on
 * 127.0.0.1.
 *
 *   bench_unary [CALLS [KIB]]      defaults: 20000 calls, 4 KiB request
 *
 * The server runs in a child process (forked before gRPC starts), so the
 * parent's getrusage is the client side alone, as in jcs; the child's CPU
 * is read from /proc. Each call sends a message of KIB KiB and gets a
 * small answer (a WriteShard's shape). Three workloads:
 *   seq     one thread, one call at a time (jcs_rpc_unary);
 *   fan6    one thread, six calls at once on six channels
 *           (jcs_rpc_unary_all, an ec(4,6) object's blocks);
 *   conc16  sixteen threads sharing one channel, one call at a time each
 *           (sixteen HTTP workers writing to one hub).
 * It prints calls per second and CPU microseconds per call, client and
 * server. Build: make benches.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "rpc.h"
#include "rpctest.pb-c.h"
#include "testcerts.h"
#include "util.h"

typedef Jcs__Rpctest__Echo Echo;
#define ECHO_INIT JCS__RPCTEST__ECHO__INIT
#define ECHO_DESC (&jcs__rpctest__echo__descriptor)
#define METHOD    "/jcs.rpctest.Test/Small"
#define FAN       6
#define CONC      16

static int h_small(jcs_rpc_call *call, void *ctx)
{
    (void)ctx;
    Echo *m = NULL;
    int rc = jcs_rpc_call_recv_request(call, ECHO_DESC, (void **)&m);
    if (rc)
        return rc;
    Echo resp = ECHO_INIT;
    resp.n = (int64_t)m->data.len;
    resp.text = "stored";
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return jcs_rpc_call_send(call, &resp.base);
}

static const jcs_rpc_method methods[] = {{METHOD, JCS_ROLE_ANY, h_small}};

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double pid_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* After ") ": state, then fields 4..13; utime and stime are fields 14 and 15. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static size_t msg_len;
static uint8_t *payload;

static int one_call(jcs_rpc_channel *ch)
{
    Echo req = ECHO_INIT;
    req.data.data = payload;
    req.data.len = msg_len;
    ProtobufCMessage *m = NULL;
    int rc = jcs_rpc_unary(ch, METHOD, &req.base, ECHO_DESC, &m, 30000);
    if (rc == 0 && ((Echo *)m)->n != (int64_t)msg_len)
        rc = jcs_err_set(JCS_ECORRUPT, "server counted %lld bytes", (long long)((Echo *)m)->n);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

static int fan_call(jcs_rpc_channel **chs)
{
    Echo req[FAN];
    jcs_rpc_unary_call calls[FAN];
    for (int i = 0; i < FAN; i++) {
        jcs__rpctest__echo__init(&req[i]);
        req[i].data.data = payload;
        req[i].data.len = msg_len;
        calls[i] = (jcs_rpc_unary_call){
            .ch = chs[i], .method = METHOD, .req = &req[i].base, .resp_desc = ECHO_DESC};
    }
    int rc = jcs_rpc_unary_all(calls, FAN, 30000);
    for (int i = 0; i < FAN; i++)
        if (calls[i].resp)
            protobuf_c_message_free_unpacked(calls[i].resp, NULL);
    return rc;
}

struct worker {
    pthread_t th;
    jcs_rpc_channel *ch;
    long calls;
    int rc;
};

static void *conc_main(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; i < w->calls && w->rc == 0; i++)
        w->rc = one_call(w->ch);
    return NULL;
}

static void report(const char *name, long calls, double secs, double ccpu, double scpu)
{
    printf("  %-7s %6ld calls %7.0f calls/s   client %6.1f CPU-us/call   server %6.1f "
           "CPU-us/call\n",
           name, calls, secs > 0 ? (double)calls / secs : 0, ccpu * 1e6 / (double)calls,
           scpu * 1e6 / (double)calls);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 20000;
    long kib = argc > 2 ? atol(argv[2]) : 4;
    testcerts tc;
    int pfd[2], port = 0, rc = 1;
    if (calls < CONC || kib < 0 || kib > 1024) {
        fprintf(stderr, "usage: %s [CALLS >= %d [KIB <= 1024]]\n", argv[0], CONC);
        return 2;
    }
    msg_len = (size_t)kib * 1024;
    if (testcerts_init(&tc) != 0 || pipe(pfd) != 0)
        return 1;
    const jcs_tls_files *stls = testcerts_issue(&tc, "hub", "bench-server", false);
    const jcs_tls_files *ctls = testcerts_issue(&tc, "client", "bench-client", false);
    if (!stls || !ctls)
        return 1;
    pid_t child = fork();
    if (child == 0) { /* the server: until the parent closes its end of the pipe */
        jcs_rpc_server *srv = NULL;
        close(pfd[0]);
        jcs_rpc_init();
        if (jcs_rpc_server_create("127.0.0.1:0", stls, methods, 1, NULL, &srv) != 0 ||
            jcs_rpc_server_start(srv) != 0) {
            fprintf(stderr, "bench_unary: server: %s\n", jcs_err_msg(-1));
            _exit(1);
        }
        port = jcs_rpc_server_port(srv);
        if (write(pfd[1], &port, sizeof port) != sizeof port)
            _exit(1);
        pause(); /* the parent kills us */
        _exit(0);
    }
    close(pfd[1]);
    if (read(pfd[0], &port, sizeof port) != sizeof port) {
        fprintf(stderr, "bench_unary: the server did not start\n");
        goto out;
    }
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    payload = jcs_malloc(msg_len ? msg_len : 1);
    memset(payload, 0x5a, msg_len);
    jcs_rpc_init();
    jcs_rpc_channel *chs[FAN] = {0};
    for (int i = 0; i < FAN; i++)
        if (jcs_rpc_channel_open(target, ctls, &chs[i]) != 0 || one_call(chs[i]) != 0) {
            fprintf(stderr, "bench_unary: warm-up: %s\n", jcs_err_msg(-1));
            goto out;
        }
    printf("bench_unary: %zu-byte requests over mTLS to %s (server in another process)\n", msg_len,
           target);
    for (int mode = 0; mode < 3; mode++) {
        double c0 = self_cpu_s(), s0 = pid_cpu_s(child);
        int64_t t0 = jcs_now_ms();
        long done = 0;
        int err = 0;
        if (mode == 0) {
            for (; done < calls && !err; done++)
                err = one_call(chs[0]);
        } else if (mode == 1) {
            for (; done + FAN <= calls && !err; done += FAN)
                err = fan_call(chs);
        } else {
            struct worker w[CONC];
            for (int i = 0; i < CONC; i++) {
                w[i] = (struct worker){.ch = chs[0], .calls = calls / CONC};
                pthread_create(&w[i].th, NULL, conc_main, &w[i]);
            }
            for (int i = 0; i < CONC; i++) {
                pthread_join(w[i].th, NULL);
                if (w[i].rc && !err)
                    err = w[i].rc;
                done += w[i].calls;
            }
        }
        double secs = (double)(jcs_now_ms() - t0) / 1000.0;
        if (err) {
            fprintf(stderr, "bench_unary: %s\n", jcs_err_msg(err));
            goto out;
        }
        report(mode == 0   ? "seq"
               : mode == 1 ? "fan6"
                           : "conc16",
               done, secs, self_cpu_s() - c0, pid_cpu_s(child) - s0);
    }
    rc = 0;
    for (int i = 0; i < FAN; i++)
        jcs_rpc_channel_free(chs[i]);
out:
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    jcs_free(payload);
    testcerts_cleanup(&tc);
    return rc;
}
