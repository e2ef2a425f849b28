#include "builder/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

static cb_userns_mode_t mode = CB_USERNS_NONE;
static char *why_not;

cb_userns_mode_t cb_userns_mode(void) {
    return mode;
}

const char *cb_userns_why_not(void) {
    return why_not;
}

int cb_subid_range(const char *file, const char *name, uint32_t id, uint32_t *start,
                   uint32_t *count) {
    FILE *f = fopen(file, "re");
    if (f == NULL)
        return 0;
    char idstr[16];
    snprintf(idstr, sizeof idstr, "%u", id);
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) > 0) {
        char *save = NULL;
        char *who = strtok_r(line, ":\n", &save);
        char *s = strtok_r(NULL, ":\n", &save);
        char *c = strtok_r(NULL, ":\n", &save);
        if (!who || !s || !c || (strcmp(who, idstr) != 0 && (!name || strcmp(who, name) != 0)))
            continue;
        char *e1, *e2;
        unsigned long vs = strtoul(s, &e1, 10), vc = strtoul(c, &e2, 10);
        if (*e1 || *e2 || vc == 0 || vs > UINT32_MAX || vc > UINT32_MAX - vs)
            continue;
        *start = (uint32_t)vs;
        *count = (uint32_t)vc;
        found = 1;
    }
    free(line);
    fclose(f);
    return found;
}

char *cb_userns_identity_map(const char *map_file) {
    cb_autobuf cb_buf_t out = CB_BUF_INIT;
    FILE *f = fopen(map_file, "re");
    unsigned long long a, b, c;
    while (f && fscanf(f, "%llu %llu %llu", &a, &b, &c) == 3)
        cb_buf_printf(&out, "%llu %llu %llu\n", a, a, c);
    if (f)
        fclose(f);
    if (out.len == 0)
        cb_buf_puts(&out, "0 0 1\n");
    return cb_xstrdup(cb_buf_str(&out));
}

int cb_write_proc_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

/* Runs `tool PID 0 ID 1 1 START COUNT`; 0 when it exited 0. */
static int run_map_tool(const char *tool, pid_t pid, uint32_t id, uint32_t start, uint32_t count) {
    char spid[16], sid[16], sstart[16], scount[16];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    snprintf(sid, sizeof sid, "%u", id);
    snprintf(sstart, sizeof sstart, "%u", start);
    snprintf(scount, sizeof scount, "%u", count);
    pid_t c = fork();
    if (c < 0)
        return -1;
    if (c == 0) {
        execlp(tool, tool, spid, "0", sid, "1", "1", sstart, scount, (char *)NULL);
        fprintf(stderr, "cbuild: cannot run %s: %s\n", tool, strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* The helper: waits until the parent is in its new namespace, then maps
 * it. Exits 0 when both maps were written. */
static void map_helper(int go_fd, pid_t parent, uid_t uid, gid_t gid, uint32_t us, uint32_t uc,
                       uint32_t gs, uint32_t gc) {
    char c;
    ssize_t r;
    while ((r = read(go_fd, &c, 1)) < 0 && errno == EINTR) {
    }
    if (r != 1)
        _exit(2);
    if (run_map_tool("newuidmap", parent, uid, us, uc) < 0 ||
        run_map_tool("newgidmap", parent, gid, gs, gc) < 0)
        _exit(1);
    _exit(0);
}

static int map_single(uid_t uid, gid_t gid, cb_error_t **err) {
    char buf[64];
    snprintf(buf, sizeof buf, "0 %u 1\n", (unsigned)uid);
    if (cb_write_proc_file("/proc/self/uid_map", buf) < 0)
        return cb_error_set(err, errno, "write /proc/self/uid_map");
    if (cb_write_proc_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT)
        return cb_error_set(err, errno, "write /proc/self/setgroups");
    snprintf(buf, sizeof buf, "0 %u 1\n", (unsigned)gid);
    if (cb_write_proc_file("/proc/self/gid_map", buf) < 0)
        return cb_error_set(err, errno, "write /proc/self/gid_map");
    return 0;
}

int cb_userns_enter(cb_error_t **err) {
    if (geteuid() == 0 || mode != CB_USERNS_NONE)
        return 0;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    struct passwd *pw = getpwuid(uid);
    const char *name = pw ? pw->pw_name : NULL;
    uint32_t us = 0, uc = 0, gs = 0, gc = 0;
    bool ranges = cb_subid_range("/etc/subuid", name, uid, &us, &uc) &&
                  cb_subid_range("/etc/subgid", name, uid, &gs, &gc);

    int go[2] = {-1, -1};
    pid_t helper = -1;
    if (ranges) {
        if (pipe2(go, O_CLOEXEC) < 0)
            return cb_error_set(err, errno, "pipe");
        pid_t parent = getpid();
        helper = fork();
        if (helper < 0) {
            close(go[0]);
            close(go[1]);
            return cb_error_set(err, errno, "fork");
        }
        if (helper == 0) {
            close(go[1]);
            map_helper(go[0], parent, uid, gid, us, uc, gs, gc);
        }
        close(go[0]);
    }

    if (unshare(CLONE_NEWUSER) < 0) {
        int e = errno;
        if (helper > 0) {
            close(go[1]); /* the helper reads EOF and exits */
            waitpid(helper, NULL, 0);
        }
        free(why_not);
        why_not = cb_xasprintf("cannot create a user namespace: %s (is "
                               "kernel.unprivileged_userns_clone or user.max_user_namespaces 0?)",
                               strerror(e));
        cb_debug("userns", "%s", why_not);
        return 0;
    }

    bool mapped = false;
    if (helper > 0) {
        (void)!write(go[1], "g", 1);
        close(go[1]);
        int st = 0;
        while (waitpid(helper, &st, 0) < 0 && errno == EINTR) {
        }
        mapped = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!mapped)
            cb_warn("userns", "newuidmap/newgidmap failed for the ranges in /etc/subuid and "
                              "/etc/subgid; mapping only your own id");
    }
    if (mapped) {
        mode = CB_USERNS_SUBIDS;
        (void)setgroups(0, NULL);
    } else {
        if (map_single(uid, gid, err) < 0)
            return cb_error_wrap(err, "entering a user namespace");
        mode = CB_USERNS_SINGLE;
        if (!ranges)
            cb_warn("userns",
                    "no range for %s in /etc/subuid and /etc/subgid: only your own id is mapped, "
                    "so files the image gives to other users become root's (add a range with "
                    "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)",
                    name ? name : "this user", name ? name : "USER");
    }
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        return cb_error_set(err, errno, "becoming root in the user namespace");
    return 0;
}
