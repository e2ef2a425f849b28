#include "layer_test_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cmocka.h>

char *tmp_dir(void) {
    const char *base = getenv("TMPDIR");
    char *t = cb_xasprintf("%s/cb-layer-XXXXXX", base && base[0] ? base : "/tmp");
    assert_non_null(mkdtemp(t));
    return t;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st;
    (void)f;
    if (flag == FTW_DP)
        return rmdir(p);
    return unlink(p);
}

void rm_tree(const char *path) {
    /* Read-only directories made by the tests must not block removal. */
    char *cmd = cb_xasprintf("chmod -R u+rwx '%s' 2>/dev/null", path);
    (void)!system(cmd);
    free(cmd);
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

void write_file(const char *dir, const char *name, const char *content, mode_t mode) {
    char *p = cb_xasprintf("%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    free(p);
}

char *read_file_str(const char *dir, const char *name) {
    char *p = cb_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    free(p);
    if (f == NULL)
        return NULL;
    cb_buf_t b = CB_BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        cb_buf_add(&b, tmp, n);
    fclose(f);
    return cb_buf_steal(&b);
}

int buf_sink(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    (void)err;
    cb_buf_add(ctx, buf, n);
    return 0;
}

int mem_source(void *ctx, void *buf, size_t cap, size_t *got, cb_error_t **err) {
    (void)err;
    mem_source_t *s = ctx;
    size_t n = s->len - s->pos;
    if (n > cap)
        n = cap;
    if (n > 1000)
        n = 1000;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    *got = n;
    return 0;
}

static la_ssize_t tar_out(struct archive *a, void *ctx, const void *buf, size_t n) {
    (void)a;
    cb_buf_add(ctx, buf, n);
    return (la_ssize_t)n;
}

void tar_build(cb_buf_t *out, const tar_spec_t *specs, size_t n, int filter) {
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (filter)
        assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_open2(a, out, NULL, tar_out, NULL, NULL), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        const tar_spec_t *s = &specs[i];
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, s->name);
        archive_entry_set_perm(e, s->perm ? s->perm : 0644);
        archive_entry_set_uid(e, s->uid);
        archive_entry_set_gid(e, s->gid);
        archive_entry_set_mtime(e, 1000000, 0);
        size_t len = s->content ? strlen(s->content) : 0;
        switch (s->type) {
        case 'f':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, (int64_t)len);
            break;
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, s->target);
            break;
        case 'h':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, s->target);
            archive_entry_set_size(e, 0);
            break;
        case 'c':
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_rdevmajor(e, 1);
            archive_entry_set_rdevminor(e, 3);
            break;
        case 'p':
            archive_entry_set_filetype(e, AE_IFIFO);
            break;
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (s->type == 'f' && len)
            assert_int_equal(archive_write_data(a, s->content, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static char type_char(struct archive_entry *e) {
    if (archive_entry_hardlink(e))
        return 'h';
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        return 'f';
    case AE_IFDIR:
        return 'd';
    case AE_IFLNK:
        return 'l';
    case AE_IFCHR:
        return 'c';
    case AE_IFBLK:
        return 'b';
    case AE_IFIFO:
        return 'p';
    default:
        return '?';
    }
}

void tar_list(const cb_buf_t *tar, cb_strv_t *lines) {
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, tar->data, tar->len), ARCHIVE_OK);
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *link = archive_entry_hardlink(e) ? archive_entry_hardlink(e)
                                                     : archive_entry_symlink(e);
        cb_strv_take(lines, cb_xasprintf("%c %s%s%s %04o %lld:%lld %lld %lld", type_char(e),
                                         archive_entry_pathname(e), link ? " -> " : "",
                                         link ? link : "", (unsigned)archive_entry_perm(e),
                                         (long long)archive_entry_uid(e),
                                         (long long)archive_entry_gid(e),
                                         (long long)archive_entry_size(e),
                                         (long long)archive_entry_mtime(e)));
    }
    assert_int_equal(r, ARCHIVE_EOF);
    archive_read_free(a);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void snap_dir(const char *root, const char *rel, cb_strv_t *lines) {
    char *path = rel[0] ? cb_xasprintf("%s/%s", root, rel) : cb_xstrdup(root);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *r = rel[0] ? cb_xasprintf("%s/%s", rel, de->d_name) : cb_xstrdup(de->d_name);
        char *full = cb_xasprintf("%s/%s", root, r);
        struct stat st;
        assert_int_equal(lstat(full, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            cb_strv_take(lines, cb_xasprintf("%s d %o", r, st.st_mode & 07777));
            snap_dir(root, r, lines);
        } else if (S_ISLNK(st.st_mode)) {
            char t[4096];
            ssize_t n = readlink(full, t, sizeof t - 1);
            t[n < 0 ? 0 : n] = '\0';
            cb_strv_take(lines, cb_xasprintf("%s l %s", r, t));
        } else {
            char *c = read_file_str(root, r);
            cb_strv_take(lines, cb_xasprintf("%s f %o %s", r, st.st_mode & 07777, c ? c : ""));
            free(c);
        }
        free(full);
        free(r);
    }
    closedir(d);
    free(path);
}

void snapshot(const char *dir, cb_buf_t *out) {
    cb_strv_t lines = CB_STRV_INIT;
    snap_dir(dir, "", &lines);
    if (lines.len)
        qsort(lines.items, lines.len, sizeof *lines.items, cmp_str);
    for (size_t i = 0; i < lines.len; i++)
        cb_buf_printf(out, "%s\n", lines.items[i]);
    cb_strv_free(&lines);
}

bool have_user_xattrs(const char *dir) {
    char *p = cb_xasprintf("%s/.xattr-probe", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    bool ok = fd >= 0 && fsetxattr(fd, "user.probe", "1", 1, 0) == 0;
    if (fd >= 0)
        close(fd);
    unlink(p);
    free(p);
    return ok;
}

void compress_buf(const cb_buf_t *in, int filter, cb_buf_t *out) {
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
    /* No zero padding after the compressed stream (zstd would reject it). */
    assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
    assert_int_equal(archive_write_open2(a, out, NULL, tar_out, NULL, NULL), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "data");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, (int64_t)in->len);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, in->data, in->len), (la_ssize_t)in->len);
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}
