/* Writing layers: entries, order, link types, metadata normalisation,
 * overrides, whiteouts, determinism and digests. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "common/digest.h"
#include "layer/writer.h"
#include "layer_test_util.h"

/* A tree with every kind of entry the writer handles. */
static char *make_tree(bool *xattrs) {
    char *root = tmp_dir();
    char *p;
    write_file(root, "a.txt", "hello\n", 0644);
    p = cb_xasprintf("%s/bin", root);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    write_file(root, "bin/tool", "#!/bin/sh\n", 04755);
    p = cb_xasprintf("%s/dir", root);
    assert_int_equal(mkdir(p, 0750), 0);
    free(p);
    p = cb_xasprintf("%s/dir/sub", root);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    write_file(root, "dir/sub/deep.txt", "deep", 0600);
    write_file(root, "dir-b", "sorts after dir's children", 0644);
    write_file(root, "hard1", "same inode", 0640);
    char *h1 = cb_xasprintf("%s/hard1", root), *h2 = cb_xasprintf("%s/hard2", root);
    assert_int_equal(link(h1, h2), 0);
    free(h1);
    free(h2);
    p = cb_xasprintf("%s/link", root);
    assert_int_equal(symlink("a.txt", p), 0);
    free(p);
    p = cb_xasprintf("%s/fifo", root);
    assert_int_equal(mkfifo(p, 0600), 0);
    free(p);
    p = cb_xasprintf("%s/sock", root);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", p);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    close(s);
    free(p);
    *xattrs = have_user_xattrs(root);
    if (*xattrs) {
        p = cb_xasprintf("%s/a.txt", root);
        assert_int_equal(setxattr(p, "user.b", "2", 1, 0), 0);
        assert_int_equal(setxattr(p, "user.a", "1", 1, 0), 0);
        free(p);
    }
    /* Fixed mtimes so the listing below is exact; one far in the future to
     * see the clamp. */
    const char *names[] = {"a.txt", "bin", "bin/tool", "dir", "dir/sub", "dir/sub/deep.txt",
                           "dir-b", "hard1", "fifo"};
    for (size_t i = 0; i < CB_ARRAY_LEN(names); i++) {
        struct timespec ts[2] = {{.tv_sec = 1500000000}, {.tv_sec = 1500000000}};
        if (strcmp(names[i], "dir-b") == 0)
            ts[1].tv_sec = ts[0].tv_sec = 4000000000;
        cb_autofree char *np = cb_xasprintf("%s/%s", root, names[i]);
        assert_int_equal(utimensat(AT_FDCWD, np, ts, 0), 0);
    }
    p = cb_xasprintf("%s/link", root);
    struct timespec lts[2] = {{.tv_sec = 1500000000}, {.tv_sec = 1500000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, lts, AT_SYMLINK_NOFOLLOW), 0);
    free(p);
    return root;
}

static void write_tree(const char *root, const cb_layer_writer_opts_t *opts, cb_buf_t *out,
                       cb_layer_result_t *res) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    assert_int_equal(cb_layer_writer_new(&w, opts, buf_sink, out, &err), 0);
    assert_int_equal(cb_layer_add_tree(w, "/", AT_FDCWD, root, NULL, &err), 0);
    assert_int_equal(cb_layer_writer_finish(w, res, &err), 0);
}

static void test_tree_entries_and_order(void **state) {
    (void)state;
    bool xattrs;
    cb_autofree char *root = make_tree(&xattrs);
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    cb_layer_result_t res;
    write_tree(root, NULL, &tar, &res);

    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(&tar, &lines);
    /* Depth-first, bytewise per directory ("dir" < "dir-b", so dir's
     * children come between them); hard2 links to the first name; the socket
     * is gone; uid/gid are ours (tests run with some uid). */
    uid_t u = getuid();
    gid_t g = getgid();
    const char *expect[] = {
        "f a.txt 0644 %u:%u 6 1500000000",
        "d bin/ 0755 %u:%u 0 1500000000",
        "f bin/tool 4755 %u:%u 10 1500000000",
        "d dir/ 0750 %u:%u 0 1500000000",
        "d dir/sub/ 0700 %u:%u 0 1500000000",
        "f dir/sub/deep.txt 0600 %u:%u 4 1500000000",
        "f dir-b 0644 %u:%u 26 4000000000",
        "p fifo 0600 %u:%u 0 1500000000",
        "f hard1 0640 %u:%u 10 1500000000",
        "h hard2 -> hard1 0640 %u:%u 0 1500000000",
        "l link -> a.txt 0777 %u:%u 0 1500000000",
    };
    assert_int_equal(lines.len, CB_ARRAY_LEN(expect));
    for (size_t i = 0; i < lines.len; i++) {
        cb_autofree char *want = cb_xasprintf(expect[i], u, g, u, g);
        assert_string_equal(lines.items[i], want);
    }
    assert_int_equal(res.entries, CB_ARRAY_LEN(expect));

    /* Uncompressed: digest == diff_id == sha256 of the bytes. */
    char want[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(tar.data, tar.len, want);
    assert_string_equal(res.diff_id, want);
    assert_string_equal(res.digest, want);
    assert_int_equal(res.size, tar.len);
    assert_int_equal(res.tar_size, tar.len);
    assert_string_equal(res.media_suffix, "");

    /* No user/group names, no atime/ctime; xattrs kept and sorted. */
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, tar.data, tar.len), ARCHIVE_OK);
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *un = archive_entry_uname(e), *gn = archive_entry_gname(e);
        assert_true(un == NULL || un[0] == '\0');
        assert_true(gn == NULL || gn[0] == '\0');
        assert_false(archive_entry_atime_is_set(e));
        assert_false(archive_entry_ctime_is_set(e));
        if (xattrs && strcmp(archive_entry_pathname(e), "a.txt") == 0) {
            assert_int_equal(archive_entry_xattr_reset(e), 2);
            const char *n;
            const void *v;
            size_t sz;
            assert_int_equal(archive_entry_xattr_next(e, &n, &v, &sz), ARCHIVE_OK);
            assert_string_equal(n, "user.a");
            assert_int_equal(archive_entry_xattr_next(e, &n, &v, &sz), ARCHIVE_OK);
            assert_string_equal(n, "user.b");
            assert_memory_equal(v, "2", 1);
        }
    }
    archive_read_free(a);
    if (!xattrs)
        print_message("note: no user xattrs on this file system; xattr checks skipped\n");
    rm_tree(root);
}

