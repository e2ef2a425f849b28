/* Creating one tar entry under the target: files, directories, symlinks,
 * hardlinks, devices and fifos, with ownership, xattrs, mode and mtime. The
 * parent is resolved beneath the root; the entry itself is made with
 * *at() calls on that parent and a name without slashes, never following a
 * symlink in the last component. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "layer/upper.h"
#include "layer/apply_private.h"
#include "layer/name.h"
#include "layer/resolve.h"

static bool may_ignore_owner_error(const cb_applier_t *ap, int e) {
    return ap->opts.rootless && (e == EPERM || e == EINVAL);
}

/* Only the xattrs a layer writer keeps (writer.c): other security.* or
 * system.* names from a foreign layer are not ours to set. Overlay
 * bookkeeping (user.overlay.*, trusted.overlay.*) neither: unpacked trees
 * are the lower dirs of RUN's overlay, which would obey it (hide files,
 * mark dirs opaque). */
static bool wanted_xattr(const char *name) {
    if (cb_overlay_xattr_name(name))
        return false;
    return strcmp(name, "security.capability") == 0 || cb_str_has_prefix(name, "user.") ||
           cb_str_has_prefix(name, "trusted.");
}

static int set_xattrs(cb_applier_t *ap, int fd, struct archive_entry *e, const char *name,
                      cb_error_t **err) {
    if (archive_entry_xattr_reset(e) <= 0)
        return 0;
    const char *key;
    const void *value;
    size_t size;
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
        if (!wanted_xattr(key))
            continue;
        if (fsetxattr(fd, key, value, size, 0) == 0)
            continue;
        if (errno == ENOTSUP) {
            cb_warn("layer", "'%s': the target file system does not keep xattr %s", name, key);
            continue;
        }
        if (may_ignore_owner_error(ap, errno) && !cb_str_has_prefix(key, "user."))
            continue;
        return cb_error_set(err, errno, "set xattr %s", key);
    }
    return 0;
}

static int set_owner_fd(cb_applier_t *ap, int fd, struct archive_entry *e, cb_error_t **err) {
    if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0 &&
        !may_ignore_owner_error(ap, errno))
        return cb_error_set(err, errno, "chown %lld:%lld", (long long)archive_entry_uid(e),
                            (long long)archive_entry_gid(e));
    return 0;
}

static int set_owner_at(cb_applier_t *ap, int dirfd, const char *base, struct archive_entry *e,
                        cb_error_t **err) {
    if (fchownat(dirfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0 &&
        !may_ignore_owner_error(ap, errno))
        return cb_error_set(err, errno, "chown %lld:%lld", (long long)archive_entry_uid(e),
                            (long long)archive_entry_gid(e));
    return 0;
}

static struct timespec entry_mtime(struct archive_entry *e) {
    return (struct timespec){.tv_sec = archive_entry_mtime(e),
                             .tv_nsec = archive_entry_mtime_nsec(e)};
}

static int make_file(cb_applier_t *ap, int dirfd, const char *base, struct archive_entry *e,
                     cb_error_t **err) {
    cb_autoclose int fd =
        openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cb_error_set(err, errno, "create file");
    for (;;) {
        la_ssize_t n = archive_read_data(ap->tar, ap->buf, CB_APPLY_CHUNK);
        if (n < 0) {
            const char *msg = archive_error_string(ap->tar);
            return cb_error_kind_set(err, CB_ERR_INTEGRITY, "reading data: %s",
                                     msg ? msg : "truncated or corrupt archive");
        }
        if (n == 0)
            break;
        if (cb_write_all(fd, ap->buf, (size_t)n) < 0)
            return cb_error_set(err, errno, "write");
    }
    if (set_owner_fd(ap, fd, e, err) < 0 || set_xattrs(ap, fd, e, base, err) < 0)
        return -1;
    /* After chown, which clears setuid/setgid. */
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return cb_error_set(err, errno, "chmod");
    struct timespec ts[2] = {entry_mtime(e), entry_mtime(e)};
    if (futimens(fd, ts) < 0)
        return cb_error_set(err, errno, "set mtime");
    return 0;
}

static void defer_dir_meta(cb_applier_t *ap, const char *name, struct archive_entry *e) {
    if (ap->ndirs == ap->capdirs) {
        ap->capdirs = ap->capdirs ? ap->capdirs * 2 : 32;
        ap->dirs = cb_xrealloc(ap->dirs, ap->capdirs * sizeof *ap->dirs);
    }
    ap->dirs[ap->ndirs++] = (cb_dir_meta_t){
        .name = cb_xstrdup(name),
        .perm = archive_entry_perm(e) & 07777,
        .mtime = archive_entry_mtime(e),
    };
}

static int make_dir(cb_applier_t *ap, int dirfd, const char *base, const char *name,
                    struct archive_entry *e, bool exists, cb_error_t **err) {
    if (!exists && mkdirat(dirfd, base, 0700) < 0)
        return cb_error_set(err, errno, "mkdir");
    cb_autoclose int fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open directory");
    if (set_owner_fd(ap, fd, e, err) < 0 || set_xattrs(ap, fd, e, base, err) < 0)
        return -1;
    /* Owner access until the end, so a read-only directory can still be
     * filled by later entries; the real mode is set by cb_apply_dir_meta. */
    if (fchmod(fd, (archive_entry_perm(e) & 07777) | 0700) < 0)
        return cb_error_set(err, errno, "chmod");
    defer_dir_meta(ap, name, e);
    return 0;
}

static int make_symlink(cb_applier_t *ap, int dirfd, const char *base, struct archive_entry *e,
                        cb_error_t **err) {
    const char *target = archive_entry_symlink(e);
    if (target == NULL)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "symlink without a target");
    /* The target is only text here; resolving it later is bounded by the
     * same beneath-the-root rules. */
    if (symlinkat(target, dirfd, base) < 0)
        return cb_error_set(err, errno, "symlink");
    if (set_owner_at(ap, dirfd, base, e, err) < 0)
        return -1;
    struct timespec ts[2] = {entry_mtime(e), entry_mtime(e)};
    if (utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return cb_error_set(err, errno, "set mtime");
    return 0;
}

static int make_hardlink(cb_applier_t *ap, int dirfd, const char *base, const char *link,
                         cb_error_t **err) {
    cb_autofree char *target = NULL;
    if (cb_layer_name_clean(link, false, &target, err) < 0)
        return cb_error_wrap(err, "hardlink target '%s'", link);
    if (target[0] == '\0')
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "hardlink to the target root");
    cb_autofree char *tdir = NULL;
    const char *tbase = cb_layer_name_split(target, &tdir);
    cb_autoclose int tfd = -1;
    if (cb_layer_open_dir_beneath(ap->root, tdir, false, &tfd, err) < 0)
        return cb_error_wrap(err, "hardlink target '%s'", link);
    if (tfd < 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "hardlink target '%s' does not exist", link);
    /* flags 0: a symlink target is linked itself, never followed. */
    if (linkat(tfd, tbase, dirfd, base, 0) < 0)
        return cb_error_set(err, errno, "hardlink to '%s'", link);
    return 0;
}

