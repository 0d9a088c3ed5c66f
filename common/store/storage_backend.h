/*
 * storage_backend.h - what a storage backend implements (private to
 * storage*.c). storage.c checks arguments and keys, keeps writer error state
 * and dispatches through the ops table; a backend only does the I/O.
 */
#ifndef JCS_STORAGE_BACKEND_H
#define JCS_STORAGE_BACKEND_H

#include "storage.h"

struct jcs_storage_ops {
    int (*write_begin)(jcs_storage *s, jcs_storage_writer **out);
    int (*write)(jcs_storage_writer *w, const void *data, size_t n);
    /* key is checked; must free w whatever happens. */
    int (*commit)(jcs_storage_writer *w, const char *key);
    /* Must free w. */
    void (*abort)(jcs_storage_writer *w);
    /* Optional: commits w0 then w1 (keys checked), sharing syncs; must free both whatever
     * happens. storage.c commits them one after the other when NULL. */
    int (*commit_pair)(jcs_storage_writer *w0, const char *key0, jcs_storage_writer *w1,
                       const char *key1);
    /* Optional (NULL: no attributes, *kept = 0 / *len = 0); name and key checked. */
    int (*writer_set_attr)(jcs_storage_writer *w, const char *name, const void *val, size_t len,
                           int *kept);
    int (*set_attr)(jcs_storage *s, const char *key, const char *name, const void *val, size_t len,
                    int *kept);
    int (*get_attr)(jcs_storage *s, const char *key, const char *name, void *buf, size_t cap,
                    size_t *len);
    int (*read)(jcs_storage *s, const char *key, uint64_t off, uint64_t len, jcs_storage_sink sink,
                void *arg);
    int (*stat)(jcs_storage *s, const char *key, struct jcs_storage_stat *st);
    int (*list)(jcs_storage *s, const char *prefix, jcs_storage_list_fn fn, void *arg);
    int (*del)(jcs_storage *s, const char *key);
    /* Optional; storage.c loops over del when NULL. */
    int (*del_many)(jcs_storage *s, const char *const *keys, size_t n, size_t *done);
    int (*reclaim)(jcs_storage *s, int64_t min_age_ms, unsigned *removed);
    void (*close)(jcs_storage *s);
};

/* The first member of every backend. */
struct jcs_storage {
    const struct jcs_storage_ops *ops;
    char *name; /* owned; "local /root" or "s3 http://host/bucket" */
};

/* The first member of every backend's writer. */
struct jcs_storage_writer {
    jcs_storage *s;
    uint64_t size;
    int failed;        /* 0, or the error that broke the stream */
    char failmsg[512]; /* its detail line, replayed by commit */
};

int jcs_storage_local_open(const struct jcs_storage_config *cfg, jcs_storage **out) JCS_MUST_USE;
int jcs_storage_s3_open(const struct jcs_storage_config *cfg, jcs_storage **out) JCS_MUST_USE;

#endif
