/* cb_copy_to_layer: checks the instruction's flags, resolves the
 * destination, counts what the sources name (several need a directory
 * destination), then adds each source: heredoc, URL or local path. */
#include <errno.h>
#include <string.h>

#include "builder/copy.h"
#include "builder/copy_private.h"
#include "common/util.h"

static bool is_git_source(const char *s) {
    if (cb_str_has_prefix(s, "git@") || cb_str_has_prefix(s, "git://"))
        return true;
    if (!copy_is_url(s))
        return false;
    size_t n = strcspn(s, "?#");
    return n >= 4 && strncmp(s + n - 4, ".git", 4) == 0;
}

static int check_flags(const copy_ctx_t *c, cb_error_t **err) {
    const cb_instr_copy_t *ins = c->ins;
    if (ins->sources.len == 0)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s requires at least one source", c->cmd);
    if (ins->checksum && ins->checksum[0]) {
        if (!c->is_add)
            return cb_error_kind_set(err, CB_ERR_INPUT, "checksum can't be specified for COPY");
        if (ins->sources.len != 1)
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "checksum can't be specified for multiple sources");
        if (!copy_is_url(ins->sources.items[0]))
            return cb_error_kind_set(err, CB_ERR_INPUT, "checksum requires HTTP(S) sources");
    }
    for (size_t i = 0; i < ins->sources.len; i++) {
        const char *s = ins->sources.items[i];
        if (copy_heredoc_of(ins, s))
            continue;
        if (c->is_add && is_git_source(s))
            return cb_error_kind_set(err, CB_ERR_INPUT, "ADD: git sources are not supported: %s",
                                     s);
        if (copy_is_url(s) && !c->is_add)
            return cb_error_kind_set(err, CB_ERR_INPUT, "source can't be a URL for COPY: %s", s);
        if (copy_is_url(s) && c->from)
            return cb_error_kind_set(err, CB_ERR_INPUT, "ADD: a URL source cannot use --from");
    }
    return 0;
}

static int parse_options(copy_ctx_t *c, cb_error_t **err) {
    const cb_instr_copy_t *ins = c->ins;
    if (ins->excludes.len) {
        cb_autobuf cb_buf_t text = CB_BUF_INIT;
        for (size_t i = 0; i < ins->excludes.len; i++) {
            cb_buf_puts(&text, ins->excludes.items[i]);
            cb_buf_putc(&text, '\n');
        }
        if (cb_ignore_parse(cb_buf_str(&text), text.len, "--exclude", &c->exclude, err) < 0)
            return cb_error_wrap(err, "%s", c->cmd);
        cb_ignore_set_walk(c->exclude, CB_IGNORE_WALK_FILTER); /* BuildKit's copy filter */
    }
    if (ins->chown && ins->chown[0] && c->env->key_mode) {
        c->set_owner = c->chown_given = true;
    } else if (ins->chown && ins->chown[0]) {
        if (copy_parse_chown(ins->chown, c->env->dest_root_fd, &c->uid, &c->gid, err) < 0)
            return cb_error_wrap(err, "%s", c->cmd);
        c->set_owner = c->chown_given = true;
    } else if (!c->from || c->env->ids_collapsed) {
        /* Docker's COPY default; a collapsed --from root holds our own ids. */
        c->set_owner = true;
    }
    if (ins->chmod && copy_parse_chmod(ins->chmod, &c->chmod, err) < 0)
        return cb_error_wrap(err, "%s", c->cmd);
    return 0;
}

static int add_source(copy_ctx_t *c, const char *src, bool count_only, size_t *count,
                      cb_error_t **err) {
    const cb_heredoc_t *doc = copy_heredoc_of(c->ins, src);
    if (doc || copy_is_url(src)) {
        if (count_only) {
            (*count)++;
            return 0;
        }
        return doc ? copy_add_heredoc(c, doc, err) : copy_add_url(c, src, err);
    }
    return copy_local_source(c, src, count_only, count, err);
}

static int run(copy_ctx_t *c, cb_error_t **err) {
    if (check_flags(c, err) < 0 || parse_options(c, err) < 0 || copy_dest_resolve(c, err) < 0)
        return -1;
    const cb_strv_t *srcs = &c->ins->sources;
    size_t count = 0;
    for (size_t i = 0; i < srcs->len; i++)
        if (add_source(c, srcs->items[i], true, &count, err) < 0)
            return -1;
    /* docker fails on a wildcard that matches nothing only when no other
     * source selects anything either. */
    if (count == 0 && c->unmatched)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: no files match '%s' in %s", c->cmd,
                                 c->unmatched, copy_where(c));
    if (count > 1 && !c->dest_is_dir && !c->ins->parents)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "When using %s with more than one source file, the destination "
                                 "must be a directory and end with a /",
                                 c->cmd);
    if (c->ins->parents)
        c->dest_is_dir = true;
    for (size_t i = 0; i < srcs->len; i++)
        if (add_source(c, srcs->items[i], false, &count, err) < 0)
            return -1;
    return 0;
}

int cb_copy_to_layer(const cb_instr_copy_t *ins, bool is_add, const cb_copy_env_t *env,
                     cb_layer_writer_t *w, cb_error_t **err) {
    copy_ctx_t c = {
        .ins = ins,
        .cmd = is_add ? "ADD" : "COPY",
        .is_add = is_add,
        .env = env,
        .w = w,
        .from = ins->from && ins->from[0],
    };
    c.src_root = c.from ? env->src_root_fd : env->context_fd;
    c.ignore = c.from ? NULL : env->ignore;
    int rc;
    if (c.src_root < 0)
        rc = cb_error_kind_set(err, CB_ERR_INTERNAL, "%s: no %s to copy from", c.cmd,
                               c.from ? "--from root" : "build context");
    else
        rc = run(&c, err);
    cb_ignore_free(c.exclude);
    copy_chmod_clear(&c.chmod);
    copy_resolved_clear(&c.dest);
    cb_pathset_free(&c.dirs);
    if (rc < 0 && err && *err && (*err)->file == NULL && ins->base.node)
        cb_error_locate(err, ins->base.file, ins->base.node->start_line, ins->base.node->col);
    return rc < 0 ? -1 : 0;
}
