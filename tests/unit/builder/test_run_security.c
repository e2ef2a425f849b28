/* The RUN child's security pieces (builder/run_security.h), each tried in a
 * forked child, since they cannot be undone. A child reports through its exit
 * status: 0 passed, CHILD_NO_USERNS when the kernel refused a user namespace
 * (the test is skipped), anything else failed, with the reason on stderr.
 *
 * The seccomp probes also run once without the filter, each in its own
 * grandchild: a probe whose unfiltered errno equals the expected one would
 * prove nothing, and the test says so. CB_TEST_VERBOSE=1 prints every
 * probe's errno with and without the filter. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/run_security.h"
#include "common/util.h"

#define CHILD_NO_USERNS 77
#define CHILD_SINGLE_ID_MAP 78

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s (errno: %s)\n", __FILE__, __LINE__, \
                    #cond, strerror(errno));                                            \
            _exit(1);                                                                   \
        }                                                                               \
    } while (0)

/* The call must fail with errno e. */
#define CHECK_FAILS(call, e)                                                              \
    do {                                                                                  \
        errno = 0;                                                                        \
        long r_ = (long)(call);                                                           \
        int e_ = errno;                                                                   \
        if (r_ != -1 || e_ != (e)) {                                                      \
            fprintf(stderr, "%s:%d: %s returned %ld (errno: %s), want -1 with %s\n",       \
                    __FILE__, __LINE__, #call, r_, strerror(e_), #e);                     \
            _exit(1);                                                                     \
        }                                                                                 \
    } while (0)

/* A cbuild call that must succeed. */
#define CHECK_CB(call)                                                                 \
    do {                                                                               \
        cb_error_t *err = NULL;                                                        \
        if ((call) < 0) {                                                              \
            char *msg = cb_error_message(err);                                         \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, msg); \
            _exit(1);                                                                  \
        }                                                                              \
    } while (0)

/* The exit status of a child, or 128 + the signal that killed it. */
static int wait_status(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A forked child must die of its signals: cmocka's handlers would carry on
 * with the next test inside it. */
static void child_default_signals(void) {
    const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};
    for (size_t i = 0; i < CB_ARRAY_LEN(sigs); i++)
        signal(sigs[i], SIG_DFL);
}

static int run_child(int (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        child_default_signals();
        _exit(fn());
    }
    return wait_status(pid);
}

static bool write_file(pid_t pid, const char *name, const char *data) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, data, strlen(data)) == (ssize_t)strlen(data);
    close(fd);
    return ok;
}

/* The parent's half of the id maps: uid and gid 0 are ours. With two_ids and
 * privilege over our own namespace, id 1000 maps to 100000 too (the step's
 * USER in the setuid test); without it the single map needs setgroups denied. */
static char map_child(pid_t pid, bool two_ids) {
    char uid_map[64], gid_map[64];
    if (two_ids) {
        snprintf(uid_map, sizeof uid_map, "0 %u 1\n1000 100000 1\n", (unsigned)geteuid());
        snprintf(gid_map, sizeof gid_map, "0 %u 1\n1000 100000 1\n", (unsigned)getegid());
        if (write_file(pid, "uid_map", uid_map) && write_file(pid, "gid_map", gid_map))
            return 'w';
        /* A failed write leaves the map unset: try the single map. */
    }
    snprintf(uid_map, sizeof uid_map, "0 %u 1\n", (unsigned)geteuid());
    snprintf(gid_map, sizeof gid_map, "0 %u 1\n", (unsigned)getegid());
    if (write_file(pid, "uid_map", uid_map) && write_file(pid, "setgroups", "deny\n") &&
        write_file(pid, "gid_map", gid_map))
        return 's';
    return 0;
}

static char userns_map_kind; /* 'w' two ids mapped, 's' only uid 0 */

/* Runs fn in a child that has unshared a user namespace (plus flags), root
 * there once the parent has written its maps. */
