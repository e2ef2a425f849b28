/* cbuild graph: the stages and instructions of a Containerfile as a
 * Graphviz graph. A cluster per stage with its instructions in order;
 * base images as cylinders; an edge per dependency (FROM a stage, COPY
 * --from, RUN --mount from=), drawn from the stage's last instruction to
 * the instruction that needs it. Stages the target does not need are grey
 * and dashed. After a build of the same Containerfile, its cached kinds of
 * steps are filled: green for a cache hit, blue for a step that ran
 * (builder/last_build.h). SVG is Graphviz's `dot -Tsvg` of the same text. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "builder/last_build.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "parser/ast.h"
#include "parser/eval.h"

#define LABEL_MAX 60

enum { OPT_TARGET = 1000, OPT_FORMAT, OPT_BUILD_ARG, OPT_ROOT };

static const struct option graph_opts[] = {
    {"file", required_argument, NULL, 'f'},
    {"target", required_argument, NULL, OPT_TARGET},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
    {"root", required_argument, NULL, OPT_ROOT},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: cbuild graph [-f FILE] [--target STAGE] [--format dot|svg] [--build-arg K=V]...\n"
    "                    [--root DIR] [-o FILE] [CONTEXT]\n"
    "\n"
    "Draw the stage and instruction graph of a Containerfile: one box per stage with its\n"
    "instructions, base images, and an edge for each FROM/COPY --from/RUN --mount from=\n"
    "another stage. Stages the target does not need are grey. After a build of the same\n"
    "Containerfile, steps that were cache hits are green and steps that ran are blue.\n"
    "\n"
    "  -f, --file FILE         the Containerfile (default: CONTEXT/Containerfile, else Dockerfile)\n"
    "      --target STAGE      the stage to build (default: the last)\n"
    "      --format dot|svg    Graphviz DOT (default) or SVG (needs Graphviz's dot)\n"
    "      --build-arg K=V     a build argument, for FROM lines that use one\n"
    "      --root DIR          the root whose last build is shown\n"
    "  -o, --output FILE       write to FILE instead of standard output\n"
    "  -h, --help              this help\n";

/* A DOT string body: quotes and backslashes escaped, newlines as \l-free
 * spaces, long text shortened. */
static void dot_text(cb_buf_t *out, const char *s) {
    size_t n = 0;
    for (const char *p = s; *p && n < LABEL_MAX; p++, n++) {
        if (*p == '"' || *p == '\\')
            cb_buf_putc(out, '\\');
        cb_buf_putc(out, *p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p);
    }
    if (strlen(s) > LABEL_MAX)
        cb_buf_puts(out, "...");
}

/* The outcome the last build recorded for an instruction: 1 hit, 0 ran, -1 none. */
static int outcome(json_t *last, size_t stage, const cb_instr_t *ins) {
    if (last == NULL)
        return -1;
    char d[CB_DIGEST_STR_LEN + 1];
    cb_last_build_text_digest(ins, d);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(last, "steps"), i, s) {
        if ((size_t)json_integer_value(json_object_get(s, "stage")) == stage &&
            json_integer_value(json_object_get(s, "line")) == ins->node->start_line &&
            strcmp(json_string_value(json_object_get(s, "text")) ?: "", d) == 0)
            return json_is_true(json_object_get(s, "cached")) ? 1 : 0;
    }
    return -1;
}

/* The node an edge into a stage's instruction ends at: "sS_I" (0 = FROM). */
static size_t instr_slot(const cb_stage_t *st, const cb_instr_t *via) {
    for (size_t i = 0; i < st->ninstrs; i++)
        if (st->instrs[i] == via)
            return i + 1;
    return 0;
}

