/* RUN: the step's command line, environment, user and working directory
 * from the stage's config; the container (run_container.c); then the
 * overlay's upper dir becomes the step's layer and moves into the stage's
 * root file system for the next steps. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "builder/build_state.h"
#include "builder/run.h"
#include "builder/run_mounts.h"
#include "builder/user.h"
#include "builder/userns.h"
#include "cache/sealer.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "layer/treediff.h"
#include "layer/upper.h"
#include "layer/writer.h"

static bool env_has(const cb_strv_t *env, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < env->len; i++)
        if (strncmp(env->items[i], name, n) == 0 && env->items[i][n] == '=')
            return true;
    return false;
}

/* ENV of the stage, then the build args in scope that no ENV shadows
 * (eval recorded them as used_args; never written to the config), then the
 * proxy args; PATH and HOME as docker build sets them when missing. */
static void step_env(const cb_stage_state_t *st, const cb_instr_run_t *ins, const cb_user_t *user,
                     cb_strv_t *env) {
    cb_image_config_env_list(st->config, env);
    for (size_t i = 0; i < ins->base.used_args.len; i++) {
        const char *kv = ins->base.used_args.items[i];
        const char *eq = strchr(kv, '=');
        if (eq == NULL)
            continue; /* declared without a value: unset */
        cb_autofree char *name = cb_xstrndup(kv, (size_t)(eq - kv));
        if (!env_has(env, name))
            cb_strv_push(env, kv);
    }
    for (size_t i = 0; i < ins->proxy_env.len; i++)
        cb_strv_push(env, ins->proxy_env.items[i]);
    if (!env_has(env, "PATH"))
        cb_strv_take(env, cb_xstrdup("PATH=" CB_DEFAULT_PATH));
    if (!env_has(env, "HOME"))
        cb_strv_take(env, cb_xasprintf("HOME=%s", user->home ? user->home : "/root"));
}

/* Heredocs: a RUN that is only one heredoc runs its body as the script
 * (BuildKit's rule); otherwise the shell gets the command line with the
 * bodies after it, as a shell script would have them. */
static char *shell_script(const cb_instr_run_t *ins) {
    const cb_node_t *n = ins->base.node;
    const char *cmd = ins->cmd.len ? ins->cmd.items[0] : "";
    if (n->nheredocs == 0)
        return cb_xstrdup(cmd);
    if (n->nheredocs == 1) {
        const char *p = cmd + strspn(cmd, " \t");
        if (strncmp(p, "<<", 2) == 0) {
            p += 2;
            p += *p == '-';
            p += strspn(p, "'\"");
            size_t len = strlen(n->heredocs[0].name);
            if (strncmp(p, n->heredocs[0].name, len) == 0 && p[len + strspn(p + len, "'\" \t")] == '\0')
                return cb_xstrdup(n->heredocs[0].content);
        }
    }
    cb_autobuf cb_buf_t s = CB_BUF_INIT;
    cb_buf_puts(&s, cmd);
    cb_buf_putc(&s, '\n');
    for (size_t i = 0; i < n->nheredocs; i++) {
        cb_buf_puts(&s, n->heredocs[i].content);
        cb_buf_puts(&s, n->heredocs[i].name);
        cb_buf_putc(&s, '\n');
    }
    return cb_xstrdup(cb_buf_str(&s));
}

static void step_argv(const cb_stage_state_t *st, const cb_instr_run_t *ins, cb_strv_t *argv) {
    if (!ins->shell_form) {
        for (size_t i = 0; i < ins->cmd.len; i++)
            cb_strv_push(argv, ins->cmd.items[i]);
        return;
    }
    cb_image_config_get_shell(st->config, argv);
    if (argv->len == 0) {
        cb_strv_push(argv, "/bin/sh");
        cb_strv_push(argv, "-c");
    }
    cb_strv_take(argv, shell_script(ins));
}

/* The step's network; for private also the helper, checked here so that
 * its absence is an error before anything is set up. */
