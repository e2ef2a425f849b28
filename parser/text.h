/* Text helpers that behave like Go's unicode/utf8, unicode and strconv
 * packages. BuildKit's parser is written in Go, so splitting, trimming and
 * quoting must follow Go's rules byte for byte to give the same AST and dump:
 * an invalid UTF-8 byte decodes as U+FFFD of width 1, "space" is
 * unicode.IsSpace (NBSP and NEL included), and dumps quote like strconv.Quote.
 */
#ifndef CB_PARSER_TEXT_H
#define CB_PARSER_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define CB_RUNE_ERROR 0xFFFDu

typedef struct cb_rune_range {
    uint32_t lo, hi;
} cb_rune_range_t;

/* Generated tables (unicode_tables.c), non-ASCII only, sorted. */
extern const cb_rune_range_t cb_unicode_print[];
extern const size_t cb_unicode_print_len;
extern const cb_rune_range_t cb_unicode_word[];
extern const size_t cb_unicode_word_len;

/* utf8.DecodeRune: n must be > 0; returns the width (1 for an invalid byte,
 * which decodes as CB_RUNE_ERROR). */
size_t cb_utf8_decode(const char *s, size_t n, uint32_t *rune);
/* utf8.EncodeRune; invalid runes are written as U+FFFD. */
void cb_utf8_put(cb_buf_t *b, uint32_t rune);

bool cb_go_isspace(uint32_t r);  /* unicode.IsSpace */
bool cb_go_isprint(uint32_t r);  /* strconv.IsPrint */
bool cb_go_isletter_or_digit(uint32_t r); /* unicode.IsLetter || unicode.IsDigit */

/* Bytes of leading space (unicode.IsSpace) in s[0..n). */
size_t cb_go_space_prefix(const char *s, size_t n);
/* Length of s[0..n) once trailing space is removed. */
size_t cb_go_trim_right_len(const char *s, size_t n);

/* Appends strconv.Quote(s[0..n)). */
void cb_go_quote(cb_buf_t *b, const char *s, size_t n);

#endif
