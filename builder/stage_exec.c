/* Running a stage: FROM sets up the config and layers, then each
 * instruction changes the config (metadata) or adds a layer (COPY, ADD,
 * WORKDIR when it has to create the directory). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/build_state.h"
#include "builder/copy.h"
#include "builder/last_build.h"
#include "builder/progress.h"
#include "cache/blob.h"
#include "cache/sealer.h"
#include "cache/statcache.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "common/match.h"
#include "layer/resolve.h"
#include "layer/writer.h"
#include "parser/graph.h"

static const char *stage_label(const cb_build_t *b, size_t stage) {
    const cb_instr_from_t *from = b->prog->stages[stage].from;
    return from->name ? from->name : NULL;
}

static void announce(cb_build_t *b, size_t stage, const cb_instr_t *ins) {
    b->step++;
    cb_autofree char *text = cb_xasprintf("%s%s", ins->from_onbuild ? "ONBUILD " : "", ins->node->original);
    cb_progress_step(stage_label(b, stage), stage, b->step, b->nsteps, text,
                     ins->kind == CB_INSTR_FROM || cb_step_cacheable(ins));
}

void cb_stage_history(cb_build_t *b, cb_stage_state_t *st, const cb_instr_t *ins, bool empty) {
    cb_image_config_add_history(st->config, ins->node->original, empty, b->created, "cbuild");
}

/* FROM: the starting config and layers. */
static int start_stage(cb_build_t *b, size_t stage, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    const cb_graph_stage_t *gs = &b->ev->graph->stages[stage];
    const cb_instr_from_t *from = b->prog->stages[stage].from;
    const char *platform = from->platform ? from->platform : b->ev->target_platform;

    if (gs->base >= 0) {
        const cb_stage_state_t *base = &b->stages[gs->base];
        st->config = cb_image_config_clone(base->config);
        st->layers = cb_xcalloc(base->nlayers + 1, sizeof *st->layers);
        for (size_t i = 0; i < base->nlayers; i++) {
            cb_oci_descriptor_copy(&st->layers[i].desc, &base->layers[i].desc);
            st->layers[i].diff_id = cb_xstrdup(base->layers[i].diff_id);
        }
        st->nlayers = base->nlayers;
        st->nlayers_kept = base->nlayers_kept;
    } else if (cb_str_ieq(from->image, "scratch")) {
        cb_autofree char *os = NULL, *arch = NULL, *variant = NULL;
        if (cb_platform_parse(platform, &os, &arch, &variant, err) < 0)
            return cb_error_locate(err, from->base.file, from->base.node->start_line, from->base.node->col);
        st->config = cb_image_config_new(os, arch, variant);
        cb_image_config_set_env(st->config, "PATH", CB_DEFAULT_PATH); /* as BuildKit and buildah */
    } else {
        cb_base_image_t *img = NULL;
        if (cb_base_image_get(b, from->image, from->platform, &img, err) < 0 ||
            cb_image_config_parse(img->config_json, img->config_len, &st->config, err) < 0 ||
            cb_base_image_layers(img, &st->layers, &st->nlayers, err) < 0)
            return cb_error_locate(err, from->base.file, from->base.node->start_line, from->base.node->col);
        st->nlayers_kept = st->nlayers;
    }
    cb_image_config_begin_stage(st->config);

    /* parser/eval.c spliced the base image's triggers in after FROM (they
     * run as the stage's first instructions); they are not passed on. */
    cb_autostrv cb_strv_t triggers = CB_STRV_INIT;
    cb_image_config_take_onbuild(st->config, &triggers);
    const cb_stage_t *s = &b->prog->stages[stage];
    size_t spliced = 0;
    while (spliced < s->ninstrs && s->instrs[spliced]->from_onbuild)
        spliced++;
    if (spliced != triggers.len)
        return cb_error_at(err, from->base.file, from->base.node->start_line, from->base.node->col,
                           "the base image %s has %zu ONBUILD trigger(s) but %zu were prepared to run",
                           from->image, triggers.len, spliced);
    return 0;
}

