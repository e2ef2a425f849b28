#include "cache/store.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/root.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/util.h"

#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"
#define EMPTY_INDEX_JSON "{\"manifests\":[],\"schemaVersion\":2}"

int cb_fsync_dir(const char *dir, cb_error_t **err) {
    cb_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open %s", dir);
    if (fsync(fd) < 0)
        return cb_error_set(err, errno, "fsync %s", dir);
    return 0;
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A temp file beside path, renamed over it; durable: fsync'd, and its
 * directory after the rename. */
static int write_replace(const char *path, const void *data, size_t len, unsigned mode, bool durable,
                         cb_error_t **err) {
    cb_autofree char *tmp = cb_xasprintf("%s.tmp-XXXXXX", path);
    cb_autofree char *dir = cb_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cb_error_set(err, errno, "create a temp file for %s", path);
    const char *op = "write";
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0)
        goto fail;
    op = "fsync";
    if (durable && fsync(fd) < 0)
        goto fail;
    op = "close";
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    op = "rename";
    if (rename(tmp, path) < 0)
        goto fail;
    return durable ? cb_fsync_dir(dir, err) : 0;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return cb_error_set(err, e, "%s %s", op, path);
}

int cb_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         cb_error_t **err) {
    return write_replace(path, data, len, mode, true, err);
}

/* Whether path already holds exactly data with mode; then its mtime is made
 * now, as a replace would have. Only small files are compared. */
static bool holds_already(const char *path, const void *data, size_t len, unsigned mode) {
    struct stat st;
    if (len > 64 * 1024 || lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len ||
        (st.st_mode & 07777) != (mode & 07777))
        return false;
    return cb_file_holds(path, data, len) && utimensat(AT_FDCWD, path, NULL, 0) == 0;
}

int cb_write_file_replace(const char *path, const void *data, size_t len, unsigned mode,
                          cb_error_t **err) {
    /* A rebuild (--no-cache, a repeated build) mostly writes what is there:
     * keeping the file spares a new inode and the old one's release, which
     * on a disk with online discard waits for the device (0.5-11 ms). */
    if (holds_already(path, data, len, mode))
        return 0;
    return write_replace(path, data, len, mode, false, err);
}

bool cb_file_holds(const char *path, const void *data, size_t len) {
    cb_autofree char *have = NULL;
    size_t have_len = 0;
    cb_autoerr cb_error_t *err = NULL;
    return cb_read_file(path, len, &have, &have_len, &err) == 0 && have_len == len &&
           memcmp(have, data, len) == 0;
}

int cb_read_file(const char *path, size_t max, char **data, size_t *len, cb_error_t **err) {
    cb_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cb_error_set(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return cb_error_set(err, 0, "%s is not a regular file", path);
    if ((uint64_t)st.st_size > max)
        return cb_error_set(err, 0, "%s: %lld bytes is more than the %zu allowed", path,
                            (long long)st.st_size, max);
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    cb_buf_reserve(&b, (size_t)st.st_size + 1);
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cb_error_set(err, errno, "read %s", path);
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > max)
            return cb_error_set(err, 0, "%s: more than the %zu bytes allowed", path, max);
        cb_buf_add(&b, chunk, (size_t)n);
    }
    *len = b.len;
    *data = cb_buf_steal(&b);
    return 0;
}

/* Creates `path` with `content` unless it exists; two processes racing both
 * end with the same file, and an existing one is never replaced. *made
 * becomes true when this call may have added the name. */
