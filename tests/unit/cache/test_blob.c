#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cache/blob.h"
#include "cache/root.h"
#include "common/util.h"
#include "testutil.h"

typedef struct {
    char *dir;
    cb_store_t *store;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->store = tu_store(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    tu_rm_rf(f->dir);
    free(f->dir);
    cb_store_free(f->store);
    free(f);
    return 0;
}

static char *tmp_dir(fixture_t *f) {
    return cb_xasprintf("%s/tmp", f->dir);
}

/* The root's directory sub holds n files. */
static void assert_files(fixture_t *f, const char *sub, int n) {
    cb_autofree char *dir = cb_xasprintf("%s/%s", f->dir, sub);
    assert_int_equal(tu_file_count(dir), n);
}

/* The store's blob digest holds exactly the n bytes at want. */
static void assert_blob_holds(fixture_t *f, const char *digest, const char *want, size_t n) {
    cb_autoerr cb_error_t *err = NULL;
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(cb_blob_read_all(f->store, digest, (int64_t)n, n, &data, &len, &err), 0);
    assert_int_equal(len, n);
    assert_memory_equal(data, want, n);
    free(data);
}

static void test_layout_created(void **state) {
    fixture_t *f = *state;
    char *p = cb_xasprintf("%s/store/oci-layout", f->dir);
    char *s = tu_read(p, NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"imageLayoutVersion\":\"1.0.0\"}");
    free(s);
    free(p);
    p = cb_xasprintf("%s/store/index.json", f->dir);
    s = tu_read(p, NULL);
    assert_string_equal(s, "{\"manifests\":[],\"schemaVersion\":2}");
    free(s);
    free(p);
}

static void test_commit_streamed(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_blob_writer_t *w;
    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    assert_int_equal(cb_blob_sink(w, "hello ", 6, &err), 0);
    assert_int_equal(cb_blob_write(w, "world", 5, &err), 0);
    assert_int_equal(cb_blob_written(w), 11);
    char digest[CB_DIGEST_STR_LEN + 1];
    int64_t size = 0;
    char want[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("hello world", 11, want);
    assert_int_equal(cb_blob_commit(w, want, 11, digest, &size, &err), 0);
    assert_string_equal(digest, want);
    assert_int_equal(size, 11);
    assert_true(cb_blob_exists(f->store, digest));
    char *t = tmp_dir(f);
    assert_int_equal(tu_file_count(t), 0);
    free(t);

    char *data = NULL;
    size_t len = 0;
    assert_int_equal(cb_blob_read_all(f->store, digest, 11, 1024, &data, &len, &err), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "hello world", 11);
    free(data);
}

static void commit_text(fixture_t *f, const char *text, char digest[CB_DIGEST_STR_LEN + 1]) {
    cb_autoerr cb_error_t *err = NULL;
    cb_blob_writer_t *w;
    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    assert_int_equal(cb_blob_write(w, text, strlen(text), &err), 0);
    assert_int_equal(cb_blob_commit(w, NULL, -1, digest, NULL, &err), 0);
}

/* A blob committed again with the same bytes keeps the file the store has
 * (no new inode: the old one's release can wait on the disk); one whose
 * file was damaged (other bytes under its name) is replaced by the new. */
static void test_commit_same_keeps_file(void **state) {
    fixture_t *f = *state;
    char digest[CB_DIGEST_STR_LEN + 1], again[CB_DIGEST_STR_LEN + 1];
    commit_text(f, "a small layer", digest);
    cb_autofree char *path = cb_store_blob_path(f->store, digest);
    struct stat a, b;
    assert_int_equal(stat(path, &a), 0);
    commit_text(f, "a small layer", again);
    assert_string_equal(again, digest);
    assert_int_equal(stat(path, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_files(f, "tmp", 0);

    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("a smell layer", fp); /* same size, other bytes */
    fclose(fp);
    commit_text(f, "a small layer", again);
    assert_int_equal(stat(path, &b), 0);
    assert_int_not_equal(a.st_ino, b.st_ino);
    cb_autofree char *text = tu_read(path, NULL);
    assert_string_equal(text, "a small layer");
    assert_files(f, "tmp", 0);
}

static void test_commit_mismatch_leaves_nothing(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_blob_writer_t *w;
    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    assert_int_equal(cb_blob_write(w, "abc", 3, &err), 0);
    const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_true(cb_blob_commit(w, wrong, -1, NULL, NULL, &err) < 0);
    assert_int_equal(cb_error_root(err)->kind, CB_ERR_INTEGRITY);
    char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, wrong));
    assert_non_null(strstr(msg, "digest mismatch"));
    free(msg);
    assert_files(f, "tmp", 0);
    assert_files(f, "store/blobs", 0);

    cb_error_freep(&err);
    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    assert_int_equal(cb_blob_write(w, "abc", 3, &err), 0);
    assert_true(cb_blob_commit(w, NULL, 4, NULL, NULL, &err) < 0);
    assert_int_equal(cb_error_root(err)->kind, CB_ERR_INTEGRITY);
}

/* n bytes of a pattern that repeats nowhere near a chunk, and their digest. */
static char *patterned(size_t n, size_t mul, int shift, char digest[CB_DIGEST_STR_LEN + 1]) {
    char *p = cb_xmalloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * mul + (i >> shift));
    cb_sha256_digest(p, n, digest);
    return p;
}

/* A caller that hashes what it writes: its digest names the blob (no second
 * hash), the writeback of a blob of several steps changes nothing, and a
 * seal without the digest is refused with nothing left behind. */
static void test_hashed_by_caller(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    size_t n = 20u << 20;
    char want[CB_DIGEST_STR_LEN + 1];
    char *big = patterned(n, 7, 12, want);
    cb_blob_writer_t *w;
    assert_int_equal(cb_blob_begin_hashed(f->store, &w, &err), 0);
    for (size_t off = 0; off < n; off += 1u << 20)
        assert_int_equal(cb_blob_write(w, big + off, 1u << 20, &err), 0);
    char digest[CB_DIGEST_STR_LEN + 1];
    int64_t size = 0;
    assert_int_equal(cb_blob_commit(w, want, (int64_t)n, digest, &size, &err), 0);
    assert_string_equal(digest, want);
    assert_int_equal(size, (int64_t)n);
    assert_blob_holds(f, digest, big, n);
    free(big);

    assert_int_equal(cb_blob_begin_hashed(f->store, &w, &err), 0);
    assert_int_equal(cb_blob_write(w, "abc", 3, &err), 0);
    assert_true(cb_blob_commit(w, NULL, 3, NULL, NULL, &err) < 0);
    assert_int_equal(cb_error_root(err)->kind, CB_ERR_INTERNAL);
    assert_files(f, "tmp", 0);
    assert_files(f, "store/blobs/sha256", 1);
}

static void test_abort_leaves_nothing(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_blob_writer_t *w;
    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    assert_int_equal(cb_blob_write(w, "partial", 7, &err), 0);
    char *t = tmp_dir(f);
    assert_int_equal(tu_file_count(t), 1);
    cb_blob_abort(w);
    assert_int_equal(tu_file_count(t), 0);
    free(t);
    char *blobs = cb_xasprintf("%s/store/blobs", f->dir);
    assert_int_equal(tu_file_count(blobs), 0);
    free(blobs);
}

/* Past 8 MiB a blob is written, hashed and flushed by its own thread
 * (cache/blob.c): pieces of odd sizes across its 1 MiB chunks come out as
 * the same bytes under the same digest, and an abort midway leaves
 * nothing. */
static void test_large_written_behind(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    size_t n = 30u << 20, piece = 777777;
    char want[CB_DIGEST_STR_LEN + 1];
    char *big = patterned(n, 13, 11, want);
    cb_blob_writer_t *w;
    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    for (size_t off = 0; off < n; off += piece)
        assert_int_equal(cb_blob_write(w, big + off, n - off < piece ? n - off : piece, &err), 0);
    assert_int_equal(cb_blob_written(w), (int64_t)n);
    char digest[CB_DIGEST_STR_LEN + 1];
    assert_int_equal(cb_blob_commit(w, NULL, (int64_t)n, digest, NULL, &err), 0);
    assert_string_equal(digest, want);
    assert_blob_holds(f, digest, big, n);

    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    for (size_t off = 0; off < (20u << 20); off += piece)
        assert_int_equal(cb_blob_write(w, big + off, piece, &err), 0);
    cb_blob_abort(w);
    assert_files(f, "tmp", 0);
    assert_files(f, "store/blobs/sha256", 1);
    free(big);
}

/* A write failing in that thread (here: the file size limit, EFBIG) is the
 * error of a later write or of the commit, naming the temp file, and
 * nothing is left in the store. */
static void test_write_behind_fails(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 12u << 20;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    size_t piece = 1u << 20;
    char *buf = cb_xcalloc(1, piece);
    cb_blob_writer_t *w;
    assert_int_equal(cb_blob_begin(f->store, &w, &err), 0);
    int r = 0;
    for (int i = 0; i < 24 && r == 0; i++)
        r = cb_blob_write(w, buf, piece, &err);
    if (r == 0)
        r = cb_blob_commit(w, NULL, -1, NULL, NULL, &err);
    else
        cb_blob_abort(w);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    free(buf);
    assert_int_equal(r, -1);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "/tmp/blob-"));
    assert_int_equal(cb_error_root(err)->status, EFBIG);
    assert_files(f, "tmp", 0);
    assert_files(f, "store/blobs/sha256", 0);
}

