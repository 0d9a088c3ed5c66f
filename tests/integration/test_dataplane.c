/*
 * test_dataplane.c - plans across real hubs: uploads with none / rep / ec,
 * full and ranged reads, reads with hubs stopped, a hub killed mid-upload,
 * S3 spaces beside local ones, redundancy changes. Every read is compared
 * byte for byte with what was written. Plan streams move over the bulk
 * channel (common/net/bulk.h), as in a default jcs; the bulk tests check
 * that they did, and that a cancel mid-stream is never taken for its end.
 *
 * One cluster of three hubs in three locations; each hub serves two local
 * spaces, and hub 1 also an S3 space on a local s3rver, so EC(4,6) spreads
 * over six spaces on three hubs (losing one hub loses n-k = 2 blocks).
 */
#include <inttypes.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "t.h"
#include "alloc.h"
#include "bulk.h"
#include "coordinator.pb-c.h"
#include "driver.h"
#include "hash.h"
#include "hub.pb-c.h"
#include "itest.h"
#include "methods.h"
#include "util.h"
#include "xfer.h"

#define NHUBS   3
#define NSPACES 7 /* 2 local per hub + 1 s3 on hub 1 */

static itest_cluster cl;
static int started, ready;
static jcs_driver *drv;
static Jcs__Plan__Worker hubs[NHUBS];
static char hub_addr[NHUBS][128];
static Jcs__Plan__Space spaces[NSPACES];
static char space_root[NSPACES][32];
static int space_hub[NSPACES]; /* hub index 0.. */
static char s3_dir[600], s3_endpoint[512];
static int s3_pid;

static void teardown(void)
{
    jcs_driver_free(drv);
    drv = NULL;
    itest_cluster_down(&cl);
    if (s3_pid > 0)
        kill(s3_pid, SIGTERM);
    if (s3_dir[0] && itest_sh("rm -rf '%s' '%s.log'", s3_dir, s3_dir) != 0)
        fprintf(stderr, "cannot remove %s\n", s3_dir);
    jcs_rpc_shutdown();
}

static int start_s3(void)
{
    char envf[700], line[512];
    snprintf(s3_dir, sizeof(s3_dir), "%s/s3", cl.dir);
    snprintf(envf, sizeof(envf), "%s/s3.env", cl.dir);
    if (itest_sh("tests/s3/start '%s' jcs-dp '%s' >/dev/null", s3_dir, envf) != 0)
        return -1;
    FILE *f = fopen(envf, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "S3_ENDPOINT=", 12) == 0)
            snprintf(s3_endpoint, sizeof(s3_endpoint), "%s", line + 12);
        if (strncmp(line, "S3_PID=", 7) == 0)
            s3_pid = atoi(line + 7);
    }
    fclose(f);
    return s3_endpoint[0] && s3_pid > 0 ? 0 : -1;
}

static int setup(void)
{
    if (started)
        return ready ? 0 : -1;
    started = 1;
    jcs_rpc_init();
    itest_at_exit(teardown);
    if (itest_cluster_up(
            &cl, "--hubs 3 --no-client --hub-unavailable 3 --test-interval 5 --reclaim-interval 1 "
                 "--reclaim-age 2") != 0 ||
        itest_hub_workers(&cl, NHUBS, hubs, hub_addr) != 0 || start_s3() != 0)
        return -1;
    for (int i = 0; i < NSPACES; i++) {
        jcs__plan__space__init(&spaces[i]);
        spaces[i].space_id = i + 1;
        if (i < 2 * NHUBS) {
            space_hub[i] = i % NHUBS;
            snprintf(space_root[i], sizeof(space_root[i]), "space%d", i + 1);
            spaces[i].type = "local";
            spaces[i].root = space_root[i];
        } else {
            space_hub[i] = 0;
            spaces[i].type = "s3";
            spaces[i].endpoint = s3_endpoint;
            spaces[i].region = "us-east-1";
            spaces[i].bucket = "jcs-dp";
            spaces[i].prefix = "space7";
            spaces[i].path_style = 1;
            spaces[i].access_key = "S3RVER";
            spaces[i].secret_key = "S3RVER";
        }
    }
    if (itest_driver(&cl, &drv) != 0 || jcs_driver_use_bulk(drv) != 0)
        return -1;
    ready = 1;
    return 0;
}

#define SETUP() T_ASSERT(setup() == 0, "the cluster, s3rver or the driver did not start")

/* Deterministic test data. */
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
    size_t step;        /* bytes per read call (odd sizes exercise re-chunking) */
    int64_t kill_after; /* kill a hub once this many bytes went out (-1: never) */
    int kill_hub;
    int64_t pause_ms; /* sleep per read after kill_after/2, so the kill lands mid-stream */
};

static int src_read(void *arg, void *buf, size_t cap, size_t *n)
{
    struct src *s = arg;
    size_t k = s->len - s->pos;
    if (k > cap)
        k = cap;
    if (s->step && k > s->step)
        k = s->step;
    memcpy(buf, s->data + s->pos, k);
    s->pos += k;
    *n = k;
    if (s->kill_after >= 0 && (int64_t)s->pos >= s->kill_after / 2 && s->pause_ms)
        jcs_sleep_ms(s->pause_ms);
    if (s->kill_after >= 0 && (int64_t)s->pos >= s->kill_after) {
        char key[32];
        snprintf(key, sizeof(key), "HUB%d_PID", s->kill_hub + 1);
        kill(atoi(itest_env(&cl, key)), SIGKILL);
        s->kill_after = -1;
    }
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

static jcs_redundancy red_none(void)
{
    jcs_redundancy r = {.type = JCS_RED_NONE};
    return r;
}

static jcs_redundancy red_rep(int c)
{
    jcs_redundancy r = {.type = JCS_RED_REP, .rep_count = c};
    return r;
}

static jcs_redundancy red_ec(int k, int n, int64_t chunk)
{
    jcs_redundancy r = {.type = JCS_RED_EC, .k = k, .n = n, .chunk_size = chunk};
    return r;
}

/* Sites for spaces idx[0..n); distance grows with the position. */
static void sites_for(const int *idx, size_t n, jcs_site *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].space = &spaces[idx[i]];
        out[i].hub = &hubs[space_hub[idx[i]]];
        out[i].distance = (double)i;
    }
}

struct stored {
    jcs_block blocks[16];
    jcs_site sites[16];
    size_t nblocks;
    char hash[JCS_HASH_SIZE];
    int64_t size;
    jcs_redundancy red;
};

