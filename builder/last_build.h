/* The outcome of each cached kind of step (RUN, COPY, ADD, WORKDIR: a cache
 * hit or a run) in the last successful build of a Containerfile, for
 * `cbuild graph` to mark. Kept in ROOT/cache/last-build/<sha256 of the
 * Containerfile's absolute path>.json; a step is named by its stage, its
 * line and the digest of its text, so an edited line is not marked.
 *
 * While a build runs, steps append a line each to BUILD/steps (O_APPEND and
 * one write per line, so forked stage builders can share it); the build
 * saves the file when it succeeds. */
#ifndef CB_BUILDER_LAST_BUILD_H
#define CB_BUILDER_LAST_BUILD_H

#include <jansson.h>
#include <stdbool.h>

#include "common/digest.h"
#include "common/error.h"
#include "parser/instructions.h"

struct cb_build;

void cb_last_build_note(const struct cb_build *b, size_t stage, const cb_instr_t *ins, bool cached);
int cb_last_build_save(const struct cb_build *b, cb_error_t **err);
/* *out: {"containerfile": PATH, "steps": [{"stage", "line", "text", "cached"}]},
 * or NULL when that Containerfile was never built under cache_dir. */
int cb_last_build_load(const char *cache_dir, const char *containerfile, json_t **out, cb_error_t **err);
/* The digest a step's text is recorded under. */
void cb_last_build_text_digest(const cb_instr_t *ins, char out[CB_DIGEST_STR_LEN + 1]);

#endif
