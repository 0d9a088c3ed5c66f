/*
 * client/jobs/spacelease.h - cluster-wide leases on the storage behind user
 * spaces, so that the background jobs of two clients that share a storage
 * never run on it at the same time.
 *
 * Two clients (two users, two metadata databases) share the coordinator and
 * the hubs, and may both have a user space on one storage: the same
 * directory on the same hub, or the same S3 bucket and prefix. The jobs'
 * own mutexes (jobs.c) serialize the runs of one process only. So every
 * storage has one lease name at the coordinator:
 *   jcs/space/local/hub<hubID>:<root>
 *   jcs/space/s3/<endpoint>/<bucket>/<prefix>
 * (jcs/space/sha256/<hex> of that text when it is longer than 200 bytes),
 * the same in every client, because hub ids come from the coordinator and
 * the rest from the storage itself. A job run takes an exclusive lease on
 * the storage of every space it may touch, in name order so that two runs
 * never wait for each other in a cycle; waits while another holder has one
 * (the coordinator names the holder: role, certificate CN and job); keeps
 * them with a thread that renews every ttl/3; and releases them when it
 * ends. If a lease cannot be renewed (it expired while the coordinator was
 * unreachable, or was taken over) the set is "lost": the run stops between
 * two objects, as on shutdown.
 *
 * Ownership: jcs_spacelease_take returns a set that the caller gives back
 * with jcs_spacelease_free (it unlocks at the coordinator and joins the
 * renewing thread). The channel and the stopper are borrowed and must
 * outlive the set.
 */
#ifndef JCS_CLIENT_SPACELEASE_H
#define JCS_CLIENT_SPACELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "meta.h"
#include "rpc.h"
#include "service.h"

#define JCS_SPACELEASE_NAME_MAX 256  /* a lease name with its NUL */
#define JCS_SPACELEASE_MAX      4096 /* most distinct storages one run may lease */

typedef struct jcs_spacelease jcs_spacelease;

/*
 * The lease name of a storage (the space's storage JSON). JCS_EINVAL with a
 * detail when the JSON lacks what identifies the storage.
 */
int jcs_spacelease_name(const char *storage_json, char out[JCS_SPACELEASE_NAME_MAX]) JCS_MUST_USE;

/*
 * Takes an exclusive lease of ttl_ms on the storage of each of spaces[0..n)
 * (one per distinct storage). holder names the run in the coordinator's
 * messages (e.g. the job's name). Waits at most wait_ms in all for other
 * holders; stop (may be NULL) ends the wait early. Errors, with nothing
 * held: JCS_EBUSY naming the holder when the wait ran out, JCS_ECANCELED on
 * stop, JCS_EUNAVAIL when the coordinator is unreachable, JCS_EINVAL for a
 * space whose storage has no name, JCS_ETOOBIG past JCS_SPACELEASE_MAX.
 */
int jcs_spacelease_take(jcs_rpc_channel *coord, const jcs_meta_space *spaces, size_t n,
                        const char *holder, int64_t ttl_ms, int64_t wait_ms, jcs_stopper *stop,
                        jcs_spacelease **out) JCS_MUST_USE;

/* Whether a lease of the set could not be kept (the run should stop). */
bool jcs_spacelease_lost(jcs_spacelease *l);

/* How long take waited for other holders, in ms. */
int64_t jcs_spacelease_waited_ms(const jcs_spacelease *l);

/* Number of leases held (distinct storages). */
size_t jcs_spacelease_count(const jcs_spacelease *l);

/* Unlocks every lease and frees the set; NULL is fine. */
void jcs_spacelease_free(jcs_spacelease *l);

#endif
