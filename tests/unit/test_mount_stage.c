/*
 * The mount's staging and upload queue, with a local upload function: quiet
 * time, open writers, fsync, retries with backoff, recovery after a crash,
 * rename and removal, the cache's cap, out of memory.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "stage.h"
#include "t.h"
#include "t_tmpdir.h"
#include "util.h"

/* The "cluster": the last upload of each path, as a file under remote/. */
typedef struct fake {
    char remote[512];
    pthread_mutex_t mu;
    int uploads;
    int fail_next; /* so many calls fail */
    int64_t last_mtime;
} fake;

static int fake_upload(void *arg, const char *path, const char *file, int64_t mtime_ms)
{
    fake *f = arg;
    pthread_mutex_lock(&f->mu);
    f->uploads++;
    int fail = f->fail_next > 0;
    if (fail)
        f->fail_next--;
    f->last_mtime = mtime_ms;
    pthread_mutex_unlock(&f->mu);
    if (fail)
        return jcs_err_set(JCS_EUNAVAIL, "the fake cluster is down");
    char *data;
    size_t len;
    int rc = jcs_read_file(file, 1 << 24, &data, &len);
    if (rc)
        return rc;
    char dst[1024], flat[512];
    snprintf(flat, sizeof flat, "%s", path);
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '_';
    snprintf(dst, sizeof dst, "%s/%s", f->remote, flat);
    rc = jcs_write_file(dst, data, len, 0600);
    jcs_free(data);
    return rc;
}

