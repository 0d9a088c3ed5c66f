/*
 * t_tmpdir.h - scratch directories for tests.
 *
 * t_tmpdir() makes one directory under /tmp per test binary on first use and
 * removes it with everything inside when the binary exits, so a test that
 * stops at a failed assertion still leaves nothing behind.
 */
#ifndef JCS_T_TMPDIR_H
#define JCS_T_TMPDIR_H

#include <stddef.h>

/* The binary's scratch directory (borrowed); aborts the binary if it cannot be made. */
const char *t_tmpdir(void);

/* Writes "<t_tmpdir()>/<rel>" into out (a new subpath; nothing is created). */
void t_path(char *out, size_t outlen, const char *rel);

/* Removes a directory tree; 0 on success. */
int t_rmtree(const char *path);

#endif
