/* ARG/ENV scoping and expansion of a program, stage by stage; see eval.h. */
#include "parser/eval.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const proxy_args[] = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"};
static const char *const platform_args[] = {"TARGETPLATFORM", "TARGETOS",  "TARGETARCH", "TARGETVARIANT",
                                            "BUILDPLATFORM",  "BUILDOS",   "BUILDARCH",  "BUILDVARIANT"};

bool cb_is_proxy_arg(const char *name) {
    for (size_t i = 0; i < CB_ARRAY_LEN(proxy_args); i++)
        if (strcasecmp(name, proxy_args[i]) == 0)
            return true;
    return false;
}

static bool is_platform_arg(const char *name) {
    for (size_t i = 0; i < CB_ARRAY_LEN(platform_args); i++)
        if (strcmp(name, platform_args[i]) == 0)
            return true;
    return false;
}

/* ---- platforms ------------------------------------------------------------ */

int cb_platform_parse(const char *s, char **os, char **arch, char **variant, cb_error_t **err) {
    char *parts[3] = {NULL, NULL, NULL};
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 3 || len == 0) {
            for (size_t i = 0; i < n; i++)
                free(parts[i]);
            return cb_error_set(err, 0, "invalid platform \"%s\": expected os/arch[/variant]", s);
        }
        parts[n] = cb_xstrndup(p, len);
        for (char *c = parts[n]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n < 2) {
        free(parts[0]);
        return cb_error_set(err, 0, "invalid platform \"%s\": expected os/arch[/variant]", s);
    }
    static const struct {
        const char *alias, *arch, *variant;
    } aliases[] = {{"x86_64", "amd64", NULL}, {"x86-64", "amd64", NULL}, {"aarch64", "arm64", NULL},
                   {"armhf", "arm", "v7"},    {"armel", "arm", "v6"},    {"i386", "386", NULL},
                   {"i686", "386", NULL}};
    for (size_t i = 0; i < CB_ARRAY_LEN(aliases); i++)
        if (strcmp(parts[1], aliases[i].alias) == 0) {
            free(parts[1]);
            parts[1] = cb_xstrdup(aliases[i].arch);
            if (aliases[i].variant && !parts[2])
                parts[2] = cb_xstrdup(aliases[i].variant);
        }
    /* containerd's normalisation: arm defaults to v7, arm64/v8 is arm64. */
    if (strcmp(parts[1], "arm") == 0 && !parts[2])
        parts[2] = cb_xstrdup("v7");
    if (strcmp(parts[1], "arm64") == 0 && parts[2] && strcmp(parts[2], "v8") == 0) {
        free(parts[2]);
        parts[2] = NULL;
    }
    *os = parts[0];
    *arch = parts[1];
    *variant = parts[2] ? parts[2] : cb_xstrdup("");
    return 0;
}

char *cb_platform_host(void) {
    struct utsname u;
    if (uname(&u) < 0)
        return cb_xstrdup("linux/amd64");
    static const struct {
        const char *machine, *platform;
    } map[] = {{"x86_64", "linux/amd64"},   {"aarch64", "linux/arm64"},  {"arm64", "linux/arm64"},
               {"armv7l", "linux/arm/v7"},  {"armv6l", "linux/arm/v6"},  {"i686", "linux/386"},
               {"i386", "linux/386"},       {"ppc64le", "linux/ppc64le"}, {"s390x", "linux/s390x"},
               {"riscv64", "linux/riscv64"}};
    for (size_t i = 0; i < CB_ARRAY_LEN(map); i++)
        if (strcmp(u.machine, map[i].machine) == 0)
            return cb_xstrdup(map[i].platform);
    return cb_xasprintf("linux/%s", u.machine);
}

/* Sets PREFIXPLATFORM PREFIXOS PREFIXARCH PREFIXVARIANT; returns the
 * normalised platform string. */
static char *set_platform_args(cb_env_t *env, const char *prefix, const char *platform, cb_error_t **err) {
    cb_autofree char *os = NULL, *arch = NULL, *variant = NULL;
    if (cb_platform_parse(platform, &os, &arch, &variant, err) < 0)
        return NULL;
    char *norm = *variant ? cb_xasprintf("%s/%s/%s", os, arch, variant) : cb_xasprintf("%s/%s", os, arch);
    const char *vals[] = {norm, os, arch, variant};
    const char *suffix[] = {"PLATFORM", "OS", "ARCH", "VARIANT"};
    for (size_t i = 0; i < 4; i++) {
        cb_autofree char *name = cb_xasprintf("%s%s", prefix, suffix[i]);
        cb_env_set(env, name, vals[i]);
    }
    return norm;
}

