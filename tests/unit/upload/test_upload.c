/* push/upload.h and push/push_sources.h against a registry simulated in the
 * request function: distribution's upload rules (an upload URL carries the
 * offset it was issued at, and a URL whose offset is not what the registry
 * holds is refused with 404 BLOB_UPLOAD_INVALID, as distribution 2.8 does),
 * with faults scripted per request: a request that never arrives, one whose
 * answer is lost after the registry applied it, one cut in half, a 500. The
 * real registry and a fault proxy are in tests/integration/test_push.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/blob.h"
#include "common/fsutil.h"
#include "push/push_sources.h"
#include "push/upload.h"

enum fault { F_NONE, F_NOT_SENT, F_ANSWER_LOST, F_CUT, F_500 };

#define MAX_REQ 256
typedef struct fake {
    /* the registry */
    char *blob_digest;   /* the one blob it holds, or NULL */
    cb_buf_t blob;
    bool other_repo_has; /* a mount from "other/repo" succeeds */
    cb_buf_t upload;     /* the open session's data */
    int session;         /* its id; 0 none */
    char *manifest_digest_override;
    /* the script */
    enum fault faults[MAX_REQ];
    int nreq;
    char methods[MAX_REQ][8];
} fake_t;

static void add_header(cb_http_response_t *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_header(cb_http_response_t *rs, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cb_strv_take(&rs->headers, cb_xvasprintf(fmt, ap));
    va_end(ap);
}

static void body_of(const cb_http_request_t *rq, cb_buf_t *out) {
    if (rq->body_fd >= 0 && rq->body_fd_len > 0) {
        char *b = cb_xmalloc((size_t)rq->body_fd_len);
        assert_int_equal(pread(rq->body_fd, b, (size_t)rq->body_fd_len, rq->body_fd_offset), rq->body_fd_len);
        cb_buf_add(out, b, (size_t)rq->body_fd_len);
        free(b);
    } else if (rq->body_len) {
        cb_buf_add(out, rq->body, rq->body_len);
    }
}

/* "...?state=N&..." -> N, or -1 */
static long state_of(const char *url) {
    const char *s = strstr(url, "state=");
    return s ? atol(s + 6) : -1;
}

static void location(fake_t *f, cb_http_response_t *rs) {
    add_header(rs, "Location: /v2/team/app/blobs/uploads/u%d?state=%zu", f->session, f->upload.len);
}

static int fake_do(void *ctx, const cb_http_request_t *rq, cb_http_response_t *rs, cb_error_t **err) {
    fake_t *f = ctx;
    int n = f->nreq++;
    assert_true(n < MAX_REQ);
    snprintf(f->methods[n], sizeof f->methods[n], "%s", rq->method);
    enum fault fault = f->faults[n];
    if (fault == F_NOT_SENT)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s %s: connection reset", rq->method, rq->url);
    if (fault == F_500) {
        rs->status = 500;
        cb_buf_puts(&rs->body, "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"scripted\"}]}");
        return 0;
    }
    for (const char *const *h = rq->headers; h && *h; h++)
        if (strcmp(rq->method, "PUT") == 0 && strncasecmp(*h, "Content-Range:", 14) == 0)
            fail_msg("a PUT with %s", *h); /* RFC 9110: a server may refuse it */
    cb_autobuf cb_buf_t body = CB_BUF_INIT;
    body_of(rq, &body);
    if (fault == F_CUT)
        cb_buf_truncate(&body, body.len / 2);
    const char *url = rq->url;
    bool is_upload_url = strstr(url, "/blobs/uploads/u") != NULL;
    if (strcmp(rq->method, "HEAD") == 0) {
        rs->status = f->blob_digest && strstr(url, f->blob_digest) ? 200 : 404;
    } else if (strcmp(rq->method, "POST") == 0) {
        if (strstr(url, "mount=") && strstr(url, "from=other%2Frepo") && f->other_repo_has) {
            rs->status = 201;
        } else {
            f->session++;
            cb_buf_truncate(&f->upload, 0);
            rs->status = 202;
            location(f, rs);
        }
    } else if (is_upload_url && state_of(url) != (long)f->upload.len) {
        rs->status = 404; /* distribution: "upload resumed at wrong offset" */
        cb_buf_puts(&rs->body, "{\"errors\":[{\"code\":\"BLOB_UPLOAD_INVALID\",\"message\":\"blob upload invalid\"}]}");
    } else if (strcmp(rq->method, "GET") == 0 && is_upload_url) {
        rs->status = 204;
        add_header(rs, "Range: 0-%zu", f->upload.len ? f->upload.len - 1 : 0);
        location(f, rs);
    } else if (strcmp(rq->method, "PATCH") == 0) {
        cb_buf_add(&f->upload, body.data, body.len);
        rs->status = 202;
        location(f, rs);
    } else if (strcmp(rq->method, "PUT") == 0 && is_upload_url) {
        cb_buf_add(&f->upload, body.data, body.len);
        char d[CB_DIGEST_STR_LEN + 1];
        cb_sha256_digest(f->upload.data ? f->upload.data : "", f->upload.len, d);
        const char *want = strstr(url, "digest=");
        assert_non_null(want);
        if (strncmp(want + 7, "sha256%3A", 9) != 0 || strncmp(want + 16, d + 7, 64) != 0) {
            rs->status = 400;
            cb_buf_puts(&rs->body, "{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"provided digest did not match uploaded content\"}]}");
        } else {
            rs->status = 201;
            free(f->blob_digest);
            f->blob_digest = cb_xstrdup(d);
            cb_buf_truncate(&f->blob, 0);
            cb_buf_add(&f->blob, f->upload.data, f->upload.len);
            add_header(rs, "Docker-Content-Digest: %s", d);
        }
        f->session = 0;
    } else if (strcmp(rq->method, "PUT") == 0 && strstr(url, "/manifests/")) {
        char d[CB_DIGEST_STR_LEN + 1];
        cb_sha256_digest(body.data, body.len, d);
        rs->status = 201;
        add_header(rs, "Docker-Content-Digest: %s", f->manifest_digest_override ? f->manifest_digest_override : d);
    } else {
        fail_msg("unexpected %s %s", rq->method, url);
    }
    if (fault == F_CUT || fault == F_ANSWER_LOST) {
        cb_strv_free(&rs->headers);
        cb_buf_free(&rs->body);
        rs->status = 0;
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s %s: empty reply", rq->method, rq->url);
    }
    return 0;
}

typedef struct env {
    char *dir;
    cb_store_t *store;
    fake_t f;
    cb_upload_target_t t;
    cb_oci_descriptor_t d;
    char *data;
    size_t len;
} env_t;

static env_t *env_new(size_t len, int64_t chunk) {
    env_t *e = cb_xcalloc(1, sizeof(*e));
    char tmpl[] = "/tmp/cb-upload-XXXXXX";
    e->dir = cb_xstrdup(mkdtemp(tmpl));
    cb_autofree char *store = cb_xasprintf("%s/store", e->dir), *tmp = cb_xasprintf("%s/tmp", e->dir);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(mkdir(tmp, 0700), 0);
    if (cb_store_open(store, tmp, &e->store, &err) < 0)
        fail_msg("%s", err->msg);
    e->len = len;
    e->data = cb_xmalloc(len);
    for (size_t i = 0; i < len; i++)
        e->data[i] = (char)(i * 7 + i / 251);
    char digest[CB_DIGEST_STR_LEN + 1];
    assert_int_equal(cb_blob_put(e->store, e->data, len, digest, &err), 0);
    e->d = (cb_oci_descriptor_t){.media_type = CB_MT_OCI_LAYER, .digest = cb_xstrdup(digest), .size = (int64_t)len};
    e->t = (cb_upload_target_t){.base_url = "http://reg.test", .registry = "reg.test", .repository = "team/app",
                                .request = fake_do, .request_ctx = &e->f, .mono_max = chunk,
                                .chunk_size = chunk, .root_dir = e->dir};
    return e;
}

static void env_free(env_t *e) {
    cb_autoerr cb_error_t *err = NULL;
    cb_rm_rf(e->dir, &err);
    free(e->dir);
    cb_store_free(e->store);
    free(e->d.digest);
    free(e->data);
    free(e->f.blob_digest);
    cb_buf_free(&e->f.blob);
    cb_buf_free(&e->f.upload);
    free(e);
}

static void upload_ok(env_t *e) {
    cb_autoerr cb_error_t *err = NULL;
    if (cb_upload_blob(&e->t, e->store, &e->d, &err) < 0)
        fail_msg("upload: %s", cb_error_message(err));
    assert_string_equal(e->f.blob_digest, e->d.digest);
    assert_int_equal(e->f.blob.len, e->len);
    assert_memory_equal(e->f.blob.data, e->data, e->len);
}

static int count(const env_t *e, const char *method) {
    int n = 0;
    for (int i = 0; i < e->f.nreq; i++)
        n += strcmp(e->f.methods[i], method) == 0;
    return n;
}

static void test_monolithic(void **state) {
    env_t *e = env_new(1000, 4096);
    upload_ok(e);
    assert_int_equal(e->f.nreq, 3); /* HEAD, POST, PUT with the body */
    assert_int_equal(count(e, "PATCH"), 0);
    assert_int_equal(e->t.stats.uploaded, 1);
    /* A second time the HEAD finds it. */
    upload_ok(e);
    assert_int_equal(e->f.nreq, 4);
    assert_int_equal(e->t.stats.skipped, 1);
    env_free(e);
}

static void test_chunked(void **state) {
    env_t *e = env_new(10000, 3000);
    upload_ok(e);
    assert_int_equal(count(e, "PATCH"), 4); /* 3000 3000 3000 1000, then an empty PUT */
    assert_int_equal(count(e, "PUT"), 1);
    env_free(e);
}

static void test_resume_after_lost_request(void **state) {
    env_t *e = env_new(10000, 3000);
    e->f.faults[3] = F_NOT_SENT; /* HEAD POST PATCH [PATCH] */
    upload_ok(e);
    assert_int_equal(e->t.stats.resumed, 1);
    assert_int_equal(e->t.stats.restarted, 0);
    assert_int_equal(count(e, "GET"), 1);
    assert_int_equal(count(e, "POST"), 1);
    env_free(e);
}

static void test_restart_after_lost_answer(void **state) {
    /* The registry took the chunk but the answer never came: the URL the
     * client holds is stale, distribution refuses it, a new session starts. */
    env_t *e = env_new(10000, 3000);
    e->f.faults[3] = F_ANSWER_LOST;
    upload_ok(e);
    assert_int_equal(e->t.stats.restarted, 1);
    assert_int_equal(count(e, "POST"), 2);
    env_free(e);
}

static void test_cut_and_500s(void **state) {
    env_t *e = env_new(10000, 3000);
    e->f.faults[2] = F_CUT;
    e->f.faults[6] = F_500;
    e->f.faults[9] = F_NOT_SENT;
    upload_ok(e);
    assert_true(e->t.stats.restarted >= 1);
    env_free(e);
}

static void test_gives_up(void **state) {
    env_t *e = env_new(10000, 3000);
    e->t.attempts = 2;
    for (int i = 2; i < MAX_REQ; i++)
        e->f.faults[i] = F_500;
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_upload_blob(&e->t, e->store, &e->d, &err), -1);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "team/app"));
    assert_non_null(strstr(msg, e->d.digest));
    assert_non_null(strstr(msg, "500"));
    assert_null(e->f.blob_digest);
    env_free(e);
}

