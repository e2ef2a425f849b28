/* libFuzzer target: everything after the syntax tree, on any input the
 * parser accepts: typed instructions and their flags (cb_program_from_ast),
 * ARG/ENV scoping and expansion with the stage graph (cb_eval_program).
 * Platforms are fixed so a run does not depend on the host. The input is a
 * Containerfile, so it shares the parser's seed corpus and dictionary.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "fuzz_check.h"
#include "parser/ast.h"
#include "parser/eval.h"
#include "parser/instructions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cb_ast_t *ast = NULL;
    cb_program_t *prog = NULL;
    cb_eval_t *ev = NULL;
    cb_error_t *err = NULL;

    int rc = cb_parse_buffer("Containerfile", (const char *)data, size, &ast, &err);
    fuzz_check_error(rc, err);
    if (rc < 0)
        return 0;
    err = NULL;
    rc = cb_program_from_ast(ast, &prog, &err);
    fuzz_check_error(rc, err);
    if (rc >= 0) {
        cb_strv_t build_args = CB_STRV_INIT;
        cb_strv_push(&build_args, "VERSION=1.2.3");
        cb_strv_push(&build_args, "HTTP_PROXY=http://proxy:3128");
        cb_eval_opts_t opts = {
            .build_args = &build_args,
            .target_platform = "linux/arm64/v8",
            .build_platform = "linux/amd64",
        };
        err = NULL;
        rc = cb_eval_program(prog, &opts, &ev, &err);
        fuzz_check_error(rc, err);
        cb_eval_free(ev);
        cb_strv_free(&build_args);
    }
    cb_program_free(prog);
    cb_ast_free(ast);
    return 0;
}
