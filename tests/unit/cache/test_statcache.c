/* The stat cache of context hashing: hits, misses, ctime, racy files,
 * damaged files, atomic saves, eviction, the layer writer's key mode, and a
 * timing of 10,000 files (printed, not asserted). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/statcache.h"
#include "common/util.h"
#include "layer/writer.h"
#include "testutil.h"

typedef struct {
    char *dir;
    char *cache_dir; /* dir/cache: the cache file alone */
    char *cache;     /* dir/cache/statcache */
} fixture_t;

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->cache_dir = cb_xasprintf("%s/cache", f->dir);
    f->cache = cb_xasprintf("%s/statcache", f->cache_dir);
    assert_int_equal(mkdir(f->cache_dir, 0700), 0);
    tu_debug_capture("cache");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    tu_debug_capture(NULL);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f->cache);
    free(f->cache_dir);
    free(f);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Files are remembered only once their ctime is older than the clock's
 * tick (10 ms on file systems with fine timestamps): tests wait that out. */
static void let_ctime_settle(void) {
    sleep_ms(30);
}

static char *put_file(fixture_t *f, const char *name, const void *data, size_t len) {
    char *p = cb_xasprintf("%s/%s", f->dir, name);
    tu_write(p, data, len);
    return p;
}

/* The digest of path through the cache; st_out (may be NULL) gets its stat. */
static void digest_path(cb_statcache_t *c, const char *path, char out[CB_DIGEST_STR_LEN + 1],
                        struct stat *st_out) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(cb_statcache_digest(c, fd, &st, out, &err), 0);
    if (st_out)
        *st_out = st;
}

static cb_statcache_stats_t stats_of(const cb_statcache_t *c) {
    cb_statcache_stats_t s;
    cb_statcache_stats(c, &s);
    return s;
}

static void test_miss_then_hit(void **state) {
    fixture_t *f = *state;
    /* Bigger than one read chunk. */
    size_t len = 300 * 1024 + 7;
    cb_autofree char *data = cb_xmalloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 31 + 7);
    cb_autofree char *p = put_file(f, "big", data, len);
    char want[CB_DIGEST_STR_LEN + 1], got[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(data, len, want);
    let_ctime_settle();

    cb_autoerr cb_error_t *err = NULL;
    cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    assert_int_equal(stats_of(c).entries, 0);
    assert_string_equal(tu_last_debug(), ""); /* a missing file is no news */
    digest_path(c, p, got, NULL);
    assert_string_equal(got, want);
    cb_statcache_stats_t s = stats_of(c);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.bytes_read, len);
    assert_int_equal(s.racy, 0);
    assert_int_equal(s.entries, 1);
    digest_path(c, p, got, NULL);
    assert_string_equal(got, want);
    assert_int_equal(stats_of(c).hits, 1);
    assert_int_equal(stats_of(c).bytes_read, len);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    cb_statcache_free(c);

    /* Across a save and a reopen: no byte read. */
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    assert_int_equal(stats_of(c).entries, 1);
    memset(got, 0, sizeof got);
    digest_path(c, p, got, NULL);
    assert_string_equal(got, want);
    s = stats_of(c);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 0);
    assert_int_equal(s.bytes_read, 0);
    cb_statcache_free(c);

    /* An empty file has a digest too. */
    cb_autofree char *e = put_file(f, "empty", "", 0);
    let_ctime_settle();
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    digest_path(c, e, got, NULL);
    cb_sha256_digest("", 0, want);
    assert_string_equal(got, want);
    digest_path(c, e, got, NULL);
    assert_int_equal(stats_of(c).hits, 1);
    cb_statcache_free(c);
}

