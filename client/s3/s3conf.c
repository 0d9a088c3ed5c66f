/*
 * client/s3/s3conf.c - the "s3" config section (s3conf.h).
 */
#include "s3conf.h"

#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "util.h"

void jcs_s3conf_free(jcs_s3conf *c)
{
    jcs_free(c->listen);
    jcs_free(c->region);
    jcs_free(c->domain);
    jcs_free(c->root_package);
    jcs_free(c->uploads_package);
    for (size_t i = 0; i < c->ncreds; i++) {
        jcs_free((char *)c->creds[i].access_key);
        jcs_free((char *)c->creds[i].secret_key);
    }
    jcs_free(c->creds);
    memset(c, 0, sizeof *c);
}

static int printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127)
            return 0;
    return 1;
}

static int pkg_name(const jcs_cfg *cfg, const char *field, const char *def, char **out)
{
    int rc = jcs_cfg_str(cfg, field, def, out);
    if (rc)
        return rc;
    if (!**out || strlen(*out) > 255 || strchr(*out, '/') || strcmp(*out, ".") == 0 ||
        strcmp(*out, "..") == 0)
        return jcs_err_set(JCS_ECONFIG, "%s: field %s: \"%s\" is not a package name", cfg->path,
                           field, *out);
    return JCS_OK;
}

int jcs_s3conf_load(const jcs_cfg *cfg, jcs_s3conf *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = jcs_cfg_str(cfg, "s3.listen", "", &out->listen)) ||
        (rc = jcs_cfg_str(cfg, "s3.region", "us-east-1", &out->region)) ||
        (rc = jcs_cfg_str(cfg, "s3.domain", "", &out->domain)) ||
        (rc = pkg_name(cfg, "s3.rootPackage", "_", &out->root_package)) ||
        (rc = pkg_name(cfg, "s3.uploadsPackage", "_uploads", &out->uploads_package)))
        goto fail;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long long max_up = ncpu > 2 ? 2 * ncpu : 4;
    if ((rc = jcs_cfg_int(cfg, "s3.maxTransfers", true, max_up > 1024 ? 1024 : max_up, 1, 1024,
                          &max_up)) != 0)
        goto fail;
    out->max_transfers = (unsigned)max_up;
    if (strcmp(out->root_package, out->uploads_package) == 0) {
        rc = jcs_err_set(JCS_ECONFIG, "%s: s3.rootPackage and s3.uploadsPackage are both \"%s\"",
                         cfg->path, out->root_package);
        goto fail;
    }
    if (!printable(out->region, 64)) {
        rc = jcs_err_set(JCS_ECONFIG, "%s: field s3.region: \"%s\" is not a region name", cfg->path,
                         out->region);
        goto fail;
    }
    if (*out->listen) {
        char host[256];
        int port;
        if ((rc = jcs_parse_addr(out->listen, host, sizeof host, &port)) != 0) {
            rc = jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "%s: field s3.listen: ", cfg->path);
            goto fail;
        }
    }
    json_t *creds = jcs_cfg_get(cfg, "s3.credentials");
    if (creds && !json_is_array(creds)) {
        rc = jcs_err_set(JCS_ECONFIG,
                         "%s: field s3.credentials: must be an array of "
                         "{\"accessKey\", \"secretKey\"}",
                         cfg->path);
        goto fail;
    }
    size_t n = creds ? json_array_size(creds) : 0;
    if (*out->listen && n == 0) {
        rc = jcs_err_set(JCS_ECONFIG,
                         "%s: field s3.credentials: at least one key pair is "
                         "needed when s3.listen is set",
                         cfg->path);
        goto fail;
    }
    if (n && !(out->creds = jcs_calloc(n, sizeof *out->creds))) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(creds, i);
        const char *ak = json_string_value(json_object_get(e, "accessKey"));
        const char *sk = json_string_value(json_object_get(e, "secretKey"));
        if (!ak || !sk || !printable(ak, 128) || !printable(sk, 250)) {
            rc = jcs_err_set(JCS_ECONFIG,
                             "%s: field s3.credentials[%zu]: accessKey (1..128) and secretKey "
                             "(1..250) must be printable ASCII without blanks",
                             cfg->path, i);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->creds[j].access_key, ak) == 0) {
                rc = jcs_err_set(JCS_ECONFIG,
                                 "%s: field s3.credentials[%zu]: accessKey %s "
                                 "appears twice",
                                 cfg->path, i, ak);
                goto fail;
            }
        out->creds[i].access_key = jcs_strdup(ak);
        out->creds[i].secret_key = jcs_strdup(sk);
        out->ncreds = i + 1;
        if (!out->creds[i].access_key || !out->creds[i].secret_key) {
            rc = jcs_err_set(JCS_ENOMEM, "out of memory");
            goto fail;
        }
    }
    return JCS_OK;
fail:
    jcs_s3conf_free(out);
    return rc;
}
