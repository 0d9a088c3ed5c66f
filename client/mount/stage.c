/* Staged files: a table by path, a journal entry per file, upload workers with backoff. */
#include "stage.h"

#include <dirent.h>
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

#define NBUCKETS 16384
#define BATCH    16

struct jcs_stage_file {
    jcs_stage *s;
    jcs_stage_file *hnext;       /* hash chain (while in the table) */
    jcs_stage_file *prev, *next; /* the list of all entries in the table */
    char *path;
    char id[17];
    int fd;
    int refs;    /* the table's one plus every holder's */
    int writers; /* open write handles */
    bool in_table, dirty, uploading, claimed, force;
    uint64_t gen;       /* bumped by every change */
    uint64_t ok_gen;    /* the newest generation committed */
    uint64_t fail_seq;  /* failed attempts so far */
    int fail_rc;        /* the last failed attempt's error */
    int64_t changed_ms; /* last change or close (monotonic) */
    int64_t next_try_ms, backoff_ms;
    int64_t size, reserved;
    int64_t mtime_ms;    /* wall clock */
    bool mtime_set;      /* set by utimens: the object gets this update time */
    pthread_rwlock_t io; /* shared: writes; exclusive: upload, rename, removal */
};

struct jcs_stage {
    jcs_stage_opts o;
    char *data_dir, *meta_dir;
    pthread_mutex_t mu, create_mu;
    pthread_cond_t work, done;
    jcs_stage_file *tab[NBUCKETS];
    jcs_stage_file *head;
    int64_t count, dirty_count;
    bool stop, draining;
    pthread_t *threads;
    int nthreads;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static jcs_stage_file **slot(jcs_stage *s, const char *path)
{
    jcs_stage_file **p = &s->tab[fnv(path) % NBUCKETS];
    while (*p && strcmp((*p)->path, path) != 0)
        p = &(*p)->hnext;
    return p;
}

static void data_path(jcs_stage *s, const jcs_stage_file *f, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", s->data_dir, f->id);
}

static void meta_path(jcs_stage *s, const jcs_stage_file *f, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.json", s->meta_dir, f->id);
}

/* Writes f's journal entry (through a temporary file and rename, so it is whole or absent). */
static int write_meta(jcs_stage *s, const char *path, const char *id, bool mtime_set,
                      int64_t mtime_ms)
{
    json_t *j = json_pack("{s:s, s:o}", "path", path, "mtime",
                          mtime_set ? json_integer(mtime_ms) : json_null());
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return JCS_ENOMEM;
    char tmp[4096], dst[4096];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", s->meta_dir, id);
    snprintf(dst, sizeof dst, "%s/%s.json", s->meta_dir, id);
    /*
     * Written to a temporary name and renamed (a reader never sees half an
     * entry), but not fsync'd: the entry lets the staged file survive a
     * crash of the mount process, which the page cache outlives, and the
     * staged data beside it is not fsync'd either. The fsync made every
     * file `cp` creates wait for a journal commit of the disk (the small
     * files' write rate was bound by it).
     */
    size_t len = strlen(text), done = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    while (fd >= 0 && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int e = fd < 0 || done < len ? (errno ? errno : EIO) : 0;
    if (fd >= 0 && close(fd) != 0 && !e)
        e = errno;
    free(text);
    if (!e && rename(tmp, dst) != 0)
        e = errno;
    if (!e)
        return JCS_OK;
    unlink(tmp);
    return jcs_err_set(e == ENOSPC ? JCS_ETOOBIG : JCS_EIO, "staging journal %s: %s", dst,
                       strerror(e));
}

static void table_insert(jcs_stage *s, jcs_stage_file *f)
{
    jcs_stage_file **p = slot(s, f->path);
    f->hnext = *p;
    *p = f;
    f->prev = NULL;
    f->next = s->head;
    if (s->head)
        s->head->prev = f;
    s->head = f;
    f->in_table = true;
    f->refs++;
    s->count++;
    if (f->dirty)
        s->dirty_count++;
}

static void table_remove(jcs_stage *s, jcs_stage_file *f)
{
    jcs_stage_file **p = slot(s, f->path);
    while (*p && *p != f)
        p = &(*p)->hnext;
    if (*p)
        *p = f->hnext;
    if (f->prev)
        f->prev->next = f->next;
    else
        s->head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = f->hnext = NULL;
    f->in_table = false;
    s->count--;
    if (f->dirty)
        s->dirty_count--;
}

static void set_dirty(jcs_stage *s, jcs_stage_file *f, bool d)
{
    if (f->in_table && f->dirty != d)
        s->dirty_count += d ? 1 : -1;
    f->dirty = d;
}

/* Frees an entry no one refers to; its files are gone (or kept for the next run when stopping). */
static void destroy(jcs_stage_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    /* Releasing never fails. */
    if (f->s->o.cache && f->reserved && jcs_bcache_reserve(f->s->o.cache, -f->reserved) != 0)
        jcs_err_clear();
    pthread_rwlock_destroy(&f->io);
    jcs_free(f->path);
    jcs_free(f);
}

static void unlink_files(jcs_stage *s, jcs_stage_file *f)
{
    char p[4096];
    meta_path(s, f, p, sizeof p);
    unlink(p);
    data_path(s, f, p, sizeof p);
    unlink(p);
}

/* Under mu: drops one reference; the last one frees. */
static void unref_locked(jcs_stage_file *f)
{
    if (--f->refs == 0)
        destroy(f);
}

static void maybe_retire(jcs_stage *s, jcs_stage_file *f);

/* Under mu: drops a holder's reference; a committed file only the table holds retires. */
static void release_locked(jcs_stage *s, jcs_stage_file *f)
{
    if (--f->refs == 0)
        destroy(f);
    else
        maybe_retire(s, f);
}

/* Under mu: a committed, clean entry no handle holds leaves the table and the disk. */
static void maybe_retire(jcs_stage *s, jcs_stage_file *f)
{
    if (f->in_table && !f->dirty && !f->uploading && !f->claimed && f->writers == 0 &&
        f->refs == 1) {
        table_remove(s, f);
        unlink_files(s, f);
        unref_locked(f);
    }
}

static jcs_stage_file *new_file(jcs_stage *s, const char *path, const char *id)
{
    jcs_stage_file *f = jcs_calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (!(f->path = jcs_strdup(path))) {
        jcs_free(f);
        return NULL;
    }
    f->s = s;
    f->fd = -1;
    snprintf(f->id, sizeof f->id, "%s", id);
    pthread_rwlock_init(&f->io, NULL);
    return f;
}

/* ---- upload workers ------------------------------------------------------------------------ */

static bool due(jcs_stage *s, jcs_stage_file *f, int64_t now)
{
    if (!f->dirty || f->uploading || f->claimed)
        return false;
    if (f->force)
        return true;
    if (f->writers > 0)
        return false;
    if (s->draining)
        return now >= f->next_try_ms;
    return now >= f->changed_ms + s->o.pending_ms && now >= f->next_try_ms;
}

/* Under mu: the earliest time any entry becomes due (or now + 1 s). */
static int64_t next_due(jcs_stage *s, int64_t now)
{
    int64_t t = now + 1000;
    for (jcs_stage_file *f = s->head; f; f = f->next) {
        if (!f->dirty || f->uploading || f->claimed || (f->writers > 0 && !f->force))
            continue;
        int64_t d = f->force ? now : f->changed_ms + (s->draining ? 0 : s->o.pending_ms);
        if (f->next_try_ms > d && !f->force)
            d = f->next_try_ms;
        if (d < t)
            t = d;
    }
    return t;
}

static void upload_one(jcs_stage *s, jcs_stage_file *f)
{
    pthread_rwlock_wrlock(&f->io);
    pthread_mutex_lock(&s->mu);
    f->claimed = false;
    if (!f->in_table || !f->dirty) {
        pthread_mutex_unlock(&s->mu);
        pthread_rwlock_unlock(&f->io);
        return;
    }
    f->uploading = true;
    f->force = false;
    uint64_t gen0 = f->gen;
    char *path = jcs_strdup(f->path);
    int64_t mtime = f->mtime_set ? f->mtime_ms : -1;
    pthread_mutex_unlock(&s->mu);
    char file[4096];
    data_path(s, f, file, sizeof file);
    int rc = path ? s->o.upload(s->o.arg, path, file, mtime) : JCS_ENOMEM;
    char detail[512];
    snprintf(detail, sizeof detail, "%s", rc ? jcs_err_msg(rc) : "");
    pthread_mutex_lock(&s->mu);
    f->uploading = false;
    if (rc == 0) {
        f->ok_gen = gen0;
        f->backoff_ms = 0;
        f->next_try_ms = 0;
        if (f->gen == gen0)
            set_dirty(s, f, false);
    } else {
        f->fail_seq++;
        f->fail_rc = rc;
        int64_t min = s->o.retry_min_ms, max = s->o.retry_max_ms;
        f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : min;
        if (f->backoff_ms > max)
            f->backoff_ms = max;
        f->next_try_ms = jcs_now_ms() + f->backoff_ms;
        jcs_error("mount: upload of %s failed (%s), retrying in %lld ms: %s", path ? path : f->id,
                  jcs_err_name(rc), (long long)f->backoff_ms, detail);
    }
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&f->io);
    jcs_free(path);
}

static void *worker(void *arg)
{
    jcs_stage *s = arg;
    jcs_stage_file *batch[BATCH];
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        int64_t now = jcs_now_ms();
        int n = 0;
        for (jcs_stage_file *f = s->head; f && n < BATCH; f = f->next) {
            if (due(s, f, now)) {
                f->claimed = true;
                f->refs++;
                batch[n++] = f;
            }
        }
        if (n == 0) {
            int64_t until = next_due(s, now);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = until - now;
            if (wait < 1)
                wait = 1;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->work, &s->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n; i++)
            upload_one(s, batch[i]);
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++) {
            batch[i]->claimed = false;
            release_locked(s, batch[i]);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- opening and recovery -------------------------------------------------------------------- */

static int recover_one(jcs_stage *s, const char *name)
{
    char id[17], mp[4096];
    size_t n = strlen(name);
    if (n != 16 + 5 || strcmp(name + 16, ".json") != 0)
        return JCS_OK;
    memcpy(id, name, 16);
    id[16] = '\0';
    snprintf(mp, sizeof mp, "%s/%s", s->meta_dir, name);
    char *text = NULL;
    size_t len;
    int rc = jcs_read_file(mp, 1 << 16, &text, &len);
    if (rc)
        return rc;
    json_t *j = json_loadb(text, len, 0, NULL);
    jcs_free(text);
    const char *path = json_string_value(json_object_get(j, "path"));
    json_t *mt = json_object_get(j, "mtime");
    char dp[4096];
    snprintf(dp, sizeof dp, "%s/%s", s->data_dir, id);
    int fd = path ? open(dp, O_RDWR | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        jcs_warn("mount: staging journal %s names no readable data (%s); dropped", mp,
                 path ? dp : "no path");
        if (fd >= 0)
            close(fd);
        json_decref(j);
        unlink(mp);
        unlink(dp);
        return JCS_OK;
    }
    jcs_stage_file *f = NULL;
    pthread_mutex_lock(&s->mu);
    jcs_stage_file *old = *slot(s, path);
    if (old) {
        /* Two journal entries for one path: the newer data wins. */
        struct stat ost;
        if (fstat(old->fd, &ost) == 0 && (ost.st_mtim.tv_sec > st.st_mtim.tv_sec ||
                                          (ost.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                                           ost.st_mtim.tv_nsec >= st.st_mtim.tv_nsec))) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            json_decref(j);
            unlink(mp);
            unlink(dp);
            return JCS_OK;
        }
        table_remove(s, old);
        unlink_files(s, old);
        unref_locked(old);
    }
    f = new_file(s, path, id);
    if (!f) {
        pthread_mutex_unlock(&s->mu);
        close(fd);
        json_decref(j);
        return JCS_ENOMEM;
    }
    f->fd = fd;
    f->size = st.st_size;
    f->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (json_is_integer(mt)) {
        f->mtime_set = true;
        f->mtime_ms = json_integer_value(mt);
    }
    f->dirty = true;
    f->gen = 1;
    f->changed_ms = jcs_now_ms() - s->o.pending_ms; /* due now */
    if (s->o.cache && jcs_bcache_reserve(s->o.cache, f->size) == 0)
        f->reserved = f->size;
    table_insert(s, f);
    pthread_mutex_unlock(&s->mu);
    json_decref(j);
    jcs_info("mount: recovered staged file %s (%lld bytes) from an earlier run", f->path,
             (long long)f->size);
    return JCS_OK;
}

static int recover(jcs_stage *s)
{
    DIR *d = opendir(s->meta_dir);
    if (!d)
        return jcs_err_set(JCS_EIO, "staging journal %s: %s", s->meta_dir, strerror(errno));
    struct dirent *e;
    int rc = JCS_OK;
    while ((e = readdir(d)) != NULL && rc == 0) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", s->meta_dir, e->d_name);
            unlink(p);
            continue;
        }
        rc = recover_one(s, e->d_name);
    }
    closedir(d);
    return rc;
}

