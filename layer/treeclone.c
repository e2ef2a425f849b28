/* Copying a tree without following anything in it (RUN's fallback when no
 * overlay can be mounted). See treeclone.h for the rules. */
#include "layer/treeclone.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "layer/name.h"
#include "layer/resolve.h"

#define COPY_CHUNK (128 * 1024)

static char *join(const char *prefix, const char *base) {
    return prefix[0] ? cb_xasprintf("%s/%s", prefix, base) : cb_xstrdup(base);
}

/* --- xattrs -------------------------------------------------------------- */

/* Where the xattr calls act: the open file fd itself (f* calls), or
 * parentfd/base through /proc/self/fd with the l* calls, which do not
 * follow base when it is a symlink (Linux has no *xattrat calls before
 * 6.13; the f* calls would need the entry opened, which a symlink can't be
 * and a device or fifo should not be). */
typedef struct xref {
    int fd;
    char *path;
} xref_t;

static xref_t xref_of(int parentfd, const char *base) {
    if (base == NULL)
        return (xref_t){.fd = parentfd};
    return (xref_t){.fd = -1, .path = cb_xasprintf("/proc/self/fd/%d/%s", parentfd, base)};
}

static void xref_free(xref_t *x) {
    free(x->path);
}

static ssize_t x_get(const xref_t *x, const char *name, void *buf, size_t n) {
    return x->path ? lgetxattr(x->path, name, buf, n) : fgetxattr(x->fd, name, buf, n);
}

static int x_set(const xref_t *x, const char *name, const void *value, size_t n) {
    return x->path ? lsetxattr(x->path, name, value, n, 0) : fsetxattr(x->fd, name, value, n, 0);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends one record; false when the name went away in between. */
static int add_record(const xref_t *x, const char *name, const char *what, cb_buf_t *out,
                      cb_error_t **err) {
    for (;;) {
        ssize_t n = x_get(x, name, NULL, 0);
        cb_autofree char *value = n > 0 ? cb_xmalloc((size_t)n) : NULL;
        if (n > 0)
            n = x_get(x, name, value, (size_t)n);
        if (n < 0 && errno == ERANGE)
            continue; /* grew in between */
        if (n < 0 && errno == ENODATA)
            return 0;
        if (n < 0)
            return cb_error_set(err, errno, "read xattr %s of '%s'", name, what);
        size_t size = (size_t)n;
        cb_buf_add(out, name, strlen(name) + 1);
        cb_buf_add(out, &size, sizeof size);
        cb_buf_add(out, value, size);
        return 0;
    }
}

int cb_tree_xattrs(int parentfd, const char *base, const char *what,
                   bool (*keep)(const char *name), cb_buf_t *out, cb_error_t **err) {
    __attribute__((cleanup(xref_free))) xref_t x = xref_of(parentfd, base);
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_xattr_names(x.fd, x.path, what, &names, err) < 0)
        return -1;
    if (names.len)
        qsort(names.items, names.len, sizeof *names.items, name_cmp);
    for (size_t i = 0; i < names.len; i++)
        if ((keep == NULL || keep(names.items[i])) &&
            add_record(&x, names.items[i], what, out, err) < 0)
            return -1;
    return 0;
}

bool cb_tree_xattr_next(const cb_buf_t *b, size_t *pos, const char **name, const void **value,
                        size_t *size) {
    if (*pos >= b->len)
        return false;
    *name = b->data + *pos;
    *pos += strlen(*name) + 1;
    memcpy(size, b->data + *pos, sizeof *size);
    *pos += sizeof *size;
    *value = b->data + *pos;
    *pos += *size;
    return true;
}

