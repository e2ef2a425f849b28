/* The default seccomp filter of a RUN step, after Docker's default profile,
 * see run_security.h. Docker's profile denies by default and lists what is
 * allowed; this one allows by default and lists what Docker takes away from
 * a container without extra capabilities, so a syscall newer than this list
 * works as it would on the host. */
#include "builder/run_security.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* Syscalls that fail with EPERM. The 32-bit and time64 twins of listed calls
 * (umount, stime, clock_settime64, clock_adjtime64) are here too, so the x86
 * filter has no way around them. */
static const char *const blocked[] = {
    /* keyrings are not namespaced */
    "keyctl", "add_key", "request_key",
    /* kernel programming, tracing and profiling */
    "bpf", "perf_event_open", "lookup_dcookie", "userfaultfd", "fanotify_init",
    /* modules and kexec */
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module", "nfsservctl", "uselib",
    /* file handles can name files outside the root */
    "open_by_handle_at", "name_to_handle_at",
    /* mounts, old and new API: the runner has made every mount by now */
    "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    /* host-wide state */
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "sethostname",
    "setdomainname", "settimeofday", "stime", "clock_settime", "clock_settime64",
    "clock_adjtime", "clock_adjtime64", "adjtimex",
    /* namespaces: a step gets the ones the runner made, no more */
    "setns", "unshare",
    /* other processes' memory, hardware access, old x86 modes */
    "kcmp", "process_vm_readv", "process_vm_writev", "iopl", "ioperm", "vm86", "vm86old",
};

/* clone's flags that make namespaces. CLONE_NEWTIME is left out: clone
 * cannot take it (its bit is part of the exit signal there), only clone3 and
 * unshare can, and both are blocked. */
static const uint64_t clone_ns_flags[] = {
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

static void seccomp_releasep(scmp_filter_ctx *ctx) {
    if (*ctx)
        seccomp_release(*ctx);
}
#define cb_autoseccomp __attribute__((cleanup(seccomp_releasep)))

/* A comparison on the first argument. libseccomp's SCMP_A0 leaves datum_b
 * out for one-datum operators, which clang's -Wmissing-field-initializers
 * rejects. For SCMP_CMP_MASKED_EQ, a is the mask and b the value. */
static struct scmp_arg_cmp arg0(enum scmp_compare op, uint64_t a, uint64_t b) {
    return (struct scmp_arg_cmp){.arg = 0, .op = op, .datum_a = a, .datum_b = b};
}

/* Adds a rule for a syscall by name; a name this libseccomp does not know
 * is skipped. libseccomp returns -errno. */
static int block(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                 const struct scmp_arg_cmp *cmp, cb_error_t **err) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* unknown to this libseccomp: nothing to block */
    int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
    if (rc < 0)
        return cb_error_set(err, -rc, "seccomp: add the rule for %s", name);
    return 0;
}

/* personality(2) with one of Docker's allowed values only: PER_LINUX (0),
 * PER_LINUX32 (0x8), UNAME26 (0x20000), PER_LINUX32|UNAME26 (0x20008) and the
 * query 0xffffffff. A rule cannot compare an argument twice (libseccomp 2.5
 * says EINVAL) and the rules of one syscall are or-ed, so "none of five
 * values" is built from rules that each match only values outside the set:
 *   - anything above 32 bits (the kernel reads an unsigned int; Docker's
 *     exact 64-bit matches refuse these too);
 *   - let A be the 30 bits other than 0x8 and 0x20000. If A's bits of the
 *     value are neither all clear nor all set, then going round A's bits in
 *     a circle some set bit is followed by a clear one: one rule per
 *     neighbouring pair (set, clear);
 *   - A all set, yet bit 0x8 or bit 0x20000 clear: two rules.
 * What is left is A all clear (0, 0x8, 0x20000, 0x20008) or everything set
 * (0xffffffff), the allowed values. */
static int block_personality(scmp_filter_ctx ctx, cb_error_t **err) {
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    const uint64_t a = UINT32_MAX & ~UINT64_C(0x20008);
    struct scmp_arg_cmp above = arg0(SCMP_CMP_GT, UINT32_MAX, 0);
    if (block(ctx, eperm, "personality", 1, &above, err) < 0)
        return -1;

    int bits[32], n = 0;
    for (int b = 0; b < 32; b++)
        if (a & (UINT64_C(1) << b))
            bits[n++] = b;
    for (int i = 0; i < n; i++) {
        uint64_t set = UINT64_C(1) << bits[i], clear = UINT64_C(1) << bits[(i + 1) % n];
        struct scmp_arg_cmp cmp = arg0(SCMP_CMP_MASKED_EQ, set | clear, set);
        if (block(ctx, eperm, "personality", 1, &cmp, err) < 0)
            return -1;
    }
    const struct scmp_arg_cmp all_a[] = {
        arg0(SCMP_CMP_MASKED_EQ, a | 0x8, a),
        arg0(SCMP_CMP_MASKED_EQ, a | 0x20000, a),
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(all_a); i++)
        if (block(ctx, eperm, "personality", 1, &all_a[i], err) < 0)
            return -1;
    return 0;
}

