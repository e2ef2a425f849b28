/* layer/pgzip.c (parallel deterministic gzip on libdeflate) and the layer
 * compressor on top of it (layer/compress.c: pgzip for gzip, libzstd's
 * multithreaded mode for zstd, thread count from CBUILD_JOBS).
 *
 * Judged by zlib, libzstd, libarchive, Python's gzip module and `gzip -t`:
 * the output is a series of complete gzip members (one per run of alike
 * segments of each 1 MiB block) that inflate, joined, to the input, each with
 * the right CRC32 and ISIZE; and the bytes depend on the input only, never on
 * the thread count or on how the writes were cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <archive.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/util.h"
#include "layer/compress.h"
#include "layer/pgzip.h"

#define BLOCK ((size_t)CB_PGZIP_BLOCK)

static const int thread_counts[] = {1, 2, 3, 4, 7};

/* ---- deterministic inputs ---------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
    /* splitmix64: fixed seed, same bytes on every machine */
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Source-like text: words from a small vocabulary, lines, indentation. */
static void gen_text(cb_buf_t *b, size_t n, uint64_t seed) {
    static const char *const words[] = {
        "int",   "return", "if",     "else", "static", "const", "char", "*buf", "size_t",
        "err",   "(void)", "NULL",   "for",  "while",  "{",     "}",    ";",    "cb_buf_add",
        "len",   "==",     "0",      "1",    "+=",     "->",    "data", "next", "struct"};
    uint64_t s = seed;
    size_t start = b->len;
    while (b->len - start < n) {
        uint64_t r = rng_next(&s);
        if (r % 11 == 0)
            cb_buf_puts(b, "\n    ");
        cb_buf_puts(b, words[(r >> 8) % CB_ARRAY_LEN(words)]);
        cb_buf_putc(b, ' ');
    }
    cb_buf_truncate(b, start + n);
}

static void gen_random(cb_buf_t *b, size_t n, uint64_t seed) {
    uint64_t s = seed;
    cb_buf_reserve(b, n);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = rng_next(&s);
        size_t k = n - i < 8 ? n - i : 8;
        cb_buf_add(b, &r, k);
    }
}

/* Text and random data in stretches that do not line up with blocks. */
static void gen_mixed(cb_buf_t *b, size_t n, uint64_t seed) {
    uint64_t s = seed;
    size_t start = b->len;
    while (b->len - start < n) {
        size_t k = 1000 + rng_next(&s) % (BLOCK / 2);
        if (k > n - (b->len - start))
            k = n - (b->len - start);
        if (rng_next(&s) & 1)
            gen_text(b, k, rng_next(&s));
        else
            gen_random(b, k, rng_next(&s));
    }
}

/* ---- running pgzip ----------------------------------------------------- */

static int out_buf(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    (void)err;
    cb_buf_add(ctx, buf, n);
    return 0;
}

