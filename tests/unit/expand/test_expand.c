/* Shell-word expansion against BuildKit's own vector files (parsed at run
 * time from testdata/conformance/shell) plus tables for what those files do
 * not cover: the pattern operators, escape=`, lookups and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parser/expand.h"

static char *read_vector_file(const char *name) {
    const char *dir = getenv("CB_TESTDATA");
    char *path = cb_xasprintf("%s/conformance/shell/%s", dir ? dir : CB_TESTDATA, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    free(path);
    cb_buf_t b = CB_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cb_buf_add(&b, chunk, n);
    fclose(f);
    return cb_buf_steal(&b);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* README section 4: <platform>|<input>|<expected>, A and U run, W skipped. */
static void test_env_var_vectors(void **state) {
    (void)state;
    char *text = read_vector_file("envVarTest");
    cb_env_t env = CB_ENV_INIT;
    cb_env_set(&env, "PWD", "/home");
    cb_env_set(&env, "SHELL", "bash");
    cb_env_set(&env, "KOREAN", "한국어");
    cb_env_set(&env, "NULL", "");
    int run = 0, skipped = 0, failed = 0, errors_expected = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        line = trim(line);
        if (!*line)
            continue;
        char *f[4];
        int nf = 0;
        for (char *p = line; nf < 4; nf++) {
            f[nf] = p;
            char *bar = strchr(p, '|');
            if (!bar) {
                nf++;
                break;
            }
            *bar = '\0';
            p = bar + 1;
        }
        assert_int_equal(nf, 3);
        char *plat = trim(f[0]), *in = trim(f[1]), *want = trim(f[2]);
        if (strcmp(plat, "W") == 0) {
            skipped++;
            continue;
        }
        assert_true(strcmp(plat, "A") == 0 || strcmp(plat, "U") == 0);
        run++;
        char *got = NULL;
        cb_error_t *err = NULL;
        int r = cb_expand_word(in, &env, NULL, &got, &err);
        if (strcmp(want, "error") == 0) {
            errors_expected++;
            if (r == 0) {
                printf("FAIL %s: expected an error, got '%s'\n", in, got);
                failed++;
            }
        } else if (r < 0) {
            char *m = cb_error_message(err);
            printf("FAIL %s: expected '%s', got error %s\n", in, want, m);
            free(m);
            failed++;
        } else if (strcmp(got, want) != 0) {
            printf("FAIL %s: expected '%s', got '%s'\n", in, want, got);
            failed++;
        }
        free(got);
        cb_error_free(err);
    }
    printf("envVarTest: %d vectors run (%d expect an error), %d Windows-only skipped, %d failed\n",
           run, errors_expected, skipped, failed);
    assert_int_equal(run, 228);
    assert_int_equal(failed, 0);
    cb_env_free(&env);
    free(text);
}

/* README section 5: ENV lines accumulate; <input>|<w1,w2,...>; trailing
 * spaces of ENV values and of expected words are significant. */
static void test_words_vectors(void **state) {
    (void)state;
    char *text = read_vector_file("wordsTest");
    cb_env_t env = CB_ENV_INIT;
    int run = 0, failed = 0, envs = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        if (strncmp(line, "ENV ", 4) == 0) {
            char *kv = line + 3;
            while (*kv == ' ')
                kv++;
            char *eq = strchr(kv, '=');
            assert_non_null(eq);
            *eq = '\0';
            cb_env_set(&env, kv, eq + 1);
            envs++;
            continue;
        }
        char *bar = strchr(line, '|');
        assert_non_null(bar);
        assert_null(strchr(bar + 1, '|'));
        *bar = '\0';
        char *in = trim(line), *want = bar + 1;
        while (*want == ' ')
            want++;
        run++;
        cb_strv_t got = CB_STRV_INIT;
        cb_error_t *err = NULL;
        int r = cb_expand_words(in, &env, NULL, &got, &err);
        cb_buf_t joined = CB_BUF_INIT;
        if (r < 0)
            cb_buf_puts(&joined, "error");
        for (size_t i = 0; r == 0 && i < got.len; i++) {
            if (i)
                cb_buf_putc(&joined, ',');
            cb_buf_puts(&joined, got.items[i]);
        }
        if (strcmp(cb_buf_str(&joined), want) != 0) {
            printf("FAIL %s: expected [%s], got [%s]\n", in, want, cb_buf_str(&joined));
            failed++;
        }
        cb_buf_free(&joined);
        cb_strv_free(&got);
        cb_error_free(err);
    }
    printf("wordsTest: %d vectors run with %d ENV lines, %d failed\n", run, envs, failed);
    assert_int_equal(run, 24);
    assert_int_equal(envs, 4);
    assert_int_equal(failed, 0);
    cb_env_free(&env);
    free(text);
}

