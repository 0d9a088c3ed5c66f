/*
 * http_envelope.c - the REST API's reply envelope (http_envelope.h):
 * {"code", "message", "data"}, and the one mapping from a jcs_err to an
 * HTTP status and envelope code.
 */
#include "http_envelope.h"

#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"

/* A JSON string of s; invalid UTF-8 bytes become '?' rather than losing the message. */
static json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j || !s)
        return j;
    char *c = jcs_strdup(s);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    j = json_string(c);
    jcs_free(c);
    return j;
}

static int reply_envelope(jcs_http_req *req, unsigned status, const char *code, const char *msg,
                          json_t *data)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "code", json_string(code)) ||
        json_object_set_new(o, "message", json_text(msg)) ||
        json_object_set_new(o, "data", data ? data : json_null())) {
        json_decref(o);
        /* A NULL body makes the server answer its fixed out-of-memory reply. */
        return jcs_http_reply_json(req, 500, NULL);
    }
    return jcs_http_reply_json(req, status, o);
}

int jcs_http_reply_ok(jcs_http_req *req, json_t *data)
{
    return reply_envelope(req, 200, "OK", "", data);
}

int jcs_http_reply_err(jcs_http_req *req, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return reply_envelope(req, status, code, msg, NULL);
}

int jcs_http_reply_rc(jcs_http_req *req, int rc)
{
    unsigned status = 500;
    const char *code = "OperationFailed";
    switch (rc) {
    case JCS_EINVAL:
        status = 400, code = "BadArgument";
        break;
    case JCS_ENOENT:
        status = 404, code = "DataNotFound";
        break;
    case JCS_EEXIST:
    case JCS_EBUSY:
        status = 409, code = "Conflict";
        break;
    case JCS_ETOOBIG:
        status = 413, code = "TooLarge";
        break;
    case JCS_EPERM:
        status = 403, code = "Unauthorized";
        break;
    case JCS_EUNAVAIL:
        status = 503;
        break;
    default:
        break;
    }
    /* Copy: building the reply may set the thread's error detail. */
    char msg[2048];
    snprintf(msg, sizeof(msg), "%s", jcs_err_msg(rc));
    return jcs_http_reply_err(req, status, code, "%s", msg);
}