static void test_ctime_catches_restored_mtime(void **state) {
    fixture_t *f = *state;
    cb_autofree char *p = put_file(f, "f", "aaaa", 4);
    let_ctime_settle();
    cb_autoerr cb_error_t *err = NULL;
    cb_autostatcache cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    char d1[CB_DIGEST_STR_LEN + 1], d2[CB_DIGEST_STR_LEN + 1], want[CB_DIGEST_STR_LEN + 1];
    struct stat before, after;
    digest_path(c, p, d1, &before);
    assert_int_equal(cb_statcache_save(c, &err), 0);

    /* Same size, same mtime to the nanosecond, same inode: only ctime moves. */
    sleep_ms(20);
    cb_autoclose int fd = open(p, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "bbbb", 4, 0), 4);
    struct timespec ts[2] = {before.st_atim, before.st_mtim};
    assert_int_equal(futimens(fd, ts), 0);
    let_ctime_settle();
    digest_path(c, p, d2, &after);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    cb_sha256_digest("bbbb", 4, want);
    assert_string_equal(d2, want);
    assert_string_not_equal(d1, d2);
    assert_int_equal(stats_of(c).misses, 2);
    assert_int_equal(stats_of(c).hits, 0);

    /* A mode change (chmod moves ctime too) misses as well; the entry was
     * replaced, not added. */
    assert_int_equal(fchmod(fd, 0600), 0);
    let_ctime_settle();
    digest_path(c, p, d2, NULL);
    assert_int_equal(stats_of(c).misses, 3);
    assert_int_equal(stats_of(c).entries, 1);
}

/* A file whose ctime is within the clock's tick could change again unseen:
 * hashed, answered, not remembered. The stat is made up to be sure. */
static void test_racy_not_remembered(void **state) {
    fixture_t *f = *state;
    cb_autofree char *p = put_file(f, "f", "racy", 4);
    cb_autoerr cb_error_t *err = NULL;
    cb_autostatcache cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    cb_autoclose int fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char d[CB_DIGEST_STR_LEN + 1], want[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("racy", 4, want);

    st.st_ctim = now; /* now: racy */
    assert_int_equal(cb_statcache_digest(c, fd, &st, d, &err), 0);
    assert_string_equal(d, want);
    st.st_ctim = (struct timespec){.tv_sec = now.tv_sec - 1, .tv_nsec = 0}; /* coarse fs */
    assert_int_equal(cb_statcache_digest(c, fd, &st, d, &err), 0);
    assert_int_equal(stats_of(c).racy, 2);
    assert_int_equal(stats_of(c).entries, 0);

    /* A second ago with a sub-second part: remembered. */
    st.st_ctim = (struct timespec){.tv_sec = now.tv_sec - 1, .tv_nsec = 5};
    assert_int_equal(cb_statcache_digest(c, fd, &st, d, &err), 0);
    assert_int_equal(stats_of(c).entries, 1);
    assert_int_equal(cb_statcache_digest(c, fd, &st, d, &err), 0);
    assert_int_equal(stats_of(c).hits, 1);

    /* A size that is not what the file holds (it changed under us). */
    st.st_size = 3;
    assert_int_equal(cb_statcache_digest(c, fd, &st, d, &err), 0);
    assert_string_equal(d, want);
    assert_int_equal(stats_of(c).racy, 3);

    /* Not a regular file. */
    cb_autoclose int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(fstat(dfd, &st), 0);
    assert_true(cb_statcache_digest(c, dfd, &st, d, &err) < 0);
    assert_non_null(err);
}

/* A saved cache holding n files of dir; returns the file's bytes. */
static char *make_saved_cache(fixture_t *f, int n, size_t *len) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autostatcache cb_statcache_t *c = NULL;
    char **paths = cb_xcalloc((size_t)n, sizeof *paths);
    for (int i = 0; i < n; i++) {
        char name[32], body[32];
        snprintf(name, sizeof name, "file%d", i);
        snprintf(body, sizeof body, "body %d", i);
        paths[i] = put_file(f, name, body, strlen(body));
    }
    let_ctime_settle();
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    for (int i = 0; i < n; i++) {
        char d[CB_DIGEST_STR_LEN + 1];
        digest_path(c, paths[i], d, NULL);
        free(paths[i]);
    }
    free(paths);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    return tu_read(f->cache, len);
}

/* Opens f->cache after it was replaced by data: empty, no error, a line. */
static void expect_ignored(fixture_t *f, const void *data, size_t len, const char *why) {
    tu_write(f->cache, data, len);
    tu_debug_clear();
    cb_autoerr cb_error_t *err = NULL;
    cb_autostatcache cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    assert_null(err);
    assert_int_equal(stats_of(c).entries, 0);
    if (strstr(tu_last_debug(), why) == NULL)
        fail_msg("expected a debug line with \"%s\", got \"%s\"", why, tu_last_debug());
}

