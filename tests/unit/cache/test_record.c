/* Cache records: round trips, misses (absent, damaged, blob gone), touch,
 * concurrent puts, no temp files left. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/blob.h"
#include "cache/record.h"
#include "common/util.h"
#include "testutil.h"

typedef struct {
    char *dir;
    cb_root_t *root;
    cb_store_t *store;
    char key[CB_DIGEST_STR_LEN + 1];
    char blob[CB_DIGEST_STR_LEN + 1]; /* a layer blob in the store */
    char diff_id[CB_DIGEST_STR_LEN + 1];
} fixture_t;

#define LAYER_BYTES "pretend this is a gzip layer"

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    if (tu_root_open(&f->dir, &f->root, &f->store) < 0)
        return -1;
    cb_autoerr cb_error_t *err = NULL;
    cb_sha256_digest("RUN make", 8, f->key);
    cb_sha256_digest("uncompressed", 12, f->diff_id);
    if (cb_blob_put(f->store, LAYER_BYTES, strlen(LAYER_BYTES), f->blob, &err) < 0)
        return -1;
    tu_debug_capture("cache");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    tu_debug_capture(NULL);
    tu_root_close(f->dir, f->root, f->store);
    free(f);
    return 0;
}

/* A record of the fixture's layer (borrowed strings: not to be cleared). */
static cb_cache_record_t layer_record(fixture_t *f, const char *created_by) {
    cb_cache_record_t r = {
        .layer = {.media_type = (char *)"application/vnd.oci.image.layer.v1.tar+gzip",
                  .digest = f->blob,
                  .size = (int64_t)strlen(LAYER_BYTES)},
        .diff_id = f->diff_id,
        .created_by = (char *)created_by,
    };
    return r;
}

static void test_round_trip(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_cache_record_t in = layer_record(f, "/bin/sh -c make");
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);

    cb_autorecord cb_cache_record_t out;
    bool found = false;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_true(found);
    assert_false(out.empty_layer);
    assert_string_equal(out.layer.media_type, in.layer.media_type);
    assert_string_equal(out.layer.digest, f->blob);
    assert_int_equal(out.layer.size, strlen(LAYER_BYTES));
    assert_string_equal(out.diff_id, f->diff_id);
    assert_string_equal(out.created_by, "/bin/sh -c make");

    /* The file: where the layout says, canonical JSON, 0600, nothing else. */
    cb_autofree char *path = cb_cache_record_path(f->root, f->key);
    cb_autofree char *want_path = cb_xasprintf("%s/cache/%s.json", f->dir, f->key + 7);
    assert_string_equal(path, want_path);
    cb_autofree char *text = tu_read(path, NULL);
    cb_autofree char *want = cb_xasprintf(
        "{\"createdBy\":\"/bin/sh -c make\",\"diffID\":\"%s\",\"emptyLayer\":false,"
        "\"key\":\"%s\",\"layer\":{\"digest\":\"%s\",\"mediaType\":"
        "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":%zu},\"version\":1}",
        f->diff_id, f->key, f->blob, strlen(LAYER_BYTES));
    assert_string_equal(text, want);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(tu_file_count(f->root->cache), 1);

    /* A second put replaces it. */
    in.created_by = (char *)"second";
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    cb_cache_record_clear(&out);
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_true(found);
    assert_string_equal(out.created_by, "second");
    assert_int_equal(tu_file_count(f->root->cache), 1);
}

static void test_empty_layer(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_cache_record_t in = {.empty_layer = true, .created_by = (char *)"ENV A=1"};
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    cb_autorecord cb_cache_record_t out;
    bool found = false;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_true(found);
    assert_true(out.empty_layer);
    assert_null(out.layer.digest);
    assert_null(out.diff_id);
    assert_string_equal(out.created_by, "ENV A=1");
}

static void test_missing(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_autorecord cb_cache_record_t out;
    bool found = true;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_false(found);
    assert_null(err);
    assert_string_equal(tu_last_debug(), ""); /* an ordinary miss */

    /* A malformed key is the caller's bug. */
    assert_true(cb_cache_record_get(f->root, "sha256:abc", &out, &found, &err) < 0);
    assert_non_null(err);
}

/* Writes text as the record of the fixture's key; get must miss, quietly
 * but for a debug line containing why. */
