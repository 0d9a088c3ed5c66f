/*
 * db.c - the pool of MariaDB/MySQL connections behind db.h.
 *
 * Design notes.
 *
 * Pool: a fixed array of connections and a stack of free indexes under one
 * mutex; a thread that finds the stack empty waits on the condition
 * variable. A connection is opened lazily when it is first taken (only the
 * first is opened by jcs_db_open, to check the configuration), so a pool of
 * 8 costs one connection until there is concurrency.
 *
 * Statements: every statement goes through the binary protocol, prepared
 * once per connection and kept in a small cache keyed by the SQL text (hash,
 * then strcmp). When the cache is full the least recently used statement is
 * closed. The text protocol is used only for BEGIN/COMMIT/ROLLBACK and for
 * the DDL of migrations.
 *
 * Lost connections: MYSQL_OPT_RECONNECT stays off, because a silent
 * reconnect in the middle of a transaction would run the rest of it in
 * autocommit mode. Instead an error that means "the connection is gone"
 * marks the connection lost; jcs_db_txn/jcs_db_with then close it (and its
 * cached statements, which died with it), reconnect and run the caller's
 * function again. The first retry is immediate (the usual case is a stale
 * connection to a server that restarted long ago), later ones back off up
 * to one second, for at most RETRY_WINDOW_MS in total.
 */
#include "db.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

#define STMT_CACHE_MAX  64    /* prepared statements kept per connection */
#define SMALL_CELL      256   /* text/blob bytes fetched inline; longer cells are fetched again */
#define PARAMS_INLINE   16    /* parameter binds on the stack; more go to the heap */
#define IO_TIMEOUT_S    60    /* longer than InnoDB's default 50 s lock wait */
#define RETRY_WINDOW_MS 30000 /* how long a lost server is waited for */
#define BACKOFF_MAX_MS  500
#define BUSY_RETRIES    5 /* reruns after a deadlock or lock wait timeout */
#define POOL_MAX        256
#define MIGRATE_LOCK_S  300 /* how long a migration waits for another process's */

struct stmt_slot {
    char *sql;
    uint64_t hash;
    uint64_t used; /* tick of the last use, for LRU eviction */
    MYSQL_STMT *stmt;
};

struct jcs_db_conn {
    jcs_db *db;
    MYSQL *my;           /* NULL while disconnected */
    int lost;            /* an error said the connection is gone */
    int busy;            /* an error was a deadlock or a lock wait timeout */
    int broken;          /* state unknown (a ROLLBACK failed): close it, but do not rerun */
    unsigned last_errno; /* MySQL error number of the last failure, 0 if none */
    uint64_t tick;
    size_t ncache;
    struct stmt_slot cache[STMT_CACHE_MAX];
};

