/*
 * client/s3/s3gw_list.c - ListObjects (v1) and ListObjectsV2.
 *
 * A bucket's keys are the root package's paths (keys without '/') and,
 * for every other package X, "X/" + each path. They are produced in byte
 * order by walking the packages in the order of "X/" and slipping the root
 * keys in between (a root key holds no '/', so it sorts entirely before or
 * after each "X/..." run). With a delimiter, a package whose name already
 * contains the delimiter past the prefix folds whole into one common
 * prefix without being read (so "ls s3://bucket/" lists packages, empty
 * ones included); inside a package the JCS listing folds at '/' itself,
 * and other delimiters fold here, jumping past each folded prefix.
 *
 * Paging: the marker, start-after and continuation token are one
 * exclusive cursor (the token is the hex of the last key or prefix
 * returned). An item at or before the cursor is skipped, and so is a
 * common prefix at or before it, so a prefix is never returned twice
 * across pages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "s3gw_int.h"
#include "sigv4.h"

typedef struct item {
    char *key;
    int is_prefix;
    int64_t object_id, size, mtime;
    char file_hash[JCS_HASH_SIZE];
} item;

typedef struct lister {
    s3req *r;
    const char *prefix;
    size_t plen;
    const char *delim;
    size_t dlen;
    const char *marker; /* "" for none */
    size_t mlen;
    size_t max;
    item *v;
    size_t n;
    int truncated;
    const char *last_cp;
} lister;

#define STOP 1

static int bcmp_(const char *a, size_t al, const char *b, size_t bl)
{
    int d = memcmp(a, b, al < bl ? al : bl);
    return d ? d : (al < bl ? -1 : al > bl);
}

static int starts(const char *s, size_t sl, const char *p, size_t pl)
{
    return sl >= pl && memcmp(s, p, pl) == 0;
}

/* Appends an item; STOP once the page is full (and marks it truncated: one more exists). */
static int emit(lister *L, const char *key, size_t kl, int is_prefix, const jcs_meta_object *o)
{
    if (L->n == L->max) {
        L->truncated = 1;
        return STOP;
    }
    item *it = &L->v[L->n];
    memset(it, 0, sizeof *it);
    if (!(it->key = jcs_strndup(key, kl)))
        return JCS_ENOMEM;
    it->is_prefix = is_prefix;
    if (o) {
        it->object_id = o->object_id;
        it->size = o->size;
        it->mtime = o->update_ms;
        snprintf(it->file_hash, sizeof it->file_hash, "%s", o->file_hash);
    }
    L->n++;
    if (is_prefix)
        L->last_cp = it->key;
    return 0;
}

/*
 * One key in order. Returns 0, STOP, an error, or (through *cp_len > 0)
 * the length of a common prefix the key folded into, past which the caller
 * may jump.
 */
static int visit(lister *L, const char *key, size_t kl, const jcs_meta_object *o, size_t *cp_len)
{
    *cp_len = 0;
    if (!starts(key, kl, L->prefix, L->plen))
        return 0;
    if (L->dlen) {
        const char *d = NULL;
        for (size_t i = L->plen; i + L->dlen <= kl && !d; i++)
            if (memcmp(key + i, L->delim, L->dlen) == 0)
                d = key + i;
        if (d) {
            size_t cl = (size_t)(d - key) + L->dlen;
            *cp_len = cl;
            if (L->mlen && bcmp_(key, cl, L->marker, L->mlen) <= 0)
                return 0;
            if (L->last_cp && strlen(L->last_cp) == cl && memcmp(L->last_cp, key, cl) == 0)
                return 0;
            return emit(L, key, cl, 1, NULL);
        }
    }
    if (L->mlen && bcmp_(key, kl, L->marker, L->mlen) <= 0)
        return 0;
    return emit(L, key, kl, 0, o);
}

/* ---- the root package, read page by page ---- */

typedef struct rootcur {
    int64_t pkg;
    jcs_meta_listing l;
    size_t i;
    int done;
    char *token;
} rootcur;

