/* A set of sealed blob writers published together: an import verifies every
 * blob first and only then renames them into the store, so a source that
 * fails half-way leaves the store as it was. Internal to cache/. */
#ifndef CB_CACHE_STAGE_H
#define CB_CACHE_STAGE_H

#include "cache/blob.h"
#include "cache/oci.h"

typedef struct cb_stage {
    const cb_store_t *store;
    cb_blob_writer_t **writers;
    size_t n;
} cb_stage_t;

/* Stages bytes that must hash to `digest` (NULL: whatever they hash to; the
 * digest is then written to digest_out, which may be NULL). */
int cb_stage_bytes(cb_stage_t *st, const void *data, size_t len, const char *digest,
                   char *digest_out, cb_error_t **err);
/* Stages blobs of another layout (layers), each verified against its
 * descriptor and skipped when the store has it already, a few at a time;
 * the first failure (its error names the layer, 1-based) stops the others
 * and stages none of them. */
int cb_stage_copy_layers(cb_stage_t *st, const cb_store_t *src, const cb_oci_descriptor_t *d,
                         size_t n, cb_error_t **err);
/* Publishes everything; the stage is empty afterwards. */
int cb_stage_commit(cb_stage_t *st, cb_error_t **err);
/* Drops whatever is staged. */
void cb_stage_abort(cb_stage_t *st);

#endif
