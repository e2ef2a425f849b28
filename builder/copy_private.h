/* Shared by the builder/copy*.c files; not part of the builder API. */
#ifndef CB_BUILDER_COPY_PRIVATE_H
#define CB_BUILDER_COPY_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "builder/copy.h"
#include "layer/pathset.h"

/* ---- copy_resolve.c: paths inside a root, chroot-like ---- */

/* A path resolved inside a root: canonical (relative, no symlinks, no ".."),
 * how much of it exists, and what the existing end is. */
typedef struct copy_resolved {
    char *path;      /* "" is the root itself */
    bool exists;     /* the whole path exists */
    size_t nexisting; /* leading components that exist (all when exists) */
    struct stat st;  /* of the path when exists (lstat when not followed) */
} copy_resolved_t;

/* Resolves path (absolute or relative, both taken from the root) inside
 * rootfd the way a chroot would: ".." stops at the root, symlinks are
 * followed with absolute targets starting at the root, the last component
 * only when follow_last. A missing component ends the lookup (the rest is
 * appended as written); a non-directory in the middle is ENOTDIR. */
int copy_resolve(int rootfd, const char *path, bool follow_last, copy_resolved_t *out,
                 cb_error_t **err);
void copy_resolved_clear(copy_resolved_t *r);

/* Opens the canonical rel (from copy_resolve) under rootfd, one component at
 * a time with O_NOFOLLOW, so a path swapped for a symlink fails instead of
 * leaving the root. copy_open_dir gives an O_RDONLY directory descriptor;
 * copy_open_parent the parent directory of rel and its last component. */
int copy_open_dir(int rootfd, const char *rel, int *out, cb_error_t **err);
int copy_open_parent(int rootfd, const char *rel, int *out, const char **base,
                     cb_error_t **err);

/* ---- copy_owner.c: --chown and --chmod ---- */

/* Parses --chown against the image root (its /etc/passwd and /etc/group). */
int copy_parse_chown(const char *spec, int rootfd, uint32_t *uid, uint32_t *gid,
                     cb_error_t **err);

typedef struct copy_chmod {
    enum { COPY_CHMOD_NONE, COPY_CHMOD_OCTAL, COPY_CHMOD_SYMBOLIC } kind;
    uint32_t mode; /* COPY_CHMOD_OCTAL */
    char *spec;    /* COPY_CHMOD_SYMBOLIC, checked */
} copy_chmod_t;
int copy_parse_chmod(const char *spec, copy_chmod_t *out, cb_error_t **err);
/* The permission bits (07777) of a file of mode st_mode after --chmod. */
uint32_t copy_chmod_apply(const copy_chmod_t *c, uint32_t st_mode);
void copy_chmod_clear(copy_chmod_t *c);

/* ---- copy.c: the state of one instruction ---- */

typedef struct copy_ctx {
    const cb_instr_copy_t *ins;
    const char *cmd; /* "COPY" or "ADD" */
    bool is_add;
    const cb_copy_env_t *env;
    cb_layer_writer_t *w;
    int src_root;               /* context or --from root */
    bool from;                  /* --from */
    const cb_ignore_t *ignore;  /* context ignore rules, NULL with --from */
    cb_ignore_t *exclude;       /* --exclude, NULL when none */
    bool set_owner;             /* --chown, or forced 0:0 */
    bool chown_given;           /* --chown: overrides archive owners too */
    uint32_t uid, gid;
    copy_chmod_t chmod;
    /* The destination, resolved in the image root. */
    copy_resolved_t dest;
    bool dest_is_dir;           /* trailing "/" or an existing directory */
    const char *unmatched;      /* the first wildcard source that matched nothing */
    cb_pathset_t dirs;          /* directory entries written so far */
} copy_ctx_t;

/* Owner of a file from an extracted archive (copy_archive.c). */
typedef bool (*copy_owner_fn)(void *ctx, const char *rel, uint32_t *uid, uint32_t *gid);

/* ---- copy_dest.c ---- */

/* Resolves ins->dest against WORKDIR inside the image root. */
int copy_dest_resolve(copy_ctx_t *c, cb_error_t **err);
/* The entry name of a single item named base, copied as a file. */
char *copy_dest_file_name(const copy_ctx_t *c, const char *base);
/* Writes directory entries for the ancestors of name that neither exist in
 * the image nor were written already (0755, the --chown owner). */
