#include "topology.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "coordinator.pb-c.h"
#include "log.h"
#include "methods.h"
#include "service.h"
#include "util.h"

#define RETRY_MS_MAX    5000 /* retry a failed refresh at least this often */
#define DEFAULT_TIMEOUT 5000
#define MAX_HUBS        100000 /* a response beyond this is refused, not allocated */
#define MAX_LAT_ENTRIES 4000000

struct jcs_topo_snap {
    atomic_int refs;
    jcs_topo_hub *hubs; /* sorted by id */
    size_t nhubs;
    jcs_topo_location *locs;
    size_t nlocs;
    jcs_topo_latency *lats; /* sorted by (from, to) */
    size_t nlats;
    double high_ms; /* downloadStrategy.highLatencyHub, for distance_between */
    int64_t time_ms;
};

/* ------------------------------------------------------------ snapshots */

static int cmp_hub(const void *a, const void *b)
{
    int64_t x = ((const jcs_topo_hub *)a)->id, y = ((const jcs_topo_hub *)b)->id;
    return x < y ? -1 : x > y;
}

static int cmp_lat(const void *a, const void *b)
{
    const jcs_topo_latency *x = a, *y = b;
    if (x->from_hub_id != y->from_hub_id)
        return x->from_hub_id < y->from_hub_id ? -1 : 1;
    return x->to_hub_id < y->to_hub_id ? -1 : x->to_hub_id > y->to_hub_id;
}

const jcs_topo_hub *jcs_topo_snap_find(const jcs_topo_snap *s, int64_t hub_id)
{
    jcs_topo_hub key;
    key.id = hub_id;
    if (!s || !s->nhubs)
        return NULL;
    return bsearch(&key, s->hubs, s->nhubs, sizeof(*s->hubs), cmp_hub);
}

/* The entry from -> to when it is marked reachable. */
static const jcs_topo_latency *find_lat(const jcs_topo_snap *s, int64_t from, int64_t to)
{
    jcs_topo_latency key;
    key.from_hub_id = from;
    key.to_hub_id = to;
    if (!s->nlats)
        return NULL;
    const jcs_topo_latency *e = bsearch(&key, s->lats, s->nlats, sizeof(*s->lats), cmp_lat);
    return e && e->reachable ? e : NULL;
}

bool jcs_topo_snap_latency(const jcs_topo_snap *s, int64_t hub_a, int64_t hub_b, double *ms)
{
    const jcs_topo_latency *ab = find_lat(s, hub_a, hub_b), *ba = find_lat(s, hub_b, hub_a);
    if (!ab && !ba)
        return false;
    double v = ab ? ab->latency_ms : ba->latency_ms;
    if (ab && ba && ba->latency_ms < v)
        v = ba->latency_ms;
    if (ms)
        *ms = v;
    return true;
}

static bool same_location(const jcs_topo_hub *h, const char *loc)
{
    return loc && *loc && strcmp(h->location, loc) == 0;
}

/* Latency between two online hubs, or false. */
static bool online_latency(const jcs_topo_snap *s, const jcs_topo_hub *a, const jcs_topo_hub *b,
                           double *ms)
{
    return a->online && b->online && a->id != b->id && jcs_topo_snap_latency(s, a->id, b->id, ms);
}

/* The client's latency to h as the header describes it; -1 when nothing was measured. */
static double estimate(const jcs_topo_snap *s, const jcs_topo_hub *h, const char *loc,
                       bool have_near)
{
    double best = -1, sum = 0, ms;
    size_t n = 0;
    for (size_t i = 0; i < s->nhubs; i++) {
        const jcs_topo_hub *o = &s->hubs[i];
        if (have_near && !same_location(o, loc))
            continue;
        if (!online_latency(s, h, o, &ms))
            continue;
        if (best < 0 || ms < best)
            best = ms;
        sum += ms;
        n++;
    }
    if (have_near)
        return best;
    return n ? sum / (double)n : -1;
}

