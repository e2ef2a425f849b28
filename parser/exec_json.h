/* Exec (JSON array) form detection, as BuildKit's parseJSON: the text must
 * start with `[` and be valid JSON; then every element must be a string.
 * Go's encoding/json is the reference: invalid UTF-8 and lone surrogate
 * escapes inside strings become U+FFFD rather than errors, so the text is
 * normalised that way before jansson decodes it.
 */
#ifndef CB_PARSER_EXEC_JSON_H
#define CB_PARSER_EXEC_JSON_H

#include <stddef.h>

#include "common/error.h"
#include "common/util.h"

/* Returns 1 for a JSON array of strings (elements appended to args; when
 * one holds a NUL, *lens is set to every element's length, else left NULL),
 * 0 when the text is not a JSON array (the caller falls back to shell form),
 * <0 for valid JSON that is not an array of strings (an unlocated error). */
int cb_exec_json(const char *s, size_t n, cb_strv_t *args, size_t **lens, cb_error_t **err);

#endif
