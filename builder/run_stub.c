/* The stub lower dir: mount points the stage's tree lacks, so that mounting
 * /proc, /dev, /etc/hosts or a RUN --mount target never writes to the
 * overlay's upper dir (whose content is the step's layer). Directories on
 * the way that the tree has are mirrored with its owner, mode and times:
 * the stub lies above the tree, so its directories are what the step sees
 * (and what a copy-up copies).
 *
 * Planned on the host side (it reads the tree and allocates), applied with
 * plain syscalls and no allocation, so that the step's process can make the
 * stub itself on a tmpfs of its own mount namespace: an inode made and
 * removed on the host's file system per step costs far more than one in
 * memory (on ext4 without a journal, each new inode scans past the inodes
 * deleted in the last minutes). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/run_private.h"
#include "common/util.h"

/* The plan's records: an op byte, the path (relative, NUL-terminated),
 * then for STUB_OWNER three u32 (uid, gid, mode) and for STUB_TIMES two
 * struct timespec (atime, mtime), as raw bytes. */
enum {
    STUB_DIR = 'd',   /* a directory the tree has (mirrored): may exist */
    STUB_NEWDIR = 'n', /* a directory the tree lacks */
    STUB_FILE = 'f',  /* an empty file the tree lacks */
    STUB_OWNER = 'o', /* owner and mode of a mirrored directory */
    STUB_TIMES = 't', /* its times (after its children were made) */
};

typedef struct mirrored {
    char *rel;
    struct stat st;
} mirrored_t;

typedef struct stub {
    int lowerfd;
    bool in_place; /* applied to a copy of the tree: nothing is shadowed */
    cb_buf_t *plan;
    mirrored_t *dirs;
    size_t ndirs;
} stub_t;

static void plan_op(cb_buf_t *plan, char op, const char *rel) {
    cb_buf_putc(plan, op);
    cb_buf_add(plan, rel, strlen(rel) + 1);
}

static void note_dir(stub_t *s, const char *rel, const struct stat *st) {
    plan_op(s->plan, STUB_DIR, rel);
    for (size_t i = 0; i < s->ndirs; i++)
        if (strcmp(s->dirs[i].rel, rel) == 0)
            return;
    s->dirs = cb_xrealloc(s->dirs, (s->ndirs + 1) * sizeof *s->dirs);
    s->dirs[s->ndirs].rel = cb_xstrdup(rel);
    s->dirs[s->ndirs].st = *st;
    s->ndirs++;
}

/* path: absolute, cleaned. shadow: an existing non-directory at the end is
 * hidden by a stub entry (the mount must not follow it). */