struct jcs_db {
    char host[256];
    int port;
    char *socket; /* NULL for TCP */
    char *user;
    char *password;
    char *database; /* NULL for none */
    char *where;    /* "127.0.0.1:3306" or "unix:/path", for messages */
    unsigned connect_timeout_s;
    int pool_size;
    jcs_db_conn *conns;
    int *free_idx;
    int nfree;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* ---- errors ---------------------------------------------------------------------------------- */

/* The first words of a statement ("INSERT INTO objects"), so a message says which one failed. */
static void sql_head(const char *sql, char *out, size_t cap)
{
    size_t o = 0;
    int words = 0, space = 0;
    if (cap < 8) {
        out[0] = '\0';
        return;
    }
    for (const char *p = sql; *p; p++) {
        int ws = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
        if (ws) {
            space = o > 0;
            continue;
        }
        if (space) {
            /* Four words, or a "(" that opens a column list after the table name, end it. */
            if (words + 1 == 4 || (*p == '(' && words + 1 >= 2))
                break;
            words++;
            out[o++] = ' ';
            space = 0;
        }
        if (*p == '(' && words >= 2)
            break;
        if (o + 4 >= cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

static int is_lost_errno(unsigned e)
{
    switch (e) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_UNKNOWN_HOST:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case ER_CON_COUNT_ERROR:
        return 1;
    default:
        return 0;
    }
}

/*
 * Records the failure of a call on c and returns the jcs code for it. sql
 * (may be NULL) names the statement in the detail line.
 */
static int conn_fail(jcs_db_conn *c, unsigned e, const char *msg, const char *sql)
{
    char head[64] = "";
    int code;
    if (sql)
        sql_head(sql, head, sizeof(head));
    c->last_errno = e;
    if (is_lost_errno(e)) {
        c->lost = 1;
        code = JCS_EUNAVAIL;
    } else if (e == ER_DUP_ENTRY || e == ER_DUP_ENTRY_WITH_KEY_NAME || e == ER_DUP_KEY ||
               e == ER_DUP_UNIQUE) {
        code = JCS_EEXIST;
    } else if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT) {
        c->busy = 1;
        code = JCS_EBUSY;
    } else if (e == CR_OUT_OF_MEMORY) {
        code = JCS_ENOMEM;
    } else {
        code = JCS_EDB;
    }
    return jcs_err_set(code, "database %s: %s%s%s", c->db->where, head, head[0] ? ": " : "",
                       msg && *msg ? msg : "unknown error");
}

static int stmt_fail(jcs_db_conn *c, MYSQL_STMT *st, const char *sql)
{
    return conn_fail(c, mysql_stmt_errno(st), mysql_stmt_error(st), sql);
}

static int my_fail(jcs_db_conn *c, const char *sql)
{
    return conn_fail(c, mysql_errno(c->my), mysql_error(c->my), sql);
}

/* ---- connections ----------------------------------------------------------------------------- */

/* Closes the connection and every statement prepared on it; c can be connected again. */
static void conn_drop(jcs_db_conn *c)
{
    /* mysql_close first: it detaches the statements, so closing them
     * afterwards only frees memory and sends nothing on a dead socket. */
    if (c->my)
        mysql_close(c->my);
    c->my = NULL;
    for (size_t i = 0; i < c->ncache; i++) {
        mysql_stmt_close(c->cache[i].stmt);
        jcs_free(c->cache[i].sql);
    }
    c->ncache = 0;
    c->lost = 0;
    c->busy = 0;
    c->broken = 0;
}

static int conn_connect(jcs_db_conn *c, int with_db)
{
    jcs_db *db = c->db;
    MYSQL *my = mysql_init(NULL);
    if (!my)
        return jcs_err_set(JCS_ENOMEM, "database %s: out of memory", db->where);
    unsigned ct = db->connect_timeout_s, io = IO_TIMEOUT_S, zero = 0;
    unsigned proto = db->socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    my_bool off = 0;
    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &io);
    mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &io);
    mysql_options(my, MYSQL_OPT_RECONNECT, &off);
    mysql_options(my, MYSQL_OPT_LOCAL_INFILE, &zero);
    /* TCP even for "localhost", which the library would otherwise turn into the default socket. */
    mysql_options(my, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(my, db->socket ? "localhost" : db->host, db->user, db->password,
                            with_db ? db->database : NULL, db->socket ? 0 : (unsigned)db->port,
                            db->socket, 0)) {
        unsigned e = mysql_errno(my);
        int code = e == CR_OUT_OF_MEMORY ? JCS_ENOMEM : is_lost_errno(e) ? JCS_EUNAVAIL : JCS_EDB;
        jcs_err_set(code, "database %s: cannot connect: %s", db->where, mysql_error(my));
        c->last_errno = e;
        mysql_close(my);
        return code;
    }
    c->my = my;
    c->lost = 0;
    c->busy = 0;
    c->last_errno = 0;
    return JCS_OK;
}

/* A query over the text protocol: only BEGIN/COMMIT/ROLLBACK and migration DDL. */
static int text_query(jcs_db_conn *c, const char *sql, size_t len)
{
    if (!c->my || c->lost)
        return jcs_err_set(JCS_EUNAVAIL, "database %s: connection lost", c->db->where);
    if (mysql_real_query(c->my, sql, (unsigned long)len) != 0)
        return my_fail(c, sql);
    /* DDL and transaction control return no rows; drain anything anyway. */
    MYSQL_RES *res = mysql_store_result(c->my);
    if (res)
        mysql_free_result(res);
    return JCS_OK;
}

static int text_cmd(jcs_db_conn *c, const char *sql)
{
    return text_query(c, sql, strlen(sql));
}

/* ---- statement cache ------------------------------------------------------------------------- */

static uint64_t sql_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The prepared statement for sql on c, from the cache or prepared now. Borrowed. */
static int get_stmt(jcs_db_conn *c, const char *sql, MYSQL_STMT **out)
{
    if (!c->my || c->lost)
        return jcs_err_set(JCS_EUNAVAIL, "database %s: connection lost", c->db->where);
    uint64_t h = sql_hash(sql);
    for (size_t i = 0; i < c->ncache; i++) {
        if (c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0) {
            c->cache[i].used = ++c->tick;
            *out = c->cache[i].stmt;
            return JCS_OK;
        }
    }
    char *copy = jcs_strdup(sql);
    if (!copy)
        return jcs_err_set(JCS_ENOMEM, "database %s: out of memory", c->db->where);
    MYSQL_STMT *st = mysql_stmt_init(c->my);
    if (!st) {
        jcs_free(copy);
        return my_fail(c, sql);
    }
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0) {
        int rc = stmt_fail(c, st, sql);
        mysql_stmt_close(st);
        jcs_free(copy);
        return rc;
    }
    size_t slot = c->ncache;
    if (slot == STMT_CACHE_MAX) {
        slot = 0;
        for (size_t i = 1; i < c->ncache; i++)
            if (c->cache[i].used < c->cache[slot].used)
                slot = i;
        mysql_stmt_close(c->cache[slot].stmt);
        jcs_free(c->cache[slot].sql);
    } else {
        c->ncache++;
    }
    c->cache[slot] = (struct stmt_slot){.sql = copy, .hash = h, .used = ++c->tick, .stmt = st};
    *out = st;
    return JCS_OK;
}

