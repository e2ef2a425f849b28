#include "builder/progress.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder/cli.h"
#include "builder/progress_private.h"
#include "common/fsutil.h"
#include "common/log.h"

/* Output bytes per event or plain line: even if every byte became a
 * six-byte JSON escape, an event stays under PIPE_BUF. */
#define CHUNK 600

static struct {
    cb_progress_mode_t mode;
    int fd;          /* events (json: stderr; tty: the renderer's socket) */
    pid_t renderer;  /* tty: the renderer process */
    pid_t owner;     /* the process that started it (children never finish it) */
    double t0;       /* when the build started */
    /* The current step of this process. */
    bool in_step;
    char label[96];
    unsigned step, nsteps;
    double step_t0;
    bool timed;
    int hit; /* -1 unknown, 0 miss, 1 hit */
    char *reason;
    cb_buf_t partial; /* output after its last newline */
    char *image_id;
    bool redraw; /* pull/push on a terminal: transfers on one line redrawn in place */
} P = {.fd = STDERR_FILENO, .hit = -1};

double cb_progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cb_progress_parse(const char *s, cb_progress_mode_t *out) {
    static const char *const names[] = {"auto", "tty", "plain", "json", "quiet"};
    for (size_t i = 0; i < CB_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (cb_progress_mode_t)i;
            return 0;
        }
    return -1;
}

cb_progress_mode_t cb_progress_resolve(cb_progress_mode_t m) {
    if (m != CB_PROGRESS_AUTO)
        return m;
    const char *term = getenv("TERM");
    return isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0) ? CB_PROGRESS_TTY : CB_PROGRESS_PLAIN;
}

cb_progress_mode_t cb_progress_mode(void) {
    return P.mode;
}

static bool events(void) {
    return P.mode == CB_PROGRESS_JSON || P.mode == CB_PROGRESS_TTY;
}

/* A reader that went away costs only the report. */
static void write_all(int fd, const char *s, size_t n) {
    if (P.mode != CB_PROGRESS_TTY || fd != P.fd) {
        (void)cb_write_all(fd, s, n);
        return;
    }
    /* One SEQPACKET message: whole or not at all. */
    while (send(fd, s, n, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

/* Bytes as a JSON string: invalid UTF-8 becomes U+FFFD (jansson takes only UTF-8). */
static json_t *utf8_string(const char *s, size_t n) {
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
        bool valid = len > 0 && (size_t)(end - p) >= len && *p != 0;
        for (size_t i = 1; valid && i < len; i++)
            valid = (p[i] & 0xc0) == 0x80;
        if (valid && len == 2)
            valid = *p >= 0xc2;
        if (valid && len == 3)
            valid = !(*p == 0xe0 && p[1] < 0xa0) && !(*p == 0xed && p[1] >= 0xa0);
        if (valid && len == 4)
            valid = *p <= 0xf4 && !(*p == 0xf0 && p[1] < 0x90) && !(*p == 0xf4 && p[1] >= 0x90);
        if (valid) {
            cb_buf_add(&b, p, len);
            p += len;
        } else {
            cb_buf_puts(&b, "\xef\xbf\xbd");
            p++;
        }
    }
    return json_stringn(cb_buf_str(&b), b.len);
}

/* A new event: its type, the time, and the current step when there is one
 * (in that order, for people reading the lines). */
static json_t *event(const char *type, bool with_step) {
    json_t *ev = json_object();
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "time", json_real(cb_progress_now()));
    if (with_step && P.in_step) {
        json_object_set_new(ev, "stage", json_string(P.label));
        json_object_set_new(ev, "step", json_integer(P.step));
    }
    return ev;
}

/* Sends an event as one line in one write, and drops it. */
static void emit(json_t *ev) {
    char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(13));
    json_decref(ev);
    if (s == NULL)
        return;
    size_t n = strlen(s);
    s[n] = '\n'; /* replaces the NUL: the line goes out with its newline */
    write_all(P.fd, s, n + 1);
    free(s);
}