static int set_xattrs(int parentfd, const char *base, const cb_buf_t *xattrs, const char *what,
                      cb_error_t **err) {
    __attribute__((cleanup(xref_free))) xref_t x = xref_of(parentfd, base);
    size_t pos = 0;
    const char *name;
    const void *value;
    size_t size;
    while (cb_tree_xattr_next(xattrs, &pos, &name, &value, &size)) {
        if (x_set(&x, name, value, size) == 0)
            continue;
        if (cb_str_has_prefix(name, "trusted.") && (errno == EPERM || errno == ENOTSUP)) {
            cb_debug("layer", "clone: '%s': %s not copied: %s", what, name, strerror(errno));
            continue;
        }
        return cb_error_set(err, errno, "set xattr %s on '%s'", name, what);
    }
    return 0;
}

/* --- names by inode -------------------------------------------------------- */

typedef struct inode_slot {
    bool used;
    dev_t dev;
    ino_t ino;
    cb_strv_t names;
} inode_slot_t;

struct cb_inode_names {
    inode_slot_t *slots;
    size_t cap; /* a power of two */
    size_t len;
};

cb_inode_names_t *cb_inode_names_new(void) {
    cb_inode_names_t *m = cb_xcalloc(1, sizeof *m);
    m->cap = 64;
    m->slots = cb_xcalloc(m->cap, sizeof *m->slots);
    return m;
}

static size_t inode_slot(const cb_inode_names_t *m, dev_t dev, ino_t ino) {
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15u ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fu;
    h ^= h >> 31;
    size_t i = (size_t)h & (m->cap - 1);
    while (m->slots[i].used && (m->slots[i].dev != dev || m->slots[i].ino != ino))
        i = (i + 1) & (m->cap - 1);
    return i;
}

void cb_inode_names_add(cb_inode_names_t *m, dev_t dev, ino_t ino, const char *name) {
    if ((m->len + 1) * 4 > m->cap * 3) {
        cb_inode_names_t bigger = {.cap = m->cap * 2};
        bigger.slots = cb_xcalloc(bigger.cap, sizeof *bigger.slots);
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].used)
                bigger.slots[inode_slot(&bigger, m->slots[i].dev, m->slots[i].ino)] = m->slots[i];
        free(m->slots);
        m->slots = bigger.slots;
        m->cap = bigger.cap;
    }
    inode_slot_t *s = &m->slots[inode_slot(m, dev, ino)];
    if (!s->used) {
        *s = (inode_slot_t){.used = true, .dev = dev, .ino = ino};
        m->len++;
    }
    cb_strv_push(&s->names, name);
}

const cb_strv_t *cb_inode_names_get(const cb_inode_names_t *m, dev_t dev, ino_t ino) {
    const inode_slot_t *s = &m->slots[inode_slot(m, dev, ino)];
    return s->used ? &s->names : NULL;
}

void cb_inode_names_free(cb_inode_names_t *m) {
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->cap; i++)
        cb_strv_free(&m->slots[i].names);
    free(m->slots);
    free(m);
}

/* --- the copy -------------------------------------------------------------- */

typedef struct cloner {
    int dst_root;
    struct stat dst_st; /* to refuse a destination inside the source */
    cb_inode_names_t *links; /* first copied name of each inode with nlink > 1 */
    char *buf;               /* for read/write copies, allocated on first use */
    bool link;               /* hardlink what is not a directory (cb_tree_clone_linked) */
} cloner_t;

/* Owner, xattrs, mode, times of the copy, from st and the source's xattrs.
 * An entry held open is reached through its descriptor (sfd, dfd), any
 * other through its parent and base, never followed. */
