/* Values on the command line: sizes, ids, redundancies (ctl.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"

int ctl_parse_size(const char *what, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !isdigit((unsigned char)s[0]))
        return ctl_usage("%s: \"%s\" is not a size (bytes, or with k, M, G, T)", what, s ? s : "");
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return ctl_usage("%s: \"%s\" is too large", what, s);
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    case 0:
        break;
    default:
        return ctl_usage("%s: \"%s\" is not a size (bytes, or with k, M, G, T)", what, s);
    }
    if (shift) {
        end++;
        if (strcasecmp(end, "ib") == 0 || strcasecmp(end, "b") == 0)
            end += strlen(end);
    } else if (strcasecmp(end, "b") == 0) {
        end++;
    }
    if (*end)
        return ctl_usage("%s: \"%s\" is not a size (bytes, or with k, M, G, T)", what, s);
    if (v > (unsigned long long)INT64_MAX >> shift)
        return ctl_usage("%s: \"%s\" is too large", what, s);
    *out = (int64_t)(v << shift);
    return 0;
}

int ctl_parse_id(const char *what, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = s && isdigit((unsigned char)s[0]) ? strtoll(s, &end, 10) : 0;
    if (!s || !isdigit((unsigned char)s[0]) || *end || errno || v <= 0)
        return ctl_usage("%s: \"%s\" is not a positive integer id", what, s ? s : "");
    *out = v;
    return 0;
}

#define RED_SYNTAX "none, rep, rep:N, ec, ec:K,N, ec(K,N[,CHUNK]), lrc or lrc(K,N,[G,...][,CHUNK])"

/* Up to three numbers after the type: ":2,3", "(2,3)", "(2,3,1MiB)". */
static int red_args(const char *spec, const char *p, int64_t *nums, int *count)
{
    *count = 0;
    if (*p == '\0')
        return 0;
    int paren = *p == '(';
    if (*p != ':' && *p != '(')
        goto bad;
    p++;
    char buf[128];
    size_t len = strlen(p);
    if (paren) {
        if (len == 0 || p[len - 1] != ')')
            goto bad;
        len--;
    }
    if (len >= sizeof buf)
        goto bad;
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*count >= 3 || ctl_parse_size("redundancy", tok, &nums[*count]) != 0)
            goto bad;
        (*count)++;
    }
    return 0;
bad:
    return ctl_usage("redundancy \"%s\": write " RED_SYNTAX " (or a JSON object)", spec);
}

/* A number of a redundancy spec at *p (a size for the chunk), advancing past it and spaces. */
static int red_num(const char **p, int size, int64_t *v)
{
    char tok[64];
    size_t n = 0;
    while (**p == ' ')
        (*p)++;
    while (**p && **p != ',' && **p != ']' && **p != ')' && n + 1 < sizeof tok)
        tok[n++] = *(*p)++;
    while (n && tok[n - 1] == ' ')
        n--;
    tok[n] = '\0';
    if (n == 0)
        return -1;
    if (size)
        return ctl_parse_size("redundancy", tok, v) ? -1 : 0;
    char *end;
    long long x = strtoll(tok, &end, 10);
    if (*end || x < 0)
        return -1;
    *v = x;
    return 0;
}

/*
 * JCS's lrc: "lrc" (its defaults), "lrc(K,N,[G,...])" or "lrc(K,N,[G,...],CHUNK)", also
 * with ':' instead of the parentheses: K data blocks, N blocks in all, one local parity
 * per group of G consecutive blocks.
 */
