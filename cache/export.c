/* --output type=oci|oci-archive|docker-archive: writing an image out of the store. */
#include "common/archive_lazy.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/blob.h"
#include "cache/index.h"
#include "cache/layout.h"
#include "cache/refname.h"
#include "cache/tar_writer.h"
#include "common/util.h"

typedef struct image {
    char *mdata;
    size_t mlen;
    cb_oci_manifest_t *m;
    char *cdata;
    size_t clen;
    cb_oci_config_t *cfg;
} image_t;

static void image_clear(image_t *im) {
    free(im->mdata);
    free(im->cdata);
    cb_oci_manifest_free(im->m);
    cb_oci_config_free(im->cfg);
}

/* Reads and verifies the manifest and config the descriptor names. */
static int load_image(const cb_store_t *store, const cb_oci_descriptor_t *d, image_t *im,
                      cb_error_t **err) {
    memset(im, 0, sizeof *im);
    cb_autofree char *cwhat = NULL;
    if (!cb_oci_is_manifest_type(d->media_type))
        return cb_error_set(err, 0, "%s is not an image manifest (%s)", d->digest, d->media_type);
    cb_autofree char *mwhat = cb_xasprintf("manifest %s", d->digest);
    if (cb_blob_read_all(store, d->digest, d->size, CB_OCI_MAX_DOC_SIZE, &im->mdata, &im->mlen,
                         err) < 0 ||
        cb_oci_manifest_decode(im->mdata, im->mlen, mwhat, d->media_type, &im->m, err) < 0)
        goto fail;
    cwhat = cb_xasprintf("config %s", im->m->config.digest);
    if (cb_blob_read_all(store, im->m->config.digest, im->m->config.size, CB_OCI_MAX_DOC_SIZE,
                         &im->cdata, &im->clen, err) < 0 ||
        cb_oci_config_decode(im->cdata, im->clen, cwhat, &im->cfg, err) < 0)
        goto fail;
    return 0;
fail:
    image_clear(im);
    return -1;
}

static int copy_blob(const cb_store_t *from, const cb_store_t *to, const char *digest,
                     int64_t size, cb_error_t **err) {
    if (cb_blob_exists(to, digest))
        return 0;
    cb_blob_writer_t *w;
    if (cb_blob_begin(to, &w, err) < 0)
        return -1;
    if (cb_blob_copy_to(from, digest, size, cb_blob_sink, w, err) < 0) {
        cb_blob_abort(w);
        return -1;
    }
    return cb_blob_commit(w, digest, size, NULL, NULL, err);
}

int cb_export_oci_dir(const cb_store_t *store, const cb_oci_descriptor_t *manifest,
                      const char *name, const char *dest, cb_error_t **err) {
    image_t im;
    if (load_image(store, manifest, &im, err) < 0)
        return cb_error_wrap(err, "export to %s", dest);
    cb_autostore cb_store_t *out = NULL;
    /* Staging files go in DEST itself: the only place sure to be on its file system. */
    int r = cb_store_open(dest, dest, &out, err);
    for (size_t i = 0; r == 0 && i < im.m->nlayers; i++)
        r = copy_blob(store, out, im.m->layers[i].digest, im.m->layers[i].size, err);
    if (r == 0)
        r = copy_blob(store, out, im.m->config.digest, im.m->config.size, err);
    if (r == 0)
        r = copy_blob(store, out, manifest->digest, manifest->size, err);
    if (r == 0)
        r = cb_index_put(out, name, manifest, err);
    image_clear(&im);
    if (r < 0)
        return cb_error_wrap(err, "export to %s", dest);
    return 0;
}

static json_t *export_descriptor(const cb_oci_descriptor_t *manifest, const char *name) {
    cb_oci_descriptor_t d;
    cb_oci_descriptor_copy(&d, manifest);
    cb_oci_descriptor_set_annotation(&d, CB_ANNOTATION_REF_NAME, name);
    if (d.annotations && json_object_size(d.annotations) == 0) {
        json_decref(d.annotations);
        d.annotations = NULL;
    }
    json_t *j = cb_oci_descriptor_encode(&d);
    cb_oci_descriptor_clear(&d);
    return j;
}

