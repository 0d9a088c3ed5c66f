/*
 * client/placement/placement.c - user spaces as plan sites and the choice
 * of spaces for new blocks (placement.h), over a short-lived cache of the
 * user-space rows.
 */
#include "placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "svc.h"
#include "util.h"

#define SPACES_TTL_MS 3000

/* ---- user-space cache ------------------------------------------------------------------------ */

static int spaces_copy(const jcs_meta_spaces *from, jcs_meta_spaces *to)
{
    memset(to, 0, sizeof *to);
    if (from->n == 0)
        return 0;
    to->v = jcs_calloc(from->n, sizeof *to->v);
    if (!to->v)
        return JCS_ENOMEM;
    for (size_t i = 0; i < from->n; i++) {
        const jcs_meta_space *f = &from->v[i];
        jcs_meta_space *t = &to->v[to->n++];
        *t = *f;
        t->name = jcs_strdup(f->name);
        t->storage_type = jcs_strdup(f->storage_type);
        t->storage = jcs_strdup(f->storage);
        t->state = jcs_strdup(f->state);
        if (!t->name || !t->storage_type || !t->storage || !t->state) {
            jcs_meta_spaces_clear(to);
            return JCS_ENOMEM;
        }
    }
    return 0;
}

int jcs_place_spaces(jcs_svc *svc, jcs_meta_spaces *out)
{
    pthread_mutex_lock(&svc->spaces_mu);
    int rc = 0;
    if (svc->spaces_at_ms == 0 || jcs_now_ms() - svc->spaces_at_ms > SPACES_TTL_MS) {
        jcs_meta_spaces fresh;
        rc = jcs_meta_space_list_private(svc->db, &fresh);
        /* Secrets are sealed in the database; the hubs get them opened (seal.h). */
        for (size_t i = 0; rc == 0 && svc->have_seal_key && i < fresh.n; i++) {
            char *open_st = NULL;
            if ((rc = jcs_seal_storage_open(svc->seal_key, fresh.v[i].storage, &open_st, NULL)) !=
                0) {
                rc = jcs_err_wrap(rc, "user space %lld: ", (long long)fresh.v[i].space_id);
                jcs_meta_spaces_clear(&fresh);
                break;
            }
            jcs_free(fresh.v[i].storage);
            fresh.v[i].storage = open_st;
        }
        if (rc == 0) {
            jcs_meta_spaces_clear(&svc->spaces);
            svc->spaces = fresh;
            svc->spaces_at_ms = jcs_now_ms();
        }
    }
    if (rc == 0)
        rc = spaces_copy(&svc->spaces, out);
    pthread_mutex_unlock(&svc->spaces_mu);
    return rc;
}

int jcs_place_seal_secrets(jcs_svc *svc, size_t *sealed)
{
    *sealed = 0;
    if (!svc->have_seal_key)
        return 0;
    jcs_meta_spaces l = {0};
    int rc = jcs_meta_space_list_private(svc->db, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        char *st = NULL;
        int changed = 0;
        rc = jcs_seal_storage(svc->seal_key, l.v[i].storage, &st, &changed);
        if (rc == 0 && changed &&
            (rc = jcs_meta_space_set_storage(svc->db, l.v[i].space_id, st)) == 0)
            (*sealed)++;
        if (rc)
            rc = jcs_err_wrap(
                rc, "sealing the secret of user space %lld: ", (long long)l.v[i].space_id);
        jcs_free(st);
    }
    jcs_meta_spaces_clear(&l);
    jcs_place_spaces_invalidate(svc);
    return rc;
}

void jcs_place_spaces_invalidate(jcs_svc *svc)
{
    pthread_mutex_lock(&svc->spaces_mu);
    svc->spaces_at_ms = 0;
    pthread_mutex_unlock(&svc->spaces_mu);
}

/* ---- sites ----------------------------------------------------------------------------------- */

void jcs_place_sites_clear(jcs_place_sites *s)
{
    for (size_t i = 0; s->v && i < s->n; i++)
        for (size_t j = 0; j < sizeof s->v[i].strs / sizeof s->v[i].strs[0]; j++)
            jcs_free(s->v[i].strs[j]);
    jcs_free(s->v);
    jcs_free(s->sites);
    memset(s, 0, sizeof *s);
}

size_t jcs_place_red_width(const jcs_redundancy *r)
{
    switch (r->type) {
    case JCS_RED_REP:
        return (size_t)r->rep_count;
    case JCS_RED_EC:
    case JCS_RED_LRC:
        return (size_t)r->n;
    default:
        return 1;
    }
}

