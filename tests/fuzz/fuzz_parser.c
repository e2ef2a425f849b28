/* libFuzzer target: the Containerfile lexer and syntax tree.
 *
 * Any byte string goes to cb_parse_buffer() (it takes a length, so the input
 * is not NUL-terminated); a parse that succeeds is dumped in BuildKit's
 * S-expression form, node by node too. Crashes, sanitizer reports and leaks
 * are findings, and so is a broken error contract: a failure must set exactly
 * one error with a message, a success must set none.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "parser/ast.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cb_ast_t *ast = NULL;
    cb_error_t *err = NULL;
    int rc = cb_parse_buffer("Containerfile", (const char *)data, size, &ast, &err);
    if (rc < 0) {
        if (ast)
            abort(); /* a failure must leave no tree */
        fuzz_check_error(rc, err);
        return 0;
    }
    if (err || !ast)
        abort(); /* a success must leave a tree and no error */
    char *dump = cb_ast_dump(ast);
    if (!dump)
        abort();
    free(dump);
    for (size_t i = 0; i < ast->nnodes; i++) {
        if (ast->nodes[i]->start_line < 1 || ast->nodes[i]->end_line < ast->nodes[i]->start_line)
            abort(); /* line ranges feed every later error message */
        free(cb_node_dump(ast->nodes[i]));
    }
    cb_ast_free(ast);
    return 0;
}
