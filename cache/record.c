#include "cache/record.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/store.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/util.h"

#define RECORD_VERSION 1

char *cb_cache_record_path(const cb_root_t *root, const char *key) {
    return cb_xasprintf("%s/%s.json", root->cache, key + 7);
}

static int check_key(const char *key, cb_error_t **err) {
    if (key == NULL || !cb_digest_valid(key))
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "cache key \"%s\" is not sha256:<hex>",
                                 key ? key : "(null)");
    return 0;
}

/* What put refuses to write and get refuses to use. */
static int check_model(const cb_cache_record_t *rec, cb_error_t **err) {
    if (rec->created_by == NULL)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "no createdBy");
    const cb_oci_descriptor_t *l = &rec->layer;
    if (rec->empty_layer) {
        if (l->media_type || l->digest || rec->diff_id)
            return cb_error_kind_set(err, CB_ERR_INTERNAL, "an empty layer with a layer");
        return 0;
    }
    if (l->media_type == NULL || !cb_oci_is_layer_type(l->media_type, NULL))
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "layer media type \"%s\" is not a layer's",
                                 l->media_type ? l->media_type : "(none)");
    if (l->digest == NULL || !cb_digest_valid(l->digest) || l->size < 0)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "layer digest or size is malformed");
    if (rec->diff_id == NULL || !cb_digest_valid(rec->diff_id))
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "diffID is malformed");
    return 0;
}

static int decode(const char *data, size_t len, const char *key, cb_cache_record_t *rec,
                  cb_error_t **err) {
    cb_autojson json_t *j = NULL;
    if (cb_oci_json_parse(data, len, "record", &j, err) < 0)
        return -1;
    static const char *const known[] = {"createdBy", "diffID", "emptyLayer",
                                        "key",       "layer",  "version"};
    const char *name;
    json_t *v;
    json_object_foreach(j, name, v) {
        size_t i = 0;
        while (i < CB_ARRAY_LEN(known) && strcmp(name, known[i]) != 0)
            i++;
        if (i == CB_ARRAY_LEN(known))
            return cb_error_kind_set(err, CB_ERR_INPUT, "unknown member \"%s\"", name);
    }
    const json_t *version = json_object_get(j, "version");
    if (!json_is_integer(version) || json_integer_value(version) != RECORD_VERSION)
        return cb_error_kind_set(err, CB_ERR_INPUT, "not a version %d record", RECORD_VERSION);
    const char *k = json_string_value(json_object_get(j, "key"));
    if (k == NULL || strcmp(k, key) != 0)
        return cb_error_kind_set(err, CB_ERR_INPUT, "filed under another key (%s)",
                                 k ? k : "none");
    const json_t *empty = json_object_get(j, "emptyLayer");
    const char *created_by = json_string_value(json_object_get(j, "createdBy"));
    if (!json_is_boolean(empty) || created_by == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "emptyLayer or createdBy missing or mistyped");
    rec->empty_layer = json_is_true(empty);
    rec->created_by = cb_xstrdup(created_by);
    const json_t *layer = json_object_get(j, "layer");
    const json_t *diff_id = json_object_get(j, "diffID");
    if (rec->empty_layer) {
        if (layer || diff_id)
            return cb_error_kind_set(err, CB_ERR_INPUT, "an empty layer with a layer");
    } else {
        if (layer == NULL || !json_is_string(diff_id))
            return cb_error_kind_set(err, CB_ERR_INPUT, "layer or diffID missing or mistyped");
        if (cb_oci_descriptor_decode(layer, "layer", &rec->layer, err) < 0)
            return -1;
        rec->diff_id = cb_xstrdup(json_string_value(diff_id));
    }
    return check_model(rec, err);
}

/* The layer blob in ROOT/store with the recorded size, else why not. */
static const char *blob_missing(const cb_root_t *root, const cb_oci_descriptor_t *layer) {
    cb_store_t store = {.dir = root->store, .tmp = root->tmp};
    cb_autofree char *path = cb_store_blob_path(&store, layer->digest);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return "its layer blob is not in the store";
    if (st.st_size != layer->size)
        return "its layer blob has another size";
    return NULL;
}

