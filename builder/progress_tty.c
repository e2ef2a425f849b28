/* The tty progress view: a process of its own that reads the build's
 * events (progress.c) and redraws the bottom of the terminal ten times a
 * second. Finished steps are printed once, above; the live area holds each
 * running step (stages that run at the same time each have one) with a
 * running timer and its last output lines folded under it, then a line with
 * the total time. At the end: the failed step's output, the total, and the
 * line that names the tags and the image digest. NO_COLOR turns colours off. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builder/progress_private.h"
#include "common/fsutil.h"
#include "common/util.h"

#define TAIL 4          /* output lines kept per running step */
#define FAILED_TAIL 12  /* shown under a failed step at the end */
#define TEXT_MAX 512    /* bytes kept of a line */

typedef enum { RUNNING, DONE, ERRORED } state_t;

typedef struct step {
    char *label;
    long step, nsteps;
    char *text;
    double t0, took;
    bool cached;
    state_t state;
    char *tail[FAILED_TAIL];
    size_t ntail; /* lines in tail, the newest last */
    char *transfer; /* a pull or push under way in this step */
} step_t;

typedef struct view {
    int out;
    bool color;
    double t0;
    step_t *steps;
    size_t nsteps, cap;
    long total;        /* steps the build has */
    size_t ended;      /* steps done */
    size_t cached;
    int drawn;         /* lines of the live area on the screen */
    cb_buf_t pending;  /* lines to print above the live area */
    char *final_line;
    bool failed;
    char *transfer; /* a push outside any step (build --push, --cache-to) */
} view_t;

/* At most TEXT_MAX bytes of s (cb_xstrndup copies exactly n). */
static char *dup_text(const char *s) {
    return cb_xstrndup(s, strnlen(s, TEXT_MAX));
}

static const char *col(const view_t *v, const char *code) {
    return v->color ? code : "";
}

/* Printable text: control characters and escape sequences out, at most max_cols columns. */
static void clean(cb_buf_t *out, const char *s, size_t max_cols) {
    size_t cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && cols < max_cols; p++) {
        if (*p == 0x1b) { /* CSI ... final byte, or a lone ESC */
            if (p[1] == '[') {
                p += 2;
                while (*p && (*p < 0x40 || *p > 0x7e))
                    p++;
                if (*p == '\0')
                    break;
            }
            continue;
        }
        if (*p < 0x20 || *p == 0x7f) {
            cb_buf_putc(out, ' ');
            cols++;
            continue;
        }
        cb_buf_putc(out, (char)*p);
        if ((*p & 0xc0) != 0x80)
            cols++;
    }
    /* Finish a multi-byte character cut at the limit. */
    size_t n = out->len;
    while (n > 0 && (out->data[n - 1] & 0xc0) == 0x80)
        n--;
    if (n > 0 && (unsigned char)out->data[n - 1] >= 0xc0) {
        unsigned char lead = (unsigned char)out->data[n - 1];
        size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
        if (out->len - (n - 1) < want)
            cb_buf_truncate(out, n - 1);
    }
}

