/* What every fuzz target checks of the error idiom (common/error.h). */
#ifndef CB_FUZZ_CHECK_H
#define CB_FUZZ_CHECK_H

#include <stdlib.h>

#include "common/error.h"

/* Aborts (a finding) when the call's return code and its error disagree, or
 * the error has no message; frees the error. */
static inline void fuzz_check_error(int rc, cb_error_t *err) {
    if ((rc < 0) != (err != NULL))
        abort();
    if (!err)
        return;
    char *msg = cb_error_message(err);
    if (!msg || !*msg)
        abort();
    free(msg);
    cb_error_free(err);
}

#endif
