/* COPY and ADD: which files an instruction selects, where they land in the
 * image, and with which owner and mode, written as entries of a layer.
 *
 * The rules are Docker's (the Dockerfile reference), with BuildKit's
 * behaviour where the two differ:
 *
 *   - Sources are relative to the build context (or, with --from, to that
 *     stage's or image's root); an absolute source is taken relative to that
 *     root. Paths are resolved like a chroot: a symlink, "..", or an absolute
 *     link target never leads outside the root. A source named directly is
 *     followed when it is a symlink; symlinks met while walking a directory
 *     are copied as symlinks.
 *   - Wildcards are Go filepath.Match patterns per path component; a pattern
 *     that matches nothing is an error only when no source of the
 *     instruction selects anything; a missing plain source always is.
 *     Files left out by .containerignore are neither copied nor matched.
 *   - A directory source copies its contents. Several sources (after wildcard
 *     expansion) need a directory destination: one ending in "/" or one that
 *     already is a directory in the image. A relative destination is taken
 *     against WORKDIR.
 *   - The destination is resolved inside the image root, following the
 *     image's symlinks (/bin -> usr/bin puts entries under usr/bin).
 *     Directories that exist in the image are left out of the layer (they
 *     keep their metadata); missing ones are created 0755, owned by the
 *     --chown owner (root by default).
 *   - Owners: without --chown every entry is 0:0 for context sources; COPY
 *     --from keeps the source's owners (0:0 when ids_collapsed, because such
 *     a materialised root carries the builder's own ids). --chown=user[:group]
 *     looks names up in the image's /etc/passwd and /etc/group; numbers are
 *     taken as they are; a user without group gets the user's primary group
 *     (a numeric uid alone gets gid = uid).
 *   - --chmod: octal (<= 07777), or symbolic like "u=rwX,go=rX"; applies to
 *     every copied entry (made-up parent directories stay 0755).
 *   - --parents keeps each source's path (relative to the context, or to a
 *     "/./" pivot in the source) under the destination; --exclude patterns
 *     (.dockerignore syntax) are matched relative to each source root.
 *   - --link changes nothing in the layer content: entries are always written
 *     relative to "/" and never depend on the lower layers' content beyond
 *     the destination path resolution above.
 *   - ADD extracts local tar archives (plain, gzip, bzip2, xz, zstd) into the
 *     destination directory, keeping the archive's owners unless --chown
 *     (--unpack=false copies them as files). ADD of an http(s) URL downloads
 *     the file (mode 0600, mtime from Last-Modified), named after the last
 *     component of the URL path when the destination is a directory, and
 *     checked against --checksum=sha256:...; URLs are not extracted unless
 *     --unpack=true.
 *   - Heredoc sources ("COPY <<EOF /dst") become files of mode 0644 named
 *     after the delimiter, their bodies expanded against the stage's
 *     environment unless the delimiter was quoted.
 *
 * Nothing outside the source root, the image root (read only) and tmpdir is
 * touched. */
#ifndef CB_BUILDER_COPY_H
#define CB_BUILDER_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/ignore.h"
#include "common/error.h"
#include "layer/writer.h"
#include "parser/expand.h"
#include "parser/instructions.h"

typedef struct cb_copy_env {
    int context_fd;            /* build context dir: sources of plain COPY/ADD */
    const cb_ignore_t *ignore; /* may be NULL; excluded files are invisible */
    int src_root_fd;           /* COPY --from: that root fs (context_fd unused); else -1 */
    int dest_root_fd;          /* the stage's current root fs, read only */
    const char *workdir;       /* the stage's WORKDIR; NULL or "" means "/" */
    const cb_env_t *env;       /* for heredoc expansion; may be NULL */
    const char *tmpdir;        /* downloads / archive extraction; NULL: $TMPDIR or /tmp */
    bool rootless;             /* chowns while extracting archives are best effort */
    uint64_t max_archive_size; /* uncompressed bytes an ADD archive may hold; 0: any */
    bool ids_collapsed;        /* materialised roots do not carry the image's ids */
    /* For a cache key (layer writer in key mode, dest_root_fd an empty
     * tree): --chown names are not looked up (the instruction's text,
     * part of the key, holds them). */
    bool key_mode;
    bool clamp_mtime;          /* SOURCE_DATE_EPOCH / --timestamp */
    int64_t mtime;
} cb_copy_env_t;

/* Adds the entries COPY (is_add false) or ADD (is_add true) produces to w.
 * Errors name the instruction ("COPY: ...") and carry its file:line. */
int cb_copy_to_layer(const cb_instr_copy_t *ins, bool is_add, const cb_copy_env_t *env,
                     cb_layer_writer_t *w, cb_error_t **err);

#endif
