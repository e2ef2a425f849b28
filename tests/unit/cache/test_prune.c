/* cbuild prune on a hand-made root: images (tagged, untagged, an index of
 * manifests), blobs, cache records and temporary leftovers, one rule a
 * test. Time is the fixture's: `now` is moved forward instead of making
 * files old, since ctimes cannot be set. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/blob.h"
#include "cache/index.h"
#include "cache/prune.h"
#include "cache/record.h"
#include "common/log.h"
#include "common/util.h"
#include "testutil.h"

#define SEC CB_PRUNE_NS_PER_SEC
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define LAYER_MT CB_MT_OCI_LAYER_GZIP

typedef struct {
    char *dir;
    cb_root_t *root;
    cb_store_t *store;
    int64_t t0; /* the clock when the fixture was made */
    cb_prune_opts_t opts;
    cb_prune_report_t rep;
} fixture_t;

typedef struct {
    char digest[CB_DIGEST_STR_LEN + 1];
    int64_t size;
} blob_t;

static int64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void warn_quiet(cb_log_level_t level, const char *module, const char *msg) {
    (void)level;
    (void)module;
    (void)msg;
}

static int setup(void **state) {
    fixture_t *f = cb_xcalloc(1, sizeof *f);
    if (tu_root_open(&f->dir, &f->root, &f->store) < 0)
        return -1;
    f->t0 = clock_ns();
    /* Two hours on: what the fixture makes is past the grace period and
     * the leftovers' age, unless a test says otherwise. */
    f->opts = (cb_prune_opts_t){.keep_storage = -1, .until = -1, .now = f->t0 + 2 * HOUR};
    cb_log_set_handler(warn_quiet);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    cb_log_set_handler(NULL);
    cb_prune_report_clear(&f->rep);
    tu_root_close(f->dir, f->root, f->store);
    free(f);
    return 0;
}

static void set_mtime(const char *path, int64_t t) {
    struct timespec ts[2] = {{t / SEC, t % SEC}, {t / SEC, t % SEC}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static char *blob_path(fixture_t *f, const char *digest) {
    return cb_store_blob_path(f->store, digest);
}

static bool has_blob(fixture_t *f, const blob_t *b) {
    return cb_blob_exists(f->store, b->digest);
}

static blob_t put_blob(fixture_t *f, const char *data) {
    blob_t b = {.size = (int64_t)strlen(data)};
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_blob_put(f->store, data, strlen(data), b.digest, &err), 0);
    return b;
}

/* A blob written at time t. */
static blob_t put_blob_at(fixture_t *f, const char *data, int64_t t) {
    blob_t b = put_blob(f, data);
    cb_autofree char *p = blob_path(f, b.digest);
    set_mtime(p, t);
    return b;
}

static char *descriptor(const char *mt, const blob_t *b) {
    return cb_xasprintf("{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld}", mt, b->digest,
                        (long long)b->size);
}

typedef struct {
    blob_t manifest, config, layers[2];
} image_t;

/* An image of two layers; `seed` makes its blobs its own. */
static image_t make_image(fixture_t *f, const char *seed) {
    image_t im;
    cb_autofree char *cfg = cb_xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\"%s\"}", seed);
    cb_autofree char *l0 = cb_xasprintf("layer 0 of %s", seed);
    cb_autofree char *l1 = cb_xasprintf("layer 1 of %s", seed);
    im.config = put_blob(f, cfg);
    im.layers[0] = put_blob(f, l0);
    im.layers[1] = put_blob(f, l1);
    cb_autofree char *dc = descriptor(CB_MT_OCI_CONFIG, &im.config);
    cb_autofree char *d0 = descriptor(LAYER_MT, &im.layers[0]);
    cb_autofree char *d1 = descriptor(LAYER_MT, &im.layers[1]);
    cb_autofree char *m = cb_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,\"layers\":[%s,%s]}",
                                       CB_MT_OCI_MANIFEST, dc, d0, d1);
    im.manifest = put_blob(f, m);
    return im;
}

