/* bench_parse: how fast the parser reads a large Containerfile and how its
 * memory grows with the file.
 *
 * For each size (default 20000, 40000 and 80000 lines) one child process
 * generates the file (gen_containerfile.c), parses it RUNS times with
 * cb_parse_buffer() and reports min and median wall time, the heap the
 * syntax tree holds (mallinfo2) and its own peak RSS (getrusage): a child per
 * measurement keeps each peak RSS its own. A second child times the whole
 * front end (parse, typed instructions, eval with ARG/ENV expansion and the
 * stage graph) FRONT_RUNS times and reports its peak RSS.
 *
 * A benchmark prints figures; it never fails on time. It exits non-zero only
 * when the front end rejects the generated file, which is a bug.
 *
 * usage: bench_parse [-n RUNS] [-o FILE] [LINES...]
 *   -o FILE  also write the first size's Containerfile to FILE (for hyperfine
 *            or `cbuild parse`)
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "parser/ast.h"
#include "parser/eval.h"
#include "parser/instructions.h"
#include "tests/bench/gen_containerfile.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int front_end(const cb_buf_t *text, cb_error_t **err) {
    cb_ast_t *ast = NULL;
    cb_program_t *prog = NULL;
    cb_eval_t *ev = NULL;
    cb_eval_opts_t opts = {.target_platform = "linux/amd64", .build_platform = "linux/amd64"};
    int rc = cb_parse_buffer("bench.Containerfile", text->data, text->len, &ast, err);
    if (rc >= 0)
        rc = cb_program_from_ast(ast, &prog, err);
    if (rc >= 0)
        rc = cb_eval_program(prog, &opts, &ev, err);
    cb_eval_free(ev);
    cb_program_free(prog);
    cb_ast_free(ast);
    return rc;
}

/* Parse-only figures for one size; runs in its own child so the peak RSS
 * is the parser's alone. */
static int bench_parse_only(const cb_buf_t *text, int runs, double *min, double *med,
                            size_t *heap, size_t *nodes) {
    cb_autofree double *t = cb_xcalloc(runs, sizeof *t);
    for (int i = 0; i < runs; i++) {
        cb_autoerr cb_error_t *err = NULL;
        cb_ast_t *ast = NULL;
        size_t heap_before = mallinfo2().uordblks;
        double t0 = now_ms();
        int rc = cb_parse_buffer("bench.Containerfile", text->data, text->len, &ast, &err);
        t[i] = now_ms() - t0;
        if (rc < 0) {
            cb_error_print(err, stderr);
            return -1;
        }
        *heap = mallinfo2().uordblks - heap_before;
        *nodes = ast->nnodes;
        cb_ast_free(ast);
    }
    *min = t[0];
    for (int i = 1; i < runs; i++)
        *min = t[i] < *min ? t[i] : *min;
    *med = median(t, runs);
    return 0;
}

static int bench_front_end(const cb_buf_t *text, int runs, double *med) {
    cb_autofree double *t = cb_xcalloc(runs, sizeof *t);
    for (int i = 0; i < runs; i++) {
        cb_autoerr cb_error_t *err = NULL;
        double t0 = now_ms();
        if (front_end(text, &err) < 0) {
            cb_error_print(err, stderr);
            return -1;
        }
        t[i] = now_ms() - t0;
    }
    *med = median(t, runs);
    return 0;
}

static long peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A result row travels from the child to the parent through a pipe. */
typedef struct bench_row {
    size_t lines, bytes, nodes, heap;
    double parse_min, parse_med, front_med;
    long rss_parse, rss_front;
} bench_row_t;

/* Runs fn in a child process and collects what it wrote into *row. */
static int in_child(int (*fn)(size_t, int, const char *, bench_row_t *), size_t lines, int runs,
                    const char *write_to, bench_row_t *row) {
    int fds[2];
    if (pipe(fds) < 0) {
        perror("bench_parse: pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_parse: fork");
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        int rc = fn(lines, runs, write_to, row);
        if (rc == 0 && write(fds[1], row, sizeof *row) != (ssize_t)sizeof *row)
            rc = -1;
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], row, sizeof *row);
    close(fds[0]);
    int ws;
    if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || n != (ssize_t)sizeof *row)
        return -1;
    return 0;
}

