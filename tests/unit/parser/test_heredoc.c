/* Heredocs (BuildKit semantics): markers, bodies, quoting, <<-, several per
 * line, line ranges, and the shell word splitting that finds them. */
#include "parser/heredoc.h"
#include "parser_test_util.h"

static const cb_heredoc_t *only_heredoc(const cb_node_t *n) {
    assert_int_equal(n->nheredocs, 1);
    return &n->heredocs[0];
}

static void test_basic(void **state) {
    cb_ast_t *ast = tp_parse("FROM a\nRUN <<EOF\necho hi\n  indented\nEOF\nRUN next\n");
    assert_int_equal(ast->nnodes, 3);
    const cb_heredoc_t *h = only_heredoc(ast->nodes[1]);
    assert_string_equal(h->name, "EOF");
    assert_string_equal(h->content, "echo hi\n  indented\n");
    assert_true(h->expand);
    assert_false(h->chomp);
    assert_int_equal(h->fd, 0);
    assert_int_equal(ast->nodes[1]->start_line, 2);
    assert_int_equal(ast->nodes[1]->end_line, 5);
    assert_int_equal(ast->nodes[2]->start_line, 6);
    /* bodies are not in the dump */
    char *d = cb_ast_dump(ast);
    assert_string_equal(d, "(from \"a\")\n(run \"<<EOF\")\n(run \"next\")\n");
    free(d);
    cb_ast_free(ast);
}

static void test_empty_body_and_fd(void **state) {
    cb_ast_t *ast = tp_parse("RUN 3<<EMPTY\nEMPTY\n");
    const cb_heredoc_t *h = only_heredoc(ast->nodes[0]);
    assert_string_equal(h->name, "EMPTY");
    assert_string_equal(h->content, "");
    assert_int_equal(h->fd, 3);
    assert_int_equal(ast->nodes[0]->end_line, 2);
    cb_ast_free(ast);
}

static void test_chomp(void **state) {
    cb_ast_t *ast = tp_parse("RUN <<-UNINDENT\n\tbaz\n\t\tquux\n\t\n\tUNINDENT\nRUN <<INDENT\n\tfoo\n\tINDENT\nINDENT\n");
    const cb_heredoc_t *h = only_heredoc(ast->nodes[0]);
    assert_true(h->chomp);
    assert_string_equal(h->content, "baz\nquux\n\n");
    /* without '-' tabs stay, and a tab-indented terminator is body */
    h = only_heredoc(ast->nodes[1]);
    assert_false(h->chomp);
    assert_string_equal(h->content, "\tfoo\n\tINDENT\n");
    assert_int_equal(ast->nnodes, 2);
    cb_ast_free(ast);
}

static void test_quoted_delimiters(void **state) {
    static const struct {
        const char *line;
        const char *name;
        bool expand;
    } cases[] = {
        {"RUN <<'EOF'", "EOF", false},      {"RUN <<\"EOF\"", "EOF", false},
        {"RUN <<-'EOF'", "EOF", false},     {"RUN <<eo'f'", "eof", false},
        {"RUN <<eo\\'f", "eo'f", true},     {"RUN <<'e'o\\'f", "eo'f", false},
        {"RUN <<'one two'", "one two", false}, {"RUN <<$EOF", "$EOF", true},
        {"RUN <<${EOF}", "${EOF}", true},   {"RUN <<  EOF", "EOF", true},
        {"RUN << EOF > foo", "EOF", true},  {"COPY <<file.txt /dest", "file.txt", true},
        {"RUN <<EOF python3", "EOF", true},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_autofree char *text = cb_xasprintf("%s\nline\n%s\n", cases[i].line, cases[i].name);
        cb_ast_t *ast = tp_parse(text);
        assert_int_equal(ast->nnodes, 1);
        const cb_heredoc_t *h = only_heredoc(ast->nodes[0]);
        if (strcmp(h->name, cases[i].name) != 0 || h->expand != cases[i].expand) {
            print_error("%s: got %s expand=%d\n", cases[i].line, h->name, h->expand);
            fail();
        }
        assert_string_equal(h->content, "line\n");
        cb_ast_free(ast);
    }
}

static void test_several_on_one_line(void **state) {
    cb_ast_t *ast = tp_parse("COPY <<X <<Y /dest\nY\nX\nX\nY\nCMD [\"a\"]\n");
    cb_node_t *n = ast->nodes[0];
    assert_int_equal(n->nheredocs, 2);
    assert_string_equal(n->heredocs[0].name, "X");
    assert_string_equal(n->heredocs[0].content, "Y\n");
    assert_string_equal(n->heredocs[1].name, "Y");
    assert_string_equal(n->heredocs[1].content, "X\n");
    assert_int_equal(n->end_line, 5);
    assert_int_equal(n->args.len, 3);
    assert_int_equal(ast->nodes[1]->start_line, 6);
    cb_ast_free(ast);
}

static void test_add_and_flags(void **state) {
    cb_ast_t *ast = tp_parse("ADD --chmod=755 <<EOF /x\nbody\nEOF\nRUN --mount=type=cache,target=/c <<EOF\nls\nEOF\n");
    assert_string_equal(only_heredoc(ast->nodes[0])->content, "body\n");
    assert_string_equal(ast->nodes[0]->flags.items[0], "--chmod=755");
    assert_string_equal(only_heredoc(ast->nodes[1])->content, "ls\n");
    cb_ast_free(ast);
}

