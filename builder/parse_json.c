/* The instruction graph as JSON: what `cbuild parse --json` prints. */
#include "builder/parse_json.h"

#include <stdarg.h>
#include <string.h>

/* Containerfiles need not be UTF-8: keep their bytes rather than drop them. */
static json_t *jstr(const char *s) {
    json_t *j = json_string(s);
    return j ? j : json_string_nocheck(s);
}

static json_t *jfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *jfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cb_autofree char *s = cb_xvasprintf(fmt, ap);
    va_end(ap);
    return jstr(s);
}

static json_t *str_or_null(const char *s) {
    return s ? jstr(s) : json_null();
}

static json_t *strv_json(const cb_strv_t *v) {
    json_t *a = json_array();
    for (size_t i = 0; i < v->len; i++)
        json_array_append_new(a, jstr(v->items[i]));
    return a;
}

static void append_strv(json_t *a, const cb_strv_t *v) {
    for (size_t i = 0; i < v->len; i++)
        json_array_append_new(a, jstr(v->items[i]));
}

/* "K=V" or "K" entries as an object (null for declared-but-unset). */
static json_t *kv_strv_json(const cb_strv_t *v) {
    json_t *o = json_object();
    for (size_t i = 0; i < v->len; i++) {
        const char *eq = strchr(v->items[i], '=');
        cb_autofree char *k = eq ? cb_xstrndup(v->items[i], (size_t)(eq - v->items[i])) : cb_xstrdup(v->items[i]);
        json_object_set_new(o, k, eq ? jstr(eq + 1) : json_null());
    }
    return o;
}

static json_t *mount_json(const cb_mount_t *m) {
    json_t *o = json_object();
    json_object_set_new(o, "type", jstr(cb_mount_type_name(m->type)));
    json_object_set_new(o, "target", str_or_null(m->target));
    if (m->source)
        json_object_set_new(o, "source", jstr(m->source));
    if (m->from)
        json_object_set_new(o, "from", jstr(m->from));
    if (m->id)
        json_object_set_new(o, "id", jstr(m->id));
    if (m->env)
        json_object_set_new(o, "env", jstr(m->env));
    if (m->sharing != CB_SHARING_DEFAULT)
        json_object_set_new(o, "sharing", jstr(cb_mount_sharing_name(m->sharing)));
    json_object_set_new(o, "readonly", json_boolean(m->readonly));
    if (m->type == CB_MOUNT_SECRET || m->type == CB_MOUNT_SSH)
        json_object_set_new(o, "required", json_boolean(m->required));
    if (m->mode >= 0)
        json_object_set_new(o, "mode", json_integer(m->mode));
    if (m->uid >= 0)
        json_object_set_new(o, "uid", json_integer(m->uid));
    if (m->gid >= 0)
        json_object_set_new(o, "gid", json_integer(m->gid));
    if (m->size > 0)
        json_object_set_new(o, "size", json_integer(m->size));
    return o;
}

static void set_str_flag(json_t *flags, const char *name, const char *v) {
    if (v)
        json_object_set_new(flags, name, jstr(v));
}

