/* How a build reports while it runs (--progress).
 *
 *  plain  today's log lines ("STEP 3/7: RUN make", "--> Using cache ...",
 *         warnings), every output line of a RUN step prefixed with its stage
 *         and step ("[build 3/7] cc -c main.c"), an end line for each FROM,
 *         RUN, COPY, ADD and WORKDIR step ("--> [build 3/7] DONE 1.52s" or
 *         "--> [build 3/7] CACHED"), and a last line with the tags, the
 *         image digest and the total time.
 *  json   one JSON object per line on stderr, nothing else there: step,
 *         cache, log, step_end, error and image events (docs/man/cbuild.1).
 *  tty    a live view drawn by a renderer process (progress_tty.c) from the
 *         same JSON events, sent over a pipe.
 *  quiet  nothing but the image ID (stdout) and errors.
 *
 * Pulls and pushes report through push/meter.h's hook: a plain line, a json
 * "transfer" event, a line of the tty view.
 *
 * Forked stage builders (scheduler.c) inherit the mode and the pipe and
 * report their own steps: every event and every plain line is one write()
 * of at most PIPE_BUF bytes (longer output lines are split), so lines from
 * parallel stages never mix. The process that called cb_progress_start
 * ends it with cb_progress_finish, which waits for the renderer and then
 * prints the image ID on stdout. */
#ifndef CB_BUILDER_PROGRESS_H
#define CB_BUILDER_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/util.h"

typedef enum {
    CB_PROGRESS_AUTO,
    CB_PROGRESS_TTY,
    CB_PROGRESS_PLAIN,
    CB_PROGRESS_JSON,
    CB_PROGRESS_QUIET,
} cb_progress_mode_t;

/* "auto", "tty", "plain", "json", "quiet"; -1 for anything else. */
int cb_progress_parse(const char *s, cb_progress_mode_t *out);
/* auto: tty when stderr is a terminal (and TERM is not "dumb"), else plain. */
cb_progress_mode_t cb_progress_resolve(cb_progress_mode_t m);

/* Starts reporting (tty: forks the renderer; without a terminal after all,
 * plain). Takes over cb_log's output. */
void cb_progress_start(cb_progress_mode_t mode);
cb_progress_mode_t cb_progress_mode(void);

/* A step begins: its stage's name (NULL: "stage-N"), global step number,
 * the instruction as written. `timed` steps get an end line in plain. */
void cb_progress_step(const char *stage_name, size_t stage, unsigned step, unsigned nsteps, const char *text,
                      bool timed);
/* Why the current step missed the cache (--explain-cache); plain prints it at once. */
void cb_progress_cache_reason(const char *why);
/* The cache's answer for the current step. */
void cb_progress_cache(bool hit);
/* The current step is done. */
void cb_progress_step_end(void);
/* Output of the current step's command, any chunking. */
void cb_progress_output(const char *buf, size_t n);

/* The build failed (json: an error event; the caller prints it otherwise). */
void cb_progress_error(const cb_error_t *err);
/* The build made an image: id = config digest, digest = manifest digest. */
void cb_progress_image(const char *id, const char *digest, const cb_strv_t *tags);
/* Waits for the renderer; prints the image ID on stdout after a success. */
void cb_progress_finish(void);

/* For commands other than build (pull, push): long transfers report on one
 * line redrawn in place on a terminal, else as plain lines; nothing when quiet. */
void cb_progress_start_transfers(bool quiet);

/* Where the current step is, for a forked stage builder's error report:
 * false outside a step. */
bool cb_progress_where(const char **label, unsigned *step, unsigned *nsteps);
/* The parent takes over a forked stage builder's failing step, so that the
 * error event names it (no event of its own). */
void cb_progress_failed_in(const char *label, unsigned step, unsigned nsteps);

#endif
