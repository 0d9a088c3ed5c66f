/*
 * http_multipart.c - the streaming multipart/form-data parser and URL
 * percent-decoding (http_multipart.h). Plain C over bytes: no
 * libmicrohttpd, so it is tested and reused on its own.
 */
#include "http_multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

/* ======================================================================
 * Multipart/form-data parser
 * ====================================================================== */

enum mp_state { MP_PREAMBLE, MP_DELIM_TAIL, MP_HEADERS, MP_BODY, MP_EPILOGUE, MP_FAILED };

struct jcs_http_mp {
    const jcs_http_multipart_ops *ops;
    void *arg;
    char delim[4 + JCS_HTTP_MAX_BOUNDARY + 1]; /* "\r\n--" boundary */
    size_t dlen;
    enum mp_state st;
    /* Bytes of delim matched at the end of the input seen so far. They are
     * always delim[0..m), so they need no buffer: if the match fails they are
     * re-emitted from delim itself. */
    size_t m;
    int tail; /* MP_DELIM_TAIL: 0 start, 1 saw '-', 2 saw CR, 3 in padding */
    size_t pad;
    size_t outside; /* preamble + epilogue bytes */
    unsigned nparts, max_parts;
    int rc; /* the error that stopped the parser */
    size_t hlen;
    char hdr[JCS_HTTP_MAX_PART_HEADER + 1];
};

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space (not last). */
static int bchar(int c)
{
    return isalnum(c) || (c && strchr("'()+_,-./:=? ", c));
}

int jcs_http_multipart_boundary(const char *ct, char *out, size_t outlen)
{
    if (!ct)
        return jcs_err_set(JCS_EINVAL, "multipart body: no Content-Type");
    const char *p = ct;
    while (*p == ' ' || *p == '\t')
        p++;
    static const char want[] = "multipart/form-data";
    if (strncasecmp(p, want, sizeof(want) - 1) != 0 ||
        (p[sizeof(want) - 1] && !strchr(" \t;", p[sizeof(want) - 1])))
        return jcs_err_set(JCS_EINVAL, "multipart body: Content-Type \"%.100s\" is not %s", ct,
                           want);
    p += sizeof(want) - 1;
    /* Parameters: ; key=value or ; key="quoted" */
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        size_t kl = (size_t)(p - k);
        while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
            kl--;
        if (*p != '=')
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        char val[JCS_HTTP_MAX_BOUNDARY + 2];
        size_t vl = 0;
        int toolong = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (vl < sizeof(val) - 1)
                    val[vl++] = *p;
                else
                    toolong = 1;
                p++;
            }
            if (*p != '"')
                return jcs_err_set(JCS_EINVAL, "multipart body: unterminated quote in \"%.100s\"",
                                   ct);
            p++;
        } else {
            while (*p && *p != ';' && *p != ' ' && *p != '\t') {
                if (vl < sizeof(val) - 1)
                    val[vl++] = *p;
                else
                    toolong = 1;
                p++;
            }
        }
        val[vl] = '\0';
        if (kl != 8 || strncasecmp(k, "boundary", 8) != 0)
            continue;
        if (toolong || vl > JCS_HTTP_MAX_BOUNDARY)
            return jcs_err_set(JCS_EINVAL, "multipart body: boundary longer than %d characters",
                               JCS_HTTP_MAX_BOUNDARY);
        if (vl == 0)
            return jcs_err_set(JCS_EINVAL, "multipart body: empty boundary");
        for (size_t i = 0; i < vl; i++)
            if (!bchar((unsigned char)val[i]))
                return jcs_err_set(JCS_EINVAL,
                                   "multipart body: boundary has a forbidden character 0x%02x",
                                   (unsigned char)val[i]);
        if (val[vl - 1] == ' ')
            return jcs_err_set(JCS_EINVAL, "multipart body: boundary ends in a space");
        if (vl + 1 > outlen)
            return jcs_err_set(JCS_ETOOBIG, "multipart boundary: output buffer too small");
        memcpy(out, val, vl + 1);
        return JCS_OK;
    }
    return jcs_err_set(JCS_EINVAL, "multipart body: Content-Type has no boundary parameter");
}

