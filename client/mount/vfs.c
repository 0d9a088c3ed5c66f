/* The mount's file system over the REST client, the block cache, the stage and the listing cache.
 */
#include "vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

#define NAME_MAX_    255
#define OPATH_MAX    1024
#define BS           ((int64_t)JCS_BCACHE_BLOCK)
#define AHEAD_BLOCKS 16 /* read-ahead runs at most this many blocks before the reader */
#define MOVE_BATCH   500

struct jcs_vfs {
    jcs_vfs_opts o;
    jcs_stage *stage;
    pthread_mutex_t mu;
    jcs_vfs_space st; /* cached statfs */
    int64_t st_expires;
};

typedef struct ra {
    pthread_t th;
    bool joinable, running, stop;
    int64_t next_idx;   /* the first block this stream has not stored yet */
    int64_t reader_idx; /* the block the reader wants */
    int64_t start_idx;
    char *buf;
    size_t fill;
    int rc;
} ra;

struct jcs_vfs_fh {
    jcs_vfs *v;
    char *path;
    bool writable;
    jcs_stage_file *sf; /* staged: reads and writes go here */
    bool writer;        /* counted as a writer of sf */
    /* the committed object (when not staged at open) */
    int64_t object_id, size;
    char *hash;
    bool exists;
    pthread_mutex_t mu;
    /*
     * Two conditions, so that a wake-up reaches only who waits for it: cv
     * (readers) is signalled when the read-ahead stored a block or ended;
     * ra_cv (the read-ahead thread) when the reader moved on or a stop is
     * asked. One shared condition woke every waiting FUSE thread on every
     * event and each woken reader woke all the others again: a third of the
     * mount's CPU went to futex calls on a 1 GiB read.
     */
    pthread_cond_t cv, ra_cv;
    int64_t next_off; /* where the last read ended */
    int seq;          /* sequential reads in a row */
    ra ra;
};

/* ---- names -------------------------------------------------------------------------------- */

typedef struct where {
    int level; /* 0 root, 1 bucket, 2 package, 3 inside a package */
    char b[NAME_MAX_ + 1], p[NAME_MAX_ + 1];
    const char *rest; /* the object path (level 3), "" otherwise */
} where;

static int parse(const char *path, where *w)
{
    memset(w, 0, sizeof *w);
    w->rest = "";
    if (path[0] != '/')
        return -EINVAL;
    const char *s = path + 1;
    if (!*s)
        return 0;
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q < 32 || *q == 127 || *q == '\\')
            return -EINVAL;
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n > NAME_MAX_)
        return -ENAMETOOLONG;
    memcpy(w->b, s, n);
    w->level = 1;
    if (!e || !e[1])
        return 0;
    s = e + 1;
    e = strchr(s, '/');
    n = e ? (size_t)(e - s) : strlen(s);
    if (n > NAME_MAX_)
        return -ENAMETOOLONG;
    memcpy(w->p, s, n);
    w->level = 2;
    if (!e || !e[1])
        return 0;
    w->rest = e + 1;
    w->level = 3;
    if (strlen(w->rest) > OPATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The parent directory of path ("/a/b" -> "/a", "/a" -> "/"). */
static void parent(const char *path, char *out, size_t n)
{
    const char *s = strrchr(path, '/');
    size_t k = s && s != path ? (size_t)(s - path) : 1;
    if (k >= n)
        k = n - 1;
    memcpy(out, path, k);
    out[k] = '\0';
}

/* A jcs_err as an errno; the ones no errno describes are logged with the path. */
static int to_errno(int rc, const char *what, const char *path)
{
    switch (rc) {
    case JCS_OK:
        return 0;
    case JCS_ENOENT:
        return -ENOENT;
    case JCS_EEXIST:
        return -EEXIST;
    case JCS_ETOOBIG:
        jcs_warn("mount: %s %s: %s", what, path, jcs_err_msg(rc));
        return -ENOSPC;
    case JCS_ENOMEM:
        return -ENOMEM;
    case JCS_EINVAL:
        jcs_warn("mount: %s %s refused: %s", what, path, jcs_err_msg(rc));
        return -EINVAL;
    default:
        jcs_error("mount: %s %s failed (%s): %s", what, path, jcs_err_name(rc), jcs_err_msg(rc));
        return -EIO;
    }
}

/* RFC 3339 ("2026-11-22T05:37:46.753+00:00") to ms since the epoch; 0 when unreadable. */
static int64_t parse_time(const char *s)
{
    if (!s)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int consumed = 0;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &consumed) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    const char *q = s + consumed;
    if (*q == '.') {
        int64_t scale = 100;
        for (q++; *q >= '0' && *q <= '9'; q++) {
            ms += (*q - '0') * scale;
            scale /= 10;
        }
    }
    if (*q == '+' || *q == '-') {
        int hh = 0, mm = 0;
        if (sscanf(q + 1, "%d:%d", &hh, &mm) == 2)
            ms -= (*q == '+' ? 1 : -1) * ((int64_t)hh * 3600 + mm * 60) * 1000;
    }
    return ms;
}

static void format_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, n, "%s.%03dZ", b, (int)(ms % 1000));
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- REST calls with more than one step ---------------------------------------------------- */

/*
 * Bytes [off, off+len) of an object (len < 0: to the end), streamed into
 * sink as they arrive; never held whole.
 */
static int download(jcs_vfs *v, int64_t object_id, int64_t off, int64_t len, jcs_rest_sink sink,
                    void *arg)
{
    char id[24], o[24], l[24];
    snprintf(id, sizeof id, "%lld", (long long)object_id);
    snprintf(o, sizeof o, "%lld", (long long)off);
    snprintf(l, sizeof l, "%lld", (long long)len);
    const char *kv[] = {"objectID", id, "offset", o, len >= 0 ? "length" : NULL, l, NULL};
    int rc = jcs_rest_download(v->o.rest, "/v1/object/download", kv, sink, arg, NULL, NULL);
    return rc ? jcs_err_wrap(rc, "download of object %lld", (long long)object_id) : rc;
}

/*
 * Uploads the local file `file` as object `path` of package pkg (streamed
 * from disk). *object gets the uploaded object's JSON (new reference) when
 * object is not NULL.
 */
