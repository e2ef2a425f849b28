/* cbuild prune: the rules and the reasons are in cache/prune.h. */
#include "cache/prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/blob.h"
#include "cache/oci.h"
#include "cache/record.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"

#define NEVER INT64_MAX

typedef struct blob_ent {
    char hex[CB_SHA256_HEX_LEN + 1];
    int64_t size;
    int64_t mtime;
    ino_t ino;
    bool image_ref;    /* reachable from index.json */
    int queued;        /* to be read for descriptors: 1 if it may hold some, 2 if it must */
    unsigned rec_refs; /* valid records that stay and name it */
} blob_ent_t;

typedef struct rec_ent {
    char hex[CB_SHA256_HEX_LEN + 1];
    int64_t mtime;
    int64_t size;
    bool damaged; /* a miss for a build: damaged, or its blob gone */
    bool remove;
    blob_ent_t *blob; /* its layer blob among those listed, or NULL */
} rec_ent_t;

/* A document to read for the descriptors in it. */
typedef struct doc {
    char *digest;
    int64_t size;  /* -1 when the descriptor had none */
    bool required; /* a manifest or index: unreadable stops the prune */
    char *image;   /* the index.json entry it hangs from, for messages */
} doc_t;

typedef struct prune {
    const cb_root_t *root;
    const cb_prune_opts_t *opts;
    cb_prune_report_t *rep;
    cb_store_t store;
    int64_t now;
    int64_t oldest_build; /* start of the oldest running build; NEVER when none */
    blob_ent_t *blobs;
    size_t nblobs;
    rec_ent_t *recs;
    size_t nrecs;
    doc_t *docs; /* the mark phase's work list */
    size_t ndocs, docs_cap;
    cb_strv_t missing; /* digests already warned about */
} prune_t;

static int64_t ts_ns(const struct timespec *t) {
    return (int64_t)t->tv_sec * CB_PRUNE_NS_PER_SEC + t->tv_nsec;
}

