/* .containerignore / .dockerignore: which build-context paths are left out.
 *
 * Reading follows moby/patternmatcher's ignorefile: a BOM is dropped, a line
 * starting with '#' (column 1) is a comment, lines are trimmed, each pattern is
 * path-cleaned and a leading '/' removed, and a leading '!' makes an exception
 * that re-includes what earlier patterns excluded. Matching follows
 * patternmatcher plus the directory walk that sends docker its context:
 *
 *   - patterns are Go filepath.Match patterns on the slash-separated path
 *     relative to the context ("*" stays inside one path element), and "**"
 *     matches any number of directories ("**" alone matches everything);
 *   - the last pattern that matches decides; a pattern that matches a
 *     directory matches everything below it too;
 *   - an excluded directory is still walked when an exception might
 *     re-include something inside it (cb_ignore_skip_dir, two rules below).
 *     Such a directory is there only when something below it is included:
 *     the walker creates it then, and otherwise leaves it out altogether.
 *
 * When may an exception re-include something inside an excluded directory?
 *
 *   - CB_IGNORE_WALK_CONTEXT (the default; the build context): when the
 *     exception's pattern, read as a path, starts with the directory's path.
 *     This is the test of docker's context walk (archive.TarWithOptions) and
 *     the results docker and buildah give: "subdir" then "!subdir/sub1*"
 *     brings subdir/sub1.txt back, but an exception that starts with a
 *     wildcard ("!**" or "!*" followed by "/sub1*") brings back nothing
 *     below subdir/, though it matches subdir/sub1.txt.
 *   - CB_IGNORE_WALK_FILTER (COPY --exclude; BuildKit's fsutil filter): the
 *     same test while every exception is a plain path (a trailing "/ *" or
 *     "/ **" allowed); once one has a wildcard, every excluded directory is
 *     walked.
 *
 * Ownership: cb_ignore_t owns its patterns; free with cb_ignore_free
 * (NULL-safe). Matching never fails: patterns are validated when loaded.
 */
#ifndef CB_CACHE_IGNORE_H
#define CB_CACHE_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct cb_ignore cb_ignore_t;

/* Parses the text of an ignore file; `source` names it in errors
 * ("FILE:LINE: illegal exclusion pattern: \"!\""). */
int cb_ignore_parse(const char *text, size_t len, const char *source, cb_ignore_t **out,
                    cb_error_t **err);

/* Loads the ignore file that applies to a build of ctx_dir, as buildah picks
 * it: <containerfile>.dockerignore, else <containerfile>.containerignore
 * (containerfile may be NULL; a relative path is taken relative to ctx_dir),
 * else ctx_dir/.containerignore, else ctx_dir/.dockerignore. Files in the
 * context are resolved inside it (a symlink cannot point out). With no file,
 * *out is an empty set that excludes nothing. */
int cb_ignore_load_file(const char *ctx_dir, const char *containerfile, cb_ignore_t **out,
                        cb_error_t **err);

void cb_ignore_free(cb_ignore_t *ig);

/* Which directories a walk skips (see above); parsed sets start as
 * CB_IGNORE_WALK_CONTEXT. */
typedef enum cb_ignore_walk {
    CB_IGNORE_WALK_CONTEXT,
    CB_IGNORE_WALK_FILTER,
} cb_ignore_walk_t;
void cb_ignore_set_walk(cb_ignore_t *ig, cb_ignore_walk_t walk);

/* The path of the file loaded, NULL when none (or parsed from a buffer). */
const char *cb_ignore_source(const cb_ignore_t *ig);
/* The cleaned patterns in order, exceptions with their leading '!'. They
 * change what the context holds, so cache keys cover them. */
size_t cb_ignore_count(const cb_ignore_t *ig);
const char *cb_ignore_pattern(const cb_ignore_t *ig, size_t i);

/* Whether the context path (relative, '/'-separated; a leading "/" or "./"
 * is ignored) is left out of the build context, as the walk would decide it.
 * "." (the context itself) is never excluded. */
bool cb_ignore_matches(const cb_ignore_t *ig, const char *path);

/* For an excluded directory: true when no exception can re-include anything
 * below it under the set's walk rule, so a walker does not descend. */
bool cb_ignore_skip_dir(const cb_ignore_t *ig, const char *dir);

/* For walkers: the per-pattern results of a directory, handed to its
 * entries so each entry costs one pass over the patterns (fsutil's MatchInfo).
 * parent is NULL for entries at the top of the context. When state is not
 * NULL it receives this entry's state (for a directory, to pass to its
 * children); free it with cb_ignore_state_free. Returns whether the entry is
 * excluded. Visiting entries this way gives the same answers as
 * cb_ignore_matches as long as skipped directories are not entered. */
typedef struct cb_ignore_state cb_ignore_state_t;
bool cb_ignore_match_entry(const cb_ignore_t *ig, const cb_ignore_state_t *parent,
                           const char *path, cb_ignore_state_t **state);
void cb_ignore_state_free(cb_ignore_state_t *state);

#endif