/* chunk 0: one write of everything. */
static void pgz(const cb_buf_t *in, int level, int threads, size_t chunk, cb_buf_t *out) {
    cb_autoerr cb_error_t *err = NULL;
    cb_pgzip_t *z = NULL;
    assert_int_equal(cb_pgzip_new(&z, level, threads, out_buf, out, &err), 0);
    /* Workers start with the second block only. */
    assert_int_equal(cb_pgzip_threads(z), 0);
    size_t step = chunk ? chunk : in->len;
    for (size_t off = 0; off < in->len; off += step) {
        size_t k = in->len - off < step ? in->len - off : step;
        assert_int_equal(cb_pgzip_write(z, (const char *)in->data + off, k, &err), 0);
    }
    if (threads > 1 && in->len >= CB_PGZIP_BLOCK)
        assert_true(cb_pgzip_threads(z) >= 1);
    else
        assert_int_equal(cb_pgzip_threads(z), 0);
    assert_int_equal(cb_pgzip_finish(z, &err), 0);
    assert_null(err);
    cb_pgzip_free(z);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Gzip members with the header pgzip promises (no name, mtime 0, XFL for
 * the level, OS Unix), each inflated by zlib on its own (Z_STREAM_END means
 * zlib checked its CRC32 and ISIZE), joined exactly `in`, nothing after the
 * last. Returns the number of members. */
static size_t check_gzip(const cb_buf_t *gz, const cb_buf_t *in, int level) {
    const unsigned char *g = (const unsigned char *)gz->data;
    assert_true(gz->len >= 20);
    unsigned char *out = cb_xmalloc(in->len + 1);
    size_t pos = 0, got = 0, members = 0;
    while (pos < gz->len) {
        assert_true(gz->len - pos >= 20);
        assert_memory_equal(g + pos, "\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);
        assert_int_equal(g[pos + 8], level == 9 ? 2 : level == 1 ? 4 : 0);
        assert_int_equal(g[pos + 9], 3);
        z_stream z = {0};
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)g + pos;
        z.avail_in = (uInt)(gz->len - pos);
        z.next_out = out + got;
        z.avail_out = (uInt)(in->len + 1 - got);
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        const unsigned char *t = g + pos + z.total_in - 8;
        uint32_t crc = (uint32_t)crc32(0, out + got, (uInt)z.total_out);
        assert_int_equal(le32(t), crc);
        assert_int_equal(le32(t + 4), (uint32_t)z.total_out);
        pos += z.total_in;
        got += z.total_out;
        members++;
        inflateEnd(&z);
    }
    assert_int_equal(got, in->len);
    if (in->len > 0)
        assert_memory_equal(out, in->data, in->len);
    free(out);
    return members;
}

/* gzip(1) itself agrees the members are whole and their checksums right. */
static void check_gzip_t(const cb_buf_t *gz) {
    FILE *p = popen("gzip -t", "w");
    assert_non_null(p);
    assert_int_equal(fwrite(gz->data, 1, gz->len, p), gz->len);
    int st = pclose(p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* zlib's own one-shot gzip, for inputs that fit in one pgzip block. */
static void zlib_gzip(const cb_buf_t *in, int level, cb_buf_t *out) {
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uLong cap = deflateBound(&z, in->len);
    cb_buf_reserve(out, cap);
    z.next_in = (Bytef *)(in->len ? in->data : "");
    z.avail_in = (uInt)in->len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len = z.total_out;
    deflateEnd(&z);
}

static void assert_same(const cb_buf_t *a, const cb_buf_t *b) {
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
}

/* ---- pgzip ------------------------------------------------------------- */

static void test_empty(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, ref = CB_BUF_INIT;
    zlib_gzip(&in, 6, &ref);
    for (size_t t = 0; t < CB_ARRAY_LEN(thread_counts); t++) {
        cb_autobuf cb_buf_t gz = CB_BUF_INIT;
        pgz(&in, 6, thread_counts[t], 0, &gz);
        assert_int_equal(check_gzip(&gz, &in, 6), 1);
        /* header, an empty deflate stream (libdeflate's is an empty stored
         * block, zlib's an empty fixed-code one), CRC 0, ISIZE 0 */
        assert_true(gz.len <= ref.len + 3);
    }
    cb_autobuf cb_buf_t gz = CB_BUF_INIT;
    pgz(&in, 6, 4, 0, &gz);
    check_gzip_t(&gz);
}

/* Below one block, compressible input is one member, and libdeflate at
 * the same level is about as tight as zlib (gzip -N). On this made-up text
 * of 27 words it is a few per cent behind; on real source code (layer/README.md)
 * within 0.3 %. */
static void test_small_one_member(void **state) {
    (void)state;
    static const size_t sizes[] = {1, 100, 5000, CB_PGZIP_SEGMENT + 1, BLOCK - 1};
    static const int levels[] = {1, 6, 9};
    for (size_t i = 0; i < CB_ARRAY_LEN(sizes); i++) {
        for (size_t l = 0; l < CB_ARRAY_LEN(levels); l++) {
            cb_autobuf cb_buf_t in = CB_BUF_INIT, ref = CB_BUF_INIT, gz = CB_BUF_INIT;
            gen_text(&in, sizes[i], 7 + i);
            zlib_gzip(&in, levels[l], &ref);
            pgz(&in, levels[l], 3, 0, &gz);
            assert_int_equal(check_gzip(&gz, &in, levels[l]), 1);
            if (sizes[i] >= 5000)
                assert_true(gz.len * 100 <= ref.len * 110);
        }
    }
}

/* Exactly one full block of text: one member, the same for any thread
 * count and write chunking. */
static void test_exactly_one_block(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, first = CB_BUF_INIT;
    gen_text(&in, BLOCK, 42);
    pgz(&in, 6, 1, 0, &first);
    assert_int_equal(check_gzip(&first, &in, 6), 1);
    check_gzip_t(&first);
    for (size_t t = 1; t < CB_ARRAY_LEN(thread_counts); t++) {
        cb_autobuf cb_buf_t gz = CB_BUF_INIT;
        pgz(&in, 6, thread_counts[t], 0, &gz);
        assert_same(&gz, &first);
    }
    static const size_t chunks[] = {1, 1000, CB_PGZIP_BLOCK - 1, CB_PGZIP_BLOCK + 1};
    for (size_t c = 0; c < CB_ARRAY_LEN(chunks); c++) {
        cb_autobuf cb_buf_t gz = CB_BUF_INIT;
        pgz(&in, 6, 2, chunks[c], &gz);
        assert_same(&gz, &first);
    }
}

/* Random data is stored, not searched for matches: one member per block,
 * the input plus a few bytes per 64 KiB. */
static void test_random_stored(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, gz = CB_BUF_INIT;
    gen_random(&in, 3 * BLOCK + 5000, 12);
    pgz(&in, 6, 2, 0, &gz);
    assert_int_equal(check_gzip(&gz, &in, 6), 4);
    assert_true(gz.len <= in.len + in.len / 1000 + 4 * 18);
    for (size_t off = 0; off + CB_PGZIP_SEGMENT <= in.len; off += CB_PGZIP_SEGMENT)
        assert_true(cb_pgzip_incompressible((const unsigned char *)in.data + off,
                                            CB_PGZIP_SEGMENT));
}

/* What deflate can shrink is never taken for random: text, random data
 * repeating within the 32 KiB window (its histogram is as flat, but every
 * byte after the first period is a match), tiny segments. */
static void test_compressible_not_stored(void **state) {
    (void)state;
    static const size_t periods[] = {30000, 16 * 1024, 4096};
    for (size_t i = 0; i < CB_ARRAY_LEN(periods); i++) {
        cb_autobuf cb_buf_t unit = CB_BUF_INIT, in = CB_BUF_INIT, gz = CB_BUF_INIT;
        gen_random(&unit, periods[i], 100 + i);
        while (in.len < BLOCK)
            cb_buf_add(&in, unit.data, unit.len);
        cb_buf_truncate(&in, BLOCK);
        for (size_t off = 0; off < BLOCK; off += CB_PGZIP_SEGMENT)
            assert_false(cb_pgzip_incompressible((const unsigned char *)in.data + off,
                                                 CB_PGZIP_SEGMENT));
        pgz(&in, 6, 1, 0, &gz);
        assert_int_equal(check_gzip(&gz, &in, 6), 1);
        assert_true(gz.len < in.len / 10);
    }
    cb_autobuf cb_buf_t text = CB_BUF_INIT, tiny = CB_BUF_INIT;
    gen_text(&text, CB_PGZIP_SEGMENT, 5);
    assert_false(cb_pgzip_incompressible((const unsigned char *)text.data, text.len));
    gen_random(&tiny, 4095, 6);
    assert_false(cb_pgzip_incompressible((const unsigned char *)tiny.data, tiny.len));
    assert_true(cb_pgzip_incompressible((const unsigned char *)tiny.data, 0) == false);
}

/* The decision as pgzip.h defines it, over the whole histogram at once. */
static bool incompressible_ref(const unsigned char *p, size_t n) {
    if (n < 4096)
        return false;
    uint64_t h[256] = {0};
    for (size_t i = 0; i < n; i++)
        h[p[i]]++;
    uint64_t sum = 0;
    for (int k = 0; k < 256; k++) {
        int64_t d = 256 * (int64_t)h[k] - (int64_t)n;
        sum += (uint64_t)(d * d);
    }
    return sum < 384u * 256u * (uint64_t)n;
}

/* cb_pgzip_incompressible stops counting once the bytes so far decide;
 * its answer must be the whole segment's all the same: on data whose skew
 * sits near the bound, or only at the start or only at the end, at
 * lengths around its 4 KiB steps. (The same bytes either way, so this
 * checks the shortcut, not a change of output.) */
static void test_incompressible_early_exit(void **state) {
    (void)state;
    static const size_t lens[] = {4096, 4097, 8191, 8192, 12289, 65536, 65537, 100003};
    int stored = 0, kept = 0;
    for (size_t l = 0; l < CB_ARRAY_LEN(lens); l++) {
        size_t n = lens[l];
        for (unsigned bias = 0; bias <= 40; bias++) {
            for (int where = 0; where < 3; where++) {
                /* random bytes, each replaced by 'e' with probability
                 * bias/1000, everywhere / in the first quarter / in the
                 * last quarter */
                cb_autobuf cb_buf_t in = CB_BUF_INIT;
                gen_random(&in, n, 1000 * l + 10 * bias + (unsigned)where);
                unsigned char *p = (unsigned char *)in.data;
                uint64_t st = 77 + bias;
                for (size_t i = 0; i < n; i++) {
                    bool in_zone = where == 0 || (where == 1 ? i < n / 4 : i >= n - n / 4);
                    if (in_zone && rng_next(&st) % 1000 < bias * (where ? 4u : 1u))
                        p[i] = 'e';
                }
                bool want = incompressible_ref(p, n);
                assert_int_equal(cb_pgzip_incompressible(p, n), want);
                want ? stored++ : kept++;
            }
        }
    }
    /* both answers were tested, and near the bound */
    assert_true(stored > 20 && kept > 20);
}

/* A block of text, random, text segments: three members, the random run
 * stored; the text runs compressed as tightly as one deflate of them. */
static void test_mixed_block_members(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, gz = CB_BUF_INIT;
    gen_text(&in, 4 * CB_PGZIP_SEGMENT, 1);
    gen_random(&in, 8 * CB_PGZIP_SEGMENT, 2);
    gen_text(&in, 4 * CB_PGZIP_SEGMENT, 3);
    pgz(&in, 6, 1, 0, &gz);
    assert_int_equal(check_gzip(&gz, &in, 6), 3);
    assert_true(gz.len < 8 * CB_PGZIP_SEGMENT + 8 * CB_PGZIP_SEGMENT / 2);
    for (size_t t = 1; t < CB_ARRAY_LEN(thread_counts); t++) {
        cb_autobuf cb_buf_t again = CB_BUF_INIT;
        pgz(&in, 6, thread_counts[t], 777, &again);
        assert_same(&again, &gz);
    }
}

/* Readers other than zlib take the members as one stream: libarchive's
 * gzip filter (what cbuild and bsdtar read layers with) and Python's gzip
 * module, on text and random data over several blocks. */
static void test_other_readers(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, gz = CB_BUF_INIT;
    gen_mixed(&in, 5 * BLOCK + 333, 21);
    pgz(&in, 6, 2, 0, &gz);
    assert_true(check_gzip(&gz, &in, 6) > 5);

    struct archive *a = archive_read_new();
    assert_int_equal(archive_read_support_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_read_support_format_raw(a), ARCHIVE_OK);
    assert_int_equal(archive_read_open_memory(a, gz.data, gz.len), ARCHIVE_OK);
    struct archive_entry *e;
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    assert_int_equal(archive_filter_code(a, 0), ARCHIVE_FILTER_GZIP);
    cb_autobuf cb_buf_t got = CB_BUF_INIT;
    char buf[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
        cb_buf_add(&got, buf, (size_t)n);
    assert_int_equal(n, 0);
    archive_read_free(a);
    assert_same(&got, &in);

    char gzpath[] = "/tmp/test_pgzip_XXXXXX";
    int fd = mkstemp(gzpath);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, gz.data, gz.len), (ssize_t)gz.len);
    close(fd);
    cb_autofree char *cmd = cb_xasprintf(
        "python3 -c 'import gzip,hashlib,sys; "
        "print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())' %s",
        gzpath);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    unlink(gzpath);
    char want[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(in.data, in.len, want);
    line[strcspn(line, "\n")] = '\0';
    assert_string_equal(line, want + strlen("sha256:"));
}

/* Sizes around block boundaries, for text and random data. */
static void test_block_edges(void **state) {
    (void)state;
    static const size_t sizes[] = {BLOCK + 1, 2 * BLOCK - 1, 2 * BLOCK, 2 * BLOCK + 1,
                                   3 * BLOCK + 4095};
    for (int kind = 0; kind < 2; kind++) {
        for (size_t i = 0; i < CB_ARRAY_LEN(sizes); i++) {
            cb_autobuf cb_buf_t in = CB_BUF_INIT, a = CB_BUF_INIT, b = CB_BUF_INIT;
            if (kind == 0)
                gen_text(&in, sizes[i], 100 + i);
            else
                gen_random(&in, sizes[i], 200 + i);
            pgz(&in, 6, 1, 0, &a);
            check_gzip(&a, &in, 6);
            pgz(&in, 6, 4, 777, &b);
            assert_same(&a, &b);
        }
    }
}

/* Many blocks: thread counts 1, 2, 3, 4, 7 give the same bytes, and so do
 * very different write chunkings. */
static void many_blocks(void (*gen)(cb_buf_t *, size_t, uint64_t), size_t n, int level) {
    cb_autobuf cb_buf_t in = CB_BUF_INIT, first = CB_BUF_INIT;
    gen(&in, n, 9001);
    pgz(&in, level, 1, 0, &first);
    check_gzip(&first, &in, level);
    check_gzip_t(&first);
    for (size_t t = 1; t < CB_ARRAY_LEN(thread_counts); t++) {
        cb_autobuf cb_buf_t gz = CB_BUF_INIT;
        pgz(&in, level, thread_counts[t], 0, &gz);
        assert_same(&gz, &first);
    }
    static const size_t chunks[] = {1000, CB_PGZIP_BLOCK - 1, CB_PGZIP_BLOCK + 1, 65536, 4093};
    for (size_t c = 0; c < CB_ARRAY_LEN(chunks); c++) {
        cb_autobuf cb_buf_t gz = CB_BUF_INIT;
        pgz(&in, level, thread_counts[c % CB_ARRAY_LEN(thread_counts)], chunks[c], &gz);
        assert_same(&gz, &first);
    }
}

static void test_many_blocks_text(void **state) {
    (void)state;
    many_blocks(gen_text, 6 * BLOCK + 4321, 6);
}

static void test_many_blocks_random(void **state) {
    (void)state;
    many_blocks(gen_random, 5 * BLOCK + 17, 6);
}

static void test_many_blocks_mixed_levels(void **state) {
    (void)state;
    many_blocks(gen_mixed, 6 * BLOCK + 99, 1);
    many_blocks(gen_mixed, 2 * BLOCK + 1, 9);
}

/* One byte per write across several block boundaries. */
static void test_byte_at_a_time(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, first = CB_BUF_INIT;
    gen_mixed(&in, BLOCK + 777, 5);
    pgz(&in, 6, 1, 0, &first);
    check_gzip(&first, &in, 6);
    for (size_t t = 0; t < CB_ARRAY_LEN(thread_counts); t++) {
        cb_autobuf cb_buf_t gz = CB_BUF_INIT;
        pgz(&in, 6, thread_counts[t], 1, &gz);
        assert_same(&gz, &first);
    }
}

static void test_level_and_threads_args(void **state) {
    (void)state;
    static const int bad[] = {-1, 0, 10, 100};
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        cb_autoerr cb_error_t *err = NULL;
        cb_pgzip_t *z = NULL;
        assert_true(cb_pgzip_new(&z, bad[i], 2, out_buf, NULL, &err) < 0);
        assert_null(z);
        assert_non_null(err);
        assert_int_equal(err->kind, CB_ERR_INPUT);
        cb_autofree char *msg = cb_error_message(err);
        assert_non_null(strstr(msg, "out of range"));
    }
    /* Thread counts above the cap are capped; zero or negative means the
     * caller deflates. */
    cb_autoerr cb_error_t *err = NULL;
    cb_pgzip_t *z = NULL;
    cb_autobuf cb_buf_t out = CB_BUF_INIT;
    assert_int_equal(cb_pgzip_new(&z, 6, 1000, out_buf, &out, &err), 0);
    assert_int_equal(cb_pgzip_threads(z), 0);
    cb_autofree char *two = cb_xcalloc(1, 2 * CB_PGZIP_BLOCK);
    assert_int_equal(out.len, 0); /* nothing written before the first block */
    assert_int_equal(cb_pgzip_write(z, two, 2 * CB_PGZIP_BLOCK, &err), 0);
    assert_true(cb_pgzip_threads(z) >= 1 && cb_pgzip_threads(z) <= CB_PGZIP_MAX_THREADS);
    cb_pgzip_free(z);
    static const int none[] = {0, -5};
    for (size_t i = 0; i < CB_ARRAY_LEN(none); i++) {
        assert_int_equal(cb_pgzip_new(&z, 6, none[i], out_buf, &out, &err), 0);
        assert_int_equal(cb_pgzip_threads(z), 0);
        cb_pgzip_free(z);
    }
    cb_pgzip_free(NULL);
}

/* Stopping early: freeing with blocks queued or being deflated, before any
 * finish, must neither hang nor leak (the ASan build checks leaks). */
static void test_free_midstream(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT;
    gen_mixed(&in, 6 * BLOCK, 3);
    for (size_t t = 0; t < CB_ARRAY_LEN(thread_counts); t++) {
        cb_autoerr cb_error_t *err = NULL;
        cb_autobuf cb_buf_t out = CB_BUF_INIT;
        cb_pgzip_t *z = NULL;
        assert_int_equal(cb_pgzip_new(&z, 6, thread_counts[t], out_buf, &out, &err), 0);
        assert_int_equal(cb_pgzip_write(z, in.data, in.len, &err), 0);
        cb_pgzip_free(z);
    }
}

/* A sink that fails on its n-th call (1-based) and counts its calls. */
typedef struct failing_sink {
    int fail_at, calls;
    size_t bytes;
} failing_sink_t;

static int fail_sink(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    (void)buf;
    failing_sink_t *s = ctx;
    if (++s->calls == s->fail_at)
        return cb_error_set(err, 28, "sink: disk full after %zu bytes", s->bytes);
    s->bytes += n;
    return 0;
}

/* Runs pgzip into a sink failing at call fail_at; returns whether the run
 * failed, and checks the failure is reported once, cleanly. */
static bool run_failing(const cb_buf_t *in, int threads, size_t chunk, int fail_at, int *calls) {
    cb_autoerr cb_error_t *err = NULL;
    failing_sink_t s = {.fail_at = fail_at};
    cb_pgzip_t *z = NULL;
    assert_int_equal(cb_pgzip_new(&z, 6, threads, fail_sink, &s, &err), 0);
    int r = 0;
    for (size_t off = 0; off < in->len && r == 0; off += chunk) {
        size_t k = in->len - off < chunk ? in->len - off : chunk;
        r = cb_pgzip_write(z, (const char *)in->data + off, k, &err);
    }
    if (r == 0)
        r = cb_pgzip_finish(z, &err);
    *calls = s.calls;
    if (r == 0) {
        assert_null(err);
        cb_pgzip_free(z);
        return false;
    }
    assert_int_equal(r, -1);
    assert_non_null(err);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "disk full"));
    assert_int_equal(s.calls, fail_at); /* no output after the failure */
    /* The stream is dead: later calls fail without touching the sink. */
    cb_autoerr cb_error_t *e2 = NULL, *e3 = NULL;
    assert_true(cb_pgzip_write(z, "x", 1, &e2) < 0);
    assert_non_null(e2);
    assert_true(cb_pgzip_finish(z, &e3) < 0);
    assert_non_null(e3);
    assert_int_equal(s.calls, fail_at);
    cb_pgzip_free(z);
    return true;
}

