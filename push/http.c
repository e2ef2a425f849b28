/* The HTTP transport (push/http.h).
 *
 * Connection reuse: libcurl does not support sharing one connection cache
 * between threads, so the share handle carries only DNS and TLS sessions, and
 * connections live in easy handles kept in a pool. A request takes an idle
 * handle (curl_easy_reset keeps its open connections), and gives it back.
 */
#include "push/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/curl_lazy.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "push/http_tls.h"

#define MAX_BACKOFF_MS 30000L
#define MAX_RETRY_AFTER_MS 60000L
#define DEFAULT_MAX_BODY (8u << 20)
#define DOWNLOAD_BUFFER (256L * 1024)

struct cb_http {
    cb_http_opts_t o;
    char *cert_dir;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL **idle;
    size_t nidle, capidle;
    cb_http_tls_t *tls;
    _Atomic uint64_t sent, received;
};

static void share_lock(CURL *e, curl_lock_data d, curl_lock_access a, void *u) {
    pthread_mutex_lock(&((cb_http_t *)u)->share_locks[d]);
}

static void share_unlock(CURL *e, curl_lock_data d, void *u) {
    pthread_mutex_unlock(&((cb_http_t *)u)->share_locks[d]);
}

static void global_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cb_http_new(const cb_http_opts_t *opts, cb_http_t **out, cb_error_t **err) {
    if (cb_curl_load(err) < 0)
        return -1;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    cb_http_t *h = cb_xcalloc(1, sizeof(*h));
    h->o = *opts;
    h->cert_dir = opts->cert_dir ? cb_xstrdup(opts->cert_dir) : NULL;
    h->o.cert_dir = h->cert_dir;
    for (size_t i = 0; i < CB_ARRAY_LEN(h->share_locks); i++)
        pthread_mutex_init(&h->share_locks[i], NULL);
    pthread_mutex_init(&h->pool_lock, NULL);
    h->tls = cb_http_tls_new(h->cert_dir);
    h->share = curl_share_init();
    if (!h->share) {
        cb_http_free(h);
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "curl_share_init failed");
    }
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = h;
    return 0;
}

void cb_http_free(cb_http_t *h) {
    if (!h)
        return;
    for (size_t i = 0; i < h->nidle; i++)
        curl_easy_cleanup(h->idle[i]);
    free(h->idle);
    if (h->share)
        curl_share_cleanup(h->share);
    for (size_t i = 0; i < CB_ARRAY_LEN(h->share_locks); i++)
        pthread_mutex_destroy(&h->share_locks[i]);
    pthread_mutex_destroy(&h->pool_lock);
    cb_http_tls_free(h->tls);
    free(h->cert_dir);
    free(h);
}

static CURL *pool_take(cb_http_t *h) {
    CURL *e = NULL;
    pthread_mutex_lock(&h->pool_lock);
    if (h->nidle)
        e = h->idle[--h->nidle];
    pthread_mutex_unlock(&h->pool_lock);
    if (e)
        curl_easy_reset(e);
    else
        e = curl_easy_init();
    return e;
}

static void pool_give(cb_http_t *h, CURL *e) {
    pthread_mutex_lock(&h->pool_lock);
    if (h->nidle == h->capidle) {
        h->capidle = h->capidle ? 2 * h->capidle : 8;
        h->idle = cb_xrealloc(h->idle, h->capidle * sizeof(*h->idle));
    }
    h->idle[h->nidle++] = e;
    pthread_mutex_unlock(&h->pool_lock);
}

/* One attempt's state, seen by the curl callbacks. */
typedef struct attempt {
    cb_http_t *h;
    const cb_http_request_t *rq;
    cb_http_response_t *rs;
    CURL *e;
    int64_t body_pos;      /* bytes of the body sent so far */
    bool to_sink;          /* decided at the first body byte */
    bool decided;
    bool sink_got_bytes;
    cb_error_t *cb_err;    /* a body source or sink failure: never retried */
} attempt_t;

