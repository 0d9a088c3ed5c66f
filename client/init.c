#include "init.h"

#include <openssl/rand.h>

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "alloc.h"
#include "cert.h"
#include "client_config.h"
#include "util.h"

#define ANSWER_MAX 4096
#define DAYS_MAX   36500 /* as common/net/cert.c */

const char jcs_init_usage[] =
    "usage: jcs init [--yes] [--force] [--dir DIR] [--coordinator ADDR] [--rpc-ca FILE]\n"
    "                [--rpc-cert FILE] [--rpc-key FILE] [--location NAME] [--db-address ADDR]\n"
    "                [--db-account NAME] [--db-password PW] [--db-name NAME]\n"
    "                [--http-listen ADDR] [--cert-days N] [--s3-listen ADDR|none]\n";

enum kind { K_DIR, K_ADDR, K_ADDR_OPT, K_FILE, K_NAME, K_SECRET, K_DAYS };

/* One value of the config: its flag, its prompt, its default (NULL: required). */
typedef struct field {
    const char *flag;
    const char *prompt;
    const char *def;
    enum kind kind;
    char *value; /* owned once chosen */
} field;

enum {
    F_DIR,
    F_COORD,
    F_RPC_CA,
    F_RPC_CERT,
    F_RPC_KEY,
    F_LOCATION,
    F_DB_ADDRESS,
    F_DB_ACCOUNT,
    F_DB_PASSWORD,
    F_DB_NAME,
    F_HTTP_LISTEN,
    F_CERT_DAYS,
    F_S3_LISTEN, /* last: piped answers written for older versions still line up */
    NFIELDS
};

static const field field_defs[NFIELDS] = {
    [F_DIR] = {"--dir", "Directory for config.json and the certificates", ".", K_DIR, NULL},
    [F_COORD] = {"--coordinator", "Coordinator address (host:port)", JCS_CLIENT_DEFAULT_COORDINATOR,
                 K_ADDR, NULL},
    [F_RPC_CA] = {"--rpc-ca", "Cluster CA certificate (PEM) the coordinator and hubs use", NULL,
                  K_FILE, NULL},
    [F_RPC_CERT] = {"--rpc-cert", "This client's RPC certificate (OU=client, from the cluster CA)",
                    NULL, K_FILE, NULL},
    [F_RPC_KEY] = {"--rpc-key", "Its private key", NULL, K_FILE, NULL},
    [F_LOCATION] = {"--location", "This client's location (a hub location name; empty for none)",
                    "", K_NAME, NULL},
    [F_DB_ADDRESS] = {"--db-address", "MySQL address (host:port)", JCS_CLIENT_DEFAULT_DB_ADDRESS,
                      K_ADDR, NULL},
    [F_DB_ACCOUNT] = {"--db-account", "MySQL user", JCS_CLIENT_DEFAULT_DB_ACCOUNT, K_NAME, NULL},
    [F_DB_PASSWORD] = {"--db-password", "MySQL password", JCS_CLIENT_DEFAULT_DB_PASSWORD, K_SECRET,
                       NULL},
    [F_DB_NAME] = {"--db-name", "MySQL database name", JCS_CLIENT_DEFAULT_DB_NAME, K_NAME, NULL},
    [F_HTTP_LISTEN] = {"--http-listen", "HTTPS listen address of the REST API (host:port)",
                       JCS_CLIENT_DEFAULT_HTTP_LISTEN, K_ADDR, NULL},
    [F_CERT_DAYS] = {"--cert-days", "Validity of the HTTP certificates in days", "3650", K_DAYS,
                     NULL},
    [F_S3_LISTEN] = {"--s3-listen",
                     "HTTPS listen address of the S3 gateway (host:port; none for no S3 port)",
                     "127.0.0.1:7891", K_ADDR_OPT, NULL},
};

/* The files init writes, in the order they are moved into place (config.json last). */
static const char *const out_files[] = {"ca_cert.pem",    "ca_key.pem",      "server_cert.pem",
                                        "server_key.pem", "client_cert.pem", "client_key.pem",
                                        "config.json"};
