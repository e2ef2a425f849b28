#include "cache/unpack.h"

#include "common/archive_lazy.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"

void cb_remove_tree(const char *path) {
    cb_error_t *e = NULL;
    (void)cb_rm_rf(path, &e);
    cb_error_free(e);
}

/* Relative, no "..", no empty result. "./x" and "x/" are fine. */
static bool safe_name(const char *name) {
    if (name[0] == '/' || name[0] == '\0')
        return false;
    for (const char *p = name; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

static int archive_fail(cb_error_t **err, struct archive *a, const char *file) {
    return cb_error_kind_set(err, CB_ERR_INPUT, "%s: %s", file,
                             archive_error_string(a) ? archive_error_string(a) : "bad archive");
}

/* Filter 0 counts the decompressed bytes the tar reader has taken: headers
 * and data alike, so a bomb of many empty entries is bounded as well as one
 * of a few huge files. Checked per header and per data block, so at most a
 * block (64 KiB) more reaches the disk. The callers name the archive. */
static int over_limit(struct archive *in, uint64_t max_size, cb_error_t **err) {
    if (max_size == 0 || (uint64_t)archive_filter_bytes(in, 0) <= max_size)
        return 0;
    return cb_error_kind_set(err, CB_ERR_INPUT,
                             "unpacks to more than %llu bytes (the limit, cbuild.conf "
                             "max-layer-size)",
                             (unsigned long long)max_size);
}

static int unpack_entries(struct archive *in, struct archive *out, const char *file,
                          const char *dir, bool allow_symlinks, uint64_t max_size,
                          cb_error_t **err) {
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(in, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return archive_fail(err, in, file);
        if (over_limit(in, max_size, err) < 0)
            return -1;
        const char *name = archive_entry_pathname(e);
        if (name == NULL || !safe_name(name))
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: unsafe entry name '%s'", file,
                                     name ? name : "");
        const char *hardlink = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        if (hardlink) {
            if (!safe_name(hardlink))
                return cb_error_kind_set(err, CB_ERR_INPUT, "%s: unsafe hard link '%s'", file,
                                         hardlink);
            cb_autofree char *target = cb_xasprintf("%s/%s", dir, hardlink);
            archive_entry_set_hardlink(e, target);
        } else if (type == AE_IFLNK) {
            if (!allow_symlinks)
                return cb_error_kind_set(err, CB_ERR_INPUT, "%s: unexpected symlink '%s'", file,
                                         name);
        } else if (type != AE_IFREG && type != AE_IFDIR) {
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: unexpected special file '%s'", file,
                                     name);
        }
        cb_autofree char *path = cb_xasprintf("%s/%s", dir, name);
        archive_entry_set_pathname(e, path);
        archive_entry_set_perm(e, type == AE_IFDIR ? 0700 : 0600);
        r = archive_write_header(out, e);
        if (r < ARCHIVE_WARN)
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s: %s: %s", file, name,
                                     archive_error_string(out));
        if (archive_entry_size(e) > 0 && type == AE_IFREG && !hardlink) {
            const void *buf;
            size_t size;
            la_int64_t off;
            while ((r = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK) {
                if (over_limit(in, max_size, err) < 0)
                    return -1;
                if (archive_write_data_block(out, buf, size, off) < ARCHIVE_WARN)
                    return cb_error_kind_set(err, CB_ERR_SYSTEM, "%s: %s: %s", file, name,
                                             archive_error_string(out));
            }
            if (r != ARCHIVE_EOF)
                return archive_fail(err, in, file);
        }
        if (archive_write_finish_entry(out) < ARCHIVE_WARN)
            return cb_error_kind_set(err, CB_ERR_SYSTEM, "%s: %s: %s", file, name,
                                     archive_error_string(out));
    }
}

int cb_unpack_archive(const char *file, const char *tmp, bool allow_symlinks, uint64_t max_size,
                      char **dir_out, cb_error_t **err) {
    cb_autofree char *dir = cb_xasprintf("%s/unpack-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL)
        return cb_error_set(err, errno, "create a staging directory in %s", tmp);
    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    archive_read_support_filter_all(in);
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_NO_OVERWRITE);
    int r;
    if (archive_read_open_filename(in, file, 1 << 16) != ARCHIVE_OK) {
        r = errno ? cb_error_set(err, errno, "open %s", file) : archive_fail(err, in, file);
    } else {
        r = unpack_entries(in, out, file, dir, allow_symlinks, max_size, err);
    }
    archive_read_free(in);
    archive_write_free(out);
    if (r < 0) {
        cb_remove_tree(dir);
        return -1;
    }
    *dir_out = cb_steal_pointer(&dir);
    return 0;
}

int cb_open_beneath(const char *dir, const char *rel, int *fd_out, cb_error_t **err) {
    if (!safe_name(rel))
        return cb_error_kind_set(err, CB_ERR_INPUT, "unsafe path '%s'", rel);
    cb_autofree char *path = cb_xasprintf("%s/%s", dir, rel);
    cb_autofree char *real = realpath(path, NULL);
    if (real == NULL)
        return cb_error_set(err, errno, "%s", rel);
    cb_autofree char *realdir = realpath(dir, NULL);
    if (realdir == NULL)
        return cb_error_set(err, errno, "%s", dir);
    size_t n = strlen(realdir);
    if (strncmp(real, realdir, n) != 0 || real[n] != '/')
        return cb_error_kind_set(err, CB_ERR_INPUT, "'%s' points outside the archive", rel);
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return cb_error_set(err, errno, "open %s", rel);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cb_error_kind_set(err, CB_ERR_INPUT, "'%s' is not a regular file", rel);
    }
    *fd_out = fd;
    return 0;
}
