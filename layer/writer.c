#include "layer/writer.h"

#include "common/archive_lazy.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/log.h"
#include "common/util.h"
#include "layer/archive_error.h"
#include "layer/compress.h"
#include "layer/name.h"
#include "layer/pathset.h"
#include "layer/upper.h"
#include "layer/writer_key.h"
#include "layer/writer_private.h"

/* File data is read in pieces of up to 256 KiB into one buffer per writer:
 * few reads for large files, no allocation per file, and a piece is still
 * in the CPU's cache when it is hashed and handed to the compressor. */
#define DATA_CHUNK (256 * 1024)

struct cb_layer_writer {
    cb_layer_writer_opts_t opts;
    struct archive *tar;
    struct archive *disk; /* only for archive_read_disk_entry_from_file */
    struct archive_entry_linkresolver *links;
    cb_layer_compressor_t *comp; /* NULL: uncompressed, the tar goes to the sink */
    cb_layer_sink_fn sink;
    void *sink_ctx;
    cb_sha256_t *tar_hash; /* uncompressed only: else the compressor hashes its input */
    uint64_t tar_size;
    uint64_t entries;
    cb_pathset_t dirs; /* directory names written, for add_parents */
    cb_layer_key_t *key; /* key mode (writer_key.h): no tar, no libarchive */
    cb_error_t *cb_err; /* set by the tar write callback */
    char *data_buf;     /* DATA_CHUNK bytes, made on the first file read */
    char *gather;       /* GATHER bytes: small tar writes on their way out */
    size_t gather_len;
    cb_sha256_t *file_hash; /* opts.file_digest: of the file being written */
    bool hashing;           /* file_hash takes the bytes read */
    bool failed, finished;
    bool drop_overlay_xattrs; /* during an upper walk (upper.c) */
};

/* The tar's bytes after the diff_id: to the compressor, or (uncompressed)
 * straight to the sink. */
static void pass_on(cb_layer_writer_t *w, const void *buf, size_t n) {
    if (w->comp)
        cb_layer_compressor_write(w->comp, buf, n, &w->cb_err);
    else
        w->sink(w->sink_ctx, buf, n, &w->cb_err);
}

static void gather_flush(cb_layer_writer_t *w) {
    if (w->gather_len > 0 && !w->cb_err)
        pass_on(w, w->gather, w->gather_len);
    w->gather_len = 0;
}

/* libarchive writes unblocked (set_unblocked): each header, piece of file
 * data and padding arrives here as it is written. Pieces of file data
 * (DATA_CHUNK from the read buffer) go on without a copy; headers, padding
 * and small files are gathered so the sink and compressor see few calls. */
#define GATHER (64 * 1024)
#define GATHER_MAX_PIECE (16 * 1024)
static void tar_out(cb_layer_writer_t *w, const void *buf, size_t n) {
    if (w->tar_hash)
        cb_sha256_update(w->tar_hash, buf, n);
    w->tar_size += n;
    if (n > GATHER_MAX_PIECE) {
        gather_flush(w);
        if (!w->cb_err)
            pass_on(w, buf, n);
        return;
    }
    if (w->gather_len + n > GATHER)
        gather_flush(w);
    if (w->gather == NULL)
        w->gather = cb_xmalloc(GATHER);
    memcpy(w->gather + w->gather_len, buf, n);
    w->gather_len += n;
}

/* A sink failure is recorded, not returned to libarchive: a write handle in
 * the FATAL state leaks its client buffer when freed (libarchive 3.6), so
 * the handle keeps running and its later bytes are dropped. Every libarchive
 * call below checks w->cb_err afterwards. */
static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *buf, size_t n) {
    (void)a;
    cb_layer_writer_t *w = ctx;
    if (!w->failed && !w->cb_err)
        tar_out(w, buf, n);
    return (la_ssize_t)n;
}

