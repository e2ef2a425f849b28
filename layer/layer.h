/* Image layers: writing them (writer.h) and applying them (apply.h).
 *
 * A layer is a tar stream (PAX, restricted to ustar headers where they
 * suffice), optionally gzip- or zstd-compressed. Two digests describe it:
 * the diff_id is the sha256 of the uncompressed tar, the blob digest that of
 * the bytes actually stored (compressed). Both are computed in the same
 * streaming pass that writes or reads the layer; memory never grows with the
 * layer's byte size.
 *
 * This header holds the types both directions share. */
#ifndef CB_LAYER_H
#define CB_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/digest.h"
#include "common/error.h"

typedef enum cb_layer_compression {
    CB_LAYER_UNCOMPRESSED = 0,
    CB_LAYER_GZIP,
    CB_LAYER_ZSTD,
} cb_layer_compression_t;

/* Where written layer bytes go (the image store supplies one that writes a
 * temp blob file). Must consume all n bytes or fail. */
typedef int (*cb_layer_sink_fn)(void *ctx, const void *buf, size_t n, cb_error_t **err);

/* Where applied layer bytes come from: fill up to cap bytes, set *got
 * (0 means end of stream). */
typedef int (*cb_layer_source_fn)(void *ctx, void *buf, size_t cap, size_t *got,
                                  cb_error_t **err);

/* "" for uncompressed, "+gzip", "+zstd": appended to the layer media type
 * ("application/vnd.oci.image.layer.v1.tar" + suffix). */
const char *cb_layer_media_suffix(cb_layer_compression_t c);
/* "none", "gzip" or "zstd". */
const char *cb_layer_compression_name(cb_layer_compression_t c);
/* Parses "gzip", "zstd", "none"/"uncompressed"; error names the bad value. */
int cb_layer_compression_parse(const char *s, cb_layer_compression_t *out, cb_error_t **err);

#endif
