/*
 * client/mount/mount.h - `jcs mount`: the JointCloud as a directory tree.
 *
 *   jcs mount -c config.json [DIR] [--endpoint URL] [--ca F] [--cert F] [--key F]
 *             [-o FUSE_OPTIONS] [--ready-file F] [--flush-timeout SECONDS] [--debug]
 *
 * A process of its own, a client of the running `jcs serve` over its REST
 * API (HTTPS with the client certificate `jcs init` wrote beside
 * config.json), so a crash of the mount never takes the service down. It
 * wires the modules of client/mount/ together: rest (the API), bcache
 * (blocks on disk), dcache (listings), stage (writes and uploads), vfs (the
 * tree) and fsops (FUSE). It returns after unmount, once staged writes are
 * uploaded (or --flush-timeout passed: they stay staged for the next mount).
 */
#ifndef JCS_MOUNT_MOUNT_H
#define JCS_MOUNT_MOUNT_H

/* argv[0] is "mount". Exit status: 0 done, 1 failed, 2 usage. */
int jcs_mount_main(int argc, char **argv);

#endif