static int upload_file(jcs_vfs *v, int64_t pkg, const char *path, const char *file, json_t **object)
{
    if (object)
        *object = NULL;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int rc = jcs_err_set(JCS_EIO, "upload of %s: cannot read the staged file %s: %s", path,
                             file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    json_t *info = json_pack("{s:I}", "packageID", (json_int_t)pkg);
    jcs_rest_file f = {.path = path, .local = file, .fd = fd, .off = 0, .size = st.st_size};
    json_t *data = NULL;
    int rc = info ? jcs_rest_upload(v->o.rest, "/v1/object/upload", info, &f, 1, NULL, &data)
                  : JCS_ENOMEM;
    json_decref(info);
    close(fd);
    if (rc)
        return jcs_err_wrap(rc, "upload of %.120s", path);
    json_t *up = json_array_get(json_object_get(data, "uploadeds"), 0);
    if (!json_is_object(up)) {
        json_decref(data);
        return jcs_err_set(JCS_EIO, "upload of %s: the answer lists no uploaded object", path);
    }
    if (object)
        *object = json_incref(up);
    json_decref(data);
    return JCS_OK;
}

/* ---- listings ------------------------------------------------------------------------------ */

static int fetch_buckets(jcs_vfs *v, jcs_dlist *l)
{
    json_t *d;
    int rc = jcs_rest_get(v->o.rest, "/v1/bucket/listAll", NULL, &d);
    if (rc)
        return rc;
    json_t *a = json_object_get(d, "buckets"), *e;
    size_t i;
    json_array_foreach(a, i, e)
    {
        const char *name = jstr(e, "name");
        if (name && (rc = jcs_dlist_add(l, name, true, 0, parse_time(jstr(e, "createTime")),
                                        jint(e, "bucketID"), NULL)))
            break;
    }
    json_decref(d);
    return rc;
}

static int fetch_packages(jcs_vfs *v, int64_t bucket_id, jcs_dlist *l)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)bucket_id);
    const char *kv[] = {"bucketID", id, NULL};
    json_t *d;
    int rc = jcs_rest_get(v->o.rest, "/v1/package/listBucketPackages", kv, &d);
    if (rc)
        return rc;
    json_t *a = json_object_get(d, "packages"), *e;
    size_t i;
    json_array_foreach(a, i, e)
    {
        const char *name = jstr(e, "name");
        if (name && (rc = jcs_dlist_add(l, name, true, 0, parse_time(jstr(e, "createTime")),
                                        jint(e, "packageID"), NULL)))
            break;
    }
    json_decref(d);
    return rc;
}

/* One listByPath call; *data owned by the caller. */
static int list_by_path(jcs_vfs *v, int64_t pkg, const char *path, bool prefix, bool norec,
                        int max_keys, const char *token, json_t **data)
{
    char id[24], mk[16];
    snprintf(id, sizeof id, "%lld", (long long)pkg);
    snprintf(mk, sizeof mk, "%d", max_keys);
    const char *kv[] = {"packageID",
                        id,
                        "path",
                        path,
                        "isPrefix",
                        prefix ? "true" : "false",
                        "noRecursive",
                        norec ? "true" : "false",
                        "maxKeys",
                        mk,
                        token ? "continuationToken" : NULL,
                        token,
                        NULL};
    return jcs_rest_get(v->o.rest, "/v1/object/listByPath", kv, data);
}

/* One level of a package under prefix ("" or "a/b/"). */
static int fetch_objects(jcs_vfs *v, int64_t pkg, const char *prefix, jcs_dlist *l)
{
    size_t pl = strlen(prefix);
    char *token = NULL;
    int rc = JCS_OK;
    do {
        json_t *d;
        if (pl == 0)
            rc = list_by_path(v, pkg, "", true, true, 1000, token, &d);
        else
            rc = list_by_path(v, pkg, prefix, true, true, 1000, token, &d);
        jcs_free(token);
        token = NULL;
        if (rc)
            break;
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(d, "objects"), i, e)
        {
            const char *p = jstr(e, "path");
            if (!p || strncmp(p, prefix, pl) != 0 || !p[pl] || strchr(p + pl, '/'))
                continue;
            if (strcmp(p + pl, JCS_VFS_DIR_MARKER) == 0)
                continue;
            if ((rc = jcs_dlist_add(l, p + pl, false, jint(e, "size"),
                                    parse_time(jstr(e, "updateTime")), jint(e, "objectID"),
                                    jstr(e, "fileHash"))))
                break;
        }
        json_array_foreach(json_object_get(d, "commonPrefixes"), i, e)
        {
            const char *p = json_string_value(e);
            if (rc || !p || strncmp(p, prefix, pl) != 0)
                continue;
            char name[NAME_MAX_ + 2];
            size_t n = strlen(p + pl);
            if (n == 0 || n > NAME_MAX_ + 1)
                continue;
            memcpy(name, p + pl, n + 1);
            if (name[n - 1] == '/')
                name[n - 1] = '\0';
            if (!name[0] || strchr(name, '/'))
                continue;
            if ((rc = jcs_dlist_add(l, name, true, 0, 0, 0, NULL)))
                break;
        }
        const char *t = jstr(d, "nextContinuationToken");
        if (rc == 0 && t && !(token = jcs_strdup(t)))
            rc = JCS_ENOMEM;
        json_decref(d);
    } while (rc == 0 && token);
    jcs_free(token);
    return rc;
}

static int listing(jcs_vfs *v, const char *dir, jcs_dlist **out);

/* The id (bucketID or packageID) of a level-1/2 path; a jcs_err. */
static int id_of(jcs_vfs *v, const char *dir, const char *name, int64_t *id)
{
    jcs_dlist *l;
    int rc = listing(v, dir, &l);
    if (rc)
        return rc;
    const jcs_dentry *e = jcs_dlist_find(l, name);
    if (e)
        *id = e->id;
    jcs_dlist_unref(l);
    return e ? JCS_OK
             : jcs_err_set(JCS_ENOENT, "no %s \"%s\"", dir[1] ? "package" : "bucket", name);
}

static int package_id(jcs_vfs *v, const where *w, int64_t *id)
{
    char dir[NAME_MAX_ + 2];
    snprintf(dir, sizeof dir, "/%s", w->b);
    return id_of(v, dir, w->p, id);
}

/* The listing of a directory path (cached); a jcs_err. */
static int listing(jcs_vfs *v, const char *dir, jcs_dlist **out)
{
    jcs_dlist *l = jcs_dcache_get(v->o.dcache, dir);
    if (l) {
        *out = l;
        return JCS_OK;
    }
    where w;
    if (parse(dir, &w) != 0)
        return jcs_err_set(JCS_EINVAL, "bad path %s", dir);
    uint64_t epoch = jcs_dcache_epoch(v->o.dcache);
    if (!(l = jcs_dlist_new()))
        return JCS_ENOMEM;
    int rc;
    int64_t id = 0;
    if (w.level == 0) {
        rc = fetch_buckets(v, l);
    } else if (w.level == 1) {
        rc = id_of(v, "/", w.b, &id);
        if (rc == 0)
            rc = fetch_packages(v, id, l);
    } else {
        rc = package_id(v, &w, &id);
        char *prefix = rc ? NULL : jcs_asprintf("%s%s", w.rest, w.rest[0] ? "/" : "");
        if (!rc && !prefix)
            rc = JCS_ENOMEM;
        if (rc == 0)
            rc = fetch_objects(v, id, prefix, l);
        jcs_free(prefix);
    }
    if (rc) {
        jcs_dlist_unref(l);
        return rc;
    }
    jcs_dlist_finish(l);
    jcs_dcache_put(v->o.dcache, dir, l, epoch);
    *out = l;
    return JCS_OK;
}

