/* The changes between two trees as layer entries. See treediff.h for the
 * rules. */
#include "layer/treediff.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "layer/pathset.h"
#include "layer/treeclone.h"

typedef struct differ {
    cb_layer_writer_t *w;
    cb_inode_names_t *old_links, *new_links; /* names of inodes with nlink > 1 */
    cb_pathset_t old_linked; /* every name in old_links */
    cb_pathset_t kept;       /* those names that new has as non-directories */
} differ_t;

static char *join(const char *prefix, const char *base) {
    return prefix[0] ? cb_xasprintf("%s/%s", prefix, base) : cb_xstrdup(base);
}

static int open_subdir(int parent, const char *base, const char *name, bool old,
                       cb_error_t **err) {
    int fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open '%s' in the %s tree", name, old ? "old" : "new");
    return fd;
}

/* --- hardlink groups --------------------------------------------------------- */

static void note_links(differ_t *d, bool old, const char *name, const struct stat *st) {
    if (old) {
        if (st->st_nlink > 1) {
            cb_inode_names_add(d->old_links, st->st_dev, st->st_ino, name);
            cb_pathset_add(&d->old_linked, name);
        }
        return;
    }
    if (st->st_nlink > 1)
        cb_inode_names_add(d->new_links, st->st_dev, st->st_ino, name);
    if (cb_pathset_has(&d->old_linked, name))
        cb_pathset_add(&d->kept, name);
}

/* Records the hardlinked non-directories below dirfd in d (old first, then
 * new: kept needs old_linked). Names come in walk order, which is the same
 * in both trees. */
