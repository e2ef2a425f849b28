#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/oci.h"
#include "common/util.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static const char *docker_manifest =
    "{\"schemaVersion\":2,\"mediaType\":\"" CB_MT_DOCKER_MANIFEST "\",\"config\":{\"mediaType\":\"" CB_MT_DOCKER_CONFIG
    "\",\"size\":7,\"digest\":\"" D1 "\"},\"layers\":[{\"mediaType\":\"" CB_MT_DOCKER_LAYER_GZIP
    "\",\"size\":9,\"digest\":\"" D2 "\"}]}";

static void test_manifest_decode_encode(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    cb_oci_manifest_t *m = NULL;
    assert_int_equal(cb_oci_manifest_decode(docker_manifest, strlen(docker_manifest), "m",
                                            CB_MT_DOCKER_MANIFEST, &m, &err),
                     0);
    assert_string_equal(m->media_type, CB_MT_DOCKER_MANIFEST);
    assert_string_equal(m->config.digest, D1);
    assert_int_equal(m->nlayers, 1);
    cb_layer_comp_t comp;
    assert_true(cb_oci_is_layer_type(m->layers[0].media_type, &comp));
    assert_int_equal(comp, CB_LAYER_COMP_GZIP);
    size_t len;
    char *a = cb_oci_manifest_encode(m, &len);
    /* Canonical: compact, keys sorted. */
    assert_true(strncmp(a, "{\"config\":{\"digest\":\"" D1 "\",\"mediaType\"", 31 + 64) == 0);
    cb_oci_manifest_t *again = NULL;
    assert_int_equal(cb_oci_manifest_decode(a, len, "again", NULL, &again, &err), 0);
    char *b = cb_oci_manifest_encode(again, NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
    cb_oci_manifest_free(again);
    cb_oci_manifest_free(m);
}

static void expect_manifest_error(const char *json, const char *expected_type, const char *needle) {
    cb_autoerr cb_error_t *err = NULL;
    cb_oci_manifest_t *m = NULL;
    assert_true(cb_oci_manifest_decode(json, strlen(json), "doc", expected_type, &m, &err) < 0);
    assert_null(m);
    char *msg = cb_error_message(err);
    if (strstr(msg, needle) == NULL || strncmp(msg, "doc", 3) != 0)
        fail_msg("error \"%s\" lacks \"%s\"", msg, needle);
    free(msg);
}

static void test_manifest_validation(void **state) {
    (void)state;
    expect_manifest_error("[1]", NULL, "expected a JSON object");
    expect_manifest_error("{\"schemaVersion\":2", NULL, "invalid JSON at line 1");
    expect_manifest_error("{\"schemaVersion\":1}", NULL, "schemaVersion");
    expect_manifest_error("{\"schemaVersion\":2,\"layers\":[]}", NULL, "missing \"config\"");
    expect_manifest_error(docker_manifest, CB_MT_OCI_MANIFEST, "the descriptor says");
    expect_manifest_error("{\"schemaVersion\":2,\"manifests\":[]}", NULL, "image index");
    expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" CB_MT_OCI_CONFIG
                          "\",\"size\":1,\"digest\":\"sha256:12\"},\"layers\":[]}",
                          NULL, "malformed digest \"sha256:12\"");
    expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" CB_MT_OCI_CONFIG
                          "\",\"size\":1,\"digest\":\"sha512:12\"},\"layers\":[]}",
                          NULL, "only sha256");
    expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" CB_MT_OCI_CONFIG
                          "\",\"size\":-1,\"digest\":\"" D1 "\"},\"layers\":[]}",
                          NULL, "non-negative");
    expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"text/plain\",\"size\":1,"
                          "\"digest\":\"" D1 "\"},\"layers\":[]}",
                          NULL, "not an image config");
    expect_manifest_error("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" CB_MT_OCI_CONFIG
                          "\",\"size\":1,\"digest\":\"" D1 "\"},\"layers\":[{\"size\":1,\"digest\":\"" D2 "\"}]}",
                          NULL, "layer 1: missing \"mediaType\"");
    expect_manifest_error("{\"schemaVersion\":2,\"mediaType\":\"" CB_MT_OCI_INDEX "\"}", NULL,
                          "is not an image manifest");
}

static void test_index_and_config(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    const char *idx_json =
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_DOCKER_MANIFEST
        "\",\"size\":1,\"digest\":\"" D1 "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\","
        "\"variant\":\"v7\"}},{\"mediaType\":\"" CB_MT_DOCKER_MANIFEST "\",\"size\":1,\"digest\":\"" D2
        "\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}}]}";
    cb_oci_index_t *idx = NULL;
    assert_int_equal(cb_oci_index_decode(idx_json, strlen(idx_json), "i", CB_MT_DOCKER_LIST, &idx, &err), 0);
    assert_string_equal(idx->media_type, CB_MT_DOCKER_LIST);
    cb_oci_platform_t p;
    assert_int_equal(cb_oci_platform_parse("linux/arm/v6", &p, &err), 0);
    assert_int_equal(cb_oci_index_pick_platform(idx, &p, "i", &err), 1);
    cb_oci_platform_clear(&p);
    assert_int_equal(cb_oci_platform_parse("linux/amd64", &p, &err), 0);
    assert_true(cb_oci_index_pick_platform(idx, &p, "i", &err) < 0);
    cb_oci_platform_clear(&p);
    cb_error_freep(&err);
    cb_oci_index_free(idx);

    const char *bad_platform = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_MANIFEST
                               "\",\"size\":1,\"digest\":\"" D1 "\",\"platform\":{\"os\":\"linux\"}}]}";
    assert_true(cb_oci_index_decode(bad_platform, strlen(bad_platform), "i", NULL, &idx, &err) < 0);
    char *msg = cb_error_message(err);
    assert_string_equal(msg, "i: manifest 1: platform: missing \"architecture\"");
    free(msg);
    cb_error_freep(&err);

    const char *cfg_json = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                           "\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
    cb_oci_config_t *cfg = NULL;
    assert_int_equal(cb_oci_config_decode(cfg_json, strlen(cfg_json), "c", &cfg, &err), 0);
    assert_int_equal(cfg->ndiff_ids, 2);
    assert_null(cfg->created);
    cb_oci_config_free(cfg);
    const char *bad_cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                          "\"diff_ids\":[\"nope\"]}}";
    assert_true(cb_oci_config_decode(bad_cfg, strlen(bad_cfg), "c", &cfg, &err) < 0);
    msg = cb_error_message(err);
    assert_string_equal(msg, "c: rootfs.diff_ids[0] is not a sha256 digest");
    free(msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_decode_encode),
        cmocka_unit_test(test_manifest_validation),
        cmocka_unit_test(test_index_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