static void kind_json(const cb_instr_t *in, json_t *o, json_t *flags, json_t *args) {
    switch (in->kind) {
    case CB_INSTR_FROM: {
        const cb_instr_from_t *f = (const cb_instr_from_t *)in;
        json_array_append_new(args, jstr(f->image));
        if (f->name) {
            json_array_append_new(args, jstr("AS"));
            json_array_append_new(args, jstr(f->name));
        }
        set_str_flag(flags, "platform", f->platform);
        break;
    }
    case CB_INSTR_ARG: {
        const cb_instr_arg_t *a = (const cb_instr_arg_t *)in;
        for (size_t i = 0; i < a->nargs; i++)
            json_array_append_new(args, a->args[i].value ? jfmt("%s=%s", a->args[i].key, a->args[i].value)
                                                         : jstr(a->args[i].key));
        break;
    }
    case CB_INSTR_RUN: {
        const cb_instr_run_t *r = (const cb_instr_run_t *)in;
        append_strv(args, &r->cmd);
        json_object_set_new(o, "shell_form", json_boolean(r->shell_form));
        if (r->mount_specs.len) {
            json_t *mounts = json_array();
            for (size_t i = 0; i < r->nmounts; i++)
                json_array_append_new(mounts, in->expanded || !strchr(r->mount_specs.items[i], '$')
                                                  ? mount_json(&r->mounts[i])
                                                  : jstr(r->mount_specs.items[i]));
            json_object_set_new(flags, "mount", mounts);
        }
        set_str_flag(flags, "network", r->network);
        set_str_flag(flags, "security", r->security);
        if (r->devices.len)
            json_object_set_new(flags, "device", strv_json(&r->devices));
        if (r->proxy_env.len)
            json_object_set_new(o, "proxy_env", kv_strv_json(&r->proxy_env));
        break;
    }
    case CB_INSTR_CMD:
    case CB_INSTR_ENTRYPOINT:
    case CB_INSTR_SHELL: {
        const cb_instr_exec_t *e = (const cb_instr_exec_t *)in;
        append_strv(args, &e->cmd);
        json_object_set_new(o, "shell_form", json_boolean(e->shell_form));
        break;
    }
    case CB_INSTR_COPY:
    case CB_INSTR_ADD: {
        const cb_instr_copy_t *c = (const cb_instr_copy_t *)in;
        for (size_t i = 0; i < c->sources.len; i++)
            json_array_append_new(args, jstr(c->sources.items[i]));
        json_array_append_new(args, jstr(c->dest));
        set_str_flag(flags, "from", c->from);
        set_str_flag(flags, "chown", c->chown);
        set_str_flag(flags, "chmod", c->chmod);
        if (c->link)
            json_object_set_new(flags, "link", json_true());
        if (c->parents)
            json_object_set_new(flags, "parents", json_true());
        if (c->excludes.len)
            json_object_set_new(flags, "exclude", strv_json(&c->excludes));
        set_str_flag(flags, "checksum", c->checksum);
        if (c->keep_git_dir)
            json_object_set_new(flags, "keep-git-dir", json_true());
        if (c->unpack >= 0)
            json_object_set_new(flags, "unpack", json_boolean(c->unpack));
        break;
    }
    case CB_INSTR_ENV:
    case CB_INSTR_LABEL: {
        const cb_instr_kvs_t *k = (const cb_instr_kvs_t *)in;
        for (size_t i = 0; i < k->npairs; i++)
            json_array_append_new(args, jfmt("%s=%s", k->pairs[i].key, k->pairs[i].value));
        break;
    }
    case CB_INSTR_EXPOSE:
    case CB_INSTR_VOLUME:
        append_strv(args, &((const cb_instr_words_t *)in)->words);
        break;
    case CB_INSTR_USER:
    case CB_INSTR_WORKDIR:
    case CB_INSTR_STOPSIGNAL:
    case CB_INSTR_MAINTAINER:
        json_array_append_new(args, jstr(((const cb_instr_value_t *)in)->value));
        break;
    case CB_INSTR_HEALTHCHECK: {
        const cb_instr_healthcheck_t *h = (const cb_instr_healthcheck_t *)in;
        if (h->none)
            json_array_append_new(args, jstr("NONE"));
        else
            append_strv(args, &h->test);
        const struct {
            const char *name;
            int64_t v;
        } d[] = {{"interval", h->interval_ns},
                 {"timeout", h->timeout_ns},
                 {"start-period", h->start_period_ns},
                 {"start-interval", h->start_interval_ns}};
        for (size_t i = 0; i < CB_ARRAY_LEN(d); i++)
            if (d[i].v)
                json_object_set_new(flags, d[i].name, jfmt("%lldns", (long long)d[i].v));
        if (h->retries)
            json_object_set_new(flags, "retries", json_integer(h->retries));
        break;
    }
    case CB_INSTR_ONBUILD: {
        const cb_instr_onbuild_t *ob = (const cb_instr_onbuild_t *)in;
        json_array_append_new(args, jstr(ob->expression));
        json_object_set_new(o, "trigger", jstr(cb_instr_kind_name(ob->trigger->kind)));
        break;
    }
    }
}

