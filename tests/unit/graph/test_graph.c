/* Flags, --mount specs, typed instructions and the stage graph. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast_builder.h"
#include "parser/graph.h"
#include "parser/instructions.h"
#include "parser/mount.h"

/* The error as the CLI prints it. */
static char *errstr(const cb_error_t *e) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cb_error_print(e, f);
    fclose(f);
    return buf;
}

#define assert_error_contains(e, needle)                         \
    do {                                                         \
        char *_s = errstr(e);                                    \
        if (strstr(_s, needle) == NULL)                          \
            fail_msg("error \"%s\" lacks \"%s\"", _s, needle);  \
        free(_s);                                                \
    } while (0)

/* ---- flags ---------------------------------------------------------------- */

static const cb_flag_def_t defs[] = {{"link", CB_FLAG_BOOL}, {"from", CB_FLAG_STRING}, {"exclude", CB_FLAG_LIST}};

static int parse_flags(const char *flags, cb_flag_val_t vals[3], cb_error_t **err) {
    cb_autostrv cb_strv_t v = CB_STRV_INIT;
    tb_split(&v, flags);
    memset(vals, 0, 3 * sizeof *vals);
    return cb_flags_parse(&v, defs, 3, vals, err);
}

static void test_flags_ok(void **state) {
    (void)state;
    cb_flag_val_t vals[3];
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(parse_flags("--link\n--from=build\n--exclude=*.md\n--exclude=a b\n--", vals, &err), 0);
    assert_true(vals[0].set && vals[0].b);
    assert_string_equal(vals[1].str, "build");
    assert_int_equal(vals[2].list.len, 2);
    assert_string_equal(vals[2].list.items[1], "a b");
    cb_flag_vals_clear(vals, 3);

    assert_int_equal(parse_flags("--link=FALSE\n--from=", vals, &err), 0);
    assert_true(vals[0].set);
    assert_false(vals[0].b);
    assert_string_equal(vals[1].str, ""); /* an empty value is still a value */
    cb_flag_vals_clear(vals, 3);
}

static void test_flags_errors(void **state) {
    (void)state;
    static const struct {
        const char *flags, *msg;
    } cases[] = {
        {"--nope=1", "unknown flag: --nope"},
        {"--from", "missing a value on flag: --from"},
        {"--from=a\n--from=b", "duplicate flag specified: --from"},
        {"--link\n--link", "duplicate flag specified: --link"},
        {"--link=yes", "expecting boolean value for flag --link, not: yes"},
        {"--exclude", "missing a value on flag: --exclude"},
        {"-x", "flag should start with --"},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_flag_val_t vals[3];
        cb_autoerr cb_error_t *err = NULL;
        assert_int_equal(parse_flags(cases[i].flags, vals, &err), -1);
        assert_error_contains(err, cases[i].msg);
        cb_flag_vals_clear(vals, 3);
    }
}

static void test_duration(void **state) {
    (void)state;
    int64_t ns;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_parse_duration("1m30s", &ns, &err), 0);
    assert_int_equal(ns, 90000000000LL);
    assert_int_equal(cb_parse_duration("500ms", &ns, &err), 0);
    assert_int_equal(ns, 500000000LL);
    assert_int_equal(cb_parse_duration("1.5h", &ns, &err), 0);
    assert_int_equal(ns, 5400000000000LL);
    assert_int_equal(cb_parse_duration("0", &ns, &err), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(cb_parse_duration("10", &ns, &err), -1);
    cb_error_freep(&err);
    assert_int_equal(cb_parse_duration("5x", &ns, &err), -1);
    cb_error_freep(&err);
    assert_int_equal(cb_parse_duration("", &ns, &err), -1);
}

/* ---- mounts --------------------------------------------------------------- */

static cb_mount_t mount_ok(const char *spec) {
    cb_mount_t m;
    cb_autoerr cb_error_t *err = NULL;
    if (cb_mount_parse(spec, NULL, NULL, &m, &err) < 0) {
        char *s = errstr(err);
        fail_msg("%s: %s", spec, s);
    }
    return m;
}

