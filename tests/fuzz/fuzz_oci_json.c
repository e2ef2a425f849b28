/* libFuzzer target: the OCI / Docker JSON documents a registry or an image
 * archive hands us (cache/oci.h), and the generic manifest reading of push/.
 *
 * Input: one mode byte, then the JSON. Mode % 4 picks the document:
 *   0 image manifest, 1 image index, 2 image config, 3 a manifest read the way
 *   push reads one (config and layers as bare descriptors);
 * (mode / 4) % 3 picks the mediaType the referring descriptor announced:
 * none, the OCI type or the Docker type. A decoded manifest or index is
 * encoded again, and the encoding must decode to the same bytes (the store
 * keys documents by digest); an index is asked for linux/amd64. Findings
 * besides crashes, leaks and UB: a broken error contract, a failed round trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/oci.h"
#include "common/digest.h"
#include "common/error.h"
#include "common/util.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const announced[][2] = {
    {CB_MT_OCI_MANIFEST, CB_MT_DOCKER_MANIFEST},
    {CB_MT_OCI_INDEX, CB_MT_DOCKER_LIST},
};

static void manifest(const char *json, size_t len, const char *expected) {
    cb_oci_manifest_t *m = NULL;
    cb_error_t *err = NULL;
    int rc = cb_oci_manifest_decode(json, len, "fuzz", expected, &m, &err);
    fuzz_check_error(rc, err);
    if (rc < 0) {
        if (m)
            abort();
        return;
    }
    size_t n1 = 0, n2 = 0;
    char *enc = cb_oci_manifest_encode(m, &n1);
    cb_oci_manifest_t *again = NULL;
    if (cb_oci_manifest_decode(enc, n1, "fuzz again", m->media_type, &again, NULL) < 0)
        abort();
    char *enc2 = cb_oci_manifest_encode(again, &n2);
    if (n1 != n2 || memcmp(enc, enc2, n1) != 0)
        abort();
    free(enc);
    free(enc2);
    cb_oci_manifest_free(again);
    cb_oci_manifest_free(m);
}

static void index_doc(const char *json, size_t len, const char *expected) {
    cb_oci_index_t *idx = NULL;
    cb_error_t *err = NULL;
    int rc = cb_oci_index_decode(json, len, "fuzz", expected, &idx, &err);
    fuzz_check_error(rc, err);
    if (rc < 0) {
        if (idx)
            abort();
        return;
    }
    cb_oci_platform_t want;
    cb_oci_platform_default(&want);
    err = NULL;
    rc = cb_oci_index_pick_platform(idx, &want, "fuzz", &err);
    fuzz_check_error(rc, err);
    if (rc >= 0 && ((size_t)rc >= idx->nmanifests || !idx->manifests[rc].has_platform))
        abort();
    cb_oci_platform_clear(&want);
    for (size_t i = 0; i < idx->nmanifests; i++) {
        json_t *j = cb_oci_descriptor_encode(&idx->manifests[i]);
        cb_oci_descriptor_t d = {0};
        if (cb_oci_descriptor_decode(j, "fuzz again", &d, NULL) < 0)
            abort();
        cb_oci_descriptor_clear(&d);
        json_decref(j);
    }
    cb_oci_index_free(idx);
}

static void config(const char *json, size_t len) {
    cb_oci_config_t *c = NULL;
    cb_error_t *err = NULL;
    int rc = cb_oci_config_decode(json, len, "fuzz", &c, &err);
    fuzz_check_error(rc, err);
    if (rc >= 0) {
        for (size_t i = 0; i < c->ndiff_ids; i++)
            if (!c->diff_ids[i])
                abort();
        free(cb_oci_platform_string(&c->platform));
    }
    cb_oci_config_free(c);
}

/* push/push.c's reading: any document with a config and layers. */
static void generic(const char *json, size_t len) {
    json_t *doc = NULL;
    cb_error_t *err = NULL;
    int rc = cb_oci_json_parse(json, len, "fuzz", &doc, &err);
    fuzz_check_error(rc, err);
    if (rc < 0)
        return;
    json_t *layers = json_object_get(doc, "layers");
    size_t nl = json_is_array(layers) ? json_array_size(layers) : 0;
    cb_oci_descriptor_t d = {0};
    err = NULL;
    rc = cb_oci_descriptor_decode(json_object_get(doc, "config"), "config", &d, &err);
    fuzz_check_error(rc, err);
    cb_oci_descriptor_clear(&d);
    for (size_t i = 0; i < nl; i++) {
        err = NULL;
        rc = cb_oci_descriptor_decode(json_array_get(layers, i), "layer", &d, &err);
        fuzz_check_error(rc, err);
        if (rc == 0 && !cb_digest_valid(d.digest))
            abort();
        cb_oci_descriptor_clear(&d);
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    unsigned kind = data[0] % 4, ann = (data[0] / 4) % 3;
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    switch (kind) {
    case 0:
        manifest(json, len, ann ? announced[0][ann - 1] : NULL);
        break;
    case 1:
        index_doc(json, len, ann ? announced[1][ann - 1] : NULL);
        break;
    case 2:
        config(json, len);
        break;
    default:
        generic(json, len);
        break;
    }
    return 0;
}
