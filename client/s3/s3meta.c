/*
 * client/s3/s3meta.c - the s3Object and s3Part tables (s3meta.h).
 */
#include "s3meta.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"

#define IN_CHUNK 100
#define ROWS_MAX 100000

void jcs_s3meta_clear(jcs_s3meta *m)
{
    jcs_free(m->headers);
    jcs_free(m->upload_key);
    memset(m, 0, sizeof *m);
}

int jcs_s3meta_valid(const jcs_s3meta *m, const jcs_meta_object *o)
{
    return m->object_id == o->object_id && m->file_hash[0] &&
           strcmp(m->file_hash, o->file_hash) == 0;
}

static void copy_cell(char *dst, size_t cap, const jcs_db_val *v)
{
    size_t n = v->type == JCS_DB_TEXT || v->type == JCS_DB_BLOB ? v->len : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, v->s, n);
    dst[n] = '\0';
}

static char *dup_cell(const jcs_db_val *v)
{
    if (v->type != JCS_DB_TEXT && v->type != JCS_DB_BLOB)
        return NULL;
    return jcs_strndup(v->s ? v->s : "", v->len);
}

struct put_arg {
    const jcs_s3meta *m;
};

static int put_fn(jcs_db_conn *c, void *arg)
{
    return jcs_s3meta_put_in(c, ((struct put_arg *)arg)->m);
}

int jcs_s3meta_put_in(jcs_db_conn *c, const jcs_s3meta *m)
{
    jcs_db_val p[8] = {
        JCS_DB_I(m->object_id),
        JCS_DB_S(m->file_hash),
        JCS_DB_S(m->etag),
        JCS_DB_S(m->headers ? m->headers : "[]"),
        JCS_DB_S(m->checksum_alg),
        JCS_DB_S(m->checksum),
        m->upload_key ? JCS_DB_B(m->upload_key, strlen(m->upload_key)) : JCS_DB_NULLV,
        m->upload_key ? JCS_DB_S(m->upload_token) : JCS_DB_NULLV,
    };
    return jcs_db_exec(c,
                       "REPLACE INTO s3Object (objectID, fileHash, etag, headers, checksumAlg, "
                       "checksum, uploadKey, uploadToken) VALUES (?,?,?,?,?,?,?,?)",
                       p, 8, NULL, NULL);
}

int jcs_s3meta_put(jcs_db *db, const jcs_s3meta *m)
{
    struct put_arg a = {m};
    int rc = jcs_db_txn(db, put_fn, &a);
    if (rc == JCS_EDB)
        return jcs_err_wrap(rc, "s3Object row of object %lld: ", (long long)m->object_id);
    return rc;
}

#define S3COLS "objectID, fileHash, etag, headers, checksumAlg, checksum, uploadKey, uploadToken"

/* The S3COLS of row, starting at column c0. */
static int cols_to_meta(const jcs_db_result *r, size_t row, size_t c0, jcs_s3meta *m)
{
    memset(m, 0, sizeof *m);
    m->object_id = jcs_db_cell(r, row, c0)->i;
    copy_cell(m->file_hash, sizeof m->file_hash, jcs_db_cell(r, row, c0 + 1));
    copy_cell(m->etag, sizeof m->etag, jcs_db_cell(r, row, c0 + 2));
    copy_cell(m->checksum_alg, sizeof m->checksum_alg, jcs_db_cell(r, row, c0 + 4));
    copy_cell(m->checksum, sizeof m->checksum, jcs_db_cell(r, row, c0 + 5));
    copy_cell(m->upload_token, sizeof m->upload_token, jcs_db_cell(r, row, c0 + 7));
    m->headers = dup_cell(jcs_db_cell(r, row, c0 + 3));
    if (!m->headers)
        return JCS_ENOMEM;
    if (jcs_db_cell(r, row, c0 + 6)->type != JCS_DB_NULL &&
        !(m->upload_key = dup_cell(jcs_db_cell(r, row, c0 + 6))))
        return JCS_ENOMEM;
    return JCS_OK;
}