static int stub_path(stub_t *s, const char *path, bool is_file, bool shadow, cb_error_t **err) {
    shadow = shadow && !s->in_place;
    cb_autostrv cb_strv_t parts = CB_STRV_INIT;
    cb_autofree char *copy = cb_xstrdup(path);
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
        cb_strv_push(&parts, c);
    if (parts.len == 0)
        return 0;

    /* How far the tree has it as directories. */
    size_t have = 0;
    struct stat st;
    cb_autofree char *rel = cb_xstrdup("");
    bool last_ok = false;
    for (; have < parts.len; have++) {
        char *next = have ? cb_xasprintf("%s/%s", rel, parts.items[have]) : cb_xstrdup(parts.items[have]);
        int r = fstatat(s->lowerfd, next, &st, AT_SYMLINK_NOFOLLOW);
        free(next);
        if (r < 0 || !S_ISDIR(st.st_mode)) {
            bool is_last = have + 1 == parts.len;
            if (r == 0 && is_last && !shadow)
                last_ok = true; /* an existing file (or link) is the mount point */
            else if (r == 0 && !is_last && !shadow)
                return 0; /* a link or file on the way: the mount resolves it in the root */
            break;
        }
        char *tmp = have ? cb_xasprintf("%s/%s", rel, parts.items[have]) : cb_xstrdup(parts.items[have]);
        free(rel);
        rel = tmp;
    }
    if (have == parts.len || last_ok)
        return 0; /* nothing to add */

    /* Mirror the directories the tree has, then make the rest. */
    cb_autofree char *cur = cb_xstrdup("");
    for (size_t i = 0; i < parts.len; i++) {
        char *tmp = i ? cb_xasprintf("%s/%s", cur, parts.items[i]) : cb_xstrdup(parts.items[i]);
        free(cur);
        cur = tmp;
        if (i < have) {
            if (fstatat(s->lowerfd, cur, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cb_error_set(err, errno, "stat /%s", cur);
            note_dir(s, cur, &st);
        } else {
            plan_op(s->plan, i + 1 == parts.len && is_file ? STUB_FILE : STUB_NEWDIR, cur);
        }
    }
    return 0;
}

int cb_run_plan_stub(int lowerfd, const cb_run_spec_t *spec, bool in_place, bool *etc_files, cb_buf_t *plan,
                     cb_error_t **err) {
    stub_t s = {.lowerfd = lowerfd, .in_place = in_place, .plan = plan};
    int rc = 0;
    static const char *const dirs[] = {"/proc", "/dev", "/sys"};
    for (size_t i = 0; rc == 0 && i < 3; i++)
        rc = stub_path(&s, dirs[i], false, true, err);

    /* /etc/hosts and friends only where /etc is a directory (or missing). */
    struct stat st;
    *etc_files = fstatat(lowerfd, "etc", &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode);
    static const char *const files[] = {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"};
    for (size_t i = 0; rc == 0 && *etc_files && i < 3; i++)
        rc = stub_path(&s, files[i], true, true, err);

    for (size_t i = 0; rc == 0 && i < spec->nmounts; i++)
        rc = stub_path(&s, spec->mounts[i].target, spec->mounts[i].is_file, false, err);

    /* Metadata last: making children changes the mtimes. Deepest first.
     * In place, the mirrored directories are the tree's own: only the
     * times their new children bumped go back. */
    for (size_t i = s.ndirs; rc == 0 && i-- > 0;) {
        const mirrored_t *d = &s.dirs[i];
        if (!in_place) {
            uint32_t own[3] = {d->st.st_uid, d->st.st_gid, d->st.st_mode & 07777};
            plan_op(plan, STUB_OWNER, d->rel);
            cb_buf_add(plan, own, sizeof own);
        }
        struct timespec ts[2] = {d->st.st_atim, d->st.st_mtim};
        plan_op(plan, STUB_TIMES, d->rel);
        cb_buf_add(plan, ts, sizeof ts);
    }
    for (size_t i = 0; i < s.ndirs; i++)
        free(s.dirs[i].rel);
    free(s.dirs);
    return rc;
}

int cb_run_apply_stub(const char *plan, size_t len, int stubfd, cb_strv_t *created, const char **failed) {
    const char *p = plan, *end = plan + len;
    while (p < end) {
        char op = *p++;
        const char *rel = p;
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        *failed = rel;
        if (nul == NULL)
            return errno = EINVAL, -1;
        p = nul + 1;
        int r = 0, fd;
        uint32_t own[3];
        struct timespec ts[2];
        switch (op) {
        case STUB_DIR:
            r = mkdirat(stubfd, rel, 0755) < 0 && errno != EEXIST ? -1 : 0;
            break;
        case STUB_NEWDIR:
            if (mkdirat(stubfd, rel, 0755) == 0) {
                if (created)
                    cb_strv_push(created, rel);
            } else if (errno != EEXIST) {
                r = -1;
            }
            break;
        case STUB_FILE:
            fd = openat(stubfd, rel, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd >= 0) {
                close(fd);
                if (created)
                    cb_strv_push(created, rel);
            } else if (errno != EEXIST) {
                r = -1;
            }
            break;
        case STUB_OWNER:
            if ((size_t)(end - p) < sizeof own)
                return errno = EINVAL, -1;
            memcpy(own, p, sizeof own);
            p += sizeof own;
            /* An owner this namespace cannot give is left to the mapping. */
            if (fchownat(stubfd, rel, own[0], own[1], AT_SYMLINK_NOFOLLOW) < 0 && errno != EINVAL && errno != EPERM)
                r = -1;
            else
                r = fchmodat(stubfd, rel, own[2], 0);
            break;
        case STUB_TIMES:
            if ((size_t)(end - p) < sizeof ts)
                return errno = EINVAL, -1;
            memcpy(ts, p, sizeof ts);
            p += sizeof ts;
            r = utimensat(stubfd, rel, ts, AT_SYMLINK_NOFOLLOW);
            break;
        default:
            return errno = EINVAL, -1;
        }
        if (r < 0)
            return -1;
    }
    return 0;
}
