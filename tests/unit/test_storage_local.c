/*
 * test_storage_local.c - the local-directory backend and the shard store on it.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "shardstore.h"
#include "storage.h"
#include "t.h"
#include "t_storage_conf.h"
#include "t_tmpdir.h"
#include "util.h"

static int root_seq;

/* A fresh backend on its own directory; the path goes to root. */
static int open_local(char *root, size_t n, jcs_storage **s)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "local%d", ++root_seq);
    t_path(root, n, rel);
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL, .local_root = root};
    return jcs_storage_open(&cfg, s);
}

/* Files in <root>/tmp. */
static int count_tmp(const char *root)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/tmp", root);
    DIR *d = opendir(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static int count_tmp_cb(void *arg, jcs_storage *s)
{
    (void)s;
    return count_tmp(arg);
}

static char conf_root[512];

static int open_conf(void *arg, jcs_storage **s)
{
    (void)arg;
    return open_local(conf_root, sizeof(conf_root), s);
}

/* The conformance suite (tests/lib/t_storage_conf.c); the large object takes the page-cache
 * bypass: three O_DIRECT stage buffers of a megabyte and an unaligned buffered tail. */
static const struct t_storage_conf conf = {
    .open = open_conf, .arg = conf_root, .count_tmp = count_tmp_cb, .large = (3u << 20) + 4097};

__attribute__((constructor)) static void reg_conf(void)
{
    t_storage_conf_register(&conf);
}

/* Checks of a directory tree that S3 has no counterpart for. */
TEST(list_rejects_paths_out_of_the_root)
{
    char root[512];
    jcs_storage *s;
    T_OK(open_local(root, sizeof(root), &s));
    struct t_storage_keys none = {0};
    T_EQ_INT(jcs_storage_list(s, "../", t_storage_keys_fn, &none), JCS_EINVAL);
    T_EQ_INT(none.n, 0);
    /* A missing key's error names the directory the backend looked in. */
    char got[1];
    int rc = jcs_storage_read_buf(s, "objs/missing", 0, 1, got);
    T_EQ_INT(rc, JCS_ENOENT);
    T_ASSERT(strstr(jcs_err_msg(rc), root) != NULL, "(%s)", jcs_err_msg(rc));
    jcs_storage_close(s);
}

TEST(dead_writer_reclaimed_live_writer_kept)
{
    char root[512];
    jcs_storage *s;
    T_OK(open_local(root, sizeof(root), &s));
    /* A writer in another process that dies mid-stream leaves its temp file behind. */
    pid_t pid = fork();
    T_ASSERT(pid >= 0);
    if (pid == 0) {
        jcs_storage_writer *cw;
        if (jcs_storage_write_begin(s, &cw) == 0 && jcs_storage_write(cw, "half a shard", 12) == 0)
            _exit(0);
        _exit(1);
    }
    int status = 0;
    T_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    T_EQ_INT(count_tmp(root), 1);

    /* A live writer of this process, also in tmp/. */
    jcs_storage_writer *w;
    T_OK(jcs_storage_write_begin(s, &w));
    T_OK(jcs_storage_write(w, "alive", 5));
    T_EQ_INT(count_tmp(root), 2);

    unsigned removed = 99;
    T_OK(jcs_storage_reclaim(s, 3600 * 1000, &removed));
    T_EQ_INT(removed, 0);
    T_EQ_INT(count_tmp(root), 2);
    T_OK(jcs_storage_reclaim(s, 0, &removed));
    T_EQ_INT(removed, 1);
    T_EQ_INT(count_tmp(root), 1);
    /* The live writer still commits what it wrote. */
    T_OK(jcs_storage_write_commit(w, "survivor"));
    char got[6] = {0};
    T_OK(jcs_storage_read_buf(s, "survivor", 0, 5, got));
    T_EQ_STR(got, "alive");
    T_EQ_INT(count_tmp(root), 0);
    jcs_storage_close(s);
}

TEST(bad_keys_rejected)
{
    char root[512];
    jcs_storage *s;
    T_OK(open_local(root, sizeof(root), &s));
    static const char *bad[] = {"a/../b", "..", "../etc/passwd", "/abs",  "a//b", "a/", "./a",
                                "a/./b",  "",   "a\\b",          "tmp/x", "tmp"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jcs_storage_writer *w;
        T_OK(jcs_storage_write_begin(s, &w));
        T_OK(jcs_storage_write(w, "x", 1));
        int rc = jcs_storage_write_commit(w, bad[i]);
        T_EQ_INT(rc, JCS_EINVAL);
        T_ASSERT(bad[i][0] == '\0' || strstr(jcs_err_msg(rc), bad[i]) != NULL, "(%s: %s)", bad[i],
                 jcs_err_msg(rc));
    }
    /* Nothing escaped, nothing stayed behind. */
    T_EQ_INT(count_tmp(root), 0);
    char outside[600];
    snprintf(outside, sizeof(outside), "%s/../b", root);
    T_ASSERT(access(outside, F_OK) != 0);
    struct jcs_storage_stat st;
    T_EQ_INT(jcs_storage_stat(s, "../local1", &st), JCS_EINVAL);
    char buf[1];
    T_EQ_INT(jcs_storage_read_buf(s, "../etc/passwd", 0, 1, buf), JCS_EINVAL);
    T_EQ_INT(jcs_storage_delete(s, "a/../../x"), JCS_EINVAL);
    T_EQ_INT(jcs_storage_delete(s, "tmp/whatever"), JCS_EINVAL);
    jcs_storage_close(s);
}

TEST(open_errors_name_the_root)
{
    char file[512];
    t_path(file, sizeof(file), "plainfile");
    T_OK(jcs_write_file(file, "x", 1, 0644));
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL, .local_root = file};
    jcs_storage *s = NULL;
    int rc = jcs_storage_open(&cfg, &s);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(strstr(jcs_err_msg(rc), file) != NULL, "(%s)", jcs_err_msg(rc));
    cfg.local_root = NULL;
    rc = jcs_storage_open(&cfg, &s);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(strstr(jcs_err_msg(rc), "root") != NULL, "(%s)", jcs_err_msg(rc));
}

