/* The build-time view of a program: ARG and ENV scoping and variable
 * expansion, exactly as Docker documents it.
 *
 * - Predefined ARGs live in the global scope: TARGETPLATFORM TARGETOS
 *   TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT.
 * - ARGs before the first FROM ("meta ARGs") join the global scope. FROM
 *   lines (image and --platform) are expanded with the global scope only.
 * - Inside a stage nothing of the global scope is visible until an ARG
 *   redeclares it; `ARG NAME` then takes the global value. --build-arg
 *   overrides every default. An ARG with no value anywhere is declared but
 *   unset ($NAME expands to "").
 * - ENV always shadows an ARG of the same name, whichever comes first.
 * - A stage FROM another stage starts with that stage's ARGs and ENV; a stage
 *   FROM an image starts with the image's ENV (opts->image_env) plus a
 *   default PATH when the image sets none.
 * - The proxy args HTTP_PROXY HTTPS_PROXY FTP_PROXY NO_PROXY ALL_PROXY (any
 *   case) given with --build-arg reach RUN's environment (proxy_env) without
 *   an ARG, and never appear in used_args (cache keys ignore them).
 * - Expanded: ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR,
 *   ARG defaults, and the flags --platform --chown --chmod --checksum
 *   --exclude and every --mount field but from=. Not expanded: RUN, CMD,
 *   ENTRYPOINT, SHELL, HEALTHCHECK bodies (the shell does that), MAINTAINER,
 *   heredoc bodies, and ONBUILD triggers (stored as written, expanded when
 *   they run in a child build).
 * - ENV and LABEL pairs of one instruction all see the values from before
 *   the instruction.
 * - ONBUILD triggers of a base image (opts->image_onbuild) run as if written
 *   right after the FROM of a stage FROM that image (not scratch, not a
 *   stage), in order, before the stage's own instructions: each trigger text
 *   is parsed and its instruction spliced in at the front of the stage,
 *   marked from_onbuild and placed at the FROM line, and then expanded in
 *   the stage's scope like any instruction there. A trigger that is not one
 *   instruction, or is ONBUILD, FROM or MAINTAINER, is an error. A trigger's
 *   COPY --from=<stage> may make the target need more stages (the graph is
 *   rebuilt, as BuildKit does).
 *
 * Every expanded instruction records the build args it used in
 * instr->used_args ("NAME=VALUE"); a RUN uses every ARG in scope, since they
 * are in its environment.
 */
#ifndef CB_PARSER_EVAL_H
#define CB_PARSER_EVAL_H

#include "common/error.h"
#include "common/util.h"
#include "parser/expand.h"
#include "parser/graph.h"
#include "parser/instructions.h"

/* Fills env with an image's config Env ("K=V"), for stages FROM an image. */
typedef int (*cb_image_env_fn)(void *ctx, const char *image, const char *platform, cb_env_t *env,
                               cb_error_t **err);
/* Appends an image's config OnBuild triggers (instruction texts) to triggers. */
typedef int (*cb_image_onbuild_fn)(void *ctx, const char *image, const char *platform, cb_strv_t *triggers,
                                   cb_error_t **err);

typedef struct cb_eval_opts {
    const cb_strv_t *build_args; /* "NAME=VALUE"; NULL for none */
    const char *target;          /* stage name; NULL = the last stage */
    const char *target_platform; /* "os/arch[/variant]"; NULL = the build platform */
    const char *build_platform;  /* NULL = this host (uname) */
    cb_image_env_fn image_env;   /* NULL: images are taken to set no ENV */
    void *image_env_ctx;         /* passed to image_env and image_onbuild */
    cb_image_onbuild_fn image_onbuild; /* NULL: images are taken to have no triggers */
} cb_eval_opts_t;

typedef struct cb_eval {
    cb_graph_t *graph;
    cb_env_t global_args;  /* predefined and meta ARGs after --build-arg */
    cb_env_t *stage_env;   /* per stage, after its last instruction: ENV only */
    cb_env_t *stage_args;  /* per stage: ARGs in scope with values */
    size_t nstages;
    char *target_platform;
    char *build_platform;
    cb_strv_t warnings;    /* e.g. build args no ARG consumed */
} cb_eval_t;

/* Expands the program in place: FROM lines of every stage, then the
 * instructions of the stages the target keeps (others stay as written, with
 * stage->evaluated false). Errors carry the instruction's FILE:LINE:COL. */
int cb_eval_program(cb_program_t *prog, const cb_eval_opts_t *opts, cb_eval_t **out,
                    cb_error_t **err);
void cb_eval_free(cb_eval_t *ev);

/* Puts an error raised while running a spliced ONBUILD trigger of stage st
 * at the stage's FROM: "FILE:LINE:COL: ONBUILD trigger TEXT from image X:
 * cause". Returns -1. */
int cb_onbuild_error(cb_error_t **err, const cb_stage_t *st, const cb_instr_t *trigger);

/* This host's platform as "os/arch[/variant]" (linux/amd64 on x86_64). */
char *cb_platform_host(void);
/* Splits and normalises "os/arch[/variant]"; an error names the bad value. */
int cb_platform_parse(const char *s, char **os, char **arch, char **variant, cb_error_t **err);
bool cb_is_proxy_arg(const char *name);

#endif
