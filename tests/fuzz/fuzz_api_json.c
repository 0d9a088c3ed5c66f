/*
 * fuzz_api_json.c - the REST API's request checks (svc.h) over arbitrary
 * bodies, read as the HTTP server reads them (json_loadb, flags 0): the id,
 * string, boolean, id-list and redundancy fields the routes take, and the
 * name and object-path checks on "name" and "path". Input that is not JSON
 * is checked as a raw name and path, so the UTF-8 and segment rules see
 * every byte. A normalized path must be a fixed point of the normalization
 * and hold no empty, "." or ".." segment.
 */
#include <jansson.h>

#include "client_config.h"
#include "alloc.h"
#include "fuzz.h"
#include "meta.h"
#include "svc.h"

static void check_path(const char *s)
{
    char out[JCS_META_PATH_MAX + 1], again[JCS_META_PATH_MAX + 1];
    for (int dir = 0; dir <= 1; dir++) {
        if (jcs_api_norm_path("field path", s, dir, out) != 0)
            continue;
        if (jcs_api_norm_path("field path", out, dir, again) != 0 || strcmp(out, again) != 0)
            abort(); /* normalizing twice changes nothing */
        if (strstr(out, "//") || strcmp(out, ".") == 0 || strcmp(out, "..") == 0 ||
            strncmp(out, "../", 3) == 0 || strncmp(out, "./", 2) == 0 || strstr(out, "/../") ||
            strstr(out, "/./") || strchr(out, '\\'))
            abort();
        size_t n = strlen(out);
        if (n >= 3 && strcmp(out + n - 3, "/..") == 0)
            abort();
        if (!dir && (n == 0 || out[n - 1] == '/'))
            abort(); /* a trailing '/' or the empty path only where a directory is allowed */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *b = json_loadb((const char *)data, size, 0, &e);
    if (!b || !json_is_object(b)) {
        json_decref(b);
        char *s = fuzz_str(data, size);
        (void)!jcs_api_check_name("field name", s);
        check_path(s);
        free(s);
        return 0;
    }
    static const char *const ids[] = {"bucketID", "packageID", "objectID", "userSpaceID"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int64_t id = 0;
        if (jcs_api_get_id(b, ids[i], &id) == 0 && id <= 0)
            abort();
    }
    const char *s;
    if (jcs_api_get_str(b, "name", 0, &s) == 0 && s)
        (void)!jcs_api_check_name("field name", s);
    if (jcs_api_get_str(b, "path", 1, &s) == 0 && s)
        check_path(s);
    int v;
    (void)!jcs_api_get_bool(b, "overwrite", 0, &v);
    jcs_meta_ids l = {0};
    if (jcs_api_get_ids(b, "objectIDs", &l) == 0) {
        if (l.n > JCS_META_BATCH_MAX)
            abort();
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i] <= 0)
                abort();
        jcs_meta_ids_clear(&l);
    }
    jcs_redundancy r;
    int given = 0;
    if (jcs_api_get_redundancy(b, "redundancy", &r, &given) == 0 && given) {
        /* The canonical JSON of a parsed redundancy parses back to the same canonical JSON. */
        char *t1 = jcs_client_config_redundancy_json(&r);
        json_t *v1 = t1 ? json_loads(t1, 0, NULL) : NULL;
        jcs_redundancy r2;
        if (t1 && (!v1 || jcs_client_config_redundancy_parse(v1, "redundancy", &r2) != 0))
            abort();
        char *t2 = v1 ? jcs_client_config_redundancy_json(&r2) : NULL;
        if (t1 && t2 && strcmp(t1, t2) != 0)
            abort();
        jcs_free(t1);
        jcs_free(t2);
        json_decref(v1);
    }
    int64_t ns;
    if (jcs_api_get_str(b, "gcGracePeriod", 0, &s) == 0 && s &&
        jcs_client_config_parse_duration(s, &ns) == 0 && ns < 0)
        abort(); /* negative durations are refused */
    json_decref(b);
    return 0;
}
