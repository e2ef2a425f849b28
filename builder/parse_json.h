/* The instruction graph as JSON (cbuild parse --json). */
#ifndef CB_BUILDER_PARSE_JSON_H
#define CB_BUILDER_PARSE_JSON_H

#include <jansson.h>

#include "parser/eval.h"
#include "parser/instructions.h"

/* A new reference: file, platforms, global args, meta ARGs, stages (name,
 * index, base, base_stage, platform, kept, dependencies, instructions), the
 * target, the kept stages in build order, and warnings. Each instruction has
 * its keyword, lines, original text, flags (RUN mounts parsed into fields),
 * arguments after expansion, heredocs and the build args it used. */
json_t *cb_program_to_json(const cb_program_t *prog, const cb_eval_t *ev);
/* One instruction as in that graph (a new reference). */
json_t *cb_instr_to_json(const cb_instr_t *in);

#endif