/* Adds blobs/sha256/<hex> once, however often the image names it. */
static int add_blob_once(cb_tar_writer_t *t, cb_strv_t *seen, const cb_store_t *store,
                         const char *digest, int64_t size, cb_error_t **err) {
    if (cb_strv_contains(seen, digest))
        return 0;
    cb_strv_push(seen, digest);
    cb_autofree char *name = cb_xasprintf("blobs/sha256/%s", digest + 7);
    return cb_tar_add_blob(t, name, store, digest, size, err);
}

int cb_export_oci_archive(const cb_store_t *store, const cb_oci_descriptor_t *manifest,
                          const char *name, const char *dest, cb_error_t **err) {
    cb_autofree char *norm = NULL;
    if (name && cb_refname_normalize(name, &norm, err) < 0)
        return -1;
    image_t im;
    if (load_image(store, manifest, &im, err) < 0)
        return cb_error_wrap(err, "export to %s", dest);
    cb_autojson json_t *index = json_object();
    json_object_set_new(index, "schemaVersion", json_integer(2));
    json_object_set_new(index, "mediaType", json_string(CB_MT_OCI_INDEX));
    json_t *list = json_array();
    json_array_append_new(list, export_descriptor(manifest, norm));
    json_object_set_new(index, "manifests", list);
    size_t ilen;
    cb_autofree char *itext = cb_oci_json_canonical(index, &ilen);
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

    cb_tar_writer_t *t = NULL;
    cb_autostrv cb_strv_t seen = CB_STRV_INIT;
    int r = cb_tar_begin(dest, &t, err);
    if (r == 0)
        r = cb_tar_add_bytes(t, "oci-layout", layout, sizeof layout - 1, err);
    if (r == 0)
        r = cb_tar_add_bytes(t, "index.json", itext, ilen, err);
    if (r == 0)
        r = cb_tar_add_dir(t, "blobs", err);
    if (r == 0)
        r = cb_tar_add_dir(t, "blobs/sha256", err);
    if (r == 0)
        r = add_blob_once(t, &seen, store, manifest->digest, manifest->size, err);
    if (r == 0)
        r = add_blob_once(t, &seen, store, im.m->config.digest, im.m->config.size, err);
    for (size_t i = 0; r == 0 && i < im.m->nlayers; i++)
        r = add_blob_once(t, &seen, store, im.m->layers[i].digest, im.m->layers[i].size, err);
    if (r == 0)
        r = cb_tar_finish(t, err);
    else
        cb_tar_abort(t);
    image_clear(&im);
    if (r < 0)
        return cb_error_wrap(err, "export to %s", dest);
    return 0;
}

/* Decompresses a layer blob into an unlinked temp file, checking that the
 * tar hashes to the config's diff_id. The file is rewound for reading. */
static int uncompressed_layer(const cb_store_t *store, const cb_oci_descriptor_t *layer,
                              const char *diff_id, int *fd_out, int64_t *size_out,
                              cb_error_t **err) {
    cb_autofree char *tmpl = cb_xasprintf("%s/layer-XXXXXX", store->tmp);
    cb_autoclose int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "create a temp file in %s", store->tmp);
    unlink(tmpl);
    cb_autofree char *path = cb_store_blob_path(store, layer->digest);
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    cb_autosha256 cb_sha256_t *h = cb_sha256_new();
    int64_t size = 0;
    int r = 0;
    struct archive_entry *e;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK) {
        r = cb_error_kind_set(err, CB_ERR_INTEGRITY, "layer %s: %s", layer->digest,
                              archive_error_string(a));
    }
    char buf[1 << 16];
    while (r == 0) {
        la_ssize_t n = archive_read_data(a, buf, sizeof buf);
        if (n < 0) {
            r = cb_error_kind_set(err, CB_ERR_INTEGRITY, "layer %s: %s", layer->digest,
                                  archive_error_string(a));
            break;
        }
        if (n == 0)
            break;
        cb_sha256_update(h, buf, (size_t)n);
        if (write(fd, buf, (size_t)n) != n) {
            r = cb_error_set(err, errno ? errno : ENOSPC, "write %s", tmpl);
            break;
        }
        size += n;
    }
    archive_read_free(a);
    if (r < 0)
        return -1;
    char got[CB_DIGEST_STR_LEN + 1];
    cb_sha256_final(h, got);
    if (strcmp(got, diff_id) != 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "layer %s is corrupt: it unpacks to %s, the config says %s",
                                 layer->digest, got, diff_id);
    if (lseek(fd, 0, SEEK_SET) < 0)
        return cb_error_set(err, errno, "seek %s", tmpl);
    *fd_out = cb_steal_fd(&fd);
    *size_out = size;
    return 0;
}