int jcs_stage_open(const jcs_stage_opts *o, jcs_stage **out)
{
    int rc;
    if ((rc = jcs_mkdirs(o->data_dir, 0700)) || (rc = jcs_mkdirs(o->meta_dir, 0700)))
        return rc;
    jcs_stage *s = jcs_calloc(1, sizeof *s);
    if (!s)
        return JCS_ENOMEM;
    s->o = *o;
    if (s->o.retry_min_ms <= 0)
        s->o.retry_min_ms = 1000;
    if (s->o.retry_max_ms <= 0)
        s->o.retry_max_ms = 60000;
    if (s->o.workers <= 0)
        s->o.workers = 4;
    s->data_dir = jcs_strdup(o->data_dir);
    s->meta_dir = jcs_strdup(o->meta_dir);
    s->threads = jcs_calloc((size_t)s->o.workers, sizeof *s->threads);
    if (!s->data_dir || !s->meta_dir || !s->threads) {
        jcs_free(s->data_dir);
        jcs_free(s->meta_dir);
        jcs_free(s->threads);
        jcs_free(s);
        return JCS_ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->create_mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    rc = recover(s);
    for (int i = 0; rc == 0 && i < s->o.workers; i++) {
        if (pthread_create(&s->threads[i], NULL, worker, s) != 0)
            rc = jcs_err_set(JCS_EIO, "mount: cannot start an upload thread");
        else
            s->nthreads++;
    }
    if (rc) {
        (void)jcs_stage_close(s, 0);
        return rc;
    }
    *out = s;
    return JCS_OK;
}

int jcs_stage_close(jcs_stage *s, int64_t flush_ms)
{
    if (!s)
        return 0;
    int64_t deadline = jcs_now_ms() + flush_ms;
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    /* Failed uploads are retried soon while draining, not after a long backoff. */
    s->o.retry_max_ms = s->o.retry_min_ms;
    for (jcs_stage_file *f = s->head; f; f = f->next)
        f->next_try_ms = 0;
    pthread_cond_broadcast(&s->work);
    while (s->dirty_count > 0 && s->nthreads > 0 && jcs_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->done, &s->mu, &ts);
    }
    s->stop = true;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    int left = (int)s->dirty_count;
    /* What is left stays on disk for the next run; clean entries are retired. */
    while (s->head) {
        jcs_stage_file *f = s->head;
        bool dirty = f->dirty;
        table_remove(s, f);
        if (!dirty)
            unlink_files(s, f);
        unref_locked(f);
    }
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->create_mu);
    jcs_free(s->threads);
    jcs_free(s->data_dir);
    jcs_free(s->meta_dir);
    jcs_free(s);
    return left;
}

