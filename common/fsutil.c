#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

static int remove_children(int dfd, const char *what, cb_error_t **err) {
    int fd = dup(dfd);
    if (fd < 0)
        return cb_error_set(err, errno, "remove %s", what);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return cb_error_set(err, errno, "remove %s", what);
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((rc = cb_rm_rf_at(dfd, e->d_name, err)) < 0)
            break;
    }
    closedir(d);
    return rc;
}

int cb_rm_rf_at(int dirfd, const char *name, cb_error_t **err) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : cb_error_set(err, errno, "remove %s", name);
    if (S_ISDIR(st.st_mode)) {
        if ((st.st_mode & 0700) != 0700)
            fchmodat(dirfd, name, (st.st_mode & 07777) | 0700, 0);
        cb_autoclose int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            return cb_error_set(err, errno, "remove %s", name);
        if (remove_children(dfd, name, err) < 0)
            return -1;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return cb_error_set(err, errno, "remove %s", name);
        return 0;
    }
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
        return cb_error_set(err, errno, "remove %s", name);
    return 0;
}

int cb_rm_rf(const char *path, cb_error_t **err) {
    return cb_rm_rf_at(AT_FDCWD, path, err);
}
