/* cbuild fsck: what is checked and repaired, and why, is in cache/fsck.h. */
#include "cache/fsck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/blob.h"
#include "cache/oci.h"
#include "cache/record.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/util.h"

/* Indexes inside indexes: deeper than any real image nests. */
#define MAX_DEPTH 8

typedef enum { BLOB_MISSING, BLOB_OK, BLOB_DAMAGED, BLOB_UNREADABLE } blob_state_t;

typedef struct fblob {
    char digest[CB_DIGEST_STR_LEN + 1];
    int64_t size;
    ino_t ino;
    blob_state_t state;
} fblob_t;

typedef struct problem {
    char *path;
    char *what;
    bool repairable; /* removing path is the repair */
    bool repaired;
} problem_t;

typedef struct fsck {
    const cb_root_t *root;
    cb_fsck_report_t *rep;
    cb_store_t store;
    char *blob_dir;
    fblob_t *blobs; /* sorted by digest, as listed */
    size_t nblobs;
    cb_strv_t walked; /* documents already checked */
    problem_t *problems;
    size_t nproblems, cap;
} fsck_t;

static void add_problem(fsck_t *f, bool repairable, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_problem(fsck_t *f, bool repairable, const char *path, const char *fmt, ...) {
    if (f->nproblems == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->problems = cb_xrealloc(f->problems, f->cap * sizeof *f->problems);
    }
    va_list ap;
    va_start(ap, fmt);
    f->problems[f->nproblems++] =
        (problem_t){cb_xstrdup(path), cb_xvasprintf(fmt, ap), repairable, false};
    va_end(ap);
}

static void add_error(fsck_t *f, bool repairable, const char *path, const char *context,
                      const cb_error_t *e) {
    cb_autofree char *msg = cb_error_message(e);
    add_problem(f, repairable, path, "%s%s%s", context, *context ? ": " : "", msg);
}

static int discard(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    (void)ctx, (void)buf, (void)n, (void)err;
    return 0;
}

/* Reads the blob whole: its digest must be its name. */
static blob_state_t verify(fsck_t *f, const char *digest, const char *path) {
    cb_autoerr cb_error_t *e = NULL;
    if (cb_blob_copy_to(&f->store, digest, -1, discard, NULL, &e) == 0)
        return BLOB_OK;
    if (e->kind == CB_ERR_INPUT) /* gone since it was listed */
        return BLOB_MISSING;
    bool damaged = e->kind == CB_ERR_INTEGRITY;
    add_error(f, damaged, path, damaged ? "" : "cannot be read", e);
    return damaged ? BLOB_DAMAGED : BLOB_UNREADABLE;
}

static int list_blobs(fsck_t *f, cb_error_t **err) {
    cb_autoclose int fd = open(f->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return cb_error_set(err, errno, "open %s", f->blob_dir);
        add_problem(f, false, f->blob_dir, "missing: the store has no blobs directory");
        return 0;
    }
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(fd, f->blob_dir, &names, err) < 0)
        return -1;
    f->blobs = cb_xcalloc(names.len + 1, sizeof *f->blobs);
    for (size_t i = 0; i < names.len; i++) {
        cb_autofree char *path = cb_xasprintf("%s/%s", f->blob_dir, names.items[i]);
        cb_autofree char *digest = cb_xasprintf("sha256:%s", names.items[i]);
        struct stat st;
        if (fstatat(fd, names.items[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return cb_error_set(err, errno, "stat %s", path);
        }
        if (!cb_digest_valid(digest)) {
            add_problem(f, false, path, "not a blob: the name is not a sha256 digest");
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            add_problem(f, false, path, "not a regular file");
            continue;
        }
        f->rep->blobs++;
        f->rep->bytes += st.st_size;
        fblob_t *b = &f->blobs[f->nblobs++];
        memcpy(b->digest, digest, sizeof b->digest);
        b->size = st.st_size;
        b->ino = st.st_ino;
        b->state = verify(f, digest, path);
    }
    return 0;
}

static int digest_cmp(const void *a, const void *b) {
    return strcmp(a, b); /* both start with their digest */
}

/* The blob of that digest as listed, or NULL when it was not. */
static fblob_t *listed_blob(const fsck_t *f, const char *digest) {
    return f->nblobs ? bsearch(digest, f->blobs, f->nblobs, sizeof *f->blobs, digest_cmp) : NULL;
}

/* The blob's state and size; one that appeared after the listing is
 * checked now. */
static blob_state_t blob_state(fsck_t *f, const char *digest, int64_t *size) {
    const fblob_t *b = listed_blob(f, digest);
    if (b) {
        *size = b->size;
        return b->state;
    }
    cb_autofree char *path = cb_store_blob_path(&f->store, digest);
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return BLOB_MISSING;
    *size = st.st_size;
    return verify(f, digest, path);
}

/* A descriptor `what` names: its blob must be there, intact, of its size.
 * True when the blob can be read for what it references. */
static bool check_ref(fsck_t *f, const cb_oci_descriptor_t *d, const char *what) {
    cb_autofree char *path = cb_store_blob_path(&f->store, d->digest);
    int64_t size = -1;
    switch (blob_state(f, d->digest, &size)) {
    case BLOB_MISSING:
        add_problem(f, false, path, "missing: %s", what);
        return false;
    case BLOB_DAMAGED:
    case BLOB_UNREADABLE:
        add_problem(f, false, path, "%s is damaged (see above)", what);
        return false;
    case BLOB_OK:
        break;
    }
    if (size != d->size) {
        add_problem(f, false, path, "%lld bytes, but %s says %lld", (long long)size, what,
                    (long long)d->size);
        return false;
    }
    return true;
}

static void check_doc(fsck_t *f, const cb_oci_descriptor_t *d, const char *what, int depth);

static void check_manifest(fsck_t *f, const char *data, size_t len, const cb_oci_descriptor_t *d,
                           const char *what, const char *path) {
    cb_autoerr cb_error_t *e = NULL;
    cb_automanifest cb_oci_manifest_t *m = NULL;
    if (cb_oci_manifest_decode(data, len, d->digest, d->media_type, &m, &e) < 0) {
        add_error(f, false, path, what, e);
        return;
    }
    cb_autofree char *cwhat = cb_xasprintf("the config of %s", what);
    if (check_ref(f, &m->config, cwhat)) {
        cb_autofree char *cpath = cb_store_blob_path(&f->store, m->config.digest);
        cb_autofree char *cdata = NULL;
        size_t clen = 0;
        cb_autoconfig cb_oci_config_t *cfg = NULL;
        if (cb_blob_read_all(&f->store, m->config.digest, m->config.size, CB_OCI_MAX_DOC_SIZE,
                             &cdata, &clen, &e) < 0 ||
            cb_oci_config_decode(cdata, clen, m->config.digest, &cfg, &e) < 0)
            add_error(f, false, cpath, cwhat, e);
        else if (cfg->ndiff_ids != m->nlayers)
            add_problem(f, false, cpath, "%s: %zu diff_ids for %zu layers", cwhat, cfg->ndiff_ids,
                        m->nlayers);
    }
    for (size_t i = 0; i < m->nlayers; i++) {
        cb_autofree char *lwhat = cb_xasprintf("layer %zu of %s", i + 1, what);
        check_ref(f, &m->layers[i], lwhat);
    }
}

static void check_index(fsck_t *f, const char *data, size_t len, const cb_oci_descriptor_t *d,
                        const char *what, const char *path, int depth) {
    cb_autoerr cb_error_t *e = NULL;
    cb_autoindex cb_oci_index_t *idx = NULL;
    if (cb_oci_index_decode(data, len, d->digest, d->media_type, &idx, &e) < 0) {
        add_error(f, false, path, what, e);
        return;
    }
    for (size_t i = 0; i < idx->nmanifests; i++) {
        cb_autofree char *mwhat = cb_xasprintf("manifest %zu of %s", i + 1, what);
        check_doc(f, &idx->manifests[i], mwhat, depth + 1);
    }
}

/* A manifest or an index, and everything it references, once per digest. */
static void check_doc(fsck_t *f, const cb_oci_descriptor_t *d, const char *what, int depth) {
    if (cb_strv_contains(&f->walked, d->digest))
        return;
    cb_strv_push(&f->walked, d->digest);
    cb_autofree char *path = cb_store_blob_path(&f->store, d->digest);
    bool manifest = cb_oci_is_manifest_type(d->media_type);
    if (!manifest && !cb_oci_is_index_type(d->media_type)) {
        add_problem(f, false, path, "%s: media type %s is not a manifest's or an index's", what,
                    d->media_type);
        return;
    }
    if (depth > MAX_DEPTH) {
        add_problem(f, false, path, "%s: indexes nested more than %d deep", what, MAX_DEPTH);
        return;
    }
    if (!check_ref(f, d, what))
        return;
    cb_autoerr cb_error_t *e = NULL;
    cb_autofree char *data = NULL;
    size_t len = 0;
    if (cb_blob_read_all(&f->store, d->digest, d->size, CB_OCI_MAX_DOC_SIZE, &data, &len, &e) < 0) {
        add_error(f, false, path, what, e);
        return;
    }
    if (manifest)
        check_manifest(f, data, len, d, what, path);
    else
        check_index(f, data, len, d, what, path, depth);
}

/* A small JSON file of the layout, parsed; NULL (and a problem) otherwise. */
static json_t *read_json(fsck_t *f, const char *path, size_t max) {
    cb_autofree char *data = NULL;
    size_t len = 0;
    cb_autoerr cb_error_t *e = NULL;
    json_t *j = NULL;
    if (cb_read_file(path, max, &data, &len, &e) < 0 || cb_oci_json_parse(data, len, path, &j, &e) < 0) {
        add_error(f, false, path, "", e);
        return NULL;
    }
    return j;
}

/* A layout file missing from a store that holds no blob yet: the store's
 * creation was cut short (the next command that opens it writes the file),
 * not damage. */
static bool unborn(const fsck_t *f, const char *path) {
    if (access(path, F_OK) == 0 || errno != ENOENT)
        return false;
    int empty = cb_dir_is_empty(f->blob_dir);
    return empty == 1 || (empty < 0 && errno == ENOENT);
}

static void check_layout(fsck_t *f) {
    cb_autofree char *path = cb_xasprintf("%s/oci-layout", f->store.dir);
    if (unborn(f, path))
        return;
    cb_autojson json_t *j = read_json(f, path, 4096);
    if (j == NULL)
        return;
    const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
    if (v == NULL || strcmp(v, "1.0.0") != 0)
        add_problem(f, false, path, "not an OCI layout version 1.0.0");
}

static void check_images(fsck_t *f) {
    cb_autofree char *path = cb_xasprintf("%s/index.json", f->store.dir);
    if (unborn(f, path))
        return;
    cb_autojson json_t *j = read_json(f, path, CB_OCI_MAX_DOC_SIZE);
    if (j == NULL)
        return;
    cb_autoerr cb_error_t *e = NULL;
    json_t *manifests = json_object_get(j, "manifests");
    if (!json_is_array(manifests)) {
        add_problem(f, false, path, "no \"manifests\" array");
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(manifests, i, m) {
        f->rep->images++;
        cb_autofree char *entry = cb_xasprintf("manifests[%zu]", i);
        cb_oci_descriptor_t d = {0};
        if (cb_oci_descriptor_decode(m, entry, &d, &e) < 0) {
            add_error(f, false, path, "", e);
            cb_error_freep(&e);
            continue;
        }
        const char *name = cb_oci_descriptor_annotation(&d, CB_ANNOTATION_REF_NAME);
        cb_autofree char *what = name ? cb_xasprintf("image %s", name)
                                      : cb_xasprintf("untagged image %.19s", d.digest);
        check_doc(f, &d, what, 0);
        cb_oci_descriptor_clear(&d);
    }
}

/* Every record: decodes, and its layer blob is there, intact, of its size.
 * A record that fails is repaired by removing it. */
static int check_records(fsck_t *f, cb_error_t **err) {
    const char *dir = f->root->cache;
    cb_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : cb_error_set(err, errno, "open %s", dir);
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(fd, dir, &names, err) < 0)
        return -1;
    for (size_t i = 0; i < names.len; i++) {
        const char *name = names.items[i];
        if (!cb_str_has_suffix(name, ".json"))
            continue;
        cb_autofree char *key = cb_xasprintf("sha256:%.*s", (int)(strlen(name) - 5), name);
        if (!cb_digest_valid(key))
            continue;
        cb_autofree char *path = cb_xasprintf("%s/%s", dir, name);
        cb_autorecord cb_cache_record_t rec;
        cb_autoerr cb_error_t *e = NULL;
        if (cb_cache_record_load(f->root, key, &rec, &e) < 0) {
            if (e->kind == CB_ERR_SYSTEM && e->status == ENOENT)
                continue; /* removed since the listing: a prune */
            /* A record that cannot be read now (EACCES, EIO) may be
             * fine: reported, not removed. */
            add_error(f, e->kind != CB_ERR_SYSTEM || e->status == 0, path, "", e);
            f->rep->records++;
            continue;
        }
        f->rep->records++;
        if (rec.empty_layer)
            continue;
        int64_t size = -1;
        switch (blob_state(f, rec.layer.digest, &size)) {
        case BLOB_MISSING:
            add_problem(f, true, path, "its layer blob %s is missing", rec.layer.digest);
            break;
        case BLOB_DAMAGED:
        case BLOB_UNREADABLE:
            add_problem(f, true, path, "its layer blob %s is damaged", rec.layer.digest);
            break;
        case BLOB_OK:
            if (size != rec.layer.size)
                add_problem(f, true, path, "its layer blob %s has %lld bytes, the record says %lld",
                            rec.layer.digest, (long long)size, (long long)rec.layer.size);
            break;
        }
    }
    return 0;
}

/* Temporary leftovers: ROOT/tmp entries, `*.tmp-*` files in ROOT/cache and
 * at the top of ROOT/store. */
static size_t count_leftovers(const char *dir, bool all) {
    cb_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    cb_autoerr cb_error_t *e = NULL;
    if (fd < 0 || cb_dir_list_sorted(fd, dir, &names, &e) < 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < names.len; i++)
        n += all || strstr(names.items[i], ".tmp-") != NULL;
    return n;
}

/* Removes what the repair removes: records first, then blobs that are
 * still the file judged damaged. */
static int repair(fsck_t *f, cb_error_t **err) {
    bool records = false, blobs = false;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && records && cb_fsync_dir(f->root->cache, err) < 0)
            return -1;
        for (size_t i = 0; i < f->nproblems; i++) {
            problem_t *p = &f->problems[i];
            bool is_blob = cb_str_has_prefix(p->path, f->blob_dir);
            if (!p->repairable || is_blob != (pass == 1))
                continue;
            if (is_blob) {
                const char *hex = strrchr(p->path, '/') + 1;
                cb_autofree char *digest = cb_xasprintf("sha256:%s", hex);
                const fblob_t *b = listed_blob(f, digest);
                struct stat st;
                /* One a build published again since (a new inode) stays. */
                if (b && (lstat(p->path, &st) < 0 || st.st_ino != b->ino))
                    continue;
            }
            if (unlink(p->path) < 0 && errno != ENOENT)
                return cb_error_set(err, errno, "remove %s", p->path);
            p->repaired = true;
            f->rep->repaired++;
            records |= !is_blob;
            blobs |= is_blob;
        }
    }
    return blobs ? cb_fsync_dir(f->blob_dir, err) : 0;
}

