/* A registry session: one repository on one registry, over push/http.h.
 *
 * cb_client_open probes /v2/ and picks the scheme: https with certificate
 * checks; for localhost, 127.0.0.1 and ::1 (or with tls_verify false) https
 * without checks, falling back to plain http when TLS does not answer. A 401
 * on the probe teaches the session the registry's challenge (push/auth.h);
 * later requests then carry credentials or a token for the session's scope
 * up front, and a 401 on any request is answered once by learning the new
 * challenge and sending again.
 *
 * Credentials: opts.creds when given (--creds), else the auth files
 * (push/authfile.h), else anonymous.
 *
 * Errors name the image ("127.0.0.1:5000/app:dev: manifest: HTTP 404:
 * MANIFEST_UNKNOWN: manifest unknown") with the registry's error JSON.
 */
#ifndef CB_PUSH_CLIENT_H
#define CB_PUSH_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/error.h"
#include "push/auth.h"
#include "push/http.h"
#include "push/reference.h"

/* Accept header of manifest requests: OCI and Docker schema2 manifests and
 * indexes. */
#define CB_MANIFEST_ACCEPT                                                          \
    "Accept: application/vnd.oci.image.index.v1+json, "                           \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                 \
    "application/vnd.oci.image.manifest.v1+json, "                                \
    "application/vnd.docker.distribution.manifest.v2+json"

typedef struct cb_client_opts {
    cb_http_t *http;         /* the transport (the caller owns it) */
    bool tls_verify;         /* false: --tls-verify=false (no checks, plain http allowed) */
    const cb_creds_t *creds; /* --creds, or NULL */
    const char *authfile;    /* --authfile, or NULL for the usual lookup */
} cb_client_opts_t;

typedef struct cb_client cb_client_t;

/* Opens a session for ref's registry and repository with the given actions
 * ("pull", or "pull,push"). */
int cb_client_open(const cb_client_opts_t *o, const cb_ref_t *ref, const char *actions,
                   cb_client_t **out, cb_error_t **err);
void cb_client_free(cb_client_t *c);
static inline void cb_client_freep(cb_client_t **p) {
    cb_client_free(*p);
}
#define cb_autoclient __attribute__((cleanup(cb_client_freep)))

/* "registry/repository", for messages. */
const char *cb_client_name(const cb_client_t *c);
/* "https://host[:port]" or "http://host[:port]", as the probe chose. */
const char *cb_client_base_url(const cb_client_t *c);
/* Adds a scope to the session's token requests ("repository:OTHER:pull" for
 * a cross-repository mount). */
void cb_client_add_scope(cb_client_t *c, const char *scope);

/* Sends rq with rq->url a path ("/v2/<name>/blobs/uploads/") or a full URL
 * (a Location header), adding the Authorization header (rq->headers come
 * after it). The status is the caller's to judge; a 401 that persists after
 * learning the challenge again is an error naming the image. */
int cb_client_request(cb_client_t *c, const cb_http_request_t *rq, cb_http_response_t *rs,
                      cb_error_t **err);

typedef struct cb_manifest_blob {
    char *media_type; /* the document's (else the Content-Type's) media type */
    char digest[CB_DIGEST_STR_LEN + 1]; /* sha256 of data, checked against the reference
                                           or Docker-Content-Digest */
    char *data;       /* the bytes exactly as served */
    size_t len;
} cb_manifest_blob_t;
void cb_manifest_blob_clear(cb_manifest_blob_t *m);

/* GET /v2/<name>/manifests/<ref> (a tag or a digest). Schema 1 is refused.
 * A digest reference must match the bytes, and so must Docker-Content-Digest
 * when the registry sends one: an integrity error otherwise. */
int cb_client_get_manifest(cb_client_t *c, const char *ref, cb_manifest_blob_t *out,
                           cb_error_t **err);
/* HEAD of a manifest: 1 and *digest (caller frees; may be NULL when the
 * registry sends no Docker-Content-Digest) when it exists, 0 when not. */
int cb_client_head_manifest(cb_client_t *c, const char *ref, char **digest, cb_error_t **err);

/* GET /v2/<name>/blobs/<digest> streamed into sink. The bytes are hashed as
 * they arrive; at the end their size (when size >= 0) and digest must match,
 * else an integrity error (the sink has then seen bad bytes: the caller
 * throws them away). restart (may be NULL) lets a broken transfer start
 * again; cancel (may be NULL) stops it. */
int cb_client_get_blob(cb_client_t *c, const char *digest, int64_t size, cb_http_sink_fn sink,
                       cb_http_restart_fn restart, void *ctx, const atomic_int *cancel,
                       cb_error_t **err);

#endif
