/* Step keys and the build cache (DESIGN.md "Cache keys").
 *
 * Every step that changes the tree (RUN, COPY, ADD, WORKDIR) gets a key
 * chained from the one before it (FROM: the base image's manifest digest, scratch and its platform, or the
 * base stage's last key; with the layer compression and the --timestamp /
 * SOURCE_DATE_EPOCH clamp, which change the layers' bytes): sha256 over the parent key, the instruction as
 * `cbuild parse --json` shows it after expansion (build args it uses
 * included; lines and the raw text left out, so moving or re-spacing a line
 * changes nothing), and its inputs:
 *   RUN        the stage's Env, User, WorkingDir and Shell, the network
 *              mode, and for each bind mount the key of what it shows
 *              (a stage's last key, an image's manifest digest, or the
 *              context directory's content key); never secret values.
 *   COPY/ADD   from the context: the key of the layer the instruction would
 *              write (layer writer in key mode, no tar: names, modes, owners,
 *              xattrs, links and contents from cache/statcache.h, no
 *              mtimes), made against an
 *              empty tree since the destination tree is the parent's;
 *              --from a stage: its last key; --from an image: its manifest; and the WORKDIR.
 * RUN, COPY, ADD and WORKDIR have records (cache/record.h): a hit adds the
 * recorded layer (or none) and the history entry without running
 * anything; the other instructions only change the config, which is
 * cheaper to redo than to look up. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/build_state.h"
#include "builder/copy.h"
#include "builder/parse_json.h"
#include "builder/step_remote_cache.h"
#include "cache/record.h"
#include "cache/sealer.h"
#include "cache/statcache.h"
#include "common/log.h"
#include "common/match.h"
#include "layer/writer.h"
#include "parser/graph.h"

/* A key being made, and (for --explain-cache) its inputs as "label\tvalue". */
typedef struct keyer {
    cb_sha256_t *h;
    cb_strv_t *inputs; /* NULL: not kept */
} keyer_t;

static void key_add(keyer_t *k, const char *label, const char *value) {
    cb_sha256_update(k->h, label, strlen(label) + 1);
    if (value)
        cb_sha256_update(k->h, value, strlen(value));
    cb_sha256_update(k->h, "\n", 1);
    if (k->inputs)
        cb_strv_take(k->inputs, cb_xasprintf("%s\t%s", label, value ? value : ""));
}

static void key_add_strv(keyer_t *h, const char *label, const cb_strv_t *v) {
    for (size_t i = 0; i < v->len; i++)
        key_add(h, label, v->items[i]);
}

/* The instruction after expansion, without where it was written. */
static char *instr_text(const cb_instr_t *ins) {
    json_t *o = cb_instr_to_json(ins);
    json_object_del(o, "start_line");
    json_object_del(o, "end_line");
    json_object_del(o, "original");
    json_object_del(o, "expanded");
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    char *out = cb_xstrdup(s ? s : "");
    free(s);
    return out;
}

/* lookup_only: no file is read, those the stat cache does not know are
 * counted and leave the key unmade (layer/writer.h). */
static int key_writer(cb_build_t *b, bool lookup_only, cb_layer_writer_t **w, cb_error_t **err) {
    cb_layer_writer_opts_t o = {
        .compression = CB_LAYER_UNCOMPRESSED,
        .content_digest = cb_statcache_digest_cb,
        .known_digest = cb_statcache_known_cb,
        .plain_file = cb_statcache_set_plain_cb,
        .lookup_digest = lookup_only ? cb_statcache_lookup_cb : NULL,
        .content_digest_ctx = b->statcache,
    };
    return cb_layer_writer_new(w, &o, NULL, NULL, err);
}

/* An empty tree for key-mode copies, made once per build. */
static int key_root(cb_build_t *b, int *fd, cb_error_t **err) {
    if (b->key_root_fd < 0) {
        cb_autofree char *p = cb_xasprintf("%s/key-root", b->scratch);
        /* Stages built at once in forked children each get here: the
         * directory stays empty, so they may share it. */
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return cb_error_set(err, errno, "create %s", p);
        b->key_root_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b->key_root_fd < 0)
            return cb_error_set(err, errno, "open %s", p);
    }
    *fd = b->key_root_fd;
    return 0;
}

