#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "cache/blob.h"
#include "cache/images.h"
#include "cache/index.h"
#include "cache/layout.h"
#include "common/util.h"
#include "testutil.h"

typedef struct {
    char *dir;
    char *src; /* a hand-made layout */
    cb_store_t *store;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->src = cb_xasprintf("%s/src", f->dir);
    mkdir(f->src, 0755);
    f->store = tu_store(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f->src);
    cb_store_free(f->store);
    free(f);
    return 0;
}

static int64_t blob_size(const char *layout, const char *digest) {
    char *p = cb_xasprintf("%s/blobs/sha256/%s", layout, digest + 7);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_size;
}

static int store_files(fixture_t *f) {
    char *p = cb_xasprintf("%s/store", f->dir);
    int n = tu_file_count(p);
    free(p);
    return n;
}

static int tmp_files(fixture_t *f) {
    char *p = cb_xasprintf("%s/tmp", f->dir);
    int n = tu_file_count(p);
    free(p);
    return n;
}

static void test_import_tagged_layout(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char manifest[CB_DIGEST_STR_LEN + 1], config[CB_DIGEST_STR_LEN + 1],
        layer[CB_DIGEST_STR_LEN + 1];
    tu_make_layout(f->src, "1.0", "amd64", manifest, config, layer);

    cb_oci_descriptor_t d;
    assert_int_equal(cb_layout_import_dir(f->store, f->src, "1.0", NULL, &d, &err), 0);
    assert_string_equal(d.digest, manifest);
    assert_string_equal(d.media_type, CB_MT_OCI_MANIFEST);
    assert_int_equal(d.size, blob_size(f->src, manifest));
    assert_true(d.has_platform);
    assert_string_equal(d.platform.arch, "amd64");
    assert_true(cb_blob_exists(f->store, manifest));
    assert_true(cb_blob_exists(f->store, config));
    assert_true(cb_blob_exists(f->store, layer));
    assert_int_equal(tmp_files(f), 0);
    /* Import does not tag; the caller does. */
    cb_index_entry_t *e;
    size_t n;
    assert_int_equal(cb_index_list(f->store, &e, &n, &err), 0);
    assert_int_equal(n, 0);
    cb_index_entries_free(e, n);

    assert_int_equal(cb_index_tag(f->store, "base:1.0", &d, &err), 0);
    cb_image_info_t *infos;
    assert_int_equal(cb_images_list(f->store, &infos, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(infos[0].name, "base:1.0");
    assert_string_equal(infos[0].id, config);
    assert_string_equal(infos[0].created, "2024-01-02T03:04:05Z");
    assert_int_equal(infos[0].size, blob_size(f->src, manifest) + blob_size(f->src, config) +
                                        blob_size(f->src, layer));
    cb_image_infos_free(infos, n);

    /* By ID prefix (config digest, as podman shows it) and by manifest digest. */
    cb_oci_descriptor_t got;
    char prefix[13];
    memcpy(prefix, config + 7, 12);
    prefix[12] = '\0';
    assert_int_equal(cb_images_find(f->store, prefix, &got, &err), 0);
    assert_string_equal(got.digest, manifest);
    cb_oci_descriptor_clear(&got);
    assert_int_equal(cb_images_find(f->store, manifest, &got, &err), 0);
    cb_oci_descriptor_clear(&got);
    assert_int_equal(cb_images_remove(f->store, prefix, &err), 0);
    assert_true(cb_images_find(f->store, "base:1.0", &got, &err) < 0);
    cb_error_freep(&err);

    /* The same import through the transport syntax, with no tag (one image). */
    cb_oci_descriptor_t again;
    char *ref = cb_xasprintf("oci:%s", f->src);
    assert_int_equal(cb_layout_import_ref(f->store, ref, NULL, 0, &again, &err), 0);
    assert_string_equal(again.digest, manifest);
    free(ref);
    assert_int_equal(cb_layout_import_ref(f->store, "docker://busybox", NULL, 0, &again, &err), 1);
    cb_oci_descriptor_clear(&again);
    cb_oci_descriptor_clear(&d);

    /* A tag that is not there lists what is. */
    assert_true(cb_layout_import_dir(f->store, f->src, "2.0", NULL, &d, &err) < 0);
    char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "no image tagged '2.0' (has: 1.0)"));
    free(msg);
}

