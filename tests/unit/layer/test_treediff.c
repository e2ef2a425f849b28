/* Trees cloned and diffed (RUN without an overlay): a tree with every entry
 * type is cloned and compared field by field; a clone is modified and the
 * diff layer is read back and applied over the original's full layer.
 * Device nodes, trusted.* and security.capability xattrs and foreign
 * owners need root: without it those tests are skipped and the others use
 * a tree without them. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/capability.h>

#include "common/digest.h"
#include "common/fsutil.h"
#include "layer/apply.h"
#include "layer/treeclone.h"
#include "layer/treediff.h"
#include "layer/writer.h"
#include "layer_test_util.h"

#define SPARSE_SIZE (16 << 20)

static bool is_root;
static bool user_xattrs;

/* --- trees as data ------------------------------------------------------- */

/* One step of building or changing a test tree. op: 'f' file (arg: the
 * content; an existing file is rewritten), 'd' directory, 'l' symlink (arg:
 * target), 'h' hardlink (arg: the existing name), 'p' fifo, 'c' character
 * device 1:3, 's' socket, 'S' sparse file of SPARSE_SIZE, 'x' xattr (arg:
 * "name=value"), 'C' a security.capability, 'o' owner (arg: "uid:gid"; the
 * mode is set again after), 'm' chmod, 't' a new mtime, 'r' remove the
 * tree. */
typedef struct node {
    char op;
    const char *name;
    const char *arg;
    mode_t mode;
} node_t;

static void mk_sparse(int fd) {
    assert_int_equal(pwrite(fd, "head", 4, 0), 4);
    assert_int_equal(pwrite(fd, "middle", 6, 4 << 20), 6);
    assert_int_equal(pwrite(fd, "tail", 4, SPARSE_SIZE - 4), 4);
}

static void mk_socket(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
}

static void mk_node(const char *root, const node_t *n) {
    cb_autofree char *p = cb_xasprintf("%s/%s", root, n->name);
    cb_autofree char *arg = cb_xasprintf("%s/%s", root, n->arg ? n->arg : "");
    cb_autoerr cb_error_t *err = NULL;
    struct stat st;
    switch (n->op) {
    case 'f':
        write_file(root, n->name, n->arg, n->mode);
        break;
    case 'S': {
        cb_autoclose int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, n->mode);
        assert_true(fd >= 0);
        mk_sparse(fd);
        break;
    }
    case 'd':
        assert_int_equal(mkdir(p, 0700), 0);
        break;
    case 'l':
        assert_int_equal(symlink(n->arg, p), 0);
        break;
    case 'h':
        assert_int_equal(link(arg, p), 0);
        break;
    case 'p':
    case 'c':
        assert_int_equal(mknod(p, (n->op == 'p' ? S_IFIFO : S_IFCHR) | 0600, makedev(1, 3)), 0);
        break;
    case 's':
        mk_socket(p);
        break;
    case 'x': {
        const char *eq = strchr(n->arg, '=');
        cb_autofree char *key = cb_xstrndup(n->arg, (size_t)(eq - n->arg));
        assert_int_equal(lsetxattr(p, key, eq + 1, strlen(eq + 1), 0), 0);
        break;
    }
    case 'C': {
        struct vfs_cap_data cap = {.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE};
        cap.data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
        assert_int_equal(setxattr(p, "security.capability", &cap, XATTR_CAPS_SZ_2, 0), 0);
        break;
    }
    case 'o': {
        unsigned uid, gid;
        assert_int_equal(sscanf(n->arg, "%u:%u", &uid, &gid), 2);
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(lchown(p, uid, gid), 0);
        if (!S_ISLNK(st.st_mode)) /* chown cleared setuid/setgid */
            assert_int_equal(chmod(p, st.st_mode & 07777), 0);
        break;
    }
    case 't': {
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1700000000, .tv_nsec = 5}};
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
        break;
    }
    case 'r':
        assert_int_equal(cb_rm_rf(p, &err), 0);
        break;
    }
    if (n->mode && n->op != 'f' && n->op != 'S')
        assert_int_equal(chmod(p, n->mode), 0); /* past the umask */
}

static void mk_nodes(const char *root, const node_t *nodes, size_t n) {
    for (size_t i = 0; i < n; i++)
        mk_node(root, &nodes[i]);
}
#define MK_NODES(root, nodes) mk_nodes(root, nodes, CB_ARRAY_LEN(nodes))