static int upload(const uint8_t *data, size_t len, jcs_redundancy red, const int *idx, size_t n,
                  const Jcs__Plan__Worker *compute, struct stored *st)
{
    struct src s = {data, len, 0, 777, -1, 0, 0};
    jcs_site targets[16];
    sites_for(idx, n, targets);
    memset(st, 0, sizeof(*st));
    st->red = red;
    jcs_driver_upload_res res_ = {.blocks = st->blocks};
    int rc = jcs_driver_upload(drv,
                               &(jcs_driver_upload_req){.read = src_read,
                                                        .arg = &s,
                                                        .red = &red,
                                                        .targets = targets,
                                                        .ntargets = n,
                                                        .compute = compute},
                               &res_);
    st->nblocks = res_.nblocks;
    memcpy(st->hash, res_.hash, sizeof res_.hash);
    st->size = res_.size;
    if (rc)
        return rc;
    /* Blocks are found again by their space id, as the client's metadata would. */
    for (size_t i = 0; i < st->nblocks; i++) {
        for (int j = 0; j < NSPACES; j++)
            if (spaces[j].space_id == st->blocks[i].space_id) {
                st->sites[i].space = &spaces[j];
                st->sites[i].hub = &hubs[space_hub[j]];
                st->sites[i].distance = (double)i;
            }
    }
    return 0;
}

/* Reads [off, off+len) and compares with data. Returns 0 when identical. */
static int check_read(const struct stored *st, const uint8_t *data, int64_t off, int64_t len,
                      const Jcs__Plan__Worker *compute, char *why, size_t whylen)
{
    size_t want = (size_t)(len < 0 ? st->size - off : len);
    struct sink s = {jcs_malloc(want ? want : 1), 0, want};
    int rc = jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = st->blocks,
                                                                         .sites = st->sites,
                                                                         .nblocks = st->nblocks,
                                                                         .red = &st->red,
                                                                         .object_size = st->size},
                                                                 .offset = off,
                                                                 .length = len,
                                                                 .compute = compute,
                                                                 .write = sink_write,
                                                                 .arg = &s});
    if (rc)
        snprintf(why, whylen, "download [%" PRId64 ", %+" PRId64 ") failed: %s", off, len,
                 jcs_err_msg(rc));
    else if (s.len != want)
        snprintf(why, whylen, "download [%" PRId64 ", %+" PRId64 ") returned %zu bytes, want %zu",
                 off, len, s.len, want);
    else if (want && memcmp(s.buf, data + off, want) != 0)
        snprintf(why, whylen, "download [%" PRId64 ", %+" PRId64 ") differs from what was written",
                 off, len);
    else
        rc = 0;
    if (!rc && s.len != want)
        rc = -1;
    if (!rc && want && memcmp(s.buf, data + off, want) != 0)
        rc = -1;
    jcs_free(s.buf);
    return rc;
}

/* The path of a block's shard file on a local space. Static buffer. */
static const char *shard_path(const jcs_block *b)
{
    static char p[1200];
    int sp = (int)b->space_id - 1;
    char key[32];
    snprintf(key, sizeof(key), "HUB%d_ROOT", space_hub[sp] + 1);
    snprintf(p, sizeof(p), "%s/%s/blocks/%.2s/%s", itest_env(&cl, key), space_root[sp],
             b->file_hash + 4, b->file_hash);
    return p;
}

TEST(none_rep_and_ec_uploads_read_back_identical)
{
    SETUP();
    static const size_t sizes[] = {0, 1, 4095, 65536, 65537, 2 * 65536 * 3 + 17, 1000003};
    int none_idx[] = {0}, rep_idx[] = {1, 2}, ec23_idx[] = {0, 1, 2},
        ec46_idx[] = {0, 1, 2, 3, 4, 5};
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t n = sizes[si];
        uint8_t *data = make_data(n, (uint32_t)si + 1);
        char expect[JCS_HASH_SIZE], why[512] = "";
        T_OK(jcs_hash_buf(data, n, expect));
        struct {
            jcs_redundancy red;
            const int *idx;
            size_t n;
        } cases[] = {{red_none(), none_idx, 1},
                     {red_rep(2), rep_idx, 2},
                     {red_ec(2, 3, 65536), ec23_idx, 3},
                     {red_ec(4, 6, 65536), ec46_idx, 6}};
        for (size_t c = 0; c < 4 && !t_failed(); c++) {
            struct stored st;
            int rc = upload(data, n, cases[c].red, cases[c].idx, cases[c].n, NULL, &st);
            if (rc) {
                jcs_free(data);
                T_OK(rc);
            }
            T_EQ_STR(st.hash, expect);
            T_EQ_INT(st.size, (int64_t)n);
            T_EQ_INT(st.nblocks, cases[c].n);
            for (size_t b = 0; b < st.nblocks; b++) {
                int64_t want = cases[c].red.type == JCS_RED_EC
                                   ? jcs_ec_block_size(&cases[c].red, (int64_t)n)
                                   : (int64_t)n;
                T_EQ_INT(st.blocks[b].size, want);
                /* The shard is where the metadata says, with that size. */
                T_ASSERT(itest_sh("test \"$(stat -c %%s '%s')\" = %" PRId64,
                                  shard_path(&st.blocks[b]), want) == 0,
                         "(shard %s)", shard_path(&st.blocks[b]));
            }
            if (check_read(&st, data, 0, -1, NULL, why, sizeof(why)) != 0) {
                jcs_free(data);
                T_ASSERT(0, "(size %zu, case %zu: %s)", n, c, why);
            }
        }
        jcs_free(data);
        if (t_failed())
            return;
    }
}

TEST(ranged_reads_touch_the_right_bytes)
{
    SETUP();
    size_t n = 3 * 4 * 4096 + 1234; /* 3 full strips of ec(4,6) chunk 4096, and a bit */
    uint8_t *data = make_data(n, 99);
    int idx[] = {0, 1, 2, 3, 4, 5};
    struct stored st;
    char why[512] = "";
    T_OK(upload(data, n, red_ec(4, 6, 4096), idx, 6, NULL, &st));
    int64_t strip = 4 * 4096;
    int64_t ranges[][2] = {{0, 1},          {(int64_t)n - 1, 1}, {strip - 1, 2}, {strip, strip},
                           {4095, 4097},    {strip * 3, -1},     {5, 100},       {0, (int64_t)n},
                           {(int64_t)n, 0}, {12345, 0}};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (check_read(&st, data, ranges[i][0], ranges[i][1], NULL, why, sizeof(why)) != 0)
            break;
        /* The same with the decoding on a hub. */
        if (check_read(&st, data, ranges[i][0], ranges[i][1], &hubs[1], why, sizeof(why)) != 0)
            break;
    }
    /* A copy (not EC) read by range. */
    struct stored rep;
    if (!why[0] && upload(data, n, red_rep(2), idx, 2, NULL, &rep) == 0)
        check_read(&rep, data, 777, 8888, NULL, why, sizeof(why));
    jcs_free(data);
    T_ASSERT(why[0] == '\0', "(%s)", why);
}

