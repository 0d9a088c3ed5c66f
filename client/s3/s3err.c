/*
 * client/s3/s3err.c - the S3 error table and document (s3err.h).
 */
#include "s3err.h"

#include <stdarg.h>
#include <string.h>

#include "s3xml.h"

struct s3err_row {
    const char *name;
    unsigned status;
    const char *message;
};

/* Status and message as AWS documents them ("Error responses", S3 API reference). */
static const struct s3err_row table[JCS_S3E_COUNT] = {
    [JCS_S3E_NONE] = {"OK", 200, ""},
    [JCS_S3E_AccessDenied] = {"AccessDenied", 403, "Access Denied"},
    [JCS_S3E_AuthorizationHeaderMalformed] = {"AuthorizationHeaderMalformed", 400,
                                              "The authorization header is malformed."},
    [JCS_S3E_AuthorizationQueryParametersError] = {"AuthorizationQueryParametersError", 400,
                                                   "Error parsing the X-Amz-Credential parameter."},
    [JCS_S3E_BadDigest] = {"BadDigest", 400,
                           "The Content-MD5 or checksum you specified did not match what we "
                           "received."},
    [JCS_S3E_BucketAlreadyOwnedByYou] = {"BucketAlreadyOwnedByYou", 409,
                                         "Your previous request to create the named bucket "
                                         "succeeded and you already own it."},
    [JCS_S3E_BucketNotEmpty] = {"BucketNotEmpty", 409,
                                "The bucket you tried to delete is not empty."},
    [JCS_S3E_EntityTooLarge] = {"EntityTooLarge", 400,
                                "Your proposed upload exceeds the maximum allowed size."},
    [JCS_S3E_EntityTooSmall] = {"EntityTooSmall", 400,
                                "Your proposed upload is smaller than the minimum allowed "
                                "object size."},
    [JCS_S3E_IncompleteBody] = {"IncompleteBody", 400,
                                "You did not provide the number of bytes specified by the "
                                "Content-Length HTTP header."},
    [JCS_S3E_InternalError] = {"InternalError", 500,
                               "We encountered an internal error. Please try again."},
    [JCS_S3E_InvalidAccessKeyId] = {"InvalidAccessKeyId", 403,
                                    "The AWS access key ID you provided does not exist in our "
                                    "records."},
    [JCS_S3E_InvalidArgument] = {"InvalidArgument", 400, "Invalid Argument"},
    [JCS_S3E_InvalidBucketName] = {"InvalidBucketName", 400, "The specified bucket is not valid."},
    [JCS_S3E_InvalidChunkSizeError] = {"InvalidChunkSizeError", 403,
                                       "Only the last chunk is allowed to have a size less than "
                                       "8192 bytes"},
    [JCS_S3E_InvalidDigest] = {"InvalidDigest", 400, "The Content-MD5 you specified is not valid."},
    [JCS_S3E_InvalidPart] = {"InvalidPart", 400,
                             "One or more of the specified parts could not be found. The part "
                             "may not have been uploaded, or the specified entity tag may not "
                             "match the part's entity tag."},
    [JCS_S3E_InvalidPartOrder] = {"InvalidPartOrder", 400,
                                  "The list of parts was not in ascending order. The parts list "
                                  "must be specified in order by part number."},
    [JCS_S3E_InvalidPartNumber] = {"InvalidPartNumber", 416,
                                   "The requested partnumber is not satisfiable"},
    [JCS_S3E_InvalidRange] = {"InvalidRange", 416, "The requested range is not satisfiable"},
    [JCS_S3E_InvalidRequest] = {"InvalidRequest", 400, "Invalid Request"},
    [JCS_S3E_KeyTooLongError] = {"KeyTooLongError", 400, "Your key is too long."},
    [JCS_S3E_MalformedTrailerError] = {"MalformedTrailerError", 400,
                                       "The request contained trailing data that was not "
                                       "well-formed or did not conform to our published "
                                       "schema."},
    [JCS_S3E_MalformedXML] = {"MalformedXML", 400,
                              "The XML you provided was not well-formed or did not validate "
                              "against our published schema."},
    [JCS_S3E_MethodNotAllowed] = {"MethodNotAllowed", 405,
                                  "The specified method is not allowed against this resource."},
    [JCS_S3E_MissingContentLength] = {"MissingContentLength", 411,
                                      "You must provide the Content-Length HTTP header."},
    [JCS_S3E_NoSuchBucket] = {"NoSuchBucket", 404, "The specified bucket does not exist."},
    [JCS_S3E_NoSuchKey] = {"NoSuchKey", 404, "The specified key does not exist."},
    [JCS_S3E_NoSuchUpload] = {"NoSuchUpload", 404,
                              "The specified multipart upload does not exist. The upload ID "
                              "might be invalid, or the multipart upload might have been "
                              "aborted or completed."},
    [JCS_S3E_NotImplemented] = {"NotImplemented", 501,
                                "A header or query you provided implies functionality that is "
                                "not implemented."},
    [JCS_S3E_NotModified] = {"NotModified", 304, "Not Modified"},
    [JCS_S3E_PreconditionFailed] = {"PreconditionFailed", 412,
                                    "At least one of the preconditions you specified did not "
                                    "hold."},
    [JCS_S3E_RequestTimeTooSkewed] = {"RequestTimeTooSkewed", 403,
                                      "The difference between the request time and the "
                                      "server's time is too large."},
    [JCS_S3E_ServiceUnavailable] = {"ServiceUnavailable", 503,
                                    "Service is unable to handle request."},
    [JCS_S3E_SignatureDoesNotMatch] = {"SignatureDoesNotMatch", 403,
                                       "The request signature we calculated does not match the "
                                       "signature you provided. Check your key and signing "
                                       "method."},
    [JCS_S3E_SlowDown] = {"SlowDown", 503, "Please reduce your request rate."},
    [JCS_S3E_XAmzContentSHA256Mismatch] = {"XAmzContentSHA256Mismatch", 400,
                                           "The provided 'x-amz-content-sha256' header does not "
                                           "match what was computed."},
};

