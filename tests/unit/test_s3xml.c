/*
 * test_s3xml.c - the S3 XML writer and strict reader (client/s3/s3xml.c)
 * and the S3 error document (s3err.c): the request bodies real clients
 * send, escaping both ways, and every refusal (DOCTYPE/entities, mismatched
 * tags, mixed content, caps).
 */
#include <string.h>

#include "alloc.h"
#include "s3err.h"
#include "s3xml.h"
#include "t.h"

static int parse(const char *s, jcs_s3xml_doc **d)
{
    return jcs_s3xml_parse(s, strlen(s), d);
}

TEST(complete_multipart_upload_as_botocore_sends_it)
{
    const char *x =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Part><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag>"
        "<PartNumber>1</PartNumber></Part>\n  <Part><ETag>\"0c78aef83f66abc1fa1e8477f296d394\""
        "</ETag><PartNumber>2</PartNumber>"
        "<ChecksumCRC32>y/Q5Jg==</ChecksumCRC32></Part></CompleteMultipartUpload>";
    jcs_s3xml_doc *d;
    T_OK(parse(x, &d));
    const jcs_s3xml_node *r = jcs_s3xml_root(d);
    T_EQ_STR(r->name, "CompleteMultipartUpload");
    const jcs_s3xml_node *p = jcs_s3xml_child(r, "Part");
    T_ASSERT(p != NULL);
    T_EQ_STR(jcs_s3xml_child(p, "ETag")->text, "\"a54357aff0632cce46d942af68356b38\"");
    T_EQ_STR(jcs_s3xml_child(p, "PartNumber")->text, "1");
    p = jcs_s3xml_next(p);
    T_ASSERT(p != NULL);
    T_EQ_STR(jcs_s3xml_child(p, "PartNumber")->text, "2");
    T_EQ_STR(jcs_s3xml_child(p, "ChecksumCRC32")->text, "y/Q5Jg==");
    T_ASSERT(jcs_s3xml_next(p) == NULL);
    jcs_s3xml_doc_free(d);
}

TEST(delete_with_prefixed_names_entities_and_cdata)
{
    const char *x = "<s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><!-- c -->"
                    "<s3:Quiet>true</s3:Quiet><s3:Object><s3:Key>a&amp;b&lt;c&#x20AC;&#65;</s3:Key>"
                    "</s3:Object><s3:Object><s3:Key><![CDATA[x<y>&z]]></s3:Key><VersionId/>"
                    "</s3:Object></s3:Delete>";
    jcs_s3xml_doc *d;
    T_OK(parse(x, &d));
    const jcs_s3xml_node *r = jcs_s3xml_root(d);
    T_EQ_STR(r->name, "Delete");
    T_EQ_STR(jcs_s3xml_child(r, "Quiet")->text, "true");
    const jcs_s3xml_node *o = jcs_s3xml_child(r, "Object");
    T_EQ_STR(jcs_s3xml_child(o, "Key")->text, "a&b<c\xE2\x82\xAC"
                                              "A");
    o = jcs_s3xml_next(o);
    T_EQ_STR(jcs_s3xml_child(o, "Key")->text, "x<y>&z");
    T_EQ_STR(jcs_s3xml_child(o, "VersionId")->text, "");
    jcs_s3xml_doc_free(d);
}

TEST(malformed_and_hostile_documents_are_refused)
{
    const char *bad[] = {
        "",
        "   ",
        "<a>",
        "<a></b>",
        "<a><b></a></b>",
        "<a>x</a><b/>",
        "<a>text<b/></a>",
        "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
        "<a>&e;</a>",
        "<a>&#0;</a>",
        "<a>&#xD800;</a>",
        "<a b=c/>",
        "<a>&amp</a>",
        "<?pi x?><a/>",
        "<a><!-- never closed </a>",
        "<a><![CDATA[x</a>",
        "<1a/>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jcs_s3xml_doc *d = NULL;
        int rc = parse(bad[i], &d);
        T_ASSERT(rc == JCS_EINVAL, "(document %zu \"%s\" gave %d)", i, bad[i], rc);
        T_ASSERT(d == NULL);
        T_ASSERT(strncmp(jcs_err_msg(rc), "XML: ", 5) == 0, "(%s)", jcs_err_msg(rc));
    }
    /* A NUL inside. */
    jcs_s3xml_doc *d = NULL;
    T_EQ_INT(jcs_s3xml_parse("<a>\0</a>", 8, &d), JCS_EINVAL);
    /* Depth cap. */
    char deep[400] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 20; i++)
        strcat(deep, "</a>");
    T_EQ_INT(parse(deep, &d), JCS_ETOOBIG);
    /* Node cap: 30000 empty elements. */
    size_t n = 30000;
    char *many = jcs_malloc(n * 4 + 16);
    strcpy(many, "<r>");
    for (size_t i = 0; i < n; i++)
        strcat(many + 3 + (i ? (i - 1) * 4 : 0), "<a/>");
    strcat(many, "</r>");
    T_EQ_INT(parse(many, &d), JCS_ETOOBIG);
    jcs_free(many);
}

