/* Helpers shared by the subcommands' argument parsing. */
#ifndef CB_BUILDER_CLI_H
#define CB_BUILDER_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

/* The long option closest to `bad` (edit distance), or NULL when none is close. */
const char *cb_cli_suggest(const struct option *opts, const char *bad);
/* Prints "cbuild CMD: unknown option X (did you mean --Y?)" for getopt's '?'. */
void cb_cli_bad_option(const char *cmd, const struct option *opts, char **argv, int optind_now);

#include <stdbool.h>
#include <stdint.h>

#include "cache/images.h"
#include "cache/root.h"
#include "cache/store.h"

/* The options the store commands (images, inspect, tag, rmi, history, df)
 * share; each command allows a subset (CB_STORE_OPT_*), the others are
 * unknown options to it. */
enum {
    CB_STORE_OPT_FORMAT = 1,   /* --format table|json, checked */
    CB_STORE_OPT_NO_TRUNC = 2, /* --no-trunc */
    CB_STORE_NO_OPERANDS = 4,  /* an operand is an error */
};
typedef struct cb_store_args {
    const char *root;
    bool json; /* --format json */
    bool no_trunc;
    int first; /* index of the first operand */
} cb_store_args_t;
/* Returns -1 to go on, else the exit code (0 after --help). */
int cb_cli_store_args(const char *cmd, const char *usage, unsigned allowed, int argc, char **argv,
                      cb_store_args_t *a);

struct cb_build_opts;
/* The config file's defaults for a build (compression, jobs, network);
 * the flags parsed after it override them. */
void cb_cli_build_defaults(struct cb_build_opts *o);

/* The Containerfile for CONTEXT: -f FILE as given, else CONTEXT/Containerfile,
 * else CONTEXT/Dockerfile (buildah's order); caller frees *out. */
int cb_cli_find_containerfile(const char *context, const char *file, char **out, cb_error_t **err);
/* A missing, directory or empty Containerfile as an error located at the file. */
int cb_cli_check_containerfile(const char *path, cb_error_t **err);

/* one when n is 1, else many: "1 blob", "2 blobs". */
const char *cb_cli_plural(size_t n, const char *one, const char *many);
/* A size as docker prints it: decimal units, three significant digits ("12.3 MB"). */
void cb_cli_human_size(int64_t n, char out[32]);
/* An RFC 3339 time as docker's "3 hours ago"; "" when it cannot be read. */
void cb_cli_human_since(const char *rfc3339, char out[48]);
/* Prints a JSON value to stdout, indented, and drops the reference. */
void cb_cli_print_json(json_t *j);

/* The store of the root given by --root (or the environment), created when
 * missing; both handles are the caller's. */
int cb_cli_open_store(const char *root_opt, cb_root_t **root, cb_store_t **store, cb_error_t **err);
/* Every image of the store of root_opt (cb_images_list); free with cb_image_infos_free. */
int cb_cli_list_images(const char *root_opt, cb_image_info_t **infos, size_t *n, cb_error_t **err);
/* Prints the error and returns the exit code for it. */
int cb_cli_fail(cb_error_t *err);

#endif
