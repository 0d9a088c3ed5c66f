/*
 * t_ceilings.h - this machine's ceilings, measured the same way by every
 * bench so their figures can be read beside each other: memory copy, one
 * TCP stream over loopback, sequential disk write (with fdatasync) and read.
 */
#ifndef JCS_T_CEILINGS_H
#define JCS_T_CEILINGS_H

/* memcpy of 256 MiB buffers, GB/s. */
double t_ceil_memcpy_gbps(void);

/* One TCP stream over loopback, 2 GiB in 1 MiB writes, MiB/s (0 when sockets fail). */
double t_ceil_loopback_mibps(void);

/*
 * Writes 1 GiB in dir with fdatasync, MiB/s into *wr; when rd is not NULL,
 * drops the file from the page cache and reads it back, MiB/s into *rd.
 * The probe file is removed.
 */
void t_ceil_disk_mibps(const char *dir, double *wr, double *rd);

#endif