/* The compat architectures of the native one: a filter only sees syscalls of
 * the architectures it was built for, and libseccomp kills a process that
 * makes a syscall of any other (its default bad-architecture action). */
static int add_arches(scmp_filter_ctx ctx, cb_error_t **err) {
    uint32_t extra[2] = {0, 0};
    switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
        extra[0] = SCMP_ARCH_X86;
        extra[1] = SCMP_ARCH_X32;
        break;
    case SCMP_ARCH_AARCH64:
        extra[0] = SCMP_ARCH_ARM;
        break;
    default:
        break;
    }
    for (size_t i = 0; i < CB_ARRAY_LEN(extra) && extra[i]; i++) {
        int rc = seccomp_arch_add(ctx, extra[i]);
        if (rc < 0 && rc != -EEXIST)
            return cb_error_set(err, -rc, "seccomp: add architecture %#x", (unsigned)extra[i]);
    }
    return 0;
}

/* Builds the filter with libseccomp and keeps its BPF program. */
static int compile_filter(struct sock_fprog *out, cb_error_t **err) {
    cb_autoseccomp scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return cb_error_set(err, ENOMEM, "seccomp: create the filter");
    if (add_arches(ctx, err) < 0)
        return -1;
    /* A binary tree of the syscall numbers rather than a linear list: the
     * kernel emulates the filter for every syscall number of each
     * architecture when it loads it (to cache the always-allowed ones),
     * so each step's load costs in proportion to the depth a syscall
     * reaches, not only to the program's length. libseccomp before 2.5
     * refuses the attribute (-EINVAL): the linear program is as correct. */
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

    for (size_t i = 0; i < CB_ARRAY_LEN(blocked); i++)
        if (block(ctx, SCMP_ACT_ERRNO(EPERM), blocked[i], 0, NULL, err) < 0)
            return -1;
    if (block_personality(ctx, err) < 0)
        return -1;

    /* clone: one rule per namespace flag, any of them set gives EPERM. The
     * flags are the first argument on x86, x86_64, arm and aarch64, the
     * architectures added above; s390x passes them second and would need
     * SCMP_A1. */
    for (size_t i = 0; i < CB_ARRAY_LEN(clone_ns_flags); i++) {
        struct scmp_arg_cmp cmp = arg0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
        if (block(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &cmp, err) < 0)
            return -1;
    }
    /* clone3 passes its flags in memory a filter cannot read: ENOSYS makes
     * glibc (fork, posix_spawn, pthread_create) fall back to clone. */
    if (block(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err) < 0)
        return -1;

    /* libseccomp 2.5 exports to a file descriptor only. */
    cb_autoclose int fd = memfd_create("cbuild-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "seccomp: memfd_create");
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0)
        return cb_error_set(err, -rc, "seccomp: export the filter");
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cb_error_set(err, errno, "seccomp: stat the exported filter");
    size_t n = (size_t)st.st_size / sizeof(struct sock_filter);
    if (n == 0 || n > BPF_MAXINSNS || (size_t)st.st_size % sizeof(struct sock_filter))
        return cb_error_set(err, EINVAL, "seccomp: exported filter of %lld bytes", (long long)st.st_size);
    struct sock_filter *prog = cb_xmalloc((size_t)st.st_size);
    errno = 0;
    if (pread(fd, prog, (size_t)st.st_size, 0) != st.st_size) {
        free(prog);
        return cb_error_set(err, errno ? errno : EIO, "seccomp: read the exported filter");
    }
    out->len = (unsigned short)n;
    out->filter = prog;
    return 0;
}

/* Compiled once per process: a RUN child only loads the program, which
 * spares each step libseccomp's work and the copy-on-write faults of its
 * allocations in a forked child. */
static struct sock_fprog filter_prog;

int cb_run_seccomp_prepare(cb_error_t **err) {
    if (filter_prog.filter)
        return 0;
    return compile_filter(&filter_prog, err);
}

const struct sock_filter *cb_run_seccomp_program(size_t *len) {
    *len = filter_prog.len;
    return filter_prog.filter;
}

int cb_run_seccomp_install(cb_error_t **err) {
    if (cb_run_seccomp_prepare(err) < 0)
        return -1;
    /* Lets an unprivileged process load a filter, and keeps setuid and file
     * capabilities from granting anything after execve. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return cb_error_set(err, errno, "seccomp: set no_new_privs");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter_prog, 0, 0) < 0)
        return cb_error_set(err, errno, "seccomp: load the filter");
    return 0;
}
