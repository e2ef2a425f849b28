/* FROM oci-archive:FILE[:TAG] and FROM docker-archive:FILE[:NAME]. */
#include <string.h>
#include <unistd.h>

#include "cache/layout.h"
#include "cache/refname.h"
#include "cache/stage.h"
#include "cache/unpack.h"
#include "common/util.h"

int cb_layout_import_oci_archive(const cb_store_t *store, const char *file, const char *tag,
                                 const cb_oci_platform_t *platform, uint64_t max_size,
                                 cb_oci_descriptor_t *out, cb_error_t **err) {
    cb_autofree char *dir = NULL;
    if (cb_unpack_archive(file, store->tmp, false, max_size, &dir, err) < 0)
        return cb_error_wrap(err, "oci-archive:%s", file);
    int r = cb_layout_import_dir(store, dir, tag, platform, out, err);
    cb_remove_tree(dir);
    if (r < 0) {
        /* The staging path means nothing to the user; the archive does. */
        return cb_error_wrap(err, "oci-archive:%s%s%s", file, tag ? ":" : "", tag ? tag : "");
    }
    return 0;
}

static bool repo_tag_matches(const json_t *tags, const char *want) {
    cb_autofree char *w = NULL;
    cb_error_t *e = NULL;
    if (cb_refname_normalize(want, &w, &e) < 0) {
        cb_error_free(e);
        return false;
    }
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t) {
        const char *s = json_string_value(t);
        cb_autofree char *n = NULL;
        if (s == NULL)
            continue;
        if (cb_refname_normalize(s, &n, &e) < 0) {
            cb_error_freep(&e);
            continue;
        }
        /* docker save writes Docker Hub names short ("busybox:latest") and
         * podman writes them long; both mean the same image. */
        const char *hub = "docker.io/library/";
        const char *a = cb_str_has_prefix(n, hub) ? n + strlen(hub) : n;
        const char *b = cb_str_has_prefix(w, hub) ? w + strlen(hub) : w;
        if (cb_refname_equal(a, b))
            return true;
    }
    return false;
}

static const json_t *pick_docker_entry(const json_t *manifest, const char *name,
                                       cb_error_t **err) {
    if (!json_is_array(manifest) || json_array_size(manifest) == 0) {
        cb_error_kind_set(err, CB_ERR_INPUT, "manifest.json: expected a non-empty array");
        return NULL;
    }
    if (name == NULL) {
        if (json_array_size(manifest) == 1)
            return json_array_get(manifest, 0);
        cb_error_set(err, 0, "the archive holds %zu images; name one with :NAME",
                     json_array_size(manifest));
        return NULL;
    }
    size_t i;
    const json_t *e;
    json_array_foreach(manifest, i, e) {
        const json_t *tags = json_object_get(e, "RepoTags");
        if (json_is_array(tags) && repo_tag_matches(tags, name))
            return e;
    }
    cb_error_set(err, 0, "no image named %s in the archive", name);
    return NULL;
}

/* gzip and zstd magic numbers; anything else is taken as a plain tar. */
static const char *layer_type_for(const unsigned char *head, size_t n) {
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return CB_MT_OCI_LAYER_GZIP;
    if (n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd)
        return CB_MT_OCI_LAYER_ZSTD;
    return CB_MT_OCI_LAYER;
}

static int stage_layer_file(cb_stage_t *st, const char *dir, const char *rel, const char *diff_id,
                            cb_oci_descriptor_t *d, cb_error_t **err) {
    cb_autoclose int fd = -1;
    if (cb_open_beneath(dir, rel, &fd, err) < 0)
        return -1;
    unsigned char head[4] = {0};
    ssize_t n = pread(fd, head, sizeof head, 0);
    const char *mt = layer_type_for(head, n > 0 ? (size_t)n : 0);
    cb_blob_writer_t *w;
    if (cb_blob_begin(st->store, &w, err) < 0)
        return -1;
    char digest[CB_DIGEST_STR_LEN + 1];
    int64_t size;
    /* An uncompressed layer is its own diff_id: check it against the config. */
    const char *expect = strcmp(mt, CB_MT_OCI_LAYER) == 0 ? diff_id : NULL;
    if (cb_blob_fill_from_fd(w, fd, rel, err) < 0 ||
        cb_blob_seal(w, expect, -1, digest, &size, err) < 0) {
        cb_blob_abort(w);
        return -1;
    }
    st->writers = cb_xrealloc(st->writers, (st->n + 1) * sizeof *st->writers);
    st->writers[st->n++] = w;
    d->media_type = cb_xstrdup(mt);
    d->digest = cb_xstrdup(digest);
    d->size = size;
    return 0;
}

