/*
 * t_storage_conf.c - the storage-backend conformance suite (see the header).
 */
#include "t_storage_conf.h"

#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "t.h"
#include "util.h"

/* One suite per binary: the harness calls tests without arguments. */
static const struct t_storage_conf *conf;

/* ---- helpers for every storage test (t_storage_conf.h) -------------------------------------- */

void t_storage_pattern(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

int t_storage_put(jcs_storage *s, const char *key, const void *data, size_t n, size_t chunk)
{
    jcs_storage_writer *w;
    int rc = jcs_storage_write_begin(s, &w);
    if (rc)
        return rc;
    const char *p = data;
    while (n) {
        size_t k = n < chunk ? n : chunk;
        rc = jcs_storage_write(w, p, k);
        if (rc) {
            jcs_storage_write_abort(w);
            return rc;
        }
        p += k;
        n -= k;
    }
    return jcs_storage_write_commit(w, key);
}

int t_storage_sink_fn(void *arg, const void *data, size_t n)
{
    struct t_storage_sink *b = arg;
    b->calls++;
    if (b->n + n > b->cap)
        return JCS_ETOOBIG;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    return JCS_OK;
}

int t_storage_keys_fn(void *arg, const char *key, const struct jcs_storage_stat *st)
{
    struct t_storage_keys *c = arg;
    if (c->n < 32) {
        snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
        c->sizes[c->n] = st->size;
        c->n++;
    }
    return JCS_OK;
}

int t_storage_has_key(const struct t_storage_keys *c, const char *key, uint64_t size)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->keys[i], key) == 0)
            return c->sizes[i] == size;
    return 0;
}

/* ---- the suite ------------------------------------------------------------------------------ */

/* -1 when the backend's temp files cannot be counted: the check is then the
 * reclaim one (nothing left to remove), which every backend has. */
static int tmp_files(jcs_storage *s)
{
    return conf->count_tmp ? conf->count_tmp(conf->arg, s) : 0;
}

#define SMALL 300000
/* A key with characters that need escaping in a URL. */
#define KEY "objs/a b+c/d.bin"

