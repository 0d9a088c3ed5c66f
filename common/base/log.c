#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static char tag[64] = "jcs";
static enum jcs_log_level min_level = JCS_LOG_INFO;
static FILE *out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void jcs_log_init(const char *t, enum jcs_log_level level)
{
    snprintf(tag, sizeof(tag), "%s", t);
    min_level = level;
}

int jcs_log_to_file(const char *path)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return jcs_err_set(JCS_EIO, "log file %s: cannot open: %s", path, strerror(errno));
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&lock);
    if (out)
        fclose(out);
    out = f;
    pthread_mutex_unlock(&lock);
    return JCS_OK;
}

int jcs_log_parse_level(const char *s, enum jcs_log_level *lv)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (s && strcasecmp(s, names[i]) == 0) {
            *lv = (enum jcs_log_level)i;
            return JCS_OK;
        }
    }
    return jcs_err_set(JCS_EINVAL, "unknown log level \"%s\" (debug, info, warn, error)",
                       s ? s : "");
}

void jcs_log(enum jcs_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    int n;
    va_list ap;

    if (level < min_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, names[level], tag);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&lock);
    fprintf(out ? out : stdout, "%s\n", line);
    if (!out)
        fflush(stdout);
    pthread_mutex_unlock(&lock);
}
