/*
 * plan.h - turns a FromTo (where data comes from, where it goes) into one
 * fragment per worker (proto/plan.proto), as JCS's ioswitch parser does:
 *
 *   1. parse the FromTo into a DAG of op nodes joined by stream/value edges;
 *   2. optimize it (drop unused outputs and the nodes feeding only them,
 *      omit split+join pairs, push ranges down into ShardRead so a ranged
 *      read touches only the EC strips that hold the range, share one split
 *      / one multiply among all consumers, insert Clone where one stream
 *      feeds several consumers);
 *   3. pin every node to a worker: Shard ends to the hub serving the space,
 *      Driver ends to the driver, everything else to ft->compute;
 *   4. generate one Fragment per worker; an edge between two workers becomes
 *      SendStream (when the receiver is a hub) or GetStream (when the
 *      receiver is the driver, which serves nothing), keyed by the plan id
 *      and the receiving var.
 *
 * Streams are named by index: JCS_STREAM_RAW is the object itself; i >= 0
 * is EC block i of the redundancy in ft->red (its layout: docs/DESIGN.md §3).
 * Adding a redundancy kind means new parse rules here, new ops in
 * common/data/exec.c, nothing else.
 */
#ifndef JCS_PLAN_H
#define JCS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "plan.pb-c.h"
#include "redundancy.h"

#define JCS_STREAM_RAW (-1)

enum jcs_from_kind { JCS_FROM_DRIVER = 1, JCS_FROM_SHARD };
enum jcs_to_kind { JCS_TO_DRIVER = 1, JCS_TO_SHARD };

typedef struct jcs_plan_from {
    enum jcs_from_kind kind;
    int stream;                    /* JCS_STREAM_RAW or an EC block index */
    const Jcs__Plan__Space *space; /* shard: where it is (borrowed) */
    const Jcs__Plan__Worker *hub;  /* shard: the hub serving space (borrowed) */
    const char *file_hash;         /* shard */
} jcs_plan_from;

typedef struct jcs_plan_to {
    enum jcs_to_kind kind;
    int stream;                    /* JCS_STREAM_RAW or an EC block index */
    int64_t offset;                /* driver: first byte wanted of the stream */
    int64_t length;                /* driver: bytes wanted; -1 to the end */
    const Jcs__Plan__Space *space; /* shard: where to write it (borrowed) */
    const Jcs__Plan__Worker *hub;  /* shard: the hub serving space (borrowed) */
} jcs_plan_to;

typedef struct jcs_fromto {
    jcs_redundancy red;  /* how block streams derive from the raw stream */
    int64_t object_size; /* raw size; -1 when unknown (an upload in progress) */
    const jcs_plan_from *froms;
    size_t nfroms;
    const jcs_plan_to *tos;
    size_t ntos;
    /* Where ops with no natural place run (split, multiply, join, range):
     * the driver (hub_id 0) or a hub near it. Borrowed. */
    const Jcs__Plan__Worker *compute;
} jcs_fromto;

typedef struct jcs_plan {
    char plan_id[33];
    size_t nfrags;
    Jcs__Plan__Fragment **frags; /* one per worker with work; owned */
    /* Index in frags of the driver's fragment, or -1 when the driver has none. */
    int driver_frag;
    size_t nfroms, ntos; /* copies of ft->nfroms / ft->ntos: the lengths below */
    /* Per From (same order as ft->froms): for a driver From, the var the
     * driver feeds with jcs_exec_input on its own executor; else -1 (also
     * for a driver From that no To needs: the driver feeds nothing). */
    int32_t *from_vars;
    /* Per To: for a driver To, the var the driver drains with
     * jcs_exec_output; for a shard To, the value var (ShardInfo) listed in
     * the results of fragment to_frags[i]. */
    int32_t *to_vars;
    int *to_frags;
} jcs_plan;

/*
 * Builds the plan. JCS_EINVAL with a detail when the FromTo cannot be
 * satisfied (e.g. fewer than k blocks to rebuild from, a range past the
 * end, a To with no source). Caller frees with jcs_plan_free.
 */
int jcs_plan_build(const jcs_fromto *ft, jcs_plan **out) JCS_MUST_USE;

void jcs_plan_free(jcs_plan *p);

/*
 * Bytes the plan's ShardRead ops read from shard stores: the sum of their
 * lengths (a read "to the end" counts block_size - offset). What a repair
 * costs the hubs holding the survivors: k blocks for EC, a group for an
 * LRC block rebuilt locally.
 */
int64_t jcs_plan_shard_read_bytes(const jcs_plan *p, int64_t block_size);

/* A multi-line human description of every fragment (for logs and tests). Caller frees. */
char *jcs_plan_describe(const jcs_plan *p);

#endif