static void test_mount_defaults(void **state) {
    (void)state;
    cb_mount_t m = mount_ok("target=/src");
    assert_int_equal(m.type, CB_MOUNT_BIND);
    assert_true(m.readonly); /* bind mounts are read-only unless rw */
    assert_null(m.from);
    cb_mount_clear(&m);

    m = mount_ok("type=bind,source=/x,target=/src,from=build,rw");
    assert_false(m.readonly);
    assert_string_equal(m.source, "/x");
    assert_string_equal(m.from, "build");
    cb_mount_clear(&m);

    m = mount_ok("type=cache,target=/root/.cache,uid=1000,gid=100,mode=0755,sharing=LOCKED");
    assert_int_equal(m.type, CB_MOUNT_CACHE);
    assert_false(m.readonly);
    assert_string_equal(m.id, "/root/.cache"); /* the id defaults to the target */
    assert_int_equal(m.sharing, CB_SHARING_LOCKED);
    assert_int_equal(m.uid, 1000);
    assert_int_equal(m.gid, 100);
    assert_int_equal(m.mode, 0755);
    cb_mount_clear(&m);

    m = mount_ok("type=cache,dst=/c,ro");
    assert_true(m.readonly);
    assert_int_equal(m.sharing, CB_SHARING_SHARED);
    cb_mount_clear(&m);

    m = mount_ok("type=tmpfs,destination=/tmp,size=64m");
    assert_int_equal(m.size, 64LL * 1024 * 1024);
    assert_false(m.readonly);
    cb_mount_clear(&m);

    m = mount_ok("type=secret,id=npmrc");
    assert_string_equal(m.target, "/run/secrets/npmrc");
    assert_true(m.readonly);
    assert_false(m.required);
    cb_mount_clear(&m);

    m = mount_ok("type=secret,target=/root/.aws/credentials,required");
    assert_string_equal(m.id, "credentials");
    assert_true(m.required);
    cb_mount_clear(&m);

    m = mount_ok("type=secret,id=tok,env=TOKEN,required=false");
    assert_string_equal(m.env, "TOKEN");
    assert_null(m.target);
    cb_mount_clear(&m);

    m = mount_ok("required=true,type=ssh"); /* type decides, wherever it is */
    assert_string_equal(m.id, "default");
    assert_true(m.required);
    cb_mount_clear(&m);

    m = mount_ok("\"target=/a,b\",type=bind"); /* CSV quoting */
    assert_string_equal(m.target, "/a,b");
    cb_mount_clear(&m);
}

static void test_mount_errors(void **state) {
    (void)state;
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"type=nfs,target=/x", "unsupported mount type \"nfs\""},
        {"target=/x,colour=red", "unexpected key 'colour'"},
        {"target=/x,sharing=private", "invalid cache sharing set for bind mount"},
        {"type=cache,target=/x,sharing=sometimes", "unsupported sharing value"},
        {"target=/x,mode=0755", "mode not allowed for \"bind\" type mounts"},
        {"type=cache,target=/x,mode=999", "invalid value 999 for mode"},
        {"type=cache,target=/x,uid=-1", "invalid value -1 for uid"},
        {"type=cache,target=/x,required", "unexpected key 'required' for mount type 'cache'"},
        {"target=/x,source", "invalid field 'source' must be a key=value pair"},
        {"target=/x,ro=maybe", "invalid value for ro: maybe"},
        {"type=tmpfs,target=/t,size=lots", "invalid value for size: lots"},
        {"type=bind", "needs a target"},
        {"type=secret", "one of source, target required"},
        {"type=secret,id=a,source=b", "both source and id can't be set"},
        {"type=tmpfs,target=/t,from=x", "should not have a from"},
        {"\"target=/x", "unterminated quote"},
        {"target=/x\"", "bare \" in unquoted field"},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        cb_mount_t m;
        cb_autoerr cb_error_t *err = NULL;
        if (cb_mount_parse(cases[i].spec, NULL, NULL, &m, &err) == 0)
            fail_msg("%s parsed", cases[i].spec);
        assert_error_contains(err, cases[i].msg);
        assert_null(m.target); /* cleared on failure */
    }
}

static int upper_expand(void *ctx, const char *word, char **out, cb_error_t **err) {
    (void)err;
    (*(int *)ctx)++;
    *out = strcmp(word, "$T") == 0 ? cb_xstrdup("/expanded") : cb_xstrdup(word);
    return 0;
}

