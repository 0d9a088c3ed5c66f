/*
 * jcs - the user's client. The REST service, metadata and jobs arrive with
 * their issue; until then the binary only reports its version.
 */
#include <stdio.h>
#include <string.h>

#include "version.h"

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("jcs %s\n", JCS_VERSION);
        return 0;
    }
    fprintf(stderr, "jcs %s: the client service is not part of this build yet; "
                    "usage: jcs --version\n",
            JCS_VERSION);
    return 2;
}
