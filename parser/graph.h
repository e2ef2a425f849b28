/* The instruction graph: stages as a DAG.
 *
 * A stage depends on another through `FROM <stage>` (earlier stages only,
 * matched by name), `COPY --from=<stage|index>` and
 * `RUN --mount=...,from=<stage|index>`. A --from that names no stage is an
 * image, not an edge. Stage names are case-insensitive. Like BuildKit, a
 * stage may only copy or mount from a stage defined before it, so file order
 * is a valid build order; a stage that depends on itself, directly or
 * through others, is a cycle error. The target (default: the last stage)
 * keeps only the stages it needs.
 *
 * Build the graph after the FROM lines are expanded (parser/eval.h does both).
 */
#ifndef CB_PARSER_GRAPH_H
#define CB_PARSER_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"
#include "parser/instructions.h"

typedef struct cb_graph_edge {
    size_t stage;          /* the stage depended on */
    const cb_instr_t *via; /* the FROM, COPY or RUN that makes the edge */
} cb_graph_edge_t;

typedef struct cb_graph_stage {
    ssize_t base;          /* stage that FROM names, -1 for an image */
    cb_graph_edge_t *deps; /* one per distinct stage, base first */
    size_t ndeps;
    bool kept;             /* needed by the target */
} cb_graph_stage_t;

typedef struct cb_graph {
    cb_graph_stage_t *stages;
    size_t nstages;
    size_t target;
    size_t *order; /* kept stages, each after its dependencies */
    size_t norder;
} cb_graph_t;

/* A stage by name (case-insensitive) or, when allow_index, by decimal index.
 * Returns true and sets *index when found. */
bool cb_graph_find_stage(const cb_program_t *prog, const char *ref, bool allow_index, size_t *index);
/* target NULL means the last stage. Errors: duplicate stage name, cycle,
 * copy from a later stage, bad stage index (all at their FILE:LINE), unknown
 * target (naming the known stages). */
int cb_graph_build(const cb_program_t *prog, const char *target, cb_graph_t **out, cb_error_t **err);
void cb_graph_free(cb_graph_t *g);

#endif