/* index.json names the document (NULL: an untagged entry). */
static void add_to_index(fixture_t *f, const char *name, const char *mt, const blob_t *b) {
    cb_oci_descriptor_t d = {.media_type = (char *)mt, .digest = (char *)b->digest, .size = b->size};
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_index_put(f->store, name, &d, &err), 0);
}

static void image_kept(fixture_t *f, const image_t *im) {
    assert_true(has_blob(f, &im->manifest));
    assert_true(has_blob(f, &im->config));
    assert_true(has_blob(f, &im->layers[0]));
    assert_true(has_blob(f, &im->layers[1]));
}

/* A record of `layer` under a key made from `name`, last used at t. */
static char *put_record(fixture_t *f, const char *name, const blob_t *layer, int64_t t) {
    char *key = cb_xcalloc(1, CB_DIGEST_STR_LEN + 1);
    cb_sha256_digest(name, strlen(name), key);
    char diff_id[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest("diff", 4, diff_id);
    cb_cache_record_t r = {.created_by = (char *)name};
    if (layer) {
        r.layer = (cb_oci_descriptor_t){.media_type = (char *)LAYER_MT, .digest = (char *)layer->digest,
                                        .size = layer->size};
        r.diff_id = diff_id;
    } else {
        r.empty_layer = true;
    }
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_cache_record_put(f->root, key, &r, &err), 0);
    cb_autofree char *p = cb_cache_record_path(f->root, key);
    set_mtime(p, t);
    return key;
}

