/* Local sources of COPY/ADD: a plain path (followed when it is a symlink),
 * a wildcard (Go filepath.Match per path component, BuildKit's
 * splitWildcards/resolveWildcards), or with --parents a path kept under the
 * destination from a "/./" pivot. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "builder/copy_private.h"
#include "common/match.h"
#include "common/util.h"

bool copy_has_wildcards(const char *s) {
    for (; *s; s++) {
        if (*s == '\\') {
            if (!*++s)
                break;
        } else if (*s == '*' || *s == '?' || *s == '[') {
            return true;
        }
    }
    return false;
}

const char *copy_where(const copy_ctx_t *c) {
    return c->from ? "the --from source" : "the build context";
}

static int not_found(const copy_ctx_t *c, const char *src, cb_error_t **err) {
    cb_error_kind_set(err, CB_ERR_INPUT, "%s: source '%s': no such file or directory in %s",
                      c->cmd, src, copy_where(c));
    (*err)->status = ENOENT;
    return -1;
}

/* "/a/./b/../c" -> "a/c": sources are taken from the root, never above it. */
static char *clean_rel(const char *s) {
    cb_autofree char *abs = cb_xasprintf("/%s", s);
    char *clean = cb_path_clean(abs);
    size_t skip = strspn(clean, "/");
    memmove(clean, clean + skip, strlen(clean + skip) + 1);
    return clean;
}

static void split_components(const char *rel, cb_strv_t *out) {
    cb_autofree char *copy = cb_xstrdup(rel);
    char *save = NULL;
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
        cb_strv_push(out, t);
}

/* ---- walking a pattern, component by component ---- */

typedef struct match_walk match_walk_t;
typedef int (*match_fn)(match_walk_t *mw, int dirfd, const char *base, const char *root_rel,
                        const char *rel, const struct stat *st, copy_pending_t *pending,
                        cb_error_t **err);

struct match_walk {
    copy_ctx_t *c;
    const cb_strv_t *comps;
    bool use_exclude;     /* --parents: --exclude is relative to the pivot */
    const char *target;   /* --parents: entry name of the pivot */
    match_fn on_match;
    cb_strv_t matches;    /* wildcards: paths from the root */
    size_t nmatched;
};

static int walk_pattern(match_walk_t *mw, int dirfd, const char *root_rel, const char *rel,
                        size_t depth, copy_pending_t *pending, cb_error_t **err) {
    copy_ctx_t *c = mw->c;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (copy_list_dir(dirfd, root_rel[0] ? root_rel : ".", &names, err) < 0)
        return -1;
    const char *pattern = mw->comps->items[depth];
    bool last = depth + 1 == mw->comps->len;
    for (size_t i = 0; i < names.len; i++) {
        const char *base = names.items[i];
        int m = cb_match(pattern, base, err);
        if (m < 0)
            return cb_error_wrap(err, "%s: source pattern", c->cmd);
        if (m == 0)
            continue;
        cb_autofree char *crel = copy_join(root_rel, base);
        cb_autofree char *csrc = copy_join(rel, base);
        struct stat st;
        if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return cb_error_set(err, errno, "stat '%s'", crel);
        if (last) {
            bool in = false;
            if (copy_in_context(c, dirfd, base, crel, &st, &in, err) < 0)
                return -1;
            bool excluded = mw->use_exclude && c->exclude && cb_ignore_matches(c->exclude, csrc);
            if (in && !excluded && mw->on_match(mw, dirfd, base, crel, csrc, &st, pending, err) < 0)
                return -1;
            continue;
        }
        /* Only real directories are walked, as filepath.Walk does; an
         * ignored one only when an exception may re-include below it. */
        if (!S_ISDIR(st.st_mode) || (copy_ignored(c, crel) && cb_ignore_skip_dir(c->ignore, crel)))
            continue;
        cb_autofree char *cname = copy_join(mw->target ? mw->target : "", csrc);
        copy_pending_t frame = {.up = pending, .parentfd = dirfd, .base = base, .name = cname,
                                .rel = csrc, .st = st};
        cb_autoclose int sub = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return cb_error_set(err, errno, "open directory '%s'", crel);
        if (walk_pattern(mw, sub, crel, csrc, depth + 1, &frame, err) < 0)
            return -1;
    }
    return 0;
}

static int collect_match(match_walk_t *mw, int dirfd, const char *base, const char *root_rel,
                         const char *rel, const struct stat *st, copy_pending_t *pending,
                         cb_error_t **err) {
    cb_strv_push(&mw->matches, root_rel);
    return 0;
}

