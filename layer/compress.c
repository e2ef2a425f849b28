#include "layer/compress.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/util.h"

#define OUT_CHUNK (64 * 1024)

struct cb_layer_compressor {
    cb_layer_compression_t method;
    cb_layer_sink_fn sink;
    void *sink_ctx;
    cb_sha256_t *hash;
    uint64_t size;
    bool finished;
    char digest[CB_DIGEST_STR_LEN + 1];
    z_stream z;
    bool z_live;
    ZSTD_CCtx *zs;
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

static int emit(cb_layer_compressor_t *c, const void *buf, size_t n, cb_error_t **err) {
    if (n == 0)
        return 0;
    cb_sha256_update(c->hash, buf, n);
    c->size += n;
    return c->sink(c->sink_ctx, buf, n, err);
}

int cb_layer_compressor_new(cb_layer_compressor_t **out, cb_layer_compression_t method, int level,
                            cb_layer_sink_fn sink, void *sink_ctx, cb_error_t **err) {
    cb_layer_compressor_t *c = cb_xcalloc(1, sizeof *c);
    c->method = method;
    c->sink = sink;
    c->sink_ctx = sink_ctx;
    c->hash = cb_sha256_new();
    if (method == CB_LAYER_GZIP) {
        /* windowBits 15 + 16: a gzip wrapper whose header zlib fills with
         * mtime 0 and no file name, so the bytes depend on the input only. */
        int r = deflateInit2(&c->z, level ? level : 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        if (r != Z_OK) {
            cb_layer_compressor_free(c);
            return cb_error_kind_set(err, CB_ERR_LIBRARY, "gzip: deflateInit2 failed (%d)", r);
        }
        c->z_live = true;
    } else if (method == CB_LAYER_ZSTD) {
        c->zs = ZSTD_createCCtx();
        size_t r = c->zs ? ZSTD_CCtx_setParameter(c->zs, ZSTD_c_compressionLevel, level ? level : 3)
                         : 0;
        if (c->zs && !ZSTD_isError(r))
            r = ZSTD_CCtx_setParameter(c->zs, ZSTD_c_checksumFlag, 1);
        if (c->zs == NULL || ZSTD_isError(r)) {
            const char *why = c->zs ? ZSTD_getErrorName(r) : "out of memory";
            cb_layer_compressor_free(c);
            return cb_error_kind_set(err, CB_ERR_LIBRARY, "zstd: cannot set up compressor: %s", why);
        }
    }
    *out = c;
    return 0;
}

static int gzip_run(cb_layer_compressor_t *c, const void *buf, size_t n, int flush,
                    cb_error_t **err) {
    c->z.next_in = (Bytef *)buf;
    c->z.avail_in = (uInt)n;
    for (;;) {
        c->z.next_out = c->out;
        c->z.avail_out = OUT_CHUNK;
        int r = deflate(&c->z, flush);
        if (r == Z_STREAM_ERROR)
            return cb_error_kind_set(err, CB_ERR_LIBRARY, "gzip: deflate failed");
        if (emit(c, c->out, OUT_CHUNK - c->z.avail_out, err) < 0)
            return -1;
        if (flush == Z_FINISH ? r == Z_STREAM_END : c->z.avail_out != 0)
            return 0;
    }
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

int cb_layer_compressor_write(cb_layer_compressor_t *c, const void *buf, size_t n,
                              cb_error_t **err) {
    /* zlib counts in uInt: feed huge writes in slices. */
    const unsigned char *p = buf;
    while (n > 0) {
        size_t k = n > (1u << 30) ? (1u << 30) : n;
        int r;
        if (c->method == CB_LAYER_GZIP)
            r = gzip_run(c, p, k, Z_NO_FLUSH, err);
        else if (c->method == CB_LAYER_ZSTD)
            r = zstd_run(c, p, k, ZSTD_e_continue, err);
        else
            r = emit(c, p, k, err);
        if (r < 0)
            return -1;
        p += k;
        n -= k;
    }
    return 0;
}

int cb_layer_compressor_finish(cb_layer_compressor_t *c, cb_error_t **err) {
    if (c->finished)
        return 0;
    int r = 0;
    if (c->method == CB_LAYER_GZIP)
        r = gzip_run(c, NULL, 0, Z_FINISH, err);
    else if (c->method == CB_LAYER_ZSTD)
        r = zstd_run(c, NULL, 0, ZSTD_e_end, err);
    if (r < 0)
        return -1;
    cb_sha256_final(c->hash, c->digest);
    c->finished = true;
    return 0;
}

uint64_t cb_layer_compressor_size(const cb_layer_compressor_t *c) {
    return c->size;
}

void cb_layer_compressor_digest(cb_layer_compressor_t *c, char out[CB_DIGEST_STR_LEN + 1]) {
    memcpy(out, c->digest, sizeof c->digest);
}

void cb_layer_compressor_free(cb_layer_compressor_t *c) {
    if (c == NULL)
        return;
    if (c->z_live)
        deflateEnd(&c->z);
    ZSTD_freeCCtx(c->zs);
    cb_sha256_free(c->hash);
    free(c);
}