/* The remote copy of path ("" when absent) into out; its length. */
static long remote(fake *f, const char *path, char *out, size_t n)
{
    char dst[1024], flat[512];
    snprintf(flat, sizeof flat, "%s", path);
    for (char *p = flat; *p; p++)
        if (*p == '/')
            *p = '_';
    snprintf(dst, sizeof dst, "%s/%s", f->remote, flat);
    FILE *fp = fopen(dst, "rb");
    if (!fp)
        return -1;
    long k = (long)fread(out, 1, n, fp);
    fclose(fp);
    return k;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

typedef struct env {
    char data[512], meta[512];
    fake f;
    jcs_stage_opts o;
} env;

static void setup(env *e, const char *name, int64_t pending_ms)
{
    char base[400];
    t_path(base, sizeof base, name);
    t_rmtree(base);
    snprintf(e->data, sizeof e->data, "%s/data", base);
    snprintf(e->meta, sizeof e->meta, "%s/meta", base);
    memset(&e->f, 0, sizeof e->f);
    snprintf(e->f.remote, sizeof e->f.remote, "%s/remote", base);
    if (jcs_mkdirs(e->f.remote, 0700) != 0)
        t_fail(__FILE__, __LINE__, "cannot make %s", e->f.remote);
    pthread_mutex_init(&e->f.mu, NULL);
    e->o = (jcs_stage_opts){.data_dir = e->data,
                            .meta_dir = e->meta,
                            .pending_ms = pending_ms,
                            .retry_min_ms = 20,
                            .retry_max_ms = 80,
                            .workers = 2,
                            .upload = fake_upload,
                            .arg = &e->f};
}

/* Waits up to 5 s for the stage to have nothing pending. */
static int drained(jcs_stage *s)
{
    for (int i = 0; i < 500; i++) {
        if (jcs_stage_pending(s) == 0)
            return 1;
        usleep(10000);
    }
    return 0;
}

TEST(closed_file_is_uploaded_after_the_quiet_time_and_retired)
{
    env e;
    setup(&e, "quiet", 150);
    jcs_stage *s;
    T_OK(jcs_stage_open(&e.o, &s));
    jcs_stage_file *f;
    T_OK(jcs_stage_create(s, "/b/p/a.txt", NULL, NULL, 0, &f));
    jcs_stage_open_writer(f);
    T_OK(jcs_stage_write(f, "hello world", 11, 0));
    T_OK(jcs_stage_write(f, "W", 1, 6)); /* random write */
    usleep(300000);
    T_EQ_INT(e.f.uploads, 0); /* a writer holds it open */
    jcs_stage_close_writer(f);
    jcs_stage_put(f);
    usleep(50000);
    T_EQ_INT(e.f.uploads, 0); /* still inside the quiet time */
    T_ASSERT(drained(s));
    char out[64];
    T_EQ_INT(remote(&e.f, "/b/p/a.txt", out, sizeof out), 11);
    T_ASSERT(memcmp(out, "hello World", 11) == 0);
    T_EQ_INT(e.f.last_mtime, -1);
    /* Committed and unused: the journal entry and the data are gone. */
    T_EQ_INT(count_files(e.meta), 0);
    T_EQ_INT(jcs_stage_get(s, "/b/p/a.txt", &f), JCS_ENOENT);
    T_EQ_INT(jcs_stage_close(s, 1000), 0);
}

TEST(flush_uploads_now_and_waits)
{
    env e;
    setup(&e, "flush", 3600 * 1000);
    jcs_stage *s;
    T_OK(jcs_stage_open(&e.o, &s));
    jcs_stage_file *f;
    T_OK(jcs_stage_create(s, "/b/p/db", NULL, NULL, 0, &f));
    jcs_stage_open_writer(f);
    T_OK(jcs_stage_write(f, "0123456789", 10, 0));
    T_OK(jcs_stage_truncate(f, 4));
    T_OK(jcs_stage_flush(f)); /* with the writer still open, as fsync does */
    char out[64];
    T_EQ_INT(remote(&e.f, "/b/p/db", out, sizeof out), 4);
    T_ASSERT(memcmp(out, "0123", 4) == 0);
    /* Nothing changed since: a second flush uploads nothing. */
    int n = e.f.uploads;
    T_OK(jcs_stage_flush(f));
    T_EQ_INT(e.f.uploads, n);
    /* A failed attempt is the flush's error; the file stays staged. */
    T_OK(jcs_stage_write(f, "x", 1, 4));
    e.f.fail_next = 1;
    T_EQ_INT(jcs_stage_flush(f), JCS_EUNAVAIL);
    T_ASSERT(strstr(jcs_err_msg(JCS_EUNAVAIL), "/b/p/db") != NULL);
    T_OK(jcs_stage_flush(f));
    T_EQ_INT(remote(&e.f, "/b/p/db", out, sizeof out), 5);
    jcs_stage_close_writer(f);
    jcs_stage_put(f);
    T_EQ_INT(jcs_stage_close(s, 1000), 0);
}

TEST(failed_uploads_are_retried_with_backoff)
{
    env e;
    setup(&e, "retry", 10);
    e.f.fail_next = 3;
    jcs_stage *s;
    T_OK(jcs_stage_open(&e.o, &s));
    jcs_stage_file *f;
    T_OK(jcs_stage_create(s, "/b/p/r", NULL, NULL, 0, &f));
    T_OK(jcs_stage_write(f, "abc", 3, 0));
    int64_t t0 = jcs_now_ms();
    jcs_stage_put(f);
    T_ASSERT(drained(s));
    /* Three failures waited 20 + 40 + 80 ms at least. */
    T_ASSERT(jcs_now_ms() - t0 >= 140, "(%lld ms)", (long long)(jcs_now_ms() - t0));
    T_EQ_INT(e.f.uploads, 4);
    char out[8];
    T_EQ_INT(remote(&e.f, "/b/p/r", out, sizeof out), 3);
    T_EQ_INT(jcs_stage_close(s, 1000), 0);
}

TEST(staged_files_survive_a_crash_and_upload_on_the_next_open)
{
    env e;
    setup(&e, "crash", 3600 * 1000);
    jcs_stage *s;
    T_OK(jcs_stage_open(&e.o, &s));
    char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 13);
    jcs_stage_file *f;
    T_OK(jcs_stage_create(s, "/b/p/dir/big", NULL, NULL, 0, &f));
    T_OK(jcs_stage_write(f, big, sizeof big, 0));
    T_OK(jcs_stage_set_mtime(f, 1577934245000));
    jcs_stage_put(f);
    T_OK(jcs_stage_create(s, "/b/p/empty", NULL, NULL, 0, &f));
    jcs_stage_put(f);
    /* A dead process uploads nothing: close without flushing leaves both staged. */
    T_EQ_INT(jcs_stage_close(s, 0), 2);
    T_EQ_INT(e.f.uploads, 0);
    T_EQ_INT(count_files(e.meta), 2);
    /* A journal entry whose data vanished is dropped with a warning, not uploaded. */
    char orphan[1024];
    snprintf(orphan, sizeof orphan, "%s/00000000deadbeef.json", e.meta);
    T_OK(jcs_write_file(orphan, "{\"path\": \"/b/p/ghost\", \"mtime\": null}", 37, 0600));
    e.o.pending_ms = 50;
    T_OK(jcs_stage_open(&e.o, &s));
    T_EQ_INT(jcs_stage_pending(s), 2);
    T_ASSERT(drained(s));
    static char out[80000];
    T_EQ_INT(remote(&e.f, "/b/p/dir/big", out, sizeof out), (long)sizeof big);
    T_ASSERT(memcmp(out, big, sizeof big) == 0);
    T_EQ_INT(remote(&e.f, "/b/p/empty", out, sizeof out), 0);
    T_EQ_INT(remote(&e.f, "/b/p/ghost", out, sizeof out), -1);
    T_EQ_INT(count_files(e.meta), 0);
    T_EQ_INT(jcs_stage_close(s, 1000), 0);
}