static bool has_body(const cb_http_request_t *rq) {
    return rq->body || rq->body_fd >= 0 || rq->body_read;
}

static bool resendable(const cb_http_request_t *rq) {
    return !rq->body_read || rq->body_rewind;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *u) {
    attempt_t *a = u;
    const cb_http_request_t *rq = a->rq;
    size_t want = size * nmemb;
    ssize_t got = 0;
    if (rq->body) {
        size_t left = rq->body_len - (size_t)a->body_pos;
        got = (ssize_t)(want < left ? want : left);
        memcpy(buf, (const char *)rq->body + a->body_pos, (size_t)got);
    } else if (rq->body_fd >= 0) {
        int64_t left = rq->body_fd_len - a->body_pos;
        size_t n = (int64_t)want < left ? want : (size_t)left;
        if (n) {
            do
                got = pread(rq->body_fd, buf, n, rq->body_fd_offset + a->body_pos);
            while (got < 0 && errno == EINTR);
            if (got < 0) {
                cb_error_set(&a->cb_err, errno, "read the request body");
                return CURL_READFUNC_ABORT;
            }
            if (got == 0) {
                cb_error_kind_set(&a->cb_err, CB_ERR_INTEGRITY,
                                  "the request body ended %lld bytes early",
                                  (long long)left);
                return CURL_READFUNC_ABORT;
            }
        }
    } else if (rq->body_read) {
        got = rq->body_read(rq->body_ctx, buf, want, &a->cb_err);
        if (got < 0)
            return CURL_READFUNC_ABORT;
    }
    a->body_pos += got;
    a->h->sent += (uint64_t)got;
    cb_meter_moved(rq->meter, got);
    return (size_t)got;
}

static int on_seek(void *u, curl_off_t off, int origin) {
    attempt_t *a = u;
    /* libcurl rewinds to 0 when it must resend (a redirect, a reused
     * connection that had died); other seeks are not needed. */
    if (origin != SEEK_SET || off != 0)
        return CURL_SEEKFUNC_CANTSEEK;
    if (a->rq->body_read) {
        if (!a->rq->body_rewind || a->rq->body_rewind(a->rq->body_ctx, &a->cb_err) < 0)
            return CURL_SEEKFUNC_FAIL;
    }
    cb_meter_moved(a->rq->meter, -a->body_pos);
    a->body_pos = 0;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *u) {
    attempt_t *a = u;
    size_t n = size * nmemb;
    if (!a->decided) {
        long status = 0;
        curl_easy_getinfo(a->e, CURLINFO_RESPONSE_CODE, &status);
        a->to_sink = a->rq->sink && status >= 200 && status < 300;
        a->decided = true;
    }
    a->h->received += n;
    if (a->to_sink) {
        a->sink_got_bytes = true;
        if (a->rq->sink(a->rq->sink_ctx, buf, n, &a->cb_err) < 0)
            return 0; /* makes curl stop with CURLE_WRITE_ERROR */
        return n;
    }
    size_t max = a->rq->max_body ? a->rq->max_body : DEFAULT_MAX_BODY;
    if (a->rs->body.len + n > max) {
        cb_error_kind_set(&a->cb_err, CB_ERR_INPUT, "the response is larger than %zu bytes",
                          max);
        return 0;
    }
    cb_buf_add(&a->rs->body, buf, n);
    return n;
}

bool cb_http_response_add_header(cb_http_response_t *resp, const char *buf, size_t n) {
    /* A status line starts a new response (a redirect, 100 Continue): only
     * the last one's headers count. */
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        cb_strv_free(&resp->headers);
        return true;
    }
    size_t len = n;
    while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
        len--;
    if (len && memchr(buf, ':', len))
        cb_strv_take(&resp->headers, cb_xstrndup(buf, len));
    return false;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *u) {
    attempt_t *a = u;
    size_t n = size * nmemb;
    if (cb_http_response_add_header(a->rs, buf, n))
        a->decided = false;
    return n;
}

