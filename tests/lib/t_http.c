#include "t_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Plain malloc here on purpose: alloc-failure injection (jcs_alloc_fail_after) must
 * hit the code under test, never the test server. */
#define T_HTTP_BODY_CAP (64u << 20)

struct t_http {
    int lfd;
    int stop_pipe[2];
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    t_http_handler fn;
    void *arg;
    int n;
    t_http_req *reqs[T_HTTP_MAX_REQS];
};

/* Waits for fd to be readable or for stop; 1 readable, 0 stop/error. */
static int wait_readable(struct t_http *h, int fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = h->stop_pipe[0], .events = POLLIN}};
    while (1) {
        int r = poll(p, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (p[1].revents & POLLIN))
            return 0;
        if (p[0].revents)
            return 1;
    }
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

const char *t_http_header(const t_http_req *req, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *line = req->head;
    while (*line) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = len - (size_t)(v - line);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        if (!eol)
            break;
        line = eol + 2;
    }
    return NULL;
}

static void serve_one(struct t_http *h, int fd)
{
    char *buf = malloc(sizeof(((t_http_req *)0)->head) + 8192);
    size_t cap = sizeof(((t_http_req *)0)->head) + 8192, len = 0;
    char *end = NULL;
    while (buf && !end && len < cap - 1) {
        if (!wait_readable(h, fd))
            break;
        ssize_t k = recv(fd, buf + len, cap - 1 - len, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end) {
        free(buf);
        return;
    }
    t_http_req *req = calloc(1, sizeof(*req));
    if (!req) {
        free(buf);
        return;
    }
    char *line_end = strstr(buf, "\r\n");
    sscanf(buf, "%15s %4095s", req->method, req->target);
    size_t hl = (size_t)(end - (line_end + 2));
    if (hl >= sizeof(req->head))
        hl = sizeof(req->head) - 1;
    memcpy(req->head, line_end + 2, hl);
    req->head[hl] = '\0';
    char cl[32];
    size_t want = t_http_header(req, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
    if (want > T_HTTP_BODY_CAP)
        want = T_HTTP_BODY_CAP;
    req->body = malloc(want + 1);
    size_t have = len - (size_t)(end + 4 - buf);
    if (have > want)
        have = want;
    if (req->body)
        memcpy(req->body, end + 4, have);
    while (req->body && have < want && wait_readable(h, fd)) {
        ssize_t k = recv(fd, req->body + have, want - have, 0);
        if (k <= 0)
            break;
        have += (size_t)k;
    }
    if (req->body)
        req->body[have] = '\0';
    req->body_len = have;
    free(buf);

    pthread_mutex_lock(&h->mu);
    int n = h->n;
    if (h->n < T_HTTP_MAX_REQS)
        h->reqs[h->n++] = req;
    pthread_mutex_unlock(&h->mu);

    t_http_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    if (h->fn)
        h->fn(h->arg, n, req, &resp);
    if (n >= T_HTTP_MAX_REQS) {
        free(req->body);
        free(req);
    }
    if (resp.hang) {
        /* Hold the connection without answering until the client gives up or we stop. */
        char sink[4096];
        while (wait_readable(h, fd) && recv(fd, sink, sizeof(sink), 0) > 0)
            ;
        return;
    }
    size_t blen = resp.body ? (resp.body_len ? resp.body_len : strlen(resp.body)) : 0;
    char head[4096];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d Status\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                      resp.status ? resp.status : 200, blen, resp.headers);
    send_all(fd, head, (size_t)hn);
    if (blen && strcmp(req->method, "HEAD") != 0)
        send_all(fd, resp.body, resp.cut_after && resp.cut_after < blen ? resp.cut_after : blen);
}

static void *run(void *arg)
{
    struct t_http *h = arg;
    while (wait_readable(h, h->lfd)) {
        int fd = accept(h->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_one(h, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

t_http *t_http_start(t_http_handler fn, void *arg)
{
    struct t_http *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->fn = fn;
    h->arg = arg;
    pthread_mutex_init(&h->mu, NULL);
    h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (h->lfd < 0 || bind(h->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(h->lfd, 16) != 0 || getsockname(h->lfd, (struct sockaddr *)&a, &al) != 0 ||
        pipe(h->stop_pipe) != 0) {
        if (h->lfd >= 0)
            close(h->lfd);
        free(h);
        return NULL;
    }
    h->port = ntohs(a.sin_port);
    if (pthread_create(&h->thread, NULL, run, h) != 0) {
        close(h->lfd);
        close(h->stop_pipe[0]);
        close(h->stop_pipe[1]);
        free(h);
        return NULL;
    }
    return h;
}

int t_http_port(const t_http *h)
{
    return h->port;
}

int t_http_count(t_http *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->n;
    pthread_mutex_unlock(&h->mu);
    return n;
}

const t_http_req *t_http_get(t_http *h, int i)
{
    pthread_mutex_lock(&h->mu);
    const t_http_req *r = i >= 0 && i < h->n ? h->reqs[i] : NULL;
    pthread_mutex_unlock(&h->mu);
    return r;
}

void t_http_stop(t_http *h)
{
    if (!h)
        return;
    if (write(h->stop_pipe[1], "x", 1) != 1)
        perror("t_http_stop");
    pthread_join(h->thread, NULL);
    close(h->lfd);
    close(h->stop_pipe[0]);
    close(h->stop_pipe[1]);
    for (int i = 0; i < h->n; i++) {
        free(h->reqs[i]->body);
        free(h->reqs[i]);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}
