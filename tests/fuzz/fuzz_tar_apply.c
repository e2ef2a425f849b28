/* libFuzzer target: applying a layer (layer/apply.h) from hostile bytes.
 *
 * Input: one mode byte, then the layer. Mode % 3: 0 the bytes as they are
 * (any compression libarchive detects, or none), 1 gzip them first, 2 zstd
 * them first, so that the tar reader sees the fuzzed tar through each
 * decompressor. The layer is applied into a fresh directory on tmpfs, in
 * rootless mode (device nodes are refused, so nothing can reach a real
 * device) with a 4 MiB limit. The box around it:
 *
 *   /dev/shm/cbuild-fuzz-tar-PID/box/root      the target, emptied each run
 *   /dev/shm/cbuild-fuzz-tar-PID/box/outside   the working directory, with a
 *                                              canary file ("/proc/self/cwd"
 *                                              in a symlink reaches it)
 *
 * Paths given to the fuzzer must be absolute (it refuses others). After
 * each run box/ must hold exactly root/ and outside/, and outside/
 * exactly the unchanged canary: anything else was created or changed outside
 * the target, which apply.h promises never happens. Also a finding: a broken
 * error contract.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "layer/apply.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CANARY "canary: nothing may touch this\n"

static int box_fd = -1;
static char top[64];

/* The directories watched for escapes, kept open: rewinddir makes the
 * next readdir list them afresh, without the allocation an opendir makes
 * (most of a run's time, under ASan, went to allocations). */
static DIR *box_dir, *outside_dir;

/* The compressors and their output buffer live across runs: set up anew
 * for each input they cost more than applying most layers. */
static z_stream gz;
static ZSTD_CCtx *zc;
static unsigned char *packed;
static size_t packed_cap;

static void cleanup(void) {
    cb_rm_rf(top, NULL);
}

/* The working directory moves into the box, so relative paths libFuzzer
 * is given would land there (and count as escapes): refuse them. */
static void need_absolute_paths(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-') {
            const char *eq = strchr(a, '=');
            bool path = eq && (cb_str_has_prefix(a, "-dict=") || cb_str_has_prefix(a, "-artifact_prefix=") ||
                               cb_str_has_prefix(a, "-exact_artifact_path=") ||
                               cb_str_has_prefix(a, "-merge_control_file="));
            a = path ? eq + 1 : "/";
        }
        if (a[0] != '/') {
            fprintf(stderr, "fuzz_tar_apply: give absolute paths (the working directory moves): %s\n",
                    argv[i]);
            exit(2);
        }
    }
}

/* Warnings (a bad PAX header, ...) are formatted but not printed: at
 * hundreds of runs a second they would drown libFuzzer's own output. */
