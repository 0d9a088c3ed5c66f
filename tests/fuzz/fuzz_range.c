/*
 * fuzz_range.c - the Range header parser shared by the REST download and
 * the S3 GetObject (jcs_s3gw_parse_range). The first 8 bytes are the object
 * size, the rest the header value. A satisfiable answer must lie inside the
 * object: start >= 0, len >= 1, start + len <= size.
 */
#include "fuzz.h"
#include "s3gw_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t u = 0;
    memcpy(&u, data, 8);
    int64_t osize = (int64_t)(u & 0x3fffffffffffffffULL);
    if (data[0] & 1)
        osize = (int64_t)(u & 0xffff); /* small objects too, where the edges are */
    char *v = fuzz_str(data + 8, size - 8);
    int64_t start = -7, len = -7;
    int rc = jcs_s3gw_parse_range(v, osize, &start, &len);
    if (rc == 1 && (start < 0 || len < 1 || start > osize || len > osize - start))
        abort();
    if (rc < -1 || rc > 1)
        abort();
    free(v);
    return 0;
}
