#include "cache/stage.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/workers.h"

/* Threads of cb_stage_copy_layers: enough that one blob's fsync waits
 * while others are copied and hashed on the other cores. */
#define COPY_JOBS 3

static void push(cb_stage_t *st, cb_blob_writer_t *w) {
    st->writers = cb_xrealloc(st->writers, (st->n + 1) * sizeof *st->writers);
    st->writers[st->n++] = w;
}

int cb_stage_bytes(cb_stage_t *st, const void *data, size_t len, const char *digest,
                   char *digest_out, cb_error_t **err) {
    char have[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(data, len, have);
    if ((digest == NULL || strcmp(digest, have) == 0) && cb_blob_holds(st->store, have, data, len)) {
        if (digest_out)
            memcpy(digest_out, have, sizeof have);
        return 0;
    }
    cb_blob_writer_t *w;
    if (cb_blob_begin(st->store, &w, err) < 0)
        return -1;
    if (cb_blob_write(w, data, len, err) < 0 ||
        cb_blob_seal(w, digest, digest ? (int64_t)len : -1, digest_out, NULL, err) < 0) {
        cb_blob_abort(w);
        return -1;
    }
    push(st, w);
    return 0;
}

/* The source's bytes are hashed once, by the writer, whose seal checks
 * them against the descriptor: reading them through a verifying reader
 * as well hashed every imported layer twice. */
static int copy_unhashed(cb_blob_writer_t *w, const cb_store_t *src, const cb_oci_descriptor_t *d,
                         cb_error_t **err) {
    cb_autoclose int fd = -1;
    if (cb_blob_open_unverified(src, d->digest, d->size, &fd, NULL, err) < 0)
        return -1;
    return cb_blob_fill_from_fd(w, fd, d->digest, err);
}

/* A verified copy of d in the store's temp dir, or NULL in *out when the
 * store has the blob already. */
static int copy_one(const cb_store_t *store, const cb_store_t *src, const cb_oci_descriptor_t *d,
                    cb_blob_writer_t **out, cb_error_t **err) {
    *out = NULL;
    if (cb_blob_exists(store, d->digest))
        return 0;
    cb_blob_writer_t *w;
    if (cb_blob_begin(store, &w, err) < 0)
        return -1;
    if (copy_unhashed(w, src, d, err) < 0 || cb_blob_seal(w, d->digest, d->size, NULL, NULL, err) < 0) {
        cb_blob_abort(w);
        return -1;
    }
    *out = w;
    return 0;
}

typedef struct copy_job {
    const cb_store_t *store, *src;
    const cb_oci_descriptor_t *d;
    cb_blob_writer_t **done; /* per layer, in order */
} copy_job_t;

static int copy_item(void *ctx, size_t i, cb_error_t **err) {
    copy_job_t *j = ctx;
    if (copy_one(j->store, j->src, &j->d[i], &j->done[i], err) < 0)
        return cb_error_wrap(err, "layer %zu", i + 1);
    return 0;
}

/* Layers copied by a few threads: hashing runs on every core, and each
 * blob's fsync waits while the others copy, not in a row of fifty. */
int cb_stage_copy_layers(cb_stage_t *st, const cb_store_t *src, const cb_oci_descriptor_t *d,
                         size_t n, cb_error_t **err) {
    copy_job_t j = {.store = st->store, .src = src, .d = d,
                    .done = cb_xcalloc(n + 1, sizeof(cb_blob_writer_t *))};
    int rc = cb_workers_run(n, COPY_JOBS, copy_item, &j, NULL, err);
    for (size_t i = 0; i < n; i++) {
        if (rc < 0)
            cb_blob_abort(j.done[i]);
        else if (j.done[i])
            push(st, j.done[i]);
    }
    free(j.done);
    return rc;
}

int cb_stage_commit(cb_stage_t *st, cb_error_t **err) {
    int r = 0;
    /* In order: layers and config before the manifest that names them. */
    for (size_t i = 0; i < st->n; i++) {
        if (r < 0)
            cb_blob_abort(st->writers[i]);
        else
            r = cb_blob_commit(st->writers[i], NULL, -1, NULL, NULL, err);
    }
    free(st->writers);
    st->writers = NULL;
    st->n = 0;
    return r;
}

void cb_stage_abort(cb_stage_t *st) {
    for (size_t i = 0; i < st->n; i++)
        cb_blob_abort(st->writers[i]);
    free(st->writers);
    st->writers = NULL;
    st->n = 0;
}
