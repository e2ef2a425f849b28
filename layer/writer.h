/* Writing a layer: entries in, a compressed tar stream out to a sink, with
 * both digests computed on the way.
 *
 *   1. cb_layer_writer_new(&w, &opts, sink, ctx, &err)
 *   2. any number of cb_layer_add_* calls; entries appear in call order
 *      (cb_layer_add_tree sorts what it walks by name)
 *   3. cb_layer_writer_finish(w, &result, &err): ends the tar and the
 *      compressed stream, fills digest, diff_id and sizes
 *   4. cb_layer_writer_free(w) (also after a failure; a failed writer
 *      refuses further entries)
 *
 * Entries are normalised for reproducibility: mtimes in whole seconds and
 * clamped to opts.mtime_max when opts.clamp_mtime; no atime/ctime, no user or
 * group names, no device/inode numbers, no ACLs or file flags; xattrs kept
 * only for security.capability, user.* and trusted.*, sorted by name.
 * Files with several links become one file and hardlinks to its first name.
 * Sockets are skipped. Host files are opened with O_NOFOLLOW and read through
 * the same descriptor their metadata came from.
 *
 * Key mode (opts.content_digest set): the writer computes a KEY of the layer
 * it would write instead of the layer, without writing a tar or loading
 * libarchive (layer/writer_key.h has the encoding). Host files are opened
 * and checked as for a layer; each entry is digested as its tar header's
 * fields after the same normalisation, except that mtimes count only when
 * the caller sets one (attrs.mtime: host mtimes and the clamp are dropped),
 * and a regular file's content is its "sha256:<hex>": for a host file the
 * callback's answer (it is given the open descriptor and its fstat; the
 * writer itself reads nothing), for cb_layer_add_file_data the sha256 of the
 * data. Hardlinks stay hardlinks (no callback for them). The result's
 * diff_id and digest are the key: equal for trees that differ only in
 * mtimes, different when a name, type, mode, owner, xattr, link target,
 * hardlink or content differs, or the entries come in another order. The
 * compression is forced to none, no byte is produced, sink may be NULL. */
#ifndef CB_LAYER_WRITER_H
#define CB_LAYER_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layer/layer.h"

typedef struct cb_layer_writer cb_layer_writer_t;

/* Key mode: the content digest ("sha256:<hex>") of the regular file open as
 * fd, whose fstat is st. May read fd (with pread: the writer does not use its
 * offset afterwards) or answer from what it knows (cache/statcache.h).
 * Returns < 0 with *err set on failure, which fails the entry. */
typedef int (*cb_layer_content_digest_fn)(void *ctx, int fd, const struct stat *st,
                                          char out[CB_DIGEST_STR_LEN + 1], cb_error_t **err);

/* Key mode, optional: the content digest of a regular file from its stat
 * alone. True only when the caller knows that a file with exactly this stat
 * has that content AND no xattrs (as plain_file said of it before): the
 * writer then neither opens nor reads it, one stat per unchanged file. */
typedef bool (*cb_layer_known_digest_fn)(void *ctx, const struct stat *st,
                                         char out[CB_DIGEST_STR_LEN + 1]);
/* Key mode, optional: after content_digest, the file with this stat was
 * found to have no xattrs. */
typedef void (*cb_layer_plain_file_fn)(void *ctx, const struct stat *st);
/* Key mode, optional: the content digest of a regular file from its stat
 * alone, xattrs or not. Set, the key is made without reading any file: the
 * regular files it does not know are neither opened nor read but counted
 * (the result's key_counts), and the key is not made when there are any;
 * except while cb_layer_writer_key_reads is on. */
typedef bool (*cb_layer_lookup_digest_fn)(void *ctx, const struct stat *st,
                                          char out[CB_DIGEST_STR_LEN + 1]);

/* Normal mode, optional, both or neither: the content digest of each
 * regular host file written whole (not a hardlink entry), from the bytes
 * that go into the tar, so that whoever keys the files need not read them
 * again (cache/statcache.h). want_digest is asked with the file's fstat
 * just before its first byte is read (false: not hashed); file_digest gets
 * that stat, the file's fstat after its last byte, the sha256 of exactly
 * the bytes the tar got, and whether the file has xattrs (any, kept or not:
 * as plain_file means it). */
typedef bool (*cb_layer_want_digest_fn)(void *ctx, const struct stat *st);
typedef void (*cb_layer_file_digest_fn)(void *ctx, const struct stat *st, const struct stat *after,
                                        const char digest[CB_DIGEST_STR_LEN + 1], bool xattrs);

typedef struct cb_layer_writer_opts {
    cb_layer_compression_t compression;
    int level;        /* 0: gzip 6, zstd 3 */
    bool clamp_mtime; /* SOURCE_DATE_EPOCH / --timestamp */
    int64_t mtime_max;
    /* Set: key mode (see the top of this file). */
    cb_layer_content_digest_fn content_digest;
    cb_layer_known_digest_fn known_digest;
    cb_layer_plain_file_fn plain_file;
    cb_layer_lookup_digest_fn lookup_digest;
    /* Normal mode (see above). */
    cb_layer_want_digest_fn want_digest;
    cb_layer_file_digest_fn file_digest;
    void *content_digest_ctx; /* for all the callbacks */
} cb_layer_writer_opts_t;

