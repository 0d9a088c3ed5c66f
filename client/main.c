/*
 * jcs - the user's client of JCS-C.
 *
 *   jcs init [flags]                      write config.json and certificates
 *   jcs serve -c config.json [--ready-file F]
 *   jcs check -c config.json              load and check the config, then exit
 *   jcs cert ca|issue ...                 (as coordinator cert)
 *   jcs --version | --help
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cert.h"
#include "client_config.h"
#include "init.h"
#include "log.h"
#include "serve.h"
#include "service.h"
#include "version.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: jcs init [flags]                 write config.json and the HTTP certificates\n"
            "       jcs serve -c CONFIG.json [--ready-file FILE]\n"
            "       jcs check -c CONFIG.json         check a config (files, certificates, fields)\n"
            "       jcs cert ca|issue ...            make certificates (as coordinator cert)\n"
            "       jcs --version\n"
            "\n"
            "jcs init:\n"
            "%s"
            "  Every value not given is asked for (default in brackets); --yes takes the\n"
            "  defaults instead. When stdin is not a terminal, answers are read from it,\n"
            "  one per line. --force overwrites existing files.\n"
            "\n"
            "examples:\n"
            "  jcs init                                           (asks for everything)\n"
            "  jcs init --yes --dir /etc/jcs --coordinator 10.0.0.5:5009 \\\n"
            "      --rpc-ca certs/ca_cert.pem --rpc-cert certs/client_cert.pem \\\n"
            "      --rpc-key certs/client_key.pem --location loc1 --db-password secret\n"
            "  printf '/etc/jcs\\n10.0.0.5:5009\\nca.pem\\ncert.pem\\nkey.pem\\n' | jcs init\n"
            "  jcs check -c /etc/jcs/config.json && jcs serve -c /etc/jcs/config.json\n",
            jcs_init_usage);
}

/* serve and check: argv[0] is the command. */
static int serve_main(int argc, char **argv)
{
    const char *cmd = argv[0], *config = NULL, *ready = NULL;
    bool check = strcmp(cmd, "check") == 0;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (!check && strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            ready = argv[++i];
        } else {
            fprintf(stderr, "jcs %s: unknown or incomplete option \"%s\" (see jcs --help)\n", cmd,
                    argv[i]);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "jcs %s: -c CONFIG.json is required (see jcs --help)\n", cmd);
        return 2;
    }
    jcs_client_config cfg;
    int rc = jcs_client_config_load(config, &cfg);
    if (rc) {
        fprintf(stderr, "jcs %s: %s\n", cmd, jcs_err_msg(rc));
        return 1;
    }
    if (check) {
        if (cfg.unknown_fields)
            printf("%s: unknown fields ignored (a typo?): %s\n", cfg.path, cfg.unknown_fields);
        printf("%s: OK\n", cfg.path);
        jcs_client_config_clear(&cfg);
        return 0;
    }
    if ((rc = jcs_client_config_logger(&cfg)) != 0) {
        fprintf(stderr, "jcs serve: %s\n", jcs_err_msg(rc));
        jcs_client_config_clear(&cfg);
        return 1;
    }
    if (cfg.unknown_fields)
        jcs_warn("%s: unknown fields ignored (a typo?): %s", cfg.path, cfg.unknown_fields);
    int ec = jcs_serve(&cfg, ready);
    jcs_client_config_clear(&cfg);
    return ec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("jcs %s\n", JCS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "init") == 0)
        return jcs_init_main(argc - 1, argv + 1);
    if (strcmp(cmd, "cert") == 0)
        return jcs_cert_main(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0) {
        /* Before any thread starts, so every thread inherits the mask (service.h). */
        jcs_service_block_signals();
        return serve_main(argc - 1, argv + 1);
    }
    fprintf(stderr, "jcs: unknown command \"%s\"\n", cmd);
    fprintf(stderr, "usage: jcs init|serve|check|cert|--version|--help (see jcs --help)\n");
    return 2;
}
