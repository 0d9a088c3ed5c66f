/*
 * client/s3/s3conf.h - the "s3" section of the client's config.json:
 *
 *   "s3": {"listen": "127.0.0.1:7891", "region": "us-east-1",
 *          "domain": "s3.example.org", "rootPackage": "_",
 *          "uploadsPackage": "_uploads", "maxTransfers": 4,
 *          "credentials": [{"accessKey": "...", "secretKey": "..."}]}
 *
 * No section, or an empty listen, means no S3 port. The server certificate
 * and the connection limits are the REST API's (http.serverCert,
 * http.serverKey, http.maxConnections, http.timeoutSec).
 */
#ifndef JCS_CLIENT_S3CONF_H
#define JCS_CLIENT_S3CONF_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "s3auth.h"

#define JCS_S3CONF_DEFAULT_LISTEN "127.0.0.1:7891"
#define JCS_S3CONF_SLOT_WAIT_S    30

typedef struct jcs_s3conf {
    char *listen;          /* "" when disabled */
    char *region;          /* [us-east-1] */
    char *domain;          /* [""]: no virtual-host-style requests */
    char *root_package;    /* ["_"]: the package of keys without '/' */
    char *uploads_package; /* ["_uploads"]: open multipart uploads */
    /* [2 per core, at least 4]: PUT/UploadPart bodies and GET replies streamed at once; each
     * holds its plan's buffers (about 10 MiB), so this bounds the gateway's memory. More wait
     * (their body unread) up to JCS_S3CONF_SLOT_WAIT_S, then get 503 SlowDown. */
    unsigned max_transfers;
    jcs_s3auth_cred *creds; /* owned strings */
    size_t ncreds;
} jcs_s3conf;

/*
 * Reads the section. JCS_ECONFIG naming the field (a listen address that
 * does not parse, no credentials while listening, a key or secret that is
 * empty, too long or not printable ASCII, a reserved package name that
 * is not a valid name). On success the caller frees with jcs_s3conf_free.
 */
int jcs_s3conf_load(const jcs_cfg *cfg, jcs_s3conf *out) JCS_MUST_USE;
void jcs_s3conf_free(jcs_s3conf *c);

#endif