static int64_t record_size(fixture_t *f, const char *key) {
    cb_autofree char *p = cb_cache_record_path(f->root, key);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static bool has_record(fixture_t *f, const char *key) {
    cb_autofree char *p = cb_cache_record_path(f->root, key);
    return access(p, F_OK) == 0;
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void prune_ok(fixture_t *f) {
    cb_prune_report_clear(&f->rep);
    cb_autoerr cb_error_t *err = NULL;
    int rc = cb_prune(f->root, &f->opts, &f->rep, &err);
    if (rc < 0) {
        cb_autofree char *msg = cb_error_message(err);
        fail_msg("prune: %s", msg);
    }
}

static void test_plain_keeps_what_is_referenced(void **state) {
    fixture_t *f = *state;
    image_t tagged = make_image(f, "tagged");
    image_t untagged = make_image(f, "untagged");
    add_to_index(f, "localhost/app:1", CB_MT_OCI_MANIFEST, &tagged.manifest);
    add_to_index(f, NULL, CB_MT_OCI_MANIFEST, &untagged.manifest);
    blob_t cached = put_blob(f, "a layer only a record names");
    cb_autofree char *key = put_record(f, "RUN make", &cached, f->t0);
    cb_autofree char *empty = put_record(f, "ENV A=1", NULL, f->t0);
    blob_t garbage = put_blob(f, "nothing names this");
    blob_t fresh = put_blob_at(f, "nothing names this either, yet", f->opts.now - 5 * MIN);

    prune_ok(f);
    /* A config and layers that only a manifest names stay. */
    image_kept(f, &tagged);
    image_kept(f, &untagged);
    assert_true(has_blob(f, &cached));
    assert_true(has_record(f, key));
    assert_true(has_record(f, empty));
    assert_false(has_blob(f, &garbage));
    assert_true(has_blob(f, &fresh)); /* within the grace period */
    assert_int_equal(f->rep.blobs, 1);
    assert_int_equal(f->rep.records, 0);
    assert_int_equal(f->rep.kept_blobs, 1);
    assert_int_equal(f->rep.bytes, garbage.size);
    assert_int_equal(f->rep.cache_bytes, cached.size + record_size(f, key) + record_size(f, empty));
    assert_null(f->rep.running_build);

    /* A second prune finds nothing more; index.json was not rewritten. */
    cb_autofree char *index = cb_xasprintf("%s/index.json", f->root->store);
    cb_autofree char *before = tu_read(index, NULL);
    prune_ok(f);
    assert_int_equal(f->rep.blobs + f->rep.records + f->rep.temps, 0);
    cb_autofree char *after = tu_read(index, NULL);
    assert_string_equal(before, after);
}

/* index.json -> an image index -> manifests -> configs and layers. */
static void test_index_of_manifests(void **state) {
    fixture_t *f = *state;
    image_t amd = make_image(f, "amd64");
    image_t arm = make_image(f, "arm64");
    blob_t absent = put_blob(f, "a platform that was never pulled");
    cb_autofree char *pa = blob_path(f, absent.digest);
    unlink(pa);
    cb_autofree char *da = descriptor(CB_MT_OCI_MANIFEST, &amd.manifest);
    cb_autofree char *db = descriptor(CB_MT_OCI_MANIFEST, &arm.manifest);
    cb_autofree char *dc = descriptor(CB_MT_OCI_MANIFEST, &absent);
    cb_autofree char *idx = cb_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s,%s,%s]}",
                                         CB_MT_OCI_INDEX, da, db, dc);
    blob_t index = put_blob(f, idx);
    add_to_index(f, "localhost/multi:1", CB_MT_OCI_INDEX, &index);
    /* An artifact of a type prune does not know is read for descriptors too. */
    blob_t sbom = put_blob(f, "an sbom");
    cb_autofree char *ds = descriptor("application/vnd.example.sbom", &sbom);
    cb_autofree char *dsub = descriptor(CB_MT_OCI_MANIFEST, &amd.manifest);
    cb_autofree char *art = cb_xasprintf("{\"blobs\":[%s],\"subject\":%s}", ds, dsub);
    blob_t artifact = put_blob(f, art);
    add_to_index(f, "localhost/multi:sbom", CB_MT_OCI_MANIFEST, &artifact);
    blob_t garbage = put_blob(f, "garbage");

    prune_ok(f);
    assert_true(has_blob(f, &index));
    image_kept(f, &amd);
    image_kept(f, &arm);
    assert_true(has_blob(f, &artifact));
    assert_true(has_blob(f, &sbom));
    assert_false(has_blob(f, &garbage));
    assert_int_equal(f->rep.blobs, 1);
}

static void test_damaged_records(void **state) {
    fixture_t *f = *state;
    blob_t good = put_blob(f, "a good layer");
    blob_t gone = put_blob(f, "a layer that goes away");
    blob_t resized = put_blob(f, "a layer whose blob changes size");
    cb_autofree char *k_good = put_record(f, "good", &good, f->t0);
    cb_autofree char *k_gone = put_record(f, "gone", &gone, f->t0);
    cb_autofree char *k_resized = put_record(f, "resized", &resized, f->t0);
    cb_autofree char *k_junk = put_record(f, "junk", &good, f->t0);
    cb_autofree char *pg = blob_path(f, gone.digest);
    assert_int_equal(unlink(pg), 0);
    cb_autofree char *pr = blob_path(f, resized.digest);
    tu_write(pr, "short", 5);
    cb_autofree char *pj = cb_cache_record_path(f->root, k_junk);
    tu_write(pj, "{\"version\":1,", 13);
    /* Not records: left alone. */
    cb_autofree char *notes = cb_xasprintf("%s/notes.json", f->root->cache);
    tu_write(notes, "{}", 2);
    cb_autofree char *dir = cb_xasprintf("%s/%064d.json", f->root->cache, 0);
    assert_int_equal(mkdir(dir, 0700), 0);

    f->opts.now = f->t0; /* records go whatever their age */
    prune_ok(f);
    assert_true(has_record(f, k_good));
    assert_false(has_record(f, k_gone));
    assert_false(has_record(f, k_resized));
    assert_false(has_record(f, k_junk));
    assert_true(exists(notes));
    assert_true(exists(dir));
    assert_int_equal(f->rep.records, 3);
    assert_int_equal(f->rep.damaged_records, 3);
    assert_true(has_blob(f, &good));
    /* The resized blob is referenced no more, but new: kept for now. */
    assert_true(exists(pr));
    assert_int_equal(f->rep.kept_blobs, 1);
    f->opts.now = f->t0 + HOUR;
    prune_ok(f);
    assert_false(exists(pr));
}

