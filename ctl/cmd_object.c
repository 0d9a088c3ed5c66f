/*
 * Commands on objects (API.md "Objects"): ls, put, get, rm, mv, cp, info,
 * redundancy set.
 *
 * Paths. Objects are named BUCKET/PACKAGE/PATH. A PATH ending in '/' (or
 * none) is a prefix: `put a.txt b/p/docs/` makes docs/a.txt. With -r a
 * directory's contents go under the destination prefix keeping their
 * relative paths (`put -r ./site b/p/www` makes www/index.html ...), and
 * `get -r b/p/www out` writes out/index.html ..., so the two round-trip.
 *
 * Uploads go in batches (CTL_BATCH_FILES files, about CTL_BATCH_BYTES):
 * each batch is one atomic request, so a failure keeps the batches before
 * it and none of its own; the message says how far it got.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "ctl.h"

#define CTL_BATCH_FILES 64
#define CTL_BATCH_BYTES (256ll << 20)
#define CTL_BATCH_IDS   1000

static void idstr(int64_t id, char *buf, size_t size)
{
    snprintf(buf, size, "%lld", (long long)id);
}

/* Runs another command of a table by name with argv (the user's own words). */
static int run_named(ctl *c, const ctl_cmd *tbl, const char *name, int argc, char **argv)
{
    for (; tbl->name; tbl++)
        if (strcmp(tbl->name, name) == 0) {
            c->cmd = tbl;
            c->cmd_name = tbl->name;
            return tbl->run(c, argc, argv);
        }
    return jcs_err_set(JCS_EINTERNAL, "no command %s", name);
}

/* ---- ls -------------------------------------------------------------------------------------- */

static int add_obj_row(ctl_table *t, const json_t *o, const char *shown)
{
    char sz[32], red[64];
    json_t *r = json_object_get(o, "redundancy");
    return ctl_table_row(t, ctl_human(ctl_obj_size(o), sz, sizeof sz), ctl_str(o, "updateTime", ""),
                         json_is_object(r) ? ctl_redundancy_str(r, red, sizeof red) : "?", shown);
}

static int cmd_ls(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    int recursive = 0;
    const ctl_opt opts[] = {{"recursive", 'r', NULL, &recursive}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 0, 1, &np);
    if (np == 0)
        return run_named(c, ctl_cmds_bucket, "bucket ls", 0, NULL);
    if (!strchr(pos[0], '/') || strchr(pos[0], '/')[1] == '\0') {
        char *b = jcs_strndup(pos[0], strcspn(pos[0], "/"));
        if (!b)
            return JCS_ENOMEM;
        char *args[1] = {b};
        int rc = run_named(c, ctl_cmds_bucket, "package ls", 1, args);
        jcs_free(b);
        return rc;
    }
    ctl_ref r;
    int rc = ctl_ref_resolve(c, pos[0], &r);
    if (rc)
        return rc;
    json_t *exact = NULL, *objs = NULL, *pres = NULL;
    size_t len = strlen(r.path);
    char *prefix = len == 0 || r.path[len - 1] == '/' ? jcs_strdup(r.path) : ctl_join(r.path, "");
    if (!prefix)
        rc = JCS_ENOMEM;
    if (!rc && len && r.path[len - 1] != '/')
        rc = ctl_list(c, r.package_id, r.path, 0, 0, &exact, NULL);
    if (!rc)
        rc = ctl_list(c, r.package_id, prefix, 1, !recursive, &objs, &pres);
    if (!rc && exact && json_array_extend(exact, objs) == 0) {
        json_decref(objs);
        objs = exact;
        exact = NULL;
    }
    if (!rc && c->json) {
        json_t *o = json_pack("{sO sO}", "objects", objs, "commonPrefixes", pres);
        if (o)
            ctl_print_json(o);
        else
            rc = JCS_ENOMEM;
    } else if (!rc) {
        static const char *const heads[] = {"SIZE", "UPDATED", "REDUNDANCY", "PATH"};
        static const unsigned char right[] = {1, 0, 0, 0};
        ctl_table t;
        ctl_table_init(&t, 4, heads, right);
        json_t *e;
        size_t i;
        json_array_foreach(pres, i, e) if (!rc) rc =
            ctl_table_row(&t, "DIR", "", "", json_string_value(e) ? json_string_value(e) : "");
        json_array_foreach(objs, i, e) if (!rc) rc = add_obj_row(&t, e, ctl_str(e, "path", ""));
        if (!rc)
            ctl_table_print(&t);
        ctl_table_free(&t);
    }
    json_decref(exact);
    json_decref(objs);
    json_decref(pres);
    jcs_free(prefix);
    ctl_ref_free(&r);
    return rc;
}

/* ---- put ------------------------------------------------------------------------------------- */

