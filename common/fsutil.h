/* File-system helpers shared by the modules. */
#ifndef CB_FSUTIL_H
#define CB_FSUTIL_H

#include <stdbool.h>

#include "common/error.h"
#include "common/util.h"

/* Removes path and everything below it without following symlinks; read-only
 * directories (a layer may make them 0555) are made writable first. A missing
 * path is not an error. */
int cb_rm_rf(const char *path, cb_error_t **err);
/* The same for the entry name inside the directory dirfd. */
int cb_rm_rf_at(int dirfd, const char *name, cb_error_t **err);

/* The names in the directory dirfd (which may be an O_PATH descriptor),
 * without "." and "..", sorted bytewise so walks are deterministic. `what`
 * names the directory in errors. */
int cb_dir_list_sorted(int dirfd, const char *what, cb_strv_t *out, cb_error_t **err);

/* 1 when the directory at path has no entry but "." and "..", 0 when it has
 * one, -1 with errno set when it cannot be read (ENOENT: it is missing). */
int cb_dir_is_empty(const char *path);

/* Appends the xattr names of path (not following a symlink), or of fd when
 * path is NULL, to names; none when the file system keeps no xattrs. `what`
 * names the file in errors. */
int cb_xattr_names(int fd, const char *path, const char *what, cb_strv_t *names, cb_error_t **err);

/* Writes all n bytes (retrying short writes and EINTR); -1 with errno set otherwise. */
int cb_write_all(int fd, const void *buf, size_t n);

/* Appends line (with its newline) to path, created 0644 if missing, in one
 * O_APPEND write, so lines from several processes never interleave; -1 with
 * errno set otherwise. */
int cb_append_line(const char *path, const char *line);

/* Whether openat2 works here (Linux 5.6+; valgrind 3.19 does not know it):
 * without it, opening inside a root refuses every symlink instead of
 * following those that stay inside. Tests of the latter check this. */
bool cb_openat2_available(void);

#endif
