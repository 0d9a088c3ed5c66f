/*
 * bench_http.c - the HTTPS layer over mTLS on loopback, driven by libcurl:
 *   - 1 GiB PUT (raw streaming body, the route only counts bytes), MiB/s;
 *   - 1 GiB GET (streamed reply from a 1 MiB buffer), MiB/s;
 *   - 4 KiB GETs per second over 16 keep-alive connections;
 * for the event-driven model the server uses (2 epoll threads, blocking callbacks on
 * workers while their connection is suspended) and, for comparison, the old
 * thread-per-connection model (http.threadPerConnection).
 *
 *   build/bench/bench_http [GiB]
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alloc.h"
#include "cert.h"
#include "http.h"
#include "http_envelope.h"
#include "log.h"
#include "util.h"

#define SMALL      4096
#define NCONN      16
#define SMALL_SECS 3

static char dir[64], ca[256], srv_cert[256], srv_key[256], cli_cert[256], cli_key[256];
static char block[1 << 20];
static int port;

/* ---- server routes ---- */

static int put_data(jcs_http_req *req, const void *p, size_t n)
{
    (void)req, (void)p, (void)n;
    return 0;
}

static int put_done(jcs_http_req *req)
{
    return jcs_http_reply_ok(req, json_integer((json_int_t)jcs_http_req_body_len(req)));
}

struct dl {
    uint64_t size;
};

static ssize_t dl_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct dl *d = ctx;
    size_t n = d->size - pos < max ? (size_t)(d->size - pos) : max;
    size_t off = (size_t)(pos % sizeof(block));
    if (n > sizeof(block) - off)
        n = sizeof(block) - off;
    memcpy(buf, block + off, n);
    return (ssize_t)n;
}

static void dl_done(void *ctx, int completed)
{
    (void)completed;
    jcs_free(ctx);
}

static int get(jcs_http_req *req)
{
    int64_t size;
    int rc = jcs_http_query_int(req, "size", 1, 0, 0, INT64_MAX, &size);
    if (rc)
        return rc;
    struct dl *d = jcs_calloc(1, sizeof(*d));
    if (!d)
        return JCS_ENOMEM;
    d->size = (uint64_t)size;
    return jcs_http_reply_stream(req, 200, d->size, dl_read, dl_done, d);
}

static int sleepy(jcs_http_req *req)
{
    int64_t ms;
    int rc = jcs_http_query_int(req, "ms", 1, 0, 0, 60000, &ms);
    if (rc)
        return rc;
    jcs_sleep_ms(ms); /* a handler busy elsewhere: a plan, a slow hub */
    return jcs_http_reply_ok(req, NULL);
}

static const jcs_http_route routes[] = {
    {.method = "GET", .path = "/sleep", .handle = sleepy},
    {.method = "PUT",
     .path = "/put",
     .body = JCS_HTTP_BODY_RAW,
     .handle = put_done,
     .data = put_data},
    {.method = "GET", .path = "/get", .handle = get},
};

/* ---- client ---- */

struct up {
    uint64_t left;
};

static size_t up_read(char *buf, size_t sz, size_t nm, void *arg)
{
    struct up *u = arg;
    size_t n = sz * nm;
    if (n > u->left)
        n = (size_t)u->left;
    if (n > sizeof(block))
        n = sizeof(block);
    memcpy(buf, block, n);
    u->left -= n;
    return n;
}

static size_t sink(char *p, size_t sz, size_t nm, void *arg)
{
    (void)p;
    *(uint64_t *)arg += sz * nm;
    return sz * nm;
}

static CURL *client(void)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, cli_cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, cli_key);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    return h;
}

static double upload(uint64_t n)
{
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/put", port);
    CURL *h = client();
    struct up u = {n};
    uint64_t got = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, up_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)n);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    int64_t t0 = jcs_now_us();
    CURLcode cc = curl_easy_perform(h);
    int64_t us = jcs_now_us() - t0;
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK || st != 200) {
        fprintf(stderr, "upload failed: curl %d, status %ld\n", cc, st);
        return -1;
    }
    return (double)n / (1 << 20) / ((double)us / 1e6);
}

