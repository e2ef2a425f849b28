/* The RUN child's last steps before execve: capabilities, the seccomp filter
 * and the loopback interface. The defaults are Docker's for a container, so a
 * RUN step behaves as it would under `docker build`.
 *
 *   - cb_run_caps_limit keeps Docker's default capability set (CHOWN,
 *     DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP,
 *     SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE). Everything
 *     else leaves the bounding set, so no later execve of a file with file
 *     capabilities can bring it back; the ambient and inheritable sets are
 *     emptied (as Docker has done since CVE-2022-24769: an inheritable set
 *     would let a non-root user gain capabilities from a file's inheritable
 *     bits). The capabilities only count inside the step's user namespace.
 *   - cb_run_seccomp_install sets no_new_privs and loads a default-allow
 *     filter that makes the kernel's administrative interfaces fail with
 *     EPERM: keyrings, bpf, perf, modules, kexec, mounts and the new mount
 *     API, new namespaces (unshare, setns, clone with CLONE_NEW* flags),
 *     clocks, swap, reboot, accounting, quotas, file handles, cross-process
 *     memory access, personality beyond Docker's allowed values. Most of
 *     these need capabilities the step no longer has; the filter is the second
 *     wall, as in Docker, against kernel bugs in code reachable from a user
 *     namespace. clone3 fails with ENOSYS, because a filter cannot look into
 *     its argument struct; libc then falls back to clone, whose flags it can.
 *   - cb_run_loopback_up brings `lo` up in the step's fresh network namespace
 *     (a new namespace starts with lo down, so even 127.0.0.1 is unreachable).
 *
 * Order in the child, after pivot_root and the last mount:
 *
 *   1. cb_run_loopback_up      (needs CAP_NET_ADMIN: before the caps go)
 *   2. cb_run_caps_limit       (still uid 0 in the user namespace)
 *   3. setgroups, setgid, setuid to the step's USER
 *   4. cb_run_seccomp_install  (blocks mount, so after every mount; needs no
 *                               capability thanks to no_new_privs)
 *   5. execve
 *
 * A setuid to a non-zero uid in step 3 clears the permitted and effective sets,
 * as the kernel does for any process leaving uid 0 without PR_SET_KEEPCAPS
 * (which cb_run_caps_limit clears): a non-root USER runs without capabilities,
 * as under Docker. Only the bounding set survives, which caps what a setuid
 * binary in the image can regain.
 *
 * Each function is plain C on syscalls and libseccomp, safe in a forked
 * child of a single-threaded parent; a failure is returned as a cb_error_t for
 * the caller to send back over its pipe.
 */
#ifndef CB_RUN_SECURITY_H
#define CB_RUN_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

struct sock_filter;

#include "common/error.h"

/* Drops every capability outside Docker's default set from the bounding set,
 * clears the ambient set and PR_SET_KEEPCAPS, and sets permitted and effective
 * to the default set (as far as the process holds it) and inheritable to
 * nothing. With keep_default false no capability is kept at all. */
int cb_run_caps_limit(bool keep_default, cb_error_t **err);
/* Reads the kernel's last capability once per process, so that the child
 * forked afterwards does not. */
void cb_run_caps_prepare(void);

/* Compiles the default filter (below) once per process; the parent calls it
 * before forking so that the child only loads the program. */
int cb_run_seccomp_prepare(cb_error_t **err);

/* The compiled program (after cb_run_seccomp_prepare), *len instructions;
 * the process keeps it. For tests. */
const struct sock_filter *cb_run_seccomp_program(size_t *len);

/* Sets no_new_privs and loads the default filter for the native architecture
 * plus its compat ones (x86 and x32 on x86_64, arm on aarch64), so a 32-bit
 * syscall cannot go around it. Syscalls this libseccomp does not know are
 * skipped. Nothing can be unblocked afterwards, not even by the caller. */
int cb_run_seccomp_install(cb_error_t **err);

/* Sets IFF_UP on `lo` in the current network namespace; 0 when it already is
 * up. Needs CAP_NET_ADMIN over the namespace. */
int cb_run_loopback_up(cb_error_t **err);

#endif