/* Forgets sql's statement on c (after an error left it in an unknown state). */
static void forget_stmt(jcs_db_conn *c, MYSQL_STMT *st)
{
    for (size_t i = 0; i < c->ncache; i++) {
        if (c->cache[i].stmt == st) {
            mysql_stmt_close(st);
            jcs_free(c->cache[i].sql);
            c->cache[i] = c->cache[--c->ncache];
            return;
        }
    }
}

/* ---- binding and executing ------------------------------------------------------------------- */

/* Binds params to st's markers and executes it. */
static int bind_and_execute(jcs_db_conn *c, MYSQL_STMT *st, const char *sql,
                            const jcs_db_val *params, size_t n)
{
    MYSQL_BIND inline_b[PARAMS_INLINE];
    unsigned long inline_len[PARAMS_INLINE];
    MYSQL_BIND *b = inline_b;
    unsigned long *lens = inline_len;
    char head[64];
    int rc = JCS_OK;

    if (mysql_stmt_param_count(st) != n) {
        sql_head(sql, head, sizeof(head));
        return jcs_err_set(JCS_EINVAL,
                           "database %s: %s: %zu parameters given, the statement has %lu",
                           c->db->where, head, n, mysql_stmt_param_count(st));
    }
    if (n > PARAMS_INLINE) {
        b = jcs_calloc(n, sizeof(*b));
        lens = jcs_calloc(n, sizeof(*lens));
        if (!b || !lens) {
            rc = jcs_err_set(JCS_ENOMEM, "database %s: out of memory", c->db->where);
            goto out;
        }
    } else {
        memset(inline_b, 0, sizeof(inline_b));
    }
    for (size_t i = 0; i < n; i++) {
        const jcs_db_val *v = &params[i];
        switch (v->type) {
        case JCS_DB_NULL:
            b[i].buffer_type = MYSQL_TYPE_NULL;
            break;
        case JCS_DB_INT:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&v->i;
            break;
        case JCS_DB_DOUBLE:
            b[i].buffer_type = MYSQL_TYPE_DOUBLE;
            b[i].buffer = (void *)&v->d;
            break;
        case JCS_DB_TEXT:
        case JCS_DB_BLOB:
            b[i].buffer_type = v->type == JCS_DB_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            b[i].buffer = (void *)(v->s ? v->s : "");
            lens[i] = v->s ? (unsigned long)v->len : 0;
            b[i].buffer_length = lens[i];
            b[i].length = &lens[i];
            break;
        default:
            sql_head(sql, head, sizeof(head));
            rc = jcs_err_set(JCS_EINVAL, "database %s: %s: parameter %zu has unknown type %d",
                             c->db->where, head, i + 1, (int)v->type);
            goto out;
        }
    }
    if (n && mysql_stmt_bind_param(st, b) != 0) {
        rc = stmt_fail(c, st, sql);
        goto out;
    }
    if (mysql_stmt_execute(st) != 0)
        rc = stmt_fail(c, st, sql);
out:
    if (b != inline_b)
        jcs_free(b);
    if (lens != inline_len)
        jcs_free(lens);
    return rc;
}

int jcs_db_exec(jcs_db_conn *c, const char *sql, const jcs_db_val *params, size_t n,
                uint64_t *affected, uint64_t *insert_id)
{
    MYSQL_STMT *st;
    if (!c || !sql || (n && !params))
        return jcs_err_set(JCS_EINVAL, "jcs_db_exec: missing connection, SQL or parameters");
    int rc = get_stmt(c, sql, &st);
    if (rc)
        return rc;
    rc = bind_and_execute(c, st, sql, params, n);
    if (rc)
        return rc;
    if (affected)
        *affected = mysql_stmt_affected_rows(st);
    if (insert_id)
        *insert_id = mysql_stmt_insert_id(st);
    /* A statement that produced rows anyway (a SELECT run through exec): discard them. */
    if (mysql_stmt_field_count(st) > 0) {
        if (mysql_stmt_store_result(st) != 0)
            rc = stmt_fail(c, st, sql);
        mysql_stmt_free_result(st);
    }
    return rc;
}

/* How a result column is fetched. */
struct col {
    enum jcs_db_type type;
    int64_t i;
    double d;
    unsigned long len;
    my_bool is_null;
    my_bool error;
    char small[SMALL_CELL];
};