/* Every entry type the copy and the diff know, and the names
 * test_diff_changes changes. */
static const node_t tree[] = {
    {'f', "file", "hello\n", 0644},
    {'f', "empty", "", 0600},
    {'S', "big.sparse", NULL, 0644},
    {'d', "private", NULL, 0700},
    {'f', "private/secret", "s3cret", 0400},
    {'d', "tmp", NULL, 01777},
    {'d', "d", NULL, 02755},
    {'d', "d/e", NULL, 0750},
    {'f', "d/e/deep", "deep", 0640},
    {'l', "dangling", "does/not/exist", 0},
    {'l', "abs", "/etc/passwd", 0},
    {'l', "rel", "file", 0},
    {'p', "fifo", NULL, 0640},
    {'h', "d/file-link", "file", 0},
    {'h', "d/e/file-link2", "file", 0},
    {'f', "suid", "#!/bin/sh\n", 04755},
    {'s', "sock", NULL, 0},
    {'f', "samesize", "aaaa", 0644},
    {'f', "chmodme", "x", 0644},
    {'f', "chownme", "x", 0644},
    {'f', "touchme", "x", 0644},
    {'f', "delme", "x", 0644},
    {'d', "deltree", NULL, 0755},
    {'d', "deltree/a", NULL, 0755},
    {'f', "deltree/a/b", "b", 0644},
    {'d', "dir2file", NULL, 0755},
    {'f', "dir2file/x", "x", 0644},
    {'d', "dir2link", NULL, 0755},
    {'f', "dir2link/y", "y", 0644},
    {'f', "file2dir", "f", 0644},
    {'f', "file2sock", "s", 0644},
    {'f', "lonely", "alone", 0644},
    {'f', "xfile", "x", 0644},
};
static const node_t tree_user_xattrs[] = {
    {'x', "file", "user.note=v1", 0},
    {'x', "d", "user.dir=yes", 0},
    {'x', "xfile", "user.x=old", 0},
};
static const node_t tree_privileged[] = {
    {'c', "null", NULL, 0666},
    {'f', "cap", "binary", 0755},
    {'C', "cap", NULL, 0},
    {'x', "private/secret", "trusted.secret=t", 0},
    {'o', "suid", "1000:1000", 0},
    {'o', "d/e", "1000:1000", 0},
    {'o', "d/e/deep", "1000:1000", 0},
    {'o', "fifo", "1000:1000", 0},
    {'o', "private", "65534:65534", 0},
    {'o', "rel", "65534:65534", 0},
};

/* --- walking trees ------------------------------------------------------- */

typedef void (*visit_fn)(void *ctx, int dirfd, const char *base, const char *path,
                         const struct stat *st);

/* Every entry below fd (sorted, depth-first), sockets included; a
 * directory is visited before its content, or after it when post. */
static void walk(int fd, const char *rel, bool post, visit_fn visit, void *ctx) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    assert_int_equal(cb_dir_list_sorted(fd, rel, &names, &err), 0);
    for (size_t i = 0; i < names.len; i++) {
        const char *base = names.items[i];
        cb_autofree char *path = rel[0] ? cb_xasprintf("%s/%s", rel, base) : cb_xstrdup(base);
        struct stat st;
        assert_int_equal(fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW), 0);
        if (!post)
            visit(ctx, fd, base, path, &st);
        if (S_ISDIR(st.st_mode)) {
            cb_autoclose int sub =
                openat(fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            assert_true(sub >= 0);
            walk(sub, path, post, visit, ctx);
        }
        if (post)
            visit(ctx, fd, base, path, &st);
    }
}

static int open_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* Distinct atimes and mtimes with nanoseconds, each directory's after its
 * content. */