static void test_damaged_file_ignored(void **state) {
    fixture_t *f = *state;
    size_t len;
    cb_autofree char *good = make_saved_cache(f, 3, &len);
    assert_int_equal(len, 64 + 3 * 88);
    {
        cb_autoerr cb_error_t *err = NULL;
        cb_autostatcache cb_statcache_t *c = NULL;
        assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
        assert_int_equal(stats_of(c).entries, 3);
    }
    expect_ignored(f, good, len - 1, "truncated");
    expect_ignored(f, good, len - 88, "truncated");
    expect_ignored(f, good, 10, "shorter than its header");
    expect_ignored(f, "", 0, "shorter than its header");
    char garbage[4096];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (char)(i * 7919 % 251);
    expect_ignored(f, garbage, sizeof garbage, "magic");
    cb_autofree char *bad = cb_xmalloc(len);
    memcpy(bad, good, len);
    bad[8] = 99; /* version */
    expect_ignored(f, bad, len, "another version");
    memcpy(bad, good, len);
    bad[64 + 88 + 60] ^= 1; /* a digest byte of the second record */
    expect_ignored(f, bad, len, "checksum");

    /* Damage is repaired by the next save. */
    tu_write(f->cache, garbage, sizeof garbage);
    cb_autofree char *p = put_file(f, "new", "new", 3);
    let_ctime_settle();
    cb_autoerr cb_error_t *err = NULL;
    cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    char d[CB_DIGEST_STR_LEN + 1];
    digest_path(c, p, d, NULL);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    cb_statcache_free(c);
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    assert_int_equal(stats_of(c).entries, 1);
    cb_statcache_free(c);

    /* A directory where the file should be: ignored, and save says why. */
    assert_int_equal(unlink(f->cache), 0);
    assert_int_equal(mkdir(f->cache, 0700), 0);
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    digest_path(c, p, d, NULL);
    assert_true(cb_statcache_save(c, &err) < 0);
    assert_non_null(err);
    cb_statcache_free(c);
    assert_int_equal(rmdir(f->cache), 0);
}

static void test_save_atomic_and_only_when_changed(void **state) {
    fixture_t *f = *state;
    size_t len;
    free(make_saved_cache(f, 2, &len));
    assert_int_equal(tu_file_count(f->cache_dir), 1);
    struct stat st1, st2;
    assert_int_equal(stat(f->cache, &st1), 0);
    assert_int_equal(st1.st_mode & 07777, 0600);

    /* All hits: nothing to write, the file is not replaced. */
    cb_autoerr cb_error_t *err = NULL;
    cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    cb_autofree char *p0 = cb_xasprintf("%s/file0", f->dir);
    char d[CB_DIGEST_STR_LEN + 1];
    digest_path(c, p0, d, NULL);
    assert_int_equal(stats_of(c).hits, 1);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    assert_int_equal(stat(f->cache, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);

    /* A change: a new file (a new inode) replaces it, no temp file left. */
    cb_autofree char *p = put_file(f, "other", "other", 5);
    let_ctime_settle();
    digest_path(c, p, d, NULL);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    assert_int_equal(stat(f->cache, &st2), 0);
    assert_int_not_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(tu_file_count(f->cache_dir), 1);
    cb_statcache_free(c);
}

/* Two processes saving over and over: every file either wrote is whole. */
static void test_concurrent_saves(void **state) {
    fixture_t *f = *state;
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            for (int round = 0; round < 20; round++) {
                cb_error_t *err = NULL;
                cb_statcache_t *c = NULL;
                char name[64], d[CB_DIGEST_STR_LEN + 1];
                snprintf(name, sizeof name, "p%d-r%d", k, round);
                char *path = put_file(f, name, name, strlen(name));
                let_ctime_settle();
                if (cb_statcache_open(f->cache, &c, &err) < 0)
                    _exit(1);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0 || cb_statcache_digest(c, fd, &st, d, &err) < 0 ||
                    cb_statcache_save(c, &err) < 0)
                    _exit(2);
                close(fd);
                free(path);
                cb_statcache_free(c);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autostatcache cb_statcache_t *c = NULL;
    tu_debug_clear();
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    assert_string_equal(tu_last_debug(), "");
    /* The last save won: what that process loaded plus its own file. */
    assert_true(stats_of(c).entries >= 1 && stats_of(c).entries <= 40);
    assert_int_equal(tu_file_count(f->cache_dir), 1);
}

static void test_eviction(void **state) {
    fixture_t *f = *state;
    size_t len;
    free(make_saved_cache(f, 8, &len)); /* file0..file7, run 1 */
    char *news[5];
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "new%d", i);
        news[i] = put_file(f, name, name, strlen(name));
    }
    let_ctime_settle();
    cb_autoerr cb_error_t *err = NULL;
    cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    cb_statcache_set_max_entries(c, 8);
    char d[CB_DIGEST_STR_LEN + 1];
    for (int i = 0; i < 4; i++) { /* used in this run */
        cb_autofree char *p = cb_xasprintf("%s/file%d", f->dir, i);
        digest_path(c, p, d, NULL);
    }
    assert_int_equal(stats_of(c).hits, 4);
    for (int i = 0; i < 4; i++)
        digest_path(c, news[i], d, NULL);
    assert_int_equal(stats_of(c).entries, 8);
    /* Full of entries used in this run: the fifth new one is not kept. */
    digest_path(c, news[4], d, NULL);
    assert_int_equal(stats_of(c).entries, 8);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    cb_statcache_free(c);

    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    for (int i = 0; i < 4; i++) {
        cb_autofree char *p = cb_xasprintf("%s/file%d", f->dir, i);
        digest_path(c, p, d, NULL);
        digest_path(c, news[i], d, NULL);
    }
    assert_int_equal(stats_of(c).hits, 8); /* what this run used survived */
    for (int i = 4; i < 8; i++) {
        cb_autofree char *p = cb_xasprintf("%s/file%d", f->dir, i);
        digest_path(c, p, d, NULL);
    }
    assert_int_equal(stats_of(c).misses, 4); /* the unused ones went */
    cb_statcache_free(c);
    for (int i = 0; i < 5; i++)
        free(news[i]);
}

