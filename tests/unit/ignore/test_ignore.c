/* .dockerignore semantics: Docker's documented examples, the walk rules of
 * docker's context transfer and of BuildKit's fsutil filter (parent results,
 * exceptions, skipped directories), file reading details and which ignore
 * file is chosen. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/ignore.h"
#include "common/fsutil.h"
#include "common/util.h"

static cb_ignore_t *parse(const char *text) {
    cb_ignore_t *ig = NULL;
    cb_autoerr cb_error_t *err = NULL;
    if (cb_ignore_parse(text, strlen(text), ".dockerignore", &ig, &err) < 0) {
        char *m = cb_error_message(err);
        fail_msg("parse failed: %s", m);
    }
    return ig;
}

typedef struct pcase {
    const char *path;
    bool excluded;
} pcase_t;

/* Checks each path both ways: the one-shot call, and a walk from the top
 * that hands each directory's state to its entries. */
static void check(const char *file, cb_ignore_walk_t walk, const pcase_t *c, size_t n) {
    cb_ignore_t *ig = parse(file);
    cb_ignore_set_walk(ig, walk);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        bool got = cb_ignore_matches(ig, c[i].path);
        cb_autofree char *p = cb_xstrdup(c[i].path);
        cb_ignore_state_t *parent = NULL;
        bool walked = false;
        for (char *slash = p;; slash++) {
            slash = strchr(slash, '/');
            if (slash)
                *slash = '\0';
            cb_ignore_state_t *st = NULL;
            walked = cb_ignore_match_entry(ig, parent, p, &st);
            cb_ignore_state_free(parent);
            parent = st;
            if (!slash)
                break;
            if (walked && cb_ignore_skip_dir(ig, p))
                break; /* not entered: what is below stays excluded */
            *slash = '/';
        }
        cb_ignore_state_free(parent);
        if (got != c[i].excluded || walked != c[i].excluded) {
            printf("FAIL [%s] %s: excluded=%d walked=%d, want %d\n", file, c[i].path, got, walked,
                   c[i].excluded);
            failed++;
        }
    }
    cb_ignore_free(ig);
    assert_int_equal(failed, 0);
}

#define CHECK_WALK(file, walk, ...)                       \
    do {                                                  \
        static const pcase_t c_[] = {__VA_ARGS__};        \
        check(file, walk, c_, CB_ARRAY_LEN(c_));          \
    } while (0)
#define CHECK(file, ...) CHECK_WALK(file, CB_IGNORE_WALK_CONTEXT, __VA_ARGS__)
#define CHECK_FILTER(file, ...) CHECK_WALK(file, CB_IGNORE_WALK_FILTER, __VA_ARGS__)

static void test_docker_reference_examples(void **state) {
    (void)state;
    /* The Dockerfile reference's .dockerignore example. */
    const char *ref = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
    CHECK(ref, {"somedir/temporary.txt", true}, {"somedir/temp", true}, {"temp", false},
          {"somedir/subdir/temporary.txt", true}, {"a/b/c/temp.txt", false}, {"temp1", true},
          {"temp12", false}, {"tempa/inside", true}, {"# comment", false});
    CHECK("*.md\n!README.md\n", {"CHANGES.md", true}, {"README.md", false},
          {"docs/CHANGES.md", false});
    CHECK("*.md\n!README*.md\nREADME-secret.md\n", {"README-secret.md", true},
          {"README-public.md", false}, {"notes.md", true});
    CHECK("*.md\nREADME-secret.md\n!README*.md\n", {"README-secret.md", false},
          {"notes.md", true});
}

