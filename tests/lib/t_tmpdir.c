#define _XOPEN_SOURCE 700
#include "t_tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static char dir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int t_rmtree(const char *path)
{
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
    if (dir[0])
        t_rmtree(dir);
}

const char *t_tmpdir(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/jcs-test-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(cleanup);
    }
    return dir;
}

void t_path(char *out, size_t outlen, const char *rel)
{
    snprintf(out, outlen, "%s/%s", t_tmpdir(), rel);
}
