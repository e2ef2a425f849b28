/* The remote build cache (builder/step_remote_cache.h). */
#include "builder/step_remote_cache.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/cmd_push.h"
#include "cache/blob.h"
#include "cache/record.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "push/client.h"
#include "push/pull.h"
#include "push/reference.h"

void cb_remote_cache_note(const cb_build_t *b, const char *key) {
    const char *path = b->opts->cache_keys;
    if (!path)
        return;
    /* Stages may be forked children: one appended line per key. */
    cb_autofree char *line = cb_xasprintf("%s\n", key);
    if (cb_append_line(path, line) < 0)
        cb_warn("cache", "--cache-to: cannot note step %.19s in %s: %s", key, path, strerror(errno));
}

/* ---- --cache-from ---- */

typedef struct source {
    char *ref;
    cb_http_t *http;
    cb_client_t *client;
    json_t *entries; /* key -> manifest descriptor (object) */
} source_t;

static struct {
    pid_t pid; /* the process that loaded the sources (a forked stage loads its own) */
    source_t *src;
    size_t n;
} remote;

/* Fetches and reads one --cache-from index; a warning and an empty source on failure. */
static void source_load(const cb_build_opts_t *o, source_t *s) {
    s->entries = json_object();
    cb_autoerr cb_error_t *err = NULL;
    cb_autoref cb_ref_t ref = {0};
    cb_manifest_blob_t mb = {0};
    cb_autojson json_t *doc = NULL;
    if (cb_ref_parse(s->ref, cb_registry_cli_default_registry(&o->registry), &ref, &err) < 0 ||
        cb_registry_cli_http(&o->registry, &s->http, &err) < 0)
        goto out;
    cb_client_opts_t co = cb_registry_cli_client(&o->registry, s->http);
    if (cb_client_open(&co, &ref, "pull", &s->client, &err) < 0 ||
        cb_client_get_manifest(s->client, cb_ref_manifest_ref(&ref), &mb, &err) < 0 ||
        cb_oci_json_parse(mb.data, mb.len, s->ref, &doc, &err) < 0)
        goto out;
    json_t *ann = json_object_get(doc, "annotations");
    if (!json_string_value(json_object_get(ann, CB_ANNOTATION_CACHE_VERSION))) {
        cb_error_kind_set(&err, CB_ERR_INPUT, "%s is not a cbuild cache (no %s annotation)", s->ref,
                          CB_ANNOTATION_CACHE_VERSION);
        goto out;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "manifests"), i, e) {
        const char *key = json_string_value(json_object_get(json_object_get(e, "annotations"), CB_ANNOTATION_CACHE_KEY));
        if (key && cb_digest_valid(key))
            json_object_set(s->entries, key, e);
    }
    cb_debug("cache", "--cache-from %s: %zu entries", s->ref, json_object_size(s->entries));
out:
    if (err) {
        cb_autofree char *msg = cb_error_message(err);
        cb_warn("cache", "--cache-from %s: %s", s->ref, msg);
    }
    cb_manifest_blob_clear(&mb);
}

static void sources_load(const cb_build_opts_t *o) {
    if (remote.src && remote.pid == getpid())
        return;
    /* A forked stage does not reuse its parent's connections (nor frees them). */
    remote.pid = getpid();
    remote.n = o->cache_from.len;
    remote.src = cb_xcalloc(remote.n + 1, sizeof(*remote.src));
    for (size_t i = 0; i < remote.n; i++) {
        remote.src[i].ref = o->cache_from.items[i];
        source_load(o, &remote.src[i]);
    }
}

/* The entry's record and layer into ROOT/cache and the store. */
static int fetch_entry(cb_build_t *b, source_t *s, const char *key, const json_t *entry, cb_error_t **err) {
    cb_oci_descriptor_t md = {0}, cfg = {0}, layer = {0};
    cb_manifest_blob_t mb = {0};
    cb_autojson json_t *doc = NULL;
    cb_autofree char *path = NULL, *rec = NULL;
    size_t rec_len = 0;
    int rc = -1;
    if (cb_oci_descriptor_decode(entry, key, &md, err) < 0 ||
        cb_client_get_manifest(s->client, md.digest, &mb, err) < 0 ||
        cb_oci_json_parse(mb.data, mb.len, md.digest, &doc, err) < 0 ||
        cb_oci_descriptor_decode(json_object_get(doc, "config"), "cache record", &cfg, err) < 0)
        goto out;
    json_t *layers = json_object_get(doc, "layers");
    if (strcmp(cfg.media_type, CB_MT_CACHE_RECORD) != 0 || json_array_size(layers) > 1) {
        cb_error_kind_set(err, CB_ERR_INPUT, "%s is not a cbuild cache entry", md.digest);
        goto out;
    }
    if (cfg.size > CB_CACHE_RECORD_MAX_SIZE) {
        cb_error_kind_set(err, CB_ERR_INPUT, "%s: a cache record of %lld bytes", md.digest, (long long)cfg.size);
        goto out;
    }
    if (cb_pull_fetch_doc(s->client, &cfg, &rec, &rec_len, err) < 0)
        goto out;
    if (json_array_size(layers) == 1 &&
        (cb_oci_descriptor_decode(json_array_get(layers, 0), "cache layer", &layer, err) < 0 ||
         cb_pull_fetch_blob(s->client, b->store, &layer, err) < 0))
        goto out;
    /* The record as built elsewhere; the local lookup checks it (its key, its
     * layer in the store) and ignores it if it does not hold. */
    path = cb_cache_record_path(b->root, key);
    if (cb_write_file_atomic(path, rec, rec_len, 0600, err) < 0)
        goto out;
    rc = 0;
out:
    cb_manifest_blob_clear(&mb);
    cb_oci_descriptor_clear(&md);
    cb_oci_descriptor_clear(&cfg);
    cb_oci_descriptor_clear(&layer);
    return rc;
}