static double download(uint64_t n)
{
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/get?size=%llu", port, (unsigned long long)n);
    CURL *h = client();
    uint64_t got = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    int64_t t0 = jcs_now_us();
    CURLcode cc = curl_easy_perform(h);
    int64_t us = jcs_now_us() - t0;
    curl_easy_cleanup(h);
    if (cc != CURLE_OK || got != n) {
        fprintf(stderr, "download failed: curl %d, %llu bytes\n", cc, (unsigned long long)got);
        return -1;
    }
    return (double)n / (1 << 20) / ((double)us / 1e6);
}

struct small {
    long done, failed;
    int64_t until, max_us;
    int fresh;        /* a new connection (handshake, certificate check, thread) per request */
    int64_t sleep_at; /* when set: at this time, ask for a 1.5 s handler on this connection */
};

static void *small_loop(void *arg)
{
    struct small *s = arg;
    char url[128], slow[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/get?size=%d", port, SMALL);
    snprintf(slow, sizeof(slow), "https://127.0.0.1:%d/sleep?ms=1500", port);
    CURL *h = client();
    uint64_t got = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, (long)s->fresh);
    while (jcs_now_us() < s->until) {
        if (s->sleep_at && jcs_now_us() >= s->sleep_at) {
            /* The slow request goes over this thread's established connection. */
            s->sleep_at = 0;
            curl_easy_setopt(h, CURLOPT_URL, slow);
            curl_easy_perform(h);
            curl_easy_setopt(h, CURLOPT_URL, url);
            continue;
        }
        long st = 0;
        uint64_t before = got;
        int64_t t = jcs_now_us();
        CURLcode cc = curl_easy_perform(h);
        t = jcs_now_us() - t;
        if (t > s->max_us)
            s->max_us = t;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
        if (cc == CURLE_OK && st == 200 && got - before == SMALL)
            s->done++;
        else
            s->failed++;
    }
    curl_easy_cleanup(h);
    return NULL;
}

/*
 * 4 KiB GETs over NCONN connections for secs. With a sleeper, connection 0
 * asks for a handler that blocks 1.5 s after 0.3 s, and the slowest request
 * of the other connections is reported: whoever shares a thread with it waits.
 */
static double small_rate(int nconn, int secs, int fresh, int with_sleeper, long *failed,
                         int64_t *max_us)
{
    pthread_t th[NCONN];
    struct small s[NCONN];
    int64_t t0 = jcs_now_us();
    for (int i = 0; i < nconn; i++) {
        s[i] = (struct small){.until = t0 + secs * 1000000LL, .fresh = fresh};
        if (with_sleeper && i == 0)
            s[i].sleep_at = t0 + 300000;
        pthread_create(&th[i], NULL, small_loop, &s[i]);
    }
    long done = 0;
    *failed = 0;
    *max_us = 0;
    for (int i = 0; i < nconn; i++) {
        pthread_join(th[i], NULL);
        done += s[i].done;
        *failed += s[i].failed;
        if (i > 0 && s[i].max_us > *max_us)
            *max_us = s[i].max_us;
    }
    return (double)done / ((double)(jcs_now_us() - t0) / 1e6);
}