TEST(writer_escapes_and_error_document)
{
    jcs_buf b;
    jcs_buf_init(&b, 4096);
    jcs_s3xml w;
    jcs_s3xml_init(&w, &b);
    jcs_s3xml_open_ns(&w, "ListBucketResult");
    jcs_s3xml_elem(&w, "Key", "a&b<c>\"d'\r");
    jcs_s3xml_elem_int(&w, "Size", 1234567890123LL);
    jcs_s3xml_close(&w, "ListBucketResult");
    T_OK(jcs_s3xml_finish(&w));
    T_ASSERT(strstr(b.data, "<Key>a&amp;b&lt;c&gt;&quot;d&apos;&#13;</Key>") != NULL, "(%s)",
             b.data);
    T_ASSERT(strstr(b.data, "<Size>1234567890123</Size>") != NULL);
    /* What we write, we read back. */
    jcs_s3xml_doc *d;
    T_OK(jcs_s3xml_parse(b.data, b.len, &d));
    T_EQ_STR(jcs_s3xml_child(jcs_s3xml_root(d), "Key")->text, "a&b<c>\"d'\r");
    jcs_s3xml_doc_free(d);
    /* A control byte cannot be written. */
    jcs_buf_reset(&b);
    jcs_s3xml_init(&w, &b);
    jcs_s3xml_elem(&w, "Key", "a\x01");
    T_EQ_INT(jcs_s3xml_finish(&w), JCS_EINVAL);

    jcs_buf_reset(&b);
    T_OK(jcs_s3err_xml(&b, JCS_S3E_NoSuchKey, NULL, "/b/k&1", "REQ1"));
    T_ASSERT(strstr(b.data, "<Code>NoSuchKey</Code>") != NULL);
    T_ASSERT(strstr(b.data, "<Message>The specified key does not exist.</Message>") != NULL);
    T_ASSERT(strstr(b.data, "<Resource>/b/k&amp;1</Resource>") != NULL);
    T_ASSERT(strstr(b.data, "<RequestId>REQ1</RequestId>") != NULL);
    T_EQ_INT(jcs_s3err_status(JCS_S3E_NoSuchKey), 404);
    T_EQ_INT(jcs_s3err_status(JCS_S3E_PreconditionFailed), 412);
    T_EQ_INT(jcs_s3err_status(JCS_S3E_InvalidRange), 416);
    T_EQ_INT(jcs_s3err_status(JCS_S3E_NotImplemented), 501);
    T_EQ_INT(jcs_s3err_status(JCS_S3E_BucketNotEmpty), 409);
    T_EQ_INT(jcs_s3err_status(JCS_S3E_SignatureDoesNotMatch), 403);
    jcs_buf_clear(&b);

    /* The thread's recorded code wins over the jcs_err mapping, once. */
    int rc = jcs_s3err_set(JCS_S3E_NoSuchBucket, "bucket \"%s\" does not exist", "x");
    T_EQ_INT(rc, JCS_ENOENT);
    T_EQ_STR(jcs_err_msg(rc), "bucket \"x\" does not exist");
    T_EQ_INT(jcs_s3err_take(rc), JCS_S3E_NoSuchBucket);
    T_EQ_INT(jcs_s3err_take(JCS_EINVAL), JCS_S3E_InvalidArgument);
    T_EQ_INT(jcs_s3err_take(JCS_EDB), JCS_S3E_InternalError);
}
