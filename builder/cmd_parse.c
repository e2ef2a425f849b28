/* cbuild parse: the parser's view of a Containerfile (syntax tree dump,
 * instruction graph as JSON, or a short summary). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "builder/commands.h"
#include "builder/parse_json.h"
#include "common/error.h"
#include "common/util.h"
#include "parser/ast.h"
#include "parser/eval.h"
#include "parser/instructions.h"

static void usage(FILE *out) {
    fprintf(out,
            "Usage: cbuild parse [-f FILE] [--dump | --json] [--target STAGE] [--build-arg NAME[=VALUE]]...\n"
            "                    [--platform OS/ARCH[/VARIANT]] [CONTEXT]\n"
            "\n"
            "Parses a Containerfile and prints what cbuild would build, without building it.\n"
            "\n"
            "  -f, --file FILE        the Containerfile (default: CONTEXT/Containerfile, else\n"
            "                         CONTEXT/Dockerfile)\n"
            "      --dump             print the syntax tree, one S-expression per instruction\n"
            "      --json             print the instruction graph as JSON: stages, dependencies,\n"
            "                         target, and each instruction expanded with its build args\n"
            "      --target STAGE     keep only the stages STAGE needs (default: the last stage)\n"
            "      --build-arg N=V    set a build argument (N alone: take it from the environment)\n"
            "      --platform P       the target platform (default: this host's)\n"
            "  -h, --help             show this help\n"
            "\n"
            "CONTEXT defaults to \".\". Errors print FILE:LINE:COL: message and exit with status 2.\n");
}

/* buildah's choice: -f as given, else Containerfile, else Dockerfile in CONTEXT. */
static int find_containerfile(const char *context, const char *file, char **out, cb_error_t **err) {
    struct stat st;
    if (file) {
        *out = cb_xstrdup(file);
        return 0;
    }
    if (stat(context, &st) < 0)
        return cb_error_set(err, errno, "build context %s", context);
    if (!S_ISDIR(st.st_mode))
        return cb_error_set(err, 0, "build context %s is not a directory", context);
    static const char *const names[] = {"Containerfile", "Dockerfile"};
    for (size_t i = 0; i < CB_ARRAY_LEN(names); i++) {
        char *p = cb_xasprintf("%s/%s", context, names[i]);
        if (stat(p, &st) == 0) {
            *out = p;
            return 0;
        }
        free(p);
    }
    return cb_error_set(err, 0, "no Containerfile or Dockerfile in %s (use -f FILE)", context);
}

/* Checked here as well as in the parser so the message is the same whoever
 * reads the file; each names the file first, as compilers do. */
static int check_file(const char *path, cb_error_t **err) {
    struct stat st;
    if (stat(path, &st) < 0) {
        cb_error_set(err, errno, "cannot read the Containerfile");
        return cb_error_locate(err, path, 0, 0);
    }
    if (S_ISDIR(st.st_mode)) {
        cb_error_set(err, 0, "is a directory, not a Containerfile");
        return cb_error_locate(err, path, 0, 0);
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        cb_error_set(err, 0, "the Containerfile is empty: no instructions to parse");
        return cb_error_locate(err, path, 1, 0);
    }
    return 0;
}

static void print_summary(const cb_program_t *prog, const cb_eval_t *ev) {
    const cb_graph_t *g = ev->graph;
    size_t total = prog->nmeta + prog->nstages;
    for (size_t s = 0; s < prog->nstages; s++)
        total += prog->stages[s].ninstrs;
    printf("%s: %zu stage%s, %zu instruction%s, %zu global ARG%s\n", prog->ast->file, prog->nstages,
           prog->nstages == 1 ? "" : "s", total, total == 1 ? "" : "s", prog->nmeta, prog->nmeta == 1 ? "" : "s");
    for (size_t s = 0; s < prog->nstages; s++) {
        const cb_stage_t *st = &prog->stages[s];
        const cb_graph_stage_t *gs = &g->stages[s];
        printf("  stage %zu%s%s%s: FROM %s%s%s, %zu instruction%s", s, st->from->name ? " \"" : "",
               st->from->name ? st->from->name : "", st->from->name ? "\"" : "", st->from->image,
               st->from->platform ? " --platform=" : "", st->from->platform ? st->from->platform : "",
               st->ninstrs, st->ninstrs == 1 ? "" : "s");
        if (gs->ndeps) {
            printf(", needs");
            for (size_t d = 0; d < gs->ndeps; d++)
                printf("%s %zu", d ? "," : "", gs->deps[d].stage);
        }
        printf("%s%s\n", s == g->target ? " (target)" : "", gs->kept ? "" : " (skipped)");
    }
}

static void print_warnings(const cb_strv_t *w) {
    for (size_t i = 0; i < w->len; i++)
        fprintf(stderr, "warning: %s\n", w->items[i]);
}

static int run(const char *path, bool dump, bool json, const cb_eval_opts_t *opts, cb_error_t **err) {
    cb_ast_t *ast = NULL;
    cb_program_t *prog = NULL;
    cb_eval_t *ev = NULL;
    int r = -1;
    if (check_file(path, err) < 0 || cb_parse_file(path, &ast, err) < 0)
        goto out;
    print_warnings(&ast->warnings);
    if (dump) {
        cb_autofree char *s = cb_ast_dump(ast);
        fputs(s, stdout);
        r = 0;
        goto out;
    }
    if (cb_program_from_ast(ast, &prog, err) < 0 || cb_eval_program(prog, opts, &ev, err) < 0)
        goto out;
    print_warnings(&ev->warnings);
    if (json) {
        json_t *j = cb_program_to_json(prog, ev);
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        json_decref(j);
        if (s == NULL) {
            cb_error_kind_set(err, CB_ERR_LIBRARY, "jansson could not encode the instruction graph");
            goto out;
        }
        puts(s);
        free(s);
    } else {
        print_summary(prog, ev);
    }
    r = 0;
out:
    cb_eval_free(ev);
    cb_program_free(prog);
    cb_ast_free(ast);
    return r;
}

int cb_cmd_parse(int argc, char **argv) {
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'},      {"dump", no_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},            {"target", required_argument, NULL, 't'},
        {"build-arg", required_argument, NULL, 'b'}, {"platform", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *target = NULL, *platform = NULL;
    bool dump = false, json = false;
    cb_autostrv cb_strv_t build_args = CB_STRV_INIT;
    optind = 0; /* reset: main may have used getopt */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'd':
            dump = true;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            target = optarg;
            break;
        case 'p':
            platform = optarg;
            break;
        case 'b':
            if (strchr(optarg, '=')) {
                cb_strv_push(&build_args, optarg);
            } else if (getenv(optarg)) { /* docker: --build-arg NAME takes $NAME */
                cb_strv_take(&build_args, cb_xasprintf("%s=%s", optarg, getenv(optarg)));
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "cbuild parse: unknown option or missing value: %s\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (dump && json) {
        fprintf(stderr, "cbuild parse: --dump and --json cannot be used together\n");
        return 2;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "cbuild parse: expected at most one CONTEXT, got %d arguments\n", argc - optind);
        usage(stderr);
        return 2;
    }
    const char *context = optind < argc ? argv[optind] : ".";

    cb_autoerr cb_error_t *err = NULL;
    cb_autofree char *path = NULL;
    cb_eval_opts_t opts = {.build_args = &build_args, .target = target, .target_platform = platform};
    if (find_containerfile(context, file, &path, &err) < 0 || run(path, dump, json, &opts, &err) < 0) {
        cb_error_print(err, stderr);
        return 2; /* every failure of parse is about its input */
    }
    return 0;
}
