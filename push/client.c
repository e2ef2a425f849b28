/* A registry session (push/client.h). */
#include "push/client.h"

#include <stdlib.h>
#include <string.h>

#include "cache/oci.h"
#include "common/digest.h"
#include "common/log.h"
#include "push/authfile.h"
#include "push/errors.h"

#define MAX_HEADERS 16

struct cb_client {
    cb_http_t *http;
    char *name;      /* registry/repository */
    char *registry;
    char *repository;
    char *base;      /* scheme://host */
    char *scope;     /* space-separated token scopes */
    bool insecure;   /* certificate checks off */
    cb_auth_t *auth;
};

const char *cb_client_name(const cb_client_t *c) {
    return c->name;
}

const char *cb_client_base_url(const cb_client_t *c) {
    return c->base;
}

void cb_client_add_scope(cb_client_t *c, const char *scope) {
    char *s = cb_xasprintf("%s %s", c->scope, scope);
    free(c->scope);
    c->scope = s;
}

void cb_client_free(cb_client_t *c) {
    if (!c)
        return;
    cb_auth_free(c->auth);
    free(c->name);
    free(c->registry);
    free(c->repository);
    free(c->base);
    free(c->scope);
    free(c);
}

static bool is_loopback(const char *host) {
    size_t n = strcspn(host, host[0] == '[' ? "]" : ":");
    if (host[0] == '[')
        return strncmp(host, "[::1", 4) == 0 && n == 4;
    return (n == 9 && strncmp(host, "localhost", 9) == 0) ||
           (n >= 4 && strncmp(host, "127.", 4) == 0);
}

/* GET /v2/ on base; 0 with the response, < 0 when no HTTP answer came. */
static int probe(cb_client_t *c, const char *base, bool fallback, cb_http_response_t *rs,
                 cb_error_t **err) {
    cb_autofree char *url = cb_xasprintf("%s/v2/", base);
    cb_http_request_t rq = CB_HTTP_REQUEST("GET", url);
    rq.no_retry = fallback;
    rq.tls_no_verify = c->insecure;
    return cb_http_do(c->http, &rq, rs, err);
}

int cb_client_open(const cb_client_opts_t *o, const cb_ref_t *ref, const char *actions,
                   cb_client_t **out, cb_error_t **err) {
    cb_client_t *c = cb_xcalloc(1, sizeof(*c));
    __attribute__((cleanup(cb_client_freep))) cb_client_t *own = c;
    c->http = o->http;
    c->registry = cb_xstrdup(ref->registry);
    c->repository = cb_xstrdup(ref->repository);
    c->name = cb_xasprintf("%s/%s", ref->registry, ref->repository);
    c->scope = cb_xasprintf("repository:%s:%s", ref->repository, actions);
    const char *host = cb_ref_api_host(ref);
    bool may_be_plain = !o->tls_verify || is_loopback(host);
    c->insecure = may_be_plain;

    cb_creds_t creds = {0};
    if (o->creds && o->creds->username) {
        creds.username = cb_xstrdup(o->creds->username);
        creds.password = cb_xstrdup(o->creds->password ? o->creds->password : "");
    } else if (cb_authfile_lookup(o->authfile, ref->registry, &creds, err) < 0) {
        return cb_error_wrap(err, "credentials for %s", ref->registry);
    }
    c->auth = cb_auth_new(c->http, ref->registry, &creds);
    cb_creds_clear(&creds);

    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    c->base = cb_xasprintf("https://%s", host);
    cb_autoerr cb_error_t *tls_err = NULL;
    if (probe(c, c->base, may_be_plain, &rs, may_be_plain ? &tls_err : err) < 0) {
        if (!may_be_plain)
            return cb_error_wrap(err, "%s", c->name);
        cb_debug("push", "%s: https failed (%s), trying http", host, tls_err->msg);
        free(c->base);
        c->base = cb_xasprintf("http://%s", host);
        if (probe(c, c->base, false, &rs, err) < 0)
            return cb_error_wrap(err, "%s (https: %s)", c->name, tls_err->msg);
    }
    if (rs.status == 401) {
        if (cb_auth_learn(c->auth, &rs, err) < 0)
            return -1;
    } else if (rs.status == 429 || rs.status >= 500) {
        return cb_registry_fail(err, &rs, "%s: the registry at %s is busy or failing (after the retries)",
                                c->name, c->base);
    } else if (rs.status != 200) {
        return cb_registry_fail(err, &rs, "%s: %s/v2/ does not look like a registry", c->name,
                                c->base);
    }
    *out = cb_steal_pointer(&own);
    return 0;
}

