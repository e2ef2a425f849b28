/* Overlay upper dirs: the layer written from one (whiteouts, opaque dirs,
 * overlay xattrs dropped) and the commit of one into the merged tree
 * (removals, replacements, merges, metadata, hardlinks, hostile trees). The
 * hand-made uppers need root (0/0 device nodes, trusted.* xattrs); the last
 * test makes a real upper with a kernel overlay mounted in a user
 * namespace, as the runner does. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <linux/capability.h>

#include "common/fsutil.h"
#include "layer/upper.h"
#include "layer/writer.h"
#include "layer_test_util.h"

/* --- building trees ------------------------------------------------------ */

static char *at(const char *root, const char *rel) {
    return cb_xasprintf("%s/%s", root, rel);
}

static void mk_dir(const char *root, const char *rel, mode_t mode) {
    cb_autofree char *p = at(root, rel);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(chmod(p, mode), 0);
}

static void mk_whiteout(const char *root, const char *rel) {
    cb_autofree char *p = at(root, rel);
    assert_int_equal(mknod(p, S_IFCHR, makedev(0, 0)), 0);
}

static void mk_link(const char *root, const char *from, const char *to) {
    cb_autofree char *a = at(root, from), *b = at(root, to);
    assert_int_equal(link(a, b), 0);
}

