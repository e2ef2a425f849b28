/* The state of one running build, shared by the builder's files (not a
 * public API: the CLI sees only builder/build.h). */
#ifndef CB_BUILDER_BUILD_STATE_H
#define CB_BUILDER_BUILD_STATE_H

#include <stdbool.h>
#include <time.h>

#include "builder/build.h"
#include "builder/image_config.h"
#include "builder/run.h"
#include "cache/ignore.h"
#include "cache/oci.h"
#include "cache/root.h"
#include "cache/store.h"
#include "layer/layer.h"
#include "parser/ast.h"
#include "parser/eval.h"
#include "parser/instructions.h"

/* The PATH a stage FROM scratch starts with (BuildKit's and buildah's
 * default for Linux), and RUN's when the image sets none. */
#define CB_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* A base image whose manifest, config and layers are all in the store. */
typedef struct cb_base_image {
    char *ref;      /* as written in FROM (after expansion) */
    char *platform; /* requested platform or NULL */
    char *manifest_digest;
    cb_oci_manifest_t *manifest;
    char *config_json;
    size_t config_len;
    int rootfs_fd; /* materialised root file system (COPY --from=<image>), or -1 */
} cb_base_image_t;

/* A layer of the image being built: a blob in the store plus its diff_id. */
typedef struct cb_image_layer {
    cb_oci_descriptor_t desc;
    char *diff_id;
} cb_image_layer_t;

typedef struct cb_stage_state {
    cb_image_config_t *config;
    cb_image_layer_t *layers;
    size_t nlayers;
    /* The stage's root file system, materialised on first need by applying
     * every layer in order. Layers made later (COPY, ADD, a cache hit) are
     * applied when the tree is next asked for (cb_stage_rootfs): the last
     * layers of a stage are often never needed as files. tree_behind: how
     * many of the last layers the tree lacks. */
    char *rootfs;
    int rootfs_fd;
    size_t tree_behind;
    /* How many of the first layers are the base's or reused from the cache
     * with only such layers before them: those a kept tree (rootfs.c) may
     * hold, as the next build is likely to start from the same ones. A
     * layer this build made ends the run, so a tree with a COPY of an
     * edited context is not kept (nor flushed to disk) under a new name
     * each build. */
    size_t nlayers_kept;
    bool built;
    bool no_cache; /* --no-cache-filter names it */
    /* The last RUN left its step directory for the next one (run_step.c:
     * upper empty, as a new one). */
    bool step_dir_kept;
    /* The key of the last instruction run (builder/step_cache.c); after the
     * stage, its result's key. */
    char key[CB_DIGEST_STR_LEN + 1];
} cb_stage_state_t;

typedef struct cb_build {
    const cb_build_opts_t *opts;
    cb_root_t *root;
    cb_store_t *store;
    char *scratch;       /* ROOT/tmp/build-XXXXXX: removed when the build ends */
    char *containerfile; /* path of the Containerfile */
    char *containerfile_real; /* its realpath (or the path): names that outlive the build */
    cb_ast_t *ast;
    cb_program_t *prog;
    cb_eval_t *ev;
    cb_stage_state_t *stages;
    size_t nstages;
    int context_fd;
    cb_ignore_t *ignore;
    time_t created;     /* config and history times */
    bool rootless;      /* not real root: chowns in unpacked trees are best effort */
    bool ids_exact;     /* files carry the image's ids (root, or a subordinate-id namespace) */
    /* uncompressed bytes a base layer, ADD archive or image archive may hold; 0: any */
    uint64_t max_layer_size;
    cb_layer_compression_t compression;
    cb_base_image_t **bases; /* resolved FROM and COPY --from images */
    size_t nbases;
    unsigned step, nsteps;   /* progress: STEP n/N */
    bool run_announced;      /* the RUN set-up was said once */
    cb_run_rootfs_t run_rootfs; /* how RUN steps make their root: a method refused once is not tried again */
    struct cb_statcache *statcache; /* context file digests (cache/statcache.h) */
    int key_root_fd;         /* an empty tree for key-mode copies, or -1 */
    int tree_tag;            /* in a stage's child process: its pid, in the names of trees it makes */
    /* Seals and publishes the steps' layer blobs, then writes their cache
     * records, behind the steps (cache/sealer.h): waited for before
     * anything reads those blobs from the store or names them in an index,
     * and before a fork. */
    struct cb_sealer *sealer;
} cb_build_t;

/* base_image.c: resolves a reference (store name, oci:DIR[:TAG],
 * oci-archive:FILE[:TAG], docker-archive:FILE) to an image in the store;
 * cached per build. "scratch" is not an image. */
int cb_base_image_get(cb_build_t *b, const char *ref, const char *platform,
                      cb_base_image_t **out, cb_error_t **err);
void cb_base_image_free(cb_base_image_t *img);
/* import.c: copies the image an oci:, oci-archive: or docker-archive:
 * reference names into the store; *manifest gets its descriptor. */
int cb_import_image(cb_build_t *b, const char *ref, const char *platform,
                    cb_oci_descriptor_t *manifest, cb_error_t **err);

/* rootfs.c: the root file system of a stage, materialised on first use. */
int cb_stage_rootfs(cb_build_t *b, size_t stage, int *fd, cb_error_t **err);
/* Applies layers[from..] of a layer list onto the directory dirfd,
 * verifying each blob's digest and diff_id. */
int cb_apply_layers(cb_build_t *b, int dirfd, const cb_image_layer_t *layers, size_t n,
                    cb_error_t **err);
