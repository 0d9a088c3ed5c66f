/*
 * client/s3/s3xml.c - XML writer and strict reader (s3xml.h).
 */
#include "s3xml.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

/* ---- writer ---- */

int jcs_s3xml_escape(jcs_buf *out, const char *s, size_t n)
{
    int rc = JCS_OK;
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *e = NULL;
        switch (c) {
        case '&':
            e = "&amp;";
            break;
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&apos;";
            break;
        case '\r':
            e = "&#13;";
            break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n')
                return jcs_err_set(JCS_EINVAL, "XML: byte 0x%02x cannot be written in XML 1.0", c);
        }
        if (!e)
            continue;
        rc = jcs_buf_append(out, s + run, i - run);
        if (!rc)
            rc = jcs_buf_append(out, e, strlen(e));
        run = i + 1;
    }
    if (!rc)
        rc = jcs_buf_append(out, s + run, n - run);
    return rc;
}

static void put(jcs_s3xml *w, const char *s)
{
    if (!w->rc)
        w->rc = jcs_buf_append(w->out, s, strlen(s));
}

void jcs_s3xml_init(jcs_s3xml *w, jcs_buf *out)
{
    w->out = out;
    w->rc = 0;
    put(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
}

void jcs_s3xml_open(jcs_s3xml *w, const char *name)
{
    put(w, "<");
    put(w, name);
    put(w, ">");
}

void jcs_s3xml_open_ns(jcs_s3xml *w, const char *name)
{
    put(w, "<");
    put(w, name);
    put(w, " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
}

void jcs_s3xml_close(jcs_s3xml *w, const char *name)
{
    put(w, "</");
    put(w, name);
    put(w, ">");
}

void jcs_s3xml_elemn(jcs_s3xml *w, const char *name, const char *text, size_t n)
{
    jcs_s3xml_open(w, name);
    if (!w->rc)
        w->rc = jcs_s3xml_escape(w->out, text, n);
    jcs_s3xml_close(w, name);
}

void jcs_s3xml_elem(jcs_s3xml *w, const char *name, const char *text)
{
    jcs_s3xml_elemn(w, name, text ? text : "", text ? strlen(text) : 0);
}

void jcs_s3xml_elem_int(jcs_s3xml *w, const char *name, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    jcs_s3xml_elem(w, name, b);
}

int jcs_s3xml_finish(jcs_s3xml *w)
{
    return w->rc;
}

/* ---- reader ---- */

struct jcs_s3xml_doc {
    jcs_s3xml_node *nodes; /* nodes[0] is the root */
    size_t nnodes, cap;
    char **strs; /* every name and text, owned */
    size_t nstrs, strcap;
};

typedef struct parser {
    const char *p, *end, *start;
    jcs_s3xml_doc *d;
} parser;

static int line_of(const parser *ps)
{
    int l = 1;
    for (const char *q = ps->start; q < ps->p && q < ps->end; q++)
        l += *q == '\n';
    return l;
}

#define FAIL(ps, ...) fail_at(ps, __VA_ARGS__)

__attribute__((format(printf, 2, 3))) static int fail_at(parser *ps, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return jcs_err_set(JCS_EINVAL, "XML: line %d: %s", line_of(ps), msg);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_space(parser *ps)
{
    while (ps->p < ps->end && is_space(*ps->p))
        ps->p++;
}

static int starts(const parser *ps, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

static int name_char(unsigned char c, int first)
{
    if (c >= 0x80 || c == '_' || c == ':' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '-' || c == '.');
}

static int keep(jcs_s3xml_doc *d, char *s)
{
    if (!s)
        return JCS_ENOMEM;
    if (d->nstrs == d->strcap) {
        size_t nc = d->strcap ? d->strcap * 2 : 64;
        char **n = jcs_realloc(d->strs, nc * sizeof *n);
        if (!n) {
            jcs_free(s);
            return JCS_ENOMEM;
        }
        d->strs = n;
        d->strcap = nc;
    }
    d->strs[d->nstrs++] = s;
    return JCS_OK;
}

/* Reads a name at p; *out points into the input, *len its length. */
static int read_name(parser *ps, const char **out, size_t *len)
{
    const char *s = ps->p;
    if (ps->p >= ps->end || !name_char((unsigned char)*ps->p, 1))
        return FAIL(ps, "expected a name");
    while (ps->p < ps->end && name_char((unsigned char)*ps->p, 0))
        ps->p++;
    *out = s;
    *len = (size_t)(ps->p - s);
    return JCS_OK;
}

/* An entity or character reference at p (which is at '&'), appended decoded to b. */
static int read_ref(parser *ps, jcs_buf *b)
{
    const char *semi =
        memchr(ps->p, ';', (size_t)(ps->end - ps->p) < 12 ? (size_t)(ps->end - ps->p) : 12);
    if (!semi)
        return FAIL(ps, "'&' that starts no reference");
    const char *r = ps->p + 1;
    size_t n = (size_t)(semi - r);
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    int rc;
    if (n > 1 && r[0] == '#') {
        unsigned long cp = 0;
        int hex = r[1] == 'x';
        size_t i = hex ? 2 : 1;
        if (i >= n)
            return FAIL(ps, "empty character reference");
        for (; i < n; i++) {
            char c = r[i];
            int v = c >= '0' && c <= '9'          ? c - '0'
                    : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                  : -1;
            if (v < 0)
                return FAIL(ps, "bad character reference");
            cp = cp * (hex ? 16 : 10) + (unsigned long)v;
            if (cp > 0x10FFFF)
                return FAIL(ps, "character reference out of range");
        }
        if ((cp < 0x20 && cp != 9 && cp != 10 && cp != 13) || (cp >= 0xD800 && cp <= 0xDFFF) ||
            cp == 0xFFFE || cp == 0xFFFF)
            return FAIL(ps, "character reference &#%lu; is not an XML character", cp);
        rc = jcs_buf_append_utf8(b, cp);
    } else {
        size_t k;
        for (k = 0; k < sizeof ents / sizeof ents[0]; k++)
            if (strlen(ents[k].name) == n && memcmp(ents[k].name, r, n) == 0)
                break;
        if (k == sizeof ents / sizeof ents[0])
            return FAIL(ps, "unknown entity &%.*s;", (int)n, r);
        rc = jcs_buf_append(b, &ents[k].c, 1);
    }
    ps->p = semi + 1;
    return rc;
}

/* Skips comments (and, before the root, blanks). */
static int skip_misc(parser *ps)
{
    for (;;) {
        skip_space(ps);
        if (starts(ps, "<!--")) {
            const char *e = NULL;
            for (const char *q = ps->p + 4; q + 3 <= ps->end; q++)
                if (q[0] == '-' && q[1] == '-' && q[2] == '>') {
                    e = q;
                    break;
                }
            if (!e)
                return FAIL(ps, "unterminated comment");
            ps->p = e + 3;
            continue;
        }
        if (starts(ps, "<!"))
            return FAIL(ps, "DOCTYPE and declarations are not accepted");
        if (starts(ps, "<?"))
            return FAIL(ps, "processing instructions are not accepted");
        return JCS_OK;
    }
}

static int new_node(parser *ps, jcs_s3xml_node **out)
{
    jcs_s3xml_doc *d = ps->d;
    if (d->nnodes >= JCS_S3XML_MAX_NODES || d->nnodes >= d->cap)
        return jcs_err_set(JCS_ETOOBIG, "XML: more than %d elements", JCS_S3XML_MAX_NODES);
    *out = &d->nodes[d->nnodes++];
    memset(*out, 0, sizeof **out);
    return JCS_OK;
}

static int parse_element(parser *ps, int depth, jcs_s3xml_node **out);

/* Element content up to and including the end tag of qname. */
static int parse_content(parser *ps, int depth, jcs_s3xml_node *n, const char *qname, size_t qlen)
{
    jcs_buf text;
    jcs_buf_init(&text, 1u << 20);
    jcs_s3xml_node **tail = &n->child;
    int rc = JCS_OK, nonblank = 0;
    while (!rc) {
        if (ps->p >= ps->end) {
            rc = FAIL(ps, "<%.*s> is not closed", (int)qlen, qname);
            break;
        }
        char c = *ps->p;
        if (c == '<') {
            if (starts(ps, "<!--")) {
                rc = skip_misc(ps);
                continue;
            }
            if (starts(ps, "<![CDATA[")) {
                const char *s = ps->p + 9, *e = NULL;
                for (const char *q = s; q + 3 <= ps->end; q++)
                    if (q[0] == ']' && q[1] == ']' && q[2] == '>') {
                        e = q;
                        break;
                    }
                if (!e) {
                    rc = FAIL(ps, "unterminated CDATA section");
                    break;
                }
                rc = jcs_buf_append(&text, s, (size_t)(e - s));
                nonblank = 1;
                ps->p = e + 3;
                continue;
            }
            if (starts(ps, "</")) {
                ps->p += 2;
                const char *nm;
                size_t nl;
                if ((rc = read_name(ps, &nm, &nl)) != 0)
                    break;
                if (nl != qlen || memcmp(nm, qname, nl) != 0) {
                    rc = FAIL(ps, "</%.*s> closes <%.*s>", (int)nl, nm, (int)qlen, qname);
                    break;
                }
                skip_space(ps);
                if (ps->p >= ps->end || *ps->p != '>') {
                    rc = FAIL(ps, "expected '>'");
                    break;
                }
                ps->p++;
                break;
            }
            if (starts(ps, "<!") || starts(ps, "<?")) {
                rc = FAIL(ps, "declarations and processing instructions are not accepted");
                break;
            }
            jcs_s3xml_node *ch = NULL;
            if ((rc = parse_element(ps, depth + 1, &ch)) != 0)
                break;
            *tail = ch;
            tail = &ch->next;
            continue;
        }
        if (c == '&') {
            rc = read_ref(ps, &text);
            nonblank = 1;
            continue;
        }
        if (c == '\0') {
            rc = FAIL(ps, "NUL byte in text");
            break;
        }
        if (!is_space(c))
            nonblank = 1;
        rc = jcs_buf_append(&text, ps->p, 1);
        ps->p++;
    }
    if (!rc && n->child && nonblank)
        rc = FAIL(ps, "<%.*s> mixes text and elements", (int)qlen, qname);
    if (!rc) {
        if (n->child) {
            n->text = "";
        } else {
            char *t = text.len ? jcs_buf_steal(&text) : jcs_strdup("");
            if ((rc = keep(ps->d, t)) == 0) {
                n->text = t;
                n->text_len = strlen(t);
            }
        }
    }
    jcs_buf_clear(&text);
    return rc;
}

static int parse_attrs(parser *ps)
{
    for (;;) {
        skip_space(ps);
        if (ps->p >= ps->end)
            return FAIL(ps, "unterminated start tag");
        if (*ps->p == '>' || *ps->p == '/')
            return JCS_OK;
        const char *nm;
        size_t nl;
        int rc = read_name(ps, &nm, &nl);
        if (rc)
            return rc;
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != '=')
            return FAIL(ps, "attribute %.*s has no value", (int)nl, nm);
        ps->p++;
        skip_space(ps);
        if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\''))
            return FAIL(ps, "attribute %.*s: expected a quoted value", (int)nl, nm);
        char q = *ps->p++;
        const char *e = memchr(ps->p, q, (size_t)(ps->end - ps->p));
        if (!e)
            return FAIL(ps, "attribute %.*s: unterminated value", (int)nl, nm);
        if (memchr(ps->p, '<', (size_t)(e - ps->p)))
            return FAIL(ps, "attribute %.*s: '<' in value", (int)nl, nm);
        ps->p = e + 1;
    }
}

static int parse_element(parser *ps, int depth, jcs_s3xml_node **out)
{
    if (depth > JCS_S3XML_MAX_DEPTH)
        return jcs_err_set(JCS_ETOOBIG, "XML: nested deeper than %d levels", JCS_S3XML_MAX_DEPTH);
    if (ps->p >= ps->end || *ps->p != '<')
        return FAIL(ps, "expected an element");
    ps->p++;
    const char *qn;
    size_t ql;
    int rc = read_name(ps, &qn, &ql);
    if (rc)
        return rc;
    jcs_s3xml_node *n = NULL;
    if ((rc = new_node(ps, &n)) != 0)
        return rc;
    const char *colon = memchr(qn, ':', ql);
    const char *local = colon ? colon + 1 : qn;
    size_t llen = ql - (size_t)(local - qn);
    if (llen == 0)
        return FAIL(ps, "element name \"%.*s\" has an empty local part", (int)ql, qn);
    char *name = jcs_strndup(local, llen);
    if ((rc = keep(ps->d, name)) != 0)
        return rc;
    n->name = name;
    n->text = "";
    if ((rc = parse_attrs(ps)) != 0)
        return rc;
    *out = n;
    if (*ps->p == '/') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p != '>')
            return FAIL(ps, "expected '>' after '/'");
        ps->p++;
        return JCS_OK;
    }
    ps->p++; /* '>' */
    return parse_content(ps, depth, n, qn, ql);
}

