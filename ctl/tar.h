/*
 * tar.h - the tar format for package export and import, written here.
 *
 * Writing: POSIX ustar headers; a name over 100 bytes or a size over
 * 8 GiB - 1 gets a PAX extended header ('x') before the entry with a
 * "path" / "size" record (GNU tar, bsdtar and Python read it). Only regular
 * files are written: directories are implied by the paths.
 *
 * Reading: ustar (with its 155-byte prefix), PAX 'x' records path and
 * size, GNU long names ('L'), GNU base-256 sizes; global PAX headers and
 * directories are skipped; every header's checksum is checked. The reader
 * only walks headers (pread at offsets): the entries' data stays in the
 * archive and is streamed from there by the upload.
 */
#ifndef JCS_CTL_TAR_H
#define JCS_CTL_TAR_H

#include <stdint.h>

#include "buf.h"
#include "err.h"

#define CTL_TAR_BLOCK 512

/*
 * Appends the header block(s) of a regular file (name, size bytes, mtime
 * seconds, mode 0644) to out. JCS_EINVAL for an empty name, JCS_ENOMEM,
 * JCS_ETOOBIG past out's cap.
 */
int ctl_tar_header(jcs_buf *out, const char *name, int64_t size, int64_t mtime) JCS_MUST_USE;

/* Zero bytes that follow size bytes of data to fill the last block. */
size_t ctl_tar_pad(int64_t size);

/* One entry found by ctl_tar_next. */
typedef struct ctl_tar_entry {
    char *name;       /* owned (jcs_free); leading "./" and "/" removed */
    char type;        /* '0' regular file, '5' directory, '1'/'2' links, ... */
    int64_t size;     /* data bytes */
    int64_t data_off; /* where the data starts in the archive */
} ctl_tar_entry;

/*
 * Reads the entry at *pos of the archive fd (named file, for messages) and
 * moves *pos past its data. Returns 1 at the end of the archive, 0 with *e
 * filled (caller frees e->name), or JCS_ECORRUPT naming file and offset,
 * JCS_EIO, JCS_ENOMEM.
 */
int ctl_tar_next(int fd, const char *file, int64_t *pos, ctl_tar_entry *e) JCS_MUST_USE;

/* Whether the first block of fd looks like a tar header (checksum right). */
int ctl_tar_probe(int fd);

#endif
