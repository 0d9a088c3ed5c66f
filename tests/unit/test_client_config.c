/*
 * test_client_config.c - the jcs client's config.json (client/client_config.c):
 * JCS's field names and defaults, every required or bad field named in one
 * line, durations, redundancy, certificate checks, unknown fields.
 *
 * Certificates come from testcerts (the openssl CLI), not from the cert
 * module, so the checks are tested against independent files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "client_config.h"
#include "log.h"
#include "t.h"
#include "t_tmpdir.h"
#include "testcerts.h"
#include "util.h"

#define P 1024
#define D 512 /* a directory, so P holds it plus a file name */

static testcerts tc;
static int certs_ready;
static const jcs_tls_files *client_c, *hub_c, *evil_c, *server_c;

static void cleanup(void)
{
    testcerts_cleanup(&tc);
}

static int certs(void)
{
    if (certs_ready)
        return certs_ready > 0 ? 0 : -1;
    certs_ready = -1;
    if (testcerts_init(&tc) != 0)
        return -1;
    atexit(cleanup);
    client_c = testcerts_issue(&tc, "client", "client7", false);
    hub_c = testcerts_issue(&tc, "hub", "hub1", false);
    evil_c = testcerts_issue(&tc, "client", "intruder", true);
    server_c = testcerts_issue(&tc, "server", "jcs-server", false);
    if (!client_c || !hub_c || !evil_c || !server_c)
        return -1;
    certs_ready = 1;
    return 0;
}

#define CERTS() T_ASSERT(certs() == 0, "(test certificates could not be made)")

