/* The stat cache of context hashing: a file's content digest, remembered
 * under its (dev, ino) together with what stat says of it, so an unchanged
 * build context is not read again (DESIGN.md, "Cache keys").
 *
 *   cb_statcache_open(path, &c, &err)       // ROOT/cache/statcache
 *   cb_statcache_digest(c, fd, &st, out, &err)   // per regular file
 *   cb_statcache_save(c, &err)               // once, at the end
 *   cb_statcache_free(c)
 *
 * A remembered digest is used only when dev, ino, size, mtime (ns), ctime
 * (ns) and mode all match the file's fstat. ctime can't be set by users, so
 * content rewritten with the same size and a restored mtime still misses.
 * Racy entries are not remembered: a file whose ctime is not clearly older
 * than the clock when it is read (10 ms; 2 s when the ctime has no
 * sub-second part, a file system with coarse timestamps) could change again
 * within the same timestamp tick without its stat changing, so it is hashed
 * again next time (git's "racy clean" problem).
 *
 * The file is binary, in this machine's byte order (it never travels): a
 * 64-byte header (magic "CBSTATC\0", version, record size, run counter,
 * record count, sha256 of the records) and then fixed-size records. A file
 * that is missing, of another version, truncated or damaged in any way is
 * ignored (a debug line under CBUILD_DEBUG=cache) and the cache starts empty:
 * it only ever costs a re-read.
 *
 * Saving writes a temp file next to the cache file, fsyncs it and renames it
 * over (crash-safe); when two processes save, the last rename wins and both
 * files were whole. The number of entries is bounded (default 1,000,000);
 * when full, the entries used in the oldest runs go first, never those used
 * in this one.
 *
 * One cache is used by one thread at a time. */
#ifndef CB_CACHE_STATCACHE_H
#define CB_CACHE_STATCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/digest.h"
#include "common/error.h"

#define CB_STATCACHE_FILE "statcache" /* in ROOT/cache */
#define CB_STATCACHE_MAX_ENTRIES 1000000

typedef struct cb_statcache cb_statcache_t;

typedef struct cb_statcache_stats {
    uint64_t hits;       /* digests answered from the cache */
    uint64_t misses;     /* files read and hashed */
    uint64_t bytes_read; /* bytes read by those misses */
    uint64_t racy;       /* misses not remembered, digests given kept for this run only (see above) */
    uint64_t given;      /* digests handed in by cb_statcache_put */
    uint64_t changed;    /* of those, dropped: the file changed while being read */
    uint64_t entries;    /* entries held now */
} cb_statcache_stats_t;

/* Loads the cache file at path (normally ROOT/cache/statcache); a missing
 * or damaged file gives an empty cache. Fails only on a bad argument. */
int cb_statcache_open(const char *path, cb_statcache_t **out, cb_error_t **err);

/* The content digest of the regular file open as fd, st being its fstat:
 * from the cache on a match, else read with pread from offset 0 (streamed
 * through sha256, never buffered whole) and remembered. */
int cb_statcache_digest(cb_statcache_t *c, int fd, const struct stat *st,
                        char out[CB_DIGEST_STR_LEN + 1], cb_error_t **err);

/* cb_statcache_digest with ctx as the cache: the layer writer's
 * cb_layer_content_digest_fn (layer/writer.h, key mode). */
int cb_statcache_digest_cb(void *ctx, int fd, const struct stat *st,
                           char out[CB_DIGEST_STR_LEN + 1], cb_error_t **err);

/* Whether the file with stat st is known, with no xattrs (set_plain): then
 * out is its content digest and the file need not even be opened. */
bool cb_statcache_known(cb_statcache_t *c, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]);
/* Notes that the file with stat st, whose digest was just taken, has no
 * xattrs (nothing happens unless an entry matches st). */
void cb_statcache_set_plain(cb_statcache_t *c, const struct stat *st);
/* The two above as the layer writer's known_digest and plain_file. */
bool cb_statcache_known_cb(void *ctx, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]);
void cb_statcache_set_plain_cb(void *ctx, const struct stat *st);

/* The digest remembered for a file with exactly the stat st, with or
 * without xattrs, never reading anything: false when there is none. */
bool cb_statcache_lookup(cb_statcache_t *c, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]);

/* Digests computed by someone who reads the file anyway (the layer writer
 * writing a COPY's layer), so that a cold COPY reads each file once:
 * cb_statcache_wants(c, &st) just before the first byte of the file with
 * fstat st is read (false: its digest is known, none is wanted), then
 * cb_statcache_put(c, &st, &after, digest, xattrs) with the sha256 of
 * exactly the bytes read, the file's fstat once they were, and whether it
 * has xattrs (without: as cb_statcache_set_plain). A file whose stat changed
 * in between is not remembered; a racy one (above) is remembered for this
 * run only, where its digest is that of what was read, never saved. One
 * file at a time: put belongs to the last wants. */
bool cb_statcache_wants(cb_statcache_t *c, const struct stat *st);
void cb_statcache_put(cb_statcache_t *c, const struct stat *st, const struct stat *after,
                      const char digest[CB_DIGEST_STR_LEN + 1], bool xattrs);
/* The three above as the layer writer's lookup_digest, want_digest and
 * file_digest (layer/writer.h). */
bool cb_statcache_lookup_cb(void *ctx, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]);
bool cb_statcache_wants_cb(void *ctx, const struct stat *st);
void cb_statcache_put_cb(void *ctx, const struct stat *st, const struct stat *after,
                         const char digest[CB_DIGEST_STR_LEN + 1], bool xattrs);

/* Writes the cache back if anything changed since it was loaded; entries
 * kept for this run only are dropped first. */
int cb_statcache_save(cb_statcache_t *c, cb_error_t **err);

void cb_statcache_stats(const cb_statcache_t *c, cb_statcache_stats_t *out);
/* Fewer entries than CB_STATCACHE_MAX_ENTRIES (tests); at least 1. */
void cb_statcache_set_max_entries(cb_statcache_t *c, size_t max);

void cb_statcache_free(cb_statcache_t *c);
static inline void cb_statcache_freep(cb_statcache_t **p) {
    cb_statcache_free(*p);
}
#define cb_autostatcache __attribute__((cleanup(cb_statcache_freep)))

#endif