static void test_not_heredocs(void **state) {
    static const char *cases[] = {
        "RUN \"<<EOF\"\n",     "RUN '<<EOF'\n",        "RUN echo a<<EOF\n",
        "RUN [\"<<EOF\"]\n",   "RUN <<<EOF\n",         "RUN <<- EOF\n",
        "RUN << \n",           "RUN echo <<EOF \"oops\n", "CMD <<EOF\n",
        "ENTRYPOINT <<EOF\n",  "RUN <<EOF<<EOF2\n",
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_ast_t *ast = tp_parse(cases[i]);
        if (ast->nodes[0]->nheredocs != 0) {
            print_error("%s: found a heredoc\n", cases[i]);
            fail();
        }
        cb_ast_free(ast);
    }
    /* without heredoc support, the would-be body is instructions */
    cb_ast_t *ast = tp_parse("USER <<EOF\nRUN x\n");
    assert_int_equal(ast->nnodes, 2);
    cb_ast_free(ast);
}

static void test_onbuild(void **state) {
    cb_ast_t *ast = tp_parse("ONBUILD RUN <<EOF\nhi\nEOF\nONBUILD RUN [\"<<EOF\"]\n");
    assert_int_equal(ast->nnodes, 2);
    const cb_heredoc_t *h = only_heredoc(ast->nodes[0]);
    assert_string_equal(h->content, "hi\n");
    assert_int_equal(ast->nodes[0]->end_line, 3);
    assert_int_equal(ast->nodes[1]->nheredocs, 0);
    cb_ast_free(ast);
}

static void test_crlf_body(void **state) {
    cb_ast_t *ast = tp_parse("RUN <<EOF\r\nhi\r\nEOF\r\nRUN b\r\n");
    assert_int_equal(ast->nnodes, 2);
    assert_string_equal(only_heredoc(ast->nodes[0])->content, "hi\r\n");
    cb_ast_free(ast);
}

static void test_marker_after_continuation(void **state) {
    cb_ast_t *ast = tp_parse("RUN python3 \\\n  <<EOF\nprint(1)\nEOF\n");
    assert_string_equal(only_heredoc(ast->nodes[0])->content, "print(1)\n");
    assert_int_equal(ast->nodes[0]->end_line, 4);
    cb_ast_free(ast);
}

static void test_unterminated(void **state) {
    tp_assert_error("FROM a\nRUN cat <<EOF\nhello\n", 2, 9, "unterminated heredoc");
    tp_assert_error("FROM a\nCOPY <<A \\\n  <<B /d\na\nA\nb\n", 3, 3, "expected a line \"B\"");
    tp_assert_error("RUN <<EOF\n", 1, 5, "unterminated heredoc");
}

static void test_shell_words(void **state) {
    cb_strv_t w = CB_STRV_INIT;
    cb_autofree size_t *offs = NULL;
    cb_error_t *err = NULL;
    const char *line = "RUN  'a b'\\ c \"d $e\" <<  EOF x\\";
    assert_int_equal(cb_shell_words(line, strlen(line), true, true, &w, &offs, &err), 0);
    assert_int_equal(w.len, 5);
    assert_string_equal(w.items[0], "RUN");
    assert_string_equal(w.items[1], "'a b'\\ c");
    assert_string_equal(w.items[2], "\"d $e\"");
    assert_string_equal(w.items[3], "<<  EOF");
    assert_string_equal(w.items[4], "x\\");
    assert_int_equal(offs[1], 5);
    assert_int_equal(offs[3], 21);
    cb_strv_free(&w);
    /* with quote and escape removal */
    assert_int_equal(cb_shell_words(line, strlen(line), false, false, &w, NULL, &err), 0);
    assert_string_equal(w.items[1], "a b c");
    assert_string_equal(w.items[2], "d $e");
    assert_string_equal(w.items[4], "x");
    cb_strv_free(&w);
    /* unterminated quotes and bad substitutions do not lex */
    assert_true(cb_shell_words("a \"b", 4, true, true, &w, NULL, &err) < 0);
    assert_non_null(strstr(err->msg, "double-quote"));
    cb_error_free(err);
    err = NULL;
    assert_true(cb_shell_words("${}", 3, true, true, &w, NULL, &err) < 0);
    cb_error_free(err);
    err = NULL;
    assert_true(cb_shell_words("${a:-b", 6, true, true, &w, NULL, &err) < 0);
    assert_non_null(strstr(err->msg, "missing '}'"));
    cb_error_free(err);
    assert_int_equal(w.len, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_empty_body_and_fd),
        cmocka_unit_test(test_chomp),
        cmocka_unit_test(test_quoted_delimiters),
        cmocka_unit_test(test_several_on_one_line),
        cmocka_unit_test(test_add_and_flags),
        cmocka_unit_test(test_not_heredocs),
        cmocka_unit_test(test_onbuild),
        cmocka_unit_test(test_crlf_body),
        cmocka_unit_test(test_marker_after_continuation),
        cmocka_unit_test(test_unterminated),
        cmocka_unit_test(test_shell_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
