/* Registry error bodies (push/errors.h). */
#include "push/errors.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MAX_SHOWN 300

static json_t *error_json(const cb_http_response_t *resp) {
    if (!resp->body.len)
        return NULL;
    return json_loadb(resp->body.data, resp->body.len, 0, NULL);
}

char *cb_registry_error_text(const cb_http_response_t *resp) {
    json_t *j = error_json(resp);
    cb_buf_t b = CB_BUF_INIT;
    if (json_is_object(j)) {
        json_t *errs = json_object_get(j, "errors");
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e) {
            const char *code = json_string_value(json_object_get(e, "code"));
            const char *msg = json_string_value(json_object_get(e, "message"));
            if (!code && !msg)
                continue;
            cb_buf_printf(&b, "%s%s%s%s", b.len ? "; " : "", code ? code : "",
                          code && msg ? ": " : "", msg ? msg : "");
        }
        const char *keys[] = {"details", "error_description", "error", "message"};
        for (size_t k = 0; !b.len && k < CB_ARRAY_LEN(keys); k++) {
            const char *v = json_string_value(json_object_get(j, keys[k]));
            if (v && *v)
                cb_buf_puts(&b, v);
        }
    } else if (resp->body.len) {
        /* Not JSON (a proxy's HTML page, plain text): the first printable bytes. */
        for (size_t i = 0; i < resp->body.len && b.len < MAX_SHOWN; i++) {
            unsigned char c = (unsigned char)resp->body.data[i];
            if (isprint(c))
                cb_buf_putc(&b, (char)c);
            else if (b.len && b.data[b.len - 1] != ' ')
                cb_buf_putc(&b, ' ');
        }
        while (b.len && b.data[b.len - 1] == ' ')
            cb_buf_truncate(&b, b.len - 1);
    }
    if (j)
        json_decref(j);
    if (!b.len) {
        cb_buf_free(&b);
        return NULL;
    }
    return cb_buf_steal(&b);
}

bool cb_registry_error_has(const cb_http_response_t *resp, const char *code) {
    json_t *j = error_json(resp);
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "errors"), i, e) {
        const char *c = json_string_value(json_object_get(e, "code"));
        if (c && strcmp(c, code) == 0)
            found = true;
    }
    if (j)
        json_decref(j);
    return found;
}

int cb_registry_fail(cb_error_t **err, const cb_http_response_t *resp, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cb_autofree char *what = cb_xvasprintf(fmt, ap);
    va_end(ap);
    cb_autofree char *text = cb_registry_error_text(resp);
    /* 4xx is the request's fault (exit 2), except 408 and 429: the
     * registry's state, as 5xx is (exit 1). */
    bool busy = resp->status == 408 || resp->status == 429;
    cb_error_kind_t kind = resp->status >= 400 && resp->status < 500 && !busy ? CB_ERR_INPUT
                                                                               : CB_ERR_LIBRARY;
    if (text)
        return cb_error_kind_set(err, kind, "%s: HTTP %ld: %s", what, resp->status, text);
    return cb_error_kind_set(err, kind, "%s: HTTP %ld", what, resp->status);
}
