/* cbuild prune: `docker builder prune` for the local root (cache/prune.h
 * has the rules). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "cache/prune.h"
#include "common/util.h"

enum { OPT_ROOT = 1000, OPT_KEEP_STORAGE, OPT_FILTER };

static const char usage[] =
    "Usage: cbuild prune [--all] [--keep-storage SIZE] [--filter until=DURATION] [--root DIR]\n"
    "\n"
    "Remove build cache records that are damaged or lost their layer, blobs that no image\n"
    "and no cache record references, and temporary files that crashed builds left behind.\n"
    "What a running build may use is kept.\n"
    "\n"
    "  -a, --all                  also remove every cache record (and the blobs only they used)\n"
    "      --keep-storage SIZE    remove least recently used records until the blobs only\n"
    "                             records use take at most SIZE (500MB, 5GB; 1KB = 1024 bytes)\n"
    "      --filter until=DURATION  only records unused for DURATION (24h, 30m, 7d)\n"
    "  -f, --force                accepted for docker's sake: prune never asks\n"
    "      --root DIR             the cbuild root (default: $CBUILD_ROOT, ~/.local/share/cbuild)\n";

static const struct option opts[] = {
    {"all", no_argument, NULL, 'a'},
    {"keep-storage", required_argument, NULL, OPT_KEEP_STORAGE},
    {"filter", required_argument, NULL, OPT_FILTER},
    {"force", no_argument, NULL, 'f'},
    {"root", required_argument, NULL, OPT_ROOT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* --filter KEY=VALUE: until is the one filter there is. */
static int parse_filter(const char *arg, cb_prune_opts_t *o, cb_error_t **err) {
    if (strncmp(arg, "until=", 6) != 0)
        return cb_error_kind_set(err, CB_ERR_INPUT, "--filter %s: the only filter is until=DURATION", arg);
    if (o->until >= 0)
        return cb_error_kind_set(err, CB_ERR_INPUT, "--filter until= given twice");
    if (cb_prune_parse_duration(arg + 6, &o->until, err) < 0)
        return cb_error_wrap(err, "--filter");
    return 0;
}

/* Sizes in decimal units, as docker prints what a prune reclaimed. */
static void human(int64_t n, char out[32]) {
    if (n < 1000)
        snprintf(out, 32, "%lld B", (long long)n);
    else if (n < 1000 * 1000)
        snprintf(out, 32, "%.1f kB", (double)n / 1e3);
    else if (n < 1000 * 1000 * 1000)
        snprintf(out, 32, "%.1f MB", (double)n / 1e6);
    else
        snprintf(out, 32, "%.2f GB", (double)n / 1e9);
}

static void print_report(const char *keep_arg, const cb_prune_report_t *r, int64_t now) {
    char size[32];
    if (r->running_build) {
        long long min = (long long)((now - r->running_since) / (60 * CB_PRUNE_NS_PER_SEC));
        printf("A build may be running (%s, started ", r->running_build);
        if (min < 1)
            printf("less than a minute ago");
        else if (min < 120)
            printf("%lld minutes ago", min);
        else
            printf("%lld hours ago", min / 60);
        printf("): what it may use is kept.\n");
    }
    if (r->kept_records)
        printf("Kept %zu cache %s used since that build started.\n", r->kept_records,
               cb_cli_plural(r->kept_records, "record", "records"));
    if (r->kept_blobs)
        printf("Kept %zu unused %s written in the last %lld minutes%s; prune again later to remove %s.\n",
               r->kept_blobs, cb_cli_plural(r->kept_blobs, "blob", "blobs"),
               (long long)(CB_PRUNE_GRACE / (60 * CB_PRUNE_NS_PER_SEC)),
               r->running_build ? " or since that build started" : "", cb_cli_plural(r->kept_blobs, "it", "them"));
    if (keep_arg) {
        human(r->cache_bytes, size);
        printf("The build cache now takes %s (--keep-storage %s).\n", size, keep_arg);
    }
    printf("Deleted %zu cache %s, %zu %s", r->records, cb_cli_plural(r->records, "record", "records"), r->blobs,
           cb_cli_plural(r->blobs, "blob", "blobs"));
    if (r->temps)
        printf(", %zu temporary %s", r->temps, cb_cli_plural(r->temps, "leftover", "leftovers"));
    human(r->bytes, size);
    printf(", %s reclaimed\n", size);
}

int cb_cmd_prune(int argc, char **argv) {
    cb_prune_opts_t o = {.keep_storage = -1, .until = -1};
    const char *root_opt = NULL;
    const char *keep_arg = NULL;
    cb_autoerr cb_error_t *err = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "afh", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            o.all = true;
            break;
        case 'f':
            break;
        case OPT_KEEP_STORAGE:
            keep_arg = optarg;
            if (cb_prune_parse_size(optarg, &o.keep_storage, &err) < 0) {
                cb_error_wrap(&err, "--keep-storage");
                return cb_cli_fail(err);
            }
            break;
        case OPT_FILTER:
            if (parse_filter(optarg, &o, &err) < 0)
                return cb_cli_fail(err);
            break;
        case OPT_ROOT:
            root_opt = optarg;
            break;
        case 'h':
            printf("%s", usage);
            return 0;
        default:
            cb_cli_bad_option("prune", opts, argv, optind);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cbuild prune: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    cb_autoroot cb_root_t *root = NULL;
    if (cb_root_open(root_opt, &root, &err) < 0)
        return cb_cli_fail(err);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    o.now = (int64_t)ts.tv_sec * CB_PRUNE_NS_PER_SEC + ts.tv_nsec;
    cb_prune_report_t rep;
    if (cb_prune(root, &o, &rep, &err) < 0)
        return cb_cli_fail(err);
    print_report(keep_arg, &rep, o.now);
    cb_prune_report_clear(&rep);
    return 0;
}
