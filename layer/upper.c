/* Overlay upper dirs: as a layer (cb_layer_add_upper) and moved into the
 * merged root (cb_overlay_commit_upper). See upper.h for the rules. */
#include "layer/upper.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "layer/writer_private.h"

#define USER_OVERLAY "user.overlay."
#define TRUSTED_OVERLAY "trusted.overlay."
#define FUSE_OVERLAY "user.fuseoverlayfs."
#define WH_PREFIX ".wh."
#define OPQ_MARKER ".wh..wh..opq"
#define OPQ_MARKER_DEV ".wh..opq" /* the whiteout fuse-overlayfs puts beside OPQ_MARKER */

bool cb_overlay_xattr_name(const char *name) {
    return cb_str_has_prefix(name, USER_OVERLAY) || cb_str_has_prefix(name, TRUSTED_OVERLAY) ||
           cb_str_has_prefix(name, FUSE_OVERLAY);
}

/* "opaque" for trusted.overlay.opaque; NULL for a name that is not the
 * overlay's. */
static const char *overlay_key(const char *name) {
    static const char *const prefixes[] = {USER_OVERLAY, TRUSTED_OVERLAY, FUSE_OVERLAY};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (cb_str_has_prefix(name, prefixes[i]))
            return name + strlen(prefixes[i]);
    return NULL;
}

/* The name a whiteout hides: its own for the kernel's 0/0 character
 * device, NAME for fuse-overlayfs' ".wh.NAME" file; NULL when the entry is
 * not a whiteout. */
