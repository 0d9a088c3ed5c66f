/*
 * test_jobs.c - the background jobs against a real cluster: four hubs, the
 * jcs client with a local space on each (space i on hub i), objects written
 * with the driver and committed into the client's database, each job run
 * through POST /v1/system/tickTock/run, and its effects checked on the
 * spaces' files and by reading every object back byte for byte.
 *
 * The tests share one cluster and run in order (a later one relies on what
 * an earlier one left: ChangeRedundancy turns the GC test's object into rep).
 * The client runs with tickTock.ecFileSizeThreshold 64 KiB, a 30 s GC grace
 * period and an EC default of k=2, n=3 with 64 KiB chunks, so the objects
 * stay small.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "t.h"
#include "alloc.h"
#include "db.h"
#include "driver.h"
#include "itest.h"
#include "meta.h"
#include "util.h"

#define NHUBS 4

static itest_cluster cl;
static int started, ready;
static jcs_driver *drv;
static jcs_db *db;
static Jcs__Plan__Worker hubs[NHUBS];
static char hub_addr[NHUBS][128];
static Jcs__Plan__Space spaces[NHUBS];
static char space_root[NHUBS][600];
static bool hub_down[NHUBS];
static int64_t pkg;

static void teardown(void)
{
    jcs_driver_free(drv);
    drv = NULL;
    jcs_db_close(db);
    db = NULL;
    itest_cluster_down(&cl);
    curl_global_cleanup();
    jcs_rpc_shutdown();
}

static int open_db(void)
{
    char pw[128] = "", addr[64];
    FILE *f = fopen(itest_path(&cl, "mariadb/client.pw"), "r");
    if (!f || !fgets(pw, sizeof pw, f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    pw[strcspn(pw, "\n")] = '\0';
    snprintf(addr, sizeof addr, "127.0.0.1:%s", itest_env(&cl, "MARIADB_PORT"));
    jcs_db_config c = {.address = addr, .user = "client", .password = pw, .database = "jcs_client"};
    return jcs_db_open(&c, &db);
}

static int setup(void)
{
    if (started)
        return ready ? 0 : -1;
    started = 1;
    jcs_rpc_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    itest_at_exit(teardown);
    if (itest_cluster_up(&cl, "--hubs 4 --hub-unavailable 3 --test-interval 5") != 0)
        return -1;
    /* Small thresholds for the tests; the client reads them at start. */
    const char *conf = itest_path(&cl, "client/config.json");
    if (itest_sh("jq '.tickTock.ecFileSizeThreshold = 65536 | .tickTock.gcGracePeriod = \"30s\" | "
                 ".tickTock.recoverGracePeriod = \"15s\" | "
                 ".redundancy = {\"type\": \"ec\", \"k\": 2, \"n\": 3, \"chunkSize\": 65536}' "
                 "'%s' > '%s.tmp' && mv '%s.tmp' '%s'",
                 conf, conf, conf, conf) != 0 ||
        itest_cluster_cmd(&cl, "stop-client", "") != 0 ||
        itest_cluster_cmd(&cl, "start-client", "") != 0)
        return -1;
    if (itest_hub_workers(&cl, NHUBS, hubs, hub_addr) != 0 || itest_driver(&cl, &drv) != 0 ||
        open_db() != 0)
        return -1;
    for (int i = 0; i < NHUBS; i++) {
        jcs__plan__space__init(&spaces[i]);
        spaces[i].space_id = i + 1;
        spaces[i].type = "local";
        snprintf(space_root[i], sizeof space_root[i], "%s/hub%d/storage/space", cl.dir, i + 1);
        spaces[i].root = space_root[i];
    }
    jcs_meta_bucket b;
    jcs_meta_package p;
    if (jcs_meta_bucket_create(db, "jobs", &b) != 0)
        return -1;
    if (jcs_meta_package_create(db, b.bucket_id, "p", NULL, &p) != 0) {
        jcs_meta_bucket_clear(&b);
        return -1;
    }
    pkg = p.package_id;
    jcs_meta_bucket_clear(&b);
    jcs_meta_package_clear(&p);
    ready = 1;
    return 0;
}

#define SETUP() T_ASSERT(setup() == 0, "the cluster, the client's database or the driver failed")

/* ---- REST ---- */