static int root_fill(lister *L, rootcur *rc)
{
    while (!rc->done && rc->i >= rc->l.objects.n) {
        jcs_meta_listing_clear(&rc->l);
        rc->i = 0;
        jcs_meta_list_query q = {.package_id = rc->pkg,
                                 .path = "",
                                 .is_prefix = 1,
                                 .max_keys =
                                     (int)(L->max - L->n + 1 > 1000 ? 1000 : L->max - L->n + 1),
                                 .continuation_token = rc->token};
        /* Root keys hold no '/': a prefix with one matches none of them. */
        if (memchr(L->prefix, '/', L->plen)) {
            rc->done = 1;
            break;
        }
        char pfx[1025];
        snprintf(pfx, sizeof pfx, "%.*s", (int)L->plen, L->prefix);
        q.path = pfx;
        int e = jcs_meta_object_list_by_path(L->r->svc->db, &q, &rc->l);
        if (e)
            return e;
        jcs_free(rc->token);
        rc->token = rc->l.next_token ? jcs_strdup(rc->l.next_token) : NULL;
        if (!rc->token)
            rc->done = 1;
    }
    return 0;
}

/* Visits root keys that sort before bound (all of them when bound is NULL). */
static int root_until(lister *L, rootcur *rc, const char *bound)
{
    if (!rc->pkg)
        return 0;
    for (;;) {
        int e = root_fill(L, rc);
        if (e)
            return e;
        if (rc->i >= rc->l.objects.n)
            return 0;
        const jcs_meta_object *o = &rc->l.objects.v[rc->i];
        size_t kl = strlen(o->path);
        if (bound && bcmp_(o->path, kl, bound, strlen(bound)) >= 0)
            return 0;
        rc->i++;
        if (memchr(o->path, '/', kl))
            continue; /* written through REST with a '/': no S3 key names it */
        size_t cl;
        if ((e = visit(L, o->path, kl, o, &cl)) != 0)
            return e;
    }
}

/* ---- one package ---- */

static int package_keys(lister *L, const jcs_meta_package *p)
{
    char K[260];
    int kl = snprintf(K, sizeof K, "%s/", p->name);
    /* Nothing of this package can match the prefix. */
    if (!starts(K, (size_t)kl, L->prefix, L->plen < (size_t)kl ? L->plen : (size_t)kl))
        return 0;
    /* Every key of the package is at or before the cursor. */
    if (L->mlen && bcmp_(L->marker, L->mlen, K, (size_t)kl) > 0 &&
        !starts(L->marker, L->mlen, K, (size_t)kl))
        return 0;
    /* The whole package folds into one common prefix. */
    if (L->dlen && L->plen <= (size_t)kl) {
        for (size_t i = L->plen; i + L->dlen <= (size_t)kl; i++)
            if (memcmp(K + i, L->delim, L->dlen) == 0) {
                size_t cl;
                return visit(L, K, (size_t)kl, NULL, &cl);
            }
    }
    const char *rel = L->plen > (size_t)kl ? L->prefix + kl : "";
    char relbuf[1025];
    snprintf(relbuf, sizeof relbuf, "%.*s", (int)(L->plen > (size_t)kl ? L->plen - kl : 0), rel);
    int slash_delim = L->dlen == 1 && L->delim[0] == '/';
    char *token = NULL;
    if (L->mlen && starts(L->marker, L->mlen, K, (size_t)kl) && L->mlen > (size_t)kl) {
        char m[1025];
        snprintf(m, sizeof m, "%.*s", (int)(L->mlen - kl), L->marker + kl);
        if (!(token = jcs_meta_list_token(0, m)))
            return JCS_ENOMEM;
    }
    int e = 0;
    char full[1300];
    for (;;) {
        jcs_meta_list_query q = {.package_id = p->package_id,
                                 .path = relbuf,
                                 .is_prefix = 1,
                                 .no_recursive = slash_delim,
                                 .max_keys =
                                     (int)(L->max - L->n + 1 > 1000 ? 1000 : L->max - L->n + 1),
                                 .continuation_token = token};
        jcs_meta_listing l;
        if ((e = jcs_meta_object_list_by_path(L->r->svc->db, &q, &l)) != 0)
            break;
        /* Objects and prefixes each sorted: merge them. */
        size_t oi = 0, pi = 0;
        char *jump = NULL;
        while (!e && (oi < l.objects.n || pi < l.nprefixes)) {
            const char *op = oi < l.objects.n ? l.objects.v[oi].path : NULL;
            const char *pp = pi < l.nprefixes ? l.prefixes[pi] : NULL;
            int take_obj = op && (!pp || strcmp(op, pp) < 0);
            const char *rp = take_obj ? op : pp;
            int n = snprintf(full, sizeof full, "%s%s", K, rp);
            size_t cl = 0;
            e = visit(L, full, (size_t)n, take_obj ? &l.objects.v[oi] : NULL, &cl);
            if (take_obj)
                oi++;
            else
                pi++;
            if (!e && cl && !slash_delim && cl > (size_t)kl) {
                /* Folded by another delimiter: continue after everything under the prefix. */
                char sub[1025];
                snprintf(sub, sizeof sub, "%.*s", (int)(cl - kl), full + kl);
                if (!(jump = jcs_meta_list_token(1, sub)))
                    e = JCS_ENOMEM;
                break;
            }
        }
        char *next = jump ? jump : (l.next_token ? jcs_strdup(l.next_token) : NULL);
        int more = jump || l.next_token;
        jcs_meta_listing_clear(&l);
        jcs_free(token);
        token = next;
        if (e || !more)
            break;
        if (!token) {
            e = JCS_ENOMEM;
            break;
        }
    }
    jcs_free(token);
    return e;
}

