#include "layer/archive_error.h"

#include <stdarg.h>

#include "common/util.h"

int cb_layer_archive_error(cb_error_t **err, struct archive *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *ctx = cb_xvasprintf(fmt, ap);
    va_end(ap);
    /* A callback of ours failed: its error already says why, libarchive's
     * string would only repeat "callback failed". */
    if (err && *err) {
        cb_error_wrap(err, "%s", ctx);
    } else {
        const char *msg = archive_error_string(a);
        cb_error_kind_set(err, CB_ERR_LIBRARY, "%s: %s", ctx, msg ? msg : "unknown libarchive error");
        if (err && *err)
            (*err)->status = archive_errno(a);
    }
    free(ctx);
    return -1;
}