static void invalidate_parent(jcs_vfs *v, const char *path)
{
    char d[4096];
    parent(path, d, sizeof d);
    jcs_dcache_invalidate(v->o.dcache, d);
}

/* ---- attributes ---------------------------------------------------------------------------- */

typedef struct has_under {
    const char *dir;
    bool found;
} has_under;

static void on_under(void *arg, const char *path, int64_t size, int64_t mtime)
{
    (void)path, (void)size, (void)mtime;
    ((has_under *)arg)->found = true;
}

static bool staged_under(jcs_vfs *v, const char *dir)
{
    has_under h = {dir, false};
    jcs_stage_list(v->stage, dir, on_under, &h);
    return h.found;
}

/* 0 with *a, -ENOENT, or another -errno. */
static int lookup(jcs_vfs *v, const char *path, jcs_vfs_attr *a)
{
    where w;
    int rc = parse(path, &w);
    if (rc)
        return rc;
    memset(a, 0, sizeof *a);
    if (w.level == 0) {
        a->is_dir = true;
        return 0;
    }
    if (w.level >= 3) {
        if (strcmp(base(path), JCS_VFS_DIR_MARKER) == 0)
            return -ENOENT;
        jcs_stage_file *f;
        if (jcs_stage_get(v->stage, path, &f) == 0) {
            jcs_stage_stat(f, &a->size, &a->mtime_ms);
            jcs_stage_put(f);
            return 0;
        }
    }
    char dir[4096];
    parent(path, dir, sizeof dir);
    jcs_dlist *l;
    rc = listing(v, dir, &l);
    if (rc == JCS_ENOENT)
        return w.level >= 3 && staged_under(v, path) ? (a->is_dir = true, 0) : -ENOENT;
    if (rc)
        return to_errno(rc, "listing", dir);
    const jcs_dentry *e = jcs_dlist_find(l, base(path));
    if (e) {
        a->is_dir = e->is_dir;
        a->size = e->size;
        a->mtime_ms = e->mtime_ms;
    }
    jcs_dlist_unref(l);
    if (e)
        return 0;
    if (w.level >= 3 && staged_under(v, path)) {
        a->is_dir = true;
        return 0;
    }
    return -ENOENT;
}

int jcs_vfs_getattr(jcs_vfs *v, const char *path, jcs_vfs_attr *a)
{
    return lookup(v, path, a);
}

/* The committed object at path, fresh from the service (close-to-open). */
static int object_now(jcs_vfs *v, const where *w, int64_t *id, int64_t *size, char **hash,
                      int64_t *pkg)
{
    int rc = package_id(v, w, pkg);
    if (rc)
        return rc;
    json_t *d;
    if ((rc = list_by_path(v, *pkg, w->rest, false, false, 1, NULL, &d)))
        return rc;
    json_t *o = json_array_get(json_object_get(d, "objects"), 0);
    if (!o || !jstr(o, "path") || strcmp(jstr(o, "path"), w->rest) != 0) {
        json_decref(d);
        return JCS_ENOENT;
    }
    *id = jint(o, "objectID");
    *size = jint(o, "size");
    if (hash) {
        const char *h = jstr(o, "fileHash");
        if (!(*hash = jcs_strdup(h ? h : "")))
            rc = JCS_ENOMEM;
    }
    json_decref(d);
    return rc;
}

/* ---- readdir ------------------------------------------------------------------------------- */

typedef struct overlay {
    const char *dir;
    size_t dl;
    jcs_dlist *l;
    int rc;
} overlay;

static void on_staged(void *arg, const char *path, int64_t size, int64_t mtime)
{
    overlay *o = arg;
    if (o->rc)
        return;
    const char *r = path + o->dl + 1;
    const char *slash = strchr(r, '/');
    char name[NAME_MAX_ + 1];
    size_t n = slash ? (size_t)(slash - r) : strlen(r);
    if (n == 0 || n > NAME_MAX_)
        return;
    memcpy(name, r, n);
    name[n] = '\0';
    o->rc = jcs_dlist_add(o->l, name, slash != NULL, size, mtime, 0, NULL);
}

int jcs_vfs_readdir(jcs_vfs *v, const char *path, jcs_vfs_fill_fn fill, void *arg)
{
    where w;
    int rc = parse(path, &w);
    if (rc)
        return rc;
    jcs_dlist *l = NULL;
    rc = listing(v, path, &l);
    if (rc && !(rc == JCS_ENOENT && w.level >= 3))
        return to_errno(rc, "listing", path);
    overlay o = {path, strlen(path), jcs_dlist_new(), 0};
    if (!o.l) {
        jcs_dlist_unref(l);
        return -ENOMEM;
    }
    if (w.level >= 2)
        jcs_stage_list(v->stage, path, on_staged, &o);
    if (o.rc) {
        jcs_dlist_unref(l);
        jcs_dlist_unref(o.l);
        return to_errno(o.rc, "listing", path);
    }
    jcs_dlist_finish(o.l);
    if (!l && o.l->n == 0) {
        jcs_dlist_unref(o.l);
        return -ENOENT;
    }
    jcs_vfs_attr a = {.is_dir = true};
    int stop = fill(arg, ".", &a) || fill(arg, "..", &a);
    for (size_t i = 0; !stop && l && i < l->n; i++) {
        const jcs_dentry *e = &l->v[i];
        if (jcs_dlist_find(o.l, e->name))
            continue;
        a = (jcs_vfs_attr){e->is_dir, e->size, e->mtime_ms};
        stop = fill(arg, e->name, &a);
    }
    for (size_t i = 0; !stop && i < o.l->n; i++) {
        const jcs_dentry *e = &o.l->v[i];
        a = (jcs_vfs_attr){e->is_dir, e->size, e->mtime_ms};
        stop = fill(arg, e->name, &a);
    }
    jcs_dlist_unref(l);
    jcs_dlist_unref(o.l);
    return 0;
}

/* ---- directories --------------------------------------------------------------------------- */

static int upload_marker(jcs_vfs *v, int64_t pkg, const char *rest)
{
    char *p = jcs_asprintf("%s/%s", rest, JCS_VFS_DIR_MARKER);
    if (!p)
        return JCS_ENOMEM;
    int rc = upload_file(v, pkg, p, v->o.empty_file, NULL);
    jcs_free(p);
    return rc;
}

static int delete_path(jcs_vfs *v, int64_t pkg, const char *rest)
{
    json_t *b = json_pack("{s:I, s:s}", "packageID", (json_int_t)pkg, "path", rest);
    if (!b)
        return JCS_ENOMEM;
    int rc = jcs_rest_post(v->o.rest, "/v1/object/deleteByPath", b, NULL);
    json_decref(b);
    return rc;
}

