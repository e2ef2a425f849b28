/* Blob source records (push/push_sources.h). */
#include "push/push_sources.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/root.h"
#include "cache/store.h"
#include "common/digest.h"

#define SOURCES_DIR "blob-sources"
#define SOURCES_MAX (64u << 10) /* a file past this is not read (and not grown) */

static char *sources_path(const char *root_dir, const char *digest) {
    return cb_xasprintf("%s/" SOURCES_DIR "/%s", root_dir, digest + 7);
}

/* Registry names and repositories never hold spaces or newlines; a line
 * with them could not be read back, so such a name is not recorded. */
static bool recordable(const char *s) {
    return *s && !strpbrk(s, " \t\r\n");
}

int cb_blob_source_add(const char *root_dir, const char *digest, const char *registry,
                       const char *repository, cb_error_t **err) {
    if (!cb_digest_valid(digest))
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "blob source: bad digest %s", digest);
    if (!recordable(registry) || !recordable(repository))
        return 0;
    cb_autofree char *dir = cb_xasprintf("%s/" SOURCES_DIR, root_dir);
    if (cb_mkdir_p(dir, 0700, err) < 0)
        return -1;
    cb_autofree char *path = sources_path(root_dir, digest);
    cb_autofree char *line = cb_xasprintf("%s %s\n", registry, repository);
    cb_autofree char *old = NULL;
    size_t len = 0;
    cb_autoerr cb_error_t *rerr = NULL;
    if (cb_read_file(path, SOURCES_MAX, &old, &len, &rerr) == 0) {
        /* Already there as a whole line, or the file is full: nothing to add. */
        size_t ll = strlen(line);
        for (const char *p = old; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (strncmp(p, line, ll) == 0)
                return 0;
        if (len + ll > SOURCES_MAX)
            return 0;
    }
    cb_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return cb_error_set(err, errno, "open %s", path);
    ssize_t n = write(fd, line, strlen(line));
    if (n != (ssize_t)strlen(line))
        return cb_error_set(err, n < 0 ? errno : EIO, "write %s", path);
    return 0;
}

void cb_blob_sources_on(const char *root_dir, const char *digest, const char *registry,
                        const char *except_repo, cb_strv_t *out) {
    if (!cb_digest_valid(digest))
        return;
    cb_autofree char *path = sources_path(root_dir, digest);
    cb_autofree char *data = NULL;
    size_t len = 0;
    cb_autoerr cb_error_t *err = NULL;
    if (cb_read_file(path, SOURCES_MAX, &data, &len, &err) < 0)
        return;
    /* Lines are appended, so the last ones are the most recent. */
    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    for (char *save = NULL, *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        cb_strv_push(&lines, l);
    size_t rl = strlen(registry);
    for (size_t i = lines.len; i-- > 0;) {
        const char *l = lines.items[i];
        if (strncmp(l, registry, rl) != 0 || l[rl] != ' ')
            continue;
        const char *repo = l + rl + 1;
        if (!recordable(repo) || (except_repo && strcmp(repo, except_repo) == 0) ||
            cb_strv_contains(out, repo))
            continue;
        cb_strv_push(out, repo);
    }
}