static int run_in_userns(int flags, bool two_ids, int (*fn)(void)) {
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        child_default_signals();
        close(up[0]);
        close(down[1]);
        char c = 'u';
        if (unshare(CLONE_NEWUSER | flags) < 0) {
            fprintf(stderr, "unshare(CLONE_NEWUSER|%#x): %s\n", (unsigned)flags, strerror(errno));
            c = 'r';
        }
        if (write(up[1], &c, 1) != 1 || c == 'r')
            _exit(CHILD_NO_USERNS);
        if (read(down[0], &userns_map_kind, 1) != 1 || userns_map_kind == 0)
            _exit(2);
        _exit(fn());
    }
    close(up[1]);
    close(down[0]);
    char c = 0;
    if (read(up[0], &c, 1) == 1 && c == 'u') {
        char kind = map_child(pid, two_ids);
        if (kind == 0)
            fprintf(stderr, "cannot write the id maps of %d: %s\n", (int)pid, strerror(errno));
        if (write(down[1], &kind, 1) != 1)
            kill(pid, SIGKILL);
    }
    close(up[0]);
    close(down[1]);
    return wait_status(pid);
}

static void expect_passed(int status) {
    if (status == CHILD_NO_USERNS) {
        print_message("skipped: the kernel refuses user namespaces\n");
        skip();
    }
    if (status == CHILD_SINGLE_ID_MAP) {
        print_message("skipped: only a single-id map is possible "
                      "(not root over our own user namespace)\n");
        skip();
    }
    assert_int_equal(status, 0);
}

/* --- capabilities --- */

static uint64_t docker_default_caps(void) {
    const int caps[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,
                        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,  CAP_SETUID,
                        CAP_SETFCAP, CAP_SETPCAP,      CAP_KILL,    CAP_AUDIT_WRITE,
                        CAP_NET_BIND_SERVICE,          CAP_SYS_CHROOT};
    uint64_t mask = 0;
    for (size_t i = 0; i < CB_ARRAY_LEN(caps); i++)
        mask |= UINT64_C(1) << caps[i];
    return mask;
}

/* A hex field of /proc/self/status: "CapEff", "CapBnd", "Seccomp"... */
static uint64_t status_hex(const char *field) {
    FILE *f = fopen("/proc/self/status", "re");
    CHECK(f != NULL);
    char line[256];
    size_t n = strlen(field);
    uint64_t v = UINT64_MAX;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtoull(line + n + 1, NULL, 16);
    fclose(f);
    CHECK(v != UINT64_MAX);
    return v;
}

static void check_caps(uint64_t bounding, uint64_t permitted) {
    uint64_t bnd = status_hex("CapBnd"), prm = status_hex("CapPrm"), eff = status_hex("CapEff");
    uint64_t inh = status_hex("CapInh"), amb = status_hex("CapAmb");
    if (bnd != bounding || prm != permitted || eff != permitted || inh != 0 || amb != 0) {
        fprintf(stderr,
                "caps: bnd %#llx prm %#llx eff %#llx inh %#llx amb %#llx; "
                "want bnd %#llx prm=eff %#llx\n",
                (unsigned long long)bnd, (unsigned long long)prm, (unsigned long long)eff,
                (unsigned long long)inh, (unsigned long long)amb, (unsigned long long)bounding,
                (unsigned long long)permitted);
        _exit(1);
    }
}

static int caps_default_child(void) {
    /* Root in the namespaces it made, the child may set their hostname... */
    CHECK(sethostname("cb-before", 9) == 0);
    CHECK(status_hex("CapEff") & (UINT64_C(1) << CAP_SYS_ADMIN));
    CHECK_CB(cb_run_caps_limit(true, &err));
    check_caps(docker_default_caps(), docker_default_caps());
    /* ...and without CAP_SYS_ADMIN no longer. */
    CHECK_FAILS(sethostname("cb-after", 8), EPERM);
    return 0;
}

static void test_caps_default_set(void **state) {
    (void)state;
    expect_passed(run_in_userns(CLONE_NEWUTS, false, caps_default_child));
}

static int caps_none_child(void) {
    CHECK_CB(cb_run_caps_limit(false, &err));
    check_caps(0, 0);
    CHECK_FAILS(sethostname("cb-none", 7), EPERM);
    return 0;
}

static void test_caps_none(void **state) {
    (void)state;
    expect_passed(run_in_userns(CLONE_NEWUTS, false, caps_none_child));
}

/* The runner's order: limit, then become the step's USER. */
static int caps_setuid_child(void) {
    if (userns_map_kind != 'w')
        return CHILD_SINGLE_ID_MAP;
    CHECK_CB(cb_run_caps_limit(true, &err));
    CHECK(setgroups(0, NULL) == 0);
    CHECK(setgid(1000) == 0);
    CHECK(setuid(1000) == 0);
    check_caps(docker_default_caps(), 0);
    CHECK_FAILS(setuid(0), EPERM);
    return 0;
}

