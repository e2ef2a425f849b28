#include "layer/compress.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/behind.h"
#include "common/util.h"
#include "layer/pgzip.h"

#define OUT_CHUNK (64 * 1024)
/* 2 MiB jobs instead of libzstd's default (8 MiB at level 3): with 2
 * workers the buffers in flight fall from ~80 to ~32 MiB of peak RSS for a
 * 0.07 % larger blob (layer/README.md). Fixed, so the bytes stay the same
 * for any worker count. */
#define ZSTD_JOB_SIZE (2 << 20)
#define ZSTD_IN_SLICE (64 * 1024)

/* zstd runs behind the caller (common/behind.h): past FEED_AFTER bytes, its
 * input is copied into FEED_SLOTS chunks and a thread of the compressor's
 * own feeds libzstd (whose workers compress), hashes the output and calls
 * the sink. libzstd lets its caller run about one 2 MiB job ahead of its
 * two workers, and that caller was the layer writer, which also reads
 * files, builds the tar and hashes it: each waited on the other (perf
 * sched: the writer ~0.6 s and each worker ~0.8 s asleep in a 500 MB
 * layer). The ring lets the writer run 4 MiB ahead, and the output's
 * hashing and writing leave its thread. A small stream (most RUN layers)
 * never starts the thread. */
#define FEED_AFTER (1 << 20)
#define FEED_CHUNK (1 << 20)
#define FEED_SLOTS 4

struct cb_layer_compressor {
    cb_layer_compression_t method;
    cb_layer_sink_fn sink;
    void *sink_ctx;
    cb_sha256_t *hash;
    cb_sha256_t *in_hash; /* of the input: the layer's diff_id */
    uint64_t size;
    bool finished;
    char digest[CB_DIGEST_STR_LEN + 1];
    char in_digest[CB_DIGEST_STR_LEN + 1];
    cb_pgzip_t *gz;
    ZSTD_CCtx *zs;
    cb_behind_t *feed;
    uint64_t in_size; /* zstd: bytes written so far */
    unsigned char out[OUT_CHUNK];
};

const char *cb_layer_media_suffix(cb_layer_compression_t c) {
    switch (c) {
    case CB_LAYER_GZIP:
        return "+gzip";
    case CB_LAYER_ZSTD:
        return "+zstd";
    default:
        return "";
    }
}

const char *cb_layer_compression_name(cb_layer_compression_t c) {
    switch (c) {
    case CB_LAYER_GZIP:
        return "gzip";
    case CB_LAYER_ZSTD:
        return "zstd";
    default:
        return "none";
    }
}

int cb_layer_compression_parse(const char *s, cb_layer_compression_t *out, cb_error_t **err) {
    if (cb_str_ieq(s, "gzip"))
        *out = CB_LAYER_GZIP;
    else if (cb_str_ieq(s, "zstd"))
        *out = CB_LAYER_ZSTD;
    else if (cb_str_ieq(s, "none") || cb_str_ieq(s, "uncompressed"))
        *out = CB_LAYER_UNCOMPRESSED;
    else
        return cb_error_set(err, 0, "unknown compression '%s' (expected gzip, zstd or none)", s);
    return 0;
}

/* Every byte for the sink passes here: the blob digest and size. */
static int emit(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    cb_layer_compressor_t *c = ctx;
    if (n == 0)
        return 0;
    cb_sha256_update(c->hash, buf, n);
    c->size += n;
    return c->sink(c->sink_ctx, buf, n, err);
}

int cb_layer_compress_threads(int *out, cb_error_t **err) {
    const char *env = getenv("CBUILD_JOBS");
    if (env && *env) {
        char *end;
        errno = 0;
        long n = strtol(env, &end, 10);
        if (errno || *end || n < 1)
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "CBUILD_JOBS='%s': expected a positive number of threads", env);
        *out = n > CB_PGZIP_MAX_THREADS ? CB_PGZIP_MAX_THREADS : (int)n;
        return 0;
    }
    /* The CPUs we may run on (as nproc counts them), not all the host has. */
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                         : sysconf(_SC_NPROCESSORS_ONLN);
    *out = n < 1 ? 1 : n > CB_PGZIP_MAX_THREADS ? CB_PGZIP_MAX_THREADS : (int)n;
    return 0;
}

/* nbWorkers >= 1 even for one thread: libzstd's multithreaded format is
 * the same for any worker count but differs from its single-threaded one,
 * so the blob digest would otherwise depend on the CPU count. The job size
 * is fixed for the same reason and to bound memory. */
static int zstd_setup(cb_layer_compressor_t *c, int level, int threads, cb_error_t **err) {
    c->zs = ZSTD_createCCtx();
    if (c->zs == NULL)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "zstd: cannot create a compressor");
    struct {
        ZSTD_cParameter p;
        int v;
        const char *name;
    } params[] = {
        {ZSTD_c_compressionLevel, level ? level : 3, "level"},
        {ZSTD_c_checksumFlag, 1, "checksum"},
        {ZSTD_c_nbWorkers, threads, "workers"},
        {ZSTD_c_jobSize, ZSTD_JOB_SIZE, "job size"},
    };
    for (size_t i = 0; i < CB_ARRAY_LEN(params); i++) {
        size_t r = ZSTD_CCtx_setParameter(c->zs, params[i].p, params[i].v);
        if (ZSTD_isError(r))
            return cb_error_kind_set(err, CB_ERR_LIBRARY, "zstd: cannot set %s %d: %s",
                                     params[i].name, params[i].v, ZSTD_getErrorName(r));
    }
    return 0;
}