static enum jcs_db_type col_type(const MYSQL_FIELD *f)
{
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
    case MYSQL_TYPE_BIT:
        return JCS_DB_INT;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return JCS_DB_DOUBLE;
    case MYSQL_TYPE_NULL:
        return JCS_DB_NULL;
    case MYSQL_TYPE_GEOMETRY:
        return JCS_DB_BLOB;
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR:
        /* TEXT and BLOB share these types; the binary collation (63) tells bytes from text. */
        return f->charsetnr == 63 ? JCS_DB_BLOB : JCS_DB_TEXT;
    default:
        /* DECIMAL (exact digits), dates and times, ENUM, SET, JSON: as text. */
        return JCS_DB_TEXT;
    }
}

void jcs_db_result_free(jcs_db_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->cells && i < r->nrows * r->ncols; i++)
        if (r->cells[i].type == JCS_DB_TEXT || r->cells[i].type == JCS_DB_BLOB)
            jcs_free((void *)r->cells[i].s);
    jcs_free(r->cells);
    jcs_free(r);
}

/* Copies the current row of st into cells[0..ncols). */
static int take_row(jcs_db_conn *c, MYSQL_STMT *st, const char *sql, struct col *cols,
                    MYSQL_BIND *b, size_t ncols, jcs_db_val *cells)
{
    for (size_t j = 0; j < ncols; j++) {
        struct col *k = &cols[j];
        jcs_db_val *v = &cells[j];
        if (k->is_null || k->type == JCS_DB_NULL) {
            v->type = JCS_DB_NULL;
            continue;
        }
        v->type = k->type;
        if (k->type == JCS_DB_INT) {
            v->i = k->i;
            continue;
        }
        if (k->type == JCS_DB_DOUBLE) {
            v->d = k->d;
            continue;
        }
        char *p = jcs_malloc((size_t)k->len + 1);
        if (!p) {
            v->type = JCS_DB_NULL;
            return jcs_err_set(JCS_ENOMEM, "database %s: out of memory for a %lu-byte value",
                               c->db->where, k->len);
        }
        if (k->len <= SMALL_CELL) {
            memcpy(p, k->small, k->len);
        } else {
            /* Longer than the inline buffer: fetch the whole value again into its own. */
            unsigned long got = 0;
            my_bool null = 0, err = 0;
            MYSQL_BIND one = {0};
            one.buffer_type = b[j].buffer_type;
            one.buffer = p;
            one.buffer_length = k->len;
            one.length = &got;
            one.is_null = &null;
            one.error = &err;
            if (mysql_stmt_fetch_column(st, &one, (unsigned)j, 0) != 0) {
                jcs_free(p);
                v->type = JCS_DB_NULL;
                return stmt_fail(c, st, sql);
            }
        }
        p[k->len] = '\0';
        v->s = p;
        v->len = k->len;
    }
    return JCS_OK;
}

/* Fetches every stored row of st into a new result. */
static int fetch_all(jcs_db_conn *c, MYSQL_STMT *st, const char *sql, MYSQL_RES *meta,
                     jcs_db_result *r)
{
    size_t ncols = mysql_num_fields(meta);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    struct col *cols = NULL;
    MYSQL_BIND *b = NULL;
    int rc = JCS_OK;

    r->ncols = ncols;
    if (r->nrows && ncols) {
        if (r->nrows > SIZE_MAX / sizeof(jcs_db_val) / ncols)
            return jcs_err_set(JCS_ETOOBIG, "database %s: result too large", c->db->where);
        r->cells = jcs_calloc(r->nrows * ncols, sizeof(jcs_db_val));
        if (!r->cells)
            return jcs_err_set(JCS_ENOMEM, "database %s: out of memory for %zu rows", c->db->where,
                               r->nrows);
    }
    if (!r->nrows || !ncols)
        return JCS_OK;
    cols = jcs_calloc(ncols, sizeof(*cols));
    b = jcs_calloc(ncols, sizeof(*b));
    if (!cols || !b) {
        rc = jcs_err_set(JCS_ENOMEM, "database %s: out of memory", c->db->where);
        goto out;
    }
    for (size_t j = 0; j < ncols; j++) {
        struct col *k = &cols[j];
        k->type = col_type(&fields[j]);
        b[j].is_null = &k->is_null;
        b[j].error = &k->error;
        b[j].length = &k->len;
        switch (k->type) {
        case JCS_DB_INT:
            b[j].buffer_type = MYSQL_TYPE_LONGLONG;
            b[j].buffer = &k->i;
            /* BIGINT UNSIGNED above INT64_MAX comes back wrapped into int64_t. */
            b[j].is_unsigned = (fields[j].flags & UNSIGNED_FLAG) != 0;
            break;
        case JCS_DB_DOUBLE:
            b[j].buffer_type = MYSQL_TYPE_DOUBLE;
            b[j].buffer = &k->d;
            break;
        default:
            b[j].buffer_type = k->type == JCS_DB_BLOB ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
            b[j].buffer = k->small;
            b[j].buffer_length = SMALL_CELL;
            break;
        }
    }
    if (mysql_stmt_bind_result(st, b) != 0) {
        rc = stmt_fail(c, st, sql);
        goto out;
    }
    for (size_t row = 0; row < r->nrows; row++) {
        int f = mysql_stmt_fetch(st);
        if (f == MYSQL_NO_DATA) {
            r->nrows = row; /* fewer than announced: keep what came */
            break;
        }
        if (f == 1) {
            rc = stmt_fail(c, st, sql);
            r->nrows = row;
            goto out;
        }
        /* MYSQL_DATA_TRUNCATED is expected: long cells are fetched again in take_row. */
        rc = take_row(c, st, sql, cols, b, ncols, &r->cells[row * ncols]);
        if (rc) {
            r->nrows = row + 1;
            goto out;
        }
    }
out:
    jcs_free(cols);
    jcs_free(b);
    return rc;
}