typedef struct vec {
    const char *in;
    const char *want; /* NULL: must fail */
} vec_t;

static void run_table(const vec_t *v, size_t n, const cb_env_t *env, const cb_expand_opts_t *opts) {
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        char *got = NULL;
        cb_error_t *err = NULL;
        int r = cb_expand_word(v[i].in, env, opts, &got, &err);
        if (!v[i].want && r == 0) {
            printf("FAIL %s: expected an error, got '%s'\n", v[i].in, got);
            failed++;
        } else if (v[i].want && r < 0) {
            char *m = cb_error_message(err);
            printf("FAIL %s: expected '%s', got error %s\n", v[i].in, v[i].want, m);
            free(m);
            failed++;
        } else if (v[i].want && strcmp(got, v[i].want) != 0) {
            printf("FAIL %s: expected '%s', got '%s'\n", v[i].in, v[i].want, got);
            failed++;
        }
        free(got);
        cb_error_free(err);
    }
    assert_int_equal(failed, 0);
}

static void pattern_env(cb_env_t *env) {
    cb_env_set(env, "V", "abcabc");
    cb_env_set(env, "S", "a*b*c");
    cb_env_set(env, "P", "a/b/c");
    cb_env_set(env, "K", "한국어");
    cb_env_set(env, "B", "[ab]c");
    cb_env_set(env, "N", "a\nb");
    cb_env_set(env, "E", "");
    cb_env_set(env, "F", "file.tar.gz");
}

static void test_pattern_operators(void **state) {
    (void)state;
    static const vec_t v[] = {
        /* # and ##: shortest and longest prefix */
        {"${V#a}", "bcabc"},
        {"${V#*b}", "cabc"},
        {"${V##*b}", "c"},
        {"${V#*c}", "abc"},
        {"${V##*c}", ""},
        {"${V#x}", "abcabc"},
        {"${V#?b}", "cabc"},
        {"${V#}", "abcabc"},
        {"${F#*.}", "tar.gz"},
        {"${F##*.}", "gz"},
        /* % and %%: shortest and longest suffix */
        {"${V%c}", "abcab"},
        {"${V%b*}", "abca"},
        {"${V%%b*}", "a"},
        {"${V%%*}", ""},
        {"${V%?}", "abcab"},
        {"${F%.*}", "file.tar"},
        {"${F%%.*}", "file"},
        {"${P%/*}", "a/b"},
        {"${P##*/}", "c"},
        {"${P#*/}", "b/c"},
        /* escaped wildcards are literal, on both sides */
        {"${S#*\\*}", "b*c"},
        {"${S##*\\*}", "c"},
        {"${S%\\**}", "a*b"},
        {"${S%%\\**}", "a"},
        /* / and //: first and every match, stars greedy */
        {"${V/b/X}", "aXcabc"},
        {"${V//b/X}", "aXcaXc"},
        {"${V/b/}", "acabc"},
        {"${V//b/}", "acac"},
        {"${V/*/X}", "X"},
        {"${V/c*/X}", "abX"},
        {"${V//?/X}", "XXXXXX"},
        {"${V/x/y}", "abcabc"},
        {"${P//\\//-}", "a-b-c"},
        {"${V/b/${P}}", "aa/b/ccabc"},
        /* only *, ? and escapes are special: no bracket expressions */
        {"${B#[ab]}", "c"},
        {"${B#?}", "ab]c"},
        /* runes, not bytes */
        {"${K#?}", "국어"},
        {"${K%?}", "한국"},
        {"${K/국/-}", "한-어"},
        /* like Go's regexp ".", wildcards stop at a newline */
        {"${N#*b}", "a\nb"},
        {"${N/?/X}", "X\nb"},
        /* unset and empty variables expand as "" before matching */
        {"${U#a}", ""},
        {"${U/a/b}", ""},
        {"${E%x}", ""},
        /* BuildKit quirks, pinned: `.*` matches the empty value; ${v:#p}
         * ignores the colon; the replacement keeps escape characters; the
         * // replacement goes through Go's Regexp.Expand ($0 = the match) */
        {"${U/*/r}", "r"},
        {"${V:#a}", "bcabc"},
        {"${V/b/\\}}", "a\\}cabc"},
        {"${V//b/'$0$0'}", "abbcabbc"},
        {"${V//b/'$$'}", "a$ca$c"},
        {"${V//b/'$1'}", "acac"},
        {"${V//b/'$'}", "a$ca$c"},
        {"${V/b/'$0'}", "a$0cabc"},
        /* malformed */
        {"${V#\\a}", NULL},
        {"${V%\\a}", NULL},
        {"${V/\\a/x}", NULL},
        {"${V/b}", NULL},
        {"${V//}", NULL},
        {"${V#a", NULL},
        {"${V/a/b", NULL},
    };
    cb_env_t env = CB_ENV_INIT;
    pattern_env(&env);
    run_table(v, CB_ARRAY_LEN(v), &env, NULL);
    cb_env_free(&env);
}

