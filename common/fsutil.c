#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cb_dir_list_sorted(int dirfd, const char *what, cb_strv_t *out, cb_error_t **err) {
    /* A fresh open, not a dup: a dup would share dirfd's read offset. */
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open directory '%s'", what);
    cb_autoclosedir DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return cb_error_set(err, errno, "open directory '%s'", what);
    }
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            cb_strv_push(out, de->d_name);
        errno = 0;
    }
    if (errno)
        return cb_error_set(err, errno, "read directory '%s'", what);
    if (out->len)
        qsort(out->items, out->len, sizeof *out->items, name_cmp);
    return 0;
}

int cb_dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int empty = 1;
    struct dirent *e;
    while (empty && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    int saved = errno;
    closedir(d);
    errno = saved;
    return empty;
}

int cb_xattr_names(int fd, const char *path, const char *what, cb_strv_t *names, cb_error_t **err) {
    for (;;) {
        ssize_t n = path ? llistxattr(path, NULL, 0) : flistxattr(fd, NULL, 0);
        if (n < 0 && (errno == ENOTSUP || errno == ENOSYS))
            return 0;
        if (n <= 0)
            return n < 0 ? cb_error_set(err, errno, "list the xattrs of '%s'", what) : 0;
        cb_autofree char *buf = cb_xmalloc((size_t)n);
        ssize_t m = path ? llistxattr(path, buf, (size_t)n) : flistxattr(fd, buf, (size_t)n);
        if (m < 0 && errno == ERANGE)
            continue; /* one was added in between */
        if (m < 0)
            return cb_error_set(err, errno, "list the xattrs of '%s'", what);
        for (char *p = buf; p < buf + m; p += strlen(p) + 1)
            cb_strv_push(names, p);
        return 0;
    }
}

int cb_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cb_append_line(const char *path, const char *line) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t n = strlen(line);
    ssize_t w = write(fd, line, n);
    int e = w < 0 ? errno : EIO;
    close(fd);
    if (w == (ssize_t)n)
        return 0;
    errno = e;
    return -1;
}

bool cb_openat2_available(void) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC};
    long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
    if (fd >= 0)
        close((int)fd);
    return fd >= 0 || errno != ENOSYS;
}
