#include "layer/writer_key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "layer/upper.h"

/* A file with several links seen under its first name: later names of the
 * same (dev, ino) become hardlinks to it while links remain (libarchive's
 * tar strategy, which the normal mode uses: after the last expected link
 * the file is forgotten, so a further name is a file again). */
typedef struct link_slot {
    dev_t dev;
    ino_t ino;
    char *name; /* NULL: empty slot */
    nlink_t links; /* still expected; 0: forgotten */
} link_slot_t;

struct cb_layer_key {
    cb_layer_writer_opts_t opts;
    cb_sha256_t *hash;
    cb_buf_t rec; /* the entry being encoded, hashed in one update */
    link_slot_t *links;
    size_t nlinks, cap; /* cap: 0 or a power of two */
    bool reads; /* with lookup_digest: unknown files are read all the same */
    cb_layer_key_counts_t counts;
};

cb_layer_key_t *cb_layer_key_new(const cb_layer_writer_opts_t *opts) {
    cb_layer_key_t *k = cb_xcalloc(1, sizeof *k);
    k->opts = *opts;
    k->hash = cb_sha256_new();
    cb_buf_add(&k->rec, "cbuild layer key 1\n", 19);
    return k;
}

void cb_layer_key_free(cb_layer_key_t *k) {
    if (k == NULL)
        return;
    cb_sha256_free(k->hash);
    cb_buf_free(&k->rec);
    for (size_t i = 0; i < k->cap; i++)
        free(k->links[i].name);
    free(k->links);
    free(k);
}

static void put_u64(cb_buf_t *b, uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    cb_buf_add(b, le, sizeof le);
}

static void put_bytes(cb_buf_t *b, const void *p, size_t n) {
    put_u64(b, n);
    cb_buf_add(b, p, n);
}

static void put_str(cb_buf_t *b, const char *s) {
    put_bytes(b, s, strlen(s));
}

/* The fields every entry has; type is one of f d l h c b p. */
static void put_head(cb_layer_key_t *k, const char *name, char type, mode_t perm, uint32_t uid,
                     uint32_t gid, const cb_layer_attrs_t *attrs) {
    cb_buf_t *b = &k->rec;
    put_str(b, name);
    cb_buf_putc(b, type);
    put_u64(b, attrs && attrs->set_mode ? attrs->mode & 07777 : perm & 07777);
    put_u64(b, attrs && attrs->set_uid ? attrs->uid : uid);
    put_u64(b, attrs && attrs->set_gid ? attrs->gid : gid);
    put_u64(b, attrs && attrs->set_mtime ? (uint64_t)attrs->mtime : 0);
}

static void flush(cb_layer_key_t *k) {
    cb_sha256_update(k->hash, k->rec.data, k->rec.len);
    cb_buf_truncate(&k->rec, 0);
}

static size_t link_home(const cb_layer_key_t *k, dev_t dev, ino_t ino) {
    uint64_t h = ((uint64_t)ino * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)dev * 0xC2B2AE3D27D4EB4Full);
    return (size_t)(h ^ (h >> 29)) & (k->cap - 1);
}

static link_slot_t *link_find(cb_layer_key_t *k, dev_t dev, ino_t ino) {
    for (size_t i = link_home(k, dev, ino);; i = (i + 1) & (k->cap - 1)) {
        link_slot_t *s = &k->links[i];
        if (s->name == NULL || (s->dev == dev && s->ino == ino))
            return s;
    }
}

static void link_grow(cb_layer_key_t *k) {
    link_slot_t *old = k->links;
    size_t old_cap = k->cap;
    k->cap = old_cap ? old_cap * 2 : 64;
    k->links = cb_xcalloc(k->cap, sizeof *k->links);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].name)
            *link_find(k, old[i].dev, old[i].ino) = old[i];
    free(old);
}

/* The first name of the file st when name is a later link to it, else NULL
 * (and name is remembered when more links are to come). */
static const char *link_target(cb_layer_key_t *k, const struct stat *st, const char *name) {
    if (st->st_nlink <= 1 || S_ISDIR(st->st_mode))
        return NULL;
    if (2 * (k->nlinks + 1) > k->cap)
        link_grow(k);
    link_slot_t *s = link_find(k, st->st_dev, st->st_ino);
    if (s->name && s->links > 0) {
        s->links--;
        return s->name;
    }
    if (s->name == NULL)
        k->nlinks++;
    free(s->name);
    *s = (link_slot_t){.dev = st->st_dev, .ino = st->st_ino, .name = cb_xstrdup(name),
                       .links = st->st_nlink - 1};
    return NULL;
}

