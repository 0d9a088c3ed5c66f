/*
 * ctl.h - jcsctl, the command line for a running jcs: shared state and the
 * modules' contracts.
 *
 * Shape. main.c parses the global options, finds the command in the table
 * (ctl_commands) and runs it; each cmd_*.c file holds a group of commands.
 * rest.c finds the endpoint and the certificates and hands the requests to
 * common/net/rest.h (the one REST client, shared with the mount), which
 * sends JSON requests, streams uploads (multipart, parts read from file
 * descriptors as libcurl asks) and downloads (to a sink callback), and
 * turns every failure into one jcs_err with a sentence a person can act
 * on. out.c prints (tables, JSON, sizes, progress bar).
 * remote.c resolves names (BUCKET/PACKAGE/PATH, spaces) and lists objects.
 * tar.c reads and writes tar archives for package export/import.
 *
 * Errors follow common/err.h. The exit code is chosen from the error code
 * alone (ctl_exit_code): JCS_EINVAL means a usage mistake (2); JCS_EUNAVAIL,
 * JCS_ETLS and JCS_ETIMEOUT mean the connection or TLS failed (3); any
 * other code, including every refusal by the server, is 1. So a server
 * "BadArgument" answer is reported as JCS_ERPC, never JCS_EINVAL
 * (rest.c sets einval_is_local).
 */
#ifndef JCS_CTL_H
#define JCS_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rest.h"

enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2, CTL_EXIT_CONN = 3 };

#define CTL_DEFAULT_ENDPOINT "https://127.0.0.1:7890"

/* The state of one jcsctl run. Strings are borrowed from argv/environ unless noted. */
typedef struct ctl {
    const char *endpoint_opt, *ca_opt, *cert_opt, *key_opt; /* from flags, or NULL */
    int json;                                               /* --json: one JSON document */
    int quiet;                                              /* --quiet: no chatter */
    int progress;                                           /* a progress bar may be drawn */
    const char *cmd_name;                                   /* "bucket ls", for messages */
    const struct ctl_cmd *cmd;                              /* the command being run */

    /* Chosen at first use by ctl_connect (owned). */
    char *endpoint, *ca, *cert, *key;
    const char *ca_from, *cert_from, *key_from, *endpoint_from; /* "--ca", "JCS_CA", ... */
    struct jcs_rest *rest;                                      /* owned */
} ctl;

/* Maps an error code to the process exit code (see the design note above). */
int ctl_exit_code(int rc);

/* Records a usage mistake (JCS_EINVAL) with its detail. */
int ctl_usage(const char *fmt, ...) JCS_PRINTF(1, 2);

/* ---- options (main.c) ------------------------------------------------------------------------ */

/* One option of a command. Exactly one of sval / flag / count is set. */
typedef struct ctl_opt {
    const char *name;  /* long name without "--" */
    char shortc;       /* short letter or 0 */
    const char **sval; /* takes a value; the last one given wins */
    int *flag;         /* no value; set to 1 */
} ctl_opt;

/*
 * Parses argv[0..argc) against opts (NULL-name terminated, may be NULL) and
 * the global options; positionals are stored in pos (argv order, borrowed),
 * at most maxpos of them (more is a usage error). "--help" sets *help.
 */
int ctl_parse(ctl *c, int argc, char **argv, const ctl_opt *opts, const char **pos, size_t maxpos,
              size_t *npos, int *help) JCS_MUST_USE;

/* A command: its words ("bucket ls"), help, and runner. */
typedef struct ctl_cmd {
    const char *name;    /* "bucket ls" */
    const char *args;    /* "NAME" */
    const char *summary; /* one line */
    const char *help;    /* options and an example, printed by --help */
    int (*run)(ctl *c, int argc, char **argv);
} ctl_cmd;

/* Prints cmd's help to stdout. */
void ctl_cmd_help(const ctl_cmd *cmd);