/* hash_files: the writer hands each regular file's digest to the stat
 * cache (a cold COPY, see run_cold_copy). */
static int layer_job_begin(cb_build_t *b, cb_layer_job_t *job, bool hash_files, cb_error_t **err) {
    if (cb_blob_begin_hashed(b->store, &job->blob, err) < 0)
        return -1;
    cb_layer_writer_opts_t o = {
        .compression = b->compression,
        .clamp_mtime = b->opts->has_timestamp,
        .mtime_max = b->opts->timestamp,
    };
    if (hash_files) {
        o.want_digest = cb_statcache_wants_cb;
        o.file_digest = cb_statcache_put_cb;
        o.content_digest_ctx = b->statcache;
    }
    return cb_layer_writer_new(&job->writer, &o, cb_blob_sink, job->blob, err);
}

int cb_layer_job_begin(cb_build_t *b, cb_layer_job_t *job, cb_error_t **err) {
    return layer_job_begin(b, job, false, err);
}

void cb_layer_job_abort(cb_layer_job_t *job) {
    cb_layer_writer_free(job->writer);
    cb_blob_abort(job->blob);
    job->writer = NULL;
    job->blob = NULL;
}

/* The second half of cb_layer_job_commit: the finished layer res (its
 * writer's) published and added to the stage. */
static int layer_job_publish(cb_build_t *b, size_t stage, cb_layer_job_t *job, const cb_layer_result_t *res,
                             bool apply, cb_error_t **err) {
    cb_layer_writer_free(job->writer);
    job->writer = NULL;
    /* The blob is fsync'd and renamed into the store behind the next steps
     * (the fsync waits for the disk); the stage names it at once, by the
     * digest the layer writer computed. Whatever reads it from the store
     * waits for the sealer first. */
    cb_autofree char *what = cb_xasprintf("the layer of STEP %u", b->step);
    if (cb_sealer_blob(b->sealer, cb_steal_pointer(&job->blob), res->digest, (int64_t)res->size, what, err) < 0)
        return -1;
    cb_autofree char *mt = cb_xasprintf("%s%s", CB_MT_OCI_LAYER, res->media_suffix);
    char digest[CB_DIGEST_STR_LEN + 1];
    memcpy(digest, res->digest, sizeof digest);
    cb_oci_descriptor_t desc = {.media_type = mt, .digest = digest, .size = (int64_t)res->size};
    return cb_stage_add_layer(b, stage, &desc, res->diff_id, apply, err);
}

int cb_layer_job_commit(cb_build_t *b, size_t stage, cb_layer_job_t *job, bool apply, bool *empty,
                        cb_error_t **err) {
    cb_layer_result_t res;
    if (cb_layer_writer_finish(job->writer, &res, err) < 0)
        return -1;
    if (empty) {
        *empty = res.entries == 0;
        if (*empty) {
            cb_layer_job_abort(job);
            return 0;
        }
    }
    return layer_job_publish(b, stage, job, &res, apply, err);
}

int cb_stage_add_layer(cb_build_t *b, size_t stage, const cb_oci_descriptor_t *desc, const char *diff_id,
                       bool apply, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    st->layers = cb_xrealloc(st->layers, (st->nlayers + 2) * sizeof *st->layers);
    cb_image_layer_t *l = &st->layers[st->nlayers++];
    memset(l, 0, sizeof *l);
    cb_oci_descriptor_copy(&l->desc, desc);
    l->diff_id = cb_xstrdup(diff_id);
    cb_image_config_add_layer(st->config, diff_id);
    if (apply && st->rootfs_fd >= 0)
        st->tree_behind++;
    return 0;
}

int cb_stage_add_reused_layer(cb_build_t *b, size_t stage, const cb_oci_descriptor_t *desc, const char *diff_id,
                              cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    bool in_run = st->nlayers_kept == st->nlayers;
    if (cb_stage_add_layer(b, stage, desc, diff_id, true, err) < 0)
        return -1;
    if (in_run)
        st->nlayers_kept = st->nlayers;
    return 0;
}