static int cmp_pkg(const void *a, const void *b)
{
    const jcs_meta_package *x = a, *y = b;
    /* By "name/": '/' sorts after '-' and '.', so plain name order would be wrong. */
    char kx[260], ky[260];
    snprintf(kx, sizeof kx, "%s/", x->name);
    snprintf(ky, sizeof ky, "%s/", y->name);
    return strcmp(kx, ky);
}

static int run(lister *L, int64_t bucket_id)
{
    jcs_meta_packages pk;
    int e = jcs_meta_package_list(L->r->svc->db, bucket_id, &pk);
    if (e)
        return e;
    rootcur rc;
    memset(&rc, 0, sizeof rc);
    jcs_meta_package *v = pk.v;
    size_t n = 0;
    for (size_t i = 0; i < pk.n; i++) {
        if (strcmp(pk.v[i].name, L->r->gw->conf.root_package) == 0) {
            /* Only its id is needed: the root keys are listed by id. */
            rc.pkg = pk.v[i].package_id;
            jcs_meta_package_clear(&pk.v[i]);
        } else if (!jcs_s3gw_reserved_package(L->r->gw, pk.v[i].name))
            v[n++] = pk.v[i];
        else
            jcs_meta_package_clear(&pk.v[i]);
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_pkg);
    /* A cursor within the root range: the root listing starts after it. */
    if (rc.pkg && L->mlen && L->mlen <= JCS_META_PATH_MAX) {
        char m[JCS_META_PATH_MAX + 1];
        snprintf(m, sizeof m, "%.*s", (int)L->mlen, L->marker);
        if (!(rc.token = jcs_meta_list_token(0, m)))
            e = JCS_ENOMEM;
    }
    for (size_t i = 0; i < n && !e; i++) {
        char K[260];
        snprintf(K, sizeof K, "%s/", v[i].name);
        if ((e = root_until(L, &rc, K)) == 0)
            e = package_keys(L, &v[i]);
    }
    if (!e)
        e = root_until(L, &rc, NULL);
    for (size_t i = 0; i < n; i++)
        jcs_meta_package_clear(&v[i]);
    jcs_free(pk.v);
    jcs_meta_listing_clear(&rc.l);
    jcs_free(rc.token);
    return e == STOP ? 0 : e;
}

/* ---- the reply ---- */

static void elem_key(jcs_s3xml *w, const char *name, const char *v, int url)
{
    if (!url) {
        jcs_s3xml_elem(w, name, v);
        return;
    }
    jcs_buf b;
    jcs_buf_init(&b, 8192);
    if (jcs_sigv4_uri_encode(&b, v, strlen(v), 1) != 0 && !w->rc)
        w->rc = JCS_ENOMEM;
    jcs_s3xml_elemn(w, name, b.data ? b.data : "", b.len);
    jcs_buf_clear(&b);
}

