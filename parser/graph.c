/* Stages as a DAG: edges, cycle check, target and the stages it keeps. */
#include "parser/graph.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cb_graph_free(cb_graph_t *g) {
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->nstages; i++)
        free(g->stages[i].deps);
    free(g->stages);
    free(g->order);
    free(g);
}

static bool parse_index(const char *s, size_t *out) {
    if (*s == '\0' || strlen(s) > 9)
        return false;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    *out = (size_t)strtoul(s, NULL, 10);
    return true;
}

bool cb_graph_find_stage(const cb_program_t *prog, const char *ref, bool allow_index, size_t *index) {
    size_t n;
    if (allow_index && parse_index(ref, &n)) {
        if (n >= prog->nstages)
            return false;
        *index = n;
        return true;
    }
    for (size_t i = 0; i < prog->nstages; i++)
        if (prog->stages[i].from->name && strcasecmp(prog->stages[i].from->name, ref) == 0) {
            *index = i;
            return true;
        }
    return false;
}

static int at(cb_error_t **err, const cb_instr_t *in, const char *fmt, const char *a, const char *b) {
    cb_error_at(err, in->file, in->node->start_line, in->node->col, fmt, a, b);
    return -1;
}

static const char *stage_label(const cb_program_t *prog, size_t i, char buf[32]) {
    if (prog->stages[i].from->name)
        return prog->stages[i].from->name;
    snprintf(buf, 32, "stage-%zu", i);
    return buf;
}

static void add_edge(cb_graph_stage_t *gs, size_t stage, const cb_instr_t *via) {
    for (size_t i = 0; i < gs->ndeps; i++)
        if (gs->deps[i].stage == stage)
            return;
    gs->deps = cb_xrealloc(gs->deps, (gs->ndeps + 1) * sizeof *gs->deps);
    gs->deps[gs->ndeps++] = (cb_graph_edge_t){stage, via};
}

/* An edge from COPY --from or a mount's from=: a stage, or an image (none). */
static int ref_edge(const cb_program_t *prog, cb_graph_stage_t *gs, const char *ref,
                    const cb_instr_t *via, cb_error_t **err) {
    size_t idx;
    if (parse_index(ref, &idx) && idx >= prog->nstages) {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", prog->nstages);
        return at(err, via, "invalid stage index %s (the Containerfile has %s stages)", ref, buf);
    }
    if (cb_graph_find_stage(prog, ref, true, &idx))
        add_edge(gs, idx, via);
    return 0;
}

static int collect_edges(const cb_program_t *prog, cb_graph_t *g, cb_error_t **err) {
    for (size_t s = 0; s < prog->nstages; s++) {
        const cb_stage_t *st = &prog->stages[s];
        cb_graph_stage_t *gs = &g->stages[s];
        gs->base = -1;
        for (size_t j = 0; j < s; j++)
            if (prog->stages[j].from->name && strcasecmp(prog->stages[j].from->name, st->from->image) == 0)
                gs->base = (ssize_t)j; /* the latest earlier stage of that name */
        if (gs->base >= 0)
            add_edge(gs, (size_t)gs->base, &st->from->base);
        for (size_t i = 0; i < st->ninstrs; i++) {
            const cb_instr_t *in = st->instrs[i];
            if (in->kind == CB_INSTR_COPY) {
                const cb_instr_copy_t *c = (const cb_instr_copy_t *)in;
                if (c->from && ref_edge(prog, gs, c->from, in, err) < 0)
                    return -1;
            } else if (in->kind == CB_INSTR_RUN) {
                const cb_instr_run_t *r = (const cb_instr_run_t *)in;
                for (size_t m = 0; m < r->mount_specs.len; m++) {
                    cb_autofree char *from = cb_mount_spec_value(r->mount_specs.items[m], "from");
                    if (from && *from && ref_edge(prog, gs, from, in, err) < 0)
                        return -1;
                }
            }
        }
    }
    return 0;
}

enum { WHITE, GREY, BLACK };