static void emit_dot(const cb_program_t *prog, const cb_eval_t *ev, json_t *last, cb_buf_t *o) {
    const cb_graph_t *g = ev->graph;
    cb_buf_puts(o, "digraph cbuild {\n"
                   "  rankdir=TB;\n"
                   "  compound=true;\n"
                   "  node [shape=box, style=rounded, fontname=\"monospace\", fontsize=10];\n"
                   "  edge [fontname=\"monospace\", fontsize=9];\n");
    for (size_t s = 0; s < prog->nstages; s++) {
        const cb_stage_t *st = &prog->stages[s];
        const cb_graph_stage_t *gs = &g->stages[s];
        cb_buf_printf(o, "  subgraph cluster_s%zu {\n    label=\"", s);
        cb_autofree char *title = st->from->name ? cb_xasprintf("stage %zu: %s", s, st->from->name)
                                                 : cb_xasprintf("stage %zu", s);
        dot_text(o, title);
        cb_buf_printf(o, "%s\";\n", s == g->target ? " (target)" : "");
        if (!gs->kept)
            cb_buf_puts(o, "    style=dashed; color=grey; fontcolor=grey;\n");
        else if (s == g->target)
            cb_buf_puts(o, "    style=bold;\n");
        for (size_t i = 0; i <= st->ninstrs; i++) {
            const cb_instr_t *ins = i == 0 ? &st->from->base : st->instrs[i - 1];
            cb_buf_printf(o, "    s%zu_%zu [label=\"", s, i);
            dot_text(o, ins->node->original ? ins->node->original : cb_instr_kind_name(ins->kind));
            int hit = gs->kept ? outcome(last, s, ins) : -1;
            if (hit == 1)
                cb_buf_puts(o, " (CACHED)\", style=\"rounded,filled\", fillcolor=\"#c8e6c9\"");
            else if (hit == 0)
                cb_buf_puts(o, "\", style=\"rounded,filled\", fillcolor=\"#bbdefb\"");
            else
                cb_buf_puts(o, "\"");
            if (!gs->kept)
                cb_buf_puts(o, ", color=grey, fontcolor=grey");
            cb_buf_puts(o, "];\n");
        }
        for (size_t i = 0; i < st->ninstrs; i++)
            cb_buf_printf(o, "    s%zu_%zu -> s%zu_%zu;\n", s, i, s, i + 1);
        cb_buf_puts(o, "  }\n");
        if (gs->base < 0) {
            cb_buf_printf(o, "  image_s%zu [shape=cylinder, style=\"\", label=\"", s);
            dot_text(o, st->from->image ? st->from->image : "?");
            cb_buf_printf(o, "\"];\n  image_s%zu -> s%zu_0;\n", s, s);
        }
        for (size_t d = 0; d < gs->ndeps; d++) {
            const cb_graph_edge_t *e = &gs->deps[d];
            const cb_stage_t *from = &prog->stages[e->stage];
            const char *kind = e->via == &st->from->base ? "FROM"
                               : e->via->kind == CB_INSTR_RUN ? "RUN --mount"
                                                              : "COPY --from";
            cb_buf_printf(o, "  s%zu_%zu -> s%zu_%zu [label=\"%s\", style=%s];\n", e->stage, from->ninstrs, s,
                          instr_slot(st, e->via), kind, strcmp(kind, "FROM") == 0 ? "bold" : "dashed");
        }
    }
    cb_buf_puts(o, "}\n");
}

