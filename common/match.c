/* Go's path/filepath.Match for '/'-separated paths (see match.h).
 *
 * The pattern is cut into chunks: a run of stars followed by the characters up
 * to the next star outside a class. A chunk matches a fixed number of runes, so
 * after a star we only have to try each start position that does not cross a
 * '/'. Matching a chunk keeps going after a mismatch so that a malformed rest of
 * the chunk is still reported.
 */
#include <string.h>

#include "common/match.h"
#include "common/util.h"

#define BAD_PATTERN 2

size_t cb_match_rune(const char *s, size_t len, int32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    size_t need = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : 2;
    int32_t v = u[0] & (0x7F >> need);
    int32_t min = need == 2 ? 0x80 : need == 3 ? 0x800 : 0x10000;
    if (u[0] < 0xC2 || u[0] > 0xF4 || len < need)
        goto bad;
    for (size_t i = 1; i < need; i++) {
        if ((u[i] & 0xC0) != 0x80)
            goto bad;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        goto bad;
    *cp = v;
    return need;
bad:
    *cp = 0xFFFD;
    return 1;
}

bool cb_match_isspace(int32_t cp) {
    switch (cp) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

typedef struct span {
    const char *p;
    size_t n;
} span_t;

static void scan_chunk(span_t *pattern, bool *star, span_t *chunk) {
    *star = false;
    while (pattern->n > 0 && pattern->p[0] == '*') {
        pattern->p++, pattern->n--;
        *star = true;
    }
    bool inrange = false;
    size_t i;
    for (i = 0; i < pattern->n; i++) {
        char c = pattern->p[i];
        if (c == '\\') {
            if (i + 1 < pattern->n)
                i++;
        } else if (c == '[') {
            inrange = true;
        } else if (c == ']') {
            inrange = false;
        } else if (c == '*' && !inrange) {
            break;
        }
    }
    chunk->p = pattern->p;
    chunk->n = i;
    pattern->p += i;
    pattern->n -= i;
}

/* A possibly escaped rune of a class; BAD_PATTERN when malformed. */
static int get_esc(span_t *chunk, int32_t *r) {
    if (chunk->n == 0 || chunk->p[0] == '-' || chunk->p[0] == ']')
        return BAD_PATTERN;
    if (chunk->p[0] == '\\') {
        chunk->p++, chunk->n--;
        if (chunk->n == 0)
            return BAD_PATTERN;
    }
    const unsigned char first = (unsigned char)chunk->p[0];
    size_t w = cb_match_rune(chunk->p, chunk->n, r);
    bool invalid = w == 1 && first >= 0x80;
    chunk->p += w, chunk->n -= w;
    if (invalid || chunk->n == 0)
        return BAD_PATTERN;
    return 0;
}

/* Matches chunk against the start of s: 1 with *rest set, 0, or BAD_PATTERN. */
static int match_chunk(span_t chunk, span_t s, span_t *rest) {
    bool failed = false;
    while (chunk.n > 0) {
        if (!failed && s.n == 0)
            failed = true;
        char c = chunk.p[0];
        if (c == '[') {
            int32_t r = 0;
            if (!failed) {
                size_t w = cb_match_rune(s.p, s.n, &r);
                s.p += w, s.n -= w;
            }
            chunk.p++, chunk.n--;
            bool negated = false;
            if (chunk.n > 0 && chunk.p[0] == '^') {
                negated = true;
                chunk.p++, chunk.n--;
            }
            bool match = false;
            for (int nrange = 0;; nrange++) {
                if (chunk.n > 0 && chunk.p[0] == ']' && nrange > 0) {
                    chunk.p++, chunk.n--;
                    break;
                }
                int32_t lo, hi;
                if (get_esc(&chunk, &lo))
                    return BAD_PATTERN;
                hi = lo;
                if (chunk.p[0] == '-') {
                    chunk.p++, chunk.n--;
                    if (get_esc(&chunk, &hi))
                        return BAD_PATTERN;
                }
                if (lo <= r && r <= hi)
                    match = true;
            }
            if (match == negated)
                failed = true;
        } else if (c == '?') {
            if (!failed) {
                int32_t r;
                if (s.p[0] == '/')
                    failed = true;
                size_t w = cb_match_rune(s.p, s.n, &r);
                s.p += w, s.n -= w;
            }
            chunk.p++, chunk.n--;
        } else {
            if (c == '\\') {
                chunk.p++, chunk.n--;
                if (chunk.n == 0)
                    return BAD_PATTERN;
            }
            if (!failed) {
                if (chunk.p[0] != s.p[0])
                    failed = true;
                s.p++, s.n--;
            }
            chunk.p++, chunk.n--;
        }
    }
    if (failed)
        return 0;
    *rest = s;
    return 1;
}

static int bad_pattern(cb_error_t **err, const char *pattern) {
    return cb_error_kind_set(err, CB_ERR_INPUT, "syntax error in pattern \"%s\"", pattern);
}

int cb_match(const char *pattern, const char *name, cb_error_t **err) {
    span_t pat = {pattern, strlen(pattern)};
    span_t s = {name, strlen(name)};
    while (pat.n > 0) {
        bool star;
        span_t chunk, t;
        scan_chunk(&pat, &star, &chunk);
        if (star && chunk.n == 0) /* a trailing star matches the rest unless it has a '/' */
            return memchr(s.p, '/', s.n) == NULL;
        int r = match_chunk(chunk, s, &t);
        if (r == 1 && (t.n == 0 || pat.n > 0)) {
            s = t;
            continue;
        }
        if (r == BAD_PATTERN)
            return bad_pattern(err, pattern);
        if (star) {
            bool advanced = false;
            for (size_t i = 0; i < s.n && s.p[i] != '/'; i++) {
                span_t after = {s.p + i + 1, s.n - i - 1};
                r = match_chunk(chunk, after, &t);
                if (r == 1) {
                    if (pat.n == 0 && t.n > 0) /* the last chunk must end the name */
                        continue;
                    s = t;
                    advanced = true;
                    break;
                }
                if (r == BAD_PATTERN)
                    return bad_pattern(err, pattern);
            }
            if (advanced)
                continue;
        }
        /* No match; still report a malformed rest of the pattern. */
        while (pat.n > 0) {
            scan_chunk(&pat, &star, &chunk);
            span_t empty = {"", 0};
            if (match_chunk(chunk, empty, &t) == BAD_PATTERN)
                return bad_pattern(err, pattern);
        }
        return 0;
    }
    return s.n == 0;
}

int cb_match_validate(const char *pattern, cb_error_t **err) {
    return cb_match(pattern, ".", err) < 0 ? -1 : 0;
}

bool cb_match_has_meta(const char *pattern) {
    return strpbrk(pattern, "*?[\\") != NULL;
}

char *cb_path_clean(const char *path) {
    size_t n = strlen(path);
    if (n == 0)
        return cb_xstrdup(".");
    bool rooted = path[0] == '/';
    char *out = cb_xmalloc(n + 1);
    size_t w = 0, r = 0, dotdot = 0;
    if (rooted) {
        out[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            for (; r < n && path[r] != '/'; r++)
                out[w++] = path[r];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return out;
}
