/* The line parsers: keywords, flags, exec-form JSON and its fallback, ENV
 * and LABEL pairs, ARG words, HEALTHCHECK, ONBUILD, dump quoting, and the
 * errors with their locations. */
#include "parser/line_parsers.h"
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

static void assert_dump_ok(const char *text) {
    free(tp_dump(text));
}

static void test_keywords_case_insensitive(void **state) {
    assert_dump("from a\nRuN b\nWorkDir /x\n", "(from \"a\")\n(run \"b\")\n(workdir \"/x\")\n");
}

static void test_every_instruction(void **state) {
    assert_dump("FROM --platform=linux/amd64 img AS base\n"
                "MAINTAINER Jane Doe <j@x>\n"
                "EXPOSE 80/tcp  443\n"
                "USER app:app\n"
                "WORKDIR /src dir\n"
                "STOPSIGNAL SIGTERM\n"
                "VOLUME /a /b\n"
                "VOLUME [\"/c\", \"/d e\"]\n"
                "SHELL [\"/bin/bash\", \"-c\"]\n"
                "ENTRYPOINT [\"/bin/app\"]\n"
                "CMD --x\n"
                "ADD --chown=1:1 a b /c/\n"
                "COPY --from=base [\"a b\", \"/c\"]\n"
                "ARG A B=\"x y\" C=\n",
                "(from [\"--platform=linux/amd64\"] \"img\" \"AS\" \"base\")\n"
                "(maintainer \"Jane Doe <j@x>\")\n"
                "(expose \"80/tcp\" \"443\")\n"
                "(user \"app:app\")\n"
                "(workdir \"/src dir\")\n"
                "(stopsignal \"SIGTERM\")\n"
                "(volume \"/a\" \"/b\")\n"
                "(volume \"/c\" \"/d e\")\n"
                "(shell \"/bin/bash\" \"-c\")\n"
                "(entrypoint \"/bin/app\")\n"
                "(cmd [\"--x\"])\n"
                "(add [\"--chown=1:1\"] \"a\" \"b\" \"/c/\")\n"
                "(copy [\"--from=base\"] \"a b\" \"/c\")\n"
                "(arg \"A\" \"B=\\\"x y\\\"\" \"C=\")\n");
}

static void test_json_attribute(void **state) {
    cb_ast_t *ast = tp_parse("CMD [\"a\"]\nCMD a\nCMD []\nCOPY [\"a\",\"b\"]\nCOPY a b\nHEALTHCHECK CMD [\"x\"]\n");
    assert_true(ast->nodes[0]->json);
    assert_false(ast->nodes[1]->json);
    assert_true(ast->nodes[2]->json);
    assert_int_equal(ast->nodes[2]->args.len, 0);
    assert_true(ast->nodes[3]->json);
    assert_false(ast->nodes[4]->json);
    assert_true(ast->nodes[5]->json);
    cb_ast_free(ast);
}

static void test_json_fallback_to_shell_form(void **state) {
    static const char *cases[] = {
        "['a', 'b']", "[\"a\", \"b\"", "[\"a]", "[\"a\"] && b", "[\"a\",]",
        "[\"a\" \"b\"]", "[01]", "[1e400]", "[\"\\x\"]", "[\"\t\"]",
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_autofree char *text = cb_xasprintf("RUN %s\n", cases[i]);
        cb_ast_t *ast = tp_parse(text);
        cb_node_t *n = ast->nodes[0];
        if (n->json || n->args.len != 1 || strcmp(n->args.items[0], cases[i]) != 0) {
            print_error("%s: not shell form\n", cases[i]);
            fail();
        }
        cb_ast_free(ast);
    }
    /* COPY falls back to whitespace splitting */
    assert_dump("COPY [\"a\", b]\n", "(copy \"[\\\"a\\\",\" \"b]\")\n");
}

static void test_json_not_strings_is_an_error(void **state) {
    static const char *cases[] = {
        "[\"a\",42,\"b\"]", "[\"a\",123.456,\"b\"]", "[\"a\",{},\"b\"]", "[\"a\",{\"c\": \"d\"},\"b\"]",
        "[\"a\",[\"c\"],\"b\"]", "[\"a\",true,\"b\"]", "[\"a\",false,\"b\"]", "[\"a\",null,\"b\"]",
        "[99999999999999999999999]",
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_autofree char *text = cb_xasprintf("FROM a\nCMD   %s\n", cases[i]);
        tp_assert_error(text, 2, 7, "arrays must be comprised of strings only");
    }
    tp_assert_error("COPY [\"a\", 1]\n", 1, 6, "element 2 is a number");
    /* trailing text makes it invalid JSON, so shell form */
    assert_dump_ok("COPY [1] /x\n");
    tp_assert_error("HEALTHCHECK CMD [true]\n", 1, 17, "element 1 is true");
}