static int copy_meta(int sparent, int dparent, const char *base, int sfd, int dfd,
                     const struct stat *st, const char *path, cb_error_t **err) {
    cb_autobuf cb_buf_t xattrs = CB_BUF_INIT;
    if (cb_tree_xattrs(sfd >= 0 ? sfd : sparent, sfd >= 0 ? NULL : base, path, NULL, &xattrs,
                       err) < 0)
        return -1;
    int r = dfd >= 0 ? fchown(dfd, st->st_uid, st->st_gid)
                     : fchownat(dparent, base, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
    if (r < 0)
        return cb_error_set(err, errno, "chown '%s' to %u:%u", path, (unsigned)st->st_uid,
                            (unsigned)st->st_gid);
    /* After chown, which drops security.capability. */
    if (set_xattrs(dfd >= 0 ? dfd : dparent, dfd >= 0 ? NULL : base, &xattrs, path, err) < 0)
        return -1;
    /* After chown (it clears setuid/setgid) and after the xattrs (an ACL
     * rewrites the group bits); symlinks have no mode of their own. */
    mode_t mode = st->st_mode & 07777;
    if (!S_ISLNK(st->st_mode) &&
        (dfd >= 0 ? fchmod(dfd, mode) : fchmodat(dparent, base, mode, AT_SYMLINK_NOFOLLOW)) < 0)
        return cb_error_set(err, errno, "chmod '%s' to %04o", path, (unsigned)mode);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    r = dfd >= 0 ? futimens(dfd, ts) : utimensat(dparent, base, ts, AT_SYMLINK_NOFOLLOW);
    if (r < 0)
        return cb_error_set(err, errno, "set the times of '%s'", path);
    return 0;
}

/* Opens parent/base (of st's type) and makes sure it is still the entry st
 * describes: a name swapped in between is an error, not followed. *now
 * gets the descriptor's stat. */
static int open_same(int parent, const char *base, int flags, const struct stat *st,
                     struct stat *now, const char *path, cb_error_t **err) {
    flags |= O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
    int fd = openat(parent, base, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
        fd = openat(parent, base, flags);
    if (fd < 0)
        return cb_error_set(err, errno, "open '%s'", path);
    if (fstat(fd, now) < 0 || now->st_dev != st->st_dev || now->st_ino != st->st_ino) {
        close(fd);
        return cb_error_set(err, 0, "'%s' changed while being copied", path);
    }
    return fd;
}

static int write_all_at(int fd, const char *buf, size_t n, off_t off) {
    while (n > 0) {
        ssize_t w = pwrite(fd, buf, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Copies [off, off + len) of in to the same place in out: copy_file_range
 * while the kernel takes it, then pread/pwrite. */
static int copy_range(cloner_t *c, int in, int out, off_t off, off_t len, bool *use_cfr,
                      const char *path, cb_error_t **err) {
    while (len > 0) {
        size_t want = len < (off_t)(1 << 30) ? (size_t)len : (size_t)1 << 30;
        ssize_t n;
        if (*use_cfr) {
            loff_t from = off, to = off;
            n = copy_file_range(in, &from, out, &to, want, 0);
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == ENOTSUP ||
                          errno == EINVAL || errno == EBADF)) {
                *use_cfr = false;
                continue;
            }
        } else {
            if (c->buf == NULL)
                c->buf = cb_xmalloc(COPY_CHUNK);
            n = pread(in, c->buf, want < COPY_CHUNK ? want : COPY_CHUNK, off);
            if (n > 0 && write_all_at(out, c->buf, (size_t)n, off) < 0)
                return cb_error_set(err, errno, "write the copy of '%s'", path);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cb_error_set(err, errno, "copy '%s'", path);
        if (n == 0)
            return cb_error_set(err, 0, "'%s' shrank while being copied", path);
        off += n;
        len -= n;
    }
    return 0;
}

/* The content of in (size bytes) into the empty out: a reflink when the
 * file system can, else only the data ranges, so holes stay holes. */
static int copy_data(cloner_t *c, int in, int out, off_t size, const char *path,
                     cb_error_t **err) {
    if (size == 0 || ioctl(out, FICLONE, in) == 0)
        return 0;
    bool use_cfr = true;
    off_t pos = 0;
    while (pos < size) {
        off_t data = lseek(in, pos, SEEK_DATA), hole = size;
        if (data < 0 && errno == ENXIO)
            break; /* a hole up to the end */
        if (data < 0)
            data = pos; /* no SEEK_DATA here: all of it is data */
        else if ((hole = lseek(in, data, SEEK_HOLE)) < 0 || hole > size)
            hole = size;
        if (data >= size)
            break;
        if (copy_range(c, in, out, data, hole - data, &use_cfr, path, err) < 0)
            return -1;
        pos = hole;
    }
    if (ftruncate(out, size) < 0)
        return cb_error_set(err, errno, "set the size of the copy of '%s'", path);
    return 0;
}

static int clone_dir(cloner_t *c, int sfd, int dfd, const char *prefix, cb_error_t **err);

static int copy_file(cloner_t *c, int sparent, int dparent, const char *base,
                     const struct stat *st, const char *path, cb_error_t **err) {
    struct stat now;
    cb_autoclose int in = open_same(sparent, base, 0, st, &now, path, err);
    if (in < 0)
        return -1;
    cb_autoclose int out =
        openat(dparent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return cb_error_set(err, errno, "create '%s'", path);
    if (copy_data(c, in, out, now.st_size, path, err) < 0)
        return -1;
    return copy_meta(-1, -1, NULL, in, out, &now, path, err);
}

static int copy_dir(cloner_t *c, int sparent, int dparent, const char *base,
                    const struct stat *st, const char *path, cb_error_t **err) {
    struct stat now;
    cb_autoclose int in = open_same(sparent, base, O_DIRECTORY, st, &now, path, err);
    if (in < 0)
        return -1;
    if (mkdirat(dparent, base, 0700) < 0)
        return cb_error_set(err, errno, "create directory '%s'", path);
    cb_autoclose int out = openat(dparent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (out < 0)
        return cb_error_set(err, errno, "open the copy of '%s'", path);
    /* Content first: its creation would move the directory's mtime. */
    if (clone_dir(c, in, out, path, err) < 0)
        return -1;
    return copy_meta(-1, -1, NULL, in, out, &now, path, err);
}

static int copy_symlink(int sparent, int dparent, const char *base, const struct stat *st,
                        const char *path, cb_error_t **err) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(sparent, base, target, sizeof target);
    if (n < 0)
        return cb_error_set(err, errno, "read symlink '%s'", path);
    if ((size_t)n == sizeof target)
        return cb_error_set(err, ENAMETOOLONG, "read symlink '%s'", path);
    target[n] = '\0';
    if (symlinkat(target, dparent, base) < 0)
        return cb_error_set(err, errno, "create symlink '%s'", path);
    return copy_meta(sparent, dparent, base, -1, -1, st, path, err);
}

/* fifos and device nodes */
static int copy_node(int sparent, int dparent, const char *base, const struct stat *st,
                     const char *path, cb_error_t **err) {
    mode_t type = st->st_mode & S_IFMT;
    if (mknodat(dparent, base, type | 0600, type == S_IFIFO ? 0 : st->st_rdev) < 0) {
        if (type == S_IFIFO)
            return cb_error_set(err, errno, "create fifo '%s'", path);
        return cb_error_set(err, errno, "create %s device '%s' (%u:%u)",
                            type == S_IFCHR ? "character" : "block", path, major(st->st_rdev),
                            minor(st->st_rdev));
    }
    return copy_meta(sparent, dparent, base, -1, -1, st, path, err);
}

/* Another name of an inode already copied as first (a name below the
 * destination root, all of whose directories the copy made). */
static int copy_link(cloner_t *c, const char *first, int dparent, const char *base,
                     const char *path, cb_error_t **err) {
    cb_autofree char *dir = NULL;
    const char *fbase = cb_layer_name_split(first, &dir);
    cb_autoclose int fd = -1;
    if (cb_layer_open_dir_beneath(c->dst_root, dir, false, &fd, err) < 0)
        return cb_error_wrap(err, "hardlink '%s' to '%s'", path, first);
    if (fd < 0)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "hardlink '%s': '%s' is gone", path, dir);
    if (linkat(fd, fbase, dparent, base, 0) < 0)
        return cb_error_set(err, errno, "hardlink '%s' to '%s'", path, first);
    return 0;
}

static int clone_entry(cloner_t *c, int sparent, int dparent, const char *base,
                       const char *path, cb_error_t **err) {
    struct stat st;
    if (fstatat(sparent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return cb_error_set(err, errno, "stat '%s'", path);
    if (c->link && !S_ISDIR(st.st_mode) && !S_ISSOCK(st.st_mode)) {
        if (linkat(sparent, base, dparent, base, 0) == 0)
            return 0;
        /* A file system or owner that refuses the link: a copy. */
        if (errno != EPERM && errno != EMLINK && errno != EXDEV)
            return cb_error_set(err, errno, "hardlink '%s'", path);
    }
    /* Linked clones keep every inode's own links: no bookkeeping. */
    bool linked = !c->link && !S_ISDIR(st.st_mode) && st.st_nlink > 1;
    const cb_strv_t *first = linked ? cb_inode_names_get(c->links, st.st_dev, st.st_ino) : NULL;
    if (first)
        return copy_link(c, first->items[0], dparent, base, path, err);
    int r;
    switch (st.st_mode & S_IFMT) {
    case S_IFSOCK:
        cb_debug("layer", "clone: skipping socket %s", path);
        return 0;
    case S_IFDIR:
        if (st.st_dev == c->dst_st.st_dev && st.st_ino == c->dst_st.st_ino)
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "the destination is '%s', inside the source", path);
        return copy_dir(c, sparent, dparent, base, &st, path, err);
    case S_IFREG:
        r = copy_file(c, sparent, dparent, base, &st, path, err);
        break;
    case S_IFLNK:
        r = copy_symlink(sparent, dparent, base, &st, path, err);
        break;
    default:
        r = copy_node(sparent, dparent, base, &st, path, err);
        break;
    }
    if (r == 0 && linked)
        cb_inode_names_add(c->links, st.st_dev, st.st_ino, path);
    return r;
}

static int clone_dir(cloner_t *c, int sfd, int dfd, const char *prefix, cb_error_t **err) {
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(sfd, prefix[0] ? prefix : "/", &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        cb_autofree char *path = join(prefix, names.items[i]);
        if (clone_entry(c, sfd, dfd, names.items[i], path, err) < 0)
            return -1;
    }
    return 0;
}

static int clone_tree(int src_dirfd, int dst_dirfd, bool link, cb_error_t **err) {
    const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    cb_autoclose int src = openat(src_dirfd, ".", flags);
    if (src < 0)
        return cb_error_set(err, errno, "clone: open the source tree");
    cb_autoclose int dst = openat(dst_dirfd, ".", flags);
    if (dst < 0)
        return cb_error_set(err, errno, "clone: open the destination");
    struct stat st;
    cloner_t c = {.dst_root = dst, .link = link};
    if (fstat(src, &st) < 0 || fstat(dst, &c.dst_st) < 0)
        return cb_error_set(err, errno, "clone: stat the trees");
    c.links = cb_inode_names_new();
    int r = clone_dir(&c, src, dst, "", err);
    if (r == 0)
        r = copy_meta(-1, -1, NULL, src, dst, &st, "/", err);
    cb_inode_names_free(c.links);
    free(c.buf);
    return r < 0 ? cb_error_wrap(err, "clone") : 0;
}

int cb_tree_clone(int src_dirfd, int dst_dirfd, cb_error_t **err) {
    return clone_tree(src_dirfd, dst_dirfd, false, err);
}

int cb_tree_clone_linked(int src_dirfd, int dst_dirfd, cb_error_t **err) {
    return clone_tree(src_dirfd, dst_dirfd, true, err);
}
