/*
 * package export and package import: a whole package to a local directory
 * tree or a tar archive, and back.
 *
 * Export to tar streams each object from the server straight into the
 * archive after its header (the size is known from the listing), hashing
 * as it goes; the archive is written to a temporary file and renamed only
 * when every object arrived whole and verified. Import from tar walks the
 * headers first (nothing is sent if the archive is malformed), then
 * uploads the entries in batches, each streamed from its offset in the
 * archive.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "ctl.h"
#include "hash.h"
#include "tar.h"
#include "util.h"

/* Seconds since the epoch of an RFC 3339 time; 0 when it does not parse. */
static int64_t rfc3339(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int n = 0;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + n;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    int64_t off = 0;
    int hh, mm;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%d:%d", &hh, &mm) == 2)
        off = (*p == '-' ? -1 : 1) * (int64_t)(hh * 3600 + mm * 60);
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (int64_t)t - off;
}

/* Where export writes: a tar when --tar, "-", or a name ending in .tar. */
static int wants_tar(const char *dest, int tar_flag)
{
    size_t len = strlen(dest);
    return tar_flag || strcmp(dest, "-") == 0 || (len > 4 && strcmp(dest + len - 4, ".tar") == 0);
}

/* The sink of one tar entry: the archive, hashing the entry's bytes. */
typedef struct tar_sink {
    ctl_outfile *out;
    struct jcs_hash hash;
    int hashing;
} tar_sink;

static int tar_sink_write(void *arg, const void *p, size_t n)
{
    tar_sink *s = arg;
    if (s->hashing)
        jcs_hash_update(&s->hash, p, n);
    return ctl_out_sink(s->out, p, n);
}

static int export_tar(ctl *c, const ctl_ref *r, json_t *objs, const char *dest, int verify)
{
    ctl_outfile out;
    int rc = ctl_out_open(&out, dest, 0);
    if (rc)
        return rc;
    int64_t total = 0;
    json_t *o;
    size_t i;
    json_array_foreach(objs, i, o) total += ctl_obj_size(o);
    ctl_progress prog;
    ctl_progress_start(&prog, c, total, json_array_size(objs));
    jcs_buf hdr;
    jcs_buf_init(&hdr, 1u << 21);
    static const char zeros[2 * CTL_TAR_BLOCK];
    json_array_foreach(objs, i, o)
    {
        const char *path = ctl_str(o, "path", "");
        int64_t size = ctl_obj_size(o);
        jcs_buf_reset(&hdr);
        if ((rc = ctl_tar_header(&hdr, path, size, rfc3339(ctl_str(o, "updateTime", "")))) ||
            (rc = ctl_out_sink(&out, hdr.data, hdr.len)))
            break;
        tar_sink s = {.out = &out};
        const char *want = ctl_str(o, "fileHash", "");
        if (verify && strncmp(want, "Full", 4) == 0) {
            if ((rc = jcs_hash_init(&s.hash)))
                break;
            s.hashing = 1;
        }
        char ids[24];
        snprintf(ids, sizeof ids, "%lld", (long long)ctl_int(o, "objectID", 0));
        const char *kv[] = {"objectID", ids, NULL};
        int64_t got;
        ctl_progress_label(&prog, ctl_base(path));
        rc = ctl_download(c, "/v1/object/download", kv, tar_sink_write, &s, &prog, &got);
        if (!rc && got != size)
            rc =
                jcs_err_set(JCS_ECORRUPT, "%s: the server sent %lld bytes where %lld were expected",
                            path, (long long)got, (long long)size);
        if (s.hashing) {
            char h[JCS_HASH_SIZE];
            int hrc = jcs_hash_final(&s.hash, h, NULL);
            if (!rc && (rc = hrc) == 0 && strcmp(h, want) != 0)
                rc = jcs_err_set(JCS_ECORRUPT, "%s: the downloaded bytes do not match its hash %s",
                                 path, want);
        }
        if (!rc)
            rc = ctl_out_sink(&out, zeros, ctl_tar_pad(size));
        ctl_progress_next(&prog, got);
        if (rc)
            break;
    }
    jcs_buf_clear(&hdr);
    ctl_progress_end(&prog);
    /* The end-of-archive marker: two zero blocks. */
    if (!rc)
        rc = ctl_out_sink(&out, zeros, sizeof zeros);
    if (!rc)
        rc = ctl_out_commit(&out, NULL);
    else
        ctl_out_abort(&out);
    if (rc)
        return jcs_err_wrap(rc, "export of %s/%s to %s: ", r->bucket, r->package, dest);
    return 0;
}

