/*
 * t_dbfix.h - one database on a private MariaDB, shared by the tests of a
 * test binary (test_meta, test_healq, test_s3meta).
 *
 * The first test that needs it starts the server (t_mariadb.h), creates
 * the database and its user, opens a jcs_db pool on it and runs the
 * binary's prepare function once (the client's schema migration: the
 * tests pass jcs_meta_migrate, so this fixture depends on common/ only and
 * any test binary can use it). A failed start is remembered: every later
 * test fails with the same reason instead of starting again. The binary's
 * teardown calls t_dbfix_stop, which closes the pool, stops the server and
 * removes its directory.
 */
#ifndef JCS_T_DBFIX_H
#define JCS_T_DBFIX_H

#include "db.h"
#include "t_mariadb.h"

typedef struct t_dbfix {
    /* Set by the test binary. */
    const char *database, *user, *password;
    int pool_size;              /* 0: 2 */
    int (*prepare)(jcs_db *db); /* run once on the new database; may be NULL */
    /* Set by t_dbfix_need. */
    struct t_mariadb srv; /* the server (for restarts: t_mariadb_ctl(&f->srv, ...)) */
    jcs_db *db;           /* the open pool; owned by the fixture */
    int state;            /* 0: not started, 1: up, -1: failed (reason in err) */
    char err[1200];
} t_dbfix;

/* Starts everything at the first call; 0, or -1 with the reason in f->err (also at later calls). */
int t_dbfix_need(t_dbfix *f);

/* A configuration for another pool on the fixture's database (the server must be up). */
jcs_db_config t_dbfix_config(const t_dbfix *f);

/* Closes the pool, stops the server and removes its directory; safe to call twice. */
void t_dbfix_stop(t_dbfix *f);

/* In a TEST: fails it (and returns) unless the fixture is up; else sets db to its pool. */
#define T_NEED_DB(f, db)                                                                           \
    do {                                                                                           \
        if (t_dbfix_need(f) != 0) {                                                                \
            t_fail(__FILE__, __LINE__, "%s", (f)->err);                                            \
            return;                                                                                \
        }                                                                                          \
        (db) = (f)->db;                                                                            \
    } while (0)

#endif
