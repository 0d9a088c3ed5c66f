#include "sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "alloc.h"

/* A canonical request holds a path, a query and a few headers: 64 KiB is ample. */
#define SIGV4_TEXT_CAP    (64u * 1024u)
#define SIGV4_MAX_HEADERS 64

static const char hexu[] = "0123456789ABCDEF";
static const char hexl[] = "0123456789abcdef";

void jcs_sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexl[p[i] >> 4];
        out[2 * i + 1] = hexl[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void jcs_sigv4_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(p, n, md);
    to_hex(md, sizeof(md), out);
}

static void hmac(const void *key, size_t keylen, const void *msg, size_t len, unsigned char out[32])
{
    unsigned int outlen = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg, len, out, &outlen);
}

void jcs_sigv4_signing_key(const char *secret, const char *date8, const char *region,
                           const char *service, unsigned char out[32])
{
    size_t slen = strlen(secret);
    /* "AWS4" + secret lives on the heap-free stack; wipe it after use. */
    unsigned char k0[4 + 256];
    unsigned char k[32];
    size_t klen = slen < 256 ? slen : 256;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, klen);
    hmac(k0, 4 + klen, date8, strlen(date8), k);
    hmac(k, 32, region, strlen(region), k);
    hmac(k, 32, service, strlen(service), k);
    hmac(k, 32, "aws4_request", 12, out);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k, sizeof(k));
}

int jcs_sigv4_uri_encode(jcs_buf *out, const char *s, size_t n, int keep_slash)
{
    int rc = jcs_buf_reserve(out, n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
            (keep_slash && c == '/')) {
            rc = jcs_buf_append(out, &s[i], 1);
        } else {
            char e[3] = {'%', hexu[c >> 4], hexu[c & 15]};
            rc = jcs_buf_append(out, e, 3);
        }
        if (rc)
            return rc;
    }
    return JCS_OK;
}

struct canon_header {
    char *name;  /* lower-cased copy */
    char *value; /* trimmed, spaces collapsed */
};

static int cmp_header(const void *a, const void *b)
{
    return strcmp(((const struct canon_header *)a)->name, ((const struct canon_header *)b)->name);
}

static int valid_date(const char *d)
{
    if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return 0;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)d[i]))
            return 0;
    return 1;
}

static int valid_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 127 || c == ':')
            return 0;
    }
    return 1;
}

/* Trimmed value with every run of blanks collapsed to one space (the SigV4 rule). */
static char *canon_value(const char *v)
{
    size_t n = strlen(v);
    char *o = jcs_malloc(n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    int pending_space = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            pending_space = j > 0;
            continue;
        }
        if (pending_space)
            o[j++] = ' ';
        pending_space = 0;
        o[j++] = c;
    }
    o[j] = '\0';
    return o;
}

struct query_param {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
};

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

static int cmp_param(const void *pa, const void *pb)
{
    const struct query_param *a = pa, *b = pb;
    int c = cmp_bytes(a->name, a->nlen, b->name, b->nlen);
    return c ? c : cmp_bytes(a->value, a->vlen, b->value, b->vlen);
}

/* Appends the sorted canonical query string to out. */
static int canon_query(jcs_buf *out, const char *q)
{
    if (!q || !*q)
        return JCS_OK;
    size_t count = 1;
    for (const char *p = q; *p; p++)
        count += *p == '&';
    struct query_param *ps = jcs_calloc(count, sizeof(*ps));
    if (!ps)
        return JCS_ENOMEM;
    size_t np = 0;
    const char *p = q;
    while (1) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            ps[np].name = p;
            ps[np].nlen = eq ? (size_t)(eq - p) : len;
            ps[np].value = eq ? eq + 1 : "";
            ps[np].vlen = eq ? len - ps[np].nlen - 1 : 0;
            np++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    qsort(ps, np, sizeof(*ps), cmp_param);
    int rc = JCS_OK;
    for (size_t i = 0; i < np && !rc; i++) {
        if (i)
            rc = jcs_buf_append(out, "&", 1);
        if (!rc)
            rc = jcs_buf_append(out, ps[i].name, ps[i].nlen);
        if (!rc)
            rc = jcs_buf_append(out, "=", 1);
        if (!rc)
            rc = jcs_buf_append(out, ps[i].value, ps[i].vlen);
    }
    jcs_free(ps);
    return rc;
}

