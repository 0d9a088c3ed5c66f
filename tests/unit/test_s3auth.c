/*
 * test_s3auth.c - SigV4 verification on the server side (client/s3/s3auth.c)
 * against AWS's published S3 examples (header auth, presigned URL, the
 * seed signature of a chunked upload), and against this project's own
 * signer for paths and queries that need encoding; clock skew, expiry and
 * every refusal with its S3 code.
 */
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "s3auth.h"
#include "s3err.h"
#include "sigv4.h"
#include "t.h"

#define AK         "AKIAIOSFODNN7EXAMPLE"
#define SK         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T_20130524 1369353600 /* 2013-05-24T00:00:00Z */

static const jcs_s3auth_cred creds[] = {{"OTHERKEY", "othersecret"}, {AK, SK}};
static const jcs_s3auth_cfg cfg = {creds, 2, "us-east-1"};

typedef struct hdrs {
    const char *kv[32];
} hdrs;

static const char *hget(void *arg, const char *name)
{
    hdrs *h = arg;
    for (int i = 0; h->kv[i]; i += 2)
        if (strcasecmp(h->kv[i], name) == 0)
            return h->kv[i + 1];
    return NULL;
}

static int take(int rc)
{
    return rc ? jcs_s3err_take(rc) : 0;
}

TEST(aws_doc_get_object_with_range)
{
    hdrs h = {{"Host", "examplebucket.s3.amazonaws.com", "Range", "bytes=0-9",
               "x-amz-content-sha256", JCS_SIGV4_EMPTY_SHA256, "x-amz-date", "20130524T000000Z",
               "Authorization",
               "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
               "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
               "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
               NULL}};
    jcs_s3auth_req r = {"GET", "/test.txt", NULL, NULL, 0, hget, &h, T_20130524 + 60};
    jcs_s3auth a;
    T_OK(jcs_s3auth_verify(&cfg, &r, &a));
    T_EQ_STR(a.access_key, AK);
    T_EQ_STR(a.scope, "20130524/us-east-1/s3/aws4_request");
    T_EQ_STR(a.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    T_EQ_INT(a.presigned, 0);

    /* One changed byte anywhere signed: the range, the method, the path. */
    h.kv[3] = "bytes=0-8";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_SignatureDoesNotMatch);
    h.kv[3] = "bytes=0-9";
    r.method = "HEAD";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_SignatureDoesNotMatch);
    r.method = "GET";
    r.path = "/test.txt2";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_SignatureDoesNotMatch);
    r.path = "/test.txt";

    /* Clock skew: 15 minutes either way is fine, beyond is refused. */
    r.now = T_20130524 + 900;
    T_OK(jcs_s3auth_verify(&cfg, &r, &a));
    r.now = T_20130524 + 901;
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_RequestTimeTooSkewed);
    r.now = T_20130524 - 901;
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_RequestTimeTooSkewed);

    /* Another region in the scope. */
    jcs_s3auth_cfg eu = {creds, 2, "eu-west-1"};
    r.now = T_20130524;
    T_EQ_INT(take(jcs_s3auth_verify(&eu, &r, &a)), JCS_S3E_AuthorizationHeaderMalformed);
    T_ASSERT(strstr(jcs_err_msg(JCS_EINVAL), "us-east-1") != NULL);
}

TEST(aws_doc_presigned_url_and_expiry)
{
    hdrs h = {{"Host", "examplebucket.s3.amazonaws.com", NULL}};
    jcs_s3auth_param q[] = {
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", AK "/20130524/us-east-1/s3/aws4_request"},
        {"X-Amz-Date", "20130524T000000Z"},
        {"X-Amz-Expires", "86400"},
        {"X-Amz-SignedHeaders", "host"},
        {"X-Amz-Signature", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"},
    };
    jcs_s3auth_req r = {"GET", "/test.txt", NULL, q, 6, hget, &h, T_20130524 + 3600};
    jcs_s3auth a;
    T_OK(jcs_s3auth_verify(&cfg, &r, &a));
    T_EQ_INT(a.presigned, 1);
    T_EQ_STR(a.payload_hash, "UNSIGNED-PAYLOAD");
    /* Valid up to the last second, then expired. */
    r.now = T_20130524 + 86400;
    T_OK(jcs_s3auth_verify(&cfg, &r, &a));
    r.now = T_20130524 + 86401;
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AccessDenied);
    T_ASSERT(strstr(jcs_err_msg(JCS_EPERM), "expired") != NULL);
    /* A tampered parameter. */
    r.now = T_20130524 + 10;
    q[3].value = "86401";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_SignatureDoesNotMatch);
    q[3].value = "604801";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AuthorizationQueryParametersError);
    q[3].value = "86400";
    /* Missing parameter. */
    r.nquery = 5;
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AuthorizationQueryParametersError);
}

