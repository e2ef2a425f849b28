/* Typed instructions from syntax-tree nodes; see instructions.h. */
#include "parser/instructions.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- flags ------------------------------------------------------------ */

void cb_flag_vals_clear(cb_flag_val_t *vals, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(vals[i].str);
        cb_strv_free(&vals[i].list);
        memset(&vals[i], 0, sizeof vals[i]);
    }
}

int cb_flags_parse(const cb_strv_t *flags, const cb_flag_def_t *defs, size_t ndefs,
                   cb_flag_val_t *vals, cb_error_t **err) {
    for (size_t i = 0; i < flags->len; i++) {
        const char *arg = flags->items[i];
        if (strncmp(arg, "--", 2) != 0)
            return cb_error_set(err, 0, "flag should start with --: %s", arg);
        if (strcmp(arg, "--") == 0)
            continue;
        const char *eq = strchr(arg + 2, '=');
        size_t nlen = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        size_t d = 0;
        while (d < ndefs && !(strlen(defs[d].name) == nlen && strncmp(defs[d].name, arg + 2, nlen) == 0))
            d++;
        if (d == ndefs)
            return cb_error_set(err, 0, "unknown flag: --%.*s", (int)nlen, arg + 2);
        cb_flag_val_t *v = &vals[d];
        if (v->set && defs[d].type != CB_FLAG_LIST)
            return cb_error_set(err, 0, "duplicate flag specified: --%s", defs[d].name);
        switch (defs[d].type) {
        case CB_FLAG_BOOL:
            if (!eq || strcasecmp(eq + 1, "true") == 0)
                v->b = true;
            else if (strcasecmp(eq + 1, "false") == 0)
                v->b = false;
            else
                return cb_error_set(err, 0, "expecting boolean value for flag --%s, not: %s",
                                    defs[d].name, eq + 1);
            break;
        case CB_FLAG_STRING:
            if (!eq)
                return cb_error_set(err, 0, "missing a value on flag: --%s", defs[d].name);
            v->str = cb_xstrdup(eq + 1);
            break;
        case CB_FLAG_LIST:
            if (!eq)
                return cb_error_set(err, 0, "missing a value on flag: --%s", defs[d].name);
            cb_strv_push(&v->list, eq + 1);
            break;
        }
        v->set = true;
    }
    return 0;
}

int cb_parse_duration(const char *s, int64_t *ns, cb_error_t **err) {
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    const char *p = s;
    double total = 0;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*p == '\0')
        goto bad;
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            goto bad;
        char *end = NULL;
        double n = strtod(p, &end);
        if (end == p)
            goto bad;
        p = end;
        size_t best = CB_ARRAY_LEN(units), best_len = 0;
        for (size_t i = 0; i < CB_ARRAY_LEN(units); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > best_len) {
                best = i;
                best_len = l;
            }
        }
        if (best == CB_ARRAY_LEN(units))
            goto bad;
        total += n * units[best].ns;
        p += best_len;
    }
    if (total > 9.2e18)
        goto bad;
    *ns = (int64_t)(total + 0.5) * (neg ? -1 : 1);
    return 0;
bad:
    return cb_error_set(err, 0, "time: invalid duration \"%s\"", s);
}

/* ---- per-instruction parsers ------------------------------------------ */

typedef struct parse_req {
    const cb_node_t *node;
    const char *file;
    cb_flag_val_t *flags; /* one per entry of the keyword's flag table */
} parse_req_t;

typedef int (*parse_fn)(const parse_req_t *req, cb_instr_t **out, cb_error_t **err);

static void *instr_new(size_t size, cb_instr_kind_t kind, const parse_req_t *req) {
    cb_instr_t *in = cb_xcalloc(1, size);
    in->kind = kind;
    in->node = req->node;
    in->file = req->file;
    return in;
}

static char *flag_str(const parse_req_t *req, size_t i) {
    return req->flags[i].str ? cb_steal_pointer(&req->flags[i].str) : NULL;
}

static const char *kw_upper(const cb_node_t *n, char buf[16]) {
    size_t i = 0;
    for (; n->keyword[i] && i < 15; i++)
        buf[i] = (char)toupper((unsigned char)n->keyword[i]);
    buf[i] = '\0';
    return buf;
}

