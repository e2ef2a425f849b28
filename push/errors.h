/* What a registry said when it refused a request: the distribution spec's
 * {"errors":[{"code":...,"message":...}]}, a token server's {"details":...}
 * or {"error":...}, else the start of the body. */
#ifndef CB_PUSH_ERRORS_H
#define CB_PUSH_ERRORS_H

#include <stdbool.h>

#include "common/error.h"
#include "push/http.h"

/* "CODE: message; CODE: message", or NULL when the body says nothing. */
char *cb_registry_error_text(const cb_http_response_t *resp);
/* True when the error JSON holds this code ("MANIFEST_UNKNOWN", ...). */
bool cb_registry_error_has(const cb_http_response_t *resp, const char *code);
/* An error "<what>: HTTP <status>[: <registry's text>]"; the kind is
 * CB_ERR_INPUT for 4xx (the request or the credentials were wrong),
 * CB_ERR_LIBRARY otherwise. Returns -1. */
int cb_registry_fail(cb_error_t **err, const cb_http_response_t *resp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