static int make_node(cb_applier_t *ap, int dirfd, const char *base, struct archive_entry *e,
                     cb_error_t **err) {
    mode_t type = archive_entry_filetype(e);
    mode_t perm = archive_entry_perm(e) & 07777;
    if (type != AE_IFIFO && ap->opts.rootless)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "device node not allowed when unpacking without privileges");
    dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    if (mknodat(dirfd, base, type | perm, type == AE_IFIFO ? 0 : dev) < 0)
        return cb_error_set(err, errno, type == AE_IFIFO ? "mkfifo" : "mknod");
    if (set_owner_at(ap, dirfd, base, e, err) < 0)
        return -1;
    /* mknod applied the umask; the node is ours and was just made by name
     * in a directory resolved beneath the root. */
    if (fchmodat(dirfd, base, perm, 0) < 0)
        return cb_error_set(err, errno, "chmod");
    struct timespec ts[2] = {entry_mtime(e), entry_mtime(e)};
    if (utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return cb_error_set(err, errno, "set mtime");
    return 0;
}

int cb_apply_entry(cb_applier_t *ap, struct archive_entry *e, const char *name, cb_error_t **err) {
    const char *link = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (!link && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFCHR &&
        type != AE_IFBLK && type != AE_IFIFO)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "unsupported entry type 0%o", type);
    if (!link && (type == AE_IFCHR || type == AE_IFBLK) && ap->opts.rootless)
        return make_node(ap, -1, NULL, e, err); /* the refusal, before touching anything */

    cb_autofree char *dir = NULL;
    const char *base = cb_layer_name_split(name, &dir);
    cb_autoclose int dirfd = -1;
    if (cb_layer_open_dir_beneath(ap->root, dir, true, &dirfd, err) < 0)
        return -1;

    struct stat st;
    bool exists = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT)
        return cb_error_set(err, errno, "stat");
    bool keep_dir = exists && !link && type == AE_IFDIR && S_ISDIR(st.st_mode);
    if (exists && !keep_dir) {
        if (cb_remove_at(dirfd, base, err) < 0)
            return cb_error_wrap(err, "replacing existing entry");
        exists = false;
    }
    cb_pathset_add(&ap->created, name);
    if (link)
        return make_hardlink(ap, dirfd, base, link, err);
    switch (type) {
    case AE_IFREG:
        return make_file(ap, dirfd, base, e, err);
    case AE_IFDIR:
        return make_dir(ap, dirfd, base, name, e, exists, err);
    case AE_IFLNK:
        return make_symlink(ap, dirfd, base, e, err);
    default:
        return make_node(ap, dirfd, base, e, err);
    }
}

int cb_apply_dir_meta(cb_applier_t *ap, cb_error_t **err) {
    for (size_t i = ap->ndirs; i-- > 0;) {
        const cb_dir_meta_t *d = &ap->dirs[i];
        cb_autoclose int fd = -1;
        cb_error_t *e = NULL;
        if (cb_layer_open_dir_beneath_rd(ap->root, d->name, &fd, &e) < 0) {
            /* Removed or replaced by a later entry of the same layer. */
            cb_error_free(e);
            continue;
        }
        struct timespec ts[2] = {{.tv_sec = d->mtime}, {.tv_sec = d->mtime}};
        if (fchmod(fd, d->perm) < 0 || futimens(fd, ts) < 0)
            return cb_error_set(err, errno, "layer: directory '%s' metadata", d->name);
    }
    return 0;
}
