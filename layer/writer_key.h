/* Key mode of the layer writer (writer.h), without a tar: each entry is
 * digested as the fields its tar header would carry, so that a cached build
 * neither loads libarchive nor hashes megabytes of padded headers. Private
 * to writer.c, which opens and checks the host files as in its normal mode
 * and hands each entry here.
 *
 * An entry is one record of fixed-size and length-prefixed fields in one
 * sha256, in call order: name, type, permission bits, owner, an explicit
 * mtime when the caller set one (host mtimes and the clamp are no part of a
 * key), then by type: a regular file's content digest (which stands for its
 * size), a symlink's target, a hardlink's first name (a file with several
 * links is a file once, as libarchive's tar link resolver makes it, and its
 * other names hardlinks), a device's numbers; last the xattrs a layer keeps
 * (writer.c's filter), sorted. Entry lists that give different tars give
 * different records. */
#ifndef CB_LAYER_WRITER_KEY_H
#define CB_LAYER_WRITER_KEY_H

#include <stdbool.h>
#include <sys/stat.h>

#include "layer/writer.h"

typedef struct cb_layer_key cb_layer_key_t;

cb_layer_key_t *cb_layer_key_new(const cb_layer_writer_opts_t *opts);
void cb_layer_key_free(cb_layer_key_t *k);

/* Whether the regular file with stat st is known with no xattrs (the
 * options' known_digest): then out is its digest and it need not be opened. */
bool cb_layer_key_known(cb_layer_key_t *k, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]);

/* One host entry named name (canonical), parentfd/base on the host. fd is
 * the open descriptor st came from (regular files and directories) or -1
 * (other types, and a regular file known is the digest cb_layer_key_known
 * gave). drop_overlay: the writer is walking an overlay upper dir. A
 * regular file lookup_digest does not know adds nothing but its count. */
int cb_layer_key_host(cb_layer_key_t *k, int parentfd, const char *base, int fd,
                      const struct stat *st, const char *known, const char *name,
                      const cb_layer_attrs_t *attrs, bool drop_overlay, cb_error_t **err);

/* An entry made up by the writer: a directory, a regular file holding data
 * (n bytes; whiteouts and opaque markers are empty files), with perm unless
 * attrs say otherwise and owner 0:0. */
void cb_layer_key_synthetic(cb_layer_key_t *k, const char *name, mode_t type, mode_t perm,
                            const void *data, size_t n, const cb_layer_attrs_t *attrs);

/* With the options' lookup_digest: whether files it does not know are
 * read (content_digest) rather than counted as unknown; returns the
 * previous setting. */
bool cb_layer_key_set_reads(cb_layer_key_t *k, bool on);
/* Before a regular file is opened, with lookup_digest (reads off): true
 * when lookup_digest does not know it by st, the walk's stat; it is then
 * counted as unknown and need not be opened or added. */
bool cb_layer_key_unknown_file(cb_layer_key_t *k, const struct stat *st);
void cb_layer_key_counts(const cb_layer_key_t *k, cb_layer_key_counts_t *out);

/* The key ("sha256:<hex>"). */
void cb_layer_key_finish(cb_layer_key_t *k, char out[CB_DIGEST_STR_LEN + 1]);

/* Shared with writer.c's normal mode. */

/* The target of the symlink parentfd/base whose lstat is st (NUL-ended,
 * free()d by the caller); fails if it grew since the lstat. */
int cb_layer_read_symlink(int parentfd, const char *base, const struct stat *st,
                          const char *name, char **out, cb_error_t **err);
/* Whether a layer keeps the xattr called name (drop_overlay: as above). */
bool cb_layer_keep_xattr(const char *name, bool drop_overlay);

#endif
