/* cbuild's entry point: a table of subcommands (crun's layout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/commands.h"
#include "common/config.h"
#include "common/util.h"

static const cb_command_t commands[] = {
    {"build", cb_cmd_build, "build an image from a Containerfile (also: cbuild [OPTIONS] CONTEXT)"},
    {"images", cb_cmd_images, "list the images in the local store"},
    {"inspect", cb_cmd_inspect, "print an image's manifest and config as JSON"},
    {"history", cb_cmd_history, "show the steps that made an image and their layers' sizes"},
    {"tag", cb_cmd_tag, "give an image in the local store another name"},
    {"rmi", cb_cmd_rmi, "remove image names from the local store"},
    {"prune", cb_cmd_prune, "remove unused build cache, blobs and leftovers from the root"},
    {"fsck", cb_cmd_fsck, "check every blob, image and cache record of the root"},
    {"df", cb_cmd_df, "show the root's disk usage and what prune would reclaim"},
    {"push", cb_cmd_push, "push an image of the local store to a registry"},
    {"pull", cb_cmd_pull, "pull an image from a registry into the local store"},
    {"login", cb_cmd_login, "check and save credentials for a registry"},
    {"logout", cb_cmd_logout, "remove a registry's saved credentials"},
    {"parse", cb_cmd_parse, "parse a Containerfile and print its syntax tree or instruction graph"},
    {"graph", cb_cmd_graph, "draw a Containerfile's stage and instruction graph (DOT or SVG)"},
    {"version", cb_cmd_version, "print the versions of cbuild and its libraries"},
};

static void usage(FILE *out) {
    fprintf(out, "Usage: cbuild COMMAND [OPTIONS]\n\nCommands:\n");
    for (size_t i = 0; i < CB_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'cbuild COMMAND --help' for a command's options, 'man cbuild' for more.\n");
}

/* The command a mistyped one most likely meant, or NULL. */
static const char *suggest(const char *bad) {
    const char *best = NULL;
    size_t best_d = (size_t)-1, n = strlen(bad);
    for (size_t i = 0; i < CB_ARRAY_LEN(commands); i++) {
        size_t d = cb_edit_distance(bad, n, commands[i].name);
        if (d < best_d) {
            best_d = d;
            best = commands[i].name;
        }
    }
    return best_d <= (n / 3 > 2 ? n / 3 : 2) && best_d < n ? best : NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cb_cmd_version(argc - 1, argv + 1);
    cb_error_t *err = NULL;
    if (cb_config_load(&err) < 0) {
        cb_error_print(err, stderr);
        cb_error_free(err);
        return 2;
    }
    /* The file's root comes after --root and $CBUILD_ROOT: it becomes
     * $CBUILD_ROOT's default, which every command already honours. */
    if (cb_config()->root && getenv("CBUILD_ROOT") == NULL)
        setenv("CBUILD_ROOT", cb_config()->root, 1);
    for (size_t i = 0; i < CB_ARRAY_LEN(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    /* `cbuild -t app:dev .` and `cbuild .` build, as `docker build` would. */
    struct stat st;
    if (argv[1][0] == '-' || stat(argv[1], &st) == 0)
        return cb_cmd_build(argc, argv);
    const char *hint = suggest(argv[1]);
    if (hint)
        fprintf(stderr, "cbuild: unknown command '%s' (and no such build context); did you mean '%s'?\n", argv[1],
                hint);
    else
        fprintf(stderr, "cbuild: unknown command '%s' (and no such build context)\n", argv[1]);
    fprintf(stderr, "Run 'cbuild --help' for the commands.\n");
    return 2;
}
