/* `cbuild fsck`: does a root hold what it says it holds?
 *
 * Checked, reading every blob whole once:
 *  - ROOT/store is an OCI layout: oci-layout says 1.0.0, index.json parses
 *    and each of its entries is a descriptor of a manifest or an index;
 *  - every file in blobs/sha256 is a regular file whose sha256 is its name
 *    (a half-written or damaged blob is what must never be used);
 *  - every descriptor reachable from index.json resolves: its blob is there
 *    with the descriptor's size; manifests and indexes decode, and so do the
 *    configs, with one diff_id per layer;
 *  - every cache record (ROOT/cache/<hex>.json) decodes strictly
 *    (cache/record.h) and its layer blob is there, intact, with the recorded
 *    size.
 * Not checked: layers against their configs' diff_ids (every layer would be
 * decompressed; a build and `umoci unpack` check that when they read one),
 * and ROOT/layers (this version unpacks layers under ROOT/tmp, never there).
 * Temporary leftovers (ROOT/tmp entries, `*.tmp-*` files) are counted, not
 * problems: a crash leaves them by design, and prune removes them.
 *
 * Repair (opts.repair) removes only what does harm and what the next build
 * or pull makes again:
 *  - damaged blobs: a pull skips a blob the store has, so a damaged one
 *    would never be fetched again, and a cache hit on one fails the build;
 *  - cache records that are damaged or whose layer blob is missing, damaged
 *    or of another size (builds take them for misses anyway).
 * Records go first and ROOT/cache is fsync'd before any blob goes (prune's
 * order). index.json is never edited: an image that lost a blob is reported
 * and stays a problem, for the user to pull or build again or rmi; dropping
 * its name silently would lose the only trace of what was there.
 *
 * Concurrency: the store lock is held (shared) while index.json and what it
 * references are read, so no tag moves meanwhile. Builds may still add
 * blobs and records: a reference to a blob that appeared after the listing
 * is checked when it is met.
 */
#ifndef CB_CACHE_FSCK_H
#define CB_CACHE_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/root.h"
#include "common/error.h"

typedef struct cb_fsck_opts {
    bool repair;
} cb_fsck_opts_t;

/* One problem: the file it concerns and what is wrong with it; `repaired`
 * when repair removed the file. */
typedef void (*cb_fsck_problem_fn)(void *ctx, const char *path, const char *problem, bool repaired);

typedef struct cb_fsck_report {
    size_t blobs;     /* files in blobs/sha256 */
    int64_t bytes;    /* their sizes */
    size_t images;    /* index.json entries */
    size_t records;   /* cache records */
    size_t leftovers; /* temporary leftovers (not problems) */
    size_t problems;  /* everything reported */
    size_t repaired;  /* of those, fixed by removing the file */
} cb_fsck_report_t;

/* Checks (and repairs) `root` as described above, calling fn once per
 * problem. An error only when the check itself cannot go on (the store
 * cannot be listed or locked). */
int cb_fsck(const cb_root_t *root, const cb_fsck_opts_t *opts, cb_fsck_problem_fn fn, void *ctx,
            cb_fsck_report_t *rep, cb_error_t **err);

#endif
