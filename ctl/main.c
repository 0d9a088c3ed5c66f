/*
 * jcsctl - the command line for a running jcs. Its commands arrive with
 * its issue; until then the binary only reports its version.
 */
#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("jcsctl %s\n", JCS_VERSION);
        return 0;
    }
    fprintf(stderr,
            "jcsctl %s: commands are not part of this build yet; "
            "usage: jcsctl --version\n",
            JCS_VERSION);
    return 2;
}
