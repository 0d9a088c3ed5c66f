/*
 * fuzz_s3auth.c - SigV4 request verification (s3auth.h): the Authorization
 * header and the presigned-URL query parsing, over arbitrary requests. The
 * input is lines: the method, the decoded path, then "name: value" headers
 * (looked up by lower-case name, as the gateway does) and "?name=value"
 * query parameters. The clock is fixed at 2013-05-24T00:00:00Z so dates in
 * the seeds (AWS's documented examples) are in the valid window.
 */
#include <ctype.h>

#include "fuzz.h"
#include "s3auth.h"

#define FZ_MAX 32

typedef struct {
    const char *names[FZ_MAX];
    const char *values[FZ_MAX];
    size_t n;
} fz_headers;

static const char *fz_header(void *arg, const char *name)
{
    const fz_headers *h = arg;
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->names[i], name) == 0)
            return h->values[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_str(data, size);
    char *lines[2 + 2 * FZ_MAX];
    size_t nl = 0;
    for (char *p = text; p && nl < sizeof lines / sizeof lines[0];) {
        lines[nl++] = p;
        char *e = strchr(p, '\n');
        if (e)
            *e++ = '\0';
        p = e;
    }
    time_t t;
    (void)!jcs_s3auth_parse_date(lines[0], &t);
    if (nl < 2) {
        free(text);
        return 0;
    }
    fz_headers h = {.n = 0};
    jcs_s3auth_param q[FZ_MAX];
    size_t nq = 0;
    for (size_t i = 2; i < nl; i++) {
        char *l = lines[i];
        if (l[0] == '?' && nq < FZ_MAX) {
            char *eq = strchr(l + 1, '=');
            if (eq)
                *eq++ = '\0';
            q[nq].name = l + 1;
            q[nq].value = eq ? eq : "";
            nq++;
        } else if (h.n < FZ_MAX) {
            char *c = strchr(l, ':');
            if (!c)
                continue;
            *c++ = '\0';
            while (*c == ' ')
                c++;
            for (char *k = l; *k; k++)
                *k = (char)tolower((unsigned char)*k);
            h.names[h.n] = l;
            h.values[h.n] = c;
            h.n++;
        }
    }
    static const jcs_s3auth_cred creds[] = {
        {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}};
    jcs_s3auth_cfg cfg = {creds, 1, "us-east-1"};
    jcs_s3auth_req req = {
        .method = lines[0],
        .path = lines[1],
        .raw_path = lines[1],
        .query = q,
        .nquery = nq,
        .header = fz_header,
        .header_arg = &h,
        .now = 1369353600,
    };
    jcs_s3auth out;
    (void)!jcs_s3auth_verify(&cfg, &req, &out);
    free(text);
    return 0;
}
