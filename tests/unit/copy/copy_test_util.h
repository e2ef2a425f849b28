/* Fixtures for the COPY/ADD tests: a temp dir holding a build context
 * (ctx/), an image root (img/) and scratch (tmp/); instructions built by
 * hand; the layer written to memory and listed back with libarchive. */
#ifndef COPY_TEST_UTIL_H
#define COPY_TEST_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

#include "builder/copy.h"
#include "common/util.h"

typedef struct fx {
    char *top, *ctx, *img, *tmp;
    int ctx_fd, img_fd;
    cb_copy_env_t env;
    cb_env_t vars;
    cb_ignore_t *ignore;
    cb_buf_t tar;      /* the last layer (uncompressed) */
    cb_strv_t lines;   /* its entries, tar_list format without the mtime */
    cb_strv_t mtimes;  /* the mtime of each entry, as text */
    cb_error_t *err;   /* the last error */
    /* the instruction under test */
    cb_instr_copy_t ins;
    cb_node_t node;
    cb_heredoc_t docs[4];
} fx_t;

int fx_setup(void **state);
int fx_teardown(void **state);

/* Files below the fixture's top dir ("ctx/a/b.txt"); parents made 0755. */
void fx_file(fx_t *f, const char *rel, const char *content, mode_t mode);
void fx_dir(fx_t *f, const char *rel, mode_t mode);
void fx_symlink(fx_t *f, const char *target, const char *rel);
void fx_ignore(fx_t *f, const char *text);

/* Resets the instruction: dest and a NULL-terminated list of sources. */
void fx_ins(fx_t *f, const char *dest, ...) __attribute__((sentinel));
void fx_heredoc(fx_t *f, const char *name, const char *content, bool expand);

/* Runs the instruction; on success lines/mtimes hold the layer's entries. */
int fx_run(fx_t *f, bool is_add);
/* Asserts the entries are exactly the given lines, in order (NULL ends). */
void fx_expect(fx_t *f, ...) __attribute__((sentinel));
/* Asserts the last run failed with a message containing each string. */
void fx_expect_error(fx_t *f, ...) __attribute__((sentinel));
/* The content of a regular file entry of the last layer (NULL if absent). */
char *fx_content(fx_t *f, const char *name);

#endif
