/* Helpers shared by the cache/ tests: temp roots and hand-made OCI layouts. */
#ifndef CB_TEST_CACHE_UTIL_H
#define CB_TEST_CACHE_UTIL_H

#include <stddef.h>

#include "cache/root.h"
#include "cache/store.h"
#include "cache/oci.h"
#include "common/digest.h"

/* A fresh directory under $TMPDIR (or /tmp); caller frees and removes. */
char *tu_mkdtemp(void);
void tu_rm_rf(const char *path);
void tu_write(const char *path, const void *data, size_t len);
char *tu_read(const char *path, size_t *len);
int tu_file_count(const char *dir); /* regular files below dir, recursively */
/* A store in dir/store staging in dir/tmp. */
cb_store_t *tu_store(const char *dir);
/* A cbuild root in a new temp dir, its store open: -1 when either cannot
 * be made (a cmocka setup's failure). tu_root_close frees and removes all
 * three. */
int tu_root_open(char **dir, cb_root_t **root, cb_store_t **store);
void tu_root_close(char *dir, cb_root_t *root, cb_store_t *store);

/* Writes a blob into layout DIR (blobs/sha256/<hex>) and returns its digest. */
void tu_layout_blob(const char *dir, const void *data, size_t len,
                    char digest[CB_DIGEST_STR_LEN + 1]);
/* A small uncompressed tar holding one file `name` with `content`. */
void tu_make_tar(const char *name, const char *content, char **data, size_t *len);

/* A hand-made single-image layout in DIR: one layer holding `file`, a config
 * for os/arch, a manifest, and index.json naming it `tag` (NULL: no name).
 * Out: the manifest, config and layer digests (any may be NULL). */
void tu_make_layout(const char *dir, const char *tag, const char *arch, char *manifest_digest,
                    char *config_digest, char *layer_digest);

/* Captures the debug lines of `module` (sets CBUILD_DEBUG); NULL stops and
 * restores the stderr handler. tu_last_debug is the latest line as
 * "module: message", "" when none came since tu_debug_clear. */
void tu_debug_capture(const char *module);
const char *tu_last_debug(void);
void tu_debug_clear(void);

#endif
