/* Shared between writer.c and tree.c; not part of the layer API. */
#ifndef CB_LAYER_WRITER_PRIVATE_H
#define CB_LAYER_WRITER_PRIVATE_H

#include "layer/writer.h"

/* Adds parentfd/base as the entry name (already canonical). When it is a
 * directory and dir_out is not NULL, *dir_out gets an open descriptor of it
 * (the caller closes it), else -1. */
int cb_layer_add_at(cb_layer_writer_t *w, int parentfd, const char *base, const char *name,
                    const cb_layer_attrs_t *attrs, int *dir_out, cb_error_t **err);

#endif
