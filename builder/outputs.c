#include "builder/outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cache/layout.h"
#include "cache/root.h"
#include "common/log.h"

/* type=local: the final root file system, every layer applied in order. */
static int write_local(cb_build_t *b, size_t stage, const char *dest, cb_error_t **err) {
    if (cb_mkdir_p(dest, 0755, err) < 0)
        return -1;
    cb_autoclose int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open %s", dest);
    const cb_stage_state_t *st = &b->stages[stage];
    return cb_apply_layers(b, fd, st->layers, st->nlayers, err);
}

int cb_output_write(cb_build_t *b, size_t stage, const cb_oci_descriptor_t *manifest,
                    const cb_output_t *out, cb_error_t **err) {
    const cb_strv_t *tags = &b->opts->tags;
    const char *name = tags->len > 0 ? tags->items[0] : NULL;
    int rc;
    switch (out->type) {
    case CB_OUTPUT_OCI:
        rc = cb_export_oci_dir(b->store, manifest, name, out->dest, err);
        break;
    case CB_OUTPUT_OCI_ARCHIVE:
        rc = cb_export_oci_archive(b->store, manifest, name, out->dest, err);
        break;
    case CB_OUTPUT_DOCKER_ARCHIVE:
        rc = cb_export_docker_archive(b->store, manifest, tags, out->dest, err);
        break;
    case CB_OUTPUT_LOCAL:
    default:
        rc = write_local(b, stage, out->dest, err);
        break;
    }
    if (rc < 0)
        return cb_error_wrap(err, "--output %s", out->dest);
    cb_info("output", "Wrote %s", out->dest);
    return 0;
}
