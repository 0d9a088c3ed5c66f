/*
 * log.h - one line per event on stdout (or a file), safe from any thread.
 * Fatal start-up errors go to stderr separately, so a supervisor sees them.
 *
 * Format: "2026-11-22T10:00:00.123Z INFO  hub[hub1] text". The component
 * tag is set once per process with jcs_log_init.
 */
#ifndef JCS_LOG_H
#define JCS_LOG_H

#include "err.h"

enum jcs_log_level { JCS_LOG_DEBUG = 0, JCS_LOG_INFO, JCS_LOG_WARN, JCS_LOG_ERROR };

/* Sets the tag ("coordinator", "hub[hub1]") and the lowest level printed. Copies tag. */
void jcs_log_init(const char *tag, enum jcs_log_level level);

/*
 * Sends lines to path (appending) instead of stderr. Returns JCS_EIO with a
 * detail naming the file when it cannot be opened.
 */
int jcs_log_to_file(const char *path) JCS_MUST_USE;

/* Parses "debug", "info", "warn", "error"; JCS_EINVAL otherwise. */
int jcs_log_parse_level(const char *s, enum jcs_log_level *out) JCS_MUST_USE;

void jcs_log(enum jcs_log_level level, const char *fmt, ...) JCS_PRINTF(2, 3);

#define jcs_debug(...) jcs_log(JCS_LOG_DEBUG, __VA_ARGS__)
#define jcs_info(...)  jcs_log(JCS_LOG_INFO, __VA_ARGS__)
#define jcs_warn(...)  jcs_log(JCS_LOG_WARN, __VA_ARGS__)
#define jcs_error(...) jcs_log(JCS_LOG_ERROR, __VA_ARGS__)

#endif
