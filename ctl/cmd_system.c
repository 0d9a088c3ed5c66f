/* Commands on user spaces, hubs, jobs and the service (API.md "User spaces", "System"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "ctl.h"

static void idstr(int64_t id, char *buf, size_t size)
{
    snprintf(buf, size, "%lld", (long long)id);
}

static const json_t *find_by(const json_t *arr, const char *key, int64_t id)
{
    const json_t *e;
    size_t i;
    json_array_foreach(arr, i, e) if (ctl_int(e, key, -1) == id) return e;
    return NULL;
}

/* ---- spaces ---------------------------------------------------------------------------------- */

static int space_ls(ctl *c, int argc, char **argv)
{
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, NULL, 0, 0, &np);
    json_t *d = NULL, *hubs = NULL, *locs = NULL;
    int rc = ctl_get(c, "/v1/userspace/list", NULL, &d);
    if (rc)
        return rc;
    if (c->json) {
        ctl_print_json(d);
        return 0;
    }
    if ((rc = ctl_get(c, "/v1/system/hubs", NULL, &hubs)) ||
        (rc = ctl_get(c, "/v1/system/locations", NULL, &locs)))
        goto out;
    static const char *const heads[] = {"ID",       "NAME",  "TYPE", "WHERE",
                                        "LOCATION", "STATE", "USED", "BLOCKS"};
    static const unsigned char right[] = {1, 0, 0, 0, 0, 0, 1, 1};
    ctl_table t;
    ctl_table_init(&t, 8, heads, right);
    json_t *s;
    size_t i;
    json_array_foreach(json_object_get(d, "userSpaces"), i, s)
    {
        json_t *st = json_object_get(s, "storage");
        const char *type = ctl_str(st, "type", "?");
        char id[24], where[1024], used[32], blocks[24];
        const json_t *h = find_by(json_object_get(hubs, "hubs"), "hubID",
                                  ctl_int(st, "hubID", ctl_int(s, "hubID", 0)));
        const json_t *l =
            find_by(json_object_get(locs, "locations"), "locationID", ctl_int(s, "locationID", 0));
        if (strcmp(type, "local") == 0)
            snprintf(where, sizeof where, "%s:%s", h ? ctl_str(h, "name", "?") : "?",
                     ctl_str(st, "root", ""));
        else
            snprintf(where, sizeof where, "%s/%s%s%s", ctl_str(st, "endpoint", ""),
                     ctl_str(st, "bucket", ""), *ctl_str(st, "prefix", "") ? "/" : "",
                     ctl_str(st, "prefix", ""));
        idstr(ctl_int(s, "userSpaceID", 0), id, sizeof id);
        ctl_human(ctl_int(s, "usedBytes", 0), used, sizeof used);
        idstr(ctl_int(s, "blockCount", 0), blocks, sizeof blocks);
        if ((rc = ctl_table_row(&t, id, ctl_str(s, "name", ""), type, where,
                                l ? ctl_str(l, "name", "") : "", ctl_str(s, "state", ""), used,
                                blocks)))
            break;
    }
    if (!rc)
        ctl_table_print(&t);
    ctl_table_free(&t);
out:
    json_decref(d);
    json_decref(hubs);
    json_decref(locs);
    return rc;
}

/* A location by id or name into body's locationID. */
static int set_location(ctl *c, json_t *body, const char *loc)
{
    int64_t id = 0;
    if (strspn(loc, "0123456789") == strlen(loc)) {
        int rc = ctl_parse_id("--location", loc, &id);
        if (rc)
            return rc;
    } else {
        json_t *d;
        int rc = ctl_get(c, "/v1/system/locations", NULL, &d);
        if (rc)
            return rc;
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(d, "locations"), i,
                           e) if (strcmp(ctl_str(e, "name", ""), loc) == 0) id =
            ctl_int(e, "locationID", 0);
        json_decref(d);
        if (!id)
            return jcs_err_set(JCS_ENOENT,
                               "location \"%s\" does not exist (jcsctl hub ls shows "
                               "the hubs' locations)",
                               loc);
    }
    return json_object_set_new(body, "locationID", json_integer(id)) ? JCS_ENOMEM : 0;
}