int jcs_http_multipart_new(const char *boundary, unsigned max_parts,
                           const jcs_http_multipart_ops *ops, void *arg, jcs_http_mp **out)
{
    size_t bl = boundary ? strlen(boundary) : 0;
    if (bl == 0 || bl > JCS_HTTP_MAX_BOUNDARY)
        return jcs_err_set(JCS_EINVAL, "multipart body: boundary must be 1-%d characters",
                           JCS_HTTP_MAX_BOUNDARY);
    jcs_http_mp *mp = jcs_calloc(1, sizeof(*mp));
    if (!mp)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    mp->ops = ops;
    mp->arg = arg;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, bl + 1);
    mp->dlen = 4 + bl;
    mp->max_parts = max_parts ? max_parts : 10000;
    /* The first delimiter may open the body without a CRLF before it: pretend one was seen. */
    mp->st = MP_PREAMBLE;
    mp->m = 2;
    *out = mp;
    return JCS_OK;
}

void jcs_http_multipart_free(jcs_http_mp *mp)
{
    jcs_free(mp);
}

static int mp_fail(jcs_http_mp *mp, int rc)
{
    mp->st = MP_FAILED;
    mp->rc = rc;
    return rc;
}

/* Data found between delimiters: a part's bytes, or preamble/epilogue to drop. */
static int mp_emit(jcs_http_mp *mp, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (mp->st == MP_BODY)
        return mp->ops->part_data ? mp->ops->part_data(mp->arg, p, n) : 0;
    mp->outside += n;
    if (mp->outside > JCS_HTTP_MAX_PREAMBLE)
        return jcs_err_set(JCS_EINVAL,
                           "multipart body: more than %d bytes outside the parts (wrong boundary?)",
                           JCS_HTTP_MAX_PREAMBLE);
    return 0;
}

/*
 * Scans p[0..n) for the delimiter, emitting the data before it. Sets *used
 * to the bytes consumed and *found when the delimiter's last byte was
 * among them. A delimiter always starts with CR, and CR occurs nowhere else
 * in it (boundaries cannot hold CR), so after a mismatch the match can only
 * restart at a CR: no KMP table is needed.
 */
static int mp_scan(jcs_http_mp *mp, const unsigned char *p, size_t n, size_t *used, int *found)
{
    size_t i = 0, start = 0, m = mp->m;
    size_t virt = m; /* matched bytes that came with earlier input */
    int rc;
    *found = 0;
    while (i < n) {
        if (m == 0) {
            const unsigned char *cr = memchr(p + i, '\r', n - i);
            if (!cr) {
                i = n;
                break;
            }
            i = (size_t)(cr - p) + 1;
            m = 1;
            continue;
        }
        if (p[i] == (unsigned char)mp->delim[m]) {
            m++;
            i++;
            if (m == mp->dlen) {
                size_t dstart = i - (mp->dlen - virt);
                if ((rc = mp_emit(mp, p + start, dstart - start)))
                    return rc;
                mp->m = 0;
                *used = i;
                *found = 1;
                return 0;
            }
            continue;
        }
        /* Mismatch: the carried bytes were data after all; they precede everything here. */
        if (virt) {
            if ((rc = mp_emit(mp, mp->delim, virt)))
                return rc;
            virt = 0;
        }
        m = 0; /* p[i] is looked at again: it may be a CR starting a new match */
    }
    /* Out of input: keep the partial match (all of it carried from now on), emit the rest. */
    size_t held_here = m - virt;
    if ((rc = mp_emit(mp, p + start, n - held_here - start)))
        return rc;
    mp->m = m;
    *used = n;
    return 0;
}

/* Unquotes a quoted-string in place; returns the end of the value or NULL. */
static char *mp_unquote(char *s, char **endp)
{
    char *w = s, *r = s + 1;
    while (*r && *r != '"') {
        /* Only \" and \\ are escapes: browsers send a Windows path's backslashes raw, and
         * API.md reads a raw backslash in a filename as '/', so it must survive. */
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w++ = *r++;
    }
    if (*r != '"')
        return NULL;
    *endp = r + 1;
    *w = '\0';
    return s;
}

