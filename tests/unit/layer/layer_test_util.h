/* Helpers for the layer tests: temp trees, an in-memory sink, tars built
 * entry by entry with libarchive (for hostile layers), reading tars back. */
#ifndef LAYER_TEST_UTIL_H
#define LAYER_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/util.h"

/* A fresh directory under $TMPDIR (or /tmp); removed by rm_tree. */
char *tmp_dir(void);
void rm_tree(const char *path);
void write_file(const char *dir, const char *name, const char *content, mode_t mode);
char *read_file_str(const char *dir, const char *name); /* NULL when missing */

int buf_sink(void *ctx, const void *buf, size_t n, cb_error_t **err);

/* Source over a memory buffer, served in small reads to exercise refills. */
typedef struct mem_source {
    const unsigned char *data;
    size_t len, pos;
} mem_source_t;
int mem_source(void *ctx, void *buf, size_t cap, size_t *got, cb_error_t **err);

/* One entry of a hand-made tar. type: 'f' file, 'd' dir, 'l' symlink
 * (target), 'h' hardlink (target), 'c' char device, 'p' fifo. */
typedef struct tar_spec {
    char type;
    const char *name;
    const char *target;
    const char *content;
    mode_t perm;
    int64_t uid, gid;
} tar_spec_t;
/* filter: 0 none, or an ARCHIVE_FILTER_* code (gzip, bzip2, xz, zstd). */
void tar_build(cb_buf_t *out, const tar_spec_t *specs, size_t n, int filter);

/* in compressed with an ARCHIVE_FILTER_* code, byte for byte. */
void compress_buf(const cb_buf_t *in, int filter, cb_buf_t *out);

/* One line per entry of a tar in memory: "<type> <name>[ -> target] <perm>
 * <uid>:<gid> <size> <mtime>", type as in tar_spec_t. */
void tar_list(const cb_buf_t *tar, cb_strv_t *lines);
/* Everything below dir as sorted "path type content-or-target" lines. */
void snapshot(const char *dir, cb_buf_t *out);

bool have_user_xattrs(const char *dir);

#endif
