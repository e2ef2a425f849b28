/* Image push (push/push.h). */
#include "push/push.h"

#include <string.h>

#include "cache/blob.h"
#include "common/log.h"
#include "common/workers.h"

#define DEFAULT_JOBS 4

typedef struct blob_jobs {
    cb_upload_target_t *t;
    const cb_store_t *store;
    const cb_oci_descriptor_t *const *blobs;
} blob_jobs_t;

static int upload_item(void *ctx, size_t i, cb_error_t **err) {
    blob_jobs_t *j = ctx;
    return cb_upload_blob(j->t, j->store, j->blobs[i], err);
}

/* Uploads the blobs, `jobs` at a time; the first failure stops the rest. */
static int upload_blobs(cb_upload_target_t *t, const cb_store_t *store, const cb_oci_descriptor_t *const *blobs,
                        size_t n, int jobs, cb_error_t **err) {
    blob_jobs_t j = {.t = t, .store = store, .blobs = blobs};
    return cb_workers_run(n, jobs > 0 ? (size_t)jobs : DEFAULT_JOBS, upload_item, &j, NULL, err);
}

static int push_manifest(cb_upload_target_t *t, const cb_store_t *store, const cb_oci_descriptor_t *d,
                         const char *reference, int jobs, cb_error_t **err) {
    cb_autofree char *raw = NULL;
    size_t len = 0;
    if (cb_blob_read_all(store, d->digest, d->size, CB_OCI_MAX_DOC_SIZE, &raw, &len, err) < 0)
        return cb_error_wrap(err, "pushing %s", d->digest);
    if (cb_oci_is_index_type(d->media_type)) {
        cb_autoindex cb_oci_index_t *idx = NULL;
        if (cb_oci_index_decode(raw, len, d->digest, d->media_type, &idx, err) < 0)
            return -1;
        for (size_t i = 0; i < idx->nmanifests; i++)
            if (push_manifest(t, store, &idx->manifests[i], NULL, jobs, err) < 0)
                return -1;
    } else {
        /* Read generically (config and layers as descriptors), so that
         * artifacts such as the remote build cache's entries push too. */
        cb_autojson json_t *doc = NULL;
        if (cb_oci_json_parse(raw, len, d->digest, &doc, err) < 0)
            return -1;
        json_t *layers = json_object_get(doc, "layers");
        size_t nl = json_is_array(layers) ? json_array_size(layers) : 0;
        cb_oci_descriptor_t *descs = cb_xcalloc(nl + 1, sizeof(*descs));
        const cb_oci_descriptor_t **blobs = cb_xcalloc(nl + 1, sizeof(*blobs));
        size_t n = 0, ndescs = 0;
        int rc = cb_oci_descriptor_decode(json_object_get(doc, "config"), "config", &descs[ndescs++], err);
        for (size_t i = 0; i < nl && rc == 0; i++) {
            cb_autofree char *what = cb_xasprintf("layer %zu", i + 1);
            rc = cb_oci_descriptor_decode(json_array_get(layers, i), what, &descs[ndescs++], err);
        }
        for (size_t i = 0; i < ndescs && rc == 0; i++) {
            bool dup = false;
            for (size_t k = 0; k < n; k++)
                dup = dup || strcmp(blobs[k]->digest, descs[i].digest) == 0;
            if (!dup)
                blobs[n++] = &descs[i];
        }
        if (rc < 0) {
            n = 0;
            cb_error_wrap(err, "manifest %s", d->digest);
        }
        /* The token must cover every repository a blob is mounted from before
         * the blobs move in parallel. */
        cb_autostrv cb_strv_t scopes = CB_STRV_INIT;
        for (size_t i = 0; i < n; i++) {
            cb_autofree char *from = cb_upload_mount_source(t, blobs[i]);
            cb_autofree char *scope = from ? cb_xasprintf("repository:%s:pull", from) : NULL;
            if (scope && !cb_strv_contains(&scopes, scope)) {
                t->add_scope(t->request_ctx, scope);
                cb_strv_push(&scopes, scope);
            }
        }
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += (uint64_t)blobs[i]->size;
        cb_meter_expect(t->meter, (unsigned)n, bytes);
        if (rc == 0)
            rc = upload_blobs(t, store, blobs, n, jobs, err);
        for (size_t i = 0; i < ndescs; i++)
            cb_oci_descriptor_clear(&descs[i]);
        free(descs);
        free(blobs);
        if (rc < 0)
            return -1;
    }
    const char *media_type = d->media_type;
    if (cb_upload_manifest(t, reference ? reference : d->digest, media_type, raw, len, err) < 0)
        return -1;
    cb_debug("push", "%s/%s: manifest %s", t->registry, t->repository, d->digest);
    return 0;
}

int cb_push_image(cb_upload_target_t *t, const cb_store_t *store, const cb_oci_descriptor_t *d,
                  const char *reference, int jobs, cb_error_t **err) {
    const char *at = reference ? reference : d->digest;
    cb_autofree char *what = cb_xasprintf("%s/%s%s%s", t->registry, t->repository, strchr(at, ':') ? "@" : ":", at);
    t->meter = cb_meter_start("push", what);
    int rc = push_manifest(t, store, d, reference, jobs, err);
    cb_meter_end(t->meter, rc == 0);
    t->meter = NULL;
    return rc;
}
