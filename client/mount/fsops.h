/*
 * client/mount/fsops.h - the FUSE adapter: the only file that calls fuse_*.
 *
 * Mounts the vfs (vfs.h) at a directory with libfuse3's high-level,
 * multi-threaded loop and runs until the file system is unmounted
 * (fusermount3 -u, umount) or the process gets SIGTERM, SIGINT or SIGHUP.
 * Attributes and entries are cached by the kernel for attr_timeout_ms;
 * file contents are not kept by the kernel across opens (close-to-open).
 *
 * Files show mode 0644 and directories 0755, owned by uid:gid; chmod and
 * chown are accepted and change nothing (JCS stores no owner or mode), so
 * cp -a, rsync -a and tar x work and report no error.
 */
#ifndef JCS_MOUNT_FSOPS_H
#define JCS_MOUNT_FSOPS_H

#include <stdint.h>

#include "vfs.h"
#include "err.h"

typedef struct jcs_fsops_opts {
    const char *mountpoint;
    const char *fuse_options; /* extra -o options ("allow_other"), may be NULL */
    const char *ready_file;   /* written once mounted, may be NULL */
    int64_t attr_timeout_ms;
    uint32_t uid, gid;
    bool debug;
} jcs_fsops_opts;

/*
 * Mounts, serves until unmounted or signalled, unmounts. JCS_EIO when the
 * mount fails (the detail names the directory); 0 after a clean end.
 */
int jcs_fsops_run(jcs_vfs *v, const jcs_fsops_opts *o) JCS_MUST_USE;

#endif
