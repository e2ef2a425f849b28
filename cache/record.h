/* Cache records: what a build step produced, found again by its key.
 *
 * A step key is a digest ("sha256:<hex>", DESIGN.md "Cache keys"); its
 * record is ROOT/cache/<hex>.json:
 *
 *   {"createdBy":"RUN make","diffID":"sha256:…","emptyLayer":false,
 *    "key":"sha256:<hex>","layer":{<OCI descriptor>},"version":1}
 *
 * (canonical JSON: compact, keys sorted). An empty_layer record (ENV, a RUN
 * that changed nothing) has no "layer" and no "diffID".
 *
 * put writes a temp file in ROOT/cache, fsyncs it and renames it over the
 * record, so a reader sees the old record or the new one, never a mix; of
 * concurrent puts of one key the last rename wins. A crash can leave a
 * "<hex>.json.tmp-XXXXXX" behind: garbage for a prune, never read.
 *
 * get is strict: the record must parse, have exactly the members above with
 * their types, name the key it is filed under and, unless empty_layer, a
 * layer media type and a layer blob that is in ROOT/store with the recorded
 * size (its digest is checked later, by whoever reads the blob). Anything
 * else is a miss, explained by a debug line (CBUILD_DEBUG=cache), never an
 * error: a cache can always be rebuilt. Errors are for bad arguments and
 * for puts that cannot be written.
 *
 * touch sets a record's mtime to now: its last use, for an LRU prune. */
#ifndef CB_CACHE_RECORD_H
#define CB_CACHE_RECORD_H

#include <stdbool.h>

#include "cache/oci.h"
#include "cache/root.h"
#include "common/error.h"

/* Records larger than this are refused by put and ignored by get. */
#define CB_CACHE_RECORD_MAX_SIZE (1u << 20)

typedef struct cb_cache_record {
    bool empty_layer;          /* the step changed only the image config */
    cb_oci_descriptor_t layer; /* the layer blob in ROOT/store; zero when empty_layer */
    char *diff_id;             /* sha256 of the uncompressed layer; NULL when empty_layer */
    char *created_by;          /* the history entry's created_by ("" allowed) */
} cb_cache_record_t;

/* ROOT/cache/<hex>.json; key must be a valid digest. Caller frees. */
char *cb_cache_record_path(const cb_root_t *root, const char *key);

/* *found is true and *rec filled (the caller clears it) when a valid record
 * with its blob exists; false (rec zeroed) otherwise. */
int cb_cache_record_get(const cb_root_t *root, const char *key, cb_cache_record_t *rec,
                        bool *found, cb_error_t **err);
/* Reads and decodes the record strictly (as get does) without looking for
 * its blob: an error says why it cannot be used (a system error with ENOENT
 * when there is none, "damaged: ..." when it does not decode). For fsck,
 * which must say what is wrong; builds use get. */
int cb_cache_record_load(const cb_root_t *root, const char *key, cb_cache_record_t *rec,
                         cb_error_t **err);
/* Records rec under key, replacing any record there. */
int cb_cache_record_put(const cb_root_t *root, const char *key, const cb_cache_record_t *rec,
                        cb_error_t **err);
/* Marks the record as used now; a record that is gone is not an error. */
int cb_cache_record_touch(const cb_root_t *root, const char *key, cb_error_t **err);

void cb_cache_record_clear(cb_cache_record_t *rec);
static inline void cb_cache_record_clearp(cb_cache_record_t *rec) {
    cb_cache_record_clear(rec);
}
#define cb_autorecord __attribute__((cleanup(cb_cache_record_clearp)))

#endif