static void test_all(void **state) {
    fixture_t *f = *state;
    image_t im = make_image(f, "app");
    add_to_index(f, "localhost/app:1", CB_MT_OCI_MANIFEST, &im.manifest);
    blob_t only = put_blob(f, "only a record names this layer");
    cb_autofree char *k1 = put_record(f, "RUN one", &only, f->t0);
    cb_autofree char *k2 = put_record(f, "RUN two", &im.layers[1], f->t0);
    cb_autofree char *k3 = put_record(f, "ENV X=1", NULL, f->t0);

    prune_ok(f);
    assert_true(has_record(f, k1) && has_record(f, k2) && has_record(f, k3));

    f->opts.all = true;
    prune_ok(f);
    assert_false(has_record(f, k1) || has_record(f, k2) || has_record(f, k3));
    assert_int_equal(f->rep.records, 3);
    assert_int_equal(f->rep.damaged_records, 0);
    assert_false(has_blob(f, &only));
    image_kept(f, &im); /* a layer a record shared with an image stays */
    assert_int_equal(f->rep.blobs, 1);
    assert_int_equal(f->rep.cache_bytes, 0);
}

static void test_until(void **state) {
    fixture_t *f = *state;
    blob_t old = put_blob(f, "used three days ago");
    blob_t recent = put_blob(f, "used an hour ago");
    int64_t now = f->opts.now;
    cb_autofree char *k_old = put_record(f, "old", &old, now - 3 * DAY);
    cb_autofree char *k_recent = put_record(f, "recent", &recent, now - HOUR);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_prune_parse_duration("24h", &f->opts.until, &err), 0);

    prune_ok(f);
    assert_false(has_record(f, k_old));
    assert_true(has_record(f, k_recent));
    assert_false(has_blob(f, &old));
    assert_true(has_blob(f, &recent));
    assert_int_equal(f->rep.records, 1);

    /* With --all the filter still decides. */
    f->opts.all = true;
    prune_ok(f);
    assert_true(has_record(f, k_recent));
    f->opts.until = 30 * MIN;
    prune_ok(f);
    assert_false(has_record(f, k_recent));
}