TEST(alloc_failures_return_enomem_and_leave_nothing)
{
    char root[512];
    jcs_storage *s;
    T_OK(open_local(root, sizeof(root), &s));
    static unsigned char data[20000], got[20000];
    t_storage_pattern(data, sizeof(data), 7);
    int failures = 0, ok = 0;
    for (long n = 0; n < 64 && !ok; n++) {
        jcs_storage_writer *w = NULL;
        jcs_alloc_fail_after(n);
        int rc = jcs_storage_write_begin(s, &w);
        if (!rc)
            rc = jcs_storage_write(w, data, sizeof(data));
        if (!rc) {
            rc = jcs_storage_write_commit(w, "dir/obj");
            w = NULL;
        } else if (w) {
            jcs_storage_write_abort(w);
            w = NULL;
        }
        if (!rc)
            rc = jcs_storage_read_buf(s, "dir/obj", 0, sizeof(data), got);
        jcs_alloc_fail_after(-1);
        T_ASSERT(rc == JCS_OK || rc == JCS_ENOMEM, "(n=%ld rc=%d %s)", n, rc, jcs_err_msg(rc));
        if (rc == JCS_ENOMEM) {
            failures++;
            T_ASSERT(strstr(jcs_err_msg(rc), "out of memory") != NULL, "(%s)", jcs_err_msg(rc));
        }
        ok = rc == JCS_OK;
        T_EQ_INT(count_tmp(root), 0);
    }
    T_ASSERT(ok && failures > 0);
    T_ASSERT(memcmp(got, data, sizeof(data)) == 0);
    /* Opening is covered too. */
    jcs_storage *s2 = NULL;
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL, .local_root = root};
    jcs_alloc_fail_after(0);
    int rc = jcs_storage_open(&cfg, &s2);
    jcs_alloc_fail_after(-1);
    T_EQ_INT(rc, JCS_ENOMEM);
    jcs_storage_close(s);
}

/* ---- shard store --------------------------------------------------------- */

static void mkhash(char out[JCS_FILEHASH_LEN + 1], const char *kind, unsigned seed)
{
    static const char hx[] = "0123456789ABCDEF";
    unsigned char b[32];
    t_storage_pattern(b, sizeof(b), seed);
    memcpy(out, kind, 4);
    for (int i = 0; i < 32; i++) {
        out[4 + 2 * i] = hx[b[i] >> 4];
        out[5 + 2 * i] = hx[b[i] & 15];
    }
    out[JCS_FILEHASH_LEN] = '\0';
}

