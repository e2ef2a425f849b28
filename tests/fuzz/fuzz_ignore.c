/* libFuzzer target: .containerignore reading and matching (cache/ignore.h).
 *
 * Input: one mode byte (bit 0: the COPY --exclude walk rule instead of the
 * build context's), the ignore file up to the first NUL, then context paths,
 * one per line. Every path is matched with cb_ignore_matches and, when it is
 * a plain relative path, walked entry by entry as the context walker does
 * (cb_ignore_match_entry with the parent's state, stopping at a directory
 * cb_ignore_skip_dir skips): both must give the same answer, as ignore.h
 * promises. Also findings: a broken error contract, an empty pattern.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/ignore.h"
#include "common/error.h"
#include "common/util.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No empty, "." or ".." element, no leading or trailing '/'. */
static bool plain_path(const char *p) {
    if (!*p)
        return false;
    for (const char *e = p;; e++) {
        if (*e != '/' && *e)
            continue;
        size_t n = (size_t)(e - p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!*e)
            return true;
        p = e + 1;
    }
}

/* The walker's answer for path: its elements top-down, each with its parent's state. */
static bool walk(const cb_ignore_t *ig, char *path) {
    cb_ignore_state_t *parent = NULL;
    bool excluded = false;
    for (char *e = path;; e++) {
        if (*e != '/' && *e)
            continue;
        char saved = *e;
        *e = '\0';
        cb_ignore_state_t *state = NULL;
        excluded = cb_ignore_match_entry(ig, parent, path, &state);
        bool skipped = saved && excluded && cb_ignore_skip_dir(ig, path);
        *e = saved;
        cb_ignore_state_free(parent);
        parent = state;
        if (!saved || skipped)
            break; /* a skipped directory hides (excludes) what is below it */
    }
    cb_ignore_state_free(parent);
    return excluded;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    cb_autofree char *text = cb_xstrndup((const char *)data + 1, size - 1);
    size_t tlen = strlen(text);
    cb_ignore_t *ig = NULL;
    cb_error_t *err = NULL;
    int rc = cb_ignore_parse(text, tlen, ".containerignore", &ig, &err);
    if (rc < 0 && ig)
        abort();
    fuzz_check_error(rc, err);
    if (rc < 0)
        return 0;
    if (data[0] & 1)
        cb_ignore_set_walk(ig, CB_IGNORE_WALK_FILTER);
    for (size_t i = 0; i < cb_ignore_count(ig); i++) {
        const char *p = cb_ignore_pattern(ig, i);
        if (!p || !*p)
            abort();
    }
    if (1 + tlen < size) {
        cb_autofree char *paths = cb_xstrndup((const char *)data + 2 + tlen, size - 2 - tlen);
        char *save = NULL;
        for (char *p = strtok_r(paths, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
            bool m = cb_ignore_matches(ig, p);
            if (plain_path(p) && walk(ig, p) != m)
                abort();
        }
    }
    cb_ignore_free(ig);
    return 0;
}
