/* Between progress.c and its tty renderer. */
#ifndef CB_BUILDER_PROGRESS_PRIVATE_H
#define CB_BUILDER_PROGRESS_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "push/meter.h"

/* Seconds since the epoch, with fractions. */
double cb_progress_now(void);
/* A transfer's progress as one line: "pull REF: layer 3/5 120 MB / 300 MB 98.2 MB/s",
 * at the end "pull REF: 5 layers, 300 MB in 3.05s (98.2 MB/s)". */
void cb_progress_transfer_text(cb_buf_t *out, const cb_meter_report_t *r);
/* The renderer process: reads events (one per message) from `in` until
 * every sender is gone, draws on the terminal `out`, exits. */
_Noreturn void cb_progress_tty_run(int in, int out, double t0);

#endif