int jcs_sigv4_sign(const struct jcs_sigv4_request *req, const struct jcs_sigv4_key *key,
                   const char *amz_date, jcs_buf *auth, jcs_buf *canonical_out, jcs_buf *sts_out)
{
    if (!req->method || !req->payload_hash || !key->access_key || !key->secret_key ||
        !key->region || !key->service)
        return jcs_err_set(JCS_EINVAL, "sigv4: method, payload hash, key and scope are required");
    if (!valid_date(amz_date))
        return jcs_err_set(JCS_EINVAL, "sigv4: date \"%s\" is not YYYYMMDDTHHMMSSZ",
                           amz_date ? amz_date : "(null)");
    if (req->nheaders > SIGV4_MAX_HEADERS)
        return jcs_err_set(JCS_EINVAL, "sigv4: %zu headers to sign, at most %d", req->nheaders,
                           SIGV4_MAX_HEADERS);

    struct canon_header hs[SIGV4_MAX_HEADERS];
    size_t nh = 0;
    int rc = JCS_OK, have_host = 0, have_date = 0;
    jcs_buf creq, sts;
    jcs_buf_init(&creq, SIGV4_TEXT_CAP);
    jcs_buf_init(&sts, SIGV4_TEXT_CAP);
    char date8[9];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';

    for (size_t i = 0; i < req->nheaders; i++) {
        const char *n = req->headers[i].name;
        if (!n || !valid_token(n) || !req->headers[i].value) {
            rc = jcs_err_set(JCS_EINVAL, "sigv4: header name \"%s\" is not a token", n ? n : "");
            goto out;
        }
        hs[nh].name = jcs_strdup(n);
        hs[nh].value = canon_value(req->headers[i].value);
        nh++;
        if (!hs[nh - 1].name || !hs[nh - 1].value) {
            rc = jcs_err_set(JCS_ENOMEM, "sigv4: out of memory");
            goto out;
        }
        for (char *c = hs[nh - 1].name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        have_host |= strcmp(hs[nh - 1].name, "host") == 0;
        have_date |= strcmp(hs[nh - 1].name, "x-amz-date") == 0;
    }
    if (!have_host || !have_date) {
        rc = jcs_err_set(JCS_EINVAL, "sigv4: the signed headers must include %s",
                         have_host ? "x-amz-date" : "host");
        goto out;
    }
    /* A stable order for equal names keeps their values in request order when joined. */
    for (size_t i = 1; i < nh; i++)
        for (size_t j = i; j > 0 && cmp_header(&hs[j - 1], &hs[j]) > 0; j--) {
            struct canon_header t = hs[j];
            hs[j] = hs[j - 1];
            hs[j - 1] = t;
        }

    /* Canonical request: method, URI, query, headers, signed header list, payload hash. */
    rc = jcs_buf_printf(&creq, "%s\n%s\n", req->method, req->path && *req->path ? req->path : "/");
    if (!rc)
        rc = canon_query(&creq, req->query);
    if (!rc)
        rc = jcs_buf_append(&creq, "\n", 1);
    for (size_t i = 0; i < nh && !rc; i++) {
        if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0) {
            /* Replace the previous line's newline with ",value\n". */
            creq.len--;
            rc = jcs_buf_printf(&creq, ",%s\n", hs[i].value);
        } else {
            rc = jcs_buf_printf(&creq, "%s:%s\n", hs[i].name, hs[i].value);
        }
    }
    if (!rc)
        rc = jcs_buf_append(&creq, "\n", 1);
    size_t signed_start = creq.len;
    for (size_t i = 0; i < nh && !rc; i++) {
        if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0)
            continue;
        rc = jcs_buf_printf(&creq, "%s%s", signed_start == creq.len ? "" : ";", hs[i].name);
    }
    size_t signed_end = creq.len;
    if (!rc)
        rc = jcs_buf_printf(&creq, "\n%s", req->payload_hash);
    if (rc) {
        rc = jcs_err_set(rc, "sigv4: canonical request: %s", jcs_strerror(rc));
        goto out;
    }

    char creq_hash[65];
    jcs_sigv4_sha256_hex(creq.data, creq.len, creq_hash);
    rc = jcs_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date8,
                        key->region, key->service, creq_hash);
    if (rc) {
        rc = jcs_err_set(rc, "sigv4: string to sign: %s", jcs_strerror(rc));
        goto out;
    }

    unsigned char skey[32], sig[32];
    char sighex[65];
    jcs_sigv4_signing_key(key->secret_key, date8, key->region, key->service, skey);
    hmac(skey, 32, sts.data, sts.len, sig);
    OPENSSL_cleanse(skey, sizeof(skey));
    to_hex(sig, 32, sighex);

    rc = jcs_buf_printf(auth,
                        "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%.*s, "
                        "Signature=%s",
                        key->access_key, date8, key->region, key->service,
                        (int)(signed_end - signed_start), creq.data + signed_start, sighex);
    if (rc)
        rc = jcs_err_set(rc, "sigv4: authorization: %s", jcs_strerror(rc));
out:
    for (size_t i = 0; i < nh; i++) {
        jcs_free(hs[i].name);
        jcs_free(hs[i].value);
    }
    if (!rc && canonical_out && creq.len)
        rc = jcs_buf_append(canonical_out, creq.data, creq.len);
    if (!rc && sts_out && sts.len)
        rc = jcs_buf_append(sts_out, sts.data, sts.len);
    jcs_buf_clear(&creq);
    jcs_buf_clear(&sts);
    return rc;
}
