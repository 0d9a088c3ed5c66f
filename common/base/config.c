#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "util.h"

#define CFG_MAX_BYTES (1 << 20)

static int finish_load(const char *name, const char *text, jcs_cfg *cfg)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return jcs_err_set(JCS_ECONFIG, "%s: line %d column %d: invalid JSON: %s", name, jerr.line,
                           jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return jcs_err_set(JCS_ECONFIG, "%s: the top level must be a JSON object", name);
    }
    char *dircopy = jcs_strdup(name);
    cfg->path = jcs_strdup(name);
    cfg->dir = dircopy ? jcs_strdup(dirname(dircopy)) : NULL;
    jcs_free(dircopy);
    if (!cfg->path || !cfg->dir) {
        json_decref(root);
        /* Leave cfg empty, so a caller's jcs_cfg_clear after the failure is harmless. */
        jcs_cfg_clear(cfg);
        return jcs_err_set(JCS_ENOMEM, "%s: out of memory", name);
    }
    cfg->root = root;
    return JCS_OK;
}

int jcs_cfg_load(const char *path, jcs_cfg *cfg)
{
    char *text;
    memset(cfg, 0, sizeof(*cfg));
    int rc = jcs_read_file(path, CFG_MAX_BYTES, &text, NULL);
    if (rc)
        return jcs_err_wrap(rc == JCS_ENOMEM ? rc : jcs_err_recode(rc, JCS_ECONFIG),
                            "config file ");
    rc = finish_load(path, text, cfg);
    jcs_free(text);
    return rc;
}

int jcs_cfg_parse(const char *name, const char *text, jcs_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    return finish_load(name, text, cfg);
}

void jcs_cfg_clear(jcs_cfg *cfg)
{
    if (cfg->root)
        json_decref(cfg->root);
    jcs_free(cfg->path);
    jcs_free(cfg->dir);
    memset(cfg, 0, sizeof(*cfg));
}

json_t *jcs_cfg_get(const jcs_cfg *cfg, const char *field)
{
    char key[256];
    const char *p = field;
    json_t *cur = cfg->root;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(key) || !json_is_object(cur))
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p = dot ? dot + 1 : p + n;
    }
    return json_is_null(cur) ? NULL : cur;
}

static int bad(const jcs_cfg *cfg, const char *field, const char *what)
{
    return jcs_err_set(JCS_ECONFIG, "%s: field %s: %s", cfg->path, field, what);
}

int jcs_cfg_str(const jcs_cfg *cfg, const char *field, const char *def, char **out)
{
    json_t *v = jcs_cfg_get(cfg, field);
    const char *s;
    if (!v || (json_is_string(v) && !*json_string_value(v) && !def)) {
        if (!def)
            return bad(cfg, field, "missing (a string is required)");
        s = def;
    } else if (!json_is_string(v)) {
        return bad(cfg, field, "must be a string");
    } else {
        s = json_string_value(v);
    }
    *out = jcs_strdup(s);
    return *out ? JCS_OK : jcs_err_set(JCS_ENOMEM, "out of memory");
}

int jcs_cfg_int(const jcs_cfg *cfg, const char *field, bool has_def, long long def, long long min,
                long long max, long long *out)
{
    json_t *v = jcs_cfg_get(cfg, field);
    long long x;
    if (!v) {
        if (!has_def)
            return bad(cfg, field, "missing (an integer is required)");
        x = def;
    } else if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v)) {
        /* Converting a double outside the long long range is undefined; 2^63 is exact. */
        double d = json_real_value(v);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            return jcs_err_set(JCS_ECONFIG, "%s: field %s: %g is outside %lld..%lld", cfg->path,
                               field, d, min, max);
        x = (long long)d;
    } else {
        return bad(cfg, field, "must be an integer");
    }
    if (x < min || x > max)
        return jcs_err_set(JCS_ECONFIG, "%s: field %s: %lld is outside %lld..%lld", cfg->path,
                           field, x, min, max);
    *out = x;
    return JCS_OK;
}

int jcs_cfg_num(const jcs_cfg *cfg, const char *field, bool has_def, double def, double min,
                double max, double *out)
{
    json_t *v = jcs_cfg_get(cfg, field);
    double x;
    if (!v) {
        if (!has_def)
            return bad(cfg, field, "missing (a number is required)");
        x = def;
    } else if (json_is_number(v)) {
        x = json_number_value(v);
    } else {
        return bad(cfg, field, "must be a number");
    }
    if (!(x >= min && x <= max))
        return jcs_err_set(JCS_ECONFIG, "%s: field %s: %g is outside %g..%g", cfg->path, field, x,
                           min, max);
    *out = x;
    return JCS_OK;
}

int jcs_cfg_bool(const jcs_cfg *cfg, const char *field, bool has_def, bool def, bool *out)
{
    json_t *v = jcs_cfg_get(cfg, field);
    if (!v) {
        if (!has_def)
            return bad(cfg, field, "missing (true or false is required)");
        *out = def;
        return JCS_OK;
    }
    if (!json_is_boolean(v))
        return bad(cfg, field, "must be true or false");
    *out = json_is_true(v);
    return JCS_OK;
}

static int resolve(const jcs_cfg *cfg, const char *p, char **out)
{
    *out = p[0] == '/' ? jcs_strdup(p) : jcs_asprintf("%s/%s", cfg->dir, p);
    return *out ? JCS_OK : jcs_err_set(JCS_ENOMEM, "out of memory");
}

int jcs_cfg_path(const jcs_cfg *cfg, const char *field, const char *def, char **out)
{
    char *s;
    int rc = jcs_cfg_str(cfg, field, def, &s);
    if (rc)
        return rc;
    rc = resolve(cfg, s, out);
    jcs_free(s);
    return rc;
}

int jcs_cfg_check_file(const jcs_cfg *cfg, const char *field, const char *path)
{
    /* Opening proves readability where access() would not (root passes every access check),
     * and fstat rejects a directory given where a file belongs. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        why = "is a directory";
    if (fd >= 0)
        close(fd);
    if (why)
        return jcs_err_set(JCS_ECONFIG, "%s: field %s: %s: cannot read: %s", cfg->path, field, path,
                           why);
    return JCS_OK;
}

int jcs_cfg_file(const jcs_cfg *cfg, const char *field, char **out)
{
    char *p;
    int rc = jcs_cfg_path(cfg, field, NULL, &p);
    if (rc)
        return rc;
    if ((rc = jcs_cfg_check_file(cfg, field, p)) != 0) {
        jcs_free(p);
        return rc;
    }
    *out = p;
    return JCS_OK;
}