/* src gets two images (amd64, arm64/v8) behind one image index tagged "multi". */
static void make_multi_platform(fixture_t *f, char *amd, char *arm) {
    char *arm_dir = cb_xasprintf("%s/arm", f->dir);
    mkdir(arm_dir, 0755);
    tu_make_layout(arm_dir, NULL, "arm64", arm, NULL, NULL);
    tu_make_layout(f->src, NULL, "amd64", amd, NULL, NULL);
    char *cmd = cb_xasprintf("cp -n %s/blobs/sha256/* %s/blobs/sha256/", arm_dir, f->src);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *idx = cb_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" CB_MT_OCI_INDEX "\",\"manifests\":["
        "{\"mediaType\":\"" CB_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%lld,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
        "{\"mediaType\":\"" CB_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%lld,"
        "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
        arm, (long long)blob_size(f->src, arm), amd, (long long)blob_size(f->src, amd));
    char idx_digest[CB_DIGEST_STR_LEN + 1];
    tu_layout_blob(f->src, idx, strlen(idx), idx_digest);
    char *top = cb_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_INDEX
                             "\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"" CB_ANNOTATION_REF_NAME
                             "\":\"multi\"}}]}",
                             idx_digest, strlen(idx));
    char *p = cb_xasprintf("%s/index.json", f->src);
    tu_write(p, top, strlen(top));
    free(p);
    free(top);
    free(idx);
    free(arm_dir);
}

static void test_index_picks_platform(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char amd[CB_DIGEST_STR_LEN + 1], arm[CB_DIGEST_STR_LEN + 1];
    make_multi_platform(f, amd, arm);

    cb_oci_descriptor_t d;
    assert_int_equal(cb_layout_import_dir(f->store, f->src, "multi", NULL, &d, &err), 0);
    assert_string_equal(d.digest, amd);
    cb_oci_descriptor_clear(&d);
    assert_false(cb_blob_exists(f->store, arm));

    cb_oci_platform_t want;
    assert_int_equal(cb_oci_platform_parse("linux/aarch64", &want, &err), 0);
    assert_int_equal(cb_layout_import_dir(f->store, f->src, NULL, &want, &d, &err), 0);
    assert_string_equal(d.digest, arm);
    assert_string_equal(d.platform.arch, "arm64");
    cb_oci_descriptor_clear(&d);
    cb_oci_platform_clear(&want);

    assert_int_equal(cb_oci_platform_parse("linux/s390x", &want, &err), 0);
    int before = store_files(f);
    assert_true(cb_layout_import_dir(f->store, f->src, "multi", &want, &d, &err) < 0);
    char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "no manifest for platform linux/s390x (has: linux/arm64/v8, linux/amd64)"));
    free(msg);
    cb_oci_platform_clear(&want);
    assert_int_equal(store_files(f), before);
    cb_error_freep(&err);
    assert_true(cb_oci_platform_parse("linux", &want, &err) < 0);
}

/* Damages the source, imports, and checks the error and that the store and
 * its tmp/ are exactly as before. */
