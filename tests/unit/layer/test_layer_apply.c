/* Applying layers: round trips through the writer, whiteouts, hostile
 * layers (each proven to leave everything outside the target untouched),
 * corrupt and oversized streams, bzip2/xz for ADD, rootless ownership. */
#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/fsutil.h"
#include "layer/apply.h"
#include "layer/resolve.h"
#include "layer/writer.h"
#include "layer_test_util.h"

static int apply_buf(const char *target, const cb_buf_t *layer, const cb_layer_apply_opts_t *opts,
                     cb_layer_apply_result_t *res, cb_error_t **err) {
    int fd = open(target, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    mem_source_t src = {(const unsigned char *)layer->data, layer->len, 0};
    cb_layer_apply_result_t scratch;
    int r = cb_layer_apply(fd, mem_source, &src, opts, res ? res : &scratch, err);
    close(fd);
    return r;
}

static char *path_in(const char *dir, const char *name) {
    return cb_xasprintf("%s/%s", dir, name);
}

static void test_round_trip(void **state) {
    (void)state;
    cb_autofree char *src = tmp_dir();
    write_file(src, "plain", "plain text\n", 0644);
    write_file(src, "suid", "#!/bin/true\n", 04755);
    cb_autofree char *d = path_in(src, "ro");
    assert_int_equal(mkdir(d, 0755), 0);
    write_file(src, "ro/inner", "in a read-only dir", 0444);
    assert_int_equal(chmod(d, 0555), 0);
    cb_autofree char *l = path_in(src, "link");
    assert_int_equal(symlink("ro/inner", l), 0);
    cb_autofree char *h1 = path_in(src, "plain"), *h2 = path_in(src, "plain-hard");
    assert_int_equal(link(h1, h2), 0);
    bool xattrs = have_user_xattrs(src);
    if (xattrs)
        assert_int_equal(setxattr(h1, "user.note", "kept", 4, 0), 0);
    struct timespec ts[2] = {{.tv_sec = 1234567890}, {.tv_sec = 1234567890}};
    assert_int_equal(utimensat(AT_FDCWD, d, ts, 0), 0);

    const cb_layer_compression_t methods[] = {CB_LAYER_UNCOMPRESSED, CB_LAYER_GZIP, CB_LAYER_ZSTD};
    const char *names[] = {"none", "gzip", "zstd"};
    for (size_t m = 0; m < CB_ARRAY_LEN(methods); m++) {
        cb_autoerr cb_error_t *err = NULL;
        cb_autobuf cb_buf_t blob = CB_BUF_INIT;
        cb_layer_writer_opts_t wopts = {.compression = methods[m]};
        cb_layer_result_t wres;
        {
            cb_autolayerwriter cb_layer_writer_t *w = NULL;
            assert_int_equal(cb_layer_writer_new(&w, &wopts, buf_sink, &blob, &err), 0);
            assert_int_equal(cb_layer_add_tree(w, "", AT_FDCWD, src, NULL, &err), 0);
            assert_int_equal(cb_layer_writer_finish(w, &wres, &err), 0);
        }
        cb_autofree char *dst = tmp_dir();
        cb_layer_apply_result_t res;
        assert_int_equal(apply_buf(dst, &blob, NULL, &res, &err), 0);
        assert_string_equal(res.diff_id, wres.diff_id);
        assert_int_equal(res.tar_size, wres.tar_size);
        assert_string_equal(res.compression, names[m]);
        assert_int_equal(res.entries, 6);

        cb_autobuf cb_buf_t a = CB_BUF_INIT, b = CB_BUF_INIT;
        snapshot(src, &a);
        snapshot(dst, &b);
        assert_string_equal(cb_buf_str(&a), cb_buf_str(&b));
        struct stat s1, s2, sd;
        cb_autofree char *p1 = path_in(dst, "plain"), *p2 = path_in(dst, "plain-hard");
        cb_autofree char *pd = path_in(dst, "ro");
        assert_int_equal(stat(p1, &s1), 0);
        assert_int_equal(stat(p2, &s2), 0);
        assert_int_equal(s1.st_ino, s2.st_ino); /* a hardlink again */
        assert_int_equal(stat(pd, &sd), 0);
        assert_int_equal(sd.st_mode & 07777, 0555);      /* set after its children */
        assert_int_equal(sd.st_mtim.tv_sec, 1234567890); /* not bumped by them */
        if (xattrs) {
            char v[16];
            assert_int_equal(getxattr(p1, "user.note", v, sizeof v), 4);
            assert_memory_equal(v, "kept", 4);
        }
        rm_tree(dst);
    }
    rm_tree(src);
}

static void test_whiteouts(void **state) {
    (void)state;
    cb_autofree char *dst = tmp_dir();
    /* The lower layer. */
    const tar_spec_t lower[] = {
        {'f', "keep.txt", NULL, "kept", 0644, 0, 0},
        {'f', "gone.txt", NULL, "x", 0644, 0, 0},
        {'d', "dir", NULL, NULL, 0755, 0, 0},
        {'f', "dir/x", NULL, "x", 0644, 0, 0},
        {'f', "dir/y", NULL, "y", 0644, 0, 0},
        {'d', "dir/gonedir", NULL, NULL, 0755, 0, 0},
        {'f', "dir/gonedir/deep", NULL, "d", 0644, 0, 0},
        {'d', "opq", NULL, NULL, 0755, 0, 0},
        {'f', "opq/a", NULL, "a", 0644, 0, 0},
        {'d', "opq/sub", NULL, NULL, 0755, 0, 0},
        {'f', "opq/sub/b", NULL, "b", 0644, 0, 0},
        {'d', "late", NULL, NULL, 0755, 0, 0},
        {'f', "late/old", NULL, "old", 0644, 0, 0},
    };
    cb_autobuf cb_buf_t l1 = CB_BUF_INIT;
    tar_build(&l1, lower, CB_ARRAY_LEN(lower), 0);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(apply_buf(dst, &l1, NULL, NULL, &err), 0);

    const tar_spec_t upper[] = {
        {'f', ".wh.gone.txt", NULL, "", 0, 0, 0},
        {'f', "dir/.wh.x", NULL, "", 0, 0, 0},
        {'f', "dir/.wh.gonedir", NULL, "", 0, 0, 0},
        {'f', "dir/.wh.never-existed", NULL, "", 0, 0, 0},
        {'f', "nodir/.wh.nothing", NULL, "", 0, 0, 0},
        {'d', "opq", NULL, NULL, 0755, 0, 0},
        {'f', "opq/.wh..wh..opq", NULL, "", 0, 0, 0},
        {'f', "opq/new", NULL, "new", 0644, 0, 0},
        /* The marker after this layer's own file: only lower content goes. */
        {'d', "late", NULL, NULL, 0755, 0, 0},
        {'f', "late/mine", NULL, "mine", 0644, 0, 0},
        {'f', "late/.wh..wh..opq", NULL, "", 0, 0, 0},
    };
    cb_autobuf cb_buf_t l2 = CB_BUF_INIT;
    tar_build(&l2, upper, CB_ARRAY_LEN(upper), ARCHIVE_FILTER_GZIP);
    cb_layer_apply_result_t res;
    assert_int_equal(apply_buf(dst, &l2, NULL, &res, &err), 0);
    assert_int_equal(res.entries, CB_ARRAY_LEN(upper));
    cb_autobuf cb_buf_t snap = CB_BUF_INIT;
    snapshot(dst, &snap);
    assert_string_equal(cb_buf_str(&snap), "dir d 755\n"
                                           "dir/y f 644 y\n"
                                           "keep.txt f 644 kept\n"
                                           "late d 755\n"
                                           "late/mine f 644 mine\n"
                                           "opq d 755\n"
                                           "opq/new f 644 new\n");
    rm_tree(dst);
}

typedef struct hostile {
    const char *what;
    tar_spec_t entries[3];
    size_t n;
    const char *error_names; /* the message must name this entry */
    bool rootless;
} hostile_t;

/* Each case runs in a fresh target next to an "outside" directory; the
 * OUTSIDE marker in names/targets is replaced by that directory's path. */
static void run_hostile(const hostile_t *h) {
    cb_autofree char *top = tmp_dir();
    cb_autofree char *target = path_in(top, "target"), *outside = path_in(top, "outside");
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(mkdir(outside, 0755), 0);
    write_file(outside, "secret", "untouched", 0600);
    cb_autobuf cb_buf_t before = CB_BUF_INIT, after = CB_BUF_INIT;
    snapshot(outside, &before);

    tar_spec_t specs[3];
    char *owned[6] = {0};
    for (size_t i = 0; i < h->n; i++) {
        specs[i] = h->entries[i];
        if (specs[i].target && strstr(specs[i].target, "OUTSIDE")) {
            owned[i] = cb_xasprintf("%s%s", outside, specs[i].target + strlen("OUTSIDE"));
            specs[i].target = owned[i];
        }
    }
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    tar_build(&tar, specs, h->n, 0);
    cb_autoerr cb_error_t *err = NULL;
    cb_layer_apply_opts_t opts = {.rootless = h->rootless};
    if (apply_buf(target, &tar, &opts, NULL, &err) == 0)
        fail_msg("%s: the layer was accepted", h->what);
    cb_autofree char *msg = cb_error_message(err);
    cb_autofree char *quoted = cb_xasprintf("'%s'", h->error_names);
    if (strstr(msg, quoted) == NULL)
        fail_msg("%s: error does not name %s: %s", h->what, quoted, msg);
    print_message("%-28s -> %s\n", h->what, msg);
    snapshot(outside, &after);
    assert_string_equal(cb_buf_str(&before), cb_buf_str(&after));
    /* Nothing was written through the outside link either. */
    cb_autofree char *pwned = path_in(outside, "pwned");
    assert_int_equal(access(pwned, F_OK), -1);
    for (size_t i = 0; i < CB_ARRAY_LEN(owned); i++)
        free(owned[i]);
    rm_tree(top);
}

static const hostile_t hostile_cases[] = {
    {"dot-dot name", {{'f', "../outside/pwned", NULL, "x", 0644, 0, 0}}, 1, "../outside/pwned",
     false},
    {"dot-dot inside name", {{'f', "a/../../outside/pwned", NULL, "x", 0644, 0, 0}}, 1,
     "a/../../outside/pwned", false},
    {"absolute name", {{'f', "/tmp/cb-layer-pwned", NULL, "x", 0644, 0, 0}}, 1,
     "/tmp/cb-layer-pwned", false},
    {"through absolute symlink",
     {{'l', "evil", "OUTSIDE", NULL, 0777, 0, 0}, {'f', "evil/pwned", NULL, "x", 0644, 0, 0}},
     2, "evil/pwned", false},
    {"through relative symlink",
     {{'l', "evil", "../outside", NULL, 0777, 0, 0}, {'f', "evil/pwned", NULL, "x", 0644, 0, 0}},
     2, "evil/pwned", false},
    {"symlink chain",
     {{'l', "a", "b/../..", NULL, 0777, 0, 0},
      {'d', "b", NULL, NULL, 0755, 0, 0},
      {'f', "a/outside/pwned", NULL, "x", 0644, 0, 0}},
     3, "a/outside/pwned", false},
    {"hardlink with dot-dot", {{'h', "pwned", "../outside/secret", NULL, 0644, 0, 0}}, 1, "pwned",
     false},
    {"hardlink to absolute", {{'h', "pwned", "OUTSIDE/secret", NULL, 0644, 0, 0}}, 1, "pwned",
     false},
    {"hardlink through symlink",
     {{'l', "evil", "OUTSIDE", NULL, 0777, 0, 0}, {'h', "pwned", "evil/secret", NULL, 0644, 0, 0}},
     2, "pwned", false},
    {"directory through symlink",
     {{'l', "evil", "../outside", NULL, 0777, 0, 0}, {'d', "evil/pwned", NULL, NULL, 0755, 0, 0}},
     2, "evil/pwned/", false},
    {"whiteout through symlink",
     {{'l', "evil", "../outside", NULL, 0777, 0, 0}, {'f', "evil/.wh.secret", NULL, "", 0, 0, 0}},
     2, "evil/.wh.secret", false},
    {"opaque through symlink",
     {{'l', "evil", "OUTSIDE", NULL, 0777, 0, 0}, {'f', "evil/.wh..wh..opq", NULL, "", 0, 0, 0}},
     2, "evil/.wh..wh..opq", false},
    {"device when unprivileged", {{'c', "null", NULL, NULL, 0666, 0, 0}}, 1, "null", true},
};

static void test_hostile_layers(void **state) {
    (void)state;
    for (size_t i = 0; i < CB_ARRAY_LEN(hostile_cases); i++)
        run_hostile(&hostile_cases[i]);
}

/* The same cases through the no-openat2 walk (old kernels). */
static void test_hostile_layers_fallback(void **state) {
    (void)state;
    cb_layer_resolve_force_fallback(true);
    for (size_t i = 0; i < CB_ARRAY_LEN(hostile_cases); i++)
        run_hostile(&hostile_cases[i]);
    cb_layer_resolve_force_fallback(false);
}

/* Links inside the target are followed the way the container will see
 * them, and replacing a symlink never writes through it. */
static void test_safe_symlinks_inside(void **state) {
    (void)state;
    if (!cb_openat2_available())
        skip(); /* the fallback walk refuses every symlink (layer/resolve.h) */
    cb_autofree char *top = tmp_dir();
    cb_autofree char *target = path_in(top, "target"), *outside = path_in(top, "outside");
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(mkdir(outside, 0755), 0);
    write_file(outside, "secret", "untouched", 0600);
    cb_autofree char *abs_secret = path_in(outside, "secret");
    const tar_spec_t specs[] = {
        {'d', "usr/lib", NULL, NULL, 0755, 0, 0},
        {'l', "lib", "usr/lib", NULL, 0777, 0, 0},
        {'f', "lib/libx.so", NULL, "elf", 0644, 0, 0},
        {'l', "secret", abs_secret, NULL, 0777, 0, 0},
        {'f', "secret", NULL, "replaced", 0600, 0, 0},
        {'f', "missing/parents/file", NULL, "p", 0644, 0, 0},
    };
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    tar_build(&tar, specs, CB_ARRAY_LEN(specs), 0);
    cb_autoerr cb_error_t *err = NULL;
    if (apply_buf(target, &tar, NULL, NULL, &err) < 0)
        fail_msg("%s", cb_error_message(err));
    cb_autofree char *so = read_file_str(target, "usr/lib/libx.so");
    assert_string_equal(so, "elf");
    cb_autofree char *inside = read_file_str(target, "secret");
    assert_string_equal(inside, "replaced");
    cb_autofree char *out = read_file_str(outside, "secret");
    assert_string_equal(out, "untouched");
    cb_autofree char *p = read_file_str(target, "missing/parents/file");
    assert_string_equal(p, "p");
    rm_tree(top);
}

static void expect_failure(const char *target, const cb_buf_t *layer,
                           const cb_layer_apply_opts_t *opts, const char *needle) {
    cb_autoerr cb_error_t *err = NULL;
    if (apply_buf(target, layer, opts, NULL, &err) == 0)
        fail_msg("accepted; expected an error with '%s'", needle);
    cb_autofree char *msg = cb_error_message(err);
    if (strstr(msg, needle) == NULL)
        fail_msg("expected '%s' in: %s", needle, msg);
}

static void test_corrupt_truncated_and_limits(void **state) {
    (void)state;
    cb_autofree char *dst = tmp_dir();
    cb_autobuf cb_buf_t big = CB_BUF_INIT;
    for (int i = 0; i < 200000; i++)
        cb_buf_printf(&big, "%d\n", i * 7919);
    const tar_spec_t specs[] = {{'f', "big.txt", NULL, big.data, 0644, 0, 0}};
    cb_autobuf cb_buf_t gz = CB_BUF_INIT, raw = CB_BUF_INIT;
    tar_build(&gz, specs, 1, ARCHIVE_FILTER_GZIP);
    tar_build(&raw, specs, 1, 0);

    cb_buf_t half = {gz.data, gz.len / 2, gz.len};
    expect_failure(dst, &half, NULL, "big.txt");
    cb_buf_t raw_half = {raw.data, raw.len / 2, raw.len};
    expect_failure(dst, &raw_half, NULL, "big.txt");

    cb_autobuf cb_buf_t flipped = CB_BUF_INIT;
    cb_buf_add(&flipped, gz.data, gz.len);
    flipped.data[flipped.len / 2] ^= 0x55;
    {
        /* Damage inside deflate data may still inflate (libarchive does not
         * check the gzip CRC): then the diff_id is what catches it. */
        cb_autofree char *scratch = tmp_dir();
        cb_autoerr cb_error_t *err = NULL;
        cb_layer_apply_result_t good, bad;
        assert_int_equal(apply_buf(scratch, &gz, NULL, &good, &err), 0);
        rm_tree(scratch);
        assert_int_equal(mkdir(scratch, 0700), 0);
        if (apply_buf(scratch, &flipped, NULL, &bad, &err) == 0)
            assert_string_not_equal(good.diff_id, bad.diff_id);
        rm_tree(scratch);
    }

    cb_autobuf cb_buf_t junk = CB_BUF_INIT;
    for (int i = 0; i < 4000; i++)
        cb_buf_putc(&junk, (char)(i * 131 + 7));
    expect_failure(dst, &junk, NULL, "layer");
    cb_buf_t empty = {(char *)"", 0, 0};
    expect_failure(dst, &empty, NULL, "empty");

    /* The first entry fails while the decompressing thread is megabytes
     * ahead, waiting on a full ring: the apply still ends, with the
     * entry's error, and a good layer applies after it. */
    const tar_spec_t ahead[] = {{'f', "../escape", NULL, "x", 0644, 0, 0},
                                {'f', "big.txt", NULL, big.data, 0644, 0, 0}};
    cb_autobuf cb_buf_t ahead_gz = CB_BUF_INIT;
    tar_build(&ahead_gz, ahead, CB_ARRAY_LEN(ahead), ARCHIVE_FILTER_GZIP);
    for (int round = 0; round < 20; round++)
        expect_failure(dst, &ahead_gz, NULL, "'../escape'");
    {
        cb_autoerr cb_error_t *err = NULL;
        assert_int_equal(apply_buf(dst, &gz, NULL, NULL, &err), 0);
    }

    cb_layer_apply_opts_t small = {.max_size = 100000};
    expect_failure(dst, &gz, &small, "'big.txt': size 2059685 is larger than the limit");
    /* Many entries each under the limit: the running total stops them. */
    tar_spec_t many[40];
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    for (size_t i = 0; i < CB_ARRAY_LEN(many); i++) {
        cb_strv_take(&names, cb_xasprintf("f%02zu", i));
        many[i] = (tar_spec_t){'f', names.items[i], NULL, big.data + big.len - 5000, 0644, 0, 0};
    }
    cb_autobuf cb_buf_t manytar = CB_BUF_INIT;
    tar_build(&manytar, many, CB_ARRAY_LEN(many), ARCHIVE_FILTER_ZSTD);
    expect_failure(dst, &manytar, &small, "layer is larger than the limit of 100000");
    cb_layer_apply_opts_t roomy = {.max_size = 100ull << 20};
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(apply_buf(dst, &gz, &roomy, NULL, &err), 0);
    cb_autofree char *back = read_file_str(dst, "big.txt");
    assert_string_equal(back, big.data);
    rm_tree(dst);
}

/* ADD of local archives: bzip2 and xz are detected too, and the diff_id is
 * always the sha256 of the tar inside. */
static void test_other_compressions(void **state) {
    (void)state;
    const tar_spec_t specs[] = {{'d', "etc", NULL, NULL, 0755, 0, 0},
                                {'f', "etc/motd", NULL, "hi there\n", 0644, 0, 0}};
    cb_autobuf cb_buf_t plain = CB_BUF_INIT;
    tar_build(&plain, specs, 2, 0);
    char want[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(plain.data, plain.len, want);
    const int filters[] = {ARCHIVE_FILTER_BZIP2, ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_ZSTD,
                           ARCHIVE_FILTER_GZIP};
    const char *names[] = {"bzip2", "xz", "zstd", "gzip"};
    for (size_t i = 0; i < CB_ARRAY_LEN(filters); i++) {
        cb_autofree char *dst = tmp_dir();
        cb_autobuf cb_buf_t packed = CB_BUF_INIT;
        compress_buf(&plain, filters[i], &packed);
        cb_autoerr cb_error_t *err = NULL;
        cb_layer_apply_result_t res;
        if (apply_buf(dst, &packed, NULL, &res, &err) < 0)
            fail_msg("%s: %s", names[i], cb_error_message(err));
        assert_string_equal(res.compression, names[i]);
        assert_string_equal(res.diff_id, want);
        cb_autofree char *motd = read_file_str(dst, "etc/motd");
        assert_string_equal(motd, "hi there\n");
        rm_tree(dst);
    }
}

/* Ownership: as root it is applied; as an unprivileged user it is an error,
 * unless rootless mode, where it is skipped and the files stay the user's. */
static void test_ownership_and_rootless(void **state) {
    (void)state;
    const tar_spec_t specs[] = {{'f', "owned", NULL, "o", 0640, 1234, 5678}};
    cb_autobuf cb_buf_t tar = CB_BUF_INIT;
    tar_build(&tar, specs, 1, 0);
    cb_autofree char *dst = tmp_dir();
    if (geteuid() == 0) {
        cb_autoerr cb_error_t *err = NULL;
        assert_int_equal(apply_buf(dst, &tar, NULL, NULL, &err), 0);
        struct stat st;
        cb_autofree char *p = path_in(dst, "owned");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_uid, 1234);
        assert_int_equal(st.st_gid, 5678);
        /* Drop to nobody in a child to see the unprivileged behaviour. */
        assert_int_equal(chown(dst, 65534, 65534), 0);
        assert_int_equal(unlink(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(3);
            cb_error_t *e = NULL;
            if (apply_buf(dst, &tar, NULL, NULL, &e) == 0)
                _exit(4); /* must fail: chown without privilege */
            cb_error_free(e);
            e = NULL;
            unlink(p);
            cb_layer_apply_opts_t rl = {.rootless = true};
            if (apply_buf(dst, &tar, &rl, NULL, &e) != 0)
                _exit(5);
            struct stat s2;
            if (stat(p, &s2) != 0 || s2.st_uid != 65534 || (s2.st_mode & 07777) != 0640)
                _exit(6);
            _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    } else {
        cb_autoerr cb_error_t *err = NULL;
        assert_true(apply_buf(dst, &tar, NULL, NULL, &err) < 0);
        cb_error_free(err);
        err = NULL;
        cb_autofree char *p = path_in(dst, "owned");
        unlink(p);
        cb_layer_apply_opts_t rl = {.rootless = true};
        assert_int_equal(apply_buf(dst, &tar, &rl, NULL, &err), 0);
    }
    rm_tree(dst);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_whiteouts),
        cmocka_unit_test(test_hostile_layers),
        cmocka_unit_test(test_hostile_layers_fallback),
        cmocka_unit_test(test_safe_symlinks_inside),
        cmocka_unit_test(test_corrupt_truncated_and_limits),
        cmocka_unit_test(test_other_compressions),
        cmocka_unit_test(test_ownership_and_rootless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
