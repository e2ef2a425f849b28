/* FROM oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME]. */
#include "builder/build_state.h"
#include "cache/layout.h"

int cb_import_image(cb_build_t *b, const char *ref, const char *platform,
                    cb_oci_descriptor_t *manifest, cb_error_t **err) {
    cb_oci_platform_t want = {0};
    if (platform && cb_oci_platform_parse(platform, &want, err) < 0)
        return -1;
    int rc = cb_layout_import_ref(b->store, ref, platform ? &want : NULL, b->max_layer_size,
                                  manifest, err);
    cb_oci_platform_clear(&want);
    if (rc == 1)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "%s: not an oci:, oci-archive: or docker-archive: reference", ref);
    /* The store's importer names the reference already ("oci:DIR: ..."):
     * wrapped again, the message said it twice. */
    return rc < 0 ? -1 : 0;
}
