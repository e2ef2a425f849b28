/* Image manifests and image indexes (OCI and Docker schema2). */
#include <string.h>

#include "cache/oci.h"
#include "common/util.h"

static int check_schema_version(const json_t *doc, const char *what, cb_error_t **err) {
    const json_t *v = json_object_get(doc, "schemaVersion");
    if (v == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"schemaVersion\"", what);
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: unsupported schemaVersion (only 2 is supported)", what);
    return 0;
}

/* The document's own mediaType must agree with what the descriptor announced.
 * OCI lets the field be absent; Docker schema2 always has it. */
static int doc_media_type(const json_t *doc, const char *what, const char *expected,
                          bool (*accept)(const char *), const char *fallback, const char *kind,
                          char **out, cb_error_t **err) {
    const json_t *v = json_object_get(doc, "mediaType");
    const char *mt = NULL;
    if (v) {
        if (!json_is_string(v))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"mediaType\" must be a string",
                                     what);
        mt = json_string_value(v);
        if (!accept(mt))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: media type \"%s\" is not an %s",
                                     what, mt, kind);
    } else {
        mt = expected && accept(expected) ? expected : fallback;
    }
    if (expected && strcmp(expected, mt) != 0)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: the descriptor says \"%s\" but the document is \"%s\"", what,
                                 expected, mt);
    *out = cb_xstrdup(mt);
    return 0;
}

static bool accept_manifest(const char *mt) {
    return cb_oci_is_manifest_type(mt);
}

static bool accept_index(const char *mt) {
    return cb_oci_is_index_type(mt);
}

int cb_oci_manifest_decode(const char *json, size_t len, const char *what,
                           const char *expected_type, cb_oci_manifest_t **out, cb_error_t **err) {
    cb_autojson json_t *doc = NULL;
    if (cb_oci_json_parse(json, len, what, &doc, err) < 0)
        return -1;
    if (check_schema_version(doc, what, err) < 0)
        return -1;
    if (json_object_get(doc, "manifests"))
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: this is an image index, not an image manifest", what);
    cb_automanifest cb_oci_manifest_t *m = cb_xcalloc(1, sizeof *m);
    if (doc_media_type(doc, what, expected_type, accept_manifest, CB_MT_OCI_MANIFEST,
                       "image manifest", &m->media_type, err) < 0)
        return -1;

    cb_autofree char *cwhat = cb_xasprintf("%s: config", what);
    const json_t *config = json_object_get(doc, "config");
    if (config == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"config\"", what);
    if (cb_oci_descriptor_decode(config, cwhat, &m->config, err) < 0)
        return -1;
    if (!cb_oci_is_config_type(m->config.media_type))
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: media type \"%s\" is not an image config (not an image?)",
                                 cwhat, m->config.media_type);

    const json_t *layers = json_object_get(doc, "layers");
    if (layers == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"layers\"", what);
    if (!json_is_array(layers))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"layers\" must be an array", what);
    m->layers = cb_xcalloc(json_array_size(layers) + 1, sizeof *m->layers);
    size_t i;
    const json_t *l;
    json_array_foreach(layers, i, l) {
        cb_autofree char *lwhat = cb_xasprintf("%s: layer %zu", what, i + 1);
        if (cb_oci_descriptor_decode(l, lwhat, &m->layers[i], err) < 0)
            return -1;
        m->nlayers++;
        if (!cb_oci_is_layer_type(m->layers[i].media_type, NULL))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: unsupported layer media type \"%s\"",
                                     lwhat, m->layers[i].media_type);
    }
    const json_t *ann = json_object_get(doc, "annotations");
    if (ann) {
        if (!json_is_object(ann))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"annotations\" must be an object",
                                     what);
        m->annotations = json_deep_copy(ann);
    }
    *out = cb_steal_pointer(&m);
    return 0;
}

