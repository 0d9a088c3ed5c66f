/*
 * client/s3/s3err.h - the S3 error model: the codes the gateway answers
 * with, their HTTP status, and the XML error document.
 *
 * The gateway's functions keep the project's convention (a negative jcs_err
 * plus a detail line); jcs_s3err_set additionally records, for the calling
 * thread, which S3 code the failure is, so the request handler can answer
 * with the right code however deep the failure happened. A failure that
 * recorded no S3 code is mapped from its jcs_err (jcs_s3err_from_rc).
 */
#ifndef JCS_CLIENT_S3ERR_H
#define JCS_CLIENT_S3ERR_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

enum jcs_s3err_code {
    JCS_S3E_NONE = 0,
    JCS_S3E_AccessDenied,
    JCS_S3E_AuthorizationHeaderMalformed,
    JCS_S3E_AuthorizationQueryParametersError,
    JCS_S3E_BadDigest,
    JCS_S3E_BucketAlreadyOwnedByYou,
    JCS_S3E_BucketNotEmpty,
    JCS_S3E_EntityTooLarge,
    JCS_S3E_EntityTooSmall,
    JCS_S3E_IncompleteBody,
    JCS_S3E_InternalError,
    JCS_S3E_InvalidAccessKeyId,
    JCS_S3E_InvalidArgument,
    JCS_S3E_InvalidBucketName,
    JCS_S3E_InvalidChunkSizeError,
    JCS_S3E_InvalidDigest,
    JCS_S3E_InvalidPart,
    JCS_S3E_InvalidPartOrder,
    JCS_S3E_InvalidPartNumber,
    JCS_S3E_InvalidRange,
    JCS_S3E_InvalidRequest,
    JCS_S3E_KeyTooLongError,
    JCS_S3E_MalformedTrailerError,
    JCS_S3E_MalformedXML,
    JCS_S3E_MethodNotAllowed,
    JCS_S3E_MissingContentLength,
    JCS_S3E_NoSuchBucket,
    JCS_S3E_NoSuchKey,
    JCS_S3E_NoSuchUpload,
    JCS_S3E_NotImplemented,
    JCS_S3E_NotModified,
    JCS_S3E_PreconditionFailed,
    JCS_S3E_RequestTimeTooSkewed,
    JCS_S3E_ServiceUnavailable,
    JCS_S3E_SignatureDoesNotMatch,
    JCS_S3E_SlowDown,
    JCS_S3E_XAmzContentSHA256Mismatch,
    JCS_S3E_COUNT
};

/* "NoSuchKey"; "InternalError" for an unknown code. */
const char *jcs_s3err_name(int code);

/* The HTTP status of a code (404 for NoSuchKey, 304 NotModified, ...). */
unsigned jcs_s3err_status(int code);

/* AWS's sentence for a code ("The specified key does not exist."). */
const char *jcs_s3err_default_message(int code);

/*
 * Records code for the calling thread and a detail line (the message the
 * client will read), and returns the jcs_err that matches the code
 * (JCS_ENOENT for NoSuch*, JCS_EPERM for authentication failures, ...).
 */
int jcs_s3err_set(int code, const char *fmt, ...) JCS_PRINTF(2, 3);

/*
 * The S3 code recorded by the last jcs_s3err_set of this thread, and
 * forgets it; when none was recorded, the code that matches rc
 * (JCS_EINVAL InvalidArgument, JCS_ETOOBIG EntityTooLarge, JCS_EUNAVAIL
 * ServiceUnavailable, JCS_ECORRUPT BadDigest, anything else InternalError).
 */
int jcs_s3err_take(int rc);

/* Forgets the recorded code (at the start of each request). */
void jcs_s3err_clear(void);

/* The jcs_err an S3 code stands for (what jcs_s3err_set returns). */
int jcs_s3err_to_rc(int code);

/*
 * Appends the XML error document: <Error><Code>, <Message>, <Resource>,
 * <RequestId> (resource and request_id may be NULL). Text is escaped.
 */
int jcs_s3err_xml(jcs_buf *out, int code, const char *message, const char *resource,
                  const char *request_id) JCS_MUST_USE;

#endif