static void write_read_ranges(void)
{
    jcs_storage *s;
    T_OK(conf->open(conf->arg, &s));
    static unsigned char data[SMALL], got[SMALL];
    t_storage_pattern(data, SMALL, 11);
    T_OK(t_storage_put(s, KEY, data, SMALL, 7777));
    T_EQ_INT(tmp_files(s), 0);
    T_OK(jcs_storage_read_buf(s, KEY, 0, SMALL, got));
    T_ASSERT(memcmp(got, data, SMALL) == 0);
    T_OK(jcs_storage_read_buf(s, KEY, 0, 1, got));
    T_EQ_INT(got[0], data[0]);
    T_OK(jcs_storage_read_buf(s, KEY, SMALL - 1, 1, got));
    T_EQ_INT(got[0], data[SMALL - 1]);
    T_OK(jcs_storage_read_buf(s, KEY, 12345, 154321, got));
    T_ASSERT(memcmp(got, data + 12345, 154321) == 0);
    struct t_storage_sink b = {got, 0, SMALL, 0};
    T_OK(jcs_storage_read(s, KEY, 200000, JCS_STORAGE_TO_END, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, SMALL - 200000);
    T_ASSERT(memcmp(got, data + 200000, b.n) == 0);
    /* An empty range at the very end is fine; anything beyond is an error. */
    b.n = 0;
    T_OK(jcs_storage_read(s, KEY, SMALL, JCS_STORAGE_TO_END, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, 0);
    T_OK(jcs_storage_read_buf(s, KEY, SMALL, 0, got));

    /* Past the end: an error naming the key, and not a byte reaches the sink. */
    b.n = 0;
    b.calls = 0;
    int rc = jcs_storage_read(s, KEY, SMALL - 5, 10, t_storage_sink_fn, &b);
    T_EQ_INT(rc, JCS_EINVAL);
    T_EQ_INT(b.calls, 0);
    T_ASSERT(strstr(jcs_err_msg(rc), "past the end") && strstr(jcs_err_msg(rc), KEY), "(%s)",
             jcs_err_msg(rc));
    rc = jcs_storage_read_buf(s, KEY, SMALL - 10, 11, got);
    T_EQ_INT(rc, JCS_EINVAL);
    rc = jcs_storage_read(s, KEY, SMALL + 1, 10, t_storage_sink_fn, &b);
    T_EQ_INT(rc, JCS_EINVAL);
    T_EQ_INT(b.calls, 0);
    rc = jcs_storage_read_buf(s, KEY, SMALL + 1, 0, got);
    T_EQ_INT(rc, JCS_EINVAL);
    jcs_storage_close(s);
}

static void missing_key_errors(void)
{
    jcs_storage *s;
    T_OK(conf->open(conf->arg, &s));
    unsigned char got[4];
    struct t_storage_sink b = {got, 0, sizeof(got), 0};
    int rc = jcs_storage_read_buf(s, "objs/missing", 0, 1, got);
    T_EQ_INT(rc, JCS_ENOENT);
    /* The message names the key and the store, so an operator knows where to look. */
    T_ASSERT(strstr(jcs_err_msg(rc), "objs/missing") &&
                 strstr(jcs_err_msg(rc), jcs_storage_name(s)),
             "(%s; store %s)", jcs_err_msg(rc), jcs_storage_name(s));
    rc = jcs_storage_read(s, "objs/missing", 0, JCS_STORAGE_TO_END, t_storage_sink_fn, &b);
    T_EQ_INT(rc, JCS_ENOENT);
    T_EQ_INT(b.calls, 0);
    struct jcs_storage_stat st;
    rc = jcs_storage_stat(s, "blocks/AB/nope", &st);
    T_EQ_INT(rc, JCS_ENOENT);
    T_ASSERT(strstr(jcs_err_msg(rc), "blocks/AB/nope") != NULL, "(%s)", jcs_err_msg(rc));
    /* Deleting what is not there is not an error: deletes are retried. */
    T_OK(jcs_storage_delete(s, "never/existed"));
    jcs_storage_close(s);
}

static void empty_object_and_overwrite(void)
{
    jcs_storage *s;
    T_OK(conf->open(conf->arg, &s));
    /* An empty object is an object. */
    T_OK(t_storage_put(s, "objs/empty", "", 0, 1));
    struct jcs_storage_stat st;
    T_OK(jcs_storage_stat(s, "objs/empty", &st));
    T_EQ_INT(st.size, 0);
    unsigned char got[8] = {0};
    struct t_storage_sink b = {got, 0, sizeof(got), 0};
    T_OK(jcs_storage_read(s, "objs/empty", 0, JCS_STORAGE_TO_END, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, 0);

    /* A commit over an existing key replaces it whole, shorter or longer. */
    T_OK(t_storage_put(s, "k", "old", 3, 3));
    T_OK(t_storage_put(s, "k", "newer", 5, 2));
    memset(got, 0, sizeof(got));
    T_OK(jcs_storage_read_buf(s, "k", 0, 5, got));
    T_EQ_STR((char *)got, "newer");
    T_OK(t_storage_put(s, "k", "ab", 2, 2));
    T_OK(jcs_storage_stat(s, "k", &st));
    T_EQ_INT(st.size, 2);
    b.n = 0;
    T_OK(jcs_storage_read(s, "k", 0, JCS_STORAGE_TO_END, t_storage_sink_fn, &b));
    T_EQ_INT(b.n, 2);
    T_ASSERT(memcmp(got, "ab", 2) == 0);
    jcs_storage_close(s);
}

static void stat_list_delete(void)
{
    jcs_storage *s;
    T_OK(conf->open(conf->arg, &s));
    /* Seven keys: with the S3 suite's page size of 3 the listing needs continuation tokens. */
    static const char *keys[] = {"blocks/AB/1", "blocks/AB/2",     "blocks/AB/3", "blocks/CD/4",
                                 "blocks/CD/5", "blocks/EF/6&<7>", "other/8"};
    for (int i = 0; i < 7; i++)
        T_OK(t_storage_put(s, keys[i], "0123456789", (size_t)i + 1, 4));
    /* A writer in progress must not show up in listings. */
    jcs_storage_writer *w;
    T_OK(jcs_storage_write_begin(s, &w));
    T_OK(jcs_storage_write(w, "zz", 2));

    struct jcs_storage_stat st;
    int64_t now = jcs_wall_ms();
    T_OK(jcs_storage_stat(s, "blocks/CD/5", &st));
    T_EQ_INT(st.size, 5);
    T_ASSERT(st.mtime_ms > now - 120000 && st.mtime_ms < now + 120000, "(%lld vs %lld)",
             (long long)st.mtime_ms, (long long)now);
    /* A "directory" is not an object. */
    T_EQ_INT(jcs_storage_stat(s, "blocks/AB", &st), JCS_ENOENT);

    struct t_storage_keys all = {0}, blocks = {0}, partial = {0}, none = {0};
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &all));
    T_EQ_INT(all.n, 7);
    for (int i = 0; i < 7; i++)
        T_ASSERT(t_storage_has_key(&all, keys[i], (uint64_t)i + 1), "(%s)", keys[i]);
    T_OK(jcs_storage_list(s, "blocks/", t_storage_keys_fn, &blocks));
    T_EQ_INT(blocks.n, 6);
    T_OK(jcs_storage_list(s, "blocks/C", t_storage_keys_fn, &partial));
    T_EQ_INT(partial.n, 2);
    T_ASSERT(t_storage_has_key(&partial, "blocks/CD/4", 4) &&
             t_storage_has_key(&partial, "blocks/CD/5", 5));
    T_OK(jcs_storage_list(s, "nothing/here/", t_storage_keys_fn, &none));
    T_EQ_INT(none.n, 0);

    T_OK(jcs_storage_delete(s, "blocks/AB/1"));
    T_EQ_INT(jcs_storage_stat(s, "blocks/AB/1", &st), JCS_ENOENT);
    T_OK(jcs_storage_delete(s, "blocks/AB/1")); /* again: still fine */
    const char *many[] = {"blocks/AB/2", "blocks/EF/6&<7>", "never/was"};
    size_t done = 0;
    T_OK(jcs_storage_delete_many(s, many, 3, &done));
    T_EQ_INT(done, 3);
    struct t_storage_keys left = {0};
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &left));
    T_EQ_INT(left.n, 4);
    T_ASSERT(t_storage_has_key(&left, "blocks/AB/3", 3) &&
             t_storage_has_key(&left, "blocks/CD/4", 4) &&
             t_storage_has_key(&left, "blocks/CD/5", 5) && t_storage_has_key(&left, "other/8", 7));
    jcs_storage_write_abort(w);
    T_EQ_INT(tmp_files(s), 0);
    jcs_storage_close(s);
}