/* The key of what a stage or image reference stands for, or NULL when it is
 * neither (then: the context). */
static int ref_key(cb_build_t *b, size_t stage, const char *from, char **out, cb_error_t **err) {
    *out = NULL;
    if (from == NULL || *from == '\0')
        return 0;
    size_t idx;
    if (cb_graph_find_stage(b->prog, from, true, &idx)) {
        if (idx >= stage)
            return cb_error_kind_set(err, CB_ERR_INPUT, "stage %s is not built before this one", from);
        *out = cb_xasprintf("stage %s", b->stages[idx].key);
        return 0;
    }
    cb_base_image_t *img = NULL;
    if (cb_base_image_get(b, from, NULL, &img, err) < 0)
        return -1;
    *out = cb_xasprintf("image %s", img->manifest_digest);
    return 0;
}

/* The key of the layer the COPY would write from what the stat cache knows
 * (lookup_only) or reads; res gets it, or the counts of what it did not know. */
static int copy_key(cb_build_t *b, size_t stage, const cb_instr_copy_t *ins, bool lookup_only,
                    cb_layer_result_t *res, cb_error_t **err) {
    cb_copy_env_t env;
    cb_copy_env_init(b, stage, &env);
    env.key_mode = true;
    env.clamp_mtime = false; /* mtimes are not part of a key */
    if (key_root(b, &env.dest_root_fd, err) < 0)
        return -1;
    cb_layer_writer_t *w = NULL;
    int rc = key_writer(b, lookup_only, &w, err);
    if (rc == 0)
        rc = cb_copy_to_layer(ins, ins->base.kind == CB_INSTR_ADD, &env, w, err);
    if (rc == 0)
        rc = cb_layer_writer_finish(w, res, err);
    cb_layer_writer_free(w);
    return rc;
}

/* 1: no key made (mode, see build_state.h). */
static int copy_inputs(cb_build_t *b, size_t stage, const cb_instr_copy_t *ins, cb_step_key_mode_t mode, keyer_t *h,
                       cb_error_t **err) {
    cb_autofree char *from = NULL;
    if (ref_key(b, stage, ins->from, &from, err) < 0)
        return -1;
    const cb_stage_state_t *st = &b->stages[stage];
    key_add(h, "workdir", cb_image_config_get_workdir(st->config)); /* relative destinations */
    if (from) {
        key_add(h, "from", from);
        return 0;
    }
    cb_layer_result_t res;
    if (copy_key(b, stage, ins, mode != CB_STEP_KEY_READ, &res, err) < 0)
        return -1;
    const cb_layer_key_counts_t *n = &res.key_counts;
    if (n->unknown > 0) {
        cb_debug("cache", "%s: %" PRIu64 " files (%" PRIu64 " bytes) not in the stat cache, %" PRIu64 " bytes in it",
                 ins->base.node->original, n->unknown, n->unknown_bytes, n->known_bytes);
        /* Mostly new to the stat cache (a cold build, a fresh clone): the
         * caller writes the layer first, hashing as it goes, as reading the
         * files for the key would read them twice. Mostly known (a rebuild
         * with a few files new or touched): those few are read for the key,
         * cheaper than a layer that a hit would throw away. */
        if (mode == CB_STEP_KEY_KNOWN || n->unknown_bytes >= n->known_bytes)
            return 1;
        if (copy_key(b, stage, ins, false, &res, err) < 0)
            return -1;
    }
    key_add(h, "content", res.diff_id);
    return 0;
}

