/*
 * redundancy.c - arithmetic on a redundancy (redundancy.h).
 */
#include "redundancy.h"

int64_t jcs_ec_block_size(const jcs_redundancy *red, int64_t size)
{
    if (size < 0)
        return -1;
    if (red->type != JCS_RED_EC || red->k < 1 || red->chunk_size <= 0)
        return size;
    int64_t strip = (int64_t)red->k * red->chunk_size;
    return (size / strip + (size % strip != 0)) * red->chunk_size;
}