/* Runs the command parser with c->cmd's help: returns 1 when --help was printed (stop), 0 to go on,
 * or a negative error. */
int ctl_args(ctl *c, int argc, char **argv, const ctl_opt *opts, const char **pos, size_t minpos,
             size_t maxpos, size_t *npos) JCS_MUST_USE;

/* The usual opening of a command: parse, and return from it after --help or an error. */
#define CTL_ARGS(c, argc, argv, opts, pos, minpos, maxpos, npos)                                   \
    do {                                                                                           \
        int args_rc_ = ctl_args(c, argc, argv, opts, pos, minpos, maxpos, npos);                   \
        if (args_rc_)                                                                              \
            return args_rc_ < 0 ? args_rc_ : 0;                                                    \
    } while (0)

/* The command tables of each group; NULL-name terminated. */
extern const ctl_cmd ctl_cmds_bucket[];
extern const ctl_cmd ctl_cmds_object[];
extern const ctl_cmd ctl_cmds_system[];
extern const ctl_cmd ctl_cmds_transfer[];

/* ---- values ---------------------------------------------------------------------------------- */

/* "123", "10k", "5MiB", "1G" -> bytes (k = 1024). JCS_EINVAL naming what. */
int ctl_parse_size(const char *what, const char *s, int64_t *out) JCS_MUST_USE;

/* A positive decimal id. JCS_EINVAL naming what. */
int ctl_parse_id(const char *what, const char *s, int64_t *out) JCS_MUST_USE;

/*
 * A redundancy in the short form "none", "rep", "rep:3", "rep(3)", "ec",
 * "ec:2,3", "ec(2,3)", "ec(2,3,1MiB)", or a JSON object. *out is a new JSON
 * object (caller frees with json_decref). JCS_EINVAL.
 */
int ctl_parse_redundancy(const char *s, json_t **out) JCS_MUST_USE;

/* "ec(2,3)", "rep(2)", "none" for a redundancy object; writes into buf. */
const char *ctl_redundancy_str(const json_t *red, char *buf, size_t size);

/* ---- HTTP (rest.c, over common/net/rest.h) ----------------------------------------------- */

/*
 * Chooses the endpoint and certificates (flags, then JCS_* environment,
 * then files beside the jcsctl executable) and makes the REST client.
 * Called by every request; does the work once.
 */
int ctl_connect(ctl *c) JCS_MUST_USE;

/* Releases what ctl_connect made. */
void ctl_close(ctl *c);

/*
 * GET path with query parameters kv (NULL-terminated key, value, ...;
 * values are escaped here). On success *data (may be NULL if not wanted)
 * is the envelope's data, a new reference (caller decrefs; json null when
 * the server sent null).
 */
int ctl_get(ctl *c, const char *path, const char *const *kv, json_t **data) JCS_MUST_USE;

/* POST path with JSON body (borrowed); *data as for ctl_get. */
int ctl_post(ctl *c, const char *path, json_t *body, json_t **data) JCS_MUST_USE;

/* A progress bar over many transfers (out.c). */
typedef struct ctl_progress {
    int on;
    int64_t total; /* bytes expected in all, or -1 */
    int64_t done;  /* bytes of finished transfers */
    int64_t cur;   /* bytes of the transfer under way */
    int64_t start_ms, last_ms;
    size_t nfiles, files_done;
    char label[64];
} ctl_progress;

/*
 * POST /v1/object/upload: an "info" part (info, borrowed) then one "files"
 * part per file, each streamed from its descriptor as libcurl sends it.
 * *data as for ctl_get ({"uploadeds": [...]}).
 */
int ctl_upload(ctl *c, json_t *info, const jcs_rest_file *files, size_t n, ctl_progress *prog,
               json_t **data) JCS_MUST_USE;

/* POST path?kv with the bytes of f as the raw body (streamed); *data as for ctl_get. */
int ctl_upload_raw(ctl *c, const char *path, const char *const *kv, const jcs_rest_file *f,
                   ctl_progress *prog, json_t **data) JCS_MUST_USE;

