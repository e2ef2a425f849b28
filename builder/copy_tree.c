/* Host entries into the layer: one entry (copy_emit) or a directory's
 * contents (copy_walk_dir), sorted, read through directory descriptors with
 * O_NOFOLLOW, with the context's ignore rules and --exclude applied. The
 * layer writer's own tree walk has no filter hook, hence this one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "builder/copy_private.h"
#include "common/fsutil.h"
#include "common/util.h"

/* Three per file of a COPY's walk, and its cache key's too: a printf for
 * each was a quarter of a cached rebuild's instructions. */
char *copy_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la == 0)
        return cb_xstrdup(b);
    char *s = cb_xmalloc(la + 1 + lb + 1);
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

bool copy_ignored(const copy_ctx_t *c, const char *rel) {
    return c->ignore && rel[0] && cb_ignore_matches(c->ignore, rel);
}

int copy_in_context(const copy_ctx_t *c, int parentfd, const char *base, const char *rel,
                    const struct stat *st, bool *out, cb_error_t **err) {
    *out = !copy_ignored(c, rel);
    if (*out || !S_ISDIR(st->st_mode) || cb_ignore_skip_dir(c->ignore, rel))
        return 0;
    cb_autoclose int dirfd = openat(parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0)
        return cb_error_set(err, errno, "open directory '%s'", rel);
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (copy_list_dir(dirfd, rel, &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len && !*out; i++) {
        cb_autofree char *crel = copy_join(rel, names.items[i]);
        struct stat cst;
        if (fstatat(dirfd, names.items[i], &cst, AT_SYMLINK_NOFOLLOW) < 0)
            return cb_error_set(err, errno, "stat '%s'", crel);
        if (copy_in_context(c, dirfd, names.items[i], crel, &cst, out, err) < 0)
            return -1;
    }
    return 0;
}

int copy_list_dir(int dirfd, const char *what, cb_strv_t *out, cb_error_t **err) {
    return cb_dir_list_sorted(dirfd, what, out, err);
}

int copy_emit(const copy_walk_t *wk, int parentfd, const char *base, const char *name,
              const char *rel, const struct stat *st, cb_error_t **err) {
    copy_ctx_t *c = wk->c;
    /* Two sources may both hold a directory: one entry is enough. */
    if (S_ISDIR(st->st_mode) && cb_pathset_has(&c->dirs, name))
        return 0;
    cb_layer_attrs_t a;
    copy_attrs(c, st->st_mode, &a);
    if (wk->owner && !c->chown_given) {
        uint32_t uid = 0, gid = 0;
        wk->owner(wk->owner_ctx, rel, &uid, &gid);
        a.set_uid = a.set_gid = true;
        a.uid = uid;
        a.gid = gid;
    }
    if (cb_layer_add_path_stat(c->w, name, parentfd, base, st, &a, err) < 0)
        return -1;
    if (S_ISDIR(st->st_mode))
        cb_pathset_add(&c->dirs, name);
    return 0;
}

int copy_pending_flush(const copy_walk_t *wk, copy_pending_t *p, cb_error_t **err) {
    if (p == NULL || p->emitted)
        return 0;
    if (copy_pending_flush(wk, p->up, err) < 0)
        return -1;
    if (copy_emit(wk, p->parentfd, p->base, p->name, p->rel, &p->st, err) < 0)
        return -1;
    p->emitted = true;
    return 0;
}

/* Whether an excluded directory may still hold included entries. */
static bool must_descend(const copy_walk_t *wk, bool ignored, const char *root_rel, bool excluded,
                         const char *src_rel) {
    const copy_ctx_t *c = wk->c;
    if (ignored && cb_ignore_skip_dir(c->ignore, root_rel))
        return false;
    if (excluded && cb_ignore_skip_dir(c->exclude, src_rel))
        return false;
    return true;
}

int copy_walk_dir(const copy_walk_t *wk, int dirfd, const char *root_rel, const char *src_rel,
                  const char *name, copy_pending_t *pending, cb_error_t **err) {
    copy_ctx_t *c = wk->c;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (copy_list_dir(dirfd, root_rel[0] ? root_rel : ".", &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        const char *base = names.items[i];
        cb_autofree char *crel = copy_join(root_rel, base);
        cb_autofree char *csrc = copy_join(src_rel, base);
        cb_autofree char *cname = copy_join(name, base);
        struct stat st;
        if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return cb_error_set(err, errno, "stat '%s'", crel);
        bool ignored = wk->use_ignore && copy_ignored(c, crel);
        bool excluded = wk->use_exclude && c->exclude && cb_ignore_matches(c->exclude, csrc);
        bool is_dir = S_ISDIR(st.st_mode);
        copy_pending_t frame = {.up = pending, .parentfd = dirfd, .base = base, .name = cname,
                                .rel = csrc, .st = st};
        if (ignored || excluded) {
            if (!is_dir || !must_descend(wk, ignored, crel, excluded, csrc))
                continue;
        } else {
            if (copy_pending_flush(wk, pending, err) < 0 ||
                copy_emit(wk, dirfd, base, cname, csrc, &st, err) < 0)
                return -1;
            frame.emitted = true;
        }
        if (!is_dir)
            continue;
        cb_autoclose int sub = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return cb_error_set(err, errno, "open directory '%s'", crel);
        if (copy_walk_dir(wk, sub, crel, csrc, cname, &frame, err) < 0)
            return -1;
    }
    return 0;
}