static int send_once(cb_client_t *c, const cb_http_request_t *rq, cb_http_response_t *rs,
                     cb_error_t **err) {
    cb_autofree char *auth = NULL;
    if (cb_auth_header(c->auth, c->scope, &auth, err) < 0)
        return cb_error_wrap(err, "%s", c->name);
    const char *hdrs[MAX_HEADERS + 2];
    size_t n = 0;
    if (auth)
        hdrs[n++] = auth;
    for (const char *const *p = rq->headers; p && *p; p++) {
        if (n == MAX_HEADERS)
            return cb_error_kind_set(err, CB_ERR_INTERNAL, "too many request headers");
        hdrs[n++] = *p;
    }
    hdrs[n] = NULL;
    cb_autofree char *url =
        rq->url[0] == '/' ? cb_xasprintf("%s%s", c->base, rq->url) : cb_xstrdup(rq->url);
    cb_http_request_t r = *rq;
    r.url = url;
    r.headers = hdrs;
    r.tls_no_verify = rq->tls_no_verify || c->insecure;
    int rc = cb_http_do(c->http, &r, rs, err);
    if (auth)
        explicit_bzero(auth, strlen(auth));
    return rc;
}

int cb_client_request(cb_client_t *c, const cb_http_request_t *rq, cb_http_response_t *rs,
                      cb_error_t **err) {
    if (send_once(c, rq, rs, err) < 0)
        return -1;
    if (rs->status != 401)
        return 0;
    /* The token expired early, or the registry wants another scope. */
    cb_auth_forget(c->auth, c->scope);
    if (cb_auth_learn(c->auth, rs, err) < 0)
        return cb_error_wrap(err, "%s", c->name);
    cb_http_response_clear(rs);
    if (send_once(c, rq, rs, err) < 0)
        return -1;
    if (rs->status == 401)
        return cb_registry_fail(err, rs, "%s: %s refused the credentials", c->name,
                                c->registry);
    return 0;
}

void cb_manifest_blob_clear(cb_manifest_blob_t *m) {
    free(m->media_type);
    free(m->data);
    *m = (cb_manifest_blob_t){0};
}

/* The media type a manifest declares; else the Content-Type. */
static char *manifest_type(const cb_http_response_t *rs) {
    json_t *j = json_loadb(rs->body.data, rs->body.len, 0, NULL);
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    char *out = NULL;
    if (mt && *mt) {
        out = cb_xstrdup(mt);
    } else {
        const char *ct = cb_http_header(rs, "Content-Type", 0);
        if (ct)
            out = cb_xstrndup(ct, strcspn(ct, "; "));
        /* An OCI document may omit mediaType and a server may send a generic
         * Content-Type: a "manifests" array makes it an index. */
        if (!out || !(cb_oci_is_manifest_type(out) || cb_oci_is_index_type(out))) {
            free(out);
            out = cb_xstrdup(json_object_get(j, "manifests") ? CB_MT_OCI_INDEX
                                                             : CB_MT_OCI_MANIFEST);
        }
    }
    if (j)
        json_decref(j);
    return out;
}

int cb_client_get_manifest(cb_client_t *c, const char *ref, cb_manifest_blob_t *out,
                           cb_error_t **err) {
    cb_autofree char *path = cb_xasprintf("/v2/%s/manifests/%s", c->repository, ref);
    const char *hdrs[] = {CB_MANIFEST_ACCEPT, NULL};
    cb_http_request_t rq = CB_HTTP_REQUEST("GET", path);
    rq.headers = hdrs;
    rq.max_body = CB_OCI_MAX_DOC_SIZE;
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    char sep = ref[0] && strchr(ref, ':') ? '@' : ':';
    if (cb_client_request(c, &rq, &rs, err) < 0)
        return cb_error_wrap(err, "%s%c%s: manifest", c->name, sep, ref);
    if (rs.status != 200)
        return cb_registry_fail(err, &rs, "%s%c%s: manifest", c->name, sep, ref);
    const char *ct = cb_http_header(&rs, "Content-Type", 0);
    if (ct && (strstr(ct, "manifest.v1+json") || strstr(ct, "manifest.v1+prettyjws")) &&
        strstr(ct, "docker"))
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s%c%s: a Docker schema 1 manifest (%s), which is not "
                                 "supported",
                                 c->name, sep, ref, ct);
    cb_manifest_blob_t m = {0};
    cb_sha256_digest(rs.body.data ? rs.body.data : "", rs.body.len, m.digest);
    const char *dcd = cb_http_header(&rs, "Docker-Content-Digest", 0);
    if (sep == '@' && strcmp(ref, m.digest) != 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "%s@%s: the registry sent a manifest whose digest is %s",
                                 c->name, ref, m.digest);
    if (dcd && cb_str_has_prefix(dcd, "sha256:") && strcmp(dcd, m.digest) != 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "%s%c%s: Docker-Content-Digest is %s but the manifest's bytes "
                                 "hash to %s",
                                 c->name, sep, ref, dcd, m.digest);
    m.media_type = manifest_type(&rs);
    m.len = rs.body.len;
    m.data = cb_buf_steal(&rs.body);
    *out = m;
    return 0;
}