static void stamp(void *ctx, int dirfd, const char *base, const char *path,
                  const struct stat *st) {
    (void)path;
    (void)st;
    long n = ++*(long *)ctx;
    struct timespec ts[2] = {{.tv_sec = 1599990000 + n * 1000, .tv_nsec = 999999999 - n * 1111},
                             {.tv_sec = 1600000000 + n * 1000, .tv_nsec = 100000000 + n * 1111}};
    assert_int_equal(utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void stamp_tree(const char *root) {
    long n = 0;
    cb_autoclose int fd = open_dir(root);
    walk(fd, "", true, stamp, &n);
    const struct timespec t = {.tv_sec = 1500000000, .tv_nsec = 7};
    struct timespec ts[2] = {t, t};
    assert_int_equal(futimens(fd, ts), 0);
}

static void build_tree(const char *root, bool privileged) {
    assert_int_equal(chmod(root, 0751), 0);
    MK_NODES(root, tree);
    if (user_xattrs)
        MK_NODES(root, tree_user_xattrs);
    if (privileged)
        MK_NODES(root, tree_privileged);
    stamp_tree(root);
}

/* --- listing trees ------------------------------------------------------- */

typedef struct lister {
    cb_buf_t out;
    bool exact; /* a clone: atime, mtime ns, all xattrs, the root itself */
    cb_inode_names_t *seen;
} lister_t;

static void put_hex(cb_buf_t *b, const void *data, size_t n) {
    for (size_t i = 0; i < n; i++)
        cb_buf_printf(b, "%02x", ((const unsigned char *)data)[i]);
}

static void list_xattrs(lister_t *l, int dirfd, const char *base) {
    cb_autofree char *p = cb_xasprintf("/proc/self/fd/%d/%s", dirfd, base);
    char names[4096];
    ssize_t n = llistxattr(p, names, sizeof names);
    assert_true(n >= 0 || errno == ENOTSUP);
    /* Listed in the order the file system keeps: the same for a copy on
     * the same file system; the helpers under test are not used here. */
    for (char *x = names; n > 0 && x < names + n; x += strlen(x) + 1) {
        bool layer = strcmp(x, "security.capability") == 0 || cb_str_has_prefix(x, "user.") ||
                     cb_str_has_prefix(x, "trusted.");
        if (!l->exact && !layer)
            continue;
        char v[256];
        ssize_t m = lgetxattr(p, x, v, sizeof v);
        assert_true(m >= 0);
        cb_buf_printf(&l->out, " %s=", x);
        put_hex(&l->out, v, (size_t)m);
    }
}

static void list_content(lister_t *l, int dirfd, const char *base) {
    cb_autoclose int fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
    assert_true(fd >= 0);
    cb_autosha256 cb_sha256_t *h = cb_sha256_new();
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        cb_sha256_update(h, buf, (size_t)n);
    assert_true(n == 0);
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_final(h, digest);
    cb_buf_printf(&l->out, " %.19s", digest);
}

static void list_entry(void *ctx, int dirfd, const char *base, const char *path,
                       const struct stat *st) {
    lister_t *l = ctx;
    if (S_ISSOCK(st->st_mode))
        return; /* never copied, never in a layer */
    const char *t = S_ISREG(st->st_mode)    ? "f"
                    : S_ISDIR(st->st_mode)  ? "d"
                    : S_ISLNK(st->st_mode)  ? "l"
                    : S_ISCHR(st->st_mode)  ? "c"
                    : S_ISBLK(st->st_mode)  ? "b"
                                            : "p";
    cb_buf_printf(&l->out, "%s %s %04o %u:%u", path, t, (unsigned)(st->st_mode & 07777),
                  (unsigned)st->st_uid, (unsigned)st->st_gid);
    if (l->exact)
        cb_buf_printf(&l->out, " m%lld.%09ld", (long long)st->st_mtim.tv_sec,
                      st->st_mtim.tv_nsec);
    else
        cb_buf_printf(&l->out, " m%lld", (long long)st->st_mtim.tv_sec);
    /* Reading a directory or a symlink moves its atime; files are read
     * with O_NOATIME, by the copy and by this listing. */
    if (l->exact && (S_ISREG(st->st_mode) || S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode)))
        cb_buf_printf(&l->out, " a%lld.%09ld", (long long)st->st_atim.tv_sec,
                      st->st_atim.tv_nsec);
    if (S_ISREG(st->st_mode)) {
        cb_buf_printf(&l->out, " %lld", (long long)st->st_size);
        list_content(l, dirfd, base);
    } else if (S_ISLNK(st->st_mode)) {
        char target[4096];
        ssize_t n = readlinkat(dirfd, base, target, sizeof target);
        assert_true(n >= 0);
        cb_buf_printf(&l->out, " -> %.*s", (int)n, target);
    } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
        cb_buf_printf(&l->out, " %u:%u", major(st->st_rdev), minor(st->st_rdev));
    }
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        const cb_strv_t *g = cb_inode_names_get(l->seen, st->st_dev, st->st_ino);
        if (g)
            cb_buf_printf(&l->out, " =%s", g->items[0]);
        else
            cb_inode_names_add(l->seen, st->st_dev, st->st_ino, path);
    }
    list_xattrs(l, dirfd, base);
    cb_buf_putc(&l->out, '\n');
}

