/* Shared by the runner's host side (run_container.c, run_stub.c) and its
 * child side (run_child.c). Not an API. */
#ifndef CB_BUILDER_RUN_PRIVATE_H
#define CB_BUILDER_RUN_PRIVATE_H

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

/* The exit status of the container's pid 1 when the kernel refused the
 * overlay mount (its text is on errfd too). */
#define RUN_OVERLAY_REFUSED 125

/* The container's pid 1: sets up the root file system and executes the
 * step. Reports a setup failure as text on errfd and exits 127; errfd is
 * close-on-exec, so a successful execve closes it without a word. */
_Noreturn void cb_run_child(const cb_run_spec_t *spec, int errfd, int outfd);

/* Makes STUB's tree: the mount points the container needs (and every
 * RUN --mount target) that the lower tree lacks, plus the directories
 * above them with the lower tree's metadata. *etc_files tells whether
 * /etc/hosts, /etc/resolv.conf and /etc/hostname can be mounted.
 * With created (copy mode), stubfd is a copy of the lower tree: the
 * missing mount points are made in it, existing entries are used as they
 * are, and created gets the names made (parents first), for
 * cb_run_remove_stubs. */
int cb_run_make_stub(int lowerfd, int stubfd, const cb_run_spec_t *spec, bool *etc_files,
                     cb_strv_t *created, cb_error_t **err);

#endif