/* ---- one resolved source ---- */

/* A directory source: its contents go into the destination. */
static int copy_dir_source(copy_ctx_t *c, const copy_resolved_t *r, cb_error_t **err) {
    copy_walk_t wk = {.c = c, .use_ignore = !c->from, .use_exclude = true};
    cb_autoclose int dirfd = -1;
    if (copy_dest_mkdir(c, c->dest.path, err) < 0 ||
        copy_open_dir(c->src_root, r->path, &dirfd, err) < 0)
        return -1;
    return copy_walk_dir(&wk, dirfd, r->path, "", c->dest.path, NULL, err);
}

/* Any other source: one entry, or for ADD a tar archive's contents. */
static int copy_file_source(copy_ctx_t *c, const char *named, const copy_resolved_t *r,
                            cb_error_t **err) {
    copy_walk_t wk = {.c = c, .use_ignore = !c->from, .use_exclude = true};
    cb_autoclose int parentfd = -1;
    const char *rbase = NULL;
    if (copy_open_parent(c->src_root, r->path, &parentfd, &rbase, err) < 0)
        return -1;
    if (c->is_add && c->ins->unpack != 0 && S_ISREG(r->st.st_mode)) {
        /* O_NONBLOCK: a fifo swapped in since the stat must not block. */
        cb_autoclose int fd = openat(parentfd, rbase, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return cb_error_set(err, errno, "%s: open '%s'", c->cmd, named);
        struct stat now;
        if (fstat(fd, &now) < 0)
            return cb_error_set(err, errno, "%s: stat '%s'", c->cmd, named);
        if (!S_ISREG(now.st_mode))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: '%s' changed while being read", c->cmd, named);
        bool is_tar = false;
        if (copy_is_archive(fd, &is_tar, err) < 0)
            return -1;
        if (is_tar)
            return copy_add_archive(c, fd, named, c->dest.path, err);
    }
    const char *slash = strrchr(named, '/');
    cb_autofree char *name = copy_dest_file_name(c, slash ? slash + 1 : named);
    if (copy_dest_parents(c, name, err) < 0)
        return -1;
    return copy_emit(&wk, parentfd, rbase, name, "", &r->st, err);
}

/* Whether the resolved source r is in the build context: an ignored
 * directory is still there when an exception re-includes something below
 * it (the walk then copies only that). */
static int resolved_in_context(const copy_ctx_t *c, const copy_resolved_t *r, bool *in,
                               cb_error_t **err) {
    *in = r->exists;
    if (!r->exists || !copy_ignored(c, r->path))
        return 0;
    cb_autoclose int parentfd = -1;
    const char *base = NULL;
    if (copy_open_parent(c->src_root, r->path, &parentfd, &base, err) < 0)
        return -1;
    return copy_in_context(c, parentfd, base, r->path, &r->st, in, err);
}

/* Copies the source named (a path from the root, symlinks followed). */
static int copy_named(copy_ctx_t *c, const char *named, cb_error_t **err) {
    copy_resolved_t r;
    cb_autoerr cb_error_t *rerr = NULL;
    if (copy_resolve(c->src_root, named, true, &r, &rerr) < 0) {
        if (rerr->status == ENOTDIR || rerr->status == ELOOP)
            return not_found(c, named[0] ? named : ".", err);
        *err = cb_steal_pointer(&rerr);
        return -1;
    }
    bool in = false;
    int rc = resolved_in_context(c, &r, &in, err);
    if (rc == 0 && !in)
        rc = not_found(c, named[0] ? named : ".", err);
    else if (rc == 0 && S_ISDIR(r.st.st_mode))
        rc = copy_dir_source(c, &r, err);
    else if (rc == 0)
        rc = copy_file_source(c, named, &r, err);
    copy_resolved_clear(&r);
    return rc;
}

/* ---- --parents ---- */

static int parents_match(match_walk_t *mw, int dirfd, const char *base, const char *root_rel,
                         const char *rel, const struct stat *st, copy_pending_t *pending,
                         cb_error_t **err) {
    copy_ctx_t *c = mw->c;
    copy_walk_t wk = {.c = c, .use_ignore = !c->from, .use_exclude = true};
    cb_autofree char *name = copy_join(mw->target, rel);
    mw->nmatched++;
    if (copy_dest_mkdir(c, mw->target, err) < 0 || copy_pending_flush(&wk, pending, err) < 0 ||
        copy_emit(&wk, dirfd, base, name, rel, st, err) < 0)
        return -1;
    if (!S_ISDIR(st->st_mode))
        return 0;
    cb_autoclose int sub = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return cb_error_set(err, errno, "open directory '%s'", root_rel);
    return copy_walk_dir(&wk, sub, root_rel, rel, name, NULL, err);
}

static int copy_parents(copy_ctx_t *c, const char *src, bool count_only, size_t *count,
                        cb_error_t **err) {
    const char *pivot_end = strstr(src, "/./");
    cb_autofree char *pivot_raw = pivot_end ? cb_xstrndup(src, (size_t)(pivot_end - src))
                                            : cb_xstrdup("");
    cb_autofree char *pivot = clean_rel(pivot_raw);
    cb_autofree char *pattern = clean_rel(pivot_end ? pivot_end + 3 : src);
    if (copy_has_wildcards(pivot))
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s --parents: wildcards before the '/./' pivot are not "
                                 "supported: '%s'",
                                 c->cmd, src);
    if (count_only) {
        (*count)++;
        return 0;
    }
    if (pattern[0] == '\0') /* the pivot itself: its contents, as without --parents */
        return copy_named(c, pivot, err);
    copy_resolved_t r;
    if (copy_resolve(c->src_root, pivot, true, &r, err) < 0)
        return cb_error_wrap(err, "%s: source '%s'", c->cmd, src);
    if (!r.exists || !S_ISDIR(r.st.st_mode) || copy_ignored(c, r.path)) {
        copy_resolved_clear(&r);
        return not_found(c, src, err);
    }
    cb_autoclose int dirfd = -1;
    int rc = copy_open_dir(c->src_root, r.path, &dirfd, err);
    match_walk_t mw = {.c = c, .use_exclude = true, .target = c->dest.path,
                       .on_match = parents_match};
    cb_autostrv cb_strv_t comps = CB_STRV_INIT;
    split_components(pattern, &comps);
    mw.comps = &comps;
    if (rc == 0)
        rc = walk_pattern(&mw, dirfd, r.path, "", 0, NULL, err);
    copy_resolved_clear(&r);
    if (rc < 0)
        return -1;
    if (mw.nmatched == 0) {
        if (!copy_has_wildcards(pattern))
            return not_found(c, src, err);
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: no files match '%s' in %s", c->cmd,
                                 src, copy_where(c));
    }
    return 0;
}