json_t *cb_instr_to_json(const cb_instr_t *in) {
    json_t *o = json_object();
    const cb_node_t *n = in->node;
    json_object_set_new(o, "keyword", jstr(cb_instr_kind_name(in->kind)));
    json_object_set_new(o, "start_line", json_integer(n->start_line));
    json_object_set_new(o, "end_line", json_integer(n->end_line));
    json_object_set_new(o, "original", jstr(n->original));
    json_object_set_new(o, "expanded", json_boolean(in->expanded));
    if (in->from_onbuild) /* a base image's trigger, placed at the FROM line */
        json_object_set_new(o, "from_onbuild", json_true());
    json_t *flags = json_object();
    json_t *args = json_array();
    kind_json(in, o, flags, args);
    json_object_set_new(o, "flags", flags);
    json_object_set_new(o, "args", args);
    if (n->nheredocs) {
        json_t *hs = json_array();
        for (size_t i = 0; i < n->nheredocs; i++)
        {
            json_t *h = json_object();
            json_object_set_new(h, "name", jstr(n->heredocs[i].name));
            bool copy = in->kind == CB_INSTR_COPY || in->kind == CB_INSTR_ADD;
            const cb_strv_t *bodies = copy ? &((const cb_instr_copy_t *)in)->heredocs : NULL;
            json_object_set_new(h, "content",
                                jstr(bodies && i < bodies->len ? bodies->items[i] : n->heredocs[i].content));
            json_object_set_new(h, "expand", json_boolean(n->heredocs[i].expand));
            json_object_set_new(h, "chomp", json_boolean(n->heredocs[i].chomp));
            json_array_append_new(hs, h);
        }
        json_object_set_new(o, "heredocs", hs);
    }
    json_object_set_new(o, "build_args", kv_strv_json(&in->used_args));
    return o;
}

static json_t *env_json(const cb_env_t *env) {
    return kv_strv_json(&env->vars);
}

json_t *cb_program_to_json(const cb_program_t *prog, const cb_eval_t *ev) {
    const cb_graph_t *g = ev->graph;
    json_t *root = json_object();
    json_object_set_new(root, "file", str_or_null(prog->ast ? prog->ast->file : NULL));
    json_object_set_new(root, "build_platform", jstr(ev->build_platform));
    json_object_set_new(root, "target_platform", jstr(ev->target_platform));
    json_object_set_new(root, "global_args", env_json(&ev->global_args));
    json_t *meta = json_array();
    for (size_t i = 0; i < prog->nmeta; i++)
        json_array_append_new(meta, cb_instr_to_json(&prog->meta_args[i]->base));
    json_object_set_new(root, "meta_args", meta);

    json_t *stages = json_array();
    for (size_t s = 0; s < prog->nstages; s++) {
        const cb_stage_t *st = &prog->stages[s];
        const cb_graph_stage_t *gs = &g->stages[s];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)s));
        json_object_set_new(o, "name", str_or_null(st->from->name));
        json_object_set_new(o, "base", jstr(st->from->image));
        json_object_set_new(o, "base_stage", gs->base >= 0 ? json_integer(gs->base) : json_null());
        json_object_set_new(o, "platform",
                            jstr(st->from->platform ? st->from->platform : ev->target_platform));
        json_object_set_new(o, "kept", json_boolean(gs->kept));
        json_object_set_new(o, "line", json_integer(st->from->base.node->start_line));
        json_t *deps = json_array();
        for (size_t d = 0; d < gs->ndeps; d++) {
            const cb_graph_edge_t *e = &gs->deps[d];
            json_array_append_new(deps, json_pack("{s:I, s:o, s:s, s:i}", "stage", (json_int_t)e->stage, "name",
                                                  str_or_null(prog->stages[e->stage].from->name), "via",
                                                  cb_instr_kind_name(e->via->kind), "line",
                                                  e->via->node->start_line));
        }
        json_object_set_new(o, "dependencies", deps);
        json_t *instrs = json_array();
        json_array_append_new(instrs, cb_instr_to_json(&st->from->base));
        for (size_t i = 0; i < st->ninstrs; i++)
            json_array_append_new(instrs, cb_instr_to_json(st->instrs[i]));
        json_object_set_new(o, "instructions", instrs);
        if (st->evaluated) {
            json_object_set_new(o, "env", env_json(&ev->stage_env[s]));
            json_object_set_new(o, "args", env_json(&ev->stage_args[s]));
        }
        json_array_append_new(stages, o);
    }
    json_object_set_new(root, "stages", stages);
    json_object_set_new(root, "target", json_pack("{s:I, s:o}", "index", (json_int_t)g->target, "name",
                                                  str_or_null(prog->stages[g->target].from->name)));
    json_t *order = json_array();
    for (size_t i = 0; i < g->norder; i++)
        json_array_append_new(order, json_integer((json_int_t)g->order[i]));
    json_object_set_new(root, "build_order", order);
    json_t *warnings = json_array();
    if (prog->ast)
        append_strv(warnings, &prog->ast->warnings);
    append_strv(warnings, &ev->warnings);
    json_object_set_new(root, "warnings", warnings);
    return root;
}
