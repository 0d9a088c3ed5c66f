#include "storage.h"

#include <stdio.h>
#include <string.h>

#include "storage_backend.h"

int jcs_storage_open(const struct jcs_storage_config *cfg, jcs_storage **out)
{
    *out = NULL;
    if (!cfg)
        return jcs_err_set(JCS_ECONFIG, "storage: no configuration");
    switch (cfg->type) {
    case JCS_STORAGE_LOCAL:
        return jcs_storage_local_open(cfg, out);
    case JCS_STORAGE_S3:
        return jcs_storage_s3_open(cfg, out);
    }
    return jcs_err_set(JCS_ECONFIG, "storage: unknown type %d (want local or s3)", (int)cfg->type);
}

void jcs_storage_close(jcs_storage *s)
{
    if (s)
        s->ops->close(s);
}

const char *jcs_storage_name(const jcs_storage *s)
{
    return s->name;
}

int jcs_storage_check_key(const char *key)
{
    if (!key || !*key)
        return jcs_err_set(JCS_EINVAL, "key is empty");
    size_t n = strlen(key);
    if (n > JCS_STORAGE_KEY_MAX)
        return jcs_err_set(JCS_EINVAL, "key \"%.64s...\" is %zu bytes, at most %d", key, n,
                           JCS_STORAGE_KEY_MAX);
    const char *seg = key;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '/' || c == '\0') {
            size_t sl = (size_t)(key + i - seg);
            if (sl == 0)
                return jcs_err_set(JCS_EINVAL, "key \"%s\": empty path segment", key);
            if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
                return jcs_err_set(JCS_EINVAL,
                                   "key \"%s\": \".\" and \"..\" segments are not allowed", key);
            seg = key + i + 1;
        } else if (c < 0x20 || c == 0x7f || c == '\\') {
            return jcs_err_set(JCS_EINVAL, "key \"%s\": control character or backslash", key);
        }
    }
    return JCS_OK;
}

/* Keys a caller may commit: valid and not in the reserved tmp/ area. */
static int check_user_key(const jcs_storage *s, const char *key)
{
    int rc = jcs_storage_check_key(key);
    if (rc)
        return jcs_err_wrap(rc, "%s: ", s->name);
    if (strncmp(key, "tmp/", 4) == 0 || strcmp(key, "tmp") == 0)
        return jcs_err_set(JCS_EINVAL, "%s: key \"%s\": tmp/ is reserved for temporary data",
                           s->name, key);
    return JCS_OK;
}

int jcs_storage_write_begin(jcs_storage *s, jcs_storage_writer **out)
{
    *out = NULL;
    return s->ops->write_begin(s, out);
}

static void remember_failure(jcs_storage_writer *w, int rc)
{
    w->failed = rc;
    snprintf(w->failmsg, sizeof(w->failmsg), "%s", jcs_err_msg(rc));
}

int jcs_storage_write(jcs_storage_writer *w, const void *data, size_t n)
{
    if (w->failed)
        return jcs_err_set(w->failed, "%s", w->failmsg);
    if (n == 0)
        return JCS_OK;
    int rc = w->s->ops->write(w, data, n);
    if (rc)
        remember_failure(w, rc);
    else
        w->size += n;
    return rc;
}

uint64_t jcs_storage_writer_size(const jcs_storage_writer *w)
{
    return w->size;
}

int jcs_storage_write_commit(jcs_storage_writer *w, const char *key)
{
    int rc;
    if (w->failed) {
        rc = jcs_err_set(w->failed, "%s", w->failmsg);
        w->s->ops->abort(w);
        return rc;
    }
    rc = check_user_key(w->s, key);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
        w->s->ops->abort(w);
        return jcs_err_set(rc, "%s", msg);
    }
    return w->s->ops->commit(w, key);
}

int jcs_storage_write_commit_pair(jcs_storage_writer *w0, const char *key0, jcs_storage_writer *w1,
                                  const char *key1)
{
    if (w0->s != w1->s || !w0->s->ops->commit_pair || w0->failed || w1->failed ||
        check_user_key(w0->s, key0) || check_user_key(w1->s, key1)) {
        /* One at a time: the single commits report every error with its detail. */
        int rc = jcs_storage_write_commit(w0, key0);
        if (rc) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
            jcs_storage_write_abort(w1);
            return jcs_err_set(rc, "%s", msg);
        }
        return jcs_storage_write_commit(w1, key1);
    }
    return w0->s->ops->commit_pair(w0, key0, w1, key1);
}

static int check_attr_name(const jcs_storage *s, const char *name, size_t len)
{
    size_t n = name ? strnlen(name, 33) : 0;
    int ok = n >= 1 && n <= 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
             name[i] == '.';
    if (!ok)
        return jcs_err_set(JCS_EINVAL, "%s: attribute name \"%.40s\": want 1 to 32 of [a-z0-9.]",
                           s->name, name ? name : "");
    if (len > JCS_STORAGE_ATTR_MAX)
        return jcs_err_set(JCS_ETOOBIG, "%s: attribute %s: %zu bytes, at most %d", s->name, name,
                           len, JCS_STORAGE_ATTR_MAX);
    return JCS_OK;
}

