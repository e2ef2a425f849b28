/* Base images: FROM <image> and COPY --from=<image> resolved to an image
 * whose blobs are all in the local store. */
#include <string.h>

#include "builder/build_state.h"
#include "cache/blob.h"
#include "cache/index.h"
#include "cache/refname.h"
#include "common/fsutil.h"
#include "push/pull.h"

void cb_base_image_free(cb_base_image_t *img) {
    if (img == NULL)
        return;
    free(img->ref);
    free(img->platform);
    free(img->manifest_digest);
    cb_oci_manifest_free(img->manifest);
    free(img->config_json);
    if (img->rootfs_fd >= 0)
        close(img->rootfs_fd);
    free(img);
}

static bool same(const char *a, const char *b) {
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Reads the manifest a descriptor points at, and its config, from the store. */
static int load_from_store(cb_build_t *b, const char *ref, const cb_oci_descriptor_t *desc,
                           cb_base_image_t *img, cb_error_t **err) {
    if (!cb_oci_is_manifest_type(desc->media_type))
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "image %s: %s is a %s, not an image manifest", ref, desc->digest,
                                 desc->media_type);
    cb_autofree char *mjson = NULL;
    size_t mlen = 0;
    if (cb_blob_read_all(b->store, desc->digest, desc->size, CB_OCI_MAX_DOC_SIZE, &mjson, &mlen, err) < 0)
        return cb_error_wrap(err, "image %s: manifest", ref);
    if (cb_oci_manifest_decode(mjson, mlen, desc->digest, desc->media_type, &img->manifest, err) < 0)
        return cb_error_wrap(err, "image %s", ref);
    const cb_oci_descriptor_t *cfg = &img->manifest->config;
    if (cb_blob_read_all(b->store, cfg->digest, cfg->size, CB_OCI_MAX_DOC_SIZE, &img->config_json,
                         &img->config_len, err) < 0)
        return cb_error_wrap(err, "image %s: config", ref);
    for (size_t i = 0; i < img->manifest->nlayers; i++)
        if (!cb_blob_exists(b->store, img->manifest->layers[i].digest))
            return cb_error_kind_set(err, CB_ERR_INTEGRITY, "image %s: layer %s is missing from the store",
                                     ref, img->manifest->layers[i].digest);
    img->manifest_digest = cb_xstrdup(desc->digest);
    return 0;
}

/* A registry image, by the --pull policy (push/pull.h): its manifest digest
 * is then what FROM's cache key holds (builder/step_cache.c). */
static int pull_base(cb_build_t *b, const char *ref, cb_base_image_t *img, cb_error_t **err) {
    const cb_build_opts_t *o = b->opts;
    const char *platform = img->platform ? img->platform : o->platform;
    cb_oci_platform_t want = {0};
    cb_autohttp cb_http_t *http = NULL;
    cb_pull_result_t res = {0};
    int rc = -1;
    if ((platform && cb_oci_platform_parse(platform, &want, err) < 0) ||
        cb_registry_cli_http(&o->registry, &http, err) < 0)
        goto out;
    cb_pull_opts_t po = {
        .client = cb_registry_cli_client(&o->registry, http),
        .platform = platform ? &want : NULL,
        .default_registry = cb_registry_cli_default_registry(&o->registry),
        .policy = o->pull,
        .quiet = o->quiet,
        .root_dir = b->root->path,
    };
    if (cb_pull(b->store, ref, &po, &res, err) < 0)
        goto out;
    rc = load_from_store(b, ref, &res.manifest, img, err);
out:
    if (rc < 0)
        cb_error_wrap(err, "FROM %s", ref);
    cb_pull_result_clear(&res);
    cb_oci_platform_clear(&want);
    return rc;
}