static void test_caps_cleared_by_setuid(void **state) {
    (void)state;
    expect_passed(run_in_userns(0, true, caps_setuid_child));
}

/* --- seccomp --- */

/* A probe makes one syscall and returns its errno, 0 when it succeeded. */
static int errno_of(long rc) {
    return rc == -1 ? errno : 0;
}

static int probe_keyctl(void) {
    return errno_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}
static int probe_unshare_user(void) {
    return errno_of(unshare(CLONE_NEWUSER));
}
static int probe_clone3(void) {
    return errno_of(syscall(SYS_clone3, NULL, 0));
}
/* Mount calls on a missing path fail with ENOENT before any permission
 * check, so without the filter they change nothing even as root. */
static int probe_mount(void) {
    return errno_of(mount("none", "/nonexistent/cbuild-probe", "tmpfs", 0, NULL));
}
static int probe_umount2(void) {
    return errno_of(umount2("/nonexistent/cbuild-probe", 0));
}
static int probe_bpf(void) {
    return errno_of(syscall(SYS_bpf, 0x7fff, NULL, 0));
}
static int probe_setns(void) {
    return errno_of(setns(-1, 0));
}
static int probe_perf_event_open(void) {
    return errno_of(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
}
/* clone as fork() would call it, plus a namespace flag. */
static int raw_clone(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        wait_status((pid_t)pid);
    return errno_of(pid);
}
static int probe_clone_newuser(void) {
    return raw_clone(CLONE_NEWUSER);
}
static int probe_clone_newns(void) {
    return raw_clone(CLONE_NEWNS);
}
static int probe_clone_newnet(void) {
    return raw_clone(CLONE_NEWNET);
}
static int probe_personality_addr_no_randomize(void) {
    return errno_of(syscall(SYS_personality, 0x0040000UL));
}
static int probe_personality_all_but_bit3(void) {
    return errno_of(syscall(SYS_personality, 0xfffffff7UL));
}
static int probe_personality_high_bits(void) {
    return errno_of(syscall(SYS_personality, 0x100000000UL));
}

#if defined(__x86_64__)
/* keyctl through the 32-bit entry (288 in the kernel's syscall_32.tbl). A
 * kernel without ia32 emulation answers int $0x80 with SIGSEGV; a filter
 * without the x86 arch would kill with SIGSYS. */
static int probe_int80_keyctl(void) {
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(288L), "b"((long)KEYCTL_GET_KEYRING_ID),
                       "c"((long)KEY_SPEC_SESSION_KEYRING), "d"(0L)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret < 0 && ret > -4096 ? (int)-ret : 0;
}
/* keyctl through the x32 numbers (same as x86_64's, plus the x32 bit); the
 * filter sees it even when the kernel has no x32 support (ENOSYS then). */
static int probe_x32_keyctl(void) {
    return errno_of(syscall(0x40000000 | SYS_keyctl, KEYCTL_GET_KEYRING_ID,
                            KEY_SPEC_SESSION_KEYRING, 0));
}
#endif

struct probe {
    const char *name;
    int (*fn)(void);
    int want;          /* errno with the filter */
    int unavailable;   /* a signal meaning the path does not exist here, or 0 */
};

static const struct probe probes[] = {
    {"keyctl", probe_keyctl, EPERM, 0},
    {"unshare(CLONE_NEWUSER)", probe_unshare_user, EPERM, 0},
    {"clone3", probe_clone3, ENOSYS, 0},
    {"mount", probe_mount, EPERM, 0},
    {"umount2", probe_umount2, EPERM, 0},
    {"bpf", probe_bpf, EPERM, 0},
    {"setns", probe_setns, EPERM, 0},
    {"perf_event_open", probe_perf_event_open, EPERM, 0},
    {"clone(CLONE_NEWUSER)", probe_clone_newuser, EPERM, 0},
    {"clone(CLONE_NEWNS)", probe_clone_newns, EPERM, 0},
    {"clone(CLONE_NEWNET)", probe_clone_newnet, EPERM, 0},
    {"personality(ADDR_NO_RANDOMIZE)", probe_personality_addr_no_randomize, EPERM, 0},
    {"personality(0xfffffff7)", probe_personality_all_but_bit3, EPERM, 0},
    {"personality(1 << 32)", probe_personality_high_bits, EPERM, 0},
#if defined(__x86_64__)
    {"keyctl via int $0x80 (x86)", probe_int80_keyctl, EPERM, SIGSEGV},
    {"keyctl via the x32 ABI", probe_x32_keyctl, EPERM, 0},
#endif
};

static int unfiltered[CB_ARRAY_LEN(probes)];

static void *thread_main(void *arg) {
    return arg;
}

static int seccomp_child(void) {
    for (size_t i = 0; i < CB_ARRAY_LEN(probes); i++)
        unfiltered[i] = run_child(probes[i].fn);

    CHECK_CB(cb_run_seccomp_install(&err));
    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    CHECK(status_hex("Seccomp") == 2); /* SECCOMP_MODE_FILTER */

    for (size_t i = 0; i < CB_ARRAY_LEN(probes); i++) {
        /* In a grandchild: a filter without the probe's arch kills it with
         * SIGSYS, and a broken filter changes nothing here. */
        const struct probe *p = &probes[i];
        int got = run_child(p->fn);
        if (getenv("CB_TEST_VERBOSE"))
            fprintf(stderr, "%s: %d without the filter, %d with it\n", p->name, unfiltered[i],
                    got);
        if (p->unavailable && got == 128 + p->unavailable && unfiltered[i] == got) {
            fprintf(stderr, "note: %s does not exist on this kernel (signal %d)\n", p->name,
                    p->unavailable);
            continue;
        }
        if (got != p->want) {
            fprintf(stderr, "%s with the filter: %s, want %s\n", p->name,
                    got >= 128 ? strsignal(got - 128) : strerror(got), strerror(p->want));
            _exit(1);
        }
        if (unfiltered[i] == p->want)
            fprintf(stderr, "note: %s fails with %s even without the filter here\n", p->name,
                    strerror(p->want));
    }

    /* What a RUN command needs keeps working. */
    CHECK(getpid() == (pid_t)syscall(SYS_getpid));
    int fds[2];
    char buf[3] = {0};
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], "ok", 2) == 2);
    CHECK(read(fds[0], buf, 2) == 2 && strcmp(buf, "ok") == 0);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    close(fd);
    /* Allowed personalities. */
    CHECK(syscall(SYS_personality, 0xffffffffUL) >= 0);
    CHECK(syscall(SYS_personality, 0x8UL) >= 0);
    CHECK(syscall(SYS_personality, 0x20008UL) >= 0);
    CHECK(syscall(SYS_personality, 0x0UL) >= 0);
    CHECK(syscall(SYS_personality, 0xffffffffUL) == 0);

    /* fork (glibc's clone without namespace flags) and exec. */
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    CHECK(wait_status(pid) == 0);
    /* posix_spawn and pthread_create try clone3 first and fall back to clone
     * on ENOSYS. */
    char *argv[] = {"true", NULL};
    CHECK(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0);
    CHECK(wait_status(pid) == 0);
    pthread_t t;
    void *ret = NULL;
    CHECK(pthread_create(&t, NULL, thread_main, (void *)buf) == 0);
    CHECK(pthread_join(t, &ret) == 0 && ret == buf);
    return 0;
}

