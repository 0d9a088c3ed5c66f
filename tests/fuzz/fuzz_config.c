/*
 * fuzz_config.c - config files: the JSON config reader (config.h) and the
 * client's config (client_config.h, which reads every field with its
 * checks) over arbitrary text, as if read from a file. The client's config
 * is only read past its first section when it names a real CA and a real
 * client certificate, so the harness makes them once (testcerts.h) and
 * replaces the tokens @CA, @CC, @CK (client certificate and key), @SC, @SK
 * (server certificate and key) in the input with their paths.
 */
#include "client_config.h"
#include "config.h"
#include "fuzz.h"
#include "testcerts.h"

static testcerts fz_tc;
static const char *fz_vals[5];

static void fz_cleanup(void)
{
    testcerts_cleanup(&fz_tc);
}

static void fz_init(void)
{
    if (fz_vals[0])
        return;
    const jcs_tls_files *c, *s;
    if (testcerts_init(&fz_tc) != 0 || !(c = testcerts_issue(&fz_tc, "client", "jcs", false)) ||
        !(s = testcerts_issue(&fz_tc, "client", "jcs-http", false)))
        abort();
    fz_vals[0] = fz_tc.ca_cert;
    fz_vals[1] = c->cert_file;
    fz_vals[2] = c->key_file;
    fz_vals[3] = s->cert_file;
    fz_vals[4] = s->key_file;
    atexit(fz_cleanup);
}

/* text with every token replaced by its path (a new string). */
static char *fz_subst(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"@CA", "@CC", "@CK", "@SC", "@SK"};
    char *out = malloc(size * 64 + 1);
    if (!out)
        abort();
    size_t o = 0;
    for (size_t i = 0; i < size;) {
        int k = -1;
        for (int j = 0; j < 5 && k < 0; j++)
            if (size - i >= 3 && memcmp(data + i, keys[j], 3) == 0)
                k = j;
        if (k >= 0) {
            size_t n = strlen(fz_vals[k]);
            memcpy(out + o, fz_vals[k], n);
            o += n;
            i += 3;
        } else {
            out[o++] = (char)data[i++];
        }
    }
    out[o] = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    char *text = fz_subst(data, size);
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