/* One file as a multipart upload: new, parts in order, complete (abort on failure). */
static int put_multipart(ctl *c, int64_t pkg, const ctl_local *f, int64_t part_size,
                         ctl_progress *prog, json_t *uploaded)
{
    int fd = f->fd >= 0 ? f->fd : open(f->local, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return jcs_err_set(errno == ENOENT ? JCS_ENOENT : JCS_EIO, "cannot read %s: %s", f->local,
                           strerror(errno));
    json_t *body = json_pack("{sI ss}", "packageID", (json_int_t)pkg, "path", f->path), *d = NULL;
    int rc = body ? ctl_post(c, "/v1/object/newMultipartUpload", body, &d) : JCS_ENOMEM;
    json_decref(body);
    int64_t id = ctl_int(json_object_get(d, "object"), "objectID", 0);
    json_decref(d);
    json_t *indexes = json_array();
    if (!rc && !indexes)
        rc = JCS_ENOMEM;
    ctl_progress_label(prog, ctl_base(f->local));
    int64_t nparts = f->size == 0 ? 1 : (f->size + part_size - 1) / part_size;
    for (int64_t i = 0; !rc && i < nparts; i++) {
        jcs_rest_file part = {.path = f->path,
                              .local = f->local,
                              .fd = fd,
                              .off = f->off + i * part_size,
                              .size = i + 1 < nparts ? part_size : f->size - i * part_size};
        char ids[24], idx[24];
        snprintf(ids, sizeof ids, "%lld", (long long)id);
        snprintf(idx, sizeof idx, "%lld", (long long)i);
        const char *kv[] = {"objectID", ids, "index", idx, NULL};
        rc = ctl_upload_raw(c, "/v1/object/uploadPart", kv, &part, prog, NULL);
        if (!rc) {
            json_array_append_new(indexes, json_integer(i));
            prog->done += part.size;
            prog->cur = 0;
        } else {
            rc = jcs_err_wrap(rc, "%s: part %lld of %lld: ", f->local, (long long)i + 1,
                              (long long)nparts);
        }
    }
    if (!rc) {
        body = json_pack("{sI sO}", "objectID", (json_int_t)id, "indexes", indexes);
        rc = body ? ctl_post(c, "/v1/object/completeMultipartUpload", body, &d) : JCS_ENOMEM;
        json_decref(body);
        if (!rc && uploaded)
            json_array_append(uploaded, json_object_get(d, "object"));
        if (!rc)
            json_decref(d);
    }
    if (rc && id) {
        /* The parts become garbage for the server's collector; a failure here changes nothing. */
        json_t *ab = json_pack("{sI}", "objectID", (json_int_t)id);
        if (ab && ctl_post(c, "/v1/object/abortMultipartUpload", ab, NULL) != 0) {
        }
        json_decref(ab);
    }
    json_decref(indexes);
    if (f->fd < 0)
        close(fd);
    prog->files_done++;
    return rc;
}

int ctl_put_files(ctl *c, int64_t pkg, const ctl_locals *files, json_t *redundancy,
                  int64_t affinity, int64_t part_size, json_t *uploaded)
{
    int64_t total = 0;
    for (size_t i = 0; i < files->n; i++)
        total += files->v[i].size;
    ctl_progress prog;
    ctl_progress_start(&prog, c, total, files->n);
    json_t *info = json_pack("{sI}", "packageID", (json_int_t)pkg);
    if (!info)
        return JCS_ENOMEM;
    if (redundancy)
        json_object_set(info, "redundancy", redundancy);
    if (affinity)
        json_object_set_new(info, "affinity", json_integer(affinity));
    jcs_rest_file *up = jcs_calloc(CTL_BATCH_FILES, sizeof *up);
    int rc = up ? 0 : JCS_ENOMEM;
    size_t i = 0, done = 0;
    while (!rc && i < files->n) {
        size_t n = 0;
        int64_t bytes = 0;
        if (part_size > 0 && files->v[i].size > part_size) {
            rc = put_multipart(c, pkg, &files->v[i], part_size, &prog, uploaded);
            if (rc && done)
                rc = jcs_err_wrap(rc, "after %zu of %zu files were uploaded (the rest were not): ",
                                  done, files->n);
            done += !rc;
            i++;
            continue;
        }
        while (i + n < files->n && n < CTL_BATCH_FILES &&
               !(part_size > 0 && files->v[i + n].size > part_size) &&
               (n == 0 || bytes + files->v[i + n].size <= CTL_BATCH_BYTES)) {
            const ctl_local *f = &files->v[i + n];
            int fd = f->fd >= 0 ? f->fd : open(f->local, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                rc = jcs_err_set(errno == ENOENT ? JCS_ENOENT : JCS_EIO, "cannot read %s: %s",
                                 f->local, strerror(errno));
                break;
            }
            up[n] = (jcs_rest_file){
                .path = f->path, .local = f->local, .fd = fd, .off = f->off, .size = f->size};
            bytes += f->size;
            n++;
        }
        json_t *d = NULL;
        if (!rc) {
            ctl_progress_label(&prog, ctl_base(up[0].local));
            rc = ctl_upload(c, info, up, n, &prog, &d);
        }
        for (size_t k = 0; k < n; k++)
            if (files->v[i + k].fd < 0)
                close(up[k].fd);
        if (!rc) {
            json_t *u = json_object_get(d, "uploadeds");
            if (json_array_size(u) != n)
                rc = jcs_err_set(JCS_ERPC, "the server answered %zu objects for %zu files",
                                 json_array_size(u), n);
            else if (uploaded && json_array_extend(uploaded, u) != 0)
                rc = JCS_ENOMEM;
            prog.files_done += n - 1;
            ctl_progress_next(&prog, bytes);
            done += n;
        }
        json_decref(d);
        if (rc && done)
            rc = jcs_err_wrap(
                rc, "after %zu of %zu files were uploaded (the rest were not): ", done, files->n);
        i += n;
    }
    ctl_progress_end(&prog);
    jcs_free(up);
    json_decref(info);
    return rc;
}

static int cmd_put(ctl *c, int argc, char **argv)
{
    const char **pos = jcs_calloc((size_t)argc + 1, sizeof *pos);
    if (!pos)
        return JCS_ENOMEM;
    size_t np;
    int recursive = 0, rc;
    const char *red_s = NULL, *aff_s = NULL, *part_s = NULL;
    const ctl_opt opts[] = {{"recursive", 'r', NULL, &recursive},
                            {"redundancy", 'R', &red_s, NULL},
                            {"affinity", 0, &aff_s, NULL},
                            {"part-size", 0, &part_s, NULL},
                            {0}};
    rc = ctl_args(c, argc, argv, opts, pos, 2, (size_t)argc, &np);
    if (rc) {
        jcs_free(pos);
        return rc < 0 ? rc : 0;
    }
    json_t *red = NULL, *uploaded = json_array();
    ctl_locals files = {0};
    ctl_ref r = {0};
    int64_t aff = 0;
    if (!uploaded) {
        rc = JCS_ENOMEM;
        goto out;
    }
    int64_t part_size = 0;
    if ((red_s && (rc = ctl_parse_redundancy(red_s, &red))) ||
        (part_s && (rc = ctl_parse_size("--part-size", part_s, &part_size))))
        goto out;
    if (part_s && part_size < 1)
        rc = ctl_usage("--part-size must be at least one byte");
    if (rc || (rc = ctl_ref_split(pos[np - 1], &r)))
        goto out;
    /* Local problems first: nothing is sent when a file is missing. */
    size_t plen = strlen(r.path);
    int as_prefix = np > 2 || plen == 0 || r.path[plen - 1] == '/';
    for (size_t i = 0; i + 1 < np && !rc; i++) {
        struct stat st;
        int is_dir = stat(pos[i], &st) == 0 && S_ISDIR(st.st_mode);
        char *obj = is_dir || !as_prefix ? jcs_strdup(r.path) : ctl_join(r.path, ctl_base(pos[i]));
        rc = obj ? ctl_walk(c, pos[i], obj, recursive, &files) : JCS_ENOMEM;
        jcs_free(obj);
    }
    if (rc)
        goto out;
    if (files.n == 0) {
        rc = jcs_err_set(JCS_ENOENT, "no files to upload under %s", pos[0]);
        goto out;
    }
    ctl_ref_free(&r);
    if ((rc = ctl_ref_resolve(c, pos[np - 1], &r)) ||
        (aff_s && (rc = ctl_space_id(c, aff_s, &aff))))
        goto out;
    rc = ctl_put_files(c, r.package_id, &files, red, aff, part_size, uploaded);
    if (rc)
        goto out;
    if (c->json) {
        ctl_print_json(json_pack("{sO}", "uploadeds", uploaded));
    } else if (files.n == 1) {
        char h[32];
        ctl_say(c, "uploaded %s to %s/%s/%s (%s)", files.v[0].local, r.bucket, r.package,
                files.v[0].path, ctl_human(files.v[0].size, h, sizeof h));
    } else {
        int64_t total = 0;
        for (size_t i = 0; i < files.n; i++)
            total += files.v[i].size;
        char h[32];
        /* The destination as given (photos/2024/www), not only its package. */
        size_t pl = strlen(r.path);
        while (pl > 0 && r.path[pl - 1] == '/')
            pl--;
        ctl_say(c, "uploaded %zu files (%s) to %s/%s%s%.*s", files.n, ctl_human(total, h, sizeof h),
                r.bucket, r.package, pl ? "/" : "", (int)pl, r.path);
    }
out:
    json_decref(red);
    json_decref(uploaded);
    ctl_locals_free(&files);
    ctl_ref_free(&r);
    jcs_free(pos);
    return rc;
}

/* ---- get ------------------------------------------------------------------------------------- */

/* Downloads object o (bytes [off, off+len), len -1 = to the end) to dest. */
static int get_one(ctl *c, const json_t *o, const char *dest, int64_t off, int64_t len, int verify,
                   ctl_progress *prog)
{
    int64_t size = ctl_obj_size(o);
    int whole = off == 0 && len < 0;
    ctl_outfile f;
    int rc = ctl_out_open(&f, dest, verify && whole);
    if (rc)
        return rc;
    char ids[24], offs[24], lens[24];
    idstr(ctl_int(o, "objectID", 0), ids, sizeof ids);
    idstr(off, offs, sizeof offs);
    idstr(len, lens, sizeof lens);
    /* objectID, then offset and length only when given. */
    const char *kv[7] = {"objectID", ids};
    size_t k = 2;
    if (off) {
        kv[k++] = "offset";
        kv[k++] = offs;
    }
    if (len >= 0) {
        kv[k++] = "length";
        kv[k++] = lens;
    }
    kv[k] = NULL;
    ctl_progress_label(prog, ctl_base(ctl_str(o, "path", "")));
    int64_t got;
    rc = ctl_download(c, "/v1/object/download", kv, ctl_out_sink, &f, prog, &got);
    int64_t want = size < 0 ? -1 : off >= size ? 0 : len < 0 || off + len > size ? size - off : len;
    if (!rc && want >= 0 && got != want)
        rc = jcs_err_set(JCS_ECORRUPT,
                         "%s: the server sent %lld bytes where %lld were expected; nothing was "
                         "written",
                         ctl_str(o, "path", ""), (long long)got, (long long)want);
    if (!rc)
        rc = ctl_out_commit(&f, ctl_str(o, "fileHash", NULL));
    else
        ctl_out_abort(&f);
    ctl_progress_next(prog, got);
    return rc;
}

int ctl_get_objects(ctl *c, json_t *objects, size_t strip, const char *dir, int verify)
{
    int64_t total = 0;
    json_t *o;
    size_t i;
    int rc = 0;
    json_array_foreach(objects, i, o)
    {
        const char *p = ctl_str(o, "path", "");
        if (strlen(p) <= strip || (rc = ctl_check_rel(p + strip)))
            return rc ? rc
                      : jcs_err_set(JCS_ECORRUPT, "object path \"%s\" is not under the prefix", p);
        total += ctl_obj_size(o);
    }
    ctl_progress prog;
    ctl_progress_start(&prog, c, total, json_array_size(objects));
    json_array_foreach(objects, i, o)
    {
        char *local = ctl_join(dir, ctl_str(o, "path", "") + strip);
        rc = local ? get_one(c, o, local, 0, -1, verify, &prog) : JCS_ENOMEM;
        jcs_free(local);
        if (rc) {
            if (i)
                rc = jcs_err_wrap(rc, "after %zu of %zu files: ", i, json_array_size(objects));
            break;
        }
    }
    ctl_progress_end(&prog);
    return rc;
}

/* "A-B" (inclusive), "A-" */
static int parse_range(const char *s, int64_t *off, int64_t *len)
{
    const char *dash = strchr(s, '-');
    char a[32];
    if (!dash || (size_t)(dash - s) >= sizeof a || dash == s)
        return ctl_usage("--range \"%s\": write FIRST-LAST or FIRST- (byte positions)", s);
    memcpy(a, s, (size_t)(dash - s));
    a[dash - s] = '\0';
    int64_t last;
    int rc = ctl_parse_size("--range", a, off);
    if (rc)
        return rc;
    if (!dash[1]) {
        *len = -1;
        return 0;
    }
    if ((rc = ctl_parse_size("--range", dash + 1, &last)))
        return rc;
    if (last < *off)
        return ctl_usage("--range \"%s\": the last byte is before the first", s);
    *len = last - *off + 1;
    return 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmd_get(ctl *c, int argc, char **argv)
{
    const char *pos[2], *off_s = NULL, *len_s = NULL, *range_s = NULL;
    size_t np;
    int recursive = 0, no_verify = 0;
    const ctl_opt opts[] = {{"recursive", 'r', NULL, &recursive}, {"offset", 0, &off_s, NULL},
                            {"length", 0, &len_s, NULL},          {"range", 0, &range_s, NULL},
                            {"no-verify", 0, NULL, &no_verify},   {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 2, &np);
    int64_t off = 0, len = -1;
    int rc = 0;
    if (range_s && (off_s || len_s))
        return ctl_usage("--range and --offset/--length exclude each other");
    if ((range_s && (rc = parse_range(range_s, &off, &len))) ||
        (off_s && (rc = ctl_parse_size("--offset", off_s, &off))) ||
        (len_s && (rc = ctl_parse_size("--length", len_s, &len))))
        return rc;
    const char *dest = np > 1 ? pos[1] : NULL;
    if (recursive && (range_s || off_s || len_s))
        return ctl_usage("a byte range needs one object, not -r");
    if (dest && strcmp(dest, "-") == 0 && (recursive || c->json))
        return ctl_usage("stdout (-) takes one object, without -r or --json");
    ctl_ref r;
    if ((rc = ctl_ref_resolve(c, pos[0], &r)))
        return rc;
    json_t *objs = NULL, *o = NULL;
    char *local = NULL;
    if (recursive) {
        size_t plen = strlen(r.path);
        char *prefix =
            plen == 0 || r.path[plen - 1] == '/' ? jcs_strdup(r.path) : ctl_join(r.path, "");
        if (!prefix) {
            rc = JCS_ENOMEM;
            goto out;
        }
        rc = ctl_list(c, r.package_id, prefix, 1, 0, &objs, NULL);
        if (!rc && json_array_size(objs) == 0)
            rc = jcs_err_set(JCS_ENOENT, "no objects under %s/%s/%s", r.bucket, r.package, prefix);
        const char *name = plen ? ctl_base(r.path) : r.package;
        local = jcs_strdup(dest ? dest : name);
        if (!rc && !local)
            rc = JCS_ENOMEM;
        if (!rc)
            rc = ctl_get_objects(c, objs, strlen(prefix), local, !no_verify);
        jcs_free(prefix);
        if (!rc) {
            char h[32];
            int64_t total = 0;
            size_t i;
            json_t *e;
            json_array_foreach(objs, i, e) total += ctl_obj_size(e);
            ctl_say(c, "downloaded %zu files (%s) into %s", json_array_size(objs),
                    ctl_human(total, h, sizeof h), local);
            if (c->json)
                ctl_print_json(json_pack("{sO ss}", "objects", objs, "directory", local));
        }
        goto out;
    }
    if ((rc = ctl_find_object(c, &r, &o)))
        goto out;
    const char *base = ctl_base(r.path);
    if (!dest)
        local = jcs_strdup(base);
    else if (dest[0] && (dest[strlen(dest) - 1] == '/' || is_dir(dest)))
        local = ctl_join(dest, base);
    else
        local = jcs_strdup(dest);
    if (!local) {
        rc = JCS_ENOMEM;
        goto out;
    }
    ctl_progress prog;
    ctl_progress_start(&prog, c, len >= 0 ? len : ctl_obj_size(o) - off, 1);
    rc = get_one(c, o, local, off, len, !no_verify, &prog);
    ctl_progress_end(&prog);
    if (!rc && strcmp(local, "-") != 0) {
        char h[32];
        struct stat st;
        int64_t sz = stat(local, &st) == 0 ? st.st_size : 0;
        ctl_say(c, "downloaded %s/%s/%s to %s (%s)", r.bucket, r.package, r.path, local,
                ctl_human(sz, h, sizeof h));
        if (c->json)
            ctl_print_json(
                json_pack("{sO ss sI}", "object", o, "file", local, "bytes", (json_int_t)sz));
    }
out:
    json_decref(objs);
    json_decref(o);
    jcs_free(local);
    ctl_ref_free(&r);
    return rc;
}

/* ---- rm, mv, cp ------------------------------------------------------------------------------ */

/*
 * The objects a command acts on: the one at r->path, or with recursive
 * everything under it (the exact object too). *strip is the length of the
 * prefix to remove for relative names (recursive only).
 */
static int select_objects(ctl *c, const ctl_ref *r, int recursive, json_t **objs, size_t *strip)
{
    /* On failure *objs is NULL, so the callers' one json_decref at the end
     * is right on every path (it freed a dangling array here once: "rm -r"
     * of an empty prefix was a double free). */
    *objs = NULL;
    *strip = 0;
    if (!recursive) {
        json_t *o;
        int rc = ctl_find_object(c, r, &o);
        if (rc)
            return rc;
        json_t *arr = json_array();
        if (!arr || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return JCS_ENOMEM;
        }
        *objs = arr;
        return 0;
    }
    size_t plen = strlen(r->path);
    char *prefix =
        plen == 0 || r->path[plen - 1] == '/' ? jcs_strdup(r->path) : ctl_join(r->path, "");
    if (!prefix)
        return JCS_ENOMEM;
    int rc = ctl_list(c, r->package_id, prefix, 1, 0, objs, NULL);
    if (!rc && json_array_size(*objs) == 0) {
        json_decref(*objs);
        *objs = NULL;
        rc = jcs_err_set(JCS_ENOENT, "no objects under %s/%s/%s", r->bucket, r->package, prefix);
    }
    *strip = strlen(prefix);
    jcs_free(prefix);
    return rc;
}

static int cmd_rm(ctl *c, int argc, char **argv)
{
    const char **pos = jcs_calloc((size_t)argc + 1, sizeof *pos);
    if (!pos)
        return JCS_ENOMEM;
    size_t np;
    int recursive = 0;
    const ctl_opt opts[] = {{"recursive", 'r', NULL, &recursive}, {0}};
    int rc = ctl_args(c, argc, argv, opts, pos, 1, (size_t)argc, &np);
    if (rc) {
        jcs_free(pos);
        return rc < 0 ? rc : 0;
    }
    size_t deleted = 0;
    for (size_t i = 0; i < np && !rc; i++) {
        ctl_ref r;
        if ((rc = ctl_ref_resolve(c, pos[i], &r)))
            break;
        if (!recursive) {
            json_t *body =
                json_pack("{sI ss}", "packageID", (json_int_t)r.package_id, "path", r.path);
            rc = body ? ctl_post(c, "/v1/object/deleteByPath", body, NULL) : JCS_ENOMEM;
            json_decref(body);
            if (rc == JCS_ENOENT) {
                json_t *o = NULL;
                rc = ctl_find_object(c, &r, &o); /* names what is missing, or a prefix */
                json_decref(o);
                if (!rc)
                    rc = jcs_err_set(JCS_ERPC, "%s: the server did not find it to delete", pos[i]);
            }
            if (!rc)
                deleted++;
            ctl_ref_free(&r);
            continue;
        }
        json_t *objs;
        size_t strip;
        rc = select_objects(c, &r, 1, &objs, &strip);
        if (!rc && (r.path[0] == '\0' || r.path[strlen(r.path) - 1] != '/')) {
            /* The object at the path itself (not under path/) goes too. */
            json_t *o = NULL;
            if (r.path[0] && ctl_find_object(c, &r, &o) == 0)
                json_array_append_new(objs, o);
        }
        for (size_t k = 0; !rc && k < json_array_size(objs); k += CTL_BATCH_IDS) {
            json_t *ids = json_array();
            for (size_t j = k; ids && j < json_array_size(objs) && j < k + CTL_BATCH_IDS; j++)
                json_array_append_new(
                    ids, json_integer(ctl_int(json_array_get(objs, j), "objectID", 0)));
            json_t *body = ids ? json_pack("{sO}", "objectIDs", ids) : NULL;
            rc = body ? ctl_post(c, "/v1/object/delete", body, NULL) : JCS_ENOMEM;
            if (!rc)
                deleted += json_array_size(ids);
            json_decref(ids);
            json_decref(body);
        }
        json_decref(objs);
        ctl_ref_free(&r);
    }
    jcs_free(pos);
    if (!rc) {
        ctl_say(c, "deleted %zu object%s", deleted, deleted == 1 ? "" : "s");
        if (c->json)
            ctl_print_json(json_pack("{sI}", "deleted", (json_int_t)deleted));
    } else if (deleted) {
        rc = jcs_err_wrap(rc, "after %zu objects were deleted: ", deleted);
    }
    return rc;
}

/* mv and cp: the same selection and naming, a different request. */
static int move_or_copy(ctl *c, int argc, char **argv, int copy)
{
    const char *pos[2];
    size_t np;
    int recursive = 0;
    const ctl_opt opts[] = {{"recursive", 'r', NULL, &recursive}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 2, 2, &np);
    ctl_ref src, dst;
    int rc = ctl_ref_resolve(c, pos[0], &src);
    if (rc)
        return rc;
    if ((rc = ctl_ref_resolve(c, pos[1], &dst))) {
        ctl_ref_free(&src);
        return rc;
    }
    json_t *objs = NULL, *results = json_array();
    char *last = NULL; /* the target path of the last object, for the message */
    size_t strip;
    size_t dlen = strlen(dst.path);
    int dst_prefix = recursive || dlen == 0 || dst.path[dlen - 1] == '/';
    if (!results)
        rc = JCS_ENOMEM;
    if (!rc)
        rc = select_objects(c, &src, recursive, &objs, &strip);
    for (size_t k = 0; !rc && k < json_array_size(objs); k += CTL_BATCH_IDS) {
        json_t *items = json_array();
        for (size_t j = k; items && !rc && j < json_array_size(objs) && j < k + CTL_BATCH_IDS;
             j++) {
            json_t *o = json_array_get(objs, j);
            const char *p = ctl_str(o, "path", "");
            char *np2 = !dst_prefix ? jcs_strdup(dst.path)
                        : recursive ? ctl_join(dst.path, p + strip)
                                    : ctl_join(dst.path, ctl_base(p));
            json_t *it =
                !np2   ? NULL
                : copy ? json_pack("{sI sI ss}", "objectID", (json_int_t)ctl_int(o, "objectID", 0),
                                   "newPackageID", (json_int_t)dst.package_id, "newPath", np2)
                       : json_pack("{sI sI ss}", "objectID", (json_int_t)ctl_int(o, "objectID", 0),
                                   "packageID", (json_int_t)dst.package_id, "path", np2);
            jcs_free(last);
            last = np2;
            if (!it || json_array_append_new(items, it) != 0)
                rc = JCS_ENOMEM;
        }
        json_t *body =
            items && !rc ? json_pack("{sO}", copy ? "clonings" : "movings", items) : NULL;
        json_t *d = NULL;
        if (!rc)
            rc = body ? ctl_post(c, copy ? "/v1/object/clone" : "/v1/object/move", body, &d)
                      : JCS_ENOMEM;
        if (!rc) {
            json_t *got = json_object_get(d, copy ? "objects" : "successes");
            size_t ok = 0, i;
            json_t *e;
            json_array_foreach(got, i, e) ok += !json_is_null(e);
            json_array_extend(results, got);
            if (ok != json_array_size(items))
                rc = jcs_err_set(JCS_ERPC,
                                 "the server %s %zu of %zu objects (a target path may be taken, "
                                 "or a source gone)",
                                 copy ? "copied" : "moved", ok, json_array_size(items));
        }
        json_decref(d);
        json_decref(body);
        json_decref(items);
    }
    if (!rc) {
        size_t n = json_array_size(objs);
        if (n == 1 && !recursive)
            ctl_say(c, "%s %s to %s/%s/%s", copy ? "copied" : "moved", pos[0], dst.bucket,
                    dst.package, last ? last : dst.path);
        else
            ctl_say(c, "%s %zu objects to %s/%s/%s", copy ? "copied" : "moved", n, dst.bucket,
                    dst.package, dst.path);
        if (c->json)
            ctl_print_json(json_pack("{sO}", copy ? "objects" : "successes", results));
    }
    jcs_free(last);
    json_decref(objs);
    json_decref(results);
    ctl_ref_free(&src);
    ctl_ref_free(&dst);
    return rc;
}

static int cmd_mv(ctl *c, int argc, char **argv)
{
    return move_or_copy(c, argc, argv, 0);
}

static int cmd_cp(ctl *c, int argc, char **argv)
{
    return move_or_copy(c, argc, argv, 1);
}

/* ---- info ------------------------------------------------------------------------------------ */

static const json_t *find_by(const json_t *arr, const char *key, int64_t id)
{
    const json_t *e;
    size_t i;
    json_array_foreach(arr, i, e) if (ctl_int(e, key, -1) == id) return e;
    return NULL;
}

static int cmd_info(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, pos, 1, 1, &np);
    ctl_ref r;
    int rc = ctl_ref_resolve(c, pos[0], &r);
    if (rc)
        return rc;
    json_t *o = NULL, *d = NULL, *sp = NULL, *hubs = NULL, *locs = NULL;
    char ids[24];
    if ((rc = ctl_find_object(c, &r, &o)))
        goto out;
    idstr(ctl_int(o, "objectID", 0), ids, sizeof ids);
    const char *kv[] = {"objectID", ids, NULL};
    if ((rc = ctl_get(c, "/v1/object/detail", kv, &d)) ||
        (rc = ctl_get(c, "/v1/userspace/list", NULL, &sp)) ||
        (rc = ctl_get(c, "/v1/system/hubs", NULL, &hubs)) ||
        (rc = ctl_get(c, "/v1/system/locations", NULL, &locs)))
        goto out;
    const json_t *spaces = json_object_get(sp, "userSpaces"), *hl = json_object_get(hubs, "hubs"),
                 *ll = json_object_get(locs, "locations");
    /* Where each block is: its space's name, hub and location, added to the JSON too. */
    json_t *blocks = json_object_get(d, "blocks"), *b;
    size_t i;
    json_array_foreach(blocks, i, b)
    {
        const json_t *s = find_by(spaces, "userSpaceID", ctl_int(b, "userSpaceID", 0));
        const json_t *h = s ? find_by(hl, "hubID", ctl_int(s, "hubID", 0)) : NULL;
        const json_t *l = s ? find_by(ll, "locationID", ctl_int(s, "locationID", 0)) : NULL;
        json_object_set_new(b, "space", json_string(s ? ctl_str(s, "name", "") : ""));
        json_object_set_new(b, "hub", json_string(h ? ctl_str(h, "name", "") : ""));
        json_object_set_new(b, "hubState", json_string(h ? ctl_str(h, "state", "") : ""));
        json_object_set_new(b, "location", json_string(l ? ctl_str(l, "name", "") : ""));
    }
    if (c->json) {
        ctl_print_json(json_incref(d));
        goto out;
    }
    json_t *obj = json_object_get(d, "object");
    if (!obj)
        obj = o;
    char h[32], red[64];
    json_t *rj = json_object_get(obj, "redundancy");
    printf("object      %s/%s/%s\nid          %lld\nsize        %s (%lld bytes)\nhash        %s\n"
           "redundancy  %s",
           r.bucket, r.package, r.path, (long long)ctl_int(obj, "objectID", 0),
           ctl_human(ctl_obj_size(obj), h, sizeof h), (long long)ctl_obj_size(obj),
           ctl_str(obj, "fileHash", ""),
           json_is_object(rj) ? ctl_redundancy_str(rj, red, sizeof red) : "?");
    if (ctl_int(rj, "chunkSize", 0) > 0)
        printf(", chunks of %s", ctl_human(ctl_int(rj, "chunkSize", 0), h, sizeof h));
    printf("\ncreated     %s\nupdated     %s\n", ctl_str(obj, "createTime", ""),
           ctl_str(obj, "updateTime", ""));
    json_t *pins = json_object_get(d, "pinnedAt"), *pe;
    if (json_array_size(pins)) {
        printf("pinned at  ");
        json_array_foreach(pins, i, pe)
        {
            const json_t *s = find_by(spaces, "userSpaceID", json_integer_value(pe));
            printf(" %s(%lld)", s ? ctl_str(s, "name", "") : "", (long long)json_integer_value(pe));
        }
        putchar('\n');
    }
    putchar('\n');
    static const char *const heads[] = {"BLOCK", "SPACE", "HUB", "LOCATION", "SIZE", "HASH"};
    static const unsigned char right[] = {1, 0, 0, 0, 1, 0};
    ctl_table t;
    ctl_table_init(&t, 6, heads, right);
    json_array_foreach(blocks, i, b)
    {
        char idx[24], space[300], hub[300], sz[32];
        idstr(ctl_int(b, "index", 0), idx, sizeof idx);
        snprintf(space, sizeof space, "%s (%lld)", ctl_str(b, "space", ""),
                 (long long)ctl_int(b, "userSpaceID", 0));
        const char *hs = ctl_str(b, "hubState", "");
        snprintf(hub, sizeof hub, "%s%s%s%s", ctl_str(b, "hub", ""), *hs ? " (" : "", hs,
                 *hs ? ")" : "");
        json_t *bs = json_object_get(b, "size");
        int64_t bsz = json_is_string(bs) ? atoll(json_string_value(bs)) : ctl_int(b, "size", 0);
        if ((rc = ctl_table_row(&t, idx, space, hub, ctl_str(b, "location", ""),
                                ctl_human(bsz, sz, sizeof sz), ctl_str(b, "fileHash", ""))))
            break;
    }
    if (!rc)
        ctl_table_print(&t);
    ctl_table_free(&t);
out:
    json_decref(o);
    json_decref(d);
    json_decref(sp);
    json_decref(hubs);
    json_decref(locs);
    ctl_ref_free(&r);
    return rc;
}

/* ---- redundancy set -------------------------------------------------------------------------- */

static int cmd_redundancy_set(ctl *c, int argc, char **argv)
{
    const char *pos[2], *spaces_s = NULL;
    size_t np;
    int recursive = 0;
    const ctl_opt opts[] = {
        {"recursive", 'r', NULL, &recursive}, {"spaces", 0, &spaces_s, NULL}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 2, 2, &np);
    json_t *red = NULL, *objs = NULL, *spaces = NULL, *results = json_array();
    ctl_ref r = {0};
    size_t strip;
    int rc = results ? ctl_parse_redundancy(pos[1], &red) : JCS_ENOMEM;
    if (rc)
        goto out;
    if ((rc = ctl_ref_resolve(c, pos[0], &r)))
        goto out;
    if (spaces_s) {
        spaces = json_array();
        char *list = jcs_strdup(spaces_s), *save = NULL;
        if (!spaces || !list)
            rc = JCS_ENOMEM;
        for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok && !rc;
             tok = strtok_r(NULL, ",", &save)) {
            int64_t id;
            if ((rc = ctl_space_id(c, tok, &id)) == 0)
                json_array_append_new(spaces, json_integer(id));
        }
        jcs_free(list);
        if (rc)
            goto out;
    }
    if ((rc = select_objects(c, &r, recursive, &objs, &strip)))
        goto out;
    for (size_t k = 0; !rc && k < json_array_size(objs); k += CTL_BATCH_IDS) {
        json_t *batch = json_array();
        for (size_t j = k; batch && j < json_array_size(objs) && j < k + CTL_BATCH_IDS; j++)
            json_array_append_new(batch,
                                  json_integer(ctl_int(json_array_get(objs, j), "objectID", 0)));
        json_t *body = batch ? json_pack("{sO sO}", "objectIDs", batch, "redundancy", red) : NULL;
        if (body && spaces)
            json_object_set(body, "userSpaceIDs", spaces);
        json_t *d = NULL;
        rc = body ? ctl_post(c, "/v1/object/changeRedundancy", body, &d) : JCS_ENOMEM;
        if (!rc)
            json_array_extend(results, json_object_get(d, "objects"));
        json_decref(d);
        json_decref(body);
        json_decref(batch);
    }
    if (rc)
        goto out;
    if (c->json) {
        ctl_print_json(json_pack("{sO}", "objects", results));
    } else {
        static const char *const heads[] = {"SIZE", "UPDATED", "REDUNDANCY", "PATH"};
        static const unsigned char right[] = {1, 0, 0, 0};
        ctl_table t;
        ctl_table_init(&t, 4, heads, right);
        json_t *e;
        size_t i;
        json_array_foreach(results, i, e) if (!rc) rc = add_obj_row(&t, e, ctl_str(e, "path", ""));
        if (!rc && !c->quiet)
            ctl_table_print(&t);
        ctl_table_free(&t);
    }
out:
    json_decref(red);
    json_decref(objs);
    json_decref(spaces);
    json_decref(results);
    ctl_ref_free(&r);
    return rc;
}

const ctl_cmd ctl_cmds_object[] = {
    {"ls", "[-r] [BUCKET[/PACKAGE[/PREFIX]]]",
     "list buckets, a bucket's packages, or objects (one level; -r: all)",
     "With no argument lists the buckets, with BUCKET its packages. Under a package,\n"
     "lists one level (directories as DIR) unless -r is given.\n\n"
     "Options:\n  -r, --recursive  every object under the prefix\n\n"
     "Example:\n  jcsctl ls -r photos/2024/summer/",
     cmd_ls},
    {"put", "[-r] [-R R] LOCAL... BUCKET/PACKAGE[/PATH]", "upload files or directories",
     "A file goes to PATH, or under PATH/ when PATH ends in / or is empty or several\n"
     "files are given. With -r a directory's files go under PATH keeping their\n"
     "relative paths. Re-uploading a path replaces the object. Files stream from\n"
     "disk; batches of up to 64 files are atomic.\n\n"
     "Options:\n  -r, --recursive     upload directories\n"
     "  -R, --redundancy R  none, rep:N, ec:K,N, ec(K,N[,CHUNK]) or lrc(K,N,[G,...][,CHUNK])\n"
     "                      (default: the package's)\n"
     "  --affinity SPACE    prefer this user space (name or id) for the first block\n"
     "  --part-size SIZE    send files larger than SIZE as multipart uploads of SIZE\n"
     "                      parts, one request each (their parts are stored as is,\n"
     "                      without the redundancy above)\n\n"
     "Examples:\n  jcsctl put -R 'ec(2,3)' big.iso photos/2024/\n"
     "  jcsctl put -R 'lrc(4,8,[2,2])' big.iso photos/2024/\n"
     "  jcsctl put -r ./site photos/2024/www",
     cmd_put},
    {"get", "[-r] [--range A-B] BUCKET/PACKAGE/PATH [DEST|-]",
     "download an object to a file, a directory or stdout (-)",
     "DEST defaults to the object's name here; an existing directory receives it by\n"
     "name. With -r everything under PATH/ is written under DEST (default: the last\n"
     "segment of PATH) keeping relative paths. Whole objects are checked against\n"
     "their SHA-256 (fileHash); files appear only when complete.\n\n"
     "Options:\n  -r, --recursive  a whole prefix\n"
     "  --range A-B      bytes A..B inclusive (B may be left out: to the end)\n"
     "  --offset N, --length N  the same as offset and length\n"
     "  --no-verify      skip the hash check\n\n"
     "Examples:\n  jcsctl get photos/2024/big.iso /tmp/\n"
     "  jcsctl get --range 0-1023 photos/2024/big.iso - | xxd | head\n"
     "  jcsctl get -r photos/2024/www ./www-copy",
     cmd_get},
    {"rm", "[-r] BUCKET/PACKAGE/PATH...", "delete objects (-r: everything under a prefix)",
     "Options:\n  -r, --recursive  delete the object at PATH and everything under PATH/\n\n"
     "Example:\n  jcsctl rm -r photos/2024/www",
     cmd_rm},
    {"mv", "[-r] SRC DST", "move or rename objects (within or across packages)",
     "SRC and DST are BUCKET/PACKAGE/PATH. A DST ending in / receives SRC by name;\n"
     "with -r everything under SRC/ moves under DST/ keeping relative paths.\n\n"
     "Options:\n  -r, --recursive  a whole prefix\n\n"
     "Example:\n  jcsctl mv photos/2024/a.jpg photos/2024/best/",
     cmd_mv},
    {"cp", "[-r] SRC DST", "copy objects (metadata only: blocks are shared)",
     "Naming as for mv.\n\nOptions:\n  -r, --recursive  a whole prefix\n\n"
     "Example:\n  jcsctl cp -r photos/2024/www archive/www/site",
     cmd_cp},
    {"info", "BUCKET/PACKAGE/PATH", "an object's size, hash, redundancy and where each block lives",
     "Shows every block with its user space, hub (and the hub's state) and location.\n\n"
     "Example:\n  jcsctl info photos/2024/big.iso",
     cmd_info},
    {"redundancy set", "[-r] [--spaces S,S] BUCKET/PACKAGE/PATH R",
     "change the redundancy of objects now",
     "R is none, rep:N, ec:K,N, ec(K,N[,CHUNK]) or lrc(K,N,[G,...][,CHUNK]). The change\n"
     "runs before the command returns.\n\nOptions:\n  -r, --recursive  every object under PATH/\n"
     "  --spaces S,S     user spaces (names or ids) to place the blocks on\n\n"
     "Example:\n  jcsctl redundancy set photos/2024/big.iso 'ec(2,3)'",
     cmd_redundancy_set},
    {0},
};
