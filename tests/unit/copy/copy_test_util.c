#include "copy_test_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "layer_test_util.h"

static void mkdirs(const char *path) {
    char *p = cb_xstrdup(path);
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0755) < 0)
            assert_int_equal(errno, EEXIST);
        *s = '/';
    }
    free(p);
}

int fx_setup(void **state) {
    fx_t *f = cb_xcalloc(1, sizeof *f);
    f->top = tmp_dir();
    f->ctx = cb_xasprintf("%s/ctx", f->top);
    f->img = cb_xasprintf("%s/img", f->top);
    f->tmp = cb_xasprintf("%s/tmp", f->top);
    assert_int_equal(mkdir(f->ctx, 0755), 0);
    assert_int_equal(mkdir(f->img, 0755), 0);
    assert_int_equal(mkdir(f->tmp, 0755), 0);
    f->ctx_fd = open(f->ctx, O_RDONLY | O_DIRECTORY);
    f->img_fd = open(f->img, O_RDONLY | O_DIRECTORY);
    assert_true(f->ctx_fd >= 0 && f->img_fd >= 0);
    f->env = (cb_copy_env_t){
        .context_fd = f->ctx_fd,
        .src_root_fd = -1,
        .dest_root_fd = f->img_fd,
        .workdir = "/",
        .env = &f->vars,
        .tmpdir = f->tmp,
    };
    *state = f;
    return 0;
}

static void ins_clear(fx_t *f) {
    cb_strv_free(&f->ins.sources);
    cb_strv_free(&f->ins.excludes);
    free(f->ins.dest);
    for (size_t i = 0; i < f->node.nheredocs; i++) {
        free(f->docs[i].name);
        free(f->docs[i].content);
    }
    memset(&f->ins, 0, sizeof f->ins);
    memset(&f->node, 0, sizeof f->node);
    memset(f->docs, 0, sizeof f->docs);
}

int fx_teardown(void **state) {
    fx_t *f = *state;
    close(f->ctx_fd);
    close(f->img_fd);
    rm_tree(f->top);
    ins_clear(f);
    cb_env_free(&f->vars);
    cb_ignore_free(f->ignore);
    cb_buf_free(&f->tar);
    cb_strv_free(&f->lines);
    cb_strv_free(&f->mtimes);
    cb_error_free(f->err);
    free(f->top);
    free(f->ctx);
    free(f->img);
    free(f->tmp);
    free(f);
    return 0;
}

void fx_file(fx_t *f, const char *rel, const char *content, mode_t mode) {
    char *p = cb_xasprintf("%s/%s", f->top, rel);
    mkdirs(p);
    write_file(f->top, rel, content, mode);
    free(p);
}

void fx_dir(fx_t *f, const char *rel, mode_t mode) {
    char *p = cb_xasprintf("%s/%s/", f->top, rel);
    mkdirs(p);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
}

void fx_symlink(fx_t *f, const char *target, const char *rel) {
    char *p = cb_xasprintf("%s/%s", f->top, rel);
    mkdirs(p);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

void fx_ignore(fx_t *f, const char *text) {
    cb_error_t *err = NULL;
    cb_ignore_free(f->ignore);
    assert_int_equal(cb_ignore_parse(text, strlen(text), ".containerignore", &f->ignore, &err),
                     0);
    f->env.ignore = f->ignore;
}

void fx_ins(fx_t *f, const char *dest, ...) {
    ins_clear(f);
    f->ins.base.kind = CB_INSTR_COPY;
    f->ins.base.file = "Containerfile";
    f->node.start_line = 7;
    f->node.col = 1;
    f->ins.base.node = &f->node;
    f->ins.dest = cb_xstrdup(dest);
    f->ins.unpack = -1;
    va_list ap;
    va_start(ap, dest);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        cb_strv_push(&f->ins.sources, s);
    va_end(ap);
}

void fx_heredoc(fx_t *f, const char *name, const char *content, bool expand) {
    assert_true(f->node.nheredocs < 4);
    cb_heredoc_t *d = &f->docs[f->node.nheredocs++];
    d->name = cb_xstrdup(name);
    d->content = cb_xstrdup(content);
    d->expand = expand;
    f->node.heredocs = f->docs;
}

int fx_run(fx_t *f, bool is_add) {
    cb_buf_free(&f->tar);
    cb_strv_free(&f->lines);
    cb_strv_free(&f->mtimes);
    cb_error_free(f->err);
    f->err = NULL;
    cb_layer_writer_t *w = NULL;
    cb_layer_writer_opts_t o = {.compression = CB_LAYER_UNCOMPRESSED,
                                .clamp_mtime = f->env.clamp_mtime,
                                .mtime_max = f->env.mtime};
    assert_int_equal(cb_layer_writer_new(&w, &o, buf_sink, &f->tar, &f->err), 0);
    int rc = cb_copy_to_layer(&f->ins, is_add, &f->env, w, &f->err);
    if (rc == 0) {
        cb_layer_result_t res;
        assert_int_equal(cb_layer_writer_finish(w, &res, &f->err), 0);
        cb_strv_t raw = CB_STRV_INIT;
        tar_list(&f->tar, &raw);
        for (size_t i = 0; i < raw.len; i++) {
            char *sp = strrchr(raw.items[i], ' ');
            cb_strv_push(&f->mtimes, sp + 1);
            *sp = '\0';
            cb_strv_push(&f->lines, raw.items[i]);
        }
        cb_strv_free(&raw);
    } else {
        assert_non_null(f->err);
    }
    cb_layer_writer_free(w);
    return rc;
}

static void dump(const fx_t *f) {
    for (size_t i = 0; i < f->lines.len; i++)
        print_message("  entry: %s\n", f->lines.items[i]);
}

void fx_expect(fx_t *f, ...) {
    if (f->err) {
        char *m = cb_error_message(f->err);
        print_message("unexpected error: %s\n", m);
        free(m);
        fail();
    }
    va_list ap;
    va_start(ap, f);
    size_t i = 0;
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *), i++) {
        if (i >= f->lines.len || strcmp(f->lines.items[i], s) != 0) {
            print_message("entry %zu: expected '%s'\n", i, s);
            dump(f);
            fail();
        }
    }
    va_end(ap);
    if (i != f->lines.len) {
        print_message("expected %zu entries\n", i);
        dump(f);
        fail();
    }
}

void fx_expect_error(fx_t *f, ...) {
    if (f->err == NULL) {
        print_message("expected an error\n");
        dump(f);
        fail();
    }
    char *m = cb_error_message(f->err);
    va_list ap;
    va_start(ap, f);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (strstr(m, s) == NULL) {
            print_message("error '%s' lacks '%s'\n", m, s);
            free(m);
            fail();
        }
    }
    va_end(ap);
    free(m);
}

char *fx_content(fx_t *f, const char *name) {
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, f->tar.data, f->tar.len), ARCHIVE_OK);
    struct archive_entry *e;
    char *out = NULL;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(e), name) != 0)
            continue;
        cb_buf_t b = CB_BUF_INIT;
        char tmp[4096];
        la_ssize_t n;
        while ((n = archive_read_data(a, tmp, sizeof tmp)) > 0)
            cb_buf_add(&b, tmp, (size_t)n);
        free(out);
        out = cb_buf_steal(&b);
    }
    archive_read_free(a);
    return out;
}