static void test_sink_fails(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT;
    gen_mixed(&in, 4 * BLOCK + 5, 11);
    static const int threads[] = {1, 4};
    for (size_t t = 0; t < CB_ARRAY_LEN(threads); t++) {
        int total = 0;
        assert_false(run_failing(&in, threads[t], 50000, 0, &total));
        /* one call per block (5, the last one partial) */
        assert_int_equal(total, 5);
        /* Every call fails in turn. */
        for (int k = 1; k <= total; k++) {
            int calls = 0;
            assert_true(run_failing(&in, threads[t], 50000, k, &calls));
        }
    }
}

/* ---- the layer compressor (layer/compress.c) --------------------------- */

static void compress_with(cb_layer_compression_t method, const char *jobs, const cb_buf_t *in,
                          size_t chunk, cb_buf_t *out, char digest[CB_DIGEST_STR_LEN + 1]) {
    assert_int_equal(setenv("CBUILD_JOBS", jobs, 1), 0);
    cb_autoerr cb_error_t *err = NULL;
    cb_layer_compressor_t *c = NULL;
    assert_int_equal(cb_layer_compressor_new(&c, method, 0, out_buf, out, &err), 0);
    size_t step = chunk ? chunk : in->len;
    for (size_t off = 0; off < in->len; off += step) {
        size_t k = in->len - off < step ? in->len - off : step;
        assert_int_equal(cb_layer_compressor_write(c, (const char *)in->data + off, k, &err), 0);
    }
    assert_int_equal(cb_layer_compressor_finish(c, &err), 0);
    assert_null(err);
    assert_int_equal(cb_layer_compressor_size(c), out->len);
    cb_layer_compressor_digest(c, digest);
    char d[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(out->data, out->len, d);
    assert_string_equal(digest, d);
    /* The input's digest (a layer's diff_id), past 1 MiB of zstd taken in
     * its feeder thread: of every byte, in order, however cut. */
    char din[CB_DIGEST_STR_LEN + 1];
    cb_layer_compressor_input_digest(c, din);
    cb_sha256_digest(in->data, in->len, d);
    assert_string_equal(din, d);
    cb_layer_compressor_free(c);
    unsetenv("CBUILD_JOBS");
}

static void check_zstd(const cb_buf_t *zs, const cb_buf_t *in) {
    ZSTD_DCtx *d = ZSTD_createDCtx();
    assert_non_null(d);
    cb_autobuf cb_buf_t got = CB_BUF_INIT;
    ZSTD_inBuffer src = {zs->data, zs->len, 0};
    unsigned char buf[1 << 16];
    size_t left = 1;
    while (src.pos < src.size || left != 0) {
        ZSTD_outBuffer o = {buf, sizeof buf, 0};
        left = ZSTD_decompressStream(d, &o, &src);
        assert_false(ZSTD_isError(left)); /* includes the content checksum */
        cb_buf_add(&got, buf, o.pos);
        if (o.pos == 0 && src.pos == src.size && left != 0)
            fail_msg("zstd frame truncated");
    }
    ZSTD_freeDCtx(d);
    assert_same(&got, in);
}

/* zstd jobs are 2 MiB (layer/compress.c), so the input spans several jobs
 * and workers really run in parallel. */
static void test_compressor_zstd_jobs(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, one = CB_BUF_INIT;
    gen_mixed(&in, 20u << 20, 77);
    char d1[CB_DIGEST_STR_LEN + 1], d[CB_DIGEST_STR_LEN + 1];
    compress_with(CB_LAYER_ZSTD, "1", &in, 1 << 16, &one, d1);
    check_zstd(&one, &in);
    static const struct {
        const char *jobs;
        size_t chunk;
    } runs[] = {{"4", 1 << 16}, {"2", 0}, {"3", 1000}, {"7", CB_PGZIP_BLOCK + 1}, {"1", 0}};
    for (size_t i = 0; i < CB_ARRAY_LEN(runs); i++) {
        cb_autobuf cb_buf_t zs = CB_BUF_INIT;
        compress_with(CB_LAYER_ZSTD, runs[i].jobs, &in, runs[i].chunk, &zs, d);
        assert_string_equal(d, d1);
        assert_same(&zs, &one);
    }
}

static void test_compressor_small_and_empty(void **state) {
    (void)state;
    static const size_t sizes[] = {0, 1, 5000, 3 * BLOCK + 1};
    static const cb_layer_compression_t methods[] = {CB_LAYER_GZIP, CB_LAYER_ZSTD,
                                                     CB_LAYER_UNCOMPRESSED};
    for (size_t i = 0; i < CB_ARRAY_LEN(sizes); i++) {
        cb_autobuf cb_buf_t in = CB_BUF_INIT;
        gen_mixed(&in, sizes[i], 31 + i);
        for (size_t m = 0; m < CB_ARRAY_LEN(methods); m++) {
            cb_autobuf cb_buf_t a = CB_BUF_INIT, b = CB_BUF_INIT, c = CB_BUF_INIT;
            char da[CB_DIGEST_STR_LEN + 1], db[CB_DIGEST_STR_LEN + 1],
                dc[CB_DIGEST_STR_LEN + 1];
            compress_with(methods[m], "1", &in, 0, &a, da);
            compress_with(methods[m], "4", &in, 0, &b, db);
            /* one byte at a time for the small ones */
            compress_with(methods[m], "2", &in, sizes[i] <= 5000 ? 1 : 999, &c, dc);
            assert_same(&a, &b);
            assert_same(&a, &c);
            assert_string_equal(da, db);
            assert_string_equal(da, dc);
            if (methods[m] == CB_LAYER_GZIP) {
                check_gzip(&a, &in, 6);
                check_gzip_t(&a);
            } else if (methods[m] == CB_LAYER_ZSTD) {
                check_zstd(&a, &in);
            } else {
                assert_same(&a, &in);
            }
        }
    }
}

static void test_compressor_gzip_threads(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT, one = CB_BUF_INIT, direct = CB_BUF_INIT;
    gen_mixed(&in, 8 * BLOCK + 3, 123);
    char d1[CB_DIGEST_STR_LEN + 1], d[CB_DIGEST_STR_LEN + 1];
    compress_with(CB_LAYER_GZIP, "1", &in, 4096, &one, d1);
    check_gzip(&one, &in, 6);
    /* level 0 means gzip's default, 6: the same bytes as pgzip at 6 */
    pgz(&in, 6, 2, 0, &direct);
    assert_same(&one, &direct);
    static const char *const jobs[] = {"2", "3", "4", "7", "64", "1000"};
    for (size_t i = 0; i < CB_ARRAY_LEN(jobs); i++) {
        cb_autobuf cb_buf_t gz = CB_BUF_INIT;
        compress_with(CB_LAYER_GZIP, jobs[i], &in, i % 2 ? 0 : 1000, &gz, d);
        assert_string_equal(d, d1);
        assert_same(&gz, &one);
    }
}

static void test_compress_threads_env(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    int n = 0;
    unsetenv("CBUILD_JOBS");
    assert_int_equal(cb_layer_compress_threads(&n, &err), 0);
    assert_true(n >= 1 && n <= CB_PGZIP_MAX_THREADS);
    setenv("CBUILD_JOBS", "3", 1);
    assert_int_equal(cb_layer_compress_threads(&n, &err), 0);
    assert_int_equal(n, 3);
    setenv("CBUILD_JOBS", "100000", 1);
    assert_int_equal(cb_layer_compress_threads(&n, &err), 0);
    assert_int_equal(n, CB_PGZIP_MAX_THREADS);
    static const char *const bad[] = {"0", "-2", "abc", "4x", "99999999999999999999999"};
    for (size_t i = 0; i < CB_ARRAY_LEN(bad); i++) {
        cb_autoerr cb_error_t *e = NULL;
        setenv("CBUILD_JOBS", bad[i], 1);
        assert_true(cb_layer_compress_threads(&n, &e) < 0);
        cb_autofree char *msg = cb_error_message(e);
        assert_non_null(strstr(msg, "CBUILD_JOBS"));
        /* the compressor refuses it too, for the methods that use threads */
        cb_autoerr cb_error_t *e2 = NULL;
        cb_layer_compressor_t *c = NULL;
        assert_true(cb_layer_compressor_new(&c, CB_LAYER_ZSTD, 0, out_buf, NULL, &e2) < 0);
        assert_null(c);
        assert_non_null(e2);
    }
    unsetenv("CBUILD_JOBS");
}

static void test_compressor_bad_level(void **state) {
    (void)state;
    cb_autoerr cb_error_t *err = NULL;
    cb_layer_compressor_t *c = NULL;
    setenv("CBUILD_JOBS", "2", 1);
    assert_true(cb_layer_compressor_new(&c, CB_LAYER_GZIP, 10, out_buf, NULL, &err) < 0);
    assert_null(c);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "out of range"));
    cb_autoerr cb_error_t *e2 = NULL;
    assert_true(cb_layer_compressor_new(&c, CB_LAYER_GZIP, -3, out_buf, NULL, &e2) < 0);
    assert_null(c);
    unsetenv("CBUILD_JOBS");
}

