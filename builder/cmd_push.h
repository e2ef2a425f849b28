/* `cbuild push` and `cbuild build --push`: an image of the local store to a
 * registry (push/push.h). */
#ifndef CB_BUILDER_CMD_PUSH_H
#define CB_BUILDER_CMD_PUSH_H

#include <stdbool.h>

#include "builder/registry_cli.h"
#include "cache/oci.h"
#include "cache/root.h"
#include "cache/store.h"
#include "common/error.h"

typedef struct cb_push_cli_opts {
    const cb_registry_cli_t *registry; /* --tls-verify, --cert-dir, --creds, --authfile, ... */
    const char *digestfile;            /* --digestfile F: the pushed manifest's digest */
    int jobs;                          /* blobs at once; 0: the default */
} cb_push_cli_opts_t;

/* Pushes the store image named `image` (name, ID or digest) to `dest`
 * ("docker://REF" or "REF"); *digest gets the manifest digest (caller frees). */
int cb_push_cli_run(const cb_root_t *root, const cb_store_t *store, const char *image, const char *dest,
                    const cb_push_cli_opts_t *o, char **digest, cb_error_t **err);

/* The same for a manifest or index of the store given by descriptor (it
 * need not be named in index.json). */
int cb_push_cli_desc(const cb_root_t *root, const cb_store_t *store, const cb_oci_descriptor_t *image,
                     const char *dest, const cb_push_cli_opts_t *o, char **digest, cb_error_t **err);

#endif
