/*
 * test_storage_s3.c - the S3 backend and the shard store against a real
 * S3-compatible server (s3rver, started here with tests/s3/start and stopped
 * at exit), plus the failure paths s3rver cannot produce (5xx, timeouts, cut
 * transfers, refused parts, multipart copy, listing unfinished uploads)
 * against the scripted server of tests/lib/t_http.c.
 *
 * s3rver does not verify SigV4 signatures (only the access key id), so the
 * signatures themselves are proven in tests/unit/test_sigv4.c.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "shardstore.h"
#include "storage.h"
#include "t.h"
#include "t_http.h"
#include "t_storage_conf.h"
#include "t_tmpdir.h"
#include "util.h"

#define BUCKET "jcs-test"

static struct {
    int started;
    int port;
    long pid;
    char endpoint[128];
    char vhost_endpoint[128];
} srv;

static void stop_s3rver(void)
{
    if (srv.pid <= 0)
        return;
    kill((pid_t)srv.pid, SIGTERM);
    for (int i = 0; i < 100 && kill((pid_t)srv.pid, 0) == 0; i++)
        jcs_sleep_ms(50);
    if (kill((pid_t)srv.pid, 0) == 0)
        kill((pid_t)srv.pid, SIGKILL);
    srv.pid = 0;
}

static const char *env_value(const char *text, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
            size_t vl = strcspn(l + kl + 1, "\n");
            snprintf(out, n, "%.*s", (int)vl, l + kl + 1);
            return out;
        }
    }
    return NULL;
}

/* Starts s3rver once per binary; 0 on success. */
static int s3rver(void)
{
    if (srv.started)
        return srv.pid > 0 ? 0 : -1;
    srv.started = 1;
    char dir[512], envf[600], cmd[2048];
    t_path(dir, sizeof(dir), "s3rver");
    snprintf(envf, sizeof(envf), "%s.env", dir);
    snprintf(cmd, sizeof(cmd), "tests/s3/start %s %s %s >/dev/null", dir, BUCKET, envf);
    if (system(cmd) != 0)
        return -1;
    char *text = NULL, v[128];
    if (jcs_read_file(envf, 4096, &text, NULL) != 0)
        return -1;
    if (env_value(text, "S3_PID", v, sizeof(v)))
        srv.pid = strtol(v, NULL, 10);
    atexit(stop_s3rver); /* registered after t_tmpdir's cleanup, so it runs first */
    if (env_value(text, "S3_PORT", v, sizeof(v)))
        srv.port = (int)strtol(v, NULL, 10);
    env_value(text, "S3_ENDPOINT", srv.endpoint, sizeof(srv.endpoint));
    env_value(text, "S3_VHOST_ENDPOINT", srv.vhost_endpoint, sizeof(srv.vhost_endpoint));
    jcs_free(text);
    return srv.pid > 0 && srv.port > 0 ? 0 : -1;
}

static int seq;

/* A backend on s3rver under a fresh prefix, so tests do not see each other's keys. */
static int open_s3(jcs_storage **s, int path_style, size_t part_size, const char *ak)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "t%d-%d", (int)getpid(), ++seq);
    struct jcs_storage_config cfg = {
        .type = JCS_STORAGE_S3,
        .s3 = {.endpoint = path_style ? srv.endpoint : srv.vhost_endpoint,
               .bucket = BUCKET,
               .prefix = prefix,
               .path_style = path_style,
               .access_key = ak ? ak : "S3RVER",
               .secret_key = "S3RVER",
               .part_size = part_size,
               .list_page_size = 3,
               .retry_base_ms = 20}};
    return jcs_storage_open(&cfg, s);
}

#define SMALL 300000

TEST(s3rver_starts)
{
    T_ASSERT(s3rver() == 0, "(tests/s3/start failed; is node installed? run make deps)");
}

/* The conformance suite (tests/lib/t_storage_conf.c) on path-style addressing, 5 MiB parts
 * and listing pages of 3 keys, so the large object is a multipart upload across four parts
 * and the listings need continuation tokens. */
static int open_conf(void *arg, jcs_storage **s)
{
    (void)arg;
    if (s3rver() != 0)
        return JCS_EIO;
    return open_s3(s, 1, 5u << 20, NULL);
}

