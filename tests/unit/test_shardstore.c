/*
 * test_shardstore.c - per-chunk checksums of shards: the sidecar format, verified whole and
 * ranged reads, every kind of damage detected (flipped bit, overwritten range, truncation,
 * damaged or missing checksums), and the scrub (jcs_shardstore_verify) healing them. Both
 * places checksums live are covered: the extended attribute user.jcs.crc of the shard file
 * (every shard up to 15.5 MiB: one file per shard) and the sidecar file <hash>.crc (larger
 * shards, and every shard written before the attribute existed, which must still read,
 * verify and heal).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc.h"
#include "hash.h"
#include "shardstore.h"
#include "sidecar.h"
#include "storage.h"
#include "t.h"
#include "t_tmpdir.h"

static int seq;

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

struct fixture {
    char root[512];
    jcs_storage *s;
    jcs_shardstore *ss;
};

static void open_store(struct fixture *f)
{
    char rel[64];
    snprintf(rel, sizeof rel, "ss%d", ++seq);
    t_path(f->root, sizeof f->root, rel);
    struct jcs_storage_config cfg = {.type = JCS_STORAGE_LOCAL, .local_root = f->root};
    T_OK(jcs_storage_open(&cfg, &f->s));
    T_OK(jcs_shardstore_open(f->s, &f->ss));
}

static void close_store(struct fixture *f)
{
    jcs_shardstore_close(f->ss);
    jcs_storage_close(f->s);
}

/* Writes data as a shard in pieces of step bytes; its FileHash goes to hash. */
static void put_shard(struct fixture *f, const unsigned char *data, size_t n, size_t step,
                      char hash[JCS_HASH_SIZE])
{
    jcs_shard_writer *w;
    T_OK(jcs_hash_buf(data, n, hash));
    T_OK(jcs_shardstore_create(f->ss, &w));
    for (size_t off = 0; off < n; off += step)
        T_OK(jcs_shard_write(w, data + off, n - off < step ? n - off : step));
    T_OK(jcs_shard_commit(w, hash, NULL, NULL));
}

static void file_of(struct fixture *f, const char *hash, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/blocks/%.2s/%s%s", f->root, hash + 4, hash, suffix);
}

struct sink_buf {
    unsigned char *p;
    size_t n, cap;
};

static int to_buf(void *arg, const void *data, size_t n)
{
    struct sink_buf *b = arg;
    if (n > b->cap - b->n)
        return JCS_EINTERNAL;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    return 0;
}

static int read_range(struct fixture *f, const char *hash, uint64_t off, uint64_t len,
                      unsigned char *out, size_t cap, size_t *got)
{
    struct sink_buf b = {out, 0, cap};
    int rc = jcs_shardstore_read(f->ss, hash, off, len, to_buf, &b);
    *got = b.n;
    return rc;
}

#define XATTR "user.jcs.crc"

