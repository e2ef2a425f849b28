/* Where blobs came from: which repositories of which registries hold a blob,
 * so a push to another repository of the same registry can mount it
 * (POST .../blobs/uploads/?mount=DIGEST&from=REPO) instead of uploading it.
 *
 * Choice: one small text file per blob, ROOT/blob-sources/<hex>, with one
 * "REGISTRY REPOSITORY" line per place (registry as host[:port], repository as
 * the path without tag). Pull and push append a line (O_APPEND of one short
 * write, so concurrent writers do not tear lines; a repeated line is skipped).
 * Kept outside ROOT/store so the store stays a plain OCI layout. A stale line
 * (the registry lost the blob) costs one mount attempt: the registry then
 * opens an ordinary upload, which the push uses. A missing or unreadable file
 * means "no known source", never an error.
 */
#ifndef CB_PUSH_SOURCES_H
#define CB_PUSH_SOURCES_H

#include "common/error.h"
#include "common/util.h"

/* Records that REGISTRY/REPOSITORY holds the blob. root_dir is ROOT. */
int cb_blob_source_add(const char *root_dir, const char *digest, const char *registry,
                       const char *repository, cb_error_t **err);

/* The repositories of `registry` known to hold the blob, other than
 * `except_repo` (NULL: none excluded), most recent first. */
void cb_blob_sources_on(const char *root_dir, const char *digest, const char *registry,
                        const char *except_repo, cb_strv_t *out);

#endif