/* ---- scopes and expansion ------------------------------------------------- */

typedef struct scope {
    cb_env_t args;   /* ARGs in scope that have a value */
    cb_strv_t unset; /* ARGs declared without any value */
    cb_env_t env;    /* ENV, from the base and this stage */
} scope_t;

typedef struct evaluator {
    cb_program_t *prog;
    const cb_eval_opts_t *opts;
    cb_eval_t *ev;
    cb_env_t build_args;
    cb_strv_t consumed; /* build arg names some ARG declared */
    char escape;
    size_t *expand_work; /* what all its expansions may still spend */
} evaluator_t;

/* One expansion context: the variables visible to one instruction and the
 * instruction that records which build args it used. */
typedef struct ectx {
    cb_env_t vars;
    const scope_t *sc;     /* NULL for the global scope (FROM, meta ARGs) */
    const cb_env_t *global;
    cb_instr_t *in;
    cb_expand_opts_t opts;
} ectx_t;

static void record_arg(cb_instr_t *in, const char *name, const char *value) {
    if (cb_is_proxy_arg(name))
        return;
    cb_autofree char *entry = value ? cb_xasprintf("%s=%s", name, value) : cb_xstrdup(name);
    if (!cb_strv_contains(&in->used_args, entry))
        cb_strv_push(&in->used_args, entry);
}

static void on_lookup(void *ctx, const char *name, bool found) {
    ectx_t *e = ctx;
    (void)found;
    if (e->sc == NULL) {
        const char *v = cb_env_get(e->global, name);
        if (v)
            record_arg(e->in, name, v);
        return;
    }
    if (cb_env_get(&e->sc->env, name))
        return; /* ENV shadows the ARG: not a build arg use */
    const char *v = cb_env_get(&e->sc->args, name);
    if (v)
        record_arg(e->in, name, v);
    else if (cb_strv_contains(&e->sc->unset, name))
        record_arg(e->in, name, NULL);
}

static void ectx_init(ectx_t *e, const evaluator_t *x, const scope_t *sc, cb_instr_t *in) {
    memset(e, 0, sizeof *e);
    e->sc = sc;
    e->global = &x->ev->global_args;
    e->in = in;
    if (sc) {
        /* ENV shadows ARG: later entries win a lookup, so no cb_env_set
         * (a search per variable: 5 s for 2000 ENV names and 500 lines). */
        cb_env_copy(&e->vars, &sc->args);
        cb_env_copy(&e->vars, &sc->env);
    } else {
        cb_env_copy(&e->vars, &x->ev->global_args);
    }
    e->opts.escape = x->escape;
    e->opts.on_lookup = on_lookup;
    e->opts.ctx = e;
    e->opts.work = x->expand_work;
}

static void ectx_free(ectx_t *e) {
    cb_env_free(&e->vars);
}

static int expand_in_place(ectx_t *e, char **word, cb_error_t **err) {
    if (*word == NULL)
        return 0;
    char *out = NULL;
    if (cb_expand_word(*word, &e->vars, &e->opts, &out, err) < 0)
        return -1;
    free(*word);
    *word = out;
    return 0;
}

static int expand_strv(ectx_t *e, cb_strv_t *v, cb_error_t **err) {
    for (size_t i = 0; i < v->len; i++)
        if (expand_in_place(e, &v->items[i], err) < 0)
            return -1;
    return 0;
}

static int mount_expand(void *ctx, const char *word, char **out, cb_error_t **err) {
    ectx_t *e = ctx;
    return cb_expand_word(word, &e->vars, &e->opts, out, err);
}

/* ---- instructions --------------------------------------------------------- */