/* The shard's checksums from its attribute (*n = 0: none). */
static void get_xattr(struct fixture *f, const char *hash, unsigned char *buf, size_t cap,
                      size_t *n)
{
    char p[700];
    file_of(f, hash, "", p, sizeof p);
    ssize_t k = getxattr(p, XATTR, buf, cap);
    *n = k > 0 ? (size_t)k : 0;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Files in the shard's directory blocks/XY/ (the shard, its sidecar if any). */
static int files_in_dir_of(struct fixture *f, const char *hash)
{
    char p[700];
    snprintf(p, sizeof p, "%s/blocks/%.2s", f->root, hash + 4);
    DIR *d = opendir(p);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Turns a shard of the attribute layout into one of the sidecar layout (as written before). */
static void to_sidecar_layout(struct fixture *f, const char *hash)
{
    unsigned char sc[JCS_SIDECAR_ATTR_MAX];
    size_t n;
    get_xattr(f, hash, sc, sizeof sc, &n);
    T_ASSERT(n > 0, "(no attribute to move)");
    char shard[700], side[700];
    file_of(f, hash, "", shard, sizeof shard);
    file_of(f, hash, ".crc", side, sizeof side);
    int fd = open(side, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    T_ASSERT(fd >= 0 && write(fd, sc, n) == (ssize_t)n);
    close(fd);
    T_ASSERT(removexattr(shard, XATTR) == 0);
}

static void patch_file(const char *path, off_t off, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY);
    T_ASSERT(fd >= 0, "(%s)", path);
    T_ASSERT(pwrite(fd, p, n, off) == (ssize_t)n);
    close(fd);
}

#define SIZE (300000u) /* 4 full chunks of 64 KiB and a short one */

TEST(sidecar_format_round_trip)
{
    static unsigned char data[SIZE];
    pattern(data, sizeof data, 1);
    jcs_sidecar_acc a = {0};
    jcs_sidecar_update(&a, data, 1000);
    jcs_sidecar_update(&a, data + 1000, sizeof data - 1000);
    uint8_t *enc;
    size_t len;
    T_OK(jcs_sidecar_encode(&a, &enc, &len));
    T_EQ_INT(len, jcs_sidecar_encoded_size(SIZE));
    T_EQ_INT(len, 24 + 5 * 4 + 4);
    jcs_sidecar sc;
    T_OK(jcs_sidecar_parse(enc, len, &sc));
    T_EQ_INT(sc.size, SIZE);
    T_EQ_INT(sc.n, 5);
    T_EQ_INT(jcs_sidecar_get(&sc, 4), jcs_sidecar_crc(data + 4 * 65536, SIZE - 4 * 65536));
    enc[30] ^= 1;
    T_EQ_INT(jcs_sidecar_parse(enc, len, &sc), JCS_ECORRUPT);
    T_EQ_INT(jcs_sidecar_parse(enc, 10, &sc), JCS_ECORRUPT);
    jcs_free(enc);
    jcs_sidecar_clear(&a);
    /* An empty shard has no chunk. */
    jcs_sidecar_acc e = {0};
    T_OK(jcs_sidecar_encode(&e, &enc, &len));
    T_OK(jcs_sidecar_parse(enc, len, &sc));
    T_EQ_INT(sc.n, 0);
    jcs_free(enc);
    jcs_sidecar_clear(&e);
}

TEST(ranged_reads_verified_byte_exact)
{
    struct fixture f;
    open_store(&f);
    static unsigned char data[SIZE], got[SIZE];
    pattern(data, sizeof data, 2);
    char h[JCS_HASH_SIZE];
    put_shard(&f, data, sizeof data, 7777, h);
    /* One file: the checksums are the shard file's attribute, no sidecar beside it. */
    unsigned char sc[JCS_SIDECAR_ATTR_MAX];
    size_t scn;
    get_xattr(&f, h, sc, sizeof sc, &scn);
    T_EQ_INT(scn, jcs_sidecar_encoded_size(SIZE));
    T_EQ_INT(files_in_dir_of(&f, h), 1);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/tmp", f.root);
    DIR *td = opendir(tmp);
    int leftovers = 0;
    for (struct dirent *e; td && (e = readdir(td)) != NULL;)
        leftovers += e->d_name[0] != '.';
    closedir(td);
    T_EQ_INT(leftovers, 0);
    const uint64_t cases[][2] = {{0, SIZE},        {0, 1},           {65535, 2},
                                 {65536, 65536},   {1, SIZE - 1},    {SIZE - 1, 1},
                                 {200000, 100000}, {131071, 131074}, {SIZE, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        T_OK(read_range(&f, h, cases[i][0], cases[i][1], got, sizeof got, &n));
        T_EQ_INT(n, cases[i][1]);
        T_ASSERT(memcmp(got, data + cases[i][0], n) == 0, "(range %d)", (int)i);
    }
    size_t n;
    T_EQ_INT(read_range(&f, h, 1, SIZE, got, sizeof got, &n), JCS_EINVAL);
    struct jcs_shardstore_counters c;
    jcs_shardstore_counters(f.ss, &c);
    T_EQ_INT(c.corrupt_found, 0);
    T_ASSERT(c.reads_verified >= 9);
    close_store(&f);
}

/* Damage applied to a fresh shard; every read touching it must fail, none may serve it. */
enum damage { FLIP, OVERWRITE, TRUNCATE, SIDECAR_FLIP, SIDECAR_TRUNCATE };

/* Damages the shard's checksums where they are: its attribute, or its sidecar file. */
static void damage_checksums(struct fixture *f, const char *hash, int sidecar_layout, int truncate_)
{
    char shard[700], side[700];
    file_of(f, hash, "", shard, sizeof shard);
    file_of(f, hash, ".crc", side, sizeof side);
    if (sidecar_layout) {
        unsigned char c = 0x55;
        if (truncate_)
            T_ASSERT(truncate(side, 20) == 0);
        else
            patch_file(side, 30, &c, 1);
        return;
    }
    unsigned char sc[JCS_SIDECAR_ATTR_MAX];
    size_t n;
    get_xattr(f, hash, sc, sizeof sc, &n);
    T_ASSERT(n > 30);
    sc[30] ^= 0x55;
    T_ASSERT(setxattr(shard, XATTR, sc, truncate_ ? 20 : n, 0) == 0);
}

static void damaged(enum damage d, int sidecar_layout)
{
    struct fixture f;
    open_store(&f);
    static unsigned char data[SIZE], got[SIZE];
    pattern(data, sizeof data, 10 + d + 10 * sidecar_layout);
    char h[JCS_HASH_SIZE], shard[700], side[700];
    put_shard(&f, data, sizeof data, 65536, h);
    file_of(&f, h, "", shard, sizeof shard);
    file_of(&f, h, ".crc", side, sizeof side);
    if (sidecar_layout)
        to_sidecar_layout(&f, h);
    const off_t at = 140000; /* in chunk 2 */
    unsigned char b = data[at] ^ 0x10, junk[100];
    memset(junk, 'x', sizeof junk);
    switch (d) {
    case FLIP:
        patch_file(shard, at, &b, 1);
        break;
    case OVERWRITE:
        patch_file(shard, at, junk, sizeof junk);
        break;
    case TRUNCATE:
        T_ASSERT(truncate(shard, at) == 0);
        break;
    case SIDECAR_FLIP:
        damage_checksums(&f, h, sidecar_layout, 0);
        break;
    case SIDECAR_TRUNCATE:
        damage_checksums(&f, h, sidecar_layout, 1);
        break;
    }
    size_t n;
    /* Whole and ranged reads through the damage fail with ECORRUPT naming the shard. */
    T_EQ_INT(read_range(&f, h, 0, JCS_STORAGE_TO_END, got, sizeof got, &n), JCS_ECORRUPT);
    T_ASSERT(strstr(jcs_err_msg(JCS_ECORRUPT), h) != NULL, "(%s)", jcs_err_msg(JCS_ECORRUPT));
    T_ASSERT(memcmp(got, data, n) == 0, "(what was handed on before the error is good)");
    T_ASSERT(n <= (size_t)at);
    T_EQ_INT(read_range(&f, h, at, 1, got, sizeof got, &n), JCS_ECORRUPT);
    T_EQ_INT(n, 0);
    /* A range in an intact chunk before the damage is served when the sidecar is good. */
    int rc = read_range(&f, h, 10, 1000, got, sizeof got, &n);
    if (d == SIDECAR_FLIP || d == SIDECAR_TRUNCATE) {
        T_EQ_INT(rc, JCS_ECORRUPT);
    } else {
        T_OK(rc);
        T_ASSERT(memcmp(got, data + 10, 1000) == 0);
    }
    /* The store remembers the shard as corrupt. */
    struct jcs_shard_info info;
    T_EQ_INT(jcs_shardstore_stat(f.ss, h, &info), JCS_ECORRUPT);
    struct jcs_shard_verify vr;
    if (d == SIDECAR_FLIP || d == SIDECAR_TRUNCATE) {
        /* The content is good: the scrub writes the checksums again, into the attribute
         * (a damaged sidecar is replaced by it), and the shard is back. */
        T_OK(jcs_shardstore_verify(f.ss, h, &vr));
        T_EQ_INT(vr.sidecar_written, 1);
        T_OK(jcs_shardstore_stat(f.ss, h, &info));
        unsigned char sc[JCS_SIDECAR_ATTR_MAX];
        size_t scn;
        get_xattr(&f, h, sc, sizeof sc, &scn);
        T_EQ_INT(scn, jcs_sidecar_encoded_size(SIZE));
        T_ASSERT(!exists(side), "(the damaged sidecar is gone)");
    } else {
        T_EQ_INT(jcs_shardstore_verify(f.ss, h, &vr), JCS_ECORRUPT);
        /* Rewriting the shard (what a rebuild does) clears it. */
        put_shard(&f, data, sizeof data, 100000, h);
        T_OK(jcs_shardstore_stat(f.ss, h, &info));
    }
    T_OK(read_range(&f, h, 0, JCS_STORAGE_TO_END, got, sizeof got, &n));
    T_EQ_INT(n, SIZE);
    T_ASSERT(memcmp(got, data, SIZE) == 0);
    struct jcs_shardstore_counters c;
    jcs_shardstore_counters(f.ss, &c);
    T_ASSERT(c.corrupt_found >= 2);
    close_store(&f);
}

TEST(flipped_bit_detected)
{
    damaged(FLIP, 0);
}
TEST(overwritten_range_detected)
{
    damaged(OVERWRITE, 0);
}
TEST(truncated_shard_detected)
{
    damaged(TRUNCATE, 0);
}
TEST(damaged_checksum_attribute_detected_and_rewritten_by_scrub)
{
    damaged(SIDECAR_FLIP, 0);
}
TEST(truncated_checksum_attribute_detected_and_rewritten_by_scrub)
{
    damaged(SIDECAR_TRUNCATE, 0);
}
TEST(sidecar_layout_flipped_bit_detected)
{
    damaged(FLIP, 1);
}
TEST(sidecar_layout_truncated_shard_detected)
{
    damaged(TRUNCATE, 1);
}
TEST(damaged_sidecar_detected_and_rewritten_by_scrub)
{
    damaged(SIDECAR_FLIP, 1);
}
TEST(truncated_sidecar_detected_and_rewritten_by_scrub)
{
    damaged(SIDECAR_TRUNCATE, 1);
}

TEST(shard_without_sidecar_is_legacy)
{
    struct fixture f;
    open_store(&f);
    static unsigned char data[SIZE], got[SIZE];
    pattern(data, sizeof data, 20);
    char h[JCS_HASH_SIZE], shard[700], side[700];
    put_shard(&f, data, sizeof data, 65536, h);
    file_of(&f, h, "", shard, sizeof shard);
    file_of(&f, h, ".crc", side, sizeof side);
    T_ASSERT(removexattr(shard, XATTR) == 0);
    T_ASSERT(!exists(side));
    size_t n;
    /* Whole reads check the FileHash, ranged ones are served and counted unverified. */
    T_OK(read_range(&f, h, 0, JCS_STORAGE_TO_END, got, sizeof got, &n));
    T_EQ_INT(n, SIZE);
    T_OK(read_range(&f, h, 5, 10, got, sizeof got, &n));
    struct jcs_shardstore_counters c;
    jcs_shardstore_counters(f.ss, &c);
    T_EQ_INT(c.reads_unverified, 1);
    unsigned char b = data[9] ^ 1;
    patch_file(shard, 9, &b, 1);
    T_EQ_INT(read_range(&f, h, 0, JCS_STORAGE_TO_END, got, sizeof got, &n), JCS_ECORRUPT);
    b = data[9];
    patch_file(shard, 9, &b, 1);
    /* The scrub writes the missing checksums (into the attribute) after checking the content. */
    struct jcs_shard_verify vr;
    T_OK(jcs_shardstore_verify(f.ss, h, &vr));
    T_EQ_INT(vr.sidecar_written, 1);
    unsigned char sc[JCS_SIDECAR_ATTR_MAX];
    size_t scn;
    get_xattr(&f, h, sc, sizeof sc, &scn);
    T_EQ_INT(scn, jcs_sidecar_encoded_size(SIZE));
    T_ASSERT(!exists(side));
    T_OK(jcs_shardstore_verify(f.ss, h, &vr));
    T_EQ_INT(vr.sidecar_written, 0);
    /* Deleting the shard deletes its checksums. */
    const char *hs[1] = {h};
    T_OK(jcs_shardstore_delete(f.ss, hs, 1, NULL));
    T_ASSERT(!exists(side));
    T_ASSERT(!exists(shard));
    T_EQ_INT(read_range(&f, h, 0, JCS_STORAGE_TO_END, got, sizeof got, &n), JCS_ENOENT);
    close_store(&f);
}

/* Shards of the sidecar layout (written before the attribute) read verified, ranged too. */
TEST(sidecar_layout_reads_verified)
{
    struct fixture f;
    open_store(&f);
    static unsigned char data[SIZE], got[SIZE];
    pattern(data, sizeof data, 40);
    char h[JCS_HASH_SIZE], side[700];
    put_shard(&f, data, sizeof data, 4096, h);
    to_sidecar_layout(&f, h);
    file_of(&f, h, ".crc", side, sizeof side);
    size_t n;
    T_OK(read_range(&f, h, 0, JCS_STORAGE_TO_END, got, sizeof got, &n));
    T_EQ_INT(n, SIZE);
    T_ASSERT(memcmp(got, data, SIZE) == 0);
    T_OK(read_range(&f, h, 70000, 100, got, sizeof got, &n));
    T_ASSERT(n == 100 && memcmp(got, data + 70000, 100) == 0);
    struct jcs_shardstore_counters c;
    jcs_shardstore_counters(f.ss, &c);
    T_EQ_INT(c.reads_verified, 2);
    T_EQ_INT(c.reads_unverified, 0);
    /* A good sidecar is left as it is by the scrub. */
    struct jcs_shard_verify vr;
    T_OK(jcs_shardstore_verify(f.ss, h, &vr));
    T_EQ_INT(vr.sidecar_written, 0);
    T_ASSERT(exists(side));
    /* Writing the shard again (a rebuild) moves its checksums into the attribute. */
    put_shard(&f, data, sizeof data, 65536, h);
    unsigned char sc[JCS_SIDECAR_ATTR_MAX];
    size_t scn;
    get_xattr(&f, h, sc, sizeof sc, &scn);
    T_EQ_INT(scn, jcs_sidecar_encoded_size(SIZE));
    T_ASSERT(!exists(side), "(the old sidecar is gone)");
    T_EQ_INT(files_in_dir_of(&f, h), 1);
    close_store(&f);
}

/* A shard whose checksums outgrow the attribute (over 249 chunks) keeps them in a sidecar. */
TEST(large_shard_uses_sidecar)
{
    struct fixture f;
    open_store(&f);
    const size_t big = 16u << 20;
    unsigned char *data = jcs_malloc(big), *got = jcs_malloc(big);
    T_ASSERT(data && got);
    pattern(data, big, 50);
    char h[JCS_HASH_SIZE], shard[700], side[700];
    put_shard(&f, data, big, 1u << 20, h);
    file_of(&f, h, "", shard, sizeof shard);
    file_of(&f, h, ".crc", side, sizeof side);
    unsigned char sc[JCS_SIDECAR_ATTR_MAX];
    size_t scn;
    get_xattr(&f, h, sc, sizeof sc, &scn);
    T_EQ_INT(scn, 0);
    T_ASSERT(exists(side));
    size_t n;
    T_OK(read_range(&f, h, 5u << 20, 1000, got, big, &n));
    T_ASSERT(n == 1000 && memcmp(got, data + (5u << 20), 1000) == 0);
    unsigned char b = data[(10u << 20) + 3] ^ 4;
    patch_file(shard, (10u << 20) + 3, &b, 1);
    T_EQ_INT(read_range(&f, h, 10u << 20, 10, got, big, &n), JCS_ECORRUPT);
    jcs_free(data);
    jcs_free(got);
    close_store(&f);
}
