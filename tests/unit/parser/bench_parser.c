/* Parser benchmark (not a test: timings never decide pass/fail).
 * Builds a 20,000-line Containerfile in memory - long continued RUNs,
 * ENV/LABEL pairs, COPY flags, exec forms, heredocs - and reports the
 * best-of-N parse time and the size of the input.
 * Usage: bench_parser [lines] [rounds] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/util.h"
#include "parser/ast.h"

static double now_ms(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    int lines = argc > 1 ? atoi(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    cb_buf_t b = CB_BUF_INIT;
    int n = 0;
    cb_buf_puts(&b, "# syntax=docker/dockerfile:1\nFROM debian:12 AS base\n");
    n += 2;
    for (int i = 0; n < lines; i++) {
        switch (i % 5) {
        case 0:
            cb_buf_printf(&b, "RUN apt-get update \\\n    && apt-get install -y pkg%d \\\n"
                              "    # a comment inside\n    && rm -rf /var/lib/apt/lists/*\n", i);
            n += 4;
            break;
        case 1:
            cb_buf_printf(&b, "ENV A%d=\"value %d\" B%d=two\\ words C%d=x\n", i, i, i, i);
            n += 1;
            break;
        case 2:
            cb_buf_printf(&b, "COPY --from=base --chown=1000:1000 src/%d /dst/%d/\n", i, i);
            n += 1;
            break;
        case 3:
            cb_buf_printf(&b, "RUN <<EOF\nset -e\necho %d\nEOF\n", i);
            n += 4;
            break;
        default:
            cb_buf_printf(&b, "CMD [\"/bin/app\", \"--id\", \"%d\"]\n\n", i);
            n += 2;
        }
    }
    double best = 1e9, first = 0, first_cpu = 0;
    size_t nodes = 0;
    for (int r = 0; r < rounds; r++) {
        cb_ast_t *ast = NULL;
        cb_error_t *err = NULL;
        double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        if (cb_parse_buffer("bench", b.data, b.len, &ast, &err) < 0) {
            cb_error_print(err, stderr);
            return 1;
        }
        double t = now_ms(CLOCK_MONOTONIC) - t0;
        if (r == 0) {
            first = t;
            first_cpu = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
        if (t < best)
            best = t;
        nodes = ast->nnodes;
        cb_ast_free(ast);
    }
    printf("parsed %d lines (%zu bytes, %zu instructions): first parse %.2f ms (%.2f ms CPU), "
           "best %.2f ms of %d rounds\n",
           n, b.len, nodes, first, first_cpu, best, rounds);
    cb_buf_free(&b);
    return 0;
}