static const struct t_storage_conf conf = {.open = open_conf, .large = (20u << 20) + 12345};

__attribute__((constructor)) static void reg_conf(void)
{
    t_storage_conf_register(&conf);
}

/* What only S3 has: virtual-host addressing, escaped keys in URLs, the S3 error code in
 * the message of a missing key, the listing in key order. */
static void vhost_round_trip(void)
{
    T_ASSERT(s3rver() == 0);
    jcs_storage *s;
    T_OK(open_s3(&s, 0, 0, NULL));
    static unsigned char data[SMALL], got[SMALL];
    t_storage_pattern(data, SMALL, 11);
    T_OK(t_storage_put(s, "objs/a b+c/d.bin", data, SMALL, 65536));
    T_OK(jcs_storage_read_buf(s, "objs/a b+c/d.bin", 0, SMALL, got));
    T_ASSERT(memcmp(got, data, SMALL) == 0);
    T_OK(jcs_storage_read_buf(s, "objs/a b+c/d.bin", 1234, 100000, got));
    T_ASSERT(memcmp(got, data + 1234, 100000) == 0);
    struct t_storage_sink b = {got, 0, SMALL, 0};
    T_OK(
        jcs_storage_read(s, "objs/a b+c/d.bin", 200000, JCS_STORAGE_TO_END, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, SMALL - 200000);
    T_ASSERT(memcmp(got, data + 200000, b.n) == 0);
    int rc = jcs_storage_read_buf(s, "objs/missing", 0, 1, got);
    T_EQ_INT(rc, JCS_ENOENT);
    T_ASSERT(strstr(jcs_err_msg(rc), "NoSuchKey") != NULL, "(%s)", jcs_err_msg(rc));
    jcs_storage_close(s);
}

TEST(virtual_host_write_read_ranges)
{
    vhost_round_trip();
}

TEST(missing_key_errors_carry_the_s3_status)
{
    T_ASSERT(s3rver() == 0);
    jcs_storage *s;
    T_OK(open_s3(&s, 1, 0, NULL));
    struct jcs_storage_stat st;
    int rc = jcs_storage_stat(s, "blocks/CD/nope", &st);
    T_EQ_INT(rc, JCS_ENOENT);
    T_ASSERT(strstr(jcs_err_msg(rc), "HEAD blocks/CD/nope") && strstr(jcs_err_msg(rc), "404"),
             "(%s)", jcs_err_msg(rc));
    jcs_storage_close(s);
}

TEST(listing_is_in_key_order)
{
    T_ASSERT(s3rver() == 0);
    jcs_storage *s;
    T_OK(open_s3(&s, 1, 0, NULL));
    static const char *keys[] = {"a/1", "a/2", "b/3&<4>", "c", "d/5"};
    for (int i = 4; i >= 0; i--)
        T_OK(t_storage_put(s, keys[i], "0123456789", (size_t)i + 1, 4));
    struct t_storage_keys all = {0};
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &all));
    T_EQ_INT(all.n, 5);
    for (int i = 0; i < 5; i++) {
        T_EQ_STR(all.keys[i], keys[i]);
        T_EQ_INT(all.sizes[i], i + 1);
    }
    jcs_storage_close(s);
}

TEST(virtual_host_and_path_style_see_the_same_bucket)
{
    T_ASSERT(s3rver() == 0);
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_S3,
                                     .s3 = {.endpoint = srv.vhost_endpoint,
                                            .bucket = BUCKET,
                                            .prefix = "shared",
                                            .access_key = "S3RVER",
                                            .secret_key = "S3RVER"}};
    jcs_storage *vh, *ps;
    T_OK(jcs_storage_open(&cfg, &vh));
    cfg.s3.endpoint = srv.endpoint;
    cfg.s3.path_style = 1;
    T_OK(jcs_storage_open(&cfg, &ps));
    T_OK(t_storage_put(vh, "via-vhost", "virtual", 7, 7));
    char got[8] = {0};
    T_OK(jcs_storage_read_buf(ps, "via-vhost", 0, 7, got));
    T_EQ_STR(got, "virtual");
    T_OK(jcs_storage_delete(ps, "via-vhost"));
    struct jcs_storage_stat st;
    T_EQ_INT(jcs_storage_stat(vh, "via-vhost", &st), JCS_ENOENT);
    jcs_storage_close(vh);
    jcs_storage_close(ps);
}

