/* --network private: slirp4netns gives the step's network namespace a tap
 * device (10.0.2.100/24, default route via 10.0.2.2, DNS forwarder on
 * 10.0.2.3) and carries its traffic through ordinary sockets of the
 * builder's network namespace, so it works without privileges.
 * --disable-host-loopback: 10.0.2.2 does not lead to the host's 127.0.0.1.
 *
 * Its lifetime is the step's: --exit-fd is a pipe whose only write end is
 * ours (close it and slirp4netns exits; so does our death), and
 * PR_SET_PDEATHSIG kills it should we die before it reads that pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder/run_private.h"
#include "common/interrupt.h"

#define READY_TIMEOUT_MS 30000
#define EXIT_TIMEOUT_MS 2000

_Noreturn static void exec_slirp(const char *prog, pid_t target, const char *log_path, int ready_w, int exit_r) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
        _exit(127);
    /* Both descriptors must outlive execve: fresh copies without CLOEXEC. */
    int rw = fcntl(ready_w, F_DUPFD, 3), er = fcntl(exit_r, F_DUPFD, 3);
    if (rw < 0 || er < 0)
        _exit(127);
    char ready_arg[32], exit_arg[32], pid_arg[16];
    snprintf(ready_arg, sizeof ready_arg, "--ready-fd=%d", rw);
    snprintf(exit_arg, sizeof exit_arg, "--exit-fd=%d", er);
    snprintf(pid_arg, sizeof pid_arg, "%d", (int)target);
    char *const argv[] = {(char *)prog, "--configure", "--mtu=65520", "--disable-host-loopback", ready_arg, exit_arg,
                          pid_arg, "tap0", NULL};
    execv(prog, argv);
    dprintf(2, "cannot run %s: %s\n", prog, strerror(errno));
    _exit(127);
}

int cb_slirp_start(const char *prog, pid_t target, const char *log_path, cb_slirp_t *s, cb_error_t **err) {
    s->pid = 0;
    s->exit_fd = -1;
    int ready[2], ex[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return cb_error_set(err, errno, "pipe");
    if (pipe2(ex, O_CLOEXEC) < 0) {
        int e = errno;
        close(ready[0]);
        close(ready[1]);
        return cb_error_set(err, e, "pipe");
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_slirp(prog, target, log_path, ready[1], ex[0]);
    int fork_errno = errno;
    close(ready[1]);
    close(ex[0]);
    if (pid < 0) {
        close(ready[0]);
        close(ex[1]);
        return cb_error_set(err, fork_errno, "fork for slirp4netns");
    }
    s->pid = pid;
    s->exit_fd = ex[1];

    /* It writes "1" once the tap device is up and configured; EOF means it
     * died. */
    char c = 0;
    ssize_t n = -1;
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    int waited = 0;
    while (!cb_interrupt_signal() && waited < READY_TIMEOUT_MS) {
        int r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0) {
            n = read(ready[0], &c, 1);
            break;
        }
        waited += r == 0 ? 100 : 0;
    }
    close(ready[0]);
    if (n == 1 && c == '1')
        return 0;
    cb_slirp_stop(s);
    if (cb_interrupt_signal())
        return cb_error_kind_set(err, CB_ERR_INTERRUPTED, "network private: interrupted while slirp4netns started");
    char tail[1024];
    cb_run_file_tail(log_path, tail, sizeof tail);
    return cb_error_kind_set(err, CB_ERR_SYSTEM, "network private: slirp4netns %s%s%s",
                             waited >= READY_TIMEOUT_MS ? "did not get ready within 30 s" : "failed",
                             tail[0] ? ": " : "", tail);
}

void cb_slirp_stop(cb_slirp_t *s) {
    if (s->exit_fd >= 0)
        close(s->exit_fd);
    s->exit_fd = -1;
    if (s->pid <= 0)
        return;
    int st;
    for (int ms = 0; ms < EXIT_TIMEOUT_MS; ms++) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid || (r < 0 && errno != EINTR)) {
            s->pid = 0;
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
}