static void test_deterministic_and_clamped(void **state) {
    (void)state;
    bool xattrs;
    cb_autofree char *root = make_tree(&xattrs);
    cb_autobuf cb_buf_t one = CB_BUF_INIT, two = CB_BUF_INIT;
    cb_layer_result_t r1, r2;
    cb_layer_writer_opts_t opts = {.compression = CB_LAYER_GZIP};
    write_tree(root, &opts, &one, &r1);
    /* atime and ctime change; the layer must not. */
    cb_autofree char *a = read_file_str(root, "a.txt");
    assert_string_equal(a, "hello\n");
    cb_autofree char *tool = cb_xasprintf("%s/bin/tool", root);
    assert_int_equal(chmod(tool, 04755), 0);
    write_tree(root, &opts, &two, &r2);
    assert_int_equal(one.len, two.len);
    assert_memory_equal(one.data, two.data, one.len);
    assert_string_equal(r1.digest, r2.digest);
    assert_string_equal(r1.diff_id, r2.diff_id);
    char want[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(one.data, one.len, want);
    assert_string_equal(r1.digest, want);
    assert_string_not_equal(r1.digest, r1.diff_id);

    /* The clamp: mtimes above it become it, older ones stay. */
    cb_autobuf cb_buf_t clamped = CB_BUF_INIT;
    cb_layer_result_t rc;
    cb_layer_writer_opts_t copts = {.clamp_mtime = true, .mtime_max = 1600000000};
    write_tree(root, &copts, &clamped, &rc);
    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(&clamped, &lines);
    bool saw = false;
    for (size_t i = 0; i < lines.len; i++) {
        assert_true(cb_str_has_suffix(lines.items[i], " 1500000000") ||
                    cb_str_has_suffix(lines.items[i], " 1600000000"));
        if (cb_str_has_prefix(lines.items[i], "f dir-b ")) {
            assert_true(cb_str_has_suffix(lines.items[i], " 1600000000"));
            saw = true;
        }
    }
    assert_true(saw);
    rm_tree(root);
}

static void test_synthetic_entries(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_layer_writer_opts_t opts = {.clamp_mtime = true, .mtime_max = 42};
    assert_int_equal(cb_layer_writer_new(&w, &opts, buf_sink, &tar, &err), 0);
    cb_layer_attrs_t owner = {.set_uid = true, .uid = 1000, .set_gid = true, .gid = 1001};
    assert_int_equal(cb_layer_add_parents(w, "/app/etc/conf.txt", NULL, &err), 0);
    /* Already written: no second "app" or "app/etc". */
    assert_int_equal(cb_layer_add_parents(w, "app/etc/other", NULL, &err), 0);
    const char body[] = "key=value\n";
    cb_layer_attrs_t fmode = {.set_mode = true, .mode = 0600, .set_uid = true, .uid = 1000};
    assert_int_equal(
        cb_layer_add_file_data(w, "app/etc/conf.txt", body, strlen(body), &fmode, &err), 0);
    assert_int_equal(cb_layer_add_dir(w, "./app/data/", &owner, &err), 0);
    assert_int_equal(cb_layer_add_whiteout(w, "/app/old.log", &err), 0);
    assert_int_equal(cb_layer_add_whiteout(w, "toplevel", &err), 0);
    assert_int_equal(cb_layer_add_opaque(w, "app/data", &err), 0);
    cb_layer_attrs_t stamped = {.set_mtime = true, .mtime = 7};
    assert_int_equal(cb_layer_add_file_data(w, "empty", NULL, 0, &stamped, &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);

    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(&tar, &lines);
    const char *expect[] = {
        "d app/ 0755 0:0 0 42",
        "d app/etc/ 0755 0:0 0 42",
        "f app/etc/conf.txt 0600 1000:0 10 42",
        "d app/data/ 0755 1000:1001 0 42",
        "f app/.wh.old.log 0000 0:0 0 42",
        "f .wh.toplevel 0000 0:0 0 42",
        "f app/data/.wh..wh..opq 0000 0:0 0 42",
        "f empty 0644 0:0 0 7",
    };
    assert_int_equal(lines.len, CB_ARRAY_LEN(expect));
    for (size_t i = 0; i < lines.len; i++)
        assert_string_equal(lines.items[i], expect[i]);
}

static void test_overrides_and_single_paths(void **state) {
    (void)state;
    bool xattrs;
    cb_autofree char *root = make_tree(&xattrs);
    cb_autoerr cb_error_t *err = NULL;
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    assert_int_equal(cb_layer_writer_new(&w, NULL, buf_sink, &tar, &err), 0);
    cb_layer_attrs_t chown = {.set_uid = true, .uid = 33, .set_gid = true, .gid = 44,
                              .set_mode = true, .mode = 02750};
    /* COPY --chown --chmod of a directory tree under a new name. */
    cb_autofree char *dir = cb_xasprintf("%s/dir", root);
    assert_int_equal(cb_layer_add_tree(w, "/srv/copy", AT_FDCWD, dir, &chown, &err), 0);
    /* A single path, a symlink: stored as a symlink, never followed. */
    cb_autofree char *lnk = cb_xasprintf("%s/link", root), *sock = cb_xasprintf("%s/sock", root);
    assert_int_equal(cb_layer_add_path(w, "lnk", AT_FDCWD, lnk, NULL, &err), 0);
    /* A socket adds nothing. */
    assert_int_equal(cb_layer_add_path(w, "s", AT_FDCWD, sock, NULL, &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(&tar, &lines);
    assert_int_equal(lines.len, 4);
    assert_string_equal(lines.items[0], "d srv/copy/ 2750 33:44 0 1500000000");
    assert_string_equal(lines.items[1], "d srv/copy/sub/ 2750 33:44 0 1500000000");
    assert_string_equal(lines.items[2], "f srv/copy/sub/deep.txt 2750 33:44 4 1500000000");
    assert_true(cb_str_has_prefix(lines.items[3], "l lnk -> a.txt 0777 "));
    rm_tree(root);
}

static int failing_sink(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    (void)ctx;
    (void)buf;
    (void)n;
    return cb_error_set(err, ENOSPC, "writing blob %s", "tmp/blob-1");
}

static void test_errors(void **state) {
    (void)state;
    cb_autofree char *root = tmp_dir();
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    {
        cb_autoerr cb_error_t *err = NULL;
        cb_autolayerwriter cb_layer_writer_t *w = NULL;
        assert_int_equal(cb_layer_writer_new(&w, NULL, buf_sink, &tar, &err), 0);
        assert_true(cb_layer_add_path(w, "x", AT_FDCWD, "/nonexistent/cbuild-test", NULL, &err) <
                    0);
        cb_autofree char *msg = cb_error_message(err);
        assert_non_null(strstr(msg, "'x'"));
        assert_non_null(strstr(msg, "No such file"));
        cb_error_free(err);
        err = NULL;
        assert_true(cb_layer_add_dir(w, "a/../../b", NULL, &err) < 0);
        cb_autofree char *msg2 = cb_error_message(err);
        assert_string_equal(msg2, "layer: entry name 'a/../../b': '..' component");
    }
    {
        /* The sink's own error comes back, and the writer stays dead. */
        write_file(root, "big", "0123456789", 0644);
        cb_autoerr cb_error_t *err = NULL;
        cb_autolayerwriter cb_layer_writer_t *w = NULL;
        assert_int_equal(cb_layer_writer_new(&w, NULL, failing_sink, NULL, &err), 0);
        int r = 0;
        cb_autofree char *big = cb_xasprintf("%s/big", root);
        for (int i = 0; i < 100 && r == 0; i++) {
            cb_autofree char *name = cb_xasprintf("f%d", i);
            r = cb_layer_add_path(w, name, AT_FDCWD, big, NULL, &err);
        }
        if (r == 0)
            r = cb_layer_writer_finish(w, &(cb_layer_result_t){0}, &err);
        assert_true(r < 0);
        cb_autofree char *msg = cb_error_message(err);
        assert_non_null(strstr(msg, "writing blob tmp/blob-1"));
        assert_int_equal(cb_error_root(err)->status, ENOSPC);
        cb_error_free(err);
        err = NULL;
        assert_true(cb_layer_add_dir(w, "late", NULL, &err) < 0);
    }
    rm_tree(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_entries_and_order),
        cmocka_unit_test(test_deterministic_and_clamped),
        cmocka_unit_test(test_synthetic_entries),
        cmocka_unit_test(test_overrides_and_single_paths),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
