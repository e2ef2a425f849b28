/* The host side of a RUN step: the step's directory, the namespaces'
 * id maps, the output stream, signals and the exit status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/progress.h"
#include "builder/run_private.h"
#include "builder/run_security.h"
#include "builder/userns.h"
#include "common/interrupt.h"
#include "common/util.h"
#include "layer/treeclone.h"

#define TAIL_BYTES 4096
#define TAIL_LINES 12

void cb_run_result_clear(cb_run_result_t *res) {
    free(res->tail);
    free(res->upper);
    free(res->rootfs);
    memset(res, 0, sizeof *res);
}

static int write_text(int dirfd, const char *name, const char *text, cb_error_t **err) {
    int fd = openat(dirfd, name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return cb_error_set(err, errno, "create %s", name);
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = errno;
    close(fd);
    if (w != (ssize_t)n)
        return cb_error_set(err, w < 0 ? e : EIO, "write %s", name);
    return 0;
}

/* The texts of the step's /etc/hosts, /etc/resolv.conf and /etc/hostname,
 * in etc[] (caller frees). */
static void etc_texts(const cb_run_spec_t *spec, char *etc[3]) {
    const char *h = spec->hostname ? spec->hostname : "localhost";
    /* With slirp4netns the step has an address of its own, as podman's
     * containers have their name on theirs. */
    etc[0] = cb_xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                          "ip6-loopback\n%s\t%s\n",
                          spec->network == CB_NET_PRIVATE ? "10.0.2.100" : "127.0.1.1", h);
    cb_buf_t resolv = CB_BUF_INIT;
    if (spec->network == CB_NET_HOST) {
        /* The host's resolvers are reachable on the host's network. */
        FILE *f = fopen("/etc/resolv.conf", "re");
        char line[1024];
        while (f && fgets(line, sizeof line, f))
            cb_buf_puts(&resolv, line);
        if (f)
            fclose(f);
    } else if (spec->network == CB_NET_PRIVATE) {
        cb_buf_puts(&resolv, "nameserver 10.0.2.3\n"); /* slirp4netns' DNS forwarder */
    }
    cb_buf_putc(&resolv, '\0'); /* a string even when empty */
    etc[1] = cb_buf_steal(&resolv);
    etc[2] = cb_xasprintf("%s\n", h);
}

/* What cb_run_container prepares for the step's process (run.h's last
 * fields of the spec point into it). */
typedef struct prepared {
    cb_buf_t plan;
    char *etc[3];
} prepared_t;

static void prepared_free(prepared_t *p) {
    cb_buf_free(&p->plan);
    for (int i = 0; i < 3; i++)
        free(p->etc[i]);
}

/* The step's directory. For kernel overlayfs only the upper and work dirs
 * and the mount point: the step's process makes the stub and the /etc
 * files on a tmpfs (run_child.c). fuse-overlayfs' daemon needs the stub
 * where it runs, and copy mode makes the mount points in the copy: for
 * those, both are made here. */
