/*
 * bulk.c - the bulk data channel (bulk.h).
 *
 * Design note. One thread per connection on the server, blocking I/O with
 * the idle deadline as SO_RCVTIMEO / SO_SNDTIMEO: a stalled peer turns into
 * EAGAIN from the kernel, which we report as JCS_ETIMEOUT. OpenSSL works on
 * the socket directly (no memory BIO): it encrypts from the caller's buffer
 * into its record buffer and writes that, and decrypts from its read
 * buffer into the caller's, which is the copy a bulk channel saves over
 * gRPC (bench_rpc measures it).
 *
 * SIGPIPE. OpenSSL writes not only in SSL_write: the handshake, and a read
 * that meets the end of the stream without close_notify (a peer gone, our
 * own jcs_bulk_abort) sends a fatal alert. A write(2) on a connection the
 * peer reset, or that we shut down, raises SIGPIPE, whose default action
 * ends the process. So OpenSSL writes through a socket BIO of ours whose
 * writes are send(..., MSG_NOSIGNAL): no path of this module can raise the
 * signal, and no signal mask is needed (test_bulk keeps SIGPIPE's default).
 */
#include "bulk.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "alloc.h"
#include "log.h"
#include "util.h"

#define MAGIC          0x42534a43u /* "CJSB" little-endian */
#define HDR_LEN        52
#define POOL_MAX_IDLE  64
#define CONNECT_MAX_MS 10000

struct jcs_bulk_conn {
    int fd;
    SSL *ssl;
    char peer[300];
    char subject[256];
    char *address;              /* pool key (client side) */
    struct jcs_bulk_pool *pool; /* client side: the pool it belongs to */
    int64_t idle_since_ms;
    struct jcs_bulk_conn *next;
};

/* ------------------------------------------------------------------- I/O */

static int64_t idle_ms(void)
{
    return jcs_rpc_idle_timeout_ms();
}

static void set_deadlines(int fd)
{
    int64_t ms = idle_ms();
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The first OpenSSL error of this thread as text ("" if none). */
static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    buf[0] = '\0';
    if (e)
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

static void pool_drop_idle(struct jcs_bulk_pool *p, const char *address);

/* An SSL I/O failure (ret from SSL_*_ex) as a jcs_err naming the peer. */
static int io_err(jcs_bulk_conn *c, int ret, const char *what)
{
    int e = errno, se = SSL_get_error(c->ssl, ret), rc;
    char r[256];
    ssl_reason(r, sizeof(r));
    if (se == SSL_ERROR_ZERO_RETURN || (se == SSL_ERROR_SYSCALL && e == 0) ||
        (se == SSL_ERROR_SYSCALL && (e == ECONNRESET || e == EPIPE)) ||
        (se == SSL_ERROR_SSL && (!r[0] || strstr(r, "unexpected eof"))))
        rc = jcs_err_set(JCS_EUNAVAIL, "bulk %s %s: the connection was closed", what, c->peer);
    /* A blocking socket wants a retry only when SO_RCVTIMEO / SO_SNDTIMEO expired. */
    else if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE ||
             (se == SSL_ERROR_SYSCALL && (e == EAGAIN || e == EWOULDBLOCK)))
        rc = jcs_err_set(JCS_ETIMEOUT, "bulk %s %s: no progress for %lld ms", what, c->peer,
                         (long long)idle_ms());
    else if (se == SSL_ERROR_SYSCALL)
        rc = jcs_err_set(JCS_EUNAVAIL, "bulk %s %s: %s", what, c->peer, strerror(e));
    else
        rc = jcs_err_set(JCS_EIO, "bulk %s %s: TLS: %s", what, c->peer, r[0] ? r : "error");
    /*
     * A connection to the peer died or stalled: the pooled ones to it were
     * idle through the same cut (a restart, a partition) and are suspect too.
     */
    if (c->pool && (rc == JCS_EUNAVAIL || rc == JCS_ETIMEOUT))
        pool_drop_idle(c->pool, c->address);
    return rc;
}

static int read_full(jcs_bulk_conn *c, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        size_t k = 0;
        errno = 0;
        int ret = SSL_read_ex(c->ssl, p, n, &k);
        if (!ret)
            return io_err(c, ret, "read from");
        p += k;
        n -= k;
    }
    return JCS_OK;
}

