/* Blob and manifest uploads (push/upload.h). */
#include "push/upload.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/blob.h"
#include "common/log.h"
#include "push/errors.h"
#include "push/push_sources.h"

#define BACKOFF_FIRST_MS 250L /* without an HTTP client (tests): CB_HTTP_OPTS_INIT's */
#define BACKOFF_MAX_MS 10000L

char *cb_upload_location_url(const char *base_url, const char *loc) {
    CURLU *u = curl_url();
    cb_autofree char *base = cb_xasprintf("%s/v2/", base_url);
    char *s = NULL;
    char *out = NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
        out = cb_xstrdup(s);
    curl_free(s);
    curl_url_cleanup(u);
    return out;
}

static int resolve_location(const cb_upload_target_t *t, const cb_http_response_t *resp, char **out,
                            cb_error_t **err) {
    const char *loc = cb_http_header(resp, "Location", 0);
    if (!loc || !*loc)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: the registry's answer (HTTP %ld) has no Location",
                                 t->repository, resp->status);
    *out = cb_upload_location_url(t->base_url, loc);
    if (!*out)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: bad Location from the registry: %s", t->repository, loc);
    return 0;
}

int64_t cb_upload_range_held(const char *range) {
    /* "0-N": N+1 bytes held; distribution says "0-0" for none as well as for one byte,
     * so a one-byte claim is read as zero (re-sending one byte costs nothing). strtoll,
     * not sscanf: a number out of range is undefined for sscanf; and N = INT64_MAX
     * would overflow N+1 (no registry holds that much), so it says nothing. */
    if (!range)
        return 0;
    char *end;
    errno = 0;
    long long a = strtoll(range, &end, 10);
    if (end == range || errno || a != 0 || *end != '-')
        return 0;
    const char *p = end + 1;
    long long b = strtoll(p, &end, 10);
    if (end == p || errno || b <= 0 || b >= INT64_MAX)
        return 0;
    return (int64_t)b + 1;
}

