/* ${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r}.
 *
 * BuildKit turns the pattern into a Go regular expression (`*` -> `.*` or
 * `.*?`, `?` -> `.`, everything else literal; no bracket expressions) and uses
 * leftmost-first matching. We match the same three token kinds directly,
 * choosing among a star's alternatives in the regex engine's order of
 * preference (per-star tables, so cost stays stars x value length), so the
 * chosen match is the one Go picks. Like
 * Go's `.`, neither `*` nor `?` matches a newline. The suffix operators match a
 * reversed pattern against the reversed value, as BuildKit does, because a
 * leftmost search cannot find the shortest rightmost match.
 */
#include <string.h>

#include "parser/expand_internal.h"

enum tok_kind { TOK_STAR, TOK_ANY, TOK_LIT };

typedef struct tok {
    enum tok_kind kind;
    int32_t cp;
} tok_t;

typedef struct pattern {
    tok_t *toks;
    size_t n;
} pattern_t;

static void pattern_free(pattern_t *p) {
    free(p->toks);
    p->toks = NULL;
}

/* Compiles the runes of a raw pattern (escape characters still present). */
static int pattern_compile(const int32_t *cp, size_t n, const char *shown, pattern_t *out,
                           cb_error_t **err) {
    size_t i = 0;
    if (n > 0 && cp[0] == 0xFEFF) /* Go's text/scanner drops a leading BOM */
        i = 1;
    out->toks = cb_xcalloc(n + 1, sizeof *out->toks);
    out->n = 0;
    for (; i < n; i++) {
        tok_t t = {TOK_LIT, cp[i]};
        if (cp[i] == '*') {
            t.kind = TOK_STAR;
        } else if (cp[i] == '?') {
            t.kind = TOK_ANY;
        } else if (cp[i] == '\\') {
            /* `\}` and `\/` only stopped the lexer; the backslash is not
             * part of the pattern. */
            if (i + 1 < n && (cp[i + 1] == '}' || cp[i + 1] == '/'))
                continue;
            int32_t next = i + 1 < n ? cp[i + 1] : CB_RUNE_EOF;
            if (next != '*' && next != '?' && next != '\\') {
                pattern_free(out);
                cb_buf_t esc = CB_BUF_INIT;
                if (next != CB_RUNE_EOF)
                    cb_rune_put(&esc, next);
                int r = cb_error_kind_set(err, CB_ERR_SYNTAX,
                                          "invalid pattern (%s) in substitution: invalid "
                                          "escape '\\%s'",
                                          shown, cb_buf_str(&esc));
                cb_buf_free(&esc);
                return r;
            }
            t.cp = next;
            i++;
        }
        out->toks[out->n++] = t;
    }
    return 0;
}

typedef struct matcher {
    const pattern_t *pat;
    const int32_t *s;
    size_t n;
    bool greedy;
    size_t *star_index; /* token -> its number among the stars */
    ssize_t **best;     /* per star, lazily: preferred match end for each start */
    size_t nstars;
} matcher_t;

static ssize_t match_at(matcher_t *m, size_t ti, size_t pos);

/* For star token ti, the preferred end from every start position. The star
 * may take s[pos..k) for any k up to the next newline; greedy prefers the
 * largest k from which the rest matches, lazy the smallest. One sweep from
 * the right finds either, so a pattern costs O(stars x value length). */
static ssize_t *star_table(matcher_t *m, size_t ti) {
    ssize_t **slot = &m->best[m->star_index[ti]];
    if (*slot)
        return *slot;
    ssize_t *rest = cb_xcalloc(m->n + 1, sizeof *rest);
    for (size_t k = 0; k <= m->n; k++)
        rest[k] = match_at(m, ti + 1, k);
    ssize_t *best = cb_xcalloc(m->n + 1, sizeof *best);
    ssize_t pick = -1;
    for (size_t pos = m->n + 1; pos-- > 0;) {
        if (pos == m->n || m->s[pos] == '\n')
            pick = -1; /* the star cannot reach past this newline */
        if (rest[pos] >= 0 && (!m->greedy || pick < 0))
            pick = (ssize_t)pos;
        best[pos] = pick >= 0 ? rest[pick] : -1;
    }
    free(rest);
    *slot = best;
    return best;
}

/* End of the preferred match of toks[ti..] starting at pos, or -1. Runs of
 * single-rune tokens are walked in a loop. */
static ssize_t match_at(matcher_t *m, size_t ti, size_t pos) {
    for (; ti < m->pat->n && m->pat->toks[ti].kind != TOK_STAR; ti++, pos++) {
        const tok_t *t = &m->pat->toks[ti];
        if (pos >= m->n || m->s[pos] == '\n' || (t->kind == TOK_LIT && m->s[pos] != t->cp))
            return -1;
    }
    if (ti == m->pat->n)
        return (ssize_t)pos;
    return star_table(m, ti)[pos];
}

