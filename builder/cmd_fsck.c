/* cbuild fsck: checks a root's store and build cache (cache/fsck.h has
 * what and why); a problem a line, exit 1 while any is left. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "cache/fsck.h"
#include "common/util.h"

enum { OPT_ROOT = 1000 };

static const char usage[] =
    "Usage: cbuild fsck [--repair] [--quiet] [--root DIR]\n"
    "\n"
    "Check the root: every blob's sha256 matches its name; every image in index.json\n"
    "resolves (manifests, indexes, configs and layers present, of the sizes their\n"
    "descriptors say, and decoding); every cache record decodes and its layer blob is\n"
    "present and intact. Each problem is printed on a line as PATH: PROBLEM; the exit\n"
    "status is 1 while any is left, 0 when there is none.\n"
    "\n"
    "      --repair     remove damaged blobs and the cache records that are damaged or\n"
    "                   lost their layer (the next build or pull makes them again);\n"
    "                   images are never changed: one that lost a blob stays a problem\n"
    "  -q, --quiet      print only the problems, not the summary\n"
    "      --root DIR   the cbuild root (default: $CBUILD_ROOT, ~/.local/share/cbuild)\n";

static const struct option opts[] = {
    {"repair", no_argument, NULL, 'r'},
    {"quiet", no_argument, NULL, 'q'},
    {"root", required_argument, NULL, OPT_ROOT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_problem(void *ctx, const char *path, const char *problem, bool repaired) {
    (void)ctx;
    printf("%s: %s%s\n", path, problem, repaired ? " (removed)" : "");
}

int cb_cmd_fsck(int argc, char **argv) {
    cb_fsck_opts_t o = {0};
    const char *root_opt = NULL;
    bool quiet = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o.repair = true;
            break;
        case 'q':
            quiet = true;
            break;
        case OPT_ROOT:
            root_opt = optarg;
            break;
        case 'h':
            printf("%s", usage);
            return 0;
        default:
            cb_cli_bad_option("fsck", opts, argv, optind);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cbuild fsck: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autofree char *path = NULL;
    if (cb_root_resolve(root_opt, &path, &err) < 0)
        return cb_cli_fail(err);
    /* The root as it is: opening it the usual way would create what is missing. */
    cb_autoroot cb_root_t *root = cb_root_paths(path);
    cb_fsck_report_t rep;
    if (cb_fsck(root, &o, print_problem, NULL, &rep, &err) < 0)
        return cb_cli_fail(err);
    size_t left = rep.problems - rep.repaired;
    if (!quiet) {
        char size[32];
        cb_cli_human_size(rep.bytes, size);
        printf("Checked %zu %s (%s), %zu %s, %zu cache %s: ", rep.blobs, cb_cli_plural(rep.blobs, "blob", "blobs"),
               size, rep.images, cb_cli_plural(rep.images, "image", "images"), rep.records,
               cb_cli_plural(rep.records, "record", "records"));
        if (rep.problems == 0)
            printf("no problems");
        else
            printf("%zu %s", rep.problems, cb_cli_plural(rep.problems, "problem", "problems"));
        if (rep.repaired)
            printf(", %zu repaired", rep.repaired);
        printf(".\n");
        if (rep.leftovers)
            printf("%zu temporary %s of interrupted runs ('cbuild prune' removes them after an hour).\n",
                   rep.leftovers, cb_cli_plural(rep.leftovers, "leftover", "leftovers"));
    }
    fflush(stdout);
    return left ? 1 : 0;
}
