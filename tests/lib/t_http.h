/*
 * t_http.h - a scripted HTTP/1.1 server for tests.
 *
 * Listens on 127.0.0.1 (kernel-chosen port) in a thread, answers one request
 * per connection ("Connection: close"), records every request, and asks a
 * test-supplied handler what to answer. Lets tests see exactly what a client
 * sent (headers, signatures, bodies) and make a server fail on purpose
 * (503s, hangs).
 */
#ifndef JCS_T_HTTP_H
#define JCS_T_HTTP_H

#include <stddef.h>

#define T_HTTP_MAX_REQS 256

typedef struct t_http_req {
    char method[16];
    char target[4096]; /* path and query as sent */
    char head[16384];  /* the header lines after the request line, as sent */
    char *body;        /* owned by the server; NUL-terminated */
    size_t body_len;
} t_http_req;

typedef struct t_http_resp {
    int status;         /* default 200 */
    char headers[2048]; /* extra header lines, each ending in "\r\n" */
    const char *body;   /* NULL: empty; must live until the handler's next call */
    size_t body_len;    /* 0 with a body: strlen(body) */
    int hang;           /* read the request, then never answer (until stop) */
    size_t cut_after;   /* >0: send only this many body bytes, then close */
} t_http_resp;

/* Decides the answer to request number n (0-based). resp comes zeroed. */
typedef void (*t_http_handler)(void *arg, int n, const t_http_req *req, t_http_resp *resp);

typedef struct t_http t_http;

/* Starts a server; NULL handler answers 200 with no body. Returns NULL on failure. */
t_http *t_http_start(t_http_handler fn, void *arg);

int t_http_port(const t_http *h);

/* Requests seen so far. */
int t_http_count(t_http *h);

/* Request i (0-based, < count). Borrowed until t_http_stop. */
const t_http_req *t_http_get(t_http *h, int i);

/* Value of header name (case-insensitive) of req into out, or NULL when absent. */
const char *t_http_header(const t_http_req *req, const char *name, char *out, size_t outlen);

/* Stops the thread, closes the socket, frees everything. NULL is a no-op. */
void t_http_stop(t_http *h);

#endif
