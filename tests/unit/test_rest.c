/*
 * test_rest.c - the REST client (common/net/rest.h) against the client's
 * real HTTPS server framework over mTLS: JSON calls, the refusal codes and
 * their messages, streamed downloads and uploads, the certificate and
 * connection failures naming what was involved, deadlines, and many
 * threads sharing one client.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cert.h"
#include "http.h"
#include "http_envelope.h"
#include "rest.h"
#include "t.h"
#include "t_tmpdir.h"
#include "util.h"

#define P 512

static char g_ca[P], g_srv_cert[P], g_srv_key[P], g_cli_cert[P], g_cli_key[P], g_evil_ca[P];
static jcs_http_server *g_srv;
static char g_endpoint[64];

/* What the upload routes saw (one request at a time). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_names[4][128];
static int64_t g_sizes[4];
static uint32_t g_sums[4];
static int g_nparts = -1;

static unsigned char byte_at(int64_t pos)
{
    return (unsigned char)((pos * 131 + (pos >> 9)) & 0xff);
}

/* ---- handlers ---------------------------------------------------------------------------------
 */

static int h_echo(jcs_http_req *req)
{
    json_t *b = jcs_http_req_json(req);
    return jcs_http_reply_ok(req, json_pack("{s:O}", "got", b ? b : json_null()));
}

static int h_query(jcs_http_req *req)
{
    const char *a = NULL, *b = NULL;
    int rc = jcs_http_query(req, "a", &a);
    if (!rc)
        rc = jcs_http_query(req, "b", &b);
    if (rc)
        return rc;
    return jcs_http_reply_ok(req, json_pack("{s:s,s:s}", "a", a, "b", b));
}

static int h_refuse(jcs_http_req *req)
{
    const char *code = NULL;
    int64_t st = 0;
    if (jcs_http_query(req, "code", &code) || jcs_http_query_int(req, "st", 1, 0, 100, 599, &st))
        return JCS_EINVAL;
    return jcs_http_reply_err(req, (unsigned)st, code, "the server says no to %s", code);
}

static int h_slow(jcs_http_req *req)
{
    jcs_sleep_ms(1500);
    return jcs_http_reply_ok(req, json_null());
}

static ssize_t dl_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    int64_t size = *(int64_t *)ctx;
    size_t n = (int64_t)pos + (int64_t)max > size ? (size_t)(size - (int64_t)pos) : max;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)byte_at((int64_t)pos + (int64_t)i);
    return (ssize_t)n;
}

static void dl_done(void *ctx, int completed)
{
    (void)completed;
    jcs_free(ctx);
}

static int h_download(jcs_http_req *req)
{
    int64_t *size = jcs_malloc(sizeof *size);
    if (!size)
        return JCS_ENOMEM;
    int rc = jcs_http_query_int(req, "size", 1, 0, 0, INT64_MAX, size);
    if (rc) {
        jcs_free(size);
        return rc;
    }
    return jcs_http_reply_stream(req, 200, (uint64_t)*size, dl_read, dl_done, size);
}

