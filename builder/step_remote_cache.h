/* The remote build cache: --cache-to REF and --cache-from REF (repeatable).
 *
 * Format (an OCI artifact any registry stores): REF names an OCI image index
 * whose entries are one OCI manifest per cache record, annotated with the
 * step key ("dev.cbuild.cache.key"). Each manifest's config is the record
 * exactly as ROOT/cache/<hex>.json holds it (media type
 * application/vnd.cbuild.cache.record.v1+json) and its one layer (none for a
 * config-only step) is the step's layer blob. The index carries
 * "dev.cbuild.cache.version": "1".
 *
 * --cache-to: every cacheable step of the build notes its key (hit or miss)
 * in a file under ROOT/tmp (stages may run in forked children, so a file is
 * what they share); after the build the records of those keys are put in
 * the store as the artifact's blobs and pushed (push/push.h), replacing
 * what REF held: the cache of the latest build, as BuildKit exports it.
 *
 * --cache-from: on a local miss the step's key is looked up in the indexes
 * of the REFs (each fetched once per process, on the first miss); a found
 * entry's layer is fetched into the store (verified by digest) and its
 * record written to ROOT/cache, after which the local lookup hits as if the
 * step had been built here. A registry that cannot be reached or an entry
 * that does not verify is a warning and a miss, never a failed build.
 * Trust: a cache source is trusted like a base image; its records decide
 * what the steps produce.
 */
#ifndef CB_BUILDER_STEP_REMOTE_CACHE_H
#define CB_BUILDER_STEP_REMOTE_CACHE_H

#include "builder/build.h"
#include "builder/build_state.h"
#include "common/error.h"

#define CB_MT_CACHE_RECORD "application/vnd.cbuild.cache.record.v1+json"
#define CB_ANNOTATION_CACHE_KEY "dev.cbuild.cache.key"
#define CB_ANNOTATION_CACHE_VERSION "dev.cbuild.cache.version"

/* With --cache-to: notes that the build used the step key. */
void cb_remote_cache_note(const cb_build_t *b, const char *key);

/* With --cache-from, after a local miss: brings the key's record and layer
 * from the remote caches when one has it. */
void cb_remote_cache_lookup(cb_build_t *b, const char *key);

/* After the build: pushes the records of the keys noted in keys_file to
 * o->cache_to. */
int cb_remote_cache_export(const cb_build_opts_t *o, const char *keys_file, cb_error_t **err);

#endif
