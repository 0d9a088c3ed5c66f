/*
 * client/mount/stage.h - staged writes and the upload queue of the mount.
 *
 * A file written through the mount is a staged file: its bytes live in
 * DATA_DIR/<id> and a small journal entry META_DIR/<id>.json names the path
 * ({"path": "/bucket/package/a/b.txt", "mtime": ms or null}). Writes,
 * truncates and reads go to that file; nothing is uploaded while a writer
 * holds it open. Once closed and quiet for pending_ms, an upload worker
 * calls the upload function (which sends the file to the cluster); a
 * failure is retried with exponential backoff (retry_min_ms doubling up to
 * retry_max_ms), and every failure is logged naming the path. A successful
 * upload of the latest contents retires the staged file (journal entry and
 * data removed) once no handle holds it.
 *
 * Staged files survive a crash of the mount process: jcs_stage_open finds
 * the journal entries of an earlier run and queues them for upload at once.
 *
 * Concurrency: an upload excludes writes, truncates, renames and removal of
 * the same file (they wait for it); reads go on. Every byte staged is
 * charged to the block cache's cap (bcache.h): a write that cannot be
 * charged fails with JCS_ETOOBIG and changes nothing.
 *
 * The stage knows no FUSE and no HTTP: the upload function is given, so the
 * unit test drives it with a local one. Paths are opaque strings; the
 * directory calls treat '/' as the separator.
 */
#ifndef JCS_MOUNT_STAGE_H
#define JCS_MOUNT_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bcache.h"
#include "err.h"

typedef struct jcs_stage jcs_stage;
typedef struct jcs_stage_file jcs_stage_file;

/*
 * Uploads data_file as path (mtime_ms >= 0: also set the object's update
 * time to it). 0 when the object is committed, else a jcs_err (with a detail).
 */
typedef int (*jcs_stage_upload_fn)(void *arg, const char *path, const char *data_file,
                                   int64_t mtime_ms);

/* Writes a file's initial contents into fd (download on first write). */
typedef int (*jcs_stage_fill_fn)(void *arg, int fd);

typedef struct jcs_stage_opts {
    const char *data_dir, *meta_dir; /* created when missing */
    int64_t pending_ms;              /* quiet time before an upload */
    int64_t retry_min_ms;            /* 0 = 1000 */
    int64_t retry_max_ms;            /* 0 = 60000 */
    int workers;                     /* upload threads; 0 = 4 */
    jcs_bcache *cache;               /* charged for staged bytes; may be NULL */
    jcs_stage_upload_fn upload;
    void *arg;
} jcs_stage_opts;

/* Opens the stage, recovers the files of an earlier run, starts the workers. */
int jcs_stage_open(const jcs_stage_opts *o, jcs_stage **out) JCS_MUST_USE;

/*
 * Uploads everything still staged (no quiet time, retrying with backoff)
 * for at most flush_ms, then stops the workers and frees the stage. Returns
 * how many files are left staged (they stay on disk for the next run).
 * No handle may be held.
 */
int jcs_stage_close(jcs_stage *s, int64_t flush_ms);

/* The staged file of path with a reference (release with jcs_stage_put), or JCS_ENOENT. */
int jcs_stage_get(jcs_stage *s, const char *path, jcs_stage_file **f) JCS_MUST_USE;

/*
 * The staged file of path, created (empty, or filled by fill when given)
 * when there is none; with a reference. A new file is dirty: it will be
 * uploaded even if nothing is written. fill_size (the size fill is expected
 * to write) is charged to the cache before fill runs: JCS_ETOOBIG, without
 * calling fill, when the cache cannot hold it (and when fill wrote more than
 * the cache can hold); fill's error otherwise.
 */
int jcs_stage_create(jcs_stage *s, const char *path, jcs_stage_fill_fn fill, void *arg,
                     int64_t fill_size, jcs_stage_file **f) JCS_MUST_USE;

void jcs_stage_put(jcs_stage_file *f);

/* A write handle opened / closed: no upload starts while one is open. */
void jcs_stage_open_writer(jcs_stage_file *f);
void jcs_stage_close_writer(jcs_stage_file *f);

int jcs_stage_read(jcs_stage_file *f, void *buf, size_t n, int64_t off, size_t *got) JCS_MUST_USE;
int jcs_stage_write(jcs_stage_file *f, const void *buf, size_t n, int64_t off) JCS_MUST_USE;
int jcs_stage_truncate(jcs_stage_file *f, int64_t size) JCS_MUST_USE;
void jcs_stage_stat(jcs_stage_file *f, int64_t *size, int64_t *mtime_ms);
int jcs_stage_set_mtime(jcs_stage_file *f, int64_t mtime_ms) JCS_MUST_USE;

/*
 * Uploads f now if it has changes not yet committed, and waits: 0 once the
 * contents as of this call are committed, else that attempt's error (the
 * file stays staged and is retried in the background).
 */
int jcs_stage_flush(jcs_stage_file *f) JCS_MUST_USE;

/* Forgets the staged file of path (waiting for its upload); JCS_ENOENT when none. */
int jcs_stage_remove(jcs_stage *s, const char *path) JCS_MUST_USE;

/*
 * Renames a staged file (a staged `to` is dropped); waits for uploads of
 * both. JCS_ENOENT when from is not staged.
 */
int jcs_stage_rename(jcs_stage *s, const char *from, const char *to) JCS_MUST_USE;

/* Renames every staged file under directory from ("/b/p/dir") to under to. */
int jcs_stage_rename_dir(jcs_stage *s, const char *from, const char *to) JCS_MUST_USE;

/* Flushes every staged file under directory dir; the first error, or 0. */
int jcs_stage_flush_dir(jcs_stage *s, const char *dir) JCS_MUST_USE;

/* Calls fn for every staged path under directory dir ("" or "/" = all), under the stage's lock: fn
 * must not call the stage. */
typedef void (*jcs_stage_each_fn)(void *arg, const char *path, int64_t size, int64_t mtime_ms);
void jcs_stage_list(jcs_stage *s, const char *dir, jcs_stage_each_fn fn, void *arg);

/* Files staged and not yet committed. */
int64_t jcs_stage_pending(jcs_stage *s);

#endif
