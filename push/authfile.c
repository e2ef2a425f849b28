/* Auth files (push/authfile.h). */
#include "push/authfile.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/oci.h"
#include "cache/store.h"
#include "common/util.h"

#define MAX_AUTHFILE (4u << 20)

/* Does an "auths" key name the registry? */
static bool key_matches(const char *key, const char *registry) {
    const char *k = key;
    if (cb_str_has_prefix(k, "https://"))
        k += 8;
    else if (cb_str_has_prefix(k, "http://"))
        k += 7;
    size_t n = strcspn(k, "/");
    if (strlen(registry) == n && strncmp(k, registry, n) == 0)
        return true;
    if (strcmp(registry, "docker.io") == 0)
        return (n == 15 && strncmp(k, "index.docker.io", n) == 0) ||
               (n == 20 && strncmp(k, "registry-1.docker.io", n) == 0);
    return false;
}

/* Removes every entry naming the registry (one registry may be spelled
 * several ways); true when there was one. */
static bool drop_entries(json_t *auths, const char *registry) {
    const char *key;
    json_t *v;
    void *tmp;
    bool found = false;
    json_object_foreach_safe(auths, tmp, key, v) {
        if (key_matches(key, registry)) {
            json_object_del(auths, key);
            found = true;
        }
    }
    return found;
}

/* Reads an auth file: 1 when it does not exist. */
static int load(const char *path, json_t **out, cb_error_t **err) {
    cb_autofree char *text = NULL;
    size_t len = 0;
    cb_autoerr cb_error_t *rerr = NULL;
    if (cb_read_file(path, MAX_AUTHFILE, &text, &len, &rerr) < 0) {
        const cb_error_t *root = cb_error_root(rerr);
        if (root->kind == CB_ERR_SYSTEM && root->status == ENOENT)
            return 1;
        *err = cb_steal_pointer(&rerr);
        return -1;
    }
    if (cb_oci_json_parse(text, len, path, out, err) < 0)
        return -1;
    return 0;
}

static int lookup_file(const char *path, const char *registry, cb_creds_t *out,
                       cb_error_t **err) {
    cb_autojson json_t *j = NULL;
    int r = load(path, &j, err);
    if (r != 0)
        return r;
    json_t *auths = json_object_get(j, "auths");
    const char *key;
    json_t *v;
    json_object_foreach(auths, key, v) {
        if (!key_matches(key, registry))
            continue;
        const char *b64 = json_string_value(json_object_get(v, "auth"));
        if (!b64 || !*b64)
            continue; /* a credential helper's entry: not supported yet */
        cb_autofree char *up = NULL;
        size_t len = 0;
        if (cb_base64_decode(b64, &up, &len) < 0 || memchr(up, '\0', len) || !strchr(up, ':'))
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "%s: the \"auth\" of %s is not base64 of USER:PASSWORD", path,
                                     key);
        char *colon = strchr(up, ':');
        out->username = cb_xstrndup(up, (size_t)(colon - up));
        out->password = cb_xstrdup(colon + 1);
        explicit_bzero(up, len);
        return 0;
    }
    return 1;
}

int cb_authfile_lookup(const char *authfile, const char *registry, cb_creds_t *out,
                       cb_error_t **err) {
    if (authfile)
        return lookup_file(authfile, registry, out, err);
    const char *env = getenv("REGISTRY_AUTH_FILE");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    const char *home = getenv("HOME");
    char *paths[4] = {
        env && *env ? cb_xstrdup(env) : NULL,
        xdg && *xdg ? cb_xasprintf("%s/containers/auth.json", xdg) : NULL,
        home && *home ? cb_xasprintf("%s/.config/containers/auth.json", home) : NULL,
        home && *home ? cb_xasprintf("%s/.docker/config.json", home) : NULL,
    };
    int r = 1;
    for (size_t i = 0; i < CB_ARRAY_LEN(paths) && r == 1; i++)
        if (paths[i])
            r = lookup_file(paths[i], registry, out, err);
    for (size_t i = 0; i < CB_ARRAY_LEN(paths); i++)
        free(paths[i]);
    return r;
}

int cb_authfile_path(const char *authfile, char **out, cb_error_t **err) {
    const char *env = getenv("REGISTRY_AUTH_FILE");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    const char *home = getenv("HOME");
    if (authfile)
        *out = cb_xstrdup(authfile);
    else if (env && *env)
        *out = cb_xstrdup(env);
    else if (xdg && *xdg)
        *out = cb_xasprintf("%s/containers/auth.json", xdg);
    else if (home && *home)
        *out = cb_xasprintf("%s/.config/containers/auth.json", home);
    else
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "no auth file: set --authfile, REGISTRY_AUTH_FILE, "
                                 "XDG_RUNTIME_DIR or HOME");
    return 0;
}

/* Writes j to path: 0600, atomically; the parent made (0700) when missing. */
static int save(const char *path, const json_t *j, cb_error_t **err) {
    cb_autofree char *dir = cb_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return cb_error_set(err, errno, "mkdir %s", dir);
    }
    cb_autofree char *text = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!text)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s: cannot encode JSON", path);
    cb_buf_t b = CB_BUF_INIT;
    cb_buf_printf(&b, "%s\n", text);
    int r = cb_write_file_atomic(path, b.data, b.len, 0600, err);
    explicit_bzero(b.data, b.len);
    explicit_bzero(text, strlen(text));
    cb_buf_free(&b);
    return r;
}

int cb_authfile_store(const char *authfile, const char *registry, const cb_creds_t *c,
                      cb_error_t **err) {
    cb_autofree char *path = NULL;
    if (cb_authfile_path(authfile, &path, err) < 0)
        return -1;
    cb_autojson json_t *j = NULL;
    int r = load(path, &j, err);
    if (r < 0)
        return -1;
    if (r == 1)
        j = json_object();
    if (!json_is_object(j))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: not a JSON object", path);
    json_t *auths = json_object_get(j, "auths");
    if (!json_is_object(auths)) {
        auths = json_object();
        json_object_set_new(j, "auths", auths);
    }
    drop_entries(auths, registry);
    cb_autofree char *up = cb_xasprintf("%s:%s", c->username, c->password);
    cb_autofree char *b64 = cb_base64_encode(up, strlen(up));
    explicit_bzero(up, strlen(up));
    json_object_set_new(auths, registry, json_pack("{s:s}", "auth", b64));
    r = save(path, j, err);
    explicit_bzero(b64, strlen(b64));
    return r;
}

int cb_authfile_remove(const char *authfile, const char *registry, cb_error_t **err) {
    cb_autofree char *path = NULL;
    if (cb_authfile_path(authfile, &path, err) < 0)
        return -1;
    cb_autojson json_t *j = NULL;
    int r = load(path, &j, err);
    if (r != 0)
        return r;
    if (!drop_entries(json_object_get(j, "auths"), registry))
        return 1;
    return save(path, j, err);
}