static int eval_arg(evaluator_t *x, scope_t *sc, cb_instr_arg_t *a, cb_error_t **err) {
    /* One context for the line, kept up to date pair by pair (ARG a=1 b=$a),
     * not one per pair: that copied every variable N times for N pairs. */
    ectx_t e;
    bool have_e = false;
    int rc = 0;
    for (size_t i = 0; i < a->nargs; i++) {
        cb_kv_t *kv = &a->args[i];
        if (!cb_strv_contains(&x->consumed, kv->key))
            cb_strv_push(&x->consumed, kv->key);
        const char *given = cb_env_get(&x->build_args, kv->key);
        const char *global = cb_env_get(&x->ev->global_args, kv->key);
        char *value = NULL;
        if (given) {
            value = cb_xstrdup(given);
        } else if (kv->value) {
            if (!have_e)
                ectx_init(&e, x, sc, &a->base);
            have_e = true;
            if (cb_expand_word(kv->value, &e.vars, &e.opts, &value, err) < 0) {
                rc = -1;
                break;
            }
        } else if (global) {
            value = cb_xstrdup(global); /* ARG NAME inherits the global value */
        }
        free(kv->value);
        kv->value = value;
        cb_env_t *target = sc ? &sc->args : &x->ev->global_args;
        if (value) {
            cb_env_set(target, kv->key, value);
            if (have_e && (!sc || !cb_env_get(&sc->env, kv->key)))
                cb_env_set(&e.vars, kv->key, value); /* what a fresh context would see */
            if (sc) {
                for (size_t j = 0; j < sc->unset.len; j++)
                    if (strcmp(sc->unset.items[j], kv->key) == 0) {
                        free(sc->unset.items[j]);
                        sc->unset.items[j] = sc->unset.items[--sc->unset.len];
                        sc->unset.items[sc->unset.len] = NULL;
                        break;
                    }
            }
        } else if (sc && !cb_env_get(&sc->args, kv->key) && !cb_strv_contains(&sc->unset, kv->key)) {
            cb_strv_push(&sc->unset, kv->key);
        }
        if (!sc || !cb_env_get(&sc->env, kv->key))
            record_arg(&a->base, kv->key, value);
    }
    if (have_e)
        ectx_free(&e);
    return rc;
}

static int eval_kvs(evaluator_t *x, scope_t *sc, cb_instr_kvs_t *k, cb_error_t **err) {
    ectx_t e;
    ectx_init(&e, x, sc, &k->base);
    int r = 0;
    for (size_t i = 0; i < k->npairs && r == 0; i++)
        if (expand_in_place(&e, &k->pairs[i].key, err) < 0 || expand_in_place(&e, &k->pairs[i].value, err) < 0)
            r = -1;
    ectx_free(&e);
    if (r < 0)
        return -1;
    for (size_t i = 0; i < k->npairs && k->base.kind == CB_INSTR_ENV; i++) {
        if (k->pairs[i].key[0] == '\0')
            return cb_error_set(err, 0, "ENV names can not be blank");
        cb_env_set(&sc->env, k->pairs[i].key, k->pairs[i].value);
    }
    return 0;
}

static bool is_heredoc_source(const cb_node_t *n, const char *word) {
    if (strncmp(word, "<<", 2) != 0)
        return false;
    const char *name = word + 2;
    if (*name == '-')
        name++;
    for (size_t i = 0; i < n->nheredocs; i++) {
        size_t l = strlen(n->heredocs[i].name);
        if (strncmp(name, n->heredocs[i].name, l) == 0 || (name[0] && strchr("'\"", name[0]) &&
                                                            strncmp(name + 1, n->heredocs[i].name, l) == 0))
            return true;
    }
    return false;
}

/* A heredoc body is expanded like a word whose quotes are plain characters
 * (BuildKit's SkipProcessQuotes, always with the backslash escape whatever
 * the escape directive says): escaping every quote gets exactly that. */
static int expand_heredoc(ectx_t *e, char **body, cb_error_t **err) {
    cb_autobuf cb_buf_t raw = CB_BUF_INIT;
    for (const char *p = *body; *p; p++) {
        if (*p == '"' || *p == '\'')
            cb_buf_putc(&raw, '\\');
        cb_buf_putc(&raw, *p);
    }
    cb_expand_opts_t opts = e->opts;
    opts.escape = '\\';
    char *out = NULL;
    if (cb_expand_word(cb_buf_str(&raw), &e->vars, &opts, &out, err) < 0)
        return -1;
    free(*body);
    *body = out;
    return 0;
}

