/* A byte stream consumed behind its producer: writes are copied into a
 * ring of fixed chunks and a thread of the stream's own hands each full
 * chunk, in order, to a callback. The producer waits only when the ring is
 * full. Used where the consumer's work (libzstd's feeding, a blob's
 * write(2) and sync_file_range(2)) would otherwise stall the thread that
 * reads files and builds a layer's tar.
 *
 * The callback runs in the thread only, one chunk at a time, and never
 * after finish or abandon returns. Its first failure stops the stream:
 * later chunks are dropped and the error is returned by the next write, or
 * by finish. */
#ifndef CB_COMMON_BEHIND_H
#define CB_COMMON_BEHIND_H

#include <stddef.h>

#include "common/error.h"

typedef int (*cb_behind_fn)(void *ctx, const void *buf, size_t n, cb_error_t **err);

typedef struct cb_behind cb_behind_t;

/* slots chunks of chunk bytes (made when first filled). NULL when no
 * thread can be made: the caller then does the work itself. */
cb_behind_t *cb_behind_start(size_t chunk, int slots, cb_behind_fn fn, void *ctx);
/* Copies buf; full chunks go to the thread. -1 with the thread's error
 * (the stream is then dead). */
int cb_behind_write(cb_behind_t *b, const void *buf, size_t n, cb_error_t **err);
/* Hands over the last partial chunk, waits until every chunk is consumed,
 * ends the thread and frees b; -1 with the thread's error. */
int cb_behind_finish(cb_behind_t *b, cb_error_t **err);
/* Ends the thread without consuming what is queued (a chunk being consumed
 * is finished first) and frees b. NULL is fine. */
void cb_behind_abandon(cb_behind_t *b);

#endif
