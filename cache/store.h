/* An OCI image layout directory used as a content store: the local image
 * store (ROOT/store) or an export destination (--output type=oci).
 *
 * Blobs are staged in `tmp`, which must be on the same file system as the
 * layout, and renamed into blobs/sha256/<hex> once complete (cache/blob.h).
 * index.json is changed only under the store lock (cache/index.h).
 *
 * Lock choice: flock(2) on the layout directory itself. It needs no extra
 * file (the layout stays exactly what the OCI spec describes, so strict
 * validators see nothing foreign), cannot go stale (the kernel drops it when
 * the process dies), and holds across processes on local file systems.
 */
#ifndef CB_CACHE_STORE_H
#define CB_CACHE_STORE_H

#include <stdbool.h>

#include "common/error.h"

typedef struct cb_store {
    char *dir; /* the layout directory */
    char *tmp; /* staging directory on the same file system */
} cb_store_t;

/* Creates the layout (oci-layout, index.json, blobs/sha256) where missing;
 * an existing layout is checked, never rewritten. */
int cb_store_init(const char *dir, const char *tmp, cb_error_t **err);
/* cb_store_init, then a handle. */
int cb_store_open(const char *dir, const char *tmp, cb_store_t **out, cb_error_t **err);
void cb_store_free(cb_store_t *s);
static inline void cb_store_freep(cb_store_t **p) {
    cb_store_free(*p);
}
#define cb_autostore __attribute__((cleanup(cb_store_freep)))

/* DIR/blobs/sha256/<hex>; the digest must be valid. Caller frees. */
char *cb_store_blob_path(const cb_store_t *s, const char *digest);

/* Takes the store lock (exclusive or shared); *fd holds it until closed. */
int cb_store_lock(const cb_store_t *s, int exclusive, int *fd, cb_error_t **err);

/* Writes `data` to `path` atomically: a temp file in the same directory,
 * fsync, rename, fsync of the directory. */
int cb_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         cb_error_t **err);
/* The same without the fsyncs, for files that only save work or explain
 * (a crash may lose the new content, never leave half of it). A small file
 * that already holds data with mode is kept, its mtime made now. */
int cb_write_file_replace(const char *path, const void *data, size_t len, unsigned mode,
                          cb_error_t **err);
/* fsync of a directory, so a rename in it survives a crash. */
int cb_fsync_dir(const char *dir, cb_error_t **err);
/* Reads a whole (small) file; refuses files over `max` bytes. */
int cb_read_file(const char *path, size_t max, char **data, size_t *len, cb_error_t **err);
/* Whether path is a regular file holding exactly the len bytes at data
 * (read whole: for small files). */
bool cb_file_holds(const char *path, const void *data, size_t len);

#endif