#define NOUT (sizeof(out_files) / sizeof(out_files[0]))

typedef struct init_state {
    field f[NFIELDS];
    bool yes, force, tty;
    char dir[PATH_MAX];      /* absolute */
    char tmp[PATH_MAX + 32]; /* DIR/.jcs-init-XXXXXX while building */
    char host[256];          /* the listen host */
    int days;
    char s3_access[21]; /* the generated S3 key pair */
    char s3_secret[41];
} init_state;

/* n random characters of alphabet into out (NUL-terminated). */
static int random_text(const char *alphabet, char *out, size_t n)
{
    unsigned char rnd[64];
    size_t na = strlen(alphabet);
    if (n > sizeof rnd || RAND_bytes(rnd, (int)n) != 1)
        return jcs_err_set(JCS_EINTERNAL, "no random bytes for the S3 key pair");
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rnd[i] % na];
    out[n] = '\0';
    return JCS_OK;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "jcs init: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", jcs_init_usage);
    return 2;
}

/*
 * Checks one value; NULL when good, else a reason written to why. Files are
 * checked readable here; whether they fit together is checked once all are
 * known.
 */
static const char *check_value(const field *fd, const char *v, char *why, size_t whylen)
{
    char host[256];
    int port;
    switch (fd->kind) {
    case K_DIR:
        if (!*v)
            return "empty path";
        return NULL;
    case K_ADDR_OPT:
        if (strcmp(v, "none") == 0)
            return NULL;
        /* fall through */
    case K_ADDR: {
        int arc = jcs_parse_addr(v, host, sizeof(host), &port);
        if (arc) {
            snprintf(why, whylen, "%s", jcs_err_msg(arc));
            return why;
        }
        return NULL;
    }
    case K_FILE: {
        if (!*v)
            return "a file is required";
        FILE *fp = fopen(v, "r");
        if (!fp) {
            snprintf(why, whylen, "%s: cannot read: %s", v, strerror(errno));
            return why;
        }
        fclose(fp);
        return NULL;
    }
    case K_DAYS: {
        char *end;
        errno = 0;
        long d = strtol(v, &end, 10);
        if (!*v || *end || errno || d < 1 || d > DAYS_MAX) {
            snprintf(why, whylen, "\"%s\": want a number of days 1..%d", v, DAYS_MAX);
            return why;
        }
        return NULL;
    }
    case K_NAME:
    case K_SECRET:
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20)
                return "control characters are not allowed";
        return NULL;
    }
    return NULL;
}

static int set_value(field *fd, const char *v)
{
    jcs_free(fd->value);
    fd->value = jcs_strdup(v);
    return fd->value ? 0 : -1;
}

/* Parses the flags; 0, -1 after --help, or the exit code of a usage error. */
static int parse_args(init_state *st, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) {
            st->yes = true;
            continue;
        }
        if (strcmp(a, "--force") == 0) {
            st->force = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(jcs_init_usage, stdout);
            return -1;
        }
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        field *fd = NULL;
        for (int k = 0; k < NFIELDS; k++)
            if (strlen(st->f[k].flag) == n && strncmp(st->f[k].flag, a, n) == 0)
                fd = &st->f[k];
        if (!fd)
            return usage_error("unknown option \"%s\"", a);
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v)
            return usage_error("%s needs a value", fd->flag);
        char why[600];
        const char *bad = check_value(fd, v, why, sizeof(why));
        if (bad) {
            fprintf(stderr, "jcs init: %s: %s\n%s", fd->flag, bad, jcs_init_usage);
            return 2;
        }
        if (set_value(fd, v)) {
            fprintf(stderr, "jcs init: out of memory\n");
            return 1;
        }
    }
    return 0;
}