typedef struct xattr_kv {
    const char *name;
    char *value;
    size_t size;
} xattr_kv_t;

static int kv_cmp(const void *a, const void *b) {
    return strcmp(((const xattr_kv_t *)a)->name, ((const xattr_kv_t *)b)->name);
}

static int get_xattr(int fd, const char *key, xattr_kv_t *kv, const char *name, cb_error_t **err) {
    for (;;) {
        ssize_t n = fgetxattr(fd, key, NULL, 0);
        if (n < 0)
            return cb_error_set(err, errno, "layer: reading xattr %s of '%s'", key, name);
        kv->value = cb_xmalloc((size_t)n + 1);
        ssize_t got = fgetxattr(fd, key, kv->value, (size_t)n);
        if (got >= 0) {
            kv->name = key;
            kv->size = (size_t)got;
            return 0;
        }
        free(kv->value);
        kv->value = NULL;
        if (errno != ERANGE)
            return cb_error_set(err, errno, "layer: reading xattr %s of '%s'", key, name);
    }
}

/* Appends fd's kept xattrs, sorted; *any: whether it has any at all (kept
 * or not: a file with none may be taken as known next time). */
static int put_xattrs(cb_layer_key_t *k, int fd, const char *name, bool drop_overlay, bool *any,
                      cb_error_t **err) {
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (fd >= 0 && cb_xattr_names(fd, NULL, name, &names, err) < 0)
        return -1;
    *any = names.len > 0;
    size_t nkv = 0;
    xattr_kv_t *kv = names.len ? cb_xcalloc(names.len, sizeof *kv) : NULL;
    int rc = 0;
    for (size_t i = 0; i < names.len && rc == 0; i++)
        if (cb_layer_keep_xattr(names.items[i], drop_overlay))
            rc = get_xattr(fd, names.items[i], &kv[nkv++], name, err);
    if (rc == 0) {
        if (nkv > 1)
            qsort(kv, nkv, sizeof *kv, kv_cmp);
        put_u64(&k->rec, nkv);
        for (size_t i = 0; i < nkv; i++) {
            put_str(&k->rec, kv[i].name);
            put_bytes(&k->rec, kv[i].value, kv[i].size);
        }
    }
    for (size_t i = 0; i < nkv; i++)
        free(kv[i].value);
    free(kv);
    return rc;
}

bool cb_layer_key_known(cb_layer_key_t *k, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]) {
    return S_ISREG(st->st_mode) && k->opts.known_digest &&
           k->opts.known_digest(k->opts.content_digest_ctx, st, out);
}

bool cb_layer_key_set_reads(cb_layer_key_t *k, bool on) {
    bool was = k->reads;
    k->reads = on;
    return was;
}

void cb_layer_key_counts(const cb_layer_key_t *k, cb_layer_key_counts_t *out) {
    *out = k->counts;
}

static bool lookup_mode(const cb_layer_key_t *k) {
    return k->opts.lookup_digest && !k->reads;
}

static void count_unknown(cb_layer_key_t *k, const struct stat *st) {
    k->counts.unknown++;
    k->counts.unknown_bytes += (uint64_t)st->st_size;
}

bool cb_layer_key_unknown_file(cb_layer_key_t *k, const struct stat *st) {
    char digest[CB_DIGEST_STR_LEN + 1];
    if (!S_ISREG(st->st_mode) || !lookup_mode(k) || k->opts.lookup_digest(k->opts.content_digest_ctx, st, digest))
        return false;
    count_unknown(k, st);
    return true;
}

/* A regular file's content digest: known, or the callback's answer; 1 when
 * lookup_digest does not know it and it may not be read. */
