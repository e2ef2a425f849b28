#include "builder/run_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cache/root.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/match.h"
#include "parser/graph.h"

#define MAX_SECRET (500 * 1024) /* BuildKit's limit */

static void hold_fd(cb_run_mounts_t *m, int fd) {
    m->fds = cb_xrealloc(m->fds, (m->nfds + 1) * sizeof *m->fds);
    m->fds[m->nfds++] = fd;
}

static cb_run_mount_t *add_mount(cb_run_mounts_t *m, const char *target) {
    m->items = cb_xrealloc(m->items, (m->len + 1) * sizeof *m->items);
    cb_run_mount_t *r = &m->items[m->len++];
    memset(r, 0, sizeof *r);
    r->target = cb_xstrdup(target);
    return r;
}

static char *fd_source(int fd) {
    return cb_xasprintf("/proc/self/fd/%d", fd);
}

/* target as an absolute clean path (relative: from the working directory). */
static char *mount_target(const cb_stage_state_t *st, const char *target) {
    const char *wd = cb_image_config_get_workdir(st->config);
    cb_autofree char *joined = target[0] == '/' ? cb_xstrdup(target)
                                                : cb_xasprintf("%s/%s", wd && *wd ? wd : "/", target);
    return cb_path_clean(joined);
}

/* The root a bind mount reads: the context, a stage's tree or an image's. */
static int bind_root(cb_build_t *b, size_t stage, const char *from, int *fd, cb_error_t **err) {
    if (from == NULL || *from == '\0') {
        *fd = b->context_fd;
        return 0;
    }
    size_t idx;
    if (cb_graph_find_stage(b->prog, from, true, &idx)) {
        if (idx >= stage)
            return cb_error_kind_set(err, CB_ERR_INPUT, "stage %s is not built before this one", from);
        return cb_stage_rootfs(b, idx, fd, err);
    }
    cb_base_image_t *img = NULL;
    if (cb_base_image_get(b, from, NULL, &img, err) < 0)
        return -1;
    return cb_image_rootfs(b, img, fd, err);
}

static int prepare_bind(cb_build_t *b, size_t stage, const cb_mount_t *mt, const char *target,
                        const char *step_dir, cb_run_mounts_t *m, cb_error_t **err) {
    int rootfd;
    if (bind_root(b, stage, mt->from, &rootfd, err) < 0)
        return -1;
    /* Resolved inside its root: a source cannot climb out with .. or links. */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    const char *src = mt->source && *mt->source ? mt->source : ".";
    int fd = (int)syscall(SYS_openat2, rootfd, src, &how, sizeof how);
    if (fd < 0)
        return cb_error_set(err, errno, "source %s%s%s", src, mt->from ? " in " : "", mt->from ? mt->from : "");
    hold_fd(m, fd);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cb_error_set(err, errno, "stat %s", src);
    /* The container's mount namespace is a copy of ours: a descriptor of
     * this one cannot be bound there, the path it resolved to can. */
    cb_autofree char *link = fd_source(fd);
    char real[PATH_MAX];
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n < 0)
        return cb_error_set(err, errno, "resolve %s", src);
    real[n] = '\0';
    cb_run_mount_t *r = add_mount(m, target);
    r->source = cb_xstrdup(real);
    r->is_file = !S_ISDIR(st.st_mode);
    r->readonly = mt->readonly;
    if (!mt->readonly) {
        if (r->is_file)
            return cb_error_kind_set(err, CB_ERR_INPUT, "rw bind of the file %s: only directories can be "
                                                        "mounted writable (writes are discarded)", src);
        /* Writes must not reach the context or the other stage: an
         * overlay whose upper dir goes away after the step. */
        r->overlay_dir = cb_xasprintf("%s/bind-%zu", step_dir, m->len);
        cb_autofree char *u = cb_xasprintf("%s/u", r->overlay_dir);
        cb_autofree char *w = cb_xasprintf("%s/w", r->overlay_dir);
        if (mkdir(r->overlay_dir, 0755) < 0 || mkdir(u, 0755) < 0 || mkdir(w, 0755) < 0)
            return cb_error_set(err, errno, "create %s", r->overlay_dir);
    }
    return 0;
}

