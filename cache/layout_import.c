/* FROM oci:DIR[:TAG]: importing an image from an OCI layout directory. */
#include <string.h>

#include "cache/layout.h"
#include "cache/refname.h"
#include "cache/stage.h"
#include "common/log.h"
#include "common/util.h"

/* Index nesting deeper than this is refused (a loop or a hostile layout). */
#define MAX_INDEX_DEPTH 4

static int read_layout_index(const char *dir, cb_oci_index_t **out, cb_error_t **err) {
    cb_autofree char *layout = cb_xasprintf("%s/oci-layout", dir);
    cb_autofree char *data = NULL;
    size_t len;
    if (cb_read_file(layout, 4096, &data, &len, err) < 0)
        return cb_error_wrap(err, "%s is not an OCI layout", dir);
    cb_autojson json_t *j = NULL;
    if (cb_oci_json_parse(data, len, layout, &j, err) < 0)
        return -1;
    const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
    if (v == NULL || strcmp(v, "1.0.0") != 0)
        return cb_error_set(err, 0, "%s: unsupported imageLayoutVersion", layout);
    cb_autofree char *index = cb_xasprintf("%s/index.json", dir);
    cb_autofree char *idata = NULL;
    if (cb_read_file(index, CB_OCI_MAX_DOC_SIZE, &idata, &len, err) < 0)
        return -1;
    return cb_oci_index_decode(idata, len, index, NULL, out, err);
}

static void list_names(const cb_oci_index_t *idx, cb_buf_t *b) {
    for (size_t i = 0; i < idx->nmanifests; i++) {
        const char *n = cb_oci_descriptor_annotation(&idx->manifests[i], CB_ANNOTATION_REF_NAME);
        cb_buf_printf(b, "%s%s", b->len ? ", " : "", n ? n : idx->manifests[i].digest);
    }
}

static bool tag_matches(const char *have, const char *want) {
    if (strcmp(have, want) == 0)
        return true;
    cb_autofree char *a = NULL;
    cb_autofree char *b = NULL;
    cb_error_t *err = NULL;
    bool eq = cb_refname_normalize(have, &a, &err) == 0 && cb_refname_normalize(want, &b, &err) == 0 &&
              cb_refname_equal(a, b);
    cb_error_free(err);
    return eq;
}

static int pick_entry(const cb_oci_index_t *idx, const char *tag, const cb_oci_platform_t *want,
                      const char *what, cb_error_t **err) {
    cb_autobuf cb_buf_t names = CB_BUF_INIT;
    if (tag) {
        for (size_t i = 0; i < idx->nmanifests; i++) {
            const char *n =
                cb_oci_descriptor_annotation(&idx->manifests[i], CB_ANNOTATION_REF_NAME);
            if (n && tag_matches(n, tag))
                return (int)i;
        }
        list_names(idx, &names);
        return cb_error_set(err, 0, "%s: no image tagged '%s' (has: %s)", what, tag,
                            names.len ? cb_buf_str(&names) : "nothing");
    }
    if (idx->nmanifests == 0)
        return cb_error_set(err, 0, "%s: the layout holds no image", what);
    if (idx->nmanifests == 1)
        return 0;
    bool all_platforms = true;
    for (size_t i = 0; i < idx->nmanifests; i++)
        all_platforms = all_platforms && idx->manifests[i].has_platform;
    if (all_platforms)
        return cb_oci_index_pick_platform(idx, want, what, err);
    list_names(idx, &names);
    return cb_error_set(err, 0, "%s holds %zu images; name one with :TAG (has: %s)", what,
                        idx->nmanifests, cb_buf_str(&names));
}

static int read_doc(const cb_store_t *src, const cb_oci_descriptor_t *d, char **data, size_t *len,
                    cb_error_t **err) {
    return cb_blob_read_all(src, d->digest, d->size, CB_OCI_MAX_DOC_SIZE, data, len, err);
}

/* Imports the manifest `d` of `src` (already chosen) with its config and
 * layers into the stage. */
static int stage_image(cb_stage_t *st, const cb_store_t *src, const cb_oci_descriptor_t *d,
                       const cb_oci_platform_t *want, bool chosen_by_platform,
                       cb_oci_descriptor_t *out, cb_error_t **err) {
    cb_autofree char *mdata = NULL;
    size_t mlen;
    if (read_doc(src, d, &mdata, &mlen, err) < 0)
        return -1;
    cb_autofree char *mwhat = cb_xasprintf("manifest %s", d->digest);
    cb_automanifest cb_oci_manifest_t *m = NULL;
    if (cb_oci_manifest_decode(mdata, mlen, mwhat, d->media_type, &m, err) < 0)
        return -1;
    cb_autofree char *cdata = NULL;
    size_t clen;
    if (read_doc(src, &m->config, &cdata, &clen, err) < 0)
        return -1;
    cb_autofree char *cwhat = cb_xasprintf("config %s", m->config.digest);
    cb_autoconfig cb_oci_config_t *cfg = NULL;
    if (cb_oci_config_decode(cdata, clen, cwhat, &cfg, err) < 0)
        return -1;
    if (cfg->ndiff_ids != m->nlayers)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: %zu layers but its config has %zu diff_ids", mwhat,
                                 m->nlayers, cfg->ndiff_ids);
    if (!chosen_by_platform && !cb_oci_platform_match(want, &cfg->platform)) {
        cb_autofree char *w = cb_oci_platform_string(want);
        cb_autofree char *h = cb_oci_platform_string(&cfg->platform);
        cb_warn("cache", "image %s is for %s, not %s", d->digest, h, w);
    }
    if (cb_stage_copy_layers(st, src, m->layers, m->nlayers, err) < 0)
        return -1;
    if (cb_stage_bytes(st, cdata, clen, m->config.digest, NULL, err) < 0 ||
        cb_stage_bytes(st, mdata, mlen, d->digest, NULL, err) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->media_type = cb_xstrdup(m->media_type);
    out->digest = cb_xstrdup(d->digest);
    out->size = d->size;
    out->has_platform = true;
    out->platform.os = cb_xstrdup(cfg->platform.os);
    out->platform.arch = cb_xstrdup(cfg->platform.arch);
    out->platform.variant = cfg->platform.variant ? cb_xstrdup(cfg->platform.variant) : NULL;
    return 0;
}

