#include "seal.h"
#include "client_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "cert.h"
#include "util.h"

#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)

#define UNKNOWN_CAP 4096 /* bytes of the unknown-field list; the rest is cut */

/* ------------------------------------------------------------ durations */

static const struct {
    const char *name;
    int64_t ns;
} units[] = {
    {"ns", 1LL},
    {"us", 1000LL},
    {"\xc2\xb5s", 1000LL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000LL}, /* U+03BC Greek mu */
    {"ms", 1000000LL},
    {"s", 1000000000LL},
    {"m", 60LL * 1000000000LL},
    {"h", 3600LL * 1000000000LL},
};

int jcs_client_config_parse_duration(const char *s, int64_t *ns)
{
    const char *p = s;
    if (!s || !*s)
        return jcs_err_set(JCS_EINVAL, "duration \"\": empty (want e.g. \"10s\", \"1m30s\")");
    if (*p == '-')
        return jcs_err_set(JCS_EINVAL, "duration \"%s\": must not be negative", s);
    if (*p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return JCS_OK;
    }
    /* Seconds are at most 2^63 ns, about 9.2e18: sum in long double, check at the end. */
    long double total = 0;
    while (*p) {
        const char *start = p;
        long double whole = 0, frac = 0, scale = 1;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            whole = whole * 10 + (*p++ - '0');
            digits++;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                scale /= 10;
                frac += (*p++ - '0') * scale;
                digits++;
            }
        }
        if (digits == 0)
            return jcs_err_set(JCS_EINVAL,
                               "duration \"%s\": expected a number at \"%s\" (want e.g. \"10s\", "
                               "\"1m30s\")",
                               s, start);
        size_t best = 0;
        int64_t unit = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].name);
            /* Longest match, so "ms" is not read as "m" followed by "s". */
            if (n > best && strncmp(p, units[i].name, n) == 0) {
                best = n;
                unit = units[i].ns;
            }
        }
        if (!best)
            return jcs_err_set(JCS_EINVAL,
                               "duration \"%s\": missing or unknown unit at \"%s\" (use ns, us, "
                               "ms, s, m, h)",
                               s, p);
        p += best;
        total += (whole + frac) * (long double)unit;
        if (total > (long double)INT64_MAX)
            return jcs_err_set(JCS_ETOOBIG, "duration \"%s\": too long", s);
    }
    *ns = (int64_t)total;
    return JCS_OK;
}

/* -------------------------------------------------------------- redundancy */

static int red_int(const json_t *v, const char *what, const char *member, long long def,
                   long long min, long long max, long long *out)
{
    const json_t *m = json_object_get(v, member);
    if (!m || json_is_null(m)) {
        *out = def;
        return JCS_OK;
    }
    if (!json_is_integer(m))
        return jcs_err_set(JCS_EINVAL, "%s.%s: must be an integer", what, member);
    long long x = json_integer_value(m);
    if (x < min || x > max)
        return jcs_err_set(JCS_EINVAL, "%s.%s: %lld is outside %lld..%lld", what, member, x, min,
                           max);
    *out = x;
    return JCS_OK;
}

/*
 * JCS's lrc: {"type":"lrc","k":K,"n":N,"groups":[G...],"chunkSize":C}, with
 * JCS's defaults (k 2, n 4, groups [2], 5 MiB). The layout rules are
 * ec.h's jcs_ec_new_lrc: n - len(groups) >= k blocks are ec(k, n -
 * len(groups)), the groups cut a prefix of them, one XOR parity each.
 */
