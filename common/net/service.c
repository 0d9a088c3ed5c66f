#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cert.h"
#include "log.h"
#include "util.h"
#include "version.h"

int jcs_service_logger(const jcs_cfg *cfg, const char *tag)
{
    char *output = NULL, *level = NULL, *dir = NULL, *name = NULL;
    enum jcs_log_level lv;
    int rc = jcs_cfg_str(cfg, "logger.output", "stdout", &output);
    if (!rc)
        rc = jcs_cfg_str(cfg, "logger.level", "info", &level);
    if (!rc && (rc = jcs_log_parse_level(level, &lv)) != 0)
        rc = jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "%s: field logger.level: ", cfg->path);
    if (!rc)
        jcs_log_init(tag, lv);
    if (!rc && strcmp(output, "file") == 0) {
        rc = jcs_cfg_path(cfg, "logger.outputDirectory", "log", &dir);
        if (!rc)
            rc = jcs_cfg_str(cfg, "logger.outputFileName", "jcs", &name);
        if (!rc)
            rc = jcs_mkdirs(dir, 0755);
        if (!rc) {
            char *path = jcs_asprintf("%s/%s.log", dir, name);
            rc = path ? jcs_log_to_file(path) : jcs_err_set(JCS_ENOMEM, "out of memory");
            jcs_free(path);
        }
    } else if (!rc && strcmp(output, "stdout") != 0) {
        rc = jcs_err_set(JCS_ECONFIG, "%s: field logger.output: \"%s\" (want stdout or file)",
                         cfg->path, output);
    }
    jcs_free(output);
    jcs_free(level);
    jcs_free(dir);
    jcs_free(name);
    return rc;
}

int jcs_service_tls_load(const jcs_cfg *cfg, const char *section, jcs_service_tls *t)
{
    char field[128];
    memset(t, 0, sizeof(*t));
    snprintf(field, sizeof(field), "%s.rootCA", section);
    int rc = jcs_cfg_file(cfg, field, &t->ca_file);
    if (!rc) {
        snprintf(field, sizeof(field), "%s.cert", section);
        rc = jcs_cfg_file(cfg, field, &t->cert_file);
    }
    if (!rc) {
        snprintf(field, sizeof(field), "%s.key", section);
        rc = jcs_cfg_file(cfg, field, &t->key_file);
    }
    if (!rc && (rc = jcs_cert_verify(t->ca_file, t->cert_file, t->key_file)) != 0)
        rc = jcs_err_wrap(rc, "%s: section %s: ", cfg->path, section);
    if (rc)
        jcs_service_tls_clear(t);
    return rc;
}

int jcs_service_rpc_idle(const jcs_cfg *cfg, const char *field)
{
    long long s;
    int rc = jcs_cfg_int(cfg, field, true, JCS_RPC_IDLE_TIMEOUT_MS / 1000, 1, 3600, &s);
    if (!rc)
        jcs_rpc_set_idle_timeout_ms((int64_t)s * 1000);
    return rc;
}

void jcs_service_tls_clear(jcs_service_tls *t)
{
    jcs_free(t->ca_file);
    jcs_free(t->cert_file);
    jcs_free(t->key_file);
    memset(t, 0, sizeof(*t));
}

jcs_tls_files jcs_service_tls_files(const jcs_service_tls *t)
{
    jcs_tls_files f = {t->ca_file, t->cert_file, t->key_file};
    return f;
}

int jcs_service_ready(const char *path, const char *text)
{
    if (!path)
        return JCS_OK;
    char *line = jcs_asprintf("%s\n", text);
    if (!line)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    int rc = jcs_write_file(path, line, strlen(line), 0644);
    jcs_free(line);
    return rc;
}

static sigset_t stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

void jcs_service_block_signals(void)
{
    sigset_t set = stop_signals();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int jcs_service_wait_signal(void)
{
    sigset_t set = stop_signals();
    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) == 0 && sig != SIGHUP)
            return sig;
    }
}

struct jcs_stopper {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopped;
};

int jcs_stopper_new(jcs_stopper **out)
{
    jcs_stopper *s = jcs_calloc(1, sizeof(*s));
    if (!s)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = s;
    return JCS_OK;
}

bool jcs_stopper_sleep(jcs_stopper *s, long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->stopped) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
            break;
    }
    bool stopped = s->stopped;
    pthread_mutex_unlock(&s->mu);
    return stopped;
}

bool jcs_stopper_stopped(jcs_stopper *s)
{
    pthread_mutex_lock(&s->mu);
    bool stopped = s->stopped;
    pthread_mutex_unlock(&s->mu);
    return stopped;
}

void jcs_stopper_stop(jcs_stopper *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopped = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void jcs_stopper_free(jcs_stopper *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    jcs_free(s);
}

/* The options of "PROG serve": 0, or 2 after one line naming the problem. */
static int serve_args(const char *prog, int argc, char **argv, const char **config,
                      const char **ready)
{
    *config = NULL;
    *ready = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            *config = argv[++i];
        } else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            *ready = argv[++i];
        } else {
            fprintf(stderr, "%s serve: unknown or incomplete option \"%s\" (see %s --help)\n", prog,
                    argv[i], prog);
            return 2;
        }
    }
    if (!*config) {
        fprintf(stderr, "%s serve: -c CONFIG.json is required (see %s --help)\n", prog, prog);
        return 2;
    }
    return 0;
}

int jcs_service_main(const char *prog, int argc, char **argv, void (*usage)(FILE *f),
                     int (*serve)(const char *config, const char *ready_file))
{
    jcs_service_block_signals();
    const char *cmd = argc >= 2 ? argv[1] : "";
    if (strcmp(cmd, "cert") == 0)
        return jcs_cert_main(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("%s %s\n", prog, JCS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) {
        const char *config, *ready;
        int rc = serve_args(prog, argc - 1, argv + 1, &config, &ready);
        return rc ? rc : serve(config, ready);
    }
    usage(stderr);
    return 2;
}
