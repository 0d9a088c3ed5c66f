/*
 * client/s3/s3xml.h - the XML S3 needs: a writer for replies and a small
 * strict reader for the request bodies S3 has (CompleteMultipartUpload,
 * Delete, CreateBucketConfiguration).
 *
 * Writer: appends to a jcs_buf; the first failure (ENOMEM, the buffer's
 * cap) is kept and reported by jcs_s3xml_finish, so building a document
 * needs one check at the end. Text and attribute values are escaped
 * (& < > " '); characters XML 1.0 cannot carry (control bytes other than
 * TAB, LF, CR) are written as numeric references only where XML 1.0 allows
 * them, so they are refused: S3 keys with such bytes are listed only with
 * encoding-type=url, which the caller applies before writing.
 *
 * Reader: a pure function over a buffer (fuzzable). It accepts an optional
 * XML declaration, comments, elements with attributes (namespace
 * declarations such as xmlns="http://s3.amazonaws.com/doc/2006-03-01/"),
 * character data with the five predefined entities and numeric character
 * references, and CDATA sections. It refuses DOCTYPE (and so any entity
 * definition), processing instructions other than the declaration,
 * mismatched or unclosed tags, mixed content (an element with both child
 * elements and non-blank text), more than JCS_S3XML_MAX_NODES elements,
 * more than JCS_S3XML_MAX_DEPTH levels, and anything after the root.
 * Element names are matched without their namespace prefix.
 */
#ifndef JCS_CLIENT_S3XML_H
#define JCS_CLIENT_S3XML_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define JCS_S3XML_MAX_NODES 20000 /* a Delete of 1000 keys needs ~3000 */
#define JCS_S3XML_MAX_DEPTH 16

/* ---- writer ---- */

typedef struct jcs_s3xml {
    jcs_buf *out; /* borrowed */
    int rc;       /* first failure */
} jcs_s3xml;

/* Starts a document in out: writes the XML declaration. */
void jcs_s3xml_init(jcs_s3xml *w, jcs_buf *out);
/* <name> ; the root element gets the S3 namespace when xmlns is set. */
void jcs_s3xml_open(jcs_s3xml *w, const char *name);
void jcs_s3xml_open_ns(jcs_s3xml *w, const char *name);
void jcs_s3xml_close(jcs_s3xml *w, const char *name);
/* <name>escaped text</name> */
void jcs_s3xml_elem(jcs_s3xml *w, const char *name, const char *text);
void jcs_s3xml_elemn(jcs_s3xml *w, const char *name, const char *text, size_t n);
void jcs_s3xml_elem_int(jcs_s3xml *w, const char *name, long long v);
/* The first failure while writing, or 0. */
int jcs_s3xml_finish(jcs_s3xml *w) JCS_MUST_USE;

/* Appends s[0..n) escaped for XML text. JCS_EINVAL for a byte XML 1.0 cannot carry. */
int jcs_s3xml_escape(jcs_buf *out, const char *s, size_t n) JCS_MUST_USE;

/* ---- reader ---- */

typedef struct jcs_s3xml_node jcs_s3xml_node;
struct jcs_s3xml_node {
    const char *name;      /* local name (prefix removed) */
    const char *text;      /* character data, entities decoded, never NULL ("" when none) */
    size_t text_len;       /* strlen(text): a NUL is refused anywhere in the input */
    jcs_s3xml_node *child; /* first child element */
    jcs_s3xml_node *next;  /* next sibling */
};

typedef struct jcs_s3xml_doc jcs_s3xml_doc;

/*
 * Parses p[0..n). JCS_EINVAL with a detail "XML: line L: ..." for malformed
 * or refused input, JCS_ETOOBIG over the node or depth caps, JCS_ENOMEM.
 * Caller frees with jcs_s3xml_doc_free.
 */
int jcs_s3xml_parse(const char *p, size_t n, jcs_s3xml_doc **out) JCS_MUST_USE;
const jcs_s3xml_node *jcs_s3xml_root(const jcs_s3xml_doc *d);
void jcs_s3xml_doc_free(jcs_s3xml_doc *d);

/* The first child named name, or NULL. */
const jcs_s3xml_node *jcs_s3xml_child(const jcs_s3xml_node *n, const char *name);
/* The next sibling after n with the same name, or NULL. */
const jcs_s3xml_node *jcs_s3xml_next(const jcs_s3xml_node *n);

#endif
