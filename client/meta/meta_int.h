/*
 * meta_int.h - what the files of client/meta/ share, internal to them: the
 * limits and quoting macros, reading result cells, the input checks, the
 * existence checks that lock a parent row, the object row shape, and the
 * row-list helpers. Each meta_*.c file holds one entity (or one concern of
 * the object entity); meta.h is the contract.
 */
#ifndef JCS_META_INT_H
#define JCS_META_INT_H

#include "meta.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "buf.h"
#include "util.h"

#define QUOTE_MAX   200       /* bytes of a name or path quoted in a message */
#define CHUNK       32        /* ids bound per IN (...) statement */
#define BLOCKS_MAX  1000000   /* block rows one call reads */
#define STORAGE_MAX (1 << 20) /* bytes of a storage JSON */
#define STATE_MAX   32        /* bytes of a space state */
#define LL(x)       ((long long)(x))
#define Q(s)        (int)(strlen(s) > QUOTE_MAX ? QUOTE_MAX : strlen(s)), (s)

#define P4  "?,?,?,?"
#define P16 P4 "," P4 "," P4 "," P4
#define P32 "(" P16 "," P16 ")"

#define OBJ_COLS                                                                                   \
    "o.objectID, o.packageID, o.path, o.size, o.fileHash, o.redundancy, o.createTime, "            \
    "o.updateTime"
#define OBJ_NCOLS 8

/* ---- result cells ---------------------------------------------------------------------------- */

static inline int64_t cell_i(const jcs_db_result *r, size_t row, size_t col)
{
    const jcs_db_val *v = jcs_db_cell(r, row, col);
    switch (v->type) {
    case JCS_DB_INT:
        return v->i;
    case JCS_DB_DOUBLE:
        return (int64_t)v->d;
    case JCS_DB_TEXT:
    case JCS_DB_BLOB:
        return strtoll(v->s, NULL, 10);
    default:
        return 0;
    }
}

static inline double cell_d(const jcs_db_result *r, size_t row, size_t col)
{
    const jcs_db_val *v = jcs_db_cell(r, row, col);
    switch (v->type) {
    case JCS_DB_INT:
        return (double)v->i;
    case JCS_DB_DOUBLE:
        return v->d;
    case JCS_DB_TEXT:
    case JCS_DB_BLOB:
        return strtod(v->s, NULL);
    default:
        return 0;
    }
}

/* Takes a text cell out of r (NULL for SQL NULL): the caller owns it, r no longer frees it. */
static inline char *cell_take(jcs_db_result *r, size_t row, size_t col)
{
    jcs_db_val *v = &r->cells[row * r->ncols + col];
    if (v->type != JCS_DB_TEXT && v->type != JCS_DB_BLOB)
        return NULL;
    char *s = (char *)v->s;
    v->s = NULL;
    v->type = JCS_DB_NULL;
    return s;
}

/* Copies a text cell into buf (cap bytes with the NUL); "" for NULL. */
static inline void cell_copy(const jcs_db_result *r, size_t row, size_t col, char *buf, size_t cap)
{
    const jcs_db_val *v = jcs_db_cell(r, row, col);
    if (v->type == JCS_DB_TEXT || v->type == JCS_DB_BLOB)
        snprintf(buf, cap, "%s", v->s);
    else
        buf[0] = '\0';
}

static inline const jcs_db_val *cell(const jcs_db_result *r, size_t row, size_t col)
{
    return jcs_db_cell(r, row, col);
}

/* ---- statements ------------------------------------------------------------------------------ */

static inline int query(jcs_db_conn *c, const char *sql, const jcs_db_val *p, size_t n, size_t max,
                        jcs_db_result **out)
{
    return jcs_db_query(c, sql, p, n, max, out);
}

static inline int exec(jcs_db_conn *c, const char *sql, const jcs_db_val *p, size_t n,
                       uint64_t *affected, uint64_t *id)
{
    return jcs_db_exec(c, sql, p, n, affected, id);
}

/* Spaces already checked in this run of a transaction, so a batch asks once per space. */
struct space_seen {
    int64_t *v;
    size_t n, cap;
};

/*
 * Ends a public call: on an error the output is emptied (a failed last run
 * of a transaction may have filled part of it). The clear functions take NULL.
 */
