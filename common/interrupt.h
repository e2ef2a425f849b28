/* SIGINT and SIGTERM as a request to stop.
 *
 * A command that writes to the root (build, pull, push) installs the
 * handler; the first signal only records itself, and long operations poll
 * for it at their natural steps (a blob write, an HTTP transfer's progress,
 * a Containerfile step) and fail with CB_ERR_INTERRUPTED (status: the
 * signal, so the exit code is 128 + it). They then unwind through their
 * ordinary error paths: temp files removed, mounts undone, children
 * stopped. Dying where the signal found them would leave those behind.
 * The same signal a second time is not waited for: it gets the default
 * action (the process ends at once, as a user who presses Ctrl-C twice
 * expects). Another one (the SIGTERM a stage's builder gets from the
 * scheduler after the SIGINT of a terminal's Ctrl-C) is not a second.
 *
 * Without the handler installed, cb_interrupt_signal() is always 0.
 */
#ifndef CB_INTERRUPT_H
#define CB_INTERRUPT_H

#include "common/error.h"

void cb_interrupt_install(void);
/* The signal received since the install, else 0; safe from any thread. */
int cb_interrupt_signal(void);
/* 0, or -1 with an "interrupted by SIG..." error once a signal came. */
int cb_interrupt_check(cb_error_t **err);

#endif