int jcs_db_query(jcs_db_conn *c, const char *sql, const jcs_db_val *params, size_t n,
                 size_t max_rows, jcs_db_result **out)
{
    MYSQL_STMT *st;
    char head[64];
    if (!c || !sql || !out || (n && !params))
        return jcs_err_set(JCS_EINVAL, "jcs_db_query: missing connection, SQL, parameters or out");
    *out = NULL;
    int rc = get_stmt(c, sql, &st);
    if (rc)
        return rc;
    jcs_db_result *r = jcs_calloc(1, sizeof(*r));
    if (!r)
        return jcs_err_set(JCS_ENOMEM, "database %s: out of memory", c->db->where);
    rc = bind_and_execute(c, st, sql, params, n);
    if (rc) {
        jcs_free(r);
        return rc;
    }
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    if (!meta) {
        /* No result set (an UPDATE through query): an empty result, unless it was an error. */
        if (mysql_stmt_errno(st))
            rc = stmt_fail(c, st, sql);
        if (rc) {
            jcs_free(r);
            return rc;
        }
        *out = r;
        return JCS_OK;
    }
    if (mysql_stmt_store_result(st) != 0) {
        rc = stmt_fail(c, st, sql);
        goto fail;
    }
    uint64_t rows = mysql_stmt_num_rows(st);
    if (rows > max_rows) {
        sql_head(sql, head, sizeof(head));
        rc = jcs_err_set(JCS_ETOOBIG, "database %s: %s: %llu rows, more than the %zu allowed",
                         c->db->where, head, (unsigned long long)rows, max_rows);
        goto fail;
    }
    r->nrows = (size_t)rows;
    rc = fetch_all(c, st, sql, meta, r);
    if (rc)
        goto fail;
    mysql_free_result(meta);
    mysql_stmt_free_result(st);
    *out = r;
    return JCS_OK;
fail:
    mysql_free_result(meta);
    mysql_stmt_free_result(st);
    jcs_db_result_free(r);
    if (c->lost)
        return rc;
    /* Leave no half-read statement in the cache. */
    if (rc != JCS_ETOOBIG && rc != JCS_ENOMEM)
        forget_stmt(c, st);
    return rc;
}

/* ---- pool and retries ------------------------------------------------------------------------ */

static jcs_db_conn *pool_get(jcs_db *db)
{
    pthread_mutex_lock(&db->mu);
    while (db->nfree == 0)
        pthread_cond_wait(&db->cv, &db->mu);
    jcs_db_conn *c = &db->conns[db->free_idx[--db->nfree]];
    pthread_mutex_unlock(&db->mu);
    return c;
}

