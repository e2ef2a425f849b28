#include "cache/refname.h"

#include <ctype.h>
#include <string.h>

#include "common/util.h"

#define MAX_NAME_LEN 255
#define MAX_TAG_LEN 128

static bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool cb_refname_valid_component(const char *s, size_t n) {
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (is_lower_alnum(s[i]))
            continue;
        size_t j = i;
        while (j < n && s[j] == '-')
            j++;
        if (j == i) {
            /* ".", "_" or "__" */
            if (s[i] != '.' && s[i] != '_')
                return false;
            j = i + 1;
            if (s[i] == '_' && s[j] == '_')
                j++;
        }
        if (j >= n || !is_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

bool cb_refname_valid_domain(const char *s, size_t n) {
    size_t i = 0;
    if (n == 0)
        return false;
    if (s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!(isxdigit((unsigned char)s[i]) || s[i] == ':'))
                return false;
        if (i == n || i == 1)
            return false;
        i++;
        if (i < n && s[i] != ':')
            return false;
    } else {
        for (; i < n && s[i] != ':'; i++) {
            char c = s[i];
            if (!(isalnum((unsigned char)c) || c == '-' || c == '.'))
                return false;
        }
        if (i == 0)
            return false;
    }
    if (i < n) {
        if (i + 1 == n)
            return false;
        for (size_t j = i + 1; j < n; j++)
            if (!isdigit((unsigned char)s[j]))
                return false;
    }
    return true;
}

bool cb_refname_looks_like_domain(const char *s, size_t n) {
    return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && memcmp(s, "localhost", 9) == 0);
}

bool cb_refname_valid_tag(const char *t) {
    size_t n = strlen(t);
    if (n == 0 || n > MAX_TAG_LEN)
        return false;
    if (!(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
            return false;
    return true;
}

int cb_refname_normalize(const char *name, char **out, cb_error_t **err) {
    if (name == NULL || *name == '\0')
        return cb_error_set(err, 0, "empty image name");
    if (strchr(name, '@'))
        return cb_error_set(err, 0, "image name '%s': a digest cannot be used as a tag", name);
    const char *slash = strrchr(name, '/');
    const char *colon = strrchr(slash ? slash : name, ':');
    size_t repo_len = colon ? (size_t)(colon - name) : strlen(name);
    const char *tag = colon ? colon + 1 : "latest";
    if (!cb_refname_valid_tag(tag))
        return cb_error_set(err, 0,
                            "image name '%s': invalid tag '%s' (letters, digits, '_', '.', '-'; "
                            "at most 128)",
                            name, tag);
    const char *p = name;
    const char *end = name + repo_len;
    bool first = true;
    while (p <= end) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (q == NULL)
            q = end;
        size_t n = (size_t)(q - p);
        bool ok = first && q != end && cb_refname_looks_like_domain(p, n)
                      ? cb_refname_valid_domain(p, n)
                      : cb_refname_valid_component(p, n);
        if (!ok)
            return cb_error_set(err, 0,
                                "image name '%s': invalid component '%.*s' (lower-case letters, "
                                "digits and separators)",
                                name, (int)n, p);
        first = false;
        p = q + 1;
    }
    if (repo_len > MAX_NAME_LEN)
        return cb_error_set(err, 0, "image name '%s' is longer than %d characters", name,
                            MAX_NAME_LEN);
    *out = colon ? cb_xstrdup(name) : cb_xasprintf("%s:latest", name);
    return 0;
}

static const char *strip_localhost(const char *s) {
    return cb_str_has_prefix(s, "localhost/") ? s + strlen("localhost/") : s;
}

bool cb_refname_equal(const char *a, const char *b) {
    return strcmp(strip_localhost(a), strip_localhost(b)) == 0;
}

const char *cb_refname_tag(const char *name) {
    const char *slash = strrchr(name, '/');
    const char *colon = strrchr(slash ? slash : name, ':');
    return colon ? colon + 1 : "latest";
}
