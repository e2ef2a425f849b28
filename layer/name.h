/* Entry names inside a layer: one canonical form for writing and applying.
 *
 * Canonical: relative, no "." or empty components, no trailing slash, no
 * "..". "" is the layer root. Writers accept a leading "/" or "./" from
 * callers (COPY destinations are absolute); appliers reject absolute names
 * from archives because a layer never has a reason to carry one. */
#ifndef CB_LAYER_NAME_H
#define CB_LAYER_NAME_H

#include <stdbool.h>

#include "common/error.h"

/* Cleans name into *out (caller frees). ".." anywhere is an error; a leading
 * "/" is an error unless allow_absolute. The error does not repeat the name:
 * callers wrap it with their context. */
int cb_layer_name_clean(const char *name, bool allow_absolute, char **out, cb_error_t **err);

/* Splits a canonical non-empty name at its last '/': *dir gets the parent
 * ("" for top level, caller frees), the return value points at the base
 * inside name. */
const char *cb_layer_name_split(const char *name, char **dir);

#endif
