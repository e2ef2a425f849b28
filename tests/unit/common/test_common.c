#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/error.h"
#include "common/util.h"

static int fails_with_errno(cb_error_t **err) {
    return cb_error_set(err, ENOENT, "open %s", "/nope");
}

static void test_error_chain(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    assert_true(fails_with_errno(&err) < 0);
    cb_error_wrap(&err, "reading Containerfile");
    char *msg = cb_error_message(err);
    assert_string_equal(msg, "reading Containerfile: open /nope: No such file or directory");
    free(msg);
    assert_int_equal(cb_error_root(err)->status, ENOENT);
    assert_int_equal(cb_error_exit_code(err), 1);
}

static void test_error_location(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    cb_error_at(&err, "Containerfile", 3, 7, "unknown instruction %s", "FORM");
    cb_error_wrap(&err, "parse");
    assert_int_equal(cb_error_exit_code(err), 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cb_error_print(err, f);
    fclose(f);
    assert_string_equal(buf, "Containerfile:3:7: parse: unknown instruction FORM\n");
    free(buf);
}

static void test_buf_and_strv(void **state) {
    (void)state;
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    assert_string_equal(cb_buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        cb_buf_printf(&b, "%d,", i);
    assert_true(cb_str_has_suffix(cb_buf_str(&b), "998,999,"));
    cb_autostrv cb_strv_t v = CB_STRV_INIT;
    cb_strv_push(&v, "a");
    cb_strv_take(&v, cb_xstrdup("b"));
    assert_int_equal(v.len, 2);
    assert_null(v.items[2]);
    assert_true(cb_strv_contains(&v, "b"));
    assert_false(cb_strv_contains(&v, "c"));
}

static void test_sha256(void **state) {
    (void)state;
    char d[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("abc", 3, d);
    assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(cb_digest_valid(d));
    assert_false(cb_digest_valid("sha256:BA78"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_chain),
        cmocka_unit_test(test_error_location),
        cmocka_unit_test(test_buf_and_strv),
        cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
