/* One database on a private MariaDB for the tests of a binary (t_dbfix.h). */
#include "t_dbfix.h"

#include <stdio.h>

#include "err.h"

jcs_db_config t_dbfix_config(const t_dbfix *f)
{
    return (jcs_db_config){.address = f->srv.addr,
                           .user = f->user,
                           .password = f->password,
                           .database = f->database,
                           .pool_size = f->pool_size > 0 ? f->pool_size : 2,
                           .connect_timeout_s = 5};
}

int t_dbfix_need(t_dbfix *f)
{
    if (f->state)
        return f->state > 0 ? 0 : -1;
    f->state = -1;
    jcs_db_library_init();
    if (t_mariadb_start(&f->srv) != 0) {
        snprintf(f->err, sizeof f->err, "cannot start MariaDB: %s", f->srv.err);
        return -1;
    }
    if (t_mariadb_create_db(&f->srv, f->database, f->user, f->password) != 0) {
        snprintf(f->err, sizeof f->err, "%s", f->srv.err);
        return -1;
    }
    jcs_db_config cfg = t_dbfix_config(f);
    int rc = jcs_db_open(&cfg, &f->db);
    if (rc == 0 && f->prepare)
        rc = f->prepare(f->db);
    if (rc) {
        snprintf(f->err, sizeof f->err, "open/prepare %s: %s", f->database, jcs_err_msg(rc));
        return -1;
    }
    f->state = 1;
    return 0;
}

void t_dbfix_stop(t_dbfix *f)
{
    jcs_db_close(f->db);
    f->db = NULL;
    if (f->state != 0) {
        /* Also after a failed start: what did start (server, directory) goes. */
        t_mariadb_destroy(&f->srv);
        jcs_db_library_end();
    }
    f->state = 0;
}