/* A string member of the storage JSON copied into the site (NULL when absent; "" kept). */
static int site_str(jcs_place_site *st, int slot, json_t *storage, const char *field, char **dst)
{
    json_t *v = json_object_get(storage, field);
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    st->strs[slot] = jcs_strdup(s);
    if (!st->strs[slot])
        return JCS_ENOMEM;
    *dst = st->strs[slot];
    return 0;
}

/* The online hub nearest the client, preferring location loc (0: any). 0 when none. */
static int64_t nearest_hub(jcs_topo_snap *snap, int64_t loc)
{
    size_t n;
    const jcs_topo_hub *h = jcs_topo_snap_hubs(snap, &n);
    int64_t best = 0;
    double bd = INFINITY;
    for (int pass = 0; pass < 2 && best == 0; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (!h[i].online || (pass == 0 && (loc == 0 || h[i].location_id != loc)))
                continue;
            if (best == 0 || h[i].distance < bd) {
                best = h[i].id;
                bd = h[i].distance;
            }
        }
    }
    return best;
}

/* Fills st from a private space row. */
static int site_fill(jcs_topo_snap *snap, const jcs_meta_space *sp, jcs_place_site *st)
{
    memset(st, 0, sizeof *st);
    Jcs__Plan__Space s0 = JCS__PLAN__SPACE__INIT;
    Jcs__Plan__Worker w0 = JCS__PLAN__WORKER__INIT;
    st->space = s0;
    st->hub = w0;
    st->space_id = sp->space_id;
    st->location_id = sp->location_id;
    st->latency_ms = -1;
    json_t *storage = json_loads(sp->storage, 0, NULL);
    if (!storage)
        return jcs_err_set(JCS_EINVAL, "user space %lld: its storage JSON is malformed",
                           (long long)sp->space_id);
    int rc = 0;
    st->space.space_id = sp->space_id;
    if ((rc = site_str(st, 0, storage, "type", &st->space.type)) ||
        (rc = site_str(st, 1, storage, "root", &st->space.root)) ||
        (rc = site_str(st, 2, storage, "endpoint", &st->space.endpoint)) ||
        (rc = site_str(st, 3, storage, "region", &st->space.region)) ||
        (rc = site_str(st, 4, storage, "bucket", &st->space.bucket)) ||
        (rc = site_str(st, 5, storage, "prefix", &st->space.prefix)) ||
        (rc = site_str(st, 6, storage, "accessKey", &st->space.access_key)) ||
        (rc = site_str(st, 7, storage, "secretKey", &st->space.secret_key))) {
        json_decref(storage);
        return rc;
    }
    st->space.path_style = json_is_true(json_object_get(storage, "pathStyle"));
    json_t *hub = json_object_get(storage, "hubID");
    int64_t hub_id = json_is_integer(hub) ? json_integer_value(hub) : 0;
    json_decref(storage);
    if (hub_id <= 0 && strcmp(st->space.type, "local") != 0)
        hub_id = nearest_hub(snap, sp->location_id);
    st->hub_id = hub_id;
    const jcs_topo_hub *h = hub_id > 0 ? jcs_topo_snap_find(snap, hub_id) : NULL;
    if (h) {
        st->hub.hub_id = h->id;
        st->latency_ms = h->latency_ms;
    }
    return 0;
}

/* Turns the filled v[] into the driver's site array; a site whose hub is offline or unknown
 * is unreachable. */
static int sites_finish(jcs_topo_snap *snap, jcs_place_sites *out)
{
    out->sites = jcs_calloc(out->n ? out->n : 1, sizeof *out->sites);
    if (!out->sites)
        return JCS_ENOMEM;
    for (size_t i = 0; i < out->n; i++) {
        jcs_place_site *st = &out->v[i];
        const jcs_topo_hub *h = st->hub_id > 0 ? jcs_topo_snap_find(snap, st->hub_id) : NULL;
        out->sites[i].space = &st->space;
        out->sites[i].hub = NULL;
        out->sites[i].distance = JCS_TOPO_UNREACHABLE;
        if (h && h->online) {
            /* A copy: the snapshot goes away before the sites do. */
            st->strs[8] = jcs_strdup(h->address);
            if (!st->strs[8])
                return JCS_ENOMEM;
            st->hub.address = st->strs[8];
            out->sites[i].hub = &st->hub;
            out->sites[i].distance = h->distance;
        } else {
            st->hub.address = NULL;
        }
    }
    return 0;
}

