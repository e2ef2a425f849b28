/* The optional programs a RUN step may need (fuse-overlayfs, slirp4netns):
 * found in PATH and checked once, before a container is set up, so that a
 * missing one gives an error naming what needs it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/run_private.h"

const char *cb_run_rootfs_name(cb_run_rootfs_t r) {
    switch (r) {
    case CB_ROOTFS_OVERLAY:
        return "kernel overlayfs";
    case CB_ROOTFS_FUSE:
        return "fuse-overlayfs";
    case CB_ROOTFS_COPY:
        return "copy";
    }
    return "?";
}

void cb_run_file_tail(const char *path, char *buf, size_t cap) {
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)cap - 1 ? end - (off_t)cap + 1 : 0;
    ssize_t n = pread(fd, buf, cap - 1, start);
    close(fd);
    while (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n > 0 ? n : 0] = '\0';
}

char *cb_run_find_tool(const char *name) {
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *colon = strchrnul(p, ':');
        if (colon > p) {
            cb_autofree char *cand = cb_xasprintf("%.*s/%s", (int)(colon - p), p, name);
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
                return cb_steal_pointer(&cand);
        }
        if (*colon == '\0')
            return NULL;
        p = colon + 1;
    }
}

bool cb_run_fuse_usable(char **why) {
    cb_autofree char *prog = cb_run_find_tool("fuse-overlayfs");
    if (prog == NULL) {
        *why = cb_xstrdup("fuse-overlayfs is not installed (Debian package fuse-overlayfs)");
        return false;
    }
    /* The daemon opens /dev/fuse as we are; a node only root may open
     * (some VMs and containers have it 0600) is as good as none. */
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        *why = cb_xasprintf("/dev/fuse cannot be opened: %s", strerror(errno));
        return false;
    }
    close(fd);
    return true;
}

char *cb_run_net_helper(char **why) {
    cb_autofree char *prog = cb_run_find_tool("slirp4netns");
    if (prog == NULL) {
        *why = cb_xstrdup("network mode private needs slirp4netns (Debian package slirp4netns), "
                          "which is not installed");
        return NULL;
    }
    /* slirp4netns makes its tap device through /dev/net/tun, with our
     * rights on the node (the step's namespace adds none over a node whose
     * owner it does not map). */
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        *why = cb_xasprintf("network mode private: /dev/net/tun cannot be opened (%s), and "
                            "slirp4netns needs it",
                            strerror(errno));
        return NULL;
    }
    close(fd);
    return cb_steal_pointer(&prog);
}