/* The last change of an entry: mtime, or ctime (unpacked files keep old mtimes). */
static int64_t changed_ns(const struct stat *st) {
    int64_t m = ts_ns(&st->st_mtim), c = ts_ns(&st->st_ctim);
    return m > c ? m : c;
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

static bool is_hex64(const char *s, size_t n) {
    if (n != CB_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Opens dir (*fd) and lists its names, sorted; a missing dir is empty
 * (*fd is then -1). */
static int open_list(const char *dir, int *fd, cb_strv_t *names, cb_error_t **err) {
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return errno == ENOENT ? 0 : cb_error_set(err, errno, "open %s", dir);
    return cb_dir_list_sorted(*fd, dir, names, err);
}

/* ---- trees under ROOT/tmp ---------------------------------------------- */

typedef struct tree_info {
    int64_t newest; /* latest mtime or ctime in the tree */
    int64_t bytes;  /* sizes of its regular files */
    bool mount;     /* holds another file system: never removed */
    bool recent;    /* the walk stopped at a change at or after its `stop` */
} tree_info_t;

/* Walks the entry `name` of the directory `at` (path: the same, for messages) without
 * following links or leaving the file system `dev`; stops early at a change
 * at or after `stop`. */
static int scan_tree(int at, const char *name, const char *path, dev_t dev, int64_t stop,
                     tree_info_t *ti, cb_error_t **err) {
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : cb_error_set(err, errno, "stat %s", path);
    if (st.st_dev != dev) {
        ti->mount = true;
        return 0;
    }
    int64_t t = changed_ns(&st);
    if (t > ti->newest)
        ti->newest = t;
    if (S_ISREG(st.st_mode))
        ti->bytes += st.st_size;
    if (ti->newest >= stop) {
        ti->recent = true;
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : cb_error_set(err, errno, "open %s", path);
    cb_autoclosedir DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return cb_error_set(err, errno, "open %s", path);
    }
    struct dirent *de;
    while (!ti->recent && !ti->mount && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        cb_autofree char *sub = cb_xasprintf("%s/%s", path, de->d_name);
        if (scan_tree(dirfd(d), de->d_name, sub, dev, stop, ti, err) < 0)
            return -1;
    }
    if (de == NULL && errno)
        return cb_error_set(err, errno, "read %s", path);
    return 0;
}

/* When the build in `path` started: its birth time, else as long ago as a
 * running build can have been silent. */
static int64_t build_start(int at, const char *name, int64_t now) {
    struct statx stx;
    if (statx(at, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) == 0 &&
        (stx.stx_mask & STATX_BTIME) && stx.stx_btime.tv_sec > 0)
        return (int64_t)stx.stx_btime.tv_sec * CB_PRUNE_NS_PER_SEC + stx.stx_btime.tv_nsec;
    return now - CB_PRUNE_BUILD_IDLE;
}

typedef struct tmp_ent {
    char *name;
    tree_info_t ti;
    bool unknown; /* could not be walked: left alone */
} tmp_ent_t;

/* Walks the entries of ROOT/tmp: which builds may be running, and how old
 * everything else is. */
static int scan_tmp(prune_t *p, tmp_ent_t **out, size_t *nout, cb_error_t **err) {
    const char *tmp = p->root->tmp;
    *out = NULL;
    *nout = 0;
    cb_autoclose int fd = -1;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (open_list(tmp, &fd, &names, err) < 0)
        return -1;
    struct stat st = {0};
    if (fd >= 0 && fstat(fd, &st) < 0)
        return cb_error_set(err, errno, "stat %s", tmp);
    tmp_ent_t *ents = cb_xcalloc(names.len + 1, sizeof *ents);
    for (size_t i = 0; i < names.len; i++) {
        tmp_ent_t *e = &ents[i];
        e->name = cb_xstrdup(names.items[i]);
        cb_autofree char *path = cb_xasprintf("%s/%s", tmp, e->name);
        cb_autoerr cb_error_t *why = NULL;
        /* Anything changed within CB_PRUNE_TMP_AGE is young enough to keep
         * and, for a build, to count as running: no need to walk further. */
        if (scan_tree(fd, e->name, path, st.st_dev, p->now - CB_PRUNE_TMP_AGE, &e->ti, &why) < 0) {
            /* Said only when it looks like a leftover: a running build's
             * directory is no news. */
            cb_autofree char *msg = cb_error_message(why);
            if (e->ti.newest < p->now - CB_PRUNE_TMP_AGE)
                cb_warn("prune", "%s is left in place: %s", path, msg);
            e->unknown = true;
        }
        bool running = e->unknown || e->ti.mount || e->ti.newest >= p->now - CB_PRUNE_BUILD_IDLE;
        if (cb_str_has_prefix(e->name, "build-") && running) {
            int64_t start = build_start(fd, e->name, p->now);
            if (start < p->oldest_build) {
                p->oldest_build = start;
                free(p->rep->running_build);
                p->rep->running_build = cb_steal_pointer(&path);
                p->rep->running_since = start;
            }
        }
    }
    *out = ents;
    *nout = names.len;
    return 0;
}

static void tmp_ents_free(tmp_ent_t *ents, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
}

static void removed_temp(prune_t *p, const char *path, int64_t bytes) {
    cb_debug("prune", "removed leftover %s", path);
    p->rep->temps++;
    p->rep->bytes += bytes;
}

/* Leftovers in ROOT/tmp that nothing changed since `since`. Failures are
 * warnings: leftovers are the least of what prune does. */
static void remove_tmp(prune_t *p, const tmp_ent_t *ents, size_t n, int64_t since) {
    const char *tmp = p->root->tmp;
    cb_autoclose int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const tmp_ent_t *e = &ents[i];
        if (e->unknown || e->ti.recent || e->ti.newest >= since)
            continue;
        cb_autofree char *path = cb_xasprintf("%s/%s", tmp, e->name);
        if (e->ti.mount) {
            cb_warn("prune", "%s is left in place: a file system is mounted in it", path);
            continue;
        }
        cb_autoerr cb_error_t *why = NULL;
        if (!p->opts->dry_run && cb_rm_rf_at(fd, e->name, &why) < 0) {
            cb_autofree char *msg = cb_error_message(why);
            cb_warn("prune", "could not remove the leftover %s: %s", path, msg);
            continue;
        }
        removed_temp(p, path, e->ti.bytes);
    }
}

/* Unpacked base trees (ROOT/layers/<key>, builder/rootfs.c) that no build
 * used since `since`: a build touches the directory's mtime when it clones
 * the tree, and the next build of that base unpacks it again. */
static void remove_trees(prune_t *p, int64_t since) {
    cb_autoclose int fd = -1;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    cb_autoerr cb_error_t *why = NULL;
    if (open_list(p->root->layers, &fd, &names, &why) < 0)
        return;
    for (size_t i = 0; i < names.len; i++) {
        struct stat st;
        if (fstatat(fd, names.items[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
            ts_ns(&st.st_mtim) >= since)
            continue;
        cb_autofree char *path = cb_xasprintf("%s/%s", p->root->layers, names.items[i]);
        cb_autoerr cb_error_t *rm_err = NULL;
        if (!p->opts->dry_run && cb_rm_rf_at(fd, names.items[i], &rm_err) < 0) {
            cb_autofree char *msg = cb_error_message(rm_err);
            cb_warn("prune", "could not remove the unpacked tree %s: %s", path, msg);
            continue;
        }
        removed_temp(p, path, 0);
    }
}

/* `*.tmp-*` files in dir (and below it when `depth` > 0) unchanged since `since`. */
static void remove_tmp_files(prune_t *p, const char *dir, int depth, int64_t since) {
    cb_autoclose int fd = -1;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    cb_autoerr cb_error_t *why = NULL;
    if (open_list(dir, &fd, &names, &why) < 0)
        return;
    for (size_t i = 0; i < names.len; i++) {
        const char *name = names.items[i];
        cb_autofree char *path = cb_xasprintf("%s/%s", dir, name);
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0)
                remove_tmp_files(p, path, depth - 1, since);
            continue;
        }
        if (!S_ISREG(st.st_mode) || strstr(name, ".tmp-") == NULL || changed_ns(&st) >= since)
            continue;
        if (!p->opts->dry_run && unlinkat(fd, name, 0) < 0) {
            if (errno != ENOENT)
                cb_warn("prune", "could not remove the leftover %s: %s", path, strerror(errno));
            continue;
        }
        removed_temp(p, path, st.st_size);
    }
}

/* ---- blobs ------------------------------------------------------------- */

static int hex_cmp(const void *a, const void *b) {
    return strcmp(a, b); /* both start with their hex */
}

static int list_blobs(prune_t *p, cb_error_t **err) {
    cb_autofree char *dir = cb_xasprintf("%s/blobs/sha256", p->store.dir);
    cb_autoclose int fd = -1;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (open_list(dir, &fd, &names, err) < 0)
        return -1;
    p->blobs = cb_xcalloc(names.len + 1, sizeof *p->blobs);
    for (size_t i = 0; i < names.len; i++) {
        const char *name = names.items[i];
        struct stat st;
        /* Names that are not a sha256 digest are not ours to judge. */
        if (!is_hex64(name, strlen(name)))
            continue;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return cb_error_set(err, errno, "stat %s/%s", dir, name);
        }
        if (!S_ISREG(st.st_mode))
            continue;
        blob_ent_t *b = &p->blobs[p->nblobs++];
        memcpy(b->hex, name, CB_SHA256_HEX_LEN + 1);
        b->size = st.st_size;
        b->mtime = ts_ns(&st.st_mtim);
        b->ino = st.st_ino;
    }
    /* cb_dir_list_sorted sorted them already. */
    return 0;
}

static blob_ent_t *find_blob(prune_t *p, const char *digest) {
    if (!cb_digest_valid(digest) || p->nblobs == 0)
        return NULL;
    return bsearch(digest + 7, p->blobs, p->nblobs, sizeof *p->blobs, hex_cmp);
}

/* ---- marking from index.json ------------------------------------------- */

static void push_doc(prune_t *p, const char *digest, int64_t size, bool required, const char *image) {
    if (p->ndocs == p->docs_cap) {
        p->docs_cap = p->docs_cap ? 2 * p->docs_cap : 16;
        p->docs = cb_xrealloc(p->docs, p->docs_cap * sizeof *p->docs);
    }
    p->docs[p->ndocs++] = (doc_t){cb_xstrdup(digest), size, required, cb_xstrdup(image)};
}

/* A descriptor found in a document: keep its blob, and read it when it can
 * hold descriptors itself (anything but a known layer or config). */
static void mark(prune_t *p, const json_t *desc, const char *digest, const char *image) {
    const char *mt = json_string_value(json_object_get(desc, "mediaType"));
    const json_t *size = json_object_get(desc, "size");
    bool required = mt && (cb_oci_is_manifest_type(mt) || cb_oci_is_index_type(mt));
    bool readable = required || mt == NULL ||
                    !(cb_oci_is_layer_type(mt, NULL) || cb_oci_is_config_type(mt));
    blob_ent_t *b = find_blob(p, digest);
    if (b == NULL) {
        if (required && !cb_strv_contains(&p->missing, digest)) {
            cb_strv_push(&p->missing, digest);
            cb_warn("prune", "image %s: %s is missing from %s: nothing it references can be kept",
                    image, digest, p->store.dir);
        }
        return;
    }
    b->image_ref = true;
    int level = required ? 2 : readable ? 1 : 0;
    if (level > b->queued) {
        b->queued = level;
        push_doc(p, digest, json_is_integer(size) ? json_integer_value(size) : -1, required, image);
    }
}

/* Every object with a "digest" member is a descriptor, wherever it is:
 * config, layers, manifests, subject, and what later specs add. */
static void walk_json(prune_t *p, const json_t *j, const char *image) {
    if (json_is_object(j)) {
        const char *digest = json_string_value(json_object_get(j, "digest"));
        if (digest && cb_digest_valid(digest))
            mark(p, j, digest, image);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) walk_json(p, v, image);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) walk_json(p, v, image);
    }
}

