/* Other tools read what cbuild writes: skopeo copies out of the store (an OCI
 * layout) and out of the oci-archive and docker-archive exports. Skipped (77)
 * when skopeo is not installed; CI installs it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/index.h"
#include "cache/layout.h"
#include "common/util.h"
#include "testutil.h"

#define SKOPEO "/usr/bin/skopeo"

static char *dir;
static cb_store_t *store;
static cb_oci_descriptor_t image;

static int setup(void **state) {
    (void)state;
    cb_error_t *err = NULL;
    dir = tu_mkdtemp();
    store = tu_store(dir);
    char *src = cb_xasprintf("%s/src", dir);
    mkdir(src, 0755);
    tu_make_layout(src, "1.0", "amd64", NULL, NULL, NULL);
    if (cb_layout_import_dir(store, src, "1.0", NULL, &image, &err) < 0 ||
        cb_index_tag(store, "app:dev", &image, &err) < 0) {
        cb_error_print(err, stderr);
        return -1;
    }
    free(src);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rm_rf(dir);
    free(dir);
    cb_store_free(store);
    cb_oci_descriptor_clear(&image);
    return 0;
}

/* skopeo --insecure-policy copy SRC dir:OUT; returns OUT's manifest.json. */
static char *skopeo_copy(const char *src, const char *name) {
    char *out = cb_xasprintf("%s/%s", dir, name);
    char *log = cb_xasprintf("%s/%s.log", dir, name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *dest = cb_xasprintf("dir:%s", out);
        freopen(log, "w", stdout);
        dup2(fileno(stdout), 2);
        execl(SKOPEO, "skopeo", "--insecure-policy", "copy", "--quiet", src, dest, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *text = tu_read(log, NULL);
        fail_msg("skopeo copy %s failed: %s", src, text ? text : "");
    }
    char *mpath = cb_xasprintf("%s/manifest.json", out);
    char *manifest = tu_read(mpath, NULL);
    assert_non_null(manifest);
    free(mpath);
    free(log);
    free(out);
    return manifest;
}

static void test_skopeo_reads_store(void **state) {
    (void)state;
    char *src = cb_xasprintf("oci:%s:app:dev", store->dir);
    char *manifest = skopeo_copy(src, "from-store");
    /* Same manifest bytes: skopeo found the very image the tag names. */
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(manifest, strlen(manifest), digest);
    assert_string_equal(digest, image.digest);
    free(manifest);
    free(src);
}

static void test_skopeo_reads_archives(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    char *oci = cb_xasprintf("%s/oci.tar", dir);
    assert_int_equal(cb_export_oci_archive(store, &image, "app:dev", oci, &err), 0);
    char *src = cb_xasprintf("oci-archive:%s:app:dev", oci);
    char *manifest = skopeo_copy(src, "from-oci-archive");
    assert_non_null(strstr(manifest, image.media_type));
    free(manifest);
    free(src);

    char *docker = cb_xasprintf("%s/docker.tar", dir);
    cb_strv_t tags = CB_STRV_INIT;
    cb_strv_push(&tags, "localhost/app:dev");
    assert_int_equal(cb_export_docker_archive(store, &image, &tags, docker, &err), 0);
    cb_strv_free(&tags);
    src = cb_xasprintf("docker-archive:%s:localhost/app:dev", docker);
    manifest = skopeo_copy(src, "from-docker-archive");
    assert_non_null(strstr(manifest, "application/vnd.docker.distribution.manifest.v2+json"));
    free(manifest);
    free(src);
    free(oci);
    free(docker);
}

int main(void) {
    if (access(SKOPEO, X_OK) != 0) {
        fprintf(stderr, "skipped: %s is not installed\n", SKOPEO);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skopeo_reads_store),
        cmocka_unit_test(test_skopeo_reads_archives),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
