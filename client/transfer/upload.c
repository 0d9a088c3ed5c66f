/*
 * client/transfer/upload.c - streaming uploads (upload.h).
 *
 * Small objects skip the plan. An upload first collects its bytes in
 * memory, up to JCS_UPLOAD_SMALL_MAX (in a buffer that grows with the
 * object, so a 4 KiB file holds a few KiB); an object that ends within
 * that is hashed here and stored with one WriteShard call per target, all
 * calls in flight at once, so a 4 KiB file costs no threads, no pipes and
 * no plan set-up on either side. An EC object is encoded here too, with
 * its chunk size shrunk to fit (jcs_ec_fit): a 4 KiB ec(4,6) object is six
 * blocks of 1 KiB, not six of a whole chunk. The first byte past the limit
 * starts the plan as usual, feeding it what was collected first; an EC plan
 * uses the chunk size fitted to the caller's bound on the object's size.
 */
#include "upload.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "alloc.h"
#include "ec.h"
#include "pipe.h"

/* First size of the collection buffer; it doubles up to JCS_UPLOAD_SMALL_MAX. */
#define SMALL_FIRST (64u << 10)

struct jcs_upload {
    jcs_driver *d;
    jcs_redundancy given; /* as the caller gave it */
    jcs_redundancy red;   /* EC fitted to the size bound (the plan's) */
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
    size_t small_len, small_cap;
    int collecting;
    /* MD5 of every byte written (the S3 ETag of the object), on the writer's thread. */
    EVP_MD_CTX *md5;
    int md5_small_only; /* jcs_upload_md5_small_only: no MD5 once the plan runs */
    int small_done;     /* finished on the plan-free path */
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
                     int64_t size_bound, jcs_upload **out)
{
    if (targets->n > sizeof(((jcs_upload_result *)0)->blocks) / sizeof(jcs_block))
        return jcs_err_set(JCS_EINVAL, "%zu target spaces, at most 256", targets->n);
    jcs_upload *u = jcs_calloc(1, sizeof *u);
    if (!u)
        return JCS_ENOMEM;
    u->d = d;
    u->given = *red;
    u->red = jcs_ec_fit(red, size_bound);
    if (!(u->md5 = EVP_MD_CTX_new()) || EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(u->md5);
        jcs_free(u);
        return jcs_err_set(JCS_ENOMEM, "upload: cannot start an MD5");
    }
    /* The plan's thread reads the targets: they are in place before it starts. */
    u->targets = *targets;
    u->collecting = 1;
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

static int write_bytes(jcs_upload *u, const void *p, size_t n)
{
    if (u->collecting) {
        if (n <= JCS_UPLOAD_SMALL_MAX - u->small_len) {
            if (n > u->small_cap - u->small_len) {
                size_t cap = u->small_cap ? u->small_cap : SMALL_FIRST;
                while (cap < u->small_len + n)
                    cap *= 2;
                if (cap > JCS_UPLOAD_SMALL_MAX)
                    cap = JCS_UPLOAD_SMALL_MAX;
                uint8_t *b = jcs_realloc(u->small, cap);
                if (!b)
                    return JCS_ENOMEM;
                u->small = b;
                u->small_cap = cap;
            }
            if (n)
                memcpy(u->small + u->small_len, p, n);
            u->small_len += n;
            return 0;
        }
        /* Too big for one call: run the plan, fed first with what was collected. */
        u->collecting = 0;
        int rc = start_plan(u);
        if (rc)
            return rc;
        rc = u->small_len ? write_bytes(u, u->small, u->small_len) : 0;
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

void jcs_upload_md5_small_only(jcs_upload *u)
{
    u->md5_small_only = 1;
}

int jcs_upload_write(jcs_upload *u, const void *p, size_t n)
{
    int rc = write_bytes(u, p, n);
    /* After write_bytes: the write that starts the plan is not hashed either. */
    if (rc == 0 && (u->collecting || !u->md5_small_only))
        EVP_DigestUpdate(u->md5, p, n);
    return rc;
}

/* The MD5 of what was written into res (after a successful finish). */
static int finish_md5(jcs_upload *u, jcs_upload_result *res)
{
    unsigned len = 0;
    if (u->md5_small_only && !u->small_done) {
        memset(res->md5, 0, sizeof res->md5);
        res->has_md5 = 0;
        return 0;
    }
    if (EVP_DigestFinal_ex(u->md5, res->md5, &len) != 1 || len != 16)
        return jcs_err_set(JCS_EINTERNAL, "upload: MD5 failed");
    res->has_md5 = 1;
    return 0;
}

/*
 * The blocks of a small EC object, encoded here, as JCS lays them out: strip s of the object
 * (k * chunk bytes, the last one zero-padded) gives bytes [s * chunk, (s + 1) * chunk) of
 * every block, data chunk i going to block i and parity row j to block k + j. One buffer
 * holds the n blocks, block i at i * blen.
 */
static int encode_small(const jcs_upload *u, const jcs_redundancy *r, size_t blen, uint8_t **out)
{
    const size_t chunk = (size_t)r->chunk_size, k = (size_t)r->k, n = (size_t)r->n;
    uint8_t *all = jcs_aligned_alloc(64, n * blen + 1);
    if (!all)
        return JCS_ENOMEM;
    memset(all, 0, k * blen);
    for (size_t pos = 0; pos < u->small_len; pos += chunk) {
        size_t s = pos / (k * chunk), i = pos / chunk % k;
        size_t take = u->small_len - pos < chunk ? u->small_len - pos : chunk;
        memcpy(all + i * blen + s * chunk, u->small + pos, take);
    }
    if (blen > 0) {
        struct jcs_ec *ec;
        int rc = r->type == JCS_RED_LRC ? jcs_ec_new_lrc(r->k, r->n, r->groups, r->ngroups, &ec)
                                        : jcs_ec_new(r->k, r->n, &ec);
        if (rc) {
            jcs_free(all);
            return rc;
        }
        unsigned char *ptr[JCS_EC_MAX_N];
        for (size_t s = 0; s < blen / chunk; s++) {
            for (size_t i = 0; i < n; i++)
                ptr[i] = all + i * blen + s * chunk;
            jcs_ec_encode(ec, chunk, ptr, ptr + k);
        }
        jcs_ec_free(ec);
    }
    *out = all;
    return 0;
}

/*
 * The small-object path: hash here, one WriteShard per target (block i on target i), all at
 * once. Copies store the object itself; EC the n blocks of one strip of a fitted chunk.
 */
static int finish_small(jcs_upload *u, jcs_upload_result *res)
{
    /* Fitted to the object's exact size (from the given redundancy, not the bound's). */
    jcs_redundancy r = jcs_ec_fit(&u->given, (int64_t)u->small_len);
    int ec = jcs_red_coded(&r); /* ec or lrc: one strip of n blocks */
    size_t nb = ec ? (size_t)r.n : u->targets.n;
    size_t blen = ec ? (size_t)jcs_ec_block_size(&r, (int64_t)u->small_len) : u->small_len;
    uint8_t *blocks = NULL;
    jcs_driver_small_io *io = NULL;
    memset(res, 0, sizeof *res);
    int rc = jcs_hash_buf(u->small ? u->small : (const uint8_t *)"", u->small_len, res->file_hash);
    if (rc == 0 && nb > u->targets.n)
        rc = jcs_err_set(JCS_EINVAL, "%zu target spaces for %zu blocks", u->targets.n, nb);
    if (rc == 0 && ec)
        rc = encode_small(u, &r, blen, &blocks);
    if (rc == 0 && !(io = jcs_calloc(nb ? nb : 1, sizeof *io)))
        rc = JCS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nb; i++) {
        uint8_t *b = ec ? blocks + i * blen : u->small;
        jcs_block *out = &res->blocks[i];
        out->index = (int)i;
        out->space_id = u->targets.v[i].space_id;
        out->size = (int64_t)blen;
        if (!ec)
            snprintf(out->file_hash, sizeof out->file_hash, "%s", res->file_hash);
        else if ((rc = jcs_hash_buf(b ? b : (const uint8_t *)"", blen, out->file_hash)) != 0)
            break;
        io[i].site = &u->targets.sites[i];
        io[i].file_hash = out->file_hash;
        io[i].length = (int64_t)blen;
        io[i].buf = b;
    }
    if (rc == 0)
        rc = jcs_driver_write_small_all(u->d, io, nb);
    jcs_free(io);
    jcs_free(blocks);
    if (rc) {
        memset(res, 0, sizeof *res);
        return rc;
    }
    res->nblocks = nb;
    res->size = (int64_t)u->small_len;
    res->red = r;
    return 0;
}

int jcs_upload_finish(jcs_upload *u, jcs_upload_result *res)
{
    if (u->collecting) {
        u->collecting = 0;
        u->small_done = 1;
        u->rc = finish_small(u, res);
        if (!u->rc)
            u->rc = finish_md5(u, res);
        return u->rc;
    }
    if (!u->running)
        return u->rc ? plan_err(u) : jcs_err_set(JCS_EINVAL, "upload already ended");
    jcs_pipe_close(u->pipe, 0);
    join(u);
    if (u->rc)
        return plan_err(u);
    *res = u->res;
    res->red = u->red;
    return finish_md5(u, res);
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
    EVP_MD_CTX_free(u->md5);
    jcs_free(u);
}
