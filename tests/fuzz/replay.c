/*
 * replay.c - the main() of the replay build of a fuzz harness: runs
 * LLVMFuzzerTestOneInput once over every file named or found in the
 * directories named, and prints "PASS harness/file" for each (a crash or a
 * sanitizer report ends the process, which tests/run counts as a failure).
 * This is how `make test` replays the seed corpus with the gcc ASan build,
 * without libFuzzer.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *harness, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL %s/%s: cannot open\n", harness, path);
        return 1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        printf("FAIL %s/%s: out of memory\n", harness, path);
        return 1;
    }
    /* An exact-size copy, so ASan sees a read one past the input. */
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    const char *base = strrchr(path, '/');
    printf("PASS %s/%s\n", harness, base ? base + 1 : path);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *harness = strrchr(argv[0], '/');
    harness = harness ? harness + 1 : argv[0];
    int failed = 0, files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            printf("FAIL %s: %s does not exist\n", harness, argv[i]);
            failed++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed += replay_file(harness, argv[i]);
            files++;
            continue;
        }
        struct dirent **ents;
        int m = scandir(argv[i], &ents, NULL, alphasort);
        for (int j = 0; j < m; j++) {
            if (ents[j]->d_name[0] != '.') {
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", argv[i], ents[j]->d_name);
                failed += replay_file(harness, p);
                files++;
            }
            free(ents[j]);
        }
        free(ents);
    }
    if (files == 0) {
        printf("FAIL %s: empty corpus\n", harness);
        failed++;
    }
    return failed ? 1 : 0;
}