static int red_lrc(const json_t *v, const char *what, jcs_redundancy *r)
{
    long long a, b, c;
    int rc;
    if ((rc = red_int(v, what, "k", 2, 1, 255, &a)) ||
        (rc = red_int(v, what, "n", 4, 2, 256, &b)) ||
        (rc = red_int(v, what, "chunkSize", 5 * MIB, 1, 256 * MIB, &c)))
        return rc;
    r->type = JCS_RED_LRC;
    r->k = (int)a;
    r->n = (int)b;
    r->chunk_size = c;
    const json_t *g = json_object_get(v, "groups");
    if (!g || json_is_null(g)) {
        r->ngroups = 1;
        r->groups[0] = 2;
    } else {
        if (!json_is_array(g) || json_array_size(g) < 1 || json_array_size(g) > JCS_LRC_MAX_GROUPS)
            return jcs_err_set(JCS_EINVAL,
                               "%s.groups: must be an array of 1..%d group sizes (blocks per "
                               "local group)",
                               what, JCS_LRC_MAX_GROUPS);
        r->ngroups = (int)json_array_size(g);
        for (int i = 0; i < r->ngroups; i++) {
            const json_t *e = json_array_get(g, (size_t)i);
            if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 255)
                return jcs_err_set(JCS_EINVAL, "%s.groups[%d]: must be an integer 1..255", what, i);
            r->groups[i] = (int)json_integer_value(e);
        }
    }
    int m = r->n - r->ngroups, sum = 0;
    for (int i = 0; i < r->ngroups; i++)
        sum += r->groups[i];
    if (r->k > m)
        return jcs_err_set(JCS_EINVAL,
                           "%s: k (%d) must be at most n - len(groups) (%d - %d): the data and "
                           "global parity blocks come before the %d local parities",
                           what, r->k, r->n, r->ngroups, r->ngroups);
    if (sum > m)
        return jcs_err_set(JCS_EINVAL,
                           "%s.groups: cover %d blocks but only %d (n - len(groups)) data and "
                           "global parity blocks exist",
                           what, sum, m);
    return JCS_OK;
}

int jcs_client_config_redundancy_parse(const json_t *v, const char *what, jcs_redundancy *out)
{
    if (!json_is_object(v))
        return jcs_err_set(JCS_EINVAL, "%s: must be an object with a \"type\"", what);
    const json_t *t = json_object_get(v, "type");
    if (!json_is_string(t))
        return jcs_err_set(JCS_EINVAL, "%s.type: missing (none, rep, ec or lrc)", what);
    const char *type = json_string_value(t);
    jcs_redundancy r;
    memset(&r, 0, sizeof(r));
    long long a, b, c;
    int rc;
    if (strcmp(type, "none") == 0) {
        r.type = JCS_RED_NONE;
    } else if (strcmp(type, "rep") == 0) {
        if ((rc = red_int(v, what, "repCount", 2, 1, 100, &a)))
            return rc;
        r.type = JCS_RED_REP;
        r.rep_count = (int)a;
    } else if (strcmp(type, "ec") == 0) {
        if ((rc = red_int(v, what, "k", 2, 1, 255, &a)) ||
            (rc = red_int(v, what, "n", 3, 2, 256, &b)) ||
            (rc = red_int(v, what, "chunkSize", 5 * MIB, 1, 256 * MIB, &c)))
            return rc;
        if (a >= b)
            return jcs_err_set(JCS_EINVAL, "%s: k (%lld) must be less than n (%lld)", what, a, b);
        r.type = JCS_RED_EC;
        r.k = (int)a;
        r.n = (int)b;
        r.chunk_size = c;
    } else if (strcmp(type, "lrc") == 0) {
        if ((rc = red_lrc(v, what, &r)))
            return rc;
    } else if (strcmp(type, "segment") == 0 || strcmp(type, "multipartUpload") == 0) {
        return jcs_err_set(JCS_EINVAL,
                           "%s.type: \"%s\" cannot be chosen for new objects (use "
                           "none, rep, ec or lrc)",
                           what, type);
    } else {
        return jcs_err_set(JCS_EINVAL, "%s.type: unknown type \"%s\" (none, rep, ec or lrc)", what,
                           type);
    }
    *out = r;
    return JCS_OK;
}

