/* Pulling an image from a registry into the local store.
 *
 * The reference's manifest is fetched; an OCI index or Docker manifest list
 * is followed to the manifest for the platform (linux/amd64 unless given).
 * Layers the store lacks are streamed from the registry into the store's
 * blob writer (temp file, hashed while written, fsync, rename: never
 * half-written under a digest), several at a time, each verified against the
 * manifest's digest and size; blobs the store has are not fetched. A broken
 * download starts its blob again (within the transport's retries). Only when
 * every blob is in the store are the config, the manifest (its bytes exactly
 * as served, so the digest is the registry's) and an index (when the
 * reference named one) written, and the image tagged in index.json as
 * "registry/repository:tag" (a digest reference gets an untagged entry).
 *
 * Short names are tried against each search registry in turn (push/
 * reference.h); the first that has the image wins.
 */
#ifndef CB_PUSH_PULL_H
#define CB_PUSH_PULL_H

#include <stdint.h>

#include "cache/oci.h"
#include "cache/store.h"
#include "common/error.h"
#include "push/client.h"

typedef enum { CB_PULL_MISSING, CB_PULL_ALWAYS, CB_PULL_NEVER } cb_pull_policy_t;

/* "missing", "always", "never" (also "true"/"false" as always/never, as
 * buildah takes them); an input error otherwise. */
int cb_pull_policy_parse(const char *s, cb_pull_policy_t *out, cb_error_t **err);

typedef struct cb_pull_opts {
    cb_client_opts_t client;
    const cb_oci_platform_t *platform; /* NULL: linux/amd64 */
    const char *default_registry;      /* --default-registry, or NULL */
    const char *registries_conf;       /* NULL: the usual lookup (push/reference.h) */
    cb_pull_policy_t policy;
    int jobs;                          /* layers at once; <= 0: 4 */
    bool quiet;                        /* no per-blob progress lines */
    const char *root_dir;              /* ROOT: where each blob came from is recorded for
                                          cross-repository mounts (push/push_sources.h) */
} cb_pull_opts_t;

typedef struct cb_pull_result {
    cb_oci_descriptor_t manifest; /* the platform's image manifest, as in index.json */
    char *name;                   /* the store name it is tagged with (NULL for a digest) */
    char *ref_digest;             /* what the reference resolved to (the index, when one) */
    int blobs_fetched;
    int blobs_present;
    uint64_t bytes_fetched;
    bool pulled;                  /* false when the policy let the local image stand */
} cb_pull_result_t;
void cb_pull_result_clear(cb_pull_result_t *r);

/* Resolves ref by the policy: missing uses the store's image of that name
 * when it has one (for the platform asked), always pulls, never only looks
 * in the store. */
int cb_pull(const cb_store_t *store, const char *ref, const cb_pull_opts_t *o,
            cb_pull_result_t *out, cb_error_t **err);

/* One blob into memory (at most CB_OCI_MAX_DOC_SIZE bytes), verified by
 * digest and size; *data is the caller's. */
int cb_pull_fetch_doc(cb_client_t *c, const cb_oci_descriptor_t *d, char **data, size_t *len,
                      cb_error_t **err);
/* One blob into the store (nothing when it is there), verified and published. */
int cb_pull_fetch_blob(cb_client_t *c, const cb_store_t *store, const cb_oci_descriptor_t *d, cb_error_t **err);

#endif
