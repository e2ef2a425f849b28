/* The Containerfile lexer: physical lines in, logical lines out.
 *
 * It strips a UTF-8 byte order mark, accepts LF and CRLF endings, feeds the
 * leading lines to the directive parser, drops comments and blank lines,
 * joins continuation lines (escape character at the end of a line, blanks
 * and tabs after it tolerated, as BuildKit's regexp does) and keeps, for
 * every byte of a logical line, the physical line and column it came from.
 * Heredoc bodies are read on request, after the instruction that names them.
 *
 * A physical line longer than 65535 bytes or holding a NUL byte is an error:
 * the first is BuildKit's limit, the second cannot be represented in the
 * C strings of the AST.
 */
#ifndef CB_PARSER_LEXER_H
#define CB_PARSER_LEXER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/util.h"
#include "parser/directives.h"

#define CB_LEX_MAX_LINE 65535

/* Bytes from `off` on (up to the next piece) came from physical line `line`,
 * starting at 1-based byte column `col`. */
typedef struct cb_lex_piece {
    size_t off;
    int line;
    int col;
} cb_lex_piece_t;

typedef struct cb_logical_line {
    cb_buf_t text; /* continuation characters removed, lines joined */
    cb_lex_piece_t *pieces;
    size_t npieces, cap;
    int start_line, end_line;
} cb_logical_line_t;

typedef struct cb_lexer {
    const char *file;
    const char *data;
    size_t len;
    size_t pos;
    int line; /* physical lines consumed so far */
    cb_directives_t dir;
    cb_strv_t *warnings; /* not owned */
} cb_lexer_t;

void cb_lexer_init(cb_lexer_t *lx, const char *file, const char *data, size_t len,
                   cb_strv_t *warnings);
void cb_lexer_free(cb_lexer_t *lx);

/* Reads the next logical line into ll (reused across calls). Returns 1 for
 * a line, 0 at end of input, <0 on error. */
int cb_lexer_next(cb_lexer_t *lx, cb_logical_line_t *ll, cb_error_t **err);

/* Reads a heredoc body up to the line equal to `name` (leading tabs ignored
 * on that line, and stripped from the body, when chomp). Body lines keep
 * their line endings. Returns 1 when the terminator was found, 0 at end of
 * input, <0 on error. */
int cb_lexer_heredoc_body(cb_lexer_t *lx, const char *name, bool chomp, cb_buf_t *body,
                          cb_error_t **err);

/* The physical line and column of byte `off` of the logical line. */
void cb_logical_line_pos(const cb_logical_line_t *ll, size_t off, int *line, int *col);
void cb_logical_line_free(cb_logical_line_t *ll);

#endif