TEST(aws_doc_chunked_upload_seed_signature)
{
    hdrs h = {{"Host", "s3.amazonaws.com", "x-amz-date", "20130524T000000Z", "x-amz-storage-class",
               "REDUCED_REDUNDANCY", "Content-Encoding", "aws-chunked",
               "x-amz-decoded-content-length", "66560", "Content-Length", "66824",
               "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "Authorization",
               "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"
               "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;"
               "x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
               "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
               NULL}};
    jcs_s3auth_req r = {"PUT",     "/examplebucket/chunkObject.txt", NULL, NULL, 0, hget, &h,
                        T_20130524};
    jcs_s3auth a;
    T_OK(jcs_s3auth_verify(&cfg, &r, &a));
    T_EQ_STR(a.payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
}

/* Signs with the project's client signer, verifies with the server side. */
static int roundtrip(const char *method, const char *decoded_path, const char *wire_path,
                     const jcs_s3auth_param *q, size_t nq, const char *wire_query)
{
    char date[17];
    time_t now = time(NULL);
    jcs_sigv4_amz_date(now, date);
    struct jcs_sigv4_header sh[] = {
        {"Host", "127.0.0.1:7891"},
        {"X-Amz-Date", date},
        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
        {"X-Amz-Meta-Note", "  two   spaces  "},
    };
    struct jcs_sigv4_request sr = {method, wire_path, wire_query, sh, 4, "UNSIGNED-PAYLOAD"};
    struct jcs_sigv4_key k = {AK, SK, "us-east-1", "s3"};
    jcs_buf auth;
    jcs_buf_init(&auth, 4096);
    int rc = jcs_sigv4_sign(&sr, &k, date, &auth, NULL, NULL);
    if (rc)
        return rc;
    hdrs h = {{"host", "127.0.0.1:7891", "x-amz-date", date, "x-amz-content-sha256",
               "UNSIGNED-PAYLOAD", "x-amz-meta-note", "two spaces", "authorization", auth.data,
               NULL}};
    jcs_s3auth_req r = {method, decoded_path, NULL, q, nq, hget, &h, now};
    jcs_s3auth a;
    rc = jcs_s3auth_verify(&cfg, &r, &a);
    jcs_buf_clear(&auth);
    return rc;
}

TEST(encoded_paths_and_sorted_queries_match_the_signer)
{
    /* Space, plus, unicode, tilde and a reserved '=' in the key; the signer encodes once. */
    T_OK(
        roundtrip("PUT", "/b/dir/a b+c=d~é.txt", "/b/dir/a%20b%2Bc%3Dd~%C3%A9.txt", NULL, 0, NULL));
    /* Parameters out of order, one without '=', one with a '/' that must be encoded. */
    jcs_s3auth_param q[] = {
        {"prefix", "a/b c"}, {"list-type", "2"}, {"delimiter", "/"}, {"uploads", ""}};
    T_OK(roundtrip("GET", "/b", "/b", q, 4, "uploads&prefix=a%2Fb%20c&list-type=2&delimiter=%2F"));
    /* The same query with a different value is refused. */
    q[1].value = "1";
    T_EQ_INT(take(roundtrip("GET", "/b", "/b", q, 4,
                            "uploads&prefix=a%2Fb%20c&list-type=2&delimiter=%2F")),
             JCS_S3E_SignatureDoesNotMatch);
}

TEST(refusals_name_the_problem)
{
    hdrs h = {{"Host", "h", "x-amz-date", "20130524T000000Z", "x-amz-content-sha256",
               "UNSIGNED-PAYLOAD", NULL, NULL, NULL}};
    jcs_s3auth_req r = {"GET", "/", NULL, NULL, 0, hget, &h, T_20130524};
    jcs_s3auth a;
    /* No signature at all. */
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AccessDenied);
    h.kv[6] = "Authorization";
    h.kv[7] = "AWS AKID:signature";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_InvalidRequest);
    h.kv[7] = "AWS4-HMAC-SHA256 Credential=NOPE/20130524/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature="
              "0000000000000000000000000000000000000000000000000000000000000000";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_InvalidAccessKeyId);
    T_ASSERT(strstr(jcs_err_msg(JCS_EPERM), "NOPE") != NULL);
    h.kv[7] = "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=00";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_SignatureDoesNotMatch);
    h.kv[7] = "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
              "SignedHeaders=x-amz-date, Signature="
              "0000000000000000000000000000000000000000000000000000000000000000";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AuthorizationHeaderMalformed);
    h.kv[7] = "AWS4-HMAC-SHA256 Credential=" AK "/20130525/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature="
              "0000000000000000000000000000000000000000000000000000000000000000";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AuthorizationHeaderMalformed);
    h.kv[7] = "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;x-amz-date;x-amz-missing, Signature="
              "0000000000000000000000000000000000000000000000000000000000000000";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_SignatureDoesNotMatch);
    T_ASSERT(strstr(jcs_err_msg(JCS_EPERM), "x-amz-missing") != NULL);
    h.kv[7] = "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3, SignedHeaders=host, "
              "Signature=00";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AuthorizationHeaderMalformed);
    h.kv[7] = "AWS4-HMAC-SHA256 garbage";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AuthorizationHeaderMalformed);
    /* Bad date. */
    h.kv[3] = "2013-05-24";
    h.kv[7] = "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature="
              "0000000000000000000000000000000000000000000000000000000000000000";
    T_EQ_INT(take(jcs_s3auth_verify(&cfg, &r, &a)), JCS_S3E_AccessDenied);
}

TEST(allocation_failures_do_not_crash)
{
    for (long n = 0; n < 40; n++) {
        char date[17];
        time_t now = time(NULL);
        jcs_sigv4_amz_date(now, date);
        jcs_alloc_fail_after(n);
        int rc = roundtrip("GET", "/b/k", "/b/k", NULL, 0, NULL);
        jcs_alloc_fail_after(-1);
        jcs_s3err_clear();
        if (rc == 0)
            return;
    }
    T_ASSERT(0, "verification never succeeded under allocation failure injection");
}