static int put_shard(jcs_shardstore *ss, const char *hash, const void *p, size_t n, int *existed)
{
    jcs_shard_writer *w;
    int rc = jcs_shardstore_create(ss, &w);
    if (rc)
        return rc;
    rc = jcs_shard_write(w, p, n);
    if (rc) {
        jcs_shard_abort(w);
        return rc;
    }
    return jcs_shard_commit(w, hash, NULL, existed);
}

TEST(shard_layout_and_content_addressing)
{
    char root[512];
    jcs_storage *s;
    jcs_shardstore *ss;
    T_OK(open_local(root, sizeof(root), &s));
    T_OK(jcs_shardstore_open(s, &ss));
    char h[JCS_FILEHASH_LEN + 1];
    mkhash(h, "Full", 3);
    static unsigned char data[50000], got[50000];
    t_storage_pattern(data, sizeof(data), 3);
    int existed = -1;
    T_OK(put_shard(ss, h, data, sizeof(data), &existed));
    T_EQ_INT(existed, 0);
    /* blocks/<hash chars 4-5 as they are>/<hash> */
    char path[700];
    snprintf(path, sizeof(path), "%s/blocks/%.2s/%s", root, h + 4, h);
    struct stat st;
    T_ASSERT(stat(path, &st) == 0 && st.st_size == (off_t)sizeof(data), "(%s)", path);

    /* The same content again: accepted, stored once, temp discarded, and its
     * mtime refreshed (GC spares young shards, and an upload re-using an old
     * orphan must not lose it before its metadata commits). */
    struct timeval old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    T_ASSERT(utimes(path, old) == 0);
    T_OK(put_shard(ss, h, data, sizeof(data), &existed));
    T_EQ_INT(existed, 1);
    T_EQ_INT(count_tmp(root), 0);
    struct jcs_shard_info info;
    T_OK(jcs_shardstore_stat(ss, h, &info));
    T_ASSERT(info.mtime_ms > (int64_t)time(NULL) * 1000 - 600000, "(mtime %lld not refreshed)",
             (long long)info.mtime_ms);
    T_EQ_STR(info.hash, h);
    T_EQ_INT(info.size, sizeof(data));
    char key[JCS_SHARD_KEY_LEN + 1], want[JCS_SHARD_KEY_LEN + 1];
    T_OK(jcs_shardstore_key(h, key));
    snprintf(want, sizeof(want), "blocks/%.2s/%s", h + 4, h);
    T_EQ_STR(key, want);
    T_OK(jcs_storage_read_buf(s, key, 0, sizeof(data), got));
    T_ASSERT(memcmp(got, data, sizeof(data)) == 0);

    /* A stored copy of the wrong size is corrupt and gets replaced. */
    T_OK(put_shard(ss, h, data, 10, &existed));
    T_EQ_INT(existed, 0);
    T_OK(jcs_shardstore_stat(ss, h, &info));
    T_EQ_INT(info.size, 10);
    jcs_shardstore_close(ss);
    jcs_storage_close(s);
}

static int stop_after_first(void *arg, const void *data, size_t n)
{
    (void)data;
    (void)n;
    (*(int *)arg)++;
    return JCS_ECANCELED;
}

