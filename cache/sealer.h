/* Blobs made durable and published behind a build, with their cache
 * records.
 *
 * Why: a step's layer blob must be fsync'd before it takes its digest's
 * name (cache/blob.h), and on a disk with online discard that fsync waits
 * 0.6-10 ms for the device, while nothing the next step does needs the blob
 * under its name (RUN moved the changes into the stage's tree itself). So
 * the builder hands the finished writer over and goes on; a thread of the
 * sealer's own takes the jobs in the order given: a blob is sealed (fsync,
 * digest and size checked) and renamed into the store (cb_blob_commit), a
 * cache record is written (cb_cache_record_put). A record queued after a
 * blob is therefore written only once that blob is durable under its name.
 *
 * Errors: a blob that cannot be made durable or published stops the queue:
 * every job after it is dropped (temp files removed, records not written),
 * and its error (naming the blob and what made it) is returned by the next
 * submit and by wait. A record that cannot be written does not: records
 * are hints, and wait logs it as a warning (on the caller's thread).
 *
 * Whatever makes a blob visible to anything else (a tag in index.json, an
 * output, a push, --iidfile, a layer applied from the store) must wait
 * first. wait also ends the thread, so a process may fork after it (the
 * child gets an idle sealer it may use; the thread starts again on the
 * next job). free drops what has not started and waits for the job in
 * progress. Without a thread (pthread_create failed) every job runs at once
 * in the submitter. One thread submits, waits and frees. */
#ifndef CB_CACHE_SEALER_H
#define CB_CACHE_SEALER_H

#include <stdint.h>

#include "cache/blob.h"
#include "cache/record.h"
#include "common/error.h"

typedef struct cb_sealer cb_sealer_t;

cb_sealer_t *cb_sealer_new(void);
/* Takes w (in every case): sealed against digest/size as cb_blob_commit
 * does, then renamed into the store. what names it in errors ("the layer
 * of RUN make"). -1: an earlier job failed (its error); w is dropped. */
int cb_sealer_blob(cb_sealer_t *s, cb_blob_writer_t *w, const char *digest, int64_t size, const char *what,
                   cb_error_t **err);
/* Writes rec under key once the jobs before it are done (rec is copied;
 * root must outlive the sealer). -1 as for cb_sealer_blob. */
int cb_sealer_record(cb_sealer_t *s, const cb_root_t *root, const char *key, const cb_cache_record_t *rec,
                     cb_error_t **err);
/* Runs fn(ctx) in turn: an error from it stops the queue as a blob's does. */
int cb_sealer_call(cb_sealer_t *s, int (*fn)(void *ctx, cb_error_t **err), void *ctx, cb_error_t **err);
/* Every job done, the thread ended; -1 with the first failure (then and
 * afterwards: the queue stays stopped). */
int cb_sealer_wait(cb_sealer_t *s, cb_error_t **err);
/* From now on jobs not yet started are dropped; returns at once. */
void cb_sealer_abandon(cb_sealer_t *s);
/* Abandons, waits for the job in progress, frees. NULL is fine. */
void cb_sealer_free(cb_sealer_t *s);

#endif