static double rank(const jcs_topo_hub *h, const char *loc, double high_ms)
{
    if (!h->online)
        return JCS_TOPO_UNREACHABLE;
    if (same_location(h, loc))
        return JCS_TOPO_SAME_LOCATION;
    if (h->latency_ms < 0 || h->latency_ms > high_ms)
        return JCS_TOPO_HIGH_LATENCY;
    return JCS_TOPO_OTHER;
}

static jcs_topo_snap *snap_empty(void)
{
    jcs_topo_snap *s = jcs_calloc(1, sizeof(*s));
    if (s)
        atomic_init(&s->refs, 1);
    return s;
}

void jcs_topo_snap_release(jcs_topo_snap *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    jcs_free(s->hubs);
    jcs_free(s->locs);
    jcs_free(s->lats);
    jcs_free(s);
}

static jcs_topo_snap *snap_ref(jcs_topo_snap *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

static void *dup_array(const void *p, size_t n, size_t size)
{
    if (!n)
        return NULL;
    void *q = jcs_calloc(n, size);
    if (q)
        memcpy(q, p, n * size);
    return q;
}

int jcs_topo_snap_build(const jcs_topo_hub *hubs, size_t nhubs, const jcs_topo_location *locs,
                        size_t nlocs, const jcs_topo_latency *lats, size_t nlats,
                        const jcs_topo_params *params, jcs_topo_snap **out)
{
    jcs_topo_snap *s = snap_empty();
    *out = NULL;
    if (!s)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    s->hubs = dup_array(hubs, nhubs, sizeof(*hubs));
    s->locs = dup_array(locs, nlocs, sizeof(*locs));
    s->lats = dup_array(lats, nlats, sizeof(*lats));
    if ((nhubs && !s->hubs) || (nlocs && !s->locs) || (nlats && !s->lats)) {
        jcs_topo_snap_release(s);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    s->nhubs = nhubs;
    s->nlocs = nlocs;
    s->nlats = nlats;
    if (nhubs)
        qsort(s->hubs, nhubs, sizeof(*s->hubs), cmp_hub);
    if (nlats)
        qsort(s->lats, nlats, sizeof(*s->lats), cmp_lat);
    for (size_t i = 1; i < nhubs; i++) {
        if (s->hubs[i].id == s->hubs[i - 1].id) {
            int64_t id = s->hubs[i].id;
            jcs_topo_snap_release(s);
            return jcs_err_set(JCS_EINVAL, "hub id %lld listed twice", (long long)id);
        }
    }
    /* A later duplicate entry of one pair replaces the earlier one: keep the newest only. */
    size_t w = 0;
    for (size_t i = 0; i < s->nlats; i++) {
        if (w && cmp_lat(&s->lats[w - 1], &s->lats[i]) == 0) {
            if (s->lats[i].tested_at_ms >= s->lats[w - 1].tested_at_ms)
                s->lats[w - 1] = s->lats[i];
            continue;
        }
        s->lats[w++] = s->lats[i];
    }
    s->nlats = w;

    const char *loc = params ? params->location : NULL;
    double high = params ? params->high_latency_ms : 0;
    s->high_ms = high;
    bool have_near = false;
    for (size_t i = 0; i < s->nhubs; i++)
        if (s->hubs[i].online && same_location(&s->hubs[i], loc))
            have_near = true;
    for (size_t i = 0; i < s->nhubs; i++) {
        jcs_topo_hub *h = &s->hubs[i];
        h->latency_ms = estimate(s, h, loc, have_near);
        h->distance = rank(h, loc, high);
    }
    *out = s;
    return JCS_OK;
}

const jcs_topo_hub *jcs_topo_snap_hubs(const jcs_topo_snap *s, size_t *n)
{
    *n = s->nhubs;
    return s->hubs;
}

const jcs_topo_location *jcs_topo_snap_locations(const jcs_topo_snap *s, size_t *n)
{
    *n = s->nlocs;
    return s->locs;
}

double jcs_topo_snap_distance(const jcs_topo_snap *s, int64_t hub_id)
{
    const jcs_topo_hub *h = jcs_topo_snap_find(s, hub_id);
    return h ? h->distance : JCS_TOPO_UNREACHABLE;
}

double jcs_topo_snap_distance_between(const jcs_topo_snap *s, int64_t hub_a, int64_t hub_b)
{
    const jcs_topo_hub *a = jcs_topo_snap_find(s, hub_a), *b = jcs_topo_snap_find(s, hub_b);
    if (!a || !b || !a->online || !b->online)
        return JCS_TOPO_UNREACHABLE;
    if (a->id == b->id)
        return JCS_TOPO_SAME_HUB;
    if ((a->location_id && a->location_id == b->location_id) ||
        (a->location[0] && strcmp(a->location, b->location) == 0))
        return JCS_TOPO_SAME_LOCATION;
    double ms;
    return jcs_topo_snap_latency(s, a->id, b->id, &ms) && ms <= s->high_ms ? JCS_TOPO_OTHER
                                                                           : JCS_TOPO_HIGH_LATENCY;
}

int64_t jcs_topo_snap_time(const jcs_topo_snap *s)
{
    return s->time_ms;
}

/* -------------------------------------------------------------- the cache */

struct jcs_topo {
    jcs_rpc_channel *coord; /* borrowed */
    char *location;         /* owned copy of opts.params.location */
    jcs_topo_params params; /* params.location points at location */
    int64_t interval_ms, timeout_ms;

    pthread_mutex_t mu; /* guards snap */
    jcs_topo_snap *snap;
    pthread_mutex_t refresh_mu; /* one refresh at a time */
    atomic_uint_least64_t refreshes;

    jcs_stopper *stop;
    pthread_t thread;
    bool started;

    /* jcs_topo_on_online's callback, under mu. */
    void (*on_online)(void *arg, const jcs_topo_hub *hub);
    void *on_online_arg;
};

int jcs_topo_new(jcs_rpc_channel *coord, const jcs_topo_opts *opts, jcs_topo **out)
{
    *out = NULL;
    if (!coord || !opts || opts->interval_ms <= 0)
        return jcs_err_set(JCS_EINVAL, "topology: a coordinator channel and an interval > 0 "
                                       "are required");
    jcs_topo *t = jcs_calloc(1, sizeof(*t));
    if (!t)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    t->coord = coord;
    t->location = jcs_strdup(opts->params.location ? opts->params.location : "");
    t->snap = snap_empty();
    int rc = t->location && t->snap ? jcs_stopper_new(&t->stop)
                                    : jcs_err_set(JCS_ENOMEM, "out of memory");
    if (rc) {
        jcs_free(t->location);
        jcs_topo_snap_release(t->snap);
        jcs_free(t);
        return rc;
    }
    t->params.location = t->location;
    t->params.high_latency_ms = opts->params.high_latency_ms;
    t->interval_ms = opts->interval_ms;
    t->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->refresh_mu, NULL);
    atomic_init(&t->refreshes, 0);
    *out = t;
    return JCS_OK;
}

jcs_topo_snap *jcs_topo_acquire(jcs_topo *t)
{
    pthread_mutex_lock(&t->mu);
    jcs_topo_snap *s = snap_ref(t->snap);
    pthread_mutex_unlock(&t->mu);
    return s;
}

static int call(jcs_topo *t, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
    int rc = jcs_rpc_unary(t->coord, method, req, desc, resp, t->timeout_ms);
    if (rc)
        return jcs_err_wrap(rc, "topology: coordinator %s: %s: ", jcs_rpc_channel_target(t->coord),
                            strrchr(method, '/') + 1);
    return JCS_OK;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Turns the three responses into a snapshot. */
static int snap_from(jcs_topo *t, const Jcs__Coordinator__ListHubsResp *h,
                     const Jcs__Coordinator__ListLocationsResp *l,
                     const Jcs__Coordinator__GetConnectivityResp *c, jcs_topo_snap **out)
{
    if (h->n_hubs > MAX_HUBS || c->n_entries > MAX_LAT_ENTRIES)
        return jcs_err_set(JCS_ETOOBIG,
                           "topology: coordinator %s: %zu hubs, %zu latencies: "
                           "more than this client handles",
                           jcs_rpc_channel_target(t->coord), h->n_hubs, c->n_entries);
    jcs_topo_hub *hubs = h->n_hubs ? jcs_calloc(h->n_hubs, sizeof(*hubs)) : NULL;
    jcs_topo_location *locs = l->n_locations ? jcs_calloc(l->n_locations, sizeof(*locs)) : NULL;
    jcs_topo_latency *lats = c->n_entries ? jcs_calloc(c->n_entries, sizeof(*lats)) : NULL;
    int rc = JCS_OK;
    if ((h->n_hubs && !hubs) || (l->n_locations && !locs) || (c->n_entries && !lats)) {
        rc = jcs_err_set(JCS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < h->n_hubs; i++) {
        const Jcs__Coordinator__Hub *p = h->hubs[i];
        hubs[i].id = p->hub_id;
        copy_str(hubs[i].name, sizeof(hubs[i].name), p->name);
        hubs[i].location_id = p->location_id;
        copy_str(hubs[i].location, sizeof(hubs[i].location), p->location_name);
        copy_str(hubs[i].address, sizeof(hubs[i].address), p->address);
        hubs[i].online = p->state == JCS__COORDINATOR__HUB_STATE__HUB_ONLINE;
        hubs[i].last_heartbeat_ms = p->last_heartbeat_ms;
    }
    for (size_t i = 0; i < l->n_locations; i++) {
        locs[i].id = l->locations[i]->location_id;
        copy_str(locs[i].name, sizeof(locs[i].name), l->locations[i]->name);
    }
    for (size_t i = 0; i < c->n_entries; i++) {
        const Jcs__Coordinator__Latency *e = c->entries[i];
        lats[i].from_hub_id = e->from_hub_id;
        lats[i].to_hub_id = e->to_hub_id;
        lats[i].latency_ms = e->latency_ms;
        lats[i].reachable = e->reachable;
        lats[i].tested_at_ms = e->tested_at_ms;
    }
    rc = jcs_topo_snap_build(hubs, h->n_hubs, locs, l->n_locations, lats, c->n_entries, &t->params,
                             out);
    if (rc)
        rc = jcs_err_wrap(rc, "topology: coordinator %s: ", jcs_rpc_channel_target(t->coord));
out:
    jcs_free(hubs);
    jcs_free(locs);
    jcs_free(lats);
    return rc;
}

void jcs_topo_on_online(jcs_topo *t, void (*fn)(void *arg, const jcs_topo_hub *hub), void *arg)
{
    /* After a refresh under way: its callback may use what the caller frees next. */
    pthread_mutex_lock(&t->refresh_mu);
    pthread_mutex_lock(&t->mu);
    t->on_online = fn;
    t->on_online_arg = arg;
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_unlock(&t->refresh_mu);
}

/* Runs the on_online callback for each hub offline in the current snapshot and online in s. */
static void back_online(jcs_topo *t, const jcs_topo_snap *s)
{
    pthread_mutex_lock(&t->mu);
    void (*fn)(void *, const jcs_topo_hub *) = t->on_online;
    void *arg = t->on_online_arg;
    jcs_topo_snap *old = t->snap;
    if (old)
        atomic_fetch_add(&old->refs, 1);
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; fn && old && i < s->nhubs; i++) {
        const jcs_topo_hub *was = jcs_topo_snap_find(old, s->hubs[i].id);
        if (s->hubs[i].online && was && !was->online)
            fn(arg, &s->hubs[i]);
    }
    jcs_topo_snap_release(old);
}

int jcs_topo_refresh(jcs_topo *t)
{
    Jcs__Coordinator__ListHubsReq hreq = JCS__COORDINATOR__LIST_HUBS_REQ__INIT;
    Jcs__Coordinator__ListLocationsReq lreq = JCS__COORDINATOR__LIST_LOCATIONS_REQ__INIT;
    Jcs__Coordinator__GetConnectivityReq creq = JCS__COORDINATOR__GET_CONNECTIVITY_REQ__INIT;
    Jcs__Coordinator__ListHubsResp *h = NULL;
    Jcs__Coordinator__ListLocationsResp *l = NULL;
    Jcs__Coordinator__GetConnectivityResp *c = NULL;
    jcs_topo_snap *s = NULL, *old = NULL;

    pthread_mutex_lock(&t->refresh_mu);
    int rc = call(t, JCS_M_LIST_HUBS, &hreq.base, &jcs__coordinator__list_hubs_resp__descriptor,
                  (ProtobufCMessage **)&h);
    if (!rc)
        rc = call(t, JCS_M_LIST_LOCATIONS, &lreq.base,
                  &jcs__coordinator__list_locations_resp__descriptor, (ProtobufCMessage **)&l);
    if (!rc)
        rc = call(t, JCS_M_GET_CONNECTIVITY, &creq.base,
                  &jcs__coordinator__get_connectivity_resp__descriptor, (ProtobufCMessage **)&c);
    if (!rc)
        rc = snap_from(t, h, l, c, &s);
    if (!rc)
        back_online(t, s);
    if (!rc) {
        s->time_ms = jcs_wall_ms();
        pthread_mutex_lock(&t->mu);
        old = t->snap;
        t->snap = s;
        pthread_mutex_unlock(&t->mu);
        atomic_fetch_add(&t->refreshes, 1);
    }
    pthread_mutex_unlock(&t->refresh_mu);
    jcs_topo_snap_release(old);
    if (h)
        protobuf_c_message_free_unpacked(&h->base, NULL);
    if (l)
        protobuf_c_message_free_unpacked(&l->base, NULL);
    if (c)
        protobuf_c_message_free_unpacked(&c->base, NULL);
    return rc;
}

static void *loop(void *arg)
{
    jcs_topo *t = arg;
    bool failing = false;
    for (;;) {
        int rc = jcs_topo_refresh(t);
        if (rc && !failing)
            jcs_warn("%s (keeping the previous view; retrying)", jcs_err_msg(rc));
        else if (rc)
            jcs_debug("%s", jcs_err_msg(rc));
        else if (failing)
            jcs_info("topology: coordinator %s: refreshed again", jcs_rpc_channel_target(t->coord));
        failing = rc != 0;
        int64_t wait = t->interval_ms;
        if (failing && wait > RETRY_MS_MAX)
            wait = RETRY_MS_MAX;
        if (jcs_stopper_sleep(t->stop, wait))
            return NULL;
    }
}

int jcs_topo_start(jcs_topo *t)
{
    if (t->started)
        return JCS_OK;
    int e = pthread_create(&t->thread, NULL, loop, t);
    if (e)
        return jcs_err_set(JCS_EIO, "topology: cannot start its thread: %s", strerror(e));
    t->started = true;
    return JCS_OK;
}

void jcs_topo_free(jcs_topo *t)
{
    if (!t)
        return;
    if (t->started) {
        jcs_stopper_stop(t->stop);
        pthread_join(t->thread, NULL);
    }
    jcs_stopper_free(t->stop);
    jcs_topo_snap_release(t->snap);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->refresh_mu);
    jcs_free(t->location);
    jcs_free(t);
}

int jcs_topo_hub_get(jcs_topo *t, int64_t hub_id, jcs_topo_hub *out)
{
    jcs_topo_snap *s = jcs_topo_acquire(t);
    const jcs_topo_hub *h = jcs_topo_snap_find(s, hub_id);
    if (h)
        *out = *h;
    jcs_topo_snap_release(s);
    return h ? JCS_OK
             : jcs_err_set(JCS_ENOENT, "hub %lld: not known to the coordinator", (long long)hub_id);
}

double jcs_topo_distance(jcs_topo *t, int64_t hub_id)
{
    jcs_topo_snap *s = jcs_topo_acquire(t);
    double d = jcs_topo_snap_distance(s, hub_id);
    jcs_topo_snap_release(s);
    return d;
}

double jcs_topo_distance_between(jcs_topo *t, int64_t hub_a, int64_t hub_b)
{
    jcs_topo_snap *s = jcs_topo_acquire(t);
    double d = jcs_topo_snap_distance_between(s, hub_a, hub_b);
    jcs_topo_snap_release(s);
    return d;
}

uint64_t jcs_topo_refreshes(jcs_topo *t)
{
    return atomic_load(&t->refreshes);
}
