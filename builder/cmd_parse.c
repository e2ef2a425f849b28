/* cbuild parse: the parser's view of a Containerfile (syntax tree dump,
 * instruction graph as JSON, or a short summary). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "builder/cli.h"
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
    if (cb_cli_check_containerfile(path, err) < 0 || cb_parse_file(path, &ast, err) < 0)
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
            cb_cli_bad_option("parse", longopts, argv, optind);
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
    if (cb_cli_find_containerfile(context, file, &path, &err) < 0 || run(path, dump, json, &opts, &err) < 0) {
        cb_error_print(err, stderr);
        return 2; /* every failure of parse is about its input */
    }
    return 0;
}
