/* cbuild build (also plain `cbuild [OPTIONS] CONTEXT`): flags follow
 * `buildah build` and `docker build`. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "builder/cli.h"
#include "builder/cmd_push.h"
#include "builder/step_remote_cache.h"
#include "builder/commands.h"
#include "builder/progress.h"
#include "builder/userns.h"
#include "cache/root.h"
#include "common/interrupt.h"

enum {
    OPT_BUILD_ARG = 1000,
    OPT_LABEL,
    OPT_TARGET,
    OPT_PLATFORM,
    OPT_ROOT,
    OPT_IIDFILE,
    OPT_FORMAT,
    OPT_COMPRESSION,
    OPT_TIMESTAMP,
    OPT_NO_CACHE,
    OPT_NETWORK,
    OPT_EXPLAIN_CACHE,
    OPT_JOBS,
    OPT_SECRET,
    OPT_NO_CACHE_FILTER,
    OPT_PROGRESS,
    OPT_PULL,
    OPT_PUSH,
    OPT_DIGESTFILE,
    OPT_CACHE_TO,
    OPT_CACHE_FROM,
};

static const struct option long_opts[] = {
    {"tag", required_argument, NULL, 't'},
    {"file", required_argument, NULL, 'f'},
    {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
    {"label", required_argument, NULL, OPT_LABEL},
    {"target", required_argument, NULL, OPT_TARGET},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"root", required_argument, NULL, OPT_ROOT},
    {"iidfile", required_argument, NULL, OPT_IIDFILE},
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"timestamp", required_argument, NULL, OPT_TIMESTAMP},
    {"no-cache", no_argument, NULL, OPT_NO_CACHE},
    {"no-cache-filter", required_argument, NULL, OPT_NO_CACHE_FILTER},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"explain-cache", no_argument, NULL, OPT_EXPLAIN_CACHE},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"push", no_argument, NULL, OPT_PUSH},
    {"digestfile", required_argument, NULL, OPT_DIGESTFILE},
    {"cache-to", required_argument, NULL, OPT_CACHE_TO},
    {"cache-from", required_argument, NULL, OPT_CACHE_FROM},
    {"pull", optional_argument, NULL, OPT_PULL},
    CB_REGISTRY_CLI_LONGOPTS,
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out) {
    fputs("Usage: cbuild [build] [OPTIONS] [CONTEXT]\n"
          "\n"
          "Build an image from the Containerfile (else Dockerfile) in CONTEXT (default \".\").\n"
          "\n"
          "  -t, --tag NAME            tag the result in the local store (repeatable)\n"
          "  -f, --file FILE           the Containerfile to use\n"
          "      --build-arg K[=V]     set a build argument (K alone takes it from the environment)\n"
          "      --label K=V           add a label to the image\n"
          "      --target STAGE        build this stage and the stages it needs\n"
          "      --platform OS/ARCH    the target platform (default: this machine's)\n"
          "      --root DIR            the store root (default $CBUILD_ROOT, else the XDG data dir)\n"
          "      --format oci|docker   manifest and config media types (default oci)\n"
          "      --compression gzip|zstd|none   layer compression (default gzip)\n"
          "      --timestamp N         set every time in the image to N (seconds since the epoch);\n"
          "                            SOURCE_DATE_EPOCH in the environment does the same\n"
          "  -o, --output type=T,dest=P   also write the image: T = oci, oci-archive, docker-archive,\n"
          "                            or local (the root file system); a plain P means local\n"
          "      --iidfile FILE        write the image id (config digest) to FILE\n"
          "      --push                push the image to every -t name (a registry reference)\n"
          "      --digestfile FILE     with --push: write the pushed manifest's digest to FILE\n"
          "      --cache-to REF        push the build's cache records to a registry (an OCI artifact)\n"
          "      --cache-from REF      on a local cache miss, look in this registry cache (repeatable)\n"
          "      --no-cache            do not use cached steps\n"
          "      --no-cache-filter STAGE[,STAGE]  do not use cached steps in these stages\n"
          "      --explain-cache       say for each rebuilt step what changed\n"
          "      --jobs N              stages built at the same time (default: the CPUs)\n"
          "      --network MODE        RUN's network: host (default), none or private (slirp4netns)\n"
          "      --secret id=ID,src=FILE|env=VAR\n"
          "                            a secret for RUN --mount=type=secret (never stored)\n"
          "      --pull[=POLICY]       FROM a registry image: missing (default), always (--pull\n"
          "                            alone), never\n"
          CB_REGISTRY_CLI_USAGE
          "      --progress MODE       auto (default: tty on a terminal, else plain), tty (a live\n"
          "                            view), plain (log lines with [stage step/steps] prefixes and\n"
          "                            step times), json (one event per line), quiet\n"
          "  -q, --quiet               the same as --progress quiet: print only the image id\n"
          "  -h, --help                this help\n",
          out);
}

static int parse_int64(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* --cache-to/--cache-from take REF, or BuildKit's "type=registry,ref=REF". */
static const char *cache_ref(const char *arg) {
    const char *r = strstr(arg, "ref=");
    return cb_str_has_prefix(arg, "type=registry,") && r ? r + 4 : arg;
}

