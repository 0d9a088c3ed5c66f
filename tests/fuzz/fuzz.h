/*
 * fuzz.h - the one entry point every harness in tests/fuzz/ defines
 * (libFuzzer's), and a helper to make a NUL-terminated copy of the input.
 * `make fuzz` links each harness with clang's libFuzzer; the ASan test build
 * links it with replay.c, which runs it over the seed corpus (make test).
 */
#ifndef JCS_FUZZ_H
#define JCS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (the parsers under test take C strings). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