/* Depth-first search; a GREY stage reached again closes a cycle. */
static int visit(const cb_program_t *prog, const cb_graph_t *g, size_t s, unsigned char *color,
                 cb_error_t **err) {
    color[s] = GREY;
    for (size_t i = 0; i < g->stages[s].ndeps; i++) {
        const cb_graph_edge_t *e = &g->stages[s].deps[i];
        char b1[32], b2[32];
        if (color[e->stage] == GREY)
            return at(err, e->via, "circular dependency detected on stage: %s (reached again from %s)",
                      stage_label(prog, e->stage, b1), stage_label(prog, s, b2));
        if (color[e->stage] == WHITE && visit(prog, g, e->stage, color, err) < 0)
            return -1;
    }
    color[s] = BLACK;
    return 0;
}

static int check_order(const cb_program_t *prog, const cb_graph_t *g, cb_error_t **err) {
    for (size_t s = 0; s < g->nstages; s++)
        for (size_t i = 0; i < g->stages[s].ndeps; i++) {
            const cb_graph_edge_t *e = &g->stages[s].deps[i];
            char b1[32], b2[32];
            if (e->stage > s)
                return at(err, e->via, "cannot copy from stage \"%s\", it needs to be defined before current stage \"%s\"",
                          stage_label(prog, e->stage, b1), stage_label(prog, s, b2));
        }
    return 0;
}

static void keep(cb_graph_t *g, size_t s) {
    if (g->stages[s].kept)
        return;
    g->stages[s].kept = true;
    for (size_t i = 0; i < g->stages[s].ndeps; i++)
        keep(g, g->stages[s].deps[i].stage);
}

static int resolve_target(const cb_program_t *prog, const char *target, size_t *out, cb_error_t **err) {
    if (target == NULL) {
        *out = prog->nstages - 1;
        return 0;
    }
    if (cb_graph_find_stage(prog, target, false, out))
        return 0;
    cb_autobuf cb_buf_t names = CB_BUF_INIT;
    for (size_t i = 0; i < prog->nstages; i++)
        if (prog->stages[i].from->name)
            cb_buf_printf(&names, "%s%s", names.len ? ", " : "", prog->stages[i].from->name);
    cb_error_set(err, 0, "target stage \"%s\" could not be found (%s%s)", target,
                 names.len ? "named stages: " : "no stage is named", cb_buf_str(&names));
    cb_error_locate(err, prog->ast ? prog->ast->file : NULL, 0, 0);
    return -1;
}

int cb_graph_build(const cb_program_t *prog, const char *target, cb_graph_t **out, cb_error_t **err) {
    for (size_t s = 0; s < prog->nstages; s++) {
        const char *name = prog->stages[s].from->name;
        for (size_t j = 0; name && j < s; j++)
            if (prog->stages[j].from->name && strcasecmp(prog->stages[j].from->name, name) == 0) {
                char line[32];
                snprintf(line, sizeof line, "%d", prog->stages[j].from->base.node->start_line);
                return at(err, &prog->stages[s].from->base,
                          "duplicate stage name \"%s\" (first defined on line %s)", name, line);
            }
    }
    cb_graph_t *g = cb_xcalloc(1, sizeof *g);
    g->nstages = prog->nstages;
    g->stages = cb_xcalloc(prog->nstages, sizeof *g->stages);
    g->order = cb_xcalloc(prog->nstages, sizeof *g->order);
    cb_autofree unsigned char *color = cb_xcalloc(prog->nstages, 1);
    if (collect_edges(prog, g, err) < 0)
        goto fail;
    for (size_t s = 0; s < prog->nstages; s++)
        if (color[s] == WHITE && visit(prog, g, s, color, err) < 0)
            goto fail;
    if (check_order(prog, g, err) < 0 || resolve_target(prog, target, &g->target, err) < 0)
        goto fail;
    keep(g, g->target);
    /* Every edge points backwards, so file order puts dependencies first. */
    for (size_t s = 0; s < prog->nstages; s++)
        if (g->stages[s].kept)
            g->order[g->norder++] = s;
    *out = g;
    return 0;
fail:
    cb_graph_free(g);
    return -1;
}