static void test_keep_storage(void **state) {
    fixture_t *f = *state;
    image_t im = make_image(f, "app");
    add_to_index(f, "localhost/app:1", CB_MT_OCI_MANIFEST, &im.manifest);
    char b100[101], b200[201], b300[301];
    memset(b100, 'a', 100), b100[100] = '\0';
    memset(b200, 'b', 200), b200[200] = '\0';
    memset(b300, 'c', 300), b300[300] = '\0';
    blob_t l100 = put_blob(f, b100), l200 = put_blob(f, b200), l300 = put_blob(f, b300);
    int64_t t = f->t0 - DAY;
    /* The oldest shares its layer with the image: removing it frees only
     * the record. */
    cb_autofree char *k_shared = put_record(f, "shared", &im.layers[0], t);
    cb_autofree char *k100 = put_record(f, "100", &l100, t + 1 * HOUR);
    cb_autofree char *k200 = put_record(f, "200", &l200, t + 2 * HOUR);
    cb_autofree char *k300 = put_record(f, "300", &l300, t + 3 * HOUR);
    /* Two records of one layer count it once. */
    cb_autofree char *k300b = put_record(f, "300 again", &l300, t + 4 * HOUR);

    /* The cache's size counts the records too. */
    int64_t last_two = 300 + record_size(f, k300) + record_size(f, k300b);
    int64_t total = last_two + 300 + record_size(f, k100) + record_size(f, k200) + record_size(f, k_shared);
    f->opts.keep_storage = total;
    prune_ok(f);
    assert_int_equal(f->rep.records, 0);
    assert_int_equal(f->rep.cache_bytes, total);

    f->opts.keep_storage = last_two;
    prune_ok(f);
    assert_false(has_record(f, k_shared));
    assert_false(has_record(f, k100));
    assert_false(has_record(f, k200));
    assert_true(has_record(f, k300));
    assert_true(has_record(f, k300b));
    assert_false(has_blob(f, &l100));
    assert_false(has_blob(f, &l200));
    assert_true(has_blob(f, &l300));
    assert_int_equal(f->rep.records, 3);
    assert_int_equal(f->rep.blobs, 2);
    assert_int_equal(f->rep.cache_bytes, last_two);

    f->opts.keep_storage = 0;
    prune_ok(f);
    assert_false(has_record(f, k300) || has_record(f, k300b));
    assert_false(has_blob(f, &l300));
    assert_int_equal(f->rep.cache_bytes, 0);
    image_kept(f, &im);
}

static void test_running_build(void **state) {
    fixture_t *f = *state;
    blob_t before = put_blob_at(f, "unused, from before the build", f->t0 - HOUR);
    blob_t l_old = put_blob_at(f, "a layer used a day ago", f->t0 - HOUR);
    cb_autofree char *k_old = put_record(f, "old", &l_old, f->t0 - DAY);
    cb_autofree char *tmpl = cb_xasprintf("%s/build-XXXXXX", f->root->tmp);
    assert_non_null(mkdtemp(tmpl));
    struct stat bst;
    assert_int_equal(stat(tmpl, &bst), 0);
    int64_t start = f->t0 + 10 * SEC; /* after the build dir's birth */
    blob_t written = put_blob_at(f, "written by the build, not referenced yet", start);
    blob_t l_hit = put_blob(f, "a layer the build hit");
    cb_autofree char *k_hit = put_record(f, "hit", &l_hit, start);
    cb_autofree char *staging = cb_xasprintf("%s/blob-abcdef", f->root->tmp);
    tu_write(staging, "half a blob", 11);

    f->opts.all = true;
    prune_ok(f);
    assert_non_null(f->rep.running_build);
    assert_string_equal(f->rep.running_build, tmpl);
    assert_true(f->rep.running_since <= f->t0 + SEC);
    assert_false(has_blob(f, &before));
    assert_true(has_blob(f, &written));
    assert_false(has_record(f, k_old));
    assert_false(has_blob(f, &l_old));
    assert_true(has_record(f, k_hit)); /* used since the build started */
    assert_true(has_blob(f, &l_hit));
    assert_int_equal(f->rep.kept_records, 1);
    assert_true(exists(tmpl));
    assert_true(exists(staging));

    /* A day and more without a change: a crashed build, removed with what
     * it left; its blobs are no longer protected. */
    f->opts.now = f->t0 + DAY + HOUR;
    prune_ok(f);
    assert_null(f->rep.running_build);
    assert_false(exists(tmpl));
    assert_false(exists(staging));
    assert_false(has_blob(f, &written));
    assert_false(has_record(f, k_hit));
    assert_int_equal(f->rep.temps, 2);
}

