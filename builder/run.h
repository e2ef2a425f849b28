/* The container a RUN step executes in (DESIGN.md "The runner").
 *
 * cb_run_container starts a child (cloned, as a child of the builder, by
 * a small spawner process: builder/run_spawner.c) into new user, mount,
 * pid, ipc and uts namespaces (and a network namespace: with only loopback for --network
 * none; for private, also a tap device that slirp4netns, started by the
 * host side once the namespace exists and stopped when the step ends,
 * connects to the host's network). The user namespace maps ids 0..N-1 onto
 * the same ids of the builder's own namespace (every id the builder has),
 * so the step's root holds capabilities only over the container's
 * namespaces.
 *
 * Root file system (CB_ROOTFS_OVERLAY): kernel overlayfs (with userxattr, as it is mounted in a
 * user namespace): lower = a stub dir over the stage's root file system,
 * upper = WORKSPACE/DIR/upper, which after the step holds exactly its
 * changes (whiteouts as 0/0 character devices, opaque dirs with
 * user.overlay.opaque). The stub provides the mount points /proc, /dev,
 * /sys and /etc/hosts, /etc/resolv.conf, /etc/hostname with the metadata
 * the stage's tree has, so mounting them writes nothing to the upper dir.
 * CB_ROOTFS_FUSE: the same layers through fuse-overlayfs, whose daemon runs
 * outside the container's pid and mount namespaces (the step cannot see or
 * kill it) and is unmounted and waited for before the upper dir is read;
 * its upper dir may hold whiteouts as ".wh." files and opaque markers as
 * ".wh..wh..opq" files or user.fuseoverlayfs.opaque (layer/upper.h).
 * CB_ROOTFS_COPY: a copy of the tree, the layer being the difference.
 *
 * Inside: a fresh /proc, a tmpfs /dev with null zero full random urandom
 * tty bound from the host, devpts, /dev/shm; /sys bound read-only when
 * allowed; the step's hosts/resolv.conf/hostname files; pivot_root; the
 * step's mounts; then Docker's default capabilities, USER's ids and groups,
 * no_new_privs and the default seccomp filter (builder/run_security.h),
 * and execve. stdin is /dev/null; stdout and stderr stream to the
 * builder's stderr as they come, and the last lines are kept for the error
 * message of a failing step.
 *
 * SIGINT or SIGTERM during a step (as common/interrupt.h records them: the
 * build installs its handler) kills everything in its pid namespace;
 * the mounts die with the mount namespace. cb_run_container then fails with
 * CB_ERR_INTERRUPTED. */
#ifndef CB_BUILDER_RUN_H
#define CB_BUILDER_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef enum cb_run_network { CB_NET_HOST, CB_NET_NONE, CB_NET_PRIVATE } cb_run_network_t;

/* How the step's root file system is made, in the order they are tried. */
typedef enum cb_run_rootfs { CB_ROOTFS_OVERLAY, CB_ROOTFS_FUSE, CB_ROOTFS_COPY } cb_run_rootfs_t;

/* "kernel overlayfs", "fuse-overlayfs", "copy". */
const char *cb_run_rootfs_name(cb_run_rootfs_t r);

/* Whether fuse-overlayfs can be used here: the program in PATH and
 * /dev/fuse open for reading and writing. When not, *why (caller frees)
 * says what is missing. */
bool cb_run_fuse_usable(char **why);

/* The network helper private needs (slirp4netns in PATH); NULL and *why
 * (caller frees) when there is none. Caller frees the path. */
char *cb_run_net_helper(char **why);

/* A mount prepared on the host side (RUN --mount, secrets). */
typedef struct cb_run_mount {
    char *source;   /* host path to bind; NULL for a tmpfs */
    char *target;   /* absolute path in the container */
    bool readonly;
    bool is_file;   /* source is a file (secrets): the mount point is a file */
    char *overlay_dir; /* rw bind: writes go to an overlay upper in this dir, then vanish */
    bool secret;    /* source is a memory file: copied to a tmpfs only the step's mount
                       namespace has, with the source's owner and mode, then bound */
    uint64_t tmpfs_size; /* bytes, 0: the kernel's default */
} cb_run_mount_t;

typedef struct cb_run_spec {
    const char *workspace; /* directory holding lower and dir */
    const char *lower;     /* the stage's root file system, relative to workspace */
    const char *dir;       /* an empty directory for this step, relative to workspace */
    char *const *argv;     /* argv[0] without '/' is looked up in the step's PATH */
    char *const *env;      /* "K=V", NULL-terminated */
    const char *cwd;       /* created when missing, as runc does */
    uint32_t uid, gid;
    const uint32_t *groups;
    size_t ngroups;
    const char *hostname;
    cb_run_network_t network;
    const char *net_helper; /* private: slirp4netns' path (cb_run_net_helper) */
    const cb_run_mount_t *mounts;
    size_t nmounts;
    cb_run_rootfs_t rootfs;
    /* Called (when set) before the builder clones itself for the step (no
     * spawner, or a secret mount): a raw clone runs none of fork()'s
     * handlers, so no other thread of the builder may hold a lock then (the
     * build's sealer must be idle). */
    int (*quiesce)(void *ctx, cb_error_t **err);
    void *quiesce_ctx;
    /* Filled in by cb_run_container for the step's process (callers leave
     * them zero): the texts of /etc/hosts, /etc/resolv.conf and
     * /etc/hostname (NULL when they are not mounted), and the stub's plan
     * (run_stub.c), which for kernel overlayfs the process carries out on a
     * tmpfs of its own mount namespace, with those files beside it. */
    const char *etc_text[3];
    const char *stub_plan;
    size_t stub_plan_len;
} cb_run_spec_t;

typedef struct cb_run_result {
    int status;   /* exit code, or 128 + signal number */
    char *tail;   /* the output's last lines (at most ~4 KiB), caller frees */
    char *upper;  /* WORKSPACE/DIR/upper: the step's changes, caller frees */
    char *rootfs; /* copy mode: WORKSPACE/DIR/rootfs, the tree after the step */
    /* The overlay (kernel or fuse) could not be mounted; nothing ran: try
     * the next method. */
    bool rootfs_refused;
} cb_run_result_t;

/* Runs the step; 0 whenever the command ran, whatever its status. Fails
 * when the container cannot be set up (the error says which part) or when
 * interrupted. */
int cb_run_container(const cb_run_spec_t *spec, cb_run_result_t *res, cb_error_t **err);
void cb_run_result_clear(cb_run_result_t *res);

#endif
