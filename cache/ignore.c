/* .containerignore / .dockerignore matching (see ignore.h).
 *
 * patternmatcher classifies each cleaned pattern: a plain path is compared
 * exactly, "lit**" is a prefix test, "**lit" a suffix test, and anything else
 * becomes a regular expression: '*' is "[^/]*", '?' is "[^/]", "**" is
 * "(.*" "/)?" or ".*" at the end, "\c" is c, '^' anchors at the start and
 * brackets stay. We keep the classification and match the same tokens with a
 * small memoised matcher over runes instead of a regex engine. Like Go's '.',
 * the "**" forms do not cross a newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cache/ignore.h"
#include "common/match.h"
#include "common/util.h"

enum match_type { MATCH_EXACT, MATCH_PREFIX, MATCH_SUFFIX, MATCH_REGEXP };
enum tok_kind { TOK_LIT, TOK_ANY, TOK_STAR, TOK_DIRS, TOK_REST, TOK_CLASS, TOK_BOL };

typedef struct range {
    int32_t lo, hi;
} range_t;

typedef struct tok {
    enum tok_kind kind;
    size_t wild;      /* index among the wildcard tokens */
    int32_t cp;       /* TOK_LIT */
    bool negated;     /* TOK_CLASS */
    range_t *ranges;  /* TOK_CLASS */
    size_t nranges;
} tok_t;

typedef struct pattern {
    char *text; /* cleaned, without the '!' */
    bool exclusion;
    enum match_type type;
    tok_t *toks;
    size_t ntoks;
    size_t nwild; /* TOK_STAR, TOK_DIRS and TOK_REST: the only memoised tokens */
} pattern_t;

struct cb_ignore {
    pattern_t *pats;
    size_t n;
    bool exclusions;
    /* Every exception is a plain path, maybe ending in / * or / **: then
     * fsutil's filter decides whether to enter a directory by a prefix test. */
    bool only_prefix_exceptions;
    cb_ignore_walk_t walk;
    char *source;
    cb_strv_t shown;
};

struct cb_ignore_state {
    bool *matched;
    size_t n;
};

typedef struct runes {
    int32_t *cp;
    size_t n;
} runes_t;

static void runes_decode(runes_t *r, const char *s, size_t len) {
    r->cp = cb_xcalloc(len + 1, sizeof *r->cp);
    r->n = 0;
    for (size_t i = 0; i < len;)
        i += cb_match_rune(s + i, len - i, &r->cp[r->n++]);
}

/* A bracket expression in filepath.Match syntax, already validated: the
 * runes from just after '['; returns how many it used, through the ']'. */
static size_t parse_class(const int32_t *cp, size_t n, tok_t *t) {
    size_t i = 0;
    t->kind = TOK_CLASS;
    if (i < n && cp[i] == '^') {
        t->negated = true;
        i++;
    }
    t->ranges = cb_xcalloc(n + 1, sizeof *t->ranges);
    while (i < n && !(cp[i] == ']' && t->nranges > 0)) {
        if (cp[i] == '\\' && i + 1 < n)
            i++;
        range_t r = {cp[i], cp[i]};
        i++;
        if (i < n && cp[i] == '-') {
            i++;
            if (i < n && cp[i] == '\\' && i + 1 < n)
                i++;
            if (i < n)
                r.hi = cp[i++];
        }
        t->ranges[t->nranges++] = r;
    }
    return i < n ? i + 1 : i;
}

