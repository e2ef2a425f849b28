/* Materialised root file systems: a stage's (for COPY destinations, --chown
 * lookups, WORKDIR, COPY --from, RUN's lower) and an image's (COPY
 * --from=<image>, RUN --mount from=<image>). They are scratch space under
 * the build's directory and go away with it; what they start from, the
 * base image's layers applied in order, is kept under ROOT/layers/<key>
 * for the next build of the same base, and the scratch tree is a hardlink
 * clone of it (a few thousand links instead of decompressing and writing
 * every file again). The scratch trees only ever replace or remove entries
 * (layer apply and the overlay commit unlink first; overlay never writes
 * its lower dirs), so the kept tree's shared inodes do not change. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/build_state.h"
#include "cache/blob.h"
#include "cache/sealer.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "layer/apply.h"
#include "layer/treeclone.h"

static int blob_source(void *ctx, void *buf, size_t cap, size_t *got, cb_error_t **err) {
    ssize_t n = cb_blob_read(ctx, buf, cap, err);
    if (n < 0)
        return -1;
    *got = (size_t)n;
    return 0;
}

/* A layer whose diff_id is known is read without hashing the blob again:
 * the diff_id (checked below, after the last byte) covers what was
 * unpacked, and bytes that are not the blob's fail it or the decompressor.
 * Hashing the compressed bytes too cost as much CPU as the diff_id. */
static int apply_unhashed(cb_build_t *b, int dirfd, const cb_image_layer_t *l,
                          const cb_layer_apply_opts_t *opts, cb_layer_apply_result_t *res,
                          cb_error_t **err) {
    cb_autoclose int fd = -1;
    if (cb_blob_open_unverified(b->store, l->desc.digest, l->desc.size, &fd, NULL, err) < 0)
        return -1;
    return cb_layer_apply_fd(dirfd, fd, opts, res, err);
}

static int apply_hashed(cb_build_t *b, int dirfd, const cb_image_layer_t *l,
                        const cb_layer_apply_opts_t *opts, cb_layer_apply_result_t *res,
                        cb_error_t **err) {
    cb_autoblobreader cb_blob_reader_t *r = NULL;
    if (cb_blob_open(b->store, l->desc.digest, l->desc.size, &r, err) < 0)
        return -1;
    return cb_layer_apply(dirfd, blob_source, r, opts, res, err);
}

int cb_apply_layers(cb_build_t *b, int dirfd, const cb_image_layer_t *layers, size_t n,
                    cb_error_t **err) {
    cb_layer_apply_opts_t opts = {.rootless = b->rootless, .max_size = b->max_layer_size};
    /* A layer this build made may still be on its way into the store. */
    if (cb_sealer_wait(b->sealer, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const cb_image_layer_t *l = &layers[i];
        cb_layer_apply_result_t res;
        if ((l->diff_id ? apply_unhashed : apply_hashed)(b, dirfd, l, &opts, &res, err) < 0)
            return cb_error_wrap(err, "layer %s", l->desc.digest);
        if (l->diff_id && strcmp(res.diff_id, l->diff_id) != 0)
            return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                     "layer %s: its content has diff_id %s but the image config says %s",
                                     l->desc.digest, res.diff_id, l->diff_id);
    }
    return 0;
}

/* A new directory for a tree's root, opened. */
static int make_root_dir(const char *p, int *fd, cb_error_t **err) {
    /* 0755 whatever the umask: the tree's root is the image's "/". */
    if (mkdir(p, 0755) < 0 || chmod(p, 0755) < 0)
        return cb_error_set(err, errno, "create %s", p);
    *fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return *fd < 0 ? cb_error_set(err, errno, "open %s", p) : 0;
}

/* The kept tree's name: the layers in order and how ownership was applied
 * (a rootless build collapses what it cannot map). */
static void tree_key(const cb_build_t *b, const cb_image_layer_t *layers, size_t n,
                     char out[CB_DIGEST_STR_LEN + 1]) {
    cb_sha256_t *h = cb_sha256_new();
    char mode[64];
    snprintf(mode, sizeof mode, "cbuild tree 1 rootless=%d exact=%d\n", b->rootless, b->ids_exact);
    cb_sha256_update(h, mode, strlen(mode));
    for (size_t i = 0; i < n; i++) {
        cb_sha256_update(h, layers[i].desc.digest, strlen(layers[i].desc.digest));
        cb_sha256_update(h, "\n", 1);
    }
    cb_sha256_final(h, out);
    cb_sha256_free(h);
}

/* Opens ROOT/layers/<key>/rootfs, applying the layers first when no build
 * has yet. A tree is complete once ROOT/layers/<key> has its name: it is
 * made under ROOT/tmp, flushed, then renamed; a build that loses the race
 * to another uses the winner's. The mtime of ROOT/layers/<key> says when a
 * build last used it (prune). */
