/*
 * db.h - MySQL/MariaDB through Connector/C; the only code that calls mysql_*.
 *
 * A jcs_db is a fixed pool of connections shared by threads. Every
 * statement is a prepared statement with typed parameters (no SQL is ever
 * built from values), cached per connection. Mutations run inside
 * jcs_db_txn, which begins, calls the caller's function, and commits; when
 * the server went away or a deadlock hit before the commit, it reconnects
 * and runs the function again (a bounded number of times), so a restart of
 * the database costs a retry, not an error. When the commit itself fails
 * for a lost connection the outcome is unknown: jcs_db_txn then returns
 * JCS_EUNAVAIL and says so in the detail, it never repeats a commit.
 *
 * Errors: JCS_EUNAVAIL (cannot reach the server; detail names the address),
 * JCS_EDB (the server refused: detail has its message), JCS_EEXIST
 * (duplicate key), JCS_EBUSY (deadlock or lock wait timeout, after
 * retries), JCS_ETOOBIG (a result over its row cap).
 */
#ifndef JCS_DB_H
#define JCS_DB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

typedef struct jcs_db jcs_db;
typedef struct jcs_db_conn jcs_db_conn;

typedef struct jcs_db_config {
    const char *address; /* "127.0.0.1:3306" */
    const char *socket;  /* unix socket path; used instead of address when not NULL/empty */
    const char *user;
    const char *password;
    const char *database;  /* created if missing when the user may */
    int pool_size;         /* connections; 0 means 4 */
    int connect_timeout_s; /* per connection attempt; 0 means 5 */
} jcs_db_config;

/*
 * Opens the pool and checks that one connection works (strings are copied).
 * Caller frees with jcs_db_close.
 */
int jcs_db_open(const jcs_db_config *cfg, jcs_db **out) JCS_MUST_USE;
void jcs_db_close(jcs_db *db);

/*
 * Brings the schema up to version n: step i (0-based) holds the statements
 * that take version i to i+1, separated by ";\n". The current version is
 * kept in table schema_version; steps already applied are skipped. Each step
 * runs in its own transaction where MySQL allows (DDL commits implicitly).
 */
int jcs_db_migrate(jcs_db *db, const char *const *steps, size_t n) JCS_MUST_USE;

/* The schema version after migrate (0 for an empty database). */
int jcs_db_schema_version(jcs_db *db, int *out) JCS_MUST_USE;

enum jcs_db_type { JCS_DB_NULL = 0, JCS_DB_INT, JCS_DB_DOUBLE, JCS_DB_TEXT, JCS_DB_BLOB };

/* A parameter or a result cell. For TEXT/BLOB, s/len are borrowed (params) or owned by the result.
 */
typedef struct jcs_db_val {
    enum jcs_db_type type;
    int64_t i;
    double d;
    const char *s;
    size_t len;
} jcs_db_val;

#define JCS_DB_I(x)    ((jcs_db_val){.type = JCS_DB_INT, .i = (int64_t)(x)})
#define JCS_DB_D(x)    ((jcs_db_val){.type = JCS_DB_DOUBLE, .d = (x)})
#define JCS_DB_S(x)    ((jcs_db_val){.type = JCS_DB_TEXT, .s = (x), .len = strlen(x)})
#define JCS_DB_B(p, n) ((jcs_db_val){.type = JCS_DB_BLOB, .s = (const char *)(p), .len = (n)})
#define JCS_DB_NULLV   ((jcs_db_val){.type = JCS_DB_NULL})

/* A whole result set, rows x cols, owning every cell. */
typedef struct jcs_db_result {
    size_t nrows;
    size_t ncols;
    jcs_db_val *cells; /* row-major */
} jcs_db_result;

/* Cell (row, col); the result keeps ownership. Integers come back as JCS_DB_INT, text as TEXT. */
static inline const jcs_db_val *jcs_db_cell(const jcs_db_result *r, size_t row, size_t col)
{
    return &r->cells[row * r->ncols + col];
}

void jcs_db_result_free(jcs_db_result *r);

/*
 * Runs a statement with n parameters bound to its '?' marks. affected and
 * insert_id may be NULL.
 */
int jcs_db_exec(jcs_db_conn *c, const char *sql, const jcs_db_val *params, size_t n,
                uint64_t *affected, uint64_t *insert_id) JCS_MUST_USE;

/*
 * Runs a query and fetches at most max_rows rows (JCS_ETOOBIG past that).
 * *out is the caller's; free with jcs_db_result_free.
 */
int jcs_db_query(jcs_db_conn *c, const char *sql, const jcs_db_val *params, size_t n,
                 size_t max_rows, jcs_db_result **out) JCS_MUST_USE;

/* The body of a transaction. Return JCS_OK to commit, an error to roll back. */
typedef int (*jcs_db_txn_fn)(jcs_db_conn *c, void *arg);

/*
 * Takes a connection from the pool, runs fn inside BEGIN/COMMIT, and gives
 * the connection back. Retries as the header comment says; fn must
 * therefore be safe to run again (touch only the database and arg's output
 * fields it rewrites on each run). Returns fn's error, or the database's.
 */
int jcs_db_txn(jcs_db *db, jcs_db_txn_fn fn, void *arg) JCS_MUST_USE;

/*
 * Runs fn on a pooled connection without a transaction (autocommit), with
 * the same reconnect-and-retry on a lost connection. For reads.
 */
int jcs_db_with(jcs_db *db, jcs_db_txn_fn fn, void *arg) JCS_MUST_USE;

/* Process-wide library set-up and tear-down (mysql_library_init/end). */
void jcs_db_library_init(void);
void jcs_db_library_end(void);

#endif