static void test_mount_expand_and_check(void **state) {
    (void)state;
    int calls = 0;
    cb_mount_t m;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_mount_parse("type=cache,target=$T,from=base", upper_expand, &calls, &m, &err), 0);
    assert_string_equal(m.target, "/expanded");
    assert_string_equal(m.from, "base");
    assert_int_equal(calls, 2); /* type and target; from= is never expanded */
    cb_mount_clear(&m);

    assert_int_equal(cb_mount_check("type=cache,target=$T,mode=$M", &err), 0);
    assert_int_equal(cb_mount_check("from=$STAGE,target=/x", &err), -1);
    assert_error_contains(err, "'from' doesn't support variable expansion");
    cb_error_freep(&err);
    assert_int_equal(cb_mount_check("type=floppy", &err), -1);
    cb_error_freep(&err);

    char *v = cb_mount_spec_value("type=bind,FROM=build,target=/x", "from");
    assert_string_equal(v, "build");
    free(v);
    assert_null(cb_mount_spec_value("target=/x", "from"));
}

/* ---- instructions ----------------------------------------------------------- */

static cb_program_t *program_ok(tb_ast_t *t) {
    cb_program_t *p = NULL;
    cb_autoerr cb_error_t *err = NULL;
    if (cb_program_from_ast(&t->ast, &p, &err) < 0) {
        char *s = errstr(err);
        fail_msg("program: %s", s);
    }
    return p;
}

static void program_fails(tb_ast_t *t, const char *msg) {
    cb_program_t *p = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_program_from_ast(&t->ast, &p, &err), -1);
    assert_null(p);
    assert_error_contains(err, msg);
    assert_int_equal(cb_error_exit_code(err), 2);
}