static int has(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

/*
 * A config with the required fields only (the certificates), plus extra
 * members spliced in at the top level: extra is "" or ", \"x\": ...".
 */
static void minimal(char *out, size_t len, const char *extra)
{
    snprintf(
        out, len,
        "{ \"coordinatorRPC\": { \"rootCA\": \"%s\" },\n"
        "  \"rpc\": { \"cert\": \"%s\", \"key\": \"%s\" },\n"
        "  \"http\": { \"rootCA\": \"%s\", \"serverCert\": \"%s\", \"serverKey\": \"%s\" }%s }",
        tc.ca_cert, client_c->cert_file, client_c->key_file, tc.ca_cert, server_c->cert_file,
        server_c->key_file, extra);
}

/* Writes text to <tmp>/name and loads it. */
static int load_text(const char *name, const char *text, jcs_client_config *c, char *path)
{
    char p[P];
    t_path(p, sizeof(p), name);
    if (path)
        snprintf(path, P, "%s", p);
    int rc = jcs_write_file(p, text, strlen(text), 0644);
    return rc ? rc : jcs_client_config_load(p, c);
}

TEST(defaults_follow_the_jcs_readme)
{
    CERTS();
    char text[4096], path[P];
    jcs_client_config c;
    minimal(text, sizeof(text), "");
    T_OK(load_text("min.json", text, &c, path));
    int ok = 1;
    char why[256] = "";
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (ok && !(cond)) {                                                                       \
            ok = 0;                                                                                \
            snprintf(why, sizeof(why), "%s", #cond);                                               \
        }                                                                                          \
    } while (0)
    CHECK(strcmp(c.path, path) == 0);
    CHECK(strcmp(c.coordinator_address, "127.0.0.1:5009") == 0);
    CHECK(strcmp(c.coordinator_root_ca, tc.ca_cert) == 0);
    /* hubRPC.rootCA was not given: it is the coordinator's, "usually the same". */
    CHECK(strcmp(c.hub_root_ca, tc.ca_cert) == 0);
    CHECK(strcmp(c.rpc_name, "client7") == 0);
    CHECK(strcmp(c.location, "") == 0);
    CHECK(strcmp(c.logger.output, "stdout") == 0);
    CHECK(strcmp(c.logger.output_file_name, "client") == 0);
    CHECK(has(c.logger.output_directory, "/log"));
    CHECK(c.logger.level == JCS_LOG_DEBUG);
    CHECK(strcmp(c.db.address, "127.0.0.1:3306") == 0);
    CHECK(strcmp(c.db.account, "root") == 0);
    CHECK(strcmp(c.db.password, "123456") == 0);
    CHECK(strcmp(c.db.database, "cloudream") == 0);
    CHECK(c.test_interval_s == 300);
    CHECK(c.max_strip_cache_count == 100);
    CHECK(c.ec_strip_prefetch_count == 1);
    CHECK(c.hedge_after_percentile == 95 && c.hedge_min_delay_ms == 5);
    CHECK(c.high_latency_hub_ms == 35);
    CHECK(c.ioswitch.compute_at == JCS_COMPUTEAT_AUTO && c.ioswitch.client_link_cost == 1);
    CHECK(c.ec_file_size_threshold == 5242880);
    CHECK(c.access_stat_history_weight == 0.8);
    CHECK(c.http.enabled);
    CHECK(strcmp(c.http.listen, "127.0.0.1:7890") == 0);
    CHECK(c.http.nclient_certs == 0);
    CHECK(c.http.max_body_size == 5242880);
    CHECK(!c.mount.enabled);
    CHECK(c.mount.gid == 0 && c.mount.uid == 0 && c.mount.max_cache_size == 0);
    CHECK(c.mount.attr_timeout_ms == 10000);
    CHECK(c.mount.upload_pending_time_ms == 30000);
    CHECK(c.mount.cache_active_time_ms == 60000);
    CHECK(c.mount.cache_expire_time_ms == 60000);
    CHECK(c.mount.scan_data_dir_interval_ms == 600000);
    CHECK(strcmp(c.access_token.account, "") == 0);
    CHECK(c.redundancy.type == JCS_RED_NONE);
    CHECK(strcmp(c.redundancy_json, "{\"type\":\"none\"}") == 0);
    CHECK(c.unknown_fields == NULL);
    jcs_tls_files ct = jcs_client_config_coordinator_tls(&c);
    CHECK(strcmp(ct.cert_file, client_c->cert_file) == 0 && ct.ca_file == c.coordinator_root_ca);
    jcs_db_config dbc = jcs_client_config_db(&c);
    CHECK(strcmp(dbc.user, "root") == 0 && strcmp(dbc.database, "cloudream") == 0);
#undef CHECK
    jcs_client_config_clear(&c);
    T_ASSERT(ok, "(%s)", why);
}

TEST(every_field_is_read_with_relative_paths_from_the_config_dir)
{
    CERTS();
    /* Certificates beside the config, named relatively. */
    char dir[D], text[8192], cmd[8 * P];
    t_path(dir, sizeof(dir), "full");
    T_OK(jcs_mkdirs(dir, 0700));
    snprintf(cmd, sizeof(cmd),
             "cp %s %s/ca.pem && cp %s %s/c.pem && cp %s %s/k.pem && cp %s %s/s.pem && cp %s "
             "%s/sk.pem && cp %s %s/extra.pem",
             tc.ca_cert, dir, client_c->cert_file, dir, client_c->key_file, dir,
             server_c->cert_file, dir, server_c->key_file, dir, hub_c->cert_file, dir);
    T_EQ_INT(system(cmd), 0);
    snprintf(text, sizeof(text),
             "{\n"
             "\"hubRPC\": {\"rootCA\": \"ca.pem\"},\n"
             "\"coordinatorRPC\": {\"address\": \"10.1.2.3:6000\", \"rootCA\": \"ca.pem\"},\n"
             "\"rpc\": {\"cert\": \"c.pem\", \"key\": \"k.pem\"},\n"
             "\"location\": \"loc2\",\n"
             "\"logger\": {\"output\": \"file\", \"outputFileName\": \"cl\", "
             "\"outputDirectory\": \"logs\", \"level\": \"warn\"},\n"
             "\"db\": {\"address\": \"db.example:3307\", \"account\": \"jcs\", \"password\": \"\", "
             "\"databaseName\": \"jcsdb\"},\n"
             "\"connectivity\": {\"testInterval\": 7},\n"
             "\"downloader\": {\"maxStripCacheCount\": 0, \"ecStripPrefetchCount\": 4},\n"
             "\"downloadStrategy\": {\"highLatencyHub\": 12.5},\n"
             "\"ioswitch\": {\"computeAt\": \"hub\", \"clientLinkCost\": 8},\n"
             "\"tickTock\": {\"ecFileSizeThreshold\": 1048576, \"accessStatHistoryWeight\": 0},\n"
             "\"http\": {\"enabled\": true, \"listen\": \"[::1]:0\", \"rootCA\": \"ca.pem\", "
             "\"serverCert\": \"s.pem\", \"serverKey\": \"sk.pem\", \"clientCerts\": "
             "[\"extra.pem\", \"%s\"], \"maxBodySize\": 1024},\n"
             "\"mount\": {\"enabled\": true, \"mountPoint\": \"mnt\", \"gid\": 100, \"uid\": 1000, "
             "\"dataDir\": \"/var/jcs/data\", \"metaDir\": \"meta\", \"maxCacheSize\": 1073741824, "
             "\"attrTimeout\": \"1.5s\", \"uploadPendingTime\": \"2m30s\", \"cacheActiveTime\": "
             "\"1h\", \"cacheExpireTime\": \"250ms\", \"scanDataDirInterval\": \"0\"},\n"
             "\"accessToken\": {\"account\": \"u\", \"password\": \"p\"},\n"
             "\"redundancy\": {\"type\": \"ec\", \"k\": 4, \"n\": 6}\n"
             "}\n",
             tc.ca_cert);
    char path[P];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    T_OK(jcs_write_file(path, text, strlen(text), 0600));
    jcs_client_config c;
    T_OK(jcs_client_config_load(path, &c));
    char want[P];
    int ok = 1;
    char why[256] = "";
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (ok && !(cond)) {                                                                       \
            ok = 0;                                                                                \
            snprintf(why, sizeof(why), "%s", #cond);                                               \
        }                                                                                          \
    } while (0)
    snprintf(want, sizeof(want), "%s/ca.pem", dir);
    CHECK(strcmp(c.hub_root_ca, want) == 0 && strcmp(c.coordinator_root_ca, want) == 0);
    snprintf(want, sizeof(want), "%s/c.pem", dir);
    CHECK(strcmp(c.rpc_cert, want) == 0);
    CHECK(strcmp(c.coordinator_address, "10.1.2.3:6000") == 0);
    CHECK(strcmp(c.location, "loc2") == 0);
    snprintf(want, sizeof(want), "%s/logs", dir);
    CHECK(strcmp(c.logger.output, "file") == 0 && strcmp(c.logger.output_directory, want) == 0);
    CHECK(strcmp(c.logger.output_file_name, "cl") == 0 && c.logger.level == JCS_LOG_WARN);
    CHECK(strcmp(c.db.address, "db.example:3307") == 0 && strcmp(c.db.account, "jcs") == 0);
    /* An empty password stays empty: it is not replaced by the default. */
    CHECK(strcmp(c.db.password, "") == 0 && strcmp(c.db.database, "jcsdb") == 0);
    CHECK(c.test_interval_s == 7);
    CHECK(c.max_strip_cache_count == 0 && c.ec_strip_prefetch_count == 4);
    CHECK(c.high_latency_hub_ms == 12.5);
    CHECK(c.ioswitch.compute_at == JCS_COMPUTEAT_HUB && c.ioswitch.client_link_cost == 8);
    CHECK(c.ec_file_size_threshold == 1048576 && c.access_stat_history_weight == 0);
    CHECK(strcmp(c.http.listen, "[::1]:0") == 0 && c.http.max_body_size == 1024);
    CHECK(c.http.nclient_certs == 2);
    snprintf(want, sizeof(want), "%s/extra.pem", dir);
    CHECK(c.http.nclient_certs == 2 && strcmp(c.http.client_certs[0], want) == 0 &&
          strcmp(c.http.client_certs[1], tc.ca_cert) == 0);
    snprintf(want, sizeof(want), "%s/mnt", dir);
    CHECK(c.mount.enabled && strcmp(c.mount.mount_point, want) == 0);
    CHECK(strcmp(c.mount.data_dir, "/var/jcs/data") == 0);
    /* jcs mount keeps its journal here: a relative path is the config file's directory's. */
    snprintf(want, sizeof(want), "%s/meta", dir);
    CHECK(strcmp(c.mount.meta_dir, want) == 0);
    CHECK(c.mount.gid == 100 && c.mount.uid == 1000 && c.mount.max_cache_size == 1073741824);
    CHECK(c.mount.attr_timeout_ms == 1500 && c.mount.upload_pending_time_ms == 150000);
    CHECK(c.mount.cache_active_time_ms == 3600000 && c.mount.cache_expire_time_ms == 250);
    CHECK(c.mount.scan_data_dir_interval_ms == 0);
    CHECK(strcmp(c.access_token.account, "u") == 0 && strcmp(c.access_token.password, "p") == 0);
    CHECK(c.redundancy.type == JCS_RED_EC && c.redundancy.k == 4 && c.redundancy.n == 6 &&
          c.redundancy.chunk_size == 5 * 1024 * 1024);
    CHECK(strcmp(c.redundancy_json, "{\"type\":\"ec\",\"k\":4,\"n\":6,\"chunkSize\":5242880}") ==
          0);
#undef CHECK
    jcs_client_config_clear(&c);
    T_ASSERT(ok, "(%s)", why);
}

/* Copies tmpl into out with @CA, @RPC, @HTTP, @X replaced by vals[0..3]. */
static void subst(char *out, size_t len, const char *tmpl, const char *const vals[4])
{
    static const char *const keys[] = {"@CA", "@RPC", "@HTTP", "@X"};
    size_t o = 0;
    while (*tmpl && o + 1 < len) {
        int k = -1;
        for (int i = 0; i < 4 && k < 0; i++)
            if (strncmp(tmpl, keys[i], strlen(keys[i])) == 0)
                k = i;
        if (k < 0) {
            out[o++] = *tmpl++;
            continue;
        }
        o += (size_t)snprintf(out + o, len - o, "%s", vals[k]);
        if (o >= len)
            o = len - 1;
        tmpl += strlen(keys[k]);
    }
    out[o] = '\0';
}

/* Loads text; expects code and a detail naming the file and every string of mention (|-separated).
 */
static int expect_bad(const char *name, const char *text, int code, const char *mention, char *msg,
                      size_t msglen)
{
    jcs_client_config c;
    char path[P];
    int rc = load_text(name, text, &c, path);
    snprintf(msg, msglen, "%s", rc ? jcs_err_msg(rc) : "(loaded)");
    if (rc == 0) {
        jcs_client_config_clear(&c);
        return 0;
    }
    /* A failed load leaves the struct empty: freeing it again is harmless. */
    jcs_client_config_clear(&c);
    if (rc != code || !has(msg, name) || strchr(msg, '\n'))
        return 0;
    char m[256];
    snprintf(m, sizeof(m), "%s", mention);
    for (char *tok = strtok(m, "|"); tok; tok = strtok(NULL, "|"))
        if (!has(msg, tok))
            return 0;
    return 1;
}

TEST(bad_and_missing_fields_are_named)
{
    CERTS();
    char ca[P], cc[P], ck[P], sc[P], sk[P], hc[P], hk[P], ec[P], ek[P];
    snprintf(ca, P, "%s", tc.ca_cert);
    snprintf(cc, P, "%s", client_c->cert_file);
    snprintf(ck, P, "%s", client_c->key_file);
    snprintf(sc, P, "%s", server_c->cert_file);
    snprintf(sk, P, "%s", server_c->key_file);
    snprintf(hc, P, "%s", hub_c->cert_file);
    snprintf(hk, P, "%s", hub_c->key_file);
    snprintf(ec, P, "%s", evil_c->cert_file);
    snprintf(ek, P, "%s", evil_c->key_file);
    char http[3 * P + 128], rpc[2 * P + 64];
    snprintf(http, sizeof(http),
             "\"http\": {\"rootCA\": \"%s\", \"serverCert\": \"%s\", \"serverKey\": \"%s\"}", ca,
             sc, sk);
    snprintf(rpc, sizeof(rpc), "\"rpc\": {\"cert\": \"%s\", \"key\": \"%s\"}", cc, ck);

    struct {
        const char *tmpl; /* @CA the cluster CA, @RPC rpc section, @HTTP http section, @X arg4 */
        const char *arg4;
        int code;
        const char *mention;
    } cases[] = {
        {"{ @RPC, @HTTP }", "", JCS_ECONFIG, "coordinatorRPC.rootCA|missing"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @HTTP }", "", JCS_ECONFIG, "rpc.cert"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, \"rpc\": {\"cert\": \"@X\"}, @HTTP }", cc,
         JCS_ECONFIG, "rpc.key"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@X\"}, @RPC, @HTTP }", "/nonexistent/ca.pem",
         JCS_ECONFIG, "coordinatorRPC.rootCA|/nonexistent/ca.pem"},
        {"{ \"hubRPC\": {\"rootCA\": \"@X\"}, \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, "
         "@HTTP }",
         "/nonexistent/hubca.pem", JCS_ECONFIG, "hubRPC.rootCA|/nonexistent/hubca.pem"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC }", "", JCS_ECONFIG, "http.rootCA"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\", \"address\": \"@X\"}, @RPC, @HTTP }",
         "no-port", JCS_ECONFIG, "coordinatorRPC.address|no-port"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"tickTock\": "
         "{\"accessStatHistoryWeight\": 1.5} }",
         "", JCS_ECONFIG, "tickTock.accessStatHistoryWeight|1.5"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"tickTock\": "
         "{\"ecFileSizeThreshold\": -1} }",
         "", JCS_ECONFIG, "tickTock.ecFileSizeThreshold"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"downloader\": "
         "{\"maxStripCacheCount\": -1} }",
         "", JCS_ECONFIG, "downloader.maxStripCacheCount"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"downloader\": "
         "{\"ecStripPrefetchCount\": 1.5} }",
         "", JCS_ECONFIG, "downloader.ecStripPrefetchCount"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"downloader\": "
         "{\"hedgeAfterPercentile\": 100} }",
         "", JCS_ECONFIG, "downloader.hedgeAfterPercentile"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"downloader\": "
         "{\"hedgeAfterPercentile\": \"p95\"} }",
         "", JCS_ECONFIG, "downloader.hedgeAfterPercentile"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"downloader\": "
         "{\"hedgeMinDelay\": \"5 parsecs\"} }",
         "", JCS_ECONFIG, "downloader.hedgeMinDelay"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"downloader\": "
         "{\"hedgeMinDelay\": 5} }",
         "", JCS_ECONFIG, "downloader.hedgeMinDelay"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"connectivity\": "
         "{\"testInterval\": 0} }",
         "", JCS_ECONFIG, "connectivity.testInterval"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"downloadStrategy\": "
         "{\"highLatencyHub\": \"fast\"} }",
         "", JCS_ECONFIG, "downloadStrategy.highLatencyHub"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"ioswitch\": "
         "{\"computeAt\": \"gpu\"} }",
         "", JCS_ECONFIG, "ioswitch.computeAt|gpu|auto, client or hub"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"ioswitch\": "
         "{\"computeAt\": 1} }",
         "", JCS_ECONFIG, "ioswitch.computeAt"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"ioswitch\": "
         "{\"clientLinkCost\": 0} }",
         "", JCS_ECONFIG, "ioswitch.clientLinkCost"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"logger\": {\"level\": "
         "\"loud\"} }",
         "", JCS_ECONFIG, "logger.level|loud"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"logger\": {\"output\": "
         "\"syslog\"} }",
         "", JCS_ECONFIG, "logger.output|syslog"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"db\": {\"address\": "
         "\"db\"} }",
         "", JCS_ECONFIG, "db.address"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, \"http\": {\"listen\": \"@X\"} }",
         "localhost", JCS_ECONFIG, "http.listen|localhost"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, \"http\": {\"enabled\": \"yes\"} }",
         "", JCS_ECONFIG, "http.enabled"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, \"http\": {\"enabled\": false, "
         "\"maxBodySize\": 0} }",
         "", JCS_ECONFIG, "http.maxBodySize"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, \"http\": {\"rootCA\": \"@CA\", "
         "\"serverCert\": \"@X\", \"serverKey\": \"@X\"} }",
         "", JCS_ECONFIG, "http.serverCert"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"mount\": {\"enabled\": "
         "true, \"dataDir\": \"d\", \"metaDir\": \"m\"} }",
         "", JCS_ECONFIG, "mount.mountPoint"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"mount\": {\"attrTimeout\": "
         "\"10\"} }",
         "", JCS_ECONFIG, "mount.attrTimeout|unit"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"mount\": "
         "{\"uploadPendingTime\": 30} }",
         "", JCS_ECONFIG, "mount.uploadPendingTime|duration"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"mount\": "
         "{\"cacheActiveTime\": \"-1m\"} }",
         "", JCS_ECONFIG, "mount.cacheActiveTime|negative"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"mount\": {\"uid\": -1} }", "",
         JCS_ECONFIG, "mount.uid"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"mount\": {\"maxCacheSize\": "
         "-1} }",
         "", JCS_ECONFIG, "mount.maxCacheSize"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"redundancy\": {\"type\": "
         "\"ec\", \"k\": 3, \"n\": 2} }",
         "", JCS_ECONFIG, "redundancy|k (3)"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"redundancy\": {\"type\": "
         "\"segment\"} }",
         "", JCS_ECONFIG, "redundancy.type|segment"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"redundancy\": {\"type\": "
         "\"lrc\", \"k\": 4, \"n\": 4, \"groups\": [2]} }",
         "", JCS_ECONFIG, "redundancy|k (4) must be at most n - len(groups)"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"redundancy\": {\"type\": "
         "\"lrc\", \"k\": 4, \"n\": 7, \"groups\": [3, 3]} }",
         "", JCS_ECONFIG, "redundancy.groups|cover 6 blocks"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"redundancy\": {\"type\": "
         "\"lrc\", \"groups\": [0]} }",
         "", JCS_ECONFIG, "redundancy.groups[0]"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"redundancy\": {\"type\": "
         "\"rep\", \"repCount\": 0} }",
         "", JCS_ECONFIG, "redundancy.repCount"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"redundancy\": \"ec\" }", "",
         JCS_ECONFIG, "redundancy"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, \"http\": {\"enabled\": false, "
         "\"clientCerts\": \"x\"}, @X }",
         "\"location\": \"l\"", JCS_ECONFIG, "http.clientCerts|array"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, \"http\": {\"rootCA\": \"@CA\", "
         "\"serverCert\": \"@CA\", \"serverKey\": \"@CA\"} }",
         "", JCS_ETLS, "http.serverCert"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"location\": 5 }", "",
         JCS_ECONFIG, "location"},
        {"{ \"coordinatorRPC\": {\"rootCA\": \"@CA\"}, @RPC, @HTTP, \"db\": {\"account\": 7} }", "",
         JCS_ECONFIG, "db.account"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[8192], msg[1024], name[64];
        const char *vals[] = {ca, rpc, http, cases[i].arg4};
        subst(text, sizeof(text), cases[i].tmpl, vals);
        snprintf(name, sizeof(name), "bad%zu.json", i);
        T_ASSERT(expect_bad(name, text, cases[i].code, cases[i].mention, msg, sizeof(msg)),
                 "(case %zu: want %s naming %s and \"%s\", got: %s)", i,
                 jcs_err_name(cases[i].code), name, cases[i].mention, msg);
    }
}