static int parse_output(const char *spec, cb_build_opts_t *o) {
    cb_output_t out = {CB_OUTPUT_LOCAL, NULL};
    if (strchr(spec, '=') == NULL) {
        out.dest = cb_xstrdup(spec);
    } else {
        cb_autofree char *copy = cb_xstrdup(spec);
        bool have_type = false;
        for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
            if (cb_str_has_prefix(kv, "type=")) {
                const char *t = kv + 5;
                have_type = true;
                if (strcmp(t, "oci") == 0)
                    out.type = CB_OUTPUT_OCI;
                else if (strcmp(t, "oci-archive") == 0)
                    out.type = CB_OUTPUT_OCI_ARCHIVE;
                else if (strcmp(t, "docker-archive") == 0 || strcmp(t, "docker") == 0)
                    out.type = CB_OUTPUT_DOCKER_ARCHIVE;
                else if (strcmp(t, "local") == 0)
                    out.type = CB_OUTPUT_LOCAL;
                else {
                    fprintf(stderr, "cbuild: --output: unknown type %s (oci, oci-archive, docker-archive, local)\n", t);
                    free(out.dest);
                    return -1;
                }
            } else if (cb_str_has_prefix(kv, "dest=")) {
                free(out.dest);
                out.dest = cb_xstrdup(kv + 5);
            } else {
                fprintf(stderr, "cbuild: --output: unknown key in %s (type=..., dest=...)\n", kv);
                free(out.dest);
                return -1;
            }
        }
        if (!have_type || out.dest == NULL || *out.dest == '\0') {
            fprintf(stderr, "cbuild: --output %s: needs type= and dest=\n", spec);
            free(out.dest);
            return -1;
        }
    }
    o->outputs = cb_xrealloc(o->outputs, (o->noutputs + 1) * sizeof *o->outputs);
    o->outputs[o->noutputs++] = out;
    return 0;
}

