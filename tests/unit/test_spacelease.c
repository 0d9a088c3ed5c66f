/*
 * test_spacelease.c - the lease names of storages (equal storages meet,
 * different ones do not, long ones are hashed, bad ones are refused) and a
 * take against an unreachable coordinator (a clear error, nothing held).
 * Taking, waiting, renewing and releasing against a real coordinator are in
 * tests/integration/test_two_clients.sh.
 */
#include <string.h>

#include "spacelease.h"
#include "t.h"
#include "testcerts.h"

static const char *name_of(const char *storage, char out[JCS_SPACELEASE_NAME_MAX])
{
    int rc = jcs_spacelease_name(storage, out);
    if (rc)
        snprintf(out, JCS_SPACELEASE_NAME_MAX, "error %d: %s", rc, jcs_err_msg(rc));
    return out;
}

TEST(local_storage_is_named_by_hub_and_root)
{
    char a[JCS_SPACELEASE_NAME_MAX], b[JCS_SPACELEASE_NAME_MAX];
    T_EQ_STR(name_of("{\"type\": \"local\", \"hubID\": 3, \"root\": \"/data/space\"}", a),
             "jcs/space/local/hub3:/data/space");
    /* A trailing slash names the same directory; key order does not matter. */
    T_EQ_STR(name_of("{\"root\": \"/data/space//\", \"hubID\": 3, \"type\": \"local\"}", b), a);
    T_ASSERT(strcmp(name_of("{\"type\": \"local\", \"hubID\": 4, \"root\": \"/data/space\"}", b),
                    a) != 0,
             "another hub must be another storage");
    T_EQ_STR(name_of("{\"type\": \"local\", \"hubID\": 3, \"root\": \"/\"}", b),
             "jcs/space/local/hub3:/");
}

TEST(s3_storage_is_named_by_endpoint_bucket_and_prefix_not_by_keys)
{
    char a[JCS_SPACELEASE_NAME_MAX], b[JCS_SPACELEASE_NAME_MAX];
    name_of("{\"type\": \"s3\", \"endpoint\": \"http://10.0.0.9:9000\", \"bucket\": \"b1\", "
            "\"prefix\": \"jcs/\", \"accessKey\": \"alice\", \"secretKey\": \"x\"}",
            a);
    T_EQ_STR(a, "jcs/space/s3/http://10.0.0.9:9000/b1/jcs/");
    name_of("{\"type\": \"s3\", \"endpoint\": \"http://10.0.0.9:9000\", \"bucket\": \"b1\", "
            "\"prefix\": \"jcs/\", \"accessKey\": \"bob\", \"secretKey\": \"y\"}",
            b);
    T_EQ_STR(b, a);
    name_of("{\"type\": \"s3\", \"endpoint\": \"http://10.0.0.9:9000\", \"bucket\": \"b1\"}", b);
    T_EQ_STR(b, "jcs/space/s3/http://10.0.0.9:9000/b1/");
}

TEST(long_names_are_hashed_and_stay_distinct)
{
    char root1[400], root2[400], js[600];
    char a[JCS_SPACELEASE_NAME_MAX], b[JCS_SPACELEASE_NAME_MAX];
    memset(root1, 'x', sizeof root1 - 1);
    root1[0] = '/';
    root1[sizeof root1 - 1] = '\0';
    memcpy(root2, root1, sizeof root2);
    root2[sizeof root2 - 2] = 'y';
    snprintf(js, sizeof js, "{\"type\": \"local\", \"hubID\": 1, \"root\": \"%s\"}", root1);
    name_of(js, a);
    snprintf(js, sizeof js, "{\"type\": \"local\", \"hubID\": 1, \"root\": \"%s\"}", root2);
    name_of(js, b);
    T_ASSERT(strncmp(a, "jcs/space/sha256/", 17) == 0 && strlen(a) == 17 + 64, "%s", a);
    T_ASSERT(strcmp(a, b) != 0, "two roots differing in the last byte share %s", a);
}

TEST(storage_without_identity_is_refused_with_its_reason)
{
    char n[JCS_SPACELEASE_NAME_MAX];
    T_EQ_INT(jcs_spacelease_name("{\"type\": \"local\", \"root\": \"/x\"}", n), JCS_EINVAL);
    T_ASSERT(strstr(jcs_err_msg(JCS_EINVAL), "hubID and root") != NULL, "%s",
             jcs_err_msg(JCS_EINVAL));
    T_EQ_INT(jcs_spacelease_name("{\"type\": \"s3\", \"endpoint\": \"http://h\"}", n), JCS_EINVAL);
    T_EQ_INT(jcs_spacelease_name("not json", n), JCS_EINVAL);
    T_EQ_INT(jcs_spacelease_name(NULL, n), JCS_EINVAL);
}

TEST(take_without_a_coordinator_fails_clearly_and_holds_nothing)
{
    testcerts tc;
    T_ASSERT(testcerts_init(&tc) == 0, "certificates");
    const jcs_tls_files *tls = testcerts_issue(&tc, "client", "c1", false);
    T_ASSERT(tls != NULL, "client certificate");
    jcs_rpc_channel *ch = NULL;
    /* Port 1 on loopback: nothing listens there. */
    T_OK(jcs_rpc_channel_open("127.0.0.1:1", tls, &ch));
    char st[] = "{\"type\": \"local\", \"hubID\": 1, \"root\": \"/d\"}";
    jcs_meta_space sp = {.space_id = 7, .storage = st};
    jcs_spacelease *l = (jcs_spacelease *)1;
    int rc = jcs_spacelease_take(ch, &sp, 1, "test", 1000, 0, NULL, &l);
    T_EQ_INT(rc, JCS_EUNAVAIL);
    T_ASSERT(l == NULL, "a failed take must not return a set");
    T_ASSERT(strstr(jcs_err_msg(rc), "127.0.0.1:1") != NULL, "%s", jcs_err_msg(rc));
    /* No spaces: nothing to lease, nothing to call. */
    T_OK(jcs_spacelease_take(ch, NULL, 0, "test", 1000, 0, NULL, &l));
    T_EQ_INT((int)jcs_spacelease_count(l), 0);
    T_ASSERT(!jcs_spacelease_lost(l), "an empty set is not lost");
    jcs_spacelease_free(l);
    jcs_rpc_channel_free(ch);
    testcerts_cleanup(&tc);
}