/* Per-entry overrides (COPY --chown/--chmod). Zero-initialised means "keep
 * what the host file has"; for entries without a host file (directories made
 * up, buffers, whiteouts) the defaults are 0:0, 0755 or 0644, and mtime
 * opts.mtime_max when clamping, else 0. */
typedef struct cb_layer_attrs {
    bool set_uid, set_gid, set_mode, set_mtime;
    uint32_t uid, gid;
    uint32_t mode; /* permission bits with setuid/setgid/sticky: & 07777 */
    int64_t mtime;
} cb_layer_attrs_t;

/* Key mode with lookup_digest: regular files by whether their digest was
 * known (unknown: no key). */
typedef struct cb_layer_key_counts {
    uint64_t unknown, unknown_bytes;
    uint64_t known_bytes; /* of the files keyed by their digest */
} cb_layer_key_counts_t;

typedef struct cb_layer_result {
    char digest[CB_DIGEST_STR_LEN + 1];  /* sha256 of the bytes sent to the sink */
    char diff_id[CB_DIGEST_STR_LEN + 1]; /* sha256 of the uncompressed tar */
    uint64_t size;                       /* bytes sent to the sink */
    uint64_t tar_size;                   /* uncompressed tar bytes */
    uint64_t entries;
    cb_layer_compression_t compression;
    const char *media_suffix; /* "", "+gzip", "+zstd" */
    cb_layer_key_counts_t key_counts; /* key mode */
} cb_layer_result_t;

/* sink may be NULL only in key mode. */
int cb_layer_writer_new(cb_layer_writer_t **out, const cb_layer_writer_opts_t *opts,
                        cb_layer_sink_fn sink, void *sink_ctx, cb_error_t **err);

/* One entry named name from the host file dirfd/path (dirfd may be
 * AT_FDCWD); a directory adds only itself. A socket adds nothing. */
int cb_layer_add_path(cb_layer_writer_t *w, const char *name, int dirfd, const char *path,
                      const cb_layer_attrs_t *attrs, cb_error_t **err);
/* The same with the caller's fstatat(dirfd, path, AT_SYMLINK_NOFOLLOW) of
 * the entry (or NULL), saving a stat per entry on a walk that has one. */
int cb_layer_add_path_stat(cb_layer_writer_t *w, const char *name, int dirfd, const char *path,
                           const struct stat *st, const cb_layer_attrs_t *attrs, cb_error_t **err);
/* dirfd/path and, when it is a directory, everything below it, depth-first
 * with each directory's children sorted bytewise. name "" (or "/") puts the
 * directory's children at the layer root without an entry for the root. */
int cb_layer_add_tree(cb_layer_writer_t *w, const char *name, int dirfd, const char *path,
                      const cb_layer_attrs_t *attrs, cb_error_t **err);
/* A directory entry with no host counterpart. */
int cb_layer_add_dir(cb_layer_writer_t *w, const char *name, const cb_layer_attrs_t *attrs,
                     cb_error_t **err);
/* Directory entries for each ancestor of name that this writer has not
 * written yet, outermost first ("a/b/c" -> "a", "a/b"). */
int cb_layer_add_parents(cb_layer_writer_t *w, const char *name, const cb_layer_attrs_t *attrs,
                         cb_error_t **err);
/* A regular file whose content is data (heredocs). */
int cb_layer_add_file_data(cb_layer_writer_t *w, const char *name, const void *data, size_t n,
                           const cb_layer_attrs_t *attrs, cb_error_t **err);
/* OCI whiteouts: "a/b" writes "a/.wh.b" (b is deleted from lower layers);
 * the opaque marker "dir/.wh..wh..opq" hides all lower content of dir. */
int cb_layer_add_whiteout(cb_layer_writer_t *w, const char *name, cb_error_t **err);
int cb_layer_add_opaque(cb_layer_writer_t *w, const char *dir, cb_error_t **err);

/* Key mode with lookup_digest: while on, files lookup_digest does not know
 * are read (content_digest) instead of ending the key, for files the caller
 * made itself, which no cache can know (ADD's downloads and unpacked
 * archives). Returns the previous setting; a no-op in normal mode. */
bool cb_layer_writer_key_reads(cb_layer_writer_t *w, bool on);

int cb_layer_writer_finish(cb_layer_writer_t *w, cb_layer_result_t *res, cb_error_t **err);
void cb_layer_writer_free(cb_layer_writer_t *w);

static inline void cb_layer_writer_freep(cb_layer_writer_t **w) {
    cb_layer_writer_free(*w);
}
#define cb_autolayerwriter __attribute__((cleanup(cb_layer_writer_freep)))

#endif