int cb_layer_compressor_new(cb_layer_compressor_t **out, cb_layer_compression_t method, int level,
                            cb_layer_sink_fn sink, void *sink_ctx, cb_error_t **err) {
    int threads = 1;
    if (method != CB_LAYER_UNCOMPRESSED && cb_layer_compress_threads(&threads, err) < 0)
        return -1;
    cb_layer_compressor_t *c = cb_xcalloc(1, sizeof *c);
    c->method = method;
    c->sink = sink;
    c->sink_ctx = sink_ctx;
    c->hash = cb_sha256_new();
    if (method != CB_LAYER_UNCOMPRESSED)
        c->in_hash = cb_sha256_new();
    int r = 0;
    if (method == CB_LAYER_GZIP)
        r = cb_pgzip_new(&c->gz, level ? level : 6, threads, emit, c, err);
    else if (method == CB_LAYER_ZSTD)
        r = zstd_setup(c, level, threads, err);
    if (r < 0) {
        cb_layer_compressor_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

static int zstd_run(cb_layer_compressor_t *c, const void *buf, size_t n, ZSTD_EndDirective mode,
                    cb_error_t **err) {
    ZSTD_inBuffer in = {buf, n, 0};
    for (;;) {
        ZSTD_outBuffer o = {c->out, OUT_CHUNK, 0};
        size_t left = ZSTD_compressStream2(c->zs, &o, &in, mode);
        if (ZSTD_isError(left))
            return cb_error_kind_set(err, CB_ERR_LIBRARY, "zstd: %s", ZSTD_getErrorName(left));
        if (emit(c, c->out, o.pos, err) < 0)
            return -1;
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return 0;
    }
}

/* At most ZSTD_IN_SLICE per call: handed a whole job's worth or more at
 * once, libzstd 1.5.4 with 1 or 2 workers cuts the frame differently than
 * when fed in pieces (test_compressor_zstd_jobs). */
static int zstd_feed_bytes(cb_layer_compressor_t *c, const unsigned char *p, size_t n,
                           cb_error_t **err) {
    while (n > 0) {
        size_t k = n < ZSTD_IN_SLICE ? n : ZSTD_IN_SLICE;
        if (zstd_run(c, p, k, ZSTD_e_continue, err) < 0)
            return -1;
        p += k;
        n -= k;
    }
    return 0;
}

/* Every input byte passes here once, in order: in the feeder thread once
 * it runs, so the input's sha256 (the diff_id, 0.3 CPU-s of a 535 MB tar)
 * leaves the producer, which otherwise keeps the workers waiting on a
 * stretch of small files (layer/README.md). */
static int zstd_take(cb_layer_compressor_t *c, const void *buf, size_t n, cb_error_t **err) {
    cb_sha256_update(c->in_hash, buf, n);
    return zstd_feed_bytes(c, buf, n, err);
}

static int feed_chunk(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    return zstd_take(ctx, buf, n, err);
}

static int zstd_write(cb_layer_compressor_t *c, const void *buf, size_t n, cb_error_t **err) {
    if (c->feed == NULL && c->in_size >= FEED_AFTER)
        c->feed = cb_behind_start(FEED_CHUNK, FEED_SLOTS, feed_chunk, c);
    c->in_size += n;
    return c->feed ? cb_behind_write(c->feed, buf, n, err) : zstd_take(c, buf, n, err);
}

/* The thread's last chunks, then the frame's end here. */
static int zstd_finish(cb_layer_compressor_t *c, cb_error_t **err) {
    if (c->feed && cb_behind_finish(cb_steal_pointer(&c->feed), err) < 0)
        return -1;
    return zstd_run(c, NULL, 0, ZSTD_e_end, err);
}

int cb_layer_compressor_write(cb_layer_compressor_t *c, const void *buf, size_t n,
                              cb_error_t **err) {
    if (c->method == CB_LAYER_GZIP) {
        cb_sha256_update(c->in_hash, buf, n);
        return cb_pgzip_write(c->gz, buf, n, err);
    }
    if (c->method == CB_LAYER_ZSTD)
        return zstd_write(c, buf, n, err);
    return emit(c, buf, n, err);
}

int cb_layer_compressor_finish(cb_layer_compressor_t *c, cb_error_t **err) {
    if (c->finished)
        return 0;
    int r = 0;
    if (c->method == CB_LAYER_GZIP)
        r = cb_pgzip_finish(c->gz, err);
    else if (c->method == CB_LAYER_ZSTD)
        r = zstd_finish(c, err);
    if (r < 0)
        return -1;
    cb_sha256_final(c->hash, c->digest);
    if (c->in_hash)
        cb_sha256_final(c->in_hash, c->in_digest);
    else
        memcpy(c->in_digest, c->digest, sizeof c->digest); /* none: input is output */
    c->finished = true;
    return 0;
}

uint64_t cb_layer_compressor_size(const cb_layer_compressor_t *c) {
    return c->size;
}

void cb_layer_compressor_digest(cb_layer_compressor_t *c, char out[CB_DIGEST_STR_LEN + 1]) {
    memcpy(out, c->digest, sizeof c->digest);
}

void cb_layer_compressor_input_digest(cb_layer_compressor_t *c, char out[CB_DIGEST_STR_LEN + 1]) {
    memcpy(out, c->in_digest, sizeof c->in_digest);
}

void cb_layer_compressor_free(cb_layer_compressor_t *c) {
    if (c == NULL)
        return;
    cb_pgzip_free(c->gz);
    cb_behind_abandon(c->feed); /* before the context it feeds */
    ZSTD_freeCCtx(c->zs);
    cb_sha256_free(c->hash);
    cb_sha256_free(c->in_hash);
    free(c);
}