/* Whether anything (object, marker or staged file) lies under dir rest/ of the package. */
static int dir_used(jcs_vfs *v, const char *path, int64_t pkg, const char *rest, bool count_marker,
                    bool *used)
{
    if (staged_under(v, path)) {
        *used = true;
        return 0;
    }
    char *prefix = jcs_asprintf("%s/", rest);
    if (!prefix)
        return JCS_ENOMEM;
    json_t *d;
    int rc = list_by_path(v, pkg, prefix, true, false, 2, NULL, &d);
    *used = false;
    if (rc == 0) {
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(d, "objects"), i, e)
        {
            const char *p = jstr(e, "path");
            if (p && (count_marker || strcmp(p + strlen(prefix), JCS_VFS_DIR_MARKER) != 0))
                *used = true;
        }
        json_decref(d);
    }
    jcs_free(prefix);
    return rc;
}

/*
 * After something left directory `dir` (a path inside a package): if
 * nothing is left under it, a marker keeps it in existence.
 */
static void keep_dir(jcs_vfs *v, const char *dir)
{
    where w;
    if (parse(dir, &w) != 0 || w.level < 3)
        return;
    int64_t pkg;
    bool used = true;
    int rc = package_id(v, &w, &pkg);
    if (rc == 0)
        rc = dir_used(v, dir, pkg, w.rest, true, &used);
    if (rc == 0 && !used)
        rc = upload_marker(v, pkg, w.rest);
    if (rc)
        jcs_error("mount: keeping directory %s after its last entry left: %s", dir,
                  jcs_err_msg(rc));
    jcs_dcache_invalidate(v->o.dcache, dir);
}

int jcs_vfs_mkdir(jcs_vfs *v, const char *path)
{
    where w;
    int rc = parse(path, &w);
    if (rc)
        return rc;
    if (w.level == 0)
        return -EEXIST;
    jcs_vfs_attr a;
    if ((rc = lookup(v, path, &a)) == 0)
        return -EEXIST;
    if (rc != -ENOENT)
        return rc;
    if (w.level == 3 && strcmp(base(path), JCS_VFS_DIR_MARKER) == 0)
        return -EINVAL;
    json_t *b = NULL;
    if (w.level == 1) {
        b = json_pack("{s:s}", "name", w.b);
        if (!b)
            return -ENOMEM;
        rc = jcs_rest_post(v->o.rest, "/v1/bucket/create", b, NULL);
    } else if (w.level == 2) {
        int64_t bid;
        json_t *red = json_loads(v->o.redundancy_json, 0, NULL);
        if ((rc = id_of(v, "/", w.b, &bid)) == 0) {
            b = json_pack("{s:I, s:s, s:o*}", "bucketID", (json_int_t)bid, "name", w.p,
                          "redundancy", red);
            red = NULL;
            rc = b ? jcs_rest_post(v->o.rest, "/v1/package/create", b, NULL) : JCS_ENOMEM;
        }
        json_decref(red);
    } else {
        int64_t pkg;
        if ((rc = package_id(v, &w, &pkg)) == 0)
            rc = upload_marker(v, pkg, w.rest);
    }
    json_decref(b);
    invalidate_parent(v, path);
    return to_errno(rc, "mkdir", path);
}

int jcs_vfs_rmdir(jcs_vfs *v, const char *path)
{
    where w;
    int rc = parse(path, &w);
    if (rc)
        return rc;
    if (w.level == 0)
        return -EBUSY;
    jcs_vfs_attr a;
    if ((rc = lookup(v, path, &a)) != 0)
        return rc;
    if (!a.is_dir)
        return -ENOTDIR;
    json_t *b = NULL;
    int64_t id;
    if (w.level == 1) {
        jcs_dlist *l;
        if ((rc = listing(v, path, &l)) == 0) {
            bool empty = l->n == 0;
            jcs_dlist_unref(l);
            if (!empty)
                return -ENOTEMPTY;
            if ((rc = id_of(v, "/", w.b, &id)) == 0) {
                b = json_pack("{s:I}", "bucketID", (json_int_t)id);
                rc = b ? jcs_rest_post(v->o.rest, "/v1/bucket/delete", b, NULL) : JCS_ENOMEM;
            }
        }
    } else if (w.level == 2) {
        if (staged_under(v, path))
            return -ENOTEMPTY;
        if ((rc = package_id(v, &w, &id)) == 0) {
            json_t *d;
            if ((rc = list_by_path(v, id, "", true, false, 1, NULL, &d)) == 0) {
                bool empty = json_array_size(json_object_get(d, "objects")) == 0;
                json_decref(d);
                if (!empty)
                    return -ENOTEMPTY;
                b = json_pack("{s:I}", "packageID", (json_int_t)id);
                rc = b ? jcs_rest_post(v->o.rest, "/v1/package/delete", b, NULL) : JCS_ENOMEM;
            }
        }
    } else {
        bool used;
        if ((rc = package_id(v, &w, &id)) == 0 &&
            (rc = dir_used(v, path, id, w.rest, false, &used)) == 0) {
            if (used)
                return -ENOTEMPTY;
            char *m = jcs_asprintf("%s/%s", w.rest, JCS_VFS_DIR_MARKER);
            rc = m ? delete_path(v, id, m) : JCS_ENOMEM;
            jcs_free(m);
            if (rc == JCS_ENOENT)
                rc = JCS_OK;
        }
    }
    json_decref(b);
    jcs_dcache_invalidate(v->o.dcache, path);
    invalidate_parent(v, path);
    if (rc == 0 && w.level >= 3) {
        char d[4096];
        parent(path, d, sizeof d);
        keep_dir(v, d);
    }
    return to_errno(rc, "rmdir", path);
}

/* ---- files: removal, rename ---------------------------------------------------------------- */

int jcs_vfs_unlink(jcs_vfs *v, const char *path)
{
    where w;
    int rc = parse(path, &w);
    if (rc)
        return rc;
    if (w.level < 3)
        return -EISDIR;
    jcs_vfs_attr a;
    if ((rc = lookup(v, path, &a)) != 0)
        return rc;
    if (a.is_dir)
        return -EISDIR;
    bool staged = jcs_stage_remove(v->stage, path) == 0;
    int64_t pkg;
    rc = package_id(v, &w, &pkg);
    if (rc == 0)
        rc = delete_path(v, pkg, w.rest);
    if (rc == JCS_ENOENT && staged)
        rc = JCS_OK;
    invalidate_parent(v, path);
    if (rc == 0) {
        char d[4096];
        parent(path, d, sizeof d);
        keep_dir(v, d);
    }
    return to_errno(rc, "unlink", path);
}