/* Writes all of buf (the socket BIO's sends never raise SIGPIPE). */
static int write_full(jcs_bulk_conn *c, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        size_t k = 0;
        errno = 0;
        int ret = SSL_write_ex(c->ssl, p, n, &k);
        if (!ret)
            return io_err(c, ret, "write to");
        p += k;
        n -= k;
    }
    return JCS_OK;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Header layout: magic(4) type(1) pad(3) var(4) len(4) plan_id(32) code(4). */
static int send_frame(jcs_bulk_conn *c, int type, int32_t var, const char *plan_id, int32_t code,
                      const void *payload, size_t len)
{
    uint8_t h[HDR_LEN] = {0};
    put32(h, MAGIC);
    h[4] = (uint8_t)type;
    put32(h + 8, (uint32_t)var);
    put32(h + 12, (uint32_t)len);
    if (plan_id)
        memcpy(h + 16, plan_id, strnlen(plan_id, 32));
    put32(h + 48, (uint32_t)code);
    int rc = write_full(c, h, sizeof(h));
    return rc ? rc : len ? write_full(c, payload, len) : JCS_OK;
}

int jcs_bulk_recv(jcs_bulk_conn *c, jcs_bulk_frame *f)
{
    uint8_t h[HDR_LEN];
    int rc = read_full(c, h, sizeof(h));
    if (rc)
        return rc;
    memset(f, 0, offsetof(jcs_bulk_frame, msg));
    f->msg[0] = '\0';
    f->type = h[4];
    f->var = (int32_t)get32(h + 8);
    uint32_t len = get32(h + 12);
    memcpy(f->plan_id, h + 16, 32);
    f->plan_id[32] = '\0';
    f->code = (int32_t)get32(h + 48);
    if (get32(h) != MAGIC || f->type < JCS_BULK_OPEN_PUSH || f->type > JCS_BULK_OK)
        return jcs_err_set(JCS_ERPC, "bulk read from %s: not a bulk frame (type %d)", c->peer,
                           f->type);
    switch (f->type) {
    case JCS_BULK_DATA:
        if (len > JCS_BULK_MAX_DATA)
            return jcs_err_set(JCS_ERPC, "bulk read from %s: a data frame of %u bytes", c->peer,
                               len);
        f->len = len;
        return JCS_OK;
    case JCS_BULK_CANCEL:
    case JCS_BULK_ERROR:
        if (len > JCS_BULK_MAX_MSG)
            return jcs_err_set(JCS_ERPC, "bulk read from %s: a reason of %u bytes", c->peer, len);
        if ((rc = read_full(c, f->msg, len)) != 0)
            return rc;
        f->msg[len] = '\0';
        if (f->code >= 0 || f->code < JCS_EINTERNAL)
            f->code = JCS_ERPC;
        return JCS_OK;
    case JCS_BULK_OK: {
        uint8_t b[8];
        if (len != 8)
            return jcs_err_set(JCS_ERPC, "bulk read from %s: an OK of %u bytes", c->peer, len);
        if ((rc = read_full(c, b, 8)) != 0)
            return rc;
        f->bytes = (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
        return JCS_OK;
    }
    default:
        if (len)
            return jcs_err_set(JCS_ERPC, "bulk read from %s: frame type %d with a payload", c->peer,
                               f->type);
        return JCS_OK;
    }
}

int jcs_bulk_recv_data(jcs_bulk_conn *c, void *buf, size_t n)
{
    return read_full(c, buf, n);
}

int jcs_bulk_send_data(jcs_bulk_conn *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        size_t k = n < JCS_BULK_MAX_DATA ? n : JCS_BULK_MAX_DATA;
        int rc = send_frame(c, JCS_BULK_DATA, 0, NULL, 0, b, k);
        if (rc)
            return rc;
        b += k;
        n -= k;
    }
    return JCS_OK;
}

int jcs_bulk_send_end(jcs_bulk_conn *c)
{
    return send_frame(c, JCS_BULK_END, 0, NULL, 0, NULL, 0);
}

int jcs_bulk_send_ok(jcs_bulk_conn *c, uint64_t bytes)
{
    uint8_t b[8];
    put32(b, (uint32_t)bytes);
    put32(b + 4, (uint32_t)(bytes >> 32));
    return send_frame(c, JCS_BULK_OK, 0, NULL, 0, b, 8);
}

int jcs_bulk_send_fail(jcs_bulk_conn *c, int type, int code, const char *why)
{
    size_t n = why ? strnlen(why, JCS_BULK_MAX_MSG) : 0;
    return send_frame(c, type, 0, NULL, code < 0 ? code : JCS_ERPC, why, n);
}

