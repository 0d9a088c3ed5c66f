/*
 * loadgen.c - a small-object load generator as a user would run one: N
 * keep-alive HTTPS connections with a client certificate (one thread and
 * one libcurl handle each, so each connection is reused for every request),
 * PUT or GET of objects of one size for a set time, every GET body checked
 * against what was PUT. Two targets speak the same workload:
 *
 *   jcs    PUT = POST BASE/v1/object/upload (multipart, one file), the
 *          object id kept; GET = BASE/v1/object/download?objectID=ID
 *   swift  PUT = PUT BASE/NAME with X-Auth-Token; GET = GET BASE/NAME
 *   s3     PUT = PUT BASE/NAME, GET = GET BASE/NAME, BASE being
 *          ENDPOINT/BUCKET/PACKAGE (path style), each request signed with
 *          AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4, --s3-user
 *          ACCESS:SECRET, --s3-region R), payload UNSIGNED-PAYLOAD as the
 *          SDKs send over HTTPS
 *
 *   loadgen --target jcs|swift|s3 --url BASE --ca F [--cert F --key F]
 *           [--token T] [--package ID] [--s3-user A:S --s3-region R]
 *           --op put|get|ping --state FILE
 *           [--size 4096] [--conc 16] [--duration 10] [--prefix p]
 *
 * put writes one line per object ("NAME ID") to --state; get reads it and
 * picks objects at random. ping GETs BASE (for jcs an unknown route, a 404:
 * TLS and routing with no data, the ceiling of a request). Prints one line:
 *   op=put ops=N ops_s=X errors=E p50_ms=A p99_ms=B
 * The body of object NAME is a function of NAME (xorshift seeded by its
 * FNV-1a hash), so a GET verifies every byte without keeping the data.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONC 256
#define RESP_CAP (1u << 20)

static struct {
    const char *target, *url, *ca, *cert, *key, *token, *op, *state, *prefix, *s3_user, *s3_region;
    long package;
    size_t size;
    int conc;
    double duration;
} opt = {.target = "jcs",
         .op = "put",
         .prefix = "p",
         .s3_region = "us-east-1",
         .size = 4096,
         .conc = 16,
         .duration = 10};

typedef struct obj {
    char name[64];
    long long id;
} obj;

static obj *objs;
static size_t nobjs;

typedef struct worker {
    int idx;
    pthread_t th;
    long ok, err;
    double *lat; /* seconds per request */
    size_t nlat, caplat;
    obj *made; /* put: the objects written */
    size_t nmade, capmade;
    char first_err[256];
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void body_for(const char *name, unsigned char *out, size_t n)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    uint32_t x = h ? h : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (unsigned char)x;
    }
}

typedef struct resp {
    unsigned char *p;
    size_t len, cap;
    int over;
} resp;

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
    resp *r = arg;
    size_t n = sz * nm;
    if (n > r->cap - r->len) {
        r->over = 1;
        return 0;
    }
    memcpy(r->p + r->len, p, n);
    r->len += n;
    return n;
}

static void note_err(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_err(worker *w, const char *fmt, ...)
{
    w->err++;
    if (w->first_err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_err, sizeof w->first_err, fmt, ap);
    va_end(ap);
}

static void push_lat(worker *w, double s)
{
    if (w->nlat == w->caplat) {
        size_t c = w->caplat ? w->caplat * 2 : 4096;
        double *n = realloc(w->lat, c * sizeof *n);
        if (!n)
            return;
        w->lat = n;
        w->caplat = c;
    }
    w->lat[w->nlat++] = s;
}

static CURL *handle(resp *r)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_CAINFO, opt.ca);
    if (opt.cert) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, opt.cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, opt.key);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (opt.s3_user) {
        char sig[128];
        snprintf(sig, sizeof sig, "aws:amz:%s:s3", opt.s3_region);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sig);
        curl_easy_setopt(h, CURLOPT_USERPWD, opt.s3_user);
    }
    return h;
}

/* The objectID in a jcs upload reply, or -1. */
static long long jcs_id(const resp *r)
{
    const char *k = "\"objectID\":";
    const char *p = memmem(r->p, r->len, k, strlen(k));
    if (!p)
        return -1;
    p += strlen(k);
    while (*p == ' ')
        p++;
    return strtoll(p, NULL, 10);
}

