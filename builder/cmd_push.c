/* cbuild push IMAGE [DESTINATION] */
#include "builder/cmd_push.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "builder/progress.h"
#include "cache/images.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "push/push.h"
#include "push/client.h"
#include "push/reference.h"

static int client_request(void *ctx, const cb_http_request_t *req, cb_http_response_t *resp, cb_error_t **err) {
    return cb_client_request(ctx, req, resp, err);
}

static void client_scope(void *ctx, const char *scope) {
    cb_client_add_scope(ctx, scope);
}

int cb_push_cli_run(const cb_root_t *root, const cb_store_t *store, const char *image, const char *dest,
                    const cb_push_cli_opts_t *o, char **digest, cb_error_t **err) {
    cb_oci_descriptor_t d = {0};
    int rc = cb_images_find(store, image, &d, err);
    if (rc < 0)
        cb_error_wrap(err, "push %s", image);
    else
        rc = cb_push_cli_desc(root, store, &d, dest, o, digest, err);
    cb_oci_descriptor_clear(&d);
    return rc;
}

int cb_push_cli_desc(const cb_root_t *root, const cb_store_t *store, const cb_oci_descriptor_t *image,
                     const char *dest, const cb_push_cli_opts_t *o, char **digest, cb_error_t **err) {
    if (cb_str_has_prefix(dest, "docker://"))
        dest += strlen("docker://");
    cb_autoref cb_ref_t ref = {0};
    if (cb_ref_parse(dest, cb_registry_cli_default_registry(o->registry), &ref, err) < 0)
        return -1;
    const cb_oci_descriptor_t d = *image;
    cb_http_t *http = NULL;
    cb_client_t *client = NULL;
    cb_autofree char *refstr = cb_ref_string(&ref);
    int rc = -1;
    if (cb_registry_cli_http(o->registry, &http, err) < 0)
        goto out;
    cb_client_opts_t co = cb_registry_cli_client(o->registry, http);
    if (cb_client_open(&co, &ref, "pull,push", &client, err) < 0)
        goto out;
    cb_upload_target_t t = {
        .http = http,
        .base_url = cb_client_base_url(client),
        .registry = ref.registry,
        .repository = ref.repository,
        .request = client_request,
        .add_scope = client_scope,
        .request_ctx = client,
        .root_dir = root->path,
    };
    /* For measurements (tests/bench/bench_registry.sh) and fault tests. */
    const char *env = getenv("CBUILD_PUSH_CHUNK_SIZE");
    if (env)
        t.chunk_size = t.mono_max = strtoll(env, NULL, 0);
    cb_info("push", "Pushing %s to %s", d.digest, refstr);
    if (cb_push_image(&t, store, &d, ref.digest ? NULL : ref.tag, o->jobs, err) < 0)
        goto out;
    if (ref.digest && strcmp(ref.digest, d.digest) != 0) {
        cb_error_kind_set(err, CB_ERR_INPUT, "%s: the image's digest is %s", refstr, d.digest);
        goto out;
    }
    uint64_t sent = 0, received = 0;
    cb_http_stats(http, &sent, &received);
    cb_info("push", "%" PRIuFAST64 " blobs uploaded, %" PRIuFAST64 " mounted, %" PRIuFAST64
            " already there; %" PRIu64 " bytes sent (%" PRIuFAST64 " resumed, %" PRIuFAST64 " restarted)",
            atomic_load(&t.stats.uploaded), atomic_load(&t.stats.mounted), atomic_load(&t.stats.skipped), sent,
            atomic_load(&t.stats.resumed), atomic_load(&t.stats.restarted));
    if (o->digestfile && cb_write_file_atomic(o->digestfile, d.digest, strlen(d.digest), 0644, err) < 0) {
        cb_error_wrap(err, "--digestfile %s", o->digestfile);
        goto out;
    }
    *digest = cb_xstrdup(d.digest);
    rc = 0;
out:
    if (rc < 0)
        cb_error_wrap(err, "push %s", refstr);
    cb_client_free(client);
    cb_http_free(http);
    return rc;
}

enum { OPT_ROOT = 1000, OPT_DIGESTFILE, OPT_JOBS };

static const struct option push_opts[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    CB_REGISTRY_CLI_LONGOPTS,
    {"digestfile", required_argument, NULL, OPT_DIGESTFILE},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char push_usage[] =
    "Usage: cbuild push [OPTIONS] IMAGE [[docker://]REGISTRY/REPOSITORY[:TAG]]\n\n"
    "Push an image of the local store to a registry (to IMAGE's own name when no destination is given).\n\n"
    CB_REGISTRY_CLI_USAGE
    "      --digestfile FILE      write the pushed manifest's digest to FILE\n"
    "      --jobs N               blobs to upload at once (default 4)\n"
    "      --root DIR             the cbuild root\n"
    "  -q, --quiet                print only the digest\n";

static int push_main(const char *root_opt, const char *image, const char *dest, const cb_push_cli_opts_t *o) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    cb_autofree char *digest = NULL;
    cb_interrupt_install();
    if (cb_cli_open_store(root_opt, &root, &store, &err) < 0 ||
        cb_push_cli_run(root, store, image, dest, o, &digest, &err) < 0)
        return cb_cli_fail(err);
    printf("%s\n", digest);
    return 0;
}

int cb_cmd_push(int argc, char **argv) {
    cb_registry_cli_t reg = CB_REGISTRY_CLI_INIT;
    cb_push_cli_opts_t o = {.registry = &reg};
    const char *root_opt = NULL;
    bool quiet = false;
    int c, rc = 2;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", push_opts, NULL)) != -1) {
        cb_autoerr cb_error_t *rerr = NULL;
        int taken = cb_registry_cli_option(&reg, c, optarg, &rerr);
        if (taken < 0) {
            rc = cb_cli_fail(rerr);
            goto out;
        }
        if (taken)
            continue;
        switch (c) {
        case OPT_ROOT:
            root_opt = optarg;
            break;
        case OPT_DIGESTFILE:
            o.digestfile = optarg;
            break;
        case OPT_JOBS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "cbuild push: --jobs %s: expected 1 to 64\n", optarg);
                goto out;
            }
            o.jobs = (int)n;
            break;
        }
        case 'q':
            cb_log_set_quiet(1);
            quiet = true;
            break;
        case 'h':
            printf("%s", push_usage);
            rc = 0;
            goto out;
        default:
            cb_cli_bad_option("push", push_opts, argv, optind);
            goto out;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        fprintf(stderr, "cbuild push: expected IMAGE and at most one DESTINATION\n");
        goto out;
    }
    cb_progress_start_transfers(quiet);
    rc = push_main(root_opt, argv[optind], optind + 1 < argc ? argv[optind + 1] : argv[optind], &o);
out:
    cb_registry_cli_clear(&reg);
    return rc;
}