TEST(a_range_past_the_end_is_refused)
{
    SETUP();
    uint8_t *data = make_data(1000, 5);
    int idx[] = {0, 1, 2};
    struct stored st;
    struct sink s = {jcs_malloc(4096), 0, 4096};
    int rc = upload(data, 1000, red_ec(2, 3, 4096), idx, 3, NULL, &st);
    if (!rc)
        rc = jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = st.blocks,
                                                                         .sites = st.sites,
                                                                         .nblocks = st.nblocks,
                                                                         .red = &st.red,
                                                                         .object_size = st.size},
                                                                 .offset = 990,
                                                                 .length = 20,
                                                                 .compute = NULL,
                                                                 .write = sink_write,
                                                                 .arg = &s});
    jcs_free(s.buf);
    jcs_free(data);
    T_EQ_INT(rc, JCS_EINVAL);
}

TEST(small_shards_in_one_call_are_checked_both_ways)
{
    SETUP();
    uint8_t *data = make_data(5000, 9), back[5000];
    int idx[] = {0, 6}; /* a local space and the S3 one */
    jcs_site site[2];
    sites_for(idx, 2, site);
    char h[JCS_HASH_SIZE], wrong[JCS_HASH_SIZE];
    T_OK(jcs_hash_buf(data, 5000, h));
    T_OK(jcs_hash_buf(data, 4999, wrong));
    for (int i = 0; i < 2; i++) {
        /* The hub names the content itself: a wrong hash is refused and nothing is stored. */
        int rc = jcs_driver_write_small(drv, &site[i], data, 5000, wrong, NULL);
        T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "hashes to"), "(%s)", jcs_err_msg(rc));
        jcs_shard_entry e;
        T_EQ_INT(jcs_driver_stat_shard(drv, &site[i], wrong, &e), JCS_ENOENT);
        T_OK(jcs_driver_write_small(drv, &site[i], data, 5000, h, &e));
        T_EQ_INT(e.size, 5000);
        T_OK(jcs_driver_read_small(drv, &site[i], h, 0, 5000, back));
        T_ASSERT(memcmp(back, data, 5000) == 0);
        T_OK(jcs_driver_read_small(drv, &site[i], h, 4990, 10, back));
        T_ASSERT(memcmp(back, data + 4990, 10) == 0);
        /* Past the end is a bad request (checked against the size the shard's checksums
         * record), not corruption. */
        rc = jcs_driver_read_small(drv, &site[i], h, 4990, 11, back);
        T_ASSERT(rc == JCS_EINVAL && strstr(jcs_err_msg(rc), "past the end"), "(%s)",
                 jcs_err_msg(rc));
    }
    jcs_free(data);
}

TEST(ec_reads_survive_n_minus_k_lost_blocks)
{
    SETUP();
    size_t n = 700001;
    uint8_t *data = make_data(n, 7);
    int idx[] = {0, 1, 2, 3, 4, 5}; /* hub h holds spaces h and h+3 */
    struct stored st;
    char why[512] = "";
    T_OK(upload(data, n, red_ec(4, 6, 65536), idx, 6, NULL, &st));
    /* Every pair of lost blocks, by marking their sites unreachable. */
    for (int a = 0; a < 6 && !why[0]; a++)
        for (int b = a + 1; b < 6 && !why[0]; b++) {
            struct stored lost = st;
            lost.sites[a].hub = NULL;
            lost.sites[b].hub = NULL;
            check_read(&lost, data, 0, -1, NULL, why, sizeof(why));
        }
    /* Really stopped: hub 2 holds blocks 1 and 4. */
    if (!why[0]) {
        T_OK(itest_cluster_cmd(&cl, "stop-hub", "2"));
        struct stored lost = st;
        lost.sites[1].hub = NULL; /* what a client learns from the coordinator */
        lost.sites[4].hub = NULL;
        check_read(&lost, data, 0, -1, NULL, why, sizeof(why));
        /* Even without telling the driver: the plan fails cleanly, naming the hub. */
        struct sink s = {jcs_malloc(n), 0, n};
        struct stored blind = st;
        blind.sites[1].distance = -1; /* make the dead hub the first choice */
        int rc =
            jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = blind.blocks,
                                                                        .sites = blind.sites,
                                                                        .nblocks = blind.nblocks,
                                                                        .red = &blind.red,
                                                                        .object_size = blind.size},
                                                                .offset = 0,
                                                                .length = -1,
                                                                .compute = NULL,
                                                                .write = sink_write,
                                                                .arg = &s});
        jcs_free(s.buf);
        if (!why[0] && rc != JCS_EUNAVAIL)
            snprintf(why, sizeof(why), "reading from a stopped hub returned %d (%s), want EUNAVAIL",
                     rc, jcs_err_msg(rc));
        T_OK(itest_cluster_cmd(&cl, "start-hub", "2"));
    }
    /* Three lost blocks are one too many. */
    struct stored lost3 = st;
    lost3.sites[0].hub = lost3.sites[1].hub = lost3.sites[2].hub = NULL;
    struct sink s = {jcs_malloc(n), 0, n};
    int rc = jcs_driver_download(drv, &(jcs_driver_download_req){.src = {.blocks = lost3.blocks,
                                                                         .sites = lost3.sites,
                                                                         .nblocks = lost3.nblocks,
                                                                         .red = &lost3.red,
                                                                         .object_size = lost3.size},
                                                                 .offset = 0,
                                                                 .length = -1,
                                                                 .compute = NULL,
                                                                 .write = sink_write,
                                                                 .arg = &s});
    jcs_free(s.buf);
    jcs_free(data);
    T_ASSERT(why[0] == '\0', "(%s)", why);
    T_EQ_INT(rc, JCS_EUNAVAIL);
}