static void test_json_escapes_and_unicode(void **state) {
    assert_dump("CMD [\"\\u00e9\\ud83d\\ude00\", \"\\ud800x\", \"\xff\"]\n",
                "(cmd \"é😀\" \"\xEF\xBF\xBDx\" \"\xEF\xBF\xBD\")\n");
    cb_ast_t *ast = tp_parse("CMD [\"a\\u0000b\", \"c\"]\n");
    cb_node_t *n = ast->nodes[0];
    assert_non_null(n->arg_lens);
    assert_int_equal(n->arg_lens[0], 3);
    assert_int_equal(n->arg_lens[1], 1);
    char *d = cb_node_dump(n);
    assert_string_equal(d, "cmd \"a\\x00b\" \"c\"");
    free(d);
    cb_ast_free(ast);
}

static void test_dump_quoting(void **state) {
    assert_dump("RUN a\tb\x01 \"\\ \xc2\xa0 \xe2\x99\xa5 \xff \x7f\n",
                "(run \"a\\tb\\x01 \\\"\\\\ \\u00a0 ♥ \\xff \\x7f\")\n");
}

static void test_flags(void **state) {
    assert_dump("COPY --chown=\"a b\" --x='c d' --e=f\\ g -- --not-a-flag /d\n",
                "(copy [\"--chown=a b\" \"--x=c d\" \"--e=f g\"] \"--not-a-flag\" \"/d\")\n");
    assert_dump("RUN --a -b --c\n", "(run [\"--a\"] \"-b --c\")\n");
    assert_dump("RUN --a --b\n", "(run [\"--a\" \"--b\"])\n");
    assert_dump("RUN --a=\"\" x\n", "(run [\"--a=\"] \"x\")\n");
    assert_dump("CMD --doit -- [ ]\n", "(cmd [\"--doit\"])\n");
    assert_dump("RUN -- --x\n", "(run \"--x\")\n");

    cb_strv_t flags = CB_STRV_INIT;
    const char *s = "--a=1 \t--b  rest of  line";
    const char *args = cb_extract_flags(s, s + strlen(s), '\\', &flags);
    assert_string_equal(args, "rest of  line");
    assert_int_equal(flags.len, 2);
    assert_string_equal(flags.items[1], "--b");
    cb_strv_free(&flags);
    s = "--a=`\" x";
    args = cb_extract_flags(s, s + strlen(s), '`', &flags);
    assert_string_equal(flags.items[0], "--a=\"");
    assert_string_equal(args, "x");
    cb_strv_free(&flags);
}

static void test_parse_words(void **state) {
    static const struct {
        const char *in;
        const char *out[4];
    } cases[] = {
        {"foo", {"foo"}},
        {"foo bar", {"foo", "bar"}},
        {"foo\\ bar", {"foo\\ bar"}},
        {"foo=bar", {"foo=bar"}},
        {"foo bar 'abc xyz'", {"foo", "bar", "'abc xyz'"}},
        {"foo bar \"abc xyz\"", {"foo", "bar", "\"abc xyz\""}},
        {"àöû", {"àöû"}},
        {"föo bàr \"âbc xÿz\"", {"föo", "bàr", "\"âbc xÿz\""}},
        {"a=\"x\\\" y\" b='p\\' q'", {"a=\"x\\\" y\"", "b='p\\'", "q'"}},
        {"x\\", {"x"}},
        {"''  \"\"", {"''", "\"\""}},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_strv_t w = CB_STRV_INIT;
        const char **starts = NULL;
        cb_parse_words(cases[i].in, cases[i].in + strlen(cases[i].in), '\\', &w, &starts);
        size_t want = 0;
        while (want < 4 && cases[i].out[want])
            want++;
        assert_int_equal(w.len, want);
        for (size_t j = 0; j < want; j++)
            assert_string_equal(w.items[j], cases[i].out[j]);
        if (w.len)
            assert_ptr_equal(starts[0], cases[i].in);
        free(starts);
        cb_strv_free(&w);
    }
}