static void test_budget_is_per_streak(void **state) {
    /* One failure allowed in a row; three spread out, with progress between. */
    env_t *e = env_new(10000, 1000);
    e->t.attempts = 1;
    e->f.faults[2] = e->f.faults[5] = e->f.faults[8] = F_NOT_SENT;
    upload_ok(e);
    assert_int_equal(e->t.stats.resumed, 3);
    env_free(e);
}

static void test_corrupt_blob_refused(void **state) {
    env_t *e = env_new(1000, 4096);
    /* Same size, other bytes: the registry's digest check refuses it. */
    cb_autofree char *path = cb_store_blob_path(e->store, e->d.digest);
    FILE *fp = fopen(path, "r+");
    assert_non_null(fp);
    fputs("XX", fp);
    fclose(fp);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_upload_blob(&e->t, e->store, &e->d, &err), -1);
    cb_autofree char *msg = cb_error_message(err);
    assert_non_null(strstr(msg, "DIGEST_INVALID"));
    assert_null(e->f.blob_digest);
    env_free(e);
}

static void no_scope(void *ctx, const char *scope) {
}

static void test_mount(void **state) {
    env_t *e = env_new(1000, 4096);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_blob_source_add(e->dir, e->d.digest, "reg.test", "other/repo", &err), 0);
    /* Without add_scope (no way to widen the token) no mount is tried. */
    upload_ok(e);
    assert_int_equal(e->t.stats.mounted, 0);
    free(e->f.blob_digest);
    e->f.blob_digest = NULL;
    e->f.other_repo_has = true;
    e->t.add_scope = no_scope; /* push.c widens the token with it before blobs move */
    assert_int_equal(cb_upload_blob(&e->t, e->store, &e->d, &err), 0);
    assert_int_equal(e->t.stats.mounted, 1);
    /* A stale record: the mount opens an ordinary upload, which is used. */
    e->f.other_repo_has = false;
    assert_int_equal(cb_upload_blob(&e->t, e->store, &e->d, &err), 0);
    assert_int_equal(e->t.stats.uploaded, 2);
    env_free(e);
}

