#include "cache/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/behind.h"
#include "common/fsutil.h"
#include "common/interrupt.h"
#include "common/util.h"

/* A large blob is written behind its caller (common/behind.h): past
 * BEHIND_AFTER bytes, writes are copied into BEHIND_SLOTS chunks that a
 * thread writes out, hashes (for cb_blob_begin) and pushes to the disk.
 * The caller (a layer writer feeding compression workers, a download) then
 * never waits in write(2) or sync_file_range(2); those took 0.1-0.2 s of a
 * 300 MB layer's producer thread on a busy disk, the thread every worker
 * waits on. Small blobs (configs, manifests, RUN layers of a few files)
 * never start the thread. */
#define BEHIND_AFTER (8 << 20)
#define BEHIND_CHUNK (1 << 20)
#define BEHIND_SLOTS 4

struct cb_blob_writer {
    char *tmp_path;
    char *blobs_dir;
    int fd;
    cb_sha256_t *hash; /* NULL: the caller hashes (cb_blob_begin_hashed) */
    int64_t size;      /* bytes accepted from the caller */
    int64_t on_file;   /* bytes written to fd (the behind thread's once it runs) */
    int64_t flushed;   /* bytes handed to writeback so far */
    int64_t settled;   /* bytes whose writeback was waited for */
    cb_behind_t *behind;
    bool sealed;
    bool same; /* the store holds these bytes already (commit): kept, not replaced */
    bool failed; /* a write or seal failed: only abort is allowed */
    char digest[CB_DIGEST_STR_LEN + 1];
};

static int begin(const cb_store_t *store, bool hash, cb_blob_writer_t **out, cb_error_t **err) {
    cb_blob_writer_t *w = cb_xcalloc(1, sizeof *w);
    w->tmp_path = cb_xasprintf("%s/blob-XXXXXX", store->tmp);
    w->blobs_dir = cb_xasprintf("%s/blobs/sha256", store->dir);
    w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
    if (w->fd < 0) {
        int e = errno;
        free(w->tmp_path);
        free(w->blobs_dir);
        free(w);
        return cb_error_set(err, e, "create a blob temp file in %s", store->tmp);
    }
    /* Blobs are world-readable inside their (0700) root, like other layouts. */
    (void)fchmod(w->fd, 0644);
    if (hash)
        w->hash = cb_sha256_new();
    *out = w;
    return 0;
}

int cb_blob_begin(const cb_store_t *store, cb_blob_writer_t **out, cb_error_t **err) {
    return begin(store, true, out, err);
}

int cb_blob_begin_hashed(const cb_store_t *store, cb_blob_writer_t **out, cb_error_t **err) {
    return begin(store, false, out, err);
}

/* Writeback of each WRITEBACK_STEP is started as soon as it is written, and
 * (behind the caller only) waited for once it is SETTLE_LAG behind the
 * write head: a large blob's pages reach the disk while it is still being
 * made, and the fsync in seal has at most the last SETTLE_LAG +
 * WRITEBACK_STEP bytes to wait for (without the wait, a disk slower than
 * the writes left 0.15-0.4 s of a 500 MB blob to the fsync, all of it idle
 * CPU at the end of a build). */
#define WRITEBACK_STEP (8 << 20)
#define SETTLE_LAG (32 << 20)
static void start_writeback(cb_blob_writer_t *w, bool settle) {
    if (w->on_file - w->flushed < WRITEBACK_STEP)
        return;
    (void)sync_file_range(w->fd, w->flushed, w->on_file - w->flushed, SYNC_FILE_RANGE_WRITE);
    w->flushed = w->on_file;
    if (settle && w->flushed - w->settled >= SETTLE_LAG + WRITEBACK_STEP) {
        int64_t end = w->flushed - SETTLE_LAG;
        (void)sync_file_range(w->fd, w->settled, end - w->settled,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                  SYNC_FILE_RANGE_WAIT_AFTER);
        w->settled = end;
    }
}