int cb_cache_record_load(const cb_root_t *root, const char *key, cb_cache_record_t *rec,
                         cb_error_t **err) {
    memset(rec, 0, sizeof *rec);
    if (check_key(key, err) < 0)
        return -1;
    cb_autofree char *path = cb_cache_record_path(root, key);
    cb_autofree char *data = NULL;
    size_t len = 0;
    if (cb_read_file(path, CB_CACHE_RECORD_MAX_SIZE, &data, &len, err) < 0)
        return -1;
    if (decode(data, len, key, rec, err) < 0) {
        cb_cache_record_clear(rec);
        return cb_error_wrap(err, "damaged");
    }
    return 0;
}

int cb_cache_record_get(const cb_root_t *root, const char *key, cb_cache_record_t *rec,
                        bool *found, cb_error_t **err) {
    memset(rec, 0, sizeof *rec);
    *found = false;
    if (check_key(key, err) < 0)
        return -1;
    cb_autoerr cb_error_t *why = NULL;
    if (cb_cache_record_load(root, key, rec, &why) < 0) {
        if (why->kind != CB_ERR_SYSTEM || why->status != ENOENT) {
            cb_autofree char *msg = cb_error_message(why);
            cb_debug("cache", "cache record %s ignored: %s", key, msg);
        }
        return 0;
    }
    const char *missing = rec->empty_layer ? NULL : blob_missing(root, &rec->layer);
    if (missing) {
        cb_debug("cache", "cache record %s ignored: %s (%s)", key, missing, rec->layer.digest);
        cb_cache_record_clear(rec);
        return 0;
    }
    *found = true;
    return 0;
}

int cb_cache_record_put(const cb_root_t *root, const char *key, const cb_cache_record_t *rec,
                        cb_error_t **err) {
    if (check_key(key, err) < 0)
        return -1;
    if (check_model(rec, err) < 0)
        return cb_error_wrap(err, "cache record %s", key);
    cb_autojson json_t *j = json_object();
    json_object_set_new(j, "version", json_integer(RECORD_VERSION));
    json_object_set_new(j, "key", json_string(key));
    json_object_set_new(j, "emptyLayer", json_boolean(rec->empty_layer));
    json_object_set_new(j, "createdBy", json_string(rec->created_by));
    if (!rec->empty_layer) {
        json_object_set_new(j, "layer", cb_oci_descriptor_encode(&rec->layer));
        json_object_set_new(j, "diffID", json_string(rec->diff_id));
    }
    if (json_object_get(j, "createdBy") == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "cache record %s: createdBy is not UTF-8", key);
    size_t len;
    cb_autofree char *text = cb_oci_json_canonical(j, &len);
    if (len > CB_CACHE_RECORD_MAX_SIZE)
        return cb_error_kind_set(err, CB_ERR_INPUT, "cache record %s: %zu bytes is more than %u",
                                 key, len, CB_CACHE_RECORD_MAX_SIZE);
    cb_autofree char *path = cb_cache_record_path(root, key);
    /* Renamed into place but not fsync'd: a record is a hint. One lost to a
     * power cut is a cache miss, and one that outlived its layer blob is
     * refused on lookup (the blob's size is checked before a hit). */
    if (cb_write_file_replace(path, text, len, 0600, err) < 0)
        return cb_error_wrap(err, "cache record %s", key);
    return 0;
}

int cb_cache_record_touch(const cb_root_t *root, const char *key, cb_error_t **err) {
    if (check_key(key, err) < 0)
        return -1;
    cb_autofree char *path = cb_cache_record_path(root, key);
    if (utimensat(AT_FDCWD, path, NULL, 0) < 0) {
        if (errno == ENOENT) {
            cb_debug("cache", "cache record %s: gone before it was touched", key);
            return 0;
        }
        return cb_error_set(err, errno, "touch %s", path);
    }
    return 0;
}

void cb_cache_record_clear(cb_cache_record_t *rec) {
    cb_oci_descriptor_clear(&rec->layer);
    free(rec->diff_id);
    free(rec->created_by);
    memset(rec, 0, sizeof *rec);
}