int cb_client_head_manifest(cb_client_t *c, const char *ref, char **digest, cb_error_t **err) {
    *digest = NULL;
    cb_autofree char *path = cb_xasprintf("/v2/%s/manifests/%s", c->repository, ref);
    const char *hdrs[] = {CB_MANIFEST_ACCEPT, NULL};
    cb_http_request_t rq = CB_HTTP_REQUEST("HEAD", path);
    rq.headers = hdrs;
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    if (cb_client_request(c, &rq, &rs, err) < 0)
        return cb_error_wrap(err, "%s:%s: manifest", c->name, ref);
    if (rs.status == 404)
        return 0;
    if (rs.status != 200)
        return cb_registry_fail(err, &rs, "%s:%s: manifest", c->name, ref);
    const char *dcd = cb_http_header(&rs, "Docker-Content-Digest", 0);
    if (dcd && cb_digest_valid(dcd))
        *digest = cb_xstrdup(dcd);
    return 1;
}

/* Hashes and counts on the way to the caller's sink. */
typedef struct verify_sink {
    cb_sha256_t *h;
    int64_t n;
    int64_t size; /* what the descriptor says; < 0: unknown */
    cb_http_sink_fn sink;
    cb_http_restart_fn restart;
    void *ctx;
} verify_sink_t;

static int verify_write(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    verify_sink_t *v = ctx;
    /* Stopped at once: a registry that sends more than the descriptor says
     * (an endless body) would otherwise fill the disk before the end check. */
    if (v->size >= 0 && v->n + (int64_t)n > v->size)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "the registry sent more than the %lld bytes the manifest says",
                                 (long long)v->size);
    cb_sha256_update(v->h, buf, n);
    v->n += (int64_t)n;
    return v->sink(v->ctx, buf, n, err);
}

static int verify_restart(void *ctx, cb_error_t **err) {
    verify_sink_t *v = ctx;
    if (!v->restart)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "the download broke and cannot restart");
    cb_sha256_reset(v->h);
    v->n = 0;
    return v->restart(v->ctx, err);
}

int cb_client_get_blob(cb_client_t *c, const char *digest, int64_t size, cb_http_sink_fn sink,
                       cb_http_restart_fn restart, void *ctx, const atomic_int *cancel,
                       cb_error_t **err) {
    cb_autofree char *path = cb_xasprintf("/v2/%s/blobs/%s", c->repository, digest);
    cb_autosha256 cb_sha256_t *h = cb_sha256_new();
    verify_sink_t v = {.h = h, .size = size, .sink = sink, .restart = restart, .ctx = ctx};
    cb_http_request_t rq = CB_HTTP_REQUEST("GET", path);
    rq.sink = verify_write;
    rq.sink_restart = verify_restart;
    rq.sink_ctx = &v;
    rq.cancel = cancel;
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    if (cb_client_request(c, &rq, &rs, err) < 0)
        return cb_error_wrap(err, "%s: blob %s", c->name, digest);
    if (rs.status != 200)
        return cb_registry_fail(err, &rs, "%s: blob %s", c->name, digest);
    char got[CB_DIGEST_STR_LEN + 1];
    cb_sha256_final(h, got);
    if (size >= 0 && v.n != size)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "%s: blob %s: got %lld bytes, the manifest says %lld", c->name,
                                 digest, (long long)v.n, (long long)size);
    if (strcmp(got, digest) != 0)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                 "%s: blob %s: the registry sent bytes whose digest is %s",
                                 c->name, digest, got);
    return 0;
}
