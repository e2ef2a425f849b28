/* RUN --mount: each expanded spec (parser/mount.h) turned into a mount the
 * container makes (builder/run.h), and what must last while the step runs
 * (descriptors, cache locks).
 *
 *   bind    from the build context, a stage or an image; source resolved
 *           inside that root; read-only unless rw, and then the writes go
 *           to a throw-away overlay, as BuildKit discards them.
 *   cache   ROOT/mounts/cache/<sha256 of id>, kept across builds; created
 *           with mode (0755) and uid:gid (0:0); sharing=locked holds an
 *           exclusive lock for the step, private takes a fresh directory
 *           when another build holds the cache, shared (default) neither.
 *   tmpfs   a fresh tmpfs (size= in bytes).
 *   secret  --secret id=ID,src=FILE|env=VAR, copied into a memory file
 *           (memfd) and bound read-only at target (default
 *           /run/secrets/ID), mode 0400 unless given; never on disk under
 *           the root, never in a layer. With env=NAME in the mount the
 *           value is in the step's environment instead. A missing secret is
 *           an error when required, else the mount is left out.
 * Relative targets are taken from the working directory, as BuildKit does. */
#ifndef CB_BUILDER_RUN_MOUNTS_H
#define CB_BUILDER_RUN_MOUNTS_H

#include "builder/build_state.h"
#include "builder/run.h"

typedef struct cb_run_mounts {
    cb_run_mount_t *items;
    size_t len;
    int *fds; /* held open for the step: sources, memfds, locks */
    size_t nfds;
    cb_strv_t env;     /* secrets as environment variables ("K=V") */
    cb_strv_t discard; /* directories removed after the step */
} cb_run_mounts_t;

int cb_run_mounts_prepare(cb_build_t *b, size_t stage, const cb_instr_run_t *ins, const char *step_dir,
                          cb_run_mounts_t *out, cb_error_t **err);
/* Releases locks and descriptors and frees; ok tells whether the step
 * succeeded (nothing to keep otherwise: caches keep what was written). */
void cb_run_mounts_finish(cb_run_mounts_t *m, bool ok);

#endif
