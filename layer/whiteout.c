/* OCI whiteouts while applying, and removal that never follows symlinks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "layer/apply_private.h"
#include "layer/resolve.h"

static int remove_children(int parentfd, const char *name, cb_error_t **err) {
    int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open '%s' for removal", name);
    cb_autoclosedir DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return cb_error_set(err, errno, "opendir '%s'", name);
    }
    /* Collect first: removing while reading a directory may skip names. */
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            cb_strv_push(&names, de->d_name);
    for (size_t i = 0; i < names.len; i++)
        if (cb_remove_at(dirfd(d), names.items[i], err) < 0)
            return -1;
    return 0;
}

int cb_remove_at(int parentfd, const char *name, cb_error_t **err) {
    struct stat st;
    if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : cb_error_set(err, errno, "stat '%s'", name);
    if (S_ISDIR(st.st_mode)) {
        if (remove_children(parentfd, name, err) < 0)
            return -1;
        if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return cb_error_set(err, errno, "rmdir '%s'", name);
        return 0;
    }
    if (unlinkat(parentfd, name, 0) < 0 && errno != ENOENT)
        return cb_error_set(err, errno, "unlink '%s'", name);
    return 0;
}

static char *join(const char *dir, const char *base) {
    return dir[0] ? cb_xasprintf("%s/%s", dir, base) : cb_xstrdup(base);
}

int cb_apply_whiteout(cb_applier_t *ap, const char *dir, const char *base, cb_error_t **err) {
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "malformed whiteout");
    cb_autofree char *target = join(dir, base);
    if (cb_pathset_has(&ap->created, target))
        return 0; /* whiteouts hide lower layers, not this one */
    cb_autoclose int parent = -1;
    if (cb_layer_open_dir_beneath(ap->root, dir, false, &parent, err) < 0)
        return -1;
    if (parent < 0)
        return 0; /* nothing below to hide */
    return cb_remove_at(parent, base, err);
}

int cb_apply_opaque(cb_applier_t *ap, const char *dir, cb_error_t **err) {
    cb_autoclose int parent = -1;
    if (cb_layer_open_dir_beneath(ap->root, dir, true, &parent, err) < 0)
        return -1;
    int fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open '%s'", dir);
    cb_autoclosedir DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return cb_error_set(err, errno, "opendir '%s'", dir);
    }
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            cb_strv_push(&names, de->d_name);
    for (size_t i = 0; i < names.len; i++) {
        cb_autofree char *child = join(dir, names.items[i]);
        if (!cb_pathset_has(&ap->created, child) && cb_remove_at(dirfd(d), names.items[i], err) < 0)
            return -1;
    }
    return 0;
}
