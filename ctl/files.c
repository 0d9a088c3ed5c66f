/*
 * Local files for jcsctl (ctl.h): downloads written to a temporary file and
 * renamed into place only when complete and verified (an interrupted get
 * never leaves a truncated file under the real name), and the walk that
 * collects files for put.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "ctl.h"
#include "hash.h"
#include "util.h"

char *ctl_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    if (la == 0)
        return jcs_strdup(b);
    return jcs_asprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

const char *ctl_base(const char *p)
{
    size_t len = strlen(p);
    while (len > 0 && p[len - 1] == '/')
        len--;
    const char *s = p + len;
    while (s > p && s[-1] != '/')
        s--;
    return s;
}

int ctl_check_rel(const char *rel)
{
    if (!*rel || rel[0] == '/')
        return jcs_err_set(JCS_ECORRUPT, "object path \"%s\" cannot be a local file name", rel);
    const char *p = rel;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return jcs_err_set(JCS_ECORRUPT,
                               "object path \"%s\" has an empty, . or .. segment; refusing to "
                               "write it as a local file",
                               rel);
        p += n;
        if (*p == '/')
            p++;
    }
    return 0;
}

int ctl_write_all(int fd, const void *p, size_t n, const char *what)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return jcs_err_set(JCS_EIO, "writing %s: %s", what, strerror(errno));
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int ctl_out_open(ctl_outfile *o, const char *dest, int verify)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (verify) {
        o->hash = jcs_calloc(1, sizeof *o->hash);
        if (!o->hash)
            return JCS_ENOMEM;
        int rc = jcs_hash_init(o->hash);
        if (rc) {
            jcs_free(o->hash);
            o->hash = NULL;
            return rc;
        }
    }
    if (strcmp(dest, "-") == 0) {
        o->fd = STDOUT_FILENO;
        o->final = jcs_strdup("stdout");
        if (!o->final) {
            ctl_out_abort(o);
            return JCS_ENOMEM;
        }
        return 0;
    }
    o->final = jcs_strdup(dest);
    char *dir = jcs_strdup(dest);
    if (!o->final || !dir) {
        jcs_free(dir);
        ctl_out_abort(o);
        return JCS_ENOMEM;
    }
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = jcs_mkdirs(dir, 0777);
        if (rc)
            rc = jcs_err_set(JCS_EIO, "cannot make directory %s for %s: %s", dir, dest,
                             jcs_err_msg(rc));
    }
    jcs_free(dir);
    o->tmp = rc ? NULL : jcs_asprintf("%s.jcsctl-XXXXXX", dest);
    if (!rc && !o->tmp)
        rc = JCS_ENOMEM;
    if (!rc) {
        o->fd = mkstemp(o->tmp);
        if (o->fd < 0) {
            rc = jcs_err_set(JCS_EIO, "cannot write %s: %s", dest, strerror(errno));
            jcs_free(o->tmp);
            o->tmp = NULL;
        } else {
            mode_t um = umask(0);
            umask(um);
            (void)fchmod(o->fd, 0666 & ~um);
        }
    }
    if (rc)
        ctl_out_abort(o);
    return rc;
}

int ctl_out_sink(void *arg, const void *p, size_t n)
{
    ctl_outfile *o = arg;
    if (o->hash)
        jcs_hash_update(o->hash, p, n);
    o->written += (int64_t)n;
    return ctl_write_all(o->fd, p, n, o->final);
}

int ctl_out_commit(ctl_outfile *o, const char *want)
{
    int rc = 0;
    if (o->hash) {
        char got[JCS_HASH_SIZE];
        rc = jcs_hash_final(o->hash, got, NULL);
        jcs_free(o->hash);
        o->hash = NULL;
        if (!rc && want && strncmp(want, "Full", 4) == 0 && strcmp(want, got) != 0)
            rc = jcs_err_set(JCS_ECORRUPT,
                             "%s: the downloaded bytes do not match the object's hash (%s, "
                             "got %s); nothing was written",
                             o->final, want, got);
    }
    if (!rc && o->tmp) {
        if (fsync(o->fd) != 0 && errno != EINVAL)
            rc = jcs_err_set(JCS_EIO, "writing %s: %s", o->final, strerror(errno));
        if (close(o->fd) != 0 && !rc)
            rc = jcs_err_set(JCS_EIO, "writing %s: %s", o->final, strerror(errno));
        o->fd = -1;
        if (!rc && rename(o->tmp, o->final) != 0)
            rc = jcs_err_set(JCS_EIO, "cannot rename %s to %s: %s", o->tmp, o->final,
                             strerror(errno));
        if (!rc) {
            jcs_free(o->tmp);
            o->tmp = NULL;
        }
    }
    if (rc) {
        ctl_out_abort(o);
        return rc;
    }
    jcs_free(o->final);
    o->final = NULL;
    return 0;
}

void ctl_out_abort(ctl_outfile *o)
{
    if (o->hash) {
        jcs_hash_abort(o->hash);
        jcs_free(o->hash);
    }
    if (o->tmp) {
        if (o->fd >= 0)
            close(o->fd);
        unlink(o->tmp);
    }
    jcs_free(o->tmp);
    jcs_free(o->final);
    memset(o, 0, sizeof *o);
    o->fd = -1;
}

/* ---- walking for put ------------------------------------------------------------------------- */

