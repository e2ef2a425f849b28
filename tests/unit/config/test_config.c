/* common/config.c: the cbuild.conf syntax, values, errors at FILE:LINE, and
 * the XDG path rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/util.h"

static char dir[] = "/tmp/cb-config-XXXXXX";

static char *write_conf(const char *text) {
    char *path = cb_xasprintf("%s/cbuild.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_values(void **state) {
    (void)state;
    cb_config_t c;
    cb_autofree char *path = write_conf("# defaults\n\n  root = /srv/cb  \ncompression=zstd # small\njobs = 3\n"
                           "network = none\ndefault-registry = \"reg.example:5000 #1\"\n");
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_config_parse_file(path, &c, &err), 0);
    assert_string_equal(c.root, "/srv/cb");
    assert_string_equal(c.compression, "zstd");
    assert_int_equal(c.jobs, 3);
    assert_string_equal(c.network, "none");
    assert_string_equal(c.default_registry, "reg.example:5000 #1");
    assert_non_null(c.path);
    cb_config_clear(&c);
    assert_null(c.root);
}

static void expect_error(const char *text, int line, const char *want) {
    cb_config_t c;
    cb_autofree char *path = write_conf(text);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_config_parse_file(path, &c, &err), -1);
    assert_non_null(err);
    assert_string_equal(err->file, path);
    assert_int_equal(err->line, line);
    if (strstr(err->msg, want) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err->msg, want);
    assert_int_equal(cb_error_exit_code(err), 2);
    assert_null(c.root); /* nothing half-set */
}

static void test_errors(void **state) {
    (void)state;
    expect_error("root = /a\ncompresion = zstd\n", 2, "unknown key compresion (did you mean compression?)");
    expect_error("\n\nfrobnicate = 1\n", 3, "unknown key frobnicate (known:");
    expect_error("root /a\n", 1, "expected key = value");
    expect_error("compression = lz4\n", 1, "expected one of gzip, zstd, none");
    expect_error("network = bridge\n", 1, "expected one of host, none");
    expect_error("jobs = 0\n", 1, "from 1 to 64");
    expect_error("jobs = 4x\n", 1, "from 1 to 64");
    expect_error("jobs = 2\njobs = 3\n", 2, "set twice");
    expect_error("root = /a\nroot = /b\n", 2, "set twice");
    expect_error("root =\n", 1, "empty value");
    expect_error("= x\n", 1, "without a key");
    expect_error("root = \"/a\n", 1, "unclosed quote");
}

static void test_default_path(void **state) {
    (void)state;
    setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
    cb_autofree char *a = cb_config_default_path();
    assert_string_equal(a, "/x/cfg/cbuild/cbuild.conf");
    /* A relative XDG_CONFIG_HOME is invalid by the spec: $HOME/.config. */
    setenv("XDG_CONFIG_HOME", "rel", 1);
    setenv("HOME", "/home/u", 1);
    cb_autofree char *b = cb_config_default_path();
    assert_string_equal(b, "/home/u/.config/cbuild/cbuild.conf");
    unsetenv("XDG_CONFIG_HOME");
    cb_autofree char *c = cb_config_default_path();
    assert_string_equal(c, "/home/u/.config/cbuild/cbuild.conf");
}

static void test_load(void **state) {
    (void)state;
    setenv("XDG_CONFIG_HOME", dir, 1);
    /* No file: no error and nothing set. */
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_config_load(&err), 0);
    assert_null(cb_config_default_registry());
    cb_autofree char *sub = cb_xasprintf("%s/cbuild", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    cb_autofree char *path = cb_xasprintf("%s/cbuild.conf", sub);
    FILE *f = fopen(path, "w");
    fputs("default-registry = registry.local\n", f);
    fclose(f);
    assert_int_equal(cb_config_load(&err), 0);
    assert_string_equal(cb_config_default_registry(), "registry.local");
    assert_string_equal(cb_config()->path, path);
    f = fopen(path, "w");
    fputs("jobs = many\n", f);
    fclose(f);
    assert_int_equal(cb_config_load(&err), -1);
    assert_int_equal(err->line, 1);
    assert_null(cb_config_default_registry());
    unlink(path);
    rmdir(sub);
}

int main(void) {
    if (mkdtemp(dir) == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_load),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cb_autofree char *conf = cb_xasprintf("%s/cbuild.conf", dir);
    unlink(conf);
    rmdir(dir);
    return rc;
}