static bool valid_stage_name(const char *s) {
    if (!islower((unsigned char)*s))
        return false;
    for (s++; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && !strchr("-_.", *s))
            return false;
    return true;
}

static int parse_from(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_strv_t *a = &req->node->args;
    if (a->len != 1 && a->len != 3)
        return cb_error_set(err, 0, "FROM requires either one or three arguments");
    if (a->len == 3 && strcasecmp(a->items[1], "as") != 0)
        return cb_error_set(err, 0, "FROM: second argument should be AS, not \"%s\"", a->items[1]);
    cb_autofree char *name = NULL;
    if (a->len == 3) {
        name = cb_xstrdup(a->items[2]);
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (!valid_stage_name(name))
            return cb_error_set(err, 0,
                                "invalid name for build stage: \"%s\", name can't start with a number or contain symbols",
                                a->items[2]);
    }
    cb_instr_from_t *f = instr_new(sizeof *f, CB_INSTR_FROM, req);
    f->image = cb_xstrdup(a->items[0]);
    f->name = cb_steal_pointer(&name);
    f->platform = flag_str(req, 0);
    *out = &f->base;
    return 0;
}

static int parse_arg(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_strv_t *a = &req->node->args;
    if (a->len == 0)
        return cb_error_set(err, 0, "ARG requires at least one argument");
    for (size_t i = 0; i < a->len; i++)
        if (a->items[i][0] == '=' || a->items[i][0] == '\0')
            return cb_error_set(err, 0, "ARG names can not be blank");
    cb_instr_arg_t *g = instr_new(sizeof *g, CB_INSTR_ARG, req);
    g->args = cb_xcalloc(a->len, sizeof *g->args);
    g->nargs = a->len;
    for (size_t i = 0; i < a->len; i++) {
        const char *eq = strchr(a->items[i], '=');
        g->args[i].key = eq ? cb_xstrndup(a->items[i], (size_t)(eq - a->items[i])) : cb_xstrdup(a->items[i]);
        g->args[i].value = eq ? cb_xstrdup(eq + 1) : NULL;
    }
    *out = &g->base;
    return 0;
}

static int parse_run(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    if (n->args.len == 0)
        return cb_error_set(err, 0, "RUN requires at least one argument");
    cb_strv_t *mounts = &req->flags[0].list;
    for (size_t i = 0; i < mounts->len; i++)
        if (cb_mount_check(mounts->items[i], err) < 0)
            return cb_error_wrap(err, "--mount=%s", mounts->items[i]);
    const char *net = req->flags[1].str;
    /* private (a namespace of its own with slirp4netns) is buildah's name,
     * not BuildKit's: an extension. */
    if (net && strcmp(net, "default") != 0 && strcmp(net, "none") != 0 && strcmp(net, "host") != 0 &&
        strcmp(net, "private") != 0)
        return cb_error_set(err, 0, "unsupported network mode \"%s\" (default, none, host or private)", net);
    const char *sec = req->flags[2].str;
    if (sec && strcmp(sec, "insecure") != 0 && strcmp(sec, "sandbox") != 0)
        return cb_error_set(err, 0, "unsupported security mode \"%s\" (insecure or sandbox)", sec);
    cb_instr_run_t *r = instr_new(sizeof *r, CB_INSTR_RUN, req);
    for (size_t i = 0; i < n->args.len; i++)
        cb_strv_push(&r->cmd, n->args.items[i]);
    r->shell_form = !n->json;
    r->mount_specs = *mounts;
    memset(mounts, 0, sizeof *mounts);
    r->network = flag_str(req, 1);
    r->security = flag_str(req, 2);
    r->devices = req->flags[3].list;
    memset(&req->flags[3].list, 0, sizeof req->flags[3].list);
    /* Values without variables can be checked and parsed now. */
    r->mounts = cb_xcalloc(r->mount_specs.len ? r->mount_specs.len : 1, sizeof *r->mounts);
    r->nmounts = r->mount_specs.len;
    for (size_t i = 0; i < r->nmounts; i++) {
        const char *spec = r->mount_specs.items[i];
        if (strchr(spec, '$')) {
            cb_mount_clear(&r->mounts[i]);
            continue;
        }
        if (cb_mount_parse(spec, NULL, NULL, &r->mounts[i], err) < 0) {
            cb_error_wrap(err, "--mount=%s", spec);
            cb_instr_free(&r->base);
            return -1;
        }
    }
    *out = &r->base;
    return 0;
}

