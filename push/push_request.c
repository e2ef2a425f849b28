/* The registry end of a push (push/push_request.h). */
#include "push/push_request.h"

#include <string.h>

#include "push/errors.h"

static bool loopback(const char *registry) {
    return cb_str_has_prefix(registry, "localhost") || cb_str_has_prefix(registry, "127.") ||
           cb_str_has_prefix(registry, "[::1]");
}

/* GET /v2/ at base; 0 with the response, < 0 when no HTTP answer came. */
static int probe(cb_http_t *http, const char *base, cb_http_response_t *rs, cb_error_t **err) {
    cb_autofree char *url = cb_xasprintf("%s/v2/", base);
    cb_http_request_t rq = CB_HTTP_REQUEST("GET", url);
    rq.no_retry = true;
    return cb_http_do(http, &rq, rs, err);
}

int cb_push_remote_open(const char *registry, const cb_http_opts_t *opts, const cb_creds_t *creds,
                        cb_push_remote_t **out, cb_error_t **err) {
    cb_push_remote_t *r = cb_xcalloc(1, sizeof(*r));
    r->registry = cb_xstrdup(registry);
    if (cb_http_new(opts, &r->http, err) < 0)
        goto fail;
    r->auth = cb_auth_new(r->http, registry, creds);
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    r->base_url = cb_xasprintf("https://%s", registry);
    cb_autoerr cb_error_t *tls_err = NULL;
    if (probe(r->http, r->base_url, &rs, &tls_err) < 0) {
        if (opts->tls_verify && !loopback(registry)) {
            *err = cb_steal_pointer(&tls_err);
            cb_error_wrap(err, "registry %s", registry);
            goto fail;
        }
        free(r->base_url);
        r->base_url = cb_xasprintf("http://%s", registry);
        cb_http_response_clear(&rs);
        rs = (cb_http_response_t)CB_HTTP_RESPONSE_INIT;
        if (probe(r->http, r->base_url, &rs, err) < 0) {
            cb_error_wrap(err, "registry %s (https: %s)", registry, tls_err->msg);
            goto fail;
        }
    }
    if (rs.status == 401 && cb_auth_learn(r->auth, &rs, err) < 0) {
        cb_error_wrap(err, "registry %s", registry);
        goto fail;
    }
    if (rs.status != 200 && rs.status != 401) {
        cb_registry_fail(err, &rs, "registry %s: GET /v2/", registry);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    cb_push_remote_free(r);
    return -1;
}

void cb_push_remote_free(cb_push_remote_t *r) {
    if (!r)
        return;
    cb_auth_free(r->auth);
    cb_http_free(r->http);
    free(r->registry);
    free(r->base_url);
    free(r);
}

int cb_push_repo_do(void *ctx, const char *mount_from, const cb_http_request_t *req, cb_http_response_t *resp,
                    cb_error_t **err) {
    cb_push_repo_t *p = ctx;
    cb_push_remote_t *r = p->remote;
    cb_autofree char *scope = mount_from ? cb_xasprintf("repository:%s:pull,push repository:%s:pull", p->repository,
                                                        mount_from)
                                         : cb_xasprintf("repository:%s:pull,push", p->repository);
    for (int attempt = 0;; attempt++) {
        cb_autofree char *auth = NULL;
        if (cb_auth_ready(r->auth) && cb_auth_header(r->auth, scope, &auth, err) < 0)
            return -1;
        cb_autostrv cb_strv_t hdrs = CB_STRV_INIT;
        for (const char *const *h = req->headers; h && *h; h++)
            cb_strv_push(&hdrs, *h);
        if (auth)
            cb_strv_push(&hdrs, auth);
        cb_strv_push(&hdrs, "User-Agent: cbuild/" CBUILD_VERSION);
        cb_http_request_t rq = *req;
        rq.headers = (const char *const *)hdrs.items;
        cb_http_response_clear(resp);
        *resp = (cb_http_response_t)CB_HTTP_RESPONSE_INIT;
        if (cb_http_do(r->http, &rq, resp, err) < 0)
            return -1;
        if (resp->status != 401 || attempt > 0)
            return 0;
        /* A token that expired early or lacks the scope: learn again, once. */
        cb_auth_forget(r->auth, scope);
        if (cb_auth_learn(r->auth, resp, err) < 0)
            return -1;
    }
}