static void pool_put(jcs_db *db, jcs_db_conn *c)
{
    pthread_mutex_lock(&db->mu);
    db->free_idx[db->nfree++] = (int)(c - db->conns);
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

/* Keeps an error's detail line across calls that may overwrite it (a ROLLBACK). */
struct saved_err {
    int rc;
    char msg[1024];
};

static void save_err(struct saved_err *s, int rc)
{
    s->rc = rc;
    snprintf(s->msg, sizeof(s->msg), "%s", jcs_err_msg(rc));
}

static int restore_err(const struct saved_err *s)
{
    return jcs_err_set(s->rc, "%s", s->msg);
}

/* One run of fn on a connected c; *committing tells whether COMMIT was sent. */
static int run_once(jcs_db_conn *c, jcs_db_txn_fn fn, void *arg, int txn, int *committing)
{
    int rc;
    if (txn && (rc = text_cmd(c, "BEGIN")) != 0)
        return rc;
    rc = fn(c, arg);
    if (rc == JCS_OK && c->lost)
        /* fn swallowed a lost connection: nothing was committed, so run it again. */
        rc = jcs_err_set(JCS_EUNAVAIL, "database %s: connection lost", c->db->where);
    if (rc != JCS_OK) {
        if (txn && c->my && !c->lost) {
            struct saved_err s;
            save_err(&s, rc);
            if (text_cmd(c, "ROLLBACK") != 0) {
                /* fn's error stands (nothing was committed), but a connection in an
                 * unknown state is not given back to the pool as is. */
                c->lost = 0;
                c->broken = 1;
            }
            rc = restore_err(&s);
        }
        return rc;
    }
    if (txn) {
        *committing = 1;
        rc = text_cmd(c, "COMMIT");
    }
    return rc;
}

/* Runs fn on a pooled connection, reconnecting and rerunning as db.h describes. */
static int run_with_retry(jcs_db *db, jcs_db_txn_fn fn, void *arg, int txn)
{
    if (!db || !fn)
        return jcs_err_set(JCS_EINVAL, "jcs_db_txn: missing database or function");
    jcs_db_conn *c = pool_get(db);
    int64_t deadline = 0, backoff = 0;
    int busy_left = BUSY_RETRIES, warned = 0, rc;
    for (;;) {
        int committing = 0;
        c->lost = 0;
        c->busy = 0;
        rc = c->my ? JCS_OK : conn_connect(c, 1);
        if (rc == JCS_OK)
            rc = run_once(c, fn, arg, txn, &committing);
        if (rc == JCS_OK)
            break;
        if (c->lost || (!c->my && rc == JCS_EUNAVAIL)) {
            conn_drop(c);
            if (committing) {
                rc = jcs_err_wrap(jcs_err_recode(rc, JCS_EUNAVAIL),
                                  "connection lost during COMMIT; the transaction may or may not "
                                  "have been applied: ");
                break;
            }
            int64_t now = jcs_now_ms();
            if (!deadline)
                deadline = now + RETRY_WINDOW_MS;
            if (now >= deadline) {
                rc = jcs_err_wrap(jcs_err_recode(rc, JCS_EUNAVAIL),
                                  "gave up after %d s: ", RETRY_WINDOW_MS / 1000);
                break;
            }
            if (!warned) {
                jcs_warn("%s; reconnecting", jcs_err_msg(rc));
                warned = 1;
            }
            if (backoff) {
                jcs_sleep_ms(backoff < deadline - now ? backoff : deadline - now);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            } else {
                backoff = 50;
            }
            continue;
        }
        if (c->busy && busy_left > 0) {
            /* Deadlock victims rerun after a short, growing, jittered pause. */
            int n = BUSY_RETRIES - busy_left--;
            jcs_sleep_ms(5 + (int64_t)(rand() % 20) * (n + 1));
            continue;
        }
        break;
    }
    if (c->broken)
        conn_drop(c);
    if (warned && rc == JCS_OK)
        jcs_info("database %s: reconnected", db->where);
    pool_put(db, c);
    return rc;
}

int jcs_db_txn(jcs_db *db, jcs_db_txn_fn fn, void *arg)
{
    return run_with_retry(db, fn, arg, 1);
}

int jcs_db_with(jcs_db *db, jcs_db_txn_fn fn, void *arg)
{
    return run_with_retry(db, fn, arg, 0);
}

/* ---- open and close -------------------------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init_once(void)
{
    mysql_library_init(0, NULL, NULL);
}

void jcs_db_library_init(void)
{
    pthread_once(&lib_once, lib_init_once);
}

void jcs_db_library_end(void)
{
    mysql_library_end();
}

void jcs_db_close(jcs_db *db)
{
    if (!db)
        return;
    if (db->conns) {
        for (int i = 0; i < db->pool_size; i++)
            conn_drop(&db->conns[i]);
        pthread_mutex_destroy(&db->mu);
        pthread_cond_destroy(&db->cv);
    }
    jcs_free(db->conns);
    jcs_free(db->free_idx);
    jcs_free(db->socket);
    jcs_free(db->user);
    jcs_free(db->password);
    jcs_free(db->database);
    jcs_free(db->where);
    jcs_free(db);
}

/* Creates the database when the user may, then makes it c's current one. */
static int use_database(jcs_db_conn *c)
{
    jcs_db *db = c->db;
    char quoted[2 * 64 + 3];
    size_t q = 0;
    quoted[q++] = '`';
    for (const char *p = db->database; *p; p++) {
        if (*p == '`')
            quoted[q++] = '`';
        quoted[q++] = *p;
    }
    quoted[q++] = '`';
    quoted[q] = '\0';
    char *sql = jcs_asprintf("CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4", quoted);
    if (!sql)
        return jcs_err_set(JCS_ENOMEM, "database %s: out of memory", db->where);
    int rc = jcs_db_exec(c, sql, NULL, 0, NULL, NULL);
    jcs_free(sql);
    if (rc && rc != JCS_EDB)
        return rc;
    /* An EDB here is usually "access denied": a user limited to an existing database. */
    struct saved_err create_err;
    save_err(&create_err, rc);
    if (mysql_select_db(c->my, db->database) != 0) {
        rc = my_fail(c, NULL);
        if (create_err.rc)
            jcs_err_wrap(rc, "%s; then ", create_err.msg);
        return rc;
    }
    jcs_err_clear();
    return JCS_OK;
}

int jcs_db_open(const jcs_db_config *cfg, jcs_db **out)
{
    jcs_db *db = NULL;
    int rc;
    if (!cfg || !out)
        return jcs_err_set(JCS_EINVAL, "jcs_db_open: missing config");
    *out = NULL;
    int use_socket = cfg->socket && *cfg->socket;
    if (!use_socket && !(cfg->address && *cfg->address))
        return jcs_err_set(JCS_ECONFIG, "database: neither address nor socket is set");
    if (!cfg->user || !*cfg->user)
        return jcs_err_set(JCS_ECONFIG, "database %s: no user set",
                           use_socket ? cfg->socket : cfg->address);
    if (cfg->database && strlen(cfg->database) > 64)
        return jcs_err_set(JCS_ECONFIG, "database name \"%s\" is longer than 64 characters",
                           cfg->database);
    if (cfg->pool_size < 0 || cfg->pool_size > POOL_MAX)
        return jcs_err_set(JCS_ECONFIG, "database: pool size %d is not within 0-%d", cfg->pool_size,
                           POOL_MAX);
    jcs_db_library_init();

    db = jcs_calloc(1, sizeof(*db));
    if (!db)
        return jcs_err_set(JCS_ENOMEM, "database: out of memory");
    if (!use_socket) {
        rc = jcs_parse_addr(cfg->address, db->host, sizeof(db->host), &db->port);
        if (rc) {
            jcs_free(db);
            return jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "database: ");
        }
    }
    db->pool_size = cfg->pool_size ? cfg->pool_size : 4;
    db->connect_timeout_s = cfg->connect_timeout_s > 0 ? (unsigned)cfg->connect_timeout_s : 5;
    db->where = use_socket ? jcs_asprintf("unix:%s", cfg->socket) : jcs_strdup(cfg->address);
    db->socket = use_socket ? jcs_strdup(cfg->socket) : NULL;
    db->user = jcs_strdup(cfg->user);
    db->password = jcs_strdup(cfg->password ? cfg->password : "");
    db->database = cfg->database && *cfg->database ? jcs_strdup(cfg->database) : NULL;
    db->conns = jcs_calloc((size_t)db->pool_size, sizeof(*db->conns));
    db->free_idx = jcs_calloc((size_t)db->pool_size, sizeof(*db->free_idx));
    if (!db->where || (use_socket && !db->socket) || !db->user || !db->password ||
        (cfg->database && *cfg->database && !db->database) || !db->conns || !db->free_idx) {
        /* jcs_db_close must not destroy a mutex that was never made. */
        jcs_free(db->conns);
        db->conns = NULL;
        jcs_db_close(db);
        return jcs_err_set(JCS_ENOMEM, "database: out of memory");
    }
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    for (int i = 0; i < db->pool_size; i++) {
        db->conns[i].db = db;
        db->free_idx[i] = db->pool_size - 1 - i;
    }
    db->nfree = db->pool_size;

    /* The first connection proves address, credentials and database now, not at first use. */
    jcs_db_conn *c = &db->conns[0];
    rc = conn_connect(c, 0);
    if (rc == JCS_OK && db->database)
        rc = use_database(c);
    if (rc) {
        struct saved_err s;
        save_err(&s, rc);
        jcs_db_close(db);
        return restore_err(&s);
    }
    *out = db;
    return JCS_OK;
}