char *jcs_client_config_redundancy_json(const jcs_redundancy *r)
{
    switch (r->type) {
    case JCS_RED_REP:
        return jcs_asprintf("{\"type\":\"rep\",\"repCount\":%d}", r->rep_count);
    case JCS_RED_EC:
        return jcs_asprintf("{\"type\":\"ec\",\"k\":%d,\"n\":%d,\"chunkSize\":%lld}", r->k, r->n,
                            (long long)r->chunk_size);
    case JCS_RED_LRC: {
        char g[JCS_LRC_MAX_GROUPS * 5 + 1];
        size_t o = 0;
        for (int i = 0; i < r->ngroups && i < JCS_LRC_MAX_GROUPS; i++)
            o += (size_t)snprintf(g + o, sizeof(g) - o, "%s%d", i ? "," : "", r->groups[i]);
        g[o] = 0;
        return jcs_asprintf("{\"type\":\"lrc\",\"k\":%d,\"n\":%d,\"groups\":[%s],"
                            "\"chunkSize\":%lld}",
                            r->k, r->n, g, (long long)r->chunk_size);
    }
    case JCS_RED_NONE:
    default:
        return jcs_strdup("{\"type\":\"none\"}");
    }
}

/* ------------------------------------------------------------ unknown fields */

/* The fields this version reads; a section's members are listed as "section.member". */
static const char *const known_fields[] = {
    "hubRPC",
    "hubRPC.rootCA",
    "coordinatorRPC",
    "coordinatorRPC.address",
    "coordinatorRPC.rootCA",
    "rpc",
    "rpc.cert",
    "rpc.key",
    "rpc.idleTimeoutSeconds",
    "rpc.bulkChannel",
    "location",
    "redundancy",
    "logger",
    "logger.output",
    "logger.outputFileName",
    "logger.outputDirectory",
    "logger.level",
    "db",
    "db.address",
    "db.socket",
    "db.account",
    "db.password",
    "db.databaseName",
    "db.secretsKey",
    "connectivity",
    "connectivity.testInterval",
    "downloader",
    "downloader.maxStripCacheCount",
    "downloader.ecStripPrefetchCount",
    "downloader.hedgeAfterPercentile",
    "downloader.hedgeMinDelay",
    "downloadStrategy",
    "downloadStrategy.highLatencyHub",
    "tickTock",
    "tickTock.ecFileSizeThreshold",
    "tickTock.accessStatHistoryWeight",
    "tickTock.gcGracePeriod",
    "tickTock.recoverGracePeriod",
    "tickTock.leaseTTL",
    "tickTock.deepCheck",
    "tickTock.scrubRateMBps",
    "ioswitch",
    "ioswitch.computeAt",
    "ioswitch.clientLinkCost",
    "http",
    "http.enabled",
    "http.listen",
    "http.rootCA",
    "http.serverCert",
    "http.serverKey",
    "http.clientCerts",
    "http.maxBodySize",
    /* Read by the HTTP server module itself (client/http/http.h). */
    "http.maxConnections",
    "http.maxConnectionsPerAddress",
    "http.headerTimeoutSec",
    "http.handshakeTimeoutSec",
    "http.timeoutSec",
    "http.maxParts",
    "http.threadPerConnection",
    "http.eventThreads",
    "http.workerThreads",
    /* Read by the S3 gateway (client/s3/s3conf.h). */
    "s3",
    "s3.listen",
    "s3.region",
    "s3.domain",
    "s3.rootPackage",
    "s3.uploadsPackage",
    "s3.credentials",
    "mount",
    "mount.enabled",
    "mount.mountPoint",
    "mount.gid",
    "mount.uid",
    "mount.dataDir",
    "mount.metaDir",
    "mount.maxCacheSize",
    "mount.attrTimeout",
    "mount.uploadPendingTime",
    "mount.cacheActiveTime",
    "mount.cacheExpireTime",
    "mount.scanDataDirInterval",
    "accessToken",
    "accessToken.account",
    "accessToken.password",
};

static int is_known(const char *field)
{
    for (size_t i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]); i++)
        if (strcmp(known_fields[i], field) == 0)
            return 1;
    return 0;
}

