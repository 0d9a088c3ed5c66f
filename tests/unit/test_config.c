/*
 * test_config.c - configuration files (common/base/config.c) and the file and
 * address helpers of common/base/util.c.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "t.h"
#include "t_tmpdir.h"
#include "util.h"

#define P 512

static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, P, fmt, ap);
    va_end(ap);
}

/* Writes text to <tmp>/rel (creating directories) and returns the full path in out. */
static int put(char *out, const char *rel, const char *text)
{
    char dir[P];
    t_path(out, P, rel);
    pathf(dir, "%s", out);
    *strrchr(dir, '/') = '\0';
    int rc = jcs_mkdirs(dir, 0700);
    return rc ? rc : jcs_write_file(out, text, strlen(text), 0644);
}

static int has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

static const char valid_json[] = "{\n"
                                 "  \"name\": \"hub1\",\n"
                                 "  \"rpc\": {\"address\": \"127.0.0.1:5010\", \"port\": 5010,\n"
                                 "          \"tls\": {\"cert\": \"certs/hub1_cert.pem\"}},\n"
                                 "  \"ratio\": 0.5,\n"
                                 "  \"debug\": true,\n"
                                 "  \"empty\": \"\",\n"
                                 "  \"nothing\": null,\n"
                                 "  \"whole\": 3.0,\n"
                                 "  \"half\": 3.5,\n"
                                 "  \"huge\": 1e30,\n"
                                 "  \"text\": \"12\"\n"
                                 "}\n";

TEST(load_valid_file_and_read_fields)
{
    char path[P];
    T_OK(put(path, "valid/hub.json", valid_json));
    jcs_cfg cfg;
    T_OK(jcs_cfg_load(path, &cfg));
    char *name = NULL, *addr = NULL;
    long long port = 0;
    double ratio = 0;
    bool debug = false;
    int rc1 = jcs_cfg_str(&cfg, "name", NULL, &name);
    int rc2 = jcs_cfg_str(&cfg, "rpc.address", NULL, &addr);
    int rc3 = jcs_cfg_int(&cfg, "rpc.port", false, 0, 1, 65535, &port);
    int rc4 = jcs_cfg_num(&cfg, "ratio", false, 0, 0, 1, &ratio);
    int rc5 = jcs_cfg_bool(&cfg, "debug", false, false, &debug);
    char name_c[32], addr_c[32];
    snprintf(name_c, sizeof(name_c), "%s", name ? name : "");
    snprintf(addr_c, sizeof(addr_c), "%s", addr ? addr : "");
    jcs_free(name);
    jcs_free(addr);
    jcs_cfg_clear(&cfg);
    T_OK(rc1);
    T_OK(rc2);
    T_OK(rc3);
    T_OK(rc4);
    T_OK(rc5);
    T_EQ_STR(name_c, "hub1");
    T_EQ_STR(addr_c, "127.0.0.1:5010");
    T_EQ_INT(port, 5010);
    T_ASSERT(ratio == 0.5);
    T_ASSERT(debug);
    T_ASSERT(cfg.root == NULL && cfg.path == NULL, "freed config is empty");
}

TEST(missing_file_names_the_file)
{
    char path[P];
    t_path(path, sizeof(path), "no/such/config.json");
    jcs_cfg cfg;
    int rc = jcs_cfg_load(path, &cfg);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(has(jcs_err_msg(rc), path), "%s", jcs_err_msg(rc));
    T_ASSERT(has(jcs_err_msg(rc), "No such file"), "%s", jcs_err_msg(rc));
    jcs_cfg_clear(&cfg); /* harmless after a failure */
}

TEST(malformed_json_gives_line_and_column)
{
    char path[P];
    T_OK(put(path, "bad/syntax.json", "{\n  \"a\": 1,\n  \"b\": }\n"));
    jcs_cfg cfg;
    int rc = jcs_cfg_load(path, &cfg);
    T_EQ_INT(rc, JCS_ECONFIG);
    const char *m = jcs_err_msg(rc);
    T_ASSERT(has(m, path) && has(m, "line 3 column 8"), "%s", m);

    rc = jcs_cfg_parse("dup.json", "{\"a\": 1, \"a\": 2}", &cfg);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_ASSERT(has(jcs_err_msg(rc), "dup.json") && has(jcs_err_msg(rc), "duplicate"), "%s",
             jcs_err_msg(rc));
}

