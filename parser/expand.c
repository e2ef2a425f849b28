/* The shell-word lexer: quotes, escapes and $ expansion, following BuildKit's
 * frontend/dockerfile/shell lexer rune by rune (see expand.h). Only the
 * pattern operators live elsewhere (expand_pattern.c).
 */
#include <stdint.h>
#include <string.h>

#include "parser/expand.h"
#include "parser/expand_internal.h"

typedef struct lexer {
    const char *s;
    size_t len;
    size_t pos;
    int32_t escape;
    /* Keep escape characters in the output: BuildKit reads the pattern of
     * ${v#p}, ${v%p} and ${v/p/r} this way so the pattern can tell `\*` from `*`. */
    bool raw_escapes;
    const cb_env_t *env;
    const cb_expand_opts_t *opts;
    int depth; /* of nested ${...} */
    cb_expand_budget_t budget;
} lexer_t;

/* Go's growable stacks make BuildKit's recursion unbounded; ours is not, so
 * absurd nesting is refused instead of overflowing the stack. */
#define MAX_NESTING 256

/* Word splitting state (BuildKit's wordsStruct): `in_word` can be true while
 * `word` is empty (after ""), which matters for where a space ends a word. */
typedef struct words {
    cb_strv_t *out;
    cb_buf_t word;
    bool in_word;
} words_t;

static int32_t peek_w(const lexer_t *lx, size_t *width) {
    if (lx->pos >= lx->len) {
        *width = 0;
        return CB_RUNE_EOF;
    }
    int32_t cp;
    *width = cb_rune_decode(lx->s + lx->pos, lx->len - lx->pos, &cp);
    return cp;
}

static int32_t peek(const lexer_t *lx) {
    size_t w;
    return peek_w(lx, &w);
}

static int32_t next(lexer_t *lx) {
    size_t w;
    int32_t cp = peek_w(lx, &w);
    lx->pos += w;
    return cp;
}

static void words_raw_char(words_t *w, int32_t cp) {
    if (!w)
        return;
    cb_rune_put(&w->word, cp);
    w->in_word = true;
}

static void words_push(words_t *w) {
    cb_strv_take(w->out, cb_buf_steal(&w->word));
    w->in_word = false;
}

static void words_char(words_t *w, int32_t cp) {
    if (!w)
        return;
    if (cb_rune_is_space(cp)) {
        if (w->in_word && w->word.len != 0)
            words_push(w);
    } else {
        words_raw_char(w, cp);
    }
}

static void words_string(words_t *w, const char *s, size_t len) {
    if (!w)
        return;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        i += cb_rune_decode(s + i, len - i, &cp);
        words_char(w, cp);
    }
}

static void words_raw_string(words_t *w, const char *s, size_t len) {
    if (!w)
        return;
    cb_buf_add(&w->word, s, len);
    w->in_word = true;
}

static int syntax(cb_error_t **err, const char *msg) {
    return cb_error_kind_set(err, CB_ERR_SYNTAX, "%s", msg);
}

static const char *lookup(const lexer_t *lx, const char *name) {
    const char *v = cb_env_get(lx->env, name);
    if (lx->opts && lx->opts->on_lookup)
        lx->opts->on_lookup(lx->opts->ctx, name, v != NULL);
    return v;
}

static int process_stop_on(lexer_t *lx, int32_t stop, bool raw_escapes, cb_buf_t *out,
                           words_t *words, cb_error_t **err);
static int process_brace(lexer_t *lx, cb_buf_t *out, cb_error_t **err);

/* A name after $ or ${: a run of digits (positional parameter), one special
 * parameter character, or letters, digits and '_'. Empty when none. */
static void read_name(lexer_t *lx, cb_buf_t *name) {
    int32_t ch = peek(lx);
    if (cb_rune_is_digit(ch)) {
        while (cb_rune_is_digit(peek(lx)))
            cb_rune_put(name, next(lx));
        return;
    }
    if (ch > 0 && ch < 0x80 && strchr("@*#?-$!0", (int)ch)) {
        cb_rune_put(name, next(lx));
        return;
    }
    while (cb_rune_is_name(peek(lx)))
        cb_rune_put(name, next(lx));
}

/* The word after an operator, up to the closing brace. */
static int read_operand(lexer_t *lx, int32_t stop, bool raw, cb_buf_t *word, cb_error_t **err) {
    if (process_stop_on(lx, stop, raw, word, NULL, err) == 0)
        return 0;
    if (peek(lx) == CB_RUNE_EOF) {
        cb_error_free(*err);
        *err = NULL;
        return syntax(err, stop == '}' ? "syntax error: missing '}'"
                                       : "syntax error: missing '/' in ${}");
    }
    return -1;
}