/* Lists unknown top-level fields and unknown members of known sections (not of "redundancy"). */
static int find_unknown(const json_t *root, char **out)
{
    jcs_buf b;
    jcs_buf_init(&b, UNKNOWN_CAP);
    const char *key;
    json_t *val;
    int rc = JCS_OK;
    *out = NULL;
    json_object_foreach((json_t *)root, key, val)
    {
        if (!is_known(key)) {
            rc = jcs_buf_printf(&b, "%s%s", b.len ? ", " : "", key);
        } else if (json_is_object(val) && strcmp(key, "redundancy") != 0) {
            const char *k2;
            json_t *v2;
            json_object_foreach(val, k2, v2)
            {
                char field[512];
                snprintf(field, sizeof(field), "%s.%s", key, k2);
                if (!is_known(field) &&
                    (rc = jcs_buf_printf(&b, "%s%s", b.len ? ", " : "", field)) != JCS_OK)
                    break;
            }
        }
        if (rc)
            break;
    }
    /* A list cut at its cap still names the first typos, which is its purpose. */
    if (rc == JCS_ETOOBIG)
        rc = JCS_OK;
    if (!rc && b.len)
        *out = jcs_buf_steal(&b);
    jcs_buf_clear(&b);
    return rc;
}

/* ------------------------------------------------------------------ loading */

static int oom(void)
{
    return jcs_err_set(JCS_ENOMEM, "out of memory");
}

/* An optional path: "" stays "", anything else is resolved against the file's directory. */
static int opt_path(const jcs_cfg *f, const char *field, char **out)
{
    char *s;
    int rc = jcs_cfg_str(f, field, "", &s);
    if (rc || !*s) {
        *out = s;
        return rc;
    }
    jcs_free(s);
    return jcs_cfg_path(f, field, NULL, out);
}

static int duration_ms(const jcs_cfg *f, const char *field, const char *def, int64_t *out)
{
    json_t *v = jcs_cfg_get(f, field);
    const char *s = def;
    if (v && !json_is_string(v))
        return jcs_err_set(JCS_ECONFIG,
                           "%s: field %s: must be a duration string such as \"%s\" (units ns, "
                           "us, ms, s, m, h)",
                           f->path, field, def);
    if (v)
        s = json_string_value(v);
    int64_t ns;
    int rc = jcs_client_config_parse_duration(s, &ns);
    if (rc)
        return jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "%s: field %s: ", f->path, field);
    *out = ns / 1000000;
    return JCS_OK;
}

static int int_field(const jcs_cfg *f, const char *field, long long def, long long min,
                     long long max, int64_t *out)
{
    long long x;
    int rc = jcs_cfg_int(f, field, true, def, min, max, &x);
    if (!rc)
        *out = x;
    return rc;
}

static int check_addr(const jcs_cfg *f, const char *field, const char *addr)
{
    char host[256];
    int port;
    int rc = jcs_parse_addr(addr, host, sizeof(host), &port);
    if (rc)
        return jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "%s: field %s: ", f->path, field);
    return JCS_OK;
}

static int load_rpc(const jcs_cfg *f, jcs_client_config *c)
{
    char *hub_ca = NULL, *coord_ca = NULL;
    int rc = jcs_cfg_str(f, "hubRPC.rootCA", "", &hub_ca);
    if (!rc)
        rc = jcs_cfg_str(f, "coordinatorRPC.rootCA", "", &coord_ca);
    if (!rc && !*hub_ca && !*coord_ca)
        rc = jcs_err_set(JCS_ECONFIG,
                         "%s: field coordinatorRPC.rootCA: missing (the cluster CA certificate; "
                         "hubRPC.rootCA is empty too)",
                         f->path);
    /* Each rootCA defaults to the other: one cluster CA signs every party. */
    if (!rc)
        rc = jcs_cfg_path(f, *coord_ca ? "coordinatorRPC.rootCA" : "hubRPC.rootCA", NULL,
                          &c->coordinator_root_ca);
    if (!rc)
        rc = jcs_cfg_path(f, *hub_ca ? "hubRPC.rootCA" : "coordinatorRPC.rootCA", NULL,
                          &c->hub_root_ca);
    if (!rc)
        rc = jcs_cfg_check_file(f, *coord_ca ? "coordinatorRPC.rootCA" : "hubRPC.rootCA",
                                c->coordinator_root_ca);
    if (!rc)
        rc = jcs_cfg_check_file(f, *hub_ca ? "hubRPC.rootCA" : "coordinatorRPC.rootCA",
                                c->hub_root_ca);
    jcs_free(hub_ca);
    jcs_free(coord_ca);
    if (rc)
        return rc;
    if ((rc = jcs_cfg_str(f, "coordinatorRPC.address", JCS_CLIENT_DEFAULT_COORDINATOR,
                          &c->coordinator_address)) ||
        (rc = check_addr(f, "coordinatorRPC.address", c->coordinator_address)) ||
        (rc = jcs_cfg_file(f, "rpc.cert", &c->rpc_cert)) ||
        (rc = jcs_cfg_file(f, "rpc.key", &c->rpc_key)) ||
        (rc = jcs_cfg_int(f, "rpc.idleTimeoutSeconds", true, JCS_RPC_IDLE_TIMEOUT_MS / 1000, 1,
                          3600, &c->rpc_idle_s)) ||
        (rc = jcs_cfg_bool(f, "rpc.bulkChannel", true, true, &c->rpc_bulk)))
        return rc;
    if ((rc = jcs_cert_verify(c->coordinator_root_ca, c->rpc_cert, c->rpc_key)))
        return jcs_err_wrap(rc, "%s: field rpc.cert: ", f->path);
    /* The coordinator and hubs decide by the certificate's role: name a wrong one here. */
    char *pem = NULL;
    size_t len = 0;
    char role[64], cn[256];
    rc = jcs_read_file(c->rpc_cert, 1 << 20, &pem, &len);
    if (!rc)
        rc = jcs_cert_subject_pem(pem, len, role, sizeof(role), cn, sizeof(cn));
    jcs_free(pem);
    if (rc)
        return jcs_err_wrap(rc, "%s: field rpc.cert: ", f->path);
    if (strcmp(role, "client") != 0)
        return jcs_err_set(JCS_ECONFIG,
                           "%s: field rpc.cert: %s has role \"%s\"; the client needs a "
                           "certificate with OU=client",
                           f->path, c->rpc_cert, role);
    c->rpc_name = jcs_strdup(cn);
    return c->rpc_name ? JCS_OK : oom();
}

