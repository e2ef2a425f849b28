/* cb_rm_rf: whole trees of every shape go, on one thread or many (a tree
 * past the batch size is unlinked by threads and flushed several times),
 * read-only directories included, symlinks never followed; a missing path
 * is fine; a file that cannot be removed is an error naming it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/util.h"

static char *tmp_dir(void) {
    char *d = cb_xstrdup("/tmp/cb-rmtree-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* files per directory in dirs directories, nested depth deep under root. */
static void make_tree(const char *root, int dirs, int files, int depth) {
    assert_int_equal(mkdir(root, 0755), 0);
    for (int d = 0; d < dirs; d++) {
        cb_autofree char *dir = cb_xasprintf("%s/d%d", root, d);
        assert_int_equal(mkdir(dir, 0755), 0);
        for (int f = 0; f < files; f++) {
            cb_autofree char *p = cb_xasprintf("%s/f%d", dir, f);
            put(p, "data\n");
        }
        if (depth > 1) {
            cb_autofree char *sub = cb_xasprintf("%s/sub", dir);
            make_tree(sub, 2, files / 4 + 1, depth - 1);
        }
    }
}

static void remove_ok(const char *path) {
    cb_error_t *err = NULL;
    if (cb_rm_rf(path, &err) < 0) {
        cb_autofree char *msg = cb_error_message(err);
        fail_msg("%s", msg);
    }
    assert_false(exists(path));
}

/* A fresh tree of that shape, removed, then its temp dir. */
static void remove_new_tree(int dirs, int files, int depth) {
    cb_autofree char *d = tmp_dir();
    cb_autofree char *t = cb_xasprintf("%s/t", d);
    make_tree(t, dirs, files, depth);
    remove_ok(t);
    remove_ok(d);
}

static void test_small_tree(void **state) {
    (void)state;
    remove_new_tree(3, 5, 3);
}

/* More files than one batch: threads, several flushes, directories removed
 * between flushes while deeper ones are still being walked. */
static void test_large_tree(void **state) {
    (void)state;
    remove_new_tree(12, 300, 3);
}

static void test_readonly_dirs_and_links(void **state) {
    (void)state;
    cb_autofree char *d = tmp_dir();
    cb_autofree char *t = cb_xasprintf("%s/t", d);
    cb_autofree char *keep = cb_xasprintf("%s/keep", d);
    make_tree(t, 2, 300, 2);
    make_tree(keep, 1, 2, 1);
    /* Links to outside the tree, to a directory and a file: removed, never followed. */
    cb_autofree char *l1 = cb_xasprintf("%s/d0/to-keep", t);
    cb_autofree char *l2 = cb_xasprintf("%s/d1/to-file", t);
    cb_autofree char *target = cb_xasprintf("%s/d0/f0", keep);
    assert_int_equal(symlink(keep, l1), 0);
    assert_int_equal(symlink(target, l2), 0);
    cb_autofree char *fifo = cb_xasprintf("%s/d1/fifo", t);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    /* Read-only directories, as a layer may leave them. */
    cb_autofree char *ro = cb_xasprintf("%s/d0/sub", t);
    cb_autofree char *ro_top = cb_xasprintf("%s/d1", t);
    assert_int_equal(chmod(ro, 0555), 0);
    assert_int_equal(chmod(ro_top, 0500), 0);
    assert_int_equal(chmod(t, 0555), 0);
    remove_ok(t);
    assert_true(exists(target));
    remove_ok(keep);
    remove_ok(d);
}

static void test_missing_and_single_file(void **state) {
    (void)state;
    cb_autofree char *d = tmp_dir();
    cb_autofree char *none = cb_xasprintf("%s/none", d);
    remove_ok(none);
    cb_autofree char *f = cb_xasprintf("%s/file", d);
    put(f, "x");
    remove_ok(f);
    remove_ok(d);
}

/* An immutable file (chattr +i: needs CAP_LINUX_IMMUTABLE and a file system
 * that has the flag) cannot be unlinked: the error names it, in a batch
 * unlinked by threads as well as by the walker. */
static bool make_immutable(const char *path, bool on) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    int flags = 0;
    bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    if (ok) {
        flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
        ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
    close(fd);
    return ok;
}

static void check_error_names(int files) {
    cb_autofree char *d = tmp_dir();
    cb_autofree char *t = cb_xasprintf("%s/t", d);
    make_tree(t, 1, files, 1);
    cb_autofree char *stuck = cb_xasprintf("%s/d0/f%d", t, files / 2);
    if (!make_immutable(stuck, true)) {
        remove_ok(d);
        skip();
    }
    cb_error_t *err = NULL;
    assert_int_equal(cb_rm_rf(t, &err), -1);
    cb_autofree char *want = cb_xasprintf("remove %s/d0/f%d", t, files / 2);
    cb_autofree char *msg = cb_error_message(err);
    if (strstr(msg, want) == NULL)
        fail_msg("error '%s' does not name '%s'", msg, want);
    cb_error_free(err);
    assert_true(exists(stuck));
    assert_true(make_immutable(stuck, false));
    remove_ok(d);
}

static void test_error_names_file(void **state) {
    (void)state;
    check_error_names(10);
}

static void test_error_names_file_threads(void **state) {
    (void)state;
    check_error_names(600);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_tree),
        cmocka_unit_test(test_large_tree),
        cmocka_unit_test(test_readonly_dirs_and_links),
        cmocka_unit_test(test_missing_and_single_file),
        cmocka_unit_test(test_error_names_file),
        cmocka_unit_test(test_error_names_file_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
