/* ADD of a local tar archive: extracted with the layer applier (which holds
 * every hostile-tar protection: no absolute names, no "..", nothing created,
 * linked or followed outside the target) into a fresh directory under
 * tmpdir, then added as a tree. On the way to the applier each entry's path
 * is resolved through the symlinks the archive made, chroot-like inside
 * that directory, as docker's and buildah's chrooted extraction does (see
 * "the archive as the applier gets it"). Owners come from the archive's
 * headers, noted on the way, because a rootless extraction cannot chown. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "builder/copy_private.h"
#include "common/archive_lazy.h"
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

/* Owners of hardlinks are their targets' (after sorting). */
static void owner_map_finish(owner_map_t *m) {
    if (m->len)
        qsort(m->items, m->len, sizeof *m->items, owner_cmp);
    for (size_t i = 0; i < m->len; i++)
        if (m->items[i].link)
            owner_lookup(m, m->items[i].link, &m->items[i].uid, &m->items[i].gid);
}

static void owner_map_add(owner_map_t *m, const char *name, const char *link,
                          struct archive_entry *e) {
    if (m->len == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->items = cb_xrealloc(m->items, m->cap * sizeof *m->items);
    }
    int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    m->items[m->len] = (owner_item_t){
        .name = cb_xstrdup(name),
        .link = link ? cb_xstrdup(link) : NULL,
        .index = m->len,
        .uid = uid >= 0 && uid < UINT32_MAX ? (uint32_t)uid : 0,
        .gid = gid >= 0 && gid < UINT32_MAX ? (uint32_t)gid : 0,
    };
    m->len++;
}

/* ---- the symlinks the archive made so far ----
 *
 * The extraction directory starts empty, so which of its paths are
 * symlinks follows from the entries already extracted: a symlink entry (or
 * a hardlink to one) makes one; any other entry replaces what was at its
 * name, and one that is not a directory also whatever was below it. Sorted
 * by name, so everything below "name/" is one run. */

typedef struct link_item {
    char *name, *target;
} link_item_t;

typedef struct link_map {
    link_item_t *items;
    size_t len, cap;
} link_map_t;

