/* A few threads working through numbered items: a pull's layers, a push's
 * blobs, an import's copies. */
#ifndef CB_COMMON_WORKERS_H
#define CB_COMMON_WORKERS_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/error.h"

typedef int (*cb_workers_fn)(void *ctx, size_t i, cb_error_t **err);

/* Calls fn(ctx, i, ...) once for each i in [0, n) on up to `jobs` threads,
 * the calling one among them (when no thread can be made, it does all the
 * work). The first failure stops handing out items and sets *stop, when
 * given, so that fn can give up on the items it is working on; it is the
 * failure returned, unless it was an interruption (CB_ERR_INTERRUPTED) and
 * another item then failed for a reason of its own. */
int cb_workers_run(size_t n, size_t jobs, cb_workers_fn fn, void *ctx, atomic_int *stop, cb_error_t **err);

#endif
