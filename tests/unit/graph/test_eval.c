/* ARG/ENV scoping, expansion and build-arg recording (parser/eval.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast_builder.h"
#include "parser/eval.h"

static char *errstr(const cb_error_t *e) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cb_error_print(e, f);
    fclose(f);
    return buf;
}

/* A test's whole state: the hand-built tree, its program and evaluation. */
typedef struct fixture {
    tb_ast_t t;
    cb_program_t *prog;
    cb_eval_t *ev;
    cb_strv_t build_args;
    cb_eval_opts_t opts;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    tb_init(&f->t);
    f->opts.build_args = &f->build_args;
    f->opts.build_platform = "linux/amd64";
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    cb_eval_free(f->ev);
    cb_program_free(f->prog);
    tb_free(&f->t);
    cb_strv_free(&f->build_args);
    free(f);
    return 0;
}

static int eval(fixture_t *f, cb_error_t **err) {
    cb_autoerr cb_error_t *perr = NULL;
    if (cb_program_from_ast(&f->t.ast, &f->prog, &perr) < 0) {
        char *s = errstr(perr);
        fail_msg("program: %s", s);
    }
    return cb_eval_program(f->prog, &f->opts, &f->ev, err);
}

static void eval_ok(fixture_t *f) {
    cb_autoerr cb_error_t *err = NULL;
    if (eval(f, &err) < 0) {
        char *s = errstr(err);
        fail_msg("eval: %s", s);
    }
}

static void eval_fails(fixture_t *f, const char *msg) {
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(eval(f, &err), -1);
    assert_null(f->ev);
    char *s = errstr(err);
    if (strstr(s, msg) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", s, msg);
    free(s);
}

static cb_instr_t *instr(fixture_t *f, size_t stage, size_t i) {
    return f->prog->stages[stage].instrs[i];
}

static const char *value_of(fixture_t *f, size_t stage, size_t i) {
    return ((cb_instr_value_t *)instr(f, stage, i))->value;
}

/* used_args joined with ',' for compact assertions. */
static char *used(const cb_instr_t *in) {
    cb_buf_t b = CB_BUF_INIT;
    for (size_t i = 0; i < in->used_args.len; i++)
        cb_buf_printf(&b, "%s%s", i ? "," : "", in->used_args.items[i]);
    return cb_buf_steal(&b);
}

#define assert_used(in, expected)               \
    do {                                        \
        char *_u = used(in);                    \
        assert_string_equal(_u, expected);      \
        free(_u);                               \
    } while (0)

static void test_global_arg_in_from(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "arg", NULL, "A=3\nV=${A}.18");
    tb_add(&f->t, "from", NULL, "alpine:$V");
    eval_ok(f);
    assert_string_equal(f->prog->stages[0].from->image, "alpine:3.18");
    assert_used(&f->prog->stages[0].from->base, "V=3.18");
    assert_string_equal(f->prog->meta_args[0]->args[1].value, "3.18");
    assert_string_equal(cb_env_get(&f->ev->global_args, "V"), "3.18");
}

static void test_build_arg_overrides(void **state) {
    fixture_t *f = *state;
    cb_strv_push(&f->build_args, "V=3.19");
    cb_strv_push(&f->build_args, "S=from-cli");
    tb_add(&f->t, "arg", NULL, "V=3.18");
    tb_add(&f->t, "from", NULL, "alpine:$V");
    tb_add(&f->t, "arg", NULL, "S=default");
    tb_add(&f->t, "workdir", NULL, "/$S");
    eval_ok(f);
    assert_string_equal(f->prog->stages[0].from->image, "alpine:3.19");
    assert_string_equal(value_of(f, 0, 1), "/from-cli");
    assert_used(instr(f, 0, 1), "S=from-cli");
    assert_int_equal(f->ev->warnings.len, 0);
}