static int on_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    const attempt_t *a = u;
    return cb_interrupt_signal() || (a->rq->cancel && atomic_load(a->rq->cancel)) ? 1 : 0;
}

const char *cb_http_header(const cb_http_response_t *resp, const char *name, size_t idx) {
    size_t nlen = strlen(name);
    for (size_t i = 0; i < resp->headers.len; i++) {
        const char *l = resp->headers.items[i];
        if (strncasecmp(l, name, nlen) != 0 || l[nlen] != ':')
            continue;
        if (idx-- > 0)
            continue;
        const char *v = l + nlen + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        return v;
    }
    return NULL;
}

void cb_http_response_clear(cb_http_response_t *resp) {
    cb_buf_free(&resp->body);
    cb_strv_free(&resp->headers);
    free(resp->url);
    *resp = (cb_http_response_t)CB_HTTP_RESPONSE_INIT;
}

void cb_http_stats(const cb_http_t *h, uint64_t *sent, uint64_t *received) {
    if (sent)
        *sent = h->sent;
    if (received)
        *received = h->received;
}

char *cb_http_query_escape(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    cb_buf_t b = CB_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            cb_buf_putc(&b, (char)*p);
        } else {
            cb_buf_putc(&b, '%');
            cb_buf_putc(&b, hex[*p >> 4]);
            cb_buf_putc(&b, hex[*p & 15]);
        }
    }
    return cb_buf_steal(&b);
}

