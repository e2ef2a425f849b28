/* Registry references (push/reference.h). */
#include "push/reference.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/refname.h"
#include "cache/store.h"
#include "common/digest.h"

#define MAX_NAME_LEN 255
#define MAX_CONF_SIZE (1u << 20)

static bool has_upper(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isupper((unsigned char)s[i]))
            return true;
    return false;
}

void cb_ref_clear(cb_ref_t *r) {
    free(r->registry);
    free(r->repository);
    free(r->tag);
    free(r->digest);
    *r = (cb_ref_t){0};
}

static int bad(cb_error_t **err, const char *s, const char *why) {
    return cb_error_kind_set(err, CB_ERR_INPUT, "invalid reference \"%s\": %s", s, why);
}

int cb_ref_parse(const char *s, const char *default_registry, cb_ref_t *out,
                 cb_error_t **err) {
    if (!s || !*s)
        return cb_error_kind_set(err, CB_ERR_INPUT, "invalid reference: empty");
    cb_autoref cb_ref_t r = {0};
    const char *at = strchr(s, '@');
    size_t name_tag_len = at ? (size_t)(at - s) : strlen(s);
    if (at) {
        const char *d = at + 1;
        if (!cb_str_has_prefix(d, "sha256:"))
            return bad(err, s, "only sha256 digests are supported");
        if (!cb_digest_valid(d))
            return bad(err, s, "the digest is not sha256: and 64 lower-case hex digits");
        r.digest = cb_xstrdup(d);
    }
    cb_autofree char *name = cb_xstrndup(s, name_tag_len);
    char *slash = strrchr(name, '/');
    char *colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        *colon = '\0';
        if (!cb_refname_valid_tag(colon + 1))
            return bad(err, s,
                       "invalid tag (letters, digits, '_', '.', '-', at most 128, not starting "
                       "with '.' or '-')");
        r.tag = cb_xstrdup(colon + 1);
    }
    if (!*name)
        return bad(err, s, "no repository name");
    if (strlen(name) > MAX_NAME_LEN)
        return bad(err, s, "the name is longer than 255 characters");
    const char *first_slash = strchr(name, '/');
    const char *path = name;
    if (first_slash) {
        size_t n = (size_t)(first_slash - name);
        if (cb_refname_looks_like_domain(name, n) || has_upper(name, n)) {
            if (!cb_refname_valid_domain(name, n))
                return bad(err, s, "invalid registry host");
            r.registry = cb_xstrndup(name, n);
            path = first_slash + 1;
        }
    }
    if (!r.registry) {
        r.registry = cb_xstrdup(default_registry && *default_registry ? default_registry
                                                                        : CB_REF_DOCKER_HUB);
        r.short_name = true;
    }
    if (strcmp(r.registry, "index.docker.io") == 0) {
        free(r.registry);
        r.registry = cb_xstrdup(CB_REF_DOCKER_HUB);
    }
    if (has_upper(path, strlen(path)))
        return bad(err, s, "the repository name must be lower case");
    for (const char *p = path;;) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (!cb_refname_valid_component(p, n))
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "invalid reference \"%s\": invalid path component \"%.*s\" "
                                     "(lower-case letters and digits, joined by '.', '_', '__' "
                                     "or '-')",
                                     s, (int)n, p);
        if (!q)
            break;
        p = q + 1;
    }
    if (strcmp(r.registry, CB_REF_DOCKER_HUB) == 0 && !strchr(path, '/'))
        r.repository = cb_xasprintf("library/%s", path);
    else
        r.repository = cb_xstrdup(path);
    if (!r.tag && !r.digest)
        r.tag = cb_xstrdup("latest");
    *out = r;
    r = (cb_ref_t){0};
    return 0;
}

char *cb_ref_string(const cb_ref_t *r) {
    return cb_xasprintf("%s/%s%s%s%s%s", r->registry, r->repository, r->tag ? ":" : "",
                        r->tag ? r->tag : "", r->digest ? "@" : "", r->digest ? r->digest : "");
}

char *cb_ref_store_name(const cb_ref_t *r) {
    if (r->tag)
        return cb_xasprintf("%s/%s:%s", r->registry, r->repository, r->tag);
    return cb_xasprintf("%s/%s@%s", r->registry, r->repository, r->digest);
}

const char *cb_ref_manifest_ref(const cb_ref_t *r) {
    return r->digest ? r->digest : r->tag;
}

const char *cb_ref_api_host(const cb_ref_t *r) {
    return strcmp(r->registry, CB_REF_DOCKER_HUB) == 0 ? "registry-1.docker.io" : r->registry;
}

/* registries.conf is TOML; only one top-level key matters here, so this
 * reads just enough TOML: comments, the key, and an array of strings that
 * may span lines. A [table] header ends the top level. */
int cb_ref_search_registries_parse(const char *text, const char *what, cb_strv_t *out,
                                   cb_error_t **err) {
    static const char key[] = "unqualified-search-registries";
    const char *p = text;
    int line = 1;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '[')
            return 0;
        if (strncmp(p, key, sizeof(key) - 1) != 0 ||
            !(p[sizeof(key) - 1] == ' ' || p[sizeof(key) - 1] == '\t' ||
              p[sizeof(key) - 1] == '=')) {
            const char *nl = strchr(p, '\n');
            if (!nl)
                return 0;
            p = nl + 1;
            line++;
            continue;
        }
        p += sizeof(key) - 1;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            return cb_error_kind_set(err, CB_ERR_SYNTAX, "%s:%d: %s: expected '='", what, line,
                                     key);
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '[')
            return cb_error_kind_set(err, CB_ERR_SYNTAX, "%s:%d: %s: expected an array", what,
                                     line, key);
        cb_strv_t regs = CB_STRV_INIT;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' ||
                   *p == '#') {
                if (*p == '#')
                    while (*p && *p != '\n')
                        p++;
                else if (*p++ == '\n')
                    line++;
            }
            if (*p == ']')
                break;
            char q = *p;
            const char *end = (q == '"' || q == '\'') ? strchr(p + 1, q) : NULL;
            if (!end || memchr(p + 1, '\n', (size_t)(end - p - 1))) {
                cb_strv_free(&regs);
                return cb_error_kind_set(err, CB_ERR_SYNTAX,
                                         "%s:%d: %s: expected a quoted string or ']'", what,
                                         line, key);
            }
            cb_strv_take(&regs, cb_xstrndup(p + 1, (size_t)(end - p - 1)));
            p = end + 1;
        }
        for (size_t i = 0; i < regs.len; i++)
            cb_strv_push(out, regs.items[i]);
        cb_strv_free(&regs);
        return 0;
    }
    return 0;
}

int cb_ref_search_registries(const char *conf_path, cb_strv_t *out, cb_error_t **err) {
    cb_autofree char *user = NULL;
    const char *path = conf_path;
    if (!path)
        path = getenv("CONTAINERS_REGISTRIES_CONF");
    if (!path || !*path) {
        const char *home = getenv("HOME");
        if (home && *home) {
            user = cb_xasprintf("%s/.config/containers/registries.conf", home);
            if (access(user, F_OK) == 0)
                path = user;
        }
    }
    if (!path || !*path)
        path = "/etc/containers/registries.conf";
    cb_autofree char *text = NULL;
    size_t len = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    if (cb_read_file(path, MAX_CONF_SIZE, &text, &len, err) < 0)
        return -1;
    if (memchr(text, '\0', len))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: not a text file", path);
    return cb_ref_search_registries_parse(text, path, out, err);
}
