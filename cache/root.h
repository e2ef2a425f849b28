/* The cbuild root: where the image store, unpacked layers, cache records and
 * staging files live.
 *
 *   $CBUILD_ROOT, else ${XDG_DATA_HOME:-$HOME/.local/share}/cbuild,
 *   and /var/lib/cbuild for uid 0 (as buildah's /var/lib/containers).
 *
 *   ROOT/store/    an OCI image layout (cache/store.h)
 *   ROOT/layers/   unpacked layers by diff_id (layer/)
 *   ROOT/cache/    cache records (cache keys)
 *   ROOT/tmp/      staging, on the same file system so rename(2) publishes
 *
 * The root and its subdirectories are created 0700: images may hold secrets
 * of whoever built them, and nothing else on the machine needs to read them.
 */
#ifndef CB_CACHE_ROOT_H
#define CB_CACHE_ROOT_H

#include "common/error.h"

typedef struct cb_root {
    char *path;   /* the root itself, absolute */
    char *store;  /* ROOT/store */
    char *layers; /* ROOT/layers */
    char *cache;  /* ROOT/cache */
    char *tmp;    /* ROOT/tmp */
} cb_root_t;

/* The root directory to use: `explicit_root` (--root) when not NULL, else the
 * environment as described above. Caller frees. */
int cb_root_resolve(const char *explicit_root, char **out, cb_error_t **err);

/* Resolves (as cb_root_resolve), creates the directories that are missing and
 * initialises ROOT/store as an OCI layout. */
int cb_root_open(const char *explicit_root, cb_root_t **out, cb_error_t **err);
/* The paths of the root at `path` (absolute), creating and checking nothing:
 * for fsck, which must see the root as it is. */
cb_root_t *cb_root_paths(const char *path);
void cb_root_free(cb_root_t *root);
static inline void cb_root_freep(cb_root_t **p) {
    cb_root_free(*p);
}
#define cb_autoroot __attribute__((cleanup(cb_root_freep)))

/* mkdir -p with `mode` for every directory it creates. */
int cb_mkdir_p(const char *path, unsigned mode, cb_error_t **err);

#endif