static void plain_line(const char *text, size_t n);

static void log_handler(cb_log_level_t level, const char *module, const char *msg) {
    static const char *const streams[] = {"error", "warning", "info", "debug"};
    /* "step" messages are the announcements the step and cache events replace. */
    if (level == CB_LOG_INFO && module && strcmp(module, "step") == 0)
        return;
    json_t *ev = event("log", true);
    json_object_set_new(ev, "stream", json_string(streams[level]));
    if (module)
        json_object_set_new(ev, "module", json_string(module));
    json_object_set_new(ev, "line", utf8_string(msg, strlen(msg)));
    emit(ev);
}

void cb_progress_transfer_text(cb_buf_t *out, const cb_meter_report_t *r) {
    const char *noun = strcmp(r->verb, "pull") == 0 ? "layer" : "blob";
    char done[32], all[32], speed[32];
    cb_cli_human_size((int64_t)r->bytes, done);
    cb_cli_human_size((int64_t)r->total, all);
    cb_cli_human_size((int64_t)r->rate, speed);
    if (r->last)
        cb_buf_printf(out, "%s %s: %u/%u %ss, %s in %.2fs (%s/s)", r->verb, r->ref, r->blobs_done, r->blobs, noun,
                      done, r->elapsed, speed);
    else
        cb_buf_printf(out, "%s %s: %s %u/%u %s / %s %s/s", r->verb, r->ref, noun, r->blobs_done, r->blobs, done,
                      all, speed);
}

/* Reports of push/meter.h, from whichever thread moves the bytes: each is
 * one write, like every other line. */
static void transfer_hook(const cb_meter_report_t *r) {
    if (events()) {
        json_t *ev = event("transfer", true);
        json_object_set_new(ev, "action", json_string(r->verb));
        json_object_set_new(ev, "ref", utf8_string(r->ref, strlen(r->ref)));
        json_object_set_new(ev, "blobs_done", json_integer(r->blobs_done));
        json_object_set_new(ev, "blobs", json_integer(r->blobs));
        json_object_set_new(ev, "bytes", json_integer((json_int_t)r->bytes));
        json_object_set_new(ev, "total", json_integer((json_int_t)r->total));
        json_object_set_new(ev, "rate", json_integer((json_int_t)r->rate));
        json_object_set_new(ev, "duration", json_real((double)(long long)(r->elapsed * 1000 + 0.5) / 1000));
        json_object_set_new(ev, "done", json_boolean(r->last));
        emit(ev);
        return;
    }
    cb_autobuf cb_buf_t line = CB_BUF_INIT;
    cb_progress_transfer_text(&line, r);
    if (P.redraw) {
        cb_autofree char *s = cb_xasprintf("\r\033[K%s%s", cb_buf_str(&line), r->last ? "\n" : "");
        write_all(STDERR_FILENO, s, strlen(s));
    } else if (P.in_step) {
        plain_line(line.data, line.len);
    } else {
        cb_info(r->verb, "%s", cb_buf_str(&line));
    }
}

void cb_progress_start(cb_progress_mode_t mode) {
    P.mode = cb_progress_resolve(mode);
    P.owner = getpid();
    P.t0 = cb_progress_now();
    P.fd = STDERR_FILENO;
    if (P.mode == CB_PROGRESS_TTY) {
        int sv[2];
        /* SEQPACKET: each event one message, whole whatever process sends it;
         * send(MSG_NOSIGNAL): a renderer that died is no SIGPIPE. */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            P.mode = CB_PROGRESS_PLAIN;
        } else {
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                close(sv[0]);
                cb_progress_tty_run(sv[1], STDERR_FILENO, P.t0);
            }
            close(sv[1]);
            if (pid < 0) {
                close(sv[0]);
                P.mode = CB_PROGRESS_PLAIN;
            } else {
                P.renderer = pid;
                P.fd = sv[0];
            }
        }
    }
    if (events())
        cb_log_set_handler(log_handler);
    cb_log_set_quiet(P.mode == CB_PROGRESS_QUIET);
    cb_meter_set_hook(P.mode == CB_PROGRESS_QUIET ? NULL : transfer_hook);
}

