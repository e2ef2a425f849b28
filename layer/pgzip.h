/* Parallel, deterministic gzip (pigz style) for layer blobs.
 *
 * The input is cut into fixed CB_PGZIP_BLOCK-byte blocks, counted from the
 * first byte, so the cut points depend on the bytes only, never on how the
 * caller chunks its writes. Each block is raw-deflated on its own, primed
 * with the 32 KiB of input before it (deflateSetDictionary), and ends with a
 * sync flush (byte-aligned, not final); the last block, possibly empty,
 * finishes the stream. The blocks joined make one deflate stream inside one
 * gzip member (header mtime 0, no name; CRC32 combined from the blocks'
 * CRCs, ISIZE). The same bytes come out for any thread count.
 *
 * Threads: with threads <= 1 the caller's thread deflates each block as it
 * fills up. Otherwise that many workers deflate blocks from a fixed ring of
 * 2 * threads + 2 slots; a write blocks while the ring is full. Compressed
 * bytes reach the output callback in order and always in the caller's
 * thread, from within cb_pgzip_write and cb_pgzip_finish. Memory is fixed:
 * about 300 KiB per slot plus one deflate state per worker. */
#ifndef CB_LAYER_PGZIP_H
#define CB_LAYER_PGZIP_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CB_PGZIP_BLOCK (128 * 1024)
#define CB_PGZIP_DICT (32 * 1024)
#define CB_PGZIP_MAX_THREADS 64

typedef struct cb_pgzip cb_pgzip_t;

typedef int (*cb_pgzip_out_fn)(void *ctx, const void *buf, size_t n, cb_error_t **err);

/* level 1..9 (zlib's); threads above CB_PGZIP_MAX_THREADS are capped. If
 * the system refuses threads, fewer (or none) are used: the bytes do not
 * change. */
int cb_pgzip_new(cb_pgzip_t **out, int level, int threads, cb_pgzip_out_fn fn, void *ctx,
                 cb_error_t **err);
int cb_pgzip_write(cb_pgzip_t *z, const void *buf, size_t n, cb_error_t **err);
/* Deflates what is left, waits for every block and writes the trailer.
 * After an error (here or in a write) the stream is dead: later calls fail. */
int cb_pgzip_finish(cb_pgzip_t *z, cb_error_t **err);
/* Worker threads actually running (0: the caller deflates). */
int cb_pgzip_threads(const cb_pgzip_t *z);
/* Stops the workers (a block being deflated is finished first) and frees. */
void cb_pgzip_free(cb_pgzip_t *z);

#endif