static int prepare_cache(cb_build_t *b, const cb_mount_t *mt, const char *target, const char *step_dir,
                         cb_run_mounts_t *m, cb_error_t **err) {
    const char *id = mt->id && *mt->id ? mt->id : target;
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(id, strlen(id), digest);
    cb_autofree char *base = cb_xasprintf("%s/mounts/cache", b->root->path);
    if (cb_mkdir_p(base, 0700, err) < 0)
        return -1;
    cb_autofree char *dir = cb_xasprintf("%s/%s", base, digest + 7);
    cb_autofree char *lock = cb_xasprintf("%s.lock", dir);
    int lfd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (lfd < 0)
        return cb_error_set(err, errno, "open %s", lock);
    hold_fd(m, lfd);
    bool private_copy = false;
    if (mt->sharing == CB_SHARING_LOCKED) {
        while (flock(lfd, LOCK_EX) < 0)
            if (errno != EINTR)
                return cb_error_set(err, errno, "lock %s", lock);
    } else if (mt->sharing == CB_SHARING_PRIVATE) {
        /* Ours alone if nobody else has it; else a fresh one for this step. */
        private_copy = flock(lfd, LOCK_EX | LOCK_NB) < 0;
    } else {
        while (flock(lfd, LOCK_SH) < 0)
            if (errno != EINTR)
                return cb_error_set(err, errno, "lock %s", lock);
    }
    if (private_copy) {
        free(dir);
        dir = cb_xasprintf("%s/cache-%zu", step_dir, m->len);
        cb_strv_push(&m->discard, dir);
    }
    if (mkdir(dir, 0755) == 0) {
        uint32_t uid = mt->uid >= 0 ? (uint32_t)mt->uid : 0, gid = mt->gid >= 0 ? (uint32_t)mt->gid : 0;
        if (chown(dir, uid, gid) < 0 || chmod(dir, mt->mode >= 0 ? (mode_t)mt->mode : 0755) < 0)
            return cb_error_set(err, errno, "set up cache %s", dir);
    } else if (errno != EEXIST) {
        return cb_error_set(err, errno, "create cache %s", dir);
    }
    cb_run_mount_t *r = add_mount(m, target);
    r->source = cb_steal_pointer(&dir);
    return 0;
}

