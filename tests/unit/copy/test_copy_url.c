/* ADD of http URLs against a local server (python3 -m http.server on
 * 127.0.0.1, started here; the test exits 77 when python3 is missing). */
#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/copy_private.h"
#include "copy_test_util.h"
#include "layer_test_util.h"

static pid_t server_pid = -1;
static int server_port;
static char *www;

static const char BODY[] = "downloaded\n";

static bool have_python(void) {
    return system("command -v python3 >/dev/null 2>&1") == 0;
}

/* Starts the server on a free port; its first line of output names it. */
static int server_start(void **state) {
    www = tmp_dir();
    write_file(www, "file.txt", BODY, 0644);
    char *p = cb_xasprintf("%s/file.txt", www);
    struct timespec ts[2] = {{1600000000, 0}, {1600000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
    cb_buf_t tar = CB_BUF_INIT, gz = CB_BUF_INIT;
    const tar_spec_t specs[] = {{.type = 'f', .name = "inside", .content = "i", .uid = 3, .gid = 4}};
    tar_build(&tar, specs, 1, 0);
    compress_buf(&tar, ARCHIVE_FILTER_GZIP, &gz);
    char *tp = cb_xasprintf("%s/pkg.tar.gz", www);
    FILE *f = fopen(tp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(gz.data, 1, gz.len, f), gz.len);
    fclose(f);
    free(tp);
    cb_buf_free(&tar);
    cb_buf_free(&gz);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    server_pid = fork();
    assert_true(server_pid >= 0);
    if (server_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
               "--directory", www, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    char line[512] = "";
    assert_non_null(fgets(line, sizeof line, out));
    const char *port = strstr(line, " port ");
    assert_non_null(port);
    server_port = atoi(port + 6);
    assert_true(server_port > 0);
    fclose(out); /* the server writes its log to stderr */
    (void)state;
    return 0;
}

static int server_stop(void **state) {
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    rm_tree(www);
    free(www);
    return 0;
}

static char *url(const char *path) {
    return cb_xasprintf("http://127.0.0.1:%d/%s", server_port, path);
}

static char *body_digest(void) {
    char *d = cb_xmalloc(CB_DIGEST_STR_LEN + 1);
    cb_sha256_digest(BODY, strlen(BODY), d);
    return d;
}

static void download_into_dir(void **state) {
    fx_t *f = *state;
    char *u = url("file.txt");
    fx_ins(f, "/dl/", u, NULL);
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d dl/ 0755 0:0 0", "f dl/file.txt 0600 0:0 11", NULL);
    assert_string_equal(f->mtimes.items[1], "1600000000");
    char *c = fx_content(f, "dl/file.txt");
    assert_string_equal(c, BODY);
    free(c);
    /* The mtime is clamped like every other. */
    f->env.clamp_mtime = true;
    f->env.mtime = 1000;
    assert_int_equal(fx_run(f, true), 0);
    assert_string_equal(f->mtimes.items[1], "1000");
    free(u);
}

static void download_to_file_name_with_owner_and_mode(void **state) {
    fx_t *f = *state;
    char *u = url("file.txt?version=2");
    fx_ins(f, "/opt/tool.txt", u, NULL);
    f->ins.chown = (char *)"10:20";
    f->ins.chmod = (char *)"u+x";
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d opt/ 0755 10:20 0", "f opt/tool.txt 0700 10:20 11", NULL);
    free(u);
}

static void checksum(void **state) {
    fx_t *f = *state;
    char *u = url("file.txt");
    char *good = body_digest();
    fx_ins(f, "/dl/", u, NULL);
    f->ins.checksum = good;
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d dl/ 0755 0:0 0", "f dl/file.txt 0600 0:0 11", NULL);
    const char *bad = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    f->ins.checksum = (char *)bad;
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "checksum mismatch", u, bad, good, NULL);
    assert_int_equal(cb_error_root(f->err)->kind, CB_ERR_INTEGRITY);
    f->ins.checksum = (char *)"md5:abc";
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "invalid --checksum 'md5:abc'", NULL);
    f->ins.checksum = NULL;
    free(good);
    free(u);
}

static void http_errors(void **state) {
    fx_t *f = *state;
    char *u = url("missing.txt");
    fx_ins(f, "/dl/", u, NULL);
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "ADD: downloading", u, "HTTP status 404", NULL);
    assert_string_equal(f->err->file, "Containerfile");
    free(u);
    /* Nothing listens on port 1. */
    fx_ins(f, "/dl/", "http://127.0.0.1:1/x", NULL);
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "http://127.0.0.1:1/x", NULL);
    /* The temp file is gone after failures. */
    DIR *d = opendir(f->tmp);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(n, 0);
}

static void urls_not_extracted_unless_asked(void **state) {
    fx_t *f = *state;
    char *u = url("pkg.tar.gz");
    fx_ins(f, "/p/", u, NULL);
    assert_int_equal(fx_run(f, true), 0);
    assert_int_equal(f->lines.len, 2);
    assert_true(cb_str_has_prefix(f->lines.items[1], "f p/pkg.tar.gz 0600 0:0 "));
    f->ins.unpack = 1;
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d p/ 0755 0:0 0", "f p/inside 0644 3:4 1", NULL);
    free(u);
}

static void url_file_names(void **state) {
    (void)state;
    const char *cases[][2] = {
        {"http://h/a/b.tar.gz", "b.tar.gz"}, {"https://h/a/b/?q=1#f", "b"},
        {"http://h", "__unnamed__"},         {"http://h/", "__unnamed__"},
        {"http://h/x%20y", "x y"},           {"http://h:8080/d/..", "__unnamed__"},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(cases); i++) {
        char *n = copy_url_file_name(cases[i][0]);
        assert_string_equal(n, cases[i][1]);
        free(n);
    }
}

int main(void) {
    if (!have_python()) {
        fprintf(stderr, "python3 is missing: no local HTTP server, skipping\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(download_into_dir, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(download_to_file_name_with_owner_and_mode, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(checksum, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(http_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(urls_not_extracted_unless_asked, fx_setup, fx_teardown),
        cmocka_unit_test(url_file_names),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