/* Moves every object under src/ of package sp to dst/ of package dp, in batches. */
static int move_tree(jcs_vfs *v, int64_t sp, const char *src, int64_t dp, const char *dst)
{
    char *prefix = jcs_asprintf("%s/", src);
    if (!prefix)
        return JCS_ENOMEM;
    size_t pl = strlen(prefix);
    int rc;
    /* Each pass lists from the start: moved objects no longer match. */
    for (;;) {
        json_t *d;
        if ((rc = list_by_path(v, sp, prefix, true, false, MOVE_BATCH, NULL, &d)))
            break;
        json_t *objs = json_object_get(d, "objects"), *m = json_array(), *e;
        size_t i;
        json_array_foreach(objs, i, e)
        {
            const char *p = jstr(e, "path");
            char *np = p ? jcs_asprintf("%s/%s", dst, p + pl) : NULL;
            json_t *it =
                np ? json_pack("{s:I, s:I, s:s}", "objectID", (json_int_t)jint(e, "objectID"),
                               "packageID", (json_int_t)dp, "path", np)
                   : NULL;
            jcs_free(np);
            if (!it || json_array_append_new(m, it)) {
                rc = JCS_ENOMEM;
                break;
            }
        }
        size_t n = json_array_size(objs);
        json_decref(d);
        if (rc == 0 && n > 0) {
            json_t *b = json_pack("{s:o}", "movings", m);
            m = NULL;
            rc = b ? jcs_rest_post(v->o.rest, "/v1/object/move", b, NULL) : JCS_ENOMEM;
            json_decref(b);
        }
        json_decref(m);
        if (rc || n == 0)
            break;
    }
    jcs_free(prefix);
    return rc;
}

