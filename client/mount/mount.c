/* jcs mount: options, configuration, the modules wired together, the orderly end. */
#include "mount.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "client_config.h"
#include "bcache.h"
#include "dcache.h"
#include "fsops.h"
#include "rest.h"
#include "stage.h"
#include "vfs.h"
#include "log.h"
#include "util.h"
#include "version.h"

static const char usage_text[] =
    "usage: jcs mount -c CONFIG.json [DIR] [options]\n"
    "  Mounts the JointCloud of the running `jcs serve` at DIR (default: mount.mountPoint):\n"
    "  DIR/BUCKET/PACKAGE/path/of/object. Unmount with `fusermount3 -u DIR` or SIGTERM;\n"
    "  staged writes are uploaded before the process exits.\n"
    "options:\n"
    "  --endpoint URL         the REST API [https://<http.listen of the config>]\n"
    "  --ca F --cert F --key F  certificates [ca_cert.pem, client_cert.pem, client_key.pem\n"
    "                         beside the config]\n"
    "  -o OPTS                extra FUSE options (e.g. allow_other)\n"
    "  --ready-file F         written once the directory is mounted\n"
    "  --flush-timeout S      how long to keep uploading at exit [300]\n"
    "  --debug                FUSE debug output\n";

typedef struct margs {
    const char *config, *dir, *endpoint, *ca, *cert, *key, *fuse_opts, *ready;
    int64_t flush_s;
    bool debug;
} margs;

static int parse_args(int argc, char **argv, margs *a)
{
    memset(a, 0, sizeof *a);
    a->flush_s = 300;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, field)                                                                           \
    if (strcmp(s, name) == 0 && val) {                                                             \
        a->field = val;                                                                            \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        OPT("-c", config)
        OPT("--config", config)
        OPT("--endpoint", endpoint)
        OPT("--ca", ca)
        OPT("--cert", cert)
        OPT("--key", key)
        OPT("-o", fuse_opts)
        OPT("--ready-file", ready)
#undef OPT
        if (strcmp(s, "--flush-timeout") == 0 && val) {
            char *end;
            a->flush_s = strtoll(val, &end, 10);
            if (*end || a->flush_s < 0) {
                fprintf(stderr, "jcs mount: --flush-timeout wants seconds, not \"%s\"\n", val);
                return 2;
            }
            i++;
            continue;
        }
        if (strcmp(s, "--debug") == 0) {
            a->debug = true;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            fputs(usage_text, stdout);
            return -1;
        }
        if (s[0] != '-' && !a->dir) {
            a->dir = s;
            continue;
        }
        fprintf(stderr, "jcs mount: unknown or incomplete option \"%s\" (see jcs mount --help)\n",
                s);
        return 2;
    }
    if (!a->config) {
        fprintf(stderr, "jcs mount: -c CONFIG.json is required (see jcs mount --help)\n");
        return 2;
    }
    return 0;
}

/* The config file's directory (absolute) + "/" + name, or the given override. */
static char *beside(const char *config_path, const char *override, const char *name)
{
    if (override)
        return jcs_strdup(override);
    char *abs = realpath(config_path, NULL);
    const char *p = abs ? abs : config_path;
    const char *slash = strrchr(p, '/');
    char *r = slash ? jcs_asprintf("%.*s/%s", (int)(slash - p), p, name) : jcs_strdup(name);
    free(abs);
    return r;
}

static char *default_endpoint(const jcs_client_config *c)
{
    char host[256];
    int port;
    if (jcs_parse_addr(c->http.listen, host, sizeof host, &port) != 0)
        return NULL;
    const char *h = host;
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        h = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        h = "::1";
    bool v6 = strchr(h, ':') != NULL && h[0] != '[';
    return jcs_asprintf("https://%s%s%s:%d", v6 ? "[" : "", h, v6 ? "]" : "", port);
}

