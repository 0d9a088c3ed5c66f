#include "shardstore.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

struct jcs_shardstore {
    jcs_storage *backend;
};

struct jcs_shard_writer {
    jcs_shardstore *ss;
    jcs_storage_writer *w;
};

int jcs_filehash_check(const char *hash)
{
    if (!hash)
        return jcs_err_set(JCS_EINVAL, "FileHash missing");
    size_t n = strnlen(hash, JCS_FILEHASH_LEN + 1);
    if (n != JCS_FILEHASH_LEN)
        return jcs_err_set(JCS_EINVAL, "FileHash \"%.80s\": %zu%s characters, want %d", hash, n,
                           n > JCS_FILEHASH_LEN ? " or more" : "", JCS_FILEHASH_LEN);
    if (strncmp(hash, "Full", 4) != 0 && strncmp(hash, "Comp", 4) != 0)
        return jcs_err_set(JCS_EINVAL, "FileHash \"%s\": must start with Full or Comp", hash);
    for (size_t i = 4; i < n; i++) {
        char c = hash[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
            return jcs_err_set(JCS_EINVAL,
                               "FileHash \"%s\": character %zu is not an upper-case hex digit",
                               hash, i);
    }
    return JCS_OK;
}

int jcs_shardstore_key(const char *hash, char out[JCS_SHARD_KEY_LEN + 1])
{
    int rc = jcs_filehash_check(hash);
    if (rc)
        return rc;
    snprintf(out, JCS_SHARD_KEY_LEN + 1, "blocks/%.2s/%s", hash + 4, hash);
    return JCS_OK;
}

int jcs_shardstore_open(jcs_storage *backend, jcs_shardstore **out)
{
    jcs_shardstore *ss = jcs_calloc(1, sizeof(*ss));
    if (!ss)
        return jcs_err_set(JCS_ENOMEM, "%s: shard store: out of memory", jcs_storage_name(backend));
    ss->backend = backend;
    *out = ss;
    return JCS_OK;
}

void jcs_shardstore_close(jcs_shardstore *ss)
{
    jcs_free(ss);
}

jcs_storage *jcs_shardstore_backend(jcs_shardstore *ss)
{
    return ss->backend;
}

int jcs_shardstore_create(jcs_shardstore *ss, jcs_shard_writer **out)
{
    jcs_shard_writer *w = jcs_calloc(1, sizeof(*w));
    if (!w)
        return jcs_err_set(JCS_ENOMEM, "%s: new shard: out of memory",
                           jcs_storage_name(ss->backend));
    int rc = jcs_storage_write_begin(ss->backend, &w->w);
    if (rc) {
        jcs_free(w);
        return rc;
    }
    w->ss = ss;
    *out = w;
    return JCS_OK;
}

int jcs_shard_write(jcs_shard_writer *w, const void *data, size_t n)
{
    return jcs_storage_write(w->w, data, n);
}

uint64_t jcs_shard_writer_size(const jcs_shard_writer *w)
{
    return jcs_storage_writer_size(w->w);
}

void jcs_shard_abort(jcs_shard_writer *w)
{
    if (!w)
        return;
    jcs_storage_write_abort(w->w);
    jcs_free(w);
}

static void fill_info(struct jcs_shard_info *info, const char *hash,
                      const struct jcs_storage_stat *st)
{
    if (!info)
        return;
    memcpy(info->hash, hash, JCS_FILEHASH_LEN + 1);
    info->size = st->size;
    info->mtime_ms = st->mtime_ms;
}

int jcs_shard_commit(jcs_shard_writer *w, const char *hash, struct jcs_shard_info *info,
                     int *existed)
{
    jcs_storage *b = w->ss->backend;
    char key[JCS_SHARD_KEY_LEN + 1];
    uint64_t size = jcs_storage_writer_size(w->w);
    struct jcs_storage_stat st;
    if (existed)
        *existed = 0;
    int rc = jcs_shardstore_key(hash, key);
    if (rc) {
        rc = jcs_err_wrap(rc, "%s: commit shard: ", jcs_storage_name(b));
        jcs_shard_abort(w);
        return rc;
    }
    rc = jcs_storage_stat(b, key, &st);
    if (rc == JCS_OK && st.size == size) {
        /*
         * Same name, same content. The new copy still replaces the stored one
         * (atomically, same bytes): that refreshes the shard's mtime, and GC
         * spares young shards, so an orphan that an upload in progress is
         * re-using cannot be collected between this write and the metadata
         * commit that references it.
         */
        if (existed)
            *existed = 1;
    } else if (rc == JCS_OK)
        jcs_warn("%s: shard %s is stored with %llu bytes but %llu were written; replacing it",
                 jcs_storage_name(b), hash, (unsigned long long)st.size, (unsigned long long)size);
    else if (rc != JCS_ENOENT) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        jcs_shard_abort(w);
        return jcs_err_set(rc, "%s", msg);
    }
    rc = jcs_storage_write_commit(w->w, key);
    jcs_free(w);
    if (rc)
        return rc;
    if (info) {
        /* The mtime the backend recorded; fall back to the size we know if stat fails. */
        if (jcs_storage_stat(b, key, &st) != JCS_OK) {
            st.size = size;
            st.mtime_ms = 0;
        }
        fill_info(info, hash, &st);
    }
    return JCS_OK;
}

