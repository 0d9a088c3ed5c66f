/*
 * test_db.c - common/db/db.c against a real MariaDB started by the test.
 *
 * The first test that needs the server starts it (deploy/local/mariadb) with
 * the databases and user below; the last test stops it and removes its
 * directory (an atexit hook and the script's owner watcher cover early
 * exits). Each test works in its own tables, so they only depend on the
 * server, not on each other.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "db.h"
#include "err.h"
#include "t.h"
#include "t_mariadb.h"
#include "util.h"

#define DB_USER "jcs_test"
#define DB_PW   "pw 'with' \"quotes\" \\ ü"

static struct t_mariadb srv;
static int srv_state; /* 0: not started, 1: up, -1: failed (reason in srv_err) */
static char srv_err[1200];

static int need_server(void)
{
    static const char *const dbs[] = {"jcs_main", "jcs_mig", "jcs_race"};
    if (srv_state)
        return srv_state > 0 ? 0 : -1;
    srv_state = -1;
    jcs_db_library_init();
    if (t_mariadb_start(&srv) != 0) {
        snprintf(srv_err, sizeof(srv_err), "cannot start MariaDB: %s", srv.err);
        return -1;
    }
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        if (t_mariadb_create_db(&srv, dbs[i], DB_USER, DB_PW) != 0) {
            snprintf(srv_err, sizeof(srv_err), "%s", srv.err);
            return -1;
        }
    }
    srv_state = 1;
    return 0;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (need_server() != 0) {                                                                  \
            t_fail(__FILE__, __LINE__, "%s", srv_err);                                             \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static jcs_db_config config(const char *database, int pool)
{
    return (jcs_db_config){.address = srv.addr,
                           .user = DB_USER,
                           .password = DB_PW,
                           .database = database,
                           .pool_size = pool,
                           .connect_timeout_s = 5};
}

/* ---- small statement helpers run through jcs_db_with ---------------------------------------- */

struct q {
    const char *sql;
    const jcs_db_val *params;
    size_t n;
    size_t max_rows;
    jcs_db_result *res;
    uint64_t affected, insert_id;
};

static int exec_fn(jcs_db_conn *c, void *arg)
{
    struct q *q = arg;
    return jcs_db_exec(c, q->sql, q->params, q->n, &q->affected, &q->insert_id);
}

static int query_fn(jcs_db_conn *c, void *arg)
{
    struct q *q = arg;
    jcs_db_result_free(q->res);
    q->res = NULL;
    return jcs_db_query(c, q->sql, q->params, q->n, q->max_rows, &q->res);
}

static int exec1(jcs_db *db, const char *sql, const jcs_db_val *p, size_t n)
{
    struct q q = {.sql = sql, .params = p, .n = n};
    return jcs_db_with(db, exec_fn, &q);
}

/* Runs a query; *out is the caller's. */
static int query(jcs_db *db, const char *sql, const jcs_db_val *p, size_t n, size_t max_rows,
                 jcs_db_result **out)
{
    struct q q = {.sql = sql, .params = p, .n = n, .max_rows = max_rows};
    int rc = jcs_db_with(db, query_fn, &q);
    *out = q.res;
    return rc;
}

/* The single integer a query returns, or -999999 when it is not one. */
static int64_t query_int(jcs_db *db, const char *sql, const jcs_db_val *p, size_t n)
{
    jcs_db_result *r = NULL;
    int64_t v = -999999;
    if (query(db, sql, p, n, 1, &r) == 0 && r->nrows == 1 && r->ncols == 1 &&
        jcs_db_cell(r, 0, 0)->type == JCS_DB_INT)
        v = jcs_db_cell(r, 0, 0)->i;
    jcs_db_result_free(r);
    return v;
}

/* ---- migrations ------------------------------------------------------------------------------ */

static const char *const mig_steps[] = {
    ("CREATE TABLE kv (k VARCHAR(64) NOT NULL PRIMARY KEY, v BIGINT NOT NULL);\n"
     "INSERT INTO kv (k, v) VALUES ('seed', 1);\n"),
    "ALTER TABLE kv ADD COLUMN note TEXT NULL",
    "this is not SQL",
};

TEST(migrate_applies_each_step_once_and_reports_the_version)
{
    NEED_SERVER();
    jcs_db *db;
    jcs_db_config cfg = config("jcs_mig", 2);
    int v = -1;
    T_OK(jcs_db_open(&cfg, &db));
    T_OK(jcs_db_schema_version(db, &v));
    T_EQ_INT(v, 0);
    int rc = jcs_db_migrate(db, mig_steps, 1);
    if (rc == 0)
        rc = jcs_db_schema_version(db, &v);
    if (rc == 0 && v == 1)
        rc = jcs_db_migrate(db, mig_steps, 2);
    int v2 = -1;
    if (rc == 0)
        rc = jcs_db_schema_version(db, &v2);
    /* Running the same migration again changes nothing. */
    if (rc == 0)
        rc = jcs_db_migrate(db, mig_steps, 2);
    int v3 = -1;
    if (rc == 0)
        rc = jcs_db_schema_version(db, &v3);
    int64_t seeds = query_int(db, "SELECT COUNT(*) FROM kv WHERE k = 'seed'", NULL, 0);
    jcs_db_val note = JCS_DB_S("step 2 added this column");
    int rc_note = exec1(db, "UPDATE kv SET note = ? WHERE k = 'seed'", &note, 1);
    /* A broken step fails, names its version, and leaves the version as it was. */
    int rc_bad = jcs_db_migrate(db, mig_steps, 3);
    char bad_msg[512];
    snprintf(bad_msg, sizeof(bad_msg), "%s", jcs_err_msg(rc_bad));
    int v4 = -1;
    int rc_v4 = jcs_db_schema_version(db, &v4);
    /* A program that knows fewer steps than the database has refuses to run. */
    int rc_old = jcs_db_migrate(db, mig_steps, 1);
    char old_msg[512];
    snprintf(old_msg, sizeof(old_msg), "%s", jcs_err_msg(rc_old));
    jcs_db_close(db);

    T_OK(rc);
    T_EQ_INT(v, 1);
    T_EQ_INT(v2, 2);
    T_EQ_INT(v3, 2);
    T_EQ_INT(seeds, 1);
    T_OK(rc_note);
    T_EQ_INT(rc_bad, JCS_EDB);
    T_ASSERT(strstr(bad_msg, "version 3") && strstr(bad_msg, "SQL syntax"), "msg: %s", bad_msg);
    T_OK(rc_v4);
    T_EQ_INT(v4, 2);
    T_EQ_INT(rc_old, JCS_EDB);
    T_ASSERT(strstr(old_msg, "schema version 2 is newer"), "msg: %s", old_msg);
}

static const char *const race_steps[] = {
    "CREATE TABLE runs (x INT NOT NULL);\nINSERT INTO runs VALUES (1)",
    "INSERT INTO runs VALUES (2)",
    "INSERT INTO runs VALUES (3)",
};

struct racer {
    int rc;
    char msg[512];
};

static void *race_migrate(void *arg)
{
    struct racer *r = arg;
    jcs_db *db;
    jcs_db_config cfg = config("jcs_race", 1);
    r->rc = jcs_db_open(&cfg, &db);
    if (r->rc == 0) {
        r->rc = jcs_db_migrate(db, race_steps, 3);
        jcs_db_close(db);
    }
    snprintf(r->msg, sizeof(r->msg), "%s", jcs_err_msg(r->rc));
    return NULL;
}

TEST(migrations_started_at_once_run_each_step_once)
{
    NEED_SERVER();
    struct racer r[3] = {{0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        T_ASSERT(pthread_create(&th[i], NULL, race_migrate, &r[i]) == 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        T_ASSERT(r[i].rc == 0, "migration %d: %s", i, r[i].msg);
    jcs_db *db;
    jcs_db_config cfg = config("jcs_race", 1);
    T_OK(jcs_db_open(&cfg, &db));
    int64_t runs = query_int(db, "SELECT COUNT(*) FROM runs", NULL, 0);
    int64_t sum = query_int(db, "SELECT SUM(x) FROM runs", NULL, 0);
    int v = -1;
    int rc = jcs_db_schema_version(db, &v);
    jcs_db_close(db);
    T_OK(rc);
    T_EQ_INT(runs, 3);
    T_EQ_INT(v, 3);
    (void)sum; /* SUM of INT is DECIMAL, which comes back as text: the count says enough. */
}

/* ---- values ---------------------------------------------------------------------------------- */

static jcs_db *main_db;

static int need_main(void)
{
    if (main_db)
        return 0;
    jcs_db_config cfg = config("jcs_main", 3);
    if (jcs_db_open(&cfg, &main_db) != 0) {
        snprintf(srv_err, sizeof(srv_err), "open jcs_main: %s", jcs_err_msg(JCS_EDB));
        main_db = NULL;
        return -1;
    }
    static const char *const steps[] = {
        "CREATE TABLE vals (id BIGINT AUTO_INCREMENT PRIMARY KEY, i BIGINT NULL, d DOUBLE NULL, "
        "t VARCHAR(200) NULL, b VARBINARY(200) NULL, n INT NULL, dt DATETIME NULL, "
        "dec_ DECIMAL(10,3) NULL, u BIGINT UNSIGNED NULL) ENGINE=InnoDB;\n"
        "CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB NOT NULL, t MEDIUMTEXT NOT NULL);\n"
        "CREATE TABLE names (name VARCHAR(64) NOT NULL PRIMARY KEY, v INT NOT NULL);\n"
        "CREATE TABLE counter (id INT PRIMARY KEY, n BIGINT NOT NULL);\n"
        "INSERT INTO counter VALUES (1, 0);\n"
        "CREATE TABLE events (id BIGINT AUTO_INCREMENT PRIMARY KEY, th INT NOT NULL, "
        "seq INT NOT NULL, UNIQUE (th, seq));\n"
        "CREATE TABLE durable (id INT PRIMARY KEY, payload VARCHAR(64) NOT NULL)",
    };
    if (jcs_db_migrate(main_db, steps, 1) != 0) {
        snprintf(srv_err, sizeof(srv_err), "migrate jcs_main: %s", jcs_err_msg(JCS_EDB));
        return -1;
    }
    return 0;
}

#define NEED_MAIN()                                                                                \
    do {                                                                                           \
        NEED_SERVER();                                                                             \
        if (need_main() != 0) {                                                                    \
            t_fail(__FILE__, __LINE__, "%s", srv_err);                                             \
            return;                                                                                \
        }                                                                                          \
    } while (0)

TEST(every_parameter_type_round_trips)
{
    NEED_MAIN();
    static const char bin[] = {'\0', '\1', 'x', '\0', (char)0xff};
    jcs_db_val p[8] = {JCS_DB_I(INT64_MIN),    JCS_DB_D(-1.25e300),
                       JCS_DB_S("plain text"), JCS_DB_B(bin, sizeof(bin)),
                       JCS_DB_NULLV,           JCS_DB_S("2026-11-22 10:11:12"),
                       JCS_DB_S("12345.678"),  JCS_DB_I(INT64_MAX)};
    struct q ins = {.sql = "INSERT INTO vals (i, d, t, b, n, dt, dec_, u) VALUES (?,?,?,?,?,?,?,?)",
                    .params = p,
                    .n = 8};
    T_OK(jcs_db_with(main_db, exec_fn, &ins));
    T_EQ_INT(ins.affected, 1);
    T_ASSERT(ins.insert_id > 0);
    /* Empty text and empty bytes are values, not NULL. */
    jcs_db_val e[2] = {JCS_DB_S(""), JCS_DB_B("", 0)};
    struct q ins2 = {.sql = "INSERT INTO vals (t, b) VALUES (?, ?)", .params = e, .n = 2};
    T_OK(jcs_db_with(main_db, exec_fn, &ins2));

    jcs_db_val id = JCS_DB_I(ins.insert_id);
    jcs_db_result *r;
    T_OK(query(main_db, "SELECT i, d, t, b, n, dt, dec_, u, id FROM vals WHERE id = ?", &id, 1, 10,
               &r));
    int ok = r->nrows == 1 && r->ncols == 9;
    const jcs_db_val *c = ok ? r->cells : NULL;
    int t_i = ok && c[0].type == JCS_DB_INT && c[0].i == INT64_MIN;
    int t_d = ok && c[1].type == JCS_DB_DOUBLE && c[1].d == -1.25e300;
    int t_t = ok && c[2].type == JCS_DB_TEXT && c[2].len == 10 && strcmp(c[2].s, "plain text") == 0;
    int t_b = ok && c[3].type == JCS_DB_BLOB && c[3].len == sizeof(bin) &&
              memcmp(c[3].s, bin, sizeof(bin)) == 0;
    int t_n = ok && c[4].type == JCS_DB_NULL;
    int t_dt = ok && c[5].type == JCS_DB_TEXT && strcmp(c[5].s, "2026-11-22 10:11:12") == 0;
    int t_dec = ok && c[6].type == JCS_DB_TEXT && strcmp(c[6].s, "12345.678") == 0;
    int t_u = ok && c[7].type == JCS_DB_INT && c[7].i == INT64_MAX;
    int t_id = ok && c[8].type == JCS_DB_INT && (uint64_t)c[8].i == ins.insert_id;
    jcs_db_result_free(r);

    jcs_db_val id2 = JCS_DB_I(ins2.insert_id);
    T_OK(query(main_db, "SELECT t, b, i FROM vals WHERE id = ?", &id2, 1, 10, &r));
    int ok2 = r->nrows == 1 && r->cells[0].type == JCS_DB_TEXT && r->cells[0].len == 0 &&
              r->cells[0].s && r->cells[0].s[0] == '\0' && r->cells[1].type == JCS_DB_BLOB &&
              r->cells[1].len == 0 && r->cells[2].type == JCS_DB_NULL;
    jcs_db_result_free(r);

    T_ASSERT(ok, "one row of 9 columns");
    T_ASSERT(t_i, "BIGINT");
    T_ASSERT(t_d, "DOUBLE");
    T_ASSERT(t_t, "VARCHAR");
    T_ASSERT(t_b, "VARBINARY with zero bytes");
    T_ASSERT(t_n, "NULL");
    T_ASSERT(t_dt, "DATETIME as text");
    T_ASSERT(t_dec, "DECIMAL as exact text");
    T_ASSERT(t_u, "BIGINT UNSIGNED");
    T_ASSERT(t_id, "insert id");
    T_ASSERT(ok2, "empty text/bytes are not NULL");
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

TEST(large_blob_and_text_round_trip_byte_identical)
{
    NEED_MAIN();
    size_t sizes_b[] = {1 << 20, 256, 257, 0};
    size_t sizes_t[] = {100 << 10, 255, 258, 1};
    for (int k = 0; k < 4; k++) {
        size_t nb = sizes_b[k], nt = sizes_t[k];
        char *b = jcs_malloc(nb), *t = jcs_malloc(nt + 1);
        T_ASSERT(b && t);
        for (size_t i = 0; i < nb; i++)
            b[i] = (char)next_rand();
        for (size_t i = 0; i < nt; i++)
            t[i] = (char)('a' + (next_rand() % 26));
        t[nt] = '\0';
        jcs_db_val p[3] = {JCS_DB_I(k), JCS_DB_B(b, nb), JCS_DB_S(t)};
        int rc = exec1(main_db, "INSERT INTO big (id, b, t) VALUES (?, ?, ?)", p, 3);
        jcs_db_result *r = NULL;
        if (rc == 0)
            rc = query(main_db, "SELECT b, t, LENGTH(b) FROM big WHERE id = ?", p, 1, 1, &r);
        int same = rc == 0 && r->nrows == 1 && r->cells[0].type == JCS_DB_BLOB &&
                   r->cells[0].len == nb && memcmp(r->cells[0].s, b, nb) == 0 &&
                   r->cells[1].type == JCS_DB_TEXT && r->cells[1].len == nt &&
                   strcmp(r->cells[1].s, t) == 0 && r->cells[2].i == (int64_t)nb;
        jcs_db_result_free(r);
        jcs_free(b);
        jcs_free(t);
        T_OK(rc);
        T_ASSERT(same, "blob of %zu / text of %zu bytes came back different", nb, nt);
    }
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

TEST(utf8_text_round_trips_as_characters)
{
    NEED_MAIN();
    const char *s = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                    "\xf0\x9f\x8e\x89 \xce\xa9";
    jcs_db_val p = JCS_DB_S(s);
    struct q ins = {.sql = "INSERT INTO vals (t) VALUES (?)", .params = &p, .n = 1};
    T_OK(jcs_db_with(main_db, exec_fn, &ins));
    jcs_db_val id = JCS_DB_I(ins.insert_id);
    jcs_db_result *r;
    T_OK(query(main_db, "SELECT t, CHAR_LENGTH(t) FROM vals WHERE id = ?", &id, 1, 1, &r));
    int same = r->nrows == 1 && r->cells[0].type == JCS_DB_TEXT && strcmp(r->cells[0].s, s) == 0;
    int64_t chars = r->nrows == 1 ? r->cells[1].i : -1;
    jcs_db_result_free(r);
    T_ASSERT(same, "text came back different");
    /* The server counted characters, not bytes: it stored utf8mb4, emoji included. */
    T_EQ_INT(chars, utf8_chars(s));
}

TEST(duplicate_key_is_eexist_naming_the_key)
{
    NEED_MAIN();
    jcs_db_val p[2] = {JCS_DB_S("dup"), JCS_DB_I(1)};
    T_OK(exec1(main_db, "INSERT INTO names (name, v) VALUES (?, ?)", p, 2));
    int rc = exec1(main_db, "INSERT INTO names (name, v) VALUES (?, ?)", p, 2);
    T_EQ_INT(rc, JCS_EEXIST);
    T_ASSERT(strstr(jcs_err_msg(rc), "Duplicate entry 'dup'") &&
                 strstr(jcs_err_msg(rc), "INSERT INTO names") && strstr(jcs_err_msg(rc), srv.addr),
             "msg: %s", jcs_err_msg(rc));
}

TEST(wrong_parameter_count_is_einval)
{
    NEED_MAIN();
    jcs_db_val p = JCS_DB_S("x");
    int rc = exec1(main_db, "INSERT INTO names (name, v) VALUES (?, ?)", &p, 1);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(rc), "1 parameters given, the statement has 2"), "msg: %s",
             jcs_err_msg(rc));
}

/* ---- transactions ---------------------------------------------------------------------------- */

struct txn_arg {
    const char *name;
    int fail;
    int runs;
};

static int insert_then_maybe_fail(jcs_db_conn *c, void *arg)
{
    struct txn_arg *a = arg;
    jcs_db_val p[2] = {JCS_DB_S(a->name), JCS_DB_I(7)};
    a->runs++;
    int rc = jcs_db_exec(c, "INSERT INTO names (name, v) VALUES (?, ?)", p, 2, NULL, NULL);
    if (rc)
        return rc;
    if (a->fail)
        return jcs_err_set(JCS_EINVAL, "the caller changed its mind about %s", a->name);
    return JCS_OK;
}

TEST(failed_txn_is_rolled_back_with_the_callers_error)
{
    NEED_MAIN();
    struct txn_arg a = {.name = "rolled-back", .fail = 1};
    int rc = jcs_db_txn(main_db, insert_then_maybe_fail, &a);
    T_EQ_INT(rc, JCS_EINVAL);
    T_EQ_STR(jcs_err_msg(rc), "the caller changed its mind about rolled-back");
    T_EQ_INT(a.runs, 1);
    jcs_db_val p = JCS_DB_S("rolled-back");
    T_EQ_INT(query_int(main_db, "SELECT COUNT(*) FROM names WHERE name = ?", &p, 1), 0);
}

TEST(committed_txn_is_visible_to_other_connections)
{
    NEED_MAIN();
    struct txn_arg a = {.name = "committed"};
    T_OK(jcs_db_txn(main_db, insert_then_maybe_fail, &a));
    /* A second pool is certainly another connection. */
    jcs_db *other;
    jcs_db_config cfg = config("jcs_main", 1);
    T_OK(jcs_db_open(&cfg, &other));
    jcs_db_val p = JCS_DB_S("committed");
    int64_t v = query_int(other, "SELECT v FROM names WHERE name = ?", &p, 1);
    jcs_db_close(other);
    T_EQ_INT(v, 7);
}

TEST(max_rows_cap_is_etoobig)
{
    NEED_MAIN();
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cap-%02d", i);
        jcs_db_val p[2] = {JCS_DB_S(name), JCS_DB_I(i)};
        T_OK(exec1(main_db, "INSERT INTO names (name, v) VALUES (?, ?)", p, 2));
    }
    const char *sql = "SELECT name, v FROM names WHERE name LIKE 'cap-%' ORDER BY name";
    jcs_db_result *r = NULL;
    int rc = query(main_db, sql, NULL, 0, 9, &r);
    T_EQ_INT(rc, JCS_ETOOBIG);
    T_ASSERT(r == NULL);
    T_ASSERT(strstr(jcs_err_msg(rc), "10 rows, more than the 9 allowed"), "msg: %s",
             jcs_err_msg(rc));
    /* The same statement still works afterwards, with enough room. */
    T_OK(query(main_db, sql, NULL, 0, 10, &r));
    int ok = r->nrows == 10 && r->ncols == 2 && strcmp(jcs_db_cell(r, 9, 0)->s, "cap-09") == 0 &&
             jcs_db_cell(r, 9, 1)->i == 9;
    jcs_db_result_free(r);
    T_ASSERT(ok, "10 rows in order");
}

struct worker {
    jcs_db *db;
    int th;
    int rc;
    char msg[512];
};

#define WORKERS 6
#define TXNS    40

struct bump {
    int th, seq;
};

static int bump_fn(jcs_db_conn *c, void *arg)
{
    struct bump *b = arg;
    jcs_db_val p[2] = {JCS_DB_I(b->th), JCS_DB_I(b->seq)};
    int rc = jcs_db_exec(c, "UPDATE counter SET n = n + 1 WHERE id = 1", NULL, 0, NULL, NULL);
    if (rc == 0)
        rc = jcs_db_exec(c, "INSERT INTO events (th, seq) VALUES (?, ?)", p, 2, NULL, NULL);
    return rc;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < TXNS && w->rc == 0; i++) {
        struct bump b = {w->th, i};
        w->rc = jcs_db_txn(w->db, bump_fn, &b);
    }
    snprintf(w->msg, sizeof(w->msg), "%s", w->rc ? jcs_err_msg(w->rc) : "");
    return NULL;
}

TEST(pool_shared_by_threads_loses_no_update)
{
    NEED_MAIN();
    /* More threads than connections: they queue for the pool. */
    struct worker w[WORKERS];
    pthread_t th[WORKERS];
    int64_t before = query_int(main_db, "SELECT n FROM counter WHERE id = 1", NULL, 0);
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.db = main_db, .th = i};
        T_ASSERT(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < WORKERS; i++)
        T_ASSERT(w[i].rc == 0, "worker %d: %s", i, w[i].msg);
    T_EQ_INT(query_int(main_db, "SELECT n FROM counter WHERE id = 1", NULL, 0) - before,
             WORKERS * TXNS);
    T_EQ_INT(query_int(main_db, "SELECT COUNT(*) FROM events", NULL, 0), WORKERS * TXNS);
}

struct crosser {
    int first, second; /* counter rows locked in this order */
    int runs;
    pthread_barrier_t *both_hold_one;
};

static int cross_fn(jcs_db_conn *c, void *arg)
{
    struct crosser *x = arg;
    jcs_db_val a = JCS_DB_I(x->first), b = JCS_DB_I(x->second);
    const char *sql = "UPDATE counter SET n = n + 1 WHERE id = ?";
    int rc = jcs_db_exec(c, sql, &a, 1, NULL, NULL);
    /* Only the first run waits until the other thread holds its row, which makes a deadlock
     * certain; a rerun just queues behind the winner's lock. */
    if (x->runs++ == 0)
        pthread_barrier_wait(x->both_hold_one);
    if (rc == 0)
        rc = jcs_db_exec(c, sql, &b, 1, NULL, NULL);
    return rc;
}

struct cross_run {
    struct crosser x;
    int rc;
    char msg[512];
};

static void *cross_thread(void *arg)
{
    struct cross_run *r = arg;
    r->rc = jcs_db_txn(main_db, cross_fn, &r->x);
    snprintf(r->msg, sizeof(r->msg), "%s", r->rc ? jcs_err_msg(r->rc) : "");
    return NULL;
}

TEST(deadlock_victim_is_rerun_and_both_commit)
{
    NEED_MAIN();
    T_OK(exec1(main_db, "INSERT IGNORE INTO counter VALUES (2, 0), (3, 0)", NULL, 0));
    jcs_db_val two = JCS_DB_I(2), three = JCS_DB_I(3);
    int64_t n2 = query_int(main_db, "SELECT n FROM counter WHERE id = ?", &two, 1);
    int64_t n3 = query_int(main_db, "SELECT n FROM counter WHERE id = ?", &three, 1);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    struct cross_run r[2] = {{.x = {2, 3, 0, &bar}}, {.x = {3, 2, 0, &bar}}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        T_ASSERT(pthread_create(&th[i], NULL, cross_thread, &r[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < 2; i++)
        T_ASSERT(r[i].rc == 0, "thread %d: %s", i, r[i].msg);
    /* One of them lost the deadlock and ran again; each committed exactly once. */
    T_EQ_INT(r[0].x.runs + r[1].x.runs, 3);
    T_EQ_INT(query_int(main_db, "SELECT n FROM counter WHERE id = ?", &two, 1), n2 + 2);
    T_EQ_INT(query_int(main_db, "SELECT n FROM counter WHERE id = ?", &three, 1), n3 + 2);
}

TEST(unix_socket_connection_works)
{
    NEED_MAIN();
    jcs_db *db;
    jcs_db_config cfg = config("jcs_main", 1);
    cfg.address = NULL;
    cfg.socket = srv.socket;
    T_OK(jcs_db_open(&cfg, &db));
    struct txn_arg a = {.name = "via-socket"};
    int rc = jcs_db_txn(db, insert_then_maybe_fail, &a);
    jcs_db_close(db);
    T_OK(rc);
    jcs_db_val p = JCS_DB_S("via-socket");
    T_EQ_INT(query_int(main_db, "SELECT v FROM names WHERE name = ?", &p, 1), 7);
}

TEST(statement_cache_eviction_keeps_results_right)
{
    NEED_SERVER();
    jcs_db *db;
    jcs_db_config cfg = config("jcs_main", 1);
    T_OK(jcs_db_open(&cfg, &db));
    int bad = -1;
    /* 150 distinct statements on one connection, twice: more than the cache holds. */
    for (int round = 0; round < 2 && bad < 0; round++) {
        for (int k = 0; k < 150 && bad < 0; k++) {
            char sql[64];
            snprintf(sql, sizeof(sql), "SELECT ? + %d", k);
            jcs_db_val p = JCS_DB_I(1000 * round);
            if (query_int(db, sql, &p, 1) != 1000 * round + k)
                bad = k;
        }
    }
    jcs_db_close(db);
    T_ASSERT(bad < 0, "statement %d gave a wrong result", bad);
}

/* ---- failures to connect ----------------------------------------------------------------------
 */

TEST(wrong_password_fails_naming_the_address)
{
    NEED_SERVER();
    jcs_db *db = NULL;
    jcs_db_config cfg = config("jcs_main", 1);
    cfg.password = "not the password";
    int rc = jcs_db_open(&cfg, &db);
    T_ASSERT(db == NULL);
    T_ASSERT(rc == JCS_EDB || rc == JCS_EUNAVAIL, "rc %d", rc);
    T_ASSERT(strstr(jcs_err_msg(rc), srv.addr) && strstr(jcs_err_msg(rc), "Access denied"),
             "msg: %s", jcs_err_msg(rc));
}

/* A port on 127.0.0.1 that nothing listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

TEST(unreachable_server_is_eunavail_naming_the_address)
{
    jcs_db_library_init();
    int port = closed_port();
    T_ASSERT(port > 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    jcs_db_config cfg = {.address = addr, .user = "nobody", .password = "x", .database = "x"};
    jcs_db *db = NULL;
    int rc = jcs_db_open(&cfg, &db);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(db == NULL);
    T_ASSERT(strstr(jcs_err_msg(rc), addr), "msg: %s", jcs_err_msg(rc));
    T_ASSERT(strchr(jcs_err_msg(rc), '\n') == NULL, "one line: %s", jcs_err_msg(rc));
}

TEST(bad_config_is_econfig)
{
    jcs_db *db = NULL;
    jcs_db_config cfg = {.address = "127.0.0.1", .user = "u"};
    int rc = jcs_db_open(&cfg, &db);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(strstr(jcs_err_msg(rc), "127.0.0.1"), "msg: %s", jcs_err_msg(rc));
    cfg = (jcs_db_config){.address = "127.0.0.1:1"};
    T_EQ_INT(jcs_db_open(&cfg, &db), JCS_ECONFIG);
}

/* ---- server restarts ------------------------------------------------------------------------- */

struct row_arg {
    int id;
};

static int insert_durable(jcs_db_conn *c, void *arg)
{
    struct row_arg *a = arg;
    char payload[32];
    snprintf(payload, sizeof(payload), "row %d", a->id);
    jcs_db_val p[2] = {JCS_DB_I(a->id), JCS_DB_S(payload)};
    return jcs_db_exec(c, "INSERT INTO durable (id, payload) VALUES (?, ?)", p, 2, NULL, NULL);
}

/* Whether rows 1..n are all there with their payloads. */
static int durable_rows_ok(jcs_db *db, int n, char *why, size_t cap)
{
    jcs_db_result *r = NULL;
    int rc = query(db, "SELECT id, payload FROM durable ORDER BY id", NULL, 0, 1000, &r);
    if (rc) {
        snprintf(why, cap, "query: %s", jcs_err_msg(rc));
        return 0;
    }
    int ok = r->nrows == (size_t)n;
    for (size_t i = 0; ok && i < r->nrows; i++) {
        char want[32];
        snprintf(want, sizeof(want), "row %zu", i + 1);
        ok =
            jcs_db_cell(r, i, 0)->i == (int64_t)i + 1 && strcmp(jcs_db_cell(r, i, 1)->s, want) == 0;
    }
    snprintf(why, cap, "%zu rows, want %d", r->nrows, n);
    jcs_db_result_free(r);
    return ok;
}

static void *start_later(void *arg)
{
    struct t_mariadb *m = arg;
    jcs_sleep_ms(1500);
    if (t_mariadb_ctl(m, "start") != 0)
        fprintf(stderr, "start_later: %s\n", m->err);
    return NULL;
}

TEST(txn_survives_a_server_restart_and_no_row_is_lost)
{
    NEED_MAIN();
    char why[256];
    for (int i = 1; i <= 20; i++) {
        struct row_arg a = {i};
        T_OK(jcs_db_txn(main_db, insert_durable, &a));
    }
    int port = srv.port;
    /* Every pooled connection is now dead; the next transaction must reconnect. */
    T_ASSERT(t_mariadb_ctl(&srv, "restart") == 0, "%s", srv.err);
    T_EQ_INT(srv.port, port);
    struct row_arg a21 = {21};
    T_OK(jcs_db_txn(main_db, insert_durable, &a21));
    T_ASSERT(durable_rows_ok(main_db, 21, why, sizeof(why)), "after restart: %s", why);

    /* Down for a while: the transaction waits for the server to come back. */
    T_ASSERT(t_mariadb_ctl(&srv, "stop") == 0, "%s", srv.err);
    pthread_t th;
    T_ASSERT(pthread_create(&th, NULL, start_later, &srv) == 0);
    struct row_arg a22 = {22};
    int rc = jcs_db_txn(main_db, insert_durable, &a22);
    pthread_join(th, NULL);
    T_OK(rc);
    T_ASSERT(durable_rows_ok(main_db, 22, why, sizeof(why)), "after an outage: %s", why);
}

/* ---- allocation failures --------------------------------------------------------------------- */

static int query_names_fn(jcs_db_conn *c, void *arg)
{
    struct q *q = arg;
    return jcs_db_query(c, q->sql, NULL, 0, 100, &q->res);
}

TEST(allocation_failures_are_enomem_and_leak_nothing)
{
    NEED_MAIN();
    /* A query: each allocation in turn fails, until one run needs no more. */
    int n, rc = JCS_ENOMEM;
    for (n = 0; n < 200 && rc == JCS_ENOMEM; n++) {
        struct q q = {.sql = "SELECT name, v, CONCAT(name, REPEAT('x', 300)) FROM names "
                             "WHERE name LIKE 'cap-0%' ORDER BY name"};
        jcs_alloc_fail_after(n);
        rc = jcs_db_with(main_db, query_names_fn, &q);
        jcs_alloc_fail_after(-1);
        if (rc == 0) {
            int ok = q.res->nrows == 10 && q.res->cells[2].len == 306;
            jcs_db_result_free(q.res);
            T_ASSERT(ok, "result after %d failing allocations", n);
        } else {
            T_ASSERT(q.res == NULL);
        }
    }
    T_OK(rc);
    T_ASSERT(n > 10, "the query made only %d allocations", n);

    /* An insert with more parameters than fit on the stack. */
    rc = JCS_ENOMEM;
    for (n = 0; n < 50 && rc == JCS_ENOMEM; n++) {
        char sql[256] = "SELECT COUNT(*) FROM names WHERE v IN (?";
        jcs_db_val p[20];
        for (int i = 0; i < 20; i++) {
            p[i] = JCS_DB_I(i);
            if (i)
                strcat(sql, ",?");
        }
        strcat(sql, ")");
        jcs_alloc_fail_after(n);
        struct q q = {.sql = sql, .params = p, .n = 20};
        rc = jcs_db_with(main_db, exec_fn, &q);
        jcs_alloc_fail_after(-1);
    }
    T_OK(rc);

    /* Opening a pool. */
    rc = JCS_ENOMEM;
    for (n = 0; n < 50 && rc == JCS_ENOMEM; n++) {
        jcs_db *db = NULL;
        jcs_db_config cfg = config("jcs_main", 2);
        jcs_alloc_fail_after(n);
        rc = jcs_db_open(&cfg, &db);
        jcs_alloc_fail_after(-1);
        if (rc == 0)
            jcs_db_close(db);
        else
            T_ASSERT(db == NULL && strstr(jcs_err_msg(rc), "out of memory"), "rc %d: %s", rc,
                     jcs_err_msg(rc));
    }
    T_OK(rc);
}

/* After every test: stops the server and checks that it is really gone. */
T_TEARDOWN(server)
{
    jcs_db_close(main_db);
    main_db = NULL;
    if (srv_state > 0) {
        char addr[64];
        snprintf(addr, sizeof(addr), "%s", srv.addr);
        t_mariadb_destroy(&srv);
        srv_state = 0;
        jcs_db *db = NULL;
        jcs_db_config cfg = {.address = addr, .user = DB_USER, .password = DB_PW};
        int rc = jcs_db_open(&cfg, &db);
        jcs_db_close(db);
        jcs_db_library_end();
        T_EQ_INT(rc, JCS_EUNAVAIL);
    } else {
        jcs_db_library_end();
    }
}
