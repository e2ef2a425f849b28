/* Shared by the runner's host side (run_container.c, run_stub.c) and its
 * child side (run_child.c). Not an API. */
#ifndef CB_BUILDER_RUN_PRIVATE_H
#define CB_BUILDER_RUN_PRIVATE_H

#include <signal.h>
#include <sys/types.h>

#include "builder/run.h"
#include "common/util.h"

/* Names inside the step's directory (relative to the workspace). */
#define RUN_STUB "stub"
#define RUN_UPPER "upper"
#define RUN_WORK "work"
#define RUN_ROOTFS "rootfs"
#define RUN_HOSTS "hosts"
#define RUN_RESOLV "resolv.conf"
#define RUN_HOSTNAME "hostname"
#define RUN_SECRETS "secrets"
#define RUN_FUSE_LOG "fuse.log"
#define RUN_SLIRP_LOG "slirp.log"
/* Kernel overlayfs: inside RUN_ROOTFS, on the tmpfs the step's process
 * mounts there, the stub and the mount point of the overlay. */
#define RUN_SCRATCH_ROOT "root"

/* The exit status of the container's pid 1 (or of the intermediate child,
 * for fuse-overlayfs) when the overlay could not be mounted (its text is
 * on errfd too). */
#define RUN_OVERLAY_REFUSED 125

/* The last (at most cap - 1) bytes of the file at path, without trailing
 * newlines, in buf; "" when it cannot be read. (A helper's output, for an
 * error message.) */
void cb_run_file_tail(const char *path, char *buf, size_t cap);

/* name's path in PATH (an executable regular file), or NULL. Caller frees. */
char *cb_run_find_tool(const char *name);

/* fuse-overlayfs (run_fuse.c), in the intermediate child: in its own
 * (private) mount namespace, mounts the step's root at DIR/rootfs over the
 * same layers as the kernel overlay would use, with the daemon as its
 * child (killed should this process die). Returns the daemon's pid, or -1
 * with the reason in msg. */
pid_t cb_run_fuse_mount(const cb_run_spec_t *spec, char *msg, size_t cap);
/* After the container's pid 1 is gone: unmounts the root, and waits for
 * the daemon to exit (every write it was asked for is then in the upper
 * dir). -1 with the reason in msg when either fails. */
int cb_run_fuse_unmount(const cb_run_spec_t *spec, pid_t daemon, char *msg, size_t cap);

/* slirp4netns for --network private (run_slirp.c). */
typedef struct cb_slirp {
    pid_t pid;
    int exit_fd; /* closing it tells slirp4netns to exit */
} cb_slirp_t;

/* Starts prog for the network namespace of target, with its output in
 * log_path, and waits until it has configured the tap device (or failed;
 * the error then has the end of its output). Gives up on SIGINT or SIGTERM
 * (common/interrupt.h). */
int cb_slirp_start(const char *prog, pid_t target, const char *log_path, cb_slirp_t *s, cb_error_t **err);
/* Stops it and reaps it; nothing of it is left. s may be unstarted (pid 0). */
void cb_slirp_stop(cb_slirp_t *s);

/* The container's pid 1: sets up the root file system and executes the
 * step. Reports a setup failure as text on errfd and exits 127; errfd is
 * close-on-exec, so a successful execve closes it without a word. */
_Noreturn void cb_run_child(const cb_run_spec_t *spec, int errfd, int outfd);

/* The step's process, cloned straight into its namespaces as their pid 1
 * (by the builder or by the spawner): waits for the host side's go on the
 * sync pipes (id maps written; for --network private, slirp4netns
 * started), then becomes cb_run_child. */
_Noreturn void cb_run_direct_child(const cb_run_spec_t *spec, int sync_out, int sync_in, int errfd, int outfd);

/* Has the spawner (run_spawner.c, started on first use) clone the step's
 * process with flags (CLONE_NEW*, SIGCHLD) as a child of this process,
 * running cb_run_direct_child with fds (sync_out, sync_in, errfd, outfd;
 * they stay ours to close). The pid, or -1 with errno: then the caller
 * clones it itself. */
pid_t cb_run_spawn(const cb_run_spec_t *spec, unsigned long flags, const int fds[4]);

/* The stub's plan (run_stub.c): the mount points the container needs (and
 * every RUN --mount target) that the lower tree lacks, plus the
 * directories above them with the lower tree's metadata, as records
 * appended to plan for cb_run_apply_stub. *etc_files tells whether
 * /etc/hosts, /etc/resolv.conf and /etc/hostname can be mounted. With
 * in_place (copy mode), the plan is for a copy of the lower tree: existing
 * entries are used as they are and only the times of their directories
 * are put back. */
int cb_run_plan_stub(int lowerfd, const cb_run_spec_t *spec, bool in_place, bool *etc_files, cb_buf_t *plan,
                     cb_error_t **err);
/* Carries out a plan in stubfd with syscalls only: nothing is allocated
 * unless created is given (copy mode: it gets the names made, parents
 * first, for removing them after the step). -1 with errno, and *failed
 * pointing at the path (in the plan) whose operation failed. */
int cb_run_apply_stub(const char *plan, size_t len, int stubfd, cb_strv_t *created, const char **failed);

#endif
