#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

char *tu_mkdtemp(void) {
    const char *base = getenv("TMPDIR");
    char *t = cb_xasprintf("%s/cbuild-cache-test-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(t) == NULL)
        abort();
    return t;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void tu_rm_rf(const char *path) {
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        abort();
}

char *tu_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    cb_buf_t b = CB_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cb_buf_add(&b, chunk, n);
    fclose(f);
    if (len)
        *len = b.len;
    return cb_buf_steal(&b);
}

static int count;
static int count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)path;
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode))
        count++;
    return 0;
}

int tu_file_count(const char *dir) {
    count = 0;
    nftw(dir, count_one, 16, FTW_PHYS);
    return count;
}

cb_store_t *tu_store(const char *dir) {
    cb_store_t *s = NULL;
    cb_error_t *err = NULL;
    char *store = cb_xasprintf("%s/store", dir);
    char *tmp = cb_xasprintf("%s/tmp", dir);
    if (cb_store_open(store, tmp, &s, &err) < 0)
        abort();
    free(store);
    free(tmp);
    return s;
}

int tu_root_open(char **dir, cb_root_t **root, cb_store_t **store) {
    *dir = tu_mkdtemp();
    cb_autoerr cb_error_t *err = NULL;
    return cb_root_open(*dir, root, &err) < 0 || cb_store_open((*root)->store, (*root)->tmp, store, &err) < 0 ? -1 : 0;
}

void tu_root_close(char *dir, cb_root_t *root, cb_store_t *store) {
    cb_store_free(store);
    cb_root_free(root);
    tu_rm_rf(dir);
    free(dir);
}

void tu_layout_blob(const char *dir, const void *data, size_t len,
                    char digest[CB_DIGEST_STR_LEN + 1]) {
    cb_sha256_digest(data, len, digest);
    char *blobs = cb_xasprintf("%s/blobs/sha256", dir);
    char *cmd = cb_xasprintf("mkdir -p '%s'", blobs);
    if (system(cmd) != 0)
        abort();
    char *path = cb_xasprintf("%s/%s", blobs, digest + 7);
    tu_write(path, data, len);
    free(blobs);
    free(cmd);
    free(path);
}

void tu_make_tar(const char *name, const char *content, char **data, size_t *len) {
    size_t cap = 64 * 1024;
    char *buf = cb_xcalloc(1, cap);
    size_t used = 0;
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_memory(a, buf, cap, &used);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(content));
    archive_entry_set_mtime(e, 1700000000, 0);
    archive_write_header(a, e);
    archive_write_data(a, content, strlen(content));
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    *data = buf;
    *len = used;
}

void tu_make_layout(const char *dir, const char *tag, const char *arch, char *manifest_digest,
                    char *config_digest, char *layer_digest) {
    char *tar;
    size_t tar_len;
    tu_make_tar("hello.txt", arch, &tar, &tar_len);
    char layer[CB_DIGEST_STR_LEN + 1], config[CB_DIGEST_STR_LEN + 1],
        manifest[CB_DIGEST_STR_LEN + 1];
    tu_layout_blob(dir, tar, tar_len, layer);
    char *cfg = cb_xasprintf("{\"architecture\":\"%s\",\"os\":\"linux\",\"created\":"
                             "\"2024-01-02T03:04:05Z\",\"config\":{\"Cmd\":[\"/bin/sh\"]},"
                             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                             arch, layer);
    tu_layout_blob(dir, cfg, strlen(cfg), config);
    char *man = cb_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"" CB_MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
        "\"" CB_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"" CB_MT_OCI_LAYER
        "\",\"digest\":\"%s\",\"size\":%zu}]}",
        config, strlen(cfg), layer, tar_len);
    tu_layout_blob(dir, man, strlen(man), manifest);
    char *index;
    if (tag)
        index = cb_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_MANIFEST
                             "\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"" CB_ANNOTATION_REF_NAME
                             "\":\"%s\"}}]}",
                             manifest, strlen(man), tag);
    else
        index = cb_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" CB_MT_OCI_MANIFEST
                             "\",\"digest\":\"%s\",\"size\":%zu}]}",
                             manifest, strlen(man));
    char *p = cb_xasprintf("%s/index.json", dir);
    tu_write(p, index, strlen(index));
    free(p);
    p = cb_xasprintf("%s/oci-layout", dir);
    tu_write(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
    free(p);
    if (manifest_digest)
        memcpy(manifest_digest, manifest, sizeof manifest);
    if (config_digest)
        memcpy(config_digest, config, sizeof config);
    if (layer_digest)
        memcpy(layer_digest, layer, sizeof layer);
    free(tar);
    free(cfg);
    free(man);
    free(index);
}

static char last_debug[1024];

static void debug_handler(cb_log_level_t level, const char *module, const char *msg) {
    if (level == CB_LOG_DEBUG)
        snprintf(last_debug, sizeof last_debug, "%s: %s", module, msg);
}

void tu_debug_capture(const char *module) {
    last_debug[0] = '\0';
    if (module == NULL) {
        cb_log_set_handler(NULL);
        unsetenv("CBUILD_DEBUG");
        return;
    }
    setenv("CBUILD_DEBUG", module, 1);
    cb_log_set_handler(debug_handler);
}

const char *tu_last_debug(void) {
    return last_debug;
}

void tu_debug_clear(void) {
    last_debug[0] = '\0';
}
