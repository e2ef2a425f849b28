/* Garbage collection of a cbuild root: `cbuild prune`, with the semantics
 * docker users know from `docker builder prune`.
 *
 * What goes, in this order (DESIGN.md, "On-disk layout"):
 *
 *  1. Cache records (ROOT/cache/<hex>.json, cache/record.h) that are damaged
 *     or whose layer blob is gone or has another size: exactly the records a
 *     build would take as a miss. Always. (One that cannot be read at all,
 *     EACCES or EIO, is an error, not damage.)
 *  2. More records when asked: every one (--all), those unused (mtime: a hit
 *     touches its record) for at least `until`, or, with keep_storage, the
 *     least recently used until the build cache takes at most
 *     keep_storage bytes: the record files and the blobs that only records
 *     reference (a layer an image has too costs the cache nothing). until
 *     narrows the other two.
 *  3. Blobs in ROOT/store that nothing references: not index.json (tagged
 *     and untagged images: manifests, indexes, and every descriptor in them,
 *     configs and layers included), not a record that stays.
 *  4. Temporary leftovers of crashed processes: entries of ROOT/tmp and
 *     `*.tmp-*` files in ROOT/cache (and its subdirectories) and at the top
 *     of ROOT/store.
 *
 * Running builds. A build works in ROOT/tmp/build-XXXXXX, made when it starts
 * and removed when it ends (failures and signals included); only a crash
 * leaves one behind. cbuild has no lock that tells a running build from a
 * crashed one, and prune adds none: such a directory is taken for a running
 * build unless nothing in it changed for CB_PRUNE_BUILD_IDLE (a day: longer
 * than any step stays silent), and its birth time (statx; a day before now
 * when the file system does not say) is when that build started. Then:
 *
 *  - a record used (or written) since the oldest running build started is in
 *    use and stays, whatever the flags: the build may put its layer into the
 *    image it is making. Without a running build no record is in use.
 *  - a blob written (mtime) since the oldest running build started, or in
 *    the last CB_PRUNE_GRACE (10 minutes), stays even if nothing references
 *    it yet: a build writes its blobs first and its records and index.json
 *    entry after them. A grace period alone would not do: a build can write
 *    a layer in its first minute and name it in index.json hours later. The
 *    build's start alone would not do either: writers that leave no build
 *    directory (imports) are covered by the grace period. Blobs are judged
 *    by mtime, not ctime: the blob writer sets it when it writes, and
 *    `touch -d` can make a test's blobs old.
 *  - a temporary leftover goes only when nothing in it changed (mtime or
 *    ctime, its whole tree) for CB_PRUNE_TMP_AGE (an hour) and since the
 *    oldest running build started. ctime counts because unpacked files keep
 *    their archive's old mtimes.
 *  - an unpacked base tree (ROOT/layers/<key>) goes by the same rule, judged
 *    by its directory's mtime, which each build that uses it moves.
 *
 * Known gaps, both needing a prune during a build: an import (FROM oci:DIR)
 * that finds a blob already in the store reuses it without rewriting it, so
 * a base layer that no image or record references any more (its image was
 * rmi'd) keeps its old mtime and can go before the build's image names it
 * (touching reused blobs in cache/stage.c would close this); and a cache
 * hit reads its record before it touches it, so a prune --all between the
 * two can take the record and its blob.
 *
 * Crash safety: removing is the only action (index.json is never written).
 * Records go first and ROOT/cache is fsync'd before any blob goes, so a
 * crash never leaves a record without its blob that a build would use (one
 * without it is a miss anyway). The store lock (shared) is held from reading
 * index.json until the last blob is removed, so no image can be tagged in
 * between. A blob is removed only if it is still the file that was judged
 * (same inode, size and mtime).
 *
 * prune first reads everything it judges: a manifest or index that the
 * index references and that cannot be read (damaged, unreadable) stops it
 * with an error naming the file before anything is removed, since what it
 * references is unknown. One that is missing is a warning (the image is
 * broken, and it references nothing prune can keep).
 */
#ifndef CB_CACHE_PRUNE_H
#define CB_CACHE_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/root.h"
#include "common/error.h"

#define CB_PRUNE_NS_PER_SEC INT64_C(1000000000)
#define CB_PRUNE_GRACE (10 * 60 * CB_PRUNE_NS_PER_SEC)
#define CB_PRUNE_TMP_AGE (60 * 60 * CB_PRUNE_NS_PER_SEC)
#define CB_PRUNE_BUILD_IDLE (24 * 60 * 60 * CB_PRUNE_NS_PER_SEC)

typedef struct cb_prune_opts {
    bool all;             /* --all: every record not in use */
    int64_t keep_storage; /* --keep-storage, bytes; < 0 when not given */
    int64_t until;        /* --filter until=, nanoseconds; < 0 when not given */
    int64_t now;          /* nanoseconds since the epoch; 0: the clock (tests move it) */
    bool dry_run;         /* judge and report, remove nothing (`cbuild df`) */
} cb_prune_opts_t;

typedef struct cb_prune_report {
    size_t records;         /* cache records removed */
    size_t damaged_records; /* of those, damaged or without their blob */
    size_t blobs;           /* blobs removed */
    size_t temps;           /* temporary leftovers removed */
    int64_t bytes;          /* reclaimed: blobs, records and leftovers (file sizes) */
    size_t kept_records;    /* records asked for but kept: a running build may use them */
    size_t kept_blobs;      /* unreferenced blobs kept because they are new */
    int64_t cache_bytes;    /* afterwards: the records and the blobs only they reference */
    char *running_build;    /* the oldest build that may be running, or NULL */
    int64_t running_since;  /* when it started (ns since the epoch) */
    /* What was there before: */
    size_t total_blobs;         /* blobs in the store */
    int64_t total_blob_bytes;
    size_t image_blobs;         /* of those, what index.json reaches */
    int64_t image_blob_bytes;
    size_t total_records;       /* cache records */
    int64_t total_cache_bytes;  /* records and the blobs only they reference */
} cb_prune_report_t;

/* Prunes `root` as described above; *rep says what happened. */
int cb_prune(const cb_root_t *root, const cb_prune_opts_t *opts, cb_prune_report_t *rep,
             cb_error_t **err);
void cb_prune_report_clear(cb_prune_report_t *rep);

/* A size as docker's --keep-storage takes it: "5GB", "500MB", "1.5g", "0",
 * "4096" (bytes); binary units (1KB = 1024 bytes), case and the B and i
 * optional. An input error otherwise. */
int cb_prune_parse_size(const char *s, int64_t *out, cb_error_t **err);
/* A Go duration ("24h", "1h30m", "90s", "1.5h") or days ("7d"), in
 * nanoseconds; units ns, us, ms, s, m, h, d. An input error otherwise. */
int cb_prune_parse_duration(const char *s, int64_t *out, cb_error_t **err);

#endif