static int load_logger(const jcs_cfg *f, jcs_client_config *c)
{
    char *level = NULL;
    int rc;
    if ((rc = jcs_cfg_str(f, "logger.output", "stdout", &c->logger.output)) ||
        (rc = jcs_cfg_str(f, "logger.outputFileName", "client", &c->logger.output_file_name)) ||
        (rc = jcs_cfg_path(f, "logger.outputDirectory", "log", &c->logger.output_directory)) ||
        (rc = jcs_cfg_str(f, "logger.level", "debug", &level)))
        goto out;
    if (strcmp(c->logger.output, "stdout") != 0 && strcmp(c->logger.output, "file") != 0) {
        rc = jcs_err_set(JCS_ECONFIG, "%s: field logger.output: \"%s\" (want stdout or file)",
                         f->path, c->logger.output);
        goto out;
    }
    if (!*c->logger.output_file_name || strchr(c->logger.output_file_name, '/')) {
        rc = jcs_err_set(JCS_ECONFIG,
                         "%s: field logger.outputFileName: \"%s\" must be a plain file name",
                         f->path, c->logger.output_file_name);
        goto out;
    }
    if (jcs_log_parse_level(level, &c->logger.level) != 0)
        rc = jcs_err_set(JCS_ECONFIG,
                         "%s: field logger.level: \"%s\" (want debug, info, warn or error)",
                         f->path, level);
out:
    jcs_free(level);
    return rc;
}

static int load_db(const jcs_cfg *f, jcs_client_config *c)
{
    int rc;
    if ((rc = jcs_cfg_str(f, "db.address", JCS_CLIENT_DEFAULT_DB_ADDRESS, &c->db.address)) ||
        (rc = jcs_cfg_str(f, "db.socket", "", &c->db.socket)) ||
        (rc = jcs_cfg_str(f, "db.account", JCS_CLIENT_DEFAULT_DB_ACCOUNT, &c->db.account)) ||
        (rc = jcs_cfg_str(f, "db.password", JCS_CLIENT_DEFAULT_DB_PASSWORD, &c->db.password)) ||
        (rc = jcs_cfg_str(f, "db.databaseName", JCS_CLIENT_DEFAULT_DB_NAME, &c->db.database)) ||
        (rc = jcs_cfg_str(f, "db.secretsKey", "", &c->db.secrets_key)))
        return rc;
    uint8_t key[JCS_SEAL_KEY_LEN];
    if (*c->db.secrets_key && (rc = jcs_seal_key_parse(c->db.secrets_key, key)))
        return jcs_err_wrap(rc, "%s: ", f->path);
    /* jcs_cfg_str gives the default for "" only when there is one: the password may be empty. */
    if (!*c->db.socket && (rc = check_addr(f, "db.address", c->db.address)))
        return rc;
    return JCS_OK;
}

