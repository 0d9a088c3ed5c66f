#include "t_mariadb.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Servers still running, stopped at exit when a test returned early. */
static struct t_mariadb *live[8];

static void stop_all_at_exit(void)
{
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (live[i])
            t_mariadb_destroy(live[i]);
}

static void track(struct t_mariadb *m, int on)
{
    static int registered;
    if (!registered) {
        atexit(stop_all_at_exit);
        registered = 1;
    }
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        if (on && !live[i]) {
            live[i] = m;
            return;
        }
        if (!on && live[i] == m)
            live[i] = NULL;
    }
}

static int fail(struct t_mariadb *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct t_mariadb *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof(m->err), fmt, ap);
    va_end(ap);
    return -1;
}

/* The script, found from the repository root (tests/run starts there) or $JCS_ROOT. */
static const char *script(void)
{
    static char path[1024];
    const char *root = getenv("JCS_ROOT");
    if (root) {
        snprintf(path, sizeof(path), "%s/deploy/local/mariadb", root);
        if (access(path, X_OK) == 0)
            return path;
    }
    static const char *const tries[] = {"deploy/local/mariadb", "../deploy/local/mariadb",
                                        "../../deploy/local/mariadb",
                                        "../../../deploy/local/mariadb"};
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        if (access(tries[i], X_OK) == 0) {
            if (!realpath(tries[i], path))
                snprintf(path, sizeof(path), "%s", tries[i]);
            return path;
        }
    }
    return NULL;
}

/* Appends s to buf as one single-quoted shell word. */
static void shell_word(char *buf, size_t cap, const char *s)
{
    size_t o = strlen(buf);
    if (o + 1 < cap)
        buf[o++] = ' ';
    if (o + 1 < cap)
        buf[o++] = '\'';
    for (; *s && o + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(buf + o, "'\\''", 4);
            o += 4;
        } else {
            buf[o++] = *s;
        }
    }
    if (o + 1 < cap)
        buf[o++] = '\'';
    buf[o] = '\0';
}

/* Runs the script with args (NULL-terminated); its stderr ends up in m->err on failure. */
static int run(struct t_mariadb *m, const char *arg0, ...)
{
    char cmd[4096] = "", errfile[300];
    const char *s = script();
    if (!s)
        return fail(m, "deploy/local/mariadb not found (run the test from the repository root "
                       "or set JCS_ROOT)");
    snprintf(cmd, sizeof(cmd), "exec");
    shell_word(cmd, sizeof(cmd), s);
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a; a = va_arg(ap, const char *))
        shell_word(cmd, sizeof(cmd), a);
    va_end(ap);
    snprintf(errfile, sizeof(errfile), "%s/ctl.err", m->dir);
    strncat(cmd, " 2>", sizeof(cmd) - strlen(cmd) - 1);
    shell_word(cmd, sizeof(cmd), errfile);
    int st = system(cmd);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    char msg[800] = "";
    FILE *f = fopen(errfile, "r");
    if (f) {
        size_t n = fread(msg, 1, sizeof(msg) - 1, f);
        msg[n] = '\0';
        fclose(f);
    }
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return fail(m, "deploy/local/mariadb %s --dir %s failed (status %d): %s", arg0, m->dir, st,
                msg);
}

static int read_env(struct t_mariadb *m)
{
    char path[300], line[512];
    snprintf(path, sizeof(path), "%s/mariadb.env", m->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(m, "%s: missing after start", path);
    m->port = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "MARIADB_PORT=", 13) == 0)
            m->port = atoi(line + 13);
        else if (strncmp(line, "MARIADB_PID=", 12) == 0)
            m->pid = atoi(line + 12);
        else if (strncmp(line, "MARIADB_SOCKET=", 15) == 0)
            snprintf(m->socket, sizeof(m->socket), "%s", line + 15);
    }
    fclose(f);
    if (m->port <= 0)
        return fail(m, "%s: no MARIADB_PORT", path);
    snprintf(m->addr, sizeof(m->addr), "127.0.0.1:%d", m->port);
    return 0;
}

int t_mariadb_start(struct t_mariadb *m)
{
    char owner[32];
    memset(m, 0, sizeof(*m));
    snprintf(m->dir, sizeof(m->dir), "/tmp/jcs-mariadb-XXXXXX");
    if (!mkdtemp(m->dir))
        return fail(m, "mkdtemp /tmp/jcs-mariadb-XXXXXX failed");
    track(m, 1);
    snprintf(owner, sizeof(owner), "%d", (int)getpid());
    if (run(m, "start", "--dir", m->dir, "--owner-pid", owner, (char *)NULL) != 0)
        return -1;
    return read_env(m);
}

int t_mariadb_create_db(struct t_mariadb *m, const char *db, const char *user, const char *pw)
{
    return run(m, "create-db", "--dir", m->dir, "--db", db, "--user", user, "--password", pw,
               (char *)NULL);
}

int t_mariadb_ctl(struct t_mariadb *m, const char *cmd)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", m->port);
    /* A start after a stop keeps the port, so addresses in open pools stay right. */
    if (strcmp(cmd, "start") == 0 && m->port > 0) {
        if (run(m, cmd, "--dir", m->dir, "--port", port, (char *)NULL) != 0)
            return -1;
    } else if (run(m, cmd, "--dir", m->dir, (char *)NULL) != 0) {
        return -1;
    }
    return strcmp(cmd, "stop") == 0 ? 0 : read_env(m);
}

void t_mariadb_destroy(struct t_mariadb *m)
{
    char cmd[600] = "exec rm -rf";
    if (!m->dir[0])
        return;
    track(m, 0);
    if (run(m, "stop", "--dir", m->dir, (char *)NULL) != 0)
        fprintf(stderr, "t_mariadb: %s\n", m->err);
    shell_word(cmd, sizeof(cmd), m->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "t_mariadb: cannot remove %s\n", m->dir);
    m->dir[0] = '\0';
}