TEST(top_level_must_be_an_object)
{
    jcs_cfg cfg;
    int rc = jcs_cfg_parse("list.json", "[1, 2, 3]", &cfg);
    T_EQ_INT(rc, JCS_ECONFIG);
    T_EQ_STR(jcs_err_msg(rc), "list.json: the top level must be a JSON object");
}

TEST(required_missing_and_wrong_types_name_the_field)
{
    jcs_cfg cfg;
    T_OK(jcs_cfg_parse("c.json", valid_json, &cfg));
    char *s = NULL;
    long long i = 0;
    double d = 0;
    bool b = false;
    struct {
        int rc;
        const char *msg;
    } got[10];
    int n = 0;
#define GOT(expr)                                                                                  \
    do {                                                                                           \
        int _r = (expr);                                                                           \
        got[n].rc = _r;                                                                            \
        got[n].msg = _r ? jcs_strdup(jcs_err_msg(_r)) : NULL;                                      \
        n++;                                                                                       \
    } while (0)
    GOT(jcs_cfg_str(&cfg, "rpc.tls.key", NULL, &s));          /* 0: missing */
    GOT(jcs_cfg_str(&cfg, "rpc.port", NULL, &s));             /* 1: wrong type */
    GOT(jcs_cfg_str(&cfg, "empty", NULL, &s));                /* 2: empty counts as missing */
    GOT(jcs_cfg_str(&cfg, "nothing", NULL, &s));              /* 3: null counts as missing */
    GOT(jcs_cfg_int(&cfg, "text", false, 0, 0, 99, &i));      /* 4: a string is not an integer */
    GOT(jcs_cfg_int(&cfg, "half", false, 0, 0, 99, &i));      /* 5: 3.5 is not an integer */
    GOT(jcs_cfg_num(&cfg, "name", false, 0, 0, 1, &d));       /* 6 */
    GOT(jcs_cfg_bool(&cfg, "name", false, 0, &b));            /* 7 */
    GOT(jcs_cfg_bool(&cfg, "rpc.missing", false, 0, &b));     /* 8 */
    GOT(jcs_cfg_int(&cfg, "name.inner", false, 0, 0, 9, &i)); /* 9: a path through a string */
#undef GOT
    jcs_cfg_clear(&cfg);
    static const char *const want[] = {
        "c.json: field rpc.tls.key: missing",     "c.json: field rpc.port: must be a string",
        "c.json: field empty: missing",           "c.json: field nothing: missing",
        "c.json: field text: must be an integer", "c.json: field half: must be an integer",
        "c.json: field name: must be a number",   "c.json: field name: must be true or false",
        "c.json: field rpc.missing: missing",     "c.json: field name.inner: missing",
    };
    int bad = -1;
    for (int k = 0; k < n; k++) {
        if (bad < 0 && (got[k].rc != JCS_ECONFIG || !got[k].msg ||
                        strncmp(got[k].msg, want[k], strlen(want[k])) != 0))
            bad = k;
    }
    char why[600];
    snprintf(why, sizeof(why), "case %d: rc %d, \"%s\"", bad, bad >= 0 ? got[bad].rc : 0,
             bad >= 0 && got[bad].msg ? got[bad].msg : "");
    for (int k = 0; k < n; k++)
        jcs_free((void *)got[k].msg);
    T_ASSERT(bad < 0, "%s", why);
}

TEST(integer_ranges_are_named)
{
    jcs_cfg cfg;
    T_OK(jcs_cfg_parse("r.json", valid_json, &cfg));
    long long i = -1;
    int rc1 = jcs_cfg_int(&cfg, "rpc.port", false, 0, 1, 1024, &i);
    char m1[256];
    snprintf(m1, sizeof(m1), "%s", jcs_err_msg(rc1));
    int rc2 = jcs_cfg_int(&cfg, "huge", false, 0, 0, 100, &i); /* 1e30 fits no long long */
    char m2[256];
    snprintf(m2, sizeof(m2), "%s", jcs_err_msg(rc2));
    long long whole = 0;
    int rc3 = jcs_cfg_int(&cfg, "whole", false, 0, 0, 100, &whole); /* 3.0 is an integer */
    double d = 0;
    int rc4 = jcs_cfg_num(&cfg, "ratio", false, 0, 0.75, 2, &d);
    char m4[256];
    snprintf(m4, sizeof(m4), "%s", jcs_err_msg(rc4));
    jcs_cfg_clear(&cfg);
    T_EQ_INT(rc1, JCS_ECONFIG);
    T_EQ_STR(m1, "r.json: field rpc.port: 5010 is outside 1..1024");
    T_EQ_INT(rc2, JCS_ECONFIG);
    T_ASSERT(has(m2, "field huge") && has(m2, "outside 0..100"), "%s", m2);
    T_OK(rc3);
    T_EQ_INT(whole, 3);
    T_EQ_INT(rc4, JCS_ECONFIG);
    T_ASSERT(has(m4, "field ratio") && has(m4, "outside 0.75..2"), "%s", m4);
}

