/* Paths inside a root directory, resolved the way a chroot sees them (the
 * scoped resolution BuildKit's fs.RootPath does), then opened component by
 * component so the host never sees a path that could lead outside. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>

#include "builder/copy_private.h"
#include "common/util.h"

#define MAX_SYMLINKS 40 /* as Linux's MAXSYMLINKS */

void copy_resolved_clear(copy_resolved_t *r) {
    free(r->path);
    memset(r, 0, sizeof *r);
}

/* Drops the last component of the canonical path in b. */
static void pop_component(cb_buf_t *b) {
    const char *s = cb_buf_str(b);
    const char *slash = strrchr(s, '/');
    cb_buf_truncate(b, slash ? (size_t)(slash - s) : 0);
}

static void push_component(cb_buf_t *b, const char *c, size_t n) {
    if (b->len)
        cb_buf_putc(b, '/');
    cb_buf_add(b, c, n);
}

int copy_resolve(int rootfd, const char *path, bool follow_last, copy_resolved_t *out,
                 cb_error_t **err) {
    memset(out, 0, sizeof *out);
    cb_autobuf cb_buf_t canon = CB_BUF_INIT;
    cb_autofree char *rest = cb_xstrdup(path);
    size_t pos = 0, depth = 0;
    int links = 0;
    bool missing = false;
    struct stat st;
    if (fstatat(rootfd, ".", &st, 0) < 0)
        return cb_error_set(err, errno, "stat of the root");
    while (rest[pos]) {
        while (rest[pos] == '/')
            pos++;
        if (!rest[pos])
            break;
        const char *comp = rest + pos;
        size_t n = strcspn(comp, "/");
        pos += n;
        bool last = rest[pos + strspn(rest + pos, "/")] == '\0';
        if (n == 1 && comp[0] == '.')
            continue;
        if (n == 2 && comp[0] == '.' && comp[1] == '.') {
            pop_component(&canon);
            size_t ncomp = 0;
            for (size_t i = 0; i < canon.len; i++)
                ncomp += canon.data[i] == '/';
            ncomp += canon.len > 0;
            if (depth > ncomp)
                depth = ncomp;
            if (!missing && fstatat(rootfd, canon.len ? cb_buf_str(&canon) : ".", &st, 0) < 0)
                return cb_error_set(err, errno, "stat '/%s'", cb_buf_str(&canon));
            continue;
        }
        if (missing) {
            push_component(&canon, comp, n);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return cb_error_set(err, ENOTDIR, "'/%s' is not a directory", cb_buf_str(&canon));
        }
        size_t before = canon.len;
        push_component(&canon, comp, n);
        if (fstatat(rootfd, cb_buf_str(&canon), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                return cb_error_set(err, errno, "stat '/%s'", cb_buf_str(&canon));
            missing = true;
            continue;
        }
        if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
            if (++links > MAX_SYMLINKS)
                return cb_error_set(err, ELOOP, "'/%s': too many levels of symbolic links",
                                    cb_buf_str(&canon));
            char target[PATH_MAX];
            ssize_t tn = readlinkat(rootfd, cb_buf_str(&canon), target, sizeof target - 1);
            if (tn < 0)
                return cb_error_set(err, errno, "readlink '/%s'", cb_buf_str(&canon));
            target[tn] = '\0';
            /* The link's target replaces it: splice it before what is left. */
            char *spliced = cb_xasprintf("%s/%s", target, rest + pos);
            free(rest);
            rest = spliced;
            pos = 0;
            if (target[0] == '/') {
                cb_buf_truncate(&canon, 0);
                depth = 0;
            } else {
                cb_buf_truncate(&canon, before);
            }
            if (fstatat(rootfd, canon.len ? cb_buf_str(&canon) : ".", &st, 0) < 0)
                return cb_error_set(err, errno, "stat '/%s'", cb_buf_str(&canon));
            continue;
        }
        depth++;
    }
    out->exists = !missing;
    out->nexisting = depth;
    out->st = st;
    out->path = cb_buf_steal(&canon);
    return 0;
}

static int open_walk(int rootfd, const char *rel, bool stop_before_last, const char **base,
                     cb_error_t **err) {
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open the root");
    cb_autofree char *copy = cb_xstrdup(rel);
    char *p = copy;
    while (*p) {
        char *slash = strchr(p, '/');
        if (slash == NULL && stop_before_last)
            break;
        if (slash)
            *slash = '\0';
        int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        close(fd);
        if (next < 0)
            return cb_error_set(err, saved, "open '/%.*s'", (int)(p - copy + strlen(p)), rel);
        fd = next;
        if (!slash) {
            p += strlen(p);
            break;
        }
        p = slash + 1;
    }
    if (base)
        *base = rel + (p - copy);
    return fd;
}

int copy_open_dir(int rootfd, const char *rel, int *out, cb_error_t **err) {
    int fd = open_walk(rootfd, rel, false, NULL, err);
    if (fd < 0)
        return -1;
    *out = fd;
    return 0;
}

int copy_open_parent(int rootfd, const char *rel, int *out, const char **base,
                     cb_error_t **err) {
    if (rel[0] == '\0')
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "the root has no parent");
    int fd = open_walk(rootfd, rel, true, base, err);
    if (fd < 0)
        return -1;
    *out = fd;
    return 0;
}