#define FINISH(call, clear, out)                                                                   \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_)                                                                                   \
            clear(out);                                                                            \
        return rc_;                                                                                \
    } while (0)

/*
 * Empties a row list ({v, n} of a jcs_meta_* list type): clears every
 * element with clear (META_NO_CLEAR when elements own nothing), frees the
 * array and zeroes v and n. The public *_free functions of list types are
 * this one line.
 */
#define META_NO_CLEAR(e) ((void)(e))
#define META_ROWS_FREE(l, clear)                                                                   \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (l)->n; i_++)                                                     \
            clear(&(l)->v[i_]);                                                                    \
        jcs_free((l)->v);                                                                          \
        (l)->v = NULL;                                                                             \
        (l)->n = 0;                                                                                \
    } while (0)

/*
 * Fills one element of a row list from row `row` of r (it may take cells
 * out of r with cell_take); ctx is the caller's. JCS_OK, or an error that
 * stops the list.
 */
typedef int (*meta_row_fn)(jcs_db_result *r, size_t row, void *elem, void *ctx);

/*
 * The one "query, allocate, fill from each row" loop of every list read:
 * runs sql (at most max rows) and makes *list (the address of a list's
 * element pointer) an array of one element of elsize bytes per row (NULL
 * for none), each filled by from_row; *n counts the elements filled, also
 * after an error, so the list's free function empties what was filled.
 */
int meta_query_rows(jcs_db_conn *c, const char *sql, const jcs_db_val *p, size_t np, size_t max,
                    void *list, size_t *n, size_t elsize, meta_row_fn from_row, void *ctx);

/* ---- shared helpers (meta.c, meta_object.c) -------------------------------------------------- */

/* A name or path: not empty, at most max bytes, valid UTF-8. what names it in the detail. */
int meta_check_text(const char *what, const char *s, size_t max);

int meta_check_path(const char *path);

/* JSON text that is an object with a non-empty string "type" (redundancy, storage). */
int meta_check_typed_json(const char *what, const char *s);

/* 1 when a redundancy JSON is that of an open multipart upload. */
int meta_is_multipart(const char *redundancy);

int meta_check_blocks(const char *what, const jcs_meta_block *b, size_t n);

int meta_check_count(const char *what, const void *p, size_t n);

int meta_oom(void);

/* Grows *v (elements of elsize) to hold need; new room is zeroed. */
int meta_grow(void *vp, size_t *cap, size_t need, size_t elsize);

/* Whether a row exists: sql takes one id and returns at most one row. */
int meta_exists(jcs_db_conn *c, const char *sql, int64_t id, int *yes);

/* The bucket exists (share-locked until the end of the transaction), else JCS_ENOENT. */
int meta_need_bucket(jcs_db_conn *c, int64_t id);

int meta_need_package(jcs_db_conn *c, int64_t id);

int meta_need_space(jcs_db_conn *c, int64_t id, struct space_seen *seen);

int meta_insert_blocks(jcs_db_conn *c, int64_t object_id, const jcs_meta_block *b, size_t n,
                       struct space_seen *seen);

int meta_object_from_row(jcs_db_result *r, size_t row, jcs_meta_object *o);

/* The object with this id into out (cleared first); lock: FOR UPDATE. JCS_ENOENT. */
int meta_load_object(jcs_db_conn *c, int64_t id, int lock, jcs_meta_object *out);

/* The id of the object at (package, path), 0 when none; lock: FOR UPDATE. */
int meta_find_path(jcs_db_conn *c, int64_t package_id, const char *path, size_t len, int lock,
                   int64_t *id);

/* Appends the objects of a result to l (cap: its allocated slots). */
int meta_append_objects(jcs_db_result *r, jcs_meta_objects *l, size_t *cap);

/*
 * Spreads block rows (objectID, index, userSpaceID, fileHash, size; ordered
 * by objectID) over details d[0..n) (ordered by object id).
 */
int meta_spread_blocks(jcs_db_result *r, jcs_meta_detail *d, size_t n);

/* Same for pin rows (objectID, userSpaceID). */
int meta_spread_pins(jcs_db_result *r, jcs_meta_detail *d, size_t n);

#endif
