/* --output: the built image written somewhere besides the store. */
#ifndef CB_BUILDER_OUTPUTS_H
#define CB_BUILDER_OUTPUTS_H

#include "builder/build_state.h"

int cb_output_write(cb_build_t *b, size_t stage, const cb_oci_descriptor_t *manifest,
                    const cb_output_t *out, cb_error_t **err);

#endif