static int kept_tree(cb_build_t *b, const cb_image_layer_t *layers, size_t n, int *fd, cb_error_t **err) {
    char key[CB_DIGEST_STR_LEN + 1];
    tree_key(b, layers, n, key);
    cb_autofree char *path = cb_xasprintf("%s/%s", b->root->layers, key + 7);
    cb_autofree char *rootfs = cb_xasprintf("%s/rootfs", path);
    *fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd >= 0) {
        (void)utimensat(AT_FDCWD, path, NULL, 0);
        return 0;
    }
    if (errno != ENOENT)
        return cb_error_set(err, errno, "open %s", rootfs);
    cb_autofree char *tmp = cb_xasprintf("%s/tree-XXXXXX", b->root->tmp);
    if (mkdtemp(tmp) == NULL)
        return cb_error_set(err, errno, "create a directory in %s", b->root->tmp);
    cb_autofree char *tmp_rootfs = cb_xasprintf("%s/rootfs", tmp);
    cb_autoclose int tfd = -1;
    int rc = make_root_dir(tmp_rootfs, &tfd, err);
    if (rc == 0)
        rc = cb_apply_layers(b, tfd, layers, n, err);
    if (rc == 0 && syncfs(tfd) < 0)
        rc = cb_error_set(err, errno, "flush %s", tmp);
    if (rc == 0 && rename(tmp, path) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        rc = cb_error_set(err, errno, "rename %s to %s", tmp, path);
    /* Gone when the rename went through; otherwise another build's won. */
    cb_autoerr cb_error_t *rm_err = NULL;
    if (cb_rm_rf(tmp, &rm_err) < 0)
        cb_warn("build", "cannot remove %s", tmp);
    if (rc < 0)
        return -1;
    *fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return *fd < 0 ? cb_error_set(err, errno, "open %s", rootfs) : 0;
}

/* A fresh scratch tree holding the layers: a link clone of the kept tree of
 * the first nkept, the others applied into it. */
static int layers_tree(cb_build_t *b, const char *name, const cb_image_layer_t *layers, size_t n, size_t nkept,
                       char **path, int *fd, cb_error_t **err) {
    cb_autofree char *p = cb_xasprintf("%s/%s", b->scratch, name);
    if (make_root_dir(p, fd, err) < 0)
        return -1;
    if (path)
        *path = cb_steal_pointer(&p);
    if (nkept > 0) {
        cb_autoclose int kept = -1;
        if (kept_tree(b, layers, nkept, &kept, err) < 0 || cb_tree_clone_linked(kept, *fd, err) < 0)
            return -1;
    }
    return n > nkept ? cb_apply_layers(b, *fd, layers + nkept, n - nkept, err) : 0;
}

int cb_stage_rootfs(cb_build_t *b, size_t stage, int *fd, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    if (st->rootfs_fd < 0) {
        cb_autofree char *name = b->tree_tag ? cb_xasprintf("stage-%zu.%d", stage, b->tree_tag)
                                              : cb_xasprintf("stage-%zu", stage);
        size_t nkept = st->nlayers_kept < st->nlayers ? st->nlayers_kept : st->nlayers;
        if (layers_tree(b, name, st->layers, st->nlayers, nkept, &st->rootfs, &st->rootfs_fd, err) < 0)
            return cb_error_wrap(err, "unpacking the root file system of stage %zu", stage);
        st->tree_behind = 0;
    } else if (st->tree_behind > 0) {
        size_t first = st->nlayers - st->tree_behind;
        if (cb_apply_layers(b, st->rootfs_fd, st->layers + first, st->tree_behind, err) < 0)
            return -1;
        st->tree_behind = 0;
    }
    *fd = st->rootfs_fd;
    return 0;
}

int cb_image_rootfs(cb_build_t *b, cb_base_image_t *img, int *fd, cb_error_t **err) {
    if (img->rootfs_fd < 0) {
        cb_image_layer_t *layers = NULL;
        size_t n = 0;
        if (cb_base_image_layers(img, &layers, &n, err) < 0)
            return -1;
        size_t k = 0;
        while (k < b->nbases && b->bases[k] != img)
            k++;
        cb_autofree char *name = b->tree_tag ? cb_xasprintf("image-%zu.%d", k, b->tree_tag)
                                              : cb_xasprintf("image-%zu", k);
        int rc = layers_tree(b, name, layers, n, n, NULL, &img->rootfs_fd, err);
        cb_image_layers_free(layers, n);
        if (rc < 0)
            return cb_error_wrap(err, "unpacking image %s", img->ref);
    }
    *fd = img->rootfs_fd;
    return 0;
}
