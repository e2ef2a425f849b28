/* The sealer: blobs and records published in order behind the caller; the
 * first failed blob stops the queue (later blobs dropped with their temp
 * files, later records unwritten) and is returned by wait and by later
 * submits; a record that cannot be written is a warning; abandon drops what
 * has not started; wait ends the thread and the sealer works again after. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/blob.h"
#include "cache/record.h"
#include "cache/sealer.h"
#include "common/log.h"
#include "common/util.h"
#include "testutil.h"

typedef struct {
    char *dir;
    cb_root_t *root;
    cb_store_t *store;
    cb_sealer_t *sealer;
} fixture_t;

static char last_warning[1024];

static void warn_handler(cb_log_level_t level, const char *module, const char *msg) {
    (void)module;
    if (level == CB_LOG_WARN)
        snprintf(last_warning, sizeof last_warning, "%s", msg);
}

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    if (tu_root_open(&f->dir, &f->root, &f->store) < 0)
        return -1;
    f->sealer = cb_sealer_new();
    last_warning[0] = '\0';
    cb_log_set_handler(warn_handler);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    cb_sealer_free(f->sealer);
    cb_log_set_handler(NULL);
    tu_root_close(f->dir, f->root, f->store);
    free(f);
    return 0;
}

/* A finished, unsealed blob writer holding text (hashed by the writer). */
static cb_blob_writer_t *written(fixture_t *f, const char *text, char digest[CB_DIGEST_STR_LEN + 1]) {
    cb_autoerr cb_error_t *err = NULL;
    cb_blob_writer_t *w = NULL;
    assert_int_equal(cb_blob_begin_hashed(f->store, &w, &err), 0);
    assert_int_equal(cb_blob_write(w, text, strlen(text), &err), 0);
    cb_sha256_digest(text, strlen(text), digest);
    return w;
}

static void record_of(const char *digest, int64_t size, const char *created_by, cb_cache_record_t *rec) {
    memset(rec, 0, sizeof *rec);
    rec->layer.media_type = (char *)CB_MT_OCI_LAYER_GZIP;
    rec->layer.digest = (char *)digest;
    rec->layer.size = size;
    rec->diff_id = (char *)digest; /* any valid digest */
    rec->created_by = (char *)created_by;
}

static bool record_found(fixture_t *f, const char *key) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autorecord cb_cache_record_t rec = {0};
    bool found = false;
    assert_int_equal(cb_cache_record_get(f->root, key, &rec, &found, &err), 0);
    return found;
}

static bool record_file_exists(fixture_t *f, const char *key) {
    cb_autofree char *path = cb_cache_record_path(f->root, key);
    return access(path, F_OK) == 0;
}

static int tmp_files(fixture_t *f) {
    return tu_file_count(f->root->tmp);
}

/* What a call job saw: whether the blob before it was in the store. */
typedef struct {
    fixture_t *f;
    const char *digest;
    bool present;
} probe_t;

static int probe(void *ctx, cb_error_t **err) {
    (void)err;
    probe_t *p = ctx;
    p->present = cb_blob_exists(p->f->store, p->digest);
    return 0;
}