static void test_corrupt_blob_refused(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char digest[CB_DIGEST_STR_LEN + 1];
    assert_int_equal(cb_blob_put(f->store, "precious data", 13, digest, &err), 0);
    char *path = cb_store_blob_path(f->store, digest);
    tu_write(path, "precious dada", 13); /* same size, different bytes */

    char *data = NULL;
    size_t len;
    assert_true(cb_blob_read_all(f->store, digest, 13, 1024, &data, &len, &err) < 0);
    assert_null(data);
    assert_int_equal(cb_error_root(err)->kind, CB_ERR_INTEGRITY);
    char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, digest));
    assert_non_null(strstr(msg, "corrupt"));
    free(msg);
    cb_error_freep(&err);

    /* A wrong size is refused before any byte is read. */
    tu_write(path, "short", 5);
    cb_blob_reader_t *r = NULL;
    assert_true(cb_blob_open(f->store, digest, 13, &r, &err) < 0);
    assert_int_equal(cb_error_root(err)->kind, CB_ERR_INTEGRITY);
    cb_error_freep(&err);

    /* A missing blob names the digest. */
    unlink(path);
    assert_true(cb_blob_open(f->store, digest, -1, &r, &err) < 0);
    msg = cb_error_message(err);
    assert_non_null(strstr(msg, digest));
    assert_non_null(strstr(msg, "missing"));
    free(msg);
    free(path);
}

