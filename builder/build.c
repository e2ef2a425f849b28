/* cb_build_run: Containerfile in, image in the store (and outputs) out.
 *
 * Parse, evaluate ARG/ENV scoping (which resolves base images for their
 * ENV), then run the stages the target needs in dependency order, write the
 * target's config and manifest, tag it, and write the requested outputs.
 * Everything temporary lives under ROOT/tmp/build-XXXXXX and is removed at
 * the end, success or not. Blobs are published only when complete, and tags
 * only after every blob they need, so a failed build changes no tag.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/build_state.h"
#include "builder/last_build.h"
#include "builder/progress.h"
#include "builder/outputs.h"
#include "builder/userns.h"
#include "cache/statcache.h"
#include "cache/index.h"
#include "cache/prune.h"
#include "cache/sealer.h"
#include "cache/refname.h"
#include "common/config.h"
#include "common/fsutil.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "layer/apply.h"

/* The config of a base image (resolved into the store on first use). */
static int base_config(cb_build_t *b, const char *image, const char *platform, cb_image_config_t **cfg,
                       cb_error_t **err) {
    cb_base_image_t *img = NULL;
    if (cb_base_image_get(b, image, platform, &img, err) < 0)
        return -1;
    if (cb_image_config_parse(img->config_json, img->config_len, cfg, err) < 0)
        return cb_error_wrap(err, "image %s", image);
    return 0;
}

/* eval's callback: a stage FROM an image starts with the image's ENV. */
static int image_env(void *ctx, const char *image, const char *platform, cb_env_t *env,
                     cb_error_t **err) {
    cb_build_t *b = ctx;
    if (cb_str_ieq(image, "scratch")) {
        cb_env_set(env, "PATH", CB_DEFAULT_PATH);
        return 0;
    }
    cb_autoimage_config cb_image_config_t *cfg = NULL;
    if (base_config(b, image, platform, &cfg, err) < 0)
        return -1;
    cb_autostrv cb_strv_t list = CB_STRV_INIT;
    cb_image_config_env_list(cfg, &list);
    for (size_t i = 0; i < list.len; i++) {
        char *eq = strchr(list.items[i], '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        cb_env_set(env, list.items[i], eq + 1);
    }
    return 0;
}

/* eval's callback: the ONBUILD triggers a stage FROM an image runs first.
 * start_stage drops them from the config, so the new image does not carry
 * them on. */
static int image_onbuild(void *ctx, const char *image, const char *platform, cb_strv_t *triggers,
                         cb_error_t **err) {
    cb_build_t *b = ctx;
    if (cb_str_ieq(image, "scratch"))
        return 0;
    cb_autoimage_config cb_image_config_t *cfg = NULL;
    if (base_config(b, image, platform, &cfg, err) < 0)
        return -1;
    cb_image_config_take_onbuild(cfg, triggers);
    return 0;
}

static int find_containerfile(const cb_build_opts_t *o, char **out, cb_error_t **err) {
    struct stat st;
    if (stat(o->context, &st) < 0)
        return cb_error_set(err, errno, "build context %s", o->context);
    if (!S_ISDIR(st.st_mode))
        return cb_error_kind_set(err, CB_ERR_INPUT, "build context %s is not a directory", o->context);
    if (o->file) {
        *out = cb_xstrdup(o->file);
        return 0;
    }
    static const char *const names[] = {"Containerfile", "Dockerfile"};
    for (size_t i = 0; i < CB_ARRAY_LEN(names); i++) {
        char *p = cb_xasprintf("%s/%s", o->context, names[i]);
        if (access(p, F_OK) == 0) {
            *out = p;
            return 0;
        }
        free(p);
    }
    return cb_error_kind_set(err, CB_ERR_INPUT, "no Containerfile or Dockerfile in %s (use -f FILE)",
                             o->context);
}

/* SOURCE_DATE_EPOCH as a build arg works like --timestamp, as in BuildKit. */
static void timestamp_from_build_args(const cb_build_opts_t *o, bool *has, int64_t *ts) {
    for (size_t i = 0; i < o->build_args.len && !*has; i++) {
        const char *a = o->build_args.items[i];
        if (cb_str_has_prefix(a, "SOURCE_DATE_EPOCH=")) {
            char *end;
            long long v = strtoll(a + 18, &end, 10);
            if (*end == '\0' && end != a + 18 && v >= 0) {
                *has = true;
                *ts = v;
            }
        }
    }
}

static int prepare(cb_build_t *b, cb_error_t **err) {
    const cb_build_opts_t *o = b->opts;
    /* A bad -t fails before any step runs (finish checks them again). */
    for (size_t i = 0; i < o->tags.len; i++) {
        cb_autofree char *n = NULL;
        if (cb_refname_normalize(o->tags.items[i], &n, err) < 0)
            return cb_error_wrap(err, "-t %s", o->tags.items[i]);
    }
    if (cb_root_open(o->root, &b->root, err) < 0)
        return -1;
    if (cb_store_open(b->root->store, b->root->tmp, &b->store, err) < 0)
        return -1;
    b->sealer = cb_sealer_new();
    cb_autofree char *sc = cb_xasprintf("%s/statcache", b->root->cache);
    if (cb_statcache_open(sc, &b->statcache, err) < 0)
        return -1;
    b->scratch = cb_xasprintf("%s/build-XXXXXX", b->root->tmp);
    if (mkdtemp(b->scratch) == NULL) {
        int e = errno;
        free(b->scratch);
        b->scratch = NULL;
        return cb_error_set(err, e, "create a build directory in %s", b->root->tmp);
    }
    if (find_containerfile(o, &b->containerfile, err) < 0)
        return -1;
    b->containerfile_real = realpath(b->containerfile, NULL);
    if (b->containerfile_real == NULL)
        b->containerfile_real = cb_xstrdup(b->containerfile);
    if (cb_parse_file(b->containerfile, &b->ast, err) < 0)
        return -1;
    if (cb_program_from_ast(b->ast, &b->prog, err) < 0)
        return -1;
    b->context_fd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->context_fd < 0)
        return cb_error_set(err, errno, "open the build context %s", o->context);
    if (cb_ignore_load_file(o->context, o->file, &b->ignore, err) < 0)
        return -1;
    cb_eval_opts_t eo = {
        .build_args = &o->build_args,
        .target = o->target,
        .target_platform = o->platform,
        .image_env = image_env,
        .image_env_ctx = b,
        .image_onbuild = image_onbuild,
    };
    if (cb_eval_program(b->prog, &eo, &b->ev, err) < 0)
        return -1;
    for (size_t i = 0; i < b->ev->warnings.len; i++)
        cb_warn(NULL, "%s", b->ev->warnings.items[i]);
    b->nstages = b->prog->nstages;
    b->stages = cb_xcalloc(b->nstages + 1, sizeof *b->stages);
    for (size_t i = 0; i < b->nstages; i++)
        b->stages[i].rootfs_fd = -1;
    for (size_t i = 0; i < o->no_cache_filter.len; i++) {
        size_t s;
        const char *name = o->no_cache_filter.items[i];
        if (!cb_graph_find_stage(b->prog, name, true, &s))
            return cb_error_set(err, 0, "--no-cache-filter %s: %s has no stage of that name or index",
                                name, b->containerfile);
        b->stages[s].no_cache = true;
    }
    const cb_graph_t *g = b->ev->graph;
    for (size_t i = 0; i < g->norder; i++)
        b->nsteps += 1 + (unsigned)b->prog->stages[g->order[i]].ninstrs;
    return 0;
}

