/*
 * client/s3/s3gw.h - the S3 gateway: a second HTTPS listener of `jcs serve`
 * that answers the S3 REST API over the same buckets, packages and
 * objects as the JCS REST API (README, "The S3 gateway").
 *
 * Requests run on the HTTP server module (http.h) as one catch-all route
 * with a raw streamed body on a listener that asks for no client
 * certificate and hands paths and queries over as sent (SigV4 signs the
 * encoded form). Every request is authenticated (s3auth.h) before its body
 * is read; bodies are decoded and checked as they stream (s3body.h) into
 * the same upload plans as the REST API; replies are S3 XML (s3xml.h)
 * and errors S3 error documents (s3err.h) with a RequestId.
 *
 * Operations live in one file each: s3gw_bucket.c (service and bucket),
 * s3gw_object.c (PUT, GET, HEAD, DELETE, copy), s3gw_list.c (ListObjects
 * v1 and v2), s3gw_multipart.c (multipart uploads), s3gw_delete.c
 * (DeleteObjects). The key mapping (first key segment = package) is
 * s3gw_key.c.
 */
#ifndef JCS_CLIENT_S3GW_H
#define JCS_CLIENT_S3GW_H

#include "err.h"
#include "http.h"
#include "s3conf.h"
#include "svc.h"

typedef struct jcs_s3gw jcs_s3gw;

/*
 * Starts the S3 listener on conf->listen with the REST API's certificate
 * and connection settings (http: serverCert, serverKey, maxConnections,
 * timeoutSec). Takes ownership of *conf (emptied). svc is borrowed until
 * jcs_s3gw_stop. JCS_EIO when the address cannot be bound.
 */
int jcs_s3gw_start(jcs_svc *svc, const jcs_http_config *http, jcs_s3conf *conf,
                   jcs_s3gw **out) JCS_MUST_USE;

/* The TCP port actually bound, and the configured listen address. */
int jcs_s3gw_port(const jcs_s3gw *gw);
const char *jcs_s3gw_listen(const jcs_s3gw *gw);

/* Stops the listener (in-flight uploads are cancelled) and frees gw. NULL is fine. */
void jcs_s3gw_stop(jcs_s3gw *gw);

#endif
