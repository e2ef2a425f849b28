/* push/reference.h: references parsed as Docker's reference package does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "push/reference.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_ref(const char *in, const char *defreg, const char *registry,
                       const char *repo, const char *tag, const char *digest, bool short_name) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autoref cb_ref_t r = {0};
    if (cb_ref_parse(in, defreg, &r, &err) < 0)
        fail_msg("%s: %s", in, err->msg);
    assert_string_equal(r.registry, registry);
    assert_string_equal(r.repository, repo);
    if (tag)
        assert_string_equal(r.tag, tag);
    else
        assert_null(r.tag);
    if (digest)
        assert_string_equal(r.digest, digest);
    else
        assert_null(r.digest);
    assert_int_equal(r.short_name, short_name);
}

static void expect_bad(const char *in, const char *needle) {
    cb_autoerr cb_error_t *err = NULL;
    cb_ref_t r = {0};
    if (cb_ref_parse(in, NULL, &r, &err) == 0)
        fail_msg("%s: parsed, expected an error", in);
    cb_autofree char *msg = cb_error_message(err);
    if (!strstr(msg, needle) || !strstr(msg, in))
        fail_msg("%s: error \"%s\" lacks \"%s\" or the reference", in, msg, needle);
    assert_null(r.registry);
}

static void test_docker_hub(void **state) {
    expect_ref("debian", NULL, "docker.io", "library/debian", "latest", NULL, true);
    expect_ref("debian:bookworm", NULL, "docker.io", "library/debian", "bookworm", NULL, true);
    expect_ref("user/app", NULL, "docker.io", "user/app", "latest", NULL, true);
    expect_ref("docker.io/debian", NULL, "docker.io", "library/debian", "latest", NULL, false);
    expect_ref("index.docker.io/library/debian:12", NULL, "docker.io", "library/debian", "12",
               NULL, false);
    expect_ref("docker.io/a/b/c:v1", NULL, "docker.io", "a/b/c", "v1", NULL, false);
}

static void test_registries(void **state) {
    expect_ref("localhost/app", NULL, "localhost", "app", "latest", NULL, false);
    expect_ref("localhost:5000/app:dev", NULL, "localhost:5000", "app", "dev", NULL, false);
    expect_ref("127.0.0.1:5000/a/b", NULL, "127.0.0.1:5000", "a/b", "latest", NULL, false);
    expect_ref("quay.io/podman/stable", NULL, "quay.io", "podman/stable", "latest", NULL, false);
    expect_ref("[::1]:5000/app", NULL, "[::1]:5000", "app", "latest", NULL, false);
    /* An upper-case first component is a host, as in distribution's reference. */
    expect_ref("Registry/app", NULL, "Registry", "app", "latest", NULL, false);
    /* A first component without "." or ":" is a path, not a host. */
    expect_ref("myhost/app", NULL, "docker.io", "myhost/app", "latest", NULL, true);
}

static void test_digests(void **state) {
    expect_ref("debian@sha256:" HEX64, NULL, "docker.io", "library/debian", NULL,
               "sha256:" HEX64, true);
    expect_ref("r.io:443/x:tag@sha256:" HEX64, NULL, "r.io:443", "x", "tag", "sha256:" HEX64,
               false);
    cb_autoerr cb_error_t *err = NULL;
    cb_autoref cb_ref_t r = {0};
    assert_int_equal(cb_ref_parse("r.io/x:t@sha256:" HEX64, NULL, &r, &err), 0);
    assert_string_equal(cb_ref_manifest_ref(&r), "sha256:" HEX64);
    cb_autofree char *s = cb_ref_string(&r);
    assert_string_equal(s, "r.io/x:t@sha256:" HEX64);
}

static void test_default_registry(void **state) {
    expect_ref("app", "registry.example:5000", "registry.example:5000", "app", "latest", NULL,
               true);
    expect_ref("a/b:1", "localhost:5000", "localhost:5000", "a/b", "1", NULL, true);
    /* A written registry is never replaced. */
    expect_ref("docker.io/app", "localhost:5000", "docker.io", "library/app", "latest", NULL,
               false);
    cb_autoerr cb_error_t *err = NULL;
    cb_autoref cb_ref_t r = {0};
    assert_int_equal(cb_ref_parse("busybox", NULL, &r, &err), 0);
    assert_string_equal(cb_ref_api_host(&r), "registry-1.docker.io");
    cb_autofree char *name = cb_ref_store_name(&r);
    assert_string_equal(name, "docker.io/library/busybox:latest");
}

static void test_errors(void **state) {
    expect_bad("", "empty");
    expect_bad("Debian", "lower case");
    expect_bad("docker.io/Library/debian", "lower case");
    expect_bad("debian:", "invalid tag");
    expect_bad("debian:-x", "invalid tag");
    expect_bad("debian@sha256:abc", "digest");
    expect_bad("debian@md5:" HEX64, "sha256");
    expect_bad("a//b", "path component");
    expect_bad("a/b_.c", "path component");
    expect_bad("a/b-", "path component");
    expect_bad("bad_host:x/app", "registry host");
    expect_bad("exa$mple.com/app", "registry host");
    expect_bad(":tag", "no repository");
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    expect_bad(longname, "255");
    expect_ref("a__b/c---d.e_f", NULL, "docker.io", "a__b/c---d.e_f", "latest", NULL, true);
}

static void test_search_registries(void **state) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autostrv cb_strv_t v = CB_STRV_INIT;
    const char *conf = "# comment\n"
                       "short-name-mode = \"enforcing\"\n"
                       "unqualified-search-registries = [\"registry.example\",\n"
                       "   'quay.io', # second\n"
                       "   \"docker.io\"]\n"
                       "[[registry]]\n"
                       "unqualified-search-registries = [\"ignored\"]\n";
    assert_int_equal(cb_ref_search_registries_parse(conf, "r.conf", &v, &err), 0);
    assert_int_equal(v.len, 3);
    assert_string_equal(v.items[0], "registry.example");
    assert_string_equal(v.items[1], "quay.io");
    assert_string_equal(v.items[2], "docker.io");

    cb_autostrv cb_strv_t none = CB_STRV_INIT;
    assert_int_equal(cb_ref_search_registries_parse("#unqualified-search-registries = [\"x\"]\n"
                                                    "[aliases]\n\"x\" = \"y\"\n",
                                                    "r.conf", &none, &err),
                     0);
    assert_int_equal(none.len, 0);

    assert_int_equal(cb_ref_search_registries_parse("\n\nunqualified-search-registries = [x]\n",
                                                    "r.conf", &none, &err),
                     -1);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "r.conf:3:"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_hub),       cmocka_unit_test(test_registries),
        cmocka_unit_test(test_digests),          cmocka_unit_test(test_default_registry),
        cmocka_unit_test(test_errors),           cmocka_unit_test(test_search_registries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