/* Marks the writer dead and builds the error, preferring the sink's. */
static int writer_fail(cb_layer_writer_t *w, cb_error_t **err, const char *what, const char *name) {
    w->failed = true;
    if (w->cb_err) {
        cb_error_t *e = cb_steal_pointer(&w->cb_err);
        if (err) {
            cb_error_free(*err);
            *err = e;
        } else {
            cb_error_free(e);
        }
    }
    return cb_layer_archive_error(err, w->tar, "layer: %s '%s'", what, name);
}

static bool key_mode(const cb_layer_writer_t *w) {
    return w->opts.content_digest != NULL;
}

/* libarchive's own blocking would copy every byte into a 10240-byte
 * block (uncompressed: a 1 MB one) before the callback; unblocked, it
 * passes each write through and tar_out gathers the small ones. The tar
 * still ends padded with zeros to a multiple of TAR_BLOCK, as libarchive's
 * default block pads it (pad_tar): the same bytes, the same diff_id. */
#define TAR_BLOCK 10240
static int set_unblocked(cb_layer_writer_t *w) {
    return archive_write_set_bytes_per_block(w->tar, 0);
}

static void pad_tar(cb_layer_writer_t *w) {
    static const char zeros[TAR_BLOCK];
    size_t pad = (size_t)((TAR_BLOCK - w->tar_size % TAR_BLOCK) % TAR_BLOCK);
    if (pad > 0 && !w->cb_err)
        tar_out(w, zeros, pad);
    gather_flush(w);
}