static void test_modifiers_and_params(void **state) {
    (void)state;
    static const vec_t v[] = {
        {"${A:-x}", "set"},
        {"${E:-x}", "x"},
        {"${E-x}", ""},
        {"${U-x}", "x"},
        {"${A:+y}", "y"},
        {"${E:+y}", ""},
        {"${E+y}", "y"},
        {"${U+y}", ""},
        {"${A:?oops}", "set"},
        {"${E?oops}", ""},
        {"${U:-${A:+nested}}", "nested"},
        {"${U:-'${A}'}", "${A}"},
        {"${U:-\"$A\"}", "set"},
        {"${U:-a\\}b}", "a}b"},
        /* the default is read even when unused, so its errors count */
        {"${A:-${U?}}", NULL},
        {"$@$*$#$?$-$$$!$0$1$23", ""},
        {"${@}${#}${0}${12}", ""},
        {"$@@@", "@@"},
        {"$999aaa", "aaa"},
        {"${#A}", NULL},
        {"${A:=x}", NULL},
        {"${A=x}", NULL},
        {"${A^}", NULL},
        {"${{A}", NULL},
        {"${:}", NULL},
        {"${", NULL},
        {"${A", NULL},
        {"${A:", NULL},
        {"$", "$"},
        {"a$", "a$"},
        {"$/x", "$/x"},
        {"\xEF\xBB\xBF" "bom", "bom"},
    };
    cb_env_t env = CB_ENV_INIT;
    cb_env_set(&env, "A", "set");
    cb_env_set(&env, "E", "");
    run_table(v, CB_ARRAY_LEN(v), &env, NULL);
    cb_env_free(&env);
}

static void test_backtick_escape(void **state) {
    (void)state;
    static const vec_t v[] = {
        {"C:\\path\\file", "C:\\path\\file"},
        {"a``b", "a`b"},
        {"a`$V", "a$V"},
        {"a`", "a"},
        {"\"x`\"y\"", "x\"y"},
        {"\"x`ay\"", "x`ay"},
        {"\"x\\y\"", "x\\y"},
        {"'x`y'", "x`y"},
        {"a` b", "a b"},
        {"${S#*\\*}", "b*c"},
        {"${V:-`}}", "abcabc"},
        {"${U:-`}}", "}"},
        {"$V`$V", "abcabc$V"},
    };
    cb_env_t env = CB_ENV_INIT;
    pattern_env(&env);
    cb_expand_opts_t opts = {.escape = '`'};
    run_table(v, CB_ARRAY_LEN(v), &env, &opts);

    cb_strv_t words = CB_STRV_INIT;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_expand_words("a` b c", &env, &opts, &words, &err), 0);
    assert_int_equal(words.len, 2);
    assert_string_equal(words.items[0], "a b");
    assert_string_equal(words.items[1], "c");
    cb_strv_free(&words);
    cb_env_free(&env);
}