static void test_instructions_typed(void **state) {
    (void)state;
    tb_ast_t t;
    tb_init(&t);
    tb_add(&t, "arg", NULL, "VERSION=1.0\nFLAVOUR");
    tb_add(&t, "from", "--platform=$BUILDPLATFORM", "golang:${VERSION}\nAS\nBuild-Env");
    tb_add(&t, "copy", "--from=base\n--chown=1:1\n--chmod=0644\n--link\n--parents\n--exclude=*.tmp", "a\nb\n/dst/");
    tb_add(&t, "add", "--checksum=sha256:abc\n--keep-git-dir=true\n--unpack=false", "https://x/y.tar\n/y");
    tb_add(&t, "run", "--mount=type=cache,target=/c\n--network=none\n--security=insecure", "make all");
    tb_add(&t, "env", NULL, "A\n1\n=\nB\nx y\n");
    tb_add(&t, "healthcheck", "--interval=30s\n--retries=3", "CMD\ncurl -f http://localhost/");
    tb_add(&t, "expose", NULL, "80\n443/tcp");
    tb_add(&t, "workdir", NULL, "/app");
    cb_node_t *ob = tb_add(&t, "onbuild", NULL, "");
    ob->child = tb_node("run", 10, NULL, "echo hi", false);
    free(ob->original);
    ob->original = cb_xstrdup("ONBUILD RUN echo hi");
    cb_node_t *sh = tb_add(&t, "shell", NULL, "/bin/bash\n-c");
    sh->json = true;

    cb_program_t *p = program_ok(&t);
    assert_int_equal(p->nmeta, 1);
    assert_int_equal(p->meta_args[0]->nargs, 2);
    assert_string_equal(p->meta_args[0]->args[0].key, "VERSION");
    assert_string_equal(p->meta_args[0]->args[0].value, "1.0");
    assert_null(p->meta_args[0]->args[1].value);
    assert_int_equal(p->nstages, 1);
    cb_stage_t *st = &p->stages[0];
    assert_string_equal(st->from->name, "build-env"); /* stage names are case-insensitive */
    assert_string_equal(st->from->platform, "$BUILDPLATFORM");
    assert_string_equal(st->from->image, "golang:${VERSION}");
    assert_int_equal(st->ninstrs, 9);

    cb_instr_copy_t *c = (cb_instr_copy_t *)st->instrs[0];
    assert_int_equal(c->base.kind, CB_INSTR_COPY);
    assert_int_equal(c->sources.len, 2);
    assert_string_equal(c->dest, "/dst/");
    assert_string_equal(c->from, "base");
    assert_string_equal(c->chown, "1:1");
    assert_string_equal(c->chmod, "0644");
    assert_true(c->link && c->parents);
    assert_string_equal(c->excludes.items[0], "*.tmp");
    assert_int_equal(c->unpack, -1);

    cb_instr_copy_t *a = (cb_instr_copy_t *)st->instrs[1];
    assert_int_equal(a->base.kind, CB_INSTR_ADD);
    assert_string_equal(a->checksum, "sha256:abc");
    assert_true(a->keep_git_dir);
    assert_int_equal(a->unpack, 0);

    cb_instr_run_t *r = (cb_instr_run_t *)st->instrs[2];
    assert_int_equal(r->nmounts, 1);
    assert_int_equal(r->mounts[0].type, CB_MOUNT_CACHE);
    assert_string_equal(r->network, "none");
    assert_string_equal(r->security, "insecure");
    assert_true(r->shell_form);
    assert_string_equal(r->cmd.items[0], "make all");

    cb_instr_kvs_t *e = (cb_instr_kvs_t *)st->instrs[3];
    assert_int_equal(e->npairs, 2);
    assert_false(e->pairs[0].legacy);
    assert_true(e->pairs[1].legacy);
    assert_string_equal(e->pairs[1].value, "x y");

    cb_instr_healthcheck_t *h = (cb_instr_healthcheck_t *)st->instrs[4];
    assert_int_equal(h->interval_ns, 30000000000LL);
    assert_int_equal(h->retries, 3);
    assert_string_equal(h->test.items[0], "CMD-SHELL");

    assert_int_equal(((cb_instr_words_t *)st->instrs[5])->words.len, 2);
    assert_string_equal(((cb_instr_value_t *)st->instrs[6])->value, "/app");
    cb_instr_onbuild_t *o = (cb_instr_onbuild_t *)st->instrs[7];
    assert_int_equal(o->trigger->kind, CB_INSTR_RUN);
    assert_string_equal(o->expression, "RUN echo hi");
    cb_instr_exec_t *s = (cb_instr_exec_t *)st->instrs[8];
    assert_int_equal(s->base.kind, CB_INSTR_SHELL);
    assert_false(s->shell_form);
    assert_string_equal(cb_instr_kind_name(st->instrs[8]->kind), "SHELL");
    cb_program_free(p);
    tb_free(&t);
}

/* One FROM scratch, then the instruction under test on line 2. */
static void one_fails(const char *kw, const char *flags, const char *args, const char *msg) {
    tb_ast_t t;
    tb_init(&t);
    tb_add(&t, "from", NULL, "scratch");
    tb_add(&t, kw, flags, args);
    program_fails(&t, msg);
    tb_free(&t);
}

