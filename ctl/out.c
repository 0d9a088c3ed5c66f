/*
 * Output of jcsctl (ctl.h): JSON for scripts, tables and short lines for
 * people, and the progress bar on a terminal's stderr.
 *
 * stdout carries only results (a table, confirmations, the JSON document,
 * or downloaded bytes with `get ... -`); everything else goes to stderr, so
 * `jcsctl --json ... | jq` and `jcsctl get ... - | sha256sum` stay clean.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ctl.h"
#include "util.h"

void ctl_print_json(json_t *v)
{
    if (!v) {
        printf("null\n");
        return;
    }
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(v);
}

const char *ctl_human(int64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        snprintf(buf, size, "%lld B", (long long)n);
        return buf;
    }
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0])
        v /= 1024, u++;
    snprintf(buf, size, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

void ctl_table_init(ctl_table *t, size_t ncols, const char *const *heads,
                    const unsigned char *right)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->heads = heads;
    t->right = right;
}

int ctl_table_row(ctl_table *t, ...)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cells = jcs_realloc(t->cells, cap * t->ncols * sizeof *cells);
        if (!cells)
            return JCS_ENOMEM;
        t->cells = cells;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, t);
    char **row = t->cells + t->nrows * t->ncols;
    int rc = 0;
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        row[i] = rc ? NULL : jcs_strdup(s ? s : "");
        if (!row[i])
            rc = JCS_ENOMEM;
    }
    va_end(ap);
    t->nrows++; /* even a failed row is owned here, so ctl_table_free releases it */
    return rc;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

void ctl_table_print(const ctl_table *t)
{
    size_t w[16] = {0};
    size_t nc = t->ncols < 16 ? t->ncols : 16;
    for (size_t i = 0; i < nc; i++)
        w[i] = width(t->heads[i]);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < nc; i++) {
            const char *s = t->cells[r * t->ncols + i];
            size_t cw = s ? width(s) : 0;
            if (cw > w[i])
                w[i] = cw;
        }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t i = 0; i < nc; i++) {
            const char *s = r == 0 ? t->heads[i] : t->cells[(r - 1) * t->ncols + i];
            if (!s)
                s = "";
            size_t pad = w[i] - width(s);
            int last = i + 1 == nc;
            if (t->right && t->right[i])
                printf("%*s%s", (int)pad, "", s);
            else
                printf("%s%*s", s, last ? 0 : (int)pad, "");
            if (!last)
                fputs("  ", stdout);
        }
        putchar('\n');
    }
}

void ctl_table_free(ctl_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        jcs_free(t->cells[i]);
    jcs_free(t->cells);
    memset(t, 0, sizeof *t);
}

void ctl_say(const ctl *c, const char *fmt, ...)
{
    if (c->quiet || c->json)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

void ctl_warn(const ctl *c, const char *fmt, ...)
{
    if (c->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("jcsctl: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- progress -------------------------------------------------------------------------------- */

static void draw(ctl_progress *p, int force)
{
    int64_t now = jcs_now_ms();
    if (!force && now - p->last_ms < 200)
        return;
    p->last_ms = now;
    int64_t done = p->done + p->cur;
    double secs = (double)(now - p->start_ms) / 1000.0;
    double rate = secs >= 0.1 ? (double)done / secs : 0;
    char a[32], b[32], r[32], eta[32] = "--:--";
    if (rate > 0 && p->total > 0 && p->total >= done) {
        long s = (long)((double)(p->total - done) / rate + 0.5);
        if (s >= 3600)
            snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        else
            snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    char bar[23];
    int fill = p->total > 0 ? (int)(20.0 * (double)done / (double)p->total) : 0;
    if (fill > 20)
        fill = 20;
    bar[0] = '[';
    for (int i = 0; i < 20; i++)
        bar[1 + i] = i < fill ? '#' : '.';
    bar[21] = ']';
    bar[22] = '\0';
    char files[32] = "";
    if (p->nfiles > 1)
        snprintf(files, sizeof files, " %zu/%zu", p->files_done, p->nfiles);
    fprintf(stderr, "\r%s %s / %s  %s/s  ETA %s%s %-24.24s\033[K", bar,
            ctl_human(done, a, sizeof a), p->total >= 0 ? ctl_human(p->total, b, sizeof b) : "?",
            ctl_human((int64_t)rate, r, sizeof r), eta, files, p->label);
    fflush(stderr);
}

void ctl_progress_start(ctl_progress *p, const ctl *c, int64_t total, size_t nfiles)
{
    memset(p, 0, sizeof *p);
    p->on = c->progress && !c->quiet;
    p->total = total;
    p->nfiles = nfiles;
    p->start_ms = jcs_now_ms();
}

void ctl_progress_label(ctl_progress *p, const char *label)
{
    if (!p)
        return;
    snprintf(p->label, sizeof p->label, "%s", label);
}

void ctl_progress_set(ctl_progress *p, int64_t cur)
{
    if (!p || !p->on)
        return;
    p->cur = cur;
    draw(p, 0);
}

void ctl_progress_next(ctl_progress *p, int64_t bytes)
{
    if (!p)
        return;
    p->done += bytes;
    p->cur = 0;
    p->files_done++;
    if (p->on)
        draw(p, 0);
}

void ctl_progress_end(ctl_progress *p)
{
    if (!p || !p->on)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->on = 0;
}