static _Thread_local int last_code;

static int valid(int code)
{
    return code > 0 && code < JCS_S3E_COUNT;
}

const char *jcs_s3err_name(int code)
{
    return valid(code) ? table[code].name : "InternalError";
}

unsigned jcs_s3err_status(int code)
{
    return valid(code) ? table[code].status : 500;
}

const char *jcs_s3err_default_message(int code)
{
    return valid(code) ? table[code].message : table[JCS_S3E_InternalError].message;
}

int jcs_s3err_to_rc(int code)
{
    switch (code) {
    case JCS_S3E_NONE:
        return JCS_OK;
    case JCS_S3E_NoSuchBucket:
    case JCS_S3E_NoSuchKey:
    case JCS_S3E_NoSuchUpload:
        return JCS_ENOENT;
    case JCS_S3E_AccessDenied:
    case JCS_S3E_InvalidAccessKeyId:
    case JCS_S3E_SignatureDoesNotMatch:
    case JCS_S3E_RequestTimeTooSkewed:
        return JCS_EPERM;
    case JCS_S3E_BucketAlreadyOwnedByYou:
        return JCS_EEXIST;
    case JCS_S3E_BucketNotEmpty:
    case JCS_S3E_PreconditionFailed:
    case JCS_S3E_NotModified:
        return JCS_EBUSY;
    case JCS_S3E_BadDigest:
    case JCS_S3E_XAmzContentSHA256Mismatch:
        return JCS_ECORRUPT;
    case JCS_S3E_EntityTooLarge:
    case JCS_S3E_KeyTooLongError:
        return JCS_ETOOBIG;
    case JCS_S3E_ServiceUnavailable:
    case JCS_S3E_SlowDown:
        return JCS_EUNAVAIL;
    case JCS_S3E_InternalError:
        return JCS_EINTERNAL;
    default:
        return JCS_EINVAL;
    }
}

int jcs_s3err_set(int code, const char *fmt, ...)
{
    last_code = valid(code) ? code : JCS_S3E_InternalError;
    va_list ap;
    va_start(ap, fmt);
    int rc = jcs_err_setv(jcs_s3err_to_rc(last_code), fmt, ap);
    va_end(ap);
    return rc;
}

void jcs_s3err_clear(void)
{
    last_code = 0;
}

int jcs_s3err_take(int rc)
{
    int c = last_code;
    last_code = 0;
    if (c)
        return c;
    switch (rc) {
    case JCS_OK:
        return JCS_S3E_NONE;
    case JCS_EINVAL:
        return JCS_S3E_InvalidArgument;
    case JCS_ETOOBIG:
        return JCS_S3E_EntityTooLarge;
    case JCS_EUNAVAIL:
    case JCS_ETIMEOUT:
        return JCS_S3E_ServiceUnavailable;
    case JCS_ECORRUPT:
        return JCS_S3E_BadDigest;
    case JCS_EPERM:
        return JCS_S3E_AccessDenied;
    default:
        return JCS_S3E_InternalError;
    }
}

int jcs_s3err_xml(jcs_buf *out, int code, const char *message, const char *resource,
                  const char *request_id)
{
    jcs_s3xml w;
    jcs_s3xml_init(&w, out);
    jcs_s3xml_open(&w, "Error");
    jcs_s3xml_elem(&w, "Code", jcs_s3err_name(code));
    jcs_s3xml_elem(&w, "Message", message && *message ? message : jcs_s3err_default_message(code));
    if (resource)
        jcs_s3xml_elem(&w, "Resource", resource);
    if (request_id)
        jcs_s3xml_elem(&w, "RequestId", request_id);
    jcs_s3xml_close(&w, "Error");
    return jcs_s3xml_finish(&w);
}
