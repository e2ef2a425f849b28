/* Applying a layer onto a directory (unpacking a base image layer, or ADD of
 * a local archive).
 *
 * The stream may be uncompressed or gzip/zstd (layers), or bzip2/xz (ADD);
 * it is detected, not declared. The diff_id (sha256 of the uncompressed
 * tar, including its end padding) is computed while applying, for the
 * caller to compare with the image config.
 *
 * Safety: every entry name must be relative and free of ".."; every path is
 * resolved beneath the target (see resolve.h), so no entry, symlink or
 * hardlink can create, change or link to anything outside it. An entry that
 * tries is an error naming it, and the apply stops there (the target is then
 * half-applied: callers unpack into a fresh directory and mark it complete
 * only on success, DESIGN.md "layers/").
 *
 * OCI whiteouts: ".wh.NAME" deletes NAME of lower layers, ".wh..wh..opq"
 * deletes all lower content of its directory; neither is written to disk.
 * Entries created earlier by the same layer are kept. Memory grows with the
 * number of entries (the set of created names), never with file sizes.
 *
 * Overlay bookkeeping xattrs (user.overlay.*, trusted.overlay.*) in a
 * layer are not set: unpacked trees serve as RUN's overlay lower dir.
 */
#ifndef CB_LAYER_APPLY_H
#define CB_LAYER_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "layer/layer.h"

typedef struct cb_layer_apply_opts {
    /* Unprivileged: a chown or a trusted./security. xattr that fails with
     * EPERM/EINVAL is skipped silently (files keep the caller's ids), and
     * device nodes are refused with an error. Outside rootless mode those
     * failures are errors. */
    bool rootless;
    uint64_t max_size; /* most uncompressed bytes to accept; 0: no limit */
} cb_layer_apply_opts_t;

/* The builder's default for max_size (cbuild.conf max-layer-size): a bound
 * on what a gzip or zstd bomb can write, several times the largest layers
 * of common public images (CUDA and ML layers of 5-10 GB uncompressed). */
#define CB_LAYER_DEFAULT_MAX_SIZE (32ull << 30)

typedef struct cb_layer_apply_result {
    char diff_id[CB_DIGEST_STR_LEN + 1];
    uint64_t tar_size; /* uncompressed bytes */
    uint64_t entries;  /* tar entries read, whiteouts included */
    const char *compression; /* "none", "gzip", "zstd", "bzip2", "xz", "lzma" */
} cb_layer_apply_result_t;

int cb_layer_apply(int target_dirfd, cb_layer_source_fn source, void *source_ctx,
                   const cb_layer_apply_opts_t *opts, cb_layer_apply_result_t *res,
                   cb_error_t **err);
/* Reads the layer from fd until end of file. */
int cb_layer_apply_fd(int target_dirfd, int fd, const cb_layer_apply_opts_t *opts,
                      cb_layer_apply_result_t *res, cb_error_t **err);

#endif
