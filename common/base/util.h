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
 * Writes nbytes random bytes from getrandom as 2*nbytes lower-case hex
 * digits plus a NUL into out (2*nbytes+1 bytes). For ids that must be
 * unguessable (plans, leases): JCS_EIO rather than a weaker value when the
 * kernel has no randomness.
 */
int jcs_random_hex(char *out, size_t nbytes) JCS_MUST_USE;

/*
 * 16 hex digits for names that need only be unique (temporary files):
 * random when possible, else derived from the clock and the pid.
 */
void jcs_unique_hex(char out[17]);

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
