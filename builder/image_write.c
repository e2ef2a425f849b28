/* The end of a stage: its config and manifest as blobs in the store. */
#include <string.h>

#include "builder/build_state.h"
#include "cache/blob.h"

/* The layer media type for the chosen format; the blob bytes stay the same,
 * only the name of their compression's type changes (as buildah does when it
 * writes a Docker-format image on an OCI base, and the other way round). */
static const char *layer_media_type(cb_image_format_t format, const char *have) {
    cb_layer_comp_t comp = CB_LAYER_COMP_GZIP;
    if (!cb_oci_is_layer_type(have, &comp))
        return have; /* foreign or non-distributable types are kept as they are */
    if (strstr(have, "nondistributable") || strstr(have, "foreign"))
        return have;
    switch (comp) {
    case CB_LAYER_COMP_NONE:
        return format == CB_FORMAT_DOCKER ? CB_MT_DOCKER_LAYER : CB_MT_OCI_LAYER;
    case CB_LAYER_COMP_ZSTD:
        return format == CB_FORMAT_DOCKER ? CB_MT_DOCKER_LAYER_ZSTD : CB_MT_OCI_LAYER_ZSTD;
    case CB_LAYER_COMP_GZIP:
    default:
        return format == CB_FORMAT_DOCKER ? CB_MT_DOCKER_LAYER_GZIP : CB_MT_OCI_LAYER_GZIP;
    }
}

int cb_image_write(cb_build_t *b, size_t stage, cb_oci_descriptor_t *manifest_desc,
                   char config_digest[CB_DIGEST_STR_LEN + 1], cb_error_t **err) {
    const cb_stage_state_t *st = &b->stages[stage];
    bool docker = b->opts->format == CB_FORMAT_DOCKER;

    cb_autofree char *config = cb_image_config_serialize(st->config);
    size_t config_len = strlen(config);
    if (cb_blob_put(b->store, config, config_len, config_digest, err) < 0)
        return cb_error_wrap(err, "writing the image config");

    cb_oci_manifest_t m = {0};
    m.media_type = docker ? CB_MT_DOCKER_MANIFEST : CB_MT_OCI_MANIFEST;
    m.config.media_type = docker ? CB_MT_DOCKER_CONFIG : CB_MT_OCI_CONFIG;
    m.config.digest = config_digest;
    m.config.size = (int64_t)config_len;
    m.nlayers = st->nlayers;
    m.layers = cb_xcalloc(st->nlayers + 1, sizeof *m.layers);
    for (size_t i = 0; i < st->nlayers; i++) {
        m.layers[i] = st->layers[i].desc; /* borrowed: not freed below */
        m.layers[i].media_type = (char *)layer_media_type(b->opts->format, st->layers[i].desc.media_type);
        m.layers[i].has_platform = false;
    }
    size_t mlen = 0;
    cb_autofree char *manifest = cb_oci_manifest_encode(&m, &mlen);
    free(m.layers);
    char mdigest[CB_DIGEST_STR_LEN + 1];
    if (cb_blob_put(b->store, manifest, mlen, mdigest, err) < 0)
        return cb_error_wrap(err, "writing the image manifest");
    memset(manifest_desc, 0, sizeof *manifest_desc);
    manifest_desc->media_type = cb_xstrdup(m.media_type);
    manifest_desc->digest = cb_xstrdup(mdigest);
    manifest_desc->size = (int64_t)mlen;
    return 0;
}
