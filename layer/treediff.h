/* A layer from the difference of two trees: RUN's fallback when no overlay
 * can be mounted. The runner clones the stage's tree (treeclone.h), runs
 * the step in the clone, then writes the changes that turn the original
 * (old) into the clone (new):
 *
 *   cb_layer_writer_new(&w, ...);
 *   cb_layer_add_tree_diff(w, old_dirfd, new_dirfd, &err);
 *   cb_layer_writer_finish(w, &res, &err);
 *
 * What is written, following the OCI image-spec changeset rules (layer.md:
 * "Determining Changes", "Representing Changes", "Changeset over existing
 * files", "Whiteouts"):
 *   - a name in new only: added, a directory with everything below it;
 *   - a name in old only: the whiteout "dir/.wh.NAME" (one for a whole
 *     deleted tree: nothing below it is listed);
 *   - a name in both whose type differs (a directory replaced by a file,
 *     a file by a directory or a symlink...): the new entry, and for a
 *     directory everything below it. No whiteout: an applier replaces an
 *     existing path that is not a directory on both sides ("remove, then
 *     recreate", which removes an old directory whole);
 *   - a name in both, of one type, that differs: the new entry. For a
 *     directory only its own entry (OCI: the existing directory takes the
 *     entry's attributes, its content stays), then the walk goes on into it.
 *   - a directory of both trees is also written when anything below it is
 *     (a changed, added or whited-out name): its entry, with new's
 *     metadata, comes before that change, as the kernel's overlay upper
 *     (cb_layer_add_upper) and Docker's diff have it. A layer unpacked on
 *     its own (an overlay lower dir) then has the real directory, not a
 *     made-up 0755 root:root one that would hide the real one's mode.
 * Deletions are explicit whiteouts, never opaque markers: OCI says
 * implementations SHOULD generate explicit whiteouts, and two trees can't
 * tell "rm -rf d; mkdir d" from removing each child of d anyway. No name
 * is both written and whited out (OCI: no duplicate entries).
 *
 * Order: depth-first from new's root (which has no entry), each
 * directory's entry before what is below it; inside a directory, first the
 * whiteouts of the names it lost (OCI: whiteouts SHOULD come before
 * sibling entries), then its other changes, each group sorted bytewise, as
 * cb_layer_add_tree sorts. The same trees give the same layer.
 *
 * "Differs" means any of: type; mode (07777); uid; gid; mtime (seconds and
 * nanoseconds); for regular files the size, for symlinks the target, for
 * devices the device numbers; the xattrs a layer carries (names and values
 * of security.capability, user.*, trusted.*); the hardlink group (below).
 * Directories' sizes, ctimes and atimes are not compared. File content is
 * NOT compared: a regular file with the same size, mtime and metadata is
 * taken as unchanged, as Docker's and buildah's naive diffs take it. A step
 * that rewrites a file in place and restores its mtime (touch -r, cp -p of
 * a same-sized file) is not seen; a RUN step's ordinary writes set the
 * mtime to "now", so in practice this is what the overlay path sees too.
 *
 * Hardlinks: the entries are written with cb_layer_add_path / _tree, so
 * names of one inode written to this layer become one file and hardlinks
 * to its first name. A non-directory's hardlink group is the names of its
 * inode in its tree; it changed when its names in new are not exactly its
 * old names that new still has as non-directories. Then every name of the
 * group in new is written (all of them change together: they are one
 * inode), so a file whose only change is a new name is written with the
 * new name as a hardlink to it, and a name that was split off into its own
 * inode is written on its own. A name merely deleted from a group is a
 * whiteout; the other names are not rewritten.
 *
 * Sockets count as absent on both sides (the writer never writes them).
 * Nothing is followed: each directory is opened with O_NOFOLLOW from its
 * parent's descriptor, a symlink is compared by its target text.
 *
 * Memory grows with the entries of the directories on the way down and
 * the names of hardlinked inodes (both trees are read once before the walk to
 * find them), never with file sizes. Both trees must stay unchanged while
 * this runs. xattrs are read through /proc/self/fd, which needs /proc. */
#ifndef CB_LAYER_TREEDIFF_H
#define CB_LAYER_TREEDIFF_H

#include "common/error.h"
#include "layer/writer.h"

/* old_dirfd and new_dirfd may be O_PATH descriptors; neither is moved or
 * closed. Writes nothing when the trees do not differ. */
int cb_layer_add_tree_diff(cb_layer_writer_t *w, int old_dirfd, int new_dirfd, cb_error_t **err);

#endif
