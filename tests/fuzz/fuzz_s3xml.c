/*
 * fuzz_s3xml.c - the S3 XML reader (s3xml.h: CompleteMultipartUpload,
 * DeleteObjects bodies) over arbitrary bytes; a parsed tree is walked whole
 * and every text checked against its stated length.
 */
#include "fuzz.h"
#include "s3xml.h"

static size_t walk(const jcs_s3xml_node *n, int depth)
{
    size_t count = 0;
    for (; n; n = jcs_s3xml_next(n)) {
        if (!n->name || !n->text || strlen(n->text) != n->text_len)
            abort();
        count += 1 + walk(n->child, depth + 1);
        (void)jcs_s3xml_child(n, "Part");
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jcs_s3xml_doc *doc;
    if (jcs_s3xml_parse((const char *)data, size, &doc) != 0)
        return 0;
    (void)walk(jcs_s3xml_root(doc), 0);
    jcs_s3xml_doc_free(doc);
    return 0;
}
