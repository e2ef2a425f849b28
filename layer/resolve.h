/* Opening directories inside an extraction root without ever leaving it.
 *
 * With openat2 (Linux 5.6+), RESOLVE_BENEATH: relative symlinks that stay
 * inside the root are followed; an absolute symlink, or a ".." that would
 * climb above the root, fails with EXDEV and the entry is rejected. Without
 * openat2 a component-by-component walk with O_NOFOLLOW rejects every
 * symlink in the path (stricter, never looser). */
#ifndef CB_LAYER_RESOLVE_H
#define CB_LAYER_RESOLVE_H

#include <stdbool.h>

#include "common/error.h"

/* Opens canonical rel ("" is the root itself) under rootfd as an O_PATH
 * directory descriptor into *out. With create, missing components are made
 * (mode 0755). Without create, a missing directory gives 0 and *out = -1. */
int cb_layer_open_dir_beneath(int rootfd, const char *rel, bool create, int *out,
                              cb_error_t **err);
/* The same with real read access (for listing, fchmod, futimens). */
int cb_layer_open_dir_beneath_rd(int rootfd, const char *rel, int *out, cb_error_t **err);

/* Tests force the fallback walk to cover it on kernels that have openat2. */
void cb_layer_resolve_force_fallback(bool on);

#endif