static void test_blobs_then_records_in_order(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char d1[CB_DIGEST_STR_LEN + 1], k1[CB_DIGEST_STR_LEN + 1], k2[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("key 1", 5, k1);
    cb_sha256_digest("key 2", 5, k2);
    for (int round = 0; round < 2; round++) { /* the second after wait ended the thread */
        assert_int_equal(cb_sealer_blob(f->sealer, written(f, round ? "layer two" : "layer one", d1), d1, 9,
                                        "the layer of STEP 2", &err),
                         0);
        probe_t p = {.f = f, .digest = d1};
        assert_int_equal(cb_sealer_call(f->sealer, probe, &p, &err), 0);
        cb_cache_record_t rec;
        record_of(d1, 9, "RUN one", &rec);
        assert_int_equal(cb_sealer_record(f->sealer, f->root, round ? k2 : k1, &rec, &err), 0);
        cb_cache_record_t empty = {.empty_layer = true, .created_by = (char *)"ENV A=b"};
        char k3[CB_DIGEST_STR_LEN + 1];
        cb_sha256_digest(round ? "key 4" : "key 3", 5, k3);
        assert_int_equal(cb_sealer_record(f->sealer, f->root, k3, &empty, &err), 0);
        assert_int_equal(cb_sealer_wait(f->sealer, &err), 0);
        assert_true(p.present);
        assert_true(record_found(f, k3));
        assert_true(cb_blob_exists(f->store, d1));
        assert_true(record_found(f, round ? k2 : k1));
    }
    assert_int_equal(tmp_files(f), 0);
    assert_string_equal(last_warning, "");
}

static void test_failed_blob_stops_the_queue(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char d1[CB_DIGEST_STR_LEN + 1], d2[CB_DIGEST_STR_LEN + 1];
    char k1[CB_DIGEST_STR_LEN + 1], k2[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("key 1", 5, k1);
    cb_sha256_digest("key 2", 5, k2);
    cb_blob_writer_t *w1 = written(f, "layer one", d1);
    /* Sealed against a size its bytes do not have: the seal fails. */
    assert_int_equal(cb_sealer_blob(f->sealer, w1, d1, 99, "the layer of STEP 3", &err), 0);
    cb_cache_record_t rec;
    record_of(d1, 99, "RUN three", &rec);
    assert_int_equal(cb_sealer_record(f->sealer, f->root, k1, &rec, &err), 0);
    /* Queued behind the failure (or refused at once if it came first). */
    int r = cb_sealer_blob(f->sealer, written(f, "layer two", d2), d2, 9, "the layer of STEP 4", &err);
    if (r == 0) {
        record_of(d2, 9, "RUN four", &rec);
        r = cb_sealer_record(f->sealer, f->root, k2, &rec, &err);
    }
    if (r < 0) {
        assert_non_null(strstr(err->msg, "the layer of STEP 3"));
        cb_error_free(err);
        err = NULL;
    }
    assert_int_equal(cb_sealer_wait(f->sealer, &err), -1);
    assert_int_equal(err->kind, CB_ERR_INTEGRITY);
    assert_non_null(strstr(err->msg, "the layer of STEP 3"));
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, d1));
    cb_error_free(err);
    err = NULL;
    /* Nothing of the failed blob, nor of what came after it. */
    assert_false(cb_blob_exists(f->store, d1));
    assert_false(cb_blob_exists(f->store, d2));
    assert_false(record_file_exists(f, k1));
    assert_false(record_file_exists(f, k2));
    assert_int_equal(tmp_files(f), 0);
    /* The queue stays stopped: a later job is refused with the failure. */
    assert_int_equal(cb_sealer_blob(f->sealer, written(f, "layer five", d2), d2, 10, "the layer of STEP 5", &err),
                     -1);
    assert_non_null(strstr(err->msg, "the layer of STEP 3"));
    assert_int_equal(tmp_files(f), 0);
}

static void test_unwritable_record_is_a_warning(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char d1[CB_DIGEST_STR_LEN + 1], d2[CB_DIGEST_STR_LEN + 1], k1[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("key 1", 5, k1);
    cb_blob_writer_t *w = written(f, "layer one", d1);
    assert_int_equal(cb_sealer_blob(f->sealer, w, d1, 9, "the layer of STEP 2", &err), 0);
    cb_cache_record_t rec;
    record_of(d1, 9, "RUN one", &rec);
    rec.layer.media_type = (char *)"text/plain"; /* put refuses it */
    assert_int_equal(cb_sealer_record(f->sealer, f->root, k1, &rec, &err), 0);
    assert_int_equal(cb_sealer_blob(f->sealer, written(f, "layer two", d2), d2, 9, "the layer of STEP 3", &err), 0);
    assert_int_equal(cb_sealer_wait(f->sealer, &err), 0);
    assert_non_null(strstr(last_warning, "cannot record step RUN one"));
    assert_false(record_file_exists(f, k1));
    assert_true(cb_blob_exists(f->store, d2));
}

/* A call job that waits for the test to say go. */
typedef struct {
    int fd;
} gate_t;

static int gate(void *ctx, cb_error_t **err) {
    (void)err;
    char c;
    while (read(((gate_t *)ctx)->fd, &c, 1) < 0 && errno == EINTR) {
    }
    return 0;
}

static void test_abandon_drops_what_has_not_started(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    int p[2];
    assert_int_equal(pipe(p), 0);
    gate_t g = {.fd = p[0]};
    char d1[CB_DIGEST_STR_LEN + 1], k1[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("key 1", 5, k1);
    assert_int_equal(cb_sealer_call(f->sealer, gate, &g, &err), 0);
    assert_int_equal(cb_sealer_blob(f->sealer, written(f, "layer one", d1), d1, 9, "the layer of STEP 2", &err), 0);
    cb_cache_record_t rec;
    record_of(d1, 9, "RUN one", &rec);
    assert_int_equal(cb_sealer_record(f->sealer, f->root, k1, &rec, &err), 0);
    assert_int_equal(tmp_files(f), 1); /* the blob's temp file */
    cb_sealer_abandon(f->sealer);
    assert_int_equal(write(p[1], "x", 1), 1);
    cb_sealer_free(f->sealer);
    f->sealer = NULL;
    close(p[0]);
    close(p[1]);
    assert_false(cb_blob_exists(f->store, d1));
    assert_false(record_file_exists(f, k1));
    assert_int_equal(tmp_files(f), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blobs_then_records_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_blob_stops_the_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_record_is_a_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_drops_what_has_not_started, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
