/* cbuild pull [OPTIONS] REF: an image from a registry into the local store. */
#include <getopt.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "builder/progress.h"
#include "builder/registry_cli.h"
#include "cache/root.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "push/pull.h"

enum { OPT_ROOT = 1000, OPT_PLATFORM };

static const struct option pull_opts[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    CB_REGISTRY_CLI_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static const char pull_usage[] =
    "Usage: cbuild pull [OPTIONS] [docker://]REF\n\n"
    "Pull an image from a registry into the local store and print its manifest digest.\n\n"
    "      --platform OS/ARCH[/VARIANT]  the image of a multi-platform index (linux/amd64)\n"
    "      --root DIR            the cbuild root\n"
    "  -q, --quiet               no progress lines\n" CB_REGISTRY_CLI_USAGE;

static int run_pull(const cb_registry_cli_t *reg, const char *root_opt, const char *platform,
                    bool quiet, const char *ref) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    cb_autohttp cb_http_t *http = NULL;
    cb_oci_platform_t want = {0};
    cb_pull_result_t res = {0};
    int rc = 0;
    if (cb_str_has_prefix(ref, "docker://"))
        ref += strlen("docker://");
    if (quiet)
        cb_log_set_quiet(1);
    cb_progress_start_transfers(quiet);
    cb_interrupt_install();
    if ((platform && cb_oci_platform_parse(platform, &want, &err) < 0) ||
        cb_cli_open_store(root_opt, &root, &store, &err) < 0 ||
        cb_registry_cli_http(reg, &http, &err) < 0) {
        rc = cb_cli_fail(err);
        goto out;
    }
    cb_pull_opts_t po = {
        .client = cb_registry_cli_client(reg, http),
        .platform = platform ? &want : NULL,
        .default_registry = cb_registry_cli_default_registry(reg),
        .policy = CB_PULL_ALWAYS,
        .quiet = quiet,
        .root_dir = root->path,
    };
    if (cb_pull(store, ref, &po, &res, &err) < 0) {
        rc = cb_cli_fail(err);
        goto out;
    }
    uint64_t received = 0;
    cb_http_stats(http, NULL, &received);
    cb_info("pull", "%s: %d blobs fetched, %d already present, %llu bytes received",
            res.name ? res.name : res.manifest.digest, res.blobs_fetched, res.blobs_present,
            (unsigned long long)received);
    printf("%s\n", res.manifest.digest);
out:
    cb_pull_result_clear(&res);
    cb_oci_platform_clear(&want);
    return rc;
}

int cb_cmd_pull(int argc, char **argv) {
    cb_autoerr cb_error_t *err = NULL;
    cb_registry_cli_t reg = CB_REGISTRY_CLI_INIT;
    const char *root_opt = NULL, *platform = NULL;
    bool quiet = false;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", pull_opts, NULL)) != -1) {
        int r = cb_registry_cli_option(&reg, c, optarg, &err);
        if (r < 0) {
            rc = cb_cli_fail(err);
            goto out;
        }
        if (r > 0)
            continue;
        switch (c) {
        case OPT_ROOT:
            root_opt = optarg;
            break;
        case OPT_PLATFORM:
            platform = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(pull_usage, stdout);
            goto out;
        default:
            cb_cli_bad_option("pull", pull_opts, argv, optind);
            rc = 2;
            goto out;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "cbuild pull: expected one image reference\n%s", pull_usage);
        rc = 2;
        goto out;
    }
    rc = run_pull(&reg, root_opt, platform, quiet, argv[optind]);
out:
    cb_registry_cli_clear(&reg);
    return rc;
}