/* Reads one document and marks what it references. An unreadable manifest
 * or index is an error: what it references is unknown. Other blobs are
 * read only in case they hold descriptors: unreadable or not JSON, they
 * hold none that prune could follow. */
static int read_doc(prune_t *p, const doc_t *d, cb_error_t **err) {
    if (!d->required && (d->size < 0 || d->size > (int64_t)CB_OCI_MAX_DOC_SIZE))
        return 0;
    cb_autofree char *path = cb_store_blob_path(&p->store, d->digest);
    cb_autofree char *data = NULL;
    size_t len = 0;
    cb_autoerr cb_error_t *why = NULL;
    if (cb_blob_read_all(&p->store, d->digest, d->size, CB_OCI_MAX_DOC_SIZE, &data, &len, &why) < 0) {
        if (!d->required)
            return 0;
        *err = cb_steal_pointer(&why);
        return cb_error_wrap(err, "nothing was removed: image %s: cannot read %s", d->image, path);
    }
    json_error_t jerr;
    cb_autojson json_t *j = json_loadb(data, len, 0, &jerr);
    if (j == NULL) {
        if (!d->required)
            return 0;
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "nothing was removed: image %s: %s is not JSON (%d:%d: %s)",
                                 d->image, path, jerr.line, jerr.column, jerr.text);
    }
    walk_json(p, j, d->image);
    return 0;
}

