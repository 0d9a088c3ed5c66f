/*
 * fuzz_s3key.c - the S3 key split (jcs_s3gw_key_split, which applies the
 * JCS path and package-name checks) and its inverse: a key that splits into
 * a package and a path must join back to the same key (a directory marker
 * "pkg/" joins to "pkg" plus the marker).
 */
#include "alloc.h"
#include "fuzz.h"
#include "s3gw_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *key = fuzz_str(data, size);
    jcs_s3gw gw;
    memset(&gw, 0, sizeof gw);
    char root[] = "_", uploads[] = "_uploads";
    gw.conf.root_package = root;
    gw.conf.uploads_package = uploads;
    char pkg[256], path[1025];
    int dir = 0;
    if (jcs_s3gw_key_split(&gw, key, pkg, path, &dir) == 0) {
        if (strlen(pkg) > 255 || strlen(path) > 1024)
            abort();
        if (!dir) {
            char *j = jcs_s3gw_key_join(&gw, pkg, path);
            if (j && strcmp(j, key) != 0)
                abort();
            jcs_free(j);
        }
    }
    free(key);
    return 0;
}