static void collect(void *arg, const char *path, int64_t size, int64_t mtime)
{
    (void)mtime;
    char *b = arg;
    size_t n = strlen(b);
    snprintf(b + n, 1024 - n, "%s=%lld;", path, (long long)size);
}

TEST(rename_and_remove)
{
    env e;
    setup(&e, "rename", 3600 * 1000);
    jcs_stage *s;
    T_OK(jcs_stage_open(&e.o, &s));
    jcs_stage_file *f;
    const char *names[] = {"/b/p/d/x", "/b/p/d/sub/y", "/b/p/z", "/b/p/gone"};
    for (int i = 0; i < 4; i++) {
        T_OK(jcs_stage_create(s, names[i], NULL, NULL, 0, &f));
        T_OK(jcs_stage_write(f, "12345", (size_t)i + 1, 0));
        jcs_stage_put(f);
    }
    T_OK(jcs_stage_rename_dir(s, "/b/p/d", "/b/q/e"));
    T_OK(jcs_stage_rename(s, "/b/p/z", "/b/q/e/x")); /* replaces a staged file */
    T_EQ_INT(jcs_stage_rename(s, "/b/p/nope", "/b/p/n2"), JCS_ENOENT);
    T_OK(jcs_stage_remove(s, "/b/p/gone"));
    T_EQ_INT(jcs_stage_remove(s, "/b/p/gone"), JCS_ENOENT);
    char list[1024] = "";
    jcs_stage_list(s, "/b/q", collect, list);
    T_ASSERT(strstr(list, "/b/q/e/sub/y=2;") && strstr(list, "/b/q/e/x=3;"), "(%s)", list);
    list[0] = '\0';
    jcs_stage_list(s, "/b/p", collect, list);
    T_EQ_STR(list, "");
    T_OK(jcs_stage_flush_dir(s, "/b/q"));
    char out[8];
    T_EQ_INT(remote(&e.f, "/b/q/e/x", out, sizeof out), 3);
    T_EQ_INT(remote(&e.f, "/b/q/e/sub/y", out, sizeof out), 2);
    T_EQ_INT(remote(&e.f, "/b/p/gone", out, sizeof out), -1);
    T_EQ_INT(remote(&e.f, "/b/p/d/x", out, sizeof out), -1);
    T_EQ_INT(jcs_stage_close(s, 1000), 0);
    /* The renamed paths were journaled: nothing is left under the old ones. */
    T_EQ_INT(count_files(e.meta), 0);
}

static int fill_abc(void *arg, int fd)
{
    (void)arg;
    return write(fd, "abcdef", 6) == 6 ? 0 : JCS_EIO;
}