/* ---- files ----------------------------------------------------------------------------------- */

int jcs_stage_get(jcs_stage *s, const char *path, jcs_stage_file **out)
{
    pthread_mutex_lock(&s->mu);
    jcs_stage_file *f = *slot(s, path);
    if (f)
        f->refs++;
    pthread_mutex_unlock(&s->mu);
    *out = f;
    return f ? JCS_OK : JCS_ENOENT;
}

int jcs_stage_create(jcs_stage *s, const char *path, jcs_stage_fill_fn fill, void *arg,
                     int64_t fill_size, jcs_stage_file **out)
{
    pthread_mutex_lock(&s->create_mu);
    if (jcs_stage_get(s, path, out) == 0) {
        pthread_mutex_unlock(&s->create_mu);
        return JCS_OK;
    }
    char id[17];
    jcs_unique_hex(id);
    jcs_stage_file *f = new_file(s, path, id);
    if (!f) {
        pthread_mutex_unlock(&s->create_mu);
        return JCS_ENOMEM;
    }
    char dp[4096];
    data_path(s, f, dp, sizeof dp);
    int rc = JCS_OK;
    f->fd = open(dp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f->fd < 0)
        rc = jcs_err_set(errno == ENOSPC ? JCS_ETOOBIG : JCS_EIO, "staging %s: %s", dp,
                         strerror(errno));
    /* The download is charged before it starts, so that a file bigger than
     * what the cache can hold never reaches the disk (the cap holds in real
     * time, not after the fact). */
    if (rc == 0 && fill && s->o.cache && fill_size > 0 &&
        (rc = jcs_bcache_reserve(s->o.cache, fill_size)) == 0)
        f->reserved = fill_size;
    if (rc == 0 && fill)
        rc = fill(arg, f->fd);
    struct stat st;
    if (rc == 0 && fstat(f->fd, &st) != 0)
        rc = jcs_err_set(JCS_EIO, "staging %s: %s", dp, strerror(errno));
    if (rc == 0) {
        f->size = st.st_size;
        if (s->o.cache && f->size > f->reserved &&
            (rc = jcs_bcache_reserve(s->o.cache, f->size - f->reserved)) == 0)
            f->reserved = f->size;
    }
    if (rc == 0)
        rc = write_meta(s, path, id, false, 0);
    if (rc) {
        unlink(dp);
        pthread_mutex_lock(&s->mu);
        destroy(f);
        pthread_mutex_unlock(&s->mu);
        pthread_mutex_unlock(&s->create_mu);
        return rc;
    }
    f->mtime_ms = jcs_wall_ms();
    f->dirty = true;
    f->gen = 1;
    f->changed_ms = jcs_now_ms();
    pthread_mutex_lock(&s->mu);
    table_insert(s, f);
    f->refs++;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->create_mu);
    *out = f;
    return JCS_OK;
}