static int parse_args(int argc, char **argv, cb_build_opts_t *o, cb_progress_mode_t *progress) {
    cb_cli_build_defaults(o);
    int c;
    opterr = 0;
    optind = 1;
    o->registry.tls_verify = true;
    while ((c = getopt_long(argc, argv, "+t:f:o:qh", long_opts, NULL)) != -1) {
        cb_autoerr cb_error_t *rerr = NULL;
        int taken = cb_registry_cli_option(&o->registry, c, optarg, &rerr);
        if (taken == 0 && c == OPT_PULL)
            taken = optarg ? (cb_pull_policy_parse(optarg, &o->pull, &rerr) < 0 ? -1 : 1)
                           : (o->pull = CB_PULL_ALWAYS, 1);
        if (taken < 0) {
            cb_error_print(rerr, stderr);
            return 2;
        }
        if (taken > 0)
            continue;
        switch (c) {
        case 't':
            cb_strv_push(&o->tags, optarg);
            break;
        case 'f':
            free(o->file);
            o->file = cb_xstrdup(optarg);
            break;
        case OPT_BUILD_ARG:
            if (strchr(optarg, '=') == NULL) {
                /* --build-arg K takes K from the environment, or is left unset. */
                const char *v = getenv(optarg);
                if (v == NULL)
                    break;
                cb_strv_take(&o->build_args, cb_xasprintf("%s=%s", optarg, v));
            } else {
                cb_strv_push(&o->build_args, optarg);
            }
            break;
        case OPT_LABEL:
            if (strchr(optarg, '=') == NULL) {
                fprintf(stderr, "cbuild: --label %s: expected KEY=VALUE\n", optarg);
                return 2;
            }
            cb_strv_push(&o->labels, optarg);
            break;
        case OPT_TARGET:
            free(o->target);
            o->target = cb_xstrdup(optarg);
            break;
        case OPT_PLATFORM:
            free(o->platform);
            o->platform = cb_xstrdup(optarg);
            break;
        case OPT_ROOT:
            free(o->root);
            o->root = cb_xstrdup(optarg);
            break;
        case OPT_IIDFILE:
            free(o->iidfile);
            o->iidfile = cb_xstrdup(optarg);
            break;
        case 'o':
            if (parse_output(optarg, o) < 0)
                return 2;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "oci") == 0)
                o->format = CB_FORMAT_OCI;
            else if (strcmp(optarg, "docker") == 0)
                o->format = CB_FORMAT_DOCKER;
            else {
                fprintf(stderr, "cbuild: --format %s: expected oci or docker\n", optarg);
                return 2;
            }
            break;
        case OPT_COMPRESSION:
            if (strcmp(optarg, "gzip") == 0)
                o->compression = CB_COMPRESS_GZIP;
            else if (strcmp(optarg, "zstd") == 0)
                o->compression = CB_COMPRESS_ZSTD;
            else if (strcmp(optarg, "none") == 0 || strcmp(optarg, "uncompressed") == 0)
                o->compression = CB_COMPRESS_NONE;
            else {
                fprintf(stderr, "cbuild: --compression %s: expected gzip, zstd or none\n", optarg);
                return 2;
            }
            break;
        case OPT_TIMESTAMP:
            if (parse_int64(optarg, &o->timestamp) < 0) {
                fprintf(stderr, "cbuild: --timestamp %s: expected seconds since the epoch\n", optarg);
                return 2;
            }
            o->has_timestamp = true;
            break;
        case OPT_JOBS: {
            char *end = NULL;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || n < 1 || n > 64) {
                fprintf(stderr, "cbuild: --jobs %s: expected a number from 1 to 64\n", optarg);
                return 2;
            }
            o->jobs = (unsigned)n;
            break;
        }
        case OPT_EXPLAIN_CACHE:
            o->explain_cache = true;
            break;
        case OPT_NETWORK:
            if (strcmp(optarg, "host") != 0 && strcmp(optarg, "none") != 0 && strcmp(optarg, "private") != 0) {
                fprintf(stderr, "cbuild: --network %s: expected host, none or private\n", optarg);
                return 2;
            }
            free(o->network);
            o->network = cb_xstrdup(optarg);
            break;
        case OPT_SECRET:
            if (strstr(optarg, "id=") == NULL && strchr(optarg, '=') != NULL) {
                fprintf(stderr, "cbuild: --secret %s: expected id=ID,src=FILE or id=ID,env=VAR\n", optarg);
                return 2;
            }
            cb_strv_push(&o->secrets, optarg);
            break;
        case OPT_NO_CACHE:
            o->no_cache = true;
            break;
        case OPT_NO_CACHE_FILTER: {
            cb_autofree char *list = cb_xstrdup(optarg);
            for (char *save = NULL, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save))
                cb_strv_push(&o->no_cache_filter, s);
            break;
        }
        case OPT_PUSH:
            o->push = true;
            break;
        case OPT_DIGESTFILE:
            free(o->digestfile);
            o->digestfile = cb_xstrdup(optarg);
            break;
        case OPT_CACHE_TO:
            free(o->cache_to);
            o->cache_to = cb_xstrdup(cache_ref(optarg));
            break;
        case OPT_CACHE_FROM:
            cb_strv_push(&o->cache_from, cache_ref(optarg));
            break;
        case 'q':
            *progress = CB_PROGRESS_QUIET;
            break;
        case OPT_PROGRESS:
            if (cb_progress_parse(optarg, progress) < 0) {
                fprintf(stderr, "cbuild: --progress %s: expected auto, tty, plain, json or quiet\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            cb_cli_bad_option("build", long_opts, argv, optind);
            return 2;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "cbuild build: expected one CONTEXT, got %d arguments\n", argc - optind);
        return 2;
    }
    o->context = cb_xstrdup(optind < argc ? argv[optind] : ".");
    if (o->push && o->tags.len == 0) {
        fprintf(stderr, "cbuild build: --push needs a -t REGISTRY/NAME[:TAG] to push to\n");
        return 2;
    }
    if (o->digestfile && !o->push) {
        fprintf(stderr, "cbuild build: --digestfile goes with --push\n");
        return 2;
    }
    if (!o->has_timestamp) {
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        if (sde && *sde) {
            if (parse_int64(sde, &o->timestamp) < 0) {
                fprintf(stderr, "cbuild: SOURCE_DATE_EPOCH=%s: expected seconds since the epoch\n", sde);
                return 2;
            }
            o->has_timestamp = true;
        }
    }
    return -1; /* go on and build */
}