int jcs_bulk_readable(jcs_bulk_conn *c)
{
    if (SSL_pending(c->ssl) > 0)
        return 1;
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    return poll(&pf, 1, 0) > 0;
}

void jcs_bulk_abort(jcs_bulk_conn *c)
{
    (void)shutdown(c->fd, SHUT_RDWR);
}

const char *jcs_bulk_peer(const jcs_bulk_conn *c)
{
    return c->peer;
}

const char *jcs_bulk_subject(const jcs_bulk_conn *c)
{
    return c->subject;
}

static void conn_free(jcs_bulk_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    jcs_free(c->address);
    jcs_free(c);
}

/* ------------------------------------------------------------ socket BIO */

/*
 * A socket BIO like OpenSSL's BIO_s_socket, except that it sends with
 * MSG_NOSIGNAL (see the design note) and rides out EINTR. A kernel EAGAIN
 * (SO_RCVTIMEO / SO_SNDTIMEO expired) is a retry for OpenSSL, which io_err
 * reports as the idle deadline. The BIO does not own the descriptor.
 */
static int bio_fd(BIO *b)
{
    return (int)(intptr_t)BIO_get_data(b);
}

static int bio_write(BIO *b, const char *buf, int n)
{
    ssize_t k;
    BIO_clear_retry_flags(b);
    do
        k = send(bio_fd(b), buf, (size_t)n, MSG_NOSIGNAL);
    while (k < 0 && errno == EINTR);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)k;
}

