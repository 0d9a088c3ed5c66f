/*
 * client/serve.h - `jcs serve -c config.json [--ready-file F]`: the client
 * service (REST API, metadata, background jobs). main() loads the config,
 * sets up logging and calls jcs_serve.
 */
#ifndef JCS_CLIENT_SERVE_H
#define JCS_CLIENT_SERVE_H

#include "client_config.h"

/* The exit code of a build without the REST service. */
#define JCS_SERVE_NOT_BUILT 3

/*
 * Runs the service until SIGTERM/SIGINT. cfg is borrowed for the whole run.
 * ready_file (may be NULL) is written with the HTTP listen address once the
 * service accepts requests. Returns the process exit code.
 */
int jcs_serve(const jcs_client_config *cfg, const char *ready_file);

#endif
