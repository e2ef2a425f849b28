/* Heredoc markers in RUN, COPY and ADD lines, found the way BuildKit finds
 * them: the whole line is split into shell words (quotes and escapes kept,
 * variables left alone), and every word of the form `[n]<<[-]WORD` names a
 * heredoc. WORD is then lexed again with and without quote removal: if the
 * two differ in quote count, part of it was quoted and the body is not
 * expanded. A line that does not lex (an unterminated quote) has no heredocs.
 */
#ifndef CB_PARSER_HEREDOC_H
#define CB_PARSER_HEREDOC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/util.h"
#include "parser/ast.h"

/* One heredoc marker; doc.content is NULL until the body is read. */
typedef struct cb_heredoc_marker {
    cb_heredoc_t doc;
    size_t off; /* byte offset of the marker's word in the line */
} cb_heredoc_marker_t;

/* Finds the markers of line[0..n). On success *out holds *count markers
 * (possibly none). An error (a marker whose word does not lex) is returned
 * unlocated, with *err_off the offset of the offending word. */
int cb_heredoc_markers(const char *line, size_t n, cb_heredoc_marker_t **out, size_t *count,
                       size_t *err_off, cb_error_t **err);
void cb_heredoc_markers_free(cb_heredoc_marker_t *m, size_t count);

/* BuildKit's shell word splitting with an empty environment where unset
 * variables stay as written (SkipUnsetEnv), escape character `\`.
 * raw_quotes keeps quote characters, raw_escapes keeps escape characters.
 * offs (may be NULL) receives each word's start offset in s. Returns <0 when
 * the text does not lex, with a message in *err. */
int cb_shell_words(const char *s, size_t n, bool raw_quotes, bool raw_escapes, cb_strv_t *words,
                   size_t **offs, cb_error_t **err);

#endif