static int step_network(const cb_build_t *b, const cb_instr_run_t *ins, cb_run_network_t *out,
                        char **helper, cb_error_t **err) {
    const char *net = ins->network && strcmp(ins->network, "default") != 0 ? ins->network : b->opts->network;
    if (net == NULL || strcmp(net, "host") == 0 || strcmp(net, "default") == 0) {
        *out = CB_NET_HOST;
    } else if (strcmp(net, "none") == 0) {
        *out = CB_NET_NONE;
    } else if (strcmp(net, "private") == 0) {
        *out = CB_NET_PRIVATE;
        cb_autofree char *why = NULL;
        *helper = cb_run_net_helper(&why);
        if (*helper == NULL)
            return cb_error_kind_set(err, CB_ERR_SYSTEM, "%s", why);
    } else {
        return cb_error_kind_set(err, CB_ERR_INPUT, "network mode %s is not available (host, none or private)", net);
    }
    return 0;
}

/* CBUILD_RUN_ROOTFS=overlay|fuse|copy forces a method (no fallback from
 * it: tests use it to know which one ran). */
static int forced_rootfs(cb_run_rootfs_t *out, bool *forced, cb_error_t **err) {
    const char *force = getenv("CBUILD_RUN_ROOTFS");
    *forced = force && *force;
    if (!*forced)
        return 0;
    if (strcmp(force, "overlay") == 0) {
        *out = CB_ROOTFS_OVERLAY;
    } else if (strcmp(force, "fuse") == 0) {
        cb_autofree char *why = NULL;
        if (!cb_run_fuse_usable(&why))
            return cb_error_kind_set(err, CB_ERR_SYSTEM, "CBUILD_RUN_ROOTFS=fuse: %s", why);
        *out = CB_ROOTFS_FUSE;
    } else if (strcmp(force, "copy") == 0) {
        *out = CB_ROOTFS_COPY;
    } else {
        return cb_error_kind_set(err, CB_ERR_INPUT, "CBUILD_RUN_ROOTFS=%s: expected overlay, fuse or copy", force);
    }
    return 0;
}

/* After method `refused` could not be mounted: the next one that can be
 * used here. */
static cb_run_rootfs_t next_rootfs(cb_run_rootfs_t refused) {
    if (refused == CB_ROOTFS_OVERLAY) {
        cb_autofree char *why = NULL;
        if (cb_run_fuse_usable(&why))
            return CB_ROOTFS_FUSE;
        cb_warn("run", "fuse-overlayfs cannot be used either (%s)", why);
    }
    return CB_ROOTFS_COPY;
}

/* Copy mode: the layer is the difference between the stage's tree and the
 * copy the step ran in, and the copy becomes the stage's tree. */
static int take_copy(cb_build_t *b, size_t stage, const cb_instr_run_t *ins, const char *copy, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    cb_autoclose int cfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfd < 0)
        return cb_error_set(err, errno, "open %s", copy);
    cb_layer_job_t job = {0};
    bool empty = false;
    if (cb_layer_job_begin(b, &job, err) < 0 || cb_layer_add_tree_diff(job.writer, st->rootfs_fd, cfd, err) < 0 ||
        cb_layer_job_commit(b, stage, &job, false, &empty, err) < 0) {
        cb_layer_job_abort(&job);
        return cb_error_wrap(err, "making the layer");
    }
    if (empty) {
        cb_stage_history(b, st, &ins->base, true);
        return 0;
    }
    /* The copy takes the tree's place; the old tree goes with the step. */
    if (renameat2(AT_FDCWD, copy, AT_FDCWD, st->rootfs, RENAME_EXCHANGE) < 0)
        return cb_error_set(err, errno, "replace %s", st->rootfs);
    int fd = open(st->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open %s", st->rootfs);
    close(st->rootfs_fd);
    st->rootfs_fd = fd;
    cb_stage_history(b, st, &ins->base, false);
    return 0;
}