/* The sink's work, in the caller or (past BEHIND_AFTER) behind it. */
static int put_bytes(cb_blob_writer_t *w, const void *buf, size_t n, bool behind,
                     cb_error_t **err) {
    if (cb_write_all(w->fd, buf, n) < 0)
        return cb_error_set(err, errno, "write %s", w->tmp_path);
    if (w->hash)
        cb_sha256_update(w->hash, buf, n);
    w->on_file += (int64_t)n;
    start_writeback(w, behind);
    return 0;
}

static int behind_chunk(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    return put_bytes(ctx, buf, n, true, err);
}

int cb_blob_write(cb_blob_writer_t *w, const void *buf, size_t n, cb_error_t **err) {
    if (w->sealed || w->failed)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "blob writer used after seal or failure");
    /* Every layer, import and download goes through here. */
    if (cb_interrupt_check(err) < 0) {
        w->failed = true;
        return -1;
    }
    if (w->behind == NULL && w->size >= BEHIND_AFTER)
        w->behind = cb_behind_start(BEHIND_CHUNK, BEHIND_SLOTS, behind_chunk, w);
    int r = w->behind ? cb_behind_write(w->behind, buf, n, err) : put_bytes(w, buf, n, false, err);
    if (r < 0) {
        w->failed = true;
        return -1;
    }
    w->size += (int64_t)n;
    return 0;
}

int cb_blob_sink(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    return cb_blob_write(ctx, buf, n, err);
}

int64_t cb_blob_written(const cb_blob_writer_t *w) {
    return w->size;
}

static void discard_temp(cb_blob_writer_t *w) {
    cb_behind_abandon(cb_steal_pointer(&w->behind));
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp_path) {
        unlink(w->tmp_path);
        free(w->tmp_path);
        w->tmp_path = NULL;
    }
}

/* Whether the store's blob of w's digest holds exactly the bytes w wrote
 * (small blobs only: a RUN step's layer, a config, rebuilt as they were). */
static bool store_holds_same(const cb_blob_writer_t *w) {
    if (w->size > CB_BLOB_HOLDS_MAX || w->on_file != w->size)
        return false;
    cb_autofree char *final = cb_xasprintf("%s/%s", w->blobs_dir, w->digest + 7);
    struct stat st;
    if (stat(final, &st) < 0 || st.st_size != w->size)
        return false; /* a new blob (the usual case): nothing read */
    size_t n = (size_t)w->size, got = 0;
    cb_autofree char *mine = cb_xmalloc(n + 1);
    while (got < n) {
        ssize_t k = pread(w->fd, mine + got, n - got, (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return cb_file_holds(final, mine, n);
}

/* keep_same: a blob the store holds already is not fsync'd (commit then
 * drops it instead of renaming it over the same bytes). */
static int seal(cb_blob_writer_t *w, const char *expected_digest, int64_t expected_size, bool keep_same,
                char digest_out[CB_DIGEST_STR_LEN + 1], int64_t *size_out, cb_error_t **err) {
    if (w->failed)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "blob writer used after a failure");
    if (!w->sealed) {
        if (w->behind && cb_behind_finish(cb_steal_pointer(&w->behind), err) < 0) {
            w->failed = true;
            discard_temp(w);
            return -1;
        }
        if (w->hash) {
            cb_sha256_final(w->hash, w->digest);
        } else if (expected_digest && cb_digest_valid(expected_digest)) {
            memcpy(w->digest, expected_digest, sizeof w->digest);
        } else {
            w->failed = true;
            discard_temp(w);
            return cb_error_kind_set(err, CB_ERR_INTERNAL,
                                     "blob written unhashed but sealed without its digest");
        }
        w->sealed = true;
        w->same = keep_same && store_holds_same(w);
        if ((!w->same && fsync(w->fd) < 0) || close(w->fd) < 0) {
            int e = errno;
            w->fd = -1;
            w->failed = true;
            discard_temp(w);
            return cb_error_set(err, e, "fsync blob %s", w->digest);
        }
        w->fd = -1;
    }
    if (expected_size >= 0 && expected_size != w->size) {
        w->failed = true;
        discard_temp(w);
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "blob %s: size mismatch: expected %lld bytes, got %lld",
                                 expected_digest ? expected_digest : w->digest,
                                 (long long)expected_size, (long long)w->size);
    }
    if (expected_digest && strcmp(expected_digest, w->digest) != 0) {
        w->failed = true;
        discard_temp(w);
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "blob %s: digest mismatch: the content hashes to %s",
                                 expected_digest, w->digest);
    }
    if (digest_out)
        memcpy(digest_out, w->digest, sizeof w->digest);
    if (size_out)
        *size_out = w->size;
    return 0;
}