TEST(http_client_certs_must_be_readable)
{
    CERTS();
    char text[8192], msg[1024];
    minimal(text, sizeof(text), "");
    /* Splice clientCerts into the http section. */
    char *http = strstr(text, "\"serverKey\"");
    T_ASSERT(http);
    char tail[4096];
    snprintf(tail, sizeof(tail), "%s", http);
    snprintf(http, sizeof(text) - (size_t)(http - text),
             "\"clientCerts\": [\"%s\", \"/nonexistent/c2.pem\"], %s", tc.ca_cert, tail);
    T_ASSERT(expect_bad("clientcerts.json", text, JCS_ECONFIG,
                        "http.clientCerts[1]|/nonexistent/c2.pem", msg, sizeof(msg)),
             "(%s)", msg);
}

TEST(rpc_certificate_must_fit_the_cluster_ca_and_have_the_client_role)
{
    CERTS();
    char msg[1024];
    /* A hub certificate: valid, but the coordinator would treat the client as a hub. */
    {
        char t2[8192];
        snprintf(t2, sizeof(t2),
                 "{ \"coordinatorRPC\": { \"rootCA\": \"%s\" }, \"rpc\": { \"cert\": \"%s\", "
                 "\"key\": \"%s\" }, \"http\": {\"enabled\": false} }",
                 tc.ca_cert, hub_c->cert_file, hub_c->key_file);
        T_ASSERT(
            expect_bad("hubrole.json", t2, JCS_ECONFIG, "rpc.cert|OU=client|hub", msg, sizeof(msg)),
            "(%s)", msg);
        /* Signed by another CA. */
        snprintf(t2, sizeof(t2),
                 "{ \"coordinatorRPC\": { \"rootCA\": \"%s\" }, \"rpc\": { \"cert\": \"%s\", "
                 "\"key\": \"%s\" }, \"http\": {\"enabled\": false} }",
                 tc.ca_cert, evil_c->cert_file, evil_c->key_file);
        T_ASSERT(expect_bad("evil.json", t2, JCS_ETLS, "rpc.cert", msg, sizeof(msg)), "(%s)", msg);
        T_ASSERT(has(msg, evil_c->cert_file), "(%s)", msg);
        /* The right certificate with another party's key. */
        snprintf(t2, sizeof(t2),
                 "{ \"coordinatorRPC\": { \"rootCA\": \"%s\" }, \"rpc\": { \"cert\": \"%s\", "
                 "\"key\": \"%s\" }, \"http\": {\"enabled\": false} }",
                 tc.ca_cert, client_c->cert_file, hub_c->key_file);
        T_ASSERT(expect_bad("mismatch.json", t2, JCS_ETLS, "rpc.cert", msg, sizeof(msg)), "(%s)",
                 msg);
        T_ASSERT(has(msg, hub_c->key_file), "(%s)", msg);
    }
}

