#include "cache/index.h"

#include <string.h>
#include <unistd.h>

#include "cache/refname.h"
#include "common/digest.h"
#include "common/util.h"

static char *index_path(const cb_store_t *s) {
    return cb_xasprintf("%s/index.json", s->dir);
}

/* Loads index.json as JSON (kept as is, so entries written by other tools
 * keep every field) after checking it with the index model. */
static int load_index(const cb_store_t *s, json_t **out, cb_error_t **err) {
    cb_autofree char *path = index_path(s);
    cb_autofree char *data = NULL;
    size_t len;
    if (cb_read_file(path, CB_OCI_MAX_DOC_SIZE, &data, &len, err) < 0)
        return -1;
    cb_autoindex cb_oci_index_t *idx = NULL;
    if (cb_oci_index_decode(data, len, path, NULL, &idx, err) < 0)
        return -1;
    return cb_oci_json_parse(data, len, path, out, err);
}

static int save_index(const cb_store_t *s, const json_t *doc, cb_error_t **err) {
    /* Blob names first (cb_blob_commit leaves their durability to this):
     * index.json must never name a blob a power cut could lose. */
    cb_autofree char *blobs = cb_xasprintf("%s/blobs/sha256", s->dir);
    if (cb_fsync_dir(blobs, err) < 0)
        return -1;
    cb_autofree char *path = index_path(s);
    size_t len;
    cb_autofree char *text = cb_oci_json_canonical(doc, &len);
    return cb_write_file_atomic(path, text, len, 0644, err);
}

static const char *entry_name(const json_t *entry) {
    return json_string_value(
        json_object_get(json_object_get(entry, "annotations"), CB_ANNOTATION_REF_NAME));
}