static void expect_refused(fixture_t *f, const char *tag, const char *needle) {
    cb_autoerr cb_error_t *err = NULL;
    int before = store_files(f);
    cb_oci_descriptor_t d;
    assert_true(cb_layout_import_dir(f->store, f->src, tag, NULL, &d, &err) < 0);
    char *msg = cb_error_message(err);
    if (strstr(msg, needle) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", msg, needle);
    assert_non_null(strstr(msg, f->src)); /* the error names the source */
    free(msg);
    assert_int_equal(store_files(f), before);
    assert_int_equal(tmp_files(f), 0);
}

static char *blob_file(fixture_t *f, const char *digest) {
    return cb_xasprintf("%s/blobs/sha256/%s", f->src, digest + 7);
}

static void test_bad_layouts(void **state) {
    fixture_t *f = *state;
    char manifest[CB_DIGEST_STR_LEN + 1], config[CB_DIGEST_STR_LEN + 1],
        layer[CB_DIGEST_STR_LEN + 1];
    tu_make_layout(f->src, "t", "amd64", manifest, config, layer);
    char *lpath = blob_file(f, layer);
    size_t llen;
    char *ldata = tu_read(lpath, &llen);

    /* Missing layer: the config would otherwise be importable first. */
    unlink(lpath);
    expect_refused(f, "t", "missing");
    /* Wrong digest: same size, one byte changed. */
    ldata[llen - 1] ^= 1;
    tu_write(lpath, ldata, llen);
    expect_refused(f, "t", layer);
    ldata[llen - 1] ^= 1;
    tu_write(lpath, ldata, llen);

    /* Bad JSON in the manifest (the blob's name made to match its bytes). */
    char *mpath = blob_file(f, manifest);
    size_t mlen;
    char *mdata = tu_read(mpath, &mlen);
    char *idx = cb_xasprintf("%s/index.json", f->src);
    size_t ilen;
    char *good_index = tu_read(idx, &ilen);
    const char *broken = "{\"schemaVersion\":2,\"config\":";
    char bd[CB_DIGEST_STR_LEN + 1];
    tu_layout_blob(f->src, broken, strlen(broken), bd);
    char *text = cb_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_MANIFEST
                              "\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"" CB_ANNOTATION_REF_NAME
                              "\":\"t\"}}]}",
                              bd, strlen(broken));
    tu_write(idx, text, strlen(text));
    free(text);
    expect_refused(f, "t", "invalid JSON at line 1");

    /* Wrong media type: a manifest whose layer claims to be something else. */
    char *wrong = cb_xstrdup(mdata);
    char *pos = strstr(wrong, CB_MT_OCI_LAYER "\"");
    assert_non_null(pos);
    char *bad_mt = cb_xasprintf("%.*sapplication/vnd.example.weird\"%s", (int)(pos - wrong), wrong,
                                pos + strlen(CB_MT_OCI_LAYER) + 1);
    tu_layout_blob(f->src, bad_mt, strlen(bad_mt), bd);
    text = cb_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_MANIFEST
                        "\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"" CB_ANNOTATION_REF_NAME
                        "\":\"t\"}}]}",
                        bd, strlen(bad_mt));
    tu_write(idx, text, strlen(text));
    free(text);
    expect_refused(f, "t", "unsupported layer media type \"application/vnd.example.weird\"");

    /* The descriptor says index but the blob is a manifest. */
    text = cb_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_INDEX
                        "\",\"digest\":\"%s\",\"size\":%zu}]}",
                        manifest, mlen);
    tu_write(idx, text, strlen(text));
    free(text);
    expect_refused(f, NULL, "index");

    /* A manifest blob whose size differs from the descriptor's. */
    text = cb_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_MANIFEST
                        "\",\"digest\":\"%s\",\"size\":%zu}]}",
                        manifest, mlen + 1);
    tu_write(idx, text, strlen(text));
    free(text);
    expect_refused(f, NULL, "corrupt");

    /* Not a layout at all. */
    char *layout = cb_xasprintf("%s/oci-layout", f->src);
    unlink(layout);
    tu_write(idx, good_index, ilen);
    expect_refused(f, "t", "not an OCI layout");
    free(layout);

    free(good_index);
    free(idx);
    free(wrong);
    free(bad_mt);
    free(mdata);
    free(mpath);
    free(ldata);
    free(lpath);
}