/* Temp-file atomicity as both backends promise it: nothing is visible under
 * the key before commit, an abort leaves nothing visible and nothing for
 * reclaim, and a commit leaves no temporary behind. */
static void uncommitted_writes_are_invisible(void)
{
    jcs_storage *s;
    T_OK(conf->open(conf->arg, &s));
    jcs_storage_writer *w;
    T_OK(jcs_storage_write_begin(s, &w));
    T_OK(jcs_storage_write(w, "partial", 7));
    if (conf->count_tmp)
        T_EQ_INT(tmp_files(s), 1);
    struct t_storage_keys c = {0};
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &c));
    T_EQ_INT(c.n, 0);
    jcs_storage_write_abort(w);
    T_EQ_INT(tmp_files(s), 0);
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &c));
    T_EQ_INT(c.n, 0);

    /* An abort after a large amount was written (S3: parts already uploaded). */
    size_t n = conf->large;
    unsigned char *big = jcs_calloc(1, n);
    T_ASSERT(big);
    w = NULL;
    int rc = jcs_storage_write_begin(s, &w);
    if (!rc)
        rc = jcs_storage_write(w, big, n);
    if (w)
        jcs_storage_write_abort(w);
    jcs_free(big);
    T_OK(rc);
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &c));
    T_EQ_INT(c.n, 0);
    unsigned removed = 99;
    T_OK(jcs_storage_reclaim(s, 0, &removed));
    T_EQ_INT(removed, 0);

    /* Before commit the key does not exist; after it, it holds the whole stream. */
    T_OK(t_storage_put(s, "k", "old", 3, 3));
    T_OK(jcs_storage_write_begin(s, &w));
    T_OK(jcs_storage_write(w, "new bytes", 9));
    char got[10] = {0};
    T_OK(jcs_storage_read_buf(s, "k", 0, 3, got));
    T_EQ_STR(got, "old");
    struct jcs_storage_stat st;
    T_EQ_INT(jcs_storage_stat(s, "fresh", &st), JCS_ENOENT);
    T_OK(jcs_storage_write_commit(w, "k"));
    T_OK(jcs_storage_read_buf(s, "k", 0, 9, got));
    T_EQ_STR(got, "new bytes");
    T_EQ_INT(tmp_files(s), 0);
    jcs_storage_close(s);
}