static bool transient(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

long cb_http_retry_after_ms(const cb_http_response_t *rs) {
    const char *v = cb_http_header(rs, "Retry-After", 0);
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    long s = strtol(v, &end, 10);
    if (end != v && errno == 0 && s >= 0) {
        if (s > MAX_RETRY_AFTER_MS / 1000)
            return MAX_RETRY_AFTER_MS;
        return s * 1000;
    }
    time_t t = curl_getdate(v, NULL);
    if (t < 0)
        return -1;
    time_t now = time(NULL);
    if (t <= now)
        return 0;
    return t - now > MAX_RETRY_AFTER_MS / 1000 ? MAX_RETRY_AFTER_MS : (long)(t - now) * 1000;
}

static void sleep_ms(long ms, const atomic_int *cancel) {
    while (ms > 0 && !cb_interrupt_signal() && !(cancel && atomic_load(cancel))) {
        long step = ms < 100 ? ms : 100;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static int setup(attempt_t *a, struct curl_slist *hdrs, char *errbuf, cb_error_t **err) {
    CURL *e = a->e;
    const cb_http_request_t *rq = a->rq;
    const cb_http_opts_t *o = &a->h->o;
    curl_easy_setopt(e, CURLOPT_URL, rq->url);
    curl_easy_setopt(e, CURLOPT_SHARE, a->h->share);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cbuild/" CBUILD_VERSION);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, o->timeout_s);
    if (o->stall_timeout_s > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->stall_timeout_s);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    /* A blob download: libcurl's default 16 KiB receive buffer costs a
     * recv, a poll and a sink write (a file write) per 16 KiB; 256 KiB
     * takes a large layer in a sixteenth of the system calls. */
    if (rq->sink)
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFFER);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    /* Always: a SIGINT must stop a stalled transfer too. */
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (has_body(rq) || strcmp(rq->method, "PUT") == 0 ||
               strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PATCH") == 0) {
        int64_t len = rq->body ? (int64_t)rq->body_len
                      : rq->body_fd >= 0 ? rq->body_fd_len
                      : rq->body_read  ? rq->body_stream_len
                                       : 0;
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, a);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, a);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    return cb_http_tls_apply(a->h->tls, e, rq->url, o->tls_verify && !rq->tls_no_verify, err);
}

/* One attempt; 0 when an HTTP response arrived, < 0 with *err otherwise.
 * *retry says whether the failure may be retried. */
static int attempt_once(attempt_t *a, bool *retry, cb_error_t **err) {
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    for (const char *const *p = a->rq->headers; p && *p; p++)
        hdrs = curl_slist_append(hdrs, *p);
    *retry = false;
    int r = setup(a, hdrs, errbuf, err);
    if (r < 0) {
        curl_slist_free_all(hdrs);
        return r;
    }
    CURLcode rc = curl_easy_perform(a->e);
    curl_slist_free_all(hdrs);
    char *eff = NULL;
    curl_easy_getinfo(a->e, CURLINFO_EFFECTIVE_URL, &eff);
    free(a->rs->url);
    a->rs->url = cb_xstrdup(eff ? eff : a->rq->url);
    curl_easy_getinfo(a->e, CURLINFO_RESPONSE_CODE, &a->rs->status);
    if (a->cb_err) {
        *err = a->cb_err;
        a->cb_err = NULL;
        return -1;
    }
    if (rc == CURLE_OK)
        return 0;
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return cb_interrupt_check(err) < 0 ? -1 : cb_error_kind_set(err, CB_ERR_INTERRUPTED, "cancelled");
    *retry = transient(rc);
    return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

long cb_http_retry_delay_ms(const cb_http_t *h) {
    return h->o.retry_delay_ms > 0 ? h->o.retry_delay_ms : 1;
}

int cb_http_do(cb_http_t *h, const cb_http_request_t *req, cb_http_response_t *resp,
               cb_error_t **err) {
    CURL *e = pool_take(h);
    if (!e)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s %s: curl_easy_init failed",
                                 req->method, req->url);
    int max_attempts = req->no_retry || !resendable(req) ? 1 : 1 + (h->o.retries > 0 ? h->o.retries : 0);
    long delay = cb_http_retry_delay_ms(h);
    int r = 0;
    for (int n = 1;; n++) {
        cb_http_response_clear(resp);
        resp->attempts = n;
        attempt_t a = {.h = h, .rq = req, .rs = resp, .e = e};
        bool retry = false;
        cb_error_t *aerr = NULL;
        r = cb_interrupt_check(&aerr) < 0 ? -1 : attempt_once(&a, &retry, &aerr);
        long wait = delay;
        if (r == 0) {
            bool busy = resp->status >= 500 || resp->status == 429;
            if (!busy || n >= max_attempts)
                break;
            long ra = cb_http_retry_after_ms(resp);
            if (ra >= 0)
                wait = ra;
            cb_debug("push", "%s %s: HTTP %ld, retry %d in %ld ms", req->method, req->url,
                     resp->status, n, wait);
        } else {
            if (!retry || n >= max_attempts) {
                *err = aerr;
                if (n > 1)
                    cb_error_wrap(err, "after %d attempts", n);
                r = cb_error_wrap(err, "%s %s", req->method, req->url);
                break;
            }
            cb_debug("push", "%s %s: %s, retry %d in %ld ms", req->method, req->url,
                     aerr->msg, n, wait);
            cb_error_free(aerr);
        }
        if (a.sink_got_bytes) {
            cb_error_t *serr = NULL;
            if (!req->sink_restart || req->sink_restart(req->sink_ctx, &serr) < 0) {
                if (!serr)
                    cb_error_kind_set(&serr, CB_ERR_LIBRARY,
                                      "the transfer broke and cannot be restarted");
                *err = serr;
                r = cb_error_wrap(err, "%s %s", req->method, req->url);
                break;
            }
        }
        if (req->body_read && req->body_rewind) {
            cb_error_t *berr = NULL;
            if (req->body_rewind(req->body_ctx, &berr) < 0) {
                *err = berr;
                r = cb_error_wrap(err, "%s %s", req->method, req->url);
                break;
            }
        }
        sleep_ms(wait, req->cancel);
        if (wait == delay)
            delay = delay * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay * 2;
    }
    pool_give(h, e);
    return r;
}
