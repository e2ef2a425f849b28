/* BuildKit's parser corpus (testdata/conformance, see its README): every
 * parser/<case> must dump to its `result` byte for byte, every
 * parser-negative case must fail, and parser-lineinfo must give the
 * expected line ranges. */
#include <dirent.h>

#include "parser_test_util.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case directories of dir, sorted. */
static void list_cases(const char *dir, cb_strv_t *out) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        print_error("cannot open %s\n", dir);
        fail();
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            cb_strv_push(out, e->d_name);
    closedir(d);
    qsort(out->items, out->len, sizeof *out->items, cmp_str);
}

static void test_positive_cases(void **state) {
    cb_autofree char *dir = cb_xasprintf("%s/conformance/parser", tp_testdata());
    cb_autostrv cb_strv_t cases = CB_STRV_INIT;
    list_cases(dir, &cases);
    size_t passed = 0;
    for (size_t i = 0; i < cases.len; i++) {
        cb_autofree char *df = cb_xasprintf("%s/%s/Dockerfile", dir, cases.items[i]);
        cb_autofree char *rf = cb_xasprintf("%s/%s/result", dir, cases.items[i]);
        size_t dlen = 0, rlen = 0;
        cb_autofree char *data = tp_read(df, &dlen);
        cb_autofree char *want = tp_read(rf, &rlen);
        assert_non_null(data);
        assert_non_null(want);
        cb_ast_t *ast = NULL;
        cb_autoerr cb_error_t *err = NULL;
        if (cb_parse_buffer(df, data, dlen, &ast, &err) < 0) {
            cb_autofree char *m = cb_error_message(err);
            print_error("FAIL %s: %s:%d:%d: %s\n", cases.items[i], err->file, err->line, err->col, m);
            continue;
        }
        cb_autofree char *got = cb_ast_dump(ast);
        cb_ast_free(ast);
        if (strlen(got) != rlen || memcmp(got, want, rlen) != 0) {
            print_error("FAIL %s: dump differs\n--- want\n%s--- got\n%s", cases.items[i], want, got);
            continue;
        }
        passed++;
    }
    print_message("parser corpus: %zu/%zu cases passed\n", passed, cases.len);
    assert_true(cases.len >= 33);
    assert_int_equal(passed, cases.len);
}

static void test_negative_cases(void **state) {
    cb_autofree char *dir = cb_xasprintf("%s/conformance/parser-negative", tp_testdata());
    cb_autostrv cb_strv_t cases = CB_STRV_INIT;
    list_cases(dir, &cases);
    size_t passed = 0;
    for (size_t i = 0; i < cases.len; i++) {
        cb_autofree char *df = cb_xasprintf("%s/%s/Dockerfile", dir, cases.items[i]);
        size_t len = 0;
        cb_autofree char *data = tp_read(df, &len);
        assert_non_null(data);
        cb_ast_t *ast = NULL;
        cb_autoerr cb_error_t *err = NULL;
        if (cb_parse_buffer(df, data, len, &ast, &err) == 0) {
            print_error("FAIL %s: parsed without error\n", cases.items[i]);
            cb_ast_free(ast);
            continue;
        }
        /* every failure must say where: the file and a line */
        const cb_error_t *loc = err;
        while (loc && loc->line == 0)
            loc = loc->cause;
        if (loc == NULL || loc->file == NULL || strcmp(loc->file, df) != 0) {
            print_error("FAIL %s: error without a location\n", cases.items[i]);
            continue;
        }
        passed++;
    }
    print_message("parser-negative corpus: %zu/%zu cases failed as expected\n", passed, cases.len);
    assert_true(cases.len >= 4);
    assert_int_equal(passed, cases.len);
}

static void test_line_info(void **state) {
    cb_autofree char *df = cb_xasprintf("%s/conformance/parser-lineinfo/Dockerfile", tp_testdata());
    cb_autofree char *ef = cb_xasprintf("%s/conformance/parser-lineinfo/expected-lines", tp_testdata());
    size_t dlen = 0, elen = 0;
    cb_autofree char *data = tp_read(df, &dlen);
    cb_autofree char *expected = tp_read(ef, &elen);
    assert_non_null(data);
    assert_non_null(expected);
    cb_ast_t *ast = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_parse_buffer(df, data, dlen, &ast, &err), 0);
    size_t child = 0, checked = 0;
    for (char *line = strtok(expected, "\n"); line; line = strtok(NULL, "\n")) {
        char what[16];
        int start, end;
        if (line[0] == '#' || sscanf(line, "%15s %d %d", what, &start, &end) != 3)
            continue;
        if (strcmp(what, "root") == 0) {
            assert_int_equal(ast->start_line, start);
            assert_int_equal(ast->end_line, end);
        } else {
            assert_true(child < ast->nnodes);
            assert_int_equal(ast->nodes[child]->start_line, start);
            assert_int_equal(ast->nodes[child]->end_line, end);
            child++;
        }
        checked++;
    }
    assert_int_equal(child, ast->nnodes);
    assert_int_equal(checked, 4);
    print_message("parser-lineinfo: %zu ranges matched\n", checked);
    cb_ast_free(ast);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positive_cases),
        cmocka_unit_test(test_negative_cases),
        cmocka_unit_test(test_line_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
