/*
 * storage_local.c - the local-directory backend.
 *
 * Objects are files <root>/<key>. A write goes to <root>/tmp/<16 hex>.<pid>,
 * which the writer holds under flock(LOCK_EX) for its whole life: reclaim
 * removes a temp file only when it can take that lock, so it never deletes
 * the file of a live writer in any process, and a writer that died (crash,
 * kill -9) released its lock with its file descriptors. Where the file
 * system supports O_TMPFILE the temp file is created unnamed, locked, and
 * only then linked into tmp/, so not even reclaim(0) can catch it between
 * creation and locking.
 *
 * Commit: fsync(file), create missing parent directories (fsyncing the
 * directory that received each new one), rename into place, fsync the
 * parent directory. A crash at any point leaves either no object or the
 * complete one.
 *
 * Large writes bypass the page cache. Copying every shard into the page
 * cache was the largest single cost of a hub taking an EC upload (about a
 * third of the machine's CPU in a 1 GiB write, most of it allocating and
 * reclaiming cache pages for data nobody reads back soon). So bytes are
 * staged in an aligned 1 MiB buffer and written with O_DIRECT one full
 * buffer at a time; the tail, and every shard smaller than one buffer, is
 * written normally at commit (O_DIRECT is switched on only when the first
 * whole buffer goes out, so a small shard costs no fcntl). File systems
 * without O_DIRECT keep the plain path.
 *
 * Attributes (storage.h) are extended attributes "user.<name>": set on the
 * temporary file before commit's fsync and rename, they are in the same
 * inode as the bytes and as durable. Staging buffers are recycled through a small pool, so a
 * busy hub does not fault in a fresh megabyte per shard.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "storage_backend.h"
#include "util.h"

#define LOCAL_READ_CHUNK (1u << 20)

struct local {
    jcs_storage base;
    char *root;   /* no trailing '/' */
    char *tmpdir; /* <root>/tmp */
};

struct local_writer {
    jcs_storage_writer base;
    int fd;
    char *tmppath;
    int direct;     /* whole stage buffers may go with O_DIRECT (not refused yet) */
    int direct_on;  /* the descriptor has O_DIRECT set (only once a whole buffer is written) */
    uint8_t *stage; /* STAGE_SIZE bytes, 4096-aligned; NULL until the first write */
    size_t staged;  /* bytes in stage */
};

#define STAGE_SIZE  (1u << 20)
#define STAGE_ALIGN 4096
#define STAGE_POOL  16 /* idle staging buffers kept */

static pthread_mutex_t stage_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *stage_pool[STAGE_POOL];
static size_t stage_idle;

static uint8_t *stage_get(void)
{
    uint8_t *b = NULL;
    pthread_mutex_lock(&stage_mu);
    if (stage_idle > 0)
        b = stage_pool[--stage_idle];
    pthread_mutex_unlock(&stage_mu);
    return b ? b : jcs_aligned_alloc(STAGE_ALIGN, STAGE_SIZE);
}

static void stage_put(uint8_t *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&stage_mu);
    if (stage_idle < STAGE_POOL) {
        stage_pool[stage_idle++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&stage_mu);
    jcs_free(b);
}

static struct local *L(jcs_storage *s)
{
    return (struct local *)s;
}