char *cb_oci_manifest_encode(const cb_oci_manifest_t *m, size_t *len) {
    cb_autojson json_t *doc = json_object();
    json_object_set_new(doc, "schemaVersion", json_integer(2));
    json_object_set_new(doc, "mediaType", json_string(m->media_type));
    json_object_set_new(doc, "config", cb_oci_descriptor_encode(&m->config));
    json_t *layers = json_array();
    for (size_t i = 0; i < m->nlayers; i++)
        json_array_append_new(layers, cb_oci_descriptor_encode(&m->layers[i]));
    json_object_set_new(doc, "layers", layers);
    if (m->annotations && json_object_size(m->annotations) > 0)
        json_object_set_new(doc, "annotations", json_deep_copy(m->annotations));
    return cb_oci_json_canonical(doc, len);
}

void cb_oci_manifest_free(cb_oci_manifest_t *m) {
    if (m == NULL)
        return;
    free(m->media_type);
    cb_oci_descriptor_clear(&m->config);
    for (size_t i = 0; i < m->nlayers; i++)
        cb_oci_descriptor_clear(&m->layers[i]);
    free(m->layers);
    if (m->annotations)
        json_decref(m->annotations);
    free(m);
}

int cb_oci_index_decode(const char *json, size_t len, const char *what, const char *expected_type,
                        cb_oci_index_t **out, cb_error_t **err) {
    cb_autojson json_t *doc = NULL;
    if (cb_oci_json_parse(json, len, what, &doc, err) < 0)
        return -1;
    if (check_schema_version(doc, what, err) < 0)
        return -1;
    cb_autoindex cb_oci_index_t *idx = cb_xcalloc(1, sizeof *idx);
    if (doc_media_type(doc, what, expected_type, accept_index, CB_MT_OCI_INDEX, "image index",
                       &idx->media_type, err) < 0)
        return -1;
    const json_t *manifests = json_object_get(doc, "manifests");
    if (manifests == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"manifests\"", what);
    if (!json_is_array(manifests))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"manifests\" must be an array", what);
    idx->manifests = cb_xcalloc(json_array_size(manifests) + 1, sizeof *idx->manifests);
    size_t i;
    const json_t *d;
    json_array_foreach(manifests, i, d) {
        cb_autofree char *dwhat = cb_xasprintf("%s: manifest %zu", what, i + 1);
        if (cb_oci_descriptor_decode(d, dwhat, &idx->manifests[i], err) < 0)
            return -1;
        idx->nmanifests++;
    }
    *out = cb_steal_pointer(&idx);
    return 0;
}

int cb_oci_index_pick_platform(const cb_oci_index_t *idx, const cb_oci_platform_t *want,
                               const char *what, cb_error_t **err) {
    for (size_t i = 0; i < idx->nmanifests; i++) {
        const cb_oci_descriptor_t *d = &idx->manifests[i];
        if (d->has_platform && cb_oci_is_manifest_type(d->media_type) &&
            cb_oci_platform_match(want, &d->platform))
            return (int)i;
    }
    cb_autobuf cb_buf_t offer = CB_BUF_INIT;
    for (size_t i = 0; i < idx->nmanifests; i++) {
        const cb_oci_descriptor_t *d = &idx->manifests[i];
        if (!d->has_platform)
            continue;
        cb_autofree char *p = cb_oci_platform_string(&d->platform);
        cb_buf_printf(&offer, "%s%s", offer.len ? ", " : "", p);
    }
    cb_autofree char *w = cb_oci_platform_string(want);
    return cb_error_kind_set(err, CB_ERR_INPUT, "%s: no manifest for platform %s (has: %s)", what,
                             w, offer.len ? cb_buf_str(&offer) : "none");
}

void cb_oci_index_free(cb_oci_index_t *idx) {
    if (idx == NULL)
        return;
    free(idx->media_type);
    for (size_t i = 0; i < idx->nmanifests; i++)
        cb_oci_descriptor_clear(&idx->manifests[i]);
    free(idx->manifests);
    free(idx);
}
