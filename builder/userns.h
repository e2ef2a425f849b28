/* Rootless builds run inside a user namespace in which the invoking user
 * is root, so that unpacked layers, RUN steps and their diffs see the ids
 * the image means (DESIGN.md "The runner").
 *
 * With a range for the user in /etc/subuid and /etc/subgid and the setuid
 * helpers newuidmap/newgidmap (package uidmap), container id 0 maps to the
 * user and ids 1..N to the range (N+1 ids in all, 65537 for the usual
 * 65536-id range). Without a range, or when the helpers fail, only id 0
 * (the user) is mapped, and a warning says that other owners collapse to
 * root. The process itself enters the namespace (its pid does not change);
 * a forked helper runs newuidmap/newgidmap on it from outside, because a
 * setuid helper run from inside the new namespace has no privilege.
 *
 * Must be called before any thread is started and before anything is
 * written that should belong to the user. */
#ifndef CB_BUILDER_USERNS_H
#define CB_BUILDER_USERNS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

typedef enum cb_userns_mode {
    CB_USERNS_NONE,   /* not entered: real root, or user namespaces unavailable */
    CB_USERNS_SUBIDS, /* 0 -> the user, 1..N -> the subordinate range */
    CB_USERNS_SINGLE, /* only 0 -> the user */
} cb_userns_mode_t;

/* Enters a user namespace when not real root. When the kernel refuses user
 * namespaces, stays outside (mode NONE) and keeps the reason for
 * cb_userns_why_not(); that is not an error until something needs it. */
int cb_userns_enter(cb_error_t **err);
cb_userns_mode_t cb_userns_mode(void);
/* Why the namespace could not be entered, or NULL. */
const char *cb_userns_why_not(void);
/* An identity map of every id mapped in the current namespace, in the
 * format of /proc/PID/uid_map, one line per extent of map_file: a child
 * extent must fit inside one extent of its parent. Caller frees. */
char *cb_userns_identity_map(const char *map_file);

/* Writes text to a /proc file (uid_map, gid_map, setgroups) in one write;
 * -1 with errno on failure. */
int cb_write_proc_file(const char *path, const char *text);

/* One line of /etc/subuid or /etc/subgid for user name or id; 1 if found. */
int cb_subid_range(const char *file, const char *name, uint32_t id, uint32_t *start,
                   uint32_t *count);

#endif
