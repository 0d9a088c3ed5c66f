/*
 * fuzz_multipart.c - the multipart/form-data parser (http_multipart.h) over
 * arbitrary bodies. The first line of the input is the Content-Type (its
 * boundary is parsed as the server does; a bad one falls back to "XyZ" so
 * the body is still parsed); the first byte of the rest picks the size of
 * the pieces the body is fed in, since the parser must give the same answer
 * for any split. Every filename is URL-decoded as the upload route does.
 */
#include "fuzz.h"
#include "http_multipart.h"

typedef struct {
    unsigned parts;
    size_t bytes;
} fz_state;

static int fz_begin(void *arg, const jcs_http_part *part)
{
    fz_state *s = arg;
    char dec[1024];
    if (!part->name)
        abort(); /* the parser promises a name */
    if (part->filename)
        (void)!jcs_http_url_decode(part->filename, dec, sizeof dec);
    s->parts++;
    return 0;
}

static int fz_data(void *arg, const void *p, size_t n)
{
    fz_state *s = arg;
    if (n == 0)
        abort(); /* never called with 0 bytes */
    volatile const unsigned char *c = p;
    (void)c[0];
    (void)c[n - 1];
    s->bytes += n;
    return 0;
}

static int fz_end(void *arg)
{
    (void)arg;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ctlen = nl ? (size_t)(nl - data) : size;
    char *ct = fuzz_str(data, ctlen);
    char boundary[JCS_HTTP_MAX_BOUNDARY + 1];
    if (jcs_http_multipart_boundary(ct, boundary, sizeof boundary) != 0)
        strcpy(boundary, "XyZ");
    free(ct);
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = (size_t)(data + size - body);
    size_t step = 1;
    if (blen > 0) {
        step = body[0] ? body[0] : 4096;
        body++;
        blen--;
    }
    static const jcs_http_multipart_ops ops = {fz_begin, fz_data, fz_end};
    fz_state st = {0, 0};
    jcs_http_mp *mp;
    if (jcs_http_multipart_new(boundary, 16, &ops, &st, &mp) != 0)
        return 0;
    int rc = 0;
    for (size_t off = 0; off < blen && rc == 0; off += step) {
        size_t n = blen - off < step ? blen - off : step;
        /* An exact-size copy per piece, so a read past a piece is caught. */
        uint8_t *piece = malloc(n);
        memcpy(piece, body + off, n);
        rc = jcs_http_multipart_feed(mp, piece, n);
        free(piece);
    }
    if (rc == 0)
        (void)!jcs_http_multipart_finish(mp);
    jcs_http_multipart_free(mp);
    if (st.bytes > blen)
        abort(); /* more data out than came in */
    return 0;
}