static void test_globs(void **state) {
    (void)state;
    CHECK("*.md\n", {"README.md", true}, {"docs/README.md", false}, {"x.md/inside", true});
    CHECK("**/*.md\n", {"README.md", true}, {"docs/a/README.md", true}, {"x.txt", false});
    CHECK("**\n", {"a", true}, {"a/b/c", true}, {".", false}, {"", false});
    CHECK("foo/**\n", {"foo", false}, {"foo/x", true}, {"foo/x/y", true}, {"foobar", false});
    CHECK("foo**\n", {"foo", true}, {"foobar", true}, {"fo", false});
    CHECK("**/foo\n", {"foo", true}, {"a/foo", true}, {"a/b/foo/c", true}, {"afoo", false});
    CHECK("**foo\n", {"afoo", true}, {"a/foo", true}, {"foox", false});
    CHECK("a/**/b\n", {"a/b", true}, {"a/x/y/b", true}, {"a/xb", false}, {"b", false});
    CHECK("**/x/**/*.go\n", {"x/a.go", true}, {"p/x/q/r/a.go", true}, {"p/x/a.c", false});
    /* "**" in the middle of an element becomes "(.*" "/)?": pinned quirk */
    CHECK("a**b\n", {"ab", true}, {"a/x/b", true}, {"axb", false});
    CHECK("[ab]*\n[^c]x\n", {"a1", true}, {"c1", false}, {"bx", true}, {"cx", false});
    CHECK("\\*.txt\n", {"*.txt", true}, {"a.txt", false});
    CHECK("file.txt\n", {"file.txt", true}, {"fileatxt", false}, {"file.txt/x", true});
    CHECK("a+b(c)|{d}$\n", {"a+b(c)|{d}$", true}, {"aab(c)|{d}", false});
    CHECK("*.tmp?\n", {"x.tmp1", true}, {"x.tmp/1", false});
    CHECK("🚀/*\n", {"🚀/x", true}, {"🚀", false});
    /* '^' is a regex anchor once the pattern is a regex, literal otherwise */
    CHECK("a^b\na^c*\n", {"a^b", true}, {"a^cd", false});
    CHECK("^a*\n", {"ab", true}, {"^ab", false});
}

static void test_cleaning_and_reading(void **state) {
    (void)state;
    CHECK("/foo/bar\n./baz\nfoo/../qux/\n  spaced  \n", {"foo/bar", true}, {"foo", false},
          {"baz", true}, {"qux", true}, {"spaced", true}, {"/baz", true}, {"./baz/x", true});
    CHECK("#*.go\n #x\n", {"a.go", false}, {"#x", true});
    CHECK("\xEF\xBB\xBF*.tmp\r\n!keep.tmp\r\nlast", {"a.tmp", true}, {"keep.tmp", false},
          {"last", true});
    CHECK("!  /x/\n*\n!  /x/\n", {"x", false}, {"y", true});
    CHECK("\n\n\t\n", {"anything", false});

    cb_ignore_t *ig = parse("# c\n/a/./b/\n!c\n\n");
    assert_int_equal(cb_ignore_count(ig), 2);
    assert_string_equal(cb_ignore_pattern(ig, 0), "a/b");
    assert_string_equal(cb_ignore_pattern(ig, 1), "!c");
    assert_null(cb_ignore_pattern(ig, 2));
    assert_null(cb_ignore_source(ig));
    cb_ignore_free(ig);
}

static void test_exceptions_and_walk(void **state) {
    (void)state;
    const char *nm = "node_modules\n!node_modules/keep\n";
    CHECK(nm, {"node_modules", true}, {"node_modules/x", true}, {"node_modules/keep", false},
          {"node_modules/keep/a/b", false}, {"node_modules/keepx", true});
    cb_ignore_t *ig = parse(nm);
    assert_false(cb_ignore_skip_dir(ig, "node_modules")); /* keep lies inside */
    assert_true(cb_ignore_skip_dir(ig, "other"));
    cb_ignore_free(ig);

    ig = parse("node_modules\n");
    assert_true(cb_ignore_skip_dir(ig, "node_modules"));
    cb_ignore_free(ig);

    /* an exception with wildcards is still read as a path by the context
     * walk; fsutil's filter no longer skips any directory */
    const char *wild = "dir\nelsewhere\n!dir/*.txt\n";
    CHECK(wild, {"dir", true}, {"dir/a.txt", false}, {"dir/a.go", true}, {"dir/s/a.txt", true},
          {"elsewhere/dir/a.txt", true});
    CHECK_FILTER(wild, {"dir/a.txt", false}, {"elsewhere/dir/a.txt", true});
    ig = parse(wild);
    assert_false(cb_ignore_skip_dir(ig, "dir"));
    assert_true(cb_ignore_skip_dir(ig, "elsewhere"));
    cb_ignore_set_walk(ig, CB_IGNORE_WALK_FILTER);
    assert_false(cb_ignore_skip_dir(ig, "dir"));
    assert_false(cb_ignore_skip_dir(ig, "elsewhere"));
    cb_ignore_free(ig);

    /* a trailing / * or / ** still counts as a plain prefix */
    const char *dstar = "dir\n!dir/**\n";
    CHECK(dstar, {"dir", true}, {"dir/x", false}, {"dir/x/y", false});
    ig = parse(dstar);
    assert_false(cb_ignore_skip_dir(ig, "dir"));
    assert_true(cb_ignore_skip_dir(ig, "di"));
    cb_ignore_free(ig);

    CHECK("**\n!src\n", {"src", false}, {"src/a.c", false}, {"other", true},
          {"other/src", true});
    CHECK("!a\na\n", {"a", true}, {"a/b", true});
    CHECK("a\n!a\n", {"a", false}, {"a/b", false});
    /* the walk passes results down: a/b matched its own pattern after "!a"
     * was skipped for "a", so it stays excluded (patternmatcher's
     * MatchesOrParentMatches would say otherwise; BuildKit walks) */
    CHECK("a/b\n!a\n", {"a", false}, {"a/b", true}, {"a/b/c", true});
    /* an excluded, skipped directory hides a re-included name below it */
    CHECK("build\n!other/build\n", {"build/other/build", true}, {"other/build", false});
}