TEST(http_disabled_needs_no_http_certificates_and_root_cas_default_to_each_other)
{
    CERTS();
    char text[4096];
    jcs_client_config c;
    snprintf(text, sizeof(text),
             "{ \"hubRPC\": { \"rootCA\": \"%s\" }, \"coordinatorRPC\": {\"rootCA\": \"\"},"
             " \"rpc\": { \"cert\": \"%s\", \"key\": \"%s\" },"
             " \"http\": {\"enabled\": false, \"listen\": \"0.0.0.0:80\"} }",
             tc.ca_cert, client_c->cert_file, client_c->key_file);
    T_OK(load_text("nohttp.json", text, &c, NULL));
    int ok = !c.http.enabled && strcmp(c.http.root_ca, "") == 0 &&
             strcmp(c.http.server_cert, "") == 0 &&
             strcmp(c.coordinator_root_ca, tc.ca_cert) == 0 &&
             strcmp(c.hub_root_ca, tc.ca_cert) == 0 && strcmp(c.http.listen, "0.0.0.0:80") == 0;
    jcs_client_config_clear(&c);
    T_ASSERT(ok);
}

TEST(unknown_fields_are_listed_for_a_warning)
{
    CERTS();
    char text[8192];
    jcs_client_config c;
    minimal(text, sizeof(text),
            ", \"conectivity\": {\"testInterval\": 5}, \"downloader\": {\"maxStripCache\": 1,"
            " \"ecStripPrefetchCount\": 2}, \"redundancy\": {\"type\": \"rep\", \"extra\": 1}");
    T_OK(load_text("unknown.json", text, &c, NULL));
    char list[512];
    snprintf(list, sizeof(list), "%s", c.unknown_fields ? c.unknown_fields : "(none)");
    long long interval = c.test_interval_s, prefetch = c.ec_strip_prefetch_count;
    int rep = c.redundancy.type == JCS_RED_REP && c.redundancy.rep_count == 2;
    jcs_client_config_clear(&c);
    T_EQ_STR(list, "conectivity, downloader.maxStripCache");
    /* The misspelt section did not count; the good field beside the typo did. */
    T_EQ_INT(interval, 300);
    T_EQ_INT(prefetch, 2);
    T_ASSERT(rep);
}

