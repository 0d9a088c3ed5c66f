/* The FUSE adapter: fuse_operations over the vfs, the mount and its loop. */
#define FUSE_USE_VERSION 35
#include "fsops.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

typedef struct ctx {
    jcs_vfs *v;
    const jcs_fsops_opts *o;
    int64_t start_ms; /* the time shown for what has none (directories) */
} ctx;

static ctx *me(void)
{
    return fuse_get_context()->private_data;
}

static jcs_vfs_fh *fh_of(const struct fuse_file_info *fi)
{
    return fi ? (jcs_vfs_fh *)(uintptr_t)fi->fh : NULL;
}

static void to_stat(const jcs_vfs_attr *a, struct stat *st)
{
    ctx *c = me();
    memset(st, 0, sizeof *st);
    st->st_mode = a->is_dir ? S_IFDIR | 0755 : S_IFREG | 0644;
    st->st_nlink = a->is_dir ? 2 : 1;
    st->st_uid = c->o->uid;
    st->st_gid = c->o->gid;
    st->st_size = a->size;
    st->st_blksize = 1 << 20;
    st->st_blocks = (a->size + 511) / 512;
    int64_t t = a->mtime_ms ? a->mtime_ms : c->start_ms;
    st->st_mtim.tv_sec = t / 1000;
    st->st_mtim.tv_nsec = (t % 1000) * 1000000;
    st->st_atim = st->st_ctim = st->st_mtim;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    ctx *c = me();
    double t = (double)c->o->attr_timeout_ms / 1000.0;
    cfg->attr_timeout = t;
    cfg->entry_timeout = t;
    cfg->negative_timeout = 0;
    cfg->use_ino = 0;
    cfg->hard_remove = 1; /* no .fuse_hidden files: an unlinked open file is the vfs's business */
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;
    cfg->nullpath_ok = 0;
    conn->max_write = 1 << 20;
    conn->max_readahead = 1 << 20;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    return c;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    jcs_vfs_attr a;
    jcs_vfs_fh *fh = fh_of(fi);
    int rc = fh ? jcs_vfs_fgetattr(me()->v, fh, &a) : jcs_vfs_getattr(me()->v, path, &a);
    if (rc == 0)
        to_stat(&a, st);
    return rc;
}

typedef struct dirfill {
    void *buf;
    fuse_fill_dir_t filler;
} dirfill;

static int dir_fill(void *arg, const char *name, const jcs_vfs_attr *a)
{
    dirfill *d = arg;
    struct stat st;
    to_stat(a, &st);
    return d->filler(d->buf, name, &st, 0, 0);
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)off, (void)fi, (void)flags;
    dirfill d = {buf, filler};
    return jcs_vfs_readdir(me()->v, path, dir_fill, &d);
}

static int op_mkdir(const char *path, mode_t mode)
{
    (void)mode;
    return jcs_vfs_mkdir(me()->v, path);
}

static int op_rmdir(const char *path)
{
    return jcs_vfs_rmdir(me()->v, path);
}

static int op_unlink(const char *path)
{
    return jcs_vfs_unlink(me()->v, path);
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
    if (flags & RENAME_EXCHANGE)
        return -EINVAL;
    return jcs_vfs_rename(me()->v, from, to, (flags & RENAME_NOREPLACE) != 0);
}

/* JCS keeps no mode or owner: accepted, nothing changes (documented in README). */
static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    (void)mode;
    jcs_vfs_attr a;
    return fi ? 0 : jcs_vfs_getattr(me()->v, path, &a);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    (void)uid, (void)gid;
    jcs_vfs_attr a;
    return fi ? 0 : jcs_vfs_getattr(me()->v, path, &a);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    return jcs_vfs_truncate(me()->v, path, fh_of(fi), size);
}

static int open_common(const char *path, struct fuse_file_info *fi, bool create)
{
    jcs_vfs_fh *fh;
    int rc = jcs_vfs_open(me()->v, path, fi->flags, create, &fh);
    if (rc)
        return rc;
    fi->fh = (uint64_t)(uintptr_t)fh;
    fi->keep_cache = 0;
    fi->direct_io = 0;
    return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
    return open_common(path, fi, false);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    (void)mode;
    return open_common(path, fi, true);
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    return jcs_vfs_read(me()->v, fh_of(fi), buf, size, off);
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)path;
    return jcs_vfs_write(me()->v, fh_of(fi), buf, size, off);
}