static int create_once(const char *path, const char *content, bool *made, cb_error_t **err) {
    if (access(path, F_OK) == 0)
        return 0;
    *made = true;
    cb_autofree char *tmp = cb_xasprintf("%s.tmp-XXXXXX", path);
    cb_autoclose int fd = mkstemp(tmp);
    if (fd < 0)
        return cb_error_set(err, errno, "create a temp file for %s", path);
    if (fchmod(fd, 0644) < 0 || write_all(fd, content, strlen(content)) < 0 || fsync(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return cb_error_set(err, e, "write %s", tmp);
    }
    /* link(2) fails with EEXIST instead of replacing, unlike rename(2). */
    if (link(tmp, path) < 0 && errno != EEXIST) {
        int e = errno;
        unlink(tmp);
        return cb_error_set(err, e, "link %s", path);
    }
    unlink(tmp);
    return 0;
}

static int check_layout_file(const char *dir, cb_error_t **err) {
    cb_autofree char *path = cb_xasprintf("%s/oci-layout", dir);
    cb_autofree char *data = NULL;
    size_t len;
    if (cb_read_file(path, 4096, &data, &len, err) < 0)
        return -1;
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
    int ok = v && strcmp(v, "1.0.0") == 0;
    json_decref(j);
    if (!ok)
        return cb_error_set(err, 0, "%s: not an OCI layout version 1.0.0", path);
    return 0;
}

/* A new store is made whole in tmp and renamed into place, so that a
 * process killed while making it leaves no half store (a store directory
 * without blobs/ is damage to fsck). Only where tmp is beside the store,
 * not in it (an -o type=oci destination is its own tmp); a store that
 * exists in part is completed in place below. */
static int create_whole(const char *dir, const char *tmp, cb_error_t **err) {
    size_t n = strlen(dir);
    if (access(dir, F_OK) == 0 || (strncmp(tmp, dir, n) == 0 && (tmp[n] == '/' || tmp[n] == '\0')))
        return 0;
    cb_autofree char *skel = cb_xasprintf("%s/store-XXXXXX", tmp);
    if (mkdtemp(skel) == NULL)
        return cb_error_set(err, errno, "create a temp store in %s", tmp);
    cb_autofree char *blobs = cb_xasprintf("%s/blobs/sha256", skel);
    cb_autofree char *layout = cb_xasprintf("%s/oci-layout", skel);
    cb_autofree char *index = cb_xasprintf("%s/index.json", skel);
    bool made = false;
    int rc = chmod(skel, 0755) < 0 ? cb_error_set(err, errno, "chmod %s", skel) : 0;
    if (rc == 0)
        rc = cb_mkdir_p(blobs, 0755, err);
    if (rc == 0)
        rc = create_once(layout, OCI_LAYOUT_JSON, &made, err);
    if (rc == 0)
        rc = create_once(index, EMPTY_INDEX_JSON, &made, err);
    if (rc == 0)
        rc = cb_fsync_dir(skel, err);
    /* Another process may have made the store meanwhile: its store stays. */
    if (rc == 0 && rename(skel, dir) == 0)
        return 0;
    int e = errno;
    cb_rm_rf(skel, NULL);
    if (rc == 0 && e != EEXIST && e != ENOTEMPTY)
        return cb_error_set(err, e, "rename %s to %s", skel, dir);
    return rc;
}

int cb_store_init(const char *dir, const char *tmp, cb_error_t **err) {
    cb_autofree char *blobs = cb_xasprintf("%s/blobs/sha256", dir);
    cb_autofree char *layout = cb_xasprintf("%s/oci-layout", dir);
    cb_autofree char *index = cb_xasprintf("%s/index.json", dir);
    if (cb_mkdir_p(tmp, 0700, err) < 0 || create_whole(dir, tmp, err) < 0 || cb_mkdir_p(dir, 0755, err) < 0 ||
        cb_mkdir_p(blobs, 0755, err) < 0)
        return -1;
    bool made = false;
    if (create_once(layout, OCI_LAYOUT_JSON, &made, err) < 0 ||
        create_once(index, EMPTY_INDEX_JSON, &made, err) < 0 || check_layout_file(dir, err) < 0)
        return -1;
    return made ? cb_fsync_dir(dir, err) : 0;
}

int cb_store_open(const char *dir, const char *tmp, cb_store_t **out, cb_error_t **err) {
    if (cb_store_init(dir, tmp, err) < 0)
        return -1;
    cb_store_t *s = cb_xcalloc(1, sizeof *s);
    s->dir = cb_xstrdup(dir);
    s->tmp = cb_xstrdup(tmp);
    *out = s;
    return 0;
}

void cb_store_free(cb_store_t *s) {
    if (s == NULL)
        return;
    free(s->dir);
    free(s->tmp);
    free(s);
}

char *cb_store_blob_path(const cb_store_t *s, const char *digest) {
    return cb_xasprintf("%s/blobs/sha256/%s", s->dir, digest + 7);
}

int cb_store_lock(const cb_store_t *s, int exclusive, int *fd, cb_error_t **err) {
    cb_autoclose int d = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return cb_error_set(err, errno, "open %s", s->dir);
    while (flock(d, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno != EINTR)
            return cb_error_set(err, errno, "lock %s", s->dir);
    }
    *fd = cb_steal_fd(&d);
    return 0;
}