/* One line per entry below root, depth-first and sorted: "<path> <type>
 * <mode> <uid>:<gid> m<mtime>[ a<atime>][ <size> <sha256>| -> target|
 * <rdev>][ =<first name of its inode>][ xattr=hex...]". exact: what a
 * clone keeps (the root's own line, mtime ns, file atimes, every xattr);
 * else what a layer keeps (mtime seconds, the layer's xattrs). */
static char *list_tree(const char *root, bool exact) {
    lister_t l = {.out = CB_BUF_INIT, .exact = exact, .seen = cb_inode_names_new()};
    cb_autoclose int fd = open_dir(root);
    if (exact) {
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        cb_buf_printf(&l.out, "/ %04o %u:%u m%lld.%09ld\n", (unsigned)(st.st_mode & 07777),
                      (unsigned)st.st_uid, (unsigned)st.st_gid, (long long)st.st_mtim.tv_sec,
                      st.st_mtim.tv_nsec);
    }
    walk(fd, "", false, list_entry, &l);
    cb_inode_names_free(l.seen);
    return cb_buf_steal(&l.out);
}

/* got and want compared line by line, so that a failure shows the first
 * line that differs (cmocka cuts long strings short). */
static void assert_same_text(const char *got, const char *want) {
    for (size_t line = 1; *got || *want; line++) {
        size_t g = strcspn(got, "\n"), w = strcspn(want, "\n");
        if (g != w || memcmp(got, want, g) != 0)
            fail_msg("line %zu:\n got: %.*s\nwant: %.*s", line, (int)g, got, (int)w, want);
        got += g + (got[g] == '\n');
        want += w + (want[w] == '\n');
    }
}

static void assert_ok(int rc, cb_error_t *err) {
    if (rc < 0) {
        cb_autofree char *m = cb_error_message(err);
        fail_msg("unexpected error: %s", m);
    }
}

/* --- the fixture ----------------------------------------------------------- */

typedef struct trees {
    char *top, *old, *new;
} trees_t;

