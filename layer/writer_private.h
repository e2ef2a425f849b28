/* Shared between writer.c and tree.c; not part of the layer API. */
#ifndef CB_LAYER_WRITER_PRIVATE_H
#define CB_LAYER_WRITER_PRIVATE_H

#include "layer/writer.h"

/* Adds parentfd/base as the entry name (already canonical). When it is a
 * directory and dir_out is not NULL, *dir_out gets an open descriptor of it
 * (the caller closes it), else -1. */
int cb_layer_add_at(cb_layer_writer_t *w, int parentfd, const char *base, const char *name,
                    const cb_layer_attrs_t *attrs, int *dir_out, cb_error_t **err);

/* Adds one child found by cb_layer_walk: cb_layer_add_at, or a function
 * with its contract (upper.c's turns whiteouts and opaque dirs into markers). */
typedef int (*cb_layer_add_fn)(cb_layer_writer_t *w, int parentfd, const char *base,
                               const char *name, const cb_layer_attrs_t *attrs, int *dir_out,
                               cb_error_t **err);

/* Orders two names (char *const * each, as qsort passes them). */
typedef int (*cb_layer_order_fn)(const void *a, const void *b);

/* Adds every child of the directory dirfd with add, depth-first, each
 * directory's children sorted bytewise, or by order when it is not NULL;
 * prefix is the entry name of dirfd ("" for the layer root). A child for
 * which add hands back a directory descriptor is walked next. (tree.c) */
int cb_layer_walk(cb_layer_writer_t *w, int dirfd, const char *prefix, const cb_layer_attrs_t *attrs,
                  cb_layer_add_fn add, cb_layer_order_fn order, cb_error_t **err);

/* While on, xattrs named user.overlay.* / trusted.overlay.* are dropped from
 * the entries written (upper.c turns it on for the length of one walk). */
void cb_layer_writer_drop_overlay_xattrs(cb_layer_writer_t *w, bool on);

#endif