/* docker's context walk enters an excluded directory only when an
 * exception, read as a path, starts with the directory's path: one that
 * starts with a wildcard brings nothing back from below it (buildah's
 * conformance cases exceptions-skip, exceptions-weirdness-1,
 * exclude-*-subdir-*, copy-integration1, which docker builds alike).
 * BuildKit's fsutil filter (COPY --exclude) walks in and re-includes. */
static void test_context_walk_prefix_rule(void **state) {
    (void)state;
    const char *skip = "volume/\n!**/oneline.txt\n";
    CHECK(skip, {"volume", true}, {"volume/data", true}, {"volume/data/oneline.txt", true},
          {"oneline.txt", false}, {"other/oneline.txt", false});
    CHECK_FILTER(skip, {"volume/data", true}, {"volume/data/oneline.txt", false});

    const char *weird1 = "subdir\n!*/sub1*\n";
    CHECK(weird1, {"subdir/sub1.txt", true}, {"subdir/sub2.txt", true}, {"x/sub1.txt", false});
    CHECK_FILTER(weird1, {"subdir/sub1.txt", false}, {"subdir/sub2.txt", true});
    /* ... but a second exception under subdir/ opens it for the first too */
    CHECK("subdir\n!*/sub1*\n!subdir/sub3*\n", {"subdir/sub1.txt", false},
          {"subdir/sub2.txt", true}, {"subdir/sub3.txt", false});

    const char *deep = "**/subdir-e\n!**/subdir-f\n";
    CHECK(deep, {"subdir/subdir-e", true}, {"subdir/subdir-e/subdir-f", true},
          {"subdir/subdir-e/subdir-f/x", true}, {"subdir/subdir-f", false});
    CHECK_FILTER(deep, {"subdir/subdir-e/subdir-f/x", false});

    const char *integ = "*\ntest*\n!test2*\nsubdir\n!*/sub1*\n";
    CHECK(integ, {"test1.txt", true}, {"test2.txt", false}, {"subdir", true},
          {"subdir/sub1.txt", true}, {"Dockerfile", true});

    /* the pattern is compared as written: "!folder1/file" opens folder1
     * though it matches neither file1 nor file2 */
    cb_ignore_t *ig = parse("**\n!folder1/file\n");
    assert_false(cb_ignore_skip_dir(ig, "folder1"));
    assert_true(cb_ignore_skip_dir(ig, "folder"));
    assert_true(cb_ignore_skip_dir(ig, "folder1/file1"));
    assert_false(cb_ignore_skip_dir(ig, "/folder1/file/"));
    assert_true(cb_ignore_matches(ig, "folder1/file1"));
    cb_ignore_free(ig);
}

static void expect_parse_error(const char *text, const char *want) {
    cb_ignore_t *ig = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_ignore_parse(text, strlen(text), "ctx/.dockerignore", &ig, &err), -1);
    assert_null(ig);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cb_error_print(err, f);
    fclose(f);
    if (!strstr(buf, want))
        fail_msg("error '%s' does not contain '%s'", buf, want);
    assert_int_equal(cb_error_exit_code(err), 2);
    free(buf);
}

static void test_errors(void **state) {
    (void)state;
    expect_parse_error("a\n!\n", "ctx/.dockerignore:2");
    expect_parse_error("a\n!\n", "illegal exclusion pattern: \"!\"");
    expect_parse_error("# x\n\nsrc/[a-\n", "ctx/.dockerignore:3");
    expect_parse_error("src/[a-\n", "syntax error in pattern \"src/[a-\"");
    expect_parse_error("!x\\", "syntax error in pattern");
    cb_buf_t big = CB_BUF_INIT;
    for (int i = 0; i < 70000; i++)
        cb_buf_putc(&big, 'a');
    expect_parse_error(cb_buf_str(&big), "line too long");
    cb_buf_free(&big);
}