static int space_created(ctl *c, const char *name, json_t *body)
{
    json_t *d;
    int rc = ctl_post(c, "/v1/userspace/create", body, &d);
    if (rc == JCS_EEXIST)
        return jcs_err_wrap(rc, "user space \"%s\": ", name);
    if (rc)
        return rc;
    ctl_say(c, "added user space %s (id %lld)", name,
            (long long)ctl_int(json_object_get(d, "userSpace"), "userSpaceID", 0));
    if (c->json)
        ctl_print_json(d);
    else
        json_decref(d);
    return 0;
}

static int space_add_local(ctl *c, int argc, char **argv)
{
    const char *pos[1], *hub = NULL, *root = NULL, *loc = NULL;
    size_t np;
    const ctl_opt opts[] = {
        {"hub", 0, &hub, NULL}, {"root", 0, &root, NULL}, {"location", 0, &loc, NULL}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 1, &np);
    if (!hub || !root)
        return ctl_usage("a local space needs --hub HUB and --root DIR (a directory on that hub)");
    int64_t hub_id;
    int rc = ctl_hub_id(c, hub, &hub_id);
    if (rc)
        return rc;
    json_t *body = json_pack("{ss s{ss sI ss}}", "name", pos[0], "storage", "type", "local",
                             "hubID", (json_int_t)hub_id, "root", root);
    if (!body)
        return JCS_ENOMEM;
    if (!(loc && (rc = set_location(c, body, loc))))
        rc = space_created(c, pos[0], body);
    json_decref(body);
    return rc;
}

static int space_add_s3(ctl *c, int argc, char **argv)
{
    const char *pos[1], *url = NULL, *bucket = NULL, *region = NULL, *prefix = NULL, *ak = NULL,
                        *sk = NULL, *hub = NULL, *loc = NULL;
    int path_style = 0;
    size_t np;
    const ctl_opt opts[] = {{"url", 0, &url, NULL},
                            {"bucket", 0, &bucket, NULL},
                            {"region", 0, &region, NULL},
                            {"prefix", 0, &prefix, NULL},
                            {"access-key", 0, &ak, NULL},
                            {"secret-key", 0, &sk, NULL},
                            {"path-style", 0, NULL, &path_style},
                            {"hub", 0, &hub, NULL},
                            {"location", 0, &loc, NULL},
                            {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 1, &np);
    if (!ak)
        ak = getenv("AWS_ACCESS_KEY_ID");
    if (!sk)
        sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!url || !bucket)
        return ctl_usage("an S3 space needs --url URL and --bucket NAME");
    if (!ak || !sk)
        return ctl_usage("an S3 space needs --access-key and --secret-key (or AWS_ACCESS_KEY_ID "
                         "and AWS_SECRET_ACCESS_KEY)");
    json_t *body = json_pack("{ss s{ss ss ss ss ss ss sb ss}}", "name", pos[0], "storage", "type",
                             "s3", "endpoint", url, "region", region ? region : "us-east-1",
                             "bucket", bucket, "prefix", prefix ? prefix : "", "accessKey", ak,
                             "pathStyle", path_style, "secretKey", sk);
    if (!body)
        return JCS_ENOMEM;
    int rc = 0;
    if (hub) {
        int64_t hub_id;
        if ((rc = ctl_hub_id(c, hub, &hub_id)) == 0)
            json_object_set_new(json_object_get(body, "storage"), "hubID", json_integer(hub_id));
    }
    if (!rc && !(loc && (rc = set_location(c, body, loc))))
        rc = space_created(c, pos[0], body);
    json_decref(body);
    return rc;
}

static int space_test(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, pos, 1, 1, &np);
    int64_t id;
    int rc = ctl_space_id(c, pos[0], &id);
    if (rc)
        return rc;
    json_t *body = json_pack("{sI}", "userSpaceID", (json_int_t)id), *d;
    rc = body ? ctl_post(c, "/v1/userspace/test", body, &d) : JCS_ENOMEM;
    json_decref(body);
    if (rc)
        return rc;
    int ok = json_is_true(json_object_get(d, "ok"));
    double ms = json_number_value(json_object_get(d, "latencyMs"));
    if (c->json)
        ctl_print_json(json_incref(d));
    else if (ok)
        ctl_say(c, "user space %s works: wrote, read back and deleted a probe in %.1f ms", pos[0],
                ms);
    if (!ok)
        rc = jcs_err_set(JCS_ERPC, "user space %s failed its test: %s", pos[0],
                         ctl_str(d, "message", "no message"));
    json_decref(d);
    return rc;
}