static void quiet_log(cb_log_level_t level, const char *module, const char *msg) {
    if (!module || !msg)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    need_absolute_paths(*argc, *argv);
    cb_log_set_handler(quiet_log);
    snprintf(top, sizeof top, "/dev/shm/cbuild-fuzz-tar-%d", (int)getpid());
    cb_rm_rf(top, NULL);
    cb_autofree char *box = cb_xasprintf("%s/box", top);
    cb_autofree char *outside = cb_xasprintf("%s/outside", box);
    cb_autofree char *canary = cb_xasprintf("%s/canary", outside);
    int fd = -1;
    if (mkdir(top, 0700) < 0 || mkdir(box, 0700) < 0 || mkdir(outside, 0700) < 0 ||
        (fd = open(canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        cb_write_all(fd, CANARY, strlen(CANARY)) < 0 || close(fd) < 0 || chdir(outside) < 0) {
        perror("fuzz_tar_apply: setting up the box");
        abort();
    }
    box_fd = open(box, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    box_dir = opendir(box);
    outside_dir = opendir(outside);
    zc = ZSTD_createCCtx();
    if (box_fd < 0 || !box_dir || !outside_dir || !zc ||
        deflateInit2(&gz, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    atexit(cleanup);
    return 0;
}

/* The next name in dir other than . and .., or NULL at its end. */
static const char *next_name(DIR *dir) {
    struct dirent *de;
    while ((de = readdir(dir)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            return de->d_name;
    return NULL;
}

/* The names in dir, into names ("a/b"). */
static void list_names(DIR *dir, cb_buf_t *names) {
    rewinddir(dir);
    const char *name;
    for (size_t n = 0; (name = next_name(dir)) != NULL; n++)
        cb_buf_printf(names, "%s%s", n ? "/" : "", name);
}

/* Whether dir holds exactly the names want (nwant of them, no repeats). */
static bool holds_exactly(DIR *dir, const char *const *want, size_t nwant) {
    rewinddir(dir);
    size_t n = 0;
    const char *name;
    while ((name = next_name(dir)) != NULL) {
        bool wanted = false;
        for (size_t i = 0; i < nwant && !wanted; i++)
            wanted = strcmp(name, want[i]) == 0;
        if (!wanted)
            return false;
        n++;
    }
    return n == nwant;
}

static void check_box(void) {
    static const char *const box_names[] = {"outside", "root"};
    static const char *const outside_names[] = {"canary"};
    if (!holds_exactly(box_dir, box_names, 2) || !holds_exactly(outside_dir, outside_names, 1)) {
        cb_autobuf cb_buf_t box = CB_BUF_INIT;
        cb_autobuf cb_buf_t outside = CB_BUF_INIT;
        list_names(box_dir, &box);
        list_names(outside_dir, &outside);
        fprintf(stderr, "fuzz_tar_apply: written outside the target: box {%s}, outside {%s}\n",
                cb_buf_str(&box), cb_buf_str(&outside));
        abort();
    }
    char buf[sizeof CANARY];
    int fd = openat(box_fd, "outside/canary", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    struct stat st;
    if (fd < 0 || n != (ssize_t)strlen(CANARY) || memcmp(buf, CANARY, (size_t)n) != 0 ||
        fstat(fd, &st) < 0 || (st.st_mode & 07777) != 0600 || st.st_nlink != 1) {
        fprintf(stderr, "fuzz_tar_apply: the canary outside the target changed\n");
        abort();
    }
    close(fd);
}

static unsigned char *packed_room(size_t need) {
    if (need > packed_cap) {
        free(packed);
        packed = cb_xmalloc(need);
        packed_cap = need;
    }
    return packed;
}

static const unsigned char *gzip(const uint8_t *in, size_t n, size_t *out_len) {
    if (deflateReset(&gz) != Z_OK)
        abort();
    size_t cap = deflateBound(&gz, n) + 32;
    gz.next_in = (unsigned char *)in;
    gz.avail_in = (uInt)n;
    gz.next_out = packed_room(cap);
    gz.avail_out = (uInt)cap;
    if (deflate(&gz, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_len = gz.total_out;
    return packed;
}

static const unsigned char *zstd(const uint8_t *in, size_t n, size_t *out_len) {
    size_t cap = ZSTD_compressBound(n);
    *out_len = ZSTD_compressCCtx(zc, packed_room(cap), cap, in, n, 1);
    if (ZSTD_isError(*out_len))
        abort();
    return packed;
}

typedef struct mem_source {
    const unsigned char *p;
    size_t left;
} mem_source_t;

/* At most 4 KiB at a time, so that entries straddle reads. */
static int mem_read(void *ctx, void *buf, size_t cap, size_t *got, cb_error_t **err) {
    mem_source_t *m = ctx;
    size_t n = m->left < cap ? m->left : cap;
    if (n > 4096)
        n = 4096;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    *got = n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const unsigned char *layer = data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 1:
        layer = gzip(data + 1, size - 1, &len);
        break;
    case 2:
        layer = zstd(data + 1, size - 1, &len);
        break;
    }
    mem_source_t src = {layer, len};

    if (mkdirat(box_fd, "root", 0755) < 0)
        abort();
    int root = openat(box_fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        abort();
    cb_layer_apply_opts_t opts = {.rootless = true, .max_size = 4u << 20};
    cb_layer_apply_result_t res = {0};
    cb_error_t *err = NULL;
    int rc = cb_layer_apply(root, mem_read, &src, &opts, &res, &err);
    close(root);
    fuzz_check_error(rc, err);
    if (rc == 0 && (res.tar_size > opts.max_size || strlen(res.diff_id) != CB_DIGEST_STR_LEN))
        abort();
    check_box();
    cb_error_t *rm_err = NULL;
    if (cb_rm_rf_at(box_fd, "root", &rm_err) < 0) {
        char *msg = cb_error_message(rm_err);
        fprintf(stderr, "fuzz_tar_apply: cannot empty the target: %s\n", msg);
        abort();
    }
    return 0;
}
