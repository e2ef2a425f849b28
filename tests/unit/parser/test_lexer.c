/* The lexer layer: directives, comments, continuations, CRLF, BOM, line
 * numbers and the errors of malformed files. */
#include "parser_test_util.h"

static void assert_dump(const char *text, const char *want) {
    char *got = tp_dump(text);
    if (strcmp(got, want) != 0) {
        print_error("input:\n%s\n--- want\n%s--- got\n%s", text, want, got);
        free(got);
        fail();
    }
    free(got);
}

static void test_continuation_keeps_leading_whitespace(void **state) {
    assert_dump("RUN a \\\n  b\n", "(run \"a   b\")\n");
    assert_dump("RUN a\\\nb\n", "(run \"ab\")\n");
    /* tabs come out as \t in the dump */
    assert_dump("RUN a \\\n\tb\n", "(run \"a \\tb\")\n");
}

static void test_continuation_tolerates_blanks_after_escape(void **state) {
    assert_dump("RUN a \\  \t\n b\n", "(run \"a  b\")\n");
}

static void test_escaped_escape_is_not_a_continuation(void **state) {
    assert_dump("ENV x=a\\\\\nRUN b\n", "(env \"x\" \"a\\\\\\\\\" \"=\")\n(run \"b\")\n");
}

static void test_continuation_skips_comments_and_blank_lines(void **state) {
    cb_ast_t *ast = tp_parse("FROM a\nRUN one \\\n# a comment\n    # indented\n\n   \ntwo\nRUN three\n");
    char *d = cb_ast_dump(ast);
    assert_string_equal(d, "(from \"a\")\n(run \"one two\")\n(run \"three\")\n");
    free(d);
    assert_int_equal(ast->nodes[1]->start_line, 2);
    assert_int_equal(ast->nodes[1]->end_line, 7);
    assert_int_equal(ast->nodes[2]->start_line, 8);
    /* blank lines inside a continuation warn; the parser never prints */
    assert_int_equal(ast->warnings.len, 1);
    assert_non_null(strstr(ast->warnings.items[0], "Containerfile:7: "));
    assert_non_null(strstr(ast->warnings.items[0], "empty continuation line"));
    assert_non_null(strstr(ast->warnings.items[0], "RUN one two"));
    cb_ast_free(ast);
}

static void test_comment_lines_do_not_warn(void **state) {
    cb_ast_t *ast = tp_parse("RUN a \\\n# c\n b\n");
    assert_int_equal(ast->warnings.len, 0);
    cb_ast_free(ast);
}

static void test_continuation_at_eof(void **state) {
    cb_ast_t *ast = tp_parse("FROM a\nRUN x \\");
    assert_int_equal(ast->nnodes, 2);
    assert_string_equal(ast->nodes[1]->args.items[0], "x");
    assert_int_equal(ast->nodes[1]->end_line, 2);
    cb_ast_free(ast);
    assert_dump("FROM a\nRUN x \\\n\n", "(from \"a\")\n(run \"x\")\n");
}

static void test_escape_directive_backtick(void **state) {
    cb_ast_t *ast = tp_parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n");
    assert_int_equal(ast->escape, '`');
    char *d = cb_ast_dump(ast);
    assert_string_equal(d, "(from \"a\")\n(run \"dir c:\\\\   && echo\")\n");
    free(d);
    cb_ast_free(ast);
}

static void test_escape_directive_case_and_spacing(void **state) {
    cb_ast_t *ast = tp_parse("#ESCAPE = `  \n  # Syntax =  docker/dockerfile:1.7  \n# check=skip=all\nFROM a\n");
    assert_int_equal(ast->escape, '`');
    assert_string_equal(ast->syntax, "docker/dockerfile:1.7");
    assert_string_equal(ast->check, "skip=all");
    assert_int_equal(ast->start_line, 4);
    cb_ast_free(ast);
}

static void test_directive_block_ends(void **state) {
    /* after a comment, a blank line, an unknown directive or an instruction,
     * a directive is just a comment */
    const char *cases[] = {
        "# hello\n# escape=`\nRUN a `\n",
        "\n# escape=`\nRUN a `\n",
        "# foo=bar\n# escape=`\nRUN a `\n",
        "RUN a `\n# escape=`\n",
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_ast_t *ast = tp_parse(cases[i]);
        assert_int_equal(ast->escape, '\\');
        assert_string_equal(ast->nodes[0]->args.items[0], "a `");
        assert_null(ast->syntax);
        cb_ast_free(ast);
    }
    cb_ast_t *ast = tp_parse("FROM a\n# syntax=x\n");
    assert_null(ast->syntax);
    cb_ast_free(ast);
}

static void test_directive_errors(void **state) {
    tp_assert_error("# escape=`\n# escape=\\\nFROM a\n", 2, 1, "only one escape parser directive");
    tp_assert_error("# syntax=a\n  # SYNTAX=b\nFROM a\n", 2, 3, "only one syntax parser directive");
    tp_assert_error("# escape=x\nFROM a\n", 1, 1, "invalid escape token 'x'");
    /* upstream's regexp gives a value of only blanks as one blank */
    tp_assert_error("# escape=   \nFROM a\n", 1, 1, "invalid escape token ' '");
}

static void test_empty_directive_value_is_a_comment(void **state) {
    cb_ast_t *ast = tp_parse("# escape=\n# escape=`\nRUN a `\n");
    assert_int_equal(ast->escape, '\\');
    cb_ast_free(ast);
}