typedef struct lookups {
    cb_buf_t log;
} lookups_t;

static void record(void *ctx, const char *name, bool found) {
    lookups_t *l = ctx;
    cb_buf_printf(&l->log, "%s%s=%d", l->log.len ? " " : "", name, found);
}

static void test_on_lookup(void **state) {
    (void)state;
    cb_env_t env = CB_ENV_INIT;
    cb_env_set(&env, "A", "1");
    cb_env_set(&env, "Y", "2");
    lookups_t l = {CB_BUF_INIT};
    cb_expand_opts_t opts = {.on_lookup = record, .ctx = &l};
    char *out = NULL;
    cb_autoerr cb_error_t *err = NULL;
    /* the operand is expanded before its variable is looked up; quoted and
     * escaped dollars are not lookups; $1 is */
    assert_int_equal(cb_expand_word("$A ${B:-x} \"$C\" '$D' \\$E ${X:-$Y} $1 ${A#p}", &env, &opts,
                                    &out, &err),
                     0);
    assert_string_equal(out, "1 x  $D $E 2  1");
    assert_string_equal(cb_buf_str(&l.log), "A=1 B=0 C=0 Y=1 X=0 1=0 A=1");
    free(out);
    cb_buf_free(&l.log);
    cb_env_free(&env);
}

static void expect_error(const char *word, cb_error_kind_t kind, const char *text) {
    cb_env_t env = CB_ENV_INIT;
    cb_env_set(&env, "EMPTY", "");
    char *out = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_expand_word(word, &env, NULL, &out, &err), -1);
    assert_null(out);
    char *m = cb_error_message(err);
    if (!strstr(m, text))
        fail_msg("error for %s is '%s', wanted it to contain '%s'", word, m, text);
    assert_int_equal(cb_error_root(err)->kind, kind);
    free(m);
    cb_env_free(&env);
}

static void test_error_messages(void **state) {
    (void)state;
    expect_error("${MISSING:?must be set}", CB_ERR_INPUT,
                 "failed to process \"${MISSING:?must be set}\": MISSING: must be set");
    expect_error("${MISSING?}", CB_ERR_INPUT, "MISSING: is not allowed to be unset");
    expect_error("${EMPTY:?}", CB_ERR_INPUT, "EMPTY: is not allowed to be empty");
    expect_error("x${EMPTY:?was '$EMPTY' \"${EMPTY:-empty}\"}", CB_ERR_INPUT, "EMPTY: was $EMPTY empty");
    expect_error("${EMPTY:=x}", CB_ERR_SYNTAX, "unsupported modifier (:=) in substitution");
    expect_error("${}", CB_ERR_SYNTAX, "bad substitution");
    expect_error("${A", CB_ERR_SYNTAX, "missing '}'");
    expect_error("${A/b", CB_ERR_SYNTAX, "missing '/'");
    expect_error("'abc", CB_ERR_SYNTAX, "matching single-quote");
    expect_error("\"abc", CB_ERR_SYNTAX, "matching double-quote");
    expect_error("${A#\\q}", CB_ERR_SYNTAX, "invalid pattern (\\q) in substitution: invalid escape '\\q'");
    expect_error("a\tb${", CB_ERR_SYNTAX, "failed to process \"a\\tb${\"");
}