/* Counts regular files under DIR (0 when it does not exist). */
static int count_files(const char *dir)
{
    char cmd[1200], out[64] = "";
    snprintf(cmd, sizeof(cmd), "find '%s' -type f 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(out, sizeof(out), p))
        out[0] = '\0';
    pclose(p);
    return atoi(out);
}

/*
 * Counts shard files under DIR whose content does not hash to their name:
 * a partial or corrupt shard made visible. 0 when every shard is whole.
 * Checksum sidecars (<hash>.crc) are not shards and are left out.
 */
static int count_bad_shards(const char *dir)
{
    char cmd[1400], out[64] = "";
    snprintf(cmd, sizeof(cmd),
             "n=0; for f in $(find '%s' -type f -name 'Full*' ! -name '*.crc' 2>/dev/null); do "
             "h=$(sha256sum \"$f\" | cut -c1-64 | tr a-f A-F); "
             "[ \"Full$h\" = \"$(basename \"$f\")\" ] || n=$((n+1)); done; echo $n",
             dir);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(out, sizeof(out), p))
        out[0] = '\0';
    pclose(p);
    return atoi(out);
}

TEST(a_hub_killed_mid_upload_leaves_no_partial_shard)
{
    SETUP();
    size_t n = 24 << 20;
    uint8_t *data = make_data(n, 11);
    int idx[] = {0, 1, 2}; /* hubs 1, 2, 3 */
    char blocks_dir[3][700], tmp_dir[700], key[32];
    for (int h = 0; h < 3; h++) {
        snprintf(key, sizeof(key), "HUB%d_ROOT", h + 1);
        snprintf(blocks_dir[h], sizeof(blocks_dir[h]), "%s/space%d/blocks", itest_env(&cl, key),
                 h + 1);
    }
    snprintf(key, sizeof(key), "HUB%d_ROOT", 3);
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/space3/tmp", itest_env(&cl, key));
    struct src s = {data, n, 0, 1 << 20, 8 << 20, 2, 20};
    jcs_site targets[3];
    jcs_block blocks[3];
    jcs_redundancy red = red_ec(2, 3, 1 << 20);
    sites_for(idx, 3, targets);
    int64_t t0 = jcs_now_ms();
    jcs_driver_upload_res res_ = {.blocks = blocks};
    int rc = jcs_driver_upload(drv,
                               &(jcs_driver_upload_req){.read = src_read,
                                                        .arg = &s,
                                                        .red = &red,
                                                        .targets = targets,
                                                        .ntargets = 3,
                                                        .compute = NULL},
                               &res_);
    int64_t took = jcs_now_ms() - t0;
    jcs_free(data);
    T_ASSERT(rc != 0, "(the upload succeeded although hub 3 was killed)");
    /* The error names the hub that died (its address), whichever stream noticed first. */
    T_ASSERT(strstr(jcs_err_msg(rc), hub_addr[2]) != NULL, "(error: %s)", jcs_err_msg(rc));
    T_ASSERT(took < 60000, "(the failed upload took %" PRId64 " ms to return)", took);
    /*
     * No partial shard became visible anywhere: every file under blocks/ is
     * whole (its content hashes to its name). Whole shards of the failed
     * upload may remain on the survivors as orphans for GC; no metadata
     * points at them.
     */
    for (int h = 0; h < 3; h++)
        T_EQ_INT(count_bad_shards(blocks_dir[h]), 0);
    /* Whatever temporary data the killed hub left is gone once it restarted. */
    T_OK(itest_cluster_cmd(&cl, "start-hub", "3"));
    T_EQ_INT(count_bad_shards(blocks_dir[2]), 0);
    T_EQ_INT(count_files(tmp_dir), 0);
}

/* Small shards written one after the other to space 1 until stopped; acked ones are listed. */
struct small_writer {
    jcs_site site;
    volatile int stop;
    char (*acked)[JCS_HASH_SIZE];
    size_t nacked, cap;
};

static void *small_writer_main(void *arg)
{
    struct small_writer *w = arg;
    for (uint32_t i = 0; !w->stop && w->nacked < w->cap; i++) {
        uint8_t *d = make_data(1000 + i % 3000, 7000 + i);
        char h[JCS_HASH_SIZE];
        if (jcs_hash_buf(d, 1000 + i % 3000, h) == 0 &&
            jcs_driver_write_small(drv, &w->site, d, 1000 + i % 3000, h, NULL) == 0)
            memcpy(w->acked[w->nacked++], h, JCS_HASH_SIZE);
        jcs_free(d);
    }
    return NULL;
}

/*
 * One file per small shard (DESIGN §13): a hub SIGKILLed while acknowledging small shard
 * writes keeps every acknowledged shard whole, each with its checksums in the attribute
 * user.jcs.crc of its own file (no sidecar file), and serves them verified once restarted.
 * (SIGKILL keeps the page cache; what it checks is that no acknowledged shard, and no
 * visible shard, is ever without its checksums: they are set before the rename.)
 */
TEST(a_hub_killed_after_acking_small_shards_keeps_them_with_their_checksums)
{
    SETUP();
    static char acked[400][JCS_HASH_SIZE];
    struct small_writer w = {.acked = acked, .cap = 400};
    int idx[] = {0};
    sites_for(idx, 1, &w.site);
    pthread_t t;
    T_ASSERT(pthread_create(&t, NULL, small_writer_main, &w) == 0);
    for (int i = 0; i < 200 && w.nacked < 30; i++)
        jcs_sleep_ms(20);
    kill(atoi(itest_env(&cl, "HUB1_PID")), SIGKILL);
    jcs_sleep_ms(300); /* the writer's calls after the kill fail: not acknowledged */
    w.stop = 1;
    pthread_join(t, NULL);
    T_ASSERT(w.nacked >= 30, "(only %zu small writes acknowledged before the kill)", w.nacked);
    T_OK(itest_cluster_cmd(&cl, "start-hub", "1"));
    T_OK(itest_hub_workers(&cl, NHUBS, hubs, hub_addr)); /* it listens on a new port */
    char dir[700];
    snprintf(dir, sizeof dir, "%.600s/space1/blocks", itest_env(&cl, "HUB1_ROOT"));
    T_EQ_INT(count_bad_shards(dir), 0);
    for (size_t i = 0; i < w.nacked; i++) {
        char path[1000];
        uint8_t sc[1024];
        snprintf(path, sizeof path, "%s/%.2s/%.68s", dir, acked[i] + 4, acked[i]);
        ssize_t n = getxattr(path, "user.jcs.crc", sc, sizeof sc);
        T_ASSERT(n >= 32 && memcmp(sc, "JCSC", 4) == 0, "(acknowledged shard %zu %s: %s)", i, path,
                 n < 0 ? "missing or without checksums" : "checksums damaged");
        strcat(path, ".crc");
        T_ASSERT(access(path, F_OK) != 0, "(a sidecar file %s beside a small shard)", path);
    }
    /* Served again, every byte checked against those checksums. */
    uint8_t back[4000];
    int rc = JCS_EUNAVAIL;
    for (int tries = 0; tries < 50 && rc != 0; tries++) {
        if ((rc = jcs_driver_read_small(drv, &w.site, acked[0], 0, 1000, back)) != 0)
            jcs_sleep_ms(200);
    }
    T_OK(rc);
    for (size_t i = 0; i < w.nacked; i += 7) {
        /* The i-th write of the writer had 1000 + i % 3000 bytes of seed 7000 + i, but failed
         * writes shift the list: compare with the hash instead. */
        jcs_shard_entry e;
        T_OK(jcs_driver_stat_shard(drv, &w.site, acked[i], &e));
        T_ASSERT(e.size >= 1000 && e.size < 4000);
        T_OK(jcs_driver_read_small(drv, &w.site, acked[i], 0, (size_t)e.size, back));
        char h[JCS_HASH_SIZE];
        T_OK(jcs_hash_buf(back, (size_t)e.size, h));
        T_EQ_STR(h, acked[i]);
    }
}

