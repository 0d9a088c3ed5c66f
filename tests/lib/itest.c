#include "itest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/ssl.h>

#include "alloc.h"
#include "coordinator.pb-c.h"
#include "methods.h"

int itest_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

int itest_cluster_up(itest_cluster *c, const char *args)
{
    /* tests/run sets a prefix per run, so it can clean up after a test it had to kill. */
    const char *prefix = getenv("JCS_ITEST_PREFIX");
    snprintf(c->dir, sizeof(c->dir), "%s-XXXXXX", prefix && *prefix ? prefix : "/tmp/jcs-itest");
    if (!mkdtemp(c->dir))
        return -1;
    int rc = itest_sh("deploy/local/cluster up --dir %s %s >%s.up.log 2>&1 || "
                      "{ cat %s.up.log; exit 1; }",
                      c->dir, args ? args : "", c->dir, c->dir);
    c->up = rc == 0;
    return rc;
}

int itest_cluster_cmd(itest_cluster *c, const char *cmd, const char *args)
{
    return itest_sh("deploy/local/cluster %s --dir %s %s >>%s.up.log 2>&1 || "
                    "{ tail -n 30 %s.up.log; exit 1; }",
                    cmd, c->dir, args ? args : "", c->dir, c->dir);
}

void itest_cluster_down(itest_cluster *c)
{
    if (!c->dir[0])
        return;
    if (itest_sh("deploy/local/cluster down --dir %s >>%s.up.log 2>&1", c->dir, c->dir) != 0)
        fprintf(stderr, "itest: cluster down failed for %s\n", c->dir);
    if (!getenv("JCS_KEEP_TEST_DIRS") && itest_sh("rm -rf %s %s.up.log", c->dir, c->dir) != 0)
        fprintf(stderr, "itest: cannot remove %s\n", c->dir);
    c->dir[0] = '\0';
    c->up = 0;
}

const char *itest_env(itest_cluster *c, const char *key)
{
    static char val[1024];
    char path[600], line[1200];
    size_t kl = strlen(key);
    val[0] = '\0';
    snprintf(path, sizeof(path), "%s/cluster.env", c->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return val;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
            snprintf(val, sizeof(val), "%s", line + kl + 1);
            val[strcspn(val, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
    return val;
}

const char *itest_path(itest_cluster *c, const char *rel)
{
    static char p[1024];
    snprintf(p, sizeof(p), "%s/%s", c->dir, rel);
    return p;
}

int itest_channel(itest_cluster *c, const char *addr, int hub, jcs_rpc_channel **out)
{
    char ca[600], cert[600], key[600];
    snprintf(ca, sizeof(ca), "%s/certs/ca_cert.pem", c->dir);
    if (hub > 0) {
        snprintf(cert, sizeof(cert), "%s/certs/hub%d_cert.pem", c->dir, hub);
        snprintf(key, sizeof(key), "%s/certs/hub%d_key.pem", c->dir, hub);
    } else {
        snprintf(cert, sizeof(cert), "%s/certs/client_cert.pem", c->dir);
        snprintf(key, sizeof(key), "%s/certs/client_key.pem", c->dir);
    }
    jcs_tls_files tls = {ca, cert, key};
    return jcs_rpc_channel_open(addr, &tls, out);
}

void itest_at_exit(void (*fn)(void))
{
    OPENSSL_init_ssl(0, NULL);
    atexit(fn);
}

int itest_hub_workers(itest_cluster *c, size_t n, Jcs__Plan__Worker *hubs, char (*addr)[128])
{
    jcs_rpc_channel *ch = NULL;
    Jcs__Coordinator__ListHubsReq req = JCS__COORDINATOR__LIST_HUBS_REQ__INIT;
    Jcs__Coordinator__ListHubsResp *r = NULL;
    int rc = itest_channel(c, itest_env(c, "COORDINATOR_ADDR"), 0, &ch);
    if (!rc)
        rc = jcs_rpc_unary(ch, JCS_M_LIST_HUBS, &req.base,
                           &jcs__coordinator__list_hubs_resp__descriptor, (ProtobufCMessage **)&r,
                           5000);
    jcs_rpc_channel_free(ch);
    if (rc)
        return rc;
    size_t found = 0;
    for (size_t i = 0; i < r->n_hubs; i++) {
        char key[32];
        int h = atoi(r->hubs[i]->name + 3) - 1;
        if (h < 0 || (size_t)h >= n)
            continue;
        snprintf(key, sizeof(key), "HUB%d_ADDR", h + 1);
        snprintf(addr[h], 128, "%s", itest_env(c, key));
        jcs__plan__worker__init(&hubs[h]);
        hubs[h].hub_id = r->hubs[i]->hub_id;
        hubs[h].address = addr[h];
        found++;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return found == n ? JCS_OK
                      : jcs_err_set(JCS_ENOENT, "the coordinator lists %zu of %zu hubs", found, n);
}

int itest_driver(itest_cluster *c, jcs_driver **out)
{
    char ca[600], cert[600], key[600];
    snprintf(ca, sizeof(ca), "%s/certs/ca_cert.pem", c->dir);
    snprintf(cert, sizeof(cert), "%s/certs/client_cert.pem", c->dir);
    snprintf(key, sizeof(key), "%s/certs/client_key.pem", c->dir);
    jcs_tls_files tls = {ca, cert, key};
    return jcs_driver_new(&tls, out);
}