/* Removes every entry carrying `name`; returns how many went. */
static size_t remove_name(json_t *manifests, const char *name) {
    size_t removed = 0;
    for (size_t i = 0; i < json_array_size(manifests);) {
        const char *n = entry_name(json_array_get(manifests, i));
        if (n && cb_refname_equal(n, name)) {
            json_array_remove(manifests, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

typedef int (*index_edit_fn)(json_t *manifests, void *arg, cb_error_t **err);

static int edit_index(const cb_store_t *s, index_edit_fn edit, void *arg, cb_error_t **err) {
    cb_autoclose int lock = -1;
    if (cb_store_lock(s, 1, &lock, err) < 0)
        return -1;
    cb_autojson json_t *doc = NULL;
    if (load_index(s, &doc, err) < 0)
        return -1;
    cb_autojson json_t *before = json_deep_copy(doc);
    json_t *manifests = json_object_get(doc, "manifests");
    if (edit(manifests, arg, err) < 0)
        return -1;
    /* Tagging what a name already has (a cached rebuild) writes nothing. */
    if (json_equal(before, doc))
        return 0;
    return save_index(s, doc, err);
}

struct tag_arg {
    const char *name;
    const cb_oci_descriptor_t *desc;
};

/* Removes untagged entries for `digest`. */
static void remove_untagged(json_t *manifests, const char *digest) {
    for (size_t i = 0; i < json_array_size(manifests);) {
        const json_t *e = json_array_get(manifests, i);
        const char *d = json_string_value(json_object_get(e, "digest"));
        if (entry_name(e) == NULL && d && strcmp(d, digest) == 0)
            json_array_remove(manifests, i);
        else
            i++;
    }
}

static int tag_edit(json_t *manifests, void *arg, cb_error_t **err) {
    struct tag_arg *a = arg;
    if (a->name)
        remove_name(manifests, a->name);
    else
        remove_untagged(manifests, a->desc->digest);
    cb_oci_descriptor_t d;
    cb_oci_descriptor_copy(&d, a->desc);
    cb_oci_descriptor_set_annotation(&d, CB_ANNOTATION_REF_NAME, a->name);
    if (d.annotations && json_object_size(d.annotations) == 0) {
        json_decref(d.annotations);
        d.annotations = NULL;
    }
    json_array_append_new(manifests, cb_oci_descriptor_encode(&d));
    cb_oci_descriptor_clear(&d);
    (void)err;
    return 0;
}

int cb_index_tag(const cb_store_t *s, const char *name, const cb_oci_descriptor_t *manifest,
                 cb_error_t **err) {
    if (name == NULL)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "tag: no name");
    return cb_index_put(s, name, manifest, err);
}

int cb_index_put(const cb_store_t *s, const char *name, const cb_oci_descriptor_t *manifest,
                 cb_error_t **err) {
    cb_autofree char *norm = NULL;
    if (name && cb_refname_normalize(name, &norm, err) < 0)
        return -1;
    if (!cb_digest_valid(manifest->digest) ||
        !(cb_oci_is_manifest_type(manifest->media_type) ||
          cb_oci_is_index_type(manifest->media_type)))
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "tag %s: not a manifest descriptor",
                                 name ? name : manifest->digest);
    struct tag_arg a = {norm, manifest};
    if (edit_index(s, tag_edit, &a, err) < 0)
        return cb_error_wrap(err, "tag %s", norm ? norm : manifest->digest);
    return 0;
}

static int untag_edit(json_t *manifests, void *arg, cb_error_t **err) {
    const char *name = arg;
    if (remove_name(manifests, name) == 0)
        return cb_error_set(err, 0, "no image named %s", name);
    return 0;
}

int cb_index_untag(const cb_store_t *s, const char *name, cb_error_t **err) {
    cb_autofree char *norm = NULL;
    if (cb_refname_normalize(name, &norm, err) < 0)
        return -1;
    return edit_index(s, untag_edit, norm, err);
}

int cb_index_list(const cb_store_t *s, cb_index_entry_t **out, size_t *n, cb_error_t **err) {
    cb_autofree char *path = index_path(s);
    cb_autofree char *data = NULL;
    size_t len;
    if (cb_read_file(path, CB_OCI_MAX_DOC_SIZE, &data, &len, err) < 0)
        return -1;
    cb_autoindex cb_oci_index_t *idx = NULL;
    if (cb_oci_index_decode(data, len, path, NULL, &idx, err) < 0)
        return -1;
    cb_index_entry_t *e = cb_xcalloc(idx->nmanifests + 1, sizeof *e);
    for (size_t i = 0; i < idx->nmanifests; i++) {
        e[i].desc = idx->manifests[i];
        memset(&idx->manifests[i], 0, sizeof idx->manifests[i]);
        const char *name = cb_oci_descriptor_annotation(&e[i].desc, CB_ANNOTATION_REF_NAME);
        e[i].name = name ? cb_xstrdup(name) : NULL;
    }
    *out = e;
    *n = idx->nmanifests;
    return 0;
}

void cb_index_entries_free(cb_index_entry_t *e, size_t n) {
    if (e == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        cb_oci_descriptor_clear(&e[i].desc);
    }
    free(e);
}

int cb_index_resolve(const cb_store_t *s, const char *name, cb_oci_descriptor_t *out,
                     cb_error_t **err) {
    cb_autofree char *norm = NULL;
    if (cb_refname_normalize(name, &norm, err) < 0)
        return -1;
    cb_index_entry_t *e = NULL;
    size_t n = 0;
    if (cb_index_list(s, &e, &n, err) < 0)
        return -1;
    /* The newest entry wins should another tool have left duplicates. */
    const cb_index_entry_t *hit = NULL;
    for (size_t i = n; i-- > 0 && hit == NULL;)
        if (e[i].name && cb_refname_equal(e[i].name, norm))
            hit = &e[i];
    bool found = hit != NULL;
    if (found)
        cb_oci_descriptor_copy(out, &hit->desc);
    cb_index_entries_free(e, n);
    if (!found)
        return cb_error_set(err, 0, "no image named %s in %s", norm, s->dir);
    return 0;
}

static bool is_hex(const char *s) {
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

int cb_index_find_digest(const cb_store_t *s, const char *ref, cb_oci_descriptor_t *out,
                         cb_error_t **err) {
    const char *hex = cb_str_has_prefix(ref, "sha256:") ? ref + 7 : ref;
    size_t hlen = strlen(hex);
    if (hlen < 4 || hlen > CB_SHA256_HEX_LEN || !is_hex(hex))
        return 1;
    cb_index_entry_t *e = NULL;
    size_t n = 0;
    if (cb_index_list(s, &e, &n, err) < 0)
        return -1;
    int found = -1;
    int r = 1;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(e[i].desc.digest + 7, hex, hlen) != 0)
            continue;
        if (found >= 0 && strcmp(e[found].desc.digest, e[i].desc.digest) != 0) {
            r = cb_error_set(err, 0, "image id %s is ambiguous: it matches %s and %s", ref,
                             e[found].desc.digest, e[i].desc.digest);
            break;
        }
        found = (int)i;
    }
    if (r == 1 && found >= 0) {
        cb_oci_descriptor_copy(out, &e[found].desc);
        r = 0;
    }
    cb_index_entries_free(e, n);
    return r;
}
