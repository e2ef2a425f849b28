/* The spawner: a small process, forked once (at a process's first RUN
 * step), that clones each step's process for the builder.
 *
 * Why: cloning the builder itself copies its page tables and write-protects
 * every page it has (the heap, the compressors' hash tables, the caches),
 * so after each step the builder takes a copy-on-write fault for every page
 * it writes again: on a small step that was most of the step's page faults.
 * The spawner's address space is what the builder had at its first RUN
 * step, and it touches next to nothing after, so a clone of it is cheap and
 * the builder's pages are never shared.
 *
 * The step's process shares the spawner's memory until its execve (see
 * step_main), and is cloned with CLONE_PARENT: it is the builder's child,
 * so the builder waits for it, kills it and writes its id maps as it would
 * for a process it had cloned itself. The spawner only decodes the spec,
 * clones, and answers with the pid (or -errno). It holds no descriptor of
 * the builder's but its socket, and exits when the socket closes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/run_private.h"
#include "common/fsutil.h"

#define NFDS 4 /* sync_out, sync_in, errfd, outfd: the step's ends */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int sock = -1;
static pid_t spawner_pid, owner_pid; /* the spawner, and the process it serves */

/* ---- the request: the spec flattened ---- */

static void put_u32(cb_buf_t *b, uint32_t v) {
    cb_buf_add(b, &v, sizeof v);
}

static void put_u64(cb_buf_t *b, uint64_t v) {
    cb_buf_add(b, &v, sizeof v);
}

/* Length + 1 (0 for NULL), then the bytes with their NUL. */
static void put_str(cb_buf_t *b, const char *s) {
    size_t n = s ? strlen(s) + 1 : 0;
    put_u32(b, (uint32_t)n);
    cb_buf_add(b, s ? s : "", n);
}

static void put_strs(cb_buf_t *b, char *const *v) {
    uint32_t n = 0;
    while (v && v[n])
        n++;
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++)
        put_str(b, v[i]);
}

static void encode(cb_buf_t *b, const cb_run_spec_t *s, unsigned long flags) {
    put_u64(b, flags);
    put_str(b, s->workspace);
    put_str(b, s->lower);
    put_str(b, s->dir);
    put_strs(b, s->argv);
    put_strs(b, s->env);
    put_str(b, s->cwd);
    put_u32(b, s->uid);
    put_u32(b, s->gid);
    put_u32(b, (uint32_t)s->ngroups);
    for (size_t i = 0; i < s->ngroups; i++)
        put_u32(b, s->groups[i]);
    put_str(b, s->hostname);
    put_u32(b, (uint32_t)s->network);
    put_str(b, s->net_helper);
    put_u32(b, (uint32_t)s->nmounts);
    for (size_t i = 0; i < s->nmounts; i++) {
        const cb_run_mount_t *m = &s->mounts[i];
        put_str(b, m->source);
        put_str(b, m->target);
        put_str(b, m->overlay_dir);
        put_u32(b, (uint32_t)m->readonly | (uint32_t)m->is_file << 1 | (uint32_t)m->secret << 2);
        put_u64(b, m->tmpfs_size);
    }
    put_u32(b, (uint32_t)s->rootfs);
    for (int i = 0; i < 3; i++)
        put_str(b, s->etc_text[i]);
    put_u32(b, (uint32_t)s->stub_plan_len);
    cb_buf_add(b, s->stub_plan ? s->stub_plan : "", s->stub_plan_len);
}

/* Decoding in the spawner: pointers into the request's bytes. */
typedef struct reader {
    char *p, *end;
    bool bad;
} reader_t;

