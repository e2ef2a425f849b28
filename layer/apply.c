/* Applying a layer: the tar entries of the decompressed stream
 * (apply_stream.c) become files under the target (apply_entry.c,
 * whiteout.c). */
#include "layer/apply.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "layer/apply_private.h"
#include "layer/archive_error.h"
#include "layer/name.h"

/* The tar reader's side of the stream. */
typedef struct tar_src {
    cb_apply_stream_t *st;
    cb_error_t *cb_err; /* why our callback failed, reported by the caller */
} tar_src_t;

static la_ssize_t inner_read(struct archive *a, void *ctx, const void **buf) {
    tar_src_t *t = ctx;
    cb_error_t *cause = NULL;
    la_ssize_t n = cb_apply_stream_read(t->st, buf, &cause);
    if (n < 0) {
        if (cause) {
            cb_error_free(t->cb_err);
            t->cb_err = cause;
        }
        archive_set_error(a, EIO, "decompression failed");
        return -1;
    }
    return n;
}

/* Error from a failed libarchive call, preferring what our callback said. */
static int stream_error(tar_src_t *s, struct archive *a, cb_error_t **err, const char *fmt,
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
    if (opts == NULL)
        opts = &no_opts;
    cb_applier_t ap = {.root = target_dirfd, .opts = *opts};
    tar_src_t t = {0};
    int ret = -1;
    struct archive_entry *e;
    int r;

    if (cb_apply_stream_open(source, source_ctx, opts->max_size, &t.st, &res->compression, err) < 0)
        goto out;
    ap.buf = cb_xmalloc(CB_APPLY_CHUNK);
    ap.tar = archive_read_new();
    if (ap.tar == NULL) {
        cb_error_kind_set(err, CB_ERR_LIBRARY, "libarchive: out of memory");
        goto out;
    }
    archive_read_support_format_tar(ap.tar);
    if (archive_read_open(ap.tar, &t, NULL, inner_read, NULL) != ARCHIVE_OK) {
        stream_error(&t, ap.tar, err, "reading layer as tar%s", "");
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
            stream_error(&t, ap.tar, err, "reading layer after %s entries",
                         res->entries ? "some" : "no");
            goto out;
        }
        res->entries++;
        const char *name = archive_entry_pathname(e);
        if (opts->max_size && archive_entry_size(e) > 0 &&
            (uint64_t)archive_entry_size(e) > opts->max_size) {
            cb_error_kind_set(err, CB_ERR_INTEGRITY,
                              "entry '%s': size %lld is larger than the limit of %llu bytes",
                              name, (long long)archive_entry_size(e),
                              (unsigned long long)opts->max_size);
            goto out;
        }
        if (apply_one(&ap, e, err) < 0) {
            if (t.cb_err) { /* a data read failed inside the entry */
                cb_error_free(*err);
                *err = cb_steal_pointer(&t.cb_err);
            }
            cb_error_wrap(err, "layer entry '%s'", name ? name : "");
            goto out;
        }
    }
    /* The tar reader stops at the end marker; the padding after it is part
     * of the diff_id too. */
    for (;;) {
        const void *p;
        la_ssize_t n = inner_read(ap.tar, &t, &p);
        if (n < 0) {
            stream_error(&t, ap.tar, err, "reading layer end%s", "");
            goto out;
        }
        if (n == 0)
            break;
    }
    if (cb_apply_dir_meta(&ap, err) < 0)
        goto out;
    res->tar_size = cb_apply_stream_finish(t.st, res->diff_id);
    ret = 0;
out:
    /* The stream's thread stops before the tar reader that reads from it goes. */
    cb_apply_stream_free(t.st);
    if (ap.tar)
        archive_read_free(ap.tar);
    cb_pathset_free(&ap.created);
    for (size_t i = 0; i < ap.ndirs; i++)
        free(ap.dirs[i].name);
    free(ap.dirs);
    free(ap.buf);
    cb_error_free(t.cb_err);
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
