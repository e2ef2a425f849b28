/* Parser directives (`# syntax=`, `# escape=`, `# check=`), BuildKit rules:
 * they are recognised only in the leading block of the file; the first line
 * that is not a directive (an instruction, a blank line, any other comment,
 * an unknown directive) ends the block for good. Names are case-insensitive,
 * each may appear once, and `escape` must be `\` or a backtick.
 */
#ifndef CB_PARSER_DIRECTIVES_H
#define CB_PARSER_DIRECTIVES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct cb_directives {
    bool done;   /* the directive block has ended */
    char escape; /* '\\' until an escape directive says otherwise */
    char *syntax;
    char *check;
    bool seen_escape;
} cb_directives_t;

void cb_directives_init(cb_directives_t *d);
void cb_directives_free(cb_directives_t *d);

/* Feeds one physical line with its newline and leading whitespace removed.
 * Returns 1 when the line is a directive (it is then a comment for
 * everything else), 0 when it is not, <0 with a located error for a
 * repeated directive or an invalid escape token. */
int cb_directives_feed(cb_directives_t *d, const char *s, size_t n, const char *file, int line,
                       int col, cb_error_t **err);

#endif