/* Plugged into the layer writer's key mode. Run 0 reads every file; run 1
 * answers from the digests (each file opened); runs 2 and 3 also know the
 * files have no xattrs, so nothing is opened; run 3 without the known_digest
 * hook, as a check that both ways give the same key. A file with an xattr
 * (where the file system has them) is never taken as known. */
static void test_layer_key_mode(void **state) {
    fixture_t *f = *state;
    cb_autofree char *ctx = cb_xasprintf("%s/ctx", f->dir);
    assert_int_equal(mkdir(ctx, 0755), 0);
    for (int i = 0; i < 20; i++) {
        char name[64];
        snprintf(name, sizeof name, "ctx/f%02d", i);
        free(put_file(f, name, name, strlen(name)));
    }
    cb_autofree char *xf = put_file(f, "ctx/x", "x", 1);
    bool has_xattr = setxattr(xf, "user.cbuild-test", "1", 1, 0) == 0;
    let_ctime_settle();
    enum { RUNS = 4 };
    char keys[RUNS][CB_DIGEST_STR_LEN + 1];
    for (int run = 0; run < RUNS; run++) {
        cb_autoerr cb_error_t *err = NULL;
        cb_autostatcache cb_statcache_t *c = NULL;
        assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
        cb_layer_writer_opts_t opts = {.content_digest = cb_statcache_digest_cb,
                                       .known_digest = run == 3 ? NULL : cb_statcache_known_cb,
                                       .plain_file = run == 0 ? NULL : cb_statcache_set_plain_cb,
                                       .content_digest_ctx = c};
        cb_autolayerwriter cb_layer_writer_t *w = NULL;
        assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
        assert_int_equal(cb_layer_add_tree(w, "app", AT_FDCWD, ctx, NULL, &err), 0);
        cb_layer_result_t res;
        assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
        memcpy(keys[run], res.diff_id, sizeof keys[run]);
        cb_statcache_stats_t s = stats_of(c);
        assert_int_equal(s.hits, run == 0 ? 0 : 21);
        assert_int_equal(s.misses, run == 0 ? 21 : 0);
        if (run > 0)
            assert_int_equal(s.bytes_read, 0);
        struct stat st;
        char d[CB_DIGEST_STR_LEN + 1];
        assert_int_equal(stat(xf, &st), 0);
        assert_true(cb_statcache_known(c, &st, d) == (!has_xattr && run > 0));
        assert_int_equal(cb_statcache_save(c, &err), 0);
    }
    for (int run = 1; run < RUNS; run++)
        assert_string_equal(keys[0], keys[run]);
}