int cb_blob_seal(cb_blob_writer_t *w, const char *expected_digest, int64_t expected_size,
                 char digest_out[CB_DIGEST_STR_LEN + 1], int64_t *size_out, cb_error_t **err) {
    return seal(w, expected_digest, expected_size, false, digest_out, size_out, err);
}

int cb_blob_commit(cb_blob_writer_t *w, const char *expected_digest, int64_t expected_size,
                   char digest_out[CB_DIGEST_STR_LEN + 1], int64_t *size_out, cb_error_t **err) {
    int r = seal(w, expected_digest, expected_size, true, digest_out, size_out, err);
    if (r < 0) {
        cb_blob_abort(w);
        return r;
    }
    if (w->same) {
        /* The same bytes under the same name, durable since they were put
         * there: the temp goes before it was ever flushed, and no inode is
         * released (on a disk with online discard that waits for the
         * device). A damaged copy (other bytes) is still replaced. */
        cb_blob_abort(w);
        return 0;
    }
    cb_autofree char *final = cb_xasprintf("%s/%s", w->blobs_dir, w->digest + 7);
    /* rename(2) over an existing blob is atomic and, since the new bytes were
     * just verified, also repairs a copy that was damaged on disk. */
    if (rename(w->tmp_path, final) < 0) {
        int e = errno;
        cb_blob_abort(w);
        return cb_error_set(err, e, "publish blob %s", final);
    }
    free(w->tmp_path);
    w->tmp_path = NULL;
    /* The blob's bytes are on disk; its name is made durable by the fsync
     * of the blobs directory that precedes every index.json update (what
     * makes it part of an image), not once per blob. */
    cb_blob_abort(w);
    return 0;
}

void cb_blob_abort(cb_blob_writer_t *w) {
    if (w == NULL)
        return;
    discard_temp(w);
    cb_sha256_free(w->hash);
    free(w->blobs_dir);
    free(w);
}

bool cb_blob_holds(const cb_store_t *store, const char *digest, const void *data, size_t len) {
    if (len > CB_BLOB_HOLDS_MAX)
        return false;
    cb_autofree char *path = cb_store_blob_path(store, digest);
    return cb_file_holds(path, data, len);
}

int cb_blob_put(const cb_store_t *store, const void *data, size_t len,
                char digest_out[CB_DIGEST_STR_LEN + 1], cb_error_t **err) {
    /* Configs and manifests of a cached rebuild are mostly there already:
     * a read and compare is far cheaper than a write, two fsyncs and a
     * rename, and a damaged copy is still replaced. */
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(data, len, digest);
    if (cb_blob_holds(store, digest, data, len)) {
        if (digest_out)
            memcpy(digest_out, digest, sizeof digest);
        return 0;
    }
    cb_blob_writer_t *w;
    if (cb_blob_begin(store, &w, err) < 0)
        return -1;
    if (cb_blob_write(w, data, len, err) < 0) {
        cb_blob_abort(w);
        return -1;
    }
    return cb_blob_commit(w, NULL, -1, digest_out, NULL, err);
}

bool cb_blob_exists(const cb_store_t *store, const char *digest) {
    if (!cb_digest_valid(digest))
        return false;
    cb_autofree char *path = cb_store_blob_path(store, digest);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

struct cb_blob_reader {
    int fd;
    char *digest;
    int64_t size;
    int64_t seen;
    cb_sha256_t *hash;
    bool done;
};

int cb_blob_open_unverified(const cb_store_t *store, const char *digest, int64_t expected_size,
                            int *out, int64_t *size, cb_error_t **err) {
    if (!cb_digest_valid(digest))
        return cb_error_kind_set(err, CB_ERR_INPUT, "malformed digest \"%s\"", digest);
    cb_autofree char *path = cb_store_blob_path(store, digest);
    cb_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return cb_error_kind_set(err, CB_ERR_INPUT, "blob %s is missing from %s", digest,
                                     store->dir);
        return cb_error_set(err, errno, "open blob %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cb_error_set(err, errno, "stat blob %s", path);
    if (!S_ISREG(st.st_mode))
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "blob %s is not a regular file", digest);
    if (expected_size >= 0 && st.st_size != expected_size)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "blob %s is corrupt: %lld bytes, expected %lld", digest,
                                 (long long)st.st_size, (long long)expected_size);
    if (size)
        *size = st.st_size;
    *out = cb_steal_fd(&fd);
    return 0;
}