struct body {
    char buf[1 << 16];
    size_t len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct body *b = arg;
    size_t k = sz * n;
    if (b->len + k >= sizeof b->buf)
        return 0;
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    b->buf[b->len] = '\0';
    return k;
}

/* A REST call; returns the parsed reply (caller decrefs) or NULL. */
static json_t *api(const char *method, const char *path, const char *json)
{
    char url[600], ca[600], cert[600], key[600];
    snprintf(url, sizeof url, "%s%s", itest_env(&cl, "JCS_ENDPOINT"), path);
    snprintf(ca, sizeof ca, "%s", itest_env(&cl, "JCS_CA"));
    snprintf(cert, sizeof cert, "%s", itest_env(&cl, "JCS_CERT"));
    snprintf(key, sizeof key, "%s", itest_env(&cl, "JCS_KEY"));
    struct body *b = jcs_calloc(1, sizeof *b);
    CURL *h = curl_easy_init();
    if (!b || !h) {
        jcs_free(b);
        if (h)
            curl_easy_cleanup(h);
        return NULL;
    }
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (json)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    json_t *r = cc == CURLE_OK ? json_loads(b->buf, 0, NULL) : NULL;
    if (!r)
        fprintf(stderr, "%s %s: curl %d, body %s\n", method, path, (int)cc, b->buf);
    jcs_free(b);
    return r;
}

/* Runs a job; returns its report (a new reference) or NULL. */
static json_t *run_job(const char *job)
{
    char body[128];
    snprintf(body, sizeof body, "{\"job\": \"%s\"}", job);
    json_t *r = api("POST", "/v1/system/tickTock/run", body);
    json_t *rep = json_object_get(json_object_get(r, "data"), "report");
    if (!rep) {
        char *s = r ? json_dumps(r, 0) : NULL;
        fprintf(stderr, "%s: no report: %s\n", job, s ? s : "(no reply)");
        free(s);
    } else {
        char *s = json_dumps(rep, JSON_COMPACT);
        fprintf(stderr, "%s: %s\n", job, s ? s : "");
        free(s);
    }
    json_incref(rep);
    json_decref(r);
    return rep;
}

static int64_t rep_int(const json_t *rep, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(rep, k));
}

/* Waits until the client's topology shows hub i (1-based) in state want. */
static int wait_hub_state(int i, const char *want)
{
    char name[16];
    snprintf(name, sizeof name, "hub%d", i);
    for (int t = 0; t < 100; t++) {
        json_t *r = api("GET", "/v1/system/hubs", NULL);
        json_t *a = json_object_get(json_object_get(r, "data"), "hubs");
        int ok = 0;
        for (size_t k = 0; k < json_array_size(a); k++) {
            json_t *h = json_array_get(a, k);
            if (strcmp(json_string_value(json_object_get(h, "name")), name) == 0)
                ok = strcmp(json_string_value(json_object_get(h, "state")), want) == 0;
        }
        json_decref(r);
        if (ok)
            return 0;
        jcs_sleep_ms(200);
    }
    return -1;
}

static int stop_hub(int i)
{
    char a[8];
    snprintf(a, sizeof a, "%d", i);
    hub_down[i - 1] = true;
    return itest_cluster_cmd(&cl, "stop-hub", a) == 0 ? wait_hub_state(i, "offline") : -1;
}

static int start_hub(int i)
{
    char a[8];
    snprintf(a, sizeof a, "%d", i);
    if (itest_cluster_cmd(&cl, "start-hub", a) != 0 || wait_hub_state(i, "online") != 0)
        return -1;
    hub_down[i - 1] = false;
    return 0;
}

/* ---- data ---- */