/* Reads one line of stdin without the newline; echo off for secrets on a terminal. */
static int read_answer(const init_state *st, bool secret, char *buf, size_t len)
{
    struct termios old, quiet;
    bool restore = false;
    if (secret && st->tty && tcgetattr(0, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(0, TCSANOW, &quiet) == 0;
    }
    char *r = fgets(buf, (int)len, stdin);
    if (restore) {
        tcsetattr(0, TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (!r)
        return 1; /* end of input */
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n == len - 1 && !feof(stdin))
        return -1; /* longer than the buffer */
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return 0;
}

/* Asks for every value not given; 0, or an exit code. */
static int ask(init_state *st)
{
    for (int k = 0; k < NFIELDS; k++) {
        field *fd = &st->f[k];
        if (fd->value)
            continue;
        if (st->yes) {
            if (!fd->def) {
                fprintf(stderr, "jcs init: %s is required with --yes (%s)\n%s", fd->flag,
                        fd->prompt, jcs_init_usage);
                return 2;
            }
            if (set_value(fd, fd->def))
                goto oom;
            continue;
        }
        for (;;) {
            char line[ANSWER_MAX], why[600];
            if (fd->def)
                fprintf(stderr, "%s [%s]: ", fd->prompt, fd->def);
            else
                fprintf(stderr, "%s: ", fd->prompt);
            fflush(stderr);
            int r = read_answer(st, fd->kind == K_SECRET, line, sizeof(line));
            if (r < 0) {
                fprintf(stderr, "\njcs init: %s: answer longer than %d bytes\n", fd->flag,
                        ANSWER_MAX - 2);
                return 1;
            }
            if (!st->tty)
                fputc('\n', stderr); /* the answer came from a pipe: end the prompt's line */
            if (r > 0 && !fd->def) {
                fprintf(stderr, "jcs init: end of input before %s was answered (%s)\n", fd->flag,
                        fd->prompt);
                return 1;
            }
            const char *v = (r > 0 || !*line) && fd->def ? fd->def : line;
            const char *bad = check_value(fd, v, why, sizeof(why));
            if (!bad) {
                if (set_value(fd, v))
                    goto oom;
                break;
            }
            /* On a terminal the person can try again; a script's answers would be misaligned. */
            if (!st->tty || r > 0) {
                fprintf(stderr, "jcs init: %s: %s\n", fd->flag, bad);
                return 1;
            }
            fprintf(stderr, "  %s; try again\n", bad);
        }
    }
    return 0;
oom:
    fprintf(stderr, "jcs init: out of memory\n");
    return 1;
}

static int to_absolute(field *fd)
{
    char buf[PATH_MAX];
    if (!realpath(fd->value, buf)) {
        fprintf(stderr, "jcs init: %s: %s: %s\n", fd->flag, fd->value, strerror(errno));
        return 1;
    }
    return set_value(fd, buf) ? 1 : 0;
}

/* The cluster certificate must fit its CA and key and carry the client role. */
static int check_rpc(init_state *st)
{
    const char *ca = st->f[F_RPC_CA].value, *cert = st->f[F_RPC_CERT].value,
               *key = st->f[F_RPC_KEY].value;
    int rc = jcs_cert_verify(ca, cert, key);
    if (rc) {
        fprintf(stderr, "jcs init: --rpc-cert: %s\n", jcs_err_msg(rc));
        return 1;
    }
    char *pem = NULL, role[64];
    size_t len = 0;
    rc = jcs_read_file(cert, 1 << 20, &pem, &len);
    if (!rc)
        rc = jcs_cert_subject_pem(pem, len, role, sizeof(role), NULL, 0);
    jcs_free(pem);
    if (rc) {
        fprintf(stderr, "jcs init: --rpc-cert: %s\n", jcs_err_msg(rc));
        return 1;
    }
    if (strcmp(role, "client") != 0) {
        fprintf(stderr,
                "jcs init: --rpc-cert: %s has role \"%s\"; the client needs a certificate with "
                "OU=client (e.g. coordinator cert issue --role client ...)\n",
                cert, role);
        return 1;
    }
    return 0;
}

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* Builds config.json as JSON text (caller frees with free(): jansson allocates it). */
static char *config_text(const init_state *st)
{
    char ca[PATH_MAX + 32], sc[PATH_MAX + 32], sk[PATH_MAX + 32], logdir[PATH_MAX + 32];
    path_in(ca, sizeof(ca), st->dir, "ca_cert.pem");
    path_in(sc, sizeof(sc), st->dir, "server_cert.pem");
    path_in(sk, sizeof(sk), st->dir, "server_key.pem");
    path_in(logdir, sizeof(logdir), st->dir, "log");
    const char *rpc_ca = st->f[F_RPC_CA].value;
    /* The key that seals the S3 secrets in the database (seal.h): random, only in this 0600
     * file. */
    char secrets_key[2 * 32 + 1];
    if (jcs_random_hex(secrets_key, 32) != 0)
        return NULL;
    /* README order; the additions (rpc, location) sit beside the RPC sections, redundancy last. */
    json_t *root = json_pack(
        "{s:{s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:s,"
        " s:{s:s, s:s, s:s, s:s},"
        " s:{s:s, s:s, s:s, s:s, s:s},"
        " s:{s:i}, s:{s:i, s:i}, s:{s:i}, s:{s:I, s:f, s:s, s:s, s:b, s:f},"
        " s:{s:b, s:s, s:s, s:s, s:s, s:[], s:I},"
        " s:{s:b, s:s, s:i, s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s},"
        " s:{s:s, s:s}, s:{s:s}}",
        "hubRPC", "rootCA", rpc_ca, "coordinatorRPC", "address", st->f[F_COORD].value, "rootCA",
        rpc_ca, "rpc", "cert", st->f[F_RPC_CERT].value, "key", st->f[F_RPC_KEY].value, "location",
        st->f[F_LOCATION].value, "logger", "output", "stdout", "outputFileName", "client",
        "outputDirectory", logdir, "level", "debug", "db", "address", st->f[F_DB_ADDRESS].value,
        "account", st->f[F_DB_ACCOUNT].value, "password", st->f[F_DB_PASSWORD].value,
        "databaseName", st->f[F_DB_NAME].value, "secretsKey", secrets_key, "connectivity",
        "testInterval", 300, "downloader", "maxStripCacheCount", 100, "ecStripPrefetchCount", 1,
        "downloadStrategy", "highLatencyHub", 35, "tickTock", "ecFileSizeThreshold",
        (json_int_t)5242880, "accessStatHistoryWeight", 0.8, "gcGracePeriod", "1h",
        "recoverGracePeriod", "5m", "deepCheck", 1, "scrubRateMBps", 10.0, "http", "enabled", 1,
        "listen", st->f[F_HTTP_LISTEN].value, "rootCA", ca, "serverCert", sc, "serverKey", sk,
        "clientCerts", "maxBodySize", (json_int_t)5242880, "mount", "enabled", 0, "mountPoint", "",
        "gid", 0, "uid", 0, "dataDir", "", "metaDir", "", "maxCacheSize", (json_int_t)0,
        "attrTimeout", "10s", "uploadPendingTime", "30s", "cacheActiveTime", "1m",
        "cacheExpireTime", "1m", "scanDataDirInterval", "10m", "accessToken", "account", "",
        "password", "", "redundancy", "type", "none");
    if (!root)
        return NULL;
    /* The S3 gateway (README): its listen address and a generated key pair. */
    const char *s3l = st->f[F_S3_LISTEN].value;
    json_t *s3 = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "listen",
                           strcmp(s3l, "none") == 0 ? "" : s3l, "region", "us-east-1",
                           "credentials", "accessKey", st->s3_access, "secretKey", st->s3_secret);
    if (!s3 || json_object_set_new(root, "s3", s3) != 0) {
        json_decref(root);
        return NULL;
    }
    /* Shortest digits that read back the same: 0.8, not 0.80000000000000004. */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(root);
    return text;
}

/* Host names for the server certificate: the listen host (unless a wildcard), 127.0.0.1, localhost.
 */
static size_t server_sans(const init_state *st, char names[][256], size_t max)
{
    size_t n = 0;
    const char *cand[3] = {st->host, "127.0.0.1", "localhost"};
    char hostname[256] = "";
    if (!*st->host || strcmp(st->host, "0.0.0.0") == 0 || strcmp(st->host, "::") == 0) {
        /* A wildcard listens on every address: name the machine instead. */
        if (gethostname(hostname, sizeof(hostname) - 1) != 0)
            hostname[0] = '\0';
        cand[0] = hostname;
    }
    for (size_t i = 0; i < 3 && n < max; i++) {
        bool dup = !*cand[i];
        for (size_t j = 0; j < n && !dup; j++)
            dup = strcmp(names[j], cand[i]) == 0;
        if (!dup)
            snprintf(names[n++], 256, "%s", cand[i]);
    }
    return n;
}

static void cleanup_tmp(const init_state *st)
{
    char p[PATH_MAX + 64];
    if (!st->tmp[0])
        return;
    for (size_t i = 0; i < NOUT; i++) {
        path_in(p, sizeof(p), st->tmp, out_files[i]);
        unlink(p);
    }
    rmdir(st->tmp);
}

/* Makes every file in st->tmp. 0 or a jcs_err (detail set). */
static int build(init_state *st, char sans[][256], size_t *nsans)
{
    char ca[PATH_MAX + 64], cak[PATH_MAX + 64], c[PATH_MAX + 64], k[PATH_MAX + 64];
    path_in(ca, sizeof(ca), st->tmp, "ca_cert.pem");
    path_in(cak, sizeof(cak), st->tmp, "ca_key.pem");
    int rc = jcs_cert_create_ca(st->tmp, "jcs-http-ca", st->days);
    if (rc)
        return rc;
    const char *san_ptrs[3];
    *nsans = server_sans(st, sans, 3);
    for (size_t i = 0; i < *nsans; i++)
        san_ptrs[i] = sans[i];
    jcs_cert_req srv = {.role = "server",
                        .name = "jcs-server",
                        .sans = san_ptrs,
                        .nsans = *nsans,
                        .days = st->days};
    path_in(c, sizeof(c), st->tmp, "server_cert.pem");
    path_in(k, sizeof(k), st->tmp, "server_key.pem");
    if ((rc = jcs_cert_issue(ca, cak, &srv, c, k)))
        return rc;
    jcs_cert_req cli = {.role = "client", .name = "jcsctl", .days = st->days};
    path_in(c, sizeof(c), st->tmp, "client_cert.pem");
    path_in(k, sizeof(k), st->tmp, "client_key.pem");
    if ((rc = jcs_cert_issue(ca, cak, &cli, c, k)))
        return rc;
    if ((rc = random_text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", st->s3_access + 3, 17)) != 0 ||
        (rc = random_text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                          st->s3_secret, 40)) != 0)
        return rc;
    memcpy(st->s3_access, "JCS", 3);
    char *text = config_text(st);
    if (!text)
        return jcs_err_set(JCS_ENOMEM, "config.json: out of memory");
    char *with_nl = jcs_asprintf("%s\n", text);
    free(text); /* jansson's allocation, not ours */
    if (!with_nl)
        return jcs_err_set(JCS_ENOMEM, "config.json: out of memory");
    path_in(c, sizeof(c), st->tmp, "config.json");
    rc = jcs_write_file(c, with_nl, strlen(with_nl), 0600);
    jcs_free(with_nl);
    return rc;
}

static int install(init_state *st)
{
    char from[PATH_MAX + 64], to[PATH_MAX + 32];
    for (size_t i = 0; i < NOUT; i++) {
        path_in(from, sizeof(from), st->tmp, out_files[i]);
        path_in(to, sizeof(to), st->dir, out_files[i]);
        if (rename(from, to) != 0)
            return jcs_err_set(JCS_EIO, "%s: cannot move into place: %s", to, strerror(errno));
    }
    rmdir(st->tmp);
    st->tmp[0] = '\0';
    return JCS_OK;
}

static int run(init_state *st)
{
    int ec;
    if ((ec = ask(st)) != 0)
        return ec;
    st->days = atoi(st->f[F_CERT_DAYS].value);
    int port;
    int arc = jcs_parse_addr(st->f[F_HTTP_LISTEN].value, st->host, sizeof(st->host), &port);
    if (arc)
        return usage_error("--http-listen: %s", jcs_err_msg(arc));
    if ((ec = to_absolute(&st->f[F_RPC_CA])) || (ec = to_absolute(&st->f[F_RPC_CERT])) ||
        (ec = to_absolute(&st->f[F_RPC_KEY])) || (ec = check_rpc(st)))
        return ec;

    const char *dir = st->f[F_DIR].value;
    int rc = jcs_mkdirs(dir, 0700);
    if (rc || !realpath(dir, st->dir)) {
        fprintf(stderr, "jcs init: --dir %s: %s\n", dir, rc ? jcs_err_msg(rc) : strerror(errno));
        return 1;
    }
    if (!st->force) {
        /* config.json first: it is the file a person most likely meant to keep. */
        for (size_t i = NOUT; i-- > 0;) {
            char p[PATH_MAX + 32];
            struct stat sb;
            path_in(p, sizeof(p), st->dir, out_files[i]);
            if (lstat(p, &sb) == 0) {
                fprintf(stderr, "jcs init: %s already exists (use --force to overwrite)\n", p);
                return 1;
            }
        }
    }
    path_in(st->tmp, sizeof(st->tmp), st->dir, ".jcs-init-XXXXXX");
    if (!mkdtemp(st->tmp)) {
        fprintf(stderr, "jcs init: cannot create a temporary directory in %s: %s\n", st->dir,
                strerror(errno));
        st->tmp[0] = '\0';
        return 1;
    }
    char sans[3][256];
    size_t nsans = 0;
    if ((rc = build(st, sans, &nsans)) || (rc = install(st))) {
        fprintf(stderr, "jcs init: %s\n", jcs_err_msg(rc));
        cleanup_tmp(st);
        return 1;
    }
    /* What was written must pass the checks jcs serve makes (certificates, paths, fields). */
    char cfg_path[PATH_MAX + 32];
    jcs_client_config cfg;
    path_in(cfg_path, sizeof(cfg_path), st->dir, "config.json");
    if ((rc = jcs_client_config_load(cfg_path, &cfg)) != 0) {
        fprintf(stderr, "jcs init: the written configuration does not load: %s\n", jcs_err_msg(rc));
        return 1;
    }
    jcs_client_config_clear(&cfg);
    printf("jcs init: wrote %s/\n", st->dir);
    printf("  config.json                       the client's configuration\n");
    printf("  ca_cert.pem                       root certificate of the HTTP service\n");
    printf("  ca_key.pem                        its private key: keep it safe (jcs serve does "
           "not need it)\n");
    printf("  server_cert.pem, server_key.pem   the HTTPS server's certificate (for");
    for (size_t i = 0; i < nsans; i++)
        printf("%s %s", i ? "," : "", sans[i]);
    printf(")\n");
    printf("  client_cert.pem, client_key.pem   for jcsctl and other REST callers\n");
    if (strcmp(st->f[F_S3_LISTEN].value, "none") != 0)
        printf("  S3 gateway on https://%s, access key %s (the secret is in config.json, "
               "s3.credentials)\n",
               st->f[F_S3_LISTEN].value, st->s3_access);
    printf("next: jcs serve -c %s/config.json\n", st->dir);
    return 0;
}

int jcs_init_main(int argc, char **argv)
{
    init_state st;
    memset(&st, 0, sizeof(st));
    memcpy(st.f, field_defs, sizeof(st.f));
    st.tty = isatty(0);
    int ec = parse_args(&st, argc, argv);
    if (!ec)
        ec = run(&st);
    else if (ec < 0)
        ec = 0; /* --help */
    cleanup_tmp(&st);
    for (int k = 0; k < NFIELDS; k++)
        jcs_free(st.f[k].value);
    return ec;
}