/* ---- migrations ------------------------------------------------------------------------------ */

struct migration {
    const char *const *steps;
    size_t n;
    char lock[65];
};

/* Runs the statements of one step (separated by ";\n") over the text protocol. */
static int run_step_sql(jcs_db_conn *c, const char *step)
{
    const char *p = step;
    while (*p) {
        const char *end = strstr(p, ";\n");
        const char *next = end ? end + 2 : p + strlen(p);
        if (!end)
            end = next;
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
            p++;
        const char *e = end;
        while (e > p &&
               (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == ';'))
            e--;
        if (e > p) {
            int rc = text_query(c, p, (size_t)(e - p));
            if (rc)
                return rc;
        }
        p = next;
    }
    return JCS_OK;
}

static int read_version(jcs_db_conn *c, int *out)
{
    jcs_db_result *r;
    int rc = jcs_db_query(c, "SELECT MAX(version) FROM schema_version", NULL, 0, 1, &r);
    if (rc)
        return rc;
    const jcs_db_val *v = r->nrows ? jcs_db_cell(r, 0, 0) : NULL;
    *out = v && v->type == JCS_DB_INT ? (int)v->i : 0;
    jcs_db_result_free(r);
    return JCS_OK;
}

static int migrate_locked(jcs_db_conn *c, const struct migration *m)
{
    int rc, cur;
    static const char create[] = "CREATE TABLE IF NOT EXISTS schema_version "
                                 "(version INT NOT NULL) ENGINE=InnoDB";
    if ((rc = text_cmd(c, create)) != 0)
        return rc;
    if ((rc = read_version(c, &cur)) != 0)
        return rc;
    if (cur == 0) {
        /* One row holds the version; an empty table means version 0. */
        jcs_db_result *r;
        if ((rc = jcs_db_query(c, "SELECT COUNT(*) FROM schema_version", NULL, 0, 1, &r)) != 0)
            return rc;
        int64_t rows = jcs_db_cell(r, 0, 0)->i;
        jcs_db_result_free(r);
        if (rows == 0 && (rc = jcs_db_exec(c, "INSERT INTO schema_version (version) VALUES (0)",
                                           NULL, 0, NULL, NULL)) != 0)
            return rc;
    }
    if (cur < 0 || (size_t)cur > m->n)
        return jcs_err_set(JCS_EDB,
                           "database %s: schema version %d is newer than this program knows "
                           "(%zu); run a newer version of the program",
                           c->db->where, cur, m->n);
    for (size_t i = (size_t)cur; i < m->n; i++) {
        if ((rc = text_cmd(c, "BEGIN")) != 0)
            return rc;
        rc = run_step_sql(c, m->steps[i]);
        if (rc == JCS_OK) {
            jcs_db_val v = JCS_DB_I(i + 1);
            rc = jcs_db_exec(c, "UPDATE schema_version SET version = ?", &v, 1, NULL, NULL);
        }
        if (rc == JCS_OK)
            rc = text_cmd(c, "COMMIT");
        if (rc) {
            struct saved_err s;
            save_err(&s, rc);
            if (!c->lost && text_cmd(c, "ROLLBACK") != 0)
                c->lost = 1;
            restore_err(&s);
            return jcs_err_wrap(rc, "migration to schema version %zu: ", i + 1);
        }
        jcs_info("database %s: schema migrated to version %zu", c->db->where, i + 1);
    }
    return JCS_OK;
}

