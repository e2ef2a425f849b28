#include "builder/last_build.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build_state.h"
#include "cache/root.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"

#define MAX_FILE (4u << 20)

void cb_last_build_text_digest(const cb_instr_t *ins, char out[CB_DIGEST_STR_LEN + 1]) {
    const char *t = ins->node->original ? ins->node->original : "";
    cb_sha256_digest(t, strlen(t), out);
}

void cb_last_build_note(const cb_build_t *b, size_t stage, const cb_instr_t *ins, bool cached) {
    if (b->scratch == NULL)
        return;
    char d[CB_DIGEST_STR_LEN + 1];
    cb_last_build_text_digest(ins, d);
    cb_autofree char *path = cb_xasprintf("%s/steps", b->scratch);
    cb_autofree char *line = cb_xasprintf("%zu %d %s %d\n", stage, ins->node->start_line, d, cached ? 1 : 0);
    /* Only a picture depends on it: a failure is not the build's. */
    if (cb_append_line(path, line) < 0)
        cb_debug("graph", "cannot note a step's outcome in %s", path);
}

static char *record_path(const char *cache_dir, const char *containerfile) {
    char abs[PATH_MAX];
    if (realpath(containerfile, abs) == NULL)
        snprintf(abs, sizeof abs, "%s", containerfile);
    char d[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(abs, strlen(abs), d);
    return cb_xasprintf("%s/last-build/%s.json", cache_dir, d + 7);
}

int cb_last_build_save(const cb_build_t *b, cb_error_t **err) {
    cb_autofree char *steps_path = cb_xasprintf("%s/steps", b->scratch);
    cb_autofclose FILE *f = fopen(steps_path, "re");
    json_t *steps = json_array();
    if (f) {
        size_t stage;
        int line, cached;
        char d[80];
        while (fscanf(f, "%zu %d %79s %d", &stage, &line, d, &cached) == 4)
            json_array_append_new(steps, json_pack("{s:I,s:i,s:s,s:b}", "stage", (json_int_t)stage, "line", line,
                                                   "text", d, "cached", cached));
    }
    json_t *j = json_pack("{s:s,s:o}", "containerfile", b->containerfile_real, "steps", steps);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    cb_autofree char *dir = cb_xasprintf("%s/last-build", b->root->cache);
    cb_autofree char *path = record_path(b->root->cache, b->containerfile);
    int rc = cb_mkdir_p(dir, 0755, err);
    if (rc == 0)
        rc = cb_write_file_replace(path, text, strlen(text), 0644, err); /* a picture, not the build: no fsync */
    free(text);
    return rc;
}

int cb_last_build_load(const char *cache_dir, const char *containerfile, json_t **out, cb_error_t **err) {
    *out = NULL;
    cb_autofree char *path = record_path(cache_dir, containerfile);
    cb_autofree char *data = NULL;
    size_t len = 0;
    cb_autoerr cb_error_t *why = NULL;
    if (cb_read_file(path, MAX_FILE, &data, &len, &why) < 0) {
        if (why->kind == CB_ERR_SYSTEM && why->status == ENOENT)
            return 0;
        *err = cb_steal_pointer(&why);
        return -1;
    }
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(j) || !json_is_array(json_object_get(j, "steps"))) {
        json_decref(j);
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "%s: not a record of a build (%s)", path,
                                 j ? "no steps" : jerr.text);
    }
    *out = j;
    return 0;
}
