/* The stream side of applying: source -> libarchive decompression ("raw"
 * format, so the decompressed bytes come out as data) -> sha256 for the
 * diff_id -> a second libarchive reader that parses the tar. Two readers
 * because the tar reader never shows the decompressed bytes it consumed. */
#include "layer/apply.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "layer/apply_private.h"
#include "layer/archive_error.h"
#include "layer/name.h"

typedef struct stream {
    cb_layer_source_fn source;
    void *source_ctx;
    const cb_layer_apply_opts_t *opts;
    struct archive *outer;
    cb_sha256_t *hash;
    uint64_t size;
    uint64_t in_size; /* bytes from the source, compressed */
    cb_error_t *cb_err; /* set by our callbacks, reported by the caller */
    unsigned char in[CB_APPLY_CHUNK];
    unsigned char out[CB_APPLY_CHUNK];
} stream_t;

static la_ssize_t outer_read(struct archive *a, void *ctx, const void **buf) {
    stream_t *s = ctx;
    size_t got = 0;
    if (s->source(s->source_ctx, s->in, sizeof s->in, &got, &s->cb_err) < 0) {
        archive_set_error(a, EIO, "layer source failed");
        return -1;
    }
    s->in_size += got;
    *buf = s->in;
    return (la_ssize_t)got;
}

static la_ssize_t inner_read(struct archive *a, void *ctx, const void **buf) {
    stream_t *s = ctx;
    la_ssize_t n = archive_read_data(s->outer, s->out, sizeof s->out);
    if (n < 0) {
        cb_layer_archive_error(&s->cb_err, s->outer, "decompressing layer");
        archive_set_error(a, EIO, "decompression failed");
        return -1;
    }
    s->size += (uint64_t)n;
    if (s->opts->max_size && s->size > s->opts->max_size) {
        cb_error_kind_set(&s->cb_err, CB_ERR_INTEGRITY,
                          "layer is larger than the limit of %llu uncompressed bytes",
                          (unsigned long long)s->opts->max_size);
        archive_set_error(a, EFBIG, "layer too large");
        return -1;
    }
    cb_sha256_update(s->hash, s->out, (size_t)n);
    *buf = s->out;
    return n;
}

static const char *filter_name(int code) {
    switch (code) {
    case ARCHIVE_FILTER_NONE:
        return "none";
    case ARCHIVE_FILTER_GZIP:
        return "gzip";
    case ARCHIVE_FILTER_ZSTD:
        return "zstd";
    case ARCHIVE_FILTER_BZIP2:
        return "bzip2";
    case ARCHIVE_FILTER_XZ:
        return "xz";
    case ARCHIVE_FILTER_LZMA:
        return "lzma";
    default:
        return "unknown";
    }
}

/* Error from a failed libarchive call, preferring what our callback said. */
static int stream_error(stream_t *s, struct archive *a, cb_error_t **err, const char *fmt,
                        const char *arg) {
    if (s->cb_err) {
        cb_error_t *e = cb_steal_pointer(&s->cb_err);
        cb_error_free(*err);
        *err = e;
        return cb_error_wrap(err, fmt, arg);
    }
    return cb_layer_archive_error(err, a, fmt, arg);
}

static int apply_one(cb_applier_t *ap, struct archive_entry *e, cb_error_t **err) {
    const char *raw = archive_entry_pathname(e);
    if (raw == NULL || raw[0] == '\0')
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "entry without a name");
    cb_autofree char *name = NULL;
    if (cb_layer_name_clean(raw, false, &name, err) < 0)
        return -1;
    if (name[0] == '\0')
        return 0; /* "./": the target itself keeps its own metadata */
    cb_autofree char *dir = NULL;
    const char *base = cb_layer_name_split(name, &dir);
    if (strcmp(base, ".wh..wh..opq") == 0)
        return cb_apply_opaque(ap, dir, err);
    if (cb_str_has_prefix(base, ".wh."))
        return cb_apply_whiteout(ap, dir, base + 4, err);
    return cb_apply_entry(ap, e, name, err);
}