TEST(defaults_apply_when_absent)
{
    jcs_cfg cfg;
    T_OK(jcs_cfg_parse("d.json", valid_json, &cfg));
    char *s = NULL, *e = NULL;
    long long i = 0;
    double d = 0;
    bool b = true;
    int rc1 = jcs_cfg_str(&cfg, "log.level", "info", &s);
    int rc2 = jcs_cfg_int(&cfg, "rpc.workers", true, 4, 1, 64, &i);
    int rc3 = jcs_cfg_num(&cfg, "nothing", true, 1.5, 0, 2, &d); /* null takes the default */
    int rc4 = jcs_cfg_bool(&cfg, "tls.off", true, false, &b);
    int rc5 = jcs_cfg_str(&cfg, "empty", "x", &e); /* an empty optional string stays empty */
    /* A default outside the range is a programming error that must not pass silently. */
    long long j = 0;
    int rc6 = jcs_cfg_int(&cfg, "absent", true, 100, 1, 10, &j);
    char s_c[16], e_c[16];
    snprintf(s_c, sizeof(s_c), "%s", s ? s : "(null)");
    snprintf(e_c, sizeof(e_c), "%s", e ? e : "(null)");
    jcs_free(s);
    jcs_free(e);
    jcs_cfg_clear(&cfg);
    T_OK(rc1);
    T_OK(rc2);
    T_OK(rc3);
    T_OK(rc4);
    T_OK(rc5);
    T_EQ_STR(s_c, "info");
    T_EQ_INT(i, 4);
    T_ASSERT(d == 1.5);
    T_ASSERT(!b);
    T_EQ_STR(e_c, "");
    T_EQ_INT(rc6, JCS_ECONFIG);
}

TEST(nested_dotted_paths)
{
    jcs_cfg cfg;
    T_OK(jcs_cfg_parse("n.json", "{\"a\": {\"b\": {\"c\": {\"d\": 42}}, \"x\": 1}}", &cfg));
    long long v = 0;
    int rc = jcs_cfg_int(&cfg, "a.b.c.d", false, 0, 0, 100, &v);
    json_t *obj = jcs_cfg_get(&cfg, "a.b");
    int is_obj = json_is_object(obj);
    json_t *none1 = jcs_cfg_get(&cfg, "a.b.c.d.e"); /* through a number */
    json_t *none2 = jcs_cfg_get(&cfg, "a.z.c");
    jcs_cfg_clear(&cfg);
    T_OK(rc);
    T_EQ_INT(v, 42);
    T_ASSERT(is_obj);
    T_ASSERT(none1 == NULL && none2 == NULL);
}