static int io_err(struct local *l, const char *op, const char *key, int e)
{
    return jcs_err_set(e == ENOENT ? JCS_ENOENT : JCS_EIO, "%s: %s %s: %s", l->base.name, op, key,
                       e == ENOENT ? "no such object" : strerror(e));
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/*
 * Creates the missing directories of path's parent below root, fsyncing the
 * directory each new one was created in so the new entry survives a crash.
 * path is modified temporarily.
 */
static int ensure_parent(struct local *l, char *path)
{
    char *last = strrchr(path, '/');
    size_t rootlen = strlen(l->root);
    if (!last || (size_t)(last - path) <= rootlen)
        return 0;
    *last = '\0';
    struct stat st;
    int r = 0;
    if (stat(path, &st) != 0) {
        /* Walk down from the root, creating each missing component. */
        for (char *p = path + rootlen + 1;; p++) {
            if (*p == '/' || *p == '\0') {
                char c = *p;
                *p = '\0';
                if (mkdir(path, 0755) == 0) {
                    char *parent_end = strrchr(path, '/');
                    *parent_end = '\0';
                    if (fsync_dir(path) != 0)
                        r = -1;
                    *parent_end = '/';
                } else if (errno != EEXIST) {
                    r = -1;
                }
                *p = c;
                if (c == '\0' || r)
                    break;
            }
        }
    }
    *last = '/';
    return r;
}

/* Creates and locks the temp file; see the note at the top about O_TMPFILE. */
static int create_temp(struct local *l, const char *path)
{
#ifdef O_TMPFILE
    int fd = open(l->tmpdir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (flock(fd, LOCK_EX) == 0 &&
            linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
            return fd;
        close(fd);
    }
#endif
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e;
        return -1;
    }
    return fd;
}

static int local_write_begin(jcs_storage *s, jcs_storage_writer **out)
{
    struct local *l = L(s);
    struct local_writer *w = jcs_calloc(1, sizeof(*w));
    char hex[17];
    jcs_unique_hex(hex);
    char *path = w ? jcs_asprintf("%s/%s.%d", l->tmpdir, hex, (int)getpid()) : NULL;
    if (!path) {
        jcs_free(w);
        return jcs_err_set(JCS_ENOMEM, "%s: write: out of memory", s->name);
    }
    int fd = create_temp(l, path);
    if (fd < 0) {
        int rc =
            jcs_err_set(JCS_EIO, "%s: create temp file %s: %s", s->name, path, strerror(errno));
        jcs_free(path);
        jcs_free(w);
        return rc;
    }
    w->base.s = s;
    w->fd = fd;
    w->tmppath = path;
    /* O_DIRECT is set when the first whole stage buffer goes out: a small shard, written at
     * commit in one piece, never pays the two fcntl calls on and the two off. */
    w->direct = 1;
    *out = &w->base;
    return JCS_OK;
}

/* Writes all of p (n bytes) at the file's position. */
static int write_all(struct local_writer *w, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* write_all's result as a jcs_err naming the file (0 stays 0). */
static int write_err(const struct local_writer *w, int e)
{
    return e ? jcs_err_set(JCS_EIO, "%s: write %s: %s", w->base.s->name, w->tmppath, strerror(-e))
             : JCS_OK;
}

/* Leaves O_DIRECT for the rest of the file (the tail, or a file system that refused it). */
static void direct_off(struct local_writer *w)
{
    int fl = w->direct_on ? fcntl(w->fd, F_GETFL) : -1;
    if (fl >= 0)
        (void)fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
    w->direct = w->direct_on = 0;
}

/* Writes out what is staged: a full buffer with O_DIRECT, anything else (the tail) normally. */
static int flush_stage(struct local_writer *w)
{
    if (w->staged == 0)
        return 0;
    if (w->direct && w->staged != STAGE_SIZE)
        direct_off(w);
    if (w->direct && !w->direct_on) {
        int fl = fcntl(w->fd, F_GETFL);
        if (fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0)
            w->direct_on = 1;
        else
            w->direct = 0;
    }
    int e = write_all(w, w->stage, w->staged);
    if (e == -EINVAL && w->direct) {
        /* Accepted at open, refused at write (some file systems): go buffered. */
        direct_off(w);
        e = write_all(w, w->stage, w->staged);
    }
    if (e)
        return write_err(w, e);
    w->staged = 0;
    return 0;
}

static int local_write(jcs_storage_writer *bw, const void *data, size_t n)
{
    struct local_writer *w = (struct local_writer *)bw;
    if (!w->direct)
        return write_err(w, write_all(w, data, n));
    if (!w->stage && !(w->stage = stage_get()))
        return jcs_err_set(JCS_ENOMEM, "%s: write %s: out of memory", bw->s->name, w->tmppath);
    const uint8_t *p = data;
    while (n) {
        size_t k = STAGE_SIZE - w->staged < n ? STAGE_SIZE - w->staged : n;
        memcpy(w->stage + w->staged, p, k);
        w->staged += k;
        p += k;
        n -= k;
        if (w->staged == STAGE_SIZE) {
            int rc = flush_stage(w);
            if (rc)
                return rc;
            if (!w->direct && n) {
                /* O_DIRECT was refused: the rest goes straight to the file. */
                return write_err(w, write_all(w, p, n));
            }
        }
    }
    return JCS_OK;
}

static void writer_free(struct local_writer *w, int unlink_temp)
{
    stage_put(w->stage);
    if (unlink_temp)
        unlink(w->tmppath);
    if (w->fd >= 0)
        close(w->fd);
    jcs_free(w->tmppath);
    jcs_free(w);
}

static int local_commit(jcs_storage_writer *bw, const char *key)
{
    struct local_writer *w = (struct local_writer *)bw;
    struct local *l = L(bw->s);
    int rc = JCS_OK;
    char *dest = jcs_asprintf("%s/%s", l->root, key);
    if (!dest) {
        rc = jcs_err_set(JCS_ENOMEM, "%s: commit %s: out of memory", l->base.name, key);
    } else if ((rc = flush_stage(w)) != 0) {
        /* rc says what failed */
    } else if (fsync(w->fd) != 0) {
        rc = jcs_err_set(JCS_EIO, "%s: commit %s: fsync: %s", l->base.name, key, strerror(errno));
    } else if (ensure_parent(l, dest) != 0) {
        rc = jcs_err_set(JCS_EIO, "%s: commit %s: create directory: %s", l->base.name, key,
                         strerror(errno));
    } else if (rename(w->tmppath, dest) != 0) {
        rc = jcs_err_set(JCS_EIO, "%s: commit %s: rename: %s", l->base.name, key, strerror(errno));
    } else {
        /* The rename is durable only once the directory holding the new name is synced. */
        char *slash = strrchr(dest, '/');
        *slash = '\0';
        if (fsync_dir(dest) != 0)
            rc = jcs_err_set(JCS_EIO, "%s: commit %s: fsync directory: %s", l->base.name, key,
                             strerror(errno));
        writer_free(w, 0);
        jcs_free(dest);
        return rc;
    }
    writer_free(w, 1);
    jcs_free(dest);
    return rc;
}

/*
 * Commits two writers as local_commit would, sharing the expensive steps: both files are
 * written back together (sync_file_range starts the writeback of both, so the journal
 * commit of the first fsync also carries the second file's block allocation and its fsync
 * finds nothing left to commit), both are renamed in order, and the directory is synced
 * once when both land in the same one. For a small shard and its sidecar this is two
 * journal commits instead of four (see docs/DESIGN.md, the small-object path).
 */
static int local_commit_pair(jcs_storage_writer *bw0, const char *key0, jcs_storage_writer *bw1,
                             const char *key1)
{
    struct local_writer *w[2] = {(struct local_writer *)bw0, (struct local_writer *)bw1};
    const char *key[2] = {key0, key1};
    struct local *l = L(bw0->s);
    char *dest[2] = {jcs_asprintf("%s/%s", l->root, key0), jcs_asprintf("%s/%s", l->root, key1)};
    int rc = JCS_OK, renamed[2] = {0, 0};
    if (!dest[0] || !dest[1])
        rc = jcs_err_set(JCS_ENOMEM, "%s: commit %s: out of memory", l->base.name, key1);
    for (int i = 0; rc == JCS_OK && i < 2; i++)
        if ((rc = flush_stage(w[i])) == 0)
            (void)sync_file_range(w[i]->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    for (int i = 0; rc == JCS_OK && i < 2; i++)
        if (fsync(w[i]->fd) != 0)
            rc = jcs_err_set(JCS_EIO, "%s: commit %s: fsync: %s", l->base.name, key[i],
                             strerror(errno));
    for (int i = 0; rc == JCS_OK && i < 2; i++) {
        if (ensure_parent(l, dest[i]) != 0)
            rc = jcs_err_set(JCS_EIO, "%s: commit %s: create directory: %s", l->base.name, key[i],
                             strerror(errno));
        else if (rename(w[i]->tmppath, dest[i]) != 0)
            rc = jcs_err_set(JCS_EIO, "%s: commit %s: rename: %s", l->base.name, key[i],
                             strerror(errno));
        else
            renamed[i] = 1;
    }
    /* The renames are durable once the directories holding the new names are synced. */
    for (int i = 0; i < 2; i++) {
        if (!renamed[i])
            continue;
        char *slash = strrchr(dest[i], '/');
        *slash = '\0';
        int same = i == 1 && renamed[0] && strcmp(dest[0], dest[1]) == 0;
        if (!same && fsync_dir(dest[i]) != 0 && rc == JCS_OK)
            rc = jcs_err_set(JCS_EIO, "%s: commit %s: fsync directory: %s", l->base.name, key[i],
                             strerror(errno));
    }
    writer_free(w[0], !renamed[0]);
    writer_free(w[1], !renamed[1]);
    jcs_free(dest[0]);
    jcs_free(dest[1]);
    return rc;
}

/* "user." + name: the namespace any user may write on a file system with xattrs. */
static void attr_name(const char *name, char out[48])
{
    snprintf(out, 48, "user.%s", name);
}

/* The errors by which a file system says it cannot keep this attribute (not a failure). */
static int attr_refused(int e)
{
    return e == ENOTSUP || e == EOPNOTSUPP || e == ENOSPC || e == E2BIG || e == ERANGE ||
           e == EDQUOT;
}

static int local_writer_set_attr(jcs_storage_writer *bw, const char *name, const void *val,
                                 size_t len, int *kept)
{
    struct local_writer *w = (struct local_writer *)bw;
    char xn[48];
    attr_name(name, xn);
    if (fsetxattr(w->fd, xn, val, len, 0) == 0) {
        *kept = 1;
        return JCS_OK;
    }
    if (attr_refused(errno))
        return JCS_OK;
    return jcs_err_set(JCS_EIO, "%s: set attribute %s of %s: %s", bw->s->name, xn, w->tmppath,
                       strerror(errno));
}

static int local_set_attr(jcs_storage *s, const char *key, const char *name, const void *val,
                          size_t len, int *kept)
{
    struct local *l = L(s);
    char *path = jcs_asprintf("%s/%s", l->root, key);
    if (!path)
        return jcs_err_set(JCS_ENOMEM, "%s: set attribute of %s: out of memory", s->name, key);
    char xn[48];
    attr_name(name, xn);
    int rc = JCS_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    jcs_free(path);
    if (fd < 0)
        return io_err(l, "set attribute of", key, errno);
    /* The attribute is durable once the inode is: fsync, as for the bytes at commit. */
    if (fsetxattr(fd, xn, val, len, 0) == 0) {
        if (fsync(fd) == 0)
            *kept = 1;
        else
            rc = jcs_err_set(JCS_EIO, "%s: set attribute %s of %s: fsync: %s", s->name, xn, key,
                             strerror(errno));
    } else if (!attr_refused(errno)) {
        rc = jcs_err_set(JCS_EIO, "%s: set attribute %s of %s: %s", s->name, xn, key,
                         strerror(errno));
    }
    close(fd);
    return rc;
}

static int local_get_attr(jcs_storage *s, const char *key, const char *name, void *buf, size_t cap,
                          size_t *len)
{
    struct local *l = L(s);
    char *path = jcs_asprintf("%s/%s", l->root, key);
    if (!path)
        return jcs_err_set(JCS_ENOMEM, "%s: get attribute of %s: out of memory", s->name, key);
    char xn[48];
    attr_name(name, xn);
    ssize_t n = getxattr(path, xn, buf, cap);
    int e = errno;
    jcs_free(path);
    if (n >= 0) {
        *len = (size_t)n;
        return JCS_OK;
    }
    if (e == ENODATA || e == ENOTSUP || e == EOPNOTSUPP)
        return JCS_OK; /* no such attribute: *len stays 0 */
    if (e == ERANGE)
        return jcs_err_set(JCS_ETOOBIG, "%s: attribute %s of %s: over %zu bytes", s->name, xn, key,
                           cap);
    return io_err(l, "get attribute of", key, e);
}

static void local_abort(jcs_storage_writer *bw)
{
    writer_free((struct local_writer *)bw, 1);
}

/*
 * Reads [*off, *off + *len) with O_DIRECT in aligned STAGE_SIZE blocks. *done is 1 when all
 * was read; 0 when O_DIRECT is not available (then *off and *len say what is left for the
 * buffered path, the descriptor back in buffered mode).
 */
static int read_direct(struct local *l, int fd, const char *key, uint64_t *off, uint64_t *len,
                       jcs_storage_sink sink, void *arg, int *done)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0)
        return 0;
    uint8_t *buf = stage_get();
    if (!buf) {
        (void)fcntl(fd, F_SETFL, fl);
        return 0;
    }
    int rc = 0;
    while (*len) {
        uint64_t at = *off & ~(uint64_t)(STAGE_ALIGN - 1);
        ssize_t k = pread(fd, buf, STAGE_SIZE, (off_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EINVAL) {
            (void)fcntl(fd, F_SETFL, fl); /* refused after all: the buffered path goes on */
            break;
        }
        size_t skip = (size_t)(*off - at);
        if (k <= (ssize_t)skip) {
            rc = jcs_err_set(JCS_EIO, "%s: read %s at %llu: %s", l->base.name, key,
                             (unsigned long long)*off, k < 0 ? strerror(errno) : "file shrank");
            break;
        }
        size_t n = (size_t)k - skip;
        if (n > *len)
            n = (size_t)*len;
        if ((rc = sink(arg, buf + skip, n)) != 0)
            break;
        *off += n;
        *len -= n;
    }
    stage_put(buf);
    *done = rc == 0 && *len == 0;
    return rc;
}

static int local_read(jcs_storage *s, const char *key, uint64_t off, uint64_t len,
                      jcs_storage_sink sink, void *arg)
{
    struct local *l = L(s);
    char *path = jcs_asprintf("%s/%s", l->root, key);
    if (!path)
        return jcs_err_set(JCS_ENOMEM, "%s: read %s: out of memory", s->name, key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    jcs_free(path);
    if (fd < 0)
        return io_err(l, "read", key, errno);
    struct stat st;
    int rc = JCS_OK;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = io_err(l, "read", key, errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = io_err(l, "read", key, ENOENT);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (len == JCS_STORAGE_TO_END)
        len = off <= size ? size - off : 0;
    if (off > size || len > size - off) {
        rc = jcs_err_set(JCS_EINVAL, "%s: read %s: range [%llu, %llu) is past the end (size %llu)",
                         s->name, key, (unsigned long long)off, (unsigned long long)(off + len),
                         (unsigned long long)size);
        goto out;
    }
    if (len == 0)
        goto out;
    if (len >= STAGE_SIZE) {
        /* Large reads bypass the page cache too (see the note at the top): whole aligned
         * megabytes straight into a staging buffer, the wanted part handed on. */
        int done = 0;
        rc = read_direct(l, fd, key, &off, &len, sink, arg, &done);
        if (rc || done)
            goto out;
    }
    size_t chunk = len < LOCAL_READ_CHUNK ? (size_t)len : LOCAL_READ_CHUNK;
    buf = jcs_malloc(chunk);
    if (!buf) {
        rc = jcs_err_set(JCS_ENOMEM, "%s: read %s: out of memory", s->name, key);
        goto out;
    }
    if (len > LOCAL_READ_CHUNK)
        posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL); /* one pread needs none */
    while (len) {
        size_t want = len < chunk ? (size_t)len : chunk;
        ssize_t k = pread(fd, buf, want, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = jcs_err_set(JCS_EIO, "%s: read %s at %llu: %s", s->name, key,
                             (unsigned long long)off, k < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        rc = sink(arg, buf, (size_t)k);
        if (rc)
            goto out;
        off += (uint64_t)k;
        len -= (uint64_t)k;
    }
out:
    jcs_free(buf);
    close(fd);
    return rc;
}

static int local_stat(jcs_storage *s, const char *key, struct jcs_storage_stat *out)
{
    struct local *l = L(s);
    char *path = jcs_asprintf("%s/%s", l->root, key);
    if (!path)
        return jcs_err_set(JCS_ENOMEM, "%s: stat %s: out of memory", s->name, key);
    struct stat st;
    int r = stat(path, &st);
    int e = errno;
    jcs_free(path);
    if (r != 0)
        return io_err(l, "stat", key, e);
    if (!S_ISREG(st.st_mode))
        return io_err(l, "stat", key, ENOENT);
    out->size = (uint64_t)st.st_size;
    out->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    return JCS_OK;
}

struct walk {
    struct local *l;
    jcs_storage_list_fn fn;
    void *arg;
    char key[JCS_STORAGE_KEY_MAX + 512];
};

/*
 * Lists directory fd, whose entries have keys w->key[0..klen) + name; only
 * names starting with filter count at this level.
 */
static int walk_dir(struct walk *w, int dfd, size_t klen, const char *filter)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return jcs_err_set(JCS_EIO, "%s: list %.*s: %s", w->l->base.name, (int)klen, w->key,
                           strerror(e));
    }
    size_t flen = strlen(filter);
    int rc = JCS_OK;
    struct dirent *de;
    while (!rc && (errno = 0, de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strncmp(name, filter, flen) != 0)
            continue;
        /* tmp/ at the root is the writers' scratch area, not objects. */
        if (klen == 0 && strcmp(name, "tmp") == 0)
            continue;
        size_t nlen = strlen(name);
        if (klen + nlen + 2 > sizeof(w->key))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* deleted meanwhile */
        memcpy(w->key + klen, name, nlen + 1);
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (sub < 0)
                continue;
            w->key[klen + nlen] = '/';
            w->key[klen + nlen + 1] = '\0';
            rc = walk_dir(w, sub, klen + nlen + 1, "");
        } else if (S_ISREG(st.st_mode)) {
            struct jcs_storage_stat ss = {.size = (uint64_t)st.st_size,
                                          .mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
                                                      st.st_mtim.tv_nsec / 1000000};
            rc = w->fn(w->arg, w->key, &ss);
        }
    }
    if (!rc && errno)
        rc = jcs_err_set(JCS_EIO, "%s: list %.*s: %s", w->l->base.name, (int)klen, w->key,
                         strerror(errno));
    closedir(d);
    return rc;
}

static int local_list(jcs_storage *s, const char *prefix, jcs_storage_list_fn fn, void *arg)
{
    struct local *l = L(s);
    struct walk *w = jcs_malloc(sizeof(*w));
    if (!w)
        return jcs_err_set(JCS_ENOMEM, "%s: list: out of memory", s->name);
    w->l = l;
    w->fn = fn;
    w->arg = arg;
    /* Start in the prefix's directory; its last partial segment filters names there. */
    const char *slash = strrchr(prefix, '/');
    size_t dlen = slash ? (size_t)(slash - prefix) + 1 : 0;
    memcpy(w->key, prefix, dlen);
    w->key[dlen] = '\0';
    char *dir = jcs_asprintf("%s/%s", l->root, w->key);
    if (!dir) {
        jcs_free(w);
        return jcs_err_set(JCS_ENOMEM, "%s: list: out of memory", s->name);
    }
    int rc = JCS_OK;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        rc = walk_dir(w, dfd, dlen, prefix + dlen);
    else if (errno != ENOENT && errno != ENOTDIR)
        rc = jcs_err_set(JCS_EIO, "%s: list %s: %s", s->name, prefix, strerror(errno));
    jcs_free(dir);
    jcs_free(w);
    return rc;
}

static int local_del(jcs_storage *s, const char *key)
{
    struct local *l = L(s);
    char *path = jcs_asprintf("%s/%s", l->root, key);
    if (!path)
        return jcs_err_set(JCS_ENOMEM, "%s: delete %s: out of memory", s->name, key);
    int r = unlink(path);
    int e = errno;
    jcs_free(path);
    if (r != 0 && e != ENOENT)
        return jcs_err_set(JCS_EIO, "%s: delete %s: %s", s->name, key, strerror(e));
    return JCS_OK;
}

static int local_reclaim(jcs_storage *s, int64_t min_age_ms, unsigned *removed)
{
    struct local *l = L(s);
    DIR *d = opendir(l->tmpdir);
    if (!d)
        return jcs_err_set(JCS_EIO, "%s: reclaim %s: %s", s->name, l->tmpdir, strerror(errno));
    int64_t now = jcs_wall_ms();
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (now - mtime < min_age_ms)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        /* A live writer holds the lock: its file is not garbage, however old. */
        struct stat st2;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st2) == 0 && st2.st_ino == st.st_ino &&
            st2.st_nlink > 0) {
            if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
                (*removed)++;
                jcs_debug("%s: reclaimed temp file %s (%lld bytes)", s->name, de->d_name,
                          (long long)st.st_size);
            }
        }
        close(fd);
    }
    closedir(d);
    return JCS_OK;
}

