/* ADD of a local tar archive: extracted with the layer applier (which holds
 * every hostile-tar protection: no absolute names, no "..", nothing created,
 * linked or followed outside the target) into a fresh directory under
 * tmpdir, then added as a tree. Owners come from the archive's headers, read
 * in a second pass, because a rootless extraction cannot chown. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "builder/copy_private.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "layer/apply.h"
#include "layer/name.h"

static int rewind_fd(int fd, cb_error_t **err) {
    if (lseek(fd, 0, SEEK_SET) < 0)
        return cb_error_set(err, errno, "rewind archive");
    return 0;
}

static struct archive *tar_reader(void) {
    struct archive *a = archive_read_new();
    if (a == NULL)
        abort(); /* OOM policy of cb_x* */
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    return a;
}

int copy_is_archive(int fd, bool *is_tar, cb_error_t **err) {
    *is_tar = false;
    if (rewind_fd(fd, err) < 0)
        return -1;
    struct archive *a = tar_reader();
    struct archive_entry *e;
    if (archive_read_open_fd(a, fd, 64 * 1024) == ARCHIVE_OK) {
        int r = archive_read_next_header(a, &e);
        *is_tar = r == ARCHIVE_OK || r == ARCHIVE_WARN;
    }
    archive_read_free(a);
    return rewind_fd(fd, err);
}

/* name -> owner, from the archive's headers; the last entry of a name wins
 * as it does on disk. */
typedef struct owner_item {
    char *name;
    char *link; /* hardlink target: the owner is that file's */
    size_t index;
    uint32_t uid, gid;
} owner_item_t;

typedef struct owner_map {
    owner_item_t *items;
    size_t len, cap;
} owner_map_t;

static int owner_cmp(const void *a, const void *b) {
    const owner_item_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void owner_map_free(owner_map_t *m) {
    for (size_t i = 0; i < m->len; i++) {
        free(m->items[i].name);
        free(m->items[i].link);
    }
    free(m->items);
}

static bool owner_lookup(void *ctx, const char *rel, uint32_t *uid, uint32_t *gid) {
    const owner_map_t *m = ctx;
    size_t lo = 0, hi = m->len;
    while (lo < hi) { /* the first item >= rel */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->items[mid].name, rel) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == m->len || strcmp(m->items[lo].name, rel) != 0)
        return false; /* a directory the applier made up: root's */
    while (lo + 1 < m->len && strcmp(m->items[lo + 1].name, rel) == 0)
        lo++;
    *uid = m->items[lo].uid;
    *gid = m->items[lo].gid;
    return true;
}

static int owner_map_read(int fd, const char *what, owner_map_t *m, cb_error_t **err) {
    if (rewind_fd(fd, err) < 0)
        return -1;
    struct archive *a = tar_reader();
    struct archive_entry *e;
    int rc = 0;
    if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
        rc = cb_error_kind_set(err, CB_ERR_LIBRARY, "reading '%s': %s", what,
                               archive_error_string(a));
        goto out;
    }
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        char *clean = NULL;
        cb_autoerr cb_error_t *ignored = NULL;
        /* Names the applier refused never got here. */
        if (cb_layer_name_clean(archive_entry_pathname(e), false, &clean, &ignored) < 0)
            continue;
        if (m->len == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 64;
            m->items = cb_xrealloc(m->items, m->cap * sizeof *m->items);
        }
        int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
        char *link = NULL;
        const char *hl = archive_entry_hardlink(e);
        cb_autoerr cb_error_t *link_err = NULL;
        if (hl && cb_layer_name_clean(hl, false, &link, &link_err) < 0)
            link = NULL;
        m->items[m->len] = (owner_item_t){
            .name = clean,
            .link = link,
            .index = m->len,
            .uid = uid >= 0 && uid < UINT32_MAX ? (uint32_t)uid : 0,
            .gid = gid >= 0 && gid < UINT32_MAX ? (uint32_t)gid : 0,
        };
        m->len++;
    }
    if (r != ARCHIVE_EOF)
        rc = cb_error_kind_set(err, CB_ERR_LIBRARY, "reading '%s': %s", what,
                               archive_error_string(a));
    if (m->len)
        qsort(m->items, m->len, sizeof *m->items, owner_cmp);
    for (size_t i = 0; i < m->len; i++)
        if (m->items[i].link)
            owner_lookup(m, m->items[i].link, &m->items[i].uid, &m->items[i].gid);
out:
    archive_read_free(a);
    return rc;
}

static const char *tmp_base(const copy_ctx_t *c) {
    if (c->env->tmpdir && c->env->tmpdir[0])
        return c->env->tmpdir;
    const char *t = getenv("TMPDIR");
    return t && t[0] ? t : "/tmp";
}

int copy_add_archive(copy_ctx_t *c, int fd, const char *what, const char *name,
                     cb_error_t **err) {
    cb_autofree char *tmp = cb_xasprintf("%s/cbuild-add-XXXXXX", tmp_base(c));
    if (mkdtemp(tmp) == NULL)
        return cb_error_set(err, errno, "%s: temporary directory in %s", c->cmd, tmp_base(c));
    owner_map_t owners = {0};
    int rc = -1;
    cb_autoclose int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tfd < 0) {
        cb_error_set(err, errno, "open %s", tmp);
        goto out;
    }
    cb_layer_apply_opts_t opts = {.rootless = c->env->rootless};
    cb_layer_apply_result_t res;
    if (rewind_fd(fd, err) < 0 || cb_layer_apply_fd(tfd, fd, &opts, &res, err) < 0) {
        cb_error_wrap(err, "%s: extracting '%s'", c->cmd, what);
        goto out;
    }
    if (owner_map_read(fd, what, &owners, err) < 0) {
        cb_error_wrap(err, "%s", c->cmd);
        goto out;
    }
    copy_walk_t wk = {.c = c, .owner = owner_lookup, .owner_ctx = &owners};
    if (copy_dest_mkdir(c, name, err) < 0)
        goto out;
    rc = copy_walk_dir(&wk, tfd, "", "", name, NULL, err);
out:
    owner_map_free(&owners);
    cb_autoerr cb_error_t *rm_err = NULL;
    if (cb_rm_rf(tmp, &rm_err) < 0 && rc == 0) {
        *err = cb_steal_pointer(&rm_err);
        rc = -1;
    }
    return rc;
}