static void compile(pattern_t *p) {
    runes_t r;
    runes_decode(&r, p->text, strlen(p->text));
    p->toks = cb_xcalloc(r.n + 1, sizeof *p->toks);
    p->type = MATCH_EXACT;
    size_t pos = 0;
    if (r.n > 0 && r.cp[0] == 0xFEFF) /* Go's text/scanner skips a leading BOM */
        pos = 1;
    for (size_t i = 0; pos < r.n; i++) {
        int32_t ch = r.cp[pos++];
        tok_t *t = &p->toks[p->ntoks];
        if (ch == '*' && pos < r.n && r.cp[pos] == '*') {
            pos++;
            if (pos < r.n && r.cp[pos] == '/')
                pos++;
            if (pos == r.n && p->type == MATCH_EXACT) {
                p->type = MATCH_PREFIX;
            } else {
                t->kind = pos == r.n ? TOK_REST : TOK_DIRS;
                p->ntoks++;
                p->type = MATCH_REGEXP;
            }
            if (i == 0)
                p->type = MATCH_SUFFIX;
            continue;
        }
        p->ntoks++;
        switch (ch) {
        case '*':
            t->kind = TOK_STAR;
            p->type = MATCH_REGEXP;
            break;
        case '?':
            t->kind = TOK_ANY;
            p->type = MATCH_REGEXP;
            break;
        case '\\':
            t->kind = TOK_LIT;
            t->cp = '\\';
            if (pos < r.n) {
                t->cp = r.cp[pos++];
                p->type = MATCH_REGEXP;
            }
            break;
        case '[':
            pos += parse_class(r.cp + pos, r.n - pos, t);
            p->type = MATCH_REGEXP;
            break;
        case ']':
            t->kind = TOK_LIT;
            t->cp = ch;
            p->type = MATCH_REGEXP;
            break;
        case '^':
            t->kind = TOK_BOL;
            break;
        default:
            t->kind = TOK_LIT;
            t->cp = ch;
        }
    }
    free(r.cp);
    for (size_t i = 0; i < p->ntoks; i++) {
        enum tok_kind k = p->toks[i].kind;
        if (k == TOK_STAR || k == TOK_DIRS || k == TOK_REST)
            p->toks[i].wild = p->nwild++;
    }
}

typedef struct matcher {
    const pattern_t *p;
    const runes_t *s;
    signed char *memo; /* nwild x (n + 1): -1 unknown, 0 no, 1 yes */
} matcher_t;

static bool class_has(const tok_t *t, int32_t c) {
    bool in = false;
    for (size_t i = 0; i < t->nranges && !in; i++)
        in = t->ranges[i].lo <= c && c <= t->ranges[i].hi;
    return in != t->negated;
}

static bool match_from(matcher_t *m, size_t ti, size_t pos) {
    const runes_t *s = m->s;
    /* Single-rune tokens are walked in a loop: recursion only at wildcards. */
    for (; ti < m->p->ntoks; ti++) {
        const tok_t *t = &m->p->toks[ti];
        if (t->kind == TOK_BOL) {
            if (pos != 0)
                return false;
            continue;
        }
        if (t->kind != TOK_LIT && t->kind != TOK_ANY && t->kind != TOK_CLASS)
            break;
        if (pos >= s->n)
            return false;
        int32_t c = s->cp[pos++];
        if ((t->kind == TOK_LIT && c != t->cp) || (t->kind == TOK_ANY && c == '/') ||
            (t->kind == TOK_CLASS && !class_has(t, c)))
            return false;
    }
    if (ti == m->p->ntoks)
        return pos == s->n;
    const tok_t *t = &m->p->toks[ti];
    signed char *slot = &m->memo[t->wild * (s->n + 1) + pos];
    if (*slot >= 0)
        return *slot;
    bool ok = false;
    switch (t->kind) {
    case TOK_LIT:
    case TOK_ANY:
    case TOK_CLASS:
    case TOK_BOL:
        break; /* handled above */
    case TOK_STAR:
        for (size_t k = pos; !ok; k++) {
            ok = match_from(m, ti + 1, k);
            if (k == s->n || s->cp[k] == '/')
                break;
        }
        break;
    case TOK_DIRS: /* (.*\/)? */
        ok = match_from(m, ti + 1, pos);
        for (size_t k = pos; !ok && k < s->n && s->cp[k] != '\n'; k++)
            if (s->cp[k] == '/')
                ok = match_from(m, ti + 1, k + 1);
        break;
    case TOK_REST: /* .* */
        for (size_t k = pos; !ok; k++) {
            ok = match_from(m, ti + 1, k);
            if (k == s->n || s->cp[k] == '\n')
                break;
        }
        break;
    }
    *slot = ok;
    return ok;
}