static void local_close(jcs_storage *s)
{
    struct local *l = L(s);
    jcs_free(l->root);
    jcs_free(l->tmpdir);
    jcs_free(l->base.name);
    jcs_free(l);
}

static const struct jcs_storage_ops local_ops = {
    .write_begin = local_write_begin,
    .write = local_write,
    .commit = local_commit,
    .commit_pair = local_commit_pair,
    .abort = local_abort,
    .writer_set_attr = local_writer_set_attr,
    .set_attr = local_set_attr,
    .get_attr = local_get_attr,
    .read = local_read,
    .stat = local_stat,
    .list = local_list,
    .del = local_del,
    .del_many = NULL,
    .reclaim = local_reclaim,
    .close = local_close,
};

int jcs_storage_local_open(const struct jcs_storage_config *cfg, jcs_storage **out)
{
    const char *root = cfg->local_root;
    if (!root || !*root)
        return jcs_err_set(JCS_ECONFIG, "local storage: field root: missing");
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    struct local *l = jcs_calloc(1, sizeof(*l));
    if (!l)
        return jcs_err_set(JCS_ENOMEM, "local storage %s: out of memory", root);
    l->base.ops = &local_ops;
    l->root = jcs_strndup(root, n);
    l->tmpdir = l->root ? jcs_asprintf("%s/tmp", l->root) : NULL;
    l->base.name = l->root ? jcs_asprintf("local %s", l->root) : NULL;
    if (!l->root || !l->tmpdir || !l->base.name) {
        local_close(&l->base);
        return jcs_err_set(JCS_ENOMEM, "local storage %s: out of memory", root);
    }
    int rc = jcs_mkdirs(l->tmpdir, 0755);
    if (rc) {
        rc = jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "local storage %s: ", l->root);
        local_close(&l->base);
        return rc;
    }
    if (access(l->tmpdir, W_OK | X_OK) != 0) {
        rc = jcs_err_set(JCS_ECONFIG, "local storage %s: not writable: %s", l->root,
                         strerror(errno));
        local_close(&l->base);
        return rc;
    }
    *out = &l->base;
    return JCS_OK;
}