int cb_layer_writer_new(cb_layer_writer_t **out, const cb_layer_writer_opts_t *opts,
                        cb_layer_sink_fn sink, void *sink_ctx, cb_error_t **err) {
    cb_layer_writer_t *w = cb_xcalloc(1, sizeof *w);
    if (opts)
        w->opts = *opts;
    if (key_mode(w)) {
        /* Only the key matters: no tar, nothing compressed or sent. */
        w->opts.compression = CB_LAYER_UNCOMPRESSED;
        w->opts.level = 0;
        w->key = cb_layer_key_new(&w->opts);
        *out = w;
        return 0;
    }
    if (sink == NULL) {
        cb_error_kind_set(err, CB_ERR_INTERNAL, "layer: a writer needs a sink");
        goto fail;
    }
    w->sink = sink;
    w->sink_ctx = sink_ctx;
    /* Uncompressed, the blob is the tar: its digest is the diff_id, and
     * hashing the same bytes twice would be waste. Compressed, the
     * compressor hashes the tar where it consumes it (for zstd another
     * thread than this one, which reads the files). */
    if (w->opts.compression == CB_LAYER_UNCOMPRESSED)
        w->tar_hash = cb_sha256_new();
    else if (cb_layer_compressor_new(&w->comp, w->opts.compression, w->opts.level, sink, sink_ctx,
                                     err) < 0)
        goto fail;
    w->tar = archive_write_new();
    w->disk = archive_read_disk_new();
    w->links = archive_entry_linkresolver_new();
    if (w->tar == NULL || w->disk == NULL || w->links == NULL) {
        cb_error_kind_set(err, CB_ERR_LIBRARY, "layer: libarchive: out of memory");
        goto fail;
    }
    archive_entry_linkresolver_set_strategy(w->links, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    /* Sparse maps, ACLs and file flags are host details a layer must not
     * carry; xattrs are read and filtered by normalise(). */
    archive_read_disk_set_behavior(w->disk, ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS |
                                                ARCHIVE_READDISK_NO_SPARSE);
    /* xattrs as SCHILY.xattr only, the form Go's archive/tar (docker,
     * containerd) reads; libarchive would add a LIBARCHIVE.xattr copy. */
    if (archive_write_set_format_pax_restricted(w->tar) != ARCHIVE_OK ||
        archive_write_set_format_option(w->tar, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
        /* Names as the bytes they are: a file name need not be UTF-8, and
         * translating would fail (or change it) in any locale. */
        archive_write_set_format_option(w->tar, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
        archive_write_add_filter_none(w->tar) != ARCHIVE_OK ||
        set_unblocked(w) != ARCHIVE_OK ||
        archive_write_open2(w->tar, w, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK) {
        writer_fail(w, err, "cannot start", "tar");
        goto fail;
    }
    *out = w;
    return 0;
fail:
    cb_layer_writer_free(w);
    return -1;
}

static int check_live(cb_layer_writer_t *w, cb_error_t **err) {
    if (w->failed || w->finished)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "layer writer used after %s",
                                 w->failed ? "a failure" : "finish");
    return 0;
}

/* Overlay xattrs are dropped only while an upper dir is walked, not always:
 * there they are the kernel's bookkeeping of one mount, while anywhere else
 * (a COPY source, a tree meant to become an overlay layer itself) they are
 * what the user asked to put in the image. */
static bool keep_xattr(const cb_layer_writer_t *w, const char *name) {
    return cb_layer_keep_xattr(name, w->drop_overlay_xattrs);
}

void cb_layer_writer_drop_overlay_xattrs(cb_layer_writer_t *w, bool on) {
    w->drop_overlay_xattrs = on;
}

bool cb_layer_writer_key_reads(cb_layer_writer_t *w, bool on) {
    return w->key ? cb_layer_key_set_reads(w->key, on) : false;
}

typedef struct xattr_item {
    const char *name;
    const void *value;
    size_t size;
} xattr_item_t;

static int xattr_cmp(const void *a, const void *b) {
    return strcmp(((const xattr_item_t *)a)->name, ((const xattr_item_t *)b)->name);
}

static void copy_xattrs(const cb_layer_writer_t *w, struct archive_entry *dst,
                        struct archive_entry *src) {
    int n = archive_entry_xattr_reset(src);
    if (n <= 0)
        return;
    xattr_item_t *items = cb_xcalloc((size_t)n, sizeof *items);
    size_t k = 0;
    xattr_item_t it;
    while (k < (size_t)n && archive_entry_xattr_next(src, &it.name, &it.value, &it.size) == ARCHIVE_OK)
        if (keep_xattr(w, it.name))
            items[k++] = it;
    qsort(items, k, sizeof *items, xattr_cmp);
    for (size_t i = 0; i < k; i++)
        archive_entry_xattr_add_entry(dst, items[i].name, items[i].value, items[i].size);
    free(items);
}

static int64_t effective_mtime(const cb_layer_writer_t *w, int64_t t) {
    if (w->opts.clamp_mtime && t > w->opts.mtime_max)
        return w->opts.mtime_max;
    return t;
}

/* A fresh entry with only the fields a layer should carry: whatever the
 * host entry had beyond them (inode, nlink, atime, names, ACLs) can't leak
 * into the bytes. */
static struct archive_entry *normalise(const cb_layer_writer_t *w, struct archive_entry *src,
                                       const char *name, const cb_layer_attrs_t *attrs) {
    struct archive_entry *e = archive_entry_new();
    mode_t type = archive_entry_filetype(src);
    archive_entry_copy_pathname(e, name);
    archive_entry_set_filetype(e, type);
    mode_t perm = archive_entry_perm(src) & 07777;
    if (attrs && attrs->set_mode)
        perm = attrs->mode & 07777;
    archive_entry_set_perm(e, perm);
    archive_entry_set_uid(e, attrs && attrs->set_uid ? attrs->uid : archive_entry_uid(src));
    archive_entry_set_gid(e, attrs && attrs->set_gid ? attrs->gid : archive_entry_gid(src));
    int64_t mtime = attrs && attrs->set_mtime ? attrs->mtime : archive_entry_mtime(src);
    archive_entry_set_mtime(e, effective_mtime(w, mtime), 0);
    if (archive_entry_hardlink(src)) {
        archive_entry_copy_hardlink(e, archive_entry_hardlink(src));
        archive_entry_set_size(e, 0);
    } else if (type == AE_IFREG) {
        archive_entry_set_size(e, archive_entry_size(src));
    } else if (type == AE_IFLNK) {
        archive_entry_copy_symlink(e, archive_entry_symlink(src));
    } else if (type == AE_IFCHR || type == AE_IFBLK) {
        archive_entry_set_rdevmajor(e, archive_entry_rdevmajor(src));
        archive_entry_set_rdevminor(e, archive_entry_rdevminor(src));
    }
    if (!archive_entry_hardlink(src))
        copy_xattrs(w, e, src); /* a hardlink shares its file's xattrs */
    return e;
}

/* An entry written (or keyed): counted, and a directory remembered for
 * add_parents. */
static void note_entry(cb_layer_writer_t *w, const char *name, mode_t type) {
    w->entries++;
    if ((type & S_IFMT) == S_IFDIR)
        cb_pathset_add(&w->dirs, name);
}

static int write_entry(cb_layer_writer_t *w, struct archive_entry *e, int fd, const void *data,
                       cb_error_t **err) {
    /* Copied: the tar writer may rewrite the entry's name ("dir/"). */
    cb_autofree char *name = cb_xstrdup(archive_entry_pathname(e));
    if (archive_write_header(w->tar, e) != ARCHIVE_OK || w->cb_err)
        return writer_fail(w, err, "cannot write header for", name);
    note_entry(w, name, archive_entry_filetype(e));
    int64_t left = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (data) {
        if (left > 0 && (archive_write_data(w->tar, data, (size_t)left) < 0 || w->cb_err))
            return writer_fail(w, err, "cannot write data of", name);
        return 0;
    }
    if (fd < 0 || left == 0)
        return 0;
    if (w->data_buf == NULL)
        w->data_buf = cb_xmalloc(DATA_CHUNK);
    char *buf = w->data_buf;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < DATA_CHUNK ? (size_t)left : DATA_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            w->failed = true;
            return cb_error_set(err, errno, "layer: reading '%s'", name);
        }
        if (n == 0) {
            /* The header already promised the size: the tar would be corrupt. */
            w->failed = true;
            return cb_error_set(err, 0, "layer: '%s' shrank while being read", name);
        }
        if (w->hashing)
            cb_sha256_update(w->file_hash, buf, (size_t)n);
        if (archive_write_data(w->tar, buf, (size_t)n) < 0 || w->cb_err)
            return writer_fail(w, err, "cannot write data of", name);
        left -= n;
    }
    return 0;
}

/* Fills e from an open descriptor (regular files and directories: metadata
 * and xattrs through libarchive) or from st alone (other types). */
static int host_entry(cb_layer_writer_t *w, struct archive_entry *e, int parentfd,
                      const char *base, int fd, const struct stat *st, const char *name,
                      cb_error_t **err) {
    archive_entry_copy_pathname(e, name);
    if (fd >= 0) {
        if (archive_read_disk_entry_from_file(w->disk, e, fd, st) != ARCHIVE_OK)
            return cb_layer_archive_error(err, w->disk, "layer: reading metadata of '%s'", name);
        return 0;
    }
    archive_entry_copy_stat(e, st);
    if (S_ISLNK(st->st_mode)) {
        cb_autofree char *target = NULL;
        if (cb_layer_read_symlink(parentfd, base, st, name, &target, err) < 0)
            return -1;
        archive_entry_copy_symlink(e, target);
    }
    return 0;
}

static int tar_host_entry(cb_layer_writer_t *w, int parentfd, const char *base, int fd,
                          const struct stat *st, const char *name, const cb_layer_attrs_t *attrs,
                          cb_error_t **err);

/* given: the caller's lstat of parentfd/base, or NULL. */
static int add_entry(cb_layer_writer_t *w, int parentfd, const char *base, const char *name,
                     const struct stat *given, const cb_layer_attrs_t *attrs, int *dir_out,
                     cb_error_t **err) {
    if (dir_out)
        *dir_out = -1;
    if (check_live(w, err) < 0)
        return -1;
    struct stat st;
    if (given)
        st = *given;
    else if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return cb_error_set(err, errno, "layer: stat '%s'", name);
    if (S_ISSOCK(st.st_mode)) {
        cb_debug("layer", "skipping socket %s", name);
        return 0;
    }
    char known[CB_DIGEST_STR_LEN + 1];
    bool is_known = w->key && cb_layer_key_known(w->key, &st, known);
    if (w->key && !is_known && cb_layer_key_unknown_file(w->key, &st)) {
        note_entry(w, name, st.st_mode); /* no key: the walk only counts */
        return 0;
    }
    cb_autoclose int fd = -1;
    if ((S_ISREG(st.st_mode) && !is_known) || S_ISDIR(st.st_mode)) {
        /* O_NONBLOCK: a file swapped for a fifo since fstatat must not
         * block the open (it has no effect on files and directories). */
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
        fd = openat(parentfd, base, S_ISDIR(st.st_mode) ? flags | O_DIRECTORY : flags);
        if (fd < 0)
            return cb_error_set(err, errno, "layer: open '%s'", name);
        /* Metadata from the descriptor we read: the path may have been
         * swapped since fstatat, and then it must still be what we meant. */
        mode_t type = st.st_mode & S_IFMT;
        if (fstat(fd, &st) < 0)
            return cb_error_set(err, errno, "layer: stat '%s'", name);
        if ((st.st_mode & S_IFMT) != type)
            return cb_error_kind_set(err, CB_ERR_INPUT, "layer: '%s' changed while being read", name);
    }
    if (w->key) {
        if (cb_layer_key_host(w->key, parentfd, base, fd, &st, is_known ? known : NULL, name,
                              attrs, w->drop_overlay_xattrs, err) < 0)
            return -1;
        note_entry(w, name, st.st_mode);
    } else if (tar_host_entry(w, parentfd, base, fd, &st, name, attrs, err) < 0) {
        return -1;
    }
    if (dir_out && S_ISDIR(st.st_mode))
        *dir_out = cb_steal_fd(&fd);
    return 0;
}

/* A regular file's entry with the sha256 of its bytes on the way, handed to
 * opts.file_digest with the file's stat before and after: computed here, in
 * the thread that reads the file for the tar anyway, so a cold COPY reads
 * each file once instead of once for its cache key and once for its layer. */
static int write_hashed(cb_layer_writer_t *w, struct archive_entry *e, int fd, const struct stat *st,
                        bool xattrs, cb_error_t **err) {
    if (w->file_hash == NULL)
        w->file_hash = cb_sha256_new();
    cb_sha256_reset(w->file_hash);
    w->hashing = true;
    int r = write_entry(w, e, fd, NULL, err);
    w->hashing = false;
    struct stat after;
    if (r < 0 || fstat(fd, &after) < 0)
        return r; /* without its stat after, the digest is worth nothing */
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_final(w->file_hash, digest);
    w->opts.file_digest(w->opts.content_digest_ctx, st, &after, digest, xattrs);
    return 0;
}

/* The normal mode's half of add_entry: the entry through libarchive. */
static int tar_host_entry(cb_layer_writer_t *w, int parentfd, const char *base, int fd,
                          const struct stat *st, const char *name, const cb_layer_attrs_t *attrs,
                          cb_error_t **err) {
    struct archive_entry *host = archive_entry_new();
    if (host_entry(w, host, parentfd, base, fd, st, name, err) < 0) {
        archive_entry_free(host);
        return -1;
    }
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        struct archive_entry *spare = NULL;
        archive_entry_linkify(w->links, &host, &spare);
        archive_entry_free(spare); /* only the cpio strategies return one */
    }
    struct archive_entry *e = normalise(w, host, name, attrs);
    int r = S_ISREG(st->st_mode) && archive_entry_hardlink(e) == NULL && w->opts.file_digest &&
                    w->opts.want_digest(w->opts.content_digest_ctx, st)
                ? write_hashed(w, e, fd, st, archive_entry_xattr_count(host) > 0, err)
                : write_entry(w, e, fd, NULL, err);
    archive_entry_free(e);
    archive_entry_free(host);
    return r;
}