static int width(const view_t *v) {
    struct winsize ws;
    if (ioctl(v->out, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

static int height(const view_t *v) {
    struct winsize ws;
    if (ioctl(v->out, TIOCGWINSZ, &ws) == 0 && ws.ws_row >= 5)
        return ws.ws_row;
    return 24;
}

/* "=> [label n/m] text ......... 1.2s" in the terminal's width. */
static void step_line(const view_t *v, cb_buf_t *o, const step_t *s, double now) {
    int w = width(v) - 1;
    char timer[32];
    snprintf(timer, sizeof timer, "%.1fs", s->state == RUNNING ? now - s->t0 : s->took);
    const char *color = s->state == ERRORED ? "\033[31m" : s->state == RUNNING ? "\033[36m" : s->cached ? "\033[34m" : "";
    const char *mark = s->state == ERRORED ? "ERROR " : s->cached ? "CACHED " : "";
    cb_autobuf cb_buf_t left = CB_BUF_INIT;
    cb_buf_printf(&left, "=> %s[%s %ld/%ld] ", mark, s->label, s->step, s->nsteps);
    size_t room = (size_t)w > left.len + strlen(timer) + 1 ? (size_t)w - left.len - strlen(timer) - 1 : 0;
    size_t before = left.len;
    clean(&left, s->text, room);
    size_t text_cols = 0;
    for (size_t i = before; i < left.len; i++)
        text_cols += ((unsigned char)left.data[i] & 0xc0) != 0x80;
    size_t used = before + text_cols;
    cb_buf_printf(o, "%s%s", col(v, color), cb_buf_str(&left));
    for (size_t i = used; i + strlen(timer) < (size_t)w; i++)
        cb_buf_putc(o, ' ');
    cb_buf_printf(o, "%s%s\n", timer, col(v, "\033[0m"));
}

static void tail_lines(const view_t *v, cb_buf_t *o, const step_t *s, size_t max) {
    size_t first = s->ntail > max ? s->ntail - max : 0;
    for (size_t i = first; i < s->ntail; i++) {
        cb_buf_printf(o, "%s => > ", col(v, "\033[2m"));
        clean(o, s->tail[i], (size_t)width(v) - 8);
        cb_buf_printf(o, "%s\n", col(v, "\033[0m"));
    }
}

static void transfer_line(const view_t *v, cb_buf_t *o, const char *text) {
    cb_buf_printf(o, "%s => ", col(v, "\033[36m"));
    clean(o, text, (size_t)width(v) - 5);
    cb_buf_printf(o, "%s\n", col(v, "\033[0m"));
}

static void header(const view_t *v, cb_buf_t *o, double now, const char *state) {
    cb_buf_printf(o, "%s[+] Building %.1fs (%zu/%ld)%s%s%s\n", col(v, "\033[1m"), now - v->t0, v->ended,
                  v->total > (long)v->ended ? v->total : (long)v->ended, *state ? " " : "", state,
                  col(v, "\033[0m"));
}

static void write_out(const view_t *v, const cb_buf_t *b) {
    (void)cb_write_all(v->out, cb_buf_str(b), b->len); /* a terminal that went away: nothing to show */
}

/* Replaces the live area: pending lines go above it for good. */
static void redraw(view_t *v, bool last) {
    double now = cb_progress_now();
    cb_autobuf cb_buf_t o = CB_BUF_INIT;
    if (v->drawn > 0)
        cb_buf_printf(&o, "\r\033[%dA\033[J", v->drawn);
    cb_buf_add(&o, v->pending.data ? v->pending.data : "", v->pending.len);
    cb_buf_truncate(&v->pending, 0);
    int lines = 0;
    if (!last) {
        size_t running = 0;
        for (size_t i = 0; i < v->nsteps; i++)
            running += v->steps[i].state == RUNNING;
        /* Output lines under each running step, as many as the screen allows. */
        int room = height(v) - 2 - (int)running;
        size_t per = running ? (size_t)(room > 0 ? room : 0) / running : 0;
        per = per > TAIL ? TAIL : per;
        size_t before = o.len;
        for (size_t i = 0; i < v->nsteps; i++) {
            const step_t *s = &v->steps[i];
            if (s->state != RUNNING)
                continue;
            step_line(v, &o, s, now);
            if (s->transfer)
                transfer_line(v, &o, s->transfer);
            tail_lines(v, &o, s, per);
        }
        if (v->transfer)
            transfer_line(v, &o, v->transfer);
        header(v, &o, now, "");
        for (size_t i = before; i < o.len; i++)
            lines += o.data[i] == '\n';
    }
    v->drawn = lines;
    write_out(v, &o);
}

static step_t *find(view_t *v, const char *label, long step) {
    for (size_t i = v->nsteps; i-- > 0;)
        if (v->steps[i].step == step && strcmp(v->steps[i].label, label) == 0)
            return &v->steps[i];
    return NULL;
}

static void add_tail(step_t *s, const char *line) {
    if (s->ntail == FAILED_TAIL) {
        free(s->tail[0]);
        memmove(s->tail, s->tail + 1, (FAILED_TAIL - 1) * sizeof *s->tail);
        s->ntail--;
    }
    s->tail[s->ntail++] = dup_text(line);
}

/* A finished step goes above the live area (a failed one with its output). */
static void settle(view_t *v, step_t *s) {
    step_line(v, &v->pending, s, cb_progress_now());
    if (s->state == ERRORED)
        tail_lines(v, &v->pending, s, FAILED_TAIL);
}

static void handle(view_t *v, json_t *ev) {
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *label = json_string_value(json_object_get(ev, "stage"));
    long stepno = (long)json_integer_value(json_object_get(ev, "step"));
    double t = json_number_value(json_object_get(ev, "time"));
    if (type == NULL)
        return;
    step_t *s = label ? find(v, label, stepno) : NULL;
    if (strcmp(type, "step") == 0 && label) {
        if (v->nsteps == v->cap) {
            v->cap = v->cap ? 2 * v->cap : 32;
            v->steps = cb_xrealloc(v->steps, v->cap * sizeof *v->steps);
        }
        s = &v->steps[v->nsteps++];
        memset(s, 0, sizeof *s);
        s->label = cb_xstrdup(label);
        s->step = stepno;
        s->nsteps = (long)json_integer_value(json_object_get(ev, "steps"));
        s->text = dup_text(json_string_value(json_object_get(ev, "instruction")) ?: "");
        s->t0 = t > 0 ? t : cb_progress_now();
        s->state = RUNNING;
        if (s->nsteps > v->total)
            v->total = s->nsteps;
    } else if (strcmp(type, "cache") == 0 && s) {
        s->cached = json_is_true(json_object_get(ev, "hit"));
    } else if (strcmp(type, "step_end") == 0 && s && s->state == RUNNING) {
        s->state = DONE;
        s->took = json_number_value(json_object_get(ev, "duration"));
        s->cached = json_is_true(json_object_get(ev, "cached"));
        v->ended++;
        v->cached += s->cached;
        settle(v, s);
    } else if (strcmp(type, "log") == 0) {
        const char *stream = json_string_value(json_object_get(ev, "stream")) ?: "";
        const char *line = json_string_value(json_object_get(ev, "line")) ?: "";
        if (strcmp(stream, "output") == 0 && s) {
            add_tail(s, line);
        } else if (strcmp(stream, "output") != 0) {
            bool warn = strcmp(stream, "warning") == 0 || strcmp(stream, "error") == 0;
            cb_buf_printf(&v->pending, "%s%s", col(v, warn ? "\033[33m" : "\033[2m"),
                          warn ? "WARNING: " : "=> ");
            clean(&v->pending, line, (size_t)width(v) - 10);
            cb_buf_printf(&v->pending, "%s\n", col(v, "\033[0m"));
        }
    } else if (strcmp(type, "transfer") == 0) {
        cb_meter_report_t r = {
            .verb = json_string_value(json_object_get(ev, "action")) ?: "",
            .ref = json_string_value(json_object_get(ev, "ref")) ?: "",
            .blobs_done = (unsigned)json_integer_value(json_object_get(ev, "blobs_done")),
            .blobs = (unsigned)json_integer_value(json_object_get(ev, "blobs")),
            .bytes = (uint64_t)json_integer_value(json_object_get(ev, "bytes")),
            .total = (uint64_t)json_integer_value(json_object_get(ev, "total")),
            .rate = (double)json_integer_value(json_object_get(ev, "rate")),
            .elapsed = json_number_value(json_object_get(ev, "duration")),
            .last = json_is_true(json_object_get(ev, "done")),
        };
        cb_autobuf cb_buf_t line = CB_BUF_INIT;
        cb_progress_transfer_text(&line, &r);
        char **slot = s ? &s->transfer : &v->transfer;
        free(*slot);
        *slot = NULL;
        /* A finished transfer stays: among the step's lines, or above the live area. */
        if (!r.last)
            *slot = cb_buf_steal(&line);
        else if (s)
            add_tail(s, cb_buf_str(&line));
        else
            cb_buf_printf(&v->pending, "=> %s\n", cb_buf_str(&line));
    } else if (strcmp(type, "error") == 0) {
        v->failed = true;
        /* The step that failed (if the error came from a stage builder, the
         * one that sent it) and any other still running. */
        for (size_t i = 0; i < v->nsteps; i++) {
            step_t *r = &v->steps[i];
            if (r->state != RUNNING || (s && r != s && label && strcmp(r->label, label) == 0))
                continue;
            r->state = ERRORED;
            r->took = cb_progress_now() - r->t0;
            settle(v, r);
        }
    } else if (strcmp(type, "image") == 0) {
        cb_autobuf cb_buf_t line = CB_BUF_INIT;
        json_t *tags = json_object_get(ev, "tags");
        size_t i;
        json_t *tag;
        cb_buf_puts(&line, "=> built ");
        json_array_foreach(tags, i, tag) cb_buf_printf(&line, "%s%s", i ? ", " : "", json_string_value(tag) ?: "");
        if (json_array_size(tags) == 0)
            cb_buf_puts(&line, "an untagged image");
        cb_buf_printf(&line, " %s", json_string_value(json_object_get(ev, "digest")) ?: "");
        free(v->final_line);
        v->final_line = cb_buf_steal(&line);
    }
}

_Noreturn void cb_progress_tty_run(int in, int out, double t0) {
    signal(SIGINT, SIG_IGN); /* Ctrl-C is the build's to handle; we draw until it is gone */
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);
    const char *nc = getenv("NO_COLOR");
    view_t v = {.out = out, .color = !(nc && *nc), .t0 = t0};
    static char buf[65536];
    double last_draw = 0;
    for (;;) {
        struct pollfd p = {.fd = in, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0) {
            ssize_t n = recv(in, buf, sizeof buf - 1, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break; /* every sender is gone: the build is over */
            buf[n] = '\0';
            json_t *ev = json_loads(buf, 0, NULL);
            if (ev) {
                handle(&v, ev);
                json_decref(ev);
            }
        }
        double now = cb_progress_now();
        if (v.pending.len > 0 || now - last_draw >= 0.1) {
            redraw(&v, false);
            last_draw = now;
        }
    }
    /* Steps nobody ended were stopped with the build. */
    for (size_t i = 0; i < v.nsteps; i++) {
        step_t *s = &v.steps[i];
        if (s->state == RUNNING) {
            s->state = ERRORED;
            s->took = cb_progress_now() - s->t0;
            settle(&v, s);
        }
    }
    redraw(&v, true);
    cb_autobuf cb_buf_t end = CB_BUF_INIT;
    bool ok = v.final_line != NULL && !v.failed;
    cb_buf_printf(&end, "%s[+] Building %.1fs (%zu/%ld, %zu cached) %s%s\n", col(&v, ok ? "\033[1m" : "\033[1;31m"),
                  cb_progress_now() - v.t0, v.ended, v.total > (long)v.ended ? v.total : (long)v.ended, v.cached,
                  ok ? "FINISHED" : "FAILED", col(&v, "\033[0m"));
    if (v.final_line)
        cb_buf_printf(&end, "%s\n", v.final_line);
    write_out(&v, &end);
    _exit(0);
}
