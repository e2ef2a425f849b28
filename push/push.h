/* Pushing an image from the local store to a registry repository.
 *
 * Blobs first (config and layers, several at a time; push/upload.h says how
 * each moves), the manifest last: a push that fails part way never leaves a
 * tag pointing at blobs the registry lacks. The manifest goes as the store
 * holds its bytes, so its digest in the registry is the store's. An image
 * index is pushed as its manifests (each by digest, with their blobs) and
 * then the index itself.
 */
#ifndef CB_PUSH_PUSH_H
#define CB_PUSH_PUSH_H

#include "cache/oci.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/error.h"
#include "push/upload.h"

/* Pushes the manifest (or index) d from the store under `reference` (a tag,
 * or NULL to push by digest only). `jobs` blobs move at once (0: 4). */
int cb_push_image(cb_upload_target_t *t, const cb_store_t *store, const cb_oci_descriptor_t *d,
                  const char *reference, int jobs, cb_error_t **err);

#endif
