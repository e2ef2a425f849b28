/* The store's index.json: names (tags) to manifest descriptors.
 *
 * Every change is a read-modify-write under the store lock (cache/store.h),
 * and index.json is replaced atomically (temp file, fsync, rename), so two
 * cbuild processes tagging at once both keep their tags and a reader never
 * sees a half-written index. Readers take no lock.
 *
 * Names are normalized and compared as cache/refname.h describes.
 */
#ifndef CB_CACHE_INDEX_H
#define CB_CACHE_INDEX_H

#include <stddef.h>

#include "cache/oci.h"
#include "cache/store.h"
#include "common/error.h"

typedef struct cb_index_entry {
    char *name; /* the ref.name annotation; NULL for an untagged entry */
    cb_oci_descriptor_t desc;
} cb_index_entry_t;

/* Points `name` at the manifest (replacing what the name pointed at). The
 * descriptor's own annotations are kept, ref.name set. */
int cb_index_tag(const cb_store_t *s, const char *name, const cb_oci_descriptor_t *manifest,
                 cb_error_t **err);
/* Adds the manifest under `name`, or without a name when name is NULL (an
 * untagged entry for the same digest is then replaced, not repeated). */
int cb_index_put(const cb_store_t *s, const char *name, const cb_oci_descriptor_t *manifest,
                 cb_error_t **err);
/* The descriptor a name points at; an input error naming the image when
 * there is no such name. */
int cb_index_resolve(const cb_store_t *s, const char *name, cb_oci_descriptor_t *out,
                     cb_error_t **err);
/* Removes a name; an error when there is no such name. */
int cb_index_untag(const cb_store_t *s, const char *name, cb_error_t **err);
/* Every entry in index order. */
int cb_index_list(const cb_store_t *s, cb_index_entry_t **out, size_t *n, cb_error_t **err);
void cb_index_entries_free(cb_index_entry_t *e, size_t n);
/* A manifest by full digest ("sha256:<hex>") or by a prefix of at least 4
 * hex digits, with or without "sha256:". 0 and *out filled when found, 1
 * when nothing matches, <0 on error (also for an ambiguous prefix). */
int cb_index_find_digest(const cb_store_t *s, const char *ref, cb_oci_descriptor_t *out,
                         cb_error_t **err);

#endif
