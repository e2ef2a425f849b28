/* Builds syntax trees by hand for unit tests, so the instruction, graph and
 * eval layers are tested without the lexer. */
#ifndef CB_TEST_AST_BUILDER_H
#define CB_TEST_AST_BUILDER_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "parser/ast.h"

/* Splits "a\nb" into a vector; "" gives an empty vector. */
static inline void tb_split(cb_strv_t *v, const char *s) {
    if (s == NULL || *s == '\0')
        return;
    for (;;) {
        const char *nl = strchr(s, '\n');
        if (nl == NULL) {
            cb_strv_push(v, s);
            return;
        }
        cb_strv_take(v, cb_xstrndup(s, (size_t)(nl - s)));
        s = nl + 1;
    }
}

/* keyword lower case; flags and args newline-separated. */
static inline cb_node_t *tb_node(const char *kw, int line, const char *flags, const char *args, bool json) {
    cb_node_t *n = cb_xcalloc(1, sizeof *n);
    n->keyword = cb_xstrdup(kw);
    n->original = cb_xasprintf("%s %s", kw, args ? args : "");
    for (char *p = n->original; *p; p++)
        if (*p == '\n')
            *p = ' ';
    tb_split(&n->flags, flags);
    tb_split(&n->args, args);
    n->json = json;
    n->start_line = n->end_line = line;
    n->col = 1;
    return n;
}

static inline void tb_node_free(cb_node_t *n) {
    if (n == NULL)
        return;
    free(n->keyword);
    free(n->original);
    cb_strv_free(&n->flags);
    cb_strv_free(&n->args);
    tb_node_free(n->child);
    for (size_t i = 0; i < n->nheredocs; i++) {
        free(n->heredocs[i].name);
        free(n->heredocs[i].content);
    }
    free(n->heredocs);
    free(n);
}

typedef struct tb_ast {
    cb_ast_t ast;
    size_t cap;
} tb_ast_t;

static inline void tb_init(tb_ast_t *t) {
    memset(t, 0, sizeof *t);
    t->ast.file = cb_xstrdup("Containerfile");
    t->ast.escape = '\\';
    t->cap = 64;
    t->ast.nodes = cb_xcalloc(t->cap, sizeof *t->ast.nodes);
}

/* Appends an instruction on the next line. */
static inline cb_node_t *tb_add(tb_ast_t *t, const char *kw, const char *flags, const char *args) {
    cb_node_t *n = tb_node(kw, (int)t->ast.nnodes + 1, flags, args, false);
    if (t->ast.nnodes == t->cap) { /* the tests of the bounds build long files */
        t->cap *= 2;
        t->ast.nodes = cb_xrealloc(t->ast.nodes, t->cap * sizeof *t->ast.nodes);
    }
    t->ast.nodes[t->ast.nnodes++] = n;
    return n;
}

static inline void tb_free(tb_ast_t *t) {
    for (size_t i = 0; i < t->ast.nnodes; i++)
        tb_node_free(t->ast.nodes[i]);
    free(t->ast.nodes);
    free(t->ast.file);
    cb_strv_free(&t->ast.warnings);
}

#endif