static int parse_exec(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    cb_instr_kind_t kind = strcmp(n->keyword, "cmd") == 0          ? CB_INSTR_CMD
                           : strcmp(n->keyword, "entrypoint") == 0 ? CB_INSTR_ENTRYPOINT
                                                                   : CB_INSTR_SHELL;
    if (kind == CB_INSTR_SHELL && !n->json)
        return cb_error_set(err, 0, "SHELL requires the arguments to be in JSON form");
    if (kind == CB_INSTR_SHELL && n->args.len == 0)
        return cb_error_set(err, 0, "SHELL requires at least one argument");
    cb_instr_exec_t *e = instr_new(sizeof *e, kind, req);
    for (size_t i = 0; i < n->args.len; i++)
        cb_strv_push(&e->cmd, n->args.items[i]);
    e->shell_form = !n->json;
    *out = &e->base;
    return 0;
}

static int parse_copy(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    bool add = strcmp(n->keyword, "add") == 0;
    if (n->args.len < 2) {
        if (n->args.len == 1)
            return cb_error_set(err, 0,
                                "%s requires at least two arguments, but only one was provided. Destination could not be determined",
                                add ? "ADD" : "COPY");
        return cb_error_set(err, 0, "%s requires at least two arguments", add ? "ADD" : "COPY");
    }
    cb_instr_copy_t *c = instr_new(sizeof *c, add ? CB_INSTR_ADD : CB_INSTR_COPY, req);
    for (size_t i = 0; i + 1 < n->args.len; i++)
        cb_strv_push(&c->sources, n->args.items[i]);
    c->dest = cb_xstrdup(n->args.items[n->args.len - 1]);
    c->unpack = -1;
    for (size_t i = 0; i < n->nheredocs; i++)
        cb_strv_push(&c->heredocs, n->heredocs[i].content);
    /* Both tables start chown, chmod, link, exclude; then their own flags. */
    c->chown = flag_str(req, 0);
    c->chmod = flag_str(req, 1);
    c->link = req->flags[2].b;
    c->excludes = req->flags[3].list;
    memset(&req->flags[3].list, 0, sizeof req->flags[3].list);
    if (add) {
        c->checksum = flag_str(req, 4);
        c->keep_git_dir = req->flags[5].b;
        if (req->flags[6].set)
            c->unpack = req->flags[6].b;
    } else {
        c->from = flag_str(req, 4);
        c->parents = req->flags[5].b;
        /* BuildKit resolves --from before any variable is known. */
        if (c->from && strchr(c->from, '$')) {
            cb_instr_free(&c->base);
            return cb_error_set(err, 0,
                                "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround");
        }
    }
    *out = &c->base;
    return 0;
}

static int parse_kvs(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    bool env = strcmp(n->keyword, "env") == 0;
    if (n->args.len == 0 || n->args.len % 3 != 0)
        return cb_error_set(err, 0, "%s requires at least one argument", env ? "ENV" : "LABEL");
    cb_instr_kvs_t *k = instr_new(sizeof *k, env ? CB_INSTR_ENV : CB_INSTR_LABEL, req);
    k->npairs = n->args.len / 3;
    k->pairs = cb_xcalloc(k->npairs, sizeof *k->pairs);
    for (size_t i = 0; i < k->npairs; i++) {
        k->pairs[i].key = cb_xstrdup(n->args.items[3 * i]);
        k->pairs[i].value = cb_xstrdup(n->args.items[3 * i + 1]);
        k->pairs[i].legacy = n->args.items[3 * i + 2][0] == '\0';
        if (k->pairs[i].key[0] == '\0') {
            cb_instr_free(&k->base);
            return cb_error_set(err, 0, "%s names can not be blank", env ? "ENV" : "LABEL");
        }
    }
    *out = &k->base;
    return 0;
}