/* ---- entry point ---- */

int copy_local_source(copy_ctx_t *c, const char *src, bool count_only, size_t *count,
                      cb_error_t **err) {
    if (c->ins->parents)
        return copy_parents(c, src, count_only, count, err);
    cb_autofree char *clean = clean_rel(src);
    if (!copy_has_wildcards(clean)) {
        if (count_only) {
            (*count)++;
            return 0;
        }
        return copy_named(c, clean, err);
    }
    /* Split at the first component with a wildcard: the fixed part is
     * resolved (and followed), the rest is matched. */
    cb_autostrv cb_strv_t all = CB_STRV_INIT;
    split_components(clean, &all);
    cb_autobuf cb_buf_t fixed = CB_BUF_INIT;
    size_t k = 0;
    for (; k < all.len && !copy_has_wildcards(all.items[k]); k++) {
        if (fixed.len)
            cb_buf_putc(&fixed, '/');
        cb_buf_puts(&fixed, all.items[k]);
    }
    cb_strv_t comps = {all.items + k, all.len - k, all.len - k};
    match_walk_t mw = {.c = c, .comps = &comps, .on_match = collect_match};
    copy_resolved_t r;
    if (copy_resolve(c->src_root, cb_buf_str(&fixed), true, &r, err) < 0) {
        cb_strv_free(&mw.matches);
        return cb_error_wrap(err, "%s: source '%s'", c->cmd, src);
    }
    int rc = 0;
    if (r.exists && S_ISDIR(r.st.st_mode) &&
        !(copy_ignored(c, r.path) && cb_ignore_skip_dir(c->ignore, r.path))) {
        cb_autoclose int dirfd = -1;
        rc = copy_open_dir(c->src_root, r.path, &dirfd, err);
        if (rc == 0)
            rc = walk_pattern(&mw, dirfd, r.path, "", 0, NULL, err);
    }
    copy_resolved_clear(&r);
    if (rc == 0 && mw.matches.len == 0 && c->unmatched == NULL)
        c->unmatched = src;
    if (rc == 0 && count_only)
        *count += mw.matches.len;
    for (size_t i = 0; rc == 0 && !count_only && i < mw.matches.len; i++)
        rc = copy_named(c, mw.matches.items[i], err);
    cb_strv_free(&mw.matches);
    return rc;
}