TEST(writes_are_charged_to_the_cache_cap)
{
    env e;
    setup(&e, "cap", 3600 * 1000);
    char cdir[512];
    t_path(cdir, sizeof cdir, "cap/blocks");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(cdir, 100, &c));
    e.o.cache = c;
    jcs_stage *s;
    T_OK(jcs_stage_open(&e.o, &s));
    jcs_stage_file *f;
    T_OK(jcs_stage_create(s, "/b/p/f", fill_abc, NULL, 3, &f)); /* download on first write */
    char buf[200] = {0}, out[16];
    size_t got;
    T_OK(jcs_stage_read(f, out, 6, 0, &got));
    T_EQ_INT(got, 6);
    T_ASSERT(memcmp(out, "abcdef", 6) == 0);
    T_OK(jcs_stage_write(f, buf, 90, 0));
    T_EQ_INT(jcs_stage_write(f, buf, 20, 90), JCS_ETOOBIG);
    int64_t size, mt;
    jcs_stage_stat(f, &size, &mt);
    T_EQ_INT(size, 90); /* the refused write changed nothing */
    T_OK(jcs_stage_write(f, buf, 10, 90));
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.reserved_bytes, 100);
    jcs_stage_put(f);
    T_OK(jcs_stage_flush_dir(s, "/b"));
    T_EQ_INT(jcs_stage_close(s, 1000), 0);
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.reserved_bytes, 0); /* released once retired */
    jcs_bcache_free(c);
}

static int fill_counted(void *arg, int fd)
{
    (*(int *)arg)++;
    return write(fd, "abcdef", 6) == 6 ? 0 : JCS_EIO;
}

/* Download on first write of an object bigger than the cache can hold: refused before a byte is
 * downloaded (the cap holds in real time), nothing left staged or charged. */
TEST(download_bigger_than_the_cap_is_refused_before_it_starts)
{
    env e;
    setup(&e, "capfill", 3600 * 1000);
    char cdir[512];
    t_path(cdir, sizeof cdir, "capfill/blocks");
    jcs_bcache *c;
    T_OK(jcs_bcache_open(cdir, 100, &c));
    e.o.cache = c;
    jcs_stage *s;
    T_OK(jcs_stage_open(&e.o, &s));
    jcs_stage_file *f = NULL;
    int calls = 0;
    T_EQ_INT(jcs_stage_create(s, "/b/p/huge", fill_counted, &calls, 101, &f), JCS_ETOOBIG);
    T_EQ_INT(calls, 0);
    T_EQ_INT(jcs_stage_pending(s), 0);
    jcs_bcache_stats st;
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.reserved_bytes, 0);
    T_OK(jcs_stage_create(s, "/b/p/fits", fill_counted, &calls, 6, &f));
    T_EQ_INT(calls, 1);
    jcs_bcache_get_stats(c, &st);
    T_EQ_INT(st.reserved_bytes, 6);
    jcs_stage_put(f);
    T_OK(jcs_stage_flush_dir(s, "/b"));
    T_EQ_INT(jcs_stage_close(s, 1000), 0);
    jcs_bcache_free(c);
}

TEST(out_of_memory_is_enomem_without_leaks)
{
    env e;
    setup(&e, "oom", 3600 * 1000);
    int done = 0;
    for (long n = 0; n < 60 && !done; n++) {
        jcs_stage *s;
        jcs_alloc_fail_after(n);
        int rc = jcs_stage_open(&e.o, &s);
        if (rc) {
            jcs_alloc_fail_after(-1);
            T_EQ_INT(rc, JCS_ENOMEM);
            continue;
        }
        jcs_stage_file *f = NULL;
        rc = jcs_stage_create(s, "/b/p/o", NULL, NULL, 0, &f);
        if (rc == 0) {
            rc = jcs_stage_write(f, "x", 1, 0);
            if (rc == 0)
                rc = jcs_stage_rename(s, "/b/p/o", "/b/p/o2");
            jcs_stage_put(f);
        }
        jcs_alloc_fail_after(-1);
        if (rc == 0)
            done = 1;
        else
            T_EQ_INT(rc, JCS_ENOMEM);
        /* Whatever was staged is uploaded now. */
        T_EQ_INT(jcs_stage_close(s, 2000), 0);
    }
    T_ASSERT(done);
}