static int load_numbers(const jcs_cfg *f, jcs_client_config *c)
{
    int rc;
    if ((rc = int_field(f, "connectivity.testInterval", 300, 1, 86400, &c->test_interval_s)) ||
        (rc = int_field(f, "downloader.maxStripCacheCount", 100, 0, 1000000,
                        &c->max_strip_cache_count)) ||
        (rc = int_field(f, "downloader.ecStripPrefetchCount", 1, 0, 1000,
                        &c->ec_strip_prefetch_count)) ||
        (rc = jcs_cfg_num(f, "downloader.hedgeAfterPercentile", true, 95, 0, 99.99,
                          &c->hedge_after_percentile)) ||
        (rc = duration_ms(f, "downloader.hedgeMinDelay", "5ms", &c->hedge_min_delay_ms)) ||
        (rc = jcs_cfg_num(f, "downloadStrategy.highLatencyHub", true, 35, 0, 3600000,
                          &c->high_latency_hub_ms)) ||
        (rc = int_field(f, "tickTock.ecFileSizeThreshold", 5 * MIB, 0, INT64_MAX,
                        &c->ec_file_size_threshold)) ||
        (rc = jcs_cfg_num(f, "tickTock.accessStatHistoryWeight", true, 0.8, 0, 1,
                          &c->access_stat_history_weight)) ||
        (rc = duration_ms(f, "tickTock.gcGracePeriod", "1h", &c->gc_grace_period_ms)) ||
        (rc = duration_ms(f, "tickTock.recoverGracePeriod", "5m", &c->recover_grace_period_ms)) ||
        (rc = duration_ms(f, "tickTock.leaseTTL", "60s", &c->lease_ttl_ms)) ||
        (rc = jcs_cfg_bool(f, "tickTock.deepCheck", true, true, &c->deep_check)) ||
        (rc = jcs_cfg_num(f, "tickTock.scrubRateMBps", true, 10, 0.001, 100000,
                          &c->scrub_rate_mbps)) ||
        (rc = jcs_cfg_num(f, "ioswitch.clientLinkCost", true, 1, 0.01, 1e6,
                          &c->ioswitch.client_link_cost)))
        return rc;
    if (c->lease_ttl_ms < 1000)
        return jcs_err_set(JCS_ECONFIG,
                           "%s: field tickTock.leaseTTL: at least 1s (it is renewed "
                           "every third of it)",
                           f->path);
    char *at = NULL;
    if ((rc = jcs_cfg_str(f, "ioswitch.computeAt", "auto", &at)) != 0)
        return rc;
    if (jcs_computeat_parse(at, &c->ioswitch.compute_at) != 0)
        rc = jcs_err_set(JCS_ECONFIG,
                         "%s: field ioswitch.computeAt: \"%s\" (want auto, client or hub)", f->path,
                         at);
    jcs_free(at);
    return rc;
}