/* An object on the backend's large path, written in pieces of odd sizes and
 * read back at unaligned offsets and across part/buffer boundaries. */
static void large_object_byte_exact(void)
{
    jcs_storage *s;
    T_OK(conf->open(conf->arg, &s));
    const size_t n = conf->large;
    unsigned char *data = jcs_malloc(n), *got = jcs_malloc(n);
    T_ASSERT(data && got);
    t_storage_pattern(data, n, 7);
    int rc = t_storage_put(s, "big/obj", data, n, 300001);
    const size_t ranges[][2] = {{0, n},
                                {1, n - 1},
                                {4095, (1u << 20) + 2},
                                {(2u << 20) - 3, 1u << 20},
                                {n - (1u << 20) - 5, (1u << 20) + 5},
                                {(5u << 20) - 100, 200}}; /* across S3's 5 MiB parts */
    size_t bad = SIZE_MAX;
    for (size_t i = 0; !rc && bad == SIZE_MAX && i < sizeof ranges / sizeof ranges[0]; i++) {
        if (ranges[i][0] + ranges[i][1] > n)
            continue; /* a boundary this object does not reach */
        memset(got, 0, n);
        rc = jcs_storage_read_buf(s, "big/obj", ranges[i][0], ranges[i][1], got);
        if (!rc && memcmp(got, data + ranges[i][0], ranges[i][1]) != 0)
            bad = i;
    }
    jcs_free(data);
    jcs_free(got);
    T_OK(rc);
    T_ASSERT(bad == SIZE_MAX, "(range %zu differs)", bad);
    struct jcs_storage_stat st;
    T_OK(jcs_storage_stat(s, "big/obj", &st));
    T_EQ_INT(st.size, n);
    /* The temporary was renamed/copied away: nothing left for reclaim or in listings. */
    T_EQ_INT(tmp_files(s), 0);
    unsigned removed = 99;
    T_OK(jcs_storage_reclaim(s, 0, &removed));
    T_EQ_INT(removed, 0);
    struct t_storage_keys c = {0};
    T_OK(jcs_storage_list(s, "", t_storage_keys_fn, &c));
    T_EQ_INT(c.n, 1);
    T_EQ_STR(c.keys[0], "big/obj");
    jcs_storage_close(s);
}

static const struct {
    const char *name;
    t_fn fn;
} checks[] = {
    {"conf_write_read_ranges", write_read_ranges},
    {"conf_missing_key_errors", missing_key_errors},
    {"conf_empty_object_and_overwrite", empty_object_and_overwrite},
    {"conf_stat_list_delete", stat_list_delete},
    {"conf_uncommitted_writes_are_invisible", uncommitted_writes_are_invisible},
    {"conf_large_object_byte_exact", large_object_byte_exact},
};

void t_storage_conf_register(const struct t_storage_conf *c)
{
    conf = c;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        t_register(checks[i].name, checks[i].fn);
}