/* Materialises an image's root file system (for COPY --from=<image>). */
int cb_image_rootfs(cb_build_t *b, cb_base_image_t *img, int *fd, cb_error_t **err);
/* The image's layers as cb_image_layer_t (diff_ids from its config). */
int cb_base_image_layers(const cb_base_image_t *img, cb_image_layer_t **out, size_t *n,
                         cb_error_t **err);
void cb_image_layers_free(cb_image_layer_t *layers, size_t n);

/* stage_exec.c: runs one stage's instructions. */
int cb_stage_execute(cb_build_t *b, size_t stage, cb_error_t **err);
/* The COPY/ADD environment of a stage (its WORKDIR, args, context). */
struct cb_copy_env;
void cb_copy_env_init(const cb_build_t *b, size_t stage, struct cb_copy_env *env);
/* A history entry for ins (empty: no layer). */
void cb_stage_history(cb_build_t *b, cb_stage_state_t *st, const cb_instr_t *ins, bool empty);

/* image_created.c: an image identical to one built before, but for this
 * build's time, gets that build's time back (see there). */
void cb_image_reuse_created(const cb_build_t *b, cb_image_config_t *cfg);

/* A layer being made: the blob writer it streams into and the layer writer. */
typedef struct cb_layer_job {
    struct cb_blob_writer *blob;
    struct cb_layer_writer *writer;
} cb_layer_job_t;
int cb_layer_job_begin(cb_build_t *b, cb_layer_job_t *job, cb_error_t **err);
void cb_layer_job_abort(cb_layer_job_t *job);
/* Finishes the layer, hands its blob to the sealer (published behind the
 * next steps) and records it in the stage; with
 * apply, also applies it to the stage's root file system when that is
 * materialised (RUN changed that tree itself). With empty not NULL, a
 * layer without entries is dropped instead and *empty says so. */
int cb_layer_job_commit(cb_build_t *b, size_t stage, cb_layer_job_t *job, bool apply, bool *empty,
                        cb_error_t **err);

/* Adds a layer (already in the store) to the stage: its list, the config's
 * diff_ids and, with apply, the stage's tree when that is materialised. */
int cb_stage_add_layer(cb_build_t *b, size_t stage, const cb_oci_descriptor_t *desc, const char *diff_id,
                       bool apply, cb_error_t **err);
/* The same for a layer reused from the build cache (nlayers_kept). */
int cb_stage_add_reused_layer(cb_build_t *b, size_t stage, const cb_oci_descriptor_t *desc, const char *diff_id,
                              cb_error_t **err);

/* step_cache.c: step keys and the build cache. */
void cb_step_key_from(cb_build_t *b, size_t stage);
/* How a COPY/ADD from the context gets the content digests of its files
 * (the other steps' keys read nothing but RUN's context binds). */
typedef enum cb_step_key_mode {
    CB_STEP_KEY_READ,  /* the stat cache's, and the others read and hashed */
    CB_STEP_KEY_PROBE, /* as READ, but no key (1) when most of the bytes are
                          not in the stat cache: a cold COPY (stage_exec.c) */
    CB_STEP_KEY_KNOWN, /* the stat cache's only: no key (1) when one is not */
} cb_step_key_mode_t;
/* inputs (may be NULL) gets what went into the key, "label\tvalue"; 1:
 * no key made (mode), inputs partial. */
int cb_step_key(cb_build_t *b, size_t stage, const cb_instr_t *ins, cb_step_key_mode_t mode,
                char key[CB_DIGEST_STR_LEN + 1], cb_strv_t *inputs, cb_error_t **err);
/* A key no content key can equal, for a step whose layer (diff_id) is not
 * what its sources hold now (changed while it was written): the parent,
 * the instruction and that layer. */
void cb_step_key_of_layer(cb_build_t *b, size_t stage, const cb_instr_t *ins, const char *diff_id,
                          char key[CB_DIGEST_STR_LEN + 1], cb_strv_t *inputs);
/* step_explain.c: remembers a step's inputs and, on a miss with
 * --explain-cache, says which changed since the last build. */
void cb_step_explain(cb_build_t *b, size_t stage, size_t index, const cb_strv_t *inputs, bool hit);
bool cb_step_cacheable(const cb_instr_t *ins);
/* On a hit the recorded layer and history entry join the stage. */
int cb_step_cache_get(cb_build_t *b, size_t stage, const cb_instr_t *ins, const char *key, bool *hit,
                      cb_error_t **err);
/* Records what the step just run added (a layer if the stage has more than
 * nlayers_before): queued on the sealer, written once that layer is
 * durable. -1 only when an earlier layer could not be sealed. */
int cb_step_cache_put(cb_build_t *b, size_t stage, const cb_instr_t *ins, const char *key, size_t nlayers_before,
                      cb_error_t **err);

/* scheduler.c: runs the stages the target needs, independent ones at the
 * same time (--jobs). */
int cb_schedule_stages(cb_build_t *b, cb_error_t **err);

/* run_step.c: RUN. */
int cb_run_step(cb_build_t *b, size_t stage, const cb_instr_run_t *ins, cb_error_t **err);

/* image_write.c: writes the config and manifest of a stage's result into the
 * store; digests out (manifest, config) and the manifest descriptor. */
int cb_image_write(cb_build_t *b, size_t stage, cb_oci_descriptor_t *manifest_desc,
                   char config_digest[CB_DIGEST_STR_LEN + 1], cb_error_t **err);

#endif