/* A sink failing mid-stream: the error comes back from write or finish,
 * nothing crashes, and the compressor frees cleanly. */
static void test_compressor_sink_fails(void **state) {
    (void)state;
    cb_autobuf cb_buf_t in = CB_BUF_INIT;
    gen_mixed(&in, 18u << 20, 5);
    static const cb_layer_compression_t methods[] = {CB_LAYER_GZIP, CB_LAYER_ZSTD,
                                                     CB_LAYER_UNCOMPRESSED};
    static const char *const jobs[] = {"1", "4"};
    static const int fail_at[] = {1, 2, 5, 12}; /* the output takes more calls than 12 */
    for (size_t m = 0; m < CB_ARRAY_LEN(methods); m++) {
        for (size_t j = 0; j < CB_ARRAY_LEN(jobs); j++) {
            for (size_t f = 0; f < CB_ARRAY_LEN(fail_at); f++) {
                setenv("CBUILD_JOBS", jobs[j], 1);
                cb_autoerr cb_error_t *err = NULL;
                failing_sink_t s = {.fail_at = fail_at[f]};
                cb_layer_compressor_t *c = NULL;
                assert_int_equal(cb_layer_compressor_new(&c, methods[m], 0, fail_sink, &s, &err),
                                 0);
                int r = 0;
                for (size_t off = 0; off < in.len && r == 0; off += 1 << 20) {
                    size_t k = in.len - off < (1 << 20) ? in.len - off : (1 << 20);
                    r = cb_layer_compressor_write(c, (const char *)in.data + off, k, &err);
                }
                if (r == 0)
                    r = cb_layer_compressor_finish(c, &err);
                assert_int_equal(r, -1);
                assert_non_null(err);
                cb_autofree char *msg = cb_error_message(err);
                assert_non_null(strstr(msg, "disk full"));
                cb_layer_compressor_free(c);
                unsetenv("CBUILD_JOBS");
            }
        }
    }
}