int jcs_shardstore_read(jcs_shardstore *ss, const char *hash, uint64_t off, uint64_t len,
                        jcs_storage_sink sink, void *arg)
{
    char key[JCS_SHARD_KEY_LEN + 1];
    int rc = jcs_shardstore_key(hash, key);
    if (rc)
        return jcs_err_wrap(rc, "%s: read shard: ", jcs_storage_name(ss->backend));
    return jcs_storage_read(ss->backend, key, off, len, sink, arg);
}

int jcs_shardstore_stat(jcs_shardstore *ss, const char *hash, struct jcs_shard_info *info)
{
    char key[JCS_SHARD_KEY_LEN + 1];
    struct jcs_storage_stat st;
    int rc = jcs_shardstore_key(hash, key);
    if (rc)
        return jcs_err_wrap(rc, "%s: stat shard: ", jcs_storage_name(ss->backend));
    rc = jcs_storage_stat(ss->backend, key, &st);
    if (!rc)
        fill_info(info, hash, &st);
    return rc;
}

struct list_ctx {
    jcs_shardstore *ss;
    jcs_shard_list_fn fn;
    void *arg;
};

static int list_one(void *arg, const char *key, const struct jcs_storage_stat *st)
{
    struct list_ctx *c = arg;
    /* Only "blocks/XY/<hash>" with XY = hash[4..6) is a shard; anything else is foreign. */
    if (strlen(key) != JCS_SHARD_KEY_LEN || strncmp(key, "blocks/", 7) != 0 || key[9] != '/' ||
        jcs_filehash_check(key + 10) != JCS_OK || strncmp(key + 7, key + 14, 2) != 0) {
        jcs_debug("%s: %s is not a shard; skipped", jcs_storage_name(c->ss->backend), key);
        return JCS_OK;
    }
    struct jcs_shard_info info;
    fill_info(&info, key + 10, st);
    return c->fn(c->arg, &info);
}

int jcs_shardstore_list(jcs_shardstore *ss, jcs_shard_list_fn fn, void *arg)
{
    struct list_ctx c = {ss, fn, arg};
    return jcs_storage_list(ss->backend, "blocks/", list_one, &c);
}

int jcs_shardstore_delete(jcs_shardstore *ss, const char *const *hashes, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (n == 0)
        return JCS_OK;
    char(*keys)[JCS_SHARD_KEY_LEN + 1] = jcs_calloc(n, sizeof(*keys));
    const char **ptrs = jcs_calloc(n, sizeof(*ptrs));
    int rc = JCS_OK;
    if (!keys || !ptrs) {
        rc = jcs_err_set(JCS_ENOMEM, "%s: delete %zu shards: out of memory",
                         jcs_storage_name(ss->backend), n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = jcs_shardstore_key(hashes[i], keys[i]);
        if (rc) {
            rc = jcs_err_wrap(rc, "%s: delete shards: ", jcs_storage_name(ss->backend));
            goto out;
        }
        ptrs[i] = keys[i];
    }
    rc = jcs_storage_delete_many(ss->backend, ptrs, n, done);
out:
    jcs_free(keys);
    jcs_free(ptrs);
    return rc;
}

int jcs_shardstore_reclaim(jcs_shardstore *ss, int64_t min_age_ms, unsigned *removed)
{
    return jcs_storage_reclaim(ss->backend, min_age_ms, removed);
}
