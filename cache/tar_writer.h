/* A tar file written under a temp name and renamed into place when complete,
 * with fixed metadata (uid/gid 0, mtime 0, 0644/0755) so the same image gives
 * the same archive. Internal to cache/. */
#ifndef CB_CACHE_TAR_WRITER_H
#define CB_CACHE_TAR_WRITER_H

#include <stdint.h>

#include "cache/store.h"
#include "common/error.h"

typedef struct cb_tar_writer cb_tar_writer_t;

int cb_tar_begin(const char *dest, cb_tar_writer_t **out, cb_error_t **err);
int cb_tar_add_dir(cb_tar_writer_t *t, const char *name, cb_error_t **err);
int cb_tar_add_bytes(cb_tar_writer_t *t, const char *name, const void *data, size_t len,
                     cb_error_t **err);
/* A store blob, streamed and verified. */
int cb_tar_add_blob(cb_tar_writer_t *t, const char *name, const cb_store_t *store,
                    const char *digest, int64_t size, cb_error_t **err);
/* size bytes read from fd. */
int cb_tar_add_fd(cb_tar_writer_t *t, const char *name, int fd, int64_t size, cb_error_t **err);
/* Closes, fsyncs and renames to dest; frees t whatever happens. */
int cb_tar_finish(cb_tar_writer_t *t, cb_error_t **err);
/* Removes the temp file and frees t; NULL is fine. */
void cb_tar_abort(cb_tar_writer_t *t);

#endif
