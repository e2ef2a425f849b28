#include "cache/root.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store.h"
#include "common/util.h"

int cb_mkdir_p(const char *path, unsigned mode, cb_error_t **err) {
    if (path[0] == '\0')
        return cb_error_set(err, 0, "empty directory path");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0; /* the usual case, in one call */
    cb_autofree char *p = cb_xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return cb_error_set(err, errno, "mkdir %s", p);
        *s = c;
        if (c == '\0')
            break;
    }
    if (stat(path, &st) < 0)
        return cb_error_set(err, errno, "stat %s", path);
    if (!S_ISDIR(st.st_mode))
        return cb_error_set(err, ENOTDIR, "%s", path);
    return 0;
}

int cb_root_resolve(const char *explicit_root, char **out, cb_error_t **err) {
    const char *env = getenv("CBUILD_ROOT");
    char *root;
    if (explicit_root && *explicit_root) {
        root = cb_xstrdup(explicit_root);
    } else if (env && *env) {
        root = cb_xstrdup(env);
    } else if (geteuid() == 0) {
        root = cb_xstrdup("/var/lib/cbuild");
    } else {
        const char *xdg = getenv("XDG_DATA_HOME");
        const char *home = getenv("HOME");
        /* The XDG spec says a relative XDG_DATA_HOME is invalid and ignored. */
        if (xdg && xdg[0] == '/')
            root = cb_xasprintf("%s/cbuild", xdg);
        else if (home && home[0] == '/')
            root = cb_xasprintf("%s/.local/share/cbuild", home);
        else
            return cb_error_set(err, 0,
                                "cannot find a root directory: set CBUILD_ROOT or HOME");
    }
    /* Relative roots are made absolute so that paths handed to other
     * processes (the runner, skopeo) mean the same thing after a chdir. */
    if (root[0] != '/') {
        cb_autofree char *cwd = getcwd(NULL, 0);
        if (cwd == NULL) {
            int e = errno;
            free(root);
            return cb_error_set(err, e, "getcwd");
        }
        char *abs = cb_xasprintf("%s/%s", cwd, root);
        free(root);
        root = abs;
    }
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        root[--n] = '\0';
    *out = root;
    return 0;
}

cb_root_t *cb_root_paths(const char *path) {
    cb_root_t *r = cb_xcalloc(1, sizeof *r);
    r->path = cb_xstrdup(path);
    r->store = cb_xasprintf("%s/store", r->path);
    r->layers = cb_xasprintf("%s/layers", r->path);
    r->cache = cb_xasprintf("%s/cache", r->path);
    r->tmp = cb_xasprintf("%s/tmp", r->path);
    return r;
}

int cb_root_open(const char *explicit_root, cb_root_t **out, cb_error_t **err) {
    cb_autofree char *path = NULL;
    if (cb_root_resolve(explicit_root, &path, err) < 0)
        return -1;
    cb_root_t *r = cb_root_paths(path);
    const char *dirs[] = {r->path, r->layers, r->cache, r->tmp};
    for (size_t i = 0; i < CB_ARRAY_LEN(dirs); i++) {
        if (cb_mkdir_p(dirs[i], 0700, err) < 0)
            goto fail;
    }
    if (cb_store_init(r->store, r->tmp, err) < 0)
        goto fail;
    *out = r;
    return 0;
fail:
    cb_error_wrap(err, "cbuild root %s", r->path);
    cb_root_free(r);
    return -1;
}

void cb_root_free(cb_root_t *root) {
    if (root == NULL)
        return;
    free(root->path);
    free(root->store);
    free(root->layers);
    free(root->cache);
    free(root->tmp);
    free(root);
}
