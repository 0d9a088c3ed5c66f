/*
 * test_s3gw_http.c - the S3 gateway's pure header helpers (client/s3/s3gw.c,
 * s3gw_object.c): the Range header as AWS answers it (served ranges,
 * InvalidRange, ranges ignored so the whole object is served), HTTP dates
 * in the three forms RFC 9110 lets clients send (conditional requests), the
 * dates the gateway writes, and the ETag of an object with and without a
 * recorded MD5.
 */
#include <stdint.h>
#include <string.h>

#include "s3gw_int.h"
#include "t.h"

#define RANGE(v, size, want_rc, want_start, want_len)                                              \
    do {                                                                                           \
        int64_t _s = -7, _l = -7;                                                                  \
        T_EQ_INT(jcs_s3gw_parse_range((v), (size), &_s, &_l), (want_rc));                          \
        if ((want_rc) == 1) {                                                                      \
            T_EQ_INT(_s, (want_start));                                                            \
            T_EQ_INT(_l, (want_len));                                                              \
        }                                                                                          \
    } while (0)

TEST(range_served_clipped_refused_or_ignored)
{
    /* Served: first, middle, last byte, open end, suffix; an end past the object is clipped. */
    RANGE("bytes=0-0", 100, 1, 0, 1);
    RANGE("bytes=10-19", 100, 1, 10, 10);
    RANGE("bytes=99-99", 100, 1, 99, 1);
    RANGE("bytes=90-", 100, 1, 90, 10);
    RANGE("bytes=-10", 100, 1, 90, 10);
    RANGE("bytes=-1000", 100, 1, 0, 100);
    RANGE("bytes=50-5000", 100, 1, 50, 50);
    /* InvalidRange (416): nothing of the object is in it. */
    RANGE("bytes=100-", 100, -1, 0, 0);
    RANGE("bytes=100-200", 100, -1, 0, 0);
    RANGE("bytes=-0", 100, -1, 0, 0);
    RANGE("bytes=0-", 0, -1, 0, 0);
    RANGE("bytes=-5", 0, -1, 0, 0);
    /* Ignored, the whole object served (AWS): not one well-formed byte range. */
    RANGE(NULL, 100, 0, 0, 0);
    RANGE("bytes=0-1,5-6", 100, 0, 0, 0);
    RANGE("items=0-1", 100, 0, 0, 0);
    RANGE("bytes=20-10", 100, 0, 0, 0);
    RANGE("bytes=a-b", 100, 0, 0, 0);
    RANGE("bytes=5", 100, 0, 0, 0);
    RANGE("bytes=-", 100, 0, 0, 0);
    RANGE("bytes=1 -2", 100, 0, 0, 0);
    /* Numbers too long to be offsets are not wrapped into small ones. */
    RANGE("bytes=0-99999999999999999999999", 100, 0, 0, 0);
}

TEST(http_dates_in_every_form_clients_send)
{
    /* RFC 9110's example instant, in IMF-fixdate, RFC 850 and asctime forms. */
    T_EQ_INT(jcs_s3gw_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000LL);
    T_EQ_INT(jcs_s3gw_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777000LL);
    T_EQ_INT(jcs_s3gw_parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777000LL);
    T_EQ_INT(jcs_s3gw_parse_http_date("1994-11-06T08:49:37Z"), 784111777000LL);
    /* Unparsable: the condition is then ignored by the caller, as HTTP says. */
    T_EQ_INT(jcs_s3gw_parse_http_date(NULL), -1);
    T_EQ_INT(jcs_s3gw_parse_http_date(""), -1);
    T_EQ_INT(jcs_s3gw_parse_http_date("yesterday"), -1);
    T_EQ_INT(jcs_s3gw_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"), -1);
    T_EQ_INT(jcs_s3gw_parse_http_date("Sun, 06 Nov 1994 08:49:37"), -1);
}

TEST(dates_written_round_trip)
{
    char d[40];
    jcs_s3gw_http_date(1795341600123LL, d);
    T_EQ_STR(d, "Sun, 22 Nov 2026 10:00:00 GMT");
    /* Last-Modified has second precision: what a client sends back compares equal. */
    T_EQ_INT(jcs_s3gw_parse_http_date(d), 1795341600000LL);
    jcs_s3gw_iso_date(1795341600123LL, d);
    T_EQ_STR(d, "2026-11-22T10:00:00.123Z");
    jcs_s3gw_iso_date(0, d);
    T_EQ_STR(d, "1970-01-01T00:00:00.000Z");
}

TEST(etag_is_the_recorded_md5_else_a_marked_stand_in)
{
    jcs_meta_object o;
    memset(&o, 0, sizeof o);
    o.object_id = 42;
    snprintf(o.file_hash, sizeof o.file_hash, "%s",
             "FULL0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
    jcs_s3meta m;
    memset(&m, 0, sizeof m);
    m.object_id = 42;
    snprintf(m.file_hash, sizeof m.file_hash, "%s", o.file_hash);
    snprintf(m.etag, sizeof m.etag, "%s", "9e107d9d372bb6826bd81d3542a419d6");
    char e[90];
    jcs_s3gw_etag(&o, &m, e);
    T_EQ_STR(e, "\"9e107d9d372bb6826bd81d3542a419d6\"");
    /* A row of older content (the object was replaced through REST) is not used. */
    o.file_hash[5] = 'F';
    jcs_s3gw_etag(&o, &m, e);
    T_EQ_STR(e, "\"0f23456789abcdef0123456789abcdef-1\"");
    /* No row at all: the same stand-in, stable across calls. */
    jcs_s3gw_etag(&o, NULL, e);
    T_EQ_STR(e, "\"0f23456789abcdef0123456789abcdef-1\"");
    /* A row for another object is not used either. */
    o.file_hash[5] = '1';
    m.object_id = 43;
    jcs_s3gw_etag(&o, &m, e);
    T_EQ_STR(e, "\"0123456789abcdef0123456789abcdef-1\"");
}