void cb_progress_start_transfers(bool quiet) {
    P.mode = quiet ? CB_PROGRESS_QUIET : CB_PROGRESS_PLAIN;
    P.owner = getpid();
    P.t0 = cb_progress_now();
    P.redraw = !quiet && cb_progress_resolve(CB_PROGRESS_AUTO) == CB_PROGRESS_TTY;
    cb_meter_set_hook(quiet ? NULL : transfer_hook);
}

static void plain_line(const char *text, size_t n) {
    /* One write per line; a long line in CHUNK pieces, each prefixed. */
    do {
        size_t take = n > CHUNK ? CHUNK : n;
        cb_autofree char *line = cb_xasprintf("[%s %u/%u] %.*s\n", P.label, P.step, P.nsteps, (int)take, text);
        write_all(STDERR_FILENO, line, strlen(line));
        text += take;
        n -= take;
    } while (n > 0);
}

static void output_line(const char *text, size_t n) {
    if (n > 0 && text[n - 1] == '\r')
        n--;
    if (P.mode == CB_PROGRESS_PLAIN) {
        plain_line(text, n);
        return;
    }
    do {
        size_t take = n > CHUNK ? CHUNK : n;
        json_t *ev = event("log", true);
        json_object_set_new(ev, "stream", json_string("output"));
        json_object_set_new(ev, "line", utf8_string(text, take));
        emit(ev);
        text += take;
        n -= take;
    } while (n > 0);
}

void cb_progress_output(const char *buf, size_t n) {
    if (P.mode == CB_PROGRESS_QUIET)
        return;
    cb_buf_add(&P.partial, buf, n);
    size_t start = 0;
    for (size_t i = 0; i < P.partial.len; i++) {
        if (P.partial.data[i] != '\n')
            continue;
        output_line(P.partial.data + start, i - start);
        start = i + 1;
    }
    /* Keep the unfinished line; a huge one goes out in pieces. */
    if (P.partial.len - start > 4 * CHUNK) {
        output_line(P.partial.data + start, P.partial.len - start);
        start = P.partial.len;
    }
    if (start > 0) {
        memmove(P.partial.data, P.partial.data + start, P.partial.len - start);
        cb_buf_truncate(&P.partial, P.partial.len - start);
    }
}

static void flush_output(void) {
    if (P.partial.len > 0)
        output_line(P.partial.data, P.partial.len);
    cb_buf_truncate(&P.partial, 0);
}

void cb_progress_step(const char *stage_name, size_t stage, unsigned step, unsigned nsteps, const char *text,
                      bool timed) {
    flush_output();
    P.in_step = true;
    if (stage_name)
        snprintf(P.label, sizeof P.label, "%s", stage_name);
    else
        snprintf(P.label, sizeof P.label, "stage-%zu", stage);
    P.step = step;
    P.nsteps = nsteps;
    P.step_t0 = cb_progress_now();
    P.timed = timed;
    P.hit = -1;
    free(P.reason);
    P.reason = NULL;
    if (events()) {
        json_t *ev = event("step", true);
        json_object_set_new(ev, "steps", json_integer(nsteps));
        json_object_set_new(ev, "instruction", utf8_string(text, strlen(text)));
        emit(ev);
    } else {
        cb_info("step", "STEP %u/%u: %s", step, nsteps, text);
    }
}

void cb_progress_cache_reason(const char *why) {
    free(P.reason);
    P.reason = cb_xstrdup(why);
    if (!events())
        cb_info("cache", "--> Cache miss: %s", why);
}

void cb_progress_cache(bool hit) {
    P.hit = hit;
    if (!events())
        return;
    json_t *ev = event("cache", true);
    json_object_set_new(ev, "hit", json_boolean(hit));
    if (!hit && P.reason)
        json_object_set_new(ev, "reason", utf8_string(P.reason, strlen(P.reason)));
    emit(ev);
}