TEST(malformed_json_names_line_and_file)
{
    jcs_client_config c;
    char msg[1024];
    int rc = jcs_client_config_parse("broken.json", "{\n \"http\": {\n", &c);
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(has(msg, "broken.json") && has(msg, "line"), "(%s)", msg);
    rc = jcs_client_config_load("/nonexistent/config.json", &c);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(has(jcs_err_msg(rc), "/nonexistent/config.json"), "(%s)", jcs_err_msg(rc));
}

TEST(durations_parse_like_go)
{
    static const struct {
        const char *s;
        int64_t ns;
    } good[] = {
        {"0", 0},
        {"10s", 10000000000LL},
        {"1m", 60000000000LL},
        {"10m", 600000000000LL},
        {"1h30m", 5400000000000LL},
        {"1.5h", 5400000000000LL},
        {"2h45m30.5s", 9930500000000LL},
        {"250ms", 250000000LL},
        {"1us", 1000LL},
        {"1\xc2\xb5s", 1000LL},
        {"7ns", 7LL},
        {".5s", 500000000LL},
        {"+3s", 3000000000LL},
        {"1m0s", 60000000000LL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ns = -1;
        int rc = jcs_client_config_parse_duration(good[i].s, &ns);
        T_ASSERT(rc == 0 && ns == good[i].ns, "(\"%s\": rc %d, %lld ns, want %lld: %s)", good[i].s,
                 rc, (long long)ns, (long long)good[i].ns, rc ? jcs_err_msg(rc) : "");
    }
    static const struct {
        const char *s;
        int code;
        const char *mention;
    } bad[] = {
        {"", JCS_EINVAL, "empty"},       {"10", JCS_EINVAL, "unit"},
        {"s", JCS_EINVAL, "number"},     {"1x", JCS_EINVAL, "unit"},
        {"-1s", JCS_EINVAL, "negative"}, {"1 s", JCS_EINVAL, "unit"},
        {"1s2", JCS_EINVAL, "unit"},     {"3000000h", JCS_ETOOBIG, "too long"},
        {"1d", JCS_EINVAL, "unit"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns = -1;
        int rc = jcs_client_config_parse_duration(bad[i].s, &ns);
        T_ASSERT(rc == bad[i].code && has(jcs_err_msg(rc), bad[i].mention) && ns == -1,
                 "(\"%s\": rc %d: %s)", bad[i].s, rc, jcs_err_msg(rc));
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i].s);
        T_ASSERT(has(jcs_err_msg(rc), quoted), "(%s)", jcs_err_msg(rc));
    }
}

