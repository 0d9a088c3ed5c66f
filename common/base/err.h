/*
 * err.h - the one error convention of JCS-C.
 *
 * Every fallible function returns an int: 0 (JCS_OK) on success or a negative
 * enum jcs_err value. Where the code alone would not tell a person what went
 * wrong, the failing function also records one line of detail with
 * jcs_err_set(); jcs_err_msg(code) returns that line. The detail names the
 * file, field, address or peer involved, so a caller can print it as is
 * ("config.json: field rpc.cert: missing").
 *
 * A detail is bound to the code it explains: the calling thread keeps one
 * (code, line) pair, and jcs_err_msg(code) returns the line only when code
 * is the code it was recorded with, else the code's generic sentence. So a
 * path that returns a bare code never borrows an older failure's line.
 * Threads that serve one request after another (an HTTP connection, an RPC
 * handler) clear the detail when a request starts, so a line can never
 * outlive its request even when two requests fail with the same code.
 *
 * Reads of a stream return JCS_EOF (positive, not an error) at a clean end.
 */
#ifndef JCS_ERR_H
#define JCS_ERR_H

#include <stdarg.h>

#define JCS_MUST_USE     __attribute__((warn_unused_result))
#define JCS_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum jcs_err {
    JCS_OK = 0,
    JCS_ENOMEM = -1,    /* an allocation failed */
    JCS_EINVAL = -2,    /* bad argument or malformed input */
    JCS_ENOENT = -3,    /* the named thing does not exist */
    JCS_EEXIST = -4,    /* already exists */
    JCS_EIO = -5,       /* a system call or device failed */
    JCS_ETOOBIG = -6,   /* over a size cap */
    JCS_ETIMEOUT = -7,  /* a deadline passed */
    JCS_ECANCELED = -8, /* cancelled by the caller or by shutdown */
    JCS_EPERM = -9,     /* refused: wrong role, bad certificate */
    JCS_EUNAVAIL = -10, /* peer or service unreachable */
    JCS_ECONFIG = -11,  /* configuration missing or invalid */
    JCS_EDB = -12,      /* database error */
    JCS_ETLS = -13,     /* certificate or key problem */
    JCS_ECORRUPT = -14, /* data failed verification */
    JCS_EBUSY = -15,    /* held by someone else (a lock, a name) */
    JCS_ERPC = -16,     /* any other failure reported by a remote peer */
    JCS_EINTERNAL = -17 /* a bug: an invariant did not hold */
};

/*
 * What a stream read returns at a clean end of stream (jcs_pipe_read,
 * jcs_rpc_*_recv*): positive, so `rc < 0` still means failure and `rc == 0`
 * still means "a message or chunk was read".
 */
#define JCS_EOF 1

/* Short fixed name of a code ("ENOENT"; "EOF" for JCS_EOF); never NULL. */
const char *jcs_err_name(int code);

/* A sentence for a code ("not found"); never NULL. */
const char *jcs_strerror(int code);

/*
 * Records a detail line for code on the calling thread (replacing any
 * other) and returns code, so a function can write
 * `return jcs_err_set(JCS_EINVAL, "...")`.
 */
int jcs_err_set(int code, const char *fmt, ...) JCS_PRINTF(2, 3);

/* Same with a va_list. */
int jcs_err_setv(int code, const char *fmt, va_list ap);

/*
 * Prefixes the detail of code with more context ("hub.json: " + line) and
 * returns code unchanged. When the thread holds no detail for code (the
 * callee returned a bare code), the prefix goes before jcs_strerror(code).
 */
int jcs_err_wrap(int code, const char *fmt, ...) JCS_PRINTF(2, 3);

/*
 * Converts a failure: the detail recorded for `from` (or, without one,
 * jcs_strerror(from)) becomes the detail of `to`; returns to. For a caller
 * that reports a callee's failure under another code, usually followed by a
 * wrap: `return jcs_err_wrap(jcs_err_recode(rc, JCS_ECONFIG), "%s: ", f)`.
 */
int jcs_err_recode(int from, int to);

/*
 * The calling thread's detail line when it was recorded for code, else
 * jcs_strerror(code). Valid until the thread's next jcs_err_* call; do not
 * free.
 */
const char *jcs_err_msg(int code);

/* Forgets the calling thread's detail line. */
void jcs_err_clear(void);

#endif
