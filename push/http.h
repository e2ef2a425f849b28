/* One HTTP transport for the registry client, over libcurl.
 *
 * A cb_http_t holds what requests share: a curl share handle (connection
 * cache, DNS cache, TLS sessions), the TLS policy, per-host CA bundles and
 * the retry policy. cb_http_do may be called from several threads at once on
 * the same cb_http_t (each call uses its own easy handle; the share handle
 * is locked), which is how layers move in parallel.
 *
 *   cb_http_opts_t o = CB_HTTP_OPTS_INIT;
 *   cb_http_t *h;
 *   cb_http_new(&o, &h, err);
 *   cb_http_request_t rq = {.method = "GET", .url = url, .headers = hdrs};
 *   cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
 *   cb_http_do(h, &rq, &rs, err);       // rs.status, rs.body, headers
 *   cb_http_response_clear(&rs);
 *   cb_http_free(h);
 *
 * Status codes are the caller's business: cb_http_do fails (< 0) only when no
 * HTTP answer could be had (after the retries), or when the response sink or
 * the body source failed. A 5xx or 429 that persists through every retry is
 * returned as a response, so the caller can show the registry's error JSON.
 *
 * Retries (exponential backoff from opts.retry_delay_ms, doubling, capped at
 * 30 s; Retry-After honoured up to 60 s) happen on 5xx, 429 and broken or
 * refused connections, timeouts, and resets, and only when the request can be
 * sent again: no body, a memory body, an fd range, or a stream with a rewind
 * callback. When response bytes already went to a sink, the sink's restart
 * callback must exist and succeed before a retry (else the error stands).
 *
 * TLS: verification is on unless opts.tls_verify is false. Extra CAs come
 * from the host's certs.d directory: opts.cert_dir when set, else the first
 * of $HOME/.config/containers/certs.d/<host[:port]>, /etc/containers/certs.d/
 * <host[:port]> and /etc/docker/certs.d/<host[:port]> that exists. Its *.crt
 * files are added to the system bundle; a *.cert with the *.key of the same
 * stem is the client certificate. Which scheme (https or plain http) a
 * registry gets is the client's choice (push/client.h), not this layer's.
 *
 * Redirects are followed (blob downloads go to storage); libcurl does not
 * carry a custom Authorization header to another host.
 */
#ifndef CB_PUSH_HTTP_H
#define CB_PUSH_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/util.h"
#include "push/meter.h"

typedef struct cb_http cb_http_t;

typedef struct cb_http_opts {
    bool tls_verify;          /* false: no certificate or host name checks */
    const char *cert_dir;     /* replaces the certs.d lookup when set */
    int retries;              /* extra attempts after the first */
    long retry_delay_ms;      /* first backoff delay */
    long connect_timeout_s;   /* per connection attempt */
    long stall_timeout_s;     /* abort when no byte moves for this long */
    long timeout_s;           /* whole request; 0 = none (blobs can be large) */
} cb_http_opts_t;

#define CB_HTTP_OPTS_INIT                                                                  \
    {.tls_verify = true, .cert_dir = NULL, .retries = 4, .retry_delay_ms = 250,            \
     .connect_timeout_s = 30, .stall_timeout_s = 60, .timeout_s = 0}

int cb_http_new(const cb_http_opts_t *opts, cb_http_t **out, cb_error_t **err);
void cb_http_free(cb_http_t *h);
static inline void cb_http_freep(cb_http_t **p) {
    cb_http_free(*p);
}
#define cb_autohttp __attribute__((cleanup(cb_http_freep)))

/* A streamed request body. read returns bytes put in buf (0 at the end) or
 * < 0 with *err set; rewind (NULL when the stream cannot be replayed) starts
 * it again from the beginning for a retry. */
typedef ssize_t (*cb_http_read_fn)(void *ctx, void *buf, size_t n, cb_error_t **err);
typedef int (*cb_http_rewind_fn)(void *ctx, cb_error_t **err);

/* The streaming sink shape of cache/blob.h (cb_sink_fn), repeated here so
 * that push/ headers do not need cache/. */