static bool pattern_matches(const pattern_t *p, const char *path, size_t len) {
    size_t tl = strlen(p->text);
    switch (p->type) {
    case MATCH_EXACT:
        return len == tl && memcmp(path, p->text, len) == 0;
    case MATCH_PREFIX:
        return len >= tl - 2 && memcmp(path, p->text, tl - 2) == 0;
    case MATCH_SUFFIX: {
        const char *suffix = p->text + 2;
        size_t sl = tl - 2;
        if (len >= sl && memcmp(path + len - sl, suffix, sl) == 0)
            return true;
        return sl > 0 && suffix[0] == '/' && len == sl - 1 && memcmp(path, suffix + 1, len) == 0;
    }
    case MATCH_REGEXP:
        break;
    }
    runes_t s;
    runes_decode(&s, path, len);
    size_t cells = (p->nwild + 1) * (s.n + 1);
    matcher_t m = {p, &s, cb_xmalloc(cells)};
    memset(m.memo, -1, cells);
    bool ok = match_from(&m, 0, 0);
    free(m.memo);
    free(s.cp);
    return ok;
}

/* One step of the walk (fsutil + patternmatcher.MatchesUsingParentResults):
 * a pattern that matched the parent directory matches its entries; the others
 * are tried only when they could change the answer so far. Only top-level
 * entries (no parent results) also try the pattern on their ancestors. */
static bool eval(const cb_ignore_t *ig, const bool *parent, const char *path, bool *bits) {
    bool matched = false;
    size_t len = strlen(path);
    for (size_t i = 0; i < ig->n; i++) {
        const pattern_t *p = &ig->pats[i];
        bool match = parent && parent[i];
        if (!match) {
            bits[i] = false;
            if (p->exclusion != matched)
                continue;
            match = pattern_matches(p, path, len);
            for (size_t k = 0; !match && !parent && k < len; k++)
                if (path[k] == '/')
                    match = pattern_matches(p, path, k);
        }
        bits[i] = match;
        if (match)
            matched = !p->exclusion;
    }
    return matched;
}

/* "/a/./b/" -> "a/b"; "" and "/" -> ".". */
static char *clean_rel(const char *path) {
    char *c = cb_path_clean(path);
    if (c[0] == '/') {
        char *rel = cb_xstrdup(c[1] ? c + 1 : ".");
        free(c);
        return rel;
    }
    return c;
}

static const char *without_trailing_glob(const char *text, size_t *len) {
    *len = strlen(text);
    if (cb_str_has_suffix(text, "/**"))
        *len -= 3;
    else if (cb_str_has_suffix(text, "/*"))
        *len -= 2;
    return text;
}

void cb_ignore_set_walk(cb_ignore_t *ig, cb_ignore_walk_t walk) {
    ig->walk = walk;
}

/* Whether pattern[0..pl) + "/" starts with dir + "/". */
static bool starts_with_dir(const char *pattern, size_t pl, const char *dir) {
    size_t dl = strlen(dir);
    return pl >= dl && memcmp(pattern, dir, dl) == 0 && (pl == dl || pattern[dl] == '/');
}

bool cb_ignore_skip_dir(const cb_ignore_t *ig, const char *dir) {
    bool filter = ig->walk == CB_IGNORE_WALK_FILTER;
    if (filter && !ig->only_prefix_exceptions)
        return false;
    if (!ig->exclusions)
        return true;
    cb_autofree char *d = clean_rel(dir);
    for (size_t i = 0; i < ig->n; i++) {
        if (!ig->pats[i].exclusion)
            continue;
        /* The context walk compares the pattern as written; fsutil's filter
         * drops a trailing / * or / ** first. */
        size_t pl = strlen(ig->pats[i].text);
        if (filter)
            without_trailing_glob(ig->pats[i].text, &pl);
        if (starts_with_dir(ig->pats[i].text, pl, d))
            return false;
    }
    return true;
}

bool cb_ignore_match_entry(const cb_ignore_t *ig, const cb_ignore_state_t *parent,
                           const char *path, cb_ignore_state_t **state) {
    cb_autofree char *p = clean_rel(path);
    bool *bits = cb_xcalloc(ig->n + 1, sizeof *bits);
    bool excluded = strcmp(p, ".") != 0 && eval(ig, parent ? parent->matched : NULL, p, bits);
    if (state) {
        *state = cb_xcalloc(1, sizeof **state);
        (*state)->matched = bits;
        (*state)->n = ig->n;
    } else {
        free(bits);
    }
    return excluded;
}

void cb_ignore_state_free(cb_ignore_state_t *state) {
    if (!state)
        return;
    free(state->matched);
    free(state);
}

