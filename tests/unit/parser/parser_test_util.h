/* Helpers shared by the parser tests. */
#ifndef CB_TEST_PARSER_UTIL_H
#define CB_TEST_PARSER_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/util.h"
#include "parser/ast.h"

static inline const char *tp_testdata(void) {
    const char *d = getenv("CB_TESTDATA");
    return d && *d ? d : CB_TESTDATA;
}

/* Whole file, byte for byte; NULL when it cannot be read. */
static inline char *tp_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    cb_buf_t b = CB_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cb_buf_add(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return cb_buf_steal(&b);
}

/* Parses a string; fails the test on error. */
static inline cb_ast_t *tp_parse(const char *text) {
    cb_ast_t *ast = NULL;
    cb_error_t *err = NULL;
    if (cb_parse_buffer("Containerfile", text, strlen(text), &ast, &err) < 0) {
        char *m = cb_error_message(err);
        print_error("unexpected parse error: %s:%d:%d: %s\n", err->file ? err->file : "?", err->line,
                    err->col, m);
        free(m);
        cb_error_free(err);
        fail();
    }
    return ast;
}

/* The dump of a string; fails the test on error. Caller frees. */
static inline char *tp_dump(const char *text) {
    cb_ast_t *ast = tp_parse(text);
    char *d = cb_ast_dump(ast);
    cb_ast_free(ast);
    return d;
}

/* Parses a string that must fail; returns the error (caller frees). */
static inline cb_error_t *tp_fail(const char *text, size_t len) {
    cb_ast_t *ast = NULL;
    cb_error_t *err = NULL;
    int r = cb_parse_buffer("Containerfile", text, len, &ast, &err);
    if (r >= 0) {
        char *d = cb_ast_dump(ast);
        print_error("expected a parse error, got:\n%s", d);
        free(d);
        cb_ast_free(ast);
        fail();
    }
    assert_non_null(err);
    return err;
}

/* Asserts that the text fails at line:col with a message containing part. */
static inline void tp_assert_error(const char *text, int line, int col, const char *part) {
    cb_error_t *err = tp_fail(text, strlen(text));
    const cb_error_t *root = cb_error_root(err);
    char *m = cb_error_message(err);
    const cb_error_t *loc = err;
    while (loc && loc->line == 0)
        loc = loc->cause;
    if (loc == NULL || loc->line != line || loc->col != col || strstr(m, part) == NULL ||
        root->kind != CB_ERR_SYNTAX) {
        print_error("want %d:%d \"%s\", got %d:%d \"%s\" (kind %d)\n", line, col, part,
                    loc ? loc->line : 0, loc ? loc->col : 0, m, root->kind);
        free(m);
        cb_error_free(err);
        fail();
    }
    free(m);
    cb_error_free(err);
}

#endif