typedef int (*cb_http_sink_fn)(void *ctx, const void *buf, size_t n, cb_error_t **err);
/* Called before a retry when the sink already got bytes: drop them. */
typedef int (*cb_http_restart_fn)(void *ctx, cb_error_t **err);

typedef struct cb_http_request {
    const char *method;          /* "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE" */
    const char *url;
    const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */

    /* Body: at most one of the three (none = empty body). */
    const void *body;            /* memory body ... */
    size_t body_len;             /* ... of this many bytes */
    int body_fd;                 /* fd body when >= 0 (pread: the fd's offset is untouched) */
    int64_t body_fd_offset;      /* ... from this offset */
    int64_t body_fd_len;         /* ... this many bytes */
    cb_http_read_fn body_read;   /* stream body ... */
    cb_http_rewind_fn body_rewind;
    void *body_ctx;
    int64_t body_stream_len;     /* ... of this length, -1: unknown (chunked encoding) */

    /* Response body: to the sink when set and the status is 2xx, else into
     * response.body (at most max_body bytes; 0 means 8 MiB). */
    cb_http_sink_fn sink;
    cb_http_restart_fn sink_restart;
    void *sink_ctx;
    size_t max_body;

    bool no_retry;               /* one attempt only (probes that fall back) */
    bool tls_no_verify;          /* skip certificate checks for this request (a registry
                                    allowed to be insecure: localhost, --tls-verify=false) */
    const atomic_int *cancel;    /* stop soon when it becomes non-zero */
    cb_meter_t *meter;           /* counts the body's bytes as they go, or NULL */
} cb_http_request_t;

/* A request with nothing set but method and URL (body_fd must be -1). */
#define CB_HTTP_REQUEST(m, u) \
    ((cb_http_request_t){.method = (m), .url = (u), .body_fd = -1, .body_stream_len = -1})

typedef struct cb_http_response {
    long status;         /* the final HTTP status */
    cb_buf_t body;       /* the body unless it went to a sink */
    cb_strv_t headers;   /* the final response's header lines, "Name: value" */
    char *url;           /* the effective URL after redirects */
    int attempts;        /* how many times the request was sent */
} cb_http_response_t;

#define CB_HTTP_RESPONSE_INIT {0, CB_BUF_INIT, CB_STRV_INIT, NULL, 0}

/* Sends the request (retrying as described above) and fills *resp, which
 * must be CB_HTTP_RESPONSE_INIT or cleared. On failure the error names the
 * method and URL, and resp holds whatever the last attempt got. */
int cb_http_do(cb_http_t *h, const cb_http_request_t *req, cb_http_response_t *resp,
               cb_error_t **err);

/* The idx-th (0-based) value of a header, name compared without case, or
 * NULL. Several WWW-Authenticate lines are read this way. */
const char *cb_http_header(const cb_http_response_t *resp, const char *name, size_t idx);
void cb_http_response_clear(cb_http_response_t *resp);
/* Takes one raw header line as libcurl hands it over (CRLF included): a
 * "Name: value" line is kept; a status line ("HTTP/...") starts a new
 * response and drops the headers kept so far, and returns true. */
bool cb_http_response_add_header(cb_http_response_t *resp, const char *buf, size_t n);
/* Retry-After as seconds or an HTTP date, in ms (at most 60 s); -1 when
 * absent or bad. */
long cb_http_retry_after_ms(const cb_http_response_t *resp);
/* The first retry's wait (opts.retry_delay_ms), for callers that retry on
 * their own (an upload's recovery), so one setting governs every back-off. */
long cb_http_retry_delay_ms(const cb_http_t *h);
static inline void cb_http_response_clearp(cb_http_response_t *p) {
    cb_http_response_clear(p);
}
#define cb_autoresponse __attribute__((cleanup(cb_http_response_clearp)))

/* Bytes sent and received in request and response bodies through this
 * transport so far (all threads, all attempts): how the tests and the
 * benchmarks see that a second push moved no layer. */
void cb_http_stats(const cb_http_t *h, uint64_t *sent, uint64_t *received);

/* Percent-encodes s for a URL query value (RFC 3986 unreserved kept). */
char *cb_http_query_escape(const char *s);

#endif