static void test_root_resolution(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char *saved = getenv("CBUILD_ROOT") ? cb_xstrdup(getenv("CBUILD_ROOT")) : NULL;
    char *explicit_root = cb_xasprintf("%s/explicit", f->dir);
    char *env_root = cb_xasprintf("%s/fromenv", f->dir);
    setenv("CBUILD_ROOT", env_root, 1);
    char *got = NULL;
    assert_int_equal(cb_root_resolve(explicit_root, &got, &err), 0);
    assert_string_equal(got, explicit_root);
    free(got);
    assert_int_equal(cb_root_resolve(NULL, &got, &err), 0);
    assert_string_equal(got, env_root);
    free(got);
    unsetenv("CBUILD_ROOT");
    char *saved_xdg = getenv("XDG_DATA_HOME") ? cb_xstrdup(getenv("XDG_DATA_HOME")) : NULL;
    setenv("XDG_DATA_HOME", f->dir, 1);
    assert_int_equal(cb_root_resolve(NULL, &got, &err), 0);
    char *want = geteuid() == 0 ? cb_xstrdup("/var/lib/cbuild") : cb_xasprintf("%s/cbuild", f->dir);
    assert_string_equal(got, want);
    free(want);
    free(got);
    if (saved_xdg)
        setenv("XDG_DATA_HOME", saved_xdg, 1);
    else
        unsetenv("XDG_DATA_HOME");
    free(saved_xdg);

    cb_root_t *root = NULL;
    assert_int_equal(cb_root_open(explicit_root, &root, &err), 0);
    struct stat st;
    assert_int_equal(stat(root->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    const char *dirs[] = {root->layers, root->cache, root->tmp};
    for (size_t i = 0; i < CB_ARRAY_LEN(dirs); i++) {
        assert_int_equal(stat(dirs[i], &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0700);
    }
    char *index = cb_xasprintf("%s/index.json", root->store);
    assert_int_equal(stat(index, &st), 0);
    free(index);
    /* Opening again keeps what is there. */
    cb_root_t *again = NULL;
    assert_int_equal(cb_root_open(explicit_root, &again, &err), 0);
    cb_root_free(again);
    cb_root_free(root);

    if (saved)
        setenv("CBUILD_ROOT", saved, 1);
    free(saved);
    free(explicit_root);
    free(env_root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layout_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_streamed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_same_keeps_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_mismatch_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hashed_by_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_written_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_behind_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_blob_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_resolution, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