/* The content key of a context directory a RUN binds. */
static int context_key(cb_build_t *b, const char *source, char out[CB_DIGEST_STR_LEN + 1], cb_error_t **err) {
    cb_layer_writer_t *w = NULL;
    cb_layer_result_t res;
    /* As the mount resolves it: inside the context, ".." stops at its top. */
    cb_autofree char *abs = cb_xasprintf("/%s", source ? source : "");
    cb_autofree char *clean = cb_path_clean(abs);
    const char *rel = clean[1] ? clean + 1 : ".";
    /* The RUN reads these files, not cbuild: read here, they are read once. */
    int rc = key_writer(b, false, &w, err);
    if (rc == 0)
        rc = cb_layer_add_tree(w, "source", b->context_fd, rel, NULL, err);
    if (rc == 0)
        rc = cb_layer_writer_finish(w, &res, err);
    cb_layer_writer_free(w);
    if (rc < 0)
        return cb_error_wrap(err, "bind source %s", source ? source : ".");
    memcpy(out, res.diff_id, CB_DIGEST_STR_LEN + 1);
    return 0;
}

static int run_inputs(cb_build_t *b, size_t stage, const cb_instr_run_t *ins, keyer_t *h, cb_error_t **err) {
    const cb_stage_state_t *st = &b->stages[stage];
    cb_autostrv cb_strv_t env = CB_STRV_INIT, shell = CB_STRV_INIT;
    cb_image_config_env_list(st->config, &env);
    key_add_strv(h, "env", &env);
    key_add(h, "user", cb_image_config_get_user(st->config));
    key_add(h, "workdir", cb_image_config_get_workdir(st->config));
    cb_image_config_get_shell(st->config, &shell);
    key_add_strv(h, "shell", &shell);
    key_add(h, "network", ins->network && strcmp(ins->network, "default") ? ins->network : b->opts->network);
    for (size_t i = 0; i < ins->nmounts; i++) {
        const cb_mount_t *m = &ins->mounts[i];
        if (m->type != CB_MOUNT_BIND)
            continue;
        cb_autofree char *from = NULL;
        if (ref_key(b, stage, m->from, &from, err) < 0)
            return -1;
        if (from) {
            key_add(h, "bind", from);
            continue;
        }
        char digest[CB_DIGEST_STR_LEN + 1];
        if (context_key(b, m->source, digest, err) < 0)
            return -1;
        key_add(h, "bind context", digest);
    }
    return 0;
}

void cb_step_key_from(cb_build_t *b, size_t stage) {
    cb_stage_state_t *st = &b->stages[stage];
    const cb_graph_stage_t *gs = &b->ev->graph->stages[stage];
    const cb_instr_from_t *from = b->prog->stages[stage].from;
    cb_autosha256 cb_sha256_t *sha = cb_sha256_new();
    keyer_t kk = {.h = sha}, *h = &kk;
    key_add(h, "cbuild step key", "2");
    /* What the layers' bytes depend on besides the steps. */
    key_add(h, "compression", cb_layer_compression_name(b->compression));
    cb_autofree char *clamp = b->opts->has_timestamp ? cb_xasprintf("%lld", (long long)b->opts->timestamp) : NULL;
    key_add(h, "timestamp", clamp);
    if (gs->base >= 0) {
        key_add(h, "stage", b->stages[gs->base].key);
    } else if (cb_str_ieq(from->image, "scratch")) {
        key_add(h, "scratch", cb_image_config_os(st->config));
        key_add(h, "arch", cb_image_config_arch(st->config));
    } else {
        cb_base_image_t *img = NULL;
        cb_autoerr cb_error_t *err = NULL;
        /* start_stage resolved it already: this cannot fail. */
        if (cb_base_image_get(b, from->image, from->platform, &img, &err) == 0)
            key_add(h, "image", img->manifest_digest);
    }
    cb_sha256_final(sha, st->key);
}

int cb_step_key(cb_build_t *b, size_t stage, const cb_instr_t *ins, cb_step_key_mode_t mode,
                char key[CB_DIGEST_STR_LEN + 1], cb_strv_t *inputs, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    cb_autosha256 cb_sha256_t *sha = cb_sha256_new();
    keyer_t kk = {.h = sha, .inputs = inputs}, *h = &kk;
    key_add(h, "parent", st->key);
    cb_autofree char *text = instr_text(ins);
    key_add(h, "instruction", text);
    int rc = 0;
    if (ins->kind == CB_INSTR_RUN)
        rc = run_inputs(b, stage, (const cb_instr_run_t *)ins, h, err);
    else if (ins->kind == CB_INSTR_COPY || ins->kind == CB_INSTR_ADD)
        rc = copy_inputs(b, stage, (const cb_instr_copy_t *)ins, mode, h, err);
    if (rc != 0)
        return rc;
    cb_sha256_final(sha, key);
    return 0;
}