static int mark_images(prune_t *p, cb_error_t **err) {
    cb_autofree char *path = cb_xasprintf("%s/index.json", p->store.dir);
    cb_autofree char *data = NULL;
    size_t len = 0;
    if (cb_read_file(path, CB_OCI_MAX_DOC_SIZE, &data, &len, err) < 0)
        return cb_error_wrap(err, "nothing was removed");
    cb_autojson json_t *j = NULL;
    if (cb_oci_json_parse(data, len, path, &j, err) < 0)
        return cb_error_wrap(err, "nothing was removed");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "manifests"), i, m) {
        const char *name = json_string_value(
            json_object_get(json_object_get(m, "annotations"), CB_ANNOTATION_REF_NAME));
        const char *digest = json_string_value(json_object_get(m, "digest"));
        cb_autofree char *image =
            name ? cb_xstrdup(name) : cb_xasprintf("<none> (%.19s)", digest ? digest : "?");
        walk_json(p, m, image);
    }
    /* Documents found while reading documents join the end of the list. */
    for (size_t k = 0; k < p->ndocs; k++)
        if (read_doc(p, &p->docs[k], err) < 0)
            return -1;
    return 0;
}

/* ---- records ----------------------------------------------------------- */

static int list_records(prune_t *p, cb_error_t **err) {
    const char *dir = p->root->cache;
    cb_autoclose int fd = -1;
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (open_list(dir, &fd, &names, err) < 0)
        return -1;
    p->recs = cb_xcalloc(names.len + 1, sizeof *p->recs);
    for (size_t i = 0; i < names.len; i++) {
        const char *name = names.items[i];
        size_t n = strlen(name);
        if (n != CB_SHA256_HEX_LEN + 5 || strcmp(name + CB_SHA256_HEX_LEN, ".json") != 0 ||
            !is_hex64(name, CB_SHA256_HEX_LEN))
            continue;
        cb_autofree char *path = cb_xasprintf("%s/%s", dir, name);
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return cb_error_set(err, errno, "stat %s", path);
        }
        if (!S_ISREG(st.st_mode))
            continue;
        /* A record that cannot be read now may be fine: not a reason to
         * remove it. (cb_cache_record_get takes any failure for a miss.) */
        cb_autofree char *data = NULL;
        size_t len;
        cb_autoerr cb_error_t *why = NULL;
        if (cb_read_file(path, CB_CACHE_RECORD_MAX_SIZE, &data, &len, &why) < 0 &&
            why->kind == CB_ERR_SYSTEM && why->status != 0) {
            if (why->status == ENOENT)
                continue;
            return cb_error_set(err, why->status, "read %s", path);
        }
        rec_ent_t *r = &p->recs[p->nrecs++];
        memcpy(r->hex, name, CB_SHA256_HEX_LEN);
        r->mtime = ts_ns(&st.st_mtim);
        r->size = st.st_size;
        cb_autofree char *key = cb_xasprintf("sha256:%s", r->hex);
        cb_autorecord cb_cache_record_t rec;
        bool found = false;
        if (cb_cache_record_get(p->root, key, &rec, &found, err) < 0)
            return -1;
        r->damaged = !found;
        if (found && !rec.empty_layer) {
            r->blob = find_blob(p, rec.layer.digest);
            if (r->blob)
                r->blob->rec_refs++;
        }
    }
    return 0;
}