static void test_seccomp_filter(void **state) {
    (void)state;
    expect_passed(run_child(seccomp_child));
}

/* The program's work per syscall, by running it as the kernel does
 * (classic BPF over struct seccomp_data): when it loads the filter, the
 * kernel runs it for every syscall number of each architecture, up to the
 * first load of an argument, to cache the syscalls always allowed
 * (seccomp_cache_prepare); so each step pays for the paths to the
 * decisions, not only for the program's length. Returns the action, or
 * ARG_LOADED at a load of anything but the number and the architecture;
 * *steps counts the instructions run. */
#define ARG_LOADED UINT32_MAX
static uint32_t bpf_run(const struct sock_filter *prog, size_t len, const struct seccomp_data *d, int *steps) {
    uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
    *steps = 0;
    for (size_t pc = 0; pc < len; pc++) {
        const struct sock_filter *f = &prog[pc];
        ++*steps;
        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            assert_true(f->k + 4 <= sizeof *d);
            if (f->k != offsetof(struct seccomp_data, nr) && f->k != offsetof(struct seccomp_data, arch))
                return ARG_LOADED;
            memcpy(&a, (const char *)d + f->k, 4);
            break;
        case BPF_LD | BPF_IMM:
            a = f->k;
            break;
        case BPF_LD | BPF_MEM:
            a = mem[f->k];
            break;
        case BPF_LDX | BPF_IMM:
            x = f->k;
            break;
        case BPF_LDX | BPF_MEM:
            x = mem[f->k];
            break;
        case BPF_ST:
            mem[f->k] = a;
            break;
        case BPF_STX:
            mem[f->k] = x;
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            a &= f->k;
            break;
        case BPF_ALU | BPF_OR | BPF_K:
            a |= f->k;
            break;
        case BPF_MISC | BPF_TAX:
            x = a;
            break;
        case BPF_MISC | BPF_TXA:
            a = x;
            break;
        case BPF_JMP | BPF_JA:
            pc += f->k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += a == f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
            pc += a > f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            pc += a >= f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            pc += (a & f->k) ? f->jt : f->jf;
            break;
        case BPF_RET | BPF_K:
            return f->k;
        case BPF_RET | BPF_A:
            return a;
        default:
            fail_msg("instruction %zu: code %#x not emulated", pc, f->code);
        }
    }
    fail_msg("the program ran off its end");
    return 0;
}

