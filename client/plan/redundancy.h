/*
 * redundancy.h - how an object's bytes are spread over blocks: none (one
 * block), rep (rep_count identical copies) or ec (Reed-Solomon k of n, the
 * object cut into chunks of chunk_size bytes, strip after strip). A client
 * domain type: the planner, the driver, the uploader and downloader, the
 * jobs and the REST API all speak it; hubs and the coordinator never see it
 * (a plan carries only the ops it implies). The JSON form is parsed by
 * client_config.h (jcs_client_redundancy_parse).
 */
#ifndef JCS_REDUNDANCY_H
#define JCS_REDUNDANCY_H

#include <stdint.h>

enum jcs_red_type { JCS_RED_NONE = 0, JCS_RED_REP, JCS_RED_EC };

typedef struct jcs_redundancy {
    enum jcs_red_type type;
    int rep_count;      /* rep: copies (>= 1) */
    int k, n;           /* ec: 1 <= k < n <= 256 */
    int64_t chunk_size; /* ec: bytes per chunk (> 0) */
} jcs_redundancy;

/* Bytes in each EC block of an object of `size` bytes: ceil(size / (k*chunk)) * chunk. */
int64_t jcs_ec_block_size(const jcs_redundancy *red, int64_t size);

#endif
