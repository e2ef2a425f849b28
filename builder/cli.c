#include "builder/cli.h"

#include <string.h>

#include "common/util.h"

const char *cb_cli_suggest(const struct option *opts, const char *bad) {
    while (*bad == '-')
        bad++;
    size_t blen = strcspn(bad, "=");
    char *name = cb_xstrndup(bad, blen);
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (const struct option *o = opts; o->name; o++) {
        size_t d = cb_edit_distance(name, strlen(name), o->name);
        if (d < best_d) {
            best_d = d;
            best = o->name;
        }
    }
    /* Close enough to be a typo: at most a third of the word, and at least 1. */
    size_t limit = blen / 3 > 2 ? blen / 3 : 2;
    free(name);
    return best_d <= limit ? best : NULL;
}

void cb_cli_bad_option(const char *cmd, const struct option *opts, char **argv, int optind_now) {
    const char *bad = argv[optind_now - 1];
    const char *hint = bad && bad[0] == '-' && bad[1] == '-' ? cb_cli_suggest(opts, bad) : NULL;
    if (hint)
        fprintf(stderr, "cbuild %s: unknown option %s (did you mean --%s?)\n", cmd, bad, hint);
    else
        fprintf(stderr, "cbuild %s: unknown or incomplete option %s\n", cmd, bad ? bad : "");
    fprintf(stderr, "Run 'cbuild %s --help' for usage.\n", cmd);
}

int cb_cli_open_store(const char *root_opt, cb_root_t **root, cb_store_t **store, cb_error_t **err) {
    if (cb_root_open(root_opt, root, err) < 0)
        return -1;
    if (cb_store_open((*root)->store, (*root)->tmp, store, err) < 0) {
        cb_root_free(*root);
        *root = NULL;
        return -1;
    }
    return 0;
}

int cb_cli_fail(cb_error_t *err) {
    cb_error_print(err, stderr);
    return cb_error_exit_code(err);
}