static void test_instruction_errors(void **state) {
    (void)state;
    one_fails("copy", "--user=me", "a\nb", "Containerfile:2:1: unknown flag: --user");
    one_fails("copy", "--chown", "a\nb", "Containerfile:2:1: missing a value on flag: --chown");
    one_fails("copy", NULL, "onlyone", "Containerfile:2:1: COPY requires at least two arguments");
    one_fails("copy", "--from=$STAGE", "a\nb", "variable expansion is not supported for --from");
    one_fails("add", "--from=x", "a\nb", "unknown flag: --from");
    one_fails("add", "--parents", "a\nb", "unknown flag: --parents");
    one_fails("run", "--mount=type=nfs,target=/x", "true", "unsupported mount type \"nfs\"");
    one_fails("run", "--mount=type=cache,target=/x,mode=9", "true", "invalid value 9 for mode");
    one_fails("run", "--network=bridge", "true", "unsupported network mode \"bridge\"");
    one_fails("run", "--security=root", "true", "unsupported security mode");
    one_fails("cmd", "--doit", "a", "CMD does not take flags");
    one_fails("shell", NULL, "/bin/sh -c", "SHELL requires the arguments to be in JSON form");
    one_fails("healthcheck", "--interval=10", "CMD\ntrue", "time: invalid duration \"10\"");
    one_fails("healthcheck", "--interval=10us", "CMD\ntrue", "cannot be less than 1ms");
    one_fails("healthcheck", "--retries=-1", "CMD\ntrue", "--retries cannot be negative");
    one_fails("healthcheck", NULL, "PING\nx", "unknown type \"PING\" in HEALTHCHECK");
    one_fails("healthcheck", NULL, "NONE\nx", "HEALTHCHECK NONE takes no arguments");
    one_fails("workdir", NULL, "", "WORKDIR requires exactly one argument");
    one_fails("frobnicate", NULL, "x", "unknown instruction: frobnicate");
    one_fails("arg", NULL, "=x", "ARG names can not be blank");
    one_fails("from", NULL, "a\nAS", "FROM requires either one or three arguments");
    one_fails("from", NULL, "a\nIS\nb", "second argument should be AS");
    one_fails("from", NULL, "a\nAS\n1st", "invalid name for build stage: \"1st\"");
    one_fails("from", NULL, "a\nAS\nmy/stage", "invalid name for build stage");

    tb_ast_t t;
    tb_init(&t);
    tb_add(&t, "from", NULL, "scratch");
    cb_node_t *ob = tb_add(&t, "onbuild", NULL, "");
    ob->child = tb_node("onbuild", 2, NULL, "run x", false);
    program_fails(&t, "Chaining ONBUILD");
    tb_free(&t);

    tb_init(&t);
    tb_add(&t, "arg", NULL, "A");
    tb_add(&t, "run", NULL, "true");
    program_fails(&t, "Containerfile:2:1: RUN before the first FROM");
    tb_free(&t);

    tb_init(&t);
    tb_add(&t, "arg", NULL, "A");
    program_fails(&t, "no FROM instruction");
    tb_free(&t);
}

/* ---- graph ------------------------------------------------------------------ */

static cb_graph_t *graph_ok(tb_ast_t *t, const char *target, cb_program_t **prog) {
    *prog = program_ok(t);
    cb_graph_t *g = NULL;
    cb_autoerr cb_error_t *err = NULL;
    if (cb_graph_build(*prog, target, &g, &err) < 0) {
        char *s = errstr(err);
        fail_msg("graph: %s", s);
    }
    return g;
}

static void graph_fails(tb_ast_t *t, const char *target, const char *msg) {
    cb_program_t *prog = program_ok(t);
    cb_graph_t *g = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_graph_build(prog, target, &g, &err), -1);
    assert_null(g);
    assert_error_contains(err, msg);
    assert_int_equal(cb_error_exit_code(err), 2);
    cb_program_free(prog);
}

static bool has_dep(const cb_graph_t *g, size_t s, size_t on) {
    for (size_t i = 0; i < g->stages[s].ndeps; i++)
        if (g->stages[s].deps[i].stage == on)
            return true;
    return false;
}

