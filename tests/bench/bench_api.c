/*
 * bench_api.c - the REST API end to end (HTTPS with the client certificate,
 * jcs serve, MariaDB, 6 hubs on this machine), driven by libcurl:
 *   - 1 GiB PUT (multipart upload) and GET (download) as ec(4,6), MiB/s;
 *   - 4 KiB objects PUT and GET per second over 16 keep-alive connections;
 * beside the ceilings measured in the same run: memcpy, loopback TCP, the
 * disk, the same 1 GiB through the driver's plans without REST (what
 * bench_plan measures), and the REST layer's request rate with no data (an
 * unknown endpoint: TLS + routing) and with one database read
 * (package/get).
 *
 *   build/tests/bench/bench_api [MiB]      (default 1024)
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "driver.h"
#include "itest.h"
#include "t_ceilings.h"
#include "util.h"

#define NHUBS      6
#define NCONN      16
#define SMALL      4096
#define SMALL_SECS 4
#define BLK        (1u << 20)
#define MiB        (1024.0 * 1024.0)
#define RESP_CAP   (1u << 20)

static char endpoint[256], ca[512], cert[512], cert_key[512];
static char *block; /* 1 MiB of noise; the stream is block repeated with the MiB index in front */

static double secs(int64_t us)
{
    return (double)us / 1e6;
}

/* ---- the byte stream --------------------------------------------------------------------------
 */

/* Bytes [pos, pos+n) of the stream. */
static void fill(uint64_t pos, char *buf, size_t n)
{
    while (n) {
        uint64_t mi = pos / BLK;
        size_t off = (size_t)(pos % BLK), k = n < BLK - off ? n : BLK - off;
        memcpy(buf, block + off, k);
        if (off < 8) {
            char hdr[8];
            memcpy(hdr, &mi, 8);
            size_t e = off + k < 8 ? off + k : 8;
            memcpy(buf, hdr + off, e - off);
        }
        buf += k;
        pos += k;
        n -= k;
    }
}

struct gen {
    uint64_t pos, size;
};

static int gen_read(void *arg, void *buf, size_t cap, size_t *n)
{
    struct gen *g = arg;
    size_t k = g->size - g->pos < cap ? (size_t)(g->size - g->pos) : cap;
    fill(g->pos, buf, k);
    g->pos += k;
    *n = k;
    return 0;
}

static size_t curl_gen_read(char *buf, size_t sz, size_t nm, void *arg)
{
    size_t n;
    (void)gen_read(arg, buf, sz * nm, &n);
    return n;
}

/* Checks what comes back against the stream. */
struct check {
    uint64_t pos;
    int bad;
    char *scratch;
};

static int check_write(void *arg, const void *data, size_t n)
{
    struct check *c = arg;
    while (n) {
        size_t k = n < BLK ? n : BLK;
        fill(c->pos, c->scratch, k);
        if (memcmp(c->scratch, data, k) != 0)
            c->bad = 1;
        c->pos += k;
        data = (const char *)data + k;
        n -= k;
    }
    return 0;
}

static size_t curl_check_write(char *p, size_t sz, size_t nm, void *arg)
{
    (void)check_write(arg, p, sz * nm);
    return sz * nm;
}

/* ---- REST calls -------------------------------------------------------------------------------
 */

struct resp {
    char *p;
    size_t n;
};

static size_t resp_write(char *p, size_t sz, size_t nm, void *arg)
{
    struct resp *r = arg;
    size_t k = sz * nm;
    if (r->n + k < RESP_CAP) {
        memcpy(r->p + r->n, p, k);
        r->n += k;
        r->p[r->n] = '\0';
    }
    return k;
}

static CURL *client(void)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, cert_key);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    return h;
}

/* One call on h; *status the HTTP status; the body in r (reset first). 0 on transport success. */
static int perform(CURL *h, struct resp *r, long *status)
{
    r->n = 0;
    r->p[0] = '\0';
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, resp_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    CURLcode cc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return cc == CURLE_OK ? 0 : -1;
}

/* POST JSON; returns data.<key>.<idfield> or -1 (printing why). */
static int64_t post_json(CURL *h, struct resp *r, const char *path, const char *body,
                         const char *key, const char *idfield)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", endpoint, path);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    long st;
    int rc = perform(h, r, &st);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_slist_free_all(hd);
    int64_t id = -1;
    json_t *j = rc == 0 && st == 200 ? json_loads(r->p, 0, NULL) : NULL;
    json_t *v = json_object_get(json_object_get(json_object_get(j, "data"), key), idfield);
    if (json_is_integer(v))
        id = json_integer_value(v);
    else
        fprintf(stderr, "bench_api: POST %s: HTTP %ld: %.300s\n", path, st, r->p);
    json_decref(j);
    return id;
}

