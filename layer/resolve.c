#include "layer/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

static bool force_fallback;
static int have_openat2 = -1; /* unknown until the first call */

void cb_layer_resolve_force_fallback(bool on) {
    force_fallback = on;
}

/* Resolves rel one component at a time, refusing symlinks. */
static int walk_nofollow(int rootfd, const char *rel, int flags) {
    int fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    cb_autofree char *copy = cb_xstrdup(rel);
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        bool last = save == NULL || *save == '\0';
        int next = openat(fd, c, (last ? flags : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        close(fd);
        if (next < 0) {
            errno = saved; /* a symlink component gives ENOTDIR here */
            return -1;
        }
        fd = next;
    }
    if (rel[0] == '\0' && flags != O_PATH) {
        int rd = openat(fd, ".", flags | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        return rd;
    }
    return fd;
}

static int open_beneath(int rootfd, const char *rel, int flags) {
    const char *path = rel[0] ? rel : ".";
    if (!force_fallback && have_openat2 != 0) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_DIRECTORY | O_CLOEXEC),
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS) {
            have_openat2 = 1;
            return (int)fd;
        }
        have_openat2 = 0;
    }
    return walk_nofollow(rootfd, rel, flags);
}

static int resolve_error(cb_error_t **err, int e, const char *rel) {
    if (e == EXDEV || e == ELOOP)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "'%s' leads out of the target directory through a symlink", rel);
    if (e == ENOTDIR)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "'%s': a component is not a directory (or is a symlink)", rel);
    return cb_error_set(err, e, "open '%s' in target", rel);
}

int cb_layer_open_dir_beneath(int rootfd, const char *rel, bool create, int *out,
                              cb_error_t **err) {
    *out = -1;
    int fd = open_beneath(rootfd, rel, O_PATH);
    if (fd >= 0) {
        *out = fd;
        return 0;
    }
    if (errno != ENOENT)
        return resolve_error(err, errno, rel);
    if (!create)
        return 0;
    /* Make the missing components one at a time, each under its resolved
     * (and checked) parent. */
    cb_autofree char *prefix = cb_xstrdup(rel);
    cb_autoclose int parent = open_beneath(rootfd, "", O_PATH);
    if (parent < 0)
        return resolve_error(err, errno, ".");
    for (char *p = prefix;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        int next = open_beneath(rootfd, prefix, O_PATH);
        if (next < 0 && errno == ENOENT) {
            if (mkdirat(parent, p, 0755) < 0 && errno != EEXIST)
                return cb_error_set(err, errno, "mkdir '%s' in target", prefix);
            next = open_beneath(rootfd, prefix, O_PATH);
        }
        if (next < 0)
            return resolve_error(err, errno, prefix);
        close(parent);
        parent = next;
        if (slash == NULL)
            break;
        *slash = '/';
        p = slash + 1;
    }
    *out = cb_steal_fd(&parent);
    return 0;
}

int cb_layer_open_dir_beneath_rd(int rootfd, const char *rel, int *out, cb_error_t **err) {
    *out = open_beneath(rootfd, rel, O_RDONLY);
    if (*out < 0)
        return resolve_error(err, errno, rel);
    return 0;
}