static void test_export_round_trips(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char manifest[CB_DIGEST_STR_LEN + 1], config[CB_DIGEST_STR_LEN + 1];
    tu_make_layout(f->src, "1.0", "amd64", manifest, config, NULL);
    cb_oci_descriptor_t d;
    assert_int_equal(cb_layout_import_dir(f->store, f->src, "1.0", NULL, &d, &err), 0);

    /* oci dir: re-importable, named as given. */
    char *out = cb_xasprintf("%s/out", f->dir);
    assert_int_equal(cb_export_oci_dir(f->store, &d, "app:dev", out, &err), 0);
    assert_int_equal(cb_export_oci_dir(f->store, &d, "app:dev", out, &err), 0); /* idempotent */
    char *idx = cb_xasprintf("%s/index.json", out);
    char *text = tu_read(idx, NULL);
    assert_non_null(strstr(text, "\"org.opencontainers.image.ref.name\":\"app:dev\""));
    assert_int_equal(tu_file_count(out), 5); /* oci-layout, index.json, 3 blobs */
    free(text);
    free(idx);
    cb_store_t *other = NULL;
    char *other_dir = cb_xasprintf("%s/other", f->dir);
    char *other_tmp = cb_xasprintf("%s/other-tmp", f->dir);
    assert_int_equal(cb_store_open(other_dir, other_tmp, &other, &err), 0);
    cb_oci_descriptor_t back;
    assert_int_equal(cb_layout_import_dir(other, out, "app:dev", NULL, &back, &err), 0);
    assert_string_equal(back.digest, manifest);
    cb_oci_descriptor_clear(&back);

    /* oci-archive. */
    char *tar = cb_xasprintf("%s/image.tar", f->dir);
    assert_int_equal(cb_export_oci_archive(f->store, &d, "app:dev", tar, &err), 0);
    char *ref = cb_xasprintf("oci-archive:%s:app:dev", tar);
    assert_int_equal(cb_layout_import_ref(other, ref, NULL, 0, &back, &err), 0);
    assert_string_equal(back.digest, manifest);
    cb_oci_descriptor_clear(&back);
    free(ref);

    /* docker-archive: converted to an OCI manifest, config (image ID) kept. */
    char *dtar = cb_xasprintf("%s/docker.tar", f->dir);
    cb_strv_t tags = CB_STRV_INIT;
    cb_strv_push(&tags, "app:dev");
    assert_int_equal(cb_export_docker_archive(f->store, &d, &tags, dtar, &err), 0);
    cb_strv_free(&tags);
    assert_int_equal(cb_layout_import_docker_archive(other, dtar, "localhost/app:dev", 0, &back, &err), 0);
    cb_oci_manifest_t *m;
    cb_oci_config_t *cfg;
    assert_int_equal(cb_images_load(other, &back, &m, &cfg, &err), 0);
    assert_string_equal(m->config.digest, config);
    assert_int_equal(m->nlayers, 1);
    assert_string_equal(m->layers[0].media_type, CB_MT_OCI_LAYER);
    assert_string_equal(m->layers[0].digest, cfg->diff_ids[0]);
    cb_oci_manifest_free(m);
    cb_oci_config_free(cfg);
    cb_oci_descriptor_clear(&back);
    assert_true(cb_layout_import_docker_archive(other, dtar, "nope", 0, &back, &err) < 0);
    cb_error_freep(&err);

    /* Archives are never left half-written: a failed export leaves no file. */
    char *bad = cb_xasprintf("%s/bad.tar", f->dir);
    char *lpath = cb_store_blob_path(f->store, d.digest);
    unlink(lpath);
    assert_true(cb_export_oci_archive(f->store, &d, NULL, bad, &err) < 0);
    struct stat st;
    assert_true(stat(bad, &st) < 0);
    assert_int_equal(tu_file_count(f->dir) > 0, 1);

    free(lpath);
    free(bad);
    free(dtar);
    free(tar);
    cb_store_free(other);
    free(other_dir);
    free(other_tmp);
    free(out);
    cb_oci_descriptor_clear(&d);
}