static void *run(void *arg)
{
    worker *w = arg;
    resp r = {malloc(RESP_CAP), 0, RESP_CAP, 0};
    unsigned char *body = malloc(opt.size + 4096), *want = malloc(opt.size + 1);
    CURL *h = handle(&r);
    if (!r.p || !body || !want || !h) {
        note_err(w, "out of memory");
        goto out;
    }
    int is_jcs = strcmp(opt.target, "jcs") == 0;
    int put = strcmp(opt.op, "put") == 0, ping = strcmp(opt.op, "ping") == 0;
    struct curl_slist *hdr = NULL;
    char line[1024], url[2048];
    if (opt.token) {
        snprintf(line, sizeof line, "X-Auth-Token: %s", opt.token);
        hdr = curl_slist_append(hdr, line);
    }
    if (put && is_jcs)
        hdr = curl_slist_append(hdr, "Content-Type: multipart/form-data; boundary=XloadgenX");
    /* libcurl 7.88 would sign an "Expect:" it then leaves out; a body below 1 MiB gets no
     * Expect from it anyway. */
    if (opt.s3_user)
        hdr = curl_slist_append(hdr, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    else
        hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    unsigned seed = (unsigned)w->idx * 7919u + 17u;
    double end = now_s() + opt.duration;
    for (long i = 0; now_s() < end; i++) {
        char name[64];
        long long id = -1;
        size_t blen = 0;
        r.len = 0;
        r.over = 0;
        if (ping) {
            snprintf(url, sizeof url, "%s", opt.url);
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else if (put) {
            snprintf(name, sizeof name, "%s/w%d/%ld", opt.prefix, w->idx, i);
            if (is_jcs) {
                int n = snprintf((char *)body, 2048,
                                 "--XloadgenX\r\nContent-Disposition: form-data; name=\"info\"\r\n"
                                 "Content-Type: application/json\r\n\r\n{\"packageID\":%ld}\r\n"
                                 "--XloadgenX\r\nContent-Disposition: form-data; name=\"files\"; "
                                 "filename=\"%s%%2Fw%d%%2F%ld\"\r\n"
                                 "Content-Type: application/octet-stream\r\n\r\n",
                                 opt.package, opt.prefix, w->idx, i);
                body_for(name, body + n, opt.size);
                memcpy(body + n + opt.size, "\r\n--XloadgenX--\r\n", 17);
                blen = (size_t)n + opt.size + 17;
                snprintf(url, sizeof url, "%s/v1/object/upload", opt.url);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
                curl_easy_setopt(h, CURLOPT_POST, 1L);
            } else {
                body_for(name, body, opt.size);
                blen = opt.size;
                snprintf(url, sizeof url, "%s/%s", opt.url, name);
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
            }
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        } else {
            const obj *o = &objs[(size_t)rand_r(&seed) % nobjs];
            snprintf(name, sizeof name, "%s", o->name);
            if (is_jcs)
                snprintf(url, sizeof url, "%s/v1/object/download?objectID=%lld", opt.url, o->id);
            else
                snprintf(url, sizeof url, "%s/%s", opt.url, o->name);
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        double t0 = now_s();
        CURLcode cc = curl_easy_perform(h);
        double dt = now_s() - t0;
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (cc != CURLE_OK) {
            note_err(w, "%s: %s", url, curl_easy_strerror(cc));
            continue;
        }
        if (ping) {
            w->ok++;
            push_lat(w, dt);
            continue;
        }
        if (put) {
            if (code != 200 && code != 201) {
                note_err(w, "PUT %s: HTTP %ld: %.200s", name, code, r.len ? (char *)r.p : "");
                continue;
            }
            if (is_jcs && (id = jcs_id(&r)) <= 0) {
                note_err(w, "PUT %s: no objectID in the reply", name);
                continue;
            }
            if (w->nmade == w->capmade) {
                size_t c = w->capmade ? w->capmade * 2 : 1024;
                obj *n = realloc(w->made, c * sizeof *n);
                if (!n) {
                    note_err(w, "out of memory");
                    break;
                }
                w->made = n;
                w->capmade = c;
            }
            snprintf(w->made[w->nmade].name, sizeof w->made[w->nmade].name, "%s", name);
            w->made[w->nmade++].id = id;
        } else {
            body_for(name, want, opt.size);
            if (code != 200 || r.over || r.len != opt.size || memcmp(r.p, want, opt.size) != 0) {
                note_err(w, "GET %s: HTTP %ld, %zu bytes, %s", name, code, r.len,
                         code == 200 && r.len == opt.size ? "WRONG BYTES" : "unexpected reply");
                continue;
            }
        }
        w->ok++;
        push_lat(w, dt);
    }
    curl_slist_free_all(hdr);
out:
    if (h)
        curl_easy_cleanup(h);
    free(r.p);
    free(body);
    free(want);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int load_state(void)
{
    FILE *f = fopen(opt.state, "r");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", opt.state, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    char name[64];
    long long id;
    while (fscanf(f, "%63s %lld", name, &id) == 2) {
        if (nobjs == cap) {
            cap = cap ? cap * 2 : 4096;
            obj *n = realloc(objs, cap * sizeof *n);
            if (!n) {
                fclose(f);
                return -1;
            }
            objs = n;
        }
        snprintf(objs[nobjs].name, sizeof objs[nobjs].name, "%s", name);
        objs[nobjs++].id = id;
    }
    fclose(f);
    if (nobjs == 0) {
        fprintf(stderr, "loadgen: %s lists no objects: run --op put first\n", opt.state);
        return -1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --target jcs|swift|s3 --url BASE --ca F [--cert F --key F] "
                    "[--token T] [--package ID] [--s3-user ACCESS:SECRET] [--s3-region R] "
                    "--op put|get|ping --state FILE [--size N] [--conc N] [--duration S] "
                    "[--prefix P]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--target"))
            opt.target = v;
        else if (!strcmp(a, "--url"))
            opt.url = v;
        else if (!strcmp(a, "--ca"))
            opt.ca = v;
        else if (!strcmp(a, "--cert"))
            opt.cert = v;
        else if (!strcmp(a, "--key"))
            opt.key = v;
        else if (!strcmp(a, "--token"))
            opt.token = v;
        else if (!strcmp(a, "--package"))
            opt.package = atol(v);
        else if (!strcmp(a, "--op"))
            opt.op = v;
        else if (!strcmp(a, "--state"))
            opt.state = v;
        else if (!strcmp(a, "--size"))
            opt.size = (size_t)atol(v);
        else if (!strcmp(a, "--conc"))
            opt.conc = atoi(v);
        else if (!strcmp(a, "--duration"))
            opt.duration = atof(v);
        else if (!strcmp(a, "--prefix"))
            opt.prefix = v;
        else if (!strcmp(a, "--s3-user"))
            opt.s3_user = v;
        else if (!strcmp(a, "--s3-region"))
            opt.s3_region = v;
        else
            usage();
    }
    if (!opt.url || !opt.ca || opt.conc < 1 || opt.conc > MAX_CONC || opt.size > RESP_CAP ||
        (strcmp(opt.target, "jcs") && strcmp(opt.target, "swift") && strcmp(opt.target, "s3")) ||
        (!strcmp(opt.target, "s3") != (opt.s3_user != NULL)) ||
        (strcmp(opt.op, "put") && strcmp(opt.op, "get") && strcmp(opt.op, "ping")) ||
        (strcmp(opt.op, "ping") && !opt.state))
        usage();
    if (!strcmp(opt.op, "get") && load_state() != 0)
        return 1;
    curl_global_init(CURL_GLOBAL_ALL);
    static worker w[MAX_CONC];
    double t0 = now_s();
    for (int i = 0; i < opt.conc; i++) {
        w[i].idx = i;
        pthread_create(&w[i].th, NULL, run, &w[i]);
    }
    long ok = 0, err = 0;
    size_t nlat = 0;
    for (int i = 0; i < opt.conc; i++) {
        pthread_join(w[i].th, NULL);
        ok += w[i].ok;
        err += w[i].err;
        nlat += w[i].nlat;
    }
    double el = now_s() - t0;
    double *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < opt.conc && lat; i++) {
        memcpy(lat + k, w[i].lat, w[i].nlat * sizeof *lat);
        k += w[i].nlat;
    }
    if (lat && nlat)
        qsort(lat, nlat, sizeof *lat, cmp_d);
    if (!strcmp(opt.op, "put")) {
        FILE *f = fopen(opt.state, "w");
        for (int i = 0; f && i < opt.conc; i++)
            for (size_t j = 0; j < w[i].nmade; j++)
                fprintf(f, "%s %lld\n", w[i].made[j].name, w[i].made[j].id);
        if (!f || fclose(f) != 0) {
            fprintf(stderr, "loadgen: cannot write %s\n", opt.state);
            return 1;
        }
    }
    printf("op=%s ops=%ld ops_s=%.0f errors=%ld p50_ms=%.2f p99_ms=%.2f\n", opt.op, ok,
           (double)ok / el, err, nlat ? lat[nlat / 2] * 1e3 : 0.0,
           nlat ? lat[nlat * 99 / 100] * 1e3 : 0.0);
    for (int i = 0; i < opt.conc; i++)
        if (w[i].first_err[0]) {
            fprintf(stderr, "loadgen: connection %d: first error: %s\n", i, w[i].first_err);
            break;
        }
    return err ? 1 : 0;
}