/* The build cache's size, what removing every record would free: the
 * records and the blobs that only records name. */
static int64_t cache_bytes(const prune_t *p) {
    int64_t n = 0;
    for (size_t i = 0; i < p->nblobs; i++)
        if (p->blobs[i].rec_refs > 0 && !p->blobs[i].image_ref)
            n += p->blobs[i].size;
    for (size_t i = 0; i < p->nrecs; i++)
        if (!p->recs[i].remove)
            n += p->recs[i].size;
    return n;
}

static void census(prune_t *p) {
    cb_prune_report_t *r = p->rep;
    r->total_blobs = p->nblobs;
    for (size_t i = 0; i < p->nblobs; i++) {
        r->total_blob_bytes += p->blobs[i].size;
        if (p->blobs[i].image_ref) {
            r->image_blobs++;
            r->image_blob_bytes += p->blobs[i].size;
        }
    }
    r->total_records = p->nrecs;
    r->total_cache_bytes = cache_bytes(p);
}

static void drop_record(prune_t *p, rec_ent_t *r, int64_t *bytes) {
    r->remove = true;
    *bytes -= r->size;
    if (r->blob && --r->blob->rec_refs == 0 && !r->blob->image_ref)
        *bytes -= r->blob->size;
}

static int lru_cmp(const void *a, const void *b) {
    const rec_ent_t *x = *(rec_ent_t *const *)a, *y = *(rec_ent_t *const *)b;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return strcmp(x->hex, y->hex);
}

static void choose_records(prune_t *p) {
    const cb_prune_opts_t *o = p->opts;
    rec_ent_t **cand = cb_xcalloc(p->nrecs + 1, sizeof *cand);
    size_t n = 0;
    for (size_t i = 0; i < p->nrecs; i++) {
        rec_ent_t *r = &p->recs[i];
        if (r->damaged) {
            r->remove = true; /* it names no blob (r->blob is NULL) */
            continue;
        }
        if (o->until >= 0 && r->mtime > p->now - o->until)
            continue;
        if (r->mtime >= p->oldest_build) {
            if (o->all || o->until >= 0 || o->keep_storage >= 0)
                p->rep->kept_records++;
            continue;
        }
        cand[n++] = r;
    }
    int64_t bytes = cache_bytes(p);
    if (o->keep_storage >= 0) {
        qsort(cand, n, sizeof *cand, lru_cmp);
        for (size_t i = 0; i < n && bytes > o->keep_storage; i++)
            drop_record(p, cand[i], &bytes);
    } else if (o->all || o->until >= 0) {
        for (size_t i = 0; i < n; i++)
            drop_record(p, cand[i], &bytes);
    }
    free(cand);
}

