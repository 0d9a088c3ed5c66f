/*
 * t_mariadb.h - a private MariaDB server for a test binary.
 *
 * Drives deploy/local/mariadb: the server lives in a new directory under
 * /tmp, listens on a free port of 127.0.0.1 and is stopped (and its
 * directory removed) by t_mariadb_destroy, or at exit, or by the script's
 * watcher if the test binary dies. Nothing is skipped: when MariaDB is not
 * installed, start fails with the script's message.
 *
 * Every function returns 0, or -1 with a one-line reason in m->err.
 */
#ifndef JCS_T_MARIADB_H
#define JCS_T_MARIADB_H

#include <stddef.h>

struct t_mariadb {
    char dir[256]; /* the server's directory (datadir, socket, logs) */
    char addr[64]; /* "127.0.0.1:PORT" */
    char socket[512];
    int port;
    int pid;
    char err[1024];
};

/* Starts a new server in a fresh temporary directory. */
int t_mariadb_start(struct t_mariadb *m);

/* Creates database db and user@127.0.0.1/localhost with password pw and all rights on db. */
int t_mariadb_create_db(struct t_mariadb *m, const char *db, const char *user, const char *pw);

/* Runs "deploy/local/mariadb CMD --dir DIR" (stop, restart, start) and rereads the port. */
int t_mariadb_ctl(struct t_mariadb *m, const char *cmd);

/* Stops the server and removes its directory; safe to call twice. */
void t_mariadb_destroy(struct t_mariadb *m);

#endif