static int op_statfs(const char *path, struct statvfs *st)
{
    (void)path;
    jcs_vfs_space s;
    int rc = jcs_vfs_statfs(me()->v, &s);
    if (rc)
        return rc;
    /* The clouds report no capacity: free space is shown as 1 PiB beyond what is used. */
    const uint64_t bs = 4096, free_blocks = (1ull << 50) / bs;
    memset(st, 0, sizeof *st);
    st->f_bsize = st->f_frsize = bs;
    st->f_blocks = (uint64_t)s.used_bytes / bs + free_blocks;
    st->f_bfree = st->f_bavail = free_blocks;
    st->f_files = 1ull << 32;
    st->f_ffree = st->f_favail = 1ull << 32;
    st->f_namemax = 255;
    return 0;
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path, (void)fi;
    return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    jcs_vfs_release(me()->v, fh_of(fi));
    return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path, (void)datasync;
    return jcs_vfs_fsync(me()->v, fh_of(fi));
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    int64_t ms;
    if (!tv || tv[1].tv_nsec == UTIME_NOW)
        ms = jcs_wall_ms();
    else if (tv[1].tv_nsec == UTIME_OMIT)
        return 0;
    else
        ms = (int64_t)tv[1].tv_sec * 1000 + tv[1].tv_nsec / 1000000;
    return jcs_vfs_utimens(me()->v, path, fh_of(fi), ms);
}

static const struct fuse_operations ops = {
    .init = op_init,
    .getattr = op_getattr,
    .readdir = op_readdir,
    .mkdir = op_mkdir,
    .rmdir = op_rmdir,
    .unlink = op_unlink,
    .rename = op_rename,
    .chmod = op_chmod,
    .chown = op_chown,
    .truncate = op_truncate,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .statfs = op_statfs,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .utimens = op_utimens,
};

/*
 * The kernel caps a FUSE file system's read-ahead at the default 128 KiB
 * whatever max_readahead says, so sequential reads arrive in 128 KiB
 * requests. Raising the backing device's read_ahead_kb (found through
 * /proc/self/mountinfo: stat() of the mount point would wait for the loop
 * that is not running yet) makes them 1 MiB. Best effort: without it, reads
 * are only slower.
 */
static void raise_readahead(const char *mountpoint)
{
    char *abs = realpath(mountpoint, NULL);
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096], dev[64] = "";
    while (abs && f && fgets(line, sizeof line, f)) {
        char mdev[64], mp[2048];
        if (sscanf(line, "%*d %*d %63s %*s %2047s", mdev, mp) == 2 && strcmp(mp, abs) == 0 &&
            strstr(line, "fuse.jcs"))
            snprintf(dev, sizeof dev, "%s", mdev);
    }
    if (f)
        fclose(f);
    free(abs);
    if (!dev[0])
        return;
    char path[128];
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1024", 4) != 4)
        jcs_debug("mount: cannot raise %s (reads stay 128 KiB): %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

int jcs_fsops_run(jcs_vfs *v, const jcs_fsops_opts *o)
{
    ctx c = {v, o, jcs_wall_ms()};
    char opts[1024];
    snprintf(opts, sizeof opts, "fsname=jcs,subtype=jcs%s%s", o->fuse_options ? "," : "",
             o->fuse_options ? o->fuse_options : "");
    char *argv[] = {"jcs-mount", "-o", opts, o->debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);
    struct fuse *f = fuse_new(&args, &ops, sizeof ops, &c);
    if (!f) {
        fuse_opt_free_args(&args);
        return jcs_err_set(JCS_EINVAL, "mount %s: bad FUSE options \"%s\"", o->mountpoint, opts);
    }
    if (fuse_mount(f, o->mountpoint) != 0) {
        fuse_destroy(f);
        fuse_opt_free_args(&args);
        return jcs_err_set(JCS_EIO,
                           "cannot mount at %s (does it exist, is it empty or already mounted, "
                           "is /dev/fuse there and are you root?)",
                           o->mountpoint);
    }
    struct fuse_session *se = fuse_get_session(f);
    raise_readahead(o->mountpoint);
    int rc = JCS_OK;
    if (fuse_set_signal_handlers(se) != 0)
        rc = jcs_err_set(JCS_EIO, "mount %s: cannot install signal handlers", o->mountpoint);
    if (rc == 0 && o->ready_file &&
        (rc = jcs_write_file(o->ready_file, o->mountpoint, strlen(o->mountpoint), 0644)) != 0)
        jcs_error("mount: ready file %s: %s", o->ready_file, jcs_err_msg(rc));
    if (rc == 0) {
        jcs_info("mount: serving %s", o->mountpoint);
        struct fuse_loop_config lc;
        memset(&lc, 0, sizeof lc);
        lc.clone_fd = 0;
        lc.max_idle_threads = 16;
        /* Non-zero also when a signal ended it; a real failure shows as an unmount. */
        int lr = fuse_loop_mt(f, &lc);
        jcs_info("mount: the FUSE loop of %s ended (%d)", o->mountpoint, lr);
        fuse_remove_signal_handlers(se);
    }
    fuse_unmount(f);
    fuse_destroy(f);
    fuse_opt_free_args(&args);
    jcs_info("mount: %s unmounted", o->mountpoint);
    return rc;
}