static int remove_records(prune_t *p, cb_error_t **err) {
    bool any = false;
    for (size_t i = 0; i < p->nrecs; i++) {
        rec_ent_t *r = &p->recs[i];
        if (!r->remove)
            continue;
        cb_autofree char *path = cb_xasprintf("%s/%s.json", p->root->cache, r->hex);
        if (!p->opts->dry_run && unlink(path) < 0) {
            if (errno == ENOENT)
                continue;
            return cb_error_set(err, errno, "remove the cache record %s", path);
        }
        cb_debug("prune", "removed %s%s", path, r->damaged ? " (damaged, or its blob is gone)" : "");
        any = true;
        p->rep->records++;
        p->rep->damaged_records += r->damaged;
        p->rep->bytes += r->size;
    }
    /* The records' removal is on disk before any blob they named goes. */
    return any && !p->opts->dry_run ? cb_fsync_dir(p->root->cache, err) : 0;
}

static int sweep_blobs(prune_t *p, cb_error_t **err) {
    int64_t since = min64(p->now - CB_PRUNE_GRACE, p->oldest_build);
    cb_autofree char *dir = cb_xasprintf("%s/blobs/sha256", p->store.dir);
    bool any = false;
    for (size_t i = 0; i < p->nblobs; i++) {
        const blob_ent_t *b = &p->blobs[i];
        if (b->image_ref || b->rec_refs > 0)
            continue;
        if (b->mtime >= since) {
            p->rep->kept_blobs++;
            continue;
        }
        cb_autofree char *path = cb_xasprintf("%s/%s", dir, b->hex);
        if (p->opts->dry_run) {
            p->rep->blobs++;
            p->rep->bytes += b->size;
            continue;
        }
        /* Still the file judged above? A build may have published the same
         * digest again since (rename gives a new inode and mtime). */
        struct stat st;
        if (lstat(path, &st) < 0) {
            if (errno == ENOENT)
                continue;
            return cb_error_set(err, errno, "stat %s", path);
        }
        if (st.st_ino != b->ino || st.st_size != b->size || ts_ns(&st.st_mtim) != b->mtime)
            continue;
        if (unlink(path) < 0) {
            if (errno == ENOENT)
                continue;
            return cb_error_set(err, errno, "remove the blob %s", path);
        }
        cb_debug("prune", "removed %s", path);
        any = true;
        p->rep->blobs++;
        p->rep->bytes += b->size;
    }
    return any ? cb_fsync_dir(dir, err) : 0;
}

/* ---- the whole --------------------------------------------------------- */

static void prune_free(prune_t *p) {
    free(p->blobs);
    free(p->recs);
    for (size_t i = 0; i < p->ndocs; i++) {
        free(p->docs[i].digest);
        free(p->docs[i].image);
    }
    free(p->docs);
    cb_strv_free(&p->missing);
}

int cb_prune(const cb_root_t *root, const cb_prune_opts_t *opts, cb_prune_report_t *rep,
             cb_error_t **err) {
    memset(rep, 0, sizeof *rep);
    prune_t p = {
        .root = root,
        .opts = opts,
        .rep = rep,
        .store = {.dir = root->store, .tmp = root->tmp},
        .oldest_build = NEVER,
    };
    if (opts->now) {
        p.now = opts->now;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p.now = ts_ns(&ts);
    }
    tmp_ent_t *tmp = NULL;
    size_t ntmp = 0;
    int lock = -1;
    int rc = scan_tmp(&p, &tmp, &ntmp, err);
    /* Shared: index.json cannot change until the sweep is over, and
     * another prune may run alongside. */
    if (rc == 0)
        rc = cb_store_lock(&p.store, 0, &lock, err);
    if (rc == 0)
        rc = list_blobs(&p, err);
    if (rc == 0)
        rc = mark_images(&p, err);
    if (rc == 0)
        rc = list_records(&p, err);
    if (rc == 0) {
        census(&p);
        choose_records(&p);
        rc = remove_records(&p, err);
    }
    if (rc == 0)
        rc = sweep_blobs(&p, err);
    if (lock >= 0)
        close(lock);
    if (rc == 0) {
        int64_t since = min64(p.now - CB_PRUNE_TMP_AGE, p.oldest_build);
        remove_tmp(&p, tmp, ntmp, since);
        remove_trees(&p, since);
        remove_tmp_files(&p, root->cache, 2, since);
        remove_tmp_files(&p, root->store, 0, since);
        rep->cache_bytes = cache_bytes(&p);
    }
    tmp_ents_free(tmp, ntmp);
    prune_free(&p);
    if (rc < 0)
        cb_prune_report_clear(rep);
    return rc;
}

