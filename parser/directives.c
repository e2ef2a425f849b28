#include "parser/directives.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "parser/text.h"

void cb_directives_init(cb_directives_t *d) {
    memset(d, 0, sizeof *d);
    d->escape = '\\';
}

void cb_directives_free(cb_directives_t *d) {
    free(d->syntax);
    free(d->check);
    d->syntax = d->check = NULL;
}

/* Go regexp \s: no \v. */
static bool re_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c) {
    return is_alpha(c) || (c >= '0' && c <= '9');
}

/* Matches `#\s*NAME\s*=\s*(.+?)\s*$` the way BuildKit's regexp does,
 * including its backtracking: a value of only spaces is one space. */
static bool match_directive(const char *s, size_t n, const char **name, size_t *name_len,
                            const char **value, size_t *value_len) {
    if (n == 0 || s[0] != '#')
        return false;
    size_t i = 1 + cb_go_space_prefix(s + 1, n - 1);
    if (i >= n || !is_alpha(s[i]))
        return false;
    *name = s + i;
    while (i < n && is_alnum(s[i]))
        i++;
    *name_len = (size_t)(s + i - *name);
    while (i < n && re_space(s[i]))
        i++;
    if (i >= n || s[i] != '=')
        return false;
    i++;
    if (i >= n)
        return false;
    size_t j = i;
    while (j < n && re_space(s[j]))
        j++;
    if (j == n) {
        /* all spaces: the lazy group still needs one character */
        *value = s + n - 1;
        *value_len = 1;
        return true;
    }
    size_t end = n;
    while (end > j && re_space(s[end - 1]))
        end--;
    *value = s + j;
    *value_len = end - j;
    return true;
}

int cb_directives_feed(cb_directives_t *d, const char *s, size_t n, const char *file, int line,
                       int col, cb_error_t **err) {
    if (d->done)
        return 0;
    const char *name, *value;
    size_t name_len, value_len;
    if (!match_directive(s, n, &name, &name_len, &value, &value_len)) {
        d->done = true;
        return 0;
    }
    char **slot = NULL;
    bool *seen = NULL;
    if (name_len == 6 && strncasecmp(name, "syntax", 6) == 0) {
        slot = &d->syntax;
    } else if (name_len == 5 && strncasecmp(name, "check", 5) == 0) {
        slot = &d->check;
    } else if (name_len == 6 && strncasecmp(name, "escape", 6) == 0) {
        seen = &d->seen_escape;
    } else {
        d->done = true; /* an unknown directive is a comment and ends the block */
        return 0;
    }
    char lower[8] = {0};
    for (size_t k = 0; k < name_len; k++)
        lower[k] = (char)(name[k] | 0x20);
    if ((slot && *slot) || (seen && *seen))
        return cb_error_at(err, file, line, col, "only one %s parser directive can be used", lower);
    if (slot) {
        *slot = cb_xstrndup(value, value_len);
        return 1;
    }
    *seen = true;
    if (value_len != 1 || (value[0] != '\\' && value[0] != '`')) {
        cb_autofree char *v = cb_xstrndup(value, value_len);
        return cb_error_at(err, file, line, col,
                           "invalid escape token '%s': expected ` or \\", v);
    }
    d->escape = value[0];
    return 1;
}
