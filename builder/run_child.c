/* The container's pid 1, from its mount namespace to execve. Everything
 * here runs in a forked child of the (single-threaded) builder; failures go
 * back as text on errfd. Mount targets are resolved inside the container's
 * root with openat2(RESOLVE_IN_ROOT), so a symlink in the image cannot send
 * a mount outside it. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "builder/run_private.h"
#include "builder/run_security.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

struct mount_attr_arg {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int errfd_g = -1;
static int exit_code_g = 127;

_Noreturn static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    int e = errno;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof msg)
        n = sizeof msg - 1;
    if (e)
        n += snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(e));
    (void)!write(errfd_g, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    _exit(exit_code_g);
}

_Noreturn static void die_err(cb_error_t *err, const char *what) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        fprintf(f, "%s: ", what);
        cb_error_print(err, f);
        fclose(f);
        while (len > 0 && text[len - 1] == '\n')
            len--;
        (void)!write(errfd_g, text, len);
    }
    _exit(127);
}

/* An O_PATH descriptor for path inside the container root rootfd. */
static int open_in_root(int rootfd, const char *path) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

static void fd_path(char buf[64], int fd) {
    snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

/* Mounts a new file system (proc, tmpfs, devpts, ...) on target. */
static void mount_fs(int rootfd, const char *target, const char *type, unsigned long flags,
                     const char *data) {
    int fd = open_in_root(rootfd, target);
    if (fd < 0)
        die("mount point %s", target);
    char p[64];
    fd_path(p, fd);
    if (mount(type, p, type, flags, data) < 0)
        die("mount %s on %s", type, target);
    close(fd);
}

/* Binds host path source on target (with recursive, a copy of the mounts
 * below it too), with attrs (MOUNT_ATTR_*) applied to the whole tree. */
static int bind_mount(int rootfd, const char *source, const char *target, uint64_t attrs, bool recursive) {
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source,
                            OPEN_TREE_CLONE | (recursive ? AT_RECURSIVE : 0) | O_CLOEXEC);
    if (tree < 0)
        return -1;
    if (attrs) {
        struct mount_attr_arg a = {.attr_set = attrs};
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0) {
            close(tree);
            return -1;
        }
    }
    int fd = open_in_root(rootfd, target);
    if (fd < 0) {
        close(tree);
        return -1;
    }
    long r = syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    int e = errno;
    close(fd);
    close(tree);
    errno = e;
    return r < 0 ? -1 : 0;
}