static int parse_words(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    bool expose = strcmp(n->keyword, "expose") == 0;
    if (n->args.len == 0)
        return cb_error_set(err, 0, "%s requires at least one argument", expose ? "EXPOSE" : "VOLUME");
    cb_instr_words_t *w = instr_new(sizeof *w, expose ? CB_INSTR_EXPOSE : CB_INSTR_VOLUME, req);
    for (size_t i = 0; i < n->args.len; i++)
        cb_strv_push(&w->words, n->args.items[i]);
    *out = &w->base;
    return 0;
}

static int parse_value(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    static const struct {
        const char *kw;
        cb_instr_kind_t kind;
    } kinds[] = {{"user", CB_INSTR_USER},
                 {"workdir", CB_INSTR_WORKDIR},
                 {"stopsignal", CB_INSTR_STOPSIGNAL},
                 {"maintainer", CB_INSTR_MAINTAINER}};
    size_t k = 0;
    while (k + 1 < CB_ARRAY_LEN(kinds) && strcmp(kinds[k].kw, n->keyword) != 0)
        k++;
    char kw[16];
    if (n->args.len != 1 || n->args.items[0][0] == '\0')
        return cb_error_set(err, 0, "%s requires exactly one argument", kw_upper(n, kw));
    cb_instr_value_t *v = instr_new(sizeof *v, kinds[k].kind, req);
    v->value = cb_xstrdup(n->args.items[0]);
    *out = &v->base;
    return 0;
}

static int duration_flag(const parse_req_t *req, size_t i, int64_t *ns, cb_error_t **err) {
    if (!req->flags[i].set)
        return 0;
    if (cb_parse_duration(req->flags[i].str, ns, err) < 0)
        return -1;
    /* Docker's rule: 0 means "use the default", else at least 1ms. */
    if (*ns != 0 && *ns < 1000000)
        return cb_error_set(err, 0, "HEALTHCHECK duration %s cannot be less than 1ms", req->flags[i].str);
    return 0;
}

static int parse_healthcheck(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    if (n->args.len == 0)
        return cb_error_set(err, 0, "HEALTHCHECK requires an argument (CMD or NONE)");
    const char *type = n->args.items[0];
    cb_instr_healthcheck_t *h = instr_new(sizeof *h, CB_INSTR_HEALTHCHECK, req);
    *out = &h->base;
    if (strcasecmp(type, "none") == 0) {
        if (n->args.len > 1)
            {
            cb_error_set(err, 0, "HEALTHCHECK NONE takes no arguments");
            goto fail;
        }
        for (size_t i = 0; i < 5; i++)
            if (req->flags[i].set)
                {
            cb_error_set(err, 0, "HEALTHCHECK NONE takes no options");
            goto fail;
        }
        h->none = true;
        return 0;
    }
    if (strcasecmp(type, "cmd") != 0)
        {
            cb_error_set(err, 0, "unknown type \"%s\" in HEALTHCHECK (try CMD)", type);
            goto fail;
        }
    if (n->args.len < 2)
        {
            cb_error_set(err, 0, "HEALTHCHECK CMD requires a command");
            goto fail;
        }
    if (n->json) {
        cb_strv_push(&h->test, "CMD");
        for (size_t i = 1; i < n->args.len; i++)
            cb_strv_push(&h->test, n->args.items[i]);
    } else {
        cb_strv_push(&h->test, "CMD-SHELL");
        cb_strv_push(&h->test, n->args.items[1]);
    }
    if (duration_flag(req, 0, &h->interval_ns, err) < 0 || duration_flag(req, 1, &h->timeout_ns, err) < 0 ||
        duration_flag(req, 2, &h->start_period_ns, err) < 0 ||
        duration_flag(req, 3, &h->start_interval_ns, err) < 0)
        goto fail;
    if (req->flags[4].set) {
        char *end = NULL;
        errno = 0;
        long r = strtol(req->flags[4].str, &end, 10);
        if (*req->flags[4].str == '\0' || *end || errno || r > 1000000)
            {
            cb_error_set(err, 0, "invalid --retries value: %s", req->flags[4].str);
            goto fail;
        }
        if (r < 0)
            {
            cb_error_set(err, 0, "--retries cannot be negative (%ld)", r);
            goto fail;
        }
        h->retries = (int)r;
    }
    return 0;
fail:
    cb_instr_free(&h->base);
    *out = NULL;
    return -1;
}

