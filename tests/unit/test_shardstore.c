/*
 * test_shardstore.c - per-chunk checksums of shards: the sidecar format, verified whole and
 * ranged reads, every kind of damage detected (flipped bit, overwritten range, truncation,
 * damaged or missing sidecar), and the scrub (jcs_shardstore_verify) healing sidecars.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
    char p[700];
    struct stat st;
    file_of(&f, h, ".crc", p, sizeof p);
    T_ASSERT(stat(p, &st) == 0, "(the sidecar %s exists)", p);
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

static void damaged(enum damage d)
{
    struct fixture f;
    open_store(&f);
    static unsigned char data[SIZE], got[SIZE];
    pattern(data, sizeof data, 10 + d);
    char h[JCS_HASH_SIZE], shard[700], side[700];
    put_shard(&f, data, sizeof data, 65536, h);
    file_of(&f, h, "", shard, sizeof shard);
    file_of(&f, h, ".crc", side, sizeof side);
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
    case SIDECAR_FLIP: {
        unsigned char c = 0x55;
        patch_file(side, 30, &c, 1);
        break;
    }
    case SIDECAR_TRUNCATE:
        T_ASSERT(truncate(side, 20) == 0);
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
        /* The content is good: the scrub writes the sidecar again and the shard is back. */
        T_OK(jcs_shardstore_verify(f.ss, h, &vr));
        T_EQ_INT(vr.sidecar_written, 1);
        T_OK(jcs_shardstore_stat(f.ss, h, &info));
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
    damaged(FLIP);
}
TEST(overwritten_range_detected)
{
    damaged(OVERWRITE);
}
TEST(truncated_shard_detected)
{
    damaged(TRUNCATE);
}
TEST(damaged_sidecar_detected_and_rewritten_by_scrub)
{
    damaged(SIDECAR_FLIP);
}
TEST(truncated_sidecar_detected_and_rewritten_by_scrub)
{
    damaged(SIDECAR_TRUNCATE);
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
    T_ASSERT(unlink(side) == 0);
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
    /* The scrub writes the missing sidecar after checking the content. */
    struct jcs_shard_verify vr;
    T_OK(jcs_shardstore_verify(f.ss, h, &vr));
    T_EQ_INT(vr.sidecar_written, 1);
    struct stat st;
    T_ASSERT(stat(side, &st) == 0);
    T_OK(jcs_shardstore_verify(f.ss, h, &vr));
    T_EQ_INT(vr.sidecar_written, 0);
    /* Deleting the shard deletes its sidecar. */
    const char *hs[1] = {h};
    T_OK(jcs_shardstore_delete(f.ss, hs, 1, NULL));
    T_ASSERT(stat(side, &st) != 0);
    T_ASSERT(stat(shard, &st) != 0);
    T_EQ_INT(read_range(&f, h, 0, JCS_STORAGE_TO_END, got, sizeof got, &n), JCS_ENOENT);
    close_store(&f);
}
