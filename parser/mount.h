/* RUN --mount=... specifications (BuildKit's syntax).
 *
 * A spec is one CSV record of key=value fields: type=bind|cache|tmpfs|secret|ssh
 * (default bind), target|dst|destination, source|src, from, id, sharing, mode,
 * uid, gid, readonly|ro, readwrite|rw, required, env, size. readonly, rw and
 * required may also be written bare.
 *
 * Parsing happens twice, as in BuildKit: once when the Containerfile is read
 * (cb_mount_check: the record, the type and the key names; values may still
 * hold $VARS) and once at build time with every value expanded
 * (cb_mount_parse with an expander), which checks the values and fills in
 * defaults.
 */
#ifndef CB_PARSER_MOUNT_H
#define CB_PARSER_MOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

typedef enum cb_mount_type {
    CB_MOUNT_BIND,
    CB_MOUNT_CACHE,
    CB_MOUNT_TMPFS,
    CB_MOUNT_SECRET,
    CB_MOUNT_SSH,
} cb_mount_type_t;

typedef enum cb_mount_sharing {
    CB_SHARING_DEFAULT, /* not given: shared for cache mounts */
    CB_SHARING_SHARED,
    CB_SHARING_PRIVATE,
    CB_SHARING_LOCKED,
} cb_mount_sharing_t;

typedef struct cb_mount {
    cb_mount_type_t type;
    char *target; /* NULL when not given (secret/ssh get a default) */
    char *source;
    char *from;   /* stage name or index, image, or NULL (the build context) */
    char *id;     /* cache/secret/ssh id; defaults applied by cb_mount_parse */
    char *env;    /* secret exposed as this environment variable */
    cb_mount_sharing_t sharing;
    bool readonly;
    bool required;
    int64_t mode;      /* -1 when not given */
    int64_t uid, gid;  /* -1 when not given */
    int64_t size;      /* tmpfs size limit in bytes, 0 when not given */
} cb_mount_t;

/* Expands one value; *out newly allocated. */
typedef int (*cb_mount_expand_fn)(void *ctx, const char *word, char **out, cb_error_t **err);

/* Syntax-only check at parse time. */
int cb_mount_check(const char *spec, cb_error_t **err);
/* Full parse; expand may be NULL (values taken literally). On failure *out is
 * left cleared. */
int cb_mount_parse(const char *spec, cb_mount_expand_fn expand, void *ctx, cb_mount_t *out,
                   cb_error_t **err);
void cb_mount_clear(cb_mount_t *m);
/* The raw value of the last `key=` field (key case-insensitive), or NULL;
 * lets the stage graph read from= before values are expanded. */
char *cb_mount_spec_value(const char *spec, const char *key);

const char *cb_mount_type_name(cb_mount_type_t t);
const char *cb_mount_sharing_name(cb_mount_sharing_t s);

#endif