int jcs_s3xml_parse(const char *p, size_t n, jcs_s3xml_doc **out)
{
    *out = NULL;
    jcs_s3xml_doc *d = jcs_calloc(1, sizeof *d);
    if (!d)
        return JCS_ENOMEM;
    /* Every element needs at least 4 input bytes ("<a/>"), which bounds the node array. */
    size_t cap = n / 4 + 1;
    if (cap > JCS_S3XML_MAX_NODES)
        cap = JCS_S3XML_MAX_NODES;
    d->nodes = jcs_calloc(cap, sizeof *d->nodes);
    if (!d->nodes) {
        jcs_free(d);
        return JCS_ENOMEM;
    }
    d->cap = cap;
    parser ps = {p, p + n, p, d};
    int rc = JCS_OK;
    /* A NUL is never an XML character; refusing it here keeps every text a C string. */
    const char *nul = memchr(p, '\0', n);
    if (nul) {
        ps.p = nul;
        rc = FAIL(&ps, "NUL byte in the document");
        jcs_s3xml_doc_free(d);
        return rc;
    }
    /* A UTF-8 byte order mark may precede the declaration. */
    if (starts(&ps, "\xEF\xBB\xBF"))
        ps.p += 3;
    if (starts(&ps, "<?xml")) {
        const char *e = NULL;
        for (const char *q = ps.p; q + 2 <= ps.end; q++)
            if (q[0] == '?' && q[1] == '>') {
                e = q;
                break;
            }
        if (!e)
            rc = FAIL(&ps, "unterminated XML declaration");
        else
            ps.p = e + 2;
    }
    if (!rc)
        rc = skip_misc(&ps);
    if (!rc && ps.p >= ps.end)
        rc = FAIL(&ps, "the document is empty");
    jcs_s3xml_node *root;
    if (!rc)
        rc = parse_element(&ps, 1, &root);
    if (!rc)
        rc = skip_misc(&ps);
    if (!rc && ps.p < ps.end)
        rc = FAIL(&ps, "content after the root element");
    if (rc) {
        jcs_s3xml_doc_free(d);
        return rc == JCS_ENOMEM ? jcs_err_set(JCS_ENOMEM, "XML: out of memory") : rc;
    }
    *out = d;
    return JCS_OK;
}

const jcs_s3xml_node *jcs_s3xml_root(const jcs_s3xml_doc *d)
{
    return d && d->nnodes ? &d->nodes[0] : NULL;
}

void jcs_s3xml_doc_free(jcs_s3xml_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nstrs; i++)
        jcs_free(d->strs[i]);
    jcs_free(d->strs);
    jcs_free(d->nodes);
    jcs_free(d);
}

const jcs_s3xml_node *jcs_s3xml_child(const jcs_s3xml_node *n, const char *name)
{
    for (const jcs_s3xml_node *c = n ? n->child : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const jcs_s3xml_node *jcs_s3xml_next(const jcs_s3xml_node *n)
{
    for (const jcs_s3xml_node *c = n->next; c; c = c->next)
        if (strcmp(c->name, n->name) == 0)
            return c;
    return NULL;
}
