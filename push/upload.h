/* Moving blobs and manifests into a registry repository (the push half of the
 * distribution spec).
 *
 * A blob: HEAD first (the registry has it: nothing moves); else, when the
 * blob source records (push/push_sources.h) name another repository of the
 * same registry, a cross-repository mount (POST ?mount=&from=; 201 means
 * done, 202 is an ordinary upload session the push then uses); else POST an
 * upload session. Blobs up to mono_max bytes go in one PUT ?digest= with the
 * body (one round trip after the POST); larger ones in PATCHes of chunk_size
 * with Content-Range, then an empty PUT ?digest=.
 *
 * Faults: a PATCH or PUT that breaks, or answers 5xx, 408 or 429, is not
 * re-sent blindly (the registry may hold part of it). After a backoff
 * (Retry-After honoured) the upload URL is asked where the upload stands
 * (GET: 204 with Range 0-N) and the upload resumes at N+1. A registry that
 * no longer knows the session (distribution 2.8 refuses a URL whose state is
 * older than the data it holds, which happens when the answer to a PATCH was
 * lost) gets a new session and the blob starts over. Up to `attempts`
 * failures in a row (a part that goes through starts the count again).
 *
 * A manifest goes last, as the caller's bytes (its digest does not change);
 * the registry's Docker-Content-Digest must agree.
 *
 * Errors name the repository, the blob and the registry's error JSON
 * ("HTTP 400 DIGEST_INVALID: provided digest did not match uploaded content").
 */
#ifndef CB_PUSH_UPLOAD_H
#define CB_PUSH_UPLOAD_H

#include <stdatomic.h>
#include <stdint.h>

#include "cache/oci.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/error.h"
#include "push/http.h"

/* Sends req (a full URL) with the repository's credentials, answering
 * challenges (push/client.h's cb_client_request). */
typedef int (*cb_upload_do_fn)(void *ctx, const cb_http_request_t *req, cb_http_response_t *resp,
                               cb_error_t **err);
/* Widens the session's token scope ("repository:OTHER:pull" for a mount).
 * Called before any blob moves, from one thread. */
typedef void (*cb_upload_scope_fn)(void *ctx, const char *scope);

/* Measured with tests/bench/bench_registry.sh --chunks "8M 32M 128M 8M 32M 128M"
 * (525 MB image, five 100 MB layers, distribution 2.8 on loopback, a 2-core box
 * at load 10): push 4.9/3.6 s with 8 MiB, 3.9/2.9 s with 32 MiB, 3.2/2.8 s with
 * 128 MiB (monolithic). Each PATCH costs a round trip and a registry state
 * update, so 8 MiB is clearly slower; 32 MiB is within the noise of one PUT and
 * bounds what a broken connection loses (distribution 2.8 restarts a blob
 * whose PATCH was cut, so smaller chunks would not save more). */
#define CB_UPLOAD_MONO_MAX_DEFAULT (32ll << 20)
#define CB_UPLOAD_CHUNK_DEFAULT (32ll << 20)

typedef struct cb_upload_stats {
    atomic_uint_fast64_t skipped;  /* blobs the registry had (HEAD) */
    atomic_uint_fast64_t mounted;  /* blobs mounted from another repository */
    atomic_uint_fast64_t uploaded; /* blobs sent */
    atomic_uint_fast64_t bytes;    /* blob bytes put on the wire (all attempts) */
    atomic_uint_fast64_t resumed;  /* uploads continued from the registry's offset */
    atomic_uint_fast64_t restarted; /* uploads begun again in a new session */
} cb_upload_stats_t;

typedef struct cb_upload_target {
    cb_http_t *http;
    const char *base_url;   /* "https://host:port", no trailing slash */
    const char *registry;   /* host[:port], for the blob source records */
    const char *repository; /* "team/app" */
    cb_upload_do_fn request;
    cb_upload_scope_fn add_scope; /* NULL: mounts are not tried */
    void *request_ctx;
    const char *root_dir;   /* ROOT for blob source records; NULL: none kept */
    int64_t mono_max;       /* 0: CB_UPLOAD_MONO_MAX_DEFAULT */
    int64_t chunk_size;     /* 0: CB_UPLOAD_CHUNK_DEFAULT */
    int attempts;           /* recoveries per blob; 0: 6 */
    cb_upload_stats_t stats;
    cb_meter_t *meter;      /* the push's byte count (push/push.c), or NULL */
} cb_upload_target_t;

/* The repository a blob can be mounted from, or NULL (caller frees). */
char *cb_upload_mount_source(const cb_upload_target_t *t, const cb_oci_descriptor_t *d);

/* Makes sure the repository has the blob the descriptor names, from the store. */
int cb_upload_blob(cb_upload_target_t *t, const cb_store_t *store, const cb_oci_descriptor_t *d,
                   cb_error_t **err);

/* PUTs a manifest (or index) under `reference` (a tag or its digest). */
int cb_upload_manifest(cb_upload_target_t *t, const char *reference, const char *media_type,
                       const char *bytes, size_t len, cb_error_t **err);

/* The upload URL a Location header names, made absolute against
 * base_url + "/v2/" (registries send absolute or host-relative ones); NULL
 * when libcurl cannot make a URL of it. Caller frees. */
char *cb_upload_location_url(const char *base_url, const char *loc);
/* How many bytes an upload session holds by its status answer's Range
 * ("0-N"; NULL or anything else: 0). */
int64_t cb_upload_range_held(const char *range);

#endif