static char *tmp;

static void put(const char *rel, const char *text) {
    cb_autofree char *p = cb_xasprintf("%s/%s", tmp, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void drop(const char *rel) {
    cb_autofree char *p = cb_xasprintf("%s/%s", tmp, rel);
    unlink(p);
}

static void expect_loaded(const char *cf, const char *source_suffix, const char *first) {
    cb_ignore_t *ig = NULL;
    cb_autoerr cb_error_t *err = NULL;
    cb_autofree char *ctx = cb_xasprintf("%s/ctx", tmp);
    assert_int_equal(cb_ignore_load_file(ctx, cf, &ig, &err), 0);
    if (!source_suffix) {
        assert_null(cb_ignore_source(ig));
        assert_int_equal(cb_ignore_count(ig), 0);
    } else {
        assert_non_null(cb_ignore_source(ig));
        if (!cb_str_has_suffix(cb_ignore_source(ig), source_suffix))
            fail_msg("loaded %s, wanted ...%s", cb_ignore_source(ig), source_suffix);
        assert_string_equal(cb_ignore_pattern(ig, 0), first);
    }
    cb_ignore_free(ig);
}

static void test_load_file(void **state) {
    (void)state;
    char tmpl[] = "/tmp/cb-ignore-XXXXXX";
    tmp = mkdtemp(tmpl);
    assert_non_null(tmp);
    cb_autofree char *ctx = cb_xasprintf("%s/ctx", tmp);
    assert_int_equal(mkdir(ctx, 0755), 0);

    expect_loaded(NULL, NULL, NULL);
    expect_loaded("Containerfile", NULL, NULL);
    put("ctx/.dockerignore", "from-dockerignore\n");
    expect_loaded(NULL, "ctx/.dockerignore", "from-dockerignore");
    put("ctx/.containerignore", "from-containerignore\n");
    expect_loaded(NULL, "ctx/.containerignore", "from-containerignore");
    put("ctx/Containerfile.containerignore", "per-file-containerignore\n");
    expect_loaded("Containerfile", "ctx/Containerfile.containerignore", "per-file-containerignore");
    put("ctx/Containerfile.dockerignore", "per-file-dockerignore\n");
    expect_loaded("Containerfile", "ctx/Containerfile.dockerignore", "per-file-dockerignore");
    /* an absolute Containerfile path elsewhere */
    put("Other.dockerignore", "beside-other\n");
    cb_autofree char *other = cb_xasprintf("%s/Other", tmp);
    expect_loaded(other, "/Other.dockerignore", "beside-other");
    expect_loaded("Missing", "ctx/.containerignore", "from-containerignore");

    /* a symlink in the context is resolved inside the context (with openat2;
     * without it, any symlink is refused) */
    drop("ctx/.containerignore");
    cb_autofree char *link = cb_xasprintf("%s/.containerignore", ctx);
    if (cb_openat2_available()) {
        put("ctx/patterns", "via-symlink\n");
        assert_int_equal(symlink("patterns", link), 0);
        expect_loaded(NULL, "ctx/.containerignore", "via-symlink");
        put("secret", "outside-the-context\n");
        unlink(link);
        assert_int_equal(symlink("../secret", link), 0);
        /* "../secret" resolves to ctx/secret, which does not exist */
        expect_loaded(NULL, "ctx/.dockerignore", "from-dockerignore");
        unlink(link);
    }

    /* a bad file is an error naming it */
    put("ctx/.containerignore", "ok\n!\n");
    cb_ignore_t *ig = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_ignore_load_file(ctx, NULL, &ig, &err), -1);
    char *m = cb_error_message(err);
    assert_non_null(strstr(m, "illegal exclusion"));
    free(m);
    assert_int_equal(err->line, 2);
    assert_true(cb_str_has_suffix(err->file, "ctx/.containerignore"));

    cb_autofree char *cmd = cb_xasprintf("rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_reference_examples),
        cmocka_unit_test(test_globs),
        cmocka_unit_test(test_cleaning_and_reading),
        cmocka_unit_test(test_exceptions_and_walk),
        cmocka_unit_test(test_context_walk_prefix_rule),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
