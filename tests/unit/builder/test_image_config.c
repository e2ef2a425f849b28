#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "builder/image_config.h"

static char *const sh_c[] = {"/bin/sh", "-c", "run", NULL};
static char *const app[] = {"/app", NULL};

static void test_scratch_serialises_sorted(void **state) {
    (void)state;
    cb_autoimage_config cb_image_config_t *cfg = cb_image_config_new(NULL, NULL, NULL);
    cb_image_config_set_created(cfg, 0);
    cb_autofree char *json = cb_image_config_serialize(cfg);
    assert_string_equal(json, "{\"architecture\":\"amd64\",\"config\":{},\"created\":\"1970-01-01T00:00:00Z\","
                              "\"history\":[],\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[],\"type\":\"layers\"}}");
}

static void test_env_order_and_replace(void **state) {
    (void)state;
    cb_autoimage_config cb_image_config_t *cfg = cb_image_config_new(NULL, NULL, NULL);
    cb_image_config_set_env(cfg, "PATH", "/bin");
    cb_image_config_set_env(cfg, "A", "1");
    cb_image_config_set_env(cfg, "PATH", "/usr/bin:/bin");
    cb_autostrv cb_strv_t env = CB_STRV_INIT;
    cb_image_config_env_list(cfg, &env);
    assert_int_equal(env.len, 2);
    assert_string_equal(env.items[0], "PATH=/usr/bin:/bin");
    assert_string_equal(env.items[1], "A=1");
    assert_string_equal(cb_image_config_get_env(cfg, "A"), "1");
    assert_null(cb_image_config_get_env(cfg, "PAT"));
}

static void test_entrypoint_resets_inherited_cmd(void **state) {
    (void)state;
    cb_autoimage_config cb_image_config_t *base = cb_image_config_new(NULL, NULL, NULL);
    cb_image_config_set_cmd(base, sh_c, false);
    cb_autofree char *json = cb_image_config_serialize(base);
    cb_autoimage_config cb_image_config_t *child = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_image_config_parse(json, strlen(json), &child, &err), 0);
    cb_image_config_begin_stage(child);
    cb_image_config_set_entrypoint(child, app, false);
    cb_autostrv cb_strv_t cmd = CB_STRV_INIT;
    cb_image_config_get_cmd(child, &cmd);
    assert_int_equal(cmd.len, 0);

    /* A CMD set in the same stage survives a later ENTRYPOINT. */
    cb_image_config_set_cmd(child, app, false);
    cb_image_config_set_entrypoint(child, sh_c, false);
    cb_autostrv cb_strv_t cmd2 = CB_STRV_INIT;
    cb_image_config_get_cmd(child, &cmd2);
    assert_int_equal(cmd2.len, 1);
}

static void test_onbuild_taken_once(void **state) {
    (void)state;
    cb_autoimage_config cb_image_config_t *base = cb_image_config_new(NULL, NULL, NULL);
    cb_image_config_add_onbuild(base, "RUN echo hi");
    cb_autofree char *json = cb_image_config_serialize(base);
    assert_non_null(strstr(json, "\"OnBuild\":[\"RUN echo hi\"]"));
    cb_autoimage_config cb_image_config_t *child = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_image_config_parse(json, strlen(json), &child, &err), 0);
    cb_autostrv cb_strv_t triggers = CB_STRV_INIT;
    cb_image_config_take_onbuild(child, &triggers);
    assert_int_equal(triggers.len, 1);
    cb_autofree char *json2 = cb_image_config_serialize(child);
    assert_null(strstr(json2, "OnBuild"));
}

static void test_expose_and_errors(void **state) {
    (void)state;
    cb_autoimage_config cb_image_config_t *cfg = cb_image_config_new(NULL, NULL, NULL);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_image_config_expose(cfg, "80", &err), 0);
    assert_int_equal(cb_image_config_expose(cfg, "53/UDP", &err), 0);
    assert_true(cb_image_config_expose(cfg, "http", &err) < 0);
    cb_error_free(err);
    err = NULL;
    assert_true(cb_image_config_expose(cfg, "80/foo", &err) < 0);
    cb_autofree char *json = cb_image_config_serialize(cfg);
    assert_non_null(strstr(json, "\"ExposedPorts\":{\"53/udp\":{},\"80/tcp\":{}}"));
}

static void test_parse_rejects_garbage(void **state) {
    (void)state;
    cb_image_config_t *cfg = NULL;
    cb_autoerr cb_error_t *err = NULL;
    assert_true(cb_image_config_parse("{\"os\":1}", 8, &cfg, &err) < 0);
    assert_null(cfg);
    cb_error_free(err);
    err = NULL;
    assert_true(cb_image_config_parse("[", 1, &cfg, &err) < 0);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "invalid JSON"));
}

static void test_history_and_layers(void **state) {
    (void)state;
    cb_autoimage_config cb_image_config_t *cfg = cb_image_config_new(NULL, NULL, NULL);
    cb_image_config_add_history(cfg, "ENV A=1", true, 10, NULL);
    cb_image_config_add_layer(cfg, "sha256:aa");
    assert_int_equal(cb_image_config_layer_count(cfg), 1);
    assert_string_equal(cb_image_config_layer(cfg, 0), "sha256:aa");
    cb_autofree char *json = cb_image_config_serialize(cfg);
    assert_non_null(strstr(json, "{\"created\":\"1970-01-01T00:00:10Z\",\"created_by\":\"ENV A=1\",\"empty_layer\":true}"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scratch_serialises_sorted),
        cmocka_unit_test(test_env_order_and_replace),
        cmocka_unit_test(test_entrypoint_resets_inherited_cmd),
        cmocka_unit_test(test_onbuild_taken_once),
        cmocka_unit_test(test_expose_and_errors),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_history_and_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