void cb_remote_cache_lookup(cb_build_t *b, const char *key) {
    if (b->opts->cache_from.len == 0)
        return;
    sources_load(b->opts);
    for (size_t i = 0; i < remote.n; i++) {
        source_t *s = &remote.src[i];
        const json_t *entry = s->entries ? json_object_get(s->entries, key) : NULL;
        if (!entry || !s->client)
            continue;
        cb_autoerr cb_error_t *err = NULL;
        if (fetch_entry(b, s, key, entry, &err) == 0) {
            cb_info("cache", "--> Fetched %.12s from %s", key + 7, s->ref);
            return;
        }
        cb_autofree char *msg = cb_error_message(err);
        cb_warn("cache", "--cache-from %s: step %.19s: %s", s->ref, key, msg);
    }
}

/* ---- --cache-to ---- */

/* The keys noted during the build, each once, in order. */
static int read_keys(const char *path, cb_strv_t *keys, cb_error_t **err) {
    cb_autofree char *data = NULL;
    size_t len = 0;
    if (cb_read_file(path, 64u << 20, &data, &len, err) < 0)
        return -1;
    for (char *save = NULL, *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (cb_digest_valid(l) && !cb_strv_contains(keys, l))
            cb_strv_push(keys, l);
    return 0;
}

/* One record as an artifact manifest in the store; *entry gets its index entry. */
static int export_record(const cb_root_t *root, const cb_store_t *store, const char *key, json_t **entry,
                         cb_error_t **err) {
    cb_autorecord cb_cache_record_t rec = {0};
    bool found = false;
    if (cb_cache_record_get(root, key, &rec, &found, err) < 0)
        return -1;
    if (!found) {
        *entry = NULL; /* pruned or damaged since: nothing to share */
        return 0;
    }
    cb_autofree char *path = cb_cache_record_path(root, key);
    cb_autofree char *raw = NULL;
    size_t len = 0;
    char rdigest[CB_DIGEST_STR_LEN + 1], mdigest[CB_DIGEST_STR_LEN + 1];
    if (cb_read_file(path, CB_CACHE_RECORD_MAX_SIZE, &raw, &len, err) < 0 ||
        cb_blob_put(store, raw, len, rdigest, err) < 0)
        return -1;
    cb_oci_descriptor_t cfg = {.media_type = CB_MT_CACHE_RECORD, .digest = rdigest, .size = (int64_t)len};
    cb_autojson json_t *m = json_object();
    json_object_set_new(m, "schemaVersion", json_integer(2));
    json_object_set_new(m, "mediaType", json_string(CB_MT_OCI_MANIFEST));
    json_object_set_new(m, "config", cb_oci_descriptor_encode(&cfg));
    json_t *layers = json_array();
    if (!rec.empty_layer)
        json_array_append_new(layers, cb_oci_descriptor_encode(&rec.layer));
    json_object_set_new(m, "layers", layers);
    json_t *ann = json_object();
    json_object_set_new(ann, CB_ANNOTATION_CACHE_KEY, json_string(key));
    json_object_set_new(m, "annotations", ann);
    size_t mlen = 0;
    cb_autofree char *mbytes = cb_oci_json_canonical(m, &mlen);
    if (cb_blob_put(store, mbytes, mlen, mdigest, err) < 0)
        return -1;
    cb_oci_descriptor_t md = {.media_type = CB_MT_OCI_MANIFEST, .digest = mdigest, .size = (int64_t)mlen};
    *entry = cb_oci_descriptor_encode(&md);
    json_object_set_new(*entry, "annotations", json_deep_copy(ann));
    return 0;
}

int cb_remote_cache_export(const cb_build_opts_t *o, const char *keys_file, cb_error_t **err) {
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    cb_autostrv cb_strv_t keys = CB_STRV_INIT;
    if (cb_cli_open_store(o->root, &root, &store, err) < 0 || read_keys(keys_file, &keys, err) < 0)
        return cb_error_wrap(err, "--cache-to %s", o->cache_to);
    cb_autojson json_t *idx = json_object();
    json_t *entries = json_array();
    json_object_set_new(idx, "schemaVersion", json_integer(2));
    json_object_set_new(idx, "mediaType", json_string(CB_MT_OCI_INDEX));
    json_object_set_new(idx, "manifests", entries);
    json_t *ann = json_object();
    json_object_set_new(ann, CB_ANNOTATION_CACHE_VERSION, json_string("1"));
    json_object_set_new(idx, "annotations", ann);
    for (size_t i = 0; i < keys.len; i++) {
        json_t *e = NULL;
        if (export_record(root, store, keys.items[i], &e, err) < 0)
            return cb_error_wrap(err, "--cache-to %s: step %s", o->cache_to, keys.items[i]);
        if (e)
            json_array_append_new(entries, e);
    }
    size_t len = 0;
    cb_autofree char *bytes = cb_oci_json_canonical(idx, &len);
    char digest[CB_DIGEST_STR_LEN + 1];
    if (cb_blob_put(store, bytes, len, digest, err) < 0)
        return -1;
    cb_oci_descriptor_t d = {.media_type = CB_MT_OCI_INDEX, .digest = digest, .size = (int64_t)len};
    cb_push_cli_opts_t po = {.registry = &o->registry};
    cb_autofree char *pushed = NULL;
    if (cb_push_cli_desc(root, store, &d, o->cache_to, &po, &pushed, err) < 0)
        return cb_error_wrap(err, "--cache-to");
    cb_info("cache", "Exported %zu cache records to %s", json_array_size(entries), o->cache_to);
    return 0;
}
