#include "parser/heredoc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static bool re_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static size_t count_quotes(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\'' || *s == '"';
    return n;
}

void cb_heredoc_markers_free(cb_heredoc_marker_t *m, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(m[i].doc.name);
        free(m[i].doc.content);
    }
    free(m);
}

/* `^(\d*)<<(-?)\s*([^<]*)$` on one word; false when it is not a marker. */
static bool match_marker(const char *w, unsigned int *fd, bool *chomp, const char **rest) {
    unsigned long v = 0;
    const char *p = w;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v > UINT_MAX / 10 ? UINT_MAX : v * 10 + (unsigned long)(*p - '0');
    if (p[0] != '<' || p[1] != '<')
        return false;
    p += 2;
    *chomp = *p == '-';
    if (*chomp)
        p++;
    while (re_space(*p))
        p++;
    if (*p == '\0' || strchr(p, '<'))
        return false;
    *fd = v > UINT_MAX ? UINT_MAX : (unsigned int)v;
    *rest = p;
    return true;
}

int cb_heredoc_markers(const char *line, size_t n, cb_heredoc_marker_t **out, size_t *count,
                       size_t *err_off, cb_error_t **err) {
    cb_autostrv cb_strv_t words = CB_STRV_INIT;
    cb_autofree size_t *offs = NULL;
    cb_autoerr cb_error_t *lex_err = NULL;
    *out = NULL;
    *count = 0;
    /* upstream ignores a line that does not lex: it simply has no heredocs */
    if (cb_shell_words(line, n, true, true, &words, &offs, &lex_err) < 0)
        return 0;
    for (size_t i = 0; i < words.len; i++) {
        unsigned int fd;
        bool chomp;
        const char *rest;
        if (!match_marker(words.items[i], &fd, &chomp, &rest))
            continue;
        cb_autostrv cb_strv_t plain = CB_STRV_INIT;
        cb_autostrv cb_strv_t raw = CB_STRV_INIT;
        if (cb_shell_words(rest, strlen(rest), false, false, &plain, NULL, err) < 0 ||
            (plain.len == 1 && cb_shell_words(rest, strlen(rest), true, false, &raw, NULL, err) < 0)) {
            *err_off = offs[i];
            cb_heredoc_markers_free(*out, *count);
            *out = NULL;
            *count = 0;
            return cb_error_wrap(err, "invalid heredoc %s", words.items[i]);
        }
        if (plain.len != 1)
            continue;
        if (raw.len != 1) {
            *err_off = offs[i];
            cb_heredoc_markers_free(*out, *count);
            *out = NULL;
            *count = 0;
            return cb_error_kind_set(err, CB_ERR_SYNTAX,
                                     "internal lexing of heredoc produced inconsistent results: %s",
                                     rest);
        }
        if ((*count & (*count - 1)) == 0) /* capacity doubles at powers of two */
            *out = cb_xrealloc(*out, (*count ? 2 * *count : 1) * sizeof **out);
        cb_heredoc_marker_t *m = &(*out)[(*count)++];
        memset(m, 0, sizeof *m);
        m->doc.expand = count_quotes(plain.items[0]) == count_quotes(raw.items[0]);
        m->doc.name = cb_steal_pointer(&plain.items[0]);
        m->doc.chomp = chomp;
        m->doc.fd = fd;
        m->off = offs[i];
    }
    return 0;
}
