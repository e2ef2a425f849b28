/* Key mode of the layer writer: the diff_id of a tar whose regular files
 * carry their content digest instead of their bytes and whose mtimes are 0. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

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

/* The key is exactly the diff_id of an ordinary layer of a mirror tree whose
 * files hold their digests, with every mtime 0. */
static void test_key_is_tar_of_digests(void **state) {
    (void)state;
    cb_autofree char *root = tmp_dir();
    mkdir_in(root, "d", 0750);
    write_file(root, "d/x", "xx", 0604);
    write_file(root, "y", "", 0755);
    char k[CB_DIGEST_STR_LEN + 1];
    key_of(root, k);

    cb_autofree char *mirror = tmp_dir();
    char dx[CB_DIGEST_STR_LEN + 1], dy[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("xx", 2, dx);
    cb_sha256_digest("", 0, dy);
    mkdir_in(mirror, "d", 0750);
    write_file(mirror, "d/x", dx, 0604);
    write_file(mirror, "y", dy, 0755);
    set_mtime(mirror, "d/x", 0);
    set_mtime(mirror, "d", 0);
    set_mtime(mirror, "y", 0);
    cb_autoerr cb_error_t *err = NULL;
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    assert_int_equal(cb_layer_writer_new(&w, NULL, buf_sink, &tar, &err), 0);
    assert_int_equal(cb_layer_add_tree(w, "/", AT_FDCWD, mirror, NULL, &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    assert_string_equal(res.diff_id, k);

    /* The ordinary writer still writes bytes and mtimes (unaffected). */
    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(&tar, &lines);
    assert_int_equal(lines.len, 3);
    cb_autofree char *want = cb_xasprintf("f d/x 0604 %u:%u 71 0", getuid(), getgid());
    assert_string_equal(lines.items[1], want);
    rm_tree(mirror);
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

    /* The same as an ordinary layer holding the digest. */
    char d[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(contents[0], strlen(contents[0]), d);
    cb_autoerr cb_error_t *err = NULL;
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    assert_int_equal(cb_layer_writer_new(&w, NULL, buf_sink, &tar, &err), 0);
    assert_int_equal(cb_layer_add_parents(w, "etc/x", NULL, &err), 0);
    assert_int_equal(cb_layer_add_file_data(w, "etc/x", d, strlen(d), NULL, &err), 0);
    assert_int_equal(cb_layer_add_whiteout(w, "etc/old", &err), 0);
    cb_layer_result_t res;
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    assert_string_equal(res.diff_id, keys[0]);
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
        cmocka_unit_test(test_key_is_tar_of_digests),
        cmocka_unit_test(test_file_data),
        cmocka_unit_test(test_callback_errors),
        cmocka_unit_test(test_sink_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