int ctl_locals_add(ctl_locals *l, const char *local, const char *path, int64_t size, int fd,
                   int64_t off)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ctl_local *v = jcs_realloc(l->v, cap * sizeof *v);
        if (!v)
            return JCS_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    ctl_local *e = &l->v[l->n];
    e->local = jcs_strdup(local);
    e->path = jcs_strdup(path);
    e->size = size;
    e->fd = fd;
    e->off = off;
    if (!e->local || !e->path) {
        jcs_free(e->local);
        jcs_free(e->path);
        return JCS_ENOMEM;
    }
    l->n++;
    return 0;
}

void ctl_locals_free(ctl_locals *l)
{
    for (size_t i = 0; i < l->n; i++) {
        jcs_free(l->v[i].local);
        jcs_free(l->v[i].path);
    }
    jcs_free(l->v);
    memset(l, 0, sizeof *l);
}

static int walk_dir(ctl *c, const char *dir, const char *obj, int depth, ctl_locals *out)
{
    if (depth > 256)
        return jcs_err_set(JCS_EINVAL, "%s: directories nested over 256 deep", dir);
    DIR *d = opendir(dir);
    if (!d)
        return jcs_err_set(JCS_EIO, "cannot read directory %s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (!rc && (errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *local = jcs_asprintf("%s/%s", dir, e->d_name);
        char *path = ctl_join(obj, e->d_name);
        struct stat st, lst;
        if (!local || !path) {
            rc = JCS_ENOMEM;
        } else if (lstat(local, &lst) != 0 || stat(local, &st) != 0) {
            if (S_ISLNK(lst.st_mode))
                ctl_warn(c, "skipping %s: a broken symbolic link", local);
            else
                rc = jcs_err_set(JCS_EIO, "cannot read %s: %s", local, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (S_ISLNK(lst.st_mode))
                ctl_warn(c, "skipping %s: a symbolic link to a directory", local);
            else
                rc = walk_dir(c, local, path, depth + 1, out);
        } else if (S_ISREG(st.st_mode)) {
            rc = ctl_locals_add(out, local, path, st.st_size, -1, 0);
        } else {
            ctl_warn(c, "skipping %s: not a regular file", local);
        }
        jcs_free(local);
        jcs_free(path);
    }
    if (!rc && errno)
        rc = jcs_err_set(JCS_EIO, "cannot read directory %s: %s", dir, strerror(errno));
    closedir(d);
    return rc;
}

int ctl_walk(ctl *c, const char *src, const char *obj, int recursive, ctl_locals *out)
{
    struct stat st;
    if (stat(src, &st) != 0)
        /* A local file that is not there is a bad argument (exit 2), not a refusal. */
        return jcs_err_set(errno == ENOENT ? JCS_EINVAL : JCS_EIO, "local file %s: %s", src,
                           strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (!recursive)
            return ctl_usage("%s is a directory; put -r uploads a directory", src);
        size_t len = strlen(src);
        while (len > 1 && src[len - 1] == '/')
            len--;
        char *dir = jcs_strndup(src, len);
        if (!dir)
            return JCS_ENOMEM;
        int rc = walk_dir(c, dir, obj, 0, out);
        jcs_free(dir);
        return rc;
    }
    if (!S_ISREG(st.st_mode))
        return jcs_err_set(JCS_EINVAL, "%s is not a regular file", src);
    if (!*obj)
        return ctl_usage("%s: no object path to put it at", src);
    return ctl_locals_add(out, src, obj, st.st_size, -1, 0);
}