static void expect_damaged(fixture_t *f, const char *text, const char *why) {
    cb_autofree char *path = cb_cache_record_path(f->root, f->key);
    tu_write(path, text, strlen(text));
    tu_debug_clear();
    cb_autoerr cb_error_t *err = NULL;
    cb_autorecord cb_cache_record_t out;
    bool found = true;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_null(err);
    if (found)
        fail_msg("record accepted: %s", text);
    assert_null(out.created_by);
    if (strstr(tu_last_debug(), why) == NULL)
        fail_msg("expected a debug line with \"%s\" for %s, got \"%s\"", why, text, tu_last_debug());
}

static void test_damaged(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_cache_record_t in = layer_record(f, "make");
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    cb_autofree char *path = cb_cache_record_path(f->root, f->key);
    cb_autofree char *good = tu_read(path, NULL);
    size_t n = strlen(good);

    cb_autofree char *cut = cb_xstrndup(good, n / 2);
    expect_damaged(f, cut, "invalid JSON");
    expect_damaged(f, "", "invalid JSON");
    expect_damaged(f, "\x7f" "ELF\x01\x02garbage", "invalid JSON");
    expect_damaged(f, "[1,2]", "expected a JSON object");
    /* Member by member. */
    char other[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("other step", 10, other);
#define REC(extra, key, empty, layer, diff)                                                   \
    cb_xasprintf("{\"createdBy\":\"make\",%s\"emptyLayer\":%s,\"key\":\"%s\"%s%s,\"version\":1}", \
                 extra, empty, key, layer, diff)
    cb_autofree char *layer = cb_xasprintf(
        ",\"layer\":{\"digest\":\"%s\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
        "\"size\":%zu}",
        f->blob, strlen(LAYER_BYTES));
    cb_autofree char *diff = cb_xasprintf(",\"diffID\":\"%s\"", f->diff_id);
    struct {
        char *text;
        const char *why;
    } cases[] = {
        {REC("", f->key, "false", layer, diff), NULL}, /* the good one, rebuilt */
        {REC("\"extra\":1,", f->key, "false", layer, diff), "unknown member"},
        {REC("", other, "false", layer, diff), "another key"},
        {REC("", f->key, "\"no\"", layer, diff), "emptyLayer"},
        {REC("", f->key, "false", "", diff), "layer or diffID"},
        {REC("", f->key, "false", layer, ""), "layer or diffID"},
        {REC("", f->key, "false", layer, ",\"diffID\":\"sha256:1234\""), "diffID"},
        {REC("", f->key, "true", layer, diff), "empty layer with a layer"},
        {REC("", f->key, "false", ",\"layer\":{\"digest\":\"sha256:12\",\"size\":1}", diff),
         "mediaType"},
        {cb_xasprintf("{\"createdBy\":\"make\",\"emptyLayer\":true,\"key\":\"%s\",\"version\":2}",
                      f->key),
         "version"},
        {cb_xasprintf("{\"createdBy\":\"make\",\"emptyLayer\":true,\"key\":\"%s\",\"key\":\"%s\","
                      "\"version\":1}",
                      f->key, f->key),
         "invalid JSON"}, /* duplicate member */
        {cb_xasprintf("{\"createdBy\":7,\"emptyLayer\":true,\"key\":\"%s\",\"version\":1}", f->key),
         "createdBy"},
        {cb_xasprintf("{\"createdBy\":\"x\",\"emptyLayer\":false,\"key\":\"%s\",\"version\":1,"
                      "\"diffID\":\"%s\",\"layer\":{\"digest\":\"%s\",\"mediaType\":"
                      "\"application/vnd.oci.image.config.v1+json\",\"size\":1}}",
                      f->key, f->diff_id, f->blob),
         "not a layer"},
    };
#undef REC
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        if (cases[i].why) {
            expect_damaged(f, cases[i].text, cases[i].why);
        } else {
            tu_write(path, cases[i].text, strlen(cases[i].text));
            cb_autorecord cb_cache_record_t out;
            bool found = false;
            assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
            assert_true(found);
        }
        free(cases[i].text);
    }

    /* Too large to be ours. */
    cb_autofree char *huge = cb_xmalloc(CB_CACHE_RECORD_MAX_SIZE + 2);
    memset(huge, ' ', CB_CACHE_RECORD_MAX_SIZE + 1);
    huge[CB_CACHE_RECORD_MAX_SIZE + 1] = '\0';
    expect_damaged(f, huge, "allowed");

    /* A put over a damaged record repairs it. */
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    cb_autorecord cb_cache_record_t out;
    bool found = false;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_true(found);
}