int cb_blob_open(const cb_store_t *store, const char *digest, int64_t expected_size,
                 cb_blob_reader_t **out, cb_error_t **err) {
    int fd;
    int64_t size;
    if (cb_blob_open_unverified(store, digest, expected_size, &fd, &size, err) < 0)
        return -1;
    cb_blob_reader_t *r = cb_xcalloc(1, sizeof *r);
    r->fd = fd;
    r->digest = cb_xstrdup(digest);
    r->size = size;
    r->hash = cb_sha256_new();
    *out = r;
    return 0;
}

ssize_t cb_blob_read(cb_blob_reader_t *r, void *buf, size_t n, cb_error_t **err) {
    if (r->done)
        return 0;
    ssize_t k;
    do
        k = read(r->fd, buf, n);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return cb_error_set(err, errno, "read blob %s", r->digest);
    if (k > 0) {
        cb_sha256_update(r->hash, buf, (size_t)k);
        r->seen += k;
        return k;
    }
    r->done = true;
    char got[CB_DIGEST_STR_LEN + 1];
    cb_sha256_final(r->hash, got);
    if (r->seen != r->size || strcmp(got, r->digest) != 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "blob %s is corrupt: its content hashes to %s", r->digest, got);
    return 0;
}

void cb_blob_close(cb_blob_reader_t *r) {
    if (r == NULL)
        return;
    close(r->fd);
    cb_sha256_free(r->hash);
    free(r->digest);
    free(r);
}

int cb_blob_read_all(const cb_store_t *store, const char *digest, int64_t expected_size,
                     size_t max, char **data, size_t *len, cb_error_t **err) {
    cb_autoblobreader cb_blob_reader_t *r = NULL;
    if (cb_blob_open(store, digest, expected_size, &r, err) < 0)
        return -1;
    if ((uint64_t)r->size > max)
        return cb_error_kind_set(err, CB_ERR_INPUT, "blob %s: %lld bytes is more than the %zu allowed",
                                 digest, (long long)r->size, max);
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    cb_buf_reserve(&b, (size_t)r->size + 1);
    for (;;) {
        char chunk[65536];
        ssize_t k = cb_blob_read(r, chunk, sizeof chunk, err);
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        if (b.len + (size_t)k > max)
            return cb_error_kind_set(err, CB_ERR_INTEGRITY, "blob %s grew while being read", digest);
        cb_buf_add(&b, chunk, (size_t)k);
    }
    *len = b.len;
    *data = cb_buf_steal(&b);
    return 0;
}

int cb_blob_copy_to(const cb_store_t *store, const char *digest, int64_t expected_size,
                    cb_sink_fn sink, void *ctx, cb_error_t **err) {
    cb_autoblobreader cb_blob_reader_t *r = NULL;
    if (cb_blob_open(store, digest, expected_size, &r, err) < 0)
        return -1;
    cb_autofree char *chunk = cb_xmalloc(1 << 17);
    for (;;) {
        ssize_t k = cb_blob_read(r, chunk, 1 << 17, err);
        if (k < 0)
            return -1;
        if (k == 0)
            return 0;
        if (sink(ctx, chunk, (size_t)k, err) < 0)
            return -1;
    }
}

int cb_blob_fill_from_fd(cb_blob_writer_t *w, int fd, const char *what, cb_error_t **err) {
    cb_autofree char *chunk = cb_xmalloc(1 << 17);
    for (;;) {
        ssize_t k = read(fd, chunk, 1 << 17);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return cb_error_set(err, errno, "read %s", what);
        }
        if (k == 0)
            return 0;
        if (cb_blob_write(w, chunk, (size_t)k, err) < 0)
            return -1;
    }
}