static int resolve(cb_build_t *b, const char *ref, cb_base_image_t *img, cb_error_t **err) {
    if (cb_str_has_prefix(ref, "oci:") || cb_str_has_prefix(ref, "oci-archive:") ||
        cb_str_has_prefix(ref, "docker-archive:")) {
        cb_oci_descriptor_t desc = {0};
        if (cb_import_image(b, ref, img->platform, &desc, err) < 0)
            return -1;
        int rc = load_from_store(b, ref, &desc, img, err);
        cb_oci_descriptor_clear(&desc);
        return rc;
    }
    /* An image of the store by the name as written (one built here, or
     * tagged so), unless --pull=always asks for the registry's. */
    cb_autofree char *name = NULL;
    cb_autoerr cb_error_t *lookup = NULL;
    cb_oci_descriptor_t desc = {0};
    if (b->opts->pull != CB_PULL_ALWAYS && cb_refname_normalize(ref, &name, &lookup) == 0 &&
        cb_index_resolve(b->store, name, &desc, &lookup) == 0) {
        const char *platform = img->platform ? img->platform : b->opts->platform;
        cb_oci_platform_t want = {0};
        if (platform ? cb_oci_platform_parse(platform, &want, err) < 0
                     : (cb_oci_platform_default(&want), false)) {
            cb_oci_descriptor_clear(&desc);
            return -1;
        }
        /* A name pulled for another platform is not this build's base. */
        bool usable = !desc.has_platform || cb_oci_platform_match(&want, &desc.platform);
        cb_oci_platform_clear(&want);
        int rc = usable ? load_from_store(b, ref, &desc, img, err) : 1;
        cb_oci_descriptor_clear(&desc);
        if (rc <= 0)
            return rc;
    }
    return pull_base(b, ref, img, err);
}

int cb_base_image_get(cb_build_t *b, const char *ref, const char *platform, cb_base_image_t **out,
                      cb_error_t **err) {
    for (size_t i = 0; i < b->nbases; i++)
        if (strcmp(b->bases[i]->ref, ref) == 0 && same(b->bases[i]->platform, platform)) {
            *out = b->bases[i];
            return 0;
        }
    cb_base_image_t *img = cb_xcalloc(1, sizeof *img);
    img->ref = cb_xstrdup(ref);
    img->platform = platform ? cb_xstrdup(platform) : NULL;
    img->rootfs_fd = -1;
    if (resolve(b, ref, img, err) < 0) {
        cb_base_image_free(img);
        return -1;
    }
    b->bases = cb_xrealloc(b->bases, (b->nbases + 1) * sizeof *b->bases);
    b->bases[b->nbases++] = img;
    *out = img;
    return 0;
}

int cb_base_image_layers(const cb_base_image_t *img, cb_image_layer_t **out, size_t *n,
                         cb_error_t **err) {
    cb_autoconfig cb_oci_config_t *cfg = NULL;
    if (cb_oci_config_decode(img->config_json, img->config_len, img->manifest->config.digest, &cfg, err) < 0)
        return cb_error_wrap(err, "image %s", img->ref);
    if (cfg->ndiff_ids != img->manifest->nlayers)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "image %s: the manifest lists %zu layers but the config %zu diff_ids",
                                 img->ref, img->manifest->nlayers, cfg->ndiff_ids);
    cb_image_layer_t *layers = cb_xcalloc(cfg->ndiff_ids + 1, sizeof *layers);
    for (size_t i = 0; i < cfg->ndiff_ids; i++) {
        cb_oci_descriptor_copy(&layers[i].desc, &img->manifest->layers[i]);
        layers[i].diff_id = cb_xstrdup(cfg->diff_ids[i]);
    }
    *out = layers;
    *n = cfg->ndiff_ids;
    return 0;
}

void cb_image_layers_free(cb_image_layer_t *layers, size_t n) {
    for (size_t i = 0; i < n; i++) {
        cb_oci_descriptor_clear(&layers[i].desc);
        free(layers[i].diff_id);
    }
    free(layers);
}