static void test_global_arg_needs_redeclaration(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "arg", NULL, "V=1\nW=2");
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "workdir", NULL, "/a$V");
    tb_add(&f->t, "arg", NULL, "V");
    tb_add(&f->t, "workdir", NULL, "/b$V$W");
    eval_ok(f);
    assert_string_equal(value_of(f, 0, 0), "/a"); /* not visible before ARG V */
    assert_used(instr(f, 0, 0), "");
    assert_string_equal(value_of(f, 0, 2), "/b1"); /* W never redeclared */
    assert_used(instr(f, 0, 2), "V=1");
}

static void test_env_shadows_arg(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch\nAS\none");
    tb_add(&f->t, "arg", NULL, "X=arg");
    tb_add(&f->t, "env", NULL, "X\nenv\n=");
    tb_add(&f->t, "workdir", NULL, "/$X");
    tb_add(&f->t, "from", NULL, "one");
    tb_add(&f->t, "env", NULL, "Y\nenv\n=");
    tb_add(&f->t, "arg", NULL, "Y=arg");
    tb_add(&f->t, "user", NULL, "$Y");
    eval_ok(f);
    assert_string_equal(value_of(f, 0, 2), "/env");
    assert_used(instr(f, 0, 2), ""); /* ENV, not a build arg */
    assert_string_equal(value_of(f, 1, 2), "env"); /* ENV wins even when first */
}

/* Pairs of one ARG line see the pairs before them, except where an ENV of
 * the same name shadows them; a build arg given on the command line counts
 * as set too. (eval_arg keeps one context for the line up to date.) */
static void test_arg_pairs_see_earlier_pairs(void **state) {
    fixture_t *f = *state;
    cb_strv_push(&f->build_args, "G=given");
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "env", NULL, "E\nenv\n=");
    tb_add(&f->t, "arg", NULL, "A=1\nB=$A-$E\nE=arg\nC=$E-$B\nG\nD=$G-$C\nA=2\nF=$A");
    tb_add(&f->t, "run", NULL, "echo $A $B $C $D $E $F");
    eval_ok(f);
    cb_instr_arg_t *a = (cb_instr_arg_t *)instr(f, 0, 1);
    assert_string_equal(a->args[1].value, "1-env");
    assert_string_equal(a->args[3].value, "env-1-env");
    assert_string_equal(a->args[5].value, "given-env-1-env");
    assert_string_equal(a->args[7].value, "2");
}

static void test_undefined_arg_is_empty(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "arg", NULL, "U");
    tb_add(&f->t, "workdir", NULL, "/x$U${U:-d}$NEVER");
    tb_add(&f->t, "run", NULL, "echo $U");
    eval_ok(f);
    assert_string_equal(value_of(f, 0, 1), "/xd");
    assert_used(instr(f, 0, 1), "U");
    assert_used(instr(f, 0, 2), "U"); /* declared: in RUN's environment */
    assert_string_equal(((cb_instr_run_t *)instr(f, 0, 2))->cmd.items[0], "echo $U");
}

static void test_platform_args(void **state) {
    fixture_t *f = *state;
    f->opts.target_platform = "linux/arm64";
    tb_add(&f->t, "from", "--platform=$BUILDPLATFORM", "golang\nAS\nbuild");
    tb_add(&f->t, "arg", NULL, "TARGETARCH\nTARGETOS");
    tb_add(&f->t, "workdir", NULL, "/out/$TARGETOS/$TARGETARCH$BUILDARCH");
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "copy", "--from=build", "/out/linux/arm64\n/");
    eval_ok(f);
    assert_string_equal(f->prog->stages[0].from->platform, "linux/amd64");
    assert_used(&f->prog->stages[0].from->base, "BUILDPLATFORM=linux/amd64");
    assert_string_equal(value_of(f, 0, 1), "/out/linux/arm64"); /* BUILDARCH not declared */
    assert_used(instr(f, 0, 1), "TARGETOS=linux,TARGETARCH=arm64");
    assert_string_equal(f->ev->target_platform, "linux/arm64");
    assert_string_equal(cb_env_get(&f->ev->global_args, "TARGETVARIANT"), "");
    assert_string_equal(cb_env_get(&f->ev->global_args, "BUILDOS"), "linux");
}

