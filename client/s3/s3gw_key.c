/*
 * client/s3/s3gw_key.c - S3 keys onto JCS packages and paths (s3gw_int.h,
 * README "Mapping").
 */
#include <string.h>

#include "alloc.h"
#include "s3gw_int.h"

/* Valid UTF-8 without control characters (JCS names and paths are text). */
static int good_text(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7F)
            return 0;
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (!len || i + len > n || (len == 2 && c < 0xC2))
            return 0;
        unsigned long cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
    return 1;
}

int jcs_s3gw_reserved_package(const jcs_s3gw *gw, const char *pkg)
{
    return strcmp(pkg, gw->conf.root_package) == 0 || strcmp(pkg, gw->conf.uploads_package) == 0;
}

int jcs_s3gw_key_split(const jcs_s3gw *gw, const char *key, char pkg[256], char path[1025],
                       int *dir_marker)
{
    size_t n = strlen(key);
    *dir_marker = 0;
    pkg[0] = path[0] = '\0';
    if (n == 0)
        return jcs_s3err_set(JCS_S3E_InvalidArgument, "the key is empty");
    if (n > S3GW_KEY_MAX)
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "key \"%.60s...\" is %zu bytes; JCS paths hold at most %d", key, n,
                             S3GW_KEY_MAX);
    if (!good_text((const unsigned char *)key, n))
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "key \"%.100s\" is not valid UTF-8 text (control characters are "
                             "refused)",
                             key);
    if (strchr(key, '\\'))
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "key \"%.200s\" contains '\\', which JCS paths do not allow", key);
    /* Every segment non-empty and neither "." nor ".."; a trailing '/' only right after the
     * package ("pkg/", a folder marker). */
    const char *seg = key;
    int nseg = 0;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t l = slash ? (size_t)(slash - seg) : strlen(seg);
        int last = !slash;
        if (l == 0 && !(last && nseg == 1))
            return jcs_s3err_set(JCS_S3E_InvalidArgument,
                                 "key \"%.200s\" has an empty segment (JCS paths have none%s)", key,
                                 last ? "; only \"package/\" may end in '/'" : "");
        if ((l == 1 && seg[0] == '.') || (l == 2 && seg[0] == '.' && seg[1] == '.'))
            return jcs_s3err_set(JCS_S3E_InvalidArgument,
                                 "key \"%.200s\" has a \"%.*s\" segment, which JCS paths do not "
                                 "allow",
                                 key, (int)l, seg);
        nseg++;
        if (last)
            break;
        seg = slash + 1;
    }
    const char *slash = strchr(key, '/');
    if (!slash) {
        snprintf(pkg, 256, "%s", gw->conf.root_package);
        memcpy(path, key, n + 1);
        return JCS_OK;
    }
    size_t pl = (size_t)(slash - key);
    if (pl > 255)
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "key \"%.60s...\": its first segment (the package) is longer than "
                             "255 bytes",
                             key);
    memcpy(pkg, key, pl);
    pkg[pl] = '\0';
    if (jcs_s3gw_reserved_package(gw, pkg))
        return jcs_s3err_set(JCS_S3E_InvalidArgument,
                             "key \"%.200s\": the first segment \"%s\" is the gateway's reserved "
                             "package (s3.rootPackage / s3.uploadsPackage); keys without '/' are "
                             "stored there",
                             key, pkg);
    snprintf(path, 1025, "%s", slash + 1);
    *dir_marker = path[0] == '\0';
    return JCS_OK;
}

char *jcs_s3gw_key_join(const jcs_s3gw *gw, const char *pkg, const char *path)
{
    if (strcmp(pkg, gw->conf.root_package) == 0)
        return jcs_strdup(path);
    return jcs_asprintf("%s/%s", pkg, path);
}
