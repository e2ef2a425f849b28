/* Materialised root file systems: a stage's (for COPY destinations, --chown
 * lookups, WORKDIR, COPY --from) and an image's (COPY --from=<image>).
 * Without RUN nothing executes in them; they are scratch space under the
 * build's directory and go away with it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/build_state.h"
#include "cache/blob.h"
#include "layer/apply.h"

static int blob_source(void *ctx, void *buf, size_t cap, size_t *got, cb_error_t **err) {
    ssize_t n = cb_blob_read(ctx, buf, cap, err);
    if (n < 0)
        return -1;
    *got = (size_t)n;
    return 0;
}

int cb_apply_layers(cb_build_t *b, int dirfd, const cb_image_layer_t *layers, size_t n,
                    cb_error_t **err) {
    cb_layer_apply_opts_t opts = {.rootless = b->rootless, .max_size = b->max_layer_size};
    for (size_t i = 0; i < n; i++) {
        const cb_image_layer_t *l = &layers[i];
        cb_autoblobreader cb_blob_reader_t *r = NULL;
        if (cb_blob_open(b->store, l->desc.digest, l->desc.size, &r, err) < 0)
            return cb_error_wrap(err, "layer %s", l->desc.digest);
        cb_layer_apply_result_t res;
        if (cb_layer_apply(dirfd, blob_source, r, &opts, &res, err) < 0)
            return cb_error_wrap(err, "layer %s", l->desc.digest);
        if (l->diff_id && strcmp(res.diff_id, l->diff_id) != 0)
            return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                     "layer %s: its content has diff_id %s but the image config says %s",
                                     l->desc.digest, res.diff_id, l->diff_id);
    }
    return 0;
}

static int make_dir(cb_build_t *b, const char *name, char **path, int *fd, cb_error_t **err) {
    cb_autofree char *p = cb_xasprintf("%s/%s", b->scratch, name);
    /* 0755 whatever the umask: the tree's root is the image's "/". */
    if (mkdir(p, 0755) < 0 || chmod(p, 0755) < 0)
        return cb_error_set(err, errno, "create %s", p);
    *fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return cb_error_set(err, errno, "open %s", p);
    if (path)
        *path = cb_steal_pointer(&p);
    return 0;
}

int cb_stage_rootfs(cb_build_t *b, size_t stage, int *fd, cb_error_t **err) {
    cb_stage_state_t *st = &b->stages[stage];
    if (st->rootfs_fd < 0) {
        cb_autofree char *name = b->tree_tag ? cb_xasprintf("stage-%zu.%d", stage, b->tree_tag)
                                              : cb_xasprintf("stage-%zu", stage);
        if (make_dir(b, name, &st->rootfs, &st->rootfs_fd, err) < 0)
            return -1;
        if (cb_apply_layers(b, st->rootfs_fd, st->layers, st->nlayers, err) < 0)
            return cb_error_wrap(err, "unpacking the root file system of stage %zu", stage);
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
        int rc = make_dir(b, name, NULL, &img->rootfs_fd, err);
        if (rc == 0)
            rc = cb_apply_layers(b, img->rootfs_fd, layers, n, err);
        cb_image_layers_free(layers, n);
        if (rc < 0)
            return cb_error_wrap(err, "unpacking image %s", img->ref);
    }
    *fd = img->rootfs_fd;
    return 0;
}
