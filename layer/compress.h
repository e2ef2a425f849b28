/* Streaming compression of a layer's tar bytes: gzip (libdeflate, level 6 by
 * default) or zstd (libzstd, level 3 by default) or none. Output goes to a
 * sink in bounded chunks and is counted and hashed on the way (the blob
 * digest). Both compressors run on several threads (CBUILD_JOBS, else the
 * CPUs this process may use) and are deterministic: equal input gives equal
 * bytes whatever the thread count and however the writes are cut. gzip is
 * layer/pgzip.h (members of at most 1 MiB, mtime 0, no name); zstd is
 * libzstd's multithreaded mode with a fixed 2 MiB job size. gzip calls the
 * sink in the caller's thread, from within write and finish; zstd, once
 * the stream passes 1 MiB, from a thread of its own that feeds libzstd
 * (never two calls at once, and never after finish or free returns). */
#ifndef CB_LAYER_COMPRESS_H
#define CB_LAYER_COMPRESS_H

#include <stdint.h>

#include "layer/layer.h"

typedef struct cb_layer_compressor cb_layer_compressor_t;

/* Threads for compression: CBUILD_JOBS if set (a positive number; anything
 * else is an error naming it), else the CPUs in this process's affinity
 * mask; capped at CB_PGZIP_MAX_THREADS. */
int cb_layer_compress_threads(int *out, cb_error_t **err);

/* level 0 picks the default for the method. */
int cb_layer_compressor_new(cb_layer_compressor_t **out, cb_layer_compression_t method, int level,
                            cb_layer_sink_fn sink, void *sink_ctx, cb_error_t **err);
int cb_layer_compressor_write(cb_layer_compressor_t *c, const void *buf, size_t n,
                              cb_error_t **err);
/* Ends the compressed stream and flushes it to the sink; then the size and
 * digest are final. */
int cb_layer_compressor_finish(cb_layer_compressor_t *c, cb_error_t **err);
uint64_t cb_layer_compressor_size(const cb_layer_compressor_t *c);
void cb_layer_compressor_digest(cb_layer_compressor_t *c, char out[CB_DIGEST_STR_LEN + 1]);
/* After finish: the sha256 of every byte written (a layer's diff_id),
 * computed where the input is consumed: for zstd past the first MiB in the
 * feeder thread, not the caller's. */
void cb_layer_compressor_input_digest(cb_layer_compressor_t *c, char out[CB_DIGEST_STR_LEN + 1]);
void cb_layer_compressor_free(cb_layer_compressor_t *c);

#endif