static void test_crlf(void **state) {
    cb_ast_t *ast = tp_parse("# escape=`\r\nFROM a\r\nRUN b `\r\n c\r\n\r\nCMD [\"x\"]\r\n");
    assert_int_equal(ast->escape, '`');
    char *d = cb_ast_dump(ast);
    assert_string_equal(d, "(from \"a\")\n(run \"b  c\")\n(cmd \"x\")\n");
    free(d);
    assert_int_equal(ast->nodes[2]->start_line, 6);
    assert_string_equal(ast->nodes[1]->original, "RUN b  c");
    cb_ast_free(ast);
}

static void test_bom(void **state) {
    cb_ast_t *ast = tp_parse("\xEF\xBB\xBF# escape=`\nFROM a\n");
    assert_int_equal(ast->escape, '`');
    cb_ast_free(ast);
    ast = tp_parse("\xEF\xBB\xBF" "FROM a\n");
    assert_string_equal(ast->nodes[0]->keyword, "from");
    assert_int_equal(ast->nodes[0]->col, 1);
    cb_ast_free(ast);
    /* only at the very start */
    tp_assert_error("FROM a\n\xEF\xBB\xBFRUN b\n", 2, 1, "unknown instruction");
}

static void test_lines_and_columns(void **state) {
    cb_ast_t *ast = tp_parse("\n\n  FROM a\n\t\tRUN b \\\n c \\\n d\n\nCMD e\n");
    assert_int_equal(ast->nnodes, 3);
    assert_int_equal(ast->nodes[0]->start_line, 3);
    assert_int_equal(ast->nodes[0]->col, 3);
    assert_int_equal(ast->nodes[1]->start_line, 4);
    assert_int_equal(ast->nodes[1]->end_line, 6);
    assert_int_equal(ast->nodes[1]->col, 3);
    assert_int_equal(ast->nodes[2]->start_line, 8);
    assert_int_equal(ast->start_line, 3);
    assert_int_equal(ast->end_line, 8);
    cb_ast_free(ast);
}

static void test_original_text(void **state) {
    cb_ast_t *ast = tp_parse("  RUN  --network=none a \\\n   b   \n");
    assert_string_equal(ast->nodes[0]->original, "RUN  --network=none a    b   ");
    cb_ast_free(ast);
}

static void test_no_instructions(void **state) {
    cb_error_t *err = tp_fail("", 0);
    assert_non_null(strstr(err->msg, "file with no instructions"));
    assert_string_equal(err->file, "Containerfile");
    assert_int_equal(err->line, 1);
    cb_error_free(err);
    const char *comments = "# syntax=x\n# only comments\n\n   \n";
    err = tp_fail(comments, strlen(comments));
    assert_non_null(strstr(err->msg, "file with no instructions"));
    assert_int_equal(err->line, 4);
    cb_error_free(err);
    tp_assert_error("FROM a\n\\\n  \n", 2, 1, "expected an instruction");
}

static void test_nul_byte(void **state) {
    cb_error_t *err = tp_fail("FROM a\nRUN b\0c\n", 15);
    assert_int_equal(err->line, 2);
    assert_int_equal(err->col, 6);
    assert_non_null(strstr(err->msg, "NUL"));
    cb_error_free(err);
}

static void test_long_line(void **state) {
    size_t n = 70000;
    char *text = cb_xmalloc(n + 32);
    int k = snprintf(text, 32, "FROM a\nLABEL x=");
    memset(text + k, 'a', n);
    memcpy(text + k + n, "\n", 2);
    cb_error_t *err = tp_fail(text, strlen(text));
    assert_int_equal(err->line, 2);
    assert_non_null(strstr(err->msg, "65535"));
    cb_error_free(err);
    /* 65535 bytes still fit */
    memcpy(text + 65535, "\n", 2);
    cb_ast_t *ast = tp_parse(text);
    assert_int_equal(strlen(ast->nodes[1]->args.items[1]), 65535 - 7 - 8);
    cb_ast_free(ast);
    free(text);
}

static void test_parse_file_errors(void **state) {
    cb_ast_t *ast = NULL;
    cb_error_t *err = NULL;
    assert_true(cb_parse_file("/nonexistent/Containerfile", &ast, &err) < 0);
    assert_non_null(strstr(err->msg, "/nonexistent/Containerfile"));
    cb_error_free(err);
    err = NULL;
    assert_true(cb_parse_file(tp_testdata(), &ast, &err) < 0);
    assert_non_null(strstr(err->msg, "is a directory"));
    cb_error_free(err);
    err = NULL;
    cb_autofree char *empty =
        cb_xasprintf("%s/conformance/parser-negative/empty_dockerfile/Dockerfile", tp_testdata());
    assert_true(cb_parse_file(empty, &ast, &err) < 0);
    assert_string_equal(err->file, empty);
    cb_error_free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_continuation_keeps_leading_whitespace),
        cmocka_unit_test(test_continuation_tolerates_blanks_after_escape),
        cmocka_unit_test(test_escaped_escape_is_not_a_continuation),
        cmocka_unit_test(test_continuation_skips_comments_and_blank_lines),
        cmocka_unit_test(test_comment_lines_do_not_warn),
        cmocka_unit_test(test_continuation_at_eof),
        cmocka_unit_test(test_escape_directive_backtick),
        cmocka_unit_test(test_escape_directive_case_and_spacing),
        cmocka_unit_test(test_directive_block_ends),
        cmocka_unit_test(test_directive_errors),
        cmocka_unit_test(test_empty_directive_value_is_a_comment),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_lines_and_columns),
        cmocka_unit_test(test_original_text),
        cmocka_unit_test(test_no_instructions),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_parse_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
