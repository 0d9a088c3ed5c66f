/*
 * client/placement/placement.h - where blocks live and where new ones go:
 * user spaces resolved into plan sites (the space, the hub that serves it,
 * how far that hub is from the client) and the choice of spaces for new
 * blocks, shared by uploads and the background jobs.
 *
 * User spaces are read often (every upload places blocks, every download
 * resolves them) and change rarely, so their private rows are cached in the
 * jcs_svc for a few seconds; every change made through the service
 * invalidates the cache at once (jcs_place_spaces_invalidate).
 */
#ifndef JCS_CLIENT_PLACEMENT_H
#define JCS_CLIENT_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "err.h"
#include "jobplan.h"
#include "meta.h"
#include "topology.h"

typedef struct jcs_svc jcs_svc;

/* One user space ready for a plan. Everything inside is owned by the enclosing jcs_place_sites. */
typedef struct jcs_place_site {
    int64_t space_id;
    int64_t location_id; /* the space's location */
    int64_t hub_id;      /* the hub that serves it; 0 when none is known */
    double latency_ms;   /* the client's estimated latency to that hub; < 0 unknown */
    Jcs__Plan__Space space;
    Jcs__Plan__Worker hub;
    char *strs[9]; /* owned strings the two messages point at */
} jcs_place_site;

typedef struct jcs_place_sites {
    jcs_place_site *v;
    jcs_site *sites; /* parallel to v, in the driver's form (site.hub NULL: unreachable) */
    size_t n;
} jcs_place_sites;
void jcs_place_sites_clear(jcs_place_sites *s);

/*
 * Sites for the given spaces, in order (ids may repeat). A local space is
 * served by its hubID; an S3 space by its "hubID" when it names one, else
 * the nearest online hub in the space's location, else the nearest online
 * hub. An offline hub gives an unreachable site (the caller decides);
 * an unknown space is JCS_ENOENT.
 */
int jcs_place_sites_for(jcs_svc *svc, jcs_topo_snap *snap, const int64_t *space_ids, size_t n,
                        jcs_place_sites *out) JCS_MUST_USE;

/* Sites for space rows given by the caller (e.g. a space not stored yet, space_id 0). */
int jcs_place_sites_from_rows(jcs_topo_snap *snap, const jcs_meta_space *rows, size_t n,
                              jcs_place_sites *out) JCS_MUST_USE;

/*
 * Chooses count distinct spaces for new blocks (state "normal", hub
 * reachable): the affinity space first (0: none; an unusable affinity is
 * JCS_EINVAL naming it), then by distance from the client (same location
 * before others, lower latency first), taking one space per location
 * before a second space in any location. JCS_EUNAVAIL saying how many
 * were needed and found.
 */
int jcs_place_choose(jcs_svc *svc, jcs_topo_snap *snap, size_t count, int64_t affinity,
                     jcs_place_sites *out) JCS_MUST_USE;

/*
 * Row i of sites (built from rows) as a placement candidate for
 * jcs_jobplan_choose: usable when its hub is reachable and its state is
 * "normal". Uploads (jcs_place_choose) and the background jobs rank alike.
 */
void jcs_place_cand(const jcs_meta_space *row, const jcs_place_sites *sites, size_t i,
                    jcs_jobplan_cand *out);

/* How many blocks a redundancy writes on distinct spaces (none 1, rep repCount, ec n). */
size_t jcs_place_red_width(const jcs_redundancy *r);

/*
 * The private rows of every user space (a cached copy the caller frees
 * with jcs_meta_spaces_clear), reloaded when older than a few seconds.
 */
int jcs_place_spaces(jcs_svc *svc, jcs_meta_spaces *out) JCS_MUST_USE;

/* Forget the cached spaces (after a create, delete or state change). */
void jcs_place_spaces_invalidate(jcs_svc *svc);

#endif
