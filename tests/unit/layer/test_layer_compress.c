/* Compressed layers checked with the libraries themselves (the gzip -t /
 * zstd -t of this suite): the stream is complete and its checksum right, it
 * decompresses to the tar whose sha256 is the diff_id, the blob digest is
 * the sha256 of the compressed bytes, and equal input gives equal bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "layer/compress.h"
#include "layer/writer.h"
#include "layer_test_util.h"

/* Enough entries and data to need many output chunks. */
static void make_layer(cb_layer_compression_t c, int level, cb_buf_t *out, cb_layer_result_t *res) {
    cb_autoerr cb_error_t *err = NULL;
    cb_autolayerwriter cb_layer_writer_t *w = NULL;
    cb_layer_writer_opts_t opts = {.compression = c, .level = level};
    assert_int_equal(cb_layer_writer_new(&w, &opts, buf_sink, out, &err), 0);
    cb_autobuf cb_buf_t data = CB_BUF_INIT;
    unsigned x = 12345;
    for (int i = 0; i < 150000; i++) {
        x = x * 1103515245u + 12345u;
        cb_buf_putc(&data, (char)('a' + (x >> 16) % 7));
    }
    for (int i = 0; i < 10; i++) {
        cb_autofree char *name = cb_xasprintf("data/file%02d", i);
        assert_int_equal(cb_layer_add_file_data(w, name, data.data, data.len - (size_t)i * 1000,
                                                NULL, &err),
                         0);
    }
    assert_int_equal(cb_layer_writer_finish(w, res, &err), 0);
}

static void check_digests(const cb_buf_t *blob, const cb_buf_t *tar, const cb_layer_result_t *r) {
    char d[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(blob->data, blob->len, d);
    assert_string_equal(r->digest, d);
    assert_int_equal(r->size, blob->len);
    cb_sha256_digest(tar->data, tar->len, d);
    assert_string_equal(r->diff_id, d);
    assert_int_equal(r->tar_size, tar->len);
    cb_autostrv cb_strv_t lines = CB_STRV_INIT;
    tar_list(tar, &lines);
    assert_int_equal(lines.len, 10);
}

static void test_gzip(void **state) {
    (void)state;
    cb_autobuf cb_buf_t blob = CB_BUF_INIT, again = CB_BUF_INIT, tar = CB_BUF_INIT;
    cb_layer_result_t r, r2;
    make_layer(CB_LAYER_GZIP, 0, &blob, &r);
    assert_string_equal(r.media_suffix, "+gzip");
    /* gzip header: magic, deflate, no flags (no name), mtime 0. */
    assert_true(blob.len > 20);
    assert_memory_equal(blob.data, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);

    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)blob.data;
    z.avail_in = (uInt)blob.len;
    unsigned char out[65536];
    int rc;
    /* Several members (layer/pgzip.h): each stream end means that member's
     * CRC32 and length trailer matched; the last one ends the blob. */
    do {
        z.next_out = out;
        z.avail_out = sizeof out;
        rc = inflate(&z, Z_NO_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        cb_buf_add(&tar, out, sizeof out - z.avail_out);
        if (rc == Z_STREAM_END && z.avail_in > 0) {
            assert_int_equal(inflateReset(&z), Z_OK);
            rc = Z_OK;
        }
    } while (rc != Z_STREAM_END);
    assert_int_equal(z.avail_in, 0);
    inflateEnd(&z);
    check_digests(&blob, &tar, &r);

    make_layer(CB_LAYER_GZIP, 0, &again, &r2);
    assert_int_equal(blob.len, again.len);
    assert_memory_equal(blob.data, again.data, blob.len);
    /* Level changes the blob, never the tar. */
    cb_autobuf cb_buf_t fast = CB_BUF_INIT;
    cb_layer_result_t r3;
    make_layer(CB_LAYER_GZIP, 1, &fast, &r3);
    assert_string_equal(r3.diff_id, r.diff_id);
    assert_string_not_equal(r3.digest, r.digest);
}

static void test_zstd(void **state) {
    (void)state;
    cb_autobuf cb_buf_t blob = CB_BUF_INIT, again = CB_BUF_INIT, tar = CB_BUF_INIT;
    cb_layer_result_t r, r2;
    make_layer(CB_LAYER_ZSTD, 0, &blob, &r);
    assert_string_equal(r.media_suffix, "+zstd");
    ZSTD_DCtx *d = ZSTD_createDCtx();
    ZSTD_inBuffer in = {blob.data, blob.len, 0};
    unsigned char out[65536];
    size_t left = 1;
    while (in.pos < in.size || left != 0) {
        ZSTD_outBuffer o = {out, sizeof out, 0};
        left = ZSTD_decompressStream(d, &o, &in);
        assert_false(ZSTD_isError(left)); /* includes the content checksum */
        cb_buf_add(&tar, out, o.pos);
        if (o.pos == 0 && in.pos == in.size && left != 0)
            fail_msg("zstd frame truncated");
    }
    ZSTD_freeDCtx(d);
    check_digests(&blob, &tar, &r);
    make_layer(CB_LAYER_ZSTD, 0, &again, &r2);
    assert_string_equal(r.digest, r2.digest);
    assert_int_equal(blob.len, again.len);
    assert_memory_equal(blob.data, again.data, blob.len);
}

static void test_uncompressed_and_names(void **state) {
    (void)state;
    cb_autobuf cb_buf_t blob = CB_BUF_INIT;
    cb_layer_result_t r;
    make_layer(CB_LAYER_UNCOMPRESSED, 0, &blob, &r);
    check_digests(&blob, &blob, &r);
    assert_string_equal(r.digest, r.diff_id);
    /* Written in larger blocks than a compressed layer's tar (writer.c),
     * yet the same tar: the same diff_id, padded to 10240 bytes. */
    assert_true(blob.len > 1024000);
    assert_int_equal(blob.len % 10240, 0);
    cb_autobuf cb_buf_t gz = CB_BUF_INIT;
    cb_layer_result_t rg;
    make_layer(CB_LAYER_GZIP, 0, &gz, &rg);
    assert_string_equal(rg.diff_id, r.diff_id);
    assert_int_equal(rg.tar_size, r.tar_size);

    cb_autoerr cb_error_t *err = NULL;
    cb_layer_compression_t c;
    assert_int_equal(cb_layer_compression_parse("zstd", &c, &err), 0);
    assert_int_equal(c, CB_LAYER_ZSTD);
    assert_int_equal(cb_layer_compression_parse("GZIP", &c, &err), 0);
    assert_int_equal(c, CB_LAYER_GZIP);
    assert_int_equal(cb_layer_compression_parse("none", &c, &err), 0);
    assert_int_equal(c, CB_LAYER_UNCOMPRESSED);
    assert_true(cb_layer_compression_parse("lz4", &c, &err) < 0);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "'lz4'"));
    assert_string_equal(cb_layer_compression_name(CB_LAYER_ZSTD), "zstd");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_zstd),
        cmocka_unit_test(test_uncompressed_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