static void test_leftovers(void **state) {
    fixture_t *f = *state;
    cb_autofree char *scratch = cb_xasprintf("%s/import-1", f->root->tmp);
    cb_autofree char *deep = cb_xasprintf("%s/a/b", scratch);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_mkdir_p(deep, 0700, &err), 0);
    cb_autofree char *file = cb_xasprintf("%s/f", deep);
    tu_write(file, "0123456789", 10);
    assert_int_equal(chmod(deep, 0500), 0); /* a read-only dir, as layers make them */
    cb_autofree char *rec_tmp = cb_xasprintf("%s/%064d.json.tmp-Ab12Cd", f->root->cache, 1);
    cb_autofree char *sc_tmp = cb_xasprintf("%s/statcache.tmp-Xy", f->root->cache);
    cb_autofree char *explain = cb_xasprintf("%s/explain", f->root->cache);
    assert_int_equal(mkdir(explain, 0700), 0);
    cb_autofree char *ex_tmp = cb_xasprintf("%s/x.json.tmp-42", explain);
    cb_autofree char *ex_keep = cb_xasprintf("%s/x.json", explain);
    cb_autofree char *idx_tmp = cb_xasprintf("%s/index.json.tmp-Qw", f->root->store);
    cb_autofree char *statcache = cb_xasprintf("%s/statcache", f->root->cache);
    const char *files[] = {rec_tmp, sc_tmp, ex_tmp, ex_keep, idx_tmp, statcache};
    for (size_t i = 0; i < CB_ARRAY_LEN(files); i++)
        tu_write(files[i], "x", 1);
    /* An old mtime does not make an entry old: its ctime is now. */
    set_mtime(rec_tmp, f->t0 - DAY);

    f->opts.now = f->t0 + 30 * MIN;
    prune_ok(f);
    assert_int_equal(f->rep.temps, 0);
    for (size_t i = 0; i < CB_ARRAY_LEN(files); i++)
        assert_true(exists(files[i]));
    assert_true(exists(file));

    f->opts.now = f->t0 + 2 * HOUR;
    prune_ok(f);
    assert_int_equal(f->rep.temps, 5);
    assert_int_equal(f->rep.bytes, 10 + 4);
    assert_false(exists(scratch));
    assert_false(exists(rec_tmp) || exists(sc_tmp) || exists(ex_tmp) || exists(idx_tmp));
    assert_true(exists(ex_keep));
    assert_true(exists(statcache));
    assert_true(exists(f->root->tmp));
}

/* A manifest that cannot be read: what it references is unknown, so
 * nothing at all is removed, and the error names the file. */
static void test_damaged_manifest_stops(void **state) {
    fixture_t *f = *state;
    image_t im = make_image(f, "app");
    add_to_index(f, "localhost/app:1", CB_MT_OCI_MANIFEST, &im.manifest);
    cb_autofree char *pm = blob_path(f, im.manifest.digest);
    cb_autofree char *m = tu_read(pm, NULL);
    m[0] = '[';
    tu_write(pm, m, strlen(m));
    blob_t garbage = put_blob(f, "garbage");
    blob_t l = put_blob(f, "layer");
    cb_autofree char *k = put_record(f, "junk", &l, f->t0);
    cb_autofree char *pk = cb_cache_record_path(f->root, k);
    tu_write(pk, "junk", 4);

    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_prune(f->root, &f->opts, &f->rep, &err), -1);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, pm));
    assert_non_null(strstr(msg, "localhost/app:1"));
    assert_non_null(strstr(msg, "nothing was removed"));
    assert_true(has_blob(f, &garbage));
    assert_true(has_record(f, k));
    assert_null(f->rep.running_build);
}

/* A manifest that is missing references nothing prune could keep. */
static void test_missing_manifest(void **state) {
    fixture_t *f = *state;
    image_t im = make_image(f, "app");
    image_t other = make_image(f, "other");
    add_to_index(f, "localhost/app:1", CB_MT_OCI_MANIFEST, &im.manifest);
    add_to_index(f, "localhost/other:1", CB_MT_OCI_MANIFEST, &other.manifest);
    cb_autofree char *pm = blob_path(f, im.manifest.digest);
    assert_int_equal(unlink(pm), 0);

    prune_ok(f);
    assert_false(has_blob(f, &im.config));
    assert_false(has_blob(f, &im.layers[0]));
    image_kept(f, &other);
    assert_int_equal(f->rep.blobs, 3);
}