/* Cases over a few blocks: every path of the compressors (members, stored
 * segments, threads, frees and failures midway) at a size memcheck runs in
 * seconds. tests/valgrind.sh runs only these (CB_PGZIP_LIGHT=1); the ones
 * pushing tens of MiB through every thread count run in the gcc and ASan
 * suites. */
static const struct CMUnitTest light[] = {
    cmocka_unit_test(test_empty),
    cmocka_unit_test(test_small_one_member),
    cmocka_unit_test(test_exactly_one_block),
    cmocka_unit_test(test_random_stored),
    cmocka_unit_test(test_compressible_not_stored),
    cmocka_unit_test(test_incompressible_early_exit),
    cmocka_unit_test(test_mixed_block_members),
    cmocka_unit_test(test_other_readers),
    cmocka_unit_test(test_level_and_threads_args),
    cmocka_unit_test(test_free_midstream),
    cmocka_unit_test(test_sink_fails),
    cmocka_unit_test(test_compressor_bad_level),
};

static const struct CMUnitTest heavy[] = {
    cmocka_unit_test(test_block_edges),
    cmocka_unit_test(test_many_blocks_text),
    cmocka_unit_test(test_many_blocks_random),
    cmocka_unit_test(test_many_blocks_mixed_levels),
    cmocka_unit_test(test_byte_at_a_time),
    cmocka_unit_test(test_compressor_zstd_jobs),
    cmocka_unit_test(test_compressor_gzip_threads),
    cmocka_unit_test(test_compress_threads_env),
    cmocka_unit_test(test_compressor_small_and_empty),
    cmocka_unit_test(test_compressor_sink_fails),
};

int main(void) {
    const char *only = getenv("CB_PGZIP_ONLY"); /* one case by name (cmocka's wildcards) */
    if (only && *only)
        cmocka_set_test_filter(only);
    int failed = cmocka_run_group_tests_name("light", light, NULL, NULL);
    const char *only_light = getenv("CB_PGZIP_LIGHT");
    if (only_light == NULL || strcmp(only_light, "1") != 0)
        failed += cmocka_run_group_tests_name("heavy", heavy, NULL, NULL);
    return failed;
}
