/*
 * err.h - the one error convention of JCS-C.
 *
 * Every fallible function returns an int: 0 (JCS_OK) on success or a negative
 * enum jcs_err value. Where the code alone would not tell a person what went
 * wrong, the failing function also records one line of detail with
 * jcs_err_set(); jcs_err_msg() returns the last such line of the calling
 * thread. The detail names the file, field, address or peer involved, so a
 * caller can print it as is ("config.json: field rpc.cert: missing").
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

/* Short fixed name of a code ("ENOENT"); never NULL. */
const char *jcs_err_name(int code);

/* A sentence for a code ("not found"); never NULL. */
const char *jcs_strerror(int code);

/*
 * Records a detail line for the calling thread and returns code, so a
 * function can write `return jcs_err_set(JCS_EINVAL, "...")`.
 */
int jcs_err_set(int code, const char *fmt, ...) JCS_PRINTF(2, 3);

/* Same with a va_list. */
int jcs_err_setv(int code, const char *fmt, va_list ap);

/*
 * Prefixes the current detail line with more context ("hub.json: " + line)
 * and returns code unchanged.
 */
int jcs_err_wrap(int code, const char *fmt, ...) JCS_PRINTF(2, 3);

/*
 * The calling thread's last detail line, or jcs_strerror(code) when none was
 * recorded. Valid until the thread's next jcs_err_set; do not free.
 */
const char *jcs_err_msg(int code);

/* Forgets the calling thread's detail line. */
void jcs_err_clear(void);

#endif
