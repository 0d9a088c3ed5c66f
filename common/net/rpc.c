/*
 * rpc.c - the RPC layer over gRPC C core 1.51 (the only file calling grpc_*).
 *
 * Design.
 *
 * Every call, on either side, has a completion queue of its own of the PLUCK
 * kind. A blocking operation starts one batch with a tag that belongs to the
 * operation (send, receive, status) and plucks exactly that tag, so one
 * thread can send while another receives on the same call, and calls never
 * wait for each other. Every batch that is started is also plucked before
 * the queue is destroyed, which is what gRPC requires of a pluck queue.
 *
 * Server: the server has one NEXT queue, used only for "a call arrived"
 * notifications and the shutdown notification, and one accept thread
 * looping on it. Each method of the table is registered; one request per
 * method (plus one for unknown methods, answered UNIMPLEMENTED) is kept
 * armed and re-armed as soon as a call arrives. An accepted call is queued
 * for the server's pool of handler threads: role check, handler, then
 * status. A thread that finishes a call takes the next one; one that waits
 * longer than POOL_IDLE_MS for work exits; a call that finds no idle thread
 * starts a new one. So a burst of small calls (a WriteShard per object)
 * reuses a few threads instead of creating one per call, and any number of
 * long streams still run at once. Initial metadata goes out with the first
 * message or with the status. The live handler count is capped; above the
 * cap a call is refused with RESOURCE_EXHAUSTED.
 *
 * Shutdown follows the order that avoids gRPC's grpc_cq_begin_op assertion:
 * set the stop flag, grpc_server_shutdown_and_notify + cancel_all_calls
 * (blocked batches then complete with success=0 and handlers return), start
 * no status batches once stopping, wait for the handler count to reach 0
 * and for the accept thread to see the shutdown tag and every armed request
 * come back, then grpc_server_destroy, and only then shut down and drain the
 * NEXT queue.
 *
 * Client: one grpc_channel per peer, with its own subchannel pool. A stream
 * starts SEND_INITIAL_METADATA and RECV_STATUS_ON_CLIENT at open; the
 * status batch stays in flight for the life of the call, and whichever
 * thread first needs the final status (a failed send, a failed receive,
 * finish) plucks it while others wait on a condition variable.
 *
 * Errors: the server adds a "jcs-status" trailing metadata entry to every
 * status it sends, so the client can tell a status chosen by a handler (its
 * detail is passed on verbatim) from one made by gRPC itself (connection
 * refused, deadline, message too big: the detail then names the target and
 * method).
 */
#include "rpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

/* Handler threads alive at once per server; more calls are refused. */
#define MAX_LIVE_CALLS 512
/* PEM files are small; anything larger is not a certificate. */
#define MAX_PEM_SIZE (1024 * 1024)
/* Trailing metadata key marking a status sent by this layer's server. */
#define STATUS_MARK "jcs-status"

/* ------------------------------------------------------------ process */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_refs;

/* Routes gRPC's own log lines into ours: errors as warnings, the rest as debug. */
static void grpc_log_to_jcs(gpr_log_func_args *a)
{
    const char *file = a->file ? strrchr(a->file, '/') : NULL;
    file = file ? file + 1 : (a->file ? a->file : "?");
    if (a->severity == GPR_LOG_SEVERITY_ERROR)
        jcs_warn("grpc: %s (%s:%d)", a->message, file, a->line);
    else
        jcs_debug("grpc: %s (%s:%d)", a->message, file, a->line);
}

/*
 * Abseil as Debian builds it (without NDEBUG) checks every absl::Mutex lock
 * of gRPC for deadlock cycles: a graph lookup per lock, 2-3 % of the CPU of
 * a large transfer (perf). Switched off (kIgnore = 0) when the library has
 * the setter under the name of the build it was made with; C cannot name a
 * C++ function otherwise, and without it nothing changes but the cost.
 */
static void absl_no_deadlock_checks(void)
{
    static const char *const names[] = {
        "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
        "_ZN4absl12lts_2022062329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        if (sym) {
            void (*set_mode)(int);
            memcpy(&set_mode, &sym, sizeof set_mode);
            set_mode(0);
            return;
        }
    }
}

void jcs_rpc_init(void)
{
    pthread_mutex_lock(&init_lock);
    if (init_refs++ == 0) {
        absl_no_deadlock_checks();
        gpr_set_log_function(grpc_log_to_jcs);
        grpc_init();
        /*
         * gRPC logs a lot at INFO during normal operation; only its errors
         * (handshake failures among them) are kept unless asked for.
         */
        gpr_set_log_verbosity(getenv("JCS_GRPC_VERBOSE") ? GPR_LOG_SEVERITY_DEBUG
                                                         : GPR_LOG_SEVERITY_ERROR);
    }
    pthread_mutex_unlock(&init_lock);
}

void jcs_rpc_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    if (init_refs > 0 && --init_refs == 0) {
        grpc_shutdown_blocking();
        /*
         * Channels and servers hold init references of their own that gRPC
         * drops from its threads, finishing the shutdown there. Waiting for
         * it (bounded) means its threads are gone when we return, so a
         * process exiting right after is clean.
         */
        for (int i = 0; i < 400 && grpc_is_initialized(); i++)
            jcs_sleep_ms(5);
    }
    pthread_mutex_unlock(&init_lock);
}

/* ------------------------------------------------------------ roles */

enum jcs_role jcs_role_parse(const char *ou)
{
    if (!ou)
        return JCS_ROLE_NONE;
    if (strcmp(ou, "coordinator") == 0)
        return JCS_ROLE_COORDINATOR;
    if (strcmp(ou, "hub") == 0)
        return JCS_ROLE_HUB;
    if (strcmp(ou, "client") == 0)
        return JCS_ROLE_CLIENT;
    return JCS_ROLE_NONE;
}

const char *jcs_role_name(enum jcs_role role)
{
    switch (role) {
    case JCS_ROLE_COORDINATOR:
        return "coordinator";
    case JCS_ROLE_HUB:
        return "hub";
    case JCS_ROLE_CLIENT:
        return "client";
    default:
        return "none";
    }
}

/*
 * The role named by the single OU= component of an RFC 2253 subject
 * ("CN=hub1,OU=hub,O=JCS-C"). A subject with no OU, several OUs or an
 * escaped character in the OU has no role: we would rather refuse than
 * guess.
 */
static enum jcs_role role_of_subject(const char *subject)
{
    enum jcs_role role = JCS_ROLE_NONE;
    int seen = 0;
    const char *p = subject;

    while (p && *p) {
        const char *end = p;
        while (*end && *end != ',') {
            if (*end == '\\' && end[1])
                end++;
            end++;
        }
        if (end - p > 3 && strncmp(p, "OU=", 3) == 0) {
            char ou[64];
            size_t n = (size_t)(end - p - 3);
            seen++;
            if (n < sizeof(ou) && !memchr(p + 3, '\\', n)) {
                memcpy(ou, p + 3, n);
                ou[n] = '\0';
                role = jcs_role_parse(ou);
            } else {
                role = JCS_ROLE_NONE;
            }
        }
        p = *end ? end + 1 : end;
    }
    return seen == 1 ? role : JCS_ROLE_NONE;
}

/* Names the roles of a mask ("hub|coordinator") into buf. */
static const char *roles_str(unsigned mask, char *buf, size_t len)
{
    static const enum jcs_role all[] = {JCS_ROLE_COORDINATOR, JCS_ROLE_HUB, JCS_ROLE_CLIENT};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (mask & (unsigned)all[i]) {
            int n =
                snprintf(buf + used, len - used, "%s%s", used ? "|" : "", jcs_role_name(all[i]));
            if (n < 0 || (size_t)n >= len - used)
                break;
            used += (size_t)n;
        }
    }
    if (!buf[0])
        snprintf(buf, len, "none");
    return buf;
}

/* ------------------------------------------------------------ status mapping */