bool cb_ignore_matches(const cb_ignore_t *ig, const char *path) {
    cb_autofree char *p = clean_rel(path);
    if (strcmp(p, ".") == 0 || ig->n == 0)
        return false;
    bool *parent = NULL;
    bool *bits = cb_xcalloc(ig->n + 1, sizeof *bits);
    bool excluded = false;
    size_t len = strlen(p);
    /* Walk down from the top as the context walk does: a directory that is
     * skipped hides everything below it. */
    for (size_t end = 0; end <= len; end++) {
        if (end < len && p[end] != '/')
            continue;
        char saved = p[end];
        p[end] = '\0';
        excluded = eval(ig, parent, p, bits);
        bool skipped = end < len && excluded && cb_ignore_skip_dir(ig, p);
        p[end] = saved;
        if (skipped)
            break;
        bool *tmp = parent ? parent : cb_xcalloc(ig->n + 1, sizeof *tmp);
        parent = bits;
        bits = tmp;
    }
    free(parent);
    free(bits);
    return excluded;
}

void cb_ignore_free(cb_ignore_t *ig) {
    if (!ig)
        return;
    for (size_t i = 0; i < ig->n; i++) {
        for (size_t t = 0; t < ig->pats[i].ntoks; t++)
            free(ig->pats[i].toks[t].ranges);
        free(ig->pats[i].toks);
        free(ig->pats[i].text);
    }
    free(ig->pats);
    free(ig->source);
    cb_strv_free(&ig->shown);
    free(ig);
}

const char *cb_ignore_source(const cb_ignore_t *ig) {
    return ig->source;
}

size_t cb_ignore_count(const cb_ignore_t *ig) {
    return ig->n;
}

const char *cb_ignore_pattern(const cb_ignore_t *ig, size_t i) {
    return i < ig->shown.len ? ig->shown.items[i] : NULL;
}

/* Go's strings.TrimSpace on s[0..*len): returns the start, updates *len. */
static const char *trim_space(const char *s, size_t *len) {
    size_t start = 0, end = 0;
    bool seen = false;
    for (size_t i = 0; i < *len;) {
        int32_t cp;
        size_t w = cb_match_rune(s + i, *len - i, &cp);
        if (!cb_match_isspace(cp)) {
            if (!seen)
                start = i;
            seen = true;
            end = i + w;
        }
        i += w;
    }
    *len = seen ? end - start : 0;
    return s + start;
}

/* Adds one line's pattern the way ignorefile.ReadAll and patternmatcher.New
 * read it; 0 when the line holds none. */
static int add_line(cb_ignore_t *ig, const char *line, size_t len, const char *source, int lineno,
                    cb_error_t **err) {
    if (len > 0 && line[0] == '#')
        return 0;
    line = trim_space(line, &len);
    if (len == 0)
        return 0;
    bool invert = line[0] == '!';
    if (invert) {
        line++, len--;
        line = trim_space(line, &len);
    }
    cb_autofree char *raw = cb_xstrndup(line, len);
    cb_autofree char *pat = NULL;
    if (len > 0) {
        pat = cb_path_clean(raw);
        if (strlen(pat) > 1 && pat[0] == '/')
            memmove(pat, pat + 1, strlen(pat));
    } else {
        pat = cb_xstrdup("");
    }
    /* patternmatcher trims and cleans the stored line ("!" included) once more. */
    cb_autofree char *stored = cb_xasprintf("%s%s", invert ? "!" : "", pat);
    size_t sl = strlen(stored);
    const char *st = trim_space(stored, &sl);
    if (sl == 0)
        return 0;
    cb_autofree char *trimmed = cb_xstrndup(st, sl);
    char *text = cb_path_clean(trimmed);
    bool exclusion = text[0] == '!';
    if (exclusion && text[1] == '\0') {
        free(text);
        return cb_error_at(err, source, lineno, 0, "illegal exclusion pattern: \"!\"");
    }
    if (exclusion)
        memmove(text, text + 1, strlen(text));
    if (cb_match_validate(text, err) < 0) {
        free(text);
        cb_error_locate(err, source, lineno, 0);
        return -1;
    }
    ig->pats = cb_xrealloc(ig->pats, (ig->n + 1) * sizeof *ig->pats);
    pattern_t *p = &ig->pats[ig->n++];
    *p = (pattern_t){.text = text, .exclusion = exclusion};
    compile(p);
    cb_strv_take(&ig->shown, cb_xasprintf("%s%s", exclusion ? "!" : "", text));
    if (exclusion) {
        ig->exclusions = true;
        size_t pl;
        const char *pt = without_trailing_glob(text, &pl);
        for (size_t i = 0; i < pl; i++)
            if (strchr("*[]?^\\", pt[i]))
                ig->only_prefix_exceptions = false;
    }
    return 0;
}