static int eval_copy(ectx_t *e, cb_instr_copy_t *c, cb_error_t **err) {
    const cb_node_t *n = c->base.node;
    for (size_t i = 0; i < c->heredocs.len && i < n->nheredocs; i++)
        if (n->heredocs[i].expand && expand_heredoc(e, &c->heredocs.items[i], err) < 0)
            return cb_error_wrap(err, "heredoc %s", n->heredocs[i].name);
    for (size_t i = 0; i < c->sources.len; i++)
        if (!is_heredoc_source(c->base.node, c->sources.items[i]) &&
            expand_in_place(e, &c->sources.items[i], err) < 0)
            return -1;
    if (expand_in_place(e, &c->dest, err) < 0 || expand_in_place(e, &c->chown, err) < 0 ||
        expand_in_place(e, &c->chmod, err) < 0 || expand_in_place(e, &c->checksum, err) < 0 ||
        expand_strv(e, &c->excludes, err) < 0)
        return -1;
    return 0;
}

static int eval_run(evaluator_t *x, const scope_t *sc, ectx_t *e, cb_instr_run_t *r, cb_error_t **err) {
    for (size_t i = 0; i < r->nmounts; i++) {
        cb_mount_clear(&r->mounts[i]);
        if (cb_mount_parse(r->mount_specs.items[i], mount_expand, e, &r->mounts[i], err) < 0)
            return cb_error_wrap(err, "--mount=%s", r->mount_specs.items[i]);
    }
    /* Every ARG in scope is in RUN's environment unless an ENV shadows it. */
    for (size_t i = 0; i < sc->args.vars.len; i++) {
        const char *kv = sc->args.vars.items[i];
        const char *eq = strchr(kv, '=');
        cb_autofree char *name = cb_xstrndup(kv, (size_t)(eq - kv));
        if (!cb_env_get(&sc->env, name))
            record_arg(&r->base, name, eq + 1);
    }
    for (size_t i = 0; i < sc->unset.len; i++)
        if (!cb_env_get(&sc->env, sc->unset.items[i]))
            record_arg(&r->base, sc->unset.items[i], NULL);
    for (size_t i = 0; i < x->build_args.vars.len; i++) {
        const char *kv = x->build_args.vars.items[i];
        const char *eq = strchr(kv, '=');
        cb_autofree char *name = cb_xstrndup(kv, (size_t)(eq - kv));
        if (cb_is_proxy_arg(name))
            cb_strv_push(&r->proxy_env, kv);
    }
    return 0;
}

static int eval_instr(evaluator_t *x, scope_t *sc, cb_instr_t *in, cb_error_t **err) {
    if (in->kind == CB_INSTR_ARG)
        return eval_arg(x, sc, (cb_instr_arg_t *)in, err);
    if (in->kind == CB_INSTR_ENV || in->kind == CB_INSTR_LABEL)
        return eval_kvs(x, sc, (cb_instr_kvs_t *)in, err);
    ectx_t e;
    ectx_init(&e, x, sc, in);
    int r = 0;
    switch (in->kind) {
    case CB_INSTR_RUN:
        r = eval_run(x, sc, &e, (cb_instr_run_t *)in, err);
        break;
    case CB_INSTR_COPY:
    case CB_INSTR_ADD:
        r = eval_copy(&e, (cb_instr_copy_t *)in, err);
        break;
    case CB_INSTR_EXPOSE: {
        /* A port variable may hold several ports: split like ProcessWords. */
        cb_instr_words_t *w = (cb_instr_words_t *)in;
        cb_strv_t out = CB_STRV_INIT;
        for (size_t i = 0; i < w->words.len && r == 0; i++)
            r = cb_expand_words(w->words.items[i], &e.vars, &e.opts, &out, err);
        cb_strv_free(&w->words);
        w->words = out;
        break;
    }
    case CB_INSTR_VOLUME: {
        cb_instr_words_t *w = (cb_instr_words_t *)in;
        r = expand_strv(&e, &w->words, err);
        for (size_t i = 0; i < w->words.len && r == 0; i++)
            if (w->words.items[i][0] == '\0')
                r = cb_error_set(err, 0, "VOLUME specified can not be an empty string");
        break;
    }
    case CB_INSTR_USER:
    case CB_INSTR_WORKDIR:
    case CB_INSTR_STOPSIGNAL:
        r = expand_in_place(&e, &((cb_instr_value_t *)in)->value, err);
        break;
    default: /* RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK bodies, MAINTAINER, ONBUILD */
        break;
    }
    ectx_free(&e);
    return r;
}

static int locate(cb_error_t **err, const cb_instr_t *in) {
    cb_error_locate(err, in->file, in->node->start_line, in->node->col);
    return -1;
}

