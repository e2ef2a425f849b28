#include "parser/line_parsers.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "parser/exec_json.h"
#include "parser/text.h"

typedef struct lp {
    const char *file;
    const cb_logical_line_t *ll;
    char escape;
} lp_t;

typedef int (*line_fn)(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                       cb_error_t **err);

__attribute__((format(printf, 4, 5))) static int err_at(const lp_t *c, const char *p,
                                                        cb_error_t **err, const char *fmt, ...) {
    int line, col;
    cb_logical_line_pos(c->ll, (size_t)(p - c->ll->text.data), &line, &col);
    va_list ap;
    va_start(ap, fmt);
    cb_error_vnew(err, CB_ERR_SYNTAX, 0, fmt, ap);
    va_end(ap);
    return cb_error_locate(err, c->file, line, col);
}

/* Go's reWhitespace `[\t\v\f\r ]`: narrower than unicode.IsSpace. */
static bool re_ws(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f' || ch == '\r';
}

static void add_arg(cb_node_t *node, const char *s, size_t n) {
    cb_strv_take(&node->args, cb_xstrndup(s, n));
}

const char *cb_extract_flags(const char *s, const char *end, char escape, cb_strv_t *flags) {
    enum { SPACES, WORD, QUOTE } phase = SPACES;
    cb_autobuf cb_buf_t word = CB_BUF_INIT;
    uint32_t quote = 0;
    bool blank_ok = false;
    const char *p = s;
    for (;;) {
        uint32_t ch = 0;
        size_t w = 0;
        bool at_end = p >= end;
        if (!at_end)
            w = cb_utf8_decode(p, (size_t)(end - p), &ch);
        if (phase == SPACES) {
            if (at_end)
                return end;
            if (cb_go_isspace(ch)) {
                p += w;
                continue;
            }
            if (ch != '-' || p + 1 == end || p[1] != '-')
                return p;
            phase = WORD;
        }
        if (at_end) {
            if (strcmp(cb_buf_str(&word), "--") != 0 && (blank_ok || word.len > 0))
                cb_strv_push(flags, cb_buf_str(&word));
            return end;
        }
        if (phase == WORD) {
            if (cb_go_isspace(ch)) {
                phase = SPACES;
                if (strcmp(cb_buf_str(&word), "--") == 0)
                    return p;
                if (blank_ok || word.len > 0)
                    cb_strv_push(flags, cb_buf_str(&word));
                cb_buf_truncate(&word, 0);
                blank_ok = false;
                p += w;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = QUOTE;
                p += w;
                continue;
            }
        } else if (ch == quote) { /* QUOTE */
            phase = WORD;
            p += w;
            continue;
        }
        if (ch == (uint32_t)escape) {
            p += w;
            if (p == end) { /* a trailing escape character is dropped */
                phase = WORD;
                continue;
            }
            w = cb_utf8_decode(p, (size_t)(end - p), &ch);
        }
        cb_buf_add(&word, p, w);
        p += w;
    }
}

void cb_parse_words(const char *s, const char *end, char escape, cb_strv_t *words,
                    const char ***starts) {
    enum { SPACES, WORD, QUOTE } phase = SPACES;
    cb_autobuf cb_buf_t word = CB_BUF_INIT;
    uint32_t quote = 0, ch = 0;
    bool blank_ok = false;
    const char *start = s;
    size_t w = 0, nstarts = 0;
#define PUSH_WORD()                                                                 \
    do {                                                                            \
        if (starts) {                                                               \
            if ((nstarts & (nstarts - 1)) == 0)                                     \
                *starts = cb_xrealloc(*starts, (nstarts ? 2 * nstarts : 1) *         \
                                                   sizeof **starts);                \
            (*starts)[nstarts++] = start;                                           \
        }                                                                           \
        cb_strv_take(words, cb_xstrndup(cb_buf_str(&word), word.len));              \
    } while (0)
    if (starts)
        *starts = NULL;
    for (const char *p = s; p <= end; p += w) {
        if (p != end)
            w = cb_utf8_decode(p, (size_t)(end - p), &ch);
        if (phase == SPACES) {
            if (p == end)
                break;
            if (cb_go_isspace(ch))
                continue;
            phase = WORD;
            start = p;
        }
        if (p == end) {
            if (blank_ok || word.len > 0)
                PUSH_WORD();
            break;
        }
        if (phase == WORD) {
            if (cb_go_isspace(ch)) {
                phase = SPACES;
                if (blank_ok || word.len > 0)
                    PUSH_WORD();
                cb_buf_truncate(&word, 0);
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = QUOTE;
            }
            if (ch == (uint32_t)escape) {
                if (p + w == end)
                    continue; /* a trailing escape character is dropped */
                /* unquoted, the escape character stays with what it escapes */
                cb_utf8_put(&word, ch);
                p += w;
                w = cb_utf8_decode(p, (size_t)(end - p), &ch);
            }
            cb_utf8_put(&word, ch);
            continue;
        }
        /* QUOTE: single quotes escape nothing */
        if (ch == quote)
            phase = WORD;
        if (ch == (uint32_t)escape && quote != '\'') {
            if (p + w == end) {
                phase = WORD;
                continue;
            }
            p += w;
            cb_utf8_put(&word, ch);
            w = cb_utf8_decode(p, (size_t)(end - p), &ch);
        }
        cb_utf8_put(&word, ch);
    }
#undef PUSH_WORD
}