/* Go's bufio.Scanner refuses longer lines. */
#define MAX_LINE (64 * 1024)

int cb_ignore_parse(const char *text, size_t len, const char *source, cb_ignore_t **out,
                    cb_error_t **err) {
    cb_ignore_t *ig = cb_xcalloc(1, sizeof *ig);
    ig->only_prefix_exceptions = true;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3, len -= 3;
    int lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t ll = end - pos;
        lineno++;
        if (ll >= MAX_LINE) {
            cb_ignore_free(ig);
            return cb_error_at(err, source, lineno, 0, "line too long (%zu bytes)", ll);
        }
        if (ll > 0 && text[end - 1] == '\r')
            ll--;
        if (add_line(ig, text + pos, ll, source, lineno, err) < 0) {
            cb_ignore_free(ig);
            return -1;
        }
        pos = end + 1;
    }
    *out = ig;
    return 0;
}

/* Reads a whole file; 0 = read, 1 = does not exist, -1 = error. */
static int read_whole(int fd, const char *shown, cb_buf_t *buf, cb_error_t **err) {
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cb_error_set(err, errno, "read %s", shown);
        if (n == 0)
            return 0;
        cb_buf_add(buf, chunk, (size_t)n);
    }
}

static int read_plain(const char *path, cb_buf_t *buf, cb_error_t **err) {
    cb_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : cb_error_set(err, errno, "open %s", path);
    return read_whole(fd, path, buf, err);
}

/* name inside ctx_dir, with symlinks resolved as if ctx_dir were "/". */
static int read_in_root(const char *ctx_dir, const char *name, cb_buf_t *buf, cb_error_t **err) {
    cb_autoclose int dfd = open(ctx_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return cb_error_set(err, errno, "open context directory %s", ctx_dir);
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    cb_autoclose int fd = (int)syscall(SYS_openat2, dfd, name, &how, sizeof how);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) /* old kernel or seccomp filter */
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return 1;
    if (fd < 0)
        return cb_error_set(err, errno, "open %s/%s", ctx_dir, name);
    cb_autofree char *shown = cb_xasprintf("%s/%s", ctx_dir, name);
    return read_whole(fd, shown, buf, err);
}

static int load(const char *shown, cb_buf_t *buf, cb_ignore_t **out, cb_error_t **err) {
    if (cb_ignore_parse(cb_buf_str(buf), buf->len, shown, out, err) < 0)
        return -1;
    (*out)->source = cb_xstrdup(shown);
    return 0;
}

int cb_ignore_load_file(const char *ctx_dir, const char *containerfile, cb_ignore_t **out,
                        cb_error_t **err) {
    if (containerfile) {
        cb_autofree char *cf = containerfile[0] == '/'
                                   ? cb_xstrdup(containerfile)
                                   : cb_xasprintf("%s/%s", ctx_dir, containerfile);
        static const char *const suffixes[] = {".dockerignore", ".containerignore"};
        for (size_t i = 0; i < CB_ARRAY_LEN(suffixes); i++) {
            cb_autofree char *path = cb_xasprintf("%s%s", cf, suffixes[i]);
            cb_autobuf cb_buf_t buf = CB_BUF_INIT;
            int r = read_plain(path, &buf, err);
            if (r < 0)
                return -1;
            if (r == 0)
                return load(path, &buf, out, err);
        }
    }
    static const char *const names[] = {".containerignore", ".dockerignore"};
    for (size_t i = 0; i < CB_ARRAY_LEN(names); i++) {
        cb_autobuf cb_buf_t buf = CB_BUF_INIT;
        int r = read_in_root(ctx_dir, names[i], &buf, err);
        if (r < 0)
            return -1;
        if (r == 0) {
            cb_autofree char *path = cb_xasprintf("%s/%s", ctx_dir, names[i]);
            return load(path, &buf, out, err);
        }
    }
    return cb_ignore_parse("", 0, NULL, out, err);
}
