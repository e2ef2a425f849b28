/* libarchive result codes to cbuild errors: the handle's message is copied
 * into the error before the handle can be freed. */
#ifndef CB_LAYER_ARCHIVE_ERROR_H
#define CB_LAYER_ARCHIVE_ERROR_H

#include "common/archive_lazy.h"

#include "common/error.h"

/* "<context>: <archive_error_string>" as a CB_ERR_LIBRARY error (status =
 * archive_errno). Keeps an error a callback already set as the cause. */
int cb_layer_archive_error(cb_error_t **err, struct archive *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