/* The root file system COPY --from reads: a stage's or an image's. */
static int copy_source_root(cb_build_t *b, size_t stage, const char *from, int *fd, cb_error_t **err) {
    size_t idx;
    if (cb_graph_find_stage(b->prog, from, true, &idx)) {
        if (idx >= stage)
            return cb_error_kind_set(err, CB_ERR_INPUT, "COPY --from=%s: stage %zu is not built before this one",
                                     from, idx);
        return cb_stage_rootfs(b, idx, fd, err);
    }
    cb_base_image_t *img = NULL;
    if (cb_base_image_get(b, from, NULL, &img, err) < 0)
        return -1;
    return cb_image_rootfs(b, img, fd, err);
}

void cb_copy_env_init(const cb_build_t *b, size_t stage, cb_copy_env_t *env) {
    const cb_stage_state_t *st = &b->stages[stage];
    const char *wd = cb_image_config_get_workdir(st->config);
    *env = (cb_copy_env_t){
        .context_fd = b->context_fd,
        .ignore = b->ignore,
        .src_root_fd = -1,
        .dest_root_fd = -1,
        .workdir = wd && *wd ? wd : "/",
        .env = &b->ev->stage_args[stage],
        .tmpdir = b->scratch,
        .rootless = b->rootless,
        .max_archive_size = b->max_layer_size,
        .ids_collapsed = !b->ids_exact,
        .clamp_mtime = b->opts->has_timestamp,
        .mtime = b->opts->timestamp,
    };
}

/* A COPY's or ADD's layer written into job and finished (res), not yet
 * published; hash_files as for layer_job_begin. */
static int write_copy(cb_build_t *b, size_t stage, const cb_instr_copy_t *ins, bool hash_files, cb_layer_job_t *job,
                      cb_layer_result_t *res, cb_error_t **err) {
    bool is_add = ins->base.kind == CB_INSTR_ADD;
    cb_copy_env_t env;
    cb_copy_env_init(b, stage, &env);
    if (ins->from && copy_source_root(b, stage, ins->from, &env.src_root_fd, err) < 0)
        return -1;
    if (cb_stage_rootfs(b, stage, &env.dest_root_fd, err) < 0)
        return -1;
    if (layer_job_begin(b, job, hash_files, err) < 0 || cb_copy_to_layer(ins, is_add, &env, job->writer, err) < 0 ||
        cb_layer_writer_finish(job->writer, res, err) < 0) {
        cb_layer_job_abort(job);
        return -1;
    }
    return 0;
}

static int run_copy(cb_build_t *b, size_t stage, const cb_instr_copy_t *ins, cb_error_t **err) {
    cb_layer_job_t job = {0};
    cb_layer_result_t res;
    if (write_copy(b, stage, ins, false, &job, &res, err) < 0)
        return -1;
    if (layer_job_publish(b, stage, &job, &res, true, err) < 0) {
        cb_layer_job_abort(&job);
        return -1;
    }
    cb_stage_history(b, &b->stages[stage], &ins->base, false);
    return 0;
}

/* WORKDIR: the directory is created (root, 0755) when the image lacks it,
 * as docker build does, in a layer of its own. */
/* WORKDIR's config change (also on a cache hit); the directory, caller frees. */
static char *workdir_config(cb_build_t *b, size_t stage, const cb_instr_value_t *ins) {
    cb_stage_state_t *st = &b->stages[stage];
    const char *prev = cb_image_config_get_workdir(st->config);
    cb_autofree char *joined = ins->value[0] == '/'
                                   ? cb_xstrdup(ins->value)
                                   : cb_xasprintf("%s/%s", prev && *prev ? prev : "/", ins->value);
    char *dir = cb_path_clean(joined);
    /* The config keeps a trailing slash as written (docker does). */
    size_t n = strlen(ins->value);
    if (n > 1 && ins->value[n - 1] == '/' && strcmp(dir, "/") != 0) {
        cb_autofree char *slashed = cb_xasprintf("%s/", dir);
        cb_image_config_set_workdir(st->config, slashed);
    } else {
        cb_image_config_set_workdir(st->config, dir);
    }
    return dir;
}