/* Content-Disposition: form-data; name="x"; filename="y" (value is modified in place). */
static int mp_disposition(jcs_http_mp *mp, char *v, jcs_http_part *part)
{
    char *p = v;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "form-data", 9) != 0 || (p[9] && !strchr(" \t;", p[9])))
        return jcs_err_set(JCS_EINVAL,
                           "multipart body: part %u: Content-Disposition is not form-data",
                           mp->nparts);
    p += 9;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        if (!*p)
            break;
        char *k = p;
        while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        char *kend = p;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '=')
            return jcs_err_set(JCS_EINVAL,
                               "multipart body: part %u: bad Content-Disposition parameter",
                               mp->nparts);
        *kend = '\0';
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        char *val, *next;
        if (*p == '"') {
            val = mp_unquote(p, &next);
            if (!val)
                return jcs_err_set(JCS_EINVAL,
                                   "multipart body: part %u: unterminated quote in "
                                   "Content-Disposition",
                                   mp->nparts);
        } else {
            val = p;
            while (*p && *p != ';' && *p != ' ' && *p != '\t')
                p++;
            next = p;
        }
        char c = *next;
        *next = '\0'; /* terminates an unquoted value; a quoted one ended earlier */
        const char **slot = NULL;
        if (strcasecmp(k, "name") == 0)
            slot = &part->name;
        else if (strcasecmp(k, "filename") == 0)
            slot = &part->filename;
        if (slot) {
            if (*slot)
                return jcs_err_set(JCS_EINVAL, "multipart body: part %u: parameter %s given twice",
                                   mp->nparts, k);
            *slot = val;
        }
        if (!c)
            break;
        p = next + 1;
    }
    return 0;
}

/* Parses the header block in mp->hdr (hlen bytes, ending in CRLF CRLF or just CRLF). */
static int mp_headers(jcs_http_mp *mp, jcs_http_part *part)
{
    memset(part, 0, sizeof(*part));
    part->index = mp->nparts;
    char *p = mp->hdr, *end = mp->hdr + mp->hlen;
    if (memchr(p, '\0', mp->hlen))
        return jcs_err_set(JCS_EINVAL, "multipart body: part %u: NUL byte in the headers",
                           mp->nparts);
    int have_cd = 0;
    while (p < end) {
        char *eol = strstr(p, "\r\n");
        if (!eol || eol == p) /* the blank line */
            break;
        *eol = '\0';
        if (*p == ' ' || *p == '\t')
            return jcs_err_set(JCS_EINVAL,
                               "multipart body: part %u: folded header lines are not accepted",
                               mp->nparts);
        char *colon = strchr(p, ':');
        if (!colon || colon == p)
            return jcs_err_set(JCS_EINVAL, "multipart body: part %u: bad header line \"%.60s\"",
                               mp->nparts, p);
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        if (strcasecmp(p, "Content-Disposition") == 0) {
            if (have_cd++)
                return jcs_err_set(JCS_EINVAL,
                                   "multipart body: part %u: two Content-Disposition headers",
                                   mp->nparts);
            int rc = mp_disposition(mp, v, part);
            if (rc)
                return rc;
        } else if (strcasecmp(p, "Content-Type") == 0) {
            part->content_type = v;
        }
        p = eol + 2;
    }
    if (!part->name)
        return jcs_err_set(JCS_EINVAL,
                           "multipart body: part %u has no Content-Disposition with a name",
                           mp->nparts);
    return 0;
}

/* Collects header bytes; *used is what was consumed. Starts the part when the block ends. */
static int mp_header_bytes(jcs_http_mp *mp, const char *p, size_t n, size_t *used)
{
    size_t room = JCS_HTTP_MAX_PART_HEADER - mp->hlen;
    size_t take = n < room ? n : room;
    size_t old = mp->hlen;
    memcpy(mp->hdr + old, p, take);
    mp->hlen += take;
    mp->hdr[mp->hlen] = '\0';
    size_t endpos = 0;
    if (mp->hlen >= 2 && mp->hdr[0] == '\r' && mp->hdr[1] == '\n') {
        endpos = 2; /* no headers at all */
    } else {
        size_t from = old >= 3 ? old - 3 : 0;
        for (size_t i = from; i + 4 <= mp->hlen; i++)
            if (memcmp(mp->hdr + i, "\r\n\r\n", 4) == 0) {
                endpos = i + 4;
                break;
            }
    }
    if (!endpos) {
        if (mp->hlen >= JCS_HTTP_MAX_PART_HEADER)
            return jcs_err_set(JCS_EINVAL, "multipart body: part %u: headers longer than %d bytes",
                               mp->nparts, JCS_HTTP_MAX_PART_HEADER);
        *used = take;
        return 0;
    }
    *used = endpos - old;
    mp->hlen = endpos;
    mp->hdr[endpos] = '\0';
    /* Refused as the part over the limit begins: nothing of it reaches the route, and the
     * request's earlier parts are rolled back by its abort callback. */
    if (mp->nparts >= mp->max_parts)
        return jcs_err_set(JCS_ETOOBIG,
                           "multipart body: more than %u parts (the limit, http.maxParts)",
                           mp->max_parts);
    jcs_http_part part;
    int rc = mp_headers(mp, &part);
    if (rc)
        return rc;
    mp->st = MP_BODY;
    mp->m = 0;
    rc = mp->ops->part_begin ? mp->ops->part_begin(mp->arg, &part) : 0;
    mp->nparts++;
    return rc;
}