TEST(shard_read_ranges_and_sink_errors)
{
    char root[512];
    jcs_storage *s;
    jcs_shardstore *ss;
    T_OK(open_local(root, sizeof(root), &s));
    T_OK(jcs_shardstore_open(s, &ss));
    char h[JCS_FILEHASH_LEN + 1];
    mkhash(h, "Comp", 9);
    static unsigned char data[3 << 20], got[3 << 20];
    t_storage_pattern(data, sizeof(data), 9);
    T_OK(put_shard(ss, h, data, sizeof(data), NULL));
    struct t_storage_sink b = {got, 0, sizeof(got), 0};
    T_OK(jcs_shardstore_read(ss, h, 1000, JCS_STORAGE_TO_END, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, sizeof(data) - 1000);
    T_ASSERT(memcmp(got, data + 1000, b.n) == 0);
    /* A sink error stops the read and is what the caller gets. */
    int calls = 0;
    T_EQ_INT(jcs_shardstore_read(ss, h, 0, sizeof(data), stop_after_first, &calls), JCS_ECANCELED);
    T_EQ_INT(calls, 1);
    char other[JCS_FILEHASH_LEN + 1];
    mkhash(other, "Full", 10);
    int rc = jcs_shardstore_read(ss, other, 0, 1, t_storage_sink_fn, &b);
    T_EQ_INT(rc, JCS_ENOENT);
    T_ASSERT(strstr(jcs_err_msg(rc), other) != NULL, "(%s)", jcs_err_msg(rc));
    jcs_shardstore_close(ss);
    jcs_storage_close(s);
}

TEST(invalid_filehash_rejected)
{
    char root[512];
    jcs_storage *s;
    jcs_shardstore *ss;
    T_OK(open_local(root, sizeof(root), &s));
    T_OK(jcs_shardstore_open(s, &ss));
    char good[JCS_FILEHASH_LEN + 1], lower[JCS_FILEHASH_LEN + 1], shortish[40], longer[80],
        prefix[JCS_FILEHASH_LEN + 1], traversal[JCS_FILEHASH_LEN + 1];
    mkhash(good, "Full", 5);
    T_OK(jcs_filehash_check(good));
    memcpy(lower, good, sizeof(lower));
    lower[10] = 'a';
    snprintf(shortish, sizeof(shortish), "%.39s", good);
    snprintf(longer, sizeof(longer), "%s00", good);
    memcpy(prefix, good, sizeof(prefix));
    memcpy(prefix, "Sha2", 4);
    memcpy(traversal, good, sizeof(traversal));
    memcpy(traversal + 4, "../", 3);
    const char *bad[] = {lower, shortish, longer, prefix, traversal, ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jcs_shard_writer *w;
        T_OK(jcs_shardstore_create(ss, &w));
        T_OK(jcs_shard_write(w, "data", 4));
        int rc = jcs_shard_commit(w, bad[i], NULL, NULL);
        T_EQ_INT(rc, JCS_EINVAL);
        T_ASSERT(strstr(jcs_err_msg(rc), "FileHash") != NULL, "(%s)", jcs_err_msg(rc));
        struct jcs_shard_info info;
        T_EQ_INT(jcs_shardstore_stat(ss, bad[i], &info), JCS_EINVAL);
    }
    T_EQ_INT(count_tmp(root), 0);
    struct t_storage_keys c = {0};
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &c));
    T_EQ_INT(c.n, 0);
    const char *del[] = {good, lower};
    T_EQ_INT(jcs_shardstore_delete(ss, del, 2, NULL), JCS_EINVAL);
    jcs_shardstore_close(ss);
    jcs_storage_close(s);
}

struct shard_list {
    char hashes[8][JCS_FILEHASH_LEN + 1];
    uint64_t sizes[8];
    int n;
};

static int shard_collect(void *arg, const struct jcs_shard_info *info)
{
    struct shard_list *l = arg;
    if (l->n < 8) {
        memcpy(l->hashes[l->n], info->hash, sizeof(l->hashes[0]));
        l->sizes[l->n] = info->size;
        l->n++;
    }
    return JCS_OK;
}