/* Digests handed in by whoever read the file (the layer writer): kept by
 * the stat before the read, dropped when the stat changed by the end of it,
 * kept for this run only when racy, plain when the file has no xattrs. */
static void test_handed_in_digests(void **state) {
    fixture_t *f = *state;
    cb_autofree char *p = put_file(f, "f", "handed", 6);
    let_ctime_settle();
    char want[CB_DIGEST_STR_LEN + 1], d[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("handed", 6, want);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    cb_autoerr cb_error_t *err = NULL;
    cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    assert_false(cb_statcache_lookup(c, &st, d));

    /* The stat changed while it was read: nothing kept. */
    assert_true(cb_statcache_wants(c, &st));
    struct stat later = st;
    later.st_mtim.tv_nsec = (later.st_mtim.tv_nsec + 1) % 1000000000;
    cb_statcache_put(c, &st, &later, want, false);
    assert_false(cb_statcache_lookup(c, &st, d));
    assert_int_equal(stats_of(c).changed, 1);
    assert_int_equal(stats_of(c).entries, 0);

    /* Unchanged: kept, plain (no xattrs) so known from the stat alone. */
    assert_true(cb_statcache_wants(c, &st));
    cb_statcache_put(c, &st, &st, want, false);
    assert_false(cb_statcache_wants(c, &st));
    assert_true(cb_statcache_lookup(c, &st, d));
    assert_string_equal(d, want);
    memset(d, 0, sizeof d);
    assert_true(cb_statcache_known(c, &st, d));
    assert_string_equal(d, want);
    assert_int_equal(stats_of(c).given, 2);

    /* Racy (its ctime is now): used in this run, never saved. */
    struct stat racy_st = st;
    racy_st.st_ino = st.st_ino + 1000003;
    clock_gettime(CLOCK_REALTIME, &racy_st.st_ctim);
    assert_true(cb_statcache_wants(c, &racy_st));
    cb_statcache_put(c, &racy_st, &racy_st, want, true);
    assert_int_equal(stats_of(c).racy, 1);
    assert_true(cb_statcache_lookup(c, &racy_st, d));
    assert_false(cb_statcache_known(c, &racy_st, d)); /* xattrs: not plain */
    assert_int_equal(stats_of(c).entries, 2);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    assert_int_equal(stats_of(c).entries, 1);
    cb_statcache_free(c);

    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    assert_true(cb_statcache_known(c, &st, d));
    assert_string_equal(d, want);
    assert_false(cb_statcache_lookup(c, &racy_st, d));
    assert_int_equal(stats_of(c).entries, 1);
    cb_statcache_free(c);
}

typedef struct {
    uint64_t bytes;
} count_sink_t;

static int count_sink(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    (void)buf;
    (void)err;
    ((count_sink_t *)ctx)->bytes += n;
    return 0;
}

/* A layer written with a key mode writer (lookup_only: the stat cache's
 * digests only) or a tar writer (hash: handing digests to the cache). */
static void key_pass(cb_statcache_t *c, const char *ctx, bool lookup_only, cb_layer_result_t *res) {
    cb_autoerr cb_error_t *err = NULL;
    cb_layer_writer_opts_t opts = {.content_digest = cb_statcache_digest_cb,
                                   .known_digest = cb_statcache_known_cb,
                                   .plain_file = cb_statcache_set_plain_cb,
                                   .lookup_digest = lookup_only ? cb_statcache_lookup_cb : NULL,
                                   .content_digest_ctx = c};
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
    assert_int_equal(cb_layer_add_tree(w, "app", AT_FDCWD, ctx, NULL, &err), 0);
    assert_int_equal(cb_layer_writer_finish(w, res, &err), 0);
}

static void tar_pass(cb_statcache_t *c, const char *ctx, bool hash, cb_layer_result_t *res) {
    cb_autoerr cb_error_t *err = NULL;
    cb_layer_writer_opts_t opts = {.compression = CB_LAYER_UNCOMPRESSED};
    if (hash) {
        opts.want_digest = cb_statcache_wants_cb;
        opts.file_digest = cb_statcache_put_cb;
        opts.content_digest_ctx = c;
    }
    count_sink_t sink = {0};
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    assert_int_equal(cb_layer_writer_new(&w, &opts, count_sink, &sink, &err), 0);
    assert_int_equal(cb_layer_add_tree(w, "app", AT_FDCWD, ctx, NULL, &err), 0);
    assert_int_equal(cb_layer_writer_finish(w, res, &err), 0);
    assert_int_equal(sink.bytes, res->size);
}

/* A cold COPY's passes (builder/stage_exec.c, run_cold_copy): the key from
 * the stat cache alone counts what it does not know and reads nothing; the
 * layer, written with the digests handed in, is the same tar; then the key
 * is made without a byte read, and is the key of the reading pass. */
static void test_layer_hands_digests(void **state) {
    fixture_t *f = *state;
    cb_autofree char *ctx = cb_xasprintf("%s/ctx", f->dir);
    assert_int_equal(mkdir(ctx, 0755), 0);
    size_t bytes = 0;
    for (int i = 0; i < 20; i++) {
        char name[64];
        snprintf(name, sizeof name, "ctx/f%02d", i);
        free(put_file(f, name, name, strlen(name)));
        bytes += strlen(name);
    }
    cb_autofree char *big = cb_xmalloc(700 * 1024); /* several writer reads */
    for (size_t i = 0; i < 700 * 1024; i++)
        big[i] = (char)(i * 131 + i / 7);
    free(put_file(f, "ctx/big", big, 700 * 1024));
    bytes += 700 * 1024;
    cb_autofree char *h1 = cb_xasprintf("%s/f00", ctx);
    cb_autofree char *h2 = cb_xasprintf("%s/zz-link", ctx);
    assert_int_equal(link(h1, h2), 0); /* a second name: a hardlink entry */
    cb_autofree char *xf = put_file(f, "ctx/x", "x", 1);
    bool has_xattr = setxattr(xf, "user.cbuild-test", "1", 1, 0) == 0;
    bytes += 1;
    let_ctime_settle();

    /* The key as before: every file read through the cache. */
    char want[CB_DIGEST_STR_LEN + 1];
    cb_autofree char *other = cb_xasprintf("%s/other-statcache", f->dir);
    cb_autoerr cb_error_t *err = NULL;
    cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(other, &c, &err), 0);
    cb_layer_result_t res;
    key_pass(c, ctx, false, &res);
    memcpy(want, res.diff_id, sizeof want);
    assert_int_equal(stats_of(c).bytes_read, bytes);
    cb_statcache_free(c);

    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    key_pass(c, ctx, true, &res);
    /* Every name counts, zz-link too: the walk does not open what it does
     * not know, so it cannot tell a hardlink. */
    assert_int_equal(res.key_counts.unknown, 23);
    assert_int_equal(res.key_counts.unknown_bytes, bytes + strlen("ctx/f00"));
    assert_int_equal(res.key_counts.known_bytes, 0);
    assert_int_equal(stats_of(c).bytes_read, 0);

    cb_layer_result_t plain, hashed;
    tar_pass(NULL, ctx, false, &plain);
    tar_pass(c, ctx, true, &hashed);
    assert_string_equal(plain.diff_id, hashed.diff_id);
    cb_statcache_stats_t s = stats_of(c);
    assert_int_equal(s.given, 22); /* zz-link is a hardlink entry: no data */
    assert_int_equal(s.changed, 0);
    assert_int_equal(s.racy, 0);
    assert_int_equal(s.entries, 22);

    key_pass(c, ctx, true, &res);
    assert_int_equal(res.key_counts.unknown, 0);
    assert_int_equal(res.key_counts.known_bytes, bytes);
    assert_string_equal(res.diff_id, want);
    assert_int_equal(stats_of(c).bytes_read, 0);
    /* Handed in without xattrs: known from the stat alone; x only without. */
    struct stat st;
    char d[CB_DIGEST_STR_LEN + 1];
    assert_int_equal(stat(xf, &st), 0);
    assert_true(cb_statcache_known(c, &st, d) == !has_xattr);
    assert_int_equal(stat(h1, &st), 0);
    assert_true(cb_statcache_known(c, &st, d));

    /* While reads are on (ADD's unpacked files), unknown files are read. */
    cb_statcache_free(c);
    assert_int_equal(cb_statcache_open(other, &c, &err), 0);
    cb_layer_writer_opts_t opts = {.content_digest = cb_statcache_digest_cb,
                                   .lookup_digest = cb_statcache_lookup_cb,
                                   .content_digest_ctx = c};
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    assert_int_equal(cb_layer_writer_new(&w, &opts, NULL, NULL, &err), 0);
    cb_autofree char *other_file = put_file(f, "new", "new", 3);
    assert_false(cb_layer_writer_key_reads(w, true));
    assert_int_equal(cb_layer_add_path(w, "new", AT_FDCWD, other_file, NULL, &err), 0);
    assert_true(cb_layer_writer_key_reads(w, false));
    assert_int_equal(cb_layer_add_path(w, "new2", AT_FDCWD, other_file, NULL, &err), 0);
    assert_int_equal(cb_layer_writer_finish(w, &res, &err), 0);
    /* The first read it (racy or not, it is known for this run after). */
    assert_int_equal(stats_of(c).bytes_read, 3);
    cb_statcache_free(c);
}

