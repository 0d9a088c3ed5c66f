/*
 * service.h - what every long-running JCS-C process does the same way:
 * logger set-up from its config, TLS file paths from its config, the
 * ready file that tells a supervisor (the local cluster script, a test)
 * the process is serving, and waiting for SIGTERM/SIGINT.
 */
#ifndef JCS_SERVICE_H
#define JCS_SERVICE_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "err.h"
#include "rpc.h"

/*
 * Applies the "logger" section: output ("stdout" or "file"), outputFileName,
 * outputDirectory, level. tag is the process tag ("hub[hub1]").
 */
int jcs_service_logger(const jcs_cfg *cfg, const char *tag) JCS_MUST_USE;

/* TLS paths of one party, resolved and checked readable. Owned strings. */
typedef struct jcs_service_tls {
    char *ca_file;
    char *cert_file;
    char *key_file;
} jcs_service_tls;

/*
 * Reads "<section>.rootCA", "<section>.cert", "<section>.key" and checks the
 * certificate is signed by the CA and matches the key, so a wrong file is
 * named at start-up instead of failing every handshake later.
 */
int jcs_service_tls_load(const jcs_cfg *cfg, const char *section,
                         jcs_service_tls *out) JCS_MUST_USE;
void jcs_service_tls_clear(jcs_service_tls *t);
/*
 * Reads field (an integer of seconds, 1..3600, default JCS_RPC_IDLE_TIMEOUT_MS)
 * and makes it the process's RPC idle deadline (rpc.h, "deadlines").
 */
int jcs_service_rpc_idle(const jcs_cfg *cfg, const char *field) JCS_MUST_USE;

/* A borrowed view for rpc.h. */
jcs_tls_files jcs_service_tls_files(const jcs_service_tls *t);

/*
 * The command line every service shares: "PROG serve -c CONFIG
 * [--ready-file F]" calls serve(config, ready_file or NULL); "PROG cert ..."
 * makes certificates (cert.h); --version and --help print and return 0;
 * anything else prints usage on stderr and returns 2. Blocks the stop
 * signals first (before any thread starts). Returns the exit code.
 */
int jcs_service_main(const char *prog, int argc, char **argv, void (*usage)(FILE *f),
                     int (*serve)(const char *config, const char *ready_file));

/* Writes text + "\n" to path atomically (when path is not NULL). */
int jcs_service_ready(const char *path, const char *text) JCS_MUST_USE;

/*
 * Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (call it first in
 * main, before any thread starts, so every thread inherits the mask) and
 * ignores SIGPIPE.
 */
void jcs_service_block_signals(void);

/* Waits for SIGTERM or SIGINT; returns the signal number. */
int jcs_service_wait_signal(void);

/*
 * A stop flag with a condition variable, so background loops sleep until
 * their next turn or until stop, whichever comes first.
 */
typedef struct jcs_stopper jcs_stopper;
int jcs_stopper_new(jcs_stopper **out) JCS_MUST_USE;
/* Sleeps up to ms; returns true when stop was requested. */
bool jcs_stopper_sleep(jcs_stopper *s, long long ms);
bool jcs_stopper_stopped(jcs_stopper *s);
void jcs_stopper_stop(jcs_stopper *s);
void jcs_stopper_free(jcs_stopper *s);

#endif