static int parse_string(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                        cb_error_t **err) {
    if (s < e)
        add_arg(node, s, (size_t)(e - s));
    return 0;
}

static int whitespace_list(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                           cb_error_t **err) {
    if (s == e)
        return 0;
    const char *w = s;
    for (const char *p = s; p < e;) {
        if (!re_ws(*p)) {
            p++;
            continue;
        }
        add_arg(node, w, (size_t)(p - w));
        while (p < e && re_ws(*p))
            p++;
        w = p;
    }
    add_arg(node, w, (size_t)(e - w));
    return 0;
}

/* 1: exec form stored, 0: not JSON, <0: error. */
static int try_json(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                    cb_error_t **err) {
    int r = cb_exec_json(s, (size_t)(e - s), &node->args, &node->arg_lens, err);
    if (r < 0) {
        int line, col;
        cb_logical_line_pos(c->ll, (size_t)(s - c->ll->text.data), &line, &col);
        return cb_error_locate(err, c->file, line, col);
    }
    node->json = r == 1;
    return r;
}

static int maybe_json(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                      cb_error_t **err) {
    if (s == e)
        return 0;
    int r = try_json(c, node, s, e, err);
    if (r < 0)
        return r;
    if (r == 0)
        add_arg(node, s, (size_t)(e - s));
    return 0;
}

static int maybe_json_list(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                           cb_error_t **err) {
    int r = try_json(c, node, s, e, err);
    if (r < 0)
        return r;
    return r == 0 ? whitespace_list(c, node, s, e, err) : 0;
}

static int health(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                  cb_error_t **err) {
    const char *sep = s;
    while (sep < e) {
        uint32_t r;
        size_t w = cb_utf8_decode(sep, (size_t)(e - sep), &r);
        if (cb_go_isspace(r))
            break;
        sep += w;
    }
    if (sep == s)
        return 0;
    add_arg(node, s, (size_t)(sep - s));
    const char *next = sep + cb_go_space_prefix(sep, (size_t)(e - sep));
    return maybe_json(c, node, next, e, err);
}

static int name_or_name_val(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                            cb_error_t **err) {
    cb_parse_words(s, e, c->escape, &node->args, NULL);
    return 0;
}

static int name_val(const lp_t *c, cb_node_t *node, const char *s, const char *e, const char *key,
                    cb_error_t **err) {
    cb_autostrv cb_strv_t words = CB_STRV_INIT;
    cb_autofree const char **starts = NULL;
    cb_parse_words(s, e, c->escape, &words, &starts);
    if (words.len == 0)
        return 0;
    if (strchr(words.items[0], '=') == NULL) {
        /* the legacy form: KEY name value with spaces */
        const char *p = s;
        while (p < e && !re_ws(*p))
            p++;
        if (p == e)
            return err_at(c, s, err,
                          "%s must have two arguments: expected %s NAME=VALUE or %s NAME VALUE, "
                          "found only \"%.*s\"",
                          key, key, key, (int)(e - s), s);
        add_arg(node, s, (size_t)(p - s));
        while (p < e && re_ws(*p))
            p++;
        add_arg(node, p, (size_t)(e - p));
        add_arg(node, "", 0);
        return 0;
    }
    for (size_t i = 0; i < words.len; i++) {
        const char *eq = strchr(words.items[i], '=');
        if (eq == NULL) {
            cb_autobuf cb_buf_t q = CB_BUF_INIT;
            cb_go_quote(&q, words.items[i], strlen(words.items[i]));
            return err_at(c, starts[i], err,
                          "Syntax error - can't find = in %s. Must be of the form: name=value",
                          cb_buf_str(&q));
        }
        add_arg(node, words.items[i], (size_t)(eq - words.items[i]));
        cb_strv_push(&node->args, eq + 1);
        add_arg(node, "=", 1);
    }
    return 0;
}

static int parse_env(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                     cb_error_t **err) {
    return name_val(c, node, s, e, "ENV", err);
}