static int row_to_meta(const jcs_db_result *r, size_t row, jcs_s3meta *m)
{
    return cols_to_meta(r, row, 0, m);
}

struct find_arg {
    const char *bucket, *package, *path;
    jcs_s3meta_found *out;
};

static int find_fn(jcs_db_conn *c, void *arg)
{
    struct find_arg *a = arg;
    jcs_s3meta_found *f = a->out;
    jcs_s3meta_clear(&f->m);
    memset(f, 0, sizeof *f);
    jcs_db_val p[3] = {JCS_DB_S(a->package), JCS_DB_B(a->path, strlen(a->path)),
                       JCS_DB_S(a->bucket)};
    jcs_db_result *r;
    int rc = jcs_db_query(c,
                          "SELECT b.bucketID, p.packageID, o.objectID, o.fileHash, s.objectID, "
                          "s.fileHash, s.etag, s.headers, s.checksumAlg, s.checksum, s.uploadKey, "
                          "s.uploadToken FROM bucket b"
                          " LEFT JOIN package p ON p.bucketID = b.bucketID AND p.name = ?"
                          " LEFT JOIN object o ON o.packageID = p.packageID AND o.path = ?"
                          " LEFT JOIN s3Object s ON s.objectID = o.objectID WHERE b.name = ?",
                          p, 3, 2, &r);
    if (rc)
        return rc;
    if (r->nrows == 0) {
        jcs_db_result_free(r);
        return JCS_ENOENT;
    }
    f->bucket_id = jcs_db_cell(r, 0, 0)->i;
    f->package_id = jcs_db_cell(r, 0, 1)->i;
    f->object_id = jcs_db_cell(r, 0, 2)->i;
    copy_cell(f->file_hash, sizeof f->file_hash, jcs_db_cell(r, 0, 3));
    if (jcs_db_cell(r, 0, 4)->type != JCS_DB_NULL)
        rc = cols_to_meta(r, 0, 4, &f->m);
    jcs_db_result_free(r);
    return rc;
}