void jcs_stage_put(jcs_stage_file *f)
{
    if (!f)
        return;
    jcs_stage *s = f->s;
    pthread_mutex_lock(&s->mu);
    release_locked(s, f);
    pthread_mutex_unlock(&s->mu);
}

void jcs_stage_open_writer(jcs_stage_file *f)
{
    pthread_mutex_lock(&f->s->mu);
    f->writers++;
    pthread_mutex_unlock(&f->s->mu);
}

void jcs_stage_close_writer(jcs_stage_file *f)
{
    jcs_stage *s = f->s;
    pthread_mutex_lock(&s->mu);
    if (f->writers > 0)
        f->writers--;
    f->changed_ms = jcs_now_ms();
    /* One worker is enough to take the new due time into account; waking
     * all of them made each scan the whole table on every close. */
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

int jcs_stage_read(jcs_stage_file *f, void *buf, size_t n, int64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return jcs_err_set(JCS_EIO, "staged file of %s: %s", f->path, strerror(errno));
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return JCS_OK;
}

/* Under mu: charges the cache so that `end` bytes are covered. */
static int charge(jcs_stage_file *f, int64_t end)
{
    if (!f->s->o.cache) {
        if (end > f->reserved)
            f->reserved = 0;
        return JCS_OK;
    }
    if (end <= f->reserved)
        return JCS_OK;
    int rc = jcs_bcache_reserve(f->s->o.cache, end - f->reserved);
    if (rc == 0)
        f->reserved = end;
    return rc;
}

static void changed(jcs_stage_file *f)
{
    f->gen++;
    set_dirty(f->s, f, true);
    f->changed_ms = jcs_now_ms();
    if (!f->mtime_set)
        f->mtime_ms = jcs_wall_ms();
}

int jcs_stage_write(jcs_stage_file *f, const void *buf, size_t n, int64_t off)
{
    jcs_stage *s = f->s;
    pthread_rwlock_rdlock(&f->io);
    pthread_mutex_lock(&s->mu);
    int rc = charge(f, off + (int64_t)n);
    pthread_mutex_unlock(&s->mu);
    size_t done = 0;
    while (rc == 0 && done < n) {
        ssize_t w = pwrite(f->fd, (const char *)buf + done, n - done, (off_t)off + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = jcs_err_set(errno == ENOSPC ? JCS_ETOOBIG : JCS_EIO, "staged file of %s: %s",
                             f->path, strerror(errno));
        else
            done += (size_t)w;
    }
    pthread_mutex_lock(&s->mu);
    if (done > 0) {
        if (off + (int64_t)done > f->size)
            f->size = off + (int64_t)done;
        f->mtime_set = false;
        changed(f);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&f->io);
    return rc;
}

int jcs_stage_truncate(jcs_stage_file *f, int64_t size)
{
    jcs_stage *s = f->s;
    pthread_rwlock_rdlock(&f->io);
    pthread_mutex_lock(&s->mu);
    int rc = charge(f, size);
    pthread_mutex_unlock(&s->mu);
    if (rc == 0 && ftruncate(f->fd, (off_t)size) != 0)
        rc = jcs_err_set(errno == ENOSPC ? JCS_ETOOBIG : JCS_EIO, "staged file of %s: %s", f->path,
                         strerror(errno));
    pthread_mutex_lock(&s->mu);
    if (rc == 0) {
        f->size = size;
        f->mtime_set = false;
        changed(f);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&f->io);
    return rc;
}

void jcs_stage_stat(jcs_stage_file *f, int64_t *size, int64_t *mtime_ms)
{
    pthread_mutex_lock(&f->s->mu);
    *size = f->size;
    *mtime_ms = f->mtime_ms;
    pthread_mutex_unlock(&f->s->mu);
}

int jcs_stage_set_mtime(jcs_stage_file *f, int64_t mtime_ms)
{
    jcs_stage *s = f->s;
    pthread_rwlock_rdlock(&f->io);
    int rc = write_meta(s, f->path, f->id, true, mtime_ms);
    pthread_mutex_lock(&s->mu);
    if (rc == 0) {
        f->mtime_ms = mtime_ms;
        f->mtime_set = true;
        f->gen++;
        set_dirty(s, f, true);
        f->changed_ms = jcs_now_ms();
    }
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&f->io);
    return rc;
}

int jcs_stage_flush(jcs_stage_file *f)
{
    jcs_stage *s = f->s;
    pthread_mutex_lock(&s->mu);
    uint64_t target = f->gen, seq0 = f->fail_seq;
    int rc = JCS_OK;
    if (f->dirty && f->in_table) {
        f->force = true;
        pthread_cond_broadcast(&s->work);
        while (f->ok_gen < target && f->in_table && !s->stop) {
            if (f->fail_seq != seq0 && !f->uploading && !f->force) {
                rc = f->fail_rc;
                break;
            }
            if (f->fail_seq != seq0 && !f->uploading && !f->claimed) {
                /* a failed attempt began before this call's contents; ask again */
            }
            pthread_cond_wait(&s->done, &s->mu);
        }
        if (rc == 0 && f->ok_gen < target)
            rc = jcs_err_set(JCS_ECANCELED, "upload of %s: the mount is stopping", f->path);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc && rc != JCS_ECANCELED)
        rc = jcs_err_set(rc, "upload of %s failed; it stays staged and is retried", f->path);
    return rc;
}

int jcs_stage_remove(jcs_stage *s, const char *path)
{
    pthread_mutex_lock(&s->mu);
    jcs_stage_file *f = *slot(s, path);
    if (!f) {
        pthread_mutex_unlock(&s->mu);
        return JCS_ENOENT;
    }
    f->refs++;
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_wrlock(&f->io); /* an upload in flight finishes first */
    pthread_mutex_lock(&s->mu);
    if (f->in_table) {
        table_remove(s, f);
        unlink_files(s, f);
        unref_locked(f);
    }
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&f->io);
    pthread_mutex_lock(&s->mu);
    unref_locked(f);
    pthread_mutex_unlock(&s->mu);
    return JCS_OK;
}

