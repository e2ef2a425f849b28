/* USER for RUN steps: names and numbers resolved in the image's
 * /etc/passwd and /etc/group as runc does for docker build. */
#ifndef CB_BUILDER_USER_H
#define CB_BUILDER_USER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct cb_user {
    uint32_t uid, gid;
    uint32_t *groups; /* supplementary groups (the primary one included) */
    size_t ngroups;
    char *home;       /* from passwd; "/" when the user has no entry */
} cb_user_t;

/* spec: "" (root), "user", "uid", "user:group", "uid:gid". A name that is
 * not in the image is an error naming it; a number need not be there (gid
 * 0 and home "/" then, unless :group is given). Supplementary groups are
 * the /etc/group entries listing the user, when no group is given. */
int cb_user_resolve(int rootfd, const char *spec, cb_user_t *out, cb_error_t **err);
void cb_user_clear(cb_user_t *u);

#endif