static void test_env_pairs_see_old_values(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "env", NULL, "A\n1\n=");
    tb_add(&f->t, "env", NULL, "A\n2\n=\nB\n$A\n=");
    tb_add(&f->t, "env", NULL, "PATH\n$PATH:/opt/bin\n=");
    tb_add(&f->t, "label", NULL, "v\n\"$A $B\"\n=");
    eval_ok(f);
    cb_instr_kvs_t *e = (cb_instr_kvs_t *)instr(f, 0, 1);
    assert_string_equal(e->pairs[1].value, "1");
    assert_string_equal(cb_env_get(&f->ev->stage_env[0], "A"), "2");
    assert_string_equal(cb_env_get(&f->ev->stage_env[0], "PATH"),
                        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/bin");
    assert_string_equal(((cb_instr_kvs_t *)instr(f, 0, 3))->pairs[0].value, "2 1");
}

static void test_stage_inherits_base_stage(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "alpine\nAS\nbase");
    tb_add(&f->t, "arg", NULL, "X=1");
    tb_add(&f->t, "env", NULL, "E\ne\n=");
    tb_add(&f->t, "from", NULL, "base");
    tb_add(&f->t, "workdir", NULL, "/$X$E");
    eval_ok(f);
    assert_string_equal(value_of(f, 1, 0), "/1e");
    assert_used(instr(f, 1, 0), "X=1");
}

static int fake_image_env(void *ctx, const char *image, const char *platform, cb_env_t *env,
                          cb_error_t **err) {
    (void)ctx;
    if (strcmp(image, "broken") == 0)
        return cb_error_set(err, 0, "no such image %s", image);
    cb_env_set(env, "IMG", image);
    cb_env_set(env, "PLAT", platform);
    return 0;
}

static void test_image_env(void **state) {
    fixture_t *f = *state;
    f->opts.image_env = fake_image_env;
    tb_add(&f->t, "from", NULL, "node:20");
    tb_add(&f->t, "workdir", NULL, "/$IMG/$PLAT");
    eval_ok(f);
    assert_string_equal(value_of(f, 0, 0), "/node:20/linux/amd64");
}

static void test_run_args_proxy_and_mounts(void **state) {
    fixture_t *f = *state;
    cb_strv_push(&f->build_args, "HTTP_PROXY=http://proxy:3128");
    cb_strv_push(&f->build_args, "no_proxy=localhost");
    cb_strv_push(&f->build_args, "UNUSED=1");
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "arg", NULL, "A=1\nB=2\nHTTP_PROXY");
    tb_add(&f->t, "env", NULL, "B\nenv\n=\nD\n/cache\n=");
    tb_add(&f->t, "run", "--mount=type=cache,target=$D,id=c-$A", "make");
    eval_ok(f);
    cb_instr_run_t *r = (cb_instr_run_t *)instr(f, 0, 2);
    assert_string_equal(r->mounts[0].target, "/cache");
    assert_string_equal(r->mounts[0].id, "c-1");
    assert_used(&r->base, "A=1"); /* B is shadowed by ENV; proxies never count */
    assert_int_equal(r->proxy_env.len, 2);
    assert_string_equal(r->proxy_env.items[0], "HTTP_PROXY=http://proxy:3128");
    assert_int_equal(f->ev->warnings.len, 1);
    assert_non_null(strstr(f->ev->warnings.items[0], "[UNUSED]"));
}