static int space_rm(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    int migrate = 0;
    const ctl_opt opts[] = {{"migrate", 0, NULL, &migrate}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 1, &np);
    int64_t id;
    int rc = ctl_space_id(c, pos[0], &id);
    if (rc)
        return rc;
    json_t *body = json_pack("{sI sb}", "userSpaceID", (json_int_t)id, "migrate", migrate);
    rc = body ? ctl_post(c, "/v1/userspace/delete", body, NULL) : JCS_ENOMEM;
    json_decref(body);
    if (rc == JCS_EEXIST && !migrate && !strstr(jcs_err_msg(rc), "migrate")) {
        char why[512];
        snprintf(why, sizeof why, "%s", jcs_err_msg(rc));
        return jcs_err_set(rc, "user space %s: %s; --migrate moves its blocks elsewhere first",
                           pos[0], why);
    }
    if (rc)
        return rc;
    ctl_say(c, "removed user space %s", pos[0]);
    if (c->json)
        ctl_print_json(json_pack("{sI}", "deletedUserSpaceID", (json_int_t)id));
    return 0;
}

/* ---- hubs, jobs, status ---------------------------------------------------------------------- */

static int hub_ls(ctl *c, int argc, char **argv)
{
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, NULL, 0, 0, &np);
    json_t *d;
    int rc = ctl_get(c, "/v1/system/hubs", NULL, &d);
    if (rc)
        return rc;
    if (c->json) {
        ctl_print_json(d);
        return 0;
    }
    static const char *const heads[] = {"ID", "NAME", "LOCATION", "STATE", "ADDRESS", "LATENCY"};
    static const unsigned char right[] = {1, 0, 0, 0, 0, 1};
    ctl_table t;
    ctl_table_init(&t, 6, heads, right);
    json_t *h;
    size_t i;
    json_array_foreach(json_object_get(d, "hubs"), i, h)
    {
        char id[24], lat[32] = "-";
        idstr(ctl_int(h, "hubID", 0), id, sizeof id);
        json_t *l = json_object_get(h, "latencyMs");
        if (json_is_number(l))
            snprintf(lat, sizeof lat, "%.1f ms", json_number_value(l));
        if ((rc = ctl_table_row(&t, id, ctl_str(h, "name", ""), ctl_str(h, "location", ""),
                                ctl_str(h, "state", ""), ctl_str(h, "address", ""), lat)))
            break;
    }
    if (!rc)
        ctl_table_print(&t);
    ctl_table_free(&t);
    json_decref(d);
    return rc;
}

static const char *const job_names[] = {"ChangeRedundancy", "RedundancyRecover",
                                        "RedundancyShrink", "CheckShardStore",
                                        "ShardStoreGC",     "UpdateAccessStats"};

/* Prints a report's members as "key: value" lines, nested objects indented. */
static void print_report(const json_t *v, int depth)
{
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        printf("%*s%s:", depth * 2, "", k);
        if (json_is_object(e)) {
            putchar('\n');
            print_report(e, depth + 1);
            continue;
        }
        char *s = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
        printf(" %s\n", s ? s : "?");
        free(s); /* jansson's allocator */
    }
}

static int job_run(ctl *c, int argc, char **argv)
{
    const char *pos[1];
    size_t np;
    int deep = 0, shallow = 0;
    const ctl_opt opts[] = {{"deep", 0, NULL, &deep}, {"shallow", 0, NULL, &shallow}, {0}};
    CTL_ARGS(c, argc, argv, opts, pos, 1, 1, &np);
    const char *name = NULL;
    for (size_t i = 0; i < sizeof job_names / sizeof job_names[0]; i++)
        if (strcasecmp(pos[0], job_names[i]) == 0)
            name = job_names[i];
    if (!name)
        return ctl_usage("unknown job \"%s\": ChangeRedundancy, RedundancyRecover, "
                         "RedundancyShrink, CheckShardStore, ShardStoreGC or UpdateAccessStats",
                         pos[0]);
    if ((deep || shallow) && strcmp(name, "CheckShardStore") != 0)
        return ctl_usage("--deep and --shallow are options of CheckShardStore only");
    if (deep && shallow)
        return ctl_usage("--deep or --shallow, not both");
    json_t *body = json_pack("{ss}", "job", name), *d;
    if (body && (deep || shallow))
        json_object_set_new(body, "deep", json_boolean(deep));
    int rc = body ? ctl_post(c, "/v1/system/tickTock/run", body, &d) : JCS_ENOMEM;
    json_decref(body);
    if (rc)
        return rc; /* the server's message names the job */
    if (c->json) {
        ctl_print_json(d);
        return 0;
    }
    ctl_say(c, "job %s finished", name);
    if (!c->quiet && json_object_size(json_object_get(d, "report")))
        print_report(json_object_get(d, "report"), 1);
    json_decref(d);
    return 0;
}

