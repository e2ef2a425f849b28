/* --explain-cache: for a step that missed, which of its inputs changed
 * since the last build of the same step.
 *
 * After every cacheable step the builder keeps the inputs of its key
 * (builder/step_cache.c: "label\tvalue" lines) under ROOT/cache/explain/,
 * named by the step's place: the Containerfile's real path, the stage's
 * index and the instruction's index. A later miss compares its inputs with
 * them and says what differs: an earlier step, the instruction, a build
 * arg, an ENV value, the sources' content... These files only explain: a
 * lost or damaged one makes "no earlier build of this step" (written
 * without fsync, replaced by rename). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build_state.h"
#include "builder/progress.h"
#include "cache/root.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/log.h"

static char *slot_path(const cb_build_t *b, size_t stage, size_t index) {
    cb_autofree char *id = cb_xasprintf("%s\n%zu\n%zu", b->containerfile_real, stage, index);
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(id, strlen(id), digest);
    return cb_xasprintf("%s/explain/%s.json", b->root->cache, digest + 7);
}

static void load(const char *path, cb_strv_t *out) {
    json_t *j = json_load_file(path, 0, NULL);
    json_t *a = json_object_get(j, "inputs");
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        if (json_is_string(v))
            cb_strv_push(out, json_string_value(v));
    }
    json_decref(j);
}

static void save(const cb_build_t *b, const char *path, const cb_strv_t *inputs) {
    cb_autofree char *dir = cb_xasprintf("%s/explain", b->root->cache);
    cb_autoerr cb_error_t *err = NULL;
    if (cb_mkdir_p(dir, 0700, &err) < 0)
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < inputs->len; i++)
        json_array_append_new(a, json_string(inputs->items[i]));
    json_t *j = json_pack("{s:o}", "inputs", a);
    cb_autofree char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text)
        (void)cb_write_file_replace(path, text, strlen(text), 0644, &err);
}

static bool same_inputs(const cb_strv_t *a, const cb_strv_t *b) {
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

/* The value of label in a list, or NULL. With several (env), the index-th. */
static const char *value_of(const cb_strv_t *l, const char *label, size_t index) {
    size_t n = strlen(label);
    for (size_t i = 0; i < l->len; i++)
        if (strncmp(l->items[i], label, n) == 0 && l->items[i][n] == '\t' && index-- == 0)
            return l->items[i] + n + 1;
    return NULL;
}

static char *short_text(const char *s) {
    size_t n = strlen(s);
    return n > 60 ? cb_xasprintf("%.57s...", s) : cb_xstrdup(s);
}

/* Build args of an instruction's JSON text: "NAME=VALUE" entries. */
static void build_args(const char *instr, cb_strv_t *out) {
    json_t *j = json_loads(instr, 0, NULL);
    json_t *args = json_object_get(j, "build_args");
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v) {
        cb_strv_take(out, cb_xasprintf("%s=%s", k, json_is_string(v) ? json_string_value(v) : "(unset)"));
    }
    json_decref(j);
}

static void explain_args(const char *was, const char *now, cb_buf_t *why) {
    cb_autostrv cb_strv_t a = CB_STRV_INIT, b = CB_STRV_INIT;
    build_args(was, &a);
    build_args(now, &b);
    for (size_t i = 0; i < b.len; i++) {
        const char *eq = strchr(b.items[i], '=');
        size_t n = (size_t)(eq - b.items[i]) + 1;
        const char *old = NULL;
        for (size_t j = 0; j < a.len; j++)
            if (strncmp(a.items[j], b.items[i], n) == 0)
                old = a.items[j] + n;
        if (old == NULL || strcmp(old, eq + 1) != 0)
            cb_buf_printf(why, "%sbuild arg %.*s changed %s -> %s", why->len ? "; " : "", (int)(n - 1), b.items[i],
                          old ? old : "(not set)", eq + 1);
    }
}

static void explain(const cb_strv_t *was, const cb_strv_t *now, cb_buf_t *why) {
    static const char *const labels[] = {"parent", "instruction", "workdir", "user", "shell", "network",
                                         "from",   "content",     "bind",    "bind context", "env"};
    for (size_t l = 0; l < sizeof labels / sizeof *labels; l++) {
        for (size_t i = 0;; i++) {
            const char *a = value_of(was, labels[l], i), *b = value_of(now, labels[l], i);
            if (a == NULL && b == NULL)
                break;
            if (a && b && strcmp(a, b) == 0)
                continue;
            const char *sep = why->len ? "; " : "";
            if (strcmp(labels[l], "parent") == 0) {
                cb_buf_printf(why, "%san earlier step changed", sep);
                return; /* everything after follows from it */
            } else if (strcmp(labels[l], "instruction") == 0) {
                size_t before = why->len;
                if (a && b)
                    explain_args(a, b, why);
                if (why->len == before)
                    cb_buf_printf(why, "%sthe instruction changed", sep);
            } else if (strcmp(labels[l], "content") == 0) {
                cb_buf_printf(why, "%sthe content of its sources changed", sep);
            } else if (strcmp(labels[l], "env") == 0) {
                cb_autofree char *sa = short_text(a ? a : "(none)"), *sb = short_text(b ? b : "(none)");
                cb_buf_printf(why, "%sENV %s -> %s", sep, sa, sb);
            } else {
                cb_autofree char *sa = short_text(a ? a : "(none)"), *sb = short_text(b ? b : "(none)");
                cb_buf_printf(why, "%s%s changed %s -> %s", sep, labels[l], sa, sb);
            }
            break;
        }
    }
}

void cb_step_explain(cb_build_t *b, size_t stage, size_t index, const cb_strv_t *inputs, bool hit) {
    cb_autofree char *path = slot_path(b, stage, index);
    if (!hit && b->opts->explain_cache) {
        cb_autostrv cb_strv_t was = CB_STRV_INIT;
        load(path, &was);
        cb_autobuf cb_buf_t why = CB_BUF_INIT;
        if (was.len == 0)
            cb_buf_puts(&why, "no earlier build of this step");
        else if (b->opts->no_cache)
            cb_buf_puts(&why, "--no-cache");
        else if (b->stages[stage].no_cache)
            cb_buf_puts(&why, "--no-cache-filter");
        else
            explain(&was, inputs, &why);
        if (why.len == 0)
            cb_buf_puts(&why, "same inputs as before, but its record or layer is gone");
        cb_progress_cache_reason(cb_buf_str(&why));
    }
    if (hit) {
        /* Mostly the inputs kept here already: reading is cheaper than
         * writing them again. */
        cb_autostrv cb_strv_t was = CB_STRV_INIT;
        load(path, &was);
        if (same_inputs(&was, inputs))
            return;
    }
    save(b, path, inputs);
}