static void test_manifest_digest_checked(void **state) {
    env_t *e = env_new(10, 4096);
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_upload_manifest(&e->t, "v1", CB_MT_OCI_MANIFEST, "{}", 2, &err), 0);
    e->f.manifest_digest_override = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(cb_upload_manifest(&e->t, "v1", CB_MT_OCI_MANIFEST, "{}", 2, &err), -1);
    assert_int_equal(err->kind, CB_ERR_INTEGRITY);
    env_free(e);
}

static void test_sources(void **state) {
    char tmpl[] = "/tmp/cb-sources-XXXXXX";
    const char *root = mkdtemp(tmpl);
    const char *d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    cb_autoerr cb_error_t *err = NULL;
    assert_int_equal(cb_blob_source_add(root, d, "r:5000", "a/one", &err), 0);
    assert_int_equal(cb_blob_source_add(root, d, "r:5000", "b/two", &err), 0);
    assert_int_equal(cb_blob_source_add(root, d, "r:5000", "a/one", &err), 0); /* once */
    assert_int_equal(cb_blob_source_add(root, d, "r:50001", "c/three", &err), 0);
    assert_int_equal(cb_blob_source_add(root, d, "r:5000", "bad name", &err), 0); /* not recorded */
    assert_int_equal(cb_blob_source_add(root, "sha256:bad", "r", "x", &err), -1);
    cb_error_free(err);
    err = NULL;
    cb_autostrv cb_strv_t v = CB_STRV_INIT;
    cb_blob_sources_on(root, d, "r:5000", NULL, &v);
    assert_int_equal(v.len, 2);
    assert_string_equal(v.items[0], "b/two"); /* most recent first */
    assert_string_equal(v.items[1], "a/one");
    cb_strv_free(&v);
    cb_blob_sources_on(root, d, "r:5000", "b/two", &v);
    assert_int_equal(v.len, 1);
    assert_string_equal(v.items[0], "a/one");
    cb_strv_free(&v);
    cb_blob_sources_on(root, "sha256:2222222222222222222222222222222222222222222222222222222222222222", "r:5000", NULL, &v);
    assert_int_equal(v.len, 0);
    cb_rm_rf(root, &err);
}