static uint8_t *make_data(size_t n, uint32_t seed)
{
    uint8_t *p = jcs_malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; p && i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

struct src {
    const uint8_t *data;
    size_t len, pos;
};

static int src_read(void *arg, void *buf, size_t cap, size_t *n)
{
    struct src *s = arg;
    size_t k = s->len - s->pos;
    if (k > cap)
        k = cap;
    memcpy(buf, s->data + s->pos, k);
    s->pos += k;
    *n = k;
    return 0;
}

struct sink {
    uint8_t *buf;
    size_t len, cap;
};

static int sink_write(void *arg, const void *data, size_t n)
{
    struct sink *s = arg;
    if (s->len + n > s->cap)
        return jcs_err_set(JCS_ETOOBIG, "the download returned more bytes than asked for");
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return 0;
}

static jcs_site site_of(int64_t space_id)
{
    jcs_site s = {.space = &spaces[space_id - 1],
                  .hub = hub_down[space_id - 1] ? NULL : &hubs[space_id - 1],
                  .distance = (double)space_id};
    return s;
}

static const char *red_json(const jcs_redundancy *r, char *buf, size_t n)
{
    if (r->type == JCS_RED_EC)
        snprintf(buf, n, "{\"type\":\"ec\",\"k\":%d,\"n\":%d,\"chunkSize\":%" PRId64 "}", r->k,
                 r->n, r->chunk_size);
    else if (r->type == JCS_RED_REP)
        snprintf(buf, n, "{\"type\":\"rep\",\"repCount\":%d}", r->rep_count);
    else
        snprintf(buf, n, "{\"type\":\"none\"}");
    return buf;
}

/* Uploads data with red onto spaces ids[] and commits it at path; returns the object id. */
static int64_t put_object(const char *path, const uint8_t *data, size_t len,
                          const jcs_redundancy *red, const int64_t *ids, size_t nids)
{
    jcs_site t[8];
    jcs_block b[8];
    jcs_meta_block mb[8];
    size_t nb = 0;
    char hash[JCS_FILEHASH_LEN + 1], rj[128];
    int64_t size;
    for (size_t i = 0; i < nids; i++)
        t[i] = site_of(ids[i]);
    struct src s = {data, len, 0};
    jcs_driver_upload_res res_ = {.blocks = b};
    int rc = jcs_driver_upload(drv,
                               &(jcs_driver_upload_req){.read = src_read,
                                                        .arg = &s,
                                                        .red = red,
                                                        .targets = t,
                                                        .ntargets = nids,
                                                        .compute = NULL},
                               &res_);
    nb = res_.nblocks;
    memcpy(hash, res_.hash, sizeof res_.hash);
    size = res_.size;
    if (rc) {
        fprintf(stderr, "upload %s: %s\n", path, jcs_err_msg(rc));
        return -1;
    }
    for (size_t i = 0; i < nb; i++) {
        mb[i].index = b[i].index;
        mb[i].space_id = b[i].space_id;
        snprintf(mb[i].file_hash, sizeof mb[i].file_hash, "%s", b[i].file_hash);
        mb[i].size = b[i].size;
    }
    jcs_meta_upload up = {.path = path,
                          .size = size,
                          .file_hash = hash,
                          .redundancy = red_json(red, rj, sizeof rj),
                          .blocks = mb,
                          .nblocks = nb};
    jcs_meta_objects out;
    if ((rc = jcs_meta_upload_commit(db, pkg, &up, 1, &out)) != 0) {
        fprintf(stderr, "commit %s: %s\n", path, jcs_err_msg(rc));
        return -1;
    }
    int64_t id = out.v[0].object_id;
    jcs_meta_objects_clear(&out);
    return id;
}

/* Reads an object back as the metadata describes it; 0 when its bytes equal data. */
static int check_object(int64_t id, const uint8_t *data, size_t len)
{
    jcs_meta_detail d;
    int rc = jcs_meta_object_detail(db, id, &d);
    if (rc) {
        fprintf(stderr, "object %" PRId64 ": %s\n", id, jcs_err_msg(rc));
        return -1;
    }
    jcs_redundancy red = {.type = JCS_RED_NONE};
    json_t *o = json_loads(d.object.redundancy, 0, NULL);
    const char *t = json_string_value(json_object_get(o, "type"));
    if (t && strcmp(t, "rep") == 0) {
        red.type = JCS_RED_REP;
        red.rep_count = (int)json_integer_value(json_object_get(o, "repCount"));
    } else if (t && strcmp(t, "ec") == 0) {
        red.type = JCS_RED_EC;
        red.k = (int)json_integer_value(json_object_get(o, "k"));
        red.n = (int)json_integer_value(json_object_get(o, "n"));
        red.chunk_size = json_integer_value(json_object_get(o, "chunkSize"));
    }
    json_decref(o);
    jcs_block b[16];
    jcs_site s[16];
    for (size_t i = 0; i < d.nblocks && i < 16; i++) {
        b[i].index = d.blocks[i].index;
        b[i].space_id = d.blocks[i].space_id;
        snprintf(b[i].file_hash, sizeof b[i].file_hash, "%s", d.blocks[i].file_hash);
        b[i].size = d.blocks[i].size;
        s[i] = site_of(d.blocks[i].space_id);
    }
    struct sink k = {jcs_malloc(len + 1), 0, len + 1};
    rc = jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = b,
                                                                     .sites = s,
                                                                     .nblocks = d.nblocks,
                                                                     .red = &red,
                                                                     .object_size = d.object.size},
                                                             .offset = 0,
                                                             .length = -1,
                                                             .compute = NULL,
                                                             .write = sink_write,
                                                             .arg = &k});
    int ok =
        rc == 0 && k.len == len && memcmp(k.buf, data, len) == 0 && (size_t)d.object.size == len;
    if (!ok)
        fprintf(stderr, "object %" PRId64 ": read back %s (%zu bytes of %zu)\n", id,
                rc ? jcs_err_msg(rc) : "different bytes", k.len, len);
    jcs_free(k.buf);
    jcs_meta_detail_clear(&d);
    return ok ? 0 : -1;
}

