/* Image names as stored in index.json's org.opencontainers.image.ref.name.
 *
 * Choice: the annotation holds the name as the user gave it, with ":latest"
 * added when it has no tag ("app" -> "app:latest", "localhost/app:dev" stays
 * "localhost/app:dev"). So `skopeo inspect oci:ROOT/store:app:dev` works with
 * the very name given to `cbuild -t app:dev`.
 *
 * buildah and podman store a short name as "localhost/app:dev" and accept
 * both spellings; cbuild does the same when looking names up: "localhost/X"
 * and "X" are one name, so tagging either replaces the other. Other
 * registries are not implied ("docker.io/library/app" is not "app"): a local
 * store should not guess which registry a short name came from.
 */
#ifndef CB_CACHE_REFNAME_H
#define CB_CACHE_REFNAME_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Validates an image name ([domain[:port]/]path[:tag]) and adds ":latest"
 * when there is no tag. Digest references (name@sha256:...) are refused:
 * a tag names a manifest, it does not pin one. Caller frees *out. */
int cb_refname_normalize(const char *name, char **out, cb_error_t **err);
/* The same image name, with the "localhost/" equivalence above. */
bool cb_refname_equal(const char *a, const char *b);
/* The pieces of the grammar, shared with push/reference.c. A path
 * component: [a-z0-9]+ joined by ".", "_", "__" or a run of "-". */
bool cb_refname_valid_component(const char *s, size_t n);
/* A registry host[:port]: DNS-style labels or an [IPv6] literal. */
bool cb_refname_valid_domain(const char *s, size_t n);
/* The distribution rule: a first component is a domain when it has a "."
 * or ":" or is "localhost". */
bool cb_refname_looks_like_domain(const char *s, size_t n);
/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
bool cb_refname_valid_tag(const char *t);
/* The tag part of a normalized name ("dev" in "localhost:5000/app:dev"). */
const char *cb_refname_tag(const char *name);

#endif