static grpc_status_code status_of_err(int rc)
{
    switch (rc) {
    case JCS_OK:
        return GRPC_STATUS_OK;
    case JCS_ENOENT:
        return GRPC_STATUS_NOT_FOUND;
    case JCS_EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case JCS_EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case JCS_EPERM:
        return GRPC_STATUS_PERMISSION_DENIED;
    case JCS_ETIMEOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case JCS_ECANCELED:
        return GRPC_STATUS_CANCELLED;
    case JCS_EUNAVAIL:
        return GRPC_STATUS_UNAVAILABLE;
    case JCS_ETOOBIG:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case JCS_EBUSY:
        return GRPC_STATUS_ABORTED;
    case JCS_ECORRUPT:
        return GRPC_STATUS_DATA_LOSS;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

static int err_of_status(grpc_status_code st)
{
    switch (st) {
    case GRPC_STATUS_OK:
        return JCS_OK;
    case GRPC_STATUS_NOT_FOUND:
        return JCS_ENOENT;
    case GRPC_STATUS_INVALID_ARGUMENT:
        return JCS_EINVAL;
    case GRPC_STATUS_ALREADY_EXISTS:
        return JCS_EEXIST;
    case GRPC_STATUS_PERMISSION_DENIED:
        return JCS_EPERM;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return JCS_ETIMEOUT;
    case GRPC_STATUS_CANCELLED:
        return JCS_ECANCELED;
    case GRPC_STATUS_UNAVAILABLE:
        return JCS_EUNAVAIL;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return JCS_ETOOBIG;
    case GRPC_STATUS_ABORTED:
        return JCS_EBUSY;
    case GRPC_STATUS_DATA_LOSS:
        return JCS_ECORRUPT;
    default:
        return JCS_ERPC;
    }
}

static const char *status_name(grpc_status_code st)
{
    static const char *names[] = {"OK",
                                  "CANCELLED",
                                  "UNKNOWN",
                                  "INVALID_ARGUMENT",
                                  "DEADLINE_EXCEEDED",
                                  "NOT_FOUND",
                                  "ALREADY_EXISTS",
                                  "PERMISSION_DENIED",
                                  "RESOURCE_EXHAUSTED",
                                  "FAILED_PRECONDITION",
                                  "ABORTED",
                                  "OUT_OF_RANGE",
                                  "UNIMPLEMENTED",
                                  "INTERNAL",
                                  "UNAVAILABLE",
                                  "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    if ((int)st >= 0 && (size_t)st < sizeof(names) / sizeof(names[0]))
        return names[st];
    return "UNKNOWN";
}

/* ------------------------------------------------------------ helpers */

static gpr_timespec inf_future(void)
{
    return gpr_inf_future(GPR_CLOCK_REALTIME);
}

static gpr_timespec deadline_in(int64_t timeout_ms)
{
    if (timeout_ms <= 0)
        return inf_future();
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

/*
 * The idle deadline of every call of this process (jcs_rpc_set_idle_timeout_ms):
 * how long one step of a call (a send, a receive, the close) may wait.
 */
static _Atomic int64_t idle_timeout = JCS_RPC_IDLE_TIMEOUT_MS;

void jcs_rpc_set_idle_timeout_ms(int64_t ms)
{
    atomic_store(&idle_timeout, ms > 0 ? ms : JCS_RPC_IDLE_TIMEOUT_MS);
}

int64_t jcs_rpc_idle_timeout_ms(void)
{
    return atomic_load(&idle_timeout);
}

/*
 * Waits for tag on the call's pluck queue. With idle_ms > 0, a step that
 * has not completed after idle_ms cancels the call with DEADLINE_EXCEEDED
 * (so the peer learns why too), sets *expired and keeps waiting: the
 * cancel completes the step at once, as a failure. Returns the event's
 * success flag, or -1 when the queue was shut down under it.
 */
static int pluck_idle(grpc_call *call, grpc_completion_queue *cq, void *tag, int64_t idle_ms,
                      atomic_bool *expired)
{
    gpr_timespec until = idle_ms > 0 ? deadline_in(idle_ms) : inf_future();
    for (;;) {
        grpc_event ev = grpc_completion_queue_pluck(cq, tag, until, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            return ev.success;
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return -1;
        if (ev.type == GRPC_QUEUE_TIMEOUT && idle_ms > 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "no progress for %lld ms (idle deadline)",
                     (long long)idle_ms);
            if (expired)
                atomic_store(expired, true);
            grpc_call_cancel_with_status(call, GRPC_STATUS_DEADLINE_EXCEEDED, msg, NULL);
            until = inf_future();
        }
    }
}

/*
 * Starts a batch and waits for its tag on the call's pluck queue (see
 * pluck_idle for idle_ms and expired). Returns JCS_OK with *ok set to the
 * batch's success flag, or JCS_EINTERNAL when gRPC refused the batch (a
 * bug in this file: wrong op order or count).
 */
static int batch(grpc_call *call, grpc_completion_queue *cq, const grpc_op *ops, size_t n,
                 void *tag, int *ok, int64_t idle_ms, atomic_bool *expired)
{
    grpc_call_error e = grpc_call_start_batch(call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK)
        return jcs_err_set(JCS_EINTERNAL, "rpc: grpc_call_start_batch: %s",
                           grpc_call_error_to_string(e));
    int r = pluck_idle(call, cq, tag, idle_ms, expired);
    if (r < 0)
        return jcs_err_set(JCS_EINTERNAL, "rpc: completion queue shut down under a batch");
    *ok = r;
    return JCS_OK;
}

static void cq_destroy(grpc_completion_queue *cq)
{
    if (!cq)
        return;
    /* Every tag was plucked, so the queue is empty and may go at once. */
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
}

/* A byte buffer holding the packed message; NULL with the detail set on failure. */
static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg, int *rc)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    grpc_slice s;
    grpc_byte_buffer *bb;

    if (size > JCS_RPC_MAX_MESSAGE) {
        *rc = jcs_err_set(JCS_ETOOBIG, "rpc: %s message of %zu bytes is over the %d byte limit",
                          msg->descriptor->name, size, JCS_RPC_MAX_MESSAGE);
        return NULL;
    }
    s = grpc_slice_malloc(size);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    *rc = JCS_OK;
    return bb;
}

static grpc_byte_buffer *raw_buffer(const void *data, size_t len, int *rc)
{
    grpc_slice s;
    grpc_byte_buffer *bb;

    if (len > JCS_RPC_MAX_MESSAGE) {
        *rc = jcs_err_set(JCS_ETOOBIG, "rpc: raw message of %zu bytes is over the %d byte limit",
                          len, JCS_RPC_MAX_MESSAGE);
        return NULL;
    }
    /*
     * gRPC may hold the slice after the send completes (TLS framing), so the
     * caller's bytes are copied once into a slice gRPC owns.
     */
    s = grpc_slice_malloc(len);
    if (len)
        memcpy(GRPC_SLICE_START_PTR(s), data, len);
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    *rc = JCS_OK;
    return bb;
}

/*
 * A byte buffer over the caller's bytes (no copy); gRPC calls release(arg)
 * when it drops the slice. On failure release runs at once.
 */
static grpc_byte_buffer *owned_buffer(const void *data, size_t len, void (*release)(void *),
                                      void *arg, int *rc)
{
    if (len > JCS_RPC_MAX_MESSAGE) {
        release(arg);
        *rc = jcs_err_set(JCS_ETOOBIG, "rpc: raw message of %zu bytes is over the %d byte limit",
                          len, JCS_RPC_MAX_MESSAGE);
        return NULL;
    }
    if (len == 0) {
        release(arg);
        return raw_buffer(data, 0, rc);
    }
    grpc_slice s = grpc_slice_new_with_user_data((void *)data, len, release, arg);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    *rc = JCS_OK;
    return bb;
}

struct jcs_rpc_msg {
    grpc_byte_buffer *bb;
    size_t n;
    struct iovec iov[];
};

void jcs_rpc_msg_free(void *msg)
{
    struct jcs_rpc_msg *m = msg;
    if (!m)
        return;
    grpc_byte_buffer_destroy(m->bb);
    jcs_free(m);
}

/*
 * Wraps a received buffer (taken over) as a message whose pieces are its
 * slices: the reader of an uncompressed buffer hands out the buffer's own
 * slices, which stay valid as long as the buffer.
 */
static int wrap_msg(grpc_byte_buffer *bb, jcs_rpc_msg **out, const char *who)
{
    grpc_byte_buffer_reader rd;
    grpc_slice *s;
    size_t n = 0;
    if (!grpc_byte_buffer_reader_init(&rd, bb)) {
        grpc_byte_buffer_destroy(bb);
        return jcs_err_set(JCS_ERPC, "%s: cannot read a received message", who);
    }
    while (grpc_byte_buffer_reader_peek(&rd, &s))
        n++;
    grpc_byte_buffer_reader_destroy(&rd);
    jcs_rpc_msg *m = jcs_malloc(sizeof(*m) + (n ? n : 1) * sizeof(struct iovec));
    if (!m) {
        grpc_byte_buffer_destroy(bb);
        return jcs_err_set(JCS_ENOMEM, "%s: out of memory", who);
    }
    m->bb = bb;
    m->n = 0;
    if (!grpc_byte_buffer_reader_init(&rd, bb)) {
        jcs_rpc_msg_free(m);
        return jcs_err_set(JCS_ERPC, "%s: cannot read a received message", who);
    }
    while (m->n < n && grpc_byte_buffer_reader_peek(&rd, &s)) {
        m->iov[m->n].iov_base = GRPC_SLICE_START_PTR(*s);
        m->iov[m->n].iov_len = GRPC_SLICE_LENGTH(*s);
        m->n++;
    }
    grpc_byte_buffer_reader_destroy(&rd);
    *out = m;
    return JCS_OK;
}

/*
 * Copies a received buffer into buf (cap bytes) slice by slice. JCS_ETOOBIG
 * when it does not fit; who names the peer in the detail.
 */
static int copy_out(grpc_byte_buffer *bb, void *buf, size_t cap, size_t *len, const char *who)
{
    grpc_byte_buffer_reader rd;
    grpc_slice *s;
    size_t total = grpc_byte_buffer_length(bb), off = 0;

    if (total > cap)
        return jcs_err_set(JCS_ETOOBIG, "%s: message of %zu bytes does not fit in %zu", who, total,
                           cap);
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return jcs_err_set(JCS_ERPC, "%s: cannot read a received message", who);
    while (grpc_byte_buffer_reader_peek(&rd, &s)) {
        size_t n = GRPC_SLICE_LENGTH(*s);
        if (n > cap - off) {
            grpc_byte_buffer_reader_destroy(&rd);
            return jcs_err_set(JCS_ETOOBIG, "%s: message larger than announced", who);
        }
        memcpy((char *)buf + off, GRPC_SLICE_START_PTR(*s), n);
        off += n;
    }
    grpc_byte_buffer_reader_destroy(&rd);
    *len = off;
    return JCS_OK;
}

/* Unpacks a received buffer as desc. JCS_EINVAL when the bytes are not that message. */
static int unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                  ProtobufCMessage **out, const char *who)
{
    size_t total = grpc_byte_buffer_length(bb), len = 0;
    grpc_byte_buffer_reader rd;
    grpc_slice *s;
    ProtobufCMessage *m;
    uint8_t *tmp = NULL;
    int rc;

    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return jcs_err_set(JCS_ERPC, "%s: cannot read a received message", who);
    /* A message in one slice is unpacked in place; a fragmented one is joined first. */
    if (grpc_byte_buffer_reader_peek(&rd, &s) && GRPC_SLICE_LENGTH(*s) == total) {
        len = total;
        m = protobuf_c_message_unpack(desc, NULL, len, GRPC_SLICE_START_PTR(*s));
        grpc_byte_buffer_reader_destroy(&rd);
    } else {
        grpc_byte_buffer_reader_destroy(&rd);
        tmp = jcs_malloc(total);
        if (!tmp)
            return jcs_err_set(JCS_ENOMEM, "%s: no memory for a %zu byte message", who, total);
        rc = copy_out(bb, tmp, total, &len, who);
        if (rc) {
            jcs_free(tmp);
            return rc;
        }
        m = protobuf_c_message_unpack(desc, NULL, len, tmp);
        jcs_free(tmp);
    }
    if (!m)
        return jcs_err_set(JCS_EINVAL, "%s: %zu received bytes are not a valid %s", who, len,
                           desc->name);
    *out = m;
    return JCS_OK;
}

/* Reads a PEM file into a new string; JCS_ETLS naming the file on failure. */
static int read_pem(const char *what, const char *path, const char *marker, char **out)
{
    size_t len;
    int rc;

    if (!path)
        return jcs_err_set(JCS_ETLS, "%s: no file given", what);
    rc = jcs_read_file(path, MAX_PEM_SIZE, out, &len);
    if (rc)
        return jcs_err_set(rc == JCS_ENOMEM ? rc : JCS_ETLS, "%s %s: cannot read: %s", what, path,
                           jcs_err_msg(rc));
    if (!strstr(*out, "-----BEGIN ") || !strstr(*out, marker)) {
        jcs_free(*out);
        *out = NULL;
        return jcs_err_set(JCS_ETLS, "%s %s: not PEM (no \"%s\" block)", what, path, marker);
    }
    return JCS_OK;
}

typedef struct pem_set {
    char *ca, *cert, *key;
} pem_set;

static void pem_free(pem_set *p)
{
    jcs_free(p->ca);
    if (p->key) /* keys are wiped before their memory goes back */
        memset(p->key, 0, strlen(p->key));
    jcs_free(p->key);
    jcs_free(p->cert);
    memset(p, 0, sizeof(*p));
}

static int pem_load(const jcs_tls_files *tls, bool need_cert, pem_set *p)
{
    int rc;
    memset(p, 0, sizeof(*p));
    if (!tls)
        return jcs_err_set(JCS_ETLS, "rpc: no TLS files given");
    rc = read_pem("CA certificate", tls->ca_file, "CERTIFICATE-----", &p->ca);
    if (!rc && (need_cert || tls->cert_file)) {
        rc = read_pem("certificate", tls->cert_file, "CERTIFICATE-----", &p->cert);
        if (!rc)
            rc = read_pem("private key", tls->key_file, "PRIVATE KEY-----", &p->key);
    }
    if (rc)
        pem_free(p);
    return rc;
}

/* ------------------------------------------------------------ server */

enum tag_kind { TAG_CALL = 1, TAG_UNKNOWN_METHOD, TAG_SHUTDOWN };

struct jcs_rpc_call {
    enum tag_kind kind; /* first: the accept thread dispatches on it */
    jcs_rpc_server *srv;
    size_t midx;
    grpc_call *call;
    grpc_completion_queue *cq;
    gpr_timespec deadline;
    grpc_metadata_array req_md;
    grpc_call_details details; /* unknown-method requests only */
    char *peer, *peer_name;
    enum jcs_role role;
    bool sent_md;                        /* initial metadata sent (sender side only) */
    int64_t idle_ms, recv_idle_ms;       /* the idle deadlines of send and recv (0: none) */
    atomic_bool idle_expired;            /* a step passed it: the call was cancelled */
    char tag_send, tag_recv, tag_status; /* their addresses are the batch tags */
    jcs_rpc_call *next;                  /* in the server's queue of calls to run */
};

struct jcs_rpc_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    const jcs_rpc_method *methods;
    size_t n;
    void *ctx;
    void **handles;
    int port;
    char *addr;
    enum tag_kind shutdown_tag;

    pthread_t accept_thread;
    bool started, accept_joined, down;
    size_t armed; /* requests in flight; accept thread only after start */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stopping;
    size_t live; /* calls queued or running, not yet finished */

    /*
     * The handler pool (under mu): calls waiting for a thread, threads alive and idle, and
     * threads promised to the queue (woken from idle or just started) that have not looked
     * at it yet. Idle threads wait on a stack (idle_top), each on its own condition: the
     * thread that went idle last takes the next call, so under a steady trickle of calls
     * (pings, heartbeats) the same few threads serve them and the surplus of a burst, at the
     * bottom, sees no call for POOL_IDLE_MS and exits. (A shared condition wakes waiters in
     * turn, which kept every thread of a burst alive for as long as calls kept coming.)
     */
    pthread_cond_t pool_cv; /* unused since the stack; kept for the destroy calls */
    jcs_rpc_call *queue_head, *queue_tail;
    size_t queued, workers, idle, woken;
    struct pool_waiter *idle_top;
};

