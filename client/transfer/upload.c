/*
 * client/transfer/upload.c - streaming uploads (upload.h).
 *
 * Small objects skip the plan. A copy upload (none, rep) first collects
 * its bytes in memory, up to JCS_UPLOAD_SMALL_MAX; an object that ends
 * within that is hashed here and stored with one WriteShard call per
 * target, so a 4 KiB file costs no threads, no pipes and no plan set-up on
 * either side. The first byte past the limit starts the plan as usual,
 * feeding it what was collected first. EC objects always use a plan (the
 * coding is the plan's work).
 */
#include "upload.h"

#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "pipe.h"

struct jcs_upload {
    jcs_driver *d;
    jcs_redundancy red;
    jcs_place_sites targets;
    jcs_pipe *pipe;
    pthread_t thread;
    int running;   /* the thread has not been joined */
    int rc;        /* the plan's result, valid once joined */
    char why[512]; /* its detail: details are per thread */
    jcs_upload_result res;
    /* The chunk the driver is copying out of, with what is left of it. */
    jcs_chunk cur;
    size_t cur_off;
    int have_cur;
    /* Small-object mode: bytes collected before any plan runs (NULL once a plan runs). */
    uint8_t *small;
    size_t small_len;
    int collecting;
};

/* The driver's read function: copies out of the pipe's chunks. */
static int pull(void *arg, void *buf, size_t cap, size_t *n)
{
    jcs_upload *u = arg;
    *n = 0;
    if (!u->have_cur) {
        int rc = jcs_pipe_read(u->pipe, &u->cur);
        if (rc == JCS_EOF)
            return 0; /* end of the object */
        if (rc)
            return rc;
        u->have_cur = 1;
        u->cur_off = 0;
    }
    size_t take = u->cur.len - u->cur_off;
    if (take > cap)
        take = cap;
    memcpy(buf, u->cur.data + u->cur_off, take);
    u->cur_off += take;
    *n = take;
    if (u->cur_off == u->cur.len) {
        jcs_pipe_release(u->pipe, &u->cur);
        u->have_cur = 0;
    }
    return 0;
}

static void *upload_main(void *arg)
{
    jcs_upload *u = arg;
    jcs_driver_upload_req req = {.read = pull,
                                 .arg = u,
                                 .red = &u->red,
                                 .targets = u->targets.sites,
                                 .ntargets = u->targets.n};
    jcs_driver_upload_res res = {.blocks = u->res.blocks};
    u->rc = jcs_driver_upload(u->d, &req, &res);
    if (!u->rc) {
        u->res.nblocks = res.nblocks;
        snprintf(u->res.file_hash, sizeof u->res.file_hash, "%s", res.hash);
        u->res.size = res.size;
    }
    if (u->rc)
        snprintf(u->why, sizeof u->why, "%s", jcs_err_msg(u->rc));
    if (u->have_cur) {
        jcs_pipe_release(u->pipe, &u->cur);
        u->have_cur = 0;
    }
    /* A writer blocked on a full pipe must learn that nobody will read any more. */
    jcs_pipe_abort(u->pipe, u->rc ? u->rc : JCS_ECANCELED);
    return NULL;
}

/* Starts the plan's thread reading from a new pipe. */
static int start_plan(jcs_upload *u)
{
    int rc = jcs_pipe_new(0, 0, &u->pipe);
    if (rc)
        return rc;
    if (pthread_create(&u->thread, NULL, upload_main, u) != 0) {
        jcs_pipe_free(u->pipe);
        u->pipe = NULL;
        return jcs_err_set(JCS_ENOMEM, "cannot start an upload thread");
    }
    u->running = 1;
    return 0;
}

