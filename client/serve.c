#include "serve.h"

#include <stdio.h>

int jcs_serve(const jcs_client_config *cfg, const char *ready_file)
{
    (void)cfg;
    (void)ready_file;
    fprintf(stderr, "jcs serve: the REST service is not in this build yet\n");
    return JCS_SERVE_NOT_BUILT;
}
