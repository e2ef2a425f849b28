/* Helpers shared by the subcommands' argument parsing. */
#ifndef CB_BUILDER_CLI_H
#define CB_BUILDER_CLI_H

#include <getopt.h>
#include <stdio.h>

/* The long option closest to `bad` (edit distance), or NULL when none is close. */
const char *cb_cli_suggest(const struct option *opts, const char *bad);
/* Prints "cbuild CMD: unknown option X (did you mean --Y?)" for getopt's '?'. */
void cb_cli_bad_option(const char *cmd, const struct option *opts, char **argv, int optind_now);

#include "cache/root.h"
#include "cache/store.h"

/* The store of the root given by --root (or the environment), created when
 * missing; both handles are the caller's. */
int cb_cli_open_store(const char *root_opt, cb_root_t **root, cb_store_t **store, cb_error_t **err);
/* Prints the error and returns the exit code for it. */
int cb_cli_fail(cb_error_t *err);

#endif
