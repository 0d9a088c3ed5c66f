/*
 * client/s3/s3auth.c - SigV4 verification (s3auth.h).
 */
#include "s3auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "alloc.h"
#include "buf.h"
#include "s3err.h"
#include "sigv4.h"

#define AUTH_TEXT_CAP (256u * 1024u)
#define MAX_SIGNED    64

int jcs_s3auth_parse_date(const char *s, time_t *out)
{
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return jcs_err_set(JCS_EINVAL, "date \"%.40s\" is not YYYYMMDDTHHMMSSZ", s ? s : "");
    for (int i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)s[i]))
            return jcs_err_set(JCS_EINVAL, "date \"%s\" is not YYYYMMDDTHHMMSSZ", s);
    struct tm tm = {0};
    tm.tm_year = atoi((char[5]){s[0], s[1], s[2], s[3], 0}) - 1900;
    tm.tm_mon = atoi((char[3]){s[4], s[5], 0}) - 1;
    tm.tm_mday = atoi((char[3]){s[6], s[7], 0});
    tm.tm_hour = atoi((char[3]){s[9], s[10], 0});
    tm.tm_min = atoi((char[3]){s[11], s[12], 0});
    tm.tm_sec = atoi((char[3]){s[13], s[14], 0});
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return jcs_err_set(JCS_EINVAL, "date \"%s\" is out of range", s);
    *out = timegm(&tm);
    return JCS_OK;
}

static const char *query_get(const jcs_s3auth_req *r, const char *name)
{
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->query[i].name, name) == 0)
            return r->query[i].value;
    return NULL;
}

/* The pieces of a credential "AKID/20130524/us-east-1/s3/aws4_request". */
typedef struct cred_parts {
    char akid[129];
    char date8[9];
    char region[64];
} cred_parts;

static int parse_credential(const char *c, int err, const char *region, cred_parts *out)
{
    /* The access key may not contain '/', so the last four separators delimit the scope. */
    const char *s[4];
    const char *p = c + strlen(c);
    int k = 4;
    while (p > c && k > 0) {
        p--;
        if (*p == '/')
            s[--k] = p;
    }
    if (k)
        return jcs_s3err_set(err,
                             "the credential \"%.200s\" is not "
                             "ACCESSKEY/DATE/REGION/s3/aws4_request",
                             c);
    size_t aklen = (size_t)(s[0] - c);
    size_t dlen = (size_t)(s[1] - s[0] - 1);
    size_t rlen = (size_t)(s[2] - s[1] - 1);
    size_t svlen = (size_t)(s[3] - s[2] - 1);
    if (aklen == 0 || aklen >= sizeof out->akid || dlen != 8 || rlen == 0 ||
        rlen >= sizeof out->region)
        return jcs_s3err_set(err, "the credential \"%.200s\" is malformed", c);
    memcpy(out->akid, c, aklen);
    out->akid[aklen] = '\0';
    memcpy(out->date8, s[0] + 1, 8);
    out->date8[8] = '\0';
    memcpy(out->region, s[1] + 1, rlen);
    out->region[rlen] = '\0';
    if (svlen != 2 || memcmp(s[2] + 1, "s3", 2) != 0)
        return jcs_s3err_set(err, "the credential's service is \"%.*s\"; expecting \"s3\"",
                             (int)svlen, s[2] + 1);
    if (strcmp(s[3] + 1, "aws4_request") != 0)
        return jcs_s3err_set(err, "the credential must end in \"aws4_request\"");
    if (strcmp(out->region, region) != 0)
        return jcs_s3err_set(err, "the region '%s' is wrong; expecting '%s'", out->region, region);
    return JCS_OK;
}

/* Copies the next comma-separated field of an Authorization header value ("Name=value"). */
static const char *auth_field(const char *auth, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = auth;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            *len = l - nl - 1;
            while (*len && p[nl + *len] == ' ')
                (*len)--;
            return p + nl + 1;
        }
        p += l;
    }
    return NULL;
}

static const jcs_s3auth_cred *find_cred(const jcs_s3auth_cfg *cfg, const char *akid)
{
    for (size_t i = 0; i < cfg->ncreds; i++)
        if (strcmp(cfg->creds[i].access_key, akid) == 0)
            return &cfg->creds[i];
    return NULL;
}

/* The canonical query from the decoded parameters, re-encoded, X-Amz-Signature left out. */
static int build_query(const jcs_s3auth_req *r, int presigned, jcs_buf *q)
{
    int rc = JCS_OK;
    for (size_t i = 0; i < r->nquery && !rc; i++) {
        if (presigned && strcmp(r->query[i].name, "X-Amz-Signature") == 0)
            continue;
        if (q->len)
            rc = jcs_buf_append(q, "&", 1);
        if (!rc)
            rc = jcs_sigv4_uri_encode(q, r->query[i].name, strlen(r->query[i].name), 0);
        if (!rc)
            rc = jcs_buf_append(q, "=", 1);
        if (!rc)
            rc = jcs_sigv4_uri_encode(q, r->query[i].value, strlen(r->query[i].value), 0);
    }
    return rc;
}