/* Tables of (stars x value length) entries, 16 bytes a cell while built;
 * refuse what would not fit. */
#define MAX_CELLS ((size_t)1 << 22)

/* What a search costs at most: the literal run before the first star is
 * walked from one start (anchored) or from every start; each star's table
 * walks the run after it from every start. */
static size_t match_cost(const pattern_t *pat, size_t n, bool anchored) {
    size_t i = 0;
    while (i < pat->n && pat->toks[i].kind != TOK_STAR)
        i++;
    size_t cost = anchored ? i + 1 : (n + 1) * (i + 1);
    for (size_t run = 0; i < pat->n; i++) {
        run++;
        if (i + 1 == pat->n || pat->toks[i + 1].kind == TOK_STAR) {
            cost += (n + 1) * run;
            run = 0;
        }
    }
    return cost;
}

static int matcher_init(matcher_t *m, const pattern_t *pat, const int32_t *s, size_t n,
                        bool greedy, bool anchored, cb_expand_budget_t *b, cb_error_t **err) {
    *m = (matcher_t){.pat = pat, .s = s, .n = n, .greedy = greedy};
    size_t nstars = 0;
    for (size_t i = 0; i < pat->n; i++)
        nstars += pat->toks[i].kind == TOK_STAR;
    if (nstars > 0 && nstars * (n + 1) > MAX_CELLS)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "pattern with %zu wildcards against a %zu-character value is "
                                 "too expensive to match",
                                 nstars, n);
    if (cb_expand_charge(b, match_cost(pat, n, anchored), err) < 0)
        return cb_error_wrap(err, "matching a %zu-character pattern against a %zu-character value",
                             pat->n, n);
    m->star_index = cb_xcalloc(pat->n + 1, sizeof *m->star_index);
    for (size_t i = 0; i < pat->n; i++)
        if (pat->toks[i].kind == TOK_STAR)
            m->star_index[i] = m->nstars++;
    m->best = cb_xcalloc(m->nstars + 1, sizeof *m->best);
    return 0;
}

static void matcher_free(matcher_t *m) {
    for (size_t i = 0; i < m->nstars; i++)
        free(m->best[i]);
    free(m->best);
    free(m->star_index);
}

/* Leftmost match starting at or after `from`: its start in *start, end returned. */
static ssize_t match_search(matcher_t *m, size_t from, size_t *start) {
    for (size_t a = from; a <= m->n; a++) {
        ssize_t e = match_at(m, 0, a);
        if (e >= 0) {
            *start = a;
            return e;
        }
    }
    return -1;
}

static int compile_string(const char *pattern, pattern_t *out, cb_error_t **err) {
    cb_runes_t pr;
    cb_runes_decode(&pr, pattern);
    int r = pattern_compile(pr.cp, pr.n, pattern, out, err);
    cb_runes_free(&pr);
    return r;
}

int cb_expand_trim_prefix(const char *value, const char *pattern, bool longest,
                          cb_expand_budget_t *b, cb_buf_t *out, cb_error_t **err) {
    pattern_t pat;
    if (compile_string(pattern, &pat, err) < 0)
        return -1;
    cb_runes_t v;
    cb_runes_decode(&v, value);
    matcher_t m;
    int r = matcher_init(&m, &pat, v.cp, v.n, longest, true, b, err);
    if (r == 0) {
        ssize_t end = match_at(&m, 0, 0);
        cb_buf_puts(out, end >= 0 ? value + v.off[end] : value);
        matcher_free(&m);
    }
    cb_runes_free(&v);
    pattern_free(&pat);
    return r;
}

int cb_expand_trim_suffix(const char *value, const char *pattern, bool longest,
                          cb_expand_budget_t *b, cb_buf_t *out, cb_error_t **err) {
    cb_runes_t pr, v;
    cb_runes_decode(&pr, pattern);
    /* Reverse the pattern but keep each `\x` pair in order, so it still
     * escapes the same character. */
    int32_t *rev = cb_xcalloc(pr.n + 1, sizeof *rev);
    for (size_t i = 0; i < pr.n;) {
        size_t o = pr.n - 1 - i;
        if (pr.cp[i] == '\\' && i + 1 < pr.n) {
            rev[o - 1] = pr.cp[i];
            rev[o] = pr.cp[i + 1];
            i += 2;
        } else {
            rev[o] = pr.cp[i];
            i++;
        }
    }
    pattern_t pat;
    int r = pattern_compile(rev, pr.n, pattern, &pat, err);
    free(rev);
    cb_runes_free(&pr);
    if (r < 0)
        return -1;

    cb_runes_decode(&v, value);
    int32_t *rv = cb_xcalloc(v.n + 1, sizeof *rv);
    for (size_t i = 0; i < v.n; i++)
        rv[i] = v.cp[v.n - 1 - i];
    matcher_t m;
    r = matcher_init(&m, &pat, rv, v.n, longest, true, b, err);
    if (r == 0) {
        ssize_t end = match_at(&m, 0, 0);
        /* BuildKit round-trips the value through []rune here, so invalid
         * UTF-8 comes back as U+FFFD; we do the same. */
        size_t keep = end >= 0 ? v.n - (size_t)end : v.n;
        for (size_t i = 0; i < keep; i++)
            cb_rune_put(out, v.cp[i]);
        matcher_free(&m);
    }
    free(rv);
    cb_runes_free(&v);
    pattern_free(&pat);
    return r;
}