static void get(reader_t *r, void *out, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

static uint32_t get_u32(reader_t *r) {
    uint32_t v;
    get(r, &v, sizeof v);
    return v;
}

static uint64_t get_u64(reader_t *r) {
    uint64_t v;
    get(r, &v, sizeof v);
    return v;
}

static char *get_str(reader_t *r) {
    uint32_t n = get_u32(r);
    if (r->bad || n == 0)
        return NULL;
    if ((size_t)(r->end - r->p) < n || r->p[n - 1] != '\0') {
        r->bad = true;
        return NULL;
    }
    char *s = r->p;
    r->p += n;
    return s;
}

/* A NULL-terminated vector; caller frees the array. */
static char **get_strs(reader_t *r) {
    uint32_t n = get_u32(r);
    if (r->bad || n > (size_t)(r->end - r->p) / 4)
        return r->bad = true, NULL;
    char **v = cb_xcalloc((size_t)n + 1, sizeof *v);
    for (uint32_t i = 0; i < n; i++)
        v[i] = get_str(r);
    return v;
}

typedef struct decoded {
    cb_run_spec_t spec;
    unsigned long flags;
    char **argv, **env;
    uint32_t *groups;
    cb_run_mount_t *mounts;
} decoded_t;

static void decoded_free(decoded_t *d) {
    free(d->argv);
    free(d->env);
    free(d->groups);
    free(d->mounts);
}

static bool decode(char *buf, size_t len, decoded_t *d) {
    reader_t r = {.p = buf, .end = buf + len};
    cb_run_spec_t *s = &d->spec;
    d->flags = (unsigned long)get_u64(&r);
    s->workspace = get_str(&r);
    s->lower = get_str(&r);
    s->dir = get_str(&r);
    s->argv = d->argv = get_strs(&r);
    s->env = d->env = get_strs(&r);
    s->cwd = get_str(&r);
    s->uid = get_u32(&r);
    s->gid = get_u32(&r);
    uint32_t ng = get_u32(&r);
    if (!r.bad && ng <= (size_t)(r.end - r.p) / 4) {
        d->groups = cb_xcalloc((size_t)ng + 1, sizeof *d->groups);
        for (uint32_t i = 0; i < ng; i++)
            d->groups[i] = get_u32(&r);
        s->groups = d->groups;
        s->ngroups = ng;
    } else {
        r.bad = true;
    }
    s->hostname = get_str(&r);
    s->network = (cb_run_network_t)get_u32(&r);
    s->net_helper = get_str(&r);
    uint32_t nm = get_u32(&r);
    if (!r.bad && nm <= (size_t)(r.end - r.p) / 8) {
        d->mounts = cb_xcalloc((size_t)nm + 1, sizeof *d->mounts);
        for (uint32_t i = 0; i < nm; i++) {
            cb_run_mount_t *m = &d->mounts[i];
            m->source = get_str(&r);
            m->target = get_str(&r);
            m->overlay_dir = get_str(&r);
            uint32_t bits = get_u32(&r);
            m->readonly = bits & 1;
            m->is_file = bits & 2;
            m->secret = bits & 4;
            m->tmpfs_size = get_u64(&r);
        }
        s->mounts = d->mounts;
        s->nmounts = nm;
    } else {
        r.bad = true;
    }
    s->rootfs = (cb_run_rootfs_t)get_u32(&r);
    for (int i = 0; i < 3; i++)
        s->etc_text[i] = get_str(&r);
    s->stub_plan_len = get_u32(&r);
    if (!r.bad && s->stub_plan_len <= (size_t)(r.end - r.p)) {
        s->stub_plan = r.p;
        r.p += s->stub_plan_len;
    } else {
        r.bad = true;
    }
    return !r.bad && r.p == r.end && s->workspace && s->lower && s->dir && d->argv && d->argv[0] && d->env;
}

/* ---- the spawner process ---- */

static int read_exact(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The step's process shares the spawner's memory until its execve
 * (CLONE_VM, as posix_spawn does): no copy of the page tables at the
 * clone, no copy-on-write fault in the child, nothing to tear down at its
 * execve. cb_run_child allocates nothing on its way to execve (only on the
 * way to _exit with an error), and the spawner waits meanwhile. */
#define CHILD_STACK (256 * 1024)

static int dumpable; /* the spawner's, as forked */

typedef struct child {
    const decoded_t *d;
    int sock;
    int fds[NFDS];
} child_t;

static int step_main(void *arg) {
    const child_t *c = arg;
    close(c->sock);
    cb_run_direct_child(&c->d->spec, c->fds[0], c->fds[1], c->fds[2], c->fds[3]);
}

/* One request: its length and the step's descriptors, then the spec. */
static int serve_one(int fd) {
    uint32_t len;
    char cbuf[CMSG_SPACE(NFDS * sizeof(int))];
    struct iovec iov = {.iov_base = &len, .iov_len = sizeof len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t k;
    while ((k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    if (k != (ssize_t)sizeof len)
        return -1; /* the builder is gone */
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    int fds[NFDS];
    if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof fds))
        return -1;
    memcpy(fds, CMSG_DATA(c), sizeof fds);
    char *buf = cb_xmalloc(len ? len : 1);
    int32_t answer = -EINVAL;
    decoded_t d = {0};
    int execed[2] = {-1, -1};
    if (read_exact(fd, buf, len) < 0) {
        answer = -EPIPE;
    } else if (!decode(buf, len, &d)) {
        answer = -EINVAL;
    } else if (pipe2(execed, O_CLOEXEC) < 0) {
        answer = -errno;
    } else {
        /* Within this frame, so that the child's stack lies in this
         * process's own (which AddressSanitizer knows), above every frame
         * this function calls while the child runs. */
        _Alignas(64) char stack[CHILD_STACK];
        child_t ch = {.d = &d, .sock = fd, .fds = {fds[0], fds[1], fds[2], fds[3]}};
        pid_t pid = clone(step_main, stack + sizeof stack, (int)(d.flags | CLONE_PARENT | CLONE_VM), &ch);
        answer = pid < 0 ? -errno : pid;
        close(execed[1]);
        if (pid > 0 && cb_write_all(fd, &answer, sizeof answer) < 0)
            answer = -EPIPE; /* the builder is gone; the child dies with it */
        /* The child runs on our memory until its execve (or exit) closes
         * its copy of execed[1]: nothing here is touched or freed before. */
        char x;
        while (read(execed[0], &x, 1) < 0 && errno == EINTR) {
        }
        close(execed[0]);
        /* The child's setresuid made our shared memory non-dumpable, which
         * gives the next child's /proc files (its uid_map) to root: back. */
        if (pid > 0 && prctl(PR_GET_DUMPABLE) != dumpable)
            (void)prctl(PR_SET_DUMPABLE, dumpable);
        if (pid > 0) {
            decoded_free(&d);
            free(buf);
            for (int i = 0; i < NFDS; i++)
                close(fds[i]);
            return answer == -EPIPE ? -1 : 0;
        }
    }
    decoded_free(&d);
    free(buf);
    for (int i = 0; i < NFDS; i++)
        close(fds[i]);
    return cb_write_all(fd, &answer, sizeof answer);
}

_Noreturn static void spawner_main(int fd) {
    /* Nothing of the builder's stays open here (a lock's descriptor kept
     * would keep the lock): only the socket, as descriptor 3. */
    if (fd != 3 && (dup2(fd, 3) < 0 || close(fd) < 0))
        _exit(1);
    syscall(SYS_close_range, 4, ~0U, 0);
    fd = 3;
    /* A terminal's Ctrl-C reaches the whole process group: the builder
     * decides what a signal stops; the steps reset these (direct_child). */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    dumpable = prctl(PR_GET_DUMPABLE);
    /* The seccomp program and the capability count the steps use were
     * made before the fork (cb_run_container), so they are ours too. */
    while (serve_one(fd) == 0) {
    }
    _exit(0);
}

static void stop_locked(void) {
    if (sock >= 0)
        close(sock);
    sock = -1;
    if (spawner_pid > 0 && owner_pid == getpid()) {
        kill(spawner_pid, SIGKILL);
        while (waitpid(spawner_pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    spawner_pid = 0;
}

static int start_locked(void) {
    if (sock >= 0 && owner_pid == getpid())
        return 0;
    if (sock >= 0) {
        /* A forked copy of the process that started it (a stage's
         * builder): that one's spawner is not ours to use or reap. */
        close(sock);
        sock = -1;
        spawner_pid = 0;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        spawner_main(sv[1]);
    }
    close(sv[1]);
    sock = sv[0];
    spawner_pid = pid;
    owner_pid = getpid();
    return 0;
}

static pid_t spawn_locked(const cb_run_spec_t *spec, unsigned long flags, const int fds[4]) {
    if (start_locked() < 0)
        return -1;
    cb_autobuf cb_buf_t req = CB_BUF_INIT;
    encode(&req, spec, flags);
    uint32_t len = (uint32_t)req.len;
    char cbuf[CMSG_SPACE(NFDS * sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = &len, .iov_len = sizeof len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(NFDS * sizeof(int));
    memcpy(CMSG_DATA(c), fds, NFDS * sizeof(int));
    ssize_t k;
    while ((k = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    int32_t answer;
    if (k != (ssize_t)sizeof len || cb_write_all(sock, req.data, req.len) < 0 ||
        read_exact(sock, &answer, sizeof answer) < 0) {
        stop_locked(); /* dead or confused: the caller clones itself */
        errno = ENOTCONN;
        return -1;
    }
    if (answer < 0) {
        errno = -answer;
        return -1;
    }
    return (pid_t)answer;
}

pid_t cb_run_spawn(const cb_run_spec_t *spec, unsigned long flags, const int fds[4]) {
    if (getenv("CBUILD_NO_SPAWNER")) {
        errno = ENOTCONN;
        return -1;
    }
    pthread_mutex_lock(&mu);
    pid_t pid = spawn_locked(spec, flags, fds);
    int e = errno;
    pthread_mutex_unlock(&mu);
    errno = e;
    return pid;
}
