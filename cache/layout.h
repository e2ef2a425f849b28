/* Images from and to places other than the store: OCI layout directories,
 * oci-archive tars and docker-archive (docker save) tars.
 *
 * Import (FROM oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME]):
 * the source is read only. A tag selects the index.json entry whose ref.name
 * is TAG; with no tag the layout must hold one image. An image index (OCI or
 * Docker manifest list) is followed to the manifest for the platform
 * (linux/amd64 unless given). The manifest, config and layers are copied into
 * the store, each verified against its digest and size, and all of them are
 * staged and checked before any is published: a bad source (missing blob,
 * wrong digest, bad JSON, wrong media type) gives an error naming the source
 * and the blob, and the store is left unchanged. Nothing is tagged; the
 * caller tags the returned manifest if it wants a name.
 *
 * Archives are unpacked into a private directory under the store's tmp/
 * (regular files and directories only for oci-archive; docker save's
 * relative symlinks are followed only inside the archive) and removed after.
 * docker-archive images are converted to an OCI manifest (config bytes kept,
 * so the image ID stays the same; layers keep their bytes and get the OCI
 * layer type matching their compression).
 *
 * Export (--output type=oci|oci-archive|docker-archive): writes the image
 * the manifest descriptor names, reading the store with verification.
 * - oci: DEST becomes (or stays) an OCI layout; the image is added to its
 *   index.json under `name` (or untagged when NULL).
 * - oci-archive: a tar of such a layout holding just this image.
 * - docker-archive: `docker load` / `podman load` format: manifest.json with
 *   Config, RepoTags, Layers; the config as <hex>.json and each layer
 *   uncompressed as <diff_id hex>.tar (checked against the config's diff_ids).
 * Archives are written to a temp name beside DEST and renamed when complete.
 */
#ifndef CB_CACHE_LAYOUT_H
#define CB_CACHE_LAYOUT_H

#include "cache/oci.h"
#include "cache/store.h"
#include "common/error.h"
#include "common/util.h"

/* platform may be NULL (linux/amd64). *out gets the imported manifest. */
int cb_layout_import_dir(const cb_store_t *store, const char *dir, const char *tag,
                         const cb_oci_platform_t *platform, cb_oci_descriptor_t *out,
                         cb_error_t **err);
/* max_size bounds what an archive may unpack to (tar headers and file
 * bytes, after decompression; 0: no bound): a few KB of gzip must not fill
 * the disk under tmp/. The builder passes cbuild.conf's max-layer-size. */
int cb_layout_import_oci_archive(const cb_store_t *store, const char *file, const char *tag,
                                 const cb_oci_platform_t *platform, uint64_t max_size,
                                 cb_oci_descriptor_t *out, cb_error_t **err);
/* name selects the RepoTags entry; NULL takes the only image. */
int cb_layout_import_docker_archive(const cb_store_t *store, const char *file, const char *name,
                                    uint64_t max_size, cb_oci_descriptor_t *out,
                                    cb_error_t **err);
/* "oci:DIR[:TAG]", "oci-archive:FILE[:TAG]" or "docker-archive:FILE[:NAME]"
 * (split at the first ':' after the transport, as skopeo does). Returns 1
 * without touching *out when ref has none of these transports. */
int cb_layout_import_ref(const cb_store_t *store, const char *ref,
                         const cb_oci_platform_t *platform, uint64_t max_size,
                         cb_oci_descriptor_t *out, cb_error_t **err);

int cb_export_oci_dir(const cb_store_t *store, const cb_oci_descriptor_t *manifest,
                      const char *name, const char *dest, cb_error_t **err);
int cb_export_oci_archive(const cb_store_t *store, const cb_oci_descriptor_t *manifest,
                          const char *name, const char *dest, cb_error_t **err);
/* repo_tags may be NULL or empty (docker load then shows the image untagged). */
int cb_export_docker_archive(const cb_store_t *store, const cb_oci_descriptor_t *manifest,
                             const cb_strv_t *repo_tags, const char *dest, cb_error_t **err);

#endif