/* The parsers of a session's status answer (fuzzed by tests/fuzz/fuzz_http_headers). */
static void test_answer_headers(void **state) {
    assert_int_equal(cb_upload_range_held(NULL), 0);
    assert_int_equal(cb_upload_range_held("0-0"), 0); /* none, or one byte: start over */
    assert_int_equal(cb_upload_range_held("0-1"), 2);
    assert_int_equal(cb_upload_range_held("0-33554431"), 33554432);
    assert_int_equal(cb_upload_range_held(" 0-9"), 10);
    assert_int_equal(cb_upload_range_held("5-9"), 0);
    assert_int_equal(cb_upload_range_held("0-"), 0);
    assert_int_equal(cb_upload_range_held("x-9"), 0);
    assert_int_equal(cb_upload_range_held("bytes=0-9"), 0);
    /* Undefined behaviour before: N+1 overflowed for the largest N, and sscanf on
     * out-of-range numbers (seed testdata/fuzz/http_headers/overflow). */
    assert_int_equal(cb_upload_range_held("0-9223372036854775807"), 0);
    assert_int_equal(cb_upload_range_held("0-9223372036854775806"), INT64_MAX);
    assert_int_equal(cb_upload_range_held("0-99999999999999999999"), 0);

    cb_autofree char *rel = cb_upload_location_url("http://r:5000", "/v2/a/blobs/uploads/u1?s=2");
    assert_string_equal(rel, "http://r:5000/v2/a/blobs/uploads/u1?s=2");
    cb_autofree char *dot = cb_upload_location_url("http://r:5000", "uploads/u2");
    assert_string_equal(dot, "http://r:5000/v2/uploads/u2");
    cb_autofree char *abs = cb_upload_location_url("http://r:5000", "https://s.example/u?x=1");
    assert_string_equal(abs, "https://s.example/u?x=1");
    assert_null(cb_upload_location_url("http://r:5000", "http://[::1"));

    cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    assert_int_equal(cb_http_retry_after_ms(&rs), -1);
    add_header(&rs, "Retry-After: 2");
    assert_int_equal(cb_http_retry_after_ms(&rs), 2000);
    cb_http_response_clear(&rs);
    add_header(&rs, "Retry-After: 9223372036854775807"); /* UB in upload.c's own copy before */
    assert_int_equal(cb_http_retry_after_ms(&rs), 60000);
    cb_http_response_clear(&rs);
    add_header(&rs, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT"); /* in the past */
    assert_int_equal(cb_http_retry_after_ms(&rs), 0);
    cb_http_response_clear(&rs);

    /* Header lines as libcurl hands them over: a status line starts over. */
    assert_false(cb_http_response_add_header(&rs, "Range: 0-1\r\n", 12));
    assert_true(cb_http_response_add_header(&rs, "HTTP/1.1 200 OK\r\n", 17));
    assert_false(cb_http_response_add_header(&rs, "Location:  /x\r\n", 15));
    assert_false(cb_http_response_add_header(&rs, "no colon\r\n", 10));
    assert_false(cb_http_response_add_header(&rs, "\r\n", 2));
    assert_int_equal(rs.headers.len, 1);
    assert_null(cb_http_header(&rs, "Range", 0));
    assert_string_equal(cb_http_header(&rs, "location", 0), "/x");
    cb_http_response_clear(&rs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monolithic),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_resume_after_lost_request),
        cmocka_unit_test(test_restart_after_lost_answer),
        cmocka_unit_test(test_cut_and_500s),
        cmocka_unit_test(test_gives_up),
        cmocka_unit_test(test_budget_is_per_streak),
        cmocka_unit_test(test_corrupt_blob_refused),
        cmocka_unit_test(test_mount),
        cmocka_unit_test(test_manifest_digest_checked),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_answer_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
