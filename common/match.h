/* Path patterns with Go's path/filepath.Match semantics (Unix), which COPY and
 * ADD source wildcards and .dockerignore patterns are defined by:
 *
 *   *        any run of characters except '/'
 *   ?        one character (one UTF-8 rune) except '/'
 *   [a-z0-9] [^abc]   a class of runes, '^' negates; may match '/'
 *   \c       the character c, also inside a class
 *
 * A malformed pattern ("[", "[a-", "a\\", "[]") is an error whatever the name,
 * as in Go: after a mismatch the rest of the pattern is still checked.
 */
#ifndef CB_MATCH_H
#define CB_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* 1 when name matches all of pattern, 0 when not; -1 with *err (kind
 * CB_ERR_INPUT, "syntax error in pattern") when pattern is malformed. */
int cb_match(const char *pattern, const char *name, cb_error_t **err);

/* 0 when pattern is well formed, else -1 with *err. */
int cb_match_validate(const char *pattern, cb_error_t **err);

/* Whether pattern has any of the characters * ? [ \ (Go's hasMeta). */
bool cb_match_has_meta(const char *pattern);

/* Go's path.Clean: lexical cleanup of a '/'-separated path ("a//b/./c/.." ->
 * "a/b", "" -> "."). Newly allocated. */
char *cb_path_clean(const char *path);

/* Go's view of text, shared by the Go-compatible matchers and the shell lexer:
 * one rune of s[0..len) (len > 0) into *cp, returning its width; an invalid,
 * overlong or surrogate sequence reads as U+FFFD with width 1, as in Go. */
size_t cb_match_rune(const char *s, size_t len, int32_t *cp);
/* Go's unicode.IsSpace (strings.TrimSpace trims these). */
bool cb_match_isspace(int32_t cp);

#endif