static int package_export(ctl *c, int argc, char **argv)
{
    const char *pos[2];
    size_t np;
    int tar = 0, no_verify = 0;
    const ctl_opt opts[] = {{"tar", 0, NULL, &tar}, {"no-verify", 0, NULL, &no_verify}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 2, 2, &np);
    int as_tar = wants_tar(pos[1], tar);
    if (as_tar && strcmp(pos[1], "-") == 0 && c->json)
        return ctl_usage("a tar on stdout (-) leaves no room for --json");
    ctl_ref r;
    int rc = ctl_ref_resolve(c, pos[0], &r);
    if (rc)
        return rc;
    json_t *objs = NULL;
    size_t plen = strlen(r.path);
    char *prefix = plen == 0 || r.path[plen - 1] == '/' ? jcs_strdup(r.path) : ctl_join(r.path, "");
    rc = prefix ? ctl_list(c, r.package_id, prefix, 1, 0, &objs, NULL) : JCS_ENOMEM;
    if (!rc) {
        json_t *o;
        size_t i;
        json_array_foreach(objs, i, o) if (!rc) rc =
            ctl_check_rel(ctl_str(o, "path", "") + strlen(prefix));
    }
    if (!rc && as_tar) {
        /* Paths in the archive are relative to the exported prefix. */
        json_t *o;
        size_t i;
        json_array_foreach(objs, i, o)
        {
            json_t *p = json_string(ctl_str(o, "path", "") + strlen(prefix));
            if (!p || json_object_set_new(o, "path", p) != 0)
                rc = JCS_ENOMEM;
        }
        if (!rc)
            rc = export_tar(c, &r, objs, pos[1], !no_verify);
    } else if (!rc) {
        rc = ctl_get_objects(c, objs, strlen(prefix), pos[1], !no_verify);
        if (!rc && json_array_size(objs) == 0 && (rc = jcs_mkdirs(pos[1], 0777)))
            rc = jcs_err_wrap(rc, "cannot make %s: ", pos[1]);
    }
    if (!rc) {
        int64_t total = 0;
        json_t *o;
        size_t i;
        json_array_foreach(objs, i, o) total += ctl_obj_size(o);
        char h[32];
        if (strcmp(pos[1], "-") != 0)
            ctl_say(c, "exported %zu objects (%s) of %s/%s to %s%s", json_array_size(objs),
                    ctl_human(total, h, sizeof h), r.bucket, r.package, pos[1],
                    as_tar ? " (tar)" : "");
        if (c->json)
            ctl_print_json(json_pack("{sI sI ss ss}", "objects", (json_int_t)json_array_size(objs),
                                     "bytes", (json_int_t)total, "format", as_tar ? "tar" : "dir",
                                     "to", pos[1]));
    }
    jcs_free(prefix);
    json_decref(objs);
    ctl_ref_free(&r);
    return rc;
}

/* The regular files of a tar archive as upload sources (fd borrowed by every entry). */
static int tar_entries(ctl *c, int fd, const char *file, const char *prefix, ctl_locals *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return jcs_err_set(JCS_EIO, "%s: %s", file, strerror(errno));
    int64_t pos = 0;
    int rc;
    for (;;) {
        ctl_tar_entry e;
        rc = ctl_tar_next(fd, file, &pos, &e);
        if (rc == 1)
            return 0;
        if (rc)
            return rc;
        if (e.type == '0') {
            if (e.data_off + e.size > st.st_size)
                rc = jcs_err_set(JCS_ECORRUPT, "%s: the archive is cut short inside %s", file,
                                 e.name);
            char *path = rc ? NULL : ctl_join(prefix, e.name);
            if (!rc && !path)
                rc = JCS_ENOMEM;
            if (!rc)
                rc = ctl_locals_add(out, e.name, path, e.size, fd, e.data_off);
            jcs_free(path);
        } else if (e.type != '5') {
            ctl_warn(c, "%s: skipping %s (not a regular file: type '%c')", file, e.name, e.type);
        }
        jcs_free(e.name);
        if (rc)
            return rc;
    }
}