static int parse_onbuild(const parse_req_t *req, cb_instr_t **out, cb_error_t **err) {
    const cb_node_t *n = req->node;
    if (n->child == NULL)
        return cb_error_set(err, 0, "ONBUILD requires at least one argument");
    const char *kw = n->child->keyword;
    if (strcmp(kw, "onbuild") == 0)
        return cb_error_set(err, 0, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (strcmp(kw, "from") == 0 || strcmp(kw, "maintainer") == 0) {
        char buf[16];
        return cb_error_set(err, 0, "%s isn't allowed as an ONBUILD trigger", kw_upper(n->child, buf));
    }
    cb_instr_t *trigger = NULL;
    if (cb_instr_from_node(n->child, req->file, &trigger, err) < 0)
        return -1;
    cb_instr_onbuild_t *o = instr_new(sizeof *o, CB_INSTR_ONBUILD, req);
    o->trigger = trigger;
    /* The trigger text: the original line after the ONBUILD keyword. */
    const char *p = n->original;
    while (*p && isspace((unsigned char)*p))
        p++;
    if (strncasecmp(p, "onbuild", 7) == 0)
        p += 7;
    while (*p && isspace((unsigned char)*p))
        p++;
    o->expression = cb_xstrdup(p);
    *out = &o->base;
    return 0;
}

/* ---- dispatch table ----------------------------------------------------- */

static const cb_flag_def_t from_flags[] = {{"platform", CB_FLAG_STRING}};
static const cb_flag_def_t run_flags[] = {
    {"mount", CB_FLAG_LIST}, {"network", CB_FLAG_STRING}, {"security", CB_FLAG_STRING}, {"device", CB_FLAG_LIST}};
static const cb_flag_def_t copy_flags[] = {{"chown", CB_FLAG_STRING}, {"chmod", CB_FLAG_STRING},
                                           {"link", CB_FLAG_BOOL},    {"exclude", CB_FLAG_LIST},
                                           {"from", CB_FLAG_STRING},  {"parents", CB_FLAG_BOOL}};
static const cb_flag_def_t add_flags[] = {{"chown", CB_FLAG_STRING},    {"chmod", CB_FLAG_STRING},
                                          {"link", CB_FLAG_BOOL},       {"exclude", CB_FLAG_LIST},
                                          {"checksum", CB_FLAG_STRING}, {"keep-git-dir", CB_FLAG_BOOL},
                                          {"unpack", CB_FLAG_BOOL}};
static const cb_flag_def_t health_flags[] = {{"interval", CB_FLAG_STRING},
                                             {"timeout", CB_FLAG_STRING},
                                             {"start-period", CB_FLAG_STRING},
                                             {"start-interval", CB_FLAG_STRING},
                                             {"retries", CB_FLAG_STRING}};

static const struct keyword {
    const char *name;
    parse_fn parse;
    const cb_flag_def_t *flags;
    size_t nflags;
} keywords[] = {
    {"from", parse_from, from_flags, CB_ARRAY_LEN(from_flags)},
    {"arg", parse_arg, NULL, 0},
    {"run", parse_run, run_flags, CB_ARRAY_LEN(run_flags)},
    {"cmd", parse_exec, NULL, 0},
    {"entrypoint", parse_exec, NULL, 0},
    {"shell", parse_exec, NULL, 0},
    {"copy", parse_copy, copy_flags, CB_ARRAY_LEN(copy_flags)},
    {"add", parse_copy, add_flags, CB_ARRAY_LEN(add_flags)},
    {"env", parse_kvs, NULL, 0},
    {"label", parse_kvs, NULL, 0},
    {"expose", parse_words, NULL, 0},
    {"volume", parse_words, NULL, 0},
    {"user", parse_value, NULL, 0},
    {"workdir", parse_value, NULL, 0},
    {"stopsignal", parse_value, NULL, 0},
    {"maintainer", parse_value, NULL, 0},
    {"healthcheck", parse_healthcheck, health_flags, CB_ARRAY_LEN(health_flags)},
    {"onbuild", parse_onbuild, NULL, 0},
};

static const char *const kind_names[] = {
    [CB_INSTR_FROM] = "FROM",         [CB_INSTR_ARG] = "ARG",         [CB_INSTR_RUN] = "RUN",
    [CB_INSTR_CMD] = "CMD",           [CB_INSTR_ENTRYPOINT] = "ENTRYPOINT", [CB_INSTR_SHELL] = "SHELL",
    [CB_INSTR_COPY] = "COPY",         [CB_INSTR_ADD] = "ADD",         [CB_INSTR_ENV] = "ENV",
    [CB_INSTR_LABEL] = "LABEL",       [CB_INSTR_EXPOSE] = "EXPOSE",   [CB_INSTR_USER] = "USER",
    [CB_INSTR_WORKDIR] = "WORKDIR",   [CB_INSTR_VOLUME] = "VOLUME",   [CB_INSTR_STOPSIGNAL] = "STOPSIGNAL",
    [CB_INSTR_HEALTHCHECK] = "HEALTHCHECK", [CB_INSTR_ONBUILD] = "ONBUILD", [CB_INSTR_MAINTAINER] = "MAINTAINER",
};

const char *cb_instr_kind_name(cb_instr_kind_t kind) {
    return (size_t)kind < CB_ARRAY_LEN(kind_names) ? kind_names[kind] : "?";
}

int cb_instr_from_node(const cb_node_t *node, const char *file, cb_instr_t **out, cb_error_t **err) {
    const struct keyword *kw = NULL;
    for (size_t i = 0; i < CB_ARRAY_LEN(keywords); i++)
        if (strcmp(keywords[i].name, node->keyword) == 0)
            kw = &keywords[i];
    if (kw == NULL) {
        cb_error_at(err, file, node->start_line, node->col, "unknown instruction: %s", node->keyword);
        return -1;
    }
    cb_flag_val_t vals[8];
    memset(vals, 0, sizeof vals);
    parse_req_t req = {.node = node, .file = file, .flags = vals};
    char buf[16];
    int r = cb_flags_parse(&node->flags, kw->flags, kw->nflags, vals, err);
    if (r < 0 && kw->nflags == 0 && node->flags.len > 0) {
        /* Keep BuildKit's wording for keywords that take no flags at all. */
        cb_error_free(*err);
        *err = NULL;
        cb_error_set(err, 0, "%s does not take flags (%s)", kw_upper(node, buf), node->flags.items[0]);
    }
    if (r == 0)
        r = kw->parse(&req, out, err);
    cb_flag_vals_clear(vals, CB_ARRAY_LEN(vals));
    if (r < 0) {
        cb_error_t *e = *err;
        /* Every error here is about this instruction: give it its place and
         * make it a syntax error for the exit code. */
        cb_error_t *root = (cb_error_t *)cb_error_root(e);
        root->kind = CB_ERR_SYNTAX;
        cb_error_locate(err, file, node->start_line, node->col);
        return -1;
    }
    return 0;
}

static void kvs_free(cb_kv_t *kv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void cb_instr_free(cb_instr_t *in) {
    if (in == NULL)
        return;
    switch (in->kind) {
    case CB_INSTR_FROM: {
        cb_instr_from_t *f = (cb_instr_from_t *)in;
        free(f->image);
        free(f->name);
        free(f->platform);
        break;
    }
    case CB_INSTR_ARG: {
        cb_instr_arg_t *a = (cb_instr_arg_t *)in;
        kvs_free(a->args, a->nargs);
        break;
    }
    case CB_INSTR_RUN: {
        cb_instr_run_t *r = (cb_instr_run_t *)in;
        cb_strv_free(&r->cmd);
        cb_strv_free(&r->mount_specs);
        for (size_t i = 0; i < r->nmounts; i++)
            cb_mount_clear(&r->mounts[i]);
        free(r->mounts);
        free(r->network);
        free(r->security);
        cb_strv_free(&r->devices);
        cb_strv_free(&r->proxy_env);
        break;
    }
    case CB_INSTR_CMD:
    case CB_INSTR_ENTRYPOINT:
    case CB_INSTR_SHELL:
        cb_strv_free(&((cb_instr_exec_t *)in)->cmd);
        break;
    case CB_INSTR_COPY:
    case CB_INSTR_ADD: {
        cb_instr_copy_t *c = (cb_instr_copy_t *)in;
        cb_strv_free(&c->sources);
        free(c->dest);
        free(c->from);
        free(c->chown);
        free(c->chmod);
        cb_strv_free(&c->excludes);
        free(c->checksum);
        cb_strv_free(&c->heredocs);
        break;
    }
    case CB_INSTR_ENV:
    case CB_INSTR_LABEL: {
        cb_instr_kvs_t *k = (cb_instr_kvs_t *)in;
        kvs_free(k->pairs, k->npairs);
        break;
    }
    case CB_INSTR_EXPOSE:
    case CB_INSTR_VOLUME:
        cb_strv_free(&((cb_instr_words_t *)in)->words);
        break;
    case CB_INSTR_USER:
    case CB_INSTR_WORKDIR:
    case CB_INSTR_STOPSIGNAL:
    case CB_INSTR_MAINTAINER:
        free(((cb_instr_value_t *)in)->value);
        break;
    case CB_INSTR_HEALTHCHECK:
        cb_strv_free(&((cb_instr_healthcheck_t *)in)->test);
        break;
    case CB_INSTR_ONBUILD: {
        cb_instr_onbuild_t *o = (cb_instr_onbuild_t *)in;
        cb_instr_free(o->trigger);
        free(o->expression);
        break;
    }
    }
    cb_strv_free(&in->used_args);
    free(in);
}

/* ---- program ------------------------------------------------------------ */

void cb_program_free(cb_program_t *prog) {
    if (prog == NULL)
        return;
    for (size_t i = 0; i < prog->nmeta; i++)
        cb_instr_free(&prog->meta_args[i]->base);
    free(prog->meta_args);
    for (size_t s = 0; s < prog->nstages; s++) {
        cb_instr_free(&prog->stages[s].from->base);
        for (size_t i = 0; i < prog->stages[s].ninstrs; i++)
            cb_instr_free(prog->stages[s].instrs[i]);
        free(prog->stages[s].instrs);
    }
    free(prog->stages);
    for (size_t i = 0; i < prog->ntrigger_asts; i++)
        cb_ast_free(prog->trigger_asts[i]);
    free(prog->trigger_asts);
    free(prog);
}

int cb_program_from_ast(const cb_ast_t *ast, cb_program_t **out, cb_error_t **err) {
    cb_program_t *p = cb_xcalloc(1, sizeof *p);
    p->ast = ast;
    p->meta_args = cb_xcalloc(ast->nnodes ? ast->nnodes : 1, sizeof *p->meta_args);
    p->stages = cb_xcalloc(ast->nnodes ? ast->nnodes : 1, sizeof *p->stages);
    for (size_t i = 0; i < ast->nnodes; i++) {
        const cb_node_t *node = ast->nodes[i];
        cb_instr_t *in = NULL;
        if (cb_instr_from_node(node, ast->file, &in, err) < 0)
            goto fail;
        if (in->kind == CB_INSTR_FROM) {
            cb_stage_t *st = &p->stages[p->nstages];
            st->index = p->nstages++;
            st->from = (cb_instr_from_t *)in;
            st->instrs = cb_xcalloc(ast->nnodes, sizeof *st->instrs);
        } else if (p->nstages == 0) {
            if (in->kind != CB_INSTR_ARG) {
                cb_error_at(err, ast->file, node->start_line, node->col,
                            "%s before the first FROM: only ARG may come before FROM",
                            cb_instr_kind_name(in->kind));
                cb_instr_free(in);
                goto fail;
            }
            p->meta_args[p->nmeta++] = (cb_instr_arg_t *)in;
        } else {
            cb_stage_t *st = &p->stages[p->nstages - 1];
            st->instrs[st->ninstrs++] = in;
        }
    }
    if (p->nstages == 0) {
        cb_error_at(err, ast->file, ast->nnodes ? ast->nodes[0]->start_line : 0, 0,
                    "no FROM instruction: the Containerfile contains no stages to build");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    cb_program_free(p);
    return -1;
}