static int check_time(time_t t, time_t now, const char *date)
{
    if (t > now + JCS_S3AUTH_MAX_SKEW || t < now - JCS_S3AUTH_MAX_SKEW)
        return jcs_s3err_set(JCS_S3E_RequestTimeTooSkewed,
                             "The difference between the request time (%s) and the server's "
                             "time is larger than 15 minutes.",
                             date);
    return JCS_OK;
}

int jcs_s3auth_verify(const jcs_s3auth_cfg *cfg, const jcs_s3auth_req *r, jcs_s3auth *out)
{
    memset(out, 0, sizeof *out);
    const char *auth = r->header(r->header_arg, "authorization");
    const char *alg_q = query_get(r, "X-Amz-Algorithm");
    const char *sig = NULL, *signed_list = NULL, *credential = NULL;
    size_t siglen = 0, sllen = 0, credlen = 0;
    char credbuf[400];
    int presigned = 0, rc;
    int cerr = JCS_S3E_AuthorizationHeaderMalformed;

    if (auth && alg_q)
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                             "parameter or the Authorization header should be specified");
    if (auth) {
        if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) != 0) {
            if (strncmp(auth, "AWS ", 4) == 0)
                return jcs_s3err_set(JCS_S3E_InvalidRequest,
                                     "Signature Version 2 is not supported; please use "
                                     "AWS4-HMAC-SHA256");
            return jcs_s3err_set(JCS_S3E_AuthorizationHeaderMalformed,
                                 "the authorization header's algorithm is not AWS4-HMAC-SHA256");
        }
        credential = auth_field(auth + 17, "Credential", &credlen);
        signed_list = auth_field(auth + 17, "SignedHeaders", &sllen);
        sig = auth_field(auth + 17, "Signature", &siglen);
        if (!credential || !signed_list || !sig)
            return jcs_s3err_set(JCS_S3E_AuthorizationHeaderMalformed,
                                 "the authorization header lacks %s",
                                 !credential    ? "Credential"
                                 : !signed_list ? "SignedHeaders"
                                                : "Signature");
    } else if (alg_q) {
        presigned = 1;
        cerr = JCS_S3E_AuthorizationQueryParametersError;
        if (strcmp(alg_q, "AWS4-HMAC-SHA256") != 0)
            return jcs_s3err_set(cerr, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
        credential = query_get(r, "X-Amz-Credential");
        signed_list = query_get(r, "X-Amz-SignedHeaders");
        sig = query_get(r, "X-Amz-Signature");
        if (!credential || !signed_list || !sig || !query_get(r, "X-Amz-Date") ||
            !query_get(r, "X-Amz-Expires"))
            return jcs_s3err_set(cerr, "Query-string authentication version 4 requires the "
                                       "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
                                       "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires "
                                       "parameters.");
        credlen = strlen(credential);
        sllen = strlen(signed_list);
        siglen = strlen(sig);
    } else {
        return jcs_s3err_set(JCS_S3E_AccessDenied,
                             "Anonymous access is not allowed: sign the request with AWS "
                             "Signature Version 4");
    }
    if (credlen >= sizeof credbuf)
        return jcs_s3err_set(cerr, "the credential is too long");
    memcpy(credbuf, credential, credlen);
    credbuf[credlen] = '\0';
    cred_parts cp;
    if ((rc = parse_credential(credbuf, cerr, cfg->region, &cp)) != 0)
        return rc;
    const jcs_s3auth_cred *cred = find_cred(cfg, cp.akid);
    if (!cred)
        return jcs_s3err_set(JCS_S3E_InvalidAccessKeyId,
                             "The AWS access key ID \"%s\" does not exist in our records.",
                             cp.akid);
    if (siglen != 64)
        return jcs_s3err_set(JCS_S3E_SignatureDoesNotMatch, "the signature must be 64 hex digits");

    /* The request time. */
    const char *date =
        presigned ? query_get(r, "X-Amz-Date") : r->header(r->header_arg, "x-amz-date");
    if (!date)
        return jcs_s3err_set(JCS_S3E_AccessDenied,
                             "AWS authentication requires a valid x-amz-date header");
    time_t t;
    if (jcs_s3auth_parse_date(date, &t) != 0)
        return jcs_s3err_set(JCS_S3E_AccessDenied, "x-amz-date \"%.40s\" is not YYYYMMDDTHHMMSSZ",
                             date);
    if (strncmp(date, cp.date8, 8) != 0)
        return jcs_s3err_set(cerr, "the credential's date %s is not the request's day %.8s",
                             cp.date8, date);
    if (presigned) {
        const char *ex = query_get(r, "X-Amz-Expires");
        char *end;
        long e = strtol(ex, &end, 10);
        if (!*ex || *end || e < 1 || e > JCS_S3AUTH_MAX_EXPIRES)
            return jcs_s3err_set(cerr, "X-Amz-Expires must be between 1 and %d seconds",
                                 JCS_S3AUTH_MAX_EXPIRES);
        if (t > r->now + JCS_S3AUTH_MAX_SKEW)
            return jcs_s3err_set(JCS_S3E_AccessDenied, "Request is not valid yet");
        if (r->now > t + e)
            return jcs_s3err_set(JCS_S3E_AccessDenied, "Request has expired");
    } else if ((rc = check_time(t, r->now, date)) != 0) {
        return rc;
    }

    /* The payload hash the client signed. */
    const char *ph = r->header(r->header_arg, "x-amz-content-sha256");
    if (presigned)
        ph = query_get(r, "X-Amz-Content-Sha256") ? query_get(r, "X-Amz-Content-Sha256")
                                                  : JCS_SIGV4_UNSIGNED_PAYLOAD;
    if (!ph)
        return jcs_s3err_set(JCS_S3E_InvalidRequest, "Missing required header for this request: "
                                                     "x-amz-content-sha256");
    if (strlen(ph) >= sizeof out->payload_hash)
        return jcs_s3err_set(JCS_S3E_InvalidArgument, "x-amz-content-sha256 is too long");

    /* The signed headers. */
    struct jcs_sigv4_header hs[MAX_SIGNED];
    char names[MAX_SIGNED][64];
    size_t nh = 0;
    int have_host = 0;
    for (size_t i = 0; i < sllen;) {
        size_t j = i;
        while (j < sllen && signed_list[j] != ';')
            j++;
        if (j == i || j - i >= sizeof names[0] || nh == MAX_SIGNED)
            return jcs_s3err_set(cerr, "SignedHeaders \"%.*s\" is malformed", (int)sllen,
                                 signed_list);
        memcpy(names[nh], signed_list + i, j - i);
        names[nh][j - i] = '\0';
        for (char *c = names[nh]; *c; c++)
            if (isupper((unsigned char)*c))
                return jcs_s3err_set(cerr, "SignedHeaders must be lower-case");
        const char *v = r->header(r->header_arg, names[nh]);
        if (!v)
            return jcs_s3err_set(JCS_S3E_SignatureDoesNotMatch,
                                 "the signed header \"%s\" is not in the request", names[nh]);
        have_host |= strcmp(names[nh], "host") == 0;
        hs[nh].name = names[nh];
        hs[nh].value = v;
        nh++;
        i = j + 1;
    }
    if (!have_host)
        return jcs_s3err_set(cerr, "the host header must be signed");

    jcs_buf q, path, creq;
    jcs_buf_init(&q, AUTH_TEXT_CAP);
    jcs_buf_init(&path, AUTH_TEXT_CAP);
    jcs_buf_init(&creq, AUTH_TEXT_CAP);
    struct jcs_sigv4_key key = {cp.akid, cred->secret_key, cfg->region, "s3"};
    char mine[65] = "";
    int match = 0;
    rc = build_query(r, presigned, &q);
    if (!rc)
        rc = jcs_sigv4_uri_encode(&path, r->path, strlen(r->path), 1);
    for (int attempt = 0; attempt < 2 && !rc && !match; attempt++) {
        const char *p = attempt == 0 ? path.data : r->raw_path;
        if (attempt == 1 && (!r->raw_path || strcmp(r->raw_path, path.data ? path.data : "") == 0))
            break;
        struct jcs_sigv4_request sr = {r->method, p ? p : "/", q.data, hs, nh, ph};
        jcs_buf_reset(&creq);
        rc = jcs_sigv4_canonical(&sr, &creq, NULL);
        if (!rc)
            rc = jcs_sigv4_signature(creq.data, creq.len, &key, date, NULL, mine);
        if (!rc)
            match = CRYPTO_memcmp(mine, sig, 64) == 0;
    }
    jcs_buf_clear(&q);
    jcs_buf_clear(&path);
    jcs_buf_clear(&creq);
    if (rc) {
        char m[256];
        snprintf(m, sizeof m, "%s", jcs_err_msg(rc));
        return jcs_s3err_set(JCS_S3E_InvalidRequest, "%s", m);
    }
    if (!match)
        return jcs_s3err_set(JCS_S3E_SignatureDoesNotMatch,
                             "The request signature we calculated does not match the signature "
                             "you provided. Check your key and signing method.");

    out->presigned = presigned;
    snprintf(out->access_key, sizeof out->access_key, "%s", cp.akid);
    memcpy(out->amz_date, date, 16);
    out->amz_date[16] = '\0';
    snprintf(out->scope, sizeof out->scope, "%s/%s/s3/aws4_request", cp.date8, cfg->region);
    jcs_sigv4_signing_key(cred->secret_key, cp.date8, cfg->region, "s3", out->signing_key);
    memcpy(out->signature, mine, 65);
    snprintf(out->payload_hash, sizeof out->payload_hash, "%s", ph);
    return JCS_OK;
}