int jcs_storage_writer_set_attr(jcs_storage_writer *w, const char *name, const void *val,
                                size_t len, int *kept)
{
    *kept = 0;
    if (w->failed)
        return jcs_err_set(w->failed, "%s", w->failmsg);
    int rc = check_attr_name(w->s, name, len);
    if (rc || !w->s->ops->writer_set_attr)
        return rc;
    rc = w->s->ops->writer_set_attr(w, name, val, len, kept);
    if (rc)
        remember_failure(w, rc);
    return rc;
}

int jcs_storage_set_attr(jcs_storage *s, const char *key, const char *name, const void *val,
                         size_t len, int *kept)
{
    *kept = 0;
    int rc = check_user_key(s, key);
    if (rc == 0)
        rc = check_attr_name(s, name, len);
    if (rc || !s->ops->set_attr)
        return rc;
    return s->ops->set_attr(s, key, name, val, len, kept);
}

int jcs_storage_get_attr(jcs_storage *s, const char *key, const char *name, void *buf, size_t cap,
                         size_t *len)
{
    *len = 0;
    int rc = jcs_storage_check_key(key);
    if (rc)
        return jcs_err_wrap(rc, "%s: ", s->name);
    if ((rc = check_attr_name(s, name, 0)) != 0 || !s->ops->get_attr)
        return rc;
    return s->ops->get_attr(s, key, name, buf, cap, len);
}

void jcs_storage_write_abort(jcs_storage_writer *w)
{
    if (w)
        w->s->ops->abort(w);
}

int jcs_storage_read(jcs_storage *s, const char *key, uint64_t off, uint64_t len,
                     jcs_storage_sink sink, void *arg)
{
    int rc = jcs_storage_check_key(key);
    if (rc)
        return jcs_err_wrap(rc, "%s: ", s->name);
    if (len != JCS_STORAGE_TO_END && off + len < off)
        return jcs_err_set(JCS_EINVAL, "%s: read %s: range [%llu, +%llu) overflows", s->name, key,
                           (unsigned long long)off, (unsigned long long)len);
    return s->ops->read(s, key, off, len, sink, arg);
}

struct buf_sink {
    char *p;
    size_t left;
};

static int buf_sink_fn(void *arg, const void *data, size_t len)
{
    struct buf_sink *b = arg;
    if (len > b->left)
        return jcs_err_set(JCS_EINTERNAL, "storage: backend delivered more bytes than asked");
    memcpy(b->p, data, len);
    b->p += len;
    b->left -= len;
    return JCS_OK;
}

int jcs_storage_read_buf(jcs_storage *s, const char *key, uint64_t off, size_t len, void *buf)
{
    struct buf_sink b = {buf, len};
    int rc = jcs_storage_read(s, key, off, len, buf_sink_fn, &b);
    if (!rc && b.left)
        return jcs_err_set(JCS_EIO, "%s: read %s: %zu bytes short", s->name, key, b.left);
    return rc;
}

int jcs_storage_stat(jcs_storage *s, const char *key, struct jcs_storage_stat *st)
{
    int rc = jcs_storage_check_key(key);
    if (rc)
        return jcs_err_wrap(rc, "%s: ", s->name);
    return s->ops->stat(s, key, st);
}

int jcs_storage_list(jcs_storage *s, const char *prefix, jcs_storage_list_fn fn, void *arg)
{
    if (!prefix)
        prefix = "";
    if (strlen(prefix) > JCS_STORAGE_KEY_MAX)
        return jcs_err_set(JCS_EINVAL, "%s: list prefix longer than %d bytes", s->name,
                           JCS_STORAGE_KEY_MAX);
    /* A prefix may end inside a segment ("blocks/A"); its complete segments follow the key rules.
     */
    const char *slash = strrchr(prefix, '/');
    if (slash) {
        char dir[JCS_STORAGE_KEY_MAX + 1];
        memcpy(dir, prefix, (size_t)(slash - prefix));
        dir[slash - prefix] = '\0';
        int rc = jcs_storage_check_key(dir);
        if (rc)
            return jcs_err_wrap(rc, "%s: list prefix \"%s\": ", s->name, prefix);
    }
    for (const char *c = prefix; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
            return jcs_err_set(JCS_EINVAL, "%s: list prefix \"%s\": control character or backslash",
                               s->name, prefix);
    return s->ops->list(s, prefix, fn, arg);
}

int jcs_storage_delete(jcs_storage *s, const char *key)
{
    int rc = check_user_key(s, key);
    if (rc)
        return rc;
    return s->ops->del(s, key);
}

int jcs_storage_delete_many(jcs_storage *s, const char *const *keys, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = check_user_key(s, keys[i]);
        if (rc)
            return rc;
    }
    if (s->ops->del_many)
        return s->ops->del_many(s, keys, n, done);
    for (size_t i = 0; i < n; i++) {
        int rc = s->ops->del(s, keys[i]);
        if (rc)
            return rc;
        if (done)
            *done = i + 1;
    }
    return JCS_OK;
}

int jcs_storage_reclaim(jcs_storage *s, int64_t min_age_ms, unsigned *removed)
{
    unsigned dummy;
    if (!removed)
        removed = &dummy;
    *removed = 0;
    if (min_age_ms < 0)
        min_age_ms = 0;
    return s->ops->reclaim(s, min_age_ms, removed);
}
