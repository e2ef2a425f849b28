/* A port of the parts of BuildKit's shell lexer (frontend/dockerfile/shell)
 * that heredoc detection runs: word splitting with an empty environment in
 * which unset variables are kept as written. Expansion proper lives in
 * expand*.c; this file only has to split words exactly as BuildKit does,
 * quirks included (a `${v:-w}` in a word drops what came before it in that
 * word, because upstream's nested lexing resets the shared word buffer). */
#include <string.h>

#include "parser/heredoc.h"
#include "parser/text.h"

#define SH_EOF (-1)

typedef struct sh {
    const char *s;
    size_t n, pos;
    bool raw_quotes;
    bool raw_escapes;
    cb_buf_t wbuf; /* shared by nested lexing, as upstream's wordsBuffer */
    size_t wstart;
    cb_error_t **err;
} sh_t;

typedef struct sh_words {
    cb_strv_t list;
    size_t *offs;
    bool in_word;
} sh_words_t;

static int32_t sh_peek(const sh_t *L) {
    if (L->pos >= L->n)
        return SH_EOF;
    uint32_t r;
    cb_utf8_decode(L->s + L->pos, L->n - L->pos, &r);
    return (int32_t)r;
}

static int32_t sh_next(sh_t *L) {
    if (L->pos >= L->n)
        return SH_EOF;
    uint32_t r;
    L->pos += cb_utf8_decode(L->s + L->pos, L->n - L->pos, &r);
    return (int32_t)r;
}

static void put(cb_buf_t *b, int32_t ch) {
    cb_utf8_put(b, ch == SH_EOF ? CB_RUNE_ERROR : (uint32_t)ch);
}

static void words_push(sh_t *L, sh_words_t *w) {
    size_t i = w->list.len;
    cb_strv_take(&w->list, cb_xstrndup(cb_buf_str(&L->wbuf), L->wbuf.len));
    if ((i & (i - 1)) == 0) /* capacity doubles at powers of two */
        w->offs = cb_xrealloc(w->offs, (i ? 2 * i : 1) * sizeof *w->offs);
    w->offs[i] = L->wstart;
    cb_buf_truncate(&L->wbuf, 0);
    w->in_word = false;
}

static void add_raw(sh_t *L, sh_words_t *w, const char *s, size_t n, size_t at) {
    if (!w->in_word)
        L->wstart = at;
    cb_buf_add(&L->wbuf, s, n);
    w->in_word = true;
}

static void add_char(sh_t *L, sh_words_t *w, int32_t ch, size_t at) {
    if (cb_go_isspace((uint32_t)ch)) {
        if (w->in_word && L->wbuf.len > 0)
            words_push(L, w);
        return;
    }
    if (!w->in_word)
        L->wstart = at;
    put(&L->wbuf, ch);
    w->in_word = true;
}

static void add_string(sh_t *L, sh_words_t *w, const char *s, size_t n, size_t at) {
    for (size_t i = 0; i < n;) {
        uint32_t r;
        i += cb_utf8_decode(s + i, n - i, &r);
        add_char(L, w, (int32_t)r, at);
    }
}

static void flush(sh_t *L, sh_words_t *w) {
    if (L->wbuf.len > 0)
        words_push(L, w);
}

static int stop_on(sh_t *L, int32_t stop, bool raw_escapes, cb_buf_t *result, sh_words_t *out);

static bool is_special_param(int32_t ch) {
    return ch > 0 && ch < 0x80 && strchr("@*#?-$!0", (int)ch) != NULL;
}

static void process_name(sh_t *L, cb_buf_t *name) {
    size_t start = name->len;
    int32_t ch;
    while ((ch = sh_peek(L)) != SH_EOF) {
        if (name->len == start && ch >= '0' && ch <= '9') {
            while ((ch = sh_peek(L)) >= '0' && ch <= '9')
                put(name, sh_next(L));
            return;
        }
        if (name->len == start && is_special_param(ch)) {
            put(name, sh_next(L));
            return;
        }
        if (!cb_go_isletter_or_digit((uint32_t)ch) && ch != '_')
            return;
        put(name, sh_next(L));
    }
}

