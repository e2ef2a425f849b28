/* Where COPY/ADD entries land: the destination resolved inside the image
 * root (following the image's own symlinks), and the directories to create
 * on the way there. */
#include <errno.h>
#include <string.h>

#include "builder/copy_private.h"
#include "common/match.h"
#include "common/util.h"

static bool names_dir(const char *dest) {
    return cb_str_has_suffix(dest, "/") || cb_str_has_suffix(dest, "/.") ||
           strcmp(dest, ".") == 0;
}

int copy_dest_resolve(copy_ctx_t *c, cb_error_t **err) {
    const char *dest = c->ins->dest;
    if (dest == NULL || dest[0] == '\0')
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: empty destination", c->cmd);
    const char *wd = c->env->workdir && c->env->workdir[0] ? c->env->workdir : "/";
    cb_autofree char *joined =
        dest[0] == '/' ? cb_xstrdup(dest) : cb_xasprintf("%s/%s", wd, dest);
    /* Cleaned as text first, as BuildKit's path join does: "/link/.." is
     * "/" whatever /link points to; symlinks count only after that. */
    cb_autofree char *full = cb_path_clean(joined);
    if (copy_resolve(c->env->dest_root_fd, full, true, &c->dest, err) < 0)
        return cb_error_wrap(err, "%s: destination '%s'", c->cmd, dest);
    c->dest_is_dir = names_dir(dest) || (c->dest.exists && S_ISDIR(c->dest.st.st_mode));
    return 0;
}

char *copy_dest_file_name(const copy_ctx_t *c, const char *base) {
    if (!c->dest_is_dir)
        return cb_xstrdup(c->dest.path);
    return c->dest.path[0] ? cb_xasprintf("%s/%s", c->dest.path, base) : cb_xstrdup(base);
}

/* Whether the directory prefix (of k components) of the destination is in
 * the image already. */
static bool in_image(const copy_ctx_t *c, const char *dir, size_t k) {
    size_t n = strlen(dir);
    const char *d = c->dest.path;
    return k <= c->dest.nexisting && strncmp(d, dir, n) == 0 && (d[n] == '/' || d[n] == '\0');
}

static void made_up_attrs(const copy_ctx_t *c, cb_layer_attrs_t *a) {
    memset(a, 0, sizeof *a);
    a->set_uid = a->set_gid = true;
    a->uid = c->set_owner ? c->uid : 0;
    a->gid = c->set_owner ? c->gid : 0;
    a->set_mode = true;
    a->mode = 0755;
}

static int add_made_up_dir(copy_ctx_t *c, const char *name, size_t k, cb_error_t **err) {
    if (in_image(c, name, k) || cb_pathset_has(&c->dirs, name))
        return 0;
    cb_layer_attrs_t a;
    made_up_attrs(c, &a);
    if (cb_layer_add_dir(c->w, name, &a, err) < 0)
        return -1;
    cb_pathset_add(&c->dirs, name);
    return 0;
}

int copy_dest_parents(copy_ctx_t *c, const char *name, cb_error_t **err) {
    cb_autofree char *copy = cb_xstrdup(name);
    size_t k = 0;
    for (char *p = strchr(copy, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        k++;
        int r = add_made_up_dir(c, copy, k, err);
        *p = '/';
        if (r < 0)
            return -1;
    }
    return 0;
}

int copy_dest_mkdir(copy_ctx_t *c, const char *name, cb_error_t **err) {
    if (name[0] == '\0')
        return 0; /* the root always exists */
    if (strcmp(name, c->dest.path) == 0 && c->dest.exists) {
        if (!S_ISDIR(c->dest.st.st_mode))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: cannot copy to non-directory: /%s",
                                     c->cmd, name);
        return 0;
    }
    if (copy_dest_parents(c, name, err) < 0)
        return -1;
    size_t k = 1;
    for (const char *p = name; *p; p++)
        k += *p == '/';
    return add_made_up_dir(c, name, k, err);
}

void copy_attrs(const copy_ctx_t *c, uint32_t st_mode, cb_layer_attrs_t *a) {
    memset(a, 0, sizeof *a);
    if (c->set_owner) {
        a->set_uid = a->set_gid = true;
        a->uid = c->uid;
        a->gid = c->gid;
    }
    if (c->chmod.kind != COPY_CHMOD_NONE && !S_ISLNK(st_mode)) {
        a->set_mode = true;
        a->mode = copy_chmod_apply(&c->chmod, st_mode);
    }
}