TEST(redundancy_json_round_trips_with_defaults)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"{\"type\":\"none\"}", "{\"type\":\"none\"}"},
        {"{\"type\":\"rep\"}", "{\"type\":\"rep\",\"repCount\":2}"},
        {"{\"type\":\"rep\",\"repCount\":3}", "{\"type\":\"rep\",\"repCount\":3}"},
        {"{\"type\":\"ec\"}", "{\"type\":\"ec\",\"k\":2,\"n\":3,\"chunkSize\":5242880}"},
        {"{\"type\":\"ec\",\"k\":6,\"n\":9,\"chunkSize\":65536}",
         "{\"type\":\"ec\",\"k\":6,\"n\":9,\"chunkSize\":65536}"},
        /* JCS's DefaultLRCRedundancy. */
        {"{\"type\":\"lrc\"}",
         "{\"type\":\"lrc\",\"k\":2,\"n\":4,\"groups\":[2],\"chunkSize\":5242880}"},
        {"{\"type\":\"lrc\",\"k\":4,\"n\":8,\"groups\":[3,3],\"chunkSize\":4096}",
         "{\"type\":\"lrc\",\"k\":4,\"n\":8,\"groups\":[3,3],\"chunkSize\":4096}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].in, 0, NULL);
        jcs_redundancy r;
        int rc = jcs_client_config_redundancy_parse(v, "redundancy", &r);
        json_decref(v);
        T_OK(rc);
        char *s = jcs_client_config_redundancy_json(&r);
        char got[256];
        snprintf(got, sizeof(got), "%s", s ? s : "(null)");
        jcs_free(s);
        T_EQ_STR(got, cases[i].out);
    }
    json_t *v = json_loads("{\"type\":\"ec\",\"k\":2,\"n\":3,\"chunkSize\":\"big\"}", 0, NULL);
    jcs_redundancy r;
    int rc = jcs_client_config_redundancy_parse(v, "info.redundancy", &r);
    json_decref(v);
    T_EQ_INT(rc, JCS_EINVAL);
    T_ASSERT(has(jcs_err_msg(rc), "info.redundancy.chunkSize"), "(%s)", jcs_err_msg(rc));
}

