/* Unpacking an image archive (oci-archive, docker-archive) into a private
 * staging directory. Internal to cache/. */
#ifndef CB_CACHE_UNPACK_H
#define CB_CACHE_UNPACK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Unpacks tar FILE (any compression libarchive reads) into a new 0700
 * directory under tmp. Absolute names, ".." components, devices and FIFOs
 * are refused; symlinks only when allow_symlinks (docker save uses relative
 * ones to share layers), and never written through. More than max_size
 * bytes of tar stream after decompression (0: any) is an error. *dir_out
 * is the new directory (removed again on failure). */
int cb_unpack_archive(const char *file, const char *tmp, bool allow_symlinks, uint64_t max_size,
                      char **dir_out, cb_error_t **err);
/* Opens dir/rel for reading, following symlinks only while they stay inside dir. */
int cb_open_beneath(const char *dir, const char *rel, int *fd_out, cb_error_t **err);
/* rm -rf without following symlinks; errors are ignored (staging cleanup). */
void cb_remove_tree(const char *path);

#endif