static int lex_error(sh_t *L, const char *msg) {
    return cb_error_kind_set(L->err, CB_ERR_SYNTAX, "%s", msg);
}

/* Nested lexing up to `stop`; a failure at end of input is reported as the
 * missing delimiter, as upstream does. */
static int nested(sh_t *L, int32_t stop, bool raw_escapes, cb_buf_t *out, const char *missing) {
    if (stop_on(L, stop, raw_escapes, out, NULL) < 0) {
        if (sh_peek(L) == SH_EOF) {
            cb_error_freep(L->err);
            return lex_error(L, missing);
        }
        return -1;
    }
    return 0;
}

/* With every variable unset and kept, a substitution yields its own text. */
static int dollar(sh_t *L, cb_buf_t *tmp) {
    sh_next(L);
    if (sh_peek(L) != '{') {
        cb_buf_putc(tmp, '$');
        process_name(L, tmp);
        return 0;
    }
    sh_next(L);
    int32_t p = sh_peek(L);
    if (p == SH_EOF)
        return lex_error(L, "syntax error: missing '}'");
    if (p == '{' || p == '}' || p == ':')
        return lex_error(L, "syntax error: bad substitution");
    cb_autobuf cb_buf_t name = CB_BUF_INIT;
    cb_autobuf cb_buf_t chs = CB_BUF_INIT;
    cb_autobuf cb_buf_t word = CB_BUF_INIT;
    process_name(L, &name);
    int32_t ch = sh_next(L);
    put(&chs, ch);
    bool null_is_unset = false;
    switch (ch) {
    case '}':
        cb_buf_printf(tmp, "${%s}", cb_buf_str(&name));
        return 0;
    case ':':
        null_is_unset = true;
        ch = sh_next(L);
        put(&chs, ch);
        /* fallthrough */
    case '+':
    case '-':
    case '?':
    case '#':
    case '%': {
        bool raw = ch == '#' || ch == '%';
        if (null_is_unset && raw)
            return lex_error(L, "unsupported modifier in substitution");
        if (nested(L, '}', raw, &word, "syntax error: missing '}'") < 0)
            return -1;
        cb_buf_printf(tmp, "${%s%s%s}", cb_buf_str(&name), cb_buf_str(&chs), cb_buf_str(&word));
        return 0;
    }
    case '/': {
        if (sh_peek(L) == '/')
            sh_next(L); /* upstream's literal drops the second slash too */
        cb_autobuf cb_buf_t repl = CB_BUF_INIT;
        if (nested(L, '/', true, &word, "syntax error: missing '/' in ${}") < 0 ||
            nested(L, '}', true, &repl, "syntax error: missing '}'") < 0)
            return -1;
        cb_buf_printf(tmp, "${%s/%s/%s}", cb_buf_str(&name), cb_buf_str(&word), cb_buf_str(&repl));
        return 0;
    }
    default:
        return lex_error(L, "unsupported modifier in substitution");
    }
}

static int single_quote(sh_t *L, cb_buf_t *tmp) {
    int32_t ch = sh_next(L);
    if (L->raw_quotes)
        put(tmp, ch);
    for (;;) {
        ch = sh_next(L);
        if (ch == SH_EOF)
            return lex_error(L, "unexpected end of statement while looking for matching single-quote");
        if (ch == '\'') {
            if (L->raw_quotes)
                put(tmp, ch);
            return 0;
        }
        put(tmp, ch);
    }
}

static int double_quote(sh_t *L, cb_buf_t *tmp) {
    int32_t ch = sh_next(L);
    if (L->raw_quotes)
        put(tmp, ch);
    for (;;) {
        int32_t p = sh_peek(L);
        if (p == SH_EOF)
            return lex_error(L, "unexpected end of statement while looking for matching double-quote");
        if (p == '"') {
            ch = sh_next(L);
            if (L->raw_quotes)
                put(tmp, ch);
            return 0;
        }
        if (p == '$') {
            if (dollar(L, tmp) < 0)
                return -1;
            continue;
        }
        ch = sh_next(L);
        if (ch == '\\') {
            if (L->raw_escapes)
                put(tmp, ch);
            p = sh_peek(L);
            if (p == SH_EOF)
                continue;
            if (p == '"' || p == '$' || p == '\\')
                ch = sh_next(L);
        }
        put(tmp, ch);
    }
}