static int child_parse(size_t lines, int runs, const char *write_to, bench_row_t *row) {
    cb_autobuf cb_buf_t text = CB_BUF_INIT;
    row->lines = cb_bench_gen_containerfile(&text, lines);
    row->bytes = text.len;
    if (write_to) {
        FILE *f = fopen(write_to, "w");
        if (!f || fwrite(text.data, 1, text.len, f) != text.len || fclose(f) != 0) {
            fprintf(stderr, "bench_parse: write %s: %s\n", write_to, strerror(errno));
            return -1;
        }
    }
    if (bench_parse_only(&text, runs, &row->parse_min, &row->parse_med, &row->heap, &row->nodes) < 0)
        return -1;
    row->rss_parse = peak_rss_kib();
    return 0;
}

/* The front end is timed fewer times: it is the parser's figure that matters. */
#define FRONT_RUNS 5

static int child_front(size_t lines, int runs, const char *write_to, bench_row_t *row) {
    cb_autobuf cb_buf_t text = CB_BUF_INIT;
    cb_bench_gen_containerfile(&text, lines);
    if (bench_front_end(&text, runs < FRONT_RUNS ? runs : FRONT_RUNS, &row->front_med) < 0)
        return -1;
    row->rss_front = peak_rss_kib();
    return 0;
}

/* Every figure for one size, as one row. */
static int bench_size(size_t lines, int runs, const char *write_to) {
    bench_row_t row = {0}, front = {0};
    if (in_child(child_parse, lines, runs, write_to, &row) < 0 ||
        in_child(child_front, lines, runs, NULL, &front) < 0)
        return -1;
    printf("%7zu %6.2f %7zu %9.2f %9.2f %9.1f %6.2f %9ld %9.2f %9ld\n", row.lines,
           row.bytes / 1048576.0, row.nodes, row.parse_min, row.parse_med, row.heap / 1024.0,
           (double)row.heap / row.bytes, row.rss_parse, front.front_med, front.rss_front);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    int runs = 30, opt;
    const char *write_to = NULL;
    while ((opt = getopt(argc, argv, "n:o:h")) != -1) {
        switch (opt) {
        case 'n': {
            char *end;
            long v = strtol(optarg, &end, 10);
            runs = *end || v < 1 || v > 100000 ? 0 : (int)v;
            break;
        }
        case 'o':
            write_to = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-n RUNS] [-o FILE] [LINES...]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1) {
        fprintf(stderr, "bench_parse: -n needs a positive number of runs\n");
        return 2;
    }
    size_t defaults[] = {20000, 40000, 80000};
    size_t nsizes = argc > optind ? (size_t)(argc - optind) : CB_ARRAY_LEN(defaults);

    printf("bench_parse: %d runs per size; times in ms; heap = what the syntax tree holds;\n"
           "rss = peak RSS of a child that only parses; front = parse + typed instructions + eval\n",
           runs);
    printf("%7s %6s %7s %9s %9s %9s %6s %9s %9s %9s\n", "lines", "MiB", "nodes", "parse-min",
           "parse-med", "heap-KiB", "heap/B", "rss-KiB", "front-med", "front-rss");
    fflush(stdout);
    int status = 0;
    for (size_t i = 0; i < nsizes; i++) {
        size_t lines = defaults[i < CB_ARRAY_LEN(defaults) ? i : 0];
        if (argc > optind) {
            char *end;
            lines = strtoul(argv[optind + i], &end, 10);
            if (*end || lines == 0) {
                fprintf(stderr, "bench_parse: bad line count '%s'\n", argv[optind + i]);
                return 2;
            }
        }
        if (bench_size(lines, runs, i == 0 ? write_to : NULL) < 0)
            status = 1;
    }
    return status;
}