static int write_iidfile(const char *path, const char *id, cb_error_t **err) {
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return cb_error_set(err, errno, "--iidfile %s", path);
    fputs(id, f);
    if (fclose(f) != 0)
        return cb_error_set(err, errno, "--iidfile %s", path);
    return 0;
}

static int finish(cb_build_t *b, char **image_digest, cb_error_t **err) {
    const cb_build_opts_t *o = b->opts;
    size_t target = b->ev->graph->target;
    cb_stage_state_t *st = &b->stages[target];
    for (size_t i = 0; i < o->labels.len; i++) {
        cb_autofree char *kv = cb_xstrdup(o->labels.items[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';
        cb_image_config_set_label(st->config, kv, eq + 1);
    }
    cb_image_config_set_created(st->config, b->created);
    cb_image_reuse_created(b, st->config);
    /* Every layer durable in the store before an image names it. */
    if (cb_sealer_wait(b->sealer, err) < 0)
        return -1;

    /* Names are checked before anything is written for them. */
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    for (size_t i = 0; i < o->tags.len; i++) {
        char *n = NULL;
        if (cb_refname_normalize(o->tags.items[i], &n, err) < 0)
            return cb_error_wrap(err, "-t %s", o->tags.items[i]);
        cb_strv_take(&names, n);
    }

    cb_oci_descriptor_t mdesc = {0};
    char config_digest[CB_DIGEST_STR_LEN + 1];
    if (cb_image_write(b, target, &mdesc, config_digest, err) < 0)
        return -1;
    /* An untagged build stays in the store as an untagged entry (as buildah
     * keeps it), so `cbuild images` shows it and its blobs are referenced. */
    int rc = names.len == 0 ? cb_index_put(b->store, NULL, &mdesc, err) : 0;
    for (size_t i = 0; i < names.len && rc == 0; i++) {
        rc = cb_index_tag(b->store, names.items[i], &mdesc, err);
        if (rc == 0)
            cb_info("commit", "Tagged %s", names.items[i]);
    }
    for (size_t i = 0; i < o->noutputs && rc == 0; i++)
        rc = cb_output_write(b, target, &mdesc, &o->outputs[i], err);
    if (rc == 0 && o->iidfile)
        rc = write_iidfile(o->iidfile, config_digest, err);
    if (rc == 0) {
        cb_autoerr cb_error_t *lerr = NULL;
        if (cb_last_build_save(b, &lerr) < 0)
            cb_warn("graph", "cannot record the steps' outcomes for cbuild graph: %s", lerr->msg);
    }
    if (rc == 0) {
        cb_progress_image(config_digest, mdesc.digest, &names);
        if (image_digest)
            *image_digest = cb_xstrdup(mdesc.digest);
    }
    cb_oci_descriptor_clear(&mdesc);
    return rc;
}

static void cleanup(cb_build_t *b) {
    /* A failed build keeps what its steps made (a rerun reuses it), unless
     * a signal ends it: then what is not sealed yet is dropped. */
    if (b->sealer && cb_interrupt_signal() == 0) {
        cb_autoerr cb_error_t *serr = NULL;
        if (cb_sealer_wait(b->sealer, &serr) < 0)
            cb_warn("cache", "%s", serr->msg);
    }
    cb_sealer_free(b->sealer);
    if (b->statcache) {
        /* Worth keeping even after a failed build: the files were read. */
        cb_autoerr cb_error_t *err = NULL;
        if (cb_statcache_save(b->statcache, &err) < 0)
            cb_warn("cache", "cannot save the context's file digests: %s", err->msg);
        cb_statcache_free(b->statcache);
    }
    if (b->key_root_fd >= 0)
        close(b->key_root_fd);
    for (size_t i = 0; i < b->nstages; i++) {
        cb_stage_state_t *st = &b->stages[i];
        cb_image_config_free(st->config);
        cb_image_layers_free(st->layers, st->nlayers);
        if (st->rootfs_fd >= 0)
            close(st->rootfs_fd);
        free(st->rootfs);
    }
    free(b->stages);
    for (size_t i = 0; i < b->nbases; i++)
        cb_base_image_free(b->bases[i]);
    free(b->bases);
    if (b->context_fd >= 0)
        close(b->context_fd);
    cb_ignore_free(b->ignore);
    cb_eval_free(b->ev);
    cb_program_free(b->prog);
    cb_ast_free(b->ast);
    free(b->containerfile);
    free(b->containerfile_real);
    if (b->scratch) {
        cb_autoerr cb_error_t *e = NULL;
        if (cb_rm_rf(b->scratch, &e) < 0)
            cb_warn(NULL, "could not remove %s", b->scratch);
        free(b->scratch);
    }
    cb_store_free(b->store);
    cb_root_free(b->root);
}

/* cbuild.conf's max-layer-size, else the default. */
static int max_layer_size(uint64_t *out, cb_error_t **err) {
    const cb_config_t *c = cb_config();
    *out = CB_LAYER_DEFAULT_MAX_SIZE;
    if (c->max_layer_size == NULL)
        return 0;
    int64_t n;
    cb_autoerr cb_error_t *why = NULL;
    if (cb_prune_parse_size(c->max_layer_size, &n, &why) < 0)
        return cb_error_at(err, c->path, c->max_layer_size_line, 0,
                           "max-layer-size = %s: expected a size such as 500MB or 32GB (0: no limit)",
                           c->max_layer_size);
    *out = (uint64_t)n;
    return 0;
}

int cb_build_run(const cb_build_opts_t *opts, char **image_digest, cb_error_t **err) {
    cb_build_t b = {0};
    b.opts = opts;
    b.context_fd = -1;
    b.key_root_fd = -1;
    /* In our user namespace we are root, but only for the mapped ids: a
     * chown beyond them fails and is skipped as when not root at all. */
    b.rootless = geteuid() != 0 || cb_userns_mode() != CB_USERNS_NONE;
    b.ids_exact = geteuid() == 0 && cb_userns_mode() != CB_USERNS_SINGLE;
    if (max_layer_size(&b.max_layer_size, err) < 0)
        return -1;
    b.compression = opts->compression == CB_COMPRESS_ZSTD   ? CB_LAYER_ZSTD
                    : opts->compression == CB_COMPRESS_NONE ? CB_LAYER_UNCOMPRESSED
                                                            : CB_LAYER_GZIP;
    bool has_ts = opts->has_timestamp;
    int64_t ts = opts->timestamp;
    timestamp_from_build_args(opts, &has_ts, &ts);
    cb_build_opts_t effective = *opts;
    effective.has_timestamp = has_ts;
    effective.timestamp = ts;
    b.opts = &effective;
    b.created = has_ts ? (time_t)ts : time(NULL);

    int rc = prepare(&b, err);
    if (rc == 0)
        rc = cb_schedule_stages(&b, err);
    if (rc == 0)
        rc = finish(&b, image_digest, err);
    cleanup(&b);
    return rc;
}
