/* Parallel, deterministic gzip for layer blobs, on libdeflate.
 *
 * The input is cut into fixed CB_PGZIP_BLOCK-byte blocks, counted from the
 * first byte, so the cut points depend on the bytes only, never on how the
 * caller chunks its writes or how many threads run. Each block becomes one or
 * more complete gzip members (RFC 1952 allows a file of several; gzip,
 * zlib's inflate in gzip mode, Go's compress/gzip, libarchive and Python read
 * them as one stream): its CB_PGZIP_SEGMENT-byte segments are classed as
 * compressible or not by their byte histogram, each run of same-class
 * segments is one member, deflated (libdeflate at the level) or stored
 * (libdeflate level 0) accordingly. Headers have mtime 0 and no name. The
 * same bytes come out for any thread count. An empty input is one member of
 * an empty deflate stream.
 *
 * Threads: with threads <= 1 the caller's thread compresses each block as it
 * fills up. Otherwise that many workers compress blocks from a fixed ring of
 * 2 * threads + 2 slots (about 2.1 MiB each); a write blocks while the ring
 * is full. Compressed bytes reach the output callback in order and always in
 * the caller's thread, from within cb_pgzip_write and cb_pgzip_finish. */
#ifndef CB_LAYER_PGZIP_H
#define CB_LAYER_PGZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CB_PGZIP_BLOCK (1024 * 1024)
#define CB_PGZIP_SEGMENT (64 * 1024)
#define CB_PGZIP_MAX_THREADS 64

typedef struct cb_pgzip cb_pgzip_t;

typedef int (*cb_pgzip_out_fn)(void *ctx, const void *buf, size_t n, cb_error_t **err);

/* level 1..9 (as gzip's); threads above CB_PGZIP_MAX_THREADS are capped. If
 * the system refuses threads, fewer (or none) are used: the bytes do not
 * change. */
int cb_pgzip_new(cb_pgzip_t **out, int level, int threads, cb_pgzip_out_fn fn, void *ctx,
                 cb_error_t **err);
int cb_pgzip_write(cb_pgzip_t *z, const void *buf, size_t n, cb_error_t **err);
/* Compresses what is left and waits for every block.
 * After an error (here or in a write) the stream is dead: later calls fail. */
int cb_pgzip_finish(cb_pgzip_t *z, cb_error_t **err);
/* Worker threads actually running (0: the caller compresses). */
int cb_pgzip_threads(const cb_pgzip_t *z);
/* Stops the workers (a block being compressed is finished first) and frees. */
void cb_pgzip_free(cb_pgzip_t *z);

/* Whether a segment of n bytes looks incompressible: its byte histogram is
 * as flat as random data's (chi-square against uniform below 1.5 x its 255
 * degrees of freedom), so Huffman codes gain nothing, and data repeating
 * within deflate's 32 KiB window (which doubles the statistic of a 64 KiB
 * segment or more) is not taken for it. Segments under 4 KiB are always
 * compressed. Exposed for the tests. */
bool cb_pgzip_incompressible(const unsigned char *p, size_t n);

#endif
