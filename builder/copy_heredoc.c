/* Heredoc sources: "COPY <<EOF /dst" writes the body as a file (0644) named
 * after the delimiter, or as dst itself when dst is not a directory. */
#include <string.h>

#include "builder/copy_private.h"
#include "common/util.h"
#include "parser/expand.h"

const cb_heredoc_t *copy_heredoc_of(const cb_instr_copy_t *ins, const char *src) {
    if (!cb_str_has_prefix(src, "<<"))
        return NULL;
    const char *p = src + 2;
    if (*p == '-')
        p++;
    size_t n = strlen(p);
    if (n >= 2 && (p[0] == '\'' || p[0] == '"') && p[n - 1] == p[0]) {
        p++;
        n -= 2;
    }
    const cb_node_t *node = ins->base.node;
    for (size_t i = 0; node && i < node->nheredocs; i++) {
        const char *name = node->heredocs[i].name;
        if (strlen(name) == n && strncmp(name, p, n) == 0)
            return &node->heredocs[i];
    }
    return NULL;
}

/* BuildKit expands heredoc bodies with its lexer's SkipProcessQuotes: quote
 * characters are plain text there. Escaping them (and leaving existing
 * escapes alone) gives the same result from our ordinary word expansion. */
static char *escape_quotes(const char *s) {
    cb_buf_t b = CB_BUF_INIT;
    for (; *s; s++) {
        if (*s == '\\' && s[1]) {
            cb_buf_putc(&b, *s++);
            cb_buf_putc(&b, *s);
            continue;
        }
        if (*s == '\'' || *s == '"')
            cb_buf_putc(&b, '\\');
        cb_buf_putc(&b, *s);
    }
    return cb_buf_steal(&b);
}

int copy_add_heredoc(copy_ctx_t *c, const cb_heredoc_t *doc, cb_error_t **err) {
    const char *content = doc->content ? doc->content : "";
    cb_autofree char *expanded = NULL;
    /* parser/eval.c has already expanded the bodies of an evaluated
     * instruction (ins->heredocs, one per node heredoc); expanding again
     * would expand values that contain '$' a second time. */
    const cb_node_t *node = c->ins->base.node;
    size_t i = node ? (size_t)(doc - node->heredocs) : 0;
    if (c->ins->base.expanded && node && i < c->ins->heredocs.len) {
        content = c->ins->heredocs.items[i];
    } else if (doc->expand) {
        cb_autofree char *escaped = escape_quotes(content);
        cb_expand_opts_t opts = {.escape = '\\'};
        if (cb_expand_word(escaped, c->env->env, &opts, &expanded, err) < 0)
            return cb_error_wrap(err, "%s: heredoc <<%s", c->cmd, doc->name);
        content = expanded;
    }
    cb_autofree char *name = copy_dest_file_name(c, doc->name);
    if (copy_dest_parents(c, name, err) < 0)
        return -1;
    cb_layer_attrs_t a;
    copy_attrs(c, S_IFREG | 0644, &a);
    return cb_layer_add_file_data(c->w, name, content, strlen(content), &a, err);
}
