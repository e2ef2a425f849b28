/* cb_match must agree with Go's path/filepath.Match (Unix) case by case,
 * including which malformed patterns are errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/match.h"
#include "common/util.h"

enum { NO = 0, YES = 1, BAD = -1 };

typedef struct mcase {
    const char *pattern;
    const char *name;
    int want;
} mcase_t;

static const mcase_t cases[] = {
    {"abc", "abc", YES},
    {"abc", "abd", NO},
    {"abc", "ab", NO},
    {"", "", YES},
    {"", "a", NO},
    {"*", "abc", YES},
    {"*", "", YES},
    {"*", "a/b", NO},
    {"*c", "abc", YES},
    {"a*", "a", YES},
    {"a*", "abc", YES},
    {"a*", "ab/c", NO},
    {"a*/b", "abc/b", YES},
    {"a*/b", "a/c/b", NO},
    {"a*b*c*d*e*/f", "axbxcxdxe/f", YES},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/f", YES},
    {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", NO},
    {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", NO},
    {"a*b?c*x", "abxbbxdbxebxczzx", YES},
    {"a*b?c*x", "abxbbxdbxebxczzy", NO},
    {"*x", "xxx", YES},
    {"**", "a", YES},
    {"*.go", "main.go", YES},
    {"*.go", "dir/main.go", NO},
    {"ab[c]", "abc", YES},
    {"ab[b-d]", "abc", YES},
    {"ab[e-g]", "abc", NO},
    {"ab[^c]", "abc", NO},
    {"ab[^b-d]", "abc", NO},
    {"ab[^e-g]", "abc", YES},
    {"ab[!c]", "ab!", YES}, /* Go negates with ^ only */
    {"ab[!c]", "abd", NO},
    {"[/]", "/", YES}, /* a class may match the separator */
    {"a\\*b", "a*b", YES},
    {"a\\*b", "ab", NO},
    {"a\\*b", "axb", NO},
    {"\\a", "a", YES},
    {"a?b", "a☺b", YES},
    {"a[^a]b", "a☺b", YES},
    {"a???b", "a☺b", NO},
    {"a[^a][^a][^a]b", "a☺b", NO},
    {"[a-ζ]*", "α", YES},
    {"*[a-ζ]", "A", NO},
    {"a?b", "a/b", NO},
    {"a*b", "a/b", NO},
    {"[\\]a]", "]", YES},
    {"[\\-]", "-", YES},
    {"[x\\-]", "x", YES},
    {"[x\\-]", "-", YES},
    {"[x\\-]", "z", NO},
    {"[\\-x]", "x", YES},
    {"[\\-x]", "-", YES},
    {"[\\-x]", "a", NO},
    {"[*]", "*", YES},
    {"[*]x", "ax", NO},
    /* malformed: an error whatever the name */
    {"[]a]", "]", BAD},
    {"[-]", "-", BAD},
    {"[x-]", "x", BAD},
    {"[x-]", "-", BAD},
    {"[x-]", "z", BAD},
    {"[-x]", "x", BAD},
    {"[-x]", "-", BAD},
    {"[-x]", "a", BAD},
    {"\\", "a", BAD},
    {"[a-b-c]", "a", BAD},
    {"[", "a", BAD},
    {"[^", "a", BAD},
    {"[^bc", "a", BAD},
    {"a[", "a", BAD},
    {"a[", "ab", BAD},
    {"a[", "x", BAD},
    {"a/b[", "x", BAD},
    {"*x[", "yyy", BAD},
    {"x*[", "yyy", BAD},
    {"[\xff]", "a", BAD},
};

static void test_match_table(void **state) {
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_error_t *err = NULL;
        int got = cb_match(cases[i].pattern, cases[i].name, &err);
        if (got != cases[i].want) {
            printf("FAIL Match(%s, %s) = %d, want %d\n", cases[i].pattern, cases[i].name, got,
                   cases[i].want);
            failed++;
        }
        if ((got < 0) != (err != NULL))
            failed++;
        cb_error_free(err);
    }
    printf("%zu match cases, %d failed\n", CB_ARRAY_LEN(cases), failed);
    assert_int_equal(failed, 0);
}

static void test_validate_and_message(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_match_validate("src/*.[ch]", &err), 0);
    assert_int_equal(cb_match_validate("src/[a-", &err), -1);
    char *m = cb_error_message(err);
    assert_string_equal(m, "syntax error in pattern \"src/[a-\"");
    free(m);
    assert_int_equal(err->kind, CB_ERR_INPUT);
}

static void test_has_meta(void **state) {
    (void)state;
    assert_false(cb_match_has_meta("plain/path.txt"));
    assert_true(cb_match_has_meta("*.txt"));
    assert_true(cb_match_has_meta("a?"));
    assert_true(cb_match_has_meta("[ab]"));
    assert_true(cb_match_has_meta("a\\b"));
}

static void test_path_clean(void **state) {
    (void)state;
    static const char *const c[][2] = {
        {"", "."},          {".", "."},         {"/", "/"},           {"//", "/"},
        {"a//b", "a/b"},    {"./a", "a"},       {"a/", "a"},          {"/../a", "/a"},
        {"a/../..", ".."},  {"../a/./b/", "../a/b"}, {"a/b/../../c", "c"}, {"abc/./../def", "def"},
        {"/a/b/..", "/a"},  {"../../x/..", "../.."}, {"a/./b/.", "a/b"}, {"!x/..", "."},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(c); i++) {
        char *got = cb_path_clean(c[i][0]);
        if (strcmp(got, c[i][1]) != 0)
            fail_msg("Clean(%s) = %s, want %s", c[i][0], got, c[i][1]);
        free(got);
    }
}

static void test_utf8(void **state) {
    (void)state;
    int32_t cp;
    assert_int_equal(cb_match_rune("é", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(cb_match_rune("\xC0\xAF", 2, &cp), 1); /* overlong */
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(cb_match_rune("\xED\xA0\x80", 3, &cp), 1); /* surrogate */
    assert_int_equal(cp, 0xFFFD);
    assert_int_equal(cb_match_rune("\xE2\x82", 2, &cp), 1); /* truncated */
    assert_int_equal(cb_match_rune("\xF0\x9F\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_true(cb_match_isspace(0xA0));
    assert_true(cb_match_isspace(0x3000));
    assert_false(cb_match_isspace(0x200B));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table), cmocka_unit_test(test_validate_and_message),
        cmocka_unit_test(test_has_meta),    cmocka_unit_test(test_path_clean),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