static int content_digest(cb_layer_key_t *k, int fd, const struct stat *st, const char *known,
                          const char *name, char out[CB_DIGEST_STR_LEN + 1], cb_error_t **err) {
    if (known) {
        /* A digest the hook computed itself (cache/statcache.c). */
        memcpy(out, known, CB_DIGEST_STR_LEN + 1);
        return 0;
    }
    if (lookup_mode(k)) {
        /* Asked again with the fstat of the descriptor: the path may have
         * changed since the walk's stat. */
        if (k->opts.lookup_digest(k->opts.content_digest_ctx, st, out))
            return 0;
        count_unknown(k, st);
        return 1;
    }
    out[0] = '\0';
    if (k->opts.content_digest(k->opts.content_digest_ctx, fd, st, out, err) < 0) {
        if (err && *err == NULL)
            return cb_error_kind_set(err, CB_ERR_INTERNAL, "layer: content digest of '%s' failed",
                                     name);
        return cb_error_wrap(err, "layer: content digest of '%s'", name);
    }
    out[CB_DIGEST_STR_LEN] = '\0';
    if (!cb_digest_valid(out))
        return cb_error_kind_set(err, CB_ERR_INTERNAL,
                                 "layer: content digest of '%s' is not sha256:<hex>", name);
    return 0;
}

static char type_char(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return 'f';
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    default: return 'p'; /* fifo: sockets never get here */
    }
}

int cb_layer_key_host(cb_layer_key_t *k, int parentfd, const char *base, int fd,
                      const struct stat *st, const char *known, const char *name,
                      const cb_layer_attrs_t *attrs, bool drop_overlay, cb_error_t **err) {
    cb_buf_truncate(&k->rec, 0);
    const char *first = link_target(k, st, name);
    if (first) {
        /* A hardlink entry: no content, no xattrs of its own. */
        put_head(k, name, 'h', st->st_mode, st->st_uid, st->st_gid, attrs);
        put_str(&k->rec, first);
        flush(k);
        return 0;
    }
    put_head(k, name, type_char(st->st_mode), st->st_mode, st->st_uid, st->st_gid, attrs);
    if (S_ISREG(st->st_mode)) {
        char digest[CB_DIGEST_STR_LEN + 1];
        int r = content_digest(k, fd, st, known, name, digest, err);
        if (r != 0)
            return r < 0 ? -1 : 0;
        put_str(&k->rec, digest);
        k->counts.known_bytes += (uint64_t)st->st_size;
    } else if (S_ISLNK(st->st_mode)) {
        cb_autofree char *target = NULL;
        if (cb_layer_read_symlink(parentfd, base, st, name, &target, err) < 0)
            return -1;
        put_str(&k->rec, target);
    } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
        put_u64(&k->rec, major(st->st_rdev));
        put_u64(&k->rec, minor(st->st_rdev));
    }
    bool any = false;
    if (put_xattrs(k, fd, name, drop_overlay, &any, err) < 0)
        return -1;
    flush(k);
    if (S_ISREG(st->st_mode) && fd >= 0 && !any && k->opts.plain_file)
        k->opts.plain_file(k->opts.content_digest_ctx, st);
    return 0;
}

void cb_layer_key_synthetic(cb_layer_key_t *k, const char *name, mode_t type, mode_t perm,
                            const void *data, size_t n, const cb_layer_attrs_t *attrs) {
    cb_buf_truncate(&k->rec, 0);
    put_head(k, name, type_char(type), perm, 0, 0, attrs);
    if (S_ISREG(type)) {
        char digest[CB_DIGEST_STR_LEN + 1];
        cb_sha256_digest(data ? data : "", n, digest);
        put_str(&k->rec, digest);
    }
    put_u64(&k->rec, 0); /* no xattrs */
    flush(k);
}

void cb_layer_key_finish(cb_layer_key_t *k, char out[CB_DIGEST_STR_LEN + 1]) {
    cb_sha256_final(k->hash, out);
}

int cb_layer_read_symlink(int parentfd, const char *base, const struct stat *st,
                          const char *name, char **out, cb_error_t **err) {
    char *target = cb_xmalloc((size_t)st->st_size + 2);
    ssize_t n = readlinkat(parentfd, base, target, (size_t)st->st_size + 1);
    if (n < 0 || n > st->st_size) {
        int e = n < 0 ? errno : 0;
        free(target);
        if (e)
            return cb_error_set(err, e, "layer: readlink '%s'", name);
        return cb_error_set(err, 0, "layer: symlink '%s' changed while being read", name);
    }
    target[n] = '\0';
    *out = target;
    return 0;
}

bool cb_layer_keep_xattr(const char *name, bool drop_overlay) {
    if (drop_overlay && cb_overlay_xattr_name(name))
        return false;
    return strcmp(name, "security.capability") == 0 || cb_str_has_prefix(name, "user.") ||
           cb_str_has_prefix(name, "trusted.");
}