static int run_workdir(cb_build_t *b, size_t stage, const cb_instr_value_t *ins, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    cb_autofree char *dir = workdir_config(b, stage, ins);

    int rootfd;
    if (cb_stage_rootfs(b, stage, &rootfd, err) < 0)
        return -1;
    const char *rel = dir + strspn(dir, "/");
    int dfd = -1;
    if (*rel && cb_layer_open_dir_beneath(rootfd, rel, false, &dfd, err) < 0)
        return -1;
    if (*rel == '\0' || dfd >= 0) {
        if (dfd >= 0)
            close(dfd);
        cb_stage_history(b, st, &ins->base, true);
        return 0;
    }
    cb_layer_job_t job = {0};
    cb_layer_attrs_t attrs = {.set_uid = true, .set_gid = true, .set_mode = true, .mode = 0755};
    if (cb_layer_job_begin(b, &job, err) < 0 || cb_layer_add_parents(job.writer, rel, &attrs, err) < 0 ||
        cb_layer_add_dir(job.writer, rel, &attrs, err) < 0 || cb_layer_job_commit(b, stage, &job, true, NULL, err) < 0) {
        cb_layer_job_abort(&job);
        return -1;
    }
    cb_stage_history(b, st, &ins->base, false);
    return 0;
}

/* CMD/ENTRYPOINT shell form: the configured SHELL plus the command line. */
static void command_argv(const cb_stage_state_t *st, const cb_instr_exec_t *ins, cb_strv_t *argv) {
    if (ins->shell_form) {
        cb_image_config_get_shell(st->config, argv);
        for (size_t i = 0; i < ins->cmd.len; i++)
            cb_strv_push(argv, ins->cmd.items[i]);
    } else {
        for (size_t i = 0; i < ins->cmd.len; i++)
            cb_strv_push(argv, ins->cmd.items[i]);
    }
}

static int run_metadata(cb_build_t *b, size_t stage, const cb_instr_t *ins, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    switch (ins->kind) {
    case CB_INSTR_ENV:
    case CB_INSTR_LABEL: {
        const cb_instr_kvs_t *kv = (const cb_instr_kvs_t *)ins;
        for (size_t i = 0; i < kv->npairs; i++) {
            if (ins->kind == CB_INSTR_ENV)
                cb_image_config_set_env(st->config, kv->pairs[i].key, kv->pairs[i].value ? kv->pairs[i].value : "");
            else
                cb_image_config_set_label(st->config, kv->pairs[i].key, kv->pairs[i].value ? kv->pairs[i].value : "");
        }
        break;
    }
    case CB_INSTR_EXPOSE: {
        const cb_instr_words_t *w = (const cb_instr_words_t *)ins;
        for (size_t i = 0; i < w->words.len; i++)
            if (cb_image_config_expose(st->config, w->words.items[i], err) < 0)
                return -1;
        break;
    }
    case CB_INSTR_VOLUME: {
        const cb_instr_words_t *w = (const cb_instr_words_t *)ins;
        for (size_t i = 0; i < w->words.len; i++) {
            if (w->words.items[i][0] == '\0')
                return cb_error_kind_set(err, CB_ERR_INPUT, "VOLUME: empty path");
            cb_image_config_add_volume(st->config, w->words.items[i]);
        }
        break;
    }
    case CB_INSTR_USER:
        cb_image_config_set_user(st->config, ((const cb_instr_value_t *)ins)->value);
        break;
    case CB_INSTR_STOPSIGNAL:
        cb_image_config_set_stopsignal(st->config, ((const cb_instr_value_t *)ins)->value);
        break;
    case CB_INSTR_MAINTAINER:
        cb_image_config_set_author(st->config, ((const cb_instr_value_t *)ins)->value);
        break;
    case CB_INSTR_CMD:
    case CB_INSTR_ENTRYPOINT: {
        const cb_instr_exec_t *e = (const cb_instr_exec_t *)ins;
        cb_autostrv cb_strv_t argv = CB_STRV_INIT;
        command_argv(st, e, &argv);
        char *empty[] = {NULL};
        char **items = argv.items ? argv.items : empty;
        if (ins->kind == CB_INSTR_CMD)
            cb_image_config_set_cmd(st->config, items, e->shell_form);
        else
            cb_image_config_set_entrypoint(st->config, items, e->shell_form);
        break;
    }
    case CB_INSTR_SHELL: {
        const cb_instr_exec_t *e = (const cb_instr_exec_t *)ins;
        if (e->shell_form || e->cmd.len == 0)
            return cb_error_kind_set(err, CB_ERR_INPUT, "SHELL requires the exec (JSON array) form");
        cb_image_config_set_shell(st->config, e->cmd.items);
        break;
    }
    case CB_INSTR_HEALTHCHECK: {
        const cb_instr_healthcheck_t *h = (const cb_instr_healthcheck_t *)ins;
        char *none[] = {"NONE", NULL};
        cb_healthcheck_t hc = {
            .test = h->none ? none : h->test.items,
            .interval_ns = h->interval_ns,
            .timeout_ns = h->timeout_ns,
            .start_period_ns = h->start_period_ns,
            .start_interval_ns = h->start_interval_ns,
            .retries = h->retries,
        };
        cb_image_config_set_healthcheck(st->config, &hc);
        break;
    }
    case CB_INSTR_ONBUILD:
        cb_image_config_add_onbuild(st->config, ((const cb_instr_onbuild_t *)ins)->expression);
        break;
    default:
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "%s is not a metadata instruction",
                                 cb_instr_kind_name(ins->kind));
    }
    cb_stage_history(b, st, ins, true);
    return 0;
}

