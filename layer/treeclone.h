/* Copying a root file system tree: RUN's fallback when the kernel refuses
 * the overlay mount. The runner clones the stage's tree, runs the step in
 * the clone, writes the layer as the difference of the two trees
 * (treediff.h) and lets the clone replace the original.
 *
 * cb_tree_clone(src, dst, &err) copies everything below src into the empty
 * directory dst, and src's own owner, mode, xattrs and times onto dst, so
 * that the clone can stand in for the original:
 *   - regular files: FICLONE (a reflink: btrfs, xfs) when the file system
 *     can, else copy_file_range, else read/write; holes stay holes (only
 *     the ranges SEEK_DATA finds are copied);
 *   - directories, symlinks (the target as text, never followed), fifos and
 *     device nodes (mknod: a refusal such as EPERM without CAP_MKNOD is an
 *     error naming the path); sockets are skipped, as the layer writer
 *     skips them;
 *   - owner (chown without following), then every xattr (security.*,
 *     user.*, trusted.*, system.posix_acl_*; a trusted.* name refused with
 *     EPERM or ENOTSUP is left out), then the mode with setuid, setgid and
 *     sticky bits (after chown, which clears setuid/setgid and the file
 *     capability), then atime and mtime with nanoseconds (a directory's
 *     after its content, so filling it does not move them);
 *   - hardlinks stay hardlinks inside the copy: the first name of an inode
 *     with several links is copied, the others are linked to it.
 * Nothing is followed: every step is an *at() call on a directory opened
 * with O_NOFOLLOW, files are opened with O_NOFOLLOW, and a name that
 * changes type while being copied is an error. Source files are read with
 * O_NOATIME when allowed, so the copy does not move their atimes.
 *
 * Memory grows with the depth of the tree and the number of hardlinked
 * inodes, never with file sizes. On failure the error names the path and
 * dst holds a partial copy for the caller to remove. A dst inside src is
 * refused when the walk reaches it. The caller must be
 * allowed to create what src holds with its owners: root, or root of the
 * user namespace that owns both trees. xattrs are read and written through
 * /proc/self/fd (no *xattrat calls before Linux 6.13), which needs /proc. */
#ifndef CB_LAYER_TREECLONE_H
#define CB_LAYER_TREECLONE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/util.h"

/* src_dirfd and dst_dirfd may be O_PATH descriptors; neither is moved or
 * closed. */
int cb_tree_clone(int src_dirfd, int dst_dirfd, cb_error_t **err);

/* The same walk, but every entry other than a directory becomes a hardlink
 * of the source's (a copy where the link is refused: EPERM, EMLINK, EXDEV);
 * directories are made with the source's metadata. For a source that is
 * never written in place: the copy shares its inodes, so it may only
 * replace or remove entries, never write into them. */
int cb_tree_clone_linked(int src_dirfd, int dst_dirfd, cb_error_t **err);

/* --- shared with treediff.c ------------------------------------------- */

/* The xattrs of parentfd/base (base not followed when it is a symlink), or
 * of the open file parentfd itself (not O_PATH) when base is NULL,
 * appended to out as records sorted by name: the name, a NUL, the value's
 * size (a size_t, as stored in memory) and the value. Only names keep()
 * accepts; keep NULL: all. Nothing is appended when the file system keeps
 * no xattrs. what names the entry in errors. */
int cb_tree_xattrs(int parentfd, const char *base, const char *what,
                   bool (*keep)(const char *name), cb_buf_t *out, cb_error_t **err);
/* Steps through the records of cb_tree_xattrs: false after the last. */
bool cb_tree_xattr_next(const cb_buf_t *b, size_t *pos, const char **name, const void **value,
                        size_t *size);

/* Names by inode: for each (device, inode) the names recorded, in the
 * order they were added. */
typedef struct cb_inode_names cb_inode_names_t;
cb_inode_names_t *cb_inode_names_new(void);
void cb_inode_names_add(cb_inode_names_t *m, dev_t dev, ino_t ino, const char *name);
/* NULL when nothing was recorded for (dev, ino). */
const cb_strv_t *cb_inode_names_get(const cb_inode_names_t *m, dev_t dev, ino_t ino);
void cb_inode_names_free(cb_inode_names_t *m);

#endif