void cb_build_opts_free(cb_build_opts_t *o) {
    free(o->context);
    free(o->file);
    cb_strv_free(&o->tags);
    cb_strv_free(&o->build_args);
    cb_strv_free(&o->labels);
    free(o->target);
    free(o->platform);
    cb_registry_cli_clear(&o->registry);
    free(o->root);
    free(o->iidfile);
    free(o->digestfile);
    free(o->cache_to);
    cb_strv_free(&o->cache_from);
    free(o->cache_keys);
    free(o->network);
    cb_strv_free(&o->secrets);
    cb_strv_free(&o->no_cache_filter);
    for (size_t i = 0; i < o->noutputs; i++)
        free(o->outputs[i].dest);
    free(o->outputs);
}

/* --push: the built image to each -t name, after the build is in the store. */
static int push_tags(const cb_build_opts_t *o, const char *digest, cb_error_t **err) {
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    if (cb_cli_open_store(o->root, &root, &store, err) < 0)
        return -1;
    cb_push_cli_opts_t po = {.registry = &o->registry, .digestfile = o->digestfile};
    for (size_t i = 0; i < o->tags.len; i++) {
        cb_autofree char *pushed = NULL;
        if (cb_push_cli_run(root, store, digest, o->tags.items[i], &po, &pushed, err) < 0)
            return -1;
    }
    return 0;
}

/* --cache-to: the file the build's steps note their keys in (removed after). */
static int cache_keys_file(cb_build_opts_t *o, cb_error_t **err) {
    cb_autoroot cb_root_t *root = NULL;
    if (cb_root_open(o->root, &root, err) < 0)
        return -1;
    o->cache_keys = cb_xasprintf("%s/cache-keys-XXXXXX", root->tmp);
    int fd = mkstemp(o->cache_keys);
    if (fd < 0)
        return cb_error_set(err, errno, "--cache-to: %s", o->cache_keys);
    close(fd);
    return 0;
}

int cb_cmd_build(int argc, char **argv) {
    cb_build_opts_t opts = {0};
    cb_progress_mode_t progress = CB_PROGRESS_AUTO;
    int rc = parse_args(argc, argv, &opts, &progress);
    if (rc >= 0) {
        cb_build_opts_free(&opts);
        return rc;
    }
    opts.quiet = progress == CB_PROGRESS_QUIET;
    cb_autoerr cb_error_t *err = NULL;
    cb_autofree char *digest = NULL;
    /* The root is chosen as the invoking user (inside the namespace we are
     * uid 0, which would pick root's). */
    if (opts.root == NULL && cb_root_resolve(NULL, &opts.root, &err) < 0) {
        cb_error_print(err, stderr);
        cb_build_opts_free(&opts);
        return cb_error_exit_code(err);
    }
    cb_interrupt_install();
    cb_progress_start(progress);
    if (cb_userns_enter(&err) < 0 || (opts.cache_to && cache_keys_file(&opts, &err) < 0) ||
        cb_build_run(&opts, &digest, &err) < 0 || (opts.push && push_tags(&opts, digest, &err) < 0) ||
        (opts.cache_to && cb_remote_cache_export(&opts, opts.cache_keys, &err) < 0)) {
        cb_progress_error(err);
        cb_progress_finish();
        /* json: the error event is the report; nothing else on stderr. */
        if (cb_progress_mode() != CB_PROGRESS_JSON)
            cb_error_print(err, stderr);
        rc = cb_error_exit_code(err);
    } else {
        cb_progress_finish();
        rc = 0;
    }
    if (opts.cache_keys)
        unlink(opts.cache_keys);
    cb_build_opts_free(&opts);
    return rc;
}