TEST(cfg_file_is_relative_to_the_config_dir)
{
    char cfgpath[P], certpath[P], abspath[P], want[P];
    T_OK(put(certpath, "rel/certs/hub1_cert.pem", "PEM"));
    T_OK(put(abspath, "elsewhere/abs.pem", "PEM"));
    char json[P * 2];
    snprintf(json, sizeof(json),
             "{\"tls\": {\"cert\": \"certs/hub1_cert.pem\", \"abs\": \"%s\", \"gone\": "
             "\"certs/missing.pem\", \"dir\": \"certs\"}}",
             abspath);
    T_OK(put(cfgpath, "rel/hub.json", json));
    jcs_cfg cfg;
    T_OK(jcs_cfg_load(cfgpath, &cfg));
    char *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *p5 = NULL;
    int rc1 = jcs_cfg_file(&cfg, "tls.cert", &p1);
    int rc2 = jcs_cfg_file(&cfg, "tls.abs", &p2);
    int rc3 = jcs_cfg_file(&cfg, "tls.gone", &p3);
    char m3[P * 2];
    snprintf(m3, sizeof(m3), "%s", jcs_err_msg(rc3));
    int rc4 = jcs_cfg_file(&cfg, "tls.dir", &p4);
    char m4[P * 2];
    snprintf(m4, sizeof(m4), "%s", jcs_err_msg(rc4));
    int rc5 = jcs_cfg_path(&cfg, "data.dir", "data", &p5);
    char c1[P], c2[P], c5[P];
    snprintf(c1, sizeof(c1), "%s", p1 ? p1 : "");
    snprintf(c2, sizeof(c2), "%s", p2 ? p2 : "");
    snprintf(c5, sizeof(c5), "%s", p5 ? p5 : "");
    jcs_free(p1);
    jcs_free(p2);
    jcs_free(p5);
    jcs_cfg_clear(&cfg);
    T_OK(rc1);
    T_EQ_STR(c1, certpath);
    T_OK(rc2);
    T_EQ_STR(c2, abspath);
    T_EQ_INT(rc3, JCS_ECONFIG);
    T_ASSERT(has(m3, "field tls.gone") && has(m3, "rel/certs/missing.pem") && has(m3, cfgpath),
             "%s", m3);
    T_EQ_INT(rc4, JCS_ECONFIG);
    T_ASSERT(has(m4, "field tls.dir") && has(m4, "is a directory"), "%s", m4);
    T_OK(rc5);
    pathf(want, "%s/rel/data", t_tmpdir());
    T_EQ_STR(c5, want);
}

TEST(config_load_out_of_memory_is_clean)
{
    char path[P];
    T_OK(put(path, "oom/c.json", valid_json));
    int rc = JCS_ENOMEM;
    long n;
    for (n = 0; n < 20 && rc == JCS_ENOMEM; n++) {
        jcs_cfg cfg;
        jcs_alloc_fail_after(n);
        rc = jcs_cfg_load(path, &cfg);
        jcs_alloc_fail_after(-1);
        jcs_cfg_clear(&cfg); /* must be safe after any failure */
    }
    T_OK(rc);
    T_ASSERT(n > 2, "several allocations failed on the way");
}

/* ---- util ---- */