static int migrate_fn(jcs_db_conn *c, void *arg)
{
    struct migration *m = arg;
    jcs_db_val p[2] = {JCS_DB_S(m->lock), JCS_DB_I(MIGRATE_LOCK_S)};
    jcs_db_result *r;
    /* A named server-wide lock: two processes starting at once migrate one after the other. */
    int rc = jcs_db_query(c, "SELECT GET_LOCK(?, ?)", p, 2, 1, &r);
    if (rc)
        return rc;
    const jcs_db_val *got = jcs_db_cell(r, 0, 0);
    int locked = got->type == JCS_DB_INT && got->i == 1;
    jcs_db_result_free(r);
    if (!locked)
        return jcs_err_set(JCS_EBUSY,
                           "database %s: another process held the migration lock %s for %d s",
                           c->db->where, m->lock, MIGRATE_LOCK_S);
    rc = migrate_locked(c, m);
    if (!c->lost) {
        struct saved_err s;
        save_err(&s, rc);
        if (jcs_db_query(c, "SELECT RELEASE_LOCK(?)", p, 1, 1, &r) == JCS_OK)
            jcs_db_result_free(r);
        restore_err(&s);
    }
    return rc;
}

int jcs_db_migrate(jcs_db *db, const char *const *steps, size_t n)
{
    struct migration m = {.steps = steps, .n = n};
    if (!db || (n && !steps))
        return jcs_err_set(JCS_EINVAL, "jcs_db_migrate: missing database or steps");
    snprintf(m.lock, sizeof(m.lock), "jcs_migrate.%s", db->database ? db->database : "");
    return jcs_db_with(db, migrate_fn, &m);
}

static int version_fn(jcs_db_conn *c, void *arg)
{
    int rc = read_version(c, arg);
    if (rc == JCS_EDB && c->last_errno == ER_NO_SUCH_TABLE) {
        *(int *)arg = 0;
        jcs_err_clear();
        return JCS_OK;
    }
    return rc;
}

int jcs_db_schema_version(jcs_db *db, int *out)
{
    if (!db || !out)
        return jcs_err_set(JCS_EINVAL, "jcs_db_schema_version: missing database or out");
    *out = 0;
    return jcs_db_with(db, version_fn, out);
}