static int rename_package(jcs_vfs *v, const char *from, const where *fw, const char *to,
                          const where *tw, bool noreplace)
{
    jcs_vfs_attr a;
    int rc = lookup(v, to, &a);
    if (rc == 0 && noreplace)
        return -EEXIST;
    if (rc == 0) {
        /* An existing empty package is replaced, as rename(2) replaces an empty directory. */
        if ((rc = jcs_vfs_rmdir(v, to)) != 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    if ((rc = jcs_stage_flush_dir(v->stage, from)) != 0)
        return to_errno(rc, "rename (flushing staged files)", from);
    int64_t pid, bid;
    if ((rc = package_id(v, fw, &pid)) == 0 && (rc = id_of(v, "/", tw->b, &bid)) == 0) {
        json_t *b = json_pack("{s:I, s:I, s:s}", "packageID", (json_int_t)pid, "bucketID",
                              (json_int_t)bid, "name", tw->p);
        rc = b ? jcs_rest_post(v->o.rest, "/v1/package/clone", b, NULL) : JCS_ENOMEM;
        json_decref(b);
        if (rc == 0) {
            b = json_pack("{s:I}", "packageID", (json_int_t)pid);
            rc = b ? jcs_rest_post(v->o.rest, "/v1/package/delete", b, NULL) : JCS_ENOMEM;
            json_decref(b);
        }
    }
    jcs_dcache_invalidate(v->o.dcache, NULL);
    return to_errno(rc, "rename", from);
}

int jcs_vfs_rename(jcs_vfs *v, const char *from, const char *to, bool noreplace)
{
    where fw, tw;
    int rc;
    if ((rc = parse(from, &fw)) || (rc = parse(to, &tw)))
        return rc;
    if (strcmp(from, to) == 0)
        return 0;
    if (fw.level == 0 || tw.level == 0)
        return -EBUSY;
    if (fw.level == 1 || tw.level == 1)
        return -EXDEV; /* buckets have no rename in the API; mv copies */
    if (fw.level != tw.level && (fw.level == 2 || tw.level == 2))
        return -EPERM;
    if (fw.level == 2)
        return rename_package(v, from, &fw, to, &tw, noreplace);
    if (strcmp(base(to), JCS_VFS_DIR_MARKER) == 0)
        return -EINVAL;
    size_t fl = strlen(from);
    if (strncmp(to, from, fl) == 0 && to[fl] == '/')
        return -EINVAL;
    jcs_vfs_attr sa, da;
    if ((rc = lookup(v, from, &sa)) != 0)
        return rc;
    rc = lookup(v, to, &da);
    bool dst_exists = rc == 0;
    if (rc && rc != -ENOENT)
        return rc;
    if (dst_exists && noreplace)
        return -EEXIST;
    int64_t sp, dp;
    if ((rc = package_id(v, &fw, &sp)) || (rc = package_id(v, &tw, &dp)))
        return to_errno(rc, "rename", from);
    if (sa.is_dir) {
        if (dst_exists && !da.is_dir)
            return -ENOTDIR;
        if (dst_exists) {
            bool used;
            if ((rc = dir_used(v, to, dp, tw.rest, false, &used)))
                return to_errno(rc, "rename", to);
            if (used)
                return -ENOTEMPTY;
            char *m = jcs_asprintf("%s/%s", tw.rest, JCS_VFS_DIR_MARKER);
            rc = m ? delete_path(v, dp, m) : JCS_ENOMEM;
            jcs_free(m);
            if (rc && rc != JCS_ENOENT)
                return to_errno(rc, "rename", to);
        }
        rc = jcs_stage_rename_dir(v->stage, from, to);
        if (rc == 0)
            rc = move_tree(v, sp, fw.rest, dp, tw.rest);
        jcs_dcache_invalidate(v->o.dcache, NULL);
    } else {
        if (dst_exists && da.is_dir)
            return -EISDIR;
        /*
         * A committed destination goes first. A staged source is renamed in
         * the stage (after an upload in flight has finished) and its
         * committed copy, never newer than the staged one, is deleted: the
         * staged file is uploaded under the new name. Otherwise the
         * committed object moves.
         */
        rc = JCS_OK;
        if (dst_exists) {
            rc = jcs_stage_remove(v->stage, to); /* JCS_ENOENT: not staged */
            rc = delete_path(v, dp, tw.rest);
            if (rc == JCS_ENOENT)
                rc = JCS_OK;
        }
        if (rc == 0) {
            rc = jcs_stage_rename(v->stage, from, to);
            if (rc == 0) {
                rc = delete_path(v, sp, fw.rest);
                if (rc == JCS_ENOENT)
                    rc = JCS_OK;
            } else if (rc == JCS_ENOENT) {
                int64_t oid = 0, size;
                rc = object_now(v, &fw, &oid, &size, NULL, &sp);
                json_t *b =
                    rc ? NULL
                       : json_pack("{s:[{s:I, s:I, s:s}]}", "movings", "objectID", (json_int_t)oid,
                                   "packageID", (json_int_t)dp, "path", tw.rest);
                if (rc == 0)
                    rc = b ? jcs_rest_post(v->o.rest, "/v1/object/move", b, NULL) : JCS_ENOMEM;
                json_decref(b);
            }
        }
        invalidate_parent(v, from);
        invalidate_parent(v, to);
    }
    if (rc == 0) {
        char d[4096];
        parent(from, d, sizeof d);
        keep_dir(v, d);
    }
    return to_errno(rc, "rename", from);
}

/* ---- open files ---------------------------------------------------------------------------- */

typedef struct fill_arg {
    jcs_vfs *v;
    int64_t object_id;
    int fd;
    int64_t off;
    int64_t limit; /* the object's size as opened: what the stage charged */
} fill_arg;

static int to_fd(void *arg, const void *p, size_t n)
{
    fill_arg *a = arg;
    const char *q = p;
    /* More bytes than charged to the cache: the object changed meanwhile. */
    if (a->off + (int64_t)n > a->limit)
        return jcs_err_set(JCS_EIO,
                           "staging: object %lld grew past its %lld bytes while downloading; "
                           "open it again",
                           (long long)a->object_id, (long long)a->limit);
    while (n) {
        ssize_t w = pwrite(a->fd, q, n, (off_t)a->off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return jcs_err_set(errno == ENOSPC ? JCS_ETOOBIG : JCS_EIO, "staging: %s",
                               strerror(errno));
        q += w;
        n -= (size_t)w;
        a->off += w;
    }
    return JCS_OK;
}

/* Download on first write: the committed object into the new staged file. */
static int fill_from_object(void *arg, int fd)
{
    fill_arg *a = arg;
    a->fd = fd;
    a->off = 0;
    return download(a->v, a->object_id, 0, -1, to_fd, a);
}

/* Makes fh staged (downloading the committed object unless trunc). A jcs_err. */
static int stage_fh(jcs_vfs *v, jcs_vfs_fh *fh, bool trunc)
{
    if (fh->sf)
        return JCS_OK;
    fill_arg fa = {v, fh->object_id, -1, 0, fh->size};
    bool fill = fh->exists && fh->size > 0 && !trunc;
    int rc = jcs_stage_create(v->stage, fh->path, fill ? fill_from_object : NULL, &fa,
                              fill ? fh->size : 0, &fh->sf);
    if (rc)
        return rc;
    if (fh->writable && !fh->writer) {
        jcs_stage_open_writer(fh->sf);
        fh->writer = true;
    }
    /*
     * The parent's cached listing stays: lookups and readdir see a staged
     * file through the stage first. Forgetting it here made every file that
     * `cp -r` creates cost a new listing of its directory.
     */
    return JCS_OK;
}

static void fh_free(jcs_vfs_fh *fh)
{
    pthread_mutex_destroy(&fh->mu);
    pthread_cond_destroy(&fh->cv);
    pthread_cond_destroy(&fh->ra_cv);
    jcs_free(fh->hash);
    jcs_free(fh->path);
    jcs_free(fh);
}

int jcs_vfs_open(jcs_vfs *v, const char *path, int flags, bool create, jcs_vfs_fh **out)
{
    where w;
    int rc = parse(path, &w);
    if (rc)
        return rc;
    if (w.level < 3)
        return create ? -EPERM : -EISDIR;
    if (strcmp(base(path), JCS_VFS_DIR_MARKER) == 0)
        return create ? -EINVAL : -ENOENT;
    jcs_vfs_fh *fh = jcs_calloc(1, sizeof *fh);
    if (!fh || !(fh->path = jcs_strdup(path))) {
        jcs_free(fh);
        return -ENOMEM;
    }
    fh->v = v;
    pthread_mutex_init(&fh->mu, NULL);
    pthread_cond_init(&fh->cv, NULL);
    pthread_cond_init(&fh->ra_cv, NULL);
    fh->writable = (flags & O_ACCMODE) != O_RDONLY;
    bool trunc = fh->writable && (flags & O_TRUNC);
    fh->next_off = -1;
    if (jcs_stage_get(v->stage, path, &fh->sf) == 0) {
        if (fh->writable) {
            jcs_stage_open_writer(fh->sf);
            fh->writer = true;
        }
        if (trunc && (rc = jcs_stage_truncate(fh->sf, 0)) != 0)
            goto fail;
    } else if (create) {
        if ((rc = stage_fh(v, fh, true)) != 0)
            goto fail;
    } else {
        int64_t pkg;
        rc = object_now(v, &w, &fh->object_id, &fh->size, &fh->hash, &pkg);
        if (rc == JCS_ENOENT) {
            jcs_vfs_attr a;
            int r = lookup(v, path, &a);
            fh_free(fh);
            return r == 0 && a.is_dir ? -EISDIR : -ENOENT;
        }
        if (rc)
            goto fail;
        fh->exists = true;
        if (trunc && (rc = stage_fh(v, fh, true)) != 0)
            goto fail;
    }
    *out = fh;
    return 0;
fail:
    if (fh->sf) {
        if (fh->writer)
            jcs_stage_close_writer(fh->sf);
        jcs_stage_put(fh->sf);
    }
    fh_free(fh);
    return to_errno(rc, "open", path);
}

/* ---- reads of committed objects ------------------------------------------------------------- */

typedef struct blkbuf {
    char *p;
    size_t n, cap;
} blkbuf;

static int to_buf(void *arg, const void *p, size_t n)
{
    blkbuf *b = arg;
    if (b->n + n > b->cap)
        return jcs_err_set(JCS_EIO, "the service sent more than the range asked for");
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return JCS_OK;
}

static int64_t nblocks(const jcs_vfs_fh *fh)
{
    return (fh->size + BS - 1) / BS;
}

static int64_t block_len(const jcs_vfs_fh *fh, int64_t idx)
{
    int64_t l = fh->size - idx * BS;
    return l > BS ? BS : l;
}

/* Fetches block idx with a ranged download, stores it, copies [boff, boff+len) out. */
static int fetch_block(jcs_vfs *v, jcs_vfs_fh *fh, int64_t idx, size_t boff, char *dst, size_t len,
                       size_t *got)
{
    int64_t bl = block_len(fh, idx);
    blkbuf b = {jcs_malloc((size_t)bl), 0, (size_t)bl};
    if (!b.p)
        return JCS_ENOMEM;
    int rc = download(v, fh->object_id, idx * BS, bl, to_buf, &b);
    if (rc == 0 && (int64_t)b.n != bl)
        rc = jcs_err_set(JCS_EIO, "block %lld: got %zu of %lld bytes", (long long)idx, b.n,
                         (long long)bl);
    if (rc == 0) {
        /* A full cache (staged data) still lets the read go on from memory. */
        int prc = jcs_bcache_put(v->o.cache, fh->hash, idx, b.p, b.n);
        if (prc && prc != JCS_ETOOBIG)
            jcs_warn("mount: caching a block of %s: %s", fh->path, jcs_err_msg(prc));
        size_t n = boff < b.n ? b.n - boff : 0;
        if (n > len)
            n = len;
        memcpy(dst, b.p + boff, n);
        *got = n;
    }
    jcs_free(b.p);
    return rc;
}

static int ra_sink(void *arg, const void *p, size_t n)
{
    jcs_vfs_fh *fh = arg;
    ra *r = &fh->ra;
    const char *q = p;
    while (n) {
        size_t want = (size_t)block_len(fh, r->next_idx) - r->fill;
        size_t k = n < want ? n : want;
        memcpy(r->buf + r->fill, q, k);
        r->fill += k;
        q += k;
        n -= k;
        if (r->fill < (size_t)block_len(fh, r->next_idx))
            continue;
        int rc = jcs_bcache_put(fh->v->o.cache, fh->hash, r->next_idx, r->buf, r->fill);
        r->fill = 0;
        pthread_mutex_lock(&fh->mu);
        if (rc == 0)
            r->next_idx++;
        pthread_cond_broadcast(&fh->cv);
        /* Back-pressure: stay at most AHEAD_BLOCKS before the reader. */
        while (rc == 0 && !r->stop && r->next_idx > r->reader_idx + AHEAD_BLOCKS) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&fh->ra_cv, &fh->mu, &ts);
        }
        bool stop = r->stop;
        pthread_mutex_unlock(&fh->mu);
        if (rc)
            return rc;
        if (stop)
            return JCS_ECANCELED;
    }
    return JCS_OK;
}

static void *ra_main(void *arg)
{
    jcs_vfs_fh *fh = arg;
    ra *r = &fh->ra;
    int rc = download(fh->v, fh->object_id, r->start_idx * BS, -1, ra_sink, fh);
    if (rc && rc != JCS_ECANCELED)
        jcs_debug("mount: read-ahead of %s stopped: %s", fh->path, jcs_err_msg(rc));
    pthread_mutex_lock(&fh->mu);
    r->running = false;
    r->rc = rc;
    pthread_cond_broadcast(&fh->cv);
    pthread_mutex_unlock(&fh->mu);
    return NULL;
}

/* Under fh->mu: stops and joins the read-ahead thread (unlocks while joining). */
static void ra_stop(jcs_vfs_fh *fh)
{
    ra *r = &fh->ra;
    if (!r->joinable)
        return;
    r->stop = true;
    pthread_cond_broadcast(&fh->ra_cv);
    pthread_t th = r->th;
    r->joinable = false;
    pthread_mutex_unlock(&fh->mu);
    pthread_join(th, NULL);
    pthread_mutex_lock(&fh->mu);
    jcs_free(r->buf);
    r->buf = NULL;
}

/* Under fh->mu: starts a read-ahead from the first block at or after idx not yet cached. */
static void ra_start(jcs_vfs_fh *fh, int64_t idx)
{
    ra *r = &fh->ra;
    if (r->running)
        return;
    ra_stop(fh);
    int64_t j = idx;
    while (j < nblocks(fh) &&
           jcs_bcache_block_size(fh->v->o.cache, fh->hash, j) == block_len(fh, j))
        j++;
    if (j >= nblocks(fh) || j > idx + AHEAD_BLOCKS)
        return;
    if (!(r->buf = jcs_malloc(BS)))
        return;
    r->stop = false;
    r->fill = 0;
    r->start_idx = r->next_idx = j;
    r->reader_idx = idx;
    r->running = true;
    if (pthread_create(&r->th, NULL, ra_main, fh) != 0) {
        r->running = false;
        jcs_free(r->buf);
        r->buf = NULL;
        return;
    }
    r->joinable = true;
}

static int read_block(jcs_vfs *v, jcs_vfs_fh *fh, int64_t idx, size_t boff, char *dst, size_t len,
                      size_t *got)
{
    for (;;) {
        int hit = jcs_bcache_read(v->o.cache, fh->hash, idx, boff, dst, len, got);
        if (hit < 0)
            return hit;
        if (hit && (*got == len || (int64_t)(boff + *got) >= block_len(fh, idx)))
            return JCS_OK;
        pthread_mutex_lock(&fh->mu);
        ra *r = &fh->ra;
        if (idx > r->reader_idx) {
            r->reader_idx = idx;
            pthread_cond_signal(&fh->ra_cv);
        }
        bool wait = r->running && idx >= r->next_idx && idx < r->next_idx + 2 * AHEAD_BLOCKS;
        if (wait) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&fh->cv, &fh->mu, &ts);
        }
        pthread_mutex_unlock(&fh->mu);
        if (!wait)
            return fetch_block(v, fh, idx, boff, dst, len, got);
    }
}