static void test_seccomp_program_depth(void **state) {
    (void)state;
    cb_error_t *err = NULL;
    assert_int_equal(cb_run_seccomp_prepare(&err), 0);
    size_t len = 0;
    const struct sock_filter *prog = cb_run_seccomp_program(&len);
    assert_non_null(prog);
    int deepest = 0, deepest_nr = -1;
    for (int nr = 0; nr < 512; nr++) {
        struct seccomp_data d = {.nr = nr, .arch = AUDIT_ARCH_X86_64};
        int steps;
        uint32_t action = bpf_run(prog, len, &d, &steps);
        if (nr == SYS_mount || nr == SYS_unshare || nr == SYS_keyctl)
            assert_int_equal(action, SECCOMP_RET_ERRNO | EPERM);
        if (nr == SYS_read || nr == SYS_openat || nr == SYS_execve)
            assert_int_equal(action, SECCOMP_RET_ALLOW);
        if (steps > deepest)
            deepest = steps, deepest_nr = nr;
    }
    if (getenv("CB_TEST_VERBOSE"))
        fprintf(stderr, "%zu instructions; the longest path %d (syscall %d)\n", len, deepest, deepest_nr);
    /* A linear list of the ~70 blocked syscalls takes a syscall past all
     * of them (103 instructions with libseccomp 2.5.4); a binary tree
     * about a dozen. */
    if (deepest > 40)
        fail_msg("syscall %d runs %d of the filter's %zu instructions", deepest_nr, deepest, len);
}

/* --- loopback --- */

static int parent_port;

static short lo_flags(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
    close(fd);
    return ifr.ifr_flags;
}

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int tcp_listen(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fd, 4) == 0);
    return fd;
}

static int port_of(int fd) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    return ntohs(sa.sin_port);
}

static int loopback_child(void) {
    CHECK((lo_flags() & IFF_UP) == 0); /* a new namespace starts with lo down */
    CHECK_FAILS(tcp_connect(parent_port), ENETUNREACH);
    CHECK_CB(cb_run_loopback_up(&err));
    CHECK(lo_flags() & IFF_UP);
    CHECK_CB(cb_run_loopback_up(&err)); /* already up: fine */
    /* The parent's listener is in another namespace... */
    CHECK_FAILS(tcp_connect(parent_port), ECONNREFUSED);
    /* ...while one here answers on 127.0.0.1. */
    int fd = tcp_listen();
    CHECK(tcp_connect(port_of(fd)) == 0);
    close(fd);
    return 0;
}

static void test_loopback_up(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    parent_port = ntohs(sa.sin_port);
    int status = run_in_userns(CLONE_NEWNET, false, loopback_child);
    close(fd);
    expect_passed(status);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_default_set),
        cmocka_unit_test(test_caps_none),
        cmocka_unit_test(test_caps_cleared_by_setuid),
        cmocka_unit_test(test_seccomp_filter),
        cmocka_unit_test(test_seccomp_program_depth),
        cmocka_unit_test(test_loopback_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
