/*
 * fuzz_config.c - config files: the JSON config reader (config.h) and the
 * client's config (client_config.h, which reads every field with its
 * checks) over arbitrary text, as if read from a file.
 */
#include "client_config.h"
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_str(data, size);
    jcs_cfg cfg;
    if (jcs_cfg_parse("/fuzz/config.json", text, &cfg) == 0)
        jcs_cfg_clear(&cfg);
    jcs_client_config c;
    memset(&c, 0, sizeof c);
    if (jcs_client_config_parse("/fuzz/jcs.json", text, &c) == 0)
        jcs_client_config_clear(&c);
    free(text);
    return 0;
}