/* The first item not sorting before name. */
static size_t link_lower(const link_map_t *m, const char *name) {
    size_t lo = 0, hi = m->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->items[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *link_get(const link_map_t *m, const char *name) {
    size_t i = link_lower(m, name);
    return i < m->len && strcmp(m->items[i].name, name) == 0 ? m->items[i].target : NULL;
}

static void link_remove(link_map_t *m, size_t i, size_t end) {
    if (i == end)
        return;
    for (size_t k = i; k < end; k++) {
        free(m->items[k].name);
        free(m->items[k].target);
    }
    memmove(m->items + i, m->items + end, (m->len - end) * sizeof *m->items);
    m->len -= end - i;
}

/* Drops name and, with below, every name under "name/". */
static void link_drop(link_map_t *m, const char *name, bool below) {
    size_t i = link_lower(m, name);
    if (i < m->len && strcmp(m->items[i].name, name) == 0)
        link_remove(m, i, i + 1);
    if (!below)
        return;
    cb_autofree char *prefix = cb_xasprintf("%s/", name);
    size_t n = strlen(prefix), end = i = link_lower(m, prefix);
    while (end < m->len && strncmp(m->items[end].name, prefix, n) == 0)
        end++;
    link_remove(m, i, end);
}

static void link_set(link_map_t *m, const char *name, const char *target) {
    link_drop(m, name, true);
    if (m->len == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->items = cb_xrealloc(m->items, m->cap * sizeof *m->items);
    }
    size_t i = link_lower(m, name);
    memmove(m->items + i + 1, m->items + i, (m->len - i) * sizeof *m->items);
    m->items[i] = (link_item_t){cb_xstrdup(name), cb_xstrdup(target)};
    m->len++;
}

static void link_map_free(link_map_t *m) {
    for (size_t i = 0; i < m->len; i++) {
        free(m->items[i].name);
        free(m->items[i].target);
    }
    free(m->items);
}

#define MAX_SYMLINKS 40 /* as Linux's MAXSYMLINKS */

/* The canonical directory dir (from cb_layer_name_clean) with the
 * archive's symlinks followed the way a chroot at the extraction directory
 * sees them: absolute targets start at it and ".." stops there. */
static int resolve_in_root(const link_map_t *m, const char *dir, char **out, cb_error_t **err) {
    cb_autobuf cb_buf_t canon = CB_BUF_INIT;
    cb_autofree char *rest = cb_xstrdup(dir);
    size_t pos = 0;
    int links = 0;
    while (rest[pos]) {
        pos += strspn(rest + pos, "/");
        size_t n = strcspn(rest + pos, "/");
        const char *comp = rest + pos;
        pos += n;
        if (n == 0 || (n == 1 && comp[0] == '.'))
            continue;
        size_t before = canon.len;
        if (n == 2 && comp[0] == '.' && comp[1] == '.') {
            const char *slash = strrchr(cb_buf_str(&canon), '/');
            cb_buf_truncate(&canon, slash ? (size_t)(slash - cb_buf_str(&canon)) : 0);
            continue;
        }
        if (canon.len)
            cb_buf_putc(&canon, '/');
        cb_buf_add(&canon, comp, n);
        const char *target = link_get(m, cb_buf_str(&canon));
        if (target == NULL)
            continue;
        if (++links > MAX_SYMLINKS)
            return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                     "'%s': too many levels of symbolic links", dir);
        /* The link's target replaces it: splice it before what is left. */
        char *spliced = cb_xasprintf("%s/%s", target, rest + pos);
        free(rest);
        rest = spliced;
        pos = 0;
        cb_buf_truncate(&canon, target[0] == '/' ? 0 : before);
    }
    *out = cb_buf_steal(&canon);
    return 0;
}

/* ---- the archive as the applier gets it ----
 *
 * Docker and buildah extract an ADD archive chrooted at the destination, so
 * an entry whose path passes through a symlink the archive made earlier
 * lands where that link leads inside the destination (symldir1 -> ..,
 * then symldir1/etc/myfile: etc/myfile), never outside it. The layer
 * applier resolves paths beneath its target and refuses such entries, so
 * the archive is handed to it re-encoded (pax, uncompressed, streamed) with
 * each entry's name and hardlink target resolved that way first. Names
 * the applier refuses ("..", absolute) go to it as they are, and it still
 * resolves every path beneath the target: nothing here can widen what an
 * entry reaches. */

typedef struct rewrite {
    struct archive *in, *out;
    cb_buf_t pending; /* re-encoded bytes not yet handed to the applier */
    size_t off;
    enum { RW_HEADER, RW_DATA, RW_DONE } state;
    bool discard; /* the applier is done: what libarchive still writes is dropped */
    link_map_t links;
    owner_map_t *owners;
    const char *what;
    cb_error_t *out_err;
    char chunk[64 * 1024];
} rewrite_t;

static la_ssize_t rewrite_write(struct archive *a, void *ctx, const void *buf, size_t n) {
    (void)a;
    rewrite_t *rw = ctx;
    if (rw->discard)
        return -1; /* stops the padding at once */
    cb_buf_add(&rw->pending, buf, n);
    return (la_ssize_t)n;
}

static int archive_fail(cb_error_t **err, struct archive *a, const char *what) {
    return cb_error_kind_set(err, CB_ERR_LIBRARY, "reading '%s': %s", what,
                             archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

/* name, clean and not the root, resolved in the extraction root; NULL for
 * a name left for the applier to refuse. */
static int resolve_name(const rewrite_t *rw, const char *raw, char **out, cb_error_t **err) {
    *out = NULL;
    cb_autofree char *name = NULL;
    cb_autoerr cb_error_t *refused = NULL;
    if (raw == NULL || cb_layer_name_clean(raw, false, &name, &refused) < 0 || name[0] == '\0')
        return 0;
    cb_autofree char *dir = NULL;
    const char *base = cb_layer_name_split(name, &dir);
    cb_autofree char *rdir = NULL;
    if (resolve_in_root(&rw->links, dir, &rdir, err) < 0)
        return cb_error_wrap(err, "layer entry '%s'", raw);
    *out = copy_join(rdir, base);
    return 0;
}

static int rewrite_entry(rewrite_t *rw, struct archive_entry *e, cb_error_t **err) {
    const char *hl = archive_entry_hardlink(e);
    cb_autofree char *name = NULL, *link = NULL;
    if (resolve_name(rw, archive_entry_pathname(e), &name, err) < 0 ||
        (hl && resolve_name(rw, hl, &link, err) < 0))
        return -1;
    if (name)
        archive_entry_copy_pathname(e, name);
    if (link)
        archive_entry_copy_hardlink(e, link);
    if (hl)
        archive_entry_set_size(e, 0); /* a hardlink's data, if any, is its target's */
    archive_entry_sparse_clear(e);    /* holes are written as zeros */
    if (name == NULL)
        return 0;
    owner_map_add(rw->owners, name, link ? link : hl, e);
    const char *base = strrchr(name, '/');
    if (cb_str_has_prefix(base ? base + 1 : name, ".wh."))
        return 0; /* the applier keeps what this archive made */
    const char *link_target = link ? link_get(&rw->links, link) : NULL;
    if (link_target) {
        cb_autofree char *t = cb_xstrdup(link_target);
        link_set(&rw->links, name, t);
    } else if (!hl && archive_entry_filetype(e) == AE_IFLNK && archive_entry_symlink(e)) {
        link_set(&rw->links, name, archive_entry_symlink(e));
    } else {
        link_drop(&rw->links, name, hl || archive_entry_filetype(e) != AE_IFDIR);
    }
    return 0;
}

/* Re-encodes one more entry header, data chunk or the end of the archive. */
static int rewrite_step(rewrite_t *rw, cb_error_t **err) {
    if (rw->state == RW_DATA) {
        la_ssize_t n = archive_read_data(rw->in, rw->chunk, sizeof rw->chunk);
        if (n < 0)
            return archive_fail(err, rw->in, rw->what);
        if (n == 0) {
            rw->state = RW_HEADER;
            return 0;
        }
        if (archive_write_data(rw->out, rw->chunk, (size_t)n) != n)
            return archive_fail(err, rw->out, rw->what);
        return 0;
    }
    struct archive_entry *e;
    int r = archive_read_next_header(rw->in, &e);
    if (r == ARCHIVE_EOF) {
        rw->state = RW_DONE;
        if (archive_write_close(rw->out) != ARCHIVE_OK)
            return archive_fail(err, rw->out, rw->what);
        return 0;
    }
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return archive_fail(err, rw->in, rw->what);
    /* A name that is empty means the destination itself to docker and
     * buildah ("." once cleaned), which skip the entry. */
    const char *raw = archive_entry_pathname(e);
    if (raw && raw[0] == '\0')
        return 0;
    if (rewrite_entry(rw, e, err) < 0)
        return -1;
    r = archive_write_header(rw->out, e);
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return archive_fail(err, rw->out, rw->what);
    if (archive_entry_size(e) > 0)
        rw->state = RW_DATA;
    return 0;
}

/* cb_layer_source_fn over the re-encoded archive. */
static int rewrite_read(void *ctx, void *buf, size_t cap, size_t *got, cb_error_t **err) {
    rewrite_t *rw = ctx;
    while (rw->off == rw->pending.len && rw->state != RW_DONE) {
        rw->off = 0;
        cb_buf_truncate(&rw->pending, 0);
        if (rewrite_step(rw, err) < 0)
            return -1;
    }
    size_t n = rw->pending.len - rw->off;
    if (n > cap)
        n = cap;
    memcpy(buf, rw->pending.data + rw->off, n);
    rw->off += n;
    *got = n;
    return 0;
}

/* Extracts the archive fd into tfd, resolved as above; owners into owners. */
static int extract(const copy_ctx_t *c, int fd, const char *what, int tfd, owner_map_t *owners,
                   cb_error_t **err) {
    rewrite_t *rw = cb_xcalloc(1, sizeof *rw);
    rw->owners = owners;
    rw->what = what;
    rw->in = tar_reader();
    rw->out = archive_write_new();
    if (rw->out == NULL)
        abort(); /* OOM policy of cb_x* */
    int rc = -1;
    if (archive_read_open_fd(rw->in, fd, 64 * 1024) != ARCHIVE_OK) {
        archive_fail(err, rw->in, what);
        goto out;
    }
    if (archive_write_set_format_pax(rw->out) != ARCHIVE_OK ||
        archive_write_open2(rw->out, rw, NULL, rewrite_write, NULL, NULL) != ARCHIVE_OK) {
        archive_fail(err, rw->out, what);
        goto out;
    }
    cb_layer_apply_opts_t opts = {.rootless = c->env->rootless, .max_size = c->env->max_archive_size};
    cb_layer_apply_result_t res;
    rc = cb_layer_apply(tfd, rewrite_read, rw, &opts, &res, err);
    owner_map_finish(owners);
out:
    /* Freeing a writer inside an entry pads the entry to the size its
     * header gave: a header that claims a terabyte, then the end of the
     * archive, would otherwise fill memory with zeros here; a failing
     * write ends the padding. */
    rw->discard = true;
    archive_read_free(rw->in);
    archive_write_free(rw->out);
    cb_buf_free(&rw->pending);
    link_map_free(&rw->links);
    free(rw);
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
    if (rewind_fd(fd, err) < 0 || extract(c, fd, what, tfd, &owners, err) < 0) {
        cb_error_wrap(err, "%s: extracting '%s'", c->cmd, what);
        goto out;
    }
    copy_walk_t wk = {.c = c, .owner = owner_lookup, .owner_ctx = &owners};
    if (copy_dest_mkdir(c, name, err) < 0)
        goto out;
    /* Unpacked anew each time: no cache can know these files' digests, the
     * key reads them (the archive is read for the key and the layer both). */
    bool reads = cb_layer_writer_key_reads(c->w, true);
    rc = copy_walk_dir(&wk, tfd, "", "", name, NULL, err);
    cb_layer_writer_key_reads(c->w, reads);
out:
    owner_map_free(&owners);
    cb_autoerr cb_error_t *rm_err = NULL;
    if (cb_rm_rf(tmp, &rm_err) < 0 && rc == 0) {
        *err = cb_steal_pointer(&rm_err);
        rc = -1;
    }
    return rc;
}