int cb_layer_add_at(cb_layer_writer_t *w, int parentfd, const char *base, const char *name,
                    const cb_layer_attrs_t *attrs, int *dir_out, cb_error_t **err) {
    return add_entry(w, parentfd, base, name, NULL, attrs, dir_out, err);
}

int cb_layer_add_path_stat(cb_layer_writer_t *w, const char *name, int dirfd, const char *path,
                           const struct stat *st, const cb_layer_attrs_t *attrs, cb_error_t **err) {
    cb_autofree char *clean = NULL;
    if (cb_layer_name_clean(name, true, &clean, err) < 0)
        return cb_error_wrap(err, "layer: entry name '%s'", name);
    if (clean[0] == '\0')
        return cb_error_set(err, 0, "layer: empty entry name for '%s'", path);
    return add_entry(w, dirfd, path, clean, st, attrs, NULL, err);
}

int cb_layer_add_path(cb_layer_writer_t *w, const char *name, int dirfd, const char *path,
                      const cb_layer_attrs_t *attrs, cb_error_t **err) {
    return cb_layer_add_path_stat(w, name, dirfd, path, NULL, attrs, err);
}

/* Entries made up by the writer: a stat-like template, then the same
 * normalisation as host entries. */
static int add_synthetic(cb_layer_writer_t *w, const char *name, mode_t type, mode_t perm,
                         const void *data, size_t n, const cb_layer_attrs_t *attrs,
                         cb_error_t **err) {
    if (check_live(w, err) < 0)
        return -1;
    cb_autofree char *clean = NULL;
    if (cb_layer_name_clean(name, true, &clean, err) < 0)
        return cb_error_wrap(err, "layer: entry name '%s'", name);
    if (clean[0] == '\0')
        return cb_error_set(err, 0, "layer: empty entry name");
    if (w->key) {
        cb_layer_key_synthetic(w->key, clean, type, perm, data, n, attrs);
        note_entry(w, clean, type);
        return 0;
    }
    struct archive_entry *t = archive_entry_new();
    archive_entry_set_filetype(t, type);
    archive_entry_set_perm(t, perm);
    archive_entry_set_mtime(t, w->opts.clamp_mtime ? w->opts.mtime_max : 0, 0);
    if (type == AE_IFREG)
        archive_entry_set_size(t, (int64_t)n);
    struct archive_entry *e = normalise(w, t, clean, attrs);
    archive_entry_free(t);
    int r = write_entry(w, e, -1, data ? data : "", err);
    archive_entry_free(e);
    return r;
}