static int cmd_status(ctl *c, int argc, char **argv)
{
    size_t np;
    CTL_ARGS(c, argc, argv, NULL, NULL, 0, 0, &np);
    json_t *d;
    int rc = ctl_get(c, "/v1/system/status", NULL, &d);
    if (rc)
        return rc;
    if (c->json) {
        ctl_print_json(d);
        return 0;
    }
    json_t *db = json_object_get(d, "database"), *co = json_object_get(d, "coordinator");
    printf("endpoint     %s (from %s)\nversion      %s\nstarted      %s (up %lld s)\n"
           "database     %s%s%s\ncoordinator  %s %s%s%s\nhubs online  %lld of %lld\n",
           c->endpoint, c->endpoint_from, ctl_str(d, "version", ""), ctl_str(d, "startTime", ""),
           (long long)ctl_int(d, "uptimeSeconds", 0),
           json_is_true(json_object_get(db, "ok")) ? "ok" : "FAILING",
           *ctl_str(db, "message", "") ? ": " : "", ctl_str(db, "message", ""),
           ctl_str(co, "address", ""), json_is_true(json_object_get(co, "ok")) ? "ok" : "FAILING",
           *ctl_str(co, "message", "") ? ": " : "", ctl_str(co, "message", ""),
           (long long)ctl_int(d, "hubsOnline", 0), (long long)ctl_int(d, "hubsTotal", 0));
    json_decref(d);
    return 0;
}

const ctl_cmd ctl_cmds_system[] = {
    {"space ls", "", "list the user spaces (where data lives)", "Example:\n  jcsctl space ls",
     space_ls},
    {"space add local", "NAME --hub HUB --root DIR", "add a directory on a hub as a user space",
     "Options:\n  --hub HUB        the hub (name or id) that owns the directory\n"
     "  --root DIR       the directory, on the hub's machine\n"
     "  --location LOC   its location (name or id; default: the hub's)\n\n"
     "Example:\n  jcsctl space add local fast1 --hub hub1 --root /srv/jcs/fast1",
     space_add_local},
    {"space add s3", "NAME --url URL --bucket B [...]", "add an S3 bucket as a user space",
     "Options:\n  --url URL         the S3 endpoint\n  --bucket B        the S3 bucket\n"
     "  --region R        [us-east-1]\n  --prefix P        a key prefix inside the bucket\n"
     "  --path-style      path-style addressing (MinIO, s3rver)\n"
     "  --access-key K, --secret-key S   [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]\n"
     "  --hub HUB         the hub that talks to it (name or id)\n"
     "  --location LOC    its location (name or id)\n\n"
     "Example:\n  jcsctl space add s3 cloud1 --url http://127.0.0.1:4569 --bucket jcs "
     "--path-style --hub hub1",
     space_add_s3},
    {"space test", "SPACE", "write, read back and delete a probe on a user space",
     "SPACE is a name or an id.\n\nExample:\n  jcsctl space test hub1", space_test},
    {"space rm", "[--migrate] SPACE", "remove a user space",
     "Refused while blocks live there, unless --migrate moves them elsewhere first.\n\n"
     "Options:\n  --migrate  move its blocks to other spaces first\n\n"
     "Example:\n  jcsctl space rm --migrate cloud1",
     space_rm},
    {"hub ls", "", "list the hubs: state, location, latency", "Example:\n  jcsctl hub ls", hub_ls},
    {"job run", "[--deep|--shallow] NAME", "run a background job now and print its report",
     "NAME: ChangeRedundancy, RedundancyRecover, RedundancyShrink, CheckShardStore,\n"
     "ShardStoreGC or UpdateAccessStats (any case).\n\nOptions:\n"
     "  --deep     CheckShardStore also reads and verifies every shard (the scrub)\n"
     "  --shallow  CheckShardStore only lists (default: tickTock.deepCheck)\n\n"
     "Example:\n  jcsctl job run RedundancyRecover\n  jcsctl job run --deep CheckShardStore",
     job_run},
    {"status", "", "the service's version, uptime, database and coordinator",
     "Example:\n  jcsctl status", cmd_status},
    {0},
};