TEST(shard_list_delete_batch_skips_foreign_objects)
{
    char root[512];
    jcs_storage *s;
    jcs_shardstore *ss;
    T_OK(open_local(root, sizeof(root), &s));
    T_OK(jcs_shardstore_open(s, &ss));
    char h[3][JCS_FILEHASH_LEN + 1];
    for (int i = 0; i < 3; i++) {
        mkhash(h[i], "Full", 20 + (unsigned)i);
        T_OK(put_shard(ss, h[i], "abc", (size_t)i + 1, NULL));
    }
    /* Things under blocks/ that are not shards: a stray file, a hash in the wrong directory. */
    T_OK(t_storage_put(s, "blocks/AB/notahash", "x", 1, 7777));
    char wrongdir[200];
    snprintf(wrongdir, sizeof(wrongdir), "blocks/%s/%s", h[0][4] == '0' ? "11" : "00", h[0]);
    T_OK(t_storage_put(s, wrongdir, "x", 1, 7777));
    struct shard_list l = {0};
    T_OK(jcs_shardstore_list(ss, shard_collect, &l));
    T_EQ_INT(l.n, 3);
    for (int i = 0; i < 3; i++) {
        int found = 0;
        for (int j = 0; j < l.n; j++)
            found |= strcmp(l.hashes[j], h[i]) == 0 && l.sizes[j] == (uint64_t)i + 1;
        T_ASSERT(found, "(shard %d)", i);
    }
    char missing[JCS_FILEHASH_LEN + 1];
    mkhash(missing, "Comp", 99);
    const char *del[] = {h[0], h[2], missing};
    size_t done = 0;
    T_OK(jcs_shardstore_delete(ss, del, 3, &done));
    T_EQ_INT(done, 3);
    struct shard_list after = {0};
    T_OK(jcs_shardstore_list(ss, shard_collect, &after));
    T_EQ_INT(after.n, 1);
    T_EQ_STR(after.hashes[0], h[1]);
    jcs_shardstore_close(ss);
    jcs_storage_close(s);
}

struct racer {
    jcs_shardstore *ss;
    const char *hash;
    const unsigned char *data;
    size_t n;
    int rc;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    r->rc = put_shard(r->ss, r->hash, r->data, r->n, NULL);
    return NULL;
}

