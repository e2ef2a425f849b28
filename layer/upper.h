/* Overlay upper dirs: what a RUN step changed, as a layer and as changes to
 * the stage's root file system.
 *
 * A RUN step runs in a kernel overlayfs: lower = the stage's merged root
 * (a plain directory tree), upper = a fresh directory. When the step ends,
 * the builder
 *   1. writes the upper as a layer: cb_layer_add_upper(writer, upper, &err)
 *      between cb_layer_writer_new and cb_layer_writer_finish;
 *   2. moves the upper's changes into the merged root, so the next step's
 *      lower shows them: cb_overlay_commit_upper(upper, merged, &err).
 * Do 1 before 2: the commit empties the upper.
 *
 * What the kernel leaves in an upper dir (mounted with or without
 * "userxattr"):
 *   - a whiteout (the name was deleted) is a character device 0/0; the
 *     kernel may share one whiteout inode, so its link count can be > 1;
 *   - an opaque directory (it hides all lower content, e.g. after
 *     `rm -rf d; mkdir d`) has user.overlay.opaque (userxattr) or
 *     trusted.overlay.opaque set to "y" ("x" on recent kernels only says
 *     that the directory holds xattr whiteouts: not opaque);
 *   - everything else is the new or changed entry itself, with overlay
 *     bookkeeping xattrs (user.overlay.* / trusted.overlay.*: origin,
 *     impure, nlink, ...) that are not image content.
 * fuse-overlayfs (the fallback when the kernel refuses an overlay in a
 * user namespace) writes the same, or when it may not make device nodes:
 *   - a whiteout as an empty regular file ".wh.NAME" beside it;
 *   - an opaque directory with trusted.overlay.opaque or
 *     user.fuseoverlayfs.opaque "y", and always also an empty regular
 *     file ".wh..wh..opq" in it;
 *   - user.fuseoverlayfs.* bookkeeping xattrs (origin, ...).
 * Both are read here from any upper: a step cannot create a ".wh." name
 * through fuse-overlayfs, and through the kernel overlay such a file would
 * be read as a whiteout by whoever unpacks the layer anyway.
 * A real 0/0 character device cannot exist in an upper (the overlay would
 * show it as deleted), so reading every 0/0 device as a whiteout is exact.
 * Other device nodes are content. Sockets are not: both functions skip
 * them, as the writer does everywhere.
 *
 * Refused (an error naming the entry): an upper holding overlay.redirect
 * or overlay.metacopy xattrs. Those come from mounts with redirect_dir=on
 * or metacopy=on, where an upper entry is no longer complete on its own
 * (a renamed directory's old content, a file's data stay in the lower);
 * the runner never mounts that way (the kernel refuses both with
 * userxattr anyway).
 *
 * The root of the upper is the overlay's root: its own mode, owner and
 * xattrs are not written to the layer (a layer has no entry for "/") and
 * not copied to the merged root. */
#ifndef CB_LAYER_UPPER_H
#define CB_LAYER_UPPER_H

#include <stdbool.h>

#include "common/error.h"
#include "layer/writer.h"

/* True for user.overlay.*, trusted.overlay.* (also the "escaped" form
 * user.overlay.overlay.* that a nested overlay stores) and
 * user.fuseoverlayfs.*. */
bool cb_overlay_xattr_name(const char *name);

/* Adds the upper dir upper_dirfd to the layer, depth-first with each
 * directory's children sorted bytewise (a ".wh.NAME" file sorted as
 * NAME, where the kernel's whiteout would be), at the layer root:
 *   - a 0/0 character device "a/b" or a file "a/.wh.b" becomes the
 *     whiteout "a/.wh.b"; a ".wh..wh..opq" file only marks its directory;
 *   - an opaque directory "d" becomes its directory entry, then the marker
 *     "d/.wh..wh..opq", then its children;
 *   - anything else is written as cb_layer_add_path would: ownership and
 *     mode as stat sees them, hardlinks inside the upper as hardlinks,
 *     security.capability, user.* and trusted.* xattrs, except that no
 *     overlay xattr reaches the layer.
 * upper_dirfd may be an O_PATH descriptor; it is not moved or closed. */
int cb_layer_add_upper(cb_layer_writer_t *w, int upper_dirfd, cb_error_t **err);

/* fuse-overlayfs marks every directory it creates opaque, also where the
 * lower has nothing to hide; the kernel marks only a directory made where
 * the lower had one. This takes the mark (marker files and opaque xattrs)
 * off every upper directory whose path is not a directory in lower_dirfd
 * (followed component by component with O_NOFOLLOW; below an opaque
 * directory, nothing is compared), keeping the directory's times, so that
 * the layer is the one the kernel overlay would give. */
int cb_upper_drop_idle_opaque(int upper_dirfd, int lower_dirfd, cb_error_t **err);

/* Moves the changes in upper_dirfd into the tree merged_dirfd with
 * renameat (both must be on one file system, which makes this cheap):
 *   - a whiteout removes the name in merged (recursively for a directory,
 *     never following a symlink);
 *   - an opaque directory replaces the merged entry whole, old content
 *     gone;
 *   - a directory that is a directory in merged too is merged child by
 *     child, then gets the upper directory's mode, owner, atime/mtime and
 *     non-overlay xattrs (xattrs it does not have are left alone, as
 *     applying a layer leaves them);
 *   - any other directory (new, or where merged has a non-directory or a
 *     symlink) replaces the merged entry whole;
 *   - a file, symlink, device or fifo replaces whatever merged has there.
 * Overlay xattrs are removed from everything moved, and whiteouts inside a
 * directory that is moved whole are dropped. Hardlinked files stay
 * hardlinked (rename keeps the inode). Nothing beneath merged_dirfd is ever
 * reached through a symlink: every step is an *at() call on a directory
 * opened with O_NOFOLLOW from merged_dirfd down, so a symlink in merged is
 * replaced or removed, not followed.
 *
 * On success the upper is empty (its root is kept). On failure the error
 * names the entry; merged is then partly updated and the stage's root must
 * not be used again (the builder starts the stage over). The caller needs
 * write access to every directory it changes: root, or root of the user
 * namespace that owns both trees. */
int cb_overlay_commit_upper(int upper_dirfd, int merged_dirfd, cb_error_t **err);

#endif