static int import_dir(const cb_store_t *store, const char *dir, const char *tag,
                      const cb_oci_platform_t *want, cb_oci_descriptor_t *out, cb_error_t **err) {
    cb_store_t src = {(char *)dir, NULL};
    cb_autoindex cb_oci_index_t *top = NULL;
    if (read_layout_index(dir, &top, err) < 0)
        return -1;
    int i = pick_entry(top, tag, want, dir, err);
    if (i < 0)
        return -1;
    bool by_platform = top->manifests[i].has_platform && !tag && top->nmanifests > 1;
    cb_oci_descriptor_t d;
    cb_oci_descriptor_copy(&d, &top->manifests[i]);
    int r = -1;
    for (int depth = 0;; depth++) {
        if (cb_oci_is_manifest_type(d.media_type))
            break;
        if (!cb_oci_is_index_type(d.media_type)) {
            cb_error_kind_set(err, CB_ERR_INPUT, "%s: %s has media type \"%s\", not an image",
                              dir, d.digest, d.media_type);
            goto out;
        }
        if (depth == MAX_INDEX_DEPTH) {
            cb_error_kind_set(err, CB_ERR_INPUT, "%s: image indexes nested too deep", dir);
            goto out;
        }
        cb_autofree char *data = NULL;
        size_t len;
        if (read_doc(&src, &d, &data, &len, err) < 0)
            goto out;
        cb_autofree char *what = cb_xasprintf("index %s", d.digest);
        cb_autoindex cb_oci_index_t *idx = NULL;
        if (cb_oci_index_decode(data, len, what, d.media_type, &idx, err) < 0)
            goto out;
        int k = cb_oci_index_pick_platform(idx, want, what, err);
        if (k < 0)
            goto out;
        cb_oci_descriptor_clear(&d);
        cb_oci_descriptor_copy(&d, &idx->manifests[k]);
        by_platform = true;
    }
    cb_stage_t st = {store, NULL, 0};
    if (stage_image(&st, &src, &d, want, by_platform, out, err) < 0) {
        cb_stage_abort(&st);
        goto out;
    }
    r = cb_stage_commit(&st, err);
    if (r < 0)
        cb_oci_descriptor_clear(out);
out:
    cb_oci_descriptor_clear(&d);
    return r;
}

int cb_layout_import_dir(const cb_store_t *store, const char *dir, const char *tag,
                         const cb_oci_platform_t *platform, cb_oci_descriptor_t *out,
                         cb_error_t **err) {
    cb_oci_platform_t def = {0};
    if (platform == NULL) {
        cb_oci_platform_default(&def);
        platform = &def;
    }
    int r = import_dir(store, dir, tag, platform, out, err);
    cb_oci_platform_clear(&def);
    if (r < 0)
        return cb_error_wrap(err, "oci:%s%s%s", dir, tag ? ":" : "", tag ? tag : "");
    return 0;
}

int cb_layout_import_ref(const cb_store_t *store, const char *ref,
                         const cb_oci_platform_t *platform, uint64_t max_size,
                         cb_oci_descriptor_t *out, cb_error_t **err) {
    static const char *transports[] = {"oci:", "oci-archive:", "docker-archive:"};
    size_t t = 0;
    while (t < CB_ARRAY_LEN(transports) && !cb_str_has_prefix(ref, transports[t]))
        t++;
    if (t == CB_ARRAY_LEN(transports))
        return 1;
    const char *rest = ref + strlen(transports[t]);
    const char *colon = strchr(rest, ':');
    cb_autofree char *path = colon ? cb_xstrndup(rest, (size_t)(colon - rest)) : cb_xstrdup(rest);
    const char *tag = colon && colon[1] ? colon + 1 : NULL;
    if (*path == '\0')
        return cb_error_set(err, 0, "%s: missing path", ref);
    switch (t) {
    case 0:
        return cb_layout_import_dir(store, path, tag, platform, out, err);
    case 1:
        return cb_layout_import_oci_archive(store, path, tag, platform, max_size, out, err);
    default:
        return cb_layout_import_docker_archive(store, path, tag, max_size, out, err);
    }
}