void cb_step_key_of_layer(cb_build_t *b, size_t stage, const cb_instr_t *ins, const char *diff_id,
                          char key[CB_DIGEST_STR_LEN + 1], cb_strv_t *inputs) {
    cb_autosha256 cb_sha256_t *sha = cb_sha256_new();
    keyer_t kk = {.h = sha, .inputs = inputs}, *h = &kk;
    key_add(h, "parent", b->stages[stage].key);
    cb_autofree char *text = instr_text(ins);
    key_add(h, "instruction", text);
    key_add(h, "layer", diff_id);
    cb_sha256_final(sha, key);
}

bool cb_step_cacheable(const cb_instr_t *ins) {
    return ins->kind == CB_INSTR_RUN || ins->kind == CB_INSTR_COPY || ins->kind == CB_INSTR_ADD ||
           ins->kind == CB_INSTR_WORKDIR;
}

/* A record's layer blob is in the store with its size: records are written
 * without fsync, so after a power cut one may name a blob that never made
 * it to disk. */
static bool layer_present(const cb_build_t *b, const cb_oci_descriptor_t *layer) {
    cb_autofree char *path = cb_store_blob_path(b->store, layer->digest);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == layer->size;
}

int cb_step_cache_get(cb_build_t *b, size_t stage, const cb_instr_t *ins, const char *key, bool *hit,
                      cb_error_t **err) {
    *hit = false;
    if (b->opts->no_cache || b->stages[stage].no_cache)
        return 0;
    cb_cache_record_t rec = {0};
    bool found = false;
    if (cb_cache_record_get(b->root, key, &rec, &found, err) < 0)
        return -1;
    if (!found && b->opts->cache_from.len > 0) {
        cb_remote_cache_lookup(b, key);
        if (cb_cache_record_get(b->root, key, &rec, &found, err) < 0)
            return -1;
    }
    if (found && !rec.empty_layer && !layer_present(b, &rec.layer)) {
        cb_debug("cache", "cache record %.19s: its layer %s is missing or damaged", key, rec.layer.digest);
        found = false;
    }
    if (!found) {
        cb_cache_record_clear(&rec);
        return 0;
    }
    cb_stage_state_t *st = &b->stages[stage];
    int rc = 0;
    if (!rec.empty_layer) {
        /* The record is checked against the store; the layer joins the stage
         * as if just written (and the tree, when there is one). */
        rc = cb_stage_add_reused_layer(b, stage, &rec.layer, rec.diff_id, err);
    }
    if (rc == 0) {
        cb_stage_history(b, st, ins, rec.empty_layer);
        cb_autoerr cb_error_t *terr = NULL;
        (void)cb_cache_record_touch(b->root, key, &terr);
        cb_info("step", "--> Using cache %.12s", key + 7);
        cb_remote_cache_note(b, key);
        *hit = true;
    }
    cb_cache_record_clear(&rec);
    return rc;
}

int cb_step_cache_put(cb_build_t *b, size_t stage, const cb_instr_t *ins, const char *key, size_t nlayers_before,
                      cb_error_t **err) {
    const cb_stage_state_t *st = &b->stages[stage];
    cb_cache_record_t rec = {.empty_layer = st->nlayers == nlayers_before};
    if (!rec.empty_layer) {
        const cb_image_layer_t *l = &st->layers[st->nlayers - 1];
        rec.layer = l->desc;
        rec.diff_id = l->diff_id;
    }
    rec.created_by = ins->node->original;
    /* Written by the sealer once the step's blob is durable under its name
     * (a record that cannot be written is a warning there). */
    if (cb_sealer_record(b->sealer, b->root, key, &rec, err) < 0)
        return -1;
    cb_remote_cache_note(b, key);
    return 0;
}