struct pool_waiter {
    pthread_cond_t cv;
    struct pool_waiter *next;
    bool popped; /* taken off the stack by dispatch: a call waits for this thread */
};

/* A pool thread with no call for this long exits. */
#define POOL_IDLE_MS 10000

static void call_free(jcs_rpc_call *c)
{
    if (!c)
        return;
    if (c->call)
        grpc_call_unref(c->call);
    cq_destroy(c->cq);
    grpc_metadata_array_destroy(&c->req_md);
    if (c->kind == TAG_UNKNOWN_METHOD)
        grpc_call_details_destroy(&c->details);
    jcs_free(c->peer);
    jcs_free(c->peer_name);
    jcs_free(c);
}

/* Arms one request: for method midx, or for any unknown method when midx == n. */
static void arm(jcs_rpc_server *srv, size_t midx)
{
    jcs_rpc_call *c = jcs_calloc(1, sizeof(*c));
    grpc_call_error e;

    if (!c) {
        jcs_error("rpc server %s: out of memory, method %s is no longer served", srv->addr,
                  midx < srv->n ? srv->methods[midx].name : "(unknown)");
        return;
    }
    c->kind = midx < srv->n ? TAG_CALL : TAG_UNKNOWN_METHOD;
    c->srv = srv;
    c->midx = midx;
    grpc_metadata_array_init(&c->req_md);
    if (c->kind == TAG_UNKNOWN_METHOD)
        grpc_call_details_init(&c->details);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (c->kind == TAG_CALL)
        e = grpc_server_request_registered_call(srv->server, srv->handles[midx], &c->call,
                                                &c->deadline, &c->req_md, NULL, c->cq, srv->cq, c);
    else
        e = grpc_server_request_call(srv->server, &c->call, &c->details, &c->req_md, c->cq, srv->cq,
                                     c);
    if (e != GRPC_CALL_OK) {
        jcs_error("rpc server %s: cannot request calls: %s", srv->addr,
                  grpc_call_error_to_string(e));
        call_free(c);
        return;
    }
    srv->armed++;
}

/*
 * Sends the final status (with initial metadata if none went out yet) and
 * waits for the close. details is one line; the slice lives until the batch
 * completes (gRPC takes it by pointer).
 */
static void send_status(jcs_rpc_call *c, grpc_status_code st, const char *details)
{
    grpc_op ops[3];
    grpc_metadata mark;
    grpc_slice dslice = grpc_slice_from_copied_string(details ? details : "");
    int cancelled = 0, ok, n = 0;

    memset(ops, 0, sizeof(ops));
    memset(&mark, 0, sizeof(mark));
    if (!c->sent_md) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->sent_md = true;
    }
    mark.key = grpc_slice_from_static_string(STATUS_MARK);
    mark.value = grpc_slice_from_static_string(status_name(st));
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = st;
    ops[n].data.send_status_from_server.status_details = &dslice;
    ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    ops[n].data.send_status_from_server.trailing_metadata = &mark;
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &cancelled;
    n++;
    /* A caller that never closes its side (stalled, or its packets dropped) must not keep
     * the handler's thread: the close is waited for at most the process's idle deadline. */
    int brc = batch(c->call, c->cq, ops, (size_t)n, &c->tag_status, &ok, jcs_rpc_idle_timeout_ms(),
                    &c->idle_expired);
    if (brc != JCS_OK)
        jcs_error("rpc server %s: %s", c->srv->addr, jcs_err_msg(brc));
    grpc_slice_unref(dslice);
}

/* Reads the caller's certificate subject, CN and role from the TLS session. */
static void read_peer(jcs_rpc_call *c)
{
    grpc_auth_context *ac = grpc_call_auth_context(c->call);
    grpc_auth_property_iterator it;
    const grpc_auth_property *p;

    if (!ac)
        return;
    it = grpc_auth_context_find_properties_by_name(ac, GRPC_X509_SUBJECT_PROPERTY_NAME);
    p = grpc_auth_property_iterator_next(&it);
    if (p && p->value)
        c->peer = jcs_strndup(p->value, p->value_length);
    it = grpc_auth_context_find_properties_by_name(ac, GRPC_X509_CN_PROPERTY_NAME);
    p = grpc_auth_property_iterator_next(&it);
    if (p && p->value)
        c->peer_name = jcs_strndup(p->value, p->value_length);
    grpc_auth_context_release(ac);
    c->role = role_of_subject(c->peer);
}

/* Runs one accepted call: role check, handler, status; then releases it. */
static void run_call(jcs_rpc_call *c)
{
    jcs_rpc_server *srv = c->srv;
    const jcs_rpc_method *m = &srv->methods[c->midx];
    int rc;

    jcs_err_clear();
    c->idle_ms = c->recv_idle_ms = jcs_rpc_idle_timeout_ms();
    atomic_init(&c->idle_expired, false);
    read_peer(c);
    if (!(c->role & m->roles)) {
        char allowed[64];
        jcs_warn("rpc server %s: refused %s to %s (role %s; allowed: %s)", srv->addr, m->name,
                 c->peer ? c->peer : "(no subject)", jcs_role_name(c->role),
                 roles_str(m->roles, allowed, sizeof(allowed)));
        rc = jcs_err_set(JCS_EPERM, "method %s is not allowed for role %s (subject %s)", m->name,
                         jcs_role_name(c->role), c->peer ? c->peer : "(none)");
    } else {
        rc = m->handler(c, srv->ctx);
        if (rc > 0) /* a stray JCS_EOF (end of stream) is not an error */
            rc = JCS_OK;
    }
    /* Once stopping, the call is cancelled and no batch may start (see the top). */
    if (!atomic_load(&srv->stopping))
        send_status(c, status_of_err(rc), rc ? jcs_err_msg(rc) : "");
    call_free(c);
}