static int scan_links(differ_t *d, bool old, int dirfd, const char *prefix, cb_error_t **err) {
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(dirfd, prefix[0] ? prefix : "/", &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        cb_autofree char *name = join(prefix, names.items[i]);
        struct stat st;
        if (fstatat(dirfd, names.items[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            return cb_error_set(err, errno, "stat '%s'", name);
        if (S_ISSOCK(st.st_mode))
            continue;
        if (!S_ISDIR(st.st_mode)) {
            note_links(d, old, name, &st);
            continue;
        }
        cb_autoclose int sub = open_subdir(dirfd, names.items[i], name, old, err);
        if (sub < 0 || scan_links(d, old, sub, name, err) < 0)
            return -1;
    }
    return 0;
}

/* True when the names of name's inode in new are not exactly its old
 * names that new still has as non-directories (treediff.h). */
static bool links_changed(const differ_t *d, const char *name, const struct stat *o,
                          const struct stat *n) {
    char *alone_items[] = {(char *)name, NULL};
    const cb_strv_t alone = {alone_items, 1, 1};
    const cb_strv_t *now = n->st_nlink > 1 ? cb_inode_names_get(d->new_links, n->st_dev, n->st_ino)
                                           : NULL;
    const cb_strv_t *was = o->st_nlink > 1 ? cb_inode_names_get(d->old_links, o->st_dev, o->st_ino)
                                           : NULL;
    if (now == NULL)
        now = &alone;
    if (was == NULL)
        was = &alone; /* name itself is in new: kept, not in the set */
    size_t i = 0, j = 0;
    for (;;) {
        while (was != &alone && j < was->len && !cb_pathset_has(&d->kept, was->items[j]))
            j++;
        if (i == now->len || j == was->len)
            return i != now->len || j != was->len;
        if (strcmp(now->items[i], was->items[j]) != 0)
            return true;
        i++;
        j++;
    }
}

/* --- comparing one entry ------------------------------------------------------ */

/* The xattrs a layer carries (writer.c keeps the same). */
static bool layer_xattr(const char *name) {
    return strcmp(name, "security.capability") == 0 || cb_str_has_prefix(name, "user.") ||
           cb_str_has_prefix(name, "trusted.");
}

static int read_target(int parent, const char *base, const char *name, char *buf, size_t cap,
                       cb_error_t **err) {
    ssize_t n = readlinkat(parent, base, buf, cap);
    if (n < 0 || (size_t)n == cap)
        return cb_error_set(err, n < 0 ? errno : ENAMETOOLONG, "read symlink '%s'", name);
    buf[n] = '\0';
    return 0;
}

/* *out: whether base (of one type in both trees) differs in anything a
 * layer entry carries. */
static int entry_differs(const differ_t *d, int oldfd, int newfd, const char *base,
                         const char *name, const struct stat *o, const struct stat *n, bool *out,
                         cb_error_t **err) {
    *out = true;
    if ((o->st_mode & 07777) != (n->st_mode & 07777) || o->st_uid != n->st_uid ||
        o->st_gid != n->st_gid || o->st_mtim.tv_sec != n->st_mtim.tv_sec ||
        o->st_mtim.tv_nsec != n->st_mtim.tv_nsec)
        return 0;
    if (S_ISREG(n->st_mode) && o->st_size != n->st_size)
        return 0;
    if ((S_ISCHR(n->st_mode) || S_ISBLK(n->st_mode)) && o->st_rdev != n->st_rdev)
        return 0;
    if (S_ISLNK(n->st_mode)) {
        char ot[PATH_MAX], nt[PATH_MAX];
        if (read_target(oldfd, base, name, ot, sizeof ot, err) < 0 ||
            read_target(newfd, base, name, nt, sizeof nt, err) < 0)
            return -1;
        if (strcmp(ot, nt) != 0)
            return 0;
    }
    cb_autobuf cb_buf_t ox = CB_BUF_INIT;
    cb_autobuf cb_buf_t nx = CB_BUF_INIT;
    if (cb_tree_xattrs(oldfd, base, name, layer_xattr, &ox, err) < 0 ||
        cb_tree_xattrs(newfd, base, name, layer_xattr, &nx, err) < 0)
        return -1;
    if (ox.len != nx.len || (ox.len && memcmp(ox.data, nx.data, ox.len) != 0))
        return 0;
    *out = !S_ISDIR(n->st_mode) && links_changed(d, name, o, n);
    return 0;
}

/* --- the walk ------------------------------------------------------------------ */

/* A directory of both trees on the way down; its entry is written at the
 * first change found in or below it. */
typedef struct frame {
    struct frame *up; /* NULL below the root */
    int newparent;    /* the directory holding it in new */
    const char *base;
    const char *name;
    bool written;
} frame_t;

static int write_dirs(differ_t *d, frame_t *f, cb_error_t **err) {
    if (f == NULL || f->written)
        return 0;
    if (write_dirs(d, f->up, err) < 0)
        return -1;
    f->written = true;
    return cb_layer_add_path(d->w, f->name, f->newparent, f->base, NULL, err);
}

/* One name of a directory, as each tree has it (a socket counts as absent). */
typedef struct pair {
    char *base;
    bool in_old, in_new;
    struct stat old, new;
} pair_t;

static int stat_side(int dirfd, const char *base, const char *prefix, struct stat *st,
                     bool *present, cb_error_t **err) {
    if (fstatat(dirfd, base, st, AT_SYMLINK_NOFOLLOW) < 0) {
        cb_autofree char *name = join(prefix, base);
        return cb_error_set(err, errno, "stat '%s'", name);
    }
    *present = !S_ISSOCK(st->st_mode);
    return 0;
}

/* The names of both directories, merged in bytewise order, with their
 * stats, into *out (n of them, also on failure: free_pairs). */
static int pair_names(int oldfd, int newfd, const char *prefix, pair_t **out, size_t *n,
                      cb_error_t **err) {
    cb_autostrv cb_strv_t on = CB_STRV_INIT;
    cb_autostrv cb_strv_t nn = CB_STRV_INIT;
    const char *what = prefix[0] ? prefix : "/";
    if (cb_dir_list_sorted(oldfd, what, &on, err) < 0 ||
        cb_dir_list_sorted(newfd, what, &nn, err) < 0)
        return -1;
    pair_t *p = *out = cb_xcalloc(on.len + nn.len + 1, sizeof *p);
    size_t i = 0, j = 0;
    int r = 0;
    while (r == 0 && (i < on.len || j < nn.len)) {
        int c = i == on.len ? 1 : j == nn.len ? -1 : strcmp(on.items[i], nn.items[j]);
        pair_t *e = &p[(*n)++];
        e->base = cb_xstrdup(c <= 0 ? on.items[i] : nn.items[j]);
        if (c <= 0)
            r = stat_side(oldfd, on.items[i++], prefix, &e->old, &e->in_old, err);
        if (r == 0 && c >= 0)
            r = stat_side(newfd, nn.items[j++], prefix, &e->new, &e->in_new, err);
    }
    return r;
}

static void free_pairs(pair_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(p[i].base);
    free(p);
}

static int diff_dir(differ_t *d, int oldfd, int newfd, frame_t *f, cb_error_t **err);

/* A name new has: added, replaced, changed or the same. */
static int diff_entry(differ_t *d, int oldfd, int newfd, frame_t *f, const pair_t *e,
                      cb_error_t **err) {
    cb_autofree char *name = join(f ? f->name : "", e->base);
    mode_t type = e->new.st_mode & S_IFMT;
    if (!e->in_old || (e->old.st_mode & S_IFMT) != type) {
        /* Added, or replacing another type: the whole entry, no whiteout. */
        if (write_dirs(d, f, err) < 0)
            return -1;
        return cb_layer_add_tree(d->w, name, newfd, e->base, NULL, err);
    }
    bool differs;
    if (entry_differs(d, oldfd, newfd, e->base, name, &e->old, &e->new, &differs, err) < 0)
        return -1;
    if (type != S_IFDIR) {
        if (!differs)
            return 0;
        if (write_dirs(d, f, err) < 0)
            return -1;
        return cb_layer_add_path(d->w, name, newfd, e->base, NULL, err);
    }
    frame_t sub = {.up = f, .newparent = newfd, .base = e->base, .name = name};
    if (differs && write_dirs(d, &sub, err) < 0)
        return -1;
    cb_autoclose int o = open_subdir(oldfd, e->base, name, true, err);
    if (o < 0)
        return -1;
    cb_autoclose int n = open_subdir(newfd, e->base, name, false, err);
    if (n < 0)
        return -1;
    return diff_dir(d, o, n, &sub, err);
}

static int diff_dir(differ_t *d, int oldfd, int newfd, frame_t *f, cb_error_t **err) {
    const char *prefix = f ? f->name : "";
    pair_t *pairs = NULL;
    size_t n = 0;
    int r = pair_names(oldfd, newfd, prefix, &pairs, &n, err);
    /* Whiteouts first, then the rest (OCI: whiteouts before siblings). */
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (!pairs[i].in_old || pairs[i].in_new)
            continue;
        cb_autofree char *name = join(prefix, pairs[i].base);
        r = write_dirs(d, f, err);
        if (r == 0)
            r = cb_layer_add_whiteout(d->w, name, err);
    }
    for (size_t i = 0; r == 0 && i < n; i++)
        if (pairs[i].in_new)
            r = diff_entry(d, oldfd, newfd, f, &pairs[i], err);
    free_pairs(pairs, n);
    return r;
}

int cb_layer_add_tree_diff(cb_layer_writer_t *w, int old_dirfd, int new_dirfd, cb_error_t **err) {
    const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    cb_autoclose int old = openat(old_dirfd, ".", flags);
    if (old < 0)
        return cb_error_set(err, errno, "layer diff: open the old tree");
    cb_autoclose int new = openat(new_dirfd, ".", flags);
    if (new < 0)
        return cb_error_set(err, errno, "layer diff: open the new tree");
    differ_t d = {.w = w, .old_links = cb_inode_names_new(), .new_links = cb_inode_names_new()};
    int r = scan_links(&d, true, old, "", err);
    if (r == 0)
        r = scan_links(&d, false, new, "", err);
    if (r == 0)
        r = diff_dir(&d, old, new, NULL, err);
    cb_inode_names_free(d.old_links);
    cb_inode_names_free(d.new_links);
    cb_pathset_free(&d.old_linked);
    cb_pathset_free(&d.kept);
    return r < 0 ? cb_error_wrap(err, "layer diff") : 0;
}