int jcs_stage_rename(jcs_stage *s, const char *from, const char *to)
{
    if (strcmp(from, to) == 0)
        return JCS_OK;
    char *np = jcs_strdup(to);
    if (!np)
        return JCS_ENOMEM;
    jcs_stage_file *f;
    if (jcs_stage_get(s, from, &f) != 0) {
        jcs_free(np);
        return JCS_ENOENT;
    }
    int rc = jcs_stage_remove(s, to);
    (void)rc;
    pthread_rwlock_wrlock(&f->io);
    pthread_mutex_lock(&s->mu);
    int64_t mt = f->mtime_ms;
    bool mset = f->mtime_set;
    bool present = f->in_table;
    pthread_mutex_unlock(&s->mu);
    rc = present ? write_meta(s, to, f->id, mset, mt) : JCS_ENOENT;
    pthread_mutex_lock(&s->mu);
    if (rc == 0 && f->in_table) {
        table_remove(s, f);
        jcs_free(f->path);
        f->path = np;
        np = NULL;
        /* Re-inserted: the table's reference moves with it. */
        f->refs--;
        table_insert(s, f);
        f->gen++;
        set_dirty(s, f, true);
        f->changed_ms = jcs_now_ms();
        pthread_cond_broadcast(&s->work);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&f->io);
    jcs_free(np);
    jcs_stage_put(f);
    return rc;
}