static void test_copy_and_expose_expansion(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "env", NULL, "SRC\nsrc\n=\nPORTS\n\"80 443\"\n=\nU\n1000\n=");
    tb_add(&f->t, "copy", "--chown=$U:$U\n--chmod=0${U}", "$SRC/a\n\"$SRC b\"\n/dst/$SRC");
    tb_add(&f->t, "expose", NULL, "$PORTS\n8080/udp");
    tb_add(&f->t, "volume", NULL, "/data/$SRC");
    eval_ok(f);
    cb_instr_copy_t *c = (cb_instr_copy_t *)instr(f, 0, 1);
    assert_string_equal(c->sources.items[0], "src/a");
    assert_string_equal(c->sources.items[1], "src b");
    assert_string_equal(c->dest, "/dst/src");
    assert_string_equal(c->chown, "1000:1000");
    assert_string_equal(c->chmod, "01000");
    cb_instr_words_t *e = (cb_instr_words_t *)instr(f, 0, 2);
    assert_int_equal(e->words.len, 3);
    assert_string_equal(e->words.items[0], "80");
    assert_string_equal(e->words.items[1], "443");
    assert_string_equal(((cb_instr_words_t *)instr(f, 0, 3))->words.items[0], "/data/src");
}

static void add_heredoc(cb_node_t *n, const char *name, const char *content, bool expand) {
    n->heredocs = cb_xrealloc(n->heredocs, (n->nheredocs + 1) * sizeof *n->heredocs);
    n->heredocs[n->nheredocs++] = (cb_heredoc_t){cb_xstrdup(name), cb_xstrdup(content), expand, false, 0};
}

static void test_copy_heredoc_bodies(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "arg", NULL, "A=1");
    cb_node_t *n = tb_add(&f->t, "copy", NULL, "<<EOF\n<<'RAW'\n/dst/");
    add_heredoc(n, "EOF", "say \"$A\" '${A}' \\$A\n", true);
    add_heredoc(n, "RAW", "keep $A\n", false);
    eval_ok(f);
    cb_instr_copy_t *c = (cb_instr_copy_t *)instr(f, 0, 1);
    assert_string_equal(c->sources.items[0], "<<EOF"); /* heredoc sources are not words */
    assert_string_equal(c->sources.items[1], "<<'RAW'");
    assert_string_equal(c->heredocs.items[0], "say \"1\" '1' $A\n"); /* quotes kept, escapes processed */
    assert_string_equal(c->heredocs.items[1], "keep $A\n");
    assert_used(&c->base, "A=1");
}

static void test_target_prunes_evaluation(void **state) {
    fixture_t *f = *state;
    f->opts.target = "good";
    tb_add(&f->t, "from", NULL, "scratch\nAS\ngood");
    tb_add(&f->t, "workdir", NULL, "/ok");
    tb_add(&f->t, "from", NULL, "scratch\nAS\nbad");
    tb_add(&f->t, "volume", NULL, "$EMPTY"); /* an error, but only if built */
    eval_ok(f);
    assert_true(f->prog->stages[0].evaluated);
    assert_false(f->prog->stages[1].evaluated);
    assert_false(instr(f, 1, 0)->expanded);
    assert_int_equal(f->ev->graph->norder, 1);
}

static void test_eval_errors_have_locations(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "volume", NULL, "$EMPTY");
    eval_fails(f, "Containerfile:2:1: VOLUME specified can not be an empty string");
}

/* ENV A=$A$A doubles A on every line: the line that would take it past
 * CB_EXPAND_MAX_VALUE fails with its place, the one before still works. */
static void test_env_doubling_is_bounded(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "env", NULL, "A\n0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n=");
    for (int i = 0; i < 14; i++) /* 64 << 14 == 1 MiB, the limit itself */
        tb_add(&f->t, "env", NULL, "A\n$A$A\n=");
    tb_add(&f->t, "env", NULL, "A\n$A$A\n=");
    eval_fails(f, "Containerfile:17:1: failed to process \"$A$A\": expansion of \"$A\" exceeds "
                  "1048576 bytes");
}

/* The evaluation shares one allowance (CB_EXPAND_MAX_TOTAL_WORK): a 1 MiB
 * ENV may be copied by a hundred lines, not by every line of a long file. */
static void add_big_env(fixture_t *f, int copies) {
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "env", NULL, "P\n0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n=");
    for (int i = 0; i < 14; i++)
        tb_add(&f->t, "env", NULL, "P\n$P$P\n=");
    for (int i = 0; i < copies; i++)
        tb_add(&f->t, "env", NULL, "Q\n$P\n=");
}