static int certs(void)
{
    snprintf(dir, sizeof(dir), "/tmp/jcs-bench-http-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(ca, sizeof(ca), "%s/ca_cert.pem", dir);
    char ca_key[256];
    snprintf(ca_key, sizeof(ca_key), "%s/ca_key.pem", dir);
    snprintf(srv_cert, sizeof(srv_cert), "%s/server_cert.pem", dir);
    snprintf(srv_key, sizeof(srv_key), "%s/server_key.pem", dir);
    snprintf(cli_cert, sizeof(cli_cert), "%s/client_cert.pem", dir);
    snprintf(cli_key, sizeof(cli_key), "%s/client_key.pem", dir);
    static const char *const sans[] = {"127.0.0.1"};
    jcs_cert_req s = {.role = "server", .name = "server", .sans = sans, .nsans = 1, .days = 2};
    jcs_cert_req c = {.role = "client", .name = "bench", .days = 2};
    return jcs_cert_create_ca(dir, "bench CA", 2) ||
           jcs_cert_issue(ca, ca_key, &s, srv_cert, srv_key) ||
           jcs_cert_issue(ca, ca_key, &c, cli_cert, cli_key);
}

static void cleanup_dir(void)
{
    const char *f[] = {ca, srv_cert, srv_key, cli_cert, cli_key};
    char k[300];
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        unlink(f[i]);
    snprintf(k, sizeof(k), "%s/ca_key.pem", dir);
    unlink(k);
    rmdir(dir);
}

/* CPU seconds (user + system) of this process, client and server together: on a loaded
 * machine a steadier measure than the rates. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static long rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

int main(int argc, char **argv)
{
    uint64_t gib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    uint64_t n = gib << 30;
    jcs_log_init("bench_http", JCS_LOG_WARN);
    for (size_t i = 0; i < sizeof(block); i++)
        block[i] = (char)(i * 131 + (i >> 9));
    if (certs()) {
        fprintf(stderr, "bench_http: certificates: %s\n", jcs_err_msg(JCS_ETLS));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    int status = 0;
    static const struct {
        const char *name;
        int tpc;
    } modes[] = {{"event-driven, 2 epoll threads + workers (used)", 0},
                 {"thread per connection (http.threadPerConnection, compared)", 1}};
    for (size_t m = 0; m < 2; m++) {
        jcs_http_config cfg = {.listen = "127.0.0.1:0",
                               .cert_file = srv_cert,
                               .key_file = srv_key,
                               .root_ca_file = ca,
                               .max_connections = 64,
                               .thread_per_connection = modes[m].tpc};
        jcs_http_server *srv;
        if (jcs_http_start(&cfg, routes, sizeof(routes) / sizeof(routes[0]), &srv)) {
            fprintf(stderr, "bench_http: start: %s\n", jcs_err_msg(JCS_EIO));
            status = 1;
            break;
        }
        port = jcs_http_port(srv);
        printf("  %s:\n", modes[m].name);
        double c0 = cpu_s();
        double up = upload(n);
        double c1 = cpu_s();
        double down = download(n);
        double c2 = cpu_s();
        long f1, f2, f3;
        int64_t m1, m2, m3;
        double rate = small_rate(NCONN, SMALL_SECS, 0, 0, &f1, &m1);
        double c3 = cpu_s();
        double fresh = small_rate(NCONN, SMALL_SECS, 1, 0, &f2, &m2);
        double c4 = cpu_s();
        double blocked = small_rate(NCONN, 2, 0, 1, &f3, &m3);
        printf("    PUT  %llu GiB raw body over mTLS          %8.0f MiB/s, %.2f CPU-s/GiB\n",
               (unsigned long long)gib, up, (c1 - c0) / (double)gib);
        printf("    GET  %llu GiB streamed reply              %8.0f MiB/s, %.2f CPU-s/GiB\n",
               (unsigned long long)gib, down, (c2 - c1) / (double)gib);
        printf("    GET  4 KiB, %d keep-alive conns         %8.0f req/s (%.0f us per request "
               "per conn, slowest %.1f ms), %.0f CPU-us/req\n",
               NCONN, rate, rate > 0 ? 1e6 * NCONN / rate : 0, (double)m1 / 1000,
               rate > 0 ? (c3 - c2) * 1e6 / (rate * SMALL_SECS) : 0);
        printf("    GET  4 KiB, new connection each time    %8.0f req/s (handshake + certificate "
               "check%s), %.0f CPU-us/conn\n",
               fresh, modes[m].tpc ? " + thread" : "",
               fresh > 0 ? (c4 - c3) * 1e6 / (fresh * SMALL_SECS) : 0);
        printf("    GET  4 KiB while one handler blocks 1.5 s %6.0f req/s, slowest other %.0f ms\n",
               blocked, (double)m3 / 1000);
        long f4;
        int64_t m4;
        double one = small_rate(1, 2, 0, 0, &f4, &m4);
        printf("    GET  4 KiB, one keep-alive connection   %8.0f req/s (%.0f us each)\n", one,
               one > 0 ? 1e6 / one : 0);
        if (up < 0 || down < 0 || f1 || f2 || f3 || f4)
            status = 1;
        jcs_http_stop(srv);
    }
    printf("    peak RSS of client and server together: %ld MB\n", rss_mb());
    curl_global_cleanup();
    cleanup_dir();
    return status;
}
