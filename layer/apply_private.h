/* State shared by apply.c, apply_entry.c and whiteout.c. */
#ifndef CB_LAYER_APPLY_PRIVATE_H
#define CB_LAYER_APPLY_PRIVATE_H

#include "common/archive_lazy.h"

#include "layer/apply.h"
#include "layer/pathset.h"

typedef struct cb_dir_meta {
    char *name;
    mode_t perm;
    int64_t mtime;
} cb_dir_meta_t;

typedef struct cb_applier {
    int root;
    cb_layer_apply_opts_t opts;
    struct archive *tar;  /* reads tar entries from the decompressed stream */
    cb_pathset_t created; /* names this layer wrote: whiteouts spare them */
    cb_dir_meta_t *dirs;  /* directory mode and mtime, set at the end */
    size_t ndirs, capdirs;
    unsigned char *buf;   /* data copy buffer */
} cb_applier_t;

/* Creates one non-whiteout entry; name is canonical and non-empty. */
int cb_apply_entry(cb_applier_t *ap, struct archive_entry *e, const char *name, cb_error_t **err);
/* Handles dir/.wh.base (base without the prefix) or dir/.wh..wh..opq. */
int cb_apply_whiteout(cb_applier_t *ap, const char *dir, const char *base, cb_error_t **err);
int cb_apply_opaque(cb_applier_t *ap, const char *dir, cb_error_t **err);
/* Removes parentfd/name, recursively when it is a directory, never following
 * symlinks. */
int cb_remove_at(int parentfd, const char *name, cb_error_t **err);
/* Sets the deferred directory modes and mtimes. */
int cb_apply_dir_meta(cb_applier_t *ap, cb_error_t **err);

#define CB_APPLY_CHUNK (64 * 1024)

/* The decompressed layer stream (apply_stream.c): read, decompressed and
 * hashed (diff_id) ahead of the tar reader, in a thread of its own. */
typedef struct cb_apply_stream cb_apply_stream_t;

/* Detects the compression (*compression: "none", "gzip", ...) and starts
 * the stream; *out is set even on failure, for cb_apply_stream_free.
 * max_size: most decompressed bytes accepted (0: no limit). */
int cb_apply_stream_open(cb_layer_source_fn source, void *source_ctx, uint64_t max_size,
                         cb_apply_stream_t **out, const char **compression, cb_error_t **err);
/* The next decompressed chunk, valid until the next call: its length, 0 at
 * the end, or -1 with *cause set to why (the first time only). */
la_ssize_t cb_apply_stream_read(cb_apply_stream_t *s, const void **buf, cb_error_t **cause);
/* After a read returned 0: the diff_id and the decompressed size. */
uint64_t cb_apply_stream_finish(cb_apply_stream_t *s, char diff_id[CB_DIGEST_STR_LEN + 1]);
/* Stops the stream's thread and frees; NULL is fine. */
void cb_apply_stream_free(cb_apply_stream_t *s);

#endif
