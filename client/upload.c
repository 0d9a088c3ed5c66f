/*
 * client/upload.c - streaming uploads (upload.h).
 */
#include "upload.h"

#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "pipe.h"

struct jcs_upload {
    jcs_driver *d;
    jcs_redundancy red;
    jcs_svc_sites targets;
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
};

/* The driver's read function: copies out of the pipe's chunks. */
static int pull(void *arg, void *buf, size_t cap, size_t *n)
{
    jcs_upload *u = arg;
    *n = 0;
    if (!u->have_cur) {
        int rc = jcs_pipe_read(u->pipe, &u->cur);
        if (rc == 1)
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
    u->rc = jcs_driver_upload(u->d, pull, u, &u->red, u->targets.sites, u->targets.n, NULL,
                              u->res.blocks, &u->res.nblocks, u->res.file_hash, &u->res.size);
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

int jcs_upload_start(jcs_driver *d, const jcs_redundancy *red, jcs_svc_sites *targets,
                     jcs_upload **out)
{
    if (targets->n > sizeof(((jcs_upload_result *)0)->blocks) / sizeof(jcs_block))
        return jcs_err_set(JCS_EINVAL, "%zu target spaces, at most 256", targets->n);
    jcs_upload *u = jcs_calloc(1, sizeof *u);
    if (!u)
        return JCS_ENOMEM;
    u->d = d;
    u->red = *red;
    int rc = jcs_pipe_new(0, 0, &u->pipe);
    if (rc) {
        jcs_free(u);
        return rc;
    }
    u->targets = *targets;
    memset(targets, 0, sizeof *targets);
    if (pthread_create(&u->thread, NULL, upload_main, u) != 0) {
        *targets = u->targets;
        jcs_pipe_free(u->pipe);
        jcs_free(u);
        return jcs_err_set(JCS_ENOMEM, "cannot start an upload thread");
    }
    u->running = 1;
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

int jcs_upload_finish(jcs_upload *u, jcs_upload_result *res)
{
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
    jcs_pipe_free(u->pipe);
    jcs_svc_sites_free(&u->targets);
    jcs_free(u);
}
