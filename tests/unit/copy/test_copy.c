/* COPY/ADD semantics: sources, wildcards, destinations, owners, modes,
 * --parents, --exclude, heredocs, local archives. (URLs: test_copy_url.c.) */
#include <archive.h>
#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "copy_test_util.h"
#include "layer_test_util.h"

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

/* ---- files and directories ---- */

static void file_into_new_dir(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a.txt", "hello", 0644);
    fx_ins(f, "/app/", "a.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "f app/a.txt 0644 0:0 5", NULL);
    char *c = fx_content(f, "app/a.txt");
    assert_string_equal(c, "hello");
    free(c);
}

static void file_renamed(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a.txt", "hello", 0755);
    fx_ins(f, "/b.txt", "a.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f b.txt 0755 0:0 5", NULL);
}

static void dir_copies_contents(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/src/x.sh", "#!/bin/sh\n", 0755);
    fx_file(f, "ctx/src/sub/y.txt", "y", 0600);
    fx_dir(f, "ctx/src/sub", 0700);
    fx_symlink(f, "../x.sh", "ctx/src/sub/link");
    fx_ins(f, "/app", "src", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "d app/sub/ 0700 0:0 0", "l app/sub/link -> ../x.sh 0777 0:0 0",
              "f app/sub/y.txt 0600 0:0 1", "f app/x.sh 0755 0:0 10", NULL);
}

static void context_root_and_existing_dest(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a", "1", 0644);
    fx_dir(f, "img/srv", 0750);
    f->env.workdir = "/srv";
    fx_ins(f, ".", ".", NULL);
    assert_int_equal(fx_run(f, false), 0);
    /* /srv exists in the image: it keeps its metadata and is left out. */
    fx_expect(f, "f srv/a 0644 0:0 1", NULL);
    fx_ins(f, "/", ".", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f a 0644 0:0 1", NULL);
}

static void relative_dest_against_workdir(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a.txt", "a", 0644);
    fx_dir(f, "img/srv", 0755);
    f->env.workdir = "/srv";
    fx_ins(f, "rel/deeper/", "a.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d srv/rel/ 0755 0:0 0", "d srv/rel/deeper/ 0755 0:0 0",
              "f srv/rel/deeper/a.txt 0644 0:0 1", NULL);
}

static void dest_through_image_symlink(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/tool", "t", 0755);
    fx_dir(f, "img/usr/bin", 0755);
    fx_symlink(f, "usr/bin", "img/bin");
    fx_symlink(f, "/usr/bin/real", "img/usr/bin/alias");
    fx_dir(f, "img/usr/bin/real", 0755);
    fx_ins(f, "/bin/", "tool", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f usr/bin/tool 0755 0:0 1", NULL);
    /* An absolute link in the image resolves inside the image root. */
    fx_ins(f, "/bin/alias/", "tool", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f usr/bin/real/tool 0755 0:0 1", NULL);
    /* Climbing above the image root stays at the root. */
    fx_ins(f, "/../../../etc/", "tool", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d etc/ 0755 0:0 0", "f etc/tool 0755 0:0 1", NULL);
    /* ".." is taken as text before any link is followed: /bin/.. is /, not
     * /usr (buildah's conformance case add-parent-clean). */
    fx_ins(f, "/bin/..", "tool", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f tool 0755 0:0 1", NULL);
    f->env.workdir = "/bin/alias";
    fx_ins(f, "../x/", "tool", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d usr/bin/x/ 0755 0:0 0", "f usr/bin/x/tool 0755 0:0 1", NULL);
}

static void dest_errors(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/d/x", "x", 0644);
    fx_file(f, "ctx/a", "a", 0644);
    fx_file(f, "img/file", "f", 0644);
    fx_ins(f, "/file", "d", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "cannot copy to non-directory", "/file", NULL);
    fx_ins(f, "/file/sub/", "a", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "destination '/file/sub/'", "not a directory", NULL);
    fx_ins(f, "/out", "a", "d", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "more than one source file", "end with a /", NULL);
    assert_string_equal(f->err->file, "Containerfile");
    assert_int_equal(f->err->line, 7);
}

static void several_sources_into_existing_dir(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a", "a", 0644);
    fx_file(f, "ctx/b", "b", 0644);
    fx_dir(f, "img/opt", 0755);
    fx_ins(f, "/opt", "a", "b", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f opt/a 0644 0:0 1", "f opt/b 0644 0:0 1", NULL);
}

/* ---- sources: missing, escapes, symlinks, wildcards, ignore ---- */

static void missing_source(void **state) {
    fx_t *f = *state;
    fx_ins(f, "/app/", "missing.txt", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "COPY", "missing.txt", "no such file or directory", NULL);
    assert_string_equal(f->err->file, "Containerfile");
}

static void escapes_stay_inside_context(void **state) {
    fx_t *f = *state;
    fx_file(f, "secret", "top secret", 0644); /* next to ctx/, outside it */
    fx_file(f, "ctx/a.txt", "a", 0644);
    fx_ins(f, "/x", "../secret", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no such file or directory", NULL);
    fx_symlink(f, "../secret", "ctx/rel_out");
    fx_ins(f, "/x", "rel_out", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "rel_out", "no such file or directory", NULL);
    char *abs = cb_xasprintf("%s/secret", f->top);
    fx_symlink(f, abs, "ctx/abs_out");
    free(abs);
    fx_ins(f, "/x", "abs_out", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_ins(f, "/x", "/../../secret", NULL);
    assert_int_equal(fx_run(f, false), -1);
    /* A directory through a link that leads out: nothing is read. */
    fx_symlink(f, "..", "ctx/up");
    fx_ins(f, "/x/", "up/secret", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_symlink(f, "loop", "ctx/loop");
    fx_ins(f, "/x", "loop", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "loop", "no such file or directory", NULL);
    /* Absolute sources are taken from the context root. */
    fx_ins(f, "/x", "/a.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f x 0644 0:0 1", NULL);
}

static void symlink_named_is_followed(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/real/a.txt", "content", 0640);
    fx_symlink(f, "real/a.txt", "ctx/link");
    fx_symlink(f, "/real", "ctx/dirlink"); /* absolute: from the context root */
    fx_ins(f, "/x", "link", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f x 0640 0:0 7", NULL);
    fx_ins(f, "/d/", "dirlink", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d d/ 0755 0:0 0", "f d/a.txt 0640 0:0 7", NULL);
    /* Named into a directory, the file keeps the name it was named by. */
    fx_ins(f, "/d/", "link", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d d/ 0755 0:0 0", "f d/link 0640 0:0 7", NULL);
}

static void wildcards(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a.txt", "a", 0644);
    fx_file(f, "ctx/b.txt", "b", 0644);
    fx_file(f, "ctx/c.md", "c", 0644);
    fx_file(f, "ctx/src/one.c", "1", 0644);
    fx_file(f, "ctx/src/two.h", "2", 0644);
    fx_file(f, "ctx/lib/three.c", "3", 0644);
    fx_ins(f, "/w/", "*.txt", "*/*.c", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d w/ 0755 0:0 0", "f w/a.txt 0644 0:0 1", "f w/b.txt 0644 0:0 1",
              "f w/three.c 0644 0:0 1", "f w/one.c 0644 0:0 1", NULL);
    fx_ins(f, "/w/", "[ab].txt", "src/t?o.h", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d w/ 0755 0:0 0", "f w/a.txt 0644 0:0 1", "f w/b.txt 0644 0:0 1",
              "f w/two.h 0644 0:0 1", NULL);
    /* One match may go to a file name. */
    fx_ins(f, "/only", "*.md", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f only 0644 0:0 1", NULL);
    /* Several matches need a directory. */
    fx_ins(f, "/notdir", "*.txt", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "more than one source file", NULL);
    fx_ins(f, "/w/", "*.nothing", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no files match '*.nothing'", NULL);
    fx_ins(f, "/w/", "[", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "pattern", NULL);
}

/* A wildcard may match nothing when another source selects something
 * (buildah's conformance case copy-multiple-some-missing-glob); the
 * instruction fails only when nothing at all is selected, and a missing
 * plain source is always an error. */
/* Wildcards are Go's filepath.Match per path element, as BuildKit's
 * copy resolves them: "**" is two stars, one element (buildah's
 * conformance cases copyglob-1 to -4), and "[[]" is a literal '['
 * (copy-escape-glob). */
static void wildcards_per_element(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/e/sub/subsub/near.txt", "n", 0644);
    fx_file(f, "ctx/e/.sub/dot.txt", "d", 0644);
    fx_file(f, "ctx/e/top.txt", "t", 0644);
    fx_file(f, "ctx/app/[xyz]/file.txt", "x", 0644);
    fx_file(f, "ctx/app/xyz/file.txt", "not this", 0644);
    fx_ins(f, "/", "e/**/*sub/*.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f near.txt 0644 0:0 1", NULL);
    fx_ins(f, "/out/", "**/*.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d out/ 0755 0:0 0", "f out/top.txt 0644 0:0 1", NULL);
    fx_ins(f, "/out/", "e/**/**/*.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d out/ 0755 0:0 0", "f out/near.txt 0644 0:0 1", NULL);
    fx_ins(f, "/out/", "e/**/*.txt", NULL); /* a leading dot is no exception */
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d out/ 0755 0:0 0", "f out/dot.txt 0644 0:0 1", NULL);
    /* Nothing five elements deep: nothing selected, an error. */
    fx_ins(f, "/", "e/**/**/*sub/*.txt", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no files match 'e/**/**/*sub/*.txt'", NULL);
    fx_ins(f, "/app/", "app/[[]xyz]/file.txt", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "f app/file.txt 0644 0:0 1", NULL);
}

static void unmatched_wildcard_among_sources(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/file-a.txt", "a", 0644);
    fx_file(f, "ctx/file-b.txt", "b", 0644);
    fx_file(f, "ctx/subdir-b/x", "x", 0644);
    fx_ins(f, "/w/", "file-a.txt", "subdir-*", "missing*", "file-[b]*", "gone/*.c", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d w/ 0755 0:0 0", "f w/file-a.txt 0644 0:0 1", "f w/x 0644 0:0 1",
              "f w/file-b.txt 0644 0:0 1", NULL);
    /* One match left: it may go to a file name. */
    fx_ins(f, "/only", "missing*", "file-a*", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f only 0644 0:0 1", NULL);
    fx_ins(f, "/w/", "missing*", "<<doc", NULL);
    fx_heredoc(f, "doc", "d\n", false);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d w/ 0755 0:0 0", "f w/doc 0644 0:0 2", NULL);
    /* Nothing selected: the first wildcard is named. */
    fx_ins(f, "/w/", "missing*", "nothing?", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no files match 'missing*'", NULL);
    /* A plain source must exist, whatever the wildcards do. */
    fx_ins(f, "/w/", "file-*", "absent.txt", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "absent.txt", "no such file or directory", NULL);
    fx_ins(f, "/w/", "missing*", "absent.txt", NULL);
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "ADD", "absent.txt", "no such file or directory", NULL);
}

static void ignore_file_hides_sources(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a.txt", "a", 0644);
    fx_file(f, "ctx/x.log", "x", 0644);
    fx_file(f, "ctx/keep.log", "k", 0644);
    fx_file(f, "ctx/secret/key", "k", 0600);
    fx_file(f, "ctx/build/out.o", "o", 0644);
    fx_file(f, "ctx/build/keep.me", "m", 0644);
    fx_ignore(f, "*.log\n!keep.log\nsecret\nbuild\n!build/keep.me\n");
    fx_ins(f, "/app/", ".", NULL);
    assert_int_equal(fx_run(f, false), 0);
    /* build/ is excluded but holds an exception: written for it. */
    fx_expect(f, "d app/ 0755 0:0 0", "f app/a.txt 0644 0:0 1", "d app/build/ 0755 0:0 0",
              "f app/build/keep.me 0644 0:0 1", "f app/keep.log 0644 0:0 1", NULL);
    fx_ins(f, "/app/", "x.log", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "x.log", "no such file or directory", NULL);
    fx_ins(f, "/app/", "secret/key", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_ins(f, "/app/", "secret", NULL);
    assert_int_equal(fx_run(f, false), -1);
    /* build/ itself is ignored, but what an exception keeps is copied. */
    fx_ins(f, "/app/", "build", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "f app/keep.me 0644 0:0 1", NULL);
    fx_ins(f, "/app/", "*.log", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "f app/keep.log 0644 0:0 1", NULL);
    /* A symlink may not lead to an ignored file. */
    fx_symlink(f, "x.log", "ctx/to_log");
    fx_ins(f, "/app/", "to_log", NULL);
    assert_int_equal(fx_run(f, false), -1);
}

/* docker's context holds an excluded directory only when something below
 * it is re-included, and its walk enters one only when an exception starts
 * with the directory's path (buildah's conformance cases
 * allowlist-subdir-nofile-*, exceptions-skip, exceptions-weirdness-1). */
static void ignored_dir_without_reincluded_entry(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/folder1/file1", "1", 0644);
    fx_file(f, "ctx/folder1/file2", "2", 0644);
    fx_ignore(f, "**\n!folder1/file\n");
    fx_ins(f, "/f1", "folder1", NULL);
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "ADD", "folder1", "no such file or directory", NULL);
    fx_ins(f, "/w/", "fold*", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no files match 'fold*'", NULL);
    fx_ins(f, "/w/", "folder1/*", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no files match 'folder1/*'", NULL);

    fx_ignore(f, "**\n!folder1/file1\n");
    fx_ins(f, "/f1", "folder1", NULL);
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d f1/ 0755 0:0 0", "f f1/file1 0644 0:0 1", NULL);
    fx_ins(f, "/w/", "fold*", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d w/ 0755 0:0 0", "f w/file1 0644 0:0 1", NULL);
    fx_ins(f, "/w/", "folder1/*", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d w/ 0755 0:0 0", "f w/file1 0644 0:0 1", NULL);

    /* An exception that starts with a wildcard does not open a directory. */
    fx_file(f, "ctx/volume/data/oneline.txt", "v", 0644);
    fx_file(f, "ctx/top.txt", "t", 0644);
    fx_ignore(f, "folder1\nvolume/\n!**/oneline.txt\n");
    fx_ins(f, "/app/", ".", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "f app/top.txt 0644 0:0 1", NULL);
    fx_ins(f, "/v/", "volume/data/oneline.txt", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no such file or directory", NULL);
    fx_ignore(f, "folder1\nvolume\n!*/sub1*\n!volume/data/one*\n");
    fx_ins(f, "/app/", ".", NULL);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "f app/top.txt 0644 0:0 1", "d app/volume/ 0755 0:0 0",
              "d app/volume/data/ 0755 0:0 0", "f app/volume/data/oneline.txt 0644 0:0 1", NULL);

    /* COPY --exclude is BuildKit's filter: a wildcard exception is looked
     * for in every excluded directory. */
    fx_ignore(f, "folder1\n");
    fx_ins(f, "/app/", "volume", NULL);
    cb_strv_push(&f->ins.excludes, "data");
    cb_strv_push(&f->ins.excludes, "!**/oneline.txt");
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "d app/data/ 0755 0:0 0", "f app/data/oneline.txt 0644 0:0 1",
              NULL);
}

static void exclude_flag(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/dir/a.txt", "a", 0644);
    fx_file(f, "ctx/dir/b.md", "b", 0644);
    fx_file(f, "ctx/dir/sub/c.md", "c", 0644);
    fx_file(f, "ctx/dir/sub/d.txt", "d", 0644);
    fx_ins(f, "/out/", "dir", NULL);
    cb_strv_push(&f->ins.excludes, "*.md");
    cb_strv_push(&f->ins.excludes, "sub/d.*");
    assert_int_equal(fx_run(f, false), 0);
    /* Patterns are relative to the copied directory. */
    fx_expect(f, "d out/ 0755 0:0 0", "f out/a.txt 0644 0:0 1", "d out/sub/ 0755 0:0 0",
              "f out/sub/c.md 0644 0:0 1", NULL);
}

/* ---- owners and modes ---- */

static void image_users(fx_t *f) {
    fx_file(f, "img/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp::1000:1001::/home/app:/bin/sh\n", 0644);
    fx_file(f, "img/etc/group", "root:x:0:\nstaff:x:50:app\n", 0644);
}

static void chown_lookup(void **state) {
    fx_t *f = *state;
    image_users(f);
    fx_file(f, "ctx/a", "a", 0644);
    struct {
        const char *spec, *want;
    } ok[] = {
        {"app", "d new/ 0755 1000:1001 0"},   {"app:staff", "d new/ 0755 1000:50 0"},
        {"123", "d new/ 0755 123:123 0"},     {"5:6", "d new/ 0755 5:6 0"},
        {"app:7", "d new/ 0755 1000:7 0"},    {"0:staff", "d new/ 0755 0:50 0"},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(ok); i++) {
        fx_ins(f, "/new/", "a", NULL);
        f->ins.chown = (char *)ok[i].spec;
        assert_int_equal(fx_run(f, false), 0);
        assert_int_equal(f->lines.len, 2);
        assert_string_equal(f->lines.items[0], ok[i].want);
    }
    const char *bad[][2] = {{"nobody", "unable to find user nobody"},
                            {"app:wheel", "unable to find group wheel"},
                            {"a:b:c", "invalid --chown value 'a:b:c'"},
                            {":5", "invalid --chown value"},
                            {"99999999999", "unable to find user 99999999999"}};
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        fx_ins(f, "/new/", "a", NULL);
        f->ins.chown = (char *)bad[i][0];
        assert_int_equal(fx_run(f, false), -1);
        fx_expect_error(f, bad[i][1], NULL);
    }
}

static void chown_without_passwd(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a", "a", 0644);
    fx_ins(f, "/a", "a", NULL);
    f->ins.chown = (char *)"42:43";
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "f a 0644 42:43 1", NULL);
    f->ins.chown = (char *)"app";
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "unable to find user app", NULL);
}

static void chmod_flag(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/d/run", "r", 0700);
    fx_file(f, "ctx/d/data", "d", 0600);
    fx_dir(f, "ctx/d/sub", 0700);
    fx_ins(f, "/o/p/", "d", NULL);
    f->ins.chmod = (char *)"640";
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d o/ 0755 0:0 0", "d o/p/ 0755 0:0 0", "f o/p/data 0640 0:0 1",
              "f o/p/run 0640 0:0 1", "d o/p/sub/ 0640 0:0 0", NULL);
    f->ins.chmod = (char *)"u=rwX,go=rX";
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d o/ 0755 0:0 0", "d o/p/ 0755 0:0 0", "f o/p/data 0644 0:0 1",
              "f o/p/run 0755 0:0 1", "d o/p/sub/ 0755 0:0 0", NULL);
    f->ins.chmod = (char *)"a+x,g-r,u+s";
    assert_int_equal(fx_run(f, false), 0);
    assert_string_equal(f->lines.items[2], "f o/p/data 4711 0:0 1");
    const char *bad[] = {"999", "77777", "u+q", "x=r", "", "u=rw,"};
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        f->ins.chmod = (char *)bad[i];
        assert_int_equal(fx_run(f, false), -1);
        fx_expect_error(f, "invalid chmod parameter", NULL);
    }
}

static void from_root_keeps_owner_unless_rootless(void **state) {
    fx_t *f = *state;
    fx_file(f, "img/etc/passwd", "app:x:7:8::/:/bin/sh\n", 0644);
    char *other = cb_xasprintf("%s/other", f->top);
    fx_file(f, "other/bin/tool", "t", 0755);
    int fd = open(other, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    fx_file(f, "ctx/bin/tool", "wrong", 0644); /* the context is not used */
    f->env.src_root_fd = fd;
    fx_ins(f, "/usr/local/bin/", "/bin/tool", NULL);
    f->ins.from = (char *)"builder";
    assert_int_equal(fx_run(f, false), 0);
    char *want = cb_xasprintf("f usr/local/bin/tool 0755 %u:%u 1", (unsigned)getuid(),
                              (unsigned)getgid());
    assert_string_equal(f->lines.items[3], want);
    free(want);
    f->env.ids_collapsed = true;
    assert_int_equal(fx_run(f, false), 0);
    assert_string_equal(f->lines.items[3], "f usr/local/bin/tool 0755 0:0 1");
    f->ins.chown = (char *)"app";
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d usr/ 0755 7:8 0", "d usr/local/ 0755 7:8 0", "d usr/local/bin/ 0755 7:8 0",
              "f usr/local/bin/tool 0755 7:8 1", NULL);
    close(fd);
    free(other);
}

/* ---- --parents ---- */

static void parents_flag(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/x/y/f.txt", "f", 0644);
    fx_file(f, "ctx/x/z/f.txt", "g", 0644);
    fx_file(f, "ctx/x/z/other", "o", 0644);
    fx_dir(f, "ctx/x", 0750);
    fx_ins(f, "/dst/", "x/y/f.txt", NULL);
    f->ins.parents = true;
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d dst/ 0755 0:0 0", "d dst/x/ 0750 0:0 0", "d dst/x/y/ 0755 0:0 0",
              "f dst/x/y/f.txt 0644 0:0 1", NULL);
    fx_ins(f, "/dst/", "x/./y/f.txt", NULL);
    f->ins.parents = true;
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d dst/ 0755 0:0 0", "d dst/y/ 0755 0:0 0", "f dst/y/f.txt 0644 0:0 1", NULL);
    fx_ins(f, "/dst", "x/*/f.txt", NULL);
    f->ins.parents = true;
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d dst/ 0755 0:0 0", "d dst/x/ 0750 0:0 0", "d dst/x/y/ 0755 0:0 0",
              "f dst/x/y/f.txt 0644 0:0 1", "d dst/x/z/ 0755 0:0 0", "f dst/x/z/f.txt 0644 0:0 1",
              NULL);
    fx_ins(f, "/dst/", "./x/z", NULL);
    f->ins.parents = true;
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d dst/ 0755 0:0 0", "d dst/x/ 0750 0:0 0", "d dst/x/z/ 0755 0:0 0",
              "f dst/x/z/f.txt 0644 0:0 1", "f dst/x/z/other 0644 0:0 1", NULL);
    fx_ins(f, "/dst/", "x/nope.txt", NULL);
    f->ins.parents = true;
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "x/nope.txt", "no such file or directory", NULL);
    fx_ins(f, "/dst/", "x/*/none", NULL);
    f->ins.parents = true;
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "no files match", NULL);
}

/* ---- heredocs ---- */

static void heredocs(void **state) {
    fx_t *f = *state;
    cb_env_set(&f->vars, "NAME", "world");
    fx_ins(f, "/etc/motd", "<<EOF", NULL);
    fx_heredoc(f, "EOF", "hello $NAME 'q' \"d\" \\$NAME\n", true);
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d etc/ 0755 0:0 0", "f etc/motd 0644 0:0 26", NULL);
    char *c = fx_content(f, "etc/motd");
    assert_string_equal(c, "hello world 'q' \"d\" $NAME\n");
    free(c);
    fx_ins(f, "/d/", "<<a.sh", "<<'b.txt'", NULL);
    fx_heredoc(f, "a.sh", "echo $NAME\n", true);
    fx_heredoc(f, "b.txt", "raw $NAME\n", false);
    f->ins.chmod = (char *)"755";
    assert_int_equal(fx_run(f, false), 0);
    fx_expect(f, "d d/ 0755 0:0 0", "f d/a.sh 0755 0:0 11", "f d/b.txt 0755 0:0 10", NULL);
    c = fx_content(f, "d/b.txt");
    assert_string_equal(c, "raw $NAME\n");
    free(c);
    fx_ins(f, "/single", "<<a", "<<b", NULL);
    fx_heredoc(f, "a", "1\n", false);
    fx_heredoc(f, "b", "2\n", false);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "more than one source file", NULL);
}

/* ---- ADD ---- */

static void write_buf(fx_t *f, const char *rel, const cb_buf_t *b) {
    char *p = cb_xasprintf("%s/%s", f->top, rel);
    FILE *out = fopen(p, "w");
    assert_non_null(out);
    assert_int_equal(fwrite(b->data, 1, b->len, out), b->len);
    fclose(out);
    free(p);
}

static void add_archives(void **state) {
    fx_t *f = *state;
    const tar_spec_t specs[] = {
        {.type = 'd', .name = "pkg", .perm = 0750, .uid = 12, .gid = 34},
        {.type = 'f', .name = "pkg/a", .content = "aa", .perm = 0640, .uid = 1234, .gid = 5},
        {.type = 'l', .name = "pkg/l", .target = "a", .perm = 0777},
        {.type = 'h', .name = "pkg/h", .target = "pkg/a"},
        {.type = 'f', .name = "top", .content = "t", .perm = 0600},
    };
    const int filters[] = {0, ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_BZIP2, ARCHIVE_FILTER_XZ,
                           ARCHIVE_FILTER_ZSTD};
    for (size_t i = 0; i < CB_ARRAY_LEN(filters); i++) {
        cb_buf_t plain = CB_BUF_INIT, b = CB_BUF_INIT;
        tar_build(&plain, specs, CB_ARRAY_LEN(specs), 0);
        if (filters[i])
            compress_buf(&plain, filters[i], &b); /* unpadded, as real files are */
        write_buf(f, "ctx/in.tar.x", filters[i] ? &b : &plain);
        cb_buf_free(&plain);
        cb_buf_free(&b);
        fx_ins(f, "/opt", "in.tar.x", NULL);
        assert_int_equal(fx_run(f, true), 0);
        fx_expect(f, "d opt/ 0755 0:0 0", "d opt/pkg/ 0750 12:34 0", "f opt/pkg/a 0640 1234:5 2",
                  "h opt/pkg/h -> opt/pkg/a 0640 1234:5 0", "l opt/pkg/l -> a 0777 0:0 0",
                  "f opt/top 0600 0:0 1", NULL);
    }
    /* --chown wins over the archive's owners. */
    f->ins.chown = (char *)"9:9";
    assert_int_equal(fx_run(f, true), 0);
    assert_string_equal(f->lines.items[2], "f opt/pkg/a 0640 9:9 2");
    /* COPY and ADD --unpack=false copy the archive as a file. */
    f->ins.chown = NULL;
    assert_int_equal(fx_run(f, false), 0);
    assert_int_equal(f->lines.len, 1);
    assert_true(cb_str_has_prefix(f->lines.items[0], "f opt "));
    f->ins.unpack = 0;
    assert_int_equal(fx_run(f, true), 0);
    assert_int_equal(f->lines.len, 1);
    /* Not an archive: copied as it is. */
    fx_file(f, "ctx/plain.gz", "not gzip at all", 0644);
    fx_ins(f, "/opt/", "plain.gz", NULL);
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d opt/ 0755 0:0 0", "f opt/plain.gz 0644 0:0 15", NULL);
    /* The scratch directory is left empty. */
    cb_strv_t left = CB_STRV_INIT;
    DIR *d = opendir(f->tmp);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            cb_strv_push(&left, de->d_name);
    closedir(d);
    assert_int_equal(left.len, 0);
    cb_strv_free(&left);
}

/* Links in an archive are resolved inside the destination, as a chroot at
 * it sees them (docker and buildah extract chrooted there): buildah's
 * conformance case add-parent-symlink, then links that would leave it. */
static void add_archive_links_stay_inside(void **state) {
    fx_t *f = *state;
    const tar_spec_t parent[] = {
        {.type = 'l', .name = "symldir1", .target = "..", .perm = 0777, .uid = 1000, .gid = 1000},
        {.type = 'f', .name = "symldir1/etc/myfile", .content = "hello\n", .perm = 0664,
         .uid = 1000, .gid = 1000},
    };
    cb_buf_t b = CB_BUF_INIT;
    tar_build(&b, parent, CB_ARRAY_LEN(parent), 0);
    write_buf(f, "ctx/foobar.tar", &b);
    cb_buf_free(&b);
    fx_ins(f, "/testsubdir", "foobar.tar", NULL);
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d testsubdir/ 0755 0:0 0", "d testsubdir/etc/ 0755 0:0 0",
              "f testsubdir/etc/myfile 0664 1000:1000 6", "l testsubdir/symldir1 -> .. 0777 1000:1000 0",
              NULL);
    /* Long and non-ASCII names survive the way to the applier. */
    char dir[151];
    memset(dir, 'x', 150);
    dir[150] = '\0';
    cb_autofree char *long_name = cb_xasprintf("l/%s/\xc3\xa9t\xc3\xa9", dir);
    cb_autofree char *long_want = cb_xasprintf("t/%s/\xc3\xa9t\xc3\xa9", dir);
    const tar_spec_t names[] = {
        {.type = 'l', .name = "l", .target = "/t"},
        {.type = 'f', .name = long_name, .content = "long", .perm = 0600},
    };
    b = (cb_buf_t)CB_BUF_INIT;
    /* The test's tar writer needs a UTF-8 locale for the name; cbuild
     * reads it in the C locale it always runs in. */
    assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
    tar_build(&b, names, CB_ARRAY_LEN(names), 0);
    setlocale(LC_CTYPE, "C");
    write_buf(f, "ctx/names.tar", &b);
    cb_buf_free(&b);
    fx_ins(f, "/", "names.tar", NULL);
    assert_int_equal(fx_run(f, true), 0);
    char *c = fx_content(f, long_want);
    assert_non_null(c);
    assert_string_equal(c, "long");
    free(c);

    /* Links that lead out: up past the root, to an absolute host path, a
     * chain, a hardlink through one, a directory replaced by a link. */
    fx_dir(f, "outside", 0755);
    char *outside = cb_xasprintf("%s/outside", f->top);
    const tar_spec_t evil[] = {
        {.type = 'l', .name = "esc", .target = "../../.."},
        {.type = 'f', .name = "esc/pwned", .content = "x"},
        {.type = 'l', .name = "sysconf", .target = "/etc"},
        {.type = 'f', .name = "sysconf/cbuild-add-test-marker", .content = "m"},
        {.type = 'l', .name = "host", .target = outside},
        {.type = 'f', .name = "host/pwned", .content = "h"},
        {.type = 'l', .name = "a", .target = "b/../../c"},
        {.type = 'l', .name = "b", .target = "/d/e"},
        {.type = 'f', .name = "a/x", .content = "a"},
        {.type = 'h', .name = "esc/hl", .target = "esc/pwned"},
        {.type = 'd', .name = "dir"},
        {.type = 'f', .name = "dir/keep", .content = "k"},
        {.type = 'l', .name = "dir", .target = "/"},
        {.type = 'f', .name = "dir/top", .content = "t"},
        /* a link below a directory goes with it ("re!x" sorts between
         * "re" and "re/...") */
        {.type = 'd', .name = "re"},
        {.type = 'l', .name = "re/y", .target = "/elsewhere"},
        {.type = 'l', .name = "re!x", .target = "/elsewhere"},
        {.type = 'f', .name = "re", .content = "file now"},
        {.type = 'd', .name = "re"},
        {.type = 'f', .name = "re/y/z", .content = "z"},
        {.type = 'f', .name = "re!x/z", .content = "x"},
    };
    b = (cb_buf_t)CB_BUF_INIT;
    tar_build(&b, evil, CB_ARRAY_LEN(evil), ARCHIVE_FILTER_GZIP);
    write_buf(f, "ctx/evil.tgz", &b);
    cb_buf_free(&b);
    fx_ins(f, "/opt/", "evil.tgz", NULL);
    if (fx_run(f, true) != 0) {
        cb_autofree char *m = cb_error_message(f->err);
        fail_msg("ADD evil.tgz: %s", m);
    }
    cb_autofree char *host_name = cb_xasprintf("opt%s/pwned", outside);
    bool host_inside = false;
    for (size_t i = 0; i < f->lines.len; i++)
        host_inside |= strstr(f->lines.items[i], host_name) != NULL;
    assert_true(host_inside);
    const char *want[] = {"f opt/hl 0644 0:0 1", "h opt/pwned -> opt/hl 0644 0:0 0",
                          "f opt/etc/cbuild-add-test-marker 0644 0:0 1", "f opt/c/x 0644 0:0 1",
                          "l opt/dir -> / 0777 0:0 0", "f opt/top 0644 0:0 1",
                          "f opt/re/y/z 0644 0:0 1", "f opt/elsewhere/z 0644 0:0 1"};
    for (size_t i = 0; i < CB_ARRAY_LEN(want); i++) {
        bool found = false;
        for (size_t k = 0; k < f->lines.len; k++)
            found |= strcmp(f->lines.items[k], want[i]) == 0;
        if (!found) {
            for (size_t k = 0; k < f->lines.len; k++)
                printf("  entry: %s\n", f->lines.items[k]);
            fail_msg("missing entry '%s'", want[i]);
        }
    }
    for (size_t k = 0; k < f->lines.len; k++)
        assert_null(strstr(f->lines.items[k], "keep"));
    /* Nothing was written on the host. */
    const char *host[] = {"pwned", "hl", "outside/pwned", "c", "top"};
    for (size_t i = 0; i < CB_ARRAY_LEN(host); i++) {
        cb_autofree char *p = cb_xasprintf("%s/%s", f->top, host[i]);
        assert_int_equal(access(p, F_OK), -1);
    }
    assert_int_equal(access("/etc/cbuild-add-test-marker", F_OK), -1);
    free(outside);

    /* A loop of links is an error (etc -> /etc is one inside a chroot). */
    const tar_spec_t loop[] = {
        {.type = 'l', .name = "etc", .target = "/etc"},
        {.type = 'f', .name = "etc/x", .content = "x"},
    };
    b = (cb_buf_t)CB_BUF_INIT;
    tar_build(&b, loop, CB_ARRAY_LEN(loop), 0);
    write_buf(f, "ctx/loop.tar", &b);
    cb_buf_free(&b);
    fx_ins(f, "/opt/", "loop.tar", NULL);
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "ADD: extracting 'loop.tar'", "too many levels of symbolic links", NULL);

    /* Names with ".." are refused, as before. */
    const tar_spec_t dotdot[] = {{.type = 'f', .name = "../up", .content = "x"}};
    b = (cb_buf_t)CB_BUF_INIT;
    tar_build(&b, dotdot, 1, 0);
    write_buf(f, "ctx/up.tar", &b);
    cb_buf_free(&b);
    fx_ins(f, "/opt/", "up.tar", NULL);
    assert_int_equal(fx_run(f, true), -1);
    cb_autofree char *p = cb_xasprintf("%s/up", f->tmp);
    assert_int_equal(access(p, F_OK), -1);
}

/* An entry whose name is empty is skipped, as docker and buildah do
 * (buildah's conformance case add-dir-not-dir). */
static void add_archive_nameless_entry(void **state) {
    fx_t *f = *state;
    const tar_spec_t specs[] = {
        {.type = 'f', .name = "e", .perm = 0644},
        {.type = 'd', .name = "app", .perm = 0755},
        {.type = 'f', .name = "app/f", .content = "x", .perm = 0644},
    };
    cb_buf_t b = CB_BUF_INIT;
    tar_build(&b, specs, CB_ARRAY_LEN(specs), 0);
    /* Blank the first header's name and fix its checksum. */
    unsigned char *h = (unsigned char *)b.data;
    assert_int_equal(h[0], 'e');
    h[0] = '\0';
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    write_buf(f, "ctx/test.tar", &b);
    cb_buf_free(&b);
    fx_ins(f, "/", "test.tar", NULL);
    assert_int_equal(fx_run(f, true), 0);
    fx_expect(f, "d app/ 0755 0:0 0", "f app/f 0644 0:0 1", NULL);
}

static void flag_errors(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a", "a", 0644);
    fx_ins(f, "/x", "http://127.0.0.1:1/file", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "source can't be a URL for COPY", NULL);
    fx_ins(f, "/x", "a", NULL);
    f->ins.checksum = (char *)"sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "checksum can't be specified for COPY", NULL);
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "checksum requires HTTP(S) sources", NULL);
    fx_ins(f, "/x", "https://example.com/repo.git", NULL);
    assert_int_equal(fx_run(f, true), -1);
    fx_expect_error(f, "git sources are not supported", NULL);
    fx_ins(f, "/x", NULL);
    assert_int_equal(fx_run(f, false), -1);
    fx_expect_error(f, "requires at least one source", NULL);
}

static void mtime_clamped(void **state) {
    fx_t *f = *state;
    fx_file(f, "ctx/a", "a", 0644);
    f->env.clamp_mtime = true;
    f->env.mtime = 1000;
    fx_ins(f, "/d/", "a", NULL);
    assert_int_equal(fx_run(f, false), 0);
    assert_int_equal(f->mtimes.len, 2);
    assert_string_equal(f->mtimes.items[0], "1000");
    assert_string_equal(f->mtimes.items[1], "1000");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        T(file_into_new_dir),
        T(file_renamed),
        T(dir_copies_contents),
        T(context_root_and_existing_dest),
        T(relative_dest_against_workdir),
        T(dest_through_image_symlink),
        T(dest_errors),
        T(several_sources_into_existing_dir),
        T(missing_source),
        T(escapes_stay_inside_context),
        T(symlink_named_is_followed),
        T(wildcards),
        T(wildcards_per_element),
        T(unmatched_wildcard_among_sources),
        T(ignore_file_hides_sources),
        T(ignored_dir_without_reincluded_entry),
        T(exclude_flag),
        T(chown_lookup),
        T(chown_without_passwd),
        T(chmod_flag),
        T(from_root_keeps_owner_unless_rootless),
        T(parents_flag),
        T(heredocs),
        T(add_archives),
        T(add_archive_links_stay_inside),
        T(add_archive_nameless_entry),
        T(flag_errors),
        T(mtime_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
