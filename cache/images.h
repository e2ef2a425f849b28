/* The local image store as `cbuild images`, `inspect`, `rmi` and FROM see it. */
#ifndef CB_CACHE_IMAGES_H
#define CB_CACHE_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "cache/oci.h"
#include "cache/store.h"
#include "common/error.h"

typedef struct cb_image_info {
    char *name;            /* as tagged; NULL for an untagged entry */
    char *manifest_digest; /* what the store's index.json names */
    char *id;              /* the config digest: podman's and docker's IMAGE ID */
    char *created;         /* the config's RFC 3339 time, or NULL */
    int64_t size;          /* manifest + config + layers, as stored (compressed) */
} cb_image_info_t;

/* Every entry of the store's index, in index order. An entry whose manifest
 * or config cannot be read is an error naming it (the store is damaged). */
int cb_images_list(const cb_store_t *s, cb_image_info_t **out, size_t *n, cb_error_t **err);
void cb_image_infos_free(cb_image_info_t *infos, size_t n);

/* Finds an image by name, by manifest digest or image ID (config digest), or
 * by a prefix of either (at least 4 hex digits, "sha256:" optional), as
 * `podman inspect` does. A name wins over an ID prefix. An ambiguous prefix
 * is an error listing the candidates. */
int cb_images_find(const cb_store_t *s, const char *ref, cb_oci_descriptor_t *out,
                   cb_error_t **err);

/* Reads and verifies an image's manifest and config. */
int cb_images_load(const cb_store_t *s, const cb_oci_descriptor_t *d, cb_oci_manifest_t **m,
                   cb_oci_config_t **cfg, cb_error_t **err);

/* rmi: a name is untagged; an ID or digest (prefix) removes every name of
 * that image. Blobs stay (garbage collection is `prune`'s job). */
int cb_images_remove(const cb_store_t *s, const char *ref, cb_error_t **err);

#endif