/* ---- stages ----------------------------------------------------------------- */

static int eval_from(evaluator_t *x, cb_stage_t *st, cb_error_t **err) {
    cb_instr_from_t *f = st->from;
    ectx_t e;
    ectx_init(&e, x, NULL, &f->base);
    cb_autofree char *orig = cb_xstrdup(f->image);
    int r = expand_in_place(&e, &f->image, err);
    if (r == 0 && f->image[0] == '\0')
        r = cb_error_set(err, 0, "base name (%s) should not be blank", orig);
    if (r == 0 && f->platform) {
        cb_autofree char *expr = cb_xstrdup(f->platform);
        r = expand_in_place(&e, &f->platform, err);
        if (r == 0 && f->platform[0] == '\0')
            r = cb_error_set(err, 0, "empty platform value from expression %s", expr);
        cb_autofree char *os = NULL, *arch = NULL, *variant = NULL;
        if (r == 0 && cb_platform_parse(f->platform, &os, &arch, &variant, err) < 0)
            r = cb_error_wrap(err, "failed to parse platform %s", expr);
    }
    ectx_free(&e);
    f->base.expanded = r == 0;
    return r < 0 ? locate(err, &f->base) : 0;
}

static int init_scope(evaluator_t *x, scope_t *scopes, const cb_stage_t *st, cb_error_t **err) {
    const cb_graph_stage_t *gs = &x->ev->graph->stages[st->index];
    scope_t *sc = &scopes[st->index];
    if (gs->base >= 0) {
        const scope_t *parent = &scopes[gs->base];
        cb_env_copy(&sc->args, &parent->args);
        for (size_t i = 0; i < parent->unset.len; i++)
            cb_strv_push(&sc->unset, parent->unset.items[i]);
        cb_env_copy(&sc->env, &parent->env);
        return 0;
    }
    if (x->opts->image_env && strcmp(st->from->image, "scratch") != 0) {
        const char *platform = st->from->platform ? st->from->platform : x->ev->target_platform;
        if (x->opts->image_env(x->opts->image_env_ctx, st->from->image, platform, &sc->env, err) < 0)
            return locate(err, &st->from->base);
    }
    if (!cb_env_get(&sc->env, "PATH"))
        cb_env_set(&sc->env, "PATH", DEFAULT_PATH);
    return 0;
}

/* ---- ONBUILD triggers ------------------------------------------------------ */

static int onbuild_fail(cb_error_t **err, const cb_stage_t *st, const char *text) {
    const cb_instr_from_t *f = st->from;
    cb_error_wrap(err, "ONBUILD trigger %s from image %s", text, f->image);
    /* The cause may carry a place in the trigger's own text (line 1); the
     * outermost place is the one printed, and that is the FROM. */
    cb_error_t *e = *err;
    free(e->file);
    e->file = f->base.file ? cb_xstrdup(f->base.file) : NULL;
    e->line = f->base.node->start_line;
    e->col = f->base.node->col;
    return -1;
}

int cb_onbuild_error(cb_error_t **err, const cb_stage_t *st, const cb_instr_t *trigger) {
    return onbuild_fail(err, st, trigger->node->original);
}

/* One trigger text to one instruction; the parsed tree goes to the program,
 * which the instruction borrows its node from. */
static int parse_trigger(cb_program_t *prog, const cb_stage_t *st, const char *text, cb_instr_t **out,
                         cb_error_t **err) {
    const cb_instr_from_t *f = st->from;
    cb_ast_t *ast = NULL;
    if (cb_parse_buffer(f->base.file, text, strlen(text), &ast, err) < 0)
        return -1;
    prog->trigger_asts = cb_xrealloc(prog->trigger_asts, (prog->ntrigger_asts + 1) * sizeof *prog->trigger_asts);
    prog->trigger_asts[prog->ntrigger_asts++] = ast;
    if (ast->nnodes != 1)
        return cb_error_kind_set(err, CB_ERR_INPUT, "onbuild trigger should be a single expression");
    /* As BuildKit does, the trigger takes its stage's FROM place. */
    cb_node_t *n = ast->nodes[0];
    n->start_line = f->base.node->start_line;
    n->end_line = f->base.node->end_line;
    n->col = f->base.node->col;
    cb_instr_t *in = NULL;
    if (cb_instr_from_node(n, f->base.file, &in, err) < 0)
        return -1;
    if (in->kind == CB_INSTR_ONBUILD || in->kind == CB_INSTR_FROM || in->kind == CB_INSTR_MAINTAINER) {
        cb_error_kind_set(err, CB_ERR_INPUT, "%s isn't allowed as an ONBUILD trigger", cb_instr_kind_name(in->kind));
        cb_instr_free(in);
        return -1;
    }
    in->from_onbuild = true;
    *out = in;
    return 0;
}

