/* The registry end of a push: one registry's transport, credentials and base
 * URL, and the authenticated request push/upload.h sends through.
 *
 * Scheme: https, unless tls_verify is false or the registry is on the
 * loopback (localhost, 127.0.0.0/8, [::1]), where a registry that does not
 * speak TLS is reached over plain http, as podman and docker allow.
 * The /v2/ probe at open learns the registry's challenge, so no blob body is
 * sent only to be refused with 401.
 */
#ifndef CB_PUSH_REQUEST_H
#define CB_PUSH_REQUEST_H

#include <stdbool.h>

#include "common/error.h"
#include "push/auth.h"
#include "push/http.h"

typedef struct cb_push_remote {
    cb_http_t *http;
    cb_auth_t *auth;
    char *registry; /* host[:port] */
    char *base_url; /* scheme://host[:port] */
} cb_push_remote_t;

/* creds may be NULL (anonymous, or whatever the auth file gives). */
int cb_push_remote_open(const char *registry, const cb_http_opts_t *opts, const cb_creds_t *creds,
                        cb_push_remote_t **out, cb_error_t **err);
void cb_push_remote_free(cb_push_remote_t *r);
static inline void cb_push_remote_freep(cb_push_remote_t **p) {
    cb_push_remote_free(*p);
}
#define cb_autoremote __attribute__((cleanup(cb_push_remote_freep)))

/* A request to one repository, for cb_upload_target_t.request. */
typedef struct cb_push_repo {
    cb_push_remote_t *remote;
    const char *repository;
} cb_push_repo_t;
int cb_push_repo_do(void *repo, const char *mount_from, const cb_http_request_t *req, cb_http_response_t *resp,
                    cb_error_t **err);

#endif