TEST(wrong_access_key_is_a_clear_error)
{
    T_ASSERT(s3rver() == 0);
    jcs_storage *s;
    T_OK(open_s3(&s, 1, 0, "NOT-A-KEY"));
    int rc = t_storage_put(s, "k", "v", 1, 1);
    T_EQ_INT(rc, JCS_EPERM);
    const char *m = jcs_err_msg(rc);
    char where[200];
    snprintf(where, sizeof(where), "s3 %s/%s", srv.endpoint, BUCKET);
    T_ASSERT(strstr(m, where) && strstr(m, "PUT k") && strstr(m, "HTTP 403") &&
                 strstr(m, "InvalidAccessKeyId") && !strstr(m, "S3RVER"),
             "(%s)", m);
    jcs_storage_close(s);
}

static void mkhash(char out[JCS_FILEHASH_LEN + 1], unsigned seed)
{
    static const char hx[] = "0123456789ABCDEF";
    unsigned char b[32];
    t_storage_pattern(b, sizeof(b), seed);
    memcpy(out, "Full", 4);
    for (int i = 0; i < 32; i++) {
        out[4 + 2 * i] = hx[b[i] >> 4];
        out[5 + 2 * i] = hx[b[i] & 15];
    }
    out[JCS_FILEHASH_LEN] = '\0';
}

static int shard_count(void *arg, const struct jcs_shard_info *info)
{
    (void)info;
    (*(int *)arg)++;
    return JCS_OK;
}

TEST(shard_store_on_s3)
{
    T_ASSERT(s3rver() == 0);
    jcs_storage *s;
    jcs_shardstore *ss;
    T_OK(open_s3(&s, 1, 5u << 20, NULL));
    T_OK(jcs_shardstore_open(s, &ss));
    char h[JCS_FILEHASH_LEN + 1], key[JCS_SHARD_KEY_LEN + 1];
    mkhash(h, 1);
    T_OK(jcs_shardstore_key(h, key));
    static unsigned char data[6 << 20], got[6 << 20];
    t_storage_pattern(data, sizeof(data), 1);
    int existed = -1;
    for (int round = 0; round < 2; round++) {
        jcs_shard_writer *w;
        T_OK(jcs_shardstore_create(ss, &w));
        T_OK(jcs_shard_write(w, data, sizeof(data)));
        struct jcs_shard_info info;
        T_OK(jcs_shard_commit(w, h, &info, &existed));
        T_EQ_INT(existed, round);
        T_EQ_INT(info.size, sizeof(data));
    }
    int n = 0;
    T_OK(jcs_shardstore_list(ss, shard_count, &n));
    T_EQ_INT(n, 1);
    T_OK(jcs_storage_read_buf(s, key, 0, sizeof(data), got));
    T_ASSERT(memcmp(got, data, sizeof(data)) == 0);
    const char *del[] = {h};
    T_OK(jcs_shardstore_delete(ss, del, 1, NULL));
    n = 0;
    T_OK(jcs_shardstore_list(ss, shard_count, &n));
    T_EQ_INT(n, 0);
    unsigned removed = 99;
    T_OK(jcs_shardstore_reclaim(ss, 0, &removed));
    T_EQ_INT(removed, 0);
    jcs_shardstore_close(ss);
    jcs_storage_close(s);
}

struct worker {
    jcs_storage *s;
    int id;
    int rc;
    int same;
};

static void *work(void *arg)
{
    struct worker *wk = arg;
    static unsigned char data[4][1 << 20], got[4][1 << 20];
    char key[32];
    snprintf(key, sizeof(key), "par/%d", wk->id);
    t_storage_pattern(data[wk->id], sizeof(data[0]), 100 + (unsigned)wk->id);
    for (int round = 0; round < 3 && !wk->rc; round++) {
        wk->rc = t_storage_put(wk->s, key, data[wk->id], sizeof(data[0]), 100000);
        if (!wk->rc)
            wk->rc = jcs_storage_read_buf(wk->s, key, 0, sizeof(data[0]), got[wk->id]);
    }
    wk->same = memcmp(got[wk->id], data[wk->id], sizeof(data[0])) == 0;
    return NULL;
}