/* --secret id=ID,src=FILE | id=ID,env=VAR (| id=ID: the variable ID). */
static int find_secret(const cb_build_t *b, const char *id, cb_buf_t *value, bool *found, cb_error_t **err) {
    *found = false;
    for (size_t i = 0; i < b->opts->secrets.len; i++) {
        cb_autofree char *spec = cb_xstrdup(b->opts->secrets.items[i]);
        const char *sid = NULL, *src = NULL, *env = NULL;
        char *save = NULL;
        for (char *f = strtok_r(spec, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            if (strncmp(f, "id=", 3) == 0)
                sid = f + 3;
            else if (strncmp(f, "src=", 4) == 0 || strncmp(f, "source=", 7) == 0)
                src = strchr(f, '=') + 1;
            else if (strncmp(f, "env=", 4) == 0)
                env = f + 4;
            else if (strncmp(f, "type=", 5) != 0)
                return cb_error_kind_set(err, CB_ERR_INPUT, "--secret: unknown field in '%s'", f);
        }
        if (sid == NULL || strcmp(sid, id) != 0)
            continue;
        if (src) {
            int fd = open(src, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return cb_error_set(err, errno, "--secret id=%s: %s", id, src);
            char chunk[8192];
            ssize_t n;
            while ((n = read(fd, chunk, sizeof chunk)) > 0 && value->len + (size_t)n <= MAX_SECRET)
                cb_buf_add(value, chunk, (size_t)n);
            close(fd);
            if (n != 0)
                return n < 0 ? cb_error_set(err, errno, "--secret id=%s: read %s", id, src)
                             : cb_error_kind_set(err, CB_ERR_INPUT, "--secret id=%s: %s is over 500 KiB", id, src);
        } else {
            const char *v = getenv(env ? env : id);
            if (v == NULL)
                return cb_error_kind_set(err, CB_ERR_INPUT, "--secret id=%s: the variable %s is not set", id,
                                         env ? env : id);
            cb_buf_puts(value, v);
        }
        *found = true;
        return 0;
    }
    return 0;
}

static int prepare_secret(cb_build_t *b, const cb_mount_t *mt, const cb_stage_state_t *st, cb_run_mounts_t *m,
                          cb_error_t **err) {
    const char *id = mt->id;
    if (id == NULL || *id == '\0')
        return cb_error_kind_set(err, CB_ERR_INPUT, "a secret mount needs id= or target=");
    cb_autobuf cb_buf_t value = CB_BUF_INIT;
    bool found = false;
    if (find_secret(b, id, &value, &found, err) < 0)
        return -1;
    if (!found) {
        if (mt->required)
            return cb_error_kind_set(err, CB_ERR_INPUT, "secret %s is required: give it with --secret id=%s,src=FILE",
                                     id, id);
        return 0;
    }
    if (mt->env && !mt->target) {
        cb_strv_take(&m->env, cb_xasprintf("%s=%.*s", mt->env, (int)value.len, cb_buf_str(&value)));
        explicit_bzero(value.data, value.len);
        return 0;
    }
    if (mt->env)
        cb_strv_take(&m->env, cb_xasprintf("%s=%.*s", mt->env, (int)value.len, cb_buf_str(&value)));
    int fd = memfd_create("cbuild-secret", MFD_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "memfd_create");
    hold_fd(m, fd);
    if (value.len && write(fd, value.data, value.len) != (ssize_t)value.len)
        return cb_error_set(err, errno, "write secret %s", id);
    explicit_bzero(value.data, value.len);
    uint32_t uid = mt->uid >= 0 ? (uint32_t)mt->uid : 0, gid = mt->gid >= 0 ? (uint32_t)mt->gid : 0;
    if (fchown(fd, uid, gid) < 0 || fchmod(fd, mt->mode >= 0 ? (mode_t)mt->mode : 0400) < 0)
        return cb_error_set(err, errno, "secret %s: set owner and mode", id);
    cb_autofree char *def = cb_xasprintf("/run/secrets/%s", id);
    cb_autofree char *target = mount_target(st, mt->target ? mt->target : def);
    cb_run_mount_t *r = add_mount(m, target);
    r->source = fd_source(fd);
    r->is_file = true;
    r->readonly = true;
    r->secret = true;
    return 0;
}

int cb_run_mounts_prepare(cb_build_t *b, size_t stage, const cb_instr_run_t *ins, const char *step_dir,
                          cb_run_mounts_t *out, cb_error_t **err) {
    memset(out, 0, sizeof *out);
    const cb_stage_state_t *st = &b->stages[stage];
    for (size_t i = 0; i < ins->nmounts; i++) {
        const cb_mount_t *mt = &ins->mounts[i];
        cb_autofree char *target = mt->target ? mount_target(st, mt->target) : NULL;
        if (target == NULL && mt->type != CB_MOUNT_SECRET)
            return cb_error_kind_set(err, CB_ERR_INPUT, "--mount=%s: target= is required",
                                     ins->mount_specs.items[i]);
        if (target && strcmp(target, "/") == 0)
            return cb_error_kind_set(err, CB_ERR_INPUT, "--mount=%s: cannot mount over /", ins->mount_specs.items[i]);
        int rc = 0;
        switch (mt->type) {
        case CB_MOUNT_BIND:
            rc = prepare_bind(b, stage, mt, target, step_dir, out, err);
            break;
        case CB_MOUNT_CACHE:
            rc = prepare_cache(b, mt, target, step_dir, out, err);
            break;
        case CB_MOUNT_TMPFS:
            add_mount(out, target)->tmpfs_size = mt->size > 0 ? (uint64_t)mt->size : 0;
            break;
        case CB_MOUNT_SECRET:
            rc = prepare_secret(b, mt, st, out, err);
            break;
        case CB_MOUNT_SSH:
            rc = cb_error_kind_set(err, CB_ERR_INPUT, "--mount=type=ssh: ssh agent forwarding is not available");
            break;
        }
        if (rc < 0)
            return cb_error_wrap(err, "--mount=%s", ins->mount_specs.items[i]);
    }
    return 0;
}

void cb_run_mounts_finish(cb_run_mounts_t *m, bool ok) {
    (void)ok;
    for (size_t i = 0; i < m->len; i++) {
        free(m->items[i].source);
        free(m->items[i].target);
        free(m->items[i].overlay_dir);
    }
    free(m->items);
    for (size_t i = 0; i < m->nfds; i++)
        close(m->fds[i]); /* releases cache locks too */
    free(m->fds);
    for (size_t i = 0; i < m->env.len; i++)
        explicit_bzero(m->env.items[i], strlen(m->env.items[i]));
    cb_strv_free(&m->env);
    for (size_t i = 0; i < m->discard.len; i++) {
        cb_error_t *e = NULL;
        cb_rm_rf(m->discard.items[i], &e);
        cb_error_free(e);
    }
    cb_strv_free(&m->discard);
    memset(m, 0, sizeof *m);
}