/* Copies the staged paths under dir (caller frees each and the array). */
static int paths_under(jcs_stage *s, const char *dir, char ***out, size_t *n)
{
    size_t dl = strlen(dir);
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    size_t cap = (size_t)s->count + 1, k = 0;
    char **v = jcs_calloc(cap, sizeof *v);
    int rc = v ? JCS_OK : JCS_ENOMEM;
    for (jcs_stage_file *f = s->head; rc == 0 && f; f = f->next) {
        if (strncmp(f->path, dir, dl) == 0 && (dl == 0 || f->path[dl] == '/')) {
            if (!(v[k] = jcs_strdup(f->path)))
                rc = JCS_ENOMEM;
            else
                k++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        for (size_t i = 0; i < k; i++)
            jcs_free(v[i]);
        jcs_free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return JCS_OK;
}

int jcs_stage_rename_dir(jcs_stage *s, const char *from, const char *to)
{
    char **v;
    size_t n;
    int rc = paths_under(s, from, &v, &n);
    if (rc)
        return rc;
    size_t fl = strlen(from);
    for (size_t i = 0; i < n; i++) {
        char *np = rc ? NULL : jcs_asprintf("%s%s", to, v[i] + fl);
        if (!rc && !np)
            rc = JCS_ENOMEM;
        if (!rc) {
            int r = jcs_stage_rename(s, v[i], np);
            if (r && r != JCS_ENOENT)
                rc = r;
        }
        jcs_free(np);
        jcs_free(v[i]);
    }
    jcs_free(v);
    return rc;
}

int jcs_stage_flush_dir(jcs_stage *s, const char *dir)
{
    char **v;
    size_t n;
    int rc = paths_under(s, dir, &v, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        jcs_stage_file *f;
        if (rc == 0 && jcs_stage_get(s, v[i], &f) == 0) {
            rc = jcs_stage_flush(f);
            jcs_stage_put(f);
        }
        jcs_free(v[i]);
    }
    jcs_free(v);
    return rc;
}

void jcs_stage_list(jcs_stage *s, const char *dir, jcs_stage_each_fn fn, void *arg)
{
    size_t dl = strlen(dir);
    if (dl == 1 && dir[0] == '/')
        dl = 0;
    pthread_mutex_lock(&s->mu);
    for (jcs_stage_file *f = s->head; f; f = f->next)
        if (strncmp(f->path, dir, dl) == 0 && (dl == 0 || f->path[dl] == '/'))
            fn(arg, f->path, f->size, f->mtime_ms);
    pthread_mutex_unlock(&s->mu);
}

int64_t jcs_stage_pending(jcs_stage *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t n = s->dirty_count;
    pthread_mutex_unlock(&s->mu);
    return n;
}