TEST(s3_spaces_mix_with_local_ones)
{
    SETUP();
    size_t n = 3 * 1048576 + 5;
    uint8_t *data = make_data(n, 21);
    int idx[] = {6, 1, 2}; /* block 0 on S3 via hub 1 */
    struct stored st;
    char why[512] = "";
    int rc = upload(data, n, red_ec(2, 3, 1 << 20), idx, 3, NULL, &st);
    if (!rc) {
        /* Force the S3 block into the read: lose block 1. */
        struct stored lost = st;
        lost.sites[1].hub = NULL;
        check_read(&lost, data, 0, -1, NULL, why, sizeof(why));
        if (!why[0])
            check_read(&lost, data, 1048570, 20, NULL, why, sizeof(why));
    }
    jcs_free(data);
    T_OK(rc);
    T_ASSERT(why[0] == '\0', "(%s)", why);
    /* The S3 shard is listed by its hub. */
    jcs_rpc_channel *ch = NULL;
    T_OK(itest_channel(&cl, hub_addr[0], 0, &ch));
    Jcs__Hub__StatShardReq req = JCS__HUB__STAT_SHARD_REQ__INIT;
    Jcs__Hub__StatShardResp *resp = NULL;
    req.space = &spaces[6];
    req.file_hash = st.blocks[0].file_hash;
    rc = jcs_rpc_unary(ch, JCS_M_STAT_SHARD, &req.base, &jcs__hub__stat_shard_resp__descriptor,
                       (ProtobufCMessage **)&resp, 10000);
    jcs_rpc_channel_free(ch);
    T_OK(rc);
    int64_t sz = resp->shard ? resp->shard->size : -1;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    T_EQ_INT(sz, st.blocks[0].size);
}

TEST(change_redundancy_and_repair)
{
    SETUP();
    size_t n = 1 << 20;
    uint8_t *data = make_data(n, 31);
    int one[] = {0}, ec_idx[] = {1, 2, 3}, rep_idx[] = {4, 5};
    struct stored st, ec;
    char why[512] = "";
    T_OK(upload(data, n, red_none(), one, 1, NULL, &st));
    /* none -> ec(2,3) */
    jcs_site targets[3];
    sites_for(ec_idx, 3, targets);
    jcs_redundancy to = red_ec(2, 3, 65536);
    memset(&ec, 0, sizeof(ec));
    int rc = jcs_driver_change_redundancy(drv,
                                          &(jcs_driver_change_req){.src = {.blocks = st.blocks,
                                                                           .sites = st.sites,
                                                                           .nblocks = st.nblocks,
                                                                           .red = &st.red,
                                                                           .object_size = st.size},
                                                                   .to = &to,
                                                                   .targets = targets,
                                                                   .ntargets = 3,
                                                                   .compute = NULL},
                                          ec.blocks, &ec.nblocks);
    if (rc) {
        jcs_free(data);
        T_OK(rc);
    }
    ec.red = to;
    ec.size = st.size;
    memcpy(ec.sites, targets, sizeof(targets));
    check_read(&ec, data, 0, -1, NULL, why, sizeof(why));
    /* repair: block 0 lost, rebuilt onto space 6 from blocks 1 and 2 */
    if (!why[0]) {
        struct stored lost = ec;
        lost.sites[0].hub = NULL;
        jcs_site fresh[1];
        int six[] = {5}, which[] = {0};
        sites_for(six, 1, fresh);
        jcs_block rebuilt[1];
        rc = jcs_driver_repair(drv,
                               &(jcs_driver_repair_req){.src = {.blocks = lost.blocks,
                                                                .sites = lost.sites,
                                                                .nblocks = lost.nblocks,
                                                                .red = &lost.red,
                                                                .object_size = lost.size},
                                                        .lost_index = which,
                                                        .nlost = 1,
                                                        .targets = fresh,
                                                        .compute = NULL},
                               rebuilt);
        if (rc) {
            snprintf(why, sizeof(why), "repair failed: %s", jcs_err_msg(rc));
        } else if (strcmp(rebuilt[0].file_hash, ec.blocks[0].file_hash) != 0) {
            snprintf(why, sizeof(why), "the rebuilt block differs from the lost one");
        } else {
            /* Read with the rebuilt block in place and another block gone. */
            struct stored healed = ec;
            healed.blocks[0] = rebuilt[0];
            healed.sites[0] = fresh[0];
            healed.sites[2].hub = NULL;
            check_read(&healed, data, 0, -1, NULL, why, sizeof(why));
        }
    }
    /* ec -> rep(2) */
    if (!why[0]) {
        struct stored rep;
        jcs_site rt[2];
        sites_for(rep_idx, 2, rt);
        jcs_redundancy r2 = red_rep(2);
        memset(&rep, 0, sizeof(rep));
        rc = jcs_driver_change_redundancy(drv,
                                          &(jcs_driver_change_req){.src = {.blocks = ec.blocks,
                                                                           .sites = ec.sites,
                                                                           .nblocks = ec.nblocks,
                                                                           .red = &ec.red,
                                                                           .object_size = ec.size},
                                                                   .to = &r2,
                                                                   .targets = rt,
                                                                   .ntargets = 2,
                                                                   .compute = NULL},
                                          rep.blocks, &rep.nblocks);
        if (!rc) {
            rep.red = r2;
            rep.size = ec.size;
            memcpy(rep.sites, rt, sizeof(rt));
            for (int i = 0; i < 2 && !why[0]; i++) {
                struct stored one_copy = rep;
                one_copy.sites[1 - i].hub = NULL;
                check_read(&one_copy, data, 0, -1, NULL, why, sizeof(why));
            }
        } else {
            snprintf(why, sizeof(why), "ec -> rep failed: %s", jcs_err_msg(rc));
        }
    }
    jcs_free(data);
    T_ASSERT(why[0] == '\0', "(%s)", why);
}