static int load_http(const jcs_cfg *f, jcs_client_config *c)
{
    int rc;
    if ((rc = jcs_cfg_bool(f, "http.enabled", true, true, &c->http.enabled)) ||
        (rc = jcs_cfg_str(f, "http.listen", JCS_CLIENT_DEFAULT_HTTP_LISTEN, &c->http.listen)) ||
        (rc = check_addr(f, "http.listen", c->http.listen)) ||
        (rc = int_field(f, "http.maxBodySize", 5 * MIB, 1, GIB, &c->http.max_body_size)))
        return rc;
    if (c->http.enabled) {
        if ((rc = jcs_cfg_file(f, "http.rootCA", &c->http.root_ca)) ||
            (rc = jcs_cfg_file(f, "http.serverCert", &c->http.server_cert)) ||
            (rc = jcs_cfg_file(f, "http.serverKey", &c->http.server_key)))
            return rc;
        if ((rc = jcs_cert_verify(c->http.root_ca, c->http.server_cert, c->http.server_key)))
            return jcs_err_wrap(rc, "%s: field http.serverCert: ", f->path);
    } else if ((rc = opt_path(f, "http.rootCA", &c->http.root_ca)) ||
               (rc = opt_path(f, "http.serverCert", &c->http.server_cert)) ||
               (rc = opt_path(f, "http.serverKey", &c->http.server_key))) {
        return rc;
    }
    json_t *certs = jcs_cfg_get(f, "http.clientCerts");
    if (!certs)
        return JCS_OK;
    if (!json_is_array(certs))
        return jcs_err_set(JCS_ECONFIG, "%s: field http.clientCerts: must be an array of paths",
                           f->path);
    size_t n = json_array_size(certs);
    if (n == 0)
        return JCS_OK;
    c->http.client_certs = jcs_calloc(n, sizeof(char *));
    if (!c->http.client_certs)
        return oom();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(certs, i);
        char field[64];
        snprintf(field, sizeof(field), "http.clientCerts[%zu]", i);
        if (!json_is_string(v) || !*json_string_value(v))
            return jcs_err_set(JCS_ECONFIG, "%s: field %s: must be a non-empty path", f->path,
                               field);
        const char *p = json_string_value(v);
        char *full = p[0] == '/' ? jcs_strdup(p) : jcs_asprintf("%s/%s", f->dir, p);
        if (!full)
            return oom();
        c->http.client_certs[c->http.nclient_certs++] = full;
        if (c->http.enabled && (rc = jcs_cfg_check_file(f, field, full)))
            return rc;
    }
    return JCS_OK;
}

static int load_mount(const jcs_cfg *f, jcs_client_config *c)
{
    int rc;
    if ((rc = jcs_cfg_bool(f, "mount.enabled", true, false, &c->mount.enabled)))
        return rc;
    if (c->mount.enabled) {
        if ((rc = jcs_cfg_path(f, "mount.mountPoint", NULL, &c->mount.mount_point)) ||
            (rc = jcs_cfg_path(f, "mount.dataDir", NULL, &c->mount.data_dir)) ||
            (rc = jcs_cfg_path(f, "mount.metaDir", NULL, &c->mount.meta_dir)))
            return rc;
    } else if ((rc = opt_path(f, "mount.mountPoint", &c->mount.mount_point)) ||
               (rc = opt_path(f, "mount.dataDir", &c->mount.data_dir)) ||
               (rc = opt_path(f, "mount.metaDir", &c->mount.meta_dir))) {
        return rc;
    }
    if ((rc = int_field(f, "mount.gid", 0, 0, UINT32_MAX - 1, &c->mount.gid)) ||
        (rc = int_field(f, "mount.uid", 0, 0, UINT32_MAX - 1, &c->mount.uid)) ||
        (rc = int_field(f, "mount.maxCacheSize", 0, 0, INT64_MAX, &c->mount.max_cache_size)) ||
        (rc = duration_ms(f, "mount.attrTimeout", "10s", &c->mount.attr_timeout_ms)) ||
        (rc = duration_ms(f, "mount.uploadPendingTime", "30s", &c->mount.upload_pending_time_ms)) ||
        (rc = duration_ms(f, "mount.cacheActiveTime", "1m", &c->mount.cache_active_time_ms)) ||
        (rc = duration_ms(f, "mount.cacheExpireTime", "1m", &c->mount.cache_expire_time_ms)) ||
        (rc = duration_ms(f, "mount.scanDataDirInterval", "10m",
                          &c->mount.scan_data_dir_interval_ms)))
        return rc;
    return JCS_OK;
}

static int load_redundancy(const jcs_cfg *f, jcs_client_config *c)
{
    json_t *v = jcs_cfg_get(f, "redundancy");
    memset(&c->redundancy, 0, sizeof(c->redundancy));
    c->redundancy.type = JCS_RED_NONE;
    int rc = v ? jcs_client_config_redundancy_parse(v, "redundancy", &c->redundancy) : JCS_OK;
    if (rc)
        return jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "%s: field ", f->path);
    c->redundancy_json = jcs_client_config_redundancy_json(&c->redundancy);
    return c->redundancy_json ? JCS_OK : oom();
}

