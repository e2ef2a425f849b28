/* The stub lower dir: mount points the stage's tree lacks, so that mounting
 * /proc, /dev, /etc/hosts or a RUN --mount target never writes to the
 * overlay's upper dir (whose content is the step's layer). Directories on
 * the way that the tree has are mirrored with its owner, mode and times:
 * the stub lies above the tree, so its directories are what the step sees
 * (and what a copy-up copies). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/run_private.h"
#include "common/util.h"

typedef struct mirrored {
    char *rel;
    struct stat st;
} mirrored_t;

typedef struct stub {
    int lowerfd, stubfd;
    bool in_place; /* stubfd is a copy of the tree: nothing is shadowed */
    cb_strv_t *created;
    mirrored_t *dirs;
    size_t ndirs;
} stub_t;

static void note_dir(stub_t *s, const char *rel, const struct stat *st) {
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
        bool last = i + 1 == parts.len;
        if (i < have) {
            if (fstatat(s->lowerfd, cur, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cb_error_set(err, errno, "stat /%s", cur);
            if (mkdirat(s->stubfd, cur, 0755) < 0 && errno != EEXIST)
                return cb_error_set(err, errno, "create stub /%s", cur);
            note_dir(s, cur, &st);
        } else if (last && is_file) {
            int fd = openat(s->stubfd, cur, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0 && errno != EEXIST)
                return cb_error_set(err, errno, "create stub /%s", cur);
            if (fd >= 0) {
                close(fd);
                if (s->created)
                    cb_strv_push(s->created, cur);
            }
        } else if (mkdirat(s->stubfd, cur, 0755) == 0) {
            if (s->created)
                cb_strv_push(s->created, cur);
        } else if (errno != EEXIST) {
            return cb_error_set(err, errno, "create stub /%s", cur);
        }
    }
    return 0;
}

int cb_run_make_stub(int lowerfd, int stubfd, const cb_run_spec_t *spec, bool *etc_files,
                     cb_strv_t *created, cb_error_t **err) {
    stub_t s = {.lowerfd = lowerfd, .stubfd = stubfd, .in_place = created != NULL, .created = created};
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

    /* Metadata last: making children changed the mtimes. Deepest first. */
    for (size_t i = s.ndirs; rc == 0 && !s.in_place && i-- > 0;) {
        const mirrored_t *d = &s.dirs[i];
        struct timespec ts[2] = {d->st.st_atim, d->st.st_mtim};
        if (fchownat(stubfd, d->rel, d->st.st_uid, d->st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
            errno != EINVAL && errno != EPERM)
            rc = cb_error_set(err, errno, "chown stub /%s", d->rel);
        else if (fchmodat(stubfd, d->rel, d->st.st_mode & 07777, 0) < 0)
            rc = cb_error_set(err, errno, "chmod stub /%s", d->rel);
        else if (utimensat(stubfd, d->rel, ts, AT_SYMLINK_NOFOLLOW) < 0)
            rc = cb_error_set(err, errno, "set times of stub /%s", d->rel);
    }
    /* In place, the mirrored directories are the tree's own: only the
     * times their new children bumped go back. */
    for (size_t i = s.ndirs; rc == 0 && s.in_place && i-- > 0;) {
        struct timespec ts[2] = {s.dirs[i].st.st_atim, s.dirs[i].st.st_mtim};
        if (utimensat(stubfd, s.dirs[i].rel, ts, AT_SYMLINK_NOFOLLOW) < 0)
            rc = cb_error_set(err, errno, "set times of /%s", s.dirs[i].rel);
    }
    for (size_t i = 0; i < s.ndirs; i++)
        free(s.dirs[i].rel);
    free(s.dirs);
    return rc;
}