static void make_dev(int rootfd) {
    mount_fs(rootfd, "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    int dev = openat(rootfd, "dev", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dev < 0)
        die("open /dev");
    /* Device nodes cannot be made in a user namespace: bind the host's. */
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        int f = openat(dev, nodes[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (f < 0)
            die("create /dev/%s", nodes[i]);
        close(f);
        char src[32], dst[32];
        snprintf(src, sizeof src, "/dev/%s", nodes[i]);
        snprintf(dst, sizeof dst, "/dev/%s", nodes[i]);
        if (bind_mount(rootfd, src, dst, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false) < 0)
            die("bind %s", src);
    }
    if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 || mkdirat(dev, "mqueue", 0755) < 0)
        die("create /dev/pts, /dev/shm, /dev/mqueue");
    mount_fs(rootfd, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    mount_fs(rootfd, "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
    int mq = open_in_root(rootfd, "/dev/mqueue");
    if (mq >= 0) {
        char p[64];
        fd_path(p, mq);
        (void)mount("mqueue", p, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL); /* optional */
        close(mq);
    }
    static const char *const links[][2] = {
        {"pts/ptmx", "ptmx"},          {"/proc/self/fd", "fd"},        {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
    };
    for (size_t i = 0; i < sizeof links / sizeof *links; i++)
        if (symlinkat(links[i][0], dev, links[i][1]) < 0)
            die("symlink /dev/%s", links[i][1]);
    close(dev);
}

static void make_sys(int rootfd) {
    /* sysfs itself needs a network namespace of our own; a read-only copy
     * of the host's is what runc gives rootless containers. Optional. Not
     * the mounts below it (cgroup, debugfs, ...): a build step has no use
     * for them, and each one costs time when the namespace is torn down. */
    (void)bind_mount(rootfd, "/sys", "/sys",
                     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, false);
}

/* /proc as runc and Docker give it: the kernel-wide knobs read-only and the
 * files that show the host's kernel state hidden. Without this, a step run
 * as root with ids mapped 1:1 passes the only check most sysctls make
 * (the file's owner, global root) and could write /proc/sys/kernel/core_pattern,
 * a way to run a program on the host. Paths the kernel lacks are skipped. */
static void protect_proc(int rootfd) {
    static const char *const readonly[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
                                           "/proc/fs"};
    static const char *const masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                                         "/proc/latency_stats", "/proc/acpi", "/proc/scsi"};
    for (size_t i = 0; i < sizeof readonly / sizeof *readonly; i++) {
        int at = open_in_root(rootfd, readonly[i]);
        if (at < 0 && errno == ENOENT)
            continue;
        int tree = at < 0 ? -1
                          : (int)syscall(SYS_open_tree, at, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | AT_RECURSIVE |
                                                                 O_CLOEXEC);
        struct mount_attr_arg a = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                               MOUNT_ATTR_NOEXEC};
        if (tree < 0 || syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0 ||
            syscall(SYS_move_mount, tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            die("make %s read-only", readonly[i]);
        close(tree);
        close(at);
    }
    for (size_t i = 0; i < sizeof masked / sizeof *masked; i++) {
        int at = open_in_root(rootfd, masked[i]);
        if (at < 0 && errno == ENOENT)
            continue;
        struct stat st;
        if (at < 0 || fstat(at, &st) < 0)
            die("hide %s", masked[i]);
        close(at);
        if (S_ISDIR(st.st_mode))
            mount_fs(rootfd, masked[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555");
        else if (bind_mount(rootfd, "/dev/null", masked[i], MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                            false) < 0)
            die("hide %s", masked[i]);
    }
}

/* A secret's bytes go from its memory file to a file on a tmpfs of this
 * mount namespace (a memory file itself cannot be bound: its mount is not
 * in our namespace); nothing reaches a disk. Returns the file's path. */
static void secret_file(const cb_run_spec_t *spec, const cb_run_mount_t *m, size_t i, char *out, size_t cap) {
    char dir[4000];
    if (snprintf(dir, sizeof dir, "%s/%s", spec->dir, RUN_SECRETS) >= (int)sizeof dir)
        die("secret path too long");
    struct stat st;
    if (stat(dir, &st) < 0 && (mkdir(dir, 0700) < 0 || mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                                            "mode=0700,size=16m") < 0))
        die("tmpfs for secrets");
    if (snprintf(out, cap, "%.4000s/%zu", dir, i) >= (int)cap)
        die("secret path too long");
    int src = open(m->source, O_RDONLY | O_CLOEXEC);
    if (src < 0 || fstat(src, &st) < 0)
        die("secret for %s", m->target);
    int dst = open(out, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (dst < 0)
        die("create %s", out);
    char buf[8192];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0)
        if (write(dst, buf, (size_t)n) != n)
            die("copy secret for %s", m->target);
    if (n < 0 || fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0)
        die("secret for %s", m->target);
    explicit_bzero(buf, sizeof buf);
    close(src);
    close(dst);
}

static void step_mounts(const cb_run_spec_t *spec, int rootfd) {
    for (size_t i = 0; i < spec->nmounts; i++) {
        const cb_run_mount_t *m = &spec->mounts[i];
        if (m->secret) {
            char file[4096];
            secret_file(spec, m, i, file, sizeof file);
            if (bind_mount(rootfd, file, m->target, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false) < 0)
                die("mount the secret on %s", m->target);
            continue;
        }
        if (m->source == NULL) {
            char data[64] = "mode=1777";
            if (m->tmpfs_size)
                snprintf(data, sizeof data, "mode=1777,size=%llu", (unsigned long long)m->tmpfs_size);
            mount_fs(rootfd, m->target, "tmpfs", MS_NOSUID | MS_NODEV, data);
            continue;
        }
        if (m->overlay_dir) {
            char data[4096];
            int k = snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s/u,workdir=%s/w,userxattr", m->source,
                             m->overlay_dir, m->overlay_dir);
            if (k < 0 || (size_t)k >= sizeof data)
                die("mount options for %s too long", m->target);
            mount_fs(rootfd, m->target, "overlay", MS_NOSUID | MS_NODEV, data);
            continue;
        }
        uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
        if (bind_mount(rootfd, m->source, m->target, attrs, true) < 0)
            die("mount %s on %s", m->source, m->target);
    }
}

/* mkdir -p inside the container (after pivot_root). */
static void make_cwd(const char *cwd) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s", cwd) >= (int)sizeof path)
        die("working directory %s: name too long", cwd);
    for (char *s = path + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            die("create the working directory %s", path);
        *s = c;
        if (c == '\0')
            break;
    }
    if (chdir(cwd) < 0)
        die("working directory %s", cwd);
}

static const char *env_get(char *const *env, const char *name) {
    size_t n = strlen(name);
    for (char *const *e = env; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* argv[0] as execve needs it: as written when it has a '/', else the first
 * executable match in the step's PATH. */
static const char *find_program(const char *name, char *const *env, char *buf, size_t cap) {
    if (strchr(name, '/'))
        return name;
    const char *path = env_get(env, "PATH");
    if (path == NULL)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path;;) {
        const char *colon = strchrnul(p, ':');
        size_t len = (size_t)(colon - p);
        if (snprintf(buf, cap, "%.*s%s%s", (int)len, p, len ? "/" : "", name) < (int)cap) {
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
                return buf;
        }
        if (*colon == '\0')
            break;
        p = colon + 1;
    }
    errno = 0;
    die("exec: \"%s\": executable file not found in $PATH", name);
}

/* Kernel overlayfs: a tmpfs on DIR/rootfs, only in this mount namespace,
 * with the stub (the overlay's top lower dir), the /etc files and the
 * overlay's mount point. Made here rather than by the builder on its disk:
 * an inode in memory costs next to nothing, one on the disk a lot more
 * (and a removal after the step). */
static void make_scratch(const cb_run_spec_t *spec, const char *dir) {
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=65536k") < 0)
        die("mount a tmpfs on %s", dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || mkdirat(fd, RUN_STUB, 0755) < 0 || mkdirat(fd, RUN_SCRATCH_ROOT, 0755) < 0)
        die("prepare %s", dir);
    int stub = openat(fd, RUN_STUB, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *failed = "";
    if (stub < 0 || cb_run_apply_stub(spec->stub_plan, spec->stub_plan_len, stub, NULL, &failed) < 0)
        die("make the mount point /%s", failed);
    close(stub);
    static const char *const names[] = {RUN_HOSTS, RUN_RESOLV, RUN_HOSTNAME};
    for (size_t i = 0; i < 3; i++) {
        const char *text = spec->etc_text[i];
        if (text == NULL)
            continue;
        int f = openat(fd, names[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        size_t len = strlen(text);
        if (f < 0 || write(f, text, len) != (ssize_t)len)
            die("write the step's %s", names[i]);
        close(f);
    }
    close(fd);
}

void cb_run_child(const cb_run_spec_t *spec, int errfd, int outfd) {
    errfd_g = errfd;
    /* The caller's umask is not the step's (docker's is 0022). */
    umask(022);
    cb_error_t *err = NULL;
    /* fuse-overlayfs: the root is mounted already, in the namespace its
     * daemon shares; pivot_root must not move the daemon's root too. */
    if (spec->rootfs == CB_ROOTFS_FUSE && unshare(CLONE_NEWNS) < 0)
        die("create the container's mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("make the mount namespace private");

    char opts[4096], root[4096], scratch[4096];
    snprintf(root, sizeof root, "%s/%s", spec->dir, RUN_ROOTFS);
    /* Where the stub and the /etc files are. */
    const char *stub_dir = spec->dir;
    if (spec->rootfs == CB_ROOTFS_OVERLAY) {
        memcpy(scratch, root, sizeof scratch);
        make_scratch(spec, scratch);
        stub_dir = scratch;
    }
    int n = snprintf(opts, sizeof opts, "lowerdir=%s/%s:%s,upperdir=%s/%s,workdir=%s/%s,userxattr",
                     stub_dir, RUN_STUB, spec->lower, spec->dir, RUN_UPPER, spec->dir, RUN_WORK);
    if (n < 0 || (size_t)n >= sizeof opts)
        die("overlay options too long");
    if (spec->rootfs == CB_ROOTFS_COPY) {
        /* pivot_root needs a mount point: the copy bound onto itself. */
        if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
            die("bind the root file system copy");
    } else if (spec->rootfs == CB_ROOTFS_OVERLAY) {
        size_t len = strlen(root);
        snprintf(root + len, sizeof root - len, "/%s", RUN_SCRATCH_ROOT);
        if (mount("overlay", root, "overlay", 0, opts) < 0) {
            exit_code_g = RUN_OVERLAY_REFUSED;
            die("the kernel refused an overlay mount in a user namespace (%s)", opts);
        }
    }
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        die("open %s", root);

    mount_fs(rootfd, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    protect_proc(rootfd);
    make_dev(rootfd);
    make_sys(rootfd);
    static const char *const etc[][2] = {
        {RUN_HOSTS, "/etc/hosts"}, {RUN_RESOLV, "/etc/resolv.conf"}, {RUN_HOSTNAME, "/etc/hostname"}};
    for (size_t i = 0; i < 3; i++) {
        if (spec->etc_text[i] == NULL)
            continue; /* the image's /etc is not a directory */
        char src[4096];
        snprintf(src, sizeof src, "%s/%s", stub_dir, etc[i][0]);
        if (bind_mount(rootfd, src, etc[i][1], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false) < 0)
            die("bind %s", etc[i][1]);
    }
    step_mounts(spec, rootfd);

    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
        die("sethostname");
    if (spec->network != CB_NET_HOST && cb_run_loopback_up(&err) < 0)
        die_err(err, spec->network == CB_NET_NONE ? "network none" : "network private");

    if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        die("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        die("detach the old root");
    if (chdir("/") < 0)
        die("chdir /");
    close(rootfd);
    make_cwd(spec->cwd && spec->cwd[0] ? spec->cwd : "/");

    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
        die("set up stdin/stdout/stderr");
    /* Nothing the builder (or whoever ran it) has open reaches the step: a
     * descriptor of a host directory would be a way out of the container.
     * Close-on-exec rather than closed: errfd must last until execve. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3; fd < 65536; fd++)
            if (fd != errfd)
                (void)close(fd);
    }

    char prog_buf[4096];
    const char *prog = find_program(spec->argv[0], spec->env, prog_buf, sizeof prog_buf);

    if (cb_run_caps_limit(true, &err) < 0)
        die_err(err, "capabilities");
    gid_t groups[64];
    size_t ng = spec->ngroups < 64 ? spec->ngroups : 64;
    for (size_t i = 0; i < ng; i++)
        groups[i] = spec->groups[i];
    if (setgroups(ng, groups) < 0)
        die("setgroups");
    if (setresgid(spec->gid, spec->gid, spec->gid) < 0)
        die("setgid %u", spec->gid);
    if (setresuid(spec->uid, spec->uid, spec->uid) < 0)
        die("setuid %u", spec->uid);
    if (cb_run_seccomp_install(&err) < 0)
        die_err(err, "seccomp");
    execve(prog, spec->argv, spec->env);
    die("exec %s", prog);
}