static void clone_ok(const char *src, const char *dst) {
    cb_autoclose int s = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cb_autoclose int d = open(dst, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(s >= 0 && d >= 0);
    cb_autoerr cb_error_t *err = NULL;
    assert_ok(cb_tree_clone(s, d, &err), err);
}

/* top/old made by build (the caller's tree), then cloned into top/new. */
static trees_t make_trees(void (*build)(const char *root, bool privileged), bool privileged) {
    trees_t t = {.top = tmp_dir()};
    t.old = cb_xasprintf("%s/old", t.top);
    t.new = cb_xasprintf("%s/new", t.top);
    assert_int_equal(mkdir(t.old, 0755), 0);
    assert_int_equal(mkdir(t.new, 0700), 0);
    build(t.old, privileged);
    clone_ok(t.old, t.new);
    return t;
}

static void free_trees(trees_t *t) {
    rm_tree(t->top);
    free(t->top);
    free(t->old);
    free(t->new);
}

typedef int (*add_fn)(cb_layer_writer_t *w, const trees_t *t, cb_error_t **err);

/* An uncompressed layer written by add; returns its entry count. */
static uint64_t write_layer(const trees_t *t, add_fn add, cb_buf_t *tar) {
    cb_layer_writer_opts_t o = {.compression = CB_LAYER_UNCOMPRESSED};
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_ok(cb_layer_writer_new(&w, &o, buf_sink, tar, &err), err);
    assert_ok(add(w, t, &err), err);
    cb_layer_result_t res;
    assert_ok(cb_layer_writer_finish(w, &res, &err), err);
    return res.entries;
}

static int add_diff(cb_layer_writer_t *w, const trees_t *t, cb_error_t **err) {
    cb_autoclose int o = open(t->old, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cb_autoclose int n = open(t->new, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(o >= 0 && n >= 0);
    return cb_layer_add_tree_diff(w, o, n, err);
}

static int add_full_old(cb_layer_writer_t *w, const trees_t *t, cb_error_t **err) {
    return cb_layer_add_tree(w, "", AT_FDCWD, t->old, NULL, err);
}

static void apply_layer(int target, const cb_buf_t *tar) {
    cb_autoclose int fd = memfd_create("layer", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, tar->data, tar->len), (ssize_t)tar->len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    cb_layer_apply_opts_t o = {.rootless = !is_root};
    cb_layer_apply_result_t res;
    cb_autoerr cb_error_t *err = NULL;
    assert_ok(cb_layer_apply_fd(target, fd, &o, &res, &err), err);
}

/* The diff layer of t as "<type> <name>[ -> link]" lines (tar_list's
 * lines without mode, owner, size and mtime), after checking that the old
 * tree's full layer and then the diff, applied to a fresh directory, give
 * the new tree as far as a layer carries it. */
static char *diff_and_apply(const trees_t *t) {
    cb_autobuf cb_buf_t full = CB_BUF_INIT;
    cb_autobuf cb_buf_t diff = CB_BUF_INIT;
    write_layer(t, add_full_old, &full);
    uint64_t n = write_layer(t, add_diff, &diff);

    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(&diff, &lines);
    assert_int_equal(lines.len, n);
    cb_buf_t out = CB_BUF_INIT;
    for (size_t i = 0; i < lines.len; i++) {
        char *l = lines.items[i];
        for (int k = 0; k < 4; k++)
            *strrchr(l, ' ') = '\0';
        cb_buf_printf(&out, "%s\n", l);
    }

    cb_autofree char *fresh = cb_xasprintf("%s/applied", t->top);
    assert_int_equal(mkdir(fresh, 0755), 0);
    cb_autoclose int fd = open_dir(fresh);
    apply_layer(fd, &full);
    apply_layer(fd, &diff);
    cb_autofree char *want = list_tree(t->new, false);
    cb_autofree char *got = list_tree(fresh, false);
    assert_same_text(got, want);
    return cb_buf_steal(&out);
}

/* --- the clone ----------------------------------------------------------- */

static void clone_is_identical(bool privileged) {
    trees_t t = make_trees(build_tree, privileged);
    cb_autofree char *want = list_tree(t.old, true);
    cb_autofree char *got = list_tree(t.new, true);
    assert_same_text(got, want);

    /* what the listing shows, a few facts spelled out */
    cb_autoclose int fd = open_dir(t.new);
    struct stat st, st2;
    assert_int_equal(fstatat(fd, "sock", &st, AT_SYMLINK_NOFOLLOW), -1); /* skipped */
    assert_int_equal(fstatat(fd, "big.sparse", &st, 0), 0);
    assert_int_equal(st.st_size, SPARSE_SIZE);
    assert_true(st.st_blocks * 512 < SPARSE_SIZE / 4); /* holes stayed holes */
    assert_int_equal(fstatat(fd, "file", &st, 0), 0);
    assert_int_equal(fstatat(fd, "d/e/file-link2", &st2, 0), 0);
    assert_true(st.st_ino == st2.st_ino && st.st_nlink == 3);
    if (privileged) {
        assert_int_equal(fstatat(fd, "suid", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 04755);
        assert_int_equal(st.st_uid, 1000);
        assert_non_null(strstr(got, "\ncap f 0755 0:0 "));
        assert_non_null(strstr(got, " security.capability=01000002"));
        assert_non_null(strstr(got, " trusted.secret=74"));
        assert_non_null(strstr(got, "\nnull c 0666 0:0 "));
    }
    free_trees(&t);
}

static void test_clone_identical(void **state) {
    (void)state;
    clone_is_identical(false);
}

/* cmocka's skip, with what is left untested, for a test that needs root. */
static void need_root(const char *what) {
    if (is_root)
        return;
    fprintf(stderr, "  not root: %s not tested\n", what);
    skip();
}

static void test_clone_identical_privileged(void **state) {
    (void)state;
    need_root("device nodes, trusted.*, capabilities, foreign owners");
    clone_is_identical(true);
}

/* mknod refused (no CAP_MKNOD): an error naming the device. */
static void test_clone_device_refused(void **state) {
    (void)state;
    need_root("a refused mknod");
    static const node_t nodes[] = {{'d', "dev", NULL, 0755}, {'c', "dev/null", NULL, 0666}};
    cb_autofree char *top = tmp_dir();
    cb_autofree char *src = cb_xasprintf("%s/src", top), *dst = cb_xasprintf("%s/dst", top);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(dst, 0755), 0);
    MK_NODES(src, nodes);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* No cmocka in the child: the message goes back through the pipe. */
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct caps[2];
        if (syscall(SYS_capget, &h, caps) < 0)
            _exit(2);
        caps[CAP_MKNOD / 32].effective &= ~(1u << (CAP_MKNOD % 32));
        if (syscall(SYS_capset, &h, caps) < 0)
            _exit(2);
        int s = open(src, O_PATH | O_DIRECTORY), d = open(dst, O_PATH | O_DIRECTORY);
        cb_error_t *err = NULL;
        if (cb_tree_clone(s, d, &err) == 0)
            _exit(1);
        char *m = cb_error_message(err);
        ssize_t k = write(pipefd[1], m, strlen(m));
        _exit(k == (ssize_t)strlen(m) ? 0 : 2);
    }
    close(pipefd[1]);
    char msg[512] = "";
    ssize_t n = read(pipefd[0], msg, sizeof msg - 1);
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    msg[n > 0 ? n : 0] = '\0';
    assert_non_null(strstr(msg, "'dev/null' (1:3)"));
    assert_non_null(strstr(msg, "Operation not permitted"));
    rm_tree(top);
}

/* A destination inside the source would copy itself forever. */
static void test_clone_refuses_dst_inside_src(void **state) {
    (void)state;
    static const node_t nodes[] = {{'d', "a", NULL, 0755}, {'d', "a/copy", NULL, 0755}};
    cb_autofree char *top = tmp_dir();
    MK_NODES(top, nodes);
    cb_autoclose int s = open_dir(top);
    cb_autoclose int d = openat(s, "a/copy", O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(d >= 0);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_tree_clone(s, d, &err), -1);
    cb_autofree char *m = cb_error_message(err);
    assert_string_equal(m, "clone: the destination is 'a/copy', inside the source");
    rm_tree(top);
}

/* --- the diff ------------------------------------------------------------ */

static void test_diff_unchanged_is_empty(void **state) {
    (void)state;
    trees_t t = make_trees(build_tree, is_root);
    cb_autobuf cb_buf_t diff = CB_BUF_INIT;
    assert_int_equal(write_layer(&t, add_diff, &diff), 0);
    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(&diff, &lines);
    assert_int_equal(lines.len, 0);
    free_trees(&t);
}

static const node_t changes[] = {
    {'f', "added", "new", 0644},
    {'d', "newdir", NULL, 0755},
    {'d', "newdir/sub", NULL, 0700},
    {'f', "newdir/sub/x", "x", 0644},
    {'f', "samesize", "bbbb", 0644}, /* same size, mtime now */
    {'m', "chmodme", NULL, 0600},
    {'t', "touchme", NULL, 0},
    {'r', "delme", NULL, 0},
    {'r', "deltree", NULL, 0},
    {'r', "dir2file", NULL, 0},
    {'f', "dir2file", "now a file", 0644},
    {'r', "dir2link", NULL, 0},
    {'l', "dir2link", "/", 0},
    {'r', "file2dir", NULL, 0},
    {'d', "file2dir", NULL, 0755},
    {'f', "file2dir/inside", "in", 0644},
    {'r', "file2sock", NULL, 0},
    {'s', "file2sock", NULL, 0},
    {'h', "d/lonely2", "lonely", 0},
};
static const node_t changes_user_xattrs[] = {{'x', "xfile", "user.x=new", 0}};
static const node_t changes_privileged[] = {{'o', "chownme", "65534:65534", 0}};

static void test_diff_changes(void **state) {
    (void)state;
    trees_t t = make_trees(build_tree, is_root);
    MK_NODES(t.new, changes);
    if (user_xattrs)
        MK_NODES(t.new, changes_user_xattrs);
    if (is_root)
        MK_NODES(t.new, changes_privileged);

    cb_autofree char *got = diff_and_apply(&t);
    cb_autobuf cb_buf_t want = CB_BUF_INIT;
    cb_buf_puts(&want, "f .wh.delme\n"     /* whiteouts before their siblings */
                       "f .wh.deltree\n"   /* one for the whole tree */
                       "f .wh.file2sock\n" /* a socket is not layer content */
                       "f added\n"
                       "f chmodme\n");
    if (is_root)
        cb_buf_puts(&want, "f chownme\n");
    cb_buf_puts(&want, "d d/\n"        /* its content changed */
                       "f d/lonely2\n" /* the first name of lonely's inode carries the data */
                       "f dir2file\n"  /* replaces the directory: no whiteout */
                       "l dir2link -> /\n"
                       "d file2dir/\n"
                       "f file2dir/inside\n"
                       "h lonely -> d/lonely2\n"
                       "d newdir/\n"
                       "d newdir/sub/\n"
                       "f newdir/sub/x\n"
                       "f samesize\n"
                       "f touchme\n");
    if (user_xattrs)
        cb_buf_puts(&want, "f xfile\n");
    assert_same_text(got, cb_buf_str(&want));
    free_trees(&t);
}

/* The naive rule, as documented: same size, mtime and metadata is
 * "unchanged", whatever the bytes say. */
static void test_diff_content_not_compared(void **state) {
    (void)state;
    trees_t t = make_trees(build_tree, false);
    cb_autoclose int o = open_dir(t.old), n = open_dir(t.new);
    struct stat st;
    assert_int_equal(fstatat(o, "samesize", &st, 0), 0);
    write_file(t.new, "samesize", "zzzz", 0644);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    assert_int_equal(utimensat(n, "samesize", ts, 0), 0);
    cb_autobuf cb_buf_t diff = CB_BUF_INIT;
    assert_int_equal(write_layer(&t, add_diff, &diff), 0);
    free_trees(&t);
}

static void build_links(const char *root, bool privileged) {
    (void)privileged;
    static const node_t nodes[] = {
        {'f', "a", "abc", 0644}, {'d', "sub", NULL, 0755}, {'h', "b", "a", 0},
        {'h', "sub/c", "a", 0},  {'f', "x", "xy", 0644},   {'h', "y", "x", 0},
        {'f', "p", "p", 0644},
    };
    MK_NODES(root, nodes);
    stamp_tree(root);
}

/* Hardlink groups: a name deleted from a group is only a whiteout; a name
 * split off into an inode of its own rewrites both sides; a new name
 * rewrites the group with the new name as a hardlink. */
static void test_diff_hardlinks(void **state) {
    (void)state;
    trees_t t = make_trees(build_links, false);
    cb_autoclose int n = open_dir(t.new);
    struct stat st;
    assert_int_equal(fstatat(n, "y", &st, 0), 0);
    static const node_t nodes[] = {
        {'r', "sub/c", NULL, 0},
        {'f', "y.tmp", "xy", 0644}, /* y's bytes and metadata, another inode */
        {'h', "q", "p", 0},
    };
    MK_NODES(t.new, nodes);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    assert_int_equal(utimensat(n, "y.tmp", ts, 0), 0);
    assert_int_equal(renameat(n, "y.tmp", n, "y"), 0);

    cb_autofree char *got = diff_and_apply(&t);
    assert_same_text(got, "f p\n"
                          "h q -> p\n"
                          "d sub/\n"
                          "f sub/.wh.c\n"
                          "f x\n"
                          "f y\n");
    free_trees(&t);
}

int main(void) {
    is_root = geteuid() == 0;
    cb_autofree char *probe = tmp_dir();
    user_xattrs = have_user_xattrs(probe);
    rmdir(probe);
    if (!user_xattrs)
        fprintf(stderr, "test_treediff: no user.* xattrs on the temp dir's file system\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clone_identical),
        cmocka_unit_test(test_clone_identical_privileged),
        cmocka_unit_test(test_clone_device_refused),
        cmocka_unit_test(test_clone_refuses_dst_inside_src),
        cmocka_unit_test(test_diff_unchanged_is_empty),
        cmocka_unit_test(test_diff_changes),
        cmocka_unit_test(test_diff_content_not_compared),
        cmocka_unit_test(test_diff_hardlinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