/*
 * GET path?kv streaming the body to sink. *got = bytes delivered. A server
 * error envelope becomes the error, nothing of it reaches sink.
 */
int ctl_download(ctl *c, const char *path, const char *const *kv, jcs_rest_sink sink, void *arg,
                 ctl_progress *prog, int64_t *got) JCS_MUST_USE;

/* ---- output (out.c) -------------------------------------------------------------------------- */

/* Prints v as the one JSON document on stdout (indented), then decrefs it. */
void ctl_print_json(json_t *v);

/* "1.5 MiB" for n bytes; writes into buf. */
const char *ctl_human(int64_t n, char *buf, size_t size);

/* A table for people: columns sized to their widest cell, a header line. */
typedef struct ctl_table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows * ncols, owned */
    const char *const *heads;
    const unsigned char *right; /* per column: right-align (numbers), may be NULL */
} ctl_table;

void ctl_table_init(ctl_table *t, size_t ncols, const char *const *heads,
                    const unsigned char *right);
/* Adds a row of ncols printf-formatted cells given as strings. */
int ctl_table_row(ctl_table *t, ...) JCS_MUST_USE;
void ctl_table_print(const ctl_table *t);
void ctl_table_free(ctl_table *t);

/* A line for people on stdout unless --quiet or --json. */
void ctl_say(const ctl *c, const char *fmt, ...) JCS_PRINTF(2, 3);

/* A warning on stderr unless --quiet. */
void ctl_warn(const ctl *c, const char *fmt, ...) JCS_PRINTF(2, 3);

void ctl_progress_start(ctl_progress *p, const ctl *c, int64_t total, size_t nfiles);
void ctl_progress_label(ctl_progress *p, const char *label);
void ctl_progress_set(ctl_progress *p, int64_t cur);    /* bytes of the current transfer */
void ctl_progress_next(ctl_progress *p, int64_t bytes); /* a transfer of bytes finished */
void ctl_progress_end(ctl_progress *p);                 /* erases the bar */

/* ---- names and listings (remote.c) ----------------------------------------------------------- */

/* BUCKET/PACKAGE[/PATH] resolved to ids. Strings owned (ctl_ref_free). */
typedef struct ctl_ref {
    char *bucket, *package, *path; /* path "" when absent; a trailing '/' kept */
    int64_t bucket_id, package_id;
} ctl_ref;

/* Splits spec without asking the server. JCS_EINVAL when it lacks BUCKET/PACKAGE. */
int ctl_ref_split(const char *spec, ctl_ref *r) JCS_MUST_USE;

/* Splits and looks the package up; a missing bucket or package is named (JCS_ENOENT). */
int ctl_ref_resolve(ctl *c, const char *spec, ctl_ref *r) JCS_MUST_USE;

void ctl_ref_free(ctl_ref *r);

/* The bucket id of name; JCS_ENOENT naming it. */
int ctl_bucket_id(ctl *c, const char *name, int64_t *id) JCS_MUST_USE;

/*
 * Objects of package pkg: the exact path (is_prefix 0), or everything under
 * prefix path (is_prefix 1; "" is the whole package), one level only with
 * no_recursive (then *prefixes gets the common prefixes). Follows
 * continuation tokens. *objects (and *prefixes when not NULL) are new
 * arrays (caller decrefs).
 */
int ctl_list(ctl *c, int64_t pkg, const char *path, int is_prefix, int no_recursive,
             json_t **objects, json_t **prefixes) JCS_MUST_USE;

/* The one object at exactly path (new reference); JCS_ENOENT naming it, with a hint when path
 * is a prefix. */
int ctl_find_object(ctl *c, const ctl_ref *r, json_t **obj) JCS_MUST_USE;

/* A user space given as an id or a name; JCS_ENOENT naming it. */
int ctl_space_id(ctl *c, const char *s, int64_t *id) JCS_MUST_USE;

