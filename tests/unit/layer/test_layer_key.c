/* Key mode of the layer writer: a digest of the entries a layer would hold,
 * regular files by their content digest, mtimes left out, made without a
 * tar and without loading libarchive. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/archive_lazy.h"
#include "common/digest.h"
#include "layer/writer.h"
#include "layer_test_util.h"

/* The callback the tests plug in: counts its calls; reads the file (pread,
 * as the real one does) unless `fixed` is set, then answers that. */
typedef struct digest_ctx {
    int calls;
    const char *fixed;
    const char *fail; /* an error message to fail with */
} digest_ctx_t;

static int test_digest(void *ctx, int fd, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1],
                       cb_error_t **err) {
    digest_ctx_t *c = ctx;
    c->calls++;
    if (c->fail)
        return cb_error_set(err, EIO, "%s", c->fail);
    if (c->fixed) {
        memcpy(out, c->fixed, CB_DIGEST_STR_LEN + 1);
        return 0;
    }
    cb_autofree char *buf = cb_xmalloc((size_t)st->st_size + 1);
    assert_int_equal(pread(fd, buf, (size_t)st->st_size, 0), st->st_size);
    cb_sha256_digest(buf, (size_t)st->st_size, out);
    return 0;
}

static void set_mtime(const char *root, const char *name, time_t t) {
    cb_autofree char *p = cb_xasprintf("%s/%s", root, name);
    struct timespec ts[2] = {{.tv_sec = t}, {.tv_sec = t}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void mkdir_in(const char *root, const char *name, mode_t mode) {
    cb_autofree char *p = cb_xasprintf("%s/%s", root, name);
    assert_int_equal(mkdir(p, mode), 0);
}

/* a.txt, dir/b.txt, dir/empty, link -> a.txt, hard1 = hard2 (one inode). */
static char *make_tree(void) {
    char *root = tmp_dir();
    write_file(root, "a.txt", "hello\n", 0644);
    mkdir_in(root, "dir", 0755);
    write_file(root, "dir/b.txt", "bee", 0600);
    write_file(root, "dir/empty", "", 0644);
    cb_autofree char *lp = cb_xasprintf("%s/link", root);
    assert_int_equal(symlink("a.txt", lp), 0);
    write_file(root, "hard1", "shared", 0640);
    cb_autofree char *h1 = cb_xasprintf("%s/hard1", root);
    cb_autofree char *h2 = cb_xasprintf("%s/hard2", root);
    assert_int_equal(link(h1, h2), 0);
    return root;
}

static void key_with(const char *root, digest_ctx_t *ctx, const cb_layer_attrs_t *attrs,
                     char key[CB_DIGEST_STR_LEN + 1]) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_layer_writer_opts_t opts = {.content_digest = test_digest, .content_digest_ctx = ctx};
    assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
    assert_int_equal(cb_layer_add_tree(w, "/", AT_FDCWD, root, attrs, &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    assert_string_equal(res.digest, res.diff_id);
    memcpy(key, res.diff_id, CB_DIGEST_STR_LEN + 1);
    /* What a cached build gains: libarchive is never loaded for a key (no
     * test in this file writes a tar). */
    assert_null(cb_archive_api_loaded);
}

static void key_of(const char *root, char key[CB_DIGEST_STR_LEN + 1]) {
    digest_ctx_t ctx = {0};
    key_with(root, &ctx, NULL, key);
}

static void test_same_tree_same_key(void **state) {
    (void)state;
    cb_autofree char *root = make_tree();
    char k1[CB_DIGEST_STR_LEN + 1], k2[CB_DIGEST_STR_LEN + 1];
    key_of(root, k1);
    key_of(root, k2);
    assert_string_equal(k1, k2);
    assert_true(cb_digest_valid(k1));

    /* An identical tree elsewhere, made later (other mtimes, inodes). */
    cb_autofree char *other = make_tree();
    key_of(other, k2);
    assert_string_equal(k1, k2);
    rm_tree(other);
    rm_tree(root);
}

static void test_mtime_ignored(void **state) {
    (void)state;
    cb_autofree char *root = make_tree();
    char k1[CB_DIGEST_STR_LEN + 1], k2[CB_DIGEST_STR_LEN + 1];
    key_of(root, k1);
    set_mtime(root, "a.txt", 1000000000);
    set_mtime(root, "dir", 1100000000);
    set_mtime(root, "link", 1200000000);
    set_mtime(root, "hard2", 1300000000);
    key_of(root, k2);
    assert_string_equal(k1, k2);
    /* The clamp changes mtimes only, so it is no part of the key either. */
    digest_ctx_t ctx = {0};
    cb_autoerr cb_error_t *err = NULL;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_layer_writer_opts_t opts = {.clamp_mtime = true, .mtime_max = 5,
                                   .content_digest = test_digest, .content_digest_ctx = &ctx};
    assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
    assert_int_equal(cb_layer_add_tree(w, "/", AT_FDCWD, root, NULL, &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    assert_string_equal(res.diff_id, k1);
    /* An explicit mtime (ADD <url>'s Last-Modified) is an input: it counts. */
    cb_layer_attrs_t at = {.set_mtime = true, .mtime = 42};
    key_with(root, &ctx, &at, k2);
    assert_string_not_equal(k1, k2);
    rm_tree(root);
}

static void test_changes_change_the_key(void **state) {
    (void)state;
    cb_autofree char *root = make_tree();
    char base[CB_DIGEST_STR_LEN + 1], k[CB_DIGEST_STR_LEN + 1];
    key_of(root, base);

    /* Content, same size. */
    write_file(root, "dir/b.txt", "BEE", 0600);
    key_of(root, k);
    assert_string_not_equal(base, k);
    write_file(root, "dir/b.txt", "bee", 0600);
    key_of(root, k);
    assert_string_equal(base, k);

    /* Mode. */
    cb_autofree char *a = cb_xasprintf("%s/a.txt", root);
    assert_int_equal(chmod(a, 0755), 0);
    key_of(root, k);
    assert_string_not_equal(base, k);
    assert_int_equal(chmod(a, 0644), 0);
    key_of(root, k);
    assert_string_equal(base, k);

    /* Owner: as COPY --chown gives it, and on the host where we may chown. */
    digest_ctx_t ctx = {0};
    cb_layer_attrs_t at = {.set_uid = true, .uid = getuid() + 1};
    key_with(root, &ctx, &at, k);
    assert_string_not_equal(base, k);
    if (geteuid() == 0) {
        struct stat st;
        assert_int_equal(stat(a, &st), 0);
        assert_int_equal(chown(a, st.st_uid + 1, st.st_gid), 0);
        key_of(root, k);
        assert_string_not_equal(base, k);
        assert_int_equal(chown(a, st.st_uid, st.st_gid), 0);
        key_of(root, k);
        assert_string_equal(base, k);
    }

    /* Name. */
    cb_autofree char *a2 = cb_xasprintf("%s/a2.txt", root);
    assert_int_equal(rename(a, a2), 0);
    key_of(root, k);
    assert_string_not_equal(base, k);
    assert_int_equal(rename(a2, a), 0);

    /* Symlink target. */
    cb_autofree char *lp = cb_xasprintf("%s/link", root);
    assert_int_equal(unlink(lp), 0);
    assert_int_equal(symlink("dir/b.txt", lp), 0);
    key_of(root, k);
    assert_string_not_equal(base, k);
    assert_int_equal(unlink(lp), 0);
    assert_int_equal(symlink("a.txt", lp), 0);
    key_of(root, k);
    assert_string_equal(base, k);

    /* Two files with equal content instead of one file with two names. */
    cb_autofree char *h2 = cb_xasprintf("%s/hard2", root);
    assert_int_equal(unlink(h2), 0);
    write_file(root, "hard2", "shared", 0640);
    key_of(root, k);
    assert_string_not_equal(base, k);
    rm_tree(root);
}

static void test_callback_answer_is_used(void **state) {
    (void)state;
    cb_autofree char *root = make_tree();
    char fixed[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("anything", 8, fixed);

    /* Once per regular file: a.txt, dir/b.txt, dir/empty, hard1 (hard2 is
     * a hardlink entry). */
    digest_ctx_t ctx = {0};
    char k[CB_DIGEST_STR_LEN + 1];
    key_with(root, &ctx, NULL, k);
    assert_int_equal(ctx.calls, 4);

    /* With a fixed answer, content changes are invisible: the writer read
     * nothing of its own. */
    digest_ctx_t fx = {.fixed = fixed};
    char f1[CB_DIGEST_STR_LEN + 1], f2[CB_DIGEST_STR_LEN + 1];
    key_with(root, &fx, NULL, f1);
    assert_int_equal(fx.calls, 4);
    assert_string_not_equal(f1, k);
    write_file(root, "a.txt", "a different and longer content\n", 0644);
    write_file(root, "dir/empty", "no longer empty", 0644);
    key_with(root, &fx, NULL, f2);
    assert_string_equal(f1, f2);
    rm_tree(root);
}

/* Each kind of difference a layer's tar would show changes the key: the
 * cases the integration tests cannot make as an unprivileged user. */
static void test_more_changes(void **state) {
    (void)state;
    cb_autofree char *root = make_tree();
    char base[CB_DIGEST_STR_LEN + 1], k[CB_DIGEST_STR_LEN + 1];
    key_of(root, base);

    /* An empty directory more, then a fifo where it was. */
    mkdir_in(root, "dir/sub", 0755);
    key_of(root, k);
    assert_string_not_equal(base, k);
    cb_autofree char *sub = cb_xasprintf("%s/dir/sub", root);
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(mkfifo(sub, 0644), 0);
    char fifo[CB_DIGEST_STR_LEN + 1];
    key_of(root, fifo);
    assert_string_not_equal(base, fifo);
    assert_string_not_equal(k, fifo);
    assert_int_equal(unlink(sub), 0);
    key_of(root, k);
    assert_string_equal(base, k);

    /* A directory's mode. */
    cb_autofree char *dir = cb_xasprintf("%s/dir", root);
    assert_int_equal(chmod(dir, 0700), 0);
    key_of(root, k);
    assert_string_not_equal(base, k);
    assert_int_equal(chmod(dir, 0755), 0);

    /* An xattr a layer keeps (user.*), on a file and on a directory, where
     * the file system has them; its value counts too. */
    cb_autofree char *a = cb_xasprintf("%s/a.txt", root);
    if (setxattr(a, "user.cbuild", "1", 1, 0) == 0) {
        key_of(root, k);
        assert_string_not_equal(base, k);
        char k2[CB_DIGEST_STR_LEN + 1];
        assert_int_equal(setxattr(a, "user.cbuild", "2", 1, 0), 0);
        key_of(root, k2);
        assert_string_not_equal(k, k2);
        assert_string_not_equal(base, k2);
        assert_int_equal(removexattr(a, "user.cbuild"), 0);
        assert_int_equal(setxattr(dir, "user.cbuild", "1", 1, 0), 0);
        key_of(root, k);
        assert_string_not_equal(base, k);
        assert_int_equal(removexattr(dir, "user.cbuild"), 0);
        key_of(root, k);
        assert_string_equal(base, k);
    }

    /* Which name of a hardlinked file comes first is not a difference
     * (hard1 sorts first either way), but a third name is. */
    cb_autofree char *h1 = cb_xasprintf("%s/hard1", root);
    cb_autofree char *h3 = cb_xasprintf("%s/hard3", root);
    assert_int_equal(link(h1, h3), 0);
    key_of(root, k);
    assert_string_not_equal(base, k);
    assert_int_equal(unlink(h3), 0);
    key_of(root, k);
    assert_string_equal(base, k);
    rm_tree(root);
}

/* Entries in another order are another layer. */
static void test_order_counts(void **state) {
    (void)state;
    cb_autofree char *root = make_tree();
    cb_autofree char *a = cb_xasprintf("%s/a.txt", root);
    cb_autofree char *l = cb_xasprintf("%s/link", root);
    char keys[2][CB_DIGEST_STR_LEN + 1];
    for (int i = 0; i < 2; i++) {
        digest_ctx_t ctx = {0};
        cb_autoerr cb_error_t *err = NULL;
        cb_autolayerwriter cb_layer_writer_t *w = NULL;
        cb_layer_writer_opts_t opts = {.content_digest = test_digest, .content_digest_ctx = &ctx};
        assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
        assert_int_equal(cb_layer_add_path(w, i ? "l" : "a", AT_FDCWD, i ? l : a, NULL, &err), 0);
        assert_int_equal(cb_layer_add_path(w, i ? "a" : "l", AT_FDCWD, i ? a : l, NULL, &err), 0);
        cb_layer_result_t res;
        assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
        assert_int_equal(res.entries, 2);
        memcpy(keys[i], res.diff_id, sizeof keys[i]);
    }
    assert_string_not_equal(keys[0], keys[1]);
    assert_null(cb_archive_api_loaded);
    rm_tree(root);
}

/* Data from memory is keyed by its sha256, like host files. */
static void test_file_data(void **state) {
    (void)state;
    char keys[3][CB_DIGEST_STR_LEN + 1];
    const char *contents[] = {"echo hi\n", "echo hi\n", "echo ho\n"};
    for (int i = 0; i < 3; i++) {
        cb_autoerr cb_error_t *err = NULL;
        cb_autolayerwriter cb_layer_writer_t *w = NULL;
        digest_ctx_t ctx = {0};
        cb_layer_writer_opts_t opts = {.content_digest = test_digest, .content_digest_ctx = &ctx,
                                       .compression = CB_LAYER_GZIP};
        assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
        assert_int_equal(cb_layer_add_parents(w, "etc/x", NULL, &err), 0);
        assert_int_equal(
            cb_layer_add_file_data(w, "etc/x", contents[i], strlen(contents[i]), NULL, &err), 0);
        assert_int_equal(cb_layer_add_whiteout(w, "etc/old", &err), 0);
        cb_layer_result_t res;
        assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
        assert_int_equal(res.compression, CB_LAYER_UNCOMPRESSED); /* forced */
        assert_int_equal(ctx.calls, 0);
        memcpy(keys[i], res.diff_id, sizeof keys[i]);
    }
    assert_string_equal(keys[0], keys[1]);
    assert_string_not_equal(keys[0], keys[2]);

    /* The same entries made from host files (a directory and a file with
     * that content, owned by 0:0, 0644) give the same key: a made-up entry
     * is keyed as the tar entry it would be. */
    cb_autofree char *root = tmp_dir();
    mkdir_in(root, "etc", 0755);
    write_file(root, "etc/x", contents[0], 0644);
    cb_autofree char *etc = cb_xasprintf("%s/etc", root);
    cb_autofree char *x = cb_xasprintf("%s/etc/x", root);
    cb_layer_attrs_t root_owned = {.set_uid = true, .set_gid = true, .set_mode = true, .mode = 0755};
    cb_autoerr cb_error_t *err = NULL;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    digest_ctx_t ctx = {0};
    cb_layer_writer_opts_t opts = {.content_digest = test_digest, .content_digest_ctx = &ctx};
    assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
    assert_int_equal(cb_layer_add_path(w, "etc", AT_FDCWD, etc, &root_owned, &err), 0);
    root_owned.mode = 0644;
    assert_int_equal(cb_layer_add_path(w, "etc/x", AT_FDCWD, x, &root_owned, &err), 0);
    assert_int_equal(cb_layer_add_whiteout(w, "etc/old", &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    assert_int_equal(ctx.calls, 1);
    assert_string_equal(res.diff_id, keys[0]);
    assert_null(cb_archive_api_loaded);
    rm_tree(root);
}

static void test_callback_errors(void **state) {
    (void)state;
    cb_autofree char *root = make_tree();
    digest_ctx_t ctx = {.fail = "disk on fire"};
    cb_autoerr cb_error_t *err = NULL;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_layer_writer_opts_t opts = {.content_digest = test_digest, .content_digest_ctx = &ctx};
    assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
    assert_true(cb_layer_add_tree(w, "/", AT_FDCWD, root, NULL, &err) < 0);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "a.txt"));
    assert_non_null(strstr(msg, "disk on fire"));
    cb_error_free(err);
    err = NULL;

    /* A malformed answer is refused. */
    cb_layer_writer_free(w);
    w = NULL;
    char junk[CB_DIGEST_STR_LEN + 1];
    memset(junk, 'z', CB_DIGEST_STR_LEN);
    junk[CB_DIGEST_STR_LEN] = '\0';
    digest_ctx_t bad = {.fixed = junk};
    opts.content_digest_ctx = &bad;
    assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
    cb_autofree char *a = cb_xasprintf("%s/a.txt", root);
    assert_true(cb_layer_add_path(w, "a", AT_FDCWD, a, NULL, &err) < 0);
    assert_int_equal(err->kind, CB_ERR_INTERNAL);
    rm_tree(root);
}

/* An ordinary writer still needs a sink. */
static void test_sink_required(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    cb_layer_writer_t *w = NULL;
    assert_true(cb_layer_writer_new(&w, NULL, NULL, NULL, &err) < 0);
    assert_null(w);
    assert_non_null(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_tree_same_key),
        cmocka_unit_test(test_mtime_ignored),
        cmocka_unit_test(test_changes_change_the_key),
        cmocka_unit_test(test_callback_answer_is_used),
        cmocka_unit_test(test_more_changes),
        cmocka_unit_test(test_order_counts),
        cmocka_unit_test(test_file_data),
        cmocka_unit_test(test_callback_errors),
        cmocka_unit_test(test_sink_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
