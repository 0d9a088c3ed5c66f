/*
 * redundancy.c - arithmetic on a redundancy (redundancy.h).
 */
#include "redundancy.h"

int64_t jcs_ec_block_size(const jcs_redundancy *red, int64_t size)
{
    if (size < 0)
        return -1;
    if (!jcs_red_coded(red) || red->k < 1 || red->chunk_size <= 0)
        return size;
    int64_t strip = (int64_t)red->k * red->chunk_size;
    return (size / strip + (size % strip != 0)) * red->chunk_size;
}

jcs_redundancy jcs_ec_fit(const jcs_redundancy *red, int64_t size)
{
    jcs_redundancy r = *red;
    if (!jcs_red_coded(&r) || r.k < 1 || r.chunk_size <= 0 || size < 0 ||
        size >= (int64_t)r.k * r.chunk_size)
        return r;
    int64_t c = (size + r.k - 1) / r.k;
    c = (c + JCS_EC_CHUNK_ALIGN - 1) / JCS_EC_CHUNK_ALIGN * JCS_EC_CHUNK_ALIGN;
    if (c < JCS_EC_CHUNK_ALIGN)
        c = JCS_EC_CHUNK_ALIGN;
    if (c < r.chunk_size)
        r.chunk_size = c;
    return r;
}

int jcs_lrc_group_of(const jcs_redundancy *red, int b, int *first, int *count)
{
    if (red->type != JCS_RED_LRC || b < 0 || b >= red->n)
        return -1;
    int m = jcs_red_global_n(red), g = -1;
    if (b >= m) {
        g = b - m;
    } else {
        for (int i = 0, f = 0; i < red->ngroups && g < 0; f += red->groups[i], i++)
            if (b >= f && b < f + red->groups[i])
                g = i;
    }
    if (g < 0)
        return -1;
    int f = 0;
    for (int i = 0; i < g; i++)
        f += red->groups[i];
    if (first)
        *first = f;
    if (count)
        *count = red->groups[g];
    return g;
}