static int parse_label(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                       cb_error_t **err) {
    return name_val(c, node, s, e, "LABEL", err);
}

static int sub_command(const lp_t *c, cb_node_t *node, const char *s, const char *e,
                       cb_error_t **err) {
    if (s == e)
        return 0;
    size_t off = (size_t)(s - c->ll->text.data);
    if (cb_line_parse(c->file, c->ll, off, (size_t)(e - s), c->escape, &node->child, err) < 0)
        return -1;
    const char *kw = node->child->keyword;
    if (strcmp(kw, "onbuild") == 0)
        return err_at(c, s, err, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (strcmp(kw, "from") == 0 || strcmp(kw, "maintainer") == 0)
        return err_at(c, s, err, "%s isn't allowed as an ONBUILD trigger",
                      strcmp(kw, "from") == 0 ? "FROM" : "MAINTAINER");
    return 0;
}

static const struct keyword {
    const char *name;
    line_fn parse;
} keywords[] = {
    {"add", maybe_json_list},   {"arg", name_or_name_val},
    {"cmd", maybe_json},        {"copy", maybe_json_list},
    {"entrypoint", maybe_json}, {"env", parse_env},
    {"expose", whitespace_list}, {"from", whitespace_list},
    {"healthcheck", health},    {"label", parse_label},
    {"maintainer", parse_string}, {"onbuild", sub_command},
    {"run", maybe_json},        {"shell", maybe_json},
    {"stopsignal", parse_string}, {"user", parse_string},
    {"volume", maybe_json_list}, {"workdir", parse_string},
};

static const struct keyword *lookup(const char *s, size_t n) {
    for (size_t i = 0; i < CB_ARRAY_LEN(keywords); i++)
        if (strlen(keywords[i].name) == n && strncasecmp(keywords[i].name, s, n) == 0)
            return &keywords[i];
    return NULL;
}

bool cb_is_instruction(const char *keyword) {
    return lookup(keyword, strlen(keyword)) != NULL;
}

static int unknown_instruction(const lp_t *c, const char *s, size_t n, cb_error_t **err) {
    if (n == 0)
        return err_at(c, s, err, "expected an instruction, found only a line continuation");
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < CB_ARRAY_LEN(keywords); i++) {
        size_t d = n > 15 ? 99 : cb_edit_distance(s, n, keywords[i].name);
        if (d < best_d) {
            best_d = d;
            best = keywords[i].name;
        }
    }
    cb_autobuf cb_buf_t q = CB_BUF_INIT;
    cb_go_quote(&q, s, n < 64 ? n : 64);
    if (best) {
        char up[16] = {0};
        for (size_t i = 0; best[i] && i < sizeof up - 1; i++)
            up[i] = (char)(best[i] - 'a' + 'A');
        return err_at(c, s, err, "unknown instruction %s (did you mean %s?)", cb_buf_str(&q), up);
    }
    return err_at(c, s, err,
                  "unknown instruction %s: expected one of ADD, ARG, CMD, COPY, ENTRYPOINT, ENV, "
                  "EXPOSE, FROM, HEALTHCHECK, LABEL, MAINTAINER, ONBUILD, RUN, SHELL, STOPSIGNAL, "
                  "USER, VOLUME, WORKDIR",
                  cb_buf_str(&q));
}

int cb_line_parse(const char *file, const cb_logical_line_t *ll, size_t off, size_t n, char escape,
                  cb_node_t **out, cb_error_t **err) {
    lp_t c = {file, ll, escape};
    const char *line = ll->text.data + off;
    size_t lead = cb_go_space_prefix(line, n);
    const char *s = line + lead;
    const char *e = line + cb_go_trim_right_len(line, n);
    if (e < s)
        e = s;
    const char *kw_end = s;
    while (kw_end < e && !re_ws(*kw_end))
        kw_end++;
    const struct keyword *kw = lookup(s, (size_t)(kw_end - s));
    if (kw == NULL)
        return unknown_instruction(&c, s, (size_t)(kw_end - s), err);
    const char *rest = kw_end;
    while (rest < e && re_ws(*rest))
        rest++;

    cb_node_t *node = cb_xcalloc(1, sizeof *node);
    node->keyword = cb_xstrdup(kw->name);
    node->original = cb_xstrndup(line, n);
    int kw_line;
    cb_logical_line_pos(ll, (size_t)(s - ll->text.data), &kw_line, &node->col);
    node->start_line = ll->start_line;
    node->end_line = ll->end_line;
    const char *args = cb_extract_flags(rest, e, escape, &node->flags);
    args += cb_go_space_prefix(args, (size_t)(e - args));
    if (kw->parse(&c, node, args, e, err) < 0) {
        cb_node_free(node);
        return -1;
    }
    *out = node;
    return 0;
}
