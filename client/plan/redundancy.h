/*
 * redundancy.h - how an object's bytes are spread over blocks: none (one
 * block), rep (rep_count identical copies), ec (Reed-Solomon k of n, the
 * object cut into chunks of chunk_size bytes, strip after strip) or lrc
 * (JCS's locally repairable code: blocks 0..n-ngroups-1 are exactly
 * ec(k, n-ngroups), block n-ngroups+g is the XOR of group g, the groups
 * cutting the first blocks into consecutive runs; ec.h jcs_ec_new_lrc). A client
 * domain type: the planner, the driver, the uploader and downloader, the
 * jobs and the REST API all speak it; hubs and the coordinator never see it
 * (a plan carries only the ops it implies). The JSON form is parsed by
 * client_config.h (jcs_client_config_redundancy_parse).
 */
#ifndef JCS_REDUNDANCY_H
#define JCS_REDUNDANCY_H

#include <stdint.h>

enum jcs_red_type { JCS_RED_NONE = 0, JCS_RED_REP, JCS_RED_EC, JCS_RED_LRC };

/* Most local groups an lrc redundancy may have. */
#define JCS_LRC_MAX_GROUPS 16

typedef struct jcs_redundancy {
    enum jcs_red_type type;
    int rep_count;                  /* rep: copies (>= 1) */
    int k, n;                       /* ec: 1 <= k < n <= 256; lrc: 1 <= k <= n - ngroups */
    int64_t chunk_size;             /* ec, lrc: bytes per chunk (> 0) */
    int ngroups;                    /* lrc: 1..JCS_LRC_MAX_GROUPS */
    int groups[JCS_LRC_MAX_GROUPS]; /* lrc: blocks per group, sum <= n - ngroups */
} jcs_redundancy;

/*
 * Whether red cuts the object into strips of k chunks and stores coded
 * blocks (ec or lrc): the two share the strip layout, block sizes, range
 * reads and every path that speaks of "block i"; they differ only in the
 * generator rows and in which blocks rebuild which.
 */
static inline int jcs_red_coded(const jcs_redundancy *red)
{
    return red->type == JCS_RED_EC || red->type == JCS_RED_LRC;
}

/*
 * The blocks of red that are exactly ec(k, n'): all n for ec; for lrc its
 * data and global parity blocks, n - ngroups (the local parities follow).
 * A decode with jcs_ec_new(k, n') may use only these.
 */
static inline int jcs_red_global_n(const jcs_redundancy *red)
{
    return red->type == JCS_RED_LRC ? red->n - red->ngroups : red->n;
}

/* Bytes in each EC/LRC block of an object of `size` bytes: ceil(size / (k*chunk)) * chunk. */
int64_t jcs_ec_block_size(const jcs_redundancy *red, int64_t size);

/*
 * For lrc: the group block b belongs to (a data or global parity block in
 * one of the runs, or the local parity n-ngroups+g), or -1; *first and
 * *count (either may be NULL) get that group's first block and size.
 */
int jcs_lrc_group_of(const jcs_redundancy *red, int b, int *first, int *count);

/*
 * Alignment of a chunk size shrunk to fit a small object (jcs_ec_fit).
 * ISA-L's ec_encode_data takes any length, but its vector loops work on
 * 16/32/64 bytes and finish the rest byte by byte; 64 bytes is the widest
 * vector (AVX-512) and a cache line, so every chunk of a strip buffer stays
 * 64-byte aligned and no tail loop runs, for at most 63 bytes of padding
 * per block.
 */
#define JCS_EC_CHUNK_ALIGN 64

/*
 * The redundancy an object of size bytes (or at most size bytes: an upper
 * bound works, the result then fits the bound) is stored with: red itself
 * unless it is EC and the object is smaller than one strip (k * chunkSize),
 * in which case chunkSize shrinks to ceil(size / k) rounded up to
 * JCS_EC_CHUNK_ALIGN (at least that, never more than red's). The layout
 * stays JCS's (one strip, zero-padded), so any JCS reader decodes it from
 * the chunkSize recorded in the object's redundancy. A negative size
 * (unknown) gives red unchanged.
 */
jcs_redundancy jcs_ec_fit(const jcs_redundancy *red, int64_t size);

#endif
