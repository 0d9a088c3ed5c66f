/*
 * client/mount/vfs.h - the mount's file system: JointCloud names as a tree.
 *
 *   /                      the buckets
 *   /BUCKET                its packages
 *   /BUCKET/PACKAGE/a/b    object "a/b" of that package; "a" is a directory
 *
 * A directory inside a package exists while an object lies under it. An
 * empty one (mkdir, or the last file removed) keeps a hidden empty object
 * "DIR/.jcs-mount-dir" so that it survives a remount and is seen by other
 * mounts; listings never show that name and it cannot be created.
 *
 * Reads of committed objects go through the block cache (bcache.h): a miss
 * downloads that 1 MiB block with a ranged request; a reader seen reading
 * sequentially gets one streaming download running ahead of it (at most
 * 16 MiB ahead). Writes go to the stage (stage.h): a file is staged on
 * creation, on O_TRUNC, or on its first write or truncate (an existing
 * object is downloaded into the stage first), and uploaded later.
 *
 * Consistency (close-to-open): opening a file asks the service for the
 * object's current version (unless it is staged here), so a file opened
 * after another mount's upload committed sees the new contents; attributes
 * and listings are cached for attrTimeout.
 *
 * This layer speaks POSIX: functions return 0 (or a byte count) or a
 * negative errno, because that is the contract FUSE passes on to programs
 * and jcs_err has no ENOTEMPTY or EISDIR. A refusal of the cluster that no
 * errno describes is EIO with a log line naming the path.
 */
#ifndef JCS_MOUNT_VFS_H
#define JCS_MOUNT_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bcache.h"
#include "dcache.h"
#include "rest.h"
#include "stage.h"

#define JCS_VFS_DIR_MARKER ".jcs-mount-dir"

typedef struct jcs_vfs jcs_vfs;
typedef struct jcs_vfs_fh jcs_vfs_fh;

typedef struct jcs_vfs_opts {
    jcs_rest *rest;
    jcs_bcache *cache;
    jcs_dcache *dcache;
    const char *redundancy_json; /* of packages made by mkdir, e.g. {"type":"none"} */
    const char *empty_file;      /* an empty local file (uploaded as directory markers) */
    int64_t attr_timeout_ms;
} jcs_vfs_opts;

typedef struct jcs_vfs_attr {
    bool is_dir;
    int64_t size;
    int64_t mtime_ms;
} jcs_vfs_attr;

typedef struct jcs_vfs_space {
    int64_t used_bytes; /* the user spaces' usedBytes summed */
    int64_t spaces;
} jcs_vfs_space;

int jcs_vfs_new(const jcs_vfs_opts *o, jcs_vfs **out) JCS_MUST_USE;
/* The stage is opened after the vfs (its upload function is jcs_vfs_upload). */
void jcs_vfs_set_stage(jcs_vfs *v, jcs_stage *s);
void jcs_vfs_free(jcs_vfs *v);

/* The stage's upload function (arg = the vfs). Returns a jcs_err. */
int jcs_vfs_upload(void *vfs, const char *path, const char *data_file, int64_t mtime_ms);

typedef int (*jcs_vfs_fill_fn)(void *arg, const char *name, const jcs_vfs_attr *a);

int jcs_vfs_getattr(jcs_vfs *v, const char *path, jcs_vfs_attr *a);
int jcs_vfs_readdir(jcs_vfs *v, const char *path, jcs_vfs_fill_fn fill, void *arg);
int jcs_vfs_mkdir(jcs_vfs *v, const char *path);
int jcs_vfs_rmdir(jcs_vfs *v, const char *path);
int jcs_vfs_unlink(jcs_vfs *v, const char *path);
/* noreplace: RENAME_NOREPLACE. */
int jcs_vfs_rename(jcs_vfs *v, const char *from, const char *to, bool noreplace);
int jcs_vfs_truncate(jcs_vfs *v, const char *path, jcs_vfs_fh *fh, int64_t size);
/* mtime_ms < 0: leave as is. */
int jcs_vfs_utimens(jcs_vfs *v, const char *path, jcs_vfs_fh *fh, int64_t mtime_ms);
int jcs_vfs_statfs(jcs_vfs *v, jcs_vfs_space *st);

/* flags as open(2). create: the file is new (O_CREAT). */
int jcs_vfs_open(jcs_vfs *v, const char *path, int flags, bool create, jcs_vfs_fh **fh);
int jcs_vfs_read(jcs_vfs *v, jcs_vfs_fh *fh, char *buf, size_t size, int64_t off);
int jcs_vfs_write(jcs_vfs *v, jcs_vfs_fh *fh, const char *buf, size_t size, int64_t off);
int jcs_vfs_fsync(jcs_vfs *v, jcs_vfs_fh *fh);
int jcs_vfs_fgetattr(jcs_vfs *v, jcs_vfs_fh *fh, jcs_vfs_attr *a);
void jcs_vfs_release(jcs_vfs *v, jcs_vfs_fh *fh);

#endif