/* url plus a query parameter, after any query it has. */
static char *with_param(const char *url, const char *name, const char *value) {
    cb_autofree char *v = cb_http_query_escape(value);
    return cb_xasprintf("%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', name, v);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* The wait before recovery attempt n (0-based): doubling backoff from the
 * HTTP client's first retry wait ($CBUILD_REGISTRY_RETRY_DELAY), or the
 * registry's Retry-After (seconds) when it gave one. */
static long backoff_ms(const cb_upload_target_t *t, int n, const cb_http_response_t *resp) {
    long ra = resp ? cb_http_retry_after_ms(resp) : -1;
    if (ra >= 0)
        return ra;
    long first = t->http ? cb_http_retry_delay_ms(t->http) : BACKOFF_FIRST_MS;
    long ms = first << (n < 6 ? n : 6);
    return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

static bool transient_status(long s) {
    return s >= 500 || s == 408 || s == 429;
}

typedef struct session {
    cb_upload_target_t *t;
    const cb_oci_descriptor_t *d;
    char *url;      /* the upload URL the registry gave last */
    int64_t offset; /* bytes the registry holds */
} session_t;

/* POSTs a new session (a mount when from is set). *done is set when the mount succeeded. */
static int session_open(session_t *s, const char *from, bool *done, cb_error_t **err) {
    cb_upload_target_t *t = s->t;
    *done = false;
    cb_autofree char *url = cb_xasprintf("%s/v2/%s/blobs/uploads/", t->base_url, t->repository);
    if (from) {
        cb_autofree char *m = with_param(url, "mount", s->d->digest);
        free(url);
        url = with_param(m, "from", from);
    }
    cb_http_request_t rq = CB_HTTP_REQUEST("POST", url);
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    if (t->request(t->request_ctx, &rq, &rs, err) < 0)
        return cb_error_wrap(err, "%s: starting the upload of %s", t->repository, s->d->digest);
    if (from && rs.status == 201) {
        *done = true;
        return 0;
    }
    if (rs.status != 202)
        return cb_registry_fail(err, &rs, "%s: starting the upload of %s", t->repository, s->d->digest);
    free(s->url);
    s->url = NULL;
    s->offset = 0;
    return resolve_location(t, &rs, &s->url, err);
}

/* Asks the registry where the session stands. 1: it does not know it any more. */
static int session_status(session_t *s, cb_error_t **err) {
    cb_upload_target_t *t = s->t;
    cb_http_request_t rq = CB_HTTP_REQUEST("GET", s->url);
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    if (t->request(t->request_ctx, &rq, &rs, err) < 0)
        return -1;
    if (rs.status != 204 && rs.status != 200)
        return 1;
    s->offset = cb_upload_range_held(cb_http_header(&rs, "Range", 0));
    if (s->offset > s->d->size)
        return 1;
    char *url = NULL;
    cb_autoerr cb_error_t *lerr = NULL;
    if (cb_http_header(&rs, "Location", 0) && resolve_location(t, &rs, &url, &lerr) == 0) {
        free(s->url);
        s->url = url;
    }
    return 0;
}

/* One PATCH of [offset, offset+n) or the final PUT (with the rest of the body
 * when monolithic). 0 and the session moved on; 1 a transient failure (*resp
 * holds the answer if any); < 0 a failure that retrying cannot fix. */
static int send_part(session_t *s, int fd, bool final, int64_t n, cb_http_response_t *rs, cb_error_t **err) {
    cb_upload_target_t *t = s->t;
    cb_autofree char *url = final ? with_param(s->url, "digest", s->d->digest) : cb_xstrdup(s->url);
    cb_autofree char *range = cb_xasprintf("Content-Range: %" PRId64 "-%" PRId64, s->offset, s->offset + n - 1);
    /* Content-Range only on PATCH: HTTP lets a server refuse a PUT that has one. */
    const char *hdrs[] = {"Content-Type: application/octet-stream", n > 0 && !final ? range : NULL, NULL};
    cb_http_request_t rq = CB_HTTP_REQUEST(final ? "PUT" : "PATCH", url);
    rq.headers = hdrs;
    rq.no_retry = true; /* recovery asks the registry first (see upload.h) */
    rq.meter = t->meter;
    if (n > 0) {
        rq.body_fd = fd;
        rq.body_fd_offset = s->offset;
        rq.body_fd_len = n;
    }
    cb_autoerr cb_error_t *herr = NULL;
    atomic_fetch_add(&t->stats.bytes, (uint64_t)n);
    if (t->request(t->request_ctx, &rq, rs, &herr) < 0) {
        cb_debug("push", "%s %s: %s", rq.method, s->d->digest, herr->msg);
        return 1;
    }
    if (transient_status(rs->status))
        return 1;
    if (rs->status == 404 && !final) /* the session is gone: start over */
        return 1;
    if (final && rs->status == 404)
        return 1;
    if ((final && rs->status != 201) || (!final && rs->status != 202))
        return cb_registry_fail(err, rs, "%s: uploading %s", t->repository, s->d->digest);
    if (final) {
        const char *got = cb_http_header(rs, "Docker-Content-Digest", 0);
        if (got && strcmp(got, s->d->digest) != 0)
            return cb_error_kind_set(err, CB_ERR_INTEGRITY, "%s: the registry stored %s as %s", t->repository,
                                     s->d->digest, got);
        return 0;
    }
    char *next = NULL;
    if (resolve_location(t, rs, &next, err) < 0)
        return -1;
    free(s->url);
    s->url = next;
    s->offset += n;
    return 0;
}

/* Sends the blob through the open session, recovering from faults. */
static int session_send(session_t *s, int fd, cb_error_t **err) {
    cb_upload_target_t *t = s->t;
    int64_t mono = t->mono_max > 0 ? t->mono_max : CB_UPLOAD_MONO_MAX_DEFAULT;
    int64_t chunk = t->chunk_size > 0 ? t->chunk_size : CB_UPLOAD_CHUNK_DEFAULT;
    int attempts = t->attempts > 0 ? t->attempts : 6;
    bool monolithic = s->d->size <= mono;
    for (int failures = 0;;) {
        bool final = monolithic || s->offset + chunk >= s->d->size;
        int64_t n = final ? s->d->size - s->offset : chunk;
        if (!monolithic && final && n > 0) {
            /* The last chunk as a PATCH, then an empty PUT: one request shape per role. */
            final = false;
        }
        cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
        int rc = send_part(s, fd, final, n, &rs, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (final)
                return 0;
            failures = 0; /* the budget is for failures in a row, without progress */
            continue;
        }
        if (++failures > attempts) {
            if (rs.status)
                return cb_registry_fail(err, &rs, "%s: uploading %s: gave up after %d attempts", t->repository,
                                        s->d->digest, failures);
            return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s: uploading %s: gave up after %d broken connections",
                                     t->repository, s->d->digest, failures);
        }
        sleep_ms(backoff_ms(t, failures - 1, rs.status ? &rs : NULL));
        cb_autoerr cb_error_t *serr = NULL;
        int st = session_status(s, &serr);
        if (st == 0 && !(monolithic && s->offset > 0)) {
            atomic_fetch_add(&t->stats.resumed, 1);
            cb_debug("push", "%s: resuming at %" PRId64, s->d->digest, s->offset);
            continue;
        }
        /* The registry lost the session or holds a part a monolithic PUT cannot
         * continue: a new session from the start. */
        bool done = false;
        atomic_fetch_add(&t->stats.restarted, 1);
        cb_debug("push", "%s: new upload session", s->d->digest);
        if (session_open(s, NULL, &done, err) < 0)
            return -1;
    }
}

char *cb_upload_mount_source(const cb_upload_target_t *t, const cb_oci_descriptor_t *d) {
    if (!t->root_dir || !t->add_scope)
        return NULL;
    cb_autostrv cb_strv_t from = CB_STRV_INIT;
    cb_blob_sources_on(t->root_dir, d->digest, t->registry, t->repository, &from);
    return from.len ? cb_xstrdup(from.items[0]) : NULL;
}

/* Mounts or uploads a blob the repository lacks. */
static int send_blob(cb_upload_target_t *t, const cb_store_t *store, const cb_oci_descriptor_t *d,
                     cb_error_t **err) {
    cb_autofree char *path = cb_store_blob_path(store, d->digest);
    cb_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return cb_error_set(err, errno, "blob %s is not in the store (%s)", d->digest, path);
    if (sb.st_size != d->size)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "blob %s in the store has %lld bytes, the manifest says %lld",
                                 d->digest, (long long)sb.st_size, (long long)d->size);
    session_t s = {.t = t, .d = d};
    bool done = false;
    cb_autofree char *from = cb_upload_mount_source(t, d);
    if (from) {
        cb_autoerr cb_error_t *merr = NULL;
        if (session_open(&s, from, &done, &merr) < 0) {
            cb_debug("push", "mount of %s from %s: %s", d->digest, from, merr->msg);
        } else if (done) {
            atomic_fetch_add(&t->stats.mounted, 1);
            cb_meter_blob_done(t->meter, (uint64_t)d->size, true);
            return 0;
        }
    }
    int rc = 0;
    if (!s.url)
        rc = session_open(&s, NULL, &done, err);
    if (rc == 0)
        rc = session_send(&s, fd, err);
    free(s.url);
    if (rc == 0) {
        atomic_fetch_add(&t->stats.uploaded, 1);
        cb_meter_blob_done(t->meter, (uint64_t)d->size, false);
    }
    return rc;
}

int cb_upload_blob(cb_upload_target_t *t, const cb_store_t *store, const cb_oci_descriptor_t *d,
                   cb_error_t **err) {
    cb_autofree char *head_url = cb_xasprintf("%s/v2/%s/blobs/%s", t->base_url, t->repository, d->digest);
    cb_http_request_t hq = CB_HTTP_REQUEST("HEAD", head_url);
    cb_autoresponse cb_http_response_t hs = CB_HTTP_RESPONSE_INIT;
    if (t->request(t->request_ctx, &hq, &hs, err) < 0)
        return cb_error_wrap(err, "%s: checking for %s", t->repository, d->digest);
    if (hs.status == 200) {
        atomic_fetch_add(&t->stats.skipped, 1);
        cb_meter_blob_done(t->meter, (uint64_t)d->size, true);
    } else if (hs.status != 404) {
        return cb_registry_fail(err, &hs, "%s: checking for %s", t->repository, d->digest);
    } else if (send_blob(t, store, d, err) < 0) {
        return -1;
    }
    if (t->root_dir) {
        cb_autoerr cb_error_t *rerr = NULL;
        if (cb_blob_source_add(t->root_dir, d->digest, t->registry, t->repository, &rerr) < 0)
            cb_debug("push", "blob source record: %s", rerr->msg);
    }
    return 0;
}

int cb_upload_manifest(cb_upload_target_t *t, const char *reference, const char *media_type,
                       const char *bytes, size_t len, cb_error_t **err) {
    cb_autofree char *url = cb_xasprintf("%s/v2/%s/manifests/%s", t->base_url, t->repository, reference);
    cb_autofree char *ct = cb_xasprintf("Content-Type: %s", media_type);
    const char *hdrs[] = {ct, NULL};
    cb_http_request_t rq = CB_HTTP_REQUEST("PUT", url);
    rq.headers = hdrs;
    rq.body = bytes;
    rq.body_len = len;
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    if (t->request(t->request_ctx, &rq, &rs, err) < 0)
        return cb_error_wrap(err, "%s: putting the manifest %s", t->repository, reference);
    if (rs.status != 201 && rs.status != 200)
        return cb_registry_fail(err, &rs, "%s: putting the manifest %s", t->repository, reference);
    char want[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(bytes, len, want);
    const char *got = cb_http_header(&rs, "Docker-Content-Digest", 0);
    if (got && strcmp(got, want) != 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "%s: the registry stored the manifest as %s, not %s",
                                 t->repository, got, want);
    return 0;
}