static int h_up_begin(jcs_http_req *req)
{
    (void)req;
    pthread_mutex_lock(&g_mu);
    g_nparts = -1;
    memset(g_sizes, 0, sizeof g_sizes);
    memset(g_sums, 0, sizeof g_sums);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static int h_up_part_begin(jcs_http_req *req, const jcs_http_part *part)
{
    (void)req;
    pthread_mutex_lock(&g_mu);
    g_nparts++;
    if (g_nparts >= 0 && g_nparts < 4)
        snprintf(g_names[g_nparts], sizeof g_names[0], "%s",
                 part->filename ? part->filename : part->name);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static int h_up_data(jcs_http_req *req, const void *p, size_t n)
{
    (void)req;
    pthread_mutex_lock(&g_mu);
    int i = g_nparts < 0 ? 0 : g_nparts;
    if (i < 4) {
        for (size_t k = 0; k < n; k++)
            g_sums[i] = g_sums[i] * 31 + ((const unsigned char *)p)[k];
        g_sizes[i] += (int64_t)n;
    }
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static int h_up_part_end(jcs_http_req *req)
{
    (void)req;
    return 0;
}

static int h_up_handle(jcs_http_req *req)
{
    pthread_mutex_lock(&g_mu);
    int n = g_nparts + 1;
    pthread_mutex_unlock(&g_mu);
    return jcs_http_reply_ok(req, json_pack("{s:i}", "parts", n));
}

static int h_raw_handle(jcs_http_req *req)
{
    pthread_mutex_lock(&g_mu);
    int64_t n = g_sizes[0];
    pthread_mutex_unlock(&g_mu);
    return jcs_http_reply_ok(req, json_pack("{s:I}", "bytes", (json_int_t)n));
}

static const jcs_http_route routes[] = {
    {.method = "POST", .path = "/v1/echo", .body = JCS_HTTP_BODY_JSON, .handle = h_echo},
    {.method = "GET", .path = "/v1/query", .handle = h_query},
    {.method = "GET", .path = "/v1/refuse", .handle = h_refuse},
    {.method = "GET", .path = "/v1/slow", .handle = h_slow},
    {.method = "GET", .path = "/v1/download", .handle = h_download},
    {.method = "POST",
     .path = "/v1/upload",
     .body = JCS_HTTP_BODY_MULTIPART,
     .handle = h_up_handle,
     .begin = h_up_begin,
     .data = h_up_data,
     .part_begin = h_up_part_begin,
     .part_end = h_up_part_end},
    {.method = "POST",
     .path = "/v1/raw",
     .body = JCS_HTTP_BODY_RAW,
     .handle = h_raw_handle,
     .begin = h_up_begin,
     .data = h_up_data},
};

/* ---- the shared server ------------------------------------------------------------------------
 */

static void stop_server(void)
{
    jcs_http_stop(g_srv);
    g_srv = NULL;
    jcs_rest_global_cleanup();
}

static int start_server(void)
{
    if (g_srv)
        return 0;
    char ca_dir[256], evil_dir[256], ca_key[P];
    t_path(ca_dir, sizeof ca_dir, "ca");
    t_path(evil_dir, sizeof evil_dir, "evil");
    snprintf(g_ca, P, "%s/ca_cert.pem", ca_dir);
    snprintf(ca_key, P, "%s/ca_key.pem", ca_dir);
    snprintf(g_evil_ca, P, "%s/ca_cert.pem", evil_dir);
    snprintf(g_srv_cert, P, "%s/srv_cert.pem", ca_dir);
    snprintf(g_srv_key, P, "%s/srv_key.pem", ca_dir);
    snprintf(g_cli_cert, P, "%s/cli_cert.pem", ca_dir);
    snprintf(g_cli_key, P, "%s/cli_key.pem", ca_dir);
    static const char *const sans[] = {"127.0.0.1"};
    jcs_cert_req s = {.role = "server", .name = "rest-srv", .sans = sans, .nsans = 1, .days = 2};
    jcs_cert_req c = {.role = "client", .name = "rest-cli", .days = 2};
    if (jcs_cert_create_ca(ca_dir, "rest CA", 2) || jcs_cert_create_ca(evil_dir, "evil CA", 2) ||
        jcs_cert_issue(g_ca, ca_key, &s, g_srv_cert, g_srv_key) ||
        jcs_cert_issue(g_ca, ca_key, &c, g_cli_cert, g_cli_key) || jcs_rest_global_init())
        return -1;
    jcs_http_config hc = {.listen = "127.0.0.1:0",
                          .cert_file = g_srv_cert,
                          .key_file = g_srv_key,
                          .root_ca_file = g_ca,
                          .max_body_size = 1 << 20,
                          .max_connections = 64,
                          .timeout_s = 30};
    if (jcs_http_start(&hc, routes, sizeof routes / sizeof routes[0], &g_srv))
        return -1;
    snprintf(g_endpoint, sizeof g_endpoint, "https://127.0.0.1:%d/", jcs_http_port(g_srv));
    atexit(stop_server);
    return 0;
}

/* A client of the test server; ca NULL: the right CA. */
static jcs_rest *client(const char *endpoint, const char *ca, int einval_is_local,
                        int64_t timeout_ms)
{
    jcs_rest_opts o = {.endpoint = endpoint ? endpoint : g_endpoint,
                       .ca = ca ? ca : g_ca,
                       .cert = g_cli_cert,
                       .key = g_cli_key,
                       .endpoint_from = "--endpoint",
                       .ca_from = "JCS_CA",
                       .endpoint_how = "--endpoint",
                       .ca_how = "--ca",
                       .user_agent = "test-rest",
                       .connect_timeout_ms = 2000,
                       .timeout_ms = timeout_ms,
                       .stall_ms = 5000,
                       .einval_is_local = einval_is_local};
    jcs_rest *r = NULL;
    return jcs_rest_new(&o, &r) ? NULL : r;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

TEST(get_escapes_query_and_returns_data)
{
    T_ASSERT(start_server() == 0);
    jcs_rest *r = client(NULL, NULL, 0, 0);
    T_ASSERT(r);
    char ep[64];
    snprintf(ep, sizeof ep, "%s", g_endpoint);
    ep[strlen(ep) - 1] = '\0'; /* the trailing '/' is dropped */
    int same = strcmp(jcs_rest_endpoint(r), ep) == 0;
    const char *kv[] = {"a", "x y&z=1/ü", "b", "", NULL};
    json_t *d = NULL;
    int rc = jcs_rest_get(r, "/v1/query", kv, &d);
    jcs_rest_free(r);
    T_ASSERT(same);
    T_OK(rc);
    T_EQ_STR(json_string_value(json_object_get(d, "a")), "x y&z=1/ü");
    T_EQ_STR(json_string_value(json_object_get(d, "b")), "");
    json_decref(d);
}

TEST(post_sends_json)
{
    T_ASSERT(start_server() == 0);
    jcs_rest *r = client(NULL, NULL, 0, 0);
    T_ASSERT(r);
    json_t *b = json_pack("{s:s,s:i}", "name", "b1", "n", 7), *d = NULL;
    int rc = jcs_rest_post(r, "/v1/echo", b, &d);
    json_decref(b);
    jcs_rest_free(r);
    T_OK(rc);
    T_EQ_INT(json_integer_value(json_object_get(json_object_get(d, "got"), "n")), 7);
    json_decref(d);
}

TEST(refusals_map_to_codes_with_the_server_message)
{
    T_ASSERT(start_server() == 0);
    jcs_rest *r = client(NULL, NULL, 0, 0), *ctl = client(NULL, NULL, 1, 0);
    T_ASSERT(r && ctl);
    static const struct {
        const char *code, *st;
        int want, want_ctl;
    } cases[] = {
        {"DataNotFound", "404", JCS_ENOENT, JCS_ENOENT},
        {"Conflict", "409", JCS_EEXIST, JCS_EEXIST},
        {"BadArgument", "400", JCS_EINVAL, JCS_ERPC},
        {"TooLarge", "413", JCS_ETOOBIG, JCS_ETOOBIG},
        {"Unauthorized", "403", JCS_EPERM, JCS_EPERM},
        {"OperationFailed", "500", JCS_ERPC, JCS_ERPC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *kv[] = {"code", cases[i].code, "st", cases[i].st, NULL};
        json_t *d = (json_t *)1;
        int rc = jcs_rest_get(r, "/v1/refuse", kv, &d);
        T_EQ_INT(rc, cases[i].want);
        T_ASSERT(d == NULL);
        char want[128];
        snprintf(want, sizeof want, "the server says no to %s (%s, HTTP %s)", cases[i].code,
                 cases[i].code, cases[i].st);
        T_ASSERT(strstr(jcs_err_msg(rc), want), "(%s)", jcs_err_msg(rc));
        T_EQ_INT(jcs_rest_get(ctl, "/v1/refuse", kv, NULL), cases[i].want_ctl);
    }
    T_EQ_INT(jcs_rest_get(r, "/v1/no/such/route", NULL, NULL), JCS_ENOENT);
    jcs_rest_free(r);
    jcs_rest_free(ctl);
}

typedef struct sink_state {
    int64_t n;
    size_t max_chunk;
    int bad;
    int64_t progress;
} sink_state;

static int sink(void *arg, const void *p, size_t n)
{
    sink_state *s = arg;
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != byte_at(s->n + (int64_t)i))
            s->bad = 1;
    s->n += (int64_t)n;
    if (n > s->max_chunk)
        s->max_chunk = n;
    return 0;
}

static void on_progress(void *arg, int64_t now)
{
    ((sink_state *)arg)->progress = now;
}

TEST(download_streams_to_the_sink)
{
    T_ASSERT(start_server() == 0);
    jcs_rest *r = client(NULL, NULL, 0, 0);
    T_ASSERT(r);
    sink_state s = {0};
    jcs_rest_progress prog = {on_progress, &s};
    const char *kv[] = {"size", "6291459", NULL};
    int64_t got = -1;
    int rc = jcs_rest_download(r, "/v1/download", kv, sink, &s, &prog, &got);
    jcs_rest_free(r);
    T_OK(rc);
    T_EQ_INT(got, 6291459);
    T_EQ_INT(s.n, 6291459);
    T_EQ_INT(s.progress, 6291459);
    T_ASSERT(!s.bad, "(bytes differ)");
    T_ASSERT(s.max_chunk > 0 && s.max_chunk <= 512 * 1024, "(largest piece %zu)", s.max_chunk);
}

static int stop_sink(void *arg, const void *p, size_t n)
{
    (void)arg, (void)p, (void)n;
    return jcs_err_set(JCS_ECANCELED, "the reader went away");
}

TEST(download_sink_failure_is_the_error_and_refusal_never_reaches_sink)
{
    T_ASSERT(start_server() == 0);
    jcs_rest *r = client(NULL, NULL, 0, 0);
    T_ASSERT(r);
    const char *kv[] = {"size", "100000", NULL};
    T_EQ_INT(jcs_rest_download(r, "/v1/download", kv, stop_sink, NULL, NULL, NULL), JCS_ECANCELED);
    sink_state s = {0};
    const char *no[] = {"code", "DataNotFound", "st", "404", NULL};
    T_EQ_INT(jcs_rest_download(r, "/v1/refuse", no, sink, &s, NULL, NULL), JCS_ENOENT);
    T_EQ_INT(s.n, 0);
    jcs_rest_free(r);
}

/* A file of n pattern bytes; returns its descriptor. */
static int pattern_file(const char *name, int64_t n)
{
    char path[P];
    t_path(path, sizeof path, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    static unsigned char buf[65536];
    for (int64_t off = 0; off < n; off += (int64_t)sizeof buf) {
        size_t k = n - off < (int64_t)sizeof buf ? (size_t)(n - off) : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = byte_at(off + (int64_t)i);
        if (write(fd, buf, k) != (ssize_t)k) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static uint32_t sum_of(int64_t from, int64_t n)
{
    uint32_t h = 0;
    for (int64_t i = 0; i < n; i++)
        h = h * 31 + byte_at(from + i);
    return h;
}

TEST(upload_streams_parts_from_descriptors)
{
    T_ASSERT(start_server() == 0);
    jcs_rest *r = client(NULL, NULL, 0, 0);
    T_ASSERT(r);
    int fd = pattern_file("up.bin", 5 << 20);
    T_ASSERT(fd >= 0);
    jcs_rest_file f[2] = {
        {.path = "dir/a b.bin", .local = "up.bin", .fd = fd, .off = 0, .size = 3 << 20},
        {.path = "c.bin", .local = "up.bin", .fd = fd, .off = 1000, .size = 12345}};
    json_t *info = json_pack("{s:i}", "packageID", 1), *d = NULL;
    sink_state s = {0};
    jcs_rest_progress prog = {on_progress, &s};
    int rc = jcs_rest_upload(r, "/v1/upload", info, f, 2, &prog, &d);
    json_decref(info);
    T_OK(rc);
    T_EQ_INT(json_integer_value(json_object_get(d, "parts")), 3);
    json_decref(d);
    T_ASSERT(s.progress >= (3 << 20) + 12345);
    pthread_mutex_lock(&g_mu);
    int ok = strcmp(g_names[1], "dir%2Fa%20b.bin") == 0 && g_sizes[1] == 3 << 20 &&
             g_sums[1] == sum_of(0, 3 << 20) && g_sizes[2] == 12345 &&
             g_sums[2] == sum_of(1000, 12345);
    pthread_mutex_unlock(&g_mu);
    T_ASSERT(ok, "(the server got other parts: %s %lld %lld)", g_names[1], (long long)g_sizes[1],
             (long long)g_sizes[2]);

    /* The same bytes as a raw body. */
    T_OK(jcs_rest_upload_raw(r, "/v1/raw", NULL, &f[0], NULL, &d));
    T_EQ_INT(json_integer_value(json_object_get(d, "bytes")), 3 << 20);
    json_decref(d);

    /* A file shorter than announced fails naming it; nothing is taken as sent. */
    jcs_rest_file shrunk = {
        .path = "s", .local = "up.bin (shrunk)", .fd = fd, .off = (5 << 20) - 10, .size = 100};
    rc = jcs_rest_upload_raw(r, "/v1/raw", NULL, &shrunk, NULL, &d);
    close(fd);
    jcs_rest_free(r);
    T_EQ_INT(rc, JCS_EIO);
    T_ASSERT(strstr(jcs_err_msg(rc), "up.bin (shrunk) shrank while being uploaded (10 of 100"),
             "(%s)", jcs_err_msg(rc));
}

/* One GET by a client of its own; its result (JCS_ENOMEM when no client could be made). */
static int one_get(const char *endpoint, const char *ca, int64_t timeout_ms, const char *path)
{
    jcs_rest *r = client(endpoint, ca, 0, timeout_ms);
    int rc = r ? jcs_rest_get(r, path, NULL, NULL) : JCS_ENOMEM;
    jcs_rest_free(r);
    return rc;
}

TEST(untrusted_server_names_the_ca_and_where_it_came_from)
{
    T_ASSERT(start_server() == 0);
    int rc = one_get(NULL, g_evil_ca, 0, "/v1/query");
    T_EQ_INT(rc, JCS_ETLS);
    char want[P + 64];
    snprintf(want, sizeof want, "not trusted by the CA certificate %s (from JCS_CA)", g_evil_ca);
    T_ASSERT(strstr(jcs_err_msg(rc), "use the ca_cert.pem of that jcs (--ca)"), "(%s)",
             jcs_err_msg(rc));
    T_ASSERT(strstr(jcs_err_msg(rc), want), "(%s)", jcs_err_msg(rc));
}

TEST(no_server_names_the_endpoint)
{
    T_ASSERT(start_server() == 0);
    int rc = one_get("https://127.0.0.1:1", NULL, 0, "/v1/query");
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(jcs_err_msg(rc), "cannot connect to https://127.0.0.1:1 (from --endpoint)"),
             "(%s)", jcs_err_msg(rc));
    T_ASSERT(strstr(jcs_err_msg(rc), "(--endpoint chooses another)"), "(%s)", jcs_err_msg(rc));
}

TEST(json_call_deadline)
{
    T_ASSERT(start_server() == 0);
    int64_t t0 = jcs_now_ms();
    int rc = one_get(NULL, NULL, 300, "/v1/slow");
    int64_t took = jcs_now_ms() - t0;
    T_EQ_INT(rc, JCS_ETIMEOUT);
    T_ASSERT(took < 1400, "(took %lld ms)", (long long)took);
    T_ASSERT(strstr(jcs_err_msg(rc), "GET /v1/slow at"), "(%s)", jcs_err_msg(rc));
}

static void *many_gets(void *arg)
{
    jcs_rest *r = arg;
    intptr_t bad = 0;
    for (int i = 0; i < 20; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *kv[] = {"a", v, "b", "x", NULL};
        json_t *d = NULL;
        if (jcs_rest_get(r, "/v1/query", kv, &d) != 0 ||
            strcmp(json_string_value(json_object_get(d, "a")) ?: "", v) != 0)
            bad++;
        json_decref(d);
    }
    return (void *)bad;
}

TEST(threads_share_one_client)
{
    T_ASSERT(start_server() == 0);
    jcs_rest *r = client(NULL, NULL, 0, 10000);
    T_ASSERT(r);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        T_ASSERT(pthread_create(&th[i], NULL, many_gets, r) == 0);
    intptr_t bad = 0;
    for (int i = 0; i < 8; i++) {
        void *v;
        pthread_join(th[i], &v);
        bad += (intptr_t)v;
    }
    jcs_rest_free(r);
    T_EQ_INT(bad, 0);
}