static int red_lrc(const char *spec, json_t **out)
{
    const char *p = spec + 3;
    if (*p == '\0') {
        *out = json_pack("{ss}", "type", "lrc");
        return *out ? 0 : JCS_ENOMEM;
    }
    int paren = *p == '(';
    if (*p != '(' && *p != ':')
        goto bad;
    p++;
    int64_t k, n, g, chunk = -1;
    if (red_num(&p, 0, &k) || *p++ != ',' || red_num(&p, 0, &n) || *p++ != ',')
        goto bad;
    while (*p == ' ')
        p++;
    if (*p++ != '[')
        goto bad;
    json_t *groups = json_array();
    if (!groups)
        return JCS_ENOMEM;
    for (;;) {
        if (red_num(&p, 0, &g)) {
            json_decref(groups);
            goto bad;
        }
        json_array_append_new(groups, json_integer(g));
        if (*p == ']')
            break;
        if (*p++ != ',') {
            json_decref(groups);
            goto bad;
        }
    }
    p++;
    if (*p == ',' && (p++, red_num(&p, 1, &chunk))) {
        json_decref(groups);
        goto bad;
    }
    if ((paren && *p++ != ')') || *p != '\0') {
        json_decref(groups);
        goto bad;
    }
    *out = json_pack("{ss sI sI so}", "type", "lrc", "k", (json_int_t)k, "n", (json_int_t)n,
                     "groups", groups);
    if (*out && chunk >= 0)
        json_object_set_new(*out, "chunkSize", json_integer(chunk));
    return *out ? 0 : JCS_ENOMEM;
bad:
    return ctl_usage("redundancy \"%s\": write " RED_SYNTAX " (or a JSON object)", spec);
}

int ctl_parse_redundancy(const char *s, json_t **out)
{
    *out = NULL;
    if (s[0] == '{') {
        json_error_t e;
        json_t *v = json_loads(s, 0, &e);
        if (!v || !json_is_object(v)) {
            json_decref(v);
            return ctl_usage("redundancy: not a JSON object: %s", e.text);
        }
        *out = v;
        return 0;
    }
    int64_t nums[3];
    int count;
    int rc;
    if (strncasecmp(s, "none", 4) == 0 && s[4] == '\0') {
        *out = json_pack("{ss}", "type", "none");
    } else if (strncasecmp(s, "rep", 3) == 0) {
        if ((rc = red_args(s, s + 3, nums, &count)))
            return rc;
        if (count > 1)
            return ctl_usage("redundancy \"%s\": rep takes one number, the copy count", s);
        *out = count ? json_pack("{ss sI}", "type", "rep", "repCount", (json_int_t)nums[0])
                     : json_pack("{ss}", "type", "rep");
    } else if (strncasecmp(s, "lrc", 3) == 0) {
        return red_lrc(s, out);
    } else if (strncasecmp(s, "ec", 2) == 0) {
        if ((rc = red_args(s, s + 2, nums, &count)))
            return rc;
        if (count == 1)
            return ctl_usage("redundancy \"%s\": ec takes K,N (data and total blocks)", s);
        *out = json_pack("{ss}", "type", "ec");
        if (*out && count >= 2) {
            json_object_set_new(*out, "k", json_integer(nums[0]));
            json_object_set_new(*out, "n", json_integer(nums[1]));
        }
        if (*out && count == 3)
            json_object_set_new(*out, "chunkSize", json_integer(nums[2]));
    } else {
        return ctl_usage("redundancy \"%s\": write " RED_SYNTAX " (or a JSON object)", s);
    }
    return *out ? 0 : JCS_ENOMEM;
}

const char *ctl_redundancy_str(const json_t *red, char *buf, size_t size)
{
    const char *t = ctl_str(red, "type", "?");
    if (strcmp(t, "rep") == 0)
        snprintf(buf, size, "rep(%lld)", (long long)ctl_int(red, "repCount", 0));
    else if (strcmp(t, "ec") == 0)
        snprintf(buf, size, "ec(%lld,%lld)", (long long)ctl_int(red, "k", 0),
                 (long long)ctl_int(red, "n", 0));
    else if (strcmp(t, "lrc") == 0) {
        const json_t *g = json_object_get(red, "groups");
        int o = snprintf(buf, size, "lrc(%lld,%lld,[", (long long)ctl_int(red, "k", 0),
                         (long long)ctl_int(red, "n", 0));
        for (size_t i = 0; i < json_array_size(g) && o > 0 && (size_t)o < size; i++)
            o += snprintf(buf + o, size - (size_t)o, "%s%lld", i ? "," : "",
                          (long long)json_integer_value(json_array_get(g, i)));
        if (o > 0 && (size_t)o < size)
            snprintf(buf + o, size - (size_t)o, "])");
    } else
        snprintf(buf, size, "%s", t);
    return buf;
}