static void test_unsafe_archive_refused(void **state) {
    fixture_t *f = *state;
    cb_autoerr cb_error_t *err = NULL;
    char *tar;
    size_t len;
    tu_make_tar("../evil", "x", &tar, &len);
    char *path = cb_xasprintf("%s/evil.tar", f->dir);
    tu_write(path, tar, len);
    cb_oci_descriptor_t d;
    assert_true(cb_layout_import_oci_archive(f->store, path, NULL, NULL, 0, &d, &err) < 0);
    char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "unsafe entry name '../evil'"));
    free(msg);
    cb_error_freep(&err);
    char *escaped = cb_xasprintf("%s/evil", f->dir);
    struct stat st;
    assert_true(stat(escaped, &st) < 0);
    assert_int_equal(tmp_files(f), 0);

    /* A tar that is not an image. */
    free(tar);
    tu_make_tar("hello.txt", "hi", &tar, &len);
    tu_write(path, tar, len);
    assert_true(cb_layout_import_docker_archive(f->store, path, NULL, 0, &d, &err) < 0);
    msg = cb_error_message(err);
    assert_non_null(strstr(msg, "not a docker-archive"));
    free(msg);
    free(escaped);
    free(path);
    free(tar);
}

/* A gzip bomb: `files` entries of `size` zero bytes each, a few KB on disk. */
static void write_bomb(const char *path, int files, size_t size) {
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    static const char zeros[65536];
    for (int i = 0; i < files; i++) {
        struct archive_entry *e = archive_entry_new();
        char name[32];
        snprintf(name, sizeof name, "z%d", i);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)size);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        for (size_t done = 0; done < size; done += sizeof zeros)
            archive_write_data(a, zeros, size - done < sizeof zeros ? size - done : sizeof zeros);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void expect_over(fixture_t *f, const char *path, bool docker, uint64_t max) {
    cb_autoerr cb_error_t *err = NULL;
    cb_oci_descriptor_t d;
    int r = docker ? cb_layout_import_docker_archive(f->store, path, NULL, max, &d, &err)
                   : cb_layout_import_oci_archive(f->store, path, NULL, NULL, max, &d, &err);
    assert_true(r < 0);
    char *msg = cb_error_message(err);
    cb_autofree char *want =
        cb_xasprintf("%s-archive:%s: unpacks to more than %llu bytes", docker ? "docker" : "oci",
                     path, (unsigned long long)max);
    if (!strstr(msg, want))
        fail_msg("\"%s\" lacks \"%s\"", msg, want);
    free(msg);
    assert_int_equal(tmp_files(f), 0); /* the staging directory is gone */
}

/* max_size bounds what an archive unpacks to: 8 MiB of zeros in 8 KB of
 * gzip, and 20000 empty entries (10 MB of tar headers), against 1 MiB. */
static void test_archive_bomb_bounded(void **state) {
    fixture_t *f = *state;
    cb_autofree char *blobs = cb_xasprintf("%s/blobs/sha256", f->store->dir);
    int blobs_before = tu_file_count(blobs);
    cb_autofree char *big = cb_xasprintf("%s/big.tar.gz", f->dir);
    cb_autofree char *many = cb_xasprintf("%s/many.tar.gz", f->dir);
    write_bomb(big, 1, 8u << 20);
    write_bomb(many, 20000, 0);
    struct stat st;
    assert_int_equal(stat(big, &st), 0);
    assert_true(st.st_size < 64 * 1024);
    expect_over(f, big, false, 1u << 20);
    expect_over(f, big, true, 1u << 20);
    expect_over(f, many, false, 1u << 20);
    expect_over(f, many, true, 1u << 20);
    assert_int_equal(tu_file_count(blobs), blobs_before);

    /* Under the limit (or with none) it unpacks, and fails later for what
     * it is: a tar that is not an image. */
    uint64_t roomy[] = {16u << 20, 0};
    for (size_t i = 0; i < 2; i++) {
        cb_autoerr cb_error_t *err = NULL;
        cb_oci_descriptor_t d;
        assert_true(cb_layout_import_docker_archive(f->store, big, NULL, roomy[i], &d, &err) < 0);
        char *msg = cb_error_message(err);
        assert_null(strstr(msg, "unpacks to more than"));
        assert_non_null(strstr(msg, "not a docker-archive"));
        free(msg);
        assert_int_equal(tmp_files(f), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_tagged_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_picks_platform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_archive_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive_bomb_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