static void test_graph_edges(void **state) {
    (void)state;
    tb_ast_t t;
    tb_init(&t);
    tb_add(&t, "from", NULL, "alpine\nAS\nbase");                 /* 0 */
    tb_add(&t, "from", NULL, "BASE\nAS\nbuild");                  /* 1: FROM stage, any case */
    tb_add(&t, "copy", "--from=0", "/etc/os-release\n/");
    tb_add(&t, "from", NULL, "scratch\nAS\nassets");              /* 2 */
    tb_add(&t, "from", NULL, "debian");                           /* 3: unnamed */
    tb_add(&t, "run", "--mount=type=bind,from=Assets,target=/a", "ls /a");
    tb_add(&t, "copy", "--from=nginx:latest", "/etc/nginx\n/n"); /* an image: no edge */
    tb_add(&t, "from", NULL, "base\nAS\nfinal");                  /* 4 */
    tb_add(&t, "copy", "--from=build", "/x\n/x");
    tb_add(&t, "copy", "--from=3", "/y\n/y");

    cb_program_t *p;
    cb_graph_t *g = graph_ok(&t, NULL, &p);
    assert_int_equal(g->nstages, 5);
    assert_int_equal(g->stages[0].base, -1);
    assert_int_equal(g->stages[1].base, 0);
    assert_true(has_dep(g, 1, 0));
    assert_int_equal(g->stages[1].ndeps, 1); /* FROM and COPY --from=0: one edge */
    assert_int_equal(g->stages[3].ndeps, 1);
    assert_true(has_dep(g, 3, 2));
    assert_int_equal(g->stages[3].deps[0].via->kind, CB_INSTR_RUN);
    assert_true(has_dep(g, 4, 0) && has_dep(g, 4, 1) && has_dep(g, 4, 3));
    assert_int_equal(g->target, 4); /* default: the last stage */
    assert_int_equal(g->norder, 5);
    for (size_t i = 0; i < 5; i++)
        assert_true(g->stages[i].kept);
    cb_graph_free(g);
    cb_program_free(p);

    g = graph_ok(&t, "BUILD", &p);
    assert_int_equal(g->target, 1);
    assert_int_equal(g->norder, 2);
    assert_int_equal(g->order[0], 0);
    assert_int_equal(g->order[1], 1);
    assert_false(g->stages[2].kept);
    assert_false(g->stages[3].kept);
    cb_graph_free(g);
    cb_program_free(p);

    g = graph_ok(&t, "assets", &p);
    assert_int_equal(g->norder, 1);
    assert_int_equal(g->order[0], 2);
    cb_graph_free(g);
    cb_program_free(p);

    size_t idx;
    p = program_ok(&t);
    assert_true(cb_graph_find_stage(p, "Final", false, &idx));
    assert_int_equal(idx, 4);
    assert_true(cb_graph_find_stage(p, "2", true, &idx));
    assert_int_equal(idx, 2);
    assert_false(cb_graph_find_stage(p, "2", false, &idx));
    assert_false(cb_graph_find_stage(p, "9", true, &idx));
    cb_program_free(p);
    tb_free(&t);
}

static void test_graph_errors(void **state) {
    (void)state;
    tb_ast_t t;
    tb_init(&t);
    tb_add(&t, "from", NULL, "alpine\nAS\nbuild");
    tb_add(&t, "from", NULL, "alpine\nAS\nBuild");
    graph_fails(&t, NULL, "Containerfile:2:1: duplicate stage name \"build\" (first defined on line 1)");
    tb_free(&t);

    tb_init(&t);
    tb_add(&t, "from", NULL, "alpine\nAS\nloop");
    tb_add(&t, "copy", "--from=loop", "/a\n/b");
    graph_fails(&t, NULL, "Containerfile:2:1: circular dependency detected on stage: loop");
    tb_free(&t);

    tb_init(&t);
    tb_add(&t, "from", NULL, "alpine\nAS\na");
    tb_add(&t, "copy", "--from=b", "/x\n/x");
    tb_add(&t, "from", NULL, "alpine\nAS\nb");
    tb_add(&t, "run", "--mount=from=a,target=/m", "true");
    graph_fails(&t, NULL, "circular dependency detected on stage");
    tb_free(&t);

    tb_init(&t);
    tb_add(&t, "from", NULL, "alpine\nAS\na");
    tb_add(&t, "copy", "--from=1", "/x\n/x");
    tb_add(&t, "from", NULL, "alpine\nAS\nb");
    graph_fails(&t, NULL, "Containerfile:2:1: cannot copy from stage \"b\", it needs to be defined before current stage \"a\"");
    tb_free(&t);

    tb_init(&t);
    tb_add(&t, "from", NULL, "alpine");
    tb_add(&t, "copy", "--from=7", "/x\n/x");
    graph_fails(&t, NULL, "Containerfile:2:1: invalid stage index 7");
    tb_free(&t);

    tb_init(&t);
    tb_add(&t, "from", NULL, "alpine\nAS\nbuild");
    tb_add(&t, "from", NULL, "alpine\nAS\ntest");
    graph_fails(&t, "release", "Containerfile: target stage \"release\" could not be found (named stages: build, test)");
    tb_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_ok),
        cmocka_unit_test(test_flags_errors),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_mount_defaults),
        cmocka_unit_test(test_mount_errors),
        cmocka_unit_test(test_mount_expand_and_check),
        cmocka_unit_test(test_instructions_typed),
        cmocka_unit_test(test_instruction_errors),
        cmocka_unit_test(test_graph_edges),
        cmocka_unit_test(test_graph_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