static int load_all(jcs_client_config *c)
{
    const jcs_cfg *f = &c->file;
    int rc;
    c->path = jcs_strdup(f->path);
    if (!c->path)
        return oom();
    if ((rc = load_rpc(f, c)) || (rc = jcs_cfg_str(f, "location", "", &c->location)) ||
        (rc = load_logger(f, c)) || (rc = load_db(f, c)) || (rc = load_numbers(f, c)) ||
        (rc = load_http(f, c)) || (rc = load_mount(f, c)) ||
        (rc = jcs_cfg_str(f, "accessToken.account", "", &c->access_token.account)) ||
        (rc = jcs_cfg_str(f, "accessToken.password", "", &c->access_token.password)) ||
        (rc = load_redundancy(f, c)) || (rc = find_unknown(f->root, &c->unknown_fields)))
        return rc;
    return JCS_OK;
}

int jcs_client_config_load(const char *path, jcs_client_config *out)
{
    memset(out, 0, sizeof(*out));
    int rc = jcs_cfg_load(path, &out->file);
    if (!rc)
        rc = load_all(out);
    if (rc)
        jcs_client_config_clear(out);
    return rc;
}

int jcs_client_config_parse(const char *name, const char *text, jcs_client_config *out)
{
    memset(out, 0, sizeof(*out));
    int rc = jcs_cfg_parse(name, text, &out->file);
    if (!rc)
        rc = load_all(out);
    if (rc)
        jcs_client_config_clear(out);
    return rc;
}

void jcs_client_config_clear(jcs_client_config *c)
{
    if (!c)
        return;
    jcs_cfg_clear(&c->file);
    char **strs[] = {&c->path,
                     &c->hub_root_ca,
                     &c->coordinator_address,
                     &c->coordinator_root_ca,
                     &c->rpc_cert,
                     &c->rpc_key,
                     &c->rpc_name,
                     &c->location,
                     &c->logger.output,
                     &c->logger.output_file_name,
                     &c->logger.output_directory,
                     &c->db.address,
                     &c->db.socket,
                     &c->db.account,
                     &c->db.password,
                     &c->db.database,
                     &c->db.secrets_key,
                     &c->http.listen,
                     &c->http.root_ca,
                     &c->http.server_cert,
                     &c->http.server_key,
                     &c->mount.mount_point,
                     &c->mount.data_dir,
                     &c->mount.meta_dir,
                     &c->access_token.account,
                     &c->access_token.password,
                     &c->redundancy_json,
                     &c->unknown_fields};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        jcs_free(*strs[i]);
    for (size_t i = 0; i < c->http.nclient_certs; i++)
        jcs_free(c->http.client_certs[i]);
    jcs_free(c->http.client_certs);
    memset(c, 0, sizeof(*c));
}

int jcs_client_config_logger(const jcs_client_config *c)
{
    jcs_log_init("jcs", c->logger.level);
    if (strcmp(c->logger.output, "file") != 0)
        return JCS_OK;
    int rc = jcs_mkdirs(c->logger.output_directory, 0755);
    if (rc)
        return jcs_err_wrap(rc, "%s: field logger.outputDirectory: ", c->path);
    char *p = jcs_asprintf("%s/%s.log", c->logger.output_directory, c->logger.output_file_name);
    if (!p)
        return oom();
    rc = jcs_log_to_file(p);
    jcs_free(p);
    return rc;
}

jcs_tls_files jcs_client_config_coordinator_tls(const jcs_client_config *c)
{
    jcs_tls_files t = {c->coordinator_root_ca, c->rpc_cert, c->rpc_key};
    return t;
}

jcs_tls_files jcs_client_config_hub_tls(const jcs_client_config *c)
{
    jcs_tls_files t = {c->hub_root_ca, c->rpc_cert, c->rpc_key};
    return t;
}

jcs_db_config jcs_client_config_db(const jcs_client_config *c)
{
    jcs_db_config d;
    memset(&d, 0, sizeof(d));
    d.address = c->db.address;
    d.socket = c->db.socket;
    d.user = c->db.account;
    d.password = c->db.password;
    d.database = c->db.database;
    return d;
}