static void fsck_free(fsck_t *f) {
    for (size_t i = 0; i < f->nproblems; i++) {
        free(f->problems[i].path);
        free(f->problems[i].what);
    }
    free(f->problems);
    free(f->blobs);
    free(f->blob_dir);
    cb_strv_free(&f->walked);
}

int cb_fsck(const cb_root_t *root, const cb_fsck_opts_t *opts, cb_fsck_problem_fn fn, void *ctx,
            cb_fsck_report_t *rep, cb_error_t **err) {
    memset(rep, 0, sizeof *rep);
    struct stat st;
    if (stat(root->store, &st) < 0 || !S_ISDIR(st.st_mode))
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s is not a cbuild root: it has no store/",
                                 root->path);
    fsck_t f = {
        .root = root,
        .rep = rep,
        .store = {.dir = root->store, .tmp = root->tmp},
        .blob_dir = cb_xasprintf("%s/blobs/sha256", root->store),
    };
    int lock = -1;
    int rc = cb_store_lock(&f.store, 0, &lock, err);
    if (rc == 0) {
        check_layout(&f);
        rc = list_blobs(&f, err);
    }
    if (rc == 0)
        check_images(&f);
    if (lock >= 0)
        close(lock);
    if (rc == 0)
        rc = check_records(&f, err);
    if (rc == 0 && opts->repair)
        rc = repair(&f, err);
    if (rc == 0) {
        rep->leftovers = count_leftovers(root->tmp, true) + count_leftovers(root->cache, false) +
                         count_leftovers(root->store, false);
        rep->problems = f.nproblems;
        for (size_t i = 0; i < f.nproblems; i++)
            fn(ctx, f.problems[i].path, f.problems[i].what, f.problems[i].repaired);
    }
    fsck_free(&f);
    return rc;
}