int jcs_s3meta_find(jcs_db *db, const char *bucket, const char *package, const char *path,
                    jcs_s3meta_found *out)
{
    memset(out, 0, sizeof *out);
    struct find_arg a = {bucket, package, path, out};
    int rc = jcs_db_with(db, find_fn, &a);
    if (rc) {
        jcs_s3meta_clear(&out->m);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

struct get_arg {
    const int64_t *ids;
    size_t n;
    jcs_s3meta *out;
};

static int get_fn(jcs_db_conn *c, void *arg)
{
    struct get_arg *a = arg;
    for (size_t i = 0; i < a->n; i++)
        jcs_s3meta_clear(&a->out[i]);
    int rc = JCS_OK;
    for (size_t off = 0; off < a->n && !rc; off += IN_CHUNK) {
        size_t k = a->n - off < IN_CHUNK ? a->n - off : IN_CHUNK;
        char sql[128 + IN_CHUNK * 2];
        size_t l = (size_t)snprintf(sql, sizeof sql,
                                    "SELECT " S3COLS " FROM s3Object WHERE objectID IN (");
        for (size_t i = 0; i < k; i++)
            l += (size_t)snprintf(sql + l, sizeof sql - l, i ? ",?" : "?");
        snprintf(sql + l, sizeof sql - l, ")");
        jcs_db_val p[IN_CHUNK];
        for (size_t i = 0; i < k; i++)
            p[i] = JCS_DB_I(a->ids[off + i]);
        jcs_db_result *r;
        if ((rc = jcs_db_query(c, sql, p, k, IN_CHUNK, &r)) != 0)
            break;
        for (size_t row = 0; row < r->nrows && !rc; row++) {
            int64_t id = jcs_db_cell(r, row, 0)->i;
            for (size_t i = 0; i < k && !rc; i++)
                if (a->ids[off + i] == id && a->out[off + i].object_id == 0)
                    rc = row_to_meta(r, row, &a->out[off + i]);
        }
        jcs_db_result_free(r);
    }
    return rc;
}

int jcs_s3meta_get_many(jcs_db *db, const int64_t *ids, size_t n, jcs_s3meta *out)
{
    memset(out, 0, n * sizeof *out);
    struct get_arg a = {ids, n, out};
    int rc = n ? jcs_db_with(db, get_fn, &a) : JCS_OK;
    if (rc)
        for (size_t i = 0; i < n; i++)
            jcs_s3meta_clear(&out[i]);
    return rc;
}

int jcs_s3meta_get(jcs_db *db, int64_t object_id, jcs_s3meta *out)
{
    int rc = jcs_s3meta_get_many(db, &object_id, 1, out);
    if (!rc && out->object_id == 0)
        return JCS_ENOENT;
    return rc;
}

/* ---- parts ---- */

void jcs_s3meta_parts_free(jcs_s3meta_parts *l)
{
    jcs_free(l->v);
    memset(l, 0, sizeof *l);
}

struct part_arg {
    int64_t id;
    const jcs_s3meta_part *p;
};

static int part_put_fn(jcs_db_conn *c, void *arg)
{
    struct part_arg *a = arg;
    const jcs_s3meta_part *pp = a->p;
    jcs_db_val p[8] = {JCS_DB_I(a->id),         JCS_DB_I(pp->part_number),
                       JCS_DB_S(pp->etag),      JCS_DB_I(pp->size),
                       JCS_DB_S(pp->file_hash), JCS_DB_S(pp->checksum_alg),
                       JCS_DB_S(pp->checksum),  JCS_DB_I(pp->update_ms)};
    return jcs_db_exec(c,
                       "REPLACE INTO s3Part (objectID, partNumber, etag, size, fileHash, "
                       "checksumAlg, checksum, updateTime) VALUES (?,?,?,?,?,?,?,?)",
                       p, 8, NULL, NULL);
}

int jcs_s3meta_part_put_in(jcs_db_conn *c, int64_t object_id, const jcs_s3meta_part *p)
{
    struct part_arg a = {object_id, p};
    return part_put_fn(c, &a);
}

int jcs_s3meta_part_put(jcs_db *db, int64_t object_id, const jcs_s3meta_part *p)
{
    struct part_arg a = {object_id, p};
    return jcs_db_txn(db, part_put_fn, &a);
}

struct parts_arg {
    int64_t id;
    int after;
    size_t max;
    jcs_s3meta_parts *out;
};

static int parts_fn(jcs_db_conn *c, void *arg)
{
    struct parts_arg *a = arg;
    jcs_s3meta_parts_free(a->out);
    jcs_db_val p[3] = {JCS_DB_I(a->id), JCS_DB_I(a->after),
                       JCS_DB_I(a->max ? (int64_t)a->max : ROWS_MAX)};
    jcs_db_result *r;
    int rc = jcs_db_query(c,
                          "SELECT partNumber, etag, size, fileHash, checksumAlg, checksum, "
                          "updateTime FROM s3Part WHERE objectID = ? AND partNumber > ? "
                          "ORDER BY partNumber LIMIT ?",
                          p, 3, ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(a->out->v = jcs_calloc(r->nrows, sizeof *a->out->v)))
        rc = JCS_ENOMEM;
    for (size_t row = 0; !rc && row < r->nrows; row++) {
        jcs_s3meta_part *pp = &a->out->v[row];
        pp->part_number = (int)jcs_db_cell(r, row, 0)->i;
        copy_cell(pp->etag, sizeof pp->etag, jcs_db_cell(r, row, 1));
        pp->size = jcs_db_cell(r, row, 2)->i;
        copy_cell(pp->file_hash, sizeof pp->file_hash, jcs_db_cell(r, row, 3));
        copy_cell(pp->checksum_alg, sizeof pp->checksum_alg, jcs_db_cell(r, row, 4));
        copy_cell(pp->checksum, sizeof pp->checksum, jcs_db_cell(r, row, 5));
        pp->update_ms = jcs_db_cell(r, row, 6)->i;
        a->out->n = row + 1;
    }
    jcs_db_result_free(r);
    return rc;
}

int jcs_s3meta_parts_list(jcs_db *db, int64_t object_id, int after, size_t max,
                          jcs_s3meta_parts *out)
{
    memset(out, 0, sizeof *out);
    struct parts_arg a = {object_id, after, max, out};
    int rc = jcs_db_with(db, parts_fn, &a);
    if (rc)
        jcs_s3meta_parts_free(out);
    return rc;
}

/* ---- uploads ---- */

void jcs_s3meta_uploads_free(jcs_s3meta_uploads *l)
{
    for (size_t i = 0; i < l->n; i++)
        jcs_free(l->v[i].key);
    jcs_free(l->v);
    memset(l, 0, sizeof *l);
}

struct uploads_arg {
    int64_t pkg;
    const char *prefix, *key_marker;
    int64_t id_marker;
    size_t max;
    jcs_s3meta_uploads *out;
};

static int uploads_fn(jcs_db_conn *c, void *arg)
{
    struct uploads_arg *a = arg;
    jcs_s3meta_uploads_free(a->out);
    size_t plen = strlen(a->prefix), mlen = strlen(a->key_marker);
    char upper[1200];
    if (plen + 1 > sizeof upper)
        return jcs_err_set(JCS_EINVAL, "prefix too long");
    memcpy(upper, a->prefix, plen);
    upper[plen] = (char)0xff;
    jcs_db_val p[8] = {JCS_DB_I(a->pkg),
                       JCS_DB_B(a->prefix, plen),
                       JCS_DB_B(upper, plen + 1),
                       JCS_DB_B(a->key_marker, mlen),
                       JCS_DB_B(a->key_marker, mlen),
                       JCS_DB_I(a->id_marker),
                       JCS_DB_I(a->max ? (int64_t)a->max : ROWS_MAX)};
    jcs_db_result *r;
    int rc = jcs_db_query(c,
                          "SELECT s.objectID, s.uploadKey, s.uploadToken, o.createTime "
                          "FROM s3Object s JOIN object o ON o.objectID = s.objectID "
                          "WHERE o.packageID = ? AND s.uploadKey IS NOT NULL "
                          "AND s.uploadKey >= ? AND s.uploadKey < ? "
                          "AND (s.uploadKey > ? OR (s.uploadKey = ? AND s.objectID > ?)) "
                          "ORDER BY s.uploadKey, s.objectID LIMIT ?",
                          p, 7, ROWS_MAX, &r);
    if (rc)
        return rc;
    if (r->nrows && !(a->out->v = jcs_calloc(r->nrows, sizeof *a->out->v)))
        rc = JCS_ENOMEM;
    for (size_t row = 0; !rc && row < r->nrows; row++) {
        jcs_s3meta_upload *u = &a->out->v[row];
        u->object_id = jcs_db_cell(r, row, 0)->i;
        if (!(u->key = dup_cell(jcs_db_cell(r, row, 1))))
            rc = JCS_ENOMEM;
        copy_cell(u->token, sizeof u->token, jcs_db_cell(r, row, 2));
        u->create_ms = jcs_db_cell(r, row, 3)->i;
        a->out->n = row + 1;
    }
    jcs_db_result_free(r);
    return rc;
}

int jcs_s3meta_uploads_list(jcs_db *db, int64_t package_id, const char *prefix,
                            const char *key_marker, int64_t id_marker, size_t max,
                            jcs_s3meta_uploads *out)
{
    memset(out, 0, sizeof *out);
    struct uploads_arg a = {
        package_id, prefix ? prefix : "", key_marker ? key_marker : "", id_marker, max, out};
    int rc = jcs_db_with(db, uploads_fn, &a);
    if (rc)
        jcs_s3meta_uploads_free(out);
    return rc;
}