/* A pool thread: runs queued calls until it has been idle POOL_IDLE_MS or the server stops. */
static void *worker_main(void *arg)
{
    jcs_rpc_server *srv = arg;
    struct pool_waiter me = {.next = NULL, .popped = false};
    pthread_cond_init(&me.cv, NULL);
    pthread_mutex_lock(&srv->mu);
    srv->woken--; /* dispatch promised this new thread to the queue */
    for (;;) {
        if (!srv->queue_head) {
            if (atomic_load(&srv->stopping))
                break;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += POOL_IDLE_MS / 1000;
            me.popped = false;
            me.next = srv->idle_top;
            srv->idle_top = &me;
            srv->idle++;
            int w = 0;
            while (!me.popped && w != ETIMEDOUT && !atomic_load(&srv->stopping))
                w = pthread_cond_timedwait(&me.cv, &srv->mu, &until);
            if (me.popped) {
                srv->woken--;
                continue;
            }
            struct pool_waiter **pp = &srv->idle_top;
            while (*pp != &me)
                pp = &(*pp)->next;
            *pp = me.next;
            srv->idle--;
            if (w == ETIMEDOUT && !srv->queue_head)
                break;
            continue;
        }
        jcs_rpc_call *c = srv->queue_head;
        srv->queue_head = c->next;
        if (!srv->queue_head)
            srv->queue_tail = NULL;
        srv->queued--;
        pthread_mutex_unlock(&srv->mu);
        run_call(c);
        pthread_mutex_lock(&srv->mu);
        if (--srv->live == 0)
            pthread_cond_broadcast(&srv->cv);
    }
    srv->workers--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    pthread_cond_destroy(&me.cv);
    return NULL;
}

/* Answers a call the server will not run, on the accept thread (a quick batch). */
static void refuse(jcs_rpc_call *c, grpc_status_code st, const char *details)
{
    if (!atomic_load(&c->srv->stopping))
        send_status(c, st, details);
    call_free(c);
}

static void dispatch(jcs_rpc_server *srv, jcs_rpc_call *c)
{
    pthread_attr_t attr;
    pthread_t t;
    int err = 0;

    pthread_mutex_lock(&srv->mu);
    if (atomic_load(&srv->stopping)) {
        pthread_mutex_unlock(&srv->mu);
        call_free(c);
        return;
    }
    if (srv->live >= MAX_LIVE_CALLS) {
        pthread_mutex_unlock(&srv->mu);
        jcs_warn("rpc server %s: %d calls in progress, refusing %s", srv->addr, MAX_LIVE_CALLS,
                 srv->methods[c->midx].name);
        refuse(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "server busy: too many calls in progress");
        return;
    }
    srv->live++;
    c->next = NULL;
    if (srv->queue_tail)
        srv->queue_tail->next = c;
    else
        srv->queue_head = c;
    srv->queue_tail = c;
    srv->queued++;
    /*
     * A call beyond the threads already promised to the queue gets the idle thread on top of
     * the stack, or a new thread (long streams block one each).
     */
    if (srv->queued > srv->woken) {
        if (srv->idle_top) {
            struct pool_waiter *w = srv->idle_top;
            srv->idle_top = w->next;
            srv->idle--;
            w->popped = true;
            srv->woken++;
            pthread_cond_signal(&w->cv);
        } else {
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            err = pthread_create(&t, &attr, worker_main, srv);
            pthread_attr_destroy(&attr);
            if (!err) {
                srv->workers++;
                srv->woken++;
            }
        }
    }
    if (err && srv->workers == 0) {
        /* No thread can run it: take it back and refuse it. */
        srv->queue_head = srv->queue_tail = NULL;
        srv->queued = 0;
        if (--srv->live == 0)
            pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
        jcs_warn("rpc server %s: cannot start a handler thread: %s", srv->addr, strerror(err));
        refuse(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "server busy: cannot start a thread");
        return;
    }
    pthread_mutex_unlock(&srv->mu);
}