/* Blobs under names that are not digests, and other algorithms, are not
 * prune's to judge. */
static void test_foreign_names(void **state) {
    fixture_t *f = *state;
    cb_autofree char *odd = cb_xasprintf("%s/blobs/sha256/README", f->root->store);
    cb_autofree char *upper = cb_xasprintf("%s/blobs/sha256/%064d", f->root->store, 0);
    tu_write(odd, "x", 1);
    tu_write(upper, "x", 1);
    cb_autofree char *sha512 = cb_xasprintf("%s/blobs/sha512", f->root->store);
    assert_int_equal(mkdir(sha512, 0755), 0);
    cb_autofree char *b512 = cb_xasprintf("%s/%0128d", sha512, 0);
    tu_write(b512, "x", 1);
    prune_ok(f);
    assert_true(exists(odd));
    assert_true(exists(b512));
    assert_false(exists(upper)); /* a sha256 name: an unreferenced blob */
}

typedef struct {
    const char *in;
    int64_t want;
} parse_case_t;

typedef int (*parse_fn)(const char *s, int64_t *out, cb_error_t **err);

/* Every good input gives its value; every bad one an input error that
 * quotes it. */
static void check_parser(parse_fn parse, const parse_case_t *good, size_t ngood, const char *const *bad,
                         size_t nbad) {
    for (size_t i = 0; i < ngood; i++) {
        int64_t v = -1;
        cb_autoerr cb_error_t *err = NULL;
        if (parse(good[i].in, &v, &err) < 0)
            fail_msg("\"%s\" refused", good[i].in);
        assert_int_equal(v, good[i].want);
    }
    for (size_t i = 0; i < nbad; i++) {
        int64_t v = -1;
        cb_autoerr cb_error_t *err = NULL;
        if (parse(bad[i], &v, &err) == 0)
            fail_msg("\"%s\" taken as %lld", bad[i], (long long)v);
        assert_int_equal(err->kind, CB_ERR_INPUT);
        cb_autofree char *msg = cb_error_message(err);
        assert_non_null(strstr(msg, bad[i]));
    }
}

static void test_parse_size(void **state) {
    (void)state;
    static const parse_case_t good[] = {
        {"0", 0},           {"4096", 4096},         {"1k", 1024},           {"1KB", 1024},
        {"1KiB", 1024},     {"500MB", 500LL << 20}, {"500 MB", 500LL << 20}, {"5GB", 5LL << 30},
        {"5g", 5LL << 30},  {"1.5GB", 3LL << 29},   {"2TB", 2LL << 40},     {"1PB", 1LL << 50},
        {"10B", 10},
    };
    static const char *const bad[] = {"", "GB", "-1", "5XB", "5 GB extra", "1.2.3G", "99999999999PB", "5GBs"};
    check_parser(cb_prune_parse_size, good, CB_ARRAY_LEN(good), bad, CB_ARRAY_LEN(bad));
}

static void test_parse_duration(void **state) {
    (void)state;
    static const parse_case_t good[] = {
        {"0", 0},          {"24h", 24 * HOUR},  {"30m", 30 * MIN},    {"7d", 7 * DAY},
        {"1h30m", 90 * MIN}, {"1.5h", 90 * MIN}, {"90s", 90 * SEC},    {"500ms", 500000000},
        {"2us", 2000},     {"3\xc2\xb5s", 3000}, /* µs */
    };
    static const char *const bad[] = {"", "24", "h", "-1h", "1y", "1h 30m", "9999999999999d"};
    check_parser(cb_prune_parse_duration, good, CB_ARRAY_LEN(good), bad, CB_ARRAY_LEN(bad));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_keeps_what_is_referenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_of_manifests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_until, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_manifest_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_names, setup, teardown),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