int cb_layer_add_dir(cb_layer_writer_t *w, const char *name, const cb_layer_attrs_t *attrs,
                     cb_error_t **err) {
    return add_synthetic(w, name, AE_IFDIR, 0755, NULL, 0, attrs, err);
}

int cb_layer_add_parents(cb_layer_writer_t *w, const char *name, const cb_layer_attrs_t *attrs,
                         cb_error_t **err) {
    cb_autofree char *clean = NULL;
    if (cb_layer_name_clean(name, true, &clean, err) < 0)
        return cb_error_wrap(err, "layer: entry name '%s'", name);
    for (char *p = strchr(clean, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        int r = cb_pathset_has(&w->dirs, clean) ? 0 : cb_layer_add_dir(w, clean, attrs, err);
        *p = '/';
        if (r < 0)
            return -1;
    }
    return 0;
}

int cb_layer_add_file_data(cb_layer_writer_t *w, const char *name, const void *data, size_t n,
                           const cb_layer_attrs_t *attrs, cb_error_t **err) {
    return add_synthetic(w, name, AE_IFREG, 0644, data, n, attrs, err);
}

int cb_layer_add_whiteout(cb_layer_writer_t *w, const char *name, cb_error_t **err) {
    cb_autofree char *clean = NULL;
    if (cb_layer_name_clean(name, true, &clean, err) < 0)
        return cb_error_wrap(err, "layer: whiteout '%s'", name);
    if (clean[0] == '\0')
        return cb_error_set(err, 0, "layer: cannot white out the layer root");
    cb_autofree char *dir = NULL;
    const char *base = cb_layer_name_split(clean, &dir);
    cb_autofree char *wh = cb_xasprintf("%s%s.wh.%s", dir, dir[0] ? "/" : "", base);
    return add_synthetic(w, wh, AE_IFREG, 0, NULL, 0, NULL, err);
}

int cb_layer_add_opaque(cb_layer_writer_t *w, const char *dir, cb_error_t **err) {
    cb_autofree char *clean = NULL;
    if (cb_layer_name_clean(dir, true, &clean, err) < 0)
        return cb_error_wrap(err, "layer: opaque directory '%s'", dir);
    cb_autofree char *wh = cb_xasprintf("%s%s.wh..wh..opq", clean, clean[0] ? "/" : "");
    return add_synthetic(w, wh, AE_IFREG, 0, NULL, 0, NULL, err);
}

int cb_layer_writer_finish(cb_layer_writer_t *w, cb_layer_result_t *res, cb_error_t **err) {
    if (check_live(w, err) < 0)
        return -1;
    if (w->key) {
        w->finished = true;
        memset(res, 0, sizeof *res);
        cb_layer_key_finish(w->key, res->diff_id);
        memcpy(res->digest, res->diff_id, sizeof res->digest);
        res->entries = w->entries;
        res->compression = CB_LAYER_UNCOMPRESSED;
        res->media_suffix = cb_layer_media_suffix(CB_LAYER_UNCOMPRESSED);
        cb_layer_key_counts(w->key, &res->key_counts);
        return 0;
    }
    if (archive_write_close(w->tar) != ARCHIVE_OK || w->cb_err)
        return writer_fail(w, err, "cannot finish", "tar");
    pad_tar(w);
    if (w->cb_err)
        return writer_fail(w, err, "cannot finish", "tar");
    if (w->comp && cb_layer_compressor_finish(w->comp, err) < 0) {
        w->failed = true;
        return -1;
    }
    w->finished = true;
    memset(res, 0, sizeof *res);
    if (w->comp) {
        cb_layer_compressor_input_digest(w->comp, res->diff_id);
        cb_layer_compressor_digest(w->comp, res->digest);
        res->size = cb_layer_compressor_size(w->comp);
    } else {
        cb_sha256_final(w->tar_hash, res->diff_id);
        memcpy(res->digest, res->diff_id, sizeof res->digest);
        res->size = w->tar_size;
    }
    res->tar_size = w->tar_size;
    res->entries = w->entries;
    res->compression = w->opts.compression;
    res->media_suffix = cb_layer_media_suffix(w->opts.compression);
    return 0;
}

void cb_layer_writer_free(cb_layer_writer_t *w) {
    if (w == NULL)
        return;
    w->failed = true;
    if (w->tar)
        archive_write_free(w->tar);
    if (w->disk)
        archive_read_free(w->disk);
    if (w->links)
        archive_entry_linkresolver_free(w->links);
    cb_layer_compressor_free(w->comp);
    cb_sha256_free(w->tar_hash);
    cb_sha256_free(w->file_hash);
    cb_layer_key_free(w->key);
    cb_pathset_free(&w->dirs);
    cb_error_free(w->cb_err);
    free(w->data_buf);
    free(w->gather);
    free(w);
}