void cb_progress_step_end(void) {
    if (!P.in_step)
        return;
    flush_output();
    double took = cb_progress_now() - P.step_t0;
    if (events()) {
        json_t *ev = event("step_end", true);
        json_object_set_new(ev, "cached", json_boolean(P.hit == 1));
        json_object_set_new(ev, "duration", json_real((double)(long long)(took * 1000 + 0.5) / 1000));
        emit(ev);
    } else if (P.timed && P.hit == 1) {
        cb_info("progress", "--> [%s %u/%u] CACHED", P.label, P.step, P.nsteps);
    } else if (P.timed) {
        cb_info("progress", "--> [%s %u/%u] DONE %.2fs", P.label, P.step, P.nsteps, took);
    }
    P.in_step = false;
}

void cb_progress_error(const cb_error_t *err) {
    flush_output();
    if (!events())
        return;
    const cb_error_t *at = err;
    while (at && at->file == NULL)
        at = at->cause;
    cb_autofree char *msg = cb_error_message(err);
    json_t *ev = event("error", true);
    /* Every error event has the keys: null when it happened outside a step
     * (options, a push after the build). */
    if (!P.in_step) {
        json_object_set_new(ev, "stage", json_null());
        json_object_set_new(ev, "step", json_null());
    }
    json_object_set_new(ev, "message", utf8_string(msg, strlen(msg)));
    if (at) {
        json_object_set_new(ev, "file", json_string(at->file));
        json_object_set_new(ev, "line", json_integer(at->line));
    }
    json_object_set_new(ev, "exit_code", json_integer(cb_error_exit_code(err)));
    emit(ev);
}

bool cb_progress_where(const char **label, unsigned *step, unsigned *nsteps) {
    if (!P.in_step)
        return false;
    *label = P.label;
    *step = P.step;
    *nsteps = P.nsteps;
    return true;
}

void cb_progress_failed_in(const char *label, unsigned step, unsigned nsteps) {
    flush_output();
    snprintf(P.label, sizeof P.label, "%s", label);
    P.step = step;
    P.nsteps = nsteps;
    P.in_step = true;
    P.hit = -1;
}

void cb_progress_image(const char *id, const char *digest, const cb_strv_t *tags) {
    free(P.image_id);
    P.image_id = cb_xstrdup(id);
    double took = cb_progress_now() - P.t0;
    if (events()) {
        json_t *t = json_array();
        for (size_t i = 0; i < tags->len; i++)
            json_array_append_new(t, json_string(tags->items[i]));
        json_t *ev = event("image", false);
        json_object_set_new(ev, "id", json_string(id));
        json_object_set_new(ev, "digest", json_string(digest));
        json_object_set_new(ev, "tags", t);
        json_object_set_new(ev, "duration", json_real((double)(long long)(took * 1000 + 0.5) / 1000));
        emit(ev);
        return;
    }
    cb_autobuf cb_buf_t names = CB_BUF_INIT;
    for (size_t i = 0; i < tags->len; i++)
        cb_buf_printf(&names, "%s%s", i ? ", " : "", tags->items[i]);
    cb_info("commit", "Built %s %s in %.2fs", tags->len ? cb_buf_str(&names) : "an untagged image,", digest, took);
}

void cb_progress_finish(void) {
    if (getpid() != P.owner)
        return;
    flush_output();
    if (P.mode == CB_PROGRESS_TTY && P.renderer > 0) {
        close(P.fd);
        P.fd = STDERR_FILENO;
        while (waitpid(P.renderer, NULL, 0) < 0 && errno == EINTR) {
        }
        P.renderer = 0;
    }
    cb_log_set_handler(NULL);
    if (P.image_id) {
        printf("%s\n", P.image_id + 7);
        fflush(stdout);
    }
    free(P.image_id);
    P.image_id = NULL;
    free(P.reason);
    P.reason = NULL;
    cb_buf_free(&P.partial);
}