static int run_instruction(cb_build_t *b, size_t stage, const cb_instr_t *ins, cb_error_t **err) {
    switch (ins->kind) {
    case CB_INSTR_ARG:
        return 0; /* scoping was done by parser/eval.c; ARGs leave no trace in the image */
    case CB_INSTR_RUN:
        return cb_run_step(b, stage, (const cb_instr_run_t *)ins, err);
    case CB_INSTR_COPY:
    case CB_INSTR_ADD:
        return run_copy(b, stage, (const cb_instr_copy_t *)ins, err);
    case CB_INSTR_WORKDIR:
        return run_workdir(b, stage, (const cb_instr_value_t *)ins, err);
    default:
        return run_metadata(b, stage, ins, err);
    }
}

/* A COPY or ADD from the context most of whose bytes the stat cache does
 * not know (a cold build, a fresh clone; CB_STEP_KEY_PROBE): its key would
 * need those files read and hashed, and its layer (on a miss) reads them
 * again, the key pass alone on one core while the compressors wait. So the
 * layer is written first, its writer hashing each file from the bytes it reads for
 * the tar anyway (beside the compression workers) and handing the digests
 * to the stat cache, which keeps those of files whose stat did not change
 * while they were read. Then the key is made as always, from the stat cache
 * alone. A hit (a fresh copy of a context built before) takes the recorded
 * layer and drops the one just written before it ever enters the store; a
 * miss publishes it and records it. A file that changed since it was read
 * leaves the key unmade again: the layer then holds what was read, not what
 * is there, so the step gets a key of that layer, which no later build's
 * content key can equal, and no record. */