/* The layer from the upper dir, then the upper dir into the stage's tree. */
static int take_changes(cb_build_t *b, size_t stage, const cb_instr_run_t *ins, const char *upper, bool fuse,
                        cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    if (cb_dir_is_empty(upper) == 1) {
        cb_stage_history(b, st, &ins->base, true);
        return 0;
    }
    cb_autoclose int ufd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ufd < 0)
        return cb_error_set(err, errno, "open %s", upper);
    if (fuse && cb_upper_drop_idle_opaque(ufd, st->rootfs_fd, err) < 0)
        return cb_error_wrap(err, "reading fuse-overlayfs' upper dir");
    cb_layer_job_t job = {0};
    if (cb_layer_job_begin(b, &job, err) < 0 || cb_layer_add_upper(job.writer, ufd, err) < 0 ||
        cb_layer_job_commit(b, stage, &job, false, NULL, err) < 0) {
        cb_layer_job_abort(&job);
        return cb_error_wrap(err, "making the layer");
    }
    if (cb_overlay_commit_upper(ufd, st->rootfs_fd, err) < 0)
        return cb_error_wrap(err, "updating the stage's root file system");
    cb_stage_history(b, st, &ins->base, false);
    return 0;
}

/* The spec's quiesce: the builder is about to clone itself for the step
 * (run_container.c: a secret's memory file is one of our descriptors,
 * CBUILD_NO_SPAWNER, or the spawner gone). That raw clone(2) runs none of
 * fork()'s handlers, so the child would wait forever for a lock (malloc's)
 * that the sealer's thread held at that instant: the sealer is drained
 * first. (The spawner and fuse-overlayfs' first child are made by fork(),
 * which takes malloc's locks across it.) */
static int drain_sealer(void *ctx, cb_error_t **err) {
    cb_build_t *b = ctx;
    return cb_sealer_wait(b->sealer, err);
}

/* The stage's step directory is kept from one RUN to the next when the
 * step left it as a fresh one would be: on this host's ext4 every inode
 * made and removed slows the next allocations down (tests/bench/README.md,
 * run10), and run-N, upper, work and rootfs were four of each per step. */
#define KEEP_UPPER "upper"
#define KEEP_WORK "work"
#define KEEP_ROOTFS "rootfs"

/* The upper dir the commit emptied is the next step's "/" only if nothing
 * tells it from a new one: mode and owner as prepare_dir sets them and no
 * extended attribute but the overlay's bookkeeping (dropped here) and
 * security labels (a new directory gets them too). */
static bool upper_as_new(const char *path, int dirfd, const struct stat *dir_st) {
    cb_autoclose int fd = openat(dirfd, KEEP_UPPER, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & 07777) != 0755 || st.st_uid != dir_st->st_uid ||
        st.st_gid != dir_st->st_gid)
        return false;
    char names[4096];
    ssize_t n = flistxattr(fd, names, sizeof names);
    if (n < 0 && errno != ENOTSUP)
        return false;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
        const char *name = names + i;
        if (cb_overlay_xattr_name(name)) {
            if (fremovexattr(fd, name) < 0)
                return false;
        } else if (strncmp(name, "security.", 9) != 0) {
            return false;
        }
    }
    cb_autofree char *upper = cb_xasprintf("%s/%s", path, KEEP_UPPER);
    return cb_dir_is_empty(upper) == 1;
}

/* After a step on kernel overlayfs whose changes are in the stage's tree:
 * everything but upper, work (overlayfs empties its work/work at each
 * mount) and rootfs (a mount point only in the step's namespace) goes:
 * rw binds' overlays, the secrets' mount point, slirp's log. False when
 * the directory cannot be reused; the caller removes it. */
