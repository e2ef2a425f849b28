/* The step's root through fuse-overlayfs, for kernels that refuse overlayfs
 * in a user namespace. Runs in the intermediate child (run_container.c),
 * which is in the step's user and mount namespaces but not in its pid
 * namespace: the daemon lives there too, where the step can neither see
 * nor signal it, and the container's pid 1 takes a copy of this mount
 * namespace before pivot_root (which would otherwise move the daemon's own
 * root into the file system it serves).
 *
 * The daemon runs in the foreground as our child with PR_SET_PDEATHSIG, so
 * it cannot outlive us; the mount is ready when DIR/rootfs is a different
 * file system than before. After the step, unmounting ends the daemon's
 * session and it exits; once it has, the upper dir holds every change.
 * fuse-overlayfs adds allow_other itself when run as (namespace) root, so
 * a step's USER other than root may use the mount. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder/run_private.h"

#define MOUNT_TIMEOUT_MS 30000
#define EXIT_TIMEOUT_MS 10000

static void sleep_ms(long ms) {
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000}, NULL);
}

/* The end of the daemon's output, appended to msg. */
static void add_log(const cb_run_spec_t *spec, char *msg, size_t cap) {
    char path[4096], buf[512];
    snprintf(path, sizeof path, "%s/%s", spec->dir, RUN_FUSE_LOG);
    cb_run_file_tail(path, buf, sizeof buf);
    if (buf[0] == '\0')
        return;
    size_t len = strlen(msg);
    snprintf(msg + len, cap - len, ": %s", buf);
}

pid_t cb_run_fuse_mount(const cb_run_spec_t *spec, char *msg, size_t cap) {
    char opts[4096], root[4096], log[4096];
    /* Relative to the workspace, our working directory, as for the kernel
     * overlay: the paths stay short and free of the separators. */
    int n = snprintf(opts, sizeof opts, "lowerdir=%s/%s:%s,upperdir=%s/%s,workdir=%s/%s", spec->dir, RUN_STUB,
                     spec->lower, spec->dir, RUN_UPPER, spec->dir, RUN_WORK);
    if (n < 0 || (size_t)n >= sizeof opts) {
        snprintf(msg, cap, "fuse-overlayfs options too long");
        return -1;
    }
    snprintf(root, sizeof root, "%s/%s", spec->dir, RUN_ROOTFS);
    snprintf(log, sizeof log, "%s/%s", spec->dir, RUN_FUSE_LOG);
    struct stat before;
    if (stat(root, &before) < 0) {
        snprintf(msg, cap, "stat %s: %s", root, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, cap, "fork for fuse-overlayfs: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        execlp("fuse-overlayfs", "fuse-overlayfs", "-f", "-o", opts, root, (char *)NULL);
        dprintf(2, "cannot run fuse-overlayfs: %s\n", strerror(errno));
        _exit(127);
    }
    for (int waited = 0; waited < MOUNT_TIMEOUT_MS; waited++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            snprintf(msg, cap, "fuse-overlayfs could not mount the root file system (exit %d)",
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            add_log(spec, msg, cap);
            return -1;
        }
        struct stat now;
        if (stat(root, &now) == 0 && now.st_dev != before.st_dev)
            return pid;
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    snprintf(msg, cap, "fuse-overlayfs did not mount the root file system within %d s", MOUNT_TIMEOUT_MS / 1000);
    add_log(spec, msg, cap);
    return -1;
}

int cb_run_fuse_unmount(const cb_run_spec_t *spec, pid_t daemon, char *msg, size_t cap) {
    char root[4096];
    snprintf(root, sizeof root, "%s/%s", spec->dir, RUN_ROOTFS);
    int rc = 0;
    /* The container's copy of the mount went with its namespace: ours is
     * the last, and nothing uses it. A lazy unmount only if that is wrong. */
    if (umount2(root, 0) < 0 && umount2(root, MNT_DETACH) < 0) {
        snprintf(msg, cap, "unmount fuse-overlayfs from %s: %s", root, strerror(errno));
        rc = -1;
    }
    int st = 0;
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(daemon, &st, WNOHANG);
        if (r == daemon || (r < 0 && errno != EINTR))
            break;
        if (waited == EXIT_TIMEOUT_MS) {
            kill(daemon, SIGKILL);
            waitpid(daemon, &st, 0);
            if (rc == 0)
                snprintf(msg, cap, "fuse-overlayfs did not exit after the unmount; killed");
            return -1;
        }
        sleep_ms(1);
    }
    if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        snprintf(msg, cap, "fuse-overlayfs exited with status %d after the unmount",
                 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        add_log(spec, msg, cap);
        rc = -1;
    }
    return rc;
}
