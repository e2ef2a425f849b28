/* Image configs: only what the store needs (platform, created, diff_ids);
 * builder/image_config.c owns the full model a build edits. */
#include <string.h>

#include "cache/oci.h"
#include "common/digest.h"
#include "common/util.h"

static int config_string(const json_t *doc, const char *key, bool required, const char *what,
                         char **out, cb_error_t **err) {
    const json_t *v = json_object_get(doc, key);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"%s\"", what, key);
        return 0;
    }
    if (!json_is_string(v))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: \"%s\" must be a string", what, key);
    *out = cb_xstrdup(json_string_value(v));
    return 0;
}

int cb_oci_config_decode(const char *json, size_t len, const char *what, cb_oci_config_t **out,
                         cb_error_t **err) {
    cb_autojson json_t *doc = NULL;
    if (cb_oci_json_parse(json, len, what, &doc, err) < 0)
        return -1;
    cb_autoconfig cb_oci_config_t *c = cb_xcalloc(1, sizeof *c);
    if (config_string(doc, "architecture", true, what, &c->platform.arch, err) < 0 ||
        config_string(doc, "os", true, what, &c->platform.os, err) < 0 ||
        config_string(doc, "variant", false, what, &c->platform.variant, err) < 0 ||
        config_string(doc, "created", false, what, &c->created, err) < 0)
        return -1;
    const json_t *rootfs = json_object_get(doc, "rootfs");
    if (!json_is_object(rootfs))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: missing \"rootfs\" object", what);
    const json_t *type = json_object_get(rootfs, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "layers") != 0)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: rootfs.type must be \"layers\"", what);
    const json_t *ids = json_object_get(rootfs, "diff_ids");
    if (!json_is_array(ids))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: rootfs.diff_ids must be an array", what);
    c->diff_ids = cb_xcalloc(json_array_size(ids) + 1, sizeof *c->diff_ids);
    size_t i;
    const json_t *id;
    json_array_foreach(ids, i, id) {
        if (!json_is_string(id) || !cb_digest_valid(json_string_value(id)))
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "%s: rootfs.diff_ids[%zu] is not a sha256 digest", what, i);
        c->diff_ids[c->ndiff_ids++] = cb_xstrdup(json_string_value(id));
    }
    c->root = cb_steal_pointer(&doc);
    *out = cb_steal_pointer(&c);
    return 0;
}

void cb_oci_config_free(cb_oci_config_t *c) {
    if (c == NULL)
        return;
    cb_oci_platform_clear(&c->platform);
    free(c->created);
    for (size_t i = 0; i < c->ndiff_ids; i++)
        free(c->diff_ids[i]);
    free(c->diff_ids);
    if (c->root)
        json_decref(c->root);
    free(c);
}
