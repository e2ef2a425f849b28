#include "cache/tar_writer.h"

#include "common/archive_lazy.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/blob.h"
#include "common/util.h"

struct cb_tar_writer {
    struct archive *a;
    char *dest;
    char *tmp;
    int fd;
};

static int tar_fail(cb_tar_writer_t *t, const char *name, cb_error_t **err) {
    const char *msg = archive_error_string(t->a);
    return cb_error_set(err, archive_errno(t->a) > 0 ? archive_errno(t->a) : 0, "write %s: %s: %s",
                        t->dest, name, msg ? msg : "tar error");
}

int cb_tar_begin(const char *dest, cb_tar_writer_t **out, cb_error_t **err) {
    cb_tar_writer_t *t = cb_xcalloc(1, sizeof *t);
    t->dest = cb_xstrdup(dest);
    t->tmp = cb_xasprintf("%s.tmp-XXXXXX", dest);
    t->fd = mkostemp(t->tmp, O_CLOEXEC);
    if (t->fd < 0) {
        int e = errno;
        free(t->tmp);
        t->tmp = NULL;
        cb_tar_abort(t);
        return cb_error_set(err, e, "create %s", dest);
    }
    (void)fchmod(t->fd, 0644);
    t->a = archive_write_new();
    archive_write_set_format_pax_restricted(t->a);
    archive_write_add_filter_none(t->a);
    /* No padding to 10240-byte records: the file ends where the tar does. */
    archive_write_set_bytes_in_last_block(t->a, 1);
    if (archive_write_open_fd(t->a, t->fd) != ARCHIVE_OK) {
        int r = tar_fail(t, "", err);
        cb_tar_abort(t);
        return r;
    }
    *out = t;
    return 0;
}

static struct archive_entry *new_entry(const char *name, int type, int64_t size) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, (unsigned)type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, type == AE_IFDIR ? 0 : size);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, 0, 0);
    return e;
}

static int write_header(cb_tar_writer_t *t, const char *name, int type, int64_t size,
                        cb_error_t **err) {
    struct archive_entry *e = new_entry(name, type, size);
    int r = archive_write_header(t->a, e);
    archive_entry_free(e);
    if (r < ARCHIVE_WARN)
        return tar_fail(t, name, err);
    return 0;
}

int cb_tar_add_dir(cb_tar_writer_t *t, const char *name, cb_error_t **err) {
    return write_header(t, name, AE_IFDIR, 0, err);
}

static int write_data(cb_tar_writer_t *t, const char *name, const void *data, size_t len,
                      cb_error_t **err) {
    la_ssize_t n = archive_write_data(t->a, data, len);
    if (n < 0 || (size_t)n != len)
        return tar_fail(t, name, err);
    return 0;
}

int cb_tar_add_bytes(cb_tar_writer_t *t, const char *name, const void *data, size_t len,
                     cb_error_t **err) {
    if (write_header(t, name, AE_IFREG, (int64_t)len, err) < 0)
        return -1;
    return write_data(t, name, data, len, err);
}

struct sink_ctx {
    cb_tar_writer_t *t;
    const char *name;
};

static int tar_sink(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    struct sink_ctx *c = ctx;
    return write_data(c->t, c->name, buf, n, err);
}

int cb_tar_add_blob(cb_tar_writer_t *t, const char *name, const cb_store_t *store,
                    const char *digest, int64_t size, cb_error_t **err) {
    if (write_header(t, name, AE_IFREG, size, err) < 0)
        return -1;
    struct sink_ctx c = {t, name};
    return cb_blob_copy_to(store, digest, size, tar_sink, &c, err);
}

int cb_tar_add_fd(cb_tar_writer_t *t, const char *name, int fd, int64_t size, cb_error_t **err) {
    if (write_header(t, name, AE_IFREG, size, err) < 0)
        return -1;
    cb_autofree char *buf = cb_xmalloc(1 << 17);
    int64_t left = size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < (1 << 17) ? (size_t)left : (1 << 17));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cb_error_set(err, errno, "read %s", name);
        if (n == 0)
            return cb_error_set(err, 0, "%s: file shrank while being archived", name);
        if (write_data(t, name, buf, (size_t)n, err) < 0)
            return -1;
        left -= n;
    }
    return 0;
}

int cb_tar_finish(cb_tar_writer_t *t, cb_error_t **err) {
    int r = 0;
    if (archive_write_close(t->a) != ARCHIVE_OK)
        r = tar_fail(t, "", err);
    else if (fsync(t->fd) < 0)
        r = cb_error_set(err, errno, "fsync %s", t->tmp);
    else if (rename(t->tmp, t->dest) < 0)
        r = cb_error_set(err, errno, "rename %s to %s", t->tmp, t->dest);
    if (r == 0) {
        free(t->tmp);
        t->tmp = NULL;
    }
    cb_tar_abort(t);
    return r;
}

void cb_tar_abort(cb_tar_writer_t *t) {
    if (t == NULL)
        return;
    if (t->a)
        archive_write_free(t->a);
    if (t->fd >= 0)
        close(t->fd);
    if (t->tmp)
        unlink(t->tmp);
    free(t->tmp);
    free(t->dest);
    free(t);
}
