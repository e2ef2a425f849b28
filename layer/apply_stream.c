/* The stream side of applying: source -> libarchive decompression ("raw"
 * format, so the decompressed bytes come out as data) -> sha256 for the
 * diff_id -> the tar reader of apply.c. Two readers because the tar reader
 * never shows the decompressed bytes it consumed.
 *
 * Reading the source, decompressing and hashing run in a thread of their
 * own, a few chunks ahead of the tar reader, so that inflating layer bytes
 * and writing the files they hold (apply_entry.c, mostly system calls)
 * overlap. The chunks are a fixed ring: memory does not grow with the
 * layer. Without the thread (pthread_create failed) the tar reader's thread
 * decompresses each chunk when it needs it, as before. */
#include "layer/apply_private.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "layer/archive_error.h"

/* Four chunks of 256 KiB: the producer can be three ahead (the tar reader
 * holds the fourth), enough to ride over a large file's writes; large
 * enough that handing chunks over costs little next to filling them. */
#define RING 4
#define CHUNK (256 * 1024)

struct cb_apply_stream {
    cb_layer_source_fn source;
    void *source_ctx;
    uint64_t max_size;
    struct archive *outer;
    cb_sha256_t *hash;
    uint64_t size;      /* decompressed bytes so far (producer) */
    bool over;          /* more than max_size came: the next read fails */
    uint64_t in_size;   /* bytes from the source, compressed (producer) */
    cb_error_t *p_err;  /* the producer's failure: source, decompression, limit */

    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t head, count;  /* filled chunks, head first; the reader holds head */
    bool held;           /* the reader still uses chunk head */
    bool done, failed;   /* the producer reached the end, or failed */
    bool stop;           /* the reader gives up: the producer must end */
    size_t len[RING];
    unsigned char *buf[RING];
    unsigned char in[CB_APPLY_CHUNK];
};

static la_ssize_t outer_read(struct archive *a, void *ctx, const void **buf) {
    cb_apply_stream_t *s = ctx;
    size_t got = 0;
    if (s->source(s->source_ctx, s->in, sizeof s->in, &got, &s->p_err) < 0) {
        archive_set_error(a, EIO, "layer source failed");
        return -1;
    }
    s->in_size += got;
    *buf = s->in;
    return (la_ssize_t)got;
}

static la_ssize_t over_limit(cb_apply_stream_t *s) {
    return cb_error_kind_set(&s->p_err, CB_ERR_INTEGRITY,
                             "layer is larger than the limit of %llu uncompressed bytes",
                             (unsigned long long)s->max_size);
}

/* Decompresses the next chunk into dst: its length, 0 at the end, or -1
 * with s->p_err set. */
static la_ssize_t produce(cb_apply_stream_t *s, unsigned char *dst) {
    if (s->over)
        return over_limit(s);
    /* Near the limit, one byte past it is enough to know: decompressing
     * further (or into what follows the stream) is not. */
    size_t want = CHUNK;
    if (s->max_size && s->max_size - s->size < want)
        want = (size_t)(s->max_size - s->size) + 1;
    la_ssize_t n = archive_read_data(s->outer, dst, want);
    if (n < 0) {
        cb_layer_archive_error(&s->p_err, s->outer, "decompressing layer");
        return -1;
    }
    /* The bytes up to the limit still go to the tar reader first (an entry
     * whose header alone claims too much is named that way); the next read
     * fails. */
    if (s->max_size && (uint64_t)n > s->max_size - s->size) {
        n = (la_ssize_t)(s->max_size - s->size);
        s->over = true;
        if (n == 0)
            return over_limit(s);
    }
    s->size += (uint64_t)n;
    cb_sha256_update(s->hash, dst, (size_t)n);
    return n;
}

static void *producer(void *arg) {
    cb_apply_stream_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->count == RING && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop)
            break;
        size_t slot = (s->head + s->count) % RING;
        /* The slot is free (the reader has released it): fill it unlocked. */
        pthread_mutex_unlock(&s->mu);
        la_ssize_t n = produce(s, s->buf[slot]);
        pthread_mutex_lock(&s->mu);
        if (n < 0) {
            s->failed = true;
        } else if (n == 0) {
            s->done = true;
        } else {
            s->len[slot] = (size_t)n;
            s->count++;
        }
        pthread_cond_broadcast(&s->cv);
        if (n <= 0)
            break;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static const char *filter_name(int code) {
    switch (code) {
    case ARCHIVE_FILTER_NONE:
        return "none";
    case ARCHIVE_FILTER_GZIP:
        return "gzip";
    case ARCHIVE_FILTER_ZSTD:
        return "zstd";
    case ARCHIVE_FILTER_BZIP2:
        return "bzip2";
    case ARCHIVE_FILTER_XZ:
        return "xz";
    case ARCHIVE_FILTER_LZMA:
        return "lzma";
    default:
        return "unknown";
    }
}