/* dot(1) on PATH, or NULL. */
static char *find_dot(void) {
    const char *path = getenv("PATH");
    cb_autofree char *copy = cb_xstrdup(path && *path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *p = cb_xasprintf("%s/dot", *dir ? dir : ".");
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* Pipes the DOT text through `dot -Tsvg` into out_fd. */
static int to_svg(const cb_buf_t *dot, int out_fd, cb_error_t **err) {
    cb_autofree char *exe = find_dot();
    if (exe == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "--format svg needs Graphviz's dot on PATH (Debian package graphviz); "
                                 "--format dot prints the graph without it");
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return cb_error_set(err, errno, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(in[0]);
        close(in[1]);
        return cb_error_set(err, e, "fork");
    }
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        if (out_fd != STDOUT_FILENO)
            dup2(out_fd, STDOUT_FILENO);
        execl(exe, "dot", "-Tsvg", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    signal(SIGPIPE, SIG_IGN); /* a dot that exits early is its error, not our death; dot itself keeps the default */
    int werr = cb_write_all(in[1], cb_buf_str(dot), dot->len) < 0 ? errno : 0;
    close(in[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (werr && !(WIFEXITED(status) && WEXITSTATUS(status) != 0))
        return cb_error_set(err, werr, "write the graph to %s", exe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s -Tsvg failed (status %d)", exe,
                                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}

static int draw(const char *path, const cb_eval_opts_t *eo, const char *root_opt, bool svg, const char *output,
                cb_error_t **err) {
    cb_ast_t *ast = NULL;
    cb_program_t *prog = NULL;
    cb_eval_t *ev = NULL;
    json_t *last = NULL;
    cb_autobuf cb_buf_t dot = CB_BUF_INIT;
    /* Declared before the first goto: cleanup variables must not be jumped over. */
    cb_autofree char *root = NULL, *cache = NULL;
    cb_autoerr cb_error_t *why = NULL;
    int out_fd = STDOUT_FILENO, rc = -1;
    if (cb_cli_check_containerfile(path, err) < 0 || cb_parse_file(path, &ast, err) < 0 ||
        cb_program_from_ast(ast, &prog, err) < 0 || cb_eval_program(prog, eo, &ev, err) < 0)
        goto out;
    /* The last build is an extra: a root that cannot be read only loses the
     * colours, and a missing one is not created. */
    if (cb_root_resolve(root_opt, &root, &why) == 0)
        cache = cb_xasprintf("%s/cache", root);
    if (cache == NULL || cb_last_build_load(cache, path, &last, &why) < 0) {
        cb_autofree char *msg = cb_error_message(why);
        fprintf(stderr, "cbuild graph: warning: the last build's outcomes are not shown: %s\n", msg);
    }
    emit_dot(prog, ev, last, &dot);
    if (output) {
        out_fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd < 0) {
            cb_error_set(err, errno, "-o %s", output);
            goto out;
        }
    }
    if (svg) {
        rc = to_svg(&dot, out_fd, err);
    } else if (cb_write_all(out_fd, cb_buf_str(&dot), dot.len) < 0) {
        cb_error_set(err, errno, "write the graph");
    } else {
        rc = 0;
    }
    if (output && close(out_fd) < 0 && rc == 0)
        rc = cb_error_set(err, errno, "-o %s", output);
    if (output && rc < 0)
        unlink(output); /* nothing half-written */
out:
    json_decref(last);
    cb_eval_free(ev);
    cb_program_free(prog);
    cb_ast_free(ast);
    return rc;
}

int cb_cmd_graph(int argc, char **argv) {
    const char *file = NULL, *target = NULL, *root_opt = NULL, *output = NULL;
    bool svg = false;
    cb_autostrv cb_strv_t build_args = CB_STRV_INIT;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", graph_opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case OPT_TARGET:
            target = optarg;
            break;
        case OPT_ROOT:
            root_opt = optarg;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "svg") != 0 && strcmp(optarg, "dot") != 0) {
                fprintf(stderr, "cbuild graph: --format %s: expected dot or svg\n", optarg);
                return 2;
            }
            svg = strcmp(optarg, "svg") == 0;
            break;
        case OPT_BUILD_ARG:
            if (strchr(optarg, '='))
                cb_strv_push(&build_args, optarg);
            else if (getenv(optarg))
                cb_strv_take(&build_args, cb_xasprintf("%s=%s", optarg, getenv(optarg)));
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            cb_cli_bad_option("graph", graph_opts, argv, optind);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "cbuild graph: expected at most one CONTEXT, got %d arguments\n", argc - optind);
        return 2;
    }
    const char *context = optind < argc ? argv[optind] : ".";
    cb_autoerr cb_error_t *err = NULL;
    cb_autofree char *path = NULL;
    cb_eval_opts_t eo = {.build_args = &build_args, .target = target};
    if (cb_cli_find_containerfile(context, file, &path, &err) < 0 ||
        draw(path, &eo, root_opt, svg, output, &err) < 0)
        return cb_cli_fail(err);
    return 0;
}