TEST(hubs_reclaim_dead_temporary_files_periodically)
{
    SETUP();
    /* space1 is served (and so watched) once a plan has used it. */
    uint8_t *data = make_data(100, 3);
    int one[] = {0};
    struct stored st;
    int rc = upload(data, 100, red_none(), one, 1, NULL, &st);
    jcs_free(data);
    T_OK(rc);
    char dead[1200], young[1200], root[1024];
    snprintf(root, sizeof(root), "%s", itest_env(&cl, "HUB1_ROOT"));
    /* What a writer killed long ago leaves: an unlocked temp file. */
    snprintf(dead, sizeof(dead), "%s/space1/tmp/00112233445566aa.4242", root);
    snprintf(young, sizeof(young), "%s/space1/tmp/00112233445566bb.4243", root);
    T_ASSERT(itest_sh("echo partial > '%s' && touch -d '1 hour ago' '%s' && echo new > '%s'", dead,
                      dead, young) == 0);
    int64_t end = jcs_now_ms() + 10000;
    while (jcs_now_ms() < end && itest_sh("test -e '%s'", dead) == 0)
        jcs_sleep_ms(200);
    T_ASSERT(itest_sh("test -e '%s'", dead) != 0, "(a dead temp file survived 10 s)");
    /* The shard itself is untouched. */
    T_ASSERT(itest_sh("test -s '%s'", shard_path(&st.blocks[0])) == 0);
    /* A file younger than reclaimAgeSeconds stays until it is old enough. */
    T_ASSERT(itest_sh("test -e '%s' || test $(( $(date +%%s) - $(stat -c %%Y '%s' 2>/dev/null || "
                      "echo 0) )) -ge 2",
                      young, young) == 0);
}

TEST(the_default_5_mib_chunk_works_through_1_mib_pipes)
{
    SETUP();
    /* JCS's default EC chunk (5 MiB) is larger than a pipe chunk (1 MiB). */
    size_t n = 2 * 2 * (5u << 20) + 12345;
    uint8_t *data = make_data(n, 55);
    int idx[] = {0, 1, 2};
    struct stored st;
    char why[512] = "";
    int rc = upload(data, n, red_ec(2, 3, 5 << 20), idx, 3, NULL, &st);
    if (!rc) {
        struct stored lost = st;
        lost.sites[0].hub = NULL; /* decode with parity */
        if (check_read(&st, data, 0, -1, NULL, why, sizeof(why)) == 0 &&
            check_read(&lost, data, 0, -1, &hubs[1], why, sizeof(why)) == 0)
            check_read(&lost, data, (5 << 20) - 3, 7, NULL, why, sizeof(why));
    }
    jcs_free(data);
    T_OK(rc);
    T_ASSERT(why[0] == '\0', "(%s)", why);
}

/*
 * A driver that cancels its ExecuteFragment while the fragment waits for a
 * stream that will never come (its sender's link dropped before the
 * PushStream reached the hub) ends the fragment on the hub: gRPC shows the
 * cancel to the hub as the end of the driver's stream, which the hub must
 * not take for the normal half-close that follows the answer.
 */
TEST(a_cancelled_fragment_waiting_for_a_stream_ends_on_the_hub)
{
    SETUP();
    char ca[600], cert[600], key[600];
    snprintf(ca, sizeof(ca), "%s/certs/ca_cert.pem", cl.dir);
    snprintf(cert, sizeof(cert), "%s/certs/client_cert.pem", cl.dir);
    snprintf(key, sizeof(key), "%s/certs/client_key.pem", cl.dir);
    jcs_tls_files tls = {ca, cert, key};
    jcs_xfer *x;
    jcs_rpc_channel *ch;
    jcs_rpc_stream *st;
    T_OK(jcs_xfer_new(&tls, &x));
    T_OK(jcs_xfer_channel(x, hub_addr[0], &ch));
    char plan_id[33];
    snprintf(plan_id, sizeof(plan_id), "%016llx%016llx", (unsigned long long)jcs_now_ms(),
             0xcafe0001ull);
    /* ShardWrite of stream var 1, which nobody ever pushes. */
    Jcs__Plan__ShardWrite sw = JCS__PLAN__SHARD_WRITE__INIT;
    sw.space = &spaces[0];
    sw.input = 1;
    sw.result = 2;
    Jcs__Plan__Op op = JCS__PLAN__OP__INIT;
    op.op_case = JCS__PLAN__OP__OP_SHARD_WRITE;
    op.shard_write = &sw;
    Jcs__Plan__Op *ops[] = {&op};
    int32_t results[] = {2};
    Jcs__Plan__Fragment f = JCS__PLAN__FRAGMENT__INIT;
    f.plan_id = plan_id;
    f.worker = &hubs[0];
    f.n_ops = 1;
    f.ops = ops;
    f.n_results = 1;
    f.results = results;
    Jcs__Hub__ExecuteFragmentReq req = JCS__HUB__EXECUTE_FRAGMENT_REQ__INIT;
    req.fragment = &f;
    T_OK(jcs_xfer_open(ch, JCS_M_EXECUTE_FRAGMENT, &st));
    T_OK(jcs_rpc_stream_send(st, &req.base));
    jcs_sleep_ms(500); /* the fragment runs and waits for var 1 */
    jcs_rpc_stream_cancel(st);
    int fin = jcs_rpc_stream_finish(st); /* the cancel, as expected */
    (void)fin;
    jcs_rpc_stream_free(st);
    /* The hub records the plan as failed once its fragment ended: a PullVar says so. */
    char last[512] = "";
    int ended = 0;
    for (int64_t end = jcs_now_ms() + 5000; !ended && jcs_now_ms() < end;) {
        Jcs__Hub__PullVarReq pr = JCS__HUB__PULL_VAR_REQ__INIT;
        ProtobufCMessage *resp = NULL;
        pr.plan_id = plan_id;
        pr.var = 2;
        pr.timeout_ms = 200;
        int rc = jcs_rpc_unary(ch, JCS_M_PULL_VAR, &pr.base, &jcs__hub__pull_var_resp__descriptor,
                               &resp, 2000);
        if (resp)
            protobuf_c_message_free_unpacked(resp, NULL);
        snprintf(last, sizeof(last), "%s", rc ? jcs_err_msg(rc) : "a value");
        ended = rc && strstr(last, "already failed");
        if (!ended)
            jcs_sleep_ms(200);
    }
    jcs_xfer_free(x);
    T_ASSERT(ended, "(the fragment still runs 5 s after the driver cancelled it: %s)", last);
}

