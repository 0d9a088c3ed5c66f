/*
 * test_s3gw_key.c - the S3 gateway's key mapping (client/s3/s3gw_key.c,
 * README "Mapping") and its configuration section (s3conf.c): keys onto
 * packages and paths, the reserved packages, every refused key with
 * InvalidArgument naming it; s3 config defaults and errors naming the field.
 */
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "s3conf.h"
#include "s3err.h"
#include "s3gw_int.h"
#include "t.h"

static jcs_s3gw gw_with(const char *root, const char *uploads)
{
    jcs_s3gw gw;
    memset(&gw, 0, sizeof gw);
    gw.conf.root_package = (char *)root;
    gw.conf.uploads_package = (char *)uploads;
    return gw;
}

TEST(keys_map_onto_packages_and_paths)
{
    jcs_s3gw gw = gw_with("_", "_uploads");
    char pkg[256], path[1025];
    int dir;
    T_OK(jcs_s3gw_key_split(&gw, "2024/videos/a.mp4", pkg, path, &dir));
    T_EQ_STR(pkg, "2024");
    T_EQ_STR(path, "videos/a.mp4");
    T_EQ_INT(dir, 0);
    T_OK(jcs_s3gw_key_split(&gw, "top.txt", pkg, path, &dir));
    T_EQ_STR(pkg, "_");
    T_EQ_STR(path, "top.txt");
    T_OK(jcs_s3gw_key_split(&gw, "pkg/", pkg, path, &dir));
    T_EQ_STR(pkg, "pkg");
    T_EQ_STR(path, "");
    T_EQ_INT(dir, 1);
    T_OK(jcs_s3gw_key_split(&gw, "p/sp ace+plus%41/\xc3\xa9t\xc3\xa9", pkg, path, &dir));
    T_EQ_STR(path, "sp ace+plus%41/\xc3\xa9t\xc3\xa9");
    char *k = jcs_s3gw_key_join(&gw, "_", "top.txt");
    T_EQ_STR(k, "top.txt");
    jcs_free(k);
    k = jcs_s3gw_key_join(&gw, "2024", "videos/a.mp4");
    T_EQ_STR(k, "2024/videos/a.mp4");
    jcs_free(k);
    T_ASSERT(jcs_s3gw_reserved_package(&gw, "_") && jcs_s3gw_reserved_package(&gw, "_uploads"));
    T_ASSERT(!jcs_s3gw_reserved_package(&gw, "photos"));
}

TEST(bad_keys_are_invalid_argument_naming_the_key)
{
    jcs_s3gw gw = gw_with("_", "_uploads");
    char pkg[256], path[1025];
    int dir;
    char longkey[1100];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    longkey[3] = '/';
    const char *bad[] = {"",        "/lead",   "a//b",        "a/./b", "a/../b",
                         "..",      "a/b/",    "back\\slash", "_/x",   "_uploads/y",
                         "ctl\x01", "bad\xff", longkey};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = jcs_s3gw_key_split(&gw, bad[i], pkg, path, &dir);
        T_ASSERT(rc != 0, "(key %zu \"%.40s\" accepted)", i, bad[i]);
        T_EQ_INT(jcs_s3err_take(rc), JCS_S3E_InvalidArgument);
    }
    /* The message names the key. */
    int rc = jcs_s3gw_key_split(&gw, "raw/a//b", pkg, path, &dir);
    T_ASSERT(strstr(jcs_err_msg(rc), "raw/a//b") != NULL, "(%s)", jcs_err_msg(rc));
    jcs_s3err_clear();
}

TEST(config_section_defaults_and_errors)
{
    jcs_cfg c;
    jcs_s3conf s;
    T_OK(jcs_cfg_parse("t.json",
                       "{\"s3\": {\"listen\": \"127.0.0.1:0\", \"credentials\": "
                       "[{\"accessKey\": \"AK1\", \"secretKey\": \"SK1\"}]}}",
                       &c));
    T_OK(jcs_s3conf_load(&c, &s));
    T_EQ_STR(s.region, "us-east-1");
    T_EQ_STR(s.root_package, "_");
    T_EQ_STR(s.uploads_package, "_uploads");
    T_EQ_STR(s.domain, "");
    T_EQ_INT(s.ncreds, 1);
    T_EQ_STR(s.creds[0].access_key, "AK1");
    T_ASSERT(s.max_transfers >= 4, "(%u upload slots by default)", s.max_transfers);
    jcs_s3conf_free(&s);
    jcs_cfg_clear(&c);
    T_OK(jcs_cfg_parse("t.json", "{\"s3\": {\"maxTransfers\": 2}}", &c));
    T_OK(jcs_s3conf_load(&c, &s));
    T_EQ_INT(s.max_transfers, 2);
    jcs_s3conf_free(&s);
    jcs_cfg_clear(&c);
    /* No section: no S3 port, no error. */
    T_OK(jcs_cfg_parse("t.json", "{}", &c));
    T_OK(jcs_s3conf_load(&c, &s));
    T_EQ_STR(s.listen, "");
    jcs_s3conf_free(&s);
    jcs_cfg_clear(&c);
    const char *bad[][2] = {
        {"{\"s3\": {\"listen\": \"127.0.0.1:0\"}}", "s3.credentials"},
        {"{\"s3\": {\"listen\": \"nope\", \"credentials\": [{\"accessKey\": \"a\", "
         "\"secretKey\": \"b\"}]}}",
         "s3.listen"},
        {"{\"s3\": {\"credentials\": [{\"accessKey\": \"a b\", \"secretKey\": \"b\"}]}}",
         "s3.credentials[0]"},
        {"{\"s3\": {\"credentials\": [{\"accessKey\": \"a\", \"secretKey\": \"b\"}, "
         "{\"accessKey\": \"a\", \"secretKey\": \"c\"}]}}",
         "s3.credentials[1]"},
        {"{\"s3\": {\"rootPackage\": \"a/b\"}}", "s3.rootPackage"},
        {"{\"s3\": {\"rootPackage\": \"x\", \"uploadsPackage\": \"x\"}}", "s3.uploadsPackage"},
        {"{\"s3\": {\"maxTransfers\": 0}}", "s3.maxTransfers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        T_OK(jcs_cfg_parse("t.json", bad[i][0], &c));
        int rc = jcs_s3conf_load(&c, &s);
        T_ASSERT(rc == JCS_ECONFIG, "(case %zu gave %d)", i, rc);
        T_ASSERT(strstr(jcs_err_msg(rc), bad[i][1]) != NULL, "(case %zu: %s)", i, jcs_err_msg(rc));
        jcs_cfg_clear(&c);
    }
}