/* Where the shard lives on space id (1-based). Static buffer. */
static const char *shard_path(int64_t space_id, const char *hash)
{
    static char p[sizeof space_root[0] + 16 + 2 * JCS_HASH_SIZE];
    snprintf(p, sizeof p, "%.599s/blocks/%.2s/%.68s", space_root[space_id - 1], hash + 4, hash);
    return p;
}

static bool shard_exists(int64_t space_id, const char *hash)
{
    struct stat st;
    return stat(shard_path(space_id, hash), &st) == 0;
}

static int backdate(int64_t space_id, const char *hash)
{
    return itest_sh("touch -d '2 hours ago' '%s'", shard_path(space_id, hash));
}

/* Stores data on a space without any row pointing at it; hash out. */
static int put_orphan(int64_t space_id, const uint8_t *data, size_t len,
                      char hash[JCS_FILEHASH_LEN + 1])
{
    jcs_redundancy none = {.type = JCS_RED_NONE};
    jcs_site t = site_of(space_id);
    jcs_block b;
    struct src s = {data, len, 0};
    jcs_driver_upload_res res_ = {.blocks = &b};
    int rc_ = jcs_driver_upload(drv,
                                &(jcs_driver_upload_req){.read = src_read,
                                                         .arg = &s,
                                                         .red = &none,
                                                         .targets = &t,
                                                         .ntargets = 1,
                                                         .compute = NULL},
                                &res_);
    memcpy(hash, res_.hash, sizeof res_.hash);
    return rc_;
}

static int get_detail(int64_t id, jcs_meta_detail *d)
{
    return jcs_meta_object_detail(db, id, d);
}

static bool red_is(const jcs_meta_detail *d, const char *type)
{
    json_t *o = json_loads(d->object.redundancy, 0, NULL);
    const char *t = json_string_value(json_object_get(o, "type"));
    bool yes = t && strcmp(t, type) == 0;
    json_decref(o);
    return yes;
}

/* ---- tests ---- */

static uint8_t *small_a; /* the GC test's referenced object, 3000 bytes */
static int64_t obj_a;

/*
 * Moves a shard's checksums from its file's attribute to a sidecar file beside it: the
 * layout of shards written before the attribute (and of large shards), whose sidecars a
 * crash between the two commits could leave alone.
 */
