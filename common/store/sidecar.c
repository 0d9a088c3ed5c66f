#include "sidecar.h"

#include <limits.h>
#include <string.h>

#include "alloc.h"
#include "crc.h"

static const uint8_t MAGIC[4] = {'J', 'C', 'S', 'C'};
#define VERSION 1

/* The sidecar format stores the raw CRC-32C register (initial all ones, no final
 * inversion): the complement of the finished CRC that crc.h deals in. */
uint32_t jcs_sidecar_crc(const void *p, size_t n)
{
    return ~jcs_crc32c(0, p, n);
}

static uint32_t crc_more(uint32_t c, const void *p, size_t n)
{
    return ~jcs_crc32c(~c, p, n);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t jcs_sidecar_encoded_size(uint64_t size)
{
    uint64_t n = (size + JCS_SIDECAR_CHUNK - 1) / JCS_SIDECAR_CHUNK;
    return JCS_SIDECAR_HEADER + 4 * (size_t)n + 4;
}

static void push(jcs_sidecar_acc *a, uint32_t crc)
{
    if (a->failed)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        if (cap > JCS_SIDECAR_MAX_SHARD / JCS_SIDECAR_CHUNK) {
            a->failed = JCS_ETOOBIG;
            return;
        }
        uint32_t *p = jcs_realloc(a->crcs, cap * sizeof *p);
        if (!p) {
            a->failed = JCS_ENOMEM;
            return;
        }
        a->crcs = p;
        a->cap = cap;
    }
    a->crcs[a->n++] = crc;
}

void jcs_sidecar_update(jcs_sidecar_acc *a, const void *p, size_t n)
{
    const uint8_t *b = p;
    a->size += n;
    while (n > 0) {
        if (a->fill == 0)
            a->cur = 0xFFFFFFFFu;
        size_t k = JCS_SIDECAR_CHUNK - a->fill;
        if (k > n)
            k = n;
        a->cur = crc_more(a->cur, b, k);
        a->fill += (uint32_t)k;
        b += k;
        n -= k;
        if (a->fill == JCS_SIDECAR_CHUNK) {
            push(a, a->cur);
            a->fill = 0;
        }
    }
}

int jcs_sidecar_encode(jcs_sidecar_acc *a, uint8_t **out, size_t *outlen)
{
    if (a->fill > 0) {
        push(a, a->cur);
        a->fill = 0;
    }
    if (a->failed || a->size > JCS_SIDECAR_MAX_SHARD)
        return jcs_err_set(a->failed == JCS_ENOMEM ? JCS_ENOMEM : JCS_ETOOBIG,
                           "shard checksums: %s",
                           a->failed == JCS_ENOMEM ? "out of memory" : "shard over 1 TiB");
    size_t len = jcs_sidecar_encoded_size(a->size);
    uint8_t *b = jcs_malloc(len);
    if (!b)
        return jcs_err_set(JCS_ENOMEM, "shard checksums: out of memory");
    memcpy(b, MAGIC, 4);
    put32(b + 4, VERSION);
    put32(b + 8, JCS_SIDECAR_CHUNK);
    put32(b + 12, 0);
    put32(b + 16, (uint32_t)a->size);
    put32(b + 20, (uint32_t)(a->size >> 32));
    for (size_t i = 0; i < a->n; i++)
        put32(b + JCS_SIDECAR_HEADER + 4 * i, a->crcs[i]);
    put32(b + len - 4, jcs_sidecar_crc(b, len - 4));
    *out = b;
    *outlen = len;
    return JCS_OK;
}

void jcs_sidecar_clear(jcs_sidecar_acc *a)
{
    jcs_free(a->crcs);
    memset(a, 0, sizeof *a);
}

int jcs_sidecar_parse(const uint8_t *buf, size_t len, jcs_sidecar *out)
{
    if (len < JCS_SIDECAR_HEADER + 4)
        return jcs_err_set(JCS_ECORRUPT, "checksum sidecar: %zu bytes, too short", len);
    if (memcmp(buf, MAGIC, 4) != 0)
        return jcs_err_set(JCS_ECORRUPT, "checksum sidecar: bad magic");
    uint32_t own = jcs_sidecar_crc(buf, len - 4);
    if (own != get32(buf + len - 4))
        return jcs_err_set(JCS_ECORRUPT, "checksum sidecar: its own CRC does not match");
    if (get32(buf + 4) != VERSION)
        return jcs_err_set(JCS_ECORRUPT, "checksum sidecar: version %u, want %d", get32(buf + 4),
                           VERSION);
    uint32_t chunk = get32(buf + 8);
    if (chunk != JCS_SIDECAR_CHUNK)
        return jcs_err_set(JCS_ECORRUPT, "checksum sidecar: chunk size %u, want %u", chunk,
                           JCS_SIDECAR_CHUNK);
    uint64_t size = get64(buf + 16);
    if (size > JCS_SIDECAR_MAX_SHARD || jcs_sidecar_encoded_size(size) != len)
        return jcs_err_set(JCS_ECORRUPT,
                           "checksum sidecar: %zu bytes do not match a shard of %llu bytes", len,
                           (unsigned long long)size);
    out->size = size;
    out->chunk = chunk;
    out->n = (len - JCS_SIDECAR_HEADER - 4) / 4;
    out->crcs = buf + JCS_SIDECAR_HEADER;
    return JCS_OK;
}

uint32_t jcs_sidecar_get(const jcs_sidecar *sc, size_t i)
{
    return get32(sc->crcs + 4 * i);
}