static int package_import(ctl *c, int argc, char **argv)
{
    const char *pos[2], *red_s = NULL, *aff_s = NULL;
    size_t np;
    const ctl_opt opts[] = {{"redundancy", 'R', &red_s, NULL}, {"affinity", 0, &aff_s, NULL}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 2, 2, &np);
    if (strcmp(pos[0], "-") == 0)
        return ctl_usage("import reads a tar file or a directory, not stdin (entries are uploaded "
                         "from their offsets)");
    json_t *red = NULL, *uploaded = json_array();
    ctl_locals files = {0};
    ctl_ref r = {0};
    int fd = -1, rc = uploaded ? 0 : JCS_ENOMEM, created = 0;
    int64_t aff = 0;
    struct stat st;
    if (rc || (red_s && (rc = ctl_parse_redundancy(red_s, &red))) ||
        (rc = ctl_ref_split(pos[1], &r)))
        goto out;
    /* Everything local is read and checked before the server is asked anything. */
    if (stat(pos[0], &st) != 0) {
        rc = jcs_err_set(errno == ENOENT ? JCS_ENOENT : JCS_EIO, "%s: %s", pos[0], strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = ctl_walk(c, pos[0], r.path, 1, &files);
    } else {
        fd = open(pos[0], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            rc = jcs_err_set(JCS_EIO, "cannot read %s: %s", pos[0], strerror(errno));
        else if (!ctl_tar_probe(fd))
            rc = jcs_err_set(JCS_EINVAL, "%s is neither a directory nor a tar archive", pos[0]);
        else
            rc = tar_entries(c, fd, pos[0], r.path, &files);
    }
    if (rc)
        goto out;
    /* The package is made when missing, with the given redundancy as its default. */
    ctl_ref_free(&r);
    rc = ctl_ref_resolve(c, pos[1], &r);
    if (rc == JCS_ENOENT) {
        /* A missing bucket keeps ctl_bucket_id's message naming it. */
        if ((rc = ctl_ref_split(pos[1], &r)) || (rc = ctl_bucket_id(c, r.bucket, &r.bucket_id)))
            goto out;
        json_t *body = json_pack("{sI ss}", "bucketID", (json_int_t)r.bucket_id, "name", r.package),
               *d = NULL;
        if (body && red)
            json_object_set(body, "redundancy", red);
        rc = body ? ctl_post(c, "/v1/package/create", body, &d) : JCS_ENOMEM;
        json_decref(body);
        r.package_id = ctl_int(json_object_get(d, "package"), "packageID", 0);
        json_decref(d);
        created = 1;
    }
    if (rc || (aff_s && (rc = ctl_space_id(c, aff_s, &aff))))
        goto out;
    rc = ctl_put_files(c, r.package_id, &files, red, aff, 0, uploaded);
    if (rc)
        goto out;
    int64_t total = 0;
    for (size_t i = 0; i < files.n; i++)
        total += files.v[i].size;
    char h[32];
    ctl_say(c, "imported %zu files (%s) from %s into %s%s/%s", files.n,
            ctl_human(total, h, sizeof h), pos[0], created ? "new package " : "", r.bucket,
            r.package);
    if (c->json)
        ctl_print_json(json_pack("{sO sb}", "uploadeds", uploaded, "createdPackage", created));
out:
    if (fd >= 0)
        close(fd);
    json_decref(red);
    json_decref(uploaded);
    ctl_locals_free(&files);
    ctl_ref_free(&r);
    return rc;
}

const ctl_cmd ctl_cmds_transfer[] = {
    {"package export", "[--tar] BUCKET/PACKAGE[/PREFIX] DIR|FILE.tar|-",
     "write a package to a directory tree or a tar archive",
     "DEST ending in .tar, or --tar, or - (stdout) makes a tar archive (ustar, long\n"
     "names as PAX headers); anything else is a directory. Paths are relative to the\n"
     "package (or PREFIX). Every object is checked against its hash; a tar file\n"
     "appears only when complete.\n\n"
     "Options:\n  --tar        a tar archive whatever DEST's name\n"
     "  --no-verify  skip the hash check\n\n"
     "Examples:\n  jcsctl package export photos/2024 ./2024\n"
     "  jcsctl package export photos/2024 - | tar -tvf -",
     package_export},
    {"package import", "[-R R] DIR|FILE.tar BUCKET/PACKAGE[/PREFIX]",
     "upload a directory tree or a tar archive into a package (made if missing)",
     "Reads ustar, PAX and GNU tar archives (long names too); directories and links\n"
     "in the archive are skipped.\n\n"
     "Options:\n  -R, --redundancy R  redundancy of the objects (and of the package when it\n"
     "                      is created here)\n"
     "  --affinity SPACE    prefer this user space\n\n"
     "Example:\n  jcsctl package import 2024.tar photos/2024-restored",
     package_import},
    {0},
};
