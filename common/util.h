/*
 * util.h - small helpers shared by every process: clocks, files, addresses.
 */
#ifndef JCS_UTIL_H
#define JCS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Milliseconds of a monotonic clock (for timeouts and intervals). */
int64_t jcs_now_ms(void);

/* Microseconds of a monotonic clock (for latency measurements). */
int64_t jcs_now_us(void);

/* Milliseconds since the Unix epoch (for records and logs). */
int64_t jcs_wall_ms(void);

/* Sleeps ms milliseconds (restarting after signals). */
void jcs_sleep_ms(int64_t ms);

/*
 * Reads a whole file of at most cap bytes into a new NUL-terminated buffer
 * (caller frees). JCS_ENOENT, JCS_EIO, JCS_ETOOBIG; the detail names path.
 */
int jcs_read_file(const char *path, size_t cap, char **out, size_t *len) JCS_MUST_USE;

/*
 * Writes data to path atomically (temp file, fsync, rename) with the given
 * mode. The detail names path on failure.
 */
int jcs_write_file(const char *path, const void *data, size_t len, unsigned mode) JCS_MUST_USE;

/*
 * mkdir -p with mode (less the umask) for each created directory. Existing
 * directories are fine; a non-directory in the way is JCS_EIO naming it.
 */
int jcs_mkdirs(const char *path, unsigned mode) JCS_MUST_USE;

/*
 * Splits "host:port" ("[::1]:5009" too: an IPv6 host must be in brackets).
 * host is copied into hostbuf; port is 0-65535, digits only. JCS_EINVAL
 * with a detail naming addr when malformed.
 */
int jcs_parse_addr(const char *addr, char *hostbuf, size_t hostlen, int *port) JCS_MUST_USE;

#endif