static double ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* One pass over the files: open, fstat, digest, close. */
static double pass(cb_statcache_t *c, char **paths, int n) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        char d[CB_DIGEST_STR_LEN + 1];
        digest_path(c, paths[i], d, NULL);
    }
    return ms_since(&t0);
}

static void test_speed_10000(void **state) {
    fixture_t *f = *state;
    enum { N = 10000, DIRS = 100, SIZE = 4096 };
    char **paths = cb_xcalloc(N, sizeof *paths);
    char body[SIZE];
    for (int dnum = 0; dnum < DIRS; dnum++) {
        cb_autofree char *dp = cb_xasprintf("%s/d%03d", f->dir, dnum);
        assert_int_equal(mkdir(dp, 0755), 0);
    }
    for (int i = 0; i < N; i++) {
        memset(body, 'a' + i % 26, sizeof body);
        memcpy(body, &i, sizeof i);
        char name[64];
        snprintf(name, sizeof name, "d%03d/f%05d", i % DIRS, i);
        paths[i] = put_file(f, name, body, sizeof body);
    }
    let_ctime_settle();
    cb_autoerr cb_error_t *err = NULL;
    cb_statcache_t *c = NULL;
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    double cold = pass(c, paths, N);
    cb_statcache_stats_t s1 = stats_of(c);
    assert_int_equal(s1.misses, N);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cb_statcache_save(c, &err), 0);
    double save = ms_since(&t0);
    cb_statcache_free(c);
    struct stat st;
    assert_int_equal(stat(f->cache, &st), 0);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cb_statcache_open(f->cache, &c, &err), 0);
    double load = ms_since(&t0);
    double warm = pass(c, paths, N);
    cb_statcache_stats_t s2 = stats_of(c);
    assert_int_equal(s2.hits, N);
    assert_int_equal(s2.bytes_read, 0);
    /* The lookups alone: a hit reads nothing, so no descriptor is needed. */
    struct stat *sts = cb_xcalloc(N, sizeof *sts);
    for (int i = 0; i < N; i++)
        assert_int_equal(stat(paths[i], &sts[i]), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++) {
        char d[CB_DIGEST_STR_LEN + 1];
        assert_int_equal(cb_statcache_digest(c, -1, &sts[i], d, &err), 0);
    }
    double lookups = ms_since(&t0);
    assert_int_equal(stats_of(c).hits, 2 * N);
    free(sts);
    cb_statcache_free(c);

    printf("statcache: %d files of %d bytes: cold %.1f ms (%llu misses, %llu bytes read), "
           "save %.1f ms (%lld bytes), load %.1f ms, warm %.1f ms (%llu hits, 0 bytes read; "
           "%.2f us per file with open/fstat/close), lookups alone %.2f ms (%.0f ns each)\n",
           N, SIZE, cold, (unsigned long long)s1.misses, (unsigned long long)s1.bytes_read, save,
           (long long)st.st_size, load, warm, (unsigned long long)s2.hits, warm * 1000.0 / N,
           lookups, lookups * 1e6 / N);
    for (int i = 0; i < N; i++)
        free(paths[i]);
    free(paths);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_then_hit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctime_catches_restored_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_racy_not_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_file_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_atomic_and_only_when_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_saves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_key_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handed_in_digests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_hands_digests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_speed_10000, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
