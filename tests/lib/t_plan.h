/*
 * t_plan.h - FromTo fixtures and a structural checker for plans.
 *
 * Fixture world: hub i (i = 0..T_NHUBS-1) has hub_id i+1, address
 * "hub<i+1>:5010" and serves space 100+i. t_hash(stream) is a fake
 * FileHash that names the stream ("Full" + 2 hex of the stream + 'A's).
 */
#ifndef JCS_T_PLAN_H
#define JCS_T_PLAN_H

#include <stddef.h>

#include "plan.h"

#define T_NHUBS  16
#define T_MAXEND 32

typedef struct t_ft {
    jcs_plan_from froms[T_MAXEND];
    jcs_plan_to tos[T_MAXEND];
    jcs_fromto ft;
} t_ft;

jcs_redundancy t_none(void);
jcs_redundancy t_rep(int copies);
jcs_redundancy t_ec(int k, int n, int64_t chunk);
jcs_redundancy t_lrc(int k, int n, const int *groups, int ngroups, int64_t chunk);

/* Hub i's worker / the driver's worker (borrowed, static). */
const Jcs__Plan__Worker *t_hub(int i);
const Jcs__Plan__Worker *t_driver(void);
/* Space 100+i (borrowed, static); its root is "<t_plan_root>/space<i>" once set. */
const Jcs__Plan__Space *t_space(int i);
/* Sets the directory the spaces' roots live under (copied). */
void t_plan_set_root(const char *dir);
const char *t_hash(int stream);

/* An empty FromTo with compute = the driver. */
void t_ft_init(t_ft *f, jcs_redundancy red, int64_t object_size);
void t_from_driver(t_ft *f, int stream);
/* A shard From of `stream` on hub i's space, with hash t_hash(stream). */
void t_from_shard(t_ft *f, int stream, int hub);
void t_to_driver(t_ft *f, int stream, int64_t off, int64_t len);
void t_to_shard(t_ft *f, int stream, int hub);

/*
 * Checks that p is a well-formed plan for ft: one fragment per worker, the
 * plan id everywhere, every var with exactly one producer and one consumer
 * on the same worker (SendStream feeds remote_var on its target, GetStream
 * drains remote_var on its source, the driver feeds from_vars and drains
 * driver to_vars, ShardWrite results are listed in their fragment's
 * results), and ops with consistent arities. NULL when fine, else a static
 * description of the first problem.
 */
const char *t_plan_check(const jcs_plan *p, const jcs_fromto *ft);

#endif
