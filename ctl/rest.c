/*
 * jcsctl's side of the REST client (ctl.h): it chooses the endpoint and the
 * certificates and says where each came from; common/net/rest.c does the
 * HTTP. One jcs_rest serves the whole run, and jcsctl is single-threaded,
 * so consecutive requests reuse the one TLS connection (a put of many
 * small files or a recursive get pays one handshake).
 *
 * Every failure becomes one sentence naming what was involved: the
 * endpoint and where it came from, the certificate file and where it came
 * from, the server's own message. JSON answers are capped (CTL_MAX_JSON);
 * downloads go straight to the caller's sink, never into memory.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "ctl.h"
#include "rest.h"
#include "util.h"
#include "version.h"

#define CTL_MAX_JSON (256u << 20) /* a listing of a big package is large, but not this */

/* The directory holding the running executable (caller frees), or NULL. */
static char *exe_dir(void)
{
    char p[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
    if (n <= 0)
        return NULL;
    p[n] = '\0';
    char *slash = strrchr(p, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return jcs_strdup(p[0] ? p : "/");
}

/* One of the three files: flag, else environment, else beside the executable. */
static int pick_file(const char *opt, const char *opt_name, const char *env, const char *dir,
                     const char *file, const char *what, char **out, const char **from)
{
    const char *e = getenv(env);
    char *path = NULL;
    if (opt) {
        path = jcs_strdup(opt);
        *from = opt_name;
    } else if (e && *e) {
        path = jcs_strdup(e);
        *from = env;
    } else if (dir) {
        path = jcs_asprintf("%s/%s", dir, file);
        *from = "beside jcsctl";
        if (path && access(path, F_OK) != 0) {
            /* TLS cannot be set up without it: a connection failure (exit 3), as README says. */
            int rc =
                jcs_err_set(JCS_ETLS, "no %s: give %s FILE, set %s, or put %s beside jcsctl in %s",
                            what, opt_name, env, file, dir);
            jcs_free(path);
            return rc;
        }
    } else {
        return jcs_err_set(JCS_ETLS, "no %s: give %s FILE or set %s", what, opt_name, env);
    }
    if (!path)
        return JCS_ENOMEM;
    if (access(path, R_OK) != 0) {
        int rc = jcs_err_set(JCS_ETLS, "%s %s (from %s) cannot be read: %s", what, path, *from,
                             strerror(errno));
        jcs_free(path);
        return rc;
    }
    *out = path;
    return 0;
}

int ctl_connect(ctl *c)
{
    if (c->rest)
        return 0;
    int rc;
    const char *e = getenv("JCS_ENDPOINT");
    const char *ep;
    if (c->endpoint_opt)
        ep = c->endpoint_opt, c->endpoint_from = "--endpoint";
    else if (e && *e)
        ep = e, c->endpoint_from = "JCS_ENDPOINT";
    else
        ep = CTL_DEFAULT_ENDPOINT, c->endpoint_from = "the default";
    if (strncmp(ep, "http://", 7) == 0)
        return ctl_usage("endpoint %s (from %s): jcs serves HTTPS only; write https://", ep,
                         c->endpoint_from);
    /* A failed earlier attempt may have left some names behind. */
    jcs_free(c->endpoint);
    jcs_free(c->ca);
    jcs_free(c->cert);
    jcs_free(c->key);
    c->ca = c->cert = c->key = NULL;
    c->endpoint = strstr(ep, "://") ? jcs_strdup(ep) : jcs_asprintf("https://%s", ep);
    if (!c->endpoint)
        return JCS_ENOMEM;
    size_t len = strlen(c->endpoint);
    while (len > 8 && c->endpoint[len - 1] == '/')
        c->endpoint[--len] = '\0';

    char *dir = exe_dir();
    if ((rc = pick_file(c->ca_opt, "--ca", "JCS_CA", dir, "ca_cert.pem", "CA certificate", &c->ca,
                        &c->ca_from)) ||
        (rc = pick_file(c->cert_opt, "--cert", "JCS_CERT", dir, "client_cert.pem",
                        "client certificate", &c->cert, &c->cert_from)) ||
        (rc = pick_file(c->key_opt, "--key", "JCS_KEY", dir, "client_key.pem", "client key",
                        &c->key, &c->key_from))) {
        jcs_free(dir);
        return rc;
    }
    jcs_free(dir);
    /* No deadline but the connect's: a command may move gigabytes, and Ctrl-C stops it. */
    jcs_rest_opts o = {.endpoint = c->endpoint,
                       .ca = c->ca,
                       .cert = c->cert,
                       .key = c->key,
                       .endpoint_from = c->endpoint_from,
                       .ca_from = c->ca_from,
                       .cert_from = c->cert_from,
                       .key_from = c->key_from,
                       .endpoint_how = "--endpoint or JCS_ENDPOINT",
                       .ca_how = "--ca or JCS_CA",
                       .cert_how = "--cert/--key or JCS_CERT/JCS_KEY",
                       .user_agent = "jcsctl/" JCS_VERSION,
                       .connect_timeout_ms = 15000,
                       .max_json = CTL_MAX_JSON,
                       .einval_is_local = 1};
    return jcs_rest_new(&o, &c->rest);
}

void ctl_close(ctl *c)
{
    jcs_rest_free(c->rest);
    c->rest = NULL;
    jcs_free(c->endpoint);
    jcs_free(c->ca);
    jcs_free(c->cert);
    jcs_free(c->key);
    c->endpoint = c->ca = c->cert = c->key = NULL;
}

int ctl_get(ctl *c, const char *path, const char *const *kv, json_t **data)
{
    int rc = ctl_connect(c);
    return rc ? rc : jcs_rest_get(c->rest, path, kv, data);
}

int ctl_post(ctl *c, const char *path, json_t *body, json_t **data)
{
    int rc = ctl_connect(c);
    return rc ? rc : jcs_rest_post(c->rest, path, body, data);
}

static void on_progress(void *arg, int64_t now)
{
    ctl_progress_set(arg, now);
}

int ctl_upload(ctl *c, json_t *info, const jcs_rest_file *files, size_t n, ctl_progress *prog,
               json_t **data)
{
    int rc = ctl_connect(c);
    jcs_rest_progress p = {prog && prog->on ? on_progress : NULL, prog};
    return rc ? rc : jcs_rest_upload(c->rest, "/v1/object/upload", info, files, n, &p, data);
}

int ctl_upload_raw(ctl *c, const char *path, const char *const *kv, const jcs_rest_file *f,
                   ctl_progress *prog, json_t **data)
{
    int rc = ctl_connect(c);
    jcs_rest_progress p = {prog && prog->on ? on_progress : NULL, prog};
    return rc ? rc : jcs_rest_upload_raw(c->rest, path, kv, f, &p, data);
}

int ctl_download(ctl *c, const char *path, const char *const *kv, jcs_rest_sink sink, void *arg,
                 ctl_progress *prog, int64_t *got)
{
    int rc = ctl_connect(c);
    *got = 0;
    jcs_rest_progress p = {prog && prog->on ? on_progress : NULL, prog};
    return rc ? rc : jcs_rest_download(c->rest, path, kv, sink, arg, &p, got);
}