TEST(one_backend_many_threads)
{
    T_ASSERT(s3rver() == 0);
    jcs_storage *s;
    T_OK(open_s3(&s, 1, 0, NULL));
    pthread_t th[4];
    struct worker wk[4];
    for (int i = 0; i < 4; i++) {
        wk[i] = (struct worker){s, i, 0, 0};
        T_ASSERT(pthread_create(&th[i], NULL, work, &wk[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        T_OK(wk[i].rc);
        T_ASSERT(wk[i].same, "(thread %d)", i);
    }
    struct t_storage_keys c = {0};
    T_OK(jcs_storage_list(s, "par/", t_storage_keys_fn, &c));
    T_EQ_INT(c.n, 4);
    jcs_storage_close(s);
}

/* ---- failure paths against the scripted server --------------------------- */

static int open_fake(t_http *h, jcs_storage **s, int attempts, int io_timeout_ms)
{
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", t_http_port(h));
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_S3,
                                     .s3 = {.endpoint = ep,
                                            .bucket = "fake-bucket",
                                            .path_style = 1,
                                            .access_key = "AK",
                                            .secret_key = "SK",
                                            .max_attempts = attempts,
                                            .retry_base_ms = 10,
                                            .io_timeout_ms = io_timeout_ms,
                                            .part_size = 5u << 20,
                                            .copy_max_single = 3u << 20}};
    return jcs_storage_open(&cfg, s);
}

static const char *slowdown = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
                              "<Message>Please reduce your request rate.</Message></Error>";

static void fail_twice(void *arg, int n, const t_http_req *req, t_http_resp *resp)
{
    (void)arg;
    if (n < 2) {
        resp->status = 503;
        resp->body = slowdown;
    } else if (strcmp(req->method, "GET") == 0) {
        resp->body = "the object";
    }
}

TEST(retries_5xx_with_the_whole_body)
{
    t_http *h = t_http_start(fail_twice, NULL);
    T_ASSERT(h != NULL);
    jcs_storage *s;
    T_OK(open_fake(h, &s, 4, 0));
    T_OK(t_storage_put(s, "k", "payload-bytes", 13, 5));
    T_EQ_INT(t_http_count(h), 3);
    for (int i = 0; i < 3; i++) {
        const t_http_req *r = t_http_get(h, i);
        T_EQ_STR(r->method, "PUT");
        T_EQ_INT(r->body_len, 13);
        T_ASSERT(memcmp(r->body, "payload-bytes", 13) == 0);
    }
    jcs_storage_close(s);
    t_http_stop(h);

    h = t_http_start(fail_twice, NULL);
    T_ASSERT(h != NULL);
    T_OK(open_fake(h, &s, 4, 0));
    char got[11] = {0};
    T_OK(jcs_storage_read_buf(s, "k", 0, 10, got));
    T_EQ_STR(got, "the object");
    T_EQ_INT(t_http_count(h), 3);
    jcs_storage_close(s);
    t_http_stop(h);
}

static void always(void *arg, int n, const t_http_req *req, t_http_resp *resp)
{
    (void)n;
    (void)req;
    resp->status = *(int *)arg;
    resp->body = resp->status == 403 ? "<Error><Code>AccessDenied</Code><Message>Access "
                                       "Denied</Message></Error>"
                                     : slowdown;
}

TEST(no_retry_on_4xx_and_give_up_after_max_attempts)
{
    int status = 403;
    t_http *h = t_http_start(always, &status);
    T_ASSERT(h != NULL);
    jcs_storage *s;
    T_OK(open_fake(h, &s, 4, 0));
    int rc = t_storage_put(s, "blocks/AB/x", "v", 1, 1);
    T_EQ_INT(rc, JCS_EPERM);
    T_EQ_INT(t_http_count(h), 1);
    char want[128];
    snprintf(want, sizeof(want),
             "s3 http://127.0.0.1:%d/fake-bucket: PUT blocks/AB/x: HTTP 403 "
             "AccessDenied: Access Denied",
             t_http_port(h));
    T_EQ_STR(jcs_err_msg(rc), want);
    jcs_storage_close(s);
    t_http_stop(h);

    status = 500;
    h = t_http_start(always, &status);
    T_ASSERT(h != NULL);
    T_OK(open_fake(h, &s, 4, 0));
    struct jcs_storage_stat st;
    rc = jcs_storage_stat(s, "k", &st);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_EQ_INT(t_http_count(h), 4);
    T_ASSERT(strstr(jcs_err_msg(rc), "HTTP 500") && strstr(jcs_err_msg(rc), "(4 attempts)"), "(%s)",
             jcs_err_msg(rc));
    jcs_storage_close(s);
    t_http_stop(h);
}

TEST(connection_refused_names_the_endpoint)
{
    t_http *h = t_http_start(NULL, NULL);
    T_ASSERT(h != NULL);
    int port = t_http_port(h);
    t_http_stop(h); /* nothing listens there any more */
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_S3,
                                     .s3 = {.endpoint = ep,
                                            .bucket = "fake-bucket",
                                            .path_style = 1,
                                            .access_key = "AK",
                                            .secret_key = "SK",
                                            .max_attempts = 2,
                                            .retry_base_ms = 10}};
    jcs_storage *s;
    T_OK(jcs_storage_open(&cfg, &s));
    struct jcs_storage_stat st;
    int rc = jcs_storage_stat(s, "k", &st);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(strstr(jcs_err_msg(rc), ep) && strstr(jcs_err_msg(rc), "(2 attempts)"), "(%s)",
             jcs_err_msg(rc));
    jcs_storage_close(s);
}

static void hang(void *arg, int n, const t_http_req *req, t_http_resp *resp)
{
    (void)arg;
    (void)n;
    (void)req;
    resp->hang = 1;
}

TEST(stalled_server_times_out_and_is_retried)
{
    t_http *h = t_http_start(hang, NULL);
    T_ASSERT(h != NULL);
    jcs_storage *s;
    T_OK(open_fake(h, &s, 2, 1000));
    char got[4];
    int rc = jcs_storage_read_buf(s, "k", 0, 4, got);
    T_EQ_INT(rc, JCS_ETIMEOUT);
    T_EQ_INT(t_http_count(h), 2);
    T_ASSERT(strstr(jcs_err_msg(rc), "GET k") != NULL, "(%s)", jcs_err_msg(rc));
    jcs_storage_close(s);
    t_http_stop(h);
}

static const char resume_obj[] = "0123456789abcdefghijklmnopqrstuvwxyz";

/* First answer advertises the whole range but stops half way; later ones honour Range. */
static void cut_then_resume(void *arg, int n, const t_http_req *req, t_http_resp *resp)
{
    char range[64];
    unsigned long a = 0, b = 0;
    (void)arg;
    if (!t_http_header(req, "Range", range, sizeof(range)) ||
        sscanf(range, "bytes=%lu-%lu", &a, &b) != 2 || b >= sizeof(resume_obj) - 1) {
        resp->status = 416;
        return;
    }
    resp->status = 206;
    snprintf(resp->headers, sizeof(resp->headers), "Content-Range: bytes %lu-%lu/%zu\r\n", a, b,
             sizeof(resume_obj) - 1);
    resp->body = resume_obj + a;
    resp->body_len = b - a + 1;
    if (n == 0)
        resp->cut_after = 7;
}

TEST(interrupted_read_resumes_without_repeating_bytes)
{
    t_http *h = t_http_start(cut_then_resume, NULL);
    T_ASSERT(h != NULL);
    jcs_storage *s;
    T_OK(open_fake(h, &s, 3, 0));
    unsigned char got[64];
    struct t_storage_sink b = {got, 0, sizeof(got), 0};
    T_OK(jcs_storage_read(s, "obj", 3, 20, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, 20);
    T_ASSERT(memcmp(got, resume_obj + 3, 20) == 0);
    T_EQ_INT(t_http_count(h), 2);
    char range[64];
    T_ASSERT(t_http_header(t_http_get(h, 0), "Range", range, sizeof(range)) != NULL);
    T_EQ_STR(range, "bytes=3-22");
    T_ASSERT(t_http_header(t_http_get(h, 1), "Range", range, sizeof(range)) != NULL);
    T_EQ_STR(range, "bytes=10-22");
    jcs_storage_close(s);
    t_http_stop(h);
}

/* A small S3 for the multipart paths: uploads, refused parts, copies, listing uploads. */
struct fake_s3 {
    int refuse_parts;
    const char *uploads_xml;
    const char *objects_xml;
};

static void fake_s3(void *arg, int n, const t_http_req *req, t_http_resp *resp)
{
    struct fake_s3 *f = arg;
    char copy[512];
    (void)n;
    int is_copy = t_http_header(req, "x-amz-copy-source", copy, sizeof(copy)) != NULL;
    if (strcmp(req->method, "POST") == 0 && strstr(req->target, "?uploads")) {
        resp->body = "<InitiateMultipartUploadResult><Bucket>fake-bucket</Bucket><Key>k</Key>"
                     "<UploadId>up/id+1</UploadId></InitiateMultipartUploadResult>";
    } else if (strcmp(req->method, "PUT") == 0 && strstr(req->target, "partNumber=")) {
        if (f->refuse_parts) {
            resp->status = 403;
            resp->body =
                "<Error><Code>AccessDenied</Code><Message>no parts for you</Message></Error>";
        } else if (is_copy) {
            resp->body = "<CopyPartResult><ETag>&quot;copied&quot;</ETag></CopyPartResult>";
        } else {
            snprintf(resp->headers, sizeof(resp->headers), "ETag: \"part%d\"\r\n", n);
        }
    } else if (strcmp(req->method, "POST") == 0 && strstr(req->target, "uploadId=")) {
        resp->body = "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
                     "</CompleteMultipartUploadResult>";
    } else if (strcmp(req->method, "GET") == 0 && strstr(req->target, "uploads=")) {
        resp->body = f->uploads_xml;
    } else if (strcmp(req->method, "GET") == 0 && strstr(req->target, "list-type=2")) {
        resp->body = f->objects_xml;
    } else if (strcmp(req->method, "HEAD") == 0) {
        resp->status = 404;
    } else if (strcmp(req->method, "DELETE") == 0) {
        resp->status = 204;
    }
}

static int find_req(t_http *h, const char *method, const char *target_part)
{
    for (int i = 0; i < t_http_count(h); i++) {
        const t_http_req *r = t_http_get(h, i);
        if (strcmp(r->method, method) == 0 && strstr(r->target, target_part))
            return i;
    }
    return -1;
}

TEST(refused_part_aborts_the_multipart_upload)
{
    struct fake_s3 f = {.refuse_parts = 1};
    t_http *h = t_http_start(fake_s3, &f);
    T_ASSERT(h != NULL);
    jcs_storage *s;
    T_OK(open_fake(h, &s, 2, 0));
    static unsigned char big[6 << 20];
    jcs_storage_writer *w;
    T_OK(jcs_storage_write_begin(s, &w));
    int rc = jcs_storage_write(w, big, sizeof(big));
    T_EQ_INT(rc, JCS_EPERM);
    T_ASSERT(strstr(jcs_err_msg(rc), "part 1") && strstr(jcs_err_msg(rc), "no parts for you"),
             "(%s)", jcs_err_msg(rc));
    /* The stream stays failed; commit reports it and aborts the upload. */
    rc = jcs_storage_write_commit(w, "final");
    T_EQ_INT(rc, JCS_EPERM);
    T_ASSERT(find_req(h, "DELETE", "/fake-bucket/tmp/") >= 0);
    T_ASSERT(find_req(h, "DELETE", "uploadId=up%2Fid%2B1") >= 0);
    T_ASSERT(find_req(h, "PUT", "/fake-bucket/final") < 0);
    jcs_storage_close(s);
    t_http_stop(h);
}

TEST(large_commit_copies_in_parts)
{
    /* copy_max_single is 3 MiB here, so a 7 MiB object is copied as 3 ranged part copies. */
    struct fake_s3 f = {0};
    t_http *h = t_http_start(fake_s3, &f);
    T_ASSERT(h != NULL);
    jcs_storage *s;
    T_OK(open_fake(h, &s, 2, 0));
    size_t n = 7u << 20;
    unsigned char *big = jcs_calloc(1, n);
    T_ASSERT(big != NULL);
    int rc = t_storage_put(s, "blocks/AB/final", big, n, 1u << 20);
    jcs_free(big);
    T_OK(rc);
    static const char *ranges[] = {"bytes=0-3145727", "bytes=3145728-6291455",
                                   "bytes=6291456-7340031"};
    int copies = 0;
    char src[512] = "";
    for (int i = 0; i < t_http_count(h); i++) {
        const t_http_req *r = t_http_get(h, i);
        char range[64];
        if (t_http_header(r, "x-amz-copy-source-range", range, sizeof(range))) {
            T_ASSERT(copies < 3);
            T_EQ_STR(range, ranges[copies]);
            T_ASSERT(strncmp(r->target, "/fake-bucket/blocks/AB/final?partNumber=", 40) == 0,
                     "(%s)", r->target);
            T_ASSERT(t_http_header(r, "x-amz-copy-source", src, sizeof(src)) != NULL);
            T_ASSERT(strncmp(src, "/fake-bucket/tmp/", 17) == 0, "(%s)", src);
            copies++;
        }
    }
    T_EQ_INT(copies, 3);
    /* The final object's completion lists the three copied parts in order. */
    int last = -1;
    for (int i = 0; i < t_http_count(h); i++) {
        const t_http_req *r = t_http_get(h, i);
        if (strcmp(r->method, "POST") == 0 &&
            strstr(r->target, "/fake-bucket/blocks/AB/final?uploadId="))
            last = i;
    }
    T_ASSERT(last >= 0);
    const char *body = t_http_get(h, last)->body;
    T_ASSERT(strstr(body, "<PartNumber>3</PartNumber><ETag>&quot;copied&quot;</ETag>") != NULL,
             "(%s)", body);
    /* And the temporary object is deleted afterwards. */
    T_ASSERT(find_req(h, "DELETE", src + strlen("/fake-bucket")) > last);
    jcs_storage_close(s);
    t_http_stop(h);
}

TEST(reclaim_aborts_old_uploads_and_deletes_old_temp_objects)
{
    struct fake_s3 f = {
        .uploads_xml = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
                       "<Upload><Key>tmp/old.1</Key><UploadId>OLD-ID</UploadId>"
                       "<Initiated>2001-01-01T00:00:00.000Z</Initiated></Upload>"
                       "<Upload><Key>tmp/new.2</Key><UploadId>NEW-ID</UploadId>"
                       "<Initiated>2999-01-01T00:00:00.000Z</Initiated></Upload>"
                       "<Upload><Key>tmp/live.5</Key><UploadId>up/id+1</UploadId>"
                       "<Initiated>2001-01-01T00:00:00.000Z</Initiated></Upload>"
                       "</ListMultipartUploadsResult>",
        .objects_xml = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                       "<Contents><Key>tmp/leftover.3</Key><Size>5</Size>"
                       "<LastModified>2001-01-01T00:00:00.000Z</LastModified></Contents>"
                       "<Contents><Key>tmp/fresh.4</Key><Size>5</Size>"
                       "<LastModified>2999-01-01T00:00:00.000Z</LastModified></Contents>"
                       "</ListBucketResult>"};
    t_http *h = t_http_start(fake_s3, &f);
    T_ASSERT(h != NULL);
    jcs_storage *s;
    T_OK(open_fake(h, &s, 2, 0));
    /* A live writer of this process whose upload (id "up/id+1") looks old. */
    static unsigned char big[6 << 20];
    jcs_storage_writer *w;
    T_OK(jcs_storage_write_begin(s, &w));
    T_OK(jcs_storage_write(w, big, sizeof(big)));
    unsigned removed = 0;
    T_OK(jcs_storage_reclaim(s, 3600 * 1000, &removed));
    T_EQ_INT(removed, 2);
    T_ASSERT(find_req(h, "DELETE", "/fake-bucket/tmp/old.1?uploadId=OLD-ID") >= 0);
    T_ASSERT(find_req(h, "DELETE", "uploadId=NEW-ID") < 0);
    T_ASSERT(find_req(h, "DELETE", "uploadId=up%2Fid%2B1") < 0);
    T_ASSERT(find_req(h, "DELETE", "/fake-bucket/tmp/leftover.3") >= 0);
    T_ASSERT(find_req(h, "DELETE", "tmp/fresh.4") < 0);
    jcs_storage_write_abort(w);
    T_ASSERT(find_req(h, "DELETE", "uploadId=up%2Fid%2B1") >= 0);
    jcs_storage_close(s);
    t_http_stop(h);
}