static char *hex_token(const char *s)
{
    static const char hx[] = "0123456789abcdef";
    size_t n = strlen(s);
    char *t = jcs_malloc(2 * n + 2);
    if (!t)
        return NULL;
    t[0] = 't';
    for (size_t i = 0; i < n; i++) {
        t[1 + 2 * i] = hx[(unsigned char)s[i] >> 4];
        t[2 + 2 * i] = hx[(unsigned char)s[i] & 15];
    }
    t[2 * n + 1] = '\0';
    return t;
}

static char *unhex_token(const char *t)
{
    size_t n = strlen(t);
    if (n < 1 || t[0] != 't' || (n - 1) % 2 || (n - 1) / 2 > 2048)
        return NULL;
    char *o = jcs_malloc((n - 1) / 2 + 1);
    if (!o)
        return NULL;
    for (size_t i = 0; i < (n - 1) / 2; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = t[1 + 2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) {
                jcs_free(o);
                return NULL;
            }
            v = v * 16 + d;
        }
        o[i] = (char)v;
        if (!o[i]) {
            jcs_free(o);
            return NULL;
        }
    }
    o[(n - 1) / 2] = '\0';
    return o;
}

int jcs_s3gw_list_objects(s3req *r, int v2)
{
    jcs_meta_bucket b;
    int rc = jcs_s3gw_bucket(r, r->bucket, &b);
    if (rc)
        return rc;
    const char *prefix = jcs_s3gw_query(r, "prefix");
    const char *delim = jcs_s3gw_query(r, "delimiter");
    const char *mk = jcs_s3gw_query(r, "max-keys");
    const char *enc = jcs_s3gw_query(r, "encoding-type");
    const char *marker = v2 ? NULL : jcs_s3gw_query(r, "marker");
    const char *ctoken = v2 ? jcs_s3gw_query(r, "continuation-token") : NULL;
    const char *start_after = v2 ? jcs_s3gw_query(r, "start-after") : NULL;
    const char *fo = jcs_s3gw_query(r, "fetch-owner");
    int url = 0, owner = !v2 || (fo && strcmp(fo, "true") == 0);
    long max = 1000;
    char *cursor = NULL;
    if (mk) {
        char *e;
        max = strtol(mk, &e, 10);
        if (!*mk || *e || max < 0)
            rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                               "max-keys \"%.40s\" is not a "
                               "non-negative integer",
                               mk);
        if (max > 1000)
            max = 1000;
    }
    if (!rc && enc) {
        if (strcmp(enc, "url") != 0)
            rc = jcs_s3err_set(JCS_S3E_InvalidArgument,
                               "Invalid Encoding Method specified in "
                               "Request (encoding-type \"%.40s\")",
                               enc);
        url = 1;
    }
    if (!rc && ctoken && !(cursor = unhex_token(ctoken)))
        rc = jcs_s3err_set(JCS_S3E_InvalidArgument, "The continuation token provided is incorrect");
    if (!rc && !cursor && (marker || start_after) &&
        !(cursor = jcs_strdup(marker ? marker : start_after)))
        rc = JCS_ENOMEM;
    lister L;
    memset(&L, 0, sizeof L);
    L.r = r;
    L.prefix = prefix ? prefix : "";
    L.plen = strlen(L.prefix);
    L.delim = delim ? delim : "";
    L.dlen = strlen(L.delim);
    L.marker = cursor ? cursor : "";
    L.mlen = strlen(L.marker);
    L.max = (size_t)max;
    if (!rc && max > 0 && !(L.v = jcs_calloc((size_t)max, sizeof *L.v)))
        rc = JCS_ENOMEM;
    if (!rc && max > 0)
        rc = run(&L, b.bucket_id);
    /* ETags of the page's objects. */
    int64_t *ids = NULL;
    jcs_s3meta *ms = NULL;
    size_t nobj = 0;
    if (!rc && L.n) {
        ids = jcs_calloc(L.n, sizeof *ids);
        ms = jcs_calloc(L.n, sizeof *ms);
        if (!ids || !ms)
            rc = JCS_ENOMEM;
        for (size_t i = 0; !rc && i < L.n; i++)
            if (!L.v[i].is_prefix)
                ids[nobj++] = L.v[i].object_id;
        if (!rc && nobj)
            rc = jcs_s3meta_get_many(r->svc->db, ids, nobj, ms);
    }
    jcs_buf x;
    jcs_buf_init(&x, S3GW_REPLY_MAX);
    if (!rc) {
        jcs_s3xml w;
        jcs_s3xml_init(&w, &x);
        jcs_s3xml_open_ns(&w, "ListBucketResult");
        jcs_s3xml_elem(&w, "Name", r->bucket);
        elem_key(&w, "Prefix", L.prefix, url);
        if (v2) {
            if (start_after)
                elem_key(&w, "StartAfter", start_after, url);
            if (ctoken)
                jcs_s3xml_elem(&w, "ContinuationToken", ctoken);
        } else {
            elem_key(&w, "Marker", marker ? marker : "", url);
        }
        jcs_s3xml_elem_int(&w, "MaxKeys", max);
        if (delim)
            elem_key(&w, "Delimiter", delim, url);
        if (url)
            jcs_s3xml_elem(&w, "EncodingType", "url");
        jcs_s3xml_elem(&w, "IsTruncated", L.truncated ? "true" : "false");
        if (v2)
            jcs_s3xml_elem_int(&w, "KeyCount", (long long)L.n);
        if (L.truncated && L.n) {
            const char *last = L.v[L.n - 1].key;
            if (v2) {
                char *t = hex_token(last);
                if (!t && !w.rc)
                    w.rc = JCS_ENOMEM;
                jcs_s3xml_elem(&w, "NextContinuationToken", t ? t : "");
                jcs_free(t);
            } else {
                elem_key(&w, "NextMarker", last, url);
            }
        }
        size_t k = 0;
        for (size_t i = 0; i < L.n; i++) {
            if (L.v[i].is_prefix)
                continue;
            jcs_meta_object o;
            memset(&o, 0, sizeof o);
            o.object_id = L.v[i].object_id;
            snprintf(o.file_hash, sizeof o.file_hash, "%s", L.v[i].file_hash);
            char etag[90], lm[40];
            jcs_s3gw_etag(&o, ms[k].object_id ? &ms[k] : NULL, etag);
            k++;
            jcs_s3gw_iso_date(L.v[i].mtime, lm);
            jcs_s3xml_open(&w, "Contents");
            elem_key(&w, "Key", L.v[i].key, url);
            jcs_s3xml_elem(&w, "LastModified", lm);
            jcs_s3xml_elem(&w, "ETag", etag);
            jcs_s3xml_elem_int(&w, "Size", L.v[i].size);
            if (owner) {
                jcs_s3xml_open(&w, "Owner");
                jcs_s3xml_elem(&w, "ID", "jcs");
                jcs_s3xml_elem(&w, "DisplayName", "jcs");
                jcs_s3xml_close(&w, "Owner");
            }
            jcs_s3xml_elem(&w, "StorageClass", "STANDARD");
            jcs_s3xml_close(&w, "Contents");
        }
        for (size_t i = 0; i < L.n; i++) {
            if (!L.v[i].is_prefix)
                continue;
            jcs_s3xml_open(&w, "CommonPrefixes");
            elem_key(&w, "Prefix", L.v[i].key, url);
            jcs_s3xml_close(&w, "CommonPrefixes");
        }
        jcs_s3xml_close(&w, "ListBucketResult");
        rc = jcs_s3xml_finish(&w);
    }
    if (!rc)
        rc = jcs_s3gw_reply_xml(r, 200, &x);
    jcs_buf_clear(&x);
    for (size_t i = 0; i < nobj && ms; i++)
        jcs_s3meta_clear(&ms[i]);
    jcs_free(ms);
    jcs_free(ids);
    for (size_t i = 0; i < L.n; i++)
        jcs_free(L.v[i].key);
    jcs_free(L.v);
    jcs_free(cursor);
    jcs_meta_bucket_clear(&b);
    return rc;
}