/* Puts the base image's triggers in front of the stage's instructions.
 * Returns 1 when it spliced any, 0 when the image has none. */
static int splice_stage(evaluator_t *x, cb_stage_t *st, cb_error_t **err) {
    const cb_eval_opts_t *o = x->opts;
    const char *platform = st->from->platform ? st->from->platform : x->ev->target_platform;
    cb_autostrv cb_strv_t texts = CB_STRV_INIT;
    if (o->image_onbuild(o->image_env_ctx, st->from->image, platform, &texts, err) < 0)
        return locate(err, &st->from->base);
    if (texts.len == 0)
        return 0;
    cb_instr_t **instrs = cb_xcalloc(texts.len + st->ninstrs + 1, sizeof *instrs);
    for (size_t i = 0; i < texts.len; i++)
        if (parse_trigger(x->prog, st, texts.items[i], &instrs[i], err) < 0) {
            for (size_t j = 0; j < i; j++)
                cb_instr_free(instrs[j]);
            free(instrs);
            return onbuild_fail(err, st, texts.items[i]);
        }
    if (st->ninstrs)
        memcpy(instrs + texts.len, st->instrs, st->ninstrs * sizeof *instrs);
    free(st->instrs);
    st->instrs = instrs;
    st->ninstrs += texts.len;
    return 1;
}

/* Splices the triggers of every image the kept stages start from. A trigger
 * may name a stage (COPY --from), so the graph is rebuilt after any splice
 * and newly kept stages get theirs, until nothing changes (BuildKit's loop
 * over initOnBuildTriggers). Each stage is spliced at most once. */
static int splice_onbuild(evaluator_t *x, cb_error_t **err) {
    if (x->opts->image_onbuild == NULL)
        return 0;
    cb_program_t *prog = x->prog;
    cb_eval_t *ev = x->ev;
    bool *done = cb_xcalloc(prog->nstages, sizeof *done);
    int r = 0;
    for (bool again = true; again && r == 0;) {
        again = false;
        for (size_t o = 0; o < ev->graph->norder && r == 0; o++) {
            size_t s = ev->graph->order[o];
            cb_stage_t *st = &prog->stages[s];
            if (done[s])
                continue;
            done[s] = true;
            if (ev->graph->stages[s].base >= 0 || strcasecmp(st->from->image, "scratch") == 0)
                continue;
            r = splice_stage(x, st, err);
            if (r > 0) {
                again = true;
                r = 0;
            }
        }
        if (again && r == 0) {
            cb_graph_free(ev->graph);
            ev->graph = NULL;
            r = cb_graph_build(prog, x->opts->target, &ev->graph, err);
        }
    }
    free(done);
    return r;
}

static int eval_stages(evaluator_t *x, cb_error_t **err) {
    cb_program_t *prog = x->prog;
    cb_eval_t *ev = x->ev;
    scope_t *scopes = cb_xcalloc(prog->nstages, sizeof *scopes);
    int r = 0;
    for (size_t o = 0; o < ev->graph->norder && r == 0; o++) {
        cb_stage_t *st = &prog->stages[ev->graph->order[o]];
        scope_t *sc = &scopes[st->index];
        r = init_scope(x, scopes, st, err);
        for (size_t i = 0; i < st->ninstrs && r == 0; i++) {
            cb_instr_t *in = st->instrs[i];
            if (eval_instr(x, sc, in, err) < 0)
                r = in->from_onbuild ? cb_onbuild_error(err, st, in) : locate(err, in);
            in->expanded = r == 0 && in->kind != CB_INSTR_ONBUILD;
        }
        st->evaluated = r == 0;
    }
    for (size_t s = 0; s < prog->nstages; s++) {
        ev->stage_env[s] = scopes[s].env;
        ev->stage_args[s] = scopes[s].args;
        cb_strv_free(&scopes[s].unset);
    }
    free(scopes);
    return r;
}