static void test_blob_missing(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_cache_record_t in = layer_record(f, "make");
    /* A size that is not the blob's. */
    in.layer.size += 1;
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    cb_autorecord cb_cache_record_t out;
    bool found = true;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_false(found);
    assert_non_null(strstr(tu_last_debug(), "another size"));

    /* The right size, then the blob is removed (a prune, a damaged store). */
    in.layer.size -= 1;
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_true(found);
    cb_cache_record_clear(&out);
    cb_autofree char *blob = cb_store_blob_path(f->store, f->blob);
    assert_int_equal(unlink(blob), 0);
    tu_debug_clear();
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_false(found);
    assert_null(err);
    assert_non_null(strstr(tu_last_debug(), "not in the store"));
}

static void test_put_refuses_bad_records(void **state) {
    fixture_t *f = *state;
    cb_cache_record_t in = layer_record(f, "make");
    cb_cache_record_t bad[5];
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++)
        bad[i] = in;
    bad[0].created_by = NULL;
    bad[1].diff_id = (char *)"sha256:nope";
    bad[2].layer.media_type = (char *)"application/vnd.oci.image.config.v1+json";
    bad[3].empty_layer = true; /* with a layer */
    bad[4].created_by = (char *)"\xff\xfe not UTF-8";
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        cb_autoerr cb_error_t *err = NULL;
        assert_true(cb_cache_record_put(f->root, f->key, &bad[i], &err) < 0);
        assert_non_null(err);
    }
    cb_autoerr cb_error_t *err = NULL;
    assert_true(cb_cache_record_put(f->root, "RUN make", &in, &err) < 0);
    assert_int_equal(tu_file_count(f->root->cache), 0);
}

static void test_touch(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    /* Gone is fine. */
    assert_int_equal(cb_cache_record_touch(f->root, f->key, &err), 0);
    cb_cache_record_t in = layer_record(f, "make");
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    cb_autofree char *path = cb_cache_record_path(f->root, f->key);
    struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    time_t before = time(NULL);
    assert_int_equal(cb_cache_record_touch(f->root, f->key, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_mtime >= before - 1);
}

/* Putting the record a file already holds keeps the file (no new inode,
 * whose old one's release can wait on the disk) and makes its mtime now,
 * as prune reads it; another record, or another mode, replaces it. */
static void test_same_put_keeps_file(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_cache_record_t in = layer_record(f, "make");
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    cb_autofree char *path = cb_cache_record_path(f->root, f->key);
    struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    struct stat a, b;
    assert_int_equal(stat(path, &a), 0);
    time_t before = time(NULL);
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    assert_int_equal(stat(path, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    assert_true(b.st_mtime >= before - 1);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    assert_int_equal(stat(path, &a), 0);
    assert_int_not_equal(a.st_ino, b.st_ino);
    assert_int_equal(a.st_mode & 07777, 0600);

    in.created_by = (char *)"make all";
    assert_int_equal(cb_cache_record_put(f->root, f->key, &in, &err), 0);
    assert_int_equal(stat(path, &b), 0);
    assert_int_not_equal(a.st_ino, b.st_ino);
    cb_autorecord cb_cache_record_t out;
    bool found = false;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_true(found);
    assert_string_equal(out.created_by, "make all");
    assert_int_equal(tu_file_count(f->root->cache), 1);
}

/* Four processes putting one key over and over (and reading it back): the
 * record is always whole, one of theirs, and no temp file is left. */
static void test_concurrent_puts(void **state) {
    fixture_t *f = *state;
    enum { PROCS = 4, ROUNDS = 50 };
    tu_debug_capture(NULL);
    pid_t pids[PROCS];
    for (int k = 0; k < PROCS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            char created_by[32];
            snprintf(created_by, sizeof created_by, "process %d", k);
            cb_cache_record_t in = layer_record(f, created_by);
            for (int round = 0; round < ROUNDS; round++) {
                cb_error_t *err = NULL;
                if (cb_cache_record_put(f->root, f->key, &in, &err) < 0)
                    _exit(1);
                cb_cache_record_t out;
                bool found = false;
                if (cb_cache_record_get(f->root, f->key, &out, &found, &err) < 0 || !found)
                    _exit(2);
                if (strncmp(out.created_by, "process ", 8) != 0)
                    _exit(3);
                cb_cache_record_clear(&out);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < PROCS; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autorecord cb_cache_record_t out;
    bool found = false;
    assert_int_equal(cb_cache_record_get(f->root, f->key, &out, &found, &err), 0);
    assert_true(found);
    assert_int_equal(strncmp(out.created_by, "process ", 8), 0);
    assert_int_equal(tu_file_count(f->root->cache), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_refuses_bad_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_put_keeps_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