TEST(concurrent_writers_of_one_shard)
{
    char root[512];
    jcs_storage *s;
    jcs_shardstore *ss;
    T_OK(open_local(root, sizeof(root), &s));
    T_OK(jcs_shardstore_open(s, &ss));
    char h[JCS_FILEHASH_LEN + 1];
    mkhash(h, "Full", 42);
    static unsigned char data[1 << 20], got[1 << 20];
    t_storage_pattern(data, sizeof(data), 42);
    pthread_t th[4];
    struct racer r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){ss, h, data, sizeof(data), -1};
        T_ASSERT(pthread_create(&th[i], NULL, race, &r[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        T_OK(r[i].rc);
    }
    struct shard_list l = {0};
    T_OK(jcs_shardstore_list(ss, shard_collect, &l));
    T_EQ_INT(l.n, 1);
    struct t_storage_sink b = {got, 0, sizeof(got), 0};
    T_OK(jcs_shardstore_read(ss, h, 0, JCS_STORAGE_TO_END, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, sizeof(data));
    T_ASSERT(memcmp(got, data, sizeof(data)) == 0);
    T_EQ_INT(count_tmp(root), 0);
    jcs_shardstore_close(ss);
    jcs_storage_close(s);
}

/* The paired commit (a shard and its sidecar): both visible with their bytes, in their
 * directories, no temp file left; a bad second key commits the first and discards the
 * second; a failed writer discards both. */
TEST(commit_pair_makes_both_durable_and_visible)
{
    char root[512];
    jcs_storage *s;
    T_OK(open_local(root, sizeof(root), &s));
    jcs_storage_writer *a, *b;
    T_OK(jcs_storage_write_begin(s, &a));
    T_OK(jcs_storage_write(a, "side", 4));
    T_OK(jcs_storage_write_begin(s, &b));
    T_OK(jcs_storage_write(b, "shard bytes", 11));
    T_OK(jcs_storage_write_commit_pair(a, "blocks/ab/x.crc", b, "blocks/ab/x"));
    char got[16] = {0};
    T_OK(jcs_storage_read_buf(s, "blocks/ab/x.crc", 0, 4, got));
    T_EQ_STR(got, "side");
    memset(got, 0, sizeof got);
    T_OK(jcs_storage_read_buf(s, "blocks/ab/x", 0, 11, got));
    T_EQ_STR(got, "shard bytes");
    T_EQ_INT(count_tmp(root), 0);

    /* Different directories, one of them new. */
    T_OK(jcs_storage_write_begin(s, &a));
    T_OK(jcs_storage_write(a, "1", 1));
    T_OK(jcs_storage_write_begin(s, &b));
    T_OK(jcs_storage_write(b, "2", 1));
    T_OK(jcs_storage_write_commit_pair(a, "p/one", b, "q/r/two"));
    struct jcs_storage_stat st;
    T_OK(jcs_storage_stat(s, "p/one", &st));
    T_EQ_INT(st.size, 1);
    T_OK(jcs_storage_stat(s, "q/r/two", &st));
    T_EQ_INT(st.size, 1);

    /* A reserved second key: the first is committed, the second discarded. */
    T_OK(jcs_storage_write_begin(s, &a));
    T_OK(jcs_storage_write(a, "first", 5));
    T_OK(jcs_storage_write_begin(s, &b));
    T_OK(jcs_storage_write(b, "second", 6));
    T_EQ_INT(jcs_storage_write_commit_pair(a, "k/first", b, "tmp/second"), JCS_EINVAL);
    T_OK(jcs_storage_stat(s, "k/first", &st));
    T_EQ_INT(count_tmp(root), 0);

    /* A reserved first key: nothing is committed. */
    T_OK(jcs_storage_write_begin(s, &a));
    T_OK(jcs_storage_write(a, "first", 5));
    T_OK(jcs_storage_write_begin(s, &b));
    T_OK(jcs_storage_write(b, "second", 6));
    T_EQ_INT(jcs_storage_write_commit_pair(a, "tmp/first", b, "k/second"), JCS_EINVAL);
    T_EQ_INT(jcs_storage_stat(s, "k/second", &st), JCS_ENOENT);
    T_EQ_INT(count_tmp(root), 0);
    jcs_storage_close(s);
}

/* Attributes: set on a writer they appear with the object at commit, never before. */
TEST(attributes_commit_with_the_object)
{
    char root[512];
    jcs_storage *s;
    T_OK(open_local(root, sizeof(root), &s));
    jcs_storage_writer *w;
    int kept = -1;
    T_OK(jcs_storage_write_begin(s, &w));
    T_OK(jcs_storage_write(w, "bytes", 5));
    T_OK(jcs_storage_writer_set_attr(w, "jcs.crc", "checksums", 9, &kept));
    T_EQ_INT(kept, 1);
    char got[64] = {0};
    size_t n = 99;
    T_EQ_INT(jcs_storage_get_attr(s, "a/b", "jcs.crc", got, sizeof got, &n), JCS_ENOENT);
    T_OK(jcs_storage_write_commit(w, "a/b"));
    T_OK(jcs_storage_get_attr(s, "a/b", "jcs.crc", got, sizeof got, &n));
    T_EQ_INT(n, 9);
    T_ASSERT(memcmp(got, "checksums", 9) == 0);
    /* Too small a buffer, an attribute it does not have, a bad name. */
    T_EQ_INT(jcs_storage_get_attr(s, "a/b", "jcs.crc", got, 4, &n), JCS_ETOOBIG);
    T_OK(jcs_storage_get_attr(s, "a/b", "other", got, sizeof got, &n));
    T_EQ_INT(n, 0);
    T_EQ_INT(jcs_storage_get_attr(s, "a/b", "Bad/Name", got, sizeof got, &n), JCS_EINVAL);
    /* Replaced on a stored object, durably; a missing object is ENOENT. */
    T_OK(jcs_storage_set_attr(s, "a/b", "jcs.crc", "new", 3, &kept));
    T_EQ_INT(kept, 1);
    T_OK(jcs_storage_get_attr(s, "a/b", "jcs.crc", got, sizeof got, &n));
    T_ASSERT(n == 3 && memcmp(got, "new", 3) == 0);
    T_EQ_INT(jcs_storage_set_attr(s, "a/none", "jcs.crc", "x", 1, &kept), JCS_ENOENT);
    /* A value the file system cannot hold is not an error: kept = 0, the caller keeps it
     * elsewhere (ext4 holds at most one block of attributes). */
    static char big[JCS_STORAGE_ATTR_MAX];
    memset(big, 'x', sizeof big);
    T_OK(jcs_storage_write_begin(s, &w));
    T_OK(jcs_storage_write(w, "bytes", 5));
    T_OK(jcs_storage_writer_set_attr(w, "jcs.big", big, sizeof big, &kept));
    T_OK(jcs_storage_write_commit(w, "a/c"));
    T_OK(jcs_storage_get_attr(s, "a/c", "jcs.big", big, sizeof big, &n));
    T_EQ_INT(n, kept ? sizeof big : 0);
    T_EQ_INT(count_tmp(root), 0);
    jcs_storage_close(s);
}