int jcs_vfs_read(jcs_vfs *v, jcs_vfs_fh *fh, char *buf, size_t size, int64_t off)
{
    if (fh->sf) {
        size_t got;
        int rc = jcs_stage_read(fh->sf, buf, size, off, &got);
        return rc ? to_errno(rc, "read", fh->path) : (int)got;
    }
    if (off >= fh->size || size == 0)
        return 0;
    if ((int64_t)size > fh->size - off)
        size = (size_t)(fh->size - off);
    pthread_mutex_lock(&fh->mu);
    fh->seq = off == fh->next_off ? fh->seq + 1 : 0;
    fh->next_off = off + (int64_t)size;
    /* A reader that starts at 0 or reads on where it stopped is taken for a sequential one. */
    if ((fh->seq >= 1 || off == 0) && fh->size > BS)
        ra_start(fh, off / BS);
    pthread_mutex_unlock(&fh->mu);
    size_t done = 0;
    while (done < size) {
        int64_t pos = off + (int64_t)done;
        int64_t idx = pos / BS;
        size_t boff = (size_t)(pos % BS), want = size - done, got = 0;
        if (want > (size_t)(BS - (int64_t)boff))
            want = (size_t)(BS - (int64_t)boff);
        int rc = read_block(v, fh, idx, boff, buf + done, want, &got);
        if (rc)
            return to_errno(rc, "read", fh->path);
        if (got == 0)
            break;
        done += got;
    }
    return (int)done;
}

/* ---- writes ---------------------------------------------------------------------------------- */

int jcs_vfs_write(jcs_vfs *v, jcs_vfs_fh *fh, const char *buf, size_t size, int64_t off)
{
    int rc = JCS_OK;
    pthread_mutex_lock(&fh->mu);
    ra_stop(fh);
    if (!fh->sf)
        rc = stage_fh(v, fh, false);
    pthread_mutex_unlock(&fh->mu);
    if (rc == 0)
        rc = jcs_stage_write(fh->sf, buf, size, off);
    return rc ? to_errno(rc, "write", fh->path) : (int)size;
}

int jcs_vfs_truncate(jcs_vfs *v, const char *path, jcs_vfs_fh *fh, int64_t size)
{
    int rc;
    if (fh) {
        pthread_mutex_lock(&fh->mu);
        ra_stop(fh);
        rc = fh->sf ? JCS_OK : stage_fh(v, fh, size == 0);
        pthread_mutex_unlock(&fh->mu);
        if (rc == 0)
            rc = jcs_stage_truncate(fh->sf, size);
        return to_errno(rc, "truncate", path);
    }
    jcs_vfs_attr a;
    if ((rc = lookup(v, path, &a)) != 0)
        return rc;
    if (a.is_dir)
        return -EISDIR;
    jcs_vfs_fh *t;
    if ((rc = jcs_vfs_open(v, path, O_WRONLY, false, &t)) != 0)
        return rc;
    rc = t->sf ? JCS_OK : stage_fh(v, t, size == 0);
    if (rc == 0)
        rc = jcs_stage_truncate(t->sf, size);
    jcs_vfs_release(v, t);
    return to_errno(rc, "truncate", path);
}