static bool is_whiteout_dev(const struct stat *st) {
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static const char *whiteout_of(const char *base, const struct stat *st) {
    if (is_whiteout_dev(st) && strcmp(base, OPQ_MARKER_DEV) != 0)
        return base;
    if (S_ISREG(st->st_mode) && cb_str_has_prefix(base, WH_PREFIX) && strcmp(base, OPQ_MARKER) != 0 &&
        base[strlen(WH_PREFIX)] != '\0')
        return base + strlen(WH_PREFIX);
    return NULL;
}

/* fuse-overlayfs' opaque marker (the directory holding it is opaque), and
 * the 0/0 device ".wh..opq" it makes beside it. A kernel overlay never
 * needs a whiteout in an opaque directory, so that name is read as part
 * of the marker, not as a whiteout. */
static bool is_opq_marker(const char *base, const struct stat *st) {
    return (S_ISREG(st->st_mode) && strcmp(base, OPQ_MARKER) == 0) ||
           (is_whiteout_dev(st) && strcmp(base, OPQ_MARKER_DEV) == 0);
}

/* An upper entry that is the overlay's bookkeeping, not content. */
static bool is_marker(const char *base, const struct stat *st) {
    return whiteout_of(base, st) != NULL || is_opq_marker(base, st);
}

/* Whether the directory parentfd/base holds an opaque marker. */
static bool has_opq_marker(int parentfd, const char *base) {
    cb_autofree char *p = cb_xasprintf("%s/%s", base, OPQ_MARKER);
    struct stat st;
    return fstatat(parentfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *prefix, const char *base) {
    return prefix[0] ? cb_xasprintf("%s/%s", prefix, base) : cb_xstrdup(base);
}

/* parentfd/base for the l*xattr calls, which take paths: Linux has no
 * *xattrat calls before 6.13. /proc/self/fd/N is the directory we hold
 * open (not a path that could have changed since), and the l* calls do
 * not follow base when it is a symlink. Works for every file type, where
 * the f* calls would need the entry opened (not possible for symlinks,
 * not wise for devices). */
static char *xattr_path(int parentfd, const char *base) {
    return cb_xasprintf("/proc/self/fd/%d/%s", parentfd, base);
}

/* The overlay's bookkeeping on one upper entry. */
typedef struct overlay_state {
    bool opaque;
    cb_strv_t names; /* its overlay xattrs, to drop */
} overlay_state_t;

static void overlay_state_free(overlay_state_t *s) {
    cb_strv_free(&s->names);
}

static int read_overlay_state(int parentfd, const char *base, const struct stat *st, const char *what,
                              overlay_state_t *out, cb_error_t **err) {
    if (S_ISDIR(st->st_mode) && has_opq_marker(parentfd, base))
        out->opaque = true;
    cb_autofree char *path = xattr_path(parentfd, base);
    cb_autostrv cb_strv_t all = CB_STRV_INIT;
    if (cb_xattr_names(-1, path, what, &all, err) < 0)
        return -1;
    for (size_t i = 0; i < all.len; i++) {
        const char *key = overlay_key(all.items[i]);
        if (key == NULL)
            continue;
        if (strcmp(key, "redirect") == 0 || strcmp(key, "metacopy") == 0)
            return cb_error_kind_set(err, CB_ERR_INTERNAL,
                                     "'%s' has %s: uppers of mounts with redirect_dir or "
                                     "metacopy are not complete on their own and not supported",
                                     what, all.items[i]);
        if (strcmp(key, "opaque") == 0) {
            char v[2];
            ssize_t n = lgetxattr(path, all.items[i], v, sizeof v);
            if (n < 0 && errno != ERANGE && errno != ENODATA)
                return cb_error_set(err, errno, "read %s of '%s'", all.items[i], what);
            if (n == 1 && v[0] == 'y')
                out->opaque = true; /* "x" only marks xattr whiteouts inside */
        }
        cb_strv_push(&out->names, all.items[i]);
    }
    return 0;
}

/* --- fuse-overlayfs' needless opaque marks ------------------------------ */

/* Takes the opaque mark off the upper directory parentfd/base: the marker
 * files, and the opaque xattrs among its overlay xattrs (only those it
 * has: trusted.* cannot even be removed in a user namespace). */
static int unmark_opaque(int parentfd, const char *base, const char *path, const overlay_state_t *ovl,
                         cb_error_t **err) {
    cb_autoclose int dfd = openat(parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat dst;
    if (dfd < 0 || fstat(dfd, &dst) < 0)
        return cb_error_set(err, errno, "open '%s' in the upper dir", path);
    static const char *const names[] = {OPQ_MARKER, OPQ_MARKER_DEV};
    for (size_t i = 0; i < 2; i++)
        if (unlinkat(dfd, names[i], 0) < 0 && errno != ENOENT)
            return cb_error_set(err, errno, "remove '%s/%s' from the upper dir", path, names[i]);
    for (size_t i = 0; i < ovl->names.len; i++) {
        const char *name = ovl->names.items[i];
        if (strcmp(overlay_key(name), "opaque") == 0 && fremovexattr(dfd, name) < 0 && errno != ENODATA)
            return cb_error_set(err, errno, "remove %s from '%s'", name, path);
    }
    /* The step's own mtime stays what it was. */
    struct timespec ts[2] = {dst.st_atim, dst.st_mtim};
    if (futimens(dfd, ts) < 0)
        return cb_error_set(err, errno, "set the times of '%s'", path);
    return 0;
}

/* upfd: an upper directory; lowfd: the lower's directory at the same path,
 * or -1 when the lower has none (then nothing below needs hiding). */
static int drop_idle_opaque(int upfd, int lowfd, const char *prefix, cb_error_t **err) {
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(upfd, prefix[0] ? prefix : "/", &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        const char *base = names.items[i];
        struct stat st;
        cb_autofree char *path = join(prefix, base);
        if (fstatat(upfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return cb_error_set(err, errno, "stat '%s' in the upper dir", path);
        if (!S_ISDIR(st.st_mode))
            continue;
        __attribute__((cleanup(overlay_state_free))) overlay_state_t ovl = {0};
        if (read_overlay_state(upfd, base, &st, path, &ovl, err) < 0)
            return -1;
        cb_autoclose int sub_low =
            lowfd >= 0 ? openat(lowfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        if (ovl.opaque && sub_low < 0 && unmark_opaque(upfd, base, path, &ovl, err) < 0)
            return -1;
        cb_autoclose int sub = openat(upfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return cb_error_set(err, errno, "open '%s' in the upper dir", path);
        /* Below an opaque directory the lower is hidden: nothing to compare. */
        if (drop_idle_opaque(sub, ovl.opaque ? -1 : sub_low, path, err) < 0)
            return -1;
    }
    return 0;
}

int cb_upper_drop_idle_opaque(int upper_dirfd, int lower_dirfd, cb_error_t **err) {
    cb_autoclose int up = openat(upper_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cb_autoclose int low = openat(lower_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (up < 0 || low < 0)
        return cb_error_set(err, errno, "opaque marks: open the upper and lower dirs");
    if (drop_idle_opaque(up, low, "", err) < 0)
        return cb_error_wrap(err, "opaque marks");
    return 0;
}

/* --- the layer ---------------------------------------------------------- */

/* cb_layer_walk's add step for an upper: markers for whiteouts and opaque
 * directories, cb_layer_add_at for the rest. */
static int add_upper_entry(cb_layer_writer_t *w, int parentfd, const char *base,
                           const char *name, const cb_layer_attrs_t *attrs, int *dir_out,
                           cb_error_t **err) {
    *dir_out = -1;
    struct stat st;
    if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return cb_error_set(err, errno, "layer: stat '%s'", name);
    const char *hidden = whiteout_of(base, &st);
    if (hidden) {
        cb_autofree char *target = cb_xasprintf("%.*s%s", (int)(strlen(name) - strlen(base)), name, hidden);
        return cb_layer_add_whiteout(w, target, err);
    }
    if (is_opq_marker(base, &st))
        return 0; /* its directory was written as opaque */
    __attribute__((cleanup(overlay_state_free))) overlay_state_t ovl = {0};
    if ((S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) &&
        read_overlay_state(parentfd, base, &st, name, &ovl, err) < 0)
        return cb_error_wrap(err, "layer");
    if (cb_layer_add_at(w, parentfd, base, name, attrs, dir_out, err) < 0)
        return -1;
    /* After the directory's entry, before its children (the walk goes on
     * with *dir_out when this returns). */
    return ovl.opaque && *dir_out >= 0 ? cb_layer_add_opaque(w, name, err) : 0;
}

/* Upper entries in the order of the names they hide or are: a ".wh.NAME"
 * file where a kernel whiteout NAME would be, so the layer is the same
 * whichever overlay made the upper. */
static const char *sort_key(const char *name) {
    if (cb_str_has_prefix(name, WH_PREFIX) && strcmp(name, OPQ_MARKER) != 0 && name[strlen(WH_PREFIX)] != '\0')
        return name + strlen(WH_PREFIX);
    return name;
}

static int by_hidden_name(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int c = strcmp(sort_key(x), sort_key(y));
    return c ? c : strcmp(x, y);
}

int cb_layer_add_upper(cb_layer_writer_t *w, int upper_dirfd, cb_error_t **err) {
    cb_autoclose int top = openat(upper_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0)
        return cb_error_set(err, errno, "layer: open the upper dir");
    cb_layer_writer_drop_overlay_xattrs(w, true);
    int r = cb_layer_walk(w, top, "", NULL, add_upper_entry, by_hidden_name, err);
    cb_layer_writer_drop_overlay_xattrs(w, false);
    return r;
}

/* --- the commit --------------------------------------------------------- */

static int commit_dir(int upfd, int mgfd, const char *prefix, cb_error_t **err);

/* lstat of an upper entry about to be moved; for one that is content (not
 * a whiteout or a socket) also drops its overlay xattrs and says whether
 * it is an opaque directory. */
static int prepare_entry(int upfd, const char *base, const char *path, struct stat *st,
                         bool *opaque, cb_error_t **err) {
    *opaque = false;
    if (fstatat(upfd, base, st, AT_SYMLINK_NOFOLLOW) < 0)
        return cb_error_set(err, errno, "stat '%s' in the upper dir", path);
    if (is_marker(base, st) || S_ISSOCK(st->st_mode))
        return 0;
    __attribute__((cleanup(overlay_state_free))) overlay_state_t ovl = {0};
    if (read_overlay_state(upfd, base, st, path, &ovl, err) < 0)
        return -1;
    cb_autofree char *xpath = ovl.names.len ? xattr_path(upfd, base) : NULL;
    for (size_t i = 0; i < ovl.names.len; i++)
        if (lremovexattr(xpath, ovl.names.items[i]) < 0 && errno != ENODATA)
            return cb_error_set(err, errno, "remove %s from '%s'", ovl.names.items[i], path);
    *opaque = ovl.opaque && S_ISDIR(st->st_mode);
    return 0;
}

/* Readies the upper directory dirfd to be moved whole: whiteouts, opaque
 * markers and sockets below it are deleted (the merged tree has nothing there for them
 * to hide: the stub lower's content, for one), overlay xattrs dropped.
 * Directory times stay what the overlay showed (and the layer has). */
static int clean_subtree(int dirfd, const char *prefix, cb_error_t **err) {
    struct stat dst;
    if (fstat(dirfd, &dst) < 0)
        return cb_error_set(err, errno, "stat '%s' in the upper dir", prefix);
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(dirfd, prefix, &names, err) < 0)
        return -1;
    bool removed = false;
    for (size_t i = 0; i < names.len; i++) {
        const char *base = names.items[i];
        cb_autofree char *path = join(prefix, base);
        struct stat st;
        bool opaque;
        if (prepare_entry(dirfd, base, path, &st, &opaque, err) < 0)
            return -1;
        if (is_marker(base, &st) || S_ISSOCK(st.st_mode)) {
            if (unlinkat(dirfd, base, 0) < 0)
                return cb_error_set(err, errno, "remove '%s' from the upper dir", path);
            removed = true;
        } else if (S_ISDIR(st.st_mode)) {
            cb_autoclose int sub =
                openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                return cb_error_set(err, errno, "open '%s' in the upper dir", path);
            if (clean_subtree(sub, path, err) < 0)
                return -1;
        }
    }
    struct timespec ts[2] = {dst.st_atim, dst.st_mtim};
    if (removed && futimens(dirfd, ts) < 0)
        return cb_error_set(err, errno, "set the times of '%s'", prefix);
    return 0;
}

/* Copies the xattrs of the directory from onto to (set only, as applying a
 * layer's directory entry over an existing directory does). */
static int copy_dir_xattrs(int from, int to, const char *path, cb_error_t **err) {
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_xattr_names(from, NULL, path, &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        const char *name = names.items[i];
        if (cb_overlay_xattr_name(name))
            continue;
        ssize_t n = fgetxattr(from, name, NULL, 0);
        cb_autofree char *value = n > 0 ? cb_xmalloc((size_t)n) : NULL;
        if (n > 0)
            n = fgetxattr(from, name, value, (size_t)n);
        if (n < 0)
            return cb_error_set(err, errno, "read %s of '%s'", name, path);
        if (fsetxattr(to, name, value ? value : "", (size_t)n, 0) < 0 && errno != ENOTSUP)
            return cb_error_set(err, errno, "set %s on '%s'", name, path);
    }
    return 0;
}

/* A directory in both trees: its children first, then its metadata, then
 * the emptied upper directory goes. */
static int merge_dir(int upfd, int mgfd, const char *base, const char *path,
                     const struct stat *st, cb_error_t **err) {
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    cb_autoclose int up = openat(upfd, base, flags);
    if (up < 0)
        return cb_error_set(err, errno, "open '%s' in the upper dir", path);
    cb_autoclose int mg = openat(mgfd, base, flags);
    if (mg < 0)
        return cb_error_set(err, errno, "open '%s' in the merged tree", path);
    if (commit_dir(up, mg, path, err) < 0 || copy_dir_xattrs(up, mg, path, err) < 0)
        return -1;
    /* Owner before mode: chown may clear setgid. */
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (fchown(mg, st->st_uid, st->st_gid) < 0 || fchmod(mg, st->st_mode & 07777) < 0 ||
        futimens(mg, ts) < 0)
        return cb_error_set(err, errno, "set the metadata of '%s'", path);
    if (unlinkat(upfd, base, AT_REMOVEDIR) < 0)
        return cb_error_set(err, errno, "remove '%s' from the upper dir", path);
    return 0;
}

/* The upper entry takes the name in merged: a directory cannot be renamed
 * over a non-directory or the other way round, nor over a non-empty
 * directory, so those go first; a non-directory over a non-directory is
 * one atomic rename. */
static int replace_entry(int upfd, int mgfd, const char *base, const char *path,
                         const struct stat *st, cb_error_t **err) {
    struct stat mst;
    if (fstatat(mgfd, base, &mst, AT_SYMLINK_NOFOLLOW) == 0) {
        if ((S_ISDIR(mst.st_mode) || S_ISDIR(st->st_mode)) && cb_rm_rf_at(mgfd, base, err) < 0)
            return cb_error_wrap(err, "replace '%s' in the merged tree", path);
    } else if (errno != ENOENT) {
        return cb_error_set(err, errno, "stat '%s' in the merged tree", path);
    }
    if (renameat(upfd, base, mgfd, base) < 0) {
        int e = errno;
        return cb_error_set(err, e, e == EXDEV ? "move '%s' (the upper dir and the merged tree "
                                                "must be on one file system)"
                                              : "move '%s' into the merged tree",
                            path);
    }
    return 0;
}

static int commit_entry(int upfd, int mgfd, const char *base, const char *path,
                        cb_error_t **err) {
    struct stat st;
    bool opaque;
    if (prepare_entry(upfd, base, path, &st, &opaque, err) < 0)
        return -1;
    const char *hidden = whiteout_of(base, &st);
    if (hidden || is_opq_marker(base, &st) || S_ISSOCK(st.st_mode)) {
        if (hidden && cb_rm_rf_at(mgfd, hidden, err) < 0)
            return cb_error_wrap(err, "whiteout '%s'", path);
        if (unlinkat(upfd, base, 0) < 0)
            return cb_error_set(err, errno, "remove '%s' from the upper dir", path);
        return 0;
    }
    if (S_ISDIR(st.st_mode) && !opaque) {
        struct stat mst;
        if (fstatat(mgfd, base, &mst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(mst.st_mode))
            return merge_dir(upfd, mgfd, base, path, &st, err);
    }
    if (S_ISDIR(st.st_mode)) {
        cb_autoclose int sub = openat(upfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            return cb_error_set(err, errno, "open '%s' in the upper dir", path);
        if (clean_subtree(sub, path, err) < 0)
            return -1;
    }
    return replace_entry(upfd, mgfd, base, path, &st, err);
}

static int commit_dir(int upfd, int mgfd, const char *prefix, cb_error_t **err) {
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(upfd, prefix[0] ? prefix : "/", &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        cb_autofree char *path = join(prefix, names.items[i]);
        if (commit_entry(upfd, mgfd, names.items[i], path, err) < 0)
            return -1;
    }
    return 0;
}

int cb_overlay_commit_upper(int upper_dirfd, int merged_dirfd, cb_error_t **err) {
    const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    cb_autoclose int up = openat(upper_dirfd, ".", flags);
    if (up < 0)
        return cb_error_set(err, errno, "overlay commit: open the upper dir");
    cb_autoclose int mg = openat(merged_dirfd, ".", flags);
    if (mg < 0)
        return cb_error_set(err, errno, "overlay commit: open the merged tree");
    if (commit_dir(up, mg, "", err) < 0)
        return cb_error_wrap(err, "overlay commit");
    return 0;
}