static int to_sidecar_layout(const char *shard)
{
    uint8_t sc[1024];
    char side[1400];
    ssize_t n = getxattr(shard, "user.jcs.crc", sc, sizeof sc);
    snprintf(side, sizeof side, "%s.crc", shard);
    int fd = n > 0 ? open(side, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    int ok = fd >= 0 && write(fd, sc, (size_t)n) == n;
    if (fd >= 0)
        close(fd);
    return ok && removexattr(shard, "user.jcs.crc") == 0 ? 0 : -1;
}

TEST(gc_deletes_old_orphans_only)
{
    SETUP();
    small_a = make_data(3000, 1);
    int64_t sp1 = 1;
    jcs_redundancy none = {.type = JCS_RED_NONE};
    obj_a = put_object("gc/referenced", small_a, 3000, &none, &sp1, 1);
    T_ASSERT(obj_a > 0, "");
    jcs_meta_detail d;
    T_OK(get_detail(obj_a, &d));
    char ref[JCS_HASH_SIZE];
    snprintf(ref, sizeof ref, "%s", d.blocks[0].file_hash);
    jcs_meta_detail_clear(&d);
    uint8_t *o1 = make_data(2000, 2), *o2 = make_data(2000, 3);
    char old_h[JCS_FILEHASH_LEN + 1], young_h[JCS_FILEHASH_LEN + 1];
    T_OK(put_orphan(1, o1, 2000, old_h));
    T_OK(put_orphan(1, o2, 2000, young_h));
    jcs_free(o1);
    jcs_free(o2);
    /* A pinned full copy on space 2: no block row names it, the pin protects it. */
    char pin_h[JCS_FILEHASH_LEN + 1];
    T_OK(put_orphan(2, small_a, 3000, pin_h));
    T_EQ_STR(pin_h, ref);
    T_OK(jcs_meta_object_pin(db, obj_a, 2));
    /* Sidecars whose shard is gone (a crash between the two commits): an old one and a young
     * one, and the sidecar of the referenced shard, which must stay. */
    uint8_t *o3 = make_data(1500, 4), *o4 = make_data(1500, 5);
    char side_old[JCS_FILEHASH_LEN + 1], side_young[JCS_FILEHASH_LEN + 1];
    T_OK(put_orphan(1, o3, 1500, side_old));
    T_OK(put_orphan(1, o4, 1500, side_young));
    jcs_free(o3);
    jcs_free(o4);
    char sc_old[1400], sc_young[1400], sc_ref[1400];
    snprintf(sc_old, sizeof sc_old, "%s.crc", shard_path(1, side_old));
    snprintf(sc_young, sizeof sc_young, "%s.crc", shard_path(1, side_young));
    snprintf(sc_ref, sizeof sc_ref, "%s.crc", shard_path(1, ref));
    T_ASSERT(to_sidecar_layout(shard_path(1, side_old)) == 0 &&
                 to_sidecar_layout(shard_path(1, side_young)) == 0 &&
                 to_sidecar_layout(shard_path(1, ref)) == 0,
             "the shards were written without their checksums attribute");
    T_ASSERT(unlink(shard_path(1, side_old)) == 0 && unlink(shard_path(1, side_young)) == 0, "");
    T_ASSERT(itest_sh("touch -d '2 hours ago' '%s' '%s'", sc_old, sc_ref) == 0, "");
    struct stat sst;
    T_ASSERT(stat(sc_old, &sst) == 0 && stat(sc_young, &sst) == 0, "no sidecars written");
    /* Old enough for GC: the orphan and the referenced shards (which must survive anyway). */
    T_ASSERT(backdate(1, old_h) == 0 && backdate(1, ref) == 0 && backdate(2, pin_h) == 0, "");
    json_t *chk = run_job("CheckShardStore");
    T_ASSERT(chk, "no check report");
    T_EQ_INT(rep_int(chk, "orphanSidecars"), 2);
    T_EQ_INT(rep_int(chk, "sidecarsDeleted"), 0);
    json_decref(chk);
    json_t *rep = run_job("ShardStoreGC");
    T_ASSERT(rep, "no report");
    T_EQ_INT(rep_int(rep, "shardsDeleted"), 1);
    T_EQ_INT(rep_int(rep, "bytesFreed"), 2000);
    T_ASSERT(rep_int(rep, "youngOrphans") >= 1, "");
    T_ASSERT(rep_int(rep, "spacesChecked") == NHUBS, "");
    T_EQ_INT(rep_int(rep, "orphanSidecars"), 2);
    T_EQ_INT(rep_int(rep, "sidecarsDeleted"), 1);
    json_decref(rep);
    T_ASSERT(stat(sc_old, &sst) != 0, "the old orphan sidecar is still there");
    T_ASSERT(stat(sc_young, &sst) == 0, "the young orphan sidecar was deleted");
    T_ASSERT(stat(sc_ref, &sst) == 0, "a referenced shard's sidecar was deleted");
    T_ASSERT(!shard_exists(1, old_h), "the old orphan is still there");
    T_ASSERT(shard_exists(1, young_h), "the young orphan was deleted");
    T_ASSERT(shard_exists(1, ref), "a referenced shard was deleted");
    T_ASSERT(shard_exists(2, pin_h), "a pinned copy was deleted");
    T_OK(check_object(obj_a, small_a, 3000));
}

TEST(check_reports_missing_and_recover_reports_a_lost_none_object)
{
    SETUP();
    uint8_t *data = make_data(1500, 4);
    int64_t sp2 = 2;
    jcs_redundancy none = {.type = JCS_RED_NONE};
    int64_t id = put_object("check/gone", data, 1500, &none, &sp2, 1);
    jcs_free(data);
    T_ASSERT(id > 0, "");
    jcs_meta_detail d;
    T_OK(get_detail(id, &d));
    char h[JCS_HASH_SIZE];
    snprintf(h, sizeof h, "%s", d.blocks[0].file_hash);
    jcs_meta_detail_clear(&d);
    T_ASSERT(unlink(shard_path(2, h)) == 0, "");
    json_t *rep = run_job("CheckShardStore");
    T_ASSERT(rep, "no report");
    T_EQ_INT(rep_int(rep, "missing"), 1);
    int named = 0;
    json_t *sp = json_object_get(rep, "spaces");
    for (size_t i = 0; i < json_array_size(sp); i++) {
        json_t *s = json_array_get(sp, i);
        json_t *m = json_object_get(s, "missingHashes");
        if (json_integer_value(json_object_get(s, "userSpaceID")) == 2 && json_array_size(m) == 1)
            named = strcmp(json_string_value(json_array_get(m, 0)), h) == 0;
    }
    json_decref(rep);
    T_ASSERT(named, "the report does not name the missing shard on space 2");
    /* Its only copy is gone: recovery reports it lost and goes on. */
    rep = run_job("RedundancyRecover");
    T_ASSERT(rep, "no report");
    T_EQ_INT(rep_int(rep, "objectsLost"), 1);
    T_EQ_INT(rep_int(rep, "errors"), 0);
    json_decref(rep);
    T_OK(jcs_meta_object_delete(db, &id, 1));
}

TEST(update_access_stats_ages_counters)
{
    SETUP();
    jcs_meta_access a = {.object_id = obj_a, .space_id = 1, .count = 10};
    T_OK(jcs_meta_access_add(db, &a, 1));
    json_t *rep = run_job("UpdateAccessStats");
    T_ASSERT(rep, "no report");
    json_decref(rep);
    jcs_meta_stats st;
    T_OK(jcs_meta_object_stats(db, obj_a, &st));
    T_ASSERT(st.n == 1 && st.v[0].space_id == 1, "");
    double counter = st.v[0].counter, amount = st.v[0].amount;
    jcs_meta_stats_clear(&st);
    /* amount = 0 * 0.8 + 10 * 0.2; today's counter starts again at 0. */
    T_ASSERT(counter == 0 && amount > 1.999 && amount < 2.001, "counter %g amount %g", counter,
             amount);
}

static uint8_t *big_b, *small_c;
static int64_t obj_b, obj_c;
#define BIG 200000

TEST(change_redundancy_by_size)
{
    SETUP();
    big_b = make_data(BIG, 5);
    small_c = make_data(5000, 6);
    int64_t sp12[] = {1, 2}, sp3 = 3;
    jcs_redundancy rep2 = {.type = JCS_RED_REP, .rep_count = 2}, none = {.type = JCS_RED_NONE};
    obj_b = put_object("change/big", big_b, BIG, &rep2, sp12, 2);
    obj_c = put_object("change/small", small_c, 5000, &none, &sp3, 1);
    uint8_t *small_ec = make_data(20000, 10);
    int64_t sp234[] = {2, 3, 4};
    jcs_redundancy ec4k = {.type = JCS_RED_EC, .k = 2, .n = 3, .chunk_size = 4096};
    int64_t obj_e = put_object("change/small-ec", small_ec, 20000, &ec4k, sp234, 3);
    T_ASSERT(obj_b > 0 && obj_c > 0 && obj_e > 0, "");
    json_t *rep = run_job("ChangeRedundancy");
    T_ASSERT(rep, "no report");
    /* big, the two small ones and the GC test's object (none -> rep). */
    T_EQ_INT(rep_int(rep, "objectsChanged"), 4);
    T_EQ_INT(rep_int(rep, "errors"), 0);
    json_decref(rep);
    jcs_meta_detail d;
    T_OK(get_detail(obj_b, &d));
    bool ec = red_is(&d, "ec") && d.nblocks == 3;
    bool distinct = d.nblocks == 3 && d.blocks[0].space_id != d.blocks[1].space_id &&
                    d.blocks[1].space_id != d.blocks[2].space_id &&
                    d.blocks[0].space_id != d.blocks[2].space_id;
    jcs_meta_detail_clear(&d);
    T_ASSERT(ec && distinct, "the big object is not ec(2,3) over three spaces");
    T_OK(get_detail(obj_c, &d));
    bool rep_ok =
        red_is(&d, "rep") && d.nblocks == 2 && d.blocks[0].space_id != d.blocks[1].space_id;
    jcs_meta_detail_clear(&d);
    T_ASSERT(rep_ok, "the small object is not rep(2) over two spaces");
    T_OK(check_object(obj_b, big_b, BIG));
    T_OK(check_object(obj_c, small_c, 5000));
    T_OK(check_object(obj_a, small_a, 3000));
    T_OK(get_detail(obj_e, &d));
    rep_ok = red_is(&d, "rep") && d.nblocks == 2;
    jcs_meta_detail_clear(&d);
    T_ASSERT(rep_ok, "the small EC object is not rep(2)");
    T_OK(check_object(obj_e, small_ec, 20000));
    jcs_free(small_ec);
    /* A second run finds nothing to do. */
    rep = run_job("ChangeRedundancy");
    T_ASSERT(rep && rep_int(rep, "objectsChanged") == 0, "");
    json_decref(rep);
}

TEST(shrink_drops_surplus_copies_but_keeps_the_minimum)
{
    SETUP();
    uint8_t *data = make_data(4000, 7);
    int64_t all[] = {1, 2, 3, 4};
    jcs_redundancy rep4 = {.type = JCS_RED_REP, .rep_count = 4};
    int64_t id = put_object("shrink/rep", data, 4000, &rep4, all, 4);
    T_ASSERT(id > 0, "");
    /* The object says rep(2) but has four copies: two are surplus. */
    jcs_meta_detail d;
    T_OK(get_detail(id, &d));
    T_OK(jcs_meta_object_change_redundancy(db, id, d.object.file_hash,
                                           "{\"type\":\"rep\",\"repCount\":2}", d.blocks, d.nblocks,
                                           NULL));
    jcs_meta_detail_clear(&d);
    json_t *rep = run_job("RedundancyShrink");
    T_ASSERT(rep, "no report");
    T_ASSERT(rep_int(rep, "blocksDropped") >= 1, "");
    json_decref(rep);
    T_OK(get_detail(id, &d));
    size_t n = d.nblocks;
    bool has1 = false;
    for (size_t i = 0; i < n; i++)
        has1 |= d.blocks[i].space_id == 1;
    jcs_meta_detail_clear(&d);
    T_ASSERT(n >= 2 && n <= 3, "%zu copies left", n);
    T_ASSERT(has1, "the copy in the client's location was dropped");
    /* rep(2) objects with two copies keep both. */
    T_OK(get_detail(obj_c, &d));
    n = d.nblocks;
    jcs_meta_detail_clear(&d);
    T_EQ_INT(n, 2);
    T_OK(check_object(id, data, 4000));
    jcs_free(data);
}

static uint8_t *ec_d;
static int64_t obj_d;

TEST(recover_rebuilds_an_ec_block_of_an_offline_hub)
{
    SETUP();
    ec_d = make_data(150000, 8);
    int64_t sp[] = {1, 2, 3};
    jcs_redundancy ec = {.type = JCS_RED_EC, .k = 2, .n = 3, .chunk_size = 65536};
    obj_d = put_object("recover/ec", ec_d, 150000, &ec, sp, 3);
    T_ASSERT(obj_d > 0, "");
    T_ASSERT(stop_hub(3) == 0, "hub3 did not go offline");
    /* Offline for less than tickTock.recoverGracePeriod (15 s here): a restart, left alone. */
    json_t *rep = run_job("RedundancyRecover");
    T_ASSERT(rep, "no report");
    T_ASSERT(rep_int(rep, "objectsWaiting") >= 1 && rep_int(rep, "blocksRebuilt") == 0,
             "(waiting %lld, rebuilt %lld)", (long long)rep_int(rep, "objectsWaiting"),
             (long long)rep_int(rep, "blocksRebuilt"));
    json_decref(rep);
    /* Past the grace, the block is rebuilt elsewhere. */
    int64_t rebuilt = 0;
    for (int tries = 0; tries < 20 && rebuilt == 0; tries++) {
        sleep(2);
        rep = run_job("RedundancyRecover");
        T_ASSERT(rep, "no report");
        rebuilt = rep_int(rep, "blocksRebuilt");
        T_EQ_INT(rep_int(rep, "objectsLost"), 0);
        json_decref(rep);
    }
    T_ASSERT(rebuilt >= 1, "nothing rebuilt after the grace period");
    jcs_meta_detail d;
    T_OK(get_detail(obj_d, &d));
    bool on3 = false, on4 = false;
    for (size_t i = 0; i < d.nblocks; i++) {
        on3 |= d.blocks[i].space_id == 3;
        on4 |= d.blocks[i].space_id == 4 && d.blocks[i].index == 2;
    }
    size_t nb = d.nblocks;
    jcs_meta_detail_clear(&d);
    T_ASSERT(nb == 3 && !on3 && on4, "block 2 was not moved from space 3 to space 4");
    /* With hub 2 down as well, blocks 0 (space 1) and 2 (space 4) still give the object. */
    T_ASSERT(stop_hub(2) == 0, "hub2 did not go offline");
    T_OK(check_object(obj_d, ec_d, 150000));
    T_ASSERT(start_hub(2) == 0 && start_hub(3) == 0, "hubs did not come back");
    T_OK(check_object(obj_b, big_b, BIG));
    T_OK(check_object(obj_c, small_c, 5000));
}

TEST(userspace_delete_with_migrate_empties_the_space)
{
    SETUP();
    uint8_t *data = make_data(2500, 9);
    int64_t sp4 = 4;
    jcs_redundancy none = {.type = JCS_RED_NONE};
    int64_t id = put_object("migrate/none", data, 2500, &none, &sp4, 1);
    T_ASSERT(id > 0, "");
    json_t *r = api("POST", "/v1/userspace/delete", "{\"userSpaceID\": 4, \"migrate\": true}");
    const char *code = json_string_value(json_object_get(r, "code"));
    bool ok = code && strcmp(code, "OK") == 0;
    if (!ok)
        fprintf(stderr, "delete: %s\n", json_string_value(json_object_get(r, "message")));
    json_decref(r);
    T_ASSERT(ok, "userspace/delete with migrate failed");
    r = api("GET", "/v1/userspace/list", NULL);
    json_t *a = json_object_get(json_object_get(r, "data"), "userSpaces");
    bool gone = a != NULL;
    for (size_t i = 0; i < json_array_size(a); i++)
        gone &= json_integer_value(json_object_get(json_array_get(a, i), "userSpaceID")) != 4;
    json_decref(r);
    T_ASSERT(gone, "space 4 is still listed");
    T_OK(check_object(id, data, 2500));
    T_OK(check_object(obj_d, ec_d, 150000));
    T_OK(check_object(obj_b, big_b, BIG));
    T_OK(check_object(obj_a, small_a, 3000));
    jcs_free(data);
    jcs_free(ec_d);
    jcs_free(big_b);
    jcs_free(small_c);
    jcs_free(small_a);
}

TEST(unknown_job_is_a_bad_argument)
{
    SETUP();
    json_t *r = api("POST", "/v1/system/tickTock/run", "{\"job\": \"Defrag\"}");
    const char *code = json_string_value(json_object_get(r, "code"));
    const char *msg = json_string_value(json_object_get(r, "message"));
    T_ASSERT(code && strcmp(code, "BadArgument") == 0, "code %s", code ? code : "(none)");
    T_ASSERT(msg && strstr(msg, "Defrag") && strstr(msg, "ShardStoreGC"), "message %s",
             msg ? msg : "(none)");
    json_decref(r);
}