static int bio_read(BIO *b, char *buf, int n)
{
    ssize_t k;
    if (!buf)
        return 0;
    BIO_clear_retry_flags(b);
    do
        k = recv(bio_fd(b), buf, (size_t)n, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    else if (k == 0)
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
    return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        /* Lets OpenSSL tell an end of stream without close_notify from an error. */
        return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    case BIO_C_GET_FD:
        if (ptr)
            *(int *)ptr = bio_fd(b);
        return bio_fd(b);
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "jcs bulk socket");
    if (m && BIO_meth_set_write(m, bio_write) == 1 && BIO_meth_set_read(m, bio_read) == 1 &&
        BIO_meth_set_ctrl(m, bio_ctrl) == 1 && BIO_meth_set_create(m, bio_create) == 1) {
        bio_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* Gives ssl a socket BIO of ours on fd (which it does not own); 0, or -1 out of memory. */
static int attach_fd(SSL *ssl, int fd)
{
    pthread_once(&bio_once, bio_method_init);
    BIO *b = bio_method ? BIO_new(bio_method) : NULL;
    if (!b)
        return -1;
    BIO_set_data(b, (void *)(intptr_t)fd);
    SSL_set_bio(ssl, b, b);
    return 0;
}

/* ------------------------------------------------------------------- TLS */

static SSL_CTX *make_ctx(const jcs_tls_files *t, int server)
{
    char r[256];
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        jcs_err_set(JCS_ETLS, "bulk: TLS context: %s", ssl_reason(r, sizeof(r)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if ((t->cert_file && SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) ||
        (t->key_file && SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1) ||
        SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
        jcs_err_set(JCS_ETLS, "bulk: certificate files (%s, %s, %s): %s", t->ca_file,
                    t->cert_file ? t->cert_file : "-", t->key_file ? t->key_file : "-",
                    ssl_reason(r, sizeof(r)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* Streams are long and few: no session cache, no renegotiation surprises. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /*
     * No TLS 1.3 session tickets either: they arrive after the handshake, and
     * jcs_bulk_readable (a poll on the socket) would take them for a frame.
     */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
    return ctx;
}

/* The peer's subject in RFC 2253 form and its role (the single OU), as rpc.c reads them. */
static enum jcs_role peer_role(SSL *ssl, char *subject, size_t n)
{
    X509 *x = SSL_get1_peer_certificate(ssl);
    enum jcs_role role = JCS_ROLE_NONE;
    subject[0] = '\0';
    if (!x)
        return role;
    X509_NAME *name = X509_get_subject_name(x);
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        int k = BIO_read(b, subject, (int)n - 1);
        subject[k > 0 ? k : 0] = '\0';
    }
    BIO_free(b);
    int idx = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, -1);
    if (idx >= 0 && X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, idx) < 0) {
        unsigned char *ou = NULL;
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
        if (ASN1_STRING_to_UTF8(&ou, s) >= 0 && ou) {
            role = jcs_role_parse((const char *)ou);
            OPENSSL_free(ou);
        }
    }
    X509_free(x);
    return role;
}

/* ---------------------------------------------------------------- server */

struct jcs_bulk_server {
    int lfd;
    int port;
    SSL_CTX *ctx;
    unsigned roles;
    jcs_bulk_handler fn;
    void *ctx_arg;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    int nconns;
    jcs_bulk_conn *conns; /* live connections, for stop */
};

struct served {
    jcs_bulk_server *s;
    jcs_bulk_conn *c;
};

static void unlist(jcs_bulk_server *s, jcs_bulk_conn *c)
{
    pthread_mutex_lock(&s->mu);
    for (jcs_bulk_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    s->nconns--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *serve_conn(void *arg)
{
    struct served sv = *(struct served *)arg;
    jcs_free(arg);
    jcs_bulk_server *s = sv.s;
    jcs_bulk_conn *c = sv.c;
    char r[256];
    jcs_err_clear();
    set_deadlines(c->fd);
    int ret = SSL_accept(c->ssl);
    if (ret != 1) {
        long v = SSL_get_verify_result(c->ssl);
        const char *why = ssl_reason(r, sizeof(r));
        jcs_warn("bulk: refused %s: TLS handshake failed: %s%s%s", c->peer,
                 v != X509_V_OK ? X509_verify_cert_error_string(v)
                 : why[0]       ? why
                                : "no reason",
                 v != X509_V_OK && why[0] ? "; " : "", v != X509_V_OK ? why : "");
        goto out;
    }
    enum jcs_role role = peer_role(c->ssl, c->subject, sizeof(c->subject));
    if (!(s->roles & (unsigned)role)) {
        jcs_warn("bulk: refused %s (%s): role %s may not move plan streams", c->peer,
                 c->subject[0] ? c->subject : "no subject", jcs_role_name(role));
        goto out;
    }
    for (;;) {
        jcs_bulk_frame f;
        int rc = jcs_bulk_recv(c, &f);
        if (rc)
            break; /* closed, idle past the deadline, or garbage: nothing to answer */
        if (f.type != JCS_BULK_OPEN_PUSH && f.type != JCS_BULK_OPEN_PULL) {
            jcs_warn("bulk: %s sent frame type %d where a request was due; closing", c->peer,
                     f.type);
            break;
        }
        jcs_err_clear();
        if (s->fn(s->ctx_arg, c, &f) != 0)
            break;
    }
out:
    unlist(s, c);
    conn_free(c);
    return NULL;
}

static void *accept_main(void *arg)
{
    jcs_bulk_server *s = arg;
    for (;;) {
        struct sockaddr_storage a;
        socklen_t al = sizeof(a);
        int fd = accept4(s->lfd, (struct sockaddr *)&a, &al, SOCK_CLOEXEC);
        pthread_mutex_lock(&s->mu);
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                jcs_sleep_ms(50); /* out of descriptors: let the others finish */
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        jcs_bulk_conn *c = jcs_calloc(1, sizeof(*c));
        struct served *sv = jcs_malloc(sizeof(*sv));
        if (c)
            c->fd = fd;
        if (!c || !sv || !(c->ssl = SSL_new(s->ctx)) || attach_fd(c->ssl, fd) != 0) {
            jcs_free(sv);
            if (c)
                conn_free(c);
            else
                close(fd);
            continue;
        }
        char host[INET6_ADDRSTRLEN + 2] = "?", port[16] = "?";
        (void)getnameinfo((struct sockaddr *)&a, al, host, sizeof(host), port, sizeof(port),
                          NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
        sv->s = s;
        sv->c = c;
        pthread_mutex_lock(&s->mu);
        c->next = s->conns;
        s->conns = c;
        s->nconns++;
        pthread_mutex_unlock(&s->mu);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, serve_conn, sv) != 0) {
            jcs_free(sv);
            unlist(s, c);
            conn_free(c);
        }
        pthread_attr_destroy(&at);
    }
}

int jcs_bulk_server_start(const char *host, int port, const jcs_tls_files *tls, unsigned roles,
                          jcs_bulk_handler fn, void *ctx, jcs_bulk_server **out)
{
    jcs_bulk_server *s = jcs_calloc(1, sizeof(*s));
    if (!s)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    s->lfd = -1;
    s->roles = roles;
    s->fn = fn;
    s->ctx_arg = ctx;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = JCS_OK;
    char ps[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    snprintf(ps, sizeof(ps), "%d", port);
    if (!(s->ctx = make_ctx(tls, 1))) {
        rc = JCS_ETLS;
        goto fail;
    }
    int g = getaddrinfo(host && host[0] ? host : NULL, ps, &hints, &ai);
    if (g != 0) {
        rc =
            jcs_err_set(JCS_ECONFIG, "bulk: listen address %s:%d: %s", host, port, gai_strerror(g));
        goto fail;
    }
    s->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(s->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s->lfd, 128) != 0) {
        rc = jcs_err_set(JCS_EIO, "bulk: listen on %s:%d: %s", host, port, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage a;
    socklen_t al = sizeof(a);
    if (getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0) {
        rc = jcs_err_set(JCS_EIO, "bulk: getsockname: %s", strerror(errno));
        goto fail;
    }
    s->port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                            : ((struct sockaddr_in *)&a)->sin_port);
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        rc = jcs_err_set(JCS_EIO, "bulk: cannot start a thread");
        goto fail;
    }
    freeaddrinfo(ai);
    *out = s;
    return JCS_OK;
fail:
    if (ai)
        freeaddrinfo(ai);
    if (s->lfd >= 0)
        close(s->lfd);
    SSL_CTX_free(s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    jcs_free(s);
    return rc;
}

int jcs_bulk_server_port(const jcs_bulk_server *s)
{
    return s->port;
}

void jcs_bulk_server_free(jcs_bulk_server *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    (void)shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    pthread_mutex_lock(&s->mu);
    for (jcs_bulk_conn *c = s->conns; c; c = c->next)
        jcs_bulk_abort(c);
    while (s->nconns > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    SSL_CTX_free(s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    jcs_free(s);
}

/* ---------------------------------------------------------------- client */

struct jcs_bulk_pool {
    SSL_CTX *ctx;
    pthread_mutex_t mu;
    jcs_bulk_conn *idle;
    int nidle;
};

int jcs_bulk_pool_new(const jcs_tls_files *tls, jcs_bulk_pool **out)
{
    jcs_bulk_pool *p = jcs_calloc(1, sizeof(*p));
    if (!p)
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    if (!(p->ctx = make_ctx(tls, 0))) {
        jcs_free(p);
        return JCS_ETLS;
    }
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return JCS_OK;
}

void jcs_bulk_pool_free(jcs_bulk_pool *p)
{
    if (!p)
        return;
    while (p->idle) {
        jcs_bulk_conn *c = p->idle;
        p->idle = c->next;
        conn_free(c);
    }
    SSL_CTX_free(p->ctx);
    pthread_mutex_destroy(&p->mu);
    jcs_free(p);
}

/* Closes the pooled connections to address (NULL: all of them). */
static void pool_drop_idle(jcs_bulk_pool *p, const char *address)
{
    jcs_bulk_conn *drop = NULL;
    pthread_mutex_lock(&p->mu);
    for (jcs_bulk_conn **pp = &p->idle; *pp;) {
        jcs_bulk_conn *k = *pp;
        if (!address || strcmp(k->address, address) == 0) {
            *pp = k->next;
            k->next = drop;
            drop = k;
            p->nidle--;
            continue;
        }
        pp = &k->next;
    }
    pthread_mutex_unlock(&p->mu);
    while (drop) {
        jcs_bulk_conn *k = drop;
        drop = k->next;
        conn_free(k);
    }
}

/* A TCP connection to host:port within CONNECT_MAX_MS; -1 with the detail set. */
static int dial(const char *host, int port, const char *address)
{
    char ps[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV},
                    *ai = NULL;
    snprintf(ps, sizeof(ps), "%d", port);
    int g = getaddrinfo(host, ps, &hints, &ai);
    if (g != 0) {
        jcs_err_set(JCS_EUNAVAIL, "bulk connect %s: %s", address, gai_strerror(g));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        /* Connect with a bounded wait: the send timeout bounds a blocking connect. */
        int64_t ms = idle_ms() < CONNECT_MAX_MS ? idle_ms() : CONNECT_MAX_MS;
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        jcs_err_set(JCS_EUNAVAIL, "bulk connect %s: %s", address,
                    e == EINPROGRESS || e == EAGAIN ? "no answer" : strerror(e));
    return fd;
}

static int connect_new(jcs_bulk_pool *p, const char *address, jcs_bulk_conn **out)
{
    char host[256], r[256];
    int port;
    if (jcs_parse_addr(address, host, sizeof(host), &port) != 0 || port <= 0)
        return jcs_err_set(JCS_EINVAL, "bulk: bad address \"%s\"", address);
    jcs_bulk_conn *c = jcs_calloc(1, sizeof(*c));
    if (!c || !(c->address = jcs_strdup(address))) {
        jcs_free(c);
        return jcs_err_set(JCS_ENOMEM, "out of memory");
    }
    snprintf(c->peer, sizeof(c->peer), "%s", address);
    if ((c->fd = dial(host, port, address)) < 0) {
        conn_free(c);
        pool_drop_idle(p, address);
        return JCS_EUNAVAIL;
    }
    c->pool = p;
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_deadlines(c->fd);
    ERR_clear_error();
    if (!(c->ssl = SSL_new(p->ctx)) || attach_fd(c->ssl, c->fd) != 0) {
        conn_free(c);
        return jcs_err_set(JCS_ENOMEM, "bulk connect %s: out of memory", address);
    }
    /* Check the server's name as gRPC does: the host of the address, a DNS name or an IP. */
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) {
        ERR_clear_error();
        if (SSL_set1_host(c->ssl, host) != 1 || SSL_set_tlsext_host_name(c->ssl, host) != 1) {
            conn_free(c);
            return jcs_err_set(JCS_ETLS, "bulk connect %s: bad host name", address);
        }
    }
    errno = 0;
    int hs = SSL_connect(c->ssl);
    if (hs != 1) {
        long v = SSL_get_verify_result(c->ssl);
        int rc = v != X509_V_OK
                     ? jcs_err_set(JCS_ETLS, "bulk connect %s: TLS handshake: %s", address,
                                   X509_verify_cert_error_string(v))
                     : jcs_err_set(JCS_ETLS, "bulk connect %s: TLS handshake: %s", address,
                                   ssl_reason(r, sizeof(r))[0] ? r
                                   : errno                     ? strerror(errno)
                                           : "the server closed the connection");
        conn_free(c);
        return rc;
    }
    peer_role(c->ssl, c->subject, sizeof(c->subject));
    *out = c;
    return JCS_OK;
}

int jcs_bulk_open(jcs_bulk_pool *p, const char *address, int type, const char *plan_id, int32_t var,
                  jcs_bulk_conn **out)
{
    jcs_bulk_conn *c = NULL, *stale = NULL;
    int64_t now = jcs_now_ms();
    pthread_mutex_lock(&p->mu);
    for (jcs_bulk_conn **pp = &p->idle; *pp;) {
        jcs_bulk_conn *k = *pp;
        /* The server closes connections idle for the idle deadline: reuse only younger ones. */
        if (now - k->idle_since_ms > idle_ms() / 2) {
            *pp = k->next;
            k->next = stale;
            stale = k;
            p->nidle--;
            continue;
        }
        if (!c && strcmp(k->address, address) == 0) {
            *pp = k->next;
            c = k;
            p->nidle--;
            continue;
        }
        pp = &k->next;
    }
    pthread_mutex_unlock(&p->mu);
    while (stale) {
        jcs_bulk_conn *k = stale;
        stale = k->next;
        conn_free(k);
    }
    /* A pooled connection with something to read was closed by the server meanwhile. */
    if (c && jcs_bulk_readable(c)) {
        conn_free(c);
        c = NULL;
    }
    int rc = c ? JCS_OK : connect_new(p, address, &c);
    if (rc)
        return rc;
    c->next = NULL;
    if ((rc = send_frame(c, type, var, plan_id, 0, NULL, 0)) != 0) {
        conn_free(c);
        return rc;
    }
    *out = c;
    return JCS_OK;
}

void jcs_bulk_pool_drop(jcs_bulk_pool *p, const char *address)
{
    if (p)
        pool_drop_idle(p, address);
}

void jcs_bulk_put(jcs_bulk_pool *p, jcs_bulk_conn *c, int reusable)
{
    if (!c)
        return;
    if (reusable) {
        pthread_mutex_lock(&p->mu);
        if (p->nidle < POOL_MAX_IDLE) {
            c->idle_since_ms = jcs_now_ms();
            c->next = p->idle;
            p->idle = c;
            p->nidle++;
            c = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
    conn_free(c);
}