/* A hub given as an id or a name; JCS_ENOENT naming it. */
int ctl_hub_id(ctl *c, const char *s, int64_t *id) JCS_MUST_USE;

/* An object's size (the JSON string) as a number; -1 if malformed. */
int64_t ctl_obj_size(const json_t *obj);

/* Integer member or def. */
int64_t ctl_int(const json_t *o, const char *key, int64_t def);

/* String member or def. */
const char *ctl_str(const json_t *o, const char *key, const char *def);

/* ---- local files (files.c) ------------------------------------------------------------------- */

/* A file being written: a temporary beside its final name, renamed by ctl_out_commit. */
typedef struct ctl_outfile {
    int fd;
    char *final, *tmp;     /* owned; tmp NULL for stdout */
    struct jcs_hash *hash; /* owned; NULL unless verifying */
    int64_t written;
} ctl_outfile;

/* Opens dest for writing (parent directories made); "-" is stdout. verify: hash what passes. */
int ctl_out_open(ctl_outfile *o, const char *dest, int verify) JCS_MUST_USE;

/* A jcs_rest_sink writing to a ctl_outfile. */
int ctl_out_sink(void *arg, const void *p, size_t n);

/* Checks the hash (when verifying) against want and renames into place. Closes o. */
int ctl_out_commit(ctl_outfile *o, const char *want_hash) JCS_MUST_USE;

/* Closes o and removes the temporary. */
void ctl_out_abort(ctl_outfile *o);

/* Writes all of n bytes to fd; JCS_EIO naming what. */
int ctl_write_all(int fd, const void *p, size_t n, const char *what) JCS_MUST_USE;

/* A local file found for upload (ctl_walk). */
typedef struct ctl_local {
    char *local, *path; /* owned: the file's name here (or a tar entry's), its object path */
    int64_t size;
    int fd; /* -1: open local when uploading; else size bytes at off of fd (borrowed) */
    int64_t off;
} ctl_local;

typedef struct ctl_locals {
    ctl_local *v;
    size_t n, cap;
} ctl_locals;

/*
 * Adds the files of src: a regular file as object path obj; a directory
 * (recursive must be set) as obj + "/" + its relative paths (obj "" puts
 * them at the top). Symlinks to files are followed, to directories skipped
 * with a warning.
 */
int ctl_walk(ctl *c, const char *src, const char *obj, int recursive, ctl_locals *out) JCS_MUST_USE;
void ctl_locals_free(ctl_locals *l);

/* Adds one file (copies local and path). */
int ctl_locals_add(ctl_locals *l, const char *local, const char *path, int64_t size, int fd,
                   int64_t off) JCS_MUST_USE;

/* Refuses an object path that would escape a local directory (absolute, "..", empty segment). */
int ctl_check_rel(const char *rel) JCS_MUST_USE;

/* Joins a and b with one '/' (either may be ""). Caller frees; NULL on ENOMEM. */
char *ctl_join(const char *a, const char *b);

/* The last '/'-separated segment of p (borrowed, inside p). */
const char *ctl_base(const char *p);

/* ---- shared object operations (cmd_object.c) ------------------------------------------------- */

/*
 * Uploads files into package pkg in batches (redundancy and affinity may be
 * NULL / 0); appends the uploaded object JSONs to *uploaded when not NULL.
 * With part_size > 0, a file larger than part_size goes as a multipart
 * upload of part_size parts (one request each; aborted on failure).
 */
int ctl_put_files(ctl *c, int64_t pkg, const ctl_locals *files, json_t *redundancy,
                  int64_t affinity, int64_t part_size, json_t *uploaded) JCS_MUST_USE;

/* Downloads objects (an array of object JSON) under dir, each at dir/(path minus strip). */
int ctl_get_objects(ctl *c, json_t *objects, size_t strip, const char *dir,
                    int verify) JCS_MUST_USE;

#endif
