/* The parser's driver: logical lines from the lexer, one node per line from
 * the line parsers, heredoc bodies read after the line that names them. */
#include "parser/ast.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "parser/heredoc.h"
#include "parser/lexer.h"
#include "parser/line_parsers.h"
#include "parser/text.h"

void cb_node_free(cb_node_t *node) {
    if (node == NULL)
        return;
    free(node->keyword);
    free(node->original);
    cb_strv_free(&node->flags);
    cb_strv_free(&node->args);
    free(node->arg_lens);
    cb_node_free(node->child);
    for (size_t i = 0; i < node->nheredocs; i++) {
        free(node->heredocs[i].name);
        free(node->heredocs[i].content);
    }
    free(node->heredocs);
    free(node);
}

void cb_ast_free(cb_ast_t *ast) {
    if (ast == NULL)
        return;
    for (size_t i = 0; i < ast->nnodes; i++)
        cb_node_free(ast->nodes[i]);
    free(ast->nodes);
    free(ast->file);
    free(ast->syntax);
    free(ast->check);
    cb_strv_free(&ast->warnings);
    free(ast);
}

static void ast_freep(cb_ast_t **p) {
    cb_ast_free(*p);
}

static void node_freep(cb_node_t **p) {
    cb_node_free(*p);
}

/* RUN, COPY and ADD in shell form, also as an ONBUILD trigger. */
static bool can_contain_heredoc(const cb_node_t *node) {
    if (strcmp(node->keyword, "onbuild") == 0 && node->child)
        node = node->child;
    if (node->json)
        return false;
    return strcmp(node->keyword, "run") == 0 || strcmp(node->keyword, "copy") == 0 ||
           strcmp(node->keyword, "add") == 0;
}

static int read_heredocs(cb_lexer_t *lx, const cb_logical_line_t *ll, cb_node_t *node,
                         cb_error_t **err) {
    cb_heredoc_marker_t *m = NULL;
    size_t count = 0, err_off = 0;
    int line, col;
    if (cb_heredoc_markers(ll->text.data, ll->text.len, &m, &count, &err_off, err) < 0) {
        cb_logical_line_pos(ll, err_off, &line, &col);
        return cb_error_locate(err, lx->file, line, col);
    }
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        cb_buf_t body = CB_BUF_INIT;
        rc = cb_lexer_heredoc_body(lx, m[i].doc.name, m[i].doc.chomp, &body, err);
        m[i].doc.content = cb_buf_steal(&body);
        if (rc < 0)
            break;
        if (rc == 0) {
            cb_logical_line_pos(ll, m[i].off, &line, &col);
            cb_autobuf cb_buf_t q = CB_BUF_INIT;
            cb_go_quote(&q, m[i].doc.name, strlen(m[i].doc.name));
            rc = cb_error_at(err, lx->file, line, col,
                             "unterminated heredoc: expected a line %s before the end of the file",
                             cb_buf_str(&q));
            break;
        }
        rc = 0;
    }
    if (rc < 0) {
        cb_heredoc_markers_free(m, count);
        return rc;
    }
    node->heredocs = cb_xcalloc(count, sizeof *node->heredocs);
    for (size_t i = 0; i < count; i++)
        node->heredocs[i] = m[i].doc;
    node->nheredocs = count;
    free(m);
    return 0;
}

int cb_parse_buffer(const char *name, const char *data, size_t len, cb_ast_t **out,
                    cb_error_t **err) {
    __attribute__((cleanup(ast_freep))) cb_ast_t *ast = cb_xcalloc(1, sizeof *ast);
    cb_lexer_t lx;
    cb_logical_line_t ll = {0};
    size_t cap = 0;
    int rc;
    ast->file = cb_xstrdup(name ? name : "Containerfile");
    cb_lexer_init(&lx, ast->file, data ? data : "", data ? len : 0, &ast->warnings);
    while ((rc = cb_lexer_next(&lx, &ll, err)) > 0) {
        __attribute__((cleanup(node_freep))) cb_node_t *node = NULL;
        if ((rc = cb_line_parse(ast->file, &ll, 0, ll.text.len, lx.dir.escape, &node, err)) < 0)
            break;
        if (can_contain_heredoc(node) && memmem(ll.text.data, ll.text.len, "<<", 2) &&
            (rc = read_heredocs(&lx, &ll, node, err)) < 0)
            break;
        node->end_line = lx.line;
        if (node->child)
            node->child->end_line = lx.line;
        if (ast->nnodes == cap) {
            cap = cap ? cap * 2 : 16;
            ast->nodes = cb_xrealloc(ast->nodes, cap * sizeof *ast->nodes);
        }
        ast->nodes[ast->nnodes++] = cb_steal_pointer(&node);
    }
    if (rc == 0 && ast->nnodes == 0)
        rc = cb_error_at(err, ast->file, lx.line > 0 ? lx.line : 1, 0, "file with no instructions");
    if (rc == 0) {
        ast->escape = lx.dir.escape;
        ast->syntax = cb_steal_pointer(&lx.dir.syntax);
        ast->check = cb_steal_pointer(&lx.dir.check);
        ast->start_line = ast->nodes[0]->start_line;
        ast->end_line = ast->nodes[ast->nnodes - 1]->end_line;
        *out = cb_steal_pointer(&ast);
    }
    cb_logical_line_free(&ll);
    cb_lexer_free(&lx);
    return rc < 0 ? rc : 0;
}

int cb_parse_file(const char *path, cb_ast_t **out, cb_error_t **err) {
    cb_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "cannot open Containerfile %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cb_error_set(err, errno, "cannot stat %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s is a directory, not a Containerfile", path);
    cb_autobuf cb_buf_t data = CB_BUF_INIT;
    cb_buf_reserve(&data, S_ISREG(st.st_mode) ? (size_t)st.st_size : 4096);
    for (;;) {
        cb_buf_reserve(&data, 65536);
        ssize_t r = read(fd, data.data + data.len, data.cap - data.len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return cb_error_set(err, errno, "cannot read %s: %s", path, strerror(errno));
        if (r == 0)
            break;
        data.len += (size_t)r;
    }
    return cb_parse_buffer(path, cb_buf_str(&data), data.len, out, err);
}

char *cb_node_dump(const cb_node_t *node) {
    cb_buf_t b = CB_BUF_INIT;
    cb_buf_puts(&b, node->keyword);
    if (node->flags.len > 0) {
        cb_buf_puts(&b, " [");
        for (size_t i = 0; i < node->flags.len; i++) {
            if (i)
                cb_buf_putc(&b, ' ');
            cb_go_quote(&b, node->flags.items[i], strlen(node->flags.items[i]));
        }
        cb_buf_putc(&b, ']');
    }
    if (node->child) {
        cb_autofree char *inner = cb_node_dump(node->child);
        cb_buf_printf(&b, " (%s)", inner);
    }
    for (size_t i = 0; i < node->args.len; i++) {
        const char *a = node->args.items[i];
        cb_buf_putc(&b, ' ');
        cb_go_quote(&b, a, node->arg_lens ? node->arg_lens[i] : strlen(a));
    }
    return cb_buf_steal(&b);
}

char *cb_ast_dump(const cb_ast_t *ast) {
    cb_buf_t b = CB_BUF_INIT;
    for (size_t i = 0; i < ast->nnodes; i++) {
        cb_autofree char *d = cb_node_dump(ast->nodes[i]);
        cb_buf_putc(&b, '(');
        cb_buf_puts(&b, d);
        cb_buf_puts(&b, ")\n");
    }
    return cb_buf_steal(&b);
}
