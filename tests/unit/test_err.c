/*
 * test_err.c - error codes, names and per-thread detail lines.
 */
#include <pthread.h>
#include <string.h>

#include "err.h"
#include "t.h"

TEST(set_returns_the_code_and_records_the_detail)
{
    int rc = jcs_err_set(JCS_ENOENT, "hub.json: field %s: %s", "rpc.cert", "missing");
    T_EQ_INT(rc, JCS_ENOENT);
    T_EQ_STR(jcs_err_msg(rc), "hub.json: field rpc.cert: missing");
}

TEST(wrap_prefixes_context)
{
    jcs_err_set(JCS_EIO, "disk full");
    int rc = jcs_err_wrap(JCS_EIO, "writing %s: ", "/data/x");
    T_EQ_INT(rc, JCS_EIO);
    T_EQ_STR(jcs_err_msg(rc), "writing /data/x: disk full");
    rc = jcs_err_wrap(rc, "hub1: ");
    T_EQ_STR(jcs_err_msg(rc), "hub1: writing /data/x: disk full");
    /* Without a detail line the code's sentence is what gets wrapped. */
    jcs_err_clear();
    rc = jcs_err_wrap(JCS_ETIMEOUT, "calling %s: ", "hub2");
    T_EQ_STR(jcs_err_msg(rc), "calling hub2: deadline exceeded");
}

TEST(clear_falls_back_to_the_sentence)
{
    jcs_err_set(JCS_EBUSY, "lock held by hub3");
    jcs_err_clear();
    T_EQ_STR(jcs_err_msg(JCS_EBUSY), "busy");
    T_EQ_STR(jcs_err_msg(JCS_ENOMEM), "out of memory");
}

TEST(long_details_are_cut_not_overflowed)
{
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    jcs_err_set(JCS_EINVAL, "%s", big);
    size_t n = strlen(jcs_err_msg(JCS_EINVAL));
    T_ASSERT(n > 500 && n < sizeof(big), "cut to the buffer (%zu)", n);
    /* A long prefix keeps its text in front and the old detail's head after it. */
    char pre[800];
    memset(pre, 'p', sizeof(pre) - 1);
    pre[sizeof(pre) - 1] = '\0';
    jcs_err_set(JCS_EINVAL, "tail");
    jcs_err_wrap(JCS_EINVAL, "%s: ", pre);
    const char *m = jcs_err_msg(JCS_EINVAL);
    T_ASSERT(m[0] == 'p' && strstr(m, "tail") != NULL, "%.40s...", m);
    jcs_err_set(JCS_EINVAL, "%s", big);
    jcs_err_wrap(JCS_EINVAL, "ctx: ");
    m = jcs_err_msg(JCS_EINVAL);
    T_ASSERT(strncmp(m, "ctx: aaaa", 9) == 0 && strlen(m) == n, "%.40s", m);
}

TEST(names_and_sentences_for_every_code)
{
    static const struct {
        int code;
        const char *name, *text;
    } want[] = {
        {JCS_OK, "OK", "success"},
        {JCS_ENOMEM, "ENOMEM", "out of memory"},
        {JCS_EINVAL, "EINVAL", "invalid argument"},
        {JCS_ENOENT, "ENOENT", "not found"},
        {JCS_EEXIST, "EEXIST", "already exists"},
        {JCS_EIO, "EIO", "input/output error"},
        {JCS_ETOOBIG, "ETOOBIG", "too large"},
        {JCS_ETIMEOUT, "ETIMEOUT", "deadline exceeded"},
        {JCS_ECANCELED, "ECANCELED", "cancelled"},
        {JCS_EPERM, "EPERM", "permission denied"},
        {JCS_EUNAVAIL, "EUNAVAIL", "unavailable"},
        {JCS_ECONFIG, "ECONFIG", "configuration error"},
        {JCS_EDB, "EDB", "database error"},
        {JCS_ETLS, "ETLS", "certificate or key error"},
        {JCS_ECORRUPT, "ECORRUPT", "data corrupt"},
        {JCS_EBUSY, "EBUSY", "busy"},
        {JCS_ERPC, "ERPC", "remote call failed"},
        {JCS_EINTERNAL, "EINTERNAL", "internal error"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        T_EQ_STR(jcs_err_name(want[i].code), want[i].name);
        T_EQ_STR(jcs_strerror(want[i].code), want[i].text);
    }
    /* Codes outside the table still give text (never NULL). */
    T_ASSERT(jcs_err_name(-1000) != NULL && jcs_err_name(7) != NULL);
    T_ASSERT(jcs_strerror(-1000) != NULL && jcs_strerror(7) != NULL);
}

TEST(detail_belongs_to_its_code)
{
    /* A failure that returns a bare code must not borrow an older line. */
    jcs_err_set(JCS_ENOENT, "bucket \"old\" not found");
    T_EQ_STR(jcs_err_msg(JCS_EINVAL), "invalid argument");
    T_EQ_STR(jcs_err_msg(JCS_ENOENT), "bucket \"old\" not found");
    /* Wrapping a bare code wraps its sentence, not the other code's line. */
    int rc = jcs_err_wrap(JCS_EIO, "reading %s: ", "x");
    T_EQ_STR(jcs_err_msg(rc), "reading x: input/output error");
    T_EQ_STR(jcs_err_msg(JCS_ENOENT), "not found");
}

TEST(recode_moves_the_detail_to_the_new_code)
{
    jcs_err_set(JCS_EINVAL, "\"x:y\": bad port");
    int rc = jcs_err_wrap(jcs_err_recode(JCS_EINVAL, JCS_ECONFIG), "hub.json: field listen: ");
    T_EQ_INT(rc, JCS_ECONFIG);
    T_EQ_STR(jcs_err_msg(JCS_ECONFIG), "hub.json: field listen: \"x:y\": bad port");
    T_EQ_STR(jcs_err_msg(JCS_EINVAL), "invalid argument");
    /* Recoding a bare code keeps its sentence as the detail. */
    jcs_err_set(JCS_EBUSY, "unrelated");
    rc = jcs_err_recode(JCS_ETIMEOUT, JCS_EUNAVAIL);
    T_EQ_STR(jcs_err_msg(rc), "deadline exceeded");
}

TEST(end_of_stream_is_named_and_not_an_error)
{
    T_ASSERT(JCS_EOF > 0);
    T_EQ_STR(jcs_err_name(JCS_EOF), "EOF");
    T_EQ_STR(jcs_strerror(JCS_EOF), "end of stream");
}

static void *other_thread(void *arg)
{
    jcs_err_set(JCS_EDB, "thread detail");
    *(int *)arg = strcmp(jcs_err_msg(JCS_EDB), "thread detail") == 0;
    return NULL;
}

TEST(details_are_per_thread)
{
    jcs_err_set(JCS_EPERM, "main detail");
    int seen = 0;
    pthread_t t;
    T_EQ_INT(pthread_create(&t, NULL, other_thread, &seen), 0);
    pthread_join(t, NULL);
    T_ASSERT(seen, "the other thread sees its own line");
    T_EQ_STR(jcs_err_msg(JCS_EPERM), "main detail");
}
