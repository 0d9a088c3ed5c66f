/*
 * http_envelope.h - the REST API's reply envelope (docs/API.md): every JSON
 * answer is {"code": "OK" or an error code, "message": "", "data": ...}.
 * One place maps a jcs_err to its HTTP status and code, so every handler
 * and the server's own refusals answer the same way.
 */
#ifndef JCS_HTTP_ENVELOPE_H
#define JCS_HTTP_ENVELOPE_H

#include <jansson.h>

#include "err.h"
#include "http.h"

/* 200 {"code":"OK","message":"","data":data}. Takes ownership of data (NULL sends null). */
int jcs_http_reply_ok(jcs_http_req *req, json_t *data);

/* status {"code":code,"message":<printf>,"data":null}. */
int jcs_http_reply_err(jcs_http_req *req, unsigned status, const char *code, const char *fmt, ...)
    JCS_PRINTF(4, 5);

/*
 * The error envelope for a jcs_err with jcs_err_msg(rc) as the message:
 * EINVAL 400 BadArgument, ENOENT 404 DataNotFound, EEXIST/EBUSY 409
 * Conflict, ETOOBIG 413 TooLarge, EPERM 403 Unauthorized, EUNAVAIL 503
 * OperationFailed, anything else 500 OperationFailed.
 */
int jcs_http_reply_rc(jcs_http_req *req, int rc);

#endif
