/* From one logical line to one AST node: BuildKit's splitCommand (keyword,
 * `--flags`, rest) and its per-keyword line parsers (parseMaybeJSON,
 * parseEnv, parseNameOrNameVal, ...). No variable expansion happens here:
 * quotes and escapes in ENV/LABEL/ARG values are kept as written.
 */
#ifndef CB_PARSER_LINE_PARSERS_H
#define CB_PARSER_LINE_PARSERS_H

#include <stddef.h>

#include "common/error.h"
#include "common/util.h"
#include "parser/ast.h"
#include "parser/lexer.h"

/* Parses ll->text[off, off+n) (a whole logical line, or what follows
 * ONBUILD) with escape character `escape`. Errors carry file:line:col. */
int cb_line_parse(const char *file, const cb_logical_line_t *ll, size_t off, size_t n, char escape,
                  cb_node_t **out, cb_error_t **err);

/* BuildKit's extractBuilderFlags: leading `--name[=value]` words (quotes
 * and escapes removed, a lone `--` ends them and is dropped) are appended
 * to flags; returns where the arguments begin. */
const char *cb_extract_flags(const char *s, const char *end, char escape, cb_strv_t *flags);

/* BuildKit's parseWords: whitespace-separated words that respect quotes,
 * keeping quotes and escape characters. starts (may be NULL) receives each
 * word's first byte, an array the caller frees. */
void cb_parse_words(const char *s, const char *end, char escape, cb_strv_t *words,
                    const char ***starts);

/* True for the keywords of the Dockerfile reference (lower case). */
bool cb_is_instruction(const char *keyword);

#endif