/* ------------------------------------------------------------ bulk channel */

/* Hub i's bulk port, from its Ping answer (0 if it has none). */
static int bulk_port(int i)
{
    jcs_rpc_channel *ch = NULL;
    Jcs__Hub__PingReq req = JCS__HUB__PING_REQ__INIT;
    Jcs__Hub__PingResp *r = NULL;
    int port = 0;
    if (itest_channel(&cl, hub_addr[i], 0, &ch) == 0 &&
        jcs_rpc_unary(ch, JCS_M_PING, &req.base, &jcs__hub__ping_resp__descriptor,
                      (ProtobufCMessage **)&r, 5000) == 0)
        port = r->bulk_port;
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    jcs_rpc_channel_free(ch);
    return port;
}

/* Established TCP connections of process pid to remote port (IPv4 loopback cluster). */
static int conns_to(int pid, int port)
{
    char path[64], line[512], fd[300];
    unsigned long inodes[256];
    int n = 0, found = 0;
    FILE *f = fopen("/proc/net/tcp", "r");
    while (f && fgets(line, sizeof(line), f) && n < 256) {
        unsigned rport, st;
        unsigned long ino;
        if (sscanf(line, " %*d: %*x:%*x %*x:%x %x %*s %*s %*s %*s %*s %lu", &rport, &st, &ino) ==
                3 &&
            (int)rport == port && st == 1)
            inodes[n++] = ino;
    }
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        char link[600];
        snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
        ssize_t k = readlink(link, fd, sizeof(fd) - 1);
        if (k <= 0)
            continue;
        fd[k] = '\0';
        unsigned long ino;
        if (sscanf(fd, "socket:[%lu]", &ino) == 1)
            for (int i = 0; i < n; i++)
                found += inodes[i] == ino;
    }
    if (d)
        closedir(d);
    return found;
}

/*
 * An upload, full and ranged reads, and a repair coded on a hub (hub to
 * hub) through the bulk channel: bytes identical, and the connections that
 * carried them are there (pooled) afterwards.
 */
TEST(uploads_reads_and_a_hub_to_hub_repair_move_over_the_bulk_channel)
{
    SETUP();
    int ports[NHUBS];
    for (int i = 0; i < NHUBS; i++) {
        ports[i] = bulk_port(i);
        T_ASSERT(ports[i] > 0, "(hub %d advertises no bulk port)", i + 1);
    }
    size_t n = 5 * 1048576 + 4321;
    uint8_t *data = make_data(n, 41);
    int idx[] = {0, 1, 2};
    struct stored st;
    char why[512] = "";
    T_OK(upload(data, n, red_ec(2, 3, 1 << 20), idx, 3, NULL, &st));
    check_read(&st, data, 0, -1, NULL, why, sizeof(why));
    if (!why[0])
        check_read(&st, data, 1234567, 2000003, NULL, why, sizeof(why));
    /* Block 0 rebuilt on space 4 (hub 1) by hub 2 from blocks 1 and 2. */
    jcs_block rebuilt[1];
    if (!why[0]) {
        struct stored lost = st;
        lost.sites[0].hub = NULL;
        jcs_site fresh[1];
        int four[] = {3}, which[] = {0};
        sites_for(four, 1, fresh);
        int rc = jcs_driver_repair(drv,
                                   &(jcs_driver_repair_req){.src = {.blocks = lost.blocks,
                                                                    .sites = lost.sites,
                                                                    .nblocks = lost.nblocks,
                                                                    .red = &lost.red,
                                                                    .object_size = lost.size},
                                                            .lost_index = which,
                                                            .nlost = 1,
                                                            .targets = fresh,
                                                            .compute = &hubs[1]},
                                   rebuilt);
        if (rc)
            snprintf(why, sizeof(why), "repair failed: %s", jcs_err_msg(rc));
        else if (strcmp(rebuilt[0].file_hash, st.blocks[0].file_hash) != 0)
            snprintf(why, sizeof(why), "the rebuilt block differs from the lost one");
        else {
            struct stored healed = st;
            healed.blocks[0] = rebuilt[0];
            healed.sites[0] = fresh[0];
            healed.sites[1].hub = NULL;
            check_read(&healed, data, 0, -1, NULL, why, sizeof(why));
        }
    }
    jcs_free(data);
    T_ASSERT(why[0] == '\0', "(%s)", why);
    for (int i = 0; i < NHUBS; i++)
        T_ASSERT(conns_to(getpid(), ports[i]) > 0,
                 "(the driver holds no bulk connection to hub %d: its streams went by gRPC)",
                 i + 1);
    int hub_to_hub = 0;
    for (int i = 0; i < NHUBS; i++) {
        char key[32];
        snprintf(key, sizeof(key), "HUB%d_PID", i + 1);
        for (int j = 0; j < NHUBS; j++)
            if (j != i)
                hub_to_hub += conns_to(atoi(itest_env(&cl, key)), ports[j]);
    }
    T_ASSERT(hub_to_hub > 0, "(no hub holds a bulk connection to another: the repair's streams "
                             "went by gRPC)");
}

/* Runs a ShardWrite of stream var 1 to hub 0's space 1 under plan_id; returns its stream. */
static int start_shard_write(jcs_rpc_channel *ch, const char *plan_id, jcs_rpc_stream **st)
{
    static Jcs__Plan__ShardWrite sw = JCS__PLAN__SHARD_WRITE__INIT;
    static Jcs__Plan__Op op = JCS__PLAN__OP__INIT;
    static Jcs__Plan__Op *ops[] = {&op};
    static int32_t results[] = {2};
    sw.space = &spaces[0];
    sw.input = 1;
    sw.result = 2;
    op.op_case = JCS__PLAN__OP__OP_SHARD_WRITE;
    op.shard_write = &sw;
    Jcs__Plan__Fragment f = JCS__PLAN__FRAGMENT__INIT;
    f.plan_id = (char *)plan_id;
    f.worker = &hubs[0];
    f.n_ops = 1;
    f.ops = ops;
    f.n_results = 1;
    f.results = results;
    Jcs__Hub__ExecuteFragmentReq req = JCS__HUB__EXECUTE_FRAGMENT_REQ__INIT;
    req.fragment = &f;
    int rc = jcs_xfer_open(ch, JCS_M_EXECUTE_FRAGMENT, st);
    if (!rc && (rc = jcs_rpc_stream_send(*st, &req.base)) != 0)
        jcs_rpc_stream_free(*st);
    return rc;
}

