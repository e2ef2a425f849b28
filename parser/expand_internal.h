/* Private to parser/expand*.c: runes and the ${var#pattern} pattern language.
 *
 * BuildKit's lexer works on Unicode code points read by Go's text/scanner, so
 * names, word splitting and pattern `?` are per rune, and an invalid UTF-8 byte
 * reads as U+FFFD (one byte wide). These helpers reproduce that.
 */
#ifndef CB_PARSER_EXPAND_INTERNAL_H
#define CB_PARSER_EXPAND_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/util.h"

#define CB_RUNE_EOF (-1)
#define CB_RUNE_ERROR 0xFFFD

/* Decodes one rune of s[0..len) (len > 0) into *cp; returns its width in
 * bytes. Invalid or overlong sequences and surrogates give U+FFFD, width 1. */
size_t cb_rune_decode(const char *s, size_t len, int32_t *cp);
void cb_rune_put(cb_buf_t *b, int32_t cp);
/* Go's unicode.IsSpace. */
bool cb_rune_is_space(int32_t cp);
/* ASCII digits only (a name starting with one is a positional parameter). */
bool cb_rune_is_digit(int32_t cp);
/* Letter, digit or '_': may appear in a variable name. */
bool cb_rune_is_name(int32_t cp);

/* A decoded string: runes plus the byte offset where each starts
 * (off[n] == byte length), so matches can be mapped back to bytes. */
typedef struct cb_runes {
    int32_t *cp;
    size_t *off;
    size_t n;
} cb_runes_t;

void cb_runes_decode(cb_runes_t *r, const char *s);
void cb_runes_free(cb_runes_t *r);

/* What one expansion (one cb_expand_word/words call) may still spend.
 * max_value bounds every value it builds (a ${...} result, an operand, the
 * whole result), so nesting cannot grow a value geometrically; work is
 * charged with every byte a ${...} hands to its caller (so depth x size
 * counts) and with every cell of pattern matching, so many moderately large
 * steps cannot add up to minutes either. */
typedef struct cb_expand_budget {
    size_t max_value;
    size_t work;
    bool shared; /* work is what is left of cb_expand_opts_t.work (for the message) */
} cb_expand_budget_t;

/* Charges n units of work; an error (CB_ERR_INPUT) once the allowance is spent. */
int cb_expand_charge(cb_expand_budget_t *b, size_t n, cb_error_t **err);

/* The pattern operators. `pattern` is the word after the operator with the
 * escape characters still in it (BuildKit reads it with raw escapes), so
 * `\*`, `\?` and `\\` are literal and `\}` and `\/` drop the backslash.
 * Any other `\x` is an error. All append the result to *out; matching is
 * charged to *b, and replace refuses a result longer than b->max_value
 * (`name` is the variable, for that message). */
int cb_expand_trim_prefix(const char *value, const char *pattern, bool longest,
                          cb_expand_budget_t *b, cb_buf_t *out, cb_error_t **err);
int cb_expand_trim_suffix(const char *value, const char *pattern, bool longest,
                          cb_expand_budget_t *b, cb_buf_t *out, cb_error_t **err);
int cb_expand_replace(const char *name, const char *value, const char *pattern,
                      const char *replacement, bool all, cb_expand_budget_t *b, cb_buf_t *out,
                      cb_error_t **err);

#endif