/* One byte after a delimiter: "--" closes the body; optional padding and CRLF open a part. */
static int mp_tail_byte(jcs_http_mp *mp, unsigned char c)
{
    switch (mp->tail) {
    case 0:
        if (c == '-')
            mp->tail = 1;
        else if (c == '\r')
            mp->tail = 2;
        else if (c == ' ' || c == '\t')
            mp->tail = 3;
        else
            break;
        return 0;
    case 1:
        if (c != '-')
            break;
        mp->st = MP_EPILOGUE;
        return 0;
    case 2:
        if (c != '\n')
            break;
        mp->st = MP_HEADERS;
        mp->hlen = 0;
        return 0;
    case 3:
        if (c == '\r')
            mp->tail = 2;
        else if ((c != ' ' && c != '\t') || ++mp->pad > 256)
            break;
        return 0;
    }
    return jcs_err_set(JCS_EINVAL, "multipart body: unexpected byte 0x%02x after a boundary", c);
}

int jcs_http_multipart_feed(jcs_http_mp *mp, const void *data, size_t n)
{
    const unsigned char *p = data;
    if (mp->st == MP_FAILED)
        return jcs_err_set(mp->rc ? mp->rc : JCS_EINVAL, "multipart body: parser already failed");
    while (n) {
        size_t used = 0;
        int found = 0, rc = 0;
        switch (mp->st) {
        case MP_PREAMBLE:
        case MP_BODY:
            rc = mp_scan(mp, p, n, &used, &found);
            if (!rc && found) {
                if (mp->st == MP_BODY && mp->ops->part_end)
                    rc = mp->ops->part_end(mp->arg);
                mp->st = MP_DELIM_TAIL;
                mp->tail = 0;
                mp->pad = 0;
            }
            break;
        case MP_DELIM_TAIL:
            rc = mp_tail_byte(mp, *p);
            used = 1;
            break;
        case MP_HEADERS:
            rc = mp_header_bytes(mp, (const char *)p, n, &used);
            break;
        case MP_EPILOGUE:
            rc = mp_emit(mp, p, n);
            used = n;
            break;
        case MP_FAILED:
            return mp->rc;
        }
        if (rc)
            return mp_fail(mp, rc);
        p += used;
        n -= used;
    }
    return 0;
}

int jcs_http_multipart_finish(jcs_http_mp *mp)
{
    switch (mp->st) {
    case MP_EPILOGUE:
        return 0;
    case MP_FAILED:
        return jcs_err_set(mp->rc ? mp->rc : JCS_EINVAL, "multipart body: parser already failed");
    case MP_PREAMBLE:
        return mp_fail(mp, jcs_err_set(JCS_EINVAL, "multipart body: truncated: no boundary "
                                                   "found (is the boundary right?)"));
    case MP_BODY:
        return mp_fail(mp, jcs_err_set(JCS_EINVAL,
                                       "multipart body: truncated inside part %u (no closing "
                                       "boundary)",
                                       mp->nparts - 1));
    default:
        return mp_fail(mp, jcs_err_set(JCS_EINVAL,
                                       "multipart body: truncated: no closing boundary after "
                                       "%u parts",
                                       mp->nparts));
    }
}

/* ======================================================================
 * URL decoding
 * ====================================================================== */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int jcs_http_url_decode(const char *in, char *out, size_t outlen)
{
    size_t w = 0;
    for (const char *p = in; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
            if (h < 0 || l < 0)
                return jcs_err_set(JCS_EINVAL, "bad %%-escape in \"%.200s\"", in);
            c = h * 16 + l;
            if (c == 0)
                return jcs_err_set(JCS_EINVAL, "%%00 in \"%.200s\"", in);
            p += 2;
        }
        if (w + 1 >= outlen)
            return jcs_err_set(JCS_ETOOBIG, "\"%.200s\" decodes to more than %zu bytes", in,
                               outlen ? outlen - 1 : 0);
        out[w++] = (char)c;
    }
    if (!outlen)
        return jcs_err_set(JCS_ETOOBIG, "no room to decode \"%.200s\"", in);
    out[w] = '\0';
    return JCS_OK;
}