static int prepare_dir(const cb_run_spec_t *spec, int wsfd, prepared_t *prep, cb_strv_t *created,
                       cb_error_t **err) {
    cb_autoclose int dirfd = openat(wsfd, spec->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return cb_error_set(err, errno, "open %s/%s", spec->workspace, spec->dir);
    bool copy = spec->rootfs == CB_ROOTFS_COPY, overlay = spec->rootfs == CB_ROOTFS_OVERLAY;
    static const char *const sub[] = {RUN_UPPER, RUN_WORK, RUN_ROOTFS, RUN_STUB};
    for (size_t i = 0; i < (overlay ? 3 : 4); i++)
        /* Modes set, not left to the umask: the upper dir is the step's "/".
         * The first three may be the stage's last step's, which run_step.c
         * kept only as new ones (the upper dir empty). */
        if ((mkdirat(dirfd, sub[i], 0755) < 0 && (errno != EEXIST || i == 3)) || fchmodat(dirfd, sub[i], 0755, 0) < 0)
            return cb_error_set(err, errno, "create %s/%s/%s", spec->workspace, spec->dir, sub[i]);
    cb_autoclose int lowerfd = openat(wsfd, spec->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lowerfd < 0)
        return cb_error_set(err, errno, "open %s/%s", spec->workspace, spec->lower);
    bool etc_files = false;
    if (cb_run_plan_stub(lowerfd, spec, copy, &etc_files, &prep->plan, err) < 0)
        return cb_error_wrap(err, "preparing the mount points");
    if (etc_files)
        etc_texts(spec, prep->etc);
    if (overlay)
        return 0;

    cb_autoclose int stubfd = openat(dirfd, copy ? RUN_ROOTFS : RUN_STUB, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (stubfd < 0)
        return cb_error_set(err, errno, "open the step's lower directories");
    if (copy && cb_tree_clone(lowerfd, stubfd, err) < 0)
        return cb_error_wrap(err, "copying the root file system");
    const char *failed = "";
    if (cb_run_apply_stub(prep->plan.data, prep->plan.len, stubfd, copy ? created : NULL, &failed) < 0)
        return cb_error_set(err, errno, "preparing the mount points: stub /%s", failed);
    static const char *const names[] = {RUN_HOSTS, RUN_RESOLV, RUN_HOSTNAME};
    for (int i = 0; etc_files && i < 3; i++)
        if (write_text(dirfd, names[i], prep->etc[i], err) < 0)
            return -1;
    return 0;
}

/* The step's ids are the builder's: an identity map of ours, read once
 * per process (our own maps do not change while we run). */
static int write_map(pid_t pid, const char *which) {
    static char *maps[2];
    bool uid = strcmp(which, "uid_map") == 0;
    if (maps[uid] == NULL) {
        char self[64];
        snprintf(self, sizeof self, "/proc/self/%s", which);
        maps[uid] = cb_userns_identity_map(self);
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, which);
    return cb_write_proc_file(path, maps[uid]);
}

/* Copy mode: the mount points made in the copy go again, deepest first,
 * when the step left them empty. */
static void remove_stubs(int wsfd, const cb_run_spec_t *spec, const cb_strv_t *created) {
    cb_autofree char *root = cb_xasprintf("%s/%s", spec->dir, RUN_ROOTFS);
    int rootfd = openat(wsfd, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return;
    cb_autoclose int lowerfd = openat(wsfd, spec->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = created->len; i-- > 0;) {
        const char *name = created->items[i];
        struct stat st;
        if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        int r = -1;
        if (S_ISDIR(st.st_mode))
            r = unlinkat(rootfd, name, AT_REMOVEDIR); /* fails when not empty */
        else if (S_ISREG(st.st_mode) && st.st_size == 0)
            r = unlinkat(rootfd, name, 0);
        /* Making and removing the stub bumped its directory's times: the
         * tree's own go back, so the diff does not see a change. */
        const char *slash = strrchr(name, '/');
        cb_autofree char *parent = slash ? cb_xstrndup(name, (size_t)(slash - name)) : cb_xstrdup(".");
        struct stat pst;
        if (r == 0 && lowerfd >= 0 && fstatat(lowerfd, parent, &pst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(pst.st_mode)) {
            struct timespec ts[2] = {pst.st_atim, pst.st_mtim};
            (void)utimensat(rootfd, parent, ts, AT_SYMLINK_NOFOLLOW);
        }
    }
    close(rootfd);
}

static int status_code(int st) {
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

/* fuse-overlayfs: the root mounted here, before pid 1 exists (run_fuse.c). */
static pid_t mount_fuse_root(const cb_run_spec_t *spec, int errfd) {
    char msg[1024];
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        dprintf(errfd, "make the mount namespace private: %s", strerror(errno));
        _exit(127);
    }
    pid_t daemon = cb_run_fuse_mount(spec, msg, sizeof msg);
    if (daemon < 0) {
        dprintf(errfd, "%s", msg);
        _exit(RUN_OVERLAY_REFUSED);
    }
    return daemon;
}

/* fuse-overlayfs' intermediate child: a user namespace of its own (mapped
 * by the parent), a mount namespace where it mounts the root with the
 * daemon, then the other namespaces, whose pid 1 it forks and waits for
 * (the daemon must not be in the pid namespace, of which it would become
 * pid 1). For --network private it waits, once the network namespace
 * exists, until the parent has started slirp4netns for it. */
_Noreturn static void first_child(const cb_run_spec_t *spec, int sync_out, int sync_in, int errfd,
                                  int outfd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    char c = 'u';
    if (unshare(CLONE_NEWUSER) < 0) {
        dprintf(errfd, "create a user namespace: %s", strerror(errno));
        _exit(127);
    }
    if (write(sync_out, &c, 1) != 1 || read(sync_in, &c, 1) != 1 || c != 'm')
        _exit(127); /* the parent has the reason */
    if (chdir(spec->workspace) < 0) {
        dprintf(errfd, "chdir %s: %s", spec->workspace, strerror(errno));
        _exit(127);
    }
    if (unshare(CLONE_NEWNS) < 0) {
        dprintf(errfd, "create the mount namespace: %s", strerror(errno));
        _exit(127);
    }
    pid_t daemon = mount_fuse_root(spec, errfd);
    int flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
    if (spec->network != CB_NET_HOST)
        flags |= CLONE_NEWNET;
    if (unshare(flags) < 0) {
        dprintf(errfd, "create the pid, ipc, uts%s namespaces: %s",
                spec->network != CB_NET_HOST ? " and network" : "", strerror(errno));
        _exit(127);
    }
    if (spec->network == CB_NET_PRIVATE) {
        c = 'n';
        if (write(sync_out, &c, 1) != 1 || read(sync_in, &c, 1) != 1 || c != 'g')
            _exit(127); /* the parent has the reason */
    }
    pid_t pid = fork();
    if (pid < 0) {
        dprintf(errfd, "fork the container's first process: %s", strerror(errno));
        _exit(127);
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        cb_run_child(spec, errfd, outfd);
    }
    close(outfd);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            _exit(127);
    char msg[1024];
    if (cb_run_fuse_unmount(spec, daemon, msg, sizeof msg) < 0) {
        dprintf(errfd, "%s", msg);
        _exit(127);
    }
    _exit(status_code(st));
}

/* The step's process made by clone() straight into its namespaces, as
 * their pid 1: one copy of the builder per step instead of two (the
 * intermediate child of first_child and the pid 1 it forks). The user
 * namespace's maps come from the parent, as for first_child. */
void cb_run_direct_child(const cb_run_spec_t *spec, int sync_out, int sync_in, int errfd, int outfd) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    char c = 'u';
    if (write(sync_out, &c, 1) != 1 || read(sync_in, &c, 1) != 1 || c != 'm')
        _exit(127); /* the parent has the reason */
    if (spec->network == CB_NET_PRIVATE) {
        c = 'n';
        if (write(sync_out, &c, 1) != 1 || read(sync_in, &c, 1) != 1 || c != 'g')
            _exit(127);
    }
    if (chdir(spec->workspace) < 0) {
        dprintf(errfd, "chdir %s: %s", spec->workspace, strerror(errno));
        _exit(127);
    }
    cb_run_child(spec, errfd, outfd);
}

/* In a child of ours: the pipes' ends that are the host side's. */
static void close_host_ends(const int up[2], const int down[2], const int errp[2], const int outp[2]) {
    close(up[0]);
    close(down[1]);
    close(errp[0]);
    close(outp[0]);
}

/* Starts the step's process: cloned into the namespaces by the spawner (or
 * by us when there is none), or through first_child for fuse-overlayfs,
 * whose daemon must live in the mount namespace but outside the pid
 * namespace. */
static pid_t start_child(const cb_run_spec_t *spec, int up[2], int down[2], int errp[2], int outp[2],
                         cb_error_t **err) {
    if (spec->rootfs == CB_ROOTFS_FUSE) {
        pid_t pid = fork();
        if (pid == 0) {
            close_host_ends(up, down, errp, outp);
            /* close-on-exec: dup2 onto 1 and 2 in the child makes the copies
             * the command inherits. */
            first_child(spec, up[1], down[0], errp[1], outp[1]);
        }
        if (pid < 0)
            cb_error_set(err, errno, "start the step's process");
        return pid;
    }
    unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
    if (spec->network != CB_NET_HOST)
        flags |= CLONE_NEWNET;
    /* A secret's source is one of our descriptors (/proc/self/fd/N), which
     * a process cloned by the spawner does not have. */
    bool secrets = false;
    for (size_t i = 0; i < spec->nmounts; i++)
        secrets = secrets || spec->mounts[i].secret;
    const int fds[4] = {up[1], down[0], errp[1], outp[1]};
    pid_t pid = secrets ? -1 : cb_run_spawn(spec, flags, fds);
    if (pid > 0)
        return pid;
    if (spec->quiesce && spec->quiesce(spec->quiesce_ctx, err) < 0)
        return -1;
    /* The raw system call, fork-like: the child goes on on its copy of this
     * stack (glibc's clone() would switch stacks, which AddressSanitizer
     * reports as a stack it does not know). */
    pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        close_host_ends(up, down, errp, outp);
        cb_run_direct_child(spec, up[1], down[0], errp[1], outp[1]);
    }
    if (pid < 0)
        cb_error_set(err, errno, "start the step's process in new namespaces");
    return pid;
}

/* Keeps the last TAIL_BYTES of output. */
typedef struct tail {
    char buf[TAIL_BYTES];
    size_t len;
} tail_t;

static void tail_add(tail_t *t, const char *p, size_t n) {
    if (n >= TAIL_BYTES) {
        memcpy(t->buf, p + n - TAIL_BYTES, TAIL_BYTES);
        t->len = TAIL_BYTES;
        return;
    }
    if (t->len + n > TAIL_BYTES) {
        size_t drop = t->len + n - TAIL_BYTES;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static char *tail_lines(const tail_t *t) {
    size_t end = t->len;
    while (end > 0 && t->buf[end - 1] == '\n')
        end--;
    size_t start = end;
    int lines = 0;
    while (start > 0 && lines < TAIL_LINES) {
        start--;
        if (t->buf[start] == '\n' && ++lines == TAIL_LINES) {
            start++;
            break;
        }
    }
    return cb_xstrndup(t->buf + start, end - start);
}

/* Streams the step's output to our stderr until both pipes are closed. */
static void pump(int outfd, int errfd, pid_t child, tail_t *tail, cb_buf_t *setup_err) {
    struct pollfd p[2] = {{.fd = outfd, .events = POLLIN}, {.fd = errfd, .events = POLLIN}};
    bool killed = false;
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (cb_interrupt_signal() && !killed) {
            kill(child, SIGKILL); /* its pid 1 follows (PDEATHSIG), and with it the namespace */
            killed = true;
        }
        /* A timeout, for a signal that lands between the check above and
         * the poll (it interrupts only a poll under way). */
        if (poll(p, 2, 250) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        char buf[16384];
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                p[i].fd = -1;
                continue;
            }
            if (i == 0) {
                cb_progress_output(buf, (size_t)n);
                tail_add(tail, buf, (size_t)n);
            } else {
                cb_buf_add(setup_err, buf, (size_t)n);
            }
        }
    }
}

static int run_prepared(const cb_run_spec_t *user_spec, int wsfd, prepared_t *prep, cb_strv_t *created,
                        cb_run_result_t *res, cb_error_t **err) {
    if (prepare_dir(user_spec, wsfd, prep, created, err) < 0 || cb_run_seccomp_prepare(err) < 0)
        return -1;
    cb_run_spec_t full = *user_spec;
    const cb_run_spec_t *spec = &full;
    for (int i = 0; i < 3; i++)
        full.etc_text[i] = prep->etc[i];
    full.stub_plan = prep->plan.data;
    full.stub_plan_len = prep->plan.len;
    cb_run_caps_prepare();

    int up[2] = {-1, -1}, down[2] = {-1, -1}, errp[2] = {-1, -1}, outp[2] = {-1, -1};
    if (pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
        pipe2(outp, O_CLOEXEC) < 0) {
        int e = errno;
        for (int *fd = &up[0]; fd <= &outp[1]; fd++)
            if (*fd >= 0)
                close(*fd);
        return cb_error_set(err, e, "pipe");
    }
    fflush(NULL);
    pid_t pid = start_child(spec, up, down, errp, outp, err);
    close(up[1]);
    close(down[0]);
    close(errp[1]);
    close(outp[1]);

    cb_autobuf cb_buf_t setup_err = CB_BUF_INIT;
    tail_t tail = {.len = 0};
    int rc = 0;
    cb_slirp_t slirp = {.pid = 0, .exit_fd = -1};
    if (pid < 0) {
        rc = -1;
    } else {
        char c;
        bool mapped = false;
        if (read(up[0], &c, 1) == 1) {
            if (write_map(pid, "uid_map") < 0 || write_map(pid, "gid_map") < 0)
                cb_buf_printf(&setup_err, "write the id maps of the step's user namespace: %s",
                              strerror(errno));
            else
                mapped = write(down[1], "m", 1) == 1;
        }
        /* The child's network namespace exists once it says 'n'; any
         * failure leaves it to read EOF and give up. */
        if (mapped && spec->network == CB_NET_PRIVATE && read(up[0], &c, 1) == 1 && c == 'n') {
            cb_autofree char *log = cb_xasprintf("%s/%s/%s", spec->workspace, spec->dir, RUN_SLIRP_LOG);
            if (cb_slirp_start(spec->net_helper, pid, log, &slirp, err) < 0)
                rc = -1;
            else
                (void)!write(down[1], "g", 1);
        }
        close(down[1]);
        down[1] = -1;
        pump(outp[0], errp[0], pid, &tail, &setup_err);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        res->status = status_code(st);
        cb_slirp_stop(&slirp);
    }
    close(up[0]);
    if (down[1] >= 0)
        close(down[1]);
    close(errp[0]);
    close(outp[0]);
    if (spec->rootfs == CB_ROOTFS_COPY)
        remove_stubs(wsfd, spec, created);
    if (rc < 0)
        return rc;
    if (cb_interrupt_check(err) < 0)
        return -1;
    if (setup_err.len > 0 && res->status == RUN_OVERLAY_REFUSED && spec->rootfs != CB_ROOTFS_COPY) {
        res->rootfs_refused = true;
        return cb_error_kind_set(err, CB_ERR_SYSTEM, "%s", cb_buf_str(&setup_err));
    }
    if (setup_err.len > 0)
        return cb_error_kind_set(err, CB_ERR_SYSTEM, "setting up the container: %s", cb_buf_str(&setup_err));
    res->tail = tail_lines(&tail);
    if (spec->rootfs == CB_ROOTFS_COPY)
        res->rootfs = cb_xasprintf("%s/%s/%s", spec->workspace, spec->dir, RUN_ROOTFS);
    else
        res->upper = cb_xasprintf("%s/%s/%s", spec->workspace, spec->dir, RUN_UPPER);
    return 0;
}

int cb_run_container(const cb_run_spec_t *spec, cb_run_result_t *res, cb_error_t **err) {
    memset(res, 0, sizeof *res);
    cb_autoclose int wsfd = open(spec->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (wsfd < 0)
        return cb_error_set(err, errno, "open %s", spec->workspace);
    cb_autostrv cb_strv_t created = CB_STRV_INIT;
    prepared_t prep = {.plan = CB_BUF_INIT, .etc = {NULL, NULL, NULL}};
    int rc = run_prepared(spec, wsfd, &prep, &created, res, err);
    prepared_free(&prep);
    return rc;
}