static void warn_unused(evaluator_t *x) {
    cb_autobuf cb_buf_t names = CB_BUF_INIT;
    for (size_t i = 0; i < x->build_args.vars.len; i++) {
        const char *kv = x->build_args.vars.items[i];
        cb_autofree char *name = cb_xstrndup(kv, strcspn(kv, "="));
        if (!cb_strv_contains(&x->consumed, name) && !cb_is_proxy_arg(name) && !is_platform_arg(name))
            cb_buf_printf(&names, "%s%s", names.len ? " " : "", name);
    }
    if (names.len)
        cb_strv_take(&x->ev->warnings,
                     cb_xasprintf("one or more build args [%s] were not consumed", cb_buf_str(&names)));
}

void cb_eval_free(cb_eval_t *ev) {
    if (ev == NULL)
        return;
    cb_graph_free(ev->graph);
    cb_env_free(&ev->global_args);
    for (size_t i = 0; i < ev->nstages; i++) {
        cb_env_free(&ev->stage_env[i]);
        cb_env_free(&ev->stage_args[i]);
    }
    free(ev->stage_env);
    free(ev->stage_args);
    free(ev->target_platform);
    free(ev->build_platform);
    cb_strv_free(&ev->warnings);
    free(ev);
}

int cb_eval_program(cb_program_t *prog, const cb_eval_opts_t *opts, cb_eval_t **out, cb_error_t **err) {
    static const cb_eval_opts_t no_opts;
    if (opts == NULL)
        opts = &no_opts;
    cb_eval_t *ev = cb_xcalloc(1, sizeof *ev);
    ev->nstages = prog->nstages;
    ev->stage_env = cb_xcalloc(prog->nstages ? prog->nstages : 1, sizeof *ev->stage_env);
    ev->stage_args = cb_xcalloc(prog->nstages ? prog->nstages : 1, sizeof *ev->stage_args);
    size_t expand_work = CB_EXPAND_MAX_TOTAL_WORK;
    evaluator_t x = {.prog = prog,
                     .opts = opts,
                     .ev = ev,
                     .escape = prog->ast ? prog->ast->escape : '\\',
                     .expand_work = &expand_work};
    if (opts->build_args)
        for (size_t i = 0; i < opts->build_args->len; i++) {
            const char *kv = opts->build_args->items[i];
            const char *eq = strchr(kv, '=');
            if (eq == NULL || eq == kv)
                continue; /* the CLI resolves "NAME" from its environment */
            cb_autofree char *name = cb_xstrndup(kv, (size_t)(eq - kv));
            cb_env_set(&x.build_args, name, eq + 1);
        }

    cb_autofree char *host = opts->build_platform ? NULL : cb_platform_host();
    const char *bp = opts->build_platform ? opts->build_platform : host;
    ev->build_platform = set_platform_args(&ev->global_args, "BUILD", bp, err);
    if (ev->build_platform == NULL)
        goto fail;
    ev->target_platform =
        set_platform_args(&ev->global_args, "TARGET", opts->target_platform ? opts->target_platform : bp, err);
    if (ev->target_platform == NULL)
        goto fail;
    /* --build-arg may override the predefined values. */
    for (size_t i = 0; i < CB_ARRAY_LEN(platform_args); i++) {
        const char *v = cb_env_get(&x.build_args, platform_args[i]);
        if (v)
            cb_env_set(&ev->global_args, platform_args[i], v);
    }

    for (size_t i = 0; i < prog->nmeta; i++) {
        if (eval_arg(&x, NULL, prog->meta_args[i], err) < 0) {
            locate(err, &prog->meta_args[i]->base);
            goto fail;
        }
        prog->meta_args[i]->base.expanded = true;
    }
    for (size_t s = 0; s < prog->nstages; s++)
        if (eval_from(&x, &prog->stages[s], err) < 0)
            goto fail;
    if (cb_graph_build(prog, opts->target, &ev->graph, err) < 0)
        goto fail;
    if (splice_onbuild(&x, err) < 0)
        goto fail;
    if (eval_stages(&x, err) < 0)
        goto fail;
    warn_unused(&x);
    cb_env_free(&x.build_args);
    cb_strv_free(&x.consumed);
    *out = ev;
    return 0;
fail:
    cb_env_free(&x.build_args);
    cb_strv_free(&x.consumed);
    cb_eval_free(ev);
    return -1;
}