/* Go's Regexp.Expand for a regexp without groups: $0 / ${0} is the match,
 * $$ is $, other well-formed names expand to nothing, and a malformed
 * reference leaves the $ as text. */
static void expand_template(cb_buf_t *out, const char *tmpl, const char *match, size_t match_len) {
    const char *p = tmpl, *end = tmpl + strlen(tmpl); /* once: it is expanded at every match */
    for (;;) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            cb_buf_puts(out, p);
            return;
        }
        cb_buf_add(out, p, (size_t)(dollar - p));
        p = dollar + 1;
        if (*p == '$') {
            cb_buf_putc(out, '$');
            p++;
            continue;
        }
        const char *q = p;
        bool brace = *q == '{';
        if (brace)
            q++;
        const char *name = q;
        while (*q) {
            int32_t cp;
            size_t w = cb_rune_decode(q, (size_t)(end - q), &cp);
            if (!cb_rune_is_name(cp))
                break;
            q += w;
        }
        size_t name_len = (size_t)(q - name);
        if (name_len == 0 || (brace && *q != '}')) {
            cb_buf_putc(out, '$'); /* malformed: literal $, rescan after it */
            continue;
        }
        if (brace)
            q++;
        if (name_len == 1 && name[0] == '0')
            cb_buf_add(out, match, match_len);
        p = q;
    }
}

int cb_expand_replace(const char *name, const char *value, const char *pattern,
                      const char *replacement, bool all, cb_expand_budget_t *budget, cb_buf_t *out,
                      cb_error_t **err) {
    pattern_t pat;
    if (compile_string(pattern, &pat, err) < 0)
        return -1;
    cb_runes_t v;
    cb_runes_decode(&v, value);
    matcher_t m;
    if (matcher_init(&m, &pat, v.cp, v.n, true, false, budget, err) < 0) {
        cb_runes_free(&v);
        pattern_free(&pat);
        return -1;
    }
    /* Checked as it grows: $0 in the replacement repeats the match, so the
     * final length is not known before. */
    size_t base = out->len;
    int r = 0;
    if (!all) {
        size_t a;
        ssize_t b = match_search(&m, 0, &a);
        if (b < 0) {
            cb_buf_puts(out, value);
        } else if (v.off[v.n] - (v.off[b] - v.off[a]) + strlen(replacement) > budget->max_value) {
            r = -1;
        } else {
            cb_buf_add(out, value, v.off[a]);
            cb_buf_puts(out, replacement);
            cb_buf_puts(out, value + v.off[b]);
        }
    } else {
        /* Go's ReplaceAllString: successive non-overlapping matches, an empty
         * match right after a previous match is not replaced, and the search
         * always advances by at least one rune. */
        size_t search = 0, last = 0;
        while (search <= v.n) {
            size_t a;
            ssize_t sb = match_search(&m, search, &a);
            if (sb < 0)
                break;
            size_t b = (size_t)sb;
            cb_buf_add(out, value + v.off[last], v.off[a] - v.off[last]);
            if (b > last || a == 0)
                expand_template(out, replacement, value + v.off[a], v.off[b] - v.off[a]);
            if (out->len - base > budget->max_value) {
                r = -1;
                break;
            }
            last = b;
            if (search + 1 > b)
                search++;
            else
                search = b;
        }
        if (r == 0)
            cb_buf_puts(out, value + v.off[last]);
    }
    if (r == 0 && out->len - base > budget->max_value)
        r = -1;
    if (r < 0) {
        cb_buf_truncate(out, base); /* nothing half-built is left for the caller */
        cb_error_kind_set(err, CB_ERR_INPUT, "expansion of ${%s/...} exceeds %zu bytes", name,
                          budget->max_value);
    }
    matcher_free(&m);
    cb_runes_free(&v);
    pattern_free(&pat);
    return r;
}