static void *accept_main(void *arg)
{
    jcs_rpc_server *srv = arg;
    bool got_shutdown = false;

    while (!got_shutdown || srv->armed > 0) {
        grpc_event ev = grpc_completion_queue_next(srv->cq, inf_future(), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        enum tag_kind kind = *(enum tag_kind *)ev.tag;
        if (kind == TAG_SHUTDOWN) {
            got_shutdown = true;
            continue;
        }
        jcs_rpc_call *c = ev.tag;
        srv->armed--;
        if (!ev.success) { /* the server is shutting down */
            call_free(c);
            continue;
        }
        /* Re-arm first so the next caller does not wait for this one's set-up. */
        if (!atomic_load(&srv->stopping))
            arm(srv, c->midx);
        if (kind == TAG_UNKNOWN_METHOD) {
            char *m = grpc_slice_to_c_string(c->details.method);
            char line[512];
            snprintf(line, sizeof(line), "unknown method %s", m);
            jcs_debug("rpc server %s: %s", srv->addr, line);
            gpr_free(m);
            refuse(c, GRPC_STATUS_UNIMPLEMENTED, line);
        } else {
            dispatch(srv, c);
        }
    }
    return NULL;
}

int jcs_rpc_server_create(const char *addr, const jcs_tls_files *tls, const jcs_rpc_method *methods,
                          size_t n, void *ctx, jcs_rpc_server **out)
{
    jcs_rpc_server *srv;
    grpc_server_credentials *creds;
    grpc_ssl_pem_key_cert_pair pair;
    pem_set pem;
    grpc_arg args[4];
    grpc_channel_args cargs;
    int rc;

    *out = NULL;
    if (!addr || (n && !methods))
        return jcs_err_set(JCS_EINVAL, "rpc server: no address or no methods");
    rc = pem_load(tls, true, &pem);
    if (rc)
        return jcs_err_wrap(rc, "rpc server %s: ", addr);
    srv = jcs_calloc(1, sizeof(*srv));
    if (srv) {
        srv->addr = jcs_strdup(addr);
        srv->handles = jcs_calloc(n ? n : 1, sizeof(void *));
    }
    if (!srv || !srv->addr || !srv->handles) {
        pem_free(&pem);
        if (srv) {
            jcs_free(srv->addr);
            jcs_free(srv->handles);
        }
        jcs_free(srv);
        return jcs_err_set(JCS_ENOMEM, "rpc server %s: out of memory", addr);
    }
    srv->methods = methods;
    srv->n = n;
    srv->ctx = ctx;
    srv->shutdown_tag = TAG_SHUTDOWN;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    pthread_cond_init(&srv->pool_cv, NULL);
    atomic_init(&srv->stopping, false);

    jcs_rpc_init();
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = JCS_RPC_MAX_MESSAGE;
    /* Clients ping every 20 s on a busy connection; allow it (the default wants 5 min). */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS;
    args[1].value.integer = 10000;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[2].value.integer = -1;
    /* gRPC sets SO_REUSEPORT by default: a second server on a busy port would share it silently. */
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[3].value.integer = 0;
    cargs.num_args = 4;
    cargs.args = args;
    srv->server = grpc_server_create(&cargs, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    for (size_t i = 0; i < n; i++) {
        if (!methods[i].name || methods[i].name[0] != '/' || !methods[i].handler) {
            rc = jcs_err_set(JCS_EINVAL, "rpc server %s: method %zu: bad name or no handler", addr,
                             i);
            goto fail;
        }
        srv->handles[i] = grpc_server_register_method(srv->server, methods[i].name, NULL,
                                                      GRPC_SRM_PAYLOAD_NONE, 0);
        if (!srv->handles[i]) {
            rc = jcs_err_set(JCS_EINVAL, "rpc server %s: method %s: registered twice", addr,
                             methods[i].name);
            goto fail;
        }
    }
    pair.private_key = pem.key;
    pair.cert_chain = pem.cert;
    creds = grpc_ssl_server_credentials_create_ex(
        pem.ca, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
    if (!creds) {
        rc = jcs_err_set(JCS_ETLS, "rpc server %s: certificate %s / key %s: not usable", addr,
                         tls->cert_file, tls->key_file);
        goto fail;
    }
    srv->port = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (srv->port <= 0) {
        rc = jcs_err_set(JCS_EIO,
                         "rpc server %s: cannot listen (address in use or invalid, or "
                         "certificate %s / key %s not usable)",
                         addr, tls->cert_file, tls->key_file);
        goto fail;
    }
    pem_free(&pem);
    *out = srv;
    return JCS_OK;

fail:
    pem_free(&pem);
    /* No port was added, so the server may be destroyed without a shutdown. */
    grpc_server_destroy(srv->server);
    srv->server = NULL;
    grpc_completion_queue_shutdown(srv->cq);
    while (grpc_completion_queue_next(srv->cq, inf_future(), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(srv->cq);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    pthread_cond_destroy(&srv->pool_cv);
    jcs_free(srv->handles);
    jcs_free(srv->addr);
    jcs_free(srv);
    jcs_rpc_shutdown();
    return rc;
}

int jcs_rpc_server_port(const jcs_rpc_server *srv)
{
    return srv->port;
}

int jcs_rpc_server_start(jcs_rpc_server *srv)
{
    int err;

    if (srv->started || srv->down)
        return jcs_err_set(JCS_EINVAL, "rpc server %s: already started or shut down", srv->addr);
    grpc_server_start(srv->server);
    srv->started = true;
    for (size_t i = 0; i <= srv->n; i++)
        arm(srv, i);
    err = pthread_create(&srv->accept_thread, NULL, accept_main, srv);
    if (err) {
        srv->accept_joined = true; /* nothing to join */
        /* The requests are drained by shutdown's own loop below. */
        return jcs_err_set(JCS_EIO, "rpc server %s: cannot start the accept thread: %s", srv->addr,
                           strerror(err));
    }
    return JCS_OK;
}

void jcs_rpc_server_shutdown(jcs_rpc_server *srv)
{
    if (!srv || srv->down)
        return;
    pthread_mutex_lock(&srv->mu);
    atomic_store(&srv->stopping, true);
    pthread_mutex_unlock(&srv->mu);

    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
    grpc_server_cancel_all_calls(srv->server);

    /* Handlers see their batches fail, return, and release their calls; then the pool's
     * threads, woken, see the stop flag and exit. */
    pthread_mutex_lock(&srv->mu);
    while (srv->live > 0)
        pthread_cond_wait(&srv->cv, &srv->mu);
    while (srv->workers > 0) {
        for (struct pool_waiter *w = srv->idle_top; w; w = w->next)
            pthread_cond_signal(&w->cv);
        pthread_cond_wait(&srv->cv, &srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);

    if (srv->started && !srv->accept_joined) {
        pthread_join(srv->accept_thread, NULL);
        srv->accept_joined = true;
    } else {
        /* Never started (or no accept thread): collect the tags here. */
        bool got_shutdown = false;
        while (!got_shutdown || srv->armed > 0) {
            grpc_event ev = grpc_completion_queue_next(srv->cq, inf_future(), NULL);
            if (ev.type != GRPC_OP_COMPLETE)
                break;
            if (*(enum tag_kind *)ev.tag == TAG_SHUTDOWN) {
                got_shutdown = true;
            } else {
                srv->armed--;
                call_free(ev.tag);
            }
        }
    }
    grpc_server_destroy(srv->server);
    srv->server = NULL;
    grpc_completion_queue_shutdown(srv->cq);
    while (grpc_completion_queue_next(srv->cq, inf_future(), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(srv->cq);
    srv->cq = NULL;
    srv->down = true;
    jcs_rpc_shutdown();
}

void jcs_rpc_server_free(jcs_rpc_server *srv)
{
    if (!srv)
        return;
    jcs_rpc_server_shutdown(srv);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    pthread_cond_destroy(&srv->pool_cv);
    jcs_free(srv->handles);
    jcs_free(srv->addr);
    jcs_free(srv);
}

/* ------------------------------------------------------------ server calls */

static int call_cancelled(const jcs_rpc_call *c, const char *what)
{
    if (atomic_load(&c->idle_expired))
        return jcs_err_set(JCS_ETIMEOUT,
                           "%s %s from %s: no progress for %lld ms (the caller is stalled or "
                           "unreachable); call cancelled",
                           what, c->srv->methods[c->midx].name, c->peer ? c->peer : "(unknown)",
                           (long long)c->idle_ms);
    return jcs_err_set(JCS_ECANCELED,
                       "%s %s from %s: call cancelled (client gone, deadline "
                       "passed or server shutting down)",
                       what, c->srv->methods[c->midx].name, c->peer ? c->peer : "(unknown)");
}

/* One RECV_MESSAGE; *bb NULL at the end of the client's stream. */
static int call_recv_buffer(jcs_rpc_call *c, grpc_byte_buffer **bb)
{
    grpc_op op;
    int ok, rc;

    *bb = NULL;
    if (atomic_load(&c->srv->stopping))
        return call_cancelled(c, "recv");
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = bb;
    rc = batch(c->call, c->cq, &op, 1, &c->tag_recv, &ok, c->recv_idle_ms, &c->idle_expired);
    if (rc)
        return rc;
    if (!ok || (!*bb && (atomic_load(&c->srv->stopping) || atomic_load(&c->idle_expired)))) {
        if (*bb)
            grpc_byte_buffer_destroy(*bb);
        *bb = NULL;
        return call_cancelled(c, "recv");
    }
    return JCS_OK;
}

int jcs_rpc_call_recv(jcs_rpc_call *c, const ProtobufCMessageDescriptor *desc,
                      ProtobufCMessage **out)
{
    grpc_byte_buffer *bb;
    int rc;

    *out = NULL;
    rc = call_recv_buffer(c, &bb);
    if (rc)
        return rc;
    if (!bb)
        return JCS_EOF;
    rc = unpack(bb, desc, out, c->peer ? c->peer : "rpc peer");
    grpc_byte_buffer_destroy(bb);
    return rc;
}

int jcs_rpc_call_recv_raw(jcs_rpc_call *c, void *buf, size_t cap, size_t *len)
{
    grpc_byte_buffer *bb;
    int rc;

    *len = 0;
    rc = call_recv_buffer(c, &bb);
    if (rc)
        return rc;
    if (!bb)
        return JCS_EOF;
    rc = copy_out(bb, buf, cap, len, c->peer ? c->peer : "rpc peer");
    grpc_byte_buffer_destroy(bb);
    return rc;
}

static int call_send_buffer(jcs_rpc_call *c, grpc_byte_buffer *bb)
{
    grpc_op ops[2];
    int ok, rc, n = 0;

    if (atomic_load(&c->srv->stopping)) {
        grpc_byte_buffer_destroy(bb);
        return call_cancelled(c, "send");
    }
    memset(ops, 0, sizeof(ops));
    if (!c->sent_md) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->sent_md = true;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    rc = batch(c->call, c->cq, ops, (size_t)n, &c->tag_send, &ok, c->idle_ms, &c->idle_expired);
    grpc_byte_buffer_destroy(bb);
    if (rc)
        return rc;
    if (!ok)
        return call_cancelled(c, "send");
    return JCS_OK;
}

int jcs_rpc_call_send(jcs_rpc_call *c, const ProtobufCMessage *msg)
{
    int rc;
    grpc_byte_buffer *bb = pack_message(msg, &rc);
    return bb ? call_send_buffer(c, bb) : rc;
}

int jcs_rpc_call_send_raw(jcs_rpc_call *c, const void *data, size_t len)
{
    int rc;
    grpc_byte_buffer *bb = raw_buffer(data, len, &rc);
    return bb ? call_send_buffer(c, bb) : rc;
}

int jcs_rpc_call_send_owned(jcs_rpc_call *c, const void *data, size_t len, void (*release)(void *),
                            void *arg)
{
    int rc;
    grpc_byte_buffer *bb = owned_buffer(data, len, release, arg, &rc);
    return bb ? call_send_buffer(c, bb) : rc;
}

int jcs_rpc_call_recv_msg(jcs_rpc_call *c, jcs_rpc_msg **msg, const struct iovec **iov, size_t *n)
{
    grpc_byte_buffer *bb;
    *msg = NULL;
    *iov = NULL;
    *n = 0;
    int rc = call_recv_buffer(c, &bb);
    if (rc)
        return rc;
    if (!bb)
        return JCS_EOF;
    if ((rc = wrap_msg(bb, msg, c->peer ? c->peer : "rpc peer")) != 0)
        return rc;
    *iov = (*msg)->iov;
    *n = (*msg)->n;
    return JCS_OK;
}

const char *jcs_rpc_call_peer(const jcs_rpc_call *c)
{
    return c->peer ? c->peer : "";
}

enum jcs_role jcs_rpc_call_role(const jcs_rpc_call *c)
{
    return c->role;
}

const char *jcs_rpc_call_peer_name(const jcs_rpc_call *c)
{
    return c->peer_name ? c->peer_name : "";
}

void jcs_rpc_call_set_recv_idle_ms(jcs_rpc_call *c, int64_t ms)
{
    c->recv_idle_ms = ms > 0 ? ms : 0;
}

void jcs_rpc_call_cancel(jcs_rpc_call *c)
{
    grpc_call_cancel(c->call, NULL);
}

int64_t jcs_rpc_call_time_left_ms(const jcs_rpc_call *c)
{
    gpr_timespec d = c->deadline, now, left;

    if (gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0)
        return INT64_MAX;
    d = gpr_convert_clock_type(d, GPR_CLOCK_MONOTONIC);
    now = gpr_now(GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(d, now) <= 0)
        return 0;
    left = gpr_time_sub(d, now);
    return (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ client */

/*
 * One gRPC channel, which holds one connection, of a jcs_rpc_channel. Each
 * call holds a reference: a connection replaced because it was found dead
 * (channel_dead) is destroyed when its last call has ended, never under a
 * call.
 */
struct conn {
    grpc_channel *g;
    atomic_int refs;
};

struct jcs_rpc_channel {
    char *target;
    grpc_channel_credentials *creds;
    pthread_mutex_t mu;
    struct conn *cur; /* what new calls use */
    atomic_llong resets;
};

static void conn_release(struct conn *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        grpc_channel_destroy(c->g);
        jcs_free(c);
    }
}

/* A new gRPC channel (it connects at its first call) for ch; NULL out of memory. */
static struct conn *conn_new(jcs_rpc_channel *ch)
{
    grpc_arg args[8];
    grpc_channel_args cargs;
    struct conn *c = jcs_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = JCS_RPC_MAX_MESSAGE;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = -1;
    /* A peer that vanished mid-stream is noticed within ~30 s instead of never. */
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_KEEPALIVE_TIME_MS;
    args[2].value.integer = 20000;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
    args[3].value.integer = 10000;
    /* A restarted peer is retried within seconds, not after gRPC's 2 min backoff. */
    args[4].type = GRPC_ARG_INTEGER;
    args[4].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[4].value.integer = 1000;
    args[5].type = GRPC_ARG_INTEGER;
    args[5].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[5].value.integer = 200;
    /* Channels never share connections, so each keeps its own credentials and failures. */
    args[6].type = GRPC_ARG_INTEGER;
    args[6].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[6].value.integer = 1;
    /*
     * No retries: a call cut off by a server going away must fail now, not
     * be retried transparently until its deadline (seen with 1.51), and the
     * retry filter would also keep copies of sent messages.
     */
    args[7].type = GRPC_ARG_INTEGER;
    args[7].key = GRPC_ARG_ENABLE_RETRIES;
    args[7].value.integer = 0;
    cargs.num_args = sizeof(args) / sizeof(args[0]);
    cargs.args = args;
    c->g = grpc_channel_create(ch->target, ch->creds, &cargs);
    atomic_init(&c->refs, 1);
    return c;
}

/* The connection a new call uses, with a reference the call drops (conn_release). */
static struct conn *channel_acquire(jcs_rpc_channel *ch)
{
    pthread_mutex_lock(&ch->mu);
    struct conn *c = ch->cur;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_unlock(&ch->mu);
    return c;
}

/*
 * A call on connection c ended in a way that says the connection may be
 * dead (gRPC's own UNAVAILABLE or DEADLINE_EXCEEDED: no answer from the
 * peer). New calls get a new connection; c lives on for the calls still on
 * it. Why: a peer that was unreachable for a while (a firewall dropping its
 * packets, a network partition) leaves the TCP connection with unacked data
 * in exponential retransmission backoff. When the peer is back, the next
 * retransmission may still be seconds away, and TCP_USER_TIMEOUT (gRPC's
 * keepalive timeout, 10 s) kills the connection in between: every call
 * started on it then fails with "Connection timed out" although the peer
 * answers. A fresh connection reaches a peer that is back at once (or fails
 * fast while it is not); gRPC itself keeps using a connection until the
 * kernel gives up on it. A false alarm costs one TLS handshake.
 */
static void channel_dead(jcs_rpc_channel *ch, struct conn *c)
{
    struct conn *old = NULL;
    pthread_mutex_lock(&ch->mu);
    if (c == ch->cur) {
        struct conn *n = conn_new(ch);
        if (n) {
            old = ch->cur;
            ch->cur = n;
            atomic_fetch_add(&ch->resets, 1);
        }
    }
    pthread_mutex_unlock(&ch->mu);
    if (old) {
        jcs_debug("rpc %s: a call found the connection dead; new calls use a new one", ch->target);
        conn_release(old);
    }
}

int jcs_rpc_channel_open(const char *target, const jcs_tls_files *tls, jcs_rpc_channel **out)
{
    jcs_rpc_channel *ch;
    grpc_ssl_pem_key_cert_pair pair;
    pem_set pem;
    int rc;

    *out = NULL;
    if (!target || !*target)
        return jcs_err_set(JCS_EINVAL, "rpc channel: no target");
    rc = pem_load(tls, false, &pem);
    if (rc)
        return jcs_err_wrap(rc, "rpc channel to %s: ", target);
    ch = jcs_calloc(1, sizeof(*ch));
    if (ch)
        ch->target = jcs_strdup(target);
    if (!ch || !ch->target) {
        pem_free(&pem);
        jcs_free(ch);
        return jcs_err_set(JCS_ENOMEM, "rpc channel to %s: out of memory", target);
    }
    jcs_rpc_init();
    pair.private_key = pem.key;
    pair.cert_chain = pem.cert;
    ch->creds = grpc_ssl_credentials_create(pem.ca, pem.cert ? &pair : NULL, NULL, NULL);
    pem_free(&pem);
    if (ch->creds)
        ch->cur = conn_new(ch);
    if (!ch->creds || !ch->cur) {
        rc = ch->creds
                 ? jcs_err_set(JCS_ENOMEM, "rpc channel to %s: out of memory", target)
                 : jcs_err_set(JCS_ETLS, "rpc channel to %s: TLS credentials not usable", target);
        if (ch->creds)
            grpc_channel_credentials_release(ch->creds);
        jcs_free(ch->target);
        jcs_free(ch);
        jcs_rpc_shutdown();
        return rc;
    }
    pthread_mutex_init(&ch->mu, NULL);
    atomic_init(&ch->resets, 0);
    *out = ch;
    return JCS_OK;
}

const char *jcs_rpc_channel_target(const jcs_rpc_channel *ch)
{
    return ch->target;
}

void jcs_rpc_channel_reset(jcs_rpc_channel *ch)
{
    pthread_mutex_lock(&ch->mu);
    struct conn *c = ch->cur;
    pthread_mutex_unlock(&ch->mu);
    channel_dead(ch, c);
}

long long jcs_rpc_channel_resets(jcs_rpc_channel *ch)
{
    return atomic_load(&ch->resets);
}

void jcs_rpc_channel_free(jcs_rpc_channel *ch)
{
    if (!ch)
        return;
    conn_release(ch->cur);
    grpc_channel_credentials_release(ch->creds);
    pthread_mutex_destroy(&ch->mu);
    jcs_free(ch->target);
    jcs_free(ch);
    jcs_rpc_shutdown();
}

/*
 * Turns a final status into a jcs_err code with its detail. A status sent by
 * a JCS server (marked) keeps its text; one made by gRPC names the target
 * and method.
 */
static int client_status(jcs_rpc_channel *ch, struct conn *conn, const char *method,
                         int64_t timeout_ms, grpc_status_code st, grpc_slice details,
                         const grpc_metadata_array *trailing)
{
    char *text;
    bool marked = false;
    int rc = err_of_status(st);

    if (st == GRPC_STATUS_OK)
        return JCS_OK;
    for (size_t i = 0; i < trailing->count; i++)
        if (grpc_slice_str_cmp(trailing->metadata[i].key, STATUS_MARK) == 0)
            marked = true;
    /* A status gRPC made up (no answer, connection lost), not one a server sent. */
    if (!marked && (st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_DEADLINE_EXCEEDED))
        channel_dead(ch, conn);
    text = grpc_slice_to_c_string(details);
    if (marked)
        jcs_err_set(rc, "%s", text);
    else if (st == GRPC_STATUS_UNAVAILABLE)
        jcs_err_set(rc, "%s: unreachable, TLS handshake refused or connection lost (%s %s: %s)",
                    ch->target, method, status_name(st), text);
    else if (st == GRPC_STATUS_DEADLINE_EXCEEDED)
        jcs_err_set(rc, "%s %s: no answer within %lld ms", ch->target, method,
                    (long long)timeout_ms);
    else
        jcs_err_set(rc, "%s %s: %s: %s", ch->target, method, status_name(st), text);
    gpr_free(text);
    return rc;
}

/* One unary call in flight (jcs_rpc_unary_all). */
struct unary_run {
    grpc_call *call;
    grpc_byte_buffer *send_bb, *recv_bb;
    grpc_metadata_array initial, trailing;
    grpc_status_code st;
    grpc_slice details;
    struct conn *conn; /* the connection the call runs on (a reference) */
    int started;
};

/* Starts entry u's call on cq; 0 or the error (also stored in u->rc). */
static int unary_start(jcs_rpc_unary_call *u, struct unary_run *r, grpc_completion_queue *cq,
                       gpr_timespec deadline)
{
    grpc_op ops[6];
    int rc;

    r->st = GRPC_STATUS_UNKNOWN;
    r->details = grpc_empty_slice();
    grpc_metadata_array_init(&r->initial);
    grpc_metadata_array_init(&r->trailing);
    r->send_bb = pack_message(u->req, &rc);
    if (!r->send_bb)
        return jcs_err_wrap(rc, "%s %s: ", u->ch->target, u->method);
    grpc_slice mslice = grpc_slice_from_copied_string(u->method);
    r->conn = channel_acquire(u->ch);
    r->call = grpc_channel_create_call(r->conn->g, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice, NULL,
                                       deadline, NULL);
    grpc_slice_unref(mslice);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = r->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &r->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &r->recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &r->st;
    ops[5].data.recv_status_on_client.status_details = &r->details;
    ops[5].data.recv_status_on_client.trailing_metadata = &r->trailing;
    grpc_call_error e = grpc_call_start_batch(r->call, ops, 6, r, NULL);
    if (e != GRPC_CALL_OK)
        return jcs_err_set(JCS_EINTERNAL, "rpc: grpc_call_start_batch: %s",
                           grpc_call_error_to_string(e));
    r->started = 1;
    return JCS_OK;
}

/* The finished call's result into u; frees what r holds. */
static int unary_end(jcs_rpc_unary_call *u, struct unary_run *r, int64_t timeout_ms)
{
    int rc = client_status(u->ch, r->conn, u->method, timeout_ms, r->st, r->details, &r->trailing);
    if (!rc && !r->recv_bb)
        rc = jcs_err_set(JCS_ERPC, "%s %s: the server sent no response", u->ch->target, u->method);
    if (!rc) {
        char who[256];
        snprintf(who, sizeof(who), "%s %s: response", u->ch->target, u->method);
        rc = unpack(r->recv_bb, u->resp_desc, &u->resp, who);
    }
    return rc;
}

static void unary_free(struct unary_run *r)
{
    if (r->recv_bb)
        grpc_byte_buffer_destroy(r->recv_bb);
    if (r->send_bb)
        grpc_byte_buffer_destroy(r->send_bb);
    grpc_slice_unref(r->details);
    grpc_metadata_array_destroy(&r->initial);
    grpc_metadata_array_destroy(&r->trailing);
    if (r->call)
        grpc_call_unref(r->call);
    conn_release(r->conn);
    r->conn = NULL;
}

int jcs_rpc_unary_all(jcs_rpc_unary_call *calls, size_t n, int64_t timeout_ms)
{
    struct unary_run one, *runs = &one;
    if (n == 0)
        return JCS_OK;
    /* Every call has a deadline: one without would wait forever for a stalled peer. */
    if (timeout_ms <= 0)
        return jcs_err_set(JCS_EINVAL, "rpc: %s %s called without a deadline",
                           calls[0].ch ? calls[0].ch->target : "?",
                           calls[0].method ? calls[0].method : "?");
    if (n > 1 && !(runs = jcs_calloc(n, sizeof(*runs))))
        return jcs_err_set(JCS_ENOMEM, "rpc: out of memory for %zu calls", n);
    memset(runs, 0, n * sizeof(*runs));
    /* One queue and one deadline for all: the calls run at once, the caller waits once. */
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = deadline_in(timeout_ms);
    size_t first = 0; /* 1 + the first failed entry; 0: none failed */
    for (size_t i = 0; i < n; i++) {
        calls[i].resp = NULL;
        calls[i].rc = unary_start(&calls[i], &runs[i], cq, deadline);
        if (calls[i].rc)
            snprintf(calls[i].detail, sizeof calls[i].detail, "%s", jcs_err_msg(calls[i].rc));
    }
    for (size_t i = 0; i < n; i++) {
        if (!runs[i].started)
            continue;
        for (;;) {
            grpc_event ev = grpc_completion_queue_pluck(cq, &runs[i], inf_future(), NULL);
            if (ev.type == GRPC_OP_COMPLETE || ev.type == GRPC_QUEUE_SHUTDOWN)
                break;
        }
        calls[i].rc = unary_end(&calls[i], &runs[i], timeout_ms);
        if (calls[i].rc)
            snprintf(calls[i].detail, sizeof calls[i].detail, "%s", jcs_err_msg(calls[i].rc));
    }
    for (size_t i = 0; i < n; i++) {
        unary_free(&runs[i]);
        if (calls[i].rc && !first)
            first = i + 1;
    }
    cq_destroy(cq);
    if (runs != &one)
        jcs_free(runs);
    if (!first)
        return JCS_OK;
    /* The first failed call's code and detail, on this thread. */
    return jcs_err_set(calls[first - 1].rc, "%s", calls[first - 1].detail);
}

int jcs_rpc_unary(jcs_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                  int64_t timeout_ms)
{
    jcs_rpc_unary_call c = {.ch = ch, .method = method, .req = req, .resp_desc = resp_desc};
    int rc = jcs_rpc_unary_all(&c, 1, timeout_ms);
    *resp = c.resp;
    return rc;
}

/* ------------------------------------------------------------ unary groups */

/* One call of a group: its gRPC state and the caller's entry. */
struct group_run {
    struct unary_run r;
    jcs_rpc_unary_call *c;
    struct group_run *next; /* the group's list of calls in flight */
};

struct jcs_rpc_unary_group {
    grpc_completion_queue *cq; /* a "next" queue: any call's completion, in arrival order */
    gpr_timespec deadline;
    int64_t timeout_ms;
    struct group_run *live;
    size_t nlive;
};

int jcs_rpc_unary_group_new(int64_t timeout_ms, jcs_rpc_unary_group **out)
{
    jcs_rpc_unary_group *g = jcs_calloc(1, sizeof(*g));
    if (!g)
        return jcs_err_set(JCS_ENOMEM, "rpc: out of memory for a call group");
    g->cq = grpc_completion_queue_create_for_next(NULL);
    g->deadline = deadline_in(timeout_ms);
    g->timeout_ms = timeout_ms;
    *out = g;
    return JCS_OK;
}

int jcs_rpc_unary_group_start(jcs_rpc_unary_group *g, jcs_rpc_unary_call *c)
{
    struct group_run *gr = jcs_calloc(1, sizeof(*gr));
    if (!gr) {
        c->rc = jcs_err_set(JCS_ENOMEM, "rpc: out of memory for a call");
        snprintf(c->detail, sizeof c->detail, "%s", jcs_err_msg(c->rc));
        return c->rc;
    }
    c->resp = NULL;
    gr->c = c;
    c->rc = unary_start(c, &gr->r, g->cq, g->deadline);
    if (c->rc) {
        int rc = c->rc;
        snprintf(c->detail, sizeof c->detail, "%s", jcs_err_msg(rc));
        unary_free(&gr->r);
        jcs_free(gr);
        return jcs_err_set(rc, "%s", c->detail);
    }
    gr->next = g->live;
    g->live = gr;
    g->nlive++;
    return JCS_OK;
}

size_t jcs_rpc_unary_group_pending(const jcs_rpc_unary_group *g)
{
    return g->nlive;
}

/* Takes gr out of g's list of calls in flight. */
static void group_unlink(jcs_rpc_unary_group *g, struct group_run *gr)
{
    for (struct group_run **p = &g->live; *p; p = &(*p)->next)
        if (*p == gr) {
            *p = gr->next;
            g->nlive--;
            return;
        }
}

int jcs_rpc_unary_group_next(jcs_rpc_unary_group *g, int64_t wait_ms, jcs_rpc_unary_call **done)
{
    if (!g->live)
        return JCS_EOF;
    gpr_timespec until = wait_ms < 0 ? inf_future() : deadline_in(wait_ms > 0 ? wait_ms : 1);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(g->cq, until, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            return jcs_err_set(JCS_ETIMEOUT, "rpc: no call of the group finished within %lld ms",
                               (long long)wait_ms);
        if (ev.type != GRPC_OP_COMPLETE)
            return jcs_err_set(JCS_EINTERNAL, "rpc: call group queue shut down");
        struct group_run *gr = ev.tag;
        group_unlink(g, gr);
        jcs_rpc_unary_call *c = gr->c;
        c->rc = unary_end(c, &gr->r, g->timeout_ms);
        if (c->rc)
            snprintf(c->detail, sizeof c->detail, "%s", jcs_err_msg(c->rc));
        unary_free(&gr->r);
        jcs_free(gr);
        *done = c;
        return JCS_OK;
    }
}

void jcs_rpc_unary_group_free(jcs_rpc_unary_group *g)
{
    if (!g)
        return;
    for (struct group_run *gr = g->live; gr; gr = gr->next)
        grpc_call_cancel(gr->r.call, NULL);
    /* A cancelled call still completes its batch: wait for each before freeing its buffers. */
    while (g->live) {
        grpc_event ev = grpc_completion_queue_next(g->cq, inf_future(), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        struct group_run *gr = ev.tag;
        group_unlink(g, gr);
        gr->c->rc = JCS_ECANCELED;
        snprintf(gr->c->detail, sizeof gr->c->detail, "call cancelled: a faster one answered");
        gr->c->resp = NULL;
        unary_free(&gr->r);
        jcs_free(gr);
    }
    grpc_completion_queue_shutdown(g->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(g->cq, inf_future(), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    grpc_completion_queue_destroy(g->cq);
    jcs_free(g);
}

/* ------------------------------------------------------------ client streams */

enum status_state { ST_PENDING, ST_PLUCKING, ST_DONE };

struct jcs_rpc_stream {
    jcs_rpc_channel *ch;
    struct conn *conn; /* the connection the call runs on (a reference) */
    char *method;
    int64_t timeout_ms;
    int64_t idle_ms; /* each send, receive and close completes within this, or the call fails */
    grpc_call *call;
    grpc_completion_queue *cq;
    atomic_bool cancelled;
    atomic_bool idle_expired; /* a step passed idle_ms: the call was cancelled */
    bool md_started, md_done; /* the RECV_INITIAL_METADATA batch started at open */
    grpc_metadata_array initial;
    char tag_send, tag_recv, tag_md, tag_status;

    /* The status batch, started at open; plucked by the first thread that needs it. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum status_state st_state;
    bool status_started;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array trailing;
    int final_rc;
    char *final_msg;
};

/*
 * How long a stream whose send or receive failed waits for the final status
 * before cancelling the call itself. gRPC 1.51 can hold the status of a
 * client stream whose writes were stalled by flow control until the
 * deadline when the server goes away (seen on server shutdown: the GOAWAY
 * and trailers arrive, the stream's write side never closes).
 */
#define STATUS_GRACE_MS 2000

/*
 * Waits for the final status; returns it as a jcs_err code with the detail
 * set. grace_ms > 0: after that long, cancel the call so that gRPC delivers
 * whatever status it has (the peer's if it arrived, CANCELLED otherwise).
 */
static int stream_status(jcs_rpc_stream *st, int64_t grace_ms)
{
    pthread_mutex_lock(&st->mu);
    if (st->st_state == ST_PENDING && st->status_started) {
        st->st_state = ST_PLUCKING;
        pthread_mutex_unlock(&st->mu);
        gpr_timespec until = grace_ms > 0 ? deadline_in(grace_ms) : inf_future();
        for (;;) {
            grpc_event ev = grpc_completion_queue_pluck(st->cq, &st->tag_status, until, NULL);
            if (ev.type == GRPC_OP_COMPLETE)
                break;
            if (ev.type == GRPC_QUEUE_TIMEOUT && grace_ms > 0) {
                jcs_debug("rpc %s %s: no final status %lld ms after the stream failed; "
                          "cancelling",
                          st->ch->target, st->method, (long long)grace_ms);
                grpc_call_cancel_with_status(st->call, GRPC_STATUS_UNAVAILABLE,
                                             "stream closed by the peer without a status", NULL);
                until = inf_future();
            }
        }
        /* The call is over, so the initial metadata batch has completed too. */
        if (st->md_started && !st->md_done) {
            grpc_completion_queue_pluck(st->cq, &st->tag_md, inf_future(), NULL);
            st->md_done = true;
        }
        int rc = client_status(st->ch, st->conn, st->method, st->timeout_ms, st->status,
                               st->details, &st->trailing);
        if (rc && atomic_load(&st->idle_expired))
            rc = jcs_err_set(JCS_ETIMEOUT,
                             "%s %s: no progress for %lld ms (the peer is stalled or "
                             "unreachable); call cancelled",
                             st->ch->target, st->method, (long long)st->idle_ms);
        char *msg = rc ? jcs_strdup(jcs_err_msg(rc)) : NULL;
        pthread_mutex_lock(&st->mu);
        st->final_rc = rc;
        st->final_msg = msg;
        st->st_state = ST_DONE;
        pthread_cond_broadcast(&st->cv);
    }
    while (st->st_state == ST_PLUCKING)
        pthread_cond_wait(&st->cv, &st->mu);
    int rc = st->final_rc;
    const char *msg = st->final_msg;
    if (rc)
        jcs_err_set(rc, "%s", msg ? msg : jcs_strerror(rc));
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* The error for a send or receive that failed: cancelled by us, or the call's status. */
static int stream_failed(jcs_rpc_stream *st, const char *what)
{
    int rc;
    if (atomic_load(&st->cancelled))
        return jcs_err_set(JCS_ECANCELED, "%s %s: %s: stream cancelled", st->ch->target, st->method,
                           what);
    rc = stream_status(st, STATUS_GRACE_MS);
    if (rc == JCS_OK) /* the call ended well but this operation could not run */
        rc = jcs_err_set(JCS_ERPC, "%s %s: %s after the call had ended", st->ch->target, st->method,
                         what);
    return rc;
}

void jcs_rpc_stream_free(jcs_rpc_stream *st)
{
    if (!st)
        return;
    if (st->call) {
        pthread_mutex_lock(&st->mu);
        bool pending = st->status_started && st->st_state != ST_DONE;
        pthread_mutex_unlock(&st->mu);
        if (pending || (st->md_started && !st->md_done)) {
            atomic_store(&st->cancelled, true);
            grpc_call_cancel(st->call, NULL);
        }
        if (pending)
            (void)stream_status(st, 0);
        if (st->md_started && !st->md_done) { /* only when the status batch never started */
            grpc_completion_queue_pluck(st->cq, &st->tag_md, inf_future(), NULL);
            st->md_done = true;
        }
        grpc_call_unref(st->call);
    }
    conn_release(st->conn);
    cq_destroy(st->cq);
    grpc_metadata_array_destroy(&st->initial);
    grpc_metadata_array_destroy(&st->trailing);
    grpc_slice_unref(st->details);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    jcs_free(st->final_msg);
    jcs_free(st->method);
    jcs_free(st);
}

int jcs_rpc_stream_open(jcs_rpc_channel *ch, const char *method, int64_t timeout_ms,
                        jcs_rpc_stream **out)
{
    jcs_rpc_stream *st;
    grpc_slice mslice;
    grpc_op op;
    grpc_call_error e, e_first = GRPC_CALL_OK;
    int ok, rc;

    *out = NULL;
    st = jcs_calloc(1, sizeof(*st));
    if (st)
        st->method = jcs_strdup(method);
    if (!st || !st->method) {
        jcs_free(st);
        return jcs_err_set(JCS_ENOMEM, "%s %s: out of memory", ch->target, method);
    }
    st->ch = ch;
    st->timeout_ms = timeout_ms;
    st->idle_ms = jcs_rpc_idle_timeout_ms();
    atomic_init(&st->cancelled, false);
    atomic_init(&st->idle_expired, false);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->details = grpc_empty_slice();
    grpc_metadata_array_init(&st->initial);
    grpc_metadata_array_init(&st->trailing);
    st->cq = grpc_completion_queue_create_for_pluck(NULL);
    mslice = grpc_slice_from_copied_string(method);
    st->conn = channel_acquire(ch);
    st->call = grpc_channel_create_call(st->conn->g, NULL, GRPC_PROPAGATE_DEFAULTS, st->cq, mslice,
                                        NULL, deadline_in(timeout_ms), NULL);
    grpc_slice_unref(mslice);

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    e = grpc_call_start_batch(st->call, &op, 1, &st->tag_send, NULL);
    if (e != GRPC_CALL_OK) {
        jcs_rpc_stream_free(st);
        return jcs_err_set(JCS_EINTERNAL, "%s %s: grpc_call_start_batch: %s", ch->target, method,
                           grpc_call_error_to_string(e));
    }
    /*
     * The server's initial metadata is asked for at once, not with the first
     * receive: gRPC 1.51 holds back the final status of a client stream that
     * never asked for it (an upload refused by the server would otherwise
     * see its status only at the deadline).
     */
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_INITIAL_METADATA;
    op.data.recv_initial_metadata.recv_initial_metadata = &st->initial;
    e = grpc_call_start_batch(st->call, &op, 1, &st->tag_md, NULL);
    if (e == GRPC_CALL_OK)
        st->md_started = true;
    else
        e_first = e;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.status = &st->status;
    op.data.recv_status_on_client.status_details = &st->details;
    op.data.recv_status_on_client.trailing_metadata = &st->trailing;
    e = grpc_call_start_batch(st->call, &op, 1, &st->tag_status, NULL);
    if (e == GRPC_CALL_OK)
        st->status_started = true;
    else if (e_first == GRPC_CALL_OK)
        e_first = e;
    e = e_first;
    /* Wait for the headers to go out: a peer that cannot be reached fails here. */
    ok = pluck_idle(st->call, st->cq, &st->tag_send, st->idle_ms, &st->idle_expired) > 0;
    if (e != GRPC_CALL_OK) {
        jcs_rpc_stream_free(st);
        return jcs_err_set(JCS_EINTERNAL, "%s %s: grpc_call_start_batch: %s", ch->target, method,
                           grpc_call_error_to_string(e));
    }
    if (!ok) {
        rc = stream_failed(st, "open");
        jcs_rpc_stream_free(st);
        return rc;
    }
    *out = st;
    return JCS_OK;
}

static int stream_send_buffer(jcs_rpc_stream *st, grpc_byte_buffer *bb)
{
    grpc_op op;
    int ok, rc;

    if (atomic_load(&st->cancelled)) {
        grpc_byte_buffer_destroy(bb);
        return stream_failed(st, "send");
    }
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    rc = batch(st->call, st->cq, &op, 1, &st->tag_send, &ok, st->idle_ms, &st->idle_expired);
    grpc_byte_buffer_destroy(bb);
    if (rc)
        return rc;
    return ok ? JCS_OK : stream_failed(st, "send");
}

int jcs_rpc_stream_send(jcs_rpc_stream *st, const ProtobufCMessage *msg)
{
    int rc;
    grpc_byte_buffer *bb = pack_message(msg, &rc);
    return bb ? stream_send_buffer(st, bb) : rc;
}

int jcs_rpc_stream_send_raw(jcs_rpc_stream *st, const void *data, size_t len)
{
    int rc;
    grpc_byte_buffer *bb = raw_buffer(data, len, &rc);
    return bb ? stream_send_buffer(st, bb) : rc;
}

int jcs_rpc_stream_send_owned(jcs_rpc_stream *st, const void *data, size_t len,
                              void (*release)(void *), void *arg)
{
    int rc;
    grpc_byte_buffer *bb = owned_buffer(data, len, release, arg, &rc);
    return bb ? stream_send_buffer(st, bb) : rc;
}

int jcs_rpc_stream_close_send(jcs_rpc_stream *st)
{
    grpc_op op;
    int ok, rc;

    if (atomic_load(&st->cancelled))
        return stream_failed(st, "close");
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    rc = batch(st->call, st->cq, &op, 1, &st->tag_send, &ok, st->idle_ms, &st->idle_expired);
    if (rc)
        return rc;
    return ok ? JCS_OK : stream_failed(st, "close");
}

/* One RECV_MESSAGE; *bb NULL at the end. */
static int stream_recv_buffer(jcs_rpc_stream *st, grpc_byte_buffer **bb)
{
    grpc_op op;
    int ok, rc;

    *bb = NULL;
    if (atomic_load(&st->cancelled))
        return stream_failed(st, "recv");
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = bb;
    rc = batch(st->call, st->cq, &op, 1, &st->tag_recv, &ok, st->idle_ms, &st->idle_expired);
    if (rc)
        return rc;
    /* A call cancelled by its idle deadline ends the receive as if the stream had ended. */
    if (!ok || atomic_load(&st->cancelled) || atomic_load(&st->idle_expired)) {
        if (*bb)
            grpc_byte_buffer_destroy(*bb);
        *bb = NULL;
        return stream_failed(st, "recv");
    }
    return JCS_OK;
}

int jcs_rpc_stream_recv(jcs_rpc_stream *st, const ProtobufCMessageDescriptor *desc,
                        ProtobufCMessage **out)
{
    grpc_byte_buffer *bb;
    char who[256];
    int rc;

    *out = NULL;
    rc = stream_recv_buffer(st, &bb);
    if (rc)
        return rc;
    if (!bb)
        return JCS_EOF;
    snprintf(who, sizeof(who), "%s %s", st->ch->target, st->method);
    rc = unpack(bb, desc, out, who);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

int jcs_rpc_stream_recv_raw(jcs_rpc_stream *st, void *buf, size_t cap, size_t *len)
{
    grpc_byte_buffer *bb;
    char who[256];
    int rc;

    *len = 0;
    rc = stream_recv_buffer(st, &bb);
    if (rc)
        return rc;
    if (!bb)
        return JCS_EOF;
    snprintf(who, sizeof(who), "%s %s", st->ch->target, st->method);
    rc = copy_out(bb, buf, cap, len, who);
    grpc_byte_buffer_destroy(bb);
    if (rc == JCS_ETOOBIG) {
        /* The message is lost, so the stream cannot continue in order. */
        atomic_store(&st->cancelled, true);
        grpc_call_cancel(st->call, NULL);
    }
    return rc;
}

int jcs_rpc_stream_recv_msg(jcs_rpc_stream *st, jcs_rpc_msg **msg, const struct iovec **iov,
                            size_t *n)
{
    grpc_byte_buffer *bb;
    char who[256];
    *msg = NULL;
    *iov = NULL;
    *n = 0;
    int rc = stream_recv_buffer(st, &bb);
    if (rc)
        return rc;
    if (!bb)
        return JCS_EOF;
    snprintf(who, sizeof(who), "%s %s", st->ch->target, st->method);
    if ((rc = wrap_msg(bb, msg, who)) != 0)
        return rc;
    *iov = (*msg)->iov;
    *n = (*msg)->n;
    return JCS_OK;
}

int jcs_rpc_stream_finish(jcs_rpc_stream *st)
{
    if (atomic_load(&st->cancelled)) {
        (void)stream_status(st, 0);
        return jcs_err_set(JCS_ECANCELED, "%s %s: stream cancelled", st->ch->target, st->method);
    }
    return stream_status(st, 0);
}

void jcs_rpc_stream_cancel(jcs_rpc_stream *st)
{
    if (!st)
        return;
    atomic_store(&st->cancelled, true);
    grpc_call_cancel(st->call, NULL);
}

int jcs_rpc_call_recv_request(jcs_rpc_call *call, const ProtobufCMessageDescriptor *desc,
                              void **out)
{
    ProtobufCMessage *m = NULL;
    int rc = jcs_rpc_call_recv(call, desc, &m);
    if (rc == JCS_EOF)
        return jcs_err_set(JCS_EINVAL, "request message missing");
    if (rc)
        return rc;
    *out = m;
    return JCS_OK;
}
