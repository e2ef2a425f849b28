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
#include "cache/images.h"
#include "common/log.h"
#include "push/push.h"
#include "push/push_request.h"
#include "push/reference.h"

static int write_digestfile(const char *path, const char *digest, cb_error_t **err) {
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return cb_error_set(err, errno, "--digestfile %s", path);
    fputs(digest, f);
    if (fclose(f) != 0)
        return cb_error_set(err, errno, "--digestfile %s", path);
    return 0;
}

static int parse_creds(const char *s, cb_creds_t *out, cb_error_t **err) {
    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return cb_error_kind_set(err, CB_ERR_INPUT, "--creds: expected USER:PASSWORD");
    out->username = cb_xstrndup(s, (size_t)(colon - s));
    out->password = cb_xstrdup(colon + 1);
    return 0;
}

int cb_push_cli_run(const cb_root_t *root, const cb_store_t *store, const char *image, const char *dest,
                    const cb_push_cli_opts_t *o, char **digest, cb_error_t **err) {
    if (cb_str_has_prefix(dest, "docker://"))
        dest += strlen("docker://");
    cb_autoref cb_ref_t ref = {0};
    if (cb_ref_parse(dest, NULL, &ref, err) < 0)
        return -1;
    cb_oci_descriptor_t d = {0};
    cb_creds_t creds = {0};
    cb_push_remote_t *remote = NULL;
    cb_autofree char *refstr = cb_ref_string(&ref);
    int rc = -1;
    if (cb_images_find(store, image, &d, err) < 0)
        goto out;
    if (o->creds && parse_creds(o->creds, &creds, err) < 0)
        goto out;
    cb_http_opts_t ho = CB_HTTP_OPTS_INIT;
    ho.tls_verify = o->tls_verify;
    ho.cert_dir = o->cert_dir;
    if (cb_push_remote_open(cb_ref_api_host(&ref), &ho, o->creds ? &creds : NULL, &remote, err) < 0)
        goto out;
    cb_push_repo_t repo = {.remote = remote, .repository = ref.repository};
    cb_upload_target_t t = {
        .http = remote->http,
        .base_url = remote->base_url,
        .registry = ref.registry,
        .repository = ref.repository,
        .request = cb_push_repo_do,
        .request_ctx = &repo,
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
        rc = cb_error_kind_set(err, CB_ERR_INPUT, "%s: the image's digest is %s", refstr, d.digest);
        goto out;
    }
    uint64_t sent = 0, received = 0;
    cb_http_stats(remote->http, &sent, &received);
    cb_info("push", "%" PRIuFAST64 " blobs uploaded, %" PRIuFAST64 " mounted, %" PRIuFAST64
            " already there; %" PRIu64 " bytes sent (%" PRIuFAST64 " resumed, %" PRIuFAST64 " restarted)",
            atomic_load(&t.stats.uploaded), atomic_load(&t.stats.mounted), atomic_load(&t.stats.skipped), sent,
            atomic_load(&t.stats.resumed), atomic_load(&t.stats.restarted));
    if (o->digestfile && write_digestfile(o->digestfile, d.digest, err) < 0)
        goto out;
    *digest = cb_xstrdup(d.digest);
    rc = 0;
out:
    if (rc < 0 && *err)
        cb_error_wrap(err, "push %s", refstr);
    cb_push_remote_free(remote);
    cb_creds_clear(&creds);
    cb_oci_descriptor_clear(&d);
    return rc;
}

enum { OPT_ROOT = 1000, OPT_CREDS, OPT_CERT_DIR, OPT_TLS_VERIFY, OPT_DIGESTFILE, OPT_JOBS };

static const struct option push_opts[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"creds", required_argument, NULL, OPT_CREDS},
    {"cert-dir", required_argument, NULL, OPT_CERT_DIR},
    {"tls-verify", optional_argument, NULL, OPT_TLS_VERIFY},
    {"digestfile", required_argument, NULL, OPT_DIGESTFILE},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char push_usage[] =
    "Usage: cbuild push [OPTIONS] IMAGE [[docker://]REGISTRY/REPOSITORY[:TAG]]\n\n"
    "Push an image of the local store to a registry (to IMAGE's own name when no destination is given).\n\n"
    "      --creds USER:PASSWORD  credentials for the registry\n"
    "      --cert-dir DIR         CA certificates (*.crt) for the registry\n"
    "      --tls-verify=false     do not check the registry's certificate (and allow plain http)\n"
    "      --digestfile FILE      write the pushed manifest's digest to FILE\n"
    "      --jobs N               blobs to upload at once (default 4)\n"
    "      --root DIR             the cbuild root\n"
    "  -q, --quiet                print only the digest\n";

/* "true"/"false" for --tls-verify[=BOOL]. */
static int parse_bool(const char *v, bool *out) {
    if (!v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

int cb_cmd_push(int argc, char **argv) {
    cb_push_cli_opts_t o = CB_PUSH_CLI_OPTS_INIT;
    const char *root_opt = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", push_opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT:
            root_opt = optarg;
            break;
        case OPT_CREDS:
            o.creds = optarg;
            break;
        case OPT_CERT_DIR:
            o.cert_dir = optarg;
            break;
        case OPT_TLS_VERIFY:
            if (parse_bool(optarg, &o.tls_verify) < 0) {
                fprintf(stderr, "cbuild push: --tls-verify=%s: expected true or false\n", optarg);
                return 2;
            }
            break;
        case OPT_DIGESTFILE:
            o.digestfile = optarg;
            break;
        case OPT_JOBS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, "cbuild push: --jobs %s: expected 1 to 64\n", optarg);
                return 2;
            }
            o.jobs = (int)n;
            break;
        }
        case 'q':
            cb_log_set_quiet(1);
            break;
        case 'h':
            printf("%s", push_usage);
            return 0;
        default:
            cb_cli_bad_option("push", push_opts, argv, optind);
            return 2;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        fprintf(stderr, "cbuild push: expected IMAGE and at most one DESTINATION\n");
        return 2;
    }
    const char *image = argv[optind];
    const char *dest = optind + 1 < argc ? argv[optind + 1] : image;
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    cb_autofree char *digest = NULL;
    if (cb_cli_open_store(root_opt, &root, &store, &err) < 0 ||
        cb_push_cli_run(root, store, image, dest, &o, &digest, &err) < 0)
        return cb_cli_fail(err);
    printf("%s\n", digest);
    return 0;
}