void cb_prune_report_clear(cb_prune_report_t *rep) {
    free(rep->running_build);
    memset(rep, 0, sizeof *rep);
}

/* ---- parsing ----------------------------------------------------------- */

/* Digits with an optional fraction at *s, as a whole part and a fraction in
 * [0, 1); false when there are no digits. */
static bool parse_number(const char **s, uint64_t *whole, double *frac) {
    const char *p = *s;
    *whole = 0;
    *frac = 0;
    bool digits = false;
    while (*p >= '0' && *p <= '9') {
        if (*whole > (UINT64_MAX - 9) / 10)
            return false;
        *whole = *whole * 10 + (uint64_t)(*p++ - '0');
        digits = true;
    }
    if (*p == '.') {
        p++;
        double scale = 0.1;
        while (*p >= '0' && *p <= '9') {
            *frac += (*p++ - '0') * scale;
            scale /= 10;
            digits = true;
        }
    }
    *s = p;
    return digits;
}

/* whole.frac * unit, unless it passes INT64_MAX. */
static bool scale(uint64_t whole, double frac, uint64_t unit, int64_t *out) {
    if (whole > (uint64_t)INT64_MAX / unit)
        return false;
    uint64_t v = whole * unit;
    uint64_t f = (uint64_t)(frac * (double)unit);
    if (v > (uint64_t)INT64_MAX - f)
        return false;
    *out = (int64_t)(v + f);
    return true;
}

int cb_prune_parse_size(const char *s, int64_t *out, cb_error_t **err) {
    static const char units[] = "kmgtp";
    const char *p = s;
    uint64_t whole;
    double frac;
    uint64_t mult = 1;
    if (parse_number(&p, &whole, &frac)) {
        if (*p == ' ')
            p++;
        const char *u = *p ? strchr(units, *p | 0x20) : NULL;
        if (u) {
            for (const char *k = units; k <= u; k++)
                mult *= 1024;
            p++;
            if ((*p | 0x20) == 'i')
                p++;
        }
        if ((*p | 0x20) == 'b')
            p++;
        if (*p == '\0' && scale(whole, frac, mult, out))
            return 0;
    }
    return cb_error_kind_set(err, CB_ERR_INPUT,
                             "size \"%s\": expected a number of bytes with an optional unit, "
                             "such as 500MB or 5GB",
                             s);
}

int cb_prune_parse_duration(const char *s, int64_t *out, cb_error_t **err) {
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* µs, as Go also takes */
        {"ms", 1000000},
        {"s", CB_PRUNE_NS_PER_SEC},
        {"m", 60 * CB_PRUNE_NS_PER_SEC},
        {"h", 3600 * CB_PRUNE_NS_PER_SEC},
        {"d", 86400 * CB_PRUNE_NS_PER_SEC},
    };
    const char *p = s;
    int64_t total = 0;
    bool ok = *p != '\0';
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    while (ok && *p) {
        uint64_t whole;
        double frac;
        ok = parse_number(&p, &whole, &frac);
        size_t best = CB_ARRAY_LEN(units);
        for (size_t i = 0; ok && i < CB_ARRAY_LEN(units); i++) {
            size_t n = strlen(units[i].name);
            /* The longest unit that matches: "ms" before "m". */
            if (strncmp(p, units[i].name, n) == 0 &&
                (best == CB_ARRAY_LEN(units) || n > strlen(units[best].name)))
                best = i;
        }
        int64_t v = 0;
        ok = ok && best < CB_ARRAY_LEN(units) && scale(whole, frac, (uint64_t)units[best].ns, &v) &&
             v <= INT64_MAX - total;
        if (ok) {
            total += v;
            p += strlen(units[best].name);
        }
    }
    if (!ok)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "duration \"%s\": expected a number with a unit, such as 24h, "
                                 "30m, 1h30m or 7d",
                                 s);
    *out = total;
    return 0;
}