int copy_dest_parents(copy_ctx_t *c, const char *name, cb_error_t **err);
/* Makes sure the directory name exists after the layer: parents, then name
 * itself unless the image has it. An existing non-directory is an error. */
int copy_dest_mkdir(copy_ctx_t *c, const char *name, cb_error_t **err);
/* attrs for an entry whose host file has mode st_mode. */
void copy_attrs(const copy_ctx_t *c, uint32_t st_mode, cb_layer_attrs_t *a);

/* ---- copy_tree.c: host entries into the layer ---- */

typedef struct copy_walk {
    copy_ctx_t *c;
    bool use_ignore;    /* apply the context ignore rules (paths from src root) */
    bool use_exclude;   /* apply --exclude (paths from the copied source) */
    copy_owner_fn owner; /* extracted archives: owners per path */
    void *owner_ctx;
} copy_walk_t;

/* A directory met while walking that is written only when something below
 * it is (an excluded directory an exception re-includes from, or a --parents
 * path leading to a match). Frames live on the walker's stack. */
typedef struct copy_pending {
    struct copy_pending *up;
    int parentfd;
    const char *base, *name, *rel;
    struct stat st;
    bool emitted;
} copy_pending_t;
/* Writes the pending directories of p, outermost first. */
int copy_pending_flush(const copy_walk_t *wk, copy_pending_t *p, cb_error_t **err);

/* One host entry parentfd/base as the layer entry name; st is its lstat,
 * rel its path from the copied source (owners of extracted archives). */
int copy_emit(const copy_walk_t *wk, int parentfd, const char *base, const char *name,
              const char *rel, const struct stat *st, cb_error_t **err);
/* Everything below the open directory dirfd. root_rel is its path from the
 * source root (ignore rules), src_rel from the copied source (--exclude,
 * owners), name its layer entry name; pending (may be NULL) holds the
 * directories above that are not written yet. */
int copy_walk_dir(const copy_walk_t *wk, int dirfd, const char *root_rel, const char *src_rel,
                  const char *name, copy_pending_t *pending, cb_error_t **err);
/* The sorted names in the open directory dirfd. */
int copy_list_dir(int dirfd, const char *what, cb_strv_t *out, cb_error_t **err);
/* a/b, or b when a is empty; newly allocated. */
char *copy_join(const char *a, const char *b);
/* Whether the context ignore rules leave rel (from the source root) out. */
bool copy_ignored(const copy_ctx_t *c, const char *rel);
/* Whether the entry parentfd/base (rel from the source root, st its lstat)
 * is in the build context: not ignored, or an ignored directory the context
 * walk enters and finds something included in. */
int copy_in_context(const copy_ctx_t *c, int parentfd, const char *base, const char *rel,
                    const struct stat *st, bool *out, cb_error_t **err);

/* ---- copy_select.c: local sources ---- */

/* Adds the local source src (wildcards allowed) or, with count_only, only
 * counts the items it names into *count. A wildcard that matches nothing is
 * no error here (c->unmatched notes it): only an instruction whose sources
 * select nothing at all fails. */
int copy_local_source(copy_ctx_t *c, const char *src, bool count_only, size_t *count,
                      cb_error_t **err);
/* "the build context" or "the --from source", for errors. */
const char *copy_where(const copy_ctx_t *c);
/* Go's containsWildcards: '*', '?' or '[' not escaped by '\'. */
bool copy_has_wildcards(const char *s);

/* ---- copy_archive.c: ADD of local archives ---- */

/* Whether the open file fd is a tar archive (maybe compressed); rewinds. */
int copy_is_archive(int fd, bool *is_tar, cb_error_t **err);
/* Extracts the archive fd into the directory name of the layer. what names
 * the source in errors. */
int copy_add_archive(copy_ctx_t *c, int fd, const char *what, const char *name,
                     cb_error_t **err);

/* ---- copy_url.c: ADD of URLs ---- */

bool copy_is_url(const char *s);
int copy_add_url(copy_ctx_t *c, const char *url, cb_error_t **err);
/* The file name ADD gives a URL: the last component of its path, else
 * "__unnamed__". */
char *copy_url_file_name(const char *url);

/* ---- copy_heredoc.c ---- */

/* The heredoc named by a "<<NAME" source, NULL when src is not one. */
const cb_heredoc_t *copy_heredoc_of(const cb_instr_copy_t *ins, const char *src);
int copy_add_heredoc(copy_ctx_t *c, const cb_heredoc_t *doc, cb_error_t **err);

#endif
