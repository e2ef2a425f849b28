/* The sorted depth-first walk behind cb_layer_add_tree and cb_layer_add_upper
 * (upper.c, which adds entries its own way). archive_read_disk would walk in
 * readdir order, which differs between file systems and runs, so the walk is
 * ours; each level is read through the descriptor of its directory with
 * O_NOFOLLOW, never by path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "layer/name.h"
#include "layer/writer_private.h"

static int list_sorted(int dirfd, const char *name, cb_strv_t *out, cb_error_t **err) {
    return cb_dir_list_sorted(dirfd, name[0] ? name : "/", out, err);
}

int cb_layer_walk(cb_layer_writer_t *w, int dirfd, const char *prefix, const cb_layer_attrs_t *attrs,
                  cb_layer_add_fn add, cb_layer_order_fn order, cb_error_t **err) {
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (list_sorted(dirfd, prefix, &names, err) < 0)
        return -1;
    if (order && names.len > 1)
        qsort(names.items, names.len, sizeof *names.items, order);
    for (size_t i = 0; i < names.len; i++) {
        cb_autofree char *name =
            prefix[0] ? cb_xasprintf("%s/%s", prefix, names.items[i]) : cb_xstrdup(names.items[i]);
        cb_autoclose int sub = -1;
        if (add(w, dirfd, names.items[i], name, attrs, &sub, err) < 0)
            return -1;
        if (sub >= 0 && cb_layer_walk(w, sub, name, attrs, add, order, err) < 0)
            return -1;
    }
    return 0;
}

int cb_layer_add_tree(cb_layer_writer_t *w, const char *name, int dirfd, const char *path,
                      const cb_layer_attrs_t *attrs, cb_error_t **err) {
    cb_autofree char *clean = NULL;
    if (cb_layer_name_clean(name, true, &clean, err) < 0)
        return cb_error_wrap(err, "layer: entry name '%s'", name);
    cb_autoclose int top = -1;
    if (clean[0] == '\0') {
        top = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (top < 0)
            return cb_error_set(err, errno, "layer: open directory '%s'", path);
    } else if (cb_layer_add_at(w, dirfd, path, clean, attrs, &top, err) < 0) {
        return -1;
    }
    return top >= 0 ? cb_layer_walk(w, top, clean, attrs, cb_layer_add_at, NULL, err) : 0;
}
