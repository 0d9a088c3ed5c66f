/*
 * config.h - JSON configuration files (jansson), with errors that name the
 * file and the field.
 *
 * Fields are addressed by dotted paths ("coordinatorRPC.address"). A getter
 * given no default treats the field as required. Every error detail reads
 * "FILE: field F: PROBLEM", so a service can print it and exit.
 */
#ifndef JCS_CONFIG_H
#define JCS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"

typedef struct jcs_cfg {
    json_t *root; /* owned */
    char *path;   /* owned; the file as given */
    char *dir;    /* owned; directory of the file, for relative paths */
} jcs_cfg;

/*
 * Reads and parses path (at most 1 MiB). JCS_ECONFIG when it cannot be read
 * (the detail names the file and the reason), is not valid JSON (the detail
 * gives line and column) or is not a JSON object; JCS_ENOMEM. On success the
 * caller frees with jcs_cfg_clear; after a failure cfg is empty.
 */
int jcs_cfg_load(const char *path, jcs_cfg *cfg) JCS_MUST_USE;

/* Same from a string; name is used in error details. */
int jcs_cfg_parse(const char *name, const char *text, jcs_cfg *cfg) JCS_MUST_USE;

void jcs_cfg_clear(jcs_cfg *cfg);

/* The JSON value at a dotted path, or NULL. Borrowed. */
json_t *jcs_cfg_get(const jcs_cfg *cfg, const char *field);

/*
 * A string field; def == NULL makes it required. An empty string counts as
 * missing for a required field. *out is a new string; caller frees.
 */
int jcs_cfg_str(const jcs_cfg *cfg, const char *field, const char *def, char **out) JCS_MUST_USE;

/* An integer field within [min, max]; required when !has_def. */
int jcs_cfg_int(const jcs_cfg *cfg, const char *field, bool has_def, long long def, long long min,
                long long max, long long *out) JCS_MUST_USE;

/* A number field within [min, max]; required when !has_def. */
int jcs_cfg_num(const jcs_cfg *cfg, const char *field, bool has_def, double def, double min,
                double max, double *out) JCS_MUST_USE;

int jcs_cfg_bool(const jcs_cfg *cfg, const char *field, bool has_def, bool def,
                 bool *out) JCS_MUST_USE;

/*
 * A path field naming a file that must be readable. Relative paths are
 * taken from the config file's directory. *out is the resolved path; caller
 * frees. The detail names the field and the file when it cannot be read.
 */
int jcs_cfg_file(const jcs_cfg *cfg, const char *field, char **out) JCS_MUST_USE;

/*
 * Checks that path (the value of field) names a readable file, not a
 * directory; JCS_ECONFIG with "FILE: field F: PATH: cannot read: WHY".
 */
int jcs_cfg_check_file(const jcs_cfg *cfg, const char *field, const char *path) JCS_MUST_USE;

/* Like jcs_cfg_file but for a path that need not exist yet (a directory to create). */
int jcs_cfg_path(const jcs_cfg *cfg, const char *field, const char *def, char **out) JCS_MUST_USE;

#endif