int jcs_upload_start(jcs_driver *d, const jcs_redundancy *red, jcs_place_sites *targets,
                     jcs_upload **out)
{
    if (targets->n > sizeof(((jcs_upload_result *)0)->blocks) / sizeof(jcs_block))
        return jcs_err_set(JCS_EINVAL, "%zu target spaces, at most 256", targets->n);
    jcs_upload *u = jcs_calloc(1, sizeof *u);
    if (!u)
        return JCS_ENOMEM;
    u->d = d;
    u->red = *red;
    /* The plan's thread reads the targets: they are in place before it starts. */
    u->targets = *targets;
    int rc;
    if (red->type != JCS_RED_EC) {
        rc = (u->small = jcs_malloc(JCS_UPLOAD_SMALL_MAX)) ? 0 : JCS_ENOMEM;
        u->collecting = rc == 0;
    } else {
        rc = start_plan(u);
    }
    if (rc) {
        jcs_free(u->small);
        jcs_free(u);
        return rc;
    }
    memset(targets, 0, sizeof *targets);
    *out = u;
    return 0;
}

static void join(jcs_upload *u)
{
    if (!u->running)
        return;
    pthread_join(u->thread, NULL);
    u->running = 0;
}

/* The plan's error with its detail, on the calling thread. */
static int plan_err(jcs_upload *u)
{
    return jcs_err_set(u->rc, "%s", u->why[0] ? u->why : jcs_strerror(u->rc));
}

int jcs_upload_write(jcs_upload *u, const void *p, size_t n)
{
    if (u->collecting) {
        if (n <= JCS_UPLOAD_SMALL_MAX - u->small_len) {
            memcpy(u->small + u->small_len, p, n);
            u->small_len += n;
            return 0;
        }
        /* Too big for one call: run the plan, fed first with what was collected. */
        u->collecting = 0;
        int rc = start_plan(u);
        if (rc)
            return rc;
        rc = u->small_len ? jcs_upload_write(u, u->small, u->small_len) : 0;
        jcs_free(u->small);
        u->small = NULL;
        if (rc)
            return rc;
    }
    if (!u->running)
        return u->rc ? plan_err(u) : jcs_err_set(JCS_EINVAL, "upload already ended");
    int rc = jcs_pipe_write(u->pipe, p, n);
    if (rc && jcs_pipe_failed_by(u->pipe) == JCS_PIPE_READER) {
        /* The plan stopped reading: its own error tells what went wrong. */
        jcs_upload_cancel(u);
        return u->rc ? plan_err(u) : rc;
    }
    return rc;
}

/* The small-object path: hash here, one WriteShard per target (block i on target i). */
static int finish_small(jcs_upload *u, jcs_upload_result *res)
{
    char hash[JCS_HASH_SIZE];
    int rc = jcs_hash_buf(u->small, u->small_len, hash);
    if (rc)
        return rc;
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < u->targets.n; i++) {
        if ((rc = jcs_driver_write_small(u->d, &u->targets.sites[i], u->small, u->small_len, hash,
                                         NULL)) != 0)
            return rc;
        res->blocks[i].index = (int)i;
        res->blocks[i].space_id = u->targets.v[i].space_id;
        snprintf(res->blocks[i].file_hash, sizeof res->blocks[i].file_hash, "%s", hash);
        res->blocks[i].size = (int64_t)u->small_len;
    }
    res->nblocks = u->targets.n;
    snprintf(res->file_hash, sizeof res->file_hash, "%s", hash);
    res->size = (int64_t)u->small_len;
    return 0;
}

int jcs_upload_finish(jcs_upload *u, jcs_upload_result *res)
{
    if (u->collecting) {
        u->collecting = 0;
        u->rc = finish_small(u, res);
        return u->rc;
    }
    if (!u->running)
        return u->rc ? plan_err(u) : jcs_err_set(JCS_EINVAL, "upload already ended");
    jcs_pipe_close(u->pipe, 0);
    join(u);
    if (u->rc)
        return plan_err(u);
    *res = u->res;
    return 0;
}

void jcs_upload_cancel(jcs_upload *u)
{
    if (u->collecting) {
        u->collecting = 0;
        u->rc = JCS_ECANCELED;
        return;
    }
    if (!u->running)
        return;
    jcs_pipe_close(u->pipe, JCS_ECANCELED);
    join(u);
    if (u->rc == 0)
        u->rc = JCS_ECANCELED;
}

void jcs_upload_free(jcs_upload *u)
{
    if (!u)
        return;
    jcs_upload_cancel(u);
    jcs_free(u->small);
    jcs_pipe_free(u->pipe);
    jcs_place_sites_clear(&u->targets);
    jcs_free(u);
}