/* Go's %q of the first bytes of s, for naming a construct in a message. */
static char *quote_n(const char *s, size_t len);

/* The construct that began at input offset `start`, as the user wrote it. */
static int too_big(const lexer_t *lx, size_t start, cb_error_t **err) {
    size_t n = lx->pos - start;
    cb_autofree char *q = quote_n(lx->s + start, n > 60 ? 60 : n);
    return cb_error_kind_set(err, CB_ERR_INPUT, "expansion of %s%s exceeds %zu bytes", q,
                             n > 60 ? "..." : "", lx->budget.max_value);
}

int cb_expand_charge(cb_expand_budget_t *b, size_t n, cb_error_t **err) {
    if (n <= b->work) {
        b->work -= n;
        return 0;
    }
    b->work = 0;
    if (b->shared)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "expansions exceed %zu bytes of intermediate values and pattern "
                                 "matching in all (the limit of one Containerfile)",
                                 (size_t)CB_EXPAND_MAX_TOTAL_WORK);
    return cb_error_kind_set(err, CB_ERR_INPUT,
                             "expansion exceeds %zu bytes of intermediate values and pattern "
                             "matching in all",
                             (size_t)CB_EXPAND_MAX_WORK);
}

static int apply_modifier(lexer_t *lx, const char *name, cb_buf_t *op, bool null_is_unset,
                          int32_t ch, cb_buf_t *out, cb_error_t **err) {
    cb_autobuf cb_buf_t word = CB_BUF_INIT;
    /* BuildKit reads the operand before looking the variable up, so errors in
     * an unused default still fail. */
    if (read_operand(lx, '}', ch == '#' || ch == '%', &word, err) < 0)
        return -1;
    const char *value = lookup(lx, name);
    bool unset = value == NULL || (null_is_unset && value[0] == '\0');
    switch (ch) {
    case '-':
        cb_buf_puts(out, unset ? cb_buf_str(&word) : value);
        return 0;
    case '+':
        if (!unset)
            cb_buf_puts(out, cb_buf_str(&word));
        return 0;
    case '?':
        if (value == NULL)
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: %s", name,
                                     word.len ? cb_buf_str(&word) : "is not allowed to be unset");
        if (unset)
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: %s", name,
                                     word.len ? cb_buf_str(&word) : "is not allowed to be empty");
        cb_buf_puts(out, value);
        return 0;
    case '#':
    case '%': {
        const char *pat = cb_buf_str(&word);
        bool longest = pat[0] == (char)ch;
        if (longest)
            pat++;
        if (ch == '%')
            return cb_expand_trim_suffix(value ? value : "", pat, longest, &lx->budget, out, err);
        return cb_expand_trim_prefix(value ? value : "", pat, longest, &lx->budget, out, err);
    }
    default:
        return cb_error_kind_set(err, CB_ERR_SYNTAX, "unsupported modifier (%s) in substitution",
                                 cb_buf_str(op));
    }
}

static int process_replace(lexer_t *lx, const char *name, cb_buf_t *out, cb_error_t **err) {
    bool all = peek(lx) == '/';
    if (all)
        next(lx);
    cb_autobuf cb_buf_t pattern = CB_BUF_INIT;
    cb_autobuf cb_buf_t replacement = CB_BUF_INIT;
    if (read_operand(lx, '/', true, &pattern, err) < 0 ||
        read_operand(lx, '}', true, &replacement, err) < 0)
        return -1;
    const char *value = lookup(lx, name);
    return cb_expand_replace(name, value ? value : "", cb_buf_str(&pattern),
                             cb_buf_str(&replacement), all, &lx->budget, out, err);
}

/* At a '$': appends the expansion to out. */
static int process_dollar(lexer_t *lx, cb_buf_t *out, cb_error_t **err) {
    next(lx);
    cb_autobuf cb_buf_t name = CB_BUF_INIT;
    if (peek(lx) != '{') {
        read_name(lx, &name);
        if (name.len == 0) {
            cb_buf_putc(out, '$');
            return 0;
        }
        const char *v = lookup(lx, cb_buf_str(&name));
        cb_buf_puts(out, v ? v : "");
        return 0;
    }
    next(lx);
    if (lx->depth >= MAX_NESTING)
        return cb_error_kind_set(err, CB_ERR_SYNTAX, "${...} nested more than %d deep",
                                 MAX_NESTING);
    lx->depth++;
    int r = process_brace(lx, out, err);
    lx->depth--;
    return r;
}

