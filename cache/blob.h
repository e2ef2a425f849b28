/* Blobs by digest in a store (cache/store.h).
 *
 * Writing: begin, write (any number of times; the bytes are hashed as they
 * go), then commit or abort. Past 8 MiB, writes are copied to a small ring
 * and written, hashed and flushed by the writer's own thread; a failure
 * there is the error of a later write or of the seal. commit fsyncs the
 * temp file, checks the digest (and size) when the caller knows what to
 * expect and renames the file to blobs/sha256/<hex> (the directory is
 * fsync'd before the next index.json write); a small blob whose file already
 * holds the same bytes is kept and the temp dropped unflushed. A blob
 * therefore never exists half-written under its final name, and a mismatch
 * leaves nothing behind. commit and abort free the writer.
 *
 *   cb_blob_writer_t *w;
 *   cb_blob_begin(store, &w, err);
 *   while (...) cb_blob_write(w, buf, n, err);   // or pass cb_blob_sink, w
 *   cb_blob_commit(w, NULL, -1, digest, &size, err);
 *
 * seal does commit's checks without publishing, so a caller importing several
 * blobs can verify all of them before any appears in the store.
 *
 * Reading: cb_blob_open returns a reader that verifies, at EOF, that the
 * bytes had the expected size and digest; a corrupt blob gives an integrity
 * error naming the digest. cb_blob_read_all does the same for small blobs.
 */
#ifndef CB_CACHE_BLOB_H
#define CB_CACHE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/store.h"
#include "common/digest.h"
#include "common/error.h"

/* The streaming sink shape shared with layer/: write n bytes or fail. */
typedef int (*cb_sink_fn)(void *ctx, const void *buf, size_t n, cb_error_t **err);

typedef struct cb_blob_writer cb_blob_writer_t;

int cb_blob_begin(const cb_store_t *store, cb_blob_writer_t **out, cb_error_t **err);
/* For a caller that hashes the very bytes it writes (the layer writer does,
 * for its blob digest): the blob writer does not hash them a second time,
 * and seal/commit must be given that digest, which names the blob
 * unchecked. */
int cb_blob_begin_hashed(const cb_store_t *store, cb_blob_writer_t **out, cb_error_t **err);
int cb_blob_write(cb_blob_writer_t *w, const void *buf, size_t n, cb_error_t **err);
/* cb_sink_fn adapter: ctx is the cb_blob_writer_t. */
int cb_blob_sink(void *ctx, const void *buf, size_t n, cb_error_t **err);
/* Bytes written so far. */
int64_t cb_blob_written(const cb_blob_writer_t *w);
/* Finishes hashing and fsyncs. expected_digest (or NULL) and expected_size
 * (or -1) are checked; on a mismatch the temp file is removed and the writer
 * can only be aborted. digest_out/size_out may be NULL. */
int cb_blob_seal(cb_blob_writer_t *w, const char *expected_digest, int64_t expected_size,
                 char digest_out[CB_DIGEST_STR_LEN + 1], int64_t *size_out, cb_error_t **err);
/* Seals (unless sealed) and publishes; frees w whatever happens. */
int cb_blob_commit(cb_blob_writer_t *w, const char *expected_digest, int64_t expected_size,
                   char digest_out[CB_DIGEST_STR_LEN + 1], int64_t *size_out, cb_error_t **err);
/* Removes the temp file and frees w; NULL is fine. */
void cb_blob_abort(cb_blob_writer_t *w);
static inline void cb_blob_abortp(cb_blob_writer_t **p) {
    cb_blob_abort(*p);
}
#define cb_autoblobwriter __attribute__((cleanup(cb_blob_abortp)))

/* Puts a buffer as a blob. */
int cb_blob_put(const cb_store_t *store, const void *data, size_t len,
                char digest_out[CB_DIGEST_STR_LEN + 1], cb_error_t **err);

bool cb_blob_exists(const cb_store_t *store, const char *digest);

/* Whether blob digest is in the store with exactly these bytes (read and
 * compared: for configs and manifests, up to CB_BLOB_HOLDS_MAX). Writers
 * of small blobs skip the write, fsyncs and rename when it does, and still
 * replace a damaged copy. */
#define CB_BLOB_HOLDS_MAX (1024 * 1024)
bool cb_blob_holds(const cb_store_t *store, const char *digest, const void *data, size_t len);

typedef struct cb_blob_reader cb_blob_reader_t;

/* Opens a blob for reading. expected_size is checked up front when >= 0. */
int cb_blob_open(const cb_store_t *store, const char *digest, int64_t expected_size,
                 cb_blob_reader_t **out, cb_error_t **err);
/* The blob's file, opened with the checks of cb_blob_open (name, regular
 * file, size) but nothing to verify its digest: for a reader that checks
 * the bytes another way (a writer's seal, a layer's diff_id). *size may be
 * NULL. */
int cb_blob_open_unverified(const cb_store_t *store, const char *digest, int64_t expected_size,
                            int *fd, int64_t *size, cb_error_t **err);
/* Returns bytes read (0 at the end). At the end the digest is checked, and a
 * mismatch is an integrity error: callers must treat data they already got
 * as untrusted until read returns 0. */
ssize_t cb_blob_read(cb_blob_reader_t *r, void *buf, size_t n, cb_error_t **err);
void cb_blob_close(cb_blob_reader_t *r);
static inline void cb_blob_closep(cb_blob_reader_t **p) {
    cb_blob_close(*p);
}
#define cb_autoblobreader __attribute__((cleanup(cb_blob_closep)))

/* Reads a whole blob (at most `max` bytes) and verifies it. *data is
 * NUL-terminated; caller frees. */
int cb_blob_read_all(const cb_store_t *store, const char *digest, int64_t expected_size,
                     size_t max, char **data, size_t *len, cb_error_t **err);

/* Streams a verified blob into a sink (e.g. another store's writer). */
int cb_blob_copy_to(const cb_store_t *store, const char *digest, int64_t expected_size,
                    cb_sink_fn sink, void *ctx, cb_error_t **err);

/* Copies everything readable from fd into the writer (no seal, no commit);
 * `what` names the source in errors. */
int cb_blob_fill_from_fd(cb_blob_writer_t *w, int fd, const char *what, cb_error_t **err);

#endif
