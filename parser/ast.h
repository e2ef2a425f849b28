/* The Containerfile syntax tree: what the lexer and line parsers produce,
 * before any instruction semantics or variable expansion.
 *
 * Modelled on BuildKit's parser layer: one node per instruction with its
 * keyword, flags as written, arguments split the way the keyword's line
 * parser splits them, the JSON (exec form) attribute, line range and
 * heredocs. cb_ast_dump() prints BuildKit's S-expression format byte for
 * byte (see testdata/conformance/README.md).
 */
#ifndef CB_PARSER_AST_H
#define CB_PARSER_AST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/util.h"

typedef struct cb_heredoc {
    char *name;    /* the delimiter word, quotes removed */
    char *content; /* the body, each line ending in '\n'; tabs stripped for <<- */
    bool expand;   /* false when the delimiter was quoted ('EOF' or "EOF") */
    bool chomp;    /* <<- form */
    unsigned int fd; /* "3<<EOF" gives 3; 0 when no descriptor is written */
} cb_heredoc_t;

typedef struct cb_node {
    char *keyword;   /* lower case: "from", "run", ... */
    char *original;  /* the logical line as written, continuations joined */
    cb_strv_t flags; /* "--name=value" or "--name", as written, in order */
    cb_strv_t args;  /* arguments as the keyword's line parser split them */
    /* Byte lengths of args, only when an exec-form (JSON) element holds a
     * NUL ("\u0000"): args are C strings and stop at the NUL, the dump does
     * not. NULL otherwise. */
    size_t *arg_lens;
    bool json;       /* exec (JSON array) form for RUN/CMD/ENTRYPOINT/SHELL/ADD/COPY/VOLUME/HEALTHCHECK */
    struct cb_node *child; /* ONBUILD's nested instruction, else NULL */
    cb_heredoc_t *heredocs; /* RUN/COPY/ADD (or ONBUILD of one) in shell form */
    size_t nheredocs;
    int start_line; /* 1-based, first line of the instruction */
    int end_line;   /* last line, continuation and heredoc bodies included */
    int col;        /* 1-based column of the keyword */
} cb_node_t;

typedef struct cb_ast {
    char *file;      /* name used in diagnostics */
    char escape;     /* '\\' or '`' */
    char *syntax;    /* "# syntax=" directive value, NULL when absent */
    char *check;     /* "# check=" directive value, NULL when absent */
    cb_node_t **nodes;
    size_t nnodes;
    cb_strv_t warnings; /* "FILE:LINE: message" lines; the parser never prints */
    int start_line, end_line;
} cb_ast_t;

/* Parses a whole Containerfile held in memory (need not be NUL-terminated).
 * name is used in error locations. Errors are CB_ERR_SYNTAX with file:line:col. */
int cb_parse_buffer(const char *name, const char *data, size_t len, cb_ast_t **out,
                    cb_error_t **err);
/* Reads and parses a file; a missing file, a directory or an empty file is a
 * clear error naming the path. */
int cb_parse_file(const char *path, cb_ast_t **out, cb_error_t **err);
void cb_ast_free(cb_ast_t *ast);
void cb_node_free(cb_node_t *node);

/* BuildKit's Node.Dump() of one instruction, without the surrounding
 * parentheses; caller frees. */
char *cb_node_dump(const cb_node_t *node);
/* One "(dump)\n" line per instruction, exactly a corpus `result` file. */
char *cb_ast_dump(const cb_ast_t *ast);

#endif