static void possible_heredoc(sh_t *L, cb_buf_t *tmp) {
    sh_next(L);
    if (sh_peek(L) != '<') {
        cb_buf_putc(tmp, '<');
        return;
    }
    sh_next(L);
    cb_buf_puts(tmp, "<<");
    int32_t p;
    while ((p = sh_peek(L)) == ' ' || p == '\t' || p == '\r')
        put(tmp, sh_next(L));
}

static int stop_on(sh_t *L, int32_t stop, bool raw_escapes, cb_buf_t *result, sh_words_t *out) {
    sh_words_t local = {CB_STRV_INIT, NULL, false};
    sh_words_t *w = out ? out : &local;
    bool saved = L->raw_escapes;
    int rc = 0;
    int32_t ch;
    cb_buf_truncate(&L->wbuf, 0);
    w->in_word = false;
    L->raw_escapes = raw_escapes;
    while ((ch = sh_peek(L)) != SH_EOF) {
        size_t at = L->pos;
        if (stop != SH_EOF && ch == stop) {
            sh_next(L);
            flush(L, w);
            goto out;
        }
        if (ch == '$' || ch == '<' || ch == '\'' || ch == '"') {
            cb_buf_t tmp = CB_BUF_INIT;
            if (ch == '$')
                rc = dollar(L, &tmp);
            else if (ch == '<')
                possible_heredoc(L, &tmp);
            else if (ch == '\'')
                rc = single_quote(L, &tmp);
            else
                rc = double_quote(L, &tmp);
            if (rc == 0) {
                cb_buf_add(result, cb_buf_str(&tmp), tmp.len);
                if (ch == '$')
                    add_string(L, w, cb_buf_str(&tmp), tmp.len, at);
                else
                    add_raw(L, w, cb_buf_str(&tmp), tmp.len, at);
            }
            cb_buf_free(&tmp);
            if (rc < 0)
                goto out;
            continue;
        }
        ch = sh_next(L);
        if (ch == '\\') {
            if (L->raw_escapes) {
                add_raw(L, w, "\\", 1, at);
                put(result, ch);
            }
            ch = sh_next(L);
            if (ch == SH_EOF)
                break;
            if (!w->in_word)
                L->wstart = at;
            put(&L->wbuf, ch);
            w->in_word = true;
        } else {
            add_char(L, w, ch, at);
        }
        put(result, ch);
    }
    if (stop != SH_EOF) {
        char msg[80];
        snprintf(msg, sizeof msg, "unexpected end of statement while looking for matching %c",
                 (char)stop);
        rc = lex_error(L, msg);
        goto out;
    }
    flush(L, w);
out:
    L->raw_escapes = saved;
    cb_strv_free(&local.list);
    free(local.offs);
    return rc;
}

int cb_shell_words(const char *s, size_t n, bool raw_quotes, bool raw_escapes, cb_strv_t *words,
                   size_t **offs, cb_error_t **err) {
    sh_t L = {s, n, 0, raw_quotes, raw_escapes, CB_BUF_INIT, 0, err};
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        L.pos = 3; /* Go's text/scanner skips a leading byte order mark */
    sh_words_t w = {CB_STRV_INIT, NULL, false};
    cb_buf_t result = CB_BUF_INIT;
    int rc = stop_on(&L, SH_EOF, raw_escapes, &result, &w);
    cb_buf_free(&result);
    cb_buf_free(&L.wbuf);
    if (rc < 0) {
        cb_strv_free(&w.list);
        free(w.offs);
        return rc;
    }
    for (size_t i = 0; i < w.list.len; i++)
        cb_strv_take(words, cb_steal_pointer(&w.list.items[i]));
    free(w.list.items);
    if (offs)
        *offs = w.offs;
    else
        free(w.offs);
    return 0;
}