static void test_words_api(void **state) {
    (void)state;
    cb_env_t env = CB_ENV_INIT;
    cb_env_set(&env, "PORTS", " 80  443\t8080 ");
    cb_strv_t w = CB_STRV_INIT;
    cb_autoerr cb_error_t *err = NULL;
    cb_strv_push(&w, "kept");
    assert_int_equal(cb_expand_words("$PORTS \"\" '' 9000/udp", &env, NULL, &w, &err), 0);
    assert_int_equal(w.len, 5);
    assert_string_equal(w.items[0], "kept");
    assert_string_equal(w.items[1], "80");
    assert_string_equal(w.items[3], "8080");
    assert_string_equal(w.items[4], "9000/udp");
    assert_int_equal(cb_expand_words("a 'b", &env, NULL, &w, &err), -1);
    assert_int_equal(w.len, 5); /* nothing appended on failure */
    cb_strv_free(&w);
    assert_int_equal(cb_expand_words("", &env, NULL, &w, &err), 0);
    assert_int_equal(w.len, 0);
    cb_env_free(&env);
}

static char *repeat(const char *a, int n, const char *mid, const char *b) {
    cb_buf_t w = CB_BUF_INIT;
    for (int i = 0; i < n; i++)
        cb_buf_puts(&w, a);
    cb_buf_puts(&w, mid);
    for (int i = 0; i < n; i++)
        cb_buf_puts(&w, b);
    return cb_buf_steal(&w);
}

/* Inputs a fuzzer would try: deep nesting is refused with an error instead of
 * exhausting the stack, and backtracking patterns stay polynomial. */