int jcs_vfs_utimens(jcs_vfs *v, const char *path, jcs_vfs_fh *fh, int64_t mtime_ms)
{
    if (mtime_ms < 0)
        return 0;
    where w;
    int rc = parse(path, &w);
    if (rc)
        return rc;
    jcs_stage_file *sf = NULL;
    if (fh && fh->sf) {
        sf = fh->sf;
    } else if (w.level >= 3 && jcs_stage_get(v->stage, path, &sf) == 0) {
        rc = jcs_stage_set_mtime(sf, mtime_ms);
        jcs_stage_put(sf);
        return to_errno(rc, "utimens", path);
    }
    if (sf)
        return to_errno(jcs_stage_set_mtime(sf, mtime_ms), "utimens", path);
    jcs_vfs_attr a;
    if ((rc = lookup(v, path, &a)) != 0)
        return rc;
    if (a.is_dir)
        return 0; /* directories carry no time of their own */
    int64_t id, size, pkg;
    if ((rc = object_now(v, &w, &id, &size, NULL, &pkg)) != 0)
        return to_errno(rc, "utimens", path);
    char t[40];
    format_time(mtime_ms, t, sizeof t);
    json_t *b =
        json_pack("{s:[{s:I, s:s}]}", "updatings", "objectID", (json_int_t)id, "updateTime", t);
    rc = b ? jcs_rest_post(v->o.rest, "/v1/object/updateInfo", b, NULL) : JCS_ENOMEM;
    json_decref(b);
    invalidate_parent(v, path);
    return to_errno(rc, "utimens", path);
}

int jcs_vfs_fsync(jcs_vfs *v, jcs_vfs_fh *fh)
{
    if (!fh->sf)
        return 0;
    int rc = jcs_stage_flush(fh->sf);
    return to_errno(rc, "fsync", fh->path);
}

int jcs_vfs_fgetattr(jcs_vfs *v, jcs_vfs_fh *fh, jcs_vfs_attr *a)
{
    if (fh->sf) {
        memset(a, 0, sizeof *a);
        jcs_stage_stat(fh->sf, &a->size, &a->mtime_ms);
        return 0;
    }
    return lookup(v, fh->path, a);
}

void jcs_vfs_release(jcs_vfs *v, jcs_vfs_fh *fh)
{
    (void)v;
    pthread_mutex_lock(&fh->mu);
    ra_stop(fh);
    pthread_mutex_unlock(&fh->mu);
    if (fh->sf) {
        if (fh->writer)
            jcs_stage_close_writer(fh->sf);
        jcs_stage_put(fh->sf);
    }
    fh_free(fh);
}

/* ---- upload (the stage's callback), statfs, life cycle -----------------------------------------
 */

int jcs_vfs_upload(void *arg, const char *path, const char *data_file, int64_t mtime_ms)
{
    jcs_vfs *v = arg;
    where w;
    if (parse(path, &w) != 0 || w.level < 3)
        return jcs_err_set(JCS_EINVAL, "%s is not a path inside a package", path);
    int64_t pkg;
    int rc = package_id(v, &w, &pkg);
    if (rc == JCS_ENOENT) {
        /* The listing may be older than the package: ask again once. */
        char d[NAME_MAX_ + 2];
        snprintf(d, sizeof d, "/%s", w.b);
        jcs_dcache_invalidate(v->o.dcache, d);
        rc = package_id(v, &w, &pkg);
    }
    json_t *obj = NULL;
    if (rc == 0)
        rc = upload_file(v, pkg, w.rest, data_file, &obj);
    if (rc == 0 && mtime_ms >= 0) {
        char t[40];
        format_time(mtime_ms, t, sizeof t);
        json_t *b = json_pack("{s:[{s:I, s:s}]}", "updatings", "objectID",
                              (json_int_t)jint(obj, "objectID"), "updateTime", t);
        rc = b ? jcs_rest_post(v->o.rest, "/v1/object/updateInfo", b, NULL) : JCS_ENOMEM;
        json_decref(b);
    }
    /*
     * The committed object goes into the parent's cached listing (when there
     * is one) rather than forgetting it: the stage retires the file next, and
     * lookups in a directory where many files are uploaded would otherwise
     * fetch its listing again after every upload.
     */
    char dir[4096];
    parent(path, dir, sizeof dir);
    const char *h = jstr(obj, "fileHash");
    const char *ut = jstr(obj, "updateTime");
    if (rc == 0 && jint(obj, "objectID") > 0 && h && (mtime_ms >= 0 || ut))
        (void)jcs_dcache_upsert(v->o.dcache, dir, base(path), jint(obj, "size"),
                                mtime_ms >= 0 ? mtime_ms : parse_time(ut), jint(obj, "objectID"),
                                h);
    else
        jcs_dcache_invalidate(v->o.dcache, dir);
    json_decref(obj);
    if (rc)
        return jcs_err_wrap(rc, "%s: ", path);
    jcs_debug("mount: uploaded %s", path);
    return JCS_OK;
}

int jcs_vfs_statfs(jcs_vfs *v, jcs_vfs_space *st)
{
    pthread_mutex_lock(&v->mu);
    if (jcs_now_ms() < v->st_expires) {
        *st = v->st;
        pthread_mutex_unlock(&v->mu);
        return 0;
    }
    pthread_mutex_unlock(&v->mu);
    json_t *d;
    int rc = jcs_rest_get(v->o.rest, "/v1/userspace/list", NULL, &d);
    if (rc)
        return to_errno(rc, "statfs", "/");
    jcs_vfs_space s = {0, 0};
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(d, "userSpaces"), i, e)
    {
        s.used_bytes += jint(e, "usedBytes");
        s.spaces++;
    }
    json_decref(d);
    pthread_mutex_lock(&v->mu);
    v->st = s;
    v->st_expires = jcs_now_ms() + v->o.attr_timeout_ms;
    pthread_mutex_unlock(&v->mu);
    *st = s;
    return 0;
}

int jcs_vfs_new(const jcs_vfs_opts *o, jcs_vfs **out)
{
    jcs_vfs *v = jcs_calloc(1, sizeof *v);
    if (!v)
        return JCS_ENOMEM;
    v->o = *o;
    pthread_mutex_init(&v->mu, NULL);
    *out = v;
    return JCS_OK;
}

void jcs_vfs_set_stage(jcs_vfs *v, jcs_stage *s)
{
    v->stage = s;
}

void jcs_vfs_free(jcs_vfs *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->mu);
    jcs_free(v);
}