/* The fragment's answer: 0 when it ran, else its error (detail set); frees st. */
static int fragment_result(jcs_rpc_stream *st)
{
    int rc;
    for (;;) {
        Jcs__Hub__ExecuteFragmentResp *r = NULL;
        rc = jcs_rpc_stream_recv(st, &jcs__hub__execute_fragment_resp__descriptor,
                                 (ProtobufCMessage **)&r);
        int beat = !rc && r->running;
        if (r)
            protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!beat)
            break;
    }
    int cr = jcs_rpc_stream_close_send(st);
    int fr = jcs_rpc_stream_finish(st);
    jcs_rpc_stream_free(st);
    (void)cr;
    return rc ? (fr ? fr : rc) : fr;
}

/*
 * A sender that gives up mid-stream (CANCEL) or whose connection is cut
 * (the sender died) must fail the hub's ShardWrite: no shard is committed
 * from the part that arrived. gRPC shows a cancelled PushStream to the hub
 * as an ordinary end of stream; the bulk channel's END frame is what tells
 * the two apart.
 */
TEST(a_cancel_or_a_cut_mid_stream_commits_no_shard)
{
    SETUP();
    char ca[600], cert[600], key[600], blocks[700], rkey[32];
    snprintf(ca, sizeof(ca), "%s/certs/ca_cert.pem", cl.dir);
    snprintf(cert, sizeof(cert), "%s/certs/client_cert.pem", cl.dir);
    snprintf(key, sizeof(key), "%s/certs/client_key.pem", cl.dir);
    snprintf(rkey, sizeof(rkey), "HUB%d_ROOT", 1);
    snprintf(blocks, sizeof(blocks), "%s/space1/blocks", itest_env(&cl, rkey));
    jcs_tls_files tls = {ca, cert, key};
    char addr[160];
    int port = bulk_port(0);
    T_ASSERT(port > 0, "(hub 1 advertises no bulk port)");
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    jcs_xfer *x;
    jcs_rpc_channel *ch;
    jcs_bulk_pool *pool;
    T_OK(jcs_xfer_new(&tls, &x));
    T_OK(jcs_xfer_channel(x, hub_addr[0], &ch));
    T_OK(jcs_bulk_pool_new(&tls, &pool));
    size_t n = 300 * 1024;
    uint8_t *data = make_data(n, 51);
    int before = count_files(blocks);
    const char *why[2] = {"", ""};
    char msgs[2][512];
    for (int mode = 0; mode < 2; mode++) {
        char plan_id[33];
        snprintf(plan_id, sizeof(plan_id), "%016llx%016llx", (unsigned long long)jcs_now_ms(),
                 0xb01c0000ull + (unsigned)mode);
        jcs_rpc_stream *st;
        jcs_bulk_conn *c;
        T_OK(start_shard_write(ch, plan_id, &st));
        T_OK(jcs_bulk_open(pool, addr, JCS_BULK_OPEN_PUSH, plan_id, 1, &c));
        T_OK(jcs_bulk_send_data(c, data, n));
        if (mode == 0)
            jcs_bulk_send_fail(c, JCS_BULK_CANCEL, JCS_ECANCELED, "the plan failed elsewhere");
        else
            jcs_bulk_abort(c);
        jcs_bulk_put(pool, c, 0);
        int rc = fragment_result(st);
        snprintf(msgs[mode], sizeof(msgs[mode]), "%s", rc ? jcs_err_msg(rc) : "");
        if (!rc)
            why[mode] = "the hub committed the shard of a stream that did not end";
    }
    jcs_free(data);
    jcs_bulk_pool_free(pool);
    jcs_xfer_free(x);
    T_ASSERT(!why[0][0], "(after a CANCEL: %s)", why[0]);
    T_ASSERT(strstr(msgs[0], "cancelled the stream") != NULL, "(the error says: %s)", msgs[0]);
    T_ASSERT(!why[1][0], "(after a cut connection: %s)", why[1]);
    T_ASSERT(strstr(msgs[1], "broken") != NULL, "(the error says: %s)", msgs[1]);
    T_EQ_INT(count_files(blocks), before);
}

/*
 * A hub whose bulk channel is off ("rpc": {"bulkChannel": false} in its
 * hub.json, or a hub of a release without one) answers bulk port 0, and a
 * driver with the channel on (jcs's default) moves its streams to it by
 * gRPC: the upload and the read succeed, bytes identical, and no bulk
 * connection to the hub's old port remains. Runs last: hub 3 stays so.
 */
TEST(a_hub_without_a_bulk_port_is_served_over_grpc_streams)
{
    SETUP();
    int old_port = bulk_port(2);
    T_ASSERT(old_port > 0, "(hub 3 advertises no bulk port before the change)");
    T_OK(itest_cluster_cmd(&cl, "stop-hub", "3"));
    T_OK(itest_sh("cd %s/hub3 && jq '.rpc.bulkChannel = false' hub.json >hub.json.new && "
                  "mv hub.json.new hub.json",
                  cl.dir));
    T_OK(itest_cluster_cmd(&cl, "start-hub", "3"));
    T_EQ_INT(bulk_port(2), 0);
    size_t n = 3 * 1048576 + 777;
    uint8_t *data = make_data(n, 43);
    int idx[] = {0, 1, 2}; /* spaces 1-3: one on each hub */
    struct stored st;
    char why[512] = "";
    int rc = upload(data, n, red_ec(2, 3, 1 << 20), idx, 3, NULL, &st);
    if (rc)
        snprintf(why, sizeof(why), "upload: %s", jcs_err_msg(rc));
    else
        check_read(&st, data, 0, -1, NULL, why, sizeof(why));
    jcs_free(data);
    T_ASSERT(why[0] == '\0', "(%s)", why);
    T_EQ_INT(conns_to(getpid(), old_port), 0);
}