/* Multipart upload of size bytes of the stream at path; returns the object id or -1. */
static int64_t upload(CURL *h, struct resp *r, int64_t package, const char *path, uint64_t size,
                      int quiet)
{
    char url[512], info[128];
    snprintf(url, sizeof url, "%s/v1/object/upload", endpoint);
    snprintf(info, sizeof info, "{\"packageID\": %lld}", (long long)package);
    struct gen g = {0, size};
    curl_mime *m = curl_mime_init(h);
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, "info");
    curl_mime_data(p, info, CURL_ZERO_TERMINATED);
    curl_mime_type(p, "application/json");
    p = curl_mime_addpart(m);
    curl_mime_name(p, "files");
    curl_mime_filename(p, path);
    curl_mime_type(p, "application/octet-stream");
    curl_mime_data_cb(p, (curl_off_t)size, curl_gen_read, NULL, NULL, &g);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_MIMEPOST, m);
    long st;
    int rc = perform(h, r, &st);
    curl_easy_setopt(h, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_mime_free(m);
    int64_t id = -1;
    if (rc == 0 && st == 200) {
        json_t *j = json_loads(r->p, 0, NULL);
        json_t *u = json_array_get(json_object_get(json_object_get(j, "data"), "uploadeds"), 0);
        json_t *v = json_object_get(u, "objectID");
        if (json_is_integer(v))
            id = json_integer_value(v);
        json_decref(j);
    }
    if (id < 0 && !quiet)
        fprintf(stderr, "bench_api: upload %s: HTTP %ld: %.300s\n", path, st, r->p);
    return id;
}

/* GET /v1/object/download of id, checked against the stream; bytes received or -1. */
static int64_t download(CURL *h, int64_t id, struct check *c)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v1/object/download?objectID=%lld", endpoint, (long long)id);
    c->pos = 0;
    c->bad = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_check_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    CURLcode cc = curl_easy_perform(h);
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    if (cc != CURLE_OK || st != 200 || c->bad)
        return -1;
    return (int64_t)c->pos;
}

/* ---- many small requests over NCONN connections ------------------------------------------ */

enum small_op { OP_GET_URL, OP_PUT, OP_GET_OBJ };

struct small {
    enum small_op op;
    int idx;
    int64_t until, package;
    const char *url; /* OP_GET_URL */
    int64_t *ids;    /* OP_PUT: ids written (cap); OP_GET_OBJ: ids to read (n) */
    size_t n, cap;
    long done, failed;
};

static void *small_loop(void *arg)
{
    struct small *s = arg;
    CURL *h = client();
    struct resp r = {jcs_malloc(RESP_CAP + 1), 0};
    struct check c = {.scratch = jcs_malloc(BLK)};
    char path[64];
    size_t next = 0;
    while (jcs_now_us() < s->until) {
        int ok = 0;
        if (s->op == OP_GET_URL) {
            long st;
            curl_easy_setopt(h, CURLOPT_URL, s->url);
            ok = perform(h, &r, &st) == 0 && st > 0;
        } else if (s->op == OP_PUT) {
            snprintf(path, sizeof path, "small/%d/%ld", s->idx, s->done);
            int64_t id = upload(h, &r, s->package, path, SMALL, s->failed > 0);
            ok = id > 0;
            if (ok && s->n < s->cap)
                s->ids[s->n++] = id;
        } else {
            if (s->n == 0)
                break;
            ok = download(h, s->ids[next++ % s->n], &c) == SMALL;
        }
        if (ok)
            s->done++;
        else
            s->failed++;
    }
    curl_easy_cleanup(h);
    jcs_free(r.p);
    jcs_free(c.scratch);
    return NULL;
}

