/* ADD of an http(s) URL: downloaded with libcurl into a temp file (hashed on
 * the way for --checksum), then added as one file: mode 0600 as BuildKit's
 * HTTP source, mtime from Last-Modified (the layer writer clamps it). */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder/copy_private.h"
#include "common/curl_lazy.h"
#include "common/digest.h"
#include "common/util.h"

bool copy_is_url(const char *s) {
    return cb_str_has_prefix(s, "http://") || cb_str_has_prefix(s, "https://");
}

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

char *copy_url_file_name(const char *url) {
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    if (p == NULL)
        return cb_xstrdup("__unnamed__");
    size_t n = strcspn(p, "?#");
    /* Go's url.Parse decodes the path; path.Base drops trailing slashes. */
    cb_autobuf cb_buf_t path = CB_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        int hi = p[i] == '%' && i + 2 < n ? hexval(p[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(p[i + 2]) : -1;
        if (lo >= 0) {
            cb_buf_putc(&path, (char)(hi << 4 | lo));
            i += 2;
        } else {
            cb_buf_putc(&path, p[i]);
        }
    }
    while (path.len > 0 && path.data[path.len - 1] == '/')
        cb_buf_truncate(&path, path.len - 1);
    const char *s = cb_buf_str(&path);
    const char *base = strrchr(s, '/');
    base = base ? base + 1 : s;
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return cb_xstrdup("__unnamed__");
    return cb_xstrdup(base);
}

typedef struct download {
    int fd;
    cb_sha256_t *hash;
    int write_errno;
} download_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx) {
    download_t *d = ctx;
    size_t n = size * nmemb, done = 0;
    while (done < n) {
        ssize_t w = write(d->fd, ptr + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            d->write_errno = errno;
            return 0; /* curl stops with CURLE_WRITE_ERROR */
        }
        done += (size_t)w;
    }
    cb_sha256_update(d->hash, ptr, n);
    return n;
}

static void curl_cleanupp(CURL **h) {
    if (*h)
        curl_easy_cleanup(*h);
}

/* Downloads url into fd; *mtime gets Last-Modified, or -1. */
static int download(const copy_ctx_t *c, const char *url, download_t *d, int64_t *mtime,
                    cb_error_t **err) {
    if (cb_curl_load(err) < 0)
        return cb_error_wrap(err, "%s %s", c->cmd, url);
    __attribute__((cleanup(curl_cleanupp))) CURL *h = curl_easy_init();
    if (h == NULL)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "%s: curl_easy_init failed", c->cmd);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled server fails the build instead of hanging it. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cbuild/" CBUILD_VERSION);
    curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_WRITE_ERROR && d->write_errno)
        return cb_error_set(err, d->write_errno, "%s: writing the download of %s", c->cmd, url);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: downloading %s: %s", c->cmd, url,
                                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (status < 200 || status >= 300)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: downloading %s: HTTP status %ld",
                                 c->cmd, url, status);
    curl_off_t ft = -1;
    if (curl_easy_getinfo(h, CURLINFO_FILETIME_T, &ft) != CURLE_OK)
        ft = -1;
    *mtime = ft;
    return 0;
}

static const char *tmp_base(const copy_ctx_t *c) {
    if (c->env->tmpdir && c->env->tmpdir[0])
        return c->env->tmpdir;
    const char *t = getenv("TMPDIR");
    return t && t[0] ? t : "/tmp";
}

static int add_downloaded(copy_ctx_t *c, const char *url, int fd, const char *path,
                          int64_t mtime, cb_error_t **err) {
    if (c->ins->unpack == 1) {
        bool is_tar = false;
        if (copy_is_archive(fd, &is_tar, err) < 0)
            return -1;
        if (is_tar)
            return copy_add_archive(c, fd, url, c->dest.path, err);
    }
    cb_autofree char *base = copy_url_file_name(url);
    cb_autofree char *name = copy_dest_file_name(c, base);
    if (copy_dest_parents(c, name, err) < 0)
        return -1;
    cb_layer_attrs_t a;
    copy_attrs(c, S_IFREG | 0600, &a);
    if (!a.set_mode) {
        a.set_mode = true;
        a.mode = 0600;
    }
    a.set_mtime = true;
    a.mtime = mtime >= 0 ? mtime : (int64_t)time(NULL);
    /* A new file each time, which no cache knows: the key reads it. */
    bool reads = cb_layer_writer_key_reads(c->w, true);
    int rc = cb_layer_add_path(c->w, name, AT_FDCWD, path, &a, err);
    cb_layer_writer_key_reads(c->w, reads);
    return rc;
}

int copy_add_url(copy_ctx_t *c, const char *url, cb_error_t **err) {
    const char *want = c->ins->checksum;
    if (want && !cb_digest_valid(want))
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: invalid --checksum '%s': expected sha256:<64 hex digits>",
                                 c->cmd, want);
    cb_autofree char *path = cb_xasprintf("%s/cbuild-url-XXXXXX", tmp_base(c));
    cb_autoclose int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "%s: temporary file in %s", c->cmd, tmp_base(c));
    cb_autosha256 cb_sha256_t *hash = cb_sha256_new();
    download_t d = {.fd = fd, .hash = hash};
    int64_t mtime = -1;
    int rc = download(c, url, &d, &mtime, err);
    if (rc == 0 && want) {
        char got[CB_DIGEST_STR_LEN + 1];
        cb_sha256_final(hash, got);
        if (strcmp(got, want) != 0)
            rc = cb_error_kind_set(err, CB_ERR_INTEGRITY,
                                   "%s: checksum mismatch for %s: expected %s, got %s", c->cmd,
                                   url, want, got);
    }
    if (rc == 0)
        rc = add_downloaded(c, url, fd, path, mtime, err);
    unlink(path);
    return rc;
}