static int setup_logging(const jcs_client_config *c)
{
    jcs_log_init("jcs-mount", c->logger.level);
    if (strcmp(c->logger.output, "file") != 0)
        return JCS_OK;
    int rc = jcs_mkdirs(c->logger.output_directory, 0755);
    if (rc)
        return rc;
    char *p =
        jcs_asprintf("%s/%s-mount.log", c->logger.output_directory, c->logger.output_file_name);
    if (!p)
        return JCS_ENOMEM;
    rc = jcs_log_to_file(p);
    jcs_free(p);
    return rc;
}

int jcs_mount_main(int argc, char **argv)
{
    margs a;
    int prc = parse_args(argc, argv, &a);
    if (prc)
        return prc < 0 ? 0 : prc;
    jcs_client_config cfg;
    int rc = jcs_client_config_load(a.config, &cfg);
    if (rc) {
        fprintf(stderr, "jcs mount: %s\n", jcs_err_msg(rc));
        return 1;
    }
    int ec = 1;
    char *endpoint = NULL, *ca = NULL, *cert = NULL, *key = NULL, *data = NULL, *meta = NULL;
    char *blocks = NULL, *staging = NULL, *empty = NULL;
    jcs_rest *rest = NULL;
    jcs_bcache *cache = NULL;
    jcs_dcache *dcache = NULL;
    jcs_vfs *vfs = NULL;
    jcs_stage *stage = NULL;
    const char *dir = a.dir ? a.dir : (cfg.mount.mount_point[0] ? cfg.mount.mount_point : NULL);
    if (!dir) {
        fprintf(stderr, "jcs mount: no directory given and mount.mountPoint of %s is empty\n",
                cfg.path);
        ec = 2;
        goto out;
    }
    if ((rc = setup_logging(&cfg)) != 0) {
        fprintf(stderr, "jcs mount: %s\n", jcs_err_msg(rc));
        goto out;
    }
    endpoint = a.endpoint ? jcs_strdup(a.endpoint) : default_endpoint(&cfg);
    ca = beside(cfg.path, a.ca, "ca_cert.pem");
    cert = beside(cfg.path, a.cert, "client_cert.pem");
    key = beside(cfg.path, a.key, "client_key.pem");
    data = cfg.mount.data_dir[0] ? jcs_strdup(cfg.mount.data_dir)
                                 : beside(cfg.path, NULL, "mount/data");
    meta = cfg.mount.meta_dir[0] ? jcs_strdup(cfg.mount.meta_dir)
                                 : beside(cfg.path, NULL, "mount/meta");
    if (!endpoint || !ca || !cert || !key || !data || !meta) {
        fprintf(stderr, "jcs mount: out of memory, or http.listen of %s does not parse\n",
                cfg.path);
        goto out;
    }
    for (const char **f = (const char *[]){ca, cert, key, NULL}; *f; f++) {
        if (access(*f, R_OK) != 0) {
            fprintf(stderr,
                    "jcs mount: cannot read %s (jcs init writes it beside config.json; or give "
                    "--ca/--cert/--key)\n",
                    *f);
            goto out;
        }
    }
    blocks = jcs_asprintf("%s/blocks", data);
    staging = jcs_asprintf("%s/staging", data);
    empty = jcs_asprintf("%s/empty", data);
    if (!blocks || !staging || !empty)
        goto out;
    if ((rc = jcs_rest_global_init()) != 0)
        goto fail;
    /*
     * Every call has a deadline, so a slow or dead service never hangs the
     * mount: metadata calls end after 30 s, transfers after 30 s without a
     * byte moving (a 1 GiB transfer may take long, but never stand still).
     */
    jcs_rest_opts ro = {.endpoint = endpoint,
                        .ca = ca,
                        .cert = cert,
                        .key = key,
                        .endpoint_from = a.endpoint ? "--endpoint" : "http.listen of config.json",
                        .ca_from = a.ca ? "--ca" : "beside config.json",
                        .cert_from = a.cert ? "--cert" : "beside config.json",
                        .key_from = a.key ? "--key" : "beside config.json",
                        .endpoint_how = "--endpoint",
                        .ca_how = "--ca",
                        .cert_how = "--cert/--key",
                        .user_agent = "jcs-mount/" JCS_VERSION,
                        .connect_timeout_ms = 10000,
                        .timeout_ms = 30000,
                        .stall_ms = 30000};
    if ((rc = jcs_rest_new(&ro, &rest)) != 0)
        goto fail;
    json_t *st = NULL;
    if ((rc = jcs_rest_get(rest, "/v1/system/status", NULL, &st)) != 0) {
        fprintf(stderr, "jcs mount: the jcs service at %s does not answer: %s\n", endpoint,
                jcs_err_msg(rc));
        goto out;
    }
    json_decref(st);
    if ((rc = jcs_bcache_open(blocks, cfg.mount.max_cache_size, &cache)) ||
        (rc = jcs_dcache_new(cfg.mount.attr_timeout_ms, 1024, &dcache)) ||
        (rc = jcs_write_file(empty, "", 0, 0600)))
        goto fail;
    jcs_vfs_opts vo = {rest, cache, dcache, cfg.redundancy_json, empty, cfg.mount.attr_timeout_ms};
    if ((rc = jcs_vfs_new(&vo, &vfs)) != 0)
        goto fail;
    jcs_stage_opts so = {.data_dir = staging,
                         .meta_dir = meta,
                         .pending_ms = cfg.mount.upload_pending_time_ms,
                         .cache = cache,
                         .upload = jcs_vfs_upload,
                         .workers = 8,
                         .arg = vfs};
    if ((rc = jcs_stage_open(&so, &stage)) != 0)
        goto fail;
    jcs_vfs_set_stage(vfs, stage);
    jcs_info("mount: %s -> %s (cache %s, cap %lld bytes, attrTimeout %lld ms, "
             "uploadPendingTime %lld ms, %lld files staged from earlier runs)",
             endpoint, dir, data, (long long)cfg.mount.max_cache_size,
             (long long)cfg.mount.attr_timeout_ms, (long long)cfg.mount.upload_pending_time_ms,
             (long long)jcs_stage_pending(stage));
    jcs_fsops_opts fo = {.mountpoint = dir,
                         .fuse_options = a.fuse_opts,
                         .ready_file = a.ready,
                         .attr_timeout_ms = cfg.mount.attr_timeout_ms,
                         .uid = (uint32_t)cfg.mount.uid,
                         .gid = (uint32_t)cfg.mount.gid,
                         .debug = a.debug};
    rc = jcs_fsops_run(vfs, &fo);
    if (rc)
        fprintf(stderr, "jcs mount: %s\n", jcs_err_msg(rc));
    int64_t pending = jcs_stage_pending(stage);
    if (pending)
        jcs_info("mount: uploading %lld staged files before exit", (long long)pending);
    int left = jcs_stage_close(stage, a.flush_s * 1000);
    stage = NULL;
    if (left)
        jcs_error("mount: %d staged files could not be uploaded in %lld s; they stay in %s and "
                  "are uploaded by the next mount",
                  left, (long long)a.flush_s, data);
    ec = rc || left ? 1 : 0;
    goto out;
fail:
    fprintf(stderr, "jcs mount: %s\n", jcs_err_msg(rc));
out:
    if (stage)
        (void)jcs_stage_close(stage, 0);
    jcs_vfs_free(vfs);
    jcs_dcache_free(dcache);
    jcs_bcache_free(cache);
    jcs_rest_free(rest);
    jcs_free(endpoint);
    jcs_free(ca);
    jcs_free(cert);
    jcs_free(key);
    jcs_free(data);
    jcs_free(meta);
    jcs_free(blocks);
    jcs_free(staging);
    jcs_free(empty);
    jcs_client_config_clear(&cfg);
    return ec;
}