TEST(parse_addr)
{
    char host[64];
    int port = -1;
    T_OK(jcs_parse_addr("127.0.0.1:5009", host, sizeof(host), &port));
    T_EQ_STR(host, "127.0.0.1");
    T_EQ_INT(port, 5009);
    T_OK(jcs_parse_addr("[::1]:443", host, sizeof(host), &port));
    T_EQ_STR(host, "::1");
    T_EQ_INT(port, 443);
    T_OK(jcs_parse_addr("hub1.example:0", host, sizeof(host), &port));
    T_EQ_STR(host, "hub1.example");
    T_EQ_INT(port, 0);
    const struct {
        const char *addr, *mention;
    } bad[] = {
        {"host:65536", "port must be 0-65535"},
        {"host:", "port"},
        {"host:-1", "port"},
        {"host: 80", "port"},
        {"host:80x", "port"},
        {"localhost", "want host:port"},
        {"[::1]", "[host]:port"},
        {"[::1]80", "[host]:port"},
        {"fe80::1", "[host]:port"},
        {":80", "bad host"},
        {"[]:80", "bad host"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = jcs_parse_addr(bad[i].addr, host, sizeof(host), &port);
        T_EQ_INT(rc, JCS_EINVAL);
        T_ASSERT(has(jcs_err_msg(rc), bad[i].addr) || bad[i].addr[0] == '\0', "%s",
                 jcs_err_msg(rc));
        T_ASSERT(has(jcs_err_msg(rc), bad[i].mention), "%zu: %s", i, jcs_err_msg(rc));
    }
    /* A host longer than the caller's buffer is refused, not cut. */
    char tiny[4];
    T_EQ_INT(jcs_parse_addr("abcdef:1", tiny, sizeof(tiny), &port), JCS_EINVAL);
    T_EQ_INT(jcs_parse_addr("", host, sizeof(host), &port), JCS_EINVAL);
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xFFFFu;
}

TEST(write_file_mode_is_exact_and_atomic)
{
    char dir[P], path[P];
    t_path(dir, sizeof(dir), "wf");
    T_OK(jcs_mkdirs(dir, 0700));
    pathf(path, "%s/key.pem", dir);
    mode_t old = umask(022);
    int rc1 = jcs_write_file(path, "secret", 6, 0600);
    unsigned m1 = mode_of(path);
    umask(077);
    int rc2 = jcs_write_file(path, "replaced", 8, 0644); /* the mode asked for, not 0600 */
    unsigned m2 = mode_of(path);
    umask(old);
    T_OK(rc1);
    T_EQ_INT(m1, 0600);
    T_OK(rc2);
    T_EQ_INT(m2, 0644);
    char *text = NULL;
    size_t len = 0;
    T_OK(jcs_read_file(path, 100, &text, &len));
    int same = len == 8 && memcmp(text, "replaced", 8) == 0;
    jcs_free(text);
    T_ASSERT(same, "the new contents replaced the old");
    /* No temporary file is left beside it. */
    DIR *dp = opendir(dir);
    T_ASSERT(dp != NULL);
    int entries = 0;
    struct dirent *de;
    while ((de = readdir(dp)))
        entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(dp);
    T_EQ_INT(entries, 1);
    /* A directory that does not exist is named. */
    pathf(path, "%s/nodir/x", dir);
    int rc = jcs_write_file(path, "x", 1, 0644);
    T_EQ_INT(rc, JCS_EIO);
    T_ASSERT(has(jcs_err_msg(rc), path), "%s", jcs_err_msg(rc));
}

TEST(read_file_cap_and_errors)
{
    char path[P], dir[P];
    char data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (char)i; /* includes a NUL byte: the length, not strlen, counts */
    t_path(path, sizeof(path), "rf.bin");
    T_OK(jcs_write_file(path, data, sizeof(data), 0644));
    char *out = NULL;
    size_t len = 0;
    int rc = jcs_read_file(path, 99, &out, &len);
    T_EQ_INT(rc, JCS_ETOOBIG);
    T_ASSERT(has(jcs_err_msg(rc), path) && has(jcs_err_msg(rc), "99"), "%s", jcs_err_msg(rc));
    T_ASSERT(out == NULL, "nothing handed out on failure");
    T_OK(jcs_read_file(path, 100, &out, &len));
    int same = len == 100 && memcmp(out, data, 100) == 0 && out[100] == '\0';
    jcs_free(out);
    T_ASSERT(same, "bytes identical and NUL-terminated");

    pathf(dir, "%s.missing", path);
    rc = jcs_read_file(dir, 100, &out, &len);
    T_EQ_INT(rc, JCS_ENOENT);
    T_ASSERT(has(jcs_err_msg(rc), dir), "%s", jcs_err_msg(rc));
    rc = jcs_read_file(t_tmpdir(), 100, &out, &len);
    T_EQ_INT(rc, JCS_EIO);
    T_ASSERT(has(jcs_err_msg(rc), "is a directory"), "%s", jcs_err_msg(rc));
}

TEST(mkdirs_creates_nested_and_reports_files_in_the_way)
{
    char deep[P], file[P], under[P];
    t_path(deep, sizeof(deep), "mk/a/b/c/");
    mode_t old = umask(022);
    int rc1 = jcs_mkdirs(deep, 0750);
    int rc2 = jcs_mkdirs(deep, 0750); /* existing is fine */
    umask(old);
    T_OK(rc1);
    T_OK(rc2);
    T_EQ_INT(mode_of(deep), 0750);
    pathf(file, "%s/f", deep);
    T_OK(jcs_write_file(file, "x", 1, 0644));
    int rc = jcs_mkdirs(file, 0700);
    T_EQ_INT(rc, JCS_EIO);
    T_ASSERT(has(jcs_err_msg(rc), file) && has(jcs_err_msg(rc), "not a directory"), "%s",
             jcs_err_msg(rc));
    pathf(under, "%s/sub", file);
    rc = jcs_mkdirs(under, 0700);
    T_EQ_INT(rc, JCS_EIO);
    T_ASSERT(has(jcs_err_msg(rc), file), "%s", jcs_err_msg(rc));
    T_EQ_INT(jcs_mkdirs("", 0700), JCS_EINVAL);
}
