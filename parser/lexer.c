#include "parser/lexer.h"

#include <string.h>

#include "parser/text.h"

void cb_lexer_init(cb_lexer_t *lx, const char *file, const char *data, size_t len,
                   cb_strv_t *warnings) {
    memset(lx, 0, sizeof *lx);
    lx->file = file;
    lx->data = data;
    lx->len = len;
    lx->warnings = warnings;
    cb_directives_init(&lx->dir);
}

void cb_lexer_free(cb_lexer_t *lx) {
    cb_directives_free(&lx->dir);
}

void cb_logical_line_free(cb_logical_line_t *ll) {
    cb_buf_free(&ll->text);
    free(ll->pieces);
    memset(ll, 0, sizeof *ll);
}

static void add_piece(cb_logical_line_t *ll, int line, int col) {
    if (ll->npieces == ll->cap) {
        ll->cap = ll->cap ? ll->cap * 2 : 8;
        ll->pieces = cb_xrealloc(ll->pieces, ll->cap * sizeof *ll->pieces);
    }
    ll->pieces[ll->npieces++] = (cb_lex_piece_t){ll->text.len, line, col};
}

void cb_logical_line_pos(const cb_logical_line_t *ll, size_t off, int *line, int *col) {
    *line = ll->start_line;
    *col = 1;
    for (size_t i = 0; i < ll->npieces && ll->pieces[i].off <= off; i++) {
        *line = ll->pieces[i].line;
        *col = ll->pieces[i].col + (int)(off - ll->pieces[i].off);
    }
}

/* The next physical line: *s and *n exclude the line ending ("\n", "\r\n",
 * any trailing run of CR and LF as Go's TrimRight does); *raw_n includes it.
 * *bom is the number of BOM bytes skipped on the first line. */
static int next_physical(cb_lexer_t *lx, const char **s, size_t *n, size_t *raw_n, size_t *bom,
                         cb_error_t **err) {
    if (lx->pos >= lx->len)
        return 0;
    const char *p = lx->data + lx->pos;
    size_t avail = lx->len - lx->pos;
    const char *nl = memchr(p, '\n', avail);
    size_t len = nl ? (size_t)(nl - p) + 1 : avail;
    lx->line++;
    size_t content = nl ? len - 1 : len;
    if (content > CB_LEX_MAX_LINE)
        return cb_error_at(err, lx->file, lx->line, CB_LEX_MAX_LINE + 1,
                           "line is longer than the maximum of %d bytes (%zu bytes)",
                           CB_LEX_MAX_LINE, content);
    const char *nul = memchr(p, '\0', len);
    if (nul)
        return cb_error_at(err, lx->file, lx->line, (int)(nul - p) + 1,
                           "unexpected NUL byte (is this a binary file?)");
    lx->pos += len;
    *bom = 0;
    if (lx->line == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
        len -= 3;
        *bom = 3;
    }
    *raw_n = len;
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    *s = p;
    *n = len;
    return 1;
}

static bool is_comment(const char *s, size_t n) {
    size_t i = cb_go_space_prefix(s, n);
    return i < n && s[i] == '#';
}

/* BuildKit's continuation regexp `([^E])E[ \t]*$|^E[ \t]*$` for escape E:
 * the escape character, then only blanks and tabs, and not itself escaped. */
static bool trim_continuation(const char *s, size_t *n, char esc) {
    size_t i = *n;
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
        i--;
    if (i == 0 || s[i - 1] != esc)
        return false;
    size_t k = i - 1;
    if (k > 0 && s[k - 1] == esc)
        return false;
    *n = k;
    return true;
}

int cb_lexer_next(cb_lexer_t *lx, cb_logical_line_t *ll, cb_error_t **err) {
    const char *s;
    size_t n, raw_n, bom;
    bool more;
    int r;
    for (;;) {
        if ((r = next_physical(lx, &s, &n, &raw_n, &bom, err)) <= 0)
            return r;
        size_t lead = cb_go_space_prefix(s, n);
        s += lead;
        n -= lead;
        int col = (int)lead + 1;
        if (cb_directives_feed(&lx->dir, s, n, lx->file, lx->line, col, err) < 0)
            return -1;
        if (n > 0 && s[0] == '#')
            n = 0; /* comments, directives included */
        more = trim_continuation(s, &n, lx->dir.escape);
        if (!more && n == 0)
            continue;
        cb_buf_truncate(&ll->text, 0);
        ll->npieces = 0;
        ll->start_line = lx->line;
        add_piece(ll, lx->line, col);
        cb_buf_add(&ll->text, s, n);
        break;
    }
    /* Comment lines and blank lines inside a continuation are skipped;
     * leading whitespace of the joined lines is kept. */
    bool empty_continuation = false;
    while (more) {
        if ((r = next_physical(lx, &s, &n, &raw_n, &bom, err)) < 0)
            return r;
        if (r == 0)
            break; /* a continuation at end of file is allowed */
        if (is_comment(s, n))
            continue;
        if (cb_go_space_prefix(s, n) == n) {
            empty_continuation = true;
            continue;
        }
        more = trim_continuation(s, &n, lx->dir.escape);
        add_piece(ll, lx->line, 1);
        cb_buf_add(&ll->text, s, n);
    }
    ll->end_line = lx->line;
    if (empty_continuation && lx->warnings)
        cb_strv_take(lx->warnings,
                     cb_xasprintf("%s:%d: empty continuation line found in: %s (empty "
                                  "continuation lines will become errors in a future release)",
                                  lx->file, lx->line, cb_buf_str(&ll->text)));
    return 1;
}

int cb_lexer_heredoc_body(cb_lexer_t *lx, const char *name, bool chomp, cb_buf_t *body,
                          cb_error_t **err) {
    const char *s;
    size_t n, raw_n, bom;
    size_t name_len = strlen(name);
    int r;
    while ((r = next_physical(lx, &s, &n, &raw_n, &bom, err)) > 0) {
        size_t tabs = 0;
        if (chomp)
            while (tabs < n && s[tabs] == '\t')
                tabs++;
        if (n - tabs == name_len && memcmp(s + tabs, name, name_len) == 0)
            return 1;
        cb_buf_add(body, s + tabs, raw_n - tabs);
    }
    return r;
}