static int run_cold_copy(cb_build_t *b, size_t stage, size_t index, const cb_instr_t *ins, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    cb_layer_job_t job = {0};
    cb_layer_result_t res;
    if (write_copy(b, stage, (const cb_instr_copy_t *)ins, true, &job, &res, err) < 0)
        return -1;
    char key[CB_DIGEST_STR_LEN + 1];
    cb_autostrv cb_strv_t inputs = CB_STRV_INIT;
    int made = cb_step_key(b, stage, ins, CB_STEP_KEY_KNOWN, key, &inputs, err);
    if (made < 0)
        goto fail;
    if (made == 1) {
        cb_debug("cache", "%s: a source changed while its layer was written: not recorded", ins->node->original);
        cb_strv_free(&inputs);
        cb_step_key_of_layer(b, stage, ins, res.diff_id, key, &inputs);
    }
    bool hit = false;
    if (made == 0 && cb_step_cache_get(b, stage, ins, key, &hit, err) < 0)
        goto fail;
    cb_step_explain(b, stage, index, &inputs, hit);
    cb_last_build_note(b, stage, ins, hit);
    cb_progress_cache(hit);
    if (hit) {
        cb_layer_job_abort(&job);
    } else {
        size_t before = st->nlayers;
        if (layer_job_publish(b, stage, &job, &res, true, err) < 0)
            goto fail;
        cb_stage_history(b, st, ins, false);
        if (made == 0 && cb_step_cache_put(b, stage, ins, key, before, err) < 0)
            return -1; /* an earlier layer could not be sealed */
    }
    memcpy(st->key, key, sizeof key);
    return 0;
fail:
    cb_layer_job_abort(&job);
    return -1;
}

/* One instruction through the cache: a hit replays the record, a miss runs
 * the instruction and records its result. Only steps that change the tree
 * move the stage's key on: a config change (ENV, ARG, LABEL...) matters to
 * a later step only through what that step's key takes in (RUN: the env,
 * user, workdir, shell and build args; COPY: the expanded paths), as in
 * BuildKit, so an ARG whose value changed rebuilds only its users. */
static int run_cached(cb_build_t *b, size_t stage, size_t index, const cb_instr_t *ins, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    if (!cb_step_cacheable(ins))
        return run_instruction(b, stage, ins, err);
    char key[CB_DIGEST_STR_LEN + 1];
    cb_autostrv cb_strv_t inputs = CB_STRV_INIT;
    /* With --cache-from a hit is likely even on a fresh clone, where the
     * stat cache knows nothing: reading the files for the key is then
     * cheaper than writing a layer that the hit throws away. */
    cb_step_key_mode_t mode = b->opts->cache_from.len ? CB_STEP_KEY_READ : CB_STEP_KEY_PROBE;
    int made = cb_step_key(b, stage, ins, mode, key, &inputs, err);
    if (made < 0)
        return -1;
    if (made == 1)
        return run_cold_copy(b, stage, index, ins, err);
    bool hit = false;
    if (cb_step_cache_get(b, stage, ins, key, &hit, err) < 0)
        return -1;
    cb_step_explain(b, stage, index, &inputs, hit);
    cb_last_build_note(b, stage, ins, hit);
    cb_progress_cache(hit);
    if (hit) {
        if (ins->kind == CB_INSTR_WORKDIR) /* the config change; the record had the layer */
            free(workdir_config(b, stage, (const cb_instr_value_t *)ins));
        memcpy(st->key, key, sizeof key);
        return 0;
    }
    size_t before = st->nlayers;
    if (run_instruction(b, stage, ins, err) < 0)
        return -1;
    if (cb_step_cache_put(b, stage, ins, key, before, err) < 0)
        return -1; /* an earlier layer could not be sealed */
    memcpy(st->key, key, sizeof key);
    return 0;
}

int cb_stage_execute(cb_build_t *b, size_t stage, cb_error_t **err) {
    const cb_stage_t *s = &b->prog->stages[stage];
    const char *label = stage_label(b, stage);
    announce(b, stage, &s->from->base);
    if (start_stage(b, stage, err) < 0)
        return label ? cb_error_wrap(err, "stage %s", label) : -1;
    cb_progress_step_end();
    cb_step_key_from(b, stage);
    for (size_t i = 0; i < s->ninstrs; i++) {
        const cb_instr_t *ins = s->instrs[i];
        if (cb_interrupt_check(err) < 0)
            return -1;
        announce(b, stage, ins);
        if (run_cached(b, stage, i, ins, err) < 0)
            return ins->from_onbuild ? cb_onbuild_error(err, s, ins)
                                     : cb_error_locate(err, ins->file, ins->node->start_line, ins->node->col);
        cb_progress_step_end();
    }
    b->stages[stage].built = true;
    return 0;
}
