#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/blob.h"
#include "cache/index.h"
#include "cache/refname.h"
#include "common/util.h"
#include "testutil.h"

typedef struct {
    char *dir;
    cb_store_t *store;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->store = tu_store(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    tu_rm_rf(f->dir);
    free(f->dir);
    cb_store_free(f->store);
    free(f);
    return 0;
}

static void fake_manifest(cb_oci_descriptor_t *d, const char *seed) {
    memset(d, 0, sizeof *d);
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(seed, strlen(seed), digest);
    d->media_type = cb_xstrdup(CB_MT_OCI_MANIFEST);
    d->digest = cb_xstrdup(digest);
    d->size = (int64_t)strlen(seed);
}

static void test_refname(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"app", "app:latest"},
        {"app:dev", "app:dev"},
        {"localhost/app", "localhost/app:latest"},
        {"localhost:5000/team/app:1.2-rc_3", "localhost:5000/team/app:1.2-rc_3"},
        {"registry.example.com/a.b/c__d-e:v1", "registry.example.com/a.b/c__d-e:v1"},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(ok); i++) {
        char *n = NULL;
        assert_int_equal(cb_refname_normalize(ok[i].in, &n, &err), 0);
        assert_string_equal(n, ok[i].out);
        free(n);
    }
    static const char *bad[] = {"",      "App",      "app:",        "app:-x", "app@sha256:00",
                                "/app",  "app/",     "a//b",        "app:a/b", "-app",
                                "ex.com:x/app"};
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        char *n = NULL;
        assert_true(cb_refname_normalize(bad[i], &n, &err) < 0);
        assert_null(n);
        assert_int_equal(cb_error_exit_code(err), 2);
        cb_error_freep(&err);
    }
    assert_true(cb_refname_equal("localhost/app:dev", "app:dev"));
    assert_false(cb_refname_equal("docker.io/library/app:dev", "app:dev"));
    assert_string_equal(cb_refname_tag("localhost:5000/app:dev"), "dev");
}

static void test_tag_resolve_untag(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    cb_oci_descriptor_t a, b, got;
    fake_manifest(&a, "a");
    fake_manifest(&b, "b");
    assert_int_equal(cb_index_tag(f->store, "app", &a, &err), 0);
    assert_int_equal(cb_index_tag(f->store, "app:dev", &b, &err), 0);

    assert_int_equal(cb_index_resolve(f->store, "app:latest", &got, &err), 0);
    assert_string_equal(got.digest, a.digest);
    assert_string_equal(cb_oci_descriptor_annotation(&got, CB_ANNOTATION_REF_NAME), "app:latest");
    cb_oci_descriptor_clear(&got);
    /* localhost/ is the same name, as in podman. */
    assert_int_equal(cb_index_resolve(f->store, "localhost/app:dev", &got, &err), 0);
    assert_string_equal(got.digest, b.digest);
    cb_oci_descriptor_clear(&got);

    /* Retagging moves the name; the annotation becomes the new spelling. */
    assert_int_equal(cb_index_tag(f->store, "localhost/app", &b, &err), 0);
    cb_index_entry_t *e = NULL;
    size_t n = 0;
    assert_int_equal(cb_index_list(f->store, &e, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].name, "app:dev");
    assert_string_equal(e[1].name, "localhost/app:latest");
    assert_string_equal(e[1].desc.digest, b.digest);
    cb_index_entries_free(e, n);

    /* Digest and prefix lookups. */
    assert_int_equal(cb_index_find_digest(f->store, b.digest, &got, &err), 0);
    cb_oci_descriptor_clear(&got);
    char prefix[13];
    memcpy(prefix, b.digest + 7, 12);
    prefix[12] = '\0';
    assert_int_equal(cb_index_find_digest(f->store, prefix, &got, &err), 0);
    assert_string_equal(got.digest, b.digest);
    cb_oci_descriptor_clear(&got);
    assert_int_equal(cb_index_find_digest(f->store, "not-hex", &got, &err), 1);

    assert_int_equal(cb_index_untag(f->store, "app:dev", &err), 0);
    assert_true(cb_index_untag(f->store, "app:dev", &err) < 0);
    char *msg = cb_error_message(err);
    assert_string_equal(msg, "no image named app:dev");
    free(msg);
    cb_error_freep(&err);
    assert_true(cb_index_resolve(f->store, "app:dev", &got, &err) < 0);
    assert_int_equal(cb_error_exit_code(err), 2);
    cb_error_freep(&err);
    assert_true(cb_index_tag(f->store, "Bad Name", &a, &err) < 0);
    cb_oci_descriptor_clear(&a);
    cb_oci_descriptor_clear(&b);
}

static void test_foreign_entries_kept(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char *path = cb_xasprintf("%s/index.json", f->store->dir);
    const char *text =
        "{\"schemaVersion\":2,\"annotations\":{\"x\":\"y\"},\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_MANIFEST
        "\",\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"size\":1,\"urls\":[\"https://example.com\"]}]}";
    tu_write(path, text, strlen(text));
    cb_oci_descriptor_t a;
    fake_manifest(&a, "a");
    assert_int_equal(cb_index_tag(f->store, "app", &a, &err), 0);
    char *after = tu_read(path, NULL);
    assert_non_null(strstr(after, "\"urls\":[\"https://example.com\"]"));
    assert_non_null(strstr(after, "\"annotations\":{\"x\":\"y\"}"));
    assert_non_null(strstr(after, "app:latest"));
    free(after);

    /* A broken index.json is reported, never overwritten. */
    tu_write(path, "{\"schemaVersion\":2,", 19);
    assert_true(cb_index_tag(f->store, "app", &a, &err) < 0);
    char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "index.json: invalid JSON at line 1"));
    free(msg);
    after = tu_read(path, NULL);
    assert_string_equal(after, "{\"schemaVersion\":2,");
    free(after);
    free(path);
    cb_oci_descriptor_clear(&a);
}

#define NPROC 6
#define NTAGS 15

static void test_concurrent_tagging(void **state) {
    fixture_t *f = *state;
    pid_t pids[NPROC];
    for (int p = 0; p < NPROC; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            for (int t = 0; t < NTAGS; t++) {
                cb_error_t *err = NULL;
                char *name = cb_xasprintf("proc%d/img:t%d", p, t);
                cb_oci_descriptor_t d;
                fake_manifest(&d, name);
                if (cb_index_tag(f->store, name, &d, &err) < 0)
                    _exit(1);
                cb_oci_descriptor_clear(&d);
                free(name);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < NPROC; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_index_entry_t *e = NULL;
    size_t n = 0;
    assert_int_equal(cb_index_list(f->store, &e, &n, &err), 0);
    assert_int_equal(n, NPROC * NTAGS);
    cb_index_entries_free(e, n);
    for (int p = 0; p < NPROC; p++) {
        for (int t = 0; t < NTAGS; t++) {
            char *name = cb_xasprintf("proc%d/img:t%d", p, t);
            cb_oci_descriptor_t got, want;
            fake_manifest(&want, name);
            assert_int_equal(cb_index_resolve(f->store, name, &got, &err), 0);
            assert_string_equal(got.digest, want.digest);
            cb_oci_descriptor_clear(&got);
            cb_oci_descriptor_clear(&want);
            free(name);
        }
    }
    char *tmp_files = cb_xasprintf("%s", f->store->dir);
    /* Only oci-layout and index.json: no temp index files left behind. */
    assert_int_equal(tu_file_count(tmp_files), 2);
    free(tmp_files);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refname),
        cmocka_unit_test_setup_teardown(test_tag_resolve_untag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_entries_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_tagging, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