/* After "${": the name, the operator and its operands, up to the '}'. */
static int process_brace(lexer_t *lx, cb_buf_t *out, cb_error_t **err) {
    cb_autobuf cb_buf_t name = CB_BUF_INIT;
    switch (peek(lx)) {
    case CB_RUNE_EOF:
        return syntax(err, "syntax error: missing '}'");
    case '{':
    case '}':
    case ':':
        return syntax(err, "syntax error: bad substitution");
    }
    read_name(lx, &name);
    cb_autobuf cb_buf_t op = CB_BUF_INIT;
    int32_t ch = next(lx);
    if (ch == CB_RUNE_EOF)
        return syntax(err, "syntax error: missing '}'");
    cb_rune_put(&op, ch);
    switch (ch) {
    case '}': {
        const char *v = lookup(lx, cb_buf_str(&name));
        cb_buf_puts(out, v ? v : "");
        return 0;
    }
    case ':':
        ch = next(lx);
        if (ch == CB_RUNE_EOF)
            return syntax(err, "syntax error: missing '}'");
        cb_rune_put(&op, ch);
        return apply_modifier(lx, cb_buf_str(&name), &op, true, ch, out, err);
    case '+':
    case '-':
    case '?':
    case '#':
    case '%':
        return apply_modifier(lx, cb_buf_str(&name), &op, false, ch, out, err);
    case '/':
        return process_replace(lx, cb_buf_str(&name), out, err);
    default:
        return cb_error_kind_set(err, CB_ERR_SYNTAX, "unsupported modifier (%s) in substitution",
                                 cb_buf_str(&op));
    }
}

/* Everything in '...' is literal; there is no escape. */
static int process_single_quote(lexer_t *lx, cb_buf_t *out, cb_error_t **err) {
    next(lx);
    for (;;) {
        int32_t ch = next(lx);
        if (ch == CB_RUNE_EOF)
            return syntax(err, "unexpected end of statement while looking for matching "
                               "single-quote");
        if (ch == '\'')
            return 0;
        cb_rune_put(out, ch);
    }
}

/* In "...", $ expands and the escape character escapes only ", $ and itself. */
static int process_double_quote(lexer_t *lx, cb_buf_t *out, cb_error_t **err) {
    next(lx);
    for (;;) {
        int32_t ch = peek(lx);
        if (ch == CB_RUNE_EOF)
            return syntax(err, "unexpected end of statement while looking for matching "
                               "double-quote");
        if (ch == '"') {
            next(lx);
            return 0;
        }
        if (ch == '$') {
            if (process_dollar(lx, out, err) < 0)
                return -1;
            continue;
        }
        ch = next(lx);
        if (ch == lx->escape) {
            if (lx->raw_escapes)
                cb_rune_put(out, ch);
            int32_t nx = peek(lx);
            if (nx == CB_RUNE_EOF)
                continue; /* reports the missing quote on the next turn */
            if (nx == '"' || nx == '$' || nx == lx->escape)
                ch = next(lx);
        }
        cb_rune_put(out, ch);
    }
}

/* Reads until `stop` (consumed) or, when stop is EOF, the end of input.
 * The expansion goes to out; with words, also the split words. */
static int process_stop_on(lexer_t *lx, int32_t stop, bool raw_escapes, cb_buf_t *out,
                           words_t *words, cb_error_t **err) {
    bool saved_raw = lx->raw_escapes;
    lx->raw_escapes = raw_escapes;
    int r = 0;
    for (;;) {
        int32_t ch = peek(lx);
        if (ch == CB_RUNE_EOF)
            break;
        if (stop != CB_RUNE_EOF && ch == stop) {
            next(lx);
            goto out;
        }
        if (ch == '$' || ch == '\'' || ch == '"') {
            size_t start = lx->pos;
            cb_buf_t tmp = CB_BUF_INIT;
            if (ch == '$')
                r = process_dollar(lx, &tmp, err);
            else if (ch == '\'')
                r = process_single_quote(lx, &tmp, err);
            else
                r = process_double_quote(lx, &tmp, err);
            /* Every level a value passes through copies it once more. */
            if (r == 0 && out->len + tmp.len > lx->budget.max_value)
                r = too_big(lx, start, err);
            if (r == 0)
                r = cb_expand_charge(&lx->budget, tmp.len, err);
            if (r == 0) {
                cb_buf_add(out, tmp.data ? tmp.data : "", tmp.len);
                if (ch == '$')
                    words_string(words, cb_buf_str(&tmp), tmp.len);
                else
                    words_raw_string(words, cb_buf_str(&tmp), tmp.len);
            }
            cb_buf_free(&tmp);
            if (r < 0)
                goto out;
            continue;
        }
        ch = next(lx);
        if (ch == lx->escape) {
            if (lx->raw_escapes) {
                words_raw_char(words, ch);
                cb_rune_put(out, ch);
            }
            ch = next(lx);
            if (ch == CB_RUNE_EOF) /* a trailing escape is dropped */
                break;
            words_raw_char(words, ch);
        } else {
            words_char(words, ch);
        }
        cb_rune_put(out, ch);
    }
    if (stop != CB_RUNE_EOF) {
        cb_buf_t c = CB_BUF_INIT;
        cb_rune_put(&c, stop);
        r = cb_error_kind_set(err, CB_ERR_SYNTAX,
                              "unexpected end of statement while looking for matching %s",
                              cb_buf_str(&c));
        cb_buf_free(&c);
    }
out:
    lx->raw_escapes = saved_raw;
    return r;
}