static bool tidy_step_dir(const char *path) {
    cb_autoclose int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return false;
    cb_autoerr cb_error_t *err = NULL;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(fd, path, &names, &err) < 0)
        return false;
    bool has_work = false, has_rootfs = false;
    for (size_t i = 0; i < names.len; i++) {
        const char *name = names.items[i];
        if (strcmp(name, KEEP_WORK) == 0 || strcmp(name, KEEP_ROOTFS) == 0) {
            bool *has = name[0] == 'w' ? &has_work : &has_rootfs;
            struct stat sub;
            *has = fstatat(fd, name, &sub, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sub.st_mode);
        } else if (strcmp(name, KEEP_UPPER) != 0 && cb_rm_rf_at(fd, name, &err) < 0) {
            return false;
        }
    }
    /* The mount point must be empty: nothing but the step's namespace ever
     * mounted on it. */
    cb_autofree char *rootfs = cb_xasprintf("%s/%s", path, KEEP_ROOTFS);
    return has_work && has_rootfs && cb_dir_is_empty(rootfs) == 1 && upper_as_new(path, fd, &st);
}

/* The stage's step directory: the one the RUN before kept (tidy_step_dir
 * checked it), or a new one. */
static int make_step_dir(const char *path, bool kept, cb_error_t **err) {
    if (kept) {
        /* The step's "/" has its times (a new one's are the step's start),
         * not those of the last step's commit. */
        cb_autofree char *upper = cb_xasprintf("%s/%s", path, KEEP_UPPER);
        if (utimensat(AT_FDCWD, upper, NULL, 0) == 0)
            return 0;
    }
    if (mkdir(path, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return cb_error_set(err, errno, "create %s", path);
    /* Not one we left for reuse (a removal that failed): started again. */
    if (cb_rm_rf(path, err) < 0 || mkdir(path, 0755) < 0)
        return *err ? -1 : cb_error_set(err, errno, "create %s", path);
    return 0;
}

int cb_run_step(cb_build_t *b, size_t stage, const cb_instr_run_t *ins, cb_error_t **err) {
    if (cb_userns_mode() == CB_USERNS_NONE && cb_userns_why_not())
        return cb_error_kind_set(err, CB_ERR_SYSTEM, "RUN needs a user namespace: %s", cb_userns_why_not());
    cb_stage_state_t *st = &b->stages[stage];
    int rootfd;
    if (cb_stage_rootfs(b, stage, &rootfd, err) < 0)
        return -1;

    cb_user_t user;
    if (cb_user_resolve(rootfd, cb_image_config_get_user(st->config), &user, err) < 0)
        return -1;
    cb_autostrv cb_strv_t env = CB_STRV_INIT, argv = CB_STRV_INIT;
    step_env(st, ins, &user, &env);
    step_argv(st, ins, &argv);
    cb_run_network_t net = CB_NET_HOST;
    cb_autofree char *net_helper = NULL;
    cb_run_rootfs_t rootfs = b->run_rootfs;
    bool forced = false;
    if (step_network(b, ins, &net, &net_helper, err) < 0 || forced_rootfs(&rootfs, &forced, err) < 0) {
        cb_user_clear(&user);
        return -1;
    }

    /* One per stage: a stage runs its steps one after another, and parallel
     * stages (scheduler.c) are other stages. */
    cb_autofree char *dir = cb_xasprintf("run-stage%zu", stage);
    cb_autofree char *dir_path = cb_xasprintf("%s/%s", b->scratch, dir);
    char *dir_path_copy = NULL; /* the retry's directory after an overlay refusal */
    cb_run_mounts_t mounts = {0};
    int rc = make_step_dir(dir_path, st->step_dir_kept, err);
    st->step_dir_kept = false;
    if (rc == 0)
        rc = cb_run_mounts_prepare(b, stage, ins, dir_path, &mounts, err);
    for (size_t i = 0; rc == 0 && i < mounts.env.len; i++)
        cb_strv_push(&env, mounts.env.items[i]);
    cb_run_result_t res = {0};
    if (rc == 0) {
        const char *slash = strrchr(st->rootfs, '/');
        cb_run_spec_t spec = {
            .workspace = b->scratch,
            .lower = slash ? slash + 1 : st->rootfs,
            .dir = dir,
            .argv = argv.items,
            .env = env.items,
            .cwd = cb_image_config_get_workdir(st->config),
            .uid = user.uid,
            .gid = user.gid,
            .groups = user.groups,
            .ngroups = user.ngroups,
            .hostname = "cbuild",
            .network = net,
            .net_helper = net_helper,
            .mounts = mounts.items,
            .nmounts = mounts.len,
            .quiesce = drain_sealer,
            .quiesce_ctx = b,
        };
        spec.rootfs = rootfs;
        if (!b->run_announced) {
            b->run_announced = true;
            cb_userns_mode_t um = cb_userns_mode();
            cb_info("run", "RUN steps run on %s in a user namespace (%s)",
                    rootfs == CB_ROOTFS_COPY ? "a copy of the root file system" : cb_run_rootfs_name(rootfs),
                    um == CB_USERNS_SUBIDS   ? "rootless, ids from /etc/subuid and /etc/subgid"
                    : um == CB_USERNS_SINGLE ? "rootless, only your own id mapped"
                                             : "as root, all ids mapped");
        }
        cb_info("run", "rootfs: %s", cb_run_rootfs_name(spec.rootfs));
        rc = cb_run_container(&spec, &res, err);
        while (rc < 0 && res.rootfs_refused && !forced) {
            /* Nothing ran: the same step again with the next method, and
             * every later step too. */
            cb_run_rootfs_t next = next_rootfs(spec.rootfs);
            cb_warn("run", "%s; RUN steps use %s instead", (*err)->msg,
                    next == CB_ROOTFS_COPY ? "a copy of the root file system" : cb_run_rootfs_name(next));
            cb_error_free(*err);
            *err = NULL;
            b->run_rootfs = spec.rootfs = next;
            cb_run_result_clear(&res);
            cb_autofree char *retry = cb_xasprintf("%s-%d", dir, (int)next);
            cb_autofree char *retry_path = cb_xasprintf("%s/%s", b->scratch, retry);
            rc = mkdir(retry_path, 0755) < 0 ? cb_error_set(err, errno, "create %s", retry_path) : 0;
            spec.dir = retry;
            /* The refused attempt's directory goes now. */
            if (dir_path_copy) {
                cb_autoerr cb_error_t *rm_err = NULL;
                (void)cb_rm_rf(dir_path_copy, &rm_err);
                free(dir_path_copy);
            }
            dir_path_copy = cb_steal_pointer(&retry_path);
            if (rc < 0)
                break;
            cb_info("run", "rootfs: %s", cb_run_rootfs_name(spec.rootfs));
            rc = cb_run_container(&spec, &res, err);
        }
        rootfs = spec.rootfs; /* the method the step ran with */
    }
    if (rc == 0 && res.status != 0) {
        rc = cb_error_kind_set(err, CB_ERR_STEP, "RUN exited with status %d: %s%s%s", res.status,
                               ins->base.node->original, res.tail && *res.tail ? "\nlast output:\n" : "",
                               res.tail ? res.tail : "");
    }
    cb_run_mounts_finish(&mounts, rc == 0);
    if (rc == 0)
        rc = res.rootfs ? take_copy(b, stage, ins, res.rootfs, err)
                        : take_changes(b, stage, ins, res.upper, rootfs == CB_ROOTFS_FUSE, err);
    cb_run_result_clear(&res);
    cb_user_clear(&user);
    /* The step's directory holds files of any owner: we are root here. A
     * failed step's goes whole: what it left is not known. */
    bool keep = rc == 0 && rootfs == CB_ROOTFS_OVERLAY && dir_path_copy == NULL && tidy_step_dir(dir_path);
    st->step_dir_kept = keep;
    cb_autoerr cb_error_t *rm_err = NULL;
    if (!keep && cb_rm_rf(dir_path, &rm_err) < 0)
        cb_warn("run", "cannot remove %s", dir_path);
    cb_autoerr cb_error_t *rm_err2 = NULL;
    if (dir_path_copy && cb_rm_rf(dir_path_copy, &rm_err2) < 0)
        cb_warn("run", "cannot remove %s", dir_path_copy);
    free(dir_path_copy);
    return rc;
}
