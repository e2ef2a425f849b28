/* A build: what the user asked for (cb_build_opts_t) and the entry point
 * that runs it (cb_build_run). The CLI fills the options; nothing here
 * prints except through the log. */
#ifndef CB_BUILDER_BUILD_H
#define CB_BUILDER_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/util.h"
#include "builder/registry_cli.h"

typedef enum { CB_FORMAT_OCI, CB_FORMAT_DOCKER } cb_image_format_t;
typedef enum { CB_COMPRESS_GZIP, CB_COMPRESS_ZSTD, CB_COMPRESS_NONE } cb_compression_t;

typedef enum {
    CB_OUTPUT_OCI,            /* an OCI image layout directory */
    CB_OUTPUT_OCI_ARCHIVE,    /* a tar of an OCI image layout */
    CB_OUTPUT_DOCKER_ARCHIVE, /* docker save format */
    CB_OUTPUT_LOCAL,          /* the final root file system */
} cb_output_type_t;

typedef struct cb_output {
    cb_output_type_t type;
    char *dest;
} cb_output_t;

typedef struct cb_build_opts {
    char *context;       /* the build context directory */
    char *file;          /* the Containerfile; NULL = CONTEXT/Containerfile, else Dockerfile */
    cb_strv_t tags;      /* -t NAME, as given */
    cb_strv_t build_args; /* "K=V" */
    cb_strv_t labels;    /* --label K=V */
    char *target;        /* --target STAGE */
    char *platform;      /* --platform os/arch[/variant] */
    char *root;          /* --root, else $CBUILD_ROOT, else the default */
    char *iidfile;
    cb_output_t *outputs;
    size_t noutputs;
    cb_image_format_t format;
    cb_compression_t compression;
    bool has_timestamp;  /* --timestamp N or SOURCE_DATE_EPOCH */
    int64_t timestamp;
    char *network;       /* --network host|none; NULL: host */
    cb_strv_t secrets;   /* --secret specs as given */
    bool no_cache;
    cb_strv_t no_cache_filter; /* --no-cache-filter: stages (names or indexes) not to reuse */
    unsigned jobs;       /* --jobs: stages at once; 0 = the CPUs we may use */
    bool explain_cache;  /* --explain-cache: say why each step missed */
    bool quiet;
    cb_pull_policy_t pull;       /* --pull[=missing|always|never] for FROM of a registry image */
    cb_registry_cli_t registry;  /* --tls-verify, --cert-dir, --creds, --authfile, --default-registry */
    bool push;           /* --push: push the result to every -t name */
    char *digestfile;    /* --digestfile: the pushed manifest's digest */
    char *cache_to;      /* --cache-to REF: the build's cache records to a registry */
    cb_strv_t cache_from; /* --cache-from REF: remote caches consulted on a local miss */
    char *cache_keys;    /* with --cache-to: where steps note their keys (set by the CLI) */
} cb_build_opts_t;

void cb_build_opts_free(cb_build_opts_t *opts);

/* Runs the build; on success *image_digest (if not NULL) gets the manifest
 * digest of the target image ("sha256:..."), caller frees. */
int cb_build_run(const cb_build_opts_t *opts, char **image_digest, cb_error_t **err);

#endif