/* Go's %q, enough for error messages: quotes, backslashes and controls escaped. */
static char *quote_n(const char *s, size_t len) {
    cb_buf_t b = CB_BUF_INIT;
    cb_buf_putc(&b, '"');
    const unsigned char *end = (const unsigned char *)s + len;
    for (const unsigned char *p = (const unsigned char *)s; p < end; p++) {
        if (*p == '"' || *p == '\\')
            cb_buf_printf(&b, "\\%c", *p);
        else if (*p == '\n')
            cb_buf_puts(&b, "\\n");
        else if (*p == '\t')
            cb_buf_puts(&b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            cb_buf_printf(&b, "\\x%02x", *p);
        else
            cb_buf_putc(&b, (char)*p);
    }
    cb_buf_putc(&b, '"');
    return cb_buf_steal(&b);
}

static char *quote(const char *s) {
    return quote_n(s, strlen(s));
}

static int process(const char *word, const cb_env_t *env, const cb_expand_opts_t *opts,
                   cb_buf_t *out, cb_strv_t *words_out, cb_error_t **err) {
    static const cb_env_t empty = CB_ENV_INIT;
    lexer_t lx = {
        .s = word,
        .len = strlen(word),
        .escape = opts && opts->escape ? (unsigned char)opts->escape : '\\',
        .env = env ? env : &empty,
        .opts = opts,
        .budget = {.max_value = CB_EXPAND_MAX_VALUE, .work = CB_EXPAND_MAX_WORK},
    };
    size_t shared = opts && opts->work ? *opts->work : SIZE_MAX;
    if (shared < lx.budget.work) {
        lx.budget.work = shared;
        lx.budget.shared = true;
    }
    size_t work_at_start = lx.budget.work;
    /* A long literal word is the user's own text, not an expansion's growth. */
    if (lx.len > lx.budget.max_value)
        lx.budget.max_value = lx.len;
    if (lx.len >= 3 && memcmp(word, "\xEF\xBB\xBF", 3) == 0)
        lx.pos = 3; /* Go's text/scanner skips a leading byte order mark */
    cb_strv_t split = CB_STRV_INIT;
    words_t w = {.out = &split, .word = CB_BUF_INIT, .in_word = false};
    int r = process_stop_on(&lx, CB_RUNE_EOF, false, out, words_out ? &w : NULL, err);
    if (r == 0 && out->len > lx.budget.max_value) /* text after the last ${...} */
        r = too_big(&lx, 0, err);
    if (opts && opts->work)
        *opts->work -= work_at_start - lx.budget.work;
    if (r == 0 && words_out) {
        if (w.word.len > 0)
            words_push(&w);
        for (size_t i = 0; i < split.len; i++)
            cb_strv_push(words_out, split.items[i]);
    }
    cb_buf_free(&w.word);
    cb_strv_free(&split);
    if (r < 0) {
        cb_autofree char *q = quote(word);
        return cb_error_wrap(err, "failed to process %s", q);
    }
    return 0;
}

int cb_expand_word(const char *word, const cb_env_t *env, const cb_expand_opts_t *opts,
                   char **out, cb_error_t **err) {
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    if (process(word, env, opts, &b, NULL, err) < 0)
        return -1;
    *out = cb_buf_steal(&b);
    return 0;
}

int cb_expand_words(const char *text, const cb_env_t *env, const cb_expand_opts_t *opts,
                    cb_strv_t *out, cb_error_t **err) {
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    return process(text, env, opts, &b, out, err);
}