static void test_total_expansion_work_bounded(void **state) {
    fixture_t *f = *state;
    add_big_env(f, 140);
    eval_fails(f, "expansions exceed 134217728 bytes of intermediate values and pattern matching "
                  "in all (the limit of one Containerfile)");
}

static void test_total_expansion_work_under(void **state) {
    fixture_t *f = *state;
    add_big_env(f, 100);
    eval_ok(f);
}

static void test_blank_base_and_bad_platform(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "$NOPE");
    eval_fails(f, "Containerfile:1:1: base name ($NOPE) should not be blank");
}

static void test_bad_platform(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", "--platform=linux", "alpine");
    eval_fails(f, "Containerfile:1:1: failed to parse platform linux");
}

static void test_bad_mount_after_expansion(void **state) {
    fixture_t *f = *state;
    tb_add(&f->t, "from", NULL, "scratch");
    tb_add(&f->t, "env", NULL, "M\n999\n=");
    tb_add(&f->t, "run", "--mount=type=cache,target=/c,mode=$M", "true");
    eval_fails(f, "Containerfile:3:1: --mount=type=cache,target=/c,mode=$M: invalid value 999 for mode");
}

static void test_unknown_target(void **state) {
    fixture_t *f = *state;
    f->opts.target = "nope";
    tb_add(&f->t, "from", NULL, "scratch\nAS\nonly");
    eval_fails(f, "target stage \"nope\" could not be found");
}

static void test_platform_parse(void **state) {
    (void)state;
    static const struct {
        const char *in, *os, *arch, *variant;
    } cases[] = {
        {"linux/amd64", "linux", "amd64", ""},    {"Linux/x86_64", "linux", "amd64", ""},
        {"linux/arm", "linux", "arm", "v7"},      {"linux/arm/v6", "linux", "arm", "v6"},
        {"linux/arm64/v8", "linux", "arm64", ""}, {"linux/aarch64", "linux", "arm64", ""},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_autofree char *os = NULL, *arch = NULL, *variant = NULL;
        cb_autoerr cb_error_t *err = NULL;
        assert_int_equal(cb_platform_parse(cases[i].in, &os, &arch, &variant, &err), 0);
        assert_string_equal(os, cases[i].os);
        assert_string_equal(arch, cases[i].arch);
        assert_string_equal(variant, cases[i].variant);
    }
    const char *bad[] = {"linux", "linux//amd64", "a/b/c/d", ""};
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        char *os = NULL, *arch = NULL, *variant = NULL;
        cb_autoerr cb_error_t *err = NULL;
        assert_int_equal(cb_platform_parse(bad[i], &os, &arch, &variant, &err), -1);
    }
    char *host = cb_platform_host();
    assert_true(cb_str_has_prefix(host, "linux/"));
    free(host);
    assert_true(cb_is_proxy_arg("https_proxy"));
    assert_false(cb_is_proxy_arg("PROXY"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_global_arg_in_from),
        T(test_build_arg_overrides),
        T(test_global_arg_needs_redeclaration),
        T(test_env_shadows_arg),
        T(test_undefined_arg_is_empty),
        T(test_platform_args),
        T(test_env_pairs_see_old_values),
        T(test_stage_inherits_base_stage),
        T(test_image_env),
        T(test_run_args_proxy_and_mounts),
        T(test_copy_and_expose_expansion),
        T(test_copy_heredoc_bodies),
        T(test_target_prunes_evaluation),
        T(test_eval_errors_have_locations),
        T(test_env_doubling_is_bounded),
        T(test_arg_pairs_see_earlier_pairs),
        T(test_total_expansion_work_bounded),
        T(test_total_expansion_work_under),
        T(test_blank_base_and_bad_platform),
        T(test_bad_platform),
        T(test_bad_mount_after_expansion),
        T(test_unknown_target),
        cmocka_unit_test(test_platform_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