static int stage_docker_image(cb_stage_t *st, const char *dir, const char *name,
                              cb_oci_descriptor_t *out, cb_error_t **err) {
    cb_autofree char *mpath = cb_xasprintf("%s/manifest.json", dir);
    cb_autofree char *mtext = NULL;
    size_t mlen;
    if (cb_read_file(mpath, CB_OCI_MAX_DOC_SIZE, &mtext, &mlen, err) < 0)
        return cb_error_wrap(err, "not a docker-archive (docker save) file");
    json_error_t jerr;
    cb_autojson json_t *manifest = json_loadb(mtext, mlen, 0, &jerr);
    if (manifest == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "manifest.json: invalid JSON at line %d column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
    const json_t *entry = pick_docker_entry(manifest, name, err);
    if (entry == NULL)
        return -1;
    const char *config_rel = json_string_value(json_object_get(entry, "Config"));
    const json_t *layers = json_object_get(entry, "Layers");
    if (config_rel == NULL || !json_is_array(layers))
        return cb_error_kind_set(err, CB_ERR_INPUT, "manifest.json: entry without Config or Layers");

    cb_autoclose int cfd = -1;
    if (cb_open_beneath(dir, config_rel, &cfd, err) < 0)
        return cb_error_wrap(err, "config");
    cb_autofree char *cpath = cb_xasprintf("/proc/self/fd/%d", cfd);
    cb_autofree char *cdata = NULL;
    size_t clen;
    if (cb_read_file(cpath, CB_OCI_MAX_DOC_SIZE, &cdata, &clen, err) < 0)
        return cb_error_wrap(err, "config %s", config_rel);
    cb_autoconfig cb_oci_config_t *cfg = NULL;
    if (cb_oci_config_decode(cdata, clen, config_rel, &cfg, err) < 0)
        return -1;
    if (cfg->ndiff_ids != json_array_size(layers))
        return cb_error_kind_set(err, CB_ERR_INPUT, "manifest.json lists %zu layers but %s has %zu diff_ids",
                                 json_array_size(layers), config_rel, cfg->ndiff_ids);

    cb_automanifest cb_oci_manifest_t *m = cb_xcalloc(1, sizeof *m);
    m->media_type = cb_xstrdup(CB_MT_OCI_MANIFEST);
    m->layers = cb_xcalloc(json_array_size(layers) + 1, sizeof *m->layers);
    size_t i;
    const json_t *l;
    json_array_foreach(layers, i, l) {
        const char *rel = json_string_value(l);
        if (rel == NULL)
            return cb_error_kind_set(err, CB_ERR_INPUT, "manifest.json: layer %zu is not a path", i + 1);
        if (stage_layer_file(st, dir, rel, cfg->diff_ids[i], &m->layers[i], err) < 0)
            return cb_error_wrap(err, "layer %zu (%s)", i + 1, rel);
        m->nlayers++;
    }
    char cdigest[CB_DIGEST_STR_LEN + 1];
    if (cb_stage_bytes(st, cdata, clen, NULL, cdigest, err) < 0)
        return -1;
    m->config.media_type = cb_xstrdup(CB_MT_OCI_CONFIG);
    m->config.digest = cb_xstrdup(cdigest);
    m->config.size = (int64_t)clen;
    size_t len;
    cb_autofree char *bytes = cb_oci_manifest_encode(m, &len);
    char mdigest[CB_DIGEST_STR_LEN + 1];
    if (cb_stage_bytes(st, bytes, len, NULL, mdigest, err) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->media_type = cb_xstrdup(CB_MT_OCI_MANIFEST);
    out->digest = cb_xstrdup(mdigest);
    out->size = (int64_t)len;
    out->has_platform = true;
    out->platform.os = cb_xstrdup(cfg->platform.os);
    out->platform.arch = cb_xstrdup(cfg->platform.arch);
    out->platform.variant = cfg->platform.variant ? cb_xstrdup(cfg->platform.variant) : NULL;
    return 0;
}

int cb_layout_import_docker_archive(const cb_store_t *store, const char *file, const char *name,
                                    uint64_t max_size, cb_oci_descriptor_t *out,
                                    cb_error_t **err) {
    cb_autofree char *dir = NULL;
    if (cb_unpack_archive(file, store->tmp, true, max_size, &dir, err) < 0)
        return cb_error_wrap(err, "docker-archive:%s", file);
    cb_stage_t st = {store, NULL, 0};
    int r = stage_docker_image(&st, dir, name, out, err);
    if (r < 0)
        cb_stage_abort(&st);
    else if ((r = cb_stage_commit(&st, err)) < 0)
        cb_oci_descriptor_clear(out);
    cb_remove_tree(dir);
    if (r < 0)
        return cb_error_wrap(err, "docker-archive:%s%s%s", file, name ? ":" : "", name ? name : "");
    return 0;
}
