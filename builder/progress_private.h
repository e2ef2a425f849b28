/* Between progress.c and its tty renderer. */
#ifndef CB_BUILDER_PROGRESS_PRIVATE_H
#define CB_BUILDER_PROGRESS_PRIVATE_H

/* Seconds since the epoch, with fractions. */
double cb_progress_now(void);
/* The renderer process: reads events (one per message) from `in` until
 * every sender is gone, draws on the terminal `out`, exits. */
_Noreturn void cb_progress_tty_run(int in, int out, double t0);

#endif