TEST(logger_section_writes_to_the_named_file)
{
    CERTS();
    char text[8192], dir[D];
    jcs_client_config c;
    t_path(dir, sizeof(dir), "logtest");
    minimal(text, sizeof(text),
            ", \"logger\": {\"output\": \"file\", \"outputFileName\": \"cl\", \"outputDirectory\": "
            "\"logtest/deep\", \"level\": \"info\"}");
    T_OK(load_text("logger.json", text, &c, NULL));
    int rc = jcs_client_config_logger(&c);
    jcs_client_config_clear(&c);
    T_OK(rc);
    jcs_debug("a debug line that the info level drops");
    jcs_info("a line for the log file");
    char path[P], *body = NULL;
    snprintf(path, sizeof(path), "%s/deep/cl.log", dir);
    T_OK(jcs_read_file(path, 1 << 20, &body, NULL));
    int ok = has(body, "a line for the log file") && has(body, "jcs") && !has(body, "debug line");
    jcs_free(body);
    jcs_log_init("test", JCS_LOG_INFO);
    T_ASSERT(ok);
}

TEST(allocation_failures_are_clean)
{
    CERTS();
    char text[8192], path[P];
    minimal(text, sizeof(text),
            ", \"location\": \"l\", \"redundancy\": {\"type\": \"ec\"}, \"bogus\": 1");
    t_path(path, sizeof(path), "alloc.json");
    T_OK(jcs_write_file(path, text, strlen(text), 0644));
    int succeeded = 0;
    for (long n = 0; n < 2000 && !succeeded; n++) {
        jcs_client_config c;
        jcs_alloc_fail_after(n);
        int rc = jcs_client_config_load(path, &c);
        jcs_alloc_fail_after(-1);
        if (rc == 0) {
            succeeded = strcmp(c.location, "l") == 0 && c.redundancy.type == JCS_RED_EC &&
                        c.unknown_fields && strcmp(c.unknown_fields, "bogus") == 0;
            jcs_client_config_clear(&c);
            T_ASSERT(succeeded, "(a load after %ld allocations returned a wrong config)", n);
        } else {
            /* Out-of-memory wherever it strikes; a certificate check failing for want of
             * memory inside OpenSSL is reported as a TLS error, not a crash. */
            T_ASSERT(rc == JCS_ENOMEM || rc == JCS_ECONFIG || rc == JCS_ETLS,
                     "(after %ld allocations: rc %d: %s)", n, rc, jcs_err_msg(rc));
            T_ASSERT(c.path == NULL && c.rpc_cert == NULL);
        }
    }
    T_ASSERT(succeeded);
}