static int docker_manifest_json(const image_t *im, const cb_strv_t *repo_tags, char **out,
                                size_t *len, cb_error_t **err) {
    json_t *entry = json_object();
    json_object_set_new(entry, "Config",
                        json_sprintf("%s.json", im->m->config.digest + 7));
    json_t *tags = json_array();
    for (size_t i = 0; repo_tags && i < repo_tags->len; i++) {
        char *n = NULL;
        if (cb_refname_normalize(repo_tags->items[i], &n, err) < 0) {
            json_decref(tags);
            json_decref(entry);
            return -1;
        }
        json_array_append_new(tags, json_string(n));
        free(n);
    }
    json_object_set_new(entry, "RepoTags", tags);
    json_t *layers = json_array();
    for (size_t i = 0; i < im->cfg->ndiff_ids; i++)
        json_array_append_new(layers, json_sprintf("%s.tar", im->cfg->diff_ids[i] + 7));
    json_object_set_new(entry, "Layers", layers);
    cb_autojson json_t *doc = json_array();
    json_array_append_new(doc, entry);
    *out = cb_oci_json_canonical(doc, len);
    return 0;
}

int cb_export_docker_archive(const cb_store_t *store, const cb_oci_descriptor_t *manifest,
                             const cb_strv_t *repo_tags, const char *dest, cb_error_t **err) {
    image_t im;
    if (load_image(store, manifest, &im, err) < 0)
        return cb_error_wrap(err, "export to %s", dest);
    cb_autofree char *mj = NULL;
    size_t mjlen = 0;
    cb_tar_writer_t *t = NULL;
    cb_autostrv cb_strv_t seen = CB_STRV_INIT;
    int r = 0;
    if (im.cfg->ndiff_ids != im.m->nlayers)
        r = cb_error_kind_set(err, CB_ERR_INPUT, "manifest %s: %zu layers but %zu diff_ids",
                              manifest->digest, im.m->nlayers, im.cfg->ndiff_ids);
    if (r == 0)
        r = docker_manifest_json(&im, repo_tags, &mj, &mjlen, err);
    if (r == 0)
        r = cb_tar_begin(dest, &t, err);
    if (r == 0) {
        cb_autofree char *cname = cb_xasprintf("%s.json", im.m->config.digest + 7);
        r = cb_tar_add_bytes(t, cname, im.cdata, im.clen, err);
    }
    for (size_t i = 0; r == 0 && i < im.m->nlayers; i++) {
        const char *diff_id = im.cfg->diff_ids[i];
        if (cb_strv_contains(&seen, diff_id))
            continue;
        cb_strv_push(&seen, diff_id);
        cb_autoclose int fd = -1;
        int64_t size;
        r = uncompressed_layer(store, &im.m->layers[i], diff_id, &fd, &size, err);
        if (r == 0) {
            cb_autofree char *lname = cb_xasprintf("%s.tar", diff_id + 7);
            r = cb_tar_add_fd(t, lname, fd, size, err);
        }
    }
    if (r == 0)
        r = cb_tar_add_bytes(t, "manifest.json", mj, mjlen, err);
    if (r == 0)
        r = cb_tar_finish(t, err);
    else
        cb_tar_abort(t);
    image_clear(&im);
    if (r < 0)
        return cb_error_wrap(err, "export to %s", dest);
    return 0;
}
