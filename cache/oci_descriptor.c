/* Descriptors and the JSON helpers the models share. */
#include <string.h>

#include "cache/oci.h"
#include "common/digest.h"
#include "common/util.h"

int cb_oci_json_parse(const char *json, size_t len, const char *what, json_t **out,
                      cb_error_t **err) {
    if (len > CB_OCI_MAX_DOC_SIZE)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: document of %zu bytes is too large",
                                 what, len);
    json_error_t jerr;
    json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: invalid JSON at line %d column %d: %s",
                                 what, jerr.line, jerr.column, jerr.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: expected a JSON object", what);
    }
    *out = j;
    return 0;
}

char *cb_oci_json_canonical(const json_t *j, size_t *len) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (s == NULL)
        abort(); /* only on OOM: the models hold nothing jansson cannot encode */
    if (len)
        *len = strlen(s);
    return s;
}

/* A required or optional string member; the error names the field. */
static int get_string(const json_t *obj, const char *key, bool required, const char *what,
                      const char **out, cb_error_t **err) {
    const json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *out = NULL;
        if (required)
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"%s\"", what, key);
        return 0;
    }
    if (!json_is_string(v))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"%s\" must be a string", what, key);
    *out = json_string_value(v);
    return 0;
}

static int decode_platform(const json_t *j, const char *what, cb_oci_platform_t *out,
                           cb_error_t **err) {
    if (!json_is_object(j))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"platform\" must be an object", what);
    const char *os, *arch, *variant;
    cb_autofree char *pwhat = cb_xasprintf("%s: platform", what);
    if (get_string(j, "os", true, pwhat, &os, err) < 0 ||
        get_string(j, "architecture", true, pwhat, &arch, err) < 0 ||
        get_string(j, "variant", false, pwhat, &variant, err) < 0)
        return -1;
    out->os = cb_xstrdup(os);
    out->arch = cb_xstrdup(arch);
    out->variant = variant ? cb_xstrdup(variant) : NULL;
    return 0;
}

static int check_annotations(const json_t *a, const char *what, cb_error_t **err) {
    if (!json_is_object(a))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"annotations\" must be an object",
                                 what);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)a, key, v) {
        if (!json_is_string(v))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: annotation \"%s\" must be a string",
                                     what, key);
    }
    return 0;
}

int cb_oci_descriptor_decode(const json_t *j, const char *what, cb_oci_descriptor_t *out,
                             cb_error_t **err) {
    memset(out, 0, sizeof *out);
    if (!json_is_object(j))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: expected a descriptor object", what);
    const char *mt, *digest;
    if (get_string(j, "mediaType", true, what, &mt, err) < 0 ||
        get_string(j, "digest", true, what, &digest, err) < 0)
        return -1;
    if (!cb_digest_valid(digest)) {
        if (strncmp(digest, "sha256:", 7) != 0 && strchr(digest, ':'))
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "%s: digest \"%s\": only sha256 is supported", what, digest);
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: malformed digest \"%s\" (expected sha256:<64 hex digits>)",
                                 what, digest);
    }
    const json_t *size = json_object_get(j, "size");
    if (size == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"size\"", what);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"size\" must be a non-negative integer",
                                 what);
    const json_t *platform = json_object_get(j, "platform");
    const json_t *ann = json_object_get(j, "annotations");
    if (ann && check_annotations(ann, what, err) < 0)
        return -1;
    if (platform) {
        if (decode_platform(platform, what, &out->platform, err) < 0)
            return -1;
        out->has_platform = true;
    }
    out->media_type = cb_xstrdup(mt);
    out->digest = cb_xstrdup(digest);
    out->size = json_integer_value(size);
    out->annotations = ann ? json_deep_copy(ann) : NULL;
    return 0;
}

json_t *cb_oci_descriptor_encode(const cb_oci_descriptor_t *d) {
    json_t *j = json_object();
    json_object_set_new(j, "mediaType", json_string(d->media_type));
    json_object_set_new(j, "digest", json_string(d->digest));
    json_object_set_new(j, "size", json_integer(d->size));
    if (d->has_platform) {
        json_t *p = json_object();
        json_object_set_new(p, "os", json_string(d->platform.os));
        json_object_set_new(p, "architecture", json_string(d->platform.arch));
        if (d->platform.variant)
            json_object_set_new(p, "variant", json_string(d->platform.variant));
        json_object_set_new(j, "platform", p);
    }
    if (d->annotations && json_object_size(d->annotations) > 0)
        json_object_set_new(j, "annotations", json_deep_copy(d->annotations));
    return j;
}

void cb_oci_descriptor_clear(cb_oci_descriptor_t *d) {
    free(d->media_type);
    free(d->digest);
    cb_oci_platform_clear(&d->platform);
    if (d->annotations)
        json_decref(d->annotations);
    memset(d, 0, sizeof *d);
}

void cb_oci_descriptor_copy(cb_oci_descriptor_t *dst, const cb_oci_descriptor_t *src) {
    memset(dst, 0, sizeof *dst);
    dst->media_type = cb_xstrdup(src->media_type);
    dst->digest = cb_xstrdup(src->digest);
    dst->size = src->size;
    dst->has_platform = src->has_platform;
    if (src->has_platform) {
        dst->platform.os = cb_xstrdup(src->platform.os);
        dst->platform.arch = cb_xstrdup(src->platform.arch);
        dst->platform.variant = src->platform.variant ? cb_xstrdup(src->platform.variant) : NULL;
    }
    dst->annotations = src->annotations ? json_deep_copy(src->annotations) : NULL;
}

const char *cb_oci_descriptor_annotation(const cb_oci_descriptor_t *d, const char *key) {
    if (d->annotations == NULL)
        return NULL;
    return json_string_value(json_object_get(d->annotations, key));
}

void cb_oci_descriptor_set_annotation(cb_oci_descriptor_t *d, const char *key, const char *value) {
    if (d->annotations == NULL)
        d->annotations = json_object();
    if (value)
        json_object_set_new(d->annotations, key, json_string(value));
    else
        json_object_del(d->annotations, key);
}