static void test_limits(void **state) {
    (void)state;
    cb_env_t env = CB_ENV_INIT;
    char *out = NULL;
    cb_autoerr cb_error_t *err = NULL;
    cb_autofree char *ok = repeat("${U:-", 200, "x", "}");
    assert_int_equal(cb_expand_word(ok, &env, NULL, &out, &err), 0);
    assert_string_equal(out, "x");
    free(out);
    cb_autofree char *deep = repeat("${U:-", 5000, "x", "}");
    assert_int_equal(cb_expand_word(deep, &env, NULL, &out, &err), -1);
    char *m = cb_error_message(err);
    assert_non_null(strstr(m, "nested more than 256 deep"));
    free(m);

    cb_autofree char *value = repeat("a", 20000, "", "");
    cb_env_set(&env, "L", value);
    cb_autofree char *lit = repeat("a", 19999, "", "");
    cb_autofree char *word = cb_xasprintf("${L#%s}|${L##*a*a*a*a*a*b}|${L//a*a*a*b/x}|${L%%%%*a*a*a}",
                                          lit);
    cb_error_free(err);
    err = NULL;
    assert_int_equal(cb_expand_word(word, &env, NULL, &out, &err), 0);
    cb_autofree char *want = cb_xasprintf("a|%s|%s|", value, value);
    assert_string_equal(out, want);
    free(out);

    /* The fuzzer's case (testdata/fuzz/crashes/expand-timeout-*): nested
     * empty-pattern replacements multiply the length at every level. */
    cb_env_set(&env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    cb_autofree char *bomb = repeat("${PATH///", 8, "x", "}");
    cb_error_free(err);
    err = NULL;
    assert_int_equal(cb_expand_word(bomb, &env, NULL, &out, &err), -1);
    char *bm = cb_error_message(err);
    assert_non_null(strstr(bm, "expansion of ${PATH/...} exceeds 1048576 bytes"));
    free(bm);
    cb_env_free(&env);
}

static void expect_ok_len(const cb_env_t *env, const char *word, size_t len) {
    char *out = NULL;
    cb_autoerr cb_error_t *err = NULL;
    if (cb_expand_word(word, env, NULL, &out, &err) < 0) {
        char *m = cb_error_message(err);
        fail_msg("%.60s: %s", word, m);
    }
    assert_int_equal(strlen(out), len);
    free(out);
}

static void expect_too_big(const cb_env_t *env, const char *word, const char *msg) {
    char *out = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_expand_word(word, env, NULL, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err->kind, CB_ERR_INPUT);
    char *m = cb_error_message(err);
    if (!strstr(m, msg))
        fail_msg("\"%s\" lacks \"%s\"", m, msg);
    free(m);
}

/* CB_EXPAND_MAX_VALUE: a result of exactly the limit is fine, one byte more
 * is refused, whether the bytes come from a replacement, a concatenation of
 * expansions or text after them. */
static void test_value_bound(void **state) {
    (void)state;
    assert_int_equal(CB_EXPAND_MAX_VALUE, 1 << 20);
    cb_env_t env = CB_ENV_INIT;
    cb_autofree char *k = repeat("a", 1024, "", "");
    cb_autofree char *half = repeat("h", 512 * 1024, "", "");
    cb_env_set(&env, "K", k);
    cb_env_set(&env, "HALF", half);
    cb_env_set(&env, "ONE", "1");

    expect_ok_len(&env, "${K//a/$K}", 1 << 20);
    expect_too_big(&env, "${K//a/${K}b}", "expansion of ${K/...} exceeds 1048576 bytes");
    expect_too_big(&env, "${K/a/${K//a/$K}}", "expansion of ${K/...} exceeds 1048576 bytes");
    expect_too_big(&env, "${K//a/$K}$ONE", "expansion of \"$ONE\" exceeds 1048576 bytes");
    expect_too_big(&env, "${ONE:+${K//a/$K}1}", "expansion of \"${ONE:+${K//a/$K}1}\" exceeds");
    expect_ok_len(&env, "$HALF\"$HALF\"", 1 << 20);
    expect_too_big(&env, "$HALF\"$HALF\"x", "expansion of \"$HALF\\\"$HALF\\\"x\" exceeds");
    expect_too_big(&env, "$HALF${HALF}$HALF", "expansion of \"$HALF\" exceeds 1048576 bytes");

    /* The user's own long text is not an expansion's growth. */
    cb_autofree char *lit = repeat("z", (1 << 20) + 10, "", "");
    expect_ok_len(&env, lit, (1 << 20) + 10);
    cb_env_free(&env);
}

/* CB_EXPAND_MAX_WORK: values under the size bound, but copied through many
 * levels or built only to be thrown away, add up to a refusal. */
static void test_work_bound(void **state) {
    (void)state;
    cb_env_t env = CB_ENV_INIT;
    cb_autofree char *k = repeat("a", 1024, "", "");
    cb_env_set(&env, "K", k);
    /* 1 MiB built and dropped 5 times: fine; 10 times: refused. */
    cb_autofree char *w5 = repeat("${NULL:+${K//a/$K}}", 5, "", "");
    expect_ok_len(&env, w5, 0);
    cb_autofree char *w10 = repeat("${NULL:+${K//a/$K}}", 10, "", "");
    expect_too_big(&env, w10, "expansion exceeds 8388608 bytes of intermediate values");
    /* A 1 MiB value handed up through 200 levels of ${U:-...}. */
    cb_autofree char *deep = repeat("${U:-", 200, "${K//a/$K}", "}");
    expect_too_big(&env, deep, "expansion exceeds 8388608 bytes");
    /* Matching a long literal pattern at every start of a long value. */
    cb_autofree char *big = repeat("a", 4000, "", "");
    cb_env_set(&env, "BIG", big);
    cb_autofree char *pat = repeat("a", 3000, "b", "");
    cb_autofree char *m = cb_xasprintf("${BIG//%s/x}", pat);
    expect_too_big(&env, m, "matching a 3001-character pattern against a 4000-character value");
    cb_env_free(&env);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_var_vectors),   cmocka_unit_test(test_words_vectors),
        cmocka_unit_test(test_pattern_operators), cmocka_unit_test(test_modifiers_and_params),
        cmocka_unit_test(test_backtick_escape),   cmocka_unit_test(test_on_lookup),
        cmocka_unit_test(test_error_messages),    cmocka_unit_test(test_words_api),
        cmocka_unit_test(test_limits),            cmocka_unit_test(test_value_bound),
        cmocka_unit_test(test_work_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