static void test_env_and_label(void **state) {
    assert_dump("ENV a b c  d\nENV a=1 b=\"2 3\" c=\nLABEL \"k y\"=v\nLABEL k v\n",
                "(env \"a\" \"b c  d\" \"\")\n"
                "(env \"a\" \"1\" \"=\" \"b\" \"\\\"2 3\\\"\" \"=\" \"c\" \"\" \"=\")\n"
                "(label \"\\\"k y\\\"\" \"v\" \"=\")\n"
                "(label \"k\" \"v\" \"\")\n");
    assert_dump("ENV\n", "(env)\n");
}

static void test_env_errors(void **state) {
    tp_assert_error("FROM a\nENV  PATH\n", 2, 6, "ENV must have two arguments");
    tp_assert_error("FROM a\nLABEL x\n", 2, 7, "LABEL must have two arguments");
    tp_assert_error("FROM a\nENV a=1 \\\n  b c=2\n", 3, 3, "can't find = in \"b\"");
}

static void test_healthcheck(void **state) {
    assert_dump("HEALTHCHECK\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s CMD curl -f x\n"
                "HEALTHCHECK CMD [\"a\", \"b\"]\nHEALTHCHECK CMD\n",
                "(healthcheck)\n(healthcheck \"NONE\")\n"
                "(healthcheck [\"--interval=5s\"] \"CMD\" \"curl -f x\")\n"
                "(healthcheck \"CMD\" \"a\" \"b\")\n(healthcheck \"CMD\")\n");
}

static void test_onbuild(void **state) {
    cb_ast_t *ast = tp_parse("ONBUILD  run --mount=x [\"a\"]\nONBUILD\n");
    cb_node_t *n = ast->nodes[0];
    assert_string_equal(n->keyword, "onbuild");
    assert_non_null(n->child);
    assert_string_equal(n->child->keyword, "run");
    assert_true(n->child->json);
    assert_string_equal(n->child->original, "run --mount=x [\"a\"]");
    assert_int_equal(n->child->col, 10);
    assert_null(ast->nodes[1]->child);
    char *d = cb_ast_dump(ast);
    assert_string_equal(d, "(onbuild (run [\"--mount=x\"] \"a\"))\n(onbuild)\n");
    free(d);
    cb_ast_free(ast);
    tp_assert_error("FROM a\nONBUILD ONBUILD RUN x\n", 2, 9, "ONBUILD ONBUILD");
    tp_assert_error("FROM a\nONBUILD  from b\n", 2, 10, "FROM isn't allowed as an ONBUILD trigger");
    tp_assert_error("ONBUILD MAINTAINER me\n", 1, 9, "MAINTAINER isn't allowed");
    tp_assert_error("ONBUILD RUNN x\n", 1, 9, "unknown instruction");
}

static void test_unknown_instruction(void **state) {
    tp_assert_error("FROM a\n  RUNN echo\n", 2, 3, "unknown instruction \"RUNN\" (did you mean RUN?)");
    tp_assert_error("FROM a\nfrm b\n", 2, 1, "did you mean FROM?");
    tp_assert_error("FROM a\nBOGUS x\n", 2, 1, "expected one of ADD, ARG");
    /* the location maps back through a continuation */
    tp_assert_error("\\\n  XYZZY a\n", 2, 3, "unknown instruction \"XYZZY\"");
    assert_true(cb_is_instruction("healthcheck"));
    assert_false(cb_is_instruction("bogus"));
}

static void test_big_file(void **state) {
    /* 20,000 lines with continuations: every instruction found once */
    cb_buf_t b = CB_BUF_INIT;
    cb_buf_puts(&b, "FROM alpine\n");
    for (int i = 0; i < 4999; i++)
        cb_buf_printf(&b, "RUN echo %d \\\n  && ls \\\n  && true\nENV K%d=v%d\n", i, i, i);
    cb_ast_t *ast = tp_parse(cb_buf_str(&b));
    assert_int_equal(ast->nnodes, 1 + 2 * 4999);
    assert_int_equal(ast->end_line, 1 + 4 * 4999);
    assert_string_equal(ast->nodes[ast->nnodes - 2]->args.items[0], "echo 4998   && ls   && true");
    cb_ast_free(ast);
    cb_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords_case_insensitive),
        cmocka_unit_test(test_every_instruction),
        cmocka_unit_test(test_json_attribute),
        cmocka_unit_test(test_json_fallback_to_shell_form),
        cmocka_unit_test(test_json_not_strings_is_an_error),
        cmocka_unit_test(test_json_escapes_and_unicode),
        cmocka_unit_test(test_dump_quoting),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_parse_words),
        cmocka_unit_test(test_env_and_label),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_healthcheck),
        cmocka_unit_test(test_onbuild),
        cmocka_unit_test(test_unknown_instruction),
        cmocka_unit_test(test_big_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
