/* push/auth.h: WWW-Authenticate parsing and base64. Token fetching is shown
 * against real registries in tests/integration/test_registry_*.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "push/auth.h"

static void parse_ok(const char *h, cb_auth_scheme_t scheme, const char *realm,
                     const char *service, const char *scope) {
    cb_autoerr cb_error_t *err = NULL;
    cb_auth_challenge_t c = {0};
    if (cb_auth_challenge_parse(h, &c, &err) < 0)
        fail_msg("%s: %s", h, err->msg);
    assert_int_equal(c.scheme, scheme);
#define EQ(got, want)                          \
    if (want)                                  \
        assert_string_equal(got, want);        \
    else                                       \
        assert_null(got)
    EQ(c.realm, realm);
    EQ(c.service, service);
    EQ(c.scope, scope);
#undef EQ
    cb_auth_challenge_clear(&c);
}

static void test_bearer(void **state) {
    parse_ok("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
             "scope=\"repository:library/debian:pull\"",
             CB_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io",
             "repository:library/debian:pull");
    /* Spaces around '=' and ',', unquoted tokens, case-insensitive names. */
    parse_ok("bearer  Realm = \"http://127.0.0.1:1/t\" , SERVICE=reg", CB_AUTH_BEARER,
             "http://127.0.0.1:1/t", "reg", NULL);
    /* Commas and escapes inside quoted strings; the scope lists two actions. */
    parse_ok("Bearer realm=\"https://a/t?x=1,y=2\",scope=\"repository:a/b:pull,push\","
             "error=\"insufficient_scope\",service=\"q\\\"s\"",
             CB_AUTH_BEARER, "https://a/t?x=1,y=2", "q\"s", "repository:a/b:pull,push");
}

static void test_basic_and_lists(void **state) {
    parse_ok("Basic realm=\"Registry Realm\"", CB_AUTH_BASIC, "Registry Realm", NULL, NULL);
    parse_ok("Basic", CB_AUTH_BASIC, NULL, NULL, NULL);
    /* Several challenges in one value: Bearer wins, unknown schemes skipped. */
    parse_ok("Basic realm=\"r\", Bearer realm=\"https://t\",service=\"s\"", CB_AUTH_BEARER,
             "https://t", "s", NULL);
    parse_ok("Negotiate, Basic realm=\"x\"", CB_AUTH_BASIC, "x", NULL, NULL);
    parse_ok("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic "
             "realm=\"simple\"",
             CB_AUTH_BASIC, "simple", NULL, NULL);
}

static void parse_bad(const char *h, const char *needle) {
    cb_autoerr cb_error_t *err = NULL;
    cb_auth_challenge_t c = {0};
    if (cb_auth_challenge_parse(h, &c, &err) == 0)
        fail_msg("%s: parsed", h);
    if (!strstr(err->msg, needle))
        fail_msg("%s: \"%s\" lacks \"%s\"", h, err->msg, needle);
}

static void test_bad(void **state) {
    parse_bad("", "no Bearer or Basic");
    parse_bad("Negotiate", "no Bearer or Basic");
    parse_bad("Bearer service=\"x\"", "without a realm");
    parse_bad("Bearer realm=\"https://unterminated", "unterminated");
}

static void test_base64(void **state) {
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
                              {"user:pa:ss", "dXNlcjpwYTpzcw=="}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cb_autofree char *e = cb_base64_encode(cases[i][0], strlen(cases[i][0]));
        assert_string_equal(e, cases[i][1]);
        cb_autofree char *d = NULL;
        size_t n = 0;
        assert_int_equal(cb_base64_decode(cases[i][1], &d, &n), 0);
        assert_int_equal(n, strlen(cases[i][0]));
        assert_memory_equal(d, cases[i][0], n);
    }
    char *d = NULL;
    size_t n = 0;
    assert_int_equal(cb_base64_decode("abc", &d, &n), -1);
    assert_int_equal(cb_base64_decode("a!b=", &d, &n), -1);
}

static void test_token_answer(void **state) {
    long life = 0;
    const char *a_json = "{\"token\":\"t1\",\"expires_in\":300}";
    cb_autofree char *a = cb_auth_token_decode(a_json, strlen(a_json), &life);
    assert_string_equal(a, "Authorization: Bearer t1");
    assert_int_equal(life, 300);
    const char *b_json = "{\"token\":\"\",\"access_token\":\"t2\"}";
    cb_autofree char *b = cb_auth_token_decode(b_json, strlen(b_json), &life);
    assert_string_equal(b, "Authorization: Bearer t2");
    assert_int_equal(life, 60); /* absent: the minimum */
    /* Undefined behaviour before: a huge expires_in overflowed the expiry time
     * (seed testdata/fuzz/www_auth/several). */
    const char *c_json = "{\"token\":\"t3\",\"expires_in\":9223372036854775807}";
    cb_autofree char *c = cb_auth_token_decode(c_json, strlen(c_json), &life);
    assert_non_null(c);
    assert_int_equal(life, 24 * 3600);
    /* A token that would add header lines is no token. */
    const char *d_json = "{\"token\":\"a\\r\\nX-Evil: 1\"}";
    assert_null(cb_auth_token_decode(d_json, strlen(d_json), &life));
    assert_null(cb_auth_token_decode("{\"token\":5}", strlen("{\"token\":5}"), &life));
    assert_null(cb_auth_token_decode("not json", 8, &life));
    assert_null(cb_auth_token_decode(NULL, 0, &life));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_basic_and_lists),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_token_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