int jcs_place_sites_from_rows(jcs_topo_snap *snap, const jcs_meta_space *rows, size_t n,
                              jcs_place_sites *out)
{
    memset(out, 0, sizeof *out);
    out->v = jcs_calloc(n ? n : 1, sizeof *out->v);
    if (!out->v)
        return JCS_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = site_fill(snap, &rows[i], &out->v[i]);
        out->n = i + 1;
    }
    if (rc == 0)
        rc = sites_finish(snap, out);
    if (rc)
        jcs_place_sites_clear(out);
    return rc;
}

int jcs_place_sites_for(jcs_svc *svc, jcs_topo_snap *snap, const int64_t *space_ids, size_t n,
                        jcs_place_sites *out)
{
    memset(out, 0, sizeof *out);
    jcs_meta_spaces all;
    int rc = jcs_place_spaces(svc, &all);
    if (rc)
        return rc;
    out->v = jcs_calloc(n ? n : 1, sizeof *out->v);
    if (!out->v) {
        jcs_meta_spaces_clear(&all);
        return JCS_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const jcs_meta_space *sp = NULL;
        for (size_t j = 0; j < all.n && !sp; j++)
            if (all.v[j].space_id == space_ids[i])
                sp = &all.v[j];
        if (!sp) {
            rc = jcs_err_set(JCS_ENOENT, "user space %lld not found", (long long)space_ids[i]);
            break;
        }
        rc = site_fill(snap, sp, &out->v[i]);
        out->n = i + 1;
    }
    if (rc == 0)
        rc = sites_finish(snap, out);
    jcs_meta_spaces_clear(&all);
    if (rc)
        jcs_place_sites_clear(out);
    return rc;
}

void jcs_place_cand(const jcs_meta_space *row, const jcs_place_sites *sites, size_t i,
                    jcs_jobplan_cand *out)
{
    out->space_id = row->space_id;
    out->location_id = row->location_id;
    out->distance = sites->sites[i].distance;
    out->latency_ms = sites->v[i].latency_ms;
    out->usable = sites->sites[i].hub != NULL && strcmp(row->state, "normal") == 0;
}

int jcs_place_choose(jcs_svc *svc, jcs_topo_snap *snap, size_t count, int64_t affinity,
                     jcs_place_sites *out)
{
    memset(out, 0, sizeof *out);
    jcs_meta_spaces all;
    int rc = jcs_place_spaces(svc, &all);
    if (rc)
        return rc;
    jcs_place_sites sites = {0};
    jcs_jobplan_cand *c = jcs_calloc(all.n ? all.n : 1, sizeof *c);
    int64_t *ids = jcs_calloc(count ? count : 1, sizeof *ids);
    jcs_meta_space *picked = jcs_calloc(count ? count : 1, sizeof *picked);
    if (!c || !ids || !picked) {
        rc = JCS_ENOMEM;
        goto out;
    }
    /* Every space resolved once, unusable ones (offline hub, unreadable row) included. */
    if ((rc = jcs_place_sites_from_rows(snap, all.v, all.n, &sites)) != 0)
        goto out;
    size_t usable = 0;
    int affinity_ok = affinity == 0;
    for (size_t i = 0; i < all.n; i++) {
        jcs_place_cand(&all.v[i], &sites, i, &c[i]);
        c[i].usable &= isfinite(c[i].distance);
        usable += c[i].usable;
        affinity_ok |= c[i].usable && all.v[i].space_id == affinity;
    }
    if (!affinity_ok) {
        rc = jcs_err_set(JCS_EINVAL,
                         "affinity: user space %lld does not exist, is not in state normal or its "
                         "hub is offline",
                         (long long)affinity);
        goto out;
    }
    if (usable < count) {
        rc = jcs_err_set(JCS_EUNAVAIL,
                         "the redundancy needs %zu user spaces on online hubs but only %zu are "
                         "usable (%zu configured): add spaces or start their hubs",
                         count, usable, all.n);
        goto out;
    }
    /* The affinity space first, then the jobs' order: distance, latency, one per location. */
    if ((rc = jcs_jobplan_choose(c, all.n, count, NULL, 0, NULL, 0, &affinity, affinity != 0,
                                 ids)) != 0)
        goto out;
    for (size_t k = 0; k < count; k++)
        for (size_t i = 0; i < all.n; i++)
            if (all.v[i].space_id == ids[k])
                picked[k] = all.v[i];
    rc = jcs_place_sites_from_rows(snap, picked, count, out);
out:
    jcs_place_sites_clear(&sites);
    jcs_free(c);
    jcs_free(ids);
    jcs_free(picked); /* shallow copies of rows in all */
    jcs_meta_spaces_clear(&all);
    return rc;
}