/* Runs NCONN loops of op for SMALL_SECS; requests per second. */
static double small_rate(struct small *s, enum small_op op, const char *url, int64_t package,
                         long *failed)
{
    pthread_t th[NCONN];
    int64_t t0 = jcs_now_us();
    for (int i = 0; i < NCONN; i++) {
        s[i].op = op;
        s[i].idx = i;
        s[i].url = url;
        s[i].package = package;
        s[i].until = t0 + SMALL_SECS * 1000000LL;
        s[i].done = s[i].failed = 0;
        if (op == OP_PUT)
            s[i].n = 0;
        pthread_create(&th[i], NULL, small_loop, &s[i]);
    }
    long done = 0;
    *failed = 0;
    for (int i = 0; i < NCONN; i++) {
        pthread_join(th[i], NULL);
        done += s[i].done;
        *failed += s[i].failed;
    }
    return (double)done / secs(jcs_now_us() - t0);
}

static void verdict(double v, double target)
{
    printf("   %s\n", v >= target ? "(target met)" : "(target MISSED)");
}

int main(int argc, char **argv)
{
    uint64_t mib = argc > 1 ? (uint64_t)atol(argv[1]) : 1024;
    uint64_t big = mib << 20;
    setvbuf(stdout, NULL, _IOLBF, 0);
    jcs_rpc_init();
    curl_global_init(CURL_GLOBAL_ALL);
    block = jcs_malloc(BLK);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < BLK; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        block[i] = (char)x;
    }

    printf("ceilings on this machine, measured now:\n");
    printf("  memcpy                                   %8.2f GB/s\n", t_ceil_memcpy_gbps());
    printf("  loopback TCP, 1 stream                   %8.0f MiB/s\n", t_ceil_loopback_mibps());

    itest_cluster cl;
    if (itest_cluster_up(&cl, "--hubs 6 --test-interval 300") != 0) {
        fprintf(stderr, "bench_api: the cluster did not start\n");
        return 1;
    }
    double dw;
    t_ceil_disk_mibps(cl.dir, &dw, NULL);
    printf("  disk write+fdatasync                     %8.0f MiB/s\n", dw);
    snprintf(endpoint, sizeof endpoint, "%s", itest_env(&cl, "JCS_ENDPOINT"));
    snprintf(ca, sizeof ca, "%s", itest_env(&cl, "JCS_CA"));
    snprintf(cert, sizeof cert, "%s", itest_env(&cl, "JCS_CERT"));
    snprintf(cert_key, sizeof cert_key, "%s", itest_env(&cl, "JCS_KEY"));
    int status = 0;

    /* The data plane without REST: the same ec(4,6) through the driver's plans. */
    static Jcs__Plan__Worker hubs[NHUBS];
    static Jcs__Plan__Space spaces[NHUBS];
    static char addr[NHUBS][128];
    jcs_driver *drv = NULL;
    jcs_redundancy red = {.type = JCS_RED_EC, .k = 4, .n = 6, .chunk_size = 5 << 20};
    if (itest_hub_workers(&cl, NHUBS, hubs, addr) == 0 && itest_driver(&cl, &drv) == 0) {
        jcs_site sites[NHUBS];
        for (int i = 0; i < NHUBS; i++) {
            jcs__plan__space__init(&spaces[i]);
            spaces[i].space_id = i + 1;
            spaces[i].type = "local";
            spaces[i].root = "bench";
            sites[i] = (jcs_site){.space = &spaces[i], .hub = &hubs[i], .distance = i};
        }
        struct gen g = {0, big};
        jcs_block blocks[NHUBS];
        size_t nb = 0;
        char hash[JCS_FILEHASH_LEN + 1];
        int64_t size = 0;
        int64_t t0 = jcs_now_us();
        jcs_driver_upload_res res_ = {.blocks = blocks};
        int rc = jcs_driver_upload(drv,
                                   &(jcs_driver_upload_req){.read = gen_read,
                                                            .arg = &g,
                                                            .red = &red,
                                                            .targets = sites,
                                                            .ntargets = NHUBS,
                                                            .compute = NULL},
                                   &res_);
        nb = res_.nblocks;
        memcpy(hash, res_.hash, sizeof res_.hash);
        size = res_.size;
        double up = (double)size / MiB / secs(jcs_now_us() - t0);
        struct check c = {.scratch = jcs_malloc(BLK)};
        t0 = jcs_now_us();
        if (rc == 0)
            rc = jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = blocks,
                                                                             .sites = sites,
                                                                             .nblocks = nb,
                                                                             .red = &red,
                                                                             .object_size = size},
                                                                     .offset = 0,
                                                                     .length = -1,
                                                                     .compute = NULL,
                                                                     .write = check_write,
                                                                     .arg = &c});
        double down = (double)c.pos / MiB / secs(jcs_now_us() - t0);
        jcs_free(c.scratch);
        if (rc == 0 && !c.bad && c.pos == big)
            printf("  plans, ec(4,6) 5 MiB chunks, no REST     write %6.0f MiB/s   read %6.0f "
                   "MiB/s\n",
                   up, down);
        else
            printf("  plans without REST: failed (%s)\n", rc ? jcs_err_msg(rc) : "bytes differ");
        jcs_driver_free(drv);
    }

    CURL *h = client();
    struct resp r = {jcs_malloc(RESP_CAP + 1), 0};
    int64_t bucket =
        post_json(h, &r, "/v1/bucket/create", "{\"name\": \"bench\"}", "bucket", "bucketID");
    char body[256];
    snprintf(body, sizeof body,
             "{\"bucketID\": %lld, \"name\": \"ec46\", \"redundancy\": {\"type\": \"ec\", \"k\": "
             "4, \"n\": 6}}",
             (long long)bucket);
    int64_t pkg_ec = post_json(h, &r, "/v1/package/create", body, "package", "packageID");
    snprintf(body, sizeof body, "{\"bucketID\": %lld, \"name\": \"small\"}", (long long)bucket);
    int64_t pkg_small = post_json(h, &r, "/v1/package/create", body, "package", "packageID");
    if (bucket < 0 || pkg_ec < 0 || pkg_small < 0) {
        status = 1;
        goto out;
    }

    static struct small s[NCONN];
    static int64_t ids[NCONN][1 << 15];
    for (int i = 0; i < NCONN; i++) {
        s[i].ids = ids[i];
        s[i].cap = sizeof ids[i] / sizeof ids[i][0];
    }
    long failed;
    char url[512];
    snprintf(url, sizeof url, "%s/v1/nothing", endpoint);
    double rate = small_rate(s, OP_GET_URL, url, 0, &failed);
    printf("  REST, no data (404), %d connections      %8.0f req/s\n", NCONN, rate);
    snprintf(url, sizeof url, "%s/v1/package/get?packageID=%lld", endpoint, (long long)pkg_small);
    rate = small_rate(s, OP_GET_URL, url, 0, &failed);
    printf("  REST, one DB read (package/get)          %8.0f req/s\n", rate);

    /* Does this build serve objects yet? */
    if (upload(h, &r, pkg_small, "probe", 1, 1) < 0) {
        printf("REST objects: POST /v1/object/upload is not served by this build (%.200s)\n", r.p);
        goto out;
    }

    printf("REST API, %llu MiB as ec(4,6) over %d hubs, one connection:\n", (unsigned long long)mib,
           NHUBS);
    int64_t t0 = jcs_now_us();
    int64_t id = upload(h, &r, pkg_ec, "big.bin", big, 0);
    double put = (double)big / MiB / secs(jcs_now_us() - t0);
    if (id < 0) {
        status = 1;
        goto out;
    }
    printf("  PUT  %8.0f MiB/s (target 250)", put);
    verdict(put, 250);
    struct check c = {.scratch = jcs_malloc(BLK)};
    t0 = jcs_now_us();
    int64_t got = download(h, id, &c);
    double get = (double)big / MiB / secs(jcs_now_us() - t0);
    jcs_free(c.scratch);
    if (got != (int64_t)big) {
        printf("  GET  failed (%s)\n", c.bad ? "bytes differ" : "HTTP error or short");
        status = 1;
        goto out;
    }
    printf("  GET  %8.0f MiB/s (target 350)", get);
    verdict(get, 350);

    printf("REST API, %d KiB objects (package default redundancy: none), %d connections, %d s "
           "each:\n",
           SMALL / 1024, NCONN, SMALL_SECS);
    rate = small_rate(s, OP_PUT, NULL, pkg_small, &failed);
    printf("  PUT  %8.0f objects/s (target 1000), %ld failed", rate, failed);
    verdict(rate, 1000);
    if (failed)
        status = 1;
    rate = small_rate(s, OP_GET_OBJ, NULL, 0, &failed);
    printf("  GET  %8.0f objects/s (target 3000), %ld failed", rate, failed);
    verdict(rate, 3000);
    if (failed)
        status = 1;
out:
    curl_easy_cleanup(h);
    jcs_free(r.p);
    itest_cluster_down(&cl);
    jcs_free(block);
    curl_global_cleanup();
    jcs_rpc_shutdown();
    return status;
}