static void mk_symlink(const char *root, const char *rel, const char *target) {
    cb_autofree char *p = at(root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static void set_x(const char *root, const char *rel, const char *name, const char *value) {
    cb_autofree char *p = at(root, rel);
    assert_int_equal(lsetxattr(p, name, value, strlen(value), 0), 0);
}

static void set_mtime(const char *root, const char *rel, time_t t) {
    cb_autofree char *p = at(root, rel);
    struct timespec ts[2] = {{.tv_sec = t}, {.tv_sec = t}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static int open_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* --- reading results back ------------------------------------------------ */

/* Newlines in names and contents shown as \n, so one entry is one line. */
static void put_escaped(cb_buf_t *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            cb_buf_puts(b, "\\n");
        else if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            cb_buf_printf(b, "\\x%02x", (unsigned char)s[i]);
        else
            cb_buf_putc(b, s[i]);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The layer as lines "<t> <name> <perm> <uid>:<gid>[ -> link][ rdev M:m][ x=names]",
 * t: f d l h c b p; mtimes left out (the real upper's are "now"). */
static char *layer_lines(const cb_buf_t *tar) {
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, tar->data, tar->len), ARCHIVE_OK);
    cb_buf_t out = CB_BUF_INIT;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *hl = archive_entry_hardlink(e);
        mode_t t = archive_entry_filetype(e);
        char c = hl ? 'h'
                 : t == AE_IFREG ? 'f'
                 : t == AE_IFDIR ? 'd'
                 : t == AE_IFLNK ? 'l'
                 : t == AE_IFCHR ? 'c'
                 : t == AE_IFBLK ? 'b'
                 : t == AE_IFIFO ? 'p'
                                 : '?';
        const char *name = archive_entry_pathname(e);
        cb_buf_printf(&out, "%c ", c);
        put_escaped(&out, name, strlen(name));
        cb_buf_printf(&out, " %04o %lld:%lld", (unsigned)archive_entry_perm(e),
                      (long long)archive_entry_uid(e), (long long)archive_entry_gid(e));
        const char *link = hl ? hl : archive_entry_symlink(e);
        if (link)
            cb_buf_printf(&out, " -> %s", link);
        if (c == 'c' || c == 'b')
            cb_buf_printf(&out, " rdev %u:%u", (unsigned)archive_entry_rdevmajor(e),
                          (unsigned)archive_entry_rdevminor(e));
        if (archive_entry_xattr_reset(e) > 0) {
            const char *xn;
            const void *xv;
            size_t xs;
            const char *sep = " x=";
            while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
                cb_buf_printf(&out, "%s%s", sep, xn);
                sep = ",";
            }
        }
        cb_buf_putc(&out, '\n');
    }
    assert_int_equal(r, ARCHIVE_EOF);
    archive_read_free(a);
    return cb_buf_steal(&out);
}

typedef struct seen_inode {
    dev_t dev;
    ino_t ino;
    char *path;
} seen_inode_t;

typedef struct listing {
    cb_buf_t out;
    bool times, links;
    seen_inode_t *seen;
    size_t nseen;
} listing_t;

/* No cmocka asserts below: the forked child of the overlay test uses it. */
static int list_xattrs(listing_t *l, const char *path) {
    char names[4096];
    ssize_t n = llistxattr(path, names, sizeof names);
    if (n < 0)
        return errno == ENOTSUP ? 0 : -1;
    cb_autostrv cb_strv_t v = CB_STRV_INIT;
    for (char *p = names; p < names + n; p += strlen(p) + 1)
        if (!cb_str_has_prefix(p, "security.") || strcmp(p, "security.capability") == 0)
            cb_strv_push(&v, p);
    if (v.len)
        qsort(v.items, v.len, sizeof *v.items, cmp_str);
    for (size_t i = 0; i < v.len; i++) {
        char val[256];
        ssize_t m = lgetxattr(path, v.items[i], val, sizeof val);
        if (m < 0)
            return -1;
        cb_buf_printf(&l->out, " %s=", v.items[i]);
        put_escaped(&l->out, val, (size_t)m);
    }
    return 0;
}

static int list_dir(listing_t *l, const char *root, const char *rel) {
    cb_autofree char *dir = rel[0] ? at(root, rel) : cb_xstrdup(root);
    cb_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    cb_autoerr cb_error_t *err = NULL;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (fd < 0 || cb_dir_list_sorted(fd, dir, &names, &err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        cb_autofree char *r =
            rel[0] ? cb_xasprintf("%s/%s", rel, names.items[i]) : cb_xstrdup(names.items[i]);
        cb_autofree char *p = at(root, r);
        struct stat st;
        if (lstat(p, &st) < 0)
            return -1;
        char t = S_ISREG(st.st_mode)   ? 'f'
                 : S_ISDIR(st.st_mode) ? 'd'
                 : S_ISLNK(st.st_mode) ? 'l'
                 : S_ISCHR(st.st_mode) ? 'c'
                 : S_ISBLK(st.st_mode) ? 'b'
                 : S_ISFIFO(st.st_mode) ? 'p'
                                        : '?';
        put_escaped(&l->out, r, strlen(r));
        cb_buf_printf(&l->out, " %c %04o %u:%u", t, (unsigned)(st.st_mode & 07777),
                      (unsigned)st.st_uid, (unsigned)st.st_gid);
        if (l->times)
            cb_buf_printf(&l->out, " @%lld.%09ld", (long long)st.st_mtim.tv_sec,
                          st.st_mtim.tv_nsec);
        if (t == 'f') {
            char data[256];
            int f = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            ssize_t n = f >= 0 ? read(f, data, sizeof data) : -1;
            if (f >= 0)
                close(f);
            if (n < 0)
                return -1;
            cb_buf_puts(&l->out, " \"");
            put_escaped(&l->out, data, (size_t)n);
            cb_buf_putc(&l->out, '"');
            if (l->links && st.st_nlink > 1) {
                const char *first = NULL;
                for (size_t k = 0; k < l->nseen && !first; k++)
                    if (l->seen[k].dev == st.st_dev && l->seen[k].ino == st.st_ino)
                        first = l->seen[k].path;
                if (first) {
                    cb_buf_printf(&l->out, " =%s", first);
                } else {
                    l->seen = cb_xrealloc(l->seen, (l->nseen + 1) * sizeof *l->seen);
                    l->seen[l->nseen++] = (seen_inode_t){st.st_dev, st.st_ino, cb_xstrdup(r)};
                }
            }
        } else if (t == 'l') {
            char target[4096];
            ssize_t n = readlink(p, target, sizeof target);
            if (n < 0)
                return -1;
            cb_buf_puts(&l->out, " -> ");
            put_escaped(&l->out, target, (size_t)n);
        } else if (t == 'c' || t == 'b') {
            cb_buf_printf(&l->out, " rdev %u:%u", major(st.st_rdev), minor(st.st_rdev));
        }
        if (list_xattrs(l, p) < 0)
            return -1;
        cb_buf_putc(&l->out, '\n');
        if (t == 'd' && list_dir(l, root, r) < 0)
            return -1;
    }
    return 0;
}

/* Everything below root, depth-first and sorted: "<path> <t> <perm>
 * <uid>:<gid>[ @mtime] ["content" [=first hardlink name]|-> target|rdev M:m]
 * [ xattr=value...]". NULL on error. A mounted overlay (without index=on)
 * reports different inode numbers for the names of one copied-up file,
 * so "real" lists it without the hardlink marks and mtimes with them. */
static char *list_tree_as(const char *root, bool real) {
    listing_t l = {.out = CB_BUF_INIT, .times = real, .links = !real};
    int r = list_dir(&l, root, "");
    for (size_t i = 0; i < l.nseen; i++)
        free(l.seen[i].path);
    free(l.seen);
    if (r < 0) {
        cb_buf_free(&l.out);
        return NULL;
    }
    return cb_buf_steal(&l.out);
}

static char *list_tree(const char *root) {
    return list_tree_as(root, false);
}

/* The layer cb_layer_add_upper writes from upper (uncompressed), as
 * layer_lines; NULL with *err set when it fails. */
static char *try_layer(int upper, cb_error_t **err) {
    cb_layer_writer_opts_t o = {.compression = CB_LAYER_UNCOMPRESSED};
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    assert_int_equal(cb_layer_writer_new(&w, &o, buf_sink, &tar, err), 0);
    if (cb_layer_add_upper(w, upper, err) < 0)
        return NULL;
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, err), 0);
    return layer_lines(&tar);
}

/* assert_string_equal for long multi-line text: cmocka cuts its message
 * short, so this names the first line that differs. */
static void assert_lines_equal(const char *got, const char *want) {
    if (strcmp(got, want) == 0)
        return;
    const char *g = got, *w = want;
    size_t line = 1;
    for (size_t i = 0; got[i] && got[i] == want[i]; i++)
        if (got[i] == '\n') {
            line++;
            g = got + i + 1;
            w = want + i + 1;
        }
    fail_msg("line %zu differs:\n got: %.*s\nwant: %.*s", line, (int)strcspn(g, "\n"), g,
             (int)strcspn(w, "\n"), w);
}

static void assert_ok(int rc, cb_error_t *err) {
    if (rc < 0) {
        cb_autofree char *m = cb_error_message(err);
        fail_msg("unexpected error: %s", m);
    }
}

/* The layer of the upper dir at path, which must succeed. */
static char *layer_of(const char *path) {
    cb_autoclose int fd = open_dir(path);
    cb_autoerr cb_error_t *err = NULL;
    char *lines = try_layer(fd, &err);
    assert_ok(lines ? 0 : -1, err);
    return lines;
}

/* Commits upper into merged, which must succeed (merged through an O_PATH
 * descriptor: that is enough). */
static void commit_ok(const char *upper, const char *merged) {
    cb_autoclose int ufd = open_dir(upper);
    cb_autoclose int mfd = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(mfd >= 0);
    cb_autoerr cb_error_t *err = NULL;
    assert_ok(cb_overlay_commit_upper(ufd, mfd, &err), err);
}

/* got is exactly the lines want[0..n), each ending in a newline. */
static void assert_lines(const char *got, const char *const *want, size_t n) {
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        cb_buf_printf(&b, "%s\n", want[i]);
    assert_non_null(got);
    assert_lines_equal(got, cb_buf_str(&b));
}

static bool dir_is_empty(const char *dir) {
    cb_autofree char *l = list_tree(dir);
    return l && l[0] == '\0';
}

/* --- the layer ----------------------------------------------------------- */

/* Every kind of upper entry, as the kernel leaves them. */
static char *make_upper(void) {
    char *u = tmp_dir();
    write_file(u, "a.txt", "A", 0644);
    set_x(u, "a.txt", "user.keep", "1");
    set_x(u, "a.txt", "trusted.overlay.origin", "fh");
    set_x(u, "a.txt", "user.overlay.impure", "y");
    set_x(u, "a.txt", "user.overlay.overlay.escaped", "1");
    mk_dir(u, "bin", 0755);
    set_x(u, "bin", "trusted.overlay.impure", "y");
    mk_whiteout(u, "bin/gone");
    write_file(u, "bin/tool", "T", 04755);
    mk_dir(u, "dev", 0755);
    cb_autofree char *null = at(u, "dev/null");
    assert_int_equal(mknod(null, S_IFCHR | 0666, makedev(1, 3)), 0);
    assert_int_equal(chmod(null, 0666), 0);
    /* The kernel shares one whiteout inode: link count 2. */
    mk_link(u, "bin/gone", "dev/zero-wh");
    cb_autofree char *fifo = at(u, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    write_file(u, "hard1", "H", 0640);
    mk_link(u, "hard1", "hard2");
    mk_symlink(u, "link", "a.txt");
    write_file(u, "nl\nfile", "N", 0644);
    mk_whiteout(u, "nl\nwh");
    mk_dir(u, "notopq", 0755);
    set_x(u, "notopq", "user.overlay.opaque", "x"); /* xattr whiteouts inside: not opaque */
    write_file(u, "notopq/k", "K", 0644);
    mk_dir(u, "opq-t", 0755);
    set_x(u, "opq-t", "trusted.overlay.opaque", "y");
    write_file(u, "opq-t/inner", "I", 0644);
    mk_dir(u, "opq-u", 0750);
    set_x(u, "opq-u", "user.overlay.opaque", "y");
    mk_dir(u, "opq-u/sub", 0755);
    write_file(u, "opq-u/sub/f", "F", 0600);
    cb_autofree char *sock = at(u, "sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    close(s);
    assert_int_equal(lchown(fifo, 7, 8), 0);
    mk_whiteout(u, "zz-wh");
    return u;
}

static void test_layer_from_upper(void **state) {
    (void)state;
    cb_autofree char *u = make_upper();
    cb_autofree char *got = layer_of(u);
    const char *want[] = {
        "f a.txt 0644 0:0 x=user.keep",
        "d bin/ 0755 0:0",
        "f bin/.wh.gone 0000 0:0",
        "f bin/tool 4755 0:0",
        "d dev/ 0755 0:0",
        "c dev/null 0666 0:0 rdev 1:3",
        "f dev/.wh.zero-wh 0000 0:0",
        "p fifo 0600 7:8",
        "f hard1 0640 0:0",
        "h hard2 0640 0:0 -> hard1",
        "l link 0777 0:0 -> a.txt",
        "f nl\\nfile 0644 0:0",
        "f .wh.nl\\nwh 0000 0:0",
        "d notopq/ 0755 0:0",
        "f notopq/k 0644 0:0",
        "d opq-t/ 0755 0:0",
        "f opq-t/.wh..wh..opq 0000 0:0",
        "f opq-t/inner 0644 0:0",
        "d opq-u/ 0750 0:0",
        "f opq-u/.wh..wh..opq 0000 0:0",
        "d opq-u/sub/ 0755 0:0",
        "f opq-u/sub/f 0600 0:0",
        "f .wh.zz-wh 0000 0:0",
    };
    assert_lines(got, want, CB_ARRAY_LEN(want));

    /* The upper is read, not changed. */
    cb_autofree char *p = at(u, "a.txt");
    assert_true(lgetxattr(p, "trusted.overlay.origin", NULL, 0) > 0);

    /* The filter is the upper walk's: the same writer logic on a plain
     * tree keeps overlay xattrs (and writes 0/0 devices as devices). */
    cb_autoclose int fd = open_dir(u);
    cb_autoerr cb_error_t *err = NULL;
    cb_layer_writer_opts_t o = {0};
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    assert_int_equal(cb_layer_writer_new(&w, &o, buf_sink, &tar, &err), 0);
    assert_int_equal(cb_layer_add_upper(w, fd, &err), 0);
    assert_int_equal(cb_layer_add_path(w, "again/a.txt", fd, "a.txt", NULL, &err), 0);
    assert_int_equal(cb_layer_add_path(w, "again/zz-wh", fd, "zz-wh", NULL, &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    cb_autofree char *all = layer_lines(&tar);
    assert_non_null(strstr(all, "\nf again/a.txt 0644 0:0 x=trusted.overlay.origin,user.keep,"
                                "user.overlay.impure,user.overlay.overlay.escaped\n"));
    assert_non_null(strstr(all, "\nc again/zz-wh 0000 0:0 rdev 0:0\n"));
    rm_tree(u);
}

static void test_layer_empty_upper(void **state) {
    (void)state;
    cb_autofree char *u = tmp_dir();
    cb_autoclose int fd = open(u, O_PATH | O_DIRECTORY | O_CLOEXEC); /* O_PATH will do */
    cb_autoerr cb_error_t *err = NULL;
    cb_autofree char *got = try_layer(fd, &err);
    assert_non_null(got);
    assert_string_equal(got, "");
    cb_autofree char *m = tmp_dir();
    commit_ok(u, m);
    assert_true(dir_is_empty(m));
    rm_tree(u);
    rm_tree(m);
}

/* redirect_dir / metacopy uppers are not complete: refused, named. */
static void test_refuses_redirect_and_metacopy(void **state) {
    (void)state;
    const char *cases[][3] = {
        {"d", "trusted.overlay.redirect", "/elsewhere"},
        {"d/f", "user.overlay.metacopy", ""},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_autofree char *u = tmp_dir();
        cb_autofree char *m = tmp_dir();
        mk_dir(u, "d", 0755);
        write_file(u, "d/f", "x", 0644);
        cb_autofree char *p = at(u, cases[i][0]);
        assert_int_equal(lsetxattr(p, cases[i][1], cases[i][2], strlen(cases[i][2]), 0), 0);
        cb_autoclose int fd = open_dir(u);
        cb_autoclose int mfd = open_dir(m);
        cb_autoerr cb_error_t *err = NULL;
        assert_null(try_layer(fd, &err));
        cb_autofree char *msg = cb_error_message(err);
        cb_autofree char *want = cb_xasprintf("'%s' has %s", cases[i][0], cases[i][1]);
        assert_non_null(strstr(msg, want));
        cb_error_free(err);
        err = NULL;
        assert_true(cb_overlay_commit_upper(fd, mfd, &err) < 0);
        cb_autofree char *msg2 = cb_error_message(err);
        assert_true(cb_str_has_prefix(msg2, "overlay commit: "));
        assert_non_null(strstr(msg2, want));
        rm_tree(u);
        rm_tree(m);
    }
}

/* --- the commit ---------------------------------------------------------- */

static void test_commit(void **state) {
    (void)state;
    cb_autofree char *m = tmp_dir();
    cb_autofree char *u = tmp_dir();

    /* The merged tree before the step. */
    write_file(m, "keep.txt", "keep", 0644);
    write_file(m, "rmfile", "x", 0644);
    mk_dir(m, "rmdir", 0555); /* read-only, with content */
    mk_dir(m, "rmdir/a", 0755);
    write_file(m, "rmdir/a/c", "c", 0644);
    cb_autofree char *rmdir_a = at(m, "rmdir/a");
    assert_int_equal(chmod(rmdir_a, 0500), 0);
    mk_dir(m, "etc", 0755);
    set_x(m, "etc", "user.a", "1");
    set_x(m, "etc", "user.b", "old");
    write_file(m, "etc/passwd", "old", 0644);
    write_file(m, "etc/old", "o", 0644);
    mk_dir(m, "opq", 0755);
    write_file(m, "opq/old1", "1", 0644);
    mk_dir(m, "opq/olddir", 0755);
    write_file(m, "opq/olddir/x", "x", 0644);
    write_file(m, "file2dir", "f", 0644);
    mk_dir(m, "dir2file", 0755);
    write_file(m, "dir2file/y", "y", 0644);
    mk_symlink(m, "sym2file", "keep.txt");
    mk_dir(m, "ro", 0555);
    write_file(m, "ro/f", "ro old", 0444);
    write_file(m, "fifo2file", "", 0644);

    /* What the step changed. */
    mk_whiteout(u, "rmfile");
    mk_whiteout(u, "rmdir");
    mk_dir(u, "etc", 0700);
    set_x(u, "etc", "user.b", "2");
    set_x(u, "etc", "trusted.overlay.impure", "y");
    set_x(u, "etc", "user.overlay.origin", "fh");
    write_file(u, "etc/passwd", "new", 0600);
    set_x(u, "etc/passwd", "trusted.overlay.origin", "fh");
    set_x(u, "etc/passwd", "user.x", "1");
    write_file(u, "etc/shadow", "s", 0640);
    mk_whiteout(u, "etc/old");
    mk_link(u, "etc/old", "etc/ghost"); /* shared whiteout inode, nothing to remove */
    cb_autofree char *uetc = at(u, "etc");
    assert_int_equal(chown(uetc, 1, 2), 0);
    mk_dir(u, "opq", 0711);
    set_x(u, "opq", "user.overlay.opaque", "y");
    write_file(u, "opq/new1", "n", 0644);
    mk_dir(u, "file2dir", 0755);
    write_file(u, "file2dir/g", "g", 0644);
    write_file(u, "dir2file", "now a file", 0644);
    write_file(u, "sym2file", "file now", 0644);
    mk_dir(u, "newdir", 0750);
    set_x(u, "newdir", "trusted.overlay.origin", "fh");
    write_file(u, "newdir/n", "n", 0644);
    set_x(u, "newdir/n", "user.overlay.impure", "y");
    mk_whiteout(u, "newdir/stub"); /* hides stub-lower content only */
    mk_dir(u, "newdir/sub", 0755);
    mk_whiteout(u, "newdir/sub/w");
    write_file(u, "hard1", "H", 0644);
    mk_link(u, "hard1", "newdir/hard2");
    mk_link(u, "hard1", "etc/hard3");
    mk_dir(u, "ro", 0555);
    write_file(u, "ro/f", "ro new", 0444);
    mk_symlink(u, "lnk", "/etc/passwd");
    cb_autofree char *fifo = at(u, "fifo2file");
    assert_int_equal(mkfifo(fifo, 0640), 0);
    set_mtime(u, "etc", 1234567);
    set_mtime(u, "newdir/sub", 2345678);
    set_mtime(u, "newdir", 3456789);
    set_mtime(u, "ro", 4567890);

    cb_autofree char *layer_before = layer_of(u);
    commit_ok(u, m);

    cb_autofree char *got = list_tree(m);
    assert_non_null(got);
    const char *want[] = {
        "dir2file f 0644 0:0 \"now a file\"",
        "etc d 0700 1:2 user.a=1 user.b=2",
        "etc/hard3 f 0644 0:0 \"H\"",
        "etc/passwd f 0600 0:0 \"new\" user.x=1",
        "etc/shadow f 0640 0:0 \"s\"",
        "fifo2file p 0640 0:0",
        "file2dir d 0755 0:0",
        "file2dir/g f 0644 0:0 \"g\"",
        "hard1 f 0644 0:0 \"H\" =etc/hard3",
        "keep.txt f 0644 0:0 \"keep\"",
        "lnk l 0777 0:0 -> /etc/passwd",
        "newdir d 0750 0:0",
        "newdir/hard2 f 0644 0:0 \"H\" =etc/hard3",
        "newdir/n f 0644 0:0 \"n\"",
        "newdir/sub d 0755 0:0",
        "opq d 0711 0:0",
        "opq/new1 f 0644 0:0 \"n\"",
        "ro d 0555 0:0",
        "ro/f f 0444 0:0 \"ro new\"",
        "sym2file f 0644 0:0 \"file now\"",
    };
    assert_lines(got, want, CB_ARRAY_LEN(want));

    /* Times as the overlay showed them: set from the upper on merged
     * directories, kept on moved ones even where whiteouts were dropped. */
    const struct {
        const char *rel;
        time_t t;
    } times[] = {{"etc", 1234567}, {"newdir", 3456789}, {"newdir/sub", 2345678}, {"ro", 4567890}};
    for (size_t i = 0; i < CB_ARRAY_LEN(times); i++) {
        cb_autofree char *p = at(m, times[i].rel);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mtim.tv_sec, times[i].t);
    }
    assert_true(dir_is_empty(u));
    /* The layer written from the same upper before the commit. */
    assert_non_null(strstr(layer_before, "\nf etc/.wh.ghost 0000 0:0\nf etc/hard3 0644 0:0\n"
                                         "f etc/.wh.old 0000 0:0\n"));
    rm_tree(u);
    rm_tree(m);
}

/* Symlinks in the merged tree are replaced or removed, never followed:
 * nothing outside it changes, whatever the names look like. */
static void test_commit_hostile(void **state) {
    (void)state;
    cb_autofree char *top = tmp_dir();
    cb_autofree char *m = at(top, "merged");
    cb_autofree char *u = at(top, "upper");
    cb_autofree char *out = at(top, "outside");
    assert_int_equal(mkdir(m, 0755), 0);
    assert_int_equal(mkdir(u, 0755), 0);
    assert_int_equal(mkdir(out, 0755), 0);
    write_file(out, "victim", "safe", 0644);
    mk_dir(out, "d", 0755);
    write_file(out, "d/victim2", "safe", 0644);
    mk_dir(out, "nl\ndir", 0755);
    write_file(out, "nl\ndir/v", "safe", 0644);

    cb_autofree char *out_d = at(out, "d");
    mk_symlink(m, "abs", out);              /* upper: a dir with files */
    mk_symlink(m, "rel", "../outside/d");   /* upper: a dir with a whiteout */
    mk_symlink(m, "wh", out);               /* upper: whiteout */
    mk_symlink(m, "victim", "../outside/victim"); /* upper: a file */
    mk_symlink(m, "opq", out_d);            /* upper: an opaque dir */
    mk_dir(m, "real", 0755);
    mk_symlink(m, "real/up", "../../outside"); /* upper: real/up/victim file */
    mk_symlink(m, "nl\nlink", "../outside/nl\ndir"); /* upper: dir "nl\nlink" */
    mk_dir(m, "a\nb", 0755);                /* upper: whiteout "a\nb" */
    write_file(m, "a\nb/keep", "k", 0644);

    mk_dir(u, "abs", 0755);
    write_file(u, "abs/victim", "EVIL", 0644);
    mk_dir(u, "abs/d", 0755);
    write_file(u, "abs/d/victim2", "EVIL", 0644);
    mk_dir(u, "rel", 0755);
    mk_whiteout(u, "rel/victim2");
    write_file(u, "rel/new", "EVIL", 0644);
    mk_whiteout(u, "wh");
    write_file(u, "victim", "EVIL", 0644);
    mk_dir(u, "opq", 0755);
    set_x(u, "opq", "trusted.overlay.opaque", "y");
    write_file(u, "opq/victim2", "EVIL", 0644);
    mk_dir(u, "real", 0755);
    mk_dir(u, "real/up", 0755);
    write_file(u, "real/up/victim", "EVIL", 0644);
    mk_dir(u, "nl\nlink", 0755);
    write_file(u, "nl\nlink/v", "EVIL", 0644);
    mk_whiteout(u, "a\nb");

    cb_autofree char *outside_before = list_tree(out);
    commit_ok(u, m);
    cb_autofree char *outside_after = list_tree(out);
    assert_lines_equal(outside_after, outside_before);

    cb_autofree char *got = list_tree(m);
    const char *want[] = {
        "abs d 0755 0:0",
        "abs/d d 0755 0:0",
        "abs/d/victim2 f 0644 0:0 \"EVIL\"",
        "abs/victim f 0644 0:0 \"EVIL\"",
        "nl\\nlink d 0755 0:0",
        "nl\\nlink/v f 0644 0:0 \"EVIL\"",
        "opq d 0755 0:0",
        "opq/victim2 f 0644 0:0 \"EVIL\"",
        "real d 0755 0:0",
        "real/up d 0755 0:0",
        "real/up/victim f 0644 0:0 \"EVIL\"",
        "rel d 0755 0:0",
        "rel/new f 0644 0:0 \"EVIL\"",
        "victim f 0644 0:0 \"EVIL\"",
    };
    assert_lines(got, want, CB_ARRAY_LEN(want));
    assert_true(dir_is_empty(u));
    rm_tree(top);
}

/* --- a real upper ---------------------------------------------------------- */

#define CHILD_CHECK(x)                                                                    \
    do {                                                                                  \
        if (!(x)) {                                                                       \
            fprintf(stderr, "overlay child: %s:%d: %s: %s\n", __FILE__, __LINE__, #x,     \
                    strerror(errno));                                                     \
            _exit(1);                                                                     \
        }                                                                                 \
    } while (0)

static void child_write(const char *mnt, const char *rel, const char *data, int flags,
                        mode_t mode) {
    cb_autofree char *p = at(mnt, rel);
    int fd = open(p, O_WRONLY | O_CLOEXEC | flags, mode);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, data, strlen(data)) == (ssize_t)strlen(data));
    CHILD_CHECK(fchmod(fd, mode) == 0);
    close(fd);
}

/* The step: every kind of change a RUN makes, done through the mount. */
static void child_step(const char *mnt) {
    cb_autofree char *p = NULL;
#define P(rel) (free(p), p = at(mnt, rel))
    child_write(mnt, "new.txt", "new\n", O_CREAT | O_EXCL, 0644);
    CHILD_CHECK(setxattr(P("new.txt"), "user.note", "1", 1, 0) == 0);
    CHILD_CHECK(mkdir(P("newdir"), 0750) == 0 && chmod(p, 0750) == 0);
    child_write(mnt, "newdir/inner", "in", O_CREAT | O_EXCL, 0644);
    child_write(mnt, "etc/conf", "more\n", O_APPEND, 0644);
    CHILD_CHECK(chmod(P("bin/tool"), 0700) == 0);
    CHILD_CHECK(chown(P("etc/owned"), 1000, 1000) == 0);
    cb_autofree char *conf = at(mnt, "etc/conf");
    CHILD_CHECK(link(conf, P("etc/conf.link")) == 0);
    CHILD_CHECK(symlink("etc/conf", P("conf.sym")) == 0);
    CHILD_CHECK(unlink(P("rmme")) == 0);
    cb_autoerr cb_error_t *err = NULL;
    CHILD_CHECK(cb_rm_rf(P("var/cache"), &err) == 0); /* rm -rf, then mkdir: opaque */
    CHILD_CHECK(mkdir(P("var/cache"), 0755) == 0 && chmod(p, 0755) == 0);
    child_write(mnt, "var/cache/fresh", "fresh", O_CREAT | O_EXCL, 0644);
    child_write(mnt, "bin/ping2", "ping", O_CREAT | O_EXCL, 0755);
    struct vfs_cap_data cap = {.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE};
    cap.data[0].permitted = 1u << CAP_NET_RAW;
    CHILD_CHECK(setxattr(P("bin/ping2"), "security.capability", &cap, XATTR_CAPS_SZ_2, 0) == 0);
    CHILD_CHECK(unlink(P("dev/null")) == 0); /* from the stub lower */
#undef P
}

/* In a new user and mount namespace (ids mapped by the parent): mount the
 * overlay, make the changes, record what the mount shows. Exit 77: the
 * kernel refused the mount. */
static void child_main(const char *top, int ready, int go) {
    CHILD_CHECK(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0);
    char c = 0;
    CHILD_CHECK(write(ready, &c, 1) == 1);
    CHILD_CHECK(read(go, &c, 1) == 1);
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    cb_autofree char *mnt = at(top, "mnt");
    cb_autofree char *opts = cb_xasprintf(
        "lowerdir=%s/lower:%s/stub,upperdir=%s/upper,workdir=%s/work,userxattr", top, top, top,
        top);
    if (mount("overlay", mnt, "overlay", 0, opts) < 0) {
        fprintf(stderr, "overlay mount refused in a user namespace: %s\n", strerror(errno));
        _exit(77);
    }
    child_step(mnt);
    cb_autofree char *view = list_tree_as(mnt, true);
    CHILD_CHECK(view != NULL);
    cb_autofree char *vpath = at(top, "view.txt");
    int fd = open(vpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHILD_CHECK(fd >= 0 && write(fd, view, strlen(view)) == (ssize_t)strlen(view));
    close(fd);
    _exit(0);
}

static void write_map(pid_t pid, const char *which) {
    cb_autofree char *p = cb_xasprintf("/proc/%d/%s", (int)pid, which);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    const char map[] = "0 0 65536\n";
    assert_int_equal(write(fd, map, strlen(map)), (ssize_t)strlen(map));
    close(fd);
}

static void make_lower(const char *top) {
    cb_autofree char *l = at(top, "lower");
    assert_int_equal(mkdir(l, 0755), 0);
    mk_dir(l, "bin", 0755);
    write_file(l, "bin/tool", "#!tool", 0755);
    mk_dir(l, "etc", 0755);
    write_file(l, "etc/conf", "conf\n", 0644);
    write_file(l, "etc/owned", "own", 0644);
    write_file(l, "rmme", "bye", 0644);
    mk_dir(l, "var", 0755);
    mk_dir(l, "var/cache", 0755);
    mk_dir(l, "var/cache/a", 0755);
    write_file(l, "var/cache/a/old", "old", 0644);
    write_file(l, "var/cache/b", "b", 0644);
    write_file(l, "var/keep", "keep", 0644);
    const char *dated[] = {"bin/tool", "bin", "etc/conf", "etc/owned", "etc", "rmme",
                           "var/cache/a/old", "var/cache/a", "var/cache/b", "var/cache",
                           "var/keep", "var"};
    for (size_t i = 0; i < CB_ARRAY_LEN(dated); i++)
        set_mtime(l, dated[i], 1500000000 + (time_t)i);
    cb_autofree char *s = at(top, "stub");
    assert_int_equal(mkdir(s, 0755), 0);
    mk_dir(s, "dev", 0755);
    write_file(s, "dev/null", "stub", 0644);
    set_mtime(s, "dev", 1400000000);
    const char *dirs[] = {"upper", "work", "mnt"};
    for (size_t i = 0; i < CB_ARRAY_LEN(dirs); i++) {
        cb_autofree char *d = at(top, dirs[i]);
        assert_int_equal(mkdir(d, 0755), 0);
    }
}

/* Set when the kernel refused the mount: the binary then exits 77, so
 * ctest counts the skip instead of hiding it in a pass. */
static bool overlay_skipped;

static void test_real_overlay_upper(void **state) {
    (void)state;
    cb_autofree char *top = tmp_dir();
    make_lower(top);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        child_main(top, ready[1], go[0]);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    bool unshared = read(ready[0], &c, 1) == 1;
    if (unshared) {
        write_map(pid, "uid_map");
        write_map(pid, "gid_map");
        assert_int_equal(write(go[1], &c, 1), 1);
    }
    close(ready[0]);
    close(go[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        rm_tree(top);
        print_message("skipped: this kernel refuses overlayfs in a user namespace\n");
        overlay_skipped = true;
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The layer. */
    cb_autofree char *upper = at(top, "upper");
    cb_autofree char *got = layer_of(upper);
    const char *want[] = {
        "d bin/ 0755 0:0",
        "f bin/ping2 0755 0:0 x=security.capability",
        "f bin/tool 0700 0:0",
        "l conf.sym 0777 0:0 -> etc/conf",
        "d dev/ 0755 0:0",
        "f dev/.wh.null 0000 0:0",
        "d etc/ 0755 0:0",
        "f etc/conf 0644 0:0",
        "h etc/conf.link 0644 0:0 -> etc/conf",
        "f etc/owned 0644 1000:1000",
        "f new.txt 0644 0:0 x=user.note",
        "d newdir/ 0750 0:0",
        "f newdir/inner 0644 0:0",
        "f .wh.rmme 0000 0:0",
        "d var/ 0755 0:0",
        "d var/cache/ 0755 0:0",
        "f var/cache/.wh..wh..opq 0000 0:0",
        "f var/cache/fresh 0644 0:0",
    };
    assert_lines(got, want, CB_ARRAY_LEN(want));

    /* The commit: a copy of the lower plus the upper is what the mount
     * showed (stub content aside: the test's stub holds only dev/null,
     * which the step removed). */
    cb_autofree char *copy = at(top, "merged");
    cb_autofree char *cmd = cb_xasprintf("cp -a '%s/lower' '%s'", top, copy);
    assert_int_equal(system(cmd), 0);
    commit_ok(upper, copy);
    cb_autofree char *committed = list_tree_as(copy, true);
    cb_autofree char *view = read_file_str(top, "view.txt");
    assert_non_null(committed);
    assert_non_null(view);
    assert_lines_equal(committed, view);
    struct stat a, b;
    cb_autofree char *conf = at(copy, "etc/conf"), *link2 = at(copy, "etc/conf.link");
    assert_int_equal(lstat(conf, &a), 0);
    assert_int_equal(lstat(link2, &b), 0);
    assert_true(a.st_ino == b.st_ino && a.st_nlink == 2);
    assert_true(dir_is_empty(upper));
    rm_tree(top);
}

/* --- fuse-overlayfs uppers -------------------------------------------- */

/* What fuse-overlayfs leaves when it may not make device nodes (".wh."
 * files) and when it may (the 0/0 ".wh..opq" beside its opaque marker),
 * with its own xattrs; plus the opaque marks it puts on every directory it
 * makes, lower or not. */
static void test_fuse_upper(void **state) {
    (void)state;
    cb_autofree char *m = tmp_dir();
    cb_autofree char *u = tmp_dir();
    write_file(m, "gone", "g", 0644);
    mk_dir(m, "d", 0755);
    write_file(m, "d/x", "x", 0644);
    write_file(m, "d/keep", "old", 0644);
    mk_dir(m, "opq-f", 0755);
    write_file(m, "opq-f/old", "o", 0644);
    mk_dir(m, "opq-m", 0755);
    write_file(m, "opq-m/old", "o", 0644);
    mk_dir(m, "real", 0755);
    write_file(m, "real/old", "o", 0644);
    mk_dir(m, "target", 0755);
    write_file(m, "target/t", "t", 0644);
    mk_symlink(m, "viasym", "target");

    write_file(u, ".wh.gone", "", 0700);
    mk_dir(u, "d", 0755);
    write_file(u, "d/.wh.x", "", 0700);
    write_file(u, "d/keep", "new", 0644);
    set_x(u, "d/keep", "user.fuseoverlayfs.origin", "/d/keep");
    set_x(u, "d/keep", "user.mine", "1");
    write_file(u, "d/.wh.", "", 0700); /* no name after the prefix: content */
    mk_dir(u, "opq-f", 0750);
    set_x(u, "opq-f", "user.fuseoverlayfs.opaque", "y");
    write_file(u, "opq-f/.wh..wh..opq", "", 0700);
    mk_whiteout(u, "opq-f/.wh..opq");
    write_file(u, "opq-f/n", "n", 0644);
    mk_dir(u, "opq-m", 0755);
    write_file(u, "opq-m/.wh..wh..opq", "", 0700);
    write_file(u, "opq-m/m", "m", 0644);
    /* Made by the step where the lower has no directory: marked all the same. */
    mk_dir(u, "new", 0755);
    set_x(u, "new", "user.fuseoverlayfs.opaque", "y");
    write_file(u, "new/.wh..wh..opq", "", 0700);
    mk_dir(u, "new/sub", 0755);
    write_file(u, "new/sub/.wh..wh..opq", "", 0700);
    write_file(u, "new/sub/f", "f", 0644);
    mk_dir(u, "real", 0755); /* rm -rf real; mkdir real: a true opaque dir */
    write_file(u, "real/.wh..wh..opq", "", 0700);
    mk_dir(u, "viasym", 0755); /* a symlink to a directory is not one */
    write_file(u, "viasym/.wh..wh..opq", "", 0700);
    set_mtime(u, "new", 1234567);

    {
        cb_autoclose int ufd = open_dir(u);
        cb_autoclose int mfd = open_dir(m);
        cb_autoerr cb_error_t *err = NULL;
        assert_ok(cb_upper_drop_idle_opaque(ufd, mfd, &err), err);
    }
    cb_autofree char *p = at(u, "new");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mtim.tv_sec, 1234567);
    assert_true(lgetxattr(p, "user.fuseoverlayfs.opaque", NULL, 0) < 0);

    cb_autofree char *got = layer_of(u);
    const char *want[] = {
        "d d/ 0755 0:0",
        "f d/.wh. 0700 0:0",
        "f d/keep 0644 0:0 x=user.mine",
        "f d/.wh.x 0000 0:0", /* where the kernel's whiteout "x" would be */
        "f .wh.gone 0000 0:0",
        "d new/ 0755 0:0",
        "d new/sub/ 0755 0:0",
        "f new/sub/f 0644 0:0",
        "d opq-f/ 0750 0:0",
        "f opq-f/.wh..wh..opq 0000 0:0",
        "f opq-f/n 0644 0:0",
        "d opq-m/ 0755 0:0",
        "f opq-m/.wh..wh..opq 0000 0:0",
        "f opq-m/m 0644 0:0",
        "d real/ 0755 0:0",
        "f real/.wh..wh..opq 0000 0:0",
        "d viasym/ 0755 0:0",
    };
    assert_lines(got, want, CB_ARRAY_LEN(want));

    commit_ok(u, m);
    cb_autofree char *tree = list_tree(m);
    const char *want_tree[] = {
        "d d 0755 0:0",
        "d/.wh. f 0700 0:0 \"\"",
        "d/keep f 0644 0:0 \"new\" user.mine=1",
        "new d 0755 0:0",
        "new/sub d 0755 0:0",
        "new/sub/f f 0644 0:0 \"f\"",
        "opq-f d 0750 0:0",
        "opq-f/n f 0644 0:0 \"n\"",
        "opq-m d 0755 0:0",
        "opq-m/m f 0644 0:0 \"m\"",
        "real d 0755 0:0",
        "target d 0755 0:0",
        "target/t f 0644 0:0 \"t\"",
        "viasym d 0755 0:0",
    };
    assert_lines(tree, want_tree, CB_ARRAY_LEN(want_tree));
    assert_true(dir_is_empty(u));
    rm_tree(u);
    rm_tree(m);
}

int main(void) {
    if (geteuid() != 0) {
        fprintf(stderr, "test_upper: needs root (0/0 device nodes, trusted.* xattrs)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_from_upper),
        cmocka_unit_test(test_layer_empty_upper),
        cmocka_unit_test(test_refuses_redirect_and_metacopy),
        cmocka_unit_test(test_commit),
        cmocka_unit_test(test_commit_hostile),
        cmocka_unit_test(test_real_overlay_upper),
        cmocka_unit_test(test_fuse_upper),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed ? failed : overlay_skipped ? 77 : 0;
}