int cb_apply_stream_open(cb_layer_source_fn source, void *source_ctx, uint64_t max_size,
                         cb_apply_stream_t **out, const char **compression, cb_error_t **err) {
    cb_apply_stream_t *s = cb_xcalloc(1, sizeof *s);
    s->source = source;
    s->source_ctx = source_ctx;
    s->max_size = max_size;
    s->hash = cb_sha256_new();
    *out = s;
    s->outer = archive_read_new();
    if (s->outer == NULL)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "libarchive: out of memory");
    archive_read_support_filter_gzip(s->outer);
    archive_read_support_filter_zstd(s->outer);
    archive_read_support_filter_bzip2(s->outer);
    archive_read_support_filter_xz(s->outer);
    archive_read_support_filter_lzma(s->outer);
    archive_read_support_format_raw(s->outer);
    struct archive_entry *e;
    int r = archive_read_open(s->outer, s, NULL, outer_read, NULL);
    if (r == ARCHIVE_OK)
        r = archive_read_next_header(s->outer, &e);
    if ((r == ARCHIVE_EOF || r == ARCHIVE_FATAL) && s->in_size == 0 && s->p_err == NULL)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "layer is empty (not even a tar end marker)");
    if (r != ARCHIVE_OK) {
        if (s->p_err) {
            cb_error_free(*err);
            *err = cb_steal_pointer(&s->p_err);
            return cb_error_wrap(err, "reading layer");
        }
        return cb_layer_archive_error(err, s->outer, "reading layer");
    }
    *compression = filter_name(archive_filter_code(s->outer, 0));
    for (size_t i = 0; i < RING; i++)
        s->buf[i] = cb_xmalloc(CHUNK);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->threaded = pthread_create(&s->thread, NULL, producer, s) == 0;
    return 0;
}

/* Synchronous fallback: the reader's thread fills chunk 0 itself. */
static la_ssize_t read_inline(cb_apply_stream_t *s, const void **buf, cb_error_t **cause) {
    if (s->failed || s->done)
        return s->failed ? -1 : 0;
    la_ssize_t n = produce(s, s->buf[0]);
    if (n < 0) {
        s->failed = true;
        *cause = cb_steal_pointer(&s->p_err);
    } else if (n == 0) {
        s->done = true;
    }
    *buf = s->buf[0];
    return n;
}

la_ssize_t cb_apply_stream_read(cb_apply_stream_t *s, const void **buf, cb_error_t **cause) {
    if (!s->threaded)
        return read_inline(s, buf, cause);
    pthread_mutex_lock(&s->mu);
    if (s->held) { /* libarchive is done with the chunk it had */
        s->held = false;
        s->head = (s->head + 1) % RING;
        s->count--;
        pthread_cond_broadcast(&s->cv);
    }
    while (s->count == 0 && !s->done && !s->failed)
        pthread_cond_wait(&s->cv, &s->mu);
    la_ssize_t n = 0;
    if (s->count > 0) {
        s->held = true;
        *buf = s->buf[s->head];
        n = (la_ssize_t)s->len[s->head];
    } else if (s->failed) {
        /* The producer has ended: its error is the reader's now. */
        *cause = cb_steal_pointer(&s->p_err);
        n = -1;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

uint64_t cb_apply_stream_finish(cb_apply_stream_t *s, char diff_id[CB_DIGEST_STR_LEN + 1]) {
    if (s->threaded) {
        pthread_join(s->thread, NULL);
        s->threaded = false;
    }
    cb_sha256_final(s->hash, diff_id);
    return s->size;
}

void cb_apply_stream_free(cb_apply_stream_t *s) {
    if (s == NULL)
        return;
    if (s->threaded) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    if (s->buf[0]) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    for (size_t i = 0; i < RING; i++)
        free(s->buf[i]);
    if (s->outer)
        archive_read_free(s->outer);
    cb_sha256_free(s->hash);
    cb_error_free(s->p_err);
    free(s);
}