int cb_layer_apply(int target_dirfd, cb_layer_source_fn source, void *source_ctx,
                   const cb_layer_apply_opts_t *opts, cb_layer_apply_result_t *res,
                   cb_error_t **err) {
    static const cb_layer_apply_opts_t no_opts;
    stream_t *s = cb_xcalloc(1, sizeof *s);
    s->source = source;
    s->source_ctx = source_ctx;
    s->opts = opts ? opts : &no_opts;
    s->hash = cb_sha256_new();
    cb_applier_t ap = {.root = target_dirfd, .opts = *s->opts};
    ap.buf = cb_xmalloc(CB_APPLY_CHUNK);
    int ret = -1;
    struct archive_entry *e;

    s->outer = archive_read_new();
    ap.tar = archive_read_new();
    if (s->outer == NULL || ap.tar == NULL) {
        cb_error_kind_set(err, CB_ERR_LIBRARY, "libarchive: out of memory");
        goto out;
    }
    archive_read_support_filter_gzip(s->outer);
    archive_read_support_filter_zstd(s->outer);
    archive_read_support_filter_bzip2(s->outer);
    archive_read_support_filter_xz(s->outer);
    archive_read_support_filter_lzma(s->outer);
    archive_read_support_format_raw(s->outer);
    archive_read_support_format_tar(ap.tar);
    int r = archive_read_open(s->outer, s, NULL, outer_read, NULL);
    if (r == ARCHIVE_OK)
        r = archive_read_next_header(s->outer, &e);
    if ((r == ARCHIVE_EOF || r == ARCHIVE_FATAL) && s->in_size == 0 && s->cb_err == NULL) {
        cb_error_kind_set(err, CB_ERR_INTEGRITY, "layer is empty (not even a tar end marker)");
        goto out;
    }
    if (r != ARCHIVE_OK) {
        stream_error(s, s->outer, err, "reading layer%s", "");
        goto out;
    }
    res->compression = filter_name(archive_filter_code(s->outer, 0));
    if (archive_read_open(ap.tar, s, NULL, inner_read, NULL) != ARCHIVE_OK) {
        stream_error(s, ap.tar, err, "reading layer as tar%s", "");
        goto out;
    }
    res->entries = 0;
    for (;;) {
        r = archive_read_next_header(ap.tar, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_WARN) {
            cb_warn("layer", "%s: %s", archive_entry_pathname(e), archive_error_string(ap.tar));
        } else if (r != ARCHIVE_OK) {
            stream_error(s, ap.tar, err, "reading layer after %s entries",
                         res->entries ? "some" : "no");
            goto out;
        }
        res->entries++;
        const char *name = archive_entry_pathname(e);
        if (s->opts->max_size && archive_entry_size(e) > 0 &&
            (uint64_t)archive_entry_size(e) > s->opts->max_size) {
            cb_error_kind_set(err, CB_ERR_INTEGRITY,
                              "entry '%s': size %lld is larger than the limit of %llu bytes",
                              name, (long long)archive_entry_size(e),
                              (unsigned long long)s->opts->max_size);
            goto out;
        }
        if (apply_one(&ap, e, err) < 0) {
            if (s->cb_err) { /* a data read failed inside the entry */
                cb_error_free(*err);
                *err = cb_steal_pointer(&s->cb_err);
            }
            cb_error_wrap(err, "layer entry '%s'", name ? name : "");
            goto out;
        }
    }
    /* The tar reader stops at the end marker; the padding after it is part
     * of the diff_id too. */
    for (;;) {
        const void *p;
        la_ssize_t n = inner_read(ap.tar, s, &p);
        if (n < 0) {
            stream_error(s, ap.tar, err, "reading layer end%s", "");
            goto out;
        }
        if (n == 0)
            break;
    }
    if (cb_apply_dir_meta(&ap, err) < 0)
        goto out;
    cb_sha256_final(s->hash, res->diff_id);
    res->tar_size = s->size;
    ret = 0;
out:
    if (s->outer)
        archive_read_free(s->outer);
    if (ap.tar)
        archive_read_free(ap.tar);
    cb_pathset_free(&ap.created);
    for (size_t i = 0; i < ap.ndirs; i++)
        free(ap.dirs[i].name);
    free(ap.dirs);
    free(ap.buf);
    cb_sha256_free(s->hash);
    cb_error_free(s->cb_err);
    free(s);
    return ret;
}

static int fd_source(void *ctx, void *buf, size_t cap, size_t *got, cb_error_t **err) {
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0) {
            *got = (size_t)n;
            return 0;
        }
        if (errno != EINTR)
            return cb_error_set(err, errno, "reading layer");
    }
}

int cb_layer_apply_fd(int target_dirfd, int fd, const cb_layer_apply_opts_t *opts,
                      cb_layer_apply_result_t *res, cb_error_t **err) {
    return cb_layer_apply(target_dirfd, fd_source, &fd, opts, res, err);
}
